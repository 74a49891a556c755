import { describe, it, expect } from 'vitest';
import { Bridge } from '../../src/kernel/devices/bridge.js';
import { macToString } from '../../src/wire/bytes.js';
import { bridged, ip, mac, isArp, arpOp, Lab } from './topo.js';

const S = 1_000_000_000;
const br = (l: Lab) => l.n.ns('host').device('br0') as Bridge;
const fdbPort = (l: Lab, m: string) => { const e = br(l).fdbGet(mac(m), 0); return e ? (e.port ? e.port.name : 'br0') : 'none'; };

describe('bridge forwarding', () => {
  it('learns the source, floods a broadcast to every port but the ingress one and delivers it locally', () => {
    const l = bridged(3);
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run(0); // only the events at t=0 ... the ARP request and reply and the ping exchange all happen at t=0
    const learn = l.events('bridge.fdb.learn').map((e) => `${e.dev}: ${e.detail}`);
    expect(learn[0]).toBe('br0: 02:00:00:00:00:01 on port veth1');
    expect(learn[1]).toBe('br0: 02:00:00:00:00:02 on port veth2');
    const arpReq = l.frames.filter((f) => isArp(f.bytes) && arpOp(f.bytes) === 1 && f.dir === 'out').map((f) => f.dev);
    // p1 sends it; the bridge floods it out of veth2 and veth3 (never back out of veth1).
    expect(arpReq).toEqual(['n/p1/eth0', 'n/host/veth2', 'n/host/veth3']);
    // ...and passes a copy up to br0
    expect(l.on('host/br0', 'in').filter((f) => isArp(f.bytes)).map((f) => arpOp(f.bytes))).toEqual([1]);
    expect(l.events('bridge.flood')[0].detail).toBe('broadcast from veth1: flood and deliver locally');
  });

  it('a known unicast destination is forwarded to its port only (fdb hit)', () => {
    const l = bridged(3);
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run(0); // (5 s later p2 re-confirms p1 with a unicast ARP: not part of this)
    // The ARP reply from p2 to p1 and the echo request/reply are all fdb hits.
    const hits = l.events('bridge.fdb.hit').map((e) => e.detail);
    expect(hits).toEqual([
      '02:00:00:00:00:01 → port veth1', // ARP reply
      '02:00:00:00:00:02 → port veth2', // echo request
      '02:00:00:00:00:01 → port veth1', // echo reply
    ]);
    expect(l.on('host/veth3').length).toBe(1); // only the flooded ARP request reached p3
    expect(l.events('bridge.fdb.miss')).toHaveLength(0);
  });

  it('an unknown unicast destination is flooded to all ports but the ingress (fdb miss), not passed up', () => {
    const l = bridged(3);
    l.n.neighReplace('p1', '10.0.0.99', mac('02:00:00:00:00:99'), 'eth0');
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.99'), 1, 56);
    l.run();
    expect(l.events('bridge.fdb.miss').map((e) => e.detail)).toEqual(['02:00:00:00:00:99 unknown: flood']);
    expect(l.frames.filter((f) => f.dir === 'out').map((f) => f.dev)).toEqual(['n/p1/eth0', 'n/host/veth2', 'n/host/veth3']);
    expect(l.on('host/br0', 'in')).toHaveLength(0);
    // p2 and p3 see a frame for another MAC
    expect(l.drops.map((d) => `${d.reason} ${d.where.split(':')[0]}`)).toEqual(['OTHERHOST n/p2/eth0', 'OTHERHOST n/p3/eth0']);
  });

  it('hairpin off: a frame whose destination is behind its ingress port is dropped', () => {
    const l = bridged(2);
    l.n.neighReplace('p1', '10.0.0.99', mac('02:00:00:00:00:01'), 'eth0'); // its own MAC: learned on veth1
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.99'), 1, 56);
    l.run();
    expect(l.reasons()).toEqual(['NOT_SPECIFIED']);
    expect(l.drops[0].where).toBe('n/host/veth1: bridge br0: destination is behind the ingress port veth1 and hairpin is off');
    expect(l.on('host/veth1')).toHaveLength(0);
  });

  it('hairpin on: the same frame goes back out of the ingress port', () => {
    const l = bridged(2);
    l.n.linkSetHairpin('host', 'veth1', true);
    l.n.neighReplace('p1', '10.0.0.99', mac('02:00:00:00:00:01'), 'eth0');
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.99'), 1, 56);
    l.run();
    expect(l.events('bridge.hairpin').map((e) => e.detail)).toEqual(['back out of veth1 (hairpin on)']);
    expect(l.on('host/veth1')).toHaveLength(1);
    // p1 gets it back: its own MAC, but 10.0.0.99 is not local and p1 does not forward.
    expect(l.reasons()).toEqual(['IP_INADDRERRORS']);
    expect(l.drops[0].where.startsWith('n/p1/eth0:')).toBe(true);
  });

  it('hairpin on: a broadcast is reflected to its sender (REFERENCE §12), the host veth shows it twice', () => {
    const l = bridged(2);
    l.n.linkSetHairpin('host', 'veth1', true);
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run(0);
    const req = (f: { bytes: Uint8Array }) => isArp(f.bytes) && arpOp(f.bytes) === 1;
    expect(l.frames.filter((f) => f.dev === 'n/host/veth1' && req(f)).map((f) => f.dir)).toEqual(['in', 'out']);
    expect(l.on('p1/eth0', 'in').filter(req)).toHaveLength(1);
    expect(l.events('bridge.hairpin').map((e) => e.detail)).toEqual(['flooded back out of veth1 (hairpin on)']);
  });

  it('a multicast source MAC is dropped with MAC_INVALID_SOURCE before learning', () => {
    const l = bridged(2);
    l.n.linkSetAddress('p1', 'eth0', mac('01:00:5e:00:00:01'));
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run(0);
    expect(l.reasons()[0]).toBe('MAC_INVALID_SOURCE');
    expect(l.drops[0].where).toBe('n/host/veth1: invalid source MAC 01:00:5e:00:00:01');
    expect(l.events('bridge.fdb.learn')).toHaveLength(0);
  });

  it('a frame on a port of a bridge that is down is dropped (BRIDGE_INGRESS_STP_STATE)', () => {
    const l = bridged(2);
    l.n.linkSetUp('host', 'br0', false);
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run(0);
    expect(l.reasons()[0]).toBe('BRIDGE_INGRESS_STP_STATE');
  });
});

describe('bridge fdb', () => {
  it('learned entries age out after 300 s: present at 299 s, gone at 300 s + 1 ns', () => {
    const l = bridged(2);
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run(20 * S);
    // p1's last frame: its answer to p2's unicast ARP re-confirmation at 5 s.
    const last = l.on('p1/eth0').at(-1)!.time;
    expect(last).toBe(5 * S);
    expect(fdbPort(l, '02:00:00:00:00:01')).toBe('veth1');
    l.run(last + 299 * S);
    expect(fdbPort(l, '02:00:00:00:00:01')).toBe('veth1');
    expect(br(l).showFdb()).toContain('02:00:00:00:00:01 dev veth1 master br0');
    l.run(last + 300 * S);
    expect(fdbPort(l, '02:00:00:00:00:01')).toBe('veth1');
    l.run(last + 300 * S + 1);
    expect(fdbPort(l, '02:00:00:00:00:01')).toBe('none');
    expect(br(l).showFdb().some((x) => x.startsWith('02:00:00:00:00:01'))).toBe(false);
    // Local entries never age.
    expect(fdbPort(l, '02:00:00:00:01:01')).toBe('veth1');
    expect(fdbPort(l, '02:00:00:00:00:b0')).toBe('br0');
  });

  it('a port MAC is a local entry: frames to it are delivered to the bridge device', () => {
    const l = bridged(2);
    expect(br(l).fdbGet(mac('02:00:00:00:01:02'), 0)!.local).toBe(true);
    l.n.neighReplace('p1', '10.0.0.1', mac('02:00:00:00:01:02'), 'eth0'); // veth2's MAC for the gateway
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.1'), 1, 56);
    l.run(0);
    expect(l.events('bridge.fdb.hit')[0].detail).toBe('02:00:00:00:01:02 is local: deliver to br0');
    expect(l.on('host/br0', 'in')).toHaveLength(1);
    // As on Linux: only the bridge's own MAC makes pkt_type HOST (br_handle_frame), a port's MAC
    // leaves it OTHERHOST and ip_rcv drops it.
    expect(l.reasons()).toEqual(['OTHERHOST']);
    expect(l.drops[0].where.startsWith('n/host/br0:')).toBe(true);
  });

  it('showFdb prints `bridge fdb show br br0` lines', () => {
    const l = bridged(2);
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run();
    expect(br(l).showFdb().sort()).toEqual([
      '02:00:00:00:00:01 dev veth1 master br0',
      '02:00:00:00:00:02 dev veth2 master br0',
      '02:00:00:00:00:b0 dev br0 master br0 permanent',
      '02:00:00:00:01:01 dev veth1 master br0 permanent',
      '02:00:00:00:01:02 dev veth2 master br0 permanent',
    ]);
  });

  it('a learned address that moves to another port follows it', () => {
    const l = bridged(3);
    l.n.ns('p1').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run();
    l.n.linkSetAddress('p3', 'eth0', mac('02:00:00:00:00:01'));
    l.n.ns('p3').sockets.pingOpen({}, 1).send(ip('10.0.0.12'), 1, 56);
    l.run();
    expect(l.events('bridge.fdb.learn').map((e) => e.detail)).toContain('02:00:00:00:00:01 moved veth1 → veth3');
    expect(fdbPort(l, '02:00:00:00:00:01')).toBe('veth3');
  });

  it('an unpinned bridge MAC follows the lowest port MAC; a set address pins it', () => {
    const l = new Lab();
    const host = l.n.ns('host');
    const b = new Bridge(host, 'br1', mac('02:ff:00:00:00:00'), 1500);
    host.attach(b);
    l.n.netnsAdd('x');
    for (const [name, m] of [['va', '02:00:00:00:00:30'], ['vb', '02:00:00:00:00:20'], ['vc', '02:00:00:00:00:40']]) {
      l.n.linkAddVeth('host', name, { name: `${name}p`, netns: 'x' }, { mac: mac(m) });
      l.n.linkSetMaster('host', name, 'br1');
    }
    expect(macToString(b.mac)).toBe('02:00:00:00:00:20');
    l.n.linkDel('host', 'vb');
    expect(macToString(b.mac)).toBe('02:00:00:00:00:30');
    l.n.linkSetAddress('host', 'br1', mac('02:00:00:00:00:99'));
    l.n.linkAddVeth('host', 'vd', { name: 'vdp', netns: 'x' }, { mac: mac('02:00:00:00:00:01') });
    l.n.linkSetMaster('host', 'vd', 'br1');
    expect(macToString(b.mac)).toBe('02:00:00:00:00:99');
  });
});
