/**
 * The jump index's keys (traverse-index.ts): rules filed by `-s`/`-d` under
 * their masks, by protocol+--dport behind pure modules (comment, physdev,
 * mark), by protocol; negations, impure modules before the port match and
 * rules without any key are visited. Property: on random chains (parsed by
 * iptables-restore, so the real match classes) and random packets, indexed
 * and linear traversal agree on verdicts, matched rules (trace lines),
 * per-rule and policy counters, the evaluated count (the kernel's linear
 * count) and side effects (marks, -m statistic --mode nth counters) — also
 * with a single mask group per direction, so rules fall back to later keys.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chainIndex, ruleKeys, traverseTable, traverseTuning, type TraverseTrace } from '../../src/netfilter/traverse.js';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import type { PacketCtx, Table } from '../../src/netfilter/types.js';
import { dev, ip, pkt } from './helpers.js';

// Half the rules have no address of a kind, so port and proto keys (and generic rules) are common too.
const ADDR = fc.oneof({ arbitrary: fc.constant(''), weight: 12 }, { arbitrary: fc.constantFrom(
  '10.0.0.1/32', '10.0.0.2', '10.0.1.5/32', '! 10.0.0.1/32', '10.0.0.0/24', '10.0.1.0/24',
  '10.0.0.0/16', '! 10.0.0.0/24', '10.0.0.0/255.0.255.0', '0.0.0.0/0', '10.1.0.1/31',
), weight: 11 });
const addrOpt = (flag: string, a: string) => (a === '' ? '' : a.startsWith('! ') ? `! ${flag} ${a.slice(2)}` : `${flag} ${a}`);

const MODULES = fc.constantFrom(
  '-m comment --comment "c"',
  '-m physdev --physdev-is-bridged',
  '-m physdev ! --physdev-is-bridged',
  '-m mark --mark 0x1/0x1',
  '-m mark ! --mark 0x1/0x1',
  '-m statistic --mode nth --every 2 --packet 0',
  '-m statistic --mode nth ! --every 3 --packet 1',
  'PORT',
);
const PORT = fc.constantFrom('--dport 80', '--dport 81', '--dport 443', '! --dport 80', '--dport 80:90', '--sport 1234', '--dport 80 --sport 1234');

// Interface names: exact (indexed), wildcard and negated (keyless); the packets' devices below.
const IFACE = fc.oneof({ arbitrary: fc.constant(''), weight: 6 }, { arbitrary: fc.constantFrom(
  '-i eth0', '-i br0', '-i vethA', '-i cali1', '! -i eth0', '-i veth+', '-i cali+',
  '-o br0', '-o vethB', '-o cali1', '-o cali2', '! -o br0', '-o cali+', '-i eth0 -o cali1', '-i cali2 -o eth0',
), weight: 5 });

const ruleArb = (chain: string, jumps: string[]) => fc.record({
  iface: IFACE,
  src: ADDR,
  dst: ADDR,
  proto: fc.constantFrom('', '-p tcp', '-p udp', '! -p tcp', '-p icmp', '-p tcp', '-p udp'),
  modules: fc.array(MODULES, { maxLength: 3 }),
  port: PORT,
  target: fc.constantFrom('', '-j ACCEPT', '-j DROP', '-j RETURN', '-j MARK --set-xmark 0x1/0x1', '-j MARK --set-xmark 0x0/0x1',
    ...jumps.map((j) => `-j ${j}`), ...jumps.map((j) => `-g ${j}`)),
}).map((r) => {
  const l4 = r.proto === '-p tcp' || r.proto === '-p udp' ? r.proto.slice(3) : '';
  let portUsed = false;
  const mods = r.modules.flatMap((m) => {
    if (m !== 'PORT') return [m];
    if (!l4 || portUsed) return [];
    portUsed = true;
    return [`-m ${l4} ${r.port}`];
  });
  return [`-A ${chain}`, addrOpt('-s', r.src), addrOpt('-d', r.dst), r.iface, r.proto, ...mods, r.target].filter(Boolean).join(' ');
});

const rulesetArb = fc.record({
  policy: fc.constantFrom('ACCEPT', 'DROP'),
  fwd: fc.array(ruleArb('FORWARD', ['U1', 'U2']), { maxLength: 60 }),
  u1: fc.array(ruleArb('U1', ['U2']), { maxLength: 40 }),
  u2: fc.array(ruleArb('U2', []), { maxLength: 40 }),
}).map((r) => ['*filter', ':INPUT ACCEPT [0:0]', `:FORWARD ${r.policy} [0:0]`, ':OUTPUT ACCEPT [0:0]', ':U1 - [0:0]', ':U2 - [0:0]',
  ...r.fwd, ...r.u1, ...r.u2, 'COMMIT', ''].join('\n'));

const HOSTS = ['10.0.0.1', '10.0.0.2', '10.0.0.7', '10.0.1.5', '10.1.0.0', '10.1.0.1', '10.2.0.9', '192.168.0.1'];
interface Q { src: string; dst: string; proto: number; dport: number; sport: number; frag: boolean; bridged: boolean; mark: number; inName?: string; outName?: string }
const IN_NAMES = ['eth0', 'cali1', 'cali2', 'vethA', 'none'], OUT_NAMES = ['br0', 'cali1', 'cali2', 'eth0', 'none'];
const packetArb: fc.Arbitrary<Q> = fc.record({
  src: fc.constantFrom(...HOSTS),
  dst: fc.constantFrom(...HOSTS),
  proto: fc.constantFrom(6, 17, 1),
  dport: fc.constantFrom(80, 81, 443, 85),
  sport: fc.constantFrom(1234, 999),
  frag: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
  bridged: fc.boolean(),
  mark: fc.constantFrom(0, 1),
  inName: fc.constantFrom(...IN_NAMES),
  outName: fc.constantFrom(...OUT_NAMES),
});

function recorder(): TraverseTrace & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    rule: (_p, c, n, r, v) => log.push(`${c.name}:${n}:${r.target?.name}:${v.kind}`),
    policy: (_p, c) => log.push(`${c.name}:policy:${c.policy}`),
    fallthrough: (_p, c) => log.push(`${c.name}:return`),
  };
}

function counters(t: Table): number[] {
  const out: number[] = [];
  for (const c of t.chains.values()) {
    out.push(c.pkts, c.bytes);
    for (let i = 0; i < c.rules.length; i++) {
      const e = t.counters.get(c)?.get(i);
      out.push(e?.pkts ?? 0, e?.bytes ?? 0);
    }
  }
  return out;
}

const br0 = dev('br0'), vethA = dev('vethA'), vethB = dev('vethB'), eth0 = dev('eth0');
const devs = new Map([br0, vethA, vethB, eth0, dev('cali1'), dev('cali2')].map((d) => [d.name, d]));
/** The packet's input device: bridged → br0; else inName (default eth0; 'none' → no device). */
const inDevOf = (q: Q) => (q.bridged ? br0 : q.inName === 'none' ? null : devs.get(q.inName ?? 'eth0')!);
const outDevOf = (q: Q) => (q.outName === 'none' ? null : devs.get(q.outName ?? 'br0')!);

function packet(q: Q): PacketCtx {
  return pkt({
    src: q.src, dst: q.dst, proto: q.proto, dport: q.dport, sport: q.sport, fragOff: q.frag ? 8 : 0, mark: q.mark, hook: 2,
    inDev: inDevOf(q), outDev: outDevOf(q), physIn: q.bridged ? vethA : null, physOut: q.bridged ? vethB : null, bridged: q.bridged,
  });
}

function run(text: string, packets: Q[], indexMinRules: number, maxMaskGroups = 8) {
  traverseTuning.indexMinRules = indexMinRules;
  traverseTuning.maxMaskGroups = maxMaskGroups;
  const rs = new Ruleset();
  iptablesRestore(rs, text);
  const t = rs.tables.filter;
  const tr = recorder();
  const results: { verdict: string; evaluated: number; mark: number }[] = [];
  for (const q of packets) {
    const p = packet(q);
    const v = traverseTable(t, 'FORWARD', p, tr);
    results.push({ ...v, mark: p.skb.mark });
  }
  return { results, counters: counters(t), trace: tr.log, indexed: chainIndex(t.chains.get('FORWARD')!) !== null };
}

describe('jump index keys: -s/-d with masks, proto+dport behind pure modules, proto', () => {
  const saved = { ...traverseTuning };
  afterEach(() => { Object.assign(traverseTuning, saved); });

  it('indexed traversal = linear traversal (verdict, matched rule, counters, evaluated, side effects)', () => {
    fc.assert(fc.property(rulesetArb, fc.array(packetArb, { minLength: 1, maxLength: 30 }), fc.constantFrom(8, 1), (text, packets, groups) => {
      const linear = run(text, packets, Infinity);
      const indexed = run(text, packets, 0, groups);
      expect(linear.indexed).toBe(false);
      expect(indexed.indexed).toBe(text.includes('-A FORWARD'));
      expect(indexed.results).toEqual(linear.results);
      expect(indexed.counters).toEqual(linear.counters);
      expect(indexed.trace).toEqual(linear.trace);
    }), { numRuns: 1000 });
  });

  const one = (line: string) => {
    const rs = new Ruleset();
    iptablesRestore(rs, `*filter\n:U - [0:0]\n-A U ${line}\nCOMMIT\n`);
    return ruleKeys(rs.tables.filter.chains.get('U')!.rules[0]);
  };

  it('gives each rule its candidate keys in order; negations, /0 and impure modules before the port give none', () => {
    expect(one('-s 10.0.0.0/24 -d 10.0.0.1/32 -j ACCEPT').map((k) => k.kind)).toEqual(['dst', 'src']);
    expect(one('-s 10.0.0.1 -d 10.0.0.0/8 -p tcp -m comment --comment x -m physdev --physdev-is-bridged -m mark --mark 0x1 -m tcp --dport 80 -j ACCEPT'))
      .toEqual([
        { kind: 'src', mask: 0xffffffff, addr: ip('10.0.0.1') },
        { kind: 'port', proto: 6, dport: 80 },
        { kind: 'dst', mask: 0xff000000, addr: ip('10.0.0.0') },
        { kind: 'proto', proto: 6 },
      ]);
    expect(one('! -s 10.0.0.1 ! -d 10.0.0.0/24 ! -p tcp -j ACCEPT')).toEqual([]);
    expect(one('-d 0.0.0.0/0 -j ACCEPT')).toEqual([]);
    expect(one('-p udp -m statistic --mode nth --every 2 --packet 0 -m udp --dport 53 -j ACCEPT')).toEqual([{ kind: 'proto', proto: 17 }]);
    expect(one('-p udp -m udp ! --dport 53 -j ACCEPT')).toEqual([{ kind: 'proto', proto: 17 }]);
    expect(one('-p tcp -m tcp --dport 80:90 -j ACCEPT')).toEqual([{ kind: 'proto', proto: 6 }]);
    // Impure modules after a header key do not matter: the header fails first.
    expect(one('-d 10.0.0.1/32 -m statistic --mode nth --every 2 --packet 0 -j ACCEPT').map((k) => k.kind)).toEqual(['dst']);
    // Exact interface names are keys (after the /32 addresses, before the port); wildcards and negations are not.
    expect(one('-i cali1 -o eth0 -p udp -m udp --dport 53 -j ACCEPT')).toEqual([
      { kind: 'in', name: 'cali1' }, { kind: 'out', name: 'eth0' }, { kind: 'port', proto: 17, dport: 53 }, { kind: 'proto', proto: 17 },
    ]);
    expect(one('-d 10.0.0.1/32 -o cali1 -j ACCEPT').map((k) => k.kind)).toEqual(['dst', 'out']);
    expect(one('-i cali+ -j ACCEPT')).toEqual([]);
    expect(one('! -o cali1 -j ACCEPT')).toEqual([]);
  });

  it('jumps straight to an interface’s rule in a felix-style dispatch chain, counting the rules skipped', () => {
    const N = 500;
    const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', ':TW - [0:0]'];
    for (let i = 0; i < N; i++) lines.push(`-A FORWARD -o cali${i} -m comment --comment "to ${i}" -g TW`);
    lines.push('-A FORWARD -o cali+ -m comment --comment "unknown" -j DROP');
    lines.push('-A TW -j ACCEPT', 'COMMIT', '');
    const text = lines.join('\n');
    for (const [name, verdict, evaluated] of [['cali1', 'accept', 2 + 1], ['cali2', 'accept', 3 + 1], ['eth0', 'drop', N + 1]] as const) {
      const q: Q = { src: '10.0.0.1', dst: '10.0.0.2', proto: 6, dport: 80, sport: 999, frag: false, bridged: false, mark: 0, outName: name };
      const indexed = run(text, [q], 24), linear = run(text, [q], Infinity);
      expect(indexed.indexed).toBe(true);
      expect(indexed.results).toEqual(linear.results);
      expect(indexed.trace).toEqual(linear.trace);
      expect(indexed.counters).toEqual(linear.counters);
      expect(indexed.results[0]).toMatchObject({ verdict, evaluated });
    }
    traverseTuning.indexMinRules = 24;
    const rs = new Ruleset();
    iptablesRestore(rs, text);
    const ix = chainIndex(rs.tables.filter.chains.get('FORWARD')!)!;
    expect(ix.keys[7]).toEqual({ kind: 'out', name: 'cali7' });
    expect(ix.keys[N]).toBeNull();
    expect(ix.next(packet({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, dport: 80, sport: 999, frag: false, bridged: false, mark: 0, outName: 'cali2' }), 0)).toBe(2);
  });

  it('jumps straight to a pod’s rules in a kube-router KUBE-ROUTER-FORWARD, counting the rules skipped', () => {
    const PODS = 1000;
    const podIp = (i: number) => `10.244.${(2 + i) >> 8}.${(2 + i) & 255}`;
    const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':KUBE-ROUTER-FORWARD - [0:0]', ':KUBE-POD-FW-X - [0:0]', ':KUBE-NWPLCY-TAIL - [0:0]'];
    lines.push('-A FORWARD -m comment --comment "kube-router netpol" -j KUBE-ROUTER-FORWARD');
    for (let i = 0; i < PODS; i++) {
      const a = podIp(i);
      lines.push(
        `-A KUBE-ROUTER-FORWARD -d ${a}/32 -m comment --comment "ns/pod${i} in" -j KUBE-POD-FW-X`,
        `-A KUBE-ROUTER-FORWARD -d ${a}/32 -m physdev --physdev-is-bridged -m comment --comment "ns/pod${i} in" -j KUBE-POD-FW-X`,
        `-A KUBE-ROUTER-FORWARD -s ${a}/32 -m comment --comment "ns/pod${i} out" -j KUBE-POD-FW-X`,
        `-A KUBE-ROUTER-FORWARD -s ${a}/32 -m physdev --physdev-is-bridged -m comment --comment "ns/pod${i} out" -j KUBE-POD-FW-X`,
      );
    }
    lines.push('-A KUBE-ROUTER-FORWARD -m comment --comment "tail" -j KUBE-NWPLCY-TAIL');
    lines.push('-A KUBE-ROUTER-FORWARD -m comment --comment "ok" -m mark --mark 0x20000/0x20000 -j ACCEPT');
    lines.push('-A KUBE-POD-FW-X -j MARK --set-xmark 0x20000/0x20000');
    lines.push('COMMIT', '');
    const text = lines.join('\n');
    traverseTuning.indexMinRules = 24;
    const rs = new Ruleset();
    iptablesRestore(rs, text);
    const ch = rs.tables.filter.chains.get('KUBE-ROUTER-FORWARD')!;
    const ix = chainIndex(ch)!;
    expect(ix.keys.slice(0, 4).map((k) => k?.kind)).toEqual(['dst', 'dst', 'src', 'src']);
    // A remote client to pod 700, bridged: the first candidate is pod 700's `-d` rule, then its physdev twin, then the tail.
    const q: Q = { src: '10.244.100.9', dst: podIp(700), proto: 6, dport: 80, sport: 999, frag: false, bridged: true, mark: 0 };
    const p = packet(q);
    expect(ix.next(p, 0)).toBe(2800);
    expect(ix.next(p, 2801)).toBe(2801);
    expect(ix.next(p, 2802)).toBe(4 * PODS);
    const indexed = run(text, [q], 24), linear = run(text, [q], Infinity);
    expect(indexed.results).toEqual(linear.results);
    expect(indexed.trace).toEqual(linear.trace);
    expect(indexed.counters).toEqual(linear.counters);
    // FORWARD's jump, all of KUBE-ROUTER-FORWARD (4 × 1000 + tail + mark ACCEPT), the 1-rule pod chain twice.
    expect(indexed.results[0]).toEqual({ verdict: 'accept', evaluated: 1 + 4 * PODS + 2 + 2, mark: 0x20000 });
  });
});
