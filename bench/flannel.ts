/**
 * flannel benchmarks (issue 5, Performance; issue 9):
 *
 * flannel.bringup.{100,1000,5000}: wall time of buildCluster for a generated scenario of
 *   N nodes (one /8 underlay segment, `network: {plugin: flannel, backend: vxlan}`, kube
 *   subnet manager, no kube-proxy, no pods): every Node object, every flanneld (flannel.1,
 *   lease, iptables rules, subnet.env) and the full route/neigh/fdb mesh of every node
 *   (N·(N−1) entries of each, held in the deployment's shared peer mesh). Parsing the
 *   YAML is outside the timed part. The timed part ends with one full GC (`--expose-gc`)
 *   so memory can be read: extras `buildMs` (the build alone), `heapMB` (heap used after
 *   GC, the cluster alive), `heapDeltaMB` (heap used after GC minus before the build),
 *   `rssMB` (process RSS after GC), and `meshEntries` (routes listed on node 0, a check that
 *   the mesh is complete). `--quick` stops at 1,000 nodes.
 *
 * flannel.frames.{vxlan,host-gw,udp}: frames/s across nodes for each backend, tracing off,
 *   no captures: scenarios/flannel-<backend>.yaml is built (kube-proxy iptables, flanneld's
 *   masquerade and forward rules), ARP is resolved with one ping, then pod client (node-1)
 *   sends one 64-byte UDP datagram per interval to a counting socket in pod web (node-2):
 *   client eth0 → veth → cni0 → routing → flannel.1 (VXLAN) / flannel0 (tun, flanneld's
 *   userspace proxy) / eth0 (host-gw) → the underlay → node-2 and the same way down to web.
 *   Frames = the increase of txPackets summed over every device; the rate is per second
 *   of CPU (wall) time. For udp each user/kernel crossing also costs virtual time (the
 *   scenario's udpCrossingCost), which is not CPU time: the interval is wide enough that
 *   flanneld's one proxy thread keeps up, and the figure is still frames per CPU second.
 */
import { parseScenario } from '../src/scenario/load.js';
import { loadScenario } from '../src/scenario/load.js';
import { buildCluster, type Cluster } from '../src/scenario/build.js';
import type { NetDevice } from '../src/kernel/device.js';
import type { World } from '../src/kernel/world.js';
import { resetPacketIds } from '../src/kernel/skb.js';
import type { BenchOptions, BenchSpec } from './harness.js';

/** The scenario text of an N-node flannel cluster (the figures of /tmp/fl/bring.mjs, issue 9's generator shape). */
export function flannelScenarioText(n: number, backend: 'vxlan' | 'host-gw' | 'udp' = 'vxlan'): string {
  const nodes: string[] = [];
  for (let i = 0; i < n; i++) nodes.push(`    - {name: n${i}, ip: 10.${(i >> 8) & 255}.${i & 255}.10/8}`);
  return `name: b\nseed: 1\ncluster:\n  podCIDR: 100.64.0.0/10\n  serviceCIDR: 192.168.0.0/16\n  network: {plugin: flannel, backend: ${backend}}\n  nodes:\n${nodes.join('\n')}\n`;
}

const MB = 1024 * 1024;

function bringup(o: BenchOptions, n: number): BenchSpec {
  const big = n >= 5000;
  return {
    name: `flannel.bringup.${n}`,
    description: `build ${n} flannel vxlan nodes (leases + full route/neigh/fdb meshes), no kube-proxy; then one GC for memory`,
    mode: 'time',
    params: { nodes: n, backend: 'vxlan', subnetManager: 'kube', kubeProxy: 'none', pods: 0 },
    warmup: n >= 1000 ? 1 : 2, runs: big ? 3 : n >= 1000 ? 3 : 7,
    setup: () => {
      const sc = parseScenario(flannelScenarioText(n), 'bringup.yaml');
      global.gc?.();
      return { sc, heap0: process.memoryUsage().heapUsed, cl: null as Cluster | null };
    },
    run: (c) => {
      const ctx = c as { sc: ReturnType<typeof parseScenario>; heap0: number; cl: Cluster | null };
      const t0 = process.hrtime.bigint();
      const cl = buildCluster(ctx.sc);
      const t1 = process.hrtime.bigint();
      ctx.cl = cl;
      global.gc?.();
      const m = process.memoryUsage();
      const n0 = cl.nodes.get('n0')!;
      const meshEntries = n0.ns('host').fib.routes(254).filter((r) => r.dev?.name === 'flannel.1').length;
      if (meshEntries !== n - 1) throw new Error(`flannel.bringup.${n}: n0 has ${meshEntries} flannel routes, expected ${n - 1}`);
      return { work: 1, extra: { buildMs: Number(t1 - t0) / 1e6, heapMB: m.heapUsed / MB, heapDeltaMB: (m.heapUsed - ctx.heap0) / MB, rssMB: m.rss / MB, meshEntries } };
    },
    teardown: (c) => { (c as { cl: Cluster | null }).cl = null; },
  };
}

const SINK_PORT = 9999;
const CLIENT_PORT = 40000;

interface FramesCtx {
  world: World;
  send: () => void;
  received: () => number;
  frames: () => number;
}

function allDevices(world: World): NetDevice[] {
  const out: NetDevice[] = [];
  for (const node of world.nodes.values()) for (const ns of node.netns.values()) for (const dev of ns.devices.values()) out.push(dev);
  return out;
}

function framesSetup(file: string, datagrams: number, size: number, interval: number): FramesCtx {
  resetPacketIds();
  const cl = buildCluster(loadScenario(file));
  const world = cl.world;
  const client = cl.pods.get('default/client')!, web = cl.pods.get('default/web')!;
  if (client.node === web.node) throw new Error(`${file}: client and web on one node`);
  const cns = client.node.ns(client.netns), wns = web.node.ns(web.netns);
  let replied = false;
  const ping = cns.sockets.pingOpen({ onReply: () => { replied = true; } });
  ping.send(web.ip, 1, 56);
  world.sched.run(world.now + 50_000_000);
  if (!replied) throw new Error(`flannel frames bench (${file}): warm-up ping got no reply`);
  let received = 0;
  wns.sockets.udpBind(SINK_PORT, { onMessage: () => { received++; } });
  const sock = cns.sockets.udpBind(CLIENT_PORT, {});
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = 0x61 + (i % 26);
  const devs = allDevices(world);
  const tx = () => { let s = 0; for (const d of devs) s += d.txPackets; return s; };
  const tx0 = tx();
  let sent = 0;
  const tick = (): void => {
    const err = sock.send(data, web.ip, SINK_PORT);
    if (err) throw new Error(`flannel frames bench: send failed: ${err}`);
    if (++sent < datagrams) world.sched.after(interval, tick);
  };
  const start = world.now + interval;
  const send = () => {
    world.sched.at(start, tick);
    world.sched.run(start + datagrams * interval + 10_000_000);
  };
  return { world, send, received: () => received, frames: () => tx() - tx0 };
}

function frames(o: BenchOptions, backend: 'vxlan' | 'host-gw' | 'udp'): BenchSpec {
  const file = `scenarios/flannel-${backend}.yaml`;
  const datagrams = o.quick ? 20_000 : 100_000;
  // udp: flanneld's proxy crosses user/kernel 2× per datagram per node at 5 µs each (virtual).
  const interval = backend === 'udp' ? 50_000 : 1_000;
  const size = 64;
  return {
    name: `flannel.frames.${backend}`,
    description: `frames/s pod→pod across nodes, flannel ${backend}, UDP client (node-1) → web (node-2), tracing off`,
    mode: 'rate', workUnit: 'frames',
    params: { scenario: file, datagrams, payloadBytes: size, intervalNs: interval, trace: 'off', captures: 'none' },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => framesSetup(file, datagrams, size, interval),
    run: (c) => {
      const ctx = c as FramesCtx;
      const ev0 = ctx.world.sched.executed;
      ctx.send();
      const got = ctx.received();
      if (got !== datagrams) throw new Error(`flannel.frames.${backend}: ${got} of ${datagrams} datagrams delivered`);
      const f = ctx.frames();
      return { work: f, extra: { 'datagrams/s': got, 'frames/datagram': f / got, 'events/datagram': (ctx.world.sched.executed - ev0) / got } };
    },
  };
}

export function flannelBenches(o: BenchOptions): BenchSpec[] {
  const sizes = o.quick ? [100, 1000] : [100, 1000, 5000];
  return [
    ...sizes.map((n) => bringup(o, n)),
    frames(o, 'vxlan'),
    frames(o, 'host-gw'),
    frames(o, 'udp'),
  ];
}
