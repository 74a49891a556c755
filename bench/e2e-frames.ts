/**
 * e2e.frames.{untraced,traced} (issue 9): "pod → ClusterIP → VXLAN → pod" end to end.
 *
 * Two flannel vxlan nodes (kube subnet manager, kube-flannel's conflist: bridge cni0),
 * kube-proxy in iptables mode, pod client on node-1 and pod web on node-2 behind a UDP
 * ClusterIP Service (port 9999 → targetPort 9999; the pod declares no port, so no echo server takes it). ARP and the conntrack-free warm-up
 * are done with one ping; then pod client sends one 64-byte UDP datagram per 1 µs of
 * virtual time from one socket to ClusterIP:9999, and a counting socket in web receives
 * them. Every datagram goes client eth0 → veth → cni0 (bridge, br_netfilter off) →
 * routing with kube-proxy's nat PREROUTING (KUBE-SERVICES → KUBE-SVC → KUBE-SEP DNAT to
 * web's pod IP on the other node; the first datagram binds, the rest follow conntrack),
 * FORWARD (KUBE-FORWARD, FLANNEL-FWD), POSTROUTING (KUBE-POSTROUTING, FLANNEL-POSTRTG) →
 * flannel.1 (VXLAN encapsulation, UDP 8472) → eth0 → the underlay segment → node-2 eth0
 * → flannel.1 (decapsulation) → cni0 → veth → web eth0; the un-DNAT is not exercised
 * (no reply). Frames = the increase of txPackets summed over every device (5 per
 * datagram); the rate is per second of CPU (wall) time.
 *
 * untraced: tracing off, no captures. traced: every trace event rendered as text by
 * LineSink into a function that only counts bytes, plus a CaptureSet (pcap per interface
 * + all.pcapng) in a temp dir, as `podwire run --pcap` does.
 * Targets (issue 9): ≥ 1 M frames/s untraced, ≥ 200 k frames/s traced.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseScenario } from '../src/scenario/load.js';
import { buildCluster, type Cluster } from '../src/scenario/build.js';
import { LineSink } from '../src/trace/render.js';
import type { CaptureSet } from '../src/trace/capture.js';
import { attachCaptures } from '../src/scenario/captures.js';
import type { NetDevice } from '../src/kernel/device.js';
import type { World } from '../src/kernel/world.js';
import { resetPacketIds } from '../src/kernel/skb.js';
import { parseIp } from '../src/wire/bytes.js';
import type { BenchOptions, BenchSpec } from './harness.js';

const PORT = 9999;
const CLIENT_PORT = 40000;
const INTERVAL_NS = 1000;

export const E2E_SCENARIO = `name: e2e-frames
seed: 9
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: flannel, backend: vxlan}
  kubeProxy: {mode: iptables}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24}
    - {name: node-2, ip: 192.168.1.12/24}
manifests:
  - {apiVersion: v1, kind: Pod, metadata: {name: client}, spec: {nodeName: node-1, containers: [{name: c, image: busybox}]}}
  - {apiVersion: v1, kind: Pod, metadata: {name: web, labels: {app: web}}, spec: {nodeName: node-2, containers: [{name: web, image: sink}]}}
  - {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {selector: {app: web}, ports: [{name: sink, port: ${PORT}, protocol: UDP, targetPort: ${PORT}}]}}
`;

interface Ctx {
  cl: Cluster;
  world: World;
  vip: string;
  send: () => void;
  received: () => number;
  frames: () => number;
  traceBytes: () => number;
  captures: CaptureSet | null;
  dir: string | null;
}

function allDevices(world: World): NetDevice[] {
  const out: NetDevice[] = [];
  for (const node of world.nodes.values()) for (const ns of node.netns.values()) for (const dev of ns.devices.values()) out.push(dev);
  return out;
}

function setup(traced: boolean, datagrams: number, size: number): Ctx {
  resetPacketIds();
  const cl = buildCluster(parseScenario(E2E_SCENARIO, 'e2e-frames.yaml'));
  const world = cl.world;
  const client = cl.pods.get('default/client')!, web = cl.pods.get('default/web')!;
  if (client.node === web.node) throw new Error('e2e bench: client and web on one node');
  const cns = client.node.ns(client.netns), wns = web.node.ns(web.netns);
  // Let kube-proxy sync (its minSyncPeriod timer), then resolve ARP and the overlay with one ping.
  world.sched.run(world.now + 2_000_000_000);
  const body = cl.store.get('Service', 'default', 'web') as { spec?: { clusterIP?: string } } | undefined;
  const vip = body?.spec?.clusterIP ?? '';
  if (parseIp(vip) === undefined) throw new Error(`e2e bench: Service default/web has no ClusterIP (${vip})`);
  let replied = false;
  const ping = cns.sockets.pingOpen({ onReply: () => { replied = true; } });
  ping.send(web.ip, 1, 56);
  world.sched.run(world.now + 50_000_000);
  if (!replied) throw new Error('e2e bench: warm-up ping got no reply');

  let traceBytes = 0;
  let captures: CaptureSet | null = null;
  let dir: string | null = null;
  if (traced) {
    world.trace = new LineSink('text', (line) => { traceBytes += line.length; });
    dir = mkdtempSync(path.join(tmpdir(), 'podwire-bench-'));
    captures = attachCaptures(world, dir);
  }

  let received = 0;
  wns.sockets.udpBind(PORT, { onMessage: () => { received++; } });
  const sock = cns.sockets.udpBind(CLIENT_PORT, {});
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = 0x61 + (i % 26);
  const devs = allDevices(world);
  const tx = () => { let s = 0; for (const d of devs) s += d.txPackets; return s; };
  const tx0 = tx();
  const dst = parseIp(vip)!;
  let sent = 0;
  const tick = (): void => {
    const err = sock.send(data, dst, PORT);
    if (err) throw new Error(`e2e bench: send failed: ${err}`);
    if (++sent < datagrams) world.sched.after(INTERVAL_NS, tick);
  };
  const start = world.now + INTERVAL_NS;
  const send = () => {
    world.sched.at(start, tick);
    world.sched.run(start + datagrams * INTERVAL_NS + 10_000_000);
  };
  return { cl, world, vip, send, received: () => received, frames: () => tx() - tx0, traceBytes: () => traceBytes, captures, dir };
}

function spec(o: BenchOptions, traced: boolean): BenchSpec {
  const datagrams = traced ? (o.quick ? 10_000 : 50_000) : (o.quick ? 20_000 : 200_000);
  const size = 64;
  return {
    name: traced ? 'e2e.frames.traced' : 'e2e.frames.untraced',
    description: traced
      ? 'frames/s pod→ClusterIP→VXLAN→pod (kube-proxy iptables DNAT, flannel vxlan, 2 nodes), UDP, text trace of every event + pcap/pcapng captures'
      : 'frames/s pod→ClusterIP→VXLAN→pod (kube-proxy iptables DNAT, flannel vxlan, 2 nodes), UDP, tracing off, no captures',
    mode: 'rate', workUnit: 'frames',
    params: { scenario: 'bench/e2e-frames.ts E2E_SCENARIO', datagrams, payloadBytes: size, intervalNs: INTERVAL_NS, trace: traced ? 'LineSink text → discarded' : 'off', captures: traced ? 'pcap + pcapng, temp dir' : 'none' },
    target: { kind: 'min', value: traced ? 200_000 : 1_000_000 },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => setup(traced, datagrams, size),
    run: (c) => {
      const ctx = c as Ctx;
      const ev0 = ctx.world.sched.executed;
      ctx.send();
      const got = ctx.received();
      if (got !== datagrams) throw new Error(`e2e bench: ${got} of ${datagrams} datagrams delivered (to ${ctx.vip}:${PORT})`);
      const frames = ctx.frames();
      const extra: Record<string, number> = {
        'datagrams/s': got,
        'frames/datagram': frames / got,
        'events/datagram': (ctx.world.sched.executed - ev0) / got,
      };
      if (traced) extra['traceBytes/datagram'] = ctx.traceBytes() / got;
      return { work: frames, extra };
    },
    teardown: (c) => {
      const ctx = c as Ctx;
      if (ctx.captures) ctx.captures.abort();
      if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
    },
  };
}

export const e2eUntraced = (o: BenchOptions) => spec(o, false);
export const e2eTraced = (o: BenchOptions) => spec(o, true);
