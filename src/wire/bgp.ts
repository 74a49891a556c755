/**
 * BGP-4 messages (RFC 4271) with capabilities (RFC 5492), 4-octet AS numbers
 * (RFC 6793), route refresh (RFC 2918, RFC 7313), graceful restart (RFC 4724,
 * RFC 9494 long-lived), ADD-PATH (RFC 7911) and route reflection attributes
 * (RFC 4456).
 *
 * Message header (every message; TCP port 179, all integers big-endian):
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                                                               +
 * |                           Marker (all ones)                   |
 * +                                                               +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Length (19..4096)    |      Type     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Types: 1 OPEN, 2 UPDATE, 3 NOTIFICATION, 4 KEEPALIVE (header only), 5 ROUTE-REFRESH.
 *
 * OPEN (at least 29 bytes):
 * ```
 * +-+-+-+-+-+-+-+-+
 * |    Version    |  4
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     My Autonomous System      |  AS_TRANS 23456 when the AS needs 4 octets
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Hold Time           |  0 or >= 3 s
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         BGP Identifier                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Opt Parm Len  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |             Optional Parameters (variable)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Optional parameter: Parm. Type (1) | Parm. Length (1) | Value.
 * Type 2 = Capabilities: a list of Code (1) | Length (1) | Value.
 * ```
 * Capabilities modelled: 1 multiprotocol (AFI 2, reserved 1, SAFI 1), 2 route
 * refresh (empty), 64 graceful restart (flags 4 bits + restart time 12 bits,
 * then AFI 2 / SAFI 1 / flags 1 per family), 65 4-octet AS (4), 69 ADD-PATH
 * (AFI 2 / SAFI 1 / send-receive 1 per family: 1 receive, 2 send, 3 both), 70
 * enhanced route refresh (empty), 71 long-lived graceful restart (AFI 2 /
 * SAFI 1 / flags 1 / stale time 3 per family; BIRD sends it empty); any other
 * code is kept verbatim.
 *
 * UPDATE (at least 23 bytes):
 * ```
 * +-----------------------------------------------------+
 * |   Withdrawn Routes Length (2 octets)                |
 * +-----------------------------------------------------+
 * |   Withdrawn Routes (variable)                       |
 * +-----------------------------------------------------+
 * |   Total Path Attribute Length (2 octets)            |
 * +-----------------------------------------------------+
 * |   Path Attributes (variable)                        |
 * +-----------------------------------------------------+
 * |   Network Layer Reachability Information (variable) |
 * +-----------------------------------------------------+
 * Prefix: [Path Identifier (4), with ADD-PATH] | Length in bits (1) | ceil(len/8) octets.
 * Attribute: Flags (1: 0x80 optional, 0x40 transitive, 0x20 partial,
 *            0x10 extended length) | Type (1) | Length (1, or 2 when extended) | Value.
 * ```
 * Attributes: 1 ORIGIN (0 IGP, 1 EGP, 2 INCOMPLETE), 2 AS_PATH (segments:
 * type 1 AS_SET / 2 AS_SEQUENCE / 3 AS_CONFED_SEQUENCE / 4 AS_CONFED_SET,
 * count, then 2- or 4-octet ASNs as negotiated), 3 NEXT_HOP, 4
 * MULTI_EXIT_DISC, 5 LOCAL_PREF, 6 ATOMIC_AGGREGATE, 7 AGGREGATOR (6 or 8), 9
 * ORIGINATOR_ID, 10 CLUSTER_LIST; any other attribute is kept verbatim with
 * its flags. An UPDATE with no withdrawn routes, no attributes and no NLRI is
 * the IPv4 unicast End-of-RIB marker (RFC 4724).
 *
 * NOTIFICATION (at least 21 bytes): Error code (1) | Subcode (1) | Data.
 * ROUTE-REFRESH (23 bytes): AFI (2) | subtype (1; 0 normal, 1 BoRR, 2 EoRR,
 * RFC 7313) | SAFI (1).
 *
 * Untrusted bytes: {@link decodeBgp} and {@link BgpReassembler} never throw
 * anything but {@link BgpError}, which carries the NOTIFICATION (code,
 * subcode, data) RFC 4271 §6 prescribes for the fault. Encoding with values
 * out of range throws {@link WireError}.
 *
 * Not modelled: MP_REACH/MP_UNREACH (IPv4 unicast NLRI goes in the classic
 * fields, as BIRD sends it), AS4_PATH/AS4_AGGREGATOR synthesis for 2-octet
 * sessions (4-octet ASNs become AS_TRANS), extended messages (RFC 8654).
 *
 * @module
 */
import { WireError, u16, u32, setU16, setU32, ipToString, slabBytes } from './bytes.js';

/** TCP port of BGP. */
export const BGP_PORT = 179;
/** Header length (marker 16, length 2, type 1). */
export const BGP_HEADER_LEN = 19;
/** Largest message (RFC 4271). */
export const BGP_MAX_LEN = 4096;
/** Offset of the length field in the header. */
export const BGP_LENGTH = 16;
/** Offset of the type field in the header. */
export const BGP_TYPE = 18;
/** AS_TRANS (RFC 6793): the My AS of a speaker whose AS needs 4 octets. */
export const AS_TRANS = 23456;

export const BGP_OPEN = 1;
export const BGP_UPDATE = 2;
export const BGP_NOTIFICATION = 3;
export const BGP_KEEPALIVE = 4;
export const BGP_ROUTE_REFRESH = 5;

/** Capability codes. */
export const CAP_MP = 1;
export const CAP_ROUTE_REFRESH = 2;
export const CAP_GRACEFUL_RESTART = 64;
export const CAP_AS4 = 65;
export const CAP_ADD_PATH = 69;
export const CAP_ENHANCED_ROUTE_REFRESH = 70;
export const CAP_LLGR = 71;

/** Path attribute type codes. */
export const ATTR_ORIGIN = 1;
export const ATTR_AS_PATH = 2;
export const ATTR_NEXT_HOP = 3;
export const ATTR_MED = 4;
export const ATTR_LOCAL_PREF = 5;
export const ATTR_ATOMIC_AGGREGATE = 6;
export const ATTR_AGGREGATOR = 7;
export const ATTR_ORIGINATOR_ID = 9;
export const ATTR_CLUSTER_LIST = 10;

/** Attribute flags. */
export const ATTR_F_OPTIONAL = 0x80;
export const ATTR_F_TRANSITIVE = 0x40;
export const ATTR_F_PARTIAL = 0x20;
export const ATTR_F_EXT_LEN = 0x10;

export const AFI_IPV4 = 1;
export const SAFI_UNICAST = 1;

/** Message type names as RFC 4271 and RFC 2918 spell them. */
export const BGP_TYPE_NAMES: Readonly<Record<number, string>> = { 1: 'OPEN', 2: 'UPDATE', 3: 'NOTIFICATION', 4: 'KEEPALIVE', 5: 'ROUTE-REFRESH' };

/** NOTIFICATION error codes and subcodes with their names (RFC 4271 §4.5, RFC 4486, RFC 8203, RFC 7313). */
export const NOTIFY_NAMES: Readonly<Record<number, { name: string; sub: Readonly<Record<number, string>> }>> = {
  1: { name: 'Message Header Error', sub: { 0: 'Unspecific', 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' } },
  2: {
    name: 'OPEN Message Error',
    sub: { 0: 'Unspecific', 1: 'Unsupported Version Number', 2: 'Bad Peer AS', 3: 'Bad BGP Identifier', 4: 'Unsupported Optional Parameter', 6: 'Unacceptable Hold Time', 7: 'Unsupported Capability' },
  },
  3: {
    name: 'UPDATE Message Error',
    sub: {
      0: 'Unspecific', 1: 'Malformed Attribute List', 2: 'Unrecognized Well-known Attribute', 3: 'Missing Well-known Attribute', 4: 'Attribute Flags Error',
      5: 'Attribute Length Error', 6: 'Invalid ORIGIN Attribute', 8: 'Invalid NEXT_HOP Attribute', 9: 'Optional Attribute Error', 10: 'Invalid Network Field', 11: 'Malformed AS_PATH',
    },
  },
  4: { name: 'Hold Timer Expired', sub: { 0: 'Unspecific' } },
  5: { name: 'Finite State Machine Error', sub: { 0: 'Unspecified Error', 1: 'Receive Unexpected Message in OpenSent State', 2: 'Receive Unexpected Message in OpenConfirm State', 3: 'Receive Unexpected Message in Established State' } },
  6: {
    name: 'Cease',
    sub: {
      0: 'Unspecific', 1: 'Maximum Number of Prefixes Reached', 2: 'Administrative Shutdown', 3: 'Peer De-configured', 4: 'Administrative Reset', 5: 'Connection Rejected',
      6: 'Other Configuration Change', 7: 'Connection Collision Resolution', 8: 'Out of Resources', 9: 'Hard Reset',
    },
  },
  7: { name: 'ROUTE-REFRESH Message Error', sub: { 0: 'Reserved', 1: 'Invalid Message Length' } },
};

/** `"Cease/Administrative Shutdown"`-style name of a code and subcode (numbers for unknown ones). */
export function notifyName(code: number, subcode: number): string {
  const c = NOTIFY_NAMES[code];
  if (!c) return `error ${code}/${subcode}`;
  return `${c.name}/${c.sub[subcode] ?? `subcode ${subcode}`}`;
}

/**
 * A fault in received bytes, with the NOTIFICATION that answers it (RFC 4271
 * §6). `reason` is a short stable text for traces and tests.
 */
export class BgpError extends WireError {
  constructor(readonly code: number, readonly subcode: number, reason: string, readonly data: Uint8Array = new Uint8Array(0)) {
    super('bgp', reason);
    this.name = 'BgpError';
  }
  /** The NOTIFICATION message answering this error. */
  notification(): BgpNotification {
    return { type: 'notification', code: this.code, subcode: this.subcode, data: this.data };
  }
}

// ─── Representations ─────────────────────────────────────────────────────────

/** Per-family entry of graceful restart: forwarding state preserved flag in `flags` (0x80). */
export interface GrFamily { afi: number; safi: number; flags: number }
/** Per-family entry of ADD-PATH: 1 receive, 2 send, 3 both. */
export interface AddPathFamily { afi: number; safi: number; sendReceive: number }
/** Per-family entry of long-lived graceful restart. */
export interface LlgrFamily { afi: number; safi: number; flags: number; staleTime: number }

/** One capability of an OPEN (RFC 5492). */
export type BgpCapability =
  | { code: 1; afi: number; safi: number }
  | { code: 2 }
  | { code: 64; restartFlags: number; restartTime: number; families: GrFamily[] }
  | { code: 65; asn: number }
  | { code: 69; families: AddPathFamily[] }
  | { code: 70 }
  | { code: 71; families: LlgrFamily[] }
  | { code: number; data: Uint8Array; raw: true };

/** An optional parameter other than Capabilities, kept verbatim. */
export interface BgpOptParam { type: number; data: Uint8Array }

export interface BgpOpen {
  type: 'open';
  version: number;
  /** The 2-octet My AS field (AS_TRANS for a 4-octet AS; see {@link openAsn}). */
  myAs: number;
  holdTime: number;
  /** BGP Identifier as an unsigned 32-bit number. */
  bgpId: number;
  /**
   * The capabilities; emitted in one Capabilities optional parameter (as BIRD
   * does). Decoding concatenates every Capabilities parameter's list.
   */
  capabilities: BgpCapability[];
  /** Optional parameters other than Capabilities, emitted after it. */
  otherParams?: BgpOptParam[];
}

/** An IPv4 prefix of an UPDATE; `pathId` is present on ADD-PATH sessions. */
export interface BgpPrefix { addr: number; len: number; pathId?: number }

/** AS_PATH segment. */
export interface AsPathSegment { type: number; asns: number[] }

/** One path attribute; `flags` as sent (the extended-length bit is set anyway when the value exceeds 255 bytes). */
export type BgpAttr =
  | { code: 1; flags: number; origin: number }
  | { code: 2; flags: number; segments: AsPathSegment[] }
  | { code: 3; flags: number; nextHop: number }
  | { code: 4; flags: number; med: number }
  | { code: 5; flags: number; localPref: number }
  | { code: 6; flags: number }
  | { code: 7; flags: number; asn: number; address: number }
  | { code: 9; flags: number; originatorId: number }
  | { code: 10; flags: number; clusterList: number[] }
  | { code: number; flags: number; data: Uint8Array; raw: true };

export interface BgpUpdate {
  type: 'update';
  withdrawn: BgpPrefix[];
  attrs: BgpAttr[];
  nlri: BgpPrefix[];
}

export interface BgpNotification { type: 'notification'; code: number; subcode: number; data: Uint8Array }
export interface BgpKeepalive { type: 'keepalive' }
export interface BgpRouteRefresh { type: 'route-refresh'; afi: number; subtype: number; safi: number }

export type BgpMessage = BgpOpen | BgpUpdate | BgpNotification | BgpKeepalive | BgpRouteRefresh;

/**
 * What was negotiated on the session, which changes the UPDATE encoding:
 * `as4` = both sent capability 65 (AS_PATH/AGGREGATOR carry 4-octet ASNs);
 * `addPath` = the sender of the UPDATE sends path identifiers (the receiver
 * advertised receive and the sender send, for IPv4 unicast).
 */
export interface BgpCodecOptions { as4: boolean; addPath: boolean }

export const CLASSIC: BgpCodecOptions = { as4: false, addPath: false };

/** The real AS of an OPEN: the 4-octet AS capability when present, else My AS. */
export function openAsn(o: BgpOpen): number {
  for (const c of o.capabilities) if (c.code === CAP_AS4 && 'asn' in c) return c.asn;
  return o.myAs;
}

/** The capability with `code` in an OPEN, if any. */
export function openCap<C extends BgpCapability['code']>(o: BgpOpen, code: C): Extract<BgpCapability, { code: C }> | undefined {
  return o.capabilities.find((c) => c.code === code && !('raw' in c)) as Extract<BgpCapability, { code: C }> | undefined;
}

/** The attribute with `code` in an UPDATE, if any. */
export function updateAttr<C extends BgpAttr['code']>(u: BgpUpdate, code: C): Extract<BgpAttr, { code: C }> | undefined {
  return u.attrs.find((a) => a.code === code && !('raw' in a)) as Extract<BgpAttr, { code: C }> | undefined;
}

/** True for the IPv4 unicast End-of-RIB marker (an empty UPDATE). */
export function isEndOfRib(u: BgpUpdate): boolean {
  return u.withdrawn.length === 0 && u.attrs.length === 0 && u.nlri.length === 0;
}

// ─── Header view ─────────────────────────────────────────────────────────────

/** Length field of the header at `off`. */
export function bgpLength(b: Uint8Array, off: number): number { return u16(b, off + BGP_LENGTH); }
/** Type field of the header at `off`. */
export function bgpType(b: Uint8Array, off: number): number { return b[off + BGP_TYPE]; }

function minLen(type: number): number {
  switch (type) {
    case BGP_OPEN: return 29;
    case BGP_UPDATE: return 23;
    case BGP_NOTIFICATION: return 21;
    case BGP_KEEPALIVE: return 19;
    case BGP_ROUTE_REFRESH: return 23;
    default: return 19;
  }
}

/**
 * The header error of the 19 bytes at `off` (RFC 4271 §6.1), or null: a
 * marker not all ones (1/1), a length below 19, above 4096 or wrong for the
 * type (1/2, data = the length field), an unknown type (1/3, data = the type).
 */
export function checkBgpHeader(b: Uint8Array, off: number): BgpError | null {
  for (let i = 0; i < 16; i++) if (b[off + i] !== 0xff) return new BgpError(1, 1, 'marker not all ones');
  const len = u16(b, off + BGP_LENGTH), type = b[off + BGP_TYPE];
  // The NOTIFICATION data (the erroneous length field) is copied only for an error: this runs once per message received.
  const lenData = () => b.slice(off + BGP_LENGTH, off + BGP_LENGTH + 2);
  if (len < BGP_HEADER_LEN || len > BGP_MAX_LEN) return new BgpError(1, 2, `bad message length ${len}`, lenData());
  if (type < 1 || type > 5) return new BgpError(1, 3, `bad message type ${type}`, new Uint8Array([type]));
  if (len < minLen(type) || (type === BGP_KEEPALIVE && len !== 19) || (type === BGP_ROUTE_REFRESH && len !== 23)) {
    return new BgpError(1, 2, `bad ${BGP_TYPE_NAMES[type]} length ${len}`, lenData());
  }
  return null;
}

// ─── Decoding ────────────────────────────────────────────────────────────────

function decodeCaps(b: Uint8Array, off: number, end: number, out: BgpCapability[]): void {
  let o = off;
  while (o < end) {
    if (o + 2 > end) throw new BgpError(2, 0, 'truncated capability');
    const code = b[o], len = b[o + 1];
    const v = o + 2;
    if (v + len > end) throw new BgpError(2, 0, `capability ${code} overruns its parameter`);
    const bad = () => new BgpError(2, 0, `capability ${code} has bad length ${len}`);
    switch (code) {
      case CAP_MP:
        if (len !== 4) throw bad();
        out.push({ code: 1, afi: u16(b, v), safi: b[v + 3] });
        break;
      case CAP_ROUTE_REFRESH:
      case CAP_ENHANCED_ROUTE_REFRESH:
        if (len !== 0) throw bad();
        out.push(code === CAP_ROUTE_REFRESH ? { code: 2 } : { code: 70 });
        break;
      case CAP_GRACEFUL_RESTART: {
        if (len < 2 || (len - 2) % 4 !== 0) throw bad();
        const fams: GrFamily[] = [];
        for (let p = v + 2; p < v + len; p += 4) fams.push({ afi: u16(b, p), safi: b[p + 2], flags: b[p + 3] });
        out.push({ code: 64, restartFlags: b[v] >> 4, restartTime: u16(b, v) & 0xfff, families: fams });
        break;
      }
      case CAP_AS4:
        if (len !== 4) throw bad();
        out.push({ code: 65, asn: u32(b, v) });
        break;
      case CAP_ADD_PATH: {
        if (len % 4 !== 0) throw bad();
        const fams: AddPathFamily[] = [];
        for (let p = v; p < v + len; p += 4) {
          if (b[p + 3] < 1 || b[p + 3] > 3) throw new BgpError(2, 0, `ADD-PATH send/receive value ${b[p + 3]}`);
          fams.push({ afi: u16(b, p), safi: b[p + 2], sendReceive: b[p + 3] });
        }
        out.push({ code: 69, families: fams });
        break;
      }
      case CAP_LLGR: {
        if (len % 7 !== 0) throw bad();
        const fams: LlgrFamily[] = [];
        for (let p = v; p < v + len; p += 7) fams.push({ afi: u16(b, p), safi: b[p + 2], flags: b[p + 3], staleTime: (b[p + 4] << 16) | (b[p + 5] << 8) | b[p + 6] });
        out.push({ code: 71, families: fams });
        break;
      }
      default:
        out.push({ code, data: b.slice(v, v + len), raw: true });
    }
    o = v + len;
  }
}

function decodeOpen(b: Uint8Array, off: number, end: number): BgpOpen {
  const p = off + BGP_HEADER_LEN;
  const version = b[p];
  if (version !== 4) throw new BgpError(2, 1, `unsupported version ${version}`, new Uint8Array([0, 4]));
  const myAs = u16(b, p + 1), holdTime = u16(b, p + 3), bgpId = u32(b, p + 5);
  const optLen = b[p + 9];
  if (p + 10 + optLen !== end) throw new BgpError(1, 2, `OPEN optional parameter length ${optLen} disagrees with the message length`, b.slice(off + 16, off + 18));
  if (holdTime === 1 || holdTime === 2) throw new BgpError(2, 6, `unacceptable hold time ${holdTime}`);
  if (bgpId === 0) throw new BgpError(2, 3, 'BGP identifier 0.0.0.0');
  const capabilities: BgpCapability[] = [];
  const otherParams: BgpOptParam[] = [];
  let o = p + 10;
  while (o < end) {
    if (o + 2 > end) throw new BgpError(2, 0, 'truncated optional parameter');
    const type = b[o], len = b[o + 1];
    if (o + 2 + len > end) throw new BgpError(2, 0, `optional parameter ${type} overruns the message`);
    if (type === 2) decodeCaps(b, o + 2, o + 2 + len, capabilities);
    else throw new BgpError(2, 4, `unsupported optional parameter ${type}`);
    o += 2 + len;
  }
  const m: BgpOpen = { type: 'open', version, myAs, holdTime, bgpId, capabilities };
  if (otherParams.length) m.otherParams = otherParams;
  return m;
}

function decodePrefixes(b: Uint8Array, off: number, end: number, addPath: boolean, subcode: number, what: string): BgpPrefix[] {
  const out: BgpPrefix[] = [];
  let o = off;
  while (o < end) {
    let pathId: number | undefined;
    if (addPath) {
      if (o + 4 > end) throw new BgpError(3, subcode, `truncated path identifier in ${what}`);
      pathId = u32(b, o);
      o += 4;
    }
    if (o >= end) throw new BgpError(3, subcode, `truncated prefix in ${what}`);
    const len = b[o++];
    if (len > 32) throw new BgpError(3, subcode, `prefix length ${len} in ${what}`);
    const n = (len + 7) >> 3;
    if (o + n > end) throw new BgpError(3, subcode, `prefix overruns ${what}`);
    let addr = 0;
    for (let i = 0; i < 4; i++) addr = addr * 256 + (i < n ? b[o + i] : 0);
    addr = len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
    o += n;
    out.push(pathId === undefined ? { addr, len } : { addr, len, pathId });
  }
  return out;
}

/** The flags a well-known or RFC 4456 attribute must carry (optional/transitive bits), or -1 when any are fine. */
function expectedFlags(code: number): number {
  switch (code) {
    case ATTR_ORIGIN: case ATTR_AS_PATH: case ATTR_NEXT_HOP: case ATTR_LOCAL_PREF: case ATTR_ATOMIC_AGGREGATE: return ATTR_F_TRANSITIVE;
    case ATTR_MED: case ATTR_ORIGINATOR_ID: case ATTR_CLUSTER_LIST: return ATTR_F_OPTIONAL;
    case ATTR_AGGREGATOR: return ATTR_F_OPTIONAL | ATTR_F_TRANSITIVE;
    default: return -1;
  }
}

function decodeAttr(b: Uint8Array, flags: number, code: number, v: number, len: number, as4: boolean, attrBytes: () => Uint8Array): BgpAttr {
  const exp = expectedFlags(code);
  if (exp >= 0 && (flags & (ATTR_F_OPTIONAL | ATTR_F_TRANSITIVE)) !== exp) throw new BgpError(3, 4, `attribute ${code} has flags 0x${flags.toString(16)}`, attrBytes());
  const lenErr = () => new BgpError(3, 5, `attribute ${code} has length ${len}`, attrBytes());
  switch (code) {
    case ATTR_ORIGIN:
      if (len !== 1) throw lenErr();
      if (b[v] > 2) throw new BgpError(3, 6, `ORIGIN ${b[v]}`, attrBytes());
      return { code: 1, flags, origin: b[v] };
    case ATTR_AS_PATH: {
      const w = as4 ? 4 : 2;
      const segments: AsPathSegment[] = [];
      for (let o = v; o < v + len;) {
        if (o + 2 > v + len) throw new BgpError(3, 11, 'truncated AS_PATH segment');
        const type = b[o], n = b[o + 1];
        if (type < 1 || type > 4) throw new BgpError(3, 11, `AS_PATH segment type ${type}`);
        if (n === 0) throw new BgpError(3, 11, 'empty AS_PATH segment');
        if (o + 2 + n * w > v + len) throw new BgpError(3, 11, 'AS_PATH segment overruns the attribute');
        const asns: number[] = [];
        for (let i = 0; i < n; i++) asns.push(as4 ? u32(b, o + 2 + i * 4) : u16(b, o + 2 + i * 2));
        segments.push({ type, asns });
        o += 2 + n * w;
      }
      return { code: 2, flags, segments };
    }
    case ATTR_NEXT_HOP:
      if (len !== 4) throw lenErr();
      return { code: 3, flags, nextHop: u32(b, v) };
    case ATTR_MED:
      if (len !== 4) throw lenErr();
      return { code: 4, flags, med: u32(b, v) };
    case ATTR_LOCAL_PREF:
      if (len !== 4) throw lenErr();
      return { code: 5, flags, localPref: u32(b, v) };
    case ATTR_ATOMIC_AGGREGATE:
      if (len !== 0) throw lenErr();
      return { code: 6, flags };
    case ATTR_AGGREGATOR:
      if (len !== (as4 ? 8 : 6)) throw lenErr();
      return { code: 7, flags, asn: as4 ? u32(b, v) : u16(b, v), address: u32(b, v + (as4 ? 4 : 2)) };
    case ATTR_ORIGINATOR_ID:
      if (len !== 4) throw lenErr();
      return { code: 9, flags, originatorId: u32(b, v) };
    case ATTR_CLUSTER_LIST: {
      if (len % 4 !== 0) throw lenErr();
      const ids: number[] = [];
      for (let o = v; o < v + len; o += 4) ids.push(u32(b, o));
      return { code: 10, flags, clusterList: ids };
    }
    default:
      if (!(flags & ATTR_F_OPTIONAL)) throw new BgpError(3, 2, `unrecognized well-known attribute ${code}`, attrBytes());
      return { code, flags, data: b.slice(v, v + len), raw: true };
  }
}

/** A path attribute list decoded before: its bytes, codec (AS width) and result (shared by every UPDATE that carries those bytes, never changed). */
interface AttrListEntry { readonly bytes: Uint8Array; readonly as4: boolean; readonly attrs: BgpAttr[]; readonly wellKnown: number }
/**
 * Decoded attribute lists by a hash of their bytes: a reflector sends each client the same
 * attributes for a block, so a cluster decodes each list once instead of once per client (75 M
 * UPDATEs at 5,000 nodes, issue 9). Only lists that decoded without error are kept; the cache
 * is emptied when it reaches ATTR_CACHE_MAX lists.
 */
const attrLists = new Map<number, AttrListEntry | AttrListEntry[]>();
let attrListCount = 0;
const ATTR_CACHE_MAX = 1 << 16;

function attrHash(b: Uint8Array, from: number, to: number, as4: boolean): number {
  let h = as4 ? 0x811c9dc5 : 0x01000193;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function sameBytes(e: AttrListEntry, b: Uint8Array, from: number, to: number, as4: boolean): boolean {
  const x = e.bytes;
  if (e.as4 !== as4 || x.length !== to - from) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== b[from + i]) return false;
  return true;
}

function cachedAttrList(h: number, b: Uint8Array, from: number, to: number, as4: boolean): AttrListEntry | undefined {
  const c = attrLists.get(h);
  if (c === undefined) return undefined;
  if (!Array.isArray(c)) return sameBytes(c, b, from, to, as4) ? c : undefined;
  for (const e of c) if (sameBytes(e, b, from, to, as4)) return e;
  return undefined;
}

function keepAttrList(h: number, e: AttrListEntry): void {
  if (attrListCount >= ATTR_CACHE_MAX) { attrLists.clear(); attrListCount = 0; }
  const c = attrLists.get(h);
  if (c === undefined) attrLists.set(h, e);
  else if (Array.isArray(c)) c.push(e);
  else attrLists.set(h, [c, e]);
  attrListCount++;
}

function decodeUpdate(b: Uint8Array, off: number, end: number, o: BgpCodecOptions): BgpUpdate {
  const p = off + BGP_HEADER_LEN;
  const wlen = u16(b, p);
  if (p + 2 + wlen + 2 > end) throw new BgpError(3, 1, `withdrawn routes length ${wlen} overruns the message`);
  const withdrawn = decodePrefixes(b, p + 2, p + 2 + wlen, o.addPath, 1, 'withdrawn routes');
  const ap = p + 2 + wlen;
  const alen = u16(b, ap);
  if (ap + 2 + alen > end) throw new BgpError(3, 1, `total path attribute length ${alen} overruns the message`);
  const aend = ap + 2 + alen;
  const h = attrHash(b, ap + 2, aend, o.as4);
  const hit = cachedAttrList(h, b, ap + 2, aend, o.as4);
  let attrs: BgpAttr[];
  let wellKnown: number;
  if (hit !== undefined) { attrs = hit.attrs; wellKnown = hit.wellKnown; }
  else { ({ attrs, wellKnown } = decodeAttrList(b, ap + 2, aend, o.as4)); keepAttrList(h, { bytes: b.slice(ap + 2, aend), as4: o.as4, attrs, wellKnown }); }
  const nlri = decodePrefixes(b, aend, end, o.addPath, 10, 'NLRI');
  if (nlri.length > 0) {
    for (const need of [ATTR_ORIGIN, ATTR_AS_PATH, ATTR_NEXT_HOP]) {
      if (!(wellKnown & (1 << need))) throw new BgpError(3, 3, `missing well-known attribute ${need}`, new Uint8Array([need]));
    }
  }
  return { type: 'update', withdrawn, attrs, nlri };
}

/** The path attributes in b[from, aend), and which of ORIGIN, AS_PATH, NEXT_HOP were there (bit 1 << code). */
function decodeAttrList(b: Uint8Array, from: number, aend: number, as4: boolean): { attrs: BgpAttr[]; wellKnown: number } {
  const attrs: BgpAttr[] = [];
  const seen = new Set<number>();
  for (let a = from; a < aend;) {
    if (a + 3 > aend) throw new BgpError(3, 1, 'truncated path attribute header');
    const flags = b[a], code = b[a + 1];
    const ext = (flags & ATTR_F_EXT_LEN) !== 0;
    if (ext && a + 4 > aend) throw new BgpError(3, 1, 'truncated path attribute header');
    const len = ext ? u16(b, a + 2) : b[a + 2];
    const v = a + (ext ? 4 : 3);
    const start = a;
    if (v + len > aend) throw new BgpError(3, 5, `attribute ${code} overruns the attribute list`, b.slice(start, aend));
    if (seen.has(code)) throw new BgpError(3, 1, `attribute ${code} appears twice`);
    seen.add(code);
    attrs.push(decodeAttr(b, flags, code, v, len, as4, () => b.slice(start, v + len)));
    a = v + len;
  }
  let wellKnown = 0;
  for (const need of [ATTR_ORIGIN, ATTR_AS_PATH, ATTR_NEXT_HOP]) if (seen.has(need)) wellKnown |= 1 << need;
  return { attrs, wellKnown };
}

/**
 * Decodes the message at `off` in `b` (the header says how long it is; it
 * must fit in `b`). Throws only {@link BgpError}.
 */
export function decodeBgp(b: Uint8Array, off = 0, o: BgpCodecOptions = CLASSIC): BgpMessage {
  if (b.length - off < BGP_HEADER_LEN) throw new BgpError(1, 2, 'truncated header');
  const herr = checkBgpHeader(b, off);
  if (herr) throw herr;
  const len = bgpLength(b, off);
  if (off + len > b.length) throw new BgpError(1, 2, `message of ${len} bytes truncated to ${b.length - off}`, b.slice(off + 16, off + 18));
  const end = off + len;
  switch (bgpType(b, off)) {
    case BGP_OPEN: return decodeOpen(b, off, end);
    case BGP_UPDATE: return decodeUpdate(b, off, end, o);
    case BGP_NOTIFICATION: return { type: 'notification', code: b[off + 19], subcode: b[off + 20], data: b.slice(off + 21, end) };
    case BGP_KEEPALIVE: return { type: 'keepalive' };
    default: {
      const p = off + BGP_HEADER_LEN;
      return { type: 'route-refresh', afi: u16(b, p), subtype: b[p + 2], safi: b[p + 3] };
    }
  }
}

// ─── Encoding ────────────────────────────────────────────────────────────────

function range(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new WireError('bgp', `${what} ${v} out of range 0..${max}`);
}

function capLen(c: BgpCapability): number {
  if ('raw' in c) return c.data.length;
  switch (c.code) {
    case 1: return 4;
    case 2: case 70: return 0;
    case 64: return 2 + 4 * (c as { families: GrFamily[] }).families.length;
    case 65: return 4;
    case 69: return 4 * (c as { families: AddPathFamily[] }).families.length;
    case 71: return 7 * (c as { families: LlgrFamily[] }).families.length;
    default: return 0;
  }
}

function emitCap(c: BgpCapability, b: Uint8Array, o: number): number {
  const len = capLen(c);
  range('capability length', len, 255);
  b[o] = c.code; b[o + 1] = len;
  const v = o + 2;
  if ('raw' in c) { b.set(c.data, v); return v + len; }
  switch (c.code) {
    case 1: {
      const m = c as { afi: number; safi: number };
      setU16(b, v, m.afi); b[v + 2] = 0; b[v + 3] = m.safi;
      break;
    }
    case 64: {
      const g = c as { restartFlags: number; restartTime: number; families: GrFamily[] };
      range('restart flags', g.restartFlags, 15); range('restart time', g.restartTime, 0xfff);
      setU16(b, v, (g.restartFlags << 12) | g.restartTime);
      let p = v + 2;
      for (const f of g.families) { setU16(b, p, f.afi); b[p + 2] = f.safi; b[p + 3] = f.flags; p += 4; }
      break;
    }
    case 65: setU32(b, v, (c as { asn: number }).asn); break;
    case 69: {
      let p = v;
      for (const f of (c as { families: AddPathFamily[] }).families) { setU16(b, p, f.afi); b[p + 2] = f.safi; b[p + 3] = f.sendReceive; p += 4; }
      break;
    }
    case 71: {
      let p = v;
      for (const f of (c as { families: LlgrFamily[] }).families) {
        setU16(b, p, f.afi); b[p + 2] = f.safi; b[p + 3] = f.flags;
        b[p + 4] = (f.staleTime >>> 16) & 0xff; b[p + 5] = (f.staleTime >>> 8) & 0xff; b[p + 6] = f.staleTime & 0xff;
        p += 7;
      }
      break;
    }
    default: break;
  }
  return v + len;
}

function prefixesLen(ps: readonly BgpPrefix[], addPath: boolean): number {
  let n = 0;
  for (const p of ps) n += (addPath ? 4 : 0) + 1 + ((p.len + 7) >> 3);
  return n;
}

function emitPrefixes(ps: readonly BgpPrefix[], addPath: boolean, b: Uint8Array, o: number): number {
  for (const p of ps) {
    range('prefix length', p.len, 32);
    if (addPath) { setU32(b, o, p.pathId ?? 0); o += 4; }
    b[o++] = p.len;
    const n = (p.len + 7) >> 3;
    for (let i = 0; i < n; i++) b[o + i] = (p.addr >>> (24 - 8 * i)) & 0xff;
    o += n;
  }
  return o;
}

function attrValueLen(a: BgpAttr, as4: boolean): number {
  if ('raw' in a) return a.data.length;
  switch (a.code) {
    case 1: return 1;
    case 2: {
      let n = 0;
      for (const s of (a as { segments: AsPathSegment[] }).segments) n += 2 + s.asns.length * (as4 ? 4 : 2);
      return n;
    }
    case 3: case 4: case 5: case 9: return 4;
    case 6: return 0;
    case 7: return as4 ? 8 : 6;
    case 10: return 4 * (a as { clusterList: number[] }).clusterList.length;
    default: return 0;
  }
}

function attrLen(a: BgpAttr, as4: boolean): number {
  const v = attrValueLen(a, as4);
  return v + (v > 255 || a.flags & ATTR_F_EXT_LEN ? 4 : 3);
}

function emitAttr(a: BgpAttr, as4: boolean, b: Uint8Array, o: number): number {
  const len = attrValueLen(a, as4);
  range('attribute length', len, 0xffff);
  const ext = len > 255 || (a.flags & ATTR_F_EXT_LEN) !== 0;
  b[o] = (a.flags & 0xff) | (ext ? ATTR_F_EXT_LEN : 0);
  b[o + 1] = a.code;
  if (ext) setU16(b, o + 2, len); else b[o + 2] = len;
  const v = o + (ext ? 4 : 3);
  if ('raw' in a) { b.set(a.data, v); return v + len; }
  switch (a.code) {
    case 1: b[v] = (a as { origin: number }).origin; break;
    case 2: {
      let p = v;
      for (const s of (a as { segments: AsPathSegment[] }).segments) {
        range('AS_PATH segment length', s.asns.length, 255);
        b[p] = s.type; b[p + 1] = s.asns.length; p += 2;
        for (const asn of s.asns) {
          if (as4) { setU32(b, p, asn); p += 4; } else { setU16(b, p, asn > 0xffff ? AS_TRANS : asn); p += 2; }
        }
      }
      break;
    }
    case 3: setU32(b, v, (a as { nextHop: number }).nextHop); break;
    case 4: setU32(b, v, (a as { med: number }).med); break;
    case 5: setU32(b, v, (a as { localPref: number }).localPref); break;
    case 7: {
      const g = a as { asn: number; address: number };
      if (as4) { setU32(b, v, g.asn); setU32(b, v + 4, g.address); } else { setU16(b, v, g.asn > 0xffff ? AS_TRANS : g.asn); setU32(b, v + 2, g.address); }
      break;
    }
    case 9: setU32(b, v, (a as { originatorId: number }).originatorId); break;
    case 10: {
      let p = v;
      for (const id of (a as { clusterList: number[] }).clusterList) { setU32(b, p, id); p += 4; }
      break;
    }
    default: break;
  }
  return v + len;
}

/** Bytes {@link emitBgp} writes for `m` (header included). */
export function bgpMessageLen(m: BgpMessage, o: BgpCodecOptions = CLASSIC): number {
  switch (m.type) {
    case 'open': {
      let caps = 0;
      for (const c of m.capabilities) caps += 2 + capLen(c);
      let opt = m.capabilities.length ? 2 + caps : 0;
      for (const p of m.otherParams ?? []) opt += 2 + p.data.length;
      return 29 + opt;
    }
    case 'update': {
      let attrs = 0;
      for (const a of m.attrs) attrs += attrLen(a, o.as4);
      return 23 + prefixesLen(m.withdrawn, o.addPath) + attrs + prefixesLen(m.nlri, o.addPath);
    }
    case 'notification': return 21 + m.data.length;
    case 'keepalive': return 19;
    case 'route-refresh': return 23;
  }
}

/**
 * Writes `m` at `off` (header included) and returns the bytes written. Throws
 * {@link WireError} when a value is out of range or the message would exceed
 * 4096 bytes.
 */
export function emitBgp(m: BgpMessage, b: Uint8Array, off = 0, o: BgpCodecOptions = CLASSIC): number {
  const len = bgpMessageLen(m, o);
  if (len > BGP_MAX_LEN) throw new WireError('bgp', `${m.type} of ${len} bytes exceeds 4096`);
  b.fill(0xff, off, off + 16);
  setU16(b, off + BGP_LENGTH, len);
  const p = off + BGP_HEADER_LEN;
  switch (m.type) {
    case 'open': {
      b[off + BGP_TYPE] = BGP_OPEN;
      range('version', m.version, 255); range('My AS', m.myAs, 0xffff); range('hold time', m.holdTime, 0xffff); range('BGP identifier', m.bgpId, 0xffffffff);
      b[p] = m.version;
      setU16(b, p + 1, m.myAs);
      setU16(b, p + 3, m.holdTime);
      setU32(b, p + 5, m.bgpId);
      range('optional parameters length', len - 29, 255);
      b[p + 9] = len - 29;
      let q = p + 10;
      if (m.capabilities.length) {
        const start = q;
        b[q] = 2; q += 2;
        for (const c of m.capabilities) q = emitCap(c, b, q);
        range('capabilities parameter length', q - start - 2, 255);
        b[start + 1] = q - start - 2;
      }
      for (const op of m.otherParams ?? []) { b[q] = op.type; b[q + 1] = op.data.length; b.set(op.data, q + 2); q += 2 + op.data.length; }
      break;
    }
    case 'update': {
      b[off + BGP_TYPE] = BGP_UPDATE;
      const wlen = prefixesLen(m.withdrawn, o.addPath);
      setU16(b, p, wlen);
      let q = emitPrefixes(m.withdrawn, o.addPath, b, p + 2);
      const alenAt = q;
      q += 2;
      for (const a of m.attrs) q = emitAttr(a, o.as4, b, q);
      setU16(b, alenAt, q - alenAt - 2);
      emitPrefixes(m.nlri, o.addPath, b, q);
      break;
    }
    case 'notification':
      b[off + BGP_TYPE] = BGP_NOTIFICATION;
      range('error code', m.code, 255); range('error subcode', m.subcode, 255);
      b[p] = m.code; b[p + 1] = m.subcode;
      b.set(m.data, p + 2);
      break;
    case 'keepalive':
      b[off + BGP_TYPE] = BGP_KEEPALIVE;
      break;
    case 'route-refresh':
      b[off + BGP_TYPE] = BGP_ROUTE_REFRESH;
      setU16(b, p, m.afi); b[p + 2] = m.subtype; b[p + 3] = m.safi;
      break;
  }
  return len;
}

/** `m` as a fresh byte array. */
export function encodeBgp(m: BgpMessage, o: BgpCodecOptions = CLASSIC): Uint8Array {
  const b = new Uint8Array(bgpMessageLen(m, o));
  emitBgp(m, b, 0, o);
  return b;
}

// ─── Stream reassembly ───────────────────────────────────────────────────────

/** What {@link BgpReassembler.next} yields: a whole message, or the header error that ends the stream. */
export type BgpChunk = { kind: 'message'; bytes: Uint8Array } | { kind: 'error'; error: BgpError };

/**
 * Cuts a TCP byte stream into BGP messages: several may arrive in one
 * segment, one may be split over several. The header is checked as soon as
 * its 19 bytes are in (RFC 4271 §6.1: marker, length, type); after an error
 * nothing more is yielded (the session sends the NOTIFICATION and closes).
 */
export class BgpReassembler {
  private static readonly EMPTY: Uint8Array = new Uint8Array(0);
  /**
   * Held bytes live in buf[start, end); the buffer is dropped once everything is consumed (no
   * memory per idle session). When nothing is held, pushed bytes are read in place (`borrowed`:
   * the caller's array) and copied only if a partial message is left when `next` runs out or
   * before more bytes are pushed.
   */
  private buf: Uint8Array = BgpReassembler.EMPTY;
  private start = 0;
  private end = 0;
  private borrowed = false;
  private failed: BgpError | null = null;

  /** Bytes held that do not make a whole message yet. */
  get pending(): number { return this.end - this.start; }

  /** Appends bytes received from the stream. */
  push(data: Uint8Array): void {
    if (this.failed || data.length === 0) return;
    if (this.start === this.end) {
      this.buf = data;
      this.start = 0;
      this.end = data.length;
      this.borrowed = true;
      return;
    }
    if (this.borrowed) this.own(data.length);
    if (this.end + data.length > this.buf.length) {
      // Move what is held to the front, growing the buffer when it still does not fit.
      const held = this.end - this.start;
      if (held + data.length > this.buf.length) {
        const nb = slabBytes(Math.max(held + data.length, this.buf.length * 2, 256));
        nb.set(this.buf.subarray(this.start, this.end), 0);
        this.buf = nb;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = held;
    }
    this.buf.set(data, this.end);
    this.end += data.length;
  }

  /** The held bytes into a buffer of our own (room for `more`), when they are the caller's. */
  private own(more: number): void {
    const held = this.end - this.start;
    // On a shared slab: a backing store per partial message (nearly every segment ends in one) cost a
    // quarter of a 5,000-node Calico run's BGP phase (issue 9).
    const nb = slabBytes(Math.max(held + more, 256));
    nb.set(this.buf.subarray(this.start, this.end), 0);
    this.buf = nb;
    this.start = 0;
    this.end = held;
    this.borrowed = false;
  }

  /**
   * The next whole message, the header error, or null when more bytes are needed. The
   * message's bytes are a view, valid until the next `push` (decode them before pushing more).
   */
  next(): BgpChunk | null {
    if (this.failed) return null;
    if (this.end - this.start < BGP_HEADER_LEN) { this.waitMore(); return null; }
    const err = checkBgpHeader(this.buf, this.start);
    if (err) { this.failed = err; this.reset(); return { kind: 'error', error: err }; }
    const len = bgpLength(this.buf, this.start);
    if (this.end - this.start < len) { this.waitMore(); return null; }
    const bytes = this.buf.subarray(this.start, this.start + len);
    this.start += len;
    if (this.start === this.end) this.reset();
    return { kind: 'message', bytes };
  }

  /** Out of whole messages: forget an empty buffer, keep a partial message in our own. */
  private waitMore(): void {
    if (this.start === this.end) this.reset();
    else if (this.borrowed) this.own(0);
  }

  private reset(): void {
    this.buf = BgpReassembler.EMPTY;
    this.start = 0;
    this.end = 0;
    this.borrowed = false;
  }
}

// ─── Text ────────────────────────────────────────────────────────────────────

/** `10.48.1.0/26` (with `#id` for an ADD-PATH path identifier). */
export function prefixString(p: BgpPrefix): string {
  return `${ipToString(p.addr)}/${p.len}${p.pathId !== undefined ? ` #${p.pathId}` : ''}`;
}

/** One line describing `m`, for traces. */
export function bgpSummary(m: BgpMessage): string {
  switch (m.type) {
    case 'open': {
      const caps = m.capabilities.map((c) => c.code).join(',');
      return `OPEN as ${openAsn(m)} hold ${m.holdTime} id ${ipToString(m.bgpId)} caps ${caps}`;
    }
    case 'update': {
      if (isEndOfRib(m)) return 'UPDATE End-of-RIB';
      const parts: string[] = [];
      if (m.withdrawn.length) parts.push(`withdraw ${m.withdrawn.map(prefixString).join(' ')}`);
      if (m.nlri.length) {
        const nh = updateAttr(m, ATTR_NEXT_HOP);
        const path = updateAttr(m, ATTR_AS_PATH);
        let s = `announce ${m.nlri.map(prefixString).join(' ')}`;
        if (nh) s += ` via ${ipToString(nh.nextHop)}`;
        if (path) s += ` as-path [${path.segments.map((g) => g.asns.join(' ')).join(' ')}]`;
        const lp = updateAttr(m, ATTR_LOCAL_PREF);
        if (lp) s += ` local-pref ${lp.localPref}`;
        const oid = updateAttr(m, ATTR_ORIGINATOR_ID);
        if (oid) s += ` originator ${ipToString(oid.originatorId)}`;
        const cl = updateAttr(m, ATTR_CLUSTER_LIST);
        if (cl) s += ` cluster-list ${cl.clusterList.map(ipToString).join(',')}`;
        parts.push(s);
      }
      return `UPDATE ${parts.join('; ')}`;
    }
    case 'notification': return `NOTIFICATION ${m.code}/${m.subcode} ${notifyName(m.code, m.subcode)}`;
    case 'keepalive': return 'KEEPALIVE';
    case 'route-refresh': return `ROUTE-REFRESH afi ${m.afi} safi ${m.safi} subtype ${m.subtype}`;
  }
}
