import { describe, expect, it } from 'vitest';
import { MH_FALLBACK, MH_PORT, MH_TAB_SIZE, mhHashkey, mhLookup } from '../../src/ipvs/sched/mh.js';
import { hsiphashU32 } from '../../src/ipvs/siphash.js';
import { rig, rs } from './helpers.js';

const count = (r: ReturnType<typeof rig>) => {
  const c = new Map<number, number>();
  for (const d of mhLookup(r.svc)) if (d) c.set(d.addr & 0xff, (c.get(d.addr & 0xff) ?? 0) + 1);
  return Object.fromEntries(c);
};

// ip_vs_mh.c: Maglev over M = 4093 slots, hsiphash keys 2654435761 / 2654446892.
describe('mh', () => {
  it('table size and the hash of a dest', () => {
    expect(MH_TAB_SIZE).toBe(4093);
    // hashkey = hsiphash(u32 offset + port + addr) under {k, k}
    expect(mhHashkey(rs(1), 8080, 2654435761n, 0)).toBe(hsiphashU32((rs(1) + 8080) >>> 0, 2654435761n, 2654435761n));
  });

  it('slots per dest follow the turns (weight / gcd) exactly', () => {
    const r = rig('mh');
    r.add(1, 1); r.add(2, 1);
    expect(count(r)).toEqual({ 2: 2047, 1: 2046 }); // turns alternate, list [2, 1] starts
    const w = rig('mh');
    w.add(1, 2); w.add(2, 4); // gcd 2: turns 2 and 1 (list [2(4), 1(2)])
    expect(count(w)).toEqual({ 2: 2729, 1: 1364 }); // 4093 = 3 × 1364 + 1: dest 2 places 2 per round
  });

  it('each dest takes its own preferred slot first: offset = hash1 % M', () => {
    const r = rig('mh');
    r.add(1, 1);
    r.add(2, 1);
    const off2 = mhHashkey(rs(2), 8080, 2654435761n, 0) % MH_TAB_SIZE;
    expect(mhLookup(r.svc)[off2]!.addr).toBe(rs(2)); // list head places first
  });

  it('consistent: removing a dest moves only its own slots', () => {
    const r = rig('mh');
    r.add(1); r.add(2); r.add(3);
    const before = mhLookup(r.svc).map((d) => d!.addr & 0xff);
    r.del(3);
    const after = mhLookup(r.svc).map((d) => d!.addr & 0xff);
    let moved = 0;
    for (let i = 0; i < MH_TAB_SIZE; i++) {
      if (before[i] !== 3 && before[i] !== after[i]) moved++;
      expect(after[i]).not.toBe(3);
    }
    expect(moved).toBeLessThan(MH_TAB_SIZE / 20); // Maglev: little disruption
  });

  it('lookup by the source address hash; mh-port adds the source port', () => {
    const r = rig('mh');
    r.add(1); r.add(2); r.add(3);
    const saddr = 0x0a000001;
    const slot = mhHashkey(saddr, 0, 2654435761n, 0) % MH_TAB_SIZE;
    const want = mhLookup(r.svc)[slot]!.addr & 0xff;
    expect(r.pick({ saddr, sport: 1234 })).toBe(want);
    const p = rig('mh', MH_PORT);
    p.add(1); p.add(2); p.add(3);
    for (const sport of [1000, 1001, 1002, 1003]) {
      const s = mhHashkey(saddr, sport, 2654435761n, 0) % MH_TAB_SIZE;
      expect(p.pick({ saddr, sport })).toBe(mhLookup(p.svc)[s]!.addr & 0xff);
    }
  });

  it('a quiescent dest keeps its slots (last_weight); mh-fallback finds another', () => {
    const r = rig('mh');
    r.add(1); r.add(2);
    const before = mhLookup(r.svc).map((d) => d!.addr & 0xff);
    r.edit(1, 0);
    expect(mhLookup(r.svc).map((d) => d!.addr & 0xff)).toEqual(before);
    // a source whose slot is dest 1
    let saddr = 0x0a000001;
    while (before[mhHashkey(saddr, 0, 2654435761n, 0) % MH_TAB_SIZE] !== 1) saddr++;
    expect(r.pick({ saddr })).toBeNull();
    const f = rig('mh', MH_FALLBACK);
    f.add(1); f.add(2);
    f.edit(1, 0);
    expect(f.pick({ saddr })).toBe(2);
    f.edit(2, 0);
    expect(f.pick({ saddr })).toBeNull();
  });

  it('no dests or all last weights 0: empty table', () => {
    const r = rig('mh');
    expect(r.pick()).toBeNull();
    r.add(1, 0);
    expect(mhLookup(r.svc).every((d) => d === null)).toBe(true);
  });
});
