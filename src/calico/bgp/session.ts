/**
 * One BGP neighbour of a BIRD-like speaker (a BIRD `protocol bgp`): the RFC
 * 4271 finite state machine over the emulated kernel's TCP, as BIRD 1.6/2.0
 * runs it with Calico's template (REFERENCE §8.2, §10.4, §13).
 *
 * - A neighbour has up to two TCP connections at once, the one it opened
 *   (outgoing) and the one the peer opened (incoming); a passive neighbour
 *   only accepts. Each connection goes Connect/Active → OpenSent →
 *   OpenConfirm → Established; the neighbour's state is its most advanced
 *   connection's.
 * - Timers, each shaved at random by up to 25% when started (BIRD's
 *   `bgp_start_timer`, RFC 4271 §10), the draw taken from the world's Rng:
 *   connect delay (2 s) before the first connect, connect retry (5 s) while a
 *   connect is pending, the initial hold time (240 s) while waiting for the
 *   peer's OPEN, then the negotiated hold time (min of both offers) and the
 *   keepalive time (hold / 3), the keepalive timer restarted after every
 *   message sent, the hold timer after every message received.
 * - Errors: a received NOTIFICATION, a decoding error (answered by the
 *   NOTIFICATION RFC 4271 §6 prescribes), hold timer expiry (NOTIFICATION
 *   4/0), or the TCP connection closing end an established session: the
 *   neighbour's routes are withdrawn at once and the neighbour waits the error
 *   wait time (5 s, doubled after each error within 300 s, at most 30 s) and
 *   starts again. During that wait incoming connections are refused (closed).
 * - Connection collision (RFC 4271 §6.8 as BIRD applies it): an OPEN on one
 *   connection while the other is in OpenConfirm keeps the connection opened
 *   by the speaker with the higher BGP identifier and sends Cease 6/7 on the
 *   other; an OPEN while the other is Established is answered with Cease 6/7;
 *   an OPEN while the other is still connecting abandons that connect.
 * - `stop()` sends Cease 6/2 (Administrative Shutdown) and closes.
 */
import { TcpSock, type TcpHandlers } from '../../kernel/tcp.js';
import { PrefixSet } from './prefix-table.js';
import type { World } from '../../kernel/world.js';
import { ipToString } from '../../wire/bytes.js';
import {
  BGP_PORT, BgpError, BgpReassembler, CLASSIC, CAP_ADD_PATH, CAP_AS4, AFI_IPV4, SAFI_UNICAST, decodeBgp, encodeBgp, bgpSummary, notifyName, openAsn, openCap,
  type BgpCodecOptions, type BgpMessage, type BgpOpen, type BgpUpdate,
} from '../../wire/bgp.js';

const S = 1_000_000_000;
const MS = 1_000_000;

/** Neighbour / connection states as BIRD names them. */
export type BgpState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';
const RANK: Record<BgpState, number> = { Idle: 0, Active: 1, Connect: 2, OpenSent: 3, OpenConfirm: 4, Established: 5 };

/** Something a {@link VTimer} calls when it fires (`kind` tells its timers apart). */
export interface TimerTarget { onTimer(kind: number): void }

/**
 * A restartable one-shot timer on the virtual clock. Restarting it later (a
 * hold or keepalive timer after every message) moves its deadline without
 * scheduling anything: at most one scheduler event is relied on at a time, and
 * when it fires early it re-arms itself for the deadline. No closure per start.
 */
export class VTimer {
  /** Deadline (ns), -1 when stopped. */
  private deadline = -1;
  /** Time of the scheduler event this timer relies on, -1 when none. */
  private evAt = -1;
  constructor(private readonly w: World, private readonly target: TimerTarget, private readonly kind: number) {}
  get armed(): boolean { return this.deadline >= 0; }
  start(ns: number): void {
    const d = this.w.now + ns;
    this.deadline = d;
    if (this.evAt >= 0 && this.evAt <= d) return; // the pending event re-arms for d
    this.evAt = d;
    this.w.sched.at(d, VTimer.fire, this);
  }
  stop(): void { this.deadline = -1; }
  private static fire(t: VTimer): void {
    const now = t.w.now;
    if (now !== t.evAt) return; // superseded by an earlier event
    t.evAt = -1;
    if (t.deadline < 0) return;
    if (t.deadline > now) { t.evAt = t.deadline; t.w.sched.at(t.deadline, VTimer.fire, t); return; }
    t.deadline = -1;
    t.target.onTimer(t.kind);
  }
}

const T_HOLD = 0, T_KEEPALIVE = 1, T_RETRY = 2, T_START = 3, T_CONNECT = 4;

/** What a neighbour needs from its speaker. */
export interface SessionHost {
  readonly world: World;
  readonly nodeName: string;
  readonly netnsName: string;
  readonly routerId: number;
  readonly localAs: number;
  readonly localAddr: number;
  readonly holdTime: number;
  readonly addPaths: boolean;
  /** Our OPEN for this neighbour. */
  openFor(peer: BgpPeer): BgpOpen;
  /** Timer value in ns after BIRD's random shave (up to 25%). */
  shaved(seconds: number): number;
  /** A TcpSock in the speaker's namespace. */
  socket(h: TcpHandlers): TcpSock;
  count(dir: 'sent' | 'received', m: BgpMessage): void;
  trace(stage: string, detail: string): void;
  sessionUp(peer: BgpPeer): void;
  sessionDown(peer: BgpPeer): void;
  update(peer: BgpPeer, u: BgpUpdate): void;
  routeRefresh(peer: BgpPeer, enhanced: boolean): void;
}

/** A message to send, with its bytes when the sender already has them (`encodeBgp(m, tx)` of the connection's `tx`). */
export type OutMessage = BgpMessage & { wire?: Uint8Array };

/** One prefix of an Adj-RIB-Out (see AdjRibOut): the single path sent (the usual case, kept small) or path id → signature. */
export type AdjOut = { id: number; sig: string } | Map<number, string>;

/** How a neighbour is configured (the `protocol bgp` block). */
export interface BgpPeerConfig {
  /** Neighbour address ("192.168.70.12"). */
  address: string;
  /** Neighbour AS. */
  as: number;
  /** Protocol name for `show protocols`; default `Mesh_<address with . → _>`. */
  name?: string;
  /** `passive on`: only accept the peer's connection. */
  passive?: boolean;
  /** `rr client`: this speaker reflects to and from this iBGP neighbour (needs the speaker's clusterId). */
  rrClient?: boolean;
  /** `next hop self` toward this iBGP neighbour (eBGP neighbours always get next hop self). */
  nextHopSelf?: boolean;
}

/** One TCP connection of a neighbour; it is also its socket's handler (no closures per connection). */
export class BgpConn implements TimerTarget, TcpHandlers {
  state: BgpState;
  readonly reasm = new BgpReassembler();
  /** Encoding of what we send / what we receive, fixed once both OPENs are known. */
  tx: BgpCodecOptions = CLASSIC;
  rx: BgpCodecOptions = CLASSIC;
  remoteOpen: BgpOpen | null = null;
  hold = 0;
  keepalive = 0;
  closed = false;
  readonly holdTimer: VTimer;
  readonly kaTimer: VTimer;
  readonly retryTimer: VTimer;
  sock: TcpSock | null = null;

  constructor(readonly peer: BgpPeer, readonly dir: 'out' | 'in') {
    const w = peer.host.world;
    this.state = dir === 'out' ? 'Connect' : 'OpenSent';
    this.holdTimer = new VTimer(w, this, T_HOLD);
    this.kaTimer = new VTimer(w, this, T_KEEPALIVE);
    this.retryTimer = new VTimer(w, this, T_RETRY);
  }

  onTimer(kind: number): void {
    if (kind === T_HOLD) this.peer.holdExpired(this);
    else if (kind === T_KEEPALIVE) this.peer.sendKeepalive(this);
    else this.peer.connectRetry(this);
  }

  onConnect(s: TcpSock): void { this.sock = s; this.peer.tcpUp(this); }
  onData(_s: TcpSock, d: Uint8Array): void { this.peer.data(this, d); }
  onEnd(): void { this.peer.connFailed(this, 'peer closed the connection'); }
  onClose(): void { this.peer.connFailed(this, 'connection closed'); }
  onError(_s: TcpSock, err: string): void { this.peer.connFailed(this, err); }

  stopTimers(): void { this.holdTimer.stop(); this.kaTimer.stop(); this.retryTimer.stop(); }
}

export class BgpPeer implements TimerTarget {
  readonly address: number;
  readonly name: string;
  /** Its index among the speaker's neighbours (set once when added; the speaker's paths name their neighbour by it). */
  slot = -1;
  readonly remoteAs: number;
  readonly passive: boolean;
  readonly rrClient: boolean;
  readonly nextHopSelf: boolean;
  readonly ibgp: boolean;
  outgoing: BgpConn | null = null;
  incoming: BgpConn | null = null;
  /** The Established connection. */
  est: BgpConn | null = null;
  /** BGP identifier of the peer (from its OPEN). */
  remoteId = 0;
  /** Accepting/connecting (false while stopped or during the startup delay). */
  running = false;
  started = false;
  /** When the state last changed (virtual ns). */
  since = 0;
  lastError = '';
  private errorWait = 0;
  private lastErrorAt = -Infinity;
  private readonly startTimer: VTimer;
  private readonly connectTimer: VTimer;
  /** Prefixes whose export to this neighbour must be recomputed. */
  readonly dirty = new PrefixSet();
  flushScheduled = false;
  eorReceived = false;
  eorSent = false;
  /** Graceful restart: we are recovering and the peer is not, so our table waits for its End-of-RIB. */
  grWait = false;
  establishments = 0;

  constructor(readonly host: SessionHost, cfg: BgpPeerConfig, address: number) {
    this.address = address;
    this.name = cfg.name ?? `Mesh_${cfg.address.replace(/\./g, '_')}`;
    this.remoteAs = cfg.as;
    this.passive = cfg.passive ?? false;
    this.ibgp = cfg.as === host.localAs;
    this.rrClient = (cfg.rrClient ?? false) && this.ibgp;
    this.nextHopSelf = cfg.nextHopSelf ?? false;
    this.startTimer = new VTimer(host.world, this, T_START);
    this.connectTimer = new VTimer(host.world, this, T_CONNECT);
  }

  onTimer(kind: number): void {
    if (kind === T_START) this.startup();
    else this.connect();
  }

  get addressText(): string { return ipToString(this.address); }

  /** The neighbour's state: its most advanced connection's, else Active while connecting, else Idle. */
  get state(): BgpState {
    let s: BgpState = 'Idle';
    for (const c of [this.outgoing, this.incoming]) if (c && RANK[c.state] > RANK[s]) s = c.state;
    if (s === 'Idle' && this.running && !this.passive) s = 'Active';
    return s;
  }

  /** Negotiated codec of the established session (what we send). */
  get txOpts(): BgpCodecOptions { return this.est ? this.est.tx : CLASSIC; }

  private trace(stage: string, detail: string): void {
    if (this.host.world.trace.on) this.host.trace(stage, `${this.name} (${this.addressText}): ${detail}`);
  }

  private setSince(): void { this.since = this.host.world.now; }

  /** Starts the protocol: after the error wait (if any), accept, and connect after the connect delay unless passive. */
  start(): void {
    this.started = true;
    this.setSince();
    if (this.errorWait > 0) {
      this.trace('bgp.session', `waiting ${this.errorWait / S} s (error wait) before starting`);
      this.startTimer.start(this.host.shaved(this.errorWait / S));
    } else this.startup();
  }

  private startup(): void {
    if (!this.started) return;
    this.running = true;
    if (!this.passive) {
      const d = this.host.shaved(2);
      this.trace('bgp.session', `Active: connect in ${(d / S).toFixed(3)} s`);
      this.startTimer.stop();
      this.connectTimer.start(d);
    } else this.trace('bgp.session', 'passive: waiting for the peer to connect');
  }


  /** Opens the outgoing connection (connect retry restarts it while it is pending). */
  private connect(): void {
    if (!this.running || this.outgoing || this.est) return;
    const c = new BgpConn(this, 'out');
    this.outgoing = c;
    const sock = this.host.socket(c);
    c.sock = sock;
    this.trace('bgp.session', `Connect: TCP connect to ${this.addressText}:${BGP_PORT}`);
    c.retryTimer.start(this.host.shaved(5));
    const err = sock.connect(this.address, BGP_PORT, undefined, this.host.localAddr);
    if (err) this.connFailed(c, err);
    this.setSince();
  }

  /** Connect retry fired while a connect is still pending: abandon it and try again. */
  connectRetry(c: BgpConn): void {
    if (c.closed || c.state !== 'Connect') return;
    this.trace('bgp.session', 'connect retry timer expired: connecting again');
    this.drop(c);
    this.connect();
  }

  /** The connection failed or closed (from its socket). */
  connFailed(c: BgpConn, why: string): void {
    if (c.closed) return;
    this.trace('bgp.session', `connection ${c.dir} failed: ${why}`);
    const wasEst = c === this.est;
    this.drop(c);
    if (wasEst) { this.down(`connection closed (${why})`); return; }
    if (c.dir === 'out' && this.running && !this.est) {
      // bgp_sock_err: back to Active, next attempt after connect retry time.
      this.connectTimer.start(this.host.shaved(5));
    }
  }

  /** Forgets a connection, closing its socket. */
  private drop(c: BgpConn): void {
    if (c.closed) return;
    c.closed = true;
    c.stopTimers();
    c.state = 'Idle';
    if (this.outgoing === c) this.outgoing = null;
    if (this.incoming === c) this.incoming = null;
    if (c.sock) c.sock.close();
    this.setSince();
  }

  /** An accepted connection from the peer; false when refused (the caller closes it). */
  accept(sock: TcpSock): BgpConn | null {
    if (!this.running || this.incoming) {
      this.trace('bgp.session', `incoming connection refused (${!this.running ? 'not started' : 'one already open'})`);
      return null;
    }
    const c = new BgpConn(this, 'in');
    c.sock = sock;
    this.incoming = c;
    this.trace('bgp.session', 'incoming connection accepted');
    this.tcpUp(c);
    return c;
  }

  /** TCP is up on `c`: send OPEN. */
  tcpUp(c: BgpConn): void {
    if (c.closed) return;
    c.retryTimer.stop();
    c.state = 'OpenSent';
    this.setSince();
    this.send(c, [this.host.openFor(this)]);
    c.holdTimer.start(this.host.shaved(240)); // BIRD's initial hold time
  }

  /**
   * Encodes and writes messages, one TCP write each as BIRD does (bgp_fire_tx builds one message
   * and sk_send writes it; TCP's Nagle algorithm then packs them into segments). A message's
   * `wire`, when given, is its encoding under `c.tx` (TCP queues a reference: a reflector's
   * cached UPDATE bytes are never changed).
   */
  send(c: BgpConn, ms: OutMessage[]): void {
    if (c.closed || !c.sock || ms.length === 0) return;
    const trace = this.host.world.trace.on;
    for (const m of ms) {
      this.host.count('sent', m);
      if (trace) this.trace(m.type === 'update' ? 'bgp.update' : 'bgp.session', `sent ${bgpSummary(m)}`);
    }
    const sock = c.sock;
    for (const m of ms) sock.send(m.wire ?? encodeBgp(m, c.tx));
    if (c.keepalive > 0 && (c.state === 'OpenConfirm' || c.state === 'Established')) c.kaTimer.start(this.host.shaved(c.keepalive));
  }

  sendKeepalive(c: BgpConn): void {
    if (c.closed) return;
    this.send(c, [{ type: 'keepalive' }]);
  }

  /** Sends a NOTIFICATION and closes the connection. */
  private notify(c: BgpConn, code: number, subcode: number, why: string, data: Uint8Array = new Uint8Array(0)): void {
    this.trace('bgp.session', `${why}: sending NOTIFICATION ${code}/${subcode} (${notifyName(code, subcode)})`);
    this.lastError = `${notifyName(code, subcode)} sent`;
    this.send(c, [{ type: 'notification', code, subcode, data }]);
    const wasEst = c === this.est;
    this.drop(c);
    if (wasEst) this.down(why);
  }

  holdExpired(c: BgpConn): void {
    if (c.closed) return;
    this.notify(c, 4, 0, 'hold timer expired');
    if (!this.est && this.running) this.afterError();
  }

  /** Bytes received on `c`. */
  data(c: BgpConn, d: Uint8Array): void {
    if (c.closed) return;
    c.reasm.push(d);
    for (let ch = c.reasm.next(); ch && !c.closed; ch = c.reasm.next()) {
      if (ch.kind === 'error') { this.notify(c, ch.error.code, ch.error.subcode, `bad message header (${ch.error.reason})`, ch.error.data); return; }
      let m: BgpMessage;
      try {
        m = decodeBgp(ch.bytes, 0, c.rx);
      } catch (e) {
        if (!(e instanceof BgpError)) throw e;
        this.notify(c, e.code, e.subcode, `bad message (${e.reason})`, e.data);
        return;
      }
      this.host.count('received', m);
      if (this.host.world.trace.on) this.trace(m.type === 'update' ? 'bgp.update' : 'bgp.session', `received ${bgpSummary(m)}`);
      this.message(c, m);
    }
  }

  private message(c: BgpConn, m: BgpMessage): void {
    if (m.type === 'notification') {
      this.lastError = `${notifyName(m.code, m.subcode)} received`;
      this.trace('bgp.session', `peer sent NOTIFICATION ${m.code}/${m.subcode} (${notifyName(m.code, m.subcode)}): closing`);
      const wasEst = c === this.est;
      this.drop(c);
      if (wasEst) this.down(`NOTIFICATION ${m.code}/${m.subcode} received`);
      return;
    }
    if (c.hold > 0) c.holdTimer.start(this.host.shaved(c.hold));
    switch (c.state) {
      case 'OpenSent':
        if (m.type !== 'open') { this.notify(c, 5, 1, `${m.type} in OpenSent`); return; }
        this.open(c, m);
        return;
      case 'OpenConfirm':
        if (m.type !== 'keepalive') { this.notify(c, 5, 2, `${m.type} in OpenConfirm`); return; }
        this.established(c);
        return;
      case 'Established':
        if (m.type === 'update') this.host.update(this, m);
        else if (m.type === 'route-refresh') this.host.routeRefresh(this, m.subtype === 0 && (c.remoteOpen?.capabilities.some((x) => x.code === 70) ?? false));
        else if (m.type === 'open') this.notify(c, 5, 3, 'OPEN in Established');
        return;
      default:
        return;
    }
  }

  private open(c: BgpConn, o: BgpOpen): void {
    const asn = openAsn(o);
    if (asn !== this.remoteAs) { this.notify(c, 2, 2, `peer AS ${asn}, expected ${this.remoteAs}`, new Uint8Array([(o.myAs >> 8) & 0xff, o.myAs & 0xff])); return; }
    if (o.bgpId === this.host.routerId && this.ibgp) { this.notify(c, 2, 3, `peer has our BGP identifier ${ipToString(o.bgpId)}`); return; }
    // Collision with the other connection (BIRD's bgp_rx_open).
    const other = c.dir === 'out' ? this.incoming : this.outgoing;
    if (other && !other.closed) {
      if (other.state === 'Connect' || other.state === 'Active') {
        this.drop(other);
      } else if (other.state === 'OpenConfirm') {
        if ((this.host.routerId < o.bgpId) === (c.dir === 'in')) this.notify(other, 6, 7, 'connection collision: keeping the connection opened by the higher identifier');
        else { this.notify(c, 6, 7, 'connection collision: keeping the connection opened by the higher identifier'); return; }
      } else if (other.state === 'Established') {
        this.notify(c, 6, 7, 'connection collision with the established session');
        return;
      }
    }
    this.remoteId = o.bgpId;
    c.remoteOpen = o;
    const mine = this.host.openFor(this);
    const as4 = openCap(o, CAP_AS4) !== undefined && openCap(mine, CAP_AS4) !== undefined;
    const ap = (x: BgpOpen) => openCap(x, CAP_ADD_PATH)?.families.find((f) => f.afi === AFI_IPV4 && f.safi === SAFI_UNICAST)?.sendReceive ?? 0;
    const myAp = ap(mine), theirAp = ap(o);
    c.tx = { as4, addPath: (myAp & 2) !== 0 && (theirAp & 1) !== 0 };
    c.rx = { as4, addPath: (myAp & 1) !== 0 && (theirAp & 2) !== 0 };
    c.hold = Math.min(this.host.holdTime, o.holdTime);
    c.keepalive = c.hold === 0 ? 0 : Math.floor(c.hold / 3);
    c.state = 'OpenConfirm';
    this.setSince();
    this.send(c, [{ type: 'keepalive' }]);
    if (c.hold > 0) c.holdTimer.start(this.host.shaved(c.hold));
    else c.holdTimer.stop();
  }

  private established(c: BgpConn): void {
    const other = c.dir === 'out' ? this.incoming : this.outgoing;
    if (other && !other.closed) {
      if (RANK[other.state] >= RANK.OpenSent) this.notify(other, 6, 7, 'connection collision: the other connection is established');
      else this.drop(other);
    }
    this.connectTimer.stop();
    c.state = 'Established';
    this.est = c;
    this.establishments++;
    this.eorReceived = false;
    this.eorSent = false;
    this.grWait = false;
    this.lastError = '';
    this.setSince();
    this.trace('bgp.session', `Established (hold ${c.hold} s, keepalive ${c.keepalive} s, ADD-PATH tx ${c.tx.addPath ? 'on' : 'off'} rx ${c.rx.addPath ? 'on' : 'off'})`);
    this.host.sessionUp(this);
  }

  /** The established session ended: routes go at once, then the error wait and a restart. */
  private down(why: string): void {
    const c = this.est;
    this.est = null;
    if (c) this.drop(c);
    this.dirty.clear();
    this.trace('bgp.session', `session down: ${why}`);
    this.host.sessionDown(this);
    if (this.running) this.afterError();
  }

  /** BIRD's error wait: 5 s, doubled after another error within 300 s, at most 30 s; then start again. */
  private afterError(): void {
    const now = this.host.world.now;
    this.errorWait = now - this.lastErrorAt < 300 * S && this.errorWait > 0 ? Math.min(this.errorWait * 2, 30 * S) : 5 * S;
    this.lastErrorAt = now;
    this.running = false;
    this.connectTimer.stop();
    for (const x of [this.outgoing, this.incoming]) if (x) this.drop(x);
    this.start();
  }

  /**
   * Administrative shutdown (`birdc disable`): Cease 6/2 on every open
   * connection; `subcode` 3 (Peer De-configured) when the neighbour is removed.
   */
  /** The machine died: connections vanish silently (no NOTIFICATION, no FIN), timers stop. */
  halt(): void {
    this.started = false;
    this.running = false;
    this.startTimer.stop();
    this.connectTimer.stop();
    for (const c of [this.outgoing, this.incoming]) {
      if (!c || c.closed) continue;
      c.closed = true;
      c.stopTimers();
      c.state = 'Idle';
      c.sock?.done(); // the socket is forgotten, nothing is sent
    }
    this.outgoing = null;
    this.incoming = null;
    this.est = null;
    this.setSince();
  }

  /**
   * BIRD was killed (the machine lives on): no NOTIFICATION, but the kernel closes its
   * sockets (tcp_close: FIN, or RST with unread data), so the neighbour learns at once.
   */
  kill(): void {
    for (const c of [this.outgoing, this.incoming]) if (c && !c.closed) c.sock?.close(); // the FIN goes out first
    this.halt();
  }

  stop(subcode = 2): void {
    this.started = false;
    this.running = false;
    this.startTimer.stop();
    this.connectTimer.stop();
    const why = subcode === 3 ? 'neighbour removed' : 'administrative shutdown';
    for (const c of [this.outgoing, this.incoming]) {
      if (!c || c.closed) continue;
      if (RANK[c.state] >= RANK.OpenSent) this.notify(c, 6, subcode, why);
      else this.drop(c);
    }
    if (this.est) this.down(why);
    this.setSince();
  }
}

export { MS as BGP_MS, S as BGP_S };
