/**
 * What kube-proxy's ipvs mode leaves on every node of the ipvs scenarios, against golden files
 * in test/kubeproxy/ipvs/golden/ (`iptables-save` and `ipset save`, as `podwire save` prints
 * them; write them again with PW_UPDATE_GOLDEN=1). The rules were reviewed against modern
 * pkg/proxy/ipvs/proxier.go (writeIptablesRules, ipsetWithIptablesChain, iptablesJumpChain)
 * and proxier_test.go's expectations (see proxier.test.ts); this machine's kernel has no
 * ip_vs/dummy module, so they are not replayed on a kernel.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runScenarioFile } from '../../../src/scenario/run.js';
import { iptablesSaveText, netfilterIfAny } from '../../../src/netfilter/index.js';
import { ipsetSave } from '../../../src/netfilter/ipset-text.js';
import { normaliseSave } from '../golden-files.js';

const HERE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');
const SCENARIOS = ['clusterip', 'dns', 'loadbalancer', 'nodeport', 'readiness', 'graceful'].map((s) => `scenarios/ipvs-${s}.yaml`);
const UPDATE = process.env.PW_UPDATE_GOLDEN === '1';

describe('ipvs mode: iptables-save and ipset save per node equal the golden files', () => {
  for (const file of SCENARIOS) {
    it(file, () => {
      const res = runScenarioFile(file);
      for (const [name, node] of res.cluster.nodes) {
        const text = `${normaliseSave(iptablesSaveText(node, 'host'))}\n# ipset save\n${ipsetSave(netfilterIfAny(node.host)!.nf.ipsets)}`;
        const golden = path.join(HERE, `${path.basename(file, '.yaml')}.${name}.txt`);
        if (UPDATE) { mkdirSync(HERE, { recursive: true }); writeFileSync(golden, text); continue; }
        expect(existsSync(golden), `${golden} is missing (PW_UPDATE_GOLDEN=1 npx vitest run test/kubeproxy/ipvs/golden.test.ts)`).toBe(true);
        expect(text, golden).toBe(readFileSync(golden, 'utf8'));
      }
    });
  }
});
