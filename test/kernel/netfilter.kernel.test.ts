/**
 * Kernel conformance of netfilter: each scenario below is run by podwire (captures, the
 * commands that build every machine including its `iptables-restore <<'EOF'` here-document,
 * and the trace), then built in real `pw-k-*` namespaces from those commands (rewrite.ts),
 * driven by the same probes, and compared (compare.ts, netfilter.ts):
 *  (a) frames per interface, (b) the final `conntrack -L` entries, (c) `iptables-save -c`
 *  counters per table/chain/rule, (d) per traced packet, the model's `nf.rule` steps against
 *  the kernel's `xtables-monitor --trace` steps (packets matched by order of appearance in
 *  each namespace). The harness's own raw-table TRACE rules are taken out (netfilter.ts).
 *
 * statistic-dnat and kube-proxy-rules draw random numbers (`-m statistic --mode random`), so
 * their DNAT choices cannot match the kernel's: for them only outcomes, the counters' totals
 * per chain for the chains no draw leads to (drawIndependentChains; the others by rule count)
 * and the conntrack (protocol, state, flags) counts are compared, frames only on the
 * interfaces where the backend choice is invisible (statistic-dnat: the client's and the node's
 * eth0; kube-proxy-rules: none, the endpoint's MAC shows everywhere with bridged DNAT), and
 * per-packet traces up to the first step in a chain that draws (established packets whole).
 * fixtures/scenarios/kube-proxy-one-endpoint.yaml is the same rule set with one endpoint: no
 * draw, so bridged DNAT and the hairpin are compared fully (frames, conntrack, counters, traces).
 *
 * Runs only as root; under CI=true a missing prerequisite fails instead of skipping. Until
 * the model exposes `conntrackList`/`iptablesSaveText` in src/netfilter/index.ts the model
 * comparison is skipped (a repository state, not an environment one); the kernel half
 * (kube-proxy-rules from a recorded command list) always runs.
 *
 * PW_RECORD=1 rewrites fixtures/observed-kube-proxy-rules.txt from the kernel-only run.
 * Artifacts: out/kernel/<scenario>/{model,kernel}/*.pcap, report.txt, netfilter-*.txt.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { loadScenario } from '../../src/scenario/load.js';
import { compareInterface, formatComparison, type InterfaceComparison } from './compare.js';
import { parseCaptureName, planFromScenario, runKernel, type IfaceRef, type KernelRunOutput, type MachineConfig, type NetfilterObservation } from './harness.js';
import { KernelLab, kernelTestMode, tcpdumpRead } from './netns.js';
import { useKernelLabs } from './suite.js';
import { loadPlan } from './observe.js';
import {
  compareConntrack, compareCounters, compareTraces, formatHeader, formatStep, modelTracedPackets, parseXtablesTrace,
  cutAtRandom, drawIndependentChains, randomChains, subtractCounters, traceCompleteness, type ModelTraceEvent,
} from './netfilter.js';

export interface NetfilterScenario {
  file: string;
  seed?: number;
  /** Random NAT choices: compare outcomes, chain totals, conntrack summary, frames on `frames` only, no traces. */
  random?: boolean;
  /** Interfaces (`machine/netns/dev`) whose frames are compared; default all. */
  frames?: string[];
  /**
   * Port range the frame comparison renumbers in order of appearance (compare.ts), default the
   * kernel's ephemeral range. MASQUERADE --random-fully draws source ports from 1024–65535.
   */
  ephemeral?: [number, number];
  /**
   * Compare only the non-ARP frames (in order, byte for byte); the ARP frames are compared apart
   * and reported, not asserted. For runs whose neighbour probes are timing/random-driven in the
   * kernel: when a REACHABLE entry turns STALE is drawn at random (reachable_time =
   * base_reachable_time/2 + random(base_reachable_time), 15–45 s), and the DELAY → PROBE timer
   * runs late by up to the timer wheel's granularity (observed 20–240 ms), so a 5 s probe due at
   * the same nominal instant as a datagram goes after it in the kernel, before it in the model.
   * Seen on statistic-dnat's 60 s datagrams: the node's probe came at 65.16 s in one run, 68.17 s
   * in the next.
   */
  arpApart?: boolean;
}

/** Netfilter scenarios checked against the real kernel: add one line per scenario. */
export const NETFILTER_SCENARIOS: NetfilterScenario[] = [
  { file: 'scenarios/nat-port-forward.yaml' },
  // b's connection reuses a's source port 40000: MASQUERADE's clash port is drawn at random from
  // 1024–65535 (nf_nat_l4proto_unique_tuple, get_random_u16) by the kernel and the model alike, so
  // ports from there are renumbered in order of appearance like ephemeral ones. a's 40000 (kept)
  // and b's translated port still get two different placeholders, so a missing or reused
  // translation is still seen.
  { file: 'scenarios/masquerade-external.yaml', ephemeral: [1024, 65535] },
  { file: 'scenarios/reject.yaml' },
  { file: 'scenarios/kube-proxy-rules.yaml', random: true, frames: [], ephemeral: [1024, 65535] },
  { file: 'test/kernel/fixtures/scenarios/kube-proxy-one-endpoint.yaml', ephemeral: [1024, 65535] },
  // nine-datagrams go out 1 s apart from 60 s, 30 s after the connections: whether and when each
  // side's neighbour entry probes then depends on its random reachable_time and on timer lateness
  // (arpApart).
  { file: 'scenarios/statistic-dnat.yaml', random: true, frames: ['client/host/eth0', 'node-1/host/eth0'], arpApart: true },
  // kube-proxy's own rules (written by podwire's proxier, replayed with iptables-restore): every
  // Service here has one endpoint, so no draw; hairpin and NodePort SNAT use MASQUERADE
  // --random-fully (ports renumbered).
  { file: 'scenarios/service-clusterip.yaml', ephemeral: [1024, 65535] },
  { file: 'scenarios/service-nodeport.yaml', ephemeral: [1024, 65535] },
];

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const OUT = path.join(ROOT, 'out', 'kernel');
const NF_INDEX = path.join(ROOT, 'src', 'netfilter', 'index.ts');
const mode = kernelTestMode();
const CAPTURE_GRACE_MS = 300;

/** Whether the model side of the contract exists yet (a repository state). */
function modelHasNetfilter(): boolean {
  if (!existsSync(NF_INDEX)) return false;
  const src = readFileSync(NF_INDEX, 'utf8');
  return /export function conntrackList\b/.test(src) && /export function iptablesSaveText\b/.test(src);
}

/** Renders what netfilter showed in each namespace: parsed trace, raw trace, counters, conntrack. */
export function renderNetfilter(obs: NetfilterObservation[]): string {
  const out: string[] = [];
  for (const o of obs) {
    out.push(`##### ${o.machine}/${o.netns}`, '', ...(o.monitorErrors ? [`xtables-monitor errors: ${o.monitorErrors.trim()}`, ''] : []), '--- xtables-monitor --trace, grouped per packet (raw TRACE rule steps included)');
    parseXtablesTrace(o.trace).forEach((p, i) => {
      out.push(`packet #${i} [${p.traceIds.join(',')}] ${formatHeader(p.header)}`);
      for (const s of p.steps) out.push(`    ${formatStep(s)}`);
    });
    out.push('', '--- iptables-save -c', o.save.replace(/^# (Generated|Completed).*\n/gm, '').trimEnd());
    out.push('', '--- conntrack -L', o.conntrack.trimEnd() || '(none)');
    out.push('', '--- xtables-monitor --trace (raw)', o.trace.trimEnd(), '');
  }
  return out.join('\n') + '\n';
}

function renderResults(out: KernelRunOutput): string {
  return out.results.map((r) => `probe ${r.name}: ${r.results.join(',') || 'none'}  (${r.details.join('; ')})`).join('\n') + '\n';
}

interface ModelRun {
  endTime: number;
  results: { name: string; result: string }[];
  config: { machine: string; kind: string; commands: string[] }[];
  captures: string[];
  cluster: { world: { nodes: Map<string, unknown> } };
}

describe.skipIf(mode.mode === 'skip')('netfilter kernel conformance (real namespaces)', () => {
  const labs = useKernelLabs(mode);

  it('kernel half: kube-proxy-rules from its recorded command list (bridged DNAT, hairpin, REJECT) behaves as recorded', async () => {
    const dir = path.join(OUT, 'kube-proxy-rules', 'kernel-only');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const plan = loadPlan(path.join(HERE, 'fixtures', 'kube-proxy-rules.plan.json'));
    const lab = new KernelLab();
    labs.push(lab);
    let out: KernelRunOutput;
    try {
      out = await runKernel(lab, plan, dir, { graceMs: CAPTURE_GRACE_MS });
    } finally {
      await lab.destroy();
    }
    const text = `${renderResults(out)}\n${renderNetfilter(out.netfilter)}`;
    writeFileSync(path.join(dir, 'observed.txt'), text);
    if (process.env.PW_RECORD === '1') writeFileSync(path.join(HERE, 'fixtures', 'observed-kube-proxy-rules.txt'), text);
    expect(out.netfilter.map((o) => `${o.machine}/${o.netns}`), text).toEqual(['node-1/host']);
    const nf = out.netfilter[0]!;
    expect(nf.monitorErrors, text).toBe('');
    expect(traceCompleteness(nf.trace, nf.save), text).toBeNull();
    const packets = parseXtablesTrace(nf.trace);
    const steps = (i: number) => packets[i]!.steps.map(formatStep);
    // The first packet of the bridged ClusterIP connection: raw (TRACE) → nat PREROUTING → KUBE-SERVICES
    // → KUBE-SVC → one KUBE-SEP → DNAT; filter FORWARD with KUBE-FORWARD; nat POSTROUTING → KUBE-POSTROUTING RETURN.
    const first = packets.findIndex((p) => p.header.fields['DST'] === '10.96.0.10' && p.header.flags.includes('SYN'));
    expect(first, text).toBeGreaterThanOrEqual(0);
    const s = steps(first).join('\n');
    expect(s, text).toMatch(/^raw:PREROUTING:rule -A PREROUTING -j TRACE → CONTINUE\nraw:PREROUTING:policy:ACCEPT\nnat:PREROUTING:rule -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES → jump KUBE-SERVICES\n/);
    expect(s, text).toMatch(/-j DNAT --to-destination 10\.244\.0\.[34]:80 → ACCEPT\nfilter:FORWARD:/);
    expect(s, text).toMatch(/nat:POSTROUTING:rule -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING → jump KUBE-POSTROUTING\nnat:KUBE-POSTROUTING:rule -A KUBE-POSTROUTING -m mark ! --mark 0x4000\/0x4000 -j RETURN → RETURN\nnat:POSTROUTING:policy:ACCEPT$/);
    // Every probe worked as podwire says it should.
    expect(out.results.map((r) => `${r.name} ${r.results.every((x) => x === 'reply') ? 'reply' : r.results.join(',')}`), text).toEqual([
      'client-to-clusterip reply',
      'web-1-to-own-service reply',
      expect.stringMatching(/^service-without-endpoints /),
    ]);
  }, 120_000);

  for (const s of NETFILTER_SCENARIOS) {
    const name = path.basename(s.file, '.yaml');
    it.skipIf(!modelHasNetfilter())(`${name}: podwire's frames, conntrack, counters and rule traces equal the real kernel's`, async () => {
      const runMod = (await import(/* @vite-ignore */ path.join(ROOT, 'src', 'scenario', 'run.js'))) as {
        runScenarioFile: (p: string, o: { pcapDir: string; seed?: number; trace?: unknown }) => ModelRun;
      };
      const nfMod = (await import(/* @vite-ignore */ path.join(ROOT, 'src', 'netfilter', 'index.js'))) as {
        iptablesSaveText: (node: unknown, netns: string, o: { counters: boolean }) => string;
        conntrackList: (node: unknown, netns: string) => string;
      };
      const { MemorySink } = (await import(/* @vite-ignore */ path.join(ROOT, 'src', 'trace', 'render.js'))) as {
        MemorySink: new () => { on: boolean; events: ModelTraceEvent[] };
      };
      const base = path.join(OUT, name);
      const modelDir = path.join(base, 'model');
      const kernelDir = path.join(base, 'kernel');
      for (const d of [modelDir, kernelDir]) {
        rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { recursive: true });
      }
      const file = path.join(ROOT, s.file);
      const sink = new MemorySink();
      const model = runMod.runScenarioFile(file, { pcapDir: modelDir, trace: sink, ...(s.seed !== undefined ? { seed: s.seed } : {}) });
      const scn = loadScenario(file);
      const refs: (IfaceRef & { model: string })[] = [];
      for (const c of model.captures) {
        const r = parseCaptureName(c);
        if (r) refs.push({ ...r, model: c });
      }
      const control = (model.cluster as { control?: { serviceTarget(t: unknown): { addr: number; port: number } } }).control;
      const plan = planFromScenario(scn, model.config as MachineConfig[], refs, model.endTime, control ? (t) => control.serviceTarget(t) : undefined);
      const lab = new KernelLab();
      labs.push(lab);
      let kernel: KernelRunOutput;
      try {
        kernel = await runKernel(lab, plan, kernelDir, { graceMs: CAPTURE_GRACE_MS });
      } finally {
        await lab.destroy();
      }
      writeFileSync(path.join(base, 'netfilter-kernel.txt'), `${renderResults(kernel)}\n${renderNetfilter(kernel.netfilter)}`);
      const sections: string[] = [];
      const failures: string[] = [];

      // Outcomes.
      const outcomes = model.results.map((m) => `${m.name}: model ${m.result} kernel ${kernel.results.find((r) => r.name === m.name)?.results.join(',') ?? 'none'}`);
      const expected = model.results.map((m) => `${m.name}: model ${m.result} kernel ${Array(plan.probes.find((p) => p.name === m.name)?.count ?? 1).fill(m.result).join(',')}`);
      sections.push(outcomes.join('\n'));
      outcomes.forEach((o, i) => o !== expected[i] && failures.push(`outcome ${o}`));

      // (a) Frames.
      const endNs = BigInt(kernel.endTimeNs) + BigInt(Math.max(CAPTURE_GRACE_MS, 1000)) * 1_000_000n;
      const comparisons: InterfaceComparison[] = [];
      for (const ref of refs) {
        const key = `${ref.machine}/${ref.netns}/${ref.dev}`;
        if (s.frames && !s.frames.includes(key)) continue;
        const kfile = kernel.captures.find((c) => c.machine === ref.machine && c.netns === ref.netns && c.dev === ref.dev)!.file;
        const kframes = readCaptureFile(kfile).packets.filter((p) => p.timeNsExact - kernel.t0Ns <= endNs).map((p) => ({ data: p.data }));
        const mframes = readCaptureFile(ref.model).packets.filter((p) => p.timeNs <= model.endTime).map((p) => ({ data: p.data }));
        const copts = s.ephemeral ? { ephemeral: s.ephemeral } : {};
        if (s.arpApart) {
          const isArp = (f: { data: Uint8Array }): boolean => f.data.length >= 14 && f.data[12] === 0x08 && f.data[13] === 0x06;
          comparisons.push(compareInterface(key, kframes.filter((f) => !isArp(f)), mframes.filter((f) => !isArp(f)), copts));
          const arp = compareInterface(`${key} (ARP)`, kframes.filter(isArp), mframes.filter(isArp), copts);
          sections.push(`(not asserted, see arpApart) ${formatComparison([arp])}`);
        } else comparisons.push(compareInterface(key, kframes, mframes, copts));
      }
      sections.push(formatComparison(comparisons));
      for (const c of comparisons.filter((x) => !x.ok)) {
        failures.push(`frames ${c.iface}`);
        const [machine, netns, dev] = c.iface.replace(/ \(ARP\)$/, '').split('/') as [string, string, string];
        const kfile = kernel.captures.find((x) => x.machine === machine && x.netns === netns && x.dev === dev)!.file;
        const mfile = refs.find((x) => x.machine === machine && x.netns === netns && x.dev === dev)!.model;
        sections.push(`--- kernel ${c.iface} (tcpdump -r)\n${await tcpdumpRead(kfile, ['-nn', '-e', '-v', '-ttttt'])}--- model ${c.iface} (tcpdump -r)\n${await tcpdumpRead(mfile, ['-nn', '-e', '-v', '-ttttt'])}`);
      }

      // (b)–(d) per namespace with rules.
      expect(kernel.netfilter.length, 'no namespace got iptables rules in the kernel run').toBeGreaterThan(0);
      for (const o of kernel.netfilter) {
        const where = `${o.machine}/${o.netns}`;
        const complete = traceCompleteness(o.trace, o.save);
        if (o.monitorErrors || complete) failures.push(`kernel trace ${where}: ${o.monitorErrors.trim()} ${complete ?? ''}`);
        const node = model.cluster.world.nodes.get(o.machine);
        if (!node) {
          failures.push(`${where}: no such machine in the model`);
          continue;
        }
        const modelSave = nfMod.iptablesSaveText(node, o.netns, { counters: true });
        const modelCt = nfMod.conntrackList(node, o.netns);
        const keepRaw = /^\*raw\s*$/m.test(modelSave);
        writeFileSync(path.join(base, `netfilter-model-${o.machine}-${o.netns}.txt`), `--- iptables-save -c\n${modelSave}\n--- conntrack -L\n${modelCt}\n`);

        const ct = compareConntrack(o.conntrack, modelCt, { mode: s.random ? 'summary' : 'entries', ...(s.ephemeral ? { ephemeral: s.ephemeral } : {}) });
        sections.push(`${ct.ok ? 'OK  ' : 'FAIL'} conntrack ${where}${ct.onlyKernel.map((l) => `\n  only kernel: ${l}`).join('')}${ct.onlyModel.map((l) => `\n  only model:  ${l}`).join('')}`);
        if (!ct.ok) failures.push(`conntrack ${where}`);

        // Kernel counts of the run alone (minus the settle period's IGMP etc., see subtractCounters).
        // Random draws: per chain totals, and only of the chains no draw leads to (drawIndependentChains); the rest by rule count.
        const cnt = compareCounters(subtractCounters(o.save, o.saveBefore), modelSave, {
          mode: s.random ? 'chainTotals' : 'rules', keepRaw, ...(s.random ? { totalsOf: drawIndependentChains(o.save) } : {}),
        });
        sections.push(`${cnt.ok ? 'OK  ' : 'FAIL'} counters ${where}${cnt.mismatches.map((l) => `\n  ${l}`).join('')}`);
        if (!cnt.ok) failures.push(`counters ${where}`);

        {
          // Random draws: steps from the first chain that draws on are not compared (see cutAtRandom).
          const rc = s.random ? randomChains(o.save) : new Set<string>();
          const tr = compareTraces(cutAtRandom(parseXtablesTrace(o.trace), rc), cutAtRandom(modelTracedPackets(sink.events, o.machine, o.netns), rc), { keepRaw });
          sections.push(`${tr.ok ? 'OK  ' : 'FAIL'} rule traces ${where}: kernel ${tr.kernelPackets} packets, model ${tr.modelPackets}${tr.mismatches.map((l) => `\n  ${l}`).join('')}`);
          if (!tr.ok) failures.push(`rule traces ${where}`);
        }
      }
      const report = sections.join('\n\n');
      writeFileSync(path.join(base, 'report.txt'), report);
      expect(failures, report).toEqual([]);
    }, 180_000);
  }
});
