import { describe, expect, it } from 'vitest';
import { DEST_F } from '../../src/ipvs/types.js';
import { rig } from './helpers.js';

// ip_vs_nq.c: the first idle (activeconns 0) eligible dest at once, else sed's choice.
describe('nq', () => {
  it('an idle server first, in list order, then shortest expected delay', () => {
    const r = rig('nq');
    r.add(1, 3); r.add(2, 2); r.add(3, 1); // list [3(w1), 2(w2), 1(w3)]
    expect(r.pick()).toBe(3); // idle: taken at once (sed would take 1)
    r.dest(3).activeConns = 1;
    expect(r.pick()).toBe(2);
    r.dest(2).activeConns = 1;
    expect(r.pick()).toBe(1);
    r.dest(1).activeConns = 1; // 2/1, 2/2, 2/3 → 1
    expect(r.pick()).toBe(1);
    r.dest(3).inactConns = 50; // inactive connections do not make a server busy
    r.dest(3).activeConns = 0;
    expect(r.pick()).toBe(3);
  });

  it('skips weight 0 and OVERLOAD even when idle', () => {
    const r = rig('nq');
    r.add(1, 1); r.add(2, 0); r.add(3, 1); // list [3, 2(w0), 1]
    r.dest(3).flags |= DEST_F.OVERLOAD;
    expect(r.pick()).toBe(1);
    r.dest(1).flags |= DEST_F.OVERLOAD;
    expect(r.pick()).toBeNull();
  });
});
