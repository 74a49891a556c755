/**
 * What the policy evaluator reads — a cluster view (namespaces, pods, nodes)
 * and a policy set — and its compiled form, shared by the single-flow
 * evaluator (policy-eval.ts) and the class-based reachability engine
 * (policy-reach.ts) so that both apply literally the same matching code.
 *
 * Semantic decisions (Kubernetes leaves some open; podwire follows kube-router):
 * - **ipBlock and pod IPs.** An ipBlock peer (and an ANP `networks` peer)
 *   matches by address: any source or destination whose IP lies in `cidr` and
 *   in no `except`, pods included. kube-router renders ipBlocks as ipsets of
 *   addresses matched against the packet, so a pod whose IP is in the block is
 *   admitted by it even if no selector names the pod.
 * - **hostNetwork pods** are never selected by policies (not subjects, not
 *   matched by podSelector/namespaceSelector/ANP namespaces|pods peers): their
 *   traffic is their node's traffic, matched only by address (ipBlock,
 *   networks) and, for ANP egress `nodes` peers, by their node's labels.
 * - **Named ports** resolve on the destination pod (a pod-network pod): a
 *   NetworkPolicy port `name` with protocol P matches port p when a container
 *   port of the destination is named `name`, has protocol P and number p; an
 *   ANP `namedPort` takes the container port's own protocol. Towards a node or
 *   an external address a named port matches nothing.
 */
import type { AdminNetworkPolicy, AnpAction, AnpPeer, AnpPort, AnpRule, AnpSubject, BanpAction, BaselineAdminNetworkPolicy } from './admin-network-policy.js';
import { parseIPv4 } from './ip.js';
import type { LabelSelector, Labels } from './labels.js';
import { ipBlockContains, policyRef, type NetworkPolicy, type NetworkPolicyPeer, type NetworkPolicyPort } from './networkpolicy.js';
import type { Protocol } from './pod.js';
import { compileSelector, type CompiledSelector } from './policy-selector.js';

export interface ClusterNamespace {
  name: string;
  /** Including `kubernetes.io/metadata.name` if the view wants selectors on it to work (validateNamespace adds it). */
  labels: Labels;
}

export interface ClusterPodPort {
  name?: string;
  containerPort: number;
  protocol: Protocol;
}

export interface ClusterPod {
  namespace: string;
  name: string;
  labels: Labels;
  /** IPv4 text. For a hostNetwork pod, its node's address. */
  ip: string;
  /** Node name. */
  node: string;
  hostNetwork?: boolean;
  /** Container ports of all containers (named ports are resolved against these). */
  ports?: readonly ClusterPodPort[];
}

export interface ClusterNode {
  name: string;
  /** IPv4 texts (InternalIP and the like). */
  ips: readonly string[];
  labels?: Labels;
}

/** The part of the cluster policies are evaluated against. Pods in namespaces not listed get empty namespace labels. */
export interface ClusterView {
  namespaces: readonly ClusterNamespace[];
  pods: readonly ClusterPod[];
  nodes?: readonly ClusterNode[];
}

/** Policies in force. Order never matters (ANPs are ordered by priority, then by name). */
export interface PolicySet {
  networkPolicies?: readonly NetworkPolicy[];
  adminNetworkPolicies?: readonly AdminNetworkPolicy[];
  baselineAdminNetworkPolicy?: BaselineAdminNetworkPolicy;
}

/** A case of the reachability table: a destination port and protocol. */
export interface PortCase {
  port: number;
  protocol: Protocol;
}

// ---------------------------------------------------------------------------------------------
// Compiled form

export interface PodRec {
  index: number;
  ref: string;
  namespace: string;
  name: string;
  labels: Labels;
  nsLabels: Labels;
  ip: number;
  node: string;
  nodeLabels: Labels;
  hostNetwork: boolean;
  ports: readonly ClusterPodPort[];
}

/** One side of a flow as policies see it. */
export interface Party {
  /** `ns/name`, `node/NAME` or the address. */
  desc: string;
  ip: number;
  /** A pod-network pod (hostNetwork pods are parties by address and node only). */
  pod?: PodRec;
  /** The pod record, hostNetwork or not. */
  anyPod?: PodRec;
  /** The node, for a node or a hostNetwork pod. */
  node?: { name: string; labels: Labels };
}

export interface CompiledNpPeer {
  index: number;
  peer: NetworkPolicyPeer;
  pod?: CompiledSelector;
  ns?: CompiledSelector;
}

export interface CompiledNpRule {
  /** Unique over the whole policy set. */
  id: number;
  index: number;
  peers: CompiledNpPeer[];
  ports: readonly NetworkPolicyPort[];
  hasNamed: boolean;
}

export interface CompiledNp {
  np: NetworkPolicy;
  ref: string;
  sel: CompiledSelector;
  ingress: boolean;
  egress: boolean;
  ingressRules: CompiledNpRule[];
  egressRules: CompiledNpRule[];
}

export interface CompiledAnpPeer {
  peer: AnpPeer;
  ns?: CompiledSelector;
  pod?: CompiledSelector;
  nodes?: CompiledSelector;
}

export interface CompiledAnpRule<A extends string> {
  id: number;
  index: number;
  name: string;
  action: A;
  peers: CompiledAnpPeer[];
  ports?: readonly AnpPort[];
  hasNamed: boolean;
}

export interface CompiledAnp<A extends string> {
  /** ANP name, or `default` for the BANP. */
  name: string;
  priority: number;
  subjectNs: CompiledSelector;
  subjectPod?: CompiledSelector;
  ingress: CompiledAnpRule<A>[];
  egress: CompiledAnpRule<A>[];
}

const EMPTY: Labels = Object.freeze({});

/** Parses an IPv4 text or throws: the view is trusted input (built from validated objects). */
export function ipOf(s: string, what: string): number {
  const n = parseIPv4(s);
  if (n === undefined) throw new Error(`${what}: not an IPv4 address: ${JSON.stringify(s)}`);
  return n;
}

export class CompiledPolicies {
  readonly pods: PodRec[] = [];
  readonly podByRef = new Map<string, PodRec>();
  /** Pod-network pods by IP. */
  readonly podByIp = new Map<number, PodRec>();
  readonly nodeByName = new Map<string, { name: string; labels: Labels; ips: number[] }>();
  readonly nodeByIp = new Map<number, { name: string; labels: Labels }>();
  readonly nsLabels = new Map<string, Labels>();
  readonly nps: CompiledNp[] = [];
  /** By namespace. */
  readonly npsByNs = new Map<string, CompiledNp[]>();
  /** Sorted by priority, then name. */
  readonly anps: CompiledAnp<AnpAction>[] = [];
  readonly banp?: CompiledAnp<BanpAction>;
  readonly ruleCount: number;
  private readonly selCache = new Map<string, CompiledSelector>();

  constructor(view: ClusterView, policies: PolicySet) {
    for (const ns of view.namespaces) this.nsLabels.set(ns.name, ns.labels);
    for (const n of view.nodes ?? []) {
      const rec = { name: n.name, labels: n.labels ?? EMPTY, ips: n.ips.map((ip) => ipOf(ip, `node ${n.name}`)) };
      this.nodeByName.set(n.name, rec);
      for (const ip of rec.ips) this.nodeByIp.set(ip, rec);
    }
    view.pods.forEach((p, index) => {
      const ref = `${p.namespace}/${p.name}`;
      const rec: PodRec = {
        index,
        ref,
        namespace: p.namespace,
        name: p.name,
        labels: p.labels,
        nsLabels: this.nsLabels.get(p.namespace) ?? EMPTY,
        ip: ipOf(p.ip, `pod ${ref}`),
        node: p.node,
        nodeLabels: this.nodeByName.get(p.node)?.labels ?? EMPTY,
        hostNetwork: p.hostNetwork ?? false,
        ports: p.ports ?? [],
      };
      this.pods.push(rec);
      this.podByRef.set(ref, rec);
      if (!rec.hostNetwork) this.podByIp.set(rec.ip, rec);
    });
    let ruleId = 0;
    for (const np of policies.networkPolicies ?? []) {
      const rules = (list: NetworkPolicy['ingress']): CompiledNpRule[] =>
        list.map((r, index) => ({
          id: ruleId++,
          index,
          peers: r.peers.map((peer, i) => ({
            index: i,
            peer,
            ...(peer.podSelector ? { pod: this.sel(peer.podSelector) } : {}),
            ...(peer.namespaceSelector ? { ns: this.sel(peer.namespaceSelector) } : {}),
          })),
          ports: r.ports,
          hasNamed: r.ports.some((p) => typeof p.port === 'string'),
        }));
      const c: CompiledNp = {
        np,
        ref: policyRef(np),
        sel: this.sel(np.podSelector),
        ingress: np.policyTypes.includes('Ingress'),
        egress: np.policyTypes.includes('Egress'),
        ingressRules: np.policyTypes.includes('Ingress') ? rules(np.ingress) : [],
        egressRules: np.policyTypes.includes('Egress') ? rules(np.egress) : [],
      };
      this.nps.push(c);
      let l = this.npsByNs.get(np.namespace);
      if (!l) this.npsByNs.set(np.namespace, (l = []));
      l.push(c);
    }
    const anpRules = <A extends string>(list: readonly AnpRule<A>[]): CompiledAnpRule<A>[] =>
      list.map((r, index) => ({
        id: ruleId++,
        index,
        name: r.name,
        action: r.action,
        peers: r.peers.map((peer) => ({
          peer,
          ...(peer.namespaces ? { ns: this.sel(peer.namespaces) } : {}),
          ...(peer.pods ? { ns: this.sel(peer.pods.namespaceSelector), pod: this.sel(peer.pods.podSelector) } : {}),
          ...(peer.nodes ? { nodes: this.sel(peer.nodes) } : {}),
        })),
        ...(r.ports ? { ports: r.ports } : {}),
        hasNamed: (r.ports ?? []).some((p) => p.kind === 'named'),
      }));
    const subject = (s: AnpSubject) =>
      s.pods ? { subjectNs: this.sel(s.pods.namespaceSelector), subjectPod: this.sel(s.pods.podSelector) } : { subjectNs: this.sel(s.namespaces ?? {}) };
    const sorted = [...(policies.adminNetworkPolicies ?? [])].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const a of sorted)
      this.anps.push({ name: a.name, priority: a.priority, ...subject(a.subject), ingress: anpRules(a.ingress), egress: anpRules(a.egress) });
    const b = policies.baselineAdminNetworkPolicy;
    if (b) this.banp = { name: b.name, priority: Infinity, ...subject(b.subject), ingress: anpRules(b.ingress), egress: anpRules(b.egress) };
    this.ruleCount = ruleId;
  }

  /** Compiled selectors are shared between equal selectors. */
  sel(s: LabelSelector): CompiledSelector {
    const c = compileSelector(s);
    const prev = this.selCache.get(c.text);
    if (prev) return prev;
    this.selCache.set(c.text, c);
    return c;
  }

  /** Every compiled selector, for the reachability engine's relevant-key analysis. */
  selectors(): IterableIterator<CompiledSelector> {
    return this.selCache.values();
  }

  // --- matching, shared by both engines ---------------------------------------------------------

  /** Whether the NetworkPolicy applies to the pod (pod-network pods of its namespace matching podSelector). */
  npSelects(c: CompiledNp, pod: PodRec): boolean {
    return !pod.hostNetwork && pod.namespace === c.np.namespace && c.sel.matches(pod.labels);
  }

  npPeerMatches(c: CompiledNp, peer: CompiledNpPeer, party: Party): boolean {
    const ib = peer.peer.ipBlock;
    if (ib) return ipBlockContains(ib, party.ip);
    const pod = party.pod;
    if (!pod) return false;
    if (peer.ns ? !peer.ns.matches(pod.nsLabels) : pod.namespace !== c.np.namespace) return false;
    return !peer.pod || peer.pod.matches(pod.labels);
  }

  /** The first peer of the rule matching `party` (an empty peer list matches everything: -1), or undefined. */
  npRulePeer(c: CompiledNp, r: CompiledNpRule, party: Party): number | undefined {
    if (r.peers.length === 0) return -1;
    for (const p of r.peers) if (this.npPeerMatches(c, p, party)) return p.index;
    return undefined;
  }

  /** The first port entry of the rule matching (port, protocol) on destination `dest` (-1 when the rule has no ports), or undefined. */
  npRulePort(r: CompiledNpRule, dest: PodRec | undefined, port: number, protocol: Protocol): number | undefined {
    if (r.ports.length === 0) return -1;
    for (let i = 0; i < r.ports.length; i++) if (npPortMatches(r.ports[i], dest, port, protocol)) return i;
    return undefined;
  }

  anpSelects(a: CompiledAnp<string>, pod: PodRec): boolean {
    return !pod.hostNetwork && a.subjectNs.matches(pod.nsLabels) && (!a.subjectPod || a.subjectPod.matches(pod.labels));
  }

  anpPeerMatches(p: CompiledAnpPeer, party: Party): boolean {
    const nets = p.peer.networks;
    if (nets) {
      for (const n of nets) if (party.ip >= n.net.base && party.ip < n.net.base + n.net.size) return true;
      return false;
    }
    if (p.nodes) return !party.pod && party.node !== undefined && p.nodes.matches(party.node.labels);
    const pod = party.pod;
    if (!pod || !p.ns || !p.ns.matches(pod.nsLabels)) return false;
    return !p.pod || p.pod.matches(pod.labels);
  }

  anpRuleMatches(r: CompiledAnpRule<string>, peer: Party, dest: PodRec | undefined, port: number, protocol: Protocol): boolean {
    if (!anpPortsMatch(r.ports, dest, port, protocol)) return false;
    for (const p of r.peers) if (this.anpPeerMatches(p, peer)) return true;
    return false;
  }
}

export function npPortMatches(e: NetworkPolicyPort, dest: PodRec | undefined, port: number, protocol: Protocol): boolean {
  if (e.protocol !== protocol) return false;
  if (e.port === undefined) return true;
  if (typeof e.port === 'number') return e.endPort !== undefined ? port >= e.port && port <= e.endPort : port === e.port;
  if (!dest || dest.hostNetwork) return false;
  for (const cp of dest.ports) if (cp.name === e.port && cp.protocol === e.protocol && cp.containerPort === port) return true;
  return false;
}

export function anpPortsMatch(ports: readonly AnpPort[] | undefined, dest: PodRec | undefined, port: number, protocol: Protocol): boolean {
  if (!ports) return true;
  for (const p of ports) {
    switch (p.kind) {
      case 'number':
        if (p.protocol === protocol && p.port === port) return true;
        break;
      case 'range':
        if (p.protocol === protocol && port >= p.start && port <= p.end) return true;
        break;
      case 'named':
        if (dest && !dest.hostNetwork)
          for (const cp of dest.ports) if (cp.name === p.name && cp.protocol === protocol && cp.containerPort === port) return true;
        break;
    }
  }
  return false;
}
