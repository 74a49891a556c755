/**
 * felix's sync applies its iptables-restore as Chain objects (agent.ts applyRestore:
 * `Ruleset.replaceTables`, each shared chain and bodies array parsed once, then the
 * built-in chains' repairs as text). Property: whatever the policies and the changes to
 * them, and whatever foreign rules sit in INPUT/FORWARD, every node's `iptables-save -c`
 * equals that of a fresh node fed the commands in the node's configuration log as text
 * (`ipset restore`, `iptables-restore`, `ipset destroy`): the restore felix logs is the
 * one it applied.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { World } from '../../../src/kernel/world.js';
import { Node } from '../../../src/kernel/node.js';
import { iptablesRestore, iptablesSaveText, netfilterOf } from '../../../src/netfilter/index.js';
import { ipsetRestore } from '../../../src/netfilter/ipset-text.js';
import { clusterArb, policyManifest, type GenCluster } from '../../netpol/gen-cluster.js';
import { felixCluster, type FelixCluster } from './helpers.js';
import type { Obj } from '../../../src/kube/object.js';

const advance = (f: FelixCluster) => f.world.sched.run(f.world.now + 1e6);

/** The node's host commands replayed as text on a fresh node. */
function replayed(node: Node): string {
  const fresh = new Node(new World(1), 'replay', 'node');
  const sets = netfilterOf(fresh.host).nf.ipsets;
  for (const cmd of node.configCommands()) {
    const m = /^(iptables-restore(?: --noflush)?|ipset restore) <<'EOF'\n([\s\S]*)EOF$/.exec(cmd);
    if (m) {
      if (m[1] === 'ipset restore') ipsetRestore(sets, m[2]!);
      else iptablesRestore(fresh, 'host', m[2]!, { noflush: m[1]!.endsWith('--noflush') });
    } else if (cmd.startsWith('ipset destroy ')) ipsetRestore(sets, `destroy ${cmd.slice('ipset destroy '.length)}\n`);
  }
  return iptablesSaveText(fresh, 'host', { counters: true });
}

type Step = { kind: 'toggle'; i: number } | { kind: 'foreign'; chain: 'INPUT' | 'FORWARD' | 'OUTPUT'; at: 'head' | 'tail' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('toggle' as const), i: fc.nat(20) }),
  fc.record({ kind: fc.constant('foreign' as const), chain: fc.constantFrom('INPUT' as const, 'FORWARD' as const, 'OUTPUT' as const), at: fc.constantFrom('head' as const, 'tail' as const) }),
);

describe('felix: the restore applied = the restore logged', () => {
  it('every node\'s iptables-save -c equals the logged commands replayed as text', () => {
    fc.assert(fc.property(clusterArb({ maxPods: 8, maxPolicies: 4 }), fc.array(stepArb, { maxLength: 5 }), (c: GenCluster, steps) => {
      const f = felixCluster(c);
      let foreign = 0;
      for (const s of steps) {
        if (s.kind === 'toggle') {
          if (c.policies.length === 0) continue;
          const p = c.policies[s.i % c.policies.length]!;
          if (f.store.get('NetworkPolicy', p.ns, p.name)) f.store.delete('NetworkPolicy', p.ns, p.name);
          else f.store.create(policyManifest(p) as Obj);
        } else {
          // Another program's rule before felix's jump or after its FORWARD tail: the next sync repairs the order.
          const rule = `${s.at === 'head' ? `-I ${s.chain} 1` : `-A ${s.chain}`} -s 198.51.100.${++foreign}/32 -j ACCEPT`;
          for (const n of f.nodes) iptablesRestore(n.node, 'host', `*filter\n${rule}\nCOMMIT\n`, { noflush: true });
          for (const n of f.nodes) n.agent.requestSync();
        }
        advance(f);
      }
      for (const n of f.nodes) expect(iptablesSaveText(n.node, 'host', { counters: true }), n.name).toBe(replayed(n.node));
    }), { numRuns: 30, seed: 11 });
  }, 120_000);
});
