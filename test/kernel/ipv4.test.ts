import { describe, it, expect } from 'vitest';
import { checksum } from '../../src/wire/checksum.js';
import { ipToString, setU16, u16 } from '../../src/wire/bytes.js';
import type { Skb } from '../../src/kernel/skb.js';
import { pair, routed, ip, mac, ipTtl, ipId, ipFlagsOff, ipTot, ipProtoOf, ipSrcOf, isArp, Lab } from './topo.js';

/** Rewrites one byte/word of the IPv4 header of an outgoing skb and fixes the header checksum. */
function patchIp(skb: Skb, f: (b: Uint8Array, nh: number) => void, fixCsum = true): void {
  f(skb.buf, skb.nh);
  if (fixCsum) { setU16(skb.buf, skb.nh + 10, 0); setU16(skb.buf, skb.nh + 10, checksum(skb.buf, skb.nh, 20)); }
}
const ipFrames = (l: Lab, dev: string, dir: 'in' | 'out' = 'out') => l.on(dev, dir).filter((f) => !isArp(f.bytes));

describe('IPv4 forwarding', () => {
  it('decrements TTL and updates the header checksum incrementally', () => {
    const l = routed();
    let replies = 0;
    l.n.ns('a').sockets.pingOpen({ onReply: (_s, _f, ttl) => { replies++; expect(ttl).toBe(63); } }, 1).send(ip('10.0.2.2'), 1, 56);
    l.run(0);
    const [sent] = ipFrames(l, 'a/eth0');
    const [fwd] = ipFrames(l, 'r/rb');
    expect(ipTtl(sent.bytes)).toBe(64);
    expect(ipTtl(fwd.bytes)).toBe(63);
    expect(checksum(fwd.bytes, 14, 20)).toBe(0);
    expect(u16(fwd.bytes, 24)).not.toBe(u16(sent.bytes, 24));
    // everything else in the IP packet is unchanged
    const a = sent.bytes.slice(14), b = fwd.bytes.slice(14);
    a[8] = b[8] = 0; a[10] = b[10] = a[11] = b[11] = 0;
    expect(b).toEqual(a);
    expect(replies).toBe(1);
    expect(l.events('ip.forward').map((e) => e.detail)).toEqual(['ttl 64→63 out rb', 'ttl 64→63 out ra']);
  });

  it('TTL 1: ICMP time exceeded (11/0) from the router, TTL_EXPIRED', () => {
    const l = routed();
    const errs: string[] = [];
    l.n.ns('a').sockets.pingOpen({ onError: (e, i) => errs.push(`${e} ${i.type}/${i.code} ${ipToString(i.from)}`) }, 1)
      .send(ip('10.0.2.2'), 1, 56, undefined, (skb) => patchIp(skb, (b, nh) => { b[nh + 8] = 1; }));
    l.run();
    expect(l.reasons()).toEqual(['TTL_EXPIRED']);
    expect(l.drops[0].where).toBe('n/r/ra: TTL 1 expired in transit');
    const [icmp] = ipFrames(l, 'r/ra');
    expect([icmp.bytes[34], icmp.bytes[35]]).toEqual([11, 0]);
    expect(ipToString(ipSrcOf(icmp.bytes))).toBe('10.0.1.1');
    expect(errs).toEqual(['EHOSTUNREACH 11/0 10.0.1.1']);
    expect(ipFrames(l, 'r/rb')).toHaveLength(0);
  });

  it('DF and too big for the next hop: ICMP frag needed with the next-hop MTU, PKT_TOO_BIG', () => {
    const l = routed();
    l.n.linkSetMtu('r', 'rb', 1000);
    const errs: string[] = [];
    l.n.ns('a').sockets.pingOpen({ onError: (e, i) => errs.push(`${e} ${i.type}/${i.code}`) }, 1).send(ip('10.0.2.2'), 1, 1200);
    l.run();
    expect(ipFlagsOff(ipFrames(l, 'a/eth0')[0].bytes)).toBe(0x4000);
    expect(l.reasons()).toEqual(['PKT_TOO_BIG']);
    const [icmp] = ipFrames(l, 'r/ra');
    expect([icmp.bytes[34], icmp.bytes[35]]).toEqual([3, 4]);
    expect(u16(icmp.bytes, 34 + 6)).toBe(1000);
    expect(u16(icmp.bytes, 34 + 4)).toBe(0);
    expect(checksum(icmp.bytes, 34, ipTot(icmp.bytes) - 20)).toBe(0);
    expect(errs).toEqual(['EMSGSIZE 3/4']);
  });

  it('no DF: fragments of 8-byte multiples with MF and one id, reassembled at the receiver', () => {
    const l = routed();
    l.n.linkSetMtu('r', 'rb', 1000);
    const replies: number[] = [];
    l.n.ns('a').sockets.pingOpen({ onReply: (seq, _f, _t, skb) => replies.push(ipTot(skb.frame())) }, 1)
      .send(ip('10.0.2.2'), 1, 1200, undefined, (skb) => patchIp(skb, (b, nh) => setU16(b, nh + 6, 0)));
    l.run();
    const frags = ipFrames(l, 'r/rb');
    expect(frags.map((f) => [ipTot(f.bytes), ipFlagsOff(f.bytes)])).toEqual([[996, 0x2000], [252, 976 / 8]]);
    expect((ipTot(frags[0].bytes) - 20) % 8).toBe(0);
    expect(new Set(frags.map((f) => ipId(f.bytes))).size).toBe(1);
    for (const f of frags) expect(checksum(f.bytes, 14, 20)).toBe(0);
    expect(l.events('ip.defrag').map((e) => e.detail)).toEqual(['fragment offset 0 length 976 MF', 'fragment offset 976 length 232']);
    expect(replies).toEqual([1228]);
    expect(l.drops).toEqual([]);
  });

  it('ip_forward=0: a packet for another address is dropped with IP_INADDRERRORS', () => {
    const l = routed();
    l.n.sysctlSet('r', 'net.ipv4.ip_forward', '0');
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.2.2'), 1, 56);
    l.run();
    expect(l.reasons()).toEqual(['IP_INADDRERRORS']);
    expect(l.drops[0].where).toBe('n/r/ra: 10.0.2.2 is not local and forwarding is off (net.ipv4.ip_forward=0)');
  });

  it('a frame for another MAC is dropped with OTHERHOST', () => {
    const l = pair();
    l.n.neighReplace('a', '10.0.0.2', mac('02:00:00:00:00:77'), 'eth0');
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.0.2'), 1, 56);
    l.run();
    expect(l.reasons()).toEqual(['OTHERHOST']);
    expect(l.drops[0].where).toBe("n/b/eth0: destination MAC 02:00:00:00:00:77 is not eth0's");
  });

  it('a bad IPv4 header checksum is dropped with IP_CSUM', () => {
    const l = pair();
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.0.2'), 1, 56, undefined, (skb) => patchIp(skb, (b, nh) => { b[nh + 10] ^= 0xff; }, false));
    l.run();
    expect(l.reasons()).toEqual(['IP_CSUM']);
    expect(l.drops[0].where).toBe('n/b/eth0: bad IPv4 header checksum');
  });

  it('ping: the kernel answers an echo request (echo reply, TTL 64, DF clear, same payload)', () => {
    const l = pair();
    const got: string[] = [];
    l.n.ns('a').sockets.pingOpen({ onReply: (seq, from, ttl) => got.push(`seq ${seq} from ${ipToString(from)} ttl ${ttl}`) }, 0x1234).send(ip('10.0.0.2'), 7, 56);
    l.run(0);
    expect(got).toEqual(['seq 7 from 10.0.0.2 ttl 64']);
    const [req] = ipFrames(l, 'a/eth0');
    const [rep] = ipFrames(l, 'b/eth0');
    expect([req.bytes[34], rep.bytes[34]]).toEqual([8, 0]);
    expect(ipFlagsOff(req.bytes)).toBe(0x4000);
    expect(ipFlagsOff(rep.bytes)).toBe(0);
    expect(rep.bytes.slice(34 + 4)).toEqual(req.bytes.slice(34 + 4));
    expect(ipProtoOf(rep.bytes)).toBe(1);
  });
});

describe('rp_filter and martians', () => {
  /** a sends from a source address r has no route back to via ra (10.0.9.9). */
  function spoofed(mode: string) {
    const l = routed();
    l.n.sysctlSet('r', 'net.ipv4.conf.all.rp_filter', mode);
    l.n.addrAdd('a', 'eth0', '10.0.9.9/32');
    const s = l.n.ns('a').sockets.udpBind(4000, {});
    s.laddr = ip('10.0.9.9');
    s.send(new Uint8Array(8), ip('10.0.2.2'), 9);
    l.run();
    return l;
  }

  it('rp_filter=0 forwards a packet whose source has no route back', () => {
    const l = spoofed('0');
    expect(l.reasons()).not.toContain('IP_RPFILTER');
    expect(l.on('b/eth0', 'in').length).toBeGreaterThan(0);
  });

  it('rp_filter=1 (strict) drops it with IP_RPFILTER, naming the reason', () => {
    const l = spoofed('1');
    expect(l.reasons()).toContain('IP_RPFILTER');
    expect(l.drops.find((d) => d.reason === 'IP_RPFILTER')!.where).toMatch(/rp_filter=1: no usable route back to 10\.0\.9\.9/);
    expect(l.on('b/eth0', 'in')).toHaveLength(0);
  });

  it('strict mode drops a source whose route back leaves by another device; loose mode accepts it', () => {
    for (const [mode, dropped] of [['1', true], ['2', false]] as const) {
      const l = routed();
      l.n.sysctlSet('r', 'net.ipv4.conf.ra.rp_filter', mode);
      l.n.routeAdd('r', { dst: '10.0.9.0/24', via: '10.0.2.2' }); // route back to 10.0.9.9 via rb
      l.n.addrAdd('a', 'eth0', '10.0.9.9/32');
      const s = l.n.ns('a').sockets.udpBind(4000, {});
      s.laddr = ip('10.0.9.9');
      s.send(new Uint8Array(8), ip('10.0.2.2'), 9);
      l.run();
      expect(l.reasons().includes('IP_RPFILTER'), `rp_filter=${mode}`).toBe(dropped);
    }
  });

  it('a loopback source arriving on a real device is a martian (IP_INVALID_SOURCE)', () => {
    const l = pair();
    const s = l.n.ns('a').sockets.udpBind(4000, {});
    s.laddr = ip('127.0.0.1');
    s.send(new Uint8Array(8), ip('10.0.0.2'), 9);
    l.run();
    expect(l.reasons()).toContain('IP_INVALID_SOURCE');
  });
});
