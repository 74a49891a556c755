/**
 * `podwire run` cut short: Ctrl-C (SIGINT) stops the emulation at the next event
 * boundary with exit 130, and a budget with exit 1; either way the captures and
 * the trace are whole (no temp files), and the run says where it stopped.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { checkCapture, tsharkAvailable } from '../helpers/tshark.js';

// `npm test` compiles to dist/ first (pretest), so the CLI runs as users run it.
const DIST = 'dist/src/cli/main.js';

/** The routing loop pinged 100,000 times, a second apart: long enough to interrupt. */
function longScenario(dir: string): string {
  const text = readFileSync('scenarios/routing-loop.yaml', 'utf8').replace('    expect: {result: unreachable}', '    count: 100000\n    expect: {result: unreachable}');
  const f = path.join(dir, 'long-loop.yaml');
  writeFileSync(f, text);
  return f;
}

function expectWholeCaptures(pcap: string): number {
  const files = readdirSync(pcap);
  expect(files.filter((f) => f.includes('.tmp'))).toEqual([]);
  const all = readCaptureFile(path.join(pcap, 'all.pcapng'));
  const per = files.filter((f) => f.endsWith('.pcap')).reduce((n, f) => n + readCaptureFile(path.join(pcap, f)).packets.length, 0);
  expect(all.packets.length).toBe(per);
  return all.packets.length;
}

describe('podwire run cut short', () => {
  it('SIGINT after progress: exit 130, where it stopped, whole captures and trace', async () => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\` (it builds first)`);
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-sigint-'));
    try {
      const pcap = path.join(dir, 'pcap'), trace = path.join(dir, 'run.trace');
      const child = spawn(process.execPath, [DIST, 'run', longScenario(dir), '--pcap', pcap, '--trace', 'text', '--trace-file', trace], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '', stderr = '', sent = false;
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => {
        stderr += d;
        // Progress lines (plain, as stderr is a pipe) appear once the run has gone on for a second.
        if (!sent && /podwire: traffic \d+\/1/.test(stderr)) { sent = true; child.kill('SIGINT'); }
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(sent, stderr).toBe(true);
      expect(code, stdout + stderr).toBe(130);
      expect(stdout).toMatch(/^stopped: interrupted \(SIGINT\) at virtual time \d+\.\d{9} s after \d+ events; 0 of 1 traffic items finished$/m);
      expect(stdout).toMatch(/^ {2}unfinished: ping-into-loop$/m);
      expect(stdout).not.toMatch(/expectations (held|failed)/);
      expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
      const frames = expectWholeCaptures(pcap);
      expect(frames).toBeGreaterThan(1000);
      // The trace was flushed to its end: its last line is a whole event line.
      const lines = readFileSync(trace, 'utf8').split('\n');
      expect(lines.at(-1)).toBe('');
      expect(lines.at(-2)).toMatch(/^\d+\.\d{9} #\d+ /);
      // tshark on the pod's interface (all.pcapng holds hundreds of thousands of frames by now).
      if (tsharkAvailable()) expect((await checkCapture(path.join(pcap, 'node-1__default.app__eth0.pcap'))).problems).toEqual([]);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  }, 120_000);

  it('--max-events: exit 1 with what was still going round; --max-virtual-time likewise', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-budget-cli-'));
    try {
      const pcap = path.join(dir, 'pcap');
      const r = spawnSync(process.execPath, [DIST, 'run', 'scenarios/routing-loop.yaml', '--max-events', '40', '--pcap', pcap], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^stopped: the event budget \(--max-events 40\) ran out at virtual time 0\.\d{9} s after 40 events; 0 of 1 traffic items finished$/m);
      expect(r.stdout).toMatch(/^ {4}packet #1 \[ping-into-loop\]: \d+ frames: IP 10\.244\.0\.2 > 10\.99\.0\.1: ICMP echo request/m);
      expect(r.stdout).toMatch(/^ {6}rtr-a\/host\/eth0 ×\d+ \(\d+\), rtr-b\/host\/eth0 ×\d+ \(\d+\)/m);
      expectWholeCaptures(pcap);
      const v = spawnSync(process.execPath, [DIST, 'run', 'scenarios/routing-loop.yaml', '--max-virtual-time', '2ms'], { encoding: 'utf8', timeout: 60_000 });
      expect(v.status).toBe(1);
      expect(v.stdout).toMatch(/^stopped: the virtual-time budget \(--max-virtual-time 0\.002s\) ran out at virtual time 0\.002000000 s/m);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('a malformed budget is refused with exit 2', () => {
    for (const [flag, v] of [['--max-events', '0'], ['--max-events', '1e3'], ['--max-virtual-time', '5'], ['--max-virtual-time', 'soon']]) {
      const r = spawnSync(process.execPath, [DIST, 'run', 'scenarios/routing-loop.yaml', flag, v], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${flag} ${v}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^podwire: ${flag} "${v}": expected`));
    }
  });
});
