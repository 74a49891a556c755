import { describe, expect, it } from 'vitest';
import { buildSteps, decisionKind, parseNat, placeOf } from '../../src/report/steps.js';
import type { TraceEvent } from '../../src/trace/events.js';

const ev = (over: Partial<TraceEvent>): TraceEvent => ({ time: 0, node: 'n1', netns: 'host', dev: '', packetId: 0, innerId: 0, stage: 'x', detail: '', ...over });

describe('step and lane model', () => {
  it('groups events by item in the scenario order, unnamed last, lanes in the order first met', () => {
    const events = [
      ev({ flow: 'b', packetId: 1, netns: 'pod', dev: 'eth0', stage: 'dev.xmit' }),
      ev({ packetId: 2, dev: 'cni0', stage: 'arp.recv' }),
      ev({ flow: 'b', packetId: 1, dev: 'vethA', stage: 'dev.recv' }),
      ev({ flow: 'a', packetId: 3, dev: 'cni0', stage: 'dev.recv' }),
      ev({ flow: 'b', packetId: 1, stage: 'fib.lookup' }),
      ev({ flow: 'b', packetId: 4, innerId: 1, dev: 'flannel.1', stage: 'vxlan.encap' }),
      ev({ flow: 'b', packetId: 5, netns: 'pod', dev: 'eth0', stage: 'dev.recv' }),
      ev({ flow: 'b', packetId: 5, netns: 'pod', stage: 'tcp.rcv', verdict: 'drop', reason: 'NO_SOCKET' }),
    ];
    const m = buildSteps(events, ['a', 'b']);
    expect(m.flows.map((f) => f.name)).toEqual(['a', 'b', '']);
    const b = m.flows[1];
    expect(b.lanes).toEqual(['n1/pod/eth0', 'n1/host/vethA', 'n1/host', 'n1/host/flannel.1', 'n1/pod']);
    expect(b.events).toEqual([0, 2, 4, 5, 6, 7]);
    // The reply comes back to the lane the request started from.
    expect(m.laneOf[6]).toBe(0);
    expect([...m.flowOf]).toEqual([1, 2, 1, 0, 1, 1, 1, 1]);
    expect(b.packets).toEqual([{ id: 1, carries: 0 }, { id: 4, carries: 1 }, { id: 5, carries: 0 }]);
    expect(b.end).toEqual({ event: 7, place: 'n1/pod', verdict: 'drop', reason: 'NO_SOCKET' });
    expect(m.flows[0].end).toBeUndefined();
    expect(m.flows[2].lanes).toEqual(['n1/host/cni0']);
  });

  it('places, NAT rewrites and decision kinds', () => {
    expect(placeOf({ node: 'a', netns: 'b', dev: '' })).toBe('a/b');
    expect(placeOf({ node: 'a', netns: 'b', dev: 'c' })).toBe('a/b/c');
    expect(parseNat('DNAT [10.244.0.2:39656 → 10.100.30.109:80] ⇒ [10.244.0.2:39656 → 10.244.1.2:80]')).toEqual({
      kind: 'DNAT', before: '10.244.0.2:39656 → 10.100.30.109:80', after: '10.244.0.2:39656 → 10.244.1.2:80',
    });
    expect(parseNat('un-SNAT [192.168.1.11:31080 → 192.168.1.253:46098] ⇒ [192.168.1.11:31080 → 203.0.113.10:46098]')?.kind).toBe('un-SNAT');
    expect(parseNat('ctstate NEW (icmp 10.244.0.2:21588 → 10.244.1.2:0)')).toBeNull();
    expect(decisionKind('nf.rule')).toBe('rule');
    expect(decisionKind('fib.lookup')).toBe('route');
    expect(decisionKind('bridge.fdb.hit')).toBe('fdb');
    expect(decisionKind('vxlan.fdb')).toBe('fdb');
    expect(decisionKind('nf.nat')).toBe('nat');
    expect(decisionKind('dev.xmit')).toBe('');
  });
});
