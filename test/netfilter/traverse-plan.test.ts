/**
 * The traversal's ChainPlan (issue 9): standard targets (ACCEPT, DROP, RETURN, jumps, gotos)
 * decided without calling them, `comment` matches skipped, one shared return stack. Checked
 * against the same programs built from opaque targets and matches, which the traversal can
 * only run: verdicts, rule-evaluation counts, counters and trace lines must be equal.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { traverseTable, type TraverseTrace } from '../../src/netfilter/traverse.js';
import { acceptTarget, dropTarget, jumpTarget, returnTarget } from '../../src/netfilter/targets/standard.js';
import { commentMatch } from '../../src/netfilter/matches/comment.js';
import { rulesetEpoch } from '../../src/netfilter/ruleset.js';
import type { Chain, Match, PacketCtx, Rule, Table, Target, TargetVerdict } from '../../src/netfilter/types.js';

const opaqueTarget = (v: TargetVerdict, name: string): Target => ({ name, run: () => v, save: () => `-j ${name}` });
const opaqueMatch = (f: (p: PacketCtx) => boolean): Match => ({ name: 'test', matches: f, save: () => '-m test' });
const pkt = (dport: number): PacketCtx => ({
  skb: { len: 114, nh: 14, data: 0 } as PacketCtx['skb'], saddr: 0x0a000001, daddr: 0x0a000002, proto: 6, fragOff: 0, sport: 1000, dport,
  inDev: { name: 'eth0' } as PacketCtx['inDev'], outDev: null,
} as PacketCtx);

function recorder(): TraverseTrace & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    rule: (_p, c, n, r, v) => log.push(`${c.name}:${n}:${r.target?.name}:${v.kind}${'chain' in v ? `:${v.chain}` : ''}`),
    policy: (_p, c) => log.push(`${c.name}:policy:${c.policy}`),
    fallthrough: (_p, c) => log.push(`${c.name}:return`),
  };
}

/** A rule as data: target kind (jump/goto to a later chain), and matches (comment, or "dport bit b set"). */
type RuleSpec = { t: 'accept' | 'drop' | 'return' | 'jump' | 'goto' | 'none' | 'continue'; to: number; comment: boolean; bit: number | null };
const CHAINS = ['INPUT', 'U1', 'U2', 'U3'];

function build(spec: RuleSpec[][], standard: boolean, policy: 'ACCEPT' | 'DROP'): Table {
  const chains: Chain[] = spec.map((rules, ci) => ({
    name: CHAINS[ci], policy: ci === 0 ? policy : null, pkts: 0, bytes: 0, ...(ci === 0 ? { policyCounters: true } : {}),
    rules: rules.map((r): Rule => {
      // Jumps only go to later chains (no loops), and from the last chain nowhere.
      const to = CHAINS[Math.min(CHAINS.length - 1, ci + 1 + (r.to % (CHAINS.length - ci - 1 || 1)))];
      const kind = (r.t === 'jump' || r.t === 'goto') && ci === CHAINS.length - 1 ? 'continue' : r.t;
      let target: Target | null;
      switch (kind) {
        case 'accept': target = standard ? acceptTarget() : opaqueTarget({ kind: 'accept' }, 'ACCEPT'); break;
        case 'drop': target = standard ? dropTarget() : opaqueTarget({ kind: 'drop' }, 'DROP'); break;
        case 'return': target = standard ? returnTarget() : opaqueTarget({ kind: 'return' }, 'RETURN'); break;
        case 'jump': target = standard ? jumpTarget(to) : opaqueTarget({ kind: 'jump', chain: to }, to); break;
        case 'goto': target = standard ? jumpTarget(to, true) : opaqueTarget({ kind: 'goto', chain: to }, to); break;
        case 'continue': target = opaqueTarget({ kind: 'continue' }, 'MARK'); break;
        default: target = null;
      }
      const matches: Match[] = [];
      if (r.comment) matches.push(standard ? commentMatch('c') : opaqueMatch(() => true));
      if (r.bit !== null) { const b = r.bit; matches.push(opaqueMatch((p) => ((p.dport >> b) & 1) === 1)); }
      return { ip: {}, matches, target };
    }),
  }));
  return { name: 'filter', chains: new Map(chains.map((c) => [c.name, c])), counters: new Map() };
}

function counters(t: Table): string[] {
  const out: string[] = [];
  for (const c of t.chains.values()) {
    out.push(`${c.name} policy ${c.pkts}/${c.bytes}`);
    c.rules.forEach((_, i) => { const e = t.counters.get(c)?.get(i); out.push(`${c.name}:${i} ${e?.pkts ?? 0}/${e?.bytes ?? 0}`); });
  }
  return out;
}

const ruleSpec: fc.Arbitrary<RuleSpec> = fc.record({
  t: fc.constantFrom('accept', 'drop', 'return', 'jump', 'goto', 'none', 'continue'),
  to: fc.nat(5),
  comment: fc.boolean(),
  bit: fc.option(fc.nat(3), { nil: null }),
});

describe('traversal plan', () => {
  it('standard targets and comment matches give exactly what opaque ones give (verdicts, counts, counters, trace)', () => {
    fc.assert(fc.property(
      fc.array(fc.array(ruleSpec, { maxLength: 6 }), { minLength: 4, maxLength: 4 }),
      fc.constantFrom<'ACCEPT' | 'DROP'>('ACCEPT', 'DROP'),
      fc.array(fc.nat(15), { minLength: 1, maxLength: 6 }),
      (spec, policy, ports) => {
        const a = build(spec, true, policy), b = build(spec, false, policy);
        for (const port of ports) {
          const ta = recorder(), tb = recorder();
          expect(traverseTable(a, 'INPUT', pkt(port), ta)).toEqual(traverseTable(b, 'INPUT', pkt(port), tb));
          expect(ta.log).toEqual(tb.log);
          // Untraced walks take the same path.
          expect(traverseTable(a, 'INPUT', pkt(port), null)).toEqual(traverseTable(b, 'INPUT', pkt(port), null));
        }
        expect(counters(a)).toEqual(counters(b));
      }), { numRuns: 300, seed: 9 });
  });

  it('a chain changed in place (gen bumped, and the ruleset epoch as every Ruleset change does) is planned again', () => {
    const t = build([[{ t: 'accept', to: 0, comment: true, bit: null }], [], [], []], true, 'DROP');
    const input = t.chains.get('INPUT')!;
    expect(traverseTable(t, 'INPUT', pkt(1), null).verdict).toBe('accept');
    input.rules.unshift({ ip: {}, matches: [commentMatch('x')], target: dropTarget() });
    input.gen = (input.gen ?? 0) + 1;
    rulesetEpoch.v++;
    expect(traverseTable(t, 'INPUT', pkt(1), null)).toEqual({ verdict: 'drop', evaluated: 1 });
  });

  it('a jumped-to chain changed in place is planned again once the ruleset epoch moves (as every Ruleset change moves it)', () => {
    const t = build([[{ t: 'jump', to: 0, comment: false, bit: null }], [{ t: 'accept', to: 0, comment: false, bit: null }], [], []], true, 'DROP');
    expect(traverseTable(t, 'INPUT', pkt(1), null)).toEqual({ verdict: 'accept', evaluated: 2 });
    const u1 = t.chains.get('U1')!;
    u1.rules.unshift({ ip: {}, matches: [], target: dropTarget() });
    u1.gen = (u1.gen ?? 0) + 1;
    rulesetEpoch.v++;
    expect(traverseTable(t, 'INPUT', pkt(1), null)).toEqual({ verdict: 'drop', evaluated: 2 });
  });

  it('a copy of a chain object that carries the original\'s plan (spread, same rules array) counts and traces as itself', () => {
    const t = build([[{ t: 'jump', to: 0, comment: false, bit: null }], [{ t: 'none', to: 0, comment: false, bit: null }], [], []], true, 'ACCEPT');
    expect(traverseTable(t, 'INPUT', pkt(1), null).verdict).toBe('accept');
    const u1 = t.chains.get('U1')!;
    const copy: Chain = { ...u1 };
    const t2: Table = { name: 'filter', counters: new Map(), chains: new Map([...t.chains].map(([n, c]) => [n, n === 'U1' ? copy : c])) };
    const tr = recorder();
    expect(traverseTable(t2, 'INPUT', pkt(1), tr).verdict).toBe('accept');
    expect(tr.log).toEqual(['INPUT:1:U1:jump:U1', 'U1:return', 'INPUT:policy:ACCEPT']);
    expect(t2.counters.get(copy)?.get(0)?.pkts).toBe(1);
    expect(t2.counters.get(u1)).toBeUndefined();
  });

  it('a traversal run by a target in the middle of another (REJECT-like) leaves the outer return stack intact', () => {
    const inner = build([[{ t: 'jump', to: 0, comment: false, bit: null }], [{ t: 'jump', to: 0, comment: false, bit: null }], [], []], true, 'ACCEPT');
    let innerVerdict = '';
    const nested: Target = { name: 'NESTED', run: () => { innerVerdict = traverseTable(inner, 'INPUT', pkt(0), null).verdict; return { kind: 'continue' }; }, save: () => '-j NESTED' };
    const outer: Table = {
      name: 'filter', counters: new Map(),
      chains: new Map<string, Chain>([
        ['INPUT', { name: 'INPUT', policy: 'DROP', policyCounters: true, pkts: 0, bytes: 0, rules: [{ ip: {}, matches: [], target: jumpTarget('A') }, { ip: {}, matches: [], target: acceptTarget() }] }],
        ['A', { name: 'A', policy: null, pkts: 0, bytes: 0, rules: [{ ip: {}, matches: [], target: jumpTarget('B') }] }],
        ['B', { name: 'B', policy: null, pkts: 0, bytes: 0, rules: [{ ip: {}, matches: [], target: nested }, { ip: {}, matches: [], target: returnTarget() }] }],
      ]),
    };
    const tr = recorder();
    // B returns to A, A ends and returns to INPUT's second rule: ACCEPT (a broken stack would give the policy, DROP).
    expect(traverseTable(outer, 'INPUT', pkt(0), tr)).toEqual({ verdict: 'accept', evaluated: 5 });
    expect(innerVerdict).toBe('accept');
    expect(tr.log).toEqual(['INPUT:1:A:jump:A', 'A:1:B:jump:B', 'B:1:NESTED:continue', 'B:2:RETURN:return', 'A:return', 'INPUT:2:ACCEPT:accept']);
  });
});
