/**
 * The speaker's compact tables (issue 9) against the plain structures they replace:
 * PrefixSet is a Set<Prefix> (insertion order, no duplicates, across the size at which it
 * builds its index), PrefixTable a Map keyed by prefix (insertion order, a key deleted and set
 * again goes last), PathStore hands out distinct live slots and keeps what each holds (attributes
 * the registry numbers and those it does not), RouteSources counts each source's paths and frees
 * its local id with the last one, for any 32-bit remote path id; AdjRibOut is a map keyed by
 * (prefix, neighbour).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PrefixSet, PrefixTable, prefixOf, type Prefix } from '../../../src/calico/bgp/prefix-table.js';
import { AttrRegistry, NIL, PathStore, RouteSources } from '../../../src/calico/bgp/path-store.js';
import { AdjRibOut } from '../../../src/calico/bgp/adj-rib-out.js';
import type { AdjOut } from '../../../src/calico/bgp/session.js';

const pfx = (i: number): Prefix => prefixOf((0x0a300000 + i * 64) >>> 0, 26);

describe('PrefixSet', () => {
  it('is a Set<Prefix>: insertion order, no duplicates, cleared and refilled', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constant(-1)), { maxLength: 200 }), (ops) => {
      const s = new PrefixSet(), ref = new Set<Prefix>();
      for (const op of ops) {
        if (op < 0) { s.clear(); ref.clear(); } else { s.add(pfx(op)); ref.add(pfx(op)); }
        expect(s.size).toBe(ref.size);
      }
      expect(s.items).toEqual([...ref]);
    }), { seed: 9, numRuns: 300 });
  });
});

describe('PrefixTable', () => {
  it('is a Map keyed by prefix: values, keys and their insertion order', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 30 }), fc.integer()), { maxLength: 200 }), (ops) => {
      const t = new PrefixTable<number>(), ref = new Map<Prefix, number>();
      for (const [set, i, v] of ops) {
        if (set) { t.set(pfx(i), v); ref.set(pfx(i), v); } else expect(t.delete(pfx(i))).toBe(ref.delete(pfx(i)));
        expect(t.size).toBe(ref.size);
      }
      expect(t.keys()).toEqual([...ref.keys()]);
      expect(t.values()).toEqual([...ref.values()]);
      for (const [k, v] of ref) expect(t.get(k.key)).toBe(v);
    }), { seed: 9, numRuns: 300 });
  });

  it('keeps its order when the 32-bit insertion numbers run out (renumbered)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 30 })), { maxLength: 200 }), (ops) => {
      const t = new PrefixTable<number>(), ref = new Map<Prefix, number>();
      (t as unknown as { nextSeq: number }).nextSeq = 0x7fffffff - 5; // as after two billion insertions
      for (const [set, i] of ops) {
        if (set) { t.set(pfx(i), i); ref.set(pfx(i), i); } else { t.delete(pfx(i)); ref.delete(pfx(i)); }
        // Reading the order between changes keeps the insertion-order array live (deletes drop it).
        expect(t.keys()).toEqual([...ref.keys()]);
      }
      expect((t as unknown as { nextSeq: number }).nextSeq).toBeLessThanOrEqual(0x7fffffff);
    }), { seed: 9, numRuns: 300 });
  });
});

describe('PathStore', () => {
  it('live slots are distinct and keep their fields through growth and reuse', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: -1, max: 1000 }), { maxLength: 300 }), (ops) => {
      // Even values are shared (numbered once, whatever path holds them); odd ones are each path's own.
      const shared = new Map<number, { n: number; ix?: number }>();
      const st = new PathStore<{ n: number; ix?: number }>(new AttrRegistry((a) => a.n % 2 === 0));
      const attrsOf = (n: number) => { if (n % 2) return { n }; let a = shared.get(n); if (!a) shared.set(n, (a = { n })); return a; };
      const live = new Map<number, number>();
      for (const op of ops) {
        if (op < 0 || live.size > 0 && op % 3 === 0) {
          const first = live.keys().next();
          if (!first.done) { st.release(first.value); live.delete(first.value); }
          continue;
        }
        const x = st.alloc(op % 7 - 1, op, op + 3, attrsOf(op), op * 1e9);
        expect(live.has(x)).toBe(false);
        expect(st.next[x]).toBe(NIL);
        live.set(x, op);
      }
      for (const [x, op] of live) {
        expect([st.peer[x], st.rid[x], st.lid[x], st.at[x], st.attrs(x).n]).toEqual([op % 7 - 1, op, op + 3, op * 1e9, op]);
        if (op % 2 === 0) expect(st.attrs(x)).toBe(shared.get(op));
      }
    }), { seed: 9, numRuns: 300 });
  });
});

describe('RouteSources', () => {
  it('is a map from remote path id to (local id, path count), for ids small and up to 2^32 - 1', () => {
    const rid = fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 65_530, max: 65_540 }), fc.constantFrom(2 ** 31, 2 ** 32 - 1));
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), rid), { maxLength: 200 }), (ops) => {
      const s = new RouteSources(), ref = new Map<number, { id: number; n: number }>();
      let next = 3;
      for (const [take, r] of ops) {
        if (take) {
          const id = s.take(r, () => next++);
          const e = ref.get(r);
          if (e) { e.n++; expect(id).toBe(e.id); } else { expect(id).toBe(next - 1); ref.set(r, { id, n: 1 }); }
        } else {
          const e = ref.get(r);
          // Releasing with another id (a stale path's) changes nothing.
          expect(s.release(r, e ? e.id + 1000 : 1)).toBe(false);
          if (!e) continue;
          const last = --e.n === 0;
          if (last) ref.delete(r);
          expect(s.release(r, e.id)).toBe(last);
        }
        expect(s.empty).toBe(ref.size === 0);
      }
    }), { seed: 9, numRuns: 300 });
  });
});

describe('AdjRibOut', () => {
  it('is a map keyed by (prefix, neighbour): set, unset, a neighbour cleared, everything cleared', () => {
    type Op = { k: 'set'; p: number; s: number; v: number } | { k: 'unset'; p: number; s: number } | { k: 'clear'; s: number } | { k: 'all' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ k: fc.constant('set' as const), p: fc.integer({ min: 0, max: 30 }), s: fc.integer({ min: 0, max: 12 }), v: fc.integer({ min: 0, max: 5 }) }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant('unset' as const), p: fc.integer({ min: 0, max: 30 }), s: fc.integer({ min: 0, max: 12 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('clear' as const), s: fc.integer({ min: 0, max: 12 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('all' as const) }) },
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const t = new AdjRibOut(), ref = new Map<string, AdjOut>();
      const entries = [0, 1, 2, 3, 4, 5].map((id) => ({ id, sig: `s${id}` }));
      for (const o of ops) {
        if (o.k === 'set') { t.set(o.p, o.s, entries[o.v]); ref.set(`${o.p}/${o.s}`, entries[o.v]!); }
        else if (o.k === 'unset') { t.set(o.p, o.s, undefined); ref.delete(`${o.p}/${o.s}`); }
        else if (o.k === 'clear') { t.clear(o.s); for (const k of [...ref.keys()]) if (k.endsWith(`/${o.s}`)) ref.delete(k); }
        else { t.clearAll(); ref.clear(); }
      }
      for (let p = 0; p <= 31; p++) for (let s = 0; s <= 13; s++) expect(t.get(p, s)).toBe(ref.get(`${p}/${s}`));
    }), { seed: 9, numRuns: 300 });
  });
});
