/**
 * Minimal benchmark harness: warm-up, several timed runs, median. Timing uses
 * process.hrtime.bigint(); each run returns the amount of work it did (events,
 * frames, …) so the reported value is a rate (work / s) or a wall time (ms).
 * Benchmarks never assert on time: they report figures and whether a target is met.
 */
import * as os from 'node:os';

export interface BenchOptions {
  /** CI-sized runs (`--quick`). */
  quick: boolean;
}

/** One timed run: wall-clock seconds and the work units it completed, plus extra figures. */
export interface RunSample {
  seconds: number;
  work: number;
  extra?: Record<string, number>;
}

export interface Target {
  /** 'min' = value must be ≥ target, 'max' = value must be ≤ target. */
  kind: 'min' | 'max';
  value: number;
}

export interface BenchResult {
  name: string;
  /** What it measures, in one line. */
  description: string;
  unit: string;
  /** The headline figure (= median). */
  value: number;
  median: number;
  runs: number[];
  params: Record<string, unknown>;
  target?: Target;
  met?: boolean;
  /** Other medians measured by the same runs (e.g. datagrams/s beside frames/s). */
  extra?: Record<string, number>;
  node: string;
  cores: number;
  date: string;
}

export interface BenchSpec {
  name: string;
  description: string;
  /**
   * 'rate' → unit is `${workUnit}/s`, value = work/seconds; 'time' → unit 'ms', value = seconds*1000;
   * 'time-per' → unit `ms/${workUnit}`, value = seconds*1000/work (an operation timed in a batch, so
   * one run is not one operation just after a full GC).
   */
  mode: 'rate' | 'time' | 'time-per';
  workUnit?: string;
  params: Record<string, unknown>;
  warmup: number;
  runs: number;
  target?: Target;
  /** Builds whatever the run needs (untimed) and returns the timed body. */
  setup?: () => unknown;
  /** One timed run; returns the work done (and extra figures) — timing is done by the harness around `run`. */
  run: (ctx: unknown) => { work: number; extra?: Record<string, number> };
  teardown?: (ctx: unknown) => void;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function once(spec: BenchSpec): RunSample {
  const ctx = spec.setup ? spec.setup() : undefined;
  if (global.gc) global.gc();
  const t0 = process.hrtime.bigint();
  const r = spec.run(ctx);
  const t1 = process.hrtime.bigint();
  if (spec.teardown) spec.teardown(ctx);
  return { seconds: Number(t1 - t0) / 1e9, work: r.work, extra: r.extra };
}

export function runBench(spec: BenchSpec): BenchResult {
  for (let i = 0; i < spec.warmup; i++) once(spec);
  const samples: RunSample[] = [];
  for (let i = 0; i < spec.runs; i++) samples.push(once(spec));
  const values = samples.map((s) => (spec.mode === 'rate' ? s.work / s.seconds : spec.mode === 'time-per' ? (s.seconds * 1000) / s.work : s.seconds * 1000));
  const med = median(values);
  const extraKeys = new Set(samples.flatMap((s) => Object.keys(s.extra ?? {})));
  const extra: Record<string, number> = {};
  for (const k of extraKeys) {
    // Extras ending in '/s' are per-run totals turned into rates; others are reported as medians as given.
    extra[k] = median(samples.map((s) => (k.endsWith('/s') ? (s.extra?.[k] ?? 0) / s.seconds : s.extra?.[k] ?? 0)));
  }
  const met = spec.target ? (spec.target.kind === 'min' ? med >= spec.target.value : med <= spec.target.value) : undefined;
  return {
    name: spec.name,
    description: spec.description,
    unit: spec.mode === 'rate' ? `${spec.workUnit ?? 'ops'}/s` : spec.mode === 'time-per' ? `ms/${spec.workUnit ?? 'op'}` : 'ms',
    value: med,
    median: med,
    runs: values,
    params: { ...spec.params, warmup: spec.warmup, runs: spec.runs },
    ...(spec.target ? { target: spec.target, met } : {}),
    ...(extraKeys.size ? { extra } : {}),
    node: process.version,
    cores: os.cpus().length,
    date: new Date().toISOString(),
  };
}

/** 12345678 → "12.35 M", 0.5 → "0.500". */
export function fmt(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(2)} G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** A fixed-width text table. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}
