/**
 * sh — source hashing (net/netfilter/ipvs/ip_vs_sh.c).
 *
 * A 256-bucket table (CONFIG_IP_VS_SH_TAB_BITS 8): walking the destination
 * list in order, each dest fills `weight` consecutive buckets (at least one:
 * a weight-0 dest still takes one bucket), wrapping to the list's start;
 * rebuilt on every add, delete and edit. The bucket of a packet is
 * (offset + hash_32(sport + saddr, 8)) & 255, with sport 0 unless the
 * service has sh-port (IP_VS_SVC_F_SCHED2) and offset 0. A dest with weight
 * ≤ 0 or OVERLOAD is unavailable: without sh-fallback (IP_VS_SVC_F_SCHED1)
 * that means no destination; with it, the offsets (ihash + i) % 256 for
 * i = 0..255 are tried in turn (an empty bucket stops the search).
 */
import { SVC_F, type IpvsDest, type IpvsScheduler, type IpvsService } from '../types.js';
import { hash32, overloaded } from './util.js';

export const SH_TAB_BITS = 8;
const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const SH_TAB_MASK = SH_TAB_SIZE - 1;
export const SH_FALLBACK = SVC_F.SCHED1;
export const SH_PORT = SVC_F.SCHED2;

interface ShState { buckets: (IpvsDest | null)[] }

export function shHashkey(saddr: number, port: number, offset: number): number {
  return (offset + hash32((port + saddr) >>> 0, SH_TAB_BITS)) & SH_TAB_MASK;
}

function unavailable(d: IpvsDest): boolean {
  return d.weight <= 0 || overloaded(d);
}

function reassign(svc: IpvsService): void {
  const b = (svc.schedData as ShState).buckets;
  const list = svc.dests;
  let p = 0, count = 0;
  for (let i = 0; i < SH_TAB_SIZE; i++) {
    if (list.length === 0) { b[i] = null; continue; }
    if (p === list.length) p = 0;
    const d = list[p];
    b[i] = d;
    if (++count >= d.weight) {
      p++;
      count = 0;
    }
  }
}

export function shScheduler(): IpvsScheduler {
  return {
    name: 'sh',
    initService(svc) {
      svc.schedData = { buckets: new Array<IpvsDest | null>(SH_TAB_SIZE).fill(null) } satisfies ShState;
      reassign(svc);
    },
    addDest: (svc) => reassign(svc),
    delDest: (svc) => reassign(svc),
    updDest: (svc) => reassign(svc),
    schedule(svc, p) {
      const b = (svc.schedData as ShState).buckets;
      const port = svc.flags & SH_PORT ? p.sport : 0;
      const ihash = shHashkey(p.saddr, port, 0);
      let d = b[ihash];
      if (!(svc.flags & SH_FALLBACK)) return !d || unavailable(d) ? null : d;
      if (!d) return null;
      if (!unavailable(d)) return d;
      for (let off = 0; off < SH_TAB_SIZE; off++) {
        const roff = (off + ihash) % SH_TAB_SIZE;
        d = b[shHashkey(p.saddr, port, roff)];
        if (!d) break;
        if (!unavailable(d)) return d;
      }
      return null;
    },
  };
}

export function shBuckets(svc: IpvsService): readonly (IpvsDest | null)[] {
  return (svc.schedData as ShState).buckets;
}
