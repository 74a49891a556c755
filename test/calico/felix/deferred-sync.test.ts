/**
 * felix's syncs are applied lazily (agent.ts: rendering, PRNG draws and config log at
 * sync time; ipset restore, iptables-restore and ipset destroy when the node's sets or
 * rules are first read) and its renderings share the view-only parts (render.ts
 * SharedView: workloads, tiers, selector sets). Properties: whatever the points at which
 * the nodes are looked at, each node ends with the ipsets (initvals included), rules,
 * config log and PRNG state of reading every node after every sync; and a rendering
 * made after another node's (sharing its view) equals one made from a fresh view.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Obj } from '../../../src/kube/object.js';
import { ipsetSave } from '../../../src/netfilter/ipset-text.js';
import { iptablesSaveText, netfilterOf } from '../../../src/netfilter/index.js';
import { renderFelix } from '../../../src/calico/felix/index.js';
import { policyManifest, type GenCluster } from '../../netpol/gen-cluster.js';
import { felixCluster, twoNodeCluster, type FelixCluster } from './helpers.js';

const CLUSTER: GenCluster = twoNodeCluster();

const POOL: Obj[] = [
  policyManifest({ ns: 'x', name: 'only-client', spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 'http' }] }] } }),
  policyManifest({ ns: 'x', name: 'deny-all', spec: { podSelector: {}, policyTypes: ['Ingress'] } }),
  policyManifest({ ns: 'y', name: 'egress-web', spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } }] }] } }),
];

const advance = (f: FelixCluster) => f.world.sched.run(f.world.now + 1e6);

function toggle(f: FelixCluster, i: number): void {
  const m = POOL[i]!.metadata as { name: string; namespace: string };
  if (f.store.get('NetworkPolicy', m.namespace, m.name)) f.store.delete('NetworkPolicy', m.namespace, m.name);
  else f.store.create(POOL[i]!);
  advance(f);
}

function look(f: FelixCluster): void {
  for (const n of f.nodes) ipsetSave(netfilterOf(n.node.host).nf.ipsets);
}

function state(f: FelixCluster): string {
  const out: string[] = [];
  for (const n of f.nodes) out.push(`## ${n.name}`, ipsetSave(netfilterOf(n.node.host).nf.ipsets), iptablesSaveText(n.node, 'host', { counters: true }), ...n.node.configCommands());
  out.push(`rng ${f.world.rng.u32()}`);
  return out.join('\n');
}

describe('felix: deferred syncs = eager syncs', () => {
  it('any observation points give the state of reading every node after every sync', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(POOL.length - 1), fc.boolean()), { minLength: 1, maxLength: 5 }), (steps) => {
      const eager = felixCluster(CLUSTER);
      look(eager);
      const eagerSteps = steps.map(([i]) => i);
      for (const i of eagerSteps) { toggle(eager, i); look(eager); }
      const want = state(eager);
      const lazy = felixCluster(CLUSTER);
      for (const [i, observe] of steps) { toggle(lazy, i); if (observe) look(lazy); }
      expect(state(lazy)).toBe(want);
    }), { numRuns: 10, seed: 5 });
  }, 120_000);

  it('a rendering sharing another node\'s view equals one from a fresh view', () => {
    const f = felixCluster(CLUSTER);
    for (const o of POOL) f.store.create(o);
    advance(f);
    const view = f.informer.cluster();
    for (const n of f.nodes) renderFelix(view, n.agent.cfg);
    for (const n of f.nodes) {
      const shared = renderFelix(view, n.agent.cfg);
      const fresh = renderFelix({ ...view }, n.agent.cfg);
      expect(shared, n.name).toEqual(fresh);
    }
  });
});
