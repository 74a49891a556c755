/**
 * Ruleset.copyOf (kube-proxy's first sync made once on a template and copied into every
 * pristine node's ruleset): the copy saves, validates later changes and reports their
 * errors exactly as a ruleset that made the same changes itself (its jump index reads through
 * to the template's), and the template and other copies never see one copy's changes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OverlayChainMap, Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import type { Chain } from '../../src/netfilter/types.js';

/** Chain objects as kube-proxy hands them over: parsed once, shared. */
function chainsOf(table: 'filter' | 'nat', text: string): Chain[] {
  const rs = new Ruleset();
  iptablesRestore(rs, text, { noflush: true });
  return [...rs.tables[table].chains.values()].filter((c) => c.policy === null);
}

const JUMPS = ['*mangle', ':KUBE-PROXY-CANARY - [0:0]', 'COMMIT', '*filter', ':KUBE-PROXY-CANARY - [0:0]',
  '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', 'COMMIT',
  '*nat', ':KUBE-PROXY-CANARY - [0:0]', '-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', 'COMMIT', ''].join('\n');

function kubeText(n: number, table: 'filter' | 'nat'): string {
  const l = [`*${table}`, ':KUBE-SERVICES - [0:0]'];
  for (let i = 0; i < n; i++) l.push(`:KUBE-SVC-${i} - [0:0]`, `:KUBE-SEP-${i} - [0:0]`);
  for (let i = 0; i < n; i++) {
    l.push(`-A KUBE-SERVICES -d 10.96.0.${i + 1}/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-${i}`);
    l.push(`-A KUBE-SVC-${i} -j KUBE-SEP-${i}`);
    l.push(table === 'nat' ? `-A KUBE-SEP-${i} -p tcp -m tcp -j DNAT --to-destination 10.244.0.${i + 1}:8080` : `-A KUBE-SEP-${i} -j ACCEPT`);
  }
  l.push('COMMIT', '');
  return l.join('\n');
}

/** Later changes a node makes (felix's restore, a policy's DNAT in the wrong place, deletions): text lines per table. */
const change = fc.array(fc.constantFrom(
  '*filter\n:cali-INPUT - [0:0]\n-A cali-INPUT -j ACCEPT\n-I INPUT 1 -j cali-INPUT\nCOMMIT\n',
  '*nat\n:cali-POSTROUTING - [0:0]\n-A cali-POSTROUTING -j MASQUERADE\n-I POSTROUTING 1 -j cali-POSTROUTING\nCOMMIT\n',
  '*nat\n-A KUBE-SVC-0 -j KUBE-SEP-1\nCOMMIT\n',
  '*nat\n-I INPUT 1 -j KUBE-SERVICES\nCOMMIT\n',
  '*nat\n:KUBE-SVC-1 - [0:0]\n-A KUBE-SVC-1 -j KUBE-SERVICES\nCOMMIT\n',
  '*filter\n-F KUBE-SERVICES\n-X KUBE-SVC-0\nCOMMIT\n',
  '*filter\n-X KUBE-SEP-1\nCOMMIT\n',
  '*nat\n-D PREROUTING 1\n-A KUBE-SEP-0 -j RETURN\nCOMMIT\n',
), { maxLength: 6 });

describe('Ruleset.copyOf', () => {
  it('a copy of a first-sync template = the same changes made on a pristine ruleset, then under the same later changes', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 90 }), change, (n, later) => {
      const filter = chainsOf('filter', kubeText(n, 'filter')), nat = chainsOf('nat', kubeText(n, 'nat'));
      const first = (rs: Ruleset) => {
        rs.replaceTables([{ table: 'filter', set: filter }, { table: 'nat', set: nat }]);
        iptablesRestore(rs, JUMPS, { noflush: true });
      };
      const direct = new Ruleset();
      expect(direct.pristine).toBe(true);
      first(direct);
      const tpl = new Ruleset();
      first(tpl);
      const tplSave = iptablesSave(tpl, { counters: true });
      const copy = new Ruleset(), other = new Ruleset();
      copy.copyOf(tpl);
      other.copyOf(tpl);
      expect(copy.pristine).toBe(false);
      expect(iptablesSave(copy, { counters: true })).toBe(iptablesSave(direct, { counters: true }));
      for (const text of later) {
        const run = (rs: Ruleset) => { try { iptablesRestore(rs, text, { noflush: true }); return 'ok'; } catch (e) { return (e as Error).message; } };
        expect(run(copy)).toBe(run(direct));
        expect(iptablesSave(copy, { counters: true })).toBe(iptablesSave(direct, { counters: true }));
      }
      expect(iptablesSave(tpl, { counters: true })).toBe(tplSave);
      expect(iptablesSave(other, { counters: true })).toBe(tplSave);
      // Another copy, made before the first one changed (their indexes read through to the
      // template's), takes the same changes as a fresh ruleset: nothing leaked into the template.
      const direct2 = new Ruleset();
      first(direct2);
      for (const text of [...later].reverse()) {
        const run = (rs: Ruleset) => { try { iptablesRestore(rs, text, { noflush: true }); return 'ok'; } catch (e) { return (e as Error).message; } };
        expect(run(other)).toBe(run(direct2));
        expect(iptablesSave(other, { counters: true })).toBe(iptablesSave(direct2, { counters: true }));
      }
    }), { numRuns: 60, seed: 9 });
  });

  it("one copy's edge removals do not reach another copy's checks (the template's index is never changed in place)", () => {
    const filter = chainsOf('filter', kubeText(3, 'filter')), nat = chainsOf('nat', kubeText(3, 'nat'));
    const tpl = new Ruleset();
    tpl.replaceTables([{ table: 'filter', set: filter }, { table: 'nat', set: nat }]);
    iptablesRestore(tpl, JUMPS, { noflush: true });
    const a = new Ruleset(), b = new Ruleset();
    a.copyOf(tpl);
    b.copyOf(tpl);
    // a: PREROUTING no longer jumps to KUBE-SERVICES (its parents were PREROUTING and OUTPUT).
    iptablesRestore(a, '*nat\n-D PREROUTING 1\nCOMMIT\n', { noflush: true });
    const limited = '*nat\n-A KUBE-SVC-0 -m addrtype --dst-type LOCAL --limit-iface-out -j RETURN\nCOMMIT\n';
    iptablesRestore(a, limited, { noflush: true });
    // b still reaches KUBE-SVC-0 from PREROUTING, where --limit-iface-out is not allowed.
    expect(() => iptablesRestore(b, limited, { noflush: true })).toThrow(/limit-iface-out|not valid/);
  });

  it('refuses a ruleset that is not pristine', () => {
    const rs = new Ruleset();
    iptablesRestore(rs, '*filter\n-A INPUT -j ACCEPT\nCOMMIT\n', { noflush: true });
    expect(rs.pristine).toBe(false);
    expect(() => rs.copyOf(new Ruleset())).toThrow(/not pristine/);
  });
});

describe('OverlayChainMap', () => {
  it('behaves as a Map holding the base entries, under any sets, deletes and clears (order, size, reads)', () => {
    const key = fc.constantFrom('A', 'B', 'C', 'D', 'E', 'F', 'G');
    const op = fc.oneof(
      fc.tuple(fc.constant('set' as const), key, fc.integer({ min: 0, max: 5 })),
      fc.tuple(fc.constant('delete' as const), key, fc.constant(0)),
      fc.tuple(fc.constant('clear' as const), key, fc.constant(0)),
    );
    fc.assert(fc.property(fc.uniqueArray(key, { maxLength: 5 }), fc.array(op, { maxLength: 30 }), (baseKeys, ops) => {
      const chain = (k: string, v: number): Chain => ({ name: k, policy: null, pkts: v, bytes: 0, rules: [] });
      const base = new Map(baseKeys.map((k) => [k, chain(k, 9)]));
      const ref = new Map(base), o = new OverlayChainMap(base);
      const baseBefore = [...base.entries()];
      const same = () => {
        expect([...o.entries()]).toEqual([...ref.entries()]);
        expect([...o]).toEqual([...ref]);
        expect([...o.keys()]).toEqual([...ref.keys()]);
        expect([...o.values()]).toEqual([...ref.values()]);
        expect(o.size).toBe(ref.size);
        expect([...new Map(o)]).toEqual([...ref]);
        const seen: string[] = [];
        o.forEach((v, k) => seen.push(`${k}${v.pkts}`));
        expect(seen).toEqual([...ref].map(([k, v]) => `${k}${v.pkts}`));
        for (const k of ['A', 'B', 'C', 'D', 'E', 'F', 'G']) { expect(o.has(k)).toBe(ref.has(k)); expect(o.get(k)).toBe(ref.get(k)); }
      };
      for (const [what, k, v] of ops) {
        if (what === 'set') { const c = chain(k, v); expect(o.set(k, c)).toBe(o); ref.set(k, c); }
        else if (what === 'delete') expect(o.delete(k)).toBe(ref.delete(k));
        else { o.clear(); ref.clear(); }
        same();
      }
      expect([...base.entries()]).toEqual(baseBefore);
    }), { numRuns: 300, seed: 11 });
  });
});
