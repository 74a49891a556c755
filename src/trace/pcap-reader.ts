/**
 * Reader for classic pcap (µs and ns magics, either byte order) and pcapng (SHB, IDB,
 * EPB, SPB, any byte order, several sections; other blocks are skipped). Used by tests
 * and by the kernel-conformance harness to compare tcpdump captures with ours. Not on
 * the hot path: it allocates freely and copies packet data.
 *
 * Timestamps: `timeNs` is a number and is exact only below 2^53 ns (~104 days) — our
 * virtual clock; real captures (epoch time) lose precision there, so `timeNsExact`
 * (bigint) is always given as well.
 *
 * Throws `CaptureFormatError` on unknown magic or a truncated/inconsistent block.
 */
import * as fs from 'node:fs';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US } from './pcap.js';
import { BT_EPB, BT_IDB, BT_SHB, BT_SPB, BYTE_ORDER_MAGIC, EPB_FLAGS, IF_NAME, IF_TSRESOL, OPT_COMMENT } from './pcapng.js';

export class CaptureFormatError extends Error {
  override name = 'CaptureFormatError';
}

export interface CapturedPacket {
  /** Timestamp in ns (exact below 2^53). */
  timeNs: number;
  /** Exact timestamp in ns. */
  timeNsExact: bigint;
  /** pcapng: interface id within its section. */
  ifIndex?: number;
  /** pcapng: the interface's if_name, when given. */
  ifName?: string;
  /** Link type of the packet's interface. */
  linktype: number;
  /** Captured bytes (a copy). */
  data: Uint8Array;
  /** Length on the wire. */
  origLen: number;
  /** pcapng opt_comment(s), joined with '\n' when several. */
  comment?: string;
  /** pcapng epb_flags. */
  flags?: number;
}

export interface CaptureInterfaceInfo {
  linktype: number;
  snaplen: number;
  name?: string;
  /** Timestamp units per second as (base, exponent): 10^9 for ns. */
  tsresol: number;
}

export interface Capture {
  format: 'pcap' | 'pcapng';
  /** File link type (pcap) or the first interface's link type (pcapng; 1 when none). */
  linktype: number;
  /** pcapng: interfaces of all sections, in order. */
  interfaces: CaptureInterfaceInfo[];
  /** pcapng: shb_userappl of the first section. */
  userAppl?: string;
  packets: CapturedPacket[];
}

/** Reads a capture file from disk. */
export function readCaptureFile(path: string): Capture {
  return readCapture(fs.readFileSync(path));
}

/** Parses a classic pcap or pcapng image (a Buffer is fine; packet data are plain Uint8Arrays). */
export function readCapture(input: Uint8Array): Capture {
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length < 4) throw new CaptureFormatError('capture too short');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) === BT_SHB) return readPcapng(bytes, dv);
  return readPcap(bytes, dv);
}

function readPcap(bytes: Uint8Array, dv: DataView): Capture {
  if (bytes.length < 24) throw new CaptureFormatError('pcap header truncated');
  let le: boolean;
  const m = dv.getUint32(0, true);
  if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS) le = true;
  else {
    const mb = dv.getUint32(0, false);
    if (mb !== PCAP_MAGIC_US && mb !== PCAP_MAGIC_NS) throw new CaptureFormatError(`unknown magic 0x${m.toString(16)}`);
    le = false;
  }
  const nsRes = dv.getUint32(0, le) === PCAP_MAGIC_NS;
  // Low 28 bits of the link type field are the link type (upper bits: FCS info).
  const linktype = dv.getUint32(20, le) & 0x0fffffff;
  const packets: CapturedPacket[] = [];
  let p = 24;
  while (p < bytes.length) {
    if (p + 16 > bytes.length) throw new CaptureFormatError(`record header truncated at ${p}`);
    const sec = dv.getUint32(p, le);
    const frac = dv.getUint32(p + 4, le);
    const incl = dv.getUint32(p + 8, le);
    const orig = dv.getUint32(p + 12, le);
    if (p + 16 + incl > bytes.length) throw new CaptureFormatError(`record data truncated at ${p}`);
    const exact = BigInt(sec) * 1_000_000_000n + BigInt(nsRes ? frac : frac * 1000);
    packets.push({ timeNs: Number(exact), timeNsExact: exact, linktype, data: bytes.slice(p + 16, p + 16 + incl), origLen: orig });
    p += 16 + incl;
  }
  return { format: 'pcap', linktype, interfaces: [], packets };
}

interface Opt {
  code: number;
  value: Uint8Array;
}

function readOptions(bytes: Uint8Array, dv: DataView, start: number, end: number, le: boolean): Opt[] {
  const out: Opt[] = [];
  let p = start;
  while (p + 4 <= end) {
    const code = dv.getUint16(p, le);
    const len = dv.getUint16(p + 2, le);
    if (code === 0) break;
    if (p + 4 + len > end) throw new CaptureFormatError(`option ${code} overruns block at ${p}`);
    out.push({ code, value: bytes.subarray(p + 4, p + 4 + len) });
    p += 4 + ((len + 3) & ~3);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8');

/** Units per second of an if_tsresol byte: MSB 0 → 10^v, MSB 1 → 2^(v & 0x7f). */
function tsresolPerSecond(v: number): bigint {
  return v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
}

function readPcapng(bytes: Uint8Array, dv: DataView): Capture {
  const interfaces: CaptureInterfaceInfo[] = [];
  const packets: CapturedPacket[] = [];
  let section: { le: boolean; ifs: (CaptureInterfaceInfo & { perSec: bigint })[] } | undefined;
  let userAppl: string | undefined;
  let p = 0;
  while (p < bytes.length) {
    if (p + 12 > bytes.length) throw new CaptureFormatError(`block header truncated at ${p}`);
    const type = dv.getUint32(p, true);
    let le = section?.le ?? true;
    if (type === BT_SHB) {
      const bom = dv.getUint32(p + 8, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (dv.getUint32(p + 8, false) === BYTE_ORDER_MAGIC) le = false;
      else throw new CaptureFormatError(`bad byte-order magic at ${p}`);
      section = { le, ifs: [] };
    } else if (!section) throw new CaptureFormatError('pcapng does not start with a section header block');
    const btype = dv.getUint32(p, le);
    const total = dv.getUint32(p + 4, le);
    if (total < 12 || total % 4 !== 0 || p + total > bytes.length) {
      throw new CaptureFormatError(`bad block length ${total} at ${p}`);
    }
    if (dv.getUint32(p + total - 4, le) !== total) throw new CaptureFormatError(`trailing block length mismatch at ${p}`);
    const end = p + total - 4;
    const sec = section!;
    if (btype === BT_SHB) {
      if (total < 28) throw new CaptureFormatError(`SHB too short at ${p}`);
      const major = dv.getUint16(p + 12, le);
      if (major !== 1) throw new CaptureFormatError(`unsupported pcapng major version ${major}`);
      for (const o of readOptions(bytes, dv, p + 24, end, le)) {
        if (o.code === 4 && userAppl === undefined) userAppl = utf8.decode(o.value);
      }
    } else if (btype === BT_IDB) {
      if (total < 20) throw new CaptureFormatError(`IDB too short at ${p}`);
      const ifc: CaptureInterfaceInfo & { perSec: bigint } = {
        linktype: dv.getUint16(p + 8, le),
        snaplen: dv.getUint32(p + 12, le),
        tsresol: 6,
        perSec: 1_000_000n,
      };
      for (const o of readOptions(bytes, dv, p + 16, end, le)) {
        if (o.code === IF_NAME) ifc.name = utf8.decode(o.value);
        else if (o.code === IF_TSRESOL && o.value.length >= 1) {
          ifc.tsresol = o.value[0];
          ifc.perSec = tsresolPerSecond(o.value[0]);
        }
      }
      sec.ifs.push(ifc);
      const { perSec: _p, ...pub } = ifc;
      interfaces.push(pub);
    } else if (btype === BT_EPB) {
      if (total < 32) throw new CaptureFormatError(`EPB too short at ${p}`);
      const ifIndex = dv.getUint32(p + 8, le);
      const ifc = sec.ifs[ifIndex];
      if (!ifc) throw new CaptureFormatError(`EPB at ${p} references undeclared interface ${ifIndex}`);
      const ts = (BigInt(dv.getUint32(p + 12, le)) << 32n) | BigInt(dv.getUint32(p + 16, le));
      const capLen = dv.getUint32(p + 20, le);
      const origLen = dv.getUint32(p + 24, le);
      const dataEnd = p + 28 + capLen;
      if (dataEnd > end) throw new CaptureFormatError(`EPB data overruns block at ${p}`);
      const exact = ifc.perSec === 1_000_000_000n ? ts : (ts * 1_000_000_000n) / ifc.perSec;
      const pkt: CapturedPacket = {
        timeNs: Number(exact),
        timeNsExact: exact,
        ifIndex,
        linktype: ifc.linktype,
        data: bytes.slice(p + 28, dataEnd),
        origLen,
      };
      if (ifc.name !== undefined) pkt.ifName = ifc.name;
      const comments: string[] = [];
      for (const o of readOptions(bytes, dv, p + 28 + ((capLen + 3) & ~3), end, le)) {
        if (o.code === OPT_COMMENT) comments.push(utf8.decode(o.value));
        else if (o.code === EPB_FLAGS && o.value.length === 4) pkt.flags = dv.getUint32(o.value.byteOffset - bytes.byteOffset, le);
      }
      if (comments.length) pkt.comment = comments.join('\n');
      packets.push(pkt);
    } else if (btype === BT_SPB) {
      const ifc = sec.ifs[0];
      if (!ifc) throw new CaptureFormatError(`SPB at ${p} without interface 0`);
      const origLen = dv.getUint32(p + 8, le);
      let capLen = Math.min(origLen, total - 16);
      if (ifc.snaplen > 0) capLen = Math.min(capLen, ifc.snaplen);
      const pkt: CapturedPacket = {
        timeNs: 0,
        timeNsExact: 0n,
        ifIndex: 0,
        linktype: ifc.linktype,
        data: bytes.slice(p + 12, p + 12 + capLen),
        origLen,
      };
      if (ifc.name !== undefined) pkt.ifName = ifc.name;
      packets.push(pkt);
    }
    p += total;
  }
  const cap: Capture = { format: 'pcapng', linktype: interfaces[0]?.linktype ?? 1, interfaces, packets };
  if (userAppl !== undefined) cap.userAppl = userAppl;
  return cap;
}
