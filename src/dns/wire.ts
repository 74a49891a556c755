/**
 * DNS messages on the wire (RFC 1035 §4, RFC 6891 OPT, RFC 2782 SRV).
 *
 * Decoding is dns-packet's (it follows compression pointers, refuses forward
 * pointers, and knows every RR type a resolver or CoreDNS can send). Queries
 * are encoded with dns-packet too.
 *
 * Replies are packed here by {@link packMessage}, because CoreDNS's replies are
 * packed by miekg/dns with a rule dns-packet cannot reproduce: a reply that fits
 * is written with no name compression at all (CoreDNS leaves Msg.Compress off),
 * and one that does not fit is compressed and cut record by record
 * (Msg.Truncate). dns-packet never compresses. `packMessage(m, false)` gives the
 * same bytes as dns-packet's encode for the record types it handles (the tests
 * check this); `packMessage(m, true)` compresses owner names and the names in
 * CNAME/PTR/NS/SOA data (never SRV targets, RFC 2782), pointing at the first
 * occurrence of each suffix, as miekg does.
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question, RecordType } from 'dns-packet';

export type { Answer, DecodedPacket, Packet, Question, RecordType };

export const FLAG_QR = 0x8000;
export const FLAG_AA = 1 << 10;
export const FLAG_TC = 1 << 9;
export const FLAG_RD = 1 << 8;
export const FLAG_RA = 1 << 7;
export const FLAG_AD = 1 << 5;
export const FLAG_CD = 1 << 4;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;
export const RCODE_BADVERS = 16;

export const TYPE: Record<string, number> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255,
};

/** The 16-bit flags word's rcode (low 4 bits). */
export function rcodeOf(flags: number): number { return flags & 0xf; }

/** Decodes one DNS message; throws on malformed input. `bytes` is a view, not copied. */
export function decodeMessage(bytes: Uint8Array): DecodedPacket {
  return dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Encodes with dns-packet (no compression). */
export function encodeMessage(p: Packet): Uint8Array {
  return new Uint8Array(dnsPacket.encode(p));
}

/** The message a stub resolver sends: one question, the given header flags (RD for glibc). */
export function encodeQuery(id: number, name: string, type: RecordType, flags = FLAG_RD): Uint8Array {
  return encodeMessage({ type: 'query', id, flags, questions: [{ name, type, class: 'IN' }] });
}

/** Name without its trailing dot ("." stays "."), as dns-packet gives names. */
export function trimDot(name: string): string {
  return name.length > 1 && name.endsWith('.') ? name.slice(0, -1) : name;
}

// ── packing (miekg/dns's rules) ──

const MAX_PTR_OFFSET = 0x3fff;

class Packer {
  buf = new Uint8Array(512);
  len = 0;
  /** Name suffix (exact case) → offset of its first occurrence; null when compression is off. */
  constructor(readonly names: Map<string, number> | null) {}
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): void { this.ensure(1); this.buf[this.len++] = v & 0xff; }
  u16(v: number): void { this.ensure(2); this.buf[this.len++] = (v >>> 8) & 0xff; this.buf[this.len++] = v & 0xff; }
  u32(v: number): void { this.u16((v >>> 16) & 0xffff); this.u16(v & 0xffff); }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; }
  /** A domain name; `compress` says whether this name may use a pointer. */
  name(n: string, compress: boolean): void {
    const labels = n === '.' || n === '' ? [] : trimDot(n).split('.');
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.');
      if (this.names) {
        const at = this.names.get(suffix);
        if (at !== undefined && compress) { this.u16(0xc000 | at); return; }
        if (at === undefined && this.len <= MAX_PTR_OFFSET) this.names.set(suffix, this.len);
      }
      const lb = new TextEncoder().encode(labels[i]);
      if (lb.length === 0 || lb.length > 63) throw new Error(`bad label in ${n}`);
      this.u8(lb.length);
      this.bytes(lb);
    }
    this.u8(0);
  }
}

function ipv4Bytes(s: string): Uint8Array {
  const p = s.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad IPv4 ${s}`);
  return Uint8Array.from(p);
}

function classOf(a: Answer): number {
  const c = (a as { class?: string }).class ?? 'IN';
  return c === 'IN' ? 1 : c === 'CH' ? 3 : c === 'HS' ? 4 : c === 'ANY' ? 255 : 1;
}

function packRR(p: Packer, a: Answer): void {
  if (a.type === 'OPT') {
    p.u8(0); // root
    p.u16(TYPE.OPT);
    p.u16(a.udpPayloadSize);
    p.u8(a.extendedRcode ?? 0);
    p.u8(a.ednsVersion ?? 0);
    p.u16(a.flags ?? 0);
    const start = p.len;
    p.u16(0);
    for (const o of a.options ?? []) {
      const data = o.data ?? new Uint8Array(0);
      p.u16(o.code);
      p.u16(data.length);
      p.bytes(data);
    }
    const rdlen = p.len - start - 2;
    p.buf[start] = rdlen >>> 8; p.buf[start + 1] = rdlen & 0xff;
    return;
  }
  const t = TYPE[a.type];
  if (t === undefined) throw new Error(`packMessage: record type ${a.type} not supported`);
  p.name(a.name, true);
  p.u16(t);
  p.u16(classOf(a));
  p.u32(a.ttl ?? 0);
  const start = p.len;
  p.u16(0);
  switch (a.type) {
    case 'A': p.bytes(ipv4Bytes(a.data)); break;
    case 'AAAA': throw new Error('packMessage: AAAA data not supported (IPv4-only cluster)');
    case 'CNAME': case 'PTR': case 'NS': p.name(a.data, true); break;
    case 'SRV': p.u16(a.data.priority ?? 0); p.u16(a.data.weight ?? 0); p.u16(a.data.port); p.name(a.data.target, false); break;
    case 'SOA':
      p.name(a.data.mname, true); p.name(a.data.rname, true);
      p.u32(a.data.serial ?? 0); p.u32(a.data.refresh ?? 0); p.u32(a.data.retry ?? 0); p.u32(a.data.expire ?? 0); p.u32(a.data.minimum ?? 0);
      break;
    case 'TXT': {
      const parts = Array.isArray(a.data) ? a.data : [a.data];
      for (const s of parts) {
        const b = typeof s === 'string' ? new TextEncoder().encode(s) : new Uint8Array(s);
        p.u8(b.length); p.bytes(b);
      }
      break;
    }
    default: throw new Error(`packMessage: record type ${a.type} not supported`);
  }
  const rdlen = p.len - start - 2;
  p.buf[start] = rdlen >>> 8; p.buf[start + 1] = rdlen & 0xff;
}

/** A message as CoreDNS builds one: header fields, one question, three sections. */
export interface Msg {
  id: number;
  /** The 16-bit flags word without QR/rcode bits: AA, TC, RD, RA, AD, CD, opcode. */
  flags: number;
  rcode: number;
  response: boolean;
  questions: Question[];
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

function packHeader(p: Packer, m: Msg, counts: [number, number, number, number]): void {
  p.u16(m.id);
  p.u16((m.response ? FLAG_QR : 0) | (m.flags & 0x7ff0) | (m.rcode & 0xf));
  for (const c of counts) p.u16(c);
}

/** Packs `m`, compressing names when `compress` (miekg/dns Msg.Pack). */
export function packMessage(m: Msg, compress: boolean): Uint8Array {
  const p = new Packer(compress ? new Map() : null);
  packHeader(p, m, [m.questions.length, m.answers.length, m.authorities.length, m.additionals.length]);
  for (const q of m.questions) {
    p.name(q.name, true);
    p.u16(TYPE[q.type] ?? 0);
    p.u16(q.class === undefined || q.class === 'IN' ? 1 : classOf(q as unknown as Answer));
  }
  for (const sec of [m.answers, m.authorities, m.additionals]) for (const a of sec) packRR(p, a);
  return p.buf.slice(0, p.len);
}

/** Length of each record when packed in order after the header and question (compressed). */
function compressedLengths(m: Msg): { header: number; rr: number[][] } {
  const p = new Packer(new Map());
  packHeader(p, m, [0, 0, 0, 0]);
  for (const q of m.questions) { p.name(q.name, true); p.u16(0); p.u16(0); }
  const header = p.len;
  const rr: number[][] = [];
  for (const sec of [m.answers, m.authorities, m.additionals]) {
    const lens: number[] = [];
    for (const a of sec) { const before = p.len; packRR(p, a); lens.push(p.len - before); }
    rr.push(lens);
  }
  return { header, rr };
}

/**
 * miekg/dns Msg.Truncate followed by Pack: a reply that fits `size` uncompressed is
 * sent uncompressed; otherwise it is compressed, the OPT record set aside, and each
 * section filled in order until the next record would pass `size`; TC is set when
 * any record was left out. `size` below 512 counts as 512. Over UDP, a reply
 * that fits but is above 1480 bytes is compressed too (CoreDNS's request.Scrub).
 */
export function packReply(m: Msg, size: number, udp = false): Uint8Array {
  if (size < 512) size = 512;
  const plain = packMessage(m, false);
  // request.Scrub: a UDP reply above 1480 bytes is compressed even when it fits.
  if (plain.length <= size) return udp && plain.length > 1480 ? packMessage(m, true) : plain;
  const opt = m.additionals.find((a) => a.type === 'OPT');
  const rest: Msg = { ...m, additionals: m.additionals.filter((a) => a !== opt) };
  if (opt) size -= 11 + ((opt.type === 'OPT' ? opt.options ?? [] : []).reduce((n, o) => n + 4 + (o.data?.length ?? 0), 0));
  const lens = compressedLengths(rest);
  let l = lens.header;
  const keep: number[] = [0, 0, 0];
  const secs = [rest.answers, rest.authorities, rest.additionals];
  for (let s = 0; s < 3; s++) {
    if (l >= size) break;
    let n = secs[s].length;
    for (let i = 0; i < secs[s].length; i++) {
      l += lens.rr[s][i];
      if (l > size) { l = size; n = i; break; }
      if (l === size) { n = i + 1; break; }
    }
    keep[s] = n;
  }
  const truncated = keep[0] < secs[0].length || keep[1] < secs[1].length || keep[2] < secs[2].length;
  const out: Msg = {
    ...rest,
    flags: rest.flags | (truncated ? FLAG_TC : 0),
    answers: secs[0].slice(0, keep[0]),
    authorities: secs[1].slice(0, keep[1]),
    additionals: [...secs[2].slice(0, keep[2]), ...(opt ? [opt] : [])],
  };
  return packMessage(out, true);
}
