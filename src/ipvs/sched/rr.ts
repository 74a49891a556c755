/**
 * rr — round robin (net/netfilter/ipvs/ip_vs_rr.c).
 *
 * svc->sched_data is a position in the destination list (the list head or the
 * dest chosen last). Scheduling walks on from there, wrapping through the
 * head once, and takes the first dest with weight > 0 and no OVERLOAD flag;
 * when it comes back to where it started, there is no destination. Deleting
 * the dest under the position moves the position to its predecessor (or the
 * head), so the walk resumes after it.
 */
import { DEST_F, type IpvsDest, type IpvsScheduler, type IpvsService } from '../types.js';

interface RrData { pos: IpvsDest | null }

export function eligible(d: IpvsDest): boolean {
  return (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0;
}

export function rrScheduler(): IpvsScheduler {
  return {
    name: 'rr',
    initService(svc: IpvsService) { svc.schedData = { pos: null } satisfies RrData; },
    delDest(svc: IpvsService, dest: IpvsDest, at: number) {
      // The dest is already unlinked: the position moves to its predecessor (or the head).
      const data = svc.schedData as RrData;
      if (data.pos === dest) data.pos = at > 0 ? svc.dests[at - 1] : null;
    },
    schedule(svc: IpvsService) {
      const data = svc.schedData as RrData;
      const list = svc.dests;
      const n = list.length;
      const start = data.pos === null ? -1 : list.indexOf(data.pos);
      // From after the position to the end, then (if the position was a dest) from the start up to it.
      for (let k = 1; k <= n; k++) {
        const i = start < 0 ? k - 1 : (start + k) % n;
        const d = list[i];
        if (eligible(d)) {
          data.pos = d;
          return d;
        }
      }
      return null;
    },
  };
}
