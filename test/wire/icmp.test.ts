import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex, WireError } from '../../src/wire/bytes.js';
import {
  ICMP_DEST_UNREACH, ICMP_EXC_TTL, ICMP_FRAG_NEEDED, ICMP_HLEN, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED,
  checkIcmp, emitIcmp, emitIcmpError, icmpCode, icmpEchoId, icmpEchoSeq, icmpErrorSuppressed, icmpMtu, icmpQuoteLen,
  icmpReprLen, icmpSetEchoId, icmpType, parseIcmp, verifyIcmpChecksum, type IcmpRepr,
} from '../../src/wire/icmp.js';
import { ipv4Id, ipv4TotLen, parseIpv4, setIpv4FragOffRaw, fillIpv4Checksum } from '../../src/wire/ipv4.js';
import {
  ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ECHO_TTL1, ICMP_FRAG_NEEDED as FRAG_NEEDED_CAP, ICMP_PORT_UNREACH as PORT_UNREACH_CAP,
  ICMP_PORT_UNREACH_576, ICMP_TIME_EXCEEDED as TIME_EXCEEDED_CAP, UDP_CLOSED, UDP_CLOSED_1024, UDP_DF_1500,
} from './fixtures.js';

const L4 = 14 + 20;

describe('icmp: captured messages', () => {
  it('decodes the echo request field by field', () => {
    // 08        type echo request
    // 00        code 0
    // 0b 7d     checksum over the 64-byte message
    // 00 01     id 1
    // 00 01     seq 1
    // 5f2e036b 00000000 c1140a00 00000000   16-byte timeval (little-endian, from the Python pinger)
    // 10 11 12 ... 37                       40 pattern bytes (iputils layout)
    const f = ICMP_ECHO_REQUEST.bytes;
    expect(checkIcmp(f, L4, 64)).toBeNull();
    expect([icmpType(f, L4), icmpCode(f, L4), icmpEchoId(f, L4), icmpEchoSeq(f, L4)]).toEqual([8, 0, 1, 1]);
    const r = parseIcmp(f, L4, 64);
    expect(r.kind).toBe('echo-request');
    if (r.kind === 'echo-request') expect(r.data.length).toBe(56);
  });
  it('the echo reply equals the request with type 0 and checksum + 0x0800', () => {
    const q = parseIcmp(ICMP_ECHO_REQUEST.bytes, L4, 64);
    const p = parseIcmp(ICMP_ECHO_REPLY.bytes, L4, 64);
    expect(p).toEqual({ ...q, kind: 'echo-reply' });
    const buf = new Uint8Array(66).fill(0xa5);
    expect(emitIcmp(p, buf, 1)).toBe(64);
    expect(toHex(buf, 1, 64)).toBe(toHex(ICMP_ECHO_REPLY.bytes, L4, 64));
    expect([buf[0], buf[65]]).toEqual([0xa5, 0xa5]);
  });
  it('decodes port unreachable: 03 03 csum 00000000 + whole 32-byte UDP datagram quoted', () => {
    // 03 03 1307 0000 0000 | 45000020 92fe4000 401191e2 0af40002 0af40003 | a02b 0009 000c 58c4 | 78787878
    const f = PORT_UNREACH_CAP.bytes;
    const len = ipv4TotLen(f, 14) - 20;
    expect(len).toBe(40);
    const r = parseIcmp(f, L4, len);
    expect(r).toMatchObject({ kind: 'dest-unreachable', code: ICMP_PORT_UNREACH, mtu: 0 });
    if (r.kind === 'dest-unreachable') expect(toHex(r.quote)).toBe(toHex(UDP_CLOSED.bytes, 14));
  });
  it('decodes frag-needed with next-hop MTU 1400 and time exceeded', () => {
    const f = FRAG_NEEDED_CAP.bytes;
    expect([icmpType(f, L4), icmpCode(f, L4), icmpMtu(f, L4)]).toEqual([ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400]);
    const t = parseIcmp(TIME_EXCEEDED_CAP.bytes, L4, 92);
    expect(t).toMatchObject({ kind: 'time-exceeded', code: ICMP_EXC_TTL });
    if (t.kind === 'time-exceeded') expect(parseIpv4(t.quote).ttl).toBe(1);
  });
});

describe('icmp: emitIcmpError reproduces Linux icmp_send byte for byte', () => {
  // The error's IP id is hashed by the kernel; take it from the capture. Everything else is computed.
  const cases = [
    ['port unreachable, 32-byte datagram quoted whole (IP len 60)', UDP_CLOSED, PORT_UNREACH_CAP, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, 60],
    ['port unreachable, 1052-byte datagram cut to 548 (IP len 576)', UDP_CLOSED_1024, ICMP_PORT_UNREACH_576, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, 576],
    ['time exceeded, 84-byte ping quoted whole (IP len 112)', ICMP_ECHO_TTL1, TIME_EXCEEDED_CAP, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0, 112],
    ['frag needed mtu 1400, 1500-byte datagram cut to 548 (IP len 576)', UDP_DF_1500, FRAG_NEEDED_CAP, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400, 576],
  ] as const;
  it.each(cases)('%s', (_name, orig, err, type, code, mtu, iplen) => {
    const out = new Uint8Array(iplen + 2).fill(0xa5);
    const n = emitIcmpError(out, 1, orig.bytes, 14, orig.bytes.length - 14, {
      type, code, mtu, src: 0x0af40003, id: ipv4Id(err.bytes, 14),
    });
    expect(n).toBe(iplen);
    expect(toHex(out, 1, n)).toBe(toHex(err.bytes, 14));
    expect([out[0], out[n + 1]]).toEqual([0xa5, 0xa5]);
  });
  it('icmpQuoteLen = min(totlen, min(576, mtu) - 28)', () => {
    expect(icmpQuoteLen(32)).toBe(32);
    expect(icmpQuoteLen(1052)).toBe(548);
    expect(icmpQuoteLen(1500, 400)).toBe(372);
    expect(icmpQuoteLen(100, 20)).toBe(0);
  });
  it('keeps the TOS bits 0x1e and sets precedence 0xc0', () => {
    const orig = UDP_CLOSED.bytes.slice();
    orig[15] = 0xb9; // DSCP 46 (EF) + ECT(1)
    fillIpv4Checksum(orig, 14);
    const out = new Uint8Array(100);
    emitIcmpError(out, 0, orig, 14, orig.length - 14, { type: 3, code: 3, src: 1, id: 0 });
    expect(out[1]).toBe((0xb9 & 0x1e) | 0xc0);
  });
  it('icmpErrorSuppressed: non-first fragments, ICMP errors, broadcast/multicast', () => {
    expect(icmpErrorSuppressed(UDP_CLOSED.bytes, 14, 32)).toBeNull();
    expect(icmpErrorSuppressed(ICMP_ECHO_TTL1.bytes, 14, 84)).toBeNull();
    expect(icmpErrorSuppressed(PORT_UNREACH_CAP.bytes, 14, 60)).toBe('in response to an ICMP error');
    const frag = UDP_CLOSED.bytes.slice();
    setIpv4FragOffRaw(frag, 14, 0x2001);
    expect(icmpErrorSuppressed(frag, 14, 32)).toBe('non-first fragment');
    const mc = UDP_CLOSED.bytes.slice();
    mc.set([224, 0, 0, 251], 14 + 16);
    expect(icmpErrorSuppressed(mc, 14, 32)).toBe('multicast destination');
    mc.set([255, 255, 255, 255], 14 + 16);
    expect(icmpErrorSuppressed(mc, 14, 32)).toBe('broadcast destination');
  });
});

describe('icmp: NAT of the echo id, round trip, rejection', () => {
  it('icmpSetEchoId updates the checksum incrementally', () => {
    fc.assert(fc.property(fc.nat(0xffff), (id) => {
      const f = ICMP_ECHO_REQUEST.bytes.slice();
      icmpSetEchoId(f, L4, id);
      return icmpEchoId(f, L4) === id && verifyIcmpChecksum(f, L4, 64);
    }));
  });
  const bytes = fc.uint8Array({ maxLength: 80 });
  const arb: fc.Arbitrary<IcmpRepr> = fc.oneof(
    fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), id: fc.nat(0xffff), seq: fc.nat(0xffff), data: bytes }),
    fc.record({ kind: fc.constant('dest-unreachable' as const), code: fc.nat(255), mtu: fc.nat(0xffff), quote: bytes }),
    fc.record({ kind: fc.constant('time-exceeded' as const), code: fc.nat(255), quote: bytes }),
    fc.record({ kind: fc.constant('other' as const), type: fc.nat(255).filter((t) => ![0, 3, 8, 11].includes(t)), code: fc.nat(255), rest: fc.integer({ min: 0, max: 0xffffffff }), data: bytes }),
  );
  it('parse(emit(r)) == r, checksum valid', () => {
    fc.assert(fc.property(arb, (r) => {
      const b = new Uint8Array(icmpReprLen(r)).fill(0xa5);
      const n = emitIcmp(r, b, 0);
      expect(n).toBe(b.length);
      expect(verifyIcmpChecksum(b, 0, n)).toBe(true);
      expect(parseIcmp(b, 0, n)).toEqual(r);
    }));
  });
  it('rejects truncation and bad checksums', () => {
    expect(checkIcmp(ICMP_ECHO_REQUEST.bytes, L4, 7)).toBe('truncated');
    expect(() => parseIcmp(ICMP_ECHO_REQUEST.bytes, L4, 7)).toThrow(new WireError('icmp', 'truncated'));
    const f = ICMP_ECHO_REQUEST.bytes.slice();
    f[L4 + 20] ^= 0xff;
    expect(checkIcmp(f, L4, 64)).toBe('bad checksum');
    expect(() => parseIcmp(f, L4, 64)).toThrow('icmp: bad checksum');
    expect(parseIcmp(f, L4, 64, false).kind).toBe('echo-request');
  });
  it('an echo with a non-zero code is "other", not an echo', () => {
    const b = new Uint8Array(8);
    emitIcmp({ kind: 'other', type: 8, code: 1, rest: 0x00010002, data: new Uint8Array(0) }, b, 0);
    expect(parseIcmp(b).kind).toBe('other');
    expect(ICMP_HLEN).toBe(8);
  });
  it('emitIcmpError output parses as IPv4 + ICMP', () => {
    const out = new Uint8Array(600);
    const n = emitIcmpError(out, 0, UDP_CLOSED_1024.bytes, 14, UDP_CLOSED_1024.bytes.length - 14, { type: 3, code: 13, src: 0x0af40001, id: 9 });
    const ip = parseIpv4(out, 0, n);
    expect([ip.tos, ip.df, ip.ttl, ip.protocol, ip.payloadLen, ip.dst]).toEqual([0xc0, false, 64, 1, 556, 0x0af40002]);
    expect(parseIcmp(out, 20, ip.payloadLen)).toMatchObject({ kind: 'dest-unreachable', code: 13 });
  });
});
