/**
 * NAT on top of conntrack, modelled on nf_nat (nf_nat_core.c, nf_nat_proto.c).
 *
 * - `setup(ct, manip, range)` is nf_nat_setup_info: on a NEW (unconfirmed)
 *   entry, choose the tuple the packet will have after the manipulation,
 *   unique among the table's reply tuples, and store its inverse as the
 *   entry's reply tuple; IPS_SRC_NAT / IPS_DST_NAT say the tuple changed,
 *   IPS_*_NAT_DONE that the binding for that side is made (also for a NULL
 *   binding).
 * - `fn(skb, hook, runRules)` is nf_nat_ipv4_fn / nf_nat_inet_fn for the
 *   traversal: for a packet that is NEW (or RELATED) on a connection without a
 *   binding for this hook's side, the nat table's rules run once
 *   (`runRules`); if none made a binding, a NULL binding is made; then every
 *   packet, both directions, is rewritten per the binding (`manip`). Related
 *   ICMP errors are translated as nf_nat_icmp_reply_translation does (outer
 *   header and the quoted packet).
 * - `manip(skb, ct, ctinfo, hook)` is nf_nat_packet: DNAT happens at
 *   PREROUTING/OUTPUT for the original direction, SNAT at POSTROUTING/INPUT;
 *   replies get the inverse (un-SNAT at PREROUTING/OUTPUT, un-DNAT at
 *   POSTROUTING/INPUT). IP and L4 checksums are updated incrementally
 *   (RFC 1624); a zero UDP checksum stays zero.
 *
 * Port selection (get_unique_tuple as in the current kernel):
 * 1. SNAT without --random/--random-fully: keep the original tuple if it is in
 *    range and unused; else reuse the mapping an existing connection from the
 *    same source address/port/protocol got (nf_nat_bysource) if that is unused.
 * 2. Address: a single address is taken as is; for a range the kernel hashes
 *    the addresses with jhash2 and a boot-time secret; the model uses its own
 *    deterministic hash of (source, destination) (persistent: source only).
 * 3. Port: kept if in range and unique (and no --random*); else a search from
 *    a random 16-bit offset (the kernel's get_random_u16, here the run's PRNG)
 *    through the range, at most 128 tries, then fresh random offsets with
 *    halving windows while the window is at least 16. Without --to-ports a
 *    source port below 512 maps into 1-511, 512-1023 into 600-1023, others
 *    into 1024-65535; destination ports without a range never change. ICMP
 *    echo ids use 0-65535.
 */
import type { Skb } from '../kernel/skb.js';
import { u16, u32 } from '../wire/bytes.js';
import { checksum } from '../wire/checksum.js';
import { ipv4SetDst, ipv4SetSrc } from '../wire/ipv4.js';
import { tcpSetDport, tcpSetSport, tcpUpdateAddr } from '../wire/tcp.js';
import { udpSetDport, udpSetSport, udpUpdateAddr } from '../wire/udp.js';
import { icmpSetEchoId } from '../wire/icmp.js';
import type { CtInfo, NatRange, Tuple } from './ct-types.js';
import { IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_SRC_NAT, IPS_SRC_NAT_DONE, IPS_CONFIRMED } from './ct-types.js';
import { Conntrack, Conn, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, bySourceKey, invertTuple, invertTupleInto, makeTuple, tupleEqual, type SkbCt } from './conntrack.js';

export type NatManip = 'src' | 'dst';

/** NF_NAT_MANIP for a hook: SRC at POSTROUTING (4) and INPUT (1), DST at PREROUTING (0) and OUTPUT (3). */
export function hookManip(hook: number): NatManip {
  return hook === 4 || hook === 1 ? 'src' : 'dst';
}

const IPS_NAT_MASK = IPS_SRC_NAT | IPS_DST_NAT;

/** nf_nat_initialized: has this side of the connection got its binding (possibly NULL)? */
export function natInitialized(ct: Conn, manip: NatManip): boolean {
  return (ct.status & (manip === 'src' ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) !== 0;
}

/** Verdicts of the NAT functions. */
export const enum NatVerdict {
  DROP = 0,
  ACCEPT = 1,
}

/** Extra inputs of {@link Nat.setup}. */
export interface NatSetupOpts {
  /** MASQUERADE: the egress device's ifindex (the binding dies if later packets leave elsewhere). */
  masqIfindex?: number;
}

function isEchoLike(type: number): boolean {
  return type === 0 || type === 8 || type === 13 || type === 14 || type === 15 || type === 16 || type === 17 || type === 18;
}

/** Deterministic stand-in for the kernel's jhash2 over the addresses (find_best_ips_proto). */
function addrHash(src: number, dst: number): number {
  let h = Math.imul((src ^ 0x27d4eb2d) >>> 0, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dst, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Nat {
  /** True when the last `fn` call changed the packet's destination address (the caller re-routes). */
  dstChanged = false;

  /**
   * @param ct the namespace's conntrack table
   * @param random uniform 32-bit draws (the run's PRNG) for port offsets
   */
  constructor(readonly ct: Conntrack, private readonly random: () => number = () => ct.ns.world.rng.u32()) {}

  // ── nf_nat_setup_info ──

  /**
   * Binds `manip` for the NEW connection `conn` to `range`. Returns DROP only
   * for a second binding of the same side (a bug in the caller, as the
   * kernel's WARN); a confirmed entry is left alone (ACCEPT).
   */
  setup(conn: Conn, manip: NatManip, range: NatRange, opts?: NatSetupOpts): NatVerdict {
    if (conn.status & IPS_CONFIRMED) return NatVerdict.ACCEPT;
    if (natInitialized(conn, manip)) return NatVerdict.DROP;
    const curr = invertTuple(conn.reply);
    const next = this.uniqueTuple(curr, range, conn, manip);
    if (!tupleEqual(next, curr)) {
      this.ct.alterReply(conn, invertTuple(next));
      conn.status |= manip === 'src' ? IPS_SRC_NAT : IPS_DST_NAT;
    }
    if (manip === 'src') {
      conn.status |= IPS_SRC_NAT_DONE;
      this.ct.addBySource(conn);
      if (opts?.masqIfindex) conn.masqIfindex = opts.masqIfindex;
    } else conn.status |= IPS_DST_NAT_DONE;
    return NatVerdict.ACCEPT;
  }

  /** nf_nat_alloc_null_binding: bind this hook's side to the address it already has (the port may still move on a clash). */
  nullBinding(conn: Conn, hook: number): NatVerdict {
    const manip = hookManip(hook);
    const ip = manip === 'src' ? conn.reply.dst : conn.reply.src;
    return this.setup(conn, manip, { minIp: ip, maxIp: ip, minPort: 0, maxPort: 0, random: false, randomFully: false, persistent: false });
  }

  /** nf_nat_used_tuple: would a connection with original tuple `t` clash with an existing reply? */
  private used(t: Tuple, ignored: Conn): boolean {
    return this.ct.tupleTaken(invertTuple(t), ignored);
  }

  private uniqueTuple(orig: Tuple, range: NatRange, conn: Conn, manip: NatManip): Tuple {
    const mapIps = range.minIp !== 0 || range.maxIp !== 0;
    const protoSpecified = range.minPort !== 0 || range.maxPort !== 0;
    const randomAll = range.random || range.randomFully;
    const inRange = (t: Tuple): boolean => {
      if (mapIps && !(t.src >>> 0 >= range.minIp >>> 0 && t.src >>> 0 <= range.maxIp >>> 0)) return false;
      if (!protoSpecified) return true;
      return l4InRange(t, 'src', range);
    };

    // 1) SNAT: keep the source if possible, or reuse the mapping this source already has.
    if (manip === 'src' && !randomAll) {
      if (inRange(orig)) {
        if (!this.used(orig, conn)) return orig;
      } else {
        const found = this.findAppropriateSrc(orig, inRange);
        if (found && !this.used(found, conn)) return found;
      }
    }

    // 2) The address.
    let t = { ...orig };
    if (mapIps) {
      let ip: number;
      if (range.minIp >>> 0 === range.maxIp >>> 0) ip = range.minIp >>> 0;
      else {
        const dist = ((range.maxIp >>> 0) - (range.minIp >>> 0) + 1) >>> 0;
        const j = range.persistent ? addrHash(t.src, 0) : addrHash(t.src, t.dst);
        ip = ((range.minIp >>> 0) + Number((BigInt(j) * BigInt(dist)) >> 32n)) >>> 0;
      }
      if (manip === 'src') t.src = ip;
      else t.dst = ip;
    }

    // 3) The port (or ICMP id).
    if (!randomAll) {
      if (protoSpecified) {
        if (l4InRange(t, manip, range) && (range.minPort === range.maxPort || !this.used(t, conn))) return t;
      } else if (!this.used(t, conn)) return t;
    }
    t = this.l4UniqueTuple(t, range, manip, conn, protoSpecified);
    return t;
  }

  private findAppropriateSrc(orig: Tuple, inRange: (t: Tuple) => boolean): Tuple | null {
    const list = this.ct.bySource.get(bySourceKey(orig));
    if (!list) return null;
    for (const c of list) {
      const o = c.orig;
      if (o.proto !== orig.proto || o.src !== orig.src || o.sport !== orig.sport) continue;
      if (c.expires - this.ct.ns.world.now <= 0 && (c.status & IPS_CONFIRMED)) continue;
      const r = invertTuple(c.reply);
      const result = makeTuple(r.src, orig.dst, orig.proto, r.sport, orig.dport, orig.icmpType);
      if (inRange(result)) return result;
    }
    return null;
  }

  /** nf_nat_l4proto_unique_tuple. */
  private l4UniqueTuple(t: Tuple, range: NatRange, manip: NatManip, conn: Conn, protoSpecified: boolean): Tuple {
    let min: number, size: number;
    const icmp = t.proto === IPPROTO_ICMP;
    const portProto = t.proto === IPPROTO_TCP || t.proto === IPPROTO_UDP || t.proto === 132 || t.proto === 33 || t.proto === 136;
    if (!icmp && !portProto) return t;
    // ICMP: the id lives in the source part whichever side is manipulated.
    const setKey = (v: number) => { if (icmp || manip === 'src') t.sport = v; else t.dport = v; };
    if (icmp) {
      if (!protoSpecified) { min = 0; size = 65536; }
      else { min = range.minPort; size = range.maxPort - range.minPort + 1; }
    } else if (!protoSpecified) {
      if (manip === 'dst') return t;
      const port = t.sport;
      if (port < 1024) {
        if (port < 512) { min = 1; size = 511; }
        else { min = 600; size = 1023 - 600 + 1; }
      } else { min = 1024; size = 65535 - 1024 + 1; }
    } else {
      let lo = range.minPort, hi = range.maxPort;
      if (hi < lo) [lo, hi] = [hi, lo];
      min = lo; size = hi - lo + 1;
    }
    let off = this.random() & 0xffff;
    let attempts = Math.min(size, 128);
    for (;;) {
      for (let i = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
        setKey(min + (off % size));
        if (!this.used(t, conn)) return t;
      }
      if (attempts >= size || attempts < 16) return t;
      attempts = attempts >>> 1;
      off = this.random() & 0xffff;
    }
  }

  // ── nf_nat_ipv4_fn ──

  /**
   * The NAT hook body for the traversal at `hook` (PREROUTING, OUTPUT: DNAT
   * side; POSTROUTING, INPUT: SNAT side). `runRules` runs the nat table's
   * chain for this hook and returns false if a rule dropped the packet; it is
   * called only for the first packet of a connection (NEW / RELATED without a
   * binding). Sets `dstChanged`. `outIfindex`: the egress device at
   * POSTROUTING (a MASQUERADE binding made for another device drops the packet
   * and the entry, as nf_nat_oif_changed).
   */
  fn(skb: Skb, hook: number, runRules: (() => boolean) | null, outIfindex = 0): NatVerdict {
    this.dstChanged = false;
    const info = this.ct.get(skb);
    if (!info || !info.ct) return NatVerdict.ACCEPT;
    const conn = info.ct;
    const ctinfo = info.ctinfo;
    const b = skb.buf, nh = skb.nh;
    const daddr = u32(b, nh + 16);
    if ((ctinfo === 'related' || ctinfo === 'related_reply') && b[nh + 9] === IPPROTO_ICMP) {
      const ok = this.icmpReplyTranslation(skb, conn, ctinfo, hook);
      this.dstChanged = u32(b, nh + 16) !== daddr;
      return ok ? NatVerdict.ACCEPT : NatVerdict.DROP;
    }
    const manip = hookManip(hook);
    if (ctinfo === 'new' || ctinfo === 'related' || ctinfo === 'related_reply') {
      if (!natInitialized(conn, manip)) {
        if (runRules && !runRules()) return NatVerdict.DROP;
        if (!natInitialized(conn, manip) && this.nullBinding(conn, hook) === NatVerdict.DROP) return NatVerdict.DROP;
      } else if (this.oifChanged(conn, ctinfo, hook, outIfindex)) {
        this.ct.kill(conn);
        return NatVerdict.DROP;
      }
    } else if (this.oifChanged(conn, ctinfo, hook, outIfindex)) {
      this.ct.kill(conn);
      return NatVerdict.DROP;
    }
    this.manip(skb, conn, ctinfo, hook);
    this.dstChanged = u32(b, nh + 16) !== daddr;
    return NatVerdict.ACCEPT;
  }

  private oifChanged(conn: Conn, ctinfo: CtInfo, hook: number, outIfindex: number): boolean {
    return conn.masqIfindex !== 0 && hook === 4 && outIfindex !== 0 && (ctinfo === 'new' || ctinfo === 'established' || ctinfo === 'related') && conn.masqIfindex !== outIfindex;
  }

  // ── nf_nat_packet ──

  /**
   * Rewrites the packet per the connection's binding for `hook`'s side and the
   * packet's direction. Returns true when the packet was changed.
   */
  manip(skb: Skb, conn: Conn, ctinfo: CtInfo, hook: number): boolean {
    const mtype = hookManip(hook);
    const reply = ctinfo === 'established_reply' || ctinfo === 'related_reply';
    let statusbit = mtype === 'src' ? IPS_SRC_NAT : IPS_DST_NAT;
    if (reply) statusbit ^= IPS_NAT_MASK;
    if (!(conn.status & statusbit)) return false;
    // The packet should look like the inverse of the other direction's tuple (written into a
    // scratch tuple: manipPkt keeps nothing, and this runs for every packet of a NATed flow).
    manipPkt(skb.buf, skb.nh, invertTupleInto(MANIP_TARGET, reply ? conn.orig : conn.reply), mtype);
    return true;
  }

  // ── nf_nat_icmp_reply_translation ──

  /** Translates an ICMP error RELATED to `conn`: the quoted packet and the outer header. False = drop. */
  icmpReplyTranslation(skb: Skb, conn: Conn, ctinfo: CtInfo, hook: number): boolean {
    const b = skb.buf, nh = skb.nh;
    const hl = (b[nh] & 0x0f) << 2;
    const icmp = nh + hl;
    const icmpLen = u16(b, nh + 2) - hl;
    if (icmpLen < 8 + 20) return false;
    // The payload is about to be rewritten beyond checksum adjustment: the checksum must be right first.
    if (checksum(b, icmp, icmpLen) !== 0) return false;
    const manip = hookManip(hook);
    const reply = ctinfo === 'related_reply';
    if (b[icmp] === 5) {
      // Redirects on NATed connections would make the ends talk past the translation.
      if ((conn.status & (IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE)) !== (IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE)) return false;
      if (conn.status & IPS_NAT_MASK) return false;
    }
    let statusbit = manip === 'src' ? IPS_SRC_NAT : IPS_DST_NAT;
    if (reply) statusbit ^= IPS_NAT_MASK;
    if (!(conn.status & statusbit)) return true;
    // The quoted packet travelled the other way: give it the other direction's tuple, opposite side.
    const inner = icmp + 8;
    manipPkt(b, inner, reply ? conn.orig : conn.reply, manip === 'src' ? 'dst' : 'src', icmpLen - 8);
    b[icmp + 2] = 0; b[icmp + 3] = 0;
    const c = checksum(b, icmp, icmpLen);
    b[icmp + 2] = c >>> 8; b[icmp + 3] = c & 0xff;
    // The outer header: like the reply to a packet of the other direction.
    const target = invertTuple(reply ? conn.orig : conn.reply);
    manipPkt(b, nh, { ...target, proto: IPPROTO_ICMP, icmpType: -1 }, manip);
    return true;
  }

  /** Is `skb`'s connection NATed in a way that changes the destination for this packet's direction? */
  static dnatted(info: SkbCt | null): boolean {
    return !!info && !!info.ct && (info.ct.status & IPS_DST_NAT) !== 0;
  }
}

/** manip's target tuple, rewritten for every packet. */
const MANIP_TARGET: Tuple = makeTuple(0, 0, 0, 0, 0);

/** l4proto_in_range for the port (or ICMP id) of `t`. */
function l4InRange(t: Tuple, manip: NatManip, range: NatRange): boolean {
  if (t.proto === IPPROTO_ICMP) return t.sport >= range.minPort && t.sport <= range.maxPort;
  const portProto = t.proto === IPPROTO_TCP || t.proto === IPPROTO_UDP || t.proto === 132 || t.proto === 33 || t.proto === 136 || t.proto === 47;
  if (!portProto) return true;
  const port = manip === 'src' ? t.sport : t.dport;
  return port >= range.minPort && port <= range.maxPort;
}

/**
 * nf_nat_ipv4_manip_pkt: make the IPv4 packet at `nh` carry `target`'s source
 * (manip 'src') or destination ('dst') address and port, fixing checksums
 * incrementally. `avail` bounds the bytes present (a packet quoted in an ICMP
 * error may hold only 8 bytes of its L4 header: then a TCP checksum, which
 * lies beyond them, is left alone).
 */
export function manipPkt(b: Uint8Array, nh: number, target: Tuple, manip: NatManip, avail = -1): void {
  const hl = (b[nh] & 0x0f) << 2;
  const l4 = nh + hl;
  const proto = b[nh + 9];
  const l4avail = (avail < 0 ? u16(b, nh + 2) : Math.min(avail, u16(b, nh + 2))) - hl;
  const firstFrag = (u16(b, nh + 6) & 0x1fff) === 0;
  const oldAddr = manip === 'src' ? u32(b, nh + 12) : u32(b, nh + 16);
  const newAddr = (manip === 'src' ? target.src : target.dst) >>> 0;
  if (firstFrag) {
    if (proto === IPPROTO_TCP && l4avail >= 8) {
      const full = l4avail >= 20;
      const port = manip === 'src' ? target.sport : target.dport;
      const off = manip === 'src' ? l4 : l4 + 2;
      if (full) {
        if (manip === 'src') tcpSetSport(b, l4, port); else tcpSetDport(b, l4, port);
        tcpUpdateAddr(b, l4, oldAddr, newAddr);
      } else {
        b[off] = port >>> 8; b[off + 1] = port & 0xff;
      }
    } else if (proto === IPPROTO_UDP && l4avail >= 8) {
      if (manip === 'src') udpSetSport(b, l4, target.sport); else udpSetDport(b, l4, target.dport);
      udpUpdateAddr(b, l4, oldAddr, newAddr);
    } else if (proto === IPPROTO_ICMP && l4avail >= 8 && isEchoLike(b[l4])) {
      if (u16(b, l4 + 4) !== target.sport) icmpSetEchoId(b, l4, target.sport);
    }
  }
  if (oldAddr !== newAddr) {
    if (manip === 'src') ipv4SetSrc(b, nh, newAddr); else ipv4SetDst(b, nh, newAddr);
  }
}

