/**
 * SharedProxyCache: the cluster-wide state the per-node iptables proxiers read
 * (service ports and their endpoints, with a change log) and the pieces they
 * build, shared between nodes.
 *
 * - Inputs are treated as immutable values: to change a service port or an
 *   endpoint list, put a new object/array (identity is what `apply` compares,
 *   as kube-proxy's change trackers hand over new objects).
 * - Every change bumps `gen` and logs the key, so a proxier regenerates only
 *   the service ports changed since its last sync.
 * - Pieces (one service port's rules and chains) are cached per profile
 *   (local-detector CIDR, masqueradeAll, large-cluster mode) and per variant
 *   (the node-dependent part, '' for node-independent service ports): nodes
 *   with equal inputs get the very same Rule and Chain objects.
 * - Composed top-level chains (KUBE-SERVICES, …) are shared too: nodes at the
 *   same generation whose Local-policy variants agree get the same Chain.
 */
import type { Chain } from '../../netfilter/types.js';
import type { EndpointInfo, ServicePortInfo } from '../model.js';
import { servicePortName } from '../model.js';
import { serviceChainNames, type ServiceChainNames } from '../names.js';
import { buildPiece, cidrString, sortEndpoints, usesLocalEndpoints, type Cidr, type Piece, type PieceProfile } from './build.js';

/** The key of a service port in the cache and in the endpoints map: `ns/name:portName/PROTO` (`ns/name/PROTO` when unnamed). */
export function servicePortKey(sp: Pick<ServicePortInfo, 'namespace' | 'name' | 'portName' | 'protocol'>): string {
  return `${servicePortName(sp)}/${sp.protocol}`;
}

/** Total order of service ports podwire writes them in: (namespace, name, portName, protocol). kube-proxy iterates a Go map. */
export function serviceSortKey(sp: Pick<ServicePortInfo, 'namespace' | 'name' | 'portName' | 'protocol'>): string {
  return `${sp.namespace}\u0000${sp.name}\u0000${sp.portName}\u0000${sp.protocol}`;
}

/** What the cache keeps per service port (immutable once made; replaced on change). */
export interface SpState {
  key: string;
  sortKey: string;
  /** `ns/name`: kube-proxy decides which chains to rewrite by Service (all its ports). */
  nsName: string;
  sp: ServicePortInfo;
  /** As given (identity compared). */
  rawEps: readonly EndpointInfo[] | undefined;
  names: ServiceChainNames;
  /** Generation of the last change to this service port (service or endpoints). */
  gen: number;
}

/** Pieces of one profile: key → (state gen, variant → piece). */
class ProfileCache {
  readonly pieces = new Map<string, { st: SpState; sorted: EndpointInfo[]; byVariant: Map<string, Piece> }>();
  /** Composed top-level chains of the current generation, keyed by chain + node fingerprint. */
  composedGen = -1;
  readonly composed = new Map<string, Chain>();
  constructor(readonly profile: PieceProfile) {}
}

export class SharedProxyCache {
  /** Bumped by every change. */
  gen = 0;
  readonly services = new Map<string, SpState>();
  /** Keys of the service ports whose rules may differ between nodes (Local traffic policies, LB source ranges): see proxierClassKey. */
  readonly nodeDependent = new Set<string>();
  /** Endpoint lists by service port key (also for keys without a service yet). */
  readonly endpoints = new Map<string, readonly EndpointInfo[]>();
  /** kube-proxy's totalEndpoints: endpoints of the service ports that exist (large-cluster mode above 1000). */
  totalEndpoints = 0;
  private log: { gen: number; key: string }[] = [];
  /** Generations before this are no longer in the log (proxiers older than it resync fully). */
  private logStart = 0;
  private readonly profiles = new Map<string, ProfileCache>();
  readonly stats = { piecesBuilt: 0, composed: 0, composedShared: 0 };

  // --- state ------------------------------------------------------------------

  private touch(key: string): void {
    this.gen++;
    this.log.push({ gen: this.gen, key });
    if (this.log.length > 200_000) {
      // Keep the log bounded: drop the older half.
      const cut = this.log.length >> 1;
      this.logStart = this.log[cut].gen;
      this.log = this.log.slice(cut);
    }
  }

  private epCount(key: string): number { return this.endpoints.get(key)?.length ?? 0; }

  /** Add or replace a service port (one without a ClusterIP — headless, ExternalName — is removed: kube-proxy skips it). */
  setService(sp: ServicePortInfo): void {
    const key = servicePortKey(sp);
    if (sp.clusterIP === undefined) { this.deleteService(key); return; }
    const old = this.services.get(key);
    if (old && old.sp === sp) return;
    if (!old) this.totalEndpoints += this.epCount(key);
    this.touch(key);
    if (usesLocalEndpoints(sp) || (sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0)) this.nodeDependent.add(key);
    else this.nodeDependent.delete(key);
    this.services.set(key, {
      key, sortKey: serviceSortKey(sp), nsName: `${sp.namespace}/${sp.name}`, sp, rawEps: this.endpoints.get(key),
      names: old && old.sp.namespace === sp.namespace && old.sp.name === sp.name && old.sp.portName === sp.portName && old.sp.protocol === sp.protocol ? old.names : serviceChainNames(sp),
      gen: this.gen,
    });
  }

  deleteService(key: string): void {
    if (!this.services.has(key)) return;
    this.totalEndpoints -= this.epCount(key);
    this.services.delete(key);
    this.nodeDependent.delete(key);
    this.touch(key);
  }

  /** Set (or with undefined/empty, clear) the endpoints of a service port key. */
  setEndpoints(key: string, eps: readonly EndpointInfo[] | undefined): void {
    const old = this.endpoints.get(key);
    if (old === eps || (!old && (!eps || eps.length === 0))) return;
    const st = this.services.get(key);
    if (st) this.totalEndpoints += (eps?.length ?? 0) - (old?.length ?? 0);
    if (eps && eps.length) this.endpoints.set(key, eps); else this.endpoints.delete(key);
    if (st) {
      this.touch(key);
      this.services.set(key, { ...st, rawEps: eps && eps.length ? eps : undefined, gen: this.gen });
    }
  }

  /**
   * Make the state equal to (services, endpoints) — the full desired state —
   * comparing by identity. Cheap when nothing changed (one pass of lookups).
   */
  apply(services: Iterable<ServicePortInfo>, endpoints: ReadonlyMap<string, readonly EndpointInfo[]>): void {
    const seen = new Set<string>();
    for (const [k, eps] of endpoints) if (this.endpoints.get(k) !== eps) this.setEndpoints(k, eps);
    for (const k of [...this.endpoints.keys()]) if (!endpoints.has(k)) this.setEndpoints(k, undefined);
    for (const sp of services) {
      const k = servicePortKey(sp);
      seen.add(k);
      const st = this.services.get(k);
      if (!st || st.sp !== sp) this.setService(sp);
    }
    if (seen.size !== this.services.size) for (const k of [...this.services.keys()]) if (!seen.has(k)) this.deleteService(k);
  }

  /** Keys changed after generation `since`, or null if the log no longer reaches back that far. */
  changedSince(since: number): Set<string> | null {
    if (since < this.logStart) return null;
    const out = new Set<string>();
    // Binary search the first entry with gen > since.
    let lo = 0, hi = this.log.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.log[m].gen <= since) lo = m + 1; else hi = m; }
    for (let i = lo; i < this.log.length; i++) out.add(this.log[i].key);
    return out;
  }

  // --- pieces -----------------------------------------------------------------

  /** The profile key of a piece profile. */
  static profileKey(p: PieceProfile): string {
    return `${p.localCIDR ? cidrString(p.localCIDR as Cidr) : '-'}|${p.masqueradeAll ? 1 : 0}|${p.largeCluster ? 1 : 0}`;
  }

  profile(p: PieceProfile): ProfileCache {
    const k = SharedProxyCache.profileKey(p);
    let pc = this.profiles.get(k);
    if (!pc) { pc = new ProfileCache(p); this.profiles.set(k, pc); }
    return pc;
  }

  /** Sorted endpoints of a service port state (cached with the piece entry). */
  entry(pc: ProfileCache, st: SpState): { sorted: EndpointInfo[]; byVariant: Map<string, Piece> } {
    let e = pc.pieces.get(st.key);
    if (!e || e.st !== st) {
      e = { st, sorted: st.rawEps ? sortEndpoints(st.rawEps, undefined) : [], byVariant: new Map() };
      pc.pieces.set(st.key, e);
    }
    return e;
  }

  /** The piece of `st` for a node (built once per profile and variant). */
  piece(pc: ProfileCache, st: SpState, variant: string, nodeName: string, allowFromNode: boolean, sorted: EndpointInfo[], byVariant: Map<string, Piece>): Piece {
    let p = byVariant.get(variant);
    if (!p) {
      p = buildPiece(st.sp, sorted, st.names, nodeName, allowFromNode, pc.profile);
      byVariant.set(variant, p);
      this.stats.piecesBuilt++;
    }
    return p;
  }

  /** Drop cached pieces of service ports that no longer exist (call now and then). */
  prune(): void {
    for (const pc of this.profiles.values()) for (const k of [...pc.pieces.keys()]) if (!this.services.has(k)) pc.pieces.delete(k);
  }

  /** A composed top-level chain for (chain, fingerprint) at the current generation, or build it. */
  composed(pc: ProfileCache, key: string, build: () => Chain): Chain {
    if (pc.composedGen !== this.gen) { pc.composed.clear(); pc.composedGen = this.gen; }
    let c = pc.composed.get(key);
    if (c) { this.stats.composedShared++; return c; }
    c = build();
    this.stats.composed++;
    pc.composed.set(key, c);
    return c;
  }
}

export type { ProfileCache };
