/**
 * The emulated universe: the clock, the run's PRNG, where trace events and
 * captured frames go, and every machine and underlay segment. Everything in
 * the kernel model reaches time, randomness and output through here, so a
 * run is a pure function of (scenario, seed).
 */
import { Scheduler } from '../engine/scheduler.js';
import { Rng } from '../engine/rng.js';
import { NULL_SINK, type TraceEvent, type TraceSink, type DropReason, type Verdict } from '../trace/events.js';
import type { Skb } from './skb.js';
import type { NetDevice } from './device.js';
import type { Node } from './node.js';

/** Receives every frame a device transmits ('out') or receives ('in'), like a tcpdump on each interface. */
export interface FrameTap {
  frame(dev: NetDevice, skb: Skb, dir: 'in' | 'out'): void;
}

export class World {
  readonly sched = new Scheduler();
  readonly rng: Rng;
  trace: TraceSink = NULL_SINK;
  tap: FrameTap | null = null;
  readonly nodes = new Map<string, Node>();
  /** Called for every dropped packet (trace on or off), so traffic items can learn why they failed. */
  onDrop: ((skb: Skb, reason: DropReason, where: string) => void) | null = null;
  /** Called when a packet is delivered to a local socket (end of its path). */
  onDeliver: ((skb: Skb) => void) | null = null;
  /** Watches packets for path expectations (see Skb.path). */
  watchPaths = false;
  /** Delay in ns of every veth link created from now on (the scenario's links.vethDelay). */
  vethDelay = 0;
  /** Sysctl values every new namespace starts with (on top of the kernel defaults), e.g. to match a test host. */
  sysctlOverrides: Record<string, string> = {};

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  get now(): number { return this.sched.now; }

  /** Emits one trace event (callers check `world.trace.on` first when building `detail` costs). */
  event(node: string, netns: string, dev: string, skb: Skb | null, stage: string, detail: string, verdict?: Verdict, reason?: DropReason): void {
    const sink = this.trace;
    if (sink.fields !== undefined) {
      // A rendering sink (LineSink): the fields as arguments, no TraceEvent object.
      sink.fields(this.sched.now, node, netns, dev, skb ? skb.id : 0, skb ? skb.innerId : 0, stage, detail,
        verdict || undefined, reason || undefined, skb && skb.flow ? skb.flow : undefined);
      return;
    }
    // Every field in one literal (absent ones undefined, as TraceEvent allows): one object shape
    // for all events, so the sinks' property loads stay monomorphic.
    const ev: TraceEvent = {
      time: this.sched.now,
      node, netns, dev,
      packetId: skb ? skb.id : 0,
      innerId: skb ? skb.innerId : 0,
      stage, detail,
      verdict: verdict || undefined,
      reason: reason || undefined,
      flow: skb && skb.flow ? skb.flow : undefined,
    };
    sink.emit(ev);
  }
}
