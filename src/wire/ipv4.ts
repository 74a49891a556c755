/**
 * IPv4 header (RFC 791), with options.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |0|D|M|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options (IHL > 5)                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * IP ID / DF as Linux 6.18 sets them (verified by veth captures):
 * - connected sockets (TCP after connect/accept, connected UDP): DF set,
 *   ID from the per-socket counter (`inet_id`), incrementing per packet;
 * - SYN-ACK and RST from a listening/closed port (no connected socket):
 *   DF set, ID 0;
 * - unconnected UDP with the default `IP_PMTUDISC_WANT`, raw ICMP (ping):
 *   DF set, hashed ID (`ignore_df` → `__ip_select_ident`);
 *   with `IP_PMTUDISC_DO`: DF set, ID 0;
 * - ICMP echo replies and ICMP errors: no DF, hashed ID; errors carry
 *   TOS 0xc0 (`IPTOS_PREC_INTERNETCONTROL`).
 *
 * Options are skipped (kept as bytes in {@link Ipv4Repr.options}), never
 * interpreted. Not supported: IPv4 option processing (record route, source
 * route, router alert), BIG TCP's total length 0.
 *
 * @module
 */
import { WireError, u16, u32, setU16, setU32 } from './bytes.js';
import { checksum, csumReplace16, csumReplace32, finishChecksum, headerChecksum } from './checksum.js';

/** Minimum IPv4 header length (IHL 5). */
export const IPV4_HLEN = 20;
/** Maximum IPv4 header length (IHL 15). */
export const IPV4_HLEN_MAX = 60;
/** Offset of version (high nibble) and IHL (low nibble). */
export const IP_VER_IHL = 0;
/** Offset of the TOS byte (DSCP << 2 | ECN). */
export const IP_TOS = 1;
/** Offset of the total length. */
export const IP_TOT_LEN = 2;
/** Offset of the identification. */
export const IP_ID = 4;
/** Offset of flags + fragment offset (Linux `frag_off`). */
export const IP_FRAG_OFF = 6;
/** Offset of the TTL. */
export const IP_TTL = 8;
/** Offset of the protocol. */
export const IP_PROTO = 9;
/** Offset of the header checksum. */
export const IP_CHECK = 10;
/** Offset of the source address. */
export const IP_SADDR = 12;
/** Offset of the destination address. */
export const IP_DADDR = 16;

/** "Congestion experienced" reserved flag bit in `frag_off` (Linux `IP_CE`, the evil bit). */
export const IP_CE = 0x8000;
/** Don't-fragment flag in `frag_off`. */
export const IP_DF = 0x4000;
/** More-fragments flag in `frag_off`. */
export const IP_MF = 0x2000;
/** Fragment offset mask (8-byte units) in `frag_off`. */
export const IP_OFFSET = 0x1fff;

/** IP protocol ICMP. */
export const IPPROTO_ICMP = 1;
/** IP protocol IP-in-IP (Calico IPIP). */
export const IPPROTO_IPIP = 4;
/** IP protocol TCP. */
export const IPPROTO_TCP = 6;
/** IP protocol UDP. */
export const IPPROTO_UDP = 17;

/** Version (high nibble of byte 0). */
export function ipv4Version(b: Uint8Array, off: number): number { return b[off] >>> 4; }
/** IHL in 32-bit words. */
export function ipv4Ihl(b: Uint8Array, off: number): number { return b[off] & 0x0f; }
/** Header length in bytes (IHL * 4). */
export function ipv4HeaderLen(b: Uint8Array, off: number): number { return (b[off] & 0x0f) << 2; }
/** TOS byte (DSCP << 2 | ECN). */
export function ipv4Tos(b: Uint8Array, off: number): number { return b[off + IP_TOS]; }
/** DSCP (TOS >> 2). */
export function ipv4Dscp(b: Uint8Array, off: number): number { return b[off + IP_TOS] >>> 2; }
/** ECN (low 2 bits of TOS). */
export function ipv4Ecn(b: Uint8Array, off: number): number { return b[off + IP_TOS] & 3; }
/** Total length (header + payload). */
export function ipv4TotLen(b: Uint8Array, off: number): number { return u16(b, off + IP_TOT_LEN); }
/** Identification. */
export function ipv4Id(b: Uint8Array, off: number): number { return u16(b, off + IP_ID); }
/** Raw flags + fragment offset field (Linux `frag_off`, host order). */
export function ipv4FragOffRaw(b: Uint8Array, off: number): number { return u16(b, off + IP_FRAG_OFF); }
/** DF flag. */
export function ipv4Df(b: Uint8Array, off: number): boolean { return (b[off + IP_FRAG_OFF] & 0x40) !== 0; }
/** MF flag. */
export function ipv4Mf(b: Uint8Array, off: number): boolean { return (b[off + IP_FRAG_OFF] & 0x20) !== 0; }
/** Fragment offset in bytes (field * 8). */
export function ipv4FragOffset(b: Uint8Array, off: number): number { return (u16(b, off + IP_FRAG_OFF) & IP_OFFSET) << 3; }
/** True for any fragment (MF set or offset non-zero), like Linux `ip_is_fragment`. */
export function ipv4IsFragment(b: Uint8Array, off: number): boolean { return (u16(b, off + IP_FRAG_OFF) & (IP_MF | IP_OFFSET)) !== 0; }
/** TTL. */
export function ipv4Ttl(b: Uint8Array, off: number): number { return b[off + IP_TTL]; }
/** Protocol. */
export function ipv4Protocol(b: Uint8Array, off: number): number { return b[off + IP_PROTO]; }
/** Header checksum field. */
export function ipv4Check(b: Uint8Array, off: number): number { return u16(b, off + IP_CHECK); }
/** Source address (unsigned 32-bit). */
export function ipv4Saddr(b: Uint8Array, off: number): number { return u32(b, off + IP_SADDR); }
/** Destination address (unsigned 32-bit). */
export function ipv4Daddr(b: Uint8Array, off: number): number { return u32(b, off + IP_DADDR); }

/** Set version 4 and IHL (words). Does not touch the checksum. */
export function setIpv4VerIhl(b: Uint8Array, off: number, ihl: number): void { b[off] = 0x40 | (ihl & 0x0f); }
/** Set the TOS byte. Does not touch the checksum. */
export function setIpv4Tos(b: Uint8Array, off: number, tos: number): void { b[off + IP_TOS] = tos; }
/** Set the total length. Does not touch the checksum. */
export function setIpv4TotLen(b: Uint8Array, off: number, len: number): void { setU16(b, off + IP_TOT_LEN, len); }
/** Set the identification. Does not touch the checksum. */
export function setIpv4Id(b: Uint8Array, off: number, id: number): void { setU16(b, off + IP_ID, id); }
/** Set the raw flags + fragment offset field. Does not touch the checksum. */
export function setIpv4FragOffRaw(b: Uint8Array, off: number, v: number): void { setU16(b, off + IP_FRAG_OFF, v); }
/** Set the TTL. Does not touch the checksum (see {@link ipv4DecTtl}). */
export function setIpv4Ttl(b: Uint8Array, off: number, ttl: number): void { b[off + IP_TTL] = ttl; }
/** Set the protocol. Does not touch the checksum. */
export function setIpv4Protocol(b: Uint8Array, off: number, p: number): void { b[off + IP_PROTO] = p; }
/** Set the header checksum field. */
export function setIpv4Check(b: Uint8Array, off: number, c: number): void { setU16(b, off + IP_CHECK, c); }
/** Set the source address. Does not touch the checksum (see {@link ipv4SetSrc}). */
export function setIpv4Saddr(b: Uint8Array, off: number, a: number): void { setU32(b, off + IP_SADDR, a); }
/** Set the destination address. Does not touch the checksum (see {@link ipv4SetDst}). */
export function setIpv4Daddr(b: Uint8Array, off: number, a: number): void { setU32(b, off + IP_DADDR, a); }

/** Compute the header checksum over IHL*4 bytes (checksum field treated as 0) and store it. */
export function fillIpv4Checksum(b: Uint8Array, off: number): void {
  b[off + IP_CHECK] = 0;
  b[off + IP_CHECK + 1] = 0;
  setU16(b, off + IP_CHECK, checksum(b, off, ipv4HeaderLen(b, off)));
}

/** True when the header checksum verifies (Linux `ip_fast_csum(iph, ihl) == 0`). */
export function verifyIpv4Checksum(b: Uint8Array, off: number): boolean {
  return headerChecksum(b, off, ipv4HeaderLen(b, off)) === 0;
}

/** Set the source address and update the header checksum incrementally (RFC 1624), like `csum_replace4`. */
export function ipv4SetSrc(b: Uint8Array, off: number, addr: number): void {
  const old = u32(b, off + IP_SADDR);
  setU32(b, off + IP_SADDR, addr);
  setU16(b, off + IP_CHECK, csumReplace32(u16(b, off + IP_CHECK), old, addr));
}

/** Set the destination address and update the header checksum incrementally (RFC 1624). */
export function ipv4SetDst(b: Uint8Array, off: number, addr: number): void {
  const old = u32(b, off + IP_DADDR);
  setU32(b, off + IP_DADDR, addr);
  setU16(b, off + IP_CHECK, csumReplace32(u16(b, off + IP_CHECK), old, addr));
}

/** Set the TOS byte and update the header checksum incrementally (like Linux `ipv4_change_dsfield`). */
export function ipv4SetTos(b: Uint8Array, off: number, tos: number): void {
  const old = u16(b, off);
  b[off + IP_TOS] = tos;
  setU16(b, off + IP_CHECK, csumReplace16(u16(b, off + IP_CHECK), old, u16(b, off)));
}

/**
 * Decrement the TTL and patch the checksum exactly like Linux
 * `ip_decrease_ttl`: `check += htons(0x0100); check += (check >= 0xffff)`
 * truncated to 16 bits — one's complement addition of 0x0100 that yields
 * 0x0000 rather than 0xffff, i.e. bit-identical to a full recomputation.
 * Returns the new TTL. The caller checks `ttl <= 1` first (ip_forward sends
 * ICMP time exceeded instead); a TTL of 0 wraps to 255 as the u8 does.
 */
export function ipv4DecTtl(b: Uint8Array, off: number): number {
  let check = u16(b, off + IP_CHECK) + 0x0100;
  check = (check + (check >= 0xffff ? 1 : 0)) & 0xffff;
  setU16(b, off + IP_CHECK, check);
  const ttl = (b[off + IP_TTL] - 1) & 0xff;
  b[off + IP_TTL] = ttl;
  return ttl;
}

/** Drop reason codes of {@link checkIpv4}, named after Linux `SKB_DROP_REASON_*`. */
export type Ipv4DropCode = 'IP_INHDR' | 'IP_CSUM' | 'PKT_TOO_SMALL';

/** Why {@link checkIpv4} rejected a header. */
export interface Ipv4Reject {
  /** Kernel drop reason: `IP_INHDR` (IPSTATS_MIB_INHDRERRORS), `IP_CSUM` (also counts CSUMERRORS), `PKT_TOO_SMALL` (INTRUNCATEDPKTS). */
  code: Ipv4DropCode;
  /** Human-readable reason. */
  reason: string;
}

/**
 * Validate the IPv4 header at `off` with `len` bytes available, in the order
 * of Linux `ip_rcv_core`:
 * 1. fewer than 20 bytes → `IP_INHDR` "truncated header";
 * 2. IHL < 5 → `IP_INHDR`; version ≠ 4 → `IP_INHDR`;
 * 3. IHL*4 > available → `IP_INHDR` "truncated header";
 * 4. bad header checksum → `IP_CSUM` (checked before the lengths, as in the kernel);
 * 5. total length > available → `PKT_TOO_SMALL` (the kernel counts IPSTATS_MIB_INTRUNCATEDPKTS);
 * 6. total length < IHL*4 → `IP_INHDR`.
 * Returns `null` when the header is acceptable; bytes beyond total length are
 * padding the kernel trims (`pskb_trim_rcsum`).
 */
export function checkIpv4(b: Uint8Array, off: number, len: number): Ipv4Reject | null {
  if (len < IPV4_HLEN) return { code: 'IP_INHDR', reason: 'truncated header' };
  const ihl = b[off] & 0x0f;
  if (ihl < 5) return { code: 'IP_INHDR', reason: 'ihl < 5' };
  if (b[off] >>> 4 !== 4) return { code: 'IP_INHDR', reason: 'version != 4' };
  const hlen = ihl << 2;
  if (hlen > len) return { code: 'IP_INHDR', reason: 'truncated header' };
  if (headerChecksum(b, off, hlen) !== 0) return { code: 'IP_CSUM', reason: 'bad header checksum' };
  const tot = u16(b, off + IP_TOT_LEN);
  if (tot > len) return { code: 'PKT_TOO_SMALL', reason: 'total length > available' };
  if (tot < hlen) return { code: 'IP_INHDR', reason: 'total length < header length' };
  return null;
}

/** Semantic IPv4 header. The payload is not part of it: it is `payloadLen` bytes after the header. */
export interface Ipv4Repr {
  /** Source address (unsigned 32-bit). */
  src: number;
  /** Destination address (unsigned 32-bit). */
  dst: number;
  /** Protocol, e.g. {@link IPPROTO_TCP}. */
  protocol: number;
  /** TTL. */
  ttl: number;
  /** TOS byte (DSCP << 2 | ECN). */
  tos: number;
  /** Identification. */
  id: number;
  /** Don't fragment. */
  df: boolean;
  /** More fragments. */
  mf: boolean;
  /** Fragment offset in bytes (multiple of 8). */
  fragOffset: number;
  /** Payload length (total length - header length). */
  payloadLen: number;
  /** Raw option bytes (length multiple of 4, at most 40), empty when IHL is 5. */
  options: Uint8Array;
}

/** Header length `repr` emits: 20 + options. */
export function ipv4ReprHeaderLen(repr: Ipv4Repr): number {
  return IPV4_HLEN + repr.options.length;
}

/**
 * Parse the IPv4 header at `off`. Throws {@link WireError} with the
 * {@link checkIpv4} reason (checksum included unless `verifyChecksum` is false).
 */
export function parseIpv4(b: Uint8Array, off = 0, len = b.length - off, verifyChecksum = true): Ipv4Repr {
  let rej = checkIpv4(b, off, len);
  if (rej && rej.code === 'IP_CSUM' && !verifyChecksum) {
    const tot = u16(b, off + IP_TOT_LEN);
    const hlen = ipv4HeaderLen(b, off);
    rej = tot > len ? { code: 'PKT_TOO_SMALL', reason: 'total length > available' }
      : tot < hlen ? { code: 'IP_INHDR', reason: 'total length < header length' } : null;
  }
  if (rej) throw new WireError('ipv4', rej.reason);
  const hlen = ipv4HeaderLen(b, off);
  const fo = u16(b, off + IP_FRAG_OFF);
  return {
    src: ipv4Saddr(b, off),
    dst: ipv4Daddr(b, off),
    protocol: b[off + IP_PROTO],
    ttl: b[off + IP_TTL],
    tos: b[off + IP_TOS],
    id: u16(b, off + IP_ID),
    df: (fo & IP_DF) !== 0,
    mf: (fo & IP_MF) !== 0,
    fragOffset: (fo & IP_OFFSET) << 3,
    payloadLen: u16(b, off + IP_TOT_LEN) - hlen,
    options: b.slice(off + IPV4_HLEN, off + hlen),
  };
}

/**
 * Write the header for `repr` at `off` (options copied, total length =
 * header + payloadLen) and compute the header checksum. Returns the header length.
 * Throws {@link WireError} when options are not a multiple of 4 or longer than 40 bytes.
 */
export function emitIpv4(repr: Ipv4Repr, b: Uint8Array, off = 0): number {
  const olen = repr.options.length;
  if (olen & 3 || olen > 40) throw new WireError('ipv4', 'options length must be a multiple of 4, at most 40');
  const hlen = IPV4_HLEN + olen;
  b[off] = 0x40 | (hlen >>> 2);
  b[off + IP_TOS] = repr.tos;
  setU16(b, off + IP_TOT_LEN, hlen + repr.payloadLen);
  setU16(b, off + IP_ID, repr.id);
  setU16(b, off + IP_FRAG_OFF, (repr.df ? IP_DF : 0) | (repr.mf ? IP_MF : 0) | ((repr.fragOffset >>> 3) & IP_OFFSET));
  b[off + IP_TTL] = repr.ttl;
  b[off + IP_PROTO] = repr.protocol;
  setU32(b, off + IP_SADDR, repr.src);
  setU32(b, off + IP_DADDR, repr.dst);
  b.set(repr.options, off + IPV4_HLEN);
  fillIpv4Checksum(b, off);
  return hlen;
}

/**
 * Writes a 20-byte IPv4 header (no options) at `off` for `payloadLen` bytes of
 * payload, header checksum included. Positional arguments so the hot path
 * builds no object; {@link emitIpv4} is the Repr-based equivalent.
 */
export function writeIpv4Header(b: Uint8Array, off: number, src: number, dst: number, proto: number, ttl: number, tos: number, id: number, df: boolean, payloadLen: number): void {
  b[off] = 0x45;
  b[off + IP_TOS] = tos;
  setU16(b, off + IP_TOT_LEN, IPV4_HLEN + payloadLen);
  setU16(b, off + IP_ID, id & 0xffff);
  setU16(b, off + IP_FRAG_OFF, df ? IP_DF : 0);
  b[off + IP_TTL] = ttl;
  b[off + IP_PROTO] = proto;
  setU32(b, off + IP_SADDR, src);
  setU32(b, off + IP_DADDR, dst);
  // The checksum from the values just written (the same words the bytes hold), not read back.
  setU16(b, off + IP_CHECK, finishChecksum((0x4500 | (tos & 0xff)) + ((IPV4_HLEN + payloadLen) & 0xffff) + (id & 0xffff) + (df ? IP_DF : 0) +
    (((ttl & 0xff) << 8) | (proto & 0xff)) + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff)));
}
