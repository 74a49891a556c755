import { describe, expect, it } from 'vitest';
import { setModule, SetMatch, type SetParseCtx } from '../../src/netfilter/matches/set.js';
import type { OptionTokens, ParsedOpt } from '../../src/netfilter/registry.js';
import { ModuleError } from '../../src/netfilter/tokens.js';
import { Ipsets, parseIp } from '../../src/netfilter/ipset.js';
import type { PacketCtx } from '../../src/netfilter/types.js';

/** Options as the rule parser hands them over: `-m set ! --match-set S dst,dst` → [{name:'match-set', invert:true, values:['S','dst,dst']}]. */
function opts(words: string): OptionTokens {
  const toks = words.split(' ');
  const out: ParsedOpt[] = [];
  let col = 1;
  let invert = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    const tok = { text: t, col, quoted: false };
    col += t.length + 1;
    if (t === '!') { invert = true; continue; }
    const name = t.slice(2);
    const spec = setModule.options.find((o) => o.name === name)!;
    const valueToks = toks.slice(i + 1, i + 1 + spec.args).map((v) => { const vt = { text: v, col, quoted: false }; col += v.length + 1; return vt; });
    i += spec.args;
    out.push({ name, invert, values: valueToks.map((v) => v.text), tok, valueToks });
    invert = false;
  }
  return out;
}

function sets(): Ipsets {
  const s = new Ipsets({ now: () => 0 });
  s.create('KUBE-CLUSTER-IP', 'hash:ip,port');
  s.add('KUBE-CLUSTER-IP', '10.96.0.10,udp:53');
  s.create('N', 'hash:net');
  s.add('N', '10.0.0.0/8');
  s.add('N', '10.1.0.0/16', { nomatch: true });
  return s;
}
function ctx(s?: Ipsets): SetParseCtx {
  return { table: 'nat', chain: 'KUBE-SERVICES', ip: {}, ...(s ? { ipsets: s } : {}) };
}
function parse(words: string, s: Ipsets | null = sets()): SetMatch {
  return setModule.parse(opts(words), ctx(s ?? undefined)) as SetMatch;
}
function parseErr(words: string, s: Ipsets | null = sets()): string {
  try { parse(words, s); } catch (e) { if (e instanceof ModuleError) return e.message; throw e; }
  return 'no error';
}
function pkt(s: Ipsets, saddr: string, daddr: string, proto: number, dport: number): PacketCtx {
  const buf = new Uint8Array(64);
  buf[3] = 48;
  return { skb: { buf, data: 0, len: 48, nh: 0, mark: 0 }, saddr: parseIp(saddr), daddr: parseIp(daddr), proto, sport: 40000, dport, fragOff: 0, l4: 20, l4len: 28, ipsets: s } as unknown as PacketCtx;
}

describe('-m set: parse and save as iptables 1.8.9', () => {
  it('canonical text', () => {
    expect(parse('--match-set KUBE-CLUSTER-IP dst,dst').save()).toBe('-m set --match-set KUBE-CLUSTER-IP dst,dst');
    expect(parse('! --match-set N src').save()).toBe('-m set ! --match-set N src');
    expect(parse('--set N src').save()).toBe('-m set --match-set N src');
    expect(parse('--return-nomatch --match-set N dst').save()).toBe('-m set --match-set N dst --return-nomatch');
    expect(parse('! --match-set N dst,dst --return-nomatch ! --update-counters ! --update-subcounters --packets-gt 5').save())
      .toBe('-m set ! --match-set N dst,dst --return-nomatch ! --update-counters ! --update-subcounters --packets-gt 5');
    expect(parse('--match-set N src,dst ! --packets-eq 3 --bytes-lt 100').save()).toBe('-m set --match-set N src,dst ! --packets-eq 3 --bytes-lt 100');
    expect(parse('--match-set N dst --bytes-gt 7 --packets-lt 2').save()).toBe('-m set --match-set N dst --packets-lt 2 --bytes-gt 7');
    expect(parse('--match-set N src --update-counters').save()).toBe('-m set --match-set N src');
  });
  it('errors with iptables messages', () => {
    expect(parseErr('--match-set KUBE-X dst,dst')).toBe("Set KUBE-X doesn't exist.");
    expect(parseErr('--match-set N src,dst --match-set N src')).toBe('--match-set can be specified only once');
    expect(parseErr('--update-counters')).toBe("You must specify `--match-set' with proper arguments");
    expect(parseErr('--match-set N src,foo')).toBe("You must spefify (the comma separated list of) 'src' or 'dst'.");
    expect(parseErr('--match-set N src,src,src,src,src,src,src')).toBe("Can't be more src/dst options than 6.");
    expect(parseErr('--match-set N src ! --return-nomatch')).toBe('--return-nomatch flag cannot be inverted');
    expect(parseErr('--match-set N src --packets-eq 1 --packets-gt 2')).toBe('only one of the --packets-[eq|lt|gt] is allowed');
    expect(parseErr('--match-set N src --packets-eq x')).toBe('Cannot parse x as a counter value');
    // without the namespace's sets in the context the existence check is left to the caller
    expect(parseErr('--match-set KUBE-X dst', null)).toBe('no error');
  });
});

describe('-m set on packets', () => {
  it('KUBE-CLUSTER-IP dst,dst', () => {
    const s = sets();
    const m = parse('--match-set KUBE-CLUSTER-IP dst,dst', s);
    expect(m.matches(pkt(s, '10.244.1.2', '10.96.0.10', 17, 53))).toBe(true);
    expect(m.matches(pkt(s, '10.244.1.2', '10.96.0.10', 6, 53))).toBe(false);
    const inv = parse('! --match-set KUBE-CLUSTER-IP dst,dst', s);
    expect(inv.matches(pkt(s, '10.244.1.2', '10.96.0.10', 6, 53))).toBe(true);
  });
  it('nomatch entries and --return-nomatch', () => {
    const s = sets();
    const m = parse('--match-set N src', s);
    const r = parse('--match-set N src --return-nomatch', s);
    expect(m.matches(pkt(s, '10.2.0.1', '1.1.1.1', 6, 80))).toBe(true);
    expect(m.matches(pkt(s, '10.1.0.1', '1.1.1.1', 6, 80))).toBe(false);
    expect(r.matches(pkt(s, '10.1.0.1', '1.1.1.1', 6, 80))).toBe(true);
    expect(r.matches(pkt(s, '10.2.0.1', '1.1.1.1', 6, 80))).toBe(false);
  });
  it('a swapped set is seen by existing rules (they refer to the set index)', () => {
    const s = sets();
    const m = parse('--match-set KUBE-CLUSTER-IP dst,dst', s);
    s.create('KUBE-CLUSTER-IP-NEW', 'hash:ip,port');
    s.add('KUBE-CLUSTER-IP-NEW', '10.96.0.1,tcp:443');
    s.swap('KUBE-CLUSTER-IP', 'KUBE-CLUSTER-IP-NEW');
    s.destroy('KUBE-CLUSTER-IP-NEW');
    expect(m.matches(pkt(s, '10.244.1.2', '10.96.0.1', 6, 443))).toBe(true);
    expect(m.matches(pkt(s, '10.244.1.2', '10.96.0.10', 17, 53))).toBe(false);
  });
});
