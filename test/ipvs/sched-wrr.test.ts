import { describe, expect, it } from 'vitest';
import { DEST_F } from '../../src/ipvs/types.js';
import { rig } from './helpers.js';

// ip_vs_wrr.c: di = gcd, mw = max − (di − 1), cw from mw down by di per pass.
describe('wrr', () => {
  it('weights 4,3,2 interleave as a a b a b c a b c once cw has come round to mw', () => {
    const r = rig('wrr');
    // Adding dests keeps cw: the first add (weight 2 alone: di 2, mw 1) sets cw = 1, and the
    // later adds (di 1, mw 3 then 4) leave it at 1.
    r.add(3, 2); r.add(2, 3); r.add(1, 4); // list [1(4), 2(3), 3(2)]
    expect(r.order()).toEqual([1, 2, 3]);
    expect(r.picks(3)).toEqual([1, 2, 3]); // cw 1
    expect(r.picks(18)).toEqual([1, 1, 2, 1, 2, 3, 1, 2, 3, 1, 1, 2, 1, 2, 3, 1, 2, 3]); // cw 4, 3, 2, 1
  });

  it('gcd step: weights 4,2 (di 2, mw 3); cw rounded to a multiple of di plus 1 on a change', () => {
    const r = rig('wrr');
    r.add(3, 2); // di 2, mw 1, cw 1
    r.add(1, 4); // di 2, mw 3, cw = (1 / 2) * 2 + 1 = 1
    expect(r.picks(8)).toEqual([1, 3, 1, 1, 3, 1, 1, 3]); // cw 1, 3, 1, 3 …: 2 to 1
  });

  it('a dest change sends the walk back to the head, keeping cw', () => {
    const r = rig('wrr');
    r.add(3, 2); r.add(2, 3); r.add(1, 4);
    expect(r.picks(4)).toEqual([1, 2, 3, 1]); // now cw 4, cl = 1
    r.edit(3, 2); // same weights: cl = head, cw stays 4
    expect(r.picks(3)).toEqual([1, 1, 2]); // without the reset: 1 (cw 3), 2, 1
  });

  it('weight 0 everywhere: mw 0, no destination; all overloaded: none, and it stops', () => {
    const r = rig('wrr');
    r.add(1, 0); r.add(2, 0);
    expect(r.pick()).toBeNull();
    r.edit(1, 1); r.edit(2, 1);
    r.dest(1).flags |= DEST_F.OVERLOAD;
    r.dest(2).flags |= DEST_F.OVERLOAD;
    expect(r.pick()).toBeNull();
    r.dest(1).flags &= ~DEST_F.OVERLOAD;
    expect(r.picks(3)).toEqual([1, 1, 1]);
  });

  it('a quiescent dest (weight 0) is skipped in every pass', () => {
    const r = rig('wrr');
    r.add(3, 1); r.add(2, 0); r.add(1, 2); // list [1(2), 2(0), 3(1)]; cw 1 after the adds
    expect(r.picks(6)).toEqual([1, 3, 1, 1, 3, 1]); // cw 1, 2, 1, 2
    expect(r.picks(3)).toEqual([1, 3, 1]);
  });
});
