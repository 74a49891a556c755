/** Packet builders and a namespace for the conntrack/NAT tests (IPv4 at skb.data, no Ethernet header). */
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Skb } from '../../src/kernel/skb.js';
import type { Netns } from '../../src/kernel/netns.js';
import { parseIp, setU16, setU32 } from '../../src/wire/bytes.js';
import { writeIpv4Header, verifyIpv4Checksum } from '../../src/wire/ipv4.js';
import { fillTcpChecksum, verifyTcpChecksum } from '../../src/wire/tcp.js';
import { fillUdpChecksum, verifyUdpChecksum } from '../../src/wire/udp.js';
import { fillIcmpChecksum, verifyIcmpChecksum } from '../../src/wire/icmp.js';
import { Conntrack } from '../../src/netfilter/conntrack.js';

export const S = 1_000_000_000;
export const ip = (s: string): number => parseIp(s)!;

export function setup(seed = 1): { world: World; ns: Netns; ct: Conntrack; at(t: number): void } {
  const world = new World(seed);
  const node = new Node(world, 'n1', 'node');
  const ns = node.host;
  const ct = new Conntrack(ns);
  return { world, ns, ct, at: (t: number) => { world.sched.now = t; } };
}

export const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

export interface TcpOpts { win?: number; len?: number; wscale?: number; sackPerm?: boolean }

export function tcp(src: string, dst: string, sport: number, dport: number, flags: number, seq: number, ack: number, o: TcpOpts = {}): Skb {
  const optLen = (o.wscale !== undefined ? 4 : 0) + (o.sackPerm ? 4 : 0);
  const hlen = 20 + optLen, len = o.len ?? 0;
  const skb = Skb.alloc(20 + hlen + len);
  const b = skb.buf, nh = skb.data;
  skb.nh = nh;
  writeIpv4Header(b, nh, ip(src), ip(dst), 6, 64, 0, 1, true, hlen + len);
  const t = nh + 20;
  setU16(b, t, sport); setU16(b, t + 2, dport); setU32(b, t + 4, seq >>> 0); setU32(b, t + 8, ack >>> 0);
  b[t + 12] = (hlen / 4) << 4; b[t + 13] = flags; setU16(b, t + 14, o.win ?? 64240);
  let p = t + 20;
  if (o.wscale !== undefined) { b[p] = 1; b[p + 1] = 3; b[p + 2] = 3; b[p + 3] = o.wscale; p += 4; }
  if (o.sackPerm) { b[p] = 1; b[p + 1] = 1; b[p + 2] = 4; b[p + 3] = 2; p += 4; }
  for (let i = 0; i < len; i++) b[t + hlen + i] = (i * 7) & 0xff;
  fillTcpChecksum(b, nh);
  return skb;
}

export function udp(src: string, dst: string, sport: number, dport: number, len = 4, csum = true): Skb {
  const skb = Skb.alloc(28 + len);
  const b = skb.buf, nh = skb.data;
  skb.nh = nh;
  writeIpv4Header(b, nh, ip(src), ip(dst), 17, 64, 0, 1, true, 8 + len);
  const u = nh + 20;
  setU16(b, u, sport); setU16(b, u + 2, dport); setU16(b, u + 4, 8 + len); setU16(b, u + 6, 0);
  for (let i = 0; i < len; i++) b[u + 8 + i] = (i * 13 + 1) & 0xff;
  if (csum) fillUdpChecksum(b, nh);
  return skb;
}

export function icmpEcho(src: string, dst: string, type: number, id: number, seq = 1): Skb {
  const skb = Skb.alloc(20 + 8 + 16);
  const b = skb.buf, nh = skb.data;
  skb.nh = nh;
  writeIpv4Header(b, nh, ip(src), ip(dst), 1, 64, 0, 1, true, 24);
  const c = nh + 20;
  b[c] = type; b[c + 1] = 0; setU16(b, c + 4, id); setU16(b, c + 6, seq);
  for (let i = 0; i < 16; i++) b[c + 8 + i] = i;
  fillIcmpChecksum(b, c, 24);
  return skb;
}

/** An ICMP error from `src` to `dst` quoting (up to 28 + quoteL4 bytes of) `orig`. */
export function icmpError(src: string, dst: string, type: number, code: number, orig: Skb, quoteL4 = 8): Skb {
  const q = 20 + quoteL4;
  const skb = Skb.alloc(20 + 8 + q);
  const b = skb.buf, nh = skb.data;
  skb.nh = nh;
  writeIpv4Header(b, nh, ip(src), ip(dst), 1, 64, 0xc0, 2, false, 8 + q);
  const c = nh + 20;
  b[c] = type; b[c + 1] = code;
  b.set(orig.buf.subarray(orig.nh, orig.nh + q), c + 8);
  fillIcmpChecksum(b, c, 8 + q);
  return skb;
}

/** Every checksum of the packet verifies (IP, and TCP/UDP/ICMP over the whole L4 payload). */
export function checksumsOk(skb: Skb): boolean {
  const b = skb.buf, nh = skb.nh;
  if (!verifyIpv4Checksum(b, nh)) return false;
  const proto = b[nh + 9];
  const tot = (b[nh + 2] << 8) | b[nh + 3];
  if (proto === 6) return verifyTcpChecksum(b, nh);
  if (proto === 17) return verifyUdpChecksum(b, nh);
  if (proto === 1) return verifyIcmpChecksum(b, nh + 20, tot - 20);
  return true;
}
