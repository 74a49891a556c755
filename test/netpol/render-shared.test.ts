/**
 * Issue 9: renderPolicies selects pods through an index, once per (namespace, selector),
 * and shares pod lists and ipset entry lists between the policies and sets with the same
 * members; renderLocal shares per-node text. Properties: on random clusters (selectors,
 * peers, ports, ipBlocks, named ports; duplicated policies so that selections repeat;
 * pods finished, without IP, hostNetwork) the rendering equals the one of render.ts
 * before these changes (render-reference.ts) — sets in order with their types and
 * entries, chains, lines, annotations, type queries — for every node; and
 * PodSelection.select equals filtering the namespace's pods with the compiled selector.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { validateNetworkPolicy, type NetworkPolicy } from '../../src/kube/networkpolicy.js';
import { compileSelector } from '../../src/kube/policy-selector.js';
import type { LabelSelector } from '../../src/kube/labels.js';
import { renderLocal, renderPolicies, type NpCluster, type NpNodeConfig, type NpPod } from '../../src/netpol/render.js';
import { PodSelection } from '../../src/netpol/pod-select.js';
import * as Ref from './render-reference.js';
import { clusterArb, policyManifest, type GenCluster } from './gen-cluster.js';

const nodeIp = (i: number) => `192.168.1.${11 + i}`;

/** The generated cluster as the informer's view; `dup` repeats policies (same specs, other names) so selections repeat. */
function view(g: GenCluster, odd: number[], dup: number): NpCluster {
  const count = new Map<number, number>();
  const pods: NpPod[] = g.pods.map((p, i) => {
    const k = count.get(p.node) ?? 0;
    count.set(p.node, k + 1);
    const kind = odd[i % odd.length]!;
    return {
      namespace: p.ns, name: p.name, labels: p.labels,
      ip: kind === 1 ? '' : kind === 2 ? nodeIp(p.node) : `10.244.${p.node}.${k + 2}`,
      hostIP: nodeIp(p.node), nodeName: `node-${p.node}`,
      hostNetwork: kind === 2, finished: kind === 3,
      ports: p.ports.map((x) => ({ ...(x.name ? { name: x.name } : {}), containerPort: x.port, protocol: x.protocol })),
    };
  });
  const policies: NetworkPolicy[] = [];
  for (let d = 0; d <= dup; d++)
    for (const p of g.policies) {
      const v = validateNetworkPolicy(policyManifest({ ...p, name: `${p.name}-${d}` }));
      if (v.value) policies.push(v.value);
    }
  const namespaces = new Map(g.namespaces.map((n) => [n.name, n.labels]));
  return { namespaces, pods, nodes: [], policies, anps: [] };
}

const cfgOf = (i: number): NpNodeConfig => ({ nodeName: `node-${i}`, nodeIPs: [nodeIp(i)], serviceCIDRs: ['10.96.0.0/12'], nodePortRange: '30000:32767' });

/** A node's sets answering the type question for some names (a later sync). */
const existing = (seed: number) => (name: string): 'hash:ip' | 'hash:net' | undefined => {
  let h = seed;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
  const k = (h >>> 0) % 5;
  return k === 0 ? 'hash:ip' : k === 1 ? 'hash:net' : undefined;
};

function plain(r: { sets: Map<string, { name: string; type: string; entries: string[][] }>; chains: readonly string[]; lines: readonly string[]; annotated: readonly { chain: string; kind: string }[] }) {
  return {
    sets: [...r.sets].map(([k, s]) => [k, s.name, s.type, s.entries.map((e) => e.join(' '))]),
    chains: [...r.chains],
    lines: [...r.lines],
    annotated: r.annotated.map((a) => `${a.kind} ${a.chain}`),
  };
}

describe('renderPolicies with shared selections = the unshared rendering', () => {
  it('same sets, chains, lines and annotations on every node', () => {
    fc.assert(fc.property(
      clusterArb({ maxPods: 12, maxPolicies: 6 }),
      fc.array(fc.constantFrom(0, 0, 0, 0, 1, 2, 3), { minLength: 1, maxLength: 6 }),
      fc.nat(2),
      fc.option(fc.nat(1000), { nil: undefined }),
      (g, odd, dup, seed) => {
        const c = view(g, odd, dup);
        const ex = seed === undefined ? undefined : existing(seed);
        const mine = renderPolicies(c, '42', ex);
        const ref = Ref.renderPolicies(c, '42', ex);
        expect(mine.typeQueries).toEqual(ref.typeQueries);
        for (let i = 0; i < g.nodes; i++) {
          const a = renderLocal(mine, cfgOf(i)), b = Ref.renderLocal(ref, cfgOf(i));
          expect(plain(a)).toEqual(plain(b));
          expect(a.podChains.map((p) => `${p.chain} ${p.pod.name}`)).toEqual(b.podChains.map((p) => `${p.chain} ${p.pod.name}`));
        }
      },
    ), { numRuns: 300, seed: 91 });
  });
});

describe('PodSelection', () => {
  const KEYS = ['app', 'tier', 'x'];
  const VALS = ['a', 'b', 'c'];
  const labelsArb = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALS), { maxKeys: 3 });
  const selArb: fc.Arbitrary<LabelSelector> = fc.record({
    matchLabels: fc.option(fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALS), { maxKeys: 2 }), { nil: undefined }),
    matchExpressions: fc.option(fc.array(fc.oneof(
      fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(fc.constantFrom(...VALS), { minLength: 1, maxLength: 3 }) }),
      fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
    ), { maxLength: 3 }), { nil: undefined }),
  }, { requiredKeys: [] });

  it('selects what the compiled selector matches, in store order, the same array each time', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ ns: fc.constantFrom('n1', 'n2'), labels: labelsArb }), { maxLength: 30 }),
      fc.array(fc.tuple(fc.constantFrom('n1', 'n2', 'n3'), selArb), { minLength: 1, maxLength: 8 }),
      (pods, queries) => {
        const byNs = new Map<string, { ns: string; labels: Record<string, string> }[]>();
        for (const p of pods) (byNs.get(p.ns) ?? byNs.set(p.ns, []).get(p.ns)!).push(p);
        const s = new PodSelection(byNs);
        for (const [ns, sel] of queries) {
          const got = s.select(ns, sel);
          const m = compileSelector(sel);
          expect(got).toEqual((byNs.get(ns) ?? []).filter((p) => m.matches(p.labels)));
          expect(s.select(ns, sel)).toBe(got);
        }
      },
    ), { numRuns: 500, seed: 17 });
  });
});
