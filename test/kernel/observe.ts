/**
 * Runs the real-kernel half on a hand-written plan and renders what was captured as
 * `tcpdump -r -nn -e -v` text per interface (frames after the run's end are cut).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KernelLab, tcpdumpRead } from './netns.js';
import { runKernel, type KernelPlan, type KernelRunOutput } from './harness.js';

export function loadPlan(file: string): KernelPlan {
  const j = JSON.parse(readFileSync(file, 'utf8')) as KernelPlan;
  return { config: j.config, servers: j.servers, probes: j.probes, captures: j.captures, endTimeNs: j.endTimeNs };
}

/** Renders a kernel run: probe results, then each interface's frames with run-relative times. */
export async function renderObserved(out: KernelRunOutput): Promise<string> {
  const lines: string[] = [];
  for (const r of out.results) lines.push(`probe ${r.name}: ${r.results.join(',') || 'none'}  (${r.details.join('; ')})`);
  for (const c of out.captures) {
    lines.push('', `=== ${c.machine}/${c.netns}/${c.dev}`);
    const text = await tcpdumpRead(c.file, ['-nn', '-e', '-v', '--time-stamp-precision=nano', '-tt']);
    for (const l of text.split('\n')) {
      if (!l) continue;
      const m = /^(\d+)\.(\d{9}) (.*)$/.exec(l);
      if (m) {
        const t = BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2]!) - out.t0Ns;
        const ms = Number(t) / 1e6;
        lines.push(`${ms.toFixed(3).padStart(10)}ms ${m[3]}`);
      } else lines.push(l);
    }
  }
  return lines.join('\n') + '\n';
}

export async function observePlan(plan: KernelPlan, outDir = mkdtempSync(path.join(os.tmpdir(), 'pw-kernel-'))): Promise<{ out: KernelRunOutput; text: string; dir: string }> {
  const lab = new KernelLab();
  try {
    const out = await runKernel(lab, plan, outDir);
    return { out, text: await renderObserved(out), dir: outDir };
  } finally {
    await lab.destroy();
  }
}
