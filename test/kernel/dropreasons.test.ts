/**
 * Every drop reason the kernel model produces, each from a minimal situation,
 * asserted by name. (BLACKHOLE, UNREACHABLE, IP_NOROUTE: fib.test.ts;
 * MAC_INVALID_SOURCE, BRIDGE_INGRESS_STP_STATE, NOT_SPECIFIED: bridge.test.ts;
 * NEIGH_FAILED: neigh.test.ts; TTL_EXPIRED, PKT_TOO_BIG, IP_INADDRERRORS,
 * OTHERHOST, IP_CSUM: ipv4.test.ts; NO_SOCKET: sockets.test.ts. They are
 * repeated here in one table so a new reason shows up in one place.)
 */
import { describe, it, expect } from 'vitest';
import { NfHook, NfVerdict } from '../../src/kernel/hooks.js';
import { TcpSock } from '../../src/kernel/tcp.js';
import { Skb } from '../../src/kernel/skb.js';
import type { DropReason } from '../../src/trace/events.js';
import { setU16 } from '../../src/wire/bytes.js';
import { checksum } from '../../src/wire/checksum.js';
import { pair, routed, bridged, ip, mac, Lab } from './topo.js';

const S = 1_000_000_000;
const fixIp = (skb: Skb) => { setU16(skb.buf, skb.nh + 10, 0); setU16(skb.buf, skb.nh + 10, checksum(skb.buf, skb.nh, 20)); };
const ping = (l: Lab, ns: string, dst: string, patch?: (skb: Skb) => void, size = 56) =>
  l.n.ns(ns).sockets.pingOpen({}).send(ip(dst), 1, size, undefined, patch);

const cases: [DropReason, () => Lab][] = [
  ['BLACKHOLE', () => { const l = routed(); l.n.routeAdd('r', { dst: '10.9.0.0/16', type: 'blackhole' }); ping(l, 'a', '10.9.0.1'); return l; }],
  ['UNREACHABLE', () => { const l = routed(); l.n.routeAdd('r', { dst: '10.9.0.0/16', type: 'prohibit' }); ping(l, 'a', '10.9.0.1'); return l; }],
  ['IP_NOROUTE', () => { const l = routed(); l.n.linkSetUp('r', 'rb', false); ping(l, 'a', '10.0.2.2'); return l; }],
  ['IP_INADDRERRORS', () => { const l = routed(); l.n.sysctlSet('r', 'net.ipv4.ip_forward', '0'); ping(l, 'a', '10.0.2.2'); return l; }],
  ['TTL_EXPIRED', () => { const l = routed(); ping(l, 'a', '10.0.2.2', (s) => { s.buf[s.nh + 8] = 1; fixIp(s); }); return l; }],
  ['PKT_TOO_BIG', () => { const l = routed(); l.n.linkSetMtu('r', 'rb', 600); ping(l, 'a', '10.0.2.2', undefined, 1000); return l; }],
  ['OTHERHOST', () => { const l = pair(); l.n.neighReplace('a', '10.0.0.2', mac('02:00:00:00:00:77'), 'eth0'); ping(l, 'a', '10.0.0.2'); return l; }],
  ['IP_CSUM', () => { const l = pair(); ping(l, 'a', '10.0.0.2', (s) => { s.buf[s.nh + 10] ^= 1; }); return l; }],
  ['IP_INHDR', () => { const l = pair(); ping(l, 'a', '10.0.0.2', (s) => { s.buf[s.nh] = 0x65; fixIp(s); }); return l; }],
  ['PKT_TOO_SMALL', () => {
    // UDP length field larger than the datagram
    const l = pair();
    l.n.ns('a').sockets.udpBind(40000, {}).send(new Uint8Array(4), ip('10.0.0.2'), 53, undefined, (s) => setU16(s.buf, s.nh + 20 + 4, 100));
    return l;
  }],
  ['UDP_CSUM', () => {
    const l = pair();
    l.n.ns('b').sockets.udpBind(53, {});
    l.n.ns('a').sockets.udpBind(40000, {}).send(new Uint8Array(4), ip('10.0.0.2'), 53, undefined, (s) => { s.buf[s.nh + 20 + 8] ^= 1; });
    return l;
  }],
  ['TCP_CSUM', () => {
    const l = pair();
    const c = new TcpSock(l.n.ns('a'), {});
    c.onFirstSkb = (s) => { s.buf[s.nh + 20 + 16] ^= 1; };
    c.connect(ip('10.0.0.2'), 80);
    l.w.sched.at(0.5 * S, () => c.done());
    return l;
  }],
  ['NO_SOCKET', () => { const l = pair(); l.n.ns('a').sockets.udpBind(40000, {}).send(new Uint8Array(4), ip('10.0.0.2'), 53); return l; }],
  ['UNHANDLED_PROTO', () => { const l = pair(); ping(l, 'a', '10.0.0.2', (s) => { s.buf[s.nh + 9] = 47; fixIp(s); }); return l; }],
  ['NEIGH_FAILED', () => { const l = pair(); ping(l, 'a', '10.0.0.5'); return l; }],
  ['NEIGH_QUEUEFULL', () => {
    const l = pair();
    const p = l.n.ns('a').sockets.pingOpen({});
    for (let i = 0; i < 200; i++) p.send(ip('10.0.0.5'), i, 1400);
    return l;
  }],
  ['NETFILTER_DROP', () => {
    const l = pair();
    l.n.ns('b').hooks.register('ipv4', NfHook.LOCAL_IN, { name: 'test-drop', priority: 0, fn: () => NfVerdict.DROP });
    ping(l, 'a', '10.0.0.2');
    return l;
  }],
  // The peer's end down takes a's carrier: a's qdisc is noop_qdisc and drops (checked on the kernel: netem-carrier.kernel.test.ts).
  ['QDISC_DROP', () => { const l = pair(); l.n.linkSetUp('b', 'eth0', false); ping(l, 'a', '10.0.0.2'); return l; }],
  // A frame handed to a device that is administratively down (the stack's routes skip such a device,
  // so only a caller holding the device itself gets here).
  ['LINK_DOWN', () => {
    const l = pair();
    const d = l.n.ns('a').device('eth0')!;
    d.up = false;
    d.xmit(Skb.alloc(60));
    return l;
  }],
  ['DEV_READY', () => {
    // b's end goes down while a frame is on the wire
    const l = pair();
    l.n.ns('a').device('eth0')!.delay = 1000;
    ping(l, 'a', '10.0.0.2');
    l.w.sched.at(500, () => { l.n.ns('b').device('eth0')!.up = false; });
    return l;
  }],
  ['IP_OUTNOROUTES', () => {
    // b cannot route the echo reply back to a spoofed source
    const l = pair();
    ping(l, 'a', '10.0.0.2', (s) => { setU16(s.buf, s.nh + 12, 0xc0a8); fixIp(s); });
    return l;
  }],
  ['MAC_INVALID_SOURCE', () => { const l = bridged(2); l.n.linkSetAddress('p1', 'eth0', mac('01:00:5e:00:00:01')); ping(l, 'p1', '10.0.0.12'); return l; }],
  ['BRIDGE_INGRESS_STP_STATE', () => { const l = bridged(2); l.n.linkSetUp('host', 'br0', false); ping(l, 'p1', '10.0.0.12'); return l; }],
  ['NOT_SPECIFIED', () => { const l = bridged(2); l.n.neighReplace('p1', '10.0.0.99', mac('02:00:00:00:00:01'), 'eth0'); ping(l, 'p1', '10.0.0.99'); return l; }],
];

describe('every drop reason the model produces', () => {
  for (const [reason, make] of cases) {
    it(reason, () => {
      const l = make();
      l.run(60 * S);
      expect(l.reasons()).toContain(reason);
      // The drop is traced with the same reason.
      expect(l.events('drop').some((e) => e.reason === reason && e.verdict === 'drop')).toBe(true);
    });
  }

  it('NEIGH_QUEUEFULL drops the oldest packets beyond unres_qlen_bytes (212992): 200 × 1442-byte frames keep 147', () => {
    const l = cases.find((c) => c[0] === 'NEIGH_QUEUEFULL')![1]();
    l.run(0);
    expect(l.reasons().filter((r) => r === 'NEIGH_QUEUEFULL')).toHaveLength(53);
    l.run(60 * S);
    expect(l.reasons().filter((r) => r === 'NEIGH_FAILED')).toHaveLength(147);
  });
});
