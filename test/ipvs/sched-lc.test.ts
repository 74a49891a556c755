import { describe, expect, it } from 'vitest';
import { DEST_F } from '../../src/ipvs/types.js';
import { rig } from './helpers.js';

// ip_vs_lc.c: least activeconns*256 + inactconns; weight only excludes 0; ties → first in list.
describe('lc', () => {
  it('picks the least overhead, first in list order on ties', () => {
    const r = rig('lc');
    r.add(1); r.add(2); r.add(3); // list [3, 2, 1]
    expect(r.pick()).toBe(3); // all 0: the first
    r.dest(3).activeConns = 1; // 256
    r.dest(2).inactConns = 5; // 5
    r.dest(1).inactConns = 5; // 5
    expect(r.pick()).toBe(2);
    r.dest(1).inactConns = 4;
    expect(r.pick()).toBe(1);
    // one active connection outweighs 255 inactive ones
    r.dest(1).activeConns = 1; r.dest(1).inactConns = 0; // 256
    r.dest(2).inactConns = 255;
    expect(r.pick()).toBe(2);
  });

  it('ignores weights except 0, and skips OVERLOAD', () => {
    const r = rig('lc');
    r.add(1, 100); r.add(2, 1); // list [2, 1]
    r.dest(2).inactConns = 1;
    expect(r.pick()).toBe(1);
    r.edit(1, 0);
    expect(r.pick()).toBe(2);
    r.dest(2).flags |= DEST_F.OVERLOAD;
    expect(r.pick()).toBeNull();
  });
});
