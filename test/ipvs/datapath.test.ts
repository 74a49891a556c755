import { describe, expect, it } from 'vitest';
import { IpvsLab, RS1, RS2, SVC, VIP, ip } from './lab.js';
import { u16, readIp } from '../../src/wire/bytes.js';
import { conntrackList, iptablesRestore, iptablesSaveText } from '../../src/netfilter/index.js';
import { checksum } from '../../src/wire/checksum.js';

const S = 1e9;

describe('IPVS data path (masq)', () => {
  it('NAT both ways: DNAT to the real server at LOCAL_IN, replies SNATed back to the VIP', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    const c = l.connect();
    l.run(1 * S);
    expect(c.errors).toEqual([]);
    expect(c.got.reduce((a, b) => a + b, 0)).toBe(100);
    expect(l.served.get('rs1')).toBe(100);
    // The SYN reaching rs1: client → RS:8080, TTL not decremented by IPVS.
    const syn = l.on('rs1/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 6)!.bytes;
    expect(readIp(syn, 14 + 12)).toBe(ip('10.0.1.2'));
    expect(readIp(syn, 14 + 16)).toBe(RS1);
    expect(u16(syn, 14 + 22)).toBe(8080);
    expect(syn[14 + 8]).toBe(64);
    // The SYN-ACK the client sees comes from the VIP:80, forwarded once (TTL 63).
    const synack = l.on('client/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 6)!.bytes;
    expect(readIp(synack, 14 + 12)).toBe(VIP);
    expect(u16(synack, 14 + 20)).toBe(80);
    expect(synack[14 + 8]).toBe(63);
    const stages = new Set(l.sink.events.map((e) => e.stage));
    for (const s of ['ipvs.sched', 'ipvs.conn', 'ipvs.xmit', 'ipvs.reply']) expect(stages).toContain(s);
    expect(l.events('ipvs.sched')[0].detail).toMatch(/^TCP 10\.96\.0\.10:80 rr → 10\.0\.2\.2:8080 \(new conn TCP 10\.0\.1\.2:\d+ → 10\.96\.0\.10:80 → 10\.0\.2\.2:8080; dest weight 1, active 0, inactive 1\)$/);
  });

  it('rr alternates new connections over the dests, newest dest first', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    l.ipvs.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
    for (let i = 0; i < 3; i++) { l.connect(); l.run(1 * S); }
    expect(l.served.get('rs2')).toBe(200);
    expect(l.served.get('rs1')).toBe(100);
  });
});

describe('IPVS data path: connections and dests', () => {
  it('persistence: one client sticks to its real server through a template', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr', flags: 0x1, timeout: 300 });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    l.ipvs.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
    for (let i = 0; i < 3; i++) { l.connect(); l.run(1 * S); }
    expect(l.served.get('rs2')).toBe(300);
    expect(l.served.has('rs1')).toBe(false);
    const conns = l.ipvs.listConns().split('\n');
    // The template: TCP, client /32, port 0, VIP:80 → RS2:8080, NONE, 300 s from its last use (the third connection, 1 s ago);
    // the connections themselves are in TIME_WAIT (120 s).
    expect(conns).toContain('TCP 04:59  NONE        10.0.1.2:0         10.96.0.10:80      10.0.3.2:8080');
    const info = l.ipvs.services()[0];
    expect(info.opts).toEqual({ scheduler: 'rr', flags: 1, timeout: 300, netmask: 32 });
    expect(info.dests.find((d) => d.addr === RS2)!.persistConns).toBe(1);
    // The template outlives its connections, then expires: the next connection is scheduled anew (rr: RS1).
    l.run(400 * S);
    expect(l.ipvs.listConns().split('\n').filter((x) => x.includes('NONE'))).toEqual([]);
    l.connect(); l.run(1 * S);
    expect(l.served.get('rs1')).toBe(100);
  });

  it('weight 0 drains: established connections go on, new ones go elsewhere', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    l.ipvs.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
    const c = l.connect({ close: false }); // → rs2 (newest first)
    l.run(1 * S);
    expect(l.served.get('rs2')).toBe(100);
    l.ipvs.editDest(SVC, { addr: RS2, port: 8080, weight: 0 });
    c.sock.send(new Uint8Array(10));
    l.run(1 * S);
    expect(l.served.get('rs2')).toBe(110); // the existing connection still reaches rs2
    l.connect(); l.run(1 * S);
    l.connect(); l.run(1 * S);
    expect(l.served.get('rs1')).toBe(200);
    expect(l.ipvs.list()).toContain('  -> 10.0.3.2:8080                Masq    0      1          0         \n');
  });

  it('a removed dest: without expire_nodest_conn its connection is dropped silently; with it, expired and then reset by the node', () => {
    for (const nodest of [0, 1]) {
      const l = new IpvsLab();
      l.n.sysctlSet('node', 'net.ipv4.vs.expire_nodest_conn', String(nodest));
      l.ipvs.addService(SVC, { scheduler: 'rr' });
      l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
      const c = l.connect({ close: false });
      l.run(1 * S);
      expect(l.served.get('rs1')).toBe(100);
      l.ipvs.delDest(SVC, RS1, 8080);
      l.run(10e6);
      c.sock.send(new Uint8Array(10));
      l.run(1 * S);
      expect(l.served.get('rs1')).toBe(100);
      if (nodest) {
        // Expired one jiffy after the removal: the next segment has no connection, is not a SYN, and
        // is delivered to the node itself, which has no socket on VIP:80 and answers with a reset.
        expect(l.ipvs.listConns()).toBe('IPVS connection entries\npro expire state       source             virtual            destination\n');
        expect(c.errors).toEqual(['ECONNRESET']);
      } else {
        expect(l.drops.some((d) => d.reason === 'NETFILTER_DROP' && d.where.includes('node'))).toBe(true);
        expect(l.ipvs.listConns()).toMatch(/ESTABLISHED 10\.0\.1\.2:\d+\s+10\.96\.0\.10:80\s+10\.0\.2\.2:8080/);
      }
    }
  });

  it('no destination: ICMP port unreachable to the client', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 0 });
    const c = l.connect();
    l.run(1 * S);
    expect(c.errors).toEqual(['ECONNREFUSED']);
  });

  it('UDP: one connection per client port, always inactive, 300 s', () => {
    const l = new IpvsLab();
    const svc = { protocol: 'UDP' as const, addr: VIP, port: 53 };
    l.ipvs.addService(svc, { scheduler: 'rr' });
    l.ipvs.addDest(svc, { addr: RS1, port: 5353, weight: 1 });
    const got: number[] = [];
    const sock = l.n.ns('client').sockets.udpBind(40000, { onMessage: (d) => got.push(d.length) });
    sock.send(new Uint8Array(20), VIP, 53);
    l.run(1 * S);
    expect(got).toEqual([20]);
    expect(l.ipvs.list()).toContain('UDP  10.96.0.10:53 rr\n  -> 10.0.2.2:5353                Masq    1      0          1         \n');
    expect(l.ipvs.listConns()).toContain('UDP 04:59  UDP         10.0.1.2:40000     10.96.0.10:53      10.0.2.2:5353\n');
    l.run(300 * S);
    expect(l.ipvs.services()[0].dests[0].inactConns).toBe(0);
  });
});

describe('IPVS and netfilter', () => {
  const masq = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -d 10.0.2.0/24 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -m ipvs --vaddr 10.96.0.10 --vproto tcp --vport 81 -j DROP
-A OUTPUT -m ipvs --vaddr 10.96.0.10/32 --vproto tcp --vport 80 --vmethod MASQ --vdir ORIGINAL -j ACCEPT
COMMIT
`;

  it('vs/conntrack=1: the conntrack entry is altered to the real server, so MASQUERADE works on IPVS traffic', () => {
    const l = new IpvsLab();
    iptablesRestore(l.n, 'node', masq);
    l.n.sysctlSet('node', 'net.ipv4.vs.conntrack', '1');
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    const c = l.connect({ close: false });
    l.run(1 * S);
    expect(c.got.reduce((a, b) => a + b, 0)).toBe(100);
    const syn = l.on('rs1/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 6)!.bytes;
    expect(readIp(syn, 14 + 12)).toBe(ip('10.0.2.1')); // masqueraded to the node's address
    const ct = conntrackList(l.n, 'node');
    expect(ct).toMatch(/^tcp\s+6 \d+ ESTABLISHED src=10\.0\.1\.2 dst=10\.96\.0\.10 sport=(\d+) dport=80 src=10\.0\.2\.2 dst=10\.0\.2\.1 sport=8080 dport=\d+ \[ASSURED\]/m);
    // -m ipvs saw the DNATed request in filter OUTPUT (the re-entered LOCAL_OUT): the --vport 80 rule counted it.
    const saved = iptablesSaveText(l.n, 'node', { counters: true });
    expect(saved).toContain('-A OUTPUT -m ipvs --vproto 6 --vaddr 10.96.0.10 --vport 81 -j DROP');
    expect(saved).toMatch(/\[(\d+):\d+\] -A OUTPUT -m ipvs --vproto 6 --vaddr 10\.96\.0\.10 --vport 80 --vdir ORIGINAL --vmethod MASQ -j ACCEPT/);
    const n = Number(/\[(\d+):\d+\] -A OUTPUT -m ipvs --vproto 6 --vaddr 10\.96\.0\.10 --vport 80/.exec(saved)![1]);
    expect(n).toBeGreaterThanOrEqual(3);
    expect(saved).toMatch(/\[0:0\] -A OUTPUT -m ipvs --vproto 6 --vaddr 10\.96\.0\.10 --vport 81 -j DROP/);
  });

  it('vs/conntrack=0: IPVS packets are untracked, so no MASQUERADE and no conntrack entry', () => {
    const l = new IpvsLab();
    iptablesRestore(l.n, 'node', masq);
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    const c = l.connect({ close: false });
    l.run(1 * S);
    expect(c.got.reduce((a, b) => a + b, 0)).toBe(100);
    const syn = l.on('rs1/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 6)!.bytes;
    expect(readIp(syn, 14 + 12)).toBe(ip('10.0.1.2'));
    expect(conntrackList(l.n, 'node')).not.toContain('dport=80');
  });
});

describe('IPVS data path: templates, fwmark, one-packet', () => {
  it('expire_quiescent_template: a template to a quiescent dest is invalidated only when the sysctl is on', () => {
    for (const q of [0, 1]) {
      const l = new IpvsLab();
      l.n.sysctlSet('node', 'net.ipv4.vs.expire_quiescent_template', String(q));
      l.ipvs.addService(SVC, { scheduler: 'rr', flags: 0x1, timeout: 300 });
      l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
      l.ipvs.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
      l.connect(); l.run(1 * S); // → rs2, template made
      l.ipvs.editDest(SVC, { addr: RS2, port: 8080, weight: 0 });
      l.connect(); l.run(1 * S);
      if (q) expect([l.served.get('rs1'), l.served.get('rs2')]).toEqual([100, 100]);
      else expect([l.served.get('rs1'), l.served.get('rs2')]).toEqual([undefined, 200]);
    }
  });

  it('a fwmark service takes packets marked in mangle PREROUTING, whatever their port', () => {
    const l = new IpvsLab();
    iptablesRestore(l.n, 'node', '*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.10/32 -p tcp -m multiport --dports 80,81 -j MARK --set-xmark 0x7/0xffffffff\nCOMMIT\n');
    l.ipvs.addService({ fwmark: 7 }, { scheduler: 'rr' });
    l.ipvs.addDest({ fwmark: 7 }, { addr: RS1, port: 8080, weight: 1 });
    l.connect({ port: 81 }); l.run(1 * S);
    l.connect({ port: 80 }); l.run(1 * S);
    expect(l.served.get('rs1')).toBe(200);
    expect(l.ipvs.list()).toContain('FWM  7 rr\n  -> 10.0.2.2:8080                Masq    1      0          2         \n');
  });

  it('one-packet scheduling (ops) for UDP: each datagram scheduled on its own, no entry kept', () => {
    const l = new IpvsLab();
    const svc = { protocol: 'UDP' as const, addr: VIP, port: 53 };
    l.ipvs.addService(svc, { scheduler: 'rr', flags: 0x4 });
    l.ipvs.addDest(svc, { addr: RS1, port: 5353, weight: 1 });
    l.ipvs.addDest(svc, { addr: RS2, port: 5353, weight: 1 });
    const got: number[] = [];
    const sock = l.n.ns('client').sockets.udpBind(40000, { onMessage: (d) => got.push(d.length) });
    sock.send(new Uint8Array(10), VIP, 53); l.run(0.1 * S);
    sock.send(new Uint8Array(10), VIP, 53); l.run(0.1 * S);
    expect([l.served.get('rs1'), l.served.get('rs2')]).toEqual([10, 10]);
    expect(l.ipvs.list()).toContain('UDP  10.96.0.10:53 rr ops\n');
    expect(l.ipvs.listConns().split('\n').length).toBe(3); // header lines only
  });
});

describe('IPVS and ICMP errors from real servers', () => {
  it('a port unreachable from the real server reaches the client from the VIP, quoting VIP:port', () => {
    const l = new IpvsLab();
    const svc = { protocol: 'UDP' as const, addr: VIP, port: 53 };
    l.ipvs.addService(svc, { scheduler: 'rr' });
    l.ipvs.addDest(svc, { addr: RS1, port: 5399, weight: 1 }); // nothing listens on 5399
    const sock = l.n.ns('client').sockets.udpBind(40000, { onMessage: () => {} });
    sock.send(new Uint8Array(10), VIP, 53);
    l.run(1 * S);
    const icmp = l.on('client/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 1)!.bytes;
    expect(readIp(icmp, 14 + 12)).toBe(VIP);
    expect([icmp[34], icmp[35]]).toEqual([3, 3]);
    expect(readIp(icmp, 42 + 16)).toBe(VIP); // the quoted destination
    expect(u16(icmp, 42 + 22)).toBe(53); // and port
    expect(checksum(icmp, 14, 20)).toBe(0);
    expect(checksum(icmp, 34, icmp.length - 34)).toBe(0);
    expect(checksum(icmp, 42, 20)).toBe(0);
  });
});

describe('IPVS and the MTU towards the real server', () => {
  it('a DF datagram larger than the route MTU gets fragmentation needed from the director (ensure_mtu_is_adequate)', () => {
    const l = new IpvsLab();
    l.n.linkSetMtu('node', 's1', 1000);
    l.n.linkSetMtu('rs1', 'eth0', 1000);
    const svc = { protocol: 'UDP' as const, addr: VIP, port: 53 };
    l.ipvs.addService(svc, { scheduler: 'rr' });
    l.ipvs.addDest(svc, { addr: RS1, port: 5353, weight: 1 });
    const sock = l.n.ns('client').sockets.udpBind(40000, { onMessage: () => {} });
    sock.send(new Uint8Array(1200), VIP, 53); // DF (pmtudisc want, fits the client's 1500)
    l.run(1 * S);
    expect(l.served.has('rs1')).toBe(false);
    const icmp = l.on('client/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 1)!.bytes;
    expect([icmp[34], icmp[35], u16(icmp, 34 + 6)]).toEqual([3, 4, 1000]);
    expect(l.drops.map((d) => d.reason)).toContain('PKT_TOO_BIG');
    // Small enough: through.
    sock.send(new Uint8Array(900), VIP, 53);
    l.run(1 * S);
    expect(l.served.get('rs1')).toBe(900);
  });
});

describe('IPVS persistence granularity', () => {
  it('the netmask groups clients: two clients of one /16 share a template, with /32 they are scheduled apart', () => {
    for (const netmask of [16, 32]) {
      const l = new IpvsLab();
      l.n.netnsAdd('client2');
      l.n.linkAddVeth('client2', 'eth0', { name: 'c2', netns: 'node' });
      l.n.linkSetUp('client2', 'eth0');
      l.n.linkSetUp('node', 'c2');
      l.n.addrAdd('client2', 'eth0', '10.0.4.2/24');
      l.n.addrAdd('node', 'c2', '10.0.4.1/24');
      l.n.routeAdd('client2', { dst: 'default', via: '10.0.4.1' });
      l.ipvs.addService(SVC, { scheduler: 'rr', flags: 0x1, timeout: 60, netmask });
      l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
      l.ipvs.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
      l.connect(); l.run(1 * S);
      l.connect({ from: 'client2' }); l.run(1 * S);
      if (netmask === 16) {
        expect([l.served.get('rs1'), l.served.get('rs2')]).toEqual([undefined, 200]);
        expect(l.ipvs.listConns()).toContain('TCP 00:59  NONE        10.0.0.0:0         10.96.0.10:80      10.0.3.2:8080\n');
        expect(l.ipvs.list()).toContain('TCP  10.96.0.10:80 rr persistent 60 mask 255.255.0.0\n');
      } else {
        expect([l.served.get('rs1'), l.served.get('rs2')]).toEqual([100, 100]);
      }
    }
  });
});

describe('IPVS and ICMP errors from clients', () => {
  it('a port unreachable from the client about a reply is sent on to the real server (ip_vs_in_icmp)', () => {
    const l = new IpvsLab();
    const svc = { protocol: 'UDP' as const, addr: VIP, port: 53 };
    l.ipvs.addService(svc, { scheduler: 'rr' });
    l.ipvs.addDest(svc, { addr: RS1, port: 5353, weight: 1 });
    const sock = l.n.ns('client').sockets.udpBind(40000, { onMessage: () => {} });
    sock.send(new Uint8Array(10), VIP, 53);
    sock.close(); // the reply finds no socket: the client answers with port unreachable to the VIP
    l.run(1 * S);
    const icmp = l.on('rs1/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 1)!.bytes;
    expect(readIp(icmp, 14 + 12)).toBe(ip('10.0.1.2'));
    expect(readIp(icmp, 14 + 16)).toBe(RS1);
    expect([icmp[34], icmp[35]]).toEqual([3, 3]);
    expect(readIp(icmp, 42 + 12)).toBe(RS1); // the quoted source: the real server's reply as it sent it
    expect(u16(icmp, 42 + 20)).toBe(5353);
    expect(checksum(icmp, 14, 20)).toBe(0);
    expect(checksum(icmp, 34, icmp.length - 34)).toBe(0);
    expect(checksum(icmp, 42, 20)).toBe(0);
  });
});
