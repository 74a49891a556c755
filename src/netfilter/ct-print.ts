/**
 * `conntrack -L` text for conntrack entries, as conntrack-tools 1.4.7
 * (libnetfilter_conntrack's default output) prints them. Checked on the
 * kernel of these machines (test/netfilter/fixtures/conntrack-*.txt):
 *
 *   tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.1.1 sport=41010 dport=80 src=10.0.1.1 dst=10.0.1.254 sport=80 dport=41010 [ASSURED] mark=0 use=1
 *   udp      17 29 src=10.0.0.1 dst=10.0.1.1 sport=42002 dport=54 [UNREPLIED] src=10.0.1.1 dst=10.0.1.254 sport=54 dport=42002 mark=0 use=1
 *   icmp     1 29 src=10.0.0.1 dst=10.0.1.1 type=8 code=0 id=28966 src=10.0.1.1 dst=10.0.1.254 type=0 code=0 id=28966 mark=0 use=1
 *
 * The protocol name is left-justified in 8 columns, then the protocol
 * number and the seconds left (`nf_ct_expires / HZ`, rounded down), the TCP
 * state, the original tuple, `[UNREPLIED]` while no reply was seen, the reply
 * tuple, `[ASSURED]`, `mark=` and `use=1`. The "N flow entries have been
 * shown." summary goes to stderr and is not part of this text. Entries are
 * printed in creation order (the kernel prints in hash-bucket order).
 */
import { ipToString } from '../wire/bytes.js';
import type { ConnEntry, Tuple } from './ct-types.js';
import { IPS_ASSURED, IPS_SEEN_REPLY } from './ct-types.js';

/** libnetfilter_conntrack's l4proto2str for the protocols it names; others print as "unknown". */
export function l4protoName(proto: number): string {
  switch (proto) {
    case 1: return 'icmp';
    case 6: return 'tcp';
    case 17: return 'udp';
    case 33: return 'dccp';
    case 47: return 'gre';
    case 58: return 'icmpv6';
    case 132: return 'sctp';
    case 136: return 'udplite';
    default: return 'unknown';
  }
}

/** One tuple as `src=… dst=… sport=… dport=…` (ICMP: `type=… code=0 id=…`), without a trailing space. */
export function formatTuple(t: Tuple): string {
  const base = `src=${ipToString(t.src)} dst=${ipToString(t.dst)}`;
  if (t.proto === 6 || t.proto === 17 || t.proto === 132 || t.proto === 33 || t.proto === 136) {
    return `${base} sport=${t.sport} dport=${t.dport}`;
  }
  if (t.proto === 1) return `${base} type=${t.icmpType} code=0 id=${t.sport}`;
  return base;
}

/** Seconds left as conntrack prints them: floor((expires - now) / 1 s), never negative. */
export function secondsLeft(ct: ConnEntry, now: number): number {
  const left = ct.expires - now;
  return left > 0 ? Math.floor(left / 1_000_000_000) : 0;
}

/** One `conntrack -L` line for `ct` at virtual time `now` (ns). */
export function formatConn(ct: ConnEntry, now: number): string {
  const o = ct.orig;
  let s = `${l4protoName(o.proto).padEnd(8)} ${o.proto} ${secondsLeft(ct, now)} `;
  if (o.proto === 6 && ct.tcpState) s += `${ct.tcpState} `;
  s += formatTuple(o) + ' ';
  if (!(ct.status & IPS_SEEN_REPLY)) s += '[UNREPLIED] ';
  s += formatTuple(ct.reply) + ' ';
  if (ct.status & IPS_ASSURED) s += '[ASSURED] ';
  s += `mark=${ct.mark >>> 0} use=1`;
  return s;
}

/** The whole table, one line per entry, each ending in a newline (empty string for an empty table). */
export function formatTable(entries: Iterable<ConnEntry>, now: number): string {
  let out = '';
  for (const ct of entries) out += formatConn(ct, now) + '\n';
  return out;
}
