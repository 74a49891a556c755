/**
 * The upstream AdminNetworkPolicy / BaselineAdminNetworkPolicy conformance cases
 * (network-policy-api release-0.1, v1alpha1; see cases.ts) against podwire's
 * reference evaluator: for every case and every step, with the policies of that
 * step validated by podwire's validators, `PolicyEvaluator.verdict` gives exactly
 * upstream's expectation for each asserted connection — SCTP included (podwire
 * sends no SCTP packets, so for SCTP the evaluator is the only check) — and the
 * class-based reachability table agrees with it on the same cells.
 */
import { describe, expect, it } from 'vitest';
import { PolicyEvaluator } from '../../../src/kube/policy-eval.js';
import { reachability } from '../../../src/kube/policy-reach.js';
import type { PortCase } from '../../../src/kube/policy-eval.js';
import { CASES, V015_CASES, V1ALPHA2_PR_CASES, statesOf, type Flow } from './cases.js';
import { PODS, ns, podRef } from './hogwarts.js';
import { hogwarts, policySetOf } from './world.js';

const text = (x: Flow) => `${x.from} → ${x.to}:${x.port}/${x.protocol}`;
const endpoint = (name: string) => {
  const [namespace, n] = podRef(name).split('/') as [string, string];
  return { kind: 'pod' as const, namespace, name: n };
};

describe('the Hogwarts topology', () => {
  it('has the upstream namespaces, pods, labels and ports', () => {
    const { view } = hogwarts();
    expect(view.pods.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual(PODS.map((p) => `${ns(p.house)}/${p.name}`).sort());
    for (const p of view.pods) {
      expect(p.labels).toEqual({ 'conformance-house': p.namespace.replace('network-policy-conformance-', '') });
      if (p.name.startsWith('centaur')) expect(p.hostNetwork).toBe(true);
      else if (p.name.startsWith('viktor-krum')) expect((p.ports ?? []).filter((x) => x.name).map((x) => x.name)).toEqual(['web', 'web-8080', 'dns', 'dns-sd']);
      else expect((p.ports ?? []).filter((x) => x.name).map((x) => `${x.name}=${x.containerPort}/${x.protocol}`)).toEqual(['web=80/TCP', 'dns=53/UDP']);
    }
    for (const n of view.namespaces.filter((x) => x.name.startsWith('network-policy-conformance-')))
      expect(n.labels).toEqual({ 'conformance-house': n.name.replace('network-policy-conformance-', ''), 'kubernetes.io/metadata.name': n.name });
    for (const n of view.nodes ?? []) expect(n.labels?.['kubernetes.io/os']).toBe('linux');
  });
});

for (const c of [...CASES, ...V015_CASES, ...V1ALPHA2_PR_CASES]) {
  describe(`${c.profile} ${c.shortName} (${c.manifest})`, () => {
    const { view, ips } = hogwarts();
    const states = statesOf(c, ips);
    c.steps.forEach((step, i) => {
      it(step.name, () => {
        const policies = policySetOf(states[i]);
        const ev = new PolicyEvaluator(view, policies);
        const got = step.expect.map((x) => ev.verdict(endpoint(x.from), endpoint(x.to), x.port, x.protocol).allowed);
        const want = step.expect.map((x) => x.connects);
        const bad = step.expect.flatMap((x, j) => (got[j] !== want[j] ? [`${text(x)}: evaluator ${got[j] ? 'allows' : 'denies'}, upstream expects ${want[j] ? 'a connection' : 'no connection'}`] : []));
        expect(bad, bad.join('\n')).toEqual([]);

        // The reachability table on the same cells.
        const cases: PortCase[] = [];
        for (const x of step.expect) if (!cases.some((k) => k.port === x.port && k.protocol === x.protocol)) cases.push({ port: x.port, protocol: x.protocol });
        const r = reachability(view, policies, cases);
        const ix = (name: string) => r.pods.indexOf(podRef(name));
        for (const x of step.expect) {
          const k = cases.findIndex((q) => q.port === x.port && q.protocol === x.protocol);
          expect(r.allowed(ix(x.from), ix(x.to), k), `matrix ${text(x)}`).toBe(x.connects);
        }
      });
    });
  });
}
