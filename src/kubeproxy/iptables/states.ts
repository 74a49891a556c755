/**
 * ProxierStates: the iptables proxiers of a cluster's nodes, shared between
 * nodes whose kube-proxy is in the same state.
 *
 * Every node runs its own kube-proxy, and a proxier's sync is a function of
 * its state (what it wrote last) and the shared cache. Nodes of one class
 * (proxierClassKey: same configuration, same Local-policy variants) that
 * synced at the same cache generations are in the same state, and their next
 * sync is the same — so it is made once: a `ProxierState` is one proxier
 * state, referenced by every node in it, and a sync from a state to the
 * cache's current generation is a `ProxierTransition`, kept for the other
 * nodes of that state (and class) syncing at this generation. A node that
 * syncs at another time than the others of its state, or whose class changes,
 * continues from a copy of the state (IptablesProxier.clone with its own
 * configuration); a state only one node is in advances in place.
 *
 * At 5,000 nodes and 10,000 Services one proxier state serves every node (one
 * sync instead of 5,000) and each node holds a reference. Nothing observable
 * depends on the sharing: each node's sync has the same chains, deletions and
 * restore text its own proxier would have produced.
 */
import type { ProxierConfig } from '../model.js';
import type { SharedProxyCache } from './cache.js';
import { IptablesProxier, proxierClassKey, type ProxierSync } from './proxier.js';

export class ProxierState {
  /** Nodes in this state. */
  refs = 0;
  /** The cache generation of its last sync (-1: never synced: a class's starting state). */
  gen = -1;
  constructor(readonly proxier: IptablesProxier, readonly classKey: string, readonly pinned: boolean) {}
}

/** One sync from a state: the state after it and what it wrote. */
export interface ProxierTransition {
  to: ProxierState;
  result: ProxierSync;
  /** Rules in the chains written. */
  rules: number;
  /** The restore text (rendered once for every node making this sync), or null when it has more rules than asked for. */
  text: string | null;
}

export class ProxierStates {
  /** Per class, the state before the first sync (never advanced: a node starting later starts there). */
  private readonly starts = new Map<string, ProxierState>();
  /** The transitions made at generation `memoGen`, by source state and target class. */
  private memo = new Map<ProxierState, Map<string, ProxierTransition>>();
  private memoGen = -1;
  readonly stats = { syncs: 0, shared: 0, clones: 0 };

  constructor(readonly cache: SharedProxyCache) {}

  /**
   * The sync of a node (configuration `cfg`) in state `from` (null: never
   * synced) at the cache's current generation; moves the node's reference.
   * The restore text is rendered now (a result's text is valid only until its
   * proxier's next sync) when the sync writes at most `textUpTo` rules.
   */
  sync(from: ProxierState | null, cfg: ProxierConfig, textUpTo: number): ProxierTransition {
    const cache = this.cache;
    if (this.memoGen !== cache.gen) { this.memo = new Map(); this.memoGen = cache.gen; }
    const key = proxierClassKey(cfg, cache);
    const src = from ?? this.start(key, cfg);
    const made = this.memo.get(src)?.get(key);
    if (made !== undefined && made.to.gen === cache.gen) {
      this.stats.shared++;
      this.move(from, made.to);
      return made;
    }
    // Alone in its state, with its own configuration: advance it in place (no copy).
    const inPlace = !src.pinned && src.refs === 1 && from !== null && src.classKey === key && src.proxier.cfg === cfg;
    const to = inPlace ? src : new ProxierState(src.proxier.clone(cfg), key, false);
    if (!inPlace) this.stats.clones++;
    const result = to.proxier.sync();
    to.gen = cache.gen;
    this.stats.syncs++;
    let rules = 0;
    for (const c of result.filter.set) rules += c.rules.length;
    for (const c of result.nat.set) rules += c.rules.length;
    const t: ProxierTransition = { to, result, rules, text: rules <= textUpTo ? result.restoreText() : null };
    if (!inPlace) {
      let m = this.memo.get(src);
      if (m === undefined) { m = new Map(); this.memo.set(src, m); }
      m.set(key, t);
    }
    this.move(from, to);
    return t;
  }

  /** The class's state before any sync. */
  private start(key: string, cfg: ProxierConfig): ProxierState {
    let s = this.starts.get(key);
    if (s === undefined) { s = new ProxierState(new IptablesProxier(cfg, this.cache), key, true); this.starts.set(key, s); }
    return s;
  }

  private move(from: ProxierState | null, to: ProxierState): void {
    if (from === to) return;
    if (from) from.refs--;
    to.refs++;
  }
}

const perCache = new WeakMap<SharedProxyCache, ProxierStates>();

/** The cluster's proxier states (one set per shared cache). */
export function proxierStatesOf(cache: SharedProxyCache): ProxierStates {
  let s = perCache.get(cache);
  if (s === undefined) { s = new ProxierStates(cache); perCache.set(cache, s); }
  return s;
}
