/**
 * Helpers for kernel-conformance tests: run commands with timeouts, create and always
 * delete `pw-k-*` network namespaces, long-running processes inside them, tcpdump.
 *
 * Safety rules (enforced here): every command goes through {@link KernelLab.exec},
 * which refuses argv that is not confined to this lab's own namespaces
 * (see `assertConfined`); every child has a timeout; {@link KernelLab.destroy} kills
 * what the lab started (by pid) and deletes every namespace it made, and stale
 * namespaces of crashed earlier runs (`pw-k-<pid>-…` whose pid is gone) are removed.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { assertConfined, pinCommands, perDeviceSysctls, PW_PREFIX, type Argv } from './rewrite.js';

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Default 10 s. */
  timeoutMs?: number;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
}

/** Runs argv (no shell) with a timeout; throws on non-zero exit unless allowFail. */
export function execArgv(argv: Argv, opts: ExecOptions = {}): Promise<ExecResult> {
  const timeout = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
      const res: ExecResult = {
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout: String(stdout),
        stderr: String(stderr),
      };
      if (e && !opts.allowFail) {
        reject(new Error(`command failed (${res.code ?? res.signal ?? e.code}): ${argv.join(' ')}\n${res.stderr}`));
      } else resolve(res);
    });
    // Standard input: the argv's here-document body (restore tools), else nothing.
    child.stdin?.on('error', () => {});
    child.stdin?.end(argv.stdin ?? '');
  });
}

/** Names of the existing named network namespaces. */
export function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Which tools the kernel tests need, and whether this machine can run them. */
export const REQUIRED_TOOLS = ['ip', 'bridge', 'tcpdump', 'ping', 'sysctl'] as const;

function which(tool: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && existsSync(`${dir}/${tool}`)) return `${dir}/${tool}`;
  }
  return null;
}

/**
 * Whether kernel tests can run here. `null` = yes; otherwise the reason. Under CI=true
 * callers must fail with that reason, never skip (see {@link kernelTestMode}).
 */
export function kernelUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root';
  const missing = REQUIRED_TOOLS.filter((t) => which(t) === null);
  if (missing.length) return `missing tools: ${missing.join(', ')} (apt-get install iproute2 tcpdump iputils-ping procps)`;
  return null;
}

/** 'run' | 'skip' | 'fail': under CI=true an unavailable kernel is a failure, elsewhere a skip. */
export function kernelTestMode(): { mode: 'run' } | { mode: 'skip' | 'fail'; reason: string } {
  const reason = kernelUnavailableReason();
  if (reason === null) return { mode: 'run' };
  return { mode: process.env.CI === 'true' ? 'fail' : 'skip', reason };
}

/** A long-running child process inside a namespace. */
export interface LabProcess {
  name: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let labCounter = 0;

/**
 * A set of namespaces and processes owned by one test. Create with a unique prefix
 * (default `pw-k-<pid>-<n>-`), call {@link destroy} in afterAll / finally.
 */
export class KernelLab {
  readonly prefix: string;
  private readonly namespaces = new Set<string>();
  private readonly procs: LabProcess[] = [];
  /** Every argv this lab ran, in order (for failure reports). */
  readonly log: string[] = [];

  constructor(prefix = `${PW_PREFIX}${process.pid}-${labCounter++}-`) {
    if (!prefix.startsWith(PW_PREFIX)) throw new Error(`KernelLab: prefix must start with ${PW_PREFIX}`);
    this.prefix = prefix;
  }

  /** Runs argv after checking it is confined to this lab's namespaces. */
  async exec(argv: Argv, opts: ExecOptions = {}): Promise<ExecResult> {
    assertConfined(argv, this.prefix);
    if (argv[0] === 'ip' && argv[1] === 'netns' && argv[2] === 'add') this.namespaces.add(argv[3]!);
    this.log.push(argv.join(' ') + (argv.stdin !== undefined ? ` <<'EOF'\n${argv.stdin}EOF` : ''));
    return execArgv(argv, opts);
  }

  /** Creates a namespace (name must start with the prefix), pins its sysctls, lo up. */
  async addNetns(ns: string): Promise<string> {
    await this.exec(['ip', 'netns', 'add', ns]);
    for (const c of pinCommands(ns)) await this.exec(c);
    return ns;
  }

  /** Names of this lab's namespaces that exist. */
  ownNetns(): string[] {
    return listNetns().filter((n) => n.startsWith(this.prefix));
  }

  /** Pins rp_filter/arp_* on every device in every namespace of this lab. */
  async pinAllDevices(): Promise<void> {
    for (const ns of this.ownNetns()) {
      const r = await this.exec(['ip', '-n', ns, '-o', 'link', 'show']);
      const devs = [...r.stdout.matchAll(/^\d+:\s+([^:@\s]+)[@:]/gm)].map((m) => m[1]!);
      const keys = devs.flatMap((d) => perDeviceSysctls(d));
      if (keys.length) await this.exec(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...keys]);
    }
  }

  /**
   * Starts a long-running process inside `ns` (`ip netns exec ns …argv`). It is killed
   * by {@link destroy} if still running.
   */
  spawnIn(ns: string, argv: Argv, name = argv[0]!, stdoutFile?: string): LabProcess {
    const full = ['ip', 'netns', 'exec', ns, ...argv];
    assertConfined(full, this.prefix);
    this.log.push(`& ${full.join(' ')}${stdoutFile ? ` > ${stdoutFile}` : ''}`);
    // stdoutFile: the child writes straight to a file (never blocks on a pipe the test reads late).
    const fd = stdoutFile ? openSync(stdoutFile, 'w') : undefined;
    const child = spawn(full[0]!, full.slice(1), { stdio: ['pipe', fd ?? 'pipe', 'pipe'] });
    if (fd !== undefined) closeSync(fd);
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
      child.on('exit', (code, signal) => res({ code, signal }));
      child.on('error', () => res({ code: null, signal: null }));
    });
    const p: LabProcess = { name, child, stdout: () => (stdoutFile ? readFileSync(stdoutFile, 'utf8') : out), stderr: () => err, exited };
    this.procs.push(p);
    return p;
  }

  /** Stops a process: `signal`, then SIGKILL after `graceMs`. Resolves when it has exited. */
  async stop(p: LabProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 2000): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill(signal);
    const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(t);
  }

  /** Kills every process this lab started and deletes every namespace it made. Never throws. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    for (const p of this.procs) {
      try {
        await this.stop(p, 'SIGKILL', 1000);
      } catch (e) {
        problems.push(String(e));
      }
    }
    const all = new Set([...this.namespaces, ...this.ownNetns()]);
    for (const ns of all) {
      if (!listNetns().includes(ns)) continue;
      await killNetnsPids(ns, problems);
      const r = await execArgv(['ip', 'netns', 'del', ns], { allowFail: true, timeoutMs: 5000 }).catch((e) => ({ code: 1, stderr: String(e) }));
      if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.stderr}`);
    }
    return problems;
  }
}

async function killNetnsPids(ns: string, problems: string[]): Promise<void> {
  if (!ns.startsWith(PW_PREFIX)) return;
  const r = await execArgv(['ip', 'netns', 'pids', ns], { allowFail: true, timeoutMs: 5000 }).catch(() => null);
  for (const s of r?.stdout.split(/\s+/) ?? []) {
    const pid = Number(s);
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (e) {
        problems.push(`kill ${pid} in ${ns}: ${String(e)}`);
      }
    }
  }
}

/**
 * Deletes `pw-k-<pid>-…` namespaces left by crashed runs whose process `<pid>` no longer
 * exists (and kills processes still inside them). Returns the names removed.
 */
export async function cleanStaleNetns(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of listNetns()) {
    const m = /^pw-k-(\d+)-/.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await killNetnsPids(ns, []);
    const r = await execArgv(['ip', 'netns', 'del', ns], { allowFail: true, timeoutMs: 5000 });
    if (r.code === 0) removed.push(ns);
  }
  return removed;
}

/** Sleeps. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `stepMs` until true or `timeoutMs` elapsed; throws `what` on timeout. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, stepMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** A running tcpdump writing a nanosecond pcap. */
export interface Capture {
  ns: string;
  dev: string;
  file: string;
  proc: LabProcess;
}

/**
 * Starts `tcpdump -p -U -n -i dev --time-stamp-precision=nano -w file` in `ns` and waits
 * (bounded) until it reports it is listening.
 */
export async function startTcpdump(lab: KernelLab, ns: string, dev: string, file: string, timeoutMs = 5000): Promise<Capture> {
  // --immediate-mode: without it libpcap hands packets over a ring block at a time (block timeout
  // ~1 s) and stopping tcpdump loses the frames of the last, unretired block.
  // nflog:GROUP (NFLOG's netlink group, no device) has no nanosecond time stamps.
  const precision = dev.startsWith('nflog:') ? [] : ['--time-stamp-precision=nano'];
  const proc = lab.spawnIn(ns, ['tcpdump', '-p', '-U', '--immediate-mode', '-n', '-s', '262144', '-i', dev, ...precision, '-w', file], `tcpdump ${ns}/${dev}`);
  await waitFor(() => /listening on/.test(proc.stderr()) || proc.child.exitCode !== null, timeoutMs, `tcpdump on ${ns}/${dev}`);
  if (proc.child.exitCode !== null) throw new Error(`tcpdump on ${ns}/${dev} exited: ${proc.stderr()}`);
  return { ns, dev, file, proc };
}

/** Stops a tcpdump with SIGINT (flushes the file), SIGKILL after a grace. */
export async function stopTcpdump(lab: KernelLab, cap: Capture): Promise<void> {
  await lab.stop(cap.proc, 'SIGINT', 3000);
}

/** `tcpdump -r file -nn -e -v` text (or with extra flags), bounded. */
export async function tcpdumpRead(file: string, flags: string[] = ['-nn', '-e', '-v']): Promise<string> {
  const r = await execArgv(['tcpdump', '-r', file, ...flags], { allowFail: true, timeoutMs: 15_000 });
  return r.stdout;
}
