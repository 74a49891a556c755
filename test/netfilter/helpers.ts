/**
 * Test helpers for match/target modules: a PacketCtx around a real IPv4
 * frame (built with src/wire), a fake namespace (a Fib and device addresses)
 * and a fake NfOps that records every call.
 */
import { Skb } from '../../src/kernel/skb.js';
import { Fib, RT_TABLE_LOCAL } from '../../src/kernel/fib.js';
import type { NetDevice } from '../../src/kernel/device.js';
import type { Netns } from '../../src/kernel/netns.js';
import type { NfOps, PacketCtx, RejectWith, TableName, TargetVerdict } from '../../src/netfilter/types.js';
import type { ConnEntry, CtInfo, NatRange } from '../../src/netfilter/ct-types.js';
import { parseIp, setU16 } from '../../src/wire/bytes.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';

export const ip = (s: string): number => parseIp(s)!;

export interface OpsLog {
  nat: { manip: 'src' | 'dst'; range: NatRange }[];
  reject: RejectWith[];
  notrack: number;
  log: string[];
}

export function fakeOps(masqAddr = 0): { ops: NfOps; calls: OpsLog } {
  const calls: OpsLog = { nat: [], reject: [], notrack: 0, log: [] };
  const ops: NfOps = {
    natSetup(_p, manip, range): TargetVerdict { calls.nat.push({ manip, range }); return { kind: 'accept' }; },
    masqueradeAddress: () => masqAddr,
    reject(_p, how) { calls.reject.push(how); },
    notrack() { calls.notrack++; },
    log(_p, text) { calls.log.push(text); },
  };
  return { ops, calls };
}

export const dev = (name: string): NetDevice => ({ name, up: true } as unknown as NetDevice);

export interface FakeNs { fib: Fib; addrs: Map<NetDevice, number> }

/** A namespace with local addresses (a `local` route in table 255 on `dev`). */
export function fakeNs(locals: [string, NetDevice][] = []): Netns {
  const fib = new Fib();
  const addrs = new Map<NetDevice, number>();
  for (const [a, d] of locals) {
    fib.add({ dst: ip(a), prefix: 32, type: 'local', gw: 0, dev: d, scope: 'host', metric: 0, src: ip(a), proto: 'kernel', onlink: false, table: RT_TABLE_LOCAL });
    if (!addrs.has(d)) addrs.set(d, ip(a));
  }
  return { fib, devAddr: (d: NetDevice) => addrs.get(d) ?? 0 } as unknown as Netns;
}

export interface PktOpts {
  src?: string; dst?: string; proto?: number; sport?: number; dport?: number;
  tcpFlags?: number; tcpOptions?: number[]; icmpType?: number; icmpCode?: number; fragOff?: number;
  ttl?: number; mark?: number; table?: TableName; hook?: number;
  inDev?: NetDevice | null; outDev?: NetDevice | null; physIn?: NetDevice | null; physOut?: NetDevice | null; bridged?: boolean;
  ct?: ConnEntry | null; ctinfo?: CtInfo; now?: number; random?: () => number; ns?: Netns; ops?: NfOps;
}

/** A PacketCtx for an IPv4 packet (TCP 20+options / UDP 8 / ICMP 8 bytes of L4 header). */
export function pkt(o: PktOpts = {}): PacketCtx {
  const proto = o.proto ?? 6;
  const opts = o.tcpOptions ?? [];
  const l4len = proto === 6 ? 20 + ((opts.length + 3) & ~3) : 8;
  const buf = new Uint8Array(20 + l4len);
  writeIpv4Header(buf, 0, ip(o.src ?? '10.0.0.1'), ip(o.dst ?? '10.0.0.2'), proto, o.ttl ?? 64, 0, 1, true, l4len);
  if (o.fragOff) setU16(buf, 6, o.fragOff >>> 3);
  if (proto === 6 || proto === 17 || proto === 132) {
    setU16(buf, 20, o.sport ?? 1234);
    setU16(buf, 22, o.dport ?? 80);
  }
  if (proto === 6) {
    buf[32] = (l4len / 4) << 4;
    buf[33] = o.tcpFlags ?? 0x02;
    setU16(buf, 34, 64240);
    buf.set(opts, 40);
  }
  if (proto === 17) setU16(buf, 24, l4len);
  if (proto === 1) { buf[20] = o.icmpType ?? 8; buf[21] = o.icmpCode ?? 0; }
  const skb = new Skb(buf, 0, buf.length);
  skb.nh = 0;
  skb.mark = o.mark ?? 0;
  const frag = !!o.fragOff;
  return {
    skb, ns: o.ns ?? fakeNs(), table: o.table ?? 'filter', hook: o.hook ?? 1,
    inDev: o.inDev === undefined ? dev('eth0') : o.inDev, outDev: o.outDev ?? null,
    physIn: o.physIn ?? null, physOut: o.physOut ?? null, bridged: o.bridged ?? false,
    saddr: ip(o.src ?? '10.0.0.1'), daddr: ip(o.dst ?? '10.0.0.2'), proto,
    fragOff: o.fragOff ?? 0, l4: frag ? -1 : 20, l4len,
    sport: frag || proto === 1 ? 0 : o.sport ?? 1234, dport: frag || proto === 1 ? 0 : o.dport ?? 80,
    ct: o.ct ?? null, ctinfo: o.ctinfo ?? (o.ct ? 'new' : 'invalid'),
    ipsets: { has: () => false, test: () => false },
    now: o.now ?? 0, random: o.random ?? (() => 0), ops: o.ops ?? fakeOps().ops,
  };
}

export function conn(o: Partial<ConnEntry> = {}): ConnEntry {
  return {
    id: 1,
    orig: { src: ip('10.0.0.1'), dst: ip('10.0.0.2'), proto: 6, sport: 1234, dport: 80, icmpType: -1 },
    reply: { src: ip('10.0.0.2'), dst: ip('10.0.0.1'), proto: 6, sport: 80, dport: 1234, icmpType: -1 },
    status: 0, mark: 0, expires: 0, ...o,
  };
}
