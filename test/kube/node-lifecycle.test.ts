import { describe, expect, it } from 'vitest';
import {
  DEFAULT_NODE_LIFECYCLE as D, TAINT_NOT_READY, TAINT_UNREACHABLE, checkAtOrAfter, lastLeaseRenewal, noExecutePass, taintIntervalIn, zoneState, notReadyTimes, tolerationSeconds, tolerates, withDefaultTolerations,
} from '../../src/kube/node-lifecycle.js';

const S = 1e9;

describe('node lifecycle timing (defaults: monitor 5s, grace 40s, lease renewed every 10s, tainter every 100ms)', () => {
  it('has Kubernetes defaults', () => {
    expect(D).toEqual({ monitorPeriod: 5 * S, gracePeriod: 40 * S, leaseRenewInterval: 10 * S, evictionPeriod: S / 10, taintInterval: 10 * S, unreachableTolerationSeconds: 300, notReadyTolerationSeconds: 300 });
  });
  it('the NoExecute tainter waits for its rate limiter token (0.1 nodes/s, burst 1)', () => {
    expect(noExecutePass(55 * S, 0, D)).toBe(55.1 * S);
    expect(noExecutePass(55 * S, 65_100_000_000, D)).toBe(65_100_000_000);
    expect(noExecutePass(55 * S, 60_050_000_000, D)).toBe(60_100_000_000);
  });
  it('a failure at 20s: last renewal 10s, grace out at 50s, NotReady at the check of 55s (strictly after), NoExecute at 55.1s', () => {
    expect(notReadyTimes(20 * S, D)).toEqual({ lastRenewal: 10 * S, probe: 10 * S, mark: 55 * S, noExecute: 55.1 * S });
  });
  it('a renewal due at the instant of the failure does not happen', () => {
    expect(lastLeaseRenewal(30 * S, D)).toBe(20 * S);
    expect(lastLeaseRenewal(30 * S + 1, D)).toBe(30 * S);
    expect(notReadyTimes(30 * S + 1, D).mark).toBe(75 * S);
  });
  it('follows the configured periods', () => {
    const cfg = { ...D, monitorPeriod: 2 * S, gracePeriod: 15 * S, leaseRenewInterval: 4 * S };
    // Last renewal at 8s, seen at the check of 8s; 8 + 15 = 23; first check after: 24s.
    expect(notReadyTimes(9 * S, cfg)).toMatchObject({ lastRenewal: 8 * S, probe: 8 * S, mark: 24 * S });
    // Renewals at 0, 3, 6 s seen by checks every 2 s: the one at 6 s at the check of 6 s, the one at 3 s at 4 s.
    expect(notReadyTimes(5 * S, { ...cfg, leaseRenewInterval: 3 * S })).toMatchObject({ lastRenewal: 3 * S, probe: 4 * S, mark: 20 * S });
    expect(checkAtOrAfter(10 * S, cfg)).toBe(10 * S);
    expect(checkAtOrAfter(10 * S + 1, cfg)).toBe(12 * S);
  });
});

describe('tolerations (DefaultTolerationSeconds and the taint manager)', () => {
  it('adds 300s for not-ready and unreachable to a pod without its own', () => {
    expect(withDefaultTolerations([], D)).toEqual([
      { key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);
    expect(tolerationSeconds(withDefaultTolerations([], D), TAINT_UNREACHABLE)).toBe(300);
  });
  it("keeps the pod's own toleration of a taint (no default added for it)", () => {
    const own = [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }];
    expect(tolerationSeconds(withDefaultTolerations(own, D), TAINT_UNREACHABLE)).toBe(30);
    expect(tolerationSeconds(withDefaultTolerations([{ operator: 'Exists' }], D), TAINT_UNREACHABLE)).toBe(Infinity);
  });
  it('matches as ToleratesTaint does', () => {
    expect(tolerates({ key: TAINT_UNREACHABLE, effect: 'NoSchedule', operator: 'Exists' }, TAINT_UNREACHABLE, 'NoExecute')).toBe(false);
    expect(tolerates({ key: TAINT_UNREACHABLE }, TAINT_UNREACHABLE, 'NoExecute')).toBe(true);
    expect(tolerates({ key: TAINT_UNREACHABLE, value: 'x' }, TAINT_UNREACHABLE, 'NoExecute')).toBe(false);
    expect(tolerationSeconds([], TAINT_UNREACHABLE)).toBe(0);
    expect(tolerationSeconds([{ key: TAINT_UNREACHABLE, tolerationSeconds: -5 }], TAINT_UNREACHABLE)).toBe(0);
  });
});

describe('zone states (ComputeZoneState) and the tainter rate they give', () => {
  it('Normal, PartialDisruption (> 2 NotReady and >= 55 %), FullDisruption (none Ready)', () => {
    expect(zoneState(3, 0)).toBe('Normal');
    expect(zoneState(1, 2)).toBe('Normal');
    expect(zoneState(2, 3)).toBe('PartialDisruption');
    expect(zoneState(3, 3)).toBe('Normal');
    expect(zoneState(0, 1)).toBe('FullDisruption');
    expect(zoneState(0, 0)).toBe('Normal');
  });
  it('taints every 10 s when Normal; none in a small partially disrupted cluster, every 100 s in a large one; none in full disruption', () => {
    expect(taintIntervalIn('Normal', 3, D)).toBe(10 * S);
    expect(taintIntervalIn('PartialDisruption', 50, D)).toBe(Infinity);
    expect(taintIntervalIn('PartialDisruption', 51, D)).toBe(100 * S);
    expect(taintIntervalIn('FullDisruption', 3, D)).toBe(Infinity);
  });
});
