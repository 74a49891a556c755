import { describe, expect, it } from 'vitest';
import { hsiphash, siphash } from '../../src/ipvs/siphash.js';

// lib/test_siphash.c: key 00..0f, input bytes 0..len-1.
const K0 = 0x0706050403020100n, K1 = 0x0f0e0d0c0b0a0908n;
const SIP = [0x726fdb47dd0e0e31n, 0x74f839c593dc67fdn, 0x0d6c8009d9a94f5an, 0x85676696d7fb7e2dn, 0xcf2794e0277187b7n,
  0x18765564cd99a68dn, 0xcbc9466e58fee3cen, 0xab0200f58b01d137n, 0x93f5f5799a932462n, 0x9e0082df0ba9e4b0n];
// BITS_PER_LONG == 64 hsiphash vectors
const HSIP = [0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140,
  0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956, 0x7d908b66];

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

describe('siphash (lib/siphash.c)', () => {
  it('SipHash-2-4 reference vectors', () => {
    SIP.forEach((v, i) => expect(siphash(bytes(i), K0, K1)).toBe(v));
  });
  it('hsiphash on 64-bit (SipHash-1-3, u32) matches the kernel self-test vectors', () => {
    HSIP.forEach((v, i) => expect(hsiphash(bytes(i), K0, K1)).toBe(v));
  });
});
