/**
 * The traversal's per-rule caches (the chain a jump finds, the Counter a matching rule
 * grows; traverse.ts, stamped with ruleset.ts's rulesetEpoch) never go stale: after each
 * kind of change a Ruleset allows, made between two packets on rule sets whose caches are
 * warm (also for chains shared by two rulesets, which fill both cache slots), the next
 * packets walk, count and trace exactly as on a fresh ruleset holding the same rules and
 * counters.
 */
import { describe, expect, it } from 'vitest';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore, parseRule } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import { traverseTable, type TraverseTrace } from '../../src/netfilter/traverse.js';
import type { Chain, PacketCtx, TableName } from '../../src/netfilter/types.js';
import { parseIp } from '../../src/wire/bytes.js';

const save = (rs: Ruleset) => iptablesSave(rs, { noComments: true, counters: true });

/** A header-only packet to `dst` (100 bytes at the IP layer). */
const pkt = (dst: string): PacketCtx => ({
  skb: { len: 114, nh: 14, data: 0 }, saddr: parseIp('10.0.0.9')!, daddr: parseIp(dst)!, proto: 6, fragOff: 0, sport: 1000, dport: 80,
  inDev: null, outDev: null,
} as unknown as PacketCtx);

const DSTS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];

const BASE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:SVC - [0:0]
:SEP1 - [0:0]
:SEP2 - [0:0]
:EMPTY - [0:0]
-A INPUT -j EMPTY
-A INPUT -d 10.0.0.0/24 -j SVC
-A INPUT -d 10.0.0.1/32
-A INPUT -d 10.0.0.3/32 -j DROP
-A FORWARD -j SVC
-A SVC -d 10.0.0.1/32 -j SEP1
-A SVC -d 10.0.0.2/32 -g SEP2
-A SVC -d 10.0.0.4/32 -j SEP2
-A SEP1 -s 10.0.0.9/32
-A SEP1 -j RETURN
-A SEP2 -s 10.0.0.9/32 -j ACCEPT
COMMIT
`;

/** One packet through a built-in chain: verdict, rules evaluated, and the trace as text. */
function walk(rs: Ruleset, hook: string, dst: string): string[] {
  const out: string[] = [];
  const tr: TraverseTrace = {
    rule: (_p, c, num, _r, v) => out.push(`${c.name}:${num}:${v.kind}`),
    policy: (_p, c) => out.push(`${c.name}:policy:${c.policy}`),
    fallthrough: (_p, c) => out.push(`${c.name}:return`),
  };
  const v = traverseTable(rs.tables.filter, hook, pkt(dst), tr);
  out.push(`${v.verdict}/${v.evaluated}`);
  return out;
}

/** Every packet, through INPUT and FORWARD, twice (warms both cache slots when chains are shared). */
function traffic(rs: Ruleset): string[] {
  const out: string[] = [];
  for (let k = 0; k < 2; k++) for (const d of DSTS) for (const h of ['INPUT', 'FORWARD']) out.push(...walk(rs, h, d));
  return out;
}

/** `rs` walks, counts and traces as a fresh ruleset restored from its save -c does. */
function expectFresh(rs: Ruleset): void {
  const fresh = new Ruleset();
  iptablesRestore(fresh, save(rs), { counters: true });
  expect(save(fresh)).toBe(save(rs));
  expect(traffic(rs)).toEqual(traffic(fresh));
  expect(save(rs)).toBe(save(fresh));
}

function userChain(table: TableName, name: string, rules: string[]): Chain {
  return { name, policy: null, pkts: 0, bytes: 0, rules: rules.map((r) => parseRule(r, table, name, null)) };
}

/** A warm ruleset with BASE, another one sharing its user chains (clone), both warm. */
function warmPair(): [Ruleset, Ruleset] {
  const a = new Ruleset();
  iptablesRestore(a, BASE);
  traffic(a);
  const b = a.clone();
  traffic(b);
  traffic(a);
  return [a, b];
}

const CHANGES: [string, (rs: Ruleset) => void][] = [
  ['replace a jump rule', (rs) => rs.replace('filter', 'SVC', 1, parseRule('-d 10.0.0.1/32 -j SEP2', 'filter', 'SVC', null))],
  ['insert a rule first (counters move)', (rs) => rs.insert('filter', 'SVC', parseRule('-d 10.0.0.3/32', 'filter', 'SVC', null), 1)],
  ['delete the first rule (counters move)', (rs) => rs.delete('filter', 'SVC', 1)],
  ['append a rule', (rs) => rs.append('filter', 'SEP1', parseRule('-j ACCEPT', 'filter', 'SEP1', null))],
  ['flush a chain', (rs) => rs.flush('filter', 'SEP1')],
  ['flush the table', (rs) => rs.flush('filter')],
  ['zero one chain', (rs) => rs.zero('filter', 'SVC')],
  ['zero the table', (rs) => rs.zero('filter')],
  ['zero everything', (rs) => rs.zero()],
  ['set a rule\'s counters', (rs) => rs.setRuleCounters('filter', 'SVC', 1, { pkts: 40, bytes: 5000 })],
  ['rename a jumped-to chain', (rs) => rs.renameChain('filter', 'SEP1', 'SEPX')],
  ['rename, then the old name again as a new chain', (rs) => {
    rs.renameChain('filter', 'SEP2', 'SEPY');
    rs.newChain('filter', 'SEP2');
    rs.append('filter', 'SEP2', parseRule('-j DROP', 'filter', 'SEP2', null));
    rs.replace('filter', 'SVC', 1, parseRule('-d 10.0.0.1/32 -j SEP2', 'filter', 'SVC', null));
  }],
  ['delete a chain and make one of the name again', (rs) => {
    rs.delete('filter', 'INPUT', 1);
    rs.deleteChain('filter', 'EMPTY');
    rs.newChain('filter', 'EMPTY');
    rs.append('filter', 'EMPTY', parseRule('-d 10.0.0.2/32 -j ACCEPT', 'filter', 'EMPTY', null));
    rs.insert('filter', 'INPUT', parseRule('-j EMPTY', 'filter', 'INPUT', null), 1);
  }],
  ['set a policy', (rs) => rs.setPolicy('filter', 'INPUT', 'DROP')],
  ['replaceChains: a jumped-to chain by a new object', (rs) => rs.replaceChains('filter', [userChain('filter', 'SEP1', ['-j ACCEPT'])])],
  ['replaceChains: new chains, a deleted one', (rs) => rs.replaceChains('filter', [
    userChain('filter', 'SVC', ['-d 10.0.0.1/32 -j SEP3', '-d 10.0.0.2/32 -g SEP2']),
    userChain('filter', 'SEP3', ['-d 10.0.0.1/32 -j DROP']),
  ], ['SEP1'])],
  ['replaceChains: bulk (a set as large as the table)', (rs) => {
    const set = [userChain('filter', 'SVC', ['-d 10.0.0.2/32 -j SEP1'])];
    for (let k = 0; k < 70; k++) set.push(userChain('filter', `X${k}`, ['-j RETURN']));
    set.push(userChain('filter', 'SEP1', ['-j DROP']));
    rs.replaceChains('filter', set, ['SEP2']);
  }],
  ['replaceTables (one transaction)', (rs) => rs.replaceTables([{ table: 'filter', set: [userChain('filter', 'SEP2', ['-j DROP'])] }])],
  ['replaceTables that fails (rolled back)', (rs) => {
    expect(() => rs.replaceTables([
      { table: 'filter', set: [userChain('filter', 'SEP2', ['-j DROP']), userChain('filter', 'SVC', ['-j SEP1'])] },
      { table: 'filter', set: [userChain('filter', 'SEP1', ['-j NOWHERE'])] },
    ])).toThrow();
  }],
  ['iptables-restore --noflush with counters', (rs) => iptablesRestore(rs, '*filter\n[5:6] -I SVC 1 -d 10.0.0.2/32 -j SEP1\n-D SVC 3\nCOMMIT\n', { noflush: true, counters: true })],
  ['iptables-restore --noflush that fails (rolled back)', (rs) => {
    expect(() => iptablesRestore(rs, '*filter\n-F SVC\n-A SVC -j SEP2\n-X SEP1\n-A SVC -j NOWHERE\nCOMMIT\n', { noflush: true })).toThrow();
  }],
  ['iptables-restore of the whole table (reset)', (rs) => iptablesRestore(rs, '*filter\n:INPUT ACCEPT [0:0]\n:SVC - [0:0]\n-A INPUT -j SVC\n-A SVC -d 10.0.0.2/32 -j DROP\nCOMMIT\n')],
  ['deferred work', (rs) => rs.defer((r) => r.replace('filter', 'SVC', 3, parseRule('-d 10.0.0.4/32 -j SEP1', 'filter', 'SVC', null)))],
  ['adopt another ruleset\'s tables', (rs) => {
    const o = new Ruleset();
    iptablesRestore(o, BASE.replace('-A SVC -d 10.0.0.4/32 -j SEP2', '-A SVC -d 10.0.0.4/32 -j SEP1'));
    rs.adopt(o);
  }],
];

describe('traversal caches follow every ruleset change', () => {
  for (const [name, change] of CHANGES) {
    it(`${name}: the changed ruleset and the one sharing its chains walk as fresh ones`, () => {
      const [a, b] = warmPair();
      change(a);
      expectFresh(a);
      expectFresh(b);
      // And the other way round: the clone changes, the original walks on.
      const [c, d] = warmPair();
      change(d);
      expectFresh(d);
      expectFresh(c);
    });
  }

  it('three rulesets sharing chains, walked in turn (more tables than a plan keeps counter rows for), walk as fresh ones', () => {
    for (const [, change] of [['none', () => {}] as const, ...CHANGES]) {
      const a = new Ruleset();
      iptablesRestore(a, BASE);
      const b = a.clone(), c = a.clone();
      // The same packets through three rulesets that share nothing: the counts to expect.
      const [x, y, z] = [0, 1, 2].map(() => { const r = new Ruleset(); iptablesRestore(r, BASE); return r; });
      const shared = [a, b, c], alone = [x, y, z];
      const logs: [string[], string[]] = [[], []];
      [shared, alone].forEach((set, s) => {
        for (let k = 0; k < 3; k++) for (const rs of set) logs[s].push(...traffic(rs));
        change(set[1]);
        for (const j of [2, 0, 1]) logs[s].push(...traffic(set[j]));
      });
      expect(logs[0]).toEqual(logs[1]);
      for (let j = 0; j < 3; j++) expect(save(shared[j])).toBe(save(alone[j]));
      for (const rs of shared) expectFresh(rs);
    }
  });

  it('copies of a template (copyOf), one changed between packets, walk as fresh ones', () => {
    for (const [, change] of CHANGES) {
      const tpl = new Ruleset();
      iptablesRestore(tpl, BASE);
      const x = new Ruleset(), y = new Ruleset();
      x.copyOf(tpl);
      y.copyOf(tpl);
      traffic(x);
      traffic(y);
      traffic(x);
      change(y);
      expectFresh(y);
      expectFresh(x);
    }
  });
});
