import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Ipsets, IpsetError, ERR, jhash2, parseIp } from '../../src/netfilter/ipset.js';
import { ipsetRestore, ipsetListNames } from '../../src/netfilter/ipset-text.js';
import { RuleError, type PacketCtx } from '../../src/netfilter/types.js';

const S = 1_000_000_000;
function mk(now = { t: 0 }): Ipsets {
  return new Ipsets({ now: () => now.t });
}
function pkt(o: { saddr: string; daddr: string; proto?: number; sport?: number; dport?: number; icmp?: [number, number]; fragOff?: number }): PacketCtx {
  const buf = new Uint8Array(64);
  buf[2] = 0; buf[3] = 48;
  if (o.icmp) { buf[20] = o.icmp[0]; buf[21] = o.icmp[1]; }
  return {
    skb: { buf, data: 0, len: 48, nh: 0, mark: 0 },
    saddr: parseIp(o.saddr), daddr: parseIp(o.daddr), proto: o.proto ?? 6,
    sport: o.sport ?? 0, dport: o.dport ?? 0, fragOff: o.fragOff ?? 0, l4: o.fragOff ? -1 : 20, l4len: 28,
  } as unknown as PacketCtx;
}
function err(fn: () => void): string {
  try { fn(); } catch (e) { if (e instanceof IpsetError || e instanceof RuleError) return e.message; throw e; }
  return 'no error';
}

describe('jhash2', () => {
  it('is the kernel jhash (its order reproduces the kernel listing below)', () => {
    expect(jhash2([0], 0, 0)).toBe(0xdeadbeef);
    expect(typeof jhash2([1, 2, 3, 4], 4, 7)).toBe('number');
  });
});

describe('golden: ipset restore + save vs ipset 7.17 on Linux 6.18', () => {
  it('reproduces the real save output byte for byte (fixed initvals, resize, deletes, swap, rename, index reuse, list:set)', () => {
    const input = readFileSync(new URL('./fixtures/ipset-kube-restore.txt', import.meta.url), 'utf8');
    const want = readFileSync(new URL('./fixtures/ipset-kube-save.txt', import.meta.url), 'utf8');
    const s = mk();
    ipsetRestore(s, input);
    expect(s.save()).toBe(want);
  });
  it('orders like the kernel for a small hash:ip,port', () => {
    const s = mk();
    s.create('B', 'hash:ip,port', { initval: 0x12345678 });
    for (const e of ['10.96.0.1,tcp:443', '10.96.0.10,udp:53', '10.96.0.10,tcp:53', '10.96.0.10,tcp:9153', '10.96.12.7,tcp:80', '10.96.100.2,tcp:8080', '10.96.3.3,udp:5353']) s.add('B', e);
    expect(s.save()).toBe(`create B hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x12345678
add B 10.96.12.7,tcp:80
add B 10.96.0.10,udp:53
add B 10.96.0.10,tcp:9153
add B 10.96.100.2,tcp:8080
add B 10.96.0.10,tcp:53
add B 10.96.3.3,udp:5353
add B 10.96.0.1,tcp:443
`);
  });
  it('prints create options, extensions and element forms as the tool does', () => {
    const s = mk();
    ipsetRestore(s, [
      'create F hash:net timeout 100 counters comment forceadd initval 0x1',
      'add F 10.0.0.0/8 nomatch timeout 50 comment "c" packets 1 bytes 2',
      'create C hash:ip hashsize 100 maxelem 7 initval 0x2',
      'create P bitmap:port range 100-200',
      'add P 150', 'add P tcp:120-121',
      'create L list:set size 3 timeout 10',
      'add L F', 'add L C before F',
      'create I hash:ip,port initval 0x3', 'add I 1.1.1.1,icmp:8/0',
    ].join('\n'));
    const out = s.save();
    expect(out).toContain('create F hash:net family inet hashsize 1024 maxelem 65536 timeout 100 counters comment bucketsize 12 initval 0x00000001\nadd F 10.0.0.0/8 timeout 50 nomatch packets 1 bytes 2 comment "c"\n');
    expect(out).toContain('create C hash:ip family inet hashsize 128 maxelem 7 bucketsize 12 initval 0x00000002\n');
    expect(out).toContain('create P bitmap:port range 100-200\nadd P 120\nadd P 121\nadd P 150\n');
    expect(out).toContain('add I 1.1.1.1,icmp:echo-request\n');
    expect(out.endsWith('create L list:set size 4 timeout 10\nadd L C timeout 10\nadd L F timeout 10\n')).toBe(true);
    expect(ipsetListNames(s)).toBe('F\nC\nP\nI\nL\n');
  });
});

describe('membership per type', () => {
  it('hash:ip, ranges and CIDRs expand, 0.0.0.0 refused', () => {
    const s = mk();
    s.create('A', 'hash:ip');
    s.add('A', '1.2.3.4/30');
    expect(s.size('A')).toBe(4);
    expect(s.testElem('A', '1.2.3.6')).toBe(true);
    expect(s.testElem('A', '1.2.3.8')).toBe(false);
    expect(err(() => s.add('A', '0.0.0.0'))).toBe(ERR.nullElem);
  });
  it('hash:ip,port: protocols are part of the element, a bare port is tcp', () => {
    const s = mk();
    s.create('P', 'hash:ip,port');
    s.add('P', '10.96.0.10,53');
    s.add('P', '10.96.0.10,udp:53');
    expect(s.testElem('P', '10.96.0.10,tcp:53')).toBe(true);
    expect(s.testElem('P', '10.96.0.10,sctp:53')).toBe(false);
    expect(s.save()).toContain('add P 10.96.0.10,tcp:53\n');
    expect(err(() => s.add('P', '10.96.0.10,tcp:53'))).toBe("Element cannot be added to the set: it's already added");
    expect(err(() => s.add('P', '1.1.1.1,gre:5'))).toBe('Syntax error: Protocol gre can be used with pseudo port value 0 only.');
    expect(err(() => s.add('P', '1.1.1.1'))).toBe('Syntax error: Second element is missing from 1.1.1.1.');
    expect(err(() => s.add('P', '1.1.1.1,foo:9'))).toBe("Syntax error: cannot parse 'foo' as a protocol");
  });
  it('hash:net: most specific prefix decides, nomatch entries exclude', () => {
    const s = mk();
    s.create('N', 'hash:net');
    s.add('N', '10.0.0.0/8');
    s.add('N', '10.1.0.0/16', { nomatch: true });
    s.add('N', '10.1.2.0/24');
    expect(s.testElem('N', '10.9.9.9')).toBe(true);
    expect(s.testElem('N', '10.1.9.9')).toBe(false);
    expect(s.testElem('N', '10.1.2.3')).toBe(true);
    expect(s.testElem('N', '11.0.0.1')).toBe(false);
    expect(err(() => s.add('N', '0.0.0.0/0'))).toBe(ERR.cidr);
    expect(err(() => s.add('N', '10.1.0.0/16'))).toBe(ERR.added);
    s.add('N', '10.1.0.0/16', { exist: true }); // -exist clears the nomatch flag
    expect(s.testElem('N', '10.1.9.9')).toBe(true);
  });
  it('hash:net splits a range into CIDRs', () => {
    const s = mk();
    s.create('H', 'hash:net', { initval: 0x4756a662 });
    s.add('H', '10.0.0.0-10.0.0.5');
    expect(s.save()).toBe('create H hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x4756a662\nadd H 10.0.0.0/30\nadd H 10.0.0.4/31\n');
  });
  it('bitmap:port range and errors', () => {
    const s = mk();
    expect(err(() => s.create('B', 'bitmap:port'))).toBe("Mandatory option `range' is missing");
    s.create('B', 'bitmap:port', { range: { from: 30000, to: 32767 } });
    s.add('B', '30000-30002');
    expect(s.testElem('B', '30001')).toBe(true);
    expect(err(() => s.add('B', '80'))).toBe('Element is out of the range of the set');
    s.del('B', '30001');
    expect(s.testElem('B', '30001')).toBe(false);
  });
  it('list:set: members, before/after, references, no nesting', () => {
    const s = mk();
    s.create('A', 'hash:ip'); s.create('B', 'hash:ip'); s.create('L', 'list:set'); s.create('L2', 'list:set');
    s.add('L', 'A');
    s.add('L', 'B', { before: 'A' });
    expect(s.save('L')).toBe('create L list:set size 8\nadd L B\nadd L A\n');
    expect(err(() => s.destroy('A'))).toBe(ERR.destroyBusy);
    expect(err(() => s.add('L2', 'L'))).toBe(ERR.listOfList);
    expect(err(() => s.add('L', 'NOPE'))).toBe(ERR.memberMissing);
    expect(err(() => s.add('L', 'A', { after: 'X' }))).toBe(ERR.refMissing);
    s.create('C', 'hash:ip');
    expect(err(() => s.add('L', 'C', { after: 'L2' }))).toBe(ERR.refNotAdded);
    s.del('L', 'A');
    s.destroy('A');
  });
});

describe('timeouts on the virtual clock', () => {
  it('entries expire after their timeout, save prints remaining seconds (floor, at least 1)', () => {
    const now = { t: 0 };
    const s = mk(now);
    s.create('T', 'hash:ip', { timeout: 300, initval: 1 });
    s.add('T', '1.1.1.1', { timeout: 100 });
    s.add('T', '1.1.1.2');
    s.add('T', '1.1.1.3', { timeout: 0 });
    now.t = 99.5 * S;
    expect(s.save()).toContain('add T 1.1.1.1 timeout 1\n');
    expect(s.testElem('T', '1.1.1.1')).toBe(true);
    now.t = 100 * S + 1;
    expect(s.testElem('T', '1.1.1.1')).toBe(false);
    expect(s.save()).toContain('add T 1.1.1.2 timeout 199\n');
    expect(s.save()).toContain('add T 1.1.1.3 timeout 0\n');
    s.add('T', '1.1.1.1'); // an expired entry is re-added without "already added"
    expect(s.testElem('T', '1.1.1.1')).toBe(true);
  });
  it('timeout on a set without timeout support is refused', () => {
    const s = mk();
    s.create('A', 'hash:ip');
    expect(err(() => s.add('A', '1.1.1.1', { timeout: 5 }))).toBe(ERR.noTimeout);
  });
  it('a full set with expired entries frees them (gc) before refusing', () => {
    const now = { t: 0 };
    const s = mk(now);
    s.create('T', 'hash:ip', { timeout: 10, maxelem: 2 });
    s.add('T', '1.1.1.1'); s.add('T', '1.1.1.2');
    expect(err(() => s.add('T', '1.1.1.3'))).toBe('Hash is full, cannot add more elements');
    now.t = 11 * S;
    s.add('T', '1.1.1.3');
    expect(s.size('T')).toBe(1);
  });
});

describe('set commands and their errors', () => {
  it('exact messages', () => {
    const s = mk();
    s.create('A', 'hash:ip', { maxelem: 2 });
    s.add('A', '1.1.1.1'); s.add('A', '1.1.1.2');
    expect(err(() => s.add('A', '1.1.1.3'))).toBe('Hash is full, cannot add more elements');
    expect(err(() => s.add('NOPE', '1.1.1.1'))).toBe('The set with the given name does not exist');
    expect(err(() => s.del('A', '9.9.9.9'))).toBe("Element cannot be deleted from the set: it's not added");
    s.del('A', '9.9.9.9', { exist: true });
    expect(err(() => s.create('A', 'hash:ip'))).toBe('Set cannot be created: set with the same name already exists');
    s.create('A', 'hash:ip', { maxelem: 2, hashsize: 64 }, true); // -exist: same set, hashsize may differ
    expect(err(() => s.create('A', 'hash:ip', { maxelem: 8 }, true))).toBe(ERR.exists);
    s.create('B', 'hash:net');
    expect(err(() => s.rename('A', 'B'))).toBe('Set cannot be renamed: a set with the new name already exists');
    expect(err(() => s.swap('A', 'NOPE'))).toBe('Sets cannot be swapped: the second set does not exist');
    expect(err(() => s.swap('A', 'B'))).toBe('The sets cannot be swapped: their type does not match');
    s.ref('A');
    expect(err(() => s.destroy('A'))).toBe('Set cannot be destroyed: it is in use by a kernel component');
    expect(err(() => s.rename('A', 'C'))).toBe('Set cannot be renamed: it is in use by another system');
    expect(err(() => s.destroy())).toBe(ERR.destroyBusy);
    expect(s.has('B')).toBe(true);
    s.unref('A');
    s.destroy('A');
    expect(s.has('A')).toBe(false);
  });
  it('swap moves contents and references between names', () => {
    const s = mk();
    s.create('X', 'hash:ip'); s.create('Y', 'hash:ip');
    s.add('X', '1.1.1.1'); s.add('Y', '2.2.2.2');
    s.ref('X');
    s.swap('X', 'Y');
    expect(s.testElem('X', '2.2.2.2')).toBe(true);
    expect(s.testElem('Y', '1.1.1.1')).toBe(true);
    expect(err(() => s.destroy('X'))).toBe(ERR.destroyBusy);
    s.destroy('Y');
  });
  it('property: save then restore reproduces the same save text', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 0xffffffff }), fc.constantFrom('tcp', 'udp', 'sctp'), fc.integer({ min: 0, max: 65535 })), { maxLength: 200 }), fc.integer({ min: 0, max: 0xffffffff }), (elems, initval) => {
      const a = mk();
      a.create('S', 'hash:ip,port', { initval, hashsize: 64 });
      for (const [ip, pr, port] of elems) a.add('S', `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255},${pr}:${port}`, { exist: true });
      const b = mk();
      ipsetRestore(b, a.save());
      expect(b.save()).toBe(a.save());
    }), { numRuns: 30 });
  });
});

describe('ipset restore text errors', () => {
  it('names line and column', () => {
    const s = mk();
    const e = (t: string): string => { try { ipsetRestore(s, t, { file: 'sets.txt' }); } catch (x) { return (x as RuleError).format(); } return 'ok'; };
    expect(e('create A hash:ip\nbogus A\n')).toBe('sets.txt:2:1: error: No command specified: unknown argument bogus');
    expect(e('create B foo:bar')).toBe("sets.txt:1:10: error: Syntax error: typename 'foo:bar' is unknown");
    expect(e('add NOPE 1.1.1.1')).toBe('sets.txt:1:5: error: The set with the given name does not exist');
    expect(e('add A 1.1.1.1\n# c\n\nadd A 1.1.1.1')).toBe("sets.txt:4:5: error: Element cannot be added to the set: it's already added");
    expect(e('add A 1.1.1.2 timeout')).toBe("sets.txt:1:22: error: Missing mandatory argument of option `timeout'");
    expect(e('add A 1.1.1.300')).toBe('sets.txt:1:5: error: Syntax error: cannot parse 1.1.1.300: resolving to IPv4 address failed');
    expect(e('add A 1.1.1.1,2')).toBe('sets.txt:1:5: error: Syntax error: Elem separator in 1.1.1.1,2, but settype hash:ip supports none.');
    expect(e('add A 1.1.1.3 -exist\nadd A 1.1.1.3 -exist')).toBe('ok');
  });
});

describe('ip_set_test from packets', () => {
  it('hash:ip,port dst,dst reads the destination and its protocol', () => {
    const s = mk();
    s.create('KUBE-CLUSTER-IP', 'hash:ip,port');
    s.add('KUBE-CLUSTER-IP', '10.96.0.10,udp:53');
    expect(s.test('KUBE-CLUSTER-IP', ['dst', 'dst'], pkt({ saddr: '10.244.1.2', daddr: '10.96.0.10', proto: 17, sport: 4000, dport: 53 }))).toBe(true);
    expect(s.test('KUBE-CLUSTER-IP', ['dst', 'dst'], pkt({ saddr: '10.244.1.2', daddr: '10.96.0.10', proto: 6, dport: 53 }))).toBe(false);
    expect(s.test('KUBE-CLUSTER-IP', ['dst', 'src'], pkt({ saddr: '10.244.1.2', daddr: '10.96.0.10', proto: 17, sport: 4000, dport: 53 }))).toBe(false);
    // fewer flags than dimensions: never matches
    expect(s.test('KUBE-CLUSTER-IP', ['dst'], pkt({ saddr: '1.1.1.1', daddr: '10.96.0.10', proto: 17, dport: 53 }))).toBe(false);
    // later fragments of UDP carry no port
    expect(s.test('KUBE-CLUSTER-IP', ['dst', 'dst'], pkt({ saddr: '1.1.1.1', daddr: '10.96.0.10', proto: 17, dport: 53, fragOff: 8 }))).toBe(false);
  });
  it('ICMP matches icmp:type/code, other protocols proto:0', () => {
    const s = mk();
    s.create('I', 'hash:ip,port');
    s.add('I', '10.96.0.1,icmp:echo-request');
    s.add('I', '10.96.0.1,gre:0');
    expect(s.test('I', ['dst', 'dst'], pkt({ saddr: '1.1.1.1', daddr: '10.96.0.1', proto: 1, icmp: [8, 0] }))).toBe(true);
    expect(s.test('I', ['dst', 'dst'], pkt({ saddr: '1.1.1.1', daddr: '10.96.0.1', proto: 1, icmp: [0, 0] }))).toBe(false);
    expect(s.test('I', ['dst', 'dst'], pkt({ saddr: '1.1.1.1', daddr: '10.96.0.1', proto: 47 }))).toBe(true);
  });
  it('hash:ip,port,ip (KUBE-LOOP-BACK dst,dst,src) and hash:ip,port,net', () => {
    const s = mk();
    s.create('LB', 'hash:ip,port,ip');
    s.add('LB', '10.244.1.5,tcp:8080,10.244.1.5');
    expect(s.test('LB', ['dst', 'dst', 'src'], pkt({ saddr: '10.244.1.5', daddr: '10.244.1.5', dport: 8080 }))).toBe(true);
    expect(s.test('LB', ['dst', 'dst', 'src'], pkt({ saddr: '10.244.1.6', daddr: '10.244.1.5', dport: 8080 }))).toBe(false);
    s.create('SC', 'hash:ip,port,net');
    s.add('SC', '203.0.113.1,tcp:80,192.168.0.0/16');
    s.add('SC', '203.0.113.1,tcp:80,192.168.7.0/24', { nomatch: true });
    const p = (src: string): PacketCtx => pkt({ saddr: src, daddr: '203.0.113.1', dport: 80 });
    expect(s.test('SC', ['dst', 'dst', 'src'], p('192.168.1.1'))).toBe(true);
    expect(s.test('SC', ['dst', 'dst', 'src'], p('192.168.7.1'))).toBe(false);
    expect(s.test('SC', ['dst', 'dst', 'src'], p('192.168.7.1'), { returnNomatch: true })).toBe(true);
    expect(s.test('SC', ['dst', 'dst', 'src'], p('192.168.1.1'), { returnNomatch: true })).toBe(false);
  });
  it('bitmap:port matches TCP and UDP only; list:set tests members in order', () => {
    const s = mk();
    s.create('NP', 'bitmap:port', { range: { from: 0, to: 65535 } });
    s.add('NP', '30080');
    expect(s.test('NP', ['dst'], pkt({ saddr: '1.1.1.1', daddr: '2.2.2.2', proto: 6, dport: 30080 }))).toBe(true);
    expect(s.test('NP', ['dst'], pkt({ saddr: '1.1.1.1', daddr: '2.2.2.2', proto: 132, dport: 30080 }))).toBe(false);
    s.create('A', 'hash:ip'); s.create('L', 'list:set');
    s.add('A', '2.2.2.2'); s.add('L', 'NP'); s.add('L', 'A');
    expect(s.test('L', ['src'], pkt({ saddr: '1.1.1.1', daddr: '2.2.2.2', dport: 1 }))).toBe(false);
    expect(s.test('L', ['dst'], pkt({ saddr: '1.1.1.1', daddr: '2.2.2.2', dport: 1 }))).toBe(true);
  });
  it('counters: compared before the update, skipped with ! --update-counters', () => {
    const s = mk();
    s.create('C', 'hash:ip', { counters: true });
    s.add('C', '2.2.2.2');
    const p = pkt({ saddr: '1.1.1.1', daddr: '2.2.2.2' });
    expect(s.test('C', ['dst'], p, { packets: { op: 'lt', value: 1 } })).toBe(true);
    expect(s.test('C', ['dst'], p, { packets: { op: 'lt', value: 1 } })).toBe(false);
    s.test('C', ['dst'], p, { updateCounters: false });
    // a failed comparison returns before the update; ! --update-counters does not count either
    expect(s.save()).toContain('add C 2.2.2.2 packets 1 bytes 48\n');
  });
});
