import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, setU16, u16, u32, setU32 } from '../../src/wire/bytes.js';
import {
  checksum, csumReplace16, csumReplace32, finishChecksum, fold, headerChecksum, onesSum, pseudoHeaderSum,
  udpCsumFinish, verifyChecksum,
} from '../../src/wire/checksum.js';

/** Reference RFC 1071 checksum, written the slow obvious way. */
function refChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

describe('checksum: RFC 1071', () => {
  it('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const b = fromHex('0001f203f4f5f6f7');
    expect(fold(onesSum(b, 0, 8))).toBe(0xddf2);
    expect(checksum(b, 0, 8)).toBe(0x220d);
  });
  it('captured IPv4 header (ICMP echo request) verifies and recomputes to 0x3a1e', () => {
    // 45 00 0054 ea9e 4000 40 01 [3a1e] 0af40002 0af40003
    const h = fromHex('45000054ea9e400040013a1e0af400020af40003');
    expect(verifyChecksum(h, 0, 20)).toBe(true);
    setU16(h, 10, 0);
    expect(checksum(h, 0, 20)).toBe(0x3a1e);
  });
  it('odd lengths pad the last byte as a high byte', () => {
    expect(checksum(fromHex('01'), 0, 1)).toBe(~0x0100 & 0xffff);
    expect(checksum(fromHex('0001f2'), 0, 3)).toBe(~(0x0001 + 0xf200) & 0xffff);
  });
  it('matches the reference for any bytes, offsets and chaining', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(8), (data, pad) => {
      const b = new Uint8Array(pad + data.length).fill(0xa5);
      b.set(data, pad);
      const whole = checksum(b, pad, data.length);
      const cut = data.length & ~1 ? (fc.sample(fc.nat(data.length >> 1), 1)[0] ?? 0) * 2 : 0;
      const chained = finishChecksum(onesSum(b, pad + cut, data.length - cut, onesSum(b, pad, cut)));
      return whole === refChecksum(data) && chained === whole;
    }));
  });
  it('a 64 KiB buffer of 0xff stays exact (no overflow)', () => {
    const b = new Uint8Array(65536).fill(0xff);
    expect(fold(onesSum(b, 0, b.length))).toBe(0xffff);
    expect(fold(onesSum(b, 0, b.length, 0xffffffff))).toBe(0xffff);
  });
  it('pseudoHeaderSum adds the 12 pseudo-header bytes', () => {
    const ph = fromHex('0af40002 0af40003 0011 0016');
    expect(fold(pseudoHeaderSum(0x0af40002, 0x0af40003, 17, 0x16))).toBe(fold(onesSum(ph, 0, 12)));
  });
  it('UDP: computed 0 is sent as 0xffff', () => {
    expect(udpCsumFinish(0)).toBe(0xffff);
    expect(udpCsumFinish(0x1234)).toBe(0x1234);
  });
});

/** Data whose first word is non-zero, like every IPv4 header (version) and pseudo header (protocol). */
const arbData = fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.uint8Array({ minLength: 6, maxLength: 64 })).map(([w, rest]) => {
  const b = new Uint8Array(2 + (rest.length & ~1));
  setU16(b, 0, w);
  b.set(rest.subarray(0, rest.length & ~1), 2);
  return b;
});
const special = fc.constantFrom(0x0000, 0xffff, 0x0001, 0xfffe, 0x8000, 0x7fff);
const word = fc.oneof(special, fc.integer({ min: 0, max: 0xffff }));

describe('checksum: RFC 1624 incremental update', () => {
  it('csumReplace16 == recompute, for any word change (incl. 0x0000 <-> 0xffff)', () => {
    fc.assert(fc.property(arbData, fc.nat(), word, (data, at, nw) => {
      const i = 2 + 2 * (at % ((data.length - 2) / 2));
      const hc = checksum(data, 0, data.length);
      const old = u16(data, i);
      setU16(data, i, nw);
      return csumReplace16(hc, old, nw) === checksum(data, 0, data.length);
    }), { numRuns: 5000 });
  });
  it('csumReplace32 == recompute, for any aligned 32-bit change', () => {
    const u32w = fc.oneof(fc.constantFrom(0, 0xffffffff, 0xffff0000, 0x0000ffff), fc.integer({ min: 0, max: 0xffffffff }));
    fc.assert(fc.property(arbData.filter((d) => d.length >= 6), fc.nat(), u32w, (data, at, nv) => {
      const i = 2 + 2 * (at % ((data.length - 4) / 2));
      const hc = checksum(data, 0, data.length);
      const old = u32(data, i);
      setU32(data, i, nv);
      return csumReplace32(hc, old, nv) === checksum(data, 0, data.length);
    }), { numRuns: 5000 });
  });
  it('edge cases: checksum field 0x0000 in, words to and from 0xffff / 0x0000', () => {
    // Build data whose checksum is exactly 0x0000 (sum 0xffff): 0x4500 + 0xbaff.
    const d = fromHex('4500 baff 0000');
    expect(checksum(d, 0, 6)).toBe(0x0000);
    // 0x0000 -> 0xffff: one's complement +0 -> -0, sum unchanged, checksum unchanged.
    expect(csumReplace16(0x0000, 0x0000, 0xffff)).toBe(0x0000);
    setU16(d, 4, 0xffff);
    expect(checksum(d, 0, 6)).toBe(0x0000);
    // 0xffff -> 0x0000 likewise.
    expect(csumReplace16(0x0000, 0xffff, 0x0000)).toBe(0x0000);
    // A change that makes the sum 0xffff from elsewhere yields 0x0000, never 0xffff.
    const e = fromHex('4500 0000');
    const hc = checksum(e, 0, 4);
    expect(hc).toBe(0xbaff);
    expect(csumReplace16(hc, 0x0000, 0xbaff)).toBe(0x0000);
    setU16(e, 2, 0xbaff);
    expect(checksum(e, 0, 4)).toBe(0x0000);
  });
  it('never yields 0xffff for data with a non-zero word', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xfffe }), word, word, (hc, m, m2) => csumReplace16(hc, m, m2) !== 0xffff));
  });
  it('chained NAT rewrites (addr + port) keep the checksum equal to a recompute', () => {
    fc.assert(fc.property(arbData.filter((d) => d.length >= 12), fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 8 }), (data, ops) => {
      let hc = checksum(data, 0, data.length);
      for (const [wide, v] of ops) {
        if (wide) { const o = u32(data, 4); setU32(data, 4, v); hc = csumReplace32(hc, o, v); }
        else { const o = u16(data, 8); setU16(data, 8, v & 0xffff); hc = csumReplace16(hc, o, v & 0xffff); }
      }
      expect(hc).toBe(checksum(data, 0, data.length));
    }));
  });
});

describe('headerChecksum: the unrolled 20-byte header sum', () => {
  it('equals the RFC 1071 checksum for any 20-byte header at any offset, and for other lengths', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 60 }), fc.nat(7), (bytes, pad) => {
      const buf = new Uint8Array(pad + bytes.length);
      buf.set(bytes, pad);
      expect(headerChecksum(buf, pad, 20)).toBe(refChecksum(bytes.subarray(0, 20)));
      const len = bytes.length & ~3;
      expect(headerChecksum(buf, pad, len)).toBe(refChecksum(bytes.subarray(0, len)));
    }), { numRuns: 2000 });
  });

  it('all-zero and all-ones headers (the folding edge cases)', () => {
    expect(headerChecksum(new Uint8Array(20), 0, 20)).toBe(0xffff);
    expect(headerChecksum(new Uint8Array(20).fill(0xff), 0, 20)).toBe(0);
  });
});
