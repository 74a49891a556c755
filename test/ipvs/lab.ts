/**
 * A small IPVS lab: a client namespace, a director namespace ("node") holding
 * the VIP 10.96.0.10/32 on lo (a local address, so routing delivers VIP
 * traffic locally, as kube-ipvs0 does), and two real servers rs1/rs2 each
 * behind its own veth, echoing TCP on 8080 and UDP on 5353.
 *
 *   client 10.0.1.2 ── c0 10.0.1.1 [node] s1 10.0.2.1 ── rs1 10.0.2.2
 *                                         s2 10.0.3.1 ── rs2 10.0.3.2
 */
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { MemorySink } from '../../src/trace/render.js';
import { TcpSock } from '../../src/kernel/tcp.js';
import type { DropReason, TraceEvent } from '../../src/trace/events.js';
import { parseIp, parseMac } from '../../src/wire/bytes.js';
import { ipvsOf, type Ipvs } from '../../src/ipvs/index.js';
import { CaptureSet } from '../../src/trace/capture.js';

export const ip = (s: string): number => parseIp(s)!;
export const VIP = ip('10.96.0.10');
export const RS1 = ip('10.0.2.2');
export const RS2 = ip('10.0.3.2');
export const CLIENT = ip('10.0.1.2');
export const SVC = { protocol: 'TCP' as const, addr: VIP, port: 80 };

export interface Frame { time: number; path: string; dir: 'in' | 'out'; bytes: Uint8Array; id: number }

export class IpvsLab {
  readonly w: World;
  readonly n: Node;
  readonly sink = new MemorySink();
  readonly frames: Frame[] = [];
  readonly drops: { reason: DropReason; where: string; id: number }[] = [];
  readonly ipvs: Ipvs;
  /** Bytes each real server received, by name. */
  readonly served = new Map<string, number>();

  constructor(seed = 7) {
    this.w = new World(seed);
    this.w.trace = this.sink;
    this.w.tap = { frame: (dev, skb, dir) => this.frames.push({ time: this.w.now, path: dev.path, dir, bytes: skb.frame().slice(), id: skb.id }) };
    this.w.onDrop = (skb, reason, where) => this.drops.push({ reason, where, id: skb.id });
    const n = (this.n = new Node(this.w, 'n1', 'node'));
    this.w.nodes.set('n1', n);
    for (const ns of ['client', 'node', 'rs1', 'rs2']) n.netnsAdd(ns);
    const veth = (a: string, an: string, b: string, bn: string, ma: string, mb: string) => {
      n.linkAddVeth(a, an, { name: bn, netns: b }, { mac: parseMac(ma)!, peerMac: parseMac(mb)! });
      n.linkSetUp(a, an);
      n.linkSetUp(b, bn);
    };
    veth('client', 'eth0', 'node', 'c0', '02:00:00:00:01:02', '02:00:00:00:01:01');
    veth('rs1', 'eth0', 'node', 's1', '02:00:00:00:02:02', '02:00:00:00:02:01');
    veth('rs2', 'eth0', 'node', 's2', '02:00:00:00:03:02', '02:00:00:00:03:01');
    n.addrAdd('client', 'eth0', '10.0.1.2/24');
    n.addrAdd('node', 'c0', '10.0.1.1/24');
    n.addrAdd('node', 's1', '10.0.2.1/24');
    n.addrAdd('node', 's2', '10.0.3.1/24');
    n.addrAdd('rs1', 'eth0', '10.0.2.2/24');
    n.addrAdd('rs2', 'eth0', '10.0.3.2/24');
    n.addrAdd('node', 'lo', '10.96.0.10/32');
    n.routeAdd('client', { dst: 'default', via: '10.0.1.1' });
    n.routeAdd('rs1', { dst: 'default', via: '10.0.2.1' });
    n.routeAdd('rs2', { dst: 'default', via: '10.0.3.1' });
    n.sysctlSet('node', 'net.ipv4.ip_forward', '1');
    for (const rs of ['rs1', 'rs2']) this.echoServer(rs);
    this.ipvs = ipvsOf(n, 'node');
  }

  private echoServer(name: string): void {
    const ns = this.n.ns(name);
    ns.sockets.tcpListenOn(8080, {
      onData: (s, data) => {
        this.served.set(name, (this.served.get(name) ?? 0) + data.length);
        s.send(data);
      },
      onEnd: (s) => s.close(),
    });
    ns.sockets.udpBind(5353, {
      onMessage: (data, _from, _port, reply) => {
        this.served.set(name, (this.served.get(name) ?? 0) + data.length);
        reply(data);
      },
    });
  }

  /** A TCP client in `client`: connects to VIP:80 (or `dst`), sends `bytes`, records what comes back. */
  connect(opts: { dst?: number; port?: number; sport?: number; bytes?: number; close?: boolean; from?: string } = {}): { sock: TcpSock; got: number[]; errors: string[]; closed: boolean[] } {
    const got: number[] = [];
    const errors: string[] = [];
    const closed: boolean[] = [];
    const size = opts.bytes ?? 100;
    const sock = new TcpSock(this.n.ns(opts.from ?? 'client'), {
      onConnect: (s) => s.send(new Uint8Array(size).fill(0x61)),
      onData: (s, d) => {
        got.push(d.length);
        if (opts.close !== false && got.reduce((a, b) => a + b, 0) >= size) s.close();
      },
      onClose: () => closed.push(true),
      onError: (_s, e) => errors.push(e),
    });
    const err = sock.connect(opts.dst ?? VIP, opts.port ?? 80, opts.sport);
    if (err) errors.push(err);
    return { sock, got, errors, closed };
  }

  /** Also writes every frame to per-interface pcaps (and all.pcapng) under `dir`; call `closeCaptures()` after. */
  capture(dir: string): void {
    const cs = new CaptureSet({ dir, pcap: true, pcapng: true });
    const idx = new Map<string, number>();
    const prev = this.w.tap!;
    this.w.tap = {
      frame: (dev, skb, d) => {
        prev.frame(dev, skb, d);
        let i = idx.get(dev.path);
        if (i === undefined) { i = cs.iface(dev.netns.node.name, dev.netns.name, dev.name, dev.linkType); idx.set(dev.path, i); }
        cs.record(i, this.w.now, skb.buf, skb.data, skb.len, d);
      },
    };
    this.closeCaptures = () => { cs.close(); };
  }

  closeCaptures: () => void = () => {};

  /** An echo listener on `port` in `ns` (DR/TUN real servers answer on the virtual port). */
  listen(ns: string, port: number): void {
    this.n.ns(ns).sockets.tcpListenOn(port, {
      onData: (s, data) => { this.served.set(ns, (this.served.get(ns) ?? 0) + data.length); s.send(data); },
      onEnd: (s) => s.close(),
    });
  }

  run(ns: number): void {
    this.w.sched.run(this.w.now + ns);
  }

  events(stage: string): TraceEvent[] {
    return this.sink.events.filter((e) => e.stage === stage);
  }

  /** Frames seen on one device ("netns/dev"), in one direction. */
  on(dev: string, dir: 'in' | 'out' = 'in'): Frame[] {
    return this.frames.filter((f) => f.path === `n1/${dev}` && f.dir === dir);
  }
}
