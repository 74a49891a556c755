import { describe, it, expect } from 'vitest';
import { World } from '../../src/kernel/world.js';
import { MemorySink } from '../../src/trace/render.js';
import { Vxlan } from '../../src/kernel/devices/vxlan.js';
import { NetlinkError } from '../../src/kernel/netlink.js';
import { checksum, finishChecksum, onesSum, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { u16, u32, parseMac } from '../../src/wire/bytes.js';
import { vxlanPair, VTEP, NIC } from './vxlan-topo.js';
import type { Skb } from '../../src/kernel/skb.js';

interface Seen { dev: string; dir: 'in' | 'out'; bytes: Uint8Array; id: number; innerId: number }

function lab(seed = 1) {
  const w = new World(seed);
  const sink = new MemorySink();
  w.trace = sink;
  const seen: Seen[] = [];
  const drops: { reason: string; where: string }[] = [];
  w.tap = { frame: (dev, skb: Skb, dir) => seen.push({ dev: dev.path, dir, bytes: skb.frame().slice(), id: skb.id, innerId: skb.innerId }) };
  w.onDrop = (_s, reason, where) => drops.push({ reason, where });
  const p = vxlanPair(seed, w);
  return { ...p, sink, seen, drops };
}
const hex = (b: Uint8Array, s: number, e: number) => Array.from(b.subarray(s, e), (x) => x.toString(16).padStart(2, '0')).join('');
const ip = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

describe('vxlan device: configuration', () => {
  it('logs the ip/bridge commands flanneld stands for; MTU = lower MTU − 50; fdb show text', () => {
    const l = lab();
    const cmds = l.a.configCommands();
    expect(cmds).toContain('ip link add flannel.1 address 0e:00:00:00:00:0a type vxlan id 1 local 192.168.50.1 dev eth0 dstport 8472 nolearning');
    expect(cmds).toContain('bridge fdb append 0e:00:00:00:00:0b dev flannel.1 dst 192.168.50.2 self permanent');
    expect(cmds).toContain('ip route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink');
    expect(cmds).toContain('ip neigh replace 10.244.1.0 lladdr 0e:00:00:00:00:0b dev flannel.1 nud permanent');
    expect(l.a.linkGet('host', 'flannel.1').mtu).toBe(1450);
    expect(l.a.linkGet('host', 'flannel.1').kind).toBe('vxlan');
    expect(l.a.fdbShow('host', 'flannel.1')).toEqual(['0e:00:00:00:00:0b dst 192.168.50.2 self permanent']);
    // append adds a second remote; add of an existing MAC is EEXIST
    l.a.fdbAdd('host', parseMac(VTEP.b)!, 'flannel.1', { dst: '192.168.50.9', op: 'append' });
    expect(l.a.fdbShow('host', 'flannel.1')).toEqual(['0e:00:00:00:00:0b dst 192.168.50.2 self permanent', '0e:00:00:00:00:0b dst 192.168.50.9 self permanent']);
    expect(() => l.a.fdbAdd('host', parseMac(VTEP.b)!, 'flannel.1', { dst: '192.168.50.7', op: 'add' })).toThrow(NetlinkError);
    l.a.fdbDel('host', parseMac(VTEP.b)!, 'flannel.1', { dst: '192.168.50.9' });
    expect(l.a.configCommands().at(-1)).toBe('bridge fdb del 0e:00:00:00:00:0b dev flannel.1 dst 192.168.50.9 self');
  });

  it('per-device sysctls of flannel.1: the slash form names it, the dotted form names no file (as sysctl(8))', () => {
    const l = lab();
    l.a.sysctlSet('host', 'net/ipv4/conf/flannel.1/rp_filter', '2');
    expect(l.a.sysctlGet('host', 'net/ipv4/conf/flannel.1/rp_filter')).toBe('2');
    expect(l.a.host.devConf(l.a.host.device('flannel.1')!, 'rp_filter')).toBe('2');
    expect(() => l.a.sysctlSet('host', 'net.ipv4.conf.flannel.1.rp_filter', '2')).toThrow(/cannot stat \/proc\/sys\/net\/ipv4\/conf\/flannel\/1\/rp_filter/);
    l.a.sysctlSet('host', 'net/ipv4/ip_forward', '1');
    expect(l.a.sysctlGet('host', 'net.ipv4.ip_forward')).toBe('1');
  });

  it('MTU: explicit, without a lower device, and a random MAC from the run Rng (logged)', () => {
    const l = lab();
    l.a.linkSetMtu('host', 'eth0', 9000);
    const v = l.a.linkAddVxlan('host', 'vx2', { vni: 2, dev: 'eth0', learning: false });
    expect(v.mtu).toBe(8950);
    expect(l.a.linkAddVxlan('host', 'vx3', { vni: 3, learning: false }).mtu).toBe(1500);
    expect(l.a.linkAddVxlan('host', 'vx4', { vni: 4, learning: false, mtu: 1400 }).mtu).toBe(1400);
    expect(l.a.configCommands().at(-2)).toMatch(/^ip link add vx3 address (02|06|0a|0e|[0-9a-f][26ae])(:[0-9a-f]{2}){5} type vxlan id 3 dstport 8472 nolearning$/);
    expect(l.a.configCommands().at(-1)).toMatch(/^ip link add vx4 mtu 1400 address \S+ type vxlan id 4 dstport 8472 nolearning$/);
    expect(() => l.a.linkAddVxlan('host', 'vx5', { vni: 1, learning: false })).toThrow(/EEXIST/);
    expect(() => l.a.linkAddVxlan('host', 'vx6', { vni: 1 << 24, learning: false })).toThrow(/EINVAL/);
  });
});

describe('vxlan device: data path', () => {
  it('encapsulates byte-exactly: outer Ethernet, IPv4 (TTL 64, DF clear, TOS 0), UDP 8472 with checksum, VXLAN 0x08 VNI 1', () => {
    const l = lab();
    l.a.ns('host').sockets.pingOpen({}, 7).send(ip('10.244.1.0'), 1, 56);
    l.w.sched.run();
    const innerOut = l.seen.filter((s) => s.dev === 'a/host/flannel.1' && s.dir === 'out');
    const outer = l.seen.filter((s) => s.dev === 'a/host/eth0' && s.dir === 'out' && u16(s.bytes, 12) === 0x0800);
    expect(innerOut.length).toBe(1);
    expect(outer.length).toBe(1);
    const i = innerOut[0]!.bytes, o = outer[0]!.bytes;
    expect(o.length).toBe(i.length + 50);
    // outer Ethernet: NIC MACs (resolved by ARP on the underlay)
    expect(hex(o, 0, 14)).toBe(NIC.b.replaceAll(':', '') + NIC.a.replaceAll(':', '') + '0800');
    // outer IPv4
    expect(o[14]).toBe(0x45);
    expect(o[15]).toBe(0);
    expect(u16(o, 16)).toBe(20 + 8 + 8 + i.length);
    expect(u16(o, 20)).toBe(0); // DF clear, no fragment
    expect(o[22]).toBe(64);
    expect(o[23]).toBe(17);
    expect(checksum(o, 14, 20)).toBe(0);
    expect(u32(o, 26)).toBe(ip('192.168.50.1'));
    expect(u32(o, 30)).toBe(ip('192.168.50.2'));
    // outer UDP
    const sport = u16(o, 34);
    expect(sport).toBeGreaterThanOrEqual(32768);
    expect(sport).toBeLessThan(60999);
    expect(u16(o, 36)).toBe(8472);
    expect(u16(o, 38)).toBe(8 + 8 + i.length);
    expect(u16(o, 40)).not.toBe(0);
    expect(finishChecksum(onesSum(o, 34, u16(o, 38), pseudoHeaderSum(ip('192.168.50.1'), ip('192.168.50.2'), 17, u16(o, 38))))).toBe(0);
    // VXLAN header
    expect(hex(o, 42, 50)).toBe('0800000000000100');
    // inner frame verbatim: dst = remote VTEP MAC, src = flannel.1's
    expect(hex(o, 50, o.length)).toBe(hex(i, 0, i.length));
    expect(hex(i, 0, 12)).toBe(VTEP.b.replaceAll(':', '') + VTEP.a.replaceAll(':', ''));
    // ids: the outer packet carries the inner one
    expect(outer[0]!.innerId).toBe(innerOut[0]!.id);
    expect(outer[0]!.id).not.toBe(innerOut[0]!.id);
  });

  it('decapsulates by VNI: the inner frame is received on b/flannel.1 with its own id, the reply comes back, no ARP on flannel.1', () => {
    const l = lab();
    let reply = 0;
    l.a.ns('host').sockets.pingOpen({ onReply: () => reply++ }, 7).send(ip('10.244.1.0'), 1, 56);
    l.w.sched.run();
    expect(reply).toBe(1);
    expect(l.drops).toEqual([]);
    const aOut = l.seen.find((s) => s.dev === 'a/host/flannel.1' && s.dir === 'out')!;
    const bIn = l.seen.find((s) => s.dev === 'b/host/flannel.1' && s.dir === 'in')!;
    expect(hex(bIn.bytes, 0, bIn.bytes.length)).toBe(hex(aOut.bytes, 0, aOut.bytes.length));
    expect(bIn.id).toBe(aOut.id);
    expect(l.seen.filter((s) => s.dev.endsWith('flannel.1') && u16(s.bytes, 12) === 0x0806)).toEqual([]);
    const stages = l.sink.events.filter((e) => e.dev === 'flannel.1').map((e) => `${e.node} ${e.stage}`);
    expect(stages).toContain('a dev.xmit');
    expect(stages).toContain('a vxlan.encap');
    expect(stages).toContain('b vxlan.decap');
    expect(stages).toContain('b dev.recv');
    // same flow both ways (ICMP: symmetric hash) → same source port, like the kernel
    const ports = l.seen.filter((s) => s.dev === 'a/host/eth0' && u16(s.bytes, 12) === 0x0800).map((s) => u16(s.bytes, 34));
    expect(ports.length).toBe(2);
    expect(ports[0]).toBe(ports[1]);
  });

  it('source port: a deterministic function of the inner flow; TCP directions and different flows spread', () => {
    const l = lab(3);
    const v = l.a.ns('host').device('flannel.1') as Vxlan;
    const frame = (src: string, dst: string, proto: number, sp: number, dp: number) => {
      const f = new Uint8Array(14 + 20 + 8);
      f[12] = 8; f[14] = 0x45; f[23] = proto;
      const put = (o: number, a: string) => a.split('.').forEach((x, k) => (f[o + k] = Number(x)));
      put(26, src); put(30, dst);
      f[34] = sp >> 8; f[35] = sp & 255; f[36] = dp >> 8; f[37] = dp & 255;
      return f;
    };
    const p = (src: string, dst: string, proto: number, sp: number, dp: number) => { const f = frame(src, dst, proto, sp, dp); return v.flowSrcPort(f, 0, f.length); };
    expect(p('10.244.0.2', '10.244.1.2', 6, 40000, 80)).toBe(p('10.244.0.2', '10.244.1.2', 6, 40000, 80));
    expect(p('10.244.0.2', '10.244.1.2', 6, 40000, 80)).not.toBe(p('10.244.1.2', '10.244.0.2', 6, 80, 40000));
    expect(p('10.244.0.2', '10.244.1.2', 17, 40000, 53)).toBe(p('10.244.1.2', '10.244.0.2', 17, 53, 40000));
    const set = new Set<number>();
    for (let i = 0; i < 200; i++) set.add(p('10.244.0.2', '10.244.1.2', 6, 40000 + i, 80));
    expect(set.size).toBeGreaterThan(190);
    for (const x of set) { expect(x).toBeGreaterThanOrEqual(32768); expect(x).toBeLessThan(60999); }
    // another seed, other ports (the hash is seeded from the run's Rng)
    const l2 = lab(4);
    const v2 = l2.a.ns('host').device('flannel.1') as Vxlan;
    const f = frame('10.244.0.2', '10.244.1.2', 6, 40000, 80);
    expect(v2.flowSrcPort(f, 0, f.length)).not.toBe(v.flowSrcPort(f, 0, f.length));
  });

  it('no FDB entry for the inner destination MAC and no default entry: VXLAN_NO_REMOTE; the all-zeros entry is the default', () => {
    const l = lab();
    l.a.neighReplace('host', '10.244.1.0', parseMac('0e:00:00:00:00:99')!, 'flannel.1', 'permanent');
    l.a.ns('host').sockets.pingOpen({}, 7).send(ip('10.244.1.0'), 1, 56);
    l.w.sched.run();
    expect(l.drops.map((d) => d.reason)).toEqual(['VXLAN_NO_REMOTE']);
    expect(l.drops[0]!.where).toBe('a/host/flannel.1: no FDB entry for 0e:00:00:00:00:99 on flannel.1');
    // counted as a TX drop of the device (`ip -s link show flannel.1`: TX dropped 1 on 6.18)
    expect((l.a.ns('host').device('flannel.1') as Vxlan).txDropped).toBe(1);
    l.a.fdbAdd('host', new Uint8Array(6), 'flannel.1', { dst: '192.168.50.2' });
    l.a.ns('host').sockets.pingOpen({}, 8).send(ip('10.244.1.0'), 1, 56);
    l.w.sched.run();
    // now it is sent to b, whose flannel.1 receives a frame for another MAC
    expect(l.drops.map((d) => d.reason)).toEqual(['VXLAN_NO_REMOTE', 'OTHERHOST']);
    expect(l.drops[1]!.where.startsWith('b/host/flannel.1:')).toBe(true);
  });

  it('an unknown VNI is dropped with VXLAN_VNI_NOT_FOUND and no ICMP; with no vxlan device up, 8472 is a closed port', () => {
    const l = lab();
    // b's device with VNI 1 goes; a VNI 2 device takes the port.
    l.b.linkDel('host', 'flannel.1');
    l.b.linkAddVxlan('host', 'vx2', { vni: 2, local: '192.168.50.2', dev: 'eth0', learning: false });
    l.b.linkSetUp('host', 'vx2');
    l.a.ns('host').sockets.pingOpen({}, 7).send(ip('10.244.1.0'), 1, 56);
    l.w.sched.run();
    expect(l.drops.map((d) => d.reason)).toEqual(['VXLAN_VNI_NOT_FOUND']);
    expect(l.seen.filter((s) => s.dev === 'b/host/eth0' && s.dir === 'out' && s.bytes[23] === 1)).toEqual([]);
    l.b.linkSetUp('host', 'vx2', false);
    l.a.ns('host').sockets.pingOpen({}, 8).send(ip('10.244.1.0'), 1, 56);
    l.w.sched.run();
    expect(l.drops.map((d) => d.reason)).toEqual(['VXLAN_VNI_NOT_FOUND', 'NO_SOCKET']);
    // the socket is gone with the last device up on the port: port unreachable, as on 6.18
    const icmp = l.seen.filter((s) => s.dev === 'b/host/eth0' && s.dir === 'out' && s.bytes[23] === 1);
    expect(icmp.map((s) => `${s.bytes[34]}/${s.bytes[35]}`)).toEqual(['3/3']);
  });
});
