/**
 * Real packets for a reachability matrix (`podwire policy matrix --probe`): the
 * scenario's cluster is built and its events run up to `at` (policies applied,
 * deleted, nodes joined…; with Calico, until BGP has settled), the policy agents are given a moment to sync, and
 * then every cell's connection attempt starts at the same virtual instant — one
 * TCP connection or UDP datagram from the `from` pod to the `to` pod's address
 * on the cell's port — each judged as the scenario's traffic items are: a reply,
 * an ICMP error or reset (refused), or silence until `timeout` (dropped).
 * No traffic item of the scenario runs; the run is deterministic for a seed.
 */
import { resetPacketIds } from '../kernel/skb.js';
import { buildCluster } from './build.js';
import { ensureControlPlane } from './control-plane.js';
import { scheduleEvents } from './run.js';
import { runClient, type Outcome } from './apps.js';
import type { Scenario } from './types.js';

export type ProbeOutcome = 'reply' | 'refused' | 'dropped';

export interface PolicyProbeCell {
  /** `namespace/name` of the client pod. */
  from: string;
  /** `namespace/name` of the server pod. */
  to: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface PolicyProbeOptions {
  seed?: number;
  /** Virtual time (ns) the probes start at, once the events up to it have run. */
  at: number;
  cells: readonly PolicyProbeCell[];
  /** How long a probe waits for an answer (default 1 s). */
  timeout?: number;
}

/** After `at`, the agents' syncs triggered by the last events get this long (kube-router's syncs are immediate here). */
const SETTLE_NS = 10_000_000;

/** One outcome per cell, in order. SCTP cells have no client in podwire and read as dropped. */
export function probePolicyCells(sc: Scenario, o: PolicyProbeOptions): ProbeOutcome[] {
  resetPacketIds();
  const cl = buildCluster(sc, { seed: o.seed });
  const control = ensureControlPlane(cl);
  scheduleEvents(cl, control);
  const world = cl.world;
  world.sched.run(Math.max(world.now, o.at));
  // Calico: pods on other nodes are reachable only once BIRD has learned their blocks.
  cl.calico?.settle(world.now + 120_000_000_000);
  world.sched.run(world.now + SETTLE_NS);
  const timeout = o.timeout ?? 1_000_000_000;
  const out: ProbeOutcome[] = new Array(o.cells.length).fill('dropped');
  o.cells.forEach((c, i) => {
    const from = cl.pods.get(c.from);
    const to = cl.pods.get(c.to);
    if (!from || !to || c.protocol === 'SCTP') return;
    runClient({
      ns: from.node.ns(from.netns), dst: to.ip, protocol: c.protocol === 'TCP' ? 'tcp' : 'udp', port: c.port,
      size: 64, timeout, flow: `probe ${c.from} → ${c.to}:${c.port}/${c.protocol}`,
      done: (r: Outcome) => { out[i] = r === 'reply' ? 'reply' : r === 'dropped' ? 'dropped' : 'refused'; },
    });
  });
  world.sched.run(world.now + timeout + SETTLE_NS);
  return out;
}
