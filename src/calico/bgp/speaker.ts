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
import { AdjRibOut } from './adj-rib-out.js';
import { PrefixSet, PrefixTable, prefixCountNow, prefixOf, prefixOfKey, type Prefix } from './prefix-table.js';
import { AttrRegistry, NIL, PathStore, RouteSources } from './path-store.js';
export type { Prefix } from './prefix-table.js';
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

/** The static protocol's route source number (BIRD's `rte_src` of `static1`; 1 is `direct`'s). */
const STATIC_ID = 2;

/** `bestBy` of a prefix whose best path was just removed (see BgpSpeaker.bestBy). */
const BEST_GONE = -2;

/** A route this speaker put in the kernel: the spec it gave netlink (never changed; shared when identical), with its prefix. */
interface KrtSpec extends RouteSpec { readonly pfx: Prefix }
const sameKrt = (a: KrtSpec, b: KrtSpec): boolean => a.type === b.type && a.via === b.via && a.dev === b.dev && !a.onlink === !b.onlink;

/** IP_PREC_INTERNET_CONTROL: the TOS BIRD sets on its BGP sockets (DSCP CS6). */
const BIRD_TOS = 0xc0;
/** The TTL of Calico's `multihop;` sessions (BIRD's default hop count for a bare `multihop`). */
const BIRD_MULTIHOP_TTL = 64;

/** BIRD's kernel protocol `scan time 2` (Calico's template). */
const KRT_SCAN = 2 * 1_000_000_000;

/**
 * A path's attributes as imported (BIRD's `rta`): never changed once made, and shared — by
 * every path with the same attributes, on every speaker (a reflected block reaches each
 * client with the same ORIGINATOR_ID, CLUSTER_LIST and NEXT_HOP; see internAttrs).
 */
export interface PathAttrs {
  readonly origin: number;
  /** AS_PATH flattened (AS_SEQUENCE; sets counted as one for length). */
  readonly asPath: number[];
  readonly asPathLen: number;
  readonly nextHop: number;
  readonly med: number | undefined;
  readonly localPref: number;
  readonly originatorId: number | undefined;
  readonly clusterList: number[];
  /** Optional transitive attributes we do not know, passed on. */
  readonly extra: BgpAttr[];
  /** The kernel route a best path with these attributes makes for a prefix (shared by the speakers that install the same one). */
  krt?: KrtSpec;
  /** Its number in attrRegistry (interned sets only). */
  ix?: number;
}

/**
 * A route of the Loc-RIB as read (`best`, `entry`, `show route`): its source — the neighbour
 * (null: the static protocol), the path id it sent and the source's local id (the path id it
 * goes out with) — its (shared) attributes, and when it came. The speaker keeps its paths in a
 * PathStore; this is a copy made for the reader.
 */
export class BgpPath {
  constructor(readonly peer: BgpPeer | null, readonly remotePathId: number, readonly id: number, readonly a: PathAttrs, readonly since: number) {}
  get origin(): number { return this.a.origin; }
  get asPath(): number[] { return this.a.asPath; }
  get asPathLen(): number { return this.a.asPathLen; }
  get nextHop(): number { return this.a.nextHop; }
  get med(): number | undefined { return this.a.med; }
  get localPref(): number { return this.a.localPref; }
  get originatorId(): number | undefined { return this.a.originatorId; }
  get clusterList(): number[] { return this.a.clusterList; }
  get extra(): BgpAttr[] { return this.a.extra; }
}

/** A prefix of the Loc-RIB as read: its paths in arrival order and the best one. */
export interface RibEntryView { readonly pfx: Prefix; readonly paths: BgpPath[]; readonly best: BgpPath | null }

/** Interned attribute sets by number: what a PathStore names a path's attributes by. */
const attrRegistry = new AttrRegistry<PathAttrs>((a) => a.extra.length === 0);

/** Imported attribute sets without unknown attributes, by their values (see internAttrs). */
const attrSets = new Map<string, PathAttrs>();

/**
 * The shared object for these attribute values (BIRD's rta_lookup): a reflected path is
 * held once for all clients instead of once per client (75 M paths at 5,000 nodes, issue 9).
 * Sets with unknown transitive attributes are not shared.
 */
function internAttrs(a: PathAttrs): PathAttrs {
  if (a.extra.length !== 0) return a;
  const k = `${a.origin}|${a.nextHop}|${a.localPref}|${a.med ?? ''}|${a.originatorId ?? ''}|${a.clusterList.length === 0 ? '' : a.clusterList.join(',')}|${a.asPathLen}|${a.asPath.length === 0 ? '' : a.asPath.join(' ')}`;
  const x = attrSets.get(k);
  if (x !== undefined) return x;
  attrSets.set(k, a);
  return a;
}

/**
 * A path's attributes as sent to a neighbour and their signature; a path's iBGP form (the
 * speaker's `ibgpOut`, shared by every iBGP neighbour without next hop self — a reflector's
 * clients) also keeps its
 * one-prefix UPDATE encoded per codec (`wire`, index as4 + 2·addPath): a reflector sends the
 * same bytes to each client; and the Adj-RIB-Out entry of the last id it went out with (`adj`),
 * shared by the clients' Adj-RIBs-Out.
 */
interface Out { attrs: BgpAttr[]; sig: string; wire?: (OutMessage | undefined)[]; adj?: { id: number; sig: string } }
const NONE: never[] = [];

/** Next-hop texts (a kernel route's `via`), one string per address for the process. */
const ipTexts = new Map<number, string>();
function ipText(a: number): string {
  let s = ipTexts.get(a);
  if (s === undefined) { s = ipToString(a); ipTexts.set(a, s); }
  return s;
}

/** iBGP imports by decoded attribute list (the decoder's shared lists; see BgpSpeaker.importAttrs). */
const ibgpImports = new WeakMap<BgpAttr[], PathAttrs>();

/**
 * A decoded attribute list as a path's attributes (interned): LOCAL_PREF 100 when absent;
 * from eBGP (`ebgp`) without LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST.
 */
function parseAttrs(attrs: BgpAttr[], ebgp: boolean): PathAttrs {
  let origin = 0, nextHop = 0, med: number | undefined, localPref: number | undefined, originatorId: number | undefined;
  let asPath: number[] = NONE, asPathLen = 0, clusterList: number[] = NONE;
  let extra: BgpAttr[] = NONE;
  for (const a of attrs) {
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
  if (ebgp) { localPref = undefined; originatorId = undefined; clusterList = NONE; }
  return internAttrs({ origin, asPath, asPathLen, nextHop, med, localPref: localPref ?? 100, originatorId, clusterList, extra, krt: undefined });
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
  /** The Loc-RIB's paths (see PathStore). */
  private readonly paths = new PathStore<PathAttrs>(attrRegistry);
  /**
   * The Loc-RIB: each prefix's first path (NIL: an entry whose paths are gone, kept until
   * `changed` looks at it), in the order the prefixes came (see PrefixTable).
   */
  private readonly rib = new PrefixTable<number>();
  /**
   * The best path by prefix id: a slot, NIL, or BEST_GONE once the best path was removed
   * (until `changed` picks the next: a removed best always counts as a change of best).
   */
  private bestBy = new Int32Array(64).fill(NIL);
  /** Neighbours by slot (`BgpPeer.slot`; a removed neighbour keeps its slot). */
  private readonly peerSlots: BgpPeer[] = [];
  /** Paths' iBGP forms by slot (see Out): a reflector's learned paths, a client's own. */
  private readonly ibgpOut = new Map<number, Out>();
  /** What each neighbour holds from us (see AdjRibOut). */
  private readonly adjOut = new AdjRibOut();
  /** Route sources of each neighbour, by the path id it sent (see RouteSources). */
  private readonly sources = new Map<BgpPeer, RouteSources>();
  private readonly freeIds: number[] = [];
  private nextId = 3;
  /** The routes this speaker put in the kernel, by prefix. */
  private readonly kernel = new PrefixTable<KrtSpec>();
  /** Prefixes with a static or eBGP-learned path: all a non-reflector may send to an iBGP neighbour. */
  private readonly exportableToIbgp = new Set<Prefix>();
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
    p.slot = this.peerSlots.length;
    this.peerSlots.push(p);
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
    // Sources with paths left (a halted machine's neighbour keeps its routes) stay until those go, to free their ids.
    const m = this.sources.get(p);
    if (m && m.empty) this.sources.delete(p);
  }

  peer(address: string): BgpPeer | undefined {
    const a = parseIp(address);
    return a === undefined ? undefined : this.byAddr.get(a);
  }

  /** Starts BIRD: listen on port 179 and start every neighbour. */
  start(): void {
    if (this.running) return;
    // A restart (after halt or kill) is a new process: the old one's RIB and adj-RIB-out are gone
    // (forgotten while still persisting, so the kernel keeps its routes until the recovery prunes them).
    if (this.startGen > 0) {
      this.adjOut.clearAll();
      for (const p of this.peers) { p.dirty.clear(); this.sessionDown(p); }
      // Emptied entries go: their kernel routes stay until the recovery's prune (or a new best path replaces them).
      for (const pfx of this.rib.keys()) if (this.rib.get(pfx) === NIL) this.rib.delete(pfx);
    }
    this.running = true;
    this.persisting = false;
    this.grRecovery = true;
    this.upSinceStart.clear();
    const gen = ++this.startGen;
    this.startedAt = this.world.now;
    // BIRD's listening socket (bgp_open): IP_TOS 0xc0 and IP_TTL 255, which its SYN-ACKs carry
    // and accepted sockets inherit; an accepted connection gets the multihop TTL
    // (bgp_incoming_connection), a refused one is closed as it is.
    const listen: TcpHandlers = {
      tos: BIRD_TOS,
      ttl: 255,
      onConnect: (s) => {
        const p = this.running ? this.byAddr.get(s.raddr) : undefined;
        const c = p?.accept(s);
        if (!p || !c) {
          if (!p) this.trace('bgp.session', `connection from unknown ${ipToString(s.raddr)} refused`);
          s.close();
          return;
        }
        s.ttl = BIRD_MULTIHOP_TTL;
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
    for (const pfx of this.rib.keys()) this.kernelSync(pfx);
    this.world.sched.after(KRT_SCAN, () => this.krtScan(gen));
  }

  private readonly connHandlers = new Map<TcpSock, TcpHandlers>();
  /** The FIB's removal count when the kernel scan last looked (-1: never). */
  private krtScanRemovals = -1;
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

  /** BIRD is killed (agent-stop): like halt, but the kernel closes its sockets (FIN); kernel routes stay. */
  kill(): void {
    if (!this.running) return;
    this.running = false;
    this.persisting = true;
    for (const p of this.peers) p.kill();
    this.ns.sockets.tcpListen.delete(BGP_PORT);
    this.trace('bgp.session', 'BIRD killed: the kernel closes its sockets (FIN), no NOTIFICATION');
  }

  // ── SessionHost ──

  /**
   * The kernel protocol's periodic scan (`scan time 2`): a route of ours the
   * kernel lost (its device went down and came back, someone deleted it) is
   * put back.
   */
  private krtScan(gen: number): void {
    if (gen !== this.startGen || !this.running) return;
    const fib = this.ns.fib;
    // Nothing was removed from the FIB since the last scan found everything: all our routes are still there.
    if (this.cfg.kernelExport !== false && fib.removals !== this.krtScanRemovals) {
      let whole = true;
      for (const k of this.kernel.values()) {
        const key = k.pfx.key;
        const r = fib.find({ dst: k.pfx.addr, prefix: k.pfx.len, table: 254 });
        if (r && r.proto === 'bird') continue;
        try {
          this.node.routeReplace(this.netnsName, k);
          this.kernelChanges++;
          this.trace('bgp.route', `kernel scan: ${key} was missing, reinstalled`);
        } catch (err) {
          if (!(err instanceof NetlinkError)) throw err;
          whole = false; // tried again at the next scan
        }
      }
      this.krtScanRemovals = whole ? fib.removals : -1;
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
    for (const k of this.kernel.values()) {
      const key = k.pfx.key;
      if (this.bestOf(k.pfx) !== NIL) continue;
      this.kernel.delete(k.pfx);
      try {
        this.node.routeDel(this.netnsName, k);
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

  /**
   * A socket for an outgoing connection, as BIRD opens it (bgp_connect): IP_TOS 0xc0
   * (IP_PREC_INTERNET_CONTROL), IP_TTL the `multihop` hop count (Calico's `multihop;` is 64);
   * TCP_NODELAY is not set, so Nagle's algorithm applies (BIRD writes each message on its own).
   */
  socket(h: TcpHandlers): TcpSock {
    const s = new TcpSock(this.ns, h);
    s.tos = BIRD_TOS;
    s.ttl = BIRD_MULTIHOP_TTL;
    return s;
  }

  count(dir: 'sent' | 'received', m: BgpMessage): void { (dir === 'sent' ? this.sent : this.received)[m.type]++; }

  trace(stage: string, detail: string): void {
    const w = this.world;
    if (w.trace.on) w.event(this.nodeName, this.netnsName, '', null, stage, detail);
  }

  sessionUp(p: BgpPeer): void {
    const recovering = this.grRecovery;
    this.upSinceStart.add(p);
    // The initial table, then End-of-RIB. A non-reflector sends an iBGP neighbour only its own and eBGP-learned routes.
    if (p.ibgp && !this.isReflector) for (const x of this.exportableToIbgp) p.dirty.add(x);
    else for (const pfx of this.rib.keys()) p.dirty.add(pfx);
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
    // The peer holds nothing from us any more.
    this.adjOut.clear(p.slot);
    // Withdraw everything learned from p, at once.
    const gone: Prefix[] = [];
    const peer = this.paths.peer, next = this.paths.next, slot = p.slot;
    for (const pfx of this.rib.keys()) {
      for (let x = this.rib.get(pfx)!; x !== NIL; x = next[x]!) if (peer[x] === slot) { gone.push(pfx); break; }
    }
    const mine: number[] = [];
    for (const pfx of gone) {
      mine.length = 0;
      for (let x = this.rib.get(pfx)!; x !== NIL; x = next[x]!) if (peer[x] === slot) mine.push(x);
      for (const x of mine) this.removePath(pfx, x);
      this.changed(pfx, p);
    }
  }

  update(p: BgpPeer, u: BgpUpdate): void {
    if (isEndOfRib(u)) {
      p.eorReceived = true;
      this.trace('bgp.update', `${p.name}: End-of-RIB received`);
      // BIRD ends graceful-restart recovery once every neighbour's End-of-RIB is in (bgp_rx_end_mark's
      // channel_graceful_restart_unlock): only then are kernel routes no best path backs stale.
      if (this.grRecovery && this.upSinceStart.size === this.peers.length && this.peers.every((x) => x.eorReceived)) this.endRecovery();
      if (p.grWait) { p.grWait = false; this.flush(p, true); }
      return;
    }
    const touched = this.touched;
    touched.clear();
    const rx = p.est?.rx.addPath ?? false;
    for (const w of u.withdrawn) {
      const pfx = prefixOf(w.addr, w.len);
      const x = this.pathFrom(pfx, p, rx ? w.pathId ?? 0 : 0);
      if (x !== NIL) { this.removePath(pfx, x); touched.add(pfx); }
    }
    if (u.nlri.length) {
      const attrs = this.importAttrs(p, u);
      const now = this.world.now;
      for (const n of u.nlri) {
        const pfx = prefixOf(n.addr, n.len);
        const id = rx ? n.pathId ?? 0 : 0;
        const old = this.pathFrom(pfx, p, id);
        if (attrs === null) {
          // Looped: treated as withdrawn (RFC 4456 §8, RFC 4271 §9.1.2).
          if (old !== NIL) { this.removePath(pfx, old); touched.add(pfx); }
          continue;
        }
        if (old !== NIL) this.replacePath(pfx, old, this.paths.alloc(p.slot, id, this.paths.lid[old]!, attrs, now));
        else this.appendPath(pfx, this.paths.alloc(p.slot, id, this.source(p, id), attrs, now));
        touched.add(pfx);
      }
    }
    for (const pfx of touched.items) this.changed(pfx, p);
    touched.clear();
  }

  /** update's scratch: the prefixes an UPDATE touched (reused, never kept). */
  private readonly touched = new PrefixSet();

  routeRefresh(p: BgpPeer, enhanced: boolean): void {
    const c = p.est;
    if (!c) return;
    if (enhanced) p.send(c, [{ type: 'route-refresh', afi: 1, subtype: 1, safi: 1 }]);
    this.adjOut.clear(p.slot);
    for (const pfx of this.rib.keys()) p.dirty.add(pfx);
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

  private parsePrefix(prefix: string): Prefix {
    const c = parseCidr(prefix, true);
    if (!c) throw new Error(`BGP: "${prefix}" is not an IPv4 prefix with its host bits zero (e.g. 10.48.1.0/26)`);
    return prefixOf(c.addr, c.prefix);
  }

  /** Originates `prefix` (the static protocol's `route PREFIX blackhole`). */
  announce(prefix: string): void {
    const pfx = this.parsePrefix(prefix);
    const key = pfx.key;
    if (this.pathFrom(pfx, null, 0) !== NIL) return;
    this.appendPath(pfx, this.paths.alloc(-1, 0, STATIC_ID, internAttrs({
      origin: 0, asPath: NONE, asPathLen: 0, nextHop: this.localAddr, med: undefined, localPref: this.cfg.localPref ?? 100,
      originatorId: undefined, clusterList: NONE, extra: NONE,
    }), this.world.now));
    this.trace('bgp.route', `static: ${key} blackhole announced`);
    this.changed(pfx, null);
  }

  /** Stops originating `prefix` (a block released). */
  withdraw(prefix: string): void {
    const pfx = this.parsePrefix(prefix), key = pfx.key;
    const x = this.pathFrom(pfx, null, 0);
    if (x === NIL) throw new Error(`BGP: ${prefix} is not announced by ${this.nodeName}`);
    this.removePath(pfx, x);
    this.trace('bgp.route', `static: ${key} withdrawn`);
    this.changed(pfx, null);
  }

  // ── RIB ──

  /** The local id of `p`'s source `remotePathId` for a new path of it (taken when the source is new; BIRD's lowest free id). */
  private source(p: BgpPeer, remotePathId: number): number {
    let m = this.sources.get(p);
    if (!m) { m = new RouteSources(); this.sources.set(p, m); }
    return m.take(remotePathId, this.freshId);
  }

  /** A new source's local id (BIRD's lowest free one). */
  private readonly freshId = (): number => (this.freeIds.length ? this.takeLowestFree() : this.nextId++);

  private takeLowestFree(): number {
    let m = 0;
    for (let i = 1; i < this.freeIds.length; i++) if (this.freeIds[i] < this.freeIds[m]) m = i;
    return this.freeIds.splice(m, 1)[0];
  }

  /** The best path of `pfx` (a slot), or NIL. */
  private bestOf(pfx: Prefix): number {
    const b = pfx.id < this.bestBy.length ? this.bestBy[pfx.id]! : NIL;
    return b < 0 ? NIL : b;
  }

  private setBest(pfx: Prefix, x: number): void {
    if (pfx.id >= this.bestBy.length) {
      // Straight to every prefix known so far (one allocation, not a doubling per block that comes in).
      const a = new Int32Array(Math.max(pfx.id + 1, this.bestBy.length * 2, prefixCountNow())).fill(NIL);
      a.set(this.bestBy);
      this.bestBy = a;
    }
    this.bestBy[pfx.id] = x;
  }

  /** The path of `pfx` from neighbour `p` (null: the static protocol) with remote path id `id`, or NIL. */
  private pathFrom(pfx: Prefix, p: BgpPeer | null, id: number): number {
    const head = this.rib.get(pfx);
    if (head === undefined) return NIL;
    const { peer, rid, next } = this.paths;
    const slot = p === null ? -1 : p.slot;
    const r = id | 0; // kept as a signed 32-bit number
    for (let x = head; x !== NIL; x = next[x]!) if (peer[x] === slot && rid[x] === r) return x;
    return NIL;
  }

  /** Adds path `x` last to `pfx`'s list (the entry made if new). */
  private appendPath(pfx: Prefix, x: number): void {
    const head = this.rib.get(pfx);
    if (head === undefined || head === NIL) { this.rib.set(pfx, x); return; }
    const next = this.paths.next;
    let y = head;
    while (next[y] !== NIL) y = next[y]!;
    next[y] = x;
  }

  /** Puts path `x` in the place of `old`, which goes (its route source stays: `x` has the same). */
  private replacePath(pfx: Prefix, old: number, x: number): void {
    const next = this.paths.next;
    next[x] = next[old]!;
    const head = this.rib.get(pfx)!;
    if (head === old) this.rib.set(pfx, x);
    else {
      let y = head;
      while (next[y] !== old) y = next[y]!;
      next[y] = x;
    }
    this.dropSlot(pfx, old);
  }

  private removePath(pfx: Prefix, x: number): void {
    const { peer, rid, lid, next } = this.paths;
    const head = this.rib.get(pfx)!;
    if (head === x) this.rib.set(pfx, next[x]!);
    else {
      let y = head;
      while (next[y] !== x) y = next[y]!;
      next[y] = next[x]!;
    }
    const ps = peer[x]!, r = rid[x]! >>> 0, id = lid[x]!;
    this.dropSlot(pfx, x);
    if (ps < 0) return;
    if (this.sources.get(this.peerSlots[ps]!)?.release(r, id)) this.freeIds.push(id);
  }

  /** Frees an unlinked path's slot (a best path removed is a change of best, whatever comes next). */
  private dropSlot(pfx: Prefix, x: number): void {
    if (this.bestBy[pfx.id] === x) this.bestBy[pfx.id] = BEST_GONE;
    this.ibgpOut.delete(x);
    this.paths.release(x);
  }

  /**
   * The attributes of `u` as imported from `p`, or null when the route loops. From an iBGP
   * neighbour they depend on the attribute list alone, which the decoder shares between the
   * UPDATEs that carry the same bytes: the import is kept per list (the loop checks, which
   * depend on this speaker, are made each time).
   */
  private importAttrs(p: BgpPeer, u: BgpUpdate): PathAttrs | null {
    if (p.ibgp) {
      let a = ibgpImports.get(u.attrs);
      if (a === undefined) { a = parseAttrs(u.attrs, false); ibgpImports.set(u.attrs, a); }
      if (a.originatorId === this.routerId) { this.trace('bgp.update', `${p.name}: ORIGINATOR_ID is our router id, route ignored`); return null; }
      if (this.clusterId !== null && a.clusterList.includes(this.clusterId)) { this.trace('bgp.update', `${p.name}: our cluster id in CLUSTER_LIST, route ignored`); return null; }
      return a;
    }
    const a = parseAttrs(u.attrs, true);
    if (a.asPath.includes(this.localAs)) { this.trace('bgp.update', `${p.name}: AS_PATH loop (own AS ${this.localAs}), route ignored`); return null; }
    return a;
  }


  /** The neighbour of path `x`, or null (the static protocol). */
  private peerOf(x: number): BgpPeer | null {
    const s = this.paths.peer[x]!;
    return s < 0 ? null : this.peerSlots[s]!;
  }

  /** BIRD's ordering (bgp_rte_better): true when path x is preferred to path y. */
  private better(x: number, y: number): boolean {
    const pa = this.peerOf(x), pb = this.peerOf(y);
    const a = this.paths.attrs(x), b = this.paths.attrs(y);
    if ((pa === null) !== (pb === null)) return pa === null;
    if (a.localPref !== b.localPref) return a.localPref > b.localPref;
    if (a.asPathLen !== b.asPathLen) return a.asPathLen < b.asPathLen;
    if (a.origin !== b.origin) return a.origin < b.origin;
    const na = a.asPath[0] ?? this.localAs, nb = b.asPath[0] ?? this.localAs;
    if (na === nb && (a.med ?? 0) !== (b.med ?? 0)) return (a.med ?? 0) < (b.med ?? 0);
    const ea = pa !== null && !pa.ibgp, eb = pb !== null && !pb.ibgp;
    if (ea !== eb) return ea;
    const ra = a.originatorId ?? pa?.remoteId ?? 0, rb = b.originatorId ?? pb?.remoteId ?? 0;
    if (ra !== rb) return ra < rb;
    if (a.clusterList.length !== b.clusterList.length) return a.clusterList.length < b.clusterList.length;
    return (pa?.address ?? 0) < (pb?.address ?? 0);
  }

  /**
   * Recomputes the best path of `e` after a path of `from` (null: the static
   * protocol) changed, syncs the kernel and schedules the export to every
   * neighbour that may receive a path of that source (whether a source's paths
   * are exportable to a neighbour depends only on the two, never on attributes).
   */
  private changed(pfx: Prefix, from: BgpPeer | null): void {
    let best = NIL;
    let local = false;
    const head = this.rib.get(pfx) ?? NIL;
    const next = this.paths.next;
    for (let x = head; x !== NIL; x = next[x]!) {
      if (best === NIL || this.better(x, best)) best = x;
      const p = this.peerOf(x);
      if (p === null || !p.ibgp) local = true;
    }
    if (local) this.exportableToIbgp.add(pfx); else this.exportableToIbgp.delete(pfx);
    const prev = pfx.id < this.bestBy.length ? this.bestBy[pfx.id]! : NIL;
    this.setBest(pfx, best);
    this.ribChanges++;
    this.lastRibChange = this.world.now;
    this.cfg.convergence?.ribChanged(this.world.now);
    if (prev !== best) this.kernelSync(pfx);
    if (head === NIL) this.rib.delete(pfx);
    const targets = from === null || !from.ibgp ? this.peers
      : this.isReflector ? this.peers
        : this.ebgpPeers;
    for (const p of targets) {
      if (!p.est || p === from) continue;
      if (from !== null && from.ibgp && p.ibgp && !(from.rrClient || p.rrClient)) continue;
      p.dirty.add(pfx);
      if (!p.flushScheduled) {
        p.flushScheduled = true;
        this.world.sched.defer(this.flushDeferred, p);
      }
    }
  }

  /** The deferred flush of a neighbour (one function for all: no closure per change and neighbour). */
  private readonly flushDeferred = (p: BgpPeer): void => this.flush(p, false);

  // ── export ──

  /** Path `x` as sent to `q` (attributes and their signature), or null when it is not exported there. */
  private exportOut(x: number, q: BgpPeer, key: string): Out | null {
    const from = this.peerOf(x);
    if (from === q) return null;
    if (this.cfg.exportFilter && !this.cfg.exportFilter(key)) return null;
    if (from !== null && from.ibgp && q.ibgp && !(this.clusterId !== null && (from.rrClient || q.rrClient))) return null;
    if (q.ibgp && !q.nextHopSelf) {
      let o = this.ibgpOut.get(x);
      if (o === undefined) this.ibgpOut.set(x, (o = { ...this.buildOut(x, q), wire: [] }));
      return o;
    }
    return this.buildOut(x, q);
  }

  private buildOut(slot: number, q: BgpPeer): Out {
    const from = this.peerOf(slot), x = this.paths.attrs(slot);
    const reflect = from !== null && from.ibgp && q.ibgp;
    const attrs: BgpAttr[] = [{ code: 1, flags: ATTR_F_TRANSITIVE, origin: x.origin }];
    const path = q.ibgp ? x.asPath : [this.localAs, ...x.asPath];
    attrs.push({ code: 2, flags: ATTR_F_TRANSITIVE, segments: path.length ? [{ type: 2, asns: path }] : [] });
    // NEXT_HOP: ours for local routes, `next hop self` and eBGP (Calico's sessions are all `multihop`, and BIRD
    // keeps a received next hop toward eBGP only between single-hop sessions on one interface); to iBGP the received one.
    attrs.push({ code: 3, flags: ATTR_F_TRANSITIVE, nextHop: from === null || q.nextHopSelf || !q.ibgp ? this.localAddr : x.nextHop });
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
    const adjOut = this.adjOut, slot = p.slot;
    const { next, lid } = this.paths;
    for (const pfx of p.dirty.items) {
      const key = pfx.key;
      const head = this.rib.get(pfx);
      wIds.length = 0;
      wOuts.length = 0;
      if (head !== undefined) {
        if (addPath) {
          for (let x = head; x !== NIL; x = next[x]!) {
            const o = this.exportOut(x, p, key);
            if (o) { wIds.push(lid[x]!); wOuts.push(o); }
          }
        } else {
          const b = this.bestOf(pfx);
          const o = b === NIL ? null : this.exportOut(b, p, key);
          if (o) { wIds.push(0); wOuts.push(o); }
        }
      }
      const have = adjOut.get(pfx.id, slot);
      const addr = pfx.addr, len = pfx.len;
      if (have instanceof Map) {
        for (const id of have.keys()) if (!wIds.includes(id)) withdrawn.push(addPath ? { addr, len, pathId: id } : { addr, len });
      } else if (have && !wIds.includes(have.id)) withdrawn.push(addPath ? { addr, len, pathId: have.id } : { addr, len });
      for (let k = 0; k < wIds.length; k++) {
        const id = wIds[k]!, w = wOuts[k]!;
        const sent = have instanceof Map ? have.get(id) : have && have.id === id ? have.sig : undefined;
        if (sent === w.sig) continue;
        // A path's iBGP form keeps its UPDATE (message and bytes) per codec: a reflector sends the same one to every client.
        let m = w.wire !== undefined ? w.wire[codec] : undefined;
        if (m === undefined) {
          m = { type: 'update', withdrawn: NONE, attrs: w.attrs, nlri: [addPath ? { addr, len, pathId: id } : { addr, len }] };
          if (w.wire !== undefined) { m.wire = encodeBgp(m, c.tx); w.wire[codec] = m; }
        }
        out.push(m);
      }
      if (wIds.length === 0) { if (have !== undefined) adjOut.set(pfx.id, slot, undefined); }
      else if (wIds.length === 1) {
        // The entry is never changed in place: a path's iBGP form keeps one per id for every client (a reflector's million).
        const id = wIds[0]!, w = wOuts[0]!;
        adjOut.set(pfx.id, slot, w.wire !== undefined ? (w.adj?.id === id ? w.adj : (w.adj = { id, sig: w.sig })) : { id, sig: w.sig });
      } else { const m = new Map<number, string>(); for (let k = 0; k < wIds.length; k++) m.set(wIds[k]!, wOuts[k]!.sig); adjOut.set(pfx.id, slot, m); }
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

  private kernelSync(pfx: Prefix): void {
    if (this.cfg.kernelExport === false || this.persisting) return;
    const b = this.bestOf(pfx);
    const key = pfx.key;
    const trace = this.world.trace.on;
    let spec: KrtSpec | null = null;
    if (b !== NIL && this.paths.peer[b]! < 0) spec = { dst: key, type: 'blackhole', proto: 'bird', pfx };
    else if (b !== NIL) {
      const a = this.paths.attrs(b);
      const nh = ipText(a.nextHop);
      const t = this.cfg.krtTunnel ? this.cfg.krtTunnel(key, nh) : null;
      if (t) {
        // Speakers installing the same route (a reflected block, on every client) share its spec.
        const k = a.krt;
        if (k !== undefined && k.pfx === pfx && k.dev === t.dev && !k.onlink === !t.onlink) spec = k;
        else {
          spec = t.onlink ? { dst: key, via: nh, dev: t.dev, proto: 'bird', onlink: true, pfx } : { dst: key, via: nh, dev: t.dev, proto: 'bird', pfx };
          if (a.extra.length === 0) a.krt = spec;
        }
      } else {
        const rt = this.ns.fib.lookup(a.nextHop);
        if (rt && rt.type === 'unicast' && rt.dev && !(rt.dst === pfx.addr && rt.prefix === pfx.len)) {
          spec = { dst: key, via: rt.gw ? ipText(rt.gw) : nh, dev: rt.dev.name, proto: 'bird', pfx };
        } else if (trace) this.trace('bgp.route', `kernel: ${key} via ${nh}: next hop unreachable, not installed`);
      }
    }
    const cur = this.kernel.get(pfx);
    if (cur && spec && sameKrt(cur, spec)) return;
    try {
      if (spec) {
        this.node.routeReplace(this.netnsName, spec);
        this.kernel.set(pfx, spec);
        if (trace) this.trace('bgp.route', `kernel: ${this.kernelText(spec)}`);
      } else if (cur) {
        this.kernel.delete(pfx);
        this.node.routeDel(this.netnsName, cur);
        if (trace) this.trace('bgp.route', `kernel: ${key} removed`);
      }
      this.kernelChanges++;
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
      this.trace('bgp.route', `kernel: ${key}: ${err.message}`);
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

  /** Path `x` as read. */
  private view(x: number): BgpPath {
    const s = this.paths;
    return new BgpPath(this.peerOf(x), s.rid[x]! >>> 0, s.lid[x]!, s.attrs(x), s.at[x]!);
  }

  /** Best path of `prefix`, if any. */
  best(prefix: string): BgpPath | null {
    const b = this.bestOf(this.parsePrefix(prefix));
    return b === NIL ? null : this.view(b);
  }

  /** The Loc-RIB entry of `prefix` (its paths in arrival order and the best), if any. */
  entry(prefix: string | Prefix): RibEntryView | undefined {
    const pfx = typeof prefix === 'string' ? prefixOfKey(prefix) : prefix;
    const head = pfx === undefined ? undefined : this.rib.get(pfx);
    if (pfx === undefined || head === undefined) return undefined;
    const paths: BgpPath[] = [];
    const b = this.bestOf(pfx);
    let best: BgpPath | null = null;
    for (let x = head; x !== NIL; x = this.paths.next[x]!) {
      const v = this.view(x);
      paths.push(v);
      if (x === b) best = v;
    }
    return { pfx, paths, best };
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
    const keys = this.rib.keys().sort((a, b) => a.addr - b.addr || a.len - b.len).map((pfx) => this.entry(pfx)!);
    for (const e of keys) {
      let first = true;
      const paths = e.paths.sort((a, b) => (a === e.best ? -1 : b === e.best ? 1 : 0));
      for (const x of paths) {
        const name = x.peer ? x.peer.name : 'static1';
        const star = x === e.best ? '*' : ' ';
        const head = first ? e.pfx.key.padEnd(20) : ''.padEnd(20);
        first = false;
        if (!x.peer) {
          lines.push(`${head} blackhole [${name} ${formatTime(x.since)}] ${star} (200)`);
        } else {
          const p = x.peer;
          const path = x.asPath.length ? x.asPath.join(' ') + ' ' : '';
          lines.push(`${head} unicast [${name} ${formatTime(x.since)} from ${p.addressText}] ${star} (100) [${path}${p.ibgp && !x.asPath.length ? 'i' : `AS${x.asPath[x.asPath.length - 1] ?? this.localAs}i`}]`);
          const k = this.kernel.get(e.pfx);
          lines.push(`\tvia ${ipToString(x.nextHop)}${k && x === e.best && k.dev ? ` on ${k.dev}` : ''}`);
          if (x.originatorId !== undefined) lines.push(`\tBGP.originator_id: ${ipToString(x.originatorId)}`);
          if (x.clusterList.length) lines.push(`\tBGP.cluster_list: ${x.clusterList.map(ipToString).join(' ')}`);
        }
      }
    }
    return lines.join('\n') + '\n';
  }
}
