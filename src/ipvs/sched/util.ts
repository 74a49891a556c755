/** Helpers the schedulers share (include/linux/hash.h, lib/math/gcd.c). */
import { DEST_F, type IpvsDest } from '../types.js';

/** GOLDEN_RATIO_32 (include/linux/hash.h). */
export const GOLDEN_RATIO_32 = 0x61c88647;

/** hash_32(val, bits): the top `bits` bits of val * GOLDEN_RATIO_32 (mod 2^32). */
export function hash32(val: number, bits: number): number {
  return Math.imul(val >>> 0, GOLDEN_RATIO_32) >>> (32 - bits);
}

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** fls(x): the position of the most significant set bit (1-based), 0 for 0. */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

export function overloaded(d: IpvsDest): boolean {
  return (d.flags & DEST_F.OVERLOAD) !== 0;
}
