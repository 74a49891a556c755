/**
 * Running a scenario: build the cluster, attach captures and the trace, send
 * every traffic item at its time, and judge each against its expectation.
 * The run ends when the last item has its outcome (all events at that instant
 * included), so captures hold every frame of every exchange and nothing after.
 */
import { loadScenario } from './load.js';
import { buildCluster, type Cluster } from './build.js';
import { runClient, type Outcome } from './apps.js';
import type { Endpoint, Scenario, TrafficSpec } from './types.js';
import { attachCaptures } from './captures.js';
import type { TraceSink } from '../trace/events.js';
import type { Netns } from '../kernel/netns.js';
import type { Skb } from '../kernel/skb.js';
import { resetPacketIds } from '../kernel/skb.js';
import { formatTime } from '../engine/time.js';
import { ipToString } from '../wire/bytes.js';
import { InputError } from './errors.js';

export interface TrafficResult {
  name: string;
  result: Outcome;
  detail: string;
  ok: boolean;
  /** Why the expectation failed, when it did. */
  mismatch?: string;
  expected?: TrafficSpec['expect'];
  /** Devices the first request crossed, in order ("node/netns/dev"). */
  path: string[];
  startedAt: number;
  endedAt: number;
}

export interface RunResult {
  scenario: Scenario;
  cluster: Cluster;
  endTime: number;
  results: TrafficResult[];
  config: { machine: string; kind: 'node' | 'host' | 'router'; commands: string[] }[];
  captures: string[];
  events: number;
}

export interface RunOptions {
  seed?: number;
  /** Directory for pcap files (per interface) and all.pcapng; none when absent. */
  pcapDir?: string;
  trace?: TraceSink;
  /** Sysctls every namespace starts with (tests use this to match the kernel host). */
  sysctls?: Record<string, string>;
  /** Event budget (a runaway guard). */
  maxEvents?: number;
}

export function runScenarioFile(path: string, opts: RunOptions = {}): RunResult {
  return runScenario(loadScenario(path), opts);
}

export function runScenario(sc: Scenario, opts: RunOptions = {}): RunResult {
  for (const t of sc.traffic) {
    for (const e of [t.from, t.to]) {
      if (e.kind === 'service') {
        throw new InputError(t.pos.file, t.pos.line, t.pos.col, `traffic "${t.name}" goes to ${e.text}, but Services need kube-proxy, which this version of podwire does not model yet`, 'pod/NS/NAME, node/NAME, host/NAME or ip/A.B.C.D');
      }
    }
  }
  resetPacketIds();
  const cluster = buildCluster(sc, { seed: opts.seed, sysctls: opts.sysctls });
  const world = cluster.world;
  if (opts.trace) world.trace = opts.trace;

  const captures = opts.pcapDir ? attachCaptures(world, opts.pcapDir) : null;

  // Paths: the first request's copies are watched; the copy delivered at the destination (or, failing that, the longest) wins.
  world.watchPaths = true;
  const pathOf = new Map<string, { delivered: string[] | null; longest: string[] }>();
  const watched = new Set<number>();
  const notePath = (skb: Skb, delivered: boolean) => {
    if (!skb.path || !skb.flow || !watched.has(skb.id)) return;
    const p = pathOf.get(skb.flow);
    if (!p) return;
    if (delivered && !p.delivered) p.delivered = skb.path.slice();
    if (skb.path.length > p.longest.length) p.longest = skb.path.slice();
  };
  world.onDrop = (skb) => notePath(skb, false);
  world.onDeliver = (skb) => notePath(skb, true);

  const results: TrafficResult[] = [];
  let pending = 0;
  let lastEnd = 0;
  for (const t of sc.traffic) {
    pending++;
    world.sched.at(t.at, () => startItem(cluster, t, (r) => {
      const p = pathOf.get(t.name);
      r.path = p ? (p.delivered ?? p.longest) : [];
      judge(r, t);
      results.push(r);
      lastEnd = Math.max(lastEnd, world.now);
      if (--pending === 0) world.sched.stop();
    }, (skb) => {
      skb.path = [];
      watched.add(skb.id);
      if (!pathOf.has(t.name)) pathOf.set(t.name, { delivered: null, longest: [] });
    }));
  }
  let files: string[] = [];
  try {
    if (pending > 0) world.sched.run(Infinity, opts.maxEvents ?? 50_000_000);
    // Let everything already due at the final instant happen (the last ACK of a close, say).
    world.sched.run(world.now, opts.maxEvents ?? 50_000_000);
  } finally {
    // Captures are committed even when the run fails half-way: what was captured is whole.
    if (captures) files = captures.close().files;
  }
  results.sort((a, b) => sc.traffic.findIndex((t) => t.name === a.name) - sc.traffic.findIndex((t) => t.name === b.name));
  const config = [...world.nodes.values()].map((n) => ({ machine: n.name, kind: n.role, commands: n.configCommands() }));
  return { scenario: sc, cluster, endTime: Math.max(lastEnd, world.now), results, config, captures: files, events: world.sched.executed };
}

/** Where an endpoint lives and its address. */
export function resolveEndpoint(cl: Cluster, e: Endpoint): { ns: Netns | null; addr: number } {
  switch (e.kind) {
    case 'pod': {
      const p = cl.pods.get(`${e.namespace}/${e.name}`)!;
      return { ns: p.node.ns(p.netns), addr: p.ip };
    }
    case 'node': return { ns: cl.nodes.get(e.name)!.host, addr: cl.machineIPs.get(e.name)! };
    case 'host': return { ns: cl.hosts.get(e.name)!.host, addr: cl.machineIPs.get(e.name)! };
    case 'ip': return { ns: null, addr: e.addr };
    case 'service': throw new Error(`service endpoints (${e.text}) need kube-proxy, which is not modelled yet`);
  }
}

function startItem(cl: Cluster, t: TrafficSpec, done: (r: TrafficResult) => void, watch: (skb: Skb) => void): void {
  const world = cl.world;
  const started = world.now;
  const from = t.from.kind === 'ip' ? resolveEndpoint(cl, t.via!) : resolveEndpoint(cl, t.from);
  const to = resolveEndpoint(cl, t.to);
  const src = t.from.kind === 'ip' ? t.from.addr : undefined;
  const outcomes: { o: Outcome; d: string }[] = [];
  let i = 0;
  const one = () => {
    i++;
    runClient({
      ns: from.ns!, dst: to.addr, protocol: t.protocol, port: t.port, sourcePort: t.sourcePort, src,
      size: t.size, timeout: t.timeout, flow: t.name,
      onFirstSkb: i === 1 ? watch : undefined,
      done: (o, d) => {
        outcomes.push({ o, d });
        if (i < t.count) {
          // iputils ping and repeated requests: one second apart.
          world.sched.at(started + i * 1_000_000_000, one);
          return;
        }
        const bad = outcomes.find((x) => x.o !== 'reply');
        const final = bad ?? outcomes[outcomes.length - 1];
        done({ name: t.name, result: final.o, detail: t.count > 1 ? `${outcomes.filter((x) => x.o === 'reply').length}/${t.count} replied; ${final.d}` : final.d, ok: true, path: [], startedAt: started, endedAt: world.now, expected: t.expect });
      },
    });
  };
  one();
}

/** Expected path entries: "node/dev" (the node's own namespace) or "node/netns/dev". */
export function normalisePathEntry(e: string): string {
  const parts = e.split('/');
  return parts.length === 2 ? `${parts[0]}/host/${parts[1]}` : e;
}

function judge(r: TrafficResult, t: TrafficSpec): void {
  const exp = t.expect;
  if (!exp) return;
  const problems: string[] = [];
  if (exp.result && exp.result !== r.result) problems.push(`expected ${exp.result}, got ${r.result}`);
  if (exp.path) {
    // The listed devices must appear in this order among the devices crossed.
    let k = 0;
    const want = exp.path.map(normalisePathEntry);
    for (const d of r.path) if (k < want.length && d === want[k]) k++;
    if (k < want.length) problems.push(`path: ${want[k]} not crossed${k ? ` after ${want[k - 1]}` : ''} (crossed: ${r.path.join(' → ') || 'nothing'})`);
  }
  if (problems.length) { r.ok = false; r.mismatch = problems.join('; '); }
}

export function formatResult(r: TrafficResult): string {
  const mark = r.ok ? 'PASS' : 'FAIL';
  const exp = r.expected?.result ? ` (expected ${r.expected.result})` : '';
  const lines = [`${mark} ${r.name}: ${r.result}${exp} at ${formatTime(r.startedAt)}–${formatTime(r.endedAt)}: ${r.detail}`];
  if (r.path.length) lines.push(`     path: ${r.path.join(' → ')}`);
  if (r.mismatch) lines.push(`     ${r.mismatch}`);
  return lines.join('\n');
}

export { ipToString };
