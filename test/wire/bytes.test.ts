import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  cidrContains, copyMac, fromHex, ipToString, isBroadcastMac, isMulticastMac, isZeroMac, macEquals,
  macToString, parseCidr, parseIp, parseMac, prefixMask, setU16, setU32, toHex, u16, u32,
} from '../../src/wire/bytes.js';

describe('bytes: big-endian loads and stores', () => {
  it('u16/u32 read network order, u32 is unsigned', () => {
    const b = fromHex('0af40002 ffffffff 8000');
    expect(u16(b, 0)).toBe(0x0af4);
    expect(u32(b, 0)).toBe(0x0af40002);
    expect(u32(b, 4)).toBe(0xffffffff);
    expect(u16(b, 8)).toBe(0x8000);
  });
  it('setU16/setU32 write only their bytes (0xa5 canary)', () => {
    const b = new Uint8Array(8).fill(0xa5);
    setU32(b, 1, 0xdeadbeef);
    setU16(b, 5, 0x1234);
    expect(toHex(b)).toBe('a5deadbeef1234a5');
  });
  it('round-trips arbitrary values', () => {
    fc.assert(fc.property(fc.nat(0xffff), fc.integer({ min: 0, max: 0xffffffff }), (a, c) => {
      const b = new Uint8Array(6);
      setU16(b, 0, a);
      setU32(b, 2, c);
      return u16(b, 0) === a && u32(b, 2) === c;
    }));
  });
});

describe('bytes: IPv4 addresses', () => {
  it('formats and parses dotted quads', () => {
    expect(ipToString(0x0af40002)).toBe('10.244.0.2');
    expect(ipToString(0xffffffff)).toBe('255.255.255.255');
    expect(parseIp('10.244.0.2')).toBe(0x0af40002);
    expect(parseIp('0.0.0.0')).toBe(0);
    expect(parseIp('255.255.255.255')).toBe(0xffffffff);
  });
  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.04', ' 1.2.3.4', '1.2.3.4 ', '1..3.4', '1.2.3.', 'a.b.c.d', '1.2.3.4/32', '1234.1.1.1', '-1.2.3.4', '0x1.2.3.4'])(
    'rejects %j', (s) => expect(parseIp(s)).toBeUndefined());
  it('ipToString is the plain dotted quad of the 32 bits, whatever its cache holds (same slot, signed, repeated)', () => {
    const plain = (n: number) => `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
    // 0 and 0x1000 (0.0.16.0) share a slot of the cache.
    const xs = [0, 0x1000, 0, 0x10000000, 0x0af40002, -1, 0xffffffff, 0x0af40002 | 0, 0xc0a8010b, 0x80000000, -0x80000000, 0];
    for (const n of [...xs, ...xs]) expect(ipToString(n)).toBe(plain(n));
    fc.assert(fc.property(fc.integer({ min: -0x80000000, max: 0xffffffff }), (n) => ipToString(n) === plain(n)));
  });

  it('parseIp(ipToString(n)) === n', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => parseIp(ipToString(n)) === n));
  });
});

describe('bytes: MAC addresses', () => {
  it('formats lowercase, parses any case', () => {
    const m = parseMac('0A:58:0a:F4:00:02')!;
    expect(Array.from(m)).toEqual([0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x02]);
    expect(macToString(m)).toBe('0a:58:0a:f4:00:02');
    expect(macToString(fromHex('00 ff ff ff ff ff ff 00'), 1)).toBe('ff:ff:ff:ff:ff:ff');
  });
  it.each(['', '0a:58:0a:f4:00', '0a:58:0a:f4:00:02:03', '0a-58-0a-f4-00-02', 'a:58:0a:f4:00:002', '0g:58:0a:f4:00:02'])(
    'rejects %j', (s) => expect(parseMac(s)).toBeUndefined());
  it('equality, copy, broadcast/multicast/zero', () => {
    const a = fromHex('00 0a580af40002');
    const b = fromHex('0a580af40002');
    expect(macEquals(a, 1, b, 0)).toBe(true);
    expect(macEquals(a, 0, b, 0)).toBe(false);
    const c = new Uint8Array(7).fill(0xa5);
    copyMac(c, 1, b);
    expect(toHex(c)).toBe('a50a580af40002');
    const bc = parseMac('ff:ff:ff:ff:ff:ff')!;
    expect(isBroadcastMac(bc)).toBe(true);
    expect(isMulticastMac(bc)).toBe(true);
    expect(isMulticastMac(parseMac('33:33:00:00:00:02')!)).toBe(true);
    expect(isMulticastMac(parseMac('01:00:5e:00:00:01')!)).toBe(true);
    expect(isBroadcastMac(b)).toBe(false);
    expect(isMulticastMac(b)).toBe(false);
    expect(isZeroMac(new Uint8Array(6))).toBe(true);
    expect(isZeroMac(b)).toBe(false);
  });
  it('parseMac(macToString(m)) round-trips', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (m) => toHex(parseMac(macToString(m))!) === toHex(m)));
  });
});

describe('bytes: prefixes', () => {
  it('prefixMask covers 0 and 32 (no shift-by-32 trap)', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(32)).toBe(0xffffffff);
  });
  it('parseCidr keeps host bits unless strict', () => {
    expect(parseCidr('10.244.0.0/16')).toEqual({ addr: 0x0af40000, prefix: 16 });
    expect(parseCidr('10.244.0.2/24')).toEqual({ addr: 0x0af40002, prefix: 24 });
    expect(parseCidr('10.244.0.2/24', true)).toBeUndefined();
    expect(parseCidr('10.244.0.0/24', true)).toEqual({ addr: 0x0af40000, prefix: 24 });
    expect(parseCidr('0.0.0.0/0', true)).toEqual({ addr: 0, prefix: 0 });
  });
  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0/8', '10.0.0.0/-1', '10.0.0.0/8/8'])(
    'parseCidr rejects %j', (s) => expect(parseCidr(s)).toBeUndefined());
  it('cidrContains', () => {
    expect(cidrContains(0x0af40000, 16, 0x0af40102)).toBe(true);
    expect(cidrContains(0x0af40000, 24, 0x0af40102)).toBe(false);
    expect(cidrContains(0, 0, 0xffffffff)).toBe(true);
    expect(cidrContains(0xc0a80101, 32, 0xc0a80101)).toBe(true);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 0xffffffff }), (a, p, ip) =>
      cidrContains(a, p, ip) === (Math.floor(a / 2 ** (32 - p)) === Math.floor(ip / 2 ** (32 - p)))));
  });
});
