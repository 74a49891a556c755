/**
 * The ipip device (src/kernel/devices/ipip.ts): tunl0 as the module makes it, encapsulation
 * byte by byte (outer addresses, protocol 4, TTL inherit, TOS/ECN, DF), decapsulation onto
 * tunl0 (PREROUTING sees -i tunl0), the drop cases, and tshark's decoding of the layering.
 * This kernel has no ipip module, so these are model-only checks against the kernel source.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Segment } from '../../src/kernel/devices/nic.js';
import { Ipip } from '../../src/kernel/devices/ipip.js';
import { NfHook, NfVerdict } from '../../src/kernel/hooks.js';
import { MemorySink } from '../../src/trace/render.js';
import { CaptureSet } from '../../src/trace/capture.js';
import { LINKTYPE_RAW } from '../../src/trace/pcap.js';
import { parseIp, parseMac, u16 } from '../../src/wire/bytes.js';
import { checksum } from '../../src/wire/checksum.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { Skb } from '../../src/kernel/skb.js';
import { itTshark, runTshark } from '../helpers/tshark.js';

const ip = (s: string) => parseIp(s)!;
const NODE = { a: '192.168.60.1', b: '192.168.60.2' };
const POD = { a: '10.244.1.1', b: '10.244.2.1' };
const TUN = { a: '10.244.1.0', b: '10.244.2.0' };
const BLOCK = { a: '10.244.1.0/26', b: '10.244.2.0/26' };

interface Tap { dev: string; node: string; ns: string; dir: string; bytes: Uint8Array; id: number; inner: number }

/**
 * Two nodes on one segment, Calico-style: tunl0 (mtu 1480, /32 tunnel address), one pod each
 * behind a veth with a /32 and the 169.254.1.1 default route, proxy ARP on the host end, and
 * `<remote block> via <remote node> dev tunl0 onlink`.
 */
function lab(opts: { bModule?: boolean } = {}) {
  const w = new World(3);
  w.trace = new MemorySink();
  const seg = new Segment('underlay', ip('192.168.60.0'), 24);
  const taps: Tap[] = [];
  const drops: { reason: string; where: string; id: number }[] = [];
  w.tap = { frame: (dev, skb, dir) => taps.push({ dev: dev.name, node: dev.netns.node.name, ns: dev.netns.name, dir, bytes: skb.frame().slice(), id: skb.id, inner: skb.innerId }) };
  w.onDrop = (s, reason, where) => drops.push({ reason, where, id: s.id });
  const nodes: Record<'a' | 'b', Node> = { a: new Node(w, 'a', 'node'), b: new Node(w, 'b', 'node') };
  for (const k of ['a', 'b'] as const) {
    const n = nodes[k];
    w.nodes.set(k, n);
    n.addNic('eth0', seg, parseMac(k === 'a' ? '02:00:00:00:00:0a' : '02:00:00:00:00:0b')!, 1500, 0, 0);
    n.linkSetUp('host', 'eth0');
    n.addrAdd('host', 'eth0', `${NODE[k]}/24`);
    // A default route, as every node has: proxy ARP answers for 169.254.1.1 only with a route to it.
    n.routeAdd('host', { dst: 'default', via: '192.168.60.254', dev: 'eth0' });
    n.sysctlSet('host', 'net.ipv4.ip_forward', '1');
    if (k === 'a' || opts.bModule !== false) {
      n.ipipTunl0('host');
      n.linkSetMtu('host', 'tunl0', 1480);
      n.linkSetUp('host', 'tunl0');
      n.addrAdd('host', 'tunl0', `${TUN[k]}/32`);
    }
    n.netnsAdd('pod');
    n.linkAddVeth('pod', 'eth0', { name: 'cali0', netns: 'host' }, { peerMac: parseMac('ee:ee:ee:ee:ee:ee')! });
    n.linkSetUp('host', 'cali0');
    n.sysctlSet('host', 'net.ipv4.conf.cali0.proxy_arp', '1');
    n.sysctlSet('host', 'net.ipv4.neigh.cali0.proxy_delay', '0');
    n.linkSetUp('pod', 'eth0');
    n.routeAdd('pod', { dst: '169.254.1.1/32', dev: 'eth0', scope: 'link' });
    n.routeAdd('pod', { dst: 'default', via: '169.254.1.1', dev: 'eth0' });
    n.addrAdd('pod', 'eth0', `${POD[k]}/32`);
    n.routeAdd('host', { dst: `${POD[k]}/32`, dev: 'cali0', scope: 'link' });
  }
  nodes.a.routeAdd('host', { dst: BLOCK.b, via: NODE.b, dev: 'tunl0', onlink: true });
  if (opts.bModule !== false) nodes.b.routeAdd('host', { dst: BLOCK.a, via: NODE.a, dev: 'tunl0', onlink: true });
  else nodes.b.routeAdd('host', { dst: BLOCK.a, via: NODE.a, dev: 'eth0' });
  return { w, ...nodes, taps, drops, sink: w.trace as MemorySink };
}

function ping(n: Node, netns: string, dst: string, size = 56, opts: { pmtudisc?: 'want' | 'dont' } = {}) {
  const replies: { seq: number; ttl: number }[] = [];
  const errors: string[] = [];
  const s = n.ns(netns).sockets.pingOpen({ onReply: (seq, _f, ttl) => replies.push({ seq, ttl }), onError: (e) => errors.push(e) }, 0x4242);
  if (opts.pmtudisc) s.pmtudisc = opts.pmtudisc;
  s.send(ip(dst), 1, size);
  return { replies, errors };
}

/** Sends a raw IPv4 packet (given bytes) out of `n`'s pod netns as if from a socket. */
function sendRaw(n: Node, netns: string, pkt: Uint8Array): void {
  const ns = n.ns(netns);
  const skb = Skb.alloc(14 + pkt.length);
  skb.buf.set(pkt, skb.data + 14);
  skb.nh = skb.data + 14;
  const rt = ns.stack.routeOutput(u32(pkt, 16))!;
  ns.stack.localOut(skb, rt);
}
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

function udpPacket(src: string, dst: string, o: { tos?: number; ttl?: number; df?: boolean; payload?: number } = {}): Uint8Array {
  const n = o.payload ?? 8;
  const p = new Uint8Array(28 + n);
  p[20] = 0x30; p[21] = 0x39; p[22] = 0x1f; p[23] = 0x90; p[24] = 0; p[25] = 8 + n;
  writeIpv4Header(p, 0, ip(src), ip(dst), 17, o.ttl ?? 64, o.tos ?? 0, 0x77, o.df ?? false, 8 + n);
  return p;
}

describe('tunl0: what loading the ipip module makes', () => {
  it('appears in every namespace (existing and new), down, mtu 1480, NOARP, no link layer', () => {
    const w = new World(1);
    const n = new Node(w, 'n', 'node');
    n.netnsAdd('before');
    const t = n.ipipTunl0('host');
    expect(t).toBeInstanceOf(Ipip);
    expect(t.kind).toBe('ipip');
    expect(t.fallback).toBe(true);
    expect(t.mtu).toBe(1480);
    expect(t.up).toBe(false);
    expect(t.hardHeaderLen).toBe(0);
    expect(t.linkType).toBe(LINKTYPE_RAW);
    expect(t.show()).toBe(`${t.ifindex}: tunl0@NONE: <NOARP> mtu 1480 state DOWN\n    link/ipip 0.0.0.0 brd 0.0.0.0\n    ipip any remote any local any ttl inherit nopmtudisc`);
    expect(n.ns('before').device('tunl0')).toBeInstanceOf(Ipip);
    n.netnsAdd('after');
    expect(n.ns('after').device('tunl0')).toBeInstanceOf(Ipip);
    // Loading twice changes nothing; the same device comes back.
    expect(n.ipipTunl0('host')).toBe(t);
    n.linkSetMtu('host', 'tunl0', 1480);
    n.linkSetUp('host', 'tunl0');
    n.addrAdd('host', 'tunl0', '10.244.1.0/32');
    expect(t.show()).toMatch(/<NOARP,UP,LOWER_UP> mtu 1480 state UNKNOWN/);
    // `ip link del tunl0` leaves the fallback device in place (ip_tunnel_dellink).
    n.linkDel('host', 'tunl0');
    expect(n.host.device('tunl0')).toBe(t);
    expect(n.configCommands()).toEqual([
      'ip netns add before', 'ip -n before link set lo up',
      '# modprobe ipip: tunl0 (ipip any remote any local any ttl inherit nopmtudisc, mtu 1480, down) appears in every network namespace',
      'ip netns add after', 'ip -n after link set lo up',
      'ip link set tunl0 mtu 1480', 'ip link set tunl0 up', 'ip addr add 10.244.1.0/32 dev tunl0', 'ip link del tunl0',
    ]);
  });

  it('ip link add … type ipip: point-to-point tunnels, defaults and refusals', () => {
    const n = new Node(new World(1), 'n', 'node');
    const t = n.linkAddIpip('host', 'ipip1', { remote: '192.168.9.2', local: '192.168.9.1', ttl: 10 });
    expect(n.configCommands()).toEqual([
      '# modprobe ipip: tunl0 (ipip any remote any local any ttl inherit nopmtudisc, mtu 1480, down) appears in every network namespace',
      'ip link add ipip1 type ipip remote 192.168.9.2 local 192.168.9.1 ttl 10',
    ]);
    expect(n.host.device('tunl0')).toBeInstanceOf(Ipip);
    expect(t.parms).toEqual({ local: ip('192.168.9.1'), remote: ip('192.168.9.2'), ttl: 10, tos: 0, pmtudisc: true });
    expect(t.show()).toMatch(/^\d+: ipip1@NONE: <POINTOPOINT,NOARP> mtu 1480 state DOWN\n    link\/ipip 192.168.9.1 brd 192.168.9.2\n    ipip remote 192.168.9.2 local 192.168.9.1 ttl 10$/);
    expect(() => n.linkAddIpip('host', 'ipip2', { remote: '192.168.9.2', local: '192.168.9.1' })).toThrow(/EEXIST/);
    expect(() => n.linkAddIpip('host', 'ipip3', { pmtudisc: false })).toThrow(/EEXIST.*tunl0/);
    expect(() => n.linkAddIpip('host', 'tunl0', { remote: '1.2.3.4' })).toThrow(/EEXIST/);
    expect(() => n.linkAddIpip('host', 'x', { remote: '1.2.3' })).toThrow(/EINVAL/);
    expect(() => n.linkAddIpip('host', 'x', { ttl: 300 })).toThrow(/EINVAL/);
    const t4 = n.linkAddIpip('host', 'ipip4', { remote: '192.168.9.3', tos: 'inherit', mtu: 1400, pmtudisc: false });
    expect(t4.mtu).toBe(1400);
    expect(n.configCommands().at(-1)).toBe('ip link add ipip4 mtu 1400 type ipip remote 192.168.9.3 tos inherit nopmtudisc');
    expect(() => n.linkAddIpip('host', 'ipip5', { remote: '192.168.9.4', mtu: 65509 })).toThrow(/out of range 68..65508/);
    expect(() => n.linkSetMtu('host', 'tunl0', 65509)).toThrow(/EINVAL.*65508 for an ipip device/);
    n.linkSetMtu('host', 'tunl0', 65508);
  });
});

describe('ipip encapsulation (tunl0, NBMA)', () => {
  it('pod → remote pod: outer node → node, protocol 4, TTL inherited from the forwarded inner packet, DF from the inner, TOS 0', () => {
    const { w, a, b, taps, drops } = lab();
    const r = ping(a, 'pod', POD.b);
    w.sched.run();
    expect(drops).toEqual([]);
    expect(r.replies).toEqual([{ seq: 1, ttl: 62 }]);
    // tunl0 on a transmits the bare inner packet (LINKTYPE_RAW): TTL 63 after forwarding.
    const tOut = taps.find((t) => t.node === 'a' && t.dev === 'tunl0' && t.dir === 'out')!;
    expect(tOut.bytes[0]).toBe(0x45);
    expect(tOut.bytes[8]).toBe(63);
    // eth0 on a: Ethernet + outer IPv4 + the inner packet, byte for byte.
    const eOut = taps.find((t) => t.node === 'a' && t.ns === 'host' && t.dev === 'eth0' && t.dir === 'out' && u16(t.bytes, 12) === 0x0800)!;
    const o = eOut.bytes;
    expect(o.length).toBe(14 + 20 + tOut.bytes.length);
    expect(o[14]).toBe(0x45);
    expect(o[15]).toBe(0); // tos 0, inner ECN not-ECT
    expect(u16(o, 16)).toBe(20 + tOut.bytes.length);
    expect(u16(o, 20)).toBe(0x4000); // DF copied from the ping's DF
    expect(o[22]).toBe(63); // ttl inherit: the inner TTL
    expect(o[23]).toBe(4);
    expect(checksum(o, 14, 20)).toBe(0);
    expect([...o.subarray(26, 34)]).toEqual([192, 168, 60, 1, 192, 168, 60, 2]);
    expect(o.subarray(34)).toEqual(tOut.bytes);
    expect(eOut.inner).toBe(tOut.id);
    // b receives it on eth0, decapsulates onto tunl0 ('in', the same inner bytes and id).
    const tIn = taps.find((t) => t.node === 'b' && t.dev === 'tunl0' && t.dir === 'in')!;
    expect(tIn.bytes).toEqual(tOut.bytes);
    expect(tIn.id).toBe(tOut.id);
    // The reply takes the same way back: outer b → a.
    const back = taps.find((t) => t.node === 'b' && t.ns === 'host' && t.dev === 'eth0' && t.dir === 'out' && u16(t.bytes, 12) === 0x0800)!;
    expect([...back.bytes.subarray(26, 34)]).toEqual([192, 168, 60, 2, 192, 168, 60, 1]);
    expect(back.bytes[22]).toBe(63);
    // No ARP on tunl0, ARP for the node on eth0 only; the pods ARPed for 169.254.1.1 and got ee:ee:…
    expect(taps.filter((t) => t.dev === 'tunl0' && t.bytes[0] !== 0x45)).toEqual([]);
    expect(a.ns('pod').neighs.get(a.ns('pod').device('eth0')!.ifindex * 0x1_0000_0000 + ip('169.254.1.1'))!.mac).toEqual(parseMac('ee:ee:ee:ee:ee:ee'));
    expect(a.host.device('tunl0')!.txPackets).toBe(1);
    expect(b.host.device('tunl0')!.rxPackets).toBe(1);
  });

  it('a node\'s own packet through tunl0 comes from the tunnel address; TTL 64 outside as inside', () => {
    const { w, a, taps, drops } = lab();
    const r = ping(a, 'host', POD.b);
    w.sched.run();
    expect(drops).toEqual([]);
    expect(r.replies.length).toBe(1);
    const tOut = taps.find((t) => t.node === 'a' && t.dev === 'tunl0' && t.dir === 'out')!;
    expect([...tOut.bytes.subarray(12, 16)]).toEqual([10, 244, 1, 0]);
    const eOut = taps.find((t) => t.node === 'a' && t.ns === 'host' && t.dev === 'eth0' && t.dir === 'out' && u16(t.bytes, 12) === 0x0800)!;
    expect(eOut.bytes[22]).toBe(64);
    expect(eOut.bytes[14 + 20 + 8]).toBe(64);
  });

  it('TOS: tunl0 sends tos 0 plus the inner ECN (CE as ECT(0)); a `tos inherit` tunnel copies the inner TOS', () => {
    const { w, a, taps } = lab();
    const outer = () => taps.filter((t) => t.node === 'a' && t.ns === 'host' && t.dev === 'eth0' && t.dir === 'out' && u16(t.bytes, 12) === 0x0800).at(-1)!.bytes;
    sendRaw(a, 'host', udpPacket('10.244.1.0', POD.b, { tos: 0xb8 | 1 }));
    w.sched.run();
    expect(outer()[15]).toBe(1);
    sendRaw(a, 'host', udpPacket('10.244.1.0', POD.b, { tos: 0xb8 | 3 }));
    w.sched.run();
    expect(outer()[15]).toBe(2);
    // no DF inside, nopmtudisc: no DF outside; TTL 64 inherited
    expect(u16(outer(), 20)).toBe(0);
    expect(outer()[22]).toBe(64);
    // A point-to-point tunnel with tos inherit, fixed ttl and pmtudisc.
    a.linkAddIpip('host', 'ipip1', { remote: NODE.b, local: NODE.a, ttl: 9, tos: 'inherit' });
    a.linkSetUp('host', 'ipip1');
    a.routeAdd('host', { dst: '10.99.0.0/16', dev: 'ipip1' });
    sendRaw(a, 'host', udpPacket(NODE.a, '10.99.0.1', { tos: 0xb8 | 3 }));
    w.sched.run();
    const o = outer();
    expect(o[15]).toBe(0xb8 | 2);
    expect(o[22]).toBe(9);
    expect(u16(o, 20)).toBe(0x4000); // pmtudisc: DF on every outer packet
    expect([...o.subarray(26, 34)]).toEqual([192, 168, 60, 1, 192, 168, 60, 2]);
  });

  it('PREROUTING on the receiver sees the inner packet -i tunl0 (and the outer one -i eth0)', () => {
    const { w, a, b } = lab();
    const seen: string[] = [];
    b.host.hooks.register('ipv4', NfHook.PRE_ROUTING, { name: 'probe', priority: 0, fn: (skb, st) => { seen.push(`${st.in?.name} proto ${skb.buf[skb.nh + 9]}`); return NfVerdict.ACCEPT; } });
    ping(a, 'pod', POD.b);
    w.sched.run();
    expect(seen.slice(0, 2)).toEqual(['eth0 proto 4', 'tunl0 proto 1']);
  });

  it('inner DF packet above the tunnel path MTU: ICMP fragmentation needed with mtu 1480, dropped (tx_errors)', () => {
    const { w, a, taps, drops } = lab();
    a.linkSetMtu('host', 'tunl0', 1500);
    const r = ping(a, 'pod', POD.b, 1472);
    w.sched.run();
    const t = a.host.device('tunl0') as Ipip;
    expect(t.txErrors).toBe(1);
    expect(drops.map((d) => d.reason)).toEqual(['NOT_SPECIFIED']);
    expect(drops[0]!.where).toMatch(/1500 bytes with DF exceed the tunnel path MTU 1480/);
    const icmp = taps.find((x) => x.node === 'a' && x.dev === 'cali0' && x.dir === 'out' && x.bytes[14 + 9] === 1 && x.bytes[34] === 3)!;
    expect(icmp.bytes[35]).toBe(4);
    expect(u16(icmp.bytes, 40)).toBe(1480);
    expect(r.errors).toEqual(['EMSGSIZE']);
    // Without DF the packet is fragmented by ip_output at tunl0's MTU instead.
    const r2 = ping(a, 'pod', POD.b, 1472, { pmtudisc: 'dont' });
    w.sched.run();
    expect(r2.replies.length).toBe(1);
  });
});

describe('ipip drops', () => {
  it('receiver\'s tunl0 down: ICMP port unreachable to the sender, freed (NOT_SPECIFIED)', () => {
    const { w, a, b, taps, drops } = lab();
    b.linkSetUp('host', 'tunl0', false);
    ping(a, 'pod', POD.b);
    w.sched.run();
    expect(drops[0]!.reason).toBe('NOT_SPECIFIED');
    expect(drops[0]!.where).toMatch(/^b\/host\/eth0: no ipip tunnel up for 192.168.60.1 → 192.168.60.2/);
    const err = taps.find((t) => t.node === 'b' && t.ns === 'host' && t.dev === 'eth0' && t.dir === 'out' && t.bytes[23] === 1)!;
    expect(err.bytes[34]).toBe(3);
    expect(err.bytes[35]).toBe(3);
  });

  it('no ipip module on the receiver: protocol unreachable', () => {
    const { w, a, taps, drops } = lab({ bModule: false });
    ping(a, 'pod', POD.b);
    w.sched.run();
    expect(drops[0]!.reason).toBe('UNHANDLED_PROTO');
    const err = taps.find((t) => t.node === 'b' && t.ns === 'host' && t.dev === 'eth0' && t.dir === 'out' && t.bytes[23] === 1)!;
    expect([err.bytes[34], err.bytes[35]]).toEqual([3, 2]);
  });

  it('no route to the endpoint (tx_carrier_errors), a route back into the tunnel (collisions)', () => {
    const { w, a, drops } = lab();
    const t = a.host.device('tunl0') as Ipip;
    a.routeAdd('host', { dst: '10.244.3.0/26', via: '192.168.70.5', dev: 'tunl0', onlink: true });
    a.routeAdd('host', { dst: '192.168.70.0/24', type: 'unreachable' });
    sendRaw(a, 'host', udpPacket('10.244.1.0', '10.244.3.1'));
    w.sched.run();
    expect(t.txCarrierErrors).toBe(1);
    expect(drops.at(-1)!.where).toMatch(/no route to tunnel endpoint 192.168.70.5 \(unreachable route\) \(tx_carrier_errors\)/);
    a.routeReplace('host', { dst: '192.168.70.0/24', dev: 'tunl0' });
    sendRaw(a, 'host', udpPacket('10.244.1.0', '10.244.3.1'));
    w.sched.run();
    expect(t.collisions).toBe(1);
    expect(t.txErrors).toBe(2);
    expect(drops.map((d) => d.reason)).toEqual(['NOT_SPECIFIED', 'NOT_SPECIFIED']);
    a.routeAdd('host', { dst: '10.244.4.0/26', via: '192.168.80.1', dev: 'tunl0', onlink: true });
    a.routeAdd('host', { dst: '192.168.80.0/24', type: 'blackhole' });
    sendRaw(a, 'host', udpPacket('10.244.1.0', '10.244.4.1'));
    w.sched.run();
    expect(t.txCarrierErrors).toBe(2);
  });

  it('ECN: outer CE over a not-ECT inner packet is dropped (rx_frame_errors); over ECT the inner becomes CE', () => {
    const { w, a, b, drops } = lab();
    const got: number[] = [];
    b.host.hooks.register('ipv4', NfHook.PRE_ROUTING, { name: 'probe', priority: 0, fn: (skb, st) => { if (st.in?.name === 'tunl0') got.push(skb.buf[skb.nh + 1]!); return NfVerdict.ACCEPT; } });
    // Mark the outer CE on the way: a hook on a's POSTROUTING rewrites the outer TOS.
    a.host.hooks.register('ipv4', NfHook.POST_ROUTING, { name: 'ce', priority: 0, fn: (skb) => {
      const nh = skb.nh;
      if (skb.buf[nh + 9] === 4) { skb.buf[nh + 1] |= 3; skb.buf[nh + 10] = 0; skb.buf[nh + 11] = 0; const c = checksum(skb.buf, nh, 20); skb.buf[nh + 10] = c >> 8; skb.buf[nh + 11] = c & 255; }
      return NfVerdict.ACCEPT;
    } });
    sendRaw(a, 'host', udpPacket('10.244.1.0', POD.b, { tos: 0x10 }));
    w.sched.run();
    expect((b.host.device('tunl0') as Ipip).rxFrameErrors).toBe(1);
    expect(drops[0]!.where).toMatch(/outer CE over a not-ECT inner packet/);
    sendRaw(a, 'host', udpPacket('10.244.1.0', POD.b, { tos: 0x10 | 2 }));
    w.sched.run();
    expect(got).toEqual([0x13]);
  });

  it('tunnel lookup: an exact local/remote tunnel wins over tunl0; an IPIP payload shorter than an IPv4 header is freed', () => {
    const { w, a, b, taps, drops } = lab();
    b.linkAddIpip('host', 'ipipA', { remote: NODE.a, local: NODE.b });
    b.linkSetUp('host', 'ipipA');
    b.sysctlSet('host', 'net.ipv4.conf.ipipA.rp_filter', '0');
    ping(a, 'pod', POD.b);
    w.sched.run();
    expect(taps.some((t) => t.node === 'b' && t.dev === 'ipipA' && t.dir === 'in')).toBe(true);
    expect(taps.some((t) => t.node === 'b' && t.dev === 'tunl0' && t.dir === 'in')).toBe(false);
    expect(Ipip.lookup(b.host, ip(NODE.b), ip('192.168.60.9'))!.name).toBe('tunl0');
    // A 10-byte payload after a protocol-4 header.
    const p = new Uint8Array(30);
    writeIpv4Header(p, 0, ip(NODE.a), ip(NODE.b), 4, 64, 0, 1, false, 10);
    const before = drops.length;
    sendRaw(a, 'host', p);
    w.sched.run();
    expect(drops.slice(before).map((d) => d.where)).toEqual(['b/host/eth0: IPIP payload of 10 bytes is shorter than an IPv4 header']);
  });
});

describe('ipip captures', () => {
  function capture() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-ipip-'));
    const { w, a } = lab();
    const cs = new CaptureSet({ dir, pcap: true, pcapng: true });
    const idx = new Map<string, number>();
    w.tap = { frame: (dev, skb, d) => {
      let i = idx.get(dev.path);
      if (i === undefined) { i = cs.iface(dev.netns.node.name, dev.netns.name, dev.name, dev.linkType); idx.set(dev.path, i); }
      cs.record(i, w.now, skb.buf, skb.data, skb.len, d);
    } };
    ping(a, 'pod', POD.b);
    w.sched.run();
    cs.close();
    return dir;
  }

  itTshark('tshark decodes eth0 as Ethernet / IPv4 (proto 4) / IPv4 / ICMP and tunl0 as raw IPv4, with no complaint', async () => {
    const dir = capture();
    const fields = ['-T', 'fields', '-e', 'frame.protocols', '-e', 'ip.proto', '-e', 'ip.ttl', '-e', '_ws.expert', '-e', '_ws.malformed'];
    const eth = (await runTshark(['-r', path.join(dir, 'a__host__eth0.pcap'), '-n', '-o', 'ip.check_checksum:TRUE', ...fields])).trim().split('\n').map((l) => l.split('\t'));
    const ipFrames = eth.filter((l) => l[0] !== 'eth:ethertype:arp');
    expect(ipFrames.map((l) => l[0])).toEqual(['eth:ethertype:ip:ip:icmp:data', 'eth:ethertype:ip:ip:icmp:data']);
    expect(ipFrames.map((l) => [l[1], l[2]])).toEqual([['4,1', '63,63'], ['4,1', '63,63']]);
    expect(eth.filter((l) => (l[3] ?? '') !== '' || (l[4] ?? '') !== '')).toEqual([]);
    const tun = (await runTshark(['-r', path.join(dir, 'a__host__tunl0.pcap'), '-n', '-o', 'ip.check_checksum:TRUE', ...fields])).trim().split('\n').map((l) => l.split('\t'));
    expect(tun.map((l) => l[0])).toEqual(['raw:ip:icmp:data', 'raw:ip:icmp:data']);
    expect(tun.filter((l) => (l[3] ?? '') !== '' || (l[4] ?? '') !== '')).toEqual([]);
  });
});
