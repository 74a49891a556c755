/**
 * A speaker's Loc-RIB paths as parallel arrays indexed by a slot number, instead of an
 * object per path.
 *
 * A Calico client holds three paths per block of the cluster, one from each route reflector:
 * 75 M paths at 5,000 nodes (issue 9). As objects (a path, a RIB entry linking them, a boxed
 * arrival time) they cost about 280 bytes per client route and were most of what the garbage
 * collector had to mark; here a path is 28 bytes in six typed arrays, its attributes named by
 * their number in an AttrRegistry (shared attribute sets are few: a reflected block's are the
 * same on every client), so the collector has nothing per path to visit.
 *
 * A prefix's paths are a list through `next` in arrival order (the head is kept by the
 * caller, per prefix). Slots are reused: a freed slot is handed out again, so a slot number
 * names a path only while it is allocated.
 */

/** No slot: the end of a list, no best path. */
export const NIL = -1;

/**
 * Shared attribute sets numbered for the process: an attribute set gets its number (`ix`) when a
 * path first holds it. Only sets `shareable` accepts are numbered (interned ones, bounded by the
 * distinct sets seen); a path holding another keeps it beside the arrays.
 */
export class AttrRegistry<A extends { ix?: number }> {
  readonly list: A[] = [];
  constructor(private readonly shareable: (a: A) => boolean) {}
  /** The number of `a`, or -1 when it is not shared. */
  idOf(a: A): number {
    if (a.ix !== undefined) return a.ix;
    if (!this.shareable(a)) return -1;
    a.ix = this.list.length;
    this.list.push(a);
    return a.ix;
  }
}

export class PathStore<A extends { ix?: number }> {
  /** The neighbour's slot on the speaker (`BgpPeer.slot`); -1 for the static protocol. */
  peer: Int32Array = new Int32Array(16);
  /** The path id the neighbour sent (ADD-PATH; 0 without), as a signed 32-bit number: read it with `>>> 0`. */
  rid: Int32Array = new Int32Array(16);
  /** The route source's local id (the path id it goes out with). */
  lid: Int32Array = new Int32Array(16);
  /** The next path of the same prefix, or NIL. */
  next: Int32Array = new Int32Array(16);
  /** When the path came (virtual ns). */
  at: Float64Array = new Float64Array(16);
  /** The path's attributes: their number in the registry, or -1 (then in `own`). */
  ax: Int32Array = new Int32Array(16);
  /** Attributes the registry does not number (unknown attributes), by slot. */
  private readonly own = new Map<number, A>();
  /** Freed slots, as a list through `next`. */
  private free = NIL;
  private top = 0;

  constructor(private readonly reg: AttrRegistry<A>) {}

  /** The attributes of path `i` (shared, never changed). */
  attrs(i: number): A {
    const id = this.ax[i]!;
    return id >= 0 ? this.reg.list[id]! : this.own.get(i)!;
  }

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
    const id = this.reg.idOf(attrs);
    this.ax[i] = id;
    if (id < 0) this.own.set(i, attrs);
    return i;
  }

  /** Frees slot `i` (its attributes let go). */
  release(i: number): void {
    if (this.ax[i]! < 0) this.own.delete(i);
    this.next[i] = this.free;
    this.free = i;
  }

  /**
   * Doubles the arrays, as views of one new buffer: each off-heap allocation is accounted to
   * V8's external memory (and may start a collection), and 5,000 clients grow theirs at once
   * while the first routes come in (issue 9).
   */
  private grow(): void {
    const n = this.peer.length * 2;
    const buf = new ArrayBuffer(n * 28);
    const at = new Float64Array(buf, 0, n); // first: 8-byte alignment
    const int = (k: number, a: Int32Array): Int32Array => { const b = new Int32Array(buf, n * 8 + k * n * 4, n); b.set(a); return b; };
    at.set(this.at);
    this.at = at;
    this.peer = int(0, this.peer);
    this.rid = int(1, this.rid);
    this.lid = int(2, this.lid);
    this.next = int(3, this.next);
    this.ax = int(4, this.ax);
  }
}

/** Remote path ids below this are kept in typed arrays; others (any 32-bit number may come) in a map. */
const DENSE_IDS = 1 << 16;

/**
 * A neighbour's route sources (BIRD's `rte_src`), by the path id it sent: the local id of each
 * and how many paths it has (the id is freed with its last path). Typed arrays by remote path id
 * rather than an object per source: a client has one source per block of the cluster from each
 * reflector (15 M at 5,000 nodes, issue 9), and a reflector numbers them densely from 3.
 */
export class RouteSources {
  private ids: Int32Array = new Int32Array(8);
  private counts: Int32Array = new Int32Array(8);
  private far: Map<number, { id: number; n: number }> | null = null;

  /** One more path of source `rid`: its local id (`fresh()` numbers a new source). */
  take(rid: number, fresh: () => number): number {
    if (rid >= DENSE_IDS) {
      const f = (this.far ??= new Map());
      const e = f.get(rid);
      if (e !== undefined) { e.n++; return e.id; }
      const id = fresh();
      f.set(rid, { id, n: 1 });
      return id;
    }
    if (rid >= this.ids.length) {
      // Both in one buffer: one off-heap allocation a growth (see PathStore.grow).
      const n = Math.min(DENSE_IDS, Math.max(rid + 1, this.ids.length * 2));
      const buf = new ArrayBuffer(n * 8);
      const ids = new Int32Array(buf, 0, n), counts = new Int32Array(buf, n * 4, n);
      ids.set(this.ids); counts.set(this.counts);
      this.ids = ids; this.counts = counts;
    }
    if (this.ids[rid] === 0) { this.ids[rid] = fresh(); this.counts[rid] = 1; }
    else this.counts[rid]!++;
    return this.ids[rid]!;
  }

  /** A path of source `rid` with local id `id` went: true when it was the source's last (its id is free). */
  release(rid: number, id: number): boolean {
    if (rid >= DENSE_IDS) {
      const e = this.far?.get(rid);
      if (e === undefined || e.id !== id || --e.n > 0) return false;
      this.far!.delete(rid);
      return true;
    }
    if (rid >= this.ids.length || this.ids[rid] !== id) return false;
    if (--this.counts[rid]! > 0) return false;
    this.ids[rid] = 0;
    return true;
  }

  /** Whether no source has a path left. */
  get empty(): boolean {
    return (this.far === null || this.far.size === 0) && this.counts.every((n) => n <= 0);
  }
}
