/**
 * The scheduler registry (ip_vs_sched.c: ip_vs_scheduler_get, which loads
 * ip_vs_<name> on demand). One module per scheduler, as in the kernel.
 */
import type { IpvsScheduler, SchedEnv } from '../types.js';
import { rrScheduler } from './rr.js';

export type SchedFactory = (env: SchedEnv) => IpvsScheduler;

const registry = new Map<string, SchedFactory>([
  ['rr', rrScheduler],
]);

/** The scheduler module `name`, or undefined (modprobe ip_vs_<name> fails: ENOENT). */
export function schedulerFactory(name: string): SchedFactory | undefined {
  return registry.get(name);
}

export function schedulerNames(): string[] {
  return [...registry.keys()];
}
