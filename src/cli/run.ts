/** `podwire run`: runs a scenario and reports each traffic item's outcome against its expectation. */
import { openSync, writeSync, closeSync, renameSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { runScenarioFileAsync, formatResult, formatStop } from '../scenario/run.js';
import { formatTtlLoops } from '../scenario/loops.js';
import { parseDuration } from '../engine/time.js';
import { isInputError } from '../scenario/errors.js';
import { LineSink } from '../trace/render.js';
import { commitAllOpen } from '../trace/atomic-file.js';
import { NetlinkError } from '../kernel/netlink.js';
import { ProgressReporter, processResources, type ProgressStream } from './progress.js';
import { MemorySink, TeeSink } from '../trace/render.js';
import type { TraceSink } from '../trace/events.js';
import { mermaidDiagram } from '../trace/mermaid.js';
import { styleFor, type Style } from './style.js';
import { writeReport } from '../report/index.js';
import { join } from 'node:path';

export interface RunArgs {
  file: string;
  pcap?: string;
  /** --pcap-used-only: captures only of the interfaces frames crossed. */
  pcapUsedOnly?: boolean;
  /** text/json: every event as it happens; mermaid: each traffic item as a sequence diagram after the run. */
  trace?: 'text' | 'json' | 'mermaid';
  traceFile?: string;
  seed?: number;
  showConfig?: boolean;
  quiet?: boolean;
  /** Write DIR/report.html and the captures (DIR/captures unless `pcap` names another directory). */
  report?: string;
  /** --allow-outside-files: `{file: …}` includes may leave the scenario's folder. */
  allowOutsideFiles?: boolean;
  /** --max-events N and --max-virtual-time DURATION: the run's budgets (as typed; checked here). */
  maxEvents?: string;
  maxVirtualTime?: string;
  /** false: never colour (--no-color); otherwise colour when stdout is a terminal and NO_COLOR is unset. */
  color?: boolean;
  /** Where progress goes (default process.stderr; a bar on a TTY, periodic lines otherwise, nothing with quiet). */
  progressStream?: ProgressStream;
}

/** Buffered line writer to stdout or to a file written atomically (temp + rename). */
class LineOut {
  private fd: number;
  private buf: string[] = [];
  private size = 0;
  private tmp: string | null = null;
  constructor(private readonly path?: string) {
    if (path) {
      mkdirSync(dirname(path), { recursive: true });
      this.tmp = `${path}.tmp-${process.pid}`;
      this.fd = openSync(this.tmp, 'w');
    } else this.fd = 1;
  }
  line(s: string): void {
    this.buf.push(s);
    this.size += s.length;
    if (this.size > 1 << 16) this.flush();
  }
  flush(): void {
    if (this.buf.length) {
      const text = this.buf.join('\n') + '\n';
      // stdout may be a non-blocking pipe (EAGAIN with writeSync): let the stream queue it.
      if (this.fd === 1) process.stdout.write(text);
      else writeSync(this.fd, text);
    }
    this.buf = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    if (this.tmp && this.path) { closeSync(this.fd); renameSync(this.tmp, this.path); this.tmp = null; }
  }
  abort(): void {
    if (this.tmp) { try { closeSync(this.fd); unlinkSync(this.tmp); } catch { /* already gone */ } this.tmp = null; }
  }
}

export async function runCommand(a: RunArgs): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const budgets = parseBudgets(a);
  if (typeof budgets === 'string') { process.stderr.write(`podwire: ${budgets}\n`); return 2; }
  const traceOut = a.trace ? new LineOut(a.traceFile) : null;
  // Ctrl-C stops the emulation at the next event boundary; the captures and trace are then closed
  // as after any run. A second Ctrl-C (the handler is gone by then) ends the process at once.
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.once('SIGINT', onSigint);
  try {
    const st = styleFor(process.stdout, { color: a.color });
    // The report and the Mermaid diagrams are drawn from the whole run's events, after it.
    const memory = a.trace === 'mermaid' || a.report ? new MemorySink() : null;
    const pcapDir = a.pcap ?? (a.report ? join(a.report, 'captures') : undefined);
    const lines = traceOut && a.trace !== 'mermaid' ? new LineSink(a.trace as 'text' | 'json', (l) => traceOut.line(l)) : undefined;
    const sinks: TraceSink[] = [...(lines ? [lines] : []), ...(memory ? [memory] : [])];
    const sink = sinks.length > 1 ? new TeeSink(sinks) : sinks[0];
    const progress = new ProgressReporter(a.progressStream ?? process.stderr, { quiet: a.quiet, resources: processResources });
    let res;
    try { res = await runScenarioFileAsync(a.file, { seed: a.seed, pcapDir, pcapUsedOnly: a.pcapUsedOnly, trace: sink, progress: progress.fn, allowOutsideFiles: a.allowOutsideFiles, ...budgets, interrupted: () => interrupted }); }
    finally { progress.end(); }
    const reportFile = a.report && memory ? writeReport(a.report, { scenarioFile: a.file, run: res, events: memory.events, captureDir: pcapDir! }) : null;
    if (a.trace === 'mermaid' && memory && traceOut) {
      for (const r of res.results) {
        const exp = r.expected?.result ? ` (expected ${r.expected.result})` : '';
        for (const l of mermaidDiagram({ name: r.name, outcome: `${r.result}${exp}` }, memory.events)) traceOut.line(l);
        traceOut.line('');
      }
    }
    traceOut?.close();
    if (a.showConfig) {
      for (const c of res.config) {
        out(`# ${c.kind} ${c.machine}`);
        for (const cmd of c.commands) out(cmd);
        out('');
      }
    }
    const failed = res.results.filter((r) => !r.ok);
    if (!a.quiet) {
      out(`scenario ${res.scenario.name} (seed ${a.seed ?? res.scenario.seed}): ${res.results.length} traffic items, ${res.events} events, virtual time ${(res.endTime / 1e6).toFixed(3)} ms`);
      // On a terminal the outcomes line up in one column after the longest item name.
      const width = process.stdout.isTTY ? Math.max(0, ...res.results.map((r) => r.name.length)) : 0;
      for (const r of res.results) out(styleResult(alignName(formatResult(r), r.name, width), st));
      if (res.cluster.calico) out(res.cluster.calico.summary());
      if (pcapDir) out(`captures: ${res.captures.length} files in ${pcapDir} (open all.pcapng in Wireshark)`);
      if (reportFile) out(`report: ${reportFile}`);
      if (a.traceFile) out(`trace: ${a.traceFile}`);
    } else for (const r of failed) out(styleResult(formatResult(r), st));
    for (const l of formatTtlLoops(res.ttlLoops)) out(st.warn(l));
    if (res.stop) {
      for (const l of formatStop(res.stop)) out(st.bad(l));
      return res.stop.reason === 'interrupt' ? 130 : 1;
    }
    out(failed.length ? st.bad(`${failed.length} of ${res.results.length} expectations failed`) : st.ok(`all ${res.results.length} expectations held`));
    return failed.length ? 1 : 0;
  } catch (e) {
    traceOut?.abort();
    commitAllOpen();
    if (isInputError(e)) { process.stderr.write(e.format() + '\n'); return 2; }
    if (e instanceof NetlinkError) { process.stderr.write(`podwire: ${a.file}: ${e.message}\n`); return 2; }
    process.stderr.write(`podwire: run failed: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The budgets given on the command line, or what is wrong with them. */
function parseBudgets(a: RunArgs): { maxEvents?: number; maxVirtualTime?: number } | string {
  const r: { maxEvents?: number; maxVirtualTime?: number } = {};
  if (a.maxEvents !== undefined) {
    if (!/^[1-9][0-9]*$/.test(a.maxEvents) || !Number.isSafeInteger(Number(a.maxEvents))) return `--max-events ${JSON.stringify(a.maxEvents)}: expected a whole number of events above 0`;
    r.maxEvents = Number(a.maxEvents);
  }
  if (a.maxVirtualTime !== undefined) {
    const ns = parseDuration(a.maxVirtualTime);
    if (ns === undefined || !(ns > 0) || /\d\s*$/.test(a.maxVirtualTime)) return `--max-virtual-time ${JSON.stringify(a.maxVirtualTime)}: expected a duration above 0 with a unit (100ms, 30s, 10m, 1h)`;
    r.maxVirtualTime = ns;
  }
  return r;
}

/** A result's PASS/FAIL mark in colour and its path/detail lines dimmed (plain text unchanged without colour). */
function styleResult(text: string, st: Style): string {
  if (!st.color) return text;
  const [head, ...rest] = text.split('\n');
  const styled = head!.startsWith('PASS ') ? st.ok('PASS') + head!.slice(4) : head!.startsWith('FAIL ') ? st.bad('FAIL') + head!.slice(4) : head!;
  return [styled, ...rest.map((l) => (/^ {5}(path|served by): /.test(l) ? st.dim(l) : st.warn(l)))].join('\n');
}

/** `PASS name: outcome` with the name padded to `width` (0: unchanged). */
function alignName(text: string, name: string, width: number): string {
  if (width === 0) return text;
  const head = text.slice(0, 5) + name + ':';
  return text.startsWith(head) ? text.slice(0, 5) + (name + ':').padEnd(width + 1) + text.slice(head.length) : text;
}
