/**
 * Prefixes interned for the process, and a speaker's tables keyed by them.
 *
 * Every speaker names the same few thousand prefixes (a Calico cluster's blocks), once per
 * UPDATE received: a `Prefix` is made once, with its text and a dense id. A `PrefixTable` is
 * what a `Map<string, T>` keyed by the prefix text was (the Loc-RIB, the kernel routes), in
 * two arrays indexed by that id — the value and its insertion number — instead of a hash
 * table entry: a client holds one entry per block of the cluster in each (25 M at 5,000 nodes,
 * issue 9), 16 bytes instead of about 46. Iteration is in insertion order, as a Map's (a
 * key deleted and set again goes last), over the entries present when it starts.
 */
import { ipToString, parseCidr } from '../../wire/bytes.js';

export interface Prefix { readonly id: number; readonly addr: number; readonly len: number; readonly key: string }

/** By length, then by address as a signed 32-bit key (always a small integer: no boxed double to hash). */
const prefixByLen: Map<number, Prefix>[] = Array.from({ length: 33 }, () => new Map());
const prefixByKey = new Map<string, Prefix>();
/** By id. */
const prefixById: Prefix[] = [];
let prefixCount = 0;

/** How many prefixes the process has interned (every table's ids are below it). */
export function prefixCountNow(): number { return prefixCount; }

/** The interned prefix addr/len. */
export function prefixOf(addr: number, len: number): Prefix {
  const m = prefixByLen[len]!;
  let p = m.get(addr | 0);
  if (p === undefined) {
    p = { id: prefixCount++, addr, len, key: `${ipToString(addr)}/${len}` };
    m.set(addr | 0, p);
    prefixByKey.set(p.key, p);
    prefixById.push(p);
  }
  return p;
}

/** The interned prefix of a text as `Prefix.key` writes it (a/len, host bits zero), or undefined. */
export function prefixOfKey(key: string): Prefix | undefined {
  const p = prefixByKey.get(key);
  if (p !== undefined) return p;
  const c = parseCidr(key, true);
  return c && `${ipToString(c.addr)}/${c.prefix}` === key ? prefixOf(c.addr, c.prefix) : undefined;
}

export class PrefixTable<T> {
  /** Values by prefix id (undefined: absent). */
  private readonly vals: (T | undefined)[] = [];
  /**
   * Insertion numbers by prefix id (meaningful while present), and the present ids in
   * insertion order while no key was deleted since (`orderLen` < 0: to be rebuilt). Typed
   * arrays: two of these tables on every client (25 M entries each at 5,000 nodes, issue 9)
   * are memory the garbage collector need not scan.
   */
  private seqs: Int32Array = new Int32Array(8);
  private order: Int32Array = new Int32Array(8);
  private orderLen = 0;
  private nextSeq = 0;
  private count = 0;

  get size(): number { return this.count; }

  /** By prefix, or by its text (tests, reading). */
  get(p: Prefix | string): T | undefined {
    const x = typeof p === 'string' ? prefixOfKey(p) : p;
    return x === undefined ? undefined : this.vals[x.id];
  }

  has(p: Prefix): boolean { return this.vals[p.id] !== undefined; }

  set(p: Prefix, v: T): void {
    const id = p.id, vals = this.vals;
    while (vals.length <= id) vals.push(undefined);
    if (vals[id] === undefined) {
      // Straight to every prefix known so far: a client's table ends up holding most of them.
      if (id >= this.seqs.length) this.seqs = grown(this.seqs, Math.max(id + 1, prefixCount));
      // Insertion numbers are 32-bit: renumbered in order before they would run out (a table churned for very long).
      if (this.nextSeq === 0x7fffffff) this.renumber();
      this.seqs[id] = this.nextSeq++;
      this.count++;
      if (this.orderLen >= 0) {
        if (this.orderLen === this.order.length) this.order = grown(this.order, Math.max(this.orderLen + 1, prefixCount));
        this.order[this.orderLen++] = id;
      }
    }
    vals[id] = v;
  }

  delete(p: Prefix): boolean {
    const id = p.id;
    if (this.vals[id] === undefined) return false;
    this.vals[id] = undefined;
    this.count--;
    this.orderLen = -1;
    return true;
  }

  /** Insertion numbers 0…count-1 in the present order (the order is unchanged). */
  private renumber(): void {
    const ids = this.ids();
    for (let i = 0; i < this.count; i++) this.seqs[ids[i]!] = i;
    this.nextSeq = this.count;
  }

  /** Present ids in insertion order (the first `count` of the array returned). */
  private ids(): Int32Array {
    if (this.orderLen >= 0) return this.order;
    const out: number[] = [];
    const vals = this.vals, seqs = this.seqs;
    for (let i = 0; i < vals.length; i++) if (vals[i] !== undefined) out.push(i);
    out.sort((a, b) => seqs[a]! - seqs[b]!);
    this.order = Int32Array.from(out);
    this.orderLen = out.length;
    return this.order;
  }

  /** The prefixes present, in insertion order (those present when called). */
  keys(): Prefix[] {
    const ids = this.ids(), n = this.count;
    const out = new Array<Prefix>(n);
    for (let i = 0; i < n; i++) out[i] = prefixById[ids[i]!]!;
    return out;
  }

  /** The values in insertion order (those present when called; later changes are not seen). */
  values(): T[] {
    const ids = this.ids(), vals = this.vals, n = this.count;
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = vals[ids[i]!]!;
    return out;
  }
}

/** `a` in an array of at least `min` (half as large again: a client's tables grow a block at a time). */
function grown(a: Int32Array, min: number): Int32Array {
  const b = new Int32Array(Math.max(min, a.length + (a.length >> 1) + 8));
  b.set(a);
  return b;
}

/**
 * A set of prefixes in insertion order, emptied and refilled all the time: a neighbour's
 * prefixes to export (a reflector flushes each client once per change, 25 M times at 5,000
 * nodes, issue 9) and the prefixes an UPDATE touched. A Set's clear() allocates a new table
 * each time; this keeps an array, and a Set beside it only while it holds more than a few.
 */
export class PrefixSet {
  /** The prefixes in insertion order (read, never changed, by callers). */
  readonly items: Prefix[] = [];
  private index: Set<Prefix> | null = null;

  get size(): number { return this.items.length; }

  add(p: Prefix): void {
    const items = this.items;
    if (this.index !== null) {
      if (this.index.has(p)) return;
      this.index.add(p);
    } else {
      for (let i = 0; i < items.length; i++) if (items[i] === p) return;
      if (items.length === 16) this.index = new Set(items).add(p);
    }
    items.push(p);
  }

  clear(): void {
    if (this.items.length === 0) return;
    this.items.length = 0;
    this.index = null;
  }
}
