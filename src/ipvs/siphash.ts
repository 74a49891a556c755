/**
 * SipHash as lib/siphash.c computes it (include/linux/siphash.h).
 *
 * `siphash` is SipHash-c-d over bytes with a 128-bit key (two little-endian
 * u64 words). `hsiphash` is the kernel's hsiphash on a 64-bit machine: there
 * HalfSipHash1-3 is "actually SipHash1-3" (lib/siphash.c: HSIPROUND is
 * SIPROUND on BITS_PER_LONG == 64) with an hsiphash_key_t of two unsigned
 * longs, and the u32 result is the low half of v0 ^ v1 ^ v2 ^ v3. Checked
 * against lib/test_siphash.c's 64-bit vectors (test/ipvs/siphash.test.ts).
 *
 * Not on a per-packet hot path except mh's lookup (one 4-byte hash); BigInt
 * keeps it exact.
 */
const M64 = (1n << 64n) - 1n;

function rotl(x: bigint, b: bigint): bigint {
  return ((x << b) | (x >> (64n - b))) & M64;
}

interface V { v0: bigint; v1: bigint; v2: bigint; v3: bigint }

function round(s: V): void {
  s.v0 = (s.v0 + s.v1) & M64; s.v1 = rotl(s.v1, 13n); s.v1 ^= s.v0; s.v0 = rotl(s.v0, 32n);
  s.v2 = (s.v2 + s.v3) & M64; s.v3 = rotl(s.v3, 16n); s.v3 ^= s.v2;
  s.v0 = (s.v0 + s.v3) & M64; s.v3 = rotl(s.v3, 21n); s.v3 ^= s.v0;
  s.v2 = (s.v2 + s.v1) & M64; s.v1 = rotl(s.v1, 17n); s.v1 ^= s.v2; s.v2 = rotl(s.v2, 32n);
}

function le64(b: Uint8Array, off: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i]);
  return v;
}

/** SipHash-c-d of `data` under key (k0, k1): the 64-bit v0 ^ v1 ^ v2 ^ v3. */
export function siphash(data: Uint8Array, k0: bigint, k1: bigint, c = 2, d = 4): bigint {
  const s: V = {
    v0: 0x736f6d6570736575n ^ k0,
    v1: 0x646f72616e646f6dn ^ k1,
    v2: 0x6c7967656e657261n ^ k0,
    v3: 0x7465646279746573n ^ k1,
  };
  const len = data.length;
  const end = len - (len % 8);
  for (let off = 0; off < end; off += 8) {
    const m = le64(data, off, 8);
    s.v3 ^= m;
    for (let i = 0; i < c; i++) round(s);
    s.v0 ^= m;
  }
  const b = ((BigInt(len) << 56n) | le64(data, end, len - end)) & M64;
  s.v3 ^= b;
  for (let i = 0; i < c; i++) round(s);
  s.v0 ^= b;
  s.v2 ^= 0xffn;
  for (let i = 0; i < d; i++) round(s);
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/** The kernel's hsiphash on 64-bit (SipHash-1-3, u32 result). */
export function hsiphash(data: Uint8Array, k0: bigint, k1: bigint): number {
  return Number(siphash(data, k0, k1, 1, 3) & 0xffffffffn);
}

const u32buf = new Uint8Array(4);

/** hsiphash(&v, sizeof(u32), key) of a u32 held in CPU (little-endian) order. */
export function hsiphashU32(v: number, k0: bigint, k1: bigint): number {
  u32buf[0] = v & 0xff;
  u32buf[1] = (v >>> 8) & 0xff;
  u32buf[2] = (v >>> 16) & 0xff;
  u32buf[3] = (v >>> 24) & 0xff;
  return hsiphash(u32buf, k0, k1);
}
