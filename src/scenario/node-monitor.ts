/**
 * A failed node as the control plane lives it (timings in src/kube/node-lifecycle.ts):
 * the node lifecycle controller marks it Ready=Unknown and taints it
 * node.kubernetes.io/unreachable:NoSchedule on the first check after the
 * grace period, and marks its pods Ready=False (MarkPodsNotReady) — the
 * endpoints controllers then list them as not ready and kube-proxy drops
 * them; the NoExecute taint follows on the tainter's next pass, and the taint
 * manager evicts each pod when its toleration runs out. Eviction deletes the
 * pod gracefully: it gets a deletionTimestamp and stays Terminating, because
 * the only one who could confirm its containers stopped is the dead node's
 * kubelet (the pod GC removes such pods only from nodes tainted out-of-service).
 * The ReplicaSet controller does not count Terminating pods and replaces them.
 *
 * When the node's kubelet is back (`nodeUp`), the next check sets Ready=True
 * and removes the taints, planned evictions are cancelled, the kubelet
 * finishes deleting its Terminating pods (sandbox torn down, object removed)
 * and reports its other pods Ready again (with the addresses they had).
 */
import type { PodHost } from './workloads.js';
import type { Obj } from '../kube/object.js';
import {
  TAINT_UNREACHABLE, checkAtOrAfter, noExecutePass, notReadyTimes, taintIntervalIn, zoneState, tolerationSeconds, tolerationsOf, withDefaultTolerations, type NodeLifecycleConfig,
} from '../kube/node-lifecycle.js';
import { formatTime } from '../engine/time.js';

const S = 1e9;

export interface NodeMonitorHost extends PodHost {
  setPodReady(key: string, ready: boolean): void;
  /** Sets the pod's deletionTimestamp (graceful deletion, 30 s grace). */
  terminatePod(key: string): void;
  /** Deletes the pod object and tears its sandbox down. */
  removePod(key: string): void;
  /** The pod is gone or Terminating (its ReplicaSet replaces it). */
  podGone(key: string): void;
  /** A node is Ready again (ReplicaSets short of pods retry). */
  nodeReady(name: string): void;
  /** Pods bound to the node that its kubelet never started (Pending; workloads.ts). */
  pendingOn(name: string): string[];
  /** The spec of a pod (started or not): for its tolerations. */
  podSpec(key: string): import('./types.js').PodSpec | undefined;
  /** The node's kubelet starts the pods bound to it while it was down. */
  startPending(name: string): void;
}

export class NodeMonitor {
  /** Bumped by every down/up of a node: timers of an older epoch do nothing. */
  private readonly epoch = new Map<string, number>();
  /** Nodes marked Ready=Unknown. */
  private readonly marked = new Set<string>();
  private readonly terminating = new Set<string>();
  /** When the zone's NoExecute tainter has its next token (its rate limiter; one zone). */
  private tokenAt = 0;
  /** Nodes marked NotReady waiting for the NoExecute taint, first in first out (with their epoch). */
  private readonly queue: { name: string; e: number }[] = [];
  /** A tainter pass is scheduled. */
  private passing = false;
  /** The zone state that holds the tainter, once traced. */
  private heldBy: string | null = null;

  constructor(private readonly host: NodeMonitorHost, readonly cfg: NodeLifecycleConfig) {}

  private get now(): number {
    return this.host.cl.world.now;
  }

  private bump(name: string): number {
    const e = (this.epoch.get(name) ?? 0) + 1;
    this.epoch.set(name, e);
    return e;
  }

  private live(name: string, e: number): boolean {
    return this.epoch.get(name) === e;
  }

  /** Whether a pod was evicted and waits for its node's kubelet to confirm (Terminating). */
  isTerminating(key: string): boolean {
    return this.terminating.has(key);
  }

  /** The node's machine failed now: its kubelet renews no more. */
  nodeDown(name: string): void {
    const e = this.bump(name);
    const t = notReadyTimes(this.now, this.cfg);
    this.host.trace(`node-lifecycle-controller: node ${name}'s kubelet last renewed its lease at ${fmt(t.lastRenewal)} (seen at the check of ${fmt(t.probe)}); `
      + `grace ${fmt(this.cfg.gracePeriod)} runs out at ${fmt(t.probe + this.cfg.gracePeriod)}, the check of ${fmt(t.mark)} will mark it NotReady`);
    this.host.cl.world.sched.at(t.mark, () => { if (this.live(name, e)) this.markUnknown(name, e, t.probe); });
  }

  private podsOn(name: string): string[] {
    const out: string[] = [];
    for (const [key, p] of this.host.cl.pods) if (p.node.name === name && !this.terminating.has(key)) out.push(key);
    for (const key of this.host.pendingOn(name)) if (!this.terminating.has(key)) out.push(key);
    return out;
  }

  private markUnknown(name: string, e: number, probe: number): void {
    this.marked.add(name);
    this.updateNode(name, 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.', [taint('NoSchedule', this.now)]);
    this.host.trace(`node-lifecycle-controller: node ${name} NotReady (Ready=Unknown: no lease renewal seen since ${fmt(probe)}, over the ${fmt(this.cfg.gracePeriod)} grace); tainted ${TAINT_UNREACHABLE}:NoSchedule`);
    for (const key of this.podsOn(name)) {
      if (!this.host.cl.pods.has(key)) continue; // Pending: it never was Ready
      this.host.trace(`node-lifecycle-controller: pod ${key} Ready=False (its node ${name} is NotReady)`);
      this.host.setPodReady(key, false);
    }
    this.queue.push({ name, e });
    this.pump();
  }

  /** The zone's state as the controller computes it after a check (its nodes: registered, not left). */
  private zone(): { state: ReturnType<typeof zoneState>; size: number; notReady: number } {
    const cl = this.host.cl;
    let size = 0;
    let notReady = 0;
    for (const n of cl.scenario.cluster.nodes) {
      if (cl.pendingNodes.has(n.name) || cl.leftNodes.has(n.name)) continue;
      size++;
      if (this.marked.has(n.name)) notReady++;
    }
    return { state: zoneState(size - notReady, notReady), size, notReady };
  }

  /** Schedules the tainter's next pass for the queue's head: its first pass after now once a token is there, unless the zone's state stops it. */
  private pump(): void {
    if (this.passing || !this.queue.length) return;
    const z = this.zone();
    if (taintIntervalIn(z.state, z.size, this.cfg) === Infinity) {
      const why = `${z.state} (${z.notReady} of ${z.size} nodes NotReady)`;
      if (this.heldBy !== why) this.host.trace(`node-lifecycle-controller: zone ${why}: no NoExecute taint while it lasts`);
      this.heldBy = why;
      return;
    }
    this.heldBy = null;
    this.passing = true;
    this.host.cl.world.sched.at(noExecutePass(this.now, this.tokenAt, this.cfg), () => this.pass());
  }

  /** One pass of the tainter: the first live node of the queue gets the taint and takes the token. */
  private pass(): void {
    this.passing = false;
    const z = this.zone();
    const interval = taintIntervalIn(z.state, z.size, this.cfg);
    if (interval !== Infinity) {
      while (this.queue.length) {
        const q = this.queue.shift()!;
        if (!this.live(q.name, q.e)) continue;
        this.taintNoExecute(q.name, q.e);
        this.tokenAt = this.now + interval;
        break;
      }
    }
    this.pump();
  }

  private taintNoExecute(name: string, e: number): void {
    this.updateNode(name, 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.', [taint('NoSchedule', this.now), taint('NoExecute', this.now)]);
    this.host.trace(`node-lifecycle-controller: node ${name} tainted ${TAINT_UNREACHABLE}:NoExecute`);
    for (const key of this.podsOn(name)) {
      const spec = this.host.podSpec(key)!;
      const secs = tolerationSeconds(withDefaultTolerations(tolerationsOf(spec.body?.spec as Obj | undefined), this.cfg), TAINT_UNREACHABLE);
      if (secs === Infinity) {
        this.host.trace(`taint-eviction-controller: pod ${key} tolerates ${TAINT_UNREACHABLE}:NoExecute without limit: not evicted`);
        continue;
      }
      const at = this.now + secs * S;
      this.host.trace(`taint-eviction-controller: pod ${key} tolerates ${TAINT_UNREACHABLE}:NoExecute for ${secs}s: eviction at ${fmt(at)}`);
      this.host.cl.world.sched.at(at, () => { if (this.live(name, e) && this.host.podSpec(key)) this.evict(key, name); });
    }
  }

  private evict(key: string, name: string): void {
    this.terminating.add(key);
    this.host.trace(`taint-eviction-controller: pod ${key} evicted: deleted gracefully, Terminating (only ${name}'s kubelet could confirm its end)`);
    this.host.terminatePod(key);
    this.host.podGone(key);
  }

  /** The node's kubelet is running again now: it renews its lease at once. */
  nodeUp(name: string): void {
    const e = this.bump(name);
    if (!this.marked.has(name)) {
      this.host.trace(`node-lifecycle-controller: node ${name}'s kubelet renewed its lease again within the grace period: it stays Ready`);
      return;
    }
    const at = checkAtOrAfter(this.now, this.cfg);
    this.host.cl.world.sched.at(at, () => { if (this.live(name, e)) this.ready(name); });
  }

  private ready(name: string): void {
    this.marked.delete(name);
    this.updateNode(name, 'True', 'KubeletReady', 'kubelet is posting ready status', []);
    this.host.trace(`node-lifecycle-controller: node ${name} Ready (lease renewed); taints ${TAINT_UNREACHABLE} removed, pending evictions cancelled`);
    const pending = new Set(this.host.pendingOn(name));
    for (const key of [...[...this.host.cl.pods].filter(([, p]) => p.node.name === name).map(([k]) => k), ...pending]) {
      if (this.terminating.delete(key)) {
        this.host.trace(`kubelet ${name}: pod ${key} was Terminating: its containers are stopped and the pod deleted`);
        this.host.removePod(key);
      } else if (!pending.has(key)) {
        this.host.trace(`kubelet ${name}: pod ${key} Ready=True`);
        this.host.setPodReady(key, true);
      }
    }
    this.host.startPending(name);
    this.host.nodeReady(name);
    // The zone may be back to Normal: nodes waiting for their taint get it.
    this.pump();
  }

  private updateNode(name: string, status: string, reason: string, message: string, taints: Obj[]): void {
    const store = this.host.store;
    const node = store.get('Node', undefined, name);
    if (!node) return;
    const st = (node.status ?? {}) as Obj;
    const others = ((st.conditions as Obj[] | undefined) ?? []).filter((c) => c.type !== 'Ready');
    const when = apiTime(this.now);
    const spec = { ...(node.spec as Obj | undefined) };
    if (taints.length) spec.taints = taints; else delete spec.taints;
    store.update({
      ...node,
      metadata: { ...(node.metadata as Obj), resourceVersion: undefined },
      spec,
      status: { ...st, conditions: [...others, { type: 'Ready', status, reason, message, lastTransitionTime: when }] },
    });
  }
}

function taint(effect: string, now: number): Obj {
  return { key: TAINT_UNREACHABLE, effect, timeAdded: apiTime(now) };
}

/** A metav1.Time for virtual time `ns` (the clock's zero at the epoch; whole seconds, as the API serialises it). */
export function apiTime(ns: number): string {
  return new Date(Math.floor(ns / S) * 1000).toISOString().replace('.000Z', 'Z');
}

function fmt(ns: number): string {
  return `${formatTime(ns).replace(/\.?0+$/, '')}s`;
}
