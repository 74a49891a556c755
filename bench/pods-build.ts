/**
 * pods.build benchmarks (issue 9): what it costs to build a cluster's pods, kube-proxy aside.
 *
 * pods.build.{N}nodes: `podwire generate`'s scenario of N nodes, 30·N pods, 2·N Services
 *   (flannel vxlan, 15 endpoints per Service) — `--quick` 1,000 nodes / 30,000 pods, full mode
 *   Kubernetes' limits 5,000 / 150,000 — built by buildCluster in a child node
 *   (`--max-old-space-size=20480`, `--expose-gc`) until the control plane starts kube-proxy:
 *   machines, flanneld, CNI ADD for every pod, then the apiserver publishing every Pod with the
 *   endpoints controllers writing each Service's Endpoints and EndpointSlices. The progress
 *   callback stops the build when the `control plane: kube-proxy` phase begins (kube-proxy's
 *   rules are measured elsewhere: kube-proxy.*, scale.*), which is what `kubeProxy: {mode: none}`
 *   would leave out, except that the Services and their endpoints are still made.
 *   The headline is the wall time of the four phases `build machines` + `build flanneld` +
 *   `build pods` + `control plane: pods` (target ≤ 15 s at 5,000 nodes). Extras: `buildPodUs`
 *   and `publishPodUs` (µs per pod of the `build pods` and `control plane: pods` phases),
 *   `cpuMs` (user + system CPU time of those phases: steadier than wall time on a shared machine;
 *   it includes the GC's helper threads), `machinesMs`, `flanneldMs`, `bytesPerPod` (heap used after a full GC at the stop, minus
 *   before the build, over the pods: machines and the store included), `heapMB`, `rssMB`
 *   (process RSS after that GC; target ≤ 4 GiB at 5,000 nodes) and `maxRssMB` (getrusage).
 */
import { SEMI_SPACE_MB } from '../src/cli/node-flags.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { generateScenario } from '../src/cli/generate.js';
import { parseScenario } from '../src/scenario/load.js';
import { buildCluster } from '../src/scenario/build.js';
import type { BenchOptions, BenchSpec } from './harness.js';

const SELF = fileURLToPath(import.meta.url);
const MB = 1024 * 1024;
const TIMED = ['build machines', 'build flanneld', 'build pods', 'control plane: pods'];
const STOP_AT = 'control plane: kube-proxy';

class StopBuild extends Error {}

function measure(nodes: number): Record<string, number> {
  const pods = nodes * 30, services = nodes * 2;
  const sc = parseScenario(generateScenario({ nodes, pods, services, policies: 0, namespaces: 10, network: 'flannel', seed: 1 }), `pods-build-${nodes}.yaml`);
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const at = new Map<string, number>();
  // CPU time (user + system) at each phase start: steadier than wall time on a shared machine.
  const cpuAt = new Map<string, number>();
  const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  let mem: NodeJS.MemoryUsage | null = null;
  try {
    buildCluster(sc, {
      progress: (phase) => {
        if (at.has(phase)) return;
        at.set(phase, performance.now());
        cpuAt.set(phase, cpuMs());
        if (phase !== STOP_AT) return;
        global.gc?.();
        mem = process.memoryUsage();
        throw new StopBuild();
      },
    });
  } catch (e) {
    if (!(e instanceof StopBuild)) throw e;
  }
  if (!mem) throw new Error(`pods.build.${nodes}: the build never reached "${STOP_AT}"`);
  const m = mem as NodeJS.MemoryUsage;
  // A phase ends when the next one (in the order they began) begins.
  const order = [...at.entries()];
  const phaseMs = (p: string) => {
    const i = order.findIndex(([k]) => k === p);
    if (i < 0 || i + 1 >= order.length) throw new Error(`pods.build.${nodes}: no phase "${p}" or none after it`);
    return order[i + 1][1] - order[i][1];
  };
  const [machinesMs, flanneldMs, buildMs, publishMs] = TIMED.map(phaseMs);
  const cpuStart = cpuAt.get(TIMED[0]), cpuEnd = cpuAt.get(STOP_AT);
  return {
    totalMs: machinesMs + flanneldMs + buildMs + publishMs, cpuMs: cpuEnd !== undefined && cpuStart !== undefined ? cpuEnd - cpuStart : NaN, machinesMs, flanneldMs,
    buildPodUs: (buildMs * 1000) / pods, publishPodUs: (publishMs * 1000) / pods,
    bytesPerPod: (m.heapUsed - heap0) / pods, heapMB: m.heapUsed / MB, rssMB: m.rss / MB,
    maxRssMB: process.resourceUsage().maxRSS / 1024, pods,
  };
}

function inChild(nodes: number): Record<string, number> {
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=20480', `--max-semi-space-size=${SEMI_SPACE_MB}`, SELF, '--pods-build-child', String(nodes)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
}

function spec(nodes: number): BenchSpec {
  return {
    name: `pods.build.${nodes}nodes`,
    description: `generated cluster, ${nodes} nodes / ${nodes * 30} pods / ${nodes * 2} services (flannel vxlan): machines, flanneld, CNI, pods published; stops before kube-proxy (child process)`,
    mode: 'time',
    params: { nodes, pods: nodes * 30, services: nodes * 2, network: 'flannel', kubeProxy: 'not started' },
    warmup: 0, runs: 1,
    ...(nodes >= 5000 ? { target: { kind: 'max' as const, value: 15_000 } } : {}),
    // The headline is the child's four phases, not the harness's wall time around it.
    run: () => { const extra = inChild(nodes); return { work: 1, extra }; },
  };
}

export function podsBuildBenches(o: BenchOptions): BenchSpec[] {
  return (o.quick ? [1000] : [1000, 5000]).map(spec);
}

// Child mode (see inChild): node dist/bench/pods-build.js --pods-build-child N
if (process.argv[1] && path.resolve(process.argv[1]) === SELF && process.argv[2] === '--pods-build-child') {
  console.log(JSON.stringify(measure(Number(process.argv[3]))));
}
