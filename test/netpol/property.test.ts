/**
 * Packet-level properties of NetworkPolicy enforcement (issue 6): random
 * clusters (namespaces, labels, pods over 2–3 flannel vxlan nodes, named and
 * numbered TCP/UDP container ports) and random NetworkPolicies, rendered as a
 * scenario YAML text, then
 *
 *  - agreement: for every (from, to, port, protocol) cell with a served port,
 *    the real packets of `probePolicyCells` get a reply ⇔ the reference
 *    evaluator (`PolicyEvaluator.verdict`, on the view `podwire policy` builds)
 *    allows the flow;
 *  - manifest order of the policies does not change any packet outcome;
 *  - a policy selecting no pod changes no packet outcome;
 *  - replies of allowed flows pass: every allowed TCP cell completes its
 *    exchange (`reply`), also when the reverse direction is denied.
 *
 * On a failure the shrunk case is written to out/netpol-counterexample.yaml
 * (a runnable scenario: `podwire policy matrix FILE --probe`) and printed in
 * the assertion message with fast-check's seed and path.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenario } from '../../src/scenario/load.js';
import { probePolicyCells, type ProbeOutcome } from '../../src/scenario/policy-probe.js';
import { policyWorldOf } from '../../src/cli/policy.js';
import { PolicyEvaluator } from '../../src/kube/policy-eval.js';
import { allCells, clusterArb, npSpecArb, scenarioYaml, type Cell, type GenCluster } from './gen-cluster.js';

const SEED = Number(process.env.NETPOL_PROP_SEED ?? 20240606);
const RUNS = Number(process.env.NETPOL_PROP_RUNS ?? 30);
const COUNTEREXAMPLE = 'out/netpol-counterexample.yaml';

const cellText = (c: Cell) => `${c.from} → ${c.to}:${c.port}/${c.protocol}`;

function probe(c: GenCluster, cells: Cell[], plugin: 'flannel' | 'calico' = 'flannel'): ProbeOutcome[] {
  const sc = parseScenario(scenarioYaml(c, '', plugin), 'netpol-property.yaml');
  return probePolicyCells(sc, { at: 0, cells, timeout: 300_000_000 });
}

function verdicts(c: GenCluster, cells: Cell[], plugin: 'flannel' | 'calico' = 'flannel'): boolean[] {
  // The view of the same data path: pod IPs (which ipBlocks match) come from its IPAM.
  const w = policyWorldOf(parseScenario(scenarioYaml(c, '', plugin), 'netpol-property.yaml'), 'netpol-property.yaml');
  const ev = new PolicyEvaluator(w.view, w.policies);
  return cells.map((x) => {
    const [fn, fp] = x.from.split('/') as [string, string];
    const [tn, tp] = x.to.split('/') as [string, string];
    return ev.verdict({ kind: 'pod', namespace: fn, name: fp }, { kind: 'pod', namespace: tn, name: tp }, x.port, x.protocol).allowed;
  });
}

/** Runs the property; on failure writes the shrunk case as a scenario and fails with it, the seed and the path. */
function check<T>(name: string, arb: fc.Arbitrary<T>, toCluster: (t: T) => GenCluster, body: (t: T) => string | undefined, runs = RUNS, plugin: 'flannel' | 'calico' = 'flannel'): void {
  const r = fc.check(
    fc.property(arb, (t) => {
      const why = body(t);
      if (why) throw new Error(why);
    }),
    { seed: SEED, numRuns: runs, endOnFailure: false },
  );
  if (!r.failed) return;
  const t = r.counterexample![0];
  const why = (() => { try { return body(t) ?? '(passes on re-run)'; } catch (e) { return String(e); } })();
  const yaml = scenarioYaml(toCluster(t), `counterexample of "${name}" (fast-check seed ${r.seed}, path "${r.counterexamplePath}")\n${why}`, plugin);
  mkdirSync('out', { recursive: true });
  writeFileSync(COUNTEREXAMPLE, yaml);
  expect.fail(`${name}: fast-check seed ${r.seed}, path "${r.counterexamplePath}" after ${r.numRuns} runs, ${r.numShrinks} shrinks; written to ${COUNTEREXAMPLE}\n${why}\n\n${yaml}`);
}

function diffOutcomes(cells: Cell[], a: ProbeOutcome[], b: ProbeOutcome[], what: string): string | undefined {
  const bad = cells.flatMap((c, i) => (a[i] !== b[i] ? [`${cellText(c)}: ${a[i]} vs ${b[i]} ${what}`] : []));
  return bad.length ? bad.join('\n') : undefined;
}

describe('NetworkPolicy: packets through the agents\' rules = the reference evaluator', () => {
  it('every cell: reply ⇔ allowed', () => {
    check('reply ⇔ allowed', clusterArb(), (c) => c, (c) => {
      const cells = allCells(c, { self: true });
      const got = probe(c, cells);
      const want = verdicts(c, cells);
      const bad = cells.flatMap((x, i) => ((got[i] === 'reply') !== want[i] ? [`${cellText(x)}: packets ${got[i]}, evaluator ${want[i] ? 'allowed' : 'denied'}`] : []));
      return bad.length ? bad.join('\n') : undefined;
    });
  });

  it('manifest order of the policies does not change any outcome', () => {
    const arb = clusterArb({ maxPolicies: 4 }).filter((c) => c.policies.length > 1);
    check('policy order', arb, (c) => c, (c) => {
      const cells = allCells(c);
      const rev = { ...c, policies: [...c.policies].reverse() };
      return diffOutcomes(cells, probe(c, cells), probe(rev, cells), '(manifest order vs reversed)');
    }, Math.ceil(RUNS / 2));
  });

  it('a policy that selects no pod changes nothing', () => {
    const arb = fc.tuple(clusterArb(), npSpecArb, fc.constantFrom<Record<string, unknown>>(
      { matchLabels: { app: 'nobody' } },
      { matchExpressions: [{ key: 'app', operator: 'In', values: ['nobody'] }] },
      { matchExpressions: [{ key: 'absent-key', operator: 'Exists' }] },
    ), fc.nat(2));
    const withNoop = ([c, spec, sel, nsIx]: [GenCluster, Record<string, unknown>, Record<string, unknown>, number]): GenCluster =>
      ({ ...c, policies: [...c.policies, { ns: c.namespaces[nsIx % c.namespaces.length]!.name, name: 'selects-nothing', spec: { ...spec, podSelector: sel } }] });
    check('no-op policy', arb, withNoop, (t) => {
      const cells = allCells(t[0]);
      return diffOutcomes(cells, probe(t[0], cells), probe(withNoop(t), cells), '(without vs with a policy selecting no pod)');
    }, Math.ceil(RUNS / 2));
  });

  it('replies of allowed flows pass: every allowed TCP cell completes its exchange, whatever the reverse direction', () => {
    let oneWay = 0;
    check('replies pass', clusterArb(), (c) => c, (c) => {
      const cells = allCells(c).filter((x) => x.protocol === 'TCP');
      const allowed = verdicts(c, cells);
      const got = probe(c, cells);
      // The reverse direction as a new connection (same port), to count flows whose replies pass against the policies.
      const rev = cells.map((x) => ({ ...x, from: x.to, to: x.from }));
      const revAllowed = verdicts(c, rev);
      oneWay += cells.filter((_, i) => allowed[i] && !revAllowed[i]).length;
      const bad = cells.flatMap((x, i) => (allowed[i] && got[i] !== 'reply' ? [`${cellText(x)}: allowed, but the exchange got ${got[i]}`] : []));
      return bad.length ? bad.join('\n') : undefined;
    });
    // The property is not vacuous: some allowed connections ran against a denied reverse direction.
    expect(oneWay).toBeGreaterThan(0);
  });
});

describe('NetworkPolicy on Calico: packets through felix\'s cali-* chains (IPIP, BGP) = the reference evaluator', () => {
  it('every cell: reply ⇔ allowed', () => {
    check('calico: reply ⇔ allowed', clusterArb(), (c) => c, (c) => {
      const cells = allCells(c, { self: true });
      const got = probe(c, cells, 'calico');
      const want = verdicts(c, cells, 'calico');
      const bad = cells.flatMap((x, i) => ((got[i] === 'reply') !== want[i] ? [`${cellText(x)}: packets ${got[i]}, evaluator ${want[i] ? 'allowed' : 'denied'}`] : []));
      return bad.length ? bad.join('\n') : undefined;
    }, RUNS, 'calico');
  });
});
