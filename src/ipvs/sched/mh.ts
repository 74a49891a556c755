/**
 * mh — Maglev hashing (net/netfilter/ipvs/ip_vs_mh.c).
 *
 * Table size M = primes[CONFIG_IP_VS_MH_TAB_INDEX − 8] = 4093 (index 12);
 * IP_VS_MH_TAB_BITS = 12 / 2 = 6. Keys: hash1 = {2654435761, 2654435761},
 * hash2 = {2654446892, 2654446892} (hsiphash_key_t, 64-bit longs).
 * hashkey(addr, port, key, offset) = hsiphash of the u32 offset + port + addr.
 *
 * Rebuilt on every dest add/delete/edit from the dests' last_weight (the
 * latest non-0 weight, so a dest set to weight 0 keeps its slots):
 * gcd of the positive last weights; rshift = max(0, fls(maxw / gcd) − 6);
 * per dest in list order: offset = hashkey(dest, hash1) % M,
 * skip = hashkey(dest, hash2) % (M − 1) + 1, turns = (lw / gcd) >> rshift,
 * or 1 if that is 0 and lw ≠ 0. Population: dests take turns in list order,
 * each placing `turns` entries at its next free preferred slot
 * (perm += skip mod M) until all M slots are filled.
 *
 * Lookup: slot hashkey(saddr, sport if mh-port (SCHED2) else 0, hash1, 0) % M;
 * a dest with weight ≤ 0 or OVERLOAD is unavailable. With mh-fallback
 * (SCHED1) the slots hashkey(…, (i + ihash) % M) % M are tried for
 * i = 0..M−1 (an empty slot stops).
 */
import { SVC_F, type IpvsDest, type IpvsScheduler, type IpvsService } from '../types.js';
import { hsiphashU32 } from '../siphash.js';
import { fls, gcd, overloaded } from './util.js';

export const MH_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];
const CONFIG_IP_VS_MH_TAB_INDEX = 12;
export const MH_TAB_SIZE = MH_PRIMES[CONFIG_IP_VS_MH_TAB_INDEX - 8];
const MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX >> 1;
export const MH_FALLBACK = SVC_F.SCHED1;
export const MH_PORT = SVC_F.SCHED2;
const HASH1 = 2654435761n;
const HASH2 = 2654446892n;

interface MhState { lookup: (IpvsDest | null)[]; gcd: number; rshift: number }

export function mhHashkey(addr: number, port: number, key: bigint, offset: number): number {
  return hsiphashU32((offset + port + addr) >>> 0, key, key);
}

function unavailable(d: IpvsDest): boolean {
  return d.weight <= 0 || overloaded(d);
}

function gcdWeight(svc: IpvsService): number {
  let g = 0;
  for (const d of svc.dests) if (d.lastWeight > 0) g = g > 0 ? gcd(d.lastWeight, g) : d.lastWeight;
  return g;
}

function shiftWeight(svc: IpvsService, g: number): number {
  if (g < 1) return 0;
  let w = 0;
  for (const d of svc.dests) if (d.lastWeight > w) w = d.lastWeight;
  const shift = fls(Math.trunc(w / g)) - MH_TAB_BITS;
  return shift >= 0 ? shift : 0;
}

function reassign(svc: IpvsService): void {
  const s = svc.schedData as MhState;
  s.gcd = gcdWeight(svc);
  s.rshift = shiftWeight(svc, s.gcd);
  const M = MH_TAB_SIZE;
  if (s.gcd < 1) {
    s.lookup.fill(null);
    return;
  }
  const list = svc.dests;
  const setup = list.map((d) => {
    const offset = mhHashkey(d.addr, d.port, HASH1, 0) % M;
    const skip = (mhHashkey(d.addr, d.port, HASH2, 0) % (M - 1)) + 1;
    const lw = d.lastWeight;
    const t = Math.trunc(lw / s.gcd) >> s.rshift;
    return { perm: offset, skip, turns: t || (lw !== 0 ? 1 : 0) };
  });
  const taken = new Uint8Array(M);
  let n = 0, dtCount = 0;
  outer: while (n < M) {
    for (let p = 0; p < list.length;) {
      const ds = setup[p];
      if (ds.turns < 1) { p++; continue; }
      let c = ds.perm;
      while (taken[c]) {
        ds.perm += ds.skip;
        if (ds.perm >= M) ds.perm -= M;
        c = ds.perm;
      }
      taken[c] = 1;
      s.lookup[c] = list[p];
      if (++n === M) break outer;
      if (++dtCount >= ds.turns) {
        dtCount = 0;
        p++;
      }
    }
  }
}

export function mhScheduler(): IpvsScheduler {
  return {
    name: 'mh',
    initService(svc) {
      svc.schedData = { lookup: new Array<IpvsDest | null>(MH_TAB_SIZE).fill(null), gcd: 0, rshift: 0 } satisfies MhState;
      reassign(svc);
    },
    doneService(svc) { (svc.schedData as MhState).lookup.fill(null); },
    addDest: (svc) => reassign(svc),
    delDest: (svc) => reassign(svc),
    updDest: (svc) => reassign(svc),
    schedule(svc, p) {
      const s = svc.schedData as MhState;
      const M = MH_TAB_SIZE;
      const port = svc.flags & MH_PORT ? p.sport : 0;
      const ihash = mhHashkey(p.saddr, port, HASH1, 0) % M;
      let d = s.lookup[ihash];
      if (!(svc.flags & MH_FALLBACK)) return !d || unavailable(d) ? null : d;
      if (!d) return null;
      if (!unavailable(d)) return d;
      for (let off = 0; off < M; off++) {
        const roff = (off + ihash) % M;
        d = s.lookup[mhHashkey(p.saddr, port, HASH1, roff) % M];
        if (!d) break;
        if (!unavailable(d)) return d;
      }
      return null;
    },
  };
}

export function mhLookup(svc: IpvsService): readonly (IpvsDest | null)[] {
  return (svc.schedData as MhState).lookup;
}
