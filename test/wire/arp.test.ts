import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { macToString, parseMac, toHex, WireError, ipToString } from '../../src/wire/bytes.js';
import {
  ARPOP_REPLY, ARPOP_REQUEST, ARP_LEN, ARP_SHA, ARP_THA, arpOp, arpSpa, arpTpa, checkArp, emitArp, parseArp,
  setArpOp, setArpSha, setArpSpa, setArpTha, setArpTpa, type ArpRepr,
} from '../../src/wire/arp.js';
import { ETH_HLEN, ETH_P_ARP, emitEthernet } from '../../src/wire/ethernet.js';
import { ARP_REPLY, ARP_REQUEST } from './fixtures.js';

describe('arp: captured frames (42 bytes on veth: no padding to 60)', () => {
  it('decodes the request field by field', () => {
    // 00 01              htype Ethernet
    // 08 00              ptype IPv4
    // 06 04              hlen 6, plen 4
    // 00 01              op request
    // 0a 58 0a f4 00 02  sha
    // 0a f4 00 02        spa 10.244.0.2
    // 00 00 00 00 00 00  tha (zero in a Linux request)
    // 0a f4 00 03        tpa 10.244.0.3
    const f = ARP_REQUEST.bytes;
    expect(f.length).toBe(ETH_HLEN + ARP_LEN);
    expect(checkArp(f, 14, f.length - 14)).toBeNull();
    expect(arpOp(f, 14)).toBe(ARPOP_REQUEST);
    expect(ipToString(arpSpa(f, 14))).toBe('10.244.0.2');
    expect(ipToString(arpTpa(f, 14))).toBe('10.244.0.3');
    expect(macToString(f, 14 + ARP_SHA)).toBe('0a:58:0a:f4:00:02');
    expect(macToString(f, 14 + ARP_THA)).toBe('00:00:00:00:00:00');
  });
  it('decodes the reply', () => {
    // 00 01 08 00 06 04 | 00 02 reply | sha 0a:58:0a:f4:00:03 | spa 10.244.0.3 | tha 0a:58:0a:f4:00:02 | tpa 10.244.0.2
    const r = parseArp(ARP_REPLY.bytes, 14);
    expect(r.op).toBe(ARPOP_REPLY);
    expect(macToString(r.sha)).toBe('0a:58:0a:f4:00:03');
    expect(ipToString(r.spa)).toBe('10.244.0.3');
    expect(macToString(r.tha)).toBe('0a:58:0a:f4:00:02');
    expect(ipToString(r.tpa)).toBe('10.244.0.2');
  });
  it('builds the request frame from scratch into 0xa5, byte-identical, 42 bytes', () => {
    const buf = new Uint8Array(42).fill(0xa5);
    const a = parseMac('0a:58:0a:f4:00:02')!;
    emitEthernet({ dst: parseMac('ff:ff:ff:ff:ff:ff')!, src: a, ethertype: ETH_P_ARP }, buf, 0);
    const n = emitArp({ op: ARPOP_REQUEST, sha: a, spa: 0x0af40002, tha: new Uint8Array(6), tpa: 0x0af40003 }, buf, ETH_HLEN);
    expect(n).toBe(28);
    expect(toHex(buf)).toBe(toHex(ARP_REQUEST.bytes));
  });
  it('turns the request into the reply in place with setters', () => {
    const b = ARP_REQUEST.bytes.slice();
    b.set(ARP_REPLY.bytes.subarray(0, 14), 0);
    setArpOp(b, 14, ARPOP_REPLY);
    setArpTha(b, 14, b, 14 + ARP_SHA);
    setArpSha(b, 14, parseMac('0a:58:0a:f4:00:03')!);
    setArpTpa(b, 14, arpSpa(b, 14));
    setArpSpa(b, 14, 0x0af40003);
    expect(toHex(b)).toBe(toHex(ARP_REPLY.bytes));
  });
});

describe('arp: round trip and rejection', () => {
  const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
  const ip = fc.integer({ min: 0, max: 0xffffffff });
  const arb: fc.Arbitrary<ArpRepr> = fc.record({ op: fc.nat(0xffff), sha: mac, spa: ip, tha: mac, tpa: ip });
  it('parse(emit(r)) == r', () => {
    fc.assert(fc.property(arb, (r) => {
      const b = new Uint8Array(28).fill(0xa5);
      emitArp(r, b, 0);
      expect(parseArp(b)).toEqual(r);
    }));
  });
  const body = () => ARP_REQUEST.bytes.slice(14);
  it.each([
    ['truncated', (b: Uint8Array) => b.subarray(0, 27)],
    ['htype != 1 (Ethernet)', (b: Uint8Array) => { b[1] = 6; return b; }],
    ['ptype != 0x0800 (IPv4)', (b: Uint8Array) => { b[2] = 0x86; b[3] = 0xdd; return b; }],
    ['hlen != 6', (b: Uint8Array) => { b[4] = 8; return b; }],
    ['plen != 4', (b: Uint8Array) => { b[5] = 16; return b; }],
  ])('rejects: %s', (reason, mutate) => {
    const b = mutate(body());
    expect(checkArp(b, 0, b.length)).toBe(reason);
    expect(() => parseArp(b)).toThrow(new WireError('arp', reason));
  });
  it('checks length first, then address lengths, then types (arp_rcv, then arp_process)', () => {
    const b = body();
    b[1] = 6; b[4] = 8;
    expect(checkArp(b, 0, 28)).toBe('hlen != 6');
    expect(checkArp(b, 0, 20)).toBe('truncated');
  });
  it('ignores trailing bytes (a NIC-padded 60-byte frame)', () => {
    const b = new Uint8Array(60);
    b.set(ARP_REQUEST.bytes);
    expect(parseArp(b, 14)).toEqual(parseArp(ARP_REQUEST.bytes, 14));
  });
});
