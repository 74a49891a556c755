import { describe, expect, it } from 'vitest';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy, type AdminNetworkPolicy, type BaselineAdminNetworkPolicy } from '../../src/kube/admin-network-policy.js';
import { fieldErrorMessage } from '../../src/kube/errors.js';
import { PolicyEvaluator, parseEndpoint } from '../../src/kube/policy-eval.js';
import { denialReason, explainVerdict, tierWalk } from '../../src/kube/policy-explain.js';
import { modelView, np } from './policy-e2e-model.js';

type O = Record<string, unknown>;
const anpObj = (spec: O, name = 'a'): O => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name }, spec });
const anpMsgs = (spec: O) => validateAdminNetworkPolicy(anpObj(spec)).errors.errors.map(fieldErrorMessage);
const banpMsgs = (spec: O, name = 'default') =>
  validateBaselineAdminNetworkPolicy({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name }, spec }).errors.errors.map(fieldErrorMessage);
function anp(name: string, spec: O): AdminNetworkPolicy {
  const r = validateAdminNetworkPolicy(anpObj(spec, name));
  if (!r.value) throw new Error(r.errors.errors.map(fieldErrorMessage).join('; '));
  return r.value;
}
function banp(spec: O): BaselineAdminNetworkPolicy {
  const r = validateBaselineAdminNetworkPolicy({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec });
  if (!r.value) throw new Error(r.errors.errors.map(fieldErrorMessage).join('; '));
  return r.value;
}
const ns = (n: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } });

describe('AdminNetworkPolicy / BaselineAdminNetworkPolicy validation (CRD schema and CEL, apiextensions wording)', () => {
  const S = { namespaces: {} };
  const cases: [string, O, string[]][] = [
    ['priority above 1000', { priority: 1001, subject: S }, ['spec.priority: Invalid value: 1001: spec.priority in body should be less than or equal to 1000']],
    ['priority below 0', { priority: -1, subject: S }, ['spec.priority: Invalid value: -1: spec.priority in body should be greater than or equal to 0']],
    ['priority required', { subject: S }, ['spec.priority: Required value']],
    ['subject required', { priority: 1 }, ['spec.subject: Required value']],
    ['subject with nothing', { priority: 1, subject: {} }, ['spec.subject: Invalid value: 0: spec.subject in body should have at least 1 properties']],
    ['subject with both', { priority: 1, subject: { namespaces: {}, pods: { namespaceSelector: {}, podSelector: {} } } }, ['spec.subject: Invalid value: 2: must have at most 1 items']],
    [
      'action enum and empty from',
      { priority: 1, subject: S, ingress: [{ action: 'Drop', from: [] }] },
      ['spec.ingress[0].action: Unsupported value: "Drop": supported values: "Allow", "Deny", "Pass"', 'spec.ingress[0].from: Invalid value: 0: spec.ingress[0].from in body should have at least 1 items'],
    ],
    [
      'bad network and named port beside networks',
      { priority: 1, subject: S, egress: [{ action: 'Allow', to: [{ networks: ['10.0.0.0/33', '10.1.0.0/16'] }], ports: [{ namedPort: 'http' }] }] },
      [
        'spec.egress[0].to[0].networks[0]: Invalid value: "string": Invalid CIDR format provided',
        'spec.egress[0]: Invalid value: "object": networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames',
      ],
    ],
    ['leading zeros in a network (CEL isCIDR is strict)', { priority: 1, subject: S, egress: [{ action: 'Deny', to: [{ networks: ['010.0.0.0/8'] }] }] }, ['spec.egress[0].to[0].networks[0]: Invalid value: "string": Invalid CIDR format provided']],
    [
      'required pod selectors, port bounds, empty port',
      { priority: 1, subject: S, egress: [{ action: 'Allow', to: [{ pods: { podSelector: {} } }], ports: [{ portNumber: { port: 0 } }, {}] }] },
      [
        'spec.egress[0].to[0].pods.namespaceSelector: Required value',
        'spec.egress[0].ports[0].portNumber.port: Invalid value: 0: spec.egress[0].ports[0].portNumber.port in body should be greater than or equal to 1',
        'spec.egress[0].ports[1]: Invalid value: 0: spec.egress[0].ports[1] in body should have at least 1 properties',
      ],
    ],
    ['nodes peer in ingress', { priority: 1, subject: S, ingress: [{ action: 'Allow', from: [{ nodes: {} }] }] }, ['unknown field "spec.ingress[0].from[0].nodes"; did you mean "pods"?', 'spec.ingress[0].from[0]: Invalid value: 0: spec.ingress[0].from[0] in body should have at least 1 properties']],
    ['more than 100 rules', { priority: 1, subject: S, ingress: Array.from({ length: 101 }, () => ({ action: 'Allow', from: [{ namespaces: {} }] })) }, ['spec.ingress: Invalid value: 101: must have at most 100 items']],
    ['rule name too long', { priority: 1, subject: S, ingress: [{ name: 'x'.repeat(101), action: 'Allow', from: [{ namespaces: {} }] }] }, [`spec.ingress[0].name: Invalid value: "${'x'.repeat(101)}": may not be more than 100 bytes`]],
    ['domainNames (podwire)', { priority: 1, subject: S, egress: [{ action: 'Allow', to: [{ domainNames: ['example.com'] }] }] }, ['spec.egress[0].to[0].domainNames: Forbidden: domainNames peers are not supported by podwire (it has no FQDN-based policy data path)']],
  ];
  for (const [name, spec, want] of cases) it(name, () => expect(anpMsgs(spec)).toEqual(want));
  it('BANP: name must be default, actions Allow|Deny', () => {
    expect(banpMsgs({ subject: S }, 'other')).toEqual(['metadata.name: Invalid value: "other": Only one baseline admin network policy with metadata.name="default" can be created in the cluster']);
    expect(banpMsgs({ subject: S, ingress: [{ action: 'Pass', from: [{ namespaces: {} }] }] })).toEqual(['spec.ingress[0].action: Unsupported value: "Pass": supported values: "Allow", "Deny"']);
  });
  it('defaults port protocols to TCP and keeps rule order', () => {
    const v = anp('x', { priority: 5, subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } } }, ingress: [{ name: 'r', action: 'Pass', from: [{ namespaces: {} }], ports: [{ portNumber: { port: 80 } }, { portRange: { start: 1, end: 9, protocol: 'UDP' } }] }] });
    expect(v.ingress[0]).toEqual({ name: 'r', action: 'Pass', peers: [{ namespaces: {} }], ports: [{ kind: 'number', protocol: 'TCP', port: 80 }, { kind: 'range', protocol: 'UDP', start: 1, end: 9 }] });
  });
});

describe('tiers: ANP (by priority) → NetworkPolicy → BANP', () => {
  const view = modelView();
  const v = (set: ConstructorParameters<typeof PolicyEvaluator>[1], from: string, to: string, port = 80) => new PolicyEvaluator(view, set).verdict(parseEndpoint(from), parseEndpoint(to), port, 'TCP');
  const denyAllY = np('y', 'deny-all', {});
  it('ANP Allow overrides a NetworkPolicy deny; a lower-priority ANP never runs', () => {
    const set = {
      networkPolicies: [denyAllY],
      adminNetworkPolicies: [
        anp('allow-x', { priority: 10, subject: { namespaces: ns('y') }, ingress: [{ name: 'from-x', action: 'Allow', from: [{ namespaces: ns('x') }] }] }),
        anp('deny-x', { priority: 20, subject: { namespaces: ns('y') }, ingress: [{ action: 'Deny', from: [{ namespaces: ns('x') }] }] }),
      ],
    };
    const r = v(set, 'x/a', 'y/b');
    expect(r.allowed).toBe(true);
    expect(r.ingress.decidedBy).toBe('ANP');
    expect(tierWalk(r.ingress)).toBe('[ANP pri 10 allow-x] Allow (rule from-x) -> Allowed');
    expect(v(set, 'z/a', 'y/b').allowed).toBe(false); // no ANP rule: NetworkPolicy deny-all
  });
  it('Pass skips the remaining ANPs and lands in the NetworkPolicy tier', () => {
    const set = {
      networkPolicies: [denyAllY, np('y', 'allow-frontend', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }] })],
      adminNetworkPolicies: [
        anp('pass-x', { priority: 10, subject: { namespaces: ns('y') }, ingress: [{ action: 'Pass', from: [{ namespaces: ns('x') }] }] }),
        anp('allow-all', { priority: 30, subject: { namespaces: ns('y') }, ingress: [{ action: 'Allow', from: [{ namespaces: {} }] }] }),
      ],
    };
    const r = v(set, 'x/a', 'y/b', 81);
    expect(r.allowed).toBe(false);
    expect(tierWalk(r.ingress)).toBe('[ANP pri 10 pass-x] Pass (rule 0) -> [NetworkPolicy] no rule admits -> Dropped');
    expect(denialReason(r)).toBe('y/b is isolated for ingress by y/deny-all, y/allow-frontend; no rule of [y/deny-all, y/allow-frontend] admits x/a:81/TCP');
    expect(v(set, 'z/a', 'y/b').allowed).toBe(true); // not passed: the priority-30 ANP allows
    expect(v(set, 'y/c', 'y/b').allowed).toBe(true);
  });
  it('BANP decides only for pods no NetworkPolicy isolates', () => {
    const set = {
      networkPolicies: [np('y', 'allow-x', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: ns('x') }] }] })],
      baselineAdminNetworkPolicy: banp({ subject: { namespaces: {} }, ingress: [{ name: 'default-deny', action: 'Deny', from: [{ namespaces: {} }] }] }),
    };
    expect(v(set, 'x/a', 'y/a').allowed).toBe(true); // isolated by a NetworkPolicy that admits it: BANP not consulted
    const r = v(set, 'x/a', 'y/b');
    expect(r.allowed).toBe(false);
    expect(tierWalk(r.ingress)).toBe('[NetworkPolicy] not isolated -> [BANP] Deny (rule default-deny) -> Dropped');
    expect(denialReason(r)).toBe('y/b: BaselineAdminNetworkPolicy default ingress rule default-deny denies x/a:80/TCP');
  });
  it('egress: named ports resolve on the destination pod; ANP ranges', () => {
    const set = {
      adminNetworkPolicies: [
        anp('egress', {
          priority: 1,
          subject: { pods: { namespaceSelector: ns('x'), podSelector: { matchLabels: { pod: 'a' } } } },
          egress: [
            { action: 'Allow', to: [{ namespaces: ns('y') }], ports: [{ namedPort: 'serve-81-tcp' }] },
            { action: 'Deny', to: [{ namespaces: {} }], ports: [{ portRange: { start: 80, end: 81 } }] },
          ],
        }),
      ],
    };
    expect(v(set, 'x/a', 'y/b', 81).allowed).toBe(true);
    expect(v(set, 'x/a', 'y/b', 80).allowed).toBe(false);
    expect(v(set, 'x/a', 'z/b', 81).allowed).toBe(false);
    expect(v(set, 'x/b', 'z/b', 81).allowed).toBe(true);
  });
});

describe('rules outside the tiers, and explanations', () => {
  const view = {
    ...modelView(['x/a', 'x/b']),
    pods: [...modelView(['x/a', 'x/b']).pods, { namespace: 'kube-system', name: 'agent', labels: {}, ip: '192.168.0.11', node: 'node-1', hostNetwork: true }],
  };
  const ev = new PolicyEvaluator(view, { networkPolicies: [np('x', 'deny-all', { policyTypes: ['Ingress', 'Egress'] })] });
  it('a pod reaches itself, by name or by its own IP', () => {
    expect(ev.verdict(parseEndpoint('x/a'), parseEndpoint('x/a'), 80, 'TCP')).toMatchObject({ allowed: true, shortcut: 'self' });
    expect(ev.verdict(parseEndpoint('x/a'), parseEndpoint('10.0.1.1'), 80, 'TCP')).toMatchObject({ allowed: true, shortcut: 'self' });
  });
  it('its own node (and hostNetwork pods on it) reach it; other nodes do not', () => {
    expect(ev.verdict(parseEndpoint('node/node-1'), parseEndpoint('x/a'), 80, 'TCP')).toMatchObject({ allowed: true, shortcut: 'own-node' });
    expect(ev.verdict(parseEndpoint('kube-system/agent'), parseEndpoint('x/a'), 80, 'TCP')).toMatchObject({ allowed: true, shortcut: 'own-node' });
    const other = ev.verdict(parseEndpoint('node/node-2'), parseEndpoint('x/a'), 80, 'TCP');
    expect(other.allowed).toBe(false);
    expect(explainVerdict(other)).toBe(
      ['node/node-2 -> x/a 80/TCP: Dropped', '  egress of node/node-2: [not a pod-network pod: no policy applies] -> Allowed', '  ingress of x/a: [NetworkPolicy] no rule admits -> Dropped'].join('\n'),
    );
  });
  it('an external address is matched by nothing but ipBlocks', () => {
    const r = ev.verdict(parseEndpoint('x/b'), parseEndpoint('203.0.113.9'), 443, 'TCP');
    expect(r.allowed).toBe(false);
    expect(denialReason(r)).toBe('x/b is isolated for egress by x/deny-all; no rule of [x/deny-all] admits 203.0.113.9:443/TCP');
  });
});
