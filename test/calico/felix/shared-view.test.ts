/**
 * renderFelix's view-wide caches (issue 9): each node's workloads found through the view's
 * by-node index, and the policies and groups that apply to a pod memoised per namespace and
 * labels. A node rendered after every other node of the same view (caches warm) gets exactly
 * what it gets from a view nobody rendered before (a fresh copy of the view: cold caches) —
 * with pods that have no nodeName but a hostIP of the node, and pods on no node, too.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clusterArb } from '../../netpol/gen-cluster.js';
import { felixCluster } from './helpers.js';
import { isLocalWorkload, renderFelix } from '../../../src/calico/felix/render.js';
import { workloadInterfaceName } from '../../../src/calico/names.js';
import type { FelixRendered } from '../../../src/calico/felix/render.js';
import type { NpCluster } from '../../../src/netpol/render.js';

const plain = (r: FelixRendered) => ({
  chains: r.chains, inserts: r.inserts, appends: r.appends, endpoints: r.endpoints.map((e) => ({ ...e, pod: `${e.pod.namespace}/${e.pod.name}` })),
  policyChains: r.policyChains, tiers: [...r.tiers], sets: [...r.sets].map(([n, s]) => [n, s.type, s.entries]),
});

describe('renderFelix with warm view caches', () => {
  it('= a rendering from a fresh view, on every node, in any order', () => {
    fc.assert(fc.property(clusterArb(), fc.boolean(), (c, reverse) => {
      const fcl = felixCluster(c);
      const base = fcl.informer.cluster();
      // Some pods without a nodeName (local by hostIP), one on no node at all.
      const pods = base.pods.map((p, i) => (i % 3 === 1 ? { ...p, nodeName: '' } : i % 7 === 6 ? { ...p, nodeName: '', hostIP: '10.9.9.9' } : p));
      const view: NpCluster = { ...base, pods };
      const order = reverse ? [...fcl.nodes].reverse() : fcl.nodes;
      for (const n of order) renderFelix(view, n.agent.cfg);
      for (const n of fcl.nodes) {
        const warm = renderFelix(view, n.agent.cfg);
        const cold = renderFelix({ ...view }, n.agent.cfg);
        expect(plain(warm)).toEqual(plain(cold));
        // The index gives the pods the filter over every pod gives.
        const want = view.pods.filter((p) => isLocalWorkload(p, n.agent.cfg)).map((p) => workloadInterfaceName(p.namespace, p.name)).sort();
        expect(warm.endpoints.map((e) => e.iface)).toEqual(want);
      }
    }), { numRuns: 40, seed: 7 });
  });
});
