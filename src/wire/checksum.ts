/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * ```
 *  checksum = ~ fold( sum of big-endian 16-bit words, odd byte padded with 0 )
 *  fold(s)  = add the carries above bit 15 back in, until s < 0x10000
 *  RFC 1624 eqn. 3:   HC' = ~(~HC + ~m + m')      (one's complement +)
 * ```
 *
 * Partial sums are plain non-negative integers ("unfolded", like the kernel's
 * `__wsum`); chain them with `init` and finish with {@link finishChecksum}.
 * A region summed with {@link onesSum} must start at an even offset relative
 * to the start of the checksummed data (odd final bytes are high bytes).
 *
 * Edge cases, as in Linux:
 * - A full recomputation over data that is not all zero never yields 0xffff.
 *   Eqn. 3 never yields 0xffff either, so incremental and full results agree
 *   bit for bit whenever the covered data has a non-zero word (always true for
 *   IPv4 headers — version — and TCP/UDP — the pseudo header's protocol).
 * - UDP over IPv4: a transmitted checksum of 0 means "no checksum"; a computed
 *   0 is sent as 0xffff (RFC 768, Linux `CSUM_MANGLED_0`). See {@link udpCsumFinish}.
 *
 * @module
 */

/**
 * One's complement sum of `len` bytes at `buf[off]` as big-endian 16-bit words
 * (an odd last byte is the high byte of a zero-padded word), plus `init`.
 * Returns an unfolded partial sum below 2^32 (carries are folded back when needed).
 */
export function onesSum(buf: Uint8Array, off: number, len: number, init = 0): number {
  let sum = init;
  const end = off + (len & ~1);
  let i = off;
  // 8 bytes per iteration keeps `sum` in small-integer range for a long time.
  while (i + 8 <= end) {
    sum +=
      ((buf[i] << 8) | buf[i + 1]) +
      ((buf[i + 2] << 8) | buf[i + 3]) +
      ((buf[i + 4] << 8) | buf[i + 5]) +
      ((buf[i + 6] << 8) | buf[i + 7]);
    i += 8;
    if (sum > 0x3fffffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  for (; i < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (len & 1) sum += buf[off + len - 1] << 8;
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The checksum of a header at `buf[off]` (`len` bytes), as {@link checksum}: with the checksum
 * field in, 0 means it verifies. An option-less IPv4 header (20 bytes) is summed in one
 * unrolled expression: every packet's header is verified once per hop.
 */
export function headerChecksum(buf: Uint8Array, off: number, len: number): number {
  if (len !== 20) return checksum(buf, off, len);
  const b = buf, o = off;
  let s = ((b[o] << 8) | b[o + 1]) + ((b[o + 2] << 8) | b[o + 3]) + ((b[o + 4] << 8) | b[o + 5]) + ((b[o + 6] << 8) | b[o + 7]) +
    ((b[o + 8] << 8) | b[o + 9]) + ((b[o + 10] << 8) | b[o + 11]) + ((b[o + 12] << 8) | b[o + 13]) + ((b[o + 14] << 8) | b[o + 15]) +
    ((b[o + 16] << 8) | b[o + 17]) + ((b[o + 18] << 8) | b[o + 19]);
  // Ten words sum below 2^20: two end-around folds reach 16 bits.
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Fold a partial sum to 16 bits with end-around carry (not complemented). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Complement of the folded partial sum: the 16-bit value to store in a checksum field. */
export function finishChecksum(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The Internet checksum of `buf[off..off+len)`, ready to store (the checksum field itself must be 0 or excluded). */
export function checksum(buf: Uint8Array, off: number, len: number): number {
  return ~fold(onesSum(buf, off, len)) & 0xffff;
}

/** True when `buf[off..off+len)` (checksum field included) plus `init` sums to 0xffff, i.e. the checksum verifies. */
export function verifyChecksum(buf: Uint8Array, off: number, len: number, init = 0): boolean {
  return fold(onesSum(buf, off, len, init)) === 0xffff;
}

/**
 * Partial sum of the IPv4 pseudo header (RFC 793 / 768): source, destination,
 * zero byte + protocol, L4 length. Pass as `init` to {@link onesSum} over the L4 segment.
 */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4len;
}

/**
 * RFC 1624 eqn. 3 for one 16-bit word of the covered data changing from
 * `oldWord` to `newWord`: returns the new checksum field value.
 */
export function csumReplace16(csum: number, oldWord: number, newWord: number): number {
  const s = (~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(s) & 0xffff;
}

/**
 * RFC 1624 eqn. 3 for an aligned 32-bit field (an IPv4 address) changing from
 * `oldU32` to `newU32`: returns the new checksum field value.
 */
export function csumReplace32(csum: number, oldU32: number, newU32: number): number {
  const s =
    (~csum & 0xffff) +
    (~(oldU32 >>> 16) & 0xffff) +
    (~oldU32 & 0xffff) +
    (newU32 >>> 16) +
    (newU32 & 0xffff);
  return ~fold(s) & 0xffff;
}

/** UDP/IPv4 checksum field value meaning "no checksum" (RFC 768). */
export const UDP_CSUM_NONE = 0;
/** What a computed UDP checksum of 0 is transmitted as (Linux `CSUM_MANGLED_0`). */
export const CSUM_MANGLED_0 = 0xffff;

/** Map a computed UDP checksum to its transmitted value: 0 becomes 0xffff, anything else is unchanged. */
export function udpCsumFinish(csum: number): number {
  return csum === 0 ? CSUM_MANGLED_0 : csum;
}
