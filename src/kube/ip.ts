/**
 * IP address checks for API fields, with the apiserver's messages
 * (k8s.io/apimachinery/pkg/util/validation IsValidIP/IsValidCIDR and
 * core validation's ValidateNonSpecialIP). podwire models IPv4 only: a
 * well-formed IPv6 value gets its own "not supported by podwire" message, so
 * that the user learns the value is fine for Kubernetes but not for podwire.
 * kube imports nothing outside kube, so these do not reuse src/cni/ip4.ts.
 */

export const IP_INVALID = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';
export const CIDR_INVALID = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';
export const IPV6_UNSUPPORTED = 'IPv6 is not supported by podwire (IPv4 single-stack only)';

/** Parses canonical dotted-quad IPv4 text to a 32-bit unsigned integer; undefined if malformed. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Loose IPv6 shape test: enough to tell "an IPv6 address" from garbage for a message. */
function looksIPv6(s: string): boolean {
  if (!s.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  const dbl = s.split('::').length - 1;
  if (dbl > 1) return false;
  const groups = s.split(':').filter((g) => g !== '');
  return groups.length >= 1 && groups.length <= 8 && groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g) || parseIPv4(g) !== undefined);
}

/**
 * Problems with `s` as an IPv4 address (empty list = fine). Octets with leading
 * zeros are refused: Go's sloppy parser reads them as decimal and iptables'
 * inet_aton as octal, so the same text would mean two addresses.
 */
export function ipv4Problems(s: string): string[] {
  if (parseIPv4(s) !== undefined) {
    if (s.split('.').some((p) => p.length > 1 && p.startsWith('0')))
      return ['must not have leading zeros in an octet (Go reads them as decimal, iptables as octal)'];
    return [];
  }
  if (looksIPv6(s)) return [IPV6_UNSUPPORTED];
  return [IP_INVALID];
}

export interface Cidr4 {
  /** Network address (host bits as given may be set; see `base`). */
  addr: number;
  prefix: number;
  /** addr with the host bits cleared. */
  base: number;
  /** Number of addresses, 2^(32-prefix). */
  size: number;
}

/** Parses `A.B.C.D/N`; undefined if malformed. Host bits are allowed (the apiserver's IsValidCIDR allows them). */
export function parseCidr4(s: string): Cidr4 | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIPv4(s.slice(0, slash));
  const ps = s.slice(slash + 1);
  if (addr === undefined || !/^[0-9]{1,2}$/.test(ps)) return undefined;
  const prefix = Number(ps);
  if (prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const base = addr - (addr % size);
  return { addr, prefix, base, size };
}

export function cidrProblems(s: string): string[] {
  if (parseCidr4(s)) return [];
  const slash = s.indexOf('/');
  if (slash > 0 && looksIPv6(s.slice(0, slash)) && /^[0-9]{1,3}$/.test(s.slice(slash + 1))) return [IPV6_UNSUPPORTED];
  return [CIDR_INVALID];
}

export function cidrContains(c: Cidr4, ip: number): boolean {
  return ip >= c.base && ip < c.base + c.size;
}

/**
 * ValidateNonSpecialIP: addresses that make no sense as endpoints or external
 * IPs — unspecified, loopback, link-local, link-local multicast. Assumes `ip`
 * already parsed as IPv4.
 */
export function nonSpecialIPProblems(s: string): string[] {
  const n = parseIPv4(s);
  if (n === undefined) return [];
  const out: string[] = [];
  if (n === 0) out.push(`may not be unspecified (${s})`);
  if (n >>> 24 === 127) out.push('may not be in the loopback range (127.0.0.0/8, ::1/128)');
  if (n >>> 16 === ((169 << 8) | 254)) out.push('may not be in the link-local range (169.254.0.0/16, fe80::/10)');
  if (n >>> 8 === 224 << 16) out.push('may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)');
  return out;
}
