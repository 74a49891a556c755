/**
 * The CLI as a user meets it: exit 0 when every expectation holds, 1 when one
 * fails, 2 for invalid input with FILE:LINE:COL and no stack trace; captures
 * and the trace file are written whole (no temp files left behind).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// `npm test` compiles to dist/ first (pretest), so the CLI runs as users run it.
const DIST = 'dist/src/cli/main.js';

function podwire(args: string[]) {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\` (it builds first)`);
  return spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('podwire run', () => {
  it('exits 0 and reports every item when all expectations hold', () => {
    const r = podwire(['run', 'scenarios/same-node-bridge.yaml']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^PASS ping-web: reply \(expected reply\)/m);
    expect(r.stdout).toMatch(/all 5 expectations held/);
  });

  it('exits 1 when an expectation fails, naming what differed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-cli-'));
    try {
      const text = readFileSync('scenarios/same-node-bridge.yaml', 'utf8').replace('expect: {result: refused}', 'expect: {result: reply}');
      const f = path.join(dir, 'bad-expect.yaml');
      writeFileSync(f, text);
      const r = podwire(['run', f]);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/^FAIL tcp-closed-port: refused \(expected reply\)/m);
      expect(r.stdout).toMatch(/expected reply, got refused/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('exits 2 for invalid input with file:line:col and no stack trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-cli-'));
    try {
      const f = path.join(dir, 'typo.yaml');
      writeFileSync(f, readFileSync('scenarios/same-node-bridge.yaml', 'utf8').replace('  podCIDR: 10.244.0.0/16', '  podCIRD: 10.244.0.0/16'));
      const r = podwire(['run', f]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: error: .*podCIRD`, 'm'));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('exits 2 for a missing file and for unknown options', () => {
    expect(podwire(['run', 'no/such/file.yaml']).status).toBe(2);
    expect(podwire(['run', 'scenarios/same-node-bridge.yaml', '--no-such-flag']).status).toBe(2);
  });

  it('--show-config prints the commands that built each machine', () => {
    const r = podwire(['run', 'scenarios/same-node-bridge.yaml', '--show-config', '--quiet']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^# node node-1$/m);
    expect(r.stdout).toMatch(/^ip link add cni0 mtu 1500 type bridge$/m);
    expect(r.stdout).toMatch(/^bridge link set dev veth[0-9a-f]{8} hairpin on$/m);
    expect(r.stdout).toMatch(/^ip -n default\.web addr add 10\.244\.0\.3\/24 dev eth0$/m);
  });

  it('--pcap and --trace-file write complete files atomically', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-cli-'));
    try {
      const r = podwire(['run', 'scenarios/same-node-bridge.yaml', '--pcap', dir, '--trace', 'json', '--trace-file', path.join(dir, 'trace.ndjson')]);
      expect(r.status).toBe(0);
      const files = readdirSync(dir);
      expect(files).toContain('all.pcapng');
      expect(files).toContain('node-1__default.web__eth0.pcap');
      expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
      const lines = readFileSync(path.join(dir, 'trace.ndjson'), 'utf8').trim().split('\n');
      const first = JSON.parse(lines[0]!);
      expect(Object.keys(first)).toEqual(['time', 'node', 'netns', 'dev', 'packetId', 'innerId', 'stage', 'detail', 'verdict', 'reason', 'flow']);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
