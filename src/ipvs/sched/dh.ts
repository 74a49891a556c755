/**
 * dh — destination hashing (net/netfilter/ipvs/ip_vs_dh.c).
 *
 * A 256-bucket table (CONFIG_IP_VS_DH_TAB_BITS 8) filled by walking the
 * destination list round robin, one bucket per dest whatever its weight,
 * rebuilt when a dest is added or deleted (not on edit: dh has no upd_dest).
 * The bucket is hash_32(daddr, 8); there is no fallback: a dest that is not
 * AVAILABLE, has weight ≤ 0 or OVERLOAD gives no destination.
 */
import { DEST_F, type IpvsDest, type IpvsScheduler, type IpvsService } from '../types.js';
import { hash32 } from './util.js';

export const DH_TAB_BITS = 8;
const DH_TAB_SIZE = 1 << DH_TAB_BITS;

interface DhState { buckets: (IpvsDest | null)[] }

export function dhHashkey(daddr: number): number {
  return hash32(daddr, DH_TAB_BITS);
}

function reassign(svc: IpvsService): void {
  const s = svc.schedData as DhState;
  const list = svc.dests;
  for (let i = 0; i < DH_TAB_SIZE; i++) s.buckets[i] = list.length === 0 ? null : list[i % list.length];
}

export function dhScheduler(): IpvsScheduler {
  return {
    name: 'dh',
    initService(svc) {
      svc.schedData = { buckets: new Array<IpvsDest | null>(DH_TAB_SIZE).fill(null) } satisfies DhState;
      reassign(svc);
    },
    addDest: (svc) => reassign(svc),
    delDest: (svc) => reassign(svc),
    schedule(svc, p) {
      const d = (svc.schedData as DhState).buckets[dhHashkey(p.daddr)];
      if (!d || (d.flags & DEST_F.AVAILABLE) === 0 || d.weight <= 0 || (d.flags & DEST_F.OVERLOAD) !== 0) return null;
      return d;
    },
  };
}

/** The table, for tests. */
export function dhBuckets(svc: IpvsService): readonly (IpvsDest | null)[] {
  return (svc.schedData as DhState).buckets;
}
