import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pcapFileHeader, pcapRecordHeader, splitNs, writePcapRecordHeader } from '../../src/trace/pcap.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('classic pcap (ns)', () => {
  it('file header bytes', () => {
    expect(hex(pcapFileHeader())).toBe(
      [
        '4d3cb2a1', // magic 0xa1b23c4d (ns) little-endian
        '0200', //     version major 2
        '0400', //     version minor 4
        '00000000', // thiszone 0
        '00000000', // sigfigs 0
        '00000400', // snaplen 262144 = 0x00040000
        '01000000', // linktype 1 ETHERNET
      ].join(''),
    );
    expect(hex(pcapFileHeader(101)).slice(-8)).toBe('65000000'); // LINKTYPE_RAW
  });

  it('record header bytes', () => {
    // 1.5 s + 7 ns, 60 bytes captured of 1514
    expect(hex(pcapRecordHeader(1_500_000_007, 60, 1514))).toBe(
      [
        '01000000', // ts_sec 1
        '0765cd1d', // ts_nsec 500000007 = 0x1dcd6507
        '3c000000', // incl_len 60
        'ea050000', // orig_len 1514
      ].join(''),
    );
  });

  it('splits large times exactly', () => {
    const max = Number.MAX_SAFE_INTEGER; // 9007199254740991 ns
    expect(splitNs(max)).toEqual({ sec: 9007199, nsec: 254740991 });
    // just below a second boundary, where float division would round up
    expect(splitNs(9_007_198_999_999_999)).toEqual({ sec: 9007198, nsec: 999_999_999 });
    const dv = new DataView(new ArrayBuffer(16));
    writePcapRecordHeader(dv, 0, 8_999_999_999_999_999, 0, 0);
    expect([dv.getUint32(0, true), dv.getUint32(4, true)]).toEqual([8_999_999, 999_999_999]);
  });

  it('split is exact for every safe integer (property)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (t) => {
        const { sec, nsec } = splitNs(t);
        expect(Number.isInteger(sec) && nsec >= 0 && nsec < 1e9).toBe(true);
        expect(BigInt(sec) * 1_000_000_000n + BigInt(nsec)).toBe(BigInt(t));
      }),
    );
  });

  it('rejects bad input', () => {
    expect(() => pcapRecordHeader(-1, 0, 0)).toThrow(RangeError);
    expect(() => pcapRecordHeader(1.5, 0, 0)).toThrow(RangeError);
    expect(() => pcapRecordHeader(2 ** 53, 0, 0)).toThrow(RangeError);
    expect(() => pcapRecordHeader(0, 10, 5)).toThrow(RangeError);
  });
});
