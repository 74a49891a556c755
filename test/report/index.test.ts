import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildReportData, writeReport } from '../../src/report/index.js';
import { embedJson } from '../../src/report/html.js';
import { isPassThrough } from '../../src/report/model.js';
import { parseRuleLine } from '../../src/report/objects.js';
import { embeddedData, runWithCaptures } from './run-helper.js';

describe('embedding', () => {
  it('no text in the data can end the script element or break a script', () => {
    const v = { a: '</script><script>alert(1)</script>', b: 'line\u2028sep\u2029', c: '<!-- & -->' };
    const s = embedJson(v);
    expect(s).not.toMatch(/<|>|\u2028|\u2029/);
    expect(JSON.parse(s)).toEqual(v);
  });
});

describe('writeReport', () => {
  it('writes DIR/report.html atomically with the run in it', () => {
    const r = runWithCaptures('scenarios/service-clusterip.yaml');
    const file = writeReport(r.dir, { scenarioFile: r.file, run: r.run, events: r.events, captureDir: r.captureDir });
    expect(file).toBe(path.join(r.dir, 'report.html'));
    expect(fs.readdirSync(r.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const html = fs.readFileSync(file, 'utf8');
    // Self-contained: nothing loaded from elsewhere.
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]*\s(src|href)=/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const d = embeddedData(html);
    expect(d.scenarioFile).toBe('scenarios/service-clusterip.yaml');
    expect(d.captureDir).toBe('captures');
    expect(d.events.place.length).toBe(r.events.length);
    expect(d.flows.map((f: { name: string }) => f.name)).toEqual([...r.run.scenario.traffic.map((t) => t.name), '']);
    expect(d.results.map((x: { name: string }) => x.name)).toEqual(r.run.results.map((x) => x.name));
  });

  it('the model: NAT steps carry before and after, rule steps their rule, frames their numbers', () => {
    const r = runWithCaptures('scenarios/service-clusterip.yaml');
    const d = buildReportData({ scenarioFile: r.file, run: r.run, events: r.events, captureDir: r.captureDir }, r.dir);
    const nat = Object.entries(d.events.nat);
    expect(nat.length).toBeGreaterThan(0);
    for (const [i, n] of nat) {
      expect(r.events[+i].stage).toBe('nf.nat');
      expect(r.events[+i].detail).toBe(`${n.kind} [${n.before}] ⇒ [${n.after}]`);
    }
    const dnat = nat.find(([, n]) => n.kind === 'DNAT')!;
    expect(dnat[1].before.split(' → ')[1]).not.toBe(dnat[1].after.split(' → ')[1]);
    // Pass-through steps: jumps naming no object, returns, empty hooks; never a rule naming its Service, nor a verdict.
    for (let i = 0; i < r.events.length; i++) {
      if (!d.events.minor[i]) continue;
      expect(d.events.objs[i]).toBe(-1);
      expect(r.events[i].stage === 'nf.hook' || /→ (jump|goto|CONTINUE|RETURN)|:return$/.test(r.events[i].detail)).toBe(true);
    }
    expect(d.events.minor.some((m) => m === 1)).toBe(true);
    expect(isPassThrough(parseRuleLine('filter:FORWARD:rule:1 -A FORWARD -j DROP → DROP')!)).toBe(false);
    const rules = Object.keys(d.events.rule).map(Number);
    expect(rules.length).toBe(r.events.filter((e) => e.stage === 'nf.rule').length);
    // Frames: the all.pcapng number and the per-interface file and number.
    const x = r.events.findIndex((e) => e.stage === 'dev.xmit' && e.flow);
    const f = d.frames[d.events.frame[x]];
    expect(f.iface).toBe(`${r.events[x].node}/${r.events[x].netns}/${r.events[x].dev}`);
    expect(f.file).toBe(`${r.events[x].node}__${r.events[x].netns}__${r.events[x].dev}.pcap`);
    expect(f.no).toBeGreaterThan(0);
    expect(f.fileNo).toBeGreaterThan(0);
    expect(f.fileNo).toBeLessThanOrEqual(f.no);
  });

  it('a run without captures still makes a report (no frames)', () => {
    const r = runWithCaptures('scenarios/same-node-bridge.yaml');
    const d = buildReportData({ scenarioFile: r.file, run: r.run, events: r.events, captureDir: path.join(r.dir, 'nowhere') }, r.dir);
    expect(d.frames).toEqual([]);
    expect(d.captureDir).toBe('');
    expect(d.events.frame.every((f) => f === -1)).toBe(true);
  });
});
