/**
 * Packet-level properties of felix's policy rendering (issue 7), mirroring
 * test/netpol/property.test.ts with Calico's chains as the dataplane: random
 * clusters and NetworkPolicies (test/netpol/gen-cluster.ts's generators),
 * felix's agent on every node, then for every (from, to, port, protocol)
 * cell between two different pods:
 *
 *  - a new connection's first packet, met by cali-fw-<A> on the sending node
 *    (`-i caliA`) and cali-tw-<B> on the receiving node (`-o caliB`), passes
 *    ⇔ the reference evaluator (`PolicyEvaluator.verdict`) allows the flow;
 *  - the reply of every allowed flow passes (conntrack RELATED,ESTABLISHED
 *    first in the endpoint chains), whatever the policies say of the reverse
 *    direction.
 *  - the same with AdminNetworkPolicies and a BaselineAdminNetworkPolicy
 *    added (tiers adminnetworkpolicy / baselineadminnetworkpolicy).
 *
 * On a failure the shrunk case is written to out/felix-counterexample.yaml (a
 * runnable scenario of the same cluster and policies, as the netpol property
 * writes: `podwire policy matrix FILE` gives the evaluator's side) and
 * printed with fast-check's seed and path and the failing cells.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allCells, clusterArb, scenarioYaml, type Cell, type GenCluster } from '../../netpol/gen-cluster.js';
import { felixCluster, probe, sendToAddress } from './helpers.js';
import type { Obj } from '../../../src/kube/object.js';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy } from '../../../src/kube/admin-network-policy.js';

const SEED = Number(process.env.FELIX_PROP_SEED ?? 20261123);
const RUNS = Number(process.env.FELIX_PROP_RUNS ?? 40);
const COUNTEREXAMPLE = 'out/felix-counterexample.yaml';

const cellText = (c: Cell) => `${c.from} → ${c.to}:${c.port}/${c.protocol}`;

interface Case { c: GenCluster; extra: Obj[] }

/** Every cell: packets vs the evaluator; replies of allowed flows. */
function checkCase({ c, extra }: Case): string | undefined {
  const fcl = felixCluster(c, { extra });
  const ev = fcl.informer.evaluatorFor();
  const bad: string[] = [];
  fcl.informer.cluster();
  if (fcl.informer.problems.length) return `invalid generated objects: ${fcl.informer.problems.join('; ')}`;
  if (fcl.informer.cluster().anps.length + (fcl.informer.cluster().banp ? 1 : 0) !== extra.length) return 'an admin policy was not taken';
  let sport = 20000;
  for (const x of allCells(c)) {
    const [fn, fp] = x.from.split('/') as [string, string];
    const [tn, tp] = x.to.split('/') as [string, string];
    const want = ev.verdict({ kind: 'pod', namespace: fn, name: fp }, { kind: 'pod', namespace: tn, name: tp }, x.port, x.protocol).allowed;
    const got = probe(fcl, x.from, x.to, x.port, x.protocol, sport++);
    if (got.forward !== want) bad.push(`${cellText(x)}: packets ${got.forward ? 'pass' : 'dropped'}, evaluator ${want ? 'allowed' : 'denied'}`);
    else if (want && !got.reply) bad.push(`${cellText(x)}: allowed, but its reply was dropped`);
  }
  return bad.length ? bad.join('\n') : undefined;
}

function check(name: string, arb: fc.Arbitrary<Case>, runs = RUNS): void {
  const r = fc.check(fc.property(arb, (t) => { const why = checkCase(t); if (why) throw new Error(why); }), { seed: SEED, numRuns: runs, endOnFailure: false });
  if (!r.failed) return;
  const t = r.counterexample![0];
  const why = (() => { try { return checkCase(t) ?? '(passes on re-run)'; } catch (e) { return String(e); } })();
  let yaml = scenarioYaml(t.c, `felix counterexample of "${name}" (fast-check seed ${r.seed}, path "${r.counterexamplePath}")\n${why}`);
  for (const o of t.extra) yaml += `  - ${JSON.stringify(o)}\n`;
  mkdirSync('out', { recursive: true });
  writeFileSync(COUNTEREXAMPLE, yaml);
  expect.fail(`${name}: fast-check seed ${r.seed}, path "${r.counterexamplePath}" after ${r.numRuns} runs, ${r.numShrinks} shrinks; written to ${COUNTEREXAMPLE}\n${why}\n\n${yaml}`);
}

// ANP / BANP arbitraries over the generator's labels (team/env on namespaces, app/tier on pods).
const nsSel = fc.constantFrom<Obj>({}, { matchLabels: { team: 'a' } }, { matchLabels: { env: 'prod' } }, { matchExpressions: [{ key: 'team', operator: 'In', values: ['b'] }] });
const podSel = fc.constantFrom<Obj>({}, { matchLabels: { app: 'web' } }, { matchLabels: { tier: 'back' } }, { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] });
const subject = fc.oneof(nsSel.map((n) => ({ namespaces: n })), fc.tuple(nsSel, podSel).map(([n, p]) => ({ pods: { namespaceSelector: n, podSelector: p } })));
const anpPeer = fc.oneof(nsSel.map((n) => ({ namespaces: n })), fc.tuple(nsSel, podSel).map(([n, p]) => ({ pods: { namespaceSelector: n, podSelector: p } })));
const anpEgressPeer = fc.oneof(anpPeer, fc.constantFrom<Obj>(
  { networks: ['10.244.0.0/24'] }, { networks: ['10.244.1.0/25', '10.244.2.0/24'] }, { networks: ['192.168.0.0/16'] }, { networks: ['0.0.0.0/0'] },
  { nodes: { matchLabels: { 'kubernetes.io/hostname': 'node-1' } } }, { nodes: {} },
));
const anpPorts = fc.option(fc.array(fc.oneof(
  fc.constantFrom<Obj>({ portNumber: { protocol: 'TCP', port: 80 } }, { portNumber: { protocol: 'UDP', port: 53 } }, { portRange: { protocol: 'TCP', start: 80, end: 8080 } }, { namedPort: 'http' }),
), { minLength: 1, maxLength: 2 }), { nil: undefined });
const anpRule = (actions: string[], dir: 'from' | 'to') => fc.record({ action: fc.constantFrom(...actions), peers: fc.array(dir === 'from' ? anpPeer : anpEgressPeer, { minLength: 1, maxLength: 2 }), ports: anpPorts })
  .map(({ action, peers, ports }, ) => ({ name: 'r', action, [dir]: peers, ...(ports ? { ports } : {}) }));
const anpArb = (i: number) => fc.record({ priority: fc.integer({ min: 1, max: 20 }), subject, ingress: fc.array(anpRule(['Allow', 'Deny', 'Pass'], 'from'), { maxLength: 2 }), egress: fc.array(anpRule(['Allow', 'Deny', 'Pass'], 'to'), { maxLength: 2 }) })
  .map((s) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: `anp${i}` }, spec: s }) as Obj)
  .filter((o) => validateAdminNetworkPolicy(o).value !== undefined);
const banpArb = fc.record({ subject, ingress: fc.array(anpRule(['Allow', 'Deny'], 'from'), { maxLength: 2 }), egress: fc.array(anpRule(['Allow', 'Deny'], 'to'), { maxLength: 2 }) })
  .map((s) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: s }) as Obj)
  .filter((o) => validateBaselineAdminNetworkPolicy(o).value !== undefined);

describe('felix: packets through the cali- chains = the reference evaluator', () => {
  it('NetworkPolicy: every cell passes ⇔ allowed, and replies of allowed flows pass', () => {
    check('felix NetworkPolicy', clusterArb().map((c) => ({ c, extra: [] })));
  });

  it('with AdminNetworkPolicy and BaselineAdminNetworkPolicy tiers', () => {
    const arb = fc.tuple(clusterArb({ maxPolicies: 2 }), anpArb(0), anpArb(1), fc.option(banpArb, { nil: undefined }))
      .map(([c, a0, a1, b]) => ({ c, extra: [a0, a1, ...(b ? [b] : [])] }));
    check('felix ANP/BANP', arb, Math.ceil(RUNS / 2));
  });

  it('pods to nodes and outside addresses (cali-wl-to-host, cali-fw- out of eth0), NetworkPolicies, ANP networks/nodes peers, BANP: passes ⇔ the evaluator allows it', () => {
    const targets = ['192.168.1.11', '192.168.1.12', '192.168.0.5', '8.8.8.8'];
    const arb = fc.tuple(clusterArb({ maxPolicies: 3 }), fc.option(anpArb(0), { nil: undefined }), fc.option(banpArb, { nil: undefined }))
      .map(([c, a, b]) => ({ c, extra: [...(a ? [a] : []), ...(b ? [b] : [])] }));
    const r = fc.check(fc.property(arb, ({ c, extra }) => {
      const fcl = felixCluster(c, { extra });
      expect(fcl.informer.problems).toEqual([]);
      const ev = fcl.informer.evaluatorFor();
      const bad: string[] = [];
      let sport = 30000;
      for (const p of c.pods)
        for (const ip of targets)
          for (const [port, proto] of [[80, 'TCP'], [53, 'UDP']] as const) {
            const want = ev.verdict({ kind: 'pod', namespace: p.ns, name: p.name }, { kind: 'ip', ip }, port, proto).allowed;
            const got = sendToAddress(fcl, `${p.ns}/${p.name}`, ip, sport++, port, proto);
            if (got !== want) bad.push(`${p.ns}/${p.name} → ${ip}:${port}/${proto}: packets ${got ? 'pass' : 'dropped'}, evaluator ${want ? 'allowed' : 'denied'}`);
          }
      if (bad.length) throw new Error(`${bad.join('\n')}\n\n${scenarioYaml(c)}${extra.map((o) => `  - ${JSON.stringify(o)}\n`).join('')}`);
    }), { seed: SEED, numRuns: RUNS });
    if (r.failed) expect.fail(`fast-check seed ${r.seed}, path "${r.counterexamplePath}": ${String(r.errorInstance)}`);
  });

  it('replies pass against a denied reverse direction (the property is not vacuous)', () => {
    // x/p0 may reach y/p0, y/p0 may reach nothing: the reply of x → y still passes.
    const c: GenCluster = {
      nodes: 2,
      namespaces: [{ name: 'x', labels: {} }, { name: 'y', labels: {} }],
      pods: [{ ns: 'x', name: 'p0', node: 0, labels: {}, ports: [{ port: 80, protocol: 'TCP' }] }, { ns: 'y', name: 'p0', node: 1, labels: {}, ports: [{ port: 80, protocol: 'TCP' }] }],
      policies: [{ ns: 'y', name: 'deny-egress', spec: { podSelector: {}, policyTypes: ['Egress'] } }, { ns: 'x', name: 'deny-ingress', spec: { podSelector: {}, policyTypes: ['Ingress'] } }],
    };
    const fcl = felixCluster(c);
    expect(probe(fcl, 'x/p0', 'y/p0', 80, 'TCP', 30000)).toEqual({ forward: true, reply: true });
    expect(probe(fcl, 'y/p0', 'x/p0', 80, 'TCP', 30001)).toEqual({ forward: false, reply: false });
  });
});
