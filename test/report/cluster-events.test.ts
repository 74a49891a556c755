/** The report's cluster timeline: the control plane's kube.event lines with their times. */
import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { buildReportData } from '../../src/report/model.js';
import { clusterEvents } from '../../src/report/html.js';
import { runWithCaptures } from './run-helper.js';

describe('report: cluster events', () => {
  it('a node failure: NotReady at 55 s, the eviction and the replacement, in time order', () => {
    const r = runWithCaptures('scenarios/node-failure-deployment.yaml');
    try {
      const html = clusterEvents(buildReportData({ scenarioFile: r.file, run: r.run, events: r.events, captureDir: r.captureDir }, r.dir));
      expect(html).toContain('<h2 id="cluster-events">Cluster events</h2>');
      const rows = [...html.matchAll(/<tr><td>([\d.]+)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><\/tr>/g)];
      expect(rows.length).toBeGreaterThan(5);
      const times = rows.map((m) => Number(m[1]));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(rows.some((m) => m[1] === '55.000000000' && /node node-3 NotReady/.test(m[3]!))).toBe(true);
      expect(rows.every((m) => !m[2]!.endsWith('/'))).toBe(true);
    } finally { rmSync(r.dir, { recursive: true, force: true }); }
  });

  it('a scenario without control-plane events has no section', () => {
    const r = runWithCaptures('scenarios/same-node-bridge.yaml');
    try {
      expect(clusterEvents(buildReportData({ scenarioFile: r.file, run: r.run, events: r.events, captureDir: r.captureDir }, r.dir))).toBe('');
    } finally { rmSync(r.dir, { recursive: true, force: true }); }
  });
});
