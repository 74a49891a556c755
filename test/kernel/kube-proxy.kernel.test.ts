/**
 * kube-proxy's rules, as podwire's proxier writes them, on the real kernel: for every
 * shipped Service scenario and every node, the node's `iptables-restore` commands (the
 * kube-proxy syncs and the canary/jump rules, exactly as logged) are replayed with the real
 * `iptables-restore` in a fresh `pw-k-*` namespace — every one must be accepted — and the
 * real `iptables-save` must equal `podwire save iptables` line for line (counters and the
 * date comments aside).
 *
 * The golden files test/kubeproxy/golden/<scenario>.<node>.rules come from this test: they
 * are the real kernel's iptables-save of kube-proxy's text (PW_RECORD=1 rewrites them), and
 * test/kubeproxy/golden.test.ts checks podwire against them where no kernel is at hand.
 * (That the text itself is kube-proxy's is checked against upstream's own expectations in
 * test/kubeproxy/golden.test.ts (upstream TestOverallIPTablesRules).)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runScenarioFile } from '../../src/scenario/run.js';
import { iptablesSaveText } from '../../src/netfilter/index.js';
import { KernelLab, kernelTestMode } from './netns.js';
import { useKernelLabs } from './suite.js';
import { normaliseSave, SERVICE_SCENARIOS, goldenPath } from '../kubeproxy/golden-files.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const mode = kernelTestMode();

/** `iptables-restore ARGS <<'EOF'\nBODY\nEOF` → [args, body]. */
function restoreCommand(cmd: string): { args: string[]; body: string } | null {
  const m = /^iptables-restore((?: -\S+)*) <<'EOF'\n([\s\S]*)EOF$/.exec(cmd);
  return m ? { args: m[1]!.trim().split(/\s+/).filter(Boolean), body: m[2]! } : null;
}

describe.skipIf(mode.mode === 'skip')('kube-proxy rules on the real kernel', () => {
  const labs = useKernelLabs(mode);
  for (const file of SERVICE_SCENARIOS) {
    it(`${path.basename(file)}: the real iptables-restore accepts every sync and iptables-save equals podwire's`, async () => {
      const res = runScenarioFile(path.join(ROOT, file));
      const lab = new KernelLab();
      labs.push(lab);
      try {
        for (const [name, node] of res.cluster.nodes) {
          const ns = await lab.addNetns(`${lab.prefix}${name}`);
          const cmds = res.config.find((c) => c.machine === name)!.commands.map(restoreCommand).filter((x) => x !== null);
          expect(cmds.length, `${name}: kube-proxy wrote nothing`).toBeGreaterThan(0);
          for (const c of cmds) {
            const argv = Object.assign(['ip', 'netns', 'exec', ns, 'iptables-restore', ...c.args], { stdin: c.body });
            const r = await lab.exec(argv, { allowFail: true, timeoutMs: 30_000 });
            expect(r.code, `${name}: iptables-restore ${c.args.join(' ')} refused:\n${r.stderr}\n${c.body}`).toBe(0);
          }
          const kernel = normaliseSave((await lab.exec(['ip', 'netns', 'exec', ns, 'iptables-save'])).stdout);
          const model = normaliseSave(iptablesSaveText(node, 'host'));
          expect(model, `${name}`).toBe(kernel);
          const golden = goldenPath(file, name);
          if (process.env.PW_RECORD === '1') {
            mkdirSync(path.dirname(golden), { recursive: true });
            writeFileSync(golden, kernel);
          } else if (existsSync(golden)) {
            expect(kernel, `${golden} (rerun with PW_RECORD=1 if the scenario changed)`).toBe(readFileSync(golden, 'utf8'));
          }
        }
      } finally {
        await lab.destroy();
      }
    }, 120_000);
  }
});
