/** Runs a shipped scenario with captures and a memory trace, for the report's tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runScenarioFile, type RunResult } from '../../src/scenario/run.js';
import { MemorySink } from '../../src/trace/render.js';
import type { TraceEvent } from '../../src/trace/events.js';

export interface RunWithCaptures {
  file: string;
  run: RunResult;
  events: TraceEvent[];
  captureDir: string;
  /** A fresh directory for the report (the captures are in its `captures`). */
  dir: string;
}

export function runWithCaptures(file: string, dir = mkdtempSync(path.join(tmpdir(), 'pw-report-'))): RunWithCaptures {
  const sink = new MemorySink();
  const captureDir = path.join(dir, 'captures');
  const run = runScenarioFile(file, { pcapDir: captureDir, trace: sink });
  return { file, run, events: sink.events, captureDir, dir };
}

/** The JSON embedded in a report page. */
export function embeddedData(html: string): any {
  const m = /<script type="application\/json" id="podwire-data">([\s\S]*?)<\/script>/.exec(html);
  return JSON.parse(m![1]);
}
