/**
 * ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  echo:        Identifier      |        Sequence Number        |
 * |  unreach:       unused        | Next-Hop MTU (code 4) or 0    |
 * |  time exceeded:            unused (0)                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  echo: data ...   errors: original IP header + leading data   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * The checksum covers the whole ICMP message (no pseudo header).
 *
 * Quoting (Linux `__icmp_send`, net/ipv4/icmp.c): the error quotes the
 * offending datagram from its IP header on, as much as fits in
 * `room = min(576, route MTU) - 20 (IP header + reply options) - 8 (ICMP header)`,
 * never more than the datagram's total length. So a 32-byte UDP datagram is
 * quoted whole (ICMP length 40, IP length 60) and a 1052-byte one is cut to
 * 548 bytes (IP length exactly 576) — both verified by veth captures on
 * Linux 6.18 (port unreachable, time exceeded from a forwarding namespace,
 * frag-needed with mtu 1400). The error's IP header: TOS
 * `(orig TOS & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL` (0xc0 for TOS 0),
 * no DF, TTL 64 (default `ip_default_ttl`), hashed ID (caller supplies it).
 *
 * Not supported: redirect, parameter problem, timestamp and router messages
 * are parsed as `other`; RFC 4884 extensions are not interpreted.
 *
 * @module
 */
import { WireError, u16, u32, setU16, setU32 } from './bytes.js';
import { checksum, fold, onesSum } from './checksum.js';
import {
  IP_FRAG_OFF, IP_OFFSET, IP_PROTO, IP_TOS, IPPROTO_ICMP, IPV4_HLEN,
  fillIpv4Checksum, ipv4Daddr, ipv4HeaderLen, ipv4Saddr, ipv4TotLen,
  setIpv4Daddr, setIpv4Saddr,
} from './ipv4.js';

/** ICMP header length. */
export const ICMP_HLEN = 8;
/** Offset of the type. */
export const ICMP_TYPE = 0;
/** Offset of the code. */
export const ICMP_CODE = 1;
/** Offset of the checksum. */
export const ICMP_CHECKSUM = 2;
/** Offset of the echo identifier. */
export const ICMP_ID = 4;
/** Offset of the echo sequence number. */
export const ICMP_SEQ = 6;
/** Offset of the next-hop MTU in a frag-needed message. */
export const ICMP_MTU = 6;
/** Offset of the gateway address in a redirect. */
export const ICMP_GATEWAY = 4;

/** Type: echo reply. */
export const ICMP_ECHOREPLY = 0;
/** Type: destination unreachable. */
export const ICMP_DEST_UNREACH = 3;
/** Type: source quench. */
export const ICMP_SOURCE_QUENCH = 4;
/** Type: redirect. */
export const ICMP_REDIRECT = 5;
/** Type: echo request. */
export const ICMP_ECHO = 8;
/** Type: time exceeded. */
export const ICMP_TIME_EXCEEDED = 11;
/** Type: parameter problem. */
export const ICMP_PARAMETERPROB = 12;
/** Type: timestamp request. */
export const ICMP_TIMESTAMP = 13;
/** Type: timestamp reply. */
export const ICMP_TIMESTAMPREPLY = 14;
/** Highest type Linux knows (`NR_ICMP_TYPES`). */
export const NR_ICMP_TYPES = 18;

/** Unreach code 0: network unreachable (`iptables -j REJECT --reject-with icmp-net-unreachable`). */
export const ICMP_NET_UNREACH = 0;
/** Unreach code 1: host unreachable (no ARP answer; `icmp-host-unreachable`). */
export const ICMP_HOST_UNREACH = 1;
/** Unreach code 2: protocol unreachable (`icmp-proto-unreachable`). */
export const ICMP_PROT_UNREACH = 2;
/** Unreach code 3: port unreachable (closed UDP port; REJECT's default). */
export const ICMP_PORT_UNREACH = 3;
/** Unreach code 4: fragmentation needed and DF set; carries the next-hop MTU. */
export const ICMP_FRAG_NEEDED = 4;
/** Unreach code 5: source route failed. */
export const ICMP_SR_FAILED = 5;
/** Unreach code 6: destination network unknown. */
export const ICMP_NET_UNKNOWN = 6;
/** Unreach code 7: destination host unknown. */
export const ICMP_HOST_UNKNOWN = 7;
/** Unreach code 8: source host isolated. */
export const ICMP_HOST_ISOLATED = 8;
/** Unreach code 9: network administratively prohibited (`icmp-net-prohibited`). */
export const ICMP_NET_ANO = 9;
/** Unreach code 10: host administratively prohibited (`icmp-host-prohibited`). */
export const ICMP_HOST_ANO = 10;
/** Unreach code 11: network unreachable for TOS. */
export const ICMP_NET_UNR_TOS = 11;
/** Unreach code 12: host unreachable for TOS. */
export const ICMP_HOST_UNR_TOS = 12;
/** Unreach code 13: communication administratively prohibited (`icmp-admin-prohibited`). */
export const ICMP_PKT_FILTERED = 13;
/** Unreach code 14: precedence violation. */
export const ICMP_PREC_VIOLATION = 14;
/** Unreach code 15: precedence cutoff. */
export const ICMP_PREC_CUTOFF = 15;
/** Time exceeded code 0: TTL exceeded in transit. */
export const ICMP_EXC_TTL = 0;
/** Time exceeded code 1: fragment reassembly time exceeded. */
export const ICMP_EXC_FRAGTIME = 1;

/** Linux's cap on an ICMP error's IP total length (RFC 1812 4.3.2.3: 576). */
export const ICMP_ERROR_MAX_IPLEN = 576;
/** TOS precedence bits set on ICMP errors (`IPTOS_PREC_INTERNETCONTROL`). */
export const IPTOS_PREC_INTERNETCONTROL = 0xc0;
/** TOS bits copied from the offending datagram into an ICMP error (`IPTOS_TOS_MASK`). */
export const IPTOS_TOS_MASK = 0x1e;

/** Type. */
export function icmpType(b: Uint8Array, off: number): number { return b[off]; }
/** Code. */
export function icmpCode(b: Uint8Array, off: number): number { return b[off + ICMP_CODE]; }
/** Checksum field. */
export function icmpChecksumField(b: Uint8Array, off: number): number { return u16(b, off + ICMP_CHECKSUM); }
/** Echo identifier. */
export function icmpEchoId(b: Uint8Array, off: number): number { return u16(b, off + ICMP_ID); }
/** Echo sequence number. */
export function icmpEchoSeq(b: Uint8Array, off: number): number { return u16(b, off + ICMP_SEQ); }
/** Next-hop MTU of a frag-needed message. */
export function icmpMtu(b: Uint8Array, off: number): number { return u16(b, off + ICMP_MTU); }
/** Set the type. */
export function setIcmpType(b: Uint8Array, off: number, t: number): void { b[off] = t; }
/** Set the code. */
export function setIcmpCode(b: Uint8Array, off: number, c: number): void { b[off + ICMP_CODE] = c; }
/** Set the echo identifier (checksum not updated; see {@link icmpSetEchoId}). */
export function setIcmpEchoId(b: Uint8Array, off: number, id: number): void { setU16(b, off + ICMP_ID, id); }
/** Set the echo sequence number (checksum not updated). */
export function setIcmpEchoSeq(b: Uint8Array, off: number, seq: number): void { setU16(b, off + ICMP_SEQ, seq); }

/** Compute and store the checksum over the `len`-byte ICMP message at `off`. */
export function fillIcmpChecksum(b: Uint8Array, off: number, len: number): void {
  b[off + 2] = 0;
  b[off + 3] = 0;
  setU16(b, off + 2, checksum(b, off, len));
}
/** True when the checksum of the `len`-byte ICMP message at `off` verifies. */
export function verifyIcmpChecksum(b: Uint8Array, off: number, len: number): boolean {
  return fold(onesSum(b, off, len)) === 0xffff;
}
/** Rewrite the echo identifier with an incremental checksum update (NAT of ping, like `icmp_manip_pkt`). */
export function icmpSetEchoId(b: Uint8Array, off: number, id: number): void {
  const old = u16(b, off + ICMP_ID);
  setU16(b, off + ICMP_ID, id);
  const s = (~u16(b, off + 2) & 0xffff) + (~old & 0xffff) + id;
  setU16(b, off + 2, ~fold(s) & 0xffff);
}
/** True for types Linux treats as errors (`icmp_pointers[type].error`): 3, 4, 5, 11, 12. */
export function icmpIsError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Reason the `len` bytes at `off` are not a well-formed ICMP message, or `null`. Checks length and checksum. */
export function checkIcmp(b: Uint8Array, off: number, len: number): string | null {
  if (len < ICMP_HLEN) return 'truncated';
  if (!verifyIcmpChecksum(b, off, len)) return 'bad checksum';
  return null;
}

/** Semantic ICMP message (discriminated on `kind`). */
export type IcmpRepr =
  | {
      /** Echo request (type 8) or reply (type 0). */
      kind: 'echo-request' | 'echo-reply';
      /** Identifier. */
      id: number;
      /** Sequence number. */
      seq: number;
      /** Data after the 8-byte header. */
      data: Uint8Array;
    }
  | {
      /** Destination unreachable (type 3). */
      kind: 'dest-unreachable';
      /** Code, e.g. {@link ICMP_PORT_UNREACH}. */
      code: number;
      /** Next-hop MTU (bytes 6-7); meaningful for {@link ICMP_FRAG_NEEDED}, 0 otherwise. */
      mtu: number;
      /** Quoted original datagram (IP header + leading data). */
      quote: Uint8Array;
    }
  | {
      /** Time exceeded (type 11). */
      kind: 'time-exceeded';
      /** {@link ICMP_EXC_TTL} or {@link ICMP_EXC_FRAGTIME}. */
      code: number;
      /** Quoted original datagram. */
      quote: Uint8Array;
    }
  | {
      /** Any other type, kept raw. */
      kind: 'other';
      /** Type. */
      type: number;
      /** Code. */
      code: number;
      /** Bytes 4-7 as an unsigned 32-bit number. */
      rest: number;
      /** Bytes after the 8-byte header. */
      data: Uint8Array;
    };

/** Bytes {@link emitIcmp} writes for `repr`. */
export function icmpReprLen(repr: IcmpRepr): number {
  return ICMP_HLEN + ('quote' in repr ? repr.quote.length : repr.data.length);
}

/**
 * Parse the `len`-byte ICMP message at `off` (len = IP payload length).
 * Throws {@link WireError} `truncated` / `bad checksum` (unless `verifyChecksum` is false).
 * Bytes 4-5 of a destination unreachable are ignored (unused).
 */
export function parseIcmp(b: Uint8Array, off = 0, len = b.length - off, verifyChecksum = true): IcmpRepr {
  if (len < ICMP_HLEN) throw new WireError('icmp', 'truncated');
  if (verifyChecksum && !verifyIcmpChecksum(b, off, len)) throw new WireError('icmp', 'bad checksum');
  const type = b[off];
  const code = b[off + 1];
  const body = b.slice(off + ICMP_HLEN, off + len);
  switch (type) {
    case ICMP_ECHO:
    case ICMP_ECHOREPLY:
      if (code !== 0) break;
      return { kind: type === ICMP_ECHO ? 'echo-request' : 'echo-reply', id: u16(b, off + 4), seq: u16(b, off + 6), data: body };
    case ICMP_DEST_UNREACH:
      return { kind: 'dest-unreachable', code, mtu: u16(b, off + 6), quote: body };
    case ICMP_TIME_EXCEEDED:
      return { kind: 'time-exceeded', code, quote: body };
  }
  return { kind: 'other', type, code, rest: u32(b, off + 4), data: body };
}

/** Write `repr` at `off` with its checksum; returns the number of bytes written ({@link icmpReprLen}). */
export function emitIcmp(repr: IcmpRepr, b: Uint8Array, off = 0): number {
  let body: Uint8Array;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      b[off] = repr.kind === 'echo-request' ? ICMP_ECHO : ICMP_ECHOREPLY;
      b[off + 1] = 0;
      setU16(b, off + 4, repr.id);
      setU16(b, off + 6, repr.seq);
      body = repr.data;
      break;
    case 'dest-unreachable':
      b[off] = ICMP_DEST_UNREACH;
      b[off + 1] = repr.code;
      setU16(b, off + 4, 0);
      setU16(b, off + 6, repr.mtu);
      body = repr.quote;
      break;
    case 'time-exceeded':
      b[off] = ICMP_TIME_EXCEEDED;
      b[off + 1] = repr.code;
      setU32(b, off + 4, 0);
      body = repr.quote;
      break;
    case 'other':
      b[off] = repr.type;
      b[off + 1] = repr.code;
      setU32(b, off + 4, repr.rest);
      body = repr.data;
      break;
  }
  b.set(body, off + ICMP_HLEN);
  const len = ICMP_HLEN + body.length;
  fillIcmpChecksum(b, off, len);
  return len;
}

/**
 * Reason Linux's `icmp_send` would stay silent about the datagram at `ipOff`
 * (checks that need only the bytes), or `null` when an error may be sent:
 * non-first fragment; an ICMP error (or unknown ICMP type) being quoted;
 * limited broadcast or multicast destination. Routing-dependent checks
 * (subnet broadcast route, `pkt_type != PACKET_HOST`, rate limits) are the caller's.
 */
export function icmpErrorSuppressed(b: Uint8Array, ipOff: number, len: number): string | null {
  if (u16(b, ipOff + IP_FRAG_OFF) & IP_OFFSET) return 'non-first fragment';
  const dst = ipv4Daddr(b, ipOff);
  if (dst === 0xffffffff) return 'broadcast destination';
  if (dst >>> 28 === 0xe) return 'multicast destination';
  if (b[ipOff + IP_PROTO] === IPPROTO_ICMP) {
    const hl = ipv4HeaderLen(b, ipOff);
    if (len < hl + 1) return 'truncated ICMP';
    const t = b[ipOff + hl];
    if (t > NR_ICMP_TYPES || icmpIsError(t)) return 'in response to an ICMP error';
  }
  return null;
}

/** Options of {@link emitIcmpError}. */
export interface IcmpErrorOptions {
  /** ICMP type ({@link ICMP_DEST_UNREACH}, {@link ICMP_TIME_EXCEEDED}, ...). */
  type: number;
  /** ICMP code. */
  code: number;
  /** Next-hop MTU for frag-needed (written at bytes 6-7); default 0. */
  mtu?: number;
  /** Source address of the error (the sending interface's address). */
  src: number;
  /** Destination; defaults to the offending datagram's source. */
  dst?: number;
  /** IP identification of the error packet (Linux: hashed; supply from the PRNG). */
  id: number;
  /** TTL; default 64. */
  ttl?: number;
  /** Route MTU towards `dst`; the quote room is computed from min(576, mtu). Default 1500. */
  routeMtu?: number;
}

/**
 * Length of the quote Linux puts into an ICMP error about a datagram whose IP
 * total length is `origTotLen`: `min(origTotLen, min(576, routeMtu) - 20 - 8)`.
 */
export function icmpQuoteLen(origTotLen: number, routeMtu = 1500): number {
  const room = Math.min(ICMP_ERROR_MAX_IPLEN, routeMtu) - IPV4_HLEN - ICMP_HLEN;
  return Math.max(0, Math.min(origTotLen, room));
}

/**
 * Build a complete IPv4 + ICMP error packet at `out[outOff]` about the
 * datagram at `orig[origIpOff]` (`origLen` bytes available), the way Linux
 * `__icmp_send` does: 20-byte IP header (TOS `(tos & 0x1e) | 0xc0`, no DF,
 * TTL 64, protocol 1), ICMP header, then {@link icmpQuoteLen} bytes of the
 * original starting at its IP header (bounded by its total length and
 * `origLen`). Returns the IP total length written. `out` and `orig` must not overlap.
 * Does not apply {@link icmpErrorSuppressed}; callers check it first.
 */
export function emitIcmpError(out: Uint8Array, outOff: number, orig: Uint8Array, origIpOff: number, origLen: number, o: IcmpErrorOptions): number {
  const quoteLen = Math.min(icmpQuoteLen(ipv4TotLen(orig, origIpOff), o.routeMtu ?? 1500), origLen);
  const icmpLen = ICMP_HLEN + quoteLen;
  const tot = IPV4_HLEN + icmpLen;
  out[outOff] = 0x45;
  out[outOff + IP_TOS] = (orig[origIpOff + IP_TOS] & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL;
  setU16(out, outOff + 2, tot);
  setU16(out, outOff + 4, o.id);
  setU16(out, outOff + IP_FRAG_OFF, 0);
  out[outOff + 8] = o.ttl ?? 64;
  out[outOff + IP_PROTO] = IPPROTO_ICMP;
  const dst = o.dst ?? ipv4Saddr(orig, origIpOff);
  setIpv4Saddr(out, outOff, o.src);
  setIpv4Daddr(out, outOff, dst);
  fillIpv4Checksum(out, outOff);
  const io = outOff + IPV4_HLEN;
  out[io] = o.type;
  out[io + 1] = o.code;
  setU16(out, io + 4, 0);
  setU16(out, io + 6, o.mtu ?? 0);
  out.set(orig.subarray(origIpOff, origIpOff + quoteLen), io + ICMP_HLEN);
  fillIcmpChecksum(out, io, icmpLen);
  return tot;
}
