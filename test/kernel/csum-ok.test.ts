/**
 * Skb.csumOk, the model's ip_summed/csum_valid: a checksum the local stack wrote, or a check
 * already verified, is not verified again (skb_csum_unnecessary) — but nothing of it crosses
 * the wire, so a datagram corrupted on an underlay segment is still dropped with UDP_CSUM by
 * the receiving machine, at conntrack (INVALID at PREROUTING) and at the socket.
 */
import { describe, it, expect } from 'vitest';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Segment, Nic } from '../../src/kernel/devices/nic.js';
import type { Skb } from '../../src/kernel/skb.js';
import { iptablesRestore } from '../../src/netfilter/index.js';
import { parseIp, parseMac } from '../../src/wire/bytes.js';
import { pair, ip } from './topo.js';

const S = 1_000_000_000;

/** Two machines m1 (192.168.9.1) and m2 (192.168.9.2) on one segment; `tamper` sees each frame on the segment. */
function machines(tamper: (skb: Skb) => void) {
  const w = new World(5);
  const seg = new Segment('192.168.9.0/24', parseIp('192.168.9.0')!, 24);
  const input = seg.input.bind(seg);
  seg.input = (from: Nic, skb: Skb) => { tamper(skb); input(from, skb); };
  const drops: string[] = [];
  w.onDrop = (_skb, reason) => drops.push(reason);
  const ms = [1, 2].map((i) => {
    const n = new Node(w, `m${i}`, 'node');
    w.nodes.set(n.name, n);
    n.addNic('eth0', seg, parseMac(`02:00:00:00:09:0${i}`)!, 1500, 0, 0);
    n.linkSetUp('host', 'eth0');
    n.addrAdd('host', 'eth0', `192.168.9.${i}/24`);
    return n;
  });
  return { w, ms, drops };
}

/** Flips a payload bit of UDP datagrams to port 53 (IPv4 at 14, no options, UDP payload at 42). */
const corruptUdp = (skb: Skb) => {
  const b = skb.buf, d = skb.data;
  if (b[d + 14 + 9] === 17 && b[d + 36] === 0 && b[d + 37] === 53) b[d + 42] ^= 0x10;
};

describe('Skb.csumOk', () => {
  it('a datagram corrupted on the wire is dropped by the receiver (UDP_CSUM), although its sender wrote a good checksum', () => {
    const { w, ms, drops } = machines(corruptUdp);
    const got: number[] = [];
    ms[1].ns('host').sockets.udpBind(53, { onMessage: (d) => got.push(d.length) });
    const tx = ms[0].ns('host').sockets.udpBind(40000, {});
    // An ARP round first, so the datagram is not queued; then the datagram itself.
    tx.send(new Uint8Array(8), ip('192.168.9.2'), 53);
    w.sched.run(S);
    expect(got).toEqual([]);
    expect(drops).toContain('UDP_CSUM');
  });

  it('with conntrack at PREROUTING, the corrupted datagram is INVALID there (bad UDP checksum)', () => {
    const { w, ms, drops } = machines(corruptUdp);
    iptablesRestore(ms[1], 'host', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n');
    const got: number[] = [];
    ms[1].ns('host').sockets.udpBind(53, { onMessage: (d) => got.push(d.length) });
    ms[0].ns('host').sockets.udpBind(40000, {}).send(new Uint8Array(8), ip('192.168.9.2'), 53);
    w.sched.run(S);
    expect(got).toEqual([]);
    // Dropped by the INVALID rule, before the socket's own check.
    expect(drops).toContain('NETFILTER_DROP');
    expect(drops).not.toContain('UDP_CSUM');
  });

  it('an intact datagram over the wire is delivered, and nothing of the sender\'s checksum state is on the segment', () => {
    const seen: boolean[] = [];
    const { w, ms } = machines((skb) => seen.push(skb.csumOk));
    const got: number[] = [];
    ms[1].ns('host').sockets.udpBind(53, { onMessage: (d) => got.push(d.length) });
    ms[0].ns('host').sockets.udpBind(40000, {}).send(new Uint8Array(8), ip('192.168.9.2'), 53);
    w.sched.run(S);
    expect(got).toEqual([8]);
    // On the segment nothing of the sender's checksum state is left.
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((x) => x === false)).toBe(true);
  });

  it('a locally written checksum crosses a veth as known good; a hook that may rewrite the bytes leaves it unknown', () => {
    const l = pair();
    const flags: boolean[] = [];
    l.n.ns('b').sockets.udpBind(53, {});
    const tx = l.n.ns('a').sockets.udpBind(40000, {});
    l.w.tap = { frame: (dev, skb, dir) => { if (dev.netns.name === 'b' && dir === 'in' && skb.buf[skb.data + 23] === 17) flags.push(skb.csumOk); } };
    tx.send(new Uint8Array(4), ip('10.0.0.2'), 53);
    l.run(S);
    tx.send(new Uint8Array(4), ip('10.0.0.2'), 53, undefined, () => {});
    l.run(2 * S);
    expect(flags).toEqual([true, false]);
  });
});
