/**
 * The reachability engine's own paths (src/kube/policy-reach*.ts), against the
 * single-flow evaluator cell by cell: classes built by integer refinement and
 * numbered by IP signature (ipBlock/networks sets are range fills over
 * signatures — here with pods at scattered addresses, many overlapping blocks
 * with excepts, so signatures merge non-contiguous intervals), selectors
 * evaluated requirement by requirement on per-(key, value) class sets (a
 * high-cardinality label, so both the dense and the list form occur), named
 * ports resolved to several container ports, per-class rule lists as trie
 * nodes, rows shared between classes and with single-rule peer sets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateNetworkPolicy, type NetworkPolicy } from '../../src/kube/networkpolicy.js';
import { adminPolicyArbs } from './policy-admin-arbs.js';
import { PolicyEvaluator, type ClusterView, type PolicySet, type PortCase } from '../../src/kube/policy-eval.js';
import { reachability } from '../../src/kube/policy-reach.js';
import { fillRange, forEachSet, has, newBits } from '../../src/kube/policy-reach-bits.js';

type O = Record<string, unknown>;
const NS = ['x', 'y'];
const CASES: PortCase[] = [
  { port: 80, protocol: 'TCP' },
  { port: 8080, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
];
const IDS = Array.from({ length: 12 }, (_, i) => `i${i}`);

const ip = (n: number): string => `10.0.${n >>> 8}.${n & 255}`;
/** A CIDR inside 10.0.0.0/26 (the pod range), as [text, base offset, size]. */
const cidrArb = (minPrefix: number): fc.Arbitrary<[string, number, number]> =>
  fc.integer({ min: minPrefix, max: 32 }).chain((prefix) => {
    const size = 2 ** (32 - prefix);
    return fc.integer({ min: 0, max: Math.max(0, 64 / size - 1) }).map((k) => [`${ip(k * size)}/${prefix}`, k * size, size] as [string, number, number]);
  });
const ipBlockArb: fc.Arbitrary<O> = cidrArb(26).chain(([cidr, base, size]) =>
  fc
    .array(
      fc.integer({ min: 0, max: 5 }).chain((d) => {
        // Excepts must be strict subsets of the cidr.
        const esize = 2 ** d;
        if (esize >= size) return fc.constant('');
        return fc.integer({ min: 0, max: size / esize - 1 }).map((k) => `${ip(base + k * esize)}/${32 - d}`);
      }),
      { maxLength: 2 },
    )
    .map((ex) => {
      const except = [...new Set(ex.filter((e) => e))];
      return { ipBlock: { cidr, ...(except.length ? { except } : {}) } };
    }),
);

const viewArb: fc.Arbitrary<ClusterView> = fc
  .record({
    team: fc.tuple(fc.constantFrom('a', 'b'), fc.constantFrom('a', 'b')),
    pods: fc.array(
      fc.record({
        ns: fc.constantFrom(...NS),
        app: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
        id: fc.constantFrom(...IDS),
        node: fc.constantFrom('n1', 'n2'),
        host: fc.integer({ min: 0, max: 9 }).map((n) => n < 1),
        addr: fc.integer({ min: 0, max: 63 }),
        ports: fc.subarray([
          { name: 'http', containerPort: 80, protocol: 'TCP' as const },
          { name: 'http', containerPort: 8080, protocol: 'TCP' as const },
          { name: 'dns', containerPort: 53, protocol: 'UDP' as const },
        ]),
      }),
      { minLength: 1, maxLength: 40 },
    ),
  })
  .map(({ team, pods }) => {
    const used = new Set<number>();
    return {
      namespaces: NS.map((n, i) => ({ name: n, labels: { team: team[i], 'kubernetes.io/metadata.name': n } })),
      nodes: [
        { name: 'n1', ips: ['10.0.0.200'], labels: { zone: 'a' } },
        { name: 'n2', ips: ['10.0.0.201'], labels: { zone: 'b' } },
      ],
      pods: pods
        .filter((p) => p.host || (!used.has(p.addr) && used.add(p.addr)))
        .map((p, i) => ({
          namespace: p.ns,
          name: `p${i}`,
          labels: { id: p.id, ...(p.app ? { app: p.app } : {}) },
          ip: p.host ? (p.node === 'n1' ? '10.0.0.200' : '10.0.0.201') : ip(p.addr),
          node: p.node,
          hostNetwork: p.host,
          ports: p.ports,
        })),
    };
  });

const selArb: fc.Arbitrary<O> = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: fc.record({ app: fc.constantFrom('a', 'b'), id: fc.constantFrom(...IDS) }, { requiredKeys: [] }) }),
  fc.record({
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: fc.constantFrom('app', 'id', 'team'), operator: fc.constantFrom('In', 'NotIn'), values: fc.subarray(['a', 'b', ...IDS.slice(0, 6)], { minLength: 1 }) }),
        fc.record({ key: fc.constantFrom('app', 'id', 'team'), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  }),
);
const peerArb: fc.Arbitrary<O> = fc.oneof(
  { weight: 1, arbitrary: selArb.map((s) => ({ podSelector: s })) },
  { weight: 1, arbitrary: selArb.map((s) => ({ namespaceSelector: s })) },
  { weight: 1, arbitrary: fc.tuple(selArb, selArb).map(([a, b]) => ({ podSelector: a, namespaceSelector: b })) },
  { weight: 3, arbitrary: ipBlockArb },
);
const portArb: fc.Arbitrary<O> = fc.constantFrom({ port: 80 }, { port: 'http' }, { port: 'dns', protocol: 'UDP' }, { port: 8000, endPort: 9000 });
const ruleArb = (key: string): fc.Arbitrary<O> =>
  fc.record({ [key]: fc.array(peerArb, { maxLength: 3 }), ports: fc.array(portArb, { maxLength: 2 }) }, { requiredKeys: [] });

let seq = 0;
const npArb: fc.Arbitrary<NetworkPolicy> = fc
  .record({
    ns: fc.constantFrom(...NS),
    podSelector: selArb,
    ingress: fc.array(ruleArb('from'), { maxLength: 3 }),
    egress: fc.array(ruleArb('to'), { maxLength: 3 }),
    types: fc.subarray(['Ingress', 'Egress'], { minLength: 1 }),
  })
  .map((p) => {
    const spec: O = { podSelector: p.podSelector, ingress: p.ingress, egress: p.egress, policyTypes: p.types };
    const r = validateNetworkPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${seq++}`, namespace: p.ns }, spec });
    if (!r.value) throw new Error(JSON.stringify(r.errors.errors));
    return r.value;
  });

const anpRuleArb = (actions: string[], egress: boolean): fc.Arbitrary<O> =>
  fc
    .record({
      action: fc.constantFrom(...actions),
      peers: fc.array(
        fc.oneof(
          selArb.map((s) => ({ namespaces: s })),
          fc.tuple(selArb, selArb).map(([a, b]) => ({ pods: { namespaceSelector: a, podSelector: b } })),
          ...(egress ? [cidrArb(26).map(([c]) => ({ networks: [c] })), fc.constant({ nodes: { matchLabels: { zone: 'a' } } })] : []),
        ),
        { minLength: 1, maxLength: 2 },
      ),
      ports: fc.option(fc.array(fc.constantFrom<O>({ portNumber: { port: 80 } }, { namedPort: 'http' }, { portRange: { start: 50, end: 100 } }), { minLength: 1, maxLength: 2 }), { nil: undefined }),
    })
    .map((r) => {
      const hasAddr = r.peers.some((p) => 'networks' in p || 'nodes' in p);
      const ports = hasAddr ? r.ports?.filter((p) => !('namedPort' in p)) : r.ports;
      return { action: r.action, [egress ? 'to' : 'from']: r.peers, ...(ports?.length ? { ports } : {}) };
    });
const { anpArb, banpArb } = adminPolicyArbs(selArb, anpRuleArb, 2);
const setArb: fc.Arbitrary<PolicySet> = fc.record({
  networkPolicies: fc.array(npArb, { maxLength: 6 }),
  adminNetworkPolicies: fc.array(anpArb, { maxLength: 2 }),
  baselineAdminNetworkPolicy: fc.option(banpArb, { nil: undefined }),
});

describe('policy-reach engine', () => {
  it('equals the cell-by-cell verdict with pod-range ipBlocks, high-cardinality labels and multi-port names; classes, members and denied() agree', () => {
    fc.assert(
      fc.property(viewArb, setArb, (view, set) => {
        const ev = new PolicyEvaluator(view, set);
        const r = reachability(view, set, CASES);
        const pods = view.pods;
        const n = pods.length;
        // Classes: a partition of the pods, members in view order.
        const seen = new Uint8Array(n);
        for (let c = 0; c < r.classCount; c++) {
          const m = r.members(c);
          expect(m.length).toBeGreaterThan(0);
          for (let x = 0; x < m.length; x++) {
            expect(r.classOf[m[x]]).toBe(c);
            if (x) expect(m[x]).toBeGreaterThan(m[x - 1]);
            seen[m[x]]++;
          }
        }
        expect([...seen].every((v) => v === 1)).toBe(true);
        for (let k = 0; k < CASES.length; k++) {
          const denied = new Set<number>();
          for (const [i, j] of r.denied(k)) denied.add(i * n + j);
          const { port, protocol } = CASES[k];
          for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++) {
              const want = ev.verdict({ kind: 'pod', namespace: pods[i].namespace, name: pods[i].name }, { kind: 'pod', namespace: pods[j].namespace, name: pods[j].name }, port, protocol).allowed;
              expect(r.allowed(i, j, k)).toBe(want);
              expect(denied.has(i * n + j)).toBe(!want);
            }
        }
      }),
      { numRuns: 250 },
    );
  });

  it('bitset range fills and set-bit iteration agree with a boolean array', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 5 }), (size, ranges) => {
        const b = newBits(size);
        const want = new Array<boolean>(size).fill(false);
        for (const [x, y] of ranges) {
          const from = x % (size + 1);
          const to = y % (size + 1);
          fillRange(b, from, to);
          for (let i = from; i < to; i++) want[i] = true;
        }
        for (let i = 0; i < size; i++) expect(has(b, i)).toBe(want[i]);
        const got: number[] = [];
        forEachSet(b, (i) => got.push(i));
        expect(got).toEqual(want.flatMap((v, i) => (v ? [i] : [])));
      }),
    );
  });
});
