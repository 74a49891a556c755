/**
 * Progress output for long runs (issue 9): a bar redrawn in place on a TTY, plain
 * periodic lines otherwise, nothing with --quiet; driven by a fake stream and clock.
 */
import { describe, expect, it } from 'vitest';
import { ProgressReporter } from '../../src/cli/progress.js';
import { parseScenario } from '../../src/scenario/load.js';
import { runScenario } from '../../src/scenario/run.js';
import { generateScenario } from '../../src/cli/generate.js';

function fake(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 100, write: (s: string) => { chunks.push(s); return true; } } };
}

describe('progress reporter', () => {
  it('plain: a line at a phase start, at most one per interval, and an end line per phase', () => {
    const f = fake(false);
    let t = 0;
    const p = new ProgressReporter(f.stream, { intervalMs: 1000, delayMs: 0, now: () => t });
    for (let i = 0; i < 100; i++) { t = i * 100; p.fn('build pods', i, 100); }
    t = 10_000;
    p.fn('traffic', 0, 2);
    p.fn('traffic', 2, 2);
    p.end();
    const text = f.chunks.join('');
    expect(text).not.toContain('\r');
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('podwire: build pods 0/100 (0%) 0.0 s');
    expect(lines.filter((l) => l.startsWith('podwire: build pods ') && !l.includes('done'))).toHaveLength(10);
    expect(lines).toContain('podwire: build pods done: 100 in 10.0 s (10.0 s total)');
    expect(lines.at(-1)).toBe('podwire: traffic done: 2 in 0.0 s (10.0 s total)');
  });

  it('a run stopped before its last phase finished says how far that phase got', () => {
    const f = fake(false);
    let t = 0;
    const p = new ProgressReporter(f.stream, { intervalMs: 1000, delayMs: 0, now: () => t });
    p.fn('traffic', 0, 3);
    t = 500;
    p.fn('traffic', 1, 3);
    p.end();
    expect(f.chunks.join('').trimEnd().split('\n').at(-1)).toBe('podwire: traffic stopped: 1/3 in 0.5 s (0.5 s total)');
  });

  it('TTY: a bar redrawn in place with carriage returns, a line kept per finished phase', () => {
    const f = fake(true);
    let t = 0;
    const p = new ProgressReporter(f.stream, { redrawMs: 100, delayMs: 0, now: () => t });
    for (let i = 0; i <= 50; i++) { t = i * 10; p.fn('build nodes', i, 50); }
    expect(p.barShown).toBe(true);
    p.end();
    expect(p.barShown).toBe(false);
    const text = f.chunks.join('');
    expect(text).toMatch(/\r\x1b\[Kbuild nodes \[#*-*\] 0\/50 \(0%\)/);
    expect(text).toContain('\r\x1b[Kbuild nodes [########################################] 50/50 (100%)');
    expect(text.endsWith('\r\x1b[Kbuild nodes done: 50 in 0.5 s (0.5 s total)\n')).toBe(true);
    expect(f.chunks.length).toBeLessThan(10);
  });

  it('a run shorter than the delay prints nothing; a longer one starts printing once it has passed', () => {
    const f = fake(false);
    let t = 0;
    const p = new ProgressReporter(f.stream, { now: () => t });
    p.fn('load', 0, 1); t = 500; p.fn('load', 1, 1); p.fn('build pods', 0, 10);
    expect(f.chunks).toEqual([]);
    t = 1500; p.fn('build pods', 5, 10); t = 1600; p.fn('build pods', 10, 10); p.end();
    expect(f.chunks.join('')).toBe('podwire: build pods 5/10 (50%) 1.5 s\npodwire: build pods done: 10 in 1.1 s (1.6 s total)\n');
    const g = fake(false);
    const q = new ProgressReporter(g.stream, { now: () => 0 });
    q.fn('load', 0, 1); q.fn('load', 1, 1); q.end();
    expect(g.chunks).toEqual([]);
  });

  it('with resources, a long run ends with its cost: wall and CPU time, peak RSS, the largest heap sampled', () => {
    const f = fake(false);
    let t = 0, heap = 100 * 2 ** 20;
    const p = new ProgressReporter(f.stream, { intervalMs: 1000, delayMs: 0, now: () => t, resources: () => ({ cpuMs: 12_345, maxRssBytes: 3.5 * 2 ** 30, heapUsedBytes: heap }) });
    p.fn('build pods', 0, 10);
    t = 1000; heap = 2.75 * 2 ** 30; p.fn('build pods', 5, 10); // sampled while the heap is at its largest
    t = 2000; heap = 512 * 2 ** 20; p.fn('build pods', 10, 10);
    t = 2500; p.fn('traffic', 1, 1);
    p.end();
    const lines = f.chunks.join('').trimEnd().split('\n');
    expect(lines.at(-1)).toBe('podwire: finished in 2.5 s (CPU 12.3 s); peak RSS 3.50 GiB, heap up to 2.75 GiB (sampled)');
    // Short runs and --quiet print no summary either.
    const g = fake(false);
    const q = new ProgressReporter(g.stream, { now: () => 0, resources: () => ({ cpuMs: 1, maxRssBytes: 1, heapUsedBytes: 1 }) });
    q.fn('load', 0, 1); q.fn('load', 1, 1); q.end();
    expect(g.chunks).toEqual([]);
    const h = fake(false);
    const r = new ProgressReporter(h.stream, { quiet: true, delayMs: 0, now: () => 5000, resources: () => ({ cpuMs: 1, maxRssBytes: 1, heapUsedBytes: 1 }) });
    r.fn('load', 0, 1); r.fn('load', 1, 1); r.end();
    expect(h.chunks).toEqual([]);
  });

  it('a phase may say where it is (the traffic phase: its virtual clock and events), after the wall time', () => {
    const f = fake(false);
    const p = new ProgressReporter(f.stream, { intervalMs: 1000, delayMs: 0, now: () => 0 });
    p.fn('traffic', 0, 4, 'virtual clock 2.500 s, 41,000,000 events');
    expect(f.chunks.join('')).toBe('podwire: traffic 0/4 (0%) 0.0 s; virtual clock 2.500 s, 41,000,000 events\n');
    const notes: (string | undefined)[] = [];
    const sc = parseScenario(generateScenario({ nodes: 3, pods: 9, services: 2, policies: 1, namespaces: 1, network: 'flannel', seed: 1 }), 'g.yaml');
    runScenario(sc, { progress: (phase, _d, _t, note) => { if (phase === 'traffic') notes.push(note); } });
    expect(notes.length).toBeGreaterThan(0);
    expect(notes.at(-1)).toMatch(/^virtual clock \d+\.\d{3} s, [\d,]+ events$/);
  });

  it('quiet: nothing at all', () => {
    const f = fake(true);
    const p = new ProgressReporter(f.stream, { quiet: true });
    p.fn('load', 0, 1); p.fn('load', 1, 1); p.end();
    expect(f.chunks).toEqual([]);
  });

  it('a run reports its phases in order through RunOptions.progress', () => {
    const phases: string[] = [];
    const sc = parseScenario(generateScenario({ nodes: 3, pods: 9, services: 2, policies: 1, namespaces: 1, network: 'flannel', seed: 1 }), 'g.yaml');
    const res = runScenario(sc, { progress: (phase) => { if (phases.at(-1) !== phase) phases.push(phase); } });
    expect(res.results.every((r) => r.ok)).toBe(true);
    expect(phases).toEqual(['build machines', 'build flanneld', 'build pods', 'control plane: pods', 'control plane: kube-proxy', 'traffic']);
  });
});
