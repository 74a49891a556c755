/**
 * What kube-router's network policy controller (pkg/controllers/netpol,
 * iptables flavour, HEAD 7c2c277) writes for one node in one full sync, as
 * data: the ipsets (name, type, entries with kube-router's options) and the
 * filter-table lines of its iptables-restore buffer, in kube-router's order.
 * Pure: a function of the cluster (pods, namespaces, policies), the node and
 * the sync's version. agent.ts applies it.
 *
 * Layout (REFERENCE §9; chain names in names.ts):
 *
 *   INPUT/FORWARD/OUTPUT ─► KUBE-ROUTER-INPUT/FORWARD/OUTPUT
 *     KUBE-ROUTER-INPUT first RETURNs traffic to the service CIDR and (LOCAL
 *       destination) the NodePort range, TCP/UDP/SCTP;
 *     per local pod (podIP on this node, not hostNetwork, not finished):
 *       FORWARD -d ip, OUTPUT -d ip, FORWARD -m physdev --physdev-is-bridged -d ip  ("ns/pod in")
 *       INPUT/FORWARD/OUTPUT -s ip, FORWARD physdev -s ip                           ("ns/pod out")
 *       all ─► KUBE-POD-FW-<pod>
 *     then -j KUBE-NWPLCY-TAIL (ACCEPT on 0x20000) and -m mark 0x20000 -j ACCEPT.
 *   KUBE-POD-FW-<pod>:
 *     -j KUBE-NWPLCY-COMMON        (INVALID → DROP, RELATED,ESTABLISHED → ACCEPT, ICMP echo-request,
 *                                   destination-unreachable, time-exceeded → ACCEPT)
 *     -m addrtype --src-type LOCAL -d ip -j ACCEPT          ("from local node")
 *     [podwire: ANP tier jumps, see below]
 *     -s ip -j KUBE-NWPLCY-DEFAULT | BANP    (no egress policy selects the pod)
 *     -d ip -j KUBE-NWPLCY-DEFAULT | BANP    (no ingress policy)
 *     per policy selecting the pod (last policy first, as kube-router's -I 1 leaves them):
 *       -d ip -j KUBE-NWPLCY-<policy> (Ingress) / -s ip … (Egress)
 *     ! mark 0x10000 → NFLOG group 100 (limit 10/minute burst 10), ! mark 0x10000 → REJECT
 *     MARK --set-mark 0/0x10000, MARK --set-mark 0x20000/0x20000 ("set netpol-ok mark")
 *   KUBE-NWPLCY-<policy>: per rule, per port, the pair
 *     <match> -j MARK --set-xmark 0x10000/0x10000 ; <match> -m mark --mark 0x10000/0x10000 -j RETURN
 *     where <match> is [-m set --match-set SRC src] [-m set --match-set DST dst] [-p P [--dport a[:b]]]:
 *     ingress rules match dst ∈ KUBE-DST-<policy> (the policy's pods), src ∈ the rule's peer set
 *     (pods: hash:ip; ipBlocks: hash:net with `nomatch` entries for excepts, /0 as two /1s);
 *     egress rules src ∈ KUBE-SRC-<policy>, dst ∈ peers; named ports: one KUBE-DST set per
 *     resolved (protocol, number) holding the pods that have it.
 *
 * Where podwire departs from kube-router, so the rules agree with the
 * reference evaluator (src/kube/policy-eval.ts) on every flow:
 *  - a policy with both policyTypes: kube-router jumps to its one chain
 *    without -d/-s, so a pod's egress is admitted by the policy's ingress rules
 *    when the peer is also selected by it (and the reverse). podwire renders the
 *    ingress half in kube-router's chain and the egress half in its own
 *    (`policyEgressChain`), jumped `-d ip` and `-s ip` as single-type policies are;
 *  - a rule whose ports are all named ports that resolve to nothing: kube-router
 *    then writes the rule without ports (all ports); podwire writes nothing;
 *  - egress `ports` with a named port and no `to`: kube-router matches the
 *    port number towards any destination (numbers taken from the policy's
 *    namespace); podwire matches destinations in a set of the pods (any
 *    namespace) that have that named port with that number;
 *  - egress ipBlocks with named ports: kube-router writes nothing for them;
 *    podwire matches the ipBlock set and a set of the pods having the port.
 *  - a rule with several ipBlock peers, one of them with `except`: kube-router
 *    puts every block of the rule in one hash:net set, where the most specific
 *    entry decides, so one block's `nomatch` except also removes addresses
 *    another block admits (0.0.0.0/0 except 10.244.0.0/24, plus 10.244.0.0/16:
 *    10.244.0.5 matches nothing). Peers are ORed, so podwire gives each
 *    ipBlock peer of such a rule its own set (`ingress/egressIpBlockPeerSet`)
 *    and its own rules; a rule's blocks without excepts share kube-router's set.
 *  - Go map order (local pods, named ports, the three top-level chains) is
 *    replaced by store order, ascending port numbers and INPUT, FORWARD, OUTPUT.
 *
 * AdminNetworkPolicy and BaselineAdminNetworkPolicy (kube-router has no such
 * tiers; podwire's own rendering in the same style):
 *   In KUBE-POD-FW-<pod>, right after "from local node", one jump per ANP whose
 *   subject selects the pod, by priority then name, for each direction it has
 *   rules: `-d ip -j KUBE-ANP-<anp,ingress>` / `-s ip -j KUBE-ANP-<anp,egress>`.
 *   KUBE-ANP-… starts with `-m mark --mark 0x10000/0x10000 -j RETURN` (an
 *   earlier ANP allowed) and `-m mark --mark 0x40000/0x40000 -j RETURN` (an
 *   earlier ANP passed); then per rule, per peer set (pods and nodes: hash:ip
 *   KUBE-SRC/DST-…; networks: hash:net, /0 as two /1s), per port:
 *     Allow: <match> -j MARK --set-xmark 0x10000/0x10000 ; <match> + mark → RETURN
 *     Deny:  <match> -j REJECT (named by the trace annotation like the pod's REJECT)
 *     Pass:  <match> -j MARK --set-xmark 0x40000/0x40000 ; <match> + mark 0x40000 → RETURN
 *   An Allow sets the mark the pod chain's REJECT looks for, so the
 *   NetworkPolicy tier cannot undo it; a Pass goes on to that tier.
 *   For a direction no NetworkPolicy isolates, a pod selected by the BANP
 *   jumps to KUBE-BANP-<direction> instead of KUBE-NWPLCY-DEFAULT: it returns
 *   on 0x10000 (an ANP allowed), then per rule Allow → mark + RETURN, Deny →
 *   RETURN unmarked (the pod chain REJECTs), and ends with
 *   -j KUBE-NWPLCY-DEFAULT (no rule matched: allowed).
 *   The pod chain then also clears 0x40000 (`MARK --set-mark 0/0x40000`).
 */
import type { AdminNetworkPolicy, AnpPeer, AnpPort, AnpRule, BaselineAdminNetworkPolicy } from '../kube/admin-network-policy.js';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../kube/networkpolicy.js';
import type { Labels } from '../kube/labels.js';
import type { Protocol } from '../kube/pod.js';
import { compileSelector, type CompiledSelector } from '../kube/policy-selector.js';
import type { LabelSelector } from '../kube/labels.js';
import * as N from './names.js';
import { PodSelection } from './pod-select.js';

export interface NpPodPort { name?: string; containerPort: number; protocol: Protocol }

/** A pod as the agent's informer sees it. */
export interface NpPod {
  namespace: string;
  name: string;
  labels: Labels;
  /** status.podIP ('' while none). */
  ip: string;
  /** status.hostIP. */
  hostIP: string;
  nodeName: string;
  hostNetwork: boolean;
  /** status.phase is Succeeded, Failed or Completed. */
  finished: boolean;
  ports: readonly NpPodPort[];
  /** spec.serviceAccountName (the apiserver defaults it to "default"); unused by kube-router, felix's ksa profile. */
  serviceAccountName?: string;
}

export interface NpNode { name: string; ips: readonly string[]; labels: Labels }

/** The informers' view: everything in store order. */
export interface NpCluster {
  namespaces: ReadonlyMap<string, Labels>;
  pods: readonly NpPod[];
  nodes: readonly NpNode[];
  policies: readonly NetworkPolicy[];
  anps: readonly AdminNetworkPolicy[];
  banp?: BaselineAdminNetworkPolicy;
}

export interface NpNodeConfig {
  nodeName: string;
  /** The node's addresses (kube-router's local pods: status.hostIP equal to one of them). */
  nodeIPs: readonly string[];
  /** Service cluster IP ranges (RETURNed at the top of KUBE-ROUTER-INPUT). */
  serviceCIDRs: readonly string[];
  /** `--service-node-port-range`, as kube-router normalises it (`30000:32767`). */
  nodePortRange: string;
}

export interface IpsetSpec {
  name: string;
  type: 'hash:ip' | 'hash:net';
  /** Each entry as kube-router's option list: [addr, 'timeout', '0'(, 'nomatch')]. */
  entries: string[][];
}

export interface PodChainInfo {
  chain: string;
  pod: NpPod;
}

/** A chain whose REJECT (or Deny) the agent annotates in traces: the direction is known (tiers) or found per packet (pod chains). */
export interface AnnotatedChain {
  chain: string;
  kind: 'pod' | 'anp';
  /** Pod chains: the pod. */
  pod?: NpPod;
  /** ANP chains: the direction. */
  dir?: 'ingress' | 'egress';
}

export interface Rendered {
  /** Sets in the order kube-router refreshes them (its restore sorts them by name). */
  sets: Map<string, IpsetSpec>;
  /** Chains this sync declares (policy, tier and pod chains), in declaration order. */
  chains: string[];
  podChains: PodChainInfo[];
  annotated: AnnotatedChain[];
  /** Rule lines of the restore buffer, in kube-router's order (after the declarations). */
  lines: string[];
}

export const MARK_OK = '0x10000/0x10000';
export const MARK_NETPOL_OK = '0x20000/0x20000';
export const MARK_PASS = '0x40000/0x40000';

const q = (s: string) => `"${s}"`;

/** Whether kube-router acts on a pod (isNetPolActionable). */
export function actionable(p: NpPod): boolean {
  return !p.finished && p.ip !== '' && !p.hostNetwork;
}

/** The pod's namespace labels, with `kubernetes.io/metadata.name` as the apiserver defaults it. */
function nsLabels(c: NpCluster, ns: string): Labels {
  const l = c.namespaces.get(ns);
  return l ? (l['kubernetes.io/metadata.name'] === ns ? l : { ...l, 'kubernetes.io/metadata.name': ns }) : { 'kubernetes.io/metadata.name': ns };
}

class SelCache {
  private m = new Map<string, CompiledSelector>();
  get(s: LabelSelector): CompiledSelector {
    const key = JSON.stringify(s);
    let c = this.m.get(key);
    if (!c) this.m.set(key, (c = compileSelector(s)));
    return c;
  }
}

interface Ep { protocol: Protocol; port: number; ips: string[] }

/** grabNamedPortFromPod over `pods`: name → protocol → port → ips (ports ascending). */
function namedPorts(pods: readonly NpPod[]): Map<string, Map<string, Ep[]>> {
  const out = new Map<string, Map<string, Ep[]>>();
  for (const p of pods) {
    for (const cp of p.ports) {
      const name = cp.name ?? '';
      let byProto = out.get(name);
      if (!byProto) out.set(name, (byProto = new Map()));
      let eps = byProto.get(cp.protocol);
      if (!eps) byProto.set(cp.protocol, (eps = []));
      const e = eps.find((x) => x.port === cp.containerPort);
      if (e) e.ips.push(p.ip);
      else eps.push({ protocol: cp.protocol, port: cp.containerPort, ips: [p.ip] });
    }
  }
  for (const m of out.values()) for (const eps of m.values()) eps.sort((a, b) => a.port - b.port);
  return out;
}

/** processNetworkPolicyPorts: numeric ports (port '' = all of the protocol) and resolved named ports. */
function splitPorts(ports: readonly NetworkPolicyPort[], np: Map<string, Map<string, Ep[]>>): { numeric: { protocol: Protocol; port: string; end: string }[]; named: Ep[] } {
  const numeric: { protocol: Protocol; port: string; end: string }[] = [];
  const named: Ep[] = [];
  for (const p of ports) {
    if (p.port === undefined) numeric.push({ protocol: p.protocol, port: '', end: '' });
    else if (typeof p.port === 'number') numeric.push({ protocol: p.protocol, port: String(p.port), end: p.endPort !== undefined && p.endPort >= p.port ? String(p.endPort) : '' });
    else for (const e of np.get(p.port)?.get(p.protocol) ?? []) named.push(e);
  }
  return { numeric, named };
}

/**
 * The rule's ipBlock entry groups, one hash:net set each: kube-router's one set
 * (`set` undefined: the rule's own name) unless two or more ipBlock peers and an
 * except — then one group per ipBlock peer (its index among the rule's ipBlocks).
 */
function ipBlockGroups(peers: readonly NetworkPolicyPeer[]): { k?: number; entries: string[][] }[] {
  const blocks = peers.filter((p) => ipBlockEntries(p).length);
  if (blocks.length === 0) return [];
  if (blocks.length < 2 || !blocks.some((p) => p.ipBlock!.except.length)) return [{ entries: blocks.flatMap(ipBlockEntries) }];
  return blocks.map((p, k) => ({ k, entries: ipBlockEntries(p) }));
}

/** evalIPBlockPeer: the hash:net entries of an ipBlock (excepts as nomatch; /0 as two /1s). */
function ipBlockEntries(peer: NetworkPolicyPeer): string[][] {
  const b = peer.ipBlock;
  if (!b || peer.podSelector || peer.namespaceSelector) return [];
  const out: string[][] = [];
  if (b.cidr.endsWith('/0')) out.push(['0.0.0.0/1', 'timeout', '0'], ['128.0.0.0/1', 'timeout', '0']);
  else out.push([b.cidr, 'timeout', '0']);
  for (const e of b.except) {
    if (e.endsWith('/0')) out.push(['0.0.0.0/1', 'timeout', '0', 'nomatch'], ['128.0.0.0/1', 'timeout', '0', 'nomatch']);
    else out.push([e, 'timeout', '0', 'nomatch']);
  }
  return out;
}

/** One full sync for one node: the node-independent part (`renderPolicies`) and the node's own (`renderLocal`). */
export function renderNode(c: NpCluster, cfg: NpNodeConfig, version: string, existingSetType?: (name: string) => 'hash:ip' | 'hash:net' | undefined): Rendered {
  return renderLocal(renderPolicies(c, version, existingSetType), cfg);
}

interface PolInfo { np: NetworkPolicy; targets: Set<NpPod>; ingressChain?: string; egressChain?: string }
type Tier = { tier: 'anp' | 'banp'; name: string; subjectNs: CompiledSelector; subjectPod?: CompiledSelector; chains: { ingress?: string; egress?: string } };

/**
 * The part of a sync that is the same on every node for one cluster view and version:
 * the ipsets, the policy and tier chains with their lines, and what the pod chains
 * need to know about them. Nodes whose ipsets give the same answers to
 * `existingSetType` share one (agent.ts).
 */
export interface PolicyRender {
  readonly cluster: NpCluster;
  readonly version: string;
  readonly sets: Map<string, IpsetSpec>;
  /** Policy and tier chains, in declaration order. */
  readonly chains: readonly string[];
  readonly annotated: readonly AnnotatedChain[];
  readonly lines: readonly string[];
  /** The set names `existingSetType` was asked about, with its answers (in asking order). */
  readonly typeQueries: readonly (readonly [string, 'hash:ip' | 'hash:net' | undefined])[];
  /** Actionable pods by status.hostIP, in store order. */
  readonly podsByHost: ReadonlyMap<string, readonly NpPod[]>;
  /** Per pod, the policies selecting it (store order). */
  readonly policiesOf: ReadonlyMap<NpPod, readonly PolInfo[]>;
  readonly tiers: readonly Tier[];
  readonly banp: Tier | undefined;
  readonly tierSelects: (t: Tier, p: NpPod) => boolean;
}

export function renderPolicies(c: NpCluster, version: string, existingSetTypeOrNone?: (name: string) => 'hash:ip' | 'hash:net' | undefined): PolicyRender {
  const sels = new SelCache();
  const sets = new Map<string, IpsetSpec>();
  const chains: string[] = [];
  const annotated: AnnotatedChain[] = [];
  const lines: string[] = [];
  const act = c.pods.filter(actionable);
  const actByNs = new Map<string, NpPod[]>();
  for (const p of act) (actByNs.get(p.namespace) ?? actByNs.set(p.namespace, []).get(p.namespace)!).push(p);
  const typeQueries: [string, 'hash:ip' | 'hash:net' | undefined][] = [];
  const existingSetType = existingSetTypeOrNone && ((name: string) => {
    const t = existingSetTypeOrNone(name);
    typeQueries.push([name, t]);
    return t;
  });
  // One entry array per address (entries are read-only): thousands of sets share them.
  const entryOf = new Map<string, string[]>();
  const ipEntry = (ip: string) => entryOf.get(ip) ?? entryOf.set(ip, [ip, 'timeout', '0']).get(ip)!;
  // And one entry list per pod list or address list: policies with the same peers share their sets' entries.
  const entriesOfIps = new WeakMap<readonly string[], string[][]>();
  const ipEntries = (ips: readonly string[]) => entriesOfIps.get(ips) ?? entriesOfIps.set(ips, ips.map(ipEntry)).get(ips)!;
  const entriesOfPods = new WeakMap<readonly NpPod[], string[][]>();
  const podEntries = (pods: readonly NpPod[]) => entriesOfPods.get(pods) ?? entriesOfPods.set(pods, pods.map((p) => ipEntry(p.ip))).get(pods)!;
  const namedOf = new WeakMap<readonly NpPod[], Map<string, Map<string, Ep[]>>>();
  const namedPortsOf = (pods: readonly NpPod[]) => namedOf.get(pods) ?? namedOf.set(pods, namedPorts(pods)).get(pods)!;
  /** RefreshSet: the type is kept when the set exists already (in this sync, or on the node). */
  const refresh = (name: string, type: IpsetSpec['type'], entries: string[][]) => {
    const prev = sets.get(name);
    const t = prev?.type ?? existingSetType?.(name) ?? type;
    sets.delete(name);
    sets.set(name, { name, type: t, entries });
  };
  // Selections are made once per (namespace, selector) and shared (pod-select.ts).
  const selection = new PodSelection<NpPod>(actByNs);
  const podsOf = (ns: string, sel: LabelSelector) => selection.select(ns, sel);
  /** Namespace names (known namespaces, then those only pods name) in that order. */
  const allNs = [...new Set([...c.namespaces.keys(), ...act.map((p) => p.namespace)])];
  const peerMemo = new Map<string, readonly NpPod[]>();
  /** evalPodPeer (actionable pods only); the same array for the same peer (read-only). */
  const peerPods = (np: NetworkPolicy, peer: NetworkPolicyPeer): readonly NpPod[] => {
    if (peer.namespaceSelector) {
      const key = `n${JSON.stringify(peer.namespaceSelector)}\u0000${peer.podSelector ? JSON.stringify(peer.podSelector) : ''}`;
      let out = peerMemo.get(key);
      if (out) return out;
      const ns = sels.get(peer.namespaceSelector);
      const lists: (readonly NpPod[])[] = [];
      for (const n of allNs) {
        if (!ns.matches(nsLabels(c, n))) continue;
        const l = peer.podSelector ? selection.select(n, peer.podSelector) : actByNs.get(n) ?? [];
        if (l.length) lists.push(l);
      }
      out = lists.length === 1 ? lists[0]! : lists.flat();
      peerMemo.set(key, out);
      return out;
    }
    if (peer.podSelector) return podsOf(np.namespace, peer.podSelector);
    return [];
  };
  /** A rule's pod peers, in peer order (the one peer's shared array when only one has pods). */
  const rulePeerPods = (np: NetworkPolicy, peers: readonly NetworkPolicyPeer[]): readonly NpPod[] => {
    const lists = peers.map((pe) => peerPods(np, pe)).filter((l) => l.length);
    return lists.length === 1 ? lists[0]! : lists.flat();
  };
  const rule = (chain: string, comment: string, src: string, dsts: string[], proto: string, port: string, end: string) => {
    let m = `-A ${chain} -m comment --comment ${q(comment)}`;
    if (src) m += ` -m set --match-set ${src} src`;
    for (const d of dsts) if (d) m += ` -m set --match-set ${d} dst`;
    if (proto) m += ` -p ${proto}`;
    if (port) m += ` --dport ${end ? `${port}:${end}` : port}`;
    lines.push(`${m} -j MARK --set-xmark ${MARK_OK}`);
    lines.push(`${m} -m mark --mark ${MARK_OK} -j RETURN`);
  };
  // Every pod's named ports: only egress rules without peers and ANP named ports need them.
  let allNamed: Map<string, Map<string, Ep[]>> | null = null;
  const allPodsNamed = () => allNamed ??= namedPorts(act);

  // --- policy chains (syncNetworkPolicyChains) ----------------------------------------------
  const infos: PolInfo[] = [];
  for (const np of c.policies) {
    const targets = podsOf(np.namespace, np.podSelector);
    const ing = np.policyTypes.includes('Ingress');
    const eg = np.policyTypes.includes('Egress');
    const info: PolInfo = { np, targets: new Set(targets) };
    infos.push(info);
    const ref = `${np.namespace}/${np.name}`;
    const main = N.policyChain(np.namespace, np.name, version);
    chains.push(main);
    if (ing) info.ingressChain = main;
    if (eg) {
      info.egressChain = ing ? N.policyEgressChain(np.namespace, np.name, version) : main;
      if (ing) chains.push(info.egressChain);
    }
    if (ing) {
      const dstSet = N.policyDstSet(np.namespace, np.name);
      refresh(dstSet, 'hash:ip', podEntries(targets));
      const ch = info.ingressChain!;
      const named = namedPortsOf(targets);
      np.ingress.forEach((r, i) => {
        const matchAllSource = r.peers.length === 0;
        const matchAllPorts = r.ports.length === 0;
        const srcPods = matchAllSource ? [] : rulePeerPods(np, r.peers);
        const blocks = matchAllSource ? [] : ipBlockGroups(r.peers);
        const { numeric, named: eps } = matchAllPorts ? { numeric: [], named: [] } : splitPorts(r.ports, named);
        if (srcPods.length) {
          const s = N.ingressPodSet(np.namespace, np.name, i);
          refresh(s, 'hash:ip', podEntries(srcPods));
          for (const p of numeric) rule(ch, `${ref} ingress pods`, s, [dstSet], p.protocol, p.port, p.end);
          eps.forEach((e, j) => {
            const ns = N.ingressNamedPortSet(np.namespace, np.name, i, j);
            refresh(ns, 'hash:ip', ipEntries(e.ips));
            rule(ch, `${ref} ingress pods np`, s, [ns], e.protocol, String(e.port), '');
          });
          if (matchAllPorts) rule(ch, `${ref} ingress pods`, s, [dstSet], '', '', '');
        }
        if (matchAllSource && !matchAllPorts) {
          for (const p of numeric) rule(ch, `${ref} ingress any`, '', [dstSet], p.protocol, p.port, p.end);
          eps.forEach((e, j) => {
            const ns = N.ingressNamedPortSet(np.namespace, np.name, i, j);
            refresh(ns, 'hash:ip', ipEntries(e.ips));
            rule(ch, `${ref} ingress any np`, '', [ns], e.protocol, String(e.port), '');
          });
        }
        if (matchAllSource && matchAllPorts) rule(ch, `${ref} ingress any`, '', [dstSet], '', '', '');
        for (const g of blocks) {
          const b = g.k === undefined ? N.ingressIpBlockSet(np.namespace, np.name, i) : N.ingressIpBlockPeerSet(np.namespace, np.name, i, g.k);
          refresh(b, 'hash:net', g.entries);
          if (!matchAllPorts) {
            for (const p of numeric) rule(ch, `${ref} ingress cidr`, b, [dstSet], p.protocol, p.port, p.end);
            eps.forEach((e, j) => {
              const ns = N.ingressNamedPortSet(np.namespace, np.name, i, j);
              refresh(ns, 'hash:net', ipEntries(e.ips));
              rule(ch, `${ref} ingress cidr np`, b, [ns], e.protocol, String(e.port), '');
            });
          } else rule(ch, `${ref} ingress cidr`, b, [dstSet], '', '', '');
        }
      });
    }
    if (eg) {
      const srcSet = N.policySrcSet(np.namespace, np.name);
      refresh(srcSet, 'hash:ip', podEntries(targets));
      const ch = info.egressChain!;
      np.egress.forEach((r, i) => {
        const matchAllDst = r.peers.length === 0;
        const matchAllPorts = r.ports.length === 0;
        const dstPods = matchAllDst ? [] : rulePeerPods(np, r.peers);
        const blocks = matchAllDst ? [] : ipBlockGroups(r.peers);
        const { numeric, named: eps } = matchAllPorts ? { numeric: [], named: [] } : splitPorts(r.ports, matchAllDst ? allPodsNamed() : namedPortsOf(dstPods));
        if (dstPods.length) {
          const d = N.egressPodSet(np.namespace, np.name, i);
          refresh(d, 'hash:ip', podEntries(dstPods));
          for (const p of numeric) rule(ch, `${ref} egress pods`, srcSet, [d], p.protocol, p.port, p.end);
          eps.forEach((e, j) => {
            const ns = N.egressNamedPortSet(np.namespace, np.name, i, j);
            refresh(ns, 'hash:ip', ipEntries(e.ips));
            rule(ch, `${ref} egress pods np`, srcSet, [ns], e.protocol, String(e.port), '');
          });
          if (matchAllPorts) rule(ch, `${ref} egress pods`, srcSet, [d], '', '', '');
        }
        if (matchAllDst && !matchAllPorts) {
          for (const p of numeric) rule(ch, `${ref} egress any`, srcSet, [], p.protocol, p.port, p.end);
          eps.forEach((e, j) => {
            const ns = N.egressNamedPortSet(np.namespace, np.name, i, j);
            refresh(ns, 'hash:ip', ipEntries(e.ips));
            rule(ch, `${ref} egress any np`, srcSet, [ns], e.protocol, String(e.port), '');
          });
        }
        if (matchAllDst && matchAllPorts) rule(ch, `${ref} egress any`, srcSet, [], '', '', '');
        for (const g of blocks) {
          const b = g.k === undefined ? N.egressIpBlockSet(np.namespace, np.name, i) : N.egressIpBlockPeerSet(np.namespace, np.name, i, g.k);
          refresh(b, 'hash:net', g.entries);
          if (!matchAllPorts) {
            for (const p of numeric) rule(ch, `${ref} egress cidr`, srcSet, [b], p.protocol, p.port, p.end);
            const { named: beps } = splitPorts(r.ports, allPodsNamed());
            beps.forEach((e, j) => {
              const ns = N.egressIpBlockNamedPortSet(np.namespace, np.name, i, j);
              refresh(ns, 'hash:ip', ipEntries(e.ips));
              rule(ch, `${ref} egress cidr np`, srcSet, [b, ns], e.protocol, String(e.port), '');
            });
          } else rule(ch, `${ref} egress cidr`, srcSet, [b], '', '', '');
        }
      });
    }
  }

  // --- ANP / BANP tiers (podwire) ------------------------------------------------------------
  const anpPeerIps = (peer: AnpPeer): { ips: string[]; nets: string[] } => {
    // hash:net takes no /0 (ipset: "The value of the CIDR parameter … is invalid"): two /1s, as for ipBlocks.
    if (peer.networks) return { ips: [], nets: peer.networks.flatMap((n) => (n.net.prefix === 0 ? ['0.0.0.0/1', '128.0.0.0/1'] : [n.cidr])) };
    if (peer.nodes) {
      const s = sels.get(peer.nodes);
      const ips: string[] = [];
      for (const n of c.nodes) if (s.matches(n.labels)) ips.push(...n.ips);
      // hostNetwork pods on those nodes carry the node's address: already in.
      return { ips, nets: [] };
    }
    const nsSel = sels.get(peer.namespaces ?? peer.pods!.namespaceSelector);
    const podSel = peer.pods ? sels.get(peer.pods.podSelector) : null;
    return { ips: act.filter((p) => nsSel.matches(nsLabels(c, p.namespace)) && (!podSel || podSel.matches(p.labels))).map((p) => p.ip), nets: [] };
  };
  const anpPorts = (ports: readonly AnpPort[] | undefined): { protocol: string; port: string; end: string; set?: Ep }[] => {
    if (!ports) return [{ protocol: '', port: '', end: '' }];
    const out: { protocol: string; port: string; end: string; set?: Ep }[] = [];
    for (const p of ports) {
      if (p.kind === 'number') out.push({ protocol: p.protocol, port: String(p.port), end: '' });
      else if (p.kind === 'range') { if (p.start <= p.end) out.push({ protocol: p.protocol, port: String(p.start), end: String(p.end) }); }
      else for (const [, eps] of allPodsNamed().get(p.name) ?? new Map<string, Ep[]>()) for (const e of eps) out.push({ protocol: e.protocol, port: String(e.port), end: '', set: e });
    }
    return out;
  };
  const tiers: Tier[] = [];
  const renderTier = <A extends string>(tier: 'anp' | 'banp', name: string, dir: 'ingress' | 'egress', rules: readonly AnpRule<A>[], chain: string) => {
    chains.push(chain);
    annotated.push({ chain, kind: 'anp', dir });
    const ref = tier === 'anp' ? `anp/${name}` : `banp/${name}`;
    lines.push(`-A ${chain} -m comment --comment ${q(`${ref} allowed before`)} -m mark --mark ${MARK_OK} -j RETURN`);
    if (tier === 'anp') lines.push(`-A ${chain} -m comment --comment ${q(`${ref} passed before`)} -m mark --mark ${MARK_PASS} -j RETURN`);
    rules.forEach((r, i) => {
      const ips: string[] = [], nets: string[] = [];
      for (const p of r.peers) { const x = anpPeerIps(p); ips.push(...x.ips); nets.push(...x.nets); }
      const peerSets: string[] = [];
      if (r.peers.some((p) => !p.networks)) { const s = N.anpPeerSet(tier, name, dir, i, 'pod'); refresh(s, 'hash:ip', ipEntries(ips)); peerSets.push(s); }
      if (nets.length) { const s = N.anpPeerSet(tier, name, dir, i, 'net'); refresh(s, 'hash:net', nets.map((n) => [n, 'timeout', '0'])); peerSets.push(s); }
      const cmt = `${ref} ${dir} rule ${r.name || i} ${r.action}`;
      let j = 0;
      for (const ps of peerSets) {
        for (const pt of anpPorts(r.ports)) {
          const setFlag = dir === 'ingress' ? 'src' : 'dst';
          let m = `-A ${chain} -m comment --comment ${q(cmt)} -m set --match-set ${ps} ${setFlag}`;
          if (pt.set) { const s = N.anpNamedPortSet(tier, name, dir, i, j++); refresh(s, 'hash:ip', ipEntries(pt.set.ips)); m += ` -m set --match-set ${s} dst`; }
          if (pt.protocol) m += ` -p ${pt.protocol}`;
          if (pt.port) m += ` --dport ${pt.end ? `${pt.port}:${pt.end}` : pt.port}`;
          if (r.action === 'Allow') { lines.push(`${m} -j MARK --set-xmark ${MARK_OK}`); lines.push(`${m} -m mark --mark ${MARK_OK} -j RETURN`); }
          else if (r.action === 'Pass') { lines.push(`${m} -j MARK --set-xmark ${MARK_PASS}`); lines.push(`${m} -m mark --mark ${MARK_PASS} -j RETURN`); }
          else if (tier === 'anp') lines.push(`${m} -j REJECT`);
          else lines.push(`${m} -j RETURN`);
        }
      }
    });
    if (tier === 'banp') lines.push(`-A ${chain} -m comment --comment ${q(`${ref} no rule matches`)} -j ${N.CH.DEFAULT}`);
  };
  const sortedAnps = [...c.anps].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const subj = (s: AdminNetworkPolicy['subject']) =>
    s.pods ? { subjectNs: sels.get(s.pods.namespaceSelector), subjectPod: sels.get(s.pods.podSelector) } : { subjectNs: sels.get(s.namespaces ?? {}) };
  for (const a of sortedAnps) {
    const t: Tier = { tier: 'anp', name: a.name, ...subj(a.subject), chains: {} };
    if (a.ingress.length) { t.chains.ingress = N.anpChain(a.name, 'ingress', version); renderTier('anp', a.name, 'ingress', a.ingress, t.chains.ingress); }
    if (a.egress.length) { t.chains.egress = N.anpChain(a.name, 'egress', version); renderTier('anp', a.name, 'egress', a.egress, t.chains.egress); }
    tiers.push(t);
  }
  let banp: Tier | undefined;
  if (c.banp) {
    banp = { tier: 'banp', name: c.banp.name, ...subj(c.banp.subject), chains: { ingress: N.banpChain('ingress', version), egress: N.banpChain('egress', version) } };
    renderTier('banp', c.banp.name, 'ingress', c.banp.ingress, banp.chains.ingress!);
    renderTier('banp', c.banp.name, 'egress', c.banp.egress, banp.chains.egress!);
  }
  const tierSelects = tierSelector(c);

  const podsByHost = new Map<string, NpPod[]>();
  for (const p of act) (podsByHost.get(p.hostIP) ?? podsByHost.set(p.hostIP, []).get(p.hostIP)!).push(p);
  const policiesOf = new Map<NpPod, PolInfo[]>();
  for (const info of infos) for (const p of info.targets) (policiesOf.get(p) ?? policiesOf.set(p, []).get(p)!).push(info);
  return { cluster: c, version, sets, chains, annotated, lines, typeQueries, podsByHost, policiesOf, tiers, banp, tierSelects };
}

/** Whether tier `t`'s subject selects pod `p` (made outside renderPolicies: the rendering keeps it, not the render's working state). */
function tierSelector(c: NpCluster): (t: Tier, p: NpPod) => boolean {
  return (t, p) => t.subjectNs.matches(nsLabels(c, p.namespace)) && (!t.subjectPod || t.subjectPod.matches(p.labels));
}

/**
 * The node's own part of a sync (KUBE-ROUTER-INPUT's head, the local pods' chains and jumps, the tail rules) after the shared one.
 * The chains (one name per local pod) are known at once; the lines are written when first read (`NodeRender.local`), as most
 * nodes of a large cluster never need them.
 */
export function renderLocal(pr: PolicyRender, cfg: NpNodeConfig): NodeRender {
  const podChains: PodChainInfo[] = [];
  const seen = new Set<string>();
  for (const pod of localPods(pr, cfg.nodeIPs)) {
    if (seen.has(pod.ip)) continue; // kube-router keys local pods by IP
    seen.add(pod.ip);
    podChains.push({ chain: N.podFwChain(pod.namespace, pod.name, pr.version), pod });
  }
  return new NodeRender(pr, cfg, podChains);
}

/** The node's own lines: KUBE-ROUTER-INPUT's head, per local pod its chain and jumps (syncPodFirewallChains), the tail rules. */
function localLines(pr: PolicyRender, cfg: NpNodeConfig, podChains: readonly PodChainInfo[]): string[] {
  const { tiers, banp, tierSelects } = pr;
  const lines: string[] = [];

  // --- KUBE-ROUTER-INPUT head (ensureTopLevelChains' positioned RETURNs) ---------------------
  for (const r of inputHeadRules(cfg)) lines.push(r);

  // --- pod chains (syncPodFirewallChains) ----------------------------------------------------
  for (const { chain: fw, pod } of podChains) {
    const ip = pod.ip;
    const ref = `${pod.namespace}/${pod.name}`;
    let hasIngress = false, hasEgress = false;
    for (const info of pr.policiesOf.get(pod) ?? []) {
      const cmt = q(`${info.np.namespace}/${info.np.name} policy`);
      if (info.ingressChain) { hasIngress = true; lines.push(`-I ${fw} 1 -d ${ip} -m comment --comment ${cmt} -j ${info.ingressChain}`); }
      if (info.egressChain) { hasEgress = true; lines.push(`-I ${fw} 1 -s ${ip} -m comment --comment ${cmt} -j ${info.egressChain}`); }
    }
    const banpSel = banp && tierSelects(banp, pod);
    if (!hasIngress) lines.push(banpSel ? `-I ${fw} 1 -d ${ip} -m comment --comment "baseline ingress" -j ${banp!.chains.ingress}` : `-I ${fw} 1 -d ${ip} -m comment --comment "default ingress" -j ${N.CH.DEFAULT}`);
    if (!hasEgress) lines.push(banpSel ? `-I ${fw} 1 -s ${ip} -m comment --comment "baseline egress" -j ${banp!.chains.egress}` : `-I ${fw} 1 -s ${ip} -m comment --comment "default egress" -j ${N.CH.DEFAULT}`);
    // ANP jumps in priority order once the -I 1 inserts have run: written last-first.
    const anpJumps: string[] = [];
    for (const t of tiers) {
      if (!tierSelects(t, pod)) continue;
      if (t.chains.ingress) anpJumps.push(`-I ${fw} 1 -d ${ip} -m comment --comment ${q(`anp/${t.name} ingress`)} -j ${t.chains.ingress}`);
      if (t.chains.egress) anpJumps.push(`-I ${fw} 1 -s ${ip} -m comment --comment ${q(`anp/${t.name} egress`)} -j ${t.chains.egress}`);
    }
    for (let k = anpJumps.length - 1; k >= 0; k--) lines.push(anpJumps[k]);
    lines.push(`-I ${fw} 1 -m comment --comment "from local node" -m addrtype --src-type LOCAL -d ${ip} -j ACCEPT`);
    lines.push(`-I ${fw} 1 -m comment --comment "common netpol rules" -j ${N.CH.COMMON}`);
    // interceptPodInboundTraffic / interceptPodOutboundTraffic
    const inC = q(`${ref} in`), outC = q(`${ref} out`);
    lines.push(`-A ${N.CH.FORWARD} -m comment --comment ${inC} -d ${ip} -j ${fw}`);
    lines.push(`-A ${N.CH.OUTPUT} -m comment --comment ${inC} -d ${ip} -j ${fw}`);
    lines.push(`-A ${N.CH.FORWARD} -m physdev --physdev-is-bridged -m comment --comment ${inC} -d ${ip} -j ${fw}`);
    for (const top of [N.CH.INPUT, N.CH.FORWARD, N.CH.OUTPUT]) lines.push(`-A ${top} -m comment --comment ${outC} -s ${ip} -j ${fw}`);
    lines.push(`-A ${N.CH.FORWARD} -m physdev --physdev-is-bridged -m comment --comment ${outC} -s ${ip} -j ${fw}`);
    // dropUnmarkedTrafficRules, then the netpol-ok mark
    lines.push(`-A ${fw} -m comment --comment ${q(`${ref} log-drop`)} -m mark ! --mark ${MARK_OK} -j NFLOG --nflog-group 100 -m limit --limit 10/minute --limit-burst 10`);
    lines.push(`-A ${fw} -m comment --comment ${q(`${ref} reject`)} -m mark ! --mark ${MARK_OK} -j REJECT`);
    lines.push(`-A ${fw} -j MARK --set-mark 0/0x10000`);
    if (anpJumps.length) lines.push(`-A ${fw} -j MARK --set-mark 0/0x40000`);
    lines.push(`-A ${fw} -m comment --comment "set netpol-ok mark" -j MARK --set-mark ${MARK_NETPOL_OK}`);
  }

  // --- ensureTailChainPosition, ensureExplicitAccept -----------------------------------------
  for (const top of [N.CH.INPUT, N.CH.FORWARD, N.CH.OUTPUT])
    lines.push(`-A ${top} -m comment --comment "rule to explicitly handle traffic for network policies ACCEPT/REJECT decision" -j ${N.CH.TAIL}`);
  for (const top of [N.CH.INPUT, N.CH.FORWARD, N.CH.OUTPUT])
    lines.push(`-A ${top} -m comment --comment "rule to explicitly ACCEPT traffic that comply to network policies" -m mark --mark ${MARK_NETPOL_OK} -j ACCEPT`);
  return lines;
}

/** The actionable pods whose hostIP is one of the node's addresses, in store order. */
function localPods(pr: PolicyRender, nodeIPs: readonly string[]): readonly NpPod[] {
  if (nodeIPs.length === 1) return pr.podsByHost.get(nodeIPs[0]) ?? [];
  const ips = new Set(nodeIPs);
  const out: NpPod[] = [];
  for (const list of pr.podsByHost.values()) for (const p of list) if (ips.has(p.hostIP)) out.push(p);
  // Store order across the addresses: podsByHost's lists are each in store order.
  const order = new Map<NpPod, number>();
  pr.cluster.pods.forEach((p, i) => order.set(p, i));
  return out.sort((a, b) => order.get(a)! - order.get(b)!);
}

/**
 * A node's rendering: the shared part's chains/lines first, then its own (concatenated on demand, not kept per node).
 * Its own chains are its pod chains; its own lines are written when first read.
 */
export class NodeRender implements Rendered {
  private own: { readonly chains: readonly string[]; readonly annotated: readonly AnnotatedChain[]; readonly lines: readonly string[] } | null = null;
  constructor(readonly policy: PolicyRender, private readonly cfg: NpNodeConfig, readonly podChains: PodChainInfo[]) {}
  get sets(): Map<string, IpsetSpec> { return this.policy.sets; }
  get chains(): string[] { return [...this.policy.chains, ...this.podChains.map((p) => p.chain)]; }
  get annotated(): AnnotatedChain[] { return [...this.policy.annotated, ...this.podChains.map(podAnnotation)]; }
  get lines(): string[] { return [...this.policy.lines, ...this.local.lines]; }
  /** The node's own chains (pod chains), annotations and lines. */
  get local(): { readonly chains: readonly string[]; readonly annotated: readonly AnnotatedChain[]; readonly lines: readonly string[] } {
    return this.own ??= { chains: this.podChains.map((p) => p.chain), annotated: this.podChains.map(podAnnotation), lines: localLines(this.policy, this.cfg, this.podChains) };
  }
}

const podAnnotation = (p: PodChainInfo): AnnotatedChain => ({ chain: p.chain, kind: 'pod', pod: p.pod });

/** The RETURN rules kube-router keeps at the top of KUBE-ROUTER-INPUT (service ranges, LOCAL NodePorts), with their UUID comments. */
export function inputHeadRules(cfg: NpNodeConfig): readonly string[] {
  // The same for every node of a cluster: made once per (service ranges, NodePort range).
  const key = `${cfg.serviceCIDRs.join(',')} ${cfg.nodePortRange}`;
  let out = inputHeads.get(key);
  if (!out) inputHeads.set(key, (out = Object.freeze(renderInputHead(cfg))));
  return out;
}

const inputHeads = new Map<string, readonly string[]>();

function renderInputHead(cfg: NpNodeConfig): string[] {
  const out: string[] = [];
  const withUuid = (args: string[]): string => {
    const uuid = N.ruleUuid(N.CH.INPUT, args);
    const i = args.indexOf('--comment');
    const a = args.slice();
    a[i + 1] = q(`${a[i + 1]} - ${uuid}`);
    return `-A ${N.CH.INPUT} ${a.join(' ')}`;
  };
  for (const r of cfg.serviceCIDRs) out.push(withUuid(['-m', 'comment', '--comment', 'allow traffic to primary/secondary cluster IP range', '-d', r, '-j', 'RETURN']));
  for (const [p, P] of [['tcp', 'TCP'], ['udp', 'UDP'], ['sctp', 'SCTP']]) {
    out.push(withUuid(['-p', p, '-m', 'comment', '--comment', `allow LOCAL ${P} traffic to node ports`, '-m', 'addrtype', '--dst-type', 'LOCAL', '-m', 'multiport', '--dports', cfg.nodePortRange, '-j', 'RETURN']));
  }
  return out;
}

/** The built-in chains' jumps (`-I CHAIN 1 …` when missing), with kube-router's UUID comments. */
export function builtinJump(builtin: 'INPUT' | 'FORWARD' | 'OUTPUT'): { comment: string; target: string; args: string } {
  const target = `KUBE-ROUTER-${builtin}`;
  const uuid = N.ruleUuid(builtin, ['-m', 'comment', '--comment', 'kube-router netpol', '-j', target]);
  const comment = `kube-router netpol - ${uuid}`;
  return { comment, target, args: `-m comment --comment ${q(comment)} -j ${target}` };
}

/** The chains kube-router creates once at start-up (Run): KUBE-NWPLCY-DEFAULT, -COMMON, -TAIL. */
export function startupLines(): string[] {
  return [
    `-A ${N.CH.DEFAULT} -m comment --comment "rule to mark traffic matching a network policy" -j MARK --set-xmark ${MARK_OK}`,
    // go-iptables passes the comment with its quotes (npc_iptables.go writes "\"…\"").
    `-A ${N.CH.COMMON} -m comment --comment "\\"rule to drop invalid state for pod\\"" -m conntrack --ctstate INVALID -j DROP`,
    `-A ${N.CH.COMMON} -m comment --comment "\\"rule for stateful firewall for pod\\"" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${N.CH.COMMON} -m comment --comment "allow icmp echo requests" -p icmp --icmp-type echo-request -j ACCEPT`,
    `-A ${N.CH.COMMON} -m comment --comment "allow icmp destination unreachable messages" -p icmp --icmp-type destination-unreachable -j ACCEPT`,
    `-A ${N.CH.COMMON} -m comment --comment "allow icmp time exceeded messages" -p icmp --icmp-type time-exceeded -j ACCEPT`,
    `-A ${N.CH.TAIL} -m comment --comment "accept netpol-ok" -m mark --mark ${MARK_NETPOL_OK} -j ACCEPT`,
  ];
}
