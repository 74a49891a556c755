/**
 * Word-level bitsets over class indexes and a hash-consed list trie, for the
 * reachability engine (policy-reach.ts). Nothing here knows about policies.
 */

export type Bits = Uint32Array;

export function newBits(n: number): Bits {
  return new Uint32Array((n + 31) >>> 5);
}
export function set(b: Bits, i: number): void {
  b[i >>> 5] |= 1 << (i & 31);
}
export function clear(b: Bits, i: number): void {
  b[i >>> 5] &= ~(1 << (i & 31));
}
export function has(b: Bits, i: number): boolean {
  return (b[i >>> 5] & (1 << (i & 31))) !== 0;
}
export function or(a: Bits, b: Bits): void {
  for (let w = 0; w < a.length; w++) a[w] |= b[w];
}
export function and(a: Bits, b: Bits): void {
  for (let w = 0; w < a.length; w++) a[w] &= b[w];
}
export function orAnd(a: Bits, b: Bits, c: Bits): void {
  for (let w = 0; w < a.length; w++) a[w] |= b[w] & c[w];
}
export function andNot(a: Bits, b: Bits): void {
  for (let w = 0; w < a.length; w++) a[w] &= ~b[w];
}
/** Sets bits [from, to). */
export function fillRange(b: Bits, from: number, to: number): void {
  if (from >= to) return;
  const fw = from >>> 5;
  const lw = (to - 1) >>> 5;
  const fm = ~0 << (from & 31);
  const lm = ~0 >>> (31 - ((to - 1) & 31));
  if (fw === lw) {
    b[fw] |= fm & lm;
    return;
  }
  b[fw] |= fm;
  for (let w = fw + 1; w < lw; w++) b[w] = ~0;
  b[lw] |= lm;
}
/** Calls `fn` for every set bit, ascending. */
export function forEachSet(b: Bits, fn: (i: number) => void): void {
  for (let w = 0; w < b.length; w++) {
    let x = b[w];
    while (x !== 0) {
      const t = x & -x;
      fn((w << 5) + 31 - Math.clz32(t));
      x ^= t;
    }
  }
}

/**
 * Hash-consed lists of small non-negative integers: node 0 is the empty list,
 * `child(n, l)` the list n followed by l (the same node for the same list).
 * Lists are compared by node number, so per-class rule lists need no strings.
 */
export class ListTrie {
  private readonly parent: number[] = [-1];
  private readonly label: number[] = [-1];
  private readonly map = new Map<number, number>();
  constructor(private readonly radix: number) {}

  child(n: number, l: number): number {
    const key = n * this.radix + l;
    let c = this.map.get(key);
    if (c === undefined) {
      c = this.parent.length;
      this.parent.push(n);
      this.label.push(l);
      this.map.set(key, c);
    }
    return c;
  }

  /** The list of node n, first element first. */
  list(n: number): number[] {
    const out: number[] = [];
    for (; n > 0; n = this.parent[n]) out.push(this.label[n]);
    return out.reverse();
  }
}
