import { describe, expect, it } from 'vitest';
import { fieldErrorMessage } from '../../src/kube/errors.js';
import { validateNetworkPolicy } from '../../src/kube/networkpolicy.js';

type O = Record<string, unknown>;
const obj = (spec: O, meta: O = { name: 'p', namespace: 'x' }): O => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta, spec });
const msgs = (spec: O, meta?: O) => validateNetworkPolicy(obj(spec, meta)).errors.errors.map(fieldErrorMessage);
const ok = (spec: O) => {
  const r = validateNetworkPolicy(obj(spec));
  expect(r.errors.errors.map(fieldErrorMessage)).toEqual([]);
  return r.value!;
};
const QN =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LV =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

describe('validateNetworkPolicy: defaulting (SetDefaults_NetworkPolicy, SetDefaults_NetworkPolicyPort)', () => {
  it('policyTypes default to Ingress, plus Egress when egress rules are present', () => {
    expect(ok({ podSelector: {} }).policyTypes).toEqual(['Ingress']);
    expect(ok({ podSelector: {}, egress: [{}] }).policyTypes).toEqual(['Ingress', 'Egress']);
    // An empty egress list is "no egress rules": still Ingress only.
    expect(ok({ podSelector: {}, egress: [] }).policyTypes).toEqual(['Ingress']);
    expect(ok({ podSelector: {}, policyTypes: [] }).policyTypes).toEqual(['Ingress']);
    expect(ok({ podSelector: {}, policyTypes: ['Egress'] }).policyTypes).toEqual(['Egress']);
  });
  it('port protocol defaults to TCP; absent podSelector, from, to and ports normalise to empty', () => {
    const v = ok({ ingress: [{ ports: [{ port: 80 }, { port: 'http', protocol: 'UDP' }, { port: 1000, endPort: 2000 }] }], egress: [{ to: [] }] });
    expect(v.podSelector).toEqual({});
    expect(v.ingress).toEqual([{ peers: [], ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 'http' }, { protocol: 'TCP', port: 1000, endPort: 2000 }] }]);
    expect(v.egress).toEqual([{ peers: [], ports: [] }]);
    expect(v.namespace).toBe('x');
  });
  it('keeps peers as given, ipBlocks parsed (host bits allowed, as the legacy CIDR fields are)', () => {
    const v = ok({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8', except: ['10.1.0.0/16'] } }, { podSelector: { matchLabels: { a: 'b' } }, namespaceSelector: {} }] }] });
    expect(v.ingress[0].peers[0].ipBlock).toMatchObject({ cidr: '10.0.0.1/8', net: { base: 10 << 24, prefix: 8 } });
    expect(v.ingress[0].peers[1]).toEqual({ podSelector: { matchLabels: { a: 'b' } }, namespaceSelector: {} });
  });
  it('accepts duplicate policyTypes as the apiserver does', () => {
    expect(ok({ policyTypes: ['Ingress', 'Ingress'] }).policyTypes).toEqual(['Ingress', 'Ingress']);
  });
});

/** Bad policies and the apiserver's messages (pkg/apis/networking/validation, apimachinery ValidateLabelSelector). */
const BAD: [string, O, string[], O?][] = [
  ['In without values', { podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, ["spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]],
  ['Exists with values', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } }, ["spec.podSelector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]],
  ['unknown operator', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] } }, ['spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator']],
  [
    'bad key and value in an expression',
    { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'a b', operator: 'NotIn', values: ['x y'] }] } }] }] },
    [`spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].key: Invalid value: "a b": ${QN}`, `spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values[0]: Invalid value: "x y": ${LV}`],
  ],
  ['missing key', { podSelector: { matchExpressions: [{ operator: 'Exists' }] } }, ['spec.podSelector.matchExpressions[0].key: Invalid value: "": name part must be non-empty']],
  ['bad matchLabels value', { podSelector: { matchLabels: { app: 'a b' } } }, [`spec.podSelector.matchLabels.app: Invalid value: "a b": ${LV}`]],
  ['empty peer', { ingress: [{ from: [{}] }] }, ['spec.ingress[0].from[0]: Required value: must specify a peer']],
  ['ipBlock with a selector', { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, namespaceSelector: {} }] }] }, ['spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer']],
  ['bad cidr', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] }, ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']],
  ['missing cidr', { ingress: [{ from: [{ ipBlock: { except: ['10.0.0.0/8'] } }] }] }, ['spec.ingress[0].from[0].ipBlock.cidr: Required value']],
  [
    'except not a strict subset',
    { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16', '10.0.0.0/8', '10.1.0.0/16', '10.0.0.0/4', 'nope'] } }] }] },
    [
      'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`',
      'spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
      'spec.ingress[0].from[0].ipBlock.except[3]: Invalid value: "10.0.0.0/4": must be a strict subset of `cidr`',
      'spec.ingress[0].from[0].ipBlock.except[4]: Invalid value: "nope": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
    ],
  ],
  ['IPv6 (podwire)', { ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/8' } }] }] }, ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "fd00::/8": IPv6 is not supported by podwire (IPv4 single-stack only)']],
  [
    'port numbers and names',
    { ingress: [{ ports: [{ port: 0 }, { port: 70000 }, { port: 'http_x' }, { port: '80' }, { protocol: 'ICMP' }, { port: 'a-very-long-port-name' }] }] },
    [
      'spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
      'spec.ingress[0].ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
      'spec.ingress[0].ports[2].port: Invalid value: "http_x": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      'spec.ingress[0].ports[3].port: Invalid value: "80": must contain at least one letter (a-z)',
      'spec.ingress[0].ports[4].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
      'spec.ingress[0].ports[5].port: Invalid value: "a-very-long-port-name": must be no more than 15 characters',
    ],
  ],
  [
    'endPort rules',
    { egress: [{ ports: [{ port: 80, endPort: 79 }, { port: 'http', endPort: 90 }, { endPort: 90 }, { port: 80, endPort: 70000 }] }] },
    [
      'spec.egress[0].ports[0].endPort: Invalid value: 79: must be greater than or equal to `port`',
      'spec.egress[0].ports[1].endPort: Invalid value: 90: may not be specified when `port` is non-numeric',
      'spec.egress[0].ports[2].endPort: Invalid value: 90: may not be specified when `port` is not specified',
      'spec.egress[0].ports[3].endPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    ],
  ],
  ['more than two policyTypes', { policyTypes: ['Ingress', 'Egress', 'Ingress'] }, ['spec.policyTypes: Invalid value: a list: may not specify more than two policyTypes']],
  ['policyType spelling', { policyTypes: ['ingress'] }, ['spec.policyTypes[0]: Unsupported value: "ingress": supported values: "Ingress", "Egress"']],
  ['unknown field', { podSelector: {}, ingres: [] }, ['unknown field "spec.ingres"; did you mean "ingress"?']],
  ['unknown peer field', { ingress: [{ from: [{ podselector: {} }] }] }, ['unknown field "spec.ingress[0].from[0].podselector"; did you mean "podSelector"?', 'spec.ingress[0].from[0]: Required value: must specify a peer']],
  ['wrong type', { ingress: { from: [] } }, ['spec.ingress: Invalid value: a mapping: must be a list, not a mapping']],
  [
    'bad name',
    {},
    [
      "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ],
    { name: 'Bad_Name', namespace: 'x' },
  ],
];

describe('validateNetworkPolicy: errors', () => {
  for (const [name, spec, want, meta] of BAD) it(name, () => expect(msgs(spec, meta)).toEqual(want));
  it('refuses the wrong kind and group', () => {
    const r = validateNetworkPolicy({ apiVersion: 'extensions/v1beta1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: {} });
    expect(r.errors.errors.map(fieldErrorMessage)).toEqual(['apiVersion: Invalid value: "extensions/v1beta1": no matches for kind "NetworkPolicy" in version "extensions/v1beta1"']);
  });
});
