/**
 * Classic libpcap file format, nanosecond variant, little-endian.
 *
 * ```
 * File header (24 bytes)
 *   0  u32 magic          0xa1b23c4d  (nanosecond timestamps; 0xa1b2c3d4 would be µs)
 *   4  u16 version_major  2
 *   6  u16 version_minor  4
 *   8  i32 thiszone       0
 *  12  u32 sigfigs        0
 *  16  u32 snaplen        262144
 *  20  u32 linktype       1 (LINKTYPE_ETHERNET), or 101 (LINKTYPE_RAW) for a tun device
 *
 * Record header (16 bytes), followed by capLen bytes of frame
 *   0  u32 ts_sec
 *   4  u32 ts_nsec        0..999_999_999
 *   8  u32 incl_len       bytes stored (capLen)
 *  12  u32 orig_len       bytes on the wire
 * ```
 * Virtual time is a safe-integer number of ns since the start of the run; it is
 * split into seconds and nanoseconds with exact integer arithmetic.
 */

/** Magic of a nanosecond-resolution classic pcap file (as a little-endian u32). */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Magic of a microsecond-resolution classic pcap file. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** Default snapshot length (the value tcpdump uses). */
export const PCAP_SNAPLEN = 262144;
export const LINKTYPE_ETHERNET = 1;
/** Raw IPv4/IPv6, no link-layer header: what tcpdump reports on a tun device (DLT_RAW). */
export const LINKTYPE_RAW = 101;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

const NS_PER_S = 1_000_000_000;

/**
 * Splits a virtual time (ns) into whole seconds and the nanosecond remainder, exactly.
 * `t % 1e9` is exact for doubles and `t - ns` is an exact multiple of 1e9, so there is
 * no rounding even near 2^53. Throws RangeError for negative, fractional or unsafe times,
 * or times whose seconds do not fit a u32.
 */
export function splitNs(timeNs: number): { sec: number; nsec: number } {
  checkTime(timeNs);
  const nsec = timeNs % NS_PER_S;
  return { sec: (timeNs - nsec) / NS_PER_S, nsec };
}

function checkTime(timeNs: number): void {
  if (!Number.isSafeInteger(timeNs) || timeNs < 0) {
    throw new RangeError(`pcap: time must be a non-negative safe integer of ns, got ${timeNs}`);
  }
}

/** Builds the 24-byte file header. */
export function pcapFileHeader(linktype: number = LINKTYPE_ETHERNET, snaplen: number = PCAP_SNAPLEN): Uint8Array {
  const out = new Uint8Array(PCAP_FILE_HEADER_LEN);
  writePcapFileHeader(new DataView(out.buffer), 0, linktype, snaplen);
  return out;
}

/** Writes the 24-byte file header at `off` of `dst`. */
export function writePcapFileHeader(
  dst: DataView,
  off: number,
  linktype: number = LINKTYPE_ETHERNET,
  snaplen: number = PCAP_SNAPLEN,
): void {
  dst.setUint32(off, PCAP_MAGIC_NS, true);
  dst.setUint16(off + 4, PCAP_VERSION_MAJOR, true);
  dst.setUint16(off + 6, PCAP_VERSION_MINOR, true);
  dst.setInt32(off + 8, 0, true);
  dst.setUint32(off + 12, 0, true);
  dst.setUint32(off + 16, snaplen, true);
  dst.setUint32(off + 20, linktype, true);
}

/** Builds a 16-byte record header. Allocates; the hot path uses {@link writePcapRecordHeader}. */
export function pcapRecordHeader(timeNs: number, capLen: number, origLen: number): Uint8Array {
  const out = new Uint8Array(PCAP_RECORD_HEADER_LEN);
  writePcapRecordHeader(new DataView(out.buffer), 0, timeNs, capLen, origLen);
  return out;
}

/**
 * Writes a 16-byte record header at `off` of `dst` without allocating.
 * Throws RangeError on a bad time, or capLen > origLen, or lengths outside u32.
 */
export function writePcapRecordHeader(
  dst: DataView,
  off: number,
  timeNs: number,
  capLen: number,
  origLen: number,
): void {
  checkTime(timeNs);
  if (!(capLen >= 0 && capLen <= origLen && origLen <= 0xffffffff) || !Number.isInteger(capLen) || !Number.isInteger(origLen)) {
    throw new RangeError(`pcap: bad lengths capLen=${capLen} origLen=${origLen}`);
  }
  const nsec = timeNs % NS_PER_S;
  const sec = (timeNs - nsec) / NS_PER_S;
  if (sec > 0xffffffff) throw new RangeError(`pcap: time ${timeNs} ns overflows u32 seconds`);
  dst.setUint32(off, sec, true);
  dst.setUint32(off + 4, nsec, true);
  dst.setUint32(off + 8, capLen, true);
  dst.setUint32(off + 12, origLen, true);
}
