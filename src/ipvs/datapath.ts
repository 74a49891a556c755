/**
 * IPVS's packet path (net/netfilter/ipvs/ip_vs_core.c, ip_vs_xmit.c,
 * ip_vs_nfct.c), registered into the kernel's hook table as ip_vs_ops4:
 *
 *   LOCAL_IN   NAT_SRC − 2 =  98  ip_vs_out_hook  (VS/NAT replies to a local client)
 *   LOCAL_IN   NAT_SRC − 1 =  99  ip_vs_in_hook   (requests from remote clients)
 *   LOCAL_OUT  NAT_DST + 1 = −99  ip_vs_out_hook  (replies of local real servers)
 *   LOCAL_OUT  NAT_DST + 2 = −98  ip_vs_in_hook   (requests from local processes)
 *   FORWARD    100                ip_vs_out_hook  (VS/NAT replies routed to the client)
 *
 * (FORWARD 99, ip_vs_forward_icmp, is not modelled; ICMP errors in both
 * directions are, below.) The hooks are registered with the first
 * virtual service and removed with the last, as kernels since 6.2 do
 * (ip_vs_register_hooks from ip_vs_add_service).
 *
 * ip_vs_in: a packet already handled (skb->ipvs_property) or not PACKET_HOST
 * at LOCAL_IN passes. The connection is looked up; a TCP SYN on an existing
 * connection is rescheduled when its dest is quiescent and
 * expire_nodest_conn is on, or (conn_reuse_mode) when it is in TIME_WAIT or
 * CLOSE (or FIN_WAIT with NOOUTPUT and bit 2): the old entry expires and the
 * packet is dropped when it belongs to an old confirmed conntrack entry
 * (the client retransmits), else scheduled anew. Without a connection, only
 * a TCP SYN (or any UDP datagram) to a virtual service is scheduled: no
 * destination → ICMP port unreachable and DROP. A connection whose dest was
 * removed drops the packet (expire_nodest_conn: and expires it). Then the
 * in-stats, the state transition, and the forwarding method's transmit:
 *
 * - masq (ip_vs_nat_xmit): route to the real server; the destination
 *   address/port rewritten with incremental checksums; skb->ipvs_property;
 *   with conntrack (vs/conntrack=1, IP_VS_CONN_F_NFCT) the unconfirmed
 *   conntrack entry's reply tuple becomes RIP:rport → CIP:cport
 *   (ip_vs_update_conntrack), otherwise the packet is made untracked; a
 *   remote real server: NF_HOOK(LOCAL_OUT) then dst_output (POSTROUTING) —
 *   no TTL decrement; a local one: ACCEPT (local delivery goes on).
 * - droute (ip_vs_dr_xmit): the packet unchanged, sent to the real server's
 *   MAC (the route to the real server gives the device and next hop).
 * - tunnel (ip_vs_tunnel_xmit): IPIP, outer source = the route's source
 *   address, TTL and DSCP/ECN from the inner header, DF = inner DF
 *   (pmtu_disc), a new IP ID; through LOCAL_OUT/POSTROUTING.
 *
 * ip_vs_out: a reply of a masq connection (looked up from the real server's
 * side) gets the virtual address/port as source, the out-stats and the
 * OUTPUT state transition, skb->ipvs_property, and conntrack untracked
 * unless the connection is NFCT. An ICMP error (destination unreachable,
 * source quench, time exceeded) quoting a masq connection's request
 * (ip_vs_out_icmp / ip_vs_nat_icmp) gets the VIP as outer source, the VIP
 * and virtual port in the quoted header, and fresh IP and ICMP checksums.
 */
import type { Skb } from '../kernel/skb.js';
import { PktType } from '../kernel/skb.js';
import { NfHook, NfVerdict, type NfHookState } from '../kernel/hooks.js';
import type { Route } from '../kernel/fib.js';
import { ipToString, readIp, setU16, setU32, u16 } from '../wire/bytes.js';
import { checksum, csumReplace16, csumReplace32 } from '../wire/checksum.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { IP_DF, IPPROTO_IPIP, writeIpv4Header } from '../wire/ipv4.js';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED } from '../wire/icmp.js';
import { Skb as SkbClass } from '../kernel/skb.js';
import type { SkbCt } from '../netfilter/conntrack.js';
import { IPS_CONFIRMED, IPS_DYING } from '../netfilter/ct-types.js';
import { netfilterIfAny } from '../netfilter/index.js';
import type { IpvsConn } from './conn.js';
import { estCatchUp } from './estimator.js';
import { Dir, stateName, stateTransition, TcpS } from './proto.js';
import { CONN_F, DEST_F, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SVC_F, type IpvsDest, type IpvsService, type IpvsStats } from './types.js';
import type { IpvsNs } from './core.js';

const PRI = { OUT_LOCAL_IN: 98, IN_LOCAL_IN: 99, OUT_LOCAL_OUT: -99, IN_LOCAL_OUT: -98, OUT_FORWARD: 100 } as const;
const ICMP_PORT_UNREACH = 3;
/** One jiffy at CONFIG_HZ=250 (Debian and Ubuntu kernels): expire_nodest_conn's delayed flush. */
const JIFFY = 4e6;

/** The parsed headers of the packet at skb.nh. */
/** The TCP/UDP header an ICMP error (unreachable, source quench, time exceeded) quotes, or null when IPVS leaves it alone. */
interface QuotedError { type: number; ic: number; cih: number; cihl: number; proto: number; src: number; dst: number; sport: number; dport: number }

function quotedError(b: Uint8Array, p: Pkt): QuotedError | null {
  const ic = p.nh + p.ihl;
  if (p.len < p.ihl + 8 + 20) return null;
  const type = b[ic]!;
  if (type !== 3 && type !== 4 && type !== 11) return null;
  const cih = ic + 8;
  const proto = b[cih + 9]!;
  const cihl = (b[cih]! & 0x0f) << 2;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return null;
  if (u16(b, cih + 6) & 0x1fff || p.len < p.ihl + 8 + cihl + 4) return null;
  return { type, ic, cih, cihl, proto, src: readIp(b, cih + 12), dst: readIp(b, cih + 16), sport: u16(b, cih + cihl), dport: u16(b, cih + cihl + 2) };
}

/**
 * ip_vs_nat_icmp: `out` (a real server's error about a reply, inout = 1) sets the outer source and
 * the quoted destination address/port to addr:port (the VIP); `in` (a client's error, inout = 0)
 * sets the outer destination and the quoted source to the real server's. Checksums recomputed.
 */
function natIcmpError(b: Uint8Array, p: Pkt, q: QuotedError, dir: 'out' | 'in', addr: number, port: number): void {
  const nh = p.nh, { cih, cihl, ic } = q;
  setU32(b, dir === 'out' ? nh + 12 : nh + 16, addr);
  setU16(b, nh + 10, 0);
  setU16(b, nh + 10, checksum(b, nh, p.ihl));
  setU32(b, dir === 'out' ? cih + 16 : cih + 12, addr);
  setU16(b, cih + 10, 0);
  setU16(b, cih + 10, checksum(b, cih, cihl));
  setU16(b, dir === 'out' ? cih + cihl + 2 : cih + cihl, port);
  setU16(b, ic + 2, 0);
  setU16(b, ic + 2, checksum(b, ic, p.len - p.ihl));
}

interface Pkt {
  nh: number;
  ihl: number;
  len: number;
  proto: number;
  saddr: number;
  daddr: number;
  l4: number;
  sport: number;
  dport: number;
  tcpFlags: number;
  frag: boolean;
}

function parse(skb: Skb): Pkt | null {
  const b = skb.buf, nh = skb.nh;
  if (nh < 0) return null;
  const ihl = (b[nh] & 0x0f) << 2;
  const len = u16(b, nh + 2);
  const proto = b[nh + 9];
  const frag = (u16(b, nh + 6) & 0x1fff) !== 0;
  const l4 = nh + ihl;
  let sport = 0, dport = 0, tcpFlags = 0;
  if (!frag && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) && len >= ihl + 4) {
    sport = u16(b, l4);
    dport = u16(b, l4 + 2);
    if (proto === IPPROTO_TCP && len >= ihl + 14) tcpFlags = b[l4 + 13];
  }
  return { nh, ihl, len, proto, saddr: readIp(b, nh + 12), daddr: readIp(b, nh + 16), l4, sport, dport, tcpFlags, frag };
}

/** Where the L4 checksum of `proto` sits (-1: none to fix; SCTP's CRC32c does not cover addresses). */
function l4CsumOff(proto: number): number {
  return proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : -1;
}

/** Rewrites an address (at nh+off, 12 source / 16 destination) and the matching port, fixing the IP and L4 checksums. */
function mangle(skb: Skb, p: Pkt, src: boolean, addr: number, port: number): void {
  const b = skb.buf, nh = p.nh;
  const aOff = nh + (src ? 12 : 16);
  const oldA = readIp(b, aOff);
  const pOff = p.l4 + (src ? 0 : 2);
  const oldP = u16(b, pOff);
  b[aOff] = addr >>> 24; b[aOff + 1] = (addr >>> 16) & 0xff; b[aOff + 2] = (addr >>> 8) & 0xff; b[aOff + 3] = addr & 0xff;
  setU16(b, nh + 10, csumReplace32(u16(b, nh + 10), oldA, addr >>> 0));
  const co = l4CsumOff(p.proto);
  if (co >= 0) {
    const cOff = p.l4 + co;
    let c = u16(b, cOff);
    if (!(p.proto === IPPROTO_UDP && c === 0)) {
      c = csumReplace32(c, oldA, addr >>> 0);
      c = csumReplace16(c, oldP, port);
      if (p.proto === IPPROTO_UDP && c === 0) c = 0xffff;
      setU16(b, cOff, c);
    }
  }
  setU16(b, pOff, port);
  if (src) { p.saddr = addr >>> 0; p.sport = port; } else { p.daddr = addr >>> 0; p.dport = port; }
}

export class IpvsDataPath {
  /** skb->ipvs_property (cleared by skb_scrub_packet: a scrubbed skb is a new object or crosses to another namespace). */
  readonly property = new WeakSet<Skb>();
  registered = false;
  /** Pending expire_nodest_conn flush. */
  private flushPending = false;

  constructor(private readonly v: IpvsNs) {}

  register(): void {
    if (this.registered) return;
    const h = this.v.ns.hooks;
    h.register('ipv4', NfHook.LOCAL_IN, { name: 'ip_vs_out', priority: PRI.OUT_LOCAL_IN, fn: (s, st) => this.outHook(s, st) });
    h.register('ipv4', NfHook.LOCAL_IN, { name: 'ip_vs_in', priority: PRI.IN_LOCAL_IN, fn: (s, st) => this.inHook(s, st) });
    h.register('ipv4', NfHook.LOCAL_OUT, { name: 'ip_vs_out', priority: PRI.OUT_LOCAL_OUT, fn: (s, st) => this.outHook(s, st) });
    h.register('ipv4', NfHook.LOCAL_OUT, { name: 'ip_vs_in', priority: PRI.IN_LOCAL_OUT, fn: (s, st) => this.inHook(s, st) });
    h.register('ipv4', NfHook.FORWARD, { name: 'ip_vs_out', priority: PRI.OUT_FORWARD, fn: (s, st) => this.outHook(s, st) });
    this.registered = true;
  }

  unregister(): void {
    if (!this.registered) return;
    const h = this.v.ns.hooks;
    for (const hook of [NfHook.LOCAL_IN, NfHook.LOCAL_OUT, NfHook.FORWARD]) {
      h.unregister('ipv4', hook, 'ip_vs_in');
      h.unregister('ipv4', hook, 'ip_vs_out');
    }
    this.registered = false;
  }

  private ev(state: NfHookState | null, skb: Skb | null, stage: string, detail: string): void {
    const ns = this.v.ns;
    ns.node.world.event(ns.node.name, ns.name, (state?.in ?? state?.out)?.name ?? '', skb, stage, detail);
  }

  private get tracing(): boolean {
    return this.v.ns.node.world.trace.on;
  }

  // ───────────────────────────── stats ─────────────────────────────

  private bump(st: IpvsStats, f: (s: IpvsStats) => void): void {
    estCatchUp(st, this.v.loadedAt, this.v.env.now());
    f(st);
  }

  /** ip_vs_in_stats / ip_vs_out_stats: the dest (if available), its service and the totals. */
  private stats(cp: IpvsConn, out: boolean, bytes: number): void {
    const d = cp.dest;
    if (!d || !(d.flags & DEST_F.AVAILABLE)) return;
    const f = out ? (s: IpvsStats) => { s.outpkts++; s.outbytes += bytes; } : (s: IpvsStats) => { s.inpkts++; s.inbytes += bytes; };
    this.bump(d.stats, f);
    this.bump(d.svc.stats, f);
    this.bump(this.v.totals, f);
  }

  /** ip_vs_conn_stats. */
  private connStats(cp: IpvsConn, svc: IpvsService): void {
    const f = (s: IpvsStats) => { s.conns++; };
    if (cp.dest) this.bump(cp.dest.stats, f);
    this.bump(svc.stats, f);
    this.bump(this.v.totals, f);
  }

  // ───────────────────────────── ip_vs_in ─────────────────────────────

  inHook(skb: Skb, state: NfHookState): NfVerdict {
    if (this.property.has(skb)) return NfVerdict.ACCEPT;
    if (state.hook === NfHook.LOCAL_IN && skb.pktType !== PktType.HOST) return NfVerdict.ACCEPT;
    const p = parse(skb);
    if (!p || p.frag) return NfVerdict.ACCEPT;
    if (p.proto === 1) return this.inIcmp(skb, p, state);
    // SCTP virtual services can be configured and listed, but ip_vs_proto_sctp's state machine is not
    // modelled: SCTP packets pass untouched.
    if (p.proto !== IPPROTO_TCP && p.proto !== IPPROTO_UDP) return NfVerdict.ACCEPT;
    const conns = this.v.conns;
    let cp = conns.inGet(p.proto, p.saddr, p.sport, p.daddr, p.dport);

    // A new connection (TCP SYN) on an existing entry: reschedule it?
    if (cp && p.proto === IPPROTO_TCP && p.tcpFlags & 0x02) {
      const reuse = this.v.sysctl('conn_reuse_mode');
      let oldCt = false, resched = false;
      if (this.v.sysctl('expire_nodest_conn') && cp.dest && cp.dest.weight === 0) {
        resched = true;
        oldCt = this.usesOldConntrack(skb);
      } else if (reuse && !cp.control && (cp.state === TcpS.TIME_WAIT || cp.state === TcpS.CLOSE
        || (reuse & 2 && cp.state === TcpS.FIN_WAIT && cp.flags & CONN_F.NOOUTPUT))) {
        oldCt = this.usesOldConntrack(skb);
        resched = cp.nControl === 0 ? true : !oldCt;
      }
      if (resched) {
        if (!oldCt) cp.flags &= ~CONN_F.NFCT;
        if (this.tracing) this.ev(state, skb, 'ipvs.conn', `${this.connText(cp)} ${stateName(cp.protocol, cp.state, false)}: new SYN on the entry, rescheduling${oldCt ? ' (old conntrack entry: dropped, the client retransmits)' : ''}`);
        if (cp.nControl === 0) conns.expireNow(cp);
        if (oldCt) {
          state.reason = 'NETFILTER_DROP';
          state.detail = 'ipvs: SYN reuses the port of a connection whose conntrack entry still exists';
          return NfVerdict.DROP;
        }
        cp = null;
      }
    }

    if (!cp) {
      // tcp_conn_schedule / udp_conn_schedule.
      if (p.proto === IPPROTO_TCP && (p.tcpFlags & 0x04 || !(this.v.sysctl('sloppy_tcp') || p.tcpFlags & 0x02))) return NfVerdict.ACCEPT;
      const svc = this.v.ctl.lookup(skb.mark, p.proto, p.daddr, p.dport);
      if (!svc) return NfVerdict.ACCEPT;
      const r = this.schedule(svc, skb, p, state);
      if (!r.cp) {
        if (r.ignored > 0) return NfVerdict.ACCEPT;
        if (r.ignored < 0) {
          state.reason = 'NETFILTER_DROP';
          state.detail = 'ipvs: cannot create the connection';
          return NfVerdict.DROP;
        }
        // ip_vs_leave: no destination — ICMP port unreachable, whatever the protocol.
        this.v.ns.stack.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
        state.reason = 'NETFILTER_DROP';
        state.detail = `ipvs: no destination available for ${this.svcText(svc)} (${svc.schedName})`;
        return NfVerdict.DROP;
      }
      cp = r.cp;
    } else if (this.tracing) {
      this.ev(state, skb, 'ipvs.conn', `${this.connText(cp)} ${stateName(cp.protocol, cp.state, false)} hit`);
    }

    // The server status.
    if (cp.dest && !(cp.dest.flags & DEST_F.AVAILABLE)) {
      if (this.v.sysctl('expire_nodest_conn')) conns.expireNow(cp);
      state.reason = 'NETFILTER_DROP';
      state.detail = `ipvs: destination ${ipToString(cp.daddr)}:${cp.dport} is no longer available${this.v.sysctl('expire_nodest_conn') ? ' (expire_nodest_conn: connection expired)' : ''}`;
      return NfVerdict.DROP;
    }

    this.stats(cp, false, p.len);
    const before = cp.state;
    stateTransition(cp, Dir.INPUT, p.tcpFlags, this.v.timeouts, this.v.sysctl('secure_tcp') > 1);
    if (this.tracing && cp.state !== before) this.ev(state, skb, 'ipvs.conn', `${this.connText(cp)} ${stateName(cp.protocol, before, false)} → ${stateName(cp.protocol, cp.state, false)} (${cp.timeout / 1e9}s)`);
    const v = this.xmit(skb, p, cp, state);
    cp.oldState = cp.state;
    conns.put(cp);
    return v;
  }

  /** ip_vs_conn_uses_old_conntrack: the packet belongs to a confirmed conntrack entry. */
  private usesOldConntrack(skb: Skb): boolean {
    const info = skb.ct as SkbCt | null;
    return !!(info && info.ct && info.ct.status & IPS_CONFIRMED);
  }

  /**
   * ip_vs_schedule (and ip_vs_sched_persist): a new connection for the
   * packet, or none with `ignored` 1 (pass), 0 (no dest: ICMP + drop) or −1 (drop).
   */
  schedule(svc: IpvsService, skb: Skb, p: Pkt, state: NfHookState | null): { cp: IpvsConn | null; ignored: number } {
    const conns = this.v.conns;
    const nfct = this.v.sysctl('conntrack') !== 0;
    const sp = { saddr: p.saddr, sport: p.sport, daddr: p.daddr, dport: p.dport, protocol: p.proto };
    if (svc.flags & SVC_F.PERSISTENT) return this.schedPersist(svc, skb, p, state, nfct);
    if (!svc.fwmark && p.dport !== svc.port) return { cp: null, ignored: 0 };
    const dest = svc.sched?.schedule(svc, sp) ?? null;
    if (!dest) {
      if (this.tracing) this.ev(state, skb, 'ipvs.sched', `${this.svcText(svc)} ${svc.schedName}: no destination available`);
      return { cp: null, ignored: 0 };
    }
    const flags = svc.flags & SVC_F.ONEPACKET && p.proto === IPPROTO_UDP ? CONN_F.ONE_PACKET : 0;
    const cp = conns.newConn(p.proto, p.saddr, p.sport, p.daddr, p.dport, dest.addr, dest.port || p.dport, flags, dest, skb.mark, nfct);
    cp.svc = svc;
    this.connStats(cp, svc);
    if (this.tracing) this.ev(state, skb, 'ipvs.sched', `${this.svcText(svc)} ${svc.schedName} → ${ipToString(dest.addr)}:${cp.dport} (new conn ${this.connText(cp)}; dest weight ${dest.weight}, active ${dest.activeConns}, inactive ${dest.inactConns})`);
    return { cp, ignored: 1 };
  }

  /** ip_vs_sched_persist: a template <proto, caddr & netmask, 0, vaddr, vport> binds a client to a dest for svc->timeout. */
  private schedPersist(svc: IpvsService, skb: Skb, p: Pkt, state: NfHookState | null, nfct: boolean): { cp: IpvsConn | null; ignored: number } {
    const conns = this.v.conns;
    const snet = (p.saddr & svc.netmask) >>> 0;
    let protocol = p.proto, vaddr = p.daddr, vport = 0;
    if (p.dport === svc.port) vport = p.dport;
    else if (svc.fwmark) { protocol = 0; vaddr = svc.fwmark; }
    let ct = conns.ctInGet(protocol, snet, vaddr, vport);
    let dest: IpvsDest | null;
    let reused = false;
    if (!ct || !this.checkTemplate(ct)) {
      dest = svc.sched?.schedule(svc, { saddr: p.saddr, sport: p.sport, daddr: p.daddr, dport: p.dport, protocol: p.proto }) ?? null;
      if (!dest) {
        if (this.tracing) this.ev(state, skb, 'ipvs.sched', `${this.svcText(svc)} ${svc.schedName} persistent: no destination available`);
        return { cp: null, ignored: 0 };
      }
      const dport = p.dport === svc.port ? dest.port : 0;
      ct = conns.newConn(protocol, snet, 0, vaddr, vport, dest.addr, dport, CONN_F.TEMPLATE, dest, skb.mark, false);
      ct.svc = svc;
      ct.timeout = svc.timeout;
    } else {
      dest = ct.dest!;
      reused = true;
    }
    let dport = p.dport;
    if (dport === svc.port && dest.port) dport = dest.port;
    const flags = svc.flags & SVC_F.ONEPACKET && p.proto === IPPROTO_UDP ? CONN_F.ONE_PACKET : 0;
    const cp = conns.newConn(p.proto, p.saddr, p.sport, p.daddr, p.dport, dest.addr, dport, flags, dest, skb.mark, nfct);
    cp.svc = svc;
    conns.controlAdd(cp, ct);
    conns.put(ct);
    this.connStats(cp, svc);
    if (this.tracing) this.ev(state, skb, 'ipvs.sched', `${this.svcText(svc)} ${svc.schedName} persistent ${svc.timeout / 1e9}s → ${ipToString(dest.addr)}:${cp.dport} (${reused ? 'template' : 'new template'} ${ipToString(snet)} → ${ipToString(dest.addr)}; new conn ${this.connText(cp)})`);
    return { cp, ignored: 1 };
  }

  /**
   * ip_vs_check_template: a template whose dest is gone, not AVAILABLE, or
   * quiescent with expire_quiescent_template, is invalidated (its ports set
   * to 0xffff so nothing finds it; it then expires on its own timer).
   */
  private checkTemplate(ct: IpvsConn): boolean {
    const d = ct.dest;
    if (!d || !(d.flags & DEST_F.AVAILABLE) || (this.v.sysctl('expire_quiescent_template') && d.weight === 0)) {
      if (ct.vport !== 0xffff) {
        const conns = this.v.conns;
        if (conns.unhash(ct)) {
          ct.dport = 0xffff;
          ct.vport = 0xffff;
          ct.cport = 0;
          conns.hash(ct);
        }
      }
      return false;
    }
    return true;
  }

  // ───────────────────────────── transmit ─────────────────────────────

  private xmit(skb: Skb, p: Pkt, cp: IpvsConn, state: NfHookState): NfVerdict {
    switch (cp.fwd) {
      case CONN_F.MASQ: return this.natXmit(skb, p, cp, state);
      case CONN_F.DROUTE: return this.drXmit(skb, p, cp, state);
      case CONN_F.TUNNEL: return this.tunnelXmit(skb, p, cp, state);
      default:
        // LOCALNODE / BYPASS: leave it to the local stack.
        return NfVerdict.ACCEPT;
    }
  }

  /** __ip_vs_get_out_rt: the route to the real server (unicast or local), or a tx error. */
  private outRoute(skb: Skb, cp: IpvsConn, state: NfHookState): Route | null {
    const rt = this.v.ns.fib.lookup(cp.daddr);
    if (!rt || (rt.type !== 'unicast' && rt.type !== 'local')) {
      this.v.ns.drop(skb, state.in ?? state.out, 'IP_OUTNOROUTES', `ipvs: no route to real server ${ipToString(cp.daddr)}`);
      return null;
    }
    return rt;
  }

  /**
   * ensure_mtu_is_adequate: a DF packet larger than the route's MTU (less the
   * outer header when tunnelling) gets ICMP fragmentation needed and is
   * dropped; a non-DF one is fragmented on output (skb->ignore_df).
   */
  private mtuOk(skb: Skb, p: Pkt, rt: Route, state: NfHookState, overhead: number): boolean {
    if (overhead && !this.v.sysctl('pmtu_disc')) return true;
    const mtu = (rt.dev?.mtu ?? 1500) - overhead;
    if (u16(skb.buf, p.nh + 6) & IP_DF && p.len > mtu) {
      this.v.ns.stack.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu);
      this.v.ns.drop(skb, state.in ?? state.out, 'PKT_TOO_BIG', `ipvs: ${p.len} bytes with DF exceed the MTU ${mtu} towards the real server (frag needed sent)`);
      return false;
    }
    return true;
  }

  /** ip_vs_update_conntrack / ip_vs_notrack (ip_vs_nfct.c). */
  private conntrack(skb: Skb, cp: IpvsConn, outin: boolean): void {
    const info = skb.ct as SkbCt | null;
    if (!(cp.flags & CONN_F.NFCT)) {
      if (info && info.ct) info.table.markUntracked(skb);
      return;
    }
    if (!info || !info.ct) return;
    const ct = info.ct;
    if (ct.status & (IPS_CONFIRMED | IPS_DYING)) return;
    if (cp.fwd !== CONN_F.MASQ) return;
    if (cp.flags & CONN_F.ONE_PACKET) return;
    if (info.ctinfo === 'established_reply' || info.ctinfo === 'related_reply') return;
    const t = { ...ct.reply };
    if (outin) { t.src = cp.daddr; if (t.proto !== 1) t.sport = cp.dport; }
    else { t.dst = cp.vaddr; if (t.proto !== 1) t.dport = cp.vport; }
    info.table.alterReply(ct, t);
    if (this.tracing) this.ev(null, skb, 'ipvs.nfct', `conntrack reply tuple altered to ${ipToString(t.src)}:${t.sport} → ${ipToString(t.dst)}:${t.dport}`);
  }

  /** NF_HOOK(LOCAL_OUT) then dst_output (ip_output: POSTROUTING, neighbour) towards `nexthop` (DR: the real server, not the packet's destination). */
  private sendOut(skb: Skb, rt: Route, nexthop: number): void {
    const stack = this.v.ns.stack;
    const out = rt.dev!;
    if (!stack.hook(NfHook.LOCAL_OUT, skb, null, out)) return;
    if (!stack.hook(NfHook.POST_ROUTING, skb, null, out)) return;
    stack.finishOutput(skb, out, nexthop);
  }

  private natXmit(skb: Skb, p: Pkt, cp: IpvsConn, state: NfHookState): NfVerdict {
    const rt = this.outRoute(skb, cp, state);
    if (!rt) return NfVerdict.STOLEN;
    const local = rt.type === 'local';
    if (local && cp.daddr >>> 24 === 127 && state.hook === NfHook.LOCAL_IN) {
      this.v.ns.drop(skb, state.in, 'NETFILTER_DROP', 'ipvs: ip_vs_nat_xmit(): stopping DNAT to loopback address');
      return NfVerdict.STOLEN;
    }
    if (!local && !this.mtuOk(skb, p, rt, state, 0)) return NfVerdict.STOLEN;
    const before = this.tracing ? `${ipToString(p.daddr)}:${p.dport}` : '';
    mangle(skb, p, false, cp.daddr, cp.dport);
    this.property.add(skb);
    this.conntrack(skb, cp, true);
    if (this.tracing) this.ev(state, skb, 'ipvs.xmit', `masq DNAT ${before} → ${ipToString(cp.daddr)}:${cp.dport}${local ? ' (local real server)' : ` via ${rt.dev?.name ?? '?'}`}`);
    if (local) return NfVerdict.ACCEPT;
    // NF_HOOK(LOCAL_OUT) then dst_output: POSTROUTING, fragmentation (ignore_df), the neighbour.
    if (!this.v.ns.stack.hook(NfHook.LOCAL_OUT, skb, null, rt.dev)) return NfVerdict.STOLEN;
    this.v.ns.stack.output(skb, rt);
    return NfVerdict.STOLEN;
  }

  private drXmit(skb: Skb, _p: Pkt, cp: IpvsConn, state: NfHookState): NfVerdict {
    const rt = this.outRoute(skb, cp, state);
    if (!rt) return NfVerdict.STOLEN;
    if (rt.type !== 'local' && !this.mtuOk(skb, _p, rt, state, 0)) return NfVerdict.STOLEN;
    this.property.add(skb);
    this.conntrack(skb, cp, true);
    if (rt.type === 'local') return NfVerdict.ACCEPT;
    const nexthop = rt.gw || cp.daddr;
    if (this.tracing) this.ev(state, skb, 'ipvs.xmit', `droute to ${ipToString(cp.daddr)} (next hop ${ipToString(nexthop)} via ${rt.dev?.name ?? '?'}), packet unchanged`);
    this.sendOut(skb, rt, nexthop);
    return NfVerdict.STOLEN;
  }

  private tunnelXmit(skb: Skb, p: Pkt, cp: IpvsConn, state: NfHookState): NfVerdict {
    const rt = this.outRoute(skb, cp, state);
    if (!rt) return NfVerdict.STOLEN;
    if (rt.type === 'local') {
      this.property.add(skb);
      return NfVerdict.ACCEPT;
    }
    if (!this.mtuOk(skb, p, rt, state, 20)) return NfVerdict.STOLEN;
    const ns = this.v.ns;
    const b = skb.buf, inh = p.nh;
    const ilen = p.len;
    const tos = b[inh + 1];
    const ttl = b[inh + 8];
    const df = this.v.sysctl('pmtu_disc') !== 0 && (u16(b, inh + 6) & IP_DF) !== 0;
    const saddr = ns.selectSrc(rt.dev, cp.daddr, rt);
    const o = SkbClass.alloc(ETH_HLEN + 20 + ilen);
    o.innerId = skb.id;
    o.flow = skb.flow;
    o.mark = skb.mark;
    if (skb.path) o.path = skb.path;
    o.ct = null;
    const nh = o.data + ETH_HLEN;
    o.buf.set(b.subarray(inh, inh + ilen), nh + 20);
    writeIpv4Header(o.buf, nh, saddr, cp.daddr, IPPROTO_IPIP, ttl, tos, ns.stack.selectIdent(), df, ilen);
    o.nh = nh;
    this.property.add(o);
    if (this.tracing) this.ev(state, o, 'ipvs.xmit', `tunnel IPIP ${ipToString(saddr)} → ${ipToString(cp.daddr)} ttl ${ttl} tos 0x${tos.toString(16)}${df ? ' DF' : ''} carrying #${skb.id}`);
    if (!ns.stack.hook(NfHook.LOCAL_OUT, o, null, rt.dev)) return NfVerdict.STOLEN;
    ns.stack.output(o, rt, true);
    return NfVerdict.STOLEN;
  }

  // ───────────────────────────── ip_vs_out ─────────────────────────────

  outHook(skb: Skb, state: NfHookState): NfVerdict {
    // No connection: nothing can be a reply (every forwarded packet of the node passes here).
    if (this.v.conns.count === 0 || this.property.has(skb)) return NfVerdict.ACCEPT;
    const p = parse(skb);
    if (!p || p.frag) return NfVerdict.ACCEPT;
    if (p.proto === 1) return this.outIcmp(skb, p, state);
    // SCTP virtual services can be configured and listed, but ip_vs_proto_sctp's state machine is not
    // modelled: SCTP packets pass untouched.
    if (p.proto !== IPPROTO_TCP && p.proto !== IPPROTO_UDP) return NfVerdict.ACCEPT;
    const cp = this.v.conns.outGet(p.proto, p.saddr, p.sport, p.daddr, p.dport);
    if (!cp || cp.fwd !== CONN_F.MASQ) return NfVerdict.ACCEPT;
    // handle_response.
    const before = this.tracing ? `${ipToString(p.saddr)}:${p.sport}` : '';
    mangle(skb, p, true, cp.vaddr, cp.vport);
    this.stats(cp, true, p.len);
    const st0 = cp.state;
    stateTransition(cp, Dir.OUTPUT, p.tcpFlags, this.v.timeouts, this.v.sysctl('secure_tcp') > 1);
    this.property.add(skb);
    if (this.tracing) {
      this.ev(state, skb, 'ipvs.reply', `SNAT ${before} → ${ipToString(cp.vaddr)}:${cp.vport} (conn ${this.connText(cp)})`);
      if (cp.state !== st0) this.ev(state, skb, 'ipvs.conn', `${this.connText(cp)} ${stateName(cp.protocol, st0, false)} → ${stateName(cp.protocol, cp.state, false)} (${cp.timeout / 1e9}s)`);
    }
    if (!(cp.flags & CONN_F.NFCT)) {
      const info = skb.ct as SkbCt | null;
      if (info && info.ct) info.table.markUntracked(skb);
    } else {
      this.conntrack(skb, cp, false);
    }
    this.v.conns.put(cp);
    return NfVerdict.ACCEPT;
  }

  /** ip_vs_out_icmp → handle_response_icmp → ip_vs_nat_icmp (inout = 1). */
  private outIcmp(skb: Skb, p: Pkt, state: NfHookState): NfVerdict {
    const b = skb.buf;
    const q = quotedError(b, p);
    if (!q) return NfVerdict.ACCEPT;
    const { type, ic } = q;
    // The quoted header is the request as the real server got it (client → RS): read inversely.
    const cp = this.v.conns.outGet(q.proto, q.dst, q.dport, q.src, q.sport);
    if (!cp || cp.fwd !== CONN_F.MASQ) return NfVerdict.ACCEPT;
    const from = readIp(b, p.nh + 12);
    natIcmpError(b, p, q, 'out', cp.vaddr, cp.vport);
    this.stats(cp, true, p.len);
    this.property.add(skb);
    if (!(cp.flags & CONN_F.NFCT)) {
      const info = skb.ct as SkbCt | null;
      if (info && info.ct) info.table.markUntracked(skb);
    }
    if (this.tracing) this.ev(state, skb, 'ipvs.reply', `ICMP type ${type} code ${b[ic + 1]} from ${ipToString(from)} about ${this.connText(cp)}: source and quoted destination set to ${ipToString(cp.vaddr)}:${cp.vport}`);
    return NfVerdict.ACCEPT;
  }

  /**
   * ip_vs_in_icmp for a masq connection (schedule_icmp off): an ICMP error
   * from the client side quoting one of our replies (VIP:vport → client) is
   * sent on to the real server, its destination and the quoted source set to
   * the real server's address/port (ip_vs_nat_icmp with inout = 0), through
   * LOCAL_OUT and POSTROUTING (ip_vs_icmp_xmit). Errors about DR/TUN
   * connections are forwarded unchanged to the real server.
   */
  private inIcmp(skb: Skb, p: Pkt, state: NfHookState): NfVerdict {
    const b = skb.buf;
    const q = quotedError(b, p);
    if (!q) return NfVerdict.ACCEPT;
    const { type, ic } = q;
    // The quoted header is our reply (VIP → client): read inversely, it is the client's request.
    const cp = this.v.conns.inGet(q.proto, q.dst, q.dport, q.src, q.sport);
    if (!cp) return NfVerdict.ACCEPT;
    this.stats(cp, false, p.len);
    const rt = this.outRoute(skb, cp, state);
    if (!rt) return NfVerdict.STOLEN;
    if (cp.fwd === CONN_F.MASQ) natIcmpError(b, p, q, 'in', cp.daddr, cp.dport);
    this.property.add(skb);
    if (this.tracing) this.ev(state, skb, 'ipvs.xmit', `ICMP type ${type} code ${b[ic + 1]} about ${this.connText(cp)} sent on to the real server ${ipToString(cp.daddr)}`);
    if (rt.type === 'local') return NfVerdict.ACCEPT;
    if (cp.fwd === CONN_F.MASQ) {
      if (!this.v.ns.stack.hook(NfHook.LOCAL_OUT, skb, null, rt.dev)) return NfVerdict.STOLEN;
      this.v.ns.stack.output(skb, rt);
    } else {
      this.sendOut(skb, rt, rt.gw || cp.daddr);
    }
    return NfVerdict.STOLEN;
  }

  // ───────────────────────────── dests going away ─────────────────────────────

  /**
   * A dest left its service (ipvsadm -d, or the service deleted): with
   * expire_nodest_conn, one jiffy later every connection to an unavailable
   * dest that controls nothing is deleted, and its controller when no longer
   * used (ip_vs_expire_nodest_conn_flush).
   */
  destGone(): void {
    if (!this.v.sysctl('expire_nodest_conn') || this.flushPending) return;
    this.flushPending = true;
    this.v.env.timer(JIFFY, () => {
      this.flushPending = false;
      const conns = this.v.conns;
      for (const cp of [...conns.all()]) {
        const d = cp.dest;
        if (!d || d.flags & DEST_F.AVAILABLE) continue;
        if (cp.nControl > 0) continue;
        const ctl = cp.control;
        if (this.tracing) this.ev(null, null, 'ipvs.conn', `${this.connText(cp)} expired: destination removed (expire_nodest_conn)`);
        conns.del(cp);
        if (ctl && ctl.nControl === 0) conns.del(ctl);
      }
    });
  }

  /** ip_vs_conn_drop_conntrack: an expiring NFCT connection takes its conntrack entry with it. */
  dropConntrack(cp: IpvsConn): void {
    if (!(cp.flags & CONN_F.NFCT) || cp.flags & CONN_F.ONE_PACKET || !cp.cport) return;
    const nf = netfilterIfAny(this.v.ns);
    if (!nf) return;
    const hit = nf.nf.ct.lookup({ src: cp.caddr, dst: cp.vaddr, proto: cp.protocol, sport: cp.cport, dport: cp.vport, icmpType: -1 });
    if (hit) nf.nf.ct.kill(hit.ct);
  }

  // ───────────────────────────── text ─────────────────────────────

  svcText(svc: IpvsService): string {
    if (svc.fwmark) return `FWM ${svc.fwmark}`;
    const proto = svc.protocol === IPPROTO_TCP ? 'TCP' : svc.protocol === IPPROTO_UDP ? 'UDP' : 'SCTP';
    return `${proto} ${ipToString(svc.addr)}:${svc.port}`;
  }

  connText(cp: IpvsConn): string {
    const proto = cp.protocol === IPPROTO_TCP ? 'TCP' : cp.protocol === IPPROTO_UDP ? 'UDP' : cp.protocol === IPPROTO_SCTP ? 'SCTP' : 'IP';
    return `${proto} ${ipToString(cp.caddr)}:${cp.cport} → ${ipToString(cp.vaddr)}:${cp.vport} → ${ipToString(cp.daddr)}:${cp.dport}`;
  }
}

