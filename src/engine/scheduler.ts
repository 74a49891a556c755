/**
 * Discrete-event scheduler on a virtual clock measured in nanoseconds.
 *
 * Events are ordered by (time, sequence): two events at the same virtual time
 * run in the order they were scheduled, which is what makes runs replayable.
 * The queue is a binary heap over slot indices; times and sequence numbers live
 * in typed arrays and handlers are `(arg) => void` so that scheduling a frame
 * does not allocate a closure per event on the hot path.
 */
export type Handler<A = any> = (arg: A) => void;

export class Scheduler {
  /** Current virtual time in ns. Read it, never set it. */
  now = 0;
  /** Number of events run so far. */
  executed = 0;
  private seqNext = 0;
  private times = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private fns: (Handler | undefined)[] = new Array(1024);
  private args: unknown[] = new Array(1024);
  private heap = new Int32Array(1024);
  private size = 0;
  private free: number[] = [];
  private slotsUsed = 0;
  private stopped = false;

  get pending(): number { return this.size; }

  /** Runs `fn(arg)` `delay` ns from now (delay >= 0). */
  after<A>(delay: number, fn: Handler<A>, arg?: A): void {
    this.at(this.now + delay, fn, arg);
  }

  /** Runs `fn(arg)` at absolute virtual time `time` (clamped to now: the past cannot be scheduled). */
  at<A>(time: number, fn: Handler<A>, arg?: A): void {
    if (!(time >= this.now)) {
      if (Number.isNaN(time)) throw new RangeError('event time is NaN');
      time = this.now;
    }
    let slot: number;
    if (this.free.length > 0) slot = this.free.pop()!;
    else {
      slot = this.slotsUsed++;
      if (slot >= this.times.length) this.grow();
    }
    this.times[slot] = time;
    this.seqs[slot] = this.seqNext++;
    this.fns[slot] = fn as Handler;
    this.args[slot] = arg;
    if (this.size >= this.heap.length) {
      const h = new Int32Array(this.heap.length * 2);
      h.set(this.heap);
      this.heap = h;
    }
    this.siftUp(this.size++, slot);
  }

  /** Stops `run` after the current event. */
  stop(): void { this.stopped = true; }

  /**
   * Runs events until the queue is empty, virtual time would pass `until`,
   * or `maxEvents` have run. Returns why it stopped.
   */
  run(until = Infinity, maxEvents = Infinity): 'idle' | 'time' | 'budget' | 'stopped' {
    this.stopped = false;
    let budget = maxEvents;
    const times = this.times;
    while (this.size > 0) {
      if (this.stopped) return 'stopped';
      if (budget-- <= 0) return 'budget';
      const slot = this.heap[0];
      const t = this.times[slot];
      if (t > until) { this.now = until; return 'time'; }
      const fn = this.fns[slot]!;
      const arg = this.args[slot];
      this.fns[slot] = undefined;
      this.args[slot] = undefined;
      const last = this.heap[--this.size];
      if (this.size > 0) this.siftDown(0, last);
      this.free.push(slot);
      this.now = t;
      this.executed++;
      fn(arg);
      void times;
    }
    if (until !== Infinity && until > this.now) this.now = until;
    return 'idle';
  }

  private less(a: number, b: number): boolean {
    const ta = this.times[a], tb = this.times[b];
    return ta < tb || (ta === tb && this.seqs[a] < this.seqs[b]);
  }

  private siftUp(i: number, slot: number): void {
    const heap = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = heap[p];
      if (!this.less(slot, ps)) break;
      heap[i] = ps;
      i = p;
    }
    heap[i] = slot;
  }

  private siftDown(i: number, slot: number): void {
    const heap = this.heap;
    const n = this.size;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(heap[c + 1], heap[c])) c++;
      if (!this.less(heap[c], slot)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = slot;
  }

  private grow(): void {
    const n = this.times.length * 2;
    const t = new Float64Array(n); t.set(this.times); this.times = t;
    const s = new Float64Array(n); s.set(this.seqs); this.seqs = s;
    this.fns.length = n;
    this.args.length = n;
  }
}
