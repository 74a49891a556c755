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
  /** This map's own values: changed shared keys and added keys (null while none). */
  private own: Map<K, V> | null = null;
  /** How many keys of `own` are not in `base`. */
  private added = 0;

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
    if (this.own === null) return;
    const m = this.shared ? new Map(this.base) : this.base;
    for (const [k, v] of this.own) m.set(k, v);
    this.base = m;
    this.shared = false;
    this.own = null;
    this.added = 0;
  }

  get size(): number { return this.base.size + this.added; }

  get(k: K): V | undefined {
    const o = this.own;
    if (o !== null && o.has(k)) return o.get(k);
    return this.base.get(k);
  }

  has(k: K): boolean { return this.base.has(k) || (this.own !== null && this.own.has(k)); }

  set(k: K, v: V): this {
    if (!this.shared) { this.base.set(k, v); return this; }
    const inBase = this.base.has(k);
    let o = this.own;
    if (o === null) {
      // Writing the value a shared key already has changes nothing.
      if (inBase && this.base.get(k) === v) return this;
      o = this.own = new Map();
    }
    if (!inBase && !o.has(k)) this.added++;
    o.set(k, v);
    return this;
  }

  delete(k: K): boolean {
    if (!this.has(k)) return false;
    this.flatten();
    if (this.shared) { this.base = new Map(this.base); this.shared = false; }
    return this.base.delete(k);
  }

  clear(): void {
    this.base = new Map();
    this.shared = false;
    this.own = null;
    this.added = 0;
  }

  *entries(): MapIterator<[K, V]> {
    const o = this.own;
    if (o === null) { yield* this.base.entries(); return; }
    for (const [k, v] of this.base) yield [k, o.has(k) ? o.get(k)! : v];
    for (const [k, v] of o) if (!this.base.has(k)) yield [k, v];
  }

  *keys(): MapIterator<K> { for (const [k] of this.entries()) yield k; }
  *values(): MapIterator<V> { for (const [, v] of this.entries()) yield v; }
  [Symbol.iterator](): MapIterator<[K, V]> { return this.entries(); }

  forEach(fn: (v: V, k: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  get [Symbol.toStringTag](): string { return 'Map'; }
}
