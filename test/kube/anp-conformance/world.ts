/**
 * The Hogwarts cluster as `podwire policy` sees it (built once), and a case
 * step's policies validated by podwire's own validators into a PolicySet.
 */
import { parseScenario } from '../../../src/scenario/load.js';
import { policyWorldOf } from '../../../src/cli/policy.js';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy } from '../../../src/kube/admin-network-policy.js';
import { validateNetworkPolicy } from '../../../src/kube/networkpolicy.js';
import { fieldErrorMessage } from '../../../src/kube/errors.js';
import type { ClusterView, PolicySet } from '../../../src/kube/policy-eval.js';
import type { AdminNetworkPolicy } from '../../../src/kube/admin-network-policy.js';
import type { NetworkPolicy } from '../../../src/kube/networkpolicy.js';
import type { PolicyState } from './cases.js';
import { hogwartsScenario } from './hogwarts.js';

let cached: { view: ClusterView; ips: Map<string, string> } | undefined;

/** The cluster view of the base topology (no policies) and pod name → IP. */
export function hogwarts(): { view: ClusterView; ips: Map<string, string> } {
  if (!cached) {
    const w = policyWorldOf(parseScenario(hogwartsScenario(), 'hogwarts.yaml'), 'hogwarts.yaml');
    cached = { view: w.view, ips: new Map(w.view.pods.map((p) => [p.name, p.ip])) };
  }
  return cached;
}

/** Validates every policy of the state as podwire's loader would; throws with the field errors. */
export function policySetOf(s: PolicyState): PolicySet {
  const networkPolicies: NetworkPolicy[] = [];
  const adminNetworkPolicies: AdminNetworkPolicy[] = [];
  const set: { networkPolicies: NetworkPolicy[]; adminNetworkPolicies: AdminNetworkPolicy[]; baselineAdminNetworkPolicy?: PolicySet['baselineAdminNetworkPolicy'] } = { networkPolicies, adminNetworkPolicies };
  for (const [key, o] of s) {
    const r =
      o.kind === 'AdminNetworkPolicy' ? validateAdminNetworkPolicy(o)
      : o.kind === 'BaselineAdminNetworkPolicy' ? validateBaselineAdminNetworkPolicy(o)
      : validateNetworkPolicy(o);
    if (!r.value) throw new Error(`${key} does not validate: ${r.errors.errors.map(fieldErrorMessage).join('; ')}`);
    if (o.kind === 'AdminNetworkPolicy') adminNetworkPolicies.push(r.value as AdminNetworkPolicy);
    else if (o.kind === 'BaselineAdminNetworkPolicy') set.baselineAdminNetworkPolicy = r.value as PolicySet['baselineAdminNetworkPolicy'];
    else networkPolicies.push(r.value as NetworkPolicy);
  }
  return set;
}
