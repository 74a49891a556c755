/**
 * ipvsadm 1.31's text, byte for byte: -Ln, --stats, --rate, -Lnc (format strings checked against
 * Debian's ipvsadm 1:1.31 binary; columns by printf widths, trailing spaces included).
 */
import { describe, expect, it } from 'vitest';
import { IpvsLab, RS1, RS2, SVC, VIP, ip } from './lab.js';

function populated(): IpvsLab {
  const l = new IpvsLab();
  const v = l.ipvs;
  v.addService(SVC, { scheduler: 'rr' });
  v.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
  v.addDest(SVC, { addr: RS1, port: 8080, weight: 2 });
  v.addService({ protocol: 'UDP', addr: VIP, port: 53 }, { scheduler: 'wrr', flags: 1, timeout: 10800, netmask: 24 });
  v.addService({ protocol: 'TCP', addr: ip('10.96.0.1'), port: 443 }, { scheduler: 'sh', flags: 0x18 });
  v.addService({ protocol: 'SCTP', addr: ip('10.1.0.1'), port: 9 }, { scheduler: 'lc', flags: 0x4 });
  v.addService({ fwmark: 5 }, { scheduler: 'mh', flags: 0x10 });
  v.addDest({ fwmark: 5 }, { addr: RS1, port: 0, weight: 1, fwd: 'droute' });
  v.addDest({ fwmark: 5 }, { addr: RS2, port: 0, weight: 3, fwd: 'tunnel', uThreshold: 10, lThreshold: 5 });
  return l;
}

describe('ipvsadm -Ln', () => {
  it('services sorted (fwmark, protocol, address, port), dests by address, flags, persistence, ops', () => {
    expect(populated().ipvs.list()).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  10.96.0.1:443 sh (sh-fallback,sh-port)\n' +
      'TCP  10.96.0.10:80 rr\n' +
      '  -> 10.0.2.2:8080                Masq    2      0          0         \n' +
      '  -> 10.0.3.2:8080                Masq    1      0          0         \n' +
      'UDP  10.96.0.10:53 wrr persistent 10800 mask 255.255.255.0\n' +
      'SCTP 10.1.0.1:9 lc ops\n' +
      'FWM  5 mh (mh-port)\n' +
      '  -> 10.0.2.2:0                   Route   1      0          0         \n' +
      '  -> 10.0.3.2:0                   Tunnel  3      0          0         \n');
  });

  it('--stats and --rate after two connections', () => {
    const l = populated();
    l.connect(); l.run(1e9); l.connect(); l.run(1e9);
    expect(l.ipvs.list({ stats: true })).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
      '  -> RemoteAddress:Port\n' +
      'TCP  10.96.0.1:443                       0        0        0        0        0\n' +
      'TCP  10.96.0.10:80                       2       12        8      840      632\n' +
      '  -> 10.0.2.2:8080                       1        6        4      420      316\n' +
      '  -> 10.0.3.2:8080                       1        6        4      420      316\n' +
      'UDP  10.96.0.10:53                       0        0        0        0        0\n' +
      'SCTP 10.1.0.1:9                          0        0        0        0        0\n' +
      'FWM  5                                   0        0        0        0        0\n' +
      '  -> 10.0.2.2:0                          0        0        0        0        0\n' +
      '  -> 10.0.3.2:0                          0        0        0        0        0\n');
    // The estimator ticked once (at 2 s) with the first connection's 6 packets in, 4 out, 420/316 bytes:
    // inpps = (6 << 9) >> 2 = 768 → (768 + 0x1ff) >> 10 = 1; inbps = (420 << 4) >> 2 = 1680 → (1680 + 15) >> 5 = 52.
    const rate = l.ipvs.list({ rate: true }).split('\n');
    expect(rate[1]).toBe('Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS');
    expect(rate[5]).toBe('  -> 10.0.2.2:8080                       0        1        0       52       39');
  });

  it('ipvsadm compares addresses as a C int difference: 200.0.0.1 sorts before 10.0.0.1', () => {
    const l = new IpvsLab();
    l.ipvs.addService({ protocol: 'TCP', addr: ip('10.0.0.1'), port: 80 }, { scheduler: 'rr' });
    l.ipvs.addService({ protocol: 'TCP', addr: ip('200.0.0.1'), port: 80 }, { scheduler: 'rr' });
    l.ipvs.addService({ protocol: 'TCP', addr: ip('10.0.0.1'), port: 8 }, { scheduler: 'rr' });
    expect(l.ipvs.list().split('\n').slice(3, 6)).toEqual(['TCP  200.0.0.1:80 rr', 'TCP  10.0.0.1:8 rr', 'TCP  10.0.0.1:80 rr']);
  });

  it('-Lnc: header, expiry as mm:ss, state, source/virtual/destination', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    const c = l.connect({ close: false, sport: 40001 });
    l.run(1e9);
    expect(c.errors).toEqual([]);
    expect(l.ipvs.listConns()).toBe(
      'IPVS connection entries\n' +
      'pro expire state       source             virtual            destination\n' +
      'TCP 14:59  ESTABLISHED 10.0.1.2:40001     10.96.0.10:80      10.0.2.2:8080\n');
  });

  it('the configuration log holds the ipvsadm commands', () => {
    const cmds = populated().n.configCommands().filter((x) => /ipvs|ip_vs/.test(x));
    expect(cmds).toEqual([
      '# modprobe ip_vs: the net.ipv4.vs.* sysctls appear in every network namespace',
      'ip netns exec node ipvsadm -A -t 10.96.0.10:80 -s rr',
      'ip netns exec node ipvsadm -a -t 10.96.0.10:80 -r 10.0.3.2:8080 -m -w 1',
      'ip netns exec node ipvsadm -a -t 10.96.0.10:80 -r 10.0.2.2:8080 -m -w 2',
      'ip netns exec node ipvsadm -A -u 10.96.0.10:53 -s wrr -p 10800 -M 255.255.255.0',
      'ip netns exec node ipvsadm -A -t 10.96.0.1:443 -s sh -b sh-fallback,sh-port',
      'ip netns exec node ipvsadm -A --sctp-service 10.1.0.1:9 -s lc -o',
      'ip netns exec node ipvsadm -A -f 5 -s mh -b mh-port',
      'ip netns exec node ipvsadm -a -f 5 -r 10.0.2.2 -g -w 1',
      'ip netns exec node ipvsadm -a -f 5 -r 10.0.3.2 -i -w 3 -x 10 -y 5',
    ]);
  });
});

describe('ipvsadm -Ln scheduler flags', () => {
  it('print_sched_flags: sh/mh name fallback and port only; others flag-1..3; ops with or without persistence', () => {
    const l = new IpvsLab();
    l.ipvs.addService({ protocol: 'TCP', addr: ip('10.0.0.1'), port: 1 }, { scheduler: 'sh', flags: 0x20 });
    l.ipvs.addService({ protocol: 'TCP', addr: ip('10.0.0.1'), port: 2 }, { scheduler: 'mh', flags: 0x38 });
    l.ipvs.addService({ protocol: 'TCP', addr: ip('10.0.0.1'), port: 3 }, { scheduler: 'rr', flags: 0x38 | 0x4 | 0x1, timeout: 60 });
    expect(l.ipvs.list().split('\n').slice(3, 6)).toEqual([
      'TCP  10.0.0.1:1 sh ()',
      'TCP  10.0.0.1:2 mh (mh-fallback,mh-port)',
      'TCP  10.0.0.1:3 rr (flag-1,flag-2,flag-3) persistent 60 ops',
    ]);
  });
});
