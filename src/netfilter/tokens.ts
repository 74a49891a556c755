/**
 * Tokens of iptables-restore text and the small value parsers every module
 * shares (ports, marks, addresses), plus `saveString`, iptables'
 * `xtables_save_string` quoting.
 *
 * Tokenising follows iptables-restore: words split on blanks; a double-quoted
 * string is one word, inside it a backslash escapes the next character.
 * Single quotes are ordinary characters (iptables-restore does not treat
 * them as quotes: `--comment 'a b'` fails with "Bad argument `b''").
 */
import { parseIp, prefixMask } from '../wire/bytes.js';
import type { OptionTokens, ParseCtx, ParsedOpt } from './registry.js';

export interface Token {
  text: string;
  /** 1-based column of the token's first character in its line. */
  col: number;
  quoted: boolean;
}

/** Thrown by the value parsers; the caller attaches the token position. */
export class ValueError extends Error {}

/** Split one line into tokens. Throws ValueError on an unterminated quote. */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 10) { i++; continue; }
    const start = i;
    // The common case: a word without quotes is a slice of the line (a flat string, cheap to hash).
    while (i < n) {
      const ch = line.charCodeAt(i);
      if (ch === 32 || ch === 9 || ch === 13 || ch === 10 || ch === 34) break;
      i++;
    }
    if (i >= n || line.charCodeAt(i) !== 34) {
      out.push({ text: line.slice(start, i), col: start + 1, quoted: false });
      continue;
    }
    let text = line.slice(start, i);
    let quoted = false;
    while (i < n) {
      const ch = line[i];
      if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') break;
      if (ch === '"') {
        quoted = true;
        i++;
        let closed = false;
        const q0 = i;
        while (i < n) {
          const q = line.charCodeAt(i);
          if (q === 92 /* \\ */ || q === 34) break;
          i++;
        }
        text += line.slice(q0, i);
        while (i < n) {
          const q = line[i];
          if (q === '\\' && i + 1 < n) { text += line[i + 1]; i += 2; continue; }
          if (q === '"') { closed = true; i++; break; }
          text += q;
          i++;
        }
        if (!closed) throw new ValueError('unterminated quoted string');
        continue;
      }
      text += ch;
      i++;
    }
    out.push({ text, col: start + 1, quoted });
  }
  return out;
}

const NO_QUOTE = /^[A-Za-z0-9_-]+$/;

/** xtables_save_string: bare when only [A-Za-z0-9_-], else double-quoted with `"`, `\` and `'` escaped. */
export function saveString(s: string): string {
  if (s.length > 0 && NO_QUOTE.test(s)) return s;
  return '"' + s.replace(/["\\']/g, (m) => '\\' + m) + '"';
}

/** strtoul-like unsigned integer (decimal, 0x hex, leading-0 octal), as xtables_strtoui. */
export function parseUint(s: string, max = 0xffffffff): number {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]+$/.test(s)) v = parseInt(s.slice(1), 8);
  else if (/^[0-9]+$/.test(s)) v = Number(s);
  else throw new ValueError(`bad integer "${s}"`);
  if (!Number.isFinite(v) || v > max) throw new ValueError(`value "${s}" out of range`);
  return v;
}

/** `value[/mask]` with mask defaulting to 0xffffffff. */
export function parseMarkMask(s: string): { value: number; mask: number; hasMask: boolean } {
  const slash = s.indexOf('/');
  if (slash < 0) return { value: parseUint(s), mask: 0xffffffff, hasMask: false };
  return { value: parseUint(s.slice(0, slash)), mask: parseUint(s.slice(slash + 1)), hasMask: true };
}

export function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}

/** A port number or a service name we know (iptables resolves /etc/services). */
const SERVICES: Record<string, number> = {
  ftp: 21, ssh: 22, telnet: 23, smtp: 25, domain: 53, http: 80, pop3: 110, ntp: 123, imap: 143, snmp: 161,
  bgp: 179, https: 443, submission: 587, imaps: 993, pop3s: 995, 'http-alt': 8080,
};

export function parsePort(s: string): number {
  if (/^[0-9]+$/.test(s)) {
    const v = Number(s);
    if (v <= 65535) return v;
  } else if (SERVICES[s] !== undefined) return SERVICES[s];
  throw new ValueError(`invalid port/service \`${s}' specified`);
}

/** `a`, `a:b`, `:b`, `a:` (iptables port range syntax). */
export function parsePortRange(s: string): [number, number] {
  const c = s.indexOf(':');
  if (c < 0) { const p = parsePort(s); return [p, p]; }
  const lo = c === 0 ? 0 : parsePort(s.slice(0, c));
  const hi = c === s.length - 1 ? 65535 : parsePort(s.slice(c + 1));
  if (lo > hi) throw new ValueError(`invalid portrange (min > max) \`${s}' specified`);
  return [lo, hi];
}

export function portRangeText(lo: number, hi: number): string {
  return lo === hi ? String(lo) : `${lo}:${hi}`;
}

/** `a.b.c.d[/len|/a.b.c.d]` → address already masked, mask and prefix length (-1 for non-contiguous masks). */
export function parseAddrMask(s: string): { addr: number; mask: number; prefix: number } {
  const slash = s.indexOf('/');
  const a = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (a === undefined) throw new ValueError(`host/network \`${slash < 0 ? s : s.slice(0, slash)}' not found`);
  let mask = 0xffffffff;
  if (slash >= 0) {
    const m = s.slice(slash + 1);
    if (/^[0-9]{1,2}$/.test(m) && Number(m) <= 32) mask = prefixMask(Number(m));
    else {
      const mm = parseIp(m);
      if (mm === undefined) throw new ValueError(`invalid mask \`${m}' specified`);
      mask = mm;
    }
  }
  return { addr: (a & mask) >>> 0, mask: mask >>> 0, prefix: maskToPrefix(mask) };
}

/** Prefix length of a contiguous mask, -1 otherwise. */
export function maskToPrefix(mask: number): number {
  mask >>>= 0;
  let len = 0;
  while (len < 32 && (mask & (0x80000000 >>> len)) !== 0) len++;
  return prefixMask(len) === mask ? len : -1;
}

/** A parse/validation error from a module; `tok` is where to point. */
export class ModuleError extends Error {
  constructor(message: string, readonly tok?: Token, readonly expected?: string) {
    super(message);
    this.name = 'ModuleError';
  }
}

/** Helper for modules: the rule's protocol number if given without `!`, else undefined. */
export function ruleProto(ctx: ParseCtx): number | undefined {
  const p = ctx.ip.proto;
  return p && !p.invert ? p.num : undefined;
}

/** Helper: reject a second use of an option (iptables: `X: option "--o" can only be used once.`). */
export function onlyOnce(module: string, args: OptionTokens): void {
  const seen = new Set<string>();
  for (const a of args) {
    if (seen.has(a.name)) throw new ModuleError(`${module}: option "--${a.name}" can only be used once.`, a.tok);
    seen.add(a.name);
  }
}


/** Runs a value parser, turning its ValueError into a ModuleError at `tok`. */
export function at<T>(tok: Token, fn: () => T, prefix = '', full?: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ValueError) throw new ModuleError(full ?? prefix + e.message, tok);
    throw e;
  }
}

/** The value of an option with one argument (and its token). */
export function val(o: ParsedOpt): string { return o.values[0]; }
export function vtok(o: ParsedOpt): Token { return o.valueToks[0] ?? o.tok; }

/** Protocol names iptables knows (its own list plus /etc/protocols on Debian), number → name for printing. */
export const PROTO_BY_NAME: Record<string, number> = {
  all: 0, icmp: 1, igmp: 2, ipencap: 4, tcp: 6, egp: 8, udp: 17, dccp: 33, ipv6: 41, rsvp: 46, gre: 47,
  esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58, eigrp: 88, ospf: 89, ipip: 94, etherip: 97, encap: 98,
  pim: 103, ipcomp: 108, vrrp: 112, l2tp: 115, isis: 124, sctp: 132, udplite: 136, 'mpls-in-ip': 137, mh: 135,
};
/** The name iptables-save prints for a protocol number (verified: 47 → gre, 132 → sctp, 200 → 200). */
export const PROTO_NAME: Record<number, string> = {
  1: 'icmp', 2: 'igmp', 4: 'ipencap', 6: 'tcp', 8: 'egp', 17: 'udp', 33: 'dccp', 41: 'ipv6', 46: 'rsvp', 47: 'gre',
  50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 88: 'eigrp', 89: 'ospf', 94: 'ipip', 97: 'etherip', 98: 'encap', 103: 'pim',
  108: 'ipcomp', 112: 'vrrp', 115: 'l2tp', 124: 'isis', 132: 'sctp', 135: 'mobility-header', 136: 'udplite', 137: 'mpls-in-ip',
};

