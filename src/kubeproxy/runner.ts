/**
 * kube-proxy's BoundedFrequencyRunner (pkg/util/async) on the virtual clock, shared by
 * the iptables and ipvs daemons: `run()` syncs now; `request()` is Run(): a sync happens
 * now if the last one is at least minSyncPeriod old, else when it is; requests in between
 * fold into that one. `stop()`: the daemon is gone (its node shut down).
 */
import type { World } from '../kernel/world.js';

export class BoundedFrequencyRunner {
  private lastSync = -Infinity;
  private pending = false;
  private stopped = false;

  constructor(private readonly world: World, readonly minSyncPeriod: number, private readonly fn: () => void) {}

  get isStopped(): boolean { return this.stopped; }

  /** Sync now (start-up, or a caller that must not wait). */
  run(): void {
    if (this.stopped) return;
    this.lastSync = this.world.now;
    this.fn();
  }

  /** A change was seen: sync now or at lastSync + minSyncPeriod. */
  request(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    const sched = this.world.sched;
    sched.at(Math.max(sched.now, this.lastSync + this.minSyncPeriod), () => {
      this.pending = false;
      this.run();
    });
  }

  stop(): void { this.stopped = true; }
}
