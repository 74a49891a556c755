/**
 * The reference semantics of Kubernetes network policy: "may A talk to B?"
 * for one flow, with the explanation of every tier that decided.
 *
 * A flow (from, to, port, protocol) is allowed when the sender's egress and
 * the receiver's ingress both allow it. Each direction is judged for a
 * pod-network pod only (a node, a hostNetwork pod or an external address has
 * no policy of its own), walking the tiers:
 *
 * 1. **AdminNetworkPolicy** — the ANPs whose subject selects the pod, by
 *    priority (lower number first; equal priorities by name, which the API
 *    leaves to the implementation), rules in order. The first rule whose peers
 *    and ports match decides: Allow and Deny are final; Pass skips every
 *    remaining ANP and goes to the NetworkPolicy tier.
 * 2. **NetworkPolicy** — the pod is isolated for the direction when at least
 *    one NetworkPolicy with that policyType selects it; then the flow is
 *    allowed iff some rule of one of those policies (their union) admits it:
 *    a rule admits when one of its peers matches (no peers = every peer) and
 *    one of its ports matches (no ports = every port). Peers: podSelector
 *    alone = pods of the policy's namespace; namespaceSelector alone = pods of
 *    the matching namespaces (`{}` = all); both in one peer = AND; separate
 *    peers = OR; ipBlock by address (see policy-model.ts).
 * 3. **BaselineAdminNetworkPolicy** — only when no NetworkPolicy isolates the
 *    pod: the first matching BANP rule decides (Allow/Deny); no match, or no
 *    BANP selecting the pod, allows.
 *
 * Rules outside the tiers, checked first:
 * - a pod reaching itself (by name or by its own IP) is always allowed — the
 *   packet never leaves the pod's network namespace;
 * - traffic from a pod's own node (the node itself, or a hostNetwork pod on it)
 *   to the pod is always allowed, as kubelet probes need and as the
 *   NetworkPolicy API documents ("OR if the traffic source is the pod's local node").
 *
 * Replies of allowed connections are never evaluated: this answers for the
 * first packet of a connection (conntrack lets the replies through); asking
 * for the reverse direction asks about a new connection from the other side.
 */
import type { AnpAction, BanpAction } from './admin-network-policy.js';
import {
  CompiledPolicies,
  ipOf,
  type ClusterView,
  type CompiledAnp,
  type Party,
  type PodRec,
  type PolicySet,
} from './policy-model.js';
import type { Protocol } from './pod.js';

export type { ClusterNamespace, ClusterNode, ClusterPod, ClusterPodPort, ClusterView, PolicySet, PortCase } from './policy-model.js';

/** One end of a flow. */
export type Endpoint =
  | { kind: 'pod'; namespace: string; name: string }
  | { kind: 'node'; name: string }
  /** Any IPv4 address; a pod's or node's own address is taken as that pod or node. */
  | { kind: 'ip'; ip: string };

/** `pod/NS/NAME`, `NS/NAME`, `node/NAME`, `ip/A.B.C.D` or a bare address. */
export function parseEndpoint(s: string): Endpoint {
  const parts = s.split('/');
  if (parts[0] === 'pod' && parts.length === 3) return { kind: 'pod', namespace: parts[1], name: parts[2] };
  if (parts[0] === 'node' && parts.length === 2) return { kind: 'node', name: parts[1] };
  if (parts[0] === 'ip' && parts.length === 2) return { kind: 'ip', ip: parts[1] };
  if (parts.length === 2) return { kind: 'pod', namespace: parts[0], name: parts[1] };
  if (parts.length === 1 && /^[0-9.]+$/.test(s)) return { kind: 'ip', ip: s };
  throw new Error(`not an endpoint: ${JSON.stringify(s)} (expected pod/NS/NAME, NS/NAME, node/NAME or ip/ADDRESS)`);
}

/** A rule that decided in an ANP or the BANP. */
export interface AnpDecision<A extends string> {
  /** The policy's name (`default` for the BANP). */
  policy: string;
  priority: number;
  /** Index in the direction's rule list. */
  rule: number;
  /** The rule's `name` ('' when not given). */
  ruleName: string;
  action: A;
}

/** What admitted the flow in the NetworkPolicy tier. */
export interface NpAdmission {
  /** `namespace/name`. */
  policy: string;
  /** Index in the policy's ingress or egress list. */
  rule: number;
  /** Index in the rule's from/to, or -1 when the rule has no peers (all sources/destinations). */
  peer: number;
  /** Index in the rule's ports, or -1 when the rule has no ports (all ports). */
  port: number;
}

export type Tier = 'ANP' | 'NetworkPolicy' | 'BANP';

/** One direction (the sender's egress or the receiver's ingress) and how it was decided. */
export interface DirectionVerdict {
  direction: 'Ingress' | 'Egress';
  /** The pod whose policies were walked (`ns/name`); undefined when the party is not a pod-network pod: nothing applies. */
  subject?: string;
  /** The other party, as policies saw it (`ns/name`, `node/NAME` or an address). */
  peer: string;
  allowed: boolean;
  /** The tier that decided; undefined when nothing applies (no subject, or no tier selects it and so the default allows). */
  decidedBy?: Tier;
  /** The ANPs selecting the subject, in evaluation order, up to the deciding or passing one; `rule` undefined = no rule matched. */
  anp: { policy: string; priority: number; decision?: AnpDecision<AnpAction> }[];
  /** Set when the NetworkPolicy tier was reached. */
  networkPolicy?: {
    /** Policies selecting the subject for this direction (`ns/name`); empty = not isolated. */
    isolatedBy: string[];
    admittedBy?: NpAdmission;
  };
  /** Set when the BANP tier was reached and the BANP selects the subject; `decision` undefined = no rule matched (allowed). */
  banp?: { decision?: AnpDecision<BanpAction> };
}

export interface Verdict {
  allowed: boolean;
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
  /** Set when a rule outside the tiers decided (then both directions are reported as allowed with nothing walked). */
  shortcut?: 'self' | 'own-node';
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
}

/**
 * Evaluates flows against one cluster view and policy set. Construction
 * compiles the policies (selectors shared, ANPs sorted); `verdict` is then a
 * pure function of its arguments. Policy order in the set never matters.
 */
export class PolicyEvaluator {
  readonly compiled: CompiledPolicies;

  constructor(view: ClusterView, policies: PolicySet) {
    this.compiled = new CompiledPolicies(view, policies);
  }

  /** Resolves an endpoint to the party policies see; throws for an unknown pod or node. */
  party(e: Endpoint): Party {
    const c = this.compiled;
    switch (e.kind) {
      case 'pod': {
        const pod = c.podByRef.get(`${e.namespace}/${e.name}`);
        if (!pod) throw new Error(`no pod ${e.namespace}/${e.name} in the view`);
        return podParty(c, pod);
      }
      case 'node': {
        const n = c.nodeByName.get(e.name);
        if (!n) throw new Error(`no node ${e.name} in the view`);
        if (n.ips.length === 0) throw new Error(`node ${e.name} has no address`);
        return { desc: `node/${n.name}`, ip: n.ips[0], node: n };
      }
      case 'ip': {
        const ip = ipOf(e.ip, 'endpoint');
        const pod = c.podByIp.get(ip);
        if (pod) return podParty(c, pod);
        const n = c.nodeByIp.get(ip);
        if (n) return { desc: `node/${n.name}`, ip, node: n };
        return { desc: e.ip, ip };
      }
    }
  }

  /** The verdict for the first packet of a connection from `from` to `to` on port/protocol. */
  verdict(from: Endpoint | Party, to: Endpoint | Party, port: number, protocol: Protocol): Verdict {
    const src = 'desc' in from ? from : this.party(from);
    const dst = 'desc' in to ? to : this.party(to);
    const base = { from: src.desc, to: dst.desc, port, protocol };
    const same = (src.anyPod && src.anyPod === dst.anyPod) || (!src.anyPod && !dst.anyPod && src.ip === dst.ip);
    if (same) return { ...base, allowed: true, shortcut: 'self', ...nothingWalked(src, dst) };
    // From the destination pod's own node: the node itself or a hostNetwork pod on it.
    if (dst.pod && !src.pod && src.node && src.node.name === dst.pod.node)
      return { ...base, allowed: true, shortcut: 'own-node', ...nothingWalked(src, dst) };
    const egress = this.direction('Egress', src.pod, dst, dst.pod, port, protocol);
    const ingress = this.direction('Ingress', dst.pod, src, dst.pod, port, protocol);
    return { ...base, allowed: egress.allowed && ingress.allowed, egress, ingress };
  }

  /** One direction's tier walk for `subject` (undefined: not a pod-network pod, nothing applies). */
  direction(dir: 'Ingress' | 'Egress', subject: PodRec | undefined, peer: Party, dest: PodRec | undefined, port: number, protocol: Protocol): DirectionVerdict {
    const c = this.compiled;
    const out: DirectionVerdict = { direction: dir, peer: peer.desc, allowed: true, anp: [] };
    if (!subject) return out;
    out.subject = subject.ref;
    // 1. ANPs
    for (const a of c.anps) {
      if (!c.anpSelects(a, subject)) continue;
      const step: DirectionVerdict['anp'][number] = { policy: a.name, priority: a.priority };
      out.anp.push(step);
      const d = firstMatch(c, a, dir, peer, dest, port, protocol);
      if (!d) continue;
      step.decision = d;
      if (d.action === 'Allow' || d.action === 'Deny') {
        out.allowed = d.action === 'Allow';
        out.decidedBy = 'ANP';
        return out;
      }
      break; // Pass
    }
    // 2. NetworkPolicies
    const isolatedBy: string[] = [];
    let admittedBy: NpAdmission | undefined;
    for (const np of c.npsByNs.get(subject.namespace) ?? []) {
      if (!(dir === 'Ingress' ? np.ingress : np.egress) || !c.npSelects(np, subject)) continue;
      isolatedBy.push(np.ref);
      if (admittedBy) continue;
      for (const r of dir === 'Ingress' ? np.ingressRules : np.egressRules) {
        const portIx = c.npRulePort(r, dest, port, protocol);
        if (portIx === undefined) continue;
        const peerIx = c.npRulePeer(np, r, peer);
        if (peerIx === undefined) continue;
        admittedBy = { policy: np.ref, rule: r.index, peer: peerIx, port: portIx };
        break;
      }
    }
    out.networkPolicy = { isolatedBy, ...(admittedBy ? { admittedBy } : {}) };
    if (isolatedBy.length) {
      out.allowed = admittedBy !== undefined;
      out.decidedBy = 'NetworkPolicy';
      return out;
    }
    // 3. BANP
    const b = c.banp;
    if (b && c.anpSelects(b, subject)) {
      const d = firstMatch(c, b, dir, peer, dest, port, protocol);
      out.banp = d ? { decision: d } : {};
      out.allowed = !d || d.action === 'Allow';
      out.decidedBy = 'BANP';
      return out;
    }
    return out;
  }
}

function podParty(c: CompiledPolicies, pod: PodRec): Party {
  if (pod.hostNetwork) return { desc: pod.ref, ip: pod.ip, anyPod: pod, node: { name: pod.node, labels: pod.nodeLabels } };
  return { desc: pod.ref, ip: pod.ip, pod, anyPod: pod };
}

function nothingWalked(src: Party, dst: Party): { egress: DirectionVerdict; ingress: DirectionVerdict } {
  return {
    egress: { direction: 'Egress', peer: dst.desc, allowed: true, anp: [], ...(src.pod ? { subject: src.pod.ref } : {}) },
    ingress: { direction: 'Ingress', peer: src.desc, allowed: true, anp: [], ...(dst.pod ? { subject: dst.pod.ref } : {}) },
  };
}

function firstMatch<A extends string>(
  c: CompiledPolicies,
  a: CompiledAnp<A>,
  dir: 'Ingress' | 'Egress',
  peer: Party,
  dest: PodRec | undefined,
  port: number,
  protocol: Protocol,
): AnpDecision<A> | undefined {
  for (const r of dir === 'Ingress' ? a.ingress : a.egress)
    if (c.anpRuleMatches(r, peer, dest, port, protocol)) return { policy: a.name, priority: a.priority, rule: r.index, ruleName: r.name, action: r.action };
  return undefined;
}
