/**
 * The traversal tests a rule's leading pure `-m conntrack --ctstate S` inline (ChainPlan.ctState,
 * issue 9) instead of calling the match: for every conntrack state of the packet, NAT status
 * bits, state set and inversion, the rule must match exactly when ConntrackMatch.matches says so,
 * and the modules after it must still run only then, in order.
 */
import { describe, expect, it } from 'vitest';
import { traverseTable } from '../../src/netfilter/traverse.js';
import { ConntrackMatch, ST_DNAT, ST_ESTABLISHED, ST_INVALID, ST_NEW, ST_RELATED, ST_SNAT, ST_UNTRACKED } from '../../src/netfilter/matches/conntrack.js';
import { commentMatch } from '../../src/netfilter/matches/comment.js';
import { acceptTarget } from '../../src/netfilter/targets/standard.js';
import { IPS_DST_NAT, IPS_SRC_NAT, type CtInfo } from '../../src/netfilter/ct-types.js';
import type { Chain, Match, Table } from '../../src/netfilter/types.js';
import { conn, pkt } from './helpers.js';

const BITS = [ST_INVALID, ST_NEW, ST_RELATED, ST_ESTABLISHED, ST_UNTRACKED, ST_SNAT, ST_DNAT];
const INFOS: CtInfo[] = ['new', 'established', 'related', 'established_reply', 'related_reply', 'untracked', 'invalid'];

function table(m: Match, after: Match[]): Table {
  const input: Chain = {
    name: 'INPUT', policy: 'DROP', policyCounters: true, pkts: 0, bytes: 0,
    rules: [{ ip: {}, matches: [commentMatch('c'), m, ...after], target: acceptTarget() }],
  };
  return { name: 'filter', chains: new Map([['INPUT', input]]), counters: new Map() };
}

describe('inline --ctstate', () => {
  it('agrees with ConntrackMatch for every state, status and state set', () => {
    let n = 0;
    for (let set = 1; set < 1 << BITS.length; set += 3) {
      const bits = BITS.reduce((a, b, i) => (set & (1 << i) ? a | b : a), 0);
      for (const invert of [false, true]) {
        const m = new ConntrackMatch();
        m.state = { bits, invert };
        for (const ctinfo of INFOS) {
          for (const status of [0, IPS_SRC_NAT, IPS_DST_NAT, IPS_SRC_NAT | IPS_DST_NAT, -1]) {
            const p = pkt({ ct: status < 0 ? null : conn({ status }), ctinfo });
            let after = 0;
            const t = table(m, [{ name: 'test', matches: () => { after++; return true; }, save: () => '-m test' }]);
            const want = m.matches(p);
            expect(traverseTable(t, 'INPUT', p, null).verdict).toBe(want ? 'accept' : 'drop');
            expect(after).toBe(want ? 1 : 0);
            n++;
          }
        }
      }
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('leaves a conntrack match with other options to the module', () => {
    const m = new ConntrackMatch();
    m.state = { bits: ST_NEW, invert: false };
    m.dir = 'REPLY';
    const p = pkt({ ct: conn(), ctinfo: 'new' });
    expect(m.matches(p)).toBe(false);
    expect(traverseTable(table(m, []), 'INPUT', p, null).verdict).toBe('drop');
  });
});
