/**
 * lblcr — locality-based least connection with replication
 * (net/netfilter/ipvs/ip_vs_lblcr.c).
 *
 * A per-service cache daddr → set of dests (1024 buckets by hash_32(daddr,
 * 10)); sets add at the head. On a hit: n = the set's weighted least-loaded
 * member (first member without OVERLOAD, with weight > 0 and AVAILABLE,
 * then strictly better later ones that are AVAILABLE); if the set has more
 * than one member and was last modified more than lblcr_expiration ago, its
 * weighted most-loaded member (weight > 0) is removed. If n is missing or
 * "overloaded" (lblc's test), wlc's choice over the service is added to the
 * set and used. A miss creates the entry with wlc's choice. The cache and its
 * GC are lblc's (locality-cache.ts), the full check against lblcr_expiration.
 */
import { DEST_F, destOverhead, destPut, type IpvsDest, type IpvsScheduler, type IpvsService, type SchedEnv } from '../types.js';
import { weightedLeast } from './wlc.js';
import { lbOverloaded } from './lblc.js';
import { LocalityCache, LOCALITY_TAB_BITS, localityHashkey } from './locality-cache.js';

export const LBLCR_TAB_BITS = LOCALITY_TAB_BITS;

export interface DestSet { members: IpvsDest[]; lastmod: number }
export interface LblcrEntry { addr: number; set: DestSet; lastuse: number }

type LblcrTable = LocalityCache<LblcrEntry>;

export function lblcrHashkey(addr: number): number {
  return localityHashkey(addr);
}

function setInsert(set: DestSet, dest: IpvsDest, check: boolean, now: number): void {
  if (check && set.members.includes(dest)) return;
  dest.refs++;
  set.members.unshift(dest);
  set.lastmod = now;
}

function setErase(set: DestSet, dest: IpvsDest, now: number): void {
  const i = set.members.indexOf(dest);
  if (i < 0) return;
  set.lastmod = now;
  set.members.splice(i, 1);
  destPut(dest);
}

/** ip_vs_dest_set_min. */
function setMin(set: DestSet): IpvsDest | null {
  const m = set.members;
  let i = 0;
  let least: IpvsDest | null = null;
  for (; i < m.length; i++) {
    const d = m[i];
    if (d.flags & DEST_F.OVERLOAD) continue;
    if (d.weight > 0 && d.flags & DEST_F.AVAILABLE) { least = d; break; }
  }
  if (!least) return null;
  let loh = destOverhead(least);
  for (i++; i < m.length; i++) {
    const d = m[i];
    if (d.flags & DEST_F.OVERLOAD) continue;
    const doh = destOverhead(d);
    if (loh * d.weight > doh * least.weight && d.flags & DEST_F.AVAILABLE) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/** ip_vs_dest_set_max. */
function setMax(set: DestSet): IpvsDest | null {
  const m = set.members;
  let i = 0;
  let most: IpvsDest | null = null;
  for (; i < m.length; i++) if (m[i].weight > 0) { most = m[i]; break; }
  if (!most) return null;
  let moh = destOverhead(most);
  for (i++; i < m.length; i++) {
    const d = m[i];
    const doh = destOverhead(d);
    if (moh * d.weight < doh * most.weight && d.weight > 0) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

export function lblcrScheduler(env: SchedEnv): IpvsScheduler {
  return {
    name: 'lblcr',
    initService(svc) {
      svc.schedData = new LocalityCache<LblcrEntry>(env, 'lblcr_expiration', (e) => { for (const d of e.set.members) destPut(d); });
    },
    catchUp(svc) { (svc.schedData as LblcrTable).catchUp(); },
    doneService(svc) { (svc.schedData as LblcrTable).done(); },
    schedule(svc, p) {
      const tbl = svc.schedData as LblcrTable;
      tbl.catchUp();
      const now = env.now();
      const en = tbl.get(p.daddr);
      if (en) {
        en.lastuse = now;
        let dest = setMin(en.set);
        if (en.set.members.length > 1 && now > en.set.lastmod + env.sysctl('lblcr_expiration') * 1e9) {
          const m = setMax(en.set);
          if (m) setErase(en.set, m, now);
        }
        if (dest && !lbOverloaded(dest, svc)) return dest;
        dest = weightedLeast(svc, destOverhead);
        if (!dest) return null;
        if (!tbl.dead) setInsert(en.set, dest, true, now);
        return dest;
      }
      const dest = weightedLeast(svc, destOverhead);
      if (!dest) return null;
      if (!tbl.dead) {
        const e: LblcrEntry = { addr: p.daddr, set: { members: [], lastmod: now }, lastuse: now };
        setInsert(e.set, dest, false, now);
        tbl.add(e);
      }
      return dest;
    },
  };
}

export function lblcrEntries(svc: IpvsService): { entries: number; get(addr: number): LblcrEntry | undefined } {
  const tbl = svc.schedData as LblcrTable;
  svc.sched?.catchUp?.(svc);
  return { entries: tbl.entries, get: (a) => tbl.get(a) };
}
