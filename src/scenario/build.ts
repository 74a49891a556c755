/**
 * Builds the emulated cluster from a validated scenario, the way a real
 * cluster comes up: machines with their NICs on underlay segments (one L2
 * segment per subnet, a router between subnets), each node's pod subnet, the
 * CNI plugin run for every pod in manifest order (so IPAM is deterministic),
 * and a server on every declared container port.
 */
import { NetlinkError } from '../kernel/netlink.js';
import { World } from '../kernel/world.js';
import { Node } from '../kernel/node.js';
import { Segment } from '../kernel/devices/nic.js';
import { cmdAdd, cmdDel, defaultBridgeConflist, parseConflist, resolveFlannel, type BridgeNetConf, type NetworkConfigList, CniConfigError } from '../cni/index.js';
import { ipToString, parseIp, prefixMask } from '../wire/bytes.js';
import { hexOf } from '../cni/ip4.js';
import { InputError } from './errors.js';
import type { Cidr, ContainerPortSpec, PodSpec, Scenario, SourcePos } from './types.js';
import { startServers } from './apps.js';
import { iptablesRestore, RuleError } from '../netfilter/index.js';
import { mapPosition } from './embedded-text.js';
import { ControlPlane } from './control-plane.js';
import type { TraceSink } from '../trace/events.js';
import { ObjectStore } from '../kube/store.js';
import { createFlannel, type FlannelDeployment } from './flannel.js';
import { createCalico, type CalicoDeployment, type CalicoPodSandbox } from './calico.js';

export interface PodInfo {
  spec: PodSpec;
  node: Node;
  netns: string;
  ip: number;
  hostVeth?: string;
  /** The sandbox's container ID and CNI config (for CNI DEL). */
  containerID?: string;
  conf?: BridgeNetConf;
  /** With network.plugin calico: the calico CNI sandbox (for CNI DEL). */
  calico?: CalicoPodSandbox;
}

export interface Cluster {
  world: World;
  scenario: Scenario;
  nodes: Map<string, Node>;
  hosts: Map<string, Node>;
  routers: Node[];
  segments: Segment[];
  pods: Map<string, PodInfo>;
  /** Node name → its pod subnet. */
  podCIDRs: Map<string, { addr: number; prefix: number }>;
  /** Machine name → its underlay address. */
  machineIPs: Map<string, number>;
  /** Sets up a pod's sandbox (CNI ADD) and its servers; errors name `pod.pos`. */
  addPod(pod: PodSpec): PodInfo;
  /** Tears a pod's sandbox down (CNI DEL, netns deleted). */
  deletePod(key: string): void;
  /** The API server, controllers, kube-proxy and DNS, when kube-proxy runs (scenario/control-plane.ts). */
  control?: ControlPlane;
  /** The apiserver's objects (Node objects from the start; the control plane adds the rest). */
  store: ObjectStore;
  /** flanneld on every node, with network.plugin flannel. */
  flannel?: FlannelDeployment;
  /** calico-node on every node (IPAM, tunl0, BIRD), with network.plugin calico. */
  calico?: CalicoDeployment;
  /** Nodes that join later (a node-join event): not in the cluster yet. */
  pendingNodes: Set<string>;
  /** Nodes that have left (a node-leave event). */
  leftNodes: Set<string>;
  /** A node-join: Node object, flanneld, kube-proxy, then its pods. */
  joinNode(name: string): void;
  /** A node-leave: the machine stops (NIC down, flanneld gone), the Node object and its pods are deleted. */
  leaveNode(name: string): void;
  /** A node-down: the machine fails (NIC carrier lost, flanneld / BIRD dead); the API objects stay. */
  downNode(name: string): void;
  /** Nodes that failed (a node-down event). */
  downNodes: Set<string>;
  /** Progress of a long build (issue 9): the CLI's reporter, when it gave one (RunOptions.progress). */
  progress?: ProgressFn;
}

/** Progress callback: `phase` (e.g. "build pods"), units done of total. Called often; must be cheap. */
/** Progress of a phase: `done` of `total`, and optionally a note on where it is (the traffic phase: virtual clock and events). */
export type ProgressFn = (phase: string, done: number, total: number, note?: string) => void;

const cidrText = (addr: number, prefix: number) => `${ipToString(addr)}/${prefix}`;

function fail(pos: SourcePos, message: string, expected?: string): never {
  throw new InputError(pos.file, pos.line, pos.col, message, expected);
}

export function buildCluster(sc: Scenario, opts: { seed?: number; sysctls?: Record<string, string>; trace?: TraceSink; progress?: ProgressFn } = {}): Cluster {
  try {
    return buildClusterAt(sc, opts);
  } catch (e) {
    // A machine refused a configuration the scenario implies (a gateway off every subnet, a clash of
    // addresses): bad input, so it is reported at the scenario's network key — whose plugin and
    // addresses decided what was configured — with the kernel's answer, never as a crash.
    if (e instanceof NetlinkError) fail(sc.cluster.network.pos, `building the cluster failed: ${e.message}`, 'node, host and router addresses and routes the machines accept');
    throw e;
  }
}

function buildClusterAt(sc: Scenario, opts: { seed?: number; sysctls?: Record<string, string>; trace?: TraceSink; progress?: ProgressFn }): Cluster {
  const world = new World(opts.seed ?? sc.seed);
  if (opts.trace) world.trace = opts.trace;
  if (opts.sysctls) world.sysctlOverrides = { ...opts.sysctls };
  world.vethDelay = sc.cluster.linkDelay.veth;
  const cl: Cluster = {
    world, scenario: sc, nodes: new Map(), hosts: new Map(), routers: [], segments: [], pods: new Map(), podCIDRs: new Map(), machineIPs: new Map(),
    addPod: (pod) => addPod(pod), deletePod: (key) => deletePod(key),
    store: new ObjectStore(), pendingNodes: new Set(), leftNodes: new Set(),
    joinNode: (name) => joinNode(name), leaveNode: (name) => leaveNode(name), downNode: (name) => downNode(name), downNodes: new Set(),
    progress: opts.progress,
  };
  const progress = opts.progress;
  for (const e of sc.events) if (e.kind === 'node-join') cl.pendingNodes.add(e.node);
  const c = sc.cluster;

  // Underlay: one segment per subnet of the node/host addresses.
  const segOf = new Map<string, Segment>();
  const segmentFor = (ip: Cidr): Segment => {
    const net = (ip.addr & prefixMask(ip.prefix)) >>> 0;
    const key = cidrText(net, ip.prefix);
    let s = segOf.get(key);
    if (!s) { s = new Segment(key, net, ip.prefix); segOf.set(key, s); cl.segments.push(s); }
    return s;
  };
  const machines: { name: string; ip: Cidr; role: 'node' | 'host' }[] = [
    ...c.nodes.map((n) => ({ name: n.name, ip: n.ip, role: 'node' as const })),
    ...c.externalHosts.map((h) => ({ name: h.name, ip: h.ip, role: 'host' as const })),
  ];
  let made = 0;
  for (const m of machines) {
    progress?.('build machines', made++, machines.length);
    const node = new Node(world, m.name, m.role);
    world.nodes.set(m.name, node);
    (m.role === 'node' ? cl.nodes : cl.hosts).set(m.name, node);
    cl.machineIPs.set(m.name, m.ip.addr);
    node.addNic('eth0', segmentFor(m.ip), world.rng.mac(), c.mtu, c.linkDelay.nic, c.nicBandwidth);
    node.linkSetUp('host', 'lo');
    node.addrAdd('host', 'eth0', m.ip.text);
    node.linkSetUp('host', 'eth0');
  }
  // Subnets joined by a router (one NIC per segment, the last usable address of each).
  if (cl.segments.length > 1) {
    const router = new Node(world, 'router', 'router');
    world.nodes.set('router', router);
    cl.routers.push(router);
    router.linkSetUp('host', 'lo');
    cl.segments.forEach((s, i) => {
      const dev = `eth${i}`;
      const used = new Set(machines.filter((m) => segmentFor(m.ip) === s).map((m) => m.ip.addr));
      let gw = (s.network | (~prefixMask(s.prefix) >>> 0)) - 1;
      while (used.has(gw >>> 0)) gw--;
      router.addNic(dev, s, world.rng.mac(), c.mtu, c.linkDelay.nic, c.nicBandwidth);
      router.addrAdd('host', dev, cidrText(gw >>> 0, s.prefix));
      router.linkSetUp('host', dev);
      for (const m of machines) if (segmentFor(m.ip) === s) world.nodes.get(m.name)!.routeAdd('host', { dst: 'default', via: ipToString(gw >>> 0) });
    });
    router.sysctlSet('host', 'net.ipv4.ip_forward', '1');
  }
  // A host's extra bridges and veth pairs (layer-2 labs: switches, loops), before its routes may use them.
  for (const h of c.externalHosts) {
    if (!h.bridges && !h.veths) continue;
    const node = world.nodes.get(h.name)!;
    for (const b of h.bridges ?? []) {
      node.linkAddBridge('host', b.name);
      if (b.ip) node.addrAdd('host', b.name, b.ip.text);
      node.linkSetUp('host', b.name);
    }
    for (const v of h.veths ?? []) {
      node.linkAddVeth('host', v.name, { name: v.peer, netns: 'host' });
      if (v.master) node.linkSetMaster('host', v.name, v.master);
      if (v.peerMaster) node.linkSetMaster('host', v.peer, v.peerMaster);
      node.linkSetUp('host', v.name);
      node.linkSetUp('host', v.peer);
    }
  }
  for (const m of [...c.nodes, ...c.externalHosts]) {
    const node = world.nodes.get(m.name)!;
    for (const r of m.routes) {
      try { node.routeAdd('host', { dst: r.dst.text, via: ipToString(r.via) }); }
      catch (e) { fail(r.pos, `route ${r.dst.text} via ${ipToString(r.via)} on ${m.name}: ${(e as Error).message}`, 'a gateway on the machine\'s own subnet'); }
    }
  }

  // Per-machine sysctls from the scenario, before anything runs on the machine.
  for (const s of c.sysctls) {
    const m = world.nodes.get(s.machine)!;
    try { m.sysctlSet('host', s.key, s.value); }
    catch (e) { fail(s.pos, `sysctl ${s.key}=${s.value} on ${s.machine}: ${(e as Error).message}`); }
  }

  // Pod subnets: given, or the next free /24 of the cluster pod CIDR in node order.
  const taken = c.nodes.filter((n) => n.podCIDR).map((n) => n.podCIDR!);
  let next = c.podCIDR.addr;
  const end = c.podCIDR.addr + 2 ** (32 - c.podCIDR.prefix);
  for (const n of c.nodes) {
    if (n.podCIDR) { cl.podCIDRs.set(n.name, { addr: n.podCIDR.addr, prefix: n.podCIDR.prefix }); continue; }
    const size = 256;
    while (next < end && taken.some((t) => overlaps(next, 24, t.addr, t.prefix))) next += size;
    if (next + size > end) fail(n.pos, `no /24 left in cluster podCIDR ${c.podCIDR.text} for node ${n.name}`, 'a larger podCIDR or an explicit node podCIDR');
    cl.podCIDRs.set(n.name, { addr: next >>> 0, prefix: 24 });
    next += size;
  }

  // kubelet/kube-proxy environment on every node: forwarding on.
  for (const n of cl.nodes.values()) n.sysctlSet('host', 'net.ipv4.ip_forward', '1');

  // With the bridge plugin alone nothing carries pod traffic between nodes; podwire
  // routes each node's pod subnet to that node, as kubenet's cloud routes (or a
  // static host-gw setup) do: on nodes of the same segment `podCIDR via nodeIP`,
  // and on the router for nodes behind it.
  if (c.network.plugin === 'bridge') routePodSubnets(cl);

  // The Node objects the kubelets register (podCIDR from the node IPAM controller), then flanneld per node.
  for (const n of c.nodes) if (!cl.pendingNodes.has(n.name)) registerNode(cl, n.name);
  if (c.network.flannel) {
    const rng = world.rng;
    cl.flannel = createFlannel(c.network.flannel, cl.store, (k) => rng.int(0, k - 1), world.sched);
    let started = 0;
    for (const n of c.nodes) {
      progress?.('build flanneld', started++, c.nodes.length);
      if (!cl.pendingNodes.has(n.name)) startFlanneld(n.name);
    }
  }
  if (c.network.calico) {
    cl.calico = createCalico(c.network.calico, world, c.mtu);
    // (Nodes that join later start calico-node at their join.)
    for (const n of c.nodes) if (!cl.pendingNodes.has(n.name)) cl.calico.addNode(cl.nodes.get(n.name)!, n.ip);
    const routerIPs = new Map(cl.routers.map((r) => [r, cl.segments.flatMap((_, i) => r.addrList('host', `eth${i}`)).map((a) => a.split('/')[0]!)] as const));
    cl.calico.startBgp(routerIPs);
  }

  // Pods, in manifest order.
  const confs = new Map<string, BridgeNetConf>();
  const confFor = (nodeName: string, pos: SourcePos): BridgeNetConf => {
    let conf = confs.get(nodeName);
    if (conf) return conf;
    const sub = cl.podCIDRs.get(nodeName)!;
    let list: NetworkConfigList;
    const net = c.network;
    try {
      if (cl.flannel) {
        list = cl.flannel.conflistFor(nodeName, net.conflist?.text);
      } else if (net.conflist) {
        list = parseConflist(net.conflist.text);
        if (list.plugins[0]?.kind === 'flannel') {
          list = resolveFlannel(list, { network: c.podCIDR.text, subnet: cidrText(sub.addr + 1, sub.prefix), mtu: net.mtu, ipMasq: false });
        }
      } else list = defaultBridgeConflist({ subnet: cidrText(sub.addr, sub.prefix), hairpinMode: net.hairpinMode, mtu: net.mtu });
    } catch (e) {
      if (e instanceof CniConfigError && net.conflist) {
        const p = net.conflist.pos;
        fail({ file: p.file, line: p.line + (e.line ? e.line : 0), col: e.col ?? p.col }, `CNI network config: ${e.message}`);
      }
      throw e;
    }
    const first = list.plugins[0];
    if (!first || first.kind !== 'bridge') fail(net.conflist?.pos ?? pos, `the CNI config list must start with a "bridge" (or "flannel") plugin, got "${first ? (first as { type: string }).type : 'nothing'}"`, 'bridge');
    conf = first as BridgeNetConf;
    confs.set(nodeName, conf);
    return conf;
  };

  const addPod = (pod: PodSpec): PodInfo => {
    const node = cl.nodes.get(pod.nodeName)!;
    const key = `${pod.namespace}/${pod.name}`;
    if (pod.hostNetwork) {
      const info: PodInfo = { spec: pod, node, netns: 'host', ip: cl.machineIPs.get(node.name)! };
      cl.pods.set(key, info);
      startServers(node.ns('host'), portsOf(pod), pod.pos);
      return info;
    }
    const netns = `${pod.namespace}.${pod.name}`;
    node.netnsAdd(netns);
    if (cl.calico) {
      const sb = cl.calico.addPod(node, netns, pod.namespace, pod.name, hex(world.rng.bytes(32)), pod.pos, pod.pinnedIP);
      const info: PodInfo = { spec: pod, node, netns, ip: sb.ip, hostVeth: sb.hostVeth, containerID: sb.containerID, calico: sb };
      cl.pods.set(key, info);
      startServers(node.ns(netns), portsOf(pod), pod.pos);
      return info;
    }
    const conf = confFor(node.name, pod.pos);
    const containerID = hex(world.rng.bytes(32));
    let result;
    try {
      result = cmdAdd(node, world.rng, conf, { containerID, netns, ifName: 'eth0', ips: pod.pinnedIP !== undefined ? [ipToString(pod.pinnedIP)] : undefined });
    } catch (e) {
      fail(pod.pos, `CNI ADD for pod ${key} on ${node.name} failed: ${(e as Error).message}`);
    }
    const addr = result.ips[0]?.address.split('/')[0];
    const ip = addr ? ipv4(addr) : 0;
    const hostVeth = result.interfaces.find((i) => !i.sandbox && i.name.startsWith('veth'))?.name;
    const info: PodInfo = { spec: pod, node, netns, ip, hostVeth, containerID, conf };
    cl.pods.set(key, info);
    startServers(node.ns(netns), portsOf(pod), pod.pos);
    return info;
  };
  const deletePod = (key: string): void => {
    const p = cl.pods.get(key);
    if (!p) return;
    cl.pods.delete(key);
    if (p.calico) {
      cl.calico!.delPod(p.node, p.calico, p.netns, p.spec.namespace, p.spec.name);
      p.node.netnsDel(p.netns);
      return;
    }
    if (p.netns === 'host' || !p.conf || !p.containerID) return;
    cmdDel(p.node, p.conf, { containerID: p.containerID, netns: p.netns, ifName: 'eth0' });
    p.node.netnsDel(p.netns);
  };
  const podCount = progress ? sc.manifests.filter((m) => m.kind === 'Pod').length : 0;
  let podsDone = 0;
  for (const m of sc.manifests) {
    if (m.kind !== 'Pod') continue;
    progress?.('build pods', podsDone++, podCount);
    if (!cl.pendingNodes.has((m as PodSpec).nodeName)) addPod(m as PodSpec);
  }
  for (const h of c.externalHosts) startServers(cl.hosts.get(h.name)!.ns('host'), h.ports, h.pos);

  // iptables rules given per machine, restored into its own namespace as iptables-restore would.
  for (const r of c.iptables) {
    try {
      iptablesRestore(world.nodes.get(r.machine)!, 'host', r.text, { file: r.origin.file });
    } catch (e) {
      if (e instanceof RuleError) {
        const at = mapPosition(r.origin, e.line, e.col);
        throw new InputError(at.file, at.line, at.col, `iptables-restore on ${r.machine}: ${e.message}`, e.expected);
      }
      throw e;
    }
  }
  if (c.kubeProxy.mode !== 'none') cl.control = new ControlPlane(cl);
  return cl;

  function startFlanneld(name: string): void {
    const agent = cl.flannel!.start(cl.nodes.get(name)!, cl.machineIPs.get(name)!, c.nodes.find((n) => n.name === name)!.ip.prefix);
    // With the etcd subnet manager the lease, not the Node object, says which subnet the node's pods use.
    const l = agent.lease!;
    cl.podCIDRs.set(name, { addr: l.subnet.addr, prefix: l.subnet.prefix });
  }

  function joinNode(name: string): void {
    if (!cl.pendingNodes.delete(name)) return;
    nodeEvent(`node ${name} joins the cluster`);
    registerNode(cl, name);
    if (cl.flannel) startFlanneld(name);
    if (cl.calico) cl.calico.joinNode(cl.nodes.get(name)!, c.nodes.find((n) => n.name === name)!.ip);
    cl.control?.nodeJoined(name);
    for (const m of sc.manifests) {
      if (m.kind !== 'Pod' || (m as PodSpec).nodeName !== name) continue;
      const info = addPod(m as PodSpec);
      cl.control?.podAdded(info.spec, info.ip);
    }
  }

  function leaveNode(name: string): void {
    if (cl.pendingNodes.has(name) || cl.leftNodes.has(name)) return;
    cl.leftNodes.add(name);
    nodeEvent(`node ${name} leaves the cluster: shut down, Node object deleted`);
    const node = cl.nodes.get(name)!;
    cl.flannel?.agents.get(name)?.stop();
    cl.calico?.leaveNode(node, [...cl.pods.values()].filter((p) => p.node === node && p.calico).map((p) => p.calico!)); // BIRD's Cease goes out before the machine does
    node.linkSetUp('host', 'eth0', false);
    cl.control?.nodeLeft(name);
    cl.store.delete('Node', undefined, name);
    for (const [key, p] of [...cl.pods]) if (p.node === node) cl.pods.delete(key);
  }

  function downNode(name: string): void {
    if (cl.pendingNodes.has(name) || cl.leftNodes.has(name) || cl.downNodes.has(name)) return;
    cl.downNodes.add(name);
    nodeEvent(`node ${name} fails (powered off): its NIC loses carrier and its agents die; its Node and pods stay in the API`);
    const node = cl.nodes.get(name)!;
    // Carrier first: nothing the dying agents still try to say leaves the machine.
    node.linkSetUp('host', 'eth0', false);
    cl.flannel?.agents.get(name)?.stop();
    cl.calico?.nodeDown(node);
    cl.control?.nodeDown(name);
  }

  function nodeEvent(detail: string): void {
    if (world.trace.on) world.event('apiserver', '', '', null, 'kube.event', detail);
  }
}

/** The Node object a kubelet registers, with the podCIDR the node IPAM controller gives it. */
function registerNode(cl: Cluster, name: string): void {
  const sub = cl.podCIDRs.get(name)!;
  const cidr = cidrText(sub.addr, sub.prefix);
  cl.store.create({
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
    status: { addresses: [{ type: 'InternalIP', address: ipToString(cl.machineIPs.get(name)!) }, { type: 'Hostname', address: name }] },
  });
}

function routePodSubnets(cl: Cluster): void {
  const specs = cl.scenario.cluster.nodes;
  const segOfNode = (n: string) => {
    const ip = cl.machineIPs.get(n)!;
    return cl.segments.find((s) => ((ip ^ s.network) & prefixMask(s.prefix)) === 0);
  };
  for (const b of specs) {
    const sub = cl.podCIDRs.get(b.name)!;
    const via = ipToString(cl.machineIPs.get(b.name)!);
    const dst = cidrText(sub.addr, sub.prefix);
    for (const a of specs) {
      if (a === b || segOfNode(a.name) !== segOfNode(b.name)) continue;
      cl.nodes.get(a.name)!.routeAdd('host', { dst, via });
    }
    for (const r of cl.routers) r.routeAdd('host', { dst, via });
  }
}

function portsOf(pod: PodSpec): ContainerPortSpec[] {
  return pod.containers.flatMap((c) => c.ports);
}

function overlaps(a: number, ap: number, b: number, bp: number): boolean {
  const p = Math.min(ap, bp);
  return ((a ^ b) & prefixMask(p)) === 0;
}

function hex(b: Uint8Array): string {
  return hexOf(b);
}

/** A validated IPv4 text (from a stored object or a CNI result) as a number. */
function ipv4(s: string): number {
  return parseIp(s)!;
}
