/**
 * Minimal hand-built Ethernet/IPv4/ICMP/UDP/TCP frames with correct checksums, for
 * capture tests only (src/wire is the real implementation; this file must not depend on it).
 */

/** RFC 1071 one's-complement sum folded to 16 bits (not inverted). */
function sum16(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export function checksum(b: Uint8Array, init = 0): number {
  return ~sum16(b, init) & 0xffff;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v & 0xff;
}

export type Ip4 = [number, number, number, number];
export type Mac = [number, number, number, number, number, number];

export function ethernet(dst: Mac, src: Mac, ethertype: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  put16(f, 12, ethertype);
  f.set(payload, 14);
  return f;
}

export function ipv4(src: Ip4, dst: Ip4, proto: number, payload: Uint8Array, opts: { id?: number; ttl?: number; badChecksum?: boolean } = {}): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  put16(p, 2, p.length);
  put16(p, 4, opts.id ?? 1);
  put16(p, 6, 0x4000); // DF
  p[8] = opts.ttl ?? 64;
  p[9] = proto;
  p.set(src, 12);
  p.set(dst, 16);
  let c = checksum(p.subarray(0, 20));
  if (opts.badChecksum) c ^= 0x1234;
  put16(p, 10, c);
  p.set(payload, 20);
  return p;
}

export function icmpEcho(type: 0 | 8, id: number, seq: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type;
  put16(m, 4, id);
  put16(m, 6, seq);
  m.set(data, 8);
  put16(m, 2, checksum(m));
  return m;
}

function pseudo(src: Ip4, dst: Ip4, proto: number, len: number): number {
  const ph = new Uint8Array(12);
  ph.set(src, 0);
  ph.set(dst, 4);
  ph[9] = proto;
  put16(ph, 10, len);
  return sum16(ph);
}

export function udp(src: Ip4, dst: Ip4, sport: number, dport: number, data: Uint8Array, opts: { badChecksum?: boolean } = {}): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, u.length);
  u.set(data, 8);
  let c = checksum(u, pseudo(src, dst, 17, u.length)) || 0xffff;
  if (opts.badChecksum) c ^= 1;
  put16(u, 6, c);
  return u;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export function tcp(src: Ip4, dst: Ip4, sport: number, dport: number, seq: number, ack: number, flags: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const t = new Uint8Array(20 + data.length);
  put16(t, 0, sport);
  put16(t, 2, dport);
  new DataView(t.buffer).setUint32(4, seq >>> 0);
  new DataView(t.buffer).setUint32(8, ack >>> 0);
  t[12] = 5 << 4;
  t[13] = flags;
  put16(t, 14, 65535);
  t.set(data, 20);
  put16(t, 16, checksum(t, pseudo(src, dst, 6, t.length)));
  return t;
}

export const MAC_A: Mac = [0x02, 0, 0, 0, 0, 0x01];
export const MAC_B: Mac = [0x02, 0, 0, 0, 0, 0x02];
export const IP_A: Ip4 = [10, 244, 0, 2];
export const IP_B: Ip4 = [10, 244, 0, 3];

/** Echo request A→B or reply B→A as a full Ethernet frame. */
export function pingFrame(reply: boolean, seq: number, opts: { badIpChecksum?: boolean } = {}): Uint8Array {
  const data = new TextEncoder().encode('podwire-ping-pay');
  const [s, d, ms, md] = reply ? [IP_B, IP_A, MAC_B, MAC_A] : [IP_A, IP_B, MAC_A, MAC_B];
  return ethernet(md, ms, 0x0800, ipv4(s, d, 1, icmpEcho(reply ? 0 : 8, 0x77, seq, data), { id: seq * 2 + (reply ? 1 : 0), badChecksum: opts.badIpChecksum }));
}
