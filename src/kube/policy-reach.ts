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
 * Classes are built by integer refinement (policy-reach-classes.ts) and
 * numbered grouped by IP signature, so an ipBlock's classes are range fills.
 * Every tier is then evaluated on classes with word-level bitsets: the class
 * sets a selector, a rule's peers or its named ports admit are computed once
 * (selectors requirement by requirement on per-(key, value) class sets, not
 * by matching each class's labels); each policy then appends its rules to the
 * rule lists of the classes it selects (hash-consed trie nodes, no strings),
 * and one row is computed per distinct (ANP rules, NetworkPolicy-or-BANP
 * rules) pair: per class, the set of source classes its ingress admits and the
 * set of destination classes its egress admits; a cell is allowed when both
 * are. A row made of one rule's peers is that (shared) set. The result holds
 * (distinct rows) × classes bits plus O(pods + classes): rows are as many as
 * distinct rule lists, not classes; nothing is pods².
 *
 * The two rules outside the tiers are applied per pod by the accessors: a pod
 * always reaches itself, and a hostNetwork pod reaches the pod-network pods of
 * its own node (it is that node's traffic). `allowed(i, j, k)` equals
 * `PolicyEvaluator.verdict(pod i, pod j, case k).allowed` for every i, j, k
 * (property-tested).
 */
import { anpPortsMatch, CompiledPolicies, npPortMatches, type ClusterView, type CompiledAnp, type CompiledAnpRule, type CompiledNpRule, type PolicySet, type PortCase } from './policy-model.js';
import type { Cidr4 } from './ip.js';
import type { LabelSelector } from './labels.js';
import { ipBlockContains } from './networkpolicy.js';
import { formatSelector, type CompiledSelector } from './policy-selector.js';
import { clear, fillRange, forEachSet, has, ListTrie, newBits, or, orAnd, andNot, set, type Bits } from './policy-reach-bits.js';
import { buildClasses, classesByIp, SelectorIndex, type ClassTable } from './policy-reach-classes.js';

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


/** Computes the reachability table of `view` under `policies` for every case. */
export function reachability(view: ClusterView, policies: PolicySet, cases: readonly PortCase[]): Reachability {
  const c = new CompiledPolicies(view, policies);
  return new ReachEngine(c, policies, cases).result();
}

interface RuleRef { ns?: string; np?: CompiledNpRule; anp?: CompiledAnpRule<string> }

/** Per class, for one direction: the ANP rule list (trie node) and the tier token (NetworkPolicy rule list ×2+1 when isolated, else BANP rule list ×2). */
interface DirKeys {
  anp: Uint32Array;
  tier: Float64Array;
}

/** Rows of one direction and case: per class, the index of its row (the classes on the other side it admits). */
interface DirRows {
  rowOf: Uint32Array;
  rows: Bits[];
}

class ReachEngine {
  private readonly t: ClassTable;
  private readonly C: number;
  private readonly ALL: Bits;
  private readonly ALLPOD: Bits;
  private readonly sel: SelectorIndex;
  private readonly rawSel = new Map<string, LabelSelector>();
  private readonly cache = new Map<string, Bits>();
  private readonly ruleById: RuleRef[] = [];
  private readonly trie: ListTrie;

  constructor(
    private readonly c: CompiledPolicies,
    policies: PolicySet,
    private readonly cases: readonly PortCase[],
  ) {
    // --- what can tell pods apart ---------------------------------------------------------
    const keys = new Set<string>();
    for (const s of c.selectors()) for (const k of s.keys) keys.add(k);
    const named = new Set<string>();
    const cidrs: Cidr4[] = [];
    for (const np of c.nps)
      for (const r of [...np.ingressRules, ...np.egressRules]) {
        this.ruleById[r.id] = { ns: np.np.namespace, np: r };
        for (const p of r.ports) if (typeof p.port === 'string') named.add(p.port);
        for (const p of r.peers) if (p.peer.ipBlock) cidrs.push(p.peer.ipBlock.net, ...p.peer.ipBlock.exceptNets);
      }
    for (const a of [...c.anps, ...(c.banp ? [c.banp] : [])])
      for (const r of [...a.ingress, ...a.egress]) {
        this.ruleById[r.id] = { anp: r };
        for (const p of r.ports ?? []) if (p.kind === 'named') named.add(p.name);
        for (const p of r.peers) for (const n of p.peer.networks ?? []) cidrs.push(n.net);
      }
    this.trie = new ListTrie(c.ruleCount + 1);
    // Raw pod selectors by canonical text, for requirement-wise evaluation on class sets.
    const raw = (s: LabelSelector | undefined): void => {
      if (s) this.rawSel.set(formatSelector(s), s);
    };
    for (const np of policies.networkPolicies ?? []) {
      raw(np.podSelector);
      for (const r of [...np.ingress, ...np.egress]) for (const p of r.peers) raw(p.podSelector);
    }
    for (const a of [...(policies.adminNetworkPolicies ?? []), ...(policies.baselineAdminNetworkPolicy ? [policies.baselineAdminNetworkPolicy] : [])]) {
      raw(a.subject.pods?.podSelector);
      for (const r of [...a.ingress, ...a.egress]) for (const p of r.peers) raw(p.pods?.podSelector);
    }

    // --- classes ---------------------------------------------------------------------------
    this.t = buildClasses(c.pods, [...keys], [...named].sort(), cidrs);
    this.C = this.t.C;
    this.ALL = newBits(this.C);
    fillRange(this.ALL, 0, this.C);
    this.ALLPOD = this.ALL.slice();
    for (let k = 0; k < this.C; k++) if (this.t.host[k]) clear(this.ALLPOD, k);
    this.sel = new SelectorIndex(this.t, this.ALLPOD);
  }

  private bits(): Bits {
    return newBits(this.C);
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
      const raw = this.rawSel.get(s.text);
      if (raw) return this.sel.matchRaw(raw);
      const b = this.bits();
      const { reps, host } = this.t;
      for (let k = 0; k < this.C; k++) if (!host[k] && s.matches(reps[k].labels)) set(b, k);
      return b;
    });
  }

  /** Pod-network classes whose namespace's labels match. */
  private nsSel(s: CompiledSelector): Bits {
    return this.memo(`ns\u0000${s.text}`, () => {
      const b = this.bits();
      for (const [, ks] of this.t.classesByNs) if (s.matches(this.t.reps[ks[0]].nsLabels)) for (let i = 0; i < ks.length; i++) set(b, ks[i]);
      return b;
    });
  }

  /** Pod-network classes of one namespace. */
  private nsEq(ns: string): Bits {
    return this.memo(`nseq\u0000${ns}`, () => {
      const b = this.bits();
      const ks = this.t.classesByNs.get(ns);
      if (ks) for (let i = 0; i < ks.length; i++) set(b, ks[i]);
      return b;
    });
  }

  /** hostNetwork classes whose node's labels match. */
  private nodeSel(s: CompiledSelector): Bits {
    return this.memo(`node\u0000${s.text}`, () => {
      const b = this.bits();
      const { reps, host } = this.t;
      for (let k = 0; k < this.C; k++) if (host[k] && s.matches(reps[k].nodeLabels)) set(b, k);
      return b;
    });
  }

  private byIp(key: string, test: (ip: number) => boolean): Bits {
    return this.memo(`ip\u0000${key}`, () => classesByIp(this.t, test));
  }

  /** Classes (as the other party) a NetworkPolicy rule's peers match. */
  private npRulePeers(ns: string, r: CompiledNpRule): Bits {
    if (r.peers.length === 0) return this.ALL;
    if (r.peers.length === 1) {
      // One peer: its set as is (shared, read-only), no copy.
      const p = r.peers[0];
      const ib = p.peer.ipBlock;
      if (ib) return this.byIp(`${ib.cidr}\u0000${ib.except.join(',')}`, (ip) => ipBlockContains(ib, ip));
      const nsPart = p.ns ? this.nsSel(p.ns) : this.nsEq(ns);
      if (!p.pod) return nsPart;
    }
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
      const { reps, host } = this.t;
      for (let d = 0; d < this.C; d++) {
        if (host[d]) continue;
        for (const cp of reps[d].ports) if (cp.name === name && cp.protocol === caseProtocol && cp.containerPort === port) set(b, d);
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

  // --- rule lists per class -------------------------------------------------------------------

  /**
   * For every class, the rule lists that decide `dir` for it (they determine
   * its row completely), as trie nodes: policy by policy over the classes each
   * selects, so the work is the sum of the subjects' sizes. Ingress lists keep
   * only the rules whose ports match case k on the class itself (the
   * destination); egress lists do not depend on the case (k undefined).
   */
  private dirKeys(dir: 'Ingress' | 'Egress', k: number | undefined): DirKeys {
    const C = this.C;
    const ing = dir === 'Ingress';
    const trie = this.trie;
    const anpNode = new Uint32Array(C);
    for (const a of this.c.anps) {
      const rules = ing ? a.ingress : a.egress;
      if (!rules.length) continue;
      const ports = k !== undefined ? rules.map((r) => this.anpRulePorts(r, k)) : undefined;
      forEachSet(this.anpSubject(a), (s) => {
        let n = anpNode[s];
        for (let i = 0; i < rules.length; i++) if (!ports || has(ports[i], s)) n = trie.child(n, rules[i].id);
        anpNode[s] = n;
      });
    }
    const isolated = new Uint8Array(C);
    const npNode = new Uint32Array(C);
    for (const np of this.c.nps) {
      if (!(ing ? np.ingress : np.egress)) continue;
      const list = this.t.classesByNs.get(np.np.namespace);
      if (!list) continue;
      const rules = ing ? np.ingressRules : np.egressRules;
      const ports = k !== undefined ? rules.map((r) => this.npRulePorts(r, k)) : undefined;
      const subj = this.podSel(np.sel);
      for (let j = 0; j < list.length; j++) {
        const s = list[j];
        if (!has(subj, s)) continue;
        isolated[s] = 1;
        let n = npNode[s];
        for (let i = 0; i < rules.length; i++) if (!ports || has(ports[i], s)) n = trie.child(n, rules[i].id);
        npNode[s] = n;
      }
    }
    const banpNode = new Uint32Array(C);
    const banp = this.c.banp;
    if (banp) {
      const rules = ing ? banp.ingress : banp.egress;
      const ports = k !== undefined ? rules.map((r) => this.anpRulePorts(r, k)) : undefined;
      if (rules.length)
        forEachSet(this.anpSubject(banp), (s) => {
          if (isolated[s]) return;
          let n = 0;
          for (let i = 0; i < rules.length; i++) if (!ports || has(ports[i], s)) n = trie.child(n, rules[i].id);
          banpNode[s] = n;
        });
    }
    const tier = new Float64Array(C);
    for (let s = 0; s < C; s++) tier[s] = isolated[s] ? npNode[s] * 2 + 1 : banpNode[s] * 2;
    return { anp: anpNode, tier };
  }

  /** Groups classes by their (ANP list, tier list) and computes one row per group for case k. */
  private dirRows(dir: 'Ingress' | 'Egress', keys: DirKeys, k: number): DirRows {
    const C = this.C;
    const rowOf = new Uint32Array(C);
    const rows: Bits[] = [this.ALL];
    const groups = new Map<number, Map<number, number>>();
    for (let s = 0; s < C; s++) {
      const a = keys.anp[s];
      const t = keys.tier[s];
      if (a === 0 && t === 0) continue; // nothing applies: row 0, everything
      let g = groups.get(a);
      if (!g) groups.set(a, (g = new Map()));
      let r = g.get(t);
      if (r === undefined) {
        r = rows.length;
        g.set(t, r);
        rows.push(this.row(dir, a, t, k));
      }
      rowOf[s] = r;
    }
    return { rowOf, rows };
  }

  /** The classes on the other side that a direction with these rule lists admits for case k. */
  private row(dir: 'Ingress' | 'Egress', anpNode: number, tierTok: number, k: number): Bits {
    const ing = dir === 'Ingress';
    const W = this.ALL.length;
    const isolated = tierTok % 2 === 1;
    const tierRules = this.trie.list(Math.floor(tierTok / 2)).map((id) => this.ruleById[id]);
    const tmp = this.scratch(0);
    let tier: Bits;
    if (isolated) {
      if (anpNode === 0 && tierRules.length === 1) {
        // One rule decides: its peer set is the row (shared, read-only).
        const { ns, np } = tierRules[0];
        const peers = this.npRulePeers(ns!, np!);
        const ports = ing ? this.ALL : this.npRulePorts(np!, k);
        if (ports === this.ALL) return peers;
      }
      tier = this.bits();
      for (const { ns, np } of tierRules) {
        const peers = this.npRulePeers(ns!, np!);
        if (ing) or(tier, peers);
        else orAnd(tier, peers, this.npRulePorts(np!, k));
      }
    } else {
      // BANP: the first matching rule decides; unmatched traffic is allowed.
      tier = this.bits();
      const und = this.scratch(1);
      und.set(this.ALL);
      for (const { anp: r } of tierRules) {
        matching(tmp, this.anpRulePeers(r!), ing ? undefined : this.anpRulePorts(r!, k), und, W);
        if (r!.action === 'Allow') or(tier, tmp);
        andNot(und, tmp);
      }
      or(tier, und);
    }
    if (anpNode === 0) return tier;
    const undecided = this.scratch(1);
    undecided.set(this.ALL);
    const allow = this.bits();
    const pass = this.scratch(2);
    pass.fill(0);
    for (const id of this.trie.list(anpNode)) {
      const r = this.ruleById[id].anp!;
      matching(tmp, this.anpRulePeers(r), ing ? undefined : this.anpRulePorts(r, k), undecided, W);
      // The first matching rule decides: Allow/Deny here, Pass by the tiers below
      // (and no later ANP rule applies to what it matched).
      if (r.action === 'Allow') or(allow, tmp);
      else if (r.action === 'Pass') or(pass, tmp);
      andNot(undecided, tmp);
    }
    or(undecided, pass); // what the NetworkPolicy/BANP tiers decide
    for (let w = 0; w < W; w++) allow[w] |= undecided[w] & tier[w];
    return allow;
  }

  private readonly scratchBits: Bits[] = [];
  /** Scratch bitset i (contents undefined; never returned as a result). */
  private scratch(i: number): Bits {
    return (this.scratchBits[i] ??= this.bits());
  }

  result(): Reachability {
    const C = this.C;
    // Per case, each class's ingress row (source classes admitted) and egress row
    // (destination classes admitted). Rows are shared between classes with equal
    // rule lists, so memory is (distinct rows × classes) bits, at most classes².
    const ingress: DirRows[] = [];
    const egress: DirRows[] = [];
    const egKeys = this.dirKeys('Egress', undefined);
    for (let k = 0; k < this.cases.length; k++) {
      ingress.push(this.dirRows('Ingress', this.dirKeys('Ingress', k), k));
      egress.push(this.dirRows('Egress', egKeys, k));
    }
    this.cache.clear();
    this.scratchBits.length = 0;
    const { classOf, memberStart, memberList } = this.t;
    const pods = this.c.pods;
    // M[a][b] = egress[a] has b ∧ ingress[b] has a.
    const classAllowed = (a: number, b: number, k = 0): boolean => {
      const e = egress[k];
      const i = ingress[k];
      return has(e.rows[e.rowOf[a]], b) && has(i.rows[i.rowOf[b]], a);
    };
    const shortcut = (i: number, j: number): boolean =>
      i === j || (pods[i].hostNetwork && !pods[j].hostNetwork && pods[i].node === pods[j].node);
    const allowed = (i: number, j: number, k = 0): boolean => shortcut(i, j) || classAllowed(classOf[i], classOf[j], k);
    return {
      pods: pods.map((p) => p.ref),
      cases: [...this.cases],
      classCount: C,
      classOf,
      members: (cls) => Array.from(memberList.subarray(memberStart[cls], memberStart[cls + 1])),
      allowed,
      classAllowed,
      *cells(k = 0) {
        for (let i = 0; i < pods.length; i++) for (let j = 0; j < pods.length; j++) yield [i, j, allowed(i, j, k)];
      },
      *denied(k = 0) {
        for (let a = 0; a < C; a++)
          for (let b = 0; b < C; b++) {
            if (classAllowed(a, b, k)) continue;
            for (let x = memberStart[a]; x < memberStart[a + 1]; x++)
              for (let y = memberStart[b]; y < memberStart[b + 1]; y++) {
                const i = memberList[x];
                const j = memberList[y];
                if (!shortcut(i, j)) yield [i, j];
              }
          }
      },
    };
  }
}

function matching(out: Bits, peers: Bits, ports: Bits | undefined, undecided: Bits, W: number): void {
  for (let w = 0; w < W; w++) out[w] = peers[w] & undecided[w] & (ports ? ports[w] : ~0);
}
