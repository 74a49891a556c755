/**
 * `npm run bench` — runs every benchmark, prints one table, writes bench/results.json.
 *
 *   node dist/bench/run.js [--quick] [--only NAME[,NAME…]] [--out FILE]   (a NAME ending in '*' selects by prefix)
 *
 * --quick: CI-sized runs (the whole suite takes about 4 minutes on a quiet 2-core machine). Without
 * it: full sizes, with the 5,000-node clusters (tens of minutes).
 * Each benchmark does a warm-up and reports the median of several runs. Targets are printed
 * beside the figures; nothing fails when a target is missed (benchmarks never assert on time).
 * Run with `node --expose-gc` to collect garbage between runs.
 */
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { fmt, runBench, table, type BenchOptions, type BenchResult, type BenchSpec } from './harness.js';
import { engineFifo, engineTimers } from './engine-events.js';
import { bridgeTraced, bridgeUntraced } from './bridge-frames.js';
import { e2eTraced, e2eUntraced } from './e2e-frames.js';
import { scenarioRun } from './scenario-run.js';
import { netfilterBenches } from './netfilter.js';
import { kubeproxyBenches } from './kube-proxy.js';
import { kubeproxyIpvsBenches } from './kube-proxy-ipvs.js';
import { flannelBenches } from './flannel.js';
import { netpolBenches } from './netpol.js';
import { calicoBgpBenches } from './calico-bgp.js';
import { calicoFelixBenches } from './calico-felix.js';
import { scaleBenches } from './scale.js';
import { scenarioLoadBenches } from './scenario-load.js';
import { podsBuildBenches } from './pods-build.js';
import { netpolScaleBenches } from './netpol-scale.js';

const ALL: ((o: BenchOptions) => BenchSpec | BenchSpec[])[] = [engineTimers, engineFifo, bridgeUntraced, bridgeTraced, e2eUntraced, e2eTraced, scenarioRun, netfilterBenches, kubeproxyBenches, kubeproxyIpvsBenches, flannelBenches, netpolBenches, calicoFelixBenches, calicoBgpBenches, scenarioLoadBenches, podsBuildBenches, scaleBenches, netpolScaleBenches];

// dist/bench/run.js → repository root (scenario paths and bench/results.json are relative to it).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function main(argv: string[]): void {
  const quick = argv.includes('--quick');
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? new Set((argv[onlyAt + 1] ?? '').split(',').filter(Boolean)) : null;
  const outAt = argv.indexOf('--out');
  const out = outAt >= 0 ? path.resolve(argv[outAt + 1]) : path.join(root, 'bench', 'results.json');
  process.chdir(root);
  const o: BenchOptions = { quick };
  // NAME may end with '*' to select by prefix (e.g. --only 'netfilter.*').
  const picked = (name: string) => !only || only.has(name) || [...only].some((x) => x.endsWith('*') && name.startsWith(x.slice(0, -1)));
  const specs = ALL.flatMap((f) => f(o)).filter((s) => picked(s.name));
  if (specs.length === 0) throw new Error(`no benchmark matches --only ${[...(only ?? [])].join(',')}`);

  console.log(`podwire bench (${quick ? 'quick' : 'full'}) — node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}${global.gc ? '' : ' (no --expose-gc)'}`);
  const results: BenchResult[] = [];
  const t0 = Date.now();
  for (const s of specs) {
    process.stdout.write(`  ${s.name}: ${s.description} … `);
    const r = runBench(s);
    results.push(r);
    console.log(`${fmt(r.median)} ${r.unit}`);
  }

  const rows = results.map((r) => {
    const target = r.target ? `${r.target.kind === 'min' ? '≥' : '≤'} ${fmt(r.target.value)}` : '—';
    const met = r.met === undefined ? '' : r.met ? 'yes' : 'NO';
    const spread = r.runs.length > 1 ? `${fmt(Math.min(...r.runs))} … ${fmt(Math.max(...r.runs))}` : '';
    const extra = r.extra ? Object.entries(r.extra).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') : '';
    return [r.name, `${fmt(r.median)} ${r.unit}`, spread, target, met, extra];
  });
  console.log('');
  console.log(table(['benchmark', 'median', 'min … max', 'target', 'met', 'also (medians)'], rows));
  console.log(`\n${results.length} benchmarks in ${((Date.now() - t0) / 1000).toFixed(1)} s; results in ${path.relative(process.cwd(), out) || out}`);
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
}

main(process.argv.slice(2));
