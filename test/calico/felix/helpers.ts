/**
 * A small Calico-style cluster for felix's policy tests: nodes with an eth0
 * and, per local pod, a cali veth named as the CNI plugin names it
 * (`workloadInterfaceName`), the cluster's objects in an ObjectStore read by
 * a NetpolInformer, and felix's policy agent on every node. Packets are
 * built as skbs and pushed through the netfilter hooks of each node they
 * cross (PRE_ROUTING, FORWARD, POST_ROUTING), as bench/netpol.ts does: the
 * sending node sees them `-i caliA`, the receiving node `-o caliB`.
 */
import { World } from '../../../src/kernel/world.js';
import { Node } from '../../../src/kernel/node.js';
import { Skb, resetPacketIds } from '../../../src/kernel/skb.js';
import { NfHook } from '../../../src/kernel/hooks.js';
import type { NetDevice } from '../../../src/kernel/device.js';
import { ObjectStore } from '../../../src/kube/store.js';
import { NetpolInformer } from '../../../src/netpol/index.js';
import { FelixPolicy, DEFAULT_FELIX_CONFIG, type FelixNodeConfig } from '../../../src/calico/felix/index.js';
import { workloadInterfaceName } from '../../../src/calico/names.js';
import { setU16, setU32 } from '../../../src/wire/bytes.js';
import { writeIpv4Header } from '../../../src/wire/ipv4.js';
import { fillTcpChecksum } from '../../../src/wire/tcp.js';
import { fillUdpChecksum } from '../../../src/wire/udp.js';
import { policyManifest, type GenCluster, type Proto } from '../../netpol/gen-cluster.js';
import type { Obj } from '../../../src/kube/object.js';

export interface FelixNode { name: string; ip: string; node: Node; eth0: NetDevice; agent: FelixPolicy }
export interface FelixPodRef { ns: string; name: string; ip: string; node: number; iface: string }
export interface FelixCluster {
  world: World;
  store: ObjectStore;
  informer: NetpolInformer;
  nodes: FelixNode[];
  pods: Map<string, FelixPodRef>;
}

const ipNum = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

/**
 * Builds the cluster of `c` (pods of node i get 10.244.i.2, .3, … in manifest
 * order, as host-local IPAM hands them out in the netpol property scenarios)
 * and starts felix on every node. `extra` objects (ANP, BANP) are stored too.
 */
export function felixCluster(c: GenCluster, opts: { extra?: Obj[]; cfg?: Partial<FelixNodeConfig> } = {}): FelixCluster {
  resetPacketIds();
  const world = new World(1);
  const store = new ObjectStore();
  const nodes: FelixNode[] = [];
  const pods = new Map<string, FelixPodRef>();
  for (let i = 0; i < c.nodes; i++) {
    const name = `node-${i + 1}`, ip = `192.168.1.${11 + i}`;
    const node = new Node(world, name, 'node');
    node.netnsAdd('up');
    node.linkAddVeth('host', 'eth0', { name: 'eth0', netns: 'up' });
    node.linkSetUp('host', 'eth0');
    node.linkSetUp('up', 'eth0');
    node.addrAdd('host', 'eth0', `${ip}/24`);
    store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
    nodes.push({ name, ip, node, eth0: node.host.device('eth0')!, agent: undefined as unknown as FelixPolicy });
  }
  for (const ns of c.namespaces) store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: { ...ns.labels, 'kubernetes.io/metadata.name': ns.name } } });
  const perNode = new Map<number, number>();
  for (const p of c.pods) {
    const k = perNode.get(p.node) ?? 0;
    perNode.set(p.node, k + 1);
    const ip = `10.244.${p.node}.${k + 2}`;
    const iface = workloadInterfaceName(p.ns, p.name);
    const n = nodes[p.node]!;
    const podNs = `pod-${p.ns}-${p.name}`;
    n.node.netnsAdd(podNs);
    n.node.linkAddVeth('host', iface, { name: 'eth0', netns: podNs });
    n.node.linkSetUp('host', iface);
    n.node.linkSetUp(podNs, 'eth0');
    pods.set(`${p.ns}/${p.name}`, { ns: p.ns, name: p.name, ip, node: p.node, iface });
    const ports = p.ports.map((q) => ({ ...(q.name ? { name: q.name } : {}), containerPort: q.port, protocol: q.protocol }));
    store.create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.ns, labels: p.labels },
      spec: { nodeName: n.name, containers: [{ name: 'c', image: 'agnhost', ports }] },
      status: { phase: 'Running', podIP: ip, hostIP: n.ip },
    });
  }
  for (const p of c.policies) store.create(policyManifest(p) as Obj);
  for (const o of opts.extra ?? []) store.create(o);
  const informer = new NetpolInformer(store);
  for (const n of nodes) {
    n.agent = new FelixPolicy(n.node, { ...DEFAULT_FELIX_CONFIG, minSyncPeriod: 0, nodeName: n.name, nodeIPs: [n.ip], ...opts.cfg }, informer);
    n.agent.start();
  }
  return { world, store, informer, nodes, pods };
}

const SYN = 0x02, ACK = 0x10;

export function skbFor(src: string, dst: string, sport: number, dport: number, proto: Proto, flags: number): Skb {
  const l4 = proto === 'TCP' ? 20 : 8;
  const skb = Skb.alloc(20 + l4);
  const b = skb.buf, nh = skb.data;
  skb.nh = nh;
  writeIpv4Header(b, nh, ipNum(src), ipNum(dst), proto === 'TCP' ? 6 : 17, 64, 0, 1, true, l4);
  const t = nh + 20;
  setU16(b, t, sport); setU16(b, t + 2, dport);
  if (proto === 'TCP') {
    setU32(b, t + 4, flags === SYN ? 1000 : 0x20000000); setU32(b, t + 8, flags === SYN ? 0 : 1001);
    b[t + 12] = 5 << 4; b[t + 13] = flags; setU16(b, t + 14, 64240);
    fillTcpChecksum(b, nh);
  } else {
    setU16(b, t + 4, 8);
    fillUdpChecksum(b, nh);
  }
  return skb;
}

/** The hooks of one routed hop: PRE_ROUTING (in), FORWARD (in → out), POST_ROUTING (out). */
export function hop(n: Node, skb: Skb, inDev: NetDevice, outDev: NetDevice): boolean {
  const st = n.host.stack;
  return st.hook(NfHook.PRE_ROUTING, skb, inDev, null) && st.hook(NfHook.FORWARD, skb, inDev, outDev) && st.hook(NfHook.POST_ROUTING, skb, null, outDev);
}

/** Sends one packet from pod `a` to pod `b` over the nodes it crosses; true when no hook dropped it. */
export function sendPacket(fc: FelixCluster, from: string, to: string, sport: number, dport: number, proto: Proto, reply: boolean): boolean {
  const a = fc.pods.get(from)!, b = fc.pods.get(to)!;
  const flags = reply ? SYN | ACK : SYN;
  const na = fc.nodes[a.node]!, nb = fc.nodes[b.node]!;
  const devA = na.node.host.device(a.iface)!, devB = nb.node.host.device(b.iface)!;
  if (a.node === b.node) return hop(na.node, skbFor(a.ip, b.ip, sport, dport, proto, flags), devA, devB);
  return hop(na.node, skbFor(a.ip, b.ip, sport, dport, proto, flags), devA, na.eth0) && hop(nb.node, skbFor(a.ip, b.ip, sport, dport, proto, flags), nb.eth0, devB);
}

/** A new connection from → to:port, and, when it passes, its first reply. */
export function probe(fc: FelixCluster, from: string, to: string, port: number, proto: Proto, sport: number): { forward: boolean; reply: boolean } {
  const forward = sendPacket(fc, from, to, sport, port, proto, false);
  const reply = forward && sendPacket(fc, to, from, port, sport, proto, true);
  return { forward, reply };
}

/**
 * A new connection from pod `from` to a non-pod address: its own node's
 * (PRE_ROUTING + LOCAL_IN `-i caliA`, cali-wl-to-host), another node's
 * (forwarded out of eth0, then PRE_ROUTING + LOCAL_IN on that node) or an
 * outside address (forwarded out of eth0); true when no hook dropped it.
 */
export function sendToAddress(fc: FelixCluster, from: string, ip: string, sport: number, dport: number, proto: Proto): boolean {
  const a = fc.pods.get(from)!;
  const na = fc.nodes[a.node]!, devA = na.node.host.device(a.iface)!;
  const skb = () => skbFor(a.ip, ip, sport, dport, proto, SYN);
  if (ip === na.ip) {
    const s = skb(), st = na.node.host.stack;
    return st.hook(NfHook.PRE_ROUTING, s, devA, null) && st.hook(NfHook.LOCAL_IN, s, devA, null);
  }
  if (!hop(na.node, skb(), devA, na.eth0)) return false;
  const nb = fc.nodes.find((n) => n.ip === ip);
  if (!nb) return true;
  const s = skb(), st = nb.node.host.stack;
  return st.hook(NfHook.PRE_ROUTING, s, nb.eth0, null) && st.hook(NfHook.LOCAL_IN, s, nb.eth0, null);
}

/** Two nodes, namespaces x (team a) and y (team b): web and db on node 0 in x, client on node 1 in y; no policies. */
export function twoNodeCluster(): GenCluster {
  return {
    nodes: 2,
    namespaces: [{ name: 'x', labels: { team: 'a' } }, { name: 'y', labels: { team: 'b' } }],
    pods: [
      { ns: 'x', name: 'a', node: 0, labels: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      { ns: 'x', name: 'b', node: 0, labels: { app: 'db' }, ports: [{ port: 81, protocol: 'TCP' }] },
      { ns: 'y', name: 'c', node: 1, labels: { app: 'client' }, ports: [{ port: 80, protocol: 'TCP' }] },
    ],
    policies: [],
  };
}
