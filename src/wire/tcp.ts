/**
 * TCP header (RFC 9293) and the options Linux uses (RFC 7323, RFC 2018).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |A|C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |E|W|C|R|C|S|S|Y|I|            Window             |
 * |       |       | |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Checksum: one's complement over the IPv4 pseudo header (src, dst, 0, 6,
 * TCP length) and the whole segment.
 *
 * Linux 6.18 option layouts (verified by veth capture, offload disabled):
 * - SYN and SYN-ACK (SACK and timestamps on): 20 bytes
 *   `02 04 05 b4 | 04 02 08 0a | tsval | tsecr | 01 03 03 ws`
 *   = mss 1460, sackOK, TS val X ecr 0 (SYN) / peer's (SYN-ACK), nop, wscale ws.
 *   `ws` depends on `max(tcp_rmem[2], rmem_max)`: 7 with the 6 MiB default
 *   `tcp_rmem[2]`, 10 on the capture host (`tcp_rmem[2]` = 32 MiB).
 * - other segments: `01 01 08 0a | tsval | tsecr` (nop, nop, TS).
 * - RST answering a SYN to a closed port: no options, ACK set, seq 0, win 0.
 *
 * @module
 */
import { WireError, u16, u32, setU16, setU32 } from './bytes.js';
import { csumReplace16, csumReplace32, finishChecksum, fold, onesSum, pseudoHeaderSum } from './checksum.js';
import { IPPROTO_TCP, ipv4Daddr, ipv4HeaderLen, ipv4Saddr, ipv4TotLen } from './ipv4.js';

/** Minimum TCP header length (data offset 5). */
export const TCP_HLEN = 20;
/** Maximum TCP header length (data offset 15). */
export const TCP_HLEN_MAX = 60;
/** Offset of the source port. */
export const TCP_SPORT = 0;
/** Offset of the destination port. */
export const TCP_DPORT = 2;
/** Offset of the sequence number. */
export const TCP_SEQ = 4;
/** Offset of the acknowledgment number. */
export const TCP_ACK_SEQ = 8;
/** Offset of data offset (high nibble) + reserved + AE bit. */
export const TCP_DOFF = 12;
/** Offset of the flags byte (CWR..FIN). */
export const TCP_FLAGS = 13;
/** Offset of the window. */
export const TCP_WINDOW = 14;
/** Offset of the checksum. */
export const TCP_CHECK = 16;
/** Offset of the urgent pointer. */
export const TCP_URG_PTR = 18;

/** FIN flag. */
export const TCP_FIN = 0x01;
/** SYN flag. */
export const TCP_SYN = 0x02;
/** RST flag. */
export const TCP_RST = 0x04;
/** PSH flag. */
export const TCP_PSH = 0x08;
/** ACK flag. */
export const TCP_ACK = 0x10;
/** URG flag. */
export const TCP_URG = 0x20;
/** ECE flag. */
export const TCP_ECE = 0x40;
/** CWR flag. */
export const TCP_CWR = 0x80;
/** AE (accurate ECN, ex-NS) bit: bit 0 of byte 12, reported as 0x100 by {@link tcpFlags}. */
export const TCP_AE = 0x100;

/** Option kind: end of option list. */
export const TCPOPT_EOL = 0;
/** Option kind: no-operation (padding). */
export const TCPOPT_NOP = 1;
/** Option kind: maximum segment size (length 4). */
export const TCPOPT_MSS = 2;
/** Option kind: window scale (length 3). */
export const TCPOPT_WINDOW = 3;
/** Option kind: SACK permitted (length 2). */
export const TCPOPT_SACK_PERM = 4;
/** Option kind: SACK blocks (length 2 + 8n). */
export const TCPOPT_SACK = 5;
/** Option kind: timestamps (length 10). */
export const TCPOPT_TIMESTAMP = 8;

/** Source port. */
export function tcpSport(b: Uint8Array, off: number): number { return u16(b, off); }
/** Destination port. */
export function tcpDport(b: Uint8Array, off: number): number { return u16(b, off + 2); }
/** Sequence number (unsigned 32-bit). */
export function tcpSeq(b: Uint8Array, off: number): number { return u32(b, off + 4); }
/** Acknowledgment number (unsigned 32-bit). */
export function tcpAckSeq(b: Uint8Array, off: number): number { return u32(b, off + 8); }
/** Data offset in 32-bit words. */
export function tcpDoff(b: Uint8Array, off: number): number { return b[off + 12] >>> 4; }
/** Header length in bytes (data offset * 4). */
export function tcpHeaderLen(b: Uint8Array, off: number): number { return (b[off + 12] >>> 4) << 2; }
/** Flags: byte 13 plus {@link TCP_AE} from byte 12. */
export function tcpFlags(b: Uint8Array, off: number): number { return b[off + 13] | ((b[off + 12] & 1) << 8); }
/** Window (unscaled). */
export function tcpWindow(b: Uint8Array, off: number): number { return u16(b, off + 14); }
/** Checksum field. */
export function tcpCheck(b: Uint8Array, off: number): number { return u16(b, off + 16); }
/** Urgent pointer. */
export function tcpUrgPtr(b: Uint8Array, off: number): number { return u16(b, off + 18); }
/** Set the source port (checksum not updated; see {@link tcpSetSport}). */
export function setTcpSport(b: Uint8Array, off: number, p: number): void { setU16(b, off, p); }
/** Set the destination port (checksum not updated; see {@link tcpSetDport}). */
export function setTcpDport(b: Uint8Array, off: number, p: number): void { setU16(b, off + 2, p); }
/** Set the sequence number. */
export function setTcpSeq(b: Uint8Array, off: number, v: number): void { setU32(b, off + 4, v); }
/** Set the acknowledgment number. */
export function setTcpAckSeq(b: Uint8Array, off: number, v: number): void { setU32(b, off + 8, v); }
/** Set the data offset (words); keeps the low nibble of byte 12. */
export function setTcpDoff(b: Uint8Array, off: number, doff: number): void { b[off + 12] = (doff << 4) | (b[off + 12] & 0x0f); }
/** Set the flags (byte 13, and the AE bit in byte 12). */
export function setTcpFlags(b: Uint8Array, off: number, f: number): void { b[off + 13] = f & 0xff; b[off + 12] = (b[off + 12] & 0xfe) | ((f >>> 8) & 1); }
/** Set the window. */
export function setTcpWindow(b: Uint8Array, off: number, w: number): void { setU16(b, off + 14, w); }
/** Set the checksum field. */
export function setTcpCheck(b: Uint8Array, off: number, c: number): void { setU16(b, off + 16, c); }
/** Set the urgent pointer. */
export function setTcpUrgPtr(b: Uint8Array, off: number, p: number): void { setU16(b, off + 18, p); }

/**
 * Checksum value to store for the TCP segment after the IPv4 header at
 * `ipOff`; segment length = IP total length - IHL*4. The stored checksum field is ignored.
 */
export function tcpChecksum(b: Uint8Array, ipOff: number): number {
  const hl = ipv4HeaderLen(b, ipOff);
  const t = ipOff + hl;
  const l4len = ipv4TotLen(b, ipOff) - hl;
  const ph = pseudoHeaderSum(ipv4Saddr(b, ipOff), ipv4Daddr(b, ipOff), IPPROTO_TCP, l4len);
  return finishChecksum(onesSum(b, t, l4len, ph) + (0xffff - u16(b, t + 16)));
}
/** Compute and store the TCP checksum for the segment after the IPv4 header at `ipOff`. */
export function fillTcpChecksum(b: Uint8Array, ipOff: number): void {
  const t = ipOff + ipv4HeaderLen(b, ipOff);
  setU16(b, t + 16, 0);
  setU16(b, t + 16, tcpChecksum(b, ipOff));
}
/** True when the TCP checksum of the segment after the IPv4 header at `ipOff` verifies. */
export function verifyTcpChecksum(b: Uint8Array, ipOff: number): boolean {
  const hl = ipv4HeaderLen(b, ipOff);
  const l4len = ipv4TotLen(b, ipOff) - hl;
  const ph = pseudoHeaderSum(ipv4Saddr(b, ipOff), ipv4Daddr(b, ipOff), IPPROTO_TCP, l4len);
  return fold(onesSum(b, ipOff + hl, l4len, ph)) === 0xffff;
}

/** Set the source port at TCP offset `off`, updating the checksum incrementally. */
export function tcpSetSport(b: Uint8Array, off: number, port: number): void {
  const old = u16(b, off);
  setU16(b, off, port);
  setU16(b, off + 16, csumReplace16(u16(b, off + 16), old, port));
}
/** Set the destination port at TCP offset `off`, updating the checksum incrementally. */
export function tcpSetDport(b: Uint8Array, off: number, port: number): void {
  const old = u16(b, off + 2);
  setU16(b, off + 2, port);
  setU16(b, off + 16, csumReplace16(u16(b, off + 16), old, port));
}
/** Update the TCP checksum at TCP offset `off` for a pseudo-header address change (NAT; pair with `ipv4SetSrc`/`ipv4SetDst`). */
export function tcpUpdateAddr(b: Uint8Array, off: number, oldAddr: number, newAddr: number): void {
  setU16(b, off + 16, csumReplace32(u16(b, off + 16), oldAddr, newAddr));
}

/**
 * Reason the TCP header at `off` (`len` bytes of IP payload) is malformed, or
 * `null` — Linux `tcp_v4_rcv`: fewer than 20 bytes, data offset < 5, data
 * offset beyond the segment. Checksum is separate ({@link verifyTcpChecksum}).
 */
export function checkTcp(b: Uint8Array, off: number, len: number): string | null {
  if (len < TCP_HLEN) return 'truncated';
  const doff = b[off + 12] >>> 4;
  if (doff < 5) return 'data offset < 5';
  if (doff * 4 > len) return 'data offset beyond length';
  return null;
}

/** One TCP option. EOL and padding are not represented: EOL ends the list. */
export type TcpOption =
  | { kind: 'nop' }
  | { kind: 'mss'; mss: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sack-permitted' }
  | { kind: 'sack'; blocks: Array<[number, number]> }
  | { kind: 'timestamp'; tsval: number; tsecr: number }
  | { kind: 'unknown'; type: number; data: Uint8Array };

/**
 * Parse the option bytes `b[off..off+len)`. Stops at EOL. Throws
 * {@link WireError} on a length byte < 2, an option running past the end, or
 * a known option with the wrong length (Linux's `tcp_parse_options` silently
 * stops / ignores in those cases; an emulator wants to know).
 */
export function parseTcpOptions(b: Uint8Array, off: number, len: number): TcpOption[] {
  const out: TcpOption[] = [];
  const end = off + len;
  let i = off;
  while (i < end) {
    const kind = b[i];
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) { out.push({ kind: 'nop' }); i++; continue; }
    if (i + 1 >= end) throw new WireError('tcp', 'option truncated');
    const olen = b[i + 1];
    if (olen < 2) throw new WireError('tcp', 'option length < 2');
    if (i + olen > end) throw new WireError('tcp', 'option truncated');
    const bad = (n: boolean) => { if (n) throw new WireError('tcp', `bad length ${olen} for option ${kind}`); };
    switch (kind) {
      case TCPOPT_MSS: bad(olen !== 4); out.push({ kind: 'mss', mss: u16(b, i + 2) }); break;
      case TCPOPT_WINDOW: bad(olen !== 3); out.push({ kind: 'wscale', shift: b[i + 2] }); break;
      case TCPOPT_SACK_PERM: bad(olen !== 2); out.push({ kind: 'sack-permitted' }); break;
      case TCPOPT_TIMESTAMP: bad(olen !== 10); out.push({ kind: 'timestamp', tsval: u32(b, i + 2), tsecr: u32(b, i + 6) }); break;
      case TCPOPT_SACK: {
        bad((olen - 2) % 8 !== 0 || olen === 2);
        const blocks: Array<[number, number]> = [];
        for (let j = i + 2; j < i + olen; j += 8) blocks.push([u32(b, j), u32(b, j + 4)]);
        out.push({ kind: 'sack', blocks });
        break;
      }
      default: out.push({ kind: 'unknown', type: kind, data: b.slice(i + 2, i + olen) });
    }
    i += olen;
  }
  return out;
}

/** Encoded size of one option. */
export function tcpOptionLen(o: TcpOption): number {
  switch (o.kind) {
    case 'nop': return 1;
    case 'mss': return 4;
    case 'wscale': return 3;
    case 'sack-permitted': return 2;
    case 'timestamp': return 10;
    case 'sack': return 2 + 8 * o.blocks.length;
    case 'unknown': return 2 + o.data.length;
  }
}

/** Encoded size of an option list including zero (EOL) padding to a multiple of 4. */
export function tcpOptionsLen(opts: readonly TcpOption[]): number {
  let n = 0;
  for (const o of opts) n += tcpOptionLen(o);
  return (n + 3) & ~3;
}

/** Write options at `off` in order, then pad with zeros (EOL) to a multiple of 4. Returns bytes written. */
export function emitTcpOptions(opts: readonly TcpOption[], b: Uint8Array, off: number): number {
  let i = off;
  for (const o of opts) {
    switch (o.kind) {
      case 'nop': b[i] = TCPOPT_NOP; break;
      case 'mss': b[i] = TCPOPT_MSS; b[i + 1] = 4; setU16(b, i + 2, o.mss); break;
      case 'wscale': b[i] = TCPOPT_WINDOW; b[i + 1] = 3; b[i + 2] = o.shift; break;
      case 'sack-permitted': b[i] = TCPOPT_SACK_PERM; b[i + 1] = 2; break;
      case 'timestamp': b[i] = TCPOPT_TIMESTAMP; b[i + 1] = 10; setU32(b, i + 2, o.tsval); setU32(b, i + 6, o.tsecr); break;
      case 'sack':
        b[i] = TCPOPT_SACK; b[i + 1] = 2 + 8 * o.blocks.length;
        o.blocks.forEach(([l, r], k) => { setU32(b, i + 2 + 8 * k, l); setU32(b, i + 6 + 8 * k, r); });
        break;
      case 'unknown': b[i] = o.type; b[i + 1] = 2 + o.data.length; b.set(o.data, i + 2); break;
    }
    i += tcpOptionLen(o);
  }
  while ((i - off) & 3) b[i++] = TCPOPT_EOL;
  return i - off;
}

/**
 * The options Linux puts on a SYN (and on a SYN-ACK answering one with SACK
 * and timestamps): mss, sackOK, TS, nop, wscale — 20 bytes.
 */
export function linuxSynOptions(mss: number, tsval: number, tsecr: number, wscale: number): TcpOption[] {
  return [
    { kind: 'mss', mss },
    { kind: 'sack-permitted' },
    { kind: 'timestamp', tsval, tsecr },
    { kind: 'nop' },
    { kind: 'wscale', shift: wscale },
  ];
}

/** The options Linux puts on established-state segments with timestamps: nop, nop, TS — 12 bytes. */
export function linuxTsOptions(tsval: number, tsecr: number): TcpOption[] {
  return [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', tsval, tsecr }];
}

/** Semantic TCP segment. */
export interface TcpRepr {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Sequence number (unsigned 32-bit). */
  seq: number;
  /** Acknowledgment number (unsigned 32-bit; kept even without ACK). */
  ack: number;
  /** Flags, OR of `TCP_*` flag constants (including {@link TCP_AE}). */
  flags: number;
  /** Window (unscaled). */
  window: number;
  /** Urgent pointer. */
  urgent: number;
  /** Options in wire order, without EOL/padding. */
  options: TcpOption[];
  /** Payload (a copy when parsed). */
  payload: Uint8Array;
}

/** Bytes {@link emitTcp} writes. */
export function tcpReprLen(repr: TcpRepr): number {
  return TCP_HLEN + tcpOptionsLen(repr.options) + repr.payload.length;
}

/**
 * Parse the TCP segment at `off` (`len` = IP payload length). When `ip`
 * addresses are given the checksum is verified. Throws {@link WireError}.
 */
export function parseTcp(b: Uint8Array, off = 0, len = b.length - off, ip?: { src: number; dst: number }): TcpRepr {
  const r = checkTcp(b, off, len);
  if (r) throw new WireError('tcp', r);
  if (ip) {
    const ph = pseudoHeaderSum(ip.src, ip.dst, IPPROTO_TCP, len);
    if (fold(onesSum(b, off, len, ph)) !== 0xffff) throw new WireError('tcp', 'bad checksum');
  }
  const hl = tcpHeaderLen(b, off);
  return {
    srcPort: u16(b, off),
    dstPort: u16(b, off + 2),
    seq: u32(b, off + 4),
    ack: u32(b, off + 8),
    flags: tcpFlags(b, off),
    window: u16(b, off + 14),
    urgent: u16(b, off + 18),
    options: parseTcpOptions(b, off + TCP_HLEN, hl - TCP_HLEN),
    payload: b.slice(off + hl, off + len),
  };
}

/**
 * Write header, options and payload at `off`. With `ip` addresses the
 * checksum is computed; without, the field is 0. Returns bytes written.
 * Throws {@link WireError} when options exceed 40 bytes.
 */
export function emitTcp(repr: TcpRepr, b: Uint8Array, off = 0, ip?: { src: number; dst: number }): number {
  const olen = tcpOptionsLen(repr.options);
  if (olen > 40) throw new WireError('tcp', 'options longer than 40 bytes');
  const hl = TCP_HLEN + olen;
  setU16(b, off, repr.srcPort);
  setU16(b, off + 2, repr.dstPort);
  setU32(b, off + 4, repr.seq);
  setU32(b, off + 8, repr.ack);
  b[off + 12] = ((hl >>> 2) << 4) | ((repr.flags >>> 8) & 1);
  b[off + 13] = repr.flags & 0xff;
  setU16(b, off + 14, repr.window);
  setU16(b, off + 16, 0);
  setU16(b, off + 18, repr.urgent);
  emitTcpOptions(repr.options, b, off + TCP_HLEN);
  b.set(repr.payload, off + hl);
  const len = hl + repr.payload.length;
  if (ip) {
    const ph = pseudoHeaderSum(ip.src, ip.dst, IPPROTO_TCP, len);
    setU16(b, off + 16, finishChecksum(onesSum(b, off, len, ph)));
  }
  return len;
}
