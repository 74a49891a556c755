/**
 * The shipped Wireshark profile (wireshark/profile/podwire) on the captures of shipped Flannel
 * scenarios, read by the real tshark with `-C podwire` and no `-d`/`-o` flags of ours: the inner
 * frames of VXLAN (UDP 8472) and of flanneld's UDP backend (8285) are decoded, and the packet list
 * shows the pcapng interface name and podwire's packet comment as columns.
 */
import { afterAll, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeWithTshark, itTshark, runTshark } from '../helpers/tshark.js';
import { runScenarioFile } from '../../src/scenario/run.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-wsprofile-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A Wireshark configuration directory holding only the shipped profile, as a user installs it. */
function configDir(): string {
  const cfg = path.join(tmp, 'config');
  if (!fs.existsSync(cfg)) {
    fs.mkdirSync(path.join(cfg, 'profiles'), { recursive: true });
    fs.cpSync(new URL('../../wireshark/profile/podwire', import.meta.url), path.join(cfg, 'profiles', 'podwire'), { recursive: true });
  }
  return cfg;
}

function capture(scenario: string): string {
  const dir = path.join(tmp, path.basename(scenario, '.yaml'));
  runScenarioFile(scenario, { pcapDir: dir });
  return path.join(dir, 'all.pcapng');
}

describeWithTshark('wireshark/profile/podwire on shipped Flannel captures', () => {
  itTshark('flannel-vxlan: every VXLAN frame\'s inner IPv4 packet between pods is decoded', async () => {
    const file = capture('scenarios/flannel-vxlan.yaml');
    const out = await runTshark(['-r', file, '-n', '-C', 'podwire', '-Y', 'udp.dstport == 8472', '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.interface_name', '-e', 'vxlan.vni', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.proto'], { configDir: configDir() });
    const rows = out.trim().split('\n').map((l) => l.split('|'));
    expect(rows.length).toBeGreaterThan(10);
    for (const [iface, vni, src, dst, proto] of rows) {
      expect(iface).toMatch(/^node-\d\/host\/eth0$/);
      expect(vni).toBe('1');
      // outer underlay addresses, then the inner pod addresses dissected from the VXLAN payload
      expect(src!.split(',')).toHaveLength(2);
      expect(src!.split(',')[1]).toMatch(/^10\.244\.\d+\.\d+$/);
      expect(dst!.split(',')[1]).toMatch(/^(10\.244|10\.9\d|10\.1\d\d|192\.168)\./);
      expect(proto!.split(',')[0]).toBe('17');
    }
  });

  itTshark('flannel-udp: UDP 8285 payloads are decoded as the inner IPv4 packets', async () => {
    const file = capture('scenarios/flannel-udp.yaml');
    const out = await runTshark(['-r', file, '-n', '-C', 'podwire', '-Y', 'udp.port == 8285', '-T', 'fields', '-E', 'separator=|',
      '-e', 'ip.src', '-e', 'ip.proto'], { configDir: configDir() });
    const rows = out.trim().split('\n').map((l) => l.split('|'));
    expect(rows.length).toBeGreaterThan(0);
    for (const [src, proto] of rows) {
      expect(src!.split(',')).toHaveLength(2);
      expect(src!.split(',')[1]).toMatch(/^10\.244\./);
      expect(proto!.split(',')).toHaveLength(2);
    }
  });

  itTshark('the packet list shows the interface name and podwire\'s comment', async () => {
    const file = capture('scenarios/flannel-vxlan.yaml');
    const out = await runTshark(['-r', file, '-n', '-C', 'podwire'], { configDir: configDir() });
    const line = out.split('\n').find((l) => l.includes('carrying'));
    expect(line).toBeDefined();
    expect(line).toMatch(/ node-\d\/host\/eth0 .* ICMP .* #\d+ carrying #\d+ (xmit|recv) node-\d\/host\/eth0 \[pod-to-pod-icmp\]$/);
  });
});
