/**
 * What felix (Calico's per-node agent, iptables dataplane) programs for one
 * node, as data: the filter and nat chains of its `iptables-restore` and the
 * ipsets. Pure: a function of the informer's cluster view (pods, namespaces,
 * NetworkPolicies, AdminNetworkPolicies, the BaselineAdminNetworkPolicy,
 * nodes) and the node's configuration. agent.ts applies it.
 *
 * Version followed: felix's rule renderer as of Calico v3.30 (felix/rules
 * static.go, endpoints.go, policy.go, nat.go; libcalico-go k8s and ANP
 * conversion), with per-tier default actions (adminnetworkpolicy: Pass,
 * default: Deny, baselineadminnetworkpolicy: Pass). The NAT-outgoing sets
 * use the `all-ipam-pools` / `masq-ipam-pools` ids (felix before the
 * `network-ip-pools` rename). Read for facts only; see REFERENCE §8.3–8.5.
 *
 * Selector sets are hash:net (as felix creates them), named-port sets hash:ip,port.
 *
 * Layout (chain names from src/calico/names.ts; marks §8.3: accept 0x10000,
 * pass 0x20000, drop 0x40000, scratch0 0x80000, scratch1 0x100000, mask
 * 0xffff0000):
 *
 *   filter INPUT   -I 1 -j cali-INPUT     FORWARD -I 1 -j cali-FORWARD, and appended
 *   filter OUTPUT  -I 1 -j cali-OUTPUT    `-m mark --mark 0x10000/0x10000 -j ACCEPT`,
 *                                         `-j MARK --set-mark 0x10000/0x10000`
 *   cali-FORWARD: clear all Calico bits but accept (allCalicoMarkBits = accept|pass|
 *     scratch0|scratch1 = 0x1b0000, so `--set-xmark 0x0/0x1a0000`; cali-INPUT/OUTPUT clear
 *     0x1b0000); cali-from-hep-forward when accept is clear; -i cali+ → cali-from-wl-dispatch;
 *     -o cali+ → cali-to-wl-dispatch; cali-to-hep-forward; cali-cidr-block.
 *   cali-INPUT: [IPIP from cali40all-hosts-net to a local address → ACCEPT, other
 *     IPIP → DROP]; [VXLAN (UDP 4789) to a local address from cali40all-vxlan-net → ACCEPT,
 *     other → DROP]; -i cali+ -g cali-wl-to-host; accepted → ACCEPT; clear marks;
 *     cali-from-host-endpoint; accepted → ACCEPT.
 *   cali-wl-to-host: cali-from-wl-dispatch, then DefaultEndpointToHostAction.
 *   cali-OUTPUT: accepted → ACCEPT; -o cali+ → RETURN (host → local workload is not
 *     policed); [IPIP to cali40all-hosts-net → ACCEPT]; [VXLAN to cali40all-vxlan-net →
 *     ACCEPT]; clear; ! DNAT → cali-to-host-endpoint; accepted → ACCEPT.
 *   cali-from-wl-dispatch / cali-to-wl-dispatch: felix's shallow tree (dispatch.go): interface
 *     names sorted, binned by the character after their common prefix; a bin of several names
 *     is a child chain cali-from-wl-dispatch-<c> (`-i cali<c>+ -g` from the root) holding
 *     `-i caliX -g cali-fw-caliX` per name and DROP "Unknown interface"; a single name is
 *     dispatched from the root; the root ends with DROP "Unknown interface".
 *   cali-tw-X / cali-fw-X (endpoints.go order): RELATED,ESTABLISHED → ACCEPT; INVALID →
 *     DROP; MARK clear accept|pass; fw only: DROP UDP to 4789 and IP proto 4 ("… encapped
 *     packets originating in workloads"); per tier that has policies for the endpoint and
 *     direction: clear pass ("Start of tier T"), per policy group (consecutive policies with
 *     the same selector; one policy is inlined) `-m mark --mark 0x0/0x20000 -j cali-pi|po-<id>`
 *     or `-j cali-gi|go-<uid>` + `-m mark --mark 0x10000/0x10000 -j RETURN` ("Return if policy
 *     accepted"), and, for a tier whose default action is Deny (default tier only),
 *     `-m mark --mark 0x0/0x20000 -j DROP` ("End of tier default. Drop if no policies passed
 *     packet"); then the profiles cali-pri|pro-kns.<ns> and cali-pri|pro-ksa.<ns>.<sa>, each
 *     + "Return if profile accepted"; DROP "Drop if no profiles matched".
 *   cali-pi-<id> / cali-po-<id>: per Calico rule (see `ruleBodies`): Allow → MARK 0x10000 +
 *     RETURN, Deny → MARK 0x40000 + DROP, Pass → MARK 0x20000 + RETURN; trailing RETURNs
 *     stripped; the first rule carries the chain comment ("KubernetesNetworkPolicy x/name
 *     ingress", "KubernetesAdminNetworkPolicy name egress", …).
 *   cali-gi-<uid> / cali-go-<uid> (policy groups): `-j cali-pi-<first>`, then
 *     `-m mark --mark 0x0/0x30000 -j cali-pi-<next>` …, with `-m mark ! --mark 0x0/0x30000
 *     -j RETURN` ("Return on verdict") before every fifth.
 *   cali-pri-kns.<ns> / cali-pro-kns.<ns>: the namespace profile: allow (MARK 0x10000);
 *     cali-pri-ksa.<ns>.<sa> / cali-pro-ksa.…: the service account's profile, no rules.
 *   nat PREROUTING/OUTPUT → cali-PREROUTING/cali-OUTPUT → cali-fip-dnat; POSTROUTING →
 *     cali-POSTROUTING: cali-fip-snat, cali-nat-outgoing, then per tunnel device
 *     `-o DEV -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL
 *     -j MASQUERADE`; cali-nat-outgoing: `-m set --match-set cali40masq-ipam-pools src -m set
 *     ! --match-set cali40all-ipam-pools dst -j MASQUERADE` when a pool has natOutgoing.
 *
 * Kubernetes NetworkPolicy → Calico rules (k8s conversion): one rule per protocol of the
 * rule's ports (sorted; a protocol with a port-less entry matches all its ports; no ports:
 * any protocol) × peer (no peer: any source/destination). Pod and
 * namespace selectors become a selector ipset (selector.ts); ipBlock becomes Nets=[cidr],
 * NotNets=except; numeric ports and endPort ranges go into one multiport match (≤15
 * slots per rule, more split into a block); a named port becomes a hash:ip,port set of
 * the destination endpoints having it. Several match alternatives are combined with
 * felix's match blocks on the scratch bits (policy.go matchBlockBuilder): the first
 * positive block sets scratch0 directly, later ones go through scratch1 and AND into
 * scratch0; a negated block (ipBlock except) starts with scratch0 set and clears it on
 * any match; the rule then requires `-m mark --mark 0x80000/0x80000`.
 *
 * AdminNetworkPolicy → tier `adminnetworkpolicy` (order = priority, then name), actions
 * Allow/Deny/Pass, one Calico rule per protocol of the rule's ports (outer) × peer (inner),
 * ports in the order given, a policy type only when it has rules (libcalico-go's ANP
 * conversion, as its tests state); BaselineAdminNetworkPolicy → tier
 * `baselineadminnetworkpolicy` (Allow/Deny) after the default tier. Peers: namespaces → the pcns. namespace selector;
 * pods → namespace && pod selector; networks → destination nets; nodes → the selected
 * nodes' addresses as destination nets (podwire: felix would match host endpoints, which
 * this model has none of). A named port, whose protocol is the container port's, is
 * rendered once per protocol (TCP, UDP, SCTP). Policy ids: `knp/<ns>/<name>`,
 * `kanp/<name>`, `kbanp/<name>` (felix's short kinds). Departure: Calico's conversion
 * drops a rule with a reversed port range (start > end; a Deny becomes deny-all), the
 * reference evaluator only ignores that range, and podwire follows the evaluator.
 *
 * Rule comments: every rule starts with `-m comment --comment "cali:<hash>"`; felix's
 * exact hash input is not known (REFERENCE §11.6), so podwire uses base64url(sha224(chain
 * name + previous rule's hash + the rule's text))[:16] — stable, and changing with the
 * rule's content and position like felix's.
 */
import * as nodeCrypto from 'node:crypto';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../../kube/networkpolicy.js';
import type { AdminNetworkPolicy, AnpPeer, AnpPort, AnpRule } from '../../kube/admin-network-policy.js';
import type { LabelSelector, Labels } from '../../kube/labels.js';
import { compileSelector } from '../../kube/policy-selector.js';
import { endpointChainName, knpPolicyId, lengthLimitedId, policyChainName, workloadInterfaceName, DEFAULT_INTERFACE_PREFIX } from '../names.js';
import type { NpCluster, NpPod } from '../../netpol/render.js';
import { anpPeerSelector, ipsetName, namedPortSet, npPeerSelector, selectorSet, selectorString, type SelNode } from './selector.js';

// ---------------------------------------------------------------------------------------------
// Marks (REFERENCE §8.3)

export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
export const MARK_DROP = 0x40000;
export const MARK_SCRATCH0 = 0x80000;
export const MARK_SCRATCH1 = 0x100000;
export const MARK_MASK = 0xffff0000;
/** allCalicoMarkBits: accept | pass | scratch0 | scratch1 (IPsec and DNS-policy bits are 0 here; drop is not among them). */
export const ALL_CALICO_BITS = MARK_ACCEPT | MARK_PASS | MARK_SCRATCH0 | MARK_SCRATCH1;
export const VXLAN_PORT = 4789;

const hex = (n: number): string => '0x' + (n >>> 0).toString(16);
const setMark = (v: number, m: number): string => `-j MARK --set-mark ${hex(v)}/${hex(m)}`;
const markSet = (bit: number): string => `-m mark --mark ${hex(bit)}/${hex(bit)}`;
const markClear = (bit: number): string => `-m mark --mark 0x0/${hex(bit)}`;
const comment = (c: string): string => `-m comment --comment "${c}"`;

// ---------------------------------------------------------------------------------------------
// Inputs and outputs

/** An IP pool as felix needs it (src/calico/ipam.ts's IPPool has more). */
export interface FelixPool { cidr: string; natOutgoing: boolean; disabled: boolean }

export type EndpointToHostAction = 'ACCEPT' | 'DROP' | 'RETURN';

export interface FelixNodeConfig {
  /** The Node object's name: local workloads are pods with spec.nodeName equal to it. */
  nodeName: string;
  /** This node's addresses (pods whose status.hostIP is one of them are local too). */
  nodeIPs: readonly string[];
  /** IP pools (natOutgoing masquerade, cali40all/masq-ipam-pools). */
  pools: readonly FelixPool[];
  /** IPIP on (tunl0 has an address): the IPIP INPUT/OUTPUT rules and tunl0's MASQUERADE. */
  ipip: boolean;
  /** VXLAN on (vxlan.calico has an address): the VXLAN INPUT/OUTPUT rules (cali40all-vxlan-net) and vxlan.calico's MASQUERADE rule. */
  vxlan: boolean;
  /** FELIX_DEFAULTENDPOINTTOHOSTACTION; felix's own default is DROP, calico.yaml sets ACCEPT. */
  defaultEndpointToHostAction: EndpointToHostAction;
  /** FELIX_INTERFACEPREFIX (first entry). */
  interfacePrefix: string;
}

export const DEFAULT_FELIX_CONFIG = {
  pools: [] as readonly FelixPool[],
  ipip: false,
  vxlan: false,
  defaultEndpointToHostAction: 'ACCEPT' as EndpointToHostAction,
  interfacePrefix: DEFAULT_INTERFACE_PREFIX,
};

/**
 * A chain as felix writes it: rule `i` is `-A NAME -m comment --comment "COMMENTS[i]" BODIES[i]`
 * (`chainLines`), COMMENTS[i] being `cali:<the rule's hash>`. The bodies array is shared by the
 * chains of pods alike (their endpoint chains differ in name and hashes only) and a chain object
 * by every node whose chain is the same (render's SharedView): agent.ts parses each bodies array
 * and each shared chain once, and its comment matches hold the strings of `comments`.
 */
export interface FelixChain {
  name: string;
  table: 'filter' | 'nat';
  bodies: readonly string[];
  comments: readonly string[];
}

/** The chain's rule lines (`-A NAME -m comment --comment "cali:HASH" BODY`), as felix's iptables-restore input has them. */
export function chainLines(c: FelixChain): string[] {
  return c.bodies.map((b, i) => `-A ${c.name} ${comment(c.comments[i]!)}${b ? ' ' + b : ''}`);
}

export interface FelixIpset { name: string; type: 'hash:ip' | 'hash:net' | 'hash:ip,port'; entries: string[] }

export interface FelixEndpoint { pod: NpPod; iface: string; tw: string; fw: string }

export type Direction = 'ingress' | 'egress';

/** A policy chain and what it renders (for trace annotations). */
export interface FelixPolicyChain { chain: string; dir: Direction; kind: 'knp' | 'kanp' | 'kbanp'; ref: string }

export interface FelixRendered {
  /** Felix's chains, filter then nat (their rule lines: `chainLines`). */
  chains: FelixChain[];
  /** Built-in chain rules: inserted at position 1 (`args` after `-I CHAIN 1`), and FORWARD's appended rules. */
  inserts: { table: 'filter' | 'nat'; chain: string; args: string }[];
  appends: { table: 'filter'; chain: 'FORWARD'; args: string }[];
  sets: Map<string, FelixIpset>;
  endpoints: FelixEndpoint[];
  policyChains: FelixPolicyChain[];
  /** Per endpoint chain, the tiers rendered in it (for traces and tests). */
  tiers: Map<string, string[]>;
}

// ---------------------------------------------------------------------------------------------
// Rule hashes

/** crypto.hash (Node >= 20.12): one call, no Hash object. */
const oneShotHash = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash;
const sha224 = (s: string): string => (oneShotHash ? oneShotHash('sha224', s, 'base64url') : nodeCrypto.createHash('sha224').update(s).digest('base64url'));

function ruleHash(chain: string, prev: string, body: string): string {
  return sha224(`${chain}\0${prev}\0${body}`).slice(0, 16);
}

/**
 * `cali:` + the rule's hash: one flat string per rule (join builds it flat: a concatenation or a
 * slice would keep a cons cell or the whole digest alive), held by its comment match too.
 */
function ruleComment(chain: string, prevComment: string, body: string): string {
  return ['cali:', sha224(`${chain}\0${prevComment.slice(5)}\0${body}`).slice(0, 16)].join('');
}

/** The chain `name` of `bodies`, each rule's hash chained to the previous one's. */
function hashedChain(name: string, table: 'filter' | 'nat', bodies: readonly string[]): FelixChain {
  let prev = 'cali:';
  const comments = bodies.map((b) => (prev = ruleComment(name, prev, b)));
  return { name, table, bodies, comments };
}

// ---------------------------------------------------------------------------------------------
// Calico rules (the proto.Rule fields podwire needs)

type CalicoAction = 'allow' | 'deny' | 'pass';
type Proto = 'tcp' | 'udp' | 'sctp';

interface CalicoRule {
  action: CalicoAction;
  protocol?: Proto;
  srcSet?: string;
  dstSet?: string;
  srcNets: string[];
  notSrcNets: string[];
  dstNets: string[];
  notDstNets: string[];
  dstPorts: { first: number; last: number }[];
  /** hash:ip,port set names. */
  dstNamedPortSets: string[];
}

const emptyRule = (action: CalicoAction): CalicoRule => ({ action, srcNets: [], notSrcNets: [], dstNets: [], notDstNets: [], dstPorts: [], dstNamedPortSets: [] });

/** SplitPortList: groups of at most 15 multiport slots (a range takes 2). */
function splitPorts(ports: readonly { first: number; last: number }[]): { first: number; last: number }[][] {
  const out: { first: number; last: number }[][] = [];
  let cur: { first: number; last: number }[] = [];
  let slots = 15;
  for (const p of ports) {
    const need = p.first === p.last ? 1 : 2;
    if (slots < need) { out.push(cur); cur = []; slots = 15; }
    cur.push(p);
    slots -= need;
  }
  if (cur.length) out.push(cur);
  return out;
}

const portList = (ps: readonly { first: number; last: number }[]): string => ps.map((p) => (p.first === p.last ? `${p.first}` : `${p.first}:${p.last}`)).join(',');

/** ProtoRuleToIptablesRules: the match blocks, the main match, the action rules. */
function ruleBodies(r: CalicoRule): string[] {
  const out: string[] = [];
  let using = false, donePositive = false;
  const initial = (bits: number) => {
    if (using) return;
    out.push(setMark(bits, MARK_SCRATCH0 | MARK_SCRATCH1));
    using = true;
  };
  const positiveBit = () => (donePositive ? MARK_SCRATCH1 : MARK_SCRATCH0);
  const finishPositive = () => {
    if (!donePositive) { donePositive = true; return; }
    out.push(`${markClear(MARK_SCRATCH1)} ${setMark(0, MARK_SCRATCH0)}`);
  };
  let dstPorts = r.dstPorts, named = r.dstNamedPortSets, srcNets = r.srcNets, dstNets = r.dstNets, notSrc = r.notSrcNets, notDst = r.notDstNets;
  const proto = r.protocol ? `-p ${r.protocol}` : '';
  const splits = splitPorts(dstPorts);
  if (splits.length + named.length > 1) {
    initial(0);
    const bit = positiveBit();
    for (const s of splits) out.push(`${proto} -m multiport --destination-ports ${portList(s)} ${setMark(bit, bit)}`.trim());
    for (const n of named) out.push(`-m set --match-set ${n} dst,dst ${setMark(bit, bit)}`);
    finishPositive();
    dstPorts = []; named = [];
  }
  for (const [nets, flag, set] of [[srcNets, '-s', (v: string[]) => { srcNets = v; }], [dstNets, '-d', (v: string[]) => { dstNets = v; }]] as const) {
    if (nets.length > 1) {
      initial(0);
      const bit = positiveBit();
      for (const c of nets) out.push(`${flag} ${c} ${setMark(bit, bit)}`);
      finishPositive();
      set([]);
    }
  }
  if (srcNets.length + notSrc.length > 1) {
    initial(MARK_SCRATCH0);
    for (const c of notSrc) out.push(`-s ${c} ${setMark(0, MARK_SCRATCH0)}`);
    notSrc = [];
  }
  if (dstNets.length + notDst.length > 1) {
    initial(MARK_SCRATCH0);
    for (const c of notDst) out.push(`-d ${c} ${setMark(0, MARK_SCRATCH0)}`);
    notDst = [];
  }
  const m: string[] = [];
  if (proto) m.push(proto);
  if (srcNets.length === 1) m.push(`-s ${srcNets[0]}`);
  if (r.srcSet) m.push(`-m set --match-set ${r.srcSet} src`);
  if (dstNets.length === 1) m.push(`-d ${dstNets[0]}`);
  if (r.dstSet) m.push(`-m set --match-set ${r.dstSet} dst`);
  if (dstPorts.length) m.push(`-m multiport --destination-ports ${portList(dstPorts)}`);
  for (const n of named) m.push(`-m set --match-set ${n} dst,dst`);
  if (notSrc.length === 1) m.push(`! -s ${notSrc[0]}`);
  if (notDst.length === 1) m.push(`! -d ${notDst[0]}`);
  if (using) m.push(markSet(MARK_SCRATCH0));
  const match = m.join(' ');
  const bit = r.action === 'allow' ? MARK_ACCEPT : r.action === 'pass' ? MARK_PASS : MARK_DROP;
  out.push(`${match} ${setMark(bit, bit)}`.trim());
  out.push(`${markSet(bit)} ${r.action === 'deny' ? '-j DROP' : '-j RETURN'}`);
  return out;
}

/** ProtoRulesToIptablesRules: all rules, trailing RETURNs stripped, the chain comment on the first. */
function policyChainBodies(rules: readonly CalicoRule[], chainComment: string): string[] {
  const bodies = rules.flatMap(ruleBodies);
  while (bodies.length && bodies[bodies.length - 1]!.endsWith('-j RETURN')) bodies.pop();
  if (bodies.length === 0) bodies.push('');
  bodies[0] = `${comment(chainComment)}${bodies[0] ? ' ' + bodies[0] : ''}`;
  return bodies;
}

// ---------------------------------------------------------------------------------------------
// Dispatch tree (dispatch.go sortAndDivideEndpointNamesToPrefixTree / buildSingleDispatchChains)

/**
 * Names sorted; their common prefix; bins by the next character. A bin of
 * several names becomes a child chain `<root>-<char>` reached by `-i|-o
 * <prefix>+ -g`; a bin of one name is dispatched from the root directly.
 */
export function dispatchTree(names: readonly string[]): { common: string; bins: { prefix: string; names: string[] }[] } {
  const sorted = [...new Set(names)].sort();
  let common = sorted[0] ?? '';
  for (const n of sorted) while (!n.startsWith(common)) common = common.slice(0, -1);
  const bins: { prefix: string; names: string[] }[] = [];
  for (const n of sorted) {
    const prefix = n.length > common.length ? n.slice(0, common.length + 1) : common;
    const last = bins[bins.length - 1];
    if (last && last.prefix === prefix) last.names.push(n);
    else bins.push({ prefix, names: [n] });
  }
  return { common, bins };
}

// ---------------------------------------------------------------------------------------------
// The renderer

interface Ctx {
  cluster: NpCluster;
  sets: Map<string, FelixIpset>;
  /** Workload endpoints of the cluster (pods with an IP, running, not host-network) with their namespace labels. */
  workloads: readonly { pod: NpPod; nsLabels: Labels }[];
  /** What every node's rendering of this cluster view shares. */
  shared: SharedView;
}

/**
 * The parts of a rendering that depend on the cluster view only, made once per view
 * for every node (at 1,000 nodes and 1,000 policies each node would otherwise scan
 * every pod per selector set and compile every policy's selector): the workloads,
 * the tiers with their compiled selectors, and the selector and named-port sets by
 * name (a set's name is a hash of what selects its members, so its content is the
 * same on every node). Sets are shared read-only.
 */
interface SharedView {
  workloads: readonly { pod: NpPod; nsLabels: Labels }[];
  tiers: readonly Tier[];
  nps: readonly NetworkPolicy[];
  sets: Map<string, FelixIpset>;
  /** Workloads by spec.nodeName (those with one), with their place in cluster.pods: a node's own without a scan of every pod. */
  byNode: Map<string, { i: number; pod: NpPod }[]>;
  /** Workloads without a nodeName (local where their hostIP is one of the node's). */
  noNode: { i: number; pod: NpPod }[];
  /**
   * Per namespace and labels (all a policy's subject reads): for each direction and tier, the
   * policies that apply and their groups — pods alike on any node share them.
   */
  applicable: Map<string, { ps: TierPolicy[]; groups: { ids: string[]; chain: string }[] }[][]>;
  /**
   * Chains whose content is the same on every node that renders them (static, policy, group,
   * profile and nat chains), by table, name and bodies: one FelixChain object (hashes computed
   * once), so agent.ts parses each once for every node.
   */
  chains: Map<string, FelixChain>;
  /** Each NetworkPolicy's chain per direction, in felix's order (made on first use). */
  npChains?: { np: NetworkPolicy; dir: Direction; pc: string }[];
  /** Policy chains by name, with the sets their rules use (in the order the rendering adds them). */
  policyChains: Map<string, { chain: FelixChain; sets: FelixIpset[] }>;
  /** Endpoint chain bodies by direction and what decides them (the applicable policies' key, the profiles): one array for pods alike. */
  endpointBodies: WeakMap<object, Map<string, EndpointBodies>>;
}

const sharedViews = new WeakMap<NpCluster, SharedView>();

function sharedView(cluster: NpCluster): SharedView {
  let v = sharedViews.get(cluster);
  if (v === undefined) {
    const workloads = cluster.pods.filter((p) => p.ip !== '' && !p.hostNetwork && !p.finished).map((pod) => ({ pod, nsLabels: nsLabelsOf(cluster, pod.namespace) }));
    const { tiers, nps } = tiersOf(cluster);
    const byNode = new Map<string, { i: number; pod: NpPod }[]>();
    const noNode: { i: number; pod: NpPod }[] = [];
    workloads.forEach(({ pod }, i) => {
      if (pod.nodeName === '') { noNode.push({ i, pod }); return; }
      let l = byNode.get(pod.nodeName);
      if (l === undefined) byNode.set(pod.nodeName, (l = []));
      l.push({ i, pod });
    });
    v = { workloads, tiers, nps, sets: new Map(), byNode, noNode, applicable: new Map(), chains: new Map(), policyChains: new Map(), endpointBodies: new WeakMap() };
    sharedViews.set(cluster, v);
  }
  return v;
}

/** A set whose content depends on the cluster view only: made once per view (SharedView.sets). */
function addViewSet(ctx: Ctx, name: string, type: FelixIpset['type'], entries: () => string[]): void {
  if (ctx.sets.has(name)) return;
  let s = ctx.shared.sets.get(name);
  if (s === undefined) { s = { name, type, entries: [...new Set(entries())].sort() }; ctx.shared.sets.set(name, s); }
  ctx.sets.set(name, s);
}

function nsLabelsOf(c: NpCluster, ns: string): Labels {
  return { ...(c.namespaces.get(ns) ?? {}), 'kubernetes.io/metadata.name': ns };
}

function addSet(ctx: Ctx, name: string, type: FelixIpset['type'], entries: () => string[]): void {
  if (ctx.sets.has(name)) return;
  ctx.sets.set(name, { name, type, entries: [...new Set(entries())].sort() });
}

/** A selector set over workloads matching `pred`. */
function selSet(ctx: Ctx, node: SelNode, pred: (p: NpPod, nsLabels: Labels) => boolean): { name: string; text: string } {
  const s = selectorSet(node);
  addViewSet(ctx, s.name, 'hash:net', () => ctx.workloads.filter((w) => pred(w.pod, w.nsLabels)).map((w) => w.pod.ip));
  return { name: s.name, text: s.text };
}

/** A named-port set: workloads matching `pred` with container port `name`/`protocol`. */
function namedSet(ctx: Ctx, selText: string, pred: (p: NpPod, nsLabels: Labels) => boolean, protocol: Proto, name: string): string {
  const s = namedPortSet(selText, protocol, name);
  addViewSet(ctx, s.name, 'hash:ip,port', () => ctx.workloads.filter((w) => pred(w.pod, w.nsLabels)).flatMap((w) =>
    w.pod.ports.filter((p) => p.name === name && p.protocol.toLowerCase() === protocol).map((p) => `${w.pod.ip},${protocol}:${p.containerPort}`)));
  return s.name;
}

const ALL_PODS = (): boolean => true;
const ALL_TEXT = 'all()';

interface Peer { set?: { name: string; text: string }; pred?: (p: NpPod, nsLabels: Labels) => boolean; nets?: string[]; notNets?: string[] }

function npPeer(ctx: Ctx, ns: string, peer: NetworkPolicyPeer): Peer {
  if (peer.ipBlock) return { nets: [netText(peer.ipBlock.net)], notNets: peer.ipBlock.exceptNets.map(netText) };
  const podSel = peer.podSelector ? compileSelector(peer.podSelector) : undefined;
  const nsSel = peer.namespaceSelector ? compileSelector(peer.namespaceSelector) : undefined;
  const pred = (p: NpPod, nsl: Labels) => (nsSel ? nsSel.matches(nsl) : p.namespace === ns) && (podSel ? podSel.matches(p.labels) : true);
  return { set: selSet(ctx, npPeerSelector(ns, peer.podSelector, peer.namespaceSelector), pred), pred };
}

function netText(n: { base: number; prefix: number }): string {
  const b = n.base >>> 0;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${n.prefix}`;
}

interface PortGroup { protocol?: Proto; numeric: { first: number; last: number }[]; named: string[]; all: boolean }

/**
 * k8s conversion of a rule's ports (k8sRuleToCalico): one group per protocol,
 * protocols in sorted order; a protocol with a port-less entry matches all
 * its ports; no ports: one group of any protocol. SimplifyPorts: named ports
 * as given, then the numeric ports (endPort ranges expanded) sorted and
 * coalesced into ranges.
 */
function npPortGroups(ports: readonly NetworkPolicyPort[]): PortGroup[] {
  if (ports.length === 0) return [{ numeric: [], named: [], all: true }];
  const byProto = new Map<string, { all: boolean; named: string[]; nums: number[] }>();
  for (const p of ports) {
    let g = byProto.get(p.protocol);
    if (!g) byProto.set(p.protocol, (g = { all: false, named: [], nums: [] }));
    if (p.port === undefined) g.all = true;
    else if (typeof p.port === 'string') g.named.push(p.port);
    else for (let i = p.port; i <= (p.endPort ?? p.port); i++) g.nums.push(i);
  }
  return [...byProto.keys()].sort().map((proto) => {
    const g = byProto.get(proto)!;
    const protocol = proto.toLowerCase() as Proto;
    if (g.all) return { protocol, numeric: [], named: [], all: true };
    return { protocol, numeric: simplifyPorts(g.nums), named: g.named, all: false };
  });
}

/** Sorted, deduplicated ports coalesced into ranges. */
function simplifyPorts(nums: number[]): { first: number; last: number }[] {
  const s = [...new Set(nums)].sort((a, b) => a - b);
  const out: { first: number; last: number }[] = [];
  for (const n of s) {
    const last = out[out.length - 1];
    if (last && n === last.last + 1) last.last = n;
    else out.push({ first: n, last: n });
  }
  return out;
}

/** The Calico rules of one peer × port group, the named ports resolved against the destination selector. */
function rulesFor(ctx: Ctx, action: CalicoAction, dir: Direction, peer: Peer | undefined, groups: readonly PortGroup[]): CalicoRule[] {
  const out: CalicoRule[] = [];
  for (const g of groups) {
    const r = emptyRule(action);
    if (g.protocol) r.protocol = g.protocol;
    if (peer) {
      if (dir === 'ingress') {
        if (peer.set) r.srcSet = peer.set.name;
        r.srcNets = peer.nets ?? [];
        r.notSrcNets = peer.notNets ?? [];
      } else {
        if (peer.set) r.dstSet = peer.set.name;
        r.dstNets = peer.nets ?? [];
        r.notDstNets = peer.notNets ?? [];
      }
    }
    if (!g.all) {
      r.dstPorts = g.numeric;
      // Named ports: the destination endpoints (the peer on egress, any endpoint on ingress) having it.
      const destSel = dir === 'egress' && peer?.set ? peer.set : undefined;
      r.dstNamedPortSets = g.named.map((n) => namedSet(ctx, destSel?.text ?? ALL_TEXT, destSel ? peer!.pred! : ALL_PODS, g.protocol!, n));
    }
    out.push(r);
  }
  return out;
}

function npRules(ctx: Ctx, np: NetworkPolicy, dir: Direction): CalicoRule[] {
  const out: CalicoRule[] = [];
  for (const rule of dir === 'ingress' ? np.ingress : np.egress) {
    const groups = npPortGroups(rule.ports);
    const peers = rule.peers.length ? rule.peers.map((p) => npPeer(ctx, np.namespace, p)) : [undefined];
    // One rule per protocol (outer) and peer (inner), as k8sRuleToCalico orders them.
    for (const g of groups) for (const peer of peers) out.push(...rulesFor(ctx, 'allow', dir, peer, [g]));
  }
  return out;
}

function anpPeer(ctx: Ctx, peer: AnpPeer): Peer | undefined {
  if (peer.networks) return { nets: peer.networks.map((n) => netText(n.net)) };
  if (peer.nodes) {
    const sel = compileSelector(peer.nodes);
    const nets = ctx.cluster.nodes.filter((n) => sel.matches(n.labels)).flatMap((n) => n.ips.map((ip) => `${ip}/32`));
    return nets.length ? { nets } : undefined;
  }
  const nsSel: LabelSelector = peer.namespaces ?? peer.pods!.namespaceSelector;
  const podSel = peer.pods?.podSelector;
  const nsC = compileSelector(nsSel), podC = podSel ? compileSelector(podSel) : undefined;
  const pred = (p: NpPod, nsl: Labels) => nsC.matches(nsl) && (podC ? podC.matches(p.labels) : true);
  return { set: selSet(ctx, anpPeerSelector(nsSel, podSel), pred), pred };
}

function anpPortGroups(ports: readonly AnpPort[] | undefined): PortGroup[] {
  if (!ports) return [{ numeric: [], named: [], all: true }];
  const groups: PortGroup[] = [];
  const group = (protocol: Proto) => {
    let g = groups.find((x) => x.protocol === protocol);
    if (!g) groups.push((g = { protocol, numeric: [], named: [], all: false }));
    return g;
  };
  for (const p of ports) {
    if (p.kind === 'number') group(p.protocol.toLowerCase() as Proto).numeric.push({ first: p.port, last: p.port });
    else if (p.kind === 'range') { if (p.start <= p.end) group(p.protocol.toLowerCase() as Proto).numeric.push({ first: p.start, last: p.end }); }
    else for (const proto of ['tcp', 'udp', 'sctp'] as const) group(proto).named.push(p.name);
  }
  return groups.filter((g) => g.numeric.length || g.named.length).sort((a, b) => (a.protocol! < b.protocol! ? -1 : a.protocol! > b.protocol! ? 1 : 0));
}

function anpRules(ctx: Ctx, rules: readonly AnpRule<string>[], dir: Direction): CalicoRule[] {
  const out: CalicoRule[] = [];
  for (const rule of rules) {
    const action: CalicoAction = rule.action === 'Allow' ? 'allow' : rule.action === 'Deny' ? 'deny' : 'pass';
    const groups = anpPortGroups(rule.ports);
    const peers = rule.peers.map((p) => anpPeer(ctx, p)).filter((p): p is Peer => p !== undefined);
    // As the ANP conversion orders them: protocol (outer), peer (inner).
    for (const g of groups) for (const peer of peers) out.push(...rulesFor(ctx, action, dir, peer, [g]));
  }
  return out;
}

/** The (B)ANP subject as a predicate over (pod, its namespace's labels), selectors compiled once. */
function subjectMatcher(subject: AdminNetworkPolicy['subject']): (pod: NpPod, nsLabels: Labels) => boolean {
  if (subject.namespaces) {
    const ns = compileSelector(subject.namespaces);
    return (_p, nsl) => ns.matches(nsl);
  }
  const ns = compileSelector(subject.pods!.namespaceSelector), pod = compileSelector(subject.pods!.podSelector);
  return (p, nsl) => ns.matches(nsl) && pod.matches(p.labels);
}

/** An (B)ANP subject as the converted global policy's selector: (namespace part) && (orchestrator [&& pod terms]). */
function subjectSelector(subject: AdminNetworkPolicy['subject']): string {
  return subject.namespaces
    ? selectorString(npPeerSelector('', undefined, subject.namespaces))
    : selectorString(npPeerSelector('', subject.pods!.podSelector, subject.pods!.namespaceSelector));
}

/**
 * endpoint_mgr.go groupPolicies: an endpoint's policies of one tier and
 * direction, in order, cut into runs with the same selector. A run of several
 * gets its own chain `cali-gi-`/`cali-go-` + PolicyGroup.UniqueID (sha3-224 of
 * tier, selector, direction, count and names, each line-terminated,
 * base64url, first 20 characters); felix's group "names" are its policy
 * names — podwire writes the policy ids.
 */
function groupPolicies(tier: string, ps: readonly TierPolicy[], dir: Direction): { ids: string[]; chain: string }[] {
  const runs: { sel: string; ids: string[] }[] = [];
  for (const p of ps) {
    const last = runs[runs.length - 1];
    if (last && last.sel === p.selector) last.ids.push(p.id);
    else runs.push({ sel: p.selector, ids: [p.id] });
  }
  const direction = dir === 'ingress' ? 'inbound' : 'outbound';
  return runs.map((r) => {
    const h = nodeCrypto.createHash('sha3-224');
    for (const line of [tier, r.sel, direction, String(r.ids.length), ...r.ids]) h.update(line + '\n');
    const uid = h.digest('base64url').slice(0, 20);
    return { ids: r.ids, chain: (dir === 'ingress' ? 'cali-gi-' : 'cali-go-') + uid };
  });
}

/** PolicyGroupToIptablesChains: jumps to each policy while no verdict is set, a RETURN on verdict every 5. */
function groupChainBodies(policyChains: readonly string[]): string[] {
  const out: string[] = [];
  policyChains.forEach((pc, i) => {
    if (i !== 0 && i % 5 === 0) out.push(`${comment('Return on verdict')} -m mark ! --mark 0x0/${hex(MARK_PASS | MARK_ACCEPT)} -j RETURN`);
    out.push(i % 5 === 0 ? `-j ${pc}` : `${markClear(MARK_PASS | MARK_ACCEPT)} -j ${pc}`);
  });
  return out;
}

/** The workload endpoints of the node of `cfg`, in cluster.pods order (= `cluster.pods.filter(isLocalWorkload)`). */
function localWorkloads(cluster: NpCluster, shared: SharedView, cfg: Pick<FelixNodeConfig, 'nodeName' | 'nodeIPs'>): NpPod[] {
  if (cfg.nodeName === '') return cluster.pods.filter((p) => isLocalWorkload(p, cfg));
  const own = shared.byNode.get(cfg.nodeName) ?? [];
  const byIp = shared.noNode.length === 0 ? [] : shared.noNode.filter((w) => cfg.nodeIPs.includes(w.pod.hostIP));
  if (byIp.length === 0) return own.map((w) => w.pod);
  return [...own, ...byIp].sort((a, b) => a.i - b.i).map((w) => w.pod);
}

interface EndpointBodies {
  bodies: string[];
  /** The tiers rendered. */
  used: string[];
  /** The policy chains jumped to (directly or through a group), with their policy ids. */
  policies: { pc: string; id: string }[];
  /** The group chains jumped to, with their policy chains. */
  groups: { chain: string; pcs: string[] }[];
  /** The profiles (kns.<ns>, ksa.<ns>.<sa>). */
  profiles: string[];
}

/**
 * An endpoint chain's rule bodies (endpoints.go order) for what applies to its pod in one
 * direction and its profiles: the same for pods alike, so made once per view for them.
 */
function endpointBodies(shared: SharedView, app: ReturnType<typeof applicableTo>, dir: Direction, ns: string, sa: string): EndpointBodies {
  let byKey = shared.endpointBodies.get(app);
  if (byKey === undefined) shared.endpointBodies.set(app, (byKey = new Map()));
  const key = `${dir}\0${ns}\0${sa}`;
  let e = byKey.get(key);
  if (e !== undefined) return e;
  const b: string[] = [
    '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-m conntrack --ctstate INVALID -j DROP',
    setMark(0, MARK_ACCEPT | MARK_PASS),
  ];
  if (dir === 'egress') {
    b.push(`${comment('Drop VXLAN encapped packets originating in workloads')} -p udp -m multiport --destination-ports ${VXLAN_PORT} -j DROP`);
    b.push(`${comment('Drop IPinIP encapped packets originating in workloads')} -p 4 -j DROP`);
  }
  const used: string[] = [];
  const policies: { pc: string; id: string }[] = [];
  const groups: { chain: string; pcs: string[] }[] = [];
  const tiers = shared.tiers;
  for (let ti = 0; ti < tiers.length; ti++) {
    const tier = tiers[ti]!;
    const { ps, groups: gs } = app[dir === 'ingress' ? 0 : 1]![ti]!;
    if (!ps.length) continue;
    used.push(tier.name);
    b.push(`${comment(`Start of tier ${tier.name}`)} ${setMark(0, MARK_PASS)}`);
    for (const g of gs) {
      const pcs = g.ids.map((id) => policyChainName(dir === 'ingress' ? 'inbound' : 'outbound', id));
      g.ids.forEach((id, i) => policies.push({ pc: pcs[i]!, id }));
      let target = pcs[0]!;
      if (pcs.length > 1) {
        target = g.chain;
        groups.push({ chain: g.chain, pcs });
      }
      b.push(`${markClear(MARK_PASS)} -j ${target}`);
      b.push(`${comment('Return if policy accepted')} ${markSet(MARK_ACCEPT)} -j RETURN`);
    }
    if (tier.defaultDeny) b.push(`${comment(`End of tier ${tier.name}. Drop if no policies passed packet`)} ${markClear(MARK_PASS)} -j DROP`);
  }
  // Profiles: the namespace's kns.<ns> (allow) and the service account's ksa.<ns>.<sa> (no rules).
  const profiles = [`kns.${ns}`, `ksa.${ns}.${sa}`];
  for (const prof of profiles)
    b.push(`-j ${lengthLimitedId(dir === 'ingress' ? 'cali-pri-' : 'cali-pro-', prof)}`, `${comment('Return if profile accepted')} ${markSet(MARK_ACCEPT)} -j RETURN`);
  b.push(`${comment('Drop if no profiles matched')} -j DROP`);
  e = { bodies: b, used, policies, groups, profiles };
  byKey.set(key, e);
  return e;
}

/** A chain whose content depends on the view (and node configuration) only: one object per view for equal content. */
function sharedChain(shared: SharedView, table: 'filter' | 'nat', name: string, bodies: readonly string[]): FelixChain {
  const key = `${table}\0${name}\0${bodies.join('\n')}`;
  let c = shared.chains.get(key);
  if (c === undefined) shared.chains.set(key, (c = hashedChain(name, table, bodies)));
  return c;
}

/** What applies to a pod (by namespace and labels), per direction (ingress, egress) and tier: made once per view for pods alike. */
function applicableTo(shared: SharedView, pod: NpPod, nsl: Labels): { ps: TierPolicy[]; groups: { ids: string[]; chain: string }[] }[][] {
  const key = `${pod.namespace}\0${Object.keys(pod.labels).sort().map((k) => `${k}=${pod.labels[k]}`).join('\0')}`;
  let a = shared.applicable.get(key);
  if (a === undefined) {
    a = (['ingress', 'egress'] as const).map((dir) => shared.tiers.map((tier) => {
      const ps = tier.policies.filter((p) => (dir === 'ingress' ? p.ingress : p.egress) && p.appliesTo(pod, nsl));
      return { ps, groups: ps.length ? groupPolicies(tier.name, ps, dir) : [] };
    }));
    shared.applicable.set(key, a);
  }
  return a;
}

/** Is `pod` a workload endpoint on the node of `cfg`? */
export function isLocalWorkload(p: NpPod, cfg: Pick<FelixNodeConfig, 'nodeName' | 'nodeIPs'>): boolean {
  return p.ip !== '' && !p.hostNetwork && !p.finished && (p.nodeName === cfg.nodeName || (p.nodeName === '' && cfg.nodeIPs.includes(p.hostIP)));
}

interface TierPolicy {
  id: string;
  /** The policy's selector as felix holds it (canonical text): policies in a row with the same one form a group. */
  selector: string;
  appliesTo: (p: NpPod, nsLabels: Labels) => boolean;
  ingress: boolean;
  egress: boolean;
}
interface Tier { name: string; defaultDeny: boolean; policies: TierPolicy[] }

/** The three tiers felix renders (their policies in felix's order, selectors compiled) and the NetworkPolicies by namespace/name. */
function tiersOf(cluster: NpCluster): { tiers: Tier[]; nps: NetworkPolicy[] } {
  const anpTier: Tier = { name: 'adminnetworkpolicy', defaultDeny: false, policies: [] };
  for (const anp of [...cluster.anps].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const id = `kanp/${anp.name}`;
    anpTier.policies.push({ id, selector: subjectSelector(anp.subject), appliesTo: subjectMatcher(anp.subject), ingress: anp.ingress.length > 0, egress: anp.egress.length > 0 });
  }
  const defTier: Tier = { name: 'default', defaultDeny: true, policies: [] };
  const nps = [...cluster.policies].sort((a, b) => { const x = `${a.namespace}/${a.name}`, y = `${b.namespace}/${b.name}`; return x < y ? -1 : x > y ? 1 : 0; });
  for (const np of nps) {
    const sel = compileSelector(np.podSelector);
    defTier.policies.push({ id: knpPolicyId(np.namespace, np.name), selector: selectorString(npPeerSelector(np.namespace, np.podSelector, undefined)), appliesTo: (p) => p.namespace === np.namespace && sel.matches(p.labels), ingress: np.policyTypes.includes('Ingress'), egress: np.policyTypes.includes('Egress') });
  }
  const banpTier: Tier = { name: 'baselineadminnetworkpolicy', defaultDeny: false, policies: [] };
  const banp = cluster.banp;
  if (banp) banpTier.policies.push({ id: `kbanp/${banp.name}`, selector: subjectSelector(banp.subject), appliesTo: subjectMatcher(banp.subject), ingress: banp.ingress.length > 0, egress: banp.egress.length > 0 });
  return { tiers: [anpTier, defTier, banpTier], nps };
}

/** One full rendering for the node of `cfg`. */
export function renderFelix(cluster: NpCluster, cfg: FelixNodeConfig): FelixRendered {
  const shared = sharedView(cluster);
  const ctx: Ctx = { cluster, sets: new Map(), workloads: shared.workloads, shared };
  const chains: FelixChain[] = [];
  const policyChains: FelixPolicyChain[] = [];
  /** A chain of this node only (its dispatch chains). */
  const filter = (name: string, bodies: string[]) => chains.push(hashedChain(name, 'filter', bodies));
  /** A chain whose content may be the same on other nodes: one object per view for equal content. */
  const common = (table: 'filter' | 'nat', name: string, bodies: string[]) => chains.push(sharedChain(shared, table, name, bodies));
  const nat = (name: string, bodies: string[]) => common('nat', name, bodies);
  const prefix = cfg.interfacePrefix;

  // Local endpoints, in interface-name order.
  const endpoints: FelixEndpoint[] = localWorkloads(cluster, shared, cfg).map((pod) => {
    const iface = workloadInterfaceName(pod.namespace, pod.name, prefix);
    return { pod, iface, tw: endpointChainName('to', iface), fw: endpointChainName('from', iface) };
  }).sort((a, b) => (a.iface < b.iface ? -1 : a.iface > b.iface ? 1 : 0));

  const { nps } = ctx.shared;
  const banp = cluster.banp;

  // Endpoint chains; the policies and profiles they use.
  const usedPolicies = new Map<string, { dir: Direction; id: string }>();
  const usedProfiles = new Set<string>();
  /** Group chains used, with their policy chains. */
  const groupChains = new Map<string, string[]>();
  const tierMap = new Map<string, string[]>();
  for (const ep of endpoints) {
    const nsl = nsLabelsOf(cluster, ep.pod.namespace);
    const app = applicableTo(shared, ep.pod, nsl);
    for (const dir of ['ingress', 'egress'] as const) {
      const chain = dir === 'ingress' ? ep.tw : ep.fw;
      const e = endpointBodies(shared, app, dir, ep.pod.namespace, ep.pod.serviceAccountName ?? 'default');
      for (const p of e.policies) usedPolicies.set(p.pc, { dir, id: p.id });
      for (const g of e.groups) if (!groupChains.has(g.chain)) groupChains.set(g.chain, g.pcs);
      tierMap.set(chain, e.used);
      for (const prof of e.profiles) usedProfiles.add(`${dir}\0${prof}`);
      chains.push(hashedChain(chain, 'filter', e.bodies));
    }
  }

  // Static filter chains.
  const fwd: string[] = [
    setMark(0, ALL_CALICO_BITS & ~MARK_ACCEPT),
    `${markClear(MARK_ACCEPT)} -j cali-from-hep-forward`,
    `-i ${prefix}+ -j cali-from-wl-dispatch`,
    `-o ${prefix}+ -j cali-to-wl-dispatch`,
    '-j cali-to-hep-forward',
    '-j cali-cidr-block',
  ];
  common('filter', 'cali-FORWARD', fwd);
  const input: string[] = [];
  if (cfg.ipip) {
    input.push(`${comment('Allow IPIP packets from Calico hosts')} -p 4 -m set --match-set ${ipsetName('all-hosts-net')} src -m addrtype --dst-type LOCAL -j ACCEPT`);
    input.push(`${comment('Drop IPIP packets from non-Calico hosts')} -p 4 -j DROP`);
  }
  if (cfg.vxlan) {
    input.push(`${comment('Allow IPv4 VXLAN packets from allowed hosts')} -p udp -m multiport --destination-ports ${VXLAN_PORT} -m set --match-set ${ipsetName('all-vxlan-net')} src -m addrtype --dst-type LOCAL -j ACCEPT`);
    input.push(`${comment('Drop IPv4 VXLAN packets from non-allowed hosts')} -p udp -m multiport --destination-ports ${VXLAN_PORT} -m addrtype --dst-type LOCAL -j DROP`);
  }
  input.push(`-i ${prefix}+ -g cali-wl-to-host`, `${markSet(MARK_ACCEPT)} -j ACCEPT`, setMark(0, ALL_CALICO_BITS), '-j cali-from-host-endpoint', `${comment('Host endpoint policy accepted packet.')} ${markSet(MARK_ACCEPT)} -j ACCEPT`);
  common('filter', 'cali-INPUT', input);
  common('filter', 'cali-wl-to-host', ['-j cali-from-wl-dispatch', `${comment('Configured DefaultEndpointToHostAction')} -j ${cfg.defaultEndpointToHostAction}`]);
  const output: string[] = [`${markSet(MARK_ACCEPT)} -j ACCEPT`, `-o ${prefix}+ -j RETURN`];
  if (cfg.ipip) output.push(`${comment('Allow IPIP packets to other Calico hosts')} -p 4 -m set --match-set ${ipsetName('all-hosts-net')} dst -m addrtype --src-type LOCAL -j ACCEPT`);
  if (cfg.vxlan) output.push(`${comment('Allow IPv4 VXLAN packets to other allowed hosts')} -p udp -m multiport --destination-ports ${VXLAN_PORT} -m addrtype --src-type LOCAL -m set --match-set ${ipsetName('all-vxlan-net')} dst -j ACCEPT`);
  output.push(setMark(0, ALL_CALICO_BITS), '-m conntrack ! --ctstate DNAT -j cali-to-host-endpoint', `${comment('Host endpoint policy accepted packet.')} ${markSet(MARK_ACCEPT)} -j ACCEPT`);
  common('filter', 'cali-OUTPUT', output);
  for (const [name, dirFlag, pfx] of [['cali-from-wl-dispatch', '-i', 'fw'], ['cali-to-wl-dispatch', '-o', 'tw']] as const) {
    const tree = dispatchTree(endpoints.map((e) => e.iface));
    const target = new Map(endpoints.map((e) => [e.iface, pfx === 'fw' ? e.fw : e.tw]));
    const end = `${comment('Unknown interface')} -j DROP`;
    const root: string[] = [];
    const children: [string, string[]][] = [];
    for (const b of tree.bins) {
      if (b.names.length > 1) {
        const child = `${name}-${b.prefix.slice(tree.common.length)}`;
        root.push(`${dirFlag} ${b.prefix}+ -g ${child}`);
        children.push([child, [...b.names.map((n) => `${dirFlag} ${n} -g ${target.get(n)!}`), end]]);
      } else root.push(`${dirFlag} ${b.names[0]!} -g ${target.get(b.names[0]!)!}`);
    }
    for (const [child, rules] of children) filter(child, rules);
    filter(name, [...root, end]);
  }
  // Host endpoint chains: no host endpoints in this model, so they are empty (felix still creates them).
  for (const name of ['cali-from-hep-forward', 'cali-to-hep-forward', 'cali-from-host-endpoint', 'cali-to-host-endpoint', 'cali-cidr-block'])
    common('filter', name, []);

  // Policy chains (only those some local endpoint uses, as felix programs active policies).
  // A policy chain's rules and the sets they use depend on the view only: made once per view.
  const emit = (pc: string, dir: Direction, kind: FelixPolicyChain['kind'], ref: string, kindText: string, rules: (c: Ctx) => CalicoRule[]) => {
    let m = shared.policyChains.get(pc);
    if (m === undefined) {
      const sub: Ctx = { ...ctx, sets: new Map() };
      const bodies = policyChainBodies(rules(sub), `${kindText} ${ref} ${dir}`);
      m = { chain: hashedChain(pc, 'filter', bodies), sets: [...sub.sets.values()] };
      shared.policyChains.set(pc, m);
    }
    chains.push(m.chain);
    for (const set of m.sets) if (!ctx.sets.has(set.name)) ctx.sets.set(set.name, set);
    policyChains.push({ chain: pc, dir, kind, ref });
  };
  // The NetworkPolicies' chain names, in order, made once per view (1,000 policies on every node).
  shared.npChains ??= nps.flatMap((np) => (['ingress', 'egress'] as const).map((dir) => ({ np, dir, pc: policyChainName(dir === 'ingress' ? 'inbound' : 'outbound', knpPolicyId(np.namespace, np.name)) })));
  for (const { np, dir, pc } of shared.npChains)
    if (usedPolicies.has(pc)) emit(pc, dir, 'knp', `${np.namespace}/${np.name}`, 'KubernetesNetworkPolicy', (c) => npRules(c, np, dir));
  for (const anp of cluster.anps)
    for (const dir of ['ingress', 'egress'] as const) {
      const pc = policyChainName(dir === 'ingress' ? 'inbound' : 'outbound', `kanp/${anp.name}`);
      if (usedPolicies.has(pc)) emit(pc, dir, 'kanp', anp.name, 'KubernetesAdminNetworkPolicy', (c) => anpRules(c, dir === 'ingress' ? anp.ingress : anp.egress, dir));
    }
  if (banp)
    for (const dir of ['ingress', 'egress'] as const) {
      const pc = policyChainName(dir === 'ingress' ? 'inbound' : 'outbound', `kbanp/${banp.name}`);
      if (usedPolicies.has(pc)) emit(pc, dir, 'kbanp', banp.name, 'KubernetesBaselineAdminNetworkPolicy', (c) => anpRules(c, dir === 'ingress' ? banp.ingress : banp.egress, dir));
    }
  for (const [name, pcs] of [...groupChains].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) common('filter', name, groupChainBodies(pcs));
  // Profiles: kns.<ns> allows both ways (one allow rule); ksa.<ns>.<sa> has no rules (an empty rule with the chain comment).
  for (const key of [...usedProfiles].sort()) {
    const [dir, prof] = key.split('\0') as [Direction, string];
    const name = lengthLimitedId(dir === 'ingress' ? 'cali-pri-' : 'cali-pro-', prof);
    common('filter', name, [`${comment(`Profile ${prof} ${dir}`)}${prof.startsWith('kns.') ? ' ' + setMark(MARK_ACCEPT, MARK_ACCEPT) : ''}`]);
  }

  // nat.
  nat('cali-PREROUTING', ['-j cali-fip-dnat']);
  const post = ['-j cali-fip-snat', '-j cali-nat-outgoing'];
  for (const dev of [...(cfg.ipip ? ['tunl0'] : []), ...(cfg.vxlan ? ['vxlan.calico'] : [])])
    post.push(`-o ${dev} -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE`);
  nat('cali-POSTROUTING', post);
  nat('cali-OUTPUT', ['-j cali-fip-dnat']);
  const masq = cfg.pools.filter((p) => p.natOutgoing && !p.disabled);
  const allPools = ipsetName('all-ipam-pools'), masqPools = ipsetName('masq-ipam-pools');
  nat('cali-nat-outgoing', masq.length ? [`-m set --match-set ${masqPools} src -m set ! --match-set ${allPools} dst -j MASQUERADE`] : []);
  for (const name of ['cali-fip-dnat', 'cali-fip-snat']) common('nat', name, []);

  // Fixed sets.
  addSet(ctx, allPools, 'hash:net', () => cfg.pools.map((p) => p.cidr));
  addSet(ctx, masqPools, 'hash:net', () => masq.map((p) => p.cidr));
  // The hosts' sets depend on the cluster view only: one object for every node (shared nets, agent.ts).
  if (cfg.ipip) addViewSet(ctx, ipsetName('all-hosts-net'), 'hash:net', () => cluster.nodes.flatMap((n) => n.ips));
  if (cfg.vxlan) addViewSet(ctx, ipsetName('all-vxlan-net'), 'hash:net', () => cluster.nodes.flatMap((n) => n.ips));
  addSet(ctx, ipsetName('this-host'), 'hash:ip', () => [...cfg.nodeIPs]);

  const jump = (table: 'filter' | 'nat', chain: string, target: string) => ({ table, chain, args: `${comment(`cali:${ruleHash(chain, '', `-j ${target}`)}`)} -j ${target}` });
  const inserts = [
    jump('filter', 'INPUT', 'cali-INPUT'), jump('filter', 'FORWARD', 'cali-FORWARD'), jump('filter', 'OUTPUT', 'cali-OUTPUT'),
    jump('nat', 'PREROUTING', 'cali-PREROUTING'), jump('nat', 'POSTROUTING', 'cali-POSTROUTING'), jump('nat', 'OUTPUT', 'cali-OUTPUT'),
  ];
  const fa1 = `${comment('Policy explicitly accepted packet.')} ${markSet(MARK_ACCEPT)} -j ACCEPT`;
  const fa2 = setMark(MARK_ACCEPT, MARK_ACCEPT);
  const h1 = ruleHash('FORWARD', 'append', fa1), h2 = ruleHash('FORWARD', h1, fa2);
  const appends = [
    { table: 'filter' as const, chain: 'FORWARD' as const, args: `${comment(`cali:${h1}`)} ${fa1}` },
    { table: 'filter' as const, chain: 'FORWARD' as const, args: `${comment(`cali:${h2}`)} ${fa2}` },
  ];
  return { chains, inserts, appends, sets: ctx.sets, endpoints, policyChains, tiers: tierMap };
}

