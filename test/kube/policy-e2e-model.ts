/**
 * The upstream e2e netpol model (kubernetes test/e2e/network/netpol): namespaces
 * x, y, z (labelled ns=<name> and kubernetes.io/metadata.name=<name>), pods a, b, c
 * (label pod=<name>) with one container per (port, protocol) of 80/81 × TCP/UDP/SCTP
 * whose port is named serve-<port>-<protocol lowercased>, and upstream's
 * Reachability expectations (ExpectPeer, ExpectAllIngress, ExpectAllEgress, Expect).
 */
import { validateNetworkPolicy, type NetworkPolicy } from '../../src/kube/networkpolicy.js';
import { fieldErrorMessage } from '../../src/kube/errors.js';
import type { ClusterPod, ClusterView } from '../../src/kube/policy-eval.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const ALL_PODS = NAMESPACES.flatMap((n) => POD_NAMES.map((p) => `${n}/${p}`));

/** IP of a model pod: 10.0.<ns index + 1>.<pod index + 1>; pods alternate between two nodes. */
export function podIP(ref: string): string {
  const [ns, p] = ref.split('/');
  return `10.0.${NAMESPACES.indexOf(ns as 'x') + 1}.${POD_NAMES.indexOf(p as 'a') + 1}`;
}

export function modelView(pods: readonly string[] = ALL_PODS): ClusterView {
  return {
    namespaces: NAMESPACES.map((n) => ({ name: n, labels: { ns: n, 'kubernetes.io/metadata.name': n } })),
    nodes: [
      { name: 'node-1', ips: ['192.168.0.11'] },
      { name: 'node-2', ips: ['192.168.0.12'] },
    ],
    pods: pods.map((ref, i): ClusterPod => {
      const [namespace, name] = ref.split('/');
      return {
        namespace,
        name,
        labels: { pod: name },
        ip: podIP(ref),
        node: i % 2 ? 'node-2' : 'node-1',
        ports: [80, 81].flatMap((port) =>
          (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol })),
        ),
      };
    }),
  };
}

/** A validated policy from a manifest body (namespace, name, spec). */
export function np(namespace: string, name: string, spec: Record<string, unknown>): NetworkPolicy {
  const r = validateNetworkPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec });
  if (!r.value) throw new Error(`bad test policy ${namespace}/${name}: ${r.errors.errors.map(fieldErrorMessage).join('; ')}`);
  return r.value;
}

type PeerPat = { namespace?: string; pod?: string };

/** upstream's Reachability: a from×to table of expectations, defaulting to `def`. */
export class Expectation {
  readonly cells = new Map<string, boolean>();
  constructor(
    readonly pods: readonly string[],
    def: boolean,
  ) {
    for (const f of pods) for (const t of pods) this.cells.set(`${f}>${t}`, def);
  }
  private static matches(p: PeerPat, ref: string): boolean {
    const [ns, pod] = ref.split('/');
    return (p.namespace === undefined || p.namespace === ns) && (p.pod === undefined || p.pod === pod);
  }
  expectPeer(from: PeerPat, to: PeerPat, v: boolean): this {
    for (const f of this.pods) for (const t of this.pods) if (Expectation.matches(from, f) && Expectation.matches(to, t)) this.cells.set(`${f}>${t}`, v);
    return this;
  }
  expect(from: string, to: string, v: boolean): this {
    this.cells.set(`${from}>${to}`, v);
    return this;
  }
  expectAllIngress(to: string, v: boolean): this {
    for (const f of this.pods) this.cells.set(`${f}>${to}`, v);
    return this;
  }
  expectAllEgress(from: string, v: boolean): this {
    for (const t of this.pods) this.cells.set(`${from}>${t}`, v);
    return this;
  }
}

