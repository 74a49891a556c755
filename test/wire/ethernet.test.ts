import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { macToString, toHex, WireError } from '../../src/wire/bytes.js';
import {
  ETH_HLEN, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, checkEthernet, emitEthernet, ethGetDst, ethGetSrc, ethType,
  parseEthernet, setEthDst, setEthSrc, setEthType, type EthernetRepr,
} from '../../src/wire/ethernet.js';
import { ARP_REQUEST, ICMP_ECHO_REQUEST, IPV6_ROUTER_SOLICIT } from './fixtures.js';

describe('ethernet: captured frames', () => {
  it('decodes the ARP request header', () => {
    // ff ff ff ff ff ff   dst  broadcast
    // 0a 58 0a f4 00 02   src  pw-wire-a's veth
    // 08 06               type ARP
    const f = ARP_REQUEST.bytes;
    expect(f.length).toBe(42);
    const r = parseEthernet(f);
    expect(macToString(r.dst)).toBe('ff:ff:ff:ff:ff:ff');
    expect(macToString(r.src)).toBe('0a:58:0a:f4:00:02');
    expect(r.ethertype).toBe(ETH_P_ARP);
  });
  it('decodes IPv4 and IPv6 ethertypes in place, without allocation', () => {
    // 0a 58 0a f4 00 03 | 0a 58 0a f4 00 02 | 08 00
    expect(ethType(ICMP_ECHO_REQUEST.bytes, 0)).toBe(ETH_P_IP);
    // 33 33 00 00 00 02 | 0a 58 0a f4 00 02 | 86 dd
    expect(ethType(IPV6_ROUTER_SOLICIT.bytes, 0)).toBe(ETH_P_IPV6);
    const out = new Uint8Array(12);
    ethGetDst(ICMP_ECHO_REQUEST.bytes, 0, out, 0);
    ethGetSrc(ICMP_ECHO_REQUEST.bytes, 0, out, 6);
    expect(toHex(out)).toBe('0a580af400030a580af40002');
  });
  it('emits into a 0xa5-filled buffer, byte-identical to the capture', () => {
    const buf = new Uint8Array(ETH_HLEN + 2).fill(0xa5);
    const n = emitEthernet(parseEthernet(ICMP_ECHO_REQUEST.bytes), buf, 1);
    expect(n).toBe(14);
    expect(toHex(buf)).toBe('a5' + toHex(ICMP_ECHO_REQUEST.bytes, 0, 14) + 'a5');
  });
  it('setters write in place', () => {
    const b = new Uint8Array(14).fill(0xa5);
    setEthDst(b, 0, ARP_REQUEST.bytes, 0);
    setEthSrc(b, 0, ARP_REQUEST.bytes, 6);
    setEthType(b, 0, ETH_P_ARP);
    expect(toHex(b)).toBe(toHex(ARP_REQUEST.bytes, 0, 14));
  });
});

describe('ethernet: round trip and rejection', () => {
  const arbRepr: fc.Arbitrary<EthernetRepr> = fc.record({
    dst: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    src: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    ethertype: fc.nat(0xffff),
  });
  it('parse(emit(r)) == r', () => {
    fc.assert(fc.property(arbRepr, fc.nat(16), (r, off) => {
      const b = new Uint8Array(off + 14).fill(0xa5);
      emitEthernet(r, b, off);
      expect(parseEthernet(b, off)).toEqual(r);
    }));
  });
  it('rejects fewer than 14 bytes', () => {
    expect(checkEthernet(ARP_REQUEST.bytes, 0, 13)).toBe('truncated');
    expect(checkEthernet(ARP_REQUEST.bytes, 0, 14)).toBeNull();
    expect(() => parseEthernet(ARP_REQUEST.bytes.subarray(0, 13))).toThrow(WireError);
    expect(() => parseEthernet(ARP_REQUEST.bytes, 0, 13)).toThrow('ethernet: truncated');
  });
});
