/**
 * bridge.frames.{untraced,traced}: sustained UDP through the same-node bridge path
 * (client eth0 → veth → cni0 → veth → web eth0) of scenarios/same-node-bridge.yaml.
 * The cluster is built with buildCluster(loadScenario(...)), ARP is resolved with one
 * ping, then a sender event sends one datagram every 1 µs of virtual time from a UDP
 * socket in pod client to a counting UDP socket in pod web (no reply). Frames = the
 * increase of txPackets summed over every device (device transmits = hops);
 * datagrams = datagrams delivered to the web socket (checked equal to those sent).
 * Traced: every trace event rendered as text by LineSink into a function that only
 * counts bytes, plus a CaptureSet (per-interface pcap + all.pcapng) in a temp dir on
 * every device, as `podwire run --pcap` does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { buildCluster, type Cluster } from '../src/scenario/build.js';
import { LineSink } from '../src/trace/render.js';
import type { CaptureSet } from '../src/trace/capture.js';
import { attachCaptures } from '../src/scenario/captures.js';
import type { NetDevice } from '../src/kernel/device.js';
import type { World } from '../src/kernel/world.js';
import { resetPacketIds } from '../src/kernel/skb.js';
import type { BenchOptions, BenchSpec } from './harness.js';

export const SCENARIO = 'scenarios/same-node-bridge.yaml';
const SINK_PORT = 9999;
const CLIENT_PORT = 40000;
const INTERVAL_NS = 1000;

interface Ctx {
  cl: Cluster;
  world: World;
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
  const cl = buildCluster(loadScenario(SCENARIO));
  const world = cl.world;
  const client = cl.pods.get('default/client')!, web = cl.pods.get('default/web')!;
  const cns = client.node.ns(client.netns), wns = web.node.ns(web.netns);

  let traceBytes = 0;
  let captures: CaptureSet | null = null;
  let dir: string | null = null;
  if (traced) {
    world.trace = new LineSink('text', (line) => { traceBytes += line.length; });
    dir = mkdtempSync(path.join(tmpdir(), 'podwire-bench-'));
    // The same tap `runScenario` installs (packet comment per frame).
    captures = attachCaptures(world, dir);
  }

  // Resolve ARP (client → web and, through the request, web → client) with one ping.
  let replied = false;
  const ping = cns.sockets.pingOpen({ onReply: () => { replied = true; } });
  ping.send(web.ip, 1, 56);
  world.sched.run(world.now + 10_000_000);
  if (!replied) throw new Error('bridge bench: warm-up ping got no reply');

  let received = 0;
  wns.sockets.udpBind(SINK_PORT, { onMessage: () => { received++; } });
  const sock = cns.sockets.udpBind(CLIENT_PORT, {});
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = 0x61 + (i % 26);
  const devs = allDevices(world);
  const tx = () => { let s = 0; for (const d of devs) s += d.txPackets; return s; };
  const tx0 = tx();
  const dst = web.ip;
  let sent = 0;
  const tick = (): void => {
    const err = sock.send(data, dst, SINK_PORT);
    if (err) throw new Error(`bridge bench: send failed: ${err}`);
    if (++sent < datagrams) world.sched.after(INTERVAL_NS, tick);
  };
  const start = world.now + INTERVAL_NS;
  const send = () => {
    world.sched.at(start, tick);
    // Veth delay is 0: every frame of the last datagram is delivered at its send instant.
    world.sched.run(start + (datagrams - 1) * INTERVAL_NS);
  };
  return { cl, world, send, received: () => received, frames: () => tx() - tx0, traceBytes: () => traceBytes, captures, dir };
}

function spec(o: BenchOptions, traced: boolean): BenchSpec {
  const datagrams = traced ? (o.quick ? 20_000 : 100_000) : (o.quick ? 100_000 : 500_000);
  const size = 64;
  return {
    name: traced ? 'bridge.frames.traced' : 'bridge.frames.untraced',
    description: traced
      ? `frames/s on the same-node bridge path, UDP client→web, text trace of every event + pcap/pcapng captures on every device`
      : `frames/s (device transmits) on the same-node bridge path, UDP client→web, tracing off, no captures`,
    mode: 'rate', workUnit: 'frames',
    params: { scenario: SCENARIO, datagrams, payloadBytes: size, intervalNs: INTERVAL_NS, trace: traced ? 'LineSink text → discarded' : 'off', captures: traced ? 'pcap + pcapng, temp dir' : 'none' },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => setup(traced, datagrams, size),
    run: (c) => {
      const ctx = c as Ctx;
      const ev0 = ctx.world.sched.executed;
      ctx.send();
      const got = ctx.received();
      if (got !== datagrams) throw new Error(`bridge bench: ${got} of ${datagrams} datagrams delivered`);
      const frames = ctx.frames();
      const extra: Record<string, number> = {
        'datagrams/s': got,
        'events/s': ctx.world.sched.executed - ev0,
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

export const bridgeUntraced = (o: BenchOptions) => spec(o, false);
export const bridgeTraced = (o: BenchOptions) => spec(o, true);
