import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Scheduler, Rng, parseDuration, formatTime, NS, US, MS, S } from '../../src/engine/index.js';

describe('Scheduler ordering', () => {
  it('runs events by time, and same-time events in scheduling order (FIFO)', () => {
    const s = new Scheduler();
    const log: string[] = [];
    const rec = (x: string) => log.push(`${s.now}:${x}`);
    s.at(20, rec, 'c');
    s.at(10, rec, 'a');
    s.at(20, rec, 'd');
    s.at(10, rec, 'b');
    s.after(0, rec, 'z');
    expect(s.pending).toBe(5);
    expect(s.run()).toBe('idle');
    expect(log).toEqual(['0:z', '10:a', '10:b', '20:c', '20:d']);
    expect(s.executed).toBe(5);
    expect(s.pending).toBe(0);
  });

  it('events scheduled while running at the same time go after the ones already queued', () => {
    const s = new Scheduler();
    const log: string[] = [];
    s.at(5, () => { log.push('a'); s.after(0, () => log.push('a-child')); });
    s.at(5, () => log.push('b'));
    s.run();
    expect(log).toEqual(['a', 'b', 'a-child']);
  });

  it('`at` in the past is clamped to now; NaN throws', () => {
    const s = new Scheduler();
    const seen: number[] = [];
    s.at(100, () => s.at(3, () => seen.push(s.now)));
    s.run();
    expect(seen).toEqual([100]);
    expect(() => s.at(NaN, () => {})).toThrow(RangeError);
  });

  it('run(until) stops before later events and advances the clock to until', () => {
    const s = new Scheduler();
    const log: number[] = [];
    for (const t of [10, 20, 30]) s.at(t, () => log.push(t));
    expect(s.run(20)).toBe('time');
    expect(log).toEqual([10, 20]);
    expect(s.now).toBe(20);
    expect(s.pending).toBe(1);
    expect(s.run(25)).toBe('time');
    expect(s.now).toBe(25);
    expect(s.run()).toBe('idle');
    expect(log).toEqual([10, 20, 30]);
    // An idle run with a horizon moves the clock to the horizon.
    expect(s.run(1000)).toBe('idle');
    expect(s.now).toBe(1000);
  });

  it('run(…, maxEvents) returns budget after exactly that many events', () => {
    const s = new Scheduler();
    let n = 0;
    for (let i = 0; i < 10; i++) s.at(i, () => n++);
    expect(s.run(Infinity, 4)).toBe('budget');
    expect(n).toBe(4);
    expect(s.now).toBe(3);
    expect(s.run(Infinity, 6)).toBe('idle');
    expect(n).toBe(10);
  });

  it('stop() ends the run after the current event', () => {
    const s = new Scheduler();
    const log: number[] = [];
    s.at(1, () => { log.push(1); s.stop(); });
    s.at(2, () => log.push(2));
    expect(s.run()).toBe('stopped');
    expect(log).toEqual([1]);
    expect(s.run()).toBe('idle');
    expect(log).toEqual([1, 2]);
  });

  it('property: any schedule runs sorted by (time, insertion order), across heap growth', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 3000 }), (times) => {
      const s = new Scheduler();
      const out: [number, number][] = [];
      times.forEach((t, i) => s.at(t, () => out.push([s.now, i])));
      s.run();
      const want = times.map((t, i) => [t, i] as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      expect(out).toEqual(want);
    }), { numRuns: 30 });
  });
});

describe('Rng', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const seqA = [a.u32(), a.int(1, 6), ...a.bytes(4), ...a.mac()];
    const seqB = [b.u32(), b.int(1, 6), ...b.bytes(4), ...b.mac()];
    expect(seqA).toEqual(seqB);
    expect(c.u32()).not.toBe(seqA[0]);
  });

  it('mac() is locally administered unicast; int() stays in range', () => {
    const r = new Rng(7);
    for (let i = 0; i < 200; i++) {
      const m = r.mac();
      expect(m.length).toBe(6);
      expect(m[0] & 0x01).toBe(0);
      expect(m[0] & 0x02).toBe(2);
      const v = r.int(3, 5);
      expect(v >= 3 && v <= 5).toBe(true);
      const u = r.u32();
      expect(u >= 0 && u <= 0xffffffff && Number.isInteger(u)).toBe(true);
    }
  });
});

describe('time helpers', () => {
  it('units', () => {
    expect([NS, US, MS, S]).toEqual([1, 1e3, 1e6, 1e9]);
  });
  it('parseDuration', () => {
    expect(parseDuration('1ms')).toBe(1_000_000);
    expect(parseDuration('50us')).toBe(50_000);
    expect(parseDuration('50µs')).toBe(50_000);
    expect(parseDuration('2.5s')).toBe(2_500_000_000);
    expect(parseDuration('300')).toBe(300);
    expect(parseDuration(' 2m ')).toBe(120 * S);
    expect(parseDuration('1h')).toBe(3600 * S);
    expect(parseDuration(12.6)).toBe(13);
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(Infinity)).toBeUndefined();
    expect(parseDuration('1 sec')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
  it('formatTime', () => {
    expect(formatTime(0)).toBe('0.000000000');
    expect(formatTime(1)).toBe('0.000000001');
    expect(formatTime(1_500_000_000)).toBe('1.500000000');
    expect(formatTime(300 * S + 1)).toBe('300.000000001');
  });
});

describe('Scheduler radix-heap edge cases', () => {
  it('an event scheduled below the next key after run(until) stops short still runs in (time, order)', () => {
    const s = new Scheduler();
    const log: string[] = [];
    s.at(1000, () => log.push('a@1000'));
    s.at(1000, () => log.push('b@1000'));
    expect(s.run(10)).toBe('time');
    expect(s.now).toBe(10);
    s.at(500, () => log.push('c@500'));
    s.at(1000, () => log.push('d@1000'));
    s.at(20, () => log.push('e@20'));
    s.run();
    expect(log).toEqual(['e@20', 'c@500', 'a@1000', 'b@1000', 'd@1000']);
  });

  it('property: schedules interleaved with stepped run(until) (far timers waiting) run in (time, order) at the right clock', () => {
    // Ops: schedule at now + d (events may schedule more), or run until now + step.
    type Op = { kind: 'at'; d: number; spawn: number } | { kind: 'run'; step: number };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('at' as const), d: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1000, max: 1 << 20 }), fc.constant(2 ** 34)), spawn: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('run' as const), step: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 500, max: 1 << 21 })) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 400 }), (ops: Op[]) => {
      const s = new Scheduler();
      // Every event's (time, global scheduling sequence); it must run when the clock is its time.
      const ran: { t: number; seq: number; now: number }[] = [];
      let seq = 0;
      const schedule = (t: number, spawn: number) => {
        const me = seq++;
        s.at(t, () => {
          ran.push({ t, seq: me, now: s.now });
          // A spawned event at the same instant or a little later, as a frame's next hop is.
          for (let i = 0; i < spawn; i++) schedule(s.now + (i % 2) * 7, 0);
        });
      };
      for (const o of ops) {
        if (o.kind === 'at') schedule(s.now + o.d, o.spawn);
        else s.run(s.now + o.step);
      }
      s.run();
      expect(ran.length).toBe(seq);
      for (const r of ran) expect(r.now).toBe(r.t);
      // Times never go backwards, and equal times keep scheduling order.
      for (let i = 1; i < ran.length; i++) {
        expect(ran[i].t).toBeGreaterThanOrEqual(ran[i - 1].t);
        if (ran[i].t === ran[i - 1].t) expect(ran[i].seq).toBeGreaterThan(ran[i - 1].seq);
      }
    }), { numRuns: 200 });
  });

  it('keeps order for times beyond 2^32 ns and rounds fractional times up to whole ns', () => {
    const s = new Scheduler();
    const log: number[] = [];
    const big = 2 ** 40;
    for (const t of [big + 3, big, 5e9, big + 3, 2 ** 33]) s.at(t, (x: number) => log.push(x), t);
    s.at(1.2, () => log.push(-1));
    s.run();
    expect(log).toEqual([-1, 5e9, 2 ** 33, big, big + 3, big + 3]);
    expect(s.now).toBe(big + 3);
  });
});
