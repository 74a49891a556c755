/**
 * The flannel capability as a user sees it, through observable behaviour only:
 * scenario results, captures (pcap files read back, and tshark), the machines'
 * configuration logs (`node.configCommands()`), `ip route` / `ip neigh` / `bridge fdb`
 * listings, trace events, `iptables-save` text and the object store's Node objects.
 * Nothing here reaches into the flannel agent's or backends' private structure.
 *
 *  1. one application in the three backends: same results, different wires (and tshark);
 *  2. flanneld's per-node state (vxlan / udp / host-gw), subnet.env, pod MTU, Node annotations;
 *  3. flannel's iptables rules and what they do (masquerade out, pod source kept inside);
 *  4. nodes joining and leaving (kube subnet manager; etcd leases with their 24 h TTL);
 *  5. host-gw across a router: refused routes, traffic dropped at the router;
 *  6. MTU: fragmentation needed, fragments in their own VXLAN datagrams, path MTU;
 *  7. the udp backend's user/kernel crossings and what they cost;
 *  8. bad net-conf.json through the CLI (exit 2, file:line:col).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runScenario, type RunResult } from '../../src/scenario/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { MemorySink } from '../../src/trace/render.js';
import type { TraceEvent } from '../../src/trace/events.js';
import { readCaptureFile, type CapturedPacket } from '../../src/trace/pcap-reader.js';
import { formatRoute } from '../../src/kernel/fib.js';
import { formatNeigh } from '../../src/kernel/neigh.js';
import type { Node } from '../../src/kernel/node.js';
import { iptablesSaveText } from '../../src/netfilter/index.js';
import { ipToString, macToString } from '../../src/wire/bytes.js';
import { checkCapture, describeCapture, itTshark } from '../helpers/tshark.js';

// ───────────────────────── helpers ─────────────────────────

type Backend = 'vxlan' | 'host-gw' | 'udp';
const BACKENDS: Backend[] = ['vxlan', 'host-gw', 'udp'];
const NODES = ['node-1', 'node-2', 'node-3'] as const;
const NODE_IP: Record<string, string> = { 'node-1': '192.168.1.11', 'node-2': '192.168.1.12', 'node-3': '192.168.1.13' };
/** The kube subnet manager's leases are the Node objects' podCIDRs, given in node order. */
const SUBNET: Record<string, string> = { 'node-1': '10.244.0.0', 'node-2': '10.244.1.0', 'node-3': '10.244.2.0' };

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-flannel-'));

interface Run { r: RunResult; trace: TraceEvent[]; pcap: string }

/** Runs scenario text (named as if it were `file`, so `{file: flannel/app.yaml}` resolves) with trace and captures. */
function run(text: string, tag: string, file = 'scenarios/flannel-x.yaml'): Run {
  const sink = new MemorySink();
  const pcap = path.join(TMP, tag);
  const r = runScenario(parseScenario(text, file), { trace: sink, pcapDir: pcap });
  return { r, trace: sink.events, pcap };
}
const shipped = (name: string): string => fs.readFileSync(`scenarios/${name}.yaml`, 'utf8');
/** Replaces exactly one occurrence (a variant that silently did nothing would test nothing). */
function edit(text: string, from: string, to: string): string {
  expect(text.split(from).length - 1, `"${from}" once in the scenario`).toBe(1);
  return text.replace(from, to);
}

const memo = new Map<string, Run>();
function shippedRun(name: string): Run {
  let x = memo.get(name);
  if (!x) memo.set(name, (x = run(shipped(name), name, `scenarios/${name}.yaml`)));
  return x;
}

const node = (x: Run, n: string): Node => x.r.cluster.nodes.get(n)!;
const config = (x: Run, m: string): string[] => x.r.config.find((c) => c.machine === m)!.commands;
const routes = (n: Node): string[] => n.ns('host').fib.routes(254).map(formatRoute);
const neighs = (n: Node, dev: string): string[] => [...n.ns('host').neighs.values()].filter((e) => e.dev.name === dev).map(formatNeigh);
const macOf = (n: Node, dev: string): string => macToString(n.linkGet('host', dev).mac);
const packets = (x: Run, iface: string): CapturedPacket[] => readCaptureFile(path.join(x.pcap, `${iface.replace(/\//g, '__')}.pcap`)).packets;
const stageOf = (x: Run, stage: string, nodeName?: string): TraceEvent[] => x.trace.filter((e) => e.stage === stage && (nodeName === undefined || e.node === nodeName));
const subnetEnvLine = (x: Run, n: string): string | undefined => config(x, n).find((c) => c.startsWith('# /run/flannel/subnet.env:'));

/** An IPv4 packet's fields at byte `off`. */
interface Ip { src: string; dst: string; proto: number; ttl: number; df: boolean; mf: boolean; fragOff: number; id: number; totLen: number; off: number; hl: number }
function ipAt(b: Uint8Array, off: number): Ip {
  const hl = (b[off]! & 15) * 4;
  const fo = (b[off + 6]! << 8) | b[off + 7]!;
  return {
    src: ipToString(((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0),
    dst: ipToString(((b[off + 16]! << 24) | (b[off + 17]! << 16) | (b[off + 18]! << 8) | b[off + 19]!) >>> 0),
    proto: b[off + 9]!, ttl: b[off + 8]!, df: (fo & 0x4000) !== 0, mf: (fo & 0x2000) !== 0, fragOff: (fo & 0x1fff) * 8,
    id: (b[off + 4]! << 8) | b[off + 5]!, totLen: (b[off + 2]! << 8) | b[off + 3]!, off, hl,
  };
}
const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
/** The outer IPv4 of an Ethernet frame (null for ARP and the rest). */
function outerIp(p: CapturedPacket): Ip | null {
  return u16(p.data, 12) === 0x0800 ? ipAt(p.data, 14) : null;
}
/** UDP ports of an unfragmented IPv4 packet. */
function udpPorts(b: Uint8Array, ip: Ip): { sport: number; dport: number; payload: number } | null {
  if (ip.proto !== 17 || ip.fragOff !== 0) return null;
  const o = ip.off + ip.hl;
  return { sport: u16(b, o), dport: u16(b, o + 2), payload: o + 8 };
}
/** VXLAN on UDP 8472: {vni, inner IPv4} (null otherwise). */
function vxlanInner(p: CapturedPacket): { vni: number; flags: number; innerEthType: number; inner: Ip | null } | null {
  const ip = outerIp(p);
  const u = ip && udpPorts(p.data, ip);
  if (!u || u.dport !== 8472) return null;
  const v = u.payload;
  const vni = (p.data[v + 4]! << 16) | (p.data[v + 5]! << 8) | p.data[v + 6]!;
  const eth = v + 8;
  const et = u16(p.data, eth + 12);
  return { vni, flags: p.data[v]!, innerEthType: et, inner: et === 0x0800 ? ipAt(p.data, eth + 14) : null };
}
/** flannel udp on 8285 → 8285: the raw inner IPv4 (null otherwise). */
function udpInner(p: CapturedPacket): Ip | null {
  const ip = outerIp(p);
  const u = ip && udpPorts(p.data, ip);
  if (!u || u.sport !== 8285 || u.dport !== 8285) return null;
  return ipAt(p.data, u.payload);
}
const inPodNet = (a: string): boolean => a.startsWith('10.244.');
const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;

/** A Wireshark config dir holding the shipped profile as `profiles/podwire` (wireshark/README's install step). */
function profileDir(): string {
  const d = path.join(TMP, 'wireshark-config');
  if (!fs.existsSync(path.join(d, 'profiles', 'podwire'))) {
    fs.mkdirSync(path.join(d, 'profiles'), { recursive: true });
    fs.cpSync('wireshark/profile/podwire', path.join(d, 'profiles', 'podwire'), { recursive: true });
  }
  return d;
}

// ───────────────────────── 1. three backends ─────────────────────────

describe('one application, three backends (flannel-vxlan / -host-gw / -udp)', () => {
  let runs: Record<Backend, Run>;
  beforeAll(() => {
    runs = { vxlan: shippedRun('flannel-vxlan'), 'host-gw': shippedRun('flannel-host-gw'), udp: shippedRun('flannel-udp') };
  });

  it('every item holds its expectation, with the same result and servedBy in every backend', () => {
    const view = (x: Run) => x.r.results.map((t) => ({ name: t.name, ok: t.ok, result: t.result, servedBy: t.servedBy }));
    for (const b of BACKENDS) expect(runs[b].r.results.filter((t) => !t.ok).map((t) => `${t.name}: ${t.mismatch}`), b).toEqual([]);
    expect(view(runs.vxlan).length).toBe(7);
    expect(view(runs['host-gw'])).toEqual(view(runs.vxlan));
    expect(view(runs.udp)).toEqual(view(runs.vxlan));
    // and servedBy says who answered, not just that someone did
    expect(Object.fromEntries(runs.vxlan.r.results.map((t) => [t.name, t.servedBy]))).toEqual({
      'pod-to-pod-icmp': { 'pod/default/web': 1 },
      'pod-to-pod-tcp': { 'pod/default/web': 1 },
      'pod-to-pod-udp': { 'pod/default/echo': 1 },
      'pod-to-same-node-pod': { 'pod/default/neighbour': 1 },
      'pod-to-clusterip-remote-endpoint': { 'pod/default/web': 1 },
      'pod-to-external-host': { 'host/ext': 1 },
      'node-to-remote-pod': { 'pod/default/echo': 1 },
    });
  });

  it('vxlan: node-1/eth0 carries UDP 8472 VXLAN (VNI 1) with the pods\' ICMP, TCP and UDP inside, never a bare pod address', () => {
    const ps = packets(runs.vxlan, 'node-1/host/eth0');
    const vx = ps.map(vxlanInner).filter((v) => v !== null);
    expect(vx.length).toBeGreaterThan(10);
    for (const v of vx) {
      expect(v.vni).toBe(1);
      expect(v.flags).toBe(0x08); // I flag: VNI valid
    }
    const inner = vx.map((v) => v.inner).filter((i) => i !== null);
    const between = (s: string, d: string, proto: number) => inner.some((i) => i.src === s && i.dst === d && i.proto === proto);
    expect(between('10.244.0.2', '10.244.1.2', PROTO.icmp)).toBe(true); // client → web
    expect(between('10.244.1.2', '10.244.0.2', PROTO.icmp)).toBe(true); // and the reply
    expect(between('10.244.0.2', '10.244.1.2', PROTO.tcp)).toBe(true);
    expect(between('10.244.0.2', '10.244.2.2', PROTO.udp)).toBe(true); // client → echo on node-3
    // the outer packets are between node addresses (and ext): pods are only ever inside
    for (const p of ps) {
      const ip = outerIp(p);
      if (ip) expect(inPodNet(ip.src) || inPodNet(ip.dst), `${ip.src} → ${ip.dst}`).toBe(false);
    }
    expect(ps.some((p) => udpInner(p) !== null)).toBe(false);
  });

  it('udp: node-1/eth0 carries UDP 8285 → 8285 with the raw inner IPv4 packet, no VXLAN', () => {
    const ps = packets(runs.udp, 'node-1/host/eth0');
    const inner = ps.map(udpInner).filter((i) => i !== null);
    expect(inner.length).toBeGreaterThan(10);
    for (const i of inner) expect(i.totLen).toBeGreaterThanOrEqual(20);
    const between = (s: string, d: string, proto: number) => inner.some((i) => i.src === s && i.dst === d && i.proto === proto);
    expect(between('10.244.0.2', '10.244.1.2', PROTO.icmp)).toBe(true);
    expect(between('10.244.1.2', '10.244.0.2', PROTO.icmp)).toBe(true);
    expect(between('10.244.0.2', '10.244.1.2', PROTO.tcp)).toBe(true);
    expect(between('10.244.0.2', '10.244.2.2', PROTO.udp)).toBe(true);
    expect(ps.some((p) => vxlanInner(p) !== null)).toBe(false);
    for (const p of ps) {
      const ip = outerIp(p);
      if (ip) expect(inPodNet(ip.src) || inPodNet(ip.dst), `${ip.src} → ${ip.dst}`).toBe(false);
    }
    // flannel0 has no link layer: its capture starts at the IP header (LINKTYPE_RAW)
    const tun = readCaptureFile(path.join(runs.udp.pcap, 'node-1__host__flannel0.pcap'));
    expect(tun.linktype).toBe(101);
    expect(tun.packets.length).toBeGreaterThan(0);
    expect(tun.packets.every((p) => (p.data[0]! >> 4) === 4)).toBe(true);
  });

  it('host-gw: node-1/eth0 carries the pod packets bare (pod addresses on the wire), no tunnel', () => {
    const ps = packets(runs['host-gw'], 'node-1/host/eth0');
    const ips = ps.map(outerIp).filter((i) => i !== null);
    const between = (s: string, d: string, proto: number) => ips.some((i) => i.src === s && i.dst === d && i.proto === proto);
    expect(between('10.244.0.2', '10.244.1.2', PROTO.icmp)).toBe(true);
    expect(between('10.244.1.2', '10.244.0.2', PROTO.icmp)).toBe(true);
    expect(between('10.244.0.2', '10.244.1.2', PROTO.tcp)).toBe(true);
    expect(between('10.244.0.2', '10.244.2.2', PROTO.udp)).toBe(true);
    expect(ps.some((p) => vxlanInner(p) !== null || udpInner(p) !== null)).toBe(false);
    // to node-2's pod straight to node-2's MAC (host-gw: the next hop is the node itself)
    const n2mac = macOf(node(runs['host-gw'], 'node-2'), 'eth0');
    const toWeb = ps.find((p) => { const i = outerIp(p); return i?.dst === '10.244.1.2' && i.proto === PROTO.icmp; })!;
    expect(macToString(toWeb.data.subarray(0, 6))).toBe(n2mac);
  });

  it('the three wires differ in size: the same ICMP echo is 50 bytes longer in vxlan and 28 in udp than in host-gw', () => {
    const len = (b: Backend) => {
      const ps = packets(runs[b], 'node-1/host/eth0');
      const p = ps.find((q) => {
        const o = outerIp(q);
        const i = b === 'vxlan' ? vxlanInner(q)?.inner : b === 'udp' ? udpInner(q) : o;
        return i?.src === '10.244.0.2' && i.dst === '10.244.1.2' && i.proto === PROTO.icmp;
      })!;
      return p.origLen;
    };
    expect(len('vxlan') - len('host-gw')).toBe(50);
    expect(len('udp') - len('host-gw')).toBe(28);
  });

  describe('tshark decodes the tunnels', () => {
    for (const b of ['vxlan', 'udp'] as const) {
      itTshark(`${b}: the shipped podwire profile (tshark -C podwire) decodes every inner packet, with no malformed packet or expert warning`, async () => {
        const f = path.join(runs[b].pcap, 'node-1__host__eth0.pcap');
        const o = { configDir: profileDir(), profile: 'podwire', decodeAs: [], noChecksumPrefs: true };
        const chk = await checkCapture(f, o);
        expect(chk.problems).toEqual([]);
        expect(chk.packets).toBe(packets(runs[b], 'node-1/host/eth0').length);
        const stacks = (await describeCapture(f, o)).map((d) => d.protocols.join(':'));
        const tunnel = b === 'vxlan' ? 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:' : 'eth:ethertype:ip:udp:ip:';
        for (const inner of ['icmp', 'tcp', 'udp']) expect(stacks.some((s) => s.startsWith(tunnel + inner)), `${tunnel}${inner}`).toBe(true);
        // no tunnel packet left undecoded as data
        for (const p of packets(runs[b], 'node-1/host/eth0').map((q, i) => ({ q, i }))) {
          if (b === 'vxlan' ? vxlanInner(p.q) : udpInner(p.q)) expect(stacks[p.i]!.startsWith(tunnel), `frame ${p.i + 1}: ${stacks[p.i]}`).toBe(true);
        }
      });
      itTshark(`${b}: the same with the decode-as flags instead of the profile`, async () => {
        const f = path.join(runs[b].pcap, 'node-1__host__eth0.pcap');
        const o = { configDir: path.join(TMP, 'empty-wireshark-config'), decodeAs: [b === 'vxlan' ? 'udp.port==8472,vxlan' : 'udp.port==8285,ip'] };
        fs.mkdirSync(o.configDir, { recursive: true });
        const chk = await checkCapture(f, o);
        expect(chk.problems).toEqual([]);
        const stacks = (await describeCapture(f, o)).map((d) => d.protocols.join(':'));
        const tunnel = b === 'vxlan' ? 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:' : 'eth:ethertype:ip:udp:ip:';
        for (const inner of ['icmp', 'tcp', 'udp']) expect(stacks.some((s) => s.startsWith(tunnel + inner)), `${tunnel}${inner}`).toBe(true);
      });
    }
    itTshark('without a decode-as, tshark does not see VXLAN on 8472 (why the profile exists)', async () => {
      const f = path.join(runs.vxlan.pcap, 'node-1__host__eth0.pcap');
      const dir = path.join(TMP, 'empty-wireshark-config');
      fs.mkdirSync(dir, { recursive: true });
      const stacks = (await describeCapture(f, { configDir: dir, decodeAs: [] })).map((d) => d.protocols.join(':'));
      expect(stacks.some((s) => s.includes('vxlan'))).toBe(false);
    });
  });
});

// ───────────────────────── 2. flanneld's per-node state ─────────────────────────

describe('flanneld\'s per-node state', () => {
  it('vxlan: flannel.1 as flanneld creates it, its /32, then per other node exactly neigh, fdb, route in that order', () => {
    const x = shippedRun('flannel-vxlan');
    for (const n of NODES) {
      const cmds = config(x, n);
      const me = node(x, n);
      const mac = macOf(me, 'flannel.1');
      const link = cmds.filter((c) => c.startsWith('ip link add flannel.1'));
      expect(link).toEqual([`ip link add flannel.1 address ${mac} type vxlan id 1 local ${NODE_IP[n]} dev eth0 dstport 8472 nolearning`]);
      const addr = `ip addr add ${SUBNET[n]}/32 dev flannel.1`;
      expect(cmds.filter((c) => c === addr)).toHaveLength(1);
      expect(cmds.indexOf(addr)).toBeGreaterThan(cmds.indexOf(link[0]!));
      expect(cmds.indexOf('ip link set flannel.1 up')).toBeGreaterThan(cmds.indexOf(addr));
      // every flannel.1 neigh/fdb/route command, in log order
      const perRemote = cmds.filter((c) => /^(ip neigh|bridge fdb|ip route)\b.* dev flannel\.1\b/.test(c));
      const want: string[] = [];
      for (const r of NODES) {
        if (r === n) continue;
        const rmac = macOf(node(x, r), 'flannel.1');
        const triple = [
          `ip neigh replace ${SUBNET[r]} lladdr ${rmac} dev flannel.1 nud permanent`,
          `bridge fdb replace ${rmac} dev flannel.1 dst ${NODE_IP[r]} self permanent`,
          `ip route replace ${SUBNET[r]}/24 via ${SUBNET[r]} dev flannel.1 onlink`,
        ];
        const i = perRemote.indexOf(triple[0]!);
        expect(i, `${n}: ${triple[0]}`).toBeGreaterThanOrEqual(0);
        expect(perRemote.slice(i, i + 3), `${n}: the triple for ${r}`).toEqual(triple);
        want.push(...triple);
      }
      expect([...perRemote].sort(), `${n}: nothing else, nothing twice`).toEqual([...want].sort());
      // and the live tables say the same
      for (const r of NODES) {
        if (r === n) continue;
        const rmac = macOf(node(x, r), 'flannel.1');
        expect(routes(me)).toContain(`${SUBNET[r]}/24 via ${SUBNET[r]} dev flannel.1 onlink`);
        expect(neighs(me, 'flannel.1')).toContain(`${SUBNET[r]} dev flannel.1 lladdr ${rmac} PERMANENT`);
        expect(me.fdbShow('host', 'flannel.1')).toContain(`${rmac} dst ${NODE_IP[r]} self permanent`);
      }
      expect(me.fdbShow('host', 'flannel.1')).toHaveLength(2);
      expect(me.linkGet('host', 'flannel.1').mtu).toBe(1450);
      expect(me.addrList('host', 'flannel.1')).toEqual([`${SUBNET[n]}/32`]);
    }
  });

  const env = (sub: string, mtu: number) => `# /run/flannel/subnet.env: FLANNEL_NETWORK=10.244.0.0/16 FLANNEL_SUBNET=${sub.replace(/0$/, '1')}/24 FLANNEL_MTU=${mtu} FLANNEL_IPMASQ=true`;

  for (const [b, mtu] of [['vxlan', 1450], ['udp', 1472], ['host-gw', 1500]] as const) {
    it(`${b}: subnet.env has FLANNEL_MTU=${mtu}, and every pod interface and cni0 use that MTU`, () => {
      const x = shippedRun(`flannel-${b}`);
      for (const n of NODES) {
        expect(subnetEnvLine(x, n)).toBe(env(SUBNET[n]!, mtu));
        const me = node(x, n);
        expect(me.linkGet('host', 'cni0').mtu).toBe(mtu);
        const pods = [...x.r.cluster.pods.values()].filter((p) => p.node === me);
        expect(pods.length).toBeGreaterThan(0);
        for (const p of pods) expect(me.linkGet(p.netns, 'eth0').mtu, `${n}/${p.netns}`).toBe(mtu);
      }
    });
  }

  it('subnet.env is written before the backend configures the subnet and before any pod sandbox', () => {
    const x = shippedRun('flannel-vxlan');
    const cmds = config(x, 'node-1');
    const envAt = cmds.findIndex((c) => c.startsWith('# /run/flannel/subnet.env:'));
    expect(envAt).toBeGreaterThan(cmds.findIndex((c) => c.startsWith('ip link add flannel.1')));
    expect(envAt).toBeLessThan(cmds.indexOf('ip addr add 10.244.0.0/32 dev flannel.1'));
    expect(envAt).toBeLessThan(cmds.findIndex((c) => c.startsWith('ip netns add')));
  });

  it('udp: flannel0 (tun) with the /32, MTU 1472 and one route for the whole network; no per-node kernel routes', () => {
    const x = shippedRun('flannel-udp');
    for (const n of NODES) {
      const cmds = config(x, n);
      const i = cmds.indexOf('ip tuntap add dev flannel0 mode tun');
      expect(i).toBeGreaterThanOrEqual(0);
      expect(cmds).toContain(`ip addr add ${SUBNET[n]}/32 dev flannel0`);
      expect(cmds).toContain('ip link set flannel0 mtu 1472');
      expect(cmds).toContain('ip route add 10.244.0.0/16 dev flannel0 scope global');
      const me = node(x, n);
      expect(me.linkGet('host', 'flannel0').mtu).toBe(1472);
      const flRoutes = routes(me).filter((r) => r.includes('flannel0') || r.includes('flannel.1') || /^10\.244\.\d+\.0\/24 via/.test(r));
      expect(flRoutes).toEqual(['10.244.0.0/16 dev flannel0']);
      expect(cmds.some((c) => c.includes('flannel.1'))).toBe(false);
    }
  });

  it('host-gw: per other node `S via <node IP> dev eth0`, and no tunnel device', () => {
    const x = shippedRun('flannel-host-gw');
    for (const n of NODES) {
      const cmds = config(x, n);
      const me = node(x, n);
      for (const r of NODES) {
        if (r === n) continue;
        expect(cmds.filter((c) => c === `ip route replace ${SUBNET[r]}/24 via ${NODE_IP[r]} dev eth0`)).toHaveLength(1);
        expect(routes(me)).toContain(`${SUBNET[r]}/24 via ${NODE_IP[r]} dev eth0`);
      }
      expect(cmds.some((c) => /flannel\.1|flannel0/.test(c))).toBe(false);
      expect(me.linkExists('host', 'flannel.1') || me.linkExists('host', 'flannel0')).toBe(false);
    }
  });

  it('Node objects carry flannel\'s annotations; vxlan\'s backend-data names flannel.1\'s MAC', () => {
    for (const b of BACKENDS) {
      const x = shippedRun(`flannel-${b}`);
      for (const n of NODES) {
        const obj = x.r.cluster.store.get('Node', undefined, n)!;
        expect(obj, `${b} ${n}`).toBeDefined();
        const a = (obj.metadata as { annotations: Record<string, string> }).annotations;
        expect(a['flannel.alpha.coreos.com/backend-type']).toBe(b);
        expect(a['flannel.alpha.coreos.com/public-ip']).toBe(NODE_IP[n]);
        expect(a['flannel.alpha.coreos.com/kube-subnet-manager']).toBe('true');
        expect((obj.spec as { podCIDR: string }).podCIDR).toBe(`${SUBNET[n]}/24`);
        const data = JSON.parse(a['flannel.alpha.coreos.com/backend-data']!) as unknown;
        if (b === 'vxlan') expect(data).toEqual({ VNI: 1, VtepMAC: macOf(node(x, n), 'flannel.1') });
        else expect(data).toBeNull();
      }
    }
  });
});

// ───────────────────────── 3. iptables ─────────────────────────

describe('flannel\'s iptables rules', () => {
  it('iptables-save: FLANNEL-POSTRTG (nat) after kube-proxy\'s KUBE-POSTROUTING jump, FLANNEL-FWD (filter), in flannel\'s exact text', () => {
    const x = shippedRun('flannel-vxlan');
    for (const n of NODES) {
      const save = iptablesSaveText(node(x, n), 'host');
      const tables = Object.fromEntries(save.split(/^\*/m).slice(1).map((t) => [t.split('\n')[0], t.split('\n')]));
      const nat = tables.nat as string[];
      const filter = tables.filter as string[];
      expect(nat).toContain(':FLANNEL-POSTRTG - [0:0]');
      expect(filter).toContain(':FLANNEL-FWD - [0:0]');
      const post = nat.filter((l) => l.startsWith('-A POSTROUTING '));
      expect(post).toEqual([
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      ]);
      const s = `${SUBNET[n]}/24`;
      const c = '-m comment --comment "flanneld masq"';
      expect(nat.filter((l) => l.startsWith('-A FLANNEL-POSTRTG '))).toEqual([
        `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG -s ${s} -d 10.244.0.0/16 ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d ${s} ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d ${s} ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
        `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 ${c} -j MASQUERADE --random-fully`,
      ]);
      const fwd = filter.filter((l) => l.startsWith('-A FORWARD '));
      expect(fwd[fwd.length - 1]).toBe('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD');
      expect(fwd.findIndex((l) => l.includes('-j KUBE-FORWARD'))).toBeLessThan(fwd.length - 1);
      expect(filter.filter((l) => l.startsWith('-A FLANNEL-FWD '))).toEqual([
        '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
        '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      ]);
    }
  });

  it('ipMasq: false leaves FLANNEL-POSTRTG out (FLANNEL-FWD stays) and says FLANNEL_IPMASQ=false', () => {
    const x = run(edit(shipped('flannel-vxlan'), 'network: {plugin: flannel, backend: vxlan}', 'network: {plugin: flannel, backend: vxlan, ipMasq: false}'), 'no-masq');
    const save = iptablesSaveText(node(x, 'node-1'), 'host');
    expect(save).not.toContain('FLANNEL-POSTRTG');
    expect(save).toContain('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD');
    expect(subnetEnvLine(x, 'node-1')).toMatch(/FLANNEL_IPMASQ=false$/);
    // the external host then sees the pod's own address
    const syn = packets(x, 'ext/host/eth0').map(outerIp).find((i) => i?.proto === PROTO.tcp && i.dst === '192.168.1.200');
    expect(syn?.src).toBe('10.244.0.2');
  });

  for (const b of BACKENDS) {
    it(`${b}: pod → external host is masqueraded to node-1's address; pod → pod across nodes keeps the pod source`, () => {
      const x = shippedRun(`flannel-${b}`);
      const ext = packets(x, 'ext/host/eth0').map(outerIp).filter((i) => i !== null);
      const toExt = ext.filter((i) => i.dst === '192.168.1.200' && i.proto === PROTO.tcp);
      expect(toExt.length).toBeGreaterThan(0);
      expect(new Set(toExt.map((i) => i.src))).toEqual(new Set(['192.168.1.11']));
      expect(ext.some((i) => inPodNet(i.src) || inPodNet(i.dst))).toBe(false);
      // web (node-2) and echo (node-3) see the client pod's own address
      const atWeb = packets(x, 'node-2/default.web/eth0').map((p) => outerIp(p)).filter((i) => i !== null && i.dst === '10.244.1.2');
      expect(new Set(atWeb.map((i) => i!.src))).toEqual(new Set(['10.244.0.2']));
      const atEcho = packets(x, 'node-3/default.echo/eth0').map((p) => outerIp(p)).filter((i) => i !== null && i.dst === '10.244.2.2');
      expect(new Set(atEcho.map((i) => i!.src))).toContain('10.244.0.2');
    });
  }
});

// ───────────────────────── 4. joins and leaves ─────────────────────────

describe('nodes joining and leaving (flannel-node-join-leave.yaml)', () => {
  let x: Run;
  beforeAll(() => { x = shippedRun('flannel-node-join-leave'); });

  it('the scenario\'s items hold (reply from the joined node, drop to the departed node\'s pod, REJECT without endpoints)', () => {
    expect(x.r.results.map((t) => [t.name, t.result, t.ok])).toEqual([
      ['to-joined-node', 'reply', true],
      ['to-node-before-it-leaves', 'reply', true],
      ['to-pod-of-departed-node', 'dropped', true],
      ['service-without-endpoints', 'refused', true],
    ]);
  });

  it('node-3 joining at 1 s: node-1 programs its neigh, fdb and route then (not at start-up)', () => {
    const n3mac = macOf(node(x, 'node-3'), 'flannel.1');
    const n1 = node(x, 'node-1');
    expect(routes(n1)).toContain('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
    expect(neighs(n1, 'flannel.1')).toContain(`10.244.2.0 dev flannel.1 lladdr ${n3mac} PERMANENT`);
    expect(n1.fdbShow('host', 'flannel.1')).toContain(`${n3mac} dst 192.168.1.13 self permanent`);
    const added = stageOf(x, 'flannel.vxlan', 'node-1').filter((e) => e.detail.startsWith('subnet 10.244.2.0/24 of 192.168.1.13'));
    expect(added.map((e) => e.time)).toEqual([1e9]);
    // node-3's own flanneld starts at the join, not before
    expect(stageOf(x, 'flannel.lease', 'node-3').map((e) => e.time)[0]).toBe(1e9);
    const cmds = config(x, 'node-1');
    const i = cmds.indexOf(`ip neigh replace 10.244.2.0 lladdr ${n3mac} dev flannel.1 nud permanent`);
    expect(cmds.slice(i, i + 3)).toEqual([
      `ip neigh replace 10.244.2.0 lladdr ${n3mac} dev flannel.1 nud permanent`,
      `bridge fdb replace ${n3mac} dev flannel.1 dst 192.168.1.13 self permanent`,
      'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
    ]);
    // node-3 learned both others (node-2 was still there at 1 s)
    expect(config(x, 'node-3').filter((c) => c.startsWith('ip route replace 10.244.')).sort()).toEqual([
      'ip route replace 10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink',
      'ip route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink',
    ]);
  });

  it('node-2 leaving at 3 s: node-1 and node-3 delete its three entries, and its Node object is gone', () => {
    const n2mac = macOf(node(x, 'node-2'), 'flannel.1');
    for (const n of ['node-1', 'node-3']) {
      const me = node(x, n);
      expect(routes(me).filter((r) => r.startsWith('10.244.1.0/24'))).toEqual([]);
      expect(neighs(me, 'flannel.1').filter((l) => l.startsWith('10.244.1.0 '))).toEqual([]);
      expect(me.fdbShow('host', 'flannel.1').filter((l) => l.startsWith(n2mac))).toEqual([]);
      expect(me.fdbShow('host', 'flannel.1')).toHaveLength(1); // the remaining peer only
      const cmds = config(x, n);
      expect(cmds.filter((c) => c.includes('10.244.1.0') || c.includes(n2mac)).filter((c) => /\bdel\b/.test(c))).toEqual([
        'ip neigh del 10.244.1.0 dev flannel.1',
        `bridge fdb del ${n2mac} dev flannel.1 dst 192.168.1.12 self`,
        'ip route del 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink',
      ]);
      const gone = stageOf(x, 'flannel.vxlan', n).filter((e) => e.detail.includes('10.244.1.0/24') && e.detail.includes('removed'));
      expect(gone.map((e) => e.time)).toEqual([3e9]);
    }
    expect(x.r.cluster.store.get('Node', undefined, 'node-2')).toBeUndefined();
    expect(x.r.cluster.store.get('Node', undefined, 'node-3')).toBeDefined();
  });

  describe('with subnetManager: etcd (leases with a 24 h TTL)', () => {
    const H = 3600e9;
    let y: Run;
    let n2Subnet: string;
    let n1Subnet: string;
    let n3Subnet: string;
    const has = (z: Run, n: string, s: string) => routes(node(z, n)).includes(`${s}/24 via ${s} dev flannel.1 onlink`)
      && neighs(node(z, n), 'flannel.1').some((l) => l.startsWith(`${s} `));
    beforeAll(() => {
      y = run(edit(shipped('flannel-node-join-leave'), 'network: {plugin: flannel, backend: vxlan}', 'network: {plugin: flannel, backend: vxlan, subnetManager: etcd}'), 'etcd', 'scenarios/flannel-etcd.yaml');
      const sub = (n: string) => ipToString(y.r.cluster.flannel!.agents.get(n)!.lease!.subnet.addr);
      n1Subnet = sub('node-1'); n2Subnet = sub('node-2'); n3Subnet = sub('node-3');
    });

    it('leases are flanneld\'s choice, distinct, and the pods use them', () => {
      expect(new Set([n1Subnet, n2Subnet, n3Subnet]).size).toBe(3);
      expect(subnetEnvLine(y, 'node-1')).toContain(`FLANNEL_SUBNET=${n1Subnet.replace(/0$/, '1')}/24`);
      const client = y.r.cluster.pods.get('default/client')!;
      expect(ipToString(client.ip).startsWith(n1Subnet.replace(/0$/, ''))).toBe(true);
      expect(stageOf(y, 'flannel.lease', 'node-1')[0]!.detail).toContain('(etcd subnet manager)');
    });

    it('a node leaving keeps its lease: the others keep its entries after it is gone', () => {
      expect(y.r.cluster.world.now).toBeLessThan(60e9);
      for (const n of ['node-1', 'node-3']) expect(has(y, n, n2Subnet), n).toBe(true);
      expect(y.r.cluster.flannel!.sm.leases().map((l) => ipToString(l.subnet.addr))).toContain(n2Subnet);
    });

    it('still there just before the TTL runs out (23.5 h); the live nodes renewed their leases at 23 h', () => {
      y.r.cluster.world.sched.run(23.5 * H);
      for (const n of ['node-1', 'node-3']) expect(has(y, n, n2Subnet), n).toBe(true);
      const renewed = (n: string) => stageOf(y, 'flannel.lease', n).filter((e) => e.detail.startsWith('renewed lease'));
      expect(renewed('node-1').map((e) => e.time)).toEqual([23 * H]);
      expect(renewed('node-3').map((e) => e.time)).toEqual([23 * H + 1e9]);
      expect(renewed('node-2')).toEqual([]);
    });

    // flanneld's lease is an etcd key with a 24 h TTL: etcd deletes it when the TTL runs
    // out and the watchers (every other flanneld) see the delete then.
    it('the departed node\'s lease expires at its 24 h TTL and the others remove its entries then', () => {
      y.r.cluster.world.sched.run(24 * H + 60e9);
      expect(y.r.cluster.flannel!.sm.leases().map((l) => ipToString(l.subnet.addr))).not.toContain(n2Subnet);
      for (const n of ['node-1', 'node-3']) expect(has(y, n, n2Subnet), n).toBe(false);
    });

    it('by two days in, node-2\'s entries are gone; the live nodes renew every 23 h and never lose each other', () => {
      y.r.cluster.world.sched.run(100 * H);
      for (const n of ['node-1', 'node-3']) expect(has(y, n, n2Subnet), n).toBe(false);
      expect(has(y, 'node-1', n3Subnet)).toBe(true);
      expect(has(y, 'node-3', n1Subnet)).toBe(true);
      const removed = stageOf(y, 'flannel.lease', 'node-1').filter((e) => e.detail.includes('removed'));
      expect(removed.map((e) => e.detail)).toEqual([`lease ${n2Subnet}-24 of 192.168.1.12 removed`]);
      expect(removed[0]!.time).toBeGreaterThanOrEqual(24 * H);
      const renewed = stageOf(y, 'flannel.lease', 'node-1').filter((e) => e.detail.startsWith('renewed lease'));
      expect(renewed.map((e) => e.time)).toEqual([23 * H, 46 * H, 69 * H, 92 * H]);
      expect(stageOf(y, 'flannel.lease', 'node-1').filter((e) => e.detail.includes(n3Subnet) && e.detail.includes('removed'))).toEqual([]);
      expect(y.r.cluster.flannel!.sm.leases().map((l) => ipToString(l.subnet.addr)).sort()).toEqual([n1Subnet, n3Subnet].sort());
    });
  });
});

// ───────────────────────── 5. host-gw across subnets ─────────────────────────

describe('host-gw across a router (flannel-host-gw-two-subnets.yaml)', () => {
  let x: Run;
  beforeAll(() => { x = shippedRun('flannel-host-gw-two-subnets'); });

  it('flanneld logs each refused route with the kernel\'s reason and why host-gw cannot work', () => {
    const errs = (n: string) => stageOf(x, 'flannel.host-gw', n).filter((e) => e.detail.startsWith('error: ')).map((e) => e.detail);
    for (const n of ['node-1', 'node-2']) {
      const e = errs(n);
      expect(e).toHaveLength(1);
      expect(e[0]).toContain('error adding route to 10.244.2.0/24 via 192.168.2.13 dev eth0');
      expect(e[0]).toContain('Nexthop has invalid gateway');
      expect(e[0]).toContain('192.168.2.13 is not on eth0\'s subnet 192.168.1.0/24');
    }
    const e3 = errs('node-3');
    expect(e3).toHaveLength(2);
    expect(e3[0]).toContain('error adding route to 10.244.0.0/24 via 192.168.1.11 dev eth0');
    expect(e3[1]).toContain('error adding route to 10.244.1.0/24 via 192.168.1.12 dev eth0');
    for (const d of e3) expect(d).toContain('is not on eth0\'s subnet 192.168.2.0/24');
    // refused routes are neither in the table nor in the log; the same-subnet one is in both
    const n1 = node(x, 'node-1');
    expect(routes(n1).filter((r) => r.startsWith('10.244.2.0/24'))).toEqual([]);
    expect(config(x, 'node-1').some((c) => c.startsWith('ip route replace 10.244.2.0/24'))).toBe(false);
    expect(routes(n1)).toContain('10.244.1.0/24 via 192.168.1.12 dev eth0');
    expect(routes(node(x, 'node-3')).filter((r) => r.startsWith('10.244.'))).toEqual(['10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1']);
  });

  it('pod traffic to node-3 goes to the router and dies there (IP_NOROUTE); same-subnet traffic works', () => {
    const [same, across] = x.r.results;
    expect([same!.result, same!.ok, across!.result, across!.ok]).toEqual(['reply', true, 'dropped', true]);
    const drops = x.trace.filter((e) => e.stage === 'drop' && e.flow === 'pod-to-pod-across-router');
    expect(drops.map((e) => [e.node, e.reason])).toContainEqual(['router', 'IP_NOROUTE']);
    const d = drops.find((e) => e.node === 'router')!;
    expect(d.detail).toContain('10.244.2.2');
    // nothing reached node-3
    expect(packets(x, 'node-3/host/eth0').map(outerIp).some((i) => i?.dst === '10.244.2.2')).toBe(false);
  });
});

// ───────────────────────── 6. MTU ─────────────────────────

describe('MTU (flannel-mtu.yaml)', () => {
  let x: Run;
  beforeAll(() => { x = shippedRun('flannel-mtu'); });

  it('items hold', () => {
    expect(x.r.results.map((t) => [t.name, t.result, t.ok])).toEqual([
      ['df-too-big-for-the-overlay', 'unreachable', true],
      ['no-df-fragmented', 'reply', true],
      ['pod-sends-within-its-mtu', 'reply', true],
    ]);
  });

  it('ext\'s capture has ICMP fragmentation needed from node-1 with next-hop MTU 1450, quoting the ping to the pod', () => {
    const ps = packets(x, 'ext/host/eth0');
    const fn = ps.filter((p) => { const i = outerIp(p); return i?.proto === PROTO.icmp && p.data[i.off + i.hl] === 3 && p.data[i.off + i.hl + 1] === 4; });
    expect(fn).toHaveLength(1);
    const i = outerIp(fn[0]!)!;
    expect([i.src, i.dst]).toEqual(['192.168.1.11', '192.168.1.200']);
    expect(u16(fn[0]!.data, i.off + i.hl + 6)).toBe(1450);
    const quoted = ipAt(fn[0]!.data, i.off + i.hl + 8);
    expect([quoted.src, quoted.dst, quoted.proto, quoted.df, quoted.totLen]).toEqual(['192.168.1.200', '10.244.1.2', PROTO.icmp, true, 1500]);
    // and the DF ping itself left ext whole, 1500 bytes with DF
    const first = ps.map(outerIp).find((q) => q?.dst === '10.244.1.2')!;
    expect([first.totLen, first.df]).toEqual([1500, true]);
  });

  it('the learned path MTU makes the later DF-less ping fragment at ext itself; each fragment crosses in its own VXLAN datagram', () => {
    const item = x.r.results.find((t) => t.name === 'no-df-fragmented')!;
    const inWin = (p: CapturedPacket) => p.timeNs >= item.startedAt && p.timeNs <= item.endedAt;
    expect(x.trace.filter((e) => e.stage === 'ip.pmtu' && e.node === 'ext').map((e) => e.detail)).toEqual(['path MTU to 10.244.1.2 is 1450 (for 600 s)']);
    const frag = x.trace.filter((e) => e.stage === 'ip.fragment' && e.flow === 'no-df-fragmented');
    expect(frag.find((e) => e.node === 'ext')?.detail).toBe('1500 bytes into 2 fragments for mtu 1450');
    const fromExt = packets(x, 'ext/host/eth0').filter(inWin).map(outerIp).filter((i) => i?.dst === '10.244.1.2');
    expect(fromExt.map((i) => [i!.fragOff, i!.mf, i!.df])).toEqual([[0, true, false], [1424, false, false]]);
    expect(fromExt.every((i) => i!.totLen <= 1450)).toBe(true);
    // node-1/eth0: each fragment in its own VXLAN datagram, same IP id, offsets 0 (MF) and 1424
    const vx = packets(x, 'node-1/host/eth0').filter(inWin).map(vxlanInner).filter((v) => v?.inner?.dst === '10.244.1.2' && v.inner.proto === PROTO.icmp);
    expect(vx).toHaveLength(2);
    expect(vx.map((v) => [v!.inner!.fragOff, v!.inner!.mf])).toEqual([[0, true], [1424, false]]);
    expect(vx[0]!.inner!.id).toBe(vx[1]!.inner!.id);
    expect(vx.every((v) => v!.inner!.totLen + 14 + 8 + 8 + 20 <= 1500)).toBe(true);
    // the pod's 1500-byte reply comes back as two fragments too
    const back = packets(x, 'node-1/host/eth0').filter(inWin).map(vxlanInner).filter((v) => v?.inner?.src === '10.244.1.2' && v.inner.proto === PROTO.icmp);
    expect(back.map((v) => [v!.inner!.fragOff, v!.inner!.mf])).toEqual([[0, true], [1424, false]]);
  });

  it('without a learned path MTU, the DF-less ping leaves ext whole and node-1 fragments it into two VXLAN datagrams', () => {
    const text = edit(shipped('flannel-mtu'), '    pmtuDiscovery: dont\n', '    pmtuDiscovery: dont\n');
    // drop the DF item: ext never hears of the overlay's MTU
    const noDf = text.replace(/  - name: df-too-big-for-the-overlay\n(?: {4}.*\n)+/, '');
    expect(noDf).not.toContain('df-too-big');
    const z = run(noDf, 'mtu-no-df');
    expect(z.r.results.map((t) => [t.name, t.result, t.ok])).toEqual([['no-df-fragmented', 'reply', true], ['pod-sends-within-its-mtu', 'reply', true]]);
    const out = packets(z, 'ext/host/eth0').map(outerIp).filter((i) => i?.dst === '10.244.1.2');
    expect(out[0]!.totLen).toBe(1500);
    expect([out[0]!.df, out[0]!.mf, out[0]!.fragOff]).toEqual([false, false, 0]);
    expect(z.trace.filter((e) => e.stage === 'ip.fragment' && e.flow === 'no-df-fragmented').map((e) => `${e.node}: ${e.detail}`)).toContain('node-1: 1500 bytes into 2 fragments for mtu 1450');
    expect(z.trace.some((e) => e.stage === 'ip.fragment' && e.node === 'ext')).toBe(false);
    const item = z.r.results[0]!;
    const vx = packets(z, 'node-1/host/eth0').filter((p) => p.timeNs >= item.startedAt && p.timeNs <= item.endedAt)
      .map(vxlanInner).filter((v) => v?.inner?.dst === '10.244.1.2' && v.inner.proto === PROTO.icmp);
    expect(vx).toHaveLength(2);
    expect(vx.map((v) => [v!.inner!.fragOff > 0, v!.inner!.mf])).toEqual([[false, true], [true, false]]);
    expect(vx.every((v) => v!.inner!.totLen <= 1450)).toBe(true);
  });

  it('a pod never sends more than its MTU: the 1422-byte ping crosses whole in one VXLAN datagram of 1500 bytes', () => {
    const item = x.r.results.find((t) => t.name === 'pod-sends-within-its-mtu')!;
    const vx = packets(x, 'node-1/host/eth0').filter((p) => p.timeNs >= item.startedAt && p.timeNs <= item.endedAt)
      .filter((p) => vxlanInner(p)?.inner?.dst === '10.244.1.2');
    expect(vx).toHaveLength(1);
    expect(vx[0]!.origLen).toBe(1514);
    expect(vxlanInner(vx[0]!)!.inner!.totLen).toBe(1450);
  });
});

// ───────────────────────── 7. udp backend costs ─────────────────────────

describe('the udp backend\'s user/kernel crossings', () => {
  it('a pod-to-pod ping crosses four times per direction: read, sendto on the sender, recvfrom, write on the receiver', () => {
    const x = shippedRun('flannel-udp');
    const cross = x.trace.filter((e) => e.stage.startsWith('flannel.udp.') && e.flow === 'pod-to-pod-icmp').map((e) => `${e.node} ${e.stage}`);
    expect(cross).toEqual([
      'node-1 flannel.udp.read', 'node-1 flannel.udp.sendto', 'node-2 flannel.udp.recvfrom', 'node-2 flannel.udp.write',
      'node-2 flannel.udp.read', 'node-2 flannel.udp.sendto', 'node-1 flannel.udp.recvfrom', 'node-1 flannel.udp.write',
    ]);
    // and the same for UDP to node-3
    const u = x.trace.filter((e) => e.stage.startsWith('flannel.udp.') && e.flow === 'pod-to-pod-udp').map((e) => `${e.node} ${e.stage}`);
    expect(u).toEqual([
      'node-1 flannel.udp.read', 'node-1 flannel.udp.sendto', 'node-3 flannel.udp.recvfrom', 'node-3 flannel.udp.write',
      'node-3 flannel.udp.read', 'node-3 flannel.udp.sendto', 'node-1 flannel.udp.recvfrom', 'node-1 flannel.udp.write',
    ]);
    // nothing crosses for same-node traffic or traffic leaving the pod network
    expect(x.trace.some((e) => e.stage.startsWith('flannel.udp.') && (e.flow === 'pod-to-same-node-pod' || e.flow === 'pod-to-external-host'))).toBe(false);
  });

  it('a round trip takes 8 × udpCrossingCost longer than host-gw\'s, for any cost', () => {
    const rtt = (x: Run) => Object.fromEntries(x.r.results.map((t) => [t.name, t.endedAt - t.startedAt]));
    const hg = rtt(shippedRun('flannel-host-gw'));
    const udpText = (cost: string) => edit(shipped('flannel-udp'), 'network: {plugin: flannel, backend: udp}', `network: {plugin: flannel, backend: udp, udpCrossingCost: ${cost}}`);
    for (const [cost, ns] of [['0', 0], ['1us', 1_000], ['25us', 25_000]] as const) {
      const x = run(udpText(cost), `udp-cost-${ns}`);
      const r = rtt(x);
      for (const item of ['pod-to-pod-icmp', 'pod-to-pod-udp', 'node-to-remote-pod']) expect(r[item]! - hg[item]!, `${item} at ${cost}`).toBe(8 * ns);
      expect(r['pod-to-same-node-pod']).toBe(hg['pod-to-same-node-pod']);
      expect(r['pod-to-external-host']).toBe(hg['pod-to-external-host']);
      expect(x.r.results.every((t) => t.ok)).toBe(true);
    }
    // the default (the shipped scenario) is 5 µs per crossing
    const def = rtt(shippedRun('flannel-udp'));
    expect(def['pod-to-pod-icmp']! - hg['pod-to-pod-icmp']!).toBe(8 * 5_000);
  });
});

// ───────────────────────── 8. bad input through the CLI ─────────────────────────

describe('bad flannel input through the CLI', () => {
  const DIST = 'dist/src/cli/main.js';
  const FIX = 'test/fixtures/flannel';
  function podwire(args: string[]) {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: build first (npx tsc -p tsconfig.json)`);
    return spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 60_000 });
  }
  /** A copy of flannel-vxlan.yaml whose network is `network`, in a temp dir holding `files` and its app.yaml (includes stay in the folder). */
  function scenarioWith(network: string, files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(TMP, 'cli-'));
    for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, k), v);
    fs.copyFileSync('scenarios/flannel/app.yaml', path.join(dir, 'app.yaml'));
    const text = edit(edit(shipped('flannel-vxlan'), 'network: {plugin: flannel, backend: vxlan}', `network: ${network}`),
      '{file: flannel/app.yaml}', '{file: app.yaml}');
    const f = path.join(dir, 's.yaml');
    fs.writeFileSync(f, text);
    return f;
  }
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('an unknown key in a net-conf.json file: exit 2, the JSON file\'s line:col and a suggestion', () => {
    const r = podwire(['run', `${FIX}/bad-netconf-key.yaml`]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`${FIX}/bad-key.net-conf.json:5:5: error: flannel net-conf.json: unknown key "VNl" in Backend; did you mean "VNI"? (expected one of Type, VNI, Port, MTU, GBP, Learning, DirectRouting, MacPrefix)`);
    expect(r.stdout).toBe('');
  });

  const cases: { name: string; json: string; want: (f: string, j: string) => RegExp }[] = [
    { name: 'invalid JSON', json: '{"Network": "10.244.0.0/16",\n "Backend": {"Type": "vxlan",}}\n', want: (_f, j) => new RegExp(`^${esc(j)}:2:30: error: flannel net-conf\\.json: not valid JSON \\(expected a`) },
    { name: 'a value out of range', json: '{"Network": "10.244.0.0/16", "SubnetLen": 31, "Backend": {"Type": "vxlan"}}', want: (_f, j) => new RegExp(`^${esc(j)}:1:43: error: flannel net-conf\\.json: SubnetLen`) },
    { name: 'a backend podwire does not have', json: '{"Network": "10.244.0.0/16", "Backend": {"Type": "ipip"}}', want: (_f, j) => new RegExp(`^${esc(j)}:1:50: error: flannel net-conf\\.json: backend type "ipip"`) },
    { name: 'a Network other than the pod CIDR', json: '{"Network": "10.245.0.0/16", "Backend": {"Type": "vxlan"}}', want: (f) => new RegExp(`^${esc(f)}:\\d+:\\d+: error: cluster\\.network\\.netConf: Network 10\\.245\\.0\\.0/16 differs from cluster\\.podCIDR 10\\.244\\.0\\.0/16`) },
    { name: 'an option flanneld (as modelled) refuses at start-up', json: '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "MTU": 9000}}', want: (f) => new RegExp(`^${esc(f)}:\\d+:\\d+: error: flanneld on node-1 could not start: .*mtu 9000`) },
  ];
  for (const c of cases) {
    it(`${c.name} in a {file: …} netConf: exit 2 with file:line:col`, () => {
      const f = scenarioWith('{plugin: flannel, netConf: {file: net-conf.json}}', { 'net-conf.json': c.json });
      const j = path.join(path.dirname(f), 'net-conf.json');
      const r = podwire(['run', f]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(c.want(f, j));
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('a missing net-conf.json file: exit 2 at the {file: …} in the scenario', () => {
    const f = scenarioWith('{plugin: flannel, netConf: {file: nowhere.json}}', {});
    const r = podwire(['run', f]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${esc(f)}:13:\\d+: error: cannot read flannel net-conf\\.json file ".*nowhere\\.json" \\(ENOENT\\)`));
  });

  it('the same bad key in a block-string netConf names the scenario\'s own line and column', () => {
    const f = scenarioWith('\n    plugin: flannel\n    netConf: |\n      {"Network": "10.244.0.0/16",\n       "Backend": {"Type": "vxlan", "VNl": 1}}', {});
    const r = podwire(['run', f]);
    expect(r.status).toBe(2);
    // line 13 is `network:`; the JSON's second line is line 17, the key at column 37
    expect(r.stderr.trim()).toMatch(new RegExp(`^${esc(f)}:17:37: error: flannel net-conf\\.json: unknown key "VNl" in Backend; did you mean "VNI"\\?`));
  });

  it('a good net-conf.json file runs and its options take effect (VNI 42: flannel.42, port 4789)', () => {
    const f = scenarioWith('{plugin: flannel, netConf: {file: net-conf.json}}', { 'net-conf.json': '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 42, "Port": 4789}}' });
    const r = podwire(['run', f, '--show-config', '-q']);
    expect(r.stdout).toMatch(/^ip link add flannel\.42 address \S+ type vxlan id 42 local 192\.168\.1\.11 dev eth0 dstport 4789 nolearning$/m);
    // the only failure: the ICMP item's expected path names flannel.1, the device is now flannel.42
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('FAIL'))).toEqual([expect.stringMatching(/^FAIL pod-to-pod-icmp: reply \(expected reply\)/)]);
  });
});
