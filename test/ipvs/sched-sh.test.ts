import { describe, expect, it } from 'vitest';
import { SH_FALLBACK, SH_PORT, shBuckets, shHashkey } from '../../src/ipvs/sched/sh.js';
import { rig } from './helpers.js';

const A = 0x0a000001; // hash_32 bucket 39
const B = 0x0a000002; // bucket 137

// ip_vs_sh.c: each dest fills `weight` consecutive buckets in list order; bucket (offset + hash_32(port + saddr, 8)) & 255.
describe('sh', () => {
  it('the weighted table and the source hash', () => {
    expect(shHashkey(A, 0, 0)).toBe(39);
    expect(shHashkey(A, 1, 0)).toBe(137); // port + saddr = 10.0.0.2
    expect(shHashkey(B, 0, 5)).toBe(142);
    const r = rig('sh');
    r.add(1, 1); r.add(2, 2); // list [2(w2), 1(w1)]
    const b = shBuckets(r.svc).map((d) => d!.addr & 0xff);
    expect(b.slice(0, 7)).toEqual([2, 2, 1, 2, 2, 1, 2]);
    expect(b.filter((x) => x === 2)).toHaveLength(171); // 256 = 85 × 3 + 1
    expect(r.pick({ saddr: A })).toBe(2); // 39 % 3 = 0
    expect(r.pick({ saddr: B })).toBe(1); // 137 % 3 = 2
    expect(r.pick({ saddr: A, sport: 1 })).toBe(2); // the port only counts with sh-port
  });

  it('sh-port hashes the source port too', () => {
    const r = rig('sh', SH_PORT);
    r.add(1, 1); r.add(2, 2);
    expect(r.pick({ saddr: A, sport: 1 })).toBe(1); // bucket 137
    expect(r.pick({ saddr: A, sport: 0 })).toBe(2);
  });

  it('without sh-fallback an unavailable dest means none; with it the next offsets are tried', () => {
    const r = rig('sh');
    r.add(1, 1); r.add(2, 2);
    r.edit(1, 0); // a weight-0 dest still takes one bucket per round
    expect(shBuckets(r.svc).slice(0, 3).map((d) => d!.addr & 0xff)).toEqual([2, 2, 1]);
    expect(r.pick({ saddr: B })).toBeNull();
    const f = rig('sh', SH_FALLBACK);
    f.add(1, 1); f.add(2, 2);
    f.edit(1, 0);
    // ihash 137 → dest 1 unavailable; offset 0: (137 + 137) & 255 = 18 → 18 % 3 = 0 → dest 2
    expect(f.pick({ saddr: B })).toBe(2);
    f.edit(2, 0);
    expect(f.pick({ saddr: B })).toBeNull(); // every bucket tried
  });
});
