/**
 * The sequence-diagram model: each trace event is a step; each traffic item
 * (the events whose `flow` is its name) gets lanes — one per place it meets
 * (`node/netns/dev`, or `node/netns` for a step on no device: a route lookup, a
 * socket), in the order first met, request and reply alike. Events of no item
 * (ARP, control plane, agents) form their own group. NAT rewrites are parsed
 * into before → after; the decision kind of each step says what decided it.
 */
import type { TraceEvent } from '../trace/events.js';

export interface NatRewrite {
  /** `DNAT`, `SNAT`, `un-DNAT`, `un-SNAT`, … as the trace names it. */
  kind: string;
  before: string;
  after: string;
}

/** `KIND [a → b] ⇒ [c → d]` (nf.nat lines). */
export function parseNat(detail: string): NatRewrite | null {
  const m = /^(\S+) \[([^\]]*)\] ⇒ \[([^\]]*)\]/.exec(detail);
  return m ? { kind: m[1], before: m[2], after: m[3] } : null;
}

/** What decided a step, by its stage. */
export type DecisionKind = 'rule' | 'route' | 'fdb' | 'neighbour' | 'nat' | 'ipvs' | 'drop' | 'socket' | 'encap' | '';

export function decisionKind(stage: string): DecisionKind {
  if (stage === 'nf.rule') return 'rule';
  if (stage === 'nf.nat' || stage === 'brnf.dnat') return 'nat';
  if (stage === 'fib.lookup' || stage === 'ip.forward') return 'route';
  if (stage.startsWith('bridge.fdb') || stage === 'vxlan.fdb') return 'fdb';
  if (stage === 'neigh' || stage.startsWith('arp.')) return 'neighbour';
  if (stage.startsWith('ipvs.')) return 'ipvs';
  if (stage === 'drop') return 'drop';
  if (stage.endsWith('.encap') || stage.endsWith('.decap') || stage.startsWith('flannel.udp')) return 'encap';
  if (stage.endsWith('.rcv') || stage === 'ip.local_deliver' || stage === 'icmp.echo' || stage === 'tcp') return 'socket';
  return '';
}

/** A step's place: `node/netns/dev`, or `node/netns` when it happened on no device. */
export const placeOf = (ev: Pick<TraceEvent, 'node' | 'netns' | 'dev'>) => (ev.dev ? `${ev.node}/${ev.netns}/${ev.dev}` : `${ev.node}/${ev.netns}`);

export interface FlowModel {
  /** The traffic item's name; '' for the events of no item. */
  name: string;
  /** Lanes in the order first met. */
  lanes: string[];
  /** Indices of its events in the run's event list, in order. */
  events: number[];
  /** Packet ids met, in order; with the packet each one carries (0: none). */
  packets: { id: number; carries: number }[];
  /** The last drop or reject of the item's packets: its event index, place and reason. */
  end?: { event: number; place: string; verdict: string; reason: string };
}

export interface StepModel {
  flows: FlowModel[];
  /** Per event: its flow's index in `flows`. */
  flowOf: Int32Array;
  /** Per event: its lane in its flow. */
  laneOf: Int32Array;
}

/** Groups the events by traffic item (in `order`, then any other names met, then ''), with lanes. */
export function buildSteps(events: readonly TraceEvent[], order: readonly string[] = []): StepModel {
  const byName = new Map<string, FlowModel>();
  const flows: FlowModel[] = [];
  const get = (name: string) => {
    let f = byName.get(name);
    if (!f) { f = { name, lanes: [], events: [], packets: [] }; byName.set(name, f); flows.push(f); }
    return f;
  };
  for (const n of order) get(n);
  const flowOf = new Int32Array(events.length);
  const laneOf = new Int32Array(events.length);
  const laneIx = new Map<FlowModel, Map<string, number>>();
  const seenPkt = new Map<FlowModel, Set<number>>();
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    const f = get(ev.flow ?? '');
    let lx = laneIx.get(f);
    if (!lx) laneIx.set(f, (lx = new Map()));
    const place = placeOf(ev);
    let lane = lx.get(place);
    if (lane === undefined) { lane = f.lanes.length; lx.set(place, lane); f.lanes.push(place); }
    flowOf[i] = flows.indexOf(f);
    laneOf[i] = lane;
    f.events.push(i);
    if (ev.packetId) {
      let s = seenPkt.get(f);
      if (!s) seenPkt.set(f, (s = new Set()));
      if (!s.has(ev.packetId)) { s.add(ev.packetId); f.packets.push({ id: ev.packetId, carries: ev.innerId }); }
    }
    if (f.name && (ev.verdict === 'drop' || ev.verdict === 'reject')) f.end = { event: i, place, verdict: ev.verdict, reason: ev.reason ?? '' };
  }
  // The unnamed group goes last, whatever order it was met in.
  const other = byName.get('');
  if (other && flows[flows.length - 1] !== other) {
    flows.splice(flows.indexOf(other), 1);
    flows.push(other);
    for (let i = 0; i < events.length; i++) flowOf[i] = flows.indexOf(get(events[i].flow ?? ''));
  }
  return { flows, flowOf, laneOf };
}
