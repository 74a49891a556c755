/**
 * The rate estimator (net/netfilter/ipvs/ip_vs_est.c), computed lazily.
 *
 * Every 2 s the kernel folds the counters' growth into exponentially
 * weighted rates: rate = Δ << 9 for conns/packets (scaled 2^10, halved for
 * the 2 s), Δ << 4 for bytes (scaled 2^5); est += (rate − est) >> 2. Here the
 * ticks fall on multiples of 2 s from the namespace's IPVS load and are
 * replayed when a counter is about to change or the rates are read, so an
 * idle namespace schedules no events. Between two updates the counters do
 * not move, so every tick in the gap sees the same totals.
 */
import type { IpvsStats } from './types.js';

export const EST_PERIOD = 2e9;

function step(est: number, delta: number, shift: number): number {
  const rate = delta * 2 ** shift;
  return est + Math.floor((rate - est) / 4);
}

/** Brings `st`'s estimator up to `now` (ticks at origin + k × 2 s). */
export function estCatchUp(st: IpvsStats & { nextTick?: number }, origin: number, now: number): void {
  let next = st.nextTick ?? origin + EST_PERIOD;
  while (next <= now) {
    st.cpsE = step(st.cpsE, st.conns - st.lastConns, 9); st.lastConns = st.conns;
    st.inppsE = step(st.inppsE, st.inpkts - st.lastInpkts, 9); st.lastInpkts = st.inpkts;
    st.outppsE = step(st.outppsE, st.outpkts - st.lastOutpkts, 9); st.lastOutpkts = st.outpkts;
    st.inbpsE = step(st.inbpsE, st.inbytes - st.lastInbytes, 4); st.lastInbytes = st.inbytes;
    st.outbpsE = step(st.outbpsE, st.outbytes - st.lastOutbytes, 4); st.lastOutbytes = st.outbytes;
    next += EST_PERIOD;
    // Idle and fully decayed: the remaining ticks change nothing.
    if (st.cpsE === 0 && st.inppsE === 0 && st.outppsE === 0 && st.inbpsE === 0 && st.outbpsE === 0) {
      const skip = Math.floor((now - next) / EST_PERIOD) + 1;
      if (skip > 0) next += skip * EST_PERIOD;
    }
  }
  st.nextTick = next;
}
