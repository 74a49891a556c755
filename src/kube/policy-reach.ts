/**
 * Reachability at scale: the pods × pods truth table of a policy set, for
 * several (port, protocol) cases at once, without evaluating pod pairs.
 *
 * Pods are grouped into equivalence classes that no policy can tell apart:
 * - pod-network pods: same namespace (and so namespace labels), same values
 *   for every label key any selector reads, same resolution of every named
 *   port any policy names, and same position relative to every CIDR any
 *   policy names (ipBlock cidr/except, ANP networks);
 * - hostNetwork pods: same node (its labels, for ANP `nodes` peers) and same
 *   CIDR position — their traffic is node traffic, never a policy subject.
 * Every tier is then evaluated on classes with bitsets: per class, the set of
 * source classes its ingress admits and the set of destination classes its
 * egress admits; a cell is allowed when both are. Equal rule lists share one
 * computation, and classes with equal rule lists share their rows: memory is
 * at most classes² bits per case (rows × classes in practice); nothing is pods².
 *
 * The two rules outside the tiers are applied per pod by the accessors: a pod
 * always reaches itself, and a hostNetwork pod reaches the pod-network pods of
 * its own node (it is that node's traffic). `allowed(i, j, k)` equals
 * `PolicyEvaluator.verdict(pod i, pod j, case k).allowed` for every i, j, k
 * (property-tested).
 */
import { anpPortsMatch, CompiledPolicies, npPortMatches, type ClusterView, type CompiledAnp, type CompiledAnpRule, type CompiledNpRule, type PodRec, type PolicySet, type PortCase } from './policy-model.js';
import type { Cidr4 } from './ip.js';
import { ipBlockContains } from './networkpolicy.js';
import type { CompiledSelector } from './policy-selector.js';

/** The truth table, compactly: a class matrix per case and the pod → class map. */
export interface Reachability {
  /** `ns/name` of every pod, in view order; pod indexes below refer to this list. */
  readonly pods: readonly string[];
  readonly cases: readonly PortCase[];
  readonly classCount: number;
  /** Pod index → class. */
  readonly classOf: Uint32Array;
  /** Pod indexes of a class, in view order. */
  members(cls: number): readonly number[];
  /** Whether pod `from` may open a connection to pod `to` for case `k` (default 0). */
  allowed(from: number, to: number, k?: number): boolean;
  /** The class matrix cell: any pod of `fromClass` to any other pod of `toClass` (ignoring the self and own-node rules). */
  classAllowed(fromClass: number, toClass: number, k?: number): boolean;
  /** Every cell for case `k`, rows in pod order: `[from, to, allowed]` (pods² of them — iterate lazily). */
  cells(k?: number): Generator<[number, number, boolean]>;
  /** Cells the tiers deny (the self/own-node rules applied), without visiting allowed class pairs. */
  denied(k?: number): Generator<[number, number]>;
}

type Bits = Uint32Array;

/** Computes the reachability table of `view` under `policies` for every case. */
export function reachability(view: ClusterView, policies: PolicySet, cases: readonly PortCase[]): Reachability {
  const c = new CompiledPolicies(view, policies);
  return new ReachEngine(c, cases).result();
}

class ReachEngine {
  private readonly C: number;
  private readonly W: number;
  private readonly classOf: Uint32Array;
  private readonly reps: PodRec[] = [];
  private readonly members: number[][] = [];
  private readonly ALL: Bits;
  private readonly ALLPOD: Bits;
  private readonly classesByNs = new Map<string, number[]>();
  private readonly cache = new Map<string, Bits>();

  constructor(
    private readonly c: CompiledPolicies,
    private readonly cases: readonly PortCase[],
  ) {
    // --- what can tell pods apart ---------------------------------------------------------
    const keys = new Set<string>();
    for (const s of c.selectors()) for (const k of s.keys) keys.add(k);
    const named = new Set<string>();
    const cidrs: Cidr4[] = [];
    for (const np of c.nps)
      for (const r of [...np.ingressRules, ...np.egressRules]) {
        for (const p of r.ports) if (typeof p.port === 'string') named.add(p.port);
        for (const p of r.peers) if (p.peer.ipBlock) cidrs.push(p.peer.ipBlock.net, ...p.peer.ipBlock.exceptNets);
      }
    for (const a of [...c.anps, ...(c.banp ? [c.banp] : [])])
      for (const r of [...a.ingress, ...a.egress]) {
        for (const p of r.ports ?? []) if (p.kind === 'named') named.add(p.name);
        for (const p of r.peers) for (const n of p.peer.networks ?? []) cidrs.push(n.net);
      }
    const namedList = [...named].sort();
    const ipClass = ipClassifier(cidrs);

    // --- classes ---------------------------------------------------------------------------
    const byKey = new Map<string, number>();
    this.classOf = new Uint32Array(c.pods.length);
    for (const p of c.pods) {
      let key: string;
      if (p.hostNetwork) key = `H\u0000${p.node}\u0000${ipClass(p.ip)}`;
      else {
        let ls = '';
        const lk = Object.keys(p.labels).filter((k) => keys.has(k));
        if (lk.length > 1) lk.sort();
        for (const k of lk) ls += `${k}=${p.labels[k]}\u0001`;
        let ps = '';
        if (namedList.length)
          for (const n of namedList) {
            ps += '\u0001';
            for (const cp of p.ports) if (cp.name === n) ps += `${cp.protocol}:${cp.containerPort},`;
          }
        key = `P\u0000${p.namespace}\u0000${ls}\u0000${ps}\u0000${ipClass(p.ip)}`;
      }
      let k = byKey.get(key);
      if (k === undefined) {
        k = this.reps.length;
        byKey.set(key, k);
        this.reps.push(p);
        this.members.push([]);
        if (!p.hostNetwork) {
          let l = this.classesByNs.get(p.namespace);
          if (!l) this.classesByNs.set(p.namespace, (l = []));
          l.push(k);
        }
      }
      this.classOf[p.index] = k;
      this.members[k].push(p.index);
    }
    this.C = this.reps.length;
    this.W = (this.C + 31) >>> 5;
    this.ALL = this.bits();
    this.ALLPOD = this.bits();
    for (let k = 0; k < this.C; k++) {
      set(this.ALL, k);
      if (!this.reps[k].hostNetwork) set(this.ALLPOD, k);
    }
  }

  private bits(): Bits {
    return new Uint32Array(this.W);
  }

  private memo(key: string, make: () => Bits): Bits {
    let b = this.cache.get(key);
    if (!b) this.cache.set(key, (b = make()));
    return b;
  }

  // --- sets of classes ----------------------------------------------------------------------

  /** Pod-network classes whose pod labels match. */
  private podSel(s: CompiledSelector): Bits {
    return this.memo(`pod\u0000${s.text}`, () => {
      const b = this.bits();
      for (let k = 0; k < this.C; k++) if (!this.reps[k].hostNetwork && s.matches(this.reps[k].labels)) set(b, k);
      return b;
    });
  }

  /** Pod-network classes whose namespace's labels match. */
  private nsSel(s: CompiledSelector): Bits {
    return this.memo(`ns\u0000${s.text}`, () => {
      const b = this.bits();
      for (const [, ks] of this.classesByNs) if (s.matches(this.reps[ks[0]].nsLabels)) for (const k of ks) set(b, k);
      return b;
    });
  }

  /** Pod-network classes of one namespace. */
  private nsEq(ns: string): Bits {
    return this.memo(`nseq\u0000${ns}`, () => {
      const b = this.bits();
      for (const k of this.classesByNs.get(ns) ?? []) set(b, k);
      return b;
    });
  }

  /** hostNetwork classes whose node's labels match. */
  private nodeSel(s: CompiledSelector): Bits {
    return this.memo(`node\u0000${s.text}`, () => {
      const b = this.bits();
      for (let k = 0; k < this.C; k++) if (this.reps[k].hostNetwork && s.matches(this.reps[k].nodeLabels)) set(b, k);
      return b;
    });
  }

  private byIp(key: string, test: (ip: number) => boolean): Bits {
    return this.memo(`ip\u0000${key}`, () => {
      const b = this.bits();
      for (let k = 0; k < this.C; k++) if (test(this.reps[k].ip)) set(b, k);
      return b;
    });
  }

  /** Classes (as the other party) a NetworkPolicy rule's peers match. */
  private npRulePeers(ns: string, r: CompiledNpRule): Bits {
    if (r.peers.length === 0) return this.ALL;
    return this.memo(`nprule\u0000${r.id}`, () => {
      const b = this.bits();
      for (const p of r.peers) {
        const ib = p.peer.ipBlock;
        if (ib) {
          or(b, this.byIp(`${ib.cidr}\u0000${ib.except.join(',')}`, (ip) => ipBlockContains(ib, ip)));
          continue;
        }
        const nsPart = p.ns ? this.nsSel(p.ns) : this.nsEq(ns);
        const podPart = p.pod ? this.podSel(p.pod) : this.ALLPOD;
        orAnd(b, nsPart, podPart);
      }
      return b;
    });
  }

  private anpRulePeers(r: CompiledAnpRule<string>): Bits {
    return this.memo(`anprule\u0000${r.id}`, () => {
      const b = this.bits();
      for (const p of r.peers) {
        const nets = p.peer.networks;
        if (nets) or(b, this.byIp(nets.map((n) => n.cidr).join(','), (ip) => nets.some((n) => ip >= n.net.base && ip < n.net.base + n.net.size)));
        else if (p.nodes) or(b, this.nodeSel(p.nodes));
        else if (p.ns) orAnd(b, this.nsSel(p.ns), p.pod ? this.podSel(p.pod) : this.ALLPOD);
      }
      return b;
    });
  }

  /** Destination classes with a container port named `name`, of `protocol` and number `port` (pod-network pods only). */
  private namedPort(name: string, protocol: string | undefined, port: number, caseProtocol: string): Bits {
    return this.memo(`named\u0000${name}\u0000${protocol ?? '*'}\u0000${port}\u0000${caseProtocol}`, () => {
      const b = this.bits();
      if (protocol !== undefined && protocol !== caseProtocol) return b;
      for (let d = 0; d < this.C; d++) {
        const rep = this.reps[d];
        if (rep.hostNetwork) continue;
        for (const cp of rep.ports) if (cp.name === name && cp.protocol === caseProtocol && cp.containerPort === port) set(b, d);
      }
      return b;
    });
  }

  /** Destination classes for which a rule's ports match case k. */
  private npRulePorts(r: CompiledNpRule, k: number): Bits {
    if (r.ports.length === 0) return this.ALL;
    const { port, protocol } = this.cases[k];
    if (r.ports.some((e) => typeof e.port !== 'string' && npPortMatches(e, undefined, port, protocol))) return this.ALL;
    if (!r.hasNamed) return this.none();
    const named = r.ports.filter((e) => typeof e.port === 'string');
    if (named.length === 1) return this.namedPort(named[0].port as string, named[0].protocol, port, protocol);
    return this.memo(`npports\u0000${r.id}\u0000${k}`, () => {
      const b = this.bits();
      for (const e of named) or(b, this.namedPort(e.port as string, e.protocol, port, protocol));
      return b;
    });
  }

  private anpRulePorts(r: CompiledAnpRule<string>, k: number): Bits {
    if (!r.ports) return this.ALL;
    const { port, protocol } = this.cases[k];
    if (anpPortsMatch(r.ports.filter((p) => p.kind !== 'named'), undefined, port, protocol)) return this.ALL;
    if (!r.hasNamed) return this.none();
    return this.memo(`anpports\u0000${r.id}\u0000${k}`, () => {
      const b = this.bits();
      for (const p of r.ports!) if (p.kind === 'named') or(b, this.namedPort(p.name, undefined, port, protocol));
      return b;
    });
  }

  private noneBits?: Bits;
  private none(): Bits {
    return (this.noneBits ??= this.bits());
  }

  private anpSubject(a: CompiledAnp<string>): Bits {
    return this.memo(`anpsubj\u0000${a.name}\u0000${a.priority}`, () => {
      const b = this.bits();
      orAnd(b, this.nsSel(a.subjectNs), a.subjectPod ? this.podSel(a.subjectPod) : this.ALLPOD);
      return b;
    });
  }

  // --- one direction for one class ------------------------------------------------------------

  /**
   * The classes on the other side that `dir` of class `s` admits for case k.
   * Ingress: source classes; port tests are on `s` itself (the destination).
   * Egress: destination classes; port tests are per destination class.
   */
  private direction(dir: 'Ingress' | 'Egress', s: number, k: number): Bits {
    const rep = this.reps[s];
    if (rep.hostNetwork) return this.ALL;
    const ing = dir === 'Ingress';
    // The rule lists that apply, in order; they determine the result completely.
    const anpRules: CompiledAnpRule<string>[] = [];
    for (const a of this.c.anps)
      if (has(this.anpSubject(a), s)) for (const r of ing ? a.ingress : a.egress) if (!ing || has(this.anpRulePorts(r, k), s)) anpRules.push(r);
    const npRules: { ns: string; r: CompiledNpRule }[] = [];
    let isolated = false;
    for (const np of this.c.npsByNs.get(rep.namespace) ?? []) {
      if (!(ing ? np.ingress : np.egress) || !this.c.npSelects(np, rep)) continue;
      isolated = true;
      for (const r of ing ? np.ingressRules : np.egressRules) if (!ing || has(this.npRulePorts(r, k), s)) npRules.push({ ns: np.np.namespace, r });
    }
    const banp = this.c.banp;
    const banpRules: CompiledAnpRule<string>[] = [];
    const banpSelects = !isolated && banp !== undefined && has(this.anpSubject(banp), s);
    if (banpSelects) for (const r of ing ? banp.ingress : banp.egress) if (!ing || has(this.anpRulePorts(r, k), s)) banpRules.push(r);
    if (!anpRules.length && !isolated && !banpRules.length) return this.ALL;
    const key = `${dir}\u0000${ing ? '' : k}\u0000${anpRules.map((r) => r.id).join(',')}\u0000${isolated ? 'N' : 'B'}${(isolated ? npRules.map((x) => x.r.id) : banpRules.map((r) => r.id)).join(',')}`;
    return this.memo(key, () => {
      const W = this.W;
      const undecided = this.ALL.slice();
      const allow = this.bits();
      const pass = this.bits();
      const tmp = this.bits();
      for (const r of anpRules) {
        matching(tmp, this.anpRulePeers(r), ing ? undefined : this.anpRulePorts(r, k), undecided, W);
        // The first matching rule decides: Allow/Deny here, Pass by the tiers below
        // (and no later ANP rule applies to what it matched).
        if (r.action === 'Allow') or(allow, tmp);
        else if (r.action === 'Pass') or(pass, tmp);
        andNot(undecided, tmp);
      }
      or(undecided, pass); // what the NetworkPolicy/BANP tiers decide
      const tier = this.bits();
      if (isolated) {
        for (const { ns, r } of npRules) {
          const peers = this.npRulePeers(ns, r);
          if (ing) or(tier, peers);
          else orAnd(tier, peers, this.npRulePorts(r, k));
        }
      } else {
        // BANP: the first matching rule decides; unmatched traffic is allowed.
        const und = this.ALL.slice();
        for (const r of banpRules) {
          matching(tmp, this.anpRulePeers(r), ing ? undefined : this.anpRulePorts(r, k), und, W);
          if (r.action === 'Allow') or(tier, tmp);
          andNot(und, tmp);
        }
        or(tier, und);
      }
      for (let w = 0; w < W; w++) allow[w] |= undecided[w] & tier[w];
      return allow;
    });
  }

  result(): Reachability {
    const C = this.C;
    // Per case, each class's ingress row (source classes admitted) and egress row
    // (destination classes admitted). Rows are shared between classes with equal
    // rule lists, so memory is (distinct rows × classes) bits, at most classes².
    const ingress: Bits[][] = [];
    const egress: Bits[][] = [];
    for (let k = 0; k < this.cases.length; k++) {
      const ik: Bits[] = [];
      const ek: Bits[] = [];
      for (let s = 0; s < C; s++) {
        ik.push(this.direction('Ingress', s, k));
        ek.push(this.direction('Egress', s, k));
      }
      ingress.push(ik);
      egress.push(ek);
    }
    this.cache.clear();
    const classOf = this.classOf;
    const pods = this.c.pods;
    const members = this.members;
    // M[a][b] = egress[a] has b ∧ ingress[b] has a.
    const classAllowed = (a: number, b: number, k = 0): boolean => has(egress[k][a], b) && has(ingress[k][b], a);
    const shortcut = (i: number, j: number): boolean =>
      i === j || (pods[i].hostNetwork && !pods[j].hostNetwork && pods[i].node === pods[j].node);
    const allowed = (i: number, j: number, k = 0): boolean => shortcut(i, j) || classAllowed(classOf[i], classOf[j], k);
    return {
      pods: pods.map((p) => p.ref),
      cases: [...this.cases],
      classCount: C,
      classOf,
      members: (cls) => members[cls],
      allowed,
      classAllowed,
      *cells(k = 0) {
        for (let i = 0; i < pods.length; i++) for (let j = 0; j < pods.length; j++) yield [i, j, allowed(i, j, k)];
      },
      *denied(k = 0) {
        for (let a = 0; a < C; a++)
          for (let b = 0; b < C; b++) {
            if (classAllowed(a, b, k)) continue;
            for (const i of members[a]) for (const j of members[b]) if (!shortcut(i, j)) yield [i, j];
          }
      },
    };
  }
}

function matching(out: Bits, peers: Bits, ports: Bits | undefined, undecided: Bits, W: number): void {
  for (let w = 0; w < W; w++) out[w] = peers[w] & undecided[w] & (ports ? ports[w] : ~0);
}

function set(b: Bits, i: number): void {
  b[i >>> 5] |= 1 << (i & 31);
}
function has(b: Bits, i: number): boolean {
  return (b[i >>> 5] & (1 << (i & 31))) !== 0;
}
function or(a: Bits, b: Bits): void {
  for (let w = 0; w < a.length; w++) a[w] |= b[w];
}
function orAnd(a: Bits, b: Bits, c: Bits): void {
  for (let w = 0; w < a.length; w++) a[w] |= b[w] & c[w];
}
function andNot(a: Bits, b: Bits): void {
  for (let w = 0; w < a.length; w++) a[w] &= ~b[w];
}

/**
 * Maps an address to an id shared by all addresses that every CIDR of the
 * policy set classifies alike: elementary intervals between CIDR boundaries,
 * merged when their membership vectors are equal.
 */
function ipClassifier(cidrs: readonly Cidr4[]): (ip: number) => number {
  if (cidrs.length === 0) return () => 0;
  const uniq = new Map<string, Cidr4>();
  for (const c of cidrs) uniq.set(`${c.base}/${c.prefix}`, c);
  const list = [...uniq.values()];
  const bounds = [...new Set(list.flatMap((c) => [c.base, c.base + c.size]))].sort((a, b) => a - b);
  const ids = new Map<number, number>();
  const sigs = new Map<string, number>();
  return (ip) => {
    // Interval index: the number of boundaries ≤ ip.
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bounds[mid] <= ip) lo = mid + 1;
      else hi = mid;
    }
    let id = ids.get(lo);
    if (id === undefined) {
      let sig = '';
      for (const c of list) sig += ip >= c.base && ip < c.base + c.size ? '1' : '0';
      id = sigs.get(sig);
      if (id === undefined) sigs.set(sig, (id = sigs.size));
      ids.set(lo, id);
    }
    return id;
  };
}
