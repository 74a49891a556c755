/**
 * IptablesProxier: kube-proxy's iptables proxier for one node, incremental.
 *
 * `sync()` does what one syncProxyRules does, for the service ports changed
 * since the last sync only (kube-proxy's partial sync; the first sync, or one
 * after a profile change such as entering large-cluster mode, is full):
 * pieces come from the SharedProxyCache (built once, shared between nodes),
 * and the top-level chains are composed from the pieces in podwire's service
 * order — (namespace, name, portName, protocol); kube-proxy follows a Go map.
 *
 * The result (ProxierSync) is data: per table the user chains whose rules
 * changed (Chain objects, possibly shared with other nodes: never mutate them)
 * and the chains to delete, the jumps kube-proxy ensures in built-in chains,
 * and `restoreText()`, rendered only when asked: exactly what kube-proxy would
 * feed `iptables-restore --noflush --counters` on this sync.
 *
 * Departures (documented, deliberate): service order is sorted, not random;
 * stale chains are deleted on every sync, also in large-cluster mode (kube-proxy
 * then does it at most once per syncPeriod); GetNodeIPs order is numeric.
 */
import type { Chain, Rule } from '../../netfilter/types.js';
import type { EndpointInfo, ProxierConfig, ServicePortInfo } from '../model.js';
import {
  builtinJumps, buildFixed, effectiveLocalhostNodePorts, userChain, variantKey, cidrContains, nodePortAddressInfo,
  type BuiltinJump, type FixedRules, type Piece, type PieceProfile,
} from './build.js';
import { SharedProxyCache, type ProfileCache, type SpState } from './cache.js';

/** kube-proxy's largeClusterEndpointsThreshold. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

export interface TableChanges {
  /** User chains whose rules changed on this sync (to create or replace). Shared objects: do not mutate. */
  set: Chain[];
  /** User chains to delete (stale per-service chains). */
  deleted: string[];
}

export interface ProxierSync {
  /** A full sync (first one, or after a profile change): all chains are in `set`, and the built-in jumps are (re)ensured. */
  fullSync: boolean;
  /** The iptables-restore input kube-proxy writes for this sync. Valid until the proxier's next sync. */
  restoreText(): string;
  /** The restore input of a full sync of the current state (what a fresh kube-proxy would write). Valid until the next sync. */
  fullRestoreText(): string;
  /** The jumps kube-proxy ensures in built-in chains (iptables -I, before the restore), in the order they end up in each chain. */
  builtinJumps: readonly BuiltinJump[];
  filter: TableChanges;
  nat: TableChanges;
  /** Service ports whose chains were regenerated (keys). */
  changed: readonly string[];
}

type TopName = 'fServices' | 'fExternal' | 'fNodePorts' | 'fFirewall' | 'nServices' | 'nNodePorts';
const TOPS: readonly { k: TopName; table: 'filter' | 'nat'; name: string }[] = [
  { k: 'fServices', table: 'filter', name: 'KUBE-SERVICES' },
  { k: 'fExternal', table: 'filter', name: 'KUBE-EXTERNAL-SERVICES' },
  { k: 'fNodePorts', table: 'filter', name: 'KUBE-NODEPORTS' },
  { k: 'fFirewall', table: 'filter', name: 'KUBE-PROXY-FIREWALL' },
  { k: 'nServices', table: 'nat', name: 'KUBE-SERVICES' },
  { k: 'nNodePorts', table: 'nat', name: 'KUBE-NODEPORTS' },
];

/**
 * What of the configuration the fixed rules depend on: the node's addresses only when
 * nodePortAddresses restricts NodePorts to some CIDRs (KUBE-SERVICES then ends with one
 * `-d <node IP>` rule per address inside them); with the default (all local addresses)
 * every node's fixed rules are the same objects.
 */
function fixedKey(cfg: ProxierConfig): string {
  const ips = nodePortAddressInfo(cfg).matchAll ? null : cfg.nodeIPs;
  return JSON.stringify([cfg.masqueradeBit, cfg.randomFully, cfg.conntrackTcpBeLiberal, cfg.localhostNodePorts, cfg.nodePortAddresses, ips]);
}

const fixedCache = new Map<string, FixedRules>();
function fixedFor(cfg: ProxierConfig): FixedRules {
  const k = fixedKey(cfg);
  let f = fixedCache.get(k);
  if (!f) { f = buildFixed(cfg); fixedCache.set(k, f); }
  return f;
}

const JUMPS = builtinJumps();

export class IptablesProxier {
  readonly cfg: ProxierConfig;
  readonly cache: SharedProxyCache;
  private readonly fixed: FixedRules;
  private readonly nodeIP: number | undefined;
  private profileKey = '';
  private pc: ProfileCache | null = null;
  private lastGen = -1;
  private syncId = 0;
  /** Sorted service port states (by sortKey) and the piece and variant each uses on this node. */
  private order: string[] = [];
  /** The piece at each position of `order` (so composing walks an array, not the map). */
  private orderPieces: Piece[] = [];
  /** Per top-level chain: its rules in service order (without the fixed tail) and each piece's count. */
  private readonly topRules = new Map<TopName, Rule[]>();
  private readonly lens = new Map<TopName, number[]>();
  /** Service ports whose piece is node-specific (non-empty variant): key → variant. */
  private variants = new Map<string, string>();
  private pieces = new Map<string, { st: SpState; piece: Piece; variant: string }>();
  private top = new Map<TopName, Chain>();

  constructor(cfg: ProxierConfig, cache: SharedProxyCache) {
    this.cfg = cfg;
    this.cache = cache;
    this.fixed = fixedFor(cfg);
    this.nodeIP = cfg.nodeIPs[0];
  }

  /**
   * A proxier in this one's state (as if it had made the same syncs) for the node of `cfg`,
   * which must be in the same class (proxierClassKey): the next sync of either leaves the
   * other as it was. Copies the per-service-port tables, not the pieces (immutable, shared).
   */
  clone(cfg: ProxierConfig): IptablesProxier {
    const p = new IptablesProxier(cfg, this.cache);
    p.profileKey = this.profileKey;
    p.pc = this.pc;
    p.lastGen = this.lastGen;
    p.order = this.order.slice();
    p.orderPieces = this.orderPieces.slice();
    for (const [k, v] of this.topRules) p.topRules.set(k, v.slice());
    for (const [k, v] of this.lens) p.lens.set(k, v.slice());
    p.variants = new Map(this.variants);
    p.pieces = new Map(this.pieces);
    p.top = new Map(this.top);
    return p;
  }

  /** The piece profile of a sync now (large-cluster mode follows the cache's endpoint count). */
  static profileOf(cfg: ProxierConfig, cache: SharedProxyCache): PieceProfile {
    return { localCIDR: cfg.clusterCIDR, masqueradeAll: cfg.masqueradeAll, largeCluster: cache.totalEndpoints > LARGE_CLUSTER_ENDPOINTS };
  }

  /** The chains this node has now (fixed, top-level and per-service), per table. */
  chains(): { filter: Chain[]; nat: Chain[] } {
    const filter: Chain[] = [], nat: Chain[] = [];
    for (const t of TOPS) (t.table === 'filter' ? filter : nat).push(this.top.get(t.k)!);
    filter.push(...this.fixed.chains.filter);
    nat.push(...this.fixed.chains.nat);
    for (const p of this.orderPieces) for (const c of p.chains) nat.push(c);
    return { filter, nat };
  }

  /**
   * One syncProxyRules. With arguments, the cache's state is first made equal
   * to them (SharedProxyCache.apply); without, the cache's current state is used.
   */
  sync(services?: Iterable<ServicePortInfo>, endpoints?: ReadonlyMap<string, readonly EndpointInfo[]>): ProxierSync {
    const cache = this.cache;
    if (services) cache.apply(services, endpoints ?? new Map());
    const prof = IptablesProxier.profileOf(this.cfg, cache);
    const pk = SharedProxyCache.profileKey(prof);
    let changedKeys = pk === this.profileKey ? cache.changedSince(this.lastGen) : null;
    const full = changedKeys === null;
    // A full sync after an earlier one (profile change): every chain we had may go.
    let prevChains: Set<string> | null = null;
    if (full) {
      if (this.pieces.size) prevChains = new Set([...this.pieces.values()].flatMap((p) => p.piece.chains.map((c) => c.name)));
      this.profileKey = pk;
      this.pc = cache.profile(prof);
      this.order = [];
      this.pieces.clear();
      this.variants.clear();
      changedKeys = new Set(cache.services.keys());
    }
    const pc = this.pc!;
    this.lastGen = cache.gen;
    this.syncId++;

    // Regenerate the changed service ports.
    const nodeName = this.cfg.nodeName;
    const dirty = new Set<TopName>();
    const updated: SpState[] = [];
    const deleted: string[] = [];
    const newChains: Chain[] = [];
    const inserts: SpState[] = [];
    const replaced: SpState[] = [];
    const removes = new Set<string>();
    for (const key of changedKeys!) {
      const st = cache.services.get(key);
      const old = this.pieces.get(key);
      if (!st) {
        if (old) {
          removes.add(key);
          this.variants.delete(key);
          this.pieces.delete(key);
          for (const t of TOPS) if (old.piece[t.k].length) dirty.add(t.k);
          for (const c of old.piece.chains) deleted.push(c.name);
        }
        continue;
      }
      const e = cache.entry(pc, st);
      const variant = variantKey(st.sp, e.sorted, nodeName, this.nodeIP);
      const allow = variant.endsWith('|A');
      const piece = cache.piece(pc, st, variant, nodeName, allow, e.sorted, e.byVariant);
      updated.push(st);
      if (variant) this.variants.set(key, variant); else this.variants.delete(key);
      if (old && old.piece === piece) { this.pieces.set(key, { st, piece, variant }); continue; }
      if (old) replaced.push(st);
      for (const t of TOPS) {
        if ((old ? old.piece[t.k] : null) !== piece[t.k] && (piece[t.k].length || (old && old.piece[t.k].length))) dirty.add(t.k);
      }
      if (old) {
        // Chains of the old piece the new one no longer has (names are per service port).
        if (old.piece.chains.length) {
          const now = new Set(piece.chains.map((c) => c.name));
          for (const c of old.piece.chains) if (!now.has(c.name)) deleted.push(c.name);
        }
      } else inserts.push(st);
      for (const c of piece.chains) newChains.push(c);
      this.pieces.set(key, { st, piece, variant });
    }
    this.spliceOrder(inserts, removes, replaced, full);

    // Compose the top-level chains that changed.
    const fp = this.fingerprint();
    const setFilter: Chain[] = [], setNat: Chain[] = [];
    for (const t of TOPS) {
      if (!full && !dirty.has(t.k)) continue;
      const extra = t.k === 'nServices' ? this.fixed.servicesTail : null;
      const tail = t.k === 'nServices' ? '|' + this.fixed.natTail.join('\n') : '';
      const c = cache.composed(pc, `${t.k}${tail}|${fp}`, () => this.compose(t.name, t.k, extra));
      if (this.top.get(t.k) !== c) {
        this.top.set(t.k, c);
        (t.table === 'filter' ? setFilter : setNat).push(c);
      }
    }

    // Per-service chains: replace/add; delete the stale ones.
    if (prevChains) {
      for (const c of newChains) prevChains.delete(c.name);
      for (const n of prevChains) deleted.push(n);
    }
    for (const c of newChains) setNat.push(c);
    if (full) {
      for (const c of this.fixed.chains.filter) setFilter.push(c);
      setNat.unshift(...this.fixed.chains.nat);
    }

    const syncId = this.syncId;
    const check = () => { if (this.syncId !== syncId) throw new Error('ProxierSync used after a later sync of its proxier'); };
    const rewritten = full ? null : new Set(updated.map((s) => s.nsName));
    const staleNat = deleted.slice();
    return {
      fullSync: full,
      restoreText: () => { check(); return this.render(rewritten, staleNat); },
      fullRestoreText: () => { check(); return this.render(null, []); },
      builtinJumps: JUMPS,
      filter: { set: setFilter, deleted: [] },
      nat: { set: setNat, deleted },
      changed: updated.map((s) => s.key),
    };
  }

  /**
   * Insert/remove/replace service ports in the sorted order (binary search + splice), and
   * keep the top-level chains' rule arrays (`topRules`) in step with it by splicing at each
   * piece's offset (`lens` holds every piece's rule count per chain, contiguous). A sync that
   * touches a few services so never walks all pieces: at 10,000 services they are scattered
   * over a large heap, and reading each one costs a cache miss (~100 ns a piece measured).
   */
  private spliceOrder(inserts: SpState[], removes: Set<string>, replaced: SpState[], full: boolean): void {
    const many = inserts.length + removes.size + replaced.length > 64;
    if (full) {
      this.order = [...this.pieces.values()].map((p) => p.st).sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0)).map((s) => s.key);
      this.orderPieces = this.order.map((k) => this.pieces.get(k)!.piece);
      this.rebuildTops();
      return;
    }
    const sk = (k: string) => this.pieces.get(k)!.st.sortKey;
    if (removes.size) {
      const keep: number[] = [];
      const gone: number[] = [];
      for (let i = 0; i < this.order.length; i++) (removes.has(this.order[i]!) ? gone : keep).push(i);
      if (!many) for (let g = gone.length - 1; g >= 0; g--) this.spliceTops(gone[g]!, null, true);
      this.order = keep.map((i) => this.order[i]!);
      this.orderPieces = keep.map((i) => this.orderPieces[i]!);
    }
    const find = (sortKey: string) => {
      let lo = 0, hi = this.order.length;
      while (lo < hi) { const m = (lo + hi) >> 1; if (sk(this.order[m]!) < sortKey) lo = m + 1; else hi = m; }
      return lo;
    };
    for (const st of replaced) {
      const i = find(st.sortKey);
      const piece = this.pieces.get(st.key)!.piece;
      if (!many) this.spliceTops(i, piece, true);
      this.orderPieces[i] = piece;
    }
    for (const st of inserts) {
      const i = find(st.sortKey);
      const piece = this.pieces.get(st.key)!.piece;
      this.order.splice(i, 0, st.key);
      this.orderPieces.splice(i, 0, piece);
      if (!many) this.spliceTops(i, piece, false);
    }
    if (many) this.rebuildTops();
  }

  /** Every top-level chain's rules and per-piece counts, from all pieces (full syncs, big changes). */
  private rebuildTops(): void {
    for (const t of TOPS) {
      const rules: Rule[] = [];
      collect(this.orderPieces, t.k, rules);
      this.topRules.set(t.k, rules);
      this.lens.set(t.k, this.orderPieces.map((p) => rulesOf(p, t.k).length));
    }
  }

  /** At order position `i`: drop the old piece's rules (`replace`) and put `piece`'s in (null: removal). */
  private spliceTops(i: number, piece: Piece | null, replace: boolean): void {
    for (const t of TOPS) {
      const lens = this.lens.get(t.k)!;
      const rules = this.topRules.get(t.k)!;
      const add = piece ? rulesOf(piece, t.k) : EMPTY;
      const del = replace ? lens[i]! : 0;
      if (del === 0 && add.length === 0) {
        if (!piece) lens.splice(i, 1);
        else if (!replace) lens.splice(i, 0, 0);
        continue;
      }
      let off = 0;
      for (let j = 0; j < i; j++) off += lens[j]!;
      rules.splice(off, del, ...add);
      if (!piece) lens.splice(i, 1);
      else if (replace) lens[i] = add.length;
      else lens.splice(i, 0, add.length);
    }
  }

  /** The Local-policy variants of this node: what, besides the generation, its top-level chains depend on. */
  private fingerprint(): string {
    let s = '';
    for (const [k, v] of this.variants) s += `${k}=${v};`;
    return s;
  }

  private compose(name: string, k: TopName, extra: readonly Rule[] | null): Chain {
    const rules = this.topRules.get(k)!.slice();
    if (extra) for (const r of extra) rules.push(r);
    return userChain(name, rules);
  }

  /** kube-proxy's restore text; `rewritten` = the Services (ns/name) whose own chains are written (null: all). */
  private render(rewritten: Set<string> | null, stale: readonly string[]): string {
    const f = this.fixed;
    const out: string[] = ['*filter'];
    for (const c of f.filterDecl) out.push(`:${c} - [0:0]`);
    out.push(...f.filterHead);
    for (const key of this.order) for (const l of this.pieces.get(key)!.piece.text().filterLines) out.push(l);
    out.push(...f.filterTail, 'COMMIT', '*nat');
    for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']) out.push(`:${c} - [0:0]`);
    for (const key of this.order) {
      const { st, piece } = this.pieces.get(key)!;
      if (rewritten && !rewritten.has(st.nsName)) continue;
      for (const c of piece.chains) out.push(`:${c.name} - [0:0]`);
    }
    for (const c of stale) out.push(`:${c} - [0:0]`);
    out.push(...f.natHead);
    for (const key of this.order) {
      const { st, piece: p } = this.pieces.get(key)!;
      const t = p.text();
      for (const l of t.natTopLines) out.push(l);
      if (rewritten && !rewritten.has(st.nsName)) continue;
      for (const l of t.chainLines) out.push(l);
    }
    for (const c of stale) out.push(`-X ${c}`);
    out.push(...f.natTail, 'COMMIT', '');
    return out.join('\n');
  }
}

const EMPTY: readonly Rule[] = [];

/**
 * The class of a node's proxier: nodes of one class make the same syncs from the same
 * cache state — the same chains (the very objects), the same deletions, the same restore
 * text — so one proxier state can stand for all of them (see ProxierStates). The
 * configuration apart from the node's name (and its addresses, unless nodePortAddresses
 * makes the fixed rules depend on them), and the node's variant of every node-dependent
 * service port (Local traffic policies, loadBalancerSourceRanges containing the node):
 * in a cluster of Cluster-policy Services every node is in one class.
 */
export function proxierClassKey(cfg: ProxierConfig, cache: SharedProxyCache): string {
  let k = fixedKey(cfg) + '|' + JSON.stringify([cfg.clusterCIDR ?? null, cfg.masqueradeAll]);
  if (cache.nodeDependent.size === 0) return k;
  const pc = cache.profile(IptablesProxier.profileOf(cfg, cache));
  const ip = cfg.nodeIPs[0];
  for (const key of cache.nodeDependent) {
    const st = cache.services.get(key);
    if (!st) continue;
    const v = variantKey(st.sp, cache.entry(pc, st).sorted, cfg.nodeName, ip);
    if (v) k += `|${key}=${v}`;
  }
  return k;
}

/** One piece's rules for top-level chain `k` (the property named literally: see collect). */
function rulesOf(p: Piece, k: TopName): readonly Rule[] {
  switch (k) {
    case 'nServices': return p.nServices;
    case 'nNodePorts': return p.nNodePorts;
    case 'fServices': return p.fServices;
    case 'fExternal': return p.fExternal;
    case 'fNodePorts': return p.fNodePorts;
    case 'fFirewall': return p.fFirewall;
  }
}

/**
 * Appends every piece's rules for top-level chain `k`, in order. One loop per chain with the
 * property named literally: `piece[k]` with a variable k is a megamorphic keyed load, and
 * this loop runs over every service port on each sync that touches the chain (profiled:
 * 1.15 ms of a 1.7 ms one-service add at 10,000 services went here).
 */
function collect(ps: readonly Piece[], k: TopName, out: Rule[]): void {
  const n = ps.length;
  switch (k) {
    case 'nServices': for (let j = 0; j < n; j++) { const r = ps[j]!.nServices; for (let i = 0; i < r.length; i++) out.push(r[i]!); } break;
    case 'nNodePorts': for (let j = 0; j < n; j++) { const r = ps[j]!.nNodePorts; for (let i = 0; i < r.length; i++) out.push(r[i]!); } break;
    case 'fServices': for (let j = 0; j < n; j++) { const r = ps[j]!.fServices; for (let i = 0; i < r.length; i++) out.push(r[i]!); } break;
    case 'fExternal': for (let j = 0; j < n; j++) { const r = ps[j]!.fExternal; for (let i = 0; i < r.length; i++) out.push(r[i]!); } break;
    case 'fNodePorts': for (let j = 0; j < n; j++) { const r = ps[j]!.fNodePorts; for (let i = 0; i < r.length; i++) out.push(r[i]!); } break;
    case 'fFirewall': for (let j = 0; j < n; j++) { const r = ps[j]!.fFirewall; for (let i = 0; i < r.length; i++) out.push(r[i]!); } break;
  }
}

export { effectiveLocalhostNodePorts, cidrContains };
