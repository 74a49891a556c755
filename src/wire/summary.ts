/**
 * Human-readable views of a frame for traces, reports and tests:
 * {@link summarize} prints one line in the format of `tcpdump -nn -t -S`
 * (absolute sequence numbers, since a one-frame summary has no connection
 * state), and {@link decodeLayers} lists the decoded layer stack
 * (Ethernet → ARP | IPv4 → ICMP (+ quoted IPv4 / L4 in errors) | TCP | UDP |
 * IPv4 (IPIP) → Payload).
 *
 * Both never throw: truncated or inconsistent bytes are reported as
 * `truncated` / `malformed (<reason>)` text (summary) or as a `Truncated` /
 * `Malformed` layer (decodeLayers). Differences from tcpdump: no
 * application-layer decoding (tcpdump's `: HTTP: GET / ...` suffix is not
 * printed), IPv6 is summarised as `IP6, length N`, and a bad IPv4 header
 * checksum is flagged with ` [bad ip cksum]` (tcpdump shows it only with -v).
 *
 * These allocate strings: edge API, not for the per-packet hot path.
 *
 * @module
 */
import { ipToString, macToString, u16, u32 } from './bytes.js';
import { ARPOP_REPLY, ARPOP_REQUEST, ARP_SHA, ARP_THA, arpOp, arpSpa, arpTpa, checkArp } from './arp.js';
import { ETH_HLEN, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6 } from './ethernet.js';
import {
  ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY, ICMP_HLEN, ICMP_TIME_EXCEEDED, icmpIsError, verifyIcmpChecksum,
} from './icmp.js';
import {
  IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IP_DF, IP_MF, IP_OFFSET, checkIpv4, ipv4Daddr, ipv4HeaderLen,
  ipv4Saddr, verifyIpv4Checksum,
} from './ipv4.js';
import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, checkTcp, verifyTcpChecksum } from './tcp.js';
import { checkUdp, verifyUdpChecksum } from './udp.js';

/** One decoded layer: protocol name and its fields, for tests and reports. */
export interface Layer {
  /** `Ethernet`, `ARP`, `IPv4`, `ICMP`, `TCP`, `UDP`, `IPv6`, `Payload`, `Truncated`, `Malformed`; quoted layers inside ICMP errors are suffixed ` (quoted)`. */
  name: string;
  /** Field values; addresses as text, numbers as numbers. */
  fields: Record<string, string | number>;
}

const FLAG_CHARS: Array<[number, string]> = [
  [TCP_FIN, 'F'], [TCP_SYN, 'S'], [TCP_RST, 'R'], [TCP_PSH, 'P'], [TCP_ACK, '.'], [TCP_URG, 'U'], [TCP_ECE, 'E'], [TCP_CWR, 'W'],
];

/** tcpdump's flag string (`S.`, `P.`, `none`), in tcpdump's order F S R P . U E W. */
export function tcpFlagString(flags: number): string {
  let s = '';
  for (const [bit, c] of FLAG_CHARS) if (flags & bit) s += c;
  return s || 'none';
}

/** tcpdump's rendering of the TCP option bytes `b[off..off+len)` (e.g. `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`). */
export function tcpOptionsString(b: Uint8Array, off: number, len: number): string {
  const parts: string[] = [];
  const end = off + len;
  let i = off;
  while (i < end) {
    const kind = b[i];
    if (kind === 0) { parts.push('eol'); break; }
    if (kind === 1) { parts.push('nop'); i++; continue; }
    if (i + 1 >= end) return parts.concat('[bad opt]').join(',');
    const ol = b[i + 1];
    if (ol < 2 || i + ol > end) return parts.concat('[bad opt]').join(',');
    if (kind === 2 && ol === 4) parts.push(`mss ${u16(b, i + 2)}`);
    else if (kind === 3 && ol === 3) parts.push(`wscale ${b[i + 2]}`);
    else if (kind === 4 && ol === 2) parts.push('sackOK');
    else if (kind === 8 && ol === 10) parts.push(`TS val ${u32(b, i + 2)} ecr ${u32(b, i + 6)}`);
    else if (kind === 5 && (ol - 2) % 8 === 0) {
      let s = `sack ${(ol - 2) / 8} `;
      for (let j = i + 2; j < i + ol; j += 8) s += `{${u32(b, j)}:${u32(b, j + 4)}}`;
      parts.push(s);
    } else {
      let hex = '';
      for (let j = i + 2; j < i + ol; j++) hex += b[j].toString(16).padStart(2, '0');
      parts.push(`unknown-${kind}${hex ? ' 0x' + hex : ''}`);
    }
    i += ol;
  }
  return parts.join(',');
}

const UNREACH: Record<number, (dst: string, q: Quoted | null) => string> = {
  0: (d) => `net ${d} unreachable`,
  1: (d) => `host ${d} unreachable`,
  2: (d, q) => `${d} protocol ${q ? q.proto : '?'} unreachable`,
  3: (d, q) => q && (q.proto === IPPROTO_UDP || q.proto === IPPROTO_TCP) && q.dport >= 0
    ? `${d} ${q.proto === IPPROTO_UDP ? 'udp' : 'tcp'} port ${q.dport} unreachable`
    : `${d} protocol ${q ? q.proto : '?'} port ${q && q.dport >= 0 ? q.dport : '?'} unreachable`,
  5: (d) => `${d} unreachable - source route failed`,
  6: (d) => `net ${d} unreachable - unknown`,
  7: (d) => `host ${d} unreachable - unknown`,
  8: (d) => `${d} unreachable - source host isolated`,
  9: (d) => `net ${d} unreachable - admin prohibited`,
  10: (d) => `host ${d} unreachable - admin prohibited`,
  11: (d) => `net ${d} unreachable - tos prohibited`,
  12: (d) => `host ${d} unreachable - tos prohibited`,
  13: (d) => `${d} unreachable - admin prohibited filter`,
  14: (d) => `${d} unreachable - host precedence violation`,
  15: (d) => `${d} unreachable - precedence cutoff`,
};

interface Quoted { src: number; dst: number; proto: number; hlen: number; sport: number; dport: number }

/** Lenient read of a quoted IPv4 header (+ ports) inside an ICMP error: no total-length or checksum checks. */
function readQuoted(b: Uint8Array, off: number, len: number): Quoted | null {
  if (len < 20 || b[off] >>> 4 !== 4) return null;
  const hlen = (b[off] & 15) << 2;
  if (hlen < 20 || hlen > len) return null;
  const has = len - hlen >= 4;
  return {
    src: ipv4Saddr(b, off), dst: ipv4Daddr(b, off), proto: b[off + 9], hlen,
    sport: has ? u16(b, off + hlen) : -1, dport: has ? u16(b, off + hlen + 2) : -1,
  };
}

function summarizeIcmp(b: Uint8Array, off: number, len: number): string {
  if (len < ICMP_HLEN) return 'ICMP, truncated';
  const type = b[off];
  const code = b[off + 1];
  switch (type) {
    case ICMP_ECHO:
    case ICMP_ECHOREPLY:
      return `ICMP echo ${type === ICMP_ECHO ? 'request' : 'reply'}, id ${u16(b, off + 4)}, seq ${u16(b, off + 6)}, length ${len}`;
    case ICMP_DEST_UNREACH: {
      const q = readQuoted(b, off + 8, len - 8);
      const d = q ? ipToString(q.dst) : '?';
      const text = code === 4 ? `${d} unreachable - need to frag (mtu ${u16(b, off + 6)})` : UNREACH[code]?.(d, q) ?? `${d} unreachable - #${code}`;
      return `ICMP ${text}, length ${len}`;
    }
    case ICMP_TIME_EXCEEDED:
      return `ICMP ${code === 0 ? 'time exceeded in-transit' : code === 1 ? 'ip reassembly time exceeded' : `time exceeded-#${code}`}, length ${len}`;
    default:
      return `ICMP type-#${type}, length ${len}`;
  }
}

/*
 * UDP summaries by what they are made of (addresses, ports, UDP length, bad checksum):
 * a flow's datagrams are summarised at every hop with the same text. Direct-mapped.
 */
const UDP_SLOTS = 256;
const udpAddrs = new Float64Array(UDP_SLOTS * 2).fill(-1);
const udpRest = new Float64Array(UDP_SLOTS).fill(-1);
const udpTexts: string[] = new Array<string>(UDP_SLOTS).fill('');

/** `IP src.sport > dst.dport: UDP, length N[ [bad ip cksum]]` for the checked datagram at `l4`. */
function udpText(b: Uint8Array, off: number, l4: number, src: string, dst: string, bad: string): string {
  const s = ipv4Saddr(b, off), d = ipv4Daddr(b, off);
  const ports = u32(b, l4);
  // UDP length (16 bits) and the bad-checksum flag, with the ports: exact in a double.
  const rest = ports * 0x20000 + u16(b, l4 + 4) * 2 + (bad ? 1 : 0);
  const slot = Math.imul(s ^ Math.imul(d, 0x85ebca6b) ^ Math.imul(ports, 0xc2b2ae35), 0x9e3779b1) >>> 24; // UDP_SLOTS = 256
  if (udpAddrs[slot * 2] === s && udpAddrs[slot * 2 + 1] === d && udpRest[slot] === rest) return udpTexts[slot];
  const t = `IP ${src}.${u16(b, l4)} > ${dst}.${u16(b, l4 + 2)}: UDP, length ${u16(b, l4 + 4) - 8}${bad}`;
  udpAddrs[slot * 2] = s;
  udpAddrs[slot * 2 + 1] = d;
  udpRest[slot] = rest;
  udpTexts[slot] = t;
  return t;
}

function summarizeIpv4(b: Uint8Array, off: number, len: number, depth: number): string {
  const rej = checkIpv4(b, off, len);
  if (rej && rej.code !== 'IP_CSUM') return rej.code === 'PKT_TOO_SMALL' || rej.reason === 'truncated header' ? 'IP truncated' : `IP malformed (${rej.reason})`;
  const hlen = ipv4HeaderLen(b, off);
  const tot = u16(b, off + 2);
  if (tot > len) return 'IP truncated';
  if (tot < hlen) return 'IP malformed (total length < header length)';
  const bad = rej ? ' [bad ip cksum]' : '';
  const src = ipToString(ipv4Saddr(b, off));
  const dst = ipToString(ipv4Daddr(b, off));
  const proto = b[off + 9];
  const l4 = off + hlen;
  const l4len = tot - hlen;
  const fo = u16(b, off + 6);
  if (fo & IP_OFFSET) return `IP ${src} > ${dst}: ip-proto-${proto}${bad} (frag offset ${(fo & IP_OFFSET) << 3}${fo & IP_MF ? '+' : ''}), length ${l4len}`;
  switch (proto) {
    case IPPROTO_TCP: {
      const r = checkTcp(b, l4, l4len);
      if (r) return `IP ${src} > ${dst}: tcp ${r === 'truncated' ? 'truncated' : `malformed (${r})`}${bad}`;
      const th = (b[l4 + 12] >>> 4) << 2;
      const flags = b[l4 + 13];
      const plen = l4len - th;
      const seq = u32(b, l4 + 4);
      let s = `IP ${src}.${u16(b, l4)} > ${dst}.${u16(b, l4 + 2)}: Flags [${tcpFlagString(flags)}]`;
      if (plen > 0) s += `, seq ${seq}:${(seq + plen) >>> 0}`;
      else if (flags & (TCP_SYN | TCP_FIN | TCP_RST)) s += `, seq ${seq}`;
      if (flags & TCP_ACK) s += `, ack ${u32(b, l4 + 8)}`;
      s += `, win ${u16(b, l4 + 14)}`;
      if (flags & TCP_URG) s += `, urg ${u16(b, l4 + 18)}`;
      if (th > 20) s += `, options [${tcpOptionsString(b, l4 + 20, th - 20)}]`;
      return `${s}, length ${plen}${bad}`;
    }
    case IPPROTO_UDP: {
      const r = checkUdp(b, l4, l4len);
      if (r) return `IP ${src} > ${dst}: udp ${r === 'truncated' ? 'truncated' : `malformed (${r})`}${bad}`;
      return udpText(b, off, l4, src, dst, bad);
    }
    case IPPROTO_ICMP:
      return `IP ${src} > ${dst}: ${summarizeIcmp(b, l4, l4len)}${bad}`;
    case IPPROTO_IPIP:
      return depth < 4 ? `IP ${src} > ${dst}: ${summarizeIpv4(b, l4, l4len, depth + 1)}${bad}` : `IP ${src} > ${dst}: ip-proto-4 ${l4len}${bad}`;
    default:
      return `IP ${src} > ${dst}: ip-proto-${proto} ${l4len}${bad}`;
  }
}

/**
 * One-line summary of the frame at `frame[off..off+len)`, matching
 * `tcpdump -nn -t -S` for ARP, IPv4 (ICMP, TCP, UDP, IPIP). `eth` false: the frame
 * has no link-layer header and begins with the IP header (a tun device, LINKTYPE_RAW;
 * the IP version nibble decides, as tcpdump's raw printer does). Never throws.
 */
export function summarize(frame: Uint8Array, off = 0, len = frame.length - off, eth = true): string {
  try {
    len = Math.max(0, Math.min(len, frame.length - off));
    if (!eth) {
      if (len < 1) return 'truncated';
      const v = frame[off] >>> 4;
      return v === 4 ? summarizeIpv4(frame, off, len, 0) : v === 6 ? `IP6, length ${len}` : `ip v${v}`;
    }
    if (len < ETH_HLEN) return 'truncated';
    const type = u16(frame, off + 12);
    const p = off + ETH_HLEN;
    const plen = len - ETH_HLEN;
    switch (type) {
      case ETH_P_ARP: {
        const r = checkArp(frame, p, plen);
        if (r) return r === 'truncated' ? 'ARP, truncated' : `ARP, malformed (${r})`;
        const op = arpOp(frame, p);
        if (op === ARPOP_REQUEST) return `ARP, Request who-has ${ipToString(arpTpa(frame, p))} tell ${ipToString(arpSpa(frame, p))}, length ${plen}`;
        if (op === ARPOP_REPLY) return `ARP, Reply ${ipToString(arpSpa(frame, p))} is-at ${macToString(frame, p + ARP_SHA)}, length ${plen}`;
        return `ARP, Unknown (${op}), length ${plen}`;
      }
      case ETH_P_IP:
        return summarizeIpv4(frame, p, plen, 0);
      case ETH_P_IPV6:
        return `IP6, length ${plen}`;
      default:
        return `ethertype Unknown (0x${type.toString(16).padStart(4, '0')}), length ${len}`;
    }
  } catch (e) {
    return `malformed (${e instanceof Error ? e.message : String(e)})`;
  }
}

function hex16(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0');
}

function ipv4Fields(b: Uint8Array, off: number): Record<string, string | number> {
  const fo = u16(b, off + 6);
  return {
    version: b[off] >>> 4, ihl: b[off] & 15, tos: b[off + 1], totalLength: u16(b, off + 2), id: u16(b, off + 4),
    flags: [fo & IP_DF ? 'DF' : '', fo & IP_MF ? 'MF' : ''].filter(Boolean).join(',') || 'none',
    fragOffset: (fo & IP_OFFSET) << 3, ttl: b[off + 8], protocol: b[off + 9], checksum: hex16(u16(b, off + 10)),
    src: ipToString(ipv4Saddr(b, off)), dst: ipToString(ipv4Daddr(b, off)),
  };
}

function decodeIpv4(b: Uint8Array, off: number, len: number, out: Layer[], depth: number): void {
  const rej = checkIpv4(b, off, len);
  if (rej && rej.code !== 'IP_CSUM') {
    out.push({ name: rej.code === 'PKT_TOO_SMALL' || rej.reason === 'truncated header' ? 'Truncated' : 'Malformed', fields: { layer: 'IPv4', reason: rej.reason } });
    return;
  }
  const hlen = ipv4HeaderLen(b, off);
  const tot = u16(b, off + 2);
  if (tot > len || tot < hlen) {
    out.push({ name: tot > len ? 'Truncated' : 'Malformed', fields: { layer: 'IPv4', reason: tot > len ? 'total length > available' : 'total length < header length' } });
    return;
  }
  out.push({ name: 'IPv4', fields: { ...ipv4Fields(b, off), checksumValid: verifyIpv4Checksum(b, off) ? 'yes' : 'no' } });
  const l4 = off + hlen;
  const l4len = tot - hlen;
  if (u16(b, off + 6) & IP_OFFSET) { out.push({ name: 'Payload', fields: { length: l4len, fragment: 'non-first' } }); return; }
  const proto = b[off + 9];
  if (proto === IPPROTO_TCP) {
    const r = checkTcp(b, l4, l4len);
    if (r) { out.push({ name: r === 'truncated' ? 'Truncated' : 'Malformed', fields: { layer: 'TCP', reason: r } }); return; }
    const th = (b[l4 + 12] >>> 4) << 2;
    out.push({ name: 'TCP', fields: {
      srcPort: u16(b, l4), dstPort: u16(b, l4 + 2), seq: u32(b, l4 + 4), ack: u32(b, l4 + 8), dataOffset: th >>> 2,
      flags: tcpFlagString(b[l4 + 13]), window: u16(b, l4 + 14), checksum: hex16(u16(b, l4 + 16)),
      checksumValid: verifyTcpChecksum(b, off) ? 'yes' : 'no', urgent: u16(b, l4 + 18),
      options: tcpOptionsString(b, l4 + 20, th - 20),
    } });
    if (l4len > th) out.push({ name: 'Payload', fields: { length: l4len - th } });
  } else if (proto === IPPROTO_UDP) {
    const r = checkUdp(b, l4, l4len);
    if (r) { out.push({ name: r === 'truncated' ? 'Truncated' : 'Malformed', fields: { layer: 'UDP', reason: r } }); return; }
    out.push({ name: 'UDP', fields: {
      srcPort: u16(b, l4), dstPort: u16(b, l4 + 2), length: u16(b, l4 + 4), checksum: hex16(u16(b, l4 + 6)),
      checksumValid: u16(b, l4 + 6) === 0 ? 'none' : verifyUdpChecksum(b, off) ? 'yes' : 'no',
    } });
    if (u16(b, l4 + 4) > 8) out.push({ name: 'Payload', fields: { length: u16(b, l4 + 4) - 8 } });
  } else if (proto === IPPROTO_ICMP) {
    if (l4len < ICMP_HLEN) { out.push({ name: 'Truncated', fields: { layer: 'ICMP', reason: 'truncated' } }); return; }
    const type = b[l4];
    const f: Record<string, string | number> = {
      type, code: b[l4 + 1], checksum: hex16(u16(b, l4 + 2)), checksumValid: verifyIcmpChecksum(b, l4, l4len) ? 'yes' : 'no',
    };
    if (type === ICMP_ECHO || type === ICMP_ECHOREPLY) { f.id = u16(b, l4 + 4); f.seq = u16(b, l4 + 6); }
    if (type === ICMP_DEST_UNREACH) f.mtu = u16(b, l4 + 6);
    out.push({ name: 'ICMP', fields: f });
    if (icmpIsError(type)) {
      const q = readQuoted(b, l4 + 8, l4len - 8);
      if (!q) { out.push({ name: 'Payload', fields: { length: l4len - 8 } }); return; }
      out.push({ name: 'IPv4 (quoted)', fields: { ...ipv4Fields(b, l4 + 8), quotedLength: l4len - 8 } });
      if (q.sport >= 0 && (q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP)) {
        out.push({ name: `${q.proto === IPPROTO_TCP ? 'TCP' : 'UDP'} (quoted)`, fields: { srcPort: q.sport, dstPort: q.dport } });
      } else if (q.proto === IPPROTO_ICMP && l4len - 8 - q.hlen >= 8) {
        const qi = l4 + 8 + q.hlen;
        out.push({ name: 'ICMP (quoted)', fields: { type: b[qi], code: b[qi + 1], id: u16(b, qi + 4), seq: u16(b, qi + 6) } });
      }
    } else if (l4len > 8) out.push({ name: 'Payload', fields: { length: l4len - 8 } });
  } else if (proto === IPPROTO_IPIP && depth < 4) {
    decodeIpv4(b, l4, l4len, out, depth + 1);
  } else if (l4len > 0) out.push({ name: 'Payload', fields: { length: l4len } });
}

/**
 * The decoded layer stack of the frame at `frame[off..off+len)`:
 * Ethernet → ARP | IPv4 → ICMP (+ `IPv4 (quoted)` and `UDP|TCP|ICMP (quoted)`
 * in errors) | TCP | UDP | IPv4 (IPIP) → Payload. `eth` false: a raw IP frame (no
 * link-layer header, a tun device's), whose stack begins at IPv4 (or IPv6). Never
 * throws; a layer that cannot be decoded ends the stack with `Truncated` or
 * `Malformed` ({layer, reason}).
 */
export function decodeLayers(frame: Uint8Array, off = 0, len = frame.length - off, eth = true): Layer[] {
  const out: Layer[] = [];
  try {
    len = Math.max(0, Math.min(len, frame.length - off));
    if (!eth) {
      const v = len >= 1 ? frame[off] >>> 4 : -1;
      if (v === 4) decodeIpv4(frame, off, len, out, 0);
      else if (v === 6) out.push({ name: 'IPv6', fields: { length: len } });
      else out.push({ name: len < 1 ? 'Truncated' : 'Malformed', fields: { layer: 'IP', reason: len < 1 ? 'truncated' : `IP version ${v}` } });
      return out;
    }
    if (len < ETH_HLEN) return [{ name: 'Truncated', fields: { layer: 'Ethernet', reason: 'truncated' } }];
    const type = u16(frame, off + 12);
    out.push({ name: 'Ethernet', fields: { dst: macToString(frame, off), src: macToString(frame, off + 6), ethertype: hex16(type) } });
    const p = off + ETH_HLEN;
    const plen = len - ETH_HLEN;
    if (type === ETH_P_ARP) {
      const r = checkArp(frame, p, plen);
      if (r) out.push({ name: r === 'truncated' ? 'Truncated' : 'Malformed', fields: { layer: 'ARP', reason: r } });
      else out.push({ name: 'ARP', fields: {
        op: arpOp(frame, p), sha: macToString(frame, p + ARP_SHA), spa: ipToString(arpSpa(frame, p)),
        tha: macToString(frame, p + ARP_THA), tpa: ipToString(arpTpa(frame, p)),
      } });
    } else if (type === ETH_P_IP) decodeIpv4(frame, p, plen, out, 0);
    else if (type === ETH_P_IPV6) out.push({ name: 'IPv6', fields: { length: plen } });
    else if (plen > 0) out.push({ name: 'Payload', fields: { length: plen } });
  } catch (e) {
    out.push({ name: 'Malformed', fields: { layer: 'unknown', reason: e instanceof Error ? e.message : String(e) } });
  }
  return out;
}
