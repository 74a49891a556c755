import { describe, it, expect } from 'vitest';
import { formatNeigh, neighKey } from '../../src/kernel/neigh.js';
import { TcpSock } from '../../src/kernel/tcp.js';
import { ipToString, macToString, u32 } from '../../src/wire/bytes.js';
import { pair, routed, ip, mac, isArp, arpOp, Lab, ipProtoOf, ipSrcOf } from './topo.js';

const S = 1_000_000_000;
function neigh(l: Lab, ns: string, dev: string, addr: string): string {
  const n = l.n.ns(ns);
  const e = n.neighs.get(neighKey(n.device(dev)!, ip(addr)));
  return e ? formatNeigh(e) : 'none';
}
/** ARP frames sent by one device: "time op target dst-mac". */
function arps(l: Lab, dev: string): string[] {
  return l.on(dev).filter((f) => isArp(f.bytes)).map((f) =>
    arpOp(f.bytes) === 1 ? `${f.time / S}s who-has ${ipToString(u32(f.bytes, 38))} to ${macToString(f.bytes, 0)}`
      : `${f.time / S}s reply ${ipToString(u32(f.bytes, 28))} is-at ${macToString(f.bytes, 22)} to ${macToString(f.bytes, 0)}`);
}

describe('ARP / NUD', () => {
  it('INCOMPLETE: 3 broadcast requests 1 s apart, then FAILED: NEIGH_FAILED and host unreachable to the local sender', () => {
    const l = pair();
    const errors: string[] = [];
    l.n.ns('a').sockets.pingOpen({ onError: (err, info, seq) => errors.push(`${l.w.now / S}s ${err} ${info.type}/${info.code} from ${ipToString(info.from)} seq ${seq}`) }, 9)
      .send(ip('10.0.0.5'), 1, 56);
    l.run(0);
    expect(neigh(l, 'a', 'eth0', '10.0.0.5')).toBe('10.0.0.5 dev eth0 INCOMPLETE');
    l.run();
    expect(arps(l, 'a/eth0')).toEqual([
      '0s who-has 10.0.0.5 to ff:ff:ff:ff:ff:ff',
      '1s who-has 10.0.0.5 to ff:ff:ff:ff:ff:ff',
      '2s who-has 10.0.0.5 to ff:ff:ff:ff:ff:ff',
    ]);
    expect(neigh(l, 'a', 'eth0', '10.0.0.5')).toBe('10.0.0.5 dev eth0 FAILED');
    expect(l.drops.map((d) => `${d.time / S}s ${d.reason}`)).toEqual(['3s NEIGH_FAILED']);
    expect(l.drops[0].where).toBe('n/a/eth0: ARP for 10.0.0.5 on eth0 failed');
    // The error comes back over lo (what `ping` prints as "Destination Host Unreachable").
    const lo = l.on('a/lo');
    expect(lo).toHaveLength(1);
    expect([lo[0].bytes[34], lo[0].bytes[35]]).toEqual([3, 1]);
    expect(errors).toEqual(['3s EHOSTUNREACH 3/1 from 10.0.0.1 seq 1']);
  });

  it('a reply makes the entry REACHABLE; the answering side learns the asker as STALE and never ARPs back', () => {
    const l = pair();
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.0.2'), 1, 56);
    l.run(0);
    expect(neigh(l, 'a', 'eth0', '10.0.0.2')).toBe('10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 REACHABLE');
    expect(arps(l, 'a/eth0')).toEqual(['0s who-has 10.0.0.2 to ff:ff:ff:ff:ff:ff']);
    expect(arps(l, 'b/eth0')).toEqual(['0s reply 10.0.0.2 is-at 02:00:00:00:00:02 to 02:00:00:00:00:01']);
    // b used the STALE entry for its echo reply: DELAY now
    expect(neigh(l, 'b', 'eth0', '10.0.0.1')).toBe('10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 DELAY');
  });

  it('STALE used → DELAY → PROBE: a unicast request 5 s after first use, unless something confirmed it', () => {
    const l = pair();
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.0.2'), 1, 56);
    l.run(4 * S);
    expect(neigh(l, 'b', 'eth0', '10.0.0.1')).toBe('10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 DELAY');
    l.run(5 * S);
    expect(arps(l, 'b/eth0')).toEqual([
      '0s reply 10.0.0.2 is-at 02:00:00:00:00:02 to 02:00:00:00:00:01',
      '5s who-has 10.0.0.1 to 02:00:00:00:00:01',
    ]);
    // a answers the unicast probe; b's entry is REACHABLE again
    expect(neigh(l, 'b', 'eth0', '10.0.0.1')).toBe('10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE');
    expect(arps(l, 'a/eth0')).toEqual(['0s who-has 10.0.0.2 to ff:ff:ff:ff:ff:ff', '5s reply 10.0.0.1 is-at 02:00:00:00:00:01 to 02:00:00:00:00:02']);
  });

  it('a DELAY entry confirmed by TCP forward progress goes back to REACHABLE without a probe', () => {
    const l = pair();
    l.n.ns('b').sockets.tcpListenOn(80, { onData: (s, d) => s.send(d) });
    const c = new TcpSock(l.n.ns('a'), { onConnect: (s) => s.send(new TextEncoder().encode('hi')) });
    c.connect(ip('10.0.0.2'), 80);
    l.run(10 * S);
    expect(arps(l, 'b/eth0')).toEqual(['0s reply 10.0.0.2 is-at 02:00:00:00:00:02 to 02:00:00:00:00:01']);
    expect(neigh(l, 'b', 'eth0', '10.0.0.1')).toBe('10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE');
  });

  it('REACHABLE decays to STALE within 15-45 s without traffic', () => {
    const l = pair();
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.0.2'), 1, 56);
    l.run(15 * S - 1);
    expect(neigh(l, 'a', 'eth0', '10.0.0.2')).toMatch(/REACHABLE$/);
    l.run(45 * S);
    expect(neigh(l, 'a', 'eth0', '10.0.0.2')).toMatch(/STALE$/);
  });

  it('permanent entries never change: not by ARP from the peer, not by time', () => {
    const l = pair();
    l.n.neighReplace('a', '10.0.0.2', mac('02:00:00:00:00:99'), 'eth0', 'permanent');
    l.n.ns('b').sockets.pingOpen({}, 1).send(ip('10.0.0.1'), 1, 56); // b ARPs for a: a learns nothing
    l.run(100 * S);
    expect(neigh(l, 'a', 'eth0', '10.0.0.2')).toBe('10.0.0.2 dev eth0 lladdr 02:00:00:00:00:99 PERMANENT');
    expect(arps(l, 'a/eth0')).toEqual(['0s reply 10.0.0.1 is-at 02:00:00:00:00:01 to 02:00:00:00:00:02']);
    // a's echo reply went to the permanent (wrong) MAC: b drops it
    expect(l.reasons()).toEqual(['OTHERHOST']);
  });

  it('proxy_arp: the router answers for an address routed out of another device', () => {
    const l = routed();
    l.n.routeAdd('a', { dst: '10.0.2.0/24', dev: 'eth0' }); // a believes 10.0.2.0/24 is on its link
    l.n.sysctlSet('r', 'net.ipv4.conf.ra.proxy_arp', '1');
    let replies = 0;
    l.n.ns('a').sockets.pingOpen({ onReply: () => replies++ }, 1).send(ip('10.0.2.2'), 1, 56);
    l.run();
    // A broadcast request is answered after a random delay below proxy_delay (0.8 s by default).
    const [detail] = l.events('arp.proxy').map((e) => e.detail);
    const m = /^answering for 10\.0\.2\.2 \(proxy_arp, route 10\.0\.2\.0\/24 dev rb proto kernel scope link src 10\.0\.2\.1\) after proxy_delay (\d+\.\d{3}) ms$/.exec(detail ?? '');
    expect(m, detail).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![1])).toBeLessThan(800);
    expect(neigh(l, 'a', 'eth0', '10.0.2.2')).toMatch(/^10\.0\.2\.2 dev eth0 lladdr 02:00:00:00:01:01 /);
    expect(replies).toBe(1);
  });

  it('proxy_arp with proxy_delay 0 (as Calico sets it) answers at once', () => {
    const l = routed();
    l.n.routeAdd('a', { dst: '10.0.2.0/24', dev: 'eth0' });
    l.n.sysctlSet('r', 'net.ipv4.conf.ra.proxy_arp', '1');
    l.n.sysctlSet('r', 'net.ipv4.neigh.ra.proxy_delay', '0');
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.2.2'), 1, 56);
    l.run();
    const proxy = l.events('arp.proxy');
    expect(proxy.map((e) => e.detail)).toEqual(['answering for 10.0.2.2 (proxy_arp, route 10.0.2.0/24 dev rb proto kernel scope link src 10.0.2.1)']);
    expect(l.events('arp.recv').some((e) => e.time === proxy[0]!.time && /is-at/.test(e.detail))).toBe(true);
  });

  it('without proxy_arp the same request goes unanswered', () => {
    const l = routed();
    l.n.routeAdd('a', { dst: '10.0.2.0/24', dev: 'eth0' });
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.2.2'), 1, 56);
    l.run();
    expect(l.events('arp.proxy')).toHaveLength(0);
    expect(l.reasons()).toEqual(['NEIGH_FAILED']);
  });

  it('arp_ignore: 0 answers for any local address, 1 only for one on the receiving device', () => {
    for (const [ignore, expectReply] of [['0', true], ['1', false]] as const) {
      const l = routed();
      l.n.routeAdd('a', { dst: '10.0.2.1/32', dev: 'eth0' });
      l.n.sysctlSet('r', 'net.ipv4.conf.ra.arp_ignore', ignore);
      l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.2.1'), 1, 56);
      l.run(0);
      const answered = arps(l, 'r/ra');
      expect(answered).toEqual(expectReply ? ['0s reply 10.0.2.1 is-at 02:00:00:00:01:01 to 02:00:00:00:0a:01'] : []);
      // arp_ignore=1 still answers for ra's own address
      if (!expectReply) {
        l.n.ns('a').sockets.pingOpen({}, 2).send(ip('10.0.1.1'), 1, 56);
        l.run(0);
        expect(arps(l, 'r/ra')).toEqual(['0s reply 10.0.1.1 is-at 02:00:00:00:01:01 to 02:00:00:00:0a:01']);
      }
    }
  });

  it('a frame queued while INCOMPLETE is sent with the resolved MAC', () => {
    const l = pair();
    l.n.ns('a').sockets.pingOpen({}, 1).send(ip('10.0.0.2'), 1, 56);
    l.run(0);
    const icmp = l.on('a/eth0').filter((f) => ipProtoOf(f.bytes) === 1 && !isArp(f.bytes));
    expect(icmp.map((f) => macToString(f.bytes, 0))).toEqual(['02:00:00:00:00:02']);
    expect(ipToString(ipSrcOf(icmp[0].bytes))).toBe('10.0.0.1');
  });
});

describe('NeighTable: the last entries found are remembered', () => {
  it('get follows every set, delete, deleteOnDev and replacement, as a fresh Map would', () => {
    const l = pair();
    const ns = l.n.ns('a');
    const t = ns.neighs;
    const dev = ns.device('eth0')!;
    const ref = new Map<number, unknown>();
    const mk = (addr: number, state: number) => ({ ip: addr, dev, mac: null, state, confirmed: 0, used: 0, updated: 0, reachableUntil: 0, probes: 0, queue: [], queueBytes: 0, gen: 0 });
    let r = 3;
    const rnd = (n: number) => { r = (Math.imul(r, 1103515245) + 12345) >>> 0; return (r >>> 8) % n; };
    for (let step = 0; step < 2000; step++) {
      const k = neighKey(dev, ip('10.0.0.1') + rnd(4));
      const op = rnd(10);
      if (op < 6) expect(t.get(k)).toBe(ref.get(k));
      else if (op < 8) { const n = mk(k, 2); t.set(k, n as never); ref.set(k, n); }
      else if (op < 9) { expect(t.delete(k)).toBe(ref.delete(k)); }
      else {
        const gone = rnd(2) === 0;
        t.deleteOnDev(dev, () => gone);
        if (gone) for (const key of [...ref.keys()]) if ((ref.get(key) as { dev: unknown }).dev === dev) ref.delete(key);
      }
    }
  });
});
