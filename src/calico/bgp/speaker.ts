/**
 * A BIRD-like BGP speaker on one machine, as calico-node runs BIRD with
 * Calico's bird.cfg template (REFERENCE §8.2, §13). The model follows **BIRD
 * 1.6.8 / 2.0.12 as configured by Calico v3.2x**: LOCAL_PREF 100 on iBGP
 * exports (newer Calico exports 2147483647 − krt_metric instead).
 *
 * - Lives in the machine's host namespace and talks through the emulated
 *   kernel's TCP (listener on port 179, `source address` = the node IP), so
 *   every SYN, OPEN, UPDATE and KEEPALIVE is a frame on the underlay.
 * - OPEN as BIRD sends it (REFERENCE §13): version 4, local AS (AS_TRANS when
 *   it needs 4 octets), hold 240, router id, one Capabilities parameter:
 *   multiprotocol IPv4 unicast, route refresh, graceful restart (restart bit
 *   and forwarding bit while recovering after start, as `bird -R` does;
 *   restart time 120), 4-octet AS, ADD-PATH IPv4 unicast send+receive
 *   (`add paths on`), enhanced route refresh, long-lived GR (empty).
 * - Origination: {@link BgpSpeaker.announce} / {@link BgpSpeaker.withdraw}
 *   stand for the static protocol's `route <block> blackhole` lines; the
 *   speaker installs `blackhole <block> proto bird` in the kernel.
 * - RIB: one path per (prefix, source); a source is a neighbour and the path
 *   identifier it sent (ADD-PATH), or the static protocol. Each source has a
 *   route source number as BIRD's `rte_src` (lowest free id): 1 is taken by
 *   the `direct` protocol, 2 by the static protocol (so a node's own blocks go
 *   out with path id 2, REFERENCE §13), learned sources get 3, 4, … as first
 *   seen and free their id when their last route goes.
 * - Best path: the static route wins (protocol preference 200 over BGP's
 *   100), then RFC 4271 §9.1 in BIRD's order: higher LOCAL_PREF, shorter
 *   AS_PATH, lower ORIGIN, lower MED (same neighbour AS), eBGP over iBGP,
 *   lower router id (ORIGINATOR_ID when present), shorter CLUSTER_LIST, lower
 *   neighbour address.
 * - Export (ADD-PATH tx negotiated: every exportable path of a prefix, each
 *   with its source's path id; otherwise the best path only): never back to
 *   the neighbour it came from; iBGP → iBGP only through route reflection
 *   (this speaker has a cluster id and the source or the target is an `rr
 *   client`), adding ORIGINATOR_ID (the source's router id when absent) and
 *   prepending the cluster id to CLUSTER_LIST, NEXT_HOP unchanged; to eBGP:
 *   local AS prepended, NEXT_HOP self, no LOCAL_PREF/MED/ORIGINATOR_ID/
 *   CLUSTER_LIST. UPDATEs carry one prefix each (classic IPv4 NLRI),
 *   attributes in type order with BIRD's flags; withdrawals are packed.
 *   Changes made at one instant are sent together once the instant's packet
 *   processing is done (one TCP write per neighbour).
 * - Import: loops dropped (own AS in an eBGP AS_PATH, our router id as
 *   ORIGINATOR_ID, our cluster id in CLUSTER_LIST on a reflector); eBGP
 *   routes get LOCAL_PREF 100 and lose RFC 4456 attributes.
 * - End-of-RIB both ways after the initial table. Graceful restart: OPENs
 *   carry the restart bit from start until every neighbour has been up (or
 *   240 s); a session that comes up while we recover toward a neighbour that
 *   is not recovering holds our table until that neighbour's End-of-RIB.
 * - Kernel export: the best path of each prefix is installed in the main
 *   table with `proto bird` through the node's Netlink interface: the static
 *   route as `blackhole`, a BGP route as `via NH` with the device and onlink
 *   flag the caller's `krtTunnel(prefix, nextHop)` gives, or, when it returns
 *   null, through the device the kernel reaches the next hop by (a next hop
 *   behind a gateway resolves to that gateway: `gateway recursive`).
 *   Routes stay when the speaker stops (`persist`). Every 2 s (`scan time 2`)
 *   a route of ours the kernel lost is put back (a device down flushes them).
 */
import type { Node } from '../../kernel/node.js';
import type { Netns } from '../../kernel/netns.js';
import { TcpSock, type TcpHandlers } from '../../kernel/tcp.js';
import { NetlinkError, type RouteSpec } from '../../kernel/netlink.js';
import { ipToString, parseCidr, parseIp } from '../../wire/bytes.js';
import {
  AS_TRANS, ATTR_F_OPTIONAL, ATTR_F_PARTIAL, ATTR_F_TRANSITIVE, BGP_PORT, CAP_GRACEFUL_RESTART, encodeBgp, isEndOfRib, openCap,
  type BgpAttr, type BgpMessage, type BgpOpen, type BgpPrefix, type BgpUpdate,
} from '../../wire/bgp.js';
import { BgpPeer, type BgpPeerConfig, type OutMessage, type SessionHost, BGP_S } from './session.js';
import { formatTime } from '../../engine/time.js';

const S = BGP_S;

/** How a learned route reaches the kernel: the device and onlink flag, or null for the plain next hop route. */
export type KrtTunnel = (prefix: string, nextHop: string) => { dev: string; onlink?: boolean } | null;

/** The speaker's configuration (BIRD's global settings and Calico's template values). */
export interface BgpSpeakerConfig {
  /** Router id; Calico uses the node IP. */
  routerId: string;
  /** Local AS (Calico's global default 64512). */
  localAs?: number;
  /** Source address of the sessions (`source address`); default the router id. */
  sourceAddress?: string;
  /** Hold time offered in OPEN, seconds (BIRD default 240). */
  holdTime?: number;
  /** `rr cluster id`: makes this speaker a route reflector for its `rr client` neighbours. */
  clusterId?: string;
  /** `add paths on` (default true). */
  addPaths?: boolean;
  /** Kernel route shape of learned routes (see {@link KrtTunnel}); default null for every route. */
  krtTunnel?: KrtTunnel;
  /** Which prefixes may be exported to neighbours (Calico's export filter); default all. */
  exportFilter?: (prefix: string) => boolean;
  /** Install best routes into the kernel (default true). */
  kernelExport?: boolean;
  /** LOCAL_PREF sent to iBGP neighbours for routes that have none (100, BIRD's default). */
  localPref?: number;
  /** Cluster-wide convergence measure to report RIB changes to. */
  convergence?: BgpConvergence;
  /** Namespace the speaker runs in (default 'host'). */
  netns?: string;
}

/** Virtual time from a change until the last RIB change anywhere in the cluster. */
export class BgpConvergence {
  /** When the change being measured was made (ns), or null. */
  changeAt: number | null = null;
  /** Time of the last Loc-RIB change of any speaker (ns). */
  lastRibChange = 0;
  ribChanges = 0;
  /** Marks the moment of a change (a block announced or withdrawn, a node down, start-up). */
  mark(now: number): void { this.changeAt = now; this.ribChanges = 0; }
  ribChanged(now: number): void { this.lastRibChange = now; this.ribChanges++; }
  /** Convergence time of the last marked change (ns): last RIB change − change; 0 when nothing changed since. */
  get time(): number | null {
    if (this.changeAt === null) return null;
    return Math.max(0, this.lastRibChange - this.changeAt);
  }
}

/** Messages counted by type. */
export interface BgpCounts { open: number; update: number; notification: number; keepalive: number; 'route-refresh': number }
const zero = (): BgpCounts => ({ open: 0, update: 0, notification: 0, keepalive: 0, 'route-refresh': 0 });

export interface BgpStats {
  sent: BgpCounts;
  received: BgpCounts;
  /** Sessions Established now. */
  established: number;
  /** Times any session reached Established. */
  establishments: number;
  /** Loc-RIB changes and the time of the last one (ns). */
  ribChanges: number;
  lastRibChange: number;
  /** Kernel route changes made (replace + delete). */
  kernelChanges: number;
  /** Prefixes in the Loc-RIB. */
  prefixes: number;
}

interface Source { id: number; peer: BgpPeer | null; remotePathId: number; paths: number }

/** A route this speaker put in the kernel. */
interface KrtEntry { spec: RouteSpec; sig: string; addr: number; len: number }

/** BIRD's kernel protocol `scan time 2` (Calico's template). */
const KRT_SCAN = 2 * 1_000_000_000;

/** A route of the Loc-RIB. */
export interface BgpPath {
  src: Source;
  origin: number;
  /** AS_PATH flattened (AS_SEQUENCE; sets counted as one for length). */
  asPath: number[];
  asPathLen: number;
  nextHop: number;
  med: number | undefined;
  localPref: number;
  originatorId: number | undefined;
  clusterList: number[];
  /** Optional transitive attributes we do not know, passed on. */
  extra: BgpAttr[];
  since: number;
  /** What this path looks like to any iBGP neighbour without `next hop self` (computed once, shared by them). */
  ibgpOut?: Out;
}

/**
 * A path's attributes as sent to a neighbour and their signature; a path's iBGP form (`ibgpOut`,
 * shared by every iBGP neighbour without next hop self — a reflector's clients) also keeps its
 * one-prefix UPDATE encoded per codec (`wire`, index as4 + 2·addPath): a reflector sends the
 * same bytes to each client; and the Adj-RIB-Out entry of the last id it went out with (`adj`),
 * shared by the clients' Adj-RIBs-Out.
 */
interface Out { attrs: BgpAttr[]; sig: string; wire?: (Uint8Array | undefined)[]; adj?: { id: number; sig: string } }
const NONE: never[] = [];

interface RibEntry { addr: number; len: number; key: string; paths: BgpPath[]; best: BgpPath | null }

/** Prefix texts by addr·64 + len: every speaker names the same few thousand prefixes once per UPDATE received. */
const prefixKeys = new Map<number, string>();
function prefixKey(addr: number, len: number): string {
  const k = addr * 64 + len;
  let s = prefixKeys.get(k);
  if (s === undefined) { s = `${ipToString(addr)}/${len}`; prefixKeys.set(k, s); }
  return s;
}

/** One-id CLUSTER_LISTs (a reflector's clients get the same one in every UPDATE), one array each; never changed in place. */
const oneIdLists = new Map<number, number[]>();
function internList(l: number[]): number[] {
  if (l.length !== 1) return l;
  const id = l[0]!;
  let x = oneIdLists.get(id);
  if (x === undefined) oneIdLists.set(id, (x = l));
  return x;
}

/** The path of `e` from neighbour `p` with remote path id `id`, if any. */
function pathFrom(e: RibEntry | undefined, p: BgpPeer, id: number): BgpPath | undefined {
  if (e === undefined) return undefined;
  const paths = e.paths;
  for (let i = 0; i < paths.length; i++) {
    const y = paths[i]!;
    if (y.src.peer === p && y.src.remotePathId === id) return y;
  }
  return undefined;
}

export class BgpSpeaker implements SessionHost {
  readonly world;
  readonly nodeName: string;
  readonly netnsName: string;
  readonly routerId: number;
  readonly localAs: number;
  readonly localAddr: number;
  readonly holdTime: number;
  readonly addPaths: boolean;
  readonly clusterId: number | null;
  readonly peers: BgpPeer[] = [];
  private readonly byAddr = new Map<number, BgpPeer>();
  readonly rib = new Map<string, RibEntry>();
  /** Route sources of each neighbour by the path id it sent. */
  private readonly sources = new Map<BgpPeer, Map<number, Source>>();
  private readonly freeIds: number[] = [];
  private nextId = 3;
  private readonly staticSrc: Source = { id: 2, peer: null, remotePathId: 0, paths: 0 };
  private readonly kernel = new Map<string, KrtEntry>();
  /** Prefixes with a static or eBGP-learned path: all a non-reflector may send to an iBGP neighbour. */
  private readonly exportableToIbgp = new Set<string>();
  /** eBGP neighbours (they may receive iBGP-learned routes). */
  private readonly ebgpPeers: BgpPeer[] = [];
  /** Neighbours Established since start (graceful-restart recovery ends when all have been). */
  private readonly upSinceStart = new Set<BgpPeer>();
  private startGen = 0;
  private running = false;
  /** Kernel routes are left alone while stopping (`persist`). */
  private persisting = false;
  private grRecovery = true;
  readonly sent = zero();
  readonly received = zero();
  ribChanges = 0;
  lastRibChange = 0;
  kernelChanges = 0;
  startedAt = 0;
  private readonly ns: Netns;

  constructor(readonly node: Node, readonly cfg: BgpSpeakerConfig) {
    this.world = node.world;
    this.nodeName = node.name;
    this.netnsName = cfg.netns ?? 'host';
    this.ns = node.ns(this.netnsName);
    const id = parseIp(cfg.routerId);
    if (id === undefined || id === 0) throw new Error(`BGP router id "${cfg.routerId}" is not an IPv4 address`);
    this.routerId = id;
    const src = parseIp(cfg.sourceAddress ?? cfg.routerId);
    if (src === undefined) throw new Error(`BGP source address "${cfg.sourceAddress}" is not an IPv4 address`);
    this.localAddr = src;
    this.localAs = cfg.localAs ?? 64512;
    if (!Number.isInteger(this.localAs) || this.localAs < 1 || this.localAs > 0xffffffff) throw new Error(`BGP local AS ${cfg.localAs} is out of range 1..4294967295`);
    this.holdTime = cfg.holdTime ?? 240;
    if (!Number.isInteger(this.holdTime) || (this.holdTime !== 0 && this.holdTime < 3) || this.holdTime > 65535) throw new Error(`BGP hold time ${cfg.holdTime} must be 0 or 3..65535 seconds`);
    this.addPaths = cfg.addPaths ?? true;
    if (cfg.clusterId !== undefined) {
      const c = parseIp(cfg.clusterId);
      if (c === undefined) throw new Error(`BGP route reflector cluster id "${cfg.clusterId}" is not an IPv4-style id`);
      this.clusterId = c;
    } else this.clusterId = null;
  }

  get isReflector(): boolean { return this.clusterId !== null; }

  /** Adds a neighbour (`protocol bgp NAME { neighbor ADDRESS as AS; … }`). */
  addPeer(cfg: BgpPeerConfig): BgpPeer {
    const a = parseIp(cfg.address);
    if (a === undefined) throw new Error(`BGP neighbour address "${cfg.address}" is not an IPv4 address`);
    if (a === this.localAddr) throw new Error(`BGP neighbour ${cfg.address} is this speaker's own address`);
    if (this.byAddr.has(a)) throw new Error(`BGP neighbour ${cfg.address} is configured twice on ${this.nodeName}`);
    if (!Number.isInteger(cfg.as) || cfg.as < 1 || cfg.as > 0xffffffff) throw new Error(`BGP neighbour ${cfg.address}: AS ${cfg.as} is out of range 1..4294967295`);
    if (cfg.rrClient && this.clusterId === null) throw new Error(`BGP neighbour ${cfg.address} is an rr client but ${this.nodeName} has no route reflector cluster id`);
    const p = new BgpPeer(this, cfg, a);
    this.peers.push(p);
    this.byAddr.set(a, p);
    if (!p.ibgp) this.ebgpPeers.push(p);
    if (this.running) p.start();
    return p;
  }

  /** Removes a neighbour (its protocol deleted from the config): Cease 6/3 on an open session, its routes withdrawn. */
  removePeer(address: string): void {
    const p = this.peer(address);
    if (!p) throw new Error(`BGP neighbour ${address} is not configured on ${this.nodeName}`);
    p.stop(3);
    this.peers.splice(this.peers.indexOf(p), 1);
    this.byAddr.delete(p.address);
    const i = this.ebgpPeers.indexOf(p);
    if (i >= 0) this.ebgpPeers.splice(i, 1);
    this.upSinceStart.delete(p);
    this.sources.delete(p);
  }

  peer(address: string): BgpPeer | undefined {
    const a = parseIp(address);
    return a === undefined ? undefined : this.byAddr.get(a);
  }

  /** Starts BIRD: listen on port 179 and start every neighbour. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.persisting = false;
    this.grRecovery = true;
    this.upSinceStart.clear();
    const gen = ++this.startGen;
    this.startedAt = this.world.now;
    const listen: TcpHandlers = {
      onConnect: (s) => {
        const p = this.running ? this.byAddr.get(s.raddr) : undefined;
        const c = p?.accept(s);
        if (!p || !c) {
          if (!p) this.trace('bgp.session', `connection from unknown ${ipToString(s.raddr)} refused`);
          s.close();
          return;
        }
        // The accepted socket shares the listener's handlers: route its events to the connection.
        this.connHandlers.set(s, c);
      },
      onData: (s, d) => this.connHandlers.get(s)?.onData?.(s, d),
      onEnd: (s) => this.connHandlers.get(s)?.onEnd?.(s),
      onClose: (s) => { const h = this.connHandlers.get(s); this.connHandlers.delete(s); h?.onClose?.(s); },
      onError: (s, e, i) => this.connHandlers.get(s)?.onError?.(s, e, i),
    };
    if (!this.ns.sockets.tcpListen.has(BGP_PORT)) this.ns.sockets.tcpListenOn(BGP_PORT, listen);
    else throw new Error(`BGP: TCP port ${BGP_PORT} is already in use on ${this.nodeName}`);
    this.trace('bgp.session', `BIRD started: router id ${ipToString(this.routerId)}, AS ${this.localAs}${this.isReflector ? `, route reflector cluster ${ipToString(this.clusterId!)}` : ''}, ${this.peers.length} neighbours`);
    for (const p of this.peers) p.start();
    // Graceful-restart recovery ends once every neighbour has been up (or after 240 s, BIRD's wait).
    this.world.sched.after(240 * S, () => { if (gen === this.startGen) this.endRecovery(); });
    // The kernel protocol's first scan: what changed while stopped goes in now (routes persisted meanwhile).
    for (const e of this.rib.values()) this.kernelSync(e);
    this.world.sched.after(KRT_SCAN, () => this.krtScan(gen));
  }

  private readonly connHandlers = new Map<TcpSock, TcpHandlers>();
  /** flush's scratch: the path ids and exports a prefix should carry (reused, never kept). */
  private readonly wantIds: number[] = [];
  private readonly wantOuts: Out[] = [];

  /** Stops BIRD (`birdc down`): Cease 6/2 on every session; kernel routes stay (`persist`). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.persisting = true;
    for (const p of this.peers) p.stop();
    this.ns.sockets.tcpListen.delete(BGP_PORT);
    this.trace('bgp.session', 'BIRD stopped');
  }

  /**
   * The machine failed (power off): BIRD dies without a word — no NOTIFICATION,
   * no FIN, its sockets and timers gone with the kernel. Its peers notice only
   * when their hold timers expire.
   */
  halt(): void {
    if (!this.running) return;
    this.running = false;
    this.persisting = true;
    for (const p of this.peers) p.halt();
    this.ns.sockets.tcpListen.delete(BGP_PORT);
    this.trace('bgp.session', 'BIRD is gone with its machine (no NOTIFICATION, no FIN)');
  }

  // ── SessionHost ──

  /**
   * The kernel protocol's periodic scan (`scan time 2`): a route of ours the
   * kernel lost (its device went down and came back, someone deleted it) is
   * put back.
   */
  private krtScan(gen: number): void {
    if (gen !== this.startGen || !this.running) return;
    if (this.cfg.kernelExport !== false) {
      const fib = this.ns.fib;
      for (const [key, k] of this.kernel) {
        const r = fib.find({ dst: k.addr, prefix: k.len, table: 254 });
        if (r && r.proto === 'bird') continue;
        try {
          this.node.routeReplace(this.netnsName, k.spec);
          this.kernelChanges++;
          this.trace('bgp.route', `kernel scan: ${key} was missing, reinstalled`);
        } catch (err) {
          if (!(err instanceof NetlinkError)) throw err;
        }
      }
    }
    this.world.sched.after(KRT_SCAN, () => this.krtScan(gen));
  }

  /**
   * Graceful-restart recovery is over: OPENs lose the restart bits, and kernel
   * routes left from before a restart that no best path backs any more are
   * removed (the kernel protocol's prune after recovery).
   */
  private endRecovery(): void {
    if (!this.grRecovery) return;
    this.grRecovery = false;
    for (const [key, k] of [...this.kernel]) {
      if (this.rib.get(key)?.best) continue;
      this.kernel.delete(key);
      try {
        this.node.routeDel(this.netnsName, k.spec);
        this.kernelChanges++;
        this.trace('bgp.route', `kernel: ${key} removed (stale after restart)`);
      } catch (err) {
        if (!(err instanceof NetlinkError)) throw err;
      }
    }
  }

  openFor(_peer: BgpPeer): BgpOpen {
    return {
      type: 'open', version: 4, myAs: this.localAs > 0xffff ? AS_TRANS : this.localAs, holdTime: this.holdTime, bgpId: this.routerId,
      capabilities: [
        { code: 1, afi: 1, safi: 1 },
        { code: 2 },
        { code: 64, restartFlags: this.grRecovery ? 0x8 : 0, restartTime: 120, families: [{ afi: 1, safi: 1, flags: this.grRecovery ? 0x80 : 0 }] },
        { code: 65, asn: this.localAs },
        ...(this.addPaths ? [{ code: 69 as const, families: [{ afi: 1, safi: 1, sendReceive: 3 }] }] : []),
        { code: 70 },
        { code: 71, families: [] },
      ],
    };
  }

  shaved(seconds: number): number {
    const ms = Math.round(seconds * 1000);
    const r = this.world.rng.int(0, Math.floor(ms / 4));
    return (ms - r) * 1_000_000;
  }

  socket(h: TcpHandlers): TcpSock { return new TcpSock(this.ns, h); }

  count(dir: 'sent' | 'received', m: BgpMessage): void { (dir === 'sent' ? this.sent : this.received)[m.type]++; }

  trace(stage: string, detail: string): void {
    const w = this.world;
    if (w.trace.on) w.event(this.nodeName, this.netnsName, '', null, stage, detail);
  }

  sessionUp(p: BgpPeer): void {
    const recovering = this.grRecovery;
    this.upSinceStart.add(p);
    if (this.upSinceStart.size === this.peers.length) this.endRecovery();
    // The initial table, then End-of-RIB. A non-reflector sends an iBGP neighbour only its own and eBGP-learned routes.
    for (const key of p.ibgp && !this.isReflector ? this.exportableToIbgp : this.rib.keys()) p.dirty.add(key);
    // Restarting (`bird -R`) toward a peer that is not: our table waits for the peer's End-of-RIB (RFC 4724).
    const gr = p.est?.remoteOpen ? openCap(p.est.remoteOpen, CAP_GRACEFUL_RESTART) : undefined;
    if (recovering && gr && !(gr.restartFlags & 0x8)) {
      p.grWait = true;
      this.trace('bgp.update', `${p.name}: graceful restart: waiting for the peer's End-of-RIB before sending our routes`);
      return;
    }
    this.flush(p, true);
  }

  sessionDown(p: BgpPeer): void {
    // Withdraw everything learned from p, at once.
    const gone: string[] = [];
    for (const e of this.rib.values()) if (e.paths.some((x) => x.src.peer === p)) gone.push(e.key);
    for (const key of gone) {
      const e = this.rib.get(key)!;
      for (const x of e.paths.filter((y) => y.src.peer === p)) this.removePath(e, x);
      this.changed(e, p);
    }
  }

  update(p: BgpPeer, u: BgpUpdate): void {
    if (isEndOfRib(u)) {
      p.eorReceived = true;
      this.trace('bgp.update', `${p.name}: End-of-RIB received`);
      if (p.grWait) { p.grWait = false; this.flush(p, true); }
      return;
    }
    const touched = new Set<RibEntry>();
    const rx = p.est?.rx.addPath ?? false;
    for (const w of u.withdrawn) {
      const e = this.rib.get(prefixKey(w.addr, w.len));
      if (!e) continue;
      const x = pathFrom(e, p, rx ? w.pathId ?? 0 : 0);
      if (x) { this.removePath(e, x); touched.add(e); }
    }
    if (u.nlri.length) {
      const attrs = this.importAttrs(p, u);
      for (const n of u.nlri) {
        const key = prefixKey(n.addr, n.len);
        let e = this.rib.get(key);
        const id = rx ? n.pathId ?? 0 : 0;
        const old = pathFrom(e, p, id);
        if (attrs === null) {
          // Looped: treated as withdrawn (RFC 4456 §8, RFC 4271 §9.1.2).
          if (e && old) { this.removePath(e, old); touched.add(e); }
          continue;
        }
        if (!e) { e = { addr: n.addr, len: n.len, key, paths: [], best: null }; this.rib.set(key, e); }
        // A literal of fixed shape (a spread of 9 fields plus 2 made a dictionary-mode object, several times larger).
        const path: BgpPath = {
          src: old ? old.src : this.source(p, id), origin: attrs.origin, asPath: attrs.asPath, asPathLen: attrs.asPathLen, nextHop: attrs.nextHop,
          med: attrs.med, localPref: attrs.localPref, originatorId: attrs.originatorId, clusterList: attrs.clusterList, extra: attrs.extra,
          since: this.world.now, ibgpOut: undefined,
        };
        if (old) e.paths[e.paths.indexOf(old)] = path;
        else { e.paths.push(path); path.src.paths++; }
        touched.add(e);
      }
    }
    for (const e of touched) this.changed(e, p);
  }

  routeRefresh(p: BgpPeer, enhanced: boolean): void {
    const c = p.est;
    if (!c) return;
    if (enhanced) p.send(c, [{ type: 'route-refresh', afi: 1, subtype: 1, safi: 1 }]);
    p.adjOut.clear();
    for (const key of this.rib.keys()) p.dirty.add(key);
    this.flush(p, false);
    if (enhanced) p.send(c, [{ type: 'route-refresh', afi: 1, subtype: 2, safi: 1 }]);
  }

  /** Asks the neighbour to send its routes again (ROUTE-REFRESH, `birdc reload in`). */
  refresh(address: string): void {
    const p = this.peer(address);
    if (!p?.est) throw new Error(`BGP neighbour ${address} has no established session on ${this.nodeName}`);
    p.send(p.est, [{ type: 'route-refresh', afi: 1, subtype: 0, safi: 1 }]);
  }

  // ── origination ──

  private parsePrefix(prefix: string): { addr: number; len: number; key: string } {
    const c = parseCidr(prefix, true);
    if (!c) throw new Error(`BGP: "${prefix}" is not an IPv4 prefix with its host bits zero (e.g. 10.48.1.0/26)`);
    return { addr: c.addr, len: c.prefix, key: prefixKey(c.addr, c.prefix) };
  }

  /** Originates `prefix` (the static protocol's `route PREFIX blackhole`). */
  announce(prefix: string): void {
    const { addr, len, key } = this.parsePrefix(prefix);
    let e = this.rib.get(key);
    if (!e) { e = { addr, len, key, paths: [], best: null }; this.rib.set(key, e); }
    if (e.paths.some((x) => x.src === this.staticSrc)) return;
    e.paths.push({
      src: this.staticSrc, origin: 0, asPath: NONE, asPathLen: 0, nextHop: this.localAddr, med: undefined, localPref: this.cfg.localPref ?? 100,
      originatorId: undefined, clusterList: NONE, extra: NONE, since: this.world.now,
    });
    this.staticSrc.paths++;
    this.trace('bgp.route', `static: ${key} blackhole announced`);
    this.changed(e, null);
  }

  /** Stops originating `prefix` (a block released). */
  withdraw(prefix: string): void {
    const { key } = this.parsePrefix(prefix);
    const e = this.rib.get(key);
    const x = e?.paths.find((y) => y.src === this.staticSrc);
    if (!e || !x) throw new Error(`BGP: ${prefix} is not announced by ${this.nodeName}`);
    this.removePath(e, x);
    this.trace('bgp.route', `static: ${key} withdrawn`);
    this.changed(e, null);
  }

  // ── RIB ──

  private source(p: BgpPeer, remotePathId: number): Source {
    let m = this.sources.get(p);
    if (!m) { m = new Map(); this.sources.set(p, m); }
    let s = m.get(remotePathId);
    if (!s) {
      s = { id: this.freeIds.length ? this.takeLowestFree() : this.nextId++, peer: p, remotePathId, paths: 0 };
      m.set(remotePathId, s);
    }
    return s;
  }

  private takeLowestFree(): number {
    let m = 0;
    for (let i = 1; i < this.freeIds.length; i++) if (this.freeIds[i] < this.freeIds[m]) m = i;
    return this.freeIds.splice(m, 1)[0];
  }

  private removePath(e: RibEntry, x: BgpPath): void {
    e.paths.splice(e.paths.indexOf(x), 1);
    const s = x.src;
    s.paths--;
    if (s.paths === 0 && s.peer) {
      this.sources.get(s.peer)?.delete(s.remotePathId);
      this.freeIds.push(s.id);
    }
  }

  private importAttrs(p: BgpPeer, u: BgpUpdate): Omit<BgpPath, 'src' | 'since'> | null {
    let origin = 0, nextHop = 0, med: number | undefined, localPref: number | undefined, originatorId: number | undefined;
    let asPath: number[] = NONE, asPathLen = 0, clusterList: number[] = NONE;
    let extra: BgpAttr[] = NONE;
    for (const a of u.attrs) {
      if ('raw' in a) { if (a.flags & ATTR_F_TRANSITIVE) extra = [...extra, a]; continue; }
      switch (a.code) {
        case 1: origin = (a as { origin: number }).origin; break;
        case 2: {
          for (const s of (a as { segments: { type: number; asns: number[] }[] }).segments) {
            asPath = asPath.concat(s.asns);
            asPathLen += s.type === 2 ? s.asns.length : s.type === 1 ? 1 : 0;
          }
          break;
        }
        case 3: nextHop = (a as { nextHop: number }).nextHop; break;
        case 4: med = (a as { med: number }).med; break;
        case 5: localPref = (a as { localPref: number }).localPref; break;
        case 9: originatorId = (a as { originatorId: number }).originatorId; break;
        case 10: clusterList = internList((a as { clusterList: number[] }).clusterList); break;
        default: if (a.flags & ATTR_F_TRANSITIVE) extra = [...extra, a];
      }
    }
    if (!p.ibgp) {
      if (asPath.includes(this.localAs)) { this.trace('bgp.update', `${p.name}: AS_PATH loop (own AS ${this.localAs}), route ignored`); return null; }
      localPref = undefined; originatorId = undefined; clusterList = NONE;
    } else {
      if (originatorId === this.routerId) { this.trace('bgp.update', `${p.name}: ORIGINATOR_ID is our router id, route ignored`); return null; }
      if (this.clusterId !== null && clusterList.includes(this.clusterId)) { this.trace('bgp.update', `${p.name}: our cluster id in CLUSTER_LIST, route ignored`); return null; }
    }
    return { origin, asPath, asPathLen, nextHop, med, localPref: localPref ?? 100, originatorId, clusterList, extra };
  }

  /** BIRD's ordering (bgp_rte_better): true when a is preferred to b. */
  private better(a: BgpPath, b: BgpPath): boolean {
    const sa = a.src.peer === null, sb = b.src.peer === null;
    if (sa !== sb) return sa;
    if (a.localPref !== b.localPref) return a.localPref > b.localPref;
    if (a.asPathLen !== b.asPathLen) return a.asPathLen < b.asPathLen;
    if (a.origin !== b.origin) return a.origin < b.origin;
    const na = a.asPath[0] ?? this.localAs, nb = b.asPath[0] ?? this.localAs;
    if (na === nb && (a.med ?? 0) !== (b.med ?? 0)) return (a.med ?? 0) < (b.med ?? 0);
    const ea = a.src.peer !== null && !a.src.peer.ibgp, eb = b.src.peer !== null && !b.src.peer.ibgp;
    if (ea !== eb) return ea;
    const ra = a.originatorId ?? a.src.peer?.remoteId ?? 0, rb = b.originatorId ?? b.src.peer?.remoteId ?? 0;
    if (ra !== rb) return ra < rb;
    if (a.clusterList.length !== b.clusterList.length) return a.clusterList.length < b.clusterList.length;
    return (a.src.peer?.address ?? 0) < (b.src.peer?.address ?? 0);
  }

  /**
   * Recomputes the best path of `e` after a path of `from` (null: the static
   * protocol) changed, syncs the kernel and schedules the export to every
   * neighbour that may receive a path of that source (whether a source's paths
   * are exportable to a neighbour depends only on the two, never on attributes).
   */
  private changed(e: RibEntry, from: BgpPeer | null): void {
    let best: BgpPath | null = null;
    let local = false;
    for (const x of e.paths) {
      if (!best || this.better(x, best)) best = x;
      if (x.src.peer === null || !x.src.peer.ibgp) local = true;
    }
    if (local) this.exportableToIbgp.add(e.key); else this.exportableToIbgp.delete(e.key);
    const prev = e.best;
    e.best = best;
    this.ribChanges++;
    this.lastRibChange = this.world.now;
    this.cfg.convergence?.ribChanged(this.world.now);
    if (prev !== best) this.kernelSync(e);
    if (e.paths.length === 0) this.rib.delete(e.key);
    const targets = from === null || !from.ibgp ? this.peers
      : this.isReflector ? this.peers
        : this.ebgpPeers;
    for (const p of targets) {
      if (!p.est || p === from) continue;
      if (from !== null && from.ibgp && p.ibgp && !(from.rrClient || p.rrClient)) continue;
      p.dirty.add(e.key);
      if (!p.flushScheduled) {
        p.flushScheduled = true;
        this.world.sched.defer(() => this.flush(p, false));
      }
    }
  }

  // ── export ──

  /** `x` as sent to `q` (attributes and their signature), or null when it is not exported there. */
  private exportOut(x: BgpPath, q: BgpPeer, key: string): Out | null {
    const from = x.src.peer;
    if (from === q) return null;
    if (this.cfg.exportFilter && !this.cfg.exportFilter(key)) return null;
    if (from !== null && from.ibgp && q.ibgp && !(this.clusterId !== null && (from.rrClient || q.rrClient))) return null;
    if (q.ibgp && !q.nextHopSelf) return (x.ibgpOut ??= { ...this.buildOut(x, q), wire: [] });
    return this.buildOut(x, q);
  }

  private buildOut(x: BgpPath, q: BgpPeer): Out {
    const from = x.src.peer;
    const reflect = from !== null && from.ibgp && q.ibgp;
    const attrs: BgpAttr[] = [{ code: 1, flags: ATTR_F_TRANSITIVE, origin: x.origin }];
    const path = q.ibgp ? x.asPath : [this.localAs, ...x.asPath];
    attrs.push({ code: 2, flags: ATTR_F_TRANSITIVE, segments: path.length ? [{ type: 2, asns: path }] : [] });
    attrs.push({ code: 3, flags: ATTR_F_TRANSITIVE, nextHop: this.exportNextHop(x, q) });
    if (q.ibgp) {
      if (x.med !== undefined) attrs.push({ code: 4, flags: ATTR_F_OPTIONAL, med: x.med });
      attrs.push({ code: 5, flags: ATTR_F_TRANSITIVE, localPref: x.localPref });
      if (reflect) {
        attrs.push({ code: 9, flags: ATTR_F_OPTIONAL, originatorId: x.originatorId ?? from!.remoteId });
        attrs.push({ code: 10, flags: ATTR_F_OPTIONAL, clusterList: [this.clusterId!, ...x.clusterList] });
      }
    }
    for (const a of x.extra) attrs.push({ ...a, flags: a.flags | ATTR_F_PARTIAL } as BgpAttr);
    return { attrs, sig: BgpSpeaker.sig(attrs) };
  }

  /**
   * NEXT_HOP toward `q`: ours for local routes, `next hop self` and eBGP (Calico's
   * sessions are all `multihop`, and BIRD keeps a received next hop toward eBGP
   * only between single-hop sessions on one interface); to iBGP the received one.
   */
  private exportNextHop(x: BgpPath, q: BgpPeer): number {
    if (x.src.peer === null || q.nextHopSelf || !q.ibgp) return this.localAddr;
    return x.nextHop;
  }

  private static sig(attrs: BgpAttr[]): string {
    let s = '';
    for (const a of attrs) {
      switch (a.code) {
        case 1: s += `o${(a as { origin: number }).origin}`; break;
        case 2: s += `p${(a as { segments: { asns: number[] }[] }).segments.map((g) => g.asns.join(' ')).join(';')}`; break;
        case 3: s += `n${(a as { nextHop: number }).nextHop}`; break;
        case 4: s += `m${(a as { med: number }).med}`; break;
        case 5: s += `l${(a as { localPref: number }).localPref}`; break;
        case 9: s += `i${(a as { originatorId: number }).originatorId}`; break;
        case 10: s += `c${(a as { clusterList: number[] }).clusterList.join(',')}`; break;
        default: s += `x${a.code}:${'data' in a ? Array.from((a as { data: Uint8Array }).data).join(',') : ''}`;
      }
      s += '|';
    }
    return s;
  }

  /** Sends what changed for `p`'s dirty prefixes (withdrawals packed first, then one UPDATE per announced path). */
  private flush(p: BgpPeer, initial: boolean): void {
    p.flushScheduled = false;
    const c = p.est;
    if (!c) { p.dirty.clear(); return; }
    if (p.grWait) return; // kept dirty until the peer's End-of-RIB
    const addPath = c.tx.addPath;
    const withdrawn: BgpPrefix[] = [];
    const out: OutMessage[] = [];
    const codec = (c.tx.as4 ? 1 : 0) + (addPath ? 2 : 0);
    // What each prefix should carry now, as (path id, Out) pairs in candidate order (at most one per source).
    const wIds = this.wantIds, wOuts = this.wantOuts;
    for (const key of p.dirty) {
      const e = this.rib.get(key);
      wIds.length = 0;
      wOuts.length = 0;
      if (e) {
        if (addPath) {
          for (const x of e.paths) {
            const o = this.exportOut(x, p, key);
            if (o) { wIds.push(x.src.id); wOuts.push(o); }
          }
        } else if (e.best) {
          const o = this.exportOut(e.best, p, key);
          if (o) { wIds.push(0); wOuts.push(o); }
        }
      }
      const have = p.adjOut.get(key);
      const addr = e ? e.addr : parseCidr(key)!.addr, len = e ? e.len : parseCidr(key)!.prefix;
      if (have instanceof Map) {
        for (const id of have.keys()) if (!wIds.includes(id)) withdrawn.push(addPath ? { addr, len, pathId: id } : { addr, len });
      } else if (have && !wIds.includes(have.id)) withdrawn.push(addPath ? { addr, len, pathId: have.id } : { addr, len });
      for (let k = 0; k < wIds.length; k++) {
        const id = wIds[k]!, w = wOuts[k]!;
        const sent = have instanceof Map ? have.get(id) : have && have.id === id ? have.sig : undefined;
        if (sent === w.sig) continue;
        const m: OutMessage = { type: 'update', withdrawn: [], attrs: w.attrs, nlri: [addPath ? { addr, len, pathId: id } : { addr, len }] };
        if (w.wire !== undefined) m.wire = (w.wire[codec] ??= encodeBgp(m, c.tx));
        out.push(m);
      }
      if (wIds.length === 0) p.adjOut.delete(key);
      else if (wIds.length === 1) {
        // The entry is never changed in place: a path's iBGP form keeps one per id for every client (a reflector's million).
        const id = wIds[0]!, w = wOuts[0]!;
        p.adjOut.set(key, w.wire !== undefined ? (w.adj?.id === id ? w.adj : (w.adj = { id, sig: w.sig })) : { id, sig: w.sig });
      } else { const m = new Map<number, string>(); for (let k = 0; k < wIds.length; k++) m.set(wIds[k]!, wOuts[k]!.sig); p.adjOut.set(key, m); }
    }
    p.dirty.clear();
    const msgs: OutMessage[] = [];
    // Withdrawals packed into UPDATEs of at most 4096 bytes.
    const per = addPath ? 9 : 5;
    const room = Math.floor((4096 - 23) / per);
    for (let i = 0; i < withdrawn.length; i += room) msgs.push({ type: 'update', withdrawn: withdrawn.slice(i, i + room), attrs: [], nlri: [] });
    msgs.push(...out);
    if (initial) { msgs.push({ type: 'update', withdrawn: [], attrs: [], nlri: [] }); p.eorSent = true; }
    p.send(c, msgs);
  }

  // ── kernel ──

  private kernelSync(e: RibEntry): void {
    if (this.cfg.kernelExport === false || this.persisting) return;
    const b = e.best;
    let spec: RouteSpec | null = null;
    if (b && b.src.peer === null) spec = { dst: e.key, type: 'blackhole', proto: 'bird' };
    else if (b) {
      const nh = ipToString(b.nextHop);
      const t = this.cfg.krtTunnel ? this.cfg.krtTunnel(e.key, nh) : null;
      if (t) spec = { dst: e.key, via: nh, dev: t.dev, proto: 'bird', ...(t.onlink ? { onlink: true } : {}) };
      else {
        const rt = this.ns.fib.lookup(b.nextHop);
        if (rt && rt.type === 'unicast' && rt.dev && !(rt.dst === e.addr && rt.prefix === e.len)) {
          spec = { dst: e.key, via: rt.gw ? ipToString(rt.gw) : nh, dev: rt.dev.name, proto: 'bird' };
        } else this.trace('bgp.route', `kernel: ${e.key} via ${nh}: next hop unreachable, not installed`);
      }
    }
    const cur = this.kernel.get(e.key);
    const sig = spec ? `${spec.type ?? ''}|${spec.via ?? ''}|${spec.dev ?? ''}|${spec.onlink ? 1 : 0}` : '';
    if (cur && cur.sig === sig) return;
    try {
      if (spec) {
        this.node.routeReplace(this.netnsName, spec);
        this.kernel.set(e.key, { spec, sig, addr: e.addr, len: e.len });
        this.trace('bgp.route', `kernel: ${this.kernelText(spec)}`);
      } else if (cur) {
        this.kernel.delete(e.key);
        this.node.routeDel(this.netnsName, cur.spec);
        this.trace('bgp.route', `kernel: ${e.key} removed`);
      }
      this.kernelChanges++;
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
      this.trace('bgp.route', `kernel: ${e.key}: ${err.message}`);
    }
  }

  private kernelText(r: RouteSpec): string {
    return r.type === 'blackhole' ? `blackhole ${r.dst} proto bird` : `${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''} proto bird`;
  }

  // ── reading ──

  stats(): BgpStats {
    return {
      sent: { ...this.sent }, received: { ...this.received },
      established: this.peers.filter((p) => p.est).length,
      establishments: this.peers.reduce((n, p) => n + p.establishments, 0),
      ribChanges: this.ribChanges, lastRibChange: this.lastRibChange, kernelChanges: this.kernelChanges, prefixes: this.rib.size,
    };
  }

  /** Best path of `prefix`, if any. */
  best(prefix: string): BgpPath | null {
    return this.rib.get(this.parsePrefix(prefix).key)?.best ?? null;
  }

  /** `birdc show protocols` */
  showProtocols(): string {
    const rows: string[][] = [['Name', 'Proto', 'Table', 'State', 'Since', 'Info']];
    rows.push(['static1', 'Static', 'master4', 'up', formatTime(this.startedAt), '']);
    for (const p of this.peers) {
      const st = p.state;
      const info = st === 'Idle' && p.passive && p.running ? 'Passive' : st;
      rows.push([p.name, 'BGP', '---', st === 'Established' ? 'up' : p.started ? 'start' : 'down', formatTime(p.since), `${info}${p.lastError ? `  ${p.lastError}` : ''}`]);
    }
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join(' ').trimEnd()).join('\n') + '\n';
  }

  /** `birdc show route` (all paths; `*` marks the best). */
  showRoute(): string {
    const lines = ['Table master4:'];
    const keys = [...this.rib.values()].sort((a, b) => a.addr - b.addr || a.len - b.len);
    for (const e of keys) {
      let first = true;
      const paths = [...e.paths].sort((a, b) => (a === e.best ? -1 : b === e.best ? 1 : 0));
      for (const x of paths) {
        const name = x.src.peer ? x.src.peer.name : 'static1';
        const star = x === e.best ? '*' : ' ';
        const head = first ? e.key.padEnd(20) : ''.padEnd(20);
        first = false;
        if (!x.src.peer) {
          lines.push(`${head} blackhole [${name} ${formatTime(x.since)}] ${star} (200)`);
        } else {
          const p = x.src.peer;
          const path = x.asPath.length ? x.asPath.join(' ') + ' ' : '';
          lines.push(`${head} unicast [${name} ${formatTime(x.since)} from ${p.addressText}] ${star} (100) [${path}${p.ibgp && !x.asPath.length ? 'i' : `AS${x.asPath[x.asPath.length - 1] ?? this.localAs}i`}]`);
          const k = this.kernel.get(e.key);
          lines.push(`\tvia ${ipToString(x.nextHop)}${k && x === e.best && k.spec.dev ? ` on ${k.spec.dev}` : ''}`);
          if (x.originatorId !== undefined) lines.push(`\tBGP.originator_id: ${ipToString(x.originatorId)}`);
          if (x.clusterList.length) lines.push(`\tBGP.cluster_list: ${x.clusterList.map(ipToString).join(' ')}`);
        }
      }
    }
    return lines.join('\n') + '\n';
  }
}
