/**
 * Trace renderers. Text: one line per event, like an iptables TRACE or pwru
 * line — time, packet id (and the packet it carries), where, what, why.
 * Events of an encapsulated packet are indented under their carrier.
 * NDJSON: one JSON object per event, keys in a fixed order.
 */
import type { TraceEvent, TraceSink } from './events.js';
import { formatTime } from '../engine/time.js';

export function renderText(ev: TraceEvent): string {
  const where = ev.dev ? `${ev.node}/${ev.netns}/${ev.dev}` : `${ev.node}/${ev.netns}`;
  const id = ev.packetId ? `#${ev.packetId}${ev.innerId ? `(⊃#${ev.innerId})` : ''}` : '-';
  const indent = ev.innerId ? '  ' : '';
  const verdict = ev.verdict ? ` → ${ev.verdict.toUpperCase()}${ev.reason ? ` (${ev.reason})` : ''}` : '';
  const flow = ev.flow ? ` [${ev.flow}]` : '';
  return `${formatTime(ev.time)} ${indent}${id.padEnd(6)} ${where.padEnd(34)} ${ev.stage.padEnd(16)} ${ev.detail}${verdict}${flow}`;
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
