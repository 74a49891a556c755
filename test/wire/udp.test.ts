import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { setU16, toHex, WireError } from '../../src/wire/bytes.js';
import { IPPROTO_UDP, emitIpv4, ipv4Daddr, ipv4Saddr, ipv4SetDst, ipv4SetSrc, verifyIpv4Checksum } from '../../src/wire/ipv4.js';
import {
  checkUdp, emitUdp, fillUdpChecksum, parseUdp, udpCheck, udpChecksum, udpDport, udpLen, udpReprLen, udpSetDport,
  udpSetSport, udpSport, udpUpdateAddr, verifyUdpChecksum, type UdpRepr,
} from '../../src/wire/udp.js';
import { UDP_CLOSED_1024, UDP_DATAGRAM, UDP_DF_1500 } from './fixtures.js';

const IP = 14;
const L4 = 34;

describe('udp: captured datagrams (offload off: checksums are final)', () => {
  it('decodes field by field', () => {
    // a0 29   sport 41001
    // 13 88   dport 5000
    // 00 16   length 22 (8 + "hello podwire\n")
    // 4e ce   checksum
    // 68 65 6c 6c 6f 20 70 6f 64 77 69 72 65 0a
    const f = UDP_DATAGRAM.bytes;
    expect(checkUdp(f, L4, 22)).toBeNull();
    expect([udpSport(f, L4), udpDport(f, L4), udpLen(f, L4), udpCheck(f, L4)]).toEqual([41001, 5000, 22, 0x4ece]);
    expect(verifyUdpChecksum(f, IP)).toBe(true);
    expect(udpChecksum(f, IP)).toBe(0x4ece);
    const r = parseUdp(f, L4, 22, { src: ipv4Saddr(f, IP), dst: ipv4Daddr(f, IP) });
    expect(new TextDecoder().decode(r.payload)).toBe('hello podwire\n');
  });
  it('emits into 0xa5 with the checksum computed, byte-identical', () => {
    for (const cap of [UDP_DATAGRAM, UDP_CLOSED_1024, UDP_DF_1500]) {
      const f = cap.bytes;
      const ip = { src: ipv4Saddr(f, IP), dst: ipv4Daddr(f, IP) };
      const r = parseUdp(f, L4, f.length - L4, ip);
      const buf = new Uint8Array(udpReprLen(r) + 2).fill(0xa5);
      expect(emitUdp(r, buf, 1, ip)).toBe(f.length - L4);
      expect(toHex(buf, 1, f.length - L4)).toBe(toHex(f, L4));
      expect([buf[0], buf[buf.length - 1]]).toEqual([0xa5, 0xa5]);
    }
  });
  it('fillUdpChecksum recomputes the captured value in place', () => {
    const f = UDP_DATAGRAM.bytes.slice();
    setU16(f, L4 + 6, 0x1234);
    fillUdpChecksum(f, IP);
    expect(toHex(f)).toBe(toHex(UDP_DATAGRAM.bytes));
  });
});

describe('udp: checksum 0 / 0xffff rules', () => {
  /** A datagram whose computed checksum is 0: tune the last payload word. */
  function zeroSumDatagram(): Uint8Array {
    const b = new Uint8Array(20 + 10);
    emitIpv4({ src: 0x0af40002, dst: 0x0af40003, protocol: IPPROTO_UDP, ttl: 64, tos: 0, id: 1, df: true, mf: false, fragOffset: 0, payloadLen: 10, options: new Uint8Array(0) }, b, 0);
    emitUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(2) }, b, 20, { src: 0x0af40002, dst: 0x0af40003 });
    // checksum c != 0 now; adding ~c... set payload word p so that the sum becomes 0xffff -> computed 0
    const c = udpCheck(b, 20);
    setU16(b, 28, c);
    return b;
  }
  it('a computed 0 is transmitted as 0xffff, and verifies', () => {
    const b = zeroSumDatagram();
    expect(udpChecksum(b, 0)).toBe(0xffff);
    fillUdpChecksum(b, 0);
    expect(udpCheck(b, 20)).toBe(0xffff);
    expect(verifyUdpChecksum(b, 0)).toBe(true);
  });
  it('checksum 0 means none: verifies, and NAT helpers leave it 0', () => {
    const f = UDP_DATAGRAM.bytes.slice();
    setU16(f, L4 + 6, 0);
    expect(verifyUdpChecksum(f, IP)).toBe(true);
    udpSetSport(f, L4, 1);
    udpSetDport(f, L4, 2);
    udpUpdateAddr(f, L4, 1, 2);
    expect(udpCheck(f, L4)).toBe(0);
    expect(parseUdp(f, L4, 22, { src: 9, dst: 9 }).srcPort).toBe(1);
    const b = new Uint8Array(8);
    emitUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(0) }, b, 0);
    expect(udpCheck(b, 0)).toBe(0);
  });
});

describe('udp: NAT rewrites keep checksums equal to a recompute', () => {
  it('DNAT to a pod and SNAT back (addresses + ports)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.nat(0xffff), fc.nat(0xffff),
      (nsrc, ndst, nsp, ndp) => {
        const f = UDP_DATAGRAM.bytes.slice();
        const os = ipv4Saddr(f, IP);
        const od = ipv4Daddr(f, IP);
        ipv4SetSrc(f, IP, nsrc);
        udpUpdateAddr(f, L4, os, nsrc);
        ipv4SetDst(f, IP, ndst);
        udpUpdateAddr(f, L4, od, ndst);
        udpSetSport(f, L4, nsp);
        udpSetDport(f, L4, ndp);
        const inc = udpCheck(f, L4);
        return verifyIpv4Checksum(f, IP) && inc !== 0 && inc === udpChecksum(f, IP);
      }), { numRuns: 3000 });
  });
});

describe('udp: round trip and rejection', () => {
  const arb: fc.Arbitrary<UdpRepr> = fc.record({ srcPort: fc.nat(0xffff), dstPort: fc.nat(0xffff), payload: fc.uint8Array({ maxLength: 100 }) });
  it('parse(emit(r)) == r, with and without checksum', () => {
    fc.assert(fc.property(arb, fc.boolean(), (r, withCsum) => {
      const ip = { src: 0x0af40002, dst: 0x0af40003 };
      const b = new Uint8Array(udpReprLen(r)).fill(0xa5);
      emitUdp(r, b, 0, withCsum ? ip : undefined);
      expect(parseUdp(b, 0, b.length, ip)).toEqual(r);
    }));
  });
  it.each([
    ['truncated', 7, (b: Uint8Array) => b],
    ['length > available', 21, (b: Uint8Array) => b],
    ['length < 8', 22, (b: Uint8Array) => (setU16(b, L4 + 4, 7), b)],
  ] as const)('rejects: %s', (reason, len, mutate) => {
    const f = mutate(UDP_DATAGRAM.bytes.slice());
    expect(checkUdp(f, L4, len)).toBe(reason);
    expect(() => parseUdp(f, L4, len)).toThrow(new WireError('udp', reason));
  });
  it('rejects a bad checksum when addresses are given', () => {
    const f = UDP_DATAGRAM.bytes.slice();
    f[f.length - 1] ^= 1;
    expect(verifyUdpChecksum(f, IP)).toBe(false);
    expect(() => parseUdp(f, L4, 22, { src: 0x0af40002, dst: 0x0af40003 })).toThrow('udp: bad checksum');
  });
  it('the UDP length field bounds the payload (IP padding ignored)', () => {
    const f = new Uint8Array(40);
    f.set(UDP_DATAGRAM.bytes.subarray(L4), 0);
    expect(parseUdp(f, 0, 40).payload.length).toBe(14);
  });
});
