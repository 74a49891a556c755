/**
 * BIRD routes held once for every namespace that installs the same one (fib.ts
 * SharedBirdRoute, issue 9): each namespace still reads, lists, replaces, deletes and
 * flushes its own, through its own device, as if it held a route object of its own.
 */
import { describe, expect, it } from 'vitest';
import { BirdRoute, formatRoute, SharedBirdRoute, RT_TABLE_MAIN } from '../../src/kernel/fib.js';
import { ip, pair, type Lab } from './topo.js';

const BIRD = { dst: '10.48.7.0/26', via: '10.0.0.2', dev: 'eth0', proto: 'bird', onlink: true } as const;

/** What namespace `ns` of `l` holds for dst/prefix in its main table (white box). */
function slot(l: Lab, ns: string, dst: string, prefix: number): unknown {
  const main = (l.n.ns(ns).fib as unknown as { main: { byLen: (Map<number, unknown> | undefined)[] } }).main;
  return main.byLen[prefix]?.get(ip(dst));
}

const listing = (l: Lab, ns: string) => l.n.ns(ns).fib.routes(RT_TABLE_MAIN).map(formatRoute);

describe('shared BIRD routes', () => {
  it('two machines installing the same route hold one object; each reads it through its own device', () => {
    const x = pair(), y = pair();
    x.n.routeReplace('a', BIRD);
    y.n.routeReplace('a', BIRD);
    const sx = slot(x, 'a', '10.48.7.0', 26);
    expect(sx).toBeInstanceOf(SharedBirdRoute);
    expect(slot(y, 'a', '10.48.7.0', 26)).toBe(sx);
    const rx = x.n.ns('a').fib.lookup(ip('10.48.7.9'))!, ry = y.n.ns('a').fib.lookup(ip('10.48.7.9'))!;
    expect(rx).toBeInstanceOf(BirdRoute);
    expect(rx.dev).toBe(x.n.ns('a').device('eth0'));
    expect(ry.dev).toBe(y.n.ns('a').device('eth0'));
    expect(formatRoute(rx)).toBe('10.48.7.0/26 via 10.0.0.2 dev eth0 proto bird onlink');
    expect(listing(x, 'a')).toEqual(['10.48.7.0/26 via 10.0.0.2 dev eth0 proto bird onlink', '10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1']);
    expect(x.n.ns('a').fib.find({ dst: ip('10.48.7.0'), prefix: 26, table: RT_TABLE_MAIN, dev: x.n.ns('a').device('eth0') })?.proto).toBe('bird');
  });

  it("a machine's replace, delete, second metric or link down changes its own table only", () => {
    const x = pair(), y = pair();
    for (const l of [x, y]) { l.n.routeReplace('a', BIRD); l.n.routeReplace('a', { ...BIRD, dst: '10.48.8.0/26' }); }
    x.n.routeReplace('a', { ...BIRD, via: '10.0.0.3' });
    expect(formatRoute(x.n.ns('a').fib.lookup(ip('10.48.7.1'))!)).toBe('10.48.7.0/26 via 10.0.0.3 dev eth0 proto bird onlink');
    expect(formatRoute(y.n.ns('a').fib.lookup(ip('10.48.7.1'))!)).toBe('10.48.7.0/26 via 10.0.0.2 dev eth0 proto bird onlink');
    // Another route to the same destination, another metric: both listed, by metric.
    y.n.routeAdd('a', { dst: '10.48.7.0/26', via: '10.0.0.2', metric: 5 });
    expect(listing(y, 'a').filter((t) => t.startsWith('10.48.7.'))).toEqual(['10.48.7.0/26 via 10.0.0.2 dev eth0 proto bird onlink', '10.48.7.0/26 via 10.0.0.2 dev eth0 metric 5']);
    y.n.routeDel('a', { dst: '10.48.7.0/26', metric: 0 });
    expect(formatRoute(y.n.ns('a').fib.lookup(ip('10.48.7.1'))!)).toBe('10.48.7.0/26 via 10.0.0.2 dev eth0 metric 5');
    expect(slot(x, 'a', '10.48.8.0', 26)).toBe(slot(y, 'a', '10.48.8.0', 26));
    // fib_sync_down_dev on x's eth0: x's BIRD routes go, y's stay.
    x.n.linkSetUp('a', 'eth0', false);
    expect(listing(x, 'a')).toEqual([]);
    expect(formatRoute(y.n.ns('a').fib.lookup(ip('10.48.8.1'))!)).toBe('10.48.8.0/26 via 10.0.0.2 dev eth0 proto bird onlink');
  });

  it('a device that is not the route\'s going down leaves it alone', () => {
    const l = pair();
    l.n.routeReplace('a', BIRD);
    l.n.netnsAdd('c');
    l.veth('a', 'veth1', 'c', 'eth0');
    l.n.linkSetUp('a', 'veth1', false);
    expect(slot(l, 'a', '10.48.7.0', 26)).toBeInstanceOf(SharedBirdRoute);
    expect(l.n.ns('a').fib.lookup(ip('10.48.7.1'))?.dev?.name).toBe('eth0');
  });
});
