/**
 * wrr — weighted round robin (net/netfilter/ipvs/ip_vs_wrr.c).
 *
 * State (struct ip_vs_wrr_mark): cl, the current dest or the list head; di,
 * the gcd of the positive weights (1 if none); mw = max weight − (di − 1);
 * cw, the current weight, starting at mw. Scheduling walks on from cl for a
 * dest without OVERLOAD whose weight ≥ cw; each time the walk passes the head,
 * cw −= di, and at cw ≤ 0 it goes back to mw. The walk gives up (no dest)
 * once every dest was checked at cw ≤ di ("last pass"). Adding, deleting or
 * editing a dest resets cl to the head and recomputes di and mw; cw is kept
 * unless above the new mw or 0, and with di > 1 it is rounded to a multiple
 * of di plus 1.
 */
import { DEST_F, type IpvsDest, type IpvsScheduler, type IpvsService } from '../types.js';
import { gcd } from './util.js';

interface WrrMark { cl: IpvsDest | null; cw: number; mw: number; di: number }

function gcdWeight(svc: IpvsService): number {
  let g = 0;
  for (const d of svc.dests) if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
  return g || 1;
}

function maxWeight(svc: IpvsService): number {
  let w = 0;
  for (const d of svc.dests) if (d.weight > w) w = d.weight;
  return w;
}

function changed(svc: IpvsService): void {
  const m = svc.schedData as WrrMark;
  m.cl = null;
  m.di = gcdWeight(svc);
  m.mw = maxWeight(svc) - (m.di - 1);
  if (m.cw > m.mw || !m.cw) m.cw = m.mw;
  else if (m.di > 1) m.cw = Math.trunc(m.cw / m.di) * m.di + 1;
}

export function wrrScheduler(): IpvsScheduler {
  return {
    name: 'wrr',
    initService(svc) {
      const di = gcdWeight(svc);
      const mw = maxWeight(svc) - (di - 1);
      svc.schedData = { cl: null, di, mw, cw: mw } satisfies WrrMark;
    },
    addDest: (svc) => changed(svc),
    delDest: (svc) => changed(svc),
    updDest: (svc) => changed(svc),
    schedule(svc) {
      const m = svc.schedData as WrrMark;
      const list = svc.dests;
      const n = list.length;
      // Positions: -1 is the list head, 0..n-1 the dests.
      let pos = m.cl === null ? -1 : list.indexOf(m.cl);
      if (m.mw === 0) return null;
      const last = pos;
      let stop = -2; // none
      let lastPass = false, restarted = false;
      for (;;) {
        // list_for_each_entry_continue: from after pos to the end.
        for (pos = pos + 1; pos < n; pos++) {
          const d = list[pos];
          if ((d.flags & DEST_F.OVERLOAD) === 0 && d.weight >= m.cw) {
            m.cl = d;
            return d;
          }
          if (pos === stop) {
            m.cl = d;
            return null;
          }
        }
        pos = -1; // at the head
        m.cw -= m.di;
        if (m.cw <= 0) {
          m.cw = m.mw;
          if (lastPass || last === -1) {
            m.cl = null;
            return null;
          }
          restarted = true;
        }
        lastPass = m.cw <= m.di;
        if (lastPass && restarted && last !== -1) stop = last;
      }
    },
  };
}
