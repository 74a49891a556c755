/**
 * A TCP endpoint close enough to Linux that the frames match a real kernel's
 * for the exchanges podwire's traffic makes: the three-way handshake with
 * Linux's SYN options (mss, sackOK, TS, nop, wscale 7), its initial windows
 * (64240 / 65160, advertised scaled afterwards), quick ACKs for the first data
 * segments, piggy-backed ACKs, FIN exchange with TIME_WAIT, RST for closed
 * ports from the namespace's control socket, SYN and data retransmission with
 * exponential backoff, and ICMP errors aborting a connect (tcp_v4_err).
 *
 * Not modelled: SACK blocks, congestion control beyond the initial window,
 * out-of-order queues (out-of-order segments are dropped and dup-ACKed),
 * urgent data, TCP Fast Open, window growth (rcv_ssthresh).
 */
import type { NetDevice } from './device.js';
import type { Netns } from './netns.js';
import { Skb } from './skb.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { IPPROTO_TCP, ipv4Daddr as ipDst, ipv4HeaderLen as ipHdrLen, ipv4Saddr as ipSrc, ipv4TotLen as ipTotLen, writeIpv4Header } from '../wire/ipv4.js';
import { TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCPOPT_MSS, TCPOPT_WINDOW, TCPOPT_SACK_PERM, TCPOPT_TIMESTAMP } from '../wire/tcp.js';
import type { Route } from './fib.js';
import type { IcmpErrorInfo, SockError } from './sockets.js';
import { u16, u32, setU16, setU32, ipToString, slabBytes } from '../wire/bytes.js';
import { onesSum, pseudoHeaderSum, finishChecksum } from '../wire/checksum.js';

export const TH_FIN = TCP_FIN, TH_SYN = TCP_SYN, TH_RST = TCP_RST, TH_PSH = TCP_PSH, TH_ACK = TCP_ACK;

export type TcpState = 'CLOSED' | 'SYN_SENT' | 'SYN_RECV' | 'ESTABLISHED' | 'FIN_WAIT1' | 'FIN_WAIT2' | 'CLOSING' | 'TIME_WAIT' | 'CLOSE_WAIT' | 'LAST_ACK';

export interface TcpHandlers {
  /**
   * A listener's IP_TOS and IP_TTL (BIRD sets both on its BGP listening socket): its SYN-ACKs
   * carry them and its accepted sockets inherit them (default TOS 0, TTL 64).
   */
  tos?: number;
  ttl?: number;
  /** Connection established (client: SYN-ACK received; server: accepted). */
  onConnect?(s: TcpSock): void;
  onData?(s: TcpSock, data: Uint8Array): void;
  /** The peer sent FIN. */
  onEnd?(s: TcpSock): void;
  /** Fully closed (both FINs acknowledged, or reset). */
  onClose?(s: TcpSock): void;
  onError?(s: TcpSock, err: SockError, info?: IcmpErrorInfo): void;
}

/**
 * Receive windows, as tcp_select_initial_window and tcp_init_buffer_space
 * compute them. The initial window is the full receive space (tcp_rmem[1]
 * scaled by the default ratio 128/256) rounded down to a multiple of the MSS
 * the window is sized for (advmss on a SYN; advmss minus the 12 timestamp
 * bytes on a SYN-ACK when timestamps are on): 64240 and 65160 with MTU 1500,
 * 65495 and 65483 on lo. Once established, rcv_ssthresh is clamped to the
 * window clamp, which reserves one segment below the space estimated with the
 * measured ratio (130/256) when it exceeds two segments: 65100 with MTU 1500.
 * Checked against Linux 6.18 captures on veth and lo (wscale 7 and 10).
 */
function fullSpace(ns: Netns, ratio: number): number {
  const rmem1 = Number((ns.sysctl('net.ipv4.tcp_rmem') || '4096 131072 6291456').split(/\s+/)[1]) || 131072;
  return Math.floor((rmem1 * ratio) / 256);
}
function initialRcvWnd(ns: Netns, mss: number): number {
  let space = fullSpace(ns, 128);
  if (space > mss) space -= space % mss;
  return space;
}
function establishedRcvWnd(ns: Netns, initial: number, advmss: number): number {
  const maxwin = fullSpace(ns, 130);
  const clamp = maxwin > 2 * advmss ? Math.max(2 * advmss, maxwin - advmss) : maxwin;
  return Math.min(initial, clamp);
}
const TCP_TIMEOUT_INIT = 1_000_000_000;
const TCP_RTO_MIN = 200_000_000;
const TCP_RTO_MAX = 120_000_000_000;
const TCP_DELACK_MIN = 40_000_000;
/** TCP_ATO_MIN (HZ/25): the delayed-ACK timeout a connection starts with. */
const TCP_ATO_MIN = 40_000_000;
const TCP_TIMEWAIT_LEN = 60_000_000_000;
const TCP_SYN_RETRIES = 6;
const TCP_RETRIES2 = 15;
const TCP_MAX_QUICKACKS = 16;
const INIT_CWND = 10;

const seqLt = (a: number, b: number) => ((a - b) | 0) < 0;
const seqLe = (a: number, b: number) => ((a - b) | 0) <= 0;

/** A segment sent and not yet acknowledged: its data are the `len` bytes at stream offset `pos` of the send queue. */
interface Segment { seq: number; flags: number; len: number; pos: number; sentAt: number; retrans: number }
const NO_DATA = new Uint8Array(0);

/**
 * tcp_select_initial_window: the window scale we offer, from the largest
 * receive buffer the socket may grow to (max of tcp_rmem[2] and rmem_max).
 */
export function tcpWscale(ns: Netns): number {
  const rmem = Number((ns.sysctl('net.ipv4.tcp_rmem') || '4096 131072 6291456').split(/\s+/)[2]) || 6291456;
  let space = Math.max(rmem, Number(ns.sysctl('net.core.rmem_max')) || 212992);
  let ws = 0;
  while (space > 0xffff && ws < 14) { space = Math.floor(space / 2); ws++; }
  return ws;
}

export class TcpSock {
  state: TcpState = 'CLOSED';
  laddr = 0;
  raddr = 0;
  lport = 0;
  rport = 0;
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  rcvNxt = 0;
  /** Peer's advertised window in bytes (already scaled). */
  sndWnd = 0;
  sndWscale = 0;
  /** Our window scale (set from the receive buffer limits at connect/accept, see tcpWscale). */
  rcvWscale = 0;
  /** Our receive window in bytes (what we advertise, before scaling). */
  rcvWnd = 0;
  mss = 536;
  /** The MSS we advertise in SYN / SYN-ACK (route MTU − 40), tp->advmss. */
  advmss = 1460;
  tsOffset = 0;
  tsRecent = 0;
  tsOk = false;
  sackOk = false;
  wsOk = false;
  ipId = 0;
  quick = 0;
  /** IP_TOS and IP_TTL of the segments this socket sends (setsockopt; BIRD: TOS 0xc0, CS6). */
  tos = 0;
  ttl = 64;
  /**
   * TCP_NODELAY. Off (Linux's default, and BIRD's: it never sets it), Nagle's algorithm in
   * Linux's form (tcp_nagle_check with tcp_minshall_check) holds back a write's last
   * sub-MSS segment while an earlier sub-MSS segment is unacknowledged (`sndSml`, the end of
   * the last one sent, is beyond sndUna); it goes when that ACK comes or once the queued bytes
   * fill an MSS. Autocorking (tcp_autocorking) is not modelled: it waits for the device's TX
   * completion, and a transmit here completes at once.
   */
  nodelay = false;
  private sndSml = 0;
  /**
   * Receive side of tcp_measure_rcv_mss / tcp_cleanup_rbuf: `rcvMss` estimates the peer's MSS
   * (536 at first, TCP_MSS_DEFAULT), `ackPushed` is icsk_ack.pending's PUSHED (1) and PUSHED2 (2)
   * (a sub-MSS segment arrived; two did), `lastSegSize` the size of the last such segment,
   * `rcvWup` what the last ACK sent acknowledged, `unread` the bytes the application has not read.
   */
  private rcvMss = 536;
  private ackPushed = 0;
  private lastSegSize = 0;
  private rcvWup = 0;
  private unread = 0;
  /**
   * Delayed-ACK state (inet_connection_sock's icsk_ack): `pingpong` counts data sent within `ato`
   * of the last data received (tcp_event_data_sent); at 1 (tcp_pingpong_thresh) the connection is
   * interactive and quick ACKs stop — a request's ACK then rides on its reply. `ato` is 0 until the
   * first data arrives (TCP_ATO_MIN after); `lrcvtime` is when data last arrived (−1: never).
   */
  pingpong = 0;
  ato = 0;
  lrcvtime = -1;
  cwnd = INIT_CWND;
  /** Segments sent and not yet acknowledged, from `unacked[uaHead]` on (the acknowledged head is dropped in batches). */
  private unacked: Segment[] = [];
  private uaHead = 0;
  /**
   * The send queue: the buffers written (write(2)), referenced, not copied (writers never change
   * a buffer they wrote), from the first unacknowledged byte on — `sq[sqHead]` from offset `sqOff`,
   * at stream offset `sqPos` (bytes written since the connection began) — to the last byte written.
   * The next unsent byte is `sq[sendIdx][sendOff]`, at stream offset `sendPos`; `sendQBytes` bytes
   * are unsent. Segments copy their bytes from here straight into their packets; a retransmission
   * copies them again (the queue keeps them until they are acknowledged).
   */
  private sq: Uint8Array[] = [];
  private sqHead = 0;
  private sqOff = 0;
  private sqPos = 0;
  private sendIdx = 0;
  private sendOff = 0;
  private sendPos = 0;
  private sendQBytes = 0;
  private finQueued = false;
  private finSent = false;
  private rto = TCP_TIMEOUT_INIT;
  private rtoGen = 0;
  private rtoArmed = false;
  private delackGen = 0;
  private delackArmed = false;
  private srtt = 0;
  private rttvar = 0;
  flow: string | undefined;
  /** Watch this socket's first packet's path (set by the traffic runner). */
  onFirstSkb: ((skb: Skb) => void) | null = null;

  constructor(readonly ns: Netns, readonly h: TcpHandlers) {}

  private get world() { return this.ns.node.world; }
  private get now() { return this.ns.node.world.now; }

  /** The application hears about it once this instant's packet processing is done (a woken process runs after softirq). */
  private app(fn: () => void): void {
    this.ns.node.world.sched.defer(fn);
  }

  private tsNow(): number { return (Math.floor(this.now / 1_000_000) + this.tsOffset) >>> 0; }

  private trace(detail: string, skb: Skb | null = null): void {
    const w = this.world;
    if (w.trace.on) w.event(this.ns.node.name, this.ns.name, '', skb, 'tcp', `${ipToString(this.laddr)}:${this.lport} ↔ ${ipToString(this.raddr)}:${this.rport} ${this.state}: ${detail}`);
  }

  /**
   * connect(2): picks the source (or uses `src`, as bind(2) to an address would),
   * sends SYN. Returns an errno when there is no route.
   */
  connect(dst: number, dport: number, sport?: number, src?: number): SockError | null {
    const rt = this.ns.stack.routeOutput(dst);
    if (!rt) return 'ENETUNREACH';
    this.raddr = dst;
    this.rport = dport;
    this.laddr = src ?? (rt.type === 'local' ? dst : this.ns.selectSrc(rt.dev, dst, rt));
    this.lport = sport ?? this.ns.sockets.ephemeralPort('tcp');
    const rng = this.world.rng;
    this.iss = rng.u32();
    this.tsOffset = rng.u32();
    this.ipId = rng.int(0, 0xffff);
    this.mss = this.routeMss(rt);
    this.advmss = this.mss;
    this.rcvWnd = initialRcvWnd(this.ns, this.advmss);
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndSml = this.iss;
    this.rcvWscale = tcpWscale(this.ns);
    this.state = 'SYN_SENT';
    this.ns.sockets.tcpInsert(this);
    this.trace('connect: SYN');
    this.sendSegment(TH_SYN, 0, -1, true);
    return null;
  }

  private routeMss(rt: Route | null): number {
    // tcp_mss_clamp / ipv4_default_advmss: MTU − 40, at most 65535 − 40 (the largest IPv4 datagram).
    // A local destination is reached through lo, whatever device holds the address.
    const dev = rt && rt.type === 'local' ? this.ns.device('lo') ?? rt.dev : rt?.dev;
    return Math.min((dev ? dev.mtu : 1500) - 40, 65495);
  }

  /** write(2): queue data (the buffer itself: the caller must not change it afterwards); it goes out as MSS-sized segments within the windows. */
  send(data: Uint8Array): void {
    if (this.finQueued || data.length === 0) return;
    this.sq.push(data);
    this.sendQBytes += data.length;
    this.pushData();
  }

  /** close(2): FIN after the queued data. */
  close(): void {
    if (this.finQueued || this.state === 'CLOSED') return;
    this.finQueued = true;
    if (this.state === 'SYN_SENT') { this.done(); return; }
    this.pushData();
  }

  private pushData(): void {
    if (this.state !== 'ESTABLISHED' && this.state !== 'CLOSE_WAIT') return;
    while (this.sendQBytes > 0) {
      const inFlight = (this.sndNxt - this.sndUna) >>> 0;
      const wnd = Math.min(this.sndWnd, this.cwnd * this.mss);
      const room = wnd - inFlight;
      if (room <= 0) break;
      const n = Math.min(this.mss, this.sendQBytes, room);
      const last = n === this.sendQBytes;
      // tcp_nagle_test: the queue's last, sub-MSS segment waits while a sub-MSS segment is in flight (a FIN to send pushes it).
      if (last && n < this.mss && !this.nodelay && !this.finQueued && seqLt(this.sndUna, this.sndSml) && seqLe(this.sndSml, this.sndNxt)) break;
      this.sendSegment(TH_ACK | (last ? TH_PSH : 0), n, this.sendPos, true);
    }
    if (this.finQueued && !this.finSent && this.sendQBytes === 0) {
      this.finSent = true;
      this.state = this.state === 'ESTABLISHED' ? 'FIN_WAIT1' : 'LAST_ACK';
      this.trace('close: FIN');
      this.sendSegment(TH_FIN | TH_ACK, 0, -1, true);
    }
  }

  /**
   * Copies the `n` queued bytes at stream offset `pos` to `b` at `o`. The next unsent bytes come
   * from the send cursor, which moves past them; a retransmission's from the queue's head.
   */
  private copyOut(b: Uint8Array, o: number, pos: number, n: number): void {
    const sq = this.sq;
    let i: number, off: number;
    const advance = pos === this.sendPos;
    if (advance) { i = this.sendIdx; off = this.sendOff; }
    else {
      i = this.sqHead; off = this.sqOff + (pos - this.sqPos);
      while (off >= sq[i]!.length) { off -= sq[i]!.length; i++; }
    }
    while (n > 0) {
      const c = sq[i]!;
      const take = Math.min(c.length - off, n);
      if (off === 0 && take === c.length) b.set(c, o);
      else b.set(c.subarray(off, off + take), o);
      o += take; n -= take; off += take;
      if (off === c.length) { i++; off = 0; }
    }
    if (advance) { this.sendIdx = i; this.sendOff = off; }
  }

  /** The first `n` unacknowledged bytes were acknowledged: the queue lets go of them. */
  private dropAcked(n: number): void {
    const sq = this.sq;
    this.sqPos += n;
    let i = this.sqHead, off = this.sqOff + n;
    while (i < sq.length && off >= sq[i]!.length) { off -= sq[i]!.length; sq[i] = NO_DATA; i++; }
    this.sqHead = i; this.sqOff = off;
    // The dead head goes in one splice once it is half the array (each buffer is moved O(1) times).
    if (i === sq.length) { sq.length = 0; this.sqHead = 0; this.sendIdx = 0; this.sendOff = 0; }
    else if (i > 32 && i * 2 > sq.length) { sq.splice(0, i); this.sqHead = 0; this.sendIdx -= i; }
  }

  /** Advertised window field: the receive window scaled down, rounded up to the scale as __tcp_select_window does. */
  private windowField(flags: number): number {
    if (flags & TH_SYN) return Math.min(this.rcvWnd, 0xffff);
    if (!this.wsOk) return Math.min(this.rcvWnd, 0xffff);
    const scale = this.rcvWscale;
    const aligned = Math.ceil(this.rcvWnd / (1 << scale)) * (1 << scale);
    return Math.min(aligned >>> scale, 0xffff);
  }

  /**
   * Builds one segment and sends it, with the `len` queued bytes at stream offset `pos` (none
   * when `len` is 0); `track` keeps it for retransmission.
   */
  private sendSegment(flags: number, len: number, pos: number, track: boolean, seqOverride?: number): void {
    const seq = seqOverride ?? this.sndNxt;
    const syn = (flags & TH_SYN) !== 0;
    const optLen = syn ? (this.state === 'SYN_SENT' || this.tsOk ? 20 : 8) : this.tsOk ? 12 : 0;
    const thlen = 20 + optLen;
    const skb = Skb.alloc(ETH_HLEN + 20 + thlen + len);
    skb.flow = this.flow;
    if (flags & TH_ACK && this.state !== 'SYN_SENT') skb.confirmNeigh = true;
    const b = skb.buf, nh = skb.data + ETH_HLEN, th = nh + 20;
    setU16(b, th, this.lport); setU16(b, th + 2, this.rport);
    setU32(b, th + 4, seq);
    setU32(b, th + 8, flags & TH_ACK ? this.rcvNxt : 0);
    b[th + 12] = (thlen / 4) << 4;
    b[th + 13] = flags;
    setU16(b, th + 14, this.windowField(flags));
    setU16(b, th + 16, 0); setU16(b, th + 18, 0);
    let o = th + 20;
    if (syn) {
      b[o++] = 2; b[o++] = 4; setU16(b, o, this.advmss); o += 2;
      if (this.state === 'SYN_SENT' || (this.sackOk && this.tsOk)) {
        b[o++] = 4; b[o++] = 2;
        b[o++] = 8; b[o++] = 10; setU32(b, o, this.tsNow()); setU32(b, o + 4, this.state === 'SYN_SENT' ? 0 : this.tsRecent); o += 8;
        b[o++] = 1; b[o++] = 3; b[o++] = 3; b[o++] = this.rcvWscale;
      } else {
        b[o++] = 1; b[o++] = 3; b[o++] = 3; b[o++] = this.rcvWscale;
      }
    } else if (this.tsOk) {
      b[o++] = 1; b[o++] = 1; b[o++] = 8; b[o++] = 10; setU32(b, o, this.tsNow()); setU32(b, o + 4, this.tsRecent); o += 8;
    }
    if (len > 0) {
      this.copyOut(b, o, pos, len);
      if (seqOverride === undefined) { this.sendPos = pos + len; this.sendQBytes -= len; }
    }
    const l4len = thlen + len;
    setU16(b, th + 16, finishChecksum(onesSum(b, th, l4len, pseudoHeaderSum(this.laddr, this.raddr, IPPROTO_TCP, l4len))));
    // Connected socket: IP ID from the socket's counter (inet_id), DF set.
    const id = this.ipId;
    this.ipId = (this.ipId + 1) & 0xffff;
    writeIpv4Header(b, nh, this.laddr, this.raddr, IPPROTO_TCP, this.ttl, this.tos, id, true, l4len);
    skb.nh = nh;
    const consumes = len + (syn ? 1 : 0) + (flags & TH_FIN ? 1 : 0);
    if (seqOverride === undefined) {
      this.sndNxt = (this.sndNxt + consumes) >>> 0;
      // tcp_minshall_update: the end of the last sub-MSS segment sent.
      if (len > 0 && len < this.mss) this.sndSml = this.sndNxt;
    }
    if (track && consumes > 0 && seqOverride === undefined) {
      this.unacked.push({ seq, flags, len, pos, sentAt: this.now, retrans: 0 });
      this.armRto();
    }
    // tcp_event_ack_sent: an ACK went (alone or on data): nothing is pending any more.
    if (flags & TH_ACK) { this.delackArmed = false; this.ackPushed = 0; this.rcvWup = this.rcvNxt; }
    // tcp_event_data_sent: a reply within ato of the last data received makes the connection interactive.
    if (len > 0 && seqOverride === undefined && this.lrcvtime >= 0 && this.now - this.lrcvtime < this.ato && this.pingpong < 255) this.pingpong++;
    if (this.onFirstSkb) { this.onFirstSkb(skb); this.onFirstSkb = null; }
    const rt = this.ns.stack.routeOutput(this.raddr);
    if (!rt) { this.ns.drop(skb, null, 'IP_OUTNOROUTES', `no route to ${ipToString(this.raddr)}`); return; }
    this.ns.stack.localOut(skb, rt);
  }

  private armRto(): void {
    if (this.rtoArmed) return;
    this.rtoArmed = true;
    const gen = ++this.rtoGen;
    this.world.sched.after(this.rto, () => this.onRto(gen));
  }

  private resetRto(): void {
    this.rtoArmed = false;
    this.rtoGen++;
    if (this.uaHead < this.unacked.length) this.armRto();
  }

  private onRto(gen: number): void {
    if (gen !== this.rtoGen || !this.rtoArmed) return;
    this.rtoArmed = false;
    const seg = this.unacked[this.uaHead];
    if (!seg || this.state === 'CLOSED') return;
    const limit = seg.flags & TH_SYN ? TCP_SYN_RETRIES : TCP_RETRIES2;
    if (seg.retrans >= limit) {
      this.trace(`giving up after ${seg.retrans} retransmissions`);
      this.app(() => this.h.onError?.(this, 'ETIMEDOUT'));
      this.done();
      return;
    }
    seg.retrans++;
    this.rto = Math.min(this.rto * 2, TCP_RTO_MAX);
    this.cwnd = 1;
    this.trace(`retransmission timeout, resending seq ${(seg.seq - this.iss) >>> 0} (try ${seg.retrans})`);
    this.sendSegment(seg.flags, seg.len, seg.pos, false, seg.seq);
    this.armRto();
  }

  /** ACK now (quick ACK) or after the delayed-ACK timer unless data goes out first. */
  private scheduleAck(now: boolean): void {
    if (now) { this.sendSegment(TH_ACK, 0, -1, false); return; }
    if (this.delackArmed) return;
    this.delackArmed = true;
    const gen = ++this.delackGen;
    this.world.sched.after(TCP_DELACK_MIN, () => {
      if (gen !== this.delackGen || !this.delackArmed || this.state === 'CLOSED') return;
      // tcp_delack_timer_handler: the delayed ACK was not carried by data: leave interactive mode.
      if (this.pingpong >= 1) { this.pingpong = 0; this.ato = TCP_ATO_MIN; }
      this.sendSegment(TH_ACK, 0, -1, false);
    });
  }

  icmpError(err: SockError, info: IcmpErrorInfo): void {
    if (info.type === 3 && info.code === 4) return; // PMTU: not modelled beyond the drop
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECV') {
      this.trace(`ICMP type ${info.type} code ${info.code} from ${ipToString(info.from)}: connect fails with ${err}`);
      this.app(() => this.h.onError?.(this, err, info));
      this.done();
    }
    // Established connections treat ICMP errors as soft errors.
  }

  done(): void {
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    this.rtoGen++;
    this.delackGen++;
    this.ns.sockets.tcpRemove(this);
    this.app(() => this.h.onClose?.(this));
  }

  /** Processes a segment for this socket (tcp_rcv_state_process / tcp_rcv_established). */
  input(skb: Skb, th: number, dataOff: number, dataLen: number): void {
    const b = skb.buf;
    const seq = u32(b, th + 4), ack = u32(b, th + 8), flags = b[th + 13];
    const win = u16(b, th + 14);
    this.parseTs(b, th);
    if (this.state === 'SYN_SENT') {
      if (flags & TH_ACK && (seqLe(ack, this.iss) || seqLt(this.sndNxt, ack))) {
        if (!(flags & TH_RST)) sendReset(this.ns, skb, th, dataLen);
        return;
      }
      if (flags & TH_RST) {
        if (flags & TH_ACK) { this.trace('RST: connection refused', skb); this.app(() => this.h.onError?.(this, 'ECONNREFUSED')); this.done(); }
        return;
      }
      if (flags & TH_SYN) {
        this.parseSynOptions(b, th);
        this.rcvNxt = (seq + 1) >>> 0;
        this.sndUna = ack;
        this.unacked = [];
        this.uaHead = 0;
        this.resetRto();
        this.sndWnd = win; // SYN-ACK windows are never scaled
        this.state = 'ESTABLISHED';
        this.trace('SYN-ACK received: established', skb);
        this.sendSegment(TH_ACK, 0, -1, false);
        this.app(() => this.h.onConnect?.(this));
        this.pushData();
      }
      return;
    }
    if (flags & TH_RST) {
      if (seq === this.rcvNxt || (this.state === 'SYN_RECV')) {
        this.trace('RST received', skb);
        this.app(() => this.h.onError?.(this, 'ECONNRESET'));
        this.done();
      }
      return;
    }
    if (flags & TH_SYN) {
      if (this.state === 'SYN_RECV' && seq === ((this.rcvNxt - 1) >>> 0)) {
        // Retransmitted SYN: resend our SYN-ACK.
        this.sendSegment(TH_SYN | TH_ACK, 0, -1, false, this.iss);
        return;
      }
      this.sendSegment(TH_ACK, 0, -1, false); // challenge ACK
      return;
    }
    if (!(flags & TH_ACK)) return;
    // Acceptability: in-order segments only.
    if (dataLen > 0 || flags & TH_FIN) {
      if (seq !== this.rcvNxt) {
        this.trace(`out-of-order segment seq ${seq} (expected ${this.rcvNxt}): dup ACK`, skb);
        this.sendSegment(TH_ACK, 0, -1, false);
        return;
      }
    }
    // ACK processing.
    if (seqLt(this.sndUna, ack) && seqLe(ack, this.sndNxt)) {
      const acked = (ack - this.sndUna) >>> 0;
      this.sndUna = ack;
      const ua = this.unacked;
      let h = this.uaHead;
      const first = ua[h];
      if (first && first.retrans === 0) this.rttSample(this.now - first.sentAt);
      while (h < ua.length) {
        const s = ua[h]!;
        const end = (s.seq + s.len + (s.flags & TH_SYN ? 1 : 0) + (s.flags & TH_FIN ? 1 : 0)) >>> 0;
        if (!seqLe(end, ack)) break;
        h++;
        if (s.len > 0) this.dropAcked(s.len);
      }
      if (h === ua.length) { ua.length = 0; h = 0; }
      else if (h > 32 && h * 2 > ua.length) { ua.splice(0, h); h = 0; }
      this.uaHead = h;
      this.cwnd += Math.max(1, Math.floor(acked / this.mss));
      this.resetRto();
      if (this.state === 'SYN_RECV') {
        this.state = 'ESTABLISHED';
        this.rcvWnd = establishedRcvWnd(this.ns, this.rcvWnd, this.advmss);
        this.trace('handshake complete', skb);
        this.app(() => this.h.onConnect?.(this));
      }
      if (this.finSent && this.sndUna === this.sndNxt) {
        if (this.state === 'FIN_WAIT1') this.state = 'FIN_WAIT2';
        else if (this.state === 'CLOSING') { this.enterTimeWait(); }
        else if (this.state === 'LAST_ACK') { this.trace('last ACK: closed', skb); this.done(); return; }
      }
    } else if (this.state === 'SYN_RECV') {
      return;
    }
    this.sndWnd = win << (this.wsOk ? this.sndWscale : 0);
    if (dataLen > 0) {
      // The application reads the bytes later (after this instant's packets): a copy, on a packet slab rather than a
      // backing store of its own (slice's costs a microsecond and more as they pile up: 10 M segments of BGP at 5,000 nodes).
      const data = slabBytes(dataLen);
      data.set(b.subarray(dataOff, dataOff + dataLen));
      this.rcvNxt = (this.rcvNxt + dataLen) >>> 0;
      // tcp_event_data_recv: the first data sets ato; a gap longer than the RTO re-arms quick ACKs.
      if (this.ato === 0) { this.ato = TCP_ATO_MIN; this.quick = Math.max(this.quick, TCP_MAX_QUICKACKS); }
      else if (this.now - this.lrcvtime > this.rto) this.quick = Math.max(this.quick, TCP_MAX_QUICKACKS);
      this.lrcvtime = this.now;
      this.measureRcvMss(dataLen, flags);
      this.unread += dataLen;
      // __tcp_ack_snd_check: ACK at once in quick-ACK mode (quick ACKs left, not interactive), else delay it.
      if (this.quick > 0 && this.pingpong < 1) { this.quick--; this.scheduleAck(true); }
      else this.scheduleAck(false);
      this.app(() => {
        // recvmsg: the application reads, tcp_cleanup_rbuf may ACK now, then the application sees the data.
        this.unread -= dataLen;
        this.cleanupRbuf();
        this.h.onData?.(this, data);
      });
    }
    if (flags & TH_FIN) {
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      this.trace('FIN received', skb);
      if (this.state === 'ESTABLISHED') {
        this.state = 'CLOSE_WAIT';
        // tcp_fin: ACK is scheduled (pingpong mode), the application's own FIN usually carries it.
        this.scheduleAck(false);
        this.app(() => this.h.onEnd?.(this));
      } else if (this.state === 'FIN_WAIT1') {
        // Simultaneous close, or FIN+ACK of our FIN.
        if (this.sndUna === this.sndNxt) { this.sendSegment(TH_ACK, 0, -1, false); this.enterTimeWait(); }
        else { this.state = 'CLOSING'; this.sendSegment(TH_ACK, 0, -1, false); }
        this.app(() => this.h.onEnd?.(this));
      } else if (this.state === 'FIN_WAIT2') {
        this.sendSegment(TH_ACK, 0, -1, false);
        this.app(() => this.h.onEnd?.(this));
        this.enterTimeWait();
      } else if (this.state === 'TIME_WAIT') {
        this.sendSegment(TH_ACK, 0, -1, false);
      }
      return;
    }
    this.pushData();
  }

  /**
   * tcp_measure_rcv_mss: a segment of at least `rcvMss` bytes updates the estimate (and with PSH
   * marks the ACK pushed); a smaller one marks it pushed (twice: PUSHED2) unless it is one of
   * two equal sizes in a row that are plausibly the peer's MSS (at least 536 bytes, or 88
   * without PSH/FIN), which become the estimate.
   */
  private measureRcvMss(len: number, flags: number): void {
    const lss = this.lastSegSize;
    this.lastSegSize = 0;
    if (len >= this.rcvMss) {
      this.rcvMss = Math.min(len, this.advmss);
      if (flags & TH_PSH) this.ackPushed |= 1;
      return;
    }
    const hdr = this.tsOk ? 32 : 20;
    const withHdr = len + hdr;
    if (withHdr >= 536 + 20 || (withHdr >= 88 + 20 && !(flags & (TH_FIN | TH_PSH)))) {
      this.lastSegSize = len;
      if (len === lss) { this.rcvMss = len; return; }
    }
    if (this.ackPushed & 1) this.ackPushed |= 2;
    this.ackPushed |= 1;
  }

  /**
   * tcp_cleanup_rbuf after the application read: a scheduled (delayed) ACK goes now when more
   * than one full segment is unacknowledged, or the read emptied the queue and a small segment
   * was pushed (PUSHED outside interactive mode, PUSHED2 in it).
   */
  private cleanupRbuf(): void {
    if (!this.delackArmed || this.state === 'CLOSED') return;
    if (((this.rcvNxt - this.rcvWup) >>> 0) > this.rcvMss
      || (this.unread === 0 && ((this.ackPushed & 2) !== 0 || ((this.ackPushed & 1) !== 0 && this.pingpong < 1)))) {
      this.sendSegment(TH_ACK, 0, -1, false);
    }
  }

  private enterTimeWait(): void {
    this.state = 'TIME_WAIT';
    this.rtoGen++;
    this.delackGen++;
    this.trace('TIME_WAIT');
    this.app(() => this.h.onClose?.(this));
    const self = this;
    this.world.sched.after(TCP_TIMEWAIT_LEN, () => {
      if (self.state === 'TIME_WAIT') { self.state = 'CLOSED'; self.ns.sockets.tcpRemove(self); }
    });
  }

  private rttSample(rtt: number): void {
    if (this.srtt === 0) { this.srtt = rtt; this.rttvar = rtt / 2; }
    else { this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt); this.srtt = 0.875 * this.srtt + 0.125 * rtt; }
    this.rto = Math.min(TCP_RTO_MAX, Math.max(TCP_RTO_MIN, this.srtt + Math.max(4 * this.rttvar, TCP_RTO_MIN)));
  }

  private parseTs(b: Uint8Array, th: number): void {
    const o = tcpOption(b, th, TCPOPT_TIMESTAMP, 10);
    if (o >= 0) this.tsRecent = u32(b, o + 2);
  }

  /** Options of a SYN or SYN-ACK: MSS, window scale, SACK permitted, timestamps. */
  parseSynOptions(b: Uint8Array, th: number): void {
    const m = tcpOption(b, th, TCPOPT_MSS, 4);
    const peerMss = m >= 0 ? u16(b, m + 2) : 536;
    const w = tcpOption(b, th, TCPOPT_WINDOW, 3);
    const ws = w >= 0 ? Math.min(b[w + 2], 14) : -1;
    const sack = tcpOption(b, th, TCPOPT_SACK_PERM, 2) >= 0;
    const t = tcpOption(b, th, TCPOPT_TIMESTAMP, 10);
    const ts = t >= 0;
    if (ts) this.tsRecent = u32(b, t + 2);
    this.wsOk = ws >= 0;
    this.sndWscale = ws >= 0 ? ws : 0;
    if (!this.wsOk) this.rcvWscale = 0;
    this.tsOk = ts;
    this.sackOk = sack;
    // With timestamps on, each segment carries 12 option bytes: the usable MSS shrinks by them.
    this.mss = Math.min(this.mss, peerMss) - (ts ? 12 : 0);
    this.quick = TCP_MAX_QUICKACKS;
    // tcp_initialize_rcv_mss: the first guess at the peer's segment size.
    this.rcvMss = Math.max(88, Math.min(this.advmss, this.mss, 536));
    if (this.state === 'SYN_SENT') this.rcvWnd = establishedRcvWnd(this.ns, this.rcvWnd, this.advmss);
  }

  /** Passive open: a listener's SYN creates a SYN_RECV socket that sends SYN-ACK. */
  static accept(ns: Netns, h: TcpHandlers, skb: Skb, th: number): TcpSock {
    const b = skb.buf, nh = skb.nh;
    const s = new TcpSock(ns, h);
    s.laddr = ipDst(b, nh);
    s.raddr = ipSrc(b, nh);
    s.lport = u16(b, th + 2);
    s.rport = u16(b, th);
    s.flow = skb.flow;
    const rng = ns.world.rng;
    s.iss = rng.u32();
    s.tsOffset = rng.u32();
    s.ipId = 0; // the SYN-ACK leaves from the request socket: not connected, DF → ID 0
    s.rcvNxt = (u32(b, th + 4) + 1) >>> 0;
    s.sndUna = s.iss;
    s.sndNxt = s.iss;
    s.sndSml = s.iss;
    s.tos = h.tos ?? 0;
    s.ttl = h.ttl ?? 64;
    s.sndWnd = u16(b, th + 14);
    s.state = 'SYN_RECV';
    s.rcvWscale = tcpWscale(ns);
    const rt = ns.stack.routeOutput(s.raddr);
    s.mss = s.routeMss(rt);
    s.advmss = s.mss;
    s.parseSynOptions(b, th);
    s.rcvWnd = initialRcvWnd(ns, s.advmss - (s.tsOk ? 12 : 0));
    ns.sockets.tcpInsert(s);
    s.trace('SYN received: SYN-ACK', skb);
    s.sendSegment(TH_SYN | TH_ACK, 0, -1, true);
    s.ipId = rng.int(0, 0xffff);
    return s;
  }
}

/**
 * Offset of the first option of `kind` with length `len` in the TCP header at
 * `th`, or -1 (tcp_parse_options' walk: EOL ends, NOP pads, bad lengths stop).
 */
function tcpOption(b: Uint8Array, th: number, kind: number, len: number): number {
  const end = th + (b[th + 12] >> 4) * 4;
  for (let o = th + 20; o < end;) {
    const k = b[o];
    if (k === 0) break;
    if (k === 1) { o++; continue; }
    const l = b[o + 1];
    if (l < 2 || o + l > end) break;
    if (k === kind && l === len) return o;
    o += l;
  }
  return -1;
}

/** tcp_v4_rcv: checksum, socket lookup, listener, or RST. */
export function tcpRcv(ns: Netns, skb: Skb, dev: NetDevice): void {
  const b = skb.buf, nh = skb.nh, th = nh + ipHdrLen(b, nh);
  const l4len = ipTotLen(b, nh) - ipHdrLen(b, nh);
  if (l4len < 20) { ns.drop(skb, dev, 'PKT_TOO_SMALL', 'TCP header truncated'); return; }
  const doff = (b[th + 12] >> 4) * 4;
  if (doff < 20 || doff > l4len) { ns.drop(skb, dev, 'PKT_TOO_SMALL', `bad TCP data offset ${doff}`); return; }
  const src = ipSrc(b, nh), dst = ipDst(b, nh);
  if (finishChecksum(onesSum(b, th, l4len, pseudoHeaderSum(src, dst, IPPROTO_TCP, l4len))) !== 0) {
    ns.drop(skb, dev, 'TCP_CSUM', 'bad TCP checksum');
    return;
  }
  const sport = u16(b, th), dport = u16(b, th + 2);
  const flags = b[th + 13];
  const w = ns.world;
  const s = ns.sockets.tcpLookup(dport, src, sport);
  if (s) {
    if (w.trace.on) w.event(ns.node.name, ns.name, dev.name, skb, 'tcp.rcv', `${flagString(flags)} to ${s.state} socket ${ipToString(dst)}:${dport}`, 'deliver');
    s.input(skb, th, th + doff, l4len - doff);
    return;
  }
  const l = ns.sockets.tcpListen.get(dport);
  if (l && (flags & (TH_SYN | TH_ACK | TH_RST)) === TH_SYN) {
    if (w.trace.on) w.event(ns.node.name, ns.name, dev.name, skb, 'tcp.rcv', `SYN to listener on port ${dport}`, 'deliver');
    TcpSock.accept(ns, l, skb, th);
    return;
  }
  if (w.trace.on) w.event(ns.node.name, ns.name, dev.name, skb, 'tcp.rcv', `no socket for ${ipToString(dst)}:${dport}${flags & TH_RST ? '' : ': sending RST'}`);
  if (!(flags & TH_RST)) sendReset(ns, skb, th, l4len - doff);
  ns.drop(skb, dev, 'NO_SOCKET', `no socket on TCP ${ipToString(dst)}:${dport}`);
}

export function flagString(f: number): string {
  let s = '';
  if (f & TH_SYN) s += 'S';
  if (f & TH_FIN) s += 'F';
  if (f & TH_RST) s += 'R';
  if (f & TH_PSH) s += 'P';
  if (f & TH_ACK) s += '.';
  return `[${s}]`;
}

/**
 * tcp_v4_send_reset from the namespace's control socket: no options, window 0,
 * DF set and IP ID 0 (an unconnected socket), the incoming packet's TOS.
 * iptables' REJECT --reject-with tcp-reset (nf_send_reset) builds the same
 * segment with TOS 0: pass `tos`.
 */
export function sendReset(ns: Netns, orig: Skb, th: number, dataLen: number, tos?: number): void {
  const rt = ns.stack.routeOutput(ipSrc(orig.buf, orig.nh));
  if (!rt) return;
  ns.stack.localOut(buildReset(ns, orig, th, dataLen, tos), rt);
}

/** The RST answering the segment at `th` of `orig` (IPv4 header at skb.nh, Ethernet header room before it). */
export function buildReset(ns: Netns, orig: Skb, th: number, dataLen: number, tos?: number): Skb {
  const b = orig.buf, nh = orig.nh;
  const flags = b[th + 13];
  const src = ipDst(b, nh), dst = ipSrc(b, nh);
  const skb = Skb.alloc(ETH_HLEN + 40);
  skb.flow = orig.flow;
  if (orig.path && ns.world.watchPaths) skb.path = [];
  const onh = skb.data + ETH_HLEN, oth = onh + 20, ob = skb.buf;
  setU16(ob, oth, u16(b, th + 2)); setU16(ob, oth + 2, u16(b, th));
  let rflags: number;
  if (flags & TH_ACK) { setU32(ob, oth + 4, u32(b, th + 8)); setU32(ob, oth + 8, 0); rflags = TH_RST; }
  else {
    setU32(ob, oth + 4, 0);
    setU32(ob, oth + 8, (u32(b, th + 4) + dataLen + (flags & TH_SYN ? 1 : 0) + (flags & TH_FIN ? 1 : 0)) >>> 0);
    rflags = TH_RST | TH_ACK;
  }
  ob[oth + 12] = 0x50; ob[oth + 13] = rflags;
  setU16(ob, oth + 14, 0); setU16(ob, oth + 16, 0); setU16(ob, oth + 18, 0);
  setU16(ob, oth + 16, finishChecksum(onesSum(ob, oth, 20, pseudoHeaderSum(src, dst, IPPROTO_TCP, 20))));
  writeIpv4Header(ob, onh, src, dst, IPPROTO_TCP, 64, tos ?? b[nh + 1], 0, true, 20);
  skb.nh = onh;
  return skb;
}
