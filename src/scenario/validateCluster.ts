/**
 * The `cluster:` section: address plan, links, network plugin, kube-proxy mode,
 * nodes and external hosts, with every address rule checked at the node that
 * breaks it. See FORMAT.md for the field reference.
 */
import { isDNS1123Subdomain } from '../kube/validation.js';
import { InputError } from './errors.js';
import type { Cidr, ClusterSpec, ContainerPortSpec, ExternalHostSpec, HostBridgeSpec, HostVethSpec, FlannelSpec, CalicoSpec, CalicoPoolSpec, NetworkSpec, NodeSpec, SourcePos, StaticRouteSpec } from './types.js';
import {
  broadcastOf,
  cidrContains,
  cidrOverlaps,
  cidrWithin,
  formatIPv4,
  networkOf,
  networkText,
  parseBandwidth,
  parseCidr,
  parseDurationValue,
  parseIPv4,
} from './validateNet.js';
import type { Y, YMap } from './validateYaml.js';
import { mapPosition, readEmbeddedText, type TextOrigin } from './embedded-text.js';
import { FlannelConfigError, parseFlannelConfig, type FlannelConfig } from '../overlay/flannel/config.js';
import { formatCidr4 } from '../cni/ip4.js';
import { DEFAULT_NODE_LIFECYCLE } from '../kube/node-lifecycle.js';

/**
 * What one user/kernel crossing of flanneld's udp proxy costs by default (a
 * read or write on /dev/net/tun, a sendto or recvfrom: a syscall and a wake-up
 * of the flanneld process, a few microseconds on a server).
 */
export const DEFAULT_UDP_CROSSING_COST = 5_000;

export const CLUSTER_KEYS = ['podCIDR', 'serviceCIDR', 'mtu', 'links', 'network', 'kubeProxy', 'dns', 'nodes', 'externalHosts', 'iptables', 'sysctls', 'nodeLifecycle'] as const;
export const KUBE_PROXY_KEYS = ['mode', 'scheduler', 'minSyncPeriod', 'masqueradeAll', 'localhostNodePorts', 'clusterCIDR', 'nodePortAddresses'] as const;
export const DNS_KEYS = ['enabled', 'clusterIP', 'domain', 'node'] as const;
export const LINK_KEYS = ['vethDelay', 'nicDelay', 'nicBandwidth'] as const;
export const NETWORK_KEYS = ['plugin', 'hairpinMode', 'mtu', 'conflist', 'backend', 'netConf', 'subnetManager', 'ipMasq', 'udpCrossingCost', 'ipPools', 'bgp'] as const;
/** Keys that only the flannel plugin takes, those only the bridge plugin takes, and Calico's. */
const FLANNEL_ONLY = ['backend', 'netConf', 'subnetManager', 'ipMasq', 'udpCrossingCost'] as const;
const BRIDGE_ONLY = ['hairpinMode', 'mtu'] as const;
const CALICO_ONLY = ['ipPools', 'bgp'] as const;
export const CALICO_POOL_KEYS = ['name', 'cidr', 'blockSize', 'ipipMode', 'natOutgoing'] as const;
export const CALICO_BGP_KEYS = ['asNumber', 'nodeToNodeMesh', 'routeReflectors', 'routeReflectorClusterID', 'peers'] as const;
export const CALICO_PEER_KEYS = ['router', 'asNumber'] as const;
export const NODE_KEYS = ['name', 'ip', 'podCIDR', 'routes'] as const;
export const HOST_KEYS = ['name', 'ip', 'routes', 'ports', 'bridges', 'veths'] as const;
export const HOST_BRIDGE_KEYS = ['name', 'ip'] as const;
export const HOST_VETH_KEYS = ['name', 'peer', 'master', 'peerMaster'] as const;
export const ROUTE_KEYS = ['dst', 'via'] as const;
export const HOST_PORT_KEYS = ['port', 'protocol', 'name'] as const;

/** Network plugins podwire knows of but does not implement yet. */
const UNSUPPORTED_PLUGINS: Record<string, string> = {
  cilium: 'network plugin "cilium" is not supported yet',
  weave: 'network plugin "weave" is not supported yet',
};

/** Where something was first seen, for "duplicate … (first at line N)". */
export function firstAt(first: SourcePos, here: SourcePos): string {
  return first.file === here.file ? `line ${first.line}` : `${first.file}:${first.line}:${first.col}`;
}

/** Tracks names already used; fails on the second use, naming the first's line. */
export class UniqueNames {
  private seen = new Map<string, SourcePos>();
  constructor(private readonly what: string) {}
  add(name: string, y: Y): void {
    const first = this.seen.get(name);
    if (first) y.fail(`duplicate ${this.what} ${JSON.stringify(name)} (first defined at ${firstAt(first, y.pos)})`);
    this.seen.set(name, y.pos);
  }
  get(name: string): SourcePos | undefined {
    return this.seen.get(name);
  }
}

/** A CIDR "A.B.C.D/N"; with `network`, host bits must be zero. */
export function cidrAt(y: Y, network: boolean): Cidr {
  const text = y.str('a CIDR such as 10.244.0.0/16');
  const r = parseCidr(text);
  if ('error' in r) y.fail(`${y.what}: ${r.error}`, 'a CIDR such as 10.244.0.0/16');
  if (network && networkOf(r.cidr) !== r.cidr.addr)
    y.fail(`${y.what} ${text} is not a network address (host bits are set)`, networkText(r.cidr));
  return r.cidr;
}

/** An IPv4 address "A.B.C.D". */
export function ipAt(y: Y): number {
  const text = y.str('an IPv4 address such as 192.168.1.11');
  const a = parseIPv4(text);
  if (a === undefined) y.fail(`${y.what}: ${JSON.stringify(text)} is not a valid IPv4 address`, 'an IPv4 address such as 192.168.1.11');
  return a;
}

/** A duration in ns ("50us", "1ms", "0"). */
export function durationAt(y: Y): number {
  const r = parseDurationValue(y.strOrNum('a duration such as 50us, 1ms, 3s or 0'));
  if ('error' in r) y.fail(`${y.what}: ${r.error}`, 'a duration such as 50us, 1ms, 3s or 0');
  return r.ns;
}

function nameAt(y: Y): string {
  const name = y.str('a lowercase RFC 1123 name such as node-1');
  const bad = isDNS1123Subdomain(name);
  if (bad.length) y.fail(`${y.what} ${JSON.stringify(name)} is invalid: ${bad[0]}`);
  return name;
}

/** An interface address "A.B.C.D/N" that is neither the network nor the broadcast address of its subnet. */
function ifaddrAt(y: Y): Cidr {
  const c = cidrAt(y, false);
  if (c.prefix < 31) {
    if (c.addr === networkOf(c)) y.fail(`${y.what} ${c.text} is the network address of its subnet`, 'a host address inside ' + networkText(c));
    if (c.addr === broadcastOf(c)) y.fail(`${y.what} ${c.text} is the broadcast address of its subnet`, 'a host address inside ' + networkText(c));
  }
  return c;
}

/** Static routes of a machine: each gateway must be a neighbour on the machine's own subnet. */
function routesAt(y: Y | undefined, ip: Cidr, who: string): StaticRouteSpec[] {
  const routes: StaticRouteSpec[] = [];
  for (const ry of y?.list() ?? []) {
    const r = ry.map(ROUTE_KEYS, ['dst', 'via']);
    const dY = r.req('dst');
    const dst = dY.scalar === 'default' ? { addr: 0, prefix: 0, text: 'default' } : cidrAt(dY, true);
    const vY = r.req('via');
    const via = ipAt(vY);
    if (!cidrContains(ip, via) || via === ip.addr)
      vY.fail(`${vY.what}: gateway ${formatIPv4(via)} is not a neighbour on ${who}'s subnet ${networkText(ip)}`, `an address inside ${networkText(ip)} other than the ${who.split(' ')[0]}'s own`);
    routes.push({ dst, via, pos: ry.pos });
  }
  return routes;
}

/** An interface name as the kernel takes it (dev_valid_name): 1..15 bytes, no '/', ':' or whitespace, not "." or "..". */
function ifnameAt(y: Y): string {
  const n = y.str('an interface name such as br0');
  if (!n.length || n.length > 15 || /[/:\s]/.test(n) || n === '.' || n === '..')
    y.fail(`${y.what} ${JSON.stringify(n)} is not a valid interface name`, 'at most 15 characters without "/", ":" or spaces');
  return n;
}

/**
 * A host's extra bridges and veth pairs (both ends in the host's netns). Names are unique among
 * the host's devices (eth0 and lo included); a master names one of the host's bridges; a bridge
 * address must not lie in the host's underlay subnet (two connected routes for one subnet).
 */
function hostLinksAt(by: Y | undefined, vy: Y | undefined, ip: Cidr, host: string): { bridges?: HostBridgeSpec[]; veths?: HostVethSpec[] } {
  if (!by && !vy) return {};
  const devs = new Map<string, SourcePos | null>([['eth0', null], ['lo', null]]);
  const claim = (y: Y, n: string) => {
    if (devs.has(n)) { const first = devs.get(n); y.fail(`${y.what}: host ${host} already has a device ${JSON.stringify(n)}${first ? ` (line ${first.line})` : ''}`, 'a name no other device of the host has'); }
    devs.set(n, y.pos);
  };
  const bridges: HostBridgeSpec[] = [];
  for (const b of by?.list() ?? []) {
    const m = b.map(HOST_BRIDGE_KEYS, ['name']);
    const nY = m.req('name');
    const name = ifnameAt(nY);
    claim(nY, name);
    const ipY = m.opt('ip');
    const bip = ipY ? ifaddrAt(ipY) : undefined;
    if (ipY && bip && (cidrContains(ip, bip.addr) || cidrContains(bip, ip.addr)))
      ipY.fail(`${ipY.what}: ${bip.text} overlaps host ${host}'s subnet ${networkText(ip)}`, 'an address on another subnet');
    bridges.push({ name, ...(bip ? { ip: bip } : {}), pos: b.pos });
  }
  const names = new Set(bridges.map((b) => b.name));
  const masterAt = (y: Y | undefined): string | undefined => {
    if (!y) return undefined;
    const n = y.str('a bridge of this host');
    if (!names.has(n)) y.fail(`${y.what}: host ${host} has no bridge ${JSON.stringify(n)}`, names.size ? `one of ${[...names].join(', ')}` : 'a bridge declared in the host\'s bridges');
    return n;
  };
  const veths: HostVethSpec[] = [];
  for (const v of vy?.list() ?? []) {
    const m = v.map(HOST_VETH_KEYS, ['name', 'peer']);
    const nY = m.req('name'), pY = m.req('peer');
    const name = ifnameAt(nY);
    claim(nY, name);
    const peer = ifnameAt(pY);
    claim(pY, peer);
    const master = masterAt(m.opt('master')), peerMaster = masterAt(m.opt('peerMaster'));
    veths.push({ name, peer, ...(master ? { master } : {}), ...(peerMaster ? { peerMaster } : {}), pos: v.pos });
  }
  return { ...(by ? { bridges } : {}), ...(vy ? { veths } : {}) };
}

/** Validates `cluster:`. */
export function validateCluster(y: Y): ClusterSpec {
  const m = y.map(CLUSTER_KEYS, ['podCIDR', 'serviceCIDR', 'network', 'nodes']);
  const podY = m.req('podCIDR');
  const podCIDR = cidrAt(podY, true);
  const svcY = m.req('serviceCIDR');
  const serviceCIDR = cidrAt(svcY, true);
  if (cidrOverlaps(podCIDR, serviceCIDR))
    svcY.fail(`cluster.serviceCIDR ${serviceCIDR.text} overlaps cluster.podCIDR ${podCIDR.text} (line ${podY.pos.line})`);
  const mtuY = m.opt('mtu');
  const mtu = mtuY ? mtuY.int(68, 65535) : 1500;

  let veth = 0;
  let nic = 50_000;
  let nicBandwidth = 0;
  const linksY = m.opt('links');
  if (linksY) {
    const l = linksY.map(LINK_KEYS);
    const v = l.opt('vethDelay');
    if (v) veth = durationAt(v);
    const n = l.opt('nicDelay');
    if (n) nic = durationAt(n);
    const b: Y | undefined = l.opt('nicBandwidth');
    if (b) {
      const r = parseBandwidth(b.strOrNum('bits/s as a number or 10kbit, 100Mbit, 1Gbit'));
      if ('error' in r) throw InputError.at(b.pos, `${b.what}: ${r.error}`, 'bits/s as a number or 10kbit, 100Mbit, 1Gbit');
      nicBandwidth = r.bps;
    }
  }

  const network = validateNetwork(m.req('network'), mtu, podCIDR);

  const kpY = m.opt('kubeProxy');
  const kubeProxy: ClusterSpec['kubeProxy'] = { mode: 'none', scheduler: 'rr', minSyncPeriod: 1_000_000_000, masqueradeAll: false, localhostNodePorts: true, nodePortAddresses: [], pos: y.keyPos };
  if (kpY) {
    const k = kpY.map(KUBE_PROXY_KEYS);
    const modeY = k.opt('mode');
    kubeProxy.pos = kpY.pos;
    if (modeY) kubeProxy.mode = modeY.oneOf(['iptables', 'ipvs', 'none'] as const);
    const schY = k.opt('scheduler');
    if (schY) {
      kubeProxy.scheduler = schY.oneOf(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'] as const);
      if (kubeProxy.mode !== 'ipvs') schY.fail(`${schY.what}: the IPVS scheduler applies to kubeProxy.mode ipvs only (mode is ${kubeProxy.mode})`, 'mode: ipvs');
    }
    const msY = k.opt('minSyncPeriod');
    if (msY) kubeProxy.minSyncPeriod = durationAt(msY);
    const maY = k.opt('masqueradeAll');
    if (maY) kubeProxy.masqueradeAll = maY.bool();
    const lnY = k.opt('localhostNodePorts');
    if (lnY) kubeProxy.localhostNodePorts = lnY.bool();
    const ccY = k.opt('clusterCIDR');
    if (ccY) kubeProxy.clusterCIDR = cidrAt(ccY, true);
    for (const ay of k.opt('nodePortAddresses')?.list() ?? []) kubeProxy.nodePortAddresses.push(cidrAt(ay, true));
  }

  const names = new UniqueNames('node or host name');
  const ips = new Map<number, { pos: SourcePos; who: string }>();
  const subnets: { cidr: Cidr; y: Y; who: string }[] = [];
  const claimIP = (c: Cidr, iy: Y, who: string) => {
    const prev = ips.get(c.addr);
    if (prev) iy.fail(`${who} has IP ${formatIPv4(c.addr)}, already used by ${prev.who} (${firstAt(prev.pos, iy.pos)})`);
    ips.set(c.addr, { pos: iy.pos, who });
    subnets.push({ cidr: c, y: iy, who });
  };

  const nodesY = m.req('nodes');
  const nodeItems = nodesY.list();
  if (nodeItems.length === 0) nodesY.fail('cluster.nodes must list at least one node');
  const nodes: NodeSpec[] = [];
  const podCidrs: { cidr: Cidr; y: Y; node: string }[] = [];
  for (const ny of nodeItems) {
    const n = ny.map(NODE_KEYS, ['name', 'ip']);
    const nmY = n.req('name');
    const name = nameAt(nmY);
    names.add(name, nmY);
    const ipY = n.req('ip');
    const ip = ifaddrAt(ipY);
    claimIP(ip, ipY, `node ${name}`);
    const node: NodeSpec = { name, ip, routes: routesAt(n.opt('routes'), ip, `node ${name}`), pos: ny.pos };
    const pcY = n.opt('podCIDR');
    if (pcY) {
      const pc = cidrAt(pcY, true);
      if (!cidrWithin(pc, podCIDR)) pcY.fail(`${pcY.what} ${pc.text} is not inside cluster.podCIDR ${podCIDR.text}`);
      for (const o of podCidrs)
        if (cidrOverlaps(o.cidr, pc)) pcY.fail(`${pcY.what} ${pc.text} overlaps the podCIDR ${o.cidr.text} of node ${o.node} (line ${o.y.pos.line})`);
      podCidrs.push({ cidr: pc, y: pcY, node: name });
      node.podCIDR = pc;
    }
    nodes.push(node);
  }
  const cal = network.calico;
  cal?.routeReflectors.forEach((n, i) => {
    if (!nodes.some((x) => x.name === n)) throw InputError.at(cal.routeReflectorPos[i]!, `network.bgp.routeReflectors: no node named ${JSON.stringify(n)}`, `one of ${nodes.map((x) => x.name).join(', ')}`);
  });
  if (cal) {
    // The underlay router exists only between two or more subnets (one per subnet of the machines).
    const subnets = new Set(nodes.map((x) => networkText(x.ip)));
    for (const p of cal.peers) {
      if (p.router !== 'router') throw InputError.at(p.pos, `network.bgp.peers: router ${JSON.stringify(p.router)} does not exist`, 'router (the underlay router between the node subnets)');
      if (subnets.size < 2) throw InputError.at(p.pos, 'network.bgp.peers: the nodes share one subnet, so there is no underlay router to peer with', 'nodes on two or more subnets (the router joins them)');
      if (p.asNumber === cal.asNumber) throw InputError.at(p.pos, `network.bgp.peers: the router's asNumber ${p.asNumber} is the cluster's own`, 'another AS: the ToR peers by eBGP');
    }
  }

  const externalHosts: ExternalHostSpec[] = [];
  for (const hy of m.opt('externalHosts')?.list() ?? []) {
    const h = hy.map(HOST_KEYS, ['name', 'ip']);
    const nmY = h.req('name');
    const name = nameAt(nmY);
    names.add(name, nmY);
    const ipY = h.req('ip');
    const ip = ifaddrAt(ipY);
    claimIP(ip, ipY, `host ${name}`);
    const routes = routesAt(h.opt('routes'), ip, `host ${name}`);
    const ports: ContainerPortSpec[] = [];
    const seenPorts = new Map<string, SourcePos>();
    for (const py of h.opt('ports')?.list() ?? []) {
      const p = py.map(HOST_PORT_KEYS, ['port']);
      const portY = p.req('port');
      const port = portY.int(1, 65535);
      const protoY = p.opt('protocol');
      const protocol = protoY ? protoY.oneOf(['TCP', 'UDP', 'SCTP'] as const) : 'TCP';
      const key = `${port}/${protocol}`;
      const first = seenPorts.get(key);
      if (first) portY.fail(`duplicate port ${key} on host ${name} (first defined at ${firstAt(first, portY.pos)})`);
      seenPorts.set(key, portY.pos);
      const nY = p.opt('name');
      ports.push({ ...(nY ? { name: nY.str() } : {}), containerPort: port, protocol });
    }
    const links = hostLinksAt(h.opt('bridges'), h.opt('veths'), ip, name);
    externalHosts.push({ name, ip, routes, ports, ...links, pos: hy.pos });
  }

  for (const s of subnets) {
    if (cidrOverlaps(s.cidr, serviceCIDR))
      svcY.fail(`cluster.serviceCIDR ${serviceCIDR.text} overlaps the subnet ${networkText(s.cidr)} of ${s.who} (line ${s.y.pos.line})`);
    if (cidrOverlaps(s.cidr, podCIDR))
      throw InputError.at(s.y.pos, `${s.y.what}: the subnet ${networkText(s.cidr)} of ${s.who} overlaps cluster.podCIDR ${podCIDR.text} (line ${podY.pos.line})`);
  }

  const machines = new Set([...nodes.map((n) => n.name), ...externalHosts.map((h) => h.name)]);
  const machineKey = (ky: Y, key: string) => {
    if (!machines.has(key)) ky.fail(`${ky.what}: no node or host named "${key}"`, [...machines].join(', '));
  };
  const iptables: ClusterSpec['iptables'] = [];
  const ipt = m.opt('iptables');
  if (ipt) {
    for (const [key, vy] of ipt.entries()) {
      machineKey(vy, key);
      const { text, origin } = readEmbeddedText(vy, y.pos.file, 'iptables-restore rules');
      iptables.push({ machine: key, text, origin, pos: vy.pos });
    }
  }
  const sysctls: ClusterSpec['sysctls'] = [];
  const sy = m.opt('sysctls');
  if (sy) {
    for (const [key, vy] of sy.entries()) {
      machineKey(vy, key);
      for (const [k, ky] of vy.entries()) {
        if (!/^(net|kernel|vm)\.[A-Za-z0-9_.\-/]+$/.test(k)) ky.fail(`${ky.what}: "${k}" is not a sysctl key`, 'a key like net.ipv4.ip_forward');
        const v = ky.strOrNum('a sysctl value');
        sysctls.push({ machine: key, key: k, value: String(v), pos: ky.pos });
      }
    }
  }

  // Cluster DNS: on by default wherever Services work (kube-proxy runs).
  const dns: ClusterSpec['dns'] = { enabled: kubeProxy.mode !== 'none', domain: 'cluster.local', pos: y.keyPos };
  const dY = m.opt('dns');
  if (dY) {
    const d = dY.map(DNS_KEYS);
    dns.pos = dY.pos;
    const eY = d.opt('enabled');
    if (eY) dns.enabled = eY.bool();
    if (dns.enabled && kubeProxy.mode === 'none') (eY ?? dY).fail(`${(eY ?? dY).what}: cluster DNS is reached through the kube-dns Service, which needs kube-proxy`, 'kubeProxy.mode iptables, or dns.enabled: false');
    const ipY = d.opt('clusterIP');
    if (ipY) {
      const ip = parseIPv4(ipY.str('an IPv4 address'));
      if (ip === undefined) ipY.fail(`${ipY.what} is not a valid IPv4 address`, 'an address inside cluster.serviceCIDR');
      if (!cidrContains(serviceCIDR, ip!)) ipY.fail(`${ipY.what} ${formatIPv4(ip!)} is not inside cluster.serviceCIDR ${serviceCIDR.text}`);
      dns.clusterIP = ip;
    }
    const domY = d.opt('domain');
    if (domY) {
      const dom = domY.str('a DNS domain like cluster.local');
      const errs = isDNS1123Subdomain(dom);
      if (errs.length) domY.fail(`${domY.what} ${JSON.stringify(dom)}: ${errs[0]}`, 'a DNS domain like cluster.local');
      dns.domain = dom;
    }
    const nY = d.opt('node');
    if (nY) {
      const nn = nY.str('a node name');
      if (!nodes.some((x) => x.name === nn)) nY.fail(`${nY.what}: no node named ${JSON.stringify(nn)}`, nodes.map((x) => x.name).join(', '));
      dns.node = nn;
    }
  }

  const nlY = m.opt('nodeLifecycle');
  const nodeLifecycle = nlY ? validateNodeLifecycle(nlY) : undefined;
  return { podCIDR, serviceCIDR, network, kubeProxy, dns, nodes, externalHosts, linkDelay: { veth, nic }, nicBandwidth, mtu, iptables, sysctls, ...(nodeLifecycle ? { nodeLifecycle } : {}) };
}

const NODE_LIFECYCLE_KEYS = ['nodeMonitorPeriod', 'nodeMonitorGracePeriod', 'nodeLeaseDurationSeconds', 'defaultUnreachableTolerationSeconds', 'defaultNotReadyTolerationSeconds'] as const;

/** `cluster.nodeLifecycle`: kube-controller-manager's, the kubelet's and the apiserver's flags of a node failure (src/kube/node-lifecycle.ts). */
function validateNodeLifecycle(y: Y): NonNullable<ClusterSpec['nodeLifecycle']> {
  const m = y.map(NODE_LIFECYCLE_KEYS);
  const out = { ...DEFAULT_NODE_LIFECYCLE };
  const positive = (k: string): number | undefined => {
    const v = m.opt(k);
    if (!v) return undefined;
    const d = durationAt(v);
    if (d <= 0) v.fail(`${v.what} must be longer than 0`, 'a duration such as 5s');
    return d;
  };
  out.monitorPeriod = positive('nodeMonitorPeriod') ?? out.monitorPeriod;
  out.gracePeriod = positive('nodeMonitorGracePeriod') ?? out.gracePeriod;
  const lease = m.opt('nodeLeaseDurationSeconds');
  // The kubelet renews its lease every quarter of its duration (NodeLeaseRenewIntervalFraction).
  if (lease) out.leaseRenewInterval = lease.int(1, 86400) * 250_000_000;
  const un = m.opt('defaultUnreachableTolerationSeconds');
  if (un) out.unreachableTolerationSeconds = un.int(0, 86400 * 365);
  const nr = m.opt('defaultNotReadyTolerationSeconds');
  if (nr) out.notReadyTolerationSeconds = nr.int(0, 86400 * 365);
  return out;
}

function validateNetwork(y: Y, clusterMtu: number, podCIDR: Cidr): NetworkSpec {
  const m = y.map(NETWORK_KEYS, ['plugin']);
  const plugin = m.req('plugin').oneOf(['bridge', 'flannel', 'calico'] as const, UNSUPPORTED_PLUGINS);
  const wrong: readonly string[] = plugin === 'bridge' ? [...FLANNEL_ONLY, ...CALICO_ONLY] : plugin === 'flannel' ? [...BRIDGE_ONLY, ...CALICO_ONLY] : [...BRIDGE_ONLY, ...FLANNEL_ONLY, 'conflist'];
  for (const k of wrong) {
    const ky = m.opt(k as typeof NETWORK_KEYS[number]);
    if (!ky) continue;
    const owner = (FLANNEL_ONLY as readonly string[]).includes(k) ? 'flannel' : (CALICO_ONLY as readonly string[]).includes(k) ? 'calico' : 'bridge';
    ky.fail(`${ky.what} does not apply to network plugin "${plugin}"`,
      plugin === 'calico'
        ? (k === 'mtu' ? 'no mtu: Calico sizes the pods\' MTU from the host MTU and the encapsulation (1480 with IPIP)' : k === 'conflist' ? 'no conflist: calico-node installs 10-calico.conflist' : `plugin: ${owner} for its options`)
        : owner !== 'bridge' ? `plugin: ${owner} for ${owner}'s options`
        : k === 'mtu' ? 'no mtu: with flannel the pods\' MTU is FLANNEL_MTU from subnet.env (the backend\'s)' : 'the flannel delegate\'s options in conflist');
  }
  const hpY = m.opt('hairpinMode');
  const mtuY = m.opt('mtu');
  const net: NetworkSpec = {
    plugin,
    hairpinMode: hpY ? hpY.bool() : true,
    mtu: mtuY ? mtuY.int(68, 65535) : clusterMtu,
    pos: y.pos,
  };
  if (plugin === 'flannel') net.flannel = validateFlannel(m, podCIDR);
  if (plugin === 'calico') net.calico = validateCalico(m, podCIDR);
  const clY = m.opt('conflist');
  if (clY) {
    const text = clY.str('a CNI network configuration list (JSON) as a string');
    let conf: unknown;
    try {
      conf = JSON.parse(text);
    } catch (e) {
      clY.fail(`${clY.what} is not valid JSON: ${String((e as Error).message)}`);
    }
    if (typeof conf !== 'object' || conf === null || Array.isArray(conf) || !Array.isArray((conf as Record<string, unknown>).plugins))
      clY.fail(`${clY.what} must be a CNI network configuration list: a JSON object with a "plugins" array`);
    net.conflist = { text, pos: clY.pos };
  }
  return net;
}

/** `network:` keys of the flannel plugin: net-conf.json (or its backend alone), the subnet manager, --ip-masq, the udp proxy's cost. */
function validateFlannel(m: YMap, podCIDR: Cidr): FlannelSpec {
  const bY = m.opt('backend');
  const ncY = m.opt('netConf');
  if (bY && ncY) bY.fail(`${bY.what} and netConf both given`, 'the backend inside netConf ("Backend": {"Type": ...}), or backend alone');
  const backend = bY ? bY.oneOf(['vxlan', 'host-gw', 'udp'] as const) : 'vxlan';
  let text = JSON.stringify({ Network: podCIDR.text, Backend: { Type: backend } });
  let origin: TextOrigin | undefined;
  if (ncY) ({ text, origin } = readEmbeddedText(ncY, ncY.pos.file, 'flannel net-conf.json'));
  let cfg: FlannelConfig;
  try {
    cfg = parseFlannelConfig(text);
  } catch (e) {
    if (!(e instanceof FlannelConfigError) || !ncY || !origin) throw e;
    const at = e.line !== undefined ? mapPosition(origin, e.line, e.col ?? 1) : ncY.pos;
    throw new InputError(at.file, at.line, at.col, `flannel net-conf.json: ${e.message}`, e.expected);
  }
  if (cfg.network.addr !== podCIDR.addr || cfg.network.prefix !== podCIDR.prefix)
    ncY!.fail(`${ncY!.what}: Network ${formatCidr4(cfg.network.addr, cfg.network.prefix)} differs from cluster.podCIDR ${podCIDR.text}`, `"Network": "${podCIDR.text}" (flannel's Network is the cluster's pod network)`);
  const smY = m.opt('subnetManager');
  const subnetManager = smY ? smY.oneOf(['kube', 'etcd'] as const) : 'kube';
  const imY = m.opt('ipMasq');
  const ucY = m.opt('udpCrossingCost');
  if (ucY && cfg.backend.type !== 'udp') ucY.fail(`${ucY.what} applies to the udp backend only (this network's backend is ${cfg.backend.type})`);
  return {
    config: cfg, text, subnetManager,
    ipMasq: imY ? imY.bool() : true,
    udpCrossingCost: ucY ? durationAt(ucY) : DEFAULT_UDP_CROSSING_COST,
    pos: ncY?.pos ?? bY?.pos ?? m.owner.pos,
  };
}

/**
 * `network:` keys of the calico plugin: the IP pools (default: one pool over cluster.podCIDR,
 * blockSize 26, ipipMode Always, natOutgoing true, as calico-node's CALICO_IPV4POOL_* defaults
 * create it) and the BGP topology (BGPConfiguration's asNumber and node-to-node mesh, the route
 * reflector nodes and their cluster ID, global BGPPeers with the underlay router).
 */
function validateCalico(m: YMap, podCIDR: Cidr): CalicoSpec {
  const pools: CalicoPoolSpec[] = [];
  const poolsY = m.opt('ipPools');
  if (poolsY) {
    const names = new UniqueNames('IP pool name');
    const items = poolsY.list();
    if (items.length === 0) poolsY.fail(`${poolsY.what} is empty`, 'at least one IP pool (or no ipPools key for the default pool)');
    for (const py of items) {
      const p = py.map(CALICO_POOL_KEYS, ['cidr']);
      const nameY = p.opt('name');
      const name = nameY ? nameY.str('a pool name') : `pool-${pools.length}`;
      if (nameY) names.add(name, nameY);
      const cidrY = p.req('cidr');
      const cidr = cidrAt(cidrY, true);
      if (!cidrWithin(cidr, podCIDR)) cidrY.fail(`${cidrY.what} ${cidr.text} is not inside cluster.podCIDR ${podCIDR.text}`, `a CIDR inside ${podCIDR.text} (kube-proxy's cluster CIDR must cover every pod)`);
      for (const q of pools) if (cidrOverlaps(q.cidr, cidr)) cidrY.fail(`${cidrY.what} ${cidr.text} overlaps IP pool ${q.name} (${q.cidr.text}, line ${q.pos.line})`);
      const bsY = p.opt('blockSize');
      const blockSize = bsY ? bsY.int(20, 32) : 26;
      if (blockSize < cidr.prefix) bsY!.fail(`${bsY!.what} ${blockSize} is larger than the pool ${cidr.text}`, `a block size of at least /${cidr.prefix}`);
      const imY = p.opt('ipipMode');
      const ipipMode = imY ? imY.oneOf(['Always', 'CrossSubnet', 'Never'] as const) : 'Always';
      const noY = p.opt('natOutgoing');
      pools.push({ name, cidr, blockSize, ipipMode, natOutgoing: noY ? noY.bool() : true, pos: py.pos });
    }
  } else {
    pools.push({ name: 'default-ipv4-ippool', cidr: podCIDR, blockSize: podCIDR.prefix > 26 ? podCIDR.prefix : 26, ipipMode: 'Always', natOutgoing: true, pos: m.owner.pos });
  }
  const spec: CalicoSpec = { pools, asNumber: 64512, nodeToNodeMesh: true, routeReflectors: [], routeReflectorPos: [], routeReflectorClusterID: '244.0.0.1', peers: [], pos: m.owner.pos };
  const bgpY = m.opt('bgp');
  if (bgpY) {
    const b = bgpY.map(CALICO_BGP_KEYS);
    const asY = b.opt('asNumber');
    if (asY) spec.asNumber = asY.int(1, 4294967295);
    const rrY = b.opt('routeReflectors');
    if (rrY) {
      const seen = new UniqueNames('route reflector');
      for (const ny of rrY.list()) { const n = ny.str('a node name'); seen.add(n, ny); spec.routeReflectors.push(n); spec.routeReflectorPos.push(ny.pos); }
      if (!spec.routeReflectors.length) rrY.fail(`${rrY.what} is empty`, 'the names of the nodes that reflect routes');
    }
    const meshY = b.opt('nodeToNodeMesh');
    spec.nodeToNodeMesh = meshY ? meshY.bool() : spec.routeReflectors.length === 0;
    if (meshY && spec.nodeToNodeMesh && spec.routeReflectors.length) meshY.fail(`${meshY.what} is true but routeReflectors are given`, 'nodeToNodeMesh: false with route reflectors (every node then peers with the reflectors)');
    const idY = b.opt('routeReflectorClusterID');
    if (idY) {
      const t = idY.str('an IPv4-formatted cluster ID');
      if (parseIPv4(t) === undefined) idY.fail(`${idY.what} ${JSON.stringify(t)} is not an IPv4-formatted cluster ID`, 'A.B.C.D, e.g. 244.0.0.1');
      spec.routeReflectorClusterID = t;
    }
    const peersY = b.opt('peers');
    if (peersY) {
      const items = peersY.list();
      if (items.length > 1) items[1]!.fail(`${peersY.what}: only one peer can be given — the underlay router`, 'one entry {router: router, asNumber: N}');
      for (const py of items) {
        const p = py.map(CALICO_PEER_KEYS, ['router', 'asNumber']);
        spec.peers.push({ router: p.req('router').str('the underlay router\'s name'), asNumber: p.req('asNumber').int(1, 4294967295), pos: py.pos });
      }
    }
    if (!spec.nodeToNodeMesh && !spec.routeReflectors.length && !spec.peers.length) bgpY.fail(`${bgpY.what}: with nodeToNodeMesh false and no route reflectors or peers, no node learns any other node's routes`, 'routeReflectors, peers, or the node-to-node mesh');
  }
  return spec;
}
