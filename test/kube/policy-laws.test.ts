/**
 * Algebraic laws of the policy semantics, with fast-check over random clusters
 * (namespaces, labelled pods on two nodes, some hostNetwork, named container ports)
 * and random policy sets (selectors with expressions, ipBlocks with except, named
 * ports, endPort, policyTypes; ANPs with Allow/Deny/Pass; a BANP).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchesSelector, type LabelSelector } from '../../src/kube/labels.js';
import { validateNetworkPolicy, type NetworkPolicy } from '../../src/kube/networkpolicy.js';
import { adminPolicyArbs } from './policy-admin-arbs.js';
import { PolicyEvaluator, type ClusterView, type PolicySet, type PortCase } from '../../src/kube/policy-eval.js';
import { reachability } from '../../src/kube/policy-reach.js';
import { compileSelector } from '../../src/kube/policy-selector.js';

type O = Record<string, unknown>;
const NS = ['x', 'y', 'z'];
const CASES: PortCase[] = [
  { port: 80, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
  { port: 8080, protocol: 'TCP' },
  { port: 81, protocol: 'SCTP' },
];

const labelsArb = (keys: Record<string, string[]>) =>
  fc.record(Object.fromEntries(Object.entries(keys).map(([k, vs]) => [k, fc.constantFrom(...vs)])), { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>;

const viewArb: fc.Arbitrary<ClusterView> = fc
  .record({
    nsLabels: fc.tuple(...NS.map(() => labelsArb({ team: ['a', 'b'], env: ['p', 'd'] }))),
    pods: fc.array(
      fc.record({
        ns: fc.constantFrom(...NS),
        labels: labelsArb({ app: ['a', 'b', 'c'], tier: ['w', 'd'] }),
        node: fc.constantFrom('n1', 'n2'),
        host: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
        ports: fc.subarray([
          { name: 'http', containerPort: 80, protocol: 'TCP' as const },
          { name: 'dns', containerPort: 53, protocol: 'UDP' as const },
          { name: 'alt', containerPort: 8080, protocol: 'TCP' as const },
          { name: 'sctp', containerPort: 81, protocol: 'SCTP' as const },
        ]),
      }),
      { minLength: 1, maxLength: 8 },
    ),
  })
  .map(({ nsLabels, pods }) => ({
    namespaces: NS.map((n, i) => ({ name: n, labels: { ...nsLabels[i], 'kubernetes.io/metadata.name': n } })),
    nodes: [
      { name: 'n1', ips: ['192.168.0.1'], labels: { zone: 'a' } },
      { name: 'n2', ips: ['192.168.0.2'], labels: { zone: 'b' } },
    ],
    pods: pods.map((p, i) => ({
      namespace: p.ns,
      name: `p${i}`,
      labels: p.labels,
      ip: p.host ? (p.node === 'n1' ? '192.168.0.1' : '192.168.0.2') : `10.0.0.${i + 1}`,
      node: p.node,
      hostNetwork: p.host,
      ports: p.ports,
    })),
  }));

const selArb: fc.Arbitrary<O> = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: labelsArb({ app: ['a', 'b', 'c'], tier: ['w', 'd'], team: ['a', 'b'], env: ['p', 'd'] }) }),
  fc.record({
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: fc.constantFrom('app', 'tier', 'team', 'env'), operator: fc.constantFrom('In', 'NotIn'), values: fc.subarray(['a', 'b', 'w', 'p'], { minLength: 1 }) }),
        fc.record({ key: fc.constantFrom('app', 'tier', 'team', 'env'), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
      ),
      { minLength: 1, maxLength: 2 },
    ),
  }),
);

const peerArb: fc.Arbitrary<O> = fc.oneof(
  selArb.map((s) => ({ podSelector: s })),
  selArb.map((s) => ({ namespaceSelector: s })),
  fc.tuple(selArb, selArb).map(([a, b]) => ({ podSelector: a, namespaceSelector: b })),
  fc.constantFrom(
    { ipBlock: { cidr: '10.0.0.0/29' } },
    { ipBlock: { cidr: '10.0.0.0/28', except: ['10.0.0.4/30'] } },
    { ipBlock: { cidr: '192.168.0.0/24' } },
    { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/30', '192.168.0.2/32'] } },
  ),
);
const portArb: fc.Arbitrary<O> = fc.constantFrom(
  { port: 80 },
  { port: 'http' },
  { port: 'dns', protocol: 'UDP' },
  { protocol: 'UDP' },
  { port: 50, endPort: 90 },
  { port: 8080, protocol: 'TCP' },
  { port: 'sctp', protocol: 'SCTP' },
  { protocol: 'SCTP' },
);
const ruleArb = (peersKey: string): fc.Arbitrary<O> =>
  fc.record(
    { [peersKey]: fc.oneof(fc.constant([]), fc.array(peerArb, { minLength: 1, maxLength: 2 })), ports: fc.oneof(fc.constant([]), fc.array(portArb, { minLength: 1, maxLength: 2 })) },
    { requiredKeys: [] },
  );

let seq = 0;
const npArb: fc.Arbitrary<NetworkPolicy> = fc
  .record({
    ns: fc.constantFrom(...NS),
    podSelector: selArb,
    ingress: fc.option(fc.array(ruleArb('from'), { maxLength: 2 }), { nil: undefined }),
    egress: fc.option(fc.array(ruleArb('to'), { maxLength: 2 }), { nil: undefined }),
    types: fc.option(fc.subarray(['Ingress', 'Egress'], { minLength: 1 }), { nil: undefined }),
  })
  .map((p) => {
    const spec: O = { podSelector: p.podSelector };
    if (p.ingress) spec.ingress = p.ingress;
    if (p.egress) spec.egress = p.egress;
    if (p.types) spec.policyTypes = p.types;
    const r = validateNetworkPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${seq++}`, namespace: p.ns }, spec });
    if (!r.value) throw new Error(JSON.stringify(r.errors.errors));
    return r.value;
  });

const anpPeerArb = (egress: boolean): fc.Arbitrary<O> =>
  fc.oneof(
    selArb.map((s) => ({ namespaces: s })),
    fc.tuple(selArb, selArb).map(([a, b]) => ({ pods: { namespaceSelector: a, podSelector: b } })),
    ...(egress ? [fc.constant({ networks: ['10.0.0.0/30'] }), fc.constant({ nodes: { matchLabels: { zone: 'a' } } })] : []),
  );
const anpPortArb: fc.Arbitrary<O> = fc.constantFrom(
  { portNumber: { port: 80 } },
  { portNumber: { protocol: 'UDP', port: 53 } },
  { portRange: { start: 70, end: 8080 } },
  { namedPort: 'alt' },
);
const anpRuleArb = (actions: string[], egress: boolean): fc.Arbitrary<O> =>
  fc
    .record({
      action: fc.constantFrom(...actions),
      peers: fc.array(anpPeerArb(egress), { minLength: 1, maxLength: 2 }),
      ports: fc.option(fc.array(anpPortArb, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    })
    .map((r) => {
      // The CEL rule: no named ports beside networks/nodes peers.
      const hasAddr = r.peers.some((p) => 'networks' in p || 'nodes' in p);
      const ports = hasAddr ? r.ports?.filter((p) => !('namedPort' in p)) : r.ports;
      return { action: r.action, [egress ? 'to' : 'from']: r.peers, ...(ports?.length ? { ports } : {}) };
    });
const { anpArb, banpArb } = adminPolicyArbs(selArb, anpRuleArb, 3);

const setArb: fc.Arbitrary<PolicySet> = fc.record({
  networkPolicies: fc.array(npArb, { maxLength: 5 }),
  adminNetworkPolicies: fc.array(anpArb, { maxLength: 2 }),
  baselineAdminNetworkPolicy: fc.option(banpArb, { nil: undefined }),
});

/** The whole table, cell by cell, from the single-flow evaluator. */
function cellTable(view: ClusterView, set: PolicySet): boolean[] {
  const ev = new PolicyEvaluator(view, set);
  const out: boolean[] = [];
  for (const c of CASES)
    for (const f of view.pods)
      for (const t of view.pods)
        out.push(ev.verdict({ kind: 'pod', namespace: f.namespace, name: f.name }, { kind: 'pod', namespace: t.namespace, name: t.name }, c.port, c.protocol).allowed);
  return out;
}
function classTable(view: ClusterView, set: PolicySet): boolean[] {
  const r = reachability(view, set, CASES);
  const out: boolean[] = [];
  const n = view.pods.length;
  for (let k = 0; k < CASES.length; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out.push(r.allowed(i, j, k));
  return out;
}

const RUNS = { numRuns: 300 };

describe('policy laws', () => {
  it('compiled selectors match exactly as labels.ts matchesSelector', () => {
    fc.assert(
      fc.property(selArb, labelsArb({ app: ['a', 'b', 'c'], tier: ['w', 'd'], team: ['a', 'b'], env: ['p', 'd'] }), (s, labels) => {
        expect(compileSelector(s as LabelSelector).matches(labels)).toBe(matchesSelector(s as LabelSelector, labels));
      }),
      { numRuns: 1000 },
    );
  });

  it('the class-based reachability table equals the cell-by-cell verdict', () => {
    fc.assert(
      fc.property(viewArb, setArb, (view, set) => {
        expect(classTable(view, set)).toEqual(cellTable(view, set));
      }),
      RUNS,
    );
  });

  it('policy order does not matter', () => {
    fc.assert(
      fc.property(viewArb, setArb, fc.integer(), (view, set, seed) => {
        const shuffle = <T>(xs: readonly T[]): T[] => {
          const a = [...xs];
          let s = seed;
          for (let i = a.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) & 0x7fffffff;
            const j = s % (i + 1);
            [a[i], a[j]] = [a[j], a[i]];
          }
          return a;
        };
        const other = { ...set, networkPolicies: shuffle(set.networkPolicies ?? []), adminNetworkPolicies: shuffle(set.adminNetworkPolicies ?? []) };
        expect(cellTable(view, other)).toEqual(cellTable(view, set));
        expect(classTable(view, other)).toEqual(classTable(view, set));
      }),
      { numRuns: 150 },
    );
  });

  it('a policy that selects no pod changes nothing', () => {
    fc.assert(
      fc.property(viewArb, setArb, npArb, (view, set, extra) => {
        const none: NetworkPolicy = { ...extra, podSelector: { matchLabels: { 'selects-nothing': 'yes' } } };
        const more = { ...set, networkPolicies: [...(set.networkPolicies ?? []), none] };
        expect(cellTable(view, more)).toEqual(cellTable(view, set));
      }),
      { numRuns: 150 },
    );
  });

  it('adding a policy to already-isolated pods only adds allowed flows', () => {
    fc.assert(
      fc.property(viewArb, setArb, npArb, (view, set, extra) => {
        // Precondition: every pod the new policy selects is already isolated in each of its directions.
        const ev = new PolicyEvaluator(view, set);
        const c = ev.compiled;
        const isolated = (pod: (typeof c.pods)[number], dir: 'ingress' | 'egress') =>
          c.nps.some((p) => (dir === 'ingress' ? p.ingress : p.egress) && c.npSelects(p, pod));
        const ext = new PolicyEvaluator(view, { networkPolicies: [extra] }).compiled;
        const cx = ext.nps[0];
        for (const pod of c.pods) {
          if (!ext.npSelects(cx, ext.pods[pod.index])) continue;
          if (cx.ingress && !isolated(pod, 'ingress')) return;
          if (cx.egress && !isolated(pod, 'egress')) return;
        }
        const before = cellTable(view, set);
        const after = cellTable(view, { ...set, networkPolicies: [...(set.networkPolicies ?? []), extra] });
        before.forEach((b, i) => {
          if (b) expect(after[i]).toBe(true);
        });
      }),
      RUNS,
    );
  });

  it('a pod selected only by a deny-all for a direction is reachable by nothing else in that direction (but itself and its own node)', () => {
    fc.assert(
      fc.property(viewArb, fc.array(npArb, { maxLength: 4 }), fc.constantFrom(...NS), fc.constantFrom('Ingress', 'Egress'), (view, others, ns, dir) => {
        const r = validateNetworkPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-all', namespace: ns }, spec: { podSelector: {}, policyTypes: [dir] } });
        // No other policy of that namespace may select pods for that direction.
        const rest = others.filter((p) => p.namespace !== ns || !p.policyTypes.includes(dir as 'Ingress'));
        const table = reachability(view, { networkPolicies: [...rest, r.value!] }, CASES);
        const pods = view.pods;
        for (let k = 0; k < CASES.length; k++)
          pods.forEach((p, i) => {
            if (p.namespace !== ns || p.hostNetwork) return;
            pods.forEach((q, j) => {
              if (i === j) return;
              if (dir === 'Ingress') {
                const ownNode = q.hostNetwork && q.node === p.node;
                expect(table.allowed(j, i, k)).toBe(ownNode);
              } else {
                expect(table.allowed(i, j, k)).toBe(false);
              }
            });
          });
      }),
      RUNS,
    );
  });
});
