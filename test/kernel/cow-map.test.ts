import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CowMap } from '../../src/kernel/cow-map.js';

type Op = { kind: 'set'; k: number; v: number; on: number } | { kind: 'delete'; k: number; on: number } | { kind: 'fork'; on: number } | { kind: 'clear'; on: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), k: fc.integer({ min: 0, max: 11 }), v: fc.integer({ min: 0, max: 3 }), on: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), k: fc.integer({ min: 0, max: 11 }), on: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fork' as const), on: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const), on: fc.nat() }) },
);

describe('CowMap', () => {
  it('behaves as a Map of its own after every fork (entries in order, size, get, has)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 3 })), { maxLength: 6 }), fc.array(op, { maxLength: 40 }), (init, ops) => {
      const cows = [new CowMap<number, number>(init)];
      const maps = [new Map<number, number>(init)];
      for (const o of ops) {
        const i = o.on % cows.length;
        if (o.kind === 'set') { cows[i].set(o.k, o.v); maps[i].set(o.k, o.v); }
        else if (o.kind === 'delete') expect(cows[i].delete(o.k)).toBe(maps[i].delete(o.k));
        else if (o.kind === 'clear') { cows[i].clear(); maps[i].clear(); }
        else { cows.push(cows[i].fork()); maps.push(new Map(maps[i])); }
        for (let j = 0; j < cows.length; j++) {
          expect([...cows[j]]).toEqual([...maps[j]]);
          expect([...cows[j].keys()]).toEqual([...maps[j].keys()]);
          expect(cows[j].size).toBe(maps[j].size);
          for (let k = 0; k < 12; k++) { expect(cows[j].get(k)).toBe(maps[j].get(k)); expect(cows[j].has(k)).toBe(maps[j].has(k)); }
        }
      }
    }));
  });
});
