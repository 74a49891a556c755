/**
 * Ruleset.defer: queued changes are made, in order, before anything reads the rules — a
 * method, `tables`, `present`, iptables-save, or a packet through the namespace's hooks
 * (NetfilterNs then also recomputes whether conntrack runs) — so a deferred change is
 * indistinguishable from one made at once.
 */
import { describe, expect, it } from 'vitest';
import { Ruleset, RulesetError } from '../../src/netfilter/ruleset.js';
import { iptablesRestore, parseRule } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import { netfilterOf } from '../../src/netfilter/index.js';
import { NfHook } from '../../src/kernel/hooks.js';
import type { Chain } from '../../src/netfilter/types.js';
import { benchNode, tcpSkb } from '../../bench/netfilter.js';
import { parseIp } from '../../src/wire/bytes.js';

const chain = (name: string, rules: string[]): Chain => ({ name, policy: null, pkts: 0, bytes: 0, rules: rules.map((r) => parseRule(r, 'nat', name, null)) });

describe('Ruleset.defer', () => {
  it('deferred work is done, in order, before the rules are read, and equals doing it at once', () => {
    const now = new Ruleset(), later = new Ruleset();
    const a = chain('KUBE-A', ['-j RETURN']), b = chain('KUBE-B', ['-j KUBE-A']);
    now.replaceChains('nat', [a]);
    iptablesRestore(now, '*nat\n-A PREROUTING -j KUBE-A\nCOMMIT\n', { noflush: true });
    now.replaceChains('nat', [b]);
    later.defer((rs) => rs.replaceChains('nat', [a]));
    later.defer((rs) => iptablesRestore(rs, '*nat\n-A PREROUTING -j KUBE-A\nCOMMIT\n', { noflush: true }));
    expect(later.hasDeferred).toBe(true);
    // A direct change after deferred ones comes after them (it reads the rules first).
    later.replaceChains('nat', [b]);
    expect(later.hasDeferred).toBe(false);
    expect(iptablesSave(later)).toBe(iptablesSave(now));
    later.defer((rs) => rs.replaceChains('nat', [chain('KUBE-C', ['-j KUBE-B'])]));
    expect(later.present.has('nat')).toBe(true);
    expect(later.hasChain('nat', 'KUBE-C')).toBe(true);
  });

  it('an error surfaces where the rules are first read; the work queued behind it stays queued', () => {
    const rs = new Ruleset();
    let settled = 0;
    rs.onSettled = () => { settled++; };
    rs.defer((r) => r.replaceChains('nat', [chain('KUBE-X', ['-j KUBE-MISSING'])]));
    rs.defer((r) => r.replaceChains('nat', [chain('KUBE-Y', ['-j RETURN'])]));
    expect(() => rs.tables).toThrow(RulesetError);
    expect(settled).toBe(1);
    expect(rs.hasDeferred).toBe(true);
    expect(rs.hasChain('nat', 'KUBE-Y')).toBe(true);
    expect(rs.hasChain('nat', 'KUBE-X')).toBe(false);
  });

  it('the first packet through the hooks sees deferred rules, with conntrack and DNAT running', () => {
    const { node, eth0 } = benchNode();
    const st = netfilterOf(node.host);
    st.rules.defer((rs) => iptablesRestore(rs, [
      '*nat', ':KUBE-SVC - [0:0]',
      '-A PREROUTING -d 10.96.0.10/32 -p tcp --dport 80 -j KUBE-SVC',
      '-A KUBE-SVC -p tcp -j DNAT --to-destination 10.244.1.5:8080', 'COMMIT', '',
    ].join('\n'), { noflush: true }));
    expect(st.nf.settleNeeded).toBe(true);
    expect(st.nf.ctActive).toBe(false);
    const skb = tcpSkb(parseIp('192.168.1.50')!, parseIp('10.96.0.10')!, 40000, 80, 0x02, 1, 0);
    const hooks = node.host.hooks.ipv4[NfHook.PRE_ROUTING];
    for (const h of hooks) h.fn(skb, { hook: NfHook.PRE_ROUTING, in: eth0, out: null } as never);
    expect(st.nf.settleNeeded).toBe(false);
    expect(st.nf.ctActive).toBe(true);
    // Destination rewritten to the endpoint by the deferred DNAT rule.
    expect([...skb.buf.subarray(skb.nh + 16, skb.nh + 20)].join('.')).toBe('10.244.1.5');
  });
});
