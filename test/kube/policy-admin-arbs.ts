/**
 * fast-check arbitraries for AdminNetworkPolicy and BaselineAdminNetworkPolicy, shared by the
 * policy property tests (policy-laws, policy-reach). Each test brings its own label selectors
 * and rule arbitraries (their peers differ); the policies are validated as the CRD would, so a
 * generated policy is always a legal one.
 */
import fc from 'fast-check';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy, type AdminNetworkPolicy, type BaselineAdminNetworkPolicy } from '../../src/kube/admin-network-policy.js';

type O = Record<string, unknown>;

export function adminPolicyArbs(
  selArb: fc.Arbitrary<O>,
  ruleArb: (actions: string[], egress: boolean) => fc.Arbitrary<O>,
  maxPriority: number,
): { anpArb: fc.Arbitrary<AdminNetworkPolicy>; banpArb: fc.Arbitrary<BaselineAdminNetworkPolicy> } {
  let seq = 0;
  const subjectArb: fc.Arbitrary<O> = fc.oneof(
    selArb.map((s) => ({ namespaces: s })),
    fc.tuple(selArb, selArb).map(([a, b]) => ({ pods: { namespaceSelector: a, podSelector: b } })),
  );
  const anpArb = fc
    .record({
      priority: fc.integer({ min: 0, max: maxPriority }),
      subject: subjectArb,
      ingress: fc.array(ruleArb(['Allow', 'Deny', 'Pass'], false), { maxLength: 2 }),
      egress: fc.array(ruleArb(['Allow', 'Deny', 'Pass'], true), { maxLength: 2 }),
    })
    .map((s) => {
      const r = validateAdminNetworkPolicy({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: `anp-${seq++}` }, spec: s });
      if (!r.value) throw new Error(JSON.stringify(r.errors.errors));
      return r.value;
    });
  const banpArb = fc
    .record({
      subject: subjectArb,
      ingress: fc.array(ruleArb(['Allow', 'Deny'], false), { maxLength: 2 }),
      egress: fc.array(ruleArb(['Allow', 'Deny'], true), { maxLength: 2 }),
    })
    .map((s) => {
      const r = validateBaselineAdminNetworkPolicy({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: s });
      if (!r.value) throw new Error(JSON.stringify(r.errors.errors));
      return r.value;
    });
  return { anpArb, banpArb };
}
