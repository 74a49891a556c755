/**
 * Rule sets shared across namespaces: counters per namespace (not per rule
 * object), copy-on-write of shared chains on every operation,
 * Ruleset.replaceChains ≡ iptables-restore --noflush of the equivalent text
 * (result and errors), and the lazily rendered configuration log.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ruleset, RulesetError, makeRule, ruleText, rulesetTuning } from '../../src/netfilter/ruleset.js';
import { iptablesRestore, parseRule } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import { chainIndex, traverseTable, traverseTuning } from '../../src/netfilter/traverse.js';
import type { Chain, PacketCtx, TableName } from '../../src/netfilter/types.js';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { iptablesReplaceChains, iptablesRestore as nodeRestore, iptablesSaveText } from '../../src/netfilter/index.js';
import { parseIp } from '../../src/wire/bytes.js';

const save = (rs: Ruleset, counters = true) => iptablesSave(rs, { noComments: true, counters });

/** A user chain built from rule texts (as the proxier builds Chain objects, not text). */
function userChain(table: TableName, name: string, rules: string[]): Chain {
  return { name, policy: null, pkts: 0, bytes: 0, rules: rules.map((r) => parseRule(r, table, name, null)) };
}

/** The iptables-restore --noflush text replaceChains stands for (kube-proxy's: stale chains declared, then -X). */
function equivalentText(table: TableName, set: Chain[], deleted: string[], rulesText: Map<Chain, string[]>): string {
  let s = `*${table}\n`;
  for (const c of set) s += `:${c.name} - [0:0]\n`;
  const declared = new Set(set.map((c) => c.name));
  for (const d of deleted) if (!declared.has(d)) { declared.add(d); s += `:${d} - [0:0]\n`; }
  for (const c of set) for (const r of rulesText.get(c)!) s += `-A ${c.name} ${r}\n`;
  for (const d of deleted) s += `-X ${d}\n`;
  return s + 'COMMIT\n';
}

/** A minimal PacketCtx for header-only rules (-d). */
const pkt = (dst: string): PacketCtx => ({
  skb: { len: 114, nh: 14, data: 0 }, saddr: parseIp('10.0.0.9')!, daddr: parseIp(dst)!, proto: 6, fragOff: 0, sport: 1000, dport: 80,
  inDev: null, outDev: null,
} as unknown as PacketCtx);

const BASE = '*filter\n:INPUT ACCEPT [0:0]\n:SVC - [0:0]\n-A INPUT -j SVC\nCOMMIT\n';

describe('counters are per namespace', () => {
  it('two rulesets sharing a chain count their own packets; save -c, -Z and restore -c stay per namespace', () => {
    const shared = userChain('filter', 'SVC', ['-d 10.0.0.1/32 -j ACCEPT', '-d 10.0.0.2/32 -j ACCEPT']);
    const a = new Ruleset(), b = new Ruleset();
    iptablesRestore(a, BASE);
    iptablesRestore(b, BASE);
    a.replaceChains('filter', [shared], []);
    b.replaceChains('filter', [shared], []);
    expect(a.chain('filter', 'SVC')).toBe(shared);
    expect(b.chain('filter', 'SVC')).toBe(shared);
    for (let i = 0; i < 3; i++) traverseTable(a.tables.filter, 'INPUT', pkt('10.0.0.2'), null);
    traverseTable(b.tables.filter, 'INPUT', pkt('10.0.0.1'), null);
    expect(a.ruleCounters('filter', 'SVC', 2)).toEqual({ pkts: 3, bytes: 300 });
    expect(a.ruleCounters('filter', 'SVC', 1)).toEqual({ pkts: 0, bytes: 0 });
    expect(b.ruleCounters('filter', 'SVC', 1)).toEqual({ pkts: 1, bytes: 100 });
    expect(b.ruleCounters('filter', 'SVC', 2)).toEqual({ pkts: 0, bytes: 0 });
    expect(save(a)).toContain('[3:300] -A INPUT -j SVC\n[0:0] -A SVC -d 10.0.0.1/32 -j ACCEPT\n[3:300] -A SVC -d 10.0.0.2/32 -j ACCEPT\n');
    expect(save(b)).toContain('[1:100] -A INPUT -j SVC\n[1:100] -A SVC -d 10.0.0.1/32 -j ACCEPT\n[0:0] -A SVC -d 10.0.0.2/32 -j ACCEPT\n');
    // -Z in one namespace leaves the other's counters and the shared chain alone.
    a.zero('filter', 'SVC');
    expect(a.chain('filter', 'SVC')).toBe(shared);
    expect(a.ruleCounters('filter', 'SVC', 2)).toEqual({ pkts: 0, bytes: 0 });
    expect(b.ruleCounters('filter', 'SVC', 1)).toEqual({ pkts: 1, bytes: 100 });
    // restore -c into one namespace.
    iptablesRestore(a, '*filter\n[7:8] -I SVC 1 -d 10.0.0.3/32 -j DROP\nCOMMIT\n', { noflush: true, counters: true });
    expect(save(a)).toContain('[7:8] -A SVC -d 10.0.0.3/32 -j DROP\n[0:0] -A SVC -d 10.0.0.1/32 -j ACCEPT\n');
    expect(b.chain('filter', 'SVC')).toBe(shared);
    expect(shared.rules.length).toBe(2);
    expect(save(b)).toContain('[1:100] -A SVC -d 10.0.0.1/32 -j ACCEPT\n[0:0] -A SVC -d 10.0.0.2/32 -j ACCEPT\n');
  });

  it('the same Rule object twice in one chain (and in two namespaces) has separate counters at each place', () => {
    const r = parseRule('-d 10.0.0.1/32', 'filter', 'SVC', null);
    const c: Chain = { name: 'SVC', policy: null, pkts: 0, bytes: 0, rules: [r, r, makeRule({}, [], null)] };
    const a = new Ruleset();
    iptablesRestore(a, BASE);
    a.replaceChains('filter', [c], []);
    traverseTable(a.tables.filter, 'INPUT', pkt('10.0.0.1'), null);
    traverseTable(a.tables.filter, 'INPUT', pkt('10.0.0.5'), null);
    expect([1, 2, 3].map((n) => a.ruleCounters('filter', 'SVC', n).pkts)).toEqual([1, 1, 2]);
  });

  it('counters follow their rules when a chain of the namespace is edited (insert/delete shift them)', () => {
    const a = new Ruleset();
    iptablesRestore(a, '*filter\n:INPUT ACCEPT [0:0]\n[1:10] -A INPUT -s 1.1.1.1/32\n[2:20] -A INPUT -s 2.2.2.2/32\n[3:30] -A INPUT -s 3.3.3.3/32\nCOMMIT\n', { counters: true });
    a.insert('filter', 'INPUT', parseRule('-s 4.4.4.4/32', 'filter', 'INPUT'), 2);
    a.delete('filter', 'INPUT', 1);
    a.replace('filter', 'INPUT', 3, parseRule('-s 5.5.5.5/32', 'filter', 'INPUT'));
    expect(save(a)).toBe('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n' +
      '[0:0] -A INPUT -s 4.4.4.4/32\n[2:20] -A INPUT -s 2.2.2.2/32\n[0:0] -A INPUT -s 5.5.5.5/32\nCOMMIT\n');
  });
});

describe('copy-on-write of shared chains', () => {
  const TEXT = '*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:SVC - [0:0]\n:SEP - [0:0]\n:EMPTY - [0:0]\n' +
    '-A PREROUTING -j SVC\n-A OUTPUT -j SVC\nCOMMIT\n';
  const sharedChains = () => [
    userChain('nat', 'SVC', ['-d 10.0.0.1/32 -j SEP', '-d 10.0.0.2/32 -j RETURN']),
    userChain('nat', 'SEP', ['-p tcp -j DNAT --to-destination 10.244.0.5:80']),
    userChain('nat', 'EMPTY', []),
  ];
  type Op = [string, (rs: Ruleset) => void];
  const ops: Op[] = [
    ['append', (rs) => rs.append('nat', 'SVC', parseRule('-j RETURN', 'nat', 'SVC'))],
    ['insert', (rs) => rs.insert('nat', 'SVC', parseRule('-j RETURN', 'nat', 'SVC'), 1)],
    ['delete by number', (rs) => rs.delete('nat', 'SVC', 2)],
    ['delete by spec', (rs) => rs.delete('nat', 'SVC', parseRule('-d 10.0.0.2/32 -j RETURN', 'nat', 'SVC'))],
    ['replace', (rs) => rs.replace('nat', 'SVC', 2, parseRule('-j RETURN', 'nat', 'SVC'))],
    ['flush chain', (rs) => rs.flush('nat', 'SVC')],
    ['flush table', (rs) => rs.flush('nat')],
    ['rename (the chain and the chains naming it)', (rs) => rs.renameChain('nat', 'SEP', 'SEP2')],
    ['rename an empty chain', (rs) => rs.renameChain('nat', 'EMPTY', 'EMPTY2')],
    ['delete chain', (rs) => rs.deleteChain('nat', 'EMPTY')],
    ['zero', (rs) => rs.zero('nat')],
    ['policy', (rs) => rs.setPolicy('nat', 'PREROUTING', 'DROP')],
    ['restore --noflush -A', (rs) => iptablesRestore(rs, '*nat\n-A SEP -j RETURN\nCOMMIT\n', { noflush: true })],
    ['restore --noflush :CHAIN (flush)', (rs) => iptablesRestore(rs, '*nat\n:SVC - [0:0]\nCOMMIT\n', { noflush: true })],
    ['restore --noflush -D, -R, -I, -E, -F, -Z', (rs) => iptablesRestore(rs, '*nat\n-D SVC 2\n-R SEP 1 -j RETURN\n-I SVC 1 -j RETURN\n-E EMPTY E2\n-F SVC\n-Z\nCOMMIT\n', { noflush: true })],
    ['restore (flush the table)', (rs) => iptablesRestore(rs, '*nat\n:SVC - [0:0]\n-A SVC -j RETURN\nCOMMIT\n')],
    ['replaceChains', (rs) => rs.replaceChains('nat', [userChain('nat', 'SVC', ['-j RETURN'])], ['EMPTY'])],
  ];
  it.each(ops)('%s changes only this ruleset', (_name, op) => {
    const chains = sharedChains();
    const snapshot = chains.map((c) => ({ c, name: c.name, rules: c.rules, copy: c.rules.slice(), gen: c.gen }));
    const a = new Ruleset(), b = new Ruleset();
    iptablesRestore(a, TEXT);
    iptablesRestore(b, TEXT);
    a.replaceChains('nat', chains, []);
    b.replaceChains('nat', chains, []);
    traverseTable(a.tables.nat, 'PREROUTING', pkt('10.0.0.2'), null);
    traverseTable(b.tables.nat, 'PREROUTING', pkt('10.0.0.2'), null);
    const bBefore = save(b);
    const aBefore = save(a);
    op(a);
    expect(save(a)).not.toBe(aBefore);
    // The shared objects are untouched, and so is the other ruleset.
    for (const s of snapshot) {
      expect(s.c.name).toBe(s.name);
      expect(s.c.rules).toBe(s.rules);
      expect(s.c.rules).toEqual(s.copy);
      expect(s.c.gen).toBe(s.gen);
      expect(s.c.shared).toBe(true);
    }
    expect(save(b)).toBe(bBefore);
    for (const c of chains) expect(b.chain('nat', c.name)).toBe(c);
    // And a's own copies (if any) are no longer shared (replaceChains installs new shared chains).
    if (_name !== 'replaceChains') for (const c of a.tables.nat.chains.values()) if (!chains.includes(c)) expect(c.shared).toBeFalsy();
  });

  it('built-in chains are never shared: replaceChains refuses them, clone copies them', () => {
    const a = new Ruleset();
    expect(() => a.replaceChains('nat', [userChain('nat', 'PREROUTING', [])], [])).toThrow("Can't set policy `-' on built-in chain PREROUTING");
    iptablesRestore(a, TEXT);
    const c = a.clone();
    for (const n of ['PREROUTING', 'OUTPUT', 'POSTROUTING', 'INPUT']) {
      expect(c.chain('nat', n)).not.toBe(a.chain('nat', n));
      expect(c.chain('nat', n).shared).toBeFalsy();
    }
    expect(c.chain('nat', 'SVC')).toBe(a.chain('nat', 'SVC'));
    expect(a.chain('nat', 'SVC').shared).toBe(true);
  });

  it('the jump index of a shared chain is built once for every namespace holding it', () => {
    const prev = traverseTuning.indexMinRules;
    traverseTuning.indexMinRules = 2;
    try {
      const chains = sharedChains();
      const a = new Ruleset(), b = new Ruleset();
      iptablesRestore(a, TEXT);
      iptablesRestore(b, TEXT);
      a.replaceChains('nat', chains, []);
      b.replaceChains('nat', chains, []);
      traverseTable(a.tables.nat, 'PREROUTING', pkt('10.0.0.2'), null);
      const ix = chainIndex(chains[0]);
      expect(ix).not.toBeNull();
      traverseTable(b.tables.nat, 'PREROUTING', pkt('10.0.0.2'), null);
      expect(chainIndex(b.chain('nat', 'SVC'))).toBe(ix);
      expect(chainIndex(a.chain('nat', 'SVC'))).toBe(ix);
      // a's own copy after an edit gets its own index; b keeps the shared one.
      a.append('nat', 'SVC', parseRule('-j RETURN', 'nat', 'SVC'));
      expect(chainIndex(a.chain('nat', 'SVC'))).not.toBe(ix);
      expect(chainIndex(b.chain('nat', 'SVC'))).toBe(ix);
    } finally {
      traverseTuning.indexMinRules = prev;
    }
  });
});

/** Runs `fn` with the incremental checks off (the full table check every time). */
function full<T>(fn: () => T): T {
  rulesetTuning.incremental = false;
  try { return fn(); } finally { rulesetTuning.incremental = true; }
}

/** Outcome of applying a change: the saved text with counters, or the error message. */
function outcome(fn: () => void, rs: Ruleset): string {
  const before = save(rs);
  try {
    fn();
  } catch (e) {
    expect(save(rs)).toBe(before);
    return `error: ${(e as Error).message}`;
  }
  return save(rs);
}

describe('replaceChains ≡ iptables-restore --noflush of the equivalent text', () => {
  const NAT_BASE = '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n' +
    ':A - [0:0]\n:B - [0:0]\n:C - [0:0]\n:D - [0:0]\n:E - [0:0]\n' +
    '[1:2] -A PREROUTING -j A\n[3:4] -A OUTPUT -j B\n[5:6] -A POSTROUTING -j C\n[7:8] -A INPUT -j D\n[9:10] -A A -d 10.1.1.1/32 -j B\n[11:12] -A B -j RETURN\nCOMMIT\n';

  function both(set: [string, string[]][], deleted: string[], base = NAT_BASE) {
    const a = new Ruleset(), b = new Ruleset();
    iptablesRestore(a, base, { counters: true });
    iptablesRestore(b, base, { counters: true });
    const texts = new Map<Chain, string[]>();
    const chains = set.map(([n, rules]) => { const c = userChain('nat', n, rules); texts.set(c, rules); return c; });
    const ra = outcome(() => a.replaceChains('nat', chains, deleted), a);
    const rb = outcome(() => iptablesRestore(b, equivalentText('nat', chains, deleted, texts), { noflush: true }), b);
    return { ra, rb };
  }

  it.each<[string, [string, string[]][], string[]]>([
    ['new and replaced chains', [['A', ['-d 10.0.0.1/32 -j F']], ['F', ['-p tcp -j DNAT --to-destination 10.244.0.1:80']]], []],
    ['deleting a chain no longer referenced', [['A', ['-j RETURN']]], ['B', 'E']],
    ['a set chain that is also deleted (flushed, then -X)', [['E', []]], ['E']],
    ['jump to a missing chain', [['A', ['-j RETURN', '-j NOPE']]], []],
    ['jump to a built-in chain', [['A', ['-j OUTPUT']]], []],
    ['loop through a changed chain', [['B', ['-j A']]], []],
    ['loop below a changed chain, made reachable by it', [['E', ['-j D2']], ['D2', ['-j E2']], ['E2', ['-j D2']], ['C', ['-j E']]], []],
    ['an unreachable loop is accepted (the kernel only checks what hooks reach)', [['E', ['-j F']], ['F', ['-j E']]], []],
    ['DNAT reached from INPUT', [['D', ['-j F']], ['F', ['-j DNAT --to-destination 1.2.3.4']]], []],
    ['MASQUERADE below a chain reached from PREROUTING', [['E', ['-j MASQUERADE']], ['A', ['-j E']]], []],
    ['SNAT in a chain that POSTROUTING reaches', [['C', ['-j SNAT --to-source 1.1.1.1']]], []],
    ['deleting a referenced chain', [['E', ['-j RETURN']]], ['B']],
    ['deleting a chain referenced by a set chain', [['E', ['-j C']]], ['C']],
    ['deleting a chain the set gives rules', [['E', ['-j RETURN']]], ['E']],
    ['deleting a stale chain that still has rules (flushed first)', [['A', ['-j RETURN']]], ['B']],
    ['deleting a built-in chain', [], ['PREROUTING']],
    ['deleting a missing chain', [], ['NOPE']],
    ['deleting a chain twice', [], ['E', 'E']],
    ['declaring a built-in chain', [['OUTPUT', []]], []],
    ['a chain name that clashes with a target', [['DNAT', []]], []],
    ['a chain name too long', [['A23456789012345678901234567890', []]], []],
  ])('%s', (_name, set, deleted) => {
    const { ra, rb } = both(set, deleted);
    expect(ra).toBe(rb);
  });

  it('the first error is the one iptables-restore reports (declarations, rules in order, -X in order, then the table check)', () => {
    const { ra } = both([['E', ['-j RETURN', '-j NOPE1']], ['F', ['-j NOPE2']], ['OUTPUT', []]], ['NOPE3']);
    expect(ra).toBe("error: Can't set policy `-' on built-in chain OUTPUT");
    expect(both([['E', ['-j RETURN', '-j NOPE1']], ['F', ['-j NOPE2']]], ['NOPE3']).ra).toBe("error: Chain 'NOPE1' does not exist");
    expect(both([['E', ['-j RETURN']]], ['B']).ra).toMatch(/^error: Chain 'B' is referenced by rule 1 of chain OUTPUT/);
    // A stale chain is flushed before its -X; one that is not there is created and deleted.
    expect(both([], ['A', 'NOPE3']).ra).toMatch(/^error: Chain 'A' is referenced by rule 1 of chain PREROUTING/);
    const r = both([], ['S', 'NOPE3'], '*nat\n:PREROUTING ACCEPT [0:0]\n:S - [0:0]\n-A S -j RETURN\nCOMMIT\n');
    expect(r.ra).toBe(r.rb);
    expect(r.ra).toBe('*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n');
  });

  it('targets invalid in the table are refused and nothing changes', () => {
    const a = new Ruleset();
    iptablesRestore(a, '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
    const c = userChain('nat', 'X', ['-j DNAT --to-destination 1.2.3.4']);
    expect(outcome(() => a.replaceChains('filter', [c], []), a)).toBe('error: DNAT target not valid in the filter table (only in nat)');
    expect(c.shared).toBeFalsy();
  });

  it('random changes, applied in sequence to one ruleset (caches kept) and as restore texts to another, agree', () => {
    const names = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
    const ruleArb = fc.oneof(
      fc.constantFrom('-j RETURN', '-j ACCEPT', '-d 10.0.0.1/32 -j MARK --set-xmark 0x1/0xffffffff', '-p tcp -j DNAT --to-destination 10.244.0.9:80',
        '-j MASQUERADE', '-j SNAT --to-source 1.1.1.1', '-j PREROUTING', '-j NOPE', '-m comment --comment "x y"'),
      fc.constantFrom(...names).map((n) => `-j ${n}`),
      fc.constantFrom(...names).map((n) => `-d 10.0.0.2/32 -g ${n}`),
    );
    const stepArb = fc.record({
      // [name, new rules, edit: keep the chain's current rule objects and splice the new ones in at `at`, dropping `drop` of them]
      set: fc.uniqueArray(fc.tuple(fc.constantFrom(...names), fc.array(ruleArb, { maxLength: 4 }), fc.boolean(), fc.nat(5), fc.nat(2)), { maxLength: 3, selector: (x) => x[0] }),
      deleted: fc.array(fc.constantFrom(...names, 'OUTPUT'), { maxLength: 2 }),
    });
    fc.assert(fc.property(fc.array(stepArb, { minLength: 1, maxLength: 8 }), (steps) => {
      const a = new Ruleset(), b = new Ruleset(), c = new Ruleset(), d = new Ruleset();
      for (const x of [a, b, c, d]) {
        iptablesRestore(x, NAT_BASE, { counters: true });
        // Keep the incremental caches warm between steps (an op before the first replace builds them).
        x.append('nat', 'E', parseRule('-j RETURN', 'nat', 'E'));
      }
      for (const s of steps) {
        const texts = new Map<Chain, string[]>();
        const chains = s.set.map(([n, rules, edit, at, drop]) => {
          const c = userChain('nat', n, rules);
          if (edit && a.hasChain('nat', n)) {
            // As the proxier does: most rule objects shared with the chain it replaces.
            const old = a.chain('nat', n).rules.slice();
            const k = Math.min(at, old.length);
            old.splice(k, Math.min(drop, old.length - k), ...c.rules);
            c.rules = old;
          }
          texts.set(c, c.rules.map((r) => ruleText(r).slice(1)));
          return c;
        });
        const ra = outcome(() => a.replaceChains('nat', chains, s.deleted), a);
        const rb = outcome(() => iptablesRestore(b, equivalentText('nat', chains, s.deleted, texts), { noflush: true }), b);
        expect(ra).toBe(rb);
        // The oracle: the same restore with the full table check.
        const rc = full(() => outcome(() => iptablesRestore(c, equivalentText('nat', chains, s.deleted, texts), { noflush: true }), c));
        expect(rb).toBe(rc);
        // The same through the transaction (replaceTables).
        expect(outcome(() => d.replaceTables([{ table: 'nat', set: chains, deleted: s.deleted }]), d)).toBe(ra);
        // A per-rule operation after it is validated the same way by both.
        const r = parseRule(s.set.length % 2 ? '-j MASQUERADE' : '-d 10.9.9.9/32 -j RETURN', 'nat', 'A');
        const oa = outcome(() => a.append('nat', 'A', r), a);
        expect(oa).toBe(outcome(() => b.append('nat', 'A', r), b));
        expect(oa).toBe(outcome(() => d.append('nat', 'A', r), d));
        expect(oa).toBe(full(() => outcome(() => c.append('nat', 'A', r), c)));
      }
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 300) });
  });
});

describe('iptables-restore as a transaction on the ruleset (no clone), checked incrementally at COMMIT', () => {
  it('random --noflush inputs: same results and errors as with the full table check; errors leave the ruleset (and its counters) unchanged', () => {
    const names = ['A', 'B', 'C', 'D', 'E'];
    const chain = fc.constantFrom(...names);
    const rule = fc.oneof(
      fc.constantFrom('-j RETURN', '-d 10.0.0.1/32 -j ACCEPT', '-p tcp -j DNAT --to-destination 10.244.0.9:80', '-j MASQUERADE', '-j NOPE'),
      chain.map((n) => `-j ${n}`),
    );
    const line = fc.oneof(
      fc.tuple(chain, rule).map(([c, r]) => `-A ${c} ${r}`),
      fc.tuple(fc.constantFrom(...names, 'PREROUTING', 'OUTPUT', 'POSTROUTING', 'INPUT'), rule).map(([c, r]) => `[5:6] -A ${c} ${r}`),
      fc.tuple(chain, fc.nat(3), rule).map(([c, n, r]) => `-I ${c} ${n + 1} ${r}`),
      fc.tuple(chain, fc.nat(2)).map(([c, n]) => `-D ${c} ${n + 1}`),
      fc.tuple(chain, fc.nat(2), rule).map(([c, n, r]) => `-R ${c} ${n + 1} ${r}`),
      chain.map((c) => `:${c} - [0:0]`),
      chain.map((c) => `-N ${c}`),
      chain.map((c) => `-X ${c}`),
      chain.map((c) => `-F ${c}`),
      chain.map((c) => `-Z ${c}`),
      fc.tuple(chain, chain).map(([x, y]) => `-E ${x} ${y}`),
      fc.constantFrom('-P PREROUTING DROP', '-P OUTPUT ACCEPT', ':POSTROUTING DROP [1:2]'),
    );
    const input = fc.array(line, { minLength: 1, maxLength: 6 }).map((ls) => `*nat\n${ls.join('\n')}\nCOMMIT\n`);
    const base = '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n:Z - [0:0]\n' +
      '[1:2] -A PREROUTING -j A\n[3:4] -A A -j B\n[5:6] -A POSTROUTING -j MASQUERADE\nCOMMIT\n';
    fc.assert(fc.property(fc.array(input, { minLength: 1, maxLength: 6 }), (inputs) => {
      const a = new Ruleset(), c = new Ruleset();
      for (const x of [a, c]) {
        iptablesRestore(x, base, { counters: true });
        x.deleteChain('nat', 'Z'); // builds the reverse index: later checks are incremental
      }
      for (const text of inputs) {
        const ra = outcome(() => iptablesRestore(a, text, { noflush: true, counters: true }), a);
        const rc = full(() => outcome(() => iptablesRestore(c, text, { noflush: true, counters: true }), c));
        expect(ra).toBe(rc);
      }
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 300) });
  });
});

describe('replaceTables: several tables in one transaction', () => {
  it('all or nothing, with the same result as replaceChains one table after the other', () => {
    const base = '*filter\n:INPUT ACCEPT [0:0]\n:F - [0:0]\n[4:5] -A INPUT -j F\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:N - [0:0]\n[6:7] -A PREROUTING -j N\nCOMMIT\n';
    const a = new Ruleset(), b = new Ruleset();
    iptablesRestore(a, base, { counters: true });
    iptablesRestore(b, base, { counters: true });
    const before = save(a);
    const f = userChain('filter', 'F', ['-j ACCEPT']);
    const bad = userChain('nat', 'N', ['-j MASQUERADE']); // MASQUERADE reached from PREROUTING
    expect(() => a.replaceTables([{ table: 'filter', set: [f] }, { table: 'nat', set: [bad] }])).toThrow('MASQUERADE target not valid in chain N');
    expect(save(a)).toBe(before);
    const good = userChain('nat', 'N', ['-p tcp -j DNAT --to-destination 10.0.0.1:80']);
    a.replaceTables([{ table: 'filter', set: [f] }, { table: 'nat', set: [good], deleted: [] }]);
    b.replaceChains('filter', [f], []);
    b.replaceChains('nat', [good], []);
    expect(save(a)).toBe(save(b));
    expect(a.chain('filter', 'F')).toBe(f);
    // Later changes still copy the shared chains.
    a.append('filter', 'F', parseRule('-j DROP', 'filter', 'F'));
    expect(f.rules.length).toBe(1);
  });
});

describe('lazy configuration log', () => {
  function node(): Node {
    const world = new World(1);
    const n = new Node(world, 'node-1', 'node');
    n.netnsAdd('pod');
    return n;
  }

  it('iptablesReplaceChains logs the restore command, rendered only when the log is read, as iptablesRestore logs it', () => {
    const n = node();
    nodeRestore(n, 'pod', '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
    const c = userChain('filter', 'SVC', ['-d 10.0.0.1/32 -j ACCEPT']);
    const text = '*filter\n:SVC - [0:0]\n-A SVC -d 10.0.0.1/32 -j ACCEPT\nCOMMIT\n';
    let calls = 0;
    iptablesReplaceChains(n, 'pod', 'filter', [c], [], () => { calls++; return text; });
    iptablesReplaceChains(n, 'host', 'filter', [c], [], () => { calls++; return text; });
    expect(calls).toBe(0);
    const cmds = n.configCommands();
    expect(calls).toBe(2);
    expect(cmds.at(-2)).toBe(`ip netns exec pod iptables-restore --noflush <<'EOF'\n${text}EOF`);
    expect(cmds.at(-1)).toBe(`iptables-restore --noflush <<'EOF'\n${text}EOF`);
    // Read again: rendered once.
    expect(n.configCommands()).toEqual(cmds);
    expect(calls).toBe(2);
    // The same text through iptablesRestore logs the same command and gives the same rules.
    const m = node();
    nodeRestore(m, 'pod', '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
    nodeRestore(m, 'pod', text, { noflush: true });
    expect(m.configCommands().at(-1)).toBe(cmds.at(-2));
    expect(iptablesSaveText(n, 'pod')).toBe(iptablesSaveText(m, 'pod'));
  });

  it('a failed replace logs nothing and changes nothing', () => {
    const n = node();
    nodeRestore(n, 'pod', BASE);
    const before = n.configCommands();
    expect(() => iptablesReplaceChains(n, 'pod', 'filter', [userChain('filter', 'X', ['-j NOPE'])], [], () => 'x')).toThrow(RulesetError);
    expect(n.configCommands()).toEqual(before);
    expect(iptablesSaveText(n, 'pod')).toBe(iptablesSaveText(n, 'pod'));
  });
});
