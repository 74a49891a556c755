/**
 * A layer-2 loop (scenarios/storms/broadcast-storm.yaml: two bridges joined twice, no STP)
 * ended by the event budget, and the host bridges/veths it is built from.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseScenario } from '../../src/scenario/load.js';
import { isInputError } from '../../src/scenario/errors.js';
import { runScenarioFile, formatStop } from '../../src/scenario/run.js';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
describe('broadcast storm (scenarios/storms/broadcast-storm.yaml)', () => {
  it('two bridges joined twice: the ARP request goes round all four ports until the event budget ends the run', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pw-storm-'));
    try {
      const res = runScenarioFile('scenarios/storms/broadcast-storm.yaml', { maxEvents: 100_000, pcapDir: dir });
      const st = res.stop!;
      expect(st).toMatchObject({ reason: 'max-events', events: 100_000, unfinished: ['ping-into-storm'], window: 20_000 });
      // The veths have no delay: the storm holds the clock at the instant the ping started.
      expect(st.at).toBe(1_000_000);
      expect(st.cycling).toHaveLength(1);
      const c = st.cycling[0]!;
      expect(c.what).toBe('ARP, Request who-has 10.9.0.2 tell 10.9.0.1, length 28');
      // Two copies go round in opposite directions, each leaving every port once per turn.
      expect(c.places.map((p) => p.dev).sort()).toEqual(['sw/host/ab1', 'sw/host/ab2', 'sw/host/ba1', 'sw/host/ba2']);
      expect(c.places.every((p) => p.frames === c.frames / 4 && p.total >= 4 * p.frames)).toBe(true);
      expect(formatStop(st).slice(2)).toEqual([
        '  still cycling in the last 20000 events (frames sent; in brackets, the device\'s frames in the whole run):',
        `    packet #${c.id}: ${c.frames} frames: ARP, Request who-has 10.9.0.2 tell 10.9.0.1, length 28`,
        `      ${c.places.map((p) => `${p.dev} ×${p.frames} (${p.total})`).join(', ')}`,
      ]);
      const all = readCaptureFile(path.join(dir, 'all.pcapng'));
      const per = readdirSync(dir).filter((f) => f.endsWith('.pcap')).reduce((n, f) => n + readCaptureFile(path.join(dir, f)).packets.length, 0);
      expect(all.packets.length).toBe(per);
      expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('externalHosts[].bridges and veths', () => {
  const storm = readFileSync('scenarios/storms/broadcast-storm.yaml', 'utf8');
  function loadError(text: string): string {
    try { parseScenario(text, 's.yaml'); } catch (e) { if (isInputError(e)) return e.format(); throw e; }
    throw new Error('expected an InputError');
  }

  it('builds the bridges and veth pairs, logged as ip commands', () => {
    const res = runScenarioFile('scenarios/storms/broadcast-storm.yaml', { maxEvents: 1000 });
    const cmds = res.config.find((c) => c.machine === 'sw')!.commands;
    for (const want of ['ip link add br-a type bridge', 'ip link add br-b type bridge', 'ip link set ab1 master br-a', 'ip link set ba2 master br-b'])
      expect(cmds.some((c) => c === want), want).toBe(true);
    expect(cmds.some((c) => /^ip link add ab1 address \S+ type veth peer name ba1 address \S+$/.test(c))).toBe(true);
  });

  it('names mistakes at their line and column', () => {
    expect(loadError(storm.replace('master: br-a, peerMaster: br-b}\n        - {name: ab2', 'master: br-c, peerMaster: br-b}\n        - {name: ab2')))
      .toMatch(/^s\.yaml:30:42: error: .*master: host sw has no bridge "br-c" \(expected one of br-a, br-b\)$/);
    expect(loadError(storm.replace('{name: ab2, peer: ba2', '{name: ab2, peer: ba1'))).toMatch(/^s\.yaml:31:29: error: .*: host sw already has a device "ba1" \(line 30\)/);
    expect(loadError(storm.replace('{name: br-b}', '{name: eth0}'))).toMatch(/^s\.yaml:28:18: error: .*host sw already has a device "eth0"/);
    expect(loadError(storm.replace('{name: br-b}', '{name: a-very-long-bridge}'))).toMatch(/^s\.yaml:28:18: error: .* "a-very-long-bridge" is not a valid interface name/);
    expect(loadError(storm.replace('ip: 10.9.0.1/24', 'ip: 192.168.1.40/24'))).toMatch(/^s\.yaml:27:28: error: .*192\.168\.1\.40\/24 overlaps host sw's subnet 192\.168\.1\.0\/24/);
    expect(loadError(storm.replace('{name: br-b}', '{name: br-b, stp: true}'))).toMatch(/^s\.yaml:28:\d+: error: unknown key "stp"/);
  });
});
