/**
 * `podwire generate` (issue 9): the scenario it writes loads, is the same for the same
 * seed, and its sample traffic expectations hold when run (flannel and calico).
 */
import { describe, expect, it } from 'vitest';
import { generateScenario, type GenerateOptions } from '../../src/cli/generate.js';
import { parseScenario } from '../../src/scenario/load.js';
import { runScenario } from '../../src/scenario/run.js';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const base: GenerateOptions = { nodes: 5, pods: 40, services: 6, policies: 5, namespaces: 3, network: 'flannel', seed: 7 };

describe('podwire generate', () => {
  it('writes a valid scenario of the requested size', () => {
    const sc = parseScenario(generateScenario(base), 'gen.yaml');
    expect(sc.cluster.nodes).toHaveLength(5);
    const kinds = sc.manifests.map((m) => m.kind);
    expect(kinds.filter((k) => k === 'Pod')).toHaveLength(40);
    expect(kinds.filter((k) => k === 'Service')).toHaveLength(6);
    expect(kinds.filter((k) => k === 'NetworkPolicy')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'Namespace')).toHaveLength(3);
    expect(sc.traffic.map((t) => t.name)).toContain('denied');
  });

  it('is deterministic from the seed', () => {
    expect(generateScenario(base)).toBe(generateScenario(base));
    expect(generateScenario({ ...base, seed: 8 })).not.toBe(generateScenario(base));
  });

  it('spreads nodes over /16 subnets and refuses more than 250 pods a node', () => {
    const t = generateScenario({ ...base, nodes: 65001, pods: 0, services: 0, policies: 0 });
    expect(t).toContain('{name: n65000, ip: 10.1.0.1/16}');
    expect(() => generateScenario({ ...base, nodes: 1, pods: 251 })).toThrow(/250/);
  });

  it('--pcap-used-only: captures only of the interfaces frames crossed', () => {
    const text = generateScenario({ ...base, policies: 0 });
    const dirs = [mkdtempSync(path.join(tmpdir(), 'pw-gen-')), mkdtempSync(path.join(tmpdir(), 'pw-gen-'))];
    try {
      const all = runScenario(parseScenario(text, 'gen.yaml'), { pcapDir: dirs[0] });
      const used = runScenario(parseScenario(text, 'gen.yaml'), { pcapDir: dirs[1], pcapUsedOnly: true });
      const a = readdirSync(dirs[0]).filter((f) => f.endsWith('.pcap'));
      const u = readdirSync(dirs[1]).filter((f) => f.endsWith('.pcap'));
      expect(u.length).toBeGreaterThan(0);
      expect(u.length).toBeLessThan(a.length / 2);
      for (const f of u) expect(a).toContain(f);
      expect(used.results.map((r) => r.ok)).toEqual(all.results.map((r) => r.ok));
    } finally { for (const d of dirs) rmSync(d, { recursive: true, force: true }); }
  });

  for (const network of ['flannel', 'calico'] as const) {
    it(`its traffic expectations hold when run (${network})`, () => {
      for (const seed of [1, 7]) {
        const res = runScenario(parseScenario(generateScenario({ ...base, network, seed }), 'gen.yaml'));
        expect(res.results.length).toBeGreaterThanOrEqual(3);
        for (const r of res.results) expect(r.ok, `${network} seed ${seed} ${r.name}: ${r.mismatch}`).toBe(true);
      }
    });
  }
});
