/**
 * engine.events: raw Scheduler throughput, no kernel model.
 *  - timers: 1,000 concurrent timers, each rescheduling itself with a pseudo-random delay
 *    (1..1000 ns, from a table drawn once from the project's seeded Rng) → events/s.
 *  - fifo:   same-time bursts: B events scheduled at one instant, then run in FIFO
 *    (sequence) order; repeated until N events → events/s (scheduling + running).
 */
import { Scheduler } from '../src/engine/scheduler.js';
import { Rng } from '../src/engine/rng.js';
import type { BenchOptions, BenchSpec } from './harness.js';

const DELAY_TABLE = 1 << 16;

function delayTable(seed: number): Float64Array {
  const rng = new Rng(seed);
  const t = new Float64Array(DELAY_TABLE);
  for (let i = 0; i < DELAY_TABLE; i++) t[i] = rng.int(1, 1000);
  return t;
}

interface TimerCtx { sched: Scheduler; n: number; timers: number; delays: Float64Array }

export function engineTimers(o: BenchOptions): BenchSpec {
  const n = o.quick ? 1_000_000 : 5_000_000;
  const timers = 1000;
  const delays = delayTable(42);
  return {
    name: 'engine.events',
    description: `Scheduler events/s: ${timers} concurrent timers each rescheduling itself with seeded pseudo-random delays, ${n / 1e6} M events`,
    mode: 'rate', workUnit: 'events',
    params: { events: n, timers, delayNs: '1..1000 (seeded table, seed 42)' },
    warmup: 1, runs: o.quick ? 3 : 5,
    target: { kind: 'min', value: 10_000_000 },
    setup: (): TimerCtx => ({ sched: new Scheduler(), n, timers, delays }),
    run: (c) => {
      const { sched, n, timers, delays } = c as TimerCtx;
      let k = 0;
      let remaining = n;
      // One handler shared by every timer; the timer id travels as the event argument (no closure per event).
      const tick = (id: number): void => {
        if (--remaining <= timers - 1) return; // the last `timers` events do not reschedule
        sched.after(delays[k++ & (DELAY_TABLE - 1)], tick, id);
      };
      for (let i = 0; i < timers; i++) sched.after(delays[k++ & (DELAY_TABLE - 1)], tick, i);
      sched.run();
      return { work: sched.executed };
    },
  };
}

export function engineFifo(o: BenchOptions): BenchSpec {
  const n = o.quick ? 1_000_000 : 5_000_000;
  const burst = 10_000;
  return {
    name: 'engine.events.fifo',
    description: `Scheduler events/s for same-time bursts: ${burst} events at one instant, run in FIFO order, ${n / 1e6} M events (scheduling included)`,
    mode: 'rate', workUnit: 'events',
    params: { events: n, burst },
    warmup: 1, runs: o.quick ? 3 : 5,
    target: { kind: 'min', value: 10_000_000 },
    setup: () => new Scheduler(),
    run: (c) => {
      const sched = c as Scheduler;
      let expect = 0;
      let bad = 0;
      const h = (i: number): void => { if (i !== expect++) bad++; };
      for (let done = 0; done < n; done += burst) {
        expect = 0;
        const t = sched.now + 1000;
        for (let i = 0; i < burst; i++) sched.at(t, h, i);
        sched.run();
      }
      if (bad) throw new Error(`engine.events.fifo: ${bad} events ran out of FIFO order`);
      return { work: sched.executed };
    },
  };
}
