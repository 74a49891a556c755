/**
 * calico-bgp.*: BGP convergence of Calico's BIRD-like speakers (issue 7).
 *
 *   calico-bgp.{mesh,rr,rr3}.{10,100,1000}nodes
 *       N machines on one underlay segment (10.0.0.0/16, 50 µs one-way link delay, static neighbour entries so the
 *       figures measure BGP, not ARP flooding), one speaker per node (AS 64512, Calico's
 *       timers), one /26 block announced per node. `mesh` is the node-to-node full mesh
 *       (N(N−1)/2 sessions); `rr` is two route reflectors sharing a cluster id, every other
 *       node their client (2(N−2)+1 sessions); `rr3` three, as `podwire generate --network
 *       calico` sets a cluster up (every client holds three paths per block). Timed: start-up to the end of the virtual run
 *       (30 s), then one block withdrawn and 5 s more. Reported beside the wall time:
 *       virtual convergence of the start-up and of the withdrawal (ms, from the change to the
 *       last RIB change anywhere), sessions, BGP messages sent (and UPDATEs) for each phase,
 *       and the frames the sessions put on the wire, and the heap the cluster holds. The
 *       1,000-node runs are full mode only (`--quick` runs 10 and 100) and run in a child
 *       process with a larger heap (see inChild).
 */
import { SEMI_SPACE_MB } from '../src/cli/node-flags.js';
import { World } from '../src/kernel/world.js';
import { Node } from '../src/kernel/node.js';
import { Segment } from '../src/kernel/devices/nic.js';
import { Nud } from '../src/kernel/neigh.js';
import { ipToString } from '../src/wire/bytes.js';
import { BgpCluster } from '../src/calico/bgp/index.js';
import { S, MS, US } from '../src/engine/time.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

interface Ctx { w: World; c: BgpCluster; nodes: Node[] }
type Mode = 'mesh' | 'rr' | 'rr3';
const reflectorsOf = (mode: Mode): number => (mode === 'rr' ? 2 : mode === 'rr3' ? 3 : 0);

const ipOf = (k: number) => (0x0a000000 + (Math.floor(k / 250) << 8) + (k % 250) + 1) >>> 0;

function build(n: number, mode: Mode): Ctx {
  const w = new World(1);
  const seg = new Segment('10.0.0.0/16', 0x0a000000, 16);
  const nodes: Node[] = [];
  for (let k = 0; k < n; k++) {
    const node = new Node(w, `n${k + 1}`, 'node');
    w.nodes.set(node.name, node);
    node.addNic('eth0', seg, new Uint8Array([2, 0, 0, 0, (k >> 8) & 0xff, k & 0xff]), 1500, 50 * US, 0);
    node.linkSetUp('host', 'eth0');
    node.addrAdd('host', 'eth0', `${ipToString(ipOf(k))}/16`);
    nodes.push(node);
  }
  // Static neighbours (as `ip neigh replace … nud permanent`, not logged): no ARP broadcasts.
  for (const a of nodes) {
    const eth0 = a.host.device('eth0')!;
    for (let k = 0; k < n; k++) if (nodes[k] !== a) a.host.stack.neighReplace(eth0, ipOf(k), nodes[k].host.device('eth0')!.mac, Nud.PERMANENT);
  }
  const c = new BgpCluster(w, { mode: mode === 'mesh' ? 'mesh' : 'reflectors' });
  nodes.forEach((node, k) => c.add({ node, ip: ipToString(ipOf(k)), ...(k < reflectorsOf(mode) ? { clusterId: '224.0.0.1' } : {}) }));
  c.configure();
  return { w, c, nodes };
}

function frames(nodes: Node[]): number {
  let f = 0;
  for (const n of nodes) f += n.host.device("eth0")!.txPackets;
  return f;
}

/** One measurement: start-up (timed) and one withdrawal on a built cluster. */
function measure(ctx: Ctx, n: number, heap0: number): Record<string, number> {
  const { w, c, nodes } = ctx;
  const t0 = process.hrtime.bigint();
  c.start();
  c.speakers.forEach((s, k) => s.announce(`${ipToString((0x0a300000 + k * 64) >>> 0)}/26`));
  w.sched.run(30 * S);
  const t1 = process.hrtime.bigint();
  const up = { conv: c.convergence.time ?? 0, msgs: c.messages(), frames: frames(nodes), sessions: c.sessions() };
  c.convergence.mark(w.now);
  const t2 = process.hrtime.bigint();
  c.speakers[n - 1].withdraw(`${ipToString((0x0a300000 + (n - 1) * 64) >>> 0)}/26`);
  w.sched.run(w.now + 5 * S);
  const t3 = process.hrtime.bigint();
  const after = c.messages();
  if (global.gc) global.gc();
  return {
    startupWallMs: Number(t1 - t0) / 1e6,
    startupConvMs: up.conv / MS,
    sessions: up.sessions,
    startupMsgs: up.msgs.total,
    startupUpdates: up.msgs.update,
    startupFrames: up.frames,
    withdrawWallMs: Number(t3 - t2) / 1e6,
    withdrawConvMs: (c.convergence.time ?? 0) / MS,
    withdrawMsgs: after.total - up.msgs.total,
    withdrawUpdates: after.update - up.msgs.update,
    heapMB: (process.memoryUsage().heapUsed - heap0) / 2 ** 20,
  };
}

function heapNow(): number {
  if (global.gc) global.gc();
  return process.memoryUsage().heapUsed;
}

const SELF = fileURLToPath(import.meta.url);

/**
 * 1,000 nodes hold about a million routes and (full mesh) half a million sessions: more
 * than the default V8 heap. Those runs go to a child node with a 14 GiB heap; the
 * harness's wall time then includes the child's start and the build, the figures in
 * `extra` are measured inside it as in-process runs measure them.
 */
function inChild(n: number, mode: Mode): Record<string, number> {
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=14336', `--max-semi-space-size=${SEMI_SPACE_MB}`, SELF, '--bgp-child', mode, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
}

export function bgpSpec(n: number, mode: Mode): BenchSpec {
  const big = n >= 1000;
  return {
    name: `calico-bgp.${mode}.${n}nodes`,
    description: `${mode === 'mesh' ? 'full mesh' : `${reflectorsOf(mode)} route reflectors`}, ${n} nodes: start-up + one withdrawal (wall${big ? ', child process incl. build' : ''})`,
    mode: 'time',
    params: { nodes: n, mode },
    warmup: big || n >= 100 ? 0 : 1,
    runs: big ? 1 : n >= 100 ? 2 : 5,
    setup: () => (big ? null : { heap0: heapNow(), ctx: build(n, mode) }),
    run: (x) => {
      if (big) return { work: 1, extra: inChild(n, mode) };
      const { heap0, ctx } = x as { heap0: number; ctx: Ctx };
      return { work: 1, extra: measure(ctx, n, heap0) };
    },
  };
}

export function calicoBgpBenches(o: BenchOptions): BenchSpec[] {
  const sizes = o.quick ? [10, 100] : [10, 100, 1000];
  return sizes.flatMap((n) => [bgpSpec(n, 'mesh'), bgpSpec(n, 'rr'), bgpSpec(n, 'rr3')]);
}

// Child mode (see inChild): node dist/bench/calico-bgp.js --bgp-child MODE N
if (process.argv[1] && path.resolve(process.argv[1]) === SELF && process.argv[2] === '--bgp-child') {
  const mode: Mode = process.argv[3] === 'rr' || process.argv[3] === 'rr3' ? process.argv[3] : 'mesh';
  const n = Number(process.argv[4]);
  const heap0 = heapNow();
  console.log(JSON.stringify(measure(build(n, mode), n, heap0)));
}
