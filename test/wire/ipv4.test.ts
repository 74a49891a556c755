import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipToString, setU16, toHex, u16, WireError } from '../../src/wire/bytes.js';
import { checksum } from '../../src/wire/checksum.js';
import {
  IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IP_CHECK, checkIpv4, emitIpv4, fillIpv4Checksum, ipv4Check, ipv4DecTtl,
  ipv4Df, ipv4Dscp, ipv4Ecn, ipv4FragOffset, ipv4HeaderLen, ipv4Id, ipv4Ihl, ipv4IsFragment, ipv4Mf, ipv4Protocol,
  ipv4Saddr, ipv4Daddr, ipv4SetDst, ipv4SetSrc, ipv4SetTos, ipv4TotLen, ipv4Tos, ipv4Ttl, ipv4Version, parseIpv4,
  setIpv4FragOffRaw, setIpv4Id, verifyIpv4Checksum, writeIpv4Header, type Ipv4Repr,
} from '../../src/wire/ipv4.js';
import {
  ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ECHO_TTL1, ICMP_PORT_UNREACH, TCP_RST, TCP_SYN, TCP_SYNACK,
  UDP_DATAGRAM, UDP_DF_1500,
} from './fixtures.js';

const L3 = 14;

describe('ipv4: captured headers', () => {
  it('decodes the ping request header field by field', () => {
    // 45        version 4, IHL 5
    // 00        TOS 0
    // 00 54     total length 84
    // ea 9e     id 60062 (hashed: raw socket with IP_PMTUDISC_WANT → ignore_df)
    // 40 00     DF, offset 0
    // 40        TTL 64
    // 01        ICMP
    // 3a 1e     header checksum
    // 0a f4 00 02  src 10.244.0.2
    // 0a f4 00 03  dst 10.244.0.3
    const f = ICMP_ECHO_REQUEST.bytes;
    expect(checkIpv4(f, L3, f.length - L3)).toBeNull();
    expect(ipv4Version(f, L3)).toBe(4);
    expect(ipv4Ihl(f, L3)).toBe(5);
    expect(ipv4HeaderLen(f, L3)).toBe(20);
    expect(ipv4Tos(f, L3)).toBe(0);
    expect(ipv4TotLen(f, L3)).toBe(84);
    expect(ipv4Id(f, L3)).toBe(60062);
    expect(ipv4Df(f, L3)).toBe(true);
    expect(ipv4Mf(f, L3)).toBe(false);
    expect(ipv4FragOffset(f, L3)).toBe(0);
    expect(ipv4Ttl(f, L3)).toBe(64);
    expect(ipv4Protocol(f, L3)).toBe(IPPROTO_ICMP);
    expect(ipv4Check(f, L3)).toBe(0x3a1e);
    expect(ipToString(ipv4Saddr(f, L3))).toBe('10.244.0.2');
    expect(ipToString(ipv4Daddr(f, L3))).toBe('10.244.0.3');
    expect(verifyIpv4Checksum(f, L3)).toBe(true);
  });
  it('records Linux 6.18 IP ID / DF behaviour per traffic kind', () => {
    const idDf = (f: Uint8Array) => [ipv4Id(f, L3), ipv4Df(f, L3)];
    expect(idDf(TCP_SYN.bytes)).toEqual([41835, true]); // connected socket: inet_id counter
    expect(idDf(TCP_SYNACK.bytes)).toEqual([0, true]); // SYN-ACK from listener: id 0
    expect(idDf(TCP_RST.bytes)).toEqual([0, true]); // RST from closed port: id 0
    expect(idDf(UDP_DATAGRAM.bytes)).toEqual([37583, true]); // unconnected UDP, PMTUDISC_WANT: hashed id, DF
    expect(idDf(UDP_DF_1500.bytes)).toEqual([0, true]); // unconnected UDP, PMTUDISC_DO: id 0
    expect(idDf(ICMP_ECHO_REPLY.bytes)).toEqual([65062, false]); // echo reply: no DF
    const e = ICMP_PORT_UNREACH.bytes; // ICMP error: no DF, TOS 0xc0
    expect([ipv4Df(e, L3), ipv4Tos(e, L3), ipv4Dscp(e, L3), ipv4Ecn(e, L3)]).toEqual([false, 0xc0, 0x30, 0]);
  });
  it('parses every captured IPv4 header to a Repr', () => {
    expect(parseIpv4(TCP_SYN.bytes, L3)).toEqual({
      src: 0x0af40002, dst: 0x0af40003, protocol: IPPROTO_TCP, ttl: 64, tos: 0, id: 41835,
      df: true, mf: false, fragOffset: 0, payloadLen: 40, options: new Uint8Array(0),
    });
    expect(parseIpv4(UDP_DATAGRAM.bytes, L3).protocol).toBe(IPPROTO_UDP);
  });
  it('emits the captured header into 0xa5, byte-identical (checksum computed)', () => {
    for (const cap of [ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, TCP_SYN, TCP_RST, UDP_DATAGRAM, ICMP_PORT_UNREACH, UDP_DF_1500]) {
      const r = parseIpv4(cap.bytes, L3);
      const buf = new Uint8Array(22).fill(0xa5);
      expect(emitIpv4(r, buf, 1)).toBe(20);
      expect(toHex(buf)).toBe('a5' + toHex(cap.bytes, L3, 20) + 'a5');
    }
  });
});

describe('ipv4: incremental rewrites', () => {
  it('ipv4DecTtl on the TTL-1 capture gives TTL 0 and a valid checksum', () => {
    const f = ICMP_ECHO_TTL1.bytes.slice();
    expect(ipv4Ttl(f, L3)).toBe(1);
    expect(ipv4DecTtl(f, L3)).toBe(0);
    expect(verifyIpv4Checksum(f, L3)).toBe(true);
  });
  /** The literal kernel code on little-endian x86: check is the byte-swapped u16. */
  function kernelLE(checkBE: number): number {
    const sw = (v: number) => ((v & 0xff) << 8) | (v >>> 8);
    let check = sw(checkBE) + 0x0001; // htons(0x0100) read as a little-endian u16
    check = (check + (check >= 0xffff ? 1 : 0)) & 0xffff;
    return sw(check);
  }
  const arbHeader = fc.record({
    tos: fc.nat(255), id: fc.nat(0xffff), fo: fc.nat(0xffff), ttl: fc.integer({ min: 1, max: 255 }), proto: fc.nat(255),
    src: fc.integer({ min: 0, max: 0xffffffff }), dst: fc.integer({ min: 0, max: 0xffffffff }), tot: fc.integer({ min: 20, max: 0xffff }),
  }).map((h) => {
    const b = new Uint8Array(20);
    emitIpv4({ src: h.src, dst: h.dst, protocol: h.proto, ttl: h.ttl, tos: h.tos, id: h.id, df: false, mf: false, fragOffset: 0, payloadLen: h.tot - 20, options: new Uint8Array(0) }, b, 0);
    setIpv4FragOffRaw(b, 0, h.fo);
    fillIpv4Checksum(b, 0);
    return b;
  });
  it('ipv4DecTtl == full recompute == the kernel formula, for every header', () => {
    fc.assert(fc.property(arbHeader, (b) => {
      const kernel = kernelLE(ipv4Check(b, 0));
      ipv4DecTtl(b, 0);
      const inc = ipv4Check(b, 0);
      fillIpv4Checksum(b, 0);
      return inc === ipv4Check(b, 0) && inc === kernel;
    }), { numRuns: 5000 });
  });
  it('ipv4DecTtl hits the 0xfeff → 0x0000 and 0xff00 → 0x0001 edges like the kernel', () => {
    expect(kernelLE(0xfeff)).toBe(0x0000);
    const b = new Uint8Array(20);
    b[0] = 0x45; b[8] = 64;
    setU16(b, IP_CHECK, 0xfeff);
    ipv4DecTtl(b, 0);
    expect(ipv4Check(b, 0)).toBe(0x0000);
    setU16(b, IP_CHECK, 0xff00);
    ipv4DecTtl(b, 0);
    expect(ipv4Check(b, 0)).toBe(0x0001);
  });
  it('ipv4SetSrc / ipv4SetDst / ipv4SetTos keep the checksum equal to a recompute', () => {
    fc.assert(fc.property(arbHeader, fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.nat(255), (b, s, d, tos) => {
      ipv4SetSrc(b, 0, s);
      ipv4SetDst(b, 0, d);
      ipv4SetTos(b, 0, tos);
      const inc = ipv4Check(b, 0);
      setU16(b, IP_CHECK, 0);
      return ipv4Saddr(b, 0) === s && ipv4Daddr(b, 0) === d && inc === checksum(b, 0, 20);
    }), { numRuns: 3000 });
  });
  it('SNAT of the captured SYN to a node address verifies', () => {
    const f = TCP_SYN.bytes.slice();
    ipv4SetSrc(f, L3, 0xc0a80a0b);
    expect(verifyIpv4Checksum(f, L3)).toBe(true);
  });
});

describe('ipv4: round trip, options and rejection', () => {
  const arbRepr: fc.Arbitrary<Ipv4Repr> = fc.record({
    src: fc.integer({ min: 0, max: 0xffffffff }), dst: fc.integer({ min: 0, max: 0xffffffff }), protocol: fc.nat(255),
    ttl: fc.nat(255), tos: fc.nat(255), id: fc.nat(0xffff), df: fc.boolean(), mf: fc.boolean(),
    fragOffset: fc.nat(0x1fff).map((x) => x * 8), payloadLen: fc.nat(200),
    options: fc.nat(10).chain((w) => fc.uint8Array({ minLength: w * 4, maxLength: w * 4 })),
  });
  it('parse(emit(r)) == r (with options)', () => {
    fc.assert(fc.property(arbRepr, (r) => {
      const b = new Uint8Array(60 + r.payloadLen).fill(0xa5);
      const hl = emitIpv4(r, b, 0);
      expect(hl).toBe(20 + r.options.length);
      expect(verifyIpv4Checksum(b, 0)).toBe(true);
      expect(parseIpv4(b, 0, hl + r.payloadLen)).toEqual(r);
    }));
  });
  it('skips options: IHL 6 with a router-alert option', () => {
    const r: Ipv4Repr = { src: 1, dst: 2, protocol: 2, ttl: 1, tos: 0xc0, id: 0, df: true, mf: false, fragOffset: 0, payloadLen: 8, options: Uint8Array.of(0x94, 0x04, 0, 0) };
    const b = new Uint8Array(32).fill(0xa5);
    emitIpv4(r, b, 0);
    // 46 c0 0020 0000 4000 01 02 [e415] 00000001 00000002 | 94 04 0000 (router alert) | payload untouched
    expect(toHex(b)).toBe('46c0002000004000010' + '2e415000000010000000294040000' + 'a5'.repeat(8));
    expect(verifyIpv4Checksum(b, 0)).toBe(true);
    expect(ipv4HeaderLen(b, 0)).toBe(24);
    expect(parseIpv4(b, 0, 32).options).toEqual(r.options);
  });
  it('fragments', () => {
    const b = new Uint8Array(20);
    emitIpv4({ src: 1, dst: 2, protocol: 17, ttl: 64, tos: 0, id: 7, df: false, mf: true, fragOffset: 1480, payloadLen: 0, options: new Uint8Array(0) }, b, 0);
    expect(u16(b, 6)).toBe(0x2000 | 185);
    expect(ipv4IsFragment(b, 0)).toBe(true);
    expect(ipv4FragOffset(b, 0)).toBe(1480);
  });
  it('rejects option lengths that are not words', () => {
    expect(() => emitIpv4({ ...parseIpv4(TCP_SYN.bytes, L3), options: new Uint8Array(3) }, new Uint8Array(60), 0)).toThrow(WireError);
  });

  const good = () => ICMP_ECHO_REQUEST.bytes.slice(L3);
  const fix = (b: Uint8Array) => { fillIpv4Checksum(b, 0); return b; };
  it.each([
    ['IP_INHDR', 'truncated header', (b: Uint8Array) => b.subarray(0, 19)],
    ['IP_INHDR', 'version != 4', (b: Uint8Array) => fix((b[0] = 0x65, b))],
    ['IP_INHDR', 'ihl < 5', (b: Uint8Array) => ((b[0] = 0x44), b)],
    ['IP_INHDR', 'truncated header', (b: Uint8Array) => ((b[0] = 0x4f), b.subarray(0, 40))],
    ['IP_CSUM', 'bad header checksum', (b: Uint8Array) => ((b[11] ^= 1), b)],
    ['PKT_TOO_SMALL', 'total length > available', (b: Uint8Array) => b.subarray(0, 83)],
    ['IP_INHDR', 'total length < header length', (b: Uint8Array) => fix((setU16(b, 2, 19), b))],
  ] as const)('%s: %s', (code, reason, mutate) => {
    const b = mutate(good());
    expect(checkIpv4(b, 0, b.length)).toEqual({ code, reason });
    expect(() => parseIpv4(b, 0, b.length)).toThrow(`ipv4: ${reason}`);
  });
  it('checks the checksum before the total length, like ip_rcv_core', () => {
    const b = good().subarray(0, 50);
    b[11] ^= 1;
    expect(checkIpv4(b, 0, b.length)?.code).toBe('IP_CSUM');
    expect(() => parseIpv4(b, 0, b.length, false)).toThrow('total length > available');
  });
  it('accepts trailing padding beyond the total length', () => {
    const b = new Uint8Array(200);
    b.set(good());
    expect(checkIpv4(b, 0, 200)).toBeNull();
    setIpv4Id(b, 0, 1);
    expect(checkIpv4(b, 0, 200)?.code).toBe('IP_CSUM');
  });
});

describe('writeIpv4Header', () => {
  it('writes a checksum computed from the field values that verifies over the bytes written', () => {
    fc.assert(fc.property(
      fc.integer({ min: -0x80000000, max: 0xffffffff }), fc.integer({ min: -0x80000000, max: 0xffffffff }), fc.nat(255), fc.nat(255), fc.nat(255),
      fc.nat(0x1ffff), fc.boolean(), fc.nat(0xfff0), fc.nat(5),
      (src, dst, proto, ttl, tos, id, df, payload, pad) => {
        const b = new Uint8Array(pad + 20);
        writeIpv4Header(b, pad, src, dst, proto, ttl, tos, id, df, payload);
        expect(checksum(b, pad, 20)).toBe(0);
        expect(ipv4Saddr(b, pad)).toBe(src >>> 0);
        expect(ipv4Daddr(b, pad)).toBe(dst >>> 0);
        expect(ipv4Id(b, pad)).toBe(id & 0xffff);
        expect(ipv4Df(b, pad)).toBe(df);
      }), { numRuns: 2000 });
  });
});
