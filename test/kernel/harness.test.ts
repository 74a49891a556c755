import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/scenario/load.js';
import { captureName, findPodAddress, parseCaptureName, planFromScenario, type KernelPlan } from './harness.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

describe('planFromScenario', () => {
  it('derives the hand-written plan of same-node-bridge from the scenario and the machine commands', () => {
    const fixture = JSON.parse(readFileSync(path.join(HERE, 'fixtures/same-node-bridge.plan.json'), 'utf8')) as KernelPlan;
    const scn = loadScenario(path.join(HERE, '../../scenarios/same-node-bridge.yaml'));
    const plan = planFromScenario(scn, fixture.config, fixture.captures);
    expect(plan.servers).toEqual(fixture.servers);
    expect(plan.probes.map((p) => JSON.parse(JSON.stringify(p)))).toEqual(fixture.probes);
  });
  it('finds pod addresses in ip -n and ip netns exec forms', () => {
    const cfg = { machine: 'n', kind: 'node' as const, commands: ['ip addr add 1.1.1.1/24 dev eth0', 'ip -n a.b addr add 10.0.0.5/24 dev eth0', 'ip netns exec c.d ip addr add 10.0.0.6/24 dev eth0'] };
    expect(findPodAddress(cfg, 'a.b')).toBe('10.0.0.5');
    expect(findPodAddress(cfg, 'c.d')).toBe('10.0.0.6');
    expect(findPodAddress(cfg, 'host')).toBe('1.1.1.1');
    expect(findPodAddress(cfg, 'x.y')).toBeNull();
  });
  it('parses and builds capture names', () => {
    const r = parseCaptureName('/tmp/x/node-1__default.web__eth0.pcap');
    expect(r).toEqual({ machine: 'node-1', netns: 'default.web', dev: 'eth0' });
    expect(captureName(r!)).toBe('node-1__default.web__eth0.pcap');
    expect(parseCaptureName('all.pcapng')).toBeNull();
  });
});
