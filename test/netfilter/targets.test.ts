import { describe, expect, it } from 'vitest';
import { parseRule } from '../../src/netfilter/restore.js';
import type { TableName } from '../../src/netfilter/types.js';
import { conn, dev, fakeNs, fakeOps, ip, pkt } from './helpers.js';

const target = (rule: string, table: TableName = 'filter', chain = 'INPUT') => parseRule(rule, table, chain).target!;

describe('standard targets', () => {
  it('ACCEPT DROP RETURN, jump and goto', () => {
    expect(target('-j ACCEPT').run(pkt())).toEqual({ kind: 'accept' });
    expect(target('-j DROP').run(pkt())).toEqual({ kind: 'drop' });
    expect(target('-j RETURN').run(pkt())).toEqual({ kind: 'return' });
    expect(target('-g X').run(pkt())).toEqual({ kind: 'goto', chain: 'X' });
    expect(target('-j KUBE-SERVICES').run(pkt())).toEqual({ kind: 'jump', chain: 'KUBE-SERVICES' });
  });
});

describe('REJECT', () => {
  it('calls ops.reject then drops; default icmp-port-unreachable', () => {
    const { ops, calls } = fakeOps();
    expect(target('-j REJECT').run(pkt({ ops }))).toEqual({ kind: 'drop' });
    expect(target('-p tcp -j REJECT --reject-with tcp-reset').run(pkt({ ops }))).toEqual({ kind: 'drop' });
    target('-j REJECT --reject-with host-prohib').run(pkt({ ops }));
    expect(calls.reject).toEqual(['icmp-port-unreachable', 'tcp-reset', 'icmp-host-prohibited']);
  });
});

describe('MARK and CONNMARK', () => {
  it('MARK (mark & ~mask) ^ value for every spelling', () => {
    const run = (r: string, mark: number) => { const p = pkt({ mark }); expect(target(r).run(p)).toEqual({ kind: 'continue' }); return p.skb.mark; };
    expect(run('-j MARK --or-mark 0x4000', 0x1)).toBe(0x4001);
    expect(run('-j MARK --xor-mark 0x4000', 0x4001)).toBe(0x1);
    expect(run('-j MARK --and-mark 0xff', 0x4001)).toBe(0x1);
    expect(run('-j MARK --set-mark 5', 0xffff)).toBe(5);
    expect(run('-j MARK --set-mark 0x10000/0x10000', 0x1)).toBe(0x10001);
    expect(run('-j MARK --set-xmark 0x1/0x3', 0x2)).toBe(0x1);
  });
  it('CONNMARK set, save and restore with masks', () => {
    const c = conn({ mark: 0xf0 });
    const p = pkt({ ct: c, mark: 0x0f, ctinfo: 'established' });
    target('-j CONNMARK --set-xmark 0x1/0xf').run(p);
    expect(c.mark).toBe(0xf1);
    target('-j CONNMARK --save-mark --mask 0xf').run(p);
    expect(c.mark).toBe(0xff);
    p.skb.mark = 0;
    target('-j CONNMARK --restore-mark --nfmask 0xf0 --ctmask 0xf0').run(p);
    expect(p.skb.mark).toBe(0xf0);
    const none = pkt({ mark: 1 });
    expect(target('-j CONNMARK --restore-mark').run(none)).toEqual({ kind: 'continue' });
  });
});

describe('NAT targets', () => {
  it('DNAT / SNAT pass their range to natSetup', () => {
    const { ops, calls } = fakeOps();
    target('-p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.3:80-90 --random', 'nat', 'PREROUTING').run(pkt({ ops }));
    target('-j SNAT --to-source 1.2.3.4 --random-fully --persistent', 'nat', 'POSTROUTING').run(pkt({ ops }));
    expect(calls.nat).toEqual([
      { manip: 'dst', range: { minIp: ip('10.0.0.1'), maxIp: ip('10.0.0.3'), minPort: 80, maxPort: 90, random: true, randomFully: false, persistent: false } },
      { manip: 'src', range: { minIp: ip('1.2.3.4'), maxIp: ip('1.2.3.4'), minPort: 0, maxPort: 0, random: false, randomFully: true, persistent: true } },
    ]);
  });
  it('MASQUERADE uses the masquerade address, drops without one', () => {
    const { ops, calls } = fakeOps(ip('192.168.0.5'));
    target('-p tcp -j MASQUERADE --to-ports 1000-2000 --random-fully', 'nat', 'POSTROUTING').run(pkt({ ops }));
    expect(calls.nat[0]).toEqual({ manip: 'src', range: { minIp: ip('192.168.0.5'), maxIp: ip('192.168.0.5'), minPort: 1000, maxPort: 2000, random: false, randomFully: true, persistent: false } });
    expect(target('-j MASQUERADE', 'nat', 'POSTROUTING').run(pkt({ ops: fakeOps(0).ops }))).toEqual({ kind: 'drop' });
  });
  it('REDIRECT to the in-device address, 127.0.0.1 from OUTPUT', () => {
    const eth0 = dev('eth0');
    const ns = fakeNs([['10.9.9.9', eth0]]);
    const { ops, calls } = fakeOps();
    target('-p tcp -j REDIRECT --to-ports 8080', 'nat', 'PREROUTING').run(pkt({ ops, ns, inDev: eth0, hook: 0 }));
    target('-p tcp -j REDIRECT', 'nat', 'OUTPUT').run(pkt({ ops, ns, inDev: null, hook: 3 }));
    expect(calls.nat.map((c) => [c.range.minIp, c.range.minPort])).toEqual([[ip('10.9.9.9'), 8080], [ip('127.0.0.1'), 0]]);
  });
});

describe('NOTRACK, CT, LOG, TRACE', () => {
  it('notrack and trace go on', () => {
    const { ops, calls } = fakeOps();
    expect(target('-j NOTRACK', 'raw', 'PREROUTING').run(pkt({ ops }))).toEqual({ kind: 'continue' });
    expect(target('-j CT --notrack', 'raw', 'PREROUTING').run(pkt({ ops }))).toEqual({ kind: 'continue' });
    expect(target('-j TRACE', 'raw', 'PREROUTING').run(pkt({ ops }))).toEqual({ kind: 'continue' });
    expect(calls.notrack).toBe(2);
    expect(calls.log).toEqual(['TRACE']);
  });
  it('LOG writes the kernel log line', () => {
    const { ops, calls } = fakeOps();
    target('-j LOG --log-prefix "fw: "').run(pkt({ ops, src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, tcpFlags: 0x02, mark: 0x4000 }));
    expect(calls.log[0]).toBe('fw: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0 MARK=0x4000');
    target('-j LOG').run(pkt({ ops, proto: 17, sport: 5353, dport: 53 }));
    expect(calls.log[1]).toBe('IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=UDP SPT=5353 DPT=53 LEN=8');
  });
});
