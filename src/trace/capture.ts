/**
 * A set of capture files for one run: optionally one classic nanosecond pcap per
 * interface (`<node>__<netns>__<dev>.pcap`) and/or one combined pcapng (`all.pcapng`)
 * whose IDBs name each interface `node/netns/dev` and whose EPBs carry direction flags
 * and the trace step as packet comment.
 *
 * Streaming: the pcapng SHB is written at construction, an IDB when an interface
 * registers (pcapng allows IDBs anywhere before first use), an EPB per frame. Each
 * record goes into the file's buffer in one synchronous call, so a crashed run can
 * still publish whole records via `commitAllOpen()` from `atomic-file.ts`.
 *
 * Link types are per interface: LINKTYPE_ETHERNET (1) for Ethernet devices,
 * LINKTYPE_RAW (101) for L2-less ones (a tun device's frames begin with the IP header, as
 * tcpdump on it reports): in a classic pcap the file header carries it (one file per
 * interface), in the pcapng the interface's IDB.
 *
 * Deterministic: interface indices follow registration order; the same calls produce
 * byte-identical files. Nothing reads wall-clock time.
 */
import * as path from 'node:path';
import { AtomicFile } from './atomic-file.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PCAP_FILE_HEADER_LEN, PCAP_RECORD_HEADER_LEN, PCAP_SNAPLEN, writePcapFileHeader, writePcapRecordHeader } from './pcap.js';
import { EPB_DIR_INBOUND, EPB_DIR_OUTBOUND, SHORT_STRING, writeEpbCaptured, writeIdb, writeShb } from './pcapng.js';

export interface CaptureOptions {
  /** Output directory (created when missing). */
  dir: string;
  /** One classic pcap per interface. */
  pcap: boolean;
  /** One combined pcapng, `all.pcapng`. */
  pcapng: boolean;
  /** Snapshot length; longer frames are truncated (original length kept). Default 262144. */
  snaplen?: number;
  /** fsync files before publishing them. Default false. */
  fsync?: boolean;
}

export type CaptureDirection = 'in' | 'out';

export interface CaptureInterface {
  index: number;
  node: string;
  netns: string;
  dev: string;
  /** `node/netns/dev`, the pcapng if_name. */
  name: string;
  /** The pcap link type of its frames (LINKTYPE_ETHERNET or LINKTYPE_RAW). */
  linkType: number;
  /** Final path of the per-interface pcap, when `pcap` is on. */
  file?: string;
  packets: number;
}

/** File name for a per-interface pcap: `node__netns__dev.pcap`, unsafe characters as `_`. */
export function pcapFileName(node: string, netns: string, dev: string): string {
  return `${sanitize(node)}__${sanitize(netns)}__${sanitize(dev)}.pcap`;
}

/** Keeps `[A-Za-z0-9._-]`, replaces everything else with `_`; never returns '', '.' or '..'. */
export function sanitize(part: string): string {
  const s = part.replace(/[^A-Za-z0-9._-]/g, '_');
  if (s === '' || s === '.' || s === '..') return s.replace(/\./g, '_') || '_';
  return s;
}

export const PCAPNG_FILE_NAME = 'all.pcapng';

interface Iface extends CaptureInterface {
  out?: AtomicFile;
}

export class CaptureSet {
  readonly dir: string;
  private readonly opts: Required<Omit<CaptureOptions, 'dir'>>;
  private readonly byKey = new Map<string, number>();
  private readonly ifaces: Iface[] = [];
  private readonly usedNames = new Set<string>();
  private readonly ng?: AtomicFile;
  private closed?: { files: string[] };

  constructor(opts: CaptureOptions) {
    this.dir = path.resolve(opts.dir);
    this.opts = { pcap: opts.pcap, pcapng: opts.pcapng, snaplen: opts.snaplen ?? PCAP_SNAPLEN, fsync: opts.fsync ?? false };
    if (opts.pcapng) {
      this.ng = new AtomicFile(path.join(this.dir, PCAPNG_FILE_NAME), { fsync: this.opts.fsync });
      this.usedNames.add(PCAPNG_FILE_NAME);
      writeShb(this.ng);
    }
  }

  /**
   * Stable index of interface `node/netns/dev` (its pcapng interface id), registering it
   * on first use: writes its IDB and opens its pcap file, both with `linkType` (default
   * Ethernet; pass the device's own, `NetDevice.linkType`). Throws after close(), or for a
   * link type other than Ethernet or RAW.
   */
  iface(node: string, netns: string, dev: string, linkType: number = LINKTYPE_ETHERNET): number {
    const key = `${node}\u0000${netns}\u0000${dev}`;
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    if (this.closed) throw new Error('CaptureSet: closed');
    if (linkType !== LINKTYPE_ETHERNET && linkType !== LINKTYPE_RAW) throw new RangeError(`CaptureSet: unsupported link type ${linkType}`);
    const index = this.ifaces.length;
    const name = `${node}/${netns}/${dev}`;
    const ifc: Iface = { index, node, netns, dev, name, linkType, packets: 0 };
    if (this.opts.pcap) {
      let fname = pcapFileName(node, netns, dev);
      // Distinct interfaces can sanitise to the same name: suffix in registration order.
      for (let n = 2; this.usedNames.has(fname); n++) fname = pcapFileName(node, netns, dev).replace(/\.pcap$/, `~${n}.pcap`);
      this.usedNames.add(fname);
      ifc.out = new AtomicFile(path.join(this.dir, fname), { fsync: this.opts.fsync });
      ifc.file = ifc.out.path;
      const at = ifc.out.reserve(PCAP_FILE_HEADER_LEN);
      writePcapFileHeader(ifc.out.view, at, linkType, this.opts.snaplen);
      ifc.out.advance(PCAP_FILE_HEADER_LEN);
    }
    if (this.ng) writeIdb(this.ng, name, linkType, this.opts.snaplen);
    this.ifaces.push(ifc);
    this.byKey.set(key, index);
    return index;
  }

  /**
   * Records `frame[off..off+len)` seen on interface `ifIndex` at `timeNs`. The bytes are
   * written into the files' buffers before returning; the caller may reuse `frame`.
   * Throws RangeError on an unknown interface, a bad slice or a bad time (nothing written).
   */
  record(ifIndex: number, timeNs: number, frame: Uint8Array, off: number, len: number, dir: CaptureDirection, comment?: string): void {
    const n = comment ? this.encodeComment(comment) : 0;
    this.recordBytes(ifIndex, timeNs, frame, off, len, dir, n ? this.scratch : null, n);
  }

  /**
   * {@link record} with the packet comment as UTF-8 bytes, `comment[0..commentLen)` (none when
   * `commentLen` is 0): the same file bytes as `record` with the string those bytes encode.
   * The caller may reuse `comment` after the call.
   */
  recordBytes(ifIndex: number, timeNs: number, frame: Uint8Array, off: number, len: number, dir: CaptureDirection, comment: Uint8Array | null, commentLen: number): void {
    if (this.closed) throw new Error('CaptureSet: closed');
    const ifc = this.ifaces[ifIndex];
    if (ifc === undefined) throw new RangeError(`CaptureSet: unknown interface ${ifIndex}`);
    if (!(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= frame.length)) {
      throw new RangeError(`CaptureSet: frame slice [${off}, ${off + len}) outside buffer of ${frame.length}`);
    }
    if (!Number.isSafeInteger(timeNs) || timeNs < 0) throw new RangeError(`CaptureSet: bad time ${timeNs}`);
    const capLen = len < this.opts.snaplen ? len : this.opts.snaplen;
    // The captured bytes, one view for both files (and for the next record of the same bytes:
    // a frame is usually recorded as sent and again as received).
    let captured: Uint8Array;
    if (off === 0 && capLen === frame.length) captured = frame;
    else if (frame === this.viewOf && off === this.viewOff && capLen === this.view.length) captured = this.view;
    else { captured = this.view = frame.subarray(off, off + capLen); this.viewOf = frame; this.viewOff = off; }
    const out = ifc.out;
    if (out) {
      const n = PCAP_RECORD_HEADER_LEN + capLen;
      if (n <= out.maxReserve) {
        // Header and frame in one reservation.
        const at = out.reserve(n);
        writePcapRecordHeader(out.view, at, timeNs, capLen, len);
        out.buf.set(captured, at + PCAP_RECORD_HEADER_LEN);
        out.advance(n);
      } else {
        const at = out.reserve(PCAP_RECORD_HEADER_LEN);
        writePcapRecordHeader(out.view, at, timeNs, capLen, len);
        out.advance(PCAP_RECORD_HEADER_LEN);
        out.write(frame, off, capLen);
      }
    }
    if (this.ng) {
      writeEpbCaptured(this.ng, ifIndex, timeNs, captured, len, dir === 'in' ? EPB_DIR_INBOUND : EPB_DIR_OUTBOUND, commentLen > 0 ? comment : null, commentLen);
    }
    ifc.packets++;
  }

  /** The last view made of a frame's captured bytes, and of what (a view reads the bytes at use). */
  private view: Uint8Array = new Uint8Array(0);
  private viewOf: Uint8Array | null = null;
  private viewOff = -1;

  /** Scratch for a string comment's UTF-8 bytes (record). */
  private scratch = Buffer.alloc(256);

  /** Puts `s` as UTF-8 into `scratch`; returns its byte length. */
  private encodeComment(s: string): number {
    const n = s.length;
    if (n <= SHORT_STRING) {
      const b = this.scratch;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[i] = c;
      }
      if (i === n) return n;
    }
    const len = Buffer.byteLength(s, 'utf8');
    if (len > this.scratch.length) this.scratch = Buffer.alloc(Math.max(len, this.scratch.length * 2));
    this.scratch.write(s, 0, len, 'utf8');
    return len;
  }

  /** Registered interfaces in index order (copies). */
  interfaces(): CaptureInterface[] {
    return this.ifaces.map(({ out: _out, ...rest }) => ({ ...rest }));
  }

  /**
   * Publishes every file atomically (temp file renamed onto the final name) and returns
   * their final paths: `all.pcapng` first, then per-interface pcaps in registration order.
   * Idempotent.
   */
  close(): { files: string[] } {
    if (this.closed) return this.closed;
    const files: string[] = [];
    let err: unknown;
    const commit = (f: AtomicFile): void => {
      try {
        files.push(f.commit());
      } catch (e) {
        err ??= e;
      }
    };
    if (this.ng) commit(this.ng);
    for (const ifc of this.ifaces) if (ifc.out) commit(ifc.out);
    this.closed = { files };
    if (err !== undefined) throw err;
    return this.closed;
  }

  /** Deletes every temp file; nothing is published. */
  abort(): void {
    if (this.closed) return;
    this.ng?.abort();
    for (const ifc of this.ifaces) ifc.out?.abort();
    this.closed = { files: [] };
  }
}
