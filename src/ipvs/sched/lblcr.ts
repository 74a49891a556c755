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
 * set and used. A miss creates the entry with wlc's choice. GC as lblc
 * (60 s periodic checks replayed lazily, 6 min idle above 16 × 1024
 * entries, a full check every 30th run against lblcr_expiration).
 */
import { DEST_F, destOverhead, destPut, type IpvsDest, type IpvsScheduler, type IpvsService, type SchedEnv } from '../types.js';
import { hash32 } from './util.js';
import { weightedLeast } from './wlc.js';
import { CHECK_EXPIRE_INTERVAL, COUNT_FOR_FULL_EXPIRATION, ENTRY_TIMEOUT, lbOverloaded } from './lblc.js';

export const LBLCR_TAB_BITS = 10;
const TAB_SIZE = 1 << LBLCR_TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;

export interface DestSet { members: IpvsDest[]; lastmod: number }
export interface LblcrEntry { addr: number; set: DestSet; lastuse: number }

interface LblcrTable {
  buckets: LblcrEntry[][];
  entries: number;
  maxSize: number;
  rover: number;
  counter: number;
  dead: boolean;
  next: number;
  busy: boolean;
}

export function lblcrHashkey(addr: number): number {
  return hash32(addr, LBLCR_TAB_BITS);
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

function free(tbl: LblcrTable, b: LblcrEntry[], i: number): void {
  for (const d of b[i].set.members) destPut(d);
  b.splice(i, 1);
  tbl.entries--;
}

function get(tbl: LblcrTable, addr: number): LblcrEntry | undefined {
  for (const en of tbl.buckets[lblcrHashkey(addr)]) if (en.addr === addr) return en;
  return undefined;
}

function checkExpire(env: SchedEnv, tbl: LblcrTable, now: number): void {
  if (tbl.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
    const exp = env.sysctl('lblcr_expiration') * 1e9;
    let j = tbl.rover;
    for (let i = 0; i < TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      const b = tbl.buckets[j];
      for (let k = 0; k < b.length; k++) if (!(b[k].lastuse + exp > now)) free(tbl, b, k--);
    }
    tbl.rover = j;
    tbl.counter = 1;
  } else if (tbl.entries <= tbl.maxSize) {
    tbl.counter++;
  } else {
    let goal = Math.trunc(((tbl.entries - tbl.maxSize) * 4) / 3);
    if (goal > tbl.maxSize / 2) goal = Math.trunc(tbl.maxSize / 2);
    let j = tbl.rover;
    for (let i = 0; i < TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      const b = tbl.buckets[j];
      for (let k = 0; k < b.length; k++) {
        if (now < b[k].lastuse + ENTRY_TIMEOUT) continue;
        free(tbl, b, k--);
        goal--;
      }
      if (goal <= 0) break;
    }
    tbl.rover = j;
  }
}

function catchUp(env: SchedEnv, tbl: LblcrTable): void {
  // Not re-entered: dropping an entry may let the trash timer catch up, which asks every scheduler to.
  if (tbl.busy) return;
  tbl.busy = true;
  const now = env.now();
  while (!tbl.dead && tbl.next <= now) {
    const t = tbl.next;
    tbl.next += CHECK_EXPIRE_INTERVAL;
    checkExpire(env, tbl, t);
  }
  tbl.busy = false;
}

export function lblcrScheduler(env: SchedEnv): IpvsScheduler {
  return {
    name: 'lblcr',
    initService(svc) {
      const tbl: LblcrTable = {
        buckets: Array.from({ length: TAB_SIZE }, () => []),
        entries: 0, maxSize: TAB_SIZE * 16, rover: 0, counter: 1, dead: false, next: env.now() + CHECK_EXPIRE_INTERVAL, busy: false,
      };
      svc.schedData = tbl;
    },
    catchUp(svc) { catchUp(env, svc.schedData as LblcrTable); },
    doneService(svc) {
      const tbl = svc.schedData as LblcrTable;
      catchUp(env, tbl);
      tbl.dead = true;
      for (const b of tbl.buckets) while (b.length) free(tbl, b, 0);
    },
    schedule(svc, p) {
      const tbl = svc.schedData as LblcrTable;
      catchUp(env, tbl);
      const now = env.now();
      const en = get(tbl, p.daddr);
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
        tbl.buckets[lblcrHashkey(p.daddr)].unshift(e);
        tbl.entries++;
      }
      return dest;
    },
  };
}

export function lblcrEntries(svc: IpvsService): { entries: number; get(addr: number): LblcrEntry | undefined } {
  const tbl = svc.schedData as LblcrTable;
  svc.sched?.catchUp?.(svc);
  return { entries: tbl.entries, get: (a) => get(tbl, a) };
}
