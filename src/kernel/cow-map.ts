/**
 * A Map that shares its entries with the map it was forked from and keeps only its own
 * changes (issue 9: every network namespace had its own copies of the sysctl tables —
 * net.ipv4.*, conf/all, conf/default and one conf per device, about 3 KB per pod — of which a
 * pod changes one or two: the CNI plugin's arp_notify and accept_dad).
 *
 * Reads look at the own changes, then at the shared entries. Iteration order is a Map's:
 * the shared keys in their order (with the own value where one was set), then the keys added
 * since, in insertion order. A delete of a shared key (rare: nothing deletes sysctls) first
 * copies the shared entries, after which the map is a plain Map.
 */
export class CowMap<K, V> implements Map<K, V> {
  /** The shared entries, never written while shared. */
  private base: Map<K, V>;
  /** Whether another CowMap reads `base` too. */
  private shared = false;
  /**
   * This map's own values — changed shared keys and added keys — as two parallel arrays in
   * insertion order (null while none): a pod changes one or two keys, and a Map of one entry
   * costs four times the arrays. Beyond OWN_MAX keys the map takes a base of its own.
   */
  private ownKeys: K[] | null = null;
  private ownVals: V[] | null = null;
  /** How many own keys are not in `base`. */
  private added = 0;
  /** Bumped by every set, delete and clear: readers that cache values derived from entries check it. */
  version = 0;

  /** A map of `entries`; with `shares`, a fork reading that (shared) map. */
  constructor(entries?: Iterable<readonly [K, V]> | null, shares?: Map<K, V>) {
    if (shares) { this.base = shares; this.shared = true; }
    else this.base = new Map(entries ?? undefined);
  }

  /** A map with the same entries that shares them with this one; a change to either stays its own. */
  fork(): CowMap<K, V> {
    this.flatten();
    this.shared = true;
    return new CowMap<K, V>(null, this.base);
  }

  /** Folds the own changes into a base of this map's own (copying a shared base). */
  private flatten(): void {
    const ks = this.ownKeys, vs = this.ownVals;
    if (ks === null || vs === null) return;
    const m = this.shared ? new Map(this.base) : this.base;
    for (let i = 0; i < ks.length; i++) m.set(ks[i], vs[i]);
    this.base = m;
    this.shared = false;
    this.ownKeys = this.ownVals = null;
    this.added = 0;
  }

  private ownIndex(k: K): number {
    return this.ownKeys === null ? -1 : this.ownKeys.indexOf(k);
  }

  get size(): number { return this.base.size + this.added; }

  get(k: K): V | undefined {
    const i = this.ownIndex(k);
    return i >= 0 ? this.ownVals![i] : this.base.get(k);
  }

  has(k: K): boolean { return this.base.has(k) || this.ownIndex(k) >= 0; }

  set(k: K, v: V): this {
    this.version++;
    if (!this.shared) { this.base.set(k, v); return this; }
    const i = this.ownIndex(k);
    if (i >= 0) { this.ownVals![i] = v; return this; }
    const inBase = this.base.has(k);
    // Writing the value a shared key already has changes nothing.
    if (inBase && this.ownKeys === null && this.base.get(k) === v) return this;
    if (this.ownKeys === null || this.ownVals === null) { this.ownKeys = []; this.ownVals = []; }
    this.ownKeys.push(k);
    this.ownVals.push(v);
    if (!inBase) this.added++;
    if (this.ownKeys.length > OWN_MAX) this.flatten();
    return this;
  }

  delete(k: K): boolean {
    if (!this.has(k)) return false;
    this.version++;
    this.flatten();
    if (this.shared) { this.base = new Map(this.base); this.shared = false; }
    return this.base.delete(k);
  }

  clear(): void {
    this.version++;
    this.base = new Map();
    this.shared = false;
    this.ownKeys = this.ownVals = null;
    this.added = 0;
  }

  *entries(): MapIterator<[K, V]> {
    const ks = this.ownKeys, vs = this.ownVals;
    if (ks === null || vs === null) { yield* this.base.entries(); return; }
    for (const [k, v] of this.base) {
      const i = ks.indexOf(k);
      yield [k, i >= 0 ? vs[i] : v];
    }
    for (let i = 0; i < ks.length; i++) if (!this.base.has(ks[i])) yield [ks[i], vs[i]];
  }

  *keys(): MapIterator<K> { for (const [k] of this.entries()) yield k; }
  *values(): MapIterator<V> { for (const [, v] of this.entries()) yield v; }
  [Symbol.iterator](): MapIterator<[K, V]> { return this.entries(); }

  forEach(fn: (v: V, k: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  get [Symbol.toStringTag](): string { return 'Map'; }
}

/** Own keys kept beside the shared entries before the map copies them (a linear search of a few is cheap). */
const OWN_MAX = 8;
