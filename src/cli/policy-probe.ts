/**
 * The seam `podwire policy matrix --probe` plugs into.
 *
 * The matrix comes from the reference evaluator (src/kube/policy-eval.ts,
 * policy-reach.ts). `--probe` adds what real packets get: for every cell, one
 * connection attempt from the `from` pod to the `to` pod's address on the
 * cell's port and protocol, in a run of the scenario whose nodes enforce the
 * policies (the policy agent, src/netpol, on every node). The default prober is
 * src/scenario/policy-probe.ts's `probePolicyCells`; tests may register another
 * {@link ProbeFn} (`registerProbe(fn)`), or `undefined` to have none.
 *
 * The CLI then prints `observed` in json/csv, the observed table and the
 * comparison with the evaluator in text/markdown, and exits 1 when a cell differs.
 */
import type { Protocol } from '../kube/pod.js';
import { loadScenario } from '../scenario/load.js';
import { probePolicyCells } from '../scenario/policy-probe.js';

/** What one connection attempt got (the outcomes of `apps.ts`, narrowed as the upstream e2e probes see them). */
export type Observed = 'reply' | 'refused' | 'dropped';

/** One cell to probe: pods as `namespace/name`. */
export interface ProbeCell {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
}

export interface ProbeRequest {
  /** The scenario file (loaded and validated already by the CLI). */
  file: string;
  /** `--seed`, when given. */
  seed?: number;
  /** `--allow-outside-files`. */
  allowOutsideFiles?: boolean;
  /** `--at` in ns: the probes start once the scenario's events up to this time have run. */
  at: number;
  cells: readonly ProbeCell[];
}

/** Returns one outcome per cell, in the order of `req.cells`. */
export type ProbeFn = (req: ProbeRequest) => Observed[];

let registered: ProbeFn | undefined = (req) => probePolicyCells(loadScenario(req.file, { allowOutsideFiles: req.allowOutsideFiles }), { seed: req.seed, at: req.at, cells: req.cells });

/** Installs the packet prober (enforcement's side of the seam); `undefined` removes it. */
export function registerProbe(fn: ProbeFn | undefined): void {
  registered = fn;
}

/** The registered prober, if any. */
export function probeFn(): ProbeFn | undefined {
  return registered;
}

/** The message `--probe` exits 2 with while nothing is registered. */
export const PROBE_UNAVAILABLE =
  '--probe is not available yet: no packet prober is registered (src/cli/policy-probe.ts); it comes once scenario runs enforce policies (src/netpol started per node). Without --probe the matrix is the reference evaluator\'s';
