/**
 * Fuzzing iptables-restore text (issue 11): real rule sets — kube-proxy
 * (iptables mode, NodePorts), Calico's Felix with policies, flannel's masquerade
 * rules, as `podwire save iptables` prints them (fixtures/*.v4) — mutated token
 * by token and line by line. Property: iptablesRestore loads the text or throws
 * a RuleError naming file:line:col, and a refused text leaves the ruleset as it was.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import { accepts, fuzz, FUZZ_TIMEOUT, mutateText, textOp } from './fuzz.js';

const DIR = 'test/fuzz/fixtures';
const RULESETS = readdirSync(DIR).filter((f) => f.endsWith('.v4')).sort().map((f) => readFileSync(`${DIR}/${f}`, 'utf8'));
const TOKENS = [...new Set(RULESETS.flatMap((t) => t.split(/\s+/)).filter(Boolean))];
const ODD = ['!', '-', '--', '-m', '-j', '-A', '-N', '-X', '-P', ':', '"', '"a b', 'a"b', '\\', '0x', '0xffffffff/0x1', '1:2:3', '/33', '0/0', '-1', '65536',
  '4294967296', '99999999999999999999', '1.2.3.4/0.0.0.256', 'COMMIT', '*nat', '*filter', '*raw', '*mangle', '*security', '*nope', '[0:0]', '[-1:x]', '#', '\t', '\r', 'é'];

type TokOp = { op: 'drop' | 'dup'; line: number; tok: number } | { op: 'set'; line: number; tok: number; value: string };
const tokOp: fc.Arbitrary<TokOp> = fc.oneof(
  fc.record({ op: fc.constantFrom('drop' as const, 'dup' as const), line: fc.nat(), tok: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), line: fc.nat(), tok: fc.nat(), value: fc.oneof(fc.constantFrom(...TOKENS), fc.constantFrom(...ODD), fc.string({ maxLength: 6 })) }),
);

/** Applies token edits: each picks a line, then a token of it (split on spaces). */
function mutateTokens(text: string, ops: readonly TokOp[]): string {
  const lines = text.split('\n');
  for (const o of ops) {
    const li = o.line % lines.length;
    const toks = lines[li]!.split(' ');
    const ti = o.tok % toks.length;
    if (o.op === 'drop') toks.splice(ti, 1);
    else if (o.op === 'dup') toks.splice(ti, 0, toks[ti]!);
    else if (o.op === 'set') toks[ti] = o.value;
    lines[li] = toks.join(' ');
  }
  return lines.join('\n');
}

function restore(text: string): void {
  const rs = new Ruleset();
  const before = iptablesSave(rs);
  if (!accepts(() => iptablesRestore(rs, text, { file: 'fuzz.v4' }))) expect(iptablesSave(rs)).toBe(before);
  else iptablesSave(rs); // what was loaded also prints
}

describe('fuzz: iptables-restore text', () => {
  it(`has the real rule sets (${RULESETS.length})`, () => {
    expect(RULESETS.length).toBeGreaterThanOrEqual(4);
    for (const t of RULESETS) restore(t);
  });

  it('token mutations of kube-proxy, felix and flannel rule sets', async () => {
    const arb = fc.tuple(fc.nat({ max: RULESETS.length - 1 }), fc.array(tokOp, { minLength: 1, maxLength: 4 }));
    await fuzz('iptables token mutations', arb, ([i, ops]) => restore(mutateTokens(RULESETS[i]!, ops)), 300);
  }, FUZZ_TIMEOUT);

  it('line and byte mutations', async () => {
    const arb = fc.tuple(fc.nat({ max: RULESETS.length - 1 }), fc.array(textOp(ODD.map((t) => ` ${t}`)), { minLength: 1, maxLength: 4 }));
    await fuzz('iptables text mutations', arb, ([i, ops]) => restore(mutateText(RULESETS[i]!, ops)), 100);
  }, FUZZ_TIMEOUT);

  it('random lines in a table', async () => {
    const line = fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.constantFrom(...ODD)), { maxLength: 12 }).map((a) => a.join(' '));
    const arb = fc.tuple(fc.constantFrom('*filter', '*nat', '*mangle', '*raw'), fc.array(line, { maxLength: 6 }));
    await fuzz('iptables random lines', arb, ([table, lines]) => restore(`${table}\n:X - [0:0]\n${lines.join('\n')}\nCOMMIT\n`), 300);
  }, FUZZ_TIMEOUT);
});
