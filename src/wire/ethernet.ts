/**
 * Ethernet II frame header (IEEE 802.3 / RFC 894). No preamble, no FCS: the
 * bytes as seen by a packet socket or in a pcap.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   Destination MAC address                     |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                     Source MAC address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           EtherType           |    Payload ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * Not supported: 802.1Q VLAN tags (EtherType 0x8100 is reported as is),
 * 802.3 length/LLC frames, FCS.
 *
 * @module
 */
import { WireError, copyMac, u16, setU16 } from './bytes.js';

/** Ethernet header length in bytes (Linux `ETH_HLEN`). */
export const ETH_HLEN = 14;
/** MAC address length (Linux `ETH_ALEN`). */
export const ETH_ALEN = 6;
/** Minimum frame length without FCS (Linux `ETH_ZLEN`); NICs pad to this, veth/bridge do not. */
export const ETH_ZLEN = 60;
/** Offset of the destination MAC. */
export const ETH_DST = 0;
/** Offset of the source MAC. */
export const ETH_SRC = 6;
/** Offset of the EtherType. */
export const ETH_TYPE = 12;

/** EtherType IPv4. */
export const ETH_P_IP = 0x0800;
/** EtherType ARP. */
export const ETH_P_ARP = 0x0806;
/** EtherType IPv6. */
export const ETH_P_IPV6 = 0x86dd;
/** EtherType 802.1Q VLAN tag (recognised by name only). */
export const ETH_P_8021Q = 0x8100;

/** EtherType at `off + 12`. */
export function ethType(b: Uint8Array, off: number): number {
  return u16(b, off + ETH_TYPE);
}
/** Set the EtherType. */
export function setEthType(b: Uint8Array, off: number, type: number): void {
  setU16(b, off + ETH_TYPE, type);
}
/** Copy the destination MAC into `out[outOff]` (no allocation). */
export function ethGetDst(b: Uint8Array, off: number, out: Uint8Array, outOff = 0): void {
  copyMac(out, outOff, b, off + ETH_DST);
}
/** Copy the source MAC into `out[outOff]` (no allocation). */
export function ethGetSrc(b: Uint8Array, off: number, out: Uint8Array, outOff = 0): void {
  copyMac(out, outOff, b, off + ETH_SRC);
}
/** Write the destination MAC from `mac[macOff]`. */
export function setEthDst(b: Uint8Array, off: number, mac: Uint8Array, macOff = 0): void {
  copyMac(b, off + ETH_DST, mac, macOff);
}
/** Write the source MAC from `mac[macOff]`. */
export function setEthSrc(b: Uint8Array, off: number, mac: Uint8Array, macOff = 0): void {
  copyMac(b, off + ETH_SRC, mac, macOff);
}

/** Returns a reason when `len` bytes at `off` cannot hold an Ethernet header, else `null`. */
export function checkEthernet(_b: Uint8Array, _off: number, len: number): string | null {
  return len < ETH_HLEN ? 'truncated' : null;
}

/** Semantic Ethernet header. MACs are fresh 6-byte copies. */
export interface EthernetRepr {
  /** Destination MAC (6 bytes). */
  dst: Uint8Array;
  /** Source MAC (6 bytes). */
  src: Uint8Array;
  /** EtherType, e.g. {@link ETH_P_IP}. */
  ethertype: number;
}

/** Parse the Ethernet header at `off`. Throws {@link WireError} (`truncated`). */
export function parseEthernet(b: Uint8Array, off = 0, len = b.length - off): EthernetRepr {
  const r = checkEthernet(b, off, len);
  if (r) throw new WireError('ethernet', r);
  return { dst: b.slice(off, off + 6), src: b.slice(off + 6, off + 12), ethertype: ethType(b, off) };
}

/** Write `repr` as 14 header bytes at `off`; returns {@link ETH_HLEN}. */
export function emitEthernet(repr: EthernetRepr, b: Uint8Array, off = 0): number {
  copyMac(b, off + ETH_DST, repr.dst, 0);
  copyMac(b, off + ETH_SRC, repr.src, 0);
  setU16(b, off + ETH_TYPE, repr.ethertype);
  return ETH_HLEN;
}
