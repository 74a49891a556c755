/**
 * The Calico CNI plugin (projectcalico/calico cni-plugin: k8s.go CmdAddK8s/CmdDelK8s,
 * pkg/dataplane/linux/dataplane_linux.go DoNetworking/SetupRoutes/configureSysctls) with
 * `calico-ipam`, acting on a node only through `Netlink` (every step logged as the ip/sysctl
 * command), and its `10-calico.conflist` as calico-node installs it.
 *
 * ADD, in the plugin's order:
 *  1. calico-ipam: one IPv4 address for handle `k8s-pod-network.<containerID>` with the
 *     attributes {namespace, node, pod} (a requested address — CNI_ARGS IP / the
 *     `cni.projectcalico.org/ipAddrs` annotation — is assigned as given), from the pools of
 *     `ipam.ipv4_pools` or every enabled pool; the result is the address as a /32.
 *  2. The routes for the pod: the conflist's none → the default route 0.0.0.0/0.
 *  3. DoNetworking: `ip link add eth0 [mtu M] type veth peer name <cali…>` (the host end
 *     named by `workloadInterfaceName(namespace, pod)`, its MAC set to ee:ee:ee:ee:ee:ee;
 *     the container end keeps the kernel's random MAC, drawn from the run's Rng), container
 *     end up, `169.254.1.1/32 dev eth0 scope link`, then each route `via 169.254.1.1 dev
 *     eth0`, then the /32 address on eth0, then the container's `net.ipv4.ip_forward`
 *     (0, or 1 with container_settings.allow_ip_forwarding). On the host: route_localnet=1,
 *     neigh proxy_delay=0, proxy_arp=1, forwarding=1 on the cali interface (then IPv6
 *     accept_ra=0, whose failure the plugin only logs), the interface up, and SetupRoutes:
 *     `<podIP>/32 dev cali… scope link` (no protocol given: the kernel's RTPROT_BOOT, which
 *     is also felix's DeviceRouteProtocol default 3); a /32 already routed elsewhere is an
 *     error.
 *     The real plugin creates both veth ends inside the pod and moves the host end out;
 *     the model creates the host end in the host namespace directly (Netlink has no
 *     `ip link set netns`), with the same end state.
 *     A stale host interface of that name is deleted first. A failure after IPAM releases
 *     the address again.
 * DEL: delete the container's eth0 (its veth peer and the host route go with it; a missing
 * netns or link is not an error), then release the handle's addresses.
 *
 * Determinism: one Rng draw (the container end's MAC) per ADD.
 * Not modelled: IPv6, the WorkloadEndpoint/pod annotation writes (the result carries what
 * felix needs instead), hwAddr/ipAddrsNoIpam/floating-IP annotations, num_queues, host-local
 * IPAM under the calico plugin, the portmap and bandwidth plugins that follow it in the list.
 */
import type { Rng } from '../engine/rng.js';
import { NetlinkError, type Netlink } from '../kernel/netlink.js';
import { CniConfigError, CniError, type NetworkConfigList, type JsonValue } from '../cni/index.js';
import { joinPath } from '../cni/json-pos.js';
import { formatMac } from '../cni/ip4.js';
import { CalicoIpam, IpamError } from './ipam.js';
import { workloadInterfaceName } from './names.js';

/** The host end's MAC on every workload interface. */
export const CALICO_HOST_MAC = 'ee:ee:ee:ee:ee:ee';
/** The pods' next hop, answered by the host through proxy ARP. */
export const CALICO_GATEWAY = '169.254.1.1';

/** The calico plugin's configuration (types.NetConf), the keys podwire reads. */
export interface CalicoNetConf {
  type: 'calico';
  cniVersion: string;
  name: string;
  /** The node IPAM assigns for (`nodename`; default: the Netlink's node). */
  nodename?: string;
  /** Veth MTU; 0 = not set (the kernel's 1500). */
  mtu: number;
  ipam: { type: 'calico-ipam'; assignIpv4: boolean; ipv4Pools?: string[] };
  /** Routes to program in the pod (CIDRs); empty → 0.0.0.0/0. */
  routes: string[];
  allowIpForwarding: boolean;
  raw: { [k: string]: JsonValue };
}

const CALICO_KEYS = [
  'type', 'name', 'cniVersion', 'capabilities', 'runtimeConfig', 'args', 'dns',
  'log_level', 'log_file_path', 'log_file_max_size', 'log_file_max_age', 'log_file_max_count',
  'datastore_type', 'nodename', 'nodename_file', 'nodename_file_optional', 'mtu', 'ipam', 'policy',
  'kubernetes', 'container_settings', 'feature_control', 'endpoint_status_dir', 'etcd_endpoints',
  'etcd_discovery_srv', 'etcd_key_file', 'etcd_cert_file', 'etcd_ca_cert_file', 'include_default_routes', 'routes',
];
const IPAM_KEYS = ['type', 'assign_ipv4', 'assign_ipv6', 'ipv4_pools', 'ipv6_pools'];

type Obj = { [k: string]: JsonValue };

/**
 * The `calico` plugin at `index` of a parsed conflist (parseConflist keeps it as an opaque
 * plugin), validated: unknown keys, types, `ipam.type` other than calico-ipam, pools that
 * are not strings. Errors are CniConfigError with the JSON path and the position in the text.
 */
export function calicoNetConf(list: NetworkConfigList, index = 0): CalicoNetConf {
  const path = `plugins[${index}]`;
  const plugin = list.plugins[index];
  const fail = (p: string, expected: string): never => {
    let pos = list.positions?.get(p);
    for (let q = p; !pos && q.includes('.'); ) { q = q.slice(0, Math.max(q.lastIndexOf('.'), q.lastIndexOf('['))); pos = list.positions?.get(q); }
    throw new CniConfigError(p, expected, pos ?? list.positions?.get(path));
  };
  if (!plugin) fail(path, 'a plugin configuration (the list has no plugin there)');
  const o = plugin!.raw;
  if (o.type !== 'calico') fail(joinPath(path, 'type'), `"calico", got ${JSON.stringify(o.type)}`);
  for (const k of Object.keys(o)) if (!CALICO_KEYS.includes(k)) fail(joinPath(path, k), `no key ${JSON.stringify(k)}: not a calico plugin key (known keys: ${CALICO_KEYS.join(', ')})`);
  const str = (obj: Obj, k: string, p: string): string | undefined => {
    const v = obj[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') fail(joinPath(p, k), `a string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const obj = (v: JsonValue | undefined, p: string): Obj | undefined => {
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(p, `an object, got ${JSON.stringify(v)}`);
    return v as Obj;
  };
  let mtu = 0;
  if (o.mtu !== undefined) {
    if (typeof o.mtu !== 'number' || !Number.isInteger(o.mtu) || (o.mtu !== 0 && (o.mtu < 68 || o.mtu > 65535))) fail(joinPath(path, 'mtu'), `0 (unset) or an MTU 68-65535, got ${JSON.stringify(o.mtu)}`);
    mtu = o.mtu as number;
  }
  const ip = obj(o.ipam, joinPath(path, 'ipam'));
  if (!ip) fail(joinPath(path, 'ipam'), 'an "ipam" object ({"type": "calico-ipam"})');
  const ipp = joinPath(path, 'ipam');
  if (ip!.type !== 'calico-ipam') fail(joinPath(ipp, 'type'), `"calico-ipam" (the IPAM podwire implements for the calico plugin), got ${JSON.stringify(ip!.type)}`);
  for (const k of Object.keys(ip!)) if (!IPAM_KEYS.includes(k)) fail(joinPath(ipp, k), `no key ${JSON.stringify(k)}: not a calico-ipam key (known keys: ${IPAM_KEYS.join(', ')})`);
  let assignIpv4 = true;
  const a4 = str(ip!, 'assign_ipv4', ipp);
  if (a4 !== undefined) {
    if (a4 !== 'true' && a4 !== 'false') fail(joinPath(ipp, 'assign_ipv4'), `"true" or "false", got ${JSON.stringify(a4)}`);
    assignIpv4 = a4 === 'true';
  }
  if (!assignIpv4) fail(joinPath(ipp, 'assign_ipv4'), '"true" (IPv6-only pods are not modelled)');
  const a6 = str(ip!, 'assign_ipv6', ipp);
  if (a6 === 'true') fail(joinPath(ipp, 'assign_ipv6'), '"false" (IPv6 is not modelled)');
  const strings = (v: JsonValue | undefined, p: string): string[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(p, `an array of strings, got ${JSON.stringify(v)}`);
    return v as string[];
  };
  const pools = strings(ip!.ipv4_pools, joinPath(ipp, 'ipv4_pools'));
  const routes = strings(o.routes, joinPath(path, 'routes')) ?? [];
  const cs = obj(o.container_settings, joinPath(path, 'container_settings'));
  let allowIpForwarding = false;
  if (cs) {
    for (const k of Object.keys(cs)) if (k !== 'allow_ip_forwarding') fail(joinPath(joinPath(path, 'container_settings'), k), 'no such key (known: allow_ip_forwarding)');
    if (cs.allow_ip_forwarding !== undefined && typeof cs.allow_ip_forwarding !== 'boolean') fail(joinPath(joinPath(path, 'container_settings'), 'allow_ip_forwarding'), 'true or false');
    allowIpForwarding = cs.allow_ip_forwarding === true;
  }
  const conf: CalicoNetConf = {
    type: 'calico', cniVersion: plugin!.cniVersion, name: plugin!.name, mtu,
    ipam: { type: 'calico-ipam', assignIpv4, ...(pools ? { ipv4Pools: pools } : {}) },
    routes, allowIpForwarding, raw: o,
  };
  const nodename = str(o, 'nodename', path);
  if (nodename !== undefined) conf.nodename = nodename;
  return conf;
}

/**
 * The calico-node manifest's `cni_network_config`, as install-cni writes it to
 * /etc/cni/net.d/10-calico.conflist (placeholders filled: node name, MTU, kubeconfig):
 * calico with calico-ipam, then portmap and bandwidth.
 */
export function calicoConflistText(o: { nodename: string; mtu: number }): string {
  return `{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes",
      "nodename": ${JSON.stringify(o.nodename)},
      "mtu": ${o.mtu},
      "ipam": {
          "type": "calico-ipam"
      },
      "policy": {
          "type": "k8s"
      },
      "kubernetes": {
          "kubeconfig": "/etc/cni/net.d/calico-kubeconfig"
      }
    },
    {
      "type": "portmap",
      "snat": true,
      "capabilities": {"portMappings": true}
    },
    {
      "type": "bandwidth",
      "capabilities": {"bandwidth": true}
    }
  ]
}
`;
}

export interface CalicoAddArgs {
  /** CNI_CONTAINERID. */
  containerID: string;
  /** CNI_NETNS: the pod's netns name in the model. */
  netns: string;
  /** CNI_IFNAME ("eth0"). */
  ifName: string;
  /** K8S_POD_NAMESPACE / K8S_POD_NAME. */
  namespace: string;
  pod: string;
  /** Requested IPv4 addresses (CNI_ARGS IP= or the ipAddrs annotation). */
  ips?: string[];
}

export type CalicoDelArgs = Omit<CalicoAddArgs, 'ips'>;

/** What felix learns about the new workload endpoint (the pod's WorkloadEndpoint). */
export interface CalicoEndpoint {
  node: string;
  namespace: string;
  pod: string;
  containerID: string;
  /** The host-side interface: cali + 11 hex. */
  iface: string;
  /** The container end's MAC. */
  mac: string;
  /** "a.b.c.d/32". */
  ipNetworks: string[];
}

export interface CalicoResult {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { version?: '4'; address: string; interface: number }[];
  routes: { dst: string }[];
  dns: Record<string, never>;
  /** podwire extension: the endpoint as felix sees it. */
  endpoint: CalicoEndpoint;
}

export function calicoHandle(containerID: string): string {
  return `k8s-pod-network.${containerID}`;
}

const fail = (msg: string): never => { throw new CniError(999, msg); };

function best(nl: Netlink, netns: string, key: string, value: string): void {
  try { nl.sysctlSet(netns, key, value); } catch { /* the plugin logs and goes on */ }
}

/** CNI ADD of the calico plugin for one pod. Throws CniError (IPAM or dataplane failure). */
export function calicoCmdAdd(nl: Netlink, rng: Rng, ipam: CalicoIpam, conf: CalicoNetConf, args: CalicoAddArgs): CalicoResult {
  const node = conf.nodename ?? nl.nodeName;
  if (!nl.netnsExists(args.netns)) fail(`failed to open netns "${args.netns}": no such netns`);
  const handle = calicoHandle(args.containerID);
  const attrs = { namespace: args.namespace, node, pod: args.pod };
  let ips: string[];
  try {
    if (args.ips && args.ips.length > 0) {
      for (const ip of args.ips) ipam.assignIp(ip.split('/')[0]!, handle, node, attrs);
      ips = args.ips.map((ip) => ip.split('/')[0]!);
    } else {
      ips = ipam.autoAssign({ handle, host: node, attrs, ...(conf.ipam.ipv4Pools ? { pools: conf.ipam.ipv4Pools } : {}) });
    }
  } catch (e) {
    if (e instanceof IpamError) { ipam.releaseByHandle(handle); fail(e.message); }
    throw e;
  }
  try {
    return doNetworking(nl, rng, conf, args, node, ips);
  } catch (e) {
    ipam.releaseByHandle(handle);
    throw e;
  }
}

function doNetworking(nl: Netlink, rng: Rng, conf: CalicoNetConf, args: CalicoAddArgs, node: string, ips: string[]): CalicoResult {
  const host = workloadInterfaceName(args.namespace, args.pod);
  const ifn = args.ifName;
  const hostMac = Uint8Array.from(CALICO_HOST_MAC.split(':'), (x) => parseInt(x, 16));
  // Clean up if the host veth exists.
  if (nl.linkExists('host', host)) nl.linkDel('host', host);
  const contMac = rng.mac();
  try {
    nl.linkAddVeth(args.netns, ifn, { name: host, netns: 'host' }, { mac: contMac, peerMac: hostMac, ...(conf.mtu > 0 ? { mtu: conf.mtu } : {}) });
  } catch (e) {
    fail(`failed to add veth ${ifn}/${host}: ${(e as Error).message}`);
  }
  nl.linkSetUp(args.netns, ifn, true);
  const routes = conf.routes.length > 0 ? conf.routes : ['0.0.0.0/0'];
  try {
    nl.routeAdd(args.netns, { dst: `${CALICO_GATEWAY}/32`, dev: ifn, scope: 'link' });
  } catch (e) {
    fail(`failed to add route inside the container: ${(e as Error).message}`);
  }
  for (const r of routes) {
    try {
      nl.routeAdd(args.netns, { dst: r === '0.0.0.0/0' ? 'default' : r, via: CALICO_GATEWAY, dev: ifn });
    } catch (e) {
      fail(`failed to add IPv4 route for ${r} via ${CALICO_GATEWAY}: ${(e as Error).message}`);
    }
  }
  for (const ip of ips) {
    try {
      nl.addrAdd(args.netns, ifn, `${ip}/32`);
    } catch (e) {
      fail(`failed to add IP addr to "${ifn}": ${(e as Error).message}`);
    }
  }
  nl.sysctlSet(args.netns, 'net.ipv4.ip_forward', conf.allowIpForwarding ? '1' : '0');
  for (const [k, v] of [
    [`net.ipv4.conf.${host}.route_localnet`, '1'],
    [`net.ipv4.neigh.${host}.proxy_delay`, '0'],
    [`net.ipv4.conf.${host}.proxy_arp`, '1'],
    [`net.ipv4.conf.${host}.forwarding`, '1'],
  ] as const) {
    try {
      nl.sysctlSet('host', k, v);
    } catch (e) {
      fail(`error configuring sysctls for interface: ${host}, error: failed to set ${k}=${v}: ${(e as Error).message}`);
    }
  }
  best(nl, 'host', `net.ipv6.conf.${host}.accept_ra`, '0');
  nl.linkSetUp('host', host, true);
  for (const ip of ips) setupRoute(nl, host, ip);
  return {
    cniVersion: conf.cniVersion,
    interfaces: [{ name: host }, { name: ifn, mac: formatMac(contMac), sandbox: `/var/run/netns/${args.netns}` }],
    ips: ips.map((ip) => ({ ...(['0.3.0', '0.3.1', '0.4.0'].includes(conf.cniVersion) ? { version: '4' as const } : {}), address: `${ip}/32`, interface: 1 })),
    routes: routes.map((dst) => ({ dst })),
    dns: {},
    endpoint: { node, namespace: args.namespace, pod: args.pod, containerID: args.containerID, iface: host, mac: formatMac(contMac), ipNetworks: ips.map((ip) => `${ip}/32`) },
  };
}

/**
 * SetupRoutes for one address: `<ip>/32 dev <host> scope link`. The plugin accepts an
 * identical route already on that interface (felix racing it); in the model the interface
 * is new (a stale one of that name was deleted with its routes), so an existing /32 is on
 * another interface: the plugin's error.
 */
function setupRoute(nl: Netlink, host: string, ip: string): void {
  try {
    nl.routeAdd('host', { dst: `${ip}/32`, dev: host, scope: 'link' });
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'EEXIST') fail(`error adding host side routes for interface: ${host}, error: route (Dst: ${ip}/32, Scope: link) already exists for an interface other than '${host}'`);
    fail(`error adding host side routes for interface: ${host}, error: ${(e as Error).message}`);
  }
}

/** CNI DEL of the calico plugin: idempotent. Returns the released addresses. */
export function calicoCmdDel(nl: Netlink, ipam: CalicoIpam, _conf: CalicoNetConf, args: CalicoDelArgs): { releasedIPs: string[]; removedLink: boolean } {
  let removedLink = false;
  if (args.netns !== '' && nl.netnsExists(args.netns) && nl.linkExists(args.netns, args.ifName)) {
    try {
      nl.linkDel(args.netns, args.ifName);
      removedLink = true;
    } catch (e) {
      if (!(e instanceof NetlinkError) || e.code !== 'ENODEV') fail(`failed to clean up workload's veth inside netns: ${(e as Error).message}`);
    }
  }
  return { releasedIPs: ipam.releaseByHandle(calicoHandle(args.containerID)), removedLink };
}
