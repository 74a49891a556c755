/**
 * pcapng writer (draft-ietf-opsawg-pcapng), little-endian, one section.
 *
 * ```
 * Every block:                          Every option:
 *   0 u32 block type                      0 u16 code
 *   4 u32 block total length              2 u16 value length (unpadded)
 *   8 ... body, padded to 32 bits         4 value, zero-padded to 32 bits
 *  -4 u32 block total length (again)    a list ends with opt_endofopt (code 0, length 0)
 *
 * Section Header Block (type 0x0A0D0D0A)
 *   8 u32 byte-order magic 0x1A2B3C4D   12 u16 major 1   14 u16 minor 0
 *  16 i64 section length -1 (unknown)   24 options: shb_userappl(4) "podwire"
 *
 * Interface Description Block (type 1)
 *   8 u16 linktype (per interface: 1 Ethernet, 101 RAW for a tun)  10 u16 reserved 0  12 u32 snaplen
 *  16 options: if_name(2) "node/netns/dev", if_tsresol(9) = 9 (10^-9 s)
 *
 * Enhanced Packet Block (type 6)
 *   8 u32 interface id  12 u32 timestamp high  16 u32 timestamp low
 *  20 u32 captured length  24 u32 original length  28 packet data (padded)
 *   options: opt_comment(1) UTF-8 text, epb_flags(2) u32 (bits 0-1: 1 inbound, 2 outbound)
 * ```
 * Timestamps are in units of if_tsresol (ns): a safe-integer virtual time is split
 * into high/low 32-bit words exactly (division by 2^32 is exact for doubles).
 */
import { MemorySink, type ByteSink } from './atomic-file.js';
import { LINKTYPE_ETHERNET, PCAP_SNAPLEN } from './pcap.js';

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_SPB = 0x00000003;
export const BT_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const SHB_USERAPPL = 4;
export const IF_NAME = 2;
export const IF_TSRESOL = 9;
export const EPB_FLAGS = 2;

/** epb_flags direction values (bits 0-1). */
export const EPB_DIR_INBOUND = 1;
export const EPB_DIR_OUTBOUND = 2;

/** Largest option value length (u16). Longer comments/names are cut at a UTF-8 boundary. */
export const MAX_OPTION_LEN = 0xffff;

const TWO32 = 0x1_0000_0000;

/** Rounds up to a multiple of 4. */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Cuts `s` so its UTF-8 encoding fits `max` bytes, never splitting a character. */
function fitUtf8(s: string, byteLen: number, max: number): { s: string; len: number } {
  if (byteLen <= max) return { s, len: byteLen };
  const b = Buffer.from(s, 'utf8');
  let end = max;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  const cut = b.subarray(0, end).toString('utf8');
  return { s: cut, len: end };
}

/** Buffer.byteLength(s, 'utf8'), counted in JS for a short ASCII string (a packet comment) instead of a call into C++. */
export function utf8Length(s: string): number {
  const n = s.length;
  if (n > SHORT_STRING) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return n;
}

/** Strings up to this many characters are measured and written in JS (utf8Length, AtomicFile.writeUtf8). */
export const SHORT_STRING = 256;

function checkTime(timeNs: number): void {
  if (!Number.isSafeInteger(timeNs) || timeNs < 0) {
    throw new RangeError(`pcapng: time must be a non-negative safe integer of ns, got ${timeNs}`);
  }
}

/** Writes an option header + UTF-8 value + padding. `len` is the (fitted) byte length. */
function writeStringOption(sink: ByteSink, code: number, s: string, len: number): void {
  let at = sink.reserve(4);
  sink.view.setUint16(at, code, true);
  sink.view.setUint16(at + 2, len, true);
  sink.advance(4);
  sink.writeUtf8(s, len);
  const pad = pad4(len) - len;
  if (pad) sink.zeros(pad);
}

/** Section Header Block with shb_userappl. */
export function writeShb(sink: ByteSink, userAppl = 'podwire'): void {
  const u = fitUtf8(userAppl, Buffer.byteLength(userAppl, 'utf8'), MAX_OPTION_LEN);
  const total = 24 + 4 + pad4(u.len) + 4 + 4;
  const at = sink.reserve(24);
  const v = sink.view;
  v.setUint32(at, BT_SHB, true);
  v.setUint32(at + 4, total, true);
  v.setUint32(at + 8, BYTE_ORDER_MAGIC, true);
  v.setUint16(at + 12, 1, true);
  v.setUint16(at + 14, 0, true);
  v.setUint32(at + 16, 0xffffffff, true);
  v.setUint32(at + 20, 0xffffffff, true);
  sink.advance(24);
  writeStringOption(sink, SHB_USERAPPL, u.s, u.len);
  const end = sink.reserve(8);
  sink.view.setUint32(end, 0, true); // opt_endofopt
  sink.view.setUint32(end + 4, total, true);
  sink.advance(8);
}

/** Interface Description Block with if_name and if_tsresol = 9 (ns). */
export function writeIdb(
  sink: ByteSink,
  name: string,
  linktype: number = LINKTYPE_ETHERNET,
  snaplen: number = PCAP_SNAPLEN,
): void {
  const n = fitUtf8(name, Buffer.byteLength(name, 'utf8'), MAX_OPTION_LEN);
  const total = 16 + 4 + pad4(n.len) + 8 + 4 + 4;
  const at = sink.reserve(16);
  const v = sink.view;
  v.setUint32(at, BT_IDB, true);
  v.setUint32(at + 4, total, true);
  v.setUint16(at + 8, linktype, true);
  v.setUint16(at + 10, 0, true);
  v.setUint32(at + 12, snaplen, true);
  sink.advance(16);
  writeStringOption(sink, IF_NAME, n.s, n.len);
  const t = sink.reserve(16);
  const w = sink.view;
  w.setUint16(t, IF_TSRESOL, true);
  w.setUint16(t + 2, 1, true);
  w.setUint32(t + 4, 9, true); // value 9, then 3 bytes of padding (little-endian u32 9 = 09 00 00 00)
  w.setUint32(t + 8, 0, true); // opt_endofopt
  w.setUint32(t + 12, total, true);
  sink.advance(16);
}

/**
 * Enhanced Packet Block. Writes `capLen = min(len, snaplen)` bytes of `frame[off..off+len)`
 * straight into the sink, records `len` as the original length. `flags` (epb_flags) is
 * omitted when undefined; `comment` is omitted when undefined or empty.
 */
/** An EPB's 28 fixed bytes at `at`: type, total length, interface, time (high, low), captured and original lengths. */
function setEpbHeader(v: DataView, at: number, ifIndex: number, timeNs: number, len: number, capLen: number, total: number): void {
  const low = timeNs % TWO32;
  const high = (timeNs - low) / TWO32;
  v.setUint32(at, BT_EPB, true);
  v.setUint32(at + 4, total, true);
  v.setUint32(at + 8, ifIndex, true);
  v.setUint32(at + 12, high, true);
  v.setUint32(at + 16, low, true);
  v.setUint32(at + 20, capLen, true);
  v.setUint32(at + 24, len, true);
}

/** An EPB's fixed part and its padded frame bytes. */
function writeEpbHead(sink: ByteSink, ifIndex: number, timeNs: number, frame: Uint8Array, off: number, len: number, capLen: number, total: number): void {
  const at = sink.reserve(28);
  setEpbHeader(sink.view, at, ifIndex, timeNs, len, capLen, total);
  sink.advance(28);
  sink.write(frame, off, capLen);
  const pad = pad4(capLen) - capLen;
  if (pad) sink.zeros(pad);
}

export function writeEpb(
  sink: ByteSink,
  ifIndex: number,
  timeNs: number,
  frame: Uint8Array,
  off: number,
  len: number,
  flags?: number,
  comment?: string,
  snaplen: number = PCAP_SNAPLEN,
): void {
  checkTime(timeNs);
  if (!(off >= 0 && len >= 0 && off + len <= frame.length)) {
    throw new RangeError(`pcapng: frame slice [${off}, ${off + len}) outside buffer of ${frame.length}`);
  }
  const capLen = len < snaplen ? len : snaplen;
  // No allocation on the common path: only over-long comments are re-encoded.
  let cs = comment;
  let clen = comment ? utf8Length(comment) : 0;
  if (clen > MAX_OPTION_LEN) {
    const fit = fitUtf8(comment!, clen, MAX_OPTION_LEN);
    cs = fit.s;
    clen = fit.len;
  }
  const hasComment = clen > 0;
  const hasOpts = hasComment || flags !== undefined;
  const optLen = (hasComment ? 4 + pad4(clen) : 0) + (flags !== undefined ? 8 : 0) + (hasOpts ? 4 : 0);
  const total = 28 + pad4(capLen) + optLen + 4;
  writeEpbHead(sink, ifIndex, timeNs, frame, off, len, capLen, total);
  if (hasComment) writeStringOption(sink, OPT_COMMENT, cs!, clen);
  if (flags !== undefined) {
    const f = sink.reserve(8);
    sink.view.setUint16(f, EPB_FLAGS, true);
    sink.view.setUint16(f + 2, 4, true);
    sink.view.setUint32(f + 4, flags >>> 0, true);
    sink.advance(8);
  }
  const e = sink.reserve(hasOpts ? 8 : 4);
  let p = e;
  if (hasOpts) {
    sink.view.setUint32(p, 0, true);
    p += 4;
  }
  sink.view.setUint32(p, total, true);
  sink.advance(hasOpts ? 8 : 4);
}

/**
 * {@link writeEpb} with the comment given as UTF-8 bytes (`comment[0..commentLen)`; an
 * over-long one is cut at a UTF-8 boundary as writeEpb cuts a string) and the whole block
 * reserved and filled in one go: the bytes are those writeEpb writes for the comment
 * these bytes encode. Blocks larger than the sink can reserve at once go piecewise.
 */
export function writeEpbBytes(
  sink: ByteSink,
  ifIndex: number,
  timeNs: number,
  frame: Uint8Array,
  off: number,
  len: number,
  flags: number | undefined,
  comment: Uint8Array | null,
  commentLen: number,
  snaplen: number = PCAP_SNAPLEN,
): void {
  checkTime(timeNs);
  if (!(off >= 0 && len >= 0 && off + len <= frame.length)) {
    throw new RangeError(`pcapng: frame slice [${off}, ${off + len}) outside buffer of ${frame.length}`);
  }
  const capLen = len < snaplen ? len : snaplen;
  writeEpbCaptured(sink, ifIndex, timeNs, off === 0 && capLen === frame.length ? frame : frame.subarray(off, off + capLen), len, flags, comment, commentLen);
}

/**
 * writeEpbBytes of a frame whose captured bytes are `captured` (all of it: `min(origLen,
 * snaplen)` bytes) and whose length on the wire is `origLen`; no checks (the caller's).
 */
export function writeEpbCaptured(
  sink: ByteSink,
  ifIndex: number,
  timeNs: number,
  captured: Uint8Array,
  origLen: number,
  flags: number | undefined,
  comment: Uint8Array | null,
  commentLen: number,
): void {
  const capLen = captured.length;
  const len = origLen;
  let clen = comment === null ? 0 : commentLen;
  if (clen > MAX_OPTION_LEN) {
    let end = MAX_OPTION_LEN;
    while (end > 0 && (comment![end] & 0xc0) === 0x80) end--;
    clen = end;
  }
  const hasComment = clen > 0;
  const hasFlags = flags !== undefined;
  const hasOpts = hasComment || hasFlags;
  const capPad = pad4(capLen);
  const cPad = pad4(clen);
  const total = 28 + capPad + (hasComment ? 4 + cPad : 0) + (hasFlags ? 8 : 0) + (hasOpts ? 4 : 0) + 4;
  if (total > sink.maxReserve) {
    writeEpbPieces(sink, ifIndex, timeNs, captured, 0, len, capLen, flags, comment, clen, total);
    return;
  }
  const at = sink.reserve(total);
  const b = sink.buf;
  const v = sink.view;
  setEpbHeader(v, at, ifIndex, timeNs, len, capLen, total);
  let p = at + 28;
  b.set(captured, p);
  p += capLen;
  for (const e = at + 28 + capPad; p < e; p++) b[p] = 0;
  if (hasComment) {
    v.setUint16(p, OPT_COMMENT, true);
    v.setUint16(p + 2, clen, true);
    p += 4;
    // A short comment (a packet's) byte by byte: no view object per frame.
    if (clen <= 64) for (let i = 0; i < clen; i++) b[p + i] = comment![i];
    else b.set(clen === comment!.length ? comment! : comment!.subarray(0, clen), p);
    const e = p + cPad;
    p += clen;
    for (; p < e; p++) b[p] = 0;
  }
  if (hasFlags) {
    v.setUint16(p, EPB_FLAGS, true);
    v.setUint16(p + 2, 4, true);
    v.setUint32(p + 4, flags >>> 0, true);
    p += 8;
  }
  if (hasOpts) {
    v.setUint32(p, 0, true);
    p += 4;
  }
  v.setUint32(p, total, true);
  sink.advance(total);
}

/** writeEpbBytes for a block larger than one reservation: header, frame, options, trailer in turn. */
function writeEpbPieces(
  sink: ByteSink, ifIndex: number, timeNs: number, frame: Uint8Array, off: number, len: number, capLen: number,
  flags: number | undefined, comment: Uint8Array | null, clen: number, total: number,
): void {
  writeEpbHead(sink, ifIndex, timeNs, frame, off, len, capLen, total);
  if (clen > 0) {
    const h = sink.reserve(4);
    sink.view.setUint16(h, OPT_COMMENT, true);
    sink.view.setUint16(h + 2, clen, true);
    sink.advance(4);
    sink.write(comment!, 0, clen);
    const cp = pad4(clen) - clen;
    if (cp) sink.zeros(cp);
  }
  if (flags !== undefined) {
    const f = sink.reserve(8);
    sink.view.setUint16(f, EPB_FLAGS, true);
    sink.view.setUint16(f + 2, 4, true);
    sink.view.setUint32(f + 4, flags >>> 0, true);
    sink.advance(8);
  }
  const hasOpts = clen > 0 || flags !== undefined;
  const e = sink.reserve(hasOpts ? 8 : 4);
  let p = e;
  if (hasOpts) {
    sink.view.setUint32(p, 0, true);
    p += 4;
  }
  sink.view.setUint32(p, total, true);
  sink.advance(hasOpts ? 8 : 4);
}

/** Allocating form of {@link writeShb}. */
export function shbBlock(userAppl = 'podwire'): Uint8Array {
  const s = new MemorySink();
  writeShb(s, userAppl);
  return s.bytes();
}

/** Allocating form of {@link writeIdb}. */
export function idbBlock(name: string, linktype: number = LINKTYPE_ETHERNET, snaplen: number = PCAP_SNAPLEN): Uint8Array {
  const s = new MemorySink();
  writeIdb(s, name, linktype, snaplen);
  return s.bytes();
}

/** Allocating form of {@link writeEpb} for a whole frame. */
export function epbBlock(
  ifIndex: number,
  timeNs: number,
  frame: Uint8Array,
  flags?: number,
  comment?: string,
  snaplen: number = PCAP_SNAPLEN,
): Uint8Array {
  const s = new MemorySink();
  writeEpb(s, ifIndex, timeNs, frame, 0, frame.length, flags, comment, snaplen);
  return s.bytes();
}
