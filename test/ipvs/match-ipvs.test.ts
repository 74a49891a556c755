/** `-m ipvs` (xt_ipvs / libxt_ipvs): parsing, iptables 1.8.9's save text, and errors. The evaluation on live
 * IPVS traffic is in datapath.test.ts ("IPVS and netfilter"). */
import { describe, expect, it } from 'vitest';
import { parseRule } from '../../src/netfilter/restore.js';
import { ipvsVaddrMatch } from '../../src/netfilter/matches/ipvs.js';
import { ruleText } from '../../src/netfilter/ruleset.js';

const saved = (r: string) => ruleText(parseRule(r, 'filter', 'OUTPUT')).trim();

describe('-m ipvs', () => {
  it('saves in ipvs_mt_dump order: vproto (number), vaddr (bare when /32), vport, vdir, vmethod, vportctl', () => {
    expect(saved('-s 10.96.0.10/32 -m ipvs --vaddr 10.96.0.10 --vproto tcp --vport 80 -j DROP'))
      .toBe('-s 10.96.0.10/32 -m ipvs --vproto 6 --vaddr 10.96.0.10 --vport 80 -j DROP');
    expect(saved('-m ipvs --ipvs -j ACCEPT')).toBe('-m ipvs --ipvs -j ACCEPT');
    expect(saved('-m ipvs ! --ipvs -j ACCEPT')).toBe('-m ipvs ! --ipvs -j ACCEPT');
    expect(saved('-m ipvs --vdir REPLY --vmethod GATE --vaddr 10.0.0.0/8 ! --vport 53 --vportctl 21 -j ACCEPT'))
      .toBe('-m ipvs --vaddr 10.0.0.0/8 ! --vport 53 --vdir REPLY --vmethod GATE --vportctl 21 -j ACCEPT');
    expect(saved('-m ipvs ! --vmethod ipip --vaddr 10.0.0.1/255.0.255.0 -j ACCEPT'))
      .toBe('-m ipvs --vaddr 10.0.0.1/255.0.255.0 ! --vmethod IPIP -j ACCEPT');
    expect(ipvsVaddrMatch(0x0a60000a, 6, 80).save()).toBe('-m ipvs --vproto 6 --vaddr 10.96.0.10 --vport 80');
  });

  it('refuses what libxt_ipvs refuses', () => {
    expect(() => parseRule('-m ipvs -j ACCEPT', 'filter', 'OUTPUT')).toThrow(/At least one option is required/);
    expect(() => parseRule('-m ipvs ! --ipvs --vport 80 -j ACCEPT', 'filter', 'OUTPUT')).toThrow(/! --ipvs cannot be together with other options/);
    expect(() => parseRule('-m ipvs --vmethod NAT -j ACCEPT', 'filter', 'OUTPUT')).toThrow(/--vmethod/);
    expect(() => parseRule('-m ipvs --vdir SIDEWAYS -j ACCEPT', 'filter', 'OUTPUT')).toThrow(/--vdir/);
  });
});
