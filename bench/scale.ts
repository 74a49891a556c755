/**
 * scale benchmarks (issue 9): `podwire generate`'s cluster built and probed.
 *
 * scale.{N}nodes: the generated scenario (flannel vxlan, kube-proxy iptables, no policies) of
 *   N nodes, 30·N pods, 2·N services — `--quick` 1,000 nodes / 30,000 pods / 2,000 services, full
 *   mode also Kubernetes' published limits, 5,000 / 150,000 / 10,000 — run whole in a child
 *   node (`--max-old-space-size=20480`, `--expose-gc`) so its peak RSS is its own. The child
 *   times parsing the YAML (`loadMs`), the build — machines, flanneld, CNI for every pod,
 *   control plane publishing them, kube-proxy's first sync on every node (`buildMs`) — and
 *   the sample traffic (`probeMs`: wall time per traced probe, the scenario's 3 items), and
 *   reports peak RSS (`peakRssMB`, getrusage's maxrss) and the largest heap seen at phase
 *   changes and every 2,000 progress steps (`peakHeapMB`). The harness's own figure is the
 *   child's whole wall time. One run, no warm-up.
 * scale.{N}nodes.policies (full mode): the same cluster with 1,000 NetworkPolicies (kube-router's agent on
 *   every node: its start-up is part of `buildMs`, and the probes include a denied
 *   flow); the child's CPU time (`cpuMs`, user + system) is steadier than wall time on a
 *   shared machine.
 */
import { SEMI_SPACE_MB } from '../src/cli/node-flags.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { generateScenario } from '../src/cli/generate.js';
import { parseScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';
import type { BenchOptions, BenchSpec } from './harness.js';

const SELF = fileURLToPath(import.meta.url);
const MB = 1024 * 1024;

/** NetworkPolicies of the `.policies` variants. */
const POLICIES = 1000;

function measure(nodes: number, policies: number): Record<string, number> {
  const pods = nodes * 30, services = nodes * 2;
  const text = generateScenario({ nodes, pods, services, policies, namespaces: 10, network: 'flannel', seed: 1 });
  const t0 = performance.now();
  const sc = parseScenario(text, `scale-${nodes}.yaml`);
  const t1 = performance.now();
  let peakHeap = process.memoryUsage().heapUsed;
  let phase = '';
  let steps = 0;
  const at: Record<string, number> = {};
  const res = runScenario(sc, {
    progress: (p) => {
      if (p !== phase || ++steps % 2000 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      if (p !== phase) { phase = p; at[p] ??= performance.now(); }
    },
  });
  const t3 = performance.now();
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  const bad = res.results.filter((r) => !r.ok);
  if (bad.length) throw new Error(`scale.${nodes}${policies ? '.policies' : ''}: ${bad.map((r) => `${r.name}: ${r.mismatch}`).join('; ')}`);
  const buildStart = at['build machines'] ?? t1, trafficStart = at.traffic ?? t3;
  return {
    loadMs: t1 - t0, buildMs: trafficStart - buildStart, probeMs: (t3 - trafficStart) / Math.max(1, res.results.length),
    peakRssMB: process.resourceUsage().maxRSS / 1024, peakHeapMB: peakHeap / MB, pods: res.cluster.pods.size, probes: res.results.length,
    cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  };
}

function inChild(nodes: number, policies: number): Record<string, number> {
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=20480', `--max-semi-space-size=${SEMI_SPACE_MB}`, SELF, '--scale-child', String(nodes), String(policies)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
}

function spec(nodes: number, policies: number): BenchSpec {
  return {
    name: `scale.${nodes}nodes${policies ? '.policies' : ''}`,
    description: policies
      ? `generated cluster, ${nodes} nodes / ${nodes * 30} pods / ${nodes * 2} services / ${policies} NetworkPolicies (flannel vxlan, kube-proxy iptables, kube-router's policy agent): load, build, the probes (child process, wall)`
      : `generated cluster, ${nodes} nodes / ${nodes * 30} pods / ${nodes * 2} services (flannel vxlan, kube-proxy iptables): load, build, 3 probes (child process, wall)`,
    mode: 'time',
    params: { nodes, pods: nodes * 30, services: nodes * 2, network: 'flannel', kubeProxy: 'iptables', ...(policies ? { policies } : {}) },
    warmup: 0, runs: 1,
    ...(nodes >= 5000 ? { target: { kind: 'max' as const, value: 60_000 } } : {}),
    run: () => ({ work: 1, extra: inChild(nodes, policies) }),
  };
}

export function scaleBenches(o: BenchOptions): BenchSpec[] {
  // --quick keeps to the policy-free 1,000-node cluster (netpol-scale.ts has the policy agents' phases at that size).
  return o.quick ? [spec(1000, 0)] : [1000, 5000].flatMap((n) => [spec(n, 0), spec(n, POLICIES)]);
}

// Child mode (see inChild): node dist/bench/scale.js --scale-child N [POLICIES]
if (process.argv[1] && path.resolve(process.argv[1]) === SELF && process.argv[2] === '--scale-child') {
  console.log(JSON.stringify(measure(Number(process.argv[3]), Number(process.argv[4] ?? 0))));
}
