/**
 * The clocks of a node's failure as Kubernetes runs them (facts from
 * kube-controller-manager's node lifecycle controller, the taint-based
 * eviction manager, the kubelet's node lease and the DefaultTolerationSeconds
 * admission plugin), as pure functions of virtual time in ns:
 *
 *  - the kubelet renews its node Lease every `leaseRenewInterval` (a quarter
 *    of nodeLeaseDurationSeconds = 40 s: 10 s) from its start at time 0; a
 *    failed machine renews no more (a renewal due at the very instant of the
 *    failure does not happen);
 *  - the node lifecycle controller checks every node every `monitorPeriod`
 *    (--node-monitor-period, 5 s) from time 0. A check that sees a newer lease
 *    takes its own time as the node's probe time; a check later than probe
 *    time + `gracePeriod` (--node-monitor-grace-period, 40 s; strictly later)
 *    sets Ready=Unknown, marks the node's pods not ready and queues the
 *    node for the NoExecute taint;
 *  - the NoExecute tainter runs every NodeEvictionPeriod (100 ms, a constant
 *    of the controller), so the node.kubernetes.io/unreachable:NoExecute taint
 *    lands on its first pass after the mark (a pass at the same instant is
 *    taken to have run before it) — if the zone's rate limiter has a token:
 *    --node-eviction-rate 0.1 nodes/s with a burst of one, so a second node
 *    marked soon after waits until 10 s after the first was tainted;
 *  - the taint manager evicts a pod when its toleration of that taint runs out,
 *    counted from when it saw the taint; pods without their own toleration get
 *    300 s for not-ready and for unreachable (--default-unreachable-toleration-seconds,
 *    --default-not-ready-toleration-seconds);
 *  - a node whose kubelet is back renews its lease at once; the next check (at
 *    or after that instant) sets Ready=True and removes the taints, and the
 *    taint manager cancels the evictions it had planned.
 *
 *  - the zone's state decides the tainter's rate (podwire's nodes are one
 *    zone): Normal — 0.1 nodes/s; PartialDisruption (more than 2 nodes NotReady
 *    and at least 55 % of the zone) — none in a cluster of up to 50 nodes,
 *    0.01 nodes/s above; FullDisruption (no node Ready: the controller takes it
 *    for its own network partition) — none.
 *
 * Not modelled: in full disruption upstream also removes the NoExecute taints
 * already placed and gives every node a fresh grace period when it ends;
 * jitter.
 */

const S = 1_000_000_000;

export interface NodeLifecycleConfig {
  /** --node-monitor-period (ns). */
  monitorPeriod: number;
  /** --node-monitor-grace-period (ns). */
  gracePeriod: number;
  /** The kubelet's lease renew interval (ns): nodeLeaseDurationSeconds × 0.25. */
  leaseRenewInterval: number;
  /** scheduler.NodeEvictionPeriod (ns): how often the NoExecute tainter runs. */
  evictionPeriod: number;
  /** 1 / --node-eviction-rate (ns): a zone's tainter gets a token this often (burst 1). Absent: 10 s. */
  taintInterval?: number;
  /** DefaultTolerationSeconds for node.kubernetes.io/unreachable and /not-ready (s). */
  unreachableTolerationSeconds: number;
  notReadyTolerationSeconds: number;
}

export const DEFAULT_NODE_LIFECYCLE: Readonly<NodeLifecycleConfig> = Object.freeze({
  monitorPeriod: 5 * S,
  gracePeriod: 40 * S,
  leaseRenewInterval: 10 * S,
  evictionPeriod: S / 10,
  taintInterval: 10 * S,
  unreachableTolerationSeconds: 300,
  notReadyTolerationSeconds: 300,
});

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';

/** The last lease renewal of a kubelet whose machine failed at `downAt` (renewals at 0, R, 2R, … strictly before it). */
export function lastLeaseRenewal(downAt: number, cfg: NodeLifecycleConfig): number {
  const k = Math.max(0, Math.ceil(downAt / cfg.leaseRenewInterval) - 1);
  return k * cfg.leaseRenewInterval;
}

/** The first monitor check at or after `t`. */
export function checkAtOrAfter(t: number, cfg: NodeLifecycleConfig): number {
  return Math.ceil(t / cfg.monitorPeriod) * cfg.monitorPeriod;
}

/** The times of a failure at `downAt`: the probe time the controller last recorded and the check that marks the node Ready=Unknown. */
export function notReadyTimes(downAt: number, cfg: NodeLifecycleConfig): { lastRenewal: number; probe: number; mark: number; noExecute: number } {
  const lastRenewal = lastLeaseRenewal(downAt, cfg);
  const probe = checkAtOrAfter(lastRenewal, cfg);
  const mark = (Math.floor((probe + cfg.gracePeriod) / cfg.monitorPeriod) + 1) * cfg.monitorPeriod;
  const noExecute = (Math.floor(mark / cfg.evictionPeriod) + 1) * cfg.evictionPeriod;
  return { lastRenewal, probe, mark, noExecute };
}

/**
 * The tainter's pass that taints a node marked at `mark`: the first pass after it at which the
 * zone's rate limiter has a token (`tokenAt`: when the next one is there; 0 at the start, as the
 * bucket starts full).
 */
export function noExecutePass(mark: number, tokenAt: number, cfg: NodeLifecycleConfig): number {
  const e = cfg.evictionPeriod;
  const first = (Math.floor(mark / e) + 1) * e;
  return first >= tokenAt ? first : Math.ceil(tokenAt / e) * e;
}

export type ZoneState = 'Normal' | 'PartialDisruption' | 'FullDisruption';

/** --unhealthy-zone-threshold and --large-cluster-size-threshold. */
export const UNHEALTHY_ZONE_THRESHOLD = 0.55;
export const LARGE_CLUSTER_SIZE = 50;
/** 1 / --secondary-node-eviction-rate (0.01 nodes/s), ns. */
export const SECONDARY_TAINT_INTERVAL = 100 * S;

/** A zone's state from its Ready and not-Ready node counts (ComputeZoneState). */
export function zoneState(ready: number, notReady: number): ZoneState {
  if (ready === 0 && notReady > 0) return 'FullDisruption';
  if (notReady > 2 && notReady / (ready + notReady) >= UNHEALTHY_ZONE_THRESHOLD) return 'PartialDisruption';
  return 'Normal';
}

/** The tainter's interval between nodes in a zone of `size` nodes in `state` (the only zone): Infinity = it taints none. */
export function taintIntervalIn(state: ZoneState, size: number, cfg: NodeLifecycleConfig): number {
  if (state === 'Normal') return cfg.taintInterval ?? DEFAULT_NODE_LIFECYCLE.taintInterval!;
  if (state === 'PartialDisruption' && size > LARGE_CLUSTER_SIZE) return SECONDARY_TAINT_INTERVAL;
  return Infinity;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** Whether a toleration tolerates the taint `key` (no value) with effect `effect` (ToleratesTaint). */
export function tolerates(t: Toleration, key: string, effect: string): boolean {
  if (t.effect && t.effect !== effect) return false;
  if (t.operator === 'Exists') return !t.key || t.key === key;
  return t.key === key && (t.value ?? '') === '';
}

/** The pod's tolerations from its spec, read leniently (a validated Pod's `spec.tolerations`). */
export function tolerationsOf(spec: Record<string, unknown> | undefined): Toleration[] {
  const list = spec?.tolerations;
  if (!Array.isArray(list)) return [];
  return list.filter((t): t is Toleration => t !== null && typeof t === 'object');
}

/** The pod's tolerations after DefaultTolerationSeconds admission: not-ready and unreachable NoExecute for 300 s unless it tolerates them already. */
export function withDefaultTolerations(own: readonly Toleration[], cfg: NodeLifecycleConfig): Toleration[] {
  const out = [...own];
  if (!own.some((t) => tolerates(t, TAINT_NOT_READY, 'NoExecute')))
    out.push({ key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: cfg.notReadyTolerationSeconds });
  if (!own.some((t) => tolerates(t, TAINT_UNREACHABLE, 'NoExecute')))
    out.push({ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: cfg.unreachableTolerationSeconds });
  return out;
}

/**
 * How long a pod with `tolerations` stays on a node with the NoExecute taint `key`
 * (the taint manager's minimum over the matching tolerations): 0 when none matches
 * (evicted at once), Infinity when a matching one has no tolerationSeconds and no
 * other limits it, negative values counting as 0.
 */
export function tolerationSeconds(tolerations: readonly Toleration[], key: string): number {
  const used = tolerations.filter((t) => tolerates(t, key, 'NoExecute'));
  if (!used.length) return 0;
  let min = Infinity;
  for (const t of used) if (typeof t.tolerationSeconds === 'number') min = Math.min(min, Math.max(0, t.tolerationSeconds));
  return min;
}
