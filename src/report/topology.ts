/**
 * The run's topology as plain data, for the report's drawing: every machine
 * (cluster nodes, extra hosts, routers), its namespaces (the host's and each
 * pod's), their devices with addresses, and the links between devices — veth
 * pairs, bridge ports to their bridge, NICs to the underlay segments they sit
 * on. Read from the live objects after the run (nothing is changed), so it is
 * the topology as the run left it: a pod deleted or a node that left is gone.
 */
import type { Cluster } from '../scenario/build.js';
import type { NetDevice } from '../kernel/device.js';
import type { Node } from '../kernel/node.js';
import { Veth } from '../kernel/devices/veth.js';
import { Nic } from '../kernel/devices/nic.js';
import { Vxlan } from '../kernel/devices/vxlan.js';
import { Ipip } from '../kernel/devices/ipip.js';
import { ipToString, macToString } from '../wire/bytes.js';

export interface TopoDevice {
  /** `node/netns/dev`, as traces and captures name it. */
  id: string;
  name: string;
  /** The device kind: nic, veth, bridge, vxlan, ipip, tun, dummy, loopback. */
  kind: string;
  /** MAC ('' for L2-less devices). */
  mac: string;
  mtu: number;
  up: boolean;
  /** `a.b.c.d/len` of each address, in the order added. */
  addrs: string[];
  /** The bridge this device is a port of (its id). */
  master?: string;
  /** A veth's other end (its id). */
  peer?: string;
  /** A NIC's underlay segment (its name, the subnet). */
  segment?: string;
  /** Tunnel parameters in `ip -d link` words, e.g. `vxlan id 1 local 192.168.1.11 dstport 8472`. */
  tunnel?: string;
}

export interface TopoNamespace {
  /** `node/netns`. */
  id: string;
  name: string;
  /** `pod NS/NAME` when the namespace is a pod's sandbox. */
  pod?: string;
  devices: TopoDevice[];
}

export interface TopoMachine {
  name: string;
  role: 'node' | 'host' | 'router';
  /** The underlay address (routers: none; their addresses are on their NICs). */
  ip?: string;
  /** A node's pod subnet. */
  podCIDR?: string;
  /** The host namespace first, then pods' namespaces in creation order. */
  namespaces: TopoNamespace[];
}

export interface TopoSegment {
  name: string;
  /** The NICs on it (device ids), in attach order. */
  ports: string[];
}

export type LinkKind = 'veth' | 'bridge-port' | 'segment';

export interface TopoLink {
  kind: LinkKind;
  /** Device ids; for `segment` b is the segment's name. */
  a: string;
  b: string;
}

export interface Topology {
  machines: TopoMachine[];
  segments: TopoSegment[];
  links: TopoLink[];
}

const cidr = (addr: number, prefix: number) => `${ipToString(addr)}/${prefix}`;

function tunnelText(d: NetDevice): string | undefined {
  if (d instanceof Vxlan) {
    return `vxlan id ${d.vni}${d.local ? ` local ${ipToString(d.local)}` : ''}${d.lower ? ` dev ${d.lower.name}` : ''} dstport ${d.dstport}${d.learning ? '' : ' nolearning'}`;
  }
  if (d instanceof Ipip) {
    const p = d.parms;
    return `ipip remote ${p.remote ? ipToString(p.remote) : 'any'} local ${p.local ? ipToString(p.local) : 'any'}`;
  }
  return undefined;
}

function deviceOf(d: NetDevice): TopoDevice {
  const t: TopoDevice = {
    id: d.path, name: d.name, kind: d.kind, mac: d.hardHeaderLen === 0 ? '' : macToString(d.mac), mtu: d.mtu, up: d.up,
    addrs: d.netns.addrs.filter((a) => a.dev === d).map((a) => cidr(a.addr, a.prefix)),
  };
  if (d.master) t.master = d.master.path;
  if (d instanceof Veth && d.peer) t.peer = d.peer.path;
  if (d instanceof Nic && d.segment) t.segment = d.segment.name;
  const tun = tunnelText(d);
  if (tun) t.tunnel = tun;
  return t;
}

/** Orders a namespace's devices top to bottom for drawing: bridges, their ports, other devices, NICs last; lo dropped. */
function drawOrder(devs: NetDevice[]): NetDevice[] {
  const rank = (d: NetDevice) => (d.kind === 'bridge' ? 1 : d.master ? 2 : d.kind === 'nic' ? 4 : 3);
  return devs.filter((d) => d.kind !== 'loopback').map((d, i) => ({ d, i })).sort((x, y) => rank(x.d) - rank(y.d) || x.i - y.i).map((x) => x.d);
}

/** The topology of a built (or finished) cluster. */
export function extractTopology(cluster: Cluster): Topology {
  const podOf = new Map<string, string>();
  for (const [key, p] of cluster.pods) podOf.set(`${p.node.name}/${p.netns}`, key);
  const machines: TopoMachine[] = [];
  const links: TopoLink[] = [];
  const seenVeth = new Set<string>();
  const nodes: Node[] = [...cluster.world.nodes.values()];
  for (const node of nodes) {
    const m: TopoMachine = { name: node.name, role: node.role, namespaces: [] };
    const ip = cluster.machineIPs.get(node.name);
    if (ip !== undefined && node.role !== 'router') m.ip = ipToString(ip);
    const pc = cluster.podCIDRs.get(node.name);
    if (pc) m.podCIDR = cidr(pc.addr, pc.prefix);
    // The host namespace first (it holds the bridge and the NICs the pods' links lead to).
    const nss = [...node.netns.values()].sort((a, b) => (a.name === 'host' ? 0 : 1) - (b.name === 'host' ? 0 : 1));
    for (const ns of nss) {
      const tn: TopoNamespace = { id: `${node.name}/${ns.name}`, name: ns.name, devices: drawOrder([...ns.devices.values()]).map(deviceOf) };
      const pod = podOf.get(tn.id);
      if (pod) tn.pod = pod;
      m.namespaces.push(tn);
      for (const d of tn.devices) {
        if (d.peer && !seenVeth.has(d.id)) { seenVeth.add(d.peer); links.push({ kind: 'veth', a: d.id, b: d.peer }); }
        if (d.master) links.push({ kind: 'bridge-port', a: d.id, b: d.master });
        if (d.segment) links.push({ kind: 'segment', a: d.id, b: d.segment });
      }
    }
    machines.push(m);
  }
  const segments = cluster.segments.map((s) => ({ name: s.name, ports: s.ports.map((n) => n.path) }));
  return { machines, segments, links };
}
