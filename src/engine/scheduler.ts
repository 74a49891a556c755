/**
 * Discrete-event scheduler on a virtual clock measured in nanoseconds.
 *
 * Events are ordered by (time, sequence): two events at the same virtual time
 * run in the order they were scheduled, which is what makes runs replayable.
 * Times are whole nanoseconds (fractions are rounded up): the clock's resolution.
 *
 * The queue is a radix heap (Ahuja, Mehlhorn, Orlin, Tarjan 1990), which fits
 * a simulation clock exactly: keys never go below the last one taken out.
 * Bucket k holds the events whose time differs from that last key first in
 * bit k-1 (bucket 0: equal to it). Taking the minimum empties bucket 0 in
 * order; when it is empty, the lowest non-empty bucket is redistributed around
 * its smallest time. Each bucket keeps insertion order, and redistribution
 * walks a bucket in order, so events with equal times leave in the order they
 * were scheduled without storing a sequence number. Inserting is O(1);
 * an event moves down at most 54 buckets over its life, in practice one or two.
 * Handlers are `(arg) => void` so that scheduling a frame allocates no closure.
 */
export type Handler<A = any> = (arg: A) => void;

export type RunResult = 'idle' | 'time' | 'budget' | 'stopped';

const NBUCKETS = 55;
const TWO32 = 0x1_0000_0000;

/** Number of significant bits in a ^ b for non-negative integers below 2^53 (0 when equal). */
function diffBits(a: number, b: number): number {
  if (a < TWO32 && b < TWO32) return 32 - Math.clz32((a ^ b) >>> 0);
  const hi = (Math.floor(a / TWO32) ^ Math.floor(b / TWO32)) >>> 0;
  if (hi !== 0) return 64 - Math.clz32(hi);
  const lo = ((a >>> 0) ^ (b >>> 0)) >>> 0;
  return 32 - Math.clz32(lo);
}

export class Scheduler {
  /** Current virtual time in ns. Read it, never set it. */
  now = 0;
  /** Number of events run so far. */
  executed = 0;
  /** The radix heap's reference key: the last minimum taken out (≤ every queued time). */
  private last = 0;
  private size = 0;
  // Per-event slots: time, handler, argument.
  private sTime = new Float64Array(1024);
  private sFn: (Handler | undefined)[] = [];
  private sArg: unknown[] = [];
  private sFree = new Int32Array(1024);
  private sFreeLen = 0;
  // Buckets of slot indices; bucket 0 is consumed from bRead0 onwards.
  private b: Int32Array[] = [];
  private bLen = new Int32Array(NBUCKETS);
  private bRead0 = 0;
  /**
   * Per bucket: the smallest time among its first `minLen` slots (0: not known). A bucket only
   * grows until it is emptied, so a `run(until)` that stops short of it again (a clock stepped
   * through instants while far timers wait) scans only what was added since.
   */
  private minTime = new Float64Array(NBUCKETS);
  private minLen = new Int32Array(NBUCKETS);
  /**
   * Events deferred until nothing else is due at the current time (see `defer`): a queue in
   * dFn/dArg from dRead to dLen. The arrays keep their length when the queue empties (only
   * the indices go back to 0, and run clears each slot it takes): setting `length = 0` freed
   * the backing stores, which the next defer — one per datagram delivered — allocated again.
   */
  private dFn: (Handler | undefined)[] = [];
  private dArg: unknown[] = [];
  private dRead = 0;
  private dLen = 0;
  private stopped = false;

  constructor() {
    for (let i = 0; i < NBUCKETS; i++) this.b.push(new Int32Array(i === 0 ? 1024 : 64));
  }

  /** Events waiting to run. */
  get pending(): number { return this.size + this.dLen - this.dRead; }

  /**
   * Runs `fn(arg)` at the current time, but only once every other event due
   * now (and every event those schedule for now) has run: user space wakes up
   * after the kernel's softirq work at this instant is done. Applications
   * reacting to what their sockets received use this, so a frame already on
   * its way finishes its hops before the application answers — as on Linux,
   * where a woken process runs after the packet processing that woke it.
   */
  defer<A>(fn: Handler<A>, arg?: A): void {
    const n = this.dLen++;
    if (n < this.dFn.length) {
      this.dFn[n] = fn as Handler;
      this.dArg[n] = arg;
    } else {
      this.dFn.push(fn as Handler);
      this.dArg.push(arg);
    }
  }

  /** Runs `fn(arg)` `delay` ns from now (delay >= 0). */
  after<A>(delay: number, fn: Handler<A>, arg?: A): void {
    this.at(this.now + delay, fn, arg);
  }

  /** Runs `fn(arg)` at absolute virtual time `time` (clamped to now: the past cannot be scheduled). */
  at<A>(time: number, fn: Handler<A>, arg?: A): void {
    if (!(time > this.now)) {
      if (Number.isNaN(time)) throw new RangeError('event time is NaN');
      time = this.now;
    } else if (time !== Math.floor(time)) time = Math.ceil(time);
    if (time > Number.MAX_SAFE_INTEGER) throw new RangeError(`event time ${time} ns is beyond the clock's range`);
    let slot: number;
    if (this.sFreeLen > 0) slot = this.sFree[--this.sFreeLen];
    else {
      slot = this.sFn.length;
      this.sFn.push(undefined);
      this.sArg.push(undefined);
      if (slot >= this.sTime.length) {
        // Slots and the free list grow together, so releasing a slot never needs a capacity check.
        const t = new Float64Array(this.sTime.length * 2); t.set(this.sTime); this.sTime = t;
        const f = new Int32Array(this.sTime.length); f.set(this.sFree); this.sFree = f;
      }
    }
    this.sTime[slot] = time;
    this.sFn[slot] = fn as Handler;
    this.sArg[slot] = arg;
    const last = this.last;
    if (time < last) this.rebase(time);
    this.push(time === this.last ? 0 : time < TWO32 && last < TWO32 ? 32 - Math.clz32((time ^ last) >>> 0) : diffBits(time, this.last), slot);
    this.size++;
  }

  private push(k: number, slot: number): void {
    let arr = this.b[k];
    const n = this.bLen[k];
    if (n === arr.length) {
      const bigger = new Int32Array(arr.length * 2);
      bigger.set(arr);
      this.b[k] = arr = bigger;
    }
    arr[n] = slot;
    this.bLen[k] = n + 1;
  }

  /**
   * A time below the reference key can only be scheduled after run(until) stopped
   * short of the next event: re-bucket everything around the new, lower key
   * (keeping each bucket's order, hence the scheduling order of equal times).
   */
  private rebase(time: number): void {
    const slots: number[] = [];
    for (let i = this.bRead0; i < this.bLen[0]; i++) slots.push(this.b[0][i]);
    for (let k = 1; k < NBUCKETS; k++) for (let i = 0; i < this.bLen[k]; i++) slots.push(this.b[k][i]);
    // Stable sort by time restores (time, scheduling order) across buckets.
    slots.sort((x, y) => this.sTime[x] - this.sTime[y]);
    this.bLen.fill(0);
    this.minLen.fill(0);
    this.bRead0 = 0;
    this.last = time;
    for (const s of slots) {
      const t = this.sTime[s];
      this.push(t === time ? 0 : diffBits(t, time), s);
    }
  }

  /** Stops `run` after the current event. */
  stop(): void { this.stopped = true; }

  /**
   * Runs events until the queue is empty, virtual time would pass `until`,
   * or `maxEvents` have run. Returns why it stopped.
   */
  run(until = Infinity, maxEvents = Infinity): RunResult {
    this.stopped = false;
    let budget = maxEvents;
    const sFn = this.sFn, sArg = this.sArg;
    for (;;) {
      if (this.stopped) return 'stopped';
      if (this.bRead0 === this.bLen[0]) {
        this.bRead0 = 0;
        this.bLen[0] = 0;
        if (this.dRead < this.dLen) {
          // Nothing else due now: the deferred (user-space) work of this instant.
          if (budget-- <= 0) return 'budget';
          const r = this.dRead;
          const fn = this.dFn[r]!;
          const arg = this.dArg[r];
          this.dFn[r] = undefined;
          this.dArg[r] = undefined;
          this.dRead = r + 1;
          if (r + 1 === this.dLen) { this.dRead = 0; this.dLen = 0; }
          this.executed++;
          fn(arg);
          continue;
        }
        if (this.size === 0) {
          if (until !== Infinity && until > this.now) this.now = until;
          return 'idle';
        }
        if (!this.refill(until)) { this.now = until; return 'time'; }
      }
      if (budget-- <= 0) return 'budget';
      const slot = this.b[0][this.bRead0++];
      const fn = sFn[slot]!;
      const arg = sArg[slot];
      sFn[slot] = undefined;
      sArg[slot] = undefined;
      this.sFree[this.sFreeLen++] = slot;
      this.size--;
      this.now = this.last;
      this.executed++;
      fn(arg);
    }
  }

  /**
   * Bucket 0 is empty: redistribute the lowest non-empty bucket around its
   * smallest time, which becomes the reference key. Returns false (and changes
   * nothing) when that time is beyond `until`.
   */
  private refill(until: number): boolean {
    let k = 1;
    while (this.bLen[k] === 0) k++;
    const arr = this.b[k], n = this.bLen[k], st = this.sTime;
    const known = this.minLen[k];
    let min = known > 0 ? this.minTime[k] : st[arr[0]];
    for (let i = known > 0 ? known : 1; i < n; i++) { const t = st[arr[i]]; if (t < min) min = t; }
    if (min > until) { this.minTime[k] = min; this.minLen[k] = n; return false; }
    this.last = min;
    this.bLen[k] = 0;
    this.minLen[k] = 0;
    for (let i = 0; i < n; i++) {
      const s = arr[i];
      const t = st[s];
      this.push(t === min ? 0 : diffBits(t, min), s);
    }
    return true;
  }
}
