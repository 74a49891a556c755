/**
 * scenario.run: wall time of runScenarioFile('scenarios/same-node-bridge.yaml', {})
 * — YAML load and validation, cluster build, the five traffic items, judging; no trace, no pcap.
 */
import { runScenarioFile } from '../src/scenario/run.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { SCENARIO } from './bridge-frames.js';

export function scenarioRun(o: BenchOptions): BenchSpec {
  return {
    name: 'scenario.run',
    description: `wall time of runScenarioFile('${SCENARIO}', {}) (load + build + run + judge)`,
    mode: 'time',
    params: { scenario: SCENARIO },
    warmup: o.quick ? 3 : 10, runs: o.quick ? 10 : 30,
    run: () => {
      const r = runScenarioFile(SCENARIO, {});
      const failed = r.results.filter((x) => !x.ok);
      if (failed.length) throw new Error(`scenario.run: ${failed.map((f) => `${f.name}: ${f.mismatch}`).join('; ')}`);
      return { work: 1, extra: { events: r.events } };
    },
  };
}
