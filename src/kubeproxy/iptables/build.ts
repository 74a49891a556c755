/**
 * One iteration of kube-proxy's syncProxyRules service loop (iptables mode,
 * pkg/proxy/iptables/proxier.go), for one service port: the rules it writes
 * into filter (KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS,
 * KUBE-PROXY-FIREWALL), nat KUBE-SERVICES / KUBE-NODEPORTS, and the
 * service's own nat chains (KUBE-EXT, KUBE-FW, KUBE-SVC, KUBE-SVL, KUBE-SEP),
 * each produced twice at once: as the line kube-proxy writes into its
 * iptables-restore input and as the netfilter Rule object that line parses
 * to (built by the match/target factories, never by parsing).
 *
 * Also: endpoint categorisation (pkg/proxy/topology.go CategorizeEndpoints,
 * without topology hints — podwire's model has none, so topologyMode is
 * always ""), endpoint order (endpointslicecache.go: dedup by "ip:port",
 * the local one kept, sorted by that string), the `%0.10f` probabilities,
 * and the fixed chains (KUBE-POSTROUTING, KUBE-MARK-MASQ, KUBE-FORWARD,
 * KUBE-FIREWALL, the last KUBE-SERVICES rule).
 *
 * nfacct: podwire has no nfacct, so this is kube-proxy with its nfacct
 * counters absent (nfAcctCounters false): no `-d 127.0.0.0/8 … -m nfacct`
 * localhost NodePort rule and no `-m nfacct` on the INVALID drop.
 *
 * Node dependence: everything here is a function of the service port, its
 * endpoints and a PieceProfile (local detector CIDR, masqueradeAll,
 * large-cluster mode), except (a) the local endpoints when the service uses
 * Local policy and (b) whether a loadBalancerSourceRange contains the node
 * IP. `variantKey` names exactly those, so pieces with equal keys are equal
 * and can be shared between nodes.
 */
import type { Chain, IpHeaderMatch, Match, Rule, Target } from '../../netfilter/types.js';
import { makeRule } from '../../netfilter/ruleset.js';
import { commentMatch } from '../../netfilter/matches/comment.js';
import { tcpMatch } from '../../netfilter/matches/tcp.js';
import { udpMatch } from '../../netfilter/matches/udp.js';
import { sctpMatch } from '../../netfilter/matches/sctp.js';
import { statisticRandom } from '../../netfilter/matches/statistic.js';
import { recentMatch } from '../../netfilter/matches/recent.js';
import { addrtypeMatch } from '../../netfilter/matches/addrtype.js';
import { markMatch } from '../../netfilter/matches/mark.js';
import { conntrackState } from '../../netfilter/matches/conntrack.js';
import { acceptTarget, dropTarget, jumpTarget, returnTarget } from '../../netfilter/targets/standard.js';
import { dnatTarget } from '../../netfilter/targets/dnat.js';
import { orMarkTarget, xorMarkTarget } from '../../netfilter/targets/mark.js';
import { masqueradeTarget } from '../../netfilter/targets/masquerade.js';
import { rejectTarget } from '../../netfilter/targets/reject.js';
import { ipToString } from '../../wire/bytes.js';
import type { EndpointInfo, ProxierConfig, ServicePortInfo } from '../model.js';
import { endpointString, sepChainName, type ServiceChainNames } from '../names.js';

export interface Cidr { addr: number; prefix: number }

// ---------------------------------------------------------------------------
// Small helpers

const PROTO_NUM = { TCP: 6, UDP: 17, SCTP: 132 } as const;
const PROTO_NAME = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;

function maskOf(prefix: number): number { return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0; }
export function cidrString(c: Cidr): string { return `${ipToString((c.addr & maskOf(c.prefix)) >>> 0)}/${c.prefix}`; }
export function cidrContains(c: Cidr, ip: number): boolean { const m = maskOf(c.prefix); return ((ip & m) >>> 0) === ((c.addr & m) >>> 0); }
function addr(ip: number, prefix: number, invert = false): NonNullable<IpHeaderMatch['src']> {
  const mask = maskOf(prefix);
  return { addr: (ip & mask) >>> 0, mask, prefix, invert };
}

/** Go's `%0.10f` (strconv bigFtoa: exact decimal, round half to even) of a double. */
export function formatFixed10(x: number): string {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (exp === 0) e = -1074; else { mant |= 1n << 52n; e = exp - 1075; }
  let num = mant * 10000000000n;
  let den = 1n;
  if (e >= 0) num <<= BigInt(e); else den <<= BigInt(-e);
  let q = num / den;
  const twice = (num % den) * 2n;
  if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
  const s = q.toString().padStart(11, '0');
  return `${s.slice(0, -10)}.${s.slice(-10)}`;
}

const probCache: string[] = ['<bad value>'];
/** kube-proxy's probability(n): `%0.10f` of 1/n, precomputed. */
export function probability(n: number): string {
  for (let i = probCache.length; i <= n; i++) probCache.push(formatFixed10(1 / i));
  return probCache[n];
}

/** kube-proxy's masqueradeMark: fmt.Sprintf("%#08x", 1<<bit) — Go pads the digits to 8, then adds 0x. */
export function masqueradeMarkText(bit: number): string {
  return '0x' + ((1 << bit) >>> 0).toString(16).padStart(8, '0');
}

const MARK_MASQ = 'KUBE-MARK-MASQ';
const JUMP_MARK_MASQ = jumpTarget(MARK_MASQ);
const PROTO_ONLY = { TCP: tcpMatch(), UDP: udpMatch(), SCTP: sctpMatch() };
function portMatch(p: ServicePortInfo['protocol'], dport: number): Match {
  return p === 'TCP' ? tcpMatch({ dport }) : p === 'UDP' ? udpMatch({ dport }) : sctpMatch({ dport });
}
const LOCAL_DST = addrtypeMatch({ dst: 'LOCAL' });
const LOCAL_SRC = addrtypeMatch({ src: 'LOCAL' });
const REJECT = rejectTarget();
const DROP = dropTarget();
const ACCEPT = acceptTarget();
const protoHdr = (p: ServicePortInfo['protocol']) => ({ num: PROTO_NUM[p], name: PROTO_NAME[p], invert: false });

export const EMPTY_RULES: readonly Rule[] = Object.freeze([]) as readonly Rule[];

/** A user chain as the ruleset holds it (shareable: never mutated after it is built). */
export function userChain(name: string, rules: Rule[]): Chain {
  return { name, policy: null, pkts: 0, bytes: 0, rules };
}

// ---------------------------------------------------------------------------
// Endpoints

/** endpointslicecache: one endpoint per "ip:port" (a local one wins), sorted by that string. */
export function sortEndpoints(eps: readonly EndpointInfo[], nodeName: string | undefined): EndpointInfo[] {
  const byKey = new Map<string, EndpointInfo>();
  for (const ep of eps) {
    const k = endpointString(ep.ip, ep.port);
    if (!byKey.has(k) || (nodeName !== undefined && ep.nodeName === nodeName)) byKey.set(k, ep);
  }
  const keys = [...byKey.keys()].sort();
  return keys.map((k) => byKey.get(k)!);
}

export function externallyAccessible(sp: ServicePortInfo): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerIPs.length !== 0 || sp.externalIPs.length !== 0;
}
/** apiservice.ExternalPolicyLocal: Local only counts for externally accessible services. */
export function externalPolicyLocal(sp: ServicePortInfo): boolean { return sp.externalPolicyLocal && externallyAccessible(sp); }
export function usesClusterEndpoints(sp: ServicePortInfo): boolean { return !sp.internalPolicyLocal || externallyAccessible(sp); }
export function usesLocalEndpoints(sp: ServicePortInfo): boolean { return sp.internalPolicyLocal || externalPolicyLocal(sp); }

export interface Categorized {
  cluster: EndpointInfo[];
  local: EndpointInfo[];
  /** allLocallyReachableEndpoints: the endpoints that get KUBE-SEP chains on this node. */
  all: EndpointInfo[];
  hasAny: boolean;
}

/**
 * CategorizeEndpoints without topology hints. `eps` sorted (sortEndpoints).
 * Where kube-proxy merges cluster and local lists through a Go map (random
 * order), podwire takes the cluster list then the local ones not in it.
 */
export function categorize(sp: ServicePortInfo, eps: readonly EndpointInfo[], nodeName: string): Categorized {
  let cluster: EndpointInfo[] = [];
  let local: EndpointInfo[] = [];
  let hasAny = false;
  if (eps.length === 0) return { cluster, local, all: cluster, hasAny };
  const usesCluster = usesClusterEndpoints(sp);
  if (usesCluster) {
    cluster = eps.filter((e) => e.ready);
    if (cluster.length === 0) cluster = eps.filter((e) => e.serving && e.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocalEndpoints(sp)) return { cluster, local, all: cluster, hasAny };
  let localReady = false, localST = false;
  for (const e of eps) {
    const isLocal = e.nodeName !== undefined && e.nodeName === nodeName;
    if (e.ready) { hasAny = true; if (isLocal) localReady = true; }
    else if (e.serving && e.terminating) { hasAny = true; if (isLocal) localST = true; }
  }
  let servingTerminating = false;
  if (localReady) local = eps.filter((e) => e.nodeName === nodeName && e.ready);
  else if (localST) { servingTerminating = true; local = eps.filter((e) => e.nodeName === nodeName && e.serving && e.terminating); }
  if (!usesCluster) return { cluster, local, all: local, hasAny };
  if (!servingTerminating) return { cluster, local, all: cluster, hasAny };
  const all = cluster.slice();
  const seen = new Set(cluster);
  for (const e of local) if (!seen.has(e)) all.push(e);
  return { cluster, local, all, hasAny };
}

// ---------------------------------------------------------------------------
// Per service port

/** Configuration that shapes the per-service rules (the same on nodes that share pieces). */
export interface PieceProfile {
  /** detectLocalMode ClusterCIDR; undefined = NoOp detector (not implemented). */
  localCIDR: Cidr | undefined;
  masqueradeAll: boolean;
  /** More than 1000 endpoints in total: no per-endpoint comments. */
  largeCluster: boolean;
}

/** The text of a piece: kube-proxy's `-A` lines, in write order. */
export interface PieceText {
  /** filter rules (KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS, KUBE-PROXY-FIREWALL), interleaved as written. */
  readonly filterLines: readonly string[];
  /** nat KUBE-SERVICES / KUBE-NODEPORTS rules. */
  readonly natTopLines: readonly string[];
  /** The own chains' rules. */
  readonly chainLines: readonly string[];
}

/**
 * Everything kube-proxy writes for one service port on one node. Immutable;
 * shared between nodes with equal inputs. The Rule/Chain objects are built
 * with the piece; the lines are rendered on first use (`text()`, memoised).
 */
export interface Piece {
  readonly fServices: readonly Rule[];
  readonly fExternal: readonly Rule[];
  readonly fNodePorts: readonly Rule[];
  readonly fFirewall: readonly Rule[];
  readonly nServices: readonly Rule[];
  readonly nNodePorts: readonly Rule[];
  /** The service's own nat chains, in kube-proxy's declaration order (EXT, FW, SVC, SVL, SEP…). */
  readonly chains: readonly Chain[];
  text(): PieceText;
}

type FilterTop = 'KUBE-SERVICES' | 'KUBE-EXTERNAL-SERVICES' | 'KUBE-NODEPORTS' | 'KUBE-PROXY-FIREWALL';

/** Collects either rules (R) or lines (L) — one code path writes both, each call site evaluating only what the mode needs. */
class Builder {
  filterLines: string[] = [];
  natTopLines: string[] = [];
  chainLines: string[] = [];
  fServices: Rule[] | null = null;
  fExternal: Rule[] | null = null;
  fNodePorts: Rule[] | null = null;
  fFirewall: Rule[] | null = null;
  nServices: Rule[] | null = null;
  nNodePorts: Rule[] | null = null;
  own = new Map<string, Rule[]>();
  chains: Chain[] = [];
  private lastName = '';
  private lastRules: Rule[] | null = null;
  constructor(readonly L: boolean) {}

  filter(chain: FilterTop, args: string | false, rule: Rule | false): void {
    if (this.L) { this.filterLines.push(`-A ${chain} ${args}`); return; }
    const k = chain === 'KUBE-SERVICES' ? 'fServices' : chain === 'KUBE-EXTERNAL-SERVICES' ? 'fExternal' : chain === 'KUBE-NODEPORTS' ? 'fNodePorts' : 'fFirewall';
    (this[k] ??= []).push(rule as Rule);
  }
  natTop(chain: 'KUBE-SERVICES' | 'KUBE-NODEPORTS', args: string | false, rule: Rule | false): void {
    if (this.L) { this.natTopLines.push(`-A ${chain} ${args}`); return; }
    (chain === 'KUBE-SERVICES' ? (this.nServices ??= []) : (this.nNodePorts ??= [])).push(rule as Rule);
  }
  declare(chain: string): void {
    if (this.L) return;
    // Only the internal policy chain can have a rule before its declaration (the masquerade rule).
    const r = (this.own.size && this.own.get(chain)) || [];
    this.chains.push(userChain(chain, r));
    this.lastName = chain;
    this.lastRules = r;
  }
  nat(chain: string, args: string | false, rule: Rule | false): void {
    if (this.L) { this.chainLines.push(`-A ${chain} ${args}`); return; }
    let r = chain === this.lastName ? this.lastRules : this.own.get(chain);
    if (!r) { r = []; this.own.set(chain, r); }
    r.push(rule as Rule);
  }
}

const mk = makeRule;

/** The key of the node-dependent part of a piece ('' when the piece is the same on every node). */
export function variantKey(sp: ServicePortInfo, eps: readonly EndpointInfo[], nodeName: string, nodeIP: number | undefined): string {
  let k = '';
  if (usesLocalEndpoints(sp)) {
    k = 'L';
    for (let i = 0; i < eps.length; i++) if (eps[i].nodeName !== undefined && eps[i].nodeName === nodeName) k += ',' + i;
  }
  if (nodeIP !== undefined && sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.some((c) => cidrContains(c, nodeIP))) k += '|A';
  return k;
}

const HDR_PROTO = { TCP: { proto: protoHdr('TCP') }, UDP: { proto: protoHdr('UDP') }, SCTP: { proto: protoHdr('SCTP') } };
const NO_HDR: IpHeaderMatch = {};
const NO_MATCHES: Match[] = [];
const ONLY_PROTO = { TCP: [PROTO_ONLY.TCP], UDP: [PROTO_ONLY.UDP], SCTP: [PROTO_ONLY.SCTP] };

type PieceArgs = [ServicePortInfo, readonly EndpointInfo[], ServiceChainNames, string, boolean, PieceProfile];

class BuiltPiece implements Piece {
  fServices: readonly Rule[] = EMPTY_RULES;
  fExternal: readonly Rule[] = EMPTY_RULES;
  fNodePorts: readonly Rule[] = EMPTY_RULES;
  fFirewall: readonly Rule[] = EMPTY_RULES;
  nServices: readonly Rule[] = EMPTY_RULES;
  nNodePorts: readonly Rule[] = EMPTY_RULES;
  chains: readonly Chain[] = [];
  private memo: PieceText | null = null;
  constructor(private readonly args: PieceArgs) {}
  text(): PieceText {
    if (!this.memo) {
      const b = new Builder(true);
      writePiece(b, ...this.args);
      this.memo = { filterLines: b.filterLines, natTopLines: b.natTopLines, chainLines: b.chainLines };
    }
    return this.memo;
  }
}

/**
 * The rules of one service port. `eps` sorted (sortEndpoints); `allowFromNode`:
 * a source range contains the node IP (the KUBE-FW `-s <LB IP>` rules).
 */
export function buildPiece(sp: ServicePortInfo, eps: readonly EndpointInfo[], names: ServiceChainNames, nodeName: string, allowFromNode: boolean, prof: PieceProfile): Piece {
  const b = new Builder(false);
  writePiece(b, sp, eps, names, nodeName, allowFromNode, prof);
  const p = new BuiltPiece([sp, eps, names, nodeName, allowFromNode, prof]);
  if (b.fServices) p.fServices = b.fServices;
  if (b.fExternal) p.fExternal = b.fExternal;
  if (b.fNodePorts) p.fNodePorts = b.fNodePorts;
  if (b.fFirewall) p.fFirewall = b.fFirewall;
  if (b.nServices) p.nServices = b.nServices;
  if (b.nNodePorts) p.nNodePorts = b.nNodePorts;
  p.chains = b.chains;
  return p;
}

function writePiece(b: Builder, sp: ServicePortInfo, eps: readonly EndpointInfo[], names: ServiceChainNames, nodeName: string, allowFromNode: boolean, prof: PieceProfile): void {
  const L = b.L, R = !L;
  const { spn, svc, svl, ext, fw } = names;
  const p = PROTO_NAME[sp.protocol];
  const ph = protoHdr(sp.protocol);
  const cat = categorize(sp, eps, nodeName);
  const hasEndpoints = cat.hasAny;
  const iLocal = sp.internalPolicyLocal;
  const eLocal = externalPolicyLocal(sp);
  const usesClusterPolicyChain = cat.cluster.length > 0 && usesClusterEndpoints(sp);
  const usesLocalPolicyChain = cat.local.length > 0 && usesLocalEndpoints(sp);
  const internalChain = iLocal ? svl : svc;
  const hasInternal = hasEndpoints && !(iLocal && cat.local.length === 0);
  const externalPolicyChain = eLocal ? svl : svc;
  const hasExternal = hasEndpoints && !(eLocal && cat.local.length === 0);
  const usesExt = hasEndpoints && externallyAccessible(sp);
  const usesFW = hasEndpoints && sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFW ? fw : ext;

  let iTarget: Target = REJECT, iComment = '', eTarget: Target = REJECT, eComment = '';
  if (!hasEndpoints) {
    iComment = eComment = `${spn} has no endpoints`;
  } else {
    if (!hasInternal) { iTarget = DROP; iComment = `${spn} has no local endpoints`; }
    if (!hasExternal) { eTarget = DROP; eComment = `${spn} has no local endpoints`; }
  }
  const iTName = iTarget === DROP ? 'DROP' : 'REJECT';
  const eTName = eTarget === DROP ? 'DROP' : 'REJECT';
  const vip = sp.clusterIP!;
  const vipS = L ? ipToString(vip) : '';
  const pm = R ? portMatch(sp.protocol, sp.port) : PROTO_ONLY.TCP;
  const vipHdr = R ? { dst: addr(vip, 32), proto: ph } : NO_HDR;

  // Capture the clusterIP.
  if (hasInternal) {
    const c = `${spn} cluster IP`;
    b.natTop('KUBE-SERVICES', L && `-m comment --comment "${c}" -m ${p} -p ${p} -d ${vipS} --dport ${sp.port} -j ${internalChain}`,
      R && mk(vipHdr, [commentMatch(c), pm], jumpTarget(internalChain)));
  } else {
    b.filter('KUBE-SERVICES', L && `-m comment --comment "${iComment}" -m ${p} -p ${p} -d ${vipS} --dport ${sp.port} -j ${iTName}`,
      R && mk(vipHdr, [commentMatch(iComment), pm], iTarget));
  }

  // Capture externalIPs.
  for (const eip of sp.externalIPs) {
    const s = L ? ipToString(eip) : '';
    if (hasEndpoints) {
      const c = `${spn} external IP`;
      b.natTop('KUBE-SERVICES', L && `-m comment --comment "${c}" -m ${p} -p ${p} -d ${s} --dport ${sp.port} -j ${ext}`,
        R && mk({ dst: addr(eip, 32), proto: ph }, [commentMatch(c), pm], jumpTarget(ext)));
    }
    if (!hasExternal) {
      b.filter('KUBE-EXTERNAL-SERVICES', L && `-m comment --comment "${eComment}" -m ${p} -p ${p} -d ${s} --dport ${sp.port} -j ${eTName}`,
        R && mk({ dst: addr(eip, 32), proto: ph }, [commentMatch(eComment), pm], eTarget));
    }
  }

  // Capture load-balancer ingress.
  for (const lb of sp.loadBalancerIPs) {
    const s = L ? ipToString(lb) : '';
    if (hasEndpoints) {
      const c = `${spn} loadbalancer IP`;
      b.natTop('KUBE-SERVICES', L && `-m comment --comment "${c}" -m ${p} -p ${p} -d ${s} --dport ${sp.port} -j ${lbChain}`,
        R && mk({ dst: addr(lb, 32), proto: ph }, [commentMatch(c), pm], jumpTarget(lbChain)));
    }
    if (usesFW) {
      const c = `${spn} traffic not accepted by ${fw}`;
      b.filter('KUBE-PROXY-FIREWALL', L && `-m comment --comment "${c}" -m ${p} -p ${p} -d ${s} --dport ${sp.port} -j DROP`,
        R && mk({ dst: addr(lb, 32), proto: ph }, [commentMatch(c), pm], DROP));
    }
  }
  if (!hasExternal) {
    for (const lb of sp.loadBalancerIPs) {
      b.filter('KUBE-EXTERNAL-SERVICES', L && `-m comment --comment "${eComment}" -m ${p} -p ${p} -d ${ipToString(lb)} --dport ${sp.port} -j ${eTName}`,
        R && mk({ dst: addr(lb, 32), proto: ph }, [commentMatch(eComment), pm], eTarget));
    }
  }

  // Capture nodeports (no localhost/nfacct rule: podwire has no nfacct counters).
  if (sp.nodePort !== 0) {
    const npm = R ? portMatch(sp.protocol, sp.nodePort) : pm;
    if (hasEndpoints) {
      b.natTop('KUBE-NODEPORTS', L && `-m comment --comment ${spn} -m ${p} -p ${p} --dport ${sp.nodePort} -j ${ext}`,
        R && mk(HDR_PROTO[sp.protocol], [commentMatch(spn), npm], jumpTarget(ext)));
    }
    if (!hasExternal) {
      b.filter('KUBE-EXTERNAL-SERVICES', L && `-m comment --comment "${eComment}" -m addrtype --dst-type LOCAL -m ${p} -p ${p} --dport ${sp.nodePort} -j ${eTName}`,
        R && mk(HDR_PROTO[sp.protocol], [commentMatch(eComment), LOCAL_DST, npm], eTarget));
    }
  }

  // Capture healthCheckNodePorts (kube-proxy has one only for eTP=Local LoadBalancers).
  if (sp.healthCheckNodePort !== 0 && eLocal) {
    const c = `${spn} health check node port`;
    b.filter('KUBE-NODEPORTS', L && `-m comment --comment "${c}" -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
      R && mk(HDR_PROTO.TCP, [commentMatch(c), tcpMatch({ dport: sp.healthCheckNodePort })], ACCEPT));
  }

  // Internal traffic handling: masquerade off-cluster sources.
  if (hasInternal) {
    const c = `${spn} cluster IP`;
    const base = L ? `-m comment --comment "${c}" -m ${p} -p ${p} -d ${vipS} --dport ${sp.port}` : '';
    if (prof.masqueradeAll) {
      b.nat(internalChain, L && `${base} -j ${MARK_MASQ}`, R && mk(vipHdr, [commentMatch(c), pm], JUMP_MARK_MASQ));
    } else if (prof.localCIDR) {
      b.nat(internalChain, L && `${base} ! -s ${cidrString(prof.localCIDR)} -j ${MARK_MASQ}`,
        R && mk({ src: addr(prof.localCIDR.addr, prof.localCIDR.prefix, true), dst: addr(vip, 32), proto: ph }, [commentMatch(c), pm], JUMP_MARK_MASQ));
    }
  }

  // External traffic handling.
  if (usesExt) {
    b.declare(ext);
    if (!eLocal) {
      const c = `masquerade traffic for ${spn} external destinations`;
      b.nat(ext, L && `-m comment --comment "${c}" -j ${MARK_MASQ}`, R && mk(NO_HDR, [commentMatch(c)], JUMP_MARK_MASQ));
    } else {
      if (prof.localCIDR) {
        const c = `pod traffic for ${spn} external destinations`;
        b.nat(ext, L && `-m comment --comment "${c}" -s ${cidrString(prof.localCIDR)} -j ${svc}`,
          R && mk({ src: addr(prof.localCIDR.addr, prof.localCIDR.prefix) }, [commentMatch(c)], jumpTarget(svc)));
      }
      const c1 = `masquerade LOCAL traffic for ${spn} external destinations`;
      b.nat(ext, L && `-m comment --comment "${c1}" -m addrtype --src-type LOCAL -j ${MARK_MASQ}`, R && mk(NO_HDR, [commentMatch(c1), LOCAL_SRC], JUMP_MARK_MASQ));
      const c2 = `route LOCAL traffic for ${spn} external destinations`;
      b.nat(ext, L && `-m comment --comment "${c2}" -m addrtype --src-type LOCAL -j ${svc}`, R && mk(NO_HDR, [commentMatch(c2), LOCAL_SRC], jumpTarget(svc)));
    }
    if (hasExternal) b.nat(ext, L && `-j ${externalPolicyChain}`, R && mk(NO_HDR, NO_MATCHES, jumpTarget(externalPolicyChain)));
  }

  // Firewall chain (loadBalancerSourceRanges).
  if (usesFW) {
    b.declare(fw);
    const c = `${spn} loadbalancer IP`;
    const cm = R ? [commentMatch(c)] : NO_MATCHES;
    const toExt = R ? jumpTarget(ext) : null;
    for (const r of sp.loadBalancerSourceRanges) {
      b.nat(fw, L && `-m comment --comment "${c}" -s ${cidrString(r)} -j ${ext}`, R && mk({ src: addr(r.addr, r.prefix) }, cm, toExt));
    }
    if (allowFromNode) {
      for (const lb of sp.loadBalancerIPs) {
        b.nat(fw, L && `-m comment --comment "${c}" -s ${ipToString(lb)} -j ${ext}`, R && mk({ src: addr(lb, 32) }, cm, toExt));
      }
    }
    const c2 = `other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`;
    b.nat(fw, L && `-m comment --comment "${c2}"`, R && mk(NO_HDR, [commentMatch(c2)], null));
  }

  const sepOf = new Map<EndpointInfo, string>();
  const sep = (e: EndpointInfo) => {
    let x = sepOf.get(e);
    if (x === undefined) { x = sepChainName(spn, p, endpointString(e.ip, e.port)); sepOf.set(e, x); }
    return x;
  };
  if (usesClusterPolicyChain) { b.declare(svc); writeServiceToEndpointRules(b, spn, sp, svc, cat.cluster, sep, prof.largeCluster); }
  if (usesLocalPolicyChain) { b.declare(svl); writeServiceToEndpointRules(b, spn, sp, svl, cat.local, sep, prof.largeCluster); }

  // Per-endpoint chains.
  const large = prof.largeCluster;
  const cArgs = large ? '' : `-m comment --comment ${spn} `;
  const affinity = sp.affinitySeconds > 0;
  const hairpinMs: Match[] = R && !large ? [commentMatch(spn)] : NO_MATCHES;
  const dnatMs: Match[] = R ? (large ? ONLY_PROTO[sp.protocol] : [hairpinMs[0], PROTO_ONLY[sp.protocol]]) : NO_MATCHES;
  const dnatHdr = HDR_PROTO[sp.protocol];
  for (const e of cat.all) {
    const s = sep(e);
    b.declare(s);
    b.nat(s, L && `${cArgs}-s ${ipToString(e.ip)} -j ${MARK_MASQ}`, R && mk({ src: addr(e.ip, 32) }, hairpinMs, JUMP_MARK_MASQ));
    let ms = dnatMs;
    if (affinity && R) ms = large ? [recentMatch({ cmd: 'set', name: s }), PROTO_ONLY[sp.protocol]] : [hairpinMs[0], recentMatch({ cmd: 'set', name: s }), PROTO_ONLY[sp.protocol]];
    b.nat(s, L && `${cArgs}${affinity ? `-m recent --name ${s} --set ` : ''}-m ${p} -p ${p} -j DNAT --to-destination ${endpointString(e.ip, e.port)}`,
      R && mk(dnatHdr, ms, dnatTarget(e.ip, e.port)));
  }
}

/** `-m statistic --mode random --probability p`, one object per probability (random mode keeps no state). */
const randomMatches = new Map<string, Match>();
function randomMatch(p: string): Match {
  let m = randomMatches.get(p);
  if (m === undefined) { m = statisticRandom(p); randomMatches.set(p, m); }
  return m;
}

function writeServiceToEndpointRules(b: Builder, spn: string, sp: ServicePortInfo, chain: string, eps: readonly EndpointInfo[],
  sep: (e: EndpointInfo) => string, large: boolean): void {
  const L = b.L, R = !L;
  if (sp.affinitySeconds > 0) {
    for (const e of eps) {
      const s = sep(e);
      const c = large ? '' : `${spn} -> ${endpointString(e.ip, e.port)}`;
      b.nat(chain, L && `${large ? '' : `-m comment --comment "${c}" `}-m recent --name ${s} --rcheck --seconds ${sp.affinitySeconds} --reap -j ${s}`,
        R && mk(NO_HDR, [...(large ? [] : [commentMatch(c)]), recentMatch({ cmd: 'rcheck', name: s, seconds: sp.affinitySeconds, reap: true })], jumpTarget(s)));
    }
  }
  const n = eps.length;
  for (let i = 0; i < n; i++) {
    const e = eps[i];
    const s = sep(e);
    const c = large ? '' : `${spn} -> ${endpointString(e.ip, e.port)}`;
    const pr = i < n - 1 ? probability(n - i) : '';
    if (L) {
      b.nat(chain, `${large ? '' : `-m comment --comment "${c}" `}${pr ? `-m statistic --mode random --probability ${pr} ` : ''}-j ${s}`, false);
    } else {
      const ms: Match[] = large ? (pr ? [randomMatch(pr)] : NO_MATCHES) : pr ? [commentMatch(c), randomMatch(pr)] : [commentMatch(c)];
      b.nat(chain, false, mk(NO_HDR, ms, jumpTarget(s)));
    }
  }
}

// ---------------------------------------------------------------------------
// Fixed chains

export interface FixedRules {
  /** filter chains kube-proxy declares before the services, in order (KUBE-FIREWALL only with localhost NodePorts). */
  filterDecl: readonly string[];
  /** KUBE-FIREWALL line (written before the services) or none. */
  filterHead: readonly string[];
  /** KUBE-FORWARD lines (written after the services). */
  filterTail: readonly string[];
  natHead: readonly string[];
  /** nat KUBE-SERVICES tail: the nodeports jump(s). */
  natTail: readonly string[];
  chains: { filter: Chain[]; nat: Chain[] };
  servicesTail: readonly Rule[];
}

/** nodePortAddresses semantics (pkg/proxy/util/nodeport_addresses.go) for IPv4. */
export function nodePortAddressInfo(cfg: ProxierConfig): { matchAll: boolean; containsLoopback: boolean; cidrs: Cidr[] } {
  const cidrs: Cidr[] = [];
  let containsLoopback = false, matchAll = false;
  const list = cfg.nodePortAddresses.length ? cfg.nodePortAddresses : [{ addr: 0, prefix: 0 }];
  for (const c of list) {
    if ((c.addr >>> 24) === 127 || cidrContains(c, 0x7f000000)) containsLoopback = true;
    if (c.prefix === 0) { matchAll = true; cidrs.length = 0; cidrs.push(c); break; }
    cidrs.push(c);
  }
  return { matchAll, containsLoopback, cidrs };
}

/** localhostNodePorts as NewProxier leaves it (off unless nodePortAddresses contain IPv4 loopback). */
export function effectiveLocalhostNodePorts(cfg: ProxierConfig): boolean {
  return cfg.localhostNodePorts && nodePortAddressInfo(cfg).containsLoopback;
}

export function buildFixed(cfg: ProxierConfig): FixedRules {
  const M = masqueradeMarkText(cfg.masqueradeBit);
  const mv = (1 << cfg.masqueradeBit) >>> 0;
  const lnp = effectiveLocalhostNodePorts(cfg);
  const filterDecl = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL'];
  const filterHead: string[] = [];
  const filterChains: Chain[] = [];
  if (lnp) {
    filterDecl.push('KUBE-FIREWALL');
    const c = 'block incoming localnet connections';
    filterHead.push(`-A KUBE-FIREWALL -m comment --comment "${c}" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`);
    filterChains.push(userChain('KUBE-FIREWALL', [makeRule({ src: addr(0x7f000000, 8, true), dst: addr(0x7f000000, 8) },
      [commentMatch(c), conntrackState('RELATED,ESTABLISHED,DNAT', true)], DROP)]));
  }
  const fwd: Rule[] = [];
  const filterTail: string[] = [];
  if (!cfg.conntrackTcpBeLiberal) {
    filterTail.push('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP');
    fwd.push(makeRule({}, [conntrackState('INVALID')], DROP));
  }
  filterTail.push(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${M}/${M} -j ACCEPT`);
  fwd.push(makeRule({}, [commentMatch('kubernetes forwarding rules'), markMatch(mv, mv)], ACCEPT));
  filterTail.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  fwd.push(makeRule({}, [commentMatch('kubernetes forwarding conntrack rule'), conntrackState('RELATED,ESTABLISHED')], ACCEPT));
  filterChains.push(userChain('KUBE-FORWARD', fwd));

  const natHead = [
    `-A KUBE-POSTROUTING -m mark ! --mark ${M}/${M} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${M}`,
    `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${cfg.randomFully ? ' --random-fully' : ''}`,
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${M}`,
  ];
  const natChains = [
    userChain('KUBE-POSTROUTING', [
      makeRule({}, [markMatch(mv, mv, true)], returnTarget()),
      makeRule({}, [], xorMarkTarget(mv)),
      makeRule({}, [commentMatch('kubernetes service traffic requiring SNAT')], masqueradeTarget({ randomFully: cfg.randomFully })),
    ]),
    userChain('KUBE-MARK-MASQ', [makeRule({}, [], orMarkTarget(mv))]),
  ];

  // The last rule(s) of nat KUBE-SERVICES.
  const npa = nodePortAddressInfo(cfg);
  const c = 'kubernetes service nodeports; NOTE: this must be the last rule in this chain';
  const natTail: string[] = [];
  const servicesTail: Rule[] = [];
  const toNP = jumpTarget('KUBE-NODEPORTS');
  if (npa.matchAll) {
    natTail.push(`-A KUBE-SERVICES -m comment --comment "${c}" -m addrtype --dst-type LOCAL${lnp ? '' : ' ! -d 127.0.0.0/8'} -j KUBE-NODEPORTS`);
    servicesTail.push(makeRule(lnp ? {} : { dst: addr(0x7f000000, 8, true) }, [commentMatch(c), LOCAL_DST], toNP));
  } else {
    // GetNodeIPs: the interface addresses (lo's 127.0.0.1 and the node's IPs) inside the CIDRs.
    // kube-proxy's order comes from a Go map; podwire sorts them numerically.
    const ifAddrs = [0x7f000001, ...cfg.nodeIPs];
    const ips = [...new Set(ifAddrs.filter((ip) => npa.cidrs.some((cc) => cidrContains(cc, ip))))].sort((a, b) => a - b);
    for (const ip of ips) {
      if ((ip >>> 24) === 127 && !lnp) continue;
      natTail.push(`-A KUBE-SERVICES -m comment --comment "${c}" -d ${ipToString(ip)} -j KUBE-NODEPORTS`);
      servicesTail.push(makeRule({ dst: addr(ip, 32) }, [commentMatch(c)], toNP));
    }
  }
  return { filterDecl, filterHead, filterTail, natHead, natTail, chains: { filter: filterChains, nat: natChains }, servicesTail };
}

// ---------------------------------------------------------------------------
// Jump rules in built-in chains (EnsureRule Prepend, on every full sync)

export interface BuiltinJump {
  table: 'filter' | 'nat';
  chain: string;
  /** The rule arguments as kube-proxy passes them to `iptables -I CHAIN` (comment quoted for a shell). */
  args: string;
  rule: Rule;
}

const JUMPS: [BuiltinJump['table'], string, string, string, boolean][] = [
  ['filter', 'KUBE-EXTERNAL-SERVICES', 'INPUT', 'kubernetes externally-visible service portals', true],
  ['filter', 'KUBE-EXTERNAL-SERVICES', 'FORWARD', 'kubernetes externally-visible service portals', true],
  ['filter', 'KUBE-NODEPORTS', 'INPUT', 'kubernetes health check service ports', false],
  ['filter', 'KUBE-SERVICES', 'FORWARD', 'kubernetes service portals', true],
  ['filter', 'KUBE-SERVICES', 'OUTPUT', 'kubernetes service portals', true],
  ['filter', 'KUBE-FORWARD', 'FORWARD', 'kubernetes forwarding rules', false],
  ['filter', 'KUBE-PROXY-FIREWALL', 'INPUT', 'kubernetes load balancer firewall', true],
  ['filter', 'KUBE-PROXY-FIREWALL', 'OUTPUT', 'kubernetes load balancer firewall', true],
  ['filter', 'KUBE-PROXY-FIREWALL', 'FORWARD', 'kubernetes load balancer firewall', true],
  ['nat', 'KUBE-SERVICES', 'OUTPUT', 'kubernetes service portals', false],
  ['nat', 'KUBE-SERVICES', 'PREROUTING', 'kubernetes service portals', false],
  ['nat', 'KUBE-POSTROUTING', 'POSTROUTING', 'kubernetes postrouting rules', false],
  // iptablesKubeletJumpChains: no comment.
  ['filter', 'KUBE-FIREWALL', 'INPUT', '', false],
  ['filter', 'KUBE-FIREWALL', 'OUTPUT', '', false],
];

/** The jumps in the order kube-proxy ensures them (iptablesJumpChains, then the kubelet ones). */
export function builtinJumpsInIssueOrder(): BuiltinJump[] {
  return JUMPS.map(([table, dst, chain, comment, ctNew]) => {
    let args = ctNew ? '-m conntrack --ctstate NEW ' : '';
    const ms: Match[] = ctNew ? [conntrackState('NEW')] : [];
    if (comment) { args += `-m comment --comment "${comment}" `; ms.push(commentMatch(comment)); }
    args += `-j ${dst}`;
    return { table, chain, args, rule: makeRule({}, ms, jumpTarget(dst)) };
  });
}

/** Where they end up: each prepended at position 1, so per built-in chain in reverse issue order. */
export function builtinJumps(): BuiltinJump[] {
  const issued = builtinJumpsInIssueOrder();
  const out: BuiltinJump[] = [];
  const keys: string[] = [];
  for (const j of issued) { const k = `${j.table} ${j.chain}`; if (!keys.includes(k)) keys.push(k); }
  for (const k of keys) out.push(...issued.filter((j) => `${j.table} ${j.chain}` === k).reverse());
  return out;
}
