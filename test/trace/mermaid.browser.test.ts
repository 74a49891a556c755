/**
 * The real Mermaid (npm `mermaid`, in Debian's chromium through playwright-core) parses and renders
 * the `--trace mermaid` diagram of every traffic item of every shipped scenario. Skips when
 * /usr/bin/chromium is missing on a developer machine; under CI=true it must run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { runScenarioFile } from '../../src/scenario/run.js';
import { MemorySink } from '../../src/trace/render.js';
import { mermaidDiagram } from '../../src/trace/mermaid.js';

const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
if (process.env.CI === 'true' && !have) throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

const MERMAID_JS = path.join(path.dirname(createRequire(import.meta.url).resolve('mermaid/package.json')), 'dist', 'mermaid.min.js');

/** The shipped scenarios (scenarios/flannel/ holds manifests they include, not scenarios). */
function shippedScenarios(): string[] {
  return readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).map((f) => `scenarios/${f}`).sort();
}

describe.skipIf(!have)('--trace mermaid in the real Mermaid', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    page = await browser.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ path: MERMAID_JS });
    await page.evaluate(() => (globalThis as unknown as { mermaid: { initialize(o: object): void } }).mermaid.initialize({ startOnLoad: false }));
  }, 60_000);
  afterAll(async () => { await browser?.close(); });

  /** Parses (and renders to SVG) each diagram; returns the errors. */
  async function check(diagrams: { name: string; text: string }[]): Promise<string[]> {
    return page.evaluate(async (ds) => {
      const m = (globalThis as unknown as { mermaid: { parse(t: string): Promise<unknown>; render(id: string, t: string): Promise<{ svg: string }> } }).mermaid;
      const errs: string[] = [];
      let n = 0;
      for (const d of ds) {
        try {
          await m.parse(d.text);
          const { svg } = await m.render(`d${n++}`, d.text);
          if (!svg.includes('<svg')) errs.push(`${d.name}: no svg`);
        } catch (e) { errs.push(`${d.name}: ${(e as Error).message}`); }
      }
      return errs;
    }, diagrams);
  }

  it('every item of every shipped scenario parses and renders', async () => {
    const diagrams: { name: string; text: string }[] = [];
    for (const file of shippedScenarios()) {
      const sink = new MemorySink();
      const res = runScenarioFile(file, { trace: sink });
      for (const r of res.results) diagrams.push({ name: `${file} ${r.name}`, text: mermaidDiagram({ name: r.name, outcome: r.result }, sink.events).join('\n') });
    }
    expect(diagrams.length).toBeGreaterThan(50);
    expect(await check(diagrams)).toEqual([]);
  }, 300_000);

  it('the check can fail: a broken diagram is reported', async () => {
    expect(await check([{ name: 'broken', text: 'sequenceDiagram\n  p1->>: x' }])).toHaveLength(1);
  }, 60_000);
});
