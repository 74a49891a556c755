/**
 * A speaker's Loc-RIB paths as parallel arrays indexed by a slot number, instead of an
 * object per path.
 *
 * A Calico client holds three paths per block of the cluster, one from each route reflector:
 * 75 M paths at 5,000 nodes (issue 9). As objects (a path, a RIB entry linking them, a boxed
 * arrival time) they cost about 280 bytes per client route and were most of what the garbage
 * collector had to mark; here a path is 32 bytes in five typed arrays and one pointer to its
 * shared attributes, and the collector sees one array per field.
 *
 * A prefix's paths are a list through `next` in arrival order (the head is kept by the
 * caller, per prefix). Slots are reused: a freed slot is handed out again, so a slot number
 * names a path only while it is allocated.
 */

/** No slot: the end of a list, no best path. */
export const NIL = -1;

export class PathStore<A> {
  /** The neighbour's slot on the speaker (`BgpPeer.slot`); -1 for the static protocol. */
  peer = new Int32Array(16);
  /** The path id the neighbour sent (ADD-PATH; 0 without). */
  rid = new Int32Array(16);
  /** The route source's local id (the path id it goes out with). */
  lid = new Int32Array(16);
  /** The next path of the same prefix, or NIL. */
  next = new Int32Array(16);
  /** When the path came (virtual ns). */
  at = new Float64Array(16);
  /** The path's attributes (shared, never changed). */
  attrs: (A | undefined)[] = new Array<A | undefined>(16).fill(undefined);
  /** Freed slots, as a list through `next`. */
  private free = NIL;
  private top = 0;

  /** A new path's slot. */
  alloc(peer: number, rid: number, lid: number, attrs: A, at: number): number {
    let i = this.free;
    if (i !== NIL) this.free = this.next[i]!;
    else {
      if (this.top === this.peer.length) this.grow();
      i = this.top++;
    }
    this.peer[i] = peer;
    this.rid[i] = rid;
    this.lid[i] = lid;
    this.next[i] = NIL;
    this.at[i] = at;
    this.attrs[i] = attrs;
    return i;
  }

  /** Frees slot `i` (its attributes let go). */
  release(i: number): void {
    this.attrs[i] = undefined;
    this.next[i] = this.free;
    this.free = i;
  }

  private grow(): void {
    const n = this.peer.length * 2;
    const widen = <T extends Int32Array | Float64Array>(a: T, b: T): T => { b.set(a); return b; };
    this.peer = widen(this.peer, new Int32Array(n));
    this.rid = widen(this.rid, new Int32Array(n));
    this.lid = widen(this.lid, new Int32Array(n));
    this.next = widen(this.next, new Int32Array(n));
    this.at = widen(this.at, new Float64Array(n));
    for (let k = this.attrs.length; k < n; k++) this.attrs.push(undefined);
  }
}
