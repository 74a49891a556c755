/**
 * `podwire run FILE --report DIR`: a self-contained report.html of a finished run
 * (issue 10). The data model is built at generation time (model.ts: topology,
 * traffic items as lanes and steps, frames from the run's captures decoded, the
 * Kubernetes objects behind rules), then rendered into one HTML file (html.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunResult } from '../scenario/run.js';
import type { TraceEvent } from '../trace/events.js';
import { buildReportData } from './model.js';
import { renderHtml } from './html.js';

export interface ReportInput {
  /** As given on the command line. */
  scenarioFile: string;
  /** The finished run (cluster, results, config, captures...). */
  run: RunResult;
  /** Every trace event of the run, in order (a MemorySink, src/trace/render.ts). */
  events: readonly TraceEvent[];
  /** The directory holding all.pcapng and the per-interface .pcap files of this run. */
  captureDir: string;
}

export const REPORT_FILE_NAME = 'report.html';

/** Writes DIR/report.html atomically (temp + rename) and returns its path. */
export function writeReport(dir: string, input: ReportInput): string {
  fs.mkdirSync(dir, { recursive: true });
  const html = renderHtml(buildReportData(input, dir));
  const file = path.join(dir, REPORT_FILE_NAME);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, html);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return file;
}

export { buildReportData, type ReportData } from './model.js';
export { renderHtml } from './html.js';
export { extractTopology, type Topology } from './topology.js';
