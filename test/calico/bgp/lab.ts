/**
 * Machines on one underlay segment for driving BGP speakers: node n (1-based)
 * is `n<n>` with eth0 192.168.70.<10+n>/24 (or another base), up, ip_forward on.
 * Trace events go to a MemorySink; with `capture`, every frame is written to
 * pcap files (one per interface) through a CaptureSet, as `podwire run --pcap`.
 */
import { World } from '../../../src/kernel/world.js';
import { Node } from '../../../src/kernel/node.js';
import { Segment } from '../../../src/kernel/devices/nic.js';
import { MemorySink } from '../../../src/trace/render.js';
import { CaptureSet } from '../../../src/trace/capture.js';
import { parseIp } from '../../../src/wire/bytes.js';
import { S } from '../../../src/engine/time.js';

export interface BgpLab {
  w: World;
  sink: MemorySink;
  seg: Segment;
  nodes: Node[];
  ips: string[];
  captures: CaptureSet | null;
  /** Adds one more machine on the segment (index = nodes.length). */
  machine(name?: string, ip?: string): Node;
  run(seconds: number): void;
  /** Trace lines (stage + detail) of the given stage prefix. */
  lines(prefix: string, node?: string): string[];
  close(): string[];
}

export function bgpLab(n: number, opts: { seed?: number; capture?: string; base?: string; trace?: boolean; delay?: number } = {}): BgpLab {
  const w = new World(opts.seed ?? 1);
  const sink = new MemorySink();
  if (opts.trace !== false) w.trace = sink;
  const base = opts.base ?? '192.168.70';
  const seg = new Segment(`${base}.0/24`, parseIp(`${base}.0`)!, 24);
  const captures = opts.capture ? new CaptureSet({ dir: opts.capture, pcap: true, pcapng: false }) : null;
  if (captures) {
    const ifs = new Map<string, number>();
    w.tap = {
      frame(dev, skb, dir) {
        let i = ifs.get(dev.path);
        if (i === undefined) { i = captures.iface(dev.netns.node.name, dev.netns.name, dev.name); ifs.set(dev.path, i); }
        captures.record(i, w.now, skb.buf, skb.data, skb.len, dir);
      },
    };
  }
  const lab: BgpLab = {
    w, sink, seg, nodes: [], ips: [], captures,
    machine(name, ip) {
      const k = lab.nodes.length + 1;
      const node = new Node(w, name ?? `n${k}`, 'node');
      w.nodes.set(node.name, node);
      node.addNic('eth0', seg, new Uint8Array([2, 0, 0, 0, 0x70, k]), 1500, opts.delay ?? 0, 0);
      node.linkSetUp('host', 'eth0');
      const addr = ip ?? `${base}.${10 + k}`;
      node.addrAdd('host', 'eth0', `${addr}/24`);
      node.sysctlSet('host', 'net.ipv4.ip_forward', '1');
      lab.nodes.push(node);
      lab.ips.push(addr);
      return node;
    },
    run(seconds) { w.sched.run(w.now + seconds * S); },
    lines(prefix, node) {
      return sink.events.filter((e) => e.stage.startsWith(prefix) && (!node || e.node === node)).map((e) => `${e.stage} ${e.detail}`);
    },
    close() { return captures ? captures.close().files : []; },
  };
  for (let i = 0; i < n; i++) lab.machine();
  return lab;
}
