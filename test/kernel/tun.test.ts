import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Tun, TUN_READQ_SIZE } from '../../src/kernel/devices/tun.js';
import { Skb } from '../../src/kernel/skb.js';
import { MemorySink } from '../../src/trace/render.js';
import { CaptureSet } from '../../src/trace/capture.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../../src/trace/pcap.js';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { summarize, decodeLayers } from '../../src/wire/summary.js';
import { checksum } from '../../src/wire/checksum.js';
import { parseIp, u16 } from '../../src/wire/bytes.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { itTshark, runTshark } from '../helpers/tshark.js';

const ip = (s: string) => parseIp(s)!;

/** One machine with tun0 (10.9.0.1/32, 10.9.0.0/16 dev tun0) and a pod-like netns behind a veth (10.1.0.2 via 10.1.0.1). */
function lab(opts: { attach?: boolean } = {}) {
  const w = new World(1);
  const sink = new MemorySink();
  w.trace = sink;
  const n = new Node(w, 'n', 'node');
  w.nodes.set('n', n);
  const taps: { dev: string; dir: string; bytes: Uint8Array; id: number }[] = [];
  const drops: { reason: string; where: string; id: number }[] = [];
  w.tap = { frame: (dev, skb, dir) => taps.push({ dev: dev.name, dir, bytes: skb.frame().slice(), id: skb.id }) };
  w.onDrop = (s, reason, where) => drops.push({ reason, where, id: s.id });
  const tun = n.linkAddTun('host', 'tun0');
  n.addrAdd('host', 'tun0', '10.9.0.1/32');
  n.linkSetUp('host', 'tun0');
  n.routeAdd('host', { dst: '10.9.0.0/16', dev: 'tun0', scope: 'global' });
  n.sysctlSet('host', 'net.ipv4.ip_forward', '1');
  n.netnsAdd('pod');
  n.linkAddVeth('host', 'veth0', { name: 'eth0', netns: 'pod' });
  n.addrAdd('host', 'veth0', '10.1.0.1/24');
  n.linkSetUp('host', 'veth0');
  n.addrAdd('pod', 'eth0', '10.1.0.2/24');
  n.linkSetUp('pod', 'eth0');
  n.routeAdd('pod', { dst: 'default', via: '10.1.0.1' });
  const read: Skb[] = [];
  if (opts.attach !== false) tun.attach((t) => { for (let s = t.read(); s; s = t.read()) read.push(s); });
  return { w, n, tun, sink, taps, drops, read };
}

/** An IPv4 echo reply (or request) packet without link-layer header. */
function icmpPacket(src: string, dst: string, type = 0, ttl = 64, id = 0x1234, seq = 1): Uint8Array {
  const p = new Uint8Array(20 + 8 + 8);
  p[20] = type; p[24] = id >> 8; p[25] = id & 0xff; p[27] = seq;
  const c = checksum(p, 20, 16);
  p[22] = c >> 8; p[23] = c & 0xff;
  writeIpv4Header(p, 0, ip(src), ip(dst), 1, ttl, 0, 7, false, 16);
  return p;
}

describe('tun device: what it is', () => {
  it('ip tuntap add: MTU 1500, no MAC, no L2 header (ARPHRD_NONE), NO-CARRIER until a process attaches', () => {
    const { n, tun } = lab({ attach: false });
    expect(n.configCommands()[0]).toBe('ip tuntap add dev tun0 mode tun');
    expect(tun).toBeInstanceOf(Tun);
    expect(tun.kind).toBe('tun');
    expect(tun.mtu).toBe(1500);
    expect(tun.mac.length).toBe(0);
    expect(tun.hardHeaderLen).toBe(0);
    expect(tun.linkType).toBe(LINKTYPE_RAW);
    expect(n.host.device('lo')!.linkType).toBe(LINKTYPE_ETHERNET);
    expect(tun.show()).toBe(`${tun.ifindex}: tun0: <NO-CARRIER,POINTOPOINT,MULTICAST,NOARP,UP> mtu 1500 state DOWN\n    link/none`);
    tun.attach(() => {});
    expect(tun.show()).toMatch(/<POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 state UP/);
    const t2 = n.linkAddTun('host', 'tun1', { mtu: 1472 });
    expect(t2.mtu).toBe(1472);
    expect(n.configCommands().slice(-2)).toEqual(['ip tuntap add dev tun1 mode tun', 'ip link set tun1 mtu 1472']);
    expect(() => n.linkAddTun('host', 'tun1')).toThrow(/EEXIST/);
  });

  it('no carrier: the route is used, the packet dies at the qdisc (QDISC_DROP, TX dropped, no tap)', () => {
    const { w, n, tun, taps, drops } = lab({ attach: false });
    const errs: string[] = [];
    n.ns('pod').sockets.pingOpen({ onError: (e) => errs.push(e) }).send(ip('10.9.1.5'), 1, 56);
    w.sched.run();
    expect(drops.map((d) => d.reason)).toEqual(['QDISC_DROP']);
    expect(drops[0]!.where).toBe('n/host/tun0: tun0 has no carrier (no process has it open)');
    expect(tun.txDropped).toBe(1);
    expect(tun.txPackets).toBe(0);
    expect(taps.filter((t) => t.dev === 'tun0')).toEqual([]);
    expect(errs).toEqual([]);
  });
});

describe('tun device: data path', () => {
  it('xmit: a forwarded packet reaches the reader as a bare IPv4 packet (no neighbour, tap sees raw IP)', () => {
    const { w, n, tun, taps, read, sink } = lab();
    n.ns('pod').sockets.pingOpen({}, 9).send(ip('10.9.1.5'), 1, 56);
    w.sched.run();
    expect(read.length).toBe(1);
    const f = read[0]!.frame();
    expect(f.length).toBe(84);
    expect(f[0]).toBe(0x45);
    expect(f[8]).toBe(63); // forwarded: TTL decremented
    expect(checksum(f, 0, 20)).toBe(0);
    const out = taps.filter((t) => t.dev === 'tun0' && t.dir === 'out');
    expect(out.length).toBe(1);
    expect(out[0]!.bytes).toEqual(f);
    expect(summarize(out[0]!.bytes, 0, out[0]!.bytes.length, false)).toBe('IP 10.1.0.2 > 10.9.1.5: ICMP echo request, id 9, seq 1, length 64');
    expect(n.host.neighs.size).toBe(1); // only the pod's, learned on veth0; nothing on tun0
    expect(sink.events.some((e) => e.stage === 'neigh' && e.dev === 'tun0')).toBe(false);
    expect(tun.txPackets).toBe(1);
    expect(sink.events.find((e) => e.stage === 'dev.xmit' && e.dev === 'tun0')!.detail).toBe('IP 10.1.0.2 > 10.9.1.5: ICMP echo request, id 9, seq 1, length 64');
  });

  it('a route with a gateway through the point-to-point device needs no neighbour either', () => {
    const { w, n, read } = lab();
    n.routeAdd('host', { dst: '10.77.0.0/16', via: '10.9.0.254', dev: 'tun0', onlink: true });
    n.ns('host').sockets.pingOpen({}, 3).send(ip('10.77.0.1'), 1, 8);
    w.sched.run();
    expect(read.length).toBe(1);
    expect(u16(read[0]!.frame(), 2)).toBe(36);
    // host-originated: the source is tun0's address
    expect(Array.from(read[0]!.frame().subarray(12, 16))).toEqual([10, 9, 0, 1]);
  });

  it('fragments leave the tun as raw IP fragments of at most its MTU', () => {
    const { w, n, read } = lab();
    n.linkSetMtu('host', 'tun0', 1000);
    n.ns('host').sockets.pingOpen({}, 3).send(ip('10.9.3.3'), 1, 1500);
    w.sched.run();
    expect(read.map((s) => s.len)).toEqual([996, 552]);
    expect(read.every((s) => s.frame()[0] === 0x45 && checksum(s.frame(), 0, 20) === 0)).toBe(true);
  });

  it('write: the kernel receives the packet on the tun and forwards it (Ethernet added on the veth)', () => {
    const { w, n, tun, taps, sink } = lab();
    const replies: { seq: number; from: number; ttl: number }[] = [];
    const s = n.ns('pod').sockets.pingOpen({ onReply: (seq, from, ttl) => replies.push({ seq, from, ttl }) }, 0x1234);
    expect(s).toBeTruthy();
    expect(tun.write(icmpPacket('10.9.1.5', '10.1.0.2', 0, 60), { id: 4242, flow: 'f1' })).toBeNull();
    w.sched.run();
    expect(replies).toEqual([{ seq: 1, from: ip('10.9.1.5'), ttl: 59 }]);
    const inTun = taps.find((t) => t.dev === 'tun0' && t.dir === 'in')!;
    expect(inTun.id).toBe(4242);
    expect(inTun.bytes[0]).toBe(0x45);
    const onVeth = taps.find((t) => t.dev === 'veth0' && t.dir === 'out' && u16(t.bytes, 12) === 0x0800)!;
    expect(onVeth.id).toBe(4242);
    expect(u16(onVeth.bytes, 12)).toBe(0x0800);
    expect(onVeth.bytes.length).toBe(14 + 36);
    expect(sink.events.find((e) => e.stage === 'dev.recv' && e.dev === 'tun0')!.flow).toBe('f1');
    expect(tun.rxPackets).toBe(1);
  });

  it('write errors: EINVAL for a non-IP first nibble (rx_dropped), EIO when down, EBADFD when no file is attached', () => {
    const { n, tun } = lab();
    const bad = icmpPacket('10.9.1.5', '10.1.0.2');
    bad[0] = 0x55;
    expect(tun.write(bad)).toBe('EINVAL');
    expect(tun.write(new Uint8Array(0))).toBe('EINVAL');
    expect(tun.rxDropped).toBe(2);
    n.linkSetUp('host', 'tun0', false);
    expect(tun.write(icmpPacket('10.9.1.5', '10.1.0.2'))).toBe('EIO');
    tun.detach();
    expect(tun.write(icmpPacket('10.9.1.5', '10.1.0.2'))).toBe('EBADFD');
  });

  it('a packet written in with one of our own addresses as source is refused (IP_LOCAL_SOURCE) unless accept_local', () => {
    const { w, n, tun, drops } = lab();
    const errs: string[] = [];
    n.ns('pod').sockets.pingOpen({ onError: (e) => errs.push(e) }, 0x1234);
    // an ICMP net unreachable from tun0's own address (what flanneld writes when it has no route)
    const quoted = icmpPacket('10.1.0.2', '10.9.1.5', 8);
    const p = new Uint8Array(20 + 8 + 28);
    p[20] = 3;
    p.set(quoted.subarray(0, 28), 28);
    const c = checksum(p, 20, 36);
    p[22] = c >> 8; p[23] = c & 0xff;
    writeIpv4Header(p, 0, ip('10.9.0.1'), ip('10.1.0.2'), 1, 8, 0, 0, false, 36);
    expect(tun.write(p)).toBeNull();
    w.sched.run();
    expect(drops.map((d) => `${d.reason} ${d.where}`)).toEqual(['IP_LOCAL_SOURCE n/host/tun0: source 10.9.0.1 is a local address (accept_local=0)']);
    n.sysctlSet('host', 'net/ipv4/conf/tun0/accept_local', '1');
    expect(tun.write(p)).toBeNull();
    w.sched.run();
    expect(errs).toEqual(['ENETUNREACH']);
  });

  it(`the ring holds ${TUN_READQ_SIZE} packets; more are dropped (FULL_RING) until the reader reads`, () => {
    const { n, tun, drops } = lab({ attach: false });
    let woken = 0;
    tun.attach(() => { woken++; });
    const mk = () => { const s = Skb.alloc(14 + 36); s.buf.set(icmpPacket('10.9.0.1', '10.9.1.1'), s.data + 14); s.nh = s.data + 14; return s; };
    for (let i = 0; i < TUN_READQ_SIZE + 2; i++) n.host.stack.finishOutput(mk(), tun, 0);
    expect(tun.queued).toBe(TUN_READQ_SIZE);
    expect(woken).toBe(TUN_READQ_SIZE);
    expect(drops.map((d) => d.reason)).toEqual(['FULL_RING', 'FULL_RING']);
    expect(tun.read()!.len).toBe(36);
    expect(tun.queued).toBe(TUN_READQ_SIZE - 1);
    tun.detach();
    expect(tun.queued).toBe(0);
    expect(tun.read()).toBeNull();
  });
});

describe('tun device: captures and summaries', () => {
  function capture() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-tun-'));
    const { w, n, tun } = lab();
    const cs = new CaptureSet({ dir, pcap: true, pcapng: true });
    const idx = new Map<string, number>();
    w.tap = { frame: (dev, skb, dir2) => {
      let i = idx.get(dev.path);
      if (i === undefined) { i = cs.iface(dev.netns.node.name, dev.netns.name, dev.name, dev.linkType); idx.set(dev.path, i); }
      cs.record(i, w.now, skb.buf, skb.data, skb.len, dir2);
    } };
    n.ns('pod').sockets.pingOpen({}, 0x1234).send(ip('10.9.1.5'), 1, 56);
    w.sched.run();
    tun.write(icmpPacket('10.9.1.5', '10.1.0.2', 0, 60));
    w.sched.run();
    const files = cs.close().files;
    return { dir, files, cs };
  }

  it('the tun is written with LINKTYPE_RAW (pcap header and pcapng IDB), Ethernet devices stay LINKTYPE_ETHERNET', () => {
    const { dir, cs } = capture();
    const tunPcap = readCaptureFile(path.join(dir, 'n__host__tun0.pcap'));
    expect(tunPcap.linktype).toBe(101);
    expect(tunPcap.packets.map((p) => p.data[0])).toEqual([0x45, 0x45]);
    expect(readCaptureFile(path.join(dir, 'n__host__veth0.pcap')).linktype).toBe(1);
    const ng = readCaptureFile(path.join(dir, 'all.pcapng'));
    const byName = new Map(ng.interfaces.map((i) => [i.name, i.linktype]));
    expect(byName.get('n/host/tun0')).toBe(101);
    expect(byName.get('n/host/veth0')).toBe(1);
    expect(cs.interfaces().find((i) => i.dev === 'tun0')!.linkType).toBe(101);
    expect(() => cs.iface('x', 'y', 'z', 228)).toThrow();
  });

  it('summarize / decodeLayers of a raw IP frame', () => {
    const p = icmpPacket('10.9.1.5', '10.1.0.2', 0, 60);
    expect(summarize(p, 0, p.length, false)).toBe('IP 10.9.1.5 > 10.1.0.2: ICMP echo reply, id 4660, seq 1, length 16');
    expect(decodeLayers(p, 0, p.length, false).map((l) => l.name)).toEqual(['IPv4', 'ICMP', 'Payload']);
    expect(summarize(new Uint8Array([0x60, 0, 0, 0]), 0, 4, false)).toBe('IP6, length 4');
    expect(summarize(new Uint8Array([0x10]), 0, 1, false)).toBe('ip v1');
    expect(summarize(new Uint8Array(0), 0, 0, false)).toBe('truncated');
    expect(decodeLayers(new Uint8Array([0x10]), 0, 1, false)).toEqual([{ name: 'Malformed', fields: { layer: 'IP', reason: 'IP version 1' } }]);
    // with eth (the default) the same bytes are read as an Ethernet frame
    expect(decodeLayers(p)[0]!.name).toBe('Ethernet');
  });

  itTshark('tshark reads the tun capture as raw IPv4 and finds nothing wrong', async () => {
    const { dir } = capture();
    for (const f of [path.join(dir, 'n__host__tun0.pcap'), path.join(dir, 'all.pcapng')]) {
      const out = await runTshark(['-r', f, '-n', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-e', 'frame.protocols', '-e', '_ws.expert', '-e', '_ws.malformed']);
      const lines = out.trim().split('\n').map((l) => l.split('\t'));
      if (f.endsWith('.pcap')) expect(lines.map((l) => l[0])).toEqual(['raw:ip:icmp:data', 'raw:ip:icmp']);
      else expect(lines.filter((l) => l[0]!.startsWith('raw:')).length).toBe(2);
      expect(lines.filter((l) => (l[1] ?? '') !== '' || (l[2] ?? '') !== '')).toEqual([]);
    }
  });
});
