/**
 * The report in a real browser: Debian's chromium driven by playwright-core, one
 * browser and one page for the file. Skipped locally without /usr/bin/chromium,
 * failing under CI=true (test/helpers/tshark.ts's rule). Screenshots of every
 * shipped scenario's report go to out/report-screenshots/<scenario>.png.
 * Timings are logged, never asserted.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { requireTool } from '../helpers/tshark.js';
import { extractTopology, writeReport } from '../../src/report/index.js';
import { embeddedData, runWithCaptures } from './run-helper.js';

const chromium = requireTool('chromium');
const SHOTS = path.resolve('out/report-screenshots');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Shipped scenarios: scenarios/*.yaml and the scenarios of scenarios/flannel (files other scenarios include are manifests, not scenarios). */
function shippedScenarios(): string[] {
  const top = fs.readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort().map((f) => `scenarios/${f}`);
  const texts = top.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  const flannel = fs.readdirSync('scenarios/flannel').filter((f) => f.endsWith('.yaml')).sort()
    .filter((f) => !texts.includes(`file: flannel/${f}`)).map((f) => `scenarios/flannel/${f}`);
  return [...top, ...flannel];
}

function report(file: string): { html: string; data: any; run: ReturnType<typeof runWithCaptures> } {
  const r = runWithCaptures(file);
  const html = writeReport(r.dir, { scenarioFile: file, run: r.run, events: r.events, captureDir: r.captureDir });
  return { html, data: embeddedData(fs.readFileSync(html, 'utf8')), run: r };
}

chromium.describe('report.html in chromium', () => {
  let browser: Browser;
  let page: Page;
  let problems: string[] = [];
  let requests: string[] = [];

  beforeAll(async () => {
    const { chromium: pw } = await import('playwright-core');
    browser = await pw.launch({ executablePath: chromium.path!, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (q) => requests.push(q.url()));
    fs.mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => { await browser?.close(); });

  /** Opens a report from disk; returns the ms until the page is ready. */
  async function open(html: string): Promise<number> {
    problems = [];
    requests = [];
    const t0 = performance.now();
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('body[data-ready="1"]');
    const ms = performance.now() - t0;
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(html).href]);
    return ms;
  }
  const count = () => page.textContent('#f-count');
  /** Types a search and waits until the rows show it. */
  async function search(q: string): Promise<number> {
    const t0 = performance.now();
    await page.fill('#f-search', q);
    await page.waitForFunction((x) => document.body.dataset.query === x, q);
    return performance.now() - t0;
  }
  const rowEvents = () => page.$$eval('#diagram-rows .row', (rs) => rs.map((r) => Number((r as HTMLElement).dataset.event)));

  chromium.it('flannel vxlan: topology, every traffic item, a step\'s packet details, encapsulation', async () => {
    const { html, data, run } = report('scenarios/flannel-vxlan.yaml');
    await open(html);
    const topo = extractTopology(run.run.cluster);
    // Topology: every machine, segment and device drawn.
    expect(await page.$$eval('svg.topology [data-machine]', (x) => x.length)).toBe(data.nodes.length);
    expect(await page.$$eval('svg.topology [data-segment]', (x) => x.length)).toBe(1);
    expect(await page.$$eval('svg.topology [data-dev]', (x) => x.length)).toBe(topo.machines.flatMap((m) => m.namespaces.flatMap((n) => n.devices)).length);
    expect(await page.$$eval('svg.topology .link.veth', (x) => x.length)).toBe(topo.links.filter((l) => l.kind === 'veth').length);
    expect(await page.$$eval('#results-body tr', (x) => x.length)).toBe(data.results.length);
    // A device in the drawing lists the steps on it.
    const cni0 = 'node-2/host/cni0';
    await page.click(`svg.topology [data-dev="${cni0}"] rect`);
    await page.waitForFunction((x) => document.body.dataset.query === x, cni0);
    const onDev = data.events.place.filter((p: number) => data.places[p].startsWith(cni0)).length;
    expect(onDev).toBeGreaterThan(0);
    expect(await count()).toBe(`${onDev} of ${data.events.place.length} steps`);
    await search('');
    // Each traffic item: its lanes and its steps.
    for (let i = 0; i < data.flows.length; i++) {
      const f = data.flows[i];
      await page.selectOption('#f-item', String(i));
      expect(await page.$$eval('#lane-head .lane', (x) => x.length)).toBe(f.lanes.length);
      expect(await count()).toBe(`${f.events.length} of ${f.events.length} steps`);
      const rows = await rowEvents();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((e) => f.events.includes(e))).toBe(true);
      if (f.name) expect(await page.textContent('#item-head')).toContain(f.name);
    }
    // Click the first request's xmit from the client pod: its frame, numbers and layers.
    await page.selectOption('#f-item', '0');
    await search('dev.xmit');
    const first = (await rowEvents())[0];
    await page.click(`#diagram-rows .row[data-event="${first}"]`);
    const det = await page.textContent('#details');
    const fr = data.frames[data.events.frame[first]];
    expect(det).toContain(`frame ${fr.no}`);
    expect(det).toContain(fr.file);
    expect(det).toContain(`frame ${fr.fileNo}`);
    expect(det).toContain('Ethernet II, Src:');
    expect(det).toContain('Internet Protocol Version 4, Src: 10.244.0.2');
    expect(det).toContain('Internet Control Message Protocol');
    // Encapsulation: the carried packet inside the carrier, and the marker drawn as a box in a box.
    await search('vxlan.encap');
    await page.click('#diagram-rows .row.encap');
    expect(await page.textContent('#details .inner-packet')).toContain('carried inside (VXLAN)');
    expect(await page.$$eval('#diagram-rows .row.encap .m-outer', (x) => x.length)).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(SHOTS, 'flannel-vxlan-step.png'), fullPage: true });
  });

  chromium.it('NAT before → after, the rule with its Service, and the filters', async () => {
    const { html, data } = report('scenarios/service-clusterip.yaml');
    await open(html);
    await page.selectOption('#f-item', 'all');
    const all = data.events.place.length;
    expect(await count()).toBe(`${all} of ${all} steps`);
    // Search: only matching steps.
    await search('DNAT [');
    const nat = await rowEvents();
    expect(nat.length).toBeGreaterThan(0);
    expect(nat.every((e) => data.events.detail[e].includes('DNAT ['))).toBe(true);
    await page.click(`#diagram-rows .row[data-event="${nat[0]}"]`);
    const n = data.events.nat[nat[0]];
    expect(await page.textContent('#details .nat-before')).toBe(n.before);
    expect(await page.textContent('#details .nat-after')).toBe(n.after);
    // A kube-proxy rule: its text and the Service it came from.
    await search('KUBE-SVC-');
    const svc = (await rowEvents()).find((e) => data.events.objs[e] >= 0)!;
    await page.click(`#diagram-rows .row[data-event="${svc}"]`);
    expect(await page.textContent('#details .rule-text')).toBe(data.events.rule[svc].rule);
    expect(await page.textContent('#details .objects')).toMatch(/Service default\/web/);
    // Node filter: only that node's steps.
    await search('');
    const node = data.nodes[1];
    await page.selectOption('#f-node', node);
    const want = data.events.place.filter((p: number) => data.nodes[data.placeNode[p]] === node).length;
    expect(await count()).toBe(`${want} of ${all} steps`);
    expect((await rowEvents()).every((e) => data.nodes[data.placeNode[data.events.place[e]]] === node)).toBe(true);
    // Verdict filter.
    await page.selectOption('#f-node', '');
    await page.selectOption('#f-verdict', 'deliver');
    const delivered = data.events.verdict.filter((v: string) => v === 'deliver').length;
    expect(delivered).toBeGreaterThan(0);
    expect(await count()).toBe(`${delivered} of ${all} steps`);
    await page.selectOption('#f-verdict', '');
    // Key steps only: pass-through rules and empty hooks hidden; rules naming an object kept.
    await page.check('#f-key');
    const key = data.events.minor.filter((m: number) => !m).length;
    expect(key).toBeLessThan(all);
    expect(await count()).toBe(`${key} of ${all} steps`);
    expect((await rowEvents()).every((e) => !data.events.minor[e])).toBe(true);
    await page.uncheck('#f-key');
  });

  chromium.it('a dropped item ends with its verdict and the kernel drop reason', async () => {
    const { html, data } = report('scenarios/reject.yaml');
    await open(html);
    const i = data.flows.findIndex((f: any) => f.end);
    expect(i).toBeGreaterThanOrEqual(0);
    await page.selectOption('#f-item', String(i));
    const end = await page.textContent('#item-head .end-drop');
    expect(end).toContain(data.flows[i].end.verdict.toUpperCase());
    if (data.flows[i].end.reason) expect(end).toContain(data.flows[i].end.reason);
    await page.click('#item-head .end-drop');
    expect(await page.getAttribute('#details', 'data-event')).toBe(String(data.flows[i].end.event));
  });

  chromium.it('10,000+ events: loads, renders only what is in view, filters, scrolls to the end', async () => {
    const { html, data } = report('scenarios/calico-route-reflectors.yaml');
    const all = data.events.place.length;
    expect(all).toBeGreaterThanOrEqual(10_000);
    const load = await open(html);
    await page.selectOption('#f-item', 'all');
    expect(await count()).toBe(`${all} of ${all} steps`);
    const rows = await rowEvents();
    expect(rows.length).toBeLessThan(200);
    // Only what is in view is built: a few elements per row, whatever the lane count.
    const lanes = await page.$$eval('#lane-head .lane', (x) => x.length);
    expect(await page.$$eval('#diagram-rows *', (x) => x.length)).toBeLessThan(rows.length * 12);
    expect(lanes).toBeGreaterThan(20);
    const searchMs = await search('bgp');
    const bgp = data.events.place.map((_: number, e: number) => e).filter((e: number) =>
      `#${data.events.id[e]} ${data.places[data.events.place[e]]} ${data.stages[data.events.stage[e]]} ${data.events.detail[e]}`.toLowerCase().includes('bgp')).length;
    expect(await count()).toBe(`${bgp} of ${all} steps`);
    await search('');
    const t0 = performance.now();
    await page.$eval('#diagram', (d) => { d.scrollTop = d.scrollHeight; });
    await page.waitForFunction((n) => !!document.querySelector(`#diagram-rows .row[data-event="${n - 1}"]`), all);
    const scroll = performance.now() - t0;
    console.log(`report with ${all} events, ${lanes} lanes in "all events" (${(fs.statSync(html).size / 1e6).toFixed(1)} MB): ready in ${load.toFixed(0)} ms, search ${searchMs.toFixed(0)} ms (120 ms of it the input debounce), scroll to end ${scroll.toFixed(0)} ms`);
  });

  chromium.it('every shipped scenario: a report that loads without errors, screenshot kept', async () => {
    const files = shippedScenarios();
    expect(files.length).toBeGreaterThan(30);
    for (const file of files) {
      const { html, data } = report(file);
      await open(html);
      expect(await page.$$eval('svg.topology [data-machine]', (x) => x.length)).toBeGreaterThan(0);
      expect(await page.$$eval('#results-body tr', (x) => x.length)).toBe(data.results.length);
      expect((await rowEvents()).length).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(SHOTS, `${path.basename(file, '.yaml')}.png`), fullPage: true });
    }
  }, 240_000);
});
