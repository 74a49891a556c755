/** The text trace line of an event as formatted without any cache: the format renderText and the fast paths must keep. */
import { formatTime } from '../../src/engine/time.js';
import type { TraceEvent } from '../../src/trace/events.js';

export function plainLine(ev: TraceEvent): string {
  const where = ev.dev ? `${ev.node}/${ev.netns}/${ev.dev}` : `${ev.node}/${ev.netns}`;
  const id = ev.packetId ? `#${ev.packetId}${ev.innerId ? `(⊃#${ev.innerId})` : ''}` : '-';
  const indent = ev.innerId ? '  ' : '';
  const verdict = ev.verdict ? ` → ${ev.verdict.toUpperCase()}${ev.reason ? ` (${ev.reason})` : ''}` : '';
  const flow = ev.flow ? ` [${ev.flow}]` : '';
  return `${formatTime(ev.time)} ${indent}${id.padEnd(6)} ${where.padEnd(34)} ${ev.stage.padEnd(16)} ${ev.detail}${verdict}${flow}`;
}
