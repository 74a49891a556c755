/**
 * fast-check generators for packet-level NetworkPolicy properties: a small
 * cluster (namespaces with random labels, pods over 2–3 flannel vxlan nodes
 * with random labels and container ports, some named, TCP/UDP) and random
 * NetworkPolicies, kept as plain data and rendered as a runnable scenario
 * YAML text (`scenarioYaml`), so a shrunk counterexample is a scenario file.
 *
 * Pod addresses are left to host-local IPAM: node i's podCIDR is
 * 10.244.i.0/24 (build.ts hands out /24s in node order) and pods get .2, .3…
 * in manifest order, so the ipBlocks below (10.244.x.y/z with excepts) cut
 * through the pods' addresses.
 */
import fc from 'fast-check';

export type Proto = 'TCP' | 'UDP';
export interface GenPort { name?: string; port: number; protocol: Proto }
export interface GenPod { ns: string; name: string; node: number; labels: Record<string, string>; ports: GenPort[] }
export interface GenNs { name: string; labels: Record<string, string> }
export type Obj = Record<string, unknown>;
export interface GenPolicy { ns: string; name: string; spec: Obj }
export interface GenCluster { nodes: number; namespaces: GenNs[]; pods: GenPod[]; policies: GenPolicy[] }
export interface Cell { from: string; to: string; port: number; protocol: Proto }

const NS_NAMES = ['x', 'y', 'z'];
const POD_KEYS: Record<string, string[]> = { app: ['web', 'db', 'api'], tier: ['front', 'back'] };
const NS_KEYS: Record<string, string[]> = { team: ['a', 'b'], env: ['prod', 'dev'] };
/** Container ports: a name may mean different numbers on different pods (named ports resolve per destination). */
const PORTS: GenPort[] = [
  { name: 'http', port: 80, protocol: 'TCP' },
  { name: 'http', port: 8080, protocol: 'TCP' },
  { port: 81, protocol: 'TCP' },
  { name: 'dns', port: 53, protocol: 'UDP' },
  { name: 'alt', port: 81, protocol: 'UDP' },
  { port: 8081, protocol: 'UDP' },
];

const labelsArb = (keys: Record<string, string[]>): fc.Arbitrary<Record<string, string>> =>
  fc.record(Object.fromEntries(Object.entries(keys).map(([k, vs]) => [k, fc.constantFrom(...vs)])), { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>;

/** At least one port; names unique within the pod (the apiserver requires it). */
const podPortsArb: fc.Arbitrary<GenPort[]> = fc
  .subarray(PORTS, { minLength: 1, maxLength: 3 })
  .map((ps) => ps.filter((p, i) => !p.name || ps.findIndex((q) => q.name === p.name) === i))
  .map((ps) => ps.filter((p, i) => ps.findIndex((q) => q.port === p.port && q.protocol === p.protocol) === i));

const selArb = (keys: Record<string, string[]>): fc.Arbitrary<Obj> => {
  const k = Object.keys(keys);
  const vals = [...new Set(Object.values(keys).flat())];
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant({}) },
    { weight: 3, arbitrary: labelsArb(keys).map((l) => ({ matchLabels: l })) },
    {
      weight: 3,
      arbitrary: fc.array(
        fc.oneof(
          fc.record({ key: fc.constantFrom(...k), operator: fc.constantFrom('In', 'NotIn'), values: fc.subarray(vals, { minLength: 1, maxLength: 2 }) }),
          fc.record({ key: fc.constantFrom(...k), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
        ),
        { minLength: 1, maxLength: 2 },
      ).map((e) => ({ matchExpressions: e })),
    },
  );
};
const podSelArb = selArb(POD_KEYS);
const nsSelArb = selArb({ ...NS_KEYS, 'kubernetes.io/metadata.name': NS_NAMES });

const IP_BLOCKS: Obj[] = [
  { cidr: '10.244.0.0/16' },
  { cidr: '10.244.0.0/16', except: ['10.244.1.0/24'] },
  { cidr: '10.244.0.0/24', except: ['10.244.0.2/32'] },
  { cidr: '10.244.1.0/25', except: ['10.244.1.2/31', '10.244.1.4/32'] },
  { cidr: '10.244.2.0/24' },
  { cidr: '0.0.0.0/0', except: ['10.244.0.0/24'] },
  { cidr: '10.244.0.3/32' },
  { cidr: '192.168.0.0/16' },
];

const peerArb: fc.Arbitrary<Obj> = fc.oneof(
  podSelArb.map((p) => ({ podSelector: p })),
  nsSelArb.map((n) => ({ namespaceSelector: n })),
  fc.tuple(podSelArb, nsSelArb).map(([p, n]) => ({ podSelector: p, namespaceSelector: n })),
  fc.constantFrom(...IP_BLOCKS).map((b) => ({ ipBlock: b })),
);

const npPortArb: fc.Arbitrary<Obj> = fc.oneof(
  fc.constantFrom<Obj>({ port: 80 }, { port: 81 }, { port: 8080 }, { protocol: 'UDP', port: 53 }, { protocol: 'UDP', port: 81 }, { protocol: 'UDP' }, { protocol: 'TCP' }),
  fc.constantFrom<Obj>({ port: 'http' }, { port: 'dns', protocol: 'UDP' }, { port: 'alt', protocol: 'UDP' }, { port: 'alt' }, { port: 'nope' }),
  fc.constantFrom<Obj>({ port: 80, endPort: 81 }, { port: 81, endPort: 8080 }, { protocol: 'UDP', port: 50, endPort: 100 }, { port: 1000, endPort: 9000 }),
);

const ruleArb = (key: 'from' | 'to'): fc.Arbitrary<Obj> =>
  fc.record({
    peers: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: fc.array(peerArb, { minLength: 1, maxLength: 2 }) }),
    ports: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.array(npPortArb, { minLength: 1, maxLength: 2 }) }),
  }).map(({ peers, ports }) => ({ ...(peers ? { [key]: peers } : {}), ...(ports ? { ports } : {}) }));

/** A NetworkPolicy spec: podSelector, optional policyTypes (else defaulted), ingress/egress rules (absent, empty or some). */
export const npSpecArb: fc.Arbitrary<Obj> = fc
  .record({
    podSelector: podSelArb,
    types: fc.option(fc.constantFrom(['Ingress'], ['Egress'], ['Ingress', 'Egress']), { nil: undefined }),
    ingress: fc.option(fc.array(ruleArb('from'), { maxLength: 2 }), { nil: undefined }),
    egress: fc.option(fc.array(ruleArb('to'), { maxLength: 2 }), { nil: undefined }),
  })
  .map(({ podSelector, types, ingress, egress }) => ({
    podSelector,
    ...(types ? { policyTypes: types } : {}),
    ...(ingress ? { ingress } : {}),
    ...(egress ? { egress } : {}),
  }));

export const policyArb = (namespaces: readonly string[]): fc.Arbitrary<Omit<GenPolicy, 'name'>> =>
  fc.record({ ns: fc.constantFrom(...namespaces), spec: npSpecArb });

export interface ClusterOpts { maxPods?: number; maxPolicies?: number }

export const clusterArb = (o: ClusterOpts = {}): fc.Arbitrary<GenCluster> =>
  fc
    .record({
      nodes: fc.integer({ min: 2, max: 3 }),
      nsCount: fc.integer({ min: 2, max: 3 }),
      nsLabels: fc.tuple(...NS_NAMES.map(() => labelsArb(NS_KEYS))),
      pods: fc.array(
        fc.record({ nsIx: fc.nat(2), node: fc.nat(2), labels: labelsArb(POD_KEYS), ports: podPortsArb }),
        { minLength: 2, maxLength: o.maxPods ?? 5 },
      ),
      policies: fc.array(fc.record({ nsIx: fc.nat(2), spec: npSpecArb }), { minLength: 1, maxLength: o.maxPolicies ?? 4 }),
    })
    .map(({ nodes, nsCount, nsLabels, pods, policies }) => {
      const namespaces = NS_NAMES.slice(0, nsCount).map((name, i) => ({ name, labels: nsLabels[i]! }));
      const count = new Map<string, number>();
      const gpods: GenPod[] = pods.map((p) => {
        const ns = NS_NAMES[p.nsIx % nsCount]!;
        const k = count.get(ns) ?? 0;
        count.set(ns, k + 1);
        return { ns, name: `p${k}`, node: p.node % nodes, labels: p.labels, ports: p.ports };
      });
      const gpol = policies.map((p, i) => ({ ns: NS_NAMES[p.nsIx % nsCount]!, name: `np${i}`, spec: p.spec }));
      return { nodes, namespaces, pods: gpods, policies: gpol };
    });

/** Every (from, to, port, protocol) with a port the destination serves (so an allowed probe gets a reply). */
export function allCells(c: GenCluster, opts: { self?: boolean } = {}): Cell[] {
  const out: Cell[] = [];
  for (const a of c.pods)
    for (const b of c.pods) {
      if (a === b && !opts.self) continue;
      for (const p of b.ports) out.push({ from: `${a.ns}/${a.name}`, to: `${b.ns}/${b.name}`, port: p.port, protocol: p.protocol });
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// YAML (flow style via JSON, which is YAML)

const j = (v: unknown): string => JSON.stringify(v);

export function policyManifest(p: GenPolicy): Obj {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.name, namespace: p.ns }, spec: p.spec };
}

/**
 * The cluster as a runnable scenario: `podwire policy matrix FILE --probe` re-checks it.
 * `plugin` picks the data path: flannel vxlan + kube-router's chains, or Calico (IPIP, BGP
 * mesh) + felix's chains — nodes then have a default route, which Calico's proxy ARP needs.
 */
export function scenarioYaml(c: GenCluster, header = '', plugin: 'flannel' | 'calico' = 'flannel'): string {
  const lines: string[] = [];
  if (header) lines.push(...header.trimEnd().split('\n').map((l) => `# ${l}`));
  lines.push(
    'name: netpol-property',
    'seed: 1',
    'cluster:',
    '  podCIDR: 10.244.0.0/16',
    '  serviceCIDR: 10.96.0.0/12',
    plugin === 'flannel' ? '  network: {plugin: flannel, backend: vxlan}' : '  network: {plugin: calico}',
    '  kubeProxy: {mode: none}',
    '  nodes:',
  );
  const route = plugin === 'calico' ? ', routes: [{dst: default, via: 192.168.1.1}]' : '';
  for (let i = 0; i < c.nodes; i++) lines.push(`    - {name: node-${i + 1}, ip: 192.168.1.${11 + i}/24${route}}`);
  lines.push('manifests:');
  for (const ns of c.namespaces) lines.push(`  - ${j({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: ns.labels } })}`);
  for (const p of c.pods) {
    const ports = p.ports.map((q) => ({ ...(q.name ? { name: q.name } : {}), containerPort: q.port, protocol: q.protocol }));
    lines.push(`  - ${j({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.ns, labels: p.labels }, spec: { nodeName: `node-${p.node + 1}`, containers: [{ name: 'c', image: 'agnhost', ports }] } })}`);
  }
  for (const p of c.policies) lines.push(`  - ${j(policyManifest(p))}`);
  return lines.join('\n') + '\n';
}
