/**
 * Running a scenario: attach the trace, build the cluster, attach captures,
 * send every traffic item at its time, and judge each against its expectation.
 * The run ends DRAIN_NS (1 ms) after the last item has its outcome, so captures
 * hold every frame of every exchange, those still in flight included.
 */
import { loadScenario } from './load.js';
import { buildCluster, type Cluster, type ProgressFn } from './build.js';
import { ensureControlPlane, type ControlPlane } from './control-plane.js';
import { runClient, runSession, type Outcome } from './apps.js';
import type { Endpoint, Scenario, TrafficSpec } from './types.js';
import { attachCaptures } from './captures.js';
import type { TraceSink } from '../trace/events.js';
import type { Netns } from '../kernel/netns.js';
import type { Skb } from '../kernel/skb.js';
import { resetPacketIds } from '../kernel/skb.js';
import { formatTime } from '../engine/time.js';
import { ipToString, u16, u32 } from '../wire/bytes.js';

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
  /** Requests delivered per receiver (`pod/NS/NAME`, `node/NAME`, `host/NAME`): which backends served the item. */
  servedBy: Record<string, number>;
  /** With count > 1: each request's outcome in order (a reused connection's stop at its first failure). */
  rounds?: Outcome[];
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

/** How long a run goes on after the last item's outcome, for frames in flight. */
export const DRAIN_NS = 1_000_000;

export interface RunOptions {
  seed?: number;
  /** Directory for pcap files (per interface) and all.pcapng; none when absent. */
  pcapDir?: string;
  /** With pcapDir: files only for the interfaces a frame crossed (not one per device of the cluster). */
  pcapUsedOnly?: boolean;
  trace?: TraceSink;
  /** Sysctls every namespace starts with (tests use this to match the kernel host). */
  sysctls?: Record<string, string>;
  /** Event budget (a runaway guard). */
  maxEvents?: number;
  /** runScenarioFile: `{file: …}` includes may leave the scenario's folder (--allow-outside-files). */
  allowOutsideFiles?: boolean;
  /** Progress of a long run (issue 9): phases load, build …, control plane …, traffic. */
  progress?: ProgressFn;
}

export function runScenarioFile(path: string, opts: RunOptions = {}): RunResult {
  opts.progress?.('load', 0, 1);
  const sc = loadScenario(path, { allowOutsideFiles: opts.allowOutsideFiles });
  opts.progress?.('load', 1, 1);
  return runScenario(sc, opts);
}

export function runScenario(sc: Scenario, opts: RunOptions = {}): RunResult {
  resetPacketIds();
  // The trace is attached before the build, so the agents' start-up (kube-proxy's first sync) is in it.
  const cluster = buildCluster(sc, { seed: opts.seed, sysctls: opts.sysctls, trace: opts.trace, progress: opts.progress });
  // Without kube-proxy the control plane is the apiserver alone: Namespaces, Pods and policies in the store.
  const control = ensureControlPlane(cluster);
  const world = cluster.world;

  const captures = opts.pcapDir ? attachCaptures(world, opts.pcapDir, { usedOnly: opts.pcapUsedOnly }) : null;

  // Service addresses are fixed once the objects are admitted: resolve every
  // service target now, so a wrong port name is a scenario error before anything runs.
  const targets = new Map<TrafficSpec, { addr: number; port: number }>();
  for (const t of sc.traffic) if (t.to.kind === 'service') targets.set(t, cluster.control!.serviceTarget(t));
  scheduleEvents(cluster, control, () => refreshWho());

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
  // Who served each request: the namespace where a request's first packet (SYN, UDP
  // datagram, echo request) of a traffic item was delivered.
  const served = new Map<string, Map<string, number>>();
  const whoIs = new Map<string, string>();
  const requestSrc = new Map<string, { ip: number; port: number }>();
  // Pods of a joining node appear later: the map is refreshed when they do.
  function refreshWho(): void {
    for (const [key, p] of cluster.pods) whoIs.set(`${p.node.name}/${p.netns}`, `pod/${key}`);
  }
  refreshWho();
  // A ReplicaSet's replacement pods appear later too.
  control.workloads.onPodsAdded = refreshWho;
  for (const n of cluster.nodes.keys()) if (!whoIs.has(`${n}/host`)) whoIs.set(`${n}/host`, `node/${n}`);
  for (const n of cluster.hosts.keys()) whoIs.set(`${n}/host`, `host/${n}`);
  world.onDeliver = (skb) => {
    if (skb.path) notePath(skb, true);
    // An overlay's outer packet (innerId set: VXLAN, flannel's UDP) carries the request; its receiver is the tunnel end, not a server.
    if (!skb.flow || skb.innerId || !isRequestStart(skb)) return;
    const at = `${skb.dev?.netns.node.name}/${skb.dev?.netns.name}`;
    // A UDP reply is not a request served (UDP has no flag telling them apart): it is addressed to the request's source.
    const req = requestSrc.get(skb.flow);
    if (req && skb.buf[skb.nh + 9] === 17 && u32(skb.buf, skb.nh + 16) === req.ip && u16(skb.buf, skb.nh + (skb.buf[skb.nh] & 15) * 4 + 2) === req.port) return;
    let m = served.get(skb.flow);
    if (!m) served.set(skb.flow, (m = new Map()));
    const who = whoIs.get(at) ?? at;
    m.set(who, (m.get(who) ?? 0) + 1);
  };

  const results: TrafficResult[] = [];
  let pending = 0;
  let lastEnd = 0;
  for (const t of sc.traffic) {
    pending++;
    world.sched.at(t.at, () => startItem(cluster, t, targets.get(t), (r) => {
      const p = pathOf.get(t.name);
      r.path = p ? (p.delivered ?? p.longest) : [];
      r.servedBy = Object.fromEntries([...(served.get(t.name) ?? new Map<string, number>())].sort((a, b) => a[0].localeCompare(b[0])));
      judge(r, t);
      results.push(r);
      opts.progress?.('traffic', results.length, sc.traffic.length);
      lastEnd = Math.max(lastEnd, world.now);
      if (--pending === 0) world.sched.stop();
    }, (skb) => {
      const b = skb.buf, nh = skb.nh;
      if (b[nh + 9] === 17) requestSrc.set(t.name, { ip: u32(b, nh + 12), port: u16(b, nh + (b[nh] & 15) * 4) });
      skb.path = [];
      watched.add(skb.id);
      if (!pathOf.has(t.name)) pathOf.set(t.name, { delivered: null, longest: [] });
    }));
  }
  let files: string[] = [];
  opts.progress?.('traffic', 0, sc.traffic.length);
  try {
    if (pending > 0) world.sched.run(Infinity, opts.maxEvents ?? 50_000_000);
    // Let the frames already on their way arrive (the last ACK of a close crossing a router,
    // say): 1 ms of virtual time is many hops, and short of any timer a run could start.
    world.sched.run(world.now + DRAIN_NS, opts.maxEvents ?? 50_000_000);
  } finally {
    // Captures are committed even when the run fails half-way: what was captured is whole.
    if (captures) files = captures.close().files;
  }
  results.sort((a, b) => sc.traffic.findIndex((t) => t.name === a.name) - sc.traffic.findIndex((t) => t.name === b.name));
  // The machines' configuration commands, rendered when first asked for (--show-config, the kernel
  // harness): at 5,000 flannel nodes each node's log holds a route, neighbour and FDB entry per peer.
  let config: RunResult['config'] | undefined;
  return {
    scenario: sc, cluster, endTime: Math.max(lastEnd, world.now), results,
    get config() { return (config ??= [...world.nodes.values()].map((n) => ({ machine: n.name, kind: n.role, commands: n.configCommands() }))); },
    captures: files, events: world.sched.executed,
  };
}

/**
 * Schedules the scenario's events at their times (equal times in list order):
 * node joins and leaves on the cluster, the rest (pod-ready, pod-delete,
 * policy-apply, policy-delete) on the control plane. `joined` runs after a join.
 */
export function scheduleEvents(cluster: Cluster, control: ControlPlane, joined?: (node: string) => void): void {
  for (const e of cluster.scenario.events) {
    cluster.world.sched.at(e.at, () => {
      if (e.kind === 'node-join') { cluster.joinNode(e.node); joined?.(e.node); }
      else if (e.kind === 'node-leave') cluster.leaveNode(e.node);
      else if (e.kind === 'node-down') cluster.downNode(e.node);
      else control.applyEvent(e);
    });
  }
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
    case 'service':
    case 'dns':
      throw new Error(`${e.text} is resolved by the control plane, not here`);
  }
}

function startItem(cl: Cluster, t: TrafficSpec, target: { addr: number; port: number } | undefined, done: (r: TrafficResult) => void, watch: (skb: Skb) => void): void {
  const world = cl.world;
  const started = world.now;
  const from = t.from.kind === 'ip' ? resolveEndpoint(cl, t.via!) : resolveEndpoint(cl, t.from);
  const src = t.from.kind === 'ip' ? t.from.addr : undefined;
  if (t.to.kind === 'dns') {
    // The pod's resolver first (its queries are part of the item's frames), then the request.
    const pod = t.from as Extract<Endpoint, { kind: 'pod' }>;
    cl.control!.resolve(from.ns!, `${pod.namespace}/${pod.name}`, t.to.name, t.name, (addrs, detail) => {
      if (!addrs.length) {
        done({ name: t.name, result: 'nxdomain', detail, ok: true, path: [], servedBy: {}, startedAt: started, endedAt: world.now, expected: t.expect });
        return;
      }
      send(from.ns!, addrs[0], t.port, `${detail}; `);
    });
    return;
  }
  const to = target ?? resolveEndpoint(cl, t.to);
  send(from.ns!, to.addr, target ? target.port : t.port, '');

  function send(ns: Netns, dst: number, port: number | undefined, prefix: string): void {
  const rounds: Outcome[] = [];
  if (t.connection === 'reuse' && t.protocol !== 'icmp') {
    runSession({
      ns, dst, protocol: t.protocol, port, sourcePort: t.sourcePort, src,
      size: t.size, pmtuDiscovery: t.pmtuDiscovery, timeout: t.timeout, flow: t.name,
      onFirstSkb: watch, count: t.count, interval: 1_000_000_000, onRound: (_k, o) => rounds.push(o),
      done: (o, d) => done({ name: t.name, result: o, detail: prefix + d, ok: true, path: [], servedBy: {}, startedAt: started, endedAt: world.now, expected: t.expect, ...(t.count > 1 ? { rounds } : {}) }),
    });
    return;
  }
  const outcomes: { o: Outcome; d: string }[] = [];
  let i = 0;
  const one = () => {
    i++;
    runClient({
      ns, dst, protocol: t.protocol, port, sourcePort: t.sourcePort, src,
      size: t.size, pmtuDiscovery: t.pmtuDiscovery, timeout: t.timeout, flow: t.name,
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
        const detail = t.count > 1 ? `${outcomes.filter((x) => x.o === 'reply').length}/${t.count} replied; ${final.d}` : final.d;
        done({ name: t.name, result: final.o, detail: prefix + detail, ok: true, path: [], servedBy: {}, startedAt: started, endedAt: world.now, expected: t.expect, ...(t.count > 1 ? { rounds: outcomes.map((x) => x.o) } : {}) });
      },
    });
  };
  one();
  }
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
  if (exp.servedBy) {
    const got = Object.keys(r.servedBy).sort();
    const want = [...exp.servedBy].sort();
    if (got.join(',') !== want.join(',')) problems.push(`served by ${got.join(', ') || 'nobody'}, expected ${want.join(', ')}`);
  }
  if (problems.length) { r.ok = false; r.mismatch = problems.join('; '); }
}

/** A request's first packet: TCP SYN without ACK, any UDP datagram, ICMP echo request. */
function isRequestStart(skb: Skb): boolean {
  const b = skb.buf, nh = skb.nh;
  const l4 = nh + (b[nh] & 15) * 4;
  switch (b[nh + 9]) {
    case 6: return (b[l4 + 13] & 0x12) === 0x02;
    case 17: return true;
    case 1: return b[l4] === 8;
    default: return false;
  }
}

export function formatResult(r: TrafficResult): string {
  const mark = r.ok ? 'PASS' : 'FAIL';
  const exp = r.expected?.result ? ` (expected ${r.expected.result})` : '';
  const lines = [`${mark} ${r.name}: ${r.result}${exp} at ${formatTime(r.startedAt)}–${formatTime(r.endedAt)}: ${r.detail}`];
  if (r.path.length) lines.push(`     path: ${r.path.join(' → ')}`);
  const sb = Object.entries(r.servedBy);
  if (sb.length && (sb.length > 1 || Object.values(r.servedBy)[0] > 1 || r.expected?.servedBy)) lines.push(`     served by: ${sb.map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  if (r.mismatch) lines.push(`     ${r.mismatch}`);
  return lines.join('\n');
}

export { ipToString };
