/**
 * The walk memo (traverse.ts walkMemoTuning) changes nothing anyone can see: on random rule
 * sets (pure and impure rules, jumps, gotos, returns, policies) and random streams of packets
 * from a few flows, with rule changes between packets, an untraced walk with the memo gives
 * the same verdict, rules-evaluated count and packet mark as one without it, and the rule
 * sets' counters (iptables-save -c) stay equal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore, parseRule } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import { traverseTable, walkMemoTuning } from '../../src/netfilter/traverse.js';
import type { PacketCtx } from '../../src/netfilter/types.js';
import { IPS_DST_NAT, IPS_SEEN_REPLY } from '../../src/netfilter/ct-types.js';
import { parseIp } from '../../src/wire/bytes.js';

afterEach(() => { walkMemoTuning.on = true; });

const save = (rs: Ruleset) => iptablesSave(rs, { noComments: false, counters: true });

/** Rules a chain may hold: memo-safe ones and ones that are not (sets the mark, statistic, ...). */
const RULES = [
  '-s 10.0.0.0/24',
  '-d 10.0.1.0/24 -j ACCEPT',
  '! -s 10.0.0.1/32 -d 10.0.1.2/32 -j DROP',
  '-i eth0 -j RETURN',
  '-o cni0 -m comment --comment "to pods" -j ACCEPT',
  '-i veth+ -p udp -m udp --dport 53 -j ACCEPT',
  '-p tcp -m tcp --dport 80 -j DROP',
  '-p tcp -m tcp --tcp-flags SYN,ACK SYN -j DROP',
  '-m conntrack --ctstate NEW -j RETURN',
  '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-m conntrack ! --ctstate DNAT -m comment --comment x',
  '-m conntrack --ctstate INVALID -j DROP',
  '-m mark --mark 0x4000/0x4000 -j ACCEPT',
  '-m mark ! --mark 0x1/0x1',
  '-j MARK --set-xmark 0x4000/0x4000',
  '-m statistic --mode nth --every 3 --packet 0 -j DROP',
  '-m connmark --mark 0x2 -j DROP',
  '-f -j DROP',
];
const CHAINS = ['A', 'B', 'C'];

/** A rule set: FORWARD (its policy), user chains A B C; jumps go only to later chains (no loops). */
const rulesetText = fc.record({
  policy: fc.constantFrom('ACCEPT', 'DROP'),
  chains: fc.array(fc.array(fc.tuple(fc.nat(RULES.length - 1), fc.nat(6)), { maxLength: 7 }), { minLength: 4, maxLength: 4 }),
}).map(({ policy, chains }) => {
  const names = ['FORWARD', ...CHAINS];
  const lines = ['*filter', `:FORWARD ${policy} [0:0]`, ...CHAINS.map((c) => `:${c} - [0:0]`)];
  chains.forEach((rules, ci) => {
    for (const [r, j] of rules) {
      let rule = RULES[r];
      // Some rules jump or go to a later user chain instead of their own target.
      const later = CHAINS.filter((_, k) => k + 1 > ci);
      if (j < 2 && later.length > 0 && !/(^| )-j /.test(rule)) rule += ` ${j === 0 ? '-j' : '-g'} ${later[j % later.length]}`;
      lines.push(`-A ${names[ci]} ${rule}`);
    }
  });
  lines.push('COMMIT', '');
  return lines.join('\n');
});

interface Flow { src: string; dst: string; proto: number; sport: number; dport: number; inDev: string | null; outDev: string | null; ctinfo: string; status: number; frag: number; mark: number; ctmark: number; tcpFlags: number }

const FIELDS = {
  src: ['10.0.0.1', '10.0.0.7', '192.168.1.5'],
  dst: ['10.0.1.2', '10.0.1.9', '10.96.0.10'],
  proto: [6, 17, 1],
  sport: [40000, 53],
  dport: [53, 80, 9999],
  inDev: ['eth0', 'veth1', null],
  outDev: ['cni0', 'flannel.1', null],
  ctinfo: ['new', 'established', 'established_reply', 'related', 'invalid', 'untracked'],
  status: [0, IPS_SEEN_REPLY, IPS_DST_NAT],
  frag: [0, 8],
  mark: [0, 0x4000, 0x1],
  ctmark: [0, 2],
  tcpFlags: [0x02, 0x12, 0x10],
} as const;
type Field = keyof typeof FIELDS;
const FIELD_NAMES = Object.keys(FIELDS) as Field[];

const base = fc.record(Object.fromEntries(FIELD_NAMES.map((k) => [k, fc.constantFrom(...FIELDS[k])])) as { [K in Field]: fc.Arbitrary<Flow[K]> });
/** A flow and variants of it that each differ in one field: packets that the memo must tell apart (or not). */
const flows = fc.tuple(base, fc.array(fc.tuple(fc.constantFrom(...FIELD_NAMES), fc.nat(5)), { maxLength: 5 })).map(([b, vs]) => [
  b, ...vs.map(([k, i]) => ({ ...b, [k]: FIELDS[k][i % FIELDS[k].length] }) as Flow),
]);

const devices = new Map<string, { name: string }>();
const dev = (name: string | null) => {
  if (name === null) return null;
  let d = devices.get(name);
  if (!d) { d = { name }; devices.set(name, d); }
  return d;
};

/** One packet of `f` (a TCP SYN; `len` bytes at the IP layer). */
function packet(f: Flow, len: number): PacketCtx {
  const buf = new Uint8Array(200);
  buf[14 + 20 + 13] = f.tcpFlags;
  const tracked = f.ctinfo !== 'invalid' && f.ctinfo !== 'untracked';
  return {
    skb: { buf, len: len + 14, nh: 14, data: 0, mark: f.mark },
    saddr: parseIp(f.src)!, daddr: parseIp(f.dst)!, proto: f.proto, fragOff: f.frag, l4: f.frag ? -1 : 34, l4len: 20,
    sport: f.proto === 1 ? 0 : f.sport, dport: f.proto === 1 ? 0 : f.dport,
    inDev: dev(f.inDev), outDev: dev(f.outDev), physIn: null, physOut: null, bridged: false,
    ct: tracked ? { status: f.status, mark: f.ctmark } : null, ctinfo: f.ctinfo, random: () => 7, now: 0,
  } as unknown as PacketCtx;
}

const CHANGES: ((rs: Ruleset) => void)[] = [
  (rs) => rs.zero('filter'),
  (rs) => rs.zero('filter', 'A'),
  (rs) => rs.append('filter', 'A', parseRule('-d 10.0.1.9/32 -j DROP', 'filter', 'A', null)),
  (rs) => rs.insert('filter', 'FORWARD', parseRule('-s 10.0.0.7/32 -j ACCEPT', 'filter', 'FORWARD', null), 1),
  (rs) => rs.setPolicy('filter', 'FORWARD', 'DROP'),
  (rs) => rs.flush('filter', 'B'),
  (rs) => rs.setRuleCounters('filter', 'FORWARD', 1, { pkts: 40, bytes: 5000 }),
];

describe('walk memo', () => {
  it('walks with and without the memo agree on verdicts, rules evaluated, marks and counters', () => {
    fc.assert(fc.property(
      rulesetText, flows,
      fc.array(fc.tuple(fc.nat(5), fc.constant('FORWARD'), fc.integer({ min: 40, max: 1500 }), fc.nat(40)), { minLength: 1, maxLength: 60 }),
      (text, flows, sends) => {
        const memo = new Ruleset(), plain = new Ruleset();
        iptablesRestore(memo, text);
        iptablesRestore(plain, text);
        for (const [fi, hook, len, change] of sends) {
          const f = flows[fi % flows.length];
          if (change < CHANGES.length && change % 3 === 0) {
            try { CHANGES[change](memo); } catch { continue; } // a change the rule set refuses (e.g. no rule 1)
            CHANGES[change](plain);
          }
          const pm = packet(f, len), pp = packet(f, len);
          walkMemoTuning.on = true;
          const a = traverseTable(memo.tables.filter, hook, pm, null);
          walkMemoTuning.on = false;
          const b = traverseTable(plain.tables.filter, hook, pp, null);
          expect(a).toEqual(b);
          expect(pm.skb.mark).toBe(pp.skb.mark);
        }
        expect(save(memo)).toBe(save(plain));
      }), { numRuns: 600 });
  });

  it('a flow through pure rules is remembered: its later packets grow the same counters', () => {
    const rs = new Ruleset();
    iptablesRestore(rs, '*filter\n:FORWARD DROP [0:0]\n:KF - [0:0]\n-A FORWARD -m conntrack --ctstate NEW -j KF\n-A FORWARD -s 10.0.0.0/24 -j ACCEPT\n-A KF -m mark --mark 0x4000/0x4000 -j ACCEPT\nCOMMIT\n');
    const f: Flow = { src: '10.0.0.1', dst: '10.0.1.2', proto: 17, sport: 40000, dport: 9999, inDev: 'cni0', outDev: 'flannel.1', ctinfo: 'new', status: 0, frag: 0, mark: 0, ctmark: 0, tcpFlags: 0 };
    for (let k = 0; k < 5; k++) expect(traverseTable(rs.tables.filter, 'FORWARD', packet(f, 100), null)).toEqual({ verdict: 'accept', evaluated: 3 });
    expect(save(rs)).toContain('[5:500] -A FORWARD -m conntrack --ctstate NEW -j KF');
    expect(save(rs)).toContain('[5:500] -A FORWARD -s 10.0.0.0/24 -j ACCEPT');
    expect(save(rs)).toContain('[0:0] -A KF -m mark --mark 0x4000/0x4000 -j ACCEPT');
    expect(traverseTable(rs.tables.filter, 'FORWARD', packet({ ...f, src: '10.9.0.1' }, 60), null)).toEqual({ verdict: 'drop', evaluated: 3 });
    expect(save(rs)).toContain(':FORWARD DROP [1:60]');
  });

  const F: Flow = { src: '10.0.0.1', dst: '10.0.1.2', proto: 6, sport: 40000, dport: 80, inDev: 'eth0', outDev: 'cni0', ctinfo: 'new', status: 0, frag: 0, mark: 0, ctmark: 0, tcpFlags: 0x02 };
  it.each([
    ['TCP flags', ['-p tcp -m tcp --tcp-flags SYN,ACK SYN -j DROP'], { tcpFlags: 0x10 }],
    ['a connmark', ['-m connmark --mark 0x2 -j DROP'], { ctmark: 2 }],
    ['an nth statistic', ['-m statistic --mode nth --every 2 --packet 0 -j DROP'], {}],
    ['a mark a rule sets', ['-j MARK --set-xmark 0x1/0x1', '-m mark --mark 0x1/0x1 -j DROP'], {}],
    ['the packet mark', ['-m mark --mark 0x1/0x1 -j DROP'], { mark: 1 }],
    ['the ctstate', ['-m conntrack --ctstate NEW -j DROP'], { ctinfo: 'established' }],
    ['a DNAT status', ['-m conntrack --ctstate DNAT -j DROP'], { status: IPS_DST_NAT }],
    ['a fragment', ['-f -j DROP'], { frag: 8 }],
  ] as [string, string[], Partial<Flow>][])('packets that differ only in %s are told apart', (_what, rules, change) => {
    const text = `*filter\n:FORWARD ACCEPT [0:0]\n${rules.map((r) => `-A FORWARD ${r}\n`).join('')}COMMIT\n`;
    const memo = new Ruleset(), plain = new Ruleset();
    iptablesRestore(memo, text);
    iptablesRestore(plain, text);
    for (const f of [F, F, { ...F, ...change }, F, { ...F, ...change }, { ...F, ...change }]) {
      walkMemoTuning.on = true;
      const pm = packet(f, 100);
      const a = traverseTable(memo.tables.filter, 'FORWARD', pm, null);
      walkMemoTuning.on = false;
      const pp = packet(f, 100);
      expect(a).toEqual(traverseTable(plain.tables.filter, 'FORWARD', pp, null));
      expect(pm.skb.mark).toBe(pp.skb.mark);
    }
    expect(save(memo)).toBe(save(plain));
  });

  it('a device renamed between packets is matched by its new name', () => {
    const rs = new Ruleset();
    iptablesRestore(rs, '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -o cni0 -j DROP\nCOMMIT\n');
    const out = { name: 'cni0' };
    const send = () => { const p = packet(F, 100); (p as { outDev: unknown }).outDev = out; return traverseTable(rs.tables.filter, 'FORWARD', p, null).verdict; };
    expect([send(), send()]).toEqual(['drop', 'drop']);
    out.name = 'br0';
    expect(send()).toBe('accept');
  });

  it('a long run of new flows (the memo backs off and comes back) counts as walks without it do', () => {
    const text = '*filter\n:FORWARD DROP [0:0]\n:KF - [0:0]\n-A FORWARD -m conntrack --ctstate NEW -j KF\n-A FORWARD -s 10.0.0.0/24 -j ACCEPT\n-A KF -p udp -m udp --dport 53 -j DROP\nCOMMIT\n';
    const memo = new Ruleset(), plain = new Ruleset();
    iptablesRestore(memo, text);
    iptablesRestore(plain, text);
    const base: Flow = { src: '10.0.0.1', dst: '10.0.1.2', proto: 17, sport: 40000, dport: 9999, inDev: 'cni0', outDev: 'flannel.1', ctinfo: 'new', status: 0, frag: 0, mark: 0, ctmark: 0, tcpFlags: 0 };
    for (let k = 0; k < 1200; k++) {
      // 600 new flows, then two flows alternating, then new flows again.
      const f = k < 600 ? { ...base, sport: 1024 + k } : k < 900 ? { ...base, dport: k % 2 ? 53 : 9999 } : { ...base, sport: 1024 + k };
      walkMemoTuning.on = true;
      const a = traverseTable(memo.tables.filter, 'FORWARD', packet(f, 60 + (k % 7)), null);
      walkMemoTuning.on = false;
      expect(a).toEqual(traverseTable(plain.tables.filter, 'FORWARD', packet(f, 60 + (k % 7)), null));
    }
    expect(save(memo)).toBe(save(plain));
  });
});
