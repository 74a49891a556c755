/**
 * ARP for Ethernet/IPv4 (RFC 826), the only combination Linux sends on veth,
 * bridges and vxlan.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      Hardware type (1)        |     Protocol type (0x0800)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  HW len (6)   | Proto len (4) |          Operation            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Sender hardware address (6 bytes)              |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |  Sender protocol address      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  (4 bytes)                    |  Target hardware address      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                     (6 bytes)                                 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Target protocol address (4 bytes)              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * Sizes: the ARP body is 28 bytes; a frame is 14 + 28 = 42 bytes on veth and
 * bridge ports (verified by capture on Linux 6.18). Only a physical NIC driver
 * pads to 60 bytes, so {@link emitArp} never pads and trailing bytes after
 * the 28 are ignored when parsing.
 *
 * Not supported: hardware types other than Ethernet, protocols other than
 * IPv4, RARP/InARP operations (parsed as numbers, not interpreted).
 *
 * @module
 */
import { WireError, copyMac, u16, u32, setU16, setU32 } from './bytes.js';

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** Offset of the hardware type. */
export const ARP_HTYPE = 0;
/** Offset of the protocol type. */
export const ARP_PTYPE = 2;
/** Offset of the hardware address length. */
export const ARP_HLEN = 4;
/** Offset of the protocol address length. */
export const ARP_PLEN = 5;
/** Offset of the operation. */
export const ARP_OP = 6;
/** Offset of the sender hardware address. */
export const ARP_SHA = 8;
/** Offset of the sender protocol (IPv4) address. */
export const ARP_SPA = 14;
/** Offset of the target hardware address. */
export const ARP_THA = 18;
/** Offset of the target protocol (IPv4) address. */
export const ARP_TPA = 24;

/** Hardware type Ethernet (Linux `ARPHRD_ETHER`). */
export const ARPHRD_ETHER = 1;
/** ARP request (Linux `ARPOP_REQUEST`). */
export const ARPOP_REQUEST = 1;
/** ARP reply (Linux `ARPOP_REPLY`). */
export const ARPOP_REPLY = 2;

/** Hardware type. */
export function arpHtype(b: Uint8Array, off: number): number { return u16(b, off + ARP_HTYPE); }
/** Protocol type. */
export function arpPtype(b: Uint8Array, off: number): number { return u16(b, off + ARP_PTYPE); }
/** Operation (1 request, 2 reply). */
export function arpOp(b: Uint8Array, off: number): number { return u16(b, off + ARP_OP); }
/** Set the operation. */
export function setArpOp(b: Uint8Array, off: number, op: number): void { setU16(b, off + ARP_OP, op); }
/** Sender IPv4 address. */
export function arpSpa(b: Uint8Array, off: number): number { return u32(b, off + ARP_SPA); }
/** Set the sender IPv4 address. */
export function setArpSpa(b: Uint8Array, off: number, ip: number): void { setU32(b, off + ARP_SPA, ip); }
/** Target IPv4 address. */
export function arpTpa(b: Uint8Array, off: number): number { return u32(b, off + ARP_TPA); }
/** Set the target IPv4 address. */
export function setArpTpa(b: Uint8Array, off: number, ip: number): void { setU32(b, off + ARP_TPA, ip); }
/** Write the sender MAC from `mac[macOff]`. Read it in place at `off + ARP_SHA`. */
export function setArpSha(b: Uint8Array, off: number, mac: Uint8Array, macOff = 0): void { copyMac(b, off + ARP_SHA, mac, macOff); }
/** Write the target MAC from `mac[macOff]`. Read it in place at `off + ARP_THA`. */
export function setArpTha(b: Uint8Array, off: number, mac: Uint8Array, macOff = 0): void { copyMac(b, off + ARP_THA, mac, macOff); }

/**
 * Reason the `len` bytes at `off` are not an Ethernet/IPv4 ARP packet, or
 * `null`. Checks in Linux's order: `arp_rcv` pulls 28 bytes (`truncated`) and
 * checks the address lengths, then `arp_process` checks hardware and protocol type.
 */
export function checkArp(b: Uint8Array, off: number, len: number): string | null {
  if (len < ARP_LEN) return 'truncated';
  if (b[off + ARP_HLEN] !== 6) return 'hlen != 6';
  if (b[off + ARP_PLEN] !== 4) return 'plen != 4';
  if (arpHtype(b, off) !== ARPHRD_ETHER) return 'htype != 1 (Ethernet)';
  if (arpPtype(b, off) !== 0x0800) return 'ptype != 0x0800 (IPv4)';
  return null;
}

/** Semantic Ethernet/IPv4 ARP packet. */
export interface ArpRepr {
  /** Operation: {@link ARPOP_REQUEST}, {@link ARPOP_REPLY}, or another value. */
  op: number;
  /** Sender MAC (6 bytes). */
  sha: Uint8Array;
  /** Sender IPv4 address. */
  spa: number;
  /** Target MAC (6 bytes; zero in a Linux request). */
  tha: Uint8Array;
  /** Target IPv4 address. */
  tpa: number;
}

/** Parse the ARP packet at `off`. Throws {@link WireError} with the {@link checkArp} reason. */
export function parseArp(b: Uint8Array, off = 0, len = b.length - off): ArpRepr {
  const r = checkArp(b, off, len);
  if (r) throw new WireError('arp', r);
  return {
    op: arpOp(b, off),
    sha: b.slice(off + ARP_SHA, off + ARP_SHA + 6),
    spa: arpSpa(b, off),
    tha: b.slice(off + ARP_THA, off + ARP_THA + 6),
    tpa: arpTpa(b, off),
  };
}

/** Write `repr` as 28 bytes at `off` (no padding); returns {@link ARP_LEN}. */
export function emitArp(repr: ArpRepr, b: Uint8Array, off = 0): number {
  setU16(b, off + ARP_HTYPE, ARPHRD_ETHER);
  setU16(b, off + ARP_PTYPE, 0x0800);
  b[off + ARP_HLEN] = 6;
  b[off + ARP_PLEN] = 4;
  setU16(b, off + ARP_OP, repr.op);
  copyMac(b, off + ARP_SHA, repr.sha, 0);
  setU32(b, off + ARP_SPA, repr.spa);
  copyMac(b, off + ARP_THA, repr.tha, 0);
  setU32(b, off + ARP_TPA, repr.tpa);
  return ARP_LEN;
}
