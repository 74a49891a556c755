import { describe, expect, it } from 'vitest';
import { lblcrEntries, lblcrHashkey } from '../../src/ipvs/sched/lblcr.js';
import { rig } from './helpers.js';

const X = 0x0a000001;
const S = 1e9;

const members = (r: ReturnType<typeof rig>) => lblcrEntries(r.svc).get(X)!.set.members.map((d) => d.addr & 0xff);

// ip_vs_lblcr.c: a daddr → set of servers; least-loaded member, grown by wlc when overloaded, shrunk after lblcr_expiration.
describe('lblcr', () => {
  it('hashes daddr with hash_32(addr, 10)', () => {
    expect(lblcrHashkey(X)).toBe(159);
  });

  it('grows the set when its best member is overloaded, uses its least-loaded member, shrinks by the most loaded', () => {
    const r = rig('lblcr');
    r.env.sysctls.set('lblcr_expiration', 100);
    r.add(1); r.add(2); r.add(3); // list [3, 2, 1]
    expect(r.pick({ daddr: X })).toBe(3);
    expect(members(r)).toEqual([3]);
    r.dest(3).activeConns = 2; // > weight 1, and 2 is idle: overloaded
    expect(r.pick({ daddr: X })).toBe(2); // wlc's choice, added at the set's head
    expect(members(r)).toEqual([2, 3]);
    expect(r.pick({ daddr: X })).toBe(2); // set min: 2 (0) beats 3 (512)
    r.env.advance(100 * S);
    expect(r.pick({ daddr: X })).toBe(2); // not after lastmod + 100 s yet
    expect(members(r)).toEqual([2, 3]);
    r.env.advance(101 * S);
    expect(r.pick({ daddr: X })).toBe(2); // min chosen first, then the most loaded (3) leaves
    expect(members(r)).toEqual([2]);
    expect(r.dest(3).refs).toBe(0);
  });

  it('a set whose members are all quiescent falls back to wlc and grows', () => {
    const r = rig('lblcr');
    r.add(1); r.add(2); // list [2, 1]
    expect(r.pick({ daddr: X })).toBe(2);
    r.edit(2, 0);
    expect(r.pick({ daddr: X })).toBe(1);
    expect(members(r)).toEqual([1, 2]);
  });
});
