import { plainLine } from './plain-line.js';
import { describe, expect, it } from 'vitest';
import { renderText } from '../../src/trace/render.js';
import type { TraceEvent } from '../../src/trace/events.js';


const ev = (o: Partial<TraceEvent>): TraceEvent => ({
  time: 0, node: 'node-1', netns: 'host', dev: 'eth0', packetId: 1, innerId: 0, stage: 'dev.xmit', detail: 'x', ...o,
});

describe('renderText', () => {
  it('gives the plain formatting whatever the order of times, ids, places and stages (its caches never leak)', () => {
    const events: TraceEvent[] = [
      ev({}),
      ev({ time: 1_500_000_001, stage: 'nf.rule', detail: 'filter:FORWARD:policy:ACCEPT' }),
      ev({ time: 1_500_000_001, dev: '' }),
      ev({ time: 1_500_000_001, dev: '', netns: 'default.client' }),
      ev({ time: 1_500_000_001, packetId: 0 }),
      ev({ time: 1_500_000_001, packetId: 12, innerId: 11, stage: 'vxlan.encap' }),
      ev({ time: 1_500_000_001, packetId: 0, innerId: 11 }),
      ev({ time: 1_500_000_001, packetId: 12, innerId: 13 }),
      ev({ time: 1_500_000_001, packetId: 12 }),
      ev({ time: 2, packetId: 123456, node: 'a-node-with-a-rather-long-name', netns: 'some-namespace', dev: 'vethabcdef12', stage: 'a-stage-longer-than-sixteen' }),
      ev({ time: 2, verdict: 'drop', reason: 'NETFILTER_DROP', flow: 'client→web' }),
      ev({ time: 2, verdict: 'deliver' }),
      ev({ time: 0, node: 'node-2' }),
      ev({ time: 0, node: 'node-1', dev: 'eth0' }),
    ];
    for (const e of [...events, ...events.slice().reverse()]) expect(renderText(e)).toBe(plainLine(e));
  });
});
