/**
 * Kernel check of the link-down fault on a veth (src/scenario/faults.ts, src/kernel/carrier.ts):
 * `ip link set A down` on one end of a veth pair; the other end B stays UP but loses its carrier.
 * In two `pw-k-*` namespaces (created and always deleted by the suite) and in the model, the same
 * facts are read and compared:
 *  - B shows NO-CARRIER, state DOWN (and UP again, without NO-CARRIER, once A is up);
 *  - B's routes stay (the kernel marks them linkdown; with ignore_routes_with_linkdown=0 they are
 *    still used);
 *  - B's non-permanent neighbours are flushed (neigh_carrier_down), permanent ones kept;
 *  - what B sends is dropped at B (its TX dropped counter grows: the ARP solicitation of a ping;
 *    the kernel's drop reason is QDISC_DROP at __dev_queue_xmit — noop_qdisc — as seen once with
 *    the skb:kfree_skb tracepoint; the suite does not touch tracing, the model's reason is asserted).
 * netem itself cannot be checked here when the kernel lacks sch_netem (CONFIG_NET_SCH_NETEM).
 * Runs only as root; under CI=true a missing prerequisite fails instead of skipping.
 */
import { describe, expect, it } from 'vitest';
import { carrierLost } from '../../src/kernel/carrier.js';
import { neighKey, formatNeigh } from '../../src/kernel/neigh.js';
import { KernelLab, kernelTestMode } from './netns.js';
import { useKernelLabs } from './suite.js';
import { ip, Lab, mac } from './topo.js';

const mode = kernelTestMode();

interface Facts { noCarrier: boolean; state: string; routes: string[]; neighs: string[]; txDropped: boolean }

describe.skipIf(mode.mode === 'skip')('kernel: a veth peer set down (link-down on a pod\'s veth)', () => {
  const labs = useKernelLabs(mode);

  it('the other end: NO-CARRIER, routes kept, non-permanent neighbours flushed, transmit dropped; back on link-up', async () => {
    const lab = new KernelLab();
    labs.push(lab);
    const a = await lab.addNetns(`${lab.prefix}a`);
    const b = await lab.addNetns(`${lab.prefix}b`);
    const sh = (ns: string, ...args: string[]) => lab.exec(['ip', '-n', ns, ...args]);
    await sh(a, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b);
    await sh(a, 'addr', 'add', '10.99.0.1/24', 'dev', 'va');
    await sh(b, 'addr', 'add', '10.99.0.2/24', 'dev', 'vb');
    await sh(a, 'link', 'set', 'va', 'up');
    await sh(b, 'link', 'set', 'vb', 'up');
    await sh(b, 'route', 'add', '10.98.0.0/24', 'via', '10.99.0.1');
    await lab.exec(['ip', 'netns', 'exec', b, 'ping', '-c1', '-W1', '10.99.0.1']);
    await sh(b, 'neigh', 'replace', '10.99.0.7', 'lladdr', '02:00:00:00:00:07', 'dev', 'vb', 'nud', 'permanent');
    const kernelFacts = async (probe: boolean): Promise<Facts> => {
      const link = (await sh(b, '-o', 'link', 'show', 'vb')).stdout;
      const before = JSON.parse((await sh(b, '-s', '-j', 'link', 'show', 'vb')).stdout)[0].stats64.tx.dropped as number;
      if (probe) await lab.exec(['ip', 'netns', 'exec', b, 'ping', '-c1', '-W1', '10.99.0.1'], { allowFail: true });
      const after = JSON.parse((await sh(b, '-s', '-j', 'link', 'show', 'vb')).stdout)[0].stats64.tx.dropped as number;
      const routes = (await sh(b, 'route', 'show')).stdout.trim().split('\n').map((l) => l.split(' ')[0]!).sort();
      const neighs = (await sh(b, 'neigh', 'show', 'dev', 'vb')).stdout.trim().split('\n').filter((l) => l && !/INCOMPLETE|FAILED/.test(l))
        .map((l) => `${l.split(' ')[0]} ${l.includes('PERMANENT') ? 'PERMANENT' : 'dynamic'}`).sort();
      return { noCarrier: link.includes('NO-CARRIER'), state: /state (\w+)/.exec(link)![1]!, routes, neighs, txDropped: after > before };
    };

    // The model: the same pair, neighbours as the ping and the command left them.
    const m = new Lab();
    m.n.netnsAdd('a'); m.n.netnsAdd('b');
    m.veth('a', 'va', 'b', 'vb');
    m.n.addrAdd('a', 'va', '10.99.0.1/24');
    m.n.addrAdd('b', 'vb', '10.99.0.2/24');
    m.n.routeAdd('b', { dst: '10.98.0.0/24', via: '10.99.0.1' });
    m.n.neighReplace('b', '10.99.0.1', m.n.ns('a').device('va')!.mac, 'vb', 'reachable');
    m.n.neighReplace('b', '10.99.0.7', mac('02:00:00:00:00:07'), 'vb', 'permanent');
    const vb = m.n.ns('b').device('vb')!;
    const modelFacts = (probe: boolean): Facts => {
      const before = vb.txDropped;
      if (probe) { m.n.ns('b').sockets.pingOpen({}, 1).send(ip('10.99.0.1'), 1, 56); m.run(m.w.now); }
      const link = vb.show();
      const routes = m.n.ns('b').fib.routes(254).map((r) => `${r.dst === 0 ? 'default' : ''}${[r.dst >>> 24, (r.dst >>> 16) & 255, (r.dst >>> 8) & 255, r.dst & 255].join('.')}/${r.prefix}`).sort();
      const neighs = ['10.99.0.1', '10.99.0.7'].map((x) => m.n.ns('b').neighs.get(neighKey(vb, ip(x))))
        .filter((n) => n && !/INCOMPLETE|FAILED/.test(formatNeigh(n))).map((n) => `${formatNeigh(n!).split(' ')[0]} ${formatNeigh(n!).includes('PERMANENT') ? 'PERMANENT' : 'dynamic'}`).sort();
      return { noCarrier: link.includes('NO-CARRIER'), state: /state (\w+)/.exec(link)![1]!, routes, neighs, txDropped: vb.txDropped > before };
    };

    const up = { noCarrier: false, state: 'UP', routes: ['10.98.0.0/24', '10.99.0.0/24'], neighs: ['10.99.0.1 dynamic', '10.99.0.7 PERMANENT'], txDropped: false };
    expect(await kernelFacts(false)).toEqual(up);
    expect(modelFacts(false)).toEqual(up);

    await sh(a, 'link', 'set', 'va', 'down');
    m.n.linkSetUp('a', 'va', false);
    carrierLost(vb);
    const down = { noCarrier: true, state: 'DOWN', routes: ['10.98.0.0/24', '10.99.0.0/24'], neighs: ['10.99.0.7 PERMANENT'], txDropped: true };
    expect(await kernelFacts(true)).toEqual(down);
    expect(modelFacts(true)).toEqual(down);
    expect(m.drops.map((d) => d.reason)).toEqual(['QDISC_DROP']);

    await sh(a, 'link', 'set', 'va', 'up');
    m.n.linkSetUp('a', 'va', true);
    const k = await kernelFacts(false), mm = modelFacts(false);
    expect([k.noCarrier, k.state, k.routes]).toEqual([false, 'UP', up.routes]);
    expect([mm.noCarrier, mm.state, mm.routes]).toEqual([false, 'UP', up.routes]);
  }, 30_000);
});
