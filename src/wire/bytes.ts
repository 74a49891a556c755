/**
 * Byte-level helpers shared by every wire format: big-endian loads/stores,
 * IPv4 addresses as unsigned 32-bit numbers, MAC addresses as 6 bytes, CIDR.
 *
 * Conventions for the whole `wire` module:
 * - Every accessor takes `(buf: Uint8Array, off: number)`, where `off` is the
 *   start of the header it reads, and never allocates.
 * - IPv4 addresses are unsigned 32-bit numbers in host order
 *   (`10.244.0.2` is `0x0af40002`).
 * - MAC addresses are 6 bytes in a `Uint8Array`, at an offset.
 * - Accessors do not bounds-check; call the format's `check*` first on
 *   untrusted bytes. `parse*` functions check and throw {@link WireError}.
 *
 * @module
 */

/** Thrown by `parse*` functions on truncated or inconsistent bytes. `reason` is a short, stable text. */
export class WireError extends Error {
  /** Short reason, e.g. `"truncated"`, `"version != 4"`. */
  readonly reason: string;
  /** @param layer protocol name used as message prefix, e.g. `"ipv4"`. @param reason short reason. */
  constructor(layer: string, reason: string) {
    super(`${layer}: ${reason}`);
    this.name = 'WireError';
    this.reason = reason;
  }
}

/** Read an unsigned big-endian 16-bit value at `off`. */
export function u16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Write `v` (low 16 bits) big-endian at `off`. */
export function setU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** Read an unsigned big-endian 32-bit value at `off` (result in [0, 2^32)). */
export function u32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Write `v` (low 32 bits) big-endian at `off`. */
export function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/**
 * A direct-mapped cache of ipToString (traces print the same few addresses on
 * every line of a flow): a slot holds the last address that hashed to it.
 */
const IP_TEXT_SLOTS = 4096;
const ipTextKey = new Uint32Array(IP_TEXT_SLOTS);
const ipTextVal: string[] = new Array<string>(IP_TEXT_SLOTS).fill('');

/** Format an IPv4 address (unsigned 32-bit number) as a dotted quad, e.g. `"10.244.0.2"`. */
export function ipToString(n: number): string {
  // The text depends only on the 32 bits (every operator below converts to them first).
  const u = n >>> 0;
  const slot = (u ^ (u >>> 13) ^ (u >>> 21)) & (IP_TEXT_SLOTS - 1);
  if (ipTextKey[slot] === u && ipTextVal[slot] !== '') return ipTextVal[slot];
  const t = `${(u >>> 24) & 0xff}.${(u >>> 16) & 0xff}.${(u >>> 8) & 0xff}.${u & 0xff}`;
  ipTextKey[slot] = u;
  ipTextVal[slot] = t;
  return t;
}

/**
 * Parse a strict dotted quad: exactly four decimal octets 0..255, no leading
 * zeros (so `"010.0.0.1"` is rejected rather than guessed as octal, like
 * glibc's `inet_pton`), no whitespace, no shorthand. Returns `undefined` when invalid.
 */
export function parseIp(s: string): number | undefined {
  let n = 0;
  let parts = 0;
  let i = 0;
  const len = s.length;
  while (parts < 4) {
    const start = i;
    let v = 0;
    while (i < len) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
      if (i - start > 3) return undefined;
    }
    const digits = i - start;
    if (digits === 0 || v > 255 || (digits > 1 && s.charCodeAt(start) === 48)) return undefined;
    n = n * 256 + v;
    parts++;
    if (parts < 4) {
      if (s.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === len ? n : undefined;
}

/** Read the IPv4 address stored big-endian at `off` (alias of {@link u32} for readability). */
export function readIp(b: Uint8Array, off: number): number {
  return u32(b, off);
}

const HEX = '0123456789abcdef';

/**
 * Texts of recently formatted MACs (traces print the same few over and over), direct-mapped
 * by a hash of the 48 bits; a slot holds the bits as a number (exact below 2^53).
 */
const MAC_TEXT_SLOTS = 256;
const macTextKey = new Float64Array(MAC_TEXT_SLOTS).fill(-1);
const macTextVal: string[] = new Array<string>(MAC_TEXT_SLOTS).fill('');

/** Format the 6-byte MAC at `b[off..off+6)` as lowercase `"aa:bb:cc:dd:ee:ff"`. */
export function macToString(b: Uint8Array, off = 0): string {
  const hi = (b[off] << 8) | b[off + 1];
  const lo = ((b[off + 2] << 24) | (b[off + 3] << 16) | (b[off + 4] << 8) | b[off + 5]) >>> 0;
  const key = hi * 0x1_0000_0000 + lo;
  // (Bytes past the end read as undefined: 0 in the key, "00" in the text, as for zero bytes.)
  const slot = (lo ^ (lo >>> 11) ^ (lo >>> 22) ^ hi) & (MAC_TEXT_SLOTS - 1);
  if (macTextKey[slot] === key) return macTextVal[slot];
  const s = macText(b, off);
  macTextKey[slot] = key;
  macTextVal[slot] = s;
  return s;
}

function macText(b: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const x = b[off + i];
    if (i) s += ':';
    s += HEX[x >>> 4] + HEX[x & 15];
  }
  return s;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parse `"aa:bb:cc:dd:ee:ff"` (exactly two hex digits per octet, `:` separators, any case). Returns a new 6-byte array, or `undefined`. */
export function parseMac(s: string): Uint8Array | undefined {
  if (s.length !== 17) return undefined;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const p = i * 3;
    const h = hexVal(s.charCodeAt(p));
    const l = hexVal(s.charCodeAt(p + 1));
    if (h < 0 || l < 0) return undefined;
    if (i < 5 && s.charCodeAt(p + 2) !== 58) return undefined;
    out[i] = (h << 4) | l;
  }
  return out;
}

/** True when the 6 bytes at `a[aoff]` equal the 6 bytes at `b[boff]`. */
export function macEquals(a: Uint8Array, aoff: number, b: Uint8Array, boff: number): boolean {
  return (
    a[aoff] === b[boff] &&
    a[aoff + 1] === b[boff + 1] &&
    a[aoff + 2] === b[boff + 2] &&
    a[aoff + 3] === b[boff + 3] &&
    a[aoff + 4] === b[boff + 4] &&
    a[aoff + 5] === b[boff + 5]
  );
}

/** Copy the 6-byte MAC at `src[soff]` to `dst[doff]`. */
export function copyMac(dst: Uint8Array, doff: number, src: Uint8Array, soff = 0): void {
  dst[doff] = src[soff];
  dst[doff + 1] = src[soff + 1];
  dst[doff + 2] = src[soff + 2];
  dst[doff + 3] = src[soff + 3];
  dst[doff + 4] = src[soff + 4];
  dst[doff + 5] = src[soff + 5];
}

/** True for ff:ff:ff:ff:ff:ff (Linux `is_broadcast_ether_addr`). */
export function isBroadcastMac(b: Uint8Array, off = 0): boolean {
  return (b[off] & b[off + 1] & b[off + 2] & b[off + 3] & b[off + 4] & b[off + 5]) === 0xff;
}

/** True when the group bit (LSB of the first octet) is set. Like Linux `is_multicast_ether_addr`, broadcast counts as multicast. */
export function isMulticastMac(b: Uint8Array, off = 0): boolean {
  return (b[off] & 1) === 1;
}

/** True for 00:00:00:00:00:00 (Linux `is_zero_ether_addr`). */
export function isZeroMac(b: Uint8Array, off = 0): boolean {
  return (b[off] | b[off + 1] | b[off + 2] | b[off + 3] | b[off + 4] | b[off + 5]) === 0;
}

/** Netmask for a prefix length 0..32 as an unsigned 32-bit number (`prefixMask(24) === 0xffffff00`). */
export function prefixMask(len: number): number {
  return len <= 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
}

/** An IPv4 prefix: network address (unsigned 32-bit) and prefix length. */
export interface Cidr {
  /** Address as written (host bits kept unless `strict`). */
  addr: number;
  /** Prefix length 0..32. */
  prefix: number;
}

/**
 * Parse `"a.b.c.d/len"` (len 0..32 in decimal, no leading zeros).
 * With `strict` true, reject host bits set (like `ip route add 10.0.0.1/24`
 * failing with "Invalid prefix for given prefix length"); otherwise keep the
 * address as written (like `ip addr add 10.0.0.1/24`). Returns `undefined` when invalid.
 */
export function parseCidr(s: string, strict = false): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (addr === undefined || !/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(p)) return undefined;
  const prefix = Number(p);
  if (strict && (addr & ~prefixMask(prefix)) !== 0) return undefined;
  return { addr, prefix };
}

/** True when `ip` lies in `addr/prefix` (host bits of `addr` ignored). */
export function cidrContains(addr: number, prefix: number, ip: number): boolean {
  return ((addr ^ ip) & prefixMask(prefix)) === 0;
}

/** Hex string (no separators) of `b[off..off+len)`; for tests and traces, allocates. */
export function toHex(b: Uint8Array, off = 0, len = b.length - off): string {
  let s = '';
  for (let i = off; i < off + len; i++) s += HEX[b[i] >>> 4] + HEX[b[i] & 15];
  return s;
}

/** Bytes from a hex string; whitespace, `:` and `-` are ignored. Throws on odd length or bad digits. */
export function fromHex(s: string): Uint8Array {
  const t = s.replace(/[\s:-]/g, '');
  if (t.length % 2 || /[^0-9a-fA-F]/.test(t)) throw new Error('fromHex: bad hex string');
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.substr(i * 2, 2), 16);
  return out;
}

/**
 * Bytes carved from 256 KiB slabs: a typed array above V8's on-heap limit (64 bytes) costs a
 * separate backing store each time (~0.7-1 µs, more as they pile up), a view on a shared slab
 * about a tenth of that. A slab is freed when the last view on it is. For short-lived buffers
 * made per packet or per message (packet buffers, received TCP data, a BGP stream's partial
 * message); a long-lived small view would keep its whole slab.
 */
const SLAB_SIZE = 256 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

export function slabBytes(n: number): Uint8Array {
  if (n > SLAB_SIZE / 4) return new Uint8Array(n);
  const aligned = (n + 7) & ~7;
  if (slabUsed + aligned > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const view = new Uint8Array(slab, slabUsed, n);
  slabUsed += aligned;
  return view;
}
