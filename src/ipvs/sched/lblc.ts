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
 * Garbage collection, every CHECK_EXPIRE_INTERVAL (60 s) on the virtual
 * clock from the service's creation (replayed lazily before each scheduling
 * decision and before the cache is read: only scheduling changes the cache,
 * so the replay is exact and an idle service schedules no events): every 30th run (counter % 30 == 0; the counter starts at 1) is a
 * full check that drops the entries unused for lblc_expiration (sysctl,
 * default 24 h); otherwise, only above max_size (16 × 1024 entries), entries
 * idle for ENTRY_TIMEOUT (6 min) are dropped, walking the buckets from the
 * rover, until goal = min((entries − max) × 4 / 3, max / 2) are gone.
 */
import { DEST_F, destOverhead, destPut, type IpvsDest, type IpvsScheduler, type IpvsService, type SchedEnv } from '../types.js';
import { hash32 } from './util.js';
import { weightedLeast } from './wlc.js';

export const LBLC_TAB_BITS = 10;
const TAB_SIZE = 1 << LBLC_TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;
export const CHECK_EXPIRE_INTERVAL = 60e9;
export const ENTRY_TIMEOUT = 6 * 60e9;
export const COUNT_FOR_FULL_EXPIRATION = 30;

export interface LblcEntry { addr: number; dest: IpvsDest; lastuse: number }

interface LblcTable {
  buckets: LblcEntry[][];
  entries: number;
  maxSize: number;
  rover: number;
  counter: number;
  dead: boolean;
  /** The next periodic check (ns). */
  next: number;
  busy: boolean;
}

export function lblcHashkey(addr: number): number {
  return hash32(addr, LBLC_TAB_BITS);
}

/** is_overloaded of lblc/lblcr: busier than its weight while another dest is under half of its own. */
export function lbOverloaded(dest: IpvsDest, svc: IpvsService): boolean {
  if (dest.activeConns > dest.weight) {
    for (const d of svc.dests) if (d.activeConns * 2 < d.weight) return true;
  }
  return false;
}

function get(tbl: LblcTable, addr: number): LblcEntry | undefined {
  for (const en of tbl.buckets[lblcHashkey(addr)]) if (en.addr === addr) return en;
  return undefined;
}

function del(tbl: LblcTable, b: LblcEntry[], i: number): void {
  destPut(b[i].dest);
  b.splice(i, 1);
  tbl.entries--;
}

/** ip_vs_lblc_check_expire at `now`. */
function checkExpire(env: SchedEnv, tbl: LblcTable, now: number): void {
  if (tbl.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
    const exp = env.sysctl('lblc_expiration') * 1e9;
    let j = tbl.rover;
    for (let i = 0; i < TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      const b = tbl.buckets[j];
      for (let k = 0; k < b.length; k++) if (!(now < b[k].lastuse + exp)) del(tbl, b, k--);
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
        del(tbl, b, k--);
        goal--;
      }
      if (goal <= 0) break;
    }
    tbl.rover = j;
  }
}

/** Replays the periodic checks due by now. */
function catchUp(env: SchedEnv, tbl: LblcTable): void {
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

export function lblcScheduler(env: SchedEnv): IpvsScheduler {
  return {
    name: 'lblc',
    initService(svc) {
      const tbl: LblcTable = {
        buckets: Array.from({ length: TAB_SIZE }, () => []),
        entries: 0, maxSize: TAB_SIZE * 16, rover: 0, counter: 1, dead: false, next: env.now() + CHECK_EXPIRE_INTERVAL, busy: false,
      };
      svc.schedData = tbl;
    },
    catchUp(svc) { catchUp(env, svc.schedData as LblcTable); },
    doneService(svc) {
      const tbl = svc.schedData as LblcTable;
      catchUp(env, tbl);
      tbl.dead = true;
      for (const b of tbl.buckets) while (b.length) del(tbl, b, 0);
    },
    schedule(svc, p) {
      const tbl = svc.schedData as LblcTable;
      catchUp(env, tbl);
      const en = get(tbl, p.daddr);
      if (en) {
        en.lastuse = env.now();
        const d = en.dest;
        if ((d.flags & DEST_F.AVAILABLE) !== 0 && d.weight > 0 && !lbOverloaded(d, svc)) return d;
      }
      const dest = weightedLeast(svc, destOverhead);
      if (!dest) return null;
      if (!tbl.dead) {
        // ip_vs_lblc_new: keep an entry already pointing there, else replace it.
        const b = tbl.buckets[lblcHashkey(p.daddr)];
        const i = b.findIndex((e) => e.addr === p.daddr);
        if (i >= 0 && b[i].dest === dest) return dest;
        if (i >= 0) del(tbl, b, i);
        dest.refs++;
        b.unshift({ addr: p.daddr, dest, lastuse: env.now() });
        tbl.entries++;
      }
      return dest;
    },
  };
}

/** The cache entries, for tests and traces. */
export function lblcEntries(svc: IpvsService): { entries: number; get(addr: number): LblcEntry | undefined } {
  const tbl = svc.schedData as LblcTable;
  svc.sched?.catchUp?.(svc);
  return { entries: tbl.entries, get: (a) => get(tbl, a) };
}
