/**
 * The Calico deployment of a scenario (calico.yaml's calico-node DaemonSet with
 * BIRD, plus the IP pools and BGP resources the scenario gives), built the way
 * calico-node brings a node up:
 *  1. IPAM: the IP pools; each node's tunnel address (an IPIP pool exists)
 *     claims its first block, and pods claim blocks on demand.
 *  2. felix's device setup: `modprobe ipip`, tunl0 `mtu 1480 up`, its /32 — on
 *     every node when an IPIP pool exists (felix does it whenever IPIP is on).
 *  3. BIRD (src/calico/bgp): one speaker per node (router id = node IP, AS from
 *     the BGPConfiguration), the node-to-node mesh or route reflectors, global
 *     BGPPeers (the underlay router as ToR, eBGP); every block a node claims is
 *     announced (`blackhole B proto bird` locally) and withdrawn when released.
 *     Learned routes are installed per the pool's ipipMode: Always → `via N dev
 *     tunl0 onlink`; CrossSubnet → tunl0 only toward another subnet; Never →
 *     `via N` (or its gateway, `gateway recursive`) over the NIC.
 *  4. The calico CNI plugin for every pod (veth `cali…`, /32 routes, proxy ARP).
 * felix's policy chains and natOutgoing come from the control plane (it owns
 * the informer): scenario/control-plane.ts starts `FelixPolicy` on each node.
 *
 * Each node exports only its own blocks (a reflector everything it reflects):
 * Calico's export filter accepts any pool route, which toward a ToR would make a
 * mesh node advertise other nodes' blocks with itself as next hop; the scenario
 * models the per-node aggregation a real ToR setup is configured for.
 */
import type { Node } from '../kernel/node.js';
import type { World } from '../kernel/world.js';
import { parseConflist } from '../cni/index.js';
import { CalicoIpam, IpamError, type IPPool } from '../calico/ipam.js';
import { calicoCmdAdd, calicoCmdDel, calicoConflistText, calicoHandle, calicoNetConf, type CalicoNetConf } from '../calico/cni.js';
import { BgpCluster } from '../calico/bgp/cluster.js';
import { BgpSpeaker, type KrtTunnel } from '../calico/bgp/speaker.js';
import type { FelixPool } from '../calico/felix/render.js';
import { ipToString, parseIp, prefixMask } from '../wire/bytes.js';
import { InputError } from './errors.js';
import type { CalicoSpec, Cidr, SourcePos } from './types.js';

/** The pod MTU calico-node's auto-detection gives: the host MTU less the IPIP header when IPIP is on. */
export function calicoPodMtu(spec: CalicoSpec, hostMtu: number): number {
  return spec.pools.some((p) => p.ipipMode !== 'Never') ? hostMtu - 20 : hostMtu;
}

export interface CalicoPodSandbox { ip: number; hostVeth: string; containerID: string; conf: CalicoNetConf }

export interface CalicoDeployment {
  spec: CalicoSpec;
  ipam: CalicoIpam;
  bgp: BgpCluster;
  /** The underlay router's speaker when a BGPPeer names it. */
  tor?: BgpSpeaker;
  /** Does calico-node's start on `node` (tunnel address, tunl0, its BGP speaker, configured later). */
  addNode(node: Node, ip: Cidr): void;
  /** After every node: BIRD's neighbours, then every speaker starts. */
  startBgp(routerIPs: Map<Node, string[]>): void;
  /** CNI ADD for a pod. */
  addPod(node: Node, netns: string, namespace: string, name: string, containerID: string, pos: SourcePos, pinned?: number): CalicoPodSandbox;
  /** CNI DEL for a pod. */
  delPod(node: Node, sb: CalicoPodSandbox, netns: string, namespace: string, name: string): void;
  /** The pools as felix reads them. */
  felixPools(): FelixPool[];
  /** The node's tunnel address (tunl0), if IPIP is on. */
  tunnelAddress(node: string): string | null;
  /** The machine failed: its BIRD dies with it (its peers find out by their hold timers). */
  nodeDown(node: Node): void;
  /** The machine is back (node-up) or BIRD restarts (agent-start): BIRD starts, its sessions come up again. */
  birdStart(node: Node): void;
  /** BIRD is killed (agent-stop): the kernel closes its sockets; its routes stay in the kernel. */
  birdKill(node: Node): void;
  /** A node-join after start: calico-node starts on it and every BIRD (and the ToR) adds it as a neighbour. */
  joinNode(node: Node, ip: Cidr): void;
  /** A node-leave: BIRD stops (Cease) before the machine goes, the others drop the neighbour, IPAM releases its blocks. */
  leaveNode(node: Node, pods: readonly CalicoPodSandbox[]): void;
  /**
   * Runs the clock until BGP has settled: every session between live speakers Established with End-of-RIB received, and no
   * RIB change for `quiet` — at most until `limit`. Returns when it settled, or null.
   */
  settle(limit: number, quiet?: number): number | null;
  /** One line: sessions up, messages, the last route change and the convergence time after start. */
  summary(): string;
}

export function createCalico(spec: CalicoSpec, world: World, hostMtu: number): CalicoDeployment {
  const ipam = new CalicoIpam(world.rng);
  for (const p of spec.pools) {
    ipam.createPool({ name: p.name, cidr: p.cidr.text, blockSize: p.blockSize, ipipMode: p.ipipMode, natOutgoing: p.natOutgoing });
  }
  const nodeIP = new Map<string, Cidr>();
  /** Addresses of failed nodes (their sessions never come back). */
  const down = new Set<string>();
  const speakers = new Map<string, BgpSpeaker>();
  const confs = new Map<string, CalicoNetConf>();
  const ipipOn = spec.pools.some((p) => p.ipipMode !== 'Never');
  const mtu = calicoPodMtu(spec, hostMtu);

  /** The kernel route shape BIRD gives a learned block on `node` (Calico's krt_tunnel rule). */
  // The pool of each prefix a speaker installs, found once for the cluster (every client installs every
  // block: 25 M times at 5,000 nodes, issue 9); pools are frozen and never overlap, so a found one stays.
  const poolOf = new Map<string, IPPool>();
  const krtFor = (node: Node): KrtTunnel => (prefix, nextHop) => {
    let pool = poolOf.get(prefix);
    if (pool === undefined) { pool = ipam.poolFor(prefix.split('/')[0]!); if (pool) poolOf.set(prefix, pool); }
    const mode = pool?.ipipMode ?? 'Never';
    if (mode === 'Never') return null;
    if (mode === 'CrossSubnet') {
      const me = nodeIP.get(node.name)!;
      const nh = parseIp(nextHop)!;
      if (((nh ^ me.addr) & prefixMask(me.prefix)) === 0) return null;
    }
    return { dev: 'tunl0', onlink: true };
  };

  const bgp = new BgpCluster(world, {
    mode: spec.nodeToNodeMesh ? 'mesh' : 'reflectors',
    localAs: spec.asNumber,
    krtTunnel: (node) => krtFor(node),
  });

  // Blocks claimed and released: the static protocol's blackhole routes, announced by BIRD.
  ipam.observe((e) => {
    const s = speakers.get(e.host);
    if (!s) return;
    if (e.kind === 'claim') s.announce(e.cidr);
    else s.withdraw(e.cidr);
  });

  /** calico-node's start on a node: its BIRD (joining a running cluster when `late`), tunl0 and its address, its CNI config. */
  function setUp(node: Node, ip: Cidr, late: boolean): void {
    nodeIP.set(node.name, ip);
    const reflector = spec.routeReflectors.includes(node.name);
    const m = { node, ip: ipToString(ip.addr), ...(reflector ? { clusterId: spec.routeReflectorClusterID } : {}) };
    const s = late ? bgp.join(m) : bgp.add(m);
    // Export only this node's own blocks, except on a reflector (it reflects the others').
    s.cfg.exportFilter = (prefix) => reflector || ipam.affineBlocks(node.name).includes(prefix);
    speakers.set(node.name, s);
    // Every block the node claims from now on (the tunnel address's first) is announced by the observer.
    if (ipipOn) {
      let tun: string | null;
      try { tun = ipam.tunnelAddress(node.name); } catch (e) { if (e instanceof IpamError) fail(spec.pos, `calico IPAM: no tunnel address for ${node.name}: ${e.message}`); throw e; }
      node.ipipTunl0('host');
      node.linkSetMtu('host', 'tunl0', 1480);
      node.linkSetUp('host', 'tunl0');
      if (tun) node.addrAdd('host', 'tunl0', `${tun}/32`);
    }
    confs.set(node.name, calicoNetConf(parseConflist(calicoConflistText({ nodename: node.name, mtu }))));
  }

  let torAddrs: string[] = [];
  let torAs = 0;
  /** The ToR and a node peer with each other by eBGP, each side using the router's address on the node's own segment. */
  function peerWithTor(name: string, ip: Cidr): void {
    const mine = torAddrs.find((a) => ((parseIp(a)! ^ ip.addr) & prefixMask(ip.prefix)) === 0) ?? torAddrs[0]!;
    d.tor!.addPeer({ address: ipToString(ip.addr), as: spec.asNumber, name: `Node_${ipToString(ip.addr).replace(/\./g, '_')}`, passive: true });
    speakers.get(name)!.addPeer({ address: mine, as: torAs, name: `Global_${mine.replace(/\./g, '_')}` });
  }
  const d: CalicoDeployment = {
    spec, ipam, bgp,
    addNode(node, ip) { setUp(node, ip, false); },
    joinNode(node, ip) {
      setUp(node, ip, true);
      if (d.tor) peerWithTor(node.name, ip); // the ToR's BGPPeer selects every node: both sides add the newcomer
    },
    leaveNode(node, pods) {
      const ip = ipToString(nodeIP.get(node.name)!.addr);
      // calico-kube-controllers' IPAM GC: the addresses of the deleted node's pods, then its tunnel address and empty blocks.
      for (const sb of pods) ipam.releaseByHandle(calicoHandle(sb.containerID));
      bgp.leave(node.name); // its BIRD stops (Cease 6/2); the others drop the neighbour (Cease 6/3), routes withdrawn at once
      speakers.delete(node.name);
      if (d.tor?.peer(ip)) d.tor.removePeer(ip);
      ipam.deleteNode(node.name); // calico-kube-controllers: the Node is gone, so are its tunnel address and empty blocks
    },
    startBgp(routerIPs) {
      bgp.configure();
      const p = spec.peers[0]; // validation allows one: the underlay router
      if (p) {
        const [router, addrs] = [...routerIPs][0] ?? [];
        if (!router || !addrs) fail(p.pos, 'network.bgp.peers: there is no underlay router');
        d.tor = new BgpSpeaker(router, { routerId: addrs[0]!, localAs: p.asNumber, convergence: bgp.convergence });
        torAddrs = addrs;
        torAs = p.asNumber;
        for (const [name, ip] of nodeIP) peerWithTor(name, ip);
      }
      bgp.start();
      d.tor?.start();
    },
    addPod(node, netns, namespace, name, containerID, pos, pinned) {
      const conf = confs.get(node.name)!;
      let r;
      try {
        r = calicoCmdAdd(node, world.rng, ipam, conf, { containerID, netns, ifName: 'eth0', namespace, pod: name, ...(pinned !== undefined ? { ips: [ipToString(pinned)] } : {}) });
      } catch (e) {
        fail(pos, `CNI ADD (calico) for pod ${namespace}/${name} on ${node.name} failed: ${(e as Error).message}`);
      }
      return { ip: parseIp(r.ips[0]!.address.split('/')[0]!)!, hostVeth: r.endpoint.iface, containerID, conf };
    },
    delPod(node, sb, netns, namespace, name) {
      calicoCmdDel(node, ipam, sb.conf, { containerID: sb.containerID, netns, ifName: 'eth0', namespace, pod: name });
    },
    felixPools() {
      return spec.pools.map((p) => ({ cidr: p.cidr.text, natOutgoing: p.natOutgoing, disabled: false }));
    },
    tunnelAddress(name) {
      return ipipOn ? ipam.tunnelAddress(name) : null;
    },
    nodeDown(node) {
      down.add(ipToString(nodeIP.get(node.name)!.addr));
      bgp.convergence.mark(world.now); // the change whose convergence (hold-timer expiry) the summary reports
      speakers.get(node.name)?.halt();
    },
    birdStart(node) {
      down.delete(ipToString(nodeIP.get(node.name)!.addr));
      speakers.get(node.name)?.start();
    },
    birdKill(node) {
      bgp.convergence.mark(world.now);
      speakers.get(node.name)?.kill();
    },
    settle(limit, quiet = 1_000_000_000) {
      const all = [...speakers.values(), ...(d.tor ? [d.tor] : [])];
      // Settled: every session up and its initial table in (End-of-RIB received; BIRD sends one after
      // its first flush), and no Loc-RIB change for `quiet`. An established session alone is not enough:
      // its first UPDATEs can trail the KEEPALIVE by a delayed ACK (Nagle holds them until then).
      const settled = () => all.every((s) => down.has(s.cfg.routerId) || s.peers.every((p) => (p.est !== null && p.eorReceived) || down.has(ipToString(p.address))))
        && world.now - bgp.convergence.lastRibChange >= quiet;
      while (world.now < limit) {
        if (settled()) return world.now;
        world.sched.run(Math.min(limit, world.now + 100_000_000));
      }
      return settled() ? world.now : null;
    },
    summary() {
      const all = [...speakers.values(), ...(d.tor ? [d.tor] : [])];
      let up = 0, configured = 0;
      for (const s of all) for (const p of s.peers) { configured++; if (p.est) up++; }
      const m = bgp.messages();
      const conv = bgp.convergence;
      const t = conv.time;
      const last = conv.lastRibChange
        ? `last route change at ${(conv.lastRibChange / 1e9).toFixed(3)} s${t !== null && conv.changeAt !== null ? ` (converged ${(t / 1e9).toFixed(3)} s after the last change, at ${(conv.changeAt / 1e9).toFixed(3)} s)` : ''}`
        : 'no route learned';
      return `bgp: ${up / 2}/${configured / 2} sessions established; ${m.total} messages sent (${m.open} OPEN, ${m.update} UPDATE, ${m.keepalive} KEEPALIVE, ${m.notification} NOTIFICATION); ${last}`;
    },
  };
  return d;
}

function fail(pos: SourcePos, message: string): never {
  throw new InputError(pos.file, pos.line, pos.col, message);
}
