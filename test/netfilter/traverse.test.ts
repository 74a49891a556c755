/** ipt_do_table semantics: first match, jump/goto/RETURN, implicit return, policies, counters, evaluated-rule counts. */
import { describe, expect, it } from 'vitest';
import { traverseTable, headerMatches, ifaceMatches, type TraverseTrace } from '../../src/netfilter/traverse.js';
import type { Chain, Match, PacketCtx, Rule, Table, Target, TargetVerdict } from '../../src/netfilter/types.js';

const match = (f: (p: PacketCtx) => boolean): Match => ({ name: 'test', matches: f, save: () => '-m test' });
const target = (v: TargetVerdict, name = 'T'): Target => ({ name, run: () => v, save: () => `-j ${name}` });
const J = (chain: string) => target({ kind: 'jump', chain }, chain);
const G = (chain: string) => target({ kind: 'goto', chain }, chain);
const ACCEPT = target({ kind: 'accept' }, 'ACCEPT');
const DROP = target({ kind: 'drop' }, 'DROP');
const RETURN = target({ kind: 'return' }, 'RETURN');
const MARK = target({ kind: 'continue' }, 'MARK');

function rule(t: Target | null, ...m: Match[]): Rule {
  return { ip: {}, matches: m, target: t };
}
/** A built-in chain here is one a restore declared (it has policy counters); see the next test for one made on the fly. */
function chain(name: string, policy: 'ACCEPT' | 'DROP' | null, rules: Rule[]): Chain {
  return { name, policy, rules, pkts: 0, bytes: 0, ...(policy !== null ? { policyCounters: true } : {}) };
}
function table(...chains: Chain[]): Table {
  return { name: 'filter', chains: new Map(chains.map((c) => [c.name, c])), counters: new Map() };
}
/** The namespace's counters of rule `r` (0-based position in `c`) in table `t`. */
function ctr(t: Table, c: Chain, i: number): [number, number] {
  const e = t.counters.get(c)?.get(i);
  return [e?.pkts ?? 0, e?.bytes ?? 0];
}
const pkt = (over: Partial<PacketCtx> = {}): PacketCtx => ({
  skb: { len: 114, nh: 14, data: 0 } as PacketCtx['skb'], saddr: 0x0a000001, daddr: 0x0a000002, proto: 6, fragOff: 0, sport: 1000, dport: 80,
  inDev: { name: 'eth0' } as PacketCtx['inDev'], outDev: null, ...over,
} as PacketCtx);

function recorder(): TraverseTrace & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    rule: (_p, c, n, r, v) => log.push(`${c.name}:${n}:${r.target?.name}:${v.kind}`),
    policy: (_p, c) => log.push(`${c.name}:policy:${c.policy}`),
    fallthrough: (_p, c) => log.push(`${c.name}:return`),
  };
}

describe('traverseTable', () => {
  it('first matching rule decides; counters grow for matched rules only', () => {
    const r1 = rule(DROP, match(() => false));
    const r2 = rule(ACCEPT);
    const r3 = rule(DROP);
    const c = chain('INPUT', 'DROP', [r1, r2, r3]);
    const t = table(c);
    const v = traverseTable(t, 'INPUT', pkt(), null);
    expect(v).toEqual({ verdict: 'accept', evaluated: 2 });
    expect([ctr(t, c, 0)[0], ctr(t, c, 1)[0], ctr(t, c, 2)[0]]).toEqual([0, 1, 0]);
    expect(ctr(t, c, 1)[1]).toBe(100);
  });

  it('end of a built-in chain applies and counts its policy', () => {
    const c = chain('FORWARD', 'DROP', [rule(ACCEPT, match(() => false))]);
    const tr = recorder();
    expect(traverseTable(table(c), 'FORWARD', pkt(), tr).verdict).toBe('drop');
    expect([c.pkts, c.bytes]).toEqual([1, 100]);
    expect(tr.log).toEqual(['FORWARD:policy:DROP']);
  });

  it('a base chain created on the fly for a rule (no policy counters) applies its policy but its [p:b] stays [0:0]', () => {
    const c: Chain = { name: 'FORWARD', policy: 'DROP', rules: [rule(ACCEPT, match(() => false))], pkts: 0, bytes: 0 };
    expect(traverseTable(table(c), 'FORWARD', pkt(), recorder()).verdict).toBe('drop');
    expect([c.pkts, c.bytes]).toEqual([0, 0]);
  });

  it('jump returns to the rule after the jump; implicit return at the end of a user chain', () => {
    const after = rule(DROP);
    const t = table(chain('INPUT', 'ACCEPT', [rule(J('USER')), after]), chain('USER', null, [rule(MARK)]));
    const tr = recorder();
    expect(traverseTable(t, 'INPUT', pkt(), tr)).toEqual({ verdict: 'drop', evaluated: 3 });
    expect(tr.log).toEqual(['INPUT:1:USER:jump', 'USER:1:MARK:continue', 'USER:return', 'INPUT:2:DROP:drop']);
  });

  it('a jump to an empty user chain returns at once (its implicit return traced), also nested and right after another jump', () => {
    const t = table(
      chain('INPUT', 'ACCEPT', [rule(J('EMPTY')), rule(J('USER')), rule(J('EMPTY')), rule(null), rule(DROP)]),
      chain('USER', null, [rule(J('EMPTY')), rule(MARK)]),
      chain('EMPTY', null, []),
    );
    const tr = recorder();
    expect(traverseTable(t, 'INPUT', pkt(), tr)).toEqual({ verdict: 'drop', evaluated: 7 });
    expect(tr.log).toEqual([
      'INPUT:1:EMPTY:jump', 'EMPTY:return', 'INPUT:2:USER:jump', 'USER:1:EMPTY:jump', 'EMPTY:return', 'USER:2:MARK:continue', 'USER:return',
      'INPUT:3:EMPTY:jump', 'EMPTY:return', 'INPUT:5:DROP:drop',
    ]);
    const input = t.chains.get('INPUT')!, user = t.chains.get('USER')!;
    expect([0, 1, 2, 3, 4].map((i) => ctr(t, input, i)[0])).toEqual([1, 1, 1, 1, 1]);
    expect([ctr(t, user, 0)[0], ctr(t, user, 1)[0]]).toEqual([1, 1]);
  });

  it('a jump to an empty user chain still counts against the jump depth limit', () => {
    const chains = [chain('INPUT', 'ACCEPT', [rule(J('C0'))])];
    for (let k = 0; k < 64; k++) chains.push(chain(`C${k}`, null, [rule(J(`C${k + 1}`))]));
    chains.push(chain('C64', null, []));
    expect(traverseTable(table(...chains), 'INPUT', pkt(), null).verdict).toBe('drop');
  });

  it('RETURN pops to the caller; RETURN in the built-in chain means the policy', () => {
    const t = table(chain('INPUT', 'DROP', [rule(J('A')), rule(RETURN), rule(ACCEPT)]), chain('A', null, [rule(RETURN), rule(ACCEPT)]));
    const tr = recorder();
    expect(traverseTable(t, 'INPUT', pkt(), tr).verdict).toBe('drop');
    expect(tr.log).toEqual(['INPUT:1:A:jump', 'A:1:RETURN:return', 'INPUT:2:RETURN:return', 'INPUT:policy:DROP']);
  });

  it('goto does not push a return point: the end of the goto chain returns to the jumper’s caller', () => {
    // INPUT -j A; A -g B; B falls through → back to INPUT after the jump (not to A).
    const t = table(
      chain('INPUT', 'ACCEPT', [rule(J('A')), rule(DROP)]),
      chain('A', null, [rule(G('B')), rule(ACCEPT)]),
      chain('B', null, [rule(MARK)]),
    );
    const tr = recorder();
    expect(traverseTable(t, 'INPUT', pkt(), tr).verdict).toBe('drop');
    expect(tr.log).toEqual(['INPUT:1:A:jump', 'A:1:B:goto', 'B:1:MARK:continue', 'B:return', 'INPUT:2:DROP:drop']);
  });

  it('goto from the built-in chain: falling off the end applies the built-in policy', () => {
    const input = chain('INPUT', 'DROP', [rule(G('B')), rule(ACCEPT)]);
    const t = table(input, chain('B', null, []));
    expect(traverseTable(t, 'INPUT', pkt(), null).verdict).toBe('drop');
    expect(input.pkts).toBe(1);
  });

  it('a rule without a target only counts', () => {
    const counting = rule(null);
    const c = chain('OUTPUT', 'ACCEPT', [counting, rule(DROP)]);
    const t = table(c);
    expect(traverseTable(t, 'OUTPUT', pkt(), null).verdict).toBe('drop');
    expect(ctr(t, c, 0)).toEqual([1, 100]);
  });

  it('counts every rule looked at, like the kernel’s linear walk', () => {
    const rules = Array.from({ length: 1000 }, () => rule(DROP, match(() => false)));
    const t = table(chain('INPUT', 'ACCEPT', rules));
    expect(traverseTable(t, 'INPUT', pkt(), null)).toEqual({ verdict: 'accept', evaluated: 1000 });
  });
});

describe('header match', () => {
  it('-s/-d with masks and !', () => {
    const p = pkt();
    expect(headerMatches({ src: { addr: 0x0a000000, mask: 0xff000000, prefix: 8, invert: false } }, p)).toBe(true);
    expect(headerMatches({ src: { addr: 0x0a000000, mask: 0xff000000, prefix: 8, invert: true } }, p)).toBe(false);
    expect(headerMatches({ dst: { addr: 0x0a000003, mask: 0xffffffff, prefix: 32, invert: false } }, p)).toBe(false);
    expect(headerMatches({ dst: { addr: 0x0a000003, mask: 0xffffffff, prefix: 32, invert: true } }, p)).toBe(true);
  });

  it('-i/-o with + wildcards; no device matches nothing', () => {
    expect(ifaceMatches('eth+', 'eth0')).toBe(true);
    expect(ifaceMatches('eth+', 'veth0')).toBe(false);
    expect(ifaceMatches('+', 'lo')).toBe(true);
    expect(ifaceMatches('+', '')).toBe(false);
    expect(ifaceMatches('cni0', 'cni0')).toBe(true);
    expect(headerMatches({ outIface: { name: 'eth0', invert: false } }, pkt())).toBe(false);
    expect(headerMatches({ outIface: { name: 'eth0', invert: true } }, pkt())).toBe(true);
  });

  it('-p with ! and all; -f only for later fragments', () => {
    expect(headerMatches({ proto: { num: 17, name: 'udp', invert: false } }, pkt())).toBe(false);
    expect(headerMatches({ proto: { num: 17, name: 'udp', invert: true } }, pkt())).toBe(true);
    expect(headerMatches({ proto: { num: 0, name: 'all', invert: false } }, pkt())).toBe(true);
    expect(headerMatches({ frag: { invert: false } }, pkt())).toBe(false);
    expect(headerMatches({ frag: { invert: false } }, pkt({ fragOff: 1480 }))).toBe(true);
    expect(headerMatches({ frag: { invert: true } }, pkt({ fragOff: 1480 }))).toBe(false);
  });
});
