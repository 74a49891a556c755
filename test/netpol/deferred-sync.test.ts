/**
 * kube-router's syncs are applied lazily (agent.ts: the rendering, the PRNG draws and
 * the config log at sync time; ipset restore, iptables-restore and ipset destroy when
 * the node's sets or rules are first read) and share one node-independent rendering
 * (NetpolInformer.policies). Property: whatever the points at which the nodes are
 * looked at, each node ends with the ipsets (initvals included), rules, config log and
 * PRNG state of a run that reads every node after every sync — the eager path — and
 * one rendering shared between nodes gives each node what its own rendering gives.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Obj } from '../../src/kube/object.js';
import { ipsetRestore, ipsetSave } from '../../src/netfilter/ipset-text.js';
import * as names from '../../src/netpol/names.js';
import { iptablesSaveText, netfilterOf } from '../../src/netfilter/index.js';
import { renderLocal, renderNode, renderPolicies } from '../../src/netpol/render.js';
import { e2eCluster, np, type NetpolCluster } from './helpers.js';

const POOL: Obj[] = [
  np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }),
  np('x', 'allow-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
  np('y', 'egress-b', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }] }),
  np('z', 'cidr', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.0.0/24'] } }] }] }),
];

/** Creates the pool's policy `i` if absent, deletes it if present; the agents sync. */
function toggle(c: NetpolCluster, i: number): void {
  const o = POOL[i]!;
  const m = o.metadata as { name: string; namespace: string };
  if (c.cl.store.get('NetworkPolicy', m.namespace, m.name)) c.cl.store.delete('NetworkPolicy', m.namespace, m.name);
  else c.cl.store.create(o);
  c.advance(1e6);
}

/** Reads every node's sets (which settles whatever a sync deferred). */
function look(c: NetpolCluster): void {
  for (const n of c.cl.nodes.values()) ipsetSave(netfilterOf(n.host).nf.ipsets);
}

function state(c: NetpolCluster): string {
  const out: string[] = [];
  for (const [name, n] of c.cl.nodes) {
    out.push(`## ${name}`, ipsetSave(netfilterOf(n.host).nf.ipsets), iptablesSaveText(n, 'host', { counters: true }), ...n.configCommands());
  }
  out.push(`rng ${c.cl.world.rng.u32()}`);
  return out.join('\n');
}

describe('kube-router: deferred syncs = eager syncs', () => {
  it('any observation points give the state of reading every node after every sync', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(POOL.length - 1), fc.boolean()), { minLength: 1, maxLength: 6 }), (steps) => {
      const eager = e2eCluster(), lazy = e2eCluster();
      look(eager);
      for (const [i, observe] of steps) {
        toggle(eager, i); look(eager);
        toggle(lazy, i); if (observe) look(lazy);
      }
      expect(state(lazy)).toBe(state(eager));
    }), { numRuns: 12, seed: 9 });
  }, 120_000);

  it('a deferred sync nothing reads leaves the sets unmade, and the first read makes them', () => {
    const c = e2eCluster();
    c.cl.store.create(POOL[0]!);
    c.advance(1e6);
    const sets = netfilterOf(c.cl.nodes.get('node-1')!.host).nf.ipsets;
    expect(sets.deferring).toBe(true);
    expect(sets.list().map((s) => s.name).some((n) => n.startsWith('KUBE-DST-'))).toBe(true);
    expect(sets.deferring).toBe(false);
  });

  it('one shared policy rendering gives every node what its own rendering gives', () => {
    const c = e2eCluster();
    for (const o of POOL) c.cl.store.create(o);
    c.advance(1e6);
    const view = c.informer.cluster();
    const shared = renderPolicies(view, '7');
    for (const [name, a] of c.agents) {
      const own = renderNode(view, a.cfg, '7');
      const viaShared = renderLocal(shared, a.cfg);
      expect({ sets: [...viaShared.sets], chains: viaShared.chains, lines: viaShared.lines, pods: viaShared.podChains.map((p) => p.chain) }, name)
        .toEqual({ sets: [...own.sets], chains: own.chains, lines: own.lines, pods: own.podChains.map((p) => p.chain) });
    }
  });
});

describe('kube-router: a set too big for its ipset', () => {
  it('stops the run with the set, its size and ipset\'s message when the deferred restore is applied', () => {
    const c = e2eCluster();
    const n1 = c.cl.nodes.get('node-1')!;
    const sets = netfilterOf(n1.host).nf.ipsets;
    // The peer set exists already with a small maxelem: kube-router keeps an existing set's options.
    const peers = names.ingressPodSet('x', 'from-all', 0);
    ipsetRestore(sets, `create ${peers} hash:ip maxelem 4 timeout 0\n`);
    c.cl.store.create(np('x', 'from-all', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }));
    c.advance(1e6);
    expect(() => ipsetSave(sets)).toThrow(new RegExp(`^node-1: kube-router's ipset restore fails at ${peers} \\(9 entries, options hash:ip .*maxelem 4.*\\): Hash is full, cannot add more elements$`));
  });
});
