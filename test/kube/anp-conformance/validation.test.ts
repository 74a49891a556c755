/**
 * What the upstream conformance manifests need of podwire's v1alpha1 validator,
 * beyond the cases themselves: `networks` peers listing IPv6 CIDRs beside IPv4
 * ones (upstream's "deny to the internet" peers are `[0.0.0.0/0, ::/0]`). The
 * CRD's CIDR type is dual-stack (isCIDR), so they validate; podwire is IPv4
 * single-stack, so they can match nothing and are left out of the typed peer.
 */
import { describe, expect, it } from 'vitest';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy } from '../../../src/kube/admin-network-policy.js';
import { fieldErrorMessage } from '../../../src/kube/errors.js';
import { PolicyEvaluator } from '../../../src/kube/policy-eval.js';
import type { Obj } from '../../../src/kube/object.js';

const anp = (networks: string[]): Obj => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1',
  kind: 'AdminNetworkPolicy',
  metadata: { name: 'nets' },
  spec: { priority: 1, subject: { namespaces: {} }, egress: [{ action: 'Deny', to: [{ networks }] }] },
});
const errors = (o: Obj) => validateAdminNetworkPolicy(o).errors.errors.map(fieldErrorMessage);

describe('networks peers with IPv6 CIDRs', () => {
  it('accepts the CIDRs CEL isCIDR accepts, IPv6 included', () => {
    for (const c of ['::/0', 'fd00::/8', '2001:db8::1/128', '::ffff:10.0.0.1/128', '1:2:3:4:5:6:7:8/64', 'fe80::/10'])
      expect(errors(anp(['0.0.0.0/0', c])), c).toEqual([]);
    const b = { ...anp(['0.0.0.0/0', '::/0']), kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: { subject: { namespaces: {} }, egress: [{ action: 'Deny', to: [{ networks: ['0.0.0.0/0', '::/0'] }] }] } };
    expect(validateBaselineAdminNetworkPolicy(b).errors.errors).toEqual([]);
  });

  it('refuses what isCIDR refuses', () => {
    for (const c of ['::/129', '1::2::3/64', 'gggg::/8', 'fd00::/08', '1:2:3:4:5:6:7:8:9/64', '1:2:3:4:5:6:7/64', '::1', '::ffff:10.0.0.256/128'])
      expect(errors(anp([c])), c).toEqual([`spec.egress[0].to[0].networks[0]: Invalid value: "string": Invalid CIDR format provided`]);
  });

  it('keeps only the IPv4 CIDRs; a peer of IPv6 CIDRs alone matches nothing', () => {
    expect(validateAdminNetworkPolicy(anp(['::/0', '10.0.0.0/8'])).value!.egress[0].peers[0].networks!.map((n) => n.cidr)).toEqual(['10.0.0.0/8']);
    const only6 = validateAdminNetworkPolicy(anp(['::/0'])).value!;
    expect(only6.egress[0].peers[0].networks).toEqual([]);
    const view = {
      namespaces: [{ name: 'a', labels: {} }],
      pods: [{ namespace: 'a', name: 'p', labels: {}, ip: '10.244.0.2', node: 'n' }, { namespace: 'a', name: 'q', labels: {}, ip: '10.244.0.3', node: 'n' }],
    };
    const ev = new PolicyEvaluator(view, { adminNetworkPolicies: [only6] });
    expect(ev.verdict({ kind: 'pod', namespace: 'a', name: 'p' }, { kind: 'pod', namespace: 'a', name: 'q' }, 80, 'TCP').allowed).toBe(true);
    expect(ev.verdict({ kind: 'pod', namespace: 'a', name: 'p' }, { kind: 'ip', ip: '8.8.8.8' }, 80, 'TCP').allowed).toBe(true);
  });
});
