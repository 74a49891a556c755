import { describe, expect, it } from 'vitest';
import { lblcEntries, lblcHashkey } from '../../src/ipvs/sched/lblc.js';
import { rig } from './helpers.js';

const X = 0x0a000001; // 10.0.0.1
const Y = 0x0a000002;
const S = 1e9;

// ip_vs_lblc.c: a cache daddr → dest, used until the dest is unavailable, quiescent or overloaded.
describe('lblc', () => {
  it('hashes daddr with hash_32(addr, 10)', () => {
    expect(lblcHashkey(X)).toBe(159); // 0x0a000001 * 0x61c88647 = 0x27c88647 → top 10 bits
    expect(lblcHashkey(Y)).toBe(550); // 0x89910c8e
  });

  it('keeps a daddr on its server until it is overloaded while another is under half its weight', () => {
    const r = rig('lblc');
    r.add(1); r.add(2); r.add(3); // list [3, 2, 1]
    expect(r.pick({ daddr: X })).toBe(3); // miss: wlc's choice, cached
    expect(r.dest(3).refs).toBe(1); // the entry holds the dest
    r.dest(3).activeConns = 1; // wlc would now say 2
    expect(r.pick({ daddr: X })).toBe(3); // 1 > 1 is false: not overloaded
    expect(r.pick({ daddr: Y })).toBe(2); // another daddr: wlc
    r.dest(3).activeConns = 2; // 2 > 1 and dest 2 has 0*2 < 1: overloaded
    expect(r.pick({ daddr: X })).toBe(2); // wlc: 2 (0/1) beats 3 (512/1); 1 (0/1) is not strictly better
    expect(lblcEntries(r.svc).get(X)!.dest.addr & 0xff).toBe(2); // entry replaced
    expect(r.dest(3).refs).toBe(0);
    // busy everywhere (no dest under half its weight): the cached one stays
    r.dest(2).activeConns = 5; r.dest(1).activeConns = 5; r.dest(3).activeConns = 5;
    expect(r.pick({ daddr: X })).toBe(2);
  });

  it('a quiescent or deleted cached dest sends the daddr elsewhere', () => {
    const r = rig('lblc');
    r.add(1); r.add(2); // list [2, 1]
    expect(r.pick({ daddr: X })).toBe(2);
    r.edit(2, 0);
    expect(r.pick({ daddr: X })).toBe(1);
    r.edit(2, 1);
    expect(r.pick({ daddr: X })).toBe(1); // the cache now says 1
    r.del(1); // not AVAILABLE (in the trash, still referenced by the entry)
    expect(r.ctl.trash.map((d) => d.addr & 0xff)).toEqual([1]);
    expect(r.pick({ daddr: X })).toBe(2);
  });

  it('garbage collection: a full check every 30th minute drops entries idle for lblc_expiration', () => {
    const r = rig('lblc');
    r.env.sysctls.set('lblc_expiration', 600);
    r.add(1);
    r.pick({ daddr: X });
    r.env.advance(200 * S);
    r.pick({ daddr: Y }); // Y last used at 200 s
    r.env.advance(1799 * S);
    expect(lblcEntries(r.svc).entries).toBe(2); // the 60 s checks only count (table far from 16384)
    r.env.advance(1800 * S); // 30th run: full check (X idle 1800 s, Y 1600 s ≥ 600)
    expect(lblcEntries(r.svc).entries).toBe(0);
    expect(r.dest(1).refs).toBe(0);
    r.pick({ daddr: X }); // at 1800 s
    r.env.advance(3600 * S); // next full check at 3600 s: idle exactly 1800 s ≥ 600 → dropped
    expect(lblcEntries(r.svc).entries).toBe(0);
    expect(r.env.timers).toHaveLength(0); // the checks are replayed lazily: no events while idle
  });

  it('deleting the service stops the timer and empties the cache', () => {
    const r = rig('lblc');
    r.add(1);
    r.pick({ daddr: X });
    r.ctl.delService({ fwmark: 0, protocol: 6, addr: r.svc.addr, port: 80 }, () => {});
    expect(r.env.timers.filter((t) => t.live)).toHaveLength(0);
    expect(r.ctl.trash[0].refs).toBe(0);
  });
});
