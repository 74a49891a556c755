/**
 * A Linux machine: a Kubernetes node, an external host or an underlay router.
 * It owns its network namespaces ('host' is its own), and implements the
 * Netlink interface: every configuration change goes through it and is logged
 * as the command a Linux admin or agent would have run, so `--show-config`
 * prints them and the kernel-conformance harness replays them.
 */
import type { World } from './world.js';
import { Netns } from './netns.js';
import type { NetDevice } from './device.js';
import { Loopback } from './devices/loopback.js';
import { Veth } from './devices/veth.js';
import { Bridge, macKey } from './devices/bridge.js';
import { Nic, type Segment } from './devices/nic.js';
import { Vxlan, VXLAN_DEFAULT_PORT, VXLAN_HEADROOM } from './devices/vxlan.js';
import { Tun } from './devices/tun.js';
import { Dummy, addLocalRouteWhileDown } from './devices/dummy.js';
import { Ipip, IPIP_DEFAULT_MTU, IPIP_FALLBACK, IPIP_MAX_MTU } from './devices/ipip.js';
import { IPPROTO_IPIP } from '../wire/ipv4.js';
import { NetlinkError, type IpipSpec, type LinkInfo, type NeighState, type Netlink, type RouteSpec, type VxlanSpec } from './netlink.js';
import { BirdRoute, RT_TABLE_MAIN, type Route } from './fib.js';
import { Nud } from './neigh.js';
import { ipToString, macToString, parseCidr, parseIp, prefixMask } from '../wire/bytes.js';
import type { Skb } from './skb.js';
import { summarize } from '../wire/summary.js';

export type NodeRole = 'node' | 'host' | 'router';

/** `s` as a flat (sequential) string: a join of two parts copies it (V8 returns a lone part as it is). */
function flatString(s: string): string {
  return s.length < 13 ? s : [s.slice(0, 1), s.slice(1)].join('');
}

/** A configuration log entry left open by its owner (Node.logOpen). */
export interface OpenLogEntry {
  /** Renders the commands (the entry in the log). */
  fn: () => string | string[];
  /** Nothing recorded since it opened (it may move after another entry). */
  isEmpty(): boolean;
  /** Fix its end: something else is logged after it, or its owner stops. */
  close(): void;
  /** Open a new entry (logOpen) after the one just logged. */
  reopen(): void;
}

export class Node implements Netlink {
  readonly netns = new Map<string, Netns>();
  nextIfindex = 1;
  /**
   * The commands that configured this machine, in order. An entry may be a
   * function that renders the command (a large iptables-restore is only
   * written out when someone reads the log), or several commands (a range of a
   * shared peer mesh's journal, see peer-mesh.ts): read it with `configCommands()`.
   */
  readonly configLog: (string | (() => string | string[]))[] = [];

  constructor(readonly world: World, readonly name: string, readonly role: NodeRole) {
    this.createNetns('host');
  }

  get nodeName(): string { return this.name; }

  get host(): Netns { return this.netns.get('host')!; }

  /**
   * Records a command an agent ran on this machine (for --show-config and the
   * kernel harness). `cmd` may be a function returning the command, or the
   * commands, called only when the log is read (a single command is rendered once).
   */
  logCommand(netns: string, cmd: string | (() => string | string[])): void {
    if (typeof cmd === 'string') this.log(netns, cmd);
    else this.pushLog(() => {
      const r = cmd();
      return typeof r === 'string' ? Node.inNetns(netns, r) : r.map((c) => Node.inNetns(netns, c));
    });
  }

  /** The open entry (logOpen), always the log's last entry while open. */
  private openEntry: OpenLogEntry | null = null;

  /**
   * Appends a lazily rendered entry that stays open — it renders whatever its owner
   * (a shared peer mesh's journal) records meanwhile — while it is the log's last
   * entry. When something else is logged, an entry with nothing recorded yet moves
   * after it; otherwise it is closed (its end fixed) and asked to `reopen` after it.
   */
  logOpen(entry: OpenLogEntry): void {
    this.pushLog(entry.fn);
    this.openEntry = entry;
  }

  /** Closes the open entry, if any (its owner stops recording into this log). */
  closeOpen(): void {
    const o = this.openEntry;
    if (o) { this.openEntry = null; o.close(); }
  }

  private pushLog(e: string | (() => string | string[])): void {
    const o = this.openEntry;
    if (!o) { this.configLog.push(e); return; }
    if (o.isEmpty()) {
      this.configLog.pop();
      this.configLog.push(e, o.fn);
      return;
    }
    this.openEntry = null;
    o.close();
    this.configLog.push(e);
    o.reopen();
  }

  /** The configuration log as command lines (rendering the commands logged lazily; single ones once). */
  configCommands(): string[] {
    const log = this.configLog;
    const out: string[] = [];
    for (let i = 0; i < log.length; i++) {
      const e = log[i]!;
      if (typeof e === 'string') { out.push(e); continue; }
      const r = e();
      if (typeof r === 'string') { log[i] = r; out.push(r); } else for (const c of r) out.push(c);
    }
    return out;
  }

  private log(netns: string, cmd: string): void {
    this.pushLog(Node.inNetns(netns, cmd));
  }

  /**
   * Commands for the machine's own namespace are written bare; others name the netns. The
   * line is kept as one flat string (Array.join copies; a template's concatenations would stay
   * a tree of cons strings — 230 instead of 90 bytes a line, 15 lines per pod: issue 9).
   */
  private static inNetns(netns: string, cmd: string): string {
    if (netns === 'host') return flatString(cmd);
    if (cmd.startsWith('ip ')) return ['ip -n ', netns, ' ', cmd.slice(3)].join('');
    return ['ip netns exec ', netns, ' ', cmd].join('');
  }

  private createNetns(name: string): Netns {
    const ns = new Netns(this, name);
    this.netns.set(name, ns);
    const lo = new Loopback(ns);
    ns.attach(lo);
    if (this.ipipLoaded) Node.ipipNetInit(ns);
    return ns;
  }

  /** The ipip module is loaded on this machine (every namespace has tunl0). */
  ipipLoaded = false;

  /** ipip_init_net: the fallback device tunl0 (down) and the protocol-4 handler of a namespace. */
  private static ipipNetInit(ns: Netns): Ipip {
    const t = new Ipip(ns, IPIP_FALLBACK, IPIP_DEFAULT_MTU, { local: 0, remote: 0, ttl: 0, tos: 0, pmtudisc: false }, true);
    ns.attach(t);
    ns.sockets.protocols.set(IPPROTO_IPIP, (skb, dev) => Ipip.rcv(ns, skb, dev));
    return t;
  }

  /** Loads the ipip module once (what `modprobe ipip`, or the first `ip link add … type ipip`, does). */
  private ipipLoad(): void {
    if (this.ipipLoaded) return;
    this.ipipLoaded = true;
    for (const ns of this.netns.values()) if (!ns.device(IPIP_FALLBACK)) Node.ipipNetInit(ns);
    this.pushLog('# modprobe ipip: tunl0 (ipip any remote any local any ttl inherit nopmtudisc, mtu 1480, down) appears in every network namespace');
  }

  /**
   * The fallback ipip device `tunl0` of a namespace, loading the module first if needed (as
   * felix does: an `ip link add tunl0 type ipip` that loads the module and then finds tunl0
   * there, EEXIST ignored). Configure it with linkSetMtu/linkSetUp/addrAdd.
   */
  ipipTunl0(netns: string): Ipip {
    const ns = this.ns(netns);
    this.ipipLoad();
    const d = ns.device(IPIP_FALLBACK);
    if (!(d instanceof Ipip) || !d.fallback) throw new NetlinkError('EEXIST', `RTNETLINK answers: File exists (${IPIP_FALLBACK} in ${this.name}/${netns} is not the ipip fallback device)`);
    return d;
  }

  /**
   * `ip link add NAME type ipip [remote R] [local L] [ttl N|inherit] [tos T|inherit] [nopmtudisc]`
   * (created down; loads the module first, which makes tunl0). MTU 1480 unless given.
   * Without remote, local, ttl, tos and with nopmtudisc it would duplicate tunl0's
   * parameters: EEXIST, as ip_tunnel_newlink answers.
   */
  linkAddIpip(netns: string, name: string, o: IpipSpec = {}): Ipip {
    const ns = this.ns(netns);
    this.ipipLoad();
    this.checkFree(ns, name);
    const local = o.local !== undefined ? parseIp(o.local) : 0;
    const remote = o.remote !== undefined ? parseIp(o.remote) : 0;
    if (local === undefined) throw new NetlinkError('EINVAL', `invalid local address "${o.local}"`);
    if (remote === undefined) throw new NetlinkError('EINVAL', `invalid remote address "${o.remote}"`);
    const ttl = o.ttl === undefined || o.ttl === 'inherit' ? 0 : o.ttl;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw new NetlinkError('EINVAL', `invalid ttl ${o.ttl}`);
    const tos = o.tos === undefined ? 0 : o.tos === 'inherit' ? 1 : o.tos;
    if (!Number.isInteger(tos) || tos < 0 || tos > 255) throw new NetlinkError('EINVAL', `invalid tos ${o.tos}`);
    const pmtudisc = o.pmtudisc ?? true;
    const parms = { local, remote, ttl, tos, pmtudisc };
    for (const d of ns.devices.values()) {
      if (d instanceof Ipip && d.parms.local === local && d.parms.remote === remote) {
        throw new NetlinkError('EEXIST', `RTNETLINK answers: File exists (${d.name} has local ${o.local ?? 'any'} remote ${o.remote ?? 'any'})`);
      }
    }
    const mtu = o.mtu ?? IPIP_DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > IPIP_MAX_MTU) throw new NetlinkError('EINVAL', `mtu ${mtu} out of range 68..${IPIP_MAX_MTU}`);
    const dev = new Ipip(ns, name, mtu, parms, false);
    ns.attach(dev);
    const p = [`ip link add ${name}`];
    if (o.mtu !== undefined) p.push('mtu', String(mtu));
    p.push('type ipip');
    if (o.remote !== undefined) p.push('remote', o.remote);
    if (o.local !== undefined) p.push('local', o.local);
    if (o.ttl !== undefined) p.push('ttl', String(o.ttl));
    if (o.tos !== undefined) p.push('tos', typeof o.tos === 'number' ? `0x${o.tos.toString(16)}` : 'inherit');
    if (!pmtudisc) p.push('nopmtudisc');
    this.log(netns, p.join(' '));
    return dev;
  }

  ns(name: string): Netns {
    const ns = this.netns.get(name);
    if (!ns) throw new NetlinkError('ENOENT', `network namespace "${name}" not found on ${this.name}`);
    return ns;
  }

  private dev(netns: string, name: string): NetDevice {
    const d = this.ns(netns).device(name);
    if (!d) throw new NetlinkError('ENODEV', `Cannot find device "${name}" in ${this.name}/${netns}`);
    return d;
  }

  describeFrame(skb: Skb): string {
    return summarize(skb.buf, skb.data, skb.len);
  }

  // ── netns ──
  netnsAdd(name: string): void {
    if (this.netns.has(name)) throw new NetlinkError('EEXIST', `Cannot create namespace "${name}": File exists`);
    this.createNetns(name);
    this.pushLog(flatString(`ip netns add ${name}`));
    this.linkSetUp(name, 'lo');
  }

  netnsDel(name: string): void {
    const ns = this.ns(name);
    for (const d of [...ns.devices.values()]) if (d instanceof Veth && d.peer) this.unlinkVeth(d);
    this.netns.delete(name);
    this.pushLog(`ip netns del ${name}`);
  }

  netnsExists(name: string): boolean { return this.netns.has(name); }

  // ── links ──
  private checkFree(ns: Netns, name: string): void {
    if (ns.device(name)) throw new NetlinkError('EEXIST', `RTNETLINK answers: File exists (device "${name}" in ${this.name}/${ns.name})`);
    if (!/^[^\s/:]{1,15}$/.test(name)) throw new NetlinkError('EINVAL', `"${name}" is not a valid interface name (1-15 chars, no spaces, '/' or ':')`);
  }

  linkAddVeth(netns: string, name: string, peer: { name: string; netns: string }, opts: { mac?: Uint8Array; peerMac?: Uint8Array; mtu?: number } = {}): void {
    const ns = this.ns(netns), pns = this.ns(peer.netns);
    this.checkFree(ns, name);
    this.checkFree(pns, peer.name);
    if (ns === pns && name === peer.name) throw new NetlinkError('EEXIST', 'veth ends need different names');
    const rng = this.world.rng;
    const mtu = opts.mtu ?? 1500;
    const a = new Veth(ns, name, opts.mac ?? rng.mac(), mtu);
    const b = new Veth(pns, peer.name, opts.peerMac ?? rng.mac(), mtu);
    a.peer = b; b.peer = a;
    a.delay = b.delay = this.world.vethDelay;
    ns.attach(a); pns.attach(b);
    const mtuArg = opts.mtu !== undefined ? ` mtu ${mtu}` : '';
    this.log(netns, `ip link add ${name}${mtuArg} address ${macToString(a.mac)} type veth peer name ${peer.name}${mtuArg} address ${macToString(b.mac)}${peer.netns !== netns ? ` netns ${peer.netns}` : ''}`);
  }

  linkAddBridge(netns: string, name: string, opts: { mac?: Uint8Array; mtu?: number } = {}): void {
    const ns = this.ns(netns);
    this.checkFree(ns, name);
    const br = new Bridge(ns, name, opts.mac ?? this.world.rng.mac(), opts.mtu ?? 1500);
    ns.attach(br);
    br.fdbInsertLocal(br.mac, null);
    this.log(netns, `ip link add ${name}${opts.mtu !== undefined ? ` mtu ${opts.mtu}` : ''} type bridge`);
    if (opts.mac) { br.macPinned = true; this.log(netns, `ip link set ${name} address ${macToString(br.mac)}`); }
    else { br.macPinned = true; this.log(netns, `ip link set ${name} address ${macToString(br.mac)}`); }
  }

  /**
   * `ip link add NAME [mtu M] address MAC type vxlan id VNI [local IP] [dev DEV] dstport PORT [no]learning`
   * (created down, as flanneld's netlink.LinkAdd does). The MTU defaults to DEV's MTU − 50
   * (vxlan_config_apply; 1500 without DEV), the MAC to a random one from the run's Rng.
   * While it is up, UDP to PORT in this namespace is the vxlan socket's (Vxlan.rcv).
   */
  linkAddVxlan(netns: string, name: string, o: VxlanSpec): Vxlan {
    const ns = this.ns(netns);
    this.checkFree(ns, name);
    if (!Number.isInteger(o.vni) || o.vni < 0 || o.vni > 0xffffff) throw new NetlinkError('EINVAL', `VXLAN VNI ${o.vni} out of range 0..16777215`);
    const port = o.dstport ?? VXLAN_DEFAULT_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NetlinkError('EINVAL', `invalid dstport ${port}`);
    const local = o.local !== undefined ? parseIp(o.local) : 0;
    if (local === undefined) throw new NetlinkError('EINVAL', `invalid local address "${o.local}"`);
    const lower = o.dev !== undefined ? this.dev(netns, o.dev) : null;
    if (o.learning !== false) throw new NetlinkError('EINVAL', 'vxlan learning is not modelled: create the device with learning: false (nolearning), as flanneld does');
    for (const d of ns.devices.values()) {
      if (d instanceof Vxlan && d.vni === o.vni && d.dstport === port) throw new NetlinkError('EEXIST', `RTNETLINK answers: File exists (a vxlan device with VNI ${o.vni} and dstport ${port} exists: ${d.name})`);
    }
    if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > (lower ? lower.mtu - VXLAN_HEADROOM : 65535))) {
      throw new NetlinkError('EINVAL', `mtu ${o.mtu} out of range 68..${lower ? lower.mtu - VXLAN_HEADROOM : 65535}`);
    }
    const mtu = o.mtu ?? (lower ? Math.max(68, lower.mtu - VXLAN_HEADROOM) : 1500);
    const dev = new Vxlan(ns, name, o.mac ?? this.world.rng.mac(), mtu, o.vni, port, local, lower, false);
    ns.attach(dev);
    if (!ns.sockets.encap.has(port)) ns.sockets.encap.set(port, (skb, p) => Vxlan.rcv(ns, skb, p));
    const p = [`ip link add ${name}`];
    if (o.mtu !== undefined) p.push(`mtu ${o.mtu}`);
    p.push(`address ${macToString(dev.mac)} type vxlan id ${o.vni}`);
    if (o.local !== undefined) p.push(`local ${o.local}`);
    if (o.dev !== undefined) p.push(`dev ${o.dev}`);
    p.push(`dstport ${port} nolearning`);
    this.log(netns, p.join(' '));
    return dev;
  }

  /**
   * `ip tuntap add dev NAME mode tun`: a (persistent) tun device, IFF_TUN|IFF_NO_PI, created
   * down and without carrier until a process attaches (`Tun.attach`, what flanneld's
   * TUNSETIFF on /dev/net/tun amounts to). MTU 1500 unless `mtu` (then also `ip link set NAME mtu M`).
   */
  linkAddTun(netns: string, name: string, opts: { mtu?: number } = {}): Tun {
    const ns = this.ns(netns);
    this.checkFree(ns, name);
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535)) throw new NetlinkError('EINVAL', `mtu ${opts.mtu} out of range 68..65535`);
    const dev = new Tun(ns, name, opts.mtu ?? 1500);
    ns.attach(dev);
    this.log(netns, `ip tuntap add dev ${name} mode tun`);
    if (opts.mtu !== undefined) this.log(netns, `ip link set ${name} mtu ${opts.mtu}`);
    return dev;
  }

  /**
   * `ip link add NAME type dummy` (kube-proxy's kube-ipvs0: netlink.LinkAdd of a Dummy):
   * created down with a random MAC from the run's Rng (written in the command, so a replay
   * gives the same bytes). Addresses added while it is down still get their `local` route
   * (see devices/dummy.ts), so the node accepts traffic to them.
   */
  linkAddDummy(netns: string, name: string): Dummy {
    const ns = this.ns(netns);
    this.checkFree(ns, name);
    const dev = new Dummy(ns, name, this.world.rng.mac());
    ns.attach(dev);
    this.log(netns, `ip link add ${name} address ${macToString(dev.mac)} type dummy`);
    return dev;
  }

  /** A NIC on an underlay segment (the machine's physical eth0; not created by a command on a real machine). */
  addNic(name: string, segment: Segment, mac: Uint8Array, mtu: number, delay: number, bandwidth: number): Nic {
    const ns = this.host;
    const nic = new Nic(ns, name, mac, mtu);
    nic.delay = delay;
    nic.bandwidth = bandwidth;
    ns.attach(nic);
    segment.attach(nic);
    this.pushLog(`# ${name}: NIC on underlay segment ${segment.name}`);
    this.pushLog(`ip link set ${name} address ${macToString(mac)}`);
    if (mtu !== 1500) this.pushLog(`ip link set ${name} mtu ${mtu}`);
    return nic;
  }

  private unlinkVeth(d: Veth): void {
    const p = d.peer!;
    for (const end of [d, p]) {
      if (end.master) (end.master as Bridge).removePort(end);
      end.netns.detach(end);
    }
    d.peer = null; p.peer = null;
  }

  linkDel(netns: string, name: string): void {
    const d = this.dev(netns, name);
    if (d.kind === 'loopback') throw new NetlinkError('EINVAL', 'cannot delete lo');
    // ip_tunnel_dellink leaves the fallback device in place: the command succeeds, tunl0 stays.
    if (d instanceof Ipip && d.fallback) { this.log(netns, `ip link del ${name}`); return; }
    if (d instanceof Veth && d.peer) this.unlinkVeth(d);
    else {
      if (d instanceof Bridge) for (const p of [...d.ports]) d.removePort(p);
      if (d.master) (d.master as Bridge).removePort(d);
      d.netns.detach(d);
      if (d instanceof Vxlan && ![...d.netns.devices.values()].some((x) => x instanceof Vxlan && x.dstport === d.dstport)) d.netns.sockets.encap.delete(d.dstport);
    }
    this.log(netns, `ip link del ${name}`);
  }

  linkExists(netns: string, name: string): boolean {
    return this.netns.get(netns)?.device(name) !== undefined;
  }

  private info(d: NetDevice): LinkInfo {
    const i: LinkInfo = { name: d.name, kind: d.kind, ifindex: d.ifindex, mac: d.mac.slice(), mtu: d.mtu, up: d.up };
    if (d.master) i.master = d.master.name;
    if (d instanceof Veth && d.peer) i.peer = { netns: d.peer.netns.name, name: d.peer.name };
    return i;
  }

  linkGet(netns: string, name: string): LinkInfo { return this.info(this.dev(netns, name)); }

  linkList(netns: string): LinkInfo[] { return [...this.ns(netns).devices.values()].map((d) => this.info(d)); }

  linkSetMaster(netns: string, name: string, master: string): void {
    const d = this.dev(netns, name);
    const br = this.dev(netns, master);
    if (!(br instanceof Bridge)) throw new NetlinkError('EINVAL', `${master} is not a bridge`);
    if (d === br) throw new NetlinkError('EINVAL', 'a bridge cannot be its own port');
    if (d.master) (d.master as Bridge).removePort(d);
    br.addPort(d);
    this.log(netns, `ip link set ${name} master ${master}`);
  }

  linkSetUp(netns: string, name: string, up = true): void {
    const d = this.dev(netns, name);
    const ns = d.netns;
    if (d.up === up) { this.log(netns, `ip link set ${name} ${up ? 'up' : 'down'}`); return; }
    d.up = up;
    // The kernel gives loopback 127.0.0.1/8 when it first comes up (inetdev_event, NETDEV_UP).
    if (up && d.kind === 'loopback' && !ns.addrs.some((a) => a.dev === d)) ns.addAddr(d, 0x7f000001, 8);
    if (up) for (const a of ns.addrs) if (a.dev === d) ns.addAddrRoutes(a);
    if (!up) {
      // fib_sync_down_dev: routes through the device go away (kernel routes come back on up).
      ns.fib.remove((r) => r.dev === d, d);
      ns.neighs.deleteOnDev(d, (n) => !(n.state & (Nud.PERMANENT | Nud.NOARP)));
    }
    this.log(netns, `ip link set ${name} ${up ? 'up' : 'down'}`);
  }

  linkSetMtu(netns: string, name: string, mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new NetlinkError('EINVAL', `mtu ${mtu} out of range 68..65535`);
    const dev = this.dev(netns, name);
    // __ip_tunnel_change_mtu: at most 0xFFF8 − the 20-byte outer header.
    if (dev instanceof Ipip && mtu > IPIP_MAX_MTU) throw new NetlinkError('EINVAL', `mtu ${mtu} out of range 68..${IPIP_MAX_MTU} for an ipip device`);
    dev.mtu = mtu;
    this.log(netns, `ip link set ${name} mtu ${mtu}`);
  }

  linkSetAddress(netns: string, name: string, mac: Uint8Array): void {
    const d = this.dev(netns, name);
    if (d instanceof Bridge) d.setMac(mac);
    else {
      if (d.master) {
        const br = d.master as Bridge;
        br.fdb.delete(macKey(d.mac, 0));
        d.mac = mac.slice();
        br.fdbInsertLocal(mac, d);
      } else d.mac = mac.slice();
    }
    this.log(netns, `ip link set ${name} address ${macToString(mac)}`);
  }

  linkSetHairpin(netns: string, name: string, on: boolean): void {
    const d = this.dev(netns, name);
    if (!d.master) throw new NetlinkError('EINVAL', `${name} is not a bridge port`);
    d.hairpin = on;
    this.log(netns, `bridge link set dev ${name} hairpin ${on ? 'on' : 'off'}`);
  }

  // ── addresses ──
  addrAdd(netns: string, dev: string, cidr: string): void {
    const c = parseCidr(cidr);
    if (!c) throw new NetlinkError('EINVAL', `invalid address "${cidr}" (expected A.B.C.D/N)`);
    const d = this.dev(netns, dev);
    const ns = d.netns;
    if (ns.hasAddr(c.addr) && ns.addrs.some((a) => a.dev === d && a.addr === c.addr)) throw new NetlinkError('EEXIST', `RTNETLINK answers: File exists (${cidr} on ${dev})`);
    const ifa = ns.addAddr(d, c.addr, c.prefix);
    if (!d.up && d instanceof Dummy) addLocalRouteWhileDown(ns, ifa);
    this.log(netns, `ip addr add ${cidr} dev ${dev}`);
  }

  addrDel(netns: string, dev: string, cidr: string): void {
    const c = parseCidr(cidr);
    const d = this.dev(netns, dev);
    const a = c && d.netns.addrs.find((x) => x.dev === d && x.addr === c.addr && x.prefix === c.prefix);
    if (!a) throw new NetlinkError('EINVAL', `RTNETLINK answers: Cannot assign requested address (${cidr} on ${dev})`);
    d.netns.removeAddr(a);
    this.log(netns, `ip addr del ${cidr} dev ${dev}`);
  }

  addrList(netns: string, dev: string): string[] {
    const d = this.dev(netns, dev);
    return d.netns.addrs.filter((a) => a.dev === d).map((a) => `${ipToString(a.addr)}/${a.prefix}`);
  }

  // ── routes ──
  /**
   * `forDelete`: `ip route del` matches by what is given (`ip route del 10.5.0.0/16 metric 100`
   * needs neither dev nor via), so the nexthop checks of add/replace do not apply.
   */
  private toRoute(ns: Netns, r: RouteSpec, forDelete = false): Route {
    let dst = 0, prefix = 0;
    if (r.dst !== 'default' && r.dst !== '0.0.0.0/0') {
      const c = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
      if (!c) throw new NetlinkError('EINVAL', `invalid route destination "${r.dst}"`);
      if ((c.addr & ~prefixMask(c.prefix)) !== 0) throw new NetlinkError('EINVAL', `Invalid prefix for given prefix length: ${r.dst}`);
      dst = c.addr; prefix = c.prefix;
    }
    const type = r.type ?? 'unicast';
    const gw = r.via ? parseIp(r.via) : 0;
    if (gw === undefined) throw new NetlinkError('EINVAL', `invalid gateway "${r.via}"`);
    let dev: NetDevice | null = r.dev ? ns.device(r.dev) ?? null : null;
    if (r.dev && !dev) throw new NetlinkError('ENODEV', `Cannot find device "${r.dev}"`);
    if (type === 'unicast' && !forDelete) {
      if (gw && !r.onlink) {
        // The gateway must be reachable directly (a link-scope route to it).
        const via = ns.fib.lookup(gw);
        if (!via || via.gw !== 0 || via.type !== 'unicast' || (dev && via.dev !== dev)) throw new NetlinkError('ENETUNREACH', `Nexthop has invalid gateway: ${r.via} is not on a directly connected network`);
        if (!dev) dev = via.dev;
      }
      if (!dev) throw new NetlinkError('EINVAL', 'a unicast route needs "dev" or a "via" on a connected network');
      if (r.onlink && !dev) throw new NetlinkError('EINVAL', 'onlink needs dev');
    }
    const src = r.src ? parseIp(r.src) : 0;
    if (src === undefined) throw new NetlinkError('EINVAL', `invalid src "${r.src}"`);
    const metric = r.metric ?? 0, scope = r.scope ?? (type === 'unicast' && !gw ? 'link' : 'global');
    const proto = r.proto ?? 'boot', table = r.table ?? RT_TABLE_MAIN;
    if (BirdRoute.fits(type, scope, metric, src, proto, table)) return new BirdRoute(dst, prefix, gw, dev, !!r.onlink);
    return { dst, prefix, type, gw, dev, metric, src, scope, proto, onlink: !!r.onlink, table };
  }

  private routeCmd(verb: string, r: RouteSpec): string {
    const p = [`ip route ${verb}`];
    if (r.type && r.type !== 'unicast') p.push(r.type);
    p.push(r.dst === '0.0.0.0/0' ? 'default' : r.dst);
    if (r.via) p.push('via', r.via);
    if (r.dev) p.push('dev', r.dev);
    if (r.table !== undefined && r.table !== RT_TABLE_MAIN) p.push('table', String(r.table));
    if (r.proto) p.push('proto', r.proto);
    if (r.scope) p.push('scope', r.scope);
    if (r.src) p.push('src', r.src);
    if (r.metric) p.push('metric', String(r.metric));
    if (r.onlink) p.push('onlink');
    return p.join(' ');
  }

  routeAdd(netns: string, r: RouteSpec): void {
    const ns = this.ns(netns);
    const rt = this.toRoute(ns, r);
    if (ns.fib.find({ dst: rt.dst, prefix: rt.prefix, table: rt.table, metric: rt.metric })) {
      throw new NetlinkError('EEXIST', `RTNETLINK answers: File exists (route ${r.dst} metric ${rt.metric})`);
    }
    ns.fib.add(rt);
    this.logRoute(netns, 'add', r);
  }

  routeReplace(netns: string, r: RouteSpec): void {
    const ns = this.ns(netns);
    const rt = this.toRoute(ns, r);
    ns.fib.removeAt(rt.table, rt.dst, rt.prefix, (x) => x.metric === rt.metric);
    ns.fib.add(rt);
    this.logRoute(netns, 'replace', r);
  }

  routeDel(netns: string, r: RouteSpec): void {
    const ns = this.ns(netns);
    const rt = this.toRoute(ns, r, true);
    const removed = ns.fib.removeAt(rt.table, rt.dst, rt.prefix, (x) =>
      (r.metric === undefined || x.metric === rt.metric) && (!r.dev || x.dev === rt.dev) && (!r.via || x.gw === rt.gw));
    if (removed.length === 0) throw new NetlinkError('ENOENT', `RTNETLINK answers: No such process (route ${r.dst})`);
    this.logRoute(netns, 'del', r);
  }

  /** The log's last entry when it is a run of route commands (see logRoute), else stale. */
  private routeRun: { fn: () => string[]; netns: string; verb: string; specs: RouteSpec[]; at: number } | null = null;

  /**
   * Logs `ip route VERB …` lazily: consecutive route commands of one instant, namespace and
   * verb share one log entry that keeps their specs and renders them when the log is read — a
   * BIRD speaker installs a route per block of the cluster (25 M lines at 5,000 nodes, issue
   * 9), a segment's worth of UPDATEs at a time (8 bytes a line; another namespace or verb
   * starts the next entry). The specs are the callers' own objects, which nobody changes
   * after the call. While an open entry (a shared mesh's journal) is the log's last, the
   * line is logged as before.
   */
  private logRoute(netns: string, verb: string, r: RouteSpec): void {
    if (this.openEntry !== null) { this.log(netns, this.routeCmd(verb, r)); return; }
    const log = this.configLog;
    let run = this.routeRun;
    const now = this.world.now;
    if (run === null || run.at !== now || run.netns !== netns || run.verb !== verb || log.length === 0 || log[log.length - 1] !== run.fn) {
      const specs: RouteSpec[] = [];
      const fn = (): string[] => {
        const out: string[] = [];
        for (const x of specs) out.push(Node.inNetns(netns, this.routeCmd(verb, x)));
        return out;
      };
      run = this.routeRun = { fn, netns, verb, specs, at: now };
      this.pushLog(fn);
    }
    run.specs.push(r);
  }

  // ── neighbours ──
  neighReplace(netns: string, ip: string, mac: Uint8Array, dev: string, state: NeighState = 'permanent'): void {
    const a = parseIp(ip);
    if (a === undefined) throw new NetlinkError('EINVAL', `invalid neighbour address "${ip}"`);
    const d = this.dev(netns, dev);
    const nud = { permanent: Nud.PERMANENT, reachable: Nud.REACHABLE, stale: Nud.STALE, noarp: Nud.NOARP }[state];
    d.netns.stack.neighReplace(d, a, mac, nud);
    this.log(netns, `ip neigh replace ${ip} lladdr ${macToString(mac)} dev ${dev} nud ${state}`);
  }

  neighDel(netns: string, ip: string, dev: string): void {
    const a = parseIp(ip);
    const d = this.dev(netns, dev);
    const k = d.ifindex * 0x1_0000_0000 + (a ?? 0);
    if (!d.netns.neighs.delete(k)) throw new NetlinkError('ENOENT', `RTNETLINK answers: No such file or directory (neigh ${ip} dev ${dev})`);
    this.log(netns, `ip neigh del ${ip} dev ${dev}`);
  }

  // ── bridge fdb ──
  fdbAdd(netns: string, mac: Uint8Array, dev: string, opts: { dst?: string; master?: boolean; permanent?: boolean; op?: 'add' | 'append' | 'replace' } = {}): void {
    const d = this.dev(netns, dev);
    if (d instanceof Vxlan) {
      const dst = opts.dst !== undefined ? parseIp(opts.dst) : undefined;
      if (dst === undefined) throw new NetlinkError('EINVAL', `a vxlan fdb entry needs "dst" (the remote VTEP address)${opts.dst !== undefined ? `: invalid "${opts.dst}"` : ''}`);
      if (opts.master) throw new NetlinkError('EINVAL', `${dev} is not a bridge port: vxlan fdb entries are "self"`);
      const op = opts.op ?? 'append';
      const permanent = opts.permanent ?? true;
      if (d.fdbAdd(mac, dst, op, permanent)) throw new NetlinkError('EEXIST', `RTNETLINK answers: File exists (fdb ${macToString(mac)} dst ${opts.dst} dev ${dev})`);
      this.log(netns, `bridge fdb ${op} ${macToString(mac)} dev ${dev} dst ${opts.dst} self ${permanent ? 'permanent' : 'static'}`);
      return;
    }
    const br = d.master;
    if (!(br instanceof Bridge)) throw new NetlinkError('EOPNOTSUPP' as never, `${dev} is not a bridge port (fdb for ${d.kind} devices arrives with that device kind)`);
    const now = this.world.now;
    br.fdb.set(macKey(mac, 0), { mac: mac.slice(), port: d, local: !!opts.permanent && !opts.master, isStatic: true, updated: now, used: now });
    this.log(netns, `bridge fdb add ${macToString(mac)} dev ${dev}${opts.dst ? ` dst ${opts.dst}` : ''}${opts.master ? ' master' : ''} ${opts.permanent ? 'permanent' : 'static'}`);
  }

  fdbDel(netns: string, mac: Uint8Array, dev: string, opts: { dst?: string } = {}): void {
    const d = this.dev(netns, dev);
    if (d instanceof Vxlan) {
      const dst = opts.dst !== undefined ? parseIp(opts.dst) : undefined;
      if (opts.dst !== undefined && dst === undefined) throw new NetlinkError('EINVAL', `invalid dst "${opts.dst}"`);
      if (!d.fdbDel(mac, dst)) throw new NetlinkError('ENOENT', `RTNETLINK answers: No such file or directory (fdb ${macToString(mac)} dev ${dev})`);
      this.log(netns, `bridge fdb del ${macToString(mac)} dev ${dev}${opts.dst !== undefined ? ` dst ${opts.dst}` : ''} self`);
      return;
    }
    const br = d.master;
    if (!(br instanceof Bridge) || !br.fdb.delete(macKey(mac, 0))) throw new NetlinkError('ENOENT', `RTNETLINK answers: No such file or directory (fdb ${macToString(mac)} dev ${dev})`);
    this.log(netns, `bridge fdb del ${macToString(mac)} dev ${dev}`);
  }

  /** `bridge fdb show dev NAME`: a vxlan device's own entries, or a bridge port's. */
  fdbShow(netns: string, dev: string): string[] {
    const d = this.dev(netns, dev);
    if (d instanceof Vxlan) return d.showFdb();
    if (d instanceof Bridge) return d.showFdb();
    if (d.master instanceof Bridge) return d.master.showFdb().filter((l) => l.includes(` dev ${dev} `));
    return [];
  }

  // ── sysctl ──
  sysctlSet(netns: string, key: string, value: string): void {
    const ns = this.ns(netns);
    const c = confKey(key);
    if (c && c.dev === 'all') ns.confAll.set(c.name, value);
    else if (c && c.dev === 'default') ns.confDefault.set(c.name, value);
    else if (c) this.confDevice(ns, key, c.dev).conf.set(c.name, value);
    else ns.sysctls.set(canonicalSysctl(key), value);
    if (canonicalSysctl(key) === 'net.ipv4.ip_forward') ns.forwarding = value === '1';
    this.log(netns, `sysctl -w ${key}=${value}`);
  }

  /** The device of a per-device conf key, or ENOENT as sysctl(8) reports a missing /proc/sys path. */
  private confDevice(ns: Netns, key: string, dev: string): NetDevice {
    const d = ns.device(dev);
    if (!d) throw new NetlinkError('ENOENT', `sysctl: cannot stat /proc/sys/${sysctlParts(key).join('/')}: No such file or directory`);
    return d;
  }

  sysctlGet(netns: string, key: string): string {
    const ns = this.ns(netns);
    const c = confKey(key);
    if (c && c.dev === 'all') return ns.confAll.get(c.name) ?? '0';
    if (c && c.dev === 'default') return ns.confDefault.get(c.name) ?? '0';
    if (c) return ns.devConf(this.confDevice(ns, key, c.dev), c.name);
    return ns.sysctl(canonicalSysctl(key));
  }
}

/**
 * A sysctl key as sysctl(8) reads it: with a '/' it is a path under /proc/sys (so a device
 * name may hold dots: net/ipv4/conf/flannel.1/rp_filter), otherwise every '.' separates.
 */
function sysctlParts(key: string): string[] {
  return key.includes('/') ? key.split('/').filter((p) => p !== '') : key.split('.');
}

/** The dotted form podwire stores namespace-wide sysctls under. */
function canonicalSysctl(key: string): string {
  return key.includes('/') ? sysctlParts(key).join('.') : key;
}

/**
 * `net.ipv4.conf.DEV.NAME` → {dev, name}; null for other keys. A key under net.ipv4.conf
 * with another shape (flannel.1 written with dots: net.ipv4.conf.flannel.1.rp_filter) names
 * no file, as on Linux: ENOENT for the device "flannel".
 */
function confKey(key: string): { dev: string; name: string } | null {
  const p = sysctlParts(key);
  if (p[0] !== 'net' || p[1] !== 'ipv4' || p[2] !== 'conf' || p.length < 4) return null;
  if (p.length === 5 && /^[a-z_]+$/.test(p[4]!)) return { dev: p[3]!, name: p[4]! };
  return { dev: p.length > 5 ? p[3]! : '', name: p[p.length - 1]! };
}
