/**
 * Top self-time functions of a V8 .cpuprofile (as written by `node --cpu-prof`).
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/run.js --only bridge.frames.untraced
 *   node dist/bench/prof-top.js /tmp/prof/CPU.*.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

interface CpuNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface CpuProfile { nodes: CpuNode[]; samples: number[]; timeDeltas: number[] }

function main(file: string, n: number): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i])!;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const cf = node.callFrame;
    const where = cf.url ? `${path.relative(process.cwd(), cf.url.replace(/^file:\/\//, ''))}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  console.log(`${(total / 1000).toFixed(0)} ms sampled; top ${n} by self time:`);
  for (const [k, us] of top) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
}

main(process.argv[2] ?? '', Number(process.argv[3] ?? 10));
