/**
 * Connection tracking for one network namespace, modelled on nf_conntrack
 * (nf_conntrack_core.c, nf_conntrack_proto_{tcp,udp,icmp,generic}.c).
 *
 * - `inbound(skb, hook)` is nf_conntrack_in (PREROUTING / OUTPUT, priority
 *   -200): the tuple comes from the IPv4 header at `skb.nh`; it is looked up in
 *   both directions; a NEW flow gets an *unconfirmed* entry that enters the
 *   table only at `confirm(skb)` (POSTROUTING / INPUT, priority INT_MAX).
 * - The packet's entry and ctinfo are kept on the skb (`skb.ct` holds an
 *   {@link SkbCt}; the objects are cached per entry and ctinfo, so nothing is
 *   allocated per packet, like the kernel's ct|ctinfo pointer). An SkbCt
 *   belongs to one table: a packet that carries another namespace's SkbCt is
 *   treated as untouched (the kernel scrubs `_nfct` when a packet changes
 *   namespace).
 * - Timeouts run on the virtual clock (ns) and come from the namespace's
 *   sysctls `net.netfilter.nf_conntrack_*`, defaults as a 6.18 kernel has
 *   them. Expiry is lazy: an expired entry is removed when a lookup meets it,
 *   when the table is listed, or by `gc(now)`; `list(now)` is therefore
 *   exact at any time.
 *
 * Modelled: TCP (tcp_conntracks state table, window tracking tcp_in_window
 * with window scaling and SACK, retransmission and unacknowledged-data
 * timeouts, RST checks, re-open after TIME_WAIT/CLOSE, pick-up of
 * established flows with nf_conntrack_tcp_loose, nf_conntrack_tcp_be_liberal),
 * UDP (30 s until a reply; after a reply, a packet more than 2 s after the
 * first one makes it a stream: ASSURED, 120 s), ICMP queries (echo,
 * timestamp, info, address mask; only requests create entries), ICMP errors
 * RELATED to the flow they quote, any other protocol by addresses only
 * ("generic", 600 s). Checksums are verified at PREROUTING when
 * nf_conntrack_checksum is 1 (the kernel skips this for CHECKSUM_UNNECESSARY
 * packets, which the model does not distinguish).
 *
 * Not modelled: zones, helpers/expectations (IPS_EXPECTED), conntrack
 * accounting, nf_conntrack_max / early drop, SCTP/DCCP/GRE state machines
 * (they are tracked as generic), IPv6, fragments (the caller defragments
 * first; a non-first fragment is 'invalid').
 */
import type { Skb } from '../kernel/skb.js';
import type { Netns } from '../kernel/netns.js';
import { u16, u32 } from '../wire/bytes.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from '../wire/tcp.js';
import { NfHook } from '../kernel/hooks.js';
import { fold, onesSum, pseudoHeaderSum } from '../wire/checksum.js';
import type { ConnEntry, CtInfo, TcpCtState, Tuple } from './ct-types.js';
import { IPS_ASSURED, IPS_CONFIRMED, IPS_DYING, IPS_SEEN_REPLY, IPS_SRC_NAT_DONE } from './ct-types.js';
import { formatTable } from './ct-print.js';

export { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP };

const S = 1_000_000_000;

/** Sysctls conntrack adds to a namespace (values as /proc/sys/net/netfilter shows them on kernel 6.18). */
export const CT_SYSCTL_DEFAULTS: Readonly<Record<string, string>> = {
  'net.netfilter.nf_conntrack_tcp_timeout_syn_sent': '120',
  'net.netfilter.nf_conntrack_tcp_timeout_syn_recv': '60',
  'net.netfilter.nf_conntrack_tcp_timeout_established': '432000',
  'net.netfilter.nf_conntrack_tcp_timeout_fin_wait': '120',
  'net.netfilter.nf_conntrack_tcp_timeout_close_wait': '60',
  'net.netfilter.nf_conntrack_tcp_timeout_last_ack': '30',
  'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '120',
  'net.netfilter.nf_conntrack_tcp_timeout_close': '10',
  'net.netfilter.nf_conntrack_tcp_timeout_max_retrans': '300',
  'net.netfilter.nf_conntrack_tcp_timeout_unacknowledged': '300',
  'net.netfilter.nf_conntrack_tcp_be_liberal': '0',
  'net.netfilter.nf_conntrack_tcp_loose': '1',
  'net.netfilter.nf_conntrack_tcp_max_retrans': '3',
  'net.netfilter.nf_conntrack_tcp_ignore_invalid_rst': '0',
  'net.netfilter.nf_conntrack_udp_timeout': '30',
  'net.netfilter.nf_conntrack_udp_timeout_stream': '120',
  'net.netfilter.nf_conntrack_icmp_timeout': '30',
  'net.netfilter.nf_conntrack_generic_timeout': '600',
  'net.netfilter.nf_conntrack_checksum': '1',
};

// ── TCP state machine (nf_conntrack_proto_tcp.c tcp_conntracks) ──
const sNO = 0, sSS = 1, sSR = 2, sES = 3, sFW = 4, sCW = 5, sLA = 6, sTW = 7, sCL = 8, sS2 = 9, sIV = 10, sIG = 11;
const TCP_STATE_NAMES: readonly TcpCtState[] = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
const TCP_TIMEOUT_KEYS = [
  '', 'syn_sent', 'syn_recv', 'established', 'fin_wait', 'close_wait', 'last_ack', 'time_wait', 'close', 'syn_sent',
].map((k) => (k ? `net.netfilter.nf_conntrack_tcp_timeout_${k}` : ''));
const TCP_SYN_SET = 0, TCP_SYNACK_SET = 1, TCP_FIN_SET = 2, TCP_ACK_SET = 3, TCP_RST_SET = 4, TCP_NONE_SET = 5;

/** [dir][index][state] → new state. */
const TCP_CONNTRACKS: readonly (readonly (readonly number[])[])[] = [
  [ // ORIGINAL     sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
    /* syn    */ [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2],
    /* synack */ [sIV, sIV, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
  [ // REPLY        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
    /* syn    */ [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sS2],
    /* synack */ [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
];

const TH_FIN = TCP_FIN, TH_SYN = TCP_SYN, TH_RST = TCP_RST, TH_PSH = TCP_PSH, TH_ACK = TCP_ACK, TH_URG = TCP_URG, TH_ECE = TCP_ECE, TH_CWR = TCP_CWR;
/** tcp_valid_flags: combinations of SYN/FIN/RST/ACK/URG (PSH, ECE, CWR ignored) a segment may carry. */
const TCP_VALID_FLAGS = new Uint8Array(64);
for (const f of [TH_SYN, TH_SYN | TH_URG, TH_SYN | TH_ACK, TH_RST, TH_RST | TH_ACK, TH_FIN | TH_ACK, TH_FIN | TH_ACK | TH_URG, TH_ACK, TH_ACK | TH_URG]) TCP_VALID_FLAGS[f] = 1;

// ip_ct_tcp_state.flags
const F_WINDOW_SCALE = 0x01;
const F_SACK_PERM = 0x02;
const F_CLOSE_INIT = 0x04;
const F_BE_LIBERAL = 0x08;
const F_DATA_UNACKNOWLEDGED = 0x10;
const F_MAXACK_SET = 0x20;

/** One direction's window tracking data (struct ip_ct_tcp_state). */
export interface TcpDirState {
  tdEnd: number;
  tdMaxend: number;
  tdMaxwin: number;
  tdMaxack: number;
  tdScale: number;
  flags: number;
}

/** struct ip_ct_tcp. */
export interface TcpTrack {
  seen: [TcpDirState, TcpDirState];
  lastDir: number;
  lastIndex: number;
  lastSeq: number;
  lastAck: number;
  lastEnd: number;
  lastWin: number;
  retrans: number;
}

function newDirState(): TcpDirState {
  return { tdEnd: 0, tdMaxend: 0, tdMaxwin: 0, tdMaxack: 0, tdScale: 0, flags: 0 };
}

/** Sequence-number comparisons modulo 2^32 (before()/after() in the kernel). */
function before(a: number, b: number): boolean { return ((a - b) | 0) < 0; }
function after(a: number, b: number): boolean { return ((b - a) | 0) < 0; }

/** What `skb.ct` holds: the packet's entry and its relation to it (ct null for invalid/untracked). */
export interface SkbCt {
  readonly ct: Conn | null;
  readonly ctinfo: CtInfo;
  /** The table the entry belongs to. */
  readonly table: Conntrack;
}

const CTINFO_ORDER: readonly CtInfo[] = ['established', 'related', 'new', 'established_reply', 'related_reply'];

/** CTINFO_ORDER.indexOf(ctinfo), without the search (every packet asks). */
function ctinfoIndex(ctinfo: CtInfo): number {
  switch (ctinfo) {
    case 'established': return 0;
    case 'related': return 1;
    case 'new': return 2;
    case 'established_reply': return 3;
    case 'related_reply': return 4;
    default: return CTINFO_ORDER.indexOf(ctinfo);
  }
}

/** A tuple's place in the hash (struct nf_conntrack_tuple_hash). */
interface HNode {
  t: Tuple;
  conn: Conn;
  /** 0 = original, 1 = reply. */
  dir: number;
  hash: number;
  next: HNode | null;
}

/** A conntrack entry (struct nf_conn). */
export class Conn implements ConnEntry {
  status = 0;
  mark = 0;
  expires = 0;
  tcpState?: TcpCtState;
  /** Timeout (ns) an unconfirmed entry gets when it is confirmed. */
  timeout = 0;
  /** TCP tracking data; null for other protocols. */
  tcp: TcpTrack | null = null;
  /** UDP: virtual time after which a replied flow counts as a stream. */
  udpStreamTs = 0;
  /** MASQUERADE: ifindex of the device the binding was made for (nf_conn_nat.masq_index), 0 if none. */
  masqIfindex = 0;
  /** Hash nodes for both directions (null until confirmed). */
  hOrig: HNode | null = null;
  hReply: HNode | null = null;
  /** Cached SkbCt objects by ctinfo (see CTINFO_ORDER). */
  readonly infos: (SkbCt | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  /** Numeric TCP state (index into TCP_STATE_NAMES). */
  tcpStateNum = sNO;

  constructor(readonly id: number, public orig: Tuple, public reply: Tuple, readonly table: Conntrack) {}

  get confirmed(): boolean { return (this.status & IPS_CONFIRMED) !== 0; }
  get proto(): number { return this.orig.proto; }

  /** The shared {ct, ctinfo} object for this entry and ctinfo. */
  info(ctinfo: CtInfo): SkbCt {
    const i = ctinfoIndex(ctinfo);
    let o = this.infos[i];
    if (!o) { o = { ct: this, ctinfo, table: this.table }; this.infos[i] = o; }
    return o;
  }
}

/** A fresh Tuple. */
export function makeTuple(src: number, dst: number, proto: number, sport: number, dport: number, icmpType = -1): Tuple {
  return { src: src >>> 0, dst: dst >>> 0, proto, sport, dport, icmpType };
}

/** ICMP query types and their replies (icmp invmap); -1 when the type has no inverse. */
export function icmpInverse(type: number): number {
  switch (type) {
    case 8: return 0;
    case 0: return 8;
    case 13: return 14;
    case 14: return 13;
    case 15: return 16;
    case 16: return 15;
    case 17: return 18;
    case 18: return 17;
    default: return -1;
  }
}

/** nf_ct_invert_tuple. */
export function invertTuple(t: Tuple): Tuple {
  if (t.proto === IPPROTO_ICMP) return makeTuple(t.dst, t.src, t.proto, t.sport, 0, icmpInverse(t.icmpType));
  return makeTuple(t.dst, t.src, t.proto, t.dport, t.sport, t.icmpType);
}

/** invertTuple written into `out` (no allocation); returns `out`. */
export function invertTupleInto(out: Tuple, t: Tuple): Tuple {
  const icmp = t.proto === IPPROTO_ICMP;
  const src = t.dst >>> 0, dst = t.src >>> 0, proto = t.proto;
  const sport = icmp ? t.sport : t.dport, dport = icmp ? 0 : t.sport, icmpType = icmp ? icmpInverse(t.icmpType) : t.icmpType;
  out.src = src; out.dst = dst; out.proto = proto; out.sport = sport; out.dport = dport; out.icmpType = icmpType;
  return out;
}

export function tupleEqual(a: Tuple, b: Tuple): boolean {
  return a.src === b.src && a.dst === b.dst && a.proto === b.proto && a.sport === b.sport && a.dport === b.dport && a.icmpType === b.icmpType;
}

/** Whether tuple `t` is exactly this one (tupleEqual with the other tuple in fields: the packet's, parsed without an object). */
function holds(t: Tuple, src: number, dst: number, proto: number, sport: number, dport: number, itype: number): boolean {
  return t.src === src && t.dst === dst && t.proto === proto && t.sport === sport && t.dport === dport && t.icmpType === itype;
}

/** Hash of a tuple's fields (no allocation). */
function tupleHash(src: number, dst: number, proto: number, sport: number, dport: number, itype: number): number {
  let h = Math.imul(src ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dst, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((sport << 16) | dport), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ (proto << 8) ^ (itype & 0xff), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Reads a sysctl as a number, falling back to conntrack's default. */
function sysNum(ns: Netns, key: string): number {
  const v = ns.sysctls.get(key);
  if (v !== undefined && v !== '') return Number(v);
  return Number(CT_SYSCTL_DEFAULTS[key] ?? '0');
}

/** Verifies the L4 checksum over the pseudo header (protocol `proto`, length `l4len`). */
function l4ChecksumOk(b: Uint8Array, nh: number, l4: number, l4len: number, proto: number): boolean {
  const ph = pseudoHeaderSum(u32(b, nh + 12), u32(b, nh + 16), proto, l4len);
  return fold(onesSum(b, l4, l4len, ph)) === 0xffff;
}

/** Statistics like /proc/net/stat/nf_conntrack (the fields the model produces). */
export interface CtStats {
  found: number;
  invalid: number;
  insert: number;
  insertFailed: number;
  drop: number;
  clashResolve: number;
  searched: number;
}

export class Conntrack {
  private readonly buckets = new Map<number, HNode>();
  private nextId = 1;
  /** Confirmed, live entries in creation order (Map keeps insertion order). */
  private readonly entries = new Map<number, Conn>();
  /** SNAT bindings by original source (nf_nat_bysource): key = hash of (proto, src, sport). */
  readonly bySource = new Map<number, Conn[]>();
  private readonly untrackedInfo: SkbCt;
  private readonly invalidInfo: SkbCt;
  readonly stats: CtStats = { found: 0, invalid: 0, insert: 0, insertFailed: 0, drop: 0, clashResolve: 0, searched: 0 };
  /** Why the last packet was 'invalid' (for traces), '' otherwise. */
  lastInvalidReason = '';

  // Parsed fields of the packet being looked at (no allocation on the hot path).
  private pSrc = 0; private pDst = 0; private pProto = 0; private pSport = 0; private pDport = 0; private pType = -1;

  constructor(readonly ns: Netns) {
    this.untrackedInfo = { ct: null, ctinfo: 'untracked', table: this };
    this.invalidInfo = { ct: null, ctinfo: 'invalid', table: this };
    // Loading nf_conntrack makes its sysctls appear in the namespace.
    for (const [k, v] of Object.entries(CT_SYSCTL_DEFAULTS)) if (!ns.sysctls.has(k)) ns.sysctls.set(k, v);
  }

  private get now(): number { return this.ns.world.now; }

  // ── skb slot ──

  /** The packet's conntrack info from this table, or null when conntrack has not seen it here. */
  get(skb: Skb): SkbCt | null {
    const c = skb.ct as SkbCt | null;
    return c && c.table === this ? c : null;
  }

  /**
   * nf_ct_attach: a packet the stack makes about `from` — an ICMP error (icmp_glue_bits), a
   * REJECT's reset (nf_send_reset) — belongs to from's connection as RELATED in the other
   * direction, confirmed or not; conntrack then leaves it be (it never confirms a reply).
   */
  attach(to: Skb, from: Skb): void {
    if (to.ct) return;
    const c = this.get(from);
    if (!c || !c.ct) return;
    const orig = c.ctinfo === 'new' || c.ctinfo === 'established' || c.ctinfo === 'related';
    to.ct = c.ct.info(orig ? 'related_reply' : 'related');
  }

  /** NOTRACK / CT --notrack (raw table, before conntrack): the packet stays untracked. */
  markUntracked(skb: Skb): void {
    skb.ct = this.untrackedInfo;
  }

  /** Forgets the packet's conntrack info (nf_reset_ct). */
  reset(skb: Skb): void {
    skb.ct = null;
  }

  private setInvalid(skb: Skb, reason: string): SkbCt {
    this.stats.invalid++;
    this.lastInvalidReason = reason;
    skb.ct = this.invalidInfo;
    return this.invalidInfo;
  }

  // ── table ──

  /**
   * The last two nodes `find` found, with the number of chain nodes it looked at to get to
   * each (`stats.searched`), valid while `chainGen` is `lookGen`: every change to a hash chain
   * (insertNode, removeNode) bumps chainGen, so while it stays a bucket's chain is as it was
   * and a lookup of the same tuple would walk to the same node. A namespace's packets come in
   * one or two flows at a time (a pod flow and the overlay flow carrying it): no hash and no
   * map lookup for them (issue 9).
   */
  private chainGen = 0;
  private lookGen = -1;
  private look0: HNode | null = null;
  private look0Searched = 0;
  private look1: HNode | null = null;
  private look1Searched = 0;

  private insertNode(n: HNode): void {
    this.chainGen++;
    n.next = this.buckets.get(n.hash) ?? null;
    this.buckets.set(n.hash, n);
  }

  private removeNode(n: HNode): void {
    this.chainGen++;
    let p = this.buckets.get(n.hash) ?? null;
    if (p === n) {
      if (n.next) this.buckets.set(n.hash, n.next);
      else this.buckets.delete(n.hash);
      return;
    }
    while (p && p.next !== n) p = p.next;
    if (p) p.next = n.next;
  }

  private nodeFor(conn: Conn, t: Tuple, dir: number): HNode {
    return { t, conn, dir, hash: tupleHash(t.src, t.dst, t.proto, t.sport, t.dport, t.icmpType), next: null };
  }

  /**
   * A remembered node's answer for the tuple: the node when it holds it (null when it has
   * expired meanwhile: then it goes), undefined when it does not hold it.
   */
  private recall(n: HNode | null, searched: number, src: number, dst: number, proto: number, sport: number, dport: number, itype: number): HNode | null | undefined {
    if (n === null || !holds(n.t, src, dst, proto, sport, dport, itype)) return undefined;
    this.stats.searched += searched; // what the walk that found it counted, as the kernel would count again
    if (n.conn.expires - this.now <= 0) { this.kill(n.conn); return null; }
    return n;
  }

  /** Finds the live entry holding this tuple (either direction); expired entries met on the way are removed. */
  private find(src: number, dst: number, proto: number, sport: number, dport: number, itype: number): HNode | null {
    if (this.lookGen === this.chainGen) {
      const a = this.recall(this.look0, this.look0Searched, src, dst, proto, sport, dport, itype);
      if (a !== undefined) return a;
      const b = this.recall(this.look1, this.look1Searched, src, dst, proto, sport, dport, itype);
      if (b !== undefined) return b;
    } else {
      this.look0 = null;
      this.look1 = null;
      this.lookGen = this.chainGen;
    }
    const h = tupleHash(src, dst, proto, sport, dport, itype);
    let n = this.buckets.get(h) ?? null;
    let searched = 0;
    while (n) {
      const next = n.next;
      const t = n.t;
      this.stats.searched++;
      searched++;
      if (holds(t, src, dst, proto, sport, dport, itype)) {
        if (n.conn.expires - this.now <= 0) { this.kill(n.conn); return null; }
        this.look1 = this.look0; this.look1Searched = this.look0Searched;
        this.look0 = n; this.look0Searched = searched;
        return n;
      }
      n = next;
    }
    return null;
  }

  /** Looks a tuple up (either direction); null when not in the table (or expired). */
  lookup(t: Tuple): { ct: Conn; dir: number } | null {
    const n = this.find(t.src >>> 0, t.dst >>> 0, t.proto, t.sport, t.dport, t.icmpType);
    return n ? { ct: n.conn, dir: n.dir } : null;
  }

  /**
   * nf_conntrack_tuple_taken: is `t` used by a live confirmed entry other than
   * `ignored`, in either direction? (NAT asks this for the reply tuple it would create.)
   */
  tupleTaken(t: Tuple, ignored: Conn | null): boolean {
    const h = tupleHash(t.src >>> 0, t.dst >>> 0, t.proto, t.sport, t.dport, t.icmpType);
    let n = this.buckets.get(h) ?? null;
    while (n) {
      const next = n.next;
      if (n.conn !== ignored && tupleEqual(n.t, t)) {
        if (n.conn.expires - this.now <= 0) this.kill(n.conn);
        else return true;
      }
      n = next;
    }
    return false;
  }

  /** Removes an entry (nf_ct_kill / timeout). */
  kill(conn: Conn): void {
    if (conn.status & IPS_DYING) return;
    conn.status |= IPS_DYING;
    if (conn.hOrig) { this.removeNode(conn.hOrig); conn.hOrig = null; }
    if (conn.hReply) { this.removeNode(conn.hReply); conn.hReply = null; }
    this.entries.delete(conn.id);
    if (conn.status & IPS_SRC_NAT_DONE) {
      const key = bySourceKey(conn.orig);
      const list = this.bySource.get(key);
      if (list) {
        const i = list.indexOf(conn);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.bySource.delete(key);
      }
    }
  }

  /** Removes every expired entry. */
  gc(now = this.now): void {
    for (const c of this.entries.values()) if (c.expires - now <= 0) this.kill(c);
  }

  /** Live confirmed entries, oldest first. */
  *all(now = this.now): IterableIterator<Conn> {
    for (const c of [...this.entries.values()]) {
      if (c.expires - now <= 0) { this.kill(c); continue; }
      yield c;
    }
  }

  /** Number of live confirmed entries. */
  count(now = this.now): number {
    this.gc(now);
    return this.entries.size;
  }

  /** The table as `conntrack -L` prints it at virtual time `now` (entries in creation order). */
  list(now = this.now): string {
    return formatTable(this.all(now), now);
  }

  /** Deletes every entry (`conntrack -F`). */
  flush(): void {
    for (const c of [...this.entries.values()]) this.kill(c);
  }

  /** Records an SNAT binding for find_appropriate_src (called by NAT setup). */
  addBySource(conn: Conn): void {
    const key = bySourceKey(conn.orig);
    const list = this.bySource.get(key);
    if (list) list.push(conn);
    else this.bySource.set(key, [conn]);
  }

  // ── timeouts ──

  private tcpTimeout(state: number): number {
    return sysNum(this.ns, TCP_TIMEOUT_KEYS[state]) * S;
  }

  /** nf_ct_refresh: unconfirmed entries keep the relative timeout until confirmed. */
  private refresh(conn: Conn, timeout: number): void {
    if (conn.status & IPS_CONFIRMED) conn.expires = this.now + timeout;
    else conn.timeout = timeout;
  }

  // ── nf_conntrack_in ──

  /** The namespace's sysctls as of `sysVersion` (CowMap.version): the ones read for every packet, parsed once. */
  private sysVersion = -1;
  private checksumOn = true;
  private udpTimeout = 0;
  private udpStreamTimeout = 0;
  private icmpTimeout = 0;
  private genericTimeout = 0;

  private readSysctls(): void {
    const ns = this.ns;
    this.checksumOn = sysNum(ns, 'net.netfilter.nf_conntrack_checksum') !== 0;
    this.udpTimeout = sysNum(ns, 'net.netfilter.nf_conntrack_udp_timeout') * S;
    this.udpStreamTimeout = sysNum(ns, 'net.netfilter.nf_conntrack_udp_timeout_stream') * S;
    this.icmpTimeout = sysNum(ns, 'net.netfilter.nf_conntrack_icmp_timeout') * S;
    this.genericTimeout = sysNum(ns, 'net.netfilter.nf_conntrack_generic_timeout') * S;
    this.sysVersion = ns.sysctls.version;
  }

  /**
   * nf_conntrack_in at PREROUTING or OUTPUT: find or create the packet's entry,
   * run the protocol tracker, and store {ct, ctinfo} on the skb. A packet this
   * table has already seen (loopback: OUTPUT then PREROUTING; or untracked)
   * keeps what it has.
   */
  inbound(skb: Skb, hook: number): SkbCt {
    const prev = this.get(skb);
    if (prev && (prev.ct !== null || prev.ctinfo === 'untracked')) return prev;
    this.lastInvalidReason = '';
    const b = skb.buf, nh = skb.nh;
    if (nh < 0) return this.setInvalid(skb, 'no IPv4 header');
    const hl = (b[nh] & 0x0f) << 2;
    const totLen = u16(b, nh + 2);
    if (hl < 20 || totLen < hl) return this.setInvalid(skb, 'bad IPv4 header');
    if ((u16(b, nh + 6) & 0x1fff) !== 0) return this.setInvalid(skb, 'non-first fragment');
    const proto = b[nh + 9];
    const l4 = nh + hl, l4len = totLen - hl;
    if (this.ns.sysctls.version !== this.sysVersion) this.readSysctls();
    const checksum = hook === NfHook.PRE_ROUTING && this.checksumOn;

    this.pSrc = u32(b, nh + 12); this.pDst = u32(b, nh + 16); this.pProto = proto;
    this.pSport = 0; this.pDport = 0; this.pType = -1;
    if (proto === IPPROTO_TCP) {
      if (l4len < 20) return this.setInvalid(skb, 'truncated TCP header');
      const doff = (b[l4 + 12] >>> 4) << 2;
      if (doff < 20 || doff > l4len) return this.setInvalid(skb, 'TCP data offset');
      const flags = b[l4 + 13] & ~(TH_ECE | TH_CWR | TH_PSH);
      if (!TCP_VALID_FLAGS[flags & 0x3f] || flags & 0xc0) return this.setInvalid(skb, 'invalid TCP flag combination');
      if (checksum && !skb.csumOk) {
        if (!l4ChecksumOk(b, nh, l4, l4len, IPPROTO_TCP)) return this.setInvalid(skb, 'bad TCP checksum');
        skb.csumOk = true;
      }
      this.pSport = u16(b, l4); this.pDport = u16(b, l4 + 2);
    } else if (proto === IPPROTO_UDP) {
      if (l4len < 8) return this.setInvalid(skb, 'short UDP packet');
      const ulen = u16(b, l4 + 4);
      if (ulen > l4len || ulen < 8) return this.setInvalid(skb, 'truncated/malformed UDP packet');
      if (checksum && !skb.csumOk && u16(b, l4 + 6) !== 0) {
        if (!l4ChecksumOk(b, nh, l4, ulen, IPPROTO_UDP)) return this.setInvalid(skb, 'bad UDP checksum');
        skb.csumOk = true;
      }
      this.pSport = u16(b, l4); this.pDport = u16(b, l4 + 2);
    } else if (proto === IPPROTO_ICMP) {
      if (l4len < 8) return this.setInvalid(skb, 'short ICMP packet');
      if (checksum && fold(onesSum(b, l4, l4len)) !== 0xffff) return this.setInvalid(skb, 'bad ICMP checksum');
      const type = b[l4];
      if (type === 3 || type === 4 || type === 5 || type === 11 || type === 12) return this.icmpError(skb, l4, l4len);
      if (type > 18) return this.setInvalid(skb, 'invalid ICMP type');
      this.pType = type; this.pSport = u16(b, l4 + 4);
    }

    let n = this.find(this.pSrc, this.pDst, this.pProto, this.pSport, this.pDport, this.pType);
    let conn: Conn;
    let dir: number;
    if (n) {
      conn = n.conn; dir = n.dir;
      this.stats.found++;
    } else {
      const c = this.newConn(skb, l4, l4len);
      if (!c) return this.setInvalid(skb, this.lastInvalidReason || 'cannot create entry');
      conn = c; dir = 0;
    }

    // Protocol tracker.
    for (let repeat = 0; ; repeat++) {
      const r = this.track(conn, dir, skb, l4, l4len, hook);
      if (r === 'ok') break;
      if (r === 'invalid') return this.setInvalid(skb, this.lastInvalidReason);
      // 'repeat': the old entry was killed (re-opened TCP connection); start a new one.
      if (repeat > 0) return this.setInvalid(skb, 'repeat');
      const c = this.newConn(skb, l4, l4len);
      if (!c) return this.setInvalid(skb, this.lastInvalidReason || 'cannot create entry');
      conn = c; dir = 0;
    }

    let ctinfo: CtInfo;
    if (dir === 1) {
      ctinfo = 'established_reply';
      conn.status |= IPS_SEEN_REPLY;
    } else if (conn.status & IPS_SEEN_REPLY) ctinfo = 'established';
    else ctinfo = 'new';
    const info = conn.info(ctinfo);
    skb.ct = info;
    return info;
  }

  /** init_conntrack: a new unconfirmed entry for the parsed tuple, or null (invalid). */
  private newConn(skb: Skb, l4: number, l4len: number): Conn | null {
    const proto = this.pProto;
    let rType = -1;
    if (proto === IPPROTO_ICMP) {
      rType = icmpInverse(this.pType);
      // icmp_new: only query requests start a connection.
      if (rType < 0 || !(this.pType === 8 || this.pType === 13 || this.pType === 15 || this.pType === 17)) {
        this.lastInvalidReason = `ICMP type ${this.pType} cannot start a connection`;
        return null;
      }
    }
    const orig = makeTuple(this.pSrc, this.pDst, proto, this.pSport, this.pDport, this.pType);
    const reply = proto === IPPROTO_ICMP
      ? makeTuple(this.pDst, this.pSrc, proto, this.pSport, 0, rType)
      : makeTuple(this.pDst, this.pSrc, proto, this.pDport, this.pSport, -1);
    const conn = new Conn(this.nextId++, orig, reply, this);
    if (proto === IPPROTO_TCP && !this.tcpNew(conn, skb, l4, l4len)) return null;
    if (proto === IPPROTO_UDP) conn.udpStreamTs = this.now + 2 * S;
    return conn;
  }

  /** Runs the protocol's packet function; 'repeat' asks for a fresh lookup (the entry was killed). */
  private track(conn: Conn, dir: number, skb: Skb, l4: number, l4len: number, hook: number): 'ok' | 'invalid' | 'repeat' {
    const proto = conn.orig.proto;
    if (proto === IPPROTO_TCP) return this.tcpPacket(conn, dir, skb, l4, l4len, hook);
    if (proto === IPPROTO_UDP) {
      if (conn.status & IPS_SEEN_REPLY) {
        let extra = this.udpTimeout;
        let stream = false;
        // Still active after two seconds? A stream: longer timeout, and ASSURED.
        if (this.now - conn.udpStreamTs > 0) {
          extra = this.udpStreamTimeout;
          stream = true;
        }
        this.refresh(conn, extra);
        if (stream) conn.status |= IPS_ASSURED;
      } else {
        this.refresh(conn, this.udpTimeout);
      }
      return 'ok';
    }
    if (proto === IPPROTO_ICMP) {
      this.refresh(conn, this.icmpTimeout);
      return 'ok';
    }
    this.refresh(conn, this.genericTimeout);
    return 'ok';
  }

  // ── ICMP errors (nf_conntrack_icmpv4_error / nf_conntrack_inet_error) ──

  private icmpError(skb: Skb, l4: number, l4len: number): SkbCt {
    const b = skb.buf;
    const inner = l4 + 8;
    const avail = l4len - 8;
    if (avail < 20) return this.setInvalid(skb, 'ICMP error: short inner header');
    const ihl = (b[inner] & 0x0f) << 2;
    if (ihl < 20 || avail < ihl) return this.setInvalid(skb, 'ICMP error: bad inner header');
    const iproto = b[inner + 9];
    const isrc = u32(b, inner + 12), idst = u32(b, inner + 16);
    const il4 = inner + ihl;
    const il4avail = avail - ihl;
    let sport = 0, dport = 0, itype = -1;
    if (iproto === IPPROTO_TCP || iproto === IPPROTO_UDP) {
      if (il4avail < 8) return this.setInvalid(skb, 'ICMP error: short inner L4 header');
      sport = u16(b, il4); dport = u16(b, il4 + 2);
    } else if (iproto === IPPROTO_ICMP) {
      if (il4avail < 8) return this.setInvalid(skb, 'ICMP error: short inner ICMP header');
      const t = b[il4];
      if (icmpInverse(t) < 0) return this.setInvalid(skb, 'ICMP error about an ICMP error');
      itype = t; sport = u16(b, il4 + 4);
    }
    // Look up the inverse of the quoted packet's tuple.
    let n: HNode | null;
    if (iproto === IPPROTO_ICMP) n = this.find(idst, isrc, iproto, sport, 0, icmpInverse(itype));
    else n = this.find(idst, isrc, iproto, dport, sport, -1);
    if (!n) return this.setInvalid(skb, 'ICMP error: no matching connection');
    const conn = n.conn;
    // The error must go to where the flow's packets in that direction go.
    const outerDst = u32(skb.buf, skb.nh + 16);
    const t = n.dir === 0 ? conn.orig : conn.reply;
    if (t.dst !== outerDst) return this.setInvalid(skb, 'ICMP error: outer destination does not match');
    const info = conn.info(n.dir === 1 ? 'related_reply' : 'related');
    skb.ct = info;
    return info;
  }

  // ── TCP (nf_conntrack_proto_tcp.c) ──

  private tcpNew(conn: Conn, skb: Skb, l4: number, l4len: number): boolean {
    const b = skb.buf;
    const flags = b[l4 + 13];
    const index = tcpIndex(flags);
    const newState = TCP_CONNTRACKS[0][index][sNO];
    if (newState >= sIV) { this.lastInvalidReason = 'invalid TCP packet for a new connection'; return false; }
    const tcp: TcpTrack = { seen: [newDirState(), newDirState()], lastDir: 0, lastIndex: TCP_NONE_SET, lastSeq: 0, lastAck: 0, lastEnd: 0, lastWin: 0, retrans: 0 };
    const seq = u32(b, l4 + 4);
    const win = u16(b, l4 + 14);
    const end = segEnd(seq, l4len, (b[l4 + 12] >>> 4) << 2, flags);
    const s0 = tcp.seen[0];
    if (newState === sSS) {
      // SYN: the sender's initial window data.
      s0.tdEnd = s0.tdMaxend = end;
      s0.tdMaxwin = win === 0 ? 1 : win;
      tcpOptions(b, l4, s0);
    } else {
      if (sysNum(this.ns, 'net.netfilter.nf_conntrack_tcp_loose') === 0) { this.lastInvalidReason = 'TCP pick-up disabled (nf_conntrack_tcp_loose=0)'; return false; }
      // Picked up mid-stream: history lost; be liberal in both directions.
      s0.tdEnd = end;
      s0.tdMaxwin = win === 0 ? 1 : win;
      s0.tdMaxend = (end + s0.tdMaxwin) >>> 0;
      s0.flags = F_SACK_PERM | F_BE_LIBERAL;
      tcp.seen[1].flags = F_SACK_PERM | F_BE_LIBERAL;
    }
    conn.tcp = tcp;
    conn.tcpStateNum = sNO;
    conn.tcpState = 'NONE';
    return true;
  }

  private tcpPacket(conn: Conn, dir: number, skb: Skb, l4: number, l4len: number, _hook: number): 'ok' | 'invalid' | 'repeat' {
    const b = skb.buf;
    const tcp = conn.tcp!;
    const flags = b[l4 + 13];
    const index = tcpIndex(flags);
    const oldState = conn.tcpStateNum;
    let newState = TCP_CONNTRACKS[dir][index][oldState];
    const seq = u32(b, l4 + 4);

    if (newState === sSS && oldState >= sTW) {
      // SYN on a closed connection: re-open it if it was closed properly or aborted by this side.
      if (((tcp.seen[dir].flags | tcp.seen[1 - dir].flags) & F_CLOSE_INIT) || (tcp.lastDir === dir && tcp.lastIndex === TCP_RST_SET)) {
        this.kill(conn);
        return 'repeat';
      }
      newState = sIG;
    }
    if (newState === sIG) {
      // Possibly valid, possibly not: remember it, leave the state alone, let it pass.
      tcp.lastIndex = index; tcp.lastDir = dir; tcp.lastSeq = seq;
      tcp.lastEnd = segEnd(seq, l4len, (b[l4 + 12] >>> 4) << 2, flags);
      tcp.lastWin = u16(b, l4 + 14);
      return 'ok';
    }
    if (newState === sIV) {
      this.lastInvalidReason = `invalid TCP state transition (${TCP_STATE_NAMES[oldState]}, flags ${tcpFlagNames(flags)}, ${dir ? 'reply' : 'original'})`;
      return 'invalid';
    }
    if (newState === sCL && index === TCP_RST_SET) {
      const peer = tcp.seen[1 - dir];
      if (peer.flags & F_MAXACK_SET) {
        if (before(seq, peer.tdMaxack) && sysNum(this.ns, 'net.netfilter.nf_conntrack_tcp_ignore_invalid_rst') === 0) {
          this.lastInvalidReason = 'invalid RST (sequence before the acknowledged data)';
          return 'invalid';
        }
        const established = oldState === sES || (conn.status & IPS_ASSURED) !== 0;
        if (established && seq !== peer.tdMaxack && !(tcp.lastIndex === TCP_ACK_SET && tcp.lastDir === dir && seq === tcp.lastEnd)) {
          // Inexact RST: keep the state (the peer may answer with a challenge ACK).
          newState = oldState;
        }
      }
    }

    if (!this.tcpInWindow(conn, tcp, dir, index, b, l4, l4len, flags)) {
      this.lastInvalidReason = 'TCP segment out of window';
      return 'invalid';
    }

    tcp.lastIndex = index;
    tcp.lastDir = dir;
    conn.tcpStateNum = newState;
    conn.tcpState = TCP_STATE_NAMES[newState];
    if (oldState !== newState && newState === sFW) tcp.seen[dir].flags |= F_CLOSE_INIT;

    const timeouts = (s: number) => this.tcpTimeout(s);
    const retransT = sysNum(this.ns, 'net.netfilter.nf_conntrack_tcp_timeout_max_retrans') * S;
    const unackT = sysNum(this.ns, 'net.netfilter.nf_conntrack_tcp_timeout_unacknowledged') * S;
    let timeout = timeouts(newState);
    if (tcp.retrans >= sysNum(this.ns, 'net.netfilter.nf_conntrack_tcp_max_retrans') && timeout > retransT) timeout = retransT;
    else if (index === TCP_RST_SET) timeout = timeouts(sCL);
    else if (((tcp.seen[0].flags | tcp.seen[1].flags) & F_DATA_UNACKNOWLEDGED) && timeout > unackT) timeout = unackT;
    else if (tcp.lastWin === 0 && timeout > retransT) timeout = retransT;

    if (!(conn.status & IPS_SEEN_REPLY)) {
      // No reply seen yet (SEEN_REPLY is set after this packet). If the only answer is a RST, drop the entry now.
      if (flags & TH_RST) {
        this.refresh(conn, timeout);
        if (conn.status & IPS_CONFIRMED) this.kill(conn);
        else conn.status |= IPS_DYING;
        return 'ok';
      }
    } else if (!(conn.status & IPS_ASSURED) && (oldState === sSR || oldState === sES) && newState === sES) {
      // A valid ACK in ESTABLISHED after SYN_RECV, or an answer on a picked-up connection.
      conn.status |= IPS_ASSURED;
    }
    this.refresh(conn, timeout);
    return 'ok';
  }

  /** tcp_in_window: is the segment acceptable for the window data seen so far? Updates the data. */
  private tcpInWindow(conn: Conn, tcp: TcpTrack, dir: number, index: number, b: Uint8Array, l4: number, l4len: number, flags: number): boolean {
    const sender = tcp.seen[dir];
    const receiver = tcp.seen[1 - dir];
    let seq = u32(b, l4 + 4);
    let ack = u32(b, l4 + 8);
    let sack = ack;
    let win = u16(b, l4 + 14);
    const doff = (b[l4 + 12] >>> 4) << 2;
    let end = segEnd(seq, l4len, doff, flags);
    const syn = (flags & TH_SYN) !== 0, hasAck = (flags & TH_ACK) !== 0, rst = (flags & TH_RST) !== 0;

    if (receiver.flags & F_SACK_PERM) sack = tcpSack(b, l4, doff, sack);

    if (sender.tdMaxwin === 0) {
      // First packet in this direction.
      if (syn) {
        sender.tdEnd = sender.tdMaxend = end;
        sender.tdMaxwin = win === 0 ? 1 : win;
        tcpOptions(b, l4, sender);
        // RFC 1323: scaling only when both sides offer it.
        if (!((sender.flags & F_WINDOW_SCALE) && (receiver.flags & F_WINDOW_SCALE))) sender.tdScale = receiver.tdScale = 0;
        if (!hasAck) return true; // simultaneous open
      } else {
        sender.tdEnd = end;
        const swin = win << sender.tdScale;
        sender.tdMaxwin = swin === 0 ? 1 : swin;
        sender.tdMaxend = (end + sender.tdMaxwin) >>> 0;
        if (receiver.tdMaxwin === 0) receiver.tdEnd = receiver.tdMaxend = sack;
        else if (sack === ((receiver.tdEnd + 1) >>> 0)) receiver.tdEnd = (receiver.tdEnd + 1) >>> 0;
      }
    } else if (((conn.tcpStateNum === sSS && dir === 0) || (conn.tcpStateNum === sSR && dir === 1)) && after(end, sender.tdEnd)) {
      // Re-initialised connection (RFC 793: new, larger sequence numbers).
      sender.tdEnd = sender.tdMaxend = end;
      sender.tdMaxwin = win === 0 ? 1 : win;
      tcpOptions(b, l4, sender);
    }

    if (!hasAck) ack = sack = receiver.tdEnd;
    else if (rst && ack === 0) ack = sack = receiver.tdEnd;
    if (rst && seq === 0 && conn.tcpStateNum === sSS) seq = end = sender.tdEnd;

    const maxAckWin = sender.tdMaxwin > 66000 ? sender.tdMaxwin : 66000;
    const inRecvWin = receiver.tdMaxwin === 0 || after(end, (sender.tdEnd - receiver.tdMaxwin - 1) >>> 0);
    if (before(seq, (sender.tdMaxend + 1) >>> 0) && inRecvWin && before(sack, (receiver.tdEnd + 1) >>> 0) && after(sack, (receiver.tdEnd - maxAckWin - 1) >>> 0)) {
      if (!syn) win = win * (1 << sender.tdScale);
      const swin = win + ((sack - ack) >>> 0);
      if (sender.tdMaxwin < swin) sender.tdMaxwin = swin;
      if (after(end, sender.tdEnd)) { sender.tdEnd = end; sender.flags |= F_DATA_UNACKNOWLEDGED; }
      if (hasAck) {
        if (!(sender.flags & F_MAXACK_SET)) { sender.tdMaxack = ack; sender.flags |= F_MAXACK_SET; }
        else if (after(ack, sender.tdMaxack)) sender.tdMaxack = ack;
      }
      if (receiver.tdMaxwin !== 0 && after(end, sender.tdMaxend)) receiver.tdMaxwin += (end - sender.tdMaxend) >>> 0;
      if (after((sack + win) >>> 0, (receiver.tdMaxend - 1) >>> 0)) {
        receiver.tdMaxend = (sack + win) >>> 0;
        if (win === 0) receiver.tdMaxend = (receiver.tdMaxend + 1) >>> 0;
      }
      if (ack === receiver.tdEnd) receiver.flags &= ~F_DATA_UNACKNOWLEDGED;
      if (index === TCP_ACK_SET) {
        if (tcp.lastDir === dir && tcp.lastSeq === seq && tcp.lastAck === ack && tcp.lastEnd === end && tcp.lastWin === win) tcp.retrans++;
        else { tcp.lastDir = dir; tcp.lastSeq = seq; tcp.lastAck = ack; tcp.lastEnd = end; tcp.lastWin = win; tcp.retrans = 0; }
      }
      return true;
    }
    return (sender.flags & F_BE_LIBERAL) !== 0 || sysNum(this.ns, 'net.netfilter.nf_conntrack_tcp_be_liberal') !== 0;
  }

  // ── __nf_conntrack_confirm ──

  /**
   * Confirms the packet's entry at POSTROUTING / INPUT: a new entry enters the
   * table with its timeout starting now. Returns false when the packet must be
   * dropped (an equivalent entry appeared meanwhile and the clash cannot be
   * resolved, or the entry died before confirmation).
   */
  confirm(skb: Skb): boolean {
    const info = this.get(skb);
    if (!info || !info.ct) return true;
    const conn = info.ct;
    if (conn.status & IPS_CONFIRMED) return true;
    // Only the original direction confirms.
    if (info.ctinfo === 'established_reply' || info.ctinfo === 'related_reply') return true;
    if (conn.status & IPS_DYING) {
      // Killed before confirmation (a RST answered it): the packet passes, the entry never enters the table.
      return true;
    }
    const oClash = this.lookup(conn.orig);
    const rClash = oClash ? null : this.lookup(conn.reply);
    const clash = oClash ?? rClash;
    if (clash) {
      const other = clash.ct;
      // nf_ct_resolve_clash: UDP/ICMP may reuse an identical existing entry; everything else is dropped.
      const allowClash = conn.orig.proto === IPPROTO_UDP || conn.orig.proto === IPPROTO_ICMP;
      if (allowClash && tupleEqual(other.orig, conn.orig) && tupleEqual(other.reply, conn.reply)) {
        this.stats.clashResolve++;
        skb.ct = other.info(info.ctinfo);
        return true;
      }
      this.stats.insertFailed++;
      this.stats.drop++;
      return false;
    }
    conn.status |= IPS_CONFIRMED;
    conn.expires = this.now + conn.timeout;
    conn.hOrig = this.nodeFor(conn, conn.orig, 0);
    conn.hReply = this.nodeFor(conn, conn.reply, 1);
    this.insertNode(conn.hOrig);
    this.insertNode(conn.hReply);
    this.entries.set(conn.id, conn);
    this.stats.insert++;
    return true;
  }

  /**
   * nf_conntrack_alter_reply: NAT changed the reply tuple of an unconfirmed entry.
   */
  alterReply(conn: Conn, reply: Tuple): void {
    if (conn.status & IPS_CONFIRMED) throw new Error('conntrack: cannot alter the reply tuple of a confirmed entry');
    conn.reply = reply;
  }
}

/** Key of the nf_nat_bysource hash: protocol, source address and port of the original tuple. */
export function bySourceKey(t: Tuple): number {
  return tupleHash(t.src, 0, t.proto, t.sport, 0, 0);
}

/** get_conntrack_index. */
function tcpIndex(flags: number): number {
  if (flags & TH_RST) return TCP_RST_SET;
  if (flags & TH_SYN) return flags & TH_ACK ? TCP_SYNACK_SET : TCP_SYN_SET;
  if (flags & TH_FIN) return TCP_FIN_SET;
  if (flags & TH_ACK) return TCP_ACK_SET;
  return TCP_NONE_SET;
}

/** segment_seq_plus_len: seq + payload length + SYN + FIN. */
function segEnd(seq: number, l4len: number, doff: number, flags: number): number {
  return (seq + (l4len - doff) + (flags & TH_SYN ? 1 : 0) + (flags & TH_FIN ? 1 : 0)) >>> 0;
}

function tcpFlagNames(flags: number): string {
  const names: string[] = [];
  if (flags & TH_SYN) names.push('SYN');
  if (flags & TH_ACK) names.push('ACK');
  if (flags & TH_FIN) names.push('FIN');
  if (flags & TH_RST) names.push('RST');
  return names.join(',') || 'none';
}

/** tcp_options: window scale and SACK-permitted from a SYN's options. */
function tcpOptions(b: Uint8Array, l4: number, st: TcpDirState): void {
  const doff = (b[l4 + 12] >>> 4) << 2;
  let p = l4 + 20;
  const endp = l4 + doff;
  st.tdScale = 0;
  st.flags = 0;
  while (p < endp) {
    const kind = b[p];
    if (kind === 0) return;
    if (kind === 1) { p++; continue; }
    if (p + 1 >= endp) return;
    const size = b[p + 1];
    if (size < 2 || p + size > endp) return;
    if (kind === 4 && size === 2) st.flags |= F_SACK_PERM;
    else if (kind === 3 && size === 3) {
      st.tdScale = Math.min(b[p + 2], 14);
      st.flags |= F_WINDOW_SCALE;
    }
    p += size;
  }
}

/** tcp_sack: the highest right edge of the SACK blocks, or `sack` unchanged. */
function tcpSack(b: Uint8Array, l4: number, doff: number, sack: number): number {
  let p = l4 + 20;
  const endp = l4 + doff;
  while (p < endp) {
    const kind = b[p];
    if (kind === 0) break;
    if (kind === 1) { p++; continue; }
    if (p + 1 >= endp) break;
    const size = b[p + 1];
    if (size < 2 || p + size > endp) break;
    if (kind === 5 && size >= 10 && (size - 2) % 8 === 0) {
      for (let i = p + 2; i < p + size; i += 8) {
        const right = u32(b, i + 4);
        if (after(right, sack)) sack = right;
      }
      return sack;
    }
    p += size;
  }
  return sack;
}

/** Hook numbers where conntrack runs (for callers registering it). */
