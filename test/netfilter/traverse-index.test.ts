/**
 * The chain jump index (traverse.ts ChainIndex) changes nothing visible: for
 * random rule sets (parsed by iptables-restore, so the real match classes)
 * and random packets, the walk with the index gives the same verdicts, the
 * same `evaluated` counts (the kernel's linear count), the same per-rule and
 * policy counters, the same trace lines and the same side effects
 * (-m statistic --mode nth counters) as the plain linear walk.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { traverseTable, traverseTuning, chainIndex, type TraverseTrace } from '../../src/netfilter/traverse.js';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import type { PacketCtx, Table } from '../../src/netfilter/types.js';
import { pkt } from './helpers.js';

const DSTS = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
const PORTS = [80, 81, 443];

const ruleArb = (chain: string, jumps: string[]) => fc.record({
  dst: fc.constantFrom('', '-d 10.0.0.1/32', '-d 10.0.0.2/32', '-d 10.0.0.3/32', '! -d 10.0.0.1/32', '-d 10.0.0.0/24'),
  proto: fc.constantFrom('', '-p tcp', '-p udp', '! -p tcp', '-p icmp'),
  comment: fc.boolean(),
  stat: fc.constantFrom('', '-m statistic --mode nth --every 2 --packet 0', '-m statistic --mode nth ! --every 3 --packet 1'),
  statFirst: fc.boolean(),
  port: fc.constantFrom('', '--dport 80', '--dport 81', '--dport 443', '! --dport 80', '--dport 80:90', '--sport 1234'),
  target: fc.constantFrom('', '-j ACCEPT', '-j DROP', '-j RETURN', '-j MARK --set-xmark 0x1/0xffffffff', ...jumps.map((j) => `-j ${j}`), ...jumps.map((j) => `-g ${j}`)),
}).map((r) => {
  const parts = [`-A ${chain}`, r.dst, r.proto];
  const portMatch = r.port && (r.proto === '-p tcp' || r.proto === '-p udp') ? `-m ${r.proto.slice(3)} ${r.port}` : '';
  if (r.comment) parts.push('-m comment --comment "svc"');
  if (r.statFirst) parts.push(r.stat, portMatch);
  else parts.push(portMatch, r.stat);
  parts.push(r.target);
  return parts.filter(Boolean).join(' ');
});

const rulesetArb = fc.record({
  policy: fc.constantFrom('ACCEPT', 'DROP'),
  input: fc.array(ruleArb('INPUT', ['U1', 'U2']), { maxLength: 40 }),
  u1: fc.array(ruleArb('U1', ['U2']), { maxLength: 40 }),
  u2: fc.array(ruleArb('U2', []), { maxLength: 40 }),
}).map((r) => ['*filter', `:INPUT ${r.policy} [0:0]`, ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':U1 - [0:0]', ':U2 - [0:0]', ...r.input, ...r.u1, ...r.u2, 'COMMIT', ''].join('\n'));

const packetArb = fc.record({
  dst: fc.constantFrom(...DSTS, '10.0.0.9', '192.168.0.1'),
  proto: fc.constantFrom(6, 17, 1),
  dport: fc.constantFrom(...PORTS, 85),
  sport: fc.constantFrom(1234, 999),
  frag: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
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

function run(text: string, packets: { dst: string; proto: number; dport: number; sport: number; frag: boolean }[], indexMinRules: number) {
  traverseTuning.indexMinRules = indexMinRules;
  const rs = new Ruleset();
  iptablesRestore(rs, text);
  const t = rs.tables.filter;
  const tr = recorder();
  const results: { verdict: string; evaluated: number; mark: number }[] = [];
  for (const q of packets) {
    const p: PacketCtx = pkt({ dst: q.dst, proto: q.proto, dport: q.dport, sport: q.sport, fragOff: q.frag ? 8 : 0 });
    const v = traverseTable(t, 'INPUT', p, tr);
    results.push({ ...v, mark: p.skb.mark });
  }
  return { results, counters: counters(t), trace: tr.log, indexed: chainIndex(t.chains.get('INPUT')!) !== null };
}

describe('chain jump index', () => {
  const saved = traverseTuning.indexMinRules;
  afterEach(() => { traverseTuning.indexMinRules = saved; });

  it('same verdicts, evaluated counts, counters, traces and side effects as the linear walk', () => {
    fc.assert(fc.property(rulesetArb, fc.array(packetArb, { minLength: 1, maxLength: 30 }), (text, packets) => {
      const linear = run(text, packets, Infinity);
      const indexed = run(text, packets, 0);
      expect(linear.indexed).toBe(false);
      expect(indexed.results).toEqual(linear.results);
      expect(indexed.counters).toEqual(linear.counters);
      expect(indexed.trace).toEqual(linear.trace);
    }), { numRuns: 400 });
  });

  it('skips by -d VIP and by -p/--dport, counting the skipped rules', () => {
    const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
    for (let i = 1; i <= 200; i++) lines.push(`-A INPUT -d 10.1.${i >> 8}.${i & 255}/32 -p tcp -m comment --comment "s${i}" -m tcp --dport 80 -j DROP`);
    for (let i = 1; i <= 100; i++) lines.push(`-A INPUT -p udp -m comment --comment "np${i}" -m udp --dport ${30000 + i} -j DROP`);
    lines.push('COMMIT', '');
    const text = lines.join('\n');
    const probe = [{ dst: '10.1.0.150', proto: 6, dport: 80, sport: 1, frag: false }, { dst: '10.9.9.9', proto: 17, dport: 30077, sport: 1, frag: false }, { dst: '10.9.9.9', proto: 6, dport: 80, sport: 1, frag: false }];
    const a = run(text, probe, 0), b = run(text, probe, Infinity);
    expect(a.indexed).toBe(true);
    expect(a.results).toEqual(b.results);
    expect(a.results.map((r) => [r.verdict, r.evaluated])).toEqual([['drop', 150], ['drop', 277], ['accept', 300]]);
  });

  it('is rebuilt when the chain’s rules change', () => {
    traverseTuning.indexMinRules = 0;
    const rs = new Ruleset();
    iptablesRestore(rs, '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -d 10.0.0.1/32 -j DROP\nCOMMIT\n');
    const p = () => pkt({ dst: '10.0.0.2' });
    expect(traverseTable(rs.tables.filter, 'INPUT', p(), null)).toEqual({ verdict: 'accept', evaluated: 1 });
    iptablesRestore(rs, '*filter\n-A INPUT -d 10.0.0.2/32 -j DROP\nCOMMIT\n', { noflush: true });
    expect(traverseTable(rs.tables.filter, 'INPUT', p(), null)).toEqual({ verdict: 'drop', evaluated: 2 });
    rs.append('filter', 'INPUT', rs.tables.filter.chains.get('INPUT')!.rules[1]);
    rs.flush('filter', 'INPUT');
    expect(traverseTable(rs.tables.filter, 'INPUT', p(), null)).toEqual({ verdict: 'accept', evaluated: 0 });
  });
});
