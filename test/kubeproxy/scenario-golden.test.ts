/**
 * `podwire save iptables` for every node of the shipped Service scenarios equals the golden
 * file: the real kernel's `iptables-save` after the real `iptables-restore` of the same
 * kube-proxy syncs (recorded by test/kernel/kube-proxy.kernel.test.ts with PW_RECORD=1,
 * which also re-checks them on every kernel run).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScenarioFile } from '../../src/scenario/run.js';
import { iptablesSaveText } from '../../src/netfilter/index.js';
import { goldenPath, normaliseSave, SERVICE_SCENARIOS } from './golden-files.js';

describe('podwire save iptables equals the kernel-recorded golden files', () => {
  for (const file of SERVICE_SCENARIOS) {
    it(file, () => {
      const res = runScenarioFile(file);
      for (const [name, node] of res.cluster.nodes) {
        const golden = goldenPath(file, name);
        expect(existsSync(golden), `${golden} is missing (record it: PW_RECORD=1 npx vitest run test/kernel/kube-proxy.kernel.test.ts)`).toBe(true);
        expect(normaliseSave(iptablesSaveText(node, 'host')), golden).toBe(readFileSync(golden, 'utf8'));
      }
    });
  }
});
