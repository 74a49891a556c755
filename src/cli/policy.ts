/**
 * `podwire policy matrix|diff|explain`: the NetworkPolicy / AdminNetworkPolicy
 * reference semantics (src/kube/policy-eval.ts, policy-reach.ts,
 * policy-explain.ts) applied to a scenario's cluster.
 *
 * The cluster view is the built cluster's: the scenario is loaded and built
 * with `buildCluster` (no traffic is sent), so pod IPs are exactly those of a
 * run; namespaces (with their defaulted `kubernetes.io/metadata.name` label),
 * nodes and the policies are read back from the control plane's object store,
 * pods from the cluster (the scenario's own pods; CoreDNS is left out). With
 * `--at T` the scenario's events up to T run first (policy-apply/-delete, pod
 * deletes, node joins and leaves), so the table is the cluster's at T.
 *
 * Output is deterministic: pods sorted by namespace then name, cases in the
 * order given (default: every port the pods declare, by port then protocol).
 */
import { spawnSync } from 'node:child_process';
import { loadScenario } from '../scenario/load.js';
import { buildCluster, type Cluster } from '../scenario/build.js';
import { ensureControlPlane } from '../scenario/control-plane.js';
import { scheduleEvents } from '../scenario/run.js';
import type { Scenario } from '../scenario/types.js';
import { isInputError } from '../scenario/errors.js';
import { NetlinkError } from '../kernel/netlink.js';
import { ipToString } from '../wire/bytes.js';
import { parseDuration } from '../engine/time.js';
import { validateNamespace } from '../kube/namespace.js';
import { validateNetworkPolicy, type NetworkPolicy } from '../kube/networkpolicy.js';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy, type AdminNetworkPolicy, type BaselineAdminNetworkPolicy } from '../kube/admin-network-policy.js';
import { fieldErrorMessage } from '../kube/errors.js';
import { PolicyEvaluator, type ClusterPod, type ClusterView, type DirectionVerdict, type Endpoint, type PolicySet, type PortCase, type Verdict } from '../kube/policy-eval.js';
import { reachability } from '../kube/policy-reach.js';
import { denialReason, explainVerdict } from '../kube/policy-explain.js';
import type { Obj } from '../kube/object.js';
import type { Protocol } from '../kube/pod.js';
import { PROBE_UNAVAILABLE, probeFn, type Observed } from './policy-probe.js';

export const MATRIX_FORMATS = ['text', 'json', 'csv', 'markdown', 'dot', 'svg'] as const;
export type MatrixFormat = (typeof MATRIX_FORMATS)[number];
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** A command-line mistake found after yargs' own checks: `podwire: MESSAGE`, exit 2. */
export class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// The cluster view of a scenario

export interface PolicyWorld {
  file: string;
  scenario: Scenario;
  cluster: Cluster;
  view: ClusterView;
  policies: PolicySet;
  /** `ns/name` of the view's pods, in view order (sorted). */
  pods: string[];
}

/** Loads and builds `file` and reads the view and policies back from its store (after the events up to `at`). */
export function loadPolicyWorld(file: string, opts: { at?: number; seed?: number; allowOutsideFiles?: boolean } = {}): PolicyWorld {
  return policyWorldOf(loadScenario(file, { allowOutsideFiles: opts.allowOutsideFiles }), file, opts);
}

/** The same view for a scenario already loaded (or parsed from text, as the property tests do). */
export function policyWorldOf(scenario: Scenario, file: string, opts: { at?: number; seed?: number } = {}): PolicyWorld {
  const cluster = buildCluster(scenario, { seed: opts.seed });
  const control = ensureControlPlane(cluster);
  if (opts.at !== undefined && opts.at > 0 && scenario.events.length) {
    scheduleEvents(cluster, control);
    cluster.world.sched.run(opts.at, 50_000_000);
  }
  const store = cluster.store;
  const mine = new Set(scenario.manifests.filter((m) => m.kind === 'Pod').map((m) => `${m.namespace}/${m.name}`));
  const pods: ClusterPod[] = [...cluster.pods]
    // The scenario's own pods and the ones its Deployments/ReplicaSets made (issue 11).
    .filter(([key]) => mine.has(key) || control.workloads.owns(key))
    .map(([, p]): ClusterPod => ({
      namespace: p.spec.namespace,
      name: p.spec.name,
      labels: p.spec.labels,
      ip: ipToString(p.ip),
      node: p.spec.nodeName,
      hostNetwork: p.spec.hostNetwork,
      ports: p.spec.containers.flatMap((c) => c.ports.map((cp) => ({ ...(cp.name !== undefined ? { name: cp.name } : {}), containerPort: cp.containerPort, protocol: cp.protocol }))),
    }))
    .sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
  const namespaces = store.list('Namespace').map((body) => {
    const v = validateNamespace(body).value;
    const name = String((body.metadata as Obj).name);
    return { name, labels: v ? v.labels : { 'kubernetes.io/metadata.name': name } };
  });
  const nodes = scenario.cluster.nodes
    .filter((n) => !cluster.pendingNodes.has(n.name) && !cluster.leftNodes.has(n.name))
    .map((n) => {
      const body = store.get('Node', undefined, n.name);
      const labels = ((body?.metadata as Obj | undefined)?.labels as Record<string, string> | undefined) ?? {};
      return { name: n.name, ips: [ipToString(cluster.machineIPs.get(n.name)!)], labels };
    });
  const typed = <T>(kind: string, v: (o: Obj) => { value?: T; errors: { errors: Parameters<typeof fieldErrorMessage>[0][] } }): T[] =>
    store.list(kind).map((body) => {
      const r = v(body);
      if (!r.value) throw new Error(`stored ${kind} ${String((body.metadata as Obj).name)} does not validate: ${r.errors.errors.map(fieldErrorMessage).join('; ')}`);
      return r.value;
    });
  const networkPolicies = typed<NetworkPolicy>('NetworkPolicy', validateNetworkPolicy);
  const adminNetworkPolicies = typed<AdminNetworkPolicy>('AdminNetworkPolicy', validateAdminNetworkPolicy);
  const banp = typed<BaselineAdminNetworkPolicy>('BaselineAdminNetworkPolicy', validateBaselineAdminNetworkPolicy)[0];
  const policies: PolicySet = { networkPolicies, adminNetworkPolicies, ...(banp ? { baselineAdminNetworkPolicy: banp } : {}) };
  return { file, scenario, cluster, view: { namespaces, pods, nodes }, policies, pods: pods.map((p) => `${p.namespace}/${p.name}`) };
}

/** Every (port, protocol) the view's pods declare, by port then protocol (TCP, UDP, SCTP). */
export function declaredCases(view: ClusterView): PortCase[] {
  const seen = new Map<string, PortCase>();
  for (const p of view.pods) for (const cp of p.ports ?? []) seen.set(`${cp.containerPort}/${cp.protocol}`, { port: cp.containerPort, protocol: cp.protocol });
  return [...seen.values()].sort((a, b) => a.port - b.port || PROTOCOLS.indexOf(a.protocol) - PROTOCOLS.indexOf(b.protocol));
}

/**
 * The cases asked for on the command line: `--port` values (`80` or `80/UDP`)
 * paired with `--protocol` values (none: TCP; one: for every port; else one per
 * port, in order). Without `--port`, `fallback()` (the declared ports), kept to
 * the `--protocol`s when given. Duplicates are dropped.
 */
export function parseCases(ports: readonly (string | number)[] | undefined, protocols: readonly string[] | undefined, fallback: () => PortCase[]): PortCase[] {
  const protos = (protocols ?? []).map((p) => normProtocol(String(p)));
  let out: PortCase[];
  if (!ports || ports.length === 0) {
    out = fallback().filter((c) => protos.length === 0 || protos.includes(c.protocol));
    if (out.length === 0)
      throw new UsageError(`no port to evaluate: the scenario's pods declare no ${protos.length ? `${protos.join('/')} ` : ''}ports; give --port N [--protocol TCP|UDP|SCTP]`);
  } else {
    if (protos.length > 1 && protos.length !== ports.length)
      throw new UsageError(`${ports.length} --port values and ${protos.length} --protocol values: give one --protocol for every port, or one per --port, in order`);
    out = ports.map((raw, i) => {
      const m = /^([0-9]+)(?:\/([A-Za-z]+))?$/.exec(String(raw).trim());
      if (!m || +m[1]! < 1 || +m[1]! > 65535) throw new UsageError(`invalid --port ${JSON.stringify(String(raw))} (expected a port 1..65535, optionally with /TCP, /UDP or /SCTP)`);
      const protocol = m[2] ? normProtocol(m[2]) : (protos.length > 1 ? protos[i]! : protos[0] ?? 'TCP');
      return { port: +m[1]!, protocol };
    });
  }
  const seen = new Set<string>();
  return out.filter((c) => !seen.has(caseText(c)) && !!seen.add(caseText(c)));
}

function normProtocol(p: string): Protocol {
  const u = p.toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(u)) throw new UsageError(`invalid protocol ${JSON.stringify(p)} (expected TCP, UDP or SCTP)`);
  return u as Protocol;
}

export function caseText(c: PortCase): string {
  return `${c.port}/${c.protocol}`;
}

/** `--at` as a duration with a unit (`2s`, `1500ms`, `0`), as scenario durations are written. */
export function parseAt(at: string | number | undefined): number | undefined {
  if (at === undefined) return undefined;
  const text = String(at).trim();
  const ns = /^[0-9.]+$/.test(text) && text !== '0' ? undefined : parseDuration(text);
  if (ns === undefined) throw new UsageError(`invalid --at ${JSON.stringify(text)} (expected a duration with a unit: 2s, 1500ms, 0)`);
  return ns;
}

/** One JSON object on one line, `{"key": value, ...}`. */
function jsonLine(o: Record<string, unknown>): string {
  return `{${Object.entries(o).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;
}

// ---------------------------------------------------------------------------------------------
// Matrix

export interface MatrixCell {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
  allowed: boolean;
  observed?: Observed;
}

export interface Matrix {
  pods: string[];
  cases: PortCase[];
  /** Case-major, then rows (from), then columns (to). */
  cells: MatrixCell[];
}

export function computeMatrix(w: PolicyWorld, cases: PortCase[]): Matrix {
  const r = reachability(w.view, w.policies, cases);
  const cells: MatrixCell[] = [];
  cases.forEach((c, k) => {
    for (let i = 0; i < w.pods.length; i++)
      for (let j = 0; j < w.pods.length; j++) cells.push({ from: w.pods[i]!, to: w.pods[j]!, port: c.port, protocol: c.protocol, allowed: r.allowed(i, j, k) });
  });
  return { pods: w.pods, cases, cells };
}

/** Pads columns to their widest cell; lines are right-trimmed. */
function aligned(rows: string[][], gap = ' '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join(gap).trimEnd());
}

/** The e2e-style table: header `-` and the pods, one row per source pod. */
function grid(pods: readonly string[], mark: (i: number, j: number) => string): string[] {
  return aligned([['-', ...pods], ...pods.map((f, i) => [f, ...pods.map((_, j) => mark(i, j))])]);
}

/** A markdown table of the same grid. */
function mdGrid(pods: readonly string[], mark: (i: number, j: number) => string): string[] {
  const rows = [['from \\ to', ...pods], ...pods.map((f, i) => [f, ...pods.map((_, j) => mark(i, j))])];
  const widths = rows[0]!.map((_, c) => Math.max(3, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.slice(1).map(line)];
}

const dotId = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Graph nodes: one box per pod, clustered by namespace. */
function dotNodes(pods: readonly string[]): string[] {
  const byNs = new Map<string, string[]>();
  for (const p of pods) {
    const ns = p.split('/')[0]!;
    if (!byNs.has(ns)) byNs.set(ns, []);
    byNs.get(ns)!.push(p);
  }
  const out: string[] = [];
  for (const [ns, list] of byNs) {
    out.push(`  subgraph ${dotId(`cluster_${ns}`)} {`, `    label=${dotId(`namespace ${ns}`)};`);
    for (const p of list) out.push(`    ${dotId(p)} [label=${dotId(p.split('/')[1]!)}];`);
    out.push('  }');
  }
  return out;
}

function cellAt(m: Matrix, k: number, i: number, j: number): MatrixCell {
  const n = m.pods.length;
  return m.cells[k * n * n + i * n + j]!;
}

const mark = (allowed: boolean) => (allowed ? '.' : 'X');
/**
 * A probe that got its reply was allowed; a refusal (the policy agent's REJECT: ICMP
 * unreachable or a reset) and silence were denied. The cells are ports the pods serve, so a
 * refusal is the policy's, not a missing listener's.
 */
const obsAllowed = (o: Observed | undefined) => o === 'reply';

/** Renders a matrix in any format but svg (see {@link toSvg}). */
export function renderMatrix(m: Matrix, format: Exclude<MatrixFormat, 'svg'>, probed: boolean): string {
  const n = m.pods.length;
  const count = (k: number) => { let a = 0; for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (cellAt(m, k, i, j).allowed) a++; return a; };
  switch (format) {
    case 'json': {
      const line = (c: MatrixCell) => `  ${jsonLine({ from: c.from, to: c.to, port: c.port, protocol: c.protocol, allowed: c.allowed, ...(probed ? { observed: c.observed } : {}) })}`;
      return m.cells.length ? `{"cells": [\n${m.cells.map(line).join(',\n')}\n]}\n` : '{"cells": []}\n';
    }
    case 'csv':
      return [`from,to,port,protocol,allowed${probed ? ',observed' : ''}`, ...m.cells.map((c) => `${c.from},${c.to},${c.port},${c.protocol},${c.allowed}${probed ? `,${c.observed}` : ''}`)].join('\n') + '\n';
    case 'text': {
      const out: string[] = [];
      m.cases.forEach((c, k) => {
        if (k) out.push('');
        out.push(`${caseText(c)}: ${count(k)}/${n * n} allowed (rows: from, columns: to; . allowed, X denied)`);
        out.push(...grid(m.pods, (i, j) => mark(cellAt(m, k, i, j).allowed)));
        if (probed) {
          out.push('', `${caseText(c)} observed (. reply, X refused or dropped):`);
          out.push(...grid(m.pods, (i, j) => mark(obsAllowed(cellAt(m, k, i, j).observed))));
          out.push('', `${caseText(c)} comparison (. same, X differs):`);
          out.push(...grid(m.pods, (i, j) => { const x = cellAt(m, k, i, j); return mark(x.allowed === obsAllowed(x.observed)); }));
        }
      });
      return out.join('\n') + '\n';
    }
    case 'markdown': {
      const out: string[] = [];
      m.cases.forEach((c, k) => {
        if (k) out.push('');
        out.push(`### ${caseText(c)}`, '', `${count(k)}/${n * n} allowed; rows from, columns to; \`.\` allowed, \`X\` denied.`, '');
        out.push(...mdGrid(m.pods, (i, j) => {
          const x = cellAt(m, k, i, j);
          return probed && x.allowed !== obsAllowed(x.observed) ? `${mark(x.allowed)} (observed ${x.observed})` : mark(x.allowed);
        }));
      });
      return out.join('\n') + '\n';
    }
    case 'dot': {
      const out = ['digraph "policy matrix" {', '  rankdir=LR;', '  node [shape=box, fontname="monospace"];', '  edge [fontname="monospace", fontsize=10];'];
      out.push(`  label=${dotId(`allowed connections (${m.cases.map(caseText).join(', ')}); an edge without a label is allowed for every case; a pod always reaches itself`)};`);
      out.push(...dotNodes(m.pods));
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          if (i === j) continue;
          const ok = m.cases.filter((_, k) => cellAt(m, k, i, j).allowed);
          if (!ok.length) continue;
          out.push(`  ${dotId(m.pods[i]!)} -> ${dotId(m.pods[j]!)}${ok.length === m.cases.length ? '' : ` [label=${dotId(ok.map(caseText).join(', '))}]`};`);
        }
      out.push('}');
      return out.join('\n') + '\n';
    }
  }
}

/** Renders DOT text as SVG with Graphviz's `dot -Tsvg`; a UsageError when it is not installed. */
export function toSvg(dot: string): string {
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError('--format svg needs Graphviz (the "dot" command) on PATH, and it was not found; install graphviz, or use --format dot and render it elsewhere');
    throw new Error(`dot -Tsvg: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`dot -Tsvg exited with status ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

export interface MatrixArgs {
  file: string;
  ports?: (string | number)[];
  protocols?: string[];
  format: MatrixFormat;
  probe: boolean;
  at?: string | number;
  seed?: number;
  /** --allow-outside-files: `{file: …}` includes may leave the scenario's folder. */
  allowOutsideFiles?: boolean;
}

export function matrixCommand(a: MatrixArgs): number {
  return guard(a.file, () => {
    const at = parseAt(a.at);
    const probe = a.probe ? probeFn() : undefined;
    if (a.probe && !probe) throw new UsageError(PROBE_UNAVAILABLE);
    const w = loadPolicyWorld(a.file, { at, seed: a.seed, allowOutsideFiles: a.allowOutsideFiles });
    const cases = parseCases(a.ports, a.protocols, () => declaredCases(w.view));
    const m = computeMatrix(w, cases);
    let differs = false;
    if (probe) {
      const obs = probe({ file: a.file, seed: a.seed, at: at ?? 0, allowOutsideFiles: a.allowOutsideFiles, cells: m.cells.map(({ from, to, port, protocol }) => ({ from, to, port, protocol })) });
      if (obs.length !== m.cells.length) throw new Error(`the probe returned ${obs.length} outcomes for ${m.cells.length} cells`);
      m.cells.forEach((c, i) => { c.observed = obs[i]; if (c.allowed !== obsAllowed(c.observed)) differs = true; });
    }
    const text = a.format === 'svg' ? toSvg(renderMatrix(m, 'dot', false)) : renderMatrix(m, a.format, !!probe);
    process.stdout.write(text);
    return differs ? 1 : 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Diff

export interface DiffCell {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
  before: boolean;
  after: boolean;
}

export interface Diff {
  a: string;
  b: string;
  /** Pods in both (compared), sorted. */
  pods: string[];
  onlyInA: string[];
  onlyInB: string[];
  cases: PortCase[];
  /** Changed cells only: case-major, then from, then to. */
  cells: DiffCell[];
  /** before/after of every compared cell, case-major (for the grids). */
  all: { before: boolean; after: boolean }[];
}

export function computeDiff(A: PolicyWorld, B: PolicyWorld, cases: PortCase[]): Diff {
  const inB = new Set(B.pods);
  const inA = new Set(A.pods);
  const pods = A.pods.filter((p) => inB.has(p));
  const ra = reachability(A.view, A.policies, cases);
  const rb = reachability(B.view, B.policies, cases);
  const ia = new Map(A.pods.map((p, i) => [p, i]));
  const ib = new Map(B.pods.map((p, i) => [p, i]));
  const cells: DiffCell[] = [];
  const all: Diff['all'] = [];
  cases.forEach((c, k) => {
    for (const f of pods)
      for (const t of pods) {
        const before = ra.allowed(ia.get(f)!, ia.get(t)!, k);
        const after = rb.allowed(ib.get(f)!, ib.get(t)!, k);
        all.push({ before, after });
        if (before !== after) cells.push({ from: f, to: t, port: c.port, protocol: c.protocol, before, after });
      }
  });
  return { a: A.file, b: B.file, pods, onlyInA: A.pods.filter((p) => !inB.has(p)), onlyInB: B.pods.filter((p) => !inA.has(p)), cases, cells, all };
}

const diffMark = (x: { before: boolean; after: boolean }) => (x.before === x.after ? mark(x.before) : x.after ? '+' : '-');
const flow = (c: DiffCell) => `${c.from} -> ${c.to}`;

export function renderDiff(d: Diff, format: Exclude<MatrixFormat, 'svg'>): string {
  const n = d.pods.length;
  const opened = d.cells.filter((c) => c.after).length;
  const closed = d.cells.length - opened;
  const at = (k: number, i: number, j: number) => d.all[k * n * n + i * n + j]!;
  const ofCase = (c: PortCase) => d.cells.filter((x) => x.port === c.port && x.protocol === c.protocol);
  const notes = [
    ...(d.onlyInA.length ? [`pods only in ${d.a} (not compared): ${d.onlyInA.join(', ')}`] : []),
    ...(d.onlyInB.length ? [`pods only in ${d.b} (not compared): ${d.onlyInB.join(', ')}`] : []),
  ];
  switch (format) {
    case 'json': {
      const line = (c: DiffCell) => `  ${jsonLine({ from: c.from, to: c.to, port: c.port, protocol: c.protocol, before: c.before, after: c.after })}`;
      const cells = d.cells.length ? `[\n${d.cells.map(line).join(',\n')}\n]` : '[]';
      const list = (l: string[]) => `[${l.map((x) => JSON.stringify(x)).join(', ')}]`;
      return `{"opened": ${opened}, "closed": ${closed}, "onlyInA": ${list(d.onlyInA)}, "onlyInB": ${list(d.onlyInB)}, "cells": ${cells}}\n`;
    }
    case 'csv':
      return ['from,to,port,protocol,before,after', ...d.cells.map((c) => `${c.from},${c.to},${c.port},${c.protocol},${c.before},${c.after}`)].join('\n') + '\n';
    case 'text': {
      const out = [`${d.a} -> ${d.b}: ${opened} cells opened, ${closed} closed (${n} pods, ${d.cases.map(caseText).join(', ')})`, ...notes];
      d.cases.forEach((c, k) => {
        const ch = ofCase(c);
        out.push('');
        if (!ch.length) { out.push(`${caseText(c)}: no change`); return; }
        const o = ch.filter((x) => x.after);
        const cl = ch.filter((x) => !x.after);
        out.push(`${caseText(c)}: ${o.length} opened, ${cl.length} closed (. allowed in both, X denied in both, + opened, - closed)`);
        out.push(...grid(d.pods, (i, j) => diffMark(at(k, i, j))));
        if (o.length) out.push(`  opened: ${o.map(flow).join(', ')}`);
        if (cl.length) out.push(`  closed: ${cl.map(flow).join(', ')}`);
      });
      return out.join('\n') + '\n';
    }
    case 'markdown': {
      const out = [`${opened} cells opened, ${closed} closed from \`${d.a}\` to \`${d.b}\`.`, ...notes.map((x) => `\n${x}`)];
      d.cases.forEach((c, k) => {
        const ch = ofCase(c);
        out.push('', `### ${caseText(c)}`, '');
        if (!ch.length) { out.push('No change.'); return; }
        out.push(`\`.\` allowed in both, \`X\` denied in both, \`+\` opened, \`-\` closed; rows from, columns to.`, '');
        out.push(...mdGrid(d.pods, (i, j) => diffMark(at(k, i, j))));
      });
      return out.join('\n') + '\n';
    }
    case 'dot': {
      const out = ['digraph "policy diff" {', '  rankdir=LR;', '  node [shape=box, fontname="monospace"];', '  edge [fontname="monospace", fontsize=10];'];
      out.push(`  label=${dotId(`${d.a} -> ${d.b}: green edges opened, red dashed edges closed`)};`);
      out.push(...dotNodes(d.pods));
      const pairs = new Map<string, DiffCell[]>();
      for (const c of d.cells) {
        const k = `${c.from}\u0000${c.to}`;
        if (!pairs.has(k)) pairs.set(k, []);
        pairs.get(k)!.push(c);
      }
      for (const [, list] of pairs) {
        const o = list.filter((c) => c.after);
        const cl = list.filter((c) => !c.after);
        const head = `  ${dotId(list[0]!.from)} -> ${dotId(list[0]!.to)}`;
        if (o.length) out.push(`${head} [color="darkgreen", fontcolor="darkgreen", label=${dotId(o.map((c) => `+${caseText(c)}`).join(', '))}];`);
        if (cl.length) out.push(`${head} [color="red", fontcolor="red", style="dashed", label=${dotId(cl.map((c) => `-${caseText(c)}`).join(', '))}];`);
      }
      out.push('}');
      return out.join('\n') + '\n';
    }
  }
}

export interface DiffArgs {
  a: string;
  b: string;
  ports?: (string | number)[];
  protocols?: string[];
  format: MatrixFormat;
  at?: string | number;
  seed?: number;
  /** --allow-outside-files: `{file: …}` includes may leave the scenario's folder. */
  allowOutsideFiles?: boolean;
}

export function diffCommand(a: DiffArgs): number {
  return guard(a.a, () => {
    const at = parseAt(a.at);
    const A = loadPolicyWorld(a.a, { at, seed: a.seed, allowOutsideFiles: a.allowOutsideFiles });
    const B = loadPolicyWorld(a.b, { at, seed: a.seed, allowOutsideFiles: a.allowOutsideFiles });
    const cases = parseCases(a.ports, a.protocols, () => {
      const seen = new Map<string, PortCase>();
      for (const c of [...declaredCases(A.view), ...declaredCases(B.view)]) seen.set(caseText(c), c);
      return [...seen.values()].sort((x, y) => x.port - y.port || PROTOCOLS.indexOf(x.protocol) - PROTOCOLS.indexOf(y.protocol));
    });
    const d = computeDiff(A, B, cases);
    process.stdout.write(a.format === 'svg' ? toSvg(renderDiff(d, 'dot')) : renderDiff(d, a.format));
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Explain

export interface ExplainArgs {
  file: string;
  from: string;
  to: string;
  port: number;
  protocol: string;
  format: 'text' | 'json';
  at?: string | number;
  seed?: number;
  /** --allow-outside-files: `{file: …}` includes may leave the scenario's folder. */
  allowOutsideFiles?: boolean;
}

/** A command-line endpoint (`pod/NS/NAME`, `node/NAME`, `host/NAME`, `ip/A.B.C.D`) as the evaluator's. */
function endpointOf(w: PolicyWorld, s: string, flag: string): Endpoint {
  const parts = s.split('/');
  const expected = '(expected pod/NS/NAME, node/NAME, host/NAME or ip/A.B.C.D)';
  if (parts[0] === 'pod' && parts.length === 3) {
    const ref = `${parts[1]}/${parts[2]}`;
    if (!w.pods.includes(ref)) throw new UsageError(`${flag} ${s}: no pod ${ref} in ${w.file} at this time (pods: ${w.pods.join(', ') || 'none'})`);
    return { kind: 'pod', namespace: parts[1]!, name: parts[2]! };
  }
  if (parts[0] === 'node' && parts.length === 2) {
    if (!(w.view.nodes ?? []).some((n) => n.name === parts[1])) throw new UsageError(`${flag} ${s}: no node ${parts[1]} in ${w.file} at this time (nodes: ${(w.view.nodes ?? []).map((n) => n.name).join(', ')})`);
    return { kind: 'node', name: parts[1]! };
  }
  if (parts[0] === 'host' && parts.length === 2) {
    if (!w.cluster.hosts.has(parts[1]!)) throw new UsageError(`${flag} ${s}: no external host ${parts[1]} in ${w.file} (hosts: ${[...w.cluster.hosts.keys()].join(', ') || 'none'})`);
    return { kind: 'ip', ip: ipToString(w.cluster.machineIPs.get(parts[1]!)!) };
  }
  if (parts[0] === 'ip' && parts.length === 2 && /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(parts[1]!)) return { kind: 'ip', ip: parts[1]! };
  throw new UsageError(`invalid ${flag} ${JSON.stringify(s)} ${expected}`);
}

/** Each policy's own say in one direction: ANPs walked, every NetworkPolicy isolating the subject, the BANP. */
function policyLines(w: PolicyWorld, v: Verdict, d: DirectionVerdict): string[] {
  const who = `${d.direction.toLowerCase()} of ${d.subject ?? (d.direction === 'Egress' ? v.from : v.to)}`;
  if (!d.subject) return [`  ${who}: not a pod-network pod; no policy applies`];
  const out = [`  ${who}:`];
  const dir = d.direction === 'Ingress' ? 'ingress' : 'egress';
  for (const a of d.anp) {
    const r = a.decision;
    out.push(`    AdminNetworkPolicy ${a.policy} (priority ${a.priority}): ${r ? `${dir} rule ${r.ruleName ? JSON.stringify(r.ruleName) : r.rule} matches: ${r.action}${r.action === 'Pass' ? ' (skips the remaining AdminNetworkPolicies)' : ''}` : `selects ${d.subject}; no ${dir} rule matches`}`);
  }
  if (d.decidedBy === 'ANP') {
    out.push(`    (lower tiers not consulted)`);
    return out;
  }
  const np = d.networkPolicy;
  if (np && np.isolatedBy.length === 0) out.push(`    NetworkPolicy: none selects ${d.subject} for ${dir} (not isolated)`);
  for (const ref of np?.isolatedBy ?? []) {
    // The policy on its own: does one of its rules admit the flow?
    const only = w.policies.networkPolicies!.find((p) => `${p.namespace}/${p.name}` === ref)!;
    const single = new PolicyEvaluator(w.view, { networkPolicies: [only] });
    const sv = single.verdict(parseFlowEnd(v.from), parseFlowEnd(v.to), v.port, v.protocol);
    const adm = (d.direction === 'Ingress' ? sv.ingress : sv.egress).networkPolicy?.admittedBy;
    const peer = adm ? (adm.peer < 0 ? `every ${d.direction === 'Ingress' ? 'source' : 'destination'}` : `${d.direction === 'Ingress' ? 'from' : 'to'}[${adm.peer}]`) : '';
    const port = adm ? (adm.port < 0 ? 'every port' : `ports[${adm.port}]`) : '';
    out.push(`    NetworkPolicy ${ref}: selects ${d.subject} for ${dir}; ${adm ? `${dir}[${adm.rule}] admits (${peer}, ${port})` : `no ${dir} rule admits ${d.peer}:${v.port}/${v.protocol}`}`);
  }
  if (np && np.isolatedBy.length) out.push(`    => ${d.allowed ? 'admitted by the union of these NetworkPolicies' : 'no NetworkPolicy admits it'}${w.policies.baselineAdminNetworkPolicy ? ' (BaselineAdminNetworkPolicy not consulted)' : ''}`);
  if (d.banp) {
    const r = d.banp.decision;
    out.push(`    BaselineAdminNetworkPolicy default: ${r ? `${dir} rule ${r.ruleName ? JSON.stringify(r.ruleName) : r.rule} matches: ${r.action}` : `selects ${d.subject}; no ${dir} rule matches (allowed)`}`);
  }
  return out;
}

/** The evaluator's names for parties (`ns/name`, `node/NAME`, an address) back to endpoints. */
function parseFlowEnd(desc: string): Endpoint {
  const parts = desc.split('/');
  if (parts[0] === 'node' && parts.length === 2) return { kind: 'node', name: parts[1]! };
  if (parts.length === 2) return { kind: 'pod', namespace: parts[0]!, name: parts[1]! };
  return { kind: 'ip', ip: desc };
}

export function explainCommand(a: ExplainArgs): number {
  return guard(a.file, () => {
    const at = parseAt(a.at);
    const protocol = normProtocol(a.protocol);
    if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535) throw new UsageError(`invalid --port ${a.port} (expected 1..65535)`);
    const w = loadPolicyWorld(a.file, { at, seed: a.seed, allowOutsideFiles: a.allowOutsideFiles });
    const from = endpointOf(w, a.from, '--from');
    const to = endpointOf(w, a.to, '--to');
    const ev = new PolicyEvaluator(w.view, w.policies);
    const v = ev.verdict(from, to, a.port, protocol);
    if (a.format === 'json') {
      process.stdout.write(JSON.stringify(v, null, 2) + '\n');
      return 0;
    }
    const out = [explainVerdict(v)];
    const why = denialReason(v);
    if (why) out.push(`reason: ${why}`);
    if (!v.shortcut) out.push('policy by policy:', ...policyLines(w, v, v.egress), ...policyLines(w, v, v.ingress));
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------

/** Runs a command body with podwire's exit codes: 2 for input and usage errors, 1 for failures. */
function guard(file: string, body: () => number): number {
  try {
    return body();
  } catch (e) {
    if (isInputError(e)) { process.stderr.write(e.format() + '\n'); return 2; }
    if (e instanceof UsageError) { process.stderr.write(`podwire: ${e.message}\n`); return 2; }
    if (e instanceof NetlinkError) { process.stderr.write(`podwire: ${file}: ${e.message}\n`); return 2; }
    process.stderr.write(`podwire: policy failed: ${(e as Error).message}\n`);
    return 1;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
