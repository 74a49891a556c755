/**
 * A network namespace: devices, IPv4 addresses, routing tables, neighbour
 * table, sysctls, netfilter hook lists and sockets — everything `ip netns exec`
 * gives its own copy of.
 */
import type { NetDevice } from './device.js';
import type { Node } from './node.js';
import type { Skb } from './skb.js';
import type { DropReason } from '../trace/events.js';
import { Fib, RT_TABLE_LOCAL, RT_TABLE_MAIN, type Route } from './fib.js';
import { HookTable } from './hooks.js';
import { Ipv4Stack } from './ipv4.js';
import { Sockets } from './sockets.js';
import { prefixMask } from '../wire/bytes.js';
import { NeighTable } from './neigh.js';
import { CowMap } from './cow-map.js';
import type { RouteScope, RouteType } from './netlink.js';

export interface IfAddr {
  addr: number;
  prefix: number;
  dev: NetDevice;
  broadcast: number;
  scope: 'global' | 'link' | 'host';
}

/** Namespace-wide sysctl defaults (net.ipv4.*), as a fresh netns has them. */
const NETNS_SYSCTL_DEFAULTS: Record<string, string> = {
  'net.ipv4.ip_forward': '0',
  'net.ipv4.ip_default_ttl': '64',
  'net.ipv4.icmp_echo_ignore_all': '0',
  'net.ipv4.icmp_ratelimit': '1000',
  'net.ipv4.ip_local_port_range': '32768\t60999',
  'net.ipv4.tcp_timestamps': '1',
  'net.ipv4.tcp_sack': '1',
  'net.ipv4.tcp_rmem': '4096\t131072\t6291456',
  'net.core.rmem_max': '212992',
  'net.ipv4.tcp_window_scaling': '1',
  // br_netfilter loaded (as on Kubernetes nodes and this project's kernel hosts): new namespaces start with 1.
  'net.bridge.bridge-nf-call-iptables': '1',
};

/** Per-device defaults (net.ipv4.conf.<dev>.*). */
export const DEV_CONF_DEFAULTS: Record<string, string> = {
  forwarding: '0',
  proxy_arp: '0',
  proxy_arp_pvlan: '0',
  rp_filter: '0',
  arp_ignore: '0',
  arp_announce: '0',
  arp_accept: '0',
  arp_notify: '0',
  send_redirects: '1',
  accept_local: '0',
  route_localnet: '0',
};

/** The defaults every namespace forks (never written: a fork copies them on its first write). */
const NETNS_SYSCTLS = new CowMap(Object.entries(NETNS_SYSCTL_DEFAULTS));
const DEV_CONFS = new CowMap(Object.entries(DEV_CONF_DEFAULTS));

/**
 * A route fib_add_ifaddr adds for `ifa` (proto kernel, src = the address). One object literal,
 * so every such route has one hidden class (issue 9: built by spreading a shared base, each
 * route got a map of its own — about 1.4 KB per pod).
 */
function kernelRoute(ifa: IfAddr, dst: number, prefix: number, type: RouteType, scope: RouteScope, table: number): Route {
  return { gw: 0, dev: ifa.dev, metric: 0, onlink: false, src: ifa.addr, proto: 'kernel', dst, prefix, type, scope, table };
}

/** Above this many addresses a namespace indexes them (see Netns.addrIdx). */
const ADDR_INDEX_FROM = 8;

export class Netns {
  readonly devices = new Map<string, NetDevice>();
  readonly addrs: IfAddr[] = [];
  /**
   * `addrs` indexed by address (how many entries carry it) and by broadcast address: the
   * kernel's inet_lookup_ifaddr_rcu is a hash lookup, and a node in kube-proxy's ipvs mode has
   * one address per Service on kube-ipvs0 — a scan per packet would grow with the Services.
   * Built once the namespace has more than ADDR_INDEX_FROM addresses (a pod has two: a scan
   * of them is as fast and two Maps per pod cost 370 bytes, issue 9), kept from then on.
   */
  private addrIdx: Map<number, number> | null = null;
  private bcastIdx: Map<number, IfAddr[]> | null = null;

  private indexAddr(ifa: IfAddr, add: boolean): void {
    if (this.addrIdx === null || this.bcastIdx === null) {
      if (add && this.addrs.length > ADDR_INDEX_FROM) this.buildAddrIndex();
      return;
    }
    const n = (this.addrIdx.get(ifa.addr) ?? 0) + (add ? 1 : -1);
    if (n > 0) this.addrIdx.set(ifa.addr, n); else this.addrIdx.delete(ifa.addr);
    const l = this.bcastIdx.get(ifa.broadcast);
    if (add) { if (l) l.push(ifa); else this.bcastIdx.set(ifa.broadcast, [ifa]); }
    else if (l) { const i = l.indexOf(ifa); if (i >= 0) l.splice(i, 1); if (!l.length) this.bcastIdx.delete(ifa.broadcast); }
  }

  /** The indexes of every address in `addrs` (called with the newest already in it). */
  private buildAddrIndex(): void {
    const byAddr = new Map<number, number>(), byBcast = new Map<number, IfAddr[]>();
    for (const a of this.addrs) {
      byAddr.set(a.addr, (byAddr.get(a.addr) ?? 0) + 1);
      const l = byBcast.get(a.broadcast);
      if (l) l.push(a); else byBcast.set(a.broadcast, [a]);
    }
    this.addrIdx = byAddr;
    this.bcastIdx = byBcast;
  }

  /** Whether `ip` is one of this namespace's addresses (on any device). */
  hasAddr(ip: number): boolean {
    if (this.addrIdx !== null) return this.addrIdx.has(ip);
    for (const a of this.addrs) if (a.addr === ip) return true;
    return false;
  }

  /** Whether `ip` is the broadcast address of an address on `dev`. */
  isBroadcastOn(dev: NetDevice, ip: number): boolean {
    const l = this.bcastIdx !== null ? this.bcastIdx.get(ip) : this.addrs;
    if (l) for (const a of l) if (a.dev === dev && a.broadcast === ip) return true;
    return false;
  }

  /** Devices by ifindex (made on demand: nothing on the data path asks for it). */
  get byIndex(): Map<number, NetDevice> {
    return new Map([...this.devices.values()].map((d) => [d.ifindex, d]));
  }
  /** Routes name their device by name and ifindex when held in shared form (fib.ts SharedBirdRoute). */
  readonly fib = new Fib((name, ifindex) => {
    const d = this.devices.get(name);
    if (d !== undefined && d.ifindex === ifindex) return d;
    for (const x of this.devices.values()) if (x.ifindex === ifindex) return x; // renamed since
    return null;
  });
  readonly neighs = new NeighTable();
  readonly hooks = new HookTable();
  /** Copy-on-write forks of the defaults (cow-map.ts): a namespace that changes none holds no copy. */
  readonly sysctls = NETNS_SYSCTLS.fork();
  /** net.ipv4.conf.all.*: combined with each device's own value (IN_DEV_ORCONF / IN_DEV_MAXCONF). */
  readonly confAll = DEV_CONFS.fork();
  /** net.ipv4.conf.default.*: copied (forked) into a device's conf when it appears in this namespace. */
  readonly confDefault = DEV_CONFS.fork();
  private ipv4: Ipv4Stack | null = null;
  /** The IPv4 data path, made on first use (its constructor is pure; most pods of a large cluster never see a packet). */
  get stack(): Ipv4Stack { return this.ipv4 ??= new Ipv4Stack(this); }
  /**
   * nf_ct_attach's hook, set by conntrack when it is loaded in this namespace: a packet the stack
   * makes about another (an ICMP error) is made RELATED to the other's connection.
   */
  ctAttach: ((to: Skb, from: Skb) => void) | null = null;
  readonly sockets: Sockets;
  /** Cached: net.ipv4.ip_forward === '1'. */
  forwarding = false;

  constructor(readonly node: Node, readonly name: string) {
    for (const [k, v] of Object.entries(node.world.sysctlOverrides)) {
      if (k.startsWith('net.ipv4.conf.all.')) this.confAll.set(k.slice(18), v);
      else if (k.startsWith('net.ipv4.conf.default.')) this.confDefault.set(k.slice(22), v);
      else this.sysctls.set(k, v);
    }
    this.forwarding = this.sysctls.get('net.ipv4.ip_forward') === '1';
    this.sockets = new Sockets(this);
  }

  get world() { return this.node.world; }

  device(name: string): NetDevice | undefined { return this.devices.get(name); }

  attach(dev: NetDevice): void {
    // inetdev_init: a new device starts from the namespace's conf/default values.
    if (dev.conf.size === 0) dev.conf = this.confDefault.fork();
    this.devices.set(dev.name, dev);
    dev.netns = this;
  }

  detach(dev: NetDevice): void {
    this.devices.delete(dev.name);
    this.fib.remove((r) => r.dev === dev, dev);
    for (let i = this.addrs.length - 1; i >= 0; i--) if (this.addrs[i].dev === dev) { this.indexAddr(this.addrs[i], false); this.addrs.splice(i, 1); }
    this.neighs.deleteOnDev(dev, () => true);
  }

  sysctl(key: string): string {
    return this.sysctls.get(key) ?? '';
  }

  /** net.ipv4.conf.<dev>.<name>. */
  devConf(dev: NetDevice, name: string): string {
    return dev.conf.get(name) ?? '0';
  }

  /** IN_DEV_ORCONF: on when on for the device or for 'all'. */
  devFlag(dev: NetDevice, name: string): boolean {
    return (dev.conf.get(name) ?? '0') !== '0' || (this.confAll.get(name) ?? '0') !== '0';
  }

  /** IN_DEV_MAXCONF: the larger of 'all' and the device's value. */
  devMaxConf(dev: NetDevice, name: string): number {
    const d = dev.conf.get(name), a = this.confAll.get(name);
    if ((d === undefined || d === '0') && (a === undefined || a === '0')) return 0;
    return Math.max(Number(d) || 0, Number(a) || 0);
  }

  /** Adds an address and the routes the kernel adds with it (local, broadcast, prefix). */
  addAddr(dev: NetDevice, addr: number, prefix: number): IfAddr {
    const mask = prefixMask(prefix);
    const net = (addr & mask) >>> 0;
    const broadcast = prefix >= 31 ? 0 : (net | (~mask >>> 0)) >>> 0;
    const scope = (addr >>> 24) === 127 ? 'host' : 'global';
    const ifa: IfAddr = { addr, prefix, dev, broadcast, scope };
    this.addrs.push(ifa);
    this.indexAddr(ifa, true);
    if (dev.up) this.addAddrRoutes(ifa);
    return ifa;
  }

  /** fib_add_ifaddr: the routes an address brings while its device is up. */
  addAddrRoutes(ifa: IfAddr): void {
    const { addr, prefix, dev } = ifa;
    const mask = prefixMask(prefix);
    const net = (addr & mask) >>> 0;
    const hostScope = ifa.scope === 'host';
    if (!this.fib.find({ dst: addr, prefix: 32, table: RT_TABLE_LOCAL, type: 'local', dev })) {
      this.fib.add(kernelRoute(ifa, addr, 32, 'local', 'host', RT_TABLE_LOCAL));
    }
    if (hostScope) {
      if (prefix < 32 && !this.fib.find({ dst: net, prefix, table: RT_TABLE_LOCAL, dev })) {
        this.fib.add(kernelRoute(ifa, net, prefix, 'local', 'host', RT_TABLE_LOCAL));
      }
      return;
    }
    if (ifa.broadcast && !this.fib.find({ dst: ifa.broadcast, prefix: 32, table: RT_TABLE_LOCAL, type: 'broadcast', dev })) {
      this.fib.add(kernelRoute(ifa, ifa.broadcast, 32, 'broadcast', 'link', RT_TABLE_LOCAL));
    }
    if (prefix < 32 && !this.fib.find({ dst: net, prefix, table: RT_TABLE_MAIN, dev, metric: 0 })) {
      this.fib.add(kernelRoute(ifa, net, prefix, 'unicast', 'link', RT_TABLE_MAIN));
    }
  }

  removeAddr(ifa: IfAddr): void {
    const i = this.addrs.indexOf(ifa);
    if (i >= 0) { this.addrs.splice(i, 1); this.indexAddr(ifa, false); }
    this.fib.remove((r) => r.proto === 'kernel' && r.dev === ifa.dev && r.src === ifa.addr, ifa.dev);
  }

  /** Is `ip` one of this namespace's local addresses (a `local` route)? */
  isLocal(ip: number): boolean {
    const r = this.fib.lookup(ip);
    return r !== null && r.type === 'local';
  }

  /** First address on `dev` (primary), 0 when none. */
  devAddr(dev: NetDevice): number {
    for (const a of this.addrs) if (a.dev === dev) return a.addr;
    return 0;
  }

  /**
   * inet_select_addr: a source address for talking to `dst` out of `dev`:
   * an address on dev in the same subnet as dst, else dev's primary address
   * of suitable scope, else any global address in the namespace.
   */
  selectSrc(dev: NetDevice | null, dst: number, route?: Route | null): number {
    if (route && route.src) return route.src;
    if (dev) {
      let primary = 0;
      for (const a of this.addrs) {
        if (a.dev !== dev || a.scope === 'host' && dev.kind !== 'loopback') continue;
        if (dst && ((a.addr ^ dst) & prefixMask(a.prefix)) === 0) return a.addr;
        if (!primary) primary = a.addr;
      }
      if (primary) return primary;
    }
    for (const a of this.addrs) if (a.scope === 'global') return a.addr;
    return 0;
  }

  /** Frees a packet with a kernel drop reason: trace it and tell the run. */
  drop(skb: Skb, dev: NetDevice | null, reason: DropReason, detail: string): void {
    const world = this.node.world;
    if (world.trace.on) world.event(this.node.name, this.name, dev ? dev.name : '', skb, 'drop', detail, 'drop', reason);
    if (world.onDrop) world.onDrop(skb, reason, `${this.node.name}/${this.name}${dev ? '/' + dev.name : ''}: ${detail}`);
  }
}
