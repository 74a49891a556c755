/**
 * wlc — weighted least connection (net/netfilter/ipvs/ip_vs_wlc.c).
 *
 * The first dest without OVERLOAD and with weight > 0 is the start; every
 * later dest without OVERLOAD replaces it only when strictly better:
 * loh * w(dest) > doh * w(least) (overhead = activeconns * 256 +
 * inactconns; 64-bit products, so no overflow). A weight-0 dest after the
 * start can never win (0 > x is false).
 */
import { destOverhead, type IpvsDest, type IpvsScheduler, type IpvsService } from '../types.js';
import { overloaded } from './util.js';

/** The two-stage weighted least-load walk wlc, sed, lblc and lblcr share, over `overhead`. */
export function weightedLeast(svc: IpvsService, overhead: (d: IpvsDest) => number): IpvsDest | null {
  const list = svc.dests;
  let i = 0;
  let least: IpvsDest | null = null;
  for (; i < list.length; i++) {
    const d = list[i];
    if (!overloaded(d) && d.weight > 0) {
      least = d;
      break;
    }
  }
  if (!least) return null;
  let loh = overhead(least);
  for (i++; i < list.length; i++) {
    const d = list[i];
    if (overloaded(d)) continue;
    const doh = overhead(d);
    if (loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

export function wlcScheduler(): IpvsScheduler {
  return { name: 'wlc', schedule: (svc) => weightedLeast(svc, destOverhead) };
}
