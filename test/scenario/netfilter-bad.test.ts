/** Bad iptables rules in a scenario: refused with the scenario's line and column, as iptables-restore would refuse them. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseScenario } from '../../src/scenario/load.js';
import { runScenario } from '../../src/scenario/run.js';
import { isInputError } from '../../src/scenario/errors.js';

const base = readFileSync('scenarios/same-node-bridge.yaml', 'utf8');

/** The scenario with a filter table holding `rules`; the first rule line is at `ruleLine`. */
function withRules(rules: string): { text: string; ruleLine: number } {
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...rules.split('\n'), 'COMMIT'];
  const block = `  iptables:\n    node-1: |\n${lines.map((l) => '      ' + l).join('\n')}\n`;
  const text = base.replace('  kubeProxy: {mode: none}\n', `  kubeProxy: {mode: none}\n${block}`);
  const ruleLine = text.split('\n').indexOf('      ' + rules.split('\n')[0]) + 1;
  return { text, ruleLine };
}

function error(rules: string): { msg: string; ruleLine: number } {
  const { text, ruleLine } = withRules(rules);
  try {
    runScenario(parseScenario(text, 's.yaml'));
  } catch (e) {
    if (isInputError(e)) return { msg: e.format(), ruleLine };
    throw e;
  }
  throw new Error('expected an input error');
}

describe('iptables rules that iptables-restore refuses', () => {
  it('a jump to a chain that does not exist', () => {
    const { msg, ruleLine } = error('-A FORWARD -j NOPE');
    expect(msg).toBe(`s.yaml:${ruleLine}:21: error: iptables-restore on node-1: Chain 'NOPE' does not exist (expected a target or an existing chain)`);
  });

  it('an unknown option, at its column', () => {
    const { msg, ruleLine } = error('-A FORWARD -p tcp --dportx 80 -j ACCEPT');
    expect(msg).toBe(`s.yaml:${ruleLine}:25: error: iptables-restore on node-1: unknown option "--dportx"`);
  });

  it('DNAT in the filter table', () => {
    const { msg, ruleLine } = error('-A FORWARD -j DNAT --to-destination 1.2.3.4');
    expect(msg).toMatch(new RegExp(`^s\\.yaml:${ruleLine}:\\d+: error: iptables-restore on node-1: DNAT target not valid in the filter table`));
  });

  it('an ipset that does not exist', () => {
    const { msg, ruleLine } = error('-A FORWARD -m set --match-set NOSET src -j DROP');
    expect(msg).toMatch(new RegExp(`^s\\.yaml:${ruleLine}:\\d+: error: iptables-restore on node-1: Set NOSET doesn't exist\\.`));
  });

  it('a loop of jumps', () => {
    const { msg } = error(':A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\n-A B -j A');
    expect(msg).toMatch(/^s\.yaml:\d+:\d+: error: iptables-restore on node-1: Loop detected: chain A reaches itself \(A -> B -> A\)/);
  });

  it('a malformed address', () => {
    const { msg, ruleLine } = error('-A FORWARD -s 10.0.0.300 -j DROP');
    expect(msg).toBe(`s.yaml:${ruleLine}:21: error: iptables-restore on node-1: host/network \`10.0.0.300' not found (expected an address a.b.c.d[/mask])`);
  });
});
