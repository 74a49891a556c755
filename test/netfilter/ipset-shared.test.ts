/**
 * Ipsets.addShared (HashSet.adopt): a hash:ip set filled by reference to shared
 * addresses answers membership tests (and counts its lookups) as the set filled by
 * `ipset restore -exist` of the same `add ADDR timeout 0` lines, and its `ipset save`
 * (table layout, hashsize after resizes, initval), later adds, dels and flushes are the
 * same — whichever of them comes first.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HashSet, Ipsets, SharedAddresses } from '../../src/netfilter/ipset.js';
import { ipsetRestore } from '../../src/netfilter/ipset-text.js';

const ipText = (ip: number) => `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;

function pair(initval: number): [Ipsets, Ipsets] {
  const mk = () => { const s = new Ipsets({ now: () => 0 }); s.create('S', 'hash:ip', { timeout: 0, initval }); return s; };
  return [mk(), mk()];
}

describe('Ipsets.addShared', () => {
  it('= ipset restore -exist of the add lines, for tests, save and later changes', () => {
    const ip = fc.integer({ min: 0x0a000000, max: 0x0a0003ff });
    fc.assert(fc.property(
      fc.array(ip, { maxLength: 400 }), fc.array(ip, { maxLength: 20 }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.constantFrom('test-first', 'save-first', 'add-first', 'del-first', 'flush-first'),
      (ips, probes, initval, order) => {
        const [byText, byRef] = pair(initval);
        ipsetRestore(byText, ips.map((i) => `add S ${ipText(i)} timeout 0\n`).join(''), { exist: true });
        byRef.addShared('S', new SharedAddresses(ips));
        const first = (s: Ipsets) => {
          if (order === 'add-first') s.add('S', '10.0.9.9', { timeout: 0, exist: true });
          if (order === 'del-first' && ips.length) s.del('S', ipText(ips[0]!), { exist: true });
          if (order === 'flush-first') s.flush('S');
          if (order === 'save-first') return s.save();
          return '';
        };
        expect(first(byRef)).toBe(first(byText));
        const tests = (s: Ipsets) => probes.map((p) => s.testElem('S', ipText(p)));
        expect(tests(byRef)).toEqual(tests(byText));
        expect((byRef.get('S') as HashSet).lookups).toBe((byText.get('S') as HashSet).lookups);
        expect(byRef.save()).toBe(byText.save());
      }), { numRuns: 60, seed: 3 });
  });

  it('a set adopted by reference keeps its own table once changed: the shared addresses stay as given', () => {
    const shared = new SharedAddresses([0x0a000001, 0x0a000002]);
    const [a, b] = pair(7);
    a.addShared('S', shared);
    b.addShared('S', shared);
    a.del('S', '10.0.0.1');
    expect(a.testElem('S', '10.0.0.1')).toBe(false);
    expect(b.testElem('S', '10.0.0.1')).toBe(true);
    expect(shared.has(0x0a000001)).toBe(true);
  });
});
