/**
 * lc — least connection (net/netfilter/ipvs/ip_vs_lc.c): the dest with the
 * lowest overhead (activeconns * 256 + inactconns), skipping OVERLOAD and
 * weight 0; weights otherwise play no part. Ties keep the first in list order
 * (a later dest must be strictly lower).
 */
import { destOverhead, type IpvsDest, type IpvsScheduler } from '../types.js';
import { overloaded } from './util.js';

export function lcScheduler(): IpvsScheduler {
  return {
    name: 'lc',
    schedule(svc) {
      let least: IpvsDest | null = null;
      let loh = 0;
      for (const d of svc.dests) {
        if (overloaded(d) || d.weight === 0) continue;
        const doh = destOverhead(d);
        if (!least || doh < loh) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  };
}
