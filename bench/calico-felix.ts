/**
 * calico.felix.*: packets through felix's policy chains (issue 7).
 *
 *   calico.felix.packets.{syn,established}   a node whose felix agent (src/calico/felix) has
 *                         synced 1,000 local workload endpoints (cali veths named as the CNI
 *                         plugin names them) under 100 random NetworkPolicies (10 namespaces;
 *                         200 client pods on another node; pod/namespace selectors, ipBlocks
 *                         with excepts, numbered, named and ranged ports, as bench/netpol.ts
 *                         generates them). SYNs of new connections from remote clients to local
 *                         pods, every one allowed by the reference evaluator: PRE_ROUTING, FORWARD
 *                         eth0 → caliX (cali-FORWARD → cali-to-wl-dispatch → cali-tw-caliX → tier
 *                         → cali-pi-… policy chains, or the kns profile), POST_ROUTING; and the
 *                         ACKs of established connections (cali-tw-'s first rule). Tracing off.
 *                         Reported: rules in the ruleset, rules/packet (the kernel's linear
 *                         ipt_do_table count, NetfilterNs.evaluated), and the kernel time that
 *                         implies at 16 ns/rule, as bench/netpol.ts does for kube-router.
 *   calico.felix.sync.1kpods.100pol            one full sync of felix's agent on that node (render,
 *                         ipset restore with temp-set swaps, iptables-restore --noflush of every
 *                         cali- chain), with the chain, rule and ipset counts.
 */
import { PolicyEvaluator, type ClusterView } from '../src/kube/policy-eval.js';
import { validateNetworkPolicy, type NetworkPolicy } from '../src/kube/networkpolicy.js';
import type { Labels } from '../src/kube/labels.js';
import type { Obj } from '../src/kube/object.js';
import { NfHook } from '../src/kernel/hooks.js';
import type { Skb } from '../src/kernel/skb.js';
import { World } from '../src/kernel/world.js';
import { Node } from '../src/kernel/node.js';
import { resetPacketIds } from '../src/kernel/skb.js';
import type { NetDevice } from '../src/kernel/device.js';
import { netfilterOf } from '../src/netfilter/index.js';
import type { NpCluster, NpPod } from '../src/netpol/index.js';
import { FelixPolicy, DEFAULT_FELIX_CONFIG, type FelixInformer } from '../src/calico/felix/index.js';
import { workloadInterfaceName } from '../src/calico/names.js';
import { ipToString } from '../src/wire/bytes.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { KERNEL_NS_PER_RULE, tcpSkb } from './netfilter.js';

const LOCAL_PODS = 1000, REMOTE_PODS = 200, POLICIES = 100, NAMESPACES = 10;
const NODE_IP = '192.168.1.10', REMOTE_IP = '192.168.1.20';
const SYN = 0x02, ACK = 0x10;
const APPS = Array.from({ length: 50 }, (_, i) => `app${i}`);
const TIERS = ['web', 'api', 'db'];
const VERS = ['v1', 'v2', 'v3', 'v4', 'v5'];
const TEAMS = ['a', 'b', 'c', 'd'];

/** mulberry32 (seeded: the same cluster on every run). */
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
type R = ReturnType<typeof prng>;

const podLabels = (r: R): Labels => ({ app: r.pick(APPS), tier: r.pick(TIERS), ...(r.chance(0.7) ? { ver: r.pick(VERS) } : {}) });

function podSelector(r: R): Obj {
  switch (r.int(4)) {
    case 0: return {};
    case 1: return { matchLabels: { app: r.pick(APPS) } };
    case 2: return { matchLabels: { tier: r.pick(TIERS) } };
    default: return { matchExpressions: [{ key: 'tier', operator: r.pick(['In', 'NotIn']), values: [r.pick(TIERS)] }, { key: 'ver', operator: r.pick(['Exists', 'DoesNotExist']) }] };
  }
}

function peer(r: R): Obj {
  switch (r.int(4)) {
    case 0: return { podSelector: podSelector(r) };
    case 1: return { namespaceSelector: r.chance(0.5) ? {} : { matchLabels: { team: r.pick(TEAMS) } } };
    case 2: return { podSelector: podSelector(r), namespaceSelector: { matchLabels: { team: r.pick(TEAMS) } } };
    default: {
      const prefix = 22 + r.int(4), size = 2 ** (32 - prefix);
      const base = 0x0af40000 + r.int(Math.max(1, 1024 / size)) * size;
      return { ipBlock: { cidr: `${ipToString(base)}/${prefix}`, ...(r.chance(0.5) ? { except: [`${ipToString(base + 16 * r.int(size / 16))}/28`] } : {}) } };
    }
  }
}

function npObj(r: R, i: number): NetworkPolicy {
  const types = r.pick([['Ingress'], ['Egress'], ['Ingress', 'Egress'], undefined]);
  const rule = (key: string): Obj => {
    const ps = r.chance(0.3) ? undefined : [r.pick<Obj>([{ port: 80 }, { port: 'http' }, { port: 8080 }, { port: 80, endPort: 90 }, { protocol: 'UDP', port: 53 }, { port: 443 }])];
    return { ...(r.chance(0.85) ? { [key]: Array.from({ length: 1 + r.int(2) }, () => peer(r)) } : {}), ...(ps ? { ports: ps } : {}) };
  };
  const o = {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np${i}`, namespace: `ns${r.int(NAMESPACES)}` },
    spec: { podSelector: podSelector(r), ...(types ? { policyTypes: types } : {}), ingress: Array.from({ length: r.int(3) }, () => rule('from')), egress: Array.from({ length: r.int(3) }, () => rule('to')) },
  };
  const v = validateNetworkPolicy(o);
  if (!v.value) throw new Error(`calico-felix bench: generated policy does not validate: ${JSON.stringify(o)}`);
  return v.value;
}

interface PacketNode { node: Node; agent: FelixPolicy; eth0: NetDevice; devs: Map<number, NetDevice>; rules: number; sets: number; flows: { src: number; dst: number }[] }
let packetNode: PacketNode | undefined;

const ipNum = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

function buildPacketNode(): PacketNode {
  if (packetNode) return packetNode;
  resetPacketIds();
  const r = prng(17);
  const world = new World(1);
  const node = new Node(world, 'node-1', 'node');
  node.netnsAdd('up');
  node.netnsAdd('pods');
  node.linkAddVeth('host', 'eth0', { name: 'eth0', netns: 'up' });
  node.linkSetUp('host', 'eth0');
  node.addrAdd('host', 'eth0', `${NODE_IP}/24`);
  const namespaces = new Map<string, Labels>();
  for (let i = 0; i < NAMESPACES; i++) namespaces.set(`ns${i}`, { team: r.pick(TEAMS) });
  const pods: NpPod[] = [];
  const mk = (i: number, local: boolean): NpPod => ({
    namespace: `ns${i % NAMESPACES}`, name: `${local ? 'pod' : 'client'}${i}`, labels: podLabels(r),
    ip: ipToString(local ? 0x0af40000 + 2 + i : 0x0af46400 + 2 + i), hostIP: local ? NODE_IP : REMOTE_IP, nodeName: local ? 'node-1' : 'node-2',
    hostNetwork: false, finished: false, ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
  });
  for (let i = 0; i < LOCAL_PODS; i++) pods.push(mk(i, true));
  for (let i = 0; i < REMOTE_PODS; i++) pods.push(mk(i, false));
  // The CNI plugin's side: one cali veth per local pod (peers in one namespace; the model only needs the host end).
  const devs = new Map<number, NetDevice>();
  for (let i = 0; i < LOCAL_PODS; i++) {
    const p = pods[i]!, iface = workloadInterfaceName(p.namespace, p.name);
    node.linkAddVeth('host', iface, { name: `e${i}`, netns: 'pods' });
    node.linkSetUp('host', iface);
    devs.set(ipNum(p.ip), node.host.device(iface)!);
  }
  const policies = Array.from({ length: POLICIES }, (_, i) => npObj(r, i));
  const cluster: NpCluster = { namespaces, pods, policies, anps: [], nodes: [{ name: 'node-1', ips: [NODE_IP], labels: {} }, { name: 'node-2', ips: [REMOTE_IP], labels: {} }] };
  const view: ClusterView = {
    namespaces: [...namespaces].map(([name, labels]) => ({ name, labels: { ...labels, 'kubernetes.io/metadata.name': name } })),
    pods: pods.map((p) => ({ namespace: p.namespace, name: p.name, labels: p.labels, ip: p.ip, node: p.nodeName, ports: p.ports })),
    nodes: cluster.nodes,
  };
  const ev = new PolicyEvaluator(view, { networkPolicies: policies });
  const informer: FelixInformer = { cluster: () => cluster, evaluatorFor: () => ev, onChange: () => {} };
  const agent = new FelixPolicy(node, { ...DEFAULT_FELIX_CONFIG, minSyncPeriod: 0, nodeName: 'node-1', nodeIPs: [NODE_IP] }, informer);
  agent.start();
  node.configLog.length = 0;
  const st = netfilterOf(node.host);
  st.nf.refresh();
  let rules = 0;
  for (const t of Object.values(st.rules.tables)) for (const ch of t.chains.values()) rules += ch.rules.length;
  const flows: { src: number; dst: number }[] = [];
  for (let k = 0; flows.length < 1024 && k < 200_000; k++) {
    const c = pods[LOCAL_PODS + r.int(REMOTE_PODS)]!, d = pods[r.int(LOCAL_PODS)]!;
    if (ev.verdict({ kind: 'pod', namespace: c.namespace, name: c.name }, { kind: 'pod', namespace: d.namespace, name: d.name }, 80, 'TCP').allowed) flows.push({ src: ipNum(c.ip), dst: ipNum(d.ip) });
  }
  if (flows.length === 0) throw new Error('calico-felix bench: no allowed flow');
  packetNode = { node, agent, eth0: node.host.device('eth0')!, devs, rules, sets: agent.last!.sets.size, flows };
  return packetNode;
}

function forward(n: PacketNode, skb: Skb, inDev: NetDevice, outDev: NetDevice): boolean {
  const st = n.node.host.stack;
  return st.hook(NfHook.PRE_ROUTING, skb, inDev, null) && st.hook(NfHook.FORWARD, skb, inDev, outDev) && st.hook(NfHook.POST_ROUTING, skb, null, outDev);
}

function packetSpec(o: BenchOptions, kind: 'syn' | 'established'): BenchSpec {
  const count = kind === 'syn' ? (o.quick ? 2_000 : 10_000) : (o.quick ? 5_000 : 20_000);
  return {
    name: `calico.felix.packets.${kind}`,
    description: kind === 'syn'
      ? `SYNs of new connections from remote pods to ${LOCAL_PODS} local workloads under ${POLICIES} policies (felix's cali- chains), PRE_ROUTING+FORWARD+POST_ROUTING`
      : `ACKs of established connections to local workloads (${LOCAL_PODS} endpoints, ${POLICIES} policies): cali-tw-'s RELATED,ESTABLISHED accept`,
    mode: 'rate', workUnit: 'packets',
    params: { localPods: LOCAL_PODS, remotePods: REMOTE_PODS, policies: POLICIES, namespaces: NAMESPACES, packetsPerRun: count, kernelNsPerRule: KERNEL_NS_PER_RULE, trace: 'off' },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => {
      const n = buildPacketNode();
      netfilterOf(n.node.host).nf.ct.flush();
      const skbs: { skb: Skb; dev: NetDevice }[] = [];
      if (kind === 'syn') {
        for (let i = 0; i < count; i++) {
          const f = n.flows[i % n.flows.length]!;
          skbs.push({ skb: tcpSkb(f.src, f.dst, 10000 + (Math.floor(i / n.flows.length) % 50000), 80, SYN, 1000 + i, 0), dev: n.devs.get(f.dst)! });
        }
      } else {
        const nf = n.flows.length;
        for (let k = 0; k < nf; k++) {
          const f = n.flows[k]!, dev = n.devs.get(f.dst)!;
          if (!forward(n, tcpSkb(f.src, f.dst, 40000, 80, SYN, 1000, 0), n.eth0, dev)) throw new Error('calico-felix bench: SYN dropped');
          if (!forward(n, tcpSkb(f.dst, f.src, 80, 40000, SYN | ACK, 0x20000000, 1001), dev, n.eth0)) throw new Error('calico-felix bench: SYN/ACK dropped');
          if (!forward(n, tcpSkb(f.src, f.dst, 40000, 80, ACK, 1001, 0x20000001), n.eth0, dev)) throw new Error('calico-felix bench: ACK dropped');
        }
        for (let i = 0; i < count; i++) {
          const f = n.flows[i % nf]!;
          skbs.push({ skb: tcpSkb(f.src, f.dst, 40000, 80, ACK, 1001, 0x20000001), dev: n.devs.get(f.dst)! });
        }
      }
      return { n, skbs };
    },
    run: (x) => {
      const { n, skbs } = x as { n: PacketNode; skbs: { skb: Skb; dev: NetDevice }[] };
      const nf = netfilterOf(n.node.host).nf;
      const ev0 = nf.evaluated;
      for (let i = 0; i < skbs.length; i++) if (!forward(n, skbs[i]!.skb, n.eth0, skbs[i]!.dev)) throw new Error(`calico-felix bench: packet ${i} dropped`);
      const rules = (nf.evaluated - ev0) / skbs.length;
      return { work: skbs.length, extra: { rules: n.rules, ipsets: n.sets, 'allowed flows': n.flows.length, 'rules/packet': rules, 'kernel µs/packet @16ns/rule': (rules * KERNEL_NS_PER_RULE) / 1000 } };
    },
  };
}

/** One full felix sync of the same node (render, ipset restore with temp-set swaps, iptables-restore --noflush of every cali- chain). */
function syncSpec(o: BenchOptions): BenchSpec {
  return {
    name: 'calico.felix.sync.1kpods.100pol',
    description: `one full felix sync on a node with ${LOCAL_PODS} local workloads under ${POLICIES} policies (render + ipset restore + iptables-restore --noflush)`,
    mode: 'time',
    params: { localPods: LOCAL_PODS, remotePods: REMOTE_PODS, policies: POLICIES, namespaces: NAMESPACES },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => { const n = buildPacketNode(); n.node.configLog.length = 0; return n; },
    run: (x) => {
      const n = x as PacketNode;
      n.agent.sync();
      const r = n.agent.last!;
      return { work: 1, extra: { chains: r.chains.length, rules: n.rules, ipsets: r.sets.size, 'policy chains': r.policyChains.length } };
    },
  };
}

export function calicoFelixBenches(o: BenchOptions): BenchSpec[] {
  return [packetSpec(o, 'syn'), packetSpec(o, 'established'), syncSpec(o)];
}
