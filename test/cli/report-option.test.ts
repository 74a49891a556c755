/** `podwire run FILE --report DIR` as a user runs it: report.html and the captures beside it, or in --pcap's directory. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const DIST = 'dist/src/cli/main.js';

function podwire(args: string[]) {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\``);
  return spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('podwire run --report', () => {
  it('writes DIR/report.html and DIR/captures, and says where', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-report-cli-'));
    try {
      const r = podwire(['run', 'scenarios/reject.yaml', '--report', dir]);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`report: ${path.join(dir, 'report.html')}`);
      expect(r.stdout).toContain(`captures: `);
      expect(readdirSync(path.join(dir, 'captures'))).toContain('all.pcapng');
      const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
      expect(html).toMatch(/^<!doctype html>/i);
      expect(html).toContain('tcp-8080-reset');
      // self-contained: nothing fetched from elsewhere
      expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=["']?(https?:)?\/\//i);
      expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('with --pcap the captures go there and the report points at them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-report-cli-'));
    try {
      const pcap = path.join(dir, 'pcaps');
      const r = podwire(['run', 'scenarios/reject.yaml', '--report', path.join(dir, 'rep'), '--pcap', pcap]);
      expect(r.status).toBe(0);
      expect(existsSync(path.join(pcap, 'all.pcapng'))).toBe(true);
      expect(existsSync(path.join(dir, 'rep', 'captures'))).toBe(false);
      expect(readFileSync(path.join(dir, 'rep', 'report.html'), 'utf8')).toContain('pcaps');
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
