/**
 * lblc — locality-based least connection (net/netfilter/ipvs/ip_vs_lblc.c).
 *
 * A per-service cache daddr → dest, 1024 buckets (CONFIG_IP_VS_LBLC_TAB_BITS
 * 10) by hash_32(daddr, 10), newest first in a bucket. A hit is used (and its
 * lastuse refreshed) while its dest is AVAILABLE, has weight > 0 and is not
 * "overloaded" (activeconns > weight and some dest of the service has
 * activeconns * 2 < weight); otherwise wlc's walk chooses and the entry is
 * replaced. Entries hold a reference on their dest.
 *
 * The cache and its garbage collection (60 s checks replayed lazily, 6 min
 * idle above 16 × 1024 entries, a full check every 30th run against
 * lblc_expiration, default 24 h) are shared with lblcr: locality-cache.ts.
 */
import { DEST_F, destOverhead, destPut, type IpvsDest, type IpvsScheduler, type IpvsService, type SchedEnv } from '../types.js';
import { weightedLeast } from './wlc.js';
import { LocalityCache, LOCALITY_TAB_BITS, localityHashkey } from './locality-cache.js';

export { CHECK_EXPIRE_INTERVAL, ENTRY_TIMEOUT, COUNT_FOR_FULL_EXPIRATION } from './locality-cache.js';
export const LBLC_TAB_BITS = LOCALITY_TAB_BITS;

export interface LblcEntry { addr: number; dest: IpvsDest; lastuse: number }

type LblcTable = LocalityCache<LblcEntry>;

export function lblcHashkey(addr: number): number {
  return localityHashkey(addr);
}

/** is_overloaded of lblc/lblcr: busier than its weight while another dest is under half of its own. */
export function lbOverloaded(dest: IpvsDest, svc: IpvsService): boolean {
  if (dest.activeConns > dest.weight) {
    for (const d of svc.dests) if (d.activeConns * 2 < d.weight) return true;
  }
  return false;
}

export function lblcScheduler(env: SchedEnv): IpvsScheduler {
  return {
    name: 'lblc',
    initService(svc) {
      svc.schedData = new LocalityCache<LblcEntry>(env, 'lblc_expiration', (e) => destPut(e.dest));
    },
    catchUp(svc) { (svc.schedData as LblcTable).catchUp(); },
    doneService(svc) { (svc.schedData as LblcTable).done(); },
    schedule(svc, p) {
      const tbl = svc.schedData as LblcTable;
      tbl.catchUp();
      const en = tbl.get(p.daddr);
      if (en) {
        en.lastuse = env.now();
        const d = en.dest;
        if ((d.flags & DEST_F.AVAILABLE) !== 0 && d.weight > 0 && !lbOverloaded(d, svc)) return d;
      }
      const dest = weightedLeast(svc, destOverhead);
      if (!dest) return null;
      if (!tbl.dead) {
        // ip_vs_lblc_new: keep an entry already pointing there, else replace it.
        const b = tbl.bucket(p.daddr);
        const i = b.findIndex((e) => e.addr === p.daddr);
        if (i >= 0 && b[i]!.dest === dest) return dest;
        if (i >= 0) tbl.del(b, i);
        dest.refs++;
        tbl.add({ addr: p.daddr, dest, lastuse: env.now() });
      }
      return dest;
    },
  };
}

/** The cache entries, for tests and traces. */
export function lblcEntries(svc: IpvsService): { entries: number; get(addr: number): LblcEntry | undefined } {
  const tbl = svc.schedData as LblcTable;
  svc.sched?.catchUp?.(svc);
  return { entries: tbl.entries, get: (a) => tbl.get(a) };
}
