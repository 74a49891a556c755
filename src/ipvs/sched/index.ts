/**
 * The scheduler registry (ip_vs_sched.c: ip_vs_scheduler_get, which loads
 * ip_vs_<name> on demand). One module per scheduler, as in the kernel.
 */
import type { IpvsScheduler, SchedEnv } from '../types.js';
import { rrScheduler } from './rr.js';
import { wrrScheduler } from './wrr.js';
import { lcScheduler } from './lc.js';
import { wlcScheduler } from './wlc.js';
import { lblcScheduler } from './lblc.js';
import { lblcrScheduler } from './lblcr.js';
import { dhScheduler } from './dh.js';
import { shScheduler } from './sh.js';
import { sedScheduler } from './sed.js';
import { nqScheduler } from './nq.js';
import { mhScheduler } from './mh.js';

export type SchedFactory = (env: SchedEnv) => IpvsScheduler;

const registry = new Map<string, SchedFactory>([
  ['rr', rrScheduler],
  ['wrr', wrrScheduler],
  ['lc', lcScheduler],
  ['wlc', wlcScheduler],
  ['lblc', lblcScheduler],
  ['lblcr', lblcrScheduler],
  ['dh', dhScheduler],
  ['sh', shScheduler],
  ['sed', sedScheduler],
  ['nq', nqScheduler],
  ['mh', mhScheduler],
]);

/** The scheduler module `name`, or undefined (modprobe ip_vs_<name> fails: ENOENT). */
export function schedulerFactory(name: string): SchedFactory | undefined {
  return registry.get(name);
}

export function schedulerNames(): string[] {
  return [...registry.keys()];
}
