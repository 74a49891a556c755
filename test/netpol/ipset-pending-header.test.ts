/**
 * kube-router's later syncs read every existing set's options (`ipset save`'s header,
 * hashsize included). A set filled by reference (Ipsets.addShared) answers its header
 * without building its table: the hashsize its adds would end with. Property: that header
 * equals the header of the same set once its table is built, for hash:ip and hash:net,
 * with duplicates, any initval, hashsize and bucketsize — and reading it builds nothing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HashSet, Ipsets, SharedAddresses } from '../../src/netfilter/ipset.js';
import { ipsetRestore, ipsetSave } from '../../src/netfilter/ipset-text.js';

function registry(initvals: number[]): Ipsets {
  let k = 0;
  return new Ipsets({ now: () => 0, random: () => initvals[k++ % initvals.length]! });
}

describe('a shared-address set\'s header = its header once filled', () => {
  it('hashsize (and the rest) as the adds would leave it', () => {
    fc.assert(fc.property(
      fc.constantFrom('hash:ip', 'hash:net'),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 20, max: 32 })), { minLength: 1, maxLength: 1500 }),
      fc.constantFrom(64, 128, 1024),
      fc.constantFrom(2, 4, 6, 12),
      fc.integer({ min: 0, max: 0xffffffff }),
      (type, elems, hashsize, bucketsize, initval) => {
        const ips = elems.map(([x]) => (0x0a000000 + x * 4099) >>> 0);
        const cidrs = type === 'hash:net' ? elems.map(([, c]) => c) : undefined;
        const shared = new SharedAddresses(ips, cidrs);
        const sets = registry([initval]);
        ipsetRestore(sets, `create S ${type} hashsize ${hashsize} bucketsize ${bucketsize} maxelem 65536 timeout 0\n`);
        sets.addShared('S', shared);
        const s = sets.get('S') as HashSet;
        const bitsBefore = s.bits;
        const lazy = s.header();
        expect(s.bits).toBe(bitsBefore); // nothing built
        ipsetSave(sets); // lists the entries: the table is built
        expect(s.header()).toBe(lazy);
      },
    ), { numRuns: 300, seed: 5 });
  });
});
