/**
 * Loops that end by TTL (a routing loop, NAT ping-pong) and runs cut short by a
 * budget: what the run reports about the loop, and captures that stay whole.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runScenarioFile, formatStop } from '../../src/scenario/run.js';
import { formatTtlLoops } from '../../src/scenario/loops.js';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { checkCapture, itTshark } from '../helpers/tshark.js';

describe('loops ended by TTL', () => {
  it('routing-loop: the ping goes round rtr-a/rtr-b until rtr-a answers time exceeded', () => {
    const res = runScenarioFile('scenarios/routing-loop.yaml');
    expect(res.stop).toBeUndefined();
    const [r] = res.results;
    expect(r.ok, r.mismatch).toBe(true);
    // The pod sends TTL 64; node-1 forwards it once (63), then rtr-a and rtr-b take one each until it reaches rtr-a with TTL 1.
    expect(r.detail).toBe('ICMP type 11 code 0 from 192.168.1.21 (EHOSTUNREACH)');
    expect(res.ttlLoops).toHaveLength(1);
    const l = res.ttlLoops[0]!;
    expect(l.flow).toBe('ping-into-loop');
    expect(l.cycled).toEqual([{ dev: 'rtr-a/host/eth0', visits: 32 }, { dev: 'rtr-b/host/eth0', visits: 31 }]);
    expect(l.where).toBe('rtr-a/host/eth0: TTL 1 expired in transit');
    expect(formatTtlLoops(res.ttlLoops)).toEqual(['loop: packet #1 [ping-into-loop] went round rtr-a/host/eth0 ×32, rtr-b/host/eth0 ×31 (67 devices crossed) until its TTL ran out at rtr-a/host/eth0: TTL 1 expired in transit']);
  });

  it('nat-ping-pong: each DNAT sends the datagram to the other machine until its TTL runs out; the error comes back un-NATed', () => {
    const res = runScenarioFile('scenarios/nat-ping-pong.yaml');
    const [r] = res.results;
    expect(r.ok, r.mismatch).toBe(true);
    expect(r.detail).toBe('ICMP type 11 code 0 from 192.168.1.21 (EHOSTUNREACH)');
    expect(res.ttlLoops.map((l) => l.cycled)).toEqual([[{ dev: 'nat-a/host/eth0', visits: 32 }, { dev: 'nat-b/host/eth0', visits: 31 }]]);
  });
});

describe('budgets', () => {
  function withDir<T>(fn: (dir: string) => T): T {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-budget-'));
    try { return fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  }

  it('--max-events: the run stops after exactly that many events and names the packet going round', () => withDir((dir) => {
    const res = runScenarioFile('scenarios/routing-loop.yaml', { maxEvents: 40, pcapDir: dir });
    expect(res.events).toBe(40);
    expect(res.results).toEqual([]);
    const st = res.stop!;
    expect(st).toMatchObject({ reason: 'max-events', limit: 40, events: 40, finished: [], unfinished: ['ping-into-loop'] });
    expect(st.cycling.map((c) => c.id)).toEqual([1]);
    const c = st.cycling[0]!;
    expect(c.flow).toBe('ping-into-loop');
    expect(c.what).toMatch(/^IP 10\.244\.0\.2 > 10\.99\.0\.1: ICMP echo request/);
    expect(c.places.slice(0, 2).map((p) => p.dev)).toEqual(['rtr-a/host/eth0', 'rtr-b/host/eth0']);
    const text = formatStop(st);
    expect(text[0]).toMatch(/^stopped: the event budget \(--max-events 40\) ran out at virtual time 0\.\d{9} s after 40 events; 0 of 1 traffic items finished$/);
    expect(text).toContain('  unfinished: ping-into-loop');
    // The captures hold every frame emulated, whole: the pcapng has as many frames as the per-device files together.
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const all = readCaptureFile(path.join(dir, 'all.pcapng'));
    const per = readdirSync(dir).filter((f) => f.endsWith('.pcap')).reduce((n, f) => n + readCaptureFile(path.join(dir, f)).packets.length, 0);
    expect(all.packets.length).toBe(per);
    expect(all.packets.length).toBeGreaterThan(60);
  }));

  it('--max-virtual-time: the run stops at that time', () => {
    const res = runScenarioFile('scenarios/routing-loop.yaml', { maxVirtualTime: 2_000_000 });
    expect(res.stop).toMatchObject({ reason: 'max-virtual-time', limit: 2_000_000, at: 2_000_000, unfinished: ['ping-into-loop'] });
    expect(res.stop!.cycling[0]!.places.map((p) => p.dev)).toEqual(['rtr-a/host/eth0', 'rtr-b/host/eth0']);
  });

  it('a budget that is not reached changes nothing', () => {
    const a = runScenarioFile('scenarios/routing-loop.yaml');
    const b = runScenarioFile('scenarios/routing-loop.yaml', { maxEvents: 75, maxVirtualTime: 5_400_000 });
    expect(b.stop).toBeUndefined();
    expect(b.events).toBe(a.events);
    expect(b.endTime).toBe(a.endTime);
  });

  itTshark('tshark reads the captures of a run cut short', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-budget-'));
    try {
      runScenarioFile('scenarios/nat-ping-pong.yaml', { maxEvents: 50, pcapDir: dir });
      // TTLs running down are what the capture shows: "Time To Live only 1" is a note, not a problem.
      const check = await checkCapture(path.join(dir, 'all.pcapng'));
      expect(check.problems).toEqual([]);
      expect(check.packets).toBe(readCaptureFile(path.join(dir, 'all.pcapng')).packets.length);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
