/**
 * The upstream e2e netpol cases (kubernetes test/e2e/network/netpol/network_policy.go),
 * transcribed: each case's pods, its policies (GenNetworkPolicy… + SetSpecIngressRules/
 * SetSpecEgressRules, which add the policyType of each rule list they set) and its
 * Reachability expectations, checked by the evaluator cell by cell and by the class-based
 * reachability table. Upstream ignores loopback cells (ignoreLoopback = true); so do these
 * tables (a pod reaching itself is always allowed here, tested apart).
 * Each case runs with upstream's pod subset and again on the full 3×3 model.
 */
import { describe, expect, it } from 'vitest';
import { PolicyEvaluator, parseEndpoint } from '../../src/kube/policy-eval.js';
import { reachability } from '../../src/kube/policy-reach.js';
import type { NetworkPolicy } from '../../src/kube/networkpolicy.js';
import type { Protocol } from '../../src/kube/pod.js';
import { ALL_PODS, Expectation, modelView, np, podIP } from './policy-e2e-model.js';

type O = Record<string, unknown>;
const NS_KEY = 'kubernetes.io/metadata.name';
/** GenNetworkPolicyWithNameAndPodSelector(name, selector, SetSpecIngressRules(...)?, SetSpecEgressRules(...)?) */
function gen(ns: string, name: string, podSelector: O, rules: { ingress?: O[]; egress?: O[] }, policyTypes?: string[]): NetworkPolicy {
  const spec: O = { podSelector, policyTypes: policyTypes ?? [...(rules.ingress ? ['Ingress'] : []), ...(rules.egress ? ['Egress'] : [])] };
  if (rules.ingress) spec.ingress = rules.ingress;
  if (rules.egress) spec.egress = rules.egress;
  return np(ns, name, spec);
}
const ml = (m: O) => ({ matchLabels: m });
const podA = ml({ pod: 'a' });
const all = ml({});
const R = (pods: readonly string[]) => new Expectation(pods, true);

interface Case {
  name: string;
  pods: string[];
  policies: NetworkPolicy[];
  /** Label changes made by the test before probing (AddNamespaceLabel / AddPodLabels). */
  nsLabels?: Record<string, O>;
  podLabels?: Record<string, O>;
  probes: [number, Protocol, (r: Expectation) => Expectation][];
  /**
   * Why upstream's expectations for its pod subset do not carry over to the full
   * model (they name only the subset's pods), when they do not.
   */
  subsetOnly?: string;
}

const cases: Case[] = [
  {
    name: "should support a 'default-deny-ingress' policy",
    pods: ['x/a', 'x/b', 'y/a', 'y/b'],
    policies: [gen('x', 'deny-ingress', {}, { ingress: [] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({}, { namespace: 'x' }, false)]],
  },
  {
    name: "should support a 'default-deny-all' policy",
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'deny-all', {}, { ingress: [], egress: [] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({}, { namespace: 'x' }, false).expectPeer({ namespace: 'x' }, {}, false)]],
  },
  {
    name: 'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    policies: [gen('x', 'x-a-allows-x-b', podA, { ingress: [{ from: [{ podSelector: ml({ pod: 'b' }) }] }] })],
    probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true)]],
  },
  {
    name: 'should enforce policy to allow ingress traffic for a target',
    pods: ['x/a', 'x/b', 'y/a'],
    subsetOnly: 'ExpectAllIngress(x/b, false) stands for every pod deny-all isolates; x/c is isolated alike in the full model',
    policies: [
      gen('x', 'deny-all', {}, { ingress: [] }),
      gen('x', 'allow-all-to-a', podA, { ingress: [{ from: [{ podSelector: {}, namespaceSelector: {} }] }] }),
    ],
    probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', true).expectAllIngress('x/b', false)]],
  },
  {
    name: 'should enforce policy to allow ingress traffic from pods in all namespaces',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [gen('x', 'allow-from-another-ns', podA, { ingress: [{ from: [{ namespaceSelector: all }] }] })],
    probes: [[80, 'TCP', (r) => r]],
  },
  {
    name: 'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [gen('x', 'allow-client-a-via-ns-selector', podA, { ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }) }] }] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false)]],
  },
  {
    name: 'should enforce policy based on PodSelector with MatchExpressions',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'x-a-allows-x-b', podA, { ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] }] })],
    probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true)]],
  },
  {
    name: 'should enforce policy based on NamespaceSelector with MatchExpressions',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [gen('x', 'allow-ns-y-match-selector', podA, { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS_KEY, operator: 'In', values: ['y'] }] } }] }] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false)]],
  },
  {
    name: 'should enforce policy based on PodSelector or NamespaceSelector',
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    policies: [
      gen('x', 'allow-ns-y-match-selector', podA, {
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS_KEY, operator: 'NotIn', values: ['x'] }] } }, { podSelector: ml({ pod: 'b' }) }] }],
      }),
    ],
    probes: [[80, 'TCP', (r) => r.expect('x/a', 'x/a', false).expect('x/c', 'x/a', false)]],
  },
  {
    name: 'should enforce policy based on PodSelector and NamespaceSelector',
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/b'],
    policies: [
      gen('x', 'allow-ns-y-podselector-and-nsselector', podA, {
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS_KEY, operator: 'NotIn', values: ['x'] }] }, podSelector: ml({ pod: 'b' }) }] }],
      }),
    ],
    probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false).expect('y/b', 'x/a', true).expect('z/b', 'x/a', true)]],
  },
  {
    name: 'should enforce policy based on Multiple PodSelectors and NamespaceSelectors',
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'y/c'],
    subsetOnly: 'Expect(y/a, x/a, false) stands for every pod=a outside x; z/a is refused alike in the full model',
    policies: [
      gen('x', 'allow-ns-y-z-pod-b-c', podA, {
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: NS_KEY, operator: 'NotIn', values: ['x'] }] },
                podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] },
              },
            ],
          },
        ],
      }),
    ],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expect('y/a', 'x/a', false)]],
  },
  {
    name: 'should enforce policy based on any PodSelectors',
    pods: ['x/a', 'x/b', 'x/c'],
    policies: [gen('x', 'allow-ns-x-pod-b-c', podA, { ingress: [{ from: [{ podSelector: ml({ pod: 'b' }) }, { podSelector: ml({ pod: 'c' }) }] }] })],
    probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true).expect('x/c', 'x/a', true)]],
  },
  {
    name: 'should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector',
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'],
    policies: [gen('x', 'allow-ns-y-pod-a-via-namespace-pod-selector', podA, { ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }), podSelector: podA }] }] })],
    probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false).expect('y/a', 'x/a', true)]],
  },
  ...portsCases(),
  {
    name: 'should support allow-all policy',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'allow-all', all, { ingress: [{}] })],
    probes: [
      [80, 'TCP', (r) => r],
      [81, 'TCP', (r) => r],
    ],
  },
  {
    name: 'should allow ingress access on one named port',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'allow-all', all, { ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
    probes: [
      [81, 'TCP', (r) => r],
      [80, 'TCP', (r) => r.expectPeer({}, { namespace: 'x' }, false)],
    ],
  },
  {
    name: 'should allow ingress access from namespace on one named port',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [
      gen('x', 'allow-client-a-via-ns-selector-80', podA, {
        ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }) }], ports: [{ port: 'serve-80-tcp', protocol: 'TCP' }] }],
      }),
    ],
    probes: [
      [80, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false)],
      [81, 'TCP', (r) => r.expectAllIngress('x/a', false)],
    ],
  },
  {
    name: 'should allow egress access on one named port',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-egress', all, { egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })],
    probes: [
      [80, 'TCP', (r) => r],
      [81, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, {}, false)],
    ],
  },
  {
    name: 'should enforce updated policy (1: allow all)',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-all-mutate-to-deny-all', all, { ingress: [{}] })],
    probes: [[81, 'TCP', (r) => r]],
  },
  {
    name: 'should enforce updated policy (2: updated to deny all)',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-all-mutate-to-deny-all', all, { ingress: [] })],
    probes: [[81, 'TCP', (r) => r.expectPeer({}, { namespace: 'x' }, false)]],
  },
  ...updatedLabelCases(),
  {
    name: 'should deny ingress from pods on other namespaces',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [gen('x', 'deny-empty-policy', {}, { ingress: [{ from: [{ podSelector: all }] }] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'y' }, { namespace: 'x' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x' }, false)]],
  },
  {
    name: 'should deny egress from pods based on PodSelector',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'deny-egress-pod-a', podA, { egress: [] })],
    probes: [[80, 'TCP', (r) => r.expectAllEgress('x/a', false)]],
  },
  {
    name: 'should deny egress from all pods in a namespace',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'deny-egress-ns-x', {}, { egress: [] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, {}, false)]],
  },
  {
    name: 'should work with Ingress, Egress specified together',
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    policies: [
      gen('x', 'allow-client-a-via-pod-selector', podA, { ingress: [{ from: [{ podSelector: ml({ pod: 'b' }) }] }], egress: [{ ports: [{ port: 80 }] }] }, ['Egress', 'Ingress']),
    ],
    probes: [
      [80, 'TCP', (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true)],
      [81, 'TCP', (r) => r.expectAllIngress('x/a', false).expectAllEgress('x/a', false).expect('x/b', 'x/a', true)],
    ],
  },
  {
    name: 'should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)',
    pods: ['x/a', 'y/a', 'y/b'],
    policies: [
      gen('x', 'allow-to-ns-y-pod-a', podA, { egress: [{ to: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }), podSelector: podA }] }] }),
      gen('y', 'allow-from-xa-on-ya-match-selector', podA, { ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'x' }), podSelector: podA }] }] }),
      gen('y', 'allow-from-xa-on-yb-match-selector', ml({ pod: 'b' }), { ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'x' }), podSelector: podA }] }] }),
    ],
    probes: [
      [
        80,
        'TCP',
        (r) =>
          r
            .expectPeer({ namespace: 'x', pod: 'a' }, {}, false)
            .expectPeer({}, { namespace: 'y', pod: 'a' }, false)
            .expectPeer({ namespace: 'x', pod: 'a' }, { namespace: 'y', pod: 'a' }, true)
            .expectPeer({}, { namespace: 'y', pod: 'b' }, false),
      ],
    ],
  },
  {
    name: 'should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector',
    pods: ['x/a', 'y/a', 'y/b'],
    policies: [gen('x', 'allow-to-ns-y-pod-a', podA, { egress: [{ to: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }), podSelector: podA }] }] })],
    probes: [[80, 'TCP', (r) => r.expectAllEgress('x/a', false).expect('x/a', 'y/a', true)]],
  },
  {
    name: 'should enforce ingress policy allowing any port traffic to a server on a specific protocol',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-ingress-by-proto', podA, { ingress: [{ ports: [{ protocol: 'TCP' }] }] })],
    probes: [
      [80, 'TCP', (r) => r],
      [80, 'UDP', (r) => r.expectPeer({}, { namespace: 'x', pod: 'a' }, false)],
    ],
  },
  {
    name: 'should enforce multiple ingress policies with ingress allow-all policy taking precedence (1: port 80 only)',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-ingress-port-80', all, { ingress: [{ ports: [{ port: 80 }] }] })],
    probes: [[81, 'TCP', (r) => r.expectPeer({}, { namespace: 'x' }, false)]],
  },
  {
    name: 'should enforce multiple ingress policies with ingress allow-all policy taking precedence (2: plus allow all)',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-ingress-port-80', all, { ingress: [{ ports: [{ port: 80 }] }] }), gen('x', 'allow-ingress', all, { ingress: [{}] })],
    probes: [[81, 'TCP', (r) => r]],
  },
  {
    name: 'should enforce multiple egress policies with egress allow-all policy taking precedence (1: port 80 only)',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-egress-port-80', all, { egress: [{ ports: [{ port: 80 }] }] })],
    probes: [[81, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, {}, false)]],
  },
  {
    name: 'should enforce multiple egress policies with egress allow-all policy taking precedence (2: plus allow all)',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-egress-port-80', all, { egress: [{ ports: [{ port: 80 }] }] }), gen('x', 'allow-egress', all, { egress: [{}] })],
    probes: [[81, 'TCP', (r) => r]],
  },
  {
    name: 'should stop enforcing policies after they are deleted (1: deny all)',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'deny-all', {}, { ingress: [], egress: [] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, {}, false).expectPeer({}, { namespace: 'x' }, false)]],
  },
  { name: 'should stop enforcing policies after they are deleted (2: deleted)', pods: ['x/a', 'y/a'], policies: [], probes: [[80, 'TCP', (r) => r]] },
  {
    name: 'should allow egress access to server in CIDR block',
    pods: ['x/a', 'y/a', 'y/b'],
    policies: [gen('x', 'allow-client-a-via-cidr-egress-rule', podA, { egress: [{ to: [{ ipBlock: { cidr: `${podIP('y/b')}/32` } }] }] })],
    probes: [[80, 'TCP', (r) => r.expectAllEgress('x/a', false).expect('x/a', 'y/b', true)]],
  },
  {
    name: 'should enforce except clause while egress access to server in CIDR block',
    pods: ['x/a', 'x/b', 'x/c'],
    policies: [
      gen('x', 'allow-client-a-via-cidr-egress-rule', podA, { egress: [{ to: [{ ipBlock: { cidr: largeCIDR(podIP('x/b')), except: [`${podIP('x/b')}/32`] } }] }] }),
    ],
    probes: [[80, 'TCP', (r) => r.expect('x/a', 'x/b', false)]],
  },
  {
    name: 'should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (2: after the update)',
    pods: ['x/a', 'x/b', 'x/c'],
    policies: [gen('x', 'allow-client-a-via-cidr-egress-rule', podA, { egress: [{ to: [{ ipBlock: { cidr: `${podIP('x/b')}/32` } }] }] })],
    probes: [[80, 'TCP', (r) => r.expectAllEgress('x/a', false).expect('x/a', 'x/b', true)]],
  },
  {
    name: 'should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector (1: egress allowed)',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'allow-egress-for-target', podA, { egress: [{}] })],
    probes: [[80, 'TCP', (r) => r]],
  },
  {
    name: 'should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector (2: plus deny ingress)',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [gen('x', 'allow-egress-for-target', podA, { egress: [{}] }), gen('x', 'deny-ingress-via-label-selector', podA, { ingress: [] })],
    probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false)]],
  },
  {
    name: "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'deny-ingress', {}, { ingress: [] }), gen('x', 'allow-only-sctp-ingress-on-port-81', podA, { ingress: [{ ports: [{ port: 81, protocol: 'SCTP' }] }] })],
    probes: [[81, 'TCP', (r) => r.expectPeer({}, { namespace: 'x' }, false)]],
  },
  {
    name: "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP",
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-only-sctp-ingress-on-port-80', podA, { ingress: [{ ports: [{ port: 80, protocol: 'SCTP' }] }] })],
    probes: [[81, 'TCP', (r) => r.expectAllIngress('x/a', false)]],
  },
  {
    name: 'should not allow access by TCP when a policy specifies only UDP',
    pods: ['x/a', 'y/a'],
    policies: [gen('x', 'allow-only-udp-ingress-on-port-81', podA, { ingress: [{ ports: [{ port: 81, protocol: 'UDP' }] }] })],
    probes: [[81, 'TCP', (r) => r.expectAllIngress('x/a', false)]],
  },
  {
    name: 'should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [gen('x', 'allow-client-a-via-ns-selector-for-immutable-ns-label', podA, { ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }) }] }] })],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false)]],
  },
  {
    name: 'should enforce policy based on NamespaceSelector with MatchExpressions using default ns label',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [
      gen('x', 'allow-ns-y-match-selector-for-immutable-ns-label', podA, {
        egress: [{ to: [{ namespaceSelector: { matchExpressions: [{ key: NS_KEY, operator: 'NotIn', values: ['y'] }] } }] }],
      }),
    ],
    probes: [[80, 'TCP', (r) => r.expectPeer({ namespace: 'x', pod: 'a' }, { namespace: 'y' }, false)]],
  },
  ...(['UDP', 'SCTP'] as const).flatMap((proto): Case[] => [
    {
      name: `${proto}: should support a 'default-deny-ingress' policy`,
      pods: ['x/a', 'x/b', 'y/a', 'y/b'],
      policies: [gen('x', 'deny-all', {}, { ingress: [] })],
      probes: [[80, proto, (r) => r.expectPeer({}, { namespace: 'x' }, false)]],
    },
    {
      name: `${proto}: should enforce policy based on Ports`,
      pods: ['x/a', 'x/b', 'y/a', 'z/a'],
      policies: [gen('x', 'allow-ingress-on-port-81-ns-x', podA, { ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }) }], ports: [{ port: 81, protocol: proto }] }] })],
      probes: [[81, proto, (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false)]],
    },
    {
      name: `${proto}: should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector`,
      pods: ['x/a', 'x/b', 'y/a'],
      policies: [gen('x', 'allow-ns-y-pod-a-via-namespace-pod-selector', podA, { ingress: [{ from: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }), podSelector: podA }] }] })],
      probes: [[80, proto, (r) => r.expectAllIngress('x/a', false).expect('y/a', 'x/a', true)]],
    },
  ]),
];

function portsCases(): Case[] {
  const pods = ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'];
  const rule = (port: number) => ({ from: [{ namespaceSelector: ml({ [NS_KEY]: 'y' }) }], ports: [{ port, protocol: 'TCP' }] });
  const allow81 = gen('x', 'allow-client-a-via-ns-selector', podA, { ingress: [rule(81)] });
  const allow80 = gen('x', 'allow-client-a-via-ns-selector-80', podA, { ingress: [rule(80)] });
  const ALLOW = (r: Expectation) =>
    r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'y' }, { namespace: 'x', pod: 'a' }, true).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false);
  return [
    { name: 'should enforce policy based on Ports', pods, policies: [allow81], probes: [[81, 'TCP', ALLOW]] },
    {
      name: 'should enforce multiple, stacked policies with overlapping podSelectors (1: port 81)',
      pods,
      policies: [allow81],
      probes: [
        [81, 'TCP', ALLOW],
        [80, 'TCP', (r) => r.expectAllIngress('x/a', false)],
      ],
    },
    { name: 'should enforce multiple, stacked policies with overlapping podSelectors (2: plus port 80)', pods, policies: [allow81, allow80], probes: [[80, 'TCP', ALLOW]] },
  ];
}

function updatedLabelCases(): Case[] {
  const nsPolicy = gen('x', 'allow-client-a-via-ns-selector', podA, { ingress: [{ from: [{ namespaceSelector: ml({ ns2: 'updated' }) }] }] });
  const podPolicy = gen('x', 'allow-client-a-via-pod-selector', podA, { ingress: [{ from: [{ podSelector: ml({ pod: 'b', pod2: 'updated' }) }] }] });
  const isolate = gen('x', 'deny-ingress-via-label-selector', ml({ target: 'isolated' }), { ingress: [] });
  return [
    { name: 'should allow ingress access from updated namespace (before)', pods: ['x/a', 'y/a'], policies: [nsPolicy], probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false)]] },
    {
      name: 'should allow ingress access from updated namespace (after)',
      pods: ['x/a', 'y/a'],
      policies: [nsPolicy],
      nsLabels: { y: { ns2: 'updated' } },
      probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false).expectPeer({ namespace: 'y' }, {}, true)]],
    },
    { name: 'should allow ingress access from updated pod (before)', pods: ['x/a', 'x/b'], policies: [podPolicy], probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false)]] },
    {
      name: 'should allow ingress access from updated pod (after)',
      pods: ['x/a', 'x/b'],
      policies: [podPolicy],
      podLabels: { 'x/b': { pod: 'b', pod2: 'updated' } },
      probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true)]],
    },
    { name: 'should deny ingress access to updated pod (before)', pods: ['x/a', 'y/a'], policies: [isolate], probes: [[80, 'TCP', (r) => r]] },
    {
      name: 'should deny ingress access to updated pod (after)',
      pods: ['x/a', 'y/a'],
      policies: [isolate],
      podLabels: { 'x/a': { target: 'isolated' } },
      probes: [[80, 'TCP', (r) => r.expectAllIngress('x/a', false)]],
    },
  ];
}

/** makeLargeCIDRForIP: the /4 that contains the IP. */
function largeCIDR(ip: string): string {
  const first = Number(ip.split('.')[0]) & 0xf0;
  return `${first}.0.0.0/4`;
}

function viewFor(c: Case, pods: readonly string[]) {
  const v = modelView(pods);
  return {
    ...v,
    namespaces: v.namespaces.map((n) => ({ ...n, labels: { ...n.labels, ...(c.nsLabels?.[n.name] ?? {}) } as Record<string, string> })),
    pods: v.pods.map((p) => ({ ...p, labels: { ...p.labels, ...(c.podLabels?.[`${p.namespace}/${p.name}`] ?? {}) } as Record<string, string> })),
  };
}

function check(c: Case, pods: readonly string[]): void {
  const view = viewFor(c, pods);
  const ev = new PolicyEvaluator(view, { networkPolicies: c.policies });
  const table = reachability(view, { networkPolicies: c.policies }, c.probes.map(([port, protocol]) => ({ port, protocol })));
  c.probes.forEach(([port, protocol, build], k) => {
    const want = build(R(pods));
    const wrong: string[] = [];
    pods.forEach((f, i) =>
      pods.forEach((t, j) => {
        if (f === t) return; // ignoreLoopback
        const exp = want.cells.get(`${f}>${t}`);
        const got = ev.verdict(parseEndpoint(f), parseEndpoint(t), port, protocol).allowed;
        const gotTable = table.allowed(i, j, k);
        if (got !== exp || gotTable !== exp) wrong.push(`${f} -> ${t} ${port}/${protocol}: expected ${exp}, evaluator ${got}, table ${gotTable}`);
      }),
    );
    expect(wrong).toEqual([]);
  });
}

describe('upstream e2e netpol cases', () => {
  for (const c of cases) {
    it(c.name, () => check(c, c.pods));
    if (!c.subsetOnly) it(`${c.name} [full x,y,z × a,b,c model]`, () => check(c, ALL_PODS));
  }
  it('covers the cases transcribed', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
  });
});

