/**
 * Small topologies and recorders for the kernel unit tests (not the
 * kernel-conformance harness): a World with a MemorySink, every drop and every
 * frame a device sends or receives recorded, and builders for the usual shapes.
 */
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { MemorySink } from '../../src/trace/render.js';
import type { DropReason, TraceEvent } from '../../src/trace/events.js';
import { parseIp, parseMac, u16, u32 } from '../../src/wire/bytes.js';

export interface Frame { time: number; dev: string; dir: 'in' | 'out'; bytes: Uint8Array; id: number }
export interface Drop { reason: DropReason; where: string; id: number; time: number }

export function mac(s: string): Uint8Array { return parseMac(s)!; }
export function ip(s: string): number { return parseIp(s)!; }

export class Lab {
  readonly w: World;
  readonly sink = new MemorySink();
  readonly drops: Drop[] = [];
  readonly frames: Frame[] = [];
  readonly n: Node;
  constructor(seed = 1) {
    this.w = new World(seed);
    this.w.trace = this.sink;
    this.w.onDrop = (skb, reason, where) => this.drops.push({ reason, where, id: skb.id, time: this.w.now });
    this.w.tap = { frame: (dev, skb, dir) => this.frames.push({ time: this.w.now, dev: dev.path, dir, bytes: skb.frame().slice(), id: skb.id }) };
    this.n = new Node(this.w, 'n', 'node');
  }
  run(until?: number): void { this.w.sched.run(until); }
  events(stage: string): TraceEvent[] { return this.sink.events.filter((e) => e.stage === stage); }
  reasons(): DropReason[] { return this.drops.map((d) => d.reason); }
  /** Frames seen leaving (`out`) or entering (`in`) one device "netns/dev". */
  on(dev: string, dir: 'in' | 'out' = 'out'): Frame[] { return this.frames.filter((f) => f.dev === `n/${dev}` && f.dir === dir); }
  /** Netns + veth pair `ns/a` ↔ `peerNs/b`, both up. */
  veth(ns: string, a: string, peerNs: string, b: string, macA?: string, macB?: string): void {
    this.n.linkAddVeth(ns, a, { name: b, netns: peerNs }, { mac: macA ? mac(macA) : undefined, peerMac: macB ? mac(macB) : undefined });
    this.n.linkSetUp(ns, a);
    this.n.linkSetUp(peerNs, b);
  }
}

/** Two namespaces a (10.0.0.1/24, dev eth0 02:00:00:00:00:01) and b (10.0.0.2/24, 02:00:00:00:00:02) on one veth. */
export function pair(seed = 1): Lab {
  const l = new Lab(seed);
  l.n.netnsAdd('a'); l.n.netnsAdd('b');
  l.veth('a', 'eth0', 'b', 'eth0', '02:00:00:00:00:01', '02:00:00:00:00:02');
  l.n.addrAdd('a', 'eth0', '10.0.0.1/24');
  l.n.addrAdd('b', 'eth0', '10.0.0.2/24');
  return l;
}

/**
 * a (10.0.1.2/24) ── r (10.0.1.1/24 on ra, 10.0.2.1/24 on rb, ip_forward=1) ── b (10.0.2.2/24).
 * a and b route everything via r.
 */
export function routed(seed = 1): Lab {
  const l = new Lab(seed);
  for (const ns of ['a', 'r', 'b']) l.n.netnsAdd(ns);
  l.veth('a', 'eth0', 'r', 'ra', '02:00:00:00:0a:01', '02:00:00:00:01:01');
  l.veth('b', 'eth0', 'r', 'rb', '02:00:00:00:0b:01', '02:00:00:00:02:01');
  l.n.addrAdd('a', 'eth0', '10.0.1.2/24');
  l.n.addrAdd('r', 'ra', '10.0.1.1/24');
  l.n.addrAdd('r', 'rb', '10.0.2.1/24');
  l.n.addrAdd('b', 'eth0', '10.0.2.2/24');
  l.n.routeAdd('a', { dst: 'default', via: '10.0.1.1' });
  l.n.routeAdd('b', { dst: 'default', via: '10.0.2.1' });
  l.n.sysctlSet('r', 'net.ipv4.ip_forward', '1');
  return l;
}

/**
 * A bridge br0 (10.0.0.1/24, MAC 02:00:00:00:00:b0) in the host netns with
 * pods p1..pN (10.0.0.1N/24, eth0 MAC 02:00:00:00:00:0N, host end vethN with MAC 02:00:00:00:01:0N).
 */
export function bridged(pods = 3, seed = 1): Lab {
  const l = new Lab(seed);
  l.n.linkAddBridge('host', 'br0', { mac: mac('02:00:00:00:00:b0') });
  l.n.linkSetUp('host', 'br0');
  l.n.addrAdd('host', 'br0', '10.0.0.1/24');
  for (let i = 1; i <= pods; i++) {
    l.n.netnsAdd(`p${i}`);
    l.n.linkAddVeth(`p${i}`, 'eth0', { name: `veth${i}`, netns: 'host' }, { mac: mac(`02:00:00:00:00:0${i}`), peerMac: mac(`02:00:00:00:01:0${i}`) });
    l.n.linkSetMaster('host', `veth${i}`, 'br0');
    l.n.linkSetUp('host', `veth${i}`);
    l.n.linkSetUp(`p${i}`, 'eth0');
    l.n.addrAdd(`p${i}`, 'eth0', `10.0.0.1${i}/24`);
  }
  return l;
}

// ── frame field readers (Ethernet at 0, IPv4 at 14) ──
export const ethType = (f: Uint8Array) => u16(f, 12);
export const ipTtl = (f: Uint8Array) => f[14 + 8];
export const ipId = (f: Uint8Array) => u16(f, 14 + 4);
export const ipFlagsOff = (f: Uint8Array) => u16(f, 14 + 6);
export const ipTot = (f: Uint8Array) => u16(f, 14 + 2);
export const ipProtoOf = (f: Uint8Array) => f[14 + 9];
export const ipSrcOf = (f: Uint8Array) => u32(f, 14 + 12);
export const ipDstOf = (f: Uint8Array) => u32(f, 14 + 16);
export const isArp = (f: Uint8Array) => ethType(f) === 0x0806;
export const arpOp = (f: Uint8Array) => u16(f, 14 + 6);
/** TCP flags byte of a frame with a 20-byte IP header. */
export const tcpFlags = (f: Uint8Array) => f[34 + 13];
