/**
 * The report's data: everything the page shows, made at generation time and
 * embedded as JSON — results, the step model (lanes per traffic item), events in
 * columns with their frame and Kubernetes objects, and the frames decoded.
 * The page decodes nothing and fetches nothing.
 */
import * as path from 'node:path';
import type { RunResult } from '../scenario/run.js';
import type { TraceEvent } from '../trace/events.js';
import { formatTime } from '../engine/time.js';
import { ipToString } from '../wire/bytes.js';
import { extractTopology, type Topology } from './topology.js';
import { buildSteps, decisionKind, parseNat, placeOf, type NatRewrite } from './steps.js';
import { mapEventsToFrames, readFrames, type DecodedFrame } from './frames.js';
import { ObjectIndex, objectsOfEvents, parseRuleLine, type ObjectRef, type RuleLine } from './objects.js';

export interface ReportFrame {
  no: number;
  time: string;
  iface: string;
  file: string;
  fileNo: number;
  /** The frame's comment as written in all.pcapng. */
  comment: string;
  dir: string;
  summary: string;
  decoded: DecodedFrame;
  capLen: number;
  origLen: number;
}

export interface ReportFlow {
  name: string;
  /** Lanes as place indices. */
  lanes: number[];
  /** Its events' indices. */
  events: number[];
  packets: { id: number; carries: number; summary: string }[];
  end?: { event: number; place: string; verdict: string; reason: string };
}

/** Events in columns (one array per field), indices into the tables. */
export interface ReportEvents {
  time: string[];
  place: number[];
  id: number[];
  inner: number[];
  stage: number[];
  detail: string[];
  verdict: string[];
  reason: string[];
  flow: number[];
  lane: number[];
  frame: number[];
  /** How the frame relates to the event: 0 its own capture, 1 the packet's last before it, 2 its first after it. */
  frameRel: number[];
  objs: number[];
  /** Decision details by event index (rules, NAT), only where there is one. */
  rule: Record<number, RuleLine>;
  nat: Record<number, NatRewrite>;
  kind: string[];
  /** 1 for a pass-through step (a rule that only jumped, went on or returned and names no object; a hook with nothing registered): hidden by "key steps only". */
  minor: number[];
}

export interface ReportData {
  scenarioFile: string;
  /** The capture directory relative to the report (forward slashes), '' when there are no captures. */
  captureDir: string;
  captureFiles: number;
  endTime: string;
  seed: number;
  results: {
    name: string; result: string; ok: boolean; detail: string; mismatch?: string; expected?: string;
    startedAt: string; endedAt: string; path: string[]; servedBy: Record<string, number>;
  }[];
  nodes: string[];
  places: string[];
  placeNode: number[];
  stages: string[];
  flows: ReportFlow[];
  events: ReportEvents;
  objs: ObjectRef[][];
  frames: ReportFrame[];
  topology: Topology;
}

export interface ModelInput {
  scenarioFile: string;
  run: RunResult;
  events: readonly TraceEvent[];
  captureDir: string;
}

/** A rule step that decided nothing about the packet: a jump, goto, non-terminating target or return. */
export function isPassThrough(r: RuleLine): boolean {
  return r.rule === 'return' || /^(jump|goto|CONTINUE|RETURN)\b/.test(r.outcome);
}

/** Builds the report data; `reportDir` makes the capture directory relative. */
export function buildReportData(input: ModelInput, reportDir: string): ReportData {
  const { run, events } = input;
  const frames = readFrames(input.captureDir);
  const { frame: frameOf, rel: frameRel } = mapEventsToFrames(events, frames);
  const order = run.scenario.traffic.map((t) => t.name);
  const steps = buildSteps(events, order);
  const ix = ObjectIndex.of(run.cluster);
  const machineIPs = new Set([...run.cluster.machineIPs.values()].map(ipToString));
  const objsPer = objectsOfEvents(events, ix, machineIPs);

  const placeIx = new Map<string, number>();
  const places: string[] = [];
  const placeNode: number[] = [];
  const nodes: string[] = [...run.cluster.world.nodes.keys()];
  const nodeIx = new Map(nodes.map((n, i) => [n, i]));
  const stageIx = new Map<string, number>();
  const stages: string[] = [];
  const objKey = new Map<string, number>();
  const objs: ObjectRef[][] = [];
  // Only frames an event points at are embedded (renumbered); the rest stay in the capture files.
  const frameIx = new Map<number, number>();
  const outFrames: ReportFrame[] = [];
  const capRel = path.relative(reportDir, input.captureDir).split(path.sep).join('/') || '.';
  const ev: ReportEvents = { time: [], place: [], id: [], inner: [], stage: [], detail: [], verdict: [], reason: [], flow: [], lane: [], frame: [], frameRel: [], objs: [], rule: {}, nat: {}, kind: [], minor: [] };
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const pl = placeOf(e);
    let p = placeIx.get(pl);
    if (p === undefined) {
      p = places.length; placeIx.set(pl, p); places.push(pl);
      let n = nodeIx.get(e.node);
      if (n === undefined) { n = nodes.length; nodeIx.set(e.node, n); nodes.push(e.node); }
      placeNode.push(n);
    }
    let s = stageIx.get(e.stage);
    if (s === undefined) { s = stages.length; stageIx.set(e.stage, s); stages.push(e.stage); }
    let fr = -1;
    const fi = frameOf[i];
    if (fi >= 0) {
      let k = frameIx.get(fi);
      if (k === undefined) {
        const f = frames[fi];
        k = outFrames.length;
        frameIx.set(fi, k);
        outFrames.push({
          no: f.no, time: formatTime(f.timeNs), iface: f.iface, file: f.file ?? '', fileNo: f.fileNo,
          comment: f.comment ? `#${f.comment.id}${f.comment.innerId ? ` carrying #${f.comment.innerId}` : ''} ${f.comment.dir} ${f.comment.dev}${f.comment.flow ? ` [${f.comment.flow}]` : ''}` : '',
          dir: f.comment?.dir ?? '', summary: f.summary, decoded: f.decoded, capLen: f.capLen, origLen: f.origLen,
        });
      }
      fr = k;
    }
    let o = -1;
    const os = objsPer[i];
    if (os) {
      const key = os.map((r) => `${r.kind}|${r.name}|${r.via}`).join('\n');
      let k = objKey.get(key);
      if (k === undefined) { k = objs.length; objKey.set(key, k); objs.push(os); }
      o = k;
    }
    ev.time.push(formatTime(e.time)); ev.place.push(p); ev.id.push(e.packetId); ev.inner.push(e.innerId); ev.stage.push(s);
    ev.detail.push(e.detail); ev.verdict.push(e.verdict ?? ''); ev.reason.push(e.reason ?? ''); ev.flow.push(steps.flowOf[i]);
    ev.lane.push(steps.laneOf[i]); ev.frame.push(fr); ev.frameRel.push(fr >= 0 ? frameRel[i] : 0); ev.objs.push(o);
    const kind = decisionKind(e.stage);
    ev.kind.push(kind);
    let minor = 0;
    if (kind === 'rule') {
      const r = parseRuleLine(e.detail);
      if (r) { ev.rule[i] = r; if (o < 0 && isPassThrough(r)) minor = 1; }
    } else if (e.stage === 'nf.hook' && e.detail.endsWith('no hooks registered, ACCEPT')) minor = 1;
    ev.minor.push(minor);
    if (e.stage === 'nf.nat') { const n = parseNat(e.detail); if (n) ev.nat[i] = n; }
  }
  // A packet's summary: its first frame's.
  const firstFrame = new Map<number, string>();
  for (let i = 0; i < events.length; i++) {
    const id = events[i].packetId;
    if (id && !firstFrame.has(id) && ev.frame[i] >= 0 && frames[frameOf[i]].comment?.id === id) firstFrame.set(id, outFrames[ev.frame[i]].summary);
  }
  const flows: ReportFlow[] = steps.flows.map((f) => ({
    name: f.name, lanes: f.lanes.map((l) => placeIx.get(l)!), events: f.events,
    packets: f.packets.map((p) => ({ ...p, summary: firstFrame.get(p.id) ?? '' })),
    ...(f.end ? { end: f.end } : {}),
  }));
  return {
    scenarioFile: input.scenarioFile,
    captureDir: frames.length ? capRel : '',
    captureFiles: run.captures.length,
    endTime: formatTime(run.endTime),
    seed: run.scenario.seed,
    results: run.results.map((r) => ({
      name: r.name, result: r.result, ok: r.ok, detail: r.detail,
      ...(r.mismatch ? { mismatch: r.mismatch } : {}),
      ...(r.expected?.result ? { expected: r.expected.result } : {}),
      startedAt: formatTime(r.startedAt), endedAt: formatTime(r.endedAt), path: r.path, servedBy: r.servedBy,
    })),
    nodes, places, placeNode, stages, flows, events: ev, objs, frames: outFrames,
    topology: extractTopology(run.cluster),
  };
}
