/**
 * The run's frames for the report: all.pcapng read back, each record's comment
 * (`#ID[ carrying #INNER] xmit|recv node/netns/dev[ [flow]]`, scenario/captures.ts)
 * parsed, the per-interface pcap file and frame number of each record worked out,
 * its layers decoded (overlay payloads included: VXLAN, flannel's UDP, IPIP), and
 * each trace event tied to the frame that shows its packet as it was at that point.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCaptureFile, type CapturedPacket } from '../trace/pcap-reader.js';
import { PCAPNG_FILE_NAME, pcapFileName } from '../trace/capture.js';
import { LINKTYPE_RAW } from '../trace/pcap.js';
import type { TraceEvent } from '../trace/events.js';
import { decodeLayers, summarize, type Layer } from '../wire/summary.js';
import { u16 } from '../wire/bytes.js';
import { BGP_HEADER_LEN, BGP_PORT, BGP_UPDATE, bgpSummary, decodeBgp } from '../wire/bgp.js';

export interface FrameComment {
  id: number;
  innerId: number;
  dir: 'xmit' | 'recv';
  /** `node/netns/dev`. */
  dev: string;
  flow?: string;
}

const COMMENT_RE = /^#(\d+)(?: carrying #(\d+))? (xmit|recv) (\S+)(?: \[(.*)\])?$/;

/** Parses a frame comment; null when it is not one of ours. */
export function parseFrameComment(c: string | undefined): FrameComment | null {
  if (!c) return null;
  const m = COMMENT_RE.exec(c);
  if (!m) return null;
  const f: FrameComment = { id: Number(m[1]), innerId: m[2] ? Number(m[2]) : 0, dir: m[3] as 'xmit' | 'recv', dev: m[4] };
  if (m[5] !== undefined) f.flow = m[5];
  return f;
}

/** A decoded layer stack; an overlay's payload is its own stack inside (a packet inside a packet). */
export interface DecodedFrame {
  layers: Layer[];
  inner?: { via: string; frame: DecodedFrame };
}

const VXLAN_HLEN = 8;

/**
 * Decodes a frame; when the comment says it carries another packet, the carried one too:
 * a UDP payload starting with VXLAN's I flag (0x08) is VXLAN + an Ethernet frame, one
 * starting with an IPv4 version nibble is flannel's UDP backend (a bare IP packet); an
 * IPv4 packet with protocol 4 is IPIP (decodeLayers already stacks the inner IPv4: it
 * is split off here so it draws inside).
 */
export function decodeFrame(data: Uint8Array, eth: boolean, carrying: boolean): DecodedFrame {
  const layers = decodeLayers(data, 0, data.length, eth);
  // IPIP: the first IPv4 with protocol 4 ends the outer stack.
  const ipip = layers.findIndex((l) => l.name === 'IPv4' && l.fields.protocol === 4);
  if (ipip >= 0 && ipip + 1 < layers.length && layers[ipip + 1].name === 'IPv4') {
    return { layers: layers.slice(0, ipip + 1), inner: { via: 'IPIP', frame: { layers: layers.slice(ipip + 1) } } };
  }
  const tcp = layers.findIndex((l) => l.name === 'TCP');
  if (tcp >= 0 && (layers[tcp].fields.srcPort === BGP_PORT || layers[tcp].fields.dstPort === BGP_PORT)) {
    const bgp = bgpLayer(data, eth);
    const pay = layers.findIndex((l, k) => k > tcp && l.name === 'Payload');
    if (bgp && pay > 0) layers[pay] = bgp;
    return { layers };
  }
  const udp = layers.findIndex((l) => l.name === 'UDP');
  if (!carrying || udp < 0) return { layers };
  const off = udpPayloadOffset(data, eth);
  if (off < 0 || off >= data.length) return { layers };
  const outer = layers.slice(0, udp + 1);
  if (data[off] === 0x08 && off + VXLAN_HLEN <= data.length) {
    const vni = (data[off + 4] << 16) | (data[off + 5] << 8) | data[off + 6];
    outer.push({ name: 'VXLAN', fields: { flags: '0x08', vni } });
    return { layers: outer, inner: { via: 'VXLAN', frame: decodeFrame(data.subarray(off + VXLAN_HLEN), true, false) } };
  }
  if (data[off] >>> 4 === 4) return { layers: outer, inner: { via: 'flannel UDP', frame: decodeFrame(data.subarray(off), false, false) } };
  return { layers };
}

/**
 * The BGP messages in a TCP segment to or from port 179, one field per message: the header
 * (type, length) always; OPEN, KEEPALIVE and NOTIFICATION decoded whole; an UPDATE only by
 * size, since its AS paths and path ids read differently with the session's AS4 and ADD-PATH
 * capabilities, which one segment does not show (the trace's bgp.update lines have them).
 */
function bgpLayer(d: Uint8Array, eth: boolean): Layer | null {
  const nh = eth ? 14 : 0;
  if (d.length < nh + 20) return null;
  const l4 = nh + (d[nh] & 15) * 4;
  const end = Math.min(d.length, nh + u16(d, nh + 2));
  let p = l4 + ((d[l4 + 12] >>> 4) << 2);
  if (p >= end) return null;
  const fields: Record<string, string | number> = {};
  let n = 0;
  while (p < end) {
    const key = `message ${++n}`;
    if (end - p < BGP_HEADER_LEN || d.subarray(p, p + 16).some((x) => x !== 0xff)) { fields[key] = `${end - p} bytes: the rest of a message begun in an earlier segment, or not BGP`; break; }
    const len = u16(d, p + 16);
    const type = d[p + 18];
    if (len < BGP_HEADER_LEN) { fields[key] = `malformed header (length ${len})`; break; }
    if (p + len > end) { fields[key] = `type ${type}, length ${len}: continues in the next segment`; break; }
    if (type === BGP_UPDATE) fields[key] = `UPDATE, length ${len}`;
    else {
      try { fields[key] = `${bgpSummary(decodeBgp(d.subarray(p, p + len)))}, length ${len}`; } catch (e) { fields[key] = `type ${type}, length ${len}: ${e instanceof Error ? e.message : String(e)}`; }
    }
    p += len;
  }
  return { name: 'BGP', fields };
}

/** Offset of the UDP payload in an Ethernet or raw IPv4 frame, or −1. */
function udpPayloadOffset(d: Uint8Array, eth: boolean): number {
  const nh = eth ? 14 : 0;
  if (d.length < nh + 20) return -1;
  if (eth && u16(d, 12) !== 0x0800) return -1;
  if (d[nh] >>> 4 !== 4 || d[nh + 9] !== 17) return -1;
  return nh + (d[nh] & 15) * 4 + 8;
}

export interface FrameRecord {
  /** all.pcapng frame number (1-based, as Wireshark numbers frames). */
  no: number;
  timeNs: number;
  /** The interface, `node/netns/dev`. */
  iface: string;
  /** Its per-interface pcap file (name in the capture directory), when that file exists. */
  file?: string;
  /** Frame number in that file. */
  fileNo: number;
  comment: FrameComment | null;
  /** tcpdump-style one-line summary. */
  summary: string;
  decoded: DecodedFrame;
  /** Bytes captured and on the wire. */
  capLen: number;
  origLen: number;
}

/**
 * Per-interface file names in interface registration order (the IDB order of all.pcapng),
 * with CaptureSet's suffix for names that sanitise alike.
 */
export function perInterfaceFiles(ifNames: readonly string[]): string[] {
  const used = new Set<string>([PCAPNG_FILE_NAME]);
  return ifNames.map((n) => {
    const [node, netns, ...rest] = n.split('/');
    const base = pcapFileName(node, netns ?? '', rest.join('/'));
    let f = base;
    for (let k = 2; used.has(f); k++) f = base.replace(/\.pcap$/, `~${k}.pcap`);
    used.add(f);
    return f;
  });
}

/** Reads `captureDir/all.pcapng` into frame records (none when the file is absent). */
export function readFrames(captureDir: string): FrameRecord[] {
  const file = path.join(captureDir, PCAPNG_FILE_NAME);
  if (!fs.existsSync(file)) return [];
  const cap = readCaptureFile(file);
  const names = cap.interfaces.map((i, k) => i.name ?? `if${k}`);
  const files = perInterfaceFiles(names);
  const exists = files.map((f) => fs.existsSync(path.join(captureDir, f)));
  const counts = new Array<number>(names.length).fill(0);
  return cap.packets.map((p: CapturedPacket, k) => {
    const ifx = p.ifIndex ?? 0;
    const comment = parseFrameComment(p.comment);
    const eth = p.linktype !== LINKTYPE_RAW;
    const r: FrameRecord = {
      no: k + 1, timeNs: p.timeNs, iface: names[ifx], fileNo: ++counts[ifx], comment,
      summary: summarize(p.data, 0, p.data.length, eth), decoded: decodeFrame(p.data, eth, !!comment?.innerId),
      capLen: p.data.length, origLen: p.origLen,
    };
    if (exists[ifx]) r.file = files[ifx];
    return r;
  });
}

/**
 * For each event, the index (into `frames`) of the frame holding its packet as it was at
 * that event, or −1. A dev.xmit / dev.recv event is the frame the tap recorded for it
 * (the same packet, carried packet, direction and device: the tap records just before the
 * event, so the n-th such event of a key is the n-th frame of that key). Any other event of
 * a packet shows the last frame of that packet recorded at or before it — a rewrite made
 * since (NAT, TTL) shows in the next frame, not in this one; a packet not captured yet (made
 * at this step: an encapsulation's outer packet) shows its first frame after it. A frame no event stands for
 * (a bridge passing a frame up to itself) counts from the first event of its packet on its
 * device after the frame before it.
 */
export interface EventFrames {
  /** Per event: the frame index, or −1. */
  frame: Int32Array;
  /** Per event: how the frame relates to it — FRAME_OWN, FRAME_BEFORE or FRAME_AFTER. */
  rel: Int8Array;
}
/** The frame the event's own capture made (dev.xmit / dev.recv). */
export const FRAME_OWN = 0;
/** The packet's last frame at or before the event. */
export const FRAME_BEFORE = 1;
/** The packet's first frame after the event (it had none before: made here, e.g. an encapsulation's outer packet). */
export const FRAME_AFTER = 2;

export function mapEventsToFrames(events: readonly TraceEvent[], frames: readonly FrameRecord[]): EventFrames {
  const out = new Int32Array(events.length).fill(-1);
  const rel = new Int8Array(events.length);
  if (frames.length === 0) return { frame: out, rel };
  const key = (id: number, inner: number, dir: string, dev: string) => `${id}|${inner}|${dir}|${dev}`;
  const queues = new Map<string, number[]>();
  const heads = new Map<string, number>();
  for (let i = 0; i < frames.length; i++) {
    const c = frames[i].comment;
    if (!c) continue;
    const k = key(c.id, c.innerId, c.dir, c.dev);
    let q = queues.get(k);
    if (!q) queues.set(k, (q = []));
    q.push(i);
  }
  // Matched frames first: frame index → event index.
  const matchedAt = new Int32Array(frames.length).fill(-1);
  for (let e = 0; e < events.length; e++) {
    const ev = events[e];
    if (ev.stage !== 'dev.xmit' && ev.stage !== 'dev.recv') continue;
    const k = key(ev.packetId, ev.innerId, ev.stage === 'dev.xmit' ? 'xmit' : 'recv', `${ev.node}/${ev.netns}/${ev.dev}`);
    const q = queues.get(k);
    if (!q) continue;
    const h = heads.get(k) ?? 0;
    if (h >= q.length) continue;
    heads.set(k, h + 1);
    matchedAt[q[h]] = e;
    out[e] = q[h];
  }
  // Each frame's position in the event order: its event, or (unmatched) the first event of its packet on its device after the previous matched frame's event.
  const pos = new Int32Array(frames.length).fill(-1);
  let prevEv = -1;
  const firstAt = (from: number, id: number, dev: string): number => {
    for (let e = from; e < events.length; e++) {
      const ev = events[e];
      if (ev.packetId === id && `${ev.node}/${ev.netns}/${ev.dev}` === dev) return e;
      if (e - from > 4096) break; // bounded look-ahead: a packet's events follow its frame closely
    }
    return -1;
  };
  for (let i = 0; i < frames.length; i++) {
    if (matchedAt[i] >= 0) { pos[i] = prevEv = matchedAt[i]; continue; }
    const c = frames[i].comment;
    if (c) pos[i] = firstAt(prevEv + 1, c.id, c.dev);
  }
  // Frames by packet id in position order; then each event takes its packet's last frame at or before it.
  const byPos: number[] = [];
  for (let i = 0; i < frames.length; i++) if (pos[i] >= 0) byPos.push(i);
  byPos.sort((a, b) => pos[a] - pos[b] || a - b);
  const last = new Map<number, number>();
  let j = 0;
  for (let e = 0; e < events.length; e++) {
    while (j < byPos.length && pos[byPos[j]] <= e) {
      const c = frames[byPos[j]].comment!;
      last.set(c.id, byPos[j]);
      j++;
    }
    if (out[e] >= 0) continue;
    const id = events[e].packetId;
    if (id === 0) continue;
    const f = last.get(id);
    if (f !== undefined) { out[e] = f; rel[e] = FRAME_BEFORE; }
  }
  // A packet with no frame yet (made at this step) shows as it was first captured after it.
  const next = new Map<number, number>();
  j = byPos.length - 1;
  for (let e = events.length - 1; e >= 0; e--) {
    while (j >= 0 && pos[byPos[j]] > e) { next.set(frames[byPos[j]].comment!.id, byPos[j]); j--; }
    if (out[e] >= 0 || events[e].packetId === 0) continue;
    const f = next.get(events[e].packetId);
    if (f !== undefined) { out[e] = f; rel[e] = FRAME_AFTER; }
  }
  return { frame: out, rel };
}
