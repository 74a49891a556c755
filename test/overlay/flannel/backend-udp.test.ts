import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { World } from '../../../src/kernel/world.js';
import { MemorySink } from '../../../src/trace/render.js';
import { CaptureSet } from '../../../src/trace/capture.js';
import { Skb } from '../../../src/kernel/skb.js';
import { checksum, finishChecksum, onesSum, pseudoHeaderSum } from '../../../src/wire/checksum.js';
import { parseIp, u16 } from '../../../src/wire/bytes.js';
import { writeIpv4Header } from '../../../src/wire/ipv4.js';
import type { TraceEvent } from '../../../src/trace/events.js';
import { flannelDecTtl, flannelNetUnreachable } from '../../../src/overlay/flannel/backend-udp.js';
import { checkCapture, itTshark, runTshark } from '../../helpers/tshark.js';
import { udpLab, lease, POD, PUB } from './udp-topo.js';

const ip = (s: string) => parseIp(s)!;
const C = 5000;

interface Seen { dev: string; dir: 'in' | 'out'; bytes: Uint8Array; id: number; innerId: number; time: number }

function lab(opts: { crossingCost?: number; remotes?: boolean } = {}) {
  const w = new World(1);
  const sink = new MemorySink();
  w.trace = sink;
  const seen: Seen[] = [];
  const drops: { reason: string; where: string }[] = [];
  w.tap = { frame: (dev, skb, dir) => seen.push({ dev: dev.path, dir, bytes: skb.frame().slice(), id: skb.id, innerId: skb.innerId, time: w.now }) };
  w.onDrop = (_s, reason, where) => drops.push({ reason, where });
  const l = udpLab({ w, crossingCost: opts.crossingCost ?? C, remotes: opts.remotes });
  return { ...l, sink, seen, drops };
}

/** Pod on `from` pings `to` (seq 1 at t, seq 2 one ms later); replies with their TTL. */
function ping(l: ReturnType<typeof lab>, from: 'a' | 'b' | 'c', to: string, count = 1) {
  const replies: { seq: number; ttl: number; at: number }[] = [];
  const errors: { err: string; from: number }[] = [];
  const s = l.nodes[from].ns('pod').sockets.pingOpen({
    onReply: (seq, _f, ttl) => replies.push({ seq, ttl, at: l.w.now }),
    onError: (err, info) => errors.push({ err, from: info.from }),
  }, 0x77);
  for (let i = 1; i <= count; i++) l.w.sched.after((i - 1) * 1_000_000, () => s.send(ip(to), i, 56));
  l.w.sched.run();
  return { replies, errors };
}


/** Pod on `from` sends one UDP datagram to `to`:53 from a connected socket (so ICMP errors reach it). */
function udp(l: ReturnType<typeof lab>, from: 'a' | 'b' | 'c', to: string) {
  const errors: { err: string; from: number }[] = [];
  const s = l.nodes[from].ns('pod').sockets.udpBind(40001, { onError: (err, info) => errors.push({ err, from: info.from }) });
  s.raddr = ip(to); s.rport = 53;
  s.send(new Uint8Array(12), ip(to), 53);
  l.w.sched.run();
  return { errors };
}

const udpOut = (l: ReturnType<typeof lab>, node: string) =>
  l.seen.filter((s) => s.dev === `${node}/host/eth0` && s.dir === 'out' && u16(s.bytes, 12) === 0x0800 && s.bytes[23] === 17);
const onTun = (l: ReturnType<typeof lab>, node: string, dir: 'in' | 'out') => l.seen.filter((s) => s.dev === `${node}/host/flannel0` && s.dir === dir);
const stage = (l: ReturnType<typeof lab>, node: string, st: string): TraceEvent[] => l.sink.events.filter((e) => e.node === node && e.stage === st);

describe('flannel udp backend: configuration', () => {
  it('flannel0 as configureIface sets it up, MTU ext − 28, no kernel route per remote', () => {
    const l = lab();
    const cmds = l.nodes.a.configCommands();
    const i = cmds.indexOf('ip tuntap add dev flannel0 mode tun');
    expect(cmds.slice(i)).toEqual([
      'ip tuntap add dev flannel0 mode tun',
      'ip addr add 10.244.1.0/32 dev flannel0',
      'ip link set flannel0 mtu 1472',
      'ip link set flannel0 up',
      'ip route add 10.244.0.0/16 dev flannel0 scope global',
    ]);
    expect(l.be.a.mtu).toBe(1472);
    expect(l.be.a.type).toBe('udp');
    expect(l.be.a.backendData()).toBeUndefined();
    expect(l.be.a.tun!.mtu).toBe(1472);
    expect(l.be.a.tun!.attached).toBe(true);
    expect(l.be.a.routes()).toEqual([
      { net: ip('10.244.2.0'), prefix: 24, nextHop: ip(PUB.b), port: 8285 },
      { net: ip('10.244.3.0'), prefix: 24, nextHop: ip(PUB.c), port: 8285 },
    ]);
    expect(l.notes.filter((n) => n.node === 'a').map((n) => n.detail)).toEqual([
      'flannel0 10.244.1.0/32 mtu 1472, route 10.244.0.0/16 dev flannel0; proxy on 192.168.60.1:8285, 5000 ns per user/kernel crossing',
      'subnet added: 10.244.2.0/24 → 192.168.60.2:8285 (proxy route list: 1)',
      'subnet added: 10.244.3.0/24 → 192.168.60.3:8285 (proxy route list: 2)',
    ]);
    // a second add of the same subnet replaces its next hop
    l.be.a.addRemote({ ...lease('b'), attrs: { publicIP: ip('192.168.60.9'), backendType: 'udp' } });
    expect(l.be.a.routes()[0]!.nextHop).toBe(ip('192.168.60.9'));
    expect(l.be.a.routes().length).toBe(2);
  });
});

describe('flannel udp backend: data path', () => {
  it('pod → pod: the inner IPv4 packet, TTL decremented and checksum valid, is the payload of UDP 8285 → 8285', () => {
    const l = lab();
    const { replies } = ping(l, 'a', POD.b);
    expect(replies.map((r) => [r.seq, r.ttl])).toEqual([[1, 60]]); // 64 − forward − proxy − proxy − forward
    const inner = onTun(l, 'a', 'out')[0]!;
    expect(inner.bytes[8]).toBe(63);
    const outer = udpOut(l, 'a')[0]!;
    const o = outer.bytes, nh = 14, uh = 34;
    expect(o.length).toBe(14 + 20 + 8 + 84);
    expect(u16(o, nh + 2)).toBe(20 + 8 + 84);
    expect(o[nh + 8]).toBe(64);
    expect(u16(o, nh + 6) & 0x4000).toBe(0x4000); // DF: the socket's pmtudisc want
    expect(Array.from(o.subarray(nh + 12, nh + 20))).toEqual([192, 168, 60, 1, 192, 168, 60, 2]);
    expect(checksum(o, nh, 20)).toBe(0);
    expect([u16(o, uh), u16(o, uh + 2), u16(o, uh + 4)]).toEqual([8285, 8285, 8 + 84]);
    expect(finishChecksum(onesSum(o, uh, 92, pseudoHeaderSum(ip(PUB.a), ip(PUB.b), 17, 92)))).toBe(0);
    const payload = o.subarray(uh + 8);
    expect(payload[8]).toBe(62);
    expect(checksum(payload, 0, 20)).toBe(0);
    const expected = inner.bytes.slice();
    expect(flannelDecTtl(expected, 0)).toBe(true);
    expect(payload).toEqual(expected);
    expect(outer.innerId).toBe(inner.id);
    // on b, the packet written into flannel0 is the same packet, one TTL less, same id
    const back = onTun(l, 'b', 'in')[0]!;
    expect(back.id).toBe(inner.id);
    expect(back.bytes[8]).toBe(61);
    expect(checksum(back.bytes, 0, 20)).toBe(0);
    expect(Array.from(back.bytes.subarray(12, 20))).toEqual(Array.from(inner.bytes.subarray(12, 20)));
    expect(l.drops).toEqual([]);
  });

  it('every crossing is a trace event and costs crossingCost ns: 4 per direction, 8 per round trip', () => {
    const rtt = (cost: number) => {
      const l = lab({ crossingCost: cost });
      const { replies } = ping(l, 'a', POD.b, 2);
      return { l, rtt: replies[1]!.at - 1_000_000 };
    };
    const slow = rtt(C), fast = rtt(0);
    expect(slow.rtt - fast.rtt).toBe(8 * C);
    const l = slow.l;
    // the second echo request (ARP already resolved), on a then on b
    const xmit = l.sink.events.filter((e) => e.node === 'a' && e.dev === 'flannel0' && e.stage === 'dev.xmit')[1]!;
    const id = xmit.packetId;
    const of = (node: string, st: string) => l.sink.events.find((e) => e.node === node && e.stage === st && (e.packetId === id || e.innerId === id))!;
    const read = of('a', 'flannel.udp.read'), send = of('a', 'flannel.udp.sendto');
    expect(read.time - xmit.time).toBe(C);
    expect(send.time - read.time).toBe(C);
    expect(read.detail).toMatch(/^read 84 bytes from flannel0 \(crossing \d+, 5000 ns\): 10\.244\.2\.2 → 10\.244\.2\.0\/24 via 192\.168\.60\.2:8285$/);
    expect(send.detail).toMatch(/^sendto 192\.168\.60\.2:8285 84 bytes \(crossing \d+, 5000 ns\)$/);
    const ethOut = l.sink.events.find((e) => e.node === 'a' && e.dev === 'eth0' && e.stage === 'dev.xmit' && e.innerId === id)!;
    expect(ethOut.time).toBe(send.time);
    const ethIn = l.sink.events.find((e) => e.node === 'b' && e.dev === 'eth0' && e.stage === 'dev.recv' && e.innerId === id)!;
    const recv = of('b', 'flannel.udp.recvfrom'), write = of('b', 'flannel.udp.write');
    expect(recv.time - ethIn.time).toBe(C);
    expect(write.time - recv.time).toBe(C);
    expect(recv.detail).toMatch(/^recvfrom 192\.168\.60\.1:8285 84 bytes \(crossing \d+, 5000 ns\)$/);
    const tunIn = l.sink.events.find((e) => e.node === 'b' && e.dev === 'flannel0' && e.stage === 'dev.recv' && e.packetId === id)!;
    expect(tunIn.time).toBe(write.time);
    expect(l.be.a.crossings).toBe(8); // two requests out, two replies in
  });

  it('the proxy is one thread: packets queue behind each other\'s crossings', () => {
    const l = lab();
    const s = l.nodes.a.ns('pod').sockets.pingOpen({}, 5);
    l.w.sched.after(0, () => { s.send(ip(POD.b), 1, 8); s.send(ip(POD.c), 2, 8); s.send(ip(POD.b), 3, 8); });
    l.w.sched.run(2_000_000);
    const sends = stage(l, 'a', 'flannel.udp.sendto').slice(0, 3).map((e) => e.time);
    expect(sends[1]! - sends[0]!).toBe(2 * C);
    expect(sends[2]! - sends[1]!).toBe(2 * C);
  });

  it('route list: first match swapped to the front; delete moves the last entry into the hole', () => {
    const l = lab();
    ping(l, 'a', POD.c);
    expect(l.be.a.routes().map((r) => r.nextHop)).toEqual([ip(PUB.c), ip(PUB.b)]);
    l.be.a.addRemote({ subnet: { addr: ip('10.244.4.0'), prefix: 24 }, attrs: { publicIP: ip('192.168.60.4'), backendType: 'udp' }, expiration: 0 });
    l.be.a.removeRemote(lease('c'));
    expect(l.be.a.routes().map((r) => r.nextHop)).toEqual([ip('192.168.60.4'), ip(PUB.b)]);
    expect(l.nodes.a.host.fib.lookup(ip('10.244.4.9'))!.dev!.name).toBe('flannel0'); // no kernel route per remote
  });

  it('no route: an ICMP net unreachable (TTL 8, from the tun address) is written into flannel0 — and the kernel drops it (IP_LOCAL_SOURCE)', () => {
    const l = lab();
    expect(udp(l, 'a', '10.244.9.9').errors).toEqual([]);
    const offender = onTun(l, 'a', 'out')[0]!.bytes;
    const icmp = onTun(l, 'a', 'in')[0]!.bytes;
    expect(icmp.length).toBe(56);
    expect(Array.from(icmp.subarray(0, 20))).toEqual([0x45, 0, 0, 56, 0, 0, 0, 0, 8, 1, icmp[10], icmp[11], 10, 244, 1, 0, 10, 244, 1, 2]);
    expect(checksum(icmp, 0, 20)).toBe(0);
    expect(Array.from(icmp.subarray(20, 28))).toEqual([3, 0, icmp[22], icmp[23], 0, 0, 0, 0]);
    expect(checksum(icmp, 20, 36)).toBe(0);
    expect(icmp.subarray(28)).toEqual(offender.subarray(0, 28)); // quoted as read: TTL 63, not decremented
    expect(offender[8]).toBe(63);
    expect(l.drops.map((d) => d.reason)).toEqual(['IP_LOCAL_SOURCE']);
    expect(udpOut(l, 'a')).toEqual([]);
    expect(stage(l, 'a', 'flannel.udp.write')[0]!.detail).toMatch(/^write 56 bytes into flannel0 \(crossing 2, 5000 ns\): ICMP net unreachable from 10\.244\.1\.0 about packet #\d+$/);
    // no ICMP about ICMP: a ping to nowhere is just read and forgotten
    const q = lab();
    expect(ping(q, 'a', '10.244.9.9').errors).toEqual([]);
    expect(onTun(q, 'a', 'in')).toEqual([]);
    // with accept_local on flannel0 the pod hears of it
    const m = lab();
    m.nodes.a.sysctlSet('host', 'net/ipv4/conf/flannel0/accept_local', '1');
    expect(udp(m, 'a', '10.244.9.9').errors).toEqual([{ err: 'ENETUNREACH', from: ip('10.244.1.0') }]);
  });

  it('flanneld sends no ICMP about an ICMP error, a non-first fragment or a 60-byte header', () => {
    const p = new Uint8Array(40);
    writeIpv4Header(p, 0, ip('10.244.1.2'), ip('10.244.9.9'), 17, 64, 0, 1, false, 20);
    expect(flannelNetUnreachable(p, ip('10.244.1.0'))!.length).toBe(56);
    p[9] = 1;
    expect(flannelNetUnreachable(p, ip('10.244.1.0'))).toBeNull();
    p[9] = 17; p[7] = 1;
    expect(flannelNetUnreachable(p, ip('10.244.1.0'))).toBeNull();
    p[7] = 0; p[0] = 0x4f;
    expect(flannelNetUnreachable(p, ip('10.244.1.0'))).toBeNull();
  });

  it('removeRemote stops the traffic to that subnet (net unreachable instead)', () => {
    const l = lab();
    l.be.a.removeRemote(lease('b'));
    expect(ping(l, 'a', POD.b).replies).toEqual([]);
    udp(l, 'a', POD.b);
    expect(udpOut(l, 'a')).toEqual([]);
    expect(onTun(l, 'a', 'in')[0]!.bytes[20]).toBe(3);
    expect(ping(l, 'a', POD.c).replies.length).toBe(1);
  });

  it('TTL reaching 0 in the proxy: discarded silently, tun → udp and udp → tun', () => {
    const l = lab();
    // tun → udp: the kernel hands flannel0 a packet with TTL 1 (host-originated)
    const s = Skb.alloc(14 + 28);
    const nh = s.data + 14;
    writeIpv4Header(s.buf, nh, ip('10.244.1.0'), ip(POD.b), 17, 1, 0, 1, false, 8);
    s.nh = nh;
    l.nodes.a.host.stack.finishOutput(s, l.be.a.tun!, 0);
    l.w.sched.run();
    expect(udpOut(l, 'a')).toEqual([]);
    expect(stage(l, 'a', 'flannel.udp.discard')[0]!.detail).toMatch(/^TTL reached 0: discarded \("Discarding IP fragment 10\.244\.1\.0 -> 10\.244\.2\.2 due to zero TTL"\)$/);
    // udp → tun: c sends b a datagram carrying a TTL 1 packet, then a TTL 2 one
    const sock = l.nodes.c.host.sockets.udpBind(40000, {});
    for (const ttl of [1, 2]) {
      const p = new Uint8Array(28);
      writeIpv4Header(p, 0, ip('10.244.3.9'), ip(POD.b), 17, ttl, 0, 1, false, 8);
      sock.send(p, ip(PUB.b), 8285);
    }
    l.w.sched.run();
    expect(stage(l, 'b', 'flannel.udp.discard').map((e) => e.detail)).toEqual(['TTL reached 0: discarded']);
    const written = onTun(l, 'b', 'in');
    expect(written.length).toBe(1);
    expect(written[0]!.bytes[8]).toBe(1);
    expect(checksum(written[0]!.bytes, 0, 20)).toBe(0);
  });

  it('a datagram longer than the tun MTU is cut to flanneld\'s buffer (the kernel then drops the short packet)', () => {
    const l = lab();
    const sock = l.nodes.c.host.sockets.udpBind(40000, {});
    const p = new Uint8Array(1480);
    writeIpv4Header(p, 0, ip('10.244.3.9'), ip(POD.b), 17, 64, 0, 1, false, 1460);
    sock.send(p, ip(PUB.b), 8285);
    l.w.sched.run();
    expect(stage(l, 'b', 'flannel.udp.recvfrom')[0]!.detail).toMatch(/1480 bytes \(cut to 1472, the buffer's size\)/);
    expect(onTun(l, 'b', 'in')[0]!.bytes.length).toBe(1472);
    expect(l.drops.map((d) => d.reason)).toEqual(['PKT_TOO_SMALL']);
  });

  it('decrement_ttl\'s checksum patch equals a recomputed header checksum, carry included', () => {
    for (let seed = 0; seed < 2000; seed++) {
      const p = new Uint8Array(20);
      writeIpv4Header(p, 0, (seed * 2654435761) >>> 0, (seed * 40503 + 7) >>> 0, 17, 2 + (seed % 250), seed & 0xff, seed, (seed & 1) === 1, 0);
      const want = p.slice();
      want[8]!--;
      want[10] = 0; want[11] = 0;
      const c = checksum(want, 0, 20);
      expect(flannelDecTtl(p, 0)).toBe(true);
      expect([p[8], (p[10]! << 8) | p[11]!]).toEqual([want[8], c]);
    }
  });

  it('stop(): flannel0 loses its reader (NO-CARRIER, QDISC_DROP), port 8285 answers port unreachable', () => {
    const l = lab();
    l.be.a.stop();
    expect(l.be.a.tun!.show()).toMatch(/<NO-CARRIER,POINTOPOINT,MULTICAST,NOARP,UP>/);
    expect(ping(l, 'a', POD.b).replies).toEqual([]);
    expect(l.drops.map((d) => d.reason)).toEqual(['QDISC_DROP']);
    l.drops.length = 0;
    expect(ping(l, 'b', POD.a).replies).toEqual([]);
    expect(l.drops.map((d) => `${d.reason} ${d.where.split(':')[0]}`)).toEqual(['NO_SOCKET a/host/eth0']);
    expect(l.seen.some((s) => s.dev === 'a/host/eth0' && s.dir === 'out' && s.bytes[23] === 1 && s.bytes[34] === 3 && s.bytes[35] === 3)).toBe(true);
    expect(l.notes.at(-1)!.detail).toBe('proxy stopped: flannel0 has no reader (NO-CARRIER), UDP 8285 closed');
  });
});

describe('flannel udp backend: captures', () => {
  function captured() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-flannel-udp-'));
    const l = lab();
    const cs = new CaptureSet({ dir, pcap: true, pcapng: true });
    const idx = new Map<string, number>();
    const prev = l.w.tap!;
    l.w.tap = { frame: (dev, skb, d) => {
      prev.frame(dev, skb, d);
      let i = idx.get(dev.path);
      if (i === undefined) { i = cs.iface(dev.netns.node.name, dev.netns.name, dev.name, dev.linkType); idx.set(dev.path, i); }
      cs.record(i, l.w.now, skb.buf, skb.data, skb.len, d);
    } };
    ping(l, 'a', POD.b, 2);
    cs.close();
    return { dir, l };
  }

  it('flannel0 is LINKTYPE_RAW, eth0 Ethernet', () => {
    const { dir } = captured();
    expect(fs.readFileSync(path.join(dir, 'a__host__flannel0.pcap')).readUInt32LE(20)).toBe(101);
    expect(fs.readFileSync(path.join(dir, 'a__host__eth0.pcap')).readUInt32LE(20)).toBe(1);
  });

  itTshark('tshark -d udp.port==8285,ip decodes the inner packets with no malformed or expert errors; flannel0 reads as raw IPv4', async () => {
    const { dir } = captured();
    const ng = path.join(dir, 'all.pcapng');
    const chk = await checkCapture(ng, { decodeAs: ['udp.port==8285,ip'] });
    expect(chk.problems).toEqual([]);
    const fields = async (f: string, decode: boolean) => (await runTshark(['-r', f, '-n', ...(decode ? ['-d', 'udp.port==8285,ip'] : []), '-T', 'fields', '-e', 'frame.protocols', '-e', 'ip.ttl', '-e', 'udp.port'])).trim().split('\n');
    const eth = await fields(path.join(dir, 'a__host__eth0.pcap'), true);
    const tunnelled = eth.filter((x) => x.includes(':udp:'));
    expect(tunnelled.length).toBe(4);
    expect(tunnelled.every((x) => x.startsWith('eth:ethertype:ip:udp:ip:icmp:data\t'))).toBe(true);
    expect(tunnelled[0]).toBe('eth:ethertype:ip:udp:ip:icmp:data\t64,62\t8285,8285');
    const tun = await fields(path.join(dir, 'a__host__flannel0.pcap'), false);
    expect(tun.map((x) => x.split('\t')[0])).toEqual(['raw:ip:icmp:data', 'raw:ip:icmp:data', 'raw:ip:icmp:data', 'raw:ip:icmp:data']);
    // without the decode-as rule the payload stays opaque
    expect((await fields(path.join(dir, 'a__host__eth0.pcap'), false)).filter((x) => x.includes(':udp:'))[0]).toMatch(/^eth:ethertype:ip:udp:data\t/);
  });

  itTshark('the shipped podwire profile decodes UDP 8285 as IPv4 by itself', async () => {
    const { dir } = captured();
    const cfg = path.join(dir, 'wsconfig');
    fs.mkdirSync(path.join(cfg, 'profiles'), { recursive: true });
    fs.cpSync(new URL('../../../wireshark/profile/podwire', import.meta.url), path.join(cfg, 'profiles', 'podwire'), { recursive: true });
    const out = await runTshark(['-C', 'podwire', '-r', path.join(dir, 'a__host__eth0.pcap'), '-n', '-T', 'fields', '-e', 'frame.protocols'], { configDir: cfg });
    expect(out.trim().split('\n').filter((x) => x.includes(':udp:'))).toEqual(Array(4).fill('eth:ethertype:ip:udp:ip:icmp:data'));
    const chk = await checkCapture(path.join(dir, 'all.pcapng'), { configDir: cfg, profile: 'podwire', decodeAs: [], noChecksumPrefs: true });
    expect(chk.problems).toEqual([]);
  });
});
