/**
 * Pure parsers for the address, duration and bandwidth values a scenario
 * writes as text. They return a result or a reason; the YAML layer turns a
 * reason into an InputError at the node's position.
 */
import type { Cidr } from './types.js';
import { parseDuration } from '../engine/time.js';

/** "A.B.C.D" → 32-bit unsigned integer. Octets 0..255, decimal, no leading zeros. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** 32-bit unsigned integer → "A.B.C.D". */
export function formatIPv4(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Netmask of a prefix length as an unsigned integer (/0 → 0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network address of a CIDR (host bits cleared). */
export function networkOf(c: Cidr): number {
  return (c.addr & prefixMask(c.prefix)) >>> 0;
}

/** The broadcast address of a CIDR (host bits set). */
export function broadcastOf(c: Cidr): number {
  return (networkOf(c) | ~prefixMask(c.prefix)) >>> 0;
}

/** Parses "A.B.C.D/N"; `error` says what is wrong. */
export function parseCidr(text: string): { cidr: Cidr } | { error: string } {
  const m = /^([^/]*)\/([0-9]{1,2})$/.exec(text);
  if (!m) return { error: `invalid CIDR ${JSON.stringify(text)}: missing or malformed /prefix` };
  const addr = parseIPv4(m[1]);
  if (addr === undefined) return { error: `invalid CIDR ${JSON.stringify(text)}: ${JSON.stringify(m[1])} is not an IPv4 address` };
  const prefix = Number(m[2]);
  if (prefix > 32 || (m[2].length > 1 && m[2][0] === '0'))
    return { error: `invalid CIDR ${JSON.stringify(text)}: prefix length must be 0..32` };
  return { cidr: { addr, prefix, text } };
}

/** True when `a` lies inside `c`. */
export function cidrContains(c: Cidr, a: number): boolean {
  return ((a & prefixMask(c.prefix)) >>> 0) === networkOf(c);
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.addr);
}

/** True when two CIDRs share any address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrWithin(a, b) || cidrWithin(b, a);
}

/** "10.244.0.0/16" as network address/prefix, for messages. */
export function networkText(c: Cidr): string {
  return `${formatIPv4(networkOf(c))}/${c.prefix}`;
}

/**
 * Durations: "50us", "1ms", "2.5s", "100ns", "0" (units ns, us, µs, ms, s, m, h) → ns.
 * A bare number other than 0 is refused (a unit is required), as is anything negative.
 */
export function parseDurationValue(v: string | number): { ns: number } | { error: string } {
  if (typeof v === 'number') {
    if (v === 0) return { ns: 0 };
    return { error: `duration ${v} needs a unit` };
  }
  const t = v.trim();
  if (t === '0') return { ns: 0 };
  if (/^\d+(\.\d+)?$/.test(t)) return { error: `duration ${JSON.stringify(v)} needs a unit` };
  const ns = parseDuration(t);
  if (ns === undefined || !Number.isSafeInteger(ns)) return { error: `invalid duration ${JSON.stringify(v)}` };
  return { ns };
}

const BW_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };

/** Bandwidth in bits/s: a number, or "10kbit", "100Mbit", "1Gbit" (tc's units, case-insensitive). 0 = unlimited. */
export function parseBandwidth(v: string | number): { bps: number } | { error: string } {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) return { error: `invalid bandwidth ${v}: must be a non-negative integer of bits/s` };
    return { bps: v };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)?\s*$/.exec(v);
  if (!m) return { error: `invalid bandwidth ${JSON.stringify(v)}` };
  const unit = BW_UNITS[(m[2] ?? 'bit').toLowerCase()];
  if (unit === undefined) return { error: `invalid bandwidth unit ${JSON.stringify(m[2])} in ${JSON.stringify(v)}` };
  const bps = Math.round(parseFloat(m[1]) * unit);
  if (!Number.isSafeInteger(bps)) return { error: `invalid bandwidth ${JSON.stringify(v)}` };
  return { bps };
}
