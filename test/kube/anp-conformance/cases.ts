/**
 * The upstream AdminNetworkPolicy / BaselineAdminNetworkPolicy conformance cases
 * (kubernetes-sigs/network-policy-api, branch release-0.1 — the last one on the
 * v1alpha1 API; `conformance/tests/*.go` with `conformance/base/**.yaml`), as data:
 * the policies each case applies, then its steps in order — a step may change the
 * policies first (upstream patches them with a mutated copy, and the changes of
 * earlier steps stay: the steps share one cluster) — and the connections each step
 * asserts, (client pod, server pod, port, protocol) → connects or not.
 *
 * The profiles: "Standard" holds the ANP and BANP tests of the standard channel
 * (v0.1.5 and earlier named them "Core": the same cases and manifests under
 * core-* file names); "Experimental" holds the named-port and node-peer tests.
 * The policies are rebuilt here from builders (same subjects, rules in the same
 * order, same peers, ports and actions); rule names follow upstream's pattern.
 */
import type { Obj } from '../../../src/kube/object.js';
import type { Protocol } from '../../../src/kube/pod.js';
import { HNP, ns, podRef, type House } from './hogwarts.js';

// ---------------------------------------------------------------------------------------------
// Policy builders

type Dir = 'ingress' | 'egress';
type Action = 'Allow' | 'Deny' | 'Pass';
type PortSpec = Obj;

const byName = (h: House): Obj => ({ matchLabels: { 'kubernetes.io/metadata.name': ns(h) } });
const byHouse = (h: House): Obj => ({ matchLabels: { 'conformance-house': h } });
/** `namespaces:` peer/subject on the namespace's name label. */
const nsPeer = (h: House): Obj => ({ namespaces: byName(h) });
/** `pods:` peer/subject on the house label, for namespace and pod alike. */
const podsPeer = (h: House): Obj => ({ pods: { namespaceSelector: byHouse(h), podSelector: byHouse(h) } });
const port = (protocol: Protocol, p: number): PortSpec => ({ portNumber: { protocol, port: p } });
const range = (protocol: Protocol, start: number, end: number): PortSpec => ({ portRange: { protocol, start, end } });

function rule(dir: Dir, name: string, action: Action, peers: Obj[], ports?: PortSpec[]): Obj {
  return { name, action, [dir === 'ingress' ? 'from' : 'to']: peers, ...(ports ? { ports } : {}) };
}

function anp(name: string, priority: number, subject: Obj, spec: { ingress?: Obj[]; egress?: Obj[] }): Obj {
  return { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name }, spec: { priority, subject, ...spec } };
}

function banp(subject: Obj, spec: { ingress?: Obj[]; egress?: Obj[] }): Obj {
  return { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: { subject, ...spec } };
}

/**
 * The rule list every per-protocol case uses, towards three houses:
 * `all` — allow, deny, pass everything (in that order);
 * `port` — deny, then pass, on `denyPorts`;
 * `rest` — allow on `allowPorts`, then deny everything else.
 * Without Pass (the BANP's form) the two pass rules are left out: 5 rules, not 7.
 */
function ladder(dir: Dir, o: { all: House; port: House; denyPorts: PortSpec[]; rest: House; allowPorts: PortSpec[]; pass: boolean }): Obj[] {
  const w = dir === 'ingress' ? 'from' : 'to';
  const rules = [
    rule(dir, `allow-${w}-${o.all}-everything`, 'Allow', [nsPeer(o.all)]),
    rule(dir, `deny-${w}-${o.all}-everything`, 'Deny', [nsPeer(o.all)]),
    ...(o.pass ? [rule(dir, `pass-${w}-${o.all}-everything`, 'Pass', [nsPeer(o.all)])] : []),
    rule(dir, `deny-${w}-${o.port}-at-ports`, 'Deny', [nsPeer(o.port)], o.denyPorts),
    ...(o.pass ? [rule(dir, `pass-${w}-${o.port}-at-ports`, 'Pass', [nsPeer(o.port)], o.denyPorts)] : []),
    rule(dir, `allow-${w}-${o.rest}-at-ports`, 'Allow', [nsPeer(o.rest)], o.allowPorts),
    rule(dir, `deny-${w}-${o.rest}-everything-else`, 'Deny', [nsPeer(o.rest)]),
  ];
  return rules;
}

// ---------------------------------------------------------------------------------------------
// Cases

/** One asserted connection: `from`/`to` are pod names of the topology. */
export interface Flow {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
  connects: boolean;
}

/** The policies in force, by key: `AdminNetworkPolicy/NAME`, `BaselineAdminNetworkPolicy/default`, `NetworkPolicy/NS/NAME`. */
export type PolicyState = Map<string, Obj>;

export interface Step {
  /** The upstream `t.Run` name. */
  name: string;
  /** The change upstream makes before its pokes (on the state left by the earlier steps). */
  mutate?: (s: PolicyState, ips: ReadonlyMap<string, string>) => void;
  expect: Flow[];
}

export interface UpstreamCase {
  /** The upstream ConformanceTest ShortName. */
  shortName: string;
  /** `Standard (v1alpha2 PR)`: a v1alpha2 ClusterNetworkPolicy case from an unmerged upstream pull request, translated (see V1ALPHA2_PR_CASES). */
  profile: 'Standard' | 'Experimental' | 'Standard (v1alpha2 PR)' | 'Extended (v0.1.5)';
  api: 'ANP' | 'BANP';
  /** The upstream manifest the case applies. */
  manifest: string;
  policies: () => Obj[];
  steps: Step[];
}

export const keyOf = (o: Obj): string => {
  const m = o.metadata as Obj;
  return o.kind === 'NetworkPolicy' ? `NetworkPolicy/${String(m.namespace)}/${String(m.name)}` : `${String(o.kind)}/${String(m.name)}`;
};

const spec = (s: PolicyState, key: string): Obj => {
  const o = s.get(key);
  if (!o) throw new Error(`no policy ${key} in force`);
  return o.spec as Obj;
};
const rulesOf = (s: PolicyState, key: string, dir: Dir): Obj[] => spec(s, key)[dir] as Obj[];
function swap(key: string, dir: Dir, i: number, j: number): (s: PolicyState) => void {
  return (s) => {
    const l = rulesOf(s, key, dir);
    [l[i], l[j]] = [l[j], l[i]];
  };
}
const both = (...fs: ((s: PolicyState, ips: ReadonlyMap<string, string>) => void)[]) => (s: PolicyState, ips: ReadonlyMap<string, string>) => fs.forEach((f) => f(s, ips));

const f = (from: string, to: string, p: number, protocol: Protocol, connects: boolean): Flow => ({ from, to, port: p, protocol, connects });
/** Flows from several clients to one server: [client, port, protocol, connects]. */
const to = (server: string, ...l: [string, number, Protocol, boolean][]): Flow[] => l.map(([c, p, pr, ok]) => f(c, server, p, pr, ok));
/** Flows from one client to several servers. */
const from = (client: string, ...l: [string, number, Protocol, boolean][]): Flow[] => l.map(([s, p, pr, ok]) => f(client, s, p, pr, ok));

/**
 * The six steps of the per-protocol ANP cases (AdminNetworkPolicy{Ingress,Egress}{TCP,UDP,SCTP}):
 * the clients/servers and ports differ per case, the rule swaps are the same.
 */
function anpLadderSteps(key: string, dir: Dir, proto: Protocol, gress: string, flows: Flow[][]): Step[] {
  const P = proto;
  return [
    { name: `Should support an 'allow-${gress}' policy for ${P} protocol; ensure rule ordering is respected`, expect: flows[0] },
    { name: `Should support an 'allow-${gress}' policy for ${P} protocol at the specified port`, expect: flows[1] },
    { name: `Should support an 'deny-${gress}' policy for ${P} protocol; ensure rule ordering is respected`, mutate: swap(key, dir, 0, 1), expect: flows[2] },
    { name: `Should support a 'deny-${gress}' policy for ${P} protocol at the specified port`, expect: flows[3] },
    { name: `Should support an 'pass-${gress}' policy for ${P} protocol; ensure rule ordering is respected`, mutate: swap(key, dir, 0, 2), expect: flows[4] },
    { name: `Should support a 'pass-${gress}' policy for ${P} protocol at the specified port`, mutate: swap(key, dir, 3, 4), expect: flows[5] },
  ];
}
function banpLadderSteps(dir: Dir, proto: Protocol, gress: string, flows: Flow[][]): Step[] {
  const P = proto;
  return [
    { name: `Should support an 'allow-${gress}' policy for ${P} protocol; ensure rule ordering is respected`, expect: flows[0] },
    { name: `Should support an 'allow-${gress}' policy for ${P} protocol at the specified port`, expect: flows[1] },
    { name: `Should support an 'deny-${gress}' policy for ${P} protocol; ensure rule ordering is respected`, mutate: swap('BaselineAdminNetworkPolicy/default', dir, 0, 1), expect: flows[2] },
    { name: `Should support a 'deny-${gress}' policy for ${P} protocol at the specified port`, expect: flows[3] },
  ];
}

const H0 = 'harry-potter-0', H1 = 'harry-potter-1';
const D0 = 'draco-malfoy-0', D1 = 'draco-malfoy-1';
const C0 = 'cedric-diggory-0', C1 = 'cedric-diggory-1';
const L0 = 'luna-lovegood-0', L1 = 'luna-lovegood-1';
const CENTAUR1 = 'centaur-1';

// --- per-protocol policies ------------------------------------------------------------------

const ingressTcp = (pass: boolean) => ladder('ingress', { all: 'ravenclaw', port: 'slytherin', denyPorts: [port('TCP', 80)], rest: 'hufflepuff', allowPorts: [port('TCP', 80)], pass });
const egressTcp = (pass: boolean) => ladder('egress', { all: 'ravenclaw', port: 'slytherin', denyPorts: [port('TCP', 80)], rest: 'hufflepuff', allowPorts: [port('TCP', 8080)], pass });
const ingressUdp = (pass: boolean) => ladder('ingress', { all: 'ravenclaw', port: 'slytherin', denyPorts: [port('UDP', 5353)], rest: 'gryffindor', allowPorts: [port('UDP', 53)], pass });
const egressUdp = (pass: boolean) => ladder('egress', { all: 'ravenclaw', port: 'slytherin', denyPorts: [port('UDP', 5353)], rest: 'gryffindor', allowPorts: [port('UDP', 53)], pass });
const ingressSctp = (pass: boolean) => ladder('ingress', { all: 'gryffindor', port: 'slytherin', denyPorts: [port('SCTP', 9003)], rest: 'hufflepuff', allowPorts: [port('SCTP', 9003)], pass });
const egressSctp = (pass: boolean) => ladder('egress', { all: 'gryffindor', port: 'slytherin', denyPorts: [port('SCTP', 9003)], rest: 'hufflepuff', allowPorts: [port('SCTP', 9003)], pass });
const MIXED_80_53_9003 = [port('TCP', 80), port('UDP', 53), port('SCTP', 9003)];
const gressIngress = (pass: boolean) => ladder('ingress', { all: 'ravenclaw', port: 'slytherin', denyPorts: MIXED_80_53_9003, rest: 'hufflepuff', allowPorts: [port('TCP', 80), port('UDP', 5353), port('SCTP', 9003)], pass });
const gressEgress = (pass: boolean) => ladder('egress', { all: 'ravenclaw', port: 'slytherin', denyPorts: MIXED_80_53_9003, rest: 'hufflepuff', allowPorts: [port('TCP', 8080), port('UDP', 5353), port('SCTP', 9003)], pass });

// Flows of the per-protocol cases (the same for the ANP and the BANP form; the BANP runs the first four steps).
const FLOWS = {
  ingressTcp: [
    to(H0, [L0, 80, 'TCP', true], [L1, 8080, 'TCP', true]),
    to(H1, [C0, 80, 'TCP', true], [C1, 8080, 'TCP', false]),
    to(H1, [L0, 80, 'TCP', false], [L1, 8080, 'TCP', false]),
    to(H0, [D0, 80, 'TCP', false], [D1, 8080, 'TCP', true]),
    to(H0, [L0, 80, 'TCP', true], [L1, 8080, 'TCP', true]),
    to(H0, [D0, 80, 'TCP', true], [D1, 8080, 'TCP', true]),
  ],
  egressTcp: [
    [f(H0, L0, 80, 'TCP', true), f(H1, L0, 8080, 'TCP', true)],
    [f(H0, C1, 8080, 'TCP', true), f(H1, C1, 80, 'TCP', false)],
    [f(H0, L1, 80, 'TCP', false), f(H1, L1, 8080, 'TCP', false)],
    [f(H0, D0, 80, 'TCP', false), f(H1, D0, 8080, 'TCP', true)],
    [f(H0, L0, 80, 'TCP', true), f(H1, L0, 8080, 'TCP', true)],
    [f(H0, D0, 80, 'TCP', true), f(H1, D0, 8080, 'TCP', true)],
  ],
  ingressUdp: [
    to(C0, [L0, 53, 'UDP', true], [L1, 5353, 'UDP', true]),
    to(C1, [H0, 53, 'UDP', true], [H1, 5353, 'UDP', false]),
    to(C1, [L0, 53, 'UDP', false], [L1, 5353, 'UDP', false]),
    to(C0, [D0, 5353, 'UDP', false], [D1, 53, 'UDP', true]),
    to(C1, [L0, 5353, 'UDP', true], [L1, 53, 'UDP', true]),
    to(C0, [D0, 5353, 'UDP', true], [D1, 53, 'UDP', true]),
  ],
  egressUdp: [
    [f(C0, L0, 53, 'UDP', true), f(C1, L0, 5353, 'UDP', true)],
    [f(C0, H1, 53, 'UDP', true), f(C1, H1, 5353, 'UDP', false)],
    [f(C0, L1, 53, 'UDP', false), f(C1, L1, 5353, 'UDP', false)],
    [f(C0, D0, 5353, 'UDP', false), f(C1, D0, 53, 'UDP', true)],
    [f(C0, L1, 5353, 'UDP', true), f(C1, L1, 53, 'UDP', true)],
    [f(C0, D0, 5353, 'UDP', true), f(C1, D0, 53, 'UDP', true)],
  ],
  ingressSctp: [
    to(L0, [H0, 9003, 'SCTP', true], [H1, 9005, 'SCTP', true]),
    to(L1, [C0, 9003, 'SCTP', true], [C1, 9005, 'SCTP', false]),
    to(L1, [H0, 9003, 'SCTP', false], [H1, 9005, 'SCTP', false]),
    to(L0, [D0, 9003, 'SCTP', false], [D1, 9005, 'SCTP', true]),
    to(L1, [H0, 9003, 'SCTP', true], [H1, 9005, 'SCTP', true]),
    to(L0, [D0, 9003, 'SCTP', true], [D1, 9005, 'SCTP', true]),
  ],
  egressSctp: [
    [f(L0, H0, 9003, 'SCTP', true), f(L1, H0, 9005, 'SCTP', true)],
    [f(L0, C1, 9003, 'SCTP', true), f(L1, C1, 9005, 'SCTP', false)],
    [f(L0, H1, 9003, 'SCTP', false), f(L1, H1, 9005, 'SCTP', false)],
    [f(L0, D0, 9003, 'SCTP', false), f(L1, D0, 9005, 'SCTP', true)],
    [f(L0, H1, 9003, 'SCTP', true), f(L1, H1, 9005, 'SCTP', true)],
    [f(L0, D0, 9003, 'SCTP', true), f(L1, D0, 9005, 'SCTP', true)],
  ],
};

// The gress-combined cases: egress of gryffindor clients, then ingress of a gryffindor server.
const GRESS = {
  allow: [
    ...from(H0, [L0, 80, 'TCP', true]), ...from(H1, [L0, 53, 'UDP', true]), ...from(H0, [L0, 9003, 'SCTP', true]),
    ...to(H0, [L0, 80, 'TCP', true], [L1, 53, 'UDP', true], [L1, 9003, 'SCTP', true]),
  ],
  allowPorts: [
    ...to(C1, [H0, 8080, 'TCP', true], [H1, 80, 'TCP', false], [H0, 5353, 'UDP', true], [H1, 53, 'UDP', false], [H0, 9003, 'SCTP', true], [H1, 9005, 'SCTP', false]),
    ...to(H1, [C0, 80, 'TCP', true], [C1, 8080, 'TCP', false], [C0, 5353, 'UDP', true], [C1, 53, 'UDP', false], [C0, 9003, 'SCTP', true], [C1, 9005, 'SCTP', false]),
  ],
  deny: [
    ...from(H0, [L1, 80, 'TCP', false]), ...from(H1, [L1, 53, 'UDP', false]), ...from(H0, [L1, 9003, 'SCTP', false]),
    ...to(H1, [L0, 80, 'TCP', false], [L1, 53, 'UDP', false], [L1, 9003, 'SCTP', false]),
  ],
  denyPorts: [
    ...to(D0, [H0, 80, 'TCP', false], [H1, 8080, 'TCP', true], [H0, 53, 'UDP', false], [H1, 5353, 'UDP', true], [H0, 9003, 'SCTP', false], [H1, 9005, 'SCTP', true]),
    ...to(H0, [D0, 80, 'TCP', false], [D1, 8080, 'TCP', true], [D0, 53, 'UDP', false], [D1, 5353, 'UDP', true], [D0, 9003, 'SCTP', false], [D1, 9005, 'SCTP', true]),
  ],
  pass: [
    ...to(L0, [H0, 80, 'TCP', true], [H0, 5353, 'UDP', true], [H0, 9003, 'SCTP', true]),
    ...to(H0, [L0, 80, 'TCP', true], [L1, 53, 'UDP', true], [L1, 9003, 'SCTP', true]),
  ],
  passPorts: [
    ...to(D0, [H0, 80, 'TCP', true], [H1, 8080, 'TCP', true], [H0, 53, 'UDP', true], [H1, 5353, 'UDP', true], [H0, 9003, 'SCTP', true], [H1, 9005, 'SCTP', true]),
    ...to(H0, [D0, 80, 'TCP', true], [D1, 8080, 'TCP', true], [D0, 53, 'UDP', true], [D1, 5353, 'UDP', true], [D0, 9003, 'SCTP', true], [D1, 9005, 'SCTP', true]),
  ],
};

// --- inline CIDR (networks) -----------------------------------------------------------------

const cidrAll = (client: string, servers: string[], connects: boolean): Flow[] =>
  servers.flatMap((s) => from(client, [s, 80, 'TCP', connects], [s, 53, 'UDP', connects], [s, 9003, 'SCTP', connects]));
const CIDR_STEPS = (key: string): Step[] => [
  {
    name: "Should support a 'deny-egress' rule policy for egress-cidr-peer",
    expect: [...cidrAll(H1, [L0, C0], false), ...cidrAll(H1, [D0], true)],
  },
  {
    name: "Should support an 'allow-egress' rule policy for egress-cidr-peer",
    // A new first rule allowing egress to luna-lovegood-0's and cedric-diggory-0's addresses (/32).
    mutate: (s, ips) => {
      const l = rulesOf(s, key, 'egress');
      l.unshift(rule('egress', 'allow-egress-to-specific-podIPs', 'Allow', [{ networks: [`${ips.get(L0)}/32`, `${ips.get(C0)}/32`] }]));
    },
    expect: [...cidrAll(H1, [L0, C0], true), ...cidrAll(H1, [L1, C1], false)],
  },
];

// ---------------------------------------------------------------------------------------------

const ANP = (n: string) => `AdminNetworkPolicy/${n}`;
const BANP = 'BaselineAdminNetworkPolicy/default';
const setPorts = (key: string, dir: Dir, i: number, ports: PortSpec[]) => (s: PolicyState) => {
  rulesOf(s, key, dir)[i] = { ...rulesOf(s, key, dir)[i], ports };
};

export const CASES: UpstreamCase[] = [
  // ===================== AdminNetworkPolicy, standard =====================
  {
    shortName: 'AdminNetworkPolicyIngressTCP', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-ingress-tcp-rules.yaml',
    policies: () => [anp('ingress-tcp', 3, nsPeer('gryffindor'), { ingress: ingressTcp(true) })],
    steps: anpLadderSteps(ANP('ingress-tcp'), 'ingress', 'TCP', 'ingress', FLOWS.ingressTcp),
  },
  {
    shortName: 'AdminNetworkPolicyIngressUDP', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-ingress-udp-rules.yaml',
    policies: () => [anp('ingress-udp', 4, nsPeer('hufflepuff'), { ingress: ingressUdp(true) })],
    steps: anpLadderSteps(ANP('ingress-udp'), 'ingress', 'UDP', 'ingress', FLOWS.ingressUdp),
  },
  {
    shortName: 'AdminNetworkPolicyIngressSCTP', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-ingress-sctp-rules.yaml',
    policies: () => [anp('ingress-sctp', 5, nsPeer('ravenclaw'), { ingress: ingressSctp(true) })],
    steps: anpLadderSteps(ANP('ingress-sctp'), 'ingress', 'SCTP', 'ingress', FLOWS.ingressSctp),
  },
  {
    shortName: 'AdminNetworkPolicyEgressTCP', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-egress-tcp-rules.yaml',
    policies: () => [anp('egress-tcp', 6, nsPeer('gryffindor'), { egress: egressTcp(true) })],
    steps: anpLadderSteps(ANP('egress-tcp'), 'egress', 'TCP', 'egress', FLOWS.egressTcp),
  },
  {
    shortName: 'AdminNetworkPolicyEgressUDP', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-egress-udp-rules.yaml',
    policies: () => [anp('egress-udp', 7, nsPeer('hufflepuff'), { egress: egressUdp(true) })],
    steps: anpLadderSteps(ANP('egress-udp'), 'egress', 'UDP', 'egress', FLOWS.egressUdp),
  },
  {
    shortName: 'AdminNetworkPolicyEgressSCTP', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-egress-sctp-rules.yaml',
    policies: () => [anp('egress-sctp', 8, nsPeer('ravenclaw'), { egress: egressSctp(true) })],
    steps: anpLadderSteps(ANP('egress-sctp'), 'egress', 'SCTP', 'egress', FLOWS.egressSctp),
  },
  {
    shortName: 'AdminNetworkPolicyGress', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-gress-rules-combined.yaml',
    policies: () => [anp('gress-rules', 15, nsPeer('gryffindor'), { ingress: gressIngress(true), egress: gressEgress(true) })],
    steps: [
      { name: "Should support an 'allow-gress' policy across different protocols", expect: GRESS.allow },
      { name: "Should support an 'allow-gress' policy across different protocols at the specified ports", expect: GRESS.allowPorts },
      { name: "Should support an 'deny-gress' policy across different protocols", mutate: both(swap(ANP('gress-rules'), 'egress', 0, 1), swap(ANP('gress-rules'), 'ingress', 0, 1)), expect: GRESS.deny },
      { name: "Should support a 'deny-gress' policy across different protocols at the specified ports", expect: GRESS.denyPorts },
      { name: "Should support an 'pass-gress' policy across different protocols", mutate: both(swap(ANP('gress-rules'), 'egress', 0, 2), swap(ANP('gress-rules'), 'ingress', 0, 2)), expect: GRESS.pass },
      { name: "Should support a 'pass-gress' policy across different protocols at the specified ports", mutate: both(swap(ANP('gress-rules'), 'egress', 3, 4), swap(ANP('gress-rules'), 'ingress', 3, 4)), expect: GRESS.passPorts },
    ],
  },
  {
    shortName: 'AdminNetworkPolicyPriorityField', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-priority-field.yaml',
    policies: () => [
      anp('priority-50-example', 50, podsPeer('gryffindor'), {
        ingress: [rule('ingress', 'deny-all-ingress-from-slytherin', 'Deny', [podsPeer('slytherin')])],
        egress: [rule('egress', 'deny-all-egress-to-slytherin', 'Deny', [podsPeer('slytherin')])],
      }),
      anp('old-priority-60-new-priority-40-example', 60, podsPeer('gryffindor'), {
        ingress: [rule('ingress', 'pass-all-ingress-from-slytherin', 'Pass', [podsPeer('slytherin')])],
        egress: [rule('egress', 'pass-all-egress-to-slytherin', 'Pass', [podsPeer('slytherin')])],
      }),
      banp(podsPeer('gryffindor'), {
        ingress: [rule('ingress', 'allow-all-ingress-from-slytherin', 'Allow', [podsPeer('slytherin')])],
        egress: [rule('egress', 'allow-all-egress-to-slytherin', 'Allow', [podsPeer('slytherin')])],
      }),
    ],
    steps: [
      { name: 'Should Deny traffic from slytherin to gryffindor respecting ANP', expect: to(H0, [D0, 80, 'TCP', false], [D1, 8080, 'TCP', false]) },
      { name: 'Should Deny traffic to slytherin from gryffindor respecting ANP', expect: to(D0, [H0, 80, 'TCP', false], [H1, 8080, 'TCP', false]) },
      {
        name: 'Should respect ANP priority field; thus passing both ingress and egress traffic over to BANP',
        mutate: (s) => { spec(s, ANP('old-priority-60-new-priority-40-example')).priority = 40; },
        expect: [...to(H0, [D0, 80, 'TCP', true], [D1, 8080, 'TCP', true]), ...to(D0, [H0, 80, 'TCP', true], [H1, 8080, 'TCP', true])],
      },
    ],
  },
  {
    shortName: 'AdminNetworkPolicyIntegration', profile: 'Standard', api: 'ANP', manifest: 'api_integration/standard-anp-np-banp.yaml',
    policies: () => [
      anp('pass-example', 10, { namespaces: byHouse('gryffindor') }, {
        ingress: [rule('ingress', 'deny-all-ingress-from-slytherin', 'Deny', [{ namespaces: byHouse('slytherin') }])],
        egress: [rule('egress', 'deny-all-egress-to-slytherin', 'Deny', [{ namespaces: byHouse('slytherin') }])],
      }),
      {
        apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
        metadata: { name: 'allow-gress-from-to-slytherin-to-gryffindor', namespace: ns('gryffindor') },
        spec: {
          podSelector: {}, policyTypes: ['Ingress', 'Egress'],
          ingress: [{ from: [{ namespaceSelector: byHouse('slytherin') }] }],
          egress: [{ to: [{ namespaceSelector: byHouse('slytherin') }] }],
        },
      },
      banp({ namespaces: byHouse('gryffindor') }, {
        ingress: [rule('ingress', 'deny-all-ingress-from-slytherin', 'Deny', [{ namespaces: byHouse('slytherin') }])],
        egress: [rule('egress', 'deny-all-egress-to-slytherin', 'Deny', [{ namespaces: byHouse('slytherin') }])],
      }),
    ],
    steps: [
      { name: 'Should Deny traffic from slytherin to gryffindor respecting ANP', expect: to(H0, [D0, 80, 'TCP', false], [D1, 8080, 'TCP', false]) },
      { name: 'Should Deny traffic to slytherin from gryffindor respecting ANP', expect: to(D0, [H0, 80, 'TCP', false], [H1, 8080, 'TCP', false]) },
      {
        name: "Should support a 'pass-ingress' policy for ANP and respect the match for network policy",
        mutate: (s) => { rulesOf(s, ANP('pass-example'), 'ingress')[0].action = 'Pass'; },
        expect: to(H0, [D0, 80, 'TCP', true], [D1, 8080, 'TCP', true]),
      },
      {
        name: "Should support a 'pass-egress' policy for ANP and respect the match for network policy",
        mutate: (s) => { rulesOf(s, ANP('pass-example'), 'egress')[0].action = 'Pass'; },
        expect: to(D0, [H0, 80, 'TCP', true], [H1, 8080, 'TCP', true]),
      },
      {
        name: "Should support a 'pass-ingress' policy for ANP and respect the match for baseline admin network policy",
        mutate: (s) => { s.delete(`NetworkPolicy/${ns('gryffindor')}/allow-gress-from-to-slytherin-to-gryffindor`); },
        expect: to(H0, [D0, 80, 'TCP', false], [D1, 8080, 'TCP', false]),
      },
      {
        name: "Should support a 'pass-egress' policy for ANP and respect the match for baseline admin network policy",
        expect: to(D0, [H0, 80, 'TCP', false], [H1, 8080, 'TCP', false]),
      },
    ],
  },
  {
    shortName: 'AdminNetworkPolicyEgressInlineCIDRPeers', profile: 'Standard', api: 'ANP', manifest: 'admin_network_policy/standard-egress-inline-cidr-rules.yaml',
    policies: () => [
      anp('inline-cidr-as-peers-example', 85, podsPeer('gryffindor'), {
        egress: [
          rule('egress', 'allow-egress-to-slytherin', 'Allow', [podsPeer('slytherin')]),
          rule('egress', 'deny-egress-to-internet', 'Deny', [{ networks: ['0.0.0.0/0', '::/0'] }]),
        ],
      }),
    ],
    steps: CIDR_STEPS(ANP('inline-cidr-as-peers-example')),
  },
  // ===================== BaselineAdminNetworkPolicy, standard =====================
  {
    shortName: 'BaselineAdminNetworkPolicyIngressTCP', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-ingress-tcp-rules.yaml',
    policies: () => [banp(nsPeer('gryffindor'), { ingress: ingressTcp(false) })],
    steps: banpLadderSteps('ingress', 'TCP', 'ingress', FLOWS.ingressTcp),
  },
  {
    shortName: 'BaselineAdminNetworkPolicyIngressUDP', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-ingress-udp-rules.yaml',
    policies: () => [banp(nsPeer('hufflepuff'), { ingress: ingressUdp(false) })],
    steps: banpLadderSteps('ingress', 'UDP', 'ingress', FLOWS.ingressUdp),
  },
  {
    shortName: 'BaselineAdminNetworkPolicyIngressSCTP', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-ingress-sctp-rules.yaml',
    policies: () => [banp(nsPeer('ravenclaw'), { ingress: ingressSctp(false) })],
    steps: banpLadderSteps('ingress', 'SCTP', 'ingress', FLOWS.ingressSctp),
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressTCP', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-egress-tcp-rules.yaml',
    policies: () => [banp(nsPeer('gryffindor'), { egress: egressTcp(false) })],
    steps: banpLadderSteps('egress', 'TCP', 'egress', FLOWS.egressTcp),
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressUDP', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-egress-udp-rules.yaml',
    policies: () => [banp(nsPeer('hufflepuff'), { egress: egressUdp(false) })],
    steps: banpLadderSteps('egress', 'UDP', 'egress', FLOWS.egressUdp),
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressSCTP', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-egress-sctp-rules.yaml',
    policies: () => [banp(nsPeer('ravenclaw'), { egress: egressSctp(false) })],
    steps: banpLadderSteps('egress', 'SCTP', 'egress', FLOWS.egressSctp),
  },
  {
    shortName: 'BaselineAdminNetworkPolicyGress', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-gress-rules-combined.yaml',
    policies: () => [banp(nsPeer('gryffindor'), { ingress: gressIngress(false), egress: gressEgress(false) })],
    steps: [
      { name: "Should support an 'allow-gress' policy across different protocols", expect: GRESS.allow },
      { name: "Should support an 'allow-gress' policy across different protocols at the specified ports", expect: GRESS.allowPorts },
      { name: "Should support an 'deny-gress' policy across different protocols", mutate: both(swap(BANP, 'egress', 0, 1), swap(BANP, 'ingress', 0, 1)), expect: GRESS.deny },
      { name: "Should support a 'deny-gress' policy across different protocols at the specified ports", expect: GRESS.denyPorts },
    ],
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressInlineCIDRPeers', profile: 'Standard', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-egress-inline-cidr-rules.yaml',
    policies: () => [
      banp(nsPeer('gryffindor'), {
        egress: [
          rule('egress', 'allow-egress-to-slytherin', 'Allow', [podsPeer('slytherin')]),
          rule('egress', 'deny-egress-to-internet', 'Deny', [{ networks: ['0.0.0.0/0', '::/0'] }]),
        ],
      }),
    ],
    steps: CIDR_STEPS(BANP),
  },
  // ===================== experimental: named ports, node peers =====================
  {
    shortName: 'AdminNetworkPolicyIngressNamedPort', profile: 'Experimental', api: 'ANP', manifest: 'admin_network_policy/standard-ingress-udp-rules.yaml',
    policies: () => [anp('ingress-udp', 4, nsPeer('hufflepuff'), { ingress: ingressUdp(true) })],
    steps: [{
      name: "Should support an 'allow-ingress' policy for named port",
      // Rule 5 (allow from gryffindor at UDP 53) rewritten to the named port `dns` (UDP 53 on the pods).
      mutate: setPorts(ANP('ingress-udp'), 'ingress', 5, [{ namedPort: 'dns' }]),
      expect: to(C1, [H0, 53, 'UDP', true], [H1, 5353, 'UDP', false]),
    }],
  },
  {
    shortName: 'AdminNetworkPolicyEgressNamedPort', profile: 'Experimental', api: 'ANP', manifest: 'admin_network_policy/standard-egress-tcp-rules.yaml',
    policies: () => [anp('egress-tcp', 6, nsPeer('gryffindor'), { egress: egressTcp(true) })],
    steps: [{
      name: "Should support an 'allow-egress' policy for named port",
      // Rule 5 (allow to hufflepuff at TCP 8080) rewritten to the named port `web` (TCP 80 on the pods).
      mutate: setPorts(ANP('egress-tcp'), 'egress', 5, [{ namedPort: 'web' }]),
      expect: [f(H0, C1, 80, 'TCP', true), f(H1, C1, 8080, 'TCP', false)],
    }],
  },
  {
    shortName: 'AdminNetworkPolicyEgressNodePeers', profile: 'Experimental', api: 'ANP', manifest: 'admin_network_policy/experimental-egress-selector-rules.yaml',
    policies: () => [
      anp('node-and-cidr-as-peers-example', 75, podsPeer('gryffindor'), {
        egress: [
          rule('egress', `allow-egress-to-${HNP[0]}-on-nodes`, 'Allow', [{ nodes: { matchLabels: { 'kubernetes.io/os': 'linux' } } }], [port('TCP', HNP[0])]),
          rule('egress', `pass-egress-to-${HNP[2]}-on-nodes`, 'Pass', [{ nodes: { matchLabels: { 'kubernetes.io/os': 'linux' } } }], [port('UDP', HNP[2])]),
          rule('egress', 'deny-egress-to-slytherin-and-nodes-and-internet', 'Deny', [
            podsPeer('slytherin'), { nodes: { matchLabels: { 'kubernetes.io/os': 'linux' } } }, { networks: ['0.0.0.0/0', '::/0'] },
          ]),
        ],
      }),
    ],
    steps: [
      { name: "Should support an 'allow-egress' rule policy for egress-node-peer", expect: [f(H1, CENTAUR1, HNP[0], 'TCP', true)] },
      { name: "Should support a 'pass-egress' rule policy for egress-node-peer", expect: [f(H1, CENTAUR1, HNP[2], 'UDP', true)] },
      {
        name: "Should support a 'deny-egress' rule policy for egress-node-peer",
        expect: [f(H1, CENTAUR1, HNP[1], 'TCP', false), f(H1, CENTAUR1, HNP[4], 'UDP', false), f(H1, CENTAUR1, HNP[6], 'SCTP', false)],
      },
    ],
  },
  {
    shortName: 'BaselineAdminNetworkPolicyIngressNamedPort', profile: 'Experimental', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-ingress-tcp-rules.yaml',
    policies: () => [banp(nsPeer('gryffindor'), { ingress: ingressTcp(false) })],
    steps: [{
      name: "Should support an 'allow-ingress' policy for named port",
      // Rule 3 (allow from hufflepuff at TCP 80) rewritten to the named port `web`.
      mutate: setPorts(BANP, 'ingress', 3, [{ namedPort: 'web' }]),
      expect: to(H1, [C0, 80, 'TCP', true], [C1, 8080, 'TCP', false]),
    }],
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressNamedPort', profile: 'Experimental', api: 'BANP', manifest: 'baseline_admin_network_policy/standard-egress-udp-rules.yaml',
    policies: () => [banp(nsPeer('hufflepuff'), { egress: egressUdp(false) })],
    steps: [{
      name: "Should support an 'allow-egress' policy for named port",
      // Rule 3 (allow to gryffindor at UDP 53) rewritten to the named port `dns`.
      mutate: setPorts(BANP, 'egress', 3, [{ namedPort: 'dns' }]),
      expect: [f(C0, H1, 53, 'UDP', true), f(C1, H1, 5353, 'UDP', false)],
    }],
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressNodePeers', profile: 'Experimental', api: 'BANP', manifest: 'baseline_admin_network_policy/experimental-egress-selector-rules.yaml',
    policies: () => [
      banp(nsPeer('gryffindor'), {
        egress: [
          rule('egress', `allow-egress-to-${HNP[0]}-on-nodes`, 'Allow', [{ nodes: { matchLabels: { 'kubernetes.io/os': 'linux' } } }], [range('TCP', HNP[0], HNP[1])]),
          rule('egress', 'deny-egress-to-nodes-and-internet', 'Deny', [{ nodes: { matchLabels: { 'kubernetes.io/os': 'linux' } } }, { networks: ['0.0.0.0/0', '::/0'] }]),
        ],
      }),
    ],
    steps: [
      { name: "Should support an 'allow-egress' rule policy for egress-node-peer", expect: [f(H0, CENTAUR1, HNP[0], 'TCP', true), f(H1, CENTAUR1, HNP[1], 'TCP', true)] },
      { name: "Should support a 'deny-egress' rule policy for egress-node-peer", expect: [f(H1, CENTAUR1, HNP[4], 'UDP', false), f(H1, CENTAUR1, HNP[6], 'SCTP', false)] },
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Cases of upstream's v1alpha2 (ClusterNetworkPolicy) suite that release-0.1 lacks, from pull
// requests open at the snapshot: #384 (port ranges; a `pods` peer without namespaceSelector),
// #385 (two policies at the same priority), #386 (a policy with rules in one direction leaves
// the other direction alone). Translated to v1alpha1: tier Admin → AdminNetworkPolicy (same
// priority), tier Baseline → the BaselineAdminNetworkPolicy, Accept → Allow, `protocols:
// [{tcp: {destinationPort: {range}}}]` → `ports: [{portRange: {protocol: TCP, …}}]`, a pods
// peer without namespaceSelector → `namespaceSelector: {}` (v1alpha1 requires the field; {}
// selects every namespace). The port-range and omitted-selector cases are sub-tests upstream
// adds to the per-protocol / gress tests with their own policies, so they stand alone here.

const rangeCase = (dir: Dir, proto: Protocol, lo: number, hi: number, peer: House, pri: number, flows: Flow[], parent: string): UpstreamCase => {
  const w = dir === 'ingress' ? 'from' : 'to';
  const name = `${dir}-${proto.toLowerCase()}-port-range`;
  return {
    shortName: `${parent} (port range, PR #384)`, profile: 'Standard (v1alpha2 PR)', api: 'ANP', manifest: `admin_tier/standard-${dir}-${proto.toLowerCase()}-port-range-rules.yaml`,
    policies: () => [anp(name, pri, nsPeer('durmstrang'), {
      [dir]: [
        rule(dir, `allow-${w}-${peer}-at-port-range-${lo}-${hi}`, 'Allow', [nsPeer(peer)], [range(proto, lo, hi)]),
        rule(dir, `deny-${w}-${peer}-everything-else`, 'Deny', [nsPeer(peer)]),
      ],
    })],
    steps: [{ name: `Should support an 'allow-${dir}' policy for ${proto} protocol at the specified port range`, expect: flows }],
  };
};
const V0 = 'viktor-krum-0', V1 = 'viktor-krum-1';

export const V1ALPHA2_PR_CASES: UpstreamCase[] = [
  rangeCase('ingress', 'TCP', 80, 8080, 'hufflepuff', 3, to(V0, [C0, 80, 'TCP', true], [C0, 8080, 'TCP', true], [C1, 8081, 'TCP', false]), 'AdminNetworkPolicyIngressTCP'),
  rangeCase('ingress', 'UDP', 53, 5353, 'hufflepuff', 7, to(V0, [C0, 53, 'UDP', true], [C0, 5353, 'UDP', true], [C1, 5354, 'UDP', false]), 'AdminNetworkPolicyIngressUDP'),
  rangeCase('ingress', 'SCTP', 9003, 9005, 'hufflepuff', 8, to(V0, [C0, 9003, 'SCTP', true], [C0, 9005, 'SCTP', true], [C1, 9006, 'SCTP', false]), 'AdminNetworkPolicyIngressSCTP'),
  rangeCase('egress', 'TCP', 80, 8080, 'hufflepuff', 3, [f(V0, C1, 8080, 'TCP', true), f(V0, C1, 80, 'TCP', true), f(V1, C1, 8081, 'TCP', false)], 'AdminNetworkPolicyEgressTCP'),
  rangeCase('egress', 'UDP', 53, 5353, 'gryffindor', 7, [f(V0, H1, 53, 'UDP', true), f(V0, H1, 5353, 'UDP', true), f(V1, H1, 5354, 'UDP', false)], 'AdminNetworkPolicyEgressUDP'),
  rangeCase('egress', 'SCTP', 9003, 9005, 'hufflepuff', 8, [f(V0, C1, 9003, 'SCTP', true), f(V0, C1, 9005, 'SCTP', true), f(V1, C1, 9006, 'SCTP', false)], 'AdminNetworkPolicyEgressSCTP'),
  {
    shortName: 'AdminNetworkPolicyGress (omitted namespaceSelector, PR #384)', profile: 'Standard (v1alpha2 PR)', api: 'ANP', manifest: 'admin_tier/standard-gress-omitted-namespaceselector.yaml',
    policies: () => [anp('gress-omitted-namespaceselector', 3, nsPeer('durmstrang'), {
      ingress: [rule('ingress', 'deny-from-all-conformance-pods', 'Deny', [{
        pods: { namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'conformance-house', operator: 'Exists' }] } },
      }])],
    })],
    steps: [{ name: 'Should support matching pods across namespaces when namespaceSelector is omitted', expect: to(V0, [L0, 80, 'TCP', false], [C0, 80, 'TCP', false]) }],
  },
  {
    shortName: 'CNPAdminTierSamePriority (PR #385)', profile: 'Standard (v1alpha2 PR)', api: 'ANP', manifest: 'admin_tier/same-priority-{1,2}.yaml',
    policies: () => [
      anp('same-priority-1', 15, nsPeer('gryffindor'), { ingress: [rule('ingress', 'allow-from-ravenclaw', 'Allow', [nsPeer('ravenclaw')]), rule('ingress', 'deny-all-else', 'Deny', [{ namespaces: {} }])] }),
      anp('same-priority-2', 15, nsPeer('hufflepuff'), { ingress: [rule('ingress', 'allow-from-slytherin', 'Allow', [nsPeer('slytherin')]), rule('ingress', 'deny-all-else', 'Deny', [{ namespaces: {} }])] }),
    ],
    steps: [
      { name: 'Should allow traffic matching same priority disjoint policies', expect: [f(L0, H0, 80, 'TCP', true), f(D0, C0, 80, 'TCP', true)] },
      { name: 'Should deny traffic not matching same priority disjoint policies', expect: [f(D0, H0, 80, 'TCP', false), f(L0, C0, 80, 'TCP', false)] },
    ],
  },
  ...(['ANP', 'BANP'] as const).flatMap((api): UpstreamCase[] => {
    const tier = api === 'ANP' ? 'Admin' : 'Baseline';
    const mk = (dir: Dir, r: Obj) => (api === 'ANP' ? anp(`${tier.toLowerCase()}-${dir}-isolation`, 20, nsPeer('gryffindor'), { [dir]: [r] }) : banp(nsPeer('gryffindor'), { [dir]: [r] }));
    const dirName = api === 'ANP' ? 'admin_tier' : 'baseline_tier';
    return [
      {
        shortName: `CNP${tier}TierIngressRulesEgressUnaffected (PR #386)`, profile: 'Standard (v1alpha2 PR)', api, manifest: `${dirName}/standard-ingress-isolation.yaml`,
        policies: () => [mk('ingress', rule('ingress', 'deny-from-slytherin', 'Deny', [nsPeer('slytherin')]))],
        steps: [
          { name: 'Should enforce the ingress rule: deny ingress from slytherin to gryffindor', expect: [f(D0, H0, 80, 'TCP', false)] },
          { name: 'Should not affect egress: gryffindor can still egress to ravenclaw', expect: [f(H0, L0, 80, 'TCP', true)] },
          { name: 'Should not affect egress: gryffindor can still egress to hufflepuff', expect: [f(H0, C0, 80, 'TCP', true)] },
        ],
      },
      {
        shortName: `CNP${tier}TierEgressRulesIngressUnaffected (PR #386)`, profile: 'Standard (v1alpha2 PR)', api, manifest: `${dirName}/standard-egress-isolation.yaml`,
        policies: () => [mk('egress', rule('egress', 'deny-to-slytherin', 'Deny', [nsPeer('slytherin')]))],
        steps: [
          { name: 'Should enforce the egress rule: deny egress from gryffindor to slytherin', expect: [f(H0, D0, 80, 'TCP', false)] },
          { name: 'Should not affect ingress: ravenclaw can still reach gryffindor', expect: [f(L0, H0, 80, 'TCP', true)] },
          { name: 'Should not affect ingress: hufflepuff can still reach gryffindor', expect: [f(C0, H0, 80, 'TCP', true)] },
        ],
      },
    ];
  }),
];

// ---------------------------------------------------------------------------------------------
// v0.1.5 (profiles "Core" and "Extended"): its Core cases are release-0.1's Standard ones (same
// manifests and expectations under core-* names), but its Extended node-peer and inline-CIDR
// cases differ: fixed host ports (36363/36364 TCP, 34345/34346 UDP, 9003 SCTP), the ANP node
// case's allow poke from harry-potter-0, and both CIDR cases run on the node-and-cidr policies
// (whose deny rule lists slytherin pods, nodes and [0.0.0.0/0, ::/0]) with positive pokes only
// after the allow rule is inserted.

const LINUX_NODES = { nodes: { matchLabels: { 'kubernetes.io/os': 'linux' } } };
const v015AnpNodeCidr = () => anp('node-and-cidr-as-peers-example', 75, podsPeer('gryffindor'), {
  egress: [
    rule('egress', 'allow-egress-to-36363-on-nodes', 'Allow', [LINUX_NODES], [port('TCP', 36363)]),
    rule('egress', 'pass-egress-to-5353-on-nodes', 'Pass', [LINUX_NODES], [port('UDP', 34345)]),
    rule('egress', 'deny-egress-to-slytherin-and-nodes-and-internet', 'Deny', [podsPeer('slytherin'), LINUX_NODES, { networks: ['0.0.0.0/0', '::/0'] }]),
  ],
});
const v015BanpNodeCidr = () => banp(nsPeer('gryffindor'), {
  egress: [
    rule('egress', 'allow-egress-to-36363-on-nodes', 'Allow', [LINUX_NODES], [range('TCP', 36363, 36364)]),
    rule('egress', 'deny-egress-to-nodes-and-internet', 'Deny', [LINUX_NODES, { networks: ['0.0.0.0/0', '::/0'] }]),
  ],
});
const v015CidrSteps = (key: string): Step[] => [
  { name: "Should support a 'deny-egress' rule policy for egress-cidr-peer", expect: cidrAll(H1, [L0, C0], false) },
  { ...CIDR_STEPS(key)[1], expect: cidrAll(H1, [L0, C0], true) },
];

export const V015_CASES: UpstreamCase[] = [
  {
    shortName: 'AdminNetworkPolicyEgressNodePeers (v0.1.5)', profile: 'Extended (v0.1.5)', api: 'ANP', manifest: 'admin_network_policy/extended-egress-selector-rules.yaml',
    policies: () => [v015AnpNodeCidr()],
    steps: [
      { name: "Should support an 'allow-egress' rule policy for egress-node-peer", expect: [f(H0, CENTAUR1, 36363, 'TCP', true)] },
      { name: "Should support a 'pass-egress' rule policy for egress-node-peer", expect: [f(H1, CENTAUR1, 34345, 'UDP', true)] },
      { name: "Should support a 'deny-egress' rule policy for egress-node-peer", expect: [f(H1, CENTAUR1, 36364, 'TCP', false), f(H1, CENTAUR1, 34346, 'UDP', false), f(H1, CENTAUR1, 9003, 'SCTP', false)] },
    ],
  },
  {
    shortName: 'AdminNetworkPolicyEgressInlineCIDRPeers (v0.1.5)', profile: 'Extended (v0.1.5)', api: 'ANP', manifest: 'admin_network_policy/extended-egress-selector-rules.yaml',
    policies: () => [v015AnpNodeCidr()],
    steps: v015CidrSteps(ANP('node-and-cidr-as-peers-example')),
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressNodePeers (v0.1.5)', profile: 'Extended (v0.1.5)', api: 'BANP', manifest: 'baseline_admin_network_policy/extended-egress-selector-rules.yaml',
    policies: () => [v015BanpNodeCidr()],
    steps: [
      { name: "Should support an 'allow-egress' rule policy for egress-node-peer", expect: [f(H0, CENTAUR1, 36363, 'TCP', true), f(H1, CENTAUR1, 36364, 'TCP', true)] },
      { name: "Should support a 'deny-egress' rule policy for egress-node-peer", expect: [f(H1, CENTAUR1, 34346, 'UDP', false), f(H1, CENTAUR1, 9003, 'SCTP', false)] },
    ],
  },
  {
    shortName: 'BaselineAdminNetworkPolicyEgressInlineCIDRPeers (v0.1.5)', profile: 'Extended (v0.1.5)', api: 'BANP', manifest: 'baseline_admin_network_policy/extended-egress-selector-rules.yaml',
    policies: () => [v015BanpNodeCidr()],
    steps: v015CidrSteps(BANP),
  },
];

/** The policies in force before each step (step i sees the mutations of steps 0..i applied in order), as fresh copies. */
export function statesOf(c: UpstreamCase, ips: ReadonlyMap<string, string>): PolicyState[] {
  const s: PolicyState = new Map(c.policies().map((o) => [keyOf(o), o]));
  const out: PolicyState[] = [];
  for (const st of c.steps) {
    st.mutate?.(s, ips);
    out.push(new Map([...s].map(([k, v]) => [k, structuredClone(v)])));
  }
  return out;
}

export { podRef };
