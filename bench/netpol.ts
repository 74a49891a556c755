/**
 * netpol.*: NetworkPolicy at scale (issue 6).
 *
 *   netpol.reach.{1k,10k}pods.{100,1000}pol   the reachability matrix (src/kube/policy-reach.ts:
 *                         compile, equivalence classes, class rows) of N pods under P random
 *                         NetworkPolicies, one case (80/TCP). Pods: 100 namespaces (labels
 *                         team/env), labels app (50 values) / tier (3) / ver (5), spread over
 *                         100 nodes, a named port `http` = 80 or 8080. Policies: podSelector
 *                         matchLabels or matchExpressions (In/NotIn/Exists/DoesNotExist) or {},
 *                         Ingress/Egress/both, peers podSelector / namespaceSelector / both /
 *                         ipBlock (pod-CIDR ranges with excepts), ports by number, name, range.
 *                         Also: the class count, and the heap the result holds (heapUsed delta
 *                         after gc, measured once, untimed).
 *   netpol.reach.100kpods.1000pol             the same at 100,000 pods (full mode only; target
 *                         < 1 s on one core).
 *   netpol.packets.{syn,established}          packets/s through the rules kube-router's agent
 *                         (src/netpol) writes on a node holding 1,000 local pods and 100 policies
 *                         (10 namespaces; 200 client pods on another node): SYNs of new
 *                         connections from remote clients to local pods (PRE_ROUTING, FORWARD
 *                         eth0→cni0 through KUBE-ROUTER-FORWARD and the pod's KUBE-POD-FW chain,
 *                         POST_ROUTING), every one allowed by the reference evaluator; and the
 *                         ACKs of established connections (KUBE-NWPLCY-COMMON's ESTABLISHED
 *                         accept). Tracing off. Reported: rules/packet, the kernel's linear
 *                         ipt_do_table count (NetfilterNs.evaluated), and the kernel time that
 *                         implies at 16 ns/rule, as bench/netfilter.ts and bench/kube-proxy.ts do.
 */
import { reachability } from '../src/kube/policy-reach.js';
import { PolicyEvaluator, type ClusterPod, type ClusterView } from '../src/kube/policy-eval.js';
import { validateNetworkPolicy, type NetworkPolicy } from '../src/kube/networkpolicy.js';
import type { Labels } from '../src/kube/labels.js';
import type { Obj } from '../src/kube/object.js';
import { NfHook } from '../src/kernel/hooks.js';
import type { Skb } from '../src/kernel/skb.js';
import type { Node } from '../src/kernel/node.js';
import type { NetDevice } from '../src/kernel/device.js';
import { netfilterOf } from '../src/netfilter/index.js';
import { KubeRouterNetpol, DEFAULT_NETPOL_CONFIG, type NetpolInformer, type NpCluster, type NpPod } from '../src/netpol/index.js';
import { renderPolicies } from '../src/netpol/render.js';
import { ipToString } from '../src/wire/bytes.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { benchNode, KERNEL_NS_PER_RULE, tcpSkb } from './netfilter.js';

/** mulberry32: a small seeded PRNG (the generated clusters are the same on every run). */
function prng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return { int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)]!, chance: (p) => next() < p };
}

const APPS = Array.from({ length: 50 }, (_, i) => `app${i}`);
const TIERS = ['web', 'api', 'db'];
const VERS = ['v1', 'v2', 'v3', 'v4', 'v5'];
const TEAMS = ['a', 'b', 'c', 'd'];
const ENVS = ['prod', 'dev'];
const POD_BASE = 0x0af40000; // 10.244.0.0/16

interface GenView { view: ClusterView; policies: NetworkPolicy[] }

function podLabels(r: ReturnType<typeof prng>): Labels {
  return { app: r.pick(APPS), tier: r.pick(TIERS), ...(r.chance(0.7) ? { ver: r.pick(VERS) } : {}) };
}

function podSelector(r: ReturnType<typeof prng>): Obj {
  switch (r.int(4)) {
    case 0: return {};
    case 1: return { matchLabels: { app: r.pick(APPS) } };
    case 2: return { matchLabels: { tier: r.pick(TIERS), ...(r.chance(0.5) ? { ver: r.pick(VERS) } : {}) } };
    default: {
      const ops = [
        { key: 'tier', operator: r.pick(['In', 'NotIn']), values: [r.pick(TIERS), r.pick(TIERS)].filter((v, i, a) => a.indexOf(v) === i) },
        { key: 'ver', operator: r.pick(['Exists', 'DoesNotExist']) },
        { key: 'app', operator: 'In', values: [r.pick(APPS), r.pick(APPS), r.pick(APPS)].filter((v, i, a) => a.indexOf(v) === i) },
      ];
      return { matchExpressions: ops.filter(() => r.chance(0.6)).concat(ops[r.int(3)]!).filter((v, i, a) => a.indexOf(v) === i) };
    }
  }
}

function nsSelector(r: ReturnType<typeof prng>, namespaces: number): Obj {
  switch (r.int(3)) {
    case 0: return {};
    case 1: return { matchLabels: { team: r.pick(TEAMS) } };
    default: return { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [`ns${r.int(namespaces)}`, `ns${r.int(namespaces)}`].filter((v, i, a) => a.indexOf(v) === i) }] };
  }
}

function peer(r: ReturnType<typeof prng>, namespaces: number, pods: number): Obj {
  switch (r.int(4)) {
    case 0: return { podSelector: podSelector(r) };
    case 1: return { namespaceSelector: nsSelector(r, namespaces) };
    case 2: return { podSelector: podSelector(r), namespaceSelector: nsSelector(r, namespaces) };
    default: {
      // A pod-CIDR range holding some pods, with an except inside it.
      const span = Math.max(256, 2 ** Math.ceil(Math.log2(pods + 2)));
      const prefix = 32 - Math.log2(span) + r.int(4);
      const size = 2 ** (32 - prefix);
      const base = POD_BASE + r.int(Math.max(1, Math.floor(span / size))) * size;
      const ex = base + r.int(Math.max(1, size / 16)) * 16;
      return { ipBlock: { cidr: `${ipToString(base)}/${prefix}`, ...(r.chance(0.5) && prefix <= 27 ? { except: [`${ipToString(ex)}/28`] } : {}) } };
    }
  }
}

function ports(r: ReturnType<typeof prng>): Obj[] | undefined {
  if (r.chance(0.3)) return undefined;
  return [r.pick<Obj>([{ port: 80 }, { port: 'http' }, { port: 8080 }, { port: 80, endPort: 90 }, { protocol: 'UDP', port: 53 }, { port: 443 }])];
}

function npObj(r: ReturnType<typeof prng>, i: number, namespaces: number, pods: number): Obj {
  const types = r.pick([['Ingress'], ['Egress'], ['Ingress', 'Egress'], undefined]);
  const rule = (key: string): Obj => {
    const ps = ports(r);
    return { ...(r.chance(0.85) ? { [key]: Array.from({ length: 1 + r.int(2) }, () => peer(r, namespaces, pods)) } : {}), ...(ps ? { ports: ps } : {}) };
  };
  const ing = Array.from({ length: r.int(3) }, () => rule('from'));
  const eg = Array.from({ length: r.int(3) }, () => rule('to'));
  const wantEgress = types?.includes('Egress') ?? eg.length > 0;
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np${i}`, namespace: `ns${r.int(namespaces)}` },
    spec: { podSelector: podSelector(r), ...(types ? { policyTypes: types } : {}), ingress: ing, ...(wantEgress || r.chance(0.5) ? { egress: eg } : {}) },
  };
}

function typed(o: Obj): NetworkPolicy {
  const v = validateNetworkPolicy(o);
  if (!v.value) throw new Error(`netpol bench: generated policy does not validate: ${JSON.stringify(o)}`);
  return v.value;
}

/** N pods in 100 namespaces on 100 nodes, P random policies (seeded). */
export function genView(pods: number, policies: number, seed = 6): GenView {
  const r = prng(seed);
  const NS = 100;
  const namespaces = Array.from({ length: NS }, (_, i) => ({ name: `ns${i}`, labels: { 'kubernetes.io/metadata.name': `ns${i}`, team: r.pick(TEAMS), env: r.pick(ENVS) } }));
  const list: ClusterPod[] = [];
  for (let i = 0; i < pods; i++) {
    const http = r.chance(0.5) ? 80 : 8080;
    list.push({ namespace: `ns${i % NS}`, name: `pod${i}`, labels: podLabels(r), ip: ipToString(POD_BASE + 2 + i), node: `node-${i % 100}`, ports: [{ name: 'http', containerPort: http, protocol: 'TCP' }] });
  }
  const nodes = Array.from({ length: 100 }, (_, i) => ({ name: `node-${i}`, ips: [ipToString(0xc0a80000 + 10 + i)] }));
  const nps = Array.from({ length: policies }, (_, i) => typed(npObj(r, i, NS, pods)));
  return { view: { namespaces, pods: list, nodes }, policies: nps };
}

function heapUsed(): number {
  if (global.gc) global.gc();
  return process.memoryUsage().heapUsed;
}

function reachSpec(o: BenchOptions, pods: number, policies: number, label: string): BenchSpec {
  let input: GenView | undefined;
  let extra: Record<string, number> | undefined;
  const big = pods >= 100_000;
  return {
    name: `netpol.reach.${label}`,
    description: `reachability matrix (80/TCP) of ${pods} pods under ${policies} random NetworkPolicies (classes, bitset rows)`,
    mode: 'time',
    params: { pods, policies, namespaces: 100, cases: 1 },
    warmup: 1, runs: big ? 3 : o.quick ? 3 : 5,
    ...(big ? { target: { kind: 'max' as const, value: 1000 } } : {}),
    setup: () => {
      if (!input) {
        input = genView(pods, policies);
        // The heap the result holds (untimed, once).
        const h0 = heapUsed();
        const res = reachability(input.view, { networkPolicies: input.policies }, [{ port: 80, protocol: 'TCP' }]);
        const h1 = heapUsed();
        extra = { classes: res.classCount, 'heap MB (result)': (h1 - h0) / 2 ** 20 };
        if (res.pods.length !== pods) throw new Error('unreachable'); // keeps res alive across the gc
      }
      return input;
    },
    run: (x) => {
      const g = x as GenView;
      const res = reachability(g.view, { networkPolicies: g.policies }, [{ port: 80, protocol: 'TCP' }]);
      return { work: 1, extra: { ...extra!, classes: res.classCount } };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Packets through a node's rendered policy chains

const LOCAL_PODS = 1000, REMOTE_PODS = 200, NODE_NS = 10;
const NODE_IP = '192.168.1.10', REMOTE_IP = '192.168.1.20';
const SYN = 0x02, ACK = 0x10;

interface PacketNode { node: Node; eth0: NetDevice; cni0: NetDevice; rules: number; flows: { src: number; dst: number }[] }
const packetNodes = new Map<number, PacketNode>();

function ipNum(s: string): number {
  const [a, b, c, d] = s.split('.').map(Number) as [number, number, number, number];
  return (((a << 24) | (b << 16) | (c << 8) | d) >>> 0);
}

/** A node whose kube-router agent has synced 1,000 local pods under `nPolicies` policies; the allowed (client, pod) flows on 80/TCP. */
function buildPacketNode(nPolicies: number): PacketNode {
  const cached = packetNodes.get(nPolicies);
  if (cached) return cached;
  const r = prng(11);
  const { node, eth0, cni0 } = benchNode();
  const namespaces = new Map<string, Labels>();
  for (let i = 0; i < NODE_NS; i++) namespaces.set(`ns${i}`, { team: r.pick(TEAMS), env: r.pick(ENVS) });
  const pods: NpPod[] = [];
  const mk = (i: number, local: boolean): NpPod => ({
    namespace: `ns${i % NODE_NS}`, name: `${local ? 'pod' : 'client'}${i}`, labels: podLabels(r),
    ip: ipToString(local ? 0x0af40000 + 2 + i : 0x0af46400 + 2 + i), hostIP: local ? NODE_IP : REMOTE_IP, nodeName: local ? 'node-1' : 'node-2',
    hostNetwork: false, finished: false, ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
  });
  for (let i = 0; i < LOCAL_PODS; i++) pods.push(mk(i, true));
  for (let i = 0; i < REMOTE_PODS; i++) pods.push(mk(i, false));
  const policies = Array.from({ length: nPolicies }, (_, i) => typed(npObj(r, i, NODE_NS, LOCAL_PODS)));
  const cluster: NpCluster = {
    namespaces, pods, policies, anps: [],
    nodes: [{ name: 'node-1', ips: [NODE_IP], labels: {} }, { name: 'node-2', ips: [REMOTE_IP], labels: {} }],
  };
  const view: ClusterView = {
    namespaces: [...namespaces].map(([name, labels]) => ({ name, labels: { ...labels, 'kubernetes.io/metadata.name': name } })),
    pods: pods.map((p) => ({ namespace: p.namespace, name: p.name, labels: p.labels, ip: p.ip, node: p.nodeName, ports: p.ports })),
    nodes: cluster.nodes,
  };
  const ev = new PolicyEvaluator(view, { networkPolicies: policies });
  // The agent reads the informer's cluster view only (no store needed for a one-shot sync).
  const informer = {
    cluster: () => cluster, evaluatorFor: () => ev, onChange: () => {},
    policies: (version: string, existingType: (name: string) => 'hash:ip' | 'hash:net' | undefined) => renderPolicies(cluster, version, existingType),
  } as unknown as NetpolInformer;
  const agent = new KubeRouterNetpol(node, { ...DEFAULT_NETPOL_CONFIG, nodeName: 'node-1', nodeIPs: [NODE_IP], serviceCIDRs: ['10.96.0.0/12'] }, informer);
  agent.start();
  const st = netfilterOf(node.host);
  st.nf.refresh();
  let rules = 0;
  for (const ch of st.rules.tables.filter.chains.values()) rules += ch.rules.length;
  // Allowed flows, remote client → local pod on 80/TCP, destinations spread over the pods.
  const flows: { src: number; dst: number }[] = [];
  for (let k = 0; flows.length < 1024 && k < 200_000; k++) {
    const c = pods[LOCAL_PODS + r.int(REMOTE_PODS)]!, d = pods[r.int(LOCAL_PODS)]!;
    if (ev.verdict({ kind: 'pod', namespace: c.namespace, name: c.name }, { kind: 'pod', namespace: d.namespace, name: d.name }, 80, 'TCP').allowed) flows.push({ src: ipNum(c.ip), dst: ipNum(d.ip) });
  }
  if (flows.length === 0) throw new Error('netpol bench: no allowed flow');
  const built = { node, eth0, cni0, rules, flows };
  packetNodes.set(nPolicies, built);
  return built;
}

function forward(n: PacketNode, skb: Skb, inDev: NetDevice, outDev: NetDevice): boolean {
  const st = n.node.host.stack;
  return st.hook(NfHook.PRE_ROUTING, skb, inDev, null) && st.hook(NfHook.FORWARD, skb, inDev, outDev) && st.hook(NfHook.POST_ROUTING, skb, null, outDev);
}

function packetSpec(o: BenchOptions, kind: 'syn' | 'established', nodePolicies: number): BenchSpec {
  const count = kind === 'syn' ? (o.quick ? 2_000 : 10_000) : (o.quick ? 5_000 : 20_000);
  return {
    name: `netpol.packets.${kind}${nodePolicies === 100 ? '' : `.${nodePolicies}pol`}`,
    description: kind === 'syn'
      ? `SYNs of new connections from remote pods to ${LOCAL_PODS} local pods under ${nodePolicies} policies (kube-router chains), PRE_ROUTING+FORWARD+POST_ROUTING`
      : `ACKs of established connections to local pods (${LOCAL_PODS} pods, ${nodePolicies} policies): KUBE-NWPLCY-COMMON's ESTABLISHED accept`,
    mode: 'rate', workUnit: 'packets',
    params: { localPods: LOCAL_PODS, remotePods: REMOTE_PODS, policies: nodePolicies, namespaces: NODE_NS, packetsPerRun: count, kernelNsPerRule: KERNEL_NS_PER_RULE, trace: 'off' },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => {
      const n = buildPacketNode(nodePolicies);
      netfilterOf(n.node.host).nf.ct.flush();
      const skbs: Skb[] = [];
      if (kind === 'syn') {
        for (let i = 0; i < count; i++) {
          const f = n.flows[i % n.flows.length]!;
          skbs.push(tcpSkb(f.src, f.dst, 10000 + (Math.floor(i / n.flows.length) % 50000), 80, SYN, 1000 + i, 0));
        }
      } else {
        // One handshake per flow (untimed), then ACKs cycling over the flows.
        const nf = n.flows.length;
        for (let k = 0; k < nf; k++) {
          const f = n.flows[k]!;
          if (!forward(n, tcpSkb(f.src, f.dst, 40000, 80, SYN, 1000, 0), n.eth0, n.cni0)) throw new Error('netpol bench: SYN dropped');
          if (!forward(n, tcpSkb(f.dst, f.src, 80, 40000, SYN | ACK, 0x20000000, 1001), n.cni0, n.eth0)) throw new Error('netpol bench: SYN/ACK dropped');
          if (!forward(n, tcpSkb(f.src, f.dst, 40000, 80, ACK, 1001, 0x20000001), n.eth0, n.cni0)) throw new Error('netpol bench: ACK dropped');
        }
        for (let i = 0; i < count; i++) {
          const f = n.flows[i % nf]!;
          skbs.push(tcpSkb(f.src, f.dst, 40000, 80, ACK, 1001, 0x20000001));
        }
      }
      return { n, skbs };
    },
    run: (x) => {
      const { n, skbs } = x as { n: PacketNode; skbs: Skb[] };
      const nf = netfilterOf(n.node.host).nf;
      const ev0 = nf.evaluated;
      for (let i = 0; i < skbs.length; i++) if (!forward(n, skbs[i]!, n.eth0, n.cni0)) throw new Error(`netpol bench: packet ${i} dropped`);
      const rules = (nf.evaluated - ev0) / skbs.length;
      return { work: skbs.length, extra: { rules: n.rules, 'allowed flows': n.flows.length, 'rules/packet': rules, 'kernel µs/packet @16ns/rule': (rules * KERNEL_NS_PER_RULE) / 1000 } };
    },
  };
}

export function netpolBenches(o: BenchOptions): BenchSpec[] {
  return [
    reachSpec(o, 1_000, 100, '1kpods.100pol'), reachSpec(o, 1_000, 1000, '1kpods.1000pol'),
    reachSpec(o, 10_000, 100, '10kpods.100pol'), reachSpec(o, 10_000, 1000, '10kpods.1000pol'),
    ...(o.quick ? [] : [reachSpec(o, 100_000, 1000, '100kpods.1000pol')]),
    packetSpec(o, 'syn', 100), packetSpec(o, 'established', 100),
    packetSpec(o, 'syn', 1000), packetSpec(o, 'established', 1000),
  ];
}
