/**
 * IPv4 address helpers for the CNI layer: addresses as unsigned 32-bit
 * numbers, parsed strictly the way Go's `net.ParseIP` / `net.ParseCIDR` accept
 * them (dotted quad, no leading zeros, prefix 0–32). IPv6 is not modelled.
 */

/** Parse "a.b.c.d" to an unsigned 32-bit number; null when malformed. */
export function parseIPv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Format an unsigned 32-bit number as "a.b.c.d". */
export function formatIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export interface Cidr4 {
  /** The address as written (host bits kept, as Go's IPNet.IP after ParseIP). */
  ip: number;
  prefix: number;
}

/** Parse "a.b.c.d/n"; null when malformed. */
export function parseCidr4(s: string): Cidr4 | null {
  const m = /^([^/]+)\/(0|[1-9][0-9]?)$/.exec(s);
  if (!m) return null;
  const ip = parseIPv4(m[1]);
  const prefix = Number(m[2]);
  if (ip === null || prefix > 32) return null;
  return { ip, prefix };
}

/** The netmask of a prefix length as an unsigned number. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(ip: number, prefix: number): number {
  return (ip & maskOf(prefix)) >>> 0;
}

export function broadcastOf(ip: number, prefix: number): number {
  return (networkOf(ip, prefix) | ~maskOf(prefix)) >>> 0;
}

export function formatCidr4(ip: number, prefix: number): string {
  return `${formatIPv4(ip)}/${prefix}`;
}

export function inSubnet(ip: number, net: number, prefix: number): boolean {
  return networkOf(ip, prefix) === networkOf(net, prefix);
}

/** Lower-case colon-separated MAC, as Go's net.HardwareAddr.String(). */
export function formatMac(mac: Uint8Array): string {
  if (mac.length === 0) return '';
  let s = HEX2[mac[0]];
  for (let i = 1; i < mac.length; i++) s += ':' + HEX2[mac[i]];
  return s;
}

/** Two lower-case hex digits of each byte value (formatMac and hex text of bytes, per pod: a table, not toString/padStart). */
export const HEX2: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Bytes as lower-case hex text without separators (a container ID). */
export function hexOf(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX2[bytes[i]];
  return s;
}

/** Parse "aa:bb:cc:dd:ee:ff" (or with '-'); null when malformed. */
export function parseMac(s: string): Uint8Array | null {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return null;
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}
