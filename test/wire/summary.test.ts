import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeLayers, summarize, tcpFlagString, tcpOptionsString } from '../../src/wire/summary.js';
import { emitIcmpError, ICMP_DEST_UNREACH } from '../../src/wire/icmp.js';
import { emitIpv4, IPPROTO_IPIP } from '../../src/wire/ipv4.js';
import * as F from './fixtures.js';

const all = Object.entries(F).filter(([, v]) => typeof v === 'object' && v && 'bytes' in v) as Array<[string, F.Captured]>;

describe('summary: matches `tcpdump -nn -t -S` on every captured frame', () => {
  it.each(all.filter(([n]) => n !== 'IPV6_ROUTER_SOLICIT'))('%s', (_n, cap) => {
    // tcpdump's application-layer suffix (": HTTP: GET / HTTP/1.0") is out of scope.
    expect(summarize(cap.bytes)).toBe(cap.tcpdump.replace(/: HTTP.*$/, ''));
  });
  it('IPv6 is summarised by length only', () => {
    expect(summarize(F.IPV6_ROUTER_SOLICIT.bytes)).toBe('IP6, length 56');
  });
  it('honours off/len and flags bad IP checksums', () => {
    const b = new Uint8Array(F.UDP_DATAGRAM.bytes.length + 3);
    b.set(F.UDP_DATAGRAM.bytes, 3);
    expect(summarize(b, 3)).toBe(F.UDP_DATAGRAM.tcpdump);
    expect(summarize(b, 3, 30)).toBe('IP truncated');
    b[3 + 14 + 11] ^= 1;
    expect(summarize(b, 3)).toBe(F.UDP_DATAGRAM.tcpdump + ' [bad ip cksum]');
  });
  it('tcpdump wording for unreachable codes and IPIP', () => {
    const out = new Uint8Array(14 + 600);
    out.set(F.UDP_CLOSED.bytes.subarray(0, 14));
    const words: Record<number, string> = {
      0: 'net 10.244.0.3 unreachable', 1: 'host 10.244.0.3 unreachable', 2: '10.244.0.3 protocol 17 unreachable',
      9: 'net 10.244.0.3 unreachable - admin prohibited', 10: 'host 10.244.0.3 unreachable - admin prohibited',
      13: '10.244.0.3 unreachable - admin prohibited filter',
    };
    for (const [code, text] of Object.entries(words)) {
      const n = emitIcmpError(out, 14, F.UDP_CLOSED.bytes, 14, 32, { type: ICMP_DEST_UNREACH, code: Number(code), src: 0x0af40003, id: 1 });
      expect(summarize(out, 0, 14 + n)).toBe(`IP 10.244.0.3 > 10.244.0.2: ICMP ${text}, length 40`);
    }
    // IPIP (Calico): outer header + the captured echo request inside.
    const inner = F.ICMP_ECHO_REQUEST.bytes.subarray(14);
    const f = new Uint8Array(14 + 20 + inner.length);
    f.set(F.ICMP_ECHO_REQUEST.bytes.subarray(0, 14));
    emitIpv4({ src: 0xc0a80a0b, dst: 0xc0a80a0c, protocol: IPPROTO_IPIP, ttl: 64, tos: 0, id: 0, df: true, mf: false, fragOffset: 0, payloadLen: inner.length, options: new Uint8Array(0) }, f, 14);
    f.set(inner, 34);
    expect(summarize(f)).toBe('IP 192.168.10.11 > 192.168.10.12: IP 10.244.0.2 > 10.244.0.3: ICMP echo request, id 1, seq 1, length 64');
    expect(decodeLayers(f).map((l) => l.name)).toEqual(['Ethernet', 'IPv4', 'IPv4', 'ICMP', 'Payload']);
  });
  it('flag and option strings', () => {
    expect(tcpFlagString(0)).toBe('none');
    expect(tcpFlagString(0xff)).toBe('FSRP.UEW');
    expect(tcpOptionsString(Uint8Array.of(2, 4, 5, 0x78, 3, 3, 9, 0), 0, 8)).toBe('mss 1400,wscale 9,eol');
    expect(tcpOptionsString(Uint8Array.of(1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2), 0, 12)).toBe('nop,nop,sack 1 {1:2}');
    expect(tcpOptionsString(Uint8Array.of(2, 9, 0, 0), 0, 4)).toBe('[bad opt]');
  });
});

describe('decodeLayers: layer stacks of the captures', () => {
  const names = (c: F.Captured) => decodeLayers(c.bytes).map((l) => l.name);
  it('stacks', () => {
    expect(names(F.ARP_REQUEST)).toEqual(['Ethernet', 'ARP']);
    expect(names(F.ICMP_ECHO_REQUEST)).toEqual(['Ethernet', 'IPv4', 'ICMP', 'Payload']);
    expect(names(F.TCP_SYN)).toEqual(['Ethernet', 'IPv4', 'TCP']);
    expect(names(F.TCP_PSH)).toEqual(['Ethernet', 'IPv4', 'TCP', 'Payload']);
    expect(names(F.UDP_DATAGRAM)).toEqual(['Ethernet', 'IPv4', 'UDP', 'Payload']);
    expect(names(F.ICMP_PORT_UNREACH)).toEqual(['Ethernet', 'IPv4', 'ICMP', 'IPv4 (quoted)', 'UDP (quoted)']);
    expect(names(F.ICMP_TIME_EXCEEDED)).toEqual(['Ethernet', 'IPv4', 'ICMP', 'IPv4 (quoted)', 'ICMP (quoted)']);
    expect(names(F.IPV6_ROUTER_SOLICIT)).toEqual(['Ethernet', 'IPv6']);
  });
  it('fields', () => {
    const [eth, ip, icmp, qip, qudp] = decodeLayers(F.ICMP_FRAG_NEEDED.bytes);
    expect(eth.fields).toEqual({ dst: '0a:58:0a:f4:00:02', src: '0a:58:0a:f4:00:03', ethertype: '0x0800' });
    expect(ip.fields).toMatchObject({ tos: 0xc0, totalLength: 576, flags: 'none', ttl: 64, protocol: 1, src: '10.244.0.3', dst: '10.244.0.2', checksumValid: 'yes' });
    expect(icmp.fields).toEqual({ type: 3, code: 4, checksum: '0x1449', checksumValid: 'yes', mtu: 1400 });
    expect(qip.fields).toMatchObject({ totalLength: 1500, flags: 'DF', id: 0, dst: '10.244.1.2', quotedLength: 548 });
    expect(qudp.fields).toEqual({ srcPort: 41005, dstPort: 9 });
    const tcp = decodeLayers(F.TCP_SYN.bytes)[2];
    expect(tcp.fields).toMatchObject({ srcPort: 41000, dstPort: 80, seq: 4216395299, flags: 'S', dataOffset: 10, checksumValid: 'yes', options: 'mss 1460,sackOK,TS val 778640707 ecr 0,nop,wscale 10' });
  });
  it('truncation ends the stack with a reason', () => {
    expect(decodeLayers(F.TCP_SYN.bytes.subarray(0, 40)).at(-1)).toEqual({ name: 'Truncated', fields: { layer: 'IPv4', reason: 'total length > available' } });
    expect(decodeLayers(F.ARP_REQUEST.bytes.subarray(0, 30)).at(-1)).toEqual({ name: 'Truncated', fields: { layer: 'ARP', reason: 'truncated' } });
    expect(decodeLayers(new Uint8Array(3))).toEqual([{ name: 'Truncated', fields: { layer: 'Ethernet', reason: 'truncated' } }]);
    expect(summarize(new Uint8Array(3))).toBe('truncated');
  });
});

describe('summary: never throws on garbage', () => {
  it('random bytes, truncations and bit flips of every capture', () => {
    const base = fc.constantFrom(...all.map(([, c]) => c.bytes));
    const mutated = fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.nat()).map(([b, flips, cut]) => {
      const c = b.slice(0, 1 + (cut % b.length));
      for (const [i, v] of flips) c[i % c.length] = v;
      return c;
    });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), mutated), (b) => {
      const s = summarize(b);
      const l = decodeLayers(b);
      return typeof s === 'string' && s.length > 0 && Array.isArray(l) && l.length > 0;
    }), { numRuns: 5000 });
  });
});
