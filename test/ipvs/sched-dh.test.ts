import { describe, expect, it } from 'vitest';
import { dhBuckets, dhHashkey } from '../../src/ipvs/sched/dh.js';
import { rig } from './helpers.js';

const X = 0x0a000001; // bucket 39
const Y = 0x0a000002; // bucket 137

// ip_vs_dh.c: 256 buckets filled round robin from the list; bucket hash_32(daddr, 8); no fallback.
describe('dh', () => {
  it('hash_32(daddr, 8) and the round-robin table', () => {
    expect(dhHashkey(X)).toBe(39); // 0x27c88647 >> 24
    expect(dhHashkey(Y)).toBe(137); // 0x89910c8e >> 24
    const r = rig('dh');
    r.add(1, 5); r.add(2, 1); r.add(3, 1); // list [3, 2, 1]; weights do not matter
    const b = dhBuckets(r.svc).map((d) => d!.addr & 0xff);
    expect(b.slice(0, 6)).toEqual([3, 2, 1, 3, 2, 1]);
    expect(r.pick({ daddr: X })).toBe(3); // 39 % 3 = 0
    expect(r.pick({ daddr: Y })).toBe(1); // 137 % 3 = 2
  });

  it('no fallback: a quiescent or overloaded dest gives no destination', () => {
    const r = rig('dh');
    r.add(1); r.add(2); r.add(3);
    r.edit(1, 0); // dh has no upd_dest: the table stays, the weight check is live
    expect(r.pick({ daddr: Y })).toBeNull();
    expect(r.pick({ daddr: X })).toBe(3);
  });

  it('deleting a dest rebuilds the table', () => {
    const r = rig('dh');
    r.add(1); r.add(2); r.add(3);
    r.del(3); // list [2, 1]
    expect(r.pick({ daddr: X })).toBe(1); // 39 % 2 = 1
    expect(r.pick({ daddr: Y })).toBe(1);
    r.del(2); r.del(1);
    expect(r.pick({ daddr: X })).toBeNull();
  });
});
