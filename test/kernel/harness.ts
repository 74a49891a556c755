/**
 * Builds a scenario's machines in real `pw-k-*` namespaces from the commands podwire
 * prints for them, runs the same probes at the same relative times, and captures with
 * tcpdump on the interfaces podwire captured.
 *
 * Layout: one namespace per machine root (`<prefix><machine>`), one per pod netns
 * (`<prefix><machine>_<netns>`), and `<prefix>underlay` holding bridge `br0` to which
 * each machine's `eth0` (a veth, created before the commands are replayed, up, no
 * address — as a real machine's NIC) is attached.
 */
import * as path from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Scenario, PodSpec } from '../../src/scenario/types.js';
import { KernelLab, sleep, startTcpdump, stopTcpdump, waitFor, type Capture, type LabProcess } from './netns.js';
import { machineNamer, rewriteCommands, tokenize, type Argv, type RewriteContext } from './rewrite.js';
import { Node } from '../../src/kernel/node.js';

/**
 * Records the virtual time at which every configuration-log entry of every machine is
 * logged (test plumbing: wraps `Node`'s private log append for the calling test file's
 * module instance; call before running the model, undo with the returned function). An
 * entry keeps the time it first took its place; one that moves (an open peer-mesh entry
 * pushed after a newer one) takes the time of the move.
 */
export function recordConfigTimes(): { timedConfig: (config: { machine: string; kind: string; commands: string[] }[], nodes: Iterable<Node>) => MachineConfig[]; restore: () => void } {
  type Entry = Node['configLog'][number];
  const proto = Node.prototype as unknown as { pushLog: (this: Node, e: Entry) => void };
  const orig = proto.pushLog;
  const shadow = new WeakMap<Node, { entries: Entry[]; times: number[] }>();
  proto.pushLog = function (this: Node, e: Entry): void {
    let sh = shadow.get(this);
    if (!sh) shadow.set(this, (sh = { entries: [], times: [] }));
    const from = Math.max(0, this.configLog.length - 1);
    orig.call(this, e);
    const now = this.world.now;
    for (let i = from; i < this.configLog.length; i++) {
      if (sh.entries[i] !== this.configLog[i]) {
        sh.entries[i] = this.configLog[i]!;
        sh.times[i] = now;
      }
    }
    sh.entries.length = sh.times.length = this.configLog.length;
  };
  return {
    restore: () => {
      proto.pushLog = orig;
    },
    /** `config` (the run's) with each command's time; checks that the entries render to exactly those commands. */
    timedConfig: (config, nodes) => {
      const byName = new Map([...nodes].map((n) => [n.name, n]));
      return config.map((c) => {
        const node = byName.get(c.machine);
        const sh = node && shadow.get(node);
        if (!node || !sh) throw new Error(`recordConfigTimes: no log times for ${c.machine}`);
        const at: number[] = [];
        node.configLog.forEach((e, i) => {
          const r = typeof e === 'string' ? [e] : e();
          for (const _ of typeof r === 'string' ? [r] : r) at.push(sh.times[i] ?? 0);
        });
        if (at.length !== c.commands.length) throw new Error(`recordConfigTimes: ${c.machine}: ${at.length} timed commands, ${c.commands.length} in the config`);
        return { machine: c.machine, kind: c.kind as MachineConfig['kind'], commands: c.commands, at };
      });
    },
  };
}

export interface MachineConfig {
  machine: string;
  kind: 'node' | 'host';
  commands: string[];
  /**
   * Virtual time (ns) at which each command was logged, aligned with `commands` (see
   * {@link recordConfigTimes}). Commands logged after time 0 (an agent's sync after a
   * scenario event) are replayed at that time of the run; absent = everything up front.
   */
  at?: number[];
}

/** An interface as podwire names captures: netns `host` is the machine's root namespace. */
export interface IfaceRef {
  machine: string;
  netns: string;
  dev: string;
}

export interface ServerSpec {
  machine: string;
  netns: string;
  protocol: 'tcp' | 'udp';
  port: number;
}

export interface ProbeSpec {
  name: string;
  atNs: number;
  machine: string;
  netns: string;
  protocol: 'icmp' | 'tcp' | 'udp';
  dst: string;
  port?: number;
  sourcePort?: number;
  size: number;
  /** icmp/udp: IP_MTU_DISCOVER as the scenario's `pmtuDiscovery` (ping -M); absent = the kernel's default (want). */
  pmtuDiscovery?: 'want' | 'dont';
  count: number;
  /** tcp/udp `connection: reuse`: the `count` requests over one connection / socket. */
  connection?: 'reuse';
  timeoutNs: number;
}

export interface KernelPlan {
  config: MachineConfig[];
  servers: ServerSpec[];
  probes: ProbeSpec[];
  captures: IfaceRef[];
  /** Stop capturing at this run time (ns) plus graceMs; undefined = when every probe is done + 1 s. */
  endTimeNs?: number;
}

/** What netfilter showed in one namespace that had iptables rules (see {@link runKernel}). */
export interface NetfilterObservation {
  machine: string;
  /** podwire's name: `host` for the machine's root namespace. */
  netns: string;
  /** The pw- namespace. */
  ns: string;
  /** `xtables-monitor --trace` output over the run (TRACE rules in raw PREROUTING/OUTPUT). */
  trace: string;
  /** xtables-monitor's standard error and how it ended (it must still be running at the end). */
  monitorErrors: string;
  /** `iptables-save -c` just before the TRACE rules went in and the traffic started (the settle period's counts). */
  saveBefore: string;
  /** `iptables-save -c` at the end (includes the raw TRACE rules). */
  save: string;
  /** `conntrack -L` at the end (stdout only). */
  conntrack: string;
}

export interface KernelRunOutput {
  /** One entry per namespace in which the replayed commands ran iptables/iptables-restore. */
  netfilter: NetfilterObservation[];
  results: { name: string; results: string[]; details: string[] }[];
  captures: (IfaceRef & { file: string })[];
  /** Epoch time (ns) of run time 0. */
  t0Ns: bigint;
  /** Run time (ns) up to which frames belong to the run. */
  endTimeNs: number;
  /** The commands replayed during the run (logged after time 0), when they ran and how they ended. */
  replayed: TimedReplay[];
}

/** A command replayed at its logged time during the run. */
export interface TimedReplay {
  machine: string;
  /** Its logged virtual time (ns). */
  atNs: number;
  /** Wall-clock start and end, ms of run time. */
  startMs: number;
  endMs: number;
  command: string;
  code: number | null;
  stderr: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const AGENT = path.join(HERE, 'probes', 'agent.mjs');

/** `node__netns__dev.pcap` → IfaceRef (the inverse of podwire's pcapFileName). */
export function parseCaptureName(file: string): IfaceRef | null {
  const m = /^(.+?)__(.+?)__(.+)\.pcap$/.exec(path.basename(file));
  return m ? { machine: m[1]!, netns: m[2]!, dev: m[3]! } : null;
}

export function captureName(r: IfaceRef): string {
  return `${r.machine}__${r.netns}__${r.dev}.pcap`;
}

const ipToStr = (a: number): string => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');

/** Finds the address a machine's commands put on `dev` in pod netns `netns`. */
export function findPodAddress(cfg: MachineConfig, netns: string, dev = 'eth0'): string | null {
  for (const c of cfg.commands) {
    const w = tokenize(c);
    let i = 0;
    let ns = 'host';
    if (w[0] === 'ip' && w[1] === 'netns' && w[2] === 'exec') {
      ns = w[3]!;
      i = 4;
    }
    if (w[i] !== 'ip') continue;
    i++;
    if (w[i] === '-n') {
      ns = w[i + 1]!;
      i += 2;
    }
    if (ns !== netns) continue;
    if ((w[i] === 'addr' || w[i] === 'address' || w[i] === 'a') && w[i + 1] === 'add') {
      const d = w.indexOf('dev');
      if (d > 0 && w[d + 1] === dev) return w[i + 2]!.split('/')[0]!;
    }
  }
  return null;
}

function isPod(m: { kind: string }): m is PodSpec {
  return m.kind === 'Pod';
}

/** Derives servers and probes from a loaded scenario and the machines' commands. */
export function planFromScenario(
  scn: Scenario, config: MachineConfig[], captures: IfaceRef[], endTimeNs?: number,
  /** Where a `service/…` item connects (the model's control plane knows: ClusterIP, NodePort, …). */
  serviceTarget?: (t: Scenario['traffic'][number]) => { addr: number; port: number },
): KernelPlan {
  const pods = scn.manifests.filter(isPod);
  const cfgOf = (machine: string): MachineConfig => {
    const c = config.find((x) => x.machine === machine);
    if (!c) throw new Error(`no commands for machine ${machine}`);
    return c;
  };
  const servers: ServerSpec[] = [];
  for (const p of pods) {
    const netns = p.hostNetwork ? 'host' : `${p.namespace}.${p.name}`;
    for (const c of p.containers) for (const port of c.ports) {
      if (port.protocol === 'SCTP') continue;
      servers.push({ machine: p.nodeName, netns, protocol: port.protocol === 'TCP' ? 'tcp' : 'udp', port: port.containerPort });
    }
  }
  for (const h of scn.cluster.externalHosts) for (const port of h.ports) {
    if (port.protocol === 'SCTP') continue;
    servers.push({ machine: h.name, netns: 'host', protocol: port.protocol === 'TCP' ? 'tcp' : 'udp', port: port.containerPort });
  }
  const podOf = (ns: string, name: string): PodSpec => {
    const p = pods.find((x) => x.namespace === ns && x.name === name);
    if (!p) throw new Error(`no pod ${ns}/${name}`);
    return p;
  };
  const probes: ProbeSpec[] = scn.traffic.map((t) => {
    let machine: string;
    let netns: string;
    const from = t.from.kind === 'ip' ? t.via! : t.from;
    if (from.kind === 'pod') {
      const p = podOf(from.namespace, from.name);
      machine = p.nodeName;
      netns = p.hostNetwork ? 'host' : `${p.namespace}.${p.name}`;
    } else if (from.kind === 'node' || from.kind === 'host') {
      machine = from.name;
      netns = 'host';
    } else throw new Error(`traffic ${t.name}: unsupported source ${t.from.text}`);
    let dst: string;
    let port = t.port;
    const to = t.to;
    if (to.kind === 'service' && serviceTarget) {
      const st = serviceTarget(t);
      dst = ipToStr(st.addr);
      port = st.port;
    } else if (to.kind === 'pod') {
      const p = podOf(to.namespace, to.name);
      const ip = p.hostNetwork ? null : findPodAddress(cfgOf(p.nodeName), `${p.namespace}.${p.name}`);
      if (!ip) throw new Error(`traffic ${t.name}: no address for ${to.text}`);
      dst = ip;
    } else if (to.kind === 'node') {
      const n = scn.cluster.nodes.find((x) => x.name === to.name);
      if (!n) throw new Error(`no node ${to.name}`);
      dst = ipToStr(n.ip.addr);
    } else if (to.kind === 'host') {
      const h = scn.cluster.externalHosts.find((x) => x.name === to.name);
      if (!h) throw new Error(`no host ${to.name}`);
      dst = ipToStr(h.ip.addr);
    } else if (to.kind === 'ip') dst = ipToStr(to.addr);
    else throw new Error(`traffic ${t.name}: unsupported destination ${to.text}`);
    return {
      name: t.name, atNs: t.at, machine, netns, protocol: t.protocol, dst,
      port, sourcePort: t.sourcePort, size: t.size, count: t.count, timeoutNs: t.timeout,
      ...(t.pmtuDiscovery ? { pmtuDiscovery: t.pmtuDiscovery } : {}),
      ...(t.connection === 'reuse' ? { connection: 'reuse' as const } : {}),
    };
  });
  return { config, servers, probes, captures, endTimeNs };
}

export interface RunKernelOptions {
  /** Settle time after setup before capturing (IGMP etc.). Default 3000 ms. */
  settleMs?: number;
  /** Extra capture time after endTime. Default 300 ms. */
  graceMs?: number;
  /** Lead time between scheduling and run time 0. Default 300 ms. */
  leadMs?: number;
  /** Upper bound (s) on each xtables-monitor's life. Default 900. */
  monitorLimitS?: number;
}

/**
 * Builds the plan's machines in `lab`, runs the probes, captures. Files are written as
 * `<outDir>/<node>__<netns>__<dev>.pcap`. The caller owns `lab` (and destroys it).
 */
export async function runKernel(lab: KernelLab, plan: KernelPlan, outDir: string, opts: RunKernelOptions = {}): Promise<KernelRunOutput> {
  const ctxs = new Map<string, RewriteContext>();
  const nsOf = (machine: string, netns: string): string => {
    const ctx = ctxs.get(machine);
    if (!ctx) throw new Error(`unknown machine ${machine}`);
    return netns === 'host' ? ctx.rootNs : ctx.mapNetns(netns);
  };
  // Underlay and machine roots with their eth0.
  const underlay = await lab.addNetns(`${lab.prefix}underlay`);
  await lab.exec(['ip', '-n', underlay, 'link', 'add', 'br0', 'type', 'bridge']);
  await lab.exec(['ip', '-n', underlay, 'link', 'set', 'br0', 'up']);
  // One bridge per underlay segment (podwire logs each NIC as `# DEV: NIC on underlay segment NET/LEN`;
  // machines without such a line get eth0 on the first bridge).
  const bridges = new Map<string, string>();
  const bridgeFor = async (segment: string): Promise<string> => {
    let b = bridges.get(segment);
    if (b) return b;
    b = bridges.size === 0 ? 'br0' : `br${bridges.size}`;
    bridges.set(segment, b);
    if (b !== 'br0') {
      await lab.exec(['ip', '-n', underlay, 'link', 'add', b, 'type', 'bridge']);
      await lab.exec(['ip', '-n', underlay, 'link', 'set', b, 'up']);
    }
    return b;
  };
  let i = 0;
  for (const m of plan.config) {
    const ctx = machineNamer(lab.prefix, m.machine);
    ctxs.set(m.machine, ctx);
    await lab.addNetns(ctx.rootNs);
    const nics = m.commands.map((c) => /^# (\S+): NIC on underlay segment (\S+)$/.exec(c)).filter((x): x is RegExpExecArray => !!x).map((x) => ({ dev: x[1]!, segment: x[2]! }));
    if (nics.length === 0) nics.push({ dev: 'eth0', segment: '' });
    for (const nic of nics) {
      const u = `u${i++}`;
      const br = await bridgeFor(nic.segment);
      await lab.exec(['ip', '-n', underlay, 'link', 'add', u, 'type', 'veth', 'peer', 'name', nic.dev, 'netns', ctx.rootNs]);
      await lab.exec(['ip', '-n', underlay, 'link', 'set', u, 'master', br]);
      await lab.exec(['ip', '-n', underlay, 'link', 'set', u, 'up']);
      await lab.exec(['ip', '-n', ctx.rootNs, 'link', 'set', nic.dev, 'up']);
    }
  }
  // Replay; note the namespaces that get iptables rules. Commands logged after time 0 (an
  // agent's sync after a scenario event) wait for their time in the run (below).
  const nfNs = new Map<string, { machine: string; netns: string; ns: string }>();
  const later: { machine: string; atNs: number; argv: Argv }[] = [];
  for (const m of plan.config) {
    const ctx = ctxs.get(m.machine)!;
    const timed = m.at ? m.commands.map((c, i) => ({ c, at: m.at![i] ?? 0 })) : m.commands.map((c) => ({ c, at: 0 }));
    for (const { c, at } of timed) {
      for (const argv of rewriteCommands([c], ctx)) {
        if (argv[0] === 'ip' && argv[1] === 'netns' && argv[2] === 'exec' && /^(iptables|iptables-restore|iptables-nft|iptables-nft-restore)$/.test(argv[4] ?? '')) {
          const ns = argv[3]!;
          const netns = ns === ctx.rootNs ? 'host' : ns.slice(ctx.rootNs.length + 1);
          nfNs.set(ns, { machine: m.machine, netns, ns });
        }
        if (at > 0) later.push({ machine: m.machine, atNs: at, argv });
        else await lab.exec(argv, argv.stdin !== undefined ? { timeoutMs: 30_000 } : {});
      }
    }
  }
  await lab.pinAllDevices();
  await sleep(opts.settleMs ?? 3000);

  // Netfilter tracing: a TRACE rule first in raw PREROUTING and OUTPUT, and xtables-monitor --trace
  // (bounded by `timeout`, stopped after the run) in every namespace with rules.
  const monitors: { where: { machine: string; netns: string; ns: string }; proc: LabProcess; saveBefore: string }[] = [];
  for (const where of nfNs.values()) {
    const saveBefore = (await lab.exec(['ip', 'netns', 'exec', where.ns, 'iptables-save', '-c'], { timeoutMs: 15_000 })).stdout;
    for (const chain of ['PREROUTING', 'OUTPUT']) {
      await lab.exec(['ip', 'netns', 'exec', where.ns, 'iptables', '-w', '5', '-t', 'raw', '-I', chain, '1', '-j', 'TRACE']);
    }
    // Written straight to a file: a reader that falls behind makes the netlink socket overrun
    // (ENOBUFS), and xtables-monitor then exits ("cannot receive from nfnetlink socket").
    const proc = lab.spawnIn(where.ns, ['timeout', String(opts.monitorLimitS ?? 900), 'xtables-monitor', '--trace'], `xtables-monitor ${where.ns}`, path.join(outDir, `xtables-monitor-${where.machine}-${where.netns}.txt`));
    monitors.push({ where, proc, saveBefore });
  }
  if (monitors.length) {
    // xtables-monitor prints nothing when it is ready: give it time to subscribe, then check it lives.
    // 500 ms was once too little on a loaded CI machine (a monitor that caught nothing at all).
    await sleep(1500);
    for (const m of monitors) if (m.proc.child.exitCode !== null) throw new Error(`xtables-monitor in ${m.where.ns} exited: ${m.proc.stderr()}`);
  }

  // Agents: one per namespace that serves or sends.
  const agentKeys = new Map<string, { machine: string; netns: string }>();
  for (const s of plan.servers) agentKeys.set(`${s.machine}/${s.netns}`, s);
  for (const p of plan.probes) agentKeys.set(`${p.machine}/${p.netns}`, p);
  const agents = new Map<string, { proc: LabProcess; lines: unknown[] }>();
  for (const [key, where] of agentKeys) {
    const servers = plan.servers.filter((s) => s.machine === where.machine && s.netns === where.netns).map((s) => ({ protocol: s.protocol, port: s.port }));
    // All agents on one CPU: packets sent from different CPUs go through different per-CPU
    // backlogs and can overtake each other when forwarded (an ACK and the FIN right after it
    // were seen swapped). The model is sequential; one CPU keeps the kernel's order too.
    const proc = lab.spawnIn(nsOf(where.machine, where.netns), ['taskset', '-c', '0', process.execPath, AGENT, JSON.stringify({ servers })], `agent ${key}`);
    const lines: unknown[] = [];
    readline.createInterface({ input: proc.child.stdout! }).on('line', (l) => {
      try {
        lines.push(JSON.parse(l));
      } catch {
        lines.push({ junk: l });
      }
    });
    agents.set(key, { proc, lines });
  }
  for (const [key, a] of agents) {
    await waitFor(() => a.lines.some((l) => (l as { ready?: boolean }).ready) || a.proc.child.exitCode !== null, 10_000, `agent ${key} ready`);
    if (a.proc.child.exitCode !== null) throw new Error(`agent ${key} died: ${a.proc.stderr()}`);
  }

  // Captures.
  const caps: (Capture & IfaceRef)[] = [];
  for (const c of plan.captures) {
    const file = path.join(outDir, captureName(c));
    caps.push({ ...(await startTcpdump(lab, nsOf(c.machine, c.netns), c.dev, file)), ...c });
  }

  // Schedule probes at their run times.
  const t0Ms = Date.now() + (opts.leadMs ?? 300);
  const t0Ns = BigInt(t0Ms) * 1_000_000n;
  plan.probes.forEach((p, id) => {
    const a = agents.get(`${p.machine}/${p.netns}`)!;
    const req = {
      id, protocol: p.protocol, dst: p.dst, port: p.port, sourcePort: p.sourcePort, size: p.size, count: p.count, pmtuDiscovery: p.pmtuDiscovery, connection: p.connection,
      timeoutMs: Math.round(p.timeoutNs / 1e6), atMs: t0Ms + p.atNs / 1e6,
    };
    a.proc.child.stdin!.write(JSON.stringify(req) + '\n');
  });
  // Timed commands: each machine's in its logged order, at t0 + its time (machines concurrently,
  // as each node's agent runs on its own). Late or failing ones are reported after the run.
  const replayed: TimedReplay[] = [];
  const replays = Promise.all([...new Set(later.map((l) => l.machine))].map(async (machine) => {
    for (const l of later.filter((x) => x.machine === machine)) {
      const due = t0Ms + l.atNs / 1e6;
      if (due > Date.now()) await sleep(due - Date.now());
      const startMs = Date.now() - t0Ms;
      const r = await lab.exec(l.argv, { timeoutMs: 30_000, allowFail: true }).catch((e: unknown) => ({ code: null, stderr: String(e) }));
      replayed.push({ machine, atNs: l.atNs, startMs, endMs: Date.now() - t0Ms, command: l.argv.join(' '), code: r.code, stderr: r.stderr });
    }
  }));
  const results: KernelRunOutput['results'] = plan.probes.map((p) => ({ name: p.name, results: [], details: [] }));
  // Repeats start one second apart (agent.mjs), or when the previous one timed out if later.
  const lastEnd = Math.max(0, ...plan.probes.map((p) => p.atNs / 1e6 + (p.count * Math.max(p.timeoutNs, 1e9)) / 1e6));
  const done = (): boolean => plan.probes.every((p, id) => agents.get(`${p.machine}/${p.netns}`)!.lines.some((l) => (l as { id?: number }).id === id));
  try {
    await waitFor(done, Math.max(0, t0Ms - Date.now()) + lastEnd + 5000, 'probe results', 10);
  } catch (e) {
    // Reported per probe below as missing.
  }
  await replays;
  let endTimeNs = plan.endTimeNs;
  if (endTimeNs === undefined) {
    let lastMs = 0;
    for (const a of agents.values()) for (const l of a.lines) {
      const e = (l as { endedAt?: number }).endedAt;
      if (typeof e === 'number') lastMs = Math.max(lastMs, e - t0Ms);
    }
    endTimeNs = Math.round((lastMs + 1000) * 1e6);
  }
  // tcpdump reads from a ring buffer and loses what it has not read when stopped: on a loaded machine
  // the last frames can still be in flight when the probes report, so allow a settle time after them.
  const stopAt = Math.max(t0Ms + endTimeNs / 1e6 + (opts.graceMs ?? 300), Date.now() + 700);
  if (stopAt > Date.now()) await sleep(stopAt - Date.now());
  for (const c of caps) await stopTcpdump(lab, c);
  // Final netfilter state (before the agents go: closing their sockets would add packets).
  const netfilter: NetfilterObservation[] = [];
  for (const m of monitors) {
    const save = await lab.exec(['ip', 'netns', 'exec', m.where.ns, 'iptables-save', '-c'], { timeoutMs: 15_000 });
    const ct = await lab.exec(['ip', 'netns', 'exec', m.where.ns, 'conntrack', '-L'], { timeoutMs: 15_000, allowFail: true });
    await sleep(100);
    const early = m.proc.child.exitCode !== null || m.proc.child.signalCode !== null ? `xtables-monitor ended early (exit ${m.proc.child.exitCode ?? m.proc.child.signalCode})\n` : '';
    await lab.stop(m.proc, 'SIGTERM', 2000);
    netfilter.push({ ...m.where, trace: m.proc.stdout(), monitorErrors: early + m.proc.stderr(), saveBefore: m.saveBefore, save: save.stdout, conntrack: ct.stdout });
  }
  for (const [, a] of agents) {
    a.proc.child.stdin!.end();
    await lab.stop(a.proc, 'SIGTERM', 2000);
  }
  plan.probes.forEach((p, id) => {
    const l = agents.get(`${p.machine}/${p.netns}`)!.lines.find((x) => (x as { id?: number }).id === id) as
      | { results: string[]; details: string[]; error?: string }
      | undefined;
    if (l?.results) {
      results[id]!.results = l.results;
      results[id]!.details = l.details;
    } else results[id]!.details = [l?.error ?? 'no result'];
  });
  return { netfilter, results, captures: caps.map((c) => ({ machine: c.machine, netns: c.netns, dev: c.dev, file: c.file })), t0Ns, endTimeNs, replayed };
}

/** Empties (or creates) `base/model` and `base/kernel`, the two capture folders of one scenario's run. */
export function freshCaptureDirs(base: string): { modelDir: string; kernelDir: string } {
  const modelDir = path.join(base, 'model');
  const kernelDir = path.join(base, 'kernel');
  for (const d of [modelDir, kernelDir]) {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
  }
  return { modelDir, kernelDir };
}

/**
 * Every traffic item's outcome, podwire's against the kernel's (each of the item's probes must
 * get podwire's result), and podwire's own expectations: the report text and the failures.
 */
export function compareOutcomes(
  model: { results: { name: string; result: string; rounds?: string[]; ok: boolean; mismatch?: string }[] },
  kernel: KernelRunOutput,
  plan: KernelPlan,
): { text: string; failures: string[] } {
  const outcomes = model.results.map((m) => `${m.name}: model ${m.result} kernel ${kernel.results.find((r) => r.name === m.name)?.results.join(',') ?? 'none'}`);
  // Each request's outcome (the model's per-request rounds when it has them, else its result for every one).
  const expected = model.results.map((m) => `${m.name}: model ${m.result} kernel ${(m.rounds ?? Array(plan.probes.find((p) => p.name === m.name)?.count ?? 1).fill(m.result)).join(',')}`);
  const failures: string[] = [];
  outcomes.forEach((o, i) => o !== expected[i] && failures.push(`outcome ${o}`));
  for (const m of model.results) if (!m.ok) failures.push(`model: ${m.name} does not meet its own expect (${m.mismatch ?? m.result})`);
  return { text: outcomes.join('\n'), failures };
}
