import { describe, expect, it } from 'vitest';
import { parseRule } from '../../src/netfilter/restore.js';
import { headerMatches } from '../../src/netfilter/traverse.js';
import type { PacketCtx, TableName } from '../../src/netfilter/types.js';
import { IPS_ASSURED, IPS_DST_NAT } from '../../src/netfilter/ct-types.js';
import { conn, dev, fakeNs, ip, pkt } from './helpers.js';

/** Does `rule` (iptables arguments) match the packet? Header and every match module. */
function m(rule: string, p: PacketCtx, table: TableName = 'filter', chain = 'INPUT'): boolean {
  const r = parseRule(rule, table, chain);
  return headerMatches(r.ip, p) && r.matches.every((x) => x.matches(p));
}

describe('header -s -d -i -o -p -f', () => {
  it('addresses with masks and !', () => {
    const p = pkt({ src: '10.1.2.3', dst: '192.168.0.9' });
    expect(m('-s 10.1.0.0/16', p)).toBe(true);
    expect(m('-s 10.1.2.3/255.255.0.0', p)).toBe(true);
    expect(m('! -s 10.1.0.0/16', p)).toBe(false);
    expect(m('-d 192.168.0.8/31', p)).toBe(true);
    expect(m('-d 192.168.0.8', p)).toBe(false);
    expect(m('-s 0.0.0.0/0', p)).toBe(true);
  });
  it('interfaces with + and !', () => {
    const p = pkt({ inDev: dev('veth12'), outDev: dev('eth0') });
    expect(m('-i veth+', p, 'filter', 'FORWARD')).toBe(true);
    expect(m('! -i veth+', p, 'filter', 'FORWARD')).toBe(false);
    expect(m('-o eth0', p, 'filter', 'FORWARD')).toBe(true);
    expect(m('-o eth', p, 'filter', 'FORWARD')).toBe(false);
  });
  it('protocol and fragments', () => {
    expect(m('-p tcp', pkt())).toBe(true);
    expect(m('-p udp', pkt())).toBe(false);
    expect(m('! -p udp', pkt())).toBe(true);
    expect(m('-p all', pkt({ proto: 47 }))).toBe(true);
    expect(m('-p 47', pkt({ proto: 47 }))).toBe(true);
    expect(m('-f', pkt({ fragOff: 1480 }))).toBe(true);
    expect(m('-f', pkt())).toBe(false);
    expect(m('! -f', pkt())).toBe(true);
  });
});

describe('tcp udp sctp', () => {
  it('ports and ranges', () => {
    const p = pkt({ sport: 40000, dport: 443 });
    expect(m('-p tcp --dport 443', p)).toBe(true);
    expect(m('-p tcp --dport 400:500', p)).toBe(true);
    expect(m('-p tcp ! --dport 400:500', p)).toBe(false);
    expect(m('-p tcp --sport 1024:', p)).toBe(true);
    expect(m('-p tcp --sport :1023', p)).toBe(false);
    expect(m('-p tcp --dport https', p)).toBe(true);
    expect(m('-p tcp --dport 443', pkt({ fragOff: 8 }))).toBe(false);
    expect(m('-p udp --dport 53', pkt({ proto: 17, dport: 53 }))).toBe(true);
    expect(m('-p sctp --dport 53', pkt({ proto: 132, dport: 53 }))).toBe(true);
  });
  it('--tcp-flags, --syn, --tcp-option', () => {
    expect(m('-p tcp --syn', pkt({ tcpFlags: 0x02 }))).toBe(true);
    expect(m('-p tcp --syn', pkt({ tcpFlags: 0x12 }))).toBe(false);
    expect(m('-p tcp ! --syn', pkt({ tcpFlags: 0x10 }))).toBe(true);
    expect(m('-p tcp --tcp-flags ALL NONE', pkt({ tcpFlags: 0 }))).toBe(true);
    expect(m('-p tcp --tcp-flags SYN,RST SYN,RST', pkt({ tcpFlags: 0x06 }))).toBe(true);
    expect(m('-p tcp --tcp-option 2', pkt({ tcpOptions: [1, 2, 4, 5, 0xb4] }))).toBe(true);
    expect(m('-p tcp --tcp-option 8', pkt({ tcpOptions: [1, 2, 4, 5, 0xb4] }))).toBe(false);
  });
});

describe('icmp', () => {
  it('names, numbers, type/code, any', () => {
    const echo = pkt({ proto: 1, icmpType: 8 });
    const unr = pkt({ proto: 1, icmpType: 3, icmpCode: 1 });
    expect(m('-p icmp --icmp-type echo-request', echo)).toBe(true);
    expect(m('-p icmp --icmp-type 8', echo)).toBe(true);
    expect(m('-p icmp --icmp-type echo-reply', echo)).toBe(false);
    expect(m('-p icmp --icmp-type host-unreachable', unr)).toBe(true);
    expect(m('-p icmp --icmp-type 3/3', unr)).toBe(false);
    expect(m('-p icmp --icmp-type destination-unreachable', unr)).toBe(true);
    expect(m('-p icmp --icmp-type any', unr)).toBe(true);
    expect(m('-p icmp ! --icmp-type 8', unr)).toBe(true);
  });
});

describe('multiport, comment, mark, connmark', () => {
  it('multiport', () => {
    const p = pkt({ sport: 5000, dport: 8080 });
    expect(m('-p tcp -m multiport --dports 80,8000:9000', p)).toBe(true);
    expect(m('-p tcp -m multiport --sports 80,443', p)).toBe(false);
    expect(m('-p tcp -m multiport --ports 5000', p)).toBe(true);
    expect(m('-p tcp -m multiport ! --dports 8080', p)).toBe(false);
  });
  it('comment always matches', () => {
    expect(m('-m comment --comment "a b"', pkt())).toBe(true);
  });
  it('mark and connmark', () => {
    expect(m('-m mark --mark 0x4000/0x4000', pkt({ mark: 0x4001 }))).toBe(true);
    expect(m('-m mark --mark 0x4000', pkt({ mark: 0x4001 }))).toBe(false);
    expect(m('-m mark ! --mark 0x4000/0x4000', pkt({ mark: 0 }))).toBe(true);
    expect(m('-m connmark --mark 1/0xff', pkt({ ct: conn({ mark: 0x101 }) }))).toBe(true);
    expect(m('-m connmark --mark 1', pkt())).toBe(false);
  });
});

describe('conntrack and state', () => {
  it('--ctstate from ctinfo and NAT status', () => {
    const est = pkt({ ct: conn(), ctinfo: 'established_reply' });
    expect(m('-m conntrack --ctstate RELATED,ESTABLISHED', est)).toBe(true);
    expect(m('-m conntrack --ctstate NEW', est)).toBe(false);
    expect(m('-m conntrack --ctstate INVALID', pkt())).toBe(true);
    expect(m('-m conntrack --ctstate UNTRACKED', pkt({ ctinfo: 'untracked' }))).toBe(true);
    const dnat = pkt({ ct: conn({ status: IPS_DST_NAT }), ctinfo: 'new' });
    expect(m('-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT', dnat)).toBe(false);
    expect(m('-m conntrack --ctstate DNAT', dnat)).toBe(true);
    expect(m('-m state --state NEW', dnat)).toBe(true);
    expect(m('-m state --state ESTABLISHED', pkt({ ct: conn(), ctinfo: 'established' }))).toBe(true);
  });
  it('tuples, ports, status, direction', () => {
    const c = conn({ status: IPS_ASSURED });
    c.orig.dst = ip('10.96.0.10');
    c.orig.dport = 53;
    const p = pkt({ ct: c, ctinfo: 'established' });
    expect(m('-m conntrack --ctorigdst 10.96.0.10 --ctorigdstport 53', p)).toBe(true);
    expect(m('-m conntrack --ctorigdst 10.96.0.0/12', p)).toBe(true);
    expect(m('-m conntrack ! --ctorigdst 10.96.0.10', p)).toBe(false);
    expect(m('-m conntrack --ctreplsrc 10.0.0.2 --ctrepldstport 1234', p)).toBe(true);
    expect(m('-m conntrack --ctstatus ASSURED --ctdir ORIGINAL', p)).toBe(true);
    expect(m('-m conntrack --ctdir REPLY', p)).toBe(false);
    expect(m('-m conntrack --ctproto tcp', p)).toBe(true);
    expect(m('-m conntrack --ctorigdst 10.96.0.10', pkt())).toBe(false);
  });
});

describe('statistic', () => {
  it('random compares (u32 & 0x7fffffff) with round(P * 2^31)', () => {
    const half = (r: number) => pkt({ random: () => r });
    expect(m('-m statistic --mode random --probability 0.5', half(0x3fffffff))).toBe(true);
    expect(m('-m statistic --mode random --probability 0.5', half(0x40000000))).toBe(false);
    expect(m('-m statistic --mode random --probability 0.5', half(0xbfffffff))).toBe(true);
    expect(m('-m statistic --mode random --probability 1', half(0xffffffff))).toBe(true);
    expect(m('-m statistic --mode random --probability 0', half(0))).toBe(false);
  });
  it('nth counts per rule', () => {
    const r = parseRule('-m statistic --mode nth --every 3 --packet 0', 'filter', 'INPUT');
    const seq = Array.from({ length: 6 }, () => r.matches[0].matches(pkt()));
    // The counter starts at (every-1) - packet (libxt_statistic), so --packet 0 matches the first packet (seen on the kernel).
    expect(seq).toEqual([true, false, false, true, false, false]);
    const r1 = parseRule('-m statistic --mode nth --every 3 --packet 1', 'filter', 'INPUT');
    expect(Array.from({ length: 3 }, () => r1.matches[0].matches(pkt()))).toEqual([false, true, false]);
  });
});

describe('recent', () => {
  it('set, rcheck with --seconds, update with --hitcount, remove, per-namespace tables', () => {
    const ns = fakeNs();
    const at = (t: number, src = '1.1.1.1') => pkt({ ns, now: t * 1e9, src });
    const set = parseRule('-m recent --name S --set', 'filter', 'INPUT').matches[0];
    const check = parseRule('-m recent --name S --rcheck --seconds 10', 'filter', 'INPUT').matches[0];
    const upd = parseRule('-m recent --name S --update --seconds 10 --hitcount 3', 'filter', 'INPUT').matches[0];
    const rm = parseRule('-m recent --name S --remove', 'filter', 'INPUT').matches[0];
    expect(check.matches(at(0))).toBe(false);
    expect(set.matches(at(1))).toBe(true);
    expect(check.matches(at(5))).toBe(true);
    expect(check.matches(at(5, '2.2.2.2'))).toBe(false);
    expect(check.matches(at(12))).toBe(false);
    expect(check.matches(pkt({ now: 5e9 }))).toBe(false); // another namespace
    set.matches(at(20));
    expect(upd.matches(at(21))).toBe(false); // 1 stamp within 10 s
    set.matches(at(22));
    expect(upd.matches(at(23))).toBe(false); // 2 stamps
    set.matches(at(24));
    expect(upd.matches(at(25))).toBe(true); // 3 stamps
    expect(rm.matches(at(26))).toBe(true);
    expect(check.matches(at(26))).toBe(false);
  });
  it('--rdest and --mask', () => {
    const ns = fakeNs();
    parseRule('-m recent --name D --set --rdest --mask 255.255.255.0', 'filter', 'INPUT').matches[0].matches(pkt({ ns, dst: '9.9.9.9' }));
    expect(parseRule('-m recent --name D --rcheck --rdest --mask 255.255.255.0', 'filter', 'INPUT').matches[0].matches(pkt({ ns, dst: '9.9.9.1' }))).toBe(true);
  });
});

describe('physdev', () => {
  it('bridged packets', () => {
    const p = pkt({ physIn: dev('veth1'), physOut: dev('veth2'), bridged: true });
    expect(m('-m physdev --physdev-is-bridged', p, 'filter', 'FORWARD')).toBe(true);
    expect(m('-m physdev --physdev-in veth+ --physdev-out veth2', p, 'filter', 'FORWARD')).toBe(true);
    expect(m('-m physdev ! --physdev-in veth1', p, 'filter', 'FORWARD')).toBe(false);
    expect(m('-m physdev --physdev-is-in --physdev-is-out', p, 'filter', 'FORWARD')).toBe(true);
  });
  it('packets without bridge info match only inverted options', () => {
    expect(m('-m physdev --physdev-is-bridged', pkt(), 'filter', 'FORWARD')).toBe(false);
    expect(m('-m physdev ! --physdev-is-in', pkt(), 'filter', 'FORWARD')).toBe(true);
  });
});

describe('addrtype', () => {
  it('LOCAL from the local table, BROADCAST, MULTICAST, UNICAST; --limit-iface-in', () => {
    const eth0 = dev('eth0'), eth1 = dev('eth1');
    const ns = fakeNs([['192.168.1.10', eth0]]);
    expect(m('-m addrtype --dst-type LOCAL', pkt({ ns, dst: '192.168.1.10' }))).toBe(true);
    expect(m('-m addrtype --dst-type LOCAL', pkt({ ns, dst: '192.168.1.11' }))).toBe(false);
    expect(m('-m addrtype --dst-type UNICAST', pkt({ ns, dst: '8.8.8.8' }))).toBe(true);
    expect(m('-m addrtype --dst-type MULTICAST', pkt({ ns, dst: '224.0.0.5' }))).toBe(true);
    expect(m('-m addrtype --dst-type BROADCAST', pkt({ ns, dst: '255.255.255.255' }))).toBe(true);
    expect(m('-m addrtype ! --src-type LOCAL', pkt({ ns, src: '10.0.0.1' }))).toBe(true);
    expect(m('-m addrtype --dst-type LOCAL --limit-iface-in', pkt({ ns, dst: '192.168.1.10', inDev: eth0 }))).toBe(true);
    expect(m('-m addrtype --dst-type LOCAL --limit-iface-in', pkt({ ns, dst: '192.168.1.10', inDev: eth1 }))).toBe(false);
  });
});

describe('limit', () => {
  it('token bucket: burst then one packet per period', () => {
    const lim = parseRule('-m limit --limit 1/sec --limit-burst 2', 'filter', 'INPUT').matches[0];
    const at = (t: number) => lim.matches(pkt({ now: t * 1e9 }));
    expect([at(0), at(0), at(0)]).toEqual([true, true, false]);
    expect(at(0.5)).toBe(false);
    expect(at(1)).toBe(true);
    expect(at(1.2)).toBe(false);
    expect([at(10), at(10), at(10)]).toEqual([true, true, false]);
  });
});
