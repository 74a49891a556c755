import { describe, expect, it } from 'vitest';
import { rig } from './helpers.js';

// ip_vs_sed.c: wlc's walk over (activeconns + 1) / weight; inactive connections do not count.
describe('sed', () => {
  it('shortest expected delay', () => {
    const r = rig('sed');
    r.add(1, 3); r.add(2, 2); r.add(3, 1); // list [3(w1), 2(w2), 1(w3)]
    expect(r.pick()).toBe(1); // 1/1 > 1/2 > 1/3
    r.dest(1).activeConns = 1; // 2/3 vs 1/2: 2
    expect(r.pick()).toBe(2);
    r.dest(2).activeConns = 1; // 3: 1/1, 2: 2/2, 1: 2/3 → 1
    expect(r.pick()).toBe(1);
    r.dest(1).inactConns = 1000; // ignored
    expect(r.pick()).toBe(1);
  });

  it('ties keep the earlier dest; weight 0 is never chosen', () => {
    const r = rig('sed');
    r.add(1, 2); r.add(2, 1); r.add(3, 0); // list [3(w0), 2(w1), 1(w2)]
    r.dest(1).activeConns = 1; // 2/2 = 1/1
    expect(r.pick()).toBe(2);
  });
});
