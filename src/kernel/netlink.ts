/**
 * The configuration interface of a node: what `ip link/addr/route/neigh`,
 * `bridge link/fdb` and `sysctl` do on a real Linux host. Agents (the CNI
 * plugin, flanneld, felix, kube-proxy) change the model only through this, so
 * every change is logged and can be printed as the commands a real agent would
 * have run (`podwire run --show-config`) and replayed on a real kernel.
 *
 * Errors: every method throws `NetlinkError` with an errno-like code, the way
 * the kernel answers (EEXIST for a duplicate, ENODEV for an unknown device,
 * ENOENT for an unknown netns or route, EINVAL for a bad argument).
 */

export type Errno = 'EEXIST' | 'ENODEV' | 'ENOENT' | 'EINVAL' | 'ENETUNREACH' | 'EBUSY';

export class NetlinkError extends Error {
  constructor(readonly code: Errno, message: string) {
    super(`${code}: ${message}`);
    this.name = 'NetlinkError';
  }
}

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'local' | 'broadcast';
export type RouteScope = 'global' | 'link' | 'host';

export interface RouteSpec {
  /** "10.244.1.0/24", "default" or "0.0.0.0/0". */
  dst: string;
  type?: RouteType;
  /** Gateway address ("10.244.0.1"). */
  via?: string;
  dev?: string;
  scope?: RouteScope;
  onlink?: boolean;
  metric?: number;
  /** Preferred source address. */
  src?: string;
  /** Routing protocol label, e.g. 'kernel', 'boot', 'static', 'bird'. */
  proto?: string;
  /** Routing table id (254 main, 255 local). */
  table?: number;
}

/** A vxlan device's attributes (the IFLA_VXLAN_* flanneld sets). */
export interface VxlanSpec {
  /** VNI, 0..16777215. */
  vni: number;
  /** UDP destination (and listening) port; default 8472, the kernel's. */
  dstport?: number;
  /** Source address of the outer header ("192.168.1.10"). */
  local?: string;
  /** Lower (underlay) device name: the default MTU follows it, remotes are reached through it. */
  dev?: string;
  /** Learn remote MACs from received frames (flannel: false). Default true as in the kernel; only false is modelled. */
  learning?: boolean;
  mac?: Uint8Array;
  mtu?: number;
}

/** An ipip tunnel's attributes (`ip link add NAME type ipip …`); omitted = any / inherit. */
export interface IpipSpec {
  remote?: string;
  local?: string;
  /** Default inherit. */
  ttl?: number | 'inherit';
  /** Default 0; 'inherit' copies the inner TOS. */
  tos?: number | 'inherit';
  /** Default true (the kernel's default for a new tunnel); tunl0 itself has nopmtudisc. */
  pmtudisc?: boolean;
  /** Default 1480. */
  mtu?: number;
}

export type NeighState = 'permanent' | 'reachable' | 'stale' | 'noarp';

export interface LinkInfo {
  name: string;
  kind: 'loopback' | 'veth' | 'bridge' | 'nic' | string;
  ifindex: number;
  mac: Uint8Array;
  mtu: number;
  up: boolean;
  master?: string;
  /** For a veth: its peer's netns and name. */
  peer?: { netns: string; name: string };
}

export interface Netlink {
  /** The node this configures. */
  readonly nodeName: string;
  /** `ip netns add NAME`. The node's own namespace is called 'host' and always exists. */
  netnsAdd(name: string): void;
  netnsDel(name: string): void;
  netnsExists(name: string): boolean;

  /** `ip link add NAME type veth peer name PEER netns PEERNS` (created down). */
  linkAddVeth(netns: string, name: string, peer: { name: string; netns: string }, opts?: { mac?: Uint8Array; peerMac?: Uint8Array; mtu?: number }): void;
  /** `ip link add NAME type bridge` (created down). */
  linkAddBridge(netns: string, name: string, opts?: { mac?: Uint8Array; mtu?: number }): void;
  /** `ip link del NAME` (deleting a veth end deletes its peer too). */
  linkDel(netns: string, name: string): void;
  linkExists(netns: string, name: string): boolean;
  linkGet(netns: string, name: string): LinkInfo;
  linkList(netns: string): LinkInfo[];
  /** `ip link set NAME master BRIDGE`. */
  linkSetMaster(netns: string, name: string, master: string): void;
  /** `ip link set NAME up|down`. */
  linkSetUp(netns: string, name: string, up?: boolean): void;
  linkSetMtu(netns: string, name: string, mtu: number): void;
  linkSetAddress(netns: string, name: string, mac: Uint8Array): void;
  /** `bridge link set dev NAME hairpin on|off`. */
  linkSetHairpin(netns: string, name: string, on: boolean): void;

  /** `ip addr add A.B.C.D/N dev DEV` (also adds the local and prefix routes as the kernel does). */
  addrAdd(netns: string, dev: string, cidr: string): void;
  addrDel(netns: string, dev: string, cidr: string): void;
  /** Addresses on a device as "A.B.C.D/N". */
  addrList(netns: string, dev: string): string[];

  /** `ip route add ...` */
  routeAdd(netns: string, route: RouteSpec): void;
  /** `ip route replace ...` */
  routeReplace(netns: string, route: RouteSpec): void;
  routeDel(netns: string, route: RouteSpec): void;

  /** `ip neigh add|replace IP lladdr MAC dev DEV nud STATE`. */
  neighReplace(netns: string, ip: string, mac: Uint8Array, dev: string, state?: NeighState): void;
  neighDel(netns: string, ip: string, dev: string): void;

  /**
   * `bridge fdb add|append|replace MAC dev DEV [dst IP] [master|self] [permanent]`. On a vxlan
   * device the entry is the device's own (`self`, with `dst` the remote VTEP); `append` adds
   * a further remote to an existing MAC, `replace` (what flanneld's NeighSet does) overwrites.
   */
  fdbAdd(netns: string, mac: Uint8Array, dev: string, opts?: { dst?: string; master?: boolean; permanent?: boolean; op?: 'add' | 'append' | 'replace' }): void;
  fdbDel(netns: string, mac: Uint8Array, dev: string, opts?: { dst?: string }): void;

  /** `sysctl -w KEY=VALUE`, keys as /proc/sys paths with dots ('net.ipv4.ip_forward', 'net.ipv4.conf.cni0.proxy_arp'). */
  sysctlSet(netns: string, key: string, value: string): void;
  sysctlGet(netns: string, key: string): string;
}
