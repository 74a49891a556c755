import { describe, expect, it } from 'vitest';
import { DEST_F } from '../../src/ipvs/types.js';
import { rig } from './helpers.js';

// ip_vs_wlc.c: least overhead/weight, compared as loh*w(dest) > doh*w(least); strictly better replaces.
describe('wlc', () => {
  it('weighted least connection with the kernel tie-breaking', () => {
    const r = rig('wlc');
    r.add(1, 3); r.add(2, 2); r.add(3, 1); // list [3(w1), 2(w2), 1(w3)]
    expect(r.pick()).toBe(3); // all 0: nobody strictly better than the first
    r.dest(3).activeConns = 1; // 256/1
    expect(r.pick()).toBe(2); // 0/2 < 256/1; 1 (0/3) is not strictly better than 2 (0/2)
    r.dest(2).activeConns = 1; // 256/2
    expect(r.pick()).toBe(1); // 0/3
    r.dest(1).activeConns = 1; // 256/3
    expect(r.pick()).toBe(1);
    r.dest(1).inactConns = 200; // 456/3 = 152 > 256/2 = 128
    expect(r.pick()).toBe(2);
  });

  it('equal ratios keep the earlier dest', () => {
    const r = rig('wlc');
    r.add(1, 2); r.add(2, 1); // list [2(w1), 1(w2)]
    r.dest(2).activeConns = 1; // 256/1
    r.dest(1).activeConns = 2; // 512/2
    expect(r.pick()).toBe(2);
  });

  it('weight 0 never starts nor wins; OVERLOAD is skipped', () => {
    const r = rig('wlc');
    r.add(1, 1); r.add(2, 0); r.add(3, 1); // list [3, 2(w0), 1]
    r.dest(3).activeConns = 5;
    expect(r.pick()).toBe(1);
    r.dest(1).flags |= DEST_F.OVERLOAD;
    expect(r.pick()).toBe(3);
    r.dest(3).flags |= DEST_F.OVERLOAD;
    expect(r.pick()).toBeNull();
  });
});
