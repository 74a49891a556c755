/** cluster.sysctls and cluster.iptables: loading, positions, and what a run does with them. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseScenario } from '../../src/scenario/load.js';
import { runScenario } from '../../src/scenario/run.js';
import { isInputError } from '../../src/scenario/errors.js';

const base = readFileSync('scenarios/same-node-bridge.yaml', 'utf8');
const withCluster = (extra: string) => base.replace('  kubeProxy: {mode: none}\n', `  kubeProxy: {mode: none}\n${extra}`);

function loadError(text: string): string {
  try {
    parseScenario(text, 's.yaml');
  } catch (e) {
    if (isInputError(e)) return e.format();
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('cluster.sysctls', () => {
  it('applies namespace-wide sysctls on the machine, logged as sysctl -w', () => {
    const sc = parseScenario(withCluster('  sysctls:\n    node-1: {net.bridge.bridge-nf-call-iptables: 1, net.ipv4.conf.all.rp_filter: "2"}\n'), 's.yaml');
    expect(sc.cluster.sysctls.map((s) => `${s.machine} ${s.key}=${s.value}`)).toEqual(['node-1 net.bridge.bridge-nf-call-iptables=1', 'node-1 net.ipv4.conf.all.rp_filter=2']);
    const r = runScenario(sc);
    const cmds = r.config.find((c) => c.machine === 'node-1')!.commands;
    expect(cmds).toContain('sysctl -w net.bridge.bridge-nf-call-iptables=1');
    expect(cmds).toContain('sysctl -w net.ipv4.conf.all.rp_filter=2');
    expect(r.cluster.nodes.get('node-1')!.sysctlGet('host', 'net.ipv4.conf.all.rp_filter')).toBe('2');
  });

  it('names an unknown machine with its position and the machines that exist', () => {
    expect(loadError(withCluster('  sysctls:\n    node-9: {net.ipv4.ip_forward: 1}\n'))).toMatch(/^s\.yaml:\d+:\d+: error: cluster\.sysctls\.node-9: no node or host named "node-9" \(expected node-1\)$/);
  });

  it('rejects something that is not a sysctl key', () => {
    expect(loadError(withCluster('  sysctls:\n    node-1: {"not a key": 1}\n'))).toMatch(/"not a key" is not a sysctl key/);
  });
});

describe('cluster.iptables', () => {
  it('keeps the rules text and where it starts in the scenario', () => {
    const sc = parseScenario(withCluster('  iptables:\n    node-1: |\n      *filter\n      :INPUT ACCEPT [0:0]\n      COMMIT\n'), 's.yaml');
    expect(sc.cluster.iptables).toHaveLength(1);
    const t = sc.cluster.iptables[0]!;
    expect(t.machine).toBe('node-1');
    expect(t.text).toBe('*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
    const line = withCluster('  iptables:\n    node-1: |\n      *filter\n').split('\n').indexOf('      *filter') + 1;
    expect(t.origin).toEqual({ file: 's.yaml', line, indent: 6, exact: true });
  });

  it('a missing rules file is an error at its position', () => {
    expect(loadError(withCluster('  iptables:\n    node-1: {file: no-such-rules.v4}\n'))).toMatch(/^s\.yaml:\d+:\d+: error: cannot read iptables-restore rules file "no-such-rules\.v4" \(ENOENT\)$/);
  });
});
