/**
 * Trace renderers. Text: one line per event, like an iptables TRACE or pwru
 * line — time, packet id (and the packet it carries), where, what, why.
 * Events of an encapsulated packet are indented under their carrier.
 * NDJSON: one JSON object per event, keys in a fixed order.
 */
import type { DropReason, TraceEvent, TraceSink, Verdict } from './events.js';
import { formatTime } from '../engine/time.js';

export function renderText(ev: TraceEvent): string {
  return renderTextFields(ev.time, ev.node, ev.netns, ev.dev, ev.packetId, ev.innerId, ev.stage, ev.detail, ev.verdict, ev.reason, ev.flow);
}

/*
 * The line up to the detail is `time id ` (the same for a packet's events at one
 * instant) and `place stage ` (a place meets a few stages), each padded: both are
 * kept — the first for the last time and ids, the second per place and stage — and
 * so is their concatenation while neither changes.
 */
let hTime = -1, hId = -1, hInner = -1, hText = '', hVer = 0;
let wNode: string | null = null, wNetns = '', wDev = '', wPlace: Place | null = null;
let sPlace: Place | null = null, sStage = '', sText = '', sVer = 0;
// Versions, not the texts, are compared: two texts made apart are distinct strings, and
// comparing them would compare (and first flatten) their characters.
let pH = -1, pS = -1, pText = '';

/** renderText of the event with these fields. */
export function renderTextFields(
  time: number, node: string, netns: string, dev: string, packetId: number, innerId: number,
  stage: string, detail: string, verdict: Verdict | undefined, reason: DropReason | undefined, flow: string | undefined,
): string {
  if (time !== hTime || packetId !== hId || innerId !== hInner) {
    const id = innerId ? innerIdText(packetId, innerId) : packetId ? idText(packetId) : '-     ';
    hText = `${timeText(time)} ${id} `;
    hTime = time; hId = packetId; hInner = innerId; hVer++;
  }
  let place = wPlace;
  if (place === null || node !== wNode || netns !== wNetns || dev !== wDev) {
    place = wPlace = nextPlace(place, node, netns, dev);
    wNode = node; wNetns = netns; wDev = dev;
  }
  if (place !== sPlace || stage !== sStage) {
    let t: string | undefined;
    if (stage === place.lastStage) t = place.lastText;
    else {
      t = place.stages.get(stage);
      if (t === undefined) {
        t = `${place.text} ${stageText(stage)} `;
        if (place.stages.size < 256) place.stages.set(stage, t);
      }
      place.lastStage = stage; place.lastText = t;
    }
    sPlace = place; sStage = stage; sText = t; sVer++;
  }
  if (hVer !== pH || sVer !== pS) { pH = hVer; pS = sVer; pText = hText + sText; }
  let line = pText + detail;
  if (verdict) line += verdictText(verdict, reason);
  if (flow) line += ` [${flow}]`;
  return line;
}

const verdicts = new Map<string, string>();
/** ` → VERDICT[ (REASON)]` (a small vocabulary). */
function verdictText(verdict: Verdict, reason: DropReason | undefined): string {
  const key = reason ? `${verdict} ${reason}` : verdict;
  let t = verdicts.get(key);
  if (t === undefined) {
    t = ` → ${verdict.toUpperCase()}${reason ? ` (${reason})` : ''}`;
    if (verdicts.size < 1024) verdicts.set(key, t);
  }
  return t;
}

/*
 * The fixed-width fields of a text line, cached: the events of one packet share
 * its time, ids and (mostly) its place, and stages are a small vocabulary, so
 * a line is mostly concatenated from strings already made. Each cache returns
 * exactly what the plain formatting gives.
 */

let lastTime = -1, lastTimeText = '';
/** formatTime of the last time asked for (events come in time order, many at one instant). */
function timeText(t: number): string {
  if (t !== lastTime) { lastTime = t; lastTimeText = formatTime(t); }
  return lastTimeText;
}

let lastId = -1, lastIdText = '';
const PADS = ['', ' ', '  ', '   ', '    ', '     '];
/** `#id` padded to 6 (the packet's events mostly follow each other). */
function idText(id: number): string {
  if (id !== lastId) {
    lastId = id;
    const t = '#' + id;
    lastIdText = t.length < 6 ? t + PADS[6 - t.length] : t;
  }
  return lastIdText;
}

let lastOuter = -1, lastInner = -1, lastInnerText = '';
/** An encapsulating packet's indented `#id(⊃#inner)`, padded to 6. */
function innerIdText(id: number, inner: number): string {
  if (id !== lastOuter || inner !== lastInner) {
    lastOuter = id; lastInner = inner;
    // `#I(⊃#J)` is at least 7 characters: no padding.
    lastInnerText = id ? '  #' + id + '(⊃#' + inner + ')' : '  -     ';
  }
  return lastInnerText;
}

/**
 * A place's `node/netns[/dev]` padded to 34, its `place stage ` texts by stage (and the last
 * one asked for), and the two places that last followed it (nextPlace).
 */
interface Place {
  node: string; netns: string; dev: string; text: string;
  stages: Map<string, string>; lastStage: string | null; lastText: string;
  next1: Place | null; next2: Place | null;
  /** Held by the maps (they are bounded). */
  kept: boolean;
}

/**
 * The place after `prev`: a packet's events move along its path in the same order every
 * time, so each place remembers the two places that last followed it and they are tried
 * before the maps.
 */
function nextPlace(prev: Place | null, node: string, netns: string, dev: string): Place {
  if (prev !== null) {
    const a = prev.next1;
    if (a !== null && a.dev === dev && a.netns === netns && a.node === node) return a;
    const b = prev.next2;
    if (b !== null && b.dev === dev && b.netns === netns && b.node === node) { prev.next2 = a; prev.next1 = b; return b; }
  }
  const p = placeOf(node, netns, dev);
  // Only places kept in the maps are linked (the links hold them).
  if (prev !== null && p.kept) { prev.next2 = prev.next1; prev.next1 = p; }
  return p;
}

/** node → netns → dev → Place. */
const places = new Map<string, Map<string, Map<string, Place>>>();

function placeOf(node: string, netns: string, dev: string): Place {
  let byNs = places.get(node);
  if (byNs === undefined) { byNs = new Map(); places.set(node, byNs); }
  let byDev = byNs.get(netns);
  if (byDev === undefined) { byDev = new Map(); byNs.set(netns, byDev); }
  let t = byDev.get(dev);
  if (t === undefined) {
    t = {
      node, netns, dev, text: (dev ? `${node}/${netns}/${dev}` : `${node}/${netns}`).padEnd(34),
      stages: new Map(), lastStage: null, lastText: '', next1: null, next2: null, kept: false,
    };
    // Bounded: names come from the scenario, but a long run could create many namespaces.
    if (byDev.size < 4096) { byDev.set(dev, t); t.kept = true; }
  }
  return t;
}

const stages = new Map<string, string>();
/** The stage padded to 16 (stages are a fixed vocabulary). */
function stageText(stage: string): string {
  let t = stages.get(stage);
  if (t === undefined) {
    t = stage.padEnd(16);
    if (stages.size < 1024) stages.set(stage, t);
  }
  return t;
}

export function renderJson(ev: TraceEvent): string {
  return JSON.stringify({
    time: ev.time, node: ev.node, netns: ev.netns, dev: ev.dev, packetId: ev.packetId, innerId: ev.innerId,
    stage: ev.stage, detail: ev.detail, verdict: ev.verdict ?? null, reason: ev.reason ?? null, flow: ev.flow ?? null,
  });
}

/** A sink that renders each event to a line and hands it to `write`. */
export class LineSink implements TraceSink {
  readonly on = true;
  count = 0;
  constructor(private readonly format: 'text' | 'json', private readonly write: (line: string) => void) {}
  emit(ev: TraceEvent): void {
    this.count++;
    this.write(this.format === 'text' ? renderText(ev) : renderJson(ev));
  }
  fields(
    time: number, node: string, netns: string, dev: string, packetId: number, innerId: number,
    stage: string, detail: string, verdict: Verdict | undefined, reason: DropReason | undefined, flow: string | undefined,
  ): void {
    this.count++;
    if (this.format === 'text') this.write(renderTextFields(time, node, netns, dev, packetId, innerId, stage, detail, verdict, reason, flow));
    else this.write(renderJson({ time, node, netns, dev, packetId, innerId, stage, detail, verdict, reason, flow }));
  }
}

/** Keeps events in memory (tests, reports). */
export class MemorySink implements TraceSink {
  readonly on = true;
  readonly events: TraceEvent[] = [];
  emit(ev: TraceEvent): void { this.events.push(ev); }
}

/** Sends each event to several sinks. */
export class TeeSink implements TraceSink {
  readonly on = true;
  constructor(private readonly sinks: TraceSink[]) {}
  emit(ev: TraceEvent): void { for (const s of this.sinks) s.emit(ev); }
}
