/**
 * The rig the frame-rate benches share (bench/bridge-frames.ts, bench/e2e-frames.ts):
 * a built cluster whose path from pod `default/client` to pod `default/web` is warm
 * (one ping), then a sender event that sends one datagram every 1 µs of virtual time
 * from a UDP socket in the client to `dst:port`, where a counting UDP socket in web
 * receives it (no reply). Frames = the increase of txPackets summed over every device
 * (device transmits = hops); datagrams = those delivered (checked equal to those sent).
 * Traced: every trace event rendered as text by LineSink into a function that only
 * counts bytes, plus a CaptureSet (pcap per interface + all.pcapng) in a temp dir, as
 * `podwire run --pcap` does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Cluster } from '../src/scenario/build.js';
import { LineSink } from '../src/trace/render.js';
import type { CaptureSet } from '../src/trace/capture.js';
import { attachCaptures } from '../src/scenario/captures.js';
import type { World } from '../src/kernel/world.js';
import type { BenchOptions, BenchSpec } from './harness.js';

const CLIENT_PORT = 40000;
export const INTERVAL_NS = 1000;

export interface UdpStream {
  world: World;
  send: () => void;
  received: () => number;
  frames: () => number;
  traceBytes: () => number;
  captures: CaptureSet | null;
  dir: string | null;
}

export interface UdpStreamOpts {
  /** For error messages. */
  label: string;
  traced: boolean;
  datagrams: number;
  size: number;
  /** Destination address (the web pod's, or a Service VIP) and port. */
  dst: number;
  port: number;
  /** Virtual time the warm-up ping may take. */
  warmupNs: number;
  /** Virtual time to run after the last datagram is sent (0: every frame is delivered at its send instant). */
  drainNs: number;
}

/** Warms the path with one ping, installs tracing/captures when traced, binds the sockets. */
export function udpStream(cl: Cluster, o: UdpStreamOpts): UdpStream {
  const world = cl.world;
  const client = cl.pods.get('default/client')!, web = cl.pods.get('default/web')!;
  const cns = client.node.ns(client.netns), wns = web.node.ns(web.netns);
  let replied = false;
  cns.sockets.pingOpen({ onReply: () => { replied = true; } }).send(web.ip, 1, 56);
  world.sched.run(world.now + o.warmupNs);
  if (!replied) throw new Error(`${o.label}: warm-up ping got no reply`);

  let traceBytes = 0;
  let captures: CaptureSet | null = null;
  let dir: string | null = null;
  if (o.traced) {
    world.trace = new LineSink('text', (line) => { traceBytes += line.length; });
    dir = mkdtempSync(path.join(tmpdir(), 'podwire-bench-'));
    captures = attachCaptures(world, dir); // the tap `runScenario` installs (packet comment per frame)
  }

  let received = 0;
  wns.sockets.udpBind(o.port, { onMessage: () => { received++; } });
  const sock = cns.sockets.udpBind(CLIENT_PORT, {});
  const data = new Uint8Array(o.size);
  for (let i = 0; i < o.size; i++) data[i] = 0x61 + (i % 26);
  const devs = [...world.nodes.values()].flatMap((node) => [...node.netns.values()].flatMap((ns) => [...ns.devices.values()]));
  const tx = () => { let s = 0; for (const d of devs) s += d.txPackets; return s; };
  const tx0 = tx();
  let sent = 0;
  const tick = (): void => {
    const err = sock.send(data, o.dst, o.port);
    if (err) throw new Error(`${o.label}: send failed: ${err}`);
    if (++sent < o.datagrams) world.sched.after(INTERVAL_NS, tick);
  };
  const start = world.now + INTERVAL_NS;
  const send = () => {
    world.sched.at(start, tick);
    world.sched.run(start + (o.datagrams - 1) * INTERVAL_NS + o.drainNs);
  };
  return { world, send, received: () => received, frames: () => tx() - tx0, traceBytes: () => traceBytes, captures, dir };
}

/** A frames/s BenchSpec over a UdpStream: `setup` builds it, every run sends `datagrams` and checks they all arrived. */
export function udpStreamSpec(o: BenchOptions, s: Pick<BenchSpec, 'name' | 'description' | 'params' | 'target'> & { label: string; datagrams: number; traced: boolean; setup: () => UdpStream }): BenchSpec {
  return {
    name: s.name, description: s.description, params: s.params, ...(s.target ? { target: s.target } : {}),
    mode: 'rate', workUnit: 'frames',
    // A quick run (20,000 datagrams, ~0.1 s) is over before V8 has optimised the path: one warm-up
    // left the first timed run at ~65 % of the rest (a cold run in the median of three).
    warmup: o.quick ? 3 : 1, runs: o.quick ? 3 : 5,
    setup: s.setup,
    run: (c) => {
      const ctx = c as UdpStream;
      const ev0 = ctx.world.sched.executed;
      ctx.send();
      const got = ctx.received();
      if (got !== s.datagrams) throw new Error(`${s.label}: ${got} of ${s.datagrams} datagrams delivered`);
      const frames = ctx.frames();
      const extra: Record<string, number> = {
        'datagrams/s': got,
        'events/s': ctx.world.sched.executed - ev0,
        'frames/datagram': frames / got,
        'events/datagram': (ctx.world.sched.executed - ev0) / got,
      };
      if (s.traced) extra['traceBytes/datagram'] = ctx.traceBytes() / got;
      return { work: frames, extra };
    },
    teardown: (c) => {
      const ctx = c as UdpStream;
      if (ctx.captures) ctx.captures.abort();
      if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
    },
  };
}
