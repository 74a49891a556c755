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

describe('Ipsets.addShared on hash:net (felix\'s selector sets)', () => {
  const pairNet = (initval: number): [Ipsets, Ipsets] => {
    const mk = () => { const s = new Ipsets({ now: () => 0 }); s.create('N', 'hash:net', { hashsize: 1024, maxelem: 1048576, initval }); return s; };
    return [mk(), mk()];
  };
  const maskOf = (c: number) => (c === 0 ? 0 : (0xffffffff << (32 - c)) >>> 0);

  it('= ipset restore of the add lines (nets of several prefixes), for tests, lookups, save and later changes', () => {
    const net = fc.tuple(fc.integer({ min: 0x0a000000, max: 0x0a0007ff }), fc.constantFrom(32, 32, 32, 30, 28, 24, 16));
    fc.assert(fc.property(
      fc.uniqueArray(net, { maxLength: 300, selector: ([ip, c]) => `${(ip & maskOf(c)) >>> 0}/${c}` }),
      fc.array(fc.integer({ min: 0x0a000000, max: 0x0a0007ff }), { maxLength: 30 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.constantFrom('test-first', 'save-first', 'add-first', 'del-first', 'flush-first', 'swap-first'),
      (nets, probes, initval, order) => {
        const [byText, byRef] = pairNet(initval);
        const text = (ip: number, c: number) => (c === 32 ? ipText(ip) : `${ipText((ip & maskOf(c)) >>> 0)}/${c}`);
        ipsetRestore(byText, nets.map(([ip, c]) => `add N ${text(ip, c)}\n`).join(''));
        byRef.addShared('N', new SharedAddresses(nets.map(([ip]) => ip), nets.map(([, c]) => c)));
        const first = (s: Ipsets) => {
          if (order === 'add-first') s.add('N', '10.0.9.0/24', { exist: true });
          if (order === 'del-first' && nets.length) s.del('N', text(nets[0]![0], nets[0]![1]), { exist: true });
          if (order === 'flush-first') s.flush('N');
          if (order === 'swap-first') { s.create('T', 'hash:net', { initval: 5 }); s.swap('T', 'N'); s.swap('T', 'N'); s.destroy('T'); }
          if (order === 'save-first') return s.save();
          return '';
        };
        expect(first(byRef)).toBe(first(byText));
        const tests = (s: Ipsets) => [...probes.map((p) => s.testElem('N', ipText(p))), ...nets.slice(0, 5).map(([ip, c]) => s.testElem('N', text(ip, c)))];
        expect(tests(byRef)).toEqual(tests(byText));
        expect((byRef.get('N') as HashSet).netCount()).toBe((byText.get('N') as HashSet).netCount());
        expect((byRef.get('N') as HashSet).lookups).toBe((byText.get('N') as HashSet).lookups);
        expect(byRef.save()).toBe(byText.save());
      }), { numRuns: 80, seed: 4 });
  });

  it('a pending hash:net set answers netCount without filling its table; a hash:ip set refuses nets', () => {
    const s = new Ipsets({ now: () => 0 });
    s.create('N', 'hash:net', { initval: 1 });
    s.addShared('N', new SharedAddresses([0x0a000001, 0x0a000100], [32, 24]));
    const h = s.get('N') as HashSet;
    expect(h.netCount()).toBe(2);
    expect(h.elements).toBe(0);
    expect(s.testElem('N', '10.0.1.77')).toBe(true);
    expect(h.elements).toBe(0);
    s.create('I', 'hash:ip', { initval: 1 });
    expect(() => s.addShared('I', new SharedAddresses([0x0a000100], [24]))).toThrow(/not a hash:ip set/);
  });
});
