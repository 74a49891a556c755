/**
 * Fault events (src/scenario/faults.ts, validateFaults.ts, checkFaults.ts): their load-time
 * errors at file:line:col, and the shipped scenarios/fault-*.yaml — what each run shows.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/scenario/errors.js';
import { parseScenario } from '../../src/scenario/load.js';
import { runScenario, runScenarioFile } from '../../src/scenario/run.js';
import { MemorySink, renderText } from '../../src/trace/render.js';
import { findTool, itTshark } from '../helpers/tshark.js';

const HEAD = (plugin = 'bridge') => `name: t
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: ${plugin}}
  kubeProxy: {mode: none}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24${plugin === 'bridge' ? ', podCIDR: 10.244.0.0/24' : ''}}
manifests:
  - |
    apiVersion: v1
    kind: Pod
    metadata: {name: web}
    spec: {nodeName: node-1, containers: [{name: w, image: nginx, ports: [{containerPort: 80}]}]}
traffic:
  - {name: p, from: node/node-1, to: pod/default/web, protocol: icmp}
events:
`;

function err(events: string, plugin?: string): string {
  try {
    const sc = parseScenario(HEAD(plugin) + events, 's.yaml');
    runScenario(sc);
    return 'OK';
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
}

describe('fault events: validation with file:line:col', () => {
  it('accepts every kind', () => {
    expect(err(`  - {at: 1s, kind: link-down, link: pod/default/web}
  - {at: 2s, kind: link-up, link: pod/default/web}
  - {at: 3s, kind: link-down, link: node/node-1/eth0}
  - {at: 4s, kind: link-up, link: segment/192.168.1.0/24}
  - {at: 5s, kind: impair, link: pod/default/web, delay: 10ms, jitter: 2ms, loss: 1%, duplicate: 0.5, corrupt: 0.1%, reorder: 25%, rate: 10Mbit, limit: 100}
  - {at: 6s, kind: impair, link: node/node-1/cni0}
`)).toBe('OK');
  });

  it.each([
    ['  - {at: 1s, kind: link-down, link: pod/web}\n', 's.yaml:18:37: error: events[0].link: invalid link "pod/web": expected pod/NS/NAME (expected pod/NS/NAME | node/NAME/DEV | host/NAME/DEV | segment/A.B.C.D/N)'],
    ['  - {at: 1s, kind: link-down, link: wire/x}\n', 's.yaml:18:37: error: events[0].link: invalid link "wire/x": unknown link kind "wire" (expected pod/NS/NAME | node/NAME/DEV | host/NAME/DEV | segment/A.B.C.D/N)'],
    ['  - {at: 1s, kind: link-down, link: pod/default/db}\n', 's.yaml:18:37: error: events[0].link: no pod "default/db" in this scenario; did you mean "pod/default/web"? (expected one of pod/default/web)'],
    ['  - {at: 1s, kind: link-down, link: node/node-9/eth0}\n', 's.yaml:18:37: error: events[0].link: no node or host "node-9" in this scenario; did you mean "node-1"? (expected one of node-1)'],
    ['  - {at: 1s, kind: link-down, link: node/node-1/eth7}\n', 's.yaml:18:5: error: link-down: no device "eth7" on node-1', true],
    ['  - {at: 1s, kind: link-down, link: segment/10.0.0.0/8}\n', 's.yaml:18:5: error: link-down: no underlay segment 10.0.0.0/8 (expected one of segment/192.168.1.0/24)'],
    ['  - {at: 1s, kind: link-down, link: segment/192.168.1.1/24}\n', 's.yaml:18:37: error: events[0].link: invalid link "segment/192.168.1.1/24": not a network address; did you mean segment/192.168.1.0/24? (expected pod/NS/NAME | node/NAME/DEV | host/NAME/DEV | segment/A.B.C.D/N)'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, loss: 120%}\n', 's.yaml:18:57: error: events[0].loss: "120%" is not a percentage in 0..100 (expected a percentage such as 10% or 0.5)'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, jitter: 1ms}\n', 's.yaml:18:59: error: events[0].jitter: jitter needs a delay greater than 0 (expected delay: 10ms, jitter: 2ms)'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, delay: 1ms, jitter: 2ms}\n', 's.yaml:18:71: error: events[0].jitter: jitter greater than the delay would make delays negative (expected jitter <= delay)'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, reorder: 5%}\n', 's.yaml:18:60: error: events[0].reorder: reordering needs a delay (the other frames are what a reordered one overtakes) (expected delay: 10ms, reorder: 25%)'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, rate: fast}\n', 's.yaml:18:57: error: events[0].rate: invalid bandwidth "fast" (expected a rate such as 10Mbit, 1Gbit or bits/s)'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, lose: 5%}\n', 's.yaml:18:51: error: unknown key "lose" in events[0]; did you mean "loss"? (expected one of at, kind, link, delay, jitter, loss, duplicate, corrupt, reorder, rate, limit)'],
    ['  - {at: 1s, kind: node-up, node: node-1}\n', 's.yaml:18:35: error: events[0].node: node-up for node "node-1", which is not down at 1 s (expected a node-down of this node earlier)'],
    ['  - {at: 1s, kind: node-down, node: node-1}\n  - {at: 2s, kind: node-down, node: node-1}\n', 's.yaml:19:37: error: events[1].node: node "node-1" is down already at 2 s (expected a node-up between two node-downs)'],
    ['  - {at: 1s, kind: agent-stop, node: node-1, agent: bird}\n', 's.yaml:18:38: error: events[0].node: bird runs only with network.plugin calico (this scenario has bridge) (expected flanneld with network.plugin flannel, bird with calico)'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, rate: 999bit}\n', 's.yaml:18:57: error: events[0].rate: 999 bit/s is below 1kbit (expected a rate of at least 1kbit (or 0: none))'],
    ['  - {at: 1s, kind: impair, link: pod/default/web, delay: 1001s}\n', 's.yaml:18:58: error: events[0].delay: a delay over 1000 s (expected a delay up to 1000s)'],
    ['  - {at: 1s, kind: agent-stop, node: node-1, agent: kubelet}\n', 's.yaml:18:53: error: invalid events[0].agent "kubelet" (expected flanneld | bird)'],
  ])('%s', (ev, want, prefix) => {
    const got = err(ev as string);
    if (prefix) expect(got.startsWith(want as string)).toBe(true);
    else expect(got).toBe(want);
  });

  it('a hostNetwork pod has no veth to cut or impair', () => {
    const text = HEAD().replace('spec: {nodeName: node-1, containers:', 'spec: {nodeName: node-1, hostNetwork: true, containers:') + '  - {at: 1s, kind: link-down, link: pod/default/web}\n';
    let got = 'OK';
    try { runScenario(parseScenario(text, 's.yaml')); } catch (e) { if (e instanceof InputError) got = e.format(); else throw e; }
    expect(got).toBe('s.yaml:18:5: error: link-down: pod default/web uses the host network: it has no veth of its own (expected a pod with its own network namespace, or node/NAME/DEV)');
  });

  it('agent-start needs a stopped agent; agent-stop twice is refused', () => {
    expect(err('  - {at: 1s, kind: agent-start, node: node-1, agent: flanneld}\n', 'flannel')).toMatch(/^s\.yaml:18:39: error: events\[0\]\.node: flanneld on node-1 is running at 1 s/);
    expect(err('  - {at: 1s, kind: agent-stop, node: node-1, agent: flanneld}\n  - {at: 2s, kind: agent-stop, node: node-1, agent: flanneld}\n', 'flannel'))
      .toMatch(/^s\.yaml:19:38: error: events\[1\]\.node: flanneld on node-1 is stopped already at 2 s/);
  });
});

function runTo(file: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-faults-'));
  const sink = new MemorySink();
  const res = runScenarioFile(file, { pcapDir: dir, trace: sink });
  return { dir, res, trace: sink.events.map(renderText).join('\n') };
}

describe('shipped fault scenarios', () => {
  it('fault-impair: netem logged as tc commands; 10 % loss drops frames before the tap; 50 ms delay in the reply times', () => {
    const { dir, res, trace } = runTo('scenarios/fault-impair.yaml');
    try {
      expect(res.results.every((r) => r.ok)).toBe(true);
      const client = res.config.find((c) => c.machine === 'node-1')!.commands;
      expect(client).toContain('ip netns exec default.client tc qdisc add dev eth0 root netem loss 10%');
      expect(client).toContain('ip netns exec default.client tc qdisc del dev eth0 root');
      expect(client).toContain('ip netns exec default.web tc qdisc add dev eth0 root netem delay 50ms');
      expect((trace.match(/netem on eth0: lost \(loss 10%\) → DROP \(QDISC_DROP\)/g) ?? []).length).toBeGreaterThan(3);
      const delayed = res.results.find((r) => r.name === 'ping-delayed')!;
      expect(delayed.endedAt - 101e9 - 2e9).toBe(50e6); // the third ping's reply, 50 ms after it left
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  itTshark('fault-impair: the capture shows TCP retransmissions (tcp.analysis.retransmission)', () => {
    const { dir } = runTo('scenarios/fault-impair.yaml');
    try {
      const out = execFileSync(findTool('tshark')!, ['-r', path.join(dir, 'node-1__default.web__eth0.pcap'), '-Y', 'tcp.analysis.retransmission', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(out.trim().split('\n').filter(Boolean).length).toBeGreaterThan(0);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  }, 60_000);

  it('fault-link: each link-down makes an item fail and the link-up the next succeed; carrier loss drops as QDISC_DROP', () => {
    const { dir, res, trace } = runTo('scenarios/fault-link.yaml');
    try {
      expect(res.results.map((r) => `${r.name} ${r.result}`)).toEqual([
        'web-veth-down dropped', 'web-veth-up reply', 'db-nic-down dropped', 'db-nic-up reply', 'web-segment-down dropped', 'web-segment-up reply',
      ]);
      expect(trace).toMatch(/link\.state +pod default\/web's veth: ip link set cali\w+ down; default\.web\/eth0 loses carrier/);
      expect(trace).toMatch(/node-3\/host\/eth0 +link\.state +eth0: carrier lost \(NO-CARRIER\)/);
      expect(trace).toMatch(/eth0 has no carrier → DROP \(QDISC_DROP\)/);
      // Felix puts the workload route back once the veth is up again.
      expect(res.config.find((c) => c.machine === 'node-2')!.commands.filter((c) => /^ip route add 10\.48\.\S+\/32 dev cali/.test(c))).toHaveLength(2);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('fault-node-up: calico node down, hold-timer withdrawal, node-up: BIRD restarts and db answers again', () => {
    const { dir, res, trace } = runTo('scenarios/fault-node-up.yaml');
    try {
      expect(res.results.map((r) => `${r.name} ${r.result}`)).toEqual(['db-before-failure reply', 'db-while-down dropped', 'db-after-hold-expiry unreachable', 'db-after-node-up reply']);
      expect(trace).toMatch(/^300\.\d+ .*node-3\/host +bgp\.session +BIRD started/m);
      // The power cut took eth0 down (its routes with it); the machine's boot brings it up and its default route back.
      const cmds = res.config.find((c) => c.machine === 'node-3')!.commands;
      const up = cmds.lastIndexOf('ip link set eth0 up');
      expect(cmds.lastIndexOf('ip link set eth0 down')).toBeLessThan(up);
      expect(cmds.indexOf('ip route add default via 192.168.70.1 dev eth0', up)).toBe(up + 1);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('fault-bird-stop: a killed BIRD\'s FIN drops the sessions at once; agent-start brings the route back', () => {
    const { dir, res, trace } = runTo('scenarios/fault-bird-stop.yaml');
    try {
      expect(res.results.every((r) => r.ok)).toBe(true);
      expect(trace).toMatch(/^20\.\d+ .*node-1\/host +bgp\.session +Mesh_192_168_70_13 .*session down: connection closed \(peer closed the connection\)/m);
      expect(trace).toMatch(/^20\.\d+ .*node-1\/host +bgp\.route +kernel: 10\.48\.\S+ removed/m);
      expect(trace).toMatch(/^60\.\d+ .*node-3\/host +bgp\.session +BIRD started/m);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('fault-flannel: node-down then node-up; flanneld killed and restarted: traffic fails while down, recovers, and is untouched by the agent', () => {
    const { dir, res, trace } = runTo('scenarios/fault-flannel.yaml');
    try {
      expect(res.results.map((r) => `${r.name} ${r.result}`)).toEqual(['web-before reply', 'web-node-down dropped', 'web-node-up reply', 'web-flanneld-dead reply', 'web-flanneld-back reply']);
      expect(trace).toMatch(/^20\.\d+ .*node-2\/host +flannel\.lease +acquired lease 10\.244\.1\.0-24/m);
      expect(trace).toMatch(/^40\.\d+ .*node-2\/host +flannel\.lease +acquired lease 10\.244\.1\.0-24/m);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
