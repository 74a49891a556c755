/**
 * UDP header (RFC 768).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Length             |           Checksum            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          data ...                             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Checksum pseudo header (IPv4):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * |                    Destination Address                        |
 * |     zero      |  Protocol 17  |          UDP Length           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * Checksum 0 means "none" over IPv4; a computed 0 is sent as 0xffff. NAT
 * helpers leave a zero checksum zero and never produce 0 (Linux
 * `udp_manip_pkt` + `CSUM_MANGLED_0`). Functions named `*Checksum(buf, ipOff)`
 * take the IPv4 header offset and find UDP after IHL*4 bytes.
 *
 * @module
 */
import { WireError, u16, setU16 } from './bytes.js';
import { CSUM_MANGLED_0, csumReplace16, csumReplace32, finishChecksum, fold, onesSum, pseudoHeaderSum, udpCsumFinish } from './checksum.js';
import { IPPROTO_UDP, ipv4Daddr, ipv4HeaderLen, ipv4Saddr } from './ipv4.js';

/** UDP header length. */
export const UDP_HLEN = 8;
/** Offset of the source port. */
export const UDP_SPORT = 0;
/** Offset of the destination port. */
export const UDP_DPORT = 2;
/** Offset of the length (header + data). */
export const UDP_LEN = 4;
/** Offset of the checksum. */
export const UDP_CHECK = 6;

/** Source port. */
export function udpSport(b: Uint8Array, off: number): number { return u16(b, off); }
/** Destination port. */
export function udpDport(b: Uint8Array, off: number): number { return u16(b, off + 2); }
/** Length field (header + data). */
export function udpLen(b: Uint8Array, off: number): number { return u16(b, off + 4); }
/** Checksum field. */
export function udpCheck(b: Uint8Array, off: number): number { return u16(b, off + 6); }
/** Set the source port (checksum not updated; see {@link udpSetSport}). */
export function setUdpSport(b: Uint8Array, off: number, p: number): void { setU16(b, off, p); }
/** Set the destination port (checksum not updated; see {@link udpSetDport}). */
export function setUdpDport(b: Uint8Array, off: number, p: number): void { setU16(b, off + 2, p); }
/** Set the length field. */
export function setUdpLen(b: Uint8Array, off: number, l: number): void { setU16(b, off + 4, l); }
/** Set the checksum field. */
export function setUdpCheck(b: Uint8Array, off: number, c: number): void { setU16(b, off + 6, c); }

/**
 * Checksum value to store for the UDP datagram that follows the IPv4 header
 * at `ipOff` (length from the UDP length field; the checksum field is treated
 * as 0). A computed 0 is returned as 0xffff.
 */
export function udpChecksum(b: Uint8Array, ipOff: number): number {
  const u = ipOff + ipv4HeaderLen(b, ipOff);
  const ulen = u16(b, u + 4);
  const ph = pseudoHeaderSum(ipv4Saddr(b, ipOff), ipv4Daddr(b, ipOff), IPPROTO_UDP, ulen);
  const s = onesSum(b, u, ulen, ph) + (0xffff - u16(b, u + 6)); // subtract the stored field
  return udpCsumFinish(finishChecksum(s));
}

/** Compute and store the UDP checksum for the datagram after the IPv4 header at `ipOff`. */
export function fillUdpChecksum(b: Uint8Array, ipOff: number): void {
  const u = ipOff + ipv4HeaderLen(b, ipOff);
  setU16(b, u + 6, 0);
  setU16(b, u + 6, udpChecksum(b, ipOff));
}

/** True when the checksum is 0 ("none") or verifies over pseudo header + datagram. */
export function verifyUdpChecksum(b: Uint8Array, ipOff: number): boolean {
  const u = ipOff + ipv4HeaderLen(b, ipOff);
  if (u16(b, u + 6) === 0) return true;
  const ulen = u16(b, u + 4);
  const ph = pseudoHeaderSum(ipv4Saddr(b, ipOff), ipv4Daddr(b, ipOff), IPPROTO_UDP, ulen);
  return fold(onesSum(b, u, ulen, ph)) === 0xffff;
}

function patch(b: Uint8Array, off: number, c: number): void {
  const old = u16(b, off + 6);
  if (old === 0) return;
  const n = c === 0 ? CSUM_MANGLED_0 : c;
  setU16(b, off + 6, n);
}

/** Set the source port at UDP offset `off`, updating a non-zero checksum incrementally. */
export function udpSetSport(b: Uint8Array, off: number, port: number): void {
  const old = u16(b, off);
  setU16(b, off, port);
  patch(b, off, csumReplace16(u16(b, off + 6), old, port));
}
/** Set the destination port at UDP offset `off`, updating a non-zero checksum incrementally. */
export function udpSetDport(b: Uint8Array, off: number, port: number): void {
  const old = u16(b, off + 2);
  setU16(b, off + 2, port);
  patch(b, off, csumReplace16(u16(b, off + 6), old, port));
}
/**
 * Update a non-zero UDP checksum at UDP offset `off` for an IPv4 address in
 * the pseudo header changing from `oldAddr` to `newAddr` (call beside
 * `ipv4SetSrc`/`ipv4SetDst`, which fix the IP header checksum).
 */
export function udpUpdateAddr(b: Uint8Array, off: number, oldAddr: number, newAddr: number): void {
  patch(b, off, csumReplace32(u16(b, off + 6), oldAddr, newAddr));
}

/**
 * Reason the UDP datagram at `off` with `len` bytes of IP payload is
 * malformed, or `null` — Linux `__udp4_lib_rcv`: fewer than 8 bytes, length
 * field > available or < 8 ("short packet"). Checksum is separate
 * ({@link verifyUdpChecksum}).
 */
export function checkUdp(b: Uint8Array, off: number, len: number): string | null {
  if (len < UDP_HLEN) return 'truncated';
  const ulen = u16(b, off + 4);
  if (ulen > len) return 'length > available';
  if (ulen < UDP_HLEN) return 'length < 8';
  return null;
}

/** Semantic UDP datagram. */
export interface UdpRepr {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Payload (a copy when parsed). */
  payload: Uint8Array;
}

/**
 * Parse the UDP datagram at `off` (`len` = IP payload length; the UDP length
 * field bounds the payload). When `ip` addresses are given and the checksum
 * is non-zero it is verified. Throws {@link WireError}.
 */
export function parseUdp(b: Uint8Array, off = 0, len = b.length - off, ip?: { src: number; dst: number }): UdpRepr {
  const r = checkUdp(b, off, len);
  if (r) throw new WireError('udp', r);
  const ulen = u16(b, off + 4);
  if (ip && u16(b, off + 6) !== 0) {
    const ph = pseudoHeaderSum(ip.src, ip.dst, IPPROTO_UDP, ulen);
    if (fold(onesSum(b, off, ulen, ph)) !== 0xffff) throw new WireError('udp', 'bad checksum');
  }
  return { srcPort: u16(b, off), dstPort: u16(b, off + 2), payload: b.slice(off + UDP_HLEN, off + ulen) };
}

/** Bytes {@link emitUdp} writes. */
export function udpReprLen(repr: UdpRepr): number {
  return UDP_HLEN + repr.payload.length;
}

/**
 * Write header + payload at `off`. With `ip` addresses the checksum is
 * computed (0 → 0xffff); without, it is 0 ("none"). Returns bytes written.
 */
export function emitUdp(repr: UdpRepr, b: Uint8Array, off = 0, ip?: { src: number; dst: number }): number {
  const ulen = UDP_HLEN + repr.payload.length;
  setU16(b, off, repr.srcPort);
  setU16(b, off + 2, repr.dstPort);
  setU16(b, off + 4, ulen);
  setU16(b, off + 6, 0);
  b.set(repr.payload, off + UDP_HLEN);
  if (ip) {
    const ph = pseudoHeaderSum(ip.src, ip.dst, IPPROTO_UDP, ulen);
    setU16(b, off + 6, udpCsumFinish(finishChecksum(onesSum(b, off, ulen, ph))));
  }
  return ulen;
}
