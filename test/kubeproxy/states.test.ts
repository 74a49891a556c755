/**
 * ProxierStates (src/kubeproxy/iptables/states.ts): nodes share proxier states, and every
 * node's sync is exactly what its own proxier would have produced — same chains written
 * (rule texts), same deletions, same restore text — whatever the order and timing of syncs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IptablesProxier, SharedProxyCache, servicePortKey, type ProxierSync } from '../../src/kubeproxy/iptables/index.js';
import { ProxierStates, type ProxierState } from '../../src/kubeproxy/iptables/states.js';
import { ruleText } from '../../src/netfilter/ruleset.js';
import type { EndpointInfo, ServicePortInfo } from '../../src/kubeproxy/model.js';
import { cidr, ep, fakeConfig, ip, svc } from './helpers.js';

const NODES = ['test-node', 'n2', 'n3', 'n4'];

/** What a sync writes, as text: chains (name and rules), deletions, the restore input. */
function written(s: ProxierSync, text: string): string {
  const chains = (cs: ProxierSync['nat']['set']) => cs.map((c) => `${c.name}:\n${c.rules.map((r) => ruleText(r)).join('\n')}`).join('\n');
  return [s.fullSync, chains(s.filter.set), s.filter.deleted.join(','), chains(s.nat.set), s.nat.deleted.join(','), text].join('\n--\n');
}

describe('ProxierStates', () => {
  const arbSvc = fc.record({
    n: fc.integer({ min: 0, max: 4 }), nodePort: fc.constantFrom(0, 30001), lb: fc.boolean(), ranges: fc.boolean(),
    eLocal: fc.boolean(), iLocal: fc.boolean(),
    eps: fc.array(fc.record({ a: fc.integer({ min: 1, max: 6 }), node: fc.constantFrom(...NODES), ready: fc.boolean() }), { maxLength: 4 }),
  });
  const toSvc = (x: fc.infer<typeof arbSvc>): [ServicePortInfo, EndpointInfo[]] => [
    svc('ns', `s${x.n}`, {
      clusterIP: ip('172.30.0.1') + x.n, nodePort: x.nodePort ? x.nodePort + x.n : 0,
      loadBalancerIPs: x.lb ? [ip('1.2.3.4')] : [], loadBalancerSourceRanges: x.ranges ? [cidr('192.168.0.0/30')] : [],
      externalPolicyLocal: x.eLocal, internalPolicyLocal: x.iLocal, healthCheckNodePort: x.eLocal && x.lb ? 32000 + x.n : 0,
    }),
    x.eps.map((e) => ep(`10.180.0.${e.a}`, { nodeName: e.node, ready: e.ready, serving: e.ready, terminating: false })),
  ];
  // Node i has address 192.168.0.(i+1): the LB source range 192.168.0.0/30 holds the first three.
  const cfgs = NODES.map((name, i) => fakeConfig({ nodeName: name, nodeIPs: [ip('192.168.0.1') + i] }));

  it('each node syncs what its own proxier would, at any times, in any order', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('change' as const), op: fc.constantFrom('set', 'del', 'eps'), x: arbSvc }),
      fc.record({ kind: fc.constant('sync' as const), nodes: fc.subarray([0, 1, 2, 3], { minLength: 1 }) }),
    );
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 20 }), (steps) => {
      const cache = new SharedProxyCache();
      const states = new ProxierStates(cache);
      const own = cfgs.map((c) => new IptablesProxier(c, cache));
      const at: (ProxierState | null)[] = cfgs.map(() => null);
      const sync = (i: number) => {
        const t = states.sync(at[i]!, cfgs[i]!, Infinity);
        at[i] = t.to;
        const mine = own[i]!.sync();
        // (a shared result's own restoreText may be stale by now: the text was rendered at the sync)
        expect(written(t.result, t.text!)).toBe(written(mine, mine.restoreText()));
      };
      for (const s of steps) {
        if (s.kind === 'sync') { for (const i of s.nodes) sync(i); continue; }
        const [sp, eps] = toSvc(s.x);
        if (s.op === 'set') { cache.setService(sp); cache.setEndpoints(servicePortKey(sp), eps); }
        else if (s.op === 'del') cache.deleteService(servicePortKey(sp));
        else cache.setEndpoints(servicePortKey(sp), eps);
      }
      for (let i = 0; i < NODES.length; i++) sync(i);
    }), { numRuns: 200 });
  });

  it('nodes of one class share one state and one sync; a late node copies and catches up', () => {
    const cache = new SharedProxyCache();
    const states = new ProxierStates(cache);
    for (let k = 0; k < 3; k++) {
      const sp = svc('ns', `s${k}`, { clusterIP: ip('172.30.0.1') + k });
      cache.setService(sp);
      cache.setEndpoints(servicePortKey(sp), [ep(`10.180.0.${k + 1}`, { nodeName: NODES[k] })]);
    }
    const [a, b, c] = [0, 1, 2].map((i) => states.sync(null, cfgs[i]!, Infinity));
    expect(b!.to).toBe(a!.to);
    expect(c!.to).toBe(a!.to);
    expect(a!.to.refs).toBe(3);
    expect(states.stats).toMatchObject({ syncs: 1, shared: 2 });
    // A change: two nodes sync now (one sync, shared), the third later (a copy of the old state).
    const sp = svc('ns', 's9', { clusterIP: ip('172.30.0.99') });
    cache.setService(sp);
    const a2 = states.sync(a!.to, cfgs[0]!, Infinity);
    const b2 = states.sync(b!.to, cfgs[1]!, Infinity);
    expect(b2).toBe(a2);
    expect(a2.result.filter.set.map((x) => x.name)).toContain('KUBE-SERVICES'); // no endpoints: a REJECT
    cache.setEndpoints(servicePortKey(sp), [ep('10.180.0.9')]);
    const c2 = states.sync(c!.to, cfgs[2]!, Infinity);
    expect(c2.to).not.toBe(a2.to);
    expect(c2.result.fullSync).toBe(false);
    // A Local-policy Service with an endpoint on node 0 puts node 0 in its own class.
    const local = svc('ns', 'loc', { clusterIP: ip('172.30.0.50'), internalPolicyLocal: true });
    cache.setService(local);
    cache.setEndpoints(servicePortKey(local), [ep('10.180.0.50', { nodeName: NODES[0] })]);
    const a3 = states.sync(a2.to, cfgs[0]!, Infinity);
    const b3 = states.sync(b2.to, cfgs[1]!, Infinity);
    expect(a3.to).not.toBe(b3.to);
    expect(a3.text).not.toBe(b3.text);
  });
});
