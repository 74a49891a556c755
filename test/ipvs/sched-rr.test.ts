import { describe, expect, it } from 'vitest';
import { DEST_F } from '../../src/ipvs/types.js';
import { rig } from './helpers.js';

// ip_vs_rr.c: the position walks on through the list (newest dest first: list_add), wrapping once.
describe('rr', () => {
  it('cycles through the list in kernel order (newest first)', () => {
    const r = rig('rr');
    r.add(1); r.add(2); r.add(3);
    expect(r.order()).toEqual([3, 2, 1]);
    expect(r.picks(7)).toEqual([3, 2, 1, 3, 2, 1, 3]);
  });

  it('skips weight 0 (quiescent) and OVERLOAD dests, and gives none when all are', () => {
    const r = rig('rr');
    r.add(1); r.add(2); r.add(3);
    expect(r.pick()).toBe(3);
    r.edit(2, 0);
    expect(r.picks(3)).toEqual([1, 3, 1]);
    r.dest(1).flags |= DEST_F.OVERLOAD;
    expect(r.picks(2)).toEqual([3, 3]);
    r.edit(3, 0);
    expect(r.pick()).toBeNull();
  });

  it('deleting the dest under the position resumes after its predecessor', () => {
    const r = rig('rr');
    r.add(1); r.add(2); r.add(3);
    expect(r.picks(2)).toEqual([3, 2]);
    r.del(2); // position → 3
    expect(r.picks(3)).toEqual([1, 3, 1]);
  });

  it('deleting the first dest under the position goes back to the head', () => {
    const r = rig('rr');
    r.add(1); r.add(2); r.add(3);
    expect(r.pick()).toBe(3);
    r.del(3);
    expect(r.picks(3)).toEqual([2, 1, 2]);
  });

  it('a dest added meanwhile goes to the head and waits for the wrap', () => {
    const r = rig('rr');
    r.add(1); r.add(2); r.add(3);
    expect(r.pick()).toBe(3);
    r.add(4);
    expect(r.order()).toEqual([4, 3, 2, 1]);
    expect(r.picks(4)).toEqual([2, 1, 4, 3]);
  });

  it('no dests: none', () => {
    expect(rig('rr').pick()).toBeNull();
  });
});
