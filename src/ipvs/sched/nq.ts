/**
 * nq — never queue (net/netfilter/ipvs/ip_vs_nq.c): in list order, skipping
 * OVERLOAD and weight 0, the first dest with no active connection is taken at
 * once; otherwise the lowest (activeconns + 1) / weight, a later dest winning
 * only when strictly better.
 */
import type { IpvsDest, IpvsScheduler } from '../types.js';
import { overloaded } from './util.js';
import { sedOverhead } from './sed.js';

export function nqScheduler(): IpvsScheduler {
  return {
    name: 'nq',
    schedule(svc) {
      let least: IpvsDest | null = null;
      let loh = 0;
      for (const d of svc.dests) {
        if (overloaded(d) || d.weight === 0) continue;
        const doh = sedOverhead(d);
        if (d.activeConns === 0) return d;
        if (!least || loh * d.weight > doh * least.weight) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  };
}
