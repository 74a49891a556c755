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
import { applyFault, beforeNodeDown, checkFaultTargets, isFault } from './faults.js';
import type { Netns } from '../kernel/netns.js';
import type { Skb } from '../kernel/skb.js';
import { resetPacketIds } from '../kernel/skb.js';
import { formatTime } from '../engine/time.js';
import { ipToString, u16, u32 } from '../wire/bytes.js';
import type { World } from '../kernel/world.js';
import { LoopWatch, ttlLoopOf, type CyclingPacket, type TtlLoop } from './loops.js';

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
  /** Set when a budget or an interrupt ended the run before every traffic item had its outcome. */
  stop?: RunStop;
  /** Packets that went round a loop until their TTL ran out (routing loops, NAT ping-pong). */
  ttlLoops: TtlLoop[];
}

/** Why and where a run was cut short. */
export interface RunStop {
  reason: 'max-events' | 'max-virtual-time' | 'interrupt';
  /** The budget that was reached (events, or ns of virtual time); absent for an interrupt. */
  limit?: number;
  /** Virtual time and events run when it stopped. */
  at: number;
  events: number;
  finished: string[];
  unfinished: string[];
  /** What kept the run busy at the end (budget stops): the packets sending the most frames in the watch window. */
  cycling: CyclingPacket[];
  /** How many events the watch window covered (0: none, e.g. an interrupt). */
  window: number;
}

/** Default `--max-events`: far above any shipped or generated scenario (the 5,000-node benches run under 20 M). */
export const DEFAULT_MAX_EVENTS = 50_000_000;
/** Default `--max-virtual-time`: a day, beyond every timer a scenario can start (BGP hold, etcd lease renewal at 23 h). */
export const DEFAULT_MAX_VIRTUAL_TIME = 24 * 3600 * 1_000_000_000;
/** Events run per slice: the async runner looks for an interrupt between slices. */
const SLICE = 1 << 14;
/** The last events of an event budget (or the last tenth of a virtual-time budget) watched for cycling frames. */
const WATCH_EVENTS = 20_000;

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
  /** Event budget (a runaway guard): the run stops after this many events in all (DEFAULT_MAX_EVENTS). */
  maxEvents?: number;
  /** runScenarioFile: `{file: …}` includes may leave the scenario's folder (--allow-outside-files). */
  allowOutsideFiles?: boolean;
  /** Virtual-time budget in ns (DEFAULT_MAX_VIRTUAL_TIME). */
  maxVirtualTime?: number;
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
  const run = prepareRun(sc, opts);
  while (run.slice());
  return run.finish();
}

/**
 * As runScenarioFile, yielding to the event loop between slices of events so a
 * signal handler can run: `interrupted()` true stops the emulation at the next
 * slice boundary (an event boundary), and the result says where.
 */
export async function runScenarioFileAsync(path: string, opts: RunOptions & { interrupted?: () => boolean } = {}): Promise<RunResult> {
  opts.progress?.('load', 0, 1);
  const sc = loadScenario(path, { allowOutsideFiles: opts.allowOutsideFiles });
  opts.progress?.('load', 1, 1);
  const run = prepareRun(sc, opts);
  while (run.slice()) {
    run.tick();
    await new Promise<void>((r) => setImmediate(r));
    if (opts.interrupted?.()) { run.interrupt(); break; }
  }
  return run.finish();
}

interface PreparedRun {
  /** Runs one slice of events; false once the run is over (done, budget reached or interrupted). */
  slice(): boolean;
  interrupt(): void;
  /** Reports progress between slices (a long item, or a storm, would otherwise show none). */
  tick(): void;
  /** Closes the captures and gathers the result (always call it, also after an error in slice). */
  finish(): RunResult;
}

function prepareRun(sc: Scenario, opts: RunOptions): PreparedRun {
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
  // Items wait on the virtual clock (a cluster's BGP settling before the first one): the progress says where it is.
  const trafficProgress = () => opts.progress?.('traffic', results.length, sc.traffic.length,
    `virtual clock ${(world.now / 1e9).toFixed(3)} s, ${world.sched.executed.toLocaleString('en-US')} events`);
  for (const t of sc.traffic) {
    pending++;
    world.sched.at(t.at, () => startItem(cluster, t, targets.get(t), (r) => {
      const p = pathOf.get(t.name);
      r.path = p ? (p.delivered ?? p.longest) : [];
      r.servedBy = Object.fromEntries([...(served.get(t.name) ?? new Map<string, number>())].sort((a, b) => a[0].localeCompare(b[0])));
      judge(r, t);
      results.push(r);
      trafficProgress();
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
  trafficProgress();
  const ttlLoops: TtlLoop[] = [];
  const onDrop0 = world.onDrop!;
  world.onDrop = (skb, reason, where) => {
    onDrop0(skb, reason, where);
    // A packet dying of TTL is where a routing loop or NAT ping-pong ends: its path says where it went round.
    if (reason === 'TTL_EXPIRED') { const l = ttlLoopOf(skb, where); if (l) ttlLoops.push(l); }
  };
  const driver = new Driver(world, opts, () => pending);
  let closed = false;
  const closeCaptures = () => {
    // Captures are committed even when the run fails half-way: what was captured is whole.
    if (captures && !closed) { closed = true; files = captures.close().files; }
  };
  return {
    slice: () => {
      try { return driver.slice(); } catch (e) { driver.unwatch(); closeCaptures(); throw e; }
    },
    interrupt: () => driver.interrupt(),
    tick: trafficProgress,
    finish: () => {
      driver.unwatch();
      closeCaptures();
      results.sort((a, b) => sc.traffic.findIndex((t) => t.name === a.name) - sc.traffic.findIndex((t) => t.name === b.name));
      let stop: RunStop | undefined;
      if (driver.stopReason) {
        const done = new Set(results.map((r) => r.name));
        stop = {
          reason: driver.stopReason, limit: driver.stopReason === 'max-events' ? driver.maxEvents : driver.stopReason === 'max-virtual-time' ? driver.maxVT : undefined,
          at: world.now, events: world.sched.executed,
          finished: sc.traffic.filter((t) => done.has(t.name)).map((t) => t.name),
          unfinished: sc.traffic.filter((t) => !done.has(t.name)).map((t) => t.name),
          cycling: driver.watch ? driver.watch.top(5) : [], window: driver.watchedEvents(),
        };
      }
      // The machines' configuration commands, rendered when first asked for (--show-config, the kernel
      // harness): at 5,000 flannel nodes each node's log holds a route, neighbour and FDB entry per peer.
      let config: RunResult['config'] | undefined;
      return {
        scenario: sc, cluster, endTime: Math.max(lastEnd, world.now), results,
        get config() { return (config ??= [...world.nodes.values()].map((n) => ({ machine: n.name, kind: n.role, commands: n.configCommands() }))); },
        captures: files, events: world.sched.executed, stop, ttlLoops,
      };
    },
  };
}

/**
 * Drives the scheduler in slices: the traffic phase until every item has its outcome, then
 * DRAIN_NS for frames in flight; within the event and virtual-time budgets. Near a budget's end
 * a LoopWatch tap counts the frames each packet sends, so a run cut short can say what cycled;
 * it is installed only then, so a run that ends normally pays nothing for it.
 */
class Driver {
  readonly maxEvents: number;
  readonly maxVT: number;
  stopReason: RunStop['reason'] | null = null;
  watch: LoopWatch | null = null;
  private watchFrom = 0;
  private phase: 'traffic' | 'drain' | 'done' = 'traffic';
  private drainEnd = 0;
  constructor(private readonly world: World, opts: RunOptions, private readonly pending: () => number) {
    this.maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
    this.maxVT = opts.maxVirtualTime ?? DEFAULT_MAX_VIRTUAL_TIME;
    if (pending() === 0) this.enterDrain();
  }

  private enterDrain(): void {
    this.phase = 'drain';
    // Let the frames already on their way arrive (the last ACK of a close crossing a router,
    // say): 1 ms of virtual time is many hops, and short of any timer a run could start.
    this.drainEnd = this.world.now + DRAIN_NS;
  }

  slice(): boolean {
    const sched = this.world.sched;
    if (this.phase === 'done') return false;
    const left = this.maxEvents - sched.executed;
    const vtWatchAt = this.maxVT - Math.floor(this.maxVT / 10);
    if (!this.watch && (left <= WATCH_EVENTS || sched.now >= vtWatchAt)) this.startWatch();
    // Slices end where the watch starts, so it covers exactly the budget's last events (or tenth of its time).
    // With nothing left of the budget, run(…, 0) still says whether anything was due ('budget') or not.
    const n = Math.max(0, Math.min(SLICE, this.watch ? left : left - WATCH_EVENTS));
    const vtCap = this.watch ? this.maxVT : vtWatchAt;
    const until = Math.min(this.phase === 'traffic' ? Infinity : this.drainEnd, vtCap);
    const r = sched.run(until, n);
    if (this.phase === 'traffic' && this.pending() === 0) { this.enterDrain(); return true; }
    if (r === 'budget') return sched.executed >= this.maxEvents ? this.cut('max-events') : true;
    if (r === 'time') {
      if (sched.now >= this.maxVT && (this.phase === 'traffic' || this.drainEnd > this.maxVT)) return this.cut('max-virtual-time');
      if (this.phase === 'drain' && sched.now >= this.drainEnd) { this.phase = 'done'; return false; }
      return true;
    }
    // 'idle' (nothing left to run) or 'stopped'.
    if (this.phase === 'traffic') { this.enterDrain(); return true; }
    this.phase = 'done';
    return false;
  }

  interrupt(): void {
    if (this.phase !== 'done') this.cut('interrupt');
  }

  private cut(reason: RunStop['reason']): false {
    this.stopReason = reason;
    this.phase = 'done';
    return false;
  }

  private startWatch(): void {
    this.watch = new LoopWatch(this.world.tap);
    this.world.tap = this.watch;
    this.watchFrom = this.world.sched.executed;
  }

  watchedEvents(): number { return this.watch ? this.world.sched.executed - this.watchFrom : 0; }

  /** Gives the captures their tap back. */
  unwatch(): void {
    if (this.watch && this.world.tap === this.watch) this.world.tap = this.watch.next;
  }
}

/**
 * Schedules the scenario's events at their times (equal times in list order):
 * node joins and leaves on the cluster, the rest (pod-ready, pod-delete,
 * policy-apply, policy-delete) on the control plane. `joined` runs after a join.
 */
export function scheduleEvents(cluster: Cluster, control: ControlPlane, joined?: (node: string) => void): void {
  checkFaultTargets(cluster);
  for (const e of cluster.scenario.events) {
    cluster.world.sched.at(e.at, () => {
      if (e.kind === 'node-join') { cluster.joinNode(e.node); joined?.(e.node); }
      else if (e.kind === 'node-leave') cluster.leaveNode(e.node);
      else if (e.kind === 'node-down') { beforeNodeDown(cluster, e.node); cluster.downNode(e.node); }
      else if (isFault(e)) applyFault(cluster, e);
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
  // A pod deleted (pod-delete, an eviction) or gone with its node (node-leave) before the item starts:
  // nothing is sent. (Fuzzing, issue 11: this crashed the run with a TypeError.)
  const gone = [t.from, t.via, t.to].find((e) => e?.kind === 'pod' && !cl.pods.has(`${e.namespace}/${e.name}`));
  if (gone) {
    const detail = `${gone.text} no longer exists at ${formatTime(started)} (deleted, evicted, or its node left): nothing was sent`;
    done({ name: t.name, result: 'unreachable', detail, ok: true, path: [], servedBy: {}, startedAt: started, endedAt: started, expected: t.expect });
    return;
  }
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

/**
 * The lines a run cut short prints: why it stopped and where (virtual time, events,
 * items finished and not), then the packets still going round, their places and frames.
 */
export function formatStop(st: RunStop): string[] {
  const why = st.reason === 'max-events' ? `the event budget (--max-events ${st.limit}) ran out`
    : st.reason === 'max-virtual-time' ? `the virtual-time budget (--max-virtual-time ${st.limit! / 1e9}s) ran out`
    : 'interrupted (SIGINT)';
  const total = st.finished.length + st.unfinished.length;
  const lines = [`stopped: ${why} at virtual time ${formatTime(st.at)} s after ${st.events} events; ${st.finished.length} of ${total} traffic items finished`];
  if (st.unfinished.length) {
    const shown = st.unfinished.slice(0, 10);
    lines.push(`  unfinished: ${shown.join(', ')}${st.unfinished.length > shown.length ? `, … (${st.unfinished.length - shown.length} more)` : ''}`);
  }
  if (st.window && !st.cycling.length) lines.push(`  no packet left a device twice in the last ${st.window} events: nothing was going round`);
  if (st.cycling.length) {
    lines.push(`  still cycling in the last ${st.window} events (frames sent; in brackets, the device's frames in the whole run):`);
    for (const c of st.cycling) {
      lines.push(`    packet #${c.id}${c.flow ? ` [${c.flow}]` : ''}: ${c.frames} frame${c.frames === 1 ? '' : 's'}: ${c.what}`);
      lines.push(`      ${c.places.map((p) => `${p.dev} ×${p.frames} (${p.total})`).join(', ')}`);
    }
  }
  return lines;
}
