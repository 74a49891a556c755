/**
 * scenario.load (issue 9): `parseScenario` of a `podwire generate` scenario —
 * YAML parsing, the scenario's validation, every Pod/Service/Namespace
 * manifest validated as the apiserver does, the cross-checks — as
 * `podwire run` does before building anything. `--quick`: 1,000 nodes /
 * 30,000 pods / 2,000 services (6.8 MB); full mode also 5,000 / 150,000 /
 * 10,000 (34 MB, target ≤ 6 s). The text is generated once, untimed, with the
 * CLI's defaults (flannel, one namespace, no policies, seed 1), so it is the
 * file `podwire generate --nodes N --pods 30N --services 2N --network flannel
 * --seed 1` writes. Extras: `MB/s`, `cpuMs` (the process's user + system CPU
 * time during the load, GC threads included: on a shared machine a steadier
 * figure than the wall time), `heapAfterLoadMB` (heap in use after a full GC
 * with the loaded Scenario alive — and the generated texts, kept for the next
 * runs; needs --expose-gc) and `manifests`.
 */
import { generateScenario } from '../src/cli/generate.js';
import { parseScenario } from '../src/scenario/load.js';
import type { Scenario } from '../src/scenario/types.js';
import type { BenchOptions, BenchSpec } from './harness.js';

const MB = 1024 * 1024;
const texts = new Map<number, string>();

function scenarioText(nodes: number): string {
  let t = texts.get(nodes);
  if (t === undefined) {
    t = generateScenario({ nodes, pods: nodes * 30, services: nodes * 2, policies: 0, namespaces: 1, network: 'flannel', seed: 1 });
    texts.set(nodes, t);
  }
  return t;
}

interface Ctx {
  text: string;
  scenario?: Scenario;
  /** Returned by `run` as its extras; `teardown` (which the harness calls before keeping the sample) adds the heap figure. */
  extra: Record<string, number>;
}

function spec(nodes: number): BenchSpec {
  const bytes = Buffer.byteLength(scenarioText(nodes));
  return {
    name: `scenario.load.${nodes}nodes`,
    description: `parseScenario of the generated ${nodes}-node scenario (${(bytes / MB).toFixed(1)} MB: ${nodes * 30} pods, ${nodes * 2} services): YAML, validation, manifests`,
    mode: 'time',
    params: { nodes, pods: nodes * 30, services: nodes * 2, bytes },
    warmup: nodes >= 5000 ? 0 : 1, runs: 3,
    ...(nodes >= 5000 ? { target: { kind: 'max' as const, value: 6000 } } : {}),
    setup: (): Ctx => ({ text: scenarioText(nodes), extra: {} }),
    run: (c) => {
      const ctx = c as Ctx;
      const cpu0 = process.cpuUsage();
      ctx.scenario = parseScenario(ctx.text, `scale-${nodes}.yaml`);
      const cpu = process.cpuUsage(cpu0);
      // The harness turns an extra ending in '/s' from a per-run total into a rate.
      Object.assign(ctx.extra, { 'MB/s': bytes / MB, cpuMs: (cpu.user + cpu.system) / 1000, manifests: ctx.scenario.manifests.length });
      return { work: 1, extra: ctx.extra };
    },
    teardown: (c) => {
      const ctx = c as Ctx;
      if (global.gc) {
        global.gc();
        ctx.extra.heapAfterLoadMB = process.memoryUsage().heapUsed / MB;
      }
      ctx.scenario = undefined;
    },
  };
}

export function scenarioLoadBenches(o: BenchOptions): BenchSpec[] {
  return (o.quick ? [1000] : [1000, 5000]).map(spec);
}
