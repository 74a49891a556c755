/**
 * The per-service daddr cache lblc and lblcr share (ip_vs_lblc.c and
 * ip_vs_lblcr.c carry the same table and garbage collector): 1024 buckets by
 * hash_32(daddr, 10), newest entry first in a bucket, and the periodic check
 * every CHECK_EXPIRE_INTERVAL (60 s) from the service's creation — every 30th
 * run (the counter starts at 1) a full check drops the entries unused for the
 * scheduler's expiration sysctl (default 24 h); otherwise, only above max_size
 * (16 × 1024 entries), entries idle for ENTRY_TIMEOUT (6 min) are dropped,
 * walking from the rover, until goal = min((entries − max) × 4 / 3, max / 2)
 * are gone. The checks are replayed lazily (`catchUp`) before each scheduling
 * decision and before the cache is read: only scheduling changes the cache, so
 * the replay is exact and an idle service schedules no events.
 */
import type { SchedEnv } from '../types.js';
import { hash32 } from './util.js';

export const LOCALITY_TAB_BITS = 10;
const TAB_SIZE = 1 << LOCALITY_TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;
export const CHECK_EXPIRE_INTERVAL = 60e9;
export const ENTRY_TIMEOUT = 6 * 60e9;
export const COUNT_FOR_FULL_EXPIRATION = 30;

export function localityHashkey(addr: number): number {
  return hash32(addr, LOCALITY_TAB_BITS);
}

export class LocalityCache<E extends { addr: number; lastuse: number }> {
  readonly buckets: E[][] = Array.from({ length: TAB_SIZE }, () => []);
  entries = 0;
  readonly maxSize = TAB_SIZE * 16;
  private rover = 0;
  private counter = 1;
  /** The service is gone: nothing more is cached. */
  dead = false;
  /** The next periodic check (ns). */
  private next: number;
  private busy = false;

  /** `expiration`: the sysctl of the full check; `release`: drops an entry's dest references. */
  constructor(private readonly env: SchedEnv, private readonly expiration: string, private readonly release: (e: E) => void) {
    this.next = env.now() + CHECK_EXPIRE_INTERVAL;
  }

  get(addr: number): E | undefined {
    for (const en of this.buckets[localityHashkey(addr)]!) if (en.addr === addr) return en;
    return undefined;
  }

  /** The bucket `addr` hashes to. */
  bucket(addr: number): E[] { return this.buckets[localityHashkey(addr)]!; }

  /** Adds a new entry at the head of its bucket. */
  add(e: E): void {
    this.bucket(e.addr).unshift(e);
    this.entries++;
  }

  /** Frees entry `i` of bucket `b`. */
  del(b: E[], i: number): void {
    this.release(b[i]!);
    b.splice(i, 1);
    this.entries--;
  }

  /** The service is deleted: a last catch-up, then every entry goes. */
  done(): void {
    this.catchUp();
    this.dead = true;
    for (const b of this.buckets) while (b.length) this.del(b, 0);
  }

  /** Replays the periodic checks due by now (not re-entered: dropping an entry may let the trash timer ask again). */
  catchUp(): void {
    if (this.busy) return;
    this.busy = true;
    const now = this.env.now();
    while (!this.dead && this.next <= now) {
      const t = this.next;
      this.next += CHECK_EXPIRE_INTERVAL;
      this.checkExpire(t);
    }
    this.busy = false;
  }

  /** ip_vs_lblc(r)_check_expire at `now`. */
  private checkExpire(now: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      const exp = this.env.sysctl(this.expiration) * 1e9;
      let j = this.rover;
      for (let i = 0; i < TAB_SIZE; i++) {
        j = (j + 1) & TAB_MASK;
        const b = this.buckets[j]!;
        for (let k = 0; k < b.length; k++) if (!(now < b[k]!.lastuse + exp)) this.del(b, k--);
      }
      this.rover = j;
      this.counter = 1;
    } else if (this.entries <= this.maxSize) {
      this.counter++;
    } else {
      let goal = Math.trunc(((this.entries - this.maxSize) * 4) / 3);
      if (goal > this.maxSize / 2) goal = Math.trunc(this.maxSize / 2);
      let j = this.rover;
      for (let i = 0; i < TAB_SIZE; i++) {
        j = (j + 1) & TAB_MASK;
        const b = this.buckets[j]!;
        for (let k = 0; k < b.length; k++) {
          if (now < b[k]!.lastuse + ENTRY_TIMEOUT) continue;
          this.del(b, k--);
          goal--;
        }
        if (goal <= 0) break;
      }
      this.rover = j;
    }
  }
}
