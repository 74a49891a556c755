/**
 * The sync discipline of podwire's agents (kube-router's policy controller,
 * felix): a sync is requested by every watch event, requests made while one is
 * pending coalesce, and syncs are at least `minInterval()` of virtual time apart
 * — the minimum-interval half of kube-proxy's BoundedFrequencyRunner. Nothing
 * runs before `start()` or after `stop()`.
 */
import type { Scheduler } from './scheduler.js';

export class SyncGate {
  private last = -Infinity;
  private pending = false;
  private started = false;
  private stopped = false;

  constructor(private readonly sched: Scheduler, private readonly minInterval: () => number, private readonly sync: () => void) {}

  get running(): boolean { return this.started && !this.stopped; }

  start(): void { this.started = true; }

  stop(): void { this.stopped = true; }

  /** Records a sync made now (the agent calls it at the top of its sync). */
  synced(): void { this.last = this.sched.now; }

  /** Asks for a sync: now if the last one is `minInterval` old, else when it will be; once for any number of asks. */
  request(): void {
    if (!this.started || this.pending || this.stopped) return;
    this.pending = true;
    this.sched.at(Math.max(this.sched.now, this.last + this.minInterval()), () => {
      this.pending = false;
      if (!this.stopped) this.sync();
    });
  }
}
