/**
 * Kernel conformance: each scenario below is run by podwire (captures + the commands
 * that build every machine), then built in real `pw-k-*` network namespaces from those
 * commands, driven by the same probes at the same relative times, captured with tcpdump
 * on the same interfaces, and compared frame by frame (see compare.ts).
 *
 * Runs only as root with ip/bridge/tcpdump/ping/sysctl; under CI=true a missing
 * prerequisite fails the run instead of skipping. Until src/scenario/run.ts exists the
 * model comparison is skipped (a repository state, not an environment one) (the kernel half still runs on a hand-written command list).
 *
 * PW_RECORD=1 rewrites fixtures/observed-<scenario>.txt from the kernel-only run.
 * Artifacts of every run: out/kernel/<scenario>/{model,kernel}/*.pcap and observed.txt.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { loadScenario } from '../../src/scenario/load.js';
import { compareInterface, formatComparison, type InterfaceComparison } from './compare.js';
import { parseCaptureName, planFromScenario, runKernel, type IfaceRef, type MachineConfig } from './harness.js';
import { KernelLab, kernelTestMode, tcpdumpRead } from './netns.js';
import { useKernelLabs } from './suite.js';
import { loadPlan, observePlan } from './observe.js';

/** Scenarios checked against the real kernel: add one line per scenario. */
export const KERNEL_SCENARIOS: { file: string; seed?: number }[] = [
  { file: 'scenarios/same-node-bridge.yaml' },
  { file: 'scenarios/pod-to-self.yaml' },
  { file: 'scenarios/pod-to-node-and-external.yaml' },
];

/** Hand-written plans for the kernel-only run (facts recording): scenario name → plan file. */
const KERNEL_ONLY: { name: string; plan: string; expect: string[] }[] = [
  { name: 'same-node-bridge', plan: 'fixtures/same-node-bridge.plan.json', expect: ['reply', 'reply', 'reply', 'refused', 'refused'] },
];

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const OUT = path.join(ROOT, 'out', 'kernel');
const RUN_TS = path.join(ROOT, 'src', 'scenario', 'run.ts');

interface ModelRunResult {
  endTime: number;
  results: { name: string; result: 'reply' | 'refused' | 'unreachable' | 'dropped'; ok: boolean }[];
  config: MachineConfig[];
  captures: string[];
}

const mode = kernelTestMode();
const CAPTURE_GRACE_MS = 300;

describe.skipIf(mode.mode === 'skip')('kernel conformance (real namespaces)', () => {
  const labs = useKernelLabs(mode);

  for (const k of KERNEL_ONLY) {
    it(`kernel half: ${k.name} built from the hand-written command list behaves as recorded`, async () => {
      const dir = path.join(OUT, k.name, 'kernel-only');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const { out, text } = await observePlan(loadPlan(path.join(HERE, k.plan)), dir);
      writeFileSync(path.join(dir, 'observed.txt'), text);
      if (process.env.PW_RECORD === '1') writeFileSync(path.join(HERE, 'fixtures', `observed-${k.name}.txt`), text);
      expect(out.results.map((r) => r.results.join(',')), text).toEqual(k.expect);
      // Robust facts (independent of scheduling): the bridge passes up only the flooded ARP
      // request; hairpin reflects the client's ARP request back to it.
      const frames = (dev: string, netns: string) =>
        readCaptureFile(out.captures.find((c) => c.dev === dev && c.netns === netns)!.file).packets;
      const cni0 = frames('cni0', 'host');
      expect(cni0.length, text).toBe(1);
      const arpReqs = frames('eth0', 'default.client').filter((p) => p.data[12] === 8 && p.data[13] === 6 && p.data[21] === 1);
      expect(arpReqs.length, text).toBe(2);
    });
  }

  for (const s of KERNEL_SCENARIOS) {
    const name = path.basename(s.file, '.yaml');
    it(`${name}: podwire's frames equal the real kernel's, interface by interface`, async () => {
      const runMod = (await import(/* @vite-ignore */ pathToImport(RUN_TS))) as {
        runScenarioFile: (p: string, o: { pcapDir: string; seed?: number }) => ModelRunResult | Promise<ModelRunResult>;
      };
      const base = path.join(OUT, name);
      const modelDir = path.join(base, 'model');
      const kernelDir = path.join(base, 'kernel');
      for (const d of [modelDir, kernelDir]) {
        rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { recursive: true });
      }
      const file = path.join(ROOT, s.file);
      const model = await runMod.runScenarioFile(file, { pcapDir: modelDir, ...(s.seed !== undefined ? { seed: s.seed } : {}) });
      const scn = loadScenario(file);
      const refs: (IfaceRef & { model: string })[] = [];
      for (const c of model.captures) {
        const r = parseCaptureName(c);
        if (r) refs.push({ ...r, model: c });
      }
      expect(refs.length, 'podwire wrote no per-interface pcaps').toBeGreaterThan(0);
      const plan = planFromScenario(scn, model.config, refs, model.endTime);
      const lab = new KernelLab();
      labs.push(lab);
      let kernel;
      try {
        kernel = await runKernel(lab, plan, kernelDir, { graceMs: CAPTURE_GRACE_MS });
      } finally {
        await lab.destroy();
      }
      // Probe outcomes.
      const outcomes = model.results.map((m) => {
        const k = kernel.results.find((r) => r.name === m.name);
        return `${m.name}: model ${m.result} kernel ${k?.results.join(',') ?? 'none'}`;
      });
      const expected = model.results.map((m) => `${m.name}: model ${m.result} kernel ${Array(plan.probes.find((p) => p.name === m.name)?.count ?? 1).fill(m.result).join(',')}`);
      // Frames.
      // The kernel runs a little behind the model (process wake-ups): its frames count up to
      // endTime + the capture grace; the model's up to endTime.
      // Late frames on a loaded machine are still the same exchange: allow up to 1 s of lag.
      const endNs = BigInt(kernel.endTimeNs) + BigInt(Math.max(CAPTURE_GRACE_MS, 1000)) * 1_000_000n;
      const comparisons: InterfaceComparison[] = [];
      for (const ref of refs) {
        const kfile = kernel.captures.find((c) => c.machine === ref.machine && c.netns === ref.netns && c.dev === ref.dev)!.file;
        const kframes = readCaptureFile(kfile).packets.filter((p) => p.timeNsExact - kernel.t0Ns <= endNs).map((p) => ({ data: p.data }));
        const mframes = readCaptureFile(ref.model).packets.filter((p) => p.timeNs <= model.endTime).map((p) => ({ data: p.data }));
        comparisons.push(compareInterface(`${ref.machine}/${ref.netns}/${ref.dev}`, kframes, mframes));
      }
      let report = `${outcomes.join('\n')}\n\n${formatComparison(comparisons)}`;
      const failing = comparisons.filter((c) => !c.ok);
      for (const c of failing) {
        const [machine, netns, dev] = c.iface.split('/') as [string, string, string];
        const kfile = kernel.captures.find((x) => x.machine === machine && x.netns === netns && x.dev === dev)!.file;
        const mfile = refs.find((x) => x.machine === machine && x.netns === netns && x.dev === dev)!.model;
        report += `\n\n--- kernel ${c.iface} (tcpdump -r)\n${await tcpdumpRead(kfile, ['-nn', '-e', '-v', '-ttttt'])}`;
        report += `--- model ${c.iface} (tcpdump -r)\n${await tcpdumpRead(mfile, ['-nn', '-e', '-v', '-ttttt'])}`;
      }
      writeFileSync(path.join(base, 'report.txt'), report);
      expect(outcomes, report).toEqual(expected);
      expect(failing.map((c) => c.iface), report).toEqual([]);
    }, 120_000);
  }
});

function pathToImport(p: string): string {
  return p.replace(/\.ts$/, '.js');
}
