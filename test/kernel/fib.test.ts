import { describe, it, expect } from 'vitest';
import { BirdRoute, Fib, formatRoute, RT_TABLE_LOCAL, RT_TABLE_MAIN, type Route } from '../../src/kernel/fib.js';
import { NetlinkError } from '../../src/kernel/netlink.js';
import { ipToString } from '../../src/wire/bytes.js';
import { Lab, ip, pair, routed, ipSrcOf, ipProtoOf, ipDstOf } from './topo.js';

function errCode(f: () => void): string {
  try { f(); } catch (e) { return e instanceof NetlinkError ? e.code : `not a NetlinkError: ${e}`; }
  return 'no error';
}

/** The route a lookup in namespace `ns` picks, as `ip route get` would summarise it. */
function get(l: Lab, ns: string, dst: string): string {
  const r = l.n.ns(ns).fib.lookup(ip(dst));
  return r ? formatRoute(r) : 'none';
}

describe('fib lookup', () => {
  it('longest prefix wins over shorter ones, whatever the insertion order', () => {
    const l = pair();
    l.n.routeAdd('a', { dst: '10.1.0.0/16', via: '10.0.0.2' });
    l.n.routeAdd('a', { dst: 'default', via: '10.0.0.2', metric: 5 });
    l.n.routeAdd('a', { dst: '10.1.2.0/24', dev: 'eth0' });
    l.n.routeAdd('a', { dst: '10.1.2.3', dev: 'eth0', via: '10.0.0.2' });
    expect(get(l, 'a', '10.1.2.3')).toBe('10.1.2.3 via 10.0.0.2 dev eth0');
    expect(get(l, 'a', '10.1.2.4')).toBe('10.1.2.0/24 dev eth0 scope link');
    expect(get(l, 'a', '10.1.9.9')).toBe('10.1.0.0/16 via 10.0.0.2 dev eth0');
    expect(get(l, 'a', '8.8.8.8')).toBe('default via 10.0.0.2 dev eth0 metric 5');
    expect(get(l, 'a', '10.0.0.77')).toBe('10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1');
  });

  it('a route as BIRD installs it is a compact BirdRoute that reads, lists, logs and is replaced like any other', () => {
    const l = pair();
    l.n.routeReplace('a', { dst: '10.48.7.0/26', via: '10.0.0.2', dev: 'eth0', proto: 'bird', onlink: true });
    l.n.routeReplace('a', { dst: '10.48.8.0/26', via: '10.0.0.2', proto: 'bird', metric: 5 });
    const r = l.n.ns('a').fib.lookup(ip('10.48.7.1'))!;
    expect(r).toBeInstanceOf(BirdRoute);
    expect([r.type, r.scope, r.metric, r.src, r.proto, r.table, r.onlink, r.gw, r.prefix]).toEqual(['unicast', 'global', 0, 0, 'bird', RT_TABLE_MAIN, true, ip('10.0.0.2'), 26]);
    expect(formatRoute(r)).toBe('10.48.7.0/26 via 10.0.0.2 dev eth0 proto bird onlink');
    // Anything else (a metric here) is a plain route.
    expect(l.n.ns('a').fib.lookup(ip('10.48.8.1'))).not.toBeInstanceOf(BirdRoute);
    expect(get(l, 'a', '10.48.8.1')).toBe('10.48.8.0/26 via 10.0.0.2 dev eth0 proto bird metric 5');
    l.n.routeReplace('a', { dst: '10.48.7.0/26', via: '10.0.0.3', dev: 'eth0', proto: 'bird', onlink: true });
    expect(get(l, 'a', '10.48.7.1')).toBe('10.48.7.0/26 via 10.0.0.3 dev eth0 proto bird onlink');
    l.n.routeDel('a', { dst: '10.48.7.0/26', proto: 'bird' });
    expect(get(l, 'a', '10.48.7.1')).toBe('none');
    expect(l.n.configCommands().filter((x) => x.includes('proto bird'))).toEqual([
      'ip -n a route replace 10.48.7.0/26 via 10.0.0.2 dev eth0 proto bird onlink',
      'ip -n a route replace 10.48.8.0/26 via 10.0.0.2 proto bird metric 5',
      'ip -n a route replace 10.48.7.0/26 via 10.0.0.3 dev eth0 proto bird onlink',
      'ip -n a route del 10.48.7.0/26 proto bird',
    ]);
  });

  it('among equal prefixes the lowest metric wins; deleting it exposes the next', () => {
    const l = pair();
    l.n.routeAdd('a', { dst: '10.5.0.0/16', via: '10.0.0.2', metric: 200 });
    l.n.routeAdd('a', { dst: '10.5.0.0/16', via: '10.0.0.3', metric: 100 });
    l.n.routeAdd('a', { dst: '10.5.0.0/16', via: '10.0.0.4', metric: 300 });
    expect(get(l, 'a', '10.5.1.1')).toBe('10.5.0.0/16 via 10.0.0.3 dev eth0 metric 100');
    l.n.routeDel('a', { dst: '10.5.0.0/16', metric: 100 });
    expect(get(l, 'a', '10.5.1.1')).toBe('10.5.0.0/16 via 10.0.0.2 dev eth0 metric 200');
  });

  it('the local table is consulted before main (a local address beats a more specific main route)', () => {
    const l = pair();
    l.n.routeAdd('a', { dst: '10.0.0.1/32', via: '10.0.0.2' });
    const r = l.n.ns('a').fib.lookup(ip('10.0.0.1'))!;
    expect(r.table).toBe(RT_TABLE_LOCAL);
    expect(formatRoute(r)).toBe('local 10.0.0.1 dev eth0 proto kernel scope host src 10.0.0.1');
    expect(get(l, 'a', '10.0.0.255')).toBe('broadcast 10.0.0.255 dev eth0 proto kernel scope link src 10.0.0.1');
    expect(l.n.ns('a').isLocal(ip('10.0.0.1'))).toBe(true);
    expect(l.n.ns('a').isLocal(ip('10.0.0.2'))).toBe(false);
  });

  it('addr add brings local, broadcast and prefix routes; lo brings 127.0.0.1/8 when up', () => {
    const l = pair();
    const fib = l.n.ns('a').fib;
    expect(fib.routes(RT_TABLE_MAIN).map(formatRoute)).toEqual(['10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1']);
    expect(fib.routes(RT_TABLE_LOCAL).map(formatRoute).sort()).toEqual([
      'broadcast 10.0.0.255 dev eth0 proto kernel scope link src 10.0.0.1',
      'local 10.0.0.1 dev eth0 proto kernel scope host src 10.0.0.1',
      'local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1',
      'local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1',
    ]);
  });

  it('routes through a device that goes down are flushed (lookup falls back); kernel routes return on up, static ones do not', () => {
    const l = pair();
    l.n.netnsAdd('c');
    l.veth('a', 'eth1', 'c', 'eth0');
    l.n.addrAdd('a', 'eth1', '192.168.0.1/24');
    l.n.routeAdd('a', { dst: '10.7.0.0/16', via: '192.168.0.2' });
    l.n.routeAdd('a', { dst: '10.0.0.0/8', via: '10.0.0.2' });
    expect(get(l, 'a', '10.7.0.1')).toBe('10.7.0.0/16 via 192.168.0.2 dev eth1');
    l.n.linkSetUp('a', 'eth1', false);
    expect(get(l, 'a', '10.7.0.1')).toBe('10.0.0.0/8 via 10.0.0.2 dev eth0');
    expect(get(l, 'a', '192.168.0.9')).toBe('none');
    l.n.linkSetUp('a', 'eth1', true);
    expect(get(l, 'a', '192.168.0.9')).toBe('192.168.0.0/24 dev eth1 proto kernel scope link src 192.168.0.1');
    expect(get(l, 'a', '10.7.0.1')).toBe('10.0.0.0/8 via 10.0.0.2 dev eth0');
  });

  it('Fib.lookup skips routes whose device is administratively down', () => {
    const l = pair();
    const fib = new Fib();
    const eth0 = l.n.ns('a').device('eth0')!, lo = l.n.ns('a').device('lo')!;
    const base = { gw: 0, scope: 'link', metric: 0, src: 0, proto: 'boot', onlink: false, table: RT_TABLE_MAIN, type: 'unicast' } as const;
    fib.add({ ...base, dst: ip('10.9.0.0'), prefix: 16, dev: eth0 } as Route);
    fib.add({ ...base, dst: ip('10.0.0.0'), prefix: 8, dev: lo } as Route);
    expect(fib.lookup(ip('10.9.1.1'))!.dev).toBe(eth0);
    eth0.up = false;
    expect(fib.lookup(ip('10.9.1.1'))!.dev).toBe(lo);
    expect(fib.lookup(ip('11.0.0.1'))).toBeNull();
  });
});

describe('formatRoute (ip route text)', () => {
  it('prints fields in iproute2 order', () => {
    const l = pair();
    l.n.routeAdd('a', { dst: '10.244.1.0/24', via: '10.0.0.2', dev: 'eth0', proto: 'bird', metric: 20, src: '10.0.0.1' });
    l.n.routeAdd('a', { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'eth0', onlink: true });
    l.n.routeAdd('a', { dst: '10.9.0.0/16', type: 'blackhole' });
    l.n.routeAdd('a', { dst: '10.10.0.0/16', type: 'unreachable' });
    l.n.routeAdd('a', { dst: '10.11.0.0/16', type: 'prohibit' });
    l.n.routeAdd('a', { dst: '10.12.0.0/16', dev: 'eth0', table: 100 });
    l.n.routeAdd('a', { dst: '10.0.0.128/32', dev: 'eth0', scope: 'link' });
    const main = l.n.ns('a').fib.routes(RT_TABLE_MAIN).map(formatRoute).sort();
    expect(main).toEqual([
      '10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1',
      '10.0.0.128 dev eth0 scope link',
      '10.244.1.0/24 via 10.0.0.2 dev eth0 proto bird src 10.0.0.1 metric 20',
      '10.244.2.0/24 via 10.244.2.0 dev eth0 onlink',
      'blackhole 10.9.0.0/16',
      'prohibit 10.11.0.0/16',
      'unreachable 10.10.0.0/16',
    ]);
    expect(l.n.ns('a').fib.routes(100).map(formatRoute)).toEqual(['10.12.0.0/16 dev eth0 table 100 scope link']);
  });

  it('a default route of any type prints as "default" (iproute2 has no RTA_DST for /0)', () => {
    const l = pair();
    l.n.routeAdd('a', { dst: 'default', via: '10.0.0.2' });
    l.n.routeAdd('a', { dst: 'default', type: 'blackhole', metric: 10 });
    l.n.routeAdd('a', { dst: '0.0.0.0/0', type: 'unreachable', metric: 20 });
    expect(l.n.ns('a').fib.routes(RT_TABLE_MAIN).filter((r) => r.prefix === 0).map(formatRoute)).toEqual([
      'default via 10.0.0.2 dev eth0',
      'blackhole default metric 10',
      'unreachable default metric 20',
    ]);
  });
});

describe('routeAdd errors', () => {
  it('EEXIST for the same dst/prefix/metric (any type), fine with another metric', () => {
    const l = pair();
    l.n.routeAdd('a', { dst: '10.5.0.0/16', via: '10.0.0.2' });
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.5.0.0/16', via: '10.0.0.3' }))).toBe('EEXIST');
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.5.0.0/16', type: 'blackhole' }))).toBe('EEXIST');
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.5.0.0/16', via: '10.0.0.3', metric: 1 }))).toBe('no error');
    // replace never fails for an existing route
    expect(errCode(() => l.n.routeReplace('a', { dst: '10.5.0.0/16', via: '10.0.0.9' }))).toBe('no error');
    expect(get(l, 'a', '10.5.0.1')).toBe('10.5.0.0/16 via 10.0.0.9 dev eth0');
  });

  it('ENETUNREACH when the gateway is not on a connected network; onlink accepts it', () => {
    const l = pair();
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.6.0.0/16', via: '192.168.7.1' }))).toBe('ENETUNREACH');
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.6.0.0/16', via: '192.168.7.1', dev: 'eth0' }))).toBe('ENETUNREACH');
    // a gateway reachable only through another gateway is not "connected" either
    l.n.routeAdd('a', { dst: '172.16.0.0/12', via: '10.0.0.2' });
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.6.0.0/16', via: '172.16.0.1' }))).toBe('ENETUNREACH');
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.6.0.0/16', via: '192.168.7.1', dev: 'eth0', onlink: true }))).toBe('no error');
    expect(get(l, 'a', '10.6.0.1')).toBe('10.6.0.0/16 via 192.168.7.1 dev eth0 onlink');
  });

  it('EINVAL for host bits set or a unicast route with neither dev nor gateway; ENODEV for an unknown device; ENOENT on del of a missing route', () => {
    const l = pair();
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.6.0.1/16', dev: 'eth0' }))).toBe('EINVAL');
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.6.0.0/16' }))).toBe('EINVAL');
    expect(errCode(() => l.n.routeAdd('a', { dst: '10.6.0.0/16', dev: 'nope0' }))).toBe('ENODEV');
    expect(errCode(() => l.n.routeDel('a', { dst: '10.6.0.0/16' }))).toBe('ENOENT');
    expect(errCode(() => l.n.routeAdd('zz', { dst: '10.6.0.0/16', dev: 'eth0' }))).toBe('ENOENT');
  });
});

describe('route types through the stack (a → r → 10.9/10.10/10.11)', () => {
  function probe(type: 'blackhole' | 'unreachable' | 'prohibit') {
    const l = routed();
    l.n.routeAdd('r', { dst: '10.9.0.0/16', type });
    const errors: string[] = [];
    const p = l.n.ns('a').sockets.pingOpen({ onError: (err, info, seq) => errors.push(`${err} type ${info.type} code ${info.code} from ${ipToString(info.from)} seq ${seq}`) }, 7);
    expect(p.send(ip('10.9.1.1'), 1, 56)).toBeNull();
    l.run();
    const icmpToA = l.on('a/eth0', 'in').filter((f) => ipProtoOf(f.bytes) === 1 && f.bytes[34] === 3);
    return { l, errors, icmpToA };
  }

  it('blackhole: silently dropped with BLACKHOLE', () => {
    const { l, errors, icmpToA } = probe('blackhole');
    expect(l.reasons()).toEqual(['BLACKHOLE']);
    expect(l.drops[0].where).toMatch(/^n\/r\/ra: blackhole route blackhole 10\.9\.0\.0\/16/);
    expect(icmpToA).toHaveLength(0);
    expect(errors).toEqual([]);
  });

  it('unreachable: ICMP host unreachable (3/1) from the router, UNREACHABLE drop', () => {
    const { l, errors, icmpToA } = probe('unreachable');
    expect(l.reasons()).toEqual(['UNREACHABLE']);
    expect(icmpToA).toHaveLength(1);
    const f = icmpToA[0].bytes;
    expect([f[34], f[35]]).toEqual([3, 1]);
    expect(ipToString(ipSrcOf(f))).toBe('10.0.1.1');
    expect(ipToString(ipDstOf(f))).toBe('10.0.1.2');
    expect(errors).toEqual(['EHOSTUNREACH type 3 code 1 from 10.0.1.1 seq 1']);
  });

  it('prohibit: ICMP administratively prohibited (3/13)', () => {
    const { l, errors, icmpToA } = probe('prohibit');
    expect(l.reasons()).toEqual(['UNREACHABLE']);
    expect(icmpToA).toHaveLength(1);
    expect([icmpToA[0].bytes[34], icmpToA[0].bytes[35]]).toEqual([3, 13]);
    expect(errors).toEqual(['EHOSTUNREACH type 3 code 13 from 10.0.1.1 seq 1']);
  });

  it('no route at a router: ICMP net unreachable (3/0) and IP_NOROUTE', () => {
    const l = routed();
    l.n.routeDel('r', { dst: '10.0.2.0/24' });
    l.n.linkSetUp('r', 'rb', false);
    const errors: string[] = [];
    l.n.ns('a').sockets.pingOpen({ onError: (err, info) => errors.push(`${err} ${info.type}/${info.code}`) }, 7).send(ip('10.0.2.2'), 1, 56);
    l.run();
    expect(l.reasons()).toEqual(['IP_NOROUTE']);
    expect(errors).toEqual(['ENETUNREACH 3/0']);
  });

  it('no route for a locally generated packet: the socket gets ENETUNREACH and nothing is sent', () => {
    const l = pair();
    const p = l.n.ns('a').sockets.pingOpen({}, 1);
    expect(p.send(ip('8.8.8.8'), 1, 56)).toBe('ENETUNREACH');
    l.run();
    expect(l.frames).toHaveLength(0);
  });
});

describe('fib lookup cache (issue 9)', () => {
  /** What a lookup finds without the cache (the private path the cache fronts). */
  const uncached = (l: Lab, ns: string, dst: number) => (l.n.ns(ns).fib as unknown as { lookupUncached(ip: number): Route | null }).lookupUncached(dst);

  it('after any sequence of route changes and links going down and up, a cached lookup finds what an uncached one does', async () => {
    const fc = (await import('fast-check')).default;
    const prefixes = ['10.1.0.0/16', '10.1.2.0/24', '10.1.2.3', 'default', '10.9.0.0/16'];
    const dsts = ['10.1.2.3', '10.1.2.4', '10.1.9.9', '10.9.1.1', '8.8.8.8', '10.0.0.2', '10.0.0.1', '127.0.0.1'].map(ip);
    const op = fc.oneof(
      fc.record({ k: fc.constant('add' as const), p: fc.nat(prefixes.length - 1), metric: fc.nat(3) }),
      fc.record({ k: fc.constant('del' as const), p: fc.nat(prefixes.length - 1), metric: fc.nat(3) }),
      fc.record({ k: fc.constant('link' as const), up: fc.boolean() }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 25 }), fc.array(fc.nat(dsts.length - 1), { minLength: 1, maxLength: 4 }), (ops, looks) => {
      const l = pair();
      const fib = l.n.ns('a').fib;
      for (const o of ops) {
        try {
          if (o.k === 'add') l.n.routeAdd('a', { dst: prefixes[o.p], via: '10.0.0.2', metric: o.metric * 10 });
          else if (o.k === 'del') l.n.routeDel('a', { dst: prefixes[o.p], metric: o.metric * 10 });
          else l.n.linkSetUp('a', 'eth0', o.up);
        } catch (e) {
          if (!(e instanceof NetlinkError)) throw e; // EEXIST, ESRCH, ENETUNREACH with the link down: nothing changed
        }
        for (const d of looks) expect(fib.lookup(dsts[d])).toBe(uncached(l, 'a', dsts[d]));
      }
      for (const d of dsts) expect(fib.lookup(d)).toBe(uncached(l, 'a', d));
    }), { numRuns: 200, seed: 7 });
  });
});
