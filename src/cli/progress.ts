/**
 * Progress output for long runs (issue 9), on stderr: a bar redrawn in place on a terminal,
 * plain periodic lines otherwise (a log, CI), nothing with `--quiet` — and nothing for a run
 * shorter than `delayMs` (1 s), so quick scenarios and input errors keep stderr as it was. The scenario layer
 * reports through `RunOptions.progress` (phase, done, total); this module owns every byte
 * of terminal output. Wall-clock time is read here (the CLI), never in the model.
 * With `resources`, a long run ends with one line of what it cost: wall and CPU time,
 * peak RSS (the kernel's maxrss) and the largest V8 heap seen at the progress samples.
 */
import { getHeapStatistics } from 'node:v8';

/** What the reporter writes to: process.stderr, or a fake in tests. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Plain mode: at most one line per phase every this many ms (default 2000), plus each phase's start and end. */
  intervalMs?: number;
  /** TTY mode: redraw at most every this many ms (default 100). */
  redrawMs?: number;
  /** Wall clock in ms (default performance.now). */
  now?: () => number;
  /** Nothing at all until the run has taken this long (default 1000 ms): a short run's stderr stays clean. */
  delayMs?: number;
  /** What the process has used so far (`processResources` for the CLI); none: no summary line. */
  resources?: () => ResourceUse;
}

/** CPU time so far, the peak resident set, and the V8 heap in use now. */
export interface ResourceUse {
  cpuMs: number;
  maxRssBytes: number;
  heapUsedBytes: number;
}

/** This process's use: getrusage's CPU time and maxrss, V8's used heap. */
export function processResources(): ResourceUse {
  const r = process.resourceUsage();
  return { cpuMs: (r.userCPUTime + r.systemCPUTime) / 1000, maxRssBytes: r.maxRSS * 1024, heapUsedBytes: getHeapStatistics().used_heap_size };
}

const gb = (bytes: number): string => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`);

export class ProgressReporter {
  private readonly t0: number;
  private phase = '';
  private phaseT0 = 0;
  private last = -Infinity;
  private lastDone = 0;
  private lastTotal = 0;
  /** What the phase said of itself with its last count (the traffic phase: its virtual clock and events). */
  private lastNote = '';
  private drawn = false;
  /** Whether anything was written yet (the delay has passed). */
  private shown = false;
  private readonly now: () => number;
  private readonly tty: boolean;
  /** The largest heap in use seen when a line was written or a phase ended. */
  private heapPeak = 0;

  constructor(private readonly out: ProgressStream, private readonly opts: ProgressOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.tty = !!out.isTTY;
    this.t0 = this.now();
  }

  /** The scenario layer's callback: `reporter.fn` is passed as RunOptions.progress. */
  readonly fn = (phase: string, done: number, total: number, note?: string): void => this.update(phase, done, total, note);

  update(phase: string, done: number, total: number, note = ''): void {
    if (this.opts.quiet) return;
    const t = this.now();
    if (phase !== this.phase) {
      if (this.phase) this.finishPhase(t);
      this.phase = phase;
      this.phaseT0 = t;
      this.last = -Infinity;
    }
    this.lastDone = done;
    this.lastTotal = total;
    this.lastNote = note;
    if (t - this.t0 < (this.opts.delayMs ?? 1000)) return;
    this.shown = true;
    const every = this.tty ? (this.opts.redrawMs ?? 100) : (this.opts.intervalMs ?? 2000);
    if (t - this.last < every && done < total) return;
    // Plain lines: the phase's end line says it is complete.
    if (!this.tty && done >= total && this.last !== -Infinity) return;
    this.last = t;
    this.sampleHeap();
    if (this.tty) this.draw(t);
    else this.out.write(`podwire: ${this.line(t)}\n`);
  }

  /** Ends the current phase (its final line) and clears the bar; then, with `resources`, the run's cost. */
  end(): void {
    if (this.opts.quiet || !this.phase) return;
    const t = this.now();
    this.finishPhase(t, true);
    this.phase = '';
    const res = this.opts.resources;
    if (!this.shown || !res) return;
    const u = res();
    const heap = Math.max(this.heapPeak, u.heapUsedBytes);
    const text = `finished in ${((t - this.t0) / 1000).toFixed(1)} s (CPU ${(u.cpuMs / 1000).toFixed(1)} s); peak RSS ${gb(u.maxRssBytes)}, heap up to ${gb(heap)} (sampled)`;
    this.out.write(this.tty ? `${text}\n` : `podwire: ${text}\n`);
  }

  private sampleHeap(): void {
    const res = this.opts.resources;
    if (res) this.heapPeak = Math.max(this.heapPeak, res().heapUsedBytes);
  }

  private finishPhase(t: number, last = false): void {
    if (!this.shown) return;
    this.sampleHeap();
    const secs = ((t - this.phaseT0) / 1000).toFixed(1);
    // The last phase cut short (a run stopped by a budget or Ctrl-C) says how far it got, not its total.
    const count = last && this.lastDone < this.lastTotal ? `stopped: ${this.lastDone}/${this.lastTotal}` : `done: ${this.lastTotal}`;
    const text = `${this.phase} ${count} in ${secs} s (${((t - this.t0) / 1000).toFixed(1)} s total)`;
    if (this.tty) {
      this.out.write(`\r\x1b[K${text}\n`);
      this.drawn = false;
    } else this.out.write(`podwire: ${text}\n`);
  }

  private line(t: number): string {
    const pct = this.lastTotal > 0 ? Math.floor((100 * this.lastDone) / this.lastTotal) : 100;
    return `${this.phase} ${this.lastDone}/${this.lastTotal} (${pct}%) ${((t - this.t0) / 1000).toFixed(1)} s${this.lastNote ? `; ${this.lastNote}` : ''}`;
  }

  private draw(t: number): void {
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 50));
    const frac = this.lastTotal > 0 ? Math.min(1, this.lastDone / this.lastTotal) : 1;
    const full = Math.round(frac * width);
    const bar = '#'.repeat(full) + '-'.repeat(width - full);
    this.out.write(`\r\x1b[K${this.phase} [${bar}] ${this.line(t).slice(this.phase.length + 1)}`);
    this.drawn = true;
  }

  /** True while a bar is on the terminal's current line (tests). */
  get barShown(): boolean {
    return this.drawn;
  }
}
