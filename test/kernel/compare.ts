/**
 * Frame-by-frame comparison of a kernel capture with podwire's capture of the same
 * interface, after normalising what is legitimately random or unfinished (pure).
 *
 * Normalised (both sides, each with its own per-interface state):
 *  - IPv4 identification → 0, then the IPv4 header checksum is recomputed (a wrong
 *    original IP header checksum is itself reported, see {@link NormalisedFrame.problems});
 *  - TCP sequence/ack numbers → relative to each direction's ISN (SYN seq, else the first
 *    seq seen in that direction);
 *  - TCP timestamp option: TSval → 1, TSecr → 0 if it was 0 else 1;
 *  - TCP/UDP/ICMP checksums → 0 (veth captures carry unfinished offload values); the
 *    model side's are verified instead when `verifyChecksums` names that side;
 *  - ICMP echo identifier → 0 and the first 16 payload bytes (ping's timeval) → 0;
 *  - ephemeral ports (32768..60999) → 65001, 65002, … in order of first appearance;
 *  - the same inside the packet quoted by an ICMP error (IP id/checksum, ports, seq,
 *    L4 checksum).
 * Everything else (MACs, lengths, ARP, TTL, DF, TOS, flags, windows, option layout,
 * payloads, quoting lengths) must be byte-identical.
 */

export interface Frame {
  data: Uint8Array;
  /** Optional one-line description (e.g. the `tcpdump -r` line for kernel frames). */
  summary?: string;
}

export interface FieldSpan {
  start: number;
  len: number;
  name: string;
}

export interface NormalisedFrame {
  bytes: Uint8Array;
  fields: FieldSpan[];
  /** Problems found while normalising (e.g. a bad IPv4 header checksum). */
  problems: string[];
}

export interface NormaliseOptions {
  /** Verify TCP/UDP/ICMP checksums before zeroing them (for the side that writes finished ones). */
  verifyChecksums?: boolean;
  /** Ephemeral port range, default [32768, 60999] (Linux ip_local_port_range). */
  ephemeral?: [number, number];
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 8) & 255;
  b[o + 1] = v & 255;
};
const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 24) & 255;
  b[o + 1] = (v >>> 16) & 255;
  b[o + 2] = (v >>> 8) & 255;
  b[o + 3] = v & 255;
};
const ip4 = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const mac = (b: Uint8Array, o: number): string => Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');

/** One's-complement sum of bytes (16-bit words), not folded/inverted. */
function sum16(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) & 1) s += b[end - 1]! << 8;
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
/** Internet checksum of b[start, end). */
export function inetChecksum(b: Uint8Array, start: number, end: number): number {
  return fold(sum16(b, start, end));
}

/** Per-interface normalisation state (one per side). */
export class Normaliser {
  private readonly isn = new Map<string, number>();
  private readonly ports = new Map<number, number>();
  private nextPort = 65001;
  private readonly eph: [number, number];
  constructor(private readonly opts: NormaliseOptions = {}) {
    this.eph = opts.ephemeral ?? [32768, 60999];
  }

  private mapPort(p: number): number {
    if (p < this.eph[0] || p > this.eph[1]) return p;
    let m = this.ports.get(p);
    if (m === undefined) {
      m = this.nextPort++;
      this.ports.set(p, m);
    }
    return m;
  }

  normalise(frame: Uint8Array): NormalisedFrame {
    const b = frame.slice();
    const fields: FieldSpan[] = [];
    const problems: string[] = [];
    const f = (start: number, len: number, name: string): void => {
      if (start + len <= b.length) fields.push({ start, len, name });
    };
    if (b.length < 14) return { bytes: b, fields, problems };
    f(0, 6, 'eth.dst');
    f(6, 6, 'eth.src');
    f(12, 2, 'eth.type');
    const type = u16(b, 12);
    if (type === 0x0806) {
      const names = ['arp.htype', 'arp.ptype', 'arp.hlen', 'arp.plen', 'arp.op', 'arp.sha', 'arp.spa', 'arp.tha', 'arp.tpa'];
      const lens = [2, 2, 1, 1, 2, 6, 4, 6, 4];
      let o = 14;
      names.forEach((n, i) => {
        f(o, lens[i]!, n);
        o += lens[i]!;
      });
      f(o, Math.max(0, b.length - o), 'eth.padding');
    } else if (type === 0x0800) {
      this.ipv4(b, 14, fields, problems, false);
    }
    return { bytes: b, fields, problems };
  }

  /** Normalises the IPv4 packet at `o`; `quoted` = inside an ICMP error (may be truncated). */
  private ipv4(b: Uint8Array, o: number, fields: FieldSpan[], problems: string[], quoted: boolean): void {
    const pre = quoted ? 'icmp.quoted.' : '';
    const f = (start: number, len: number, name: string): void => {
      if (start + len <= b.length) fields.push({ start, len, name: pre + name });
    };
    if (b.length < o + 20) return;
    const ihl = (b[o]! & 15) * 4;
    if (ihl < 20 || b.length < o + ihl) return;
    f(o, 1, 'ip.version_ihl');
    f(o + 1, 1, 'ip.tos');
    f(o + 2, 2, 'ip.total_length');
    f(o + 4, 2, 'ip.id');
    f(o + 6, 2, 'ip.flags_fragment');
    f(o + 8, 1, 'ip.ttl');
    f(o + 9, 1, 'ip.protocol');
    f(o + 10, 2, 'ip.checksum');
    f(o + 12, 4, 'ip.src');
    f(o + 16, 4, 'ip.dst');
    if (ihl > 20) f(o + 20, ihl - 20, 'ip.options');
    if (!quoted && inetChecksum(b, o, o + ihl) !== 0) problems.push(`bad IPv4 header checksum 0x${u16(b, o + 10).toString(16)}`);
    put16(b, o + 4, 0);
    put16(b, o + 10, 0);
    put16(b, o + 10, inetChecksum(b, o, o + ihl));
    const totalLen = u16(b, o + 2);
    const end = quoted ? b.length : Math.min(b.length, o + totalLen);
    const fragOff = u16(b, o + 6) & 0x1fff;
    if (fragOff !== 0) return;
    // A first fragment (MF set) holds only part of the datagram its L4 checksum covers.
    const verify = this.opts.verifyChecksums && !(u16(b, o + 6) & 0x2000);
    const proto = b[o + 9]!;
    const l4 = o + ihl;
    const src = ip4(b, o + 12);
    const dst = ip4(b, o + 16);
    const pseudo = (len: number): number => sum16(b, o + 12, o + 20) + proto + len;
    if (proto === 6 && end >= l4 + 20) {
      const sport = u16(b, l4);
      const dport = u16(b, l4 + 2);
      const doff = (b[l4 + 12]! >>> 4) * 4;
      f(l4, 2, 'tcp.sport');
      f(l4 + 2, 2, 'tcp.dport');
      f(l4 + 4, 4, 'tcp.seq');
      f(l4 + 8, 4, 'tcp.ack');
      f(l4 + 12, 1, 'tcp.data_offset');
      f(l4 + 13, 1, 'tcp.flags');
      f(l4 + 14, 2, 'tcp.window');
      f(l4 + 16, 2, 'tcp.checksum');
      f(l4 + 18, 2, 'tcp.urgent');
      if (doff > 20) f(l4 + 20, doff - 20, 'tcp.options');
      if (end > l4 + doff) f(l4 + doff, end - (l4 + doff), 'tcp.payload');
      if (!quoted && verify && fold(sum16(b, l4, end, pseudo(end - l4))) !== 0) {
        problems.push(`bad TCP checksum 0x${u16(b, l4 + 16).toString(16)}`);
      }
      const flags = b[l4 + 13]!;
      const key = `${src}:${sport}>${dst}:${dport}`;
      const rkey = `${dst}:${dport}>${src}:${sport}`;
      const seq = u32(b, l4 + 4);
      const ack = u32(b, l4 + 8);
      if (flags & 0x02 || !this.isn.has(key)) this.isn.set(key, seq);
      put32(b, l4 + 4, (seq - this.isn.get(key)!) >>> 0);
      if (flags & 0x10) {
        const r = this.isn.get(rkey);
        put32(b, l4 + 8, r === undefined ? 0 : (ack - r) >>> 0);
        if (r === undefined) fields.push({ start: l4 + 8, len: 4, name: pre + 'tcp.ack(no isn seen for the other direction)' });
      }
      put16(b, l4 + 16, 0);
      put16(b, l4, this.mapPort(sport));
      put16(b, l4 + 2, this.mapPort(dport));
      // Options.
      let p = l4 + 20;
      const oend = Math.min(end, l4 + doff);
      while (p < oend) {
        const kind = b[p]!;
        if (kind === 0) break;
        if (kind === 1) {
          p++;
          continue;
        }
        const len = b[p + 1] ?? 0;
        if (len < 2) break;
        if (kind === 8 && len === 10 && p + 10 <= oend) {
          f(p + 2, 4, 'tcp.option.tsval');
          f(p + 6, 4, 'tcp.option.tsecr');
          put32(b, p + 2, 1);
          put32(b, p + 6, u32(b, p + 6) === 0 ? 0 : 1);
        }
        p += len;
      }
    } else if (proto === 17 && end >= l4 + 8) {
      f(l4, 2, 'udp.sport');
      f(l4 + 2, 2, 'udp.dport');
      f(l4 + 4, 2, 'udp.length');
      f(l4 + 6, 2, 'udp.checksum');
      if (end > l4 + 8) f(l4 + 8, end - l4 - 8, 'udp.payload');
      if (!quoted && verify && u16(b, l4 + 6) !== 0 && fold(sum16(b, l4, end, pseudo(end - l4))) !== 0) {
        problems.push(`bad UDP checksum 0x${u16(b, l4 + 6).toString(16)}`);
      }
      put16(b, l4, this.mapPort(u16(b, l4)));
      put16(b, l4 + 2, this.mapPort(u16(b, l4 + 2)));
      put16(b, l4 + 6, 0);
    } else if (proto === 1 && end >= l4 + 8 && quoted) {
      // A quoted ICMP message: its checksum, echo id and timeval are as random as the original's.
      put16(b, l4 + 2, 0);
      if (b[l4] === 0 || b[l4] === 8) {
        put16(b, l4 + 4, 0);
        b.fill(0, l4 + 8, Math.min(end, l4 + 24));
      }
    } else if (proto === 1 && end >= l4 + 8) {
      const t = b[l4]!;
      f(l4, 1, 'icmp.type');
      f(l4 + 1, 1, 'icmp.code');
      f(l4 + 2, 2, 'icmp.checksum');
      if (verify && inetChecksum(b, l4, end) !== 0) problems.push(`bad ICMP checksum 0x${u16(b, l4 + 2).toString(16)}`);
      put16(b, l4 + 2, 0);
      if (t === 0 || t === 8) {
        f(l4 + 4, 2, 'icmp.echo.id');
        f(l4 + 6, 2, 'icmp.echo.seq');
        f(l4 + 8, Math.min(16, end - l4 - 8), 'icmp.echo.timeval');
        if (end > l4 + 24) f(l4 + 24, end - l4 - 24, 'icmp.echo.data');
        put16(b, l4 + 4, 0);
        b.fill(0, l4 + 8, Math.min(end, l4 + 24));
      } else if (t === 3 || t === 11 || t === 12 || t === 5) {
        f(l4 + 4, 4, 'icmp.rest_of_header');
        this.ipv4(b, l4 + 8, fields, problems, true);
      }
    }
    if (!quoted && b.length > end) f(end, b.length - end, 'eth.padding');
  }
}

/** A tcpdump-like one-line summary of an Ethernet frame (used for both sides). */
export function summarise(frame: Uint8Array): string {
  const b = frame;
  if (b.length < 14) return `short frame (${b.length} bytes)`;
  const head = `${mac(b, 6)} > ${mac(b, 0)} len ${b.length}`;
  const type = u16(b, 12);
  if (type === 0x0806 && b.length >= 42) {
    const op = u16(b, 20);
    return op === 1
      ? `${head} ARP who-has ${ip4(b, 38)} tell ${ip4(b, 28)}`
      : op === 2
        ? `${head} ARP reply ${ip4(b, 28)} is-at ${mac(b, 22)}`
        : `${head} ARP op ${op}`;
  }
  if (type !== 0x0800 || b.length < 34) return `${head} ethertype 0x${type.toString(16)}`;
  const o = 14;
  const ihl = (b[o]! & 15) * 4;
  const ipInfo = `tos 0x${b[o + 1]!.toString(16)} ttl ${b[o + 8]} id ${u16(b, o + 4)}${u16(b, o + 6) & 0x4000 ? ' DF' : ''} iplen ${u16(b, o + 2)}`;
  const src = ip4(b, o + 12);
  const dst = ip4(b, o + 16);
  const l4 = o + ihl;
  const proto = b[o + 9]!;
  if (proto === 6 && b.length >= l4 + 20) {
    const fl = b[l4 + 13]!;
    const flags = ['F', 'S', 'R', 'P', 'A', 'U', 'E', 'C'].filter((_, i) => fl & (1 << i)).join('');
    const doff = (b[l4 + 12]! >>> 4) * 4;
    const plen = u16(b, o + 2) - ihl - doff;
    return `${head} ${src}.${u16(b, l4)} > ${dst}.${u16(b, l4 + 2)} TCP [${flags}] seq ${u32(b, l4 + 4)} ack ${u32(b, l4 + 8)} win ${u16(b, l4 + 14)} optlen ${doff - 20} len ${plen} (${ipInfo})`;
  }
  if (proto === 17 && b.length >= l4 + 8) {
    return `${head} ${src}.${u16(b, l4)} > ${dst}.${u16(b, l4 + 2)} UDP len ${u16(b, l4 + 4) - 8} (${ipInfo})`;
  }
  if (proto === 1 && b.length >= l4 + 8) {
    const t = b[l4]!;
    const c = b[l4 + 1]!;
    const what = t === 8 ? `echo request id ${u16(b, l4 + 4)} seq ${u16(b, l4 + 6)}` : t === 0 ? `echo reply id ${u16(b, l4 + 4)} seq ${u16(b, l4 + 6)}` : t === 3 ? `unreachable code ${c}` : `type ${t} code ${c}`;
    return `${head} ${src} > ${dst} ICMP ${what} len ${u16(b, o + 2) - ihl} (${ipInfo})`;
  }
  return `${head} ${src} > ${dst} proto ${proto} (${ipInfo})`;
}

export interface FrameMismatch {
  index: number;
  kind: 'bytes' | 'length' | 'missing-in-model' | 'extra-in-model' | 'problem';
  /** First differing byte offset (bytes/length kinds). */
  offset?: number;
  field?: string;
  kernel?: string;
  model?: string;
  detail?: string;
}

export interface InterfaceComparison {
  iface: string;
  ok: boolean;
  kernelFrames: number;
  modelFrames: number;
  mismatches: FrameMismatch[];
}

export interface CompareOptions {
  /** Verify the model's L4 checksums (default true). */
  verifyModelChecksums?: boolean;
  /** Stop after this many mismatches (default 5). */
  maxMismatches?: number;
  ephemeral?: [number, number];
}

const fieldAt = (fields: FieldSpan[], off: number): string => {
  let best: FieldSpan | undefined;
  for (const s of fields) if (off >= s.start && off < s.start + s.len && (!best || s.len <= best.len)) best = s;
  return best ? `${best.name} (+${off - best.start})` : 'unknown field';
};

/** Compares one interface's frames, kernel vs model, one for one after normalising. */
export function compareInterface(iface: string, kernel: Frame[], model: Frame[], opts: CompareOptions = {}): InterfaceComparison {
  const nk = new Normaliser({ ephemeral: opts.ephemeral });
  const nm = new Normaliser({ ephemeral: opts.ephemeral, verifyChecksums: opts.verifyModelChecksums ?? true });
  const max = opts.maxMismatches ?? 5;
  const mismatches: FrameMismatch[] = [];
  const n = Math.max(kernel.length, model.length);
  const ks = (i: number): string => kernel[i]!.summary ?? summarise(kernel[i]!.data);
  const ms = (i: number): string => model[i]!.summary ?? summarise(model[i]!.data);
  for (let i = 0; i < n && mismatches.length < max; i++) {
    if (i >= model.length) {
      mismatches.push({ index: i, kind: 'missing-in-model', kernel: ks(i) });
      continue;
    }
    if (i >= kernel.length) {
      mismatches.push({ index: i, kind: 'extra-in-model', model: ms(i) });
      continue;
    }
    const a = nk.normalise(kernel[i]!.data);
    const b = nm.normalise(model[i]!.data);
    for (const p of b.problems) mismatches.push({ index: i, kind: 'problem', detail: `model: ${p}`, model: ms(i) });
    for (const p of a.problems) mismatches.push({ index: i, kind: 'problem', detail: `kernel: ${p}`, kernel: ks(i) });
    const len = Math.min(a.bytes.length, b.bytes.length);
    let off = -1;
    for (let j = 0; j < len; j++) {
      if (a.bytes[j] !== b.bytes[j]) {
        off = j;
        break;
      }
    }
    if (off < 0 && a.bytes.length !== b.bytes.length) {
      mismatches.push({ index: i, kind: 'length', offset: len, field: `frame length kernel ${a.bytes.length} model ${b.bytes.length}`, kernel: ks(i), model: ms(i) });
    } else if (off >= 0) {
      const hex = (x: NormalisedFrame): string => Array.from(x.bytes.subarray(off, off + 8), (v) => v.toString(16).padStart(2, '0')).join(' ');
      mismatches.push({
        index: i, kind: a.bytes.length !== b.bytes.length ? 'length' : 'bytes', offset: off, field: fieldAt(a.fields, off),
        kernel: ks(i), model: ms(i),
        detail: `normalised bytes at ${off}: kernel [${hex(a)}] model [${hex(b)}]${a.bytes.length !== b.bytes.length ? `; frame length kernel ${a.bytes.length} model ${b.bytes.length}` : ''}`,
      });
    }
  }
  return { iface, ok: mismatches.length === 0, kernelFrames: kernel.length, modelFrames: model.length, mismatches };
}

/** Human-readable report of comparisons (only failing interfaces in detail). */
export function formatComparison(results: InterfaceComparison[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`${r.ok ? 'OK  ' : 'FAIL'} ${r.iface}: kernel ${r.kernelFrames} frames, model ${r.modelFrames} frames`);
    for (const m of r.mismatches) {
      out.push(`  frame #${m.index}: ${m.kind}${m.offset !== undefined ? ` at byte ${m.offset}` : ''}${m.field ? ` [${m.field}]` : ''}`);
      if (m.kernel) out.push(`    kernel: ${m.kernel}`);
      if (m.model) out.push(`    model:  ${m.model}`);
      if (m.detail) out.push(`    ${m.detail}`);
    }
  }
  return out.join('\n');
}
