/**
 * sed — shortest expected delay (net/netfilter/ipvs/ip_vs_sed.c): wlc's
 * two-stage walk with overhead activeconns + 1 (inactive connections are
 * ignored).
 */
import type { IpvsDest, IpvsScheduler } from '../types.js';
import { weightedLeast } from './wlc.js';

export function sedOverhead(d: IpvsDest): number {
  return d.activeConns + 1;
}

export function sedScheduler(): IpvsScheduler {
  return { name: 'sed', schedule: (svc) => weightedLeast(svc, sedOverhead) };
}
