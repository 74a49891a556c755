/**
 * The pod equivalence classes of the reachability engine (policy-reach.ts),
 * built by integer refinement (no per-pod string keys), and the indexes that
 * turn selectors and address blocks into class bitsets with word-level work:
 *
 * - classes are numbered grouped by IP signature (the pods' position relative
 *   to every CIDR the policies name), so the classes an ipBlock or `networks`
 *   peer admits are a union of contiguous ranges — one range fill per
 *   signature inside the block, never a test per class;
 * - pod selectors are evaluated per requirement on per-(key, value) class
 *   sets (dense bitsets for frequent values, sorted lists for rare ones: at
 *   most 32 dense sets per key, so memory stays O(classes) per key), never by
 *   matching every class's labels.
 */
import type { Cidr4 } from './ip.js';
import type { LabelSelector } from './labels.js';
import type { PodRec } from './policy-model.js';
import { and, andNot, fillRange, newBits, or, set, clear, type Bits } from './policy-reach-bits.js';

const hasOwn = Object.prototype.hasOwnProperty;

export interface ClassTable {
  readonly C: number;
  /** Pod index → class. */
  readonly classOf: Uint32Array;
  /** Pods grouped by class (view order inside a class): class c is memberList[memberStart[c] .. memberStart[c+1]). */
  readonly memberStart: Uint32Array;
  readonly memberList: Uint32Array;
  /** First member of each class. */
  readonly reps: PodRec[];
  readonly host: Uint8Array;
  /** IP signatures: classes of signature s are [sigStart[s], sigStart[s+1]); sigIp[s] is an address with that signature. */
  readonly sigStart: Uint32Array;
  readonly sigIp: number[];
  /** Pod-network classes per namespace, ascending. */
  readonly classesByNs: Map<string, Uint32Array>;
  /** Per label key the selectors read: its values (id v ≥ 1 is values[v - 1]) and each class's value id (0: absent or hostNetwork). */
  readonly labelIds: Map<string, { values: string[]; ofClass: Int32Array }>;
}

/**
 * Maps an address to an id shared by all addresses that every CIDR of the
 * policy set classifies alike: elementary intervals between CIDR boundaries,
 * merged when their membership vectors are equal. `ips[id]` is the first
 * address seen with that id.
 */
function ipClassifier(cidrs: readonly Cidr4[]): { classify(ip: number): number; ips: number[] } {
  const ips: number[] = [];
  if (cidrs.length === 0)
    return {
      ips,
      classify: (ip) => {
        if (ips.length === 0) ips.push(ip);
        return 0;
      },
    };
  const uniq = new Map<string, Cidr4>();
  for (const c of cidrs) uniq.set(`${c.base}/${c.prefix}`, c);
  const list = [...uniq.values()];
  const bounds = [...new Set(list.flatMap((c) => [c.base, c.base + c.size]))].sort((a, b) => a - b);
  const ids = new Map<number, number>();
  const sigs = new Map<string, number>();
  let lastLo = -1;
  let lastId = 0;
  return {
    ips,
    classify: (ip) => {
      // Interval index: the number of boundaries ≤ ip.
      let lo = 0;
      let hi = bounds.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (bounds[mid] <= ip) lo = mid + 1;
        else hi = mid;
      }
      if (lo === lastLo) return lastId;
      let id = ids.get(lo);
      if (id === undefined) {
        let sig = '';
        for (const c of list) sig += ip >= c.base && ip < c.base + c.size ? '1' : '0';
        id = sigs.get(sig);
        if (id === undefined) {
          sigs.set(sig, (id = sigs.size));
          ips.push(ip);
        }
        ids.set(lo, id);
      }
      lastLo = lo;
      lastId = id;
      return id;
    },
  };
}

/**
 * Replaces each cur[i] by a dense id of the pair (cur[i], comp[i]), in
 * first-seen order; returns the id count. An open-addressing table of int
 * pairs: no Map, no boxed keys.
 */
function refine(cur: Int32Array, comp: Int32Array): number {
  const N = cur.length;
  let size = 16;
  while (size < 2 * N) size <<= 1;
  const mask = size - 1;
  const ka = new Int32Array(size).fill(-1);
  const kb = new Int32Array(size);
  const val = new Int32Array(size);
  let n = 0;
  for (let i = 0; i < N; i++) {
    const a = cur[i];
    const b = comp[i];
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
    h = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const x = ka[h];
      if (x === -1) {
        ka[h] = a;
        kb[h] = b;
        val[h] = n;
        cur[i] = n++;
        break;
      }
      if (x === a && kb[h] === b) {
        cur[i] = val[h];
        break;
      }
      h = (h + 1) & mask;
    }
  }
  return n;
}

/**
 * Classes of pods no policy can tell apart: pod-network pods by namespace,
 * values of `keys`, resolution of the `named` ports and IP signature;
 * hostNetwork pods by node and IP signature.
 */
export function buildClasses(pods: readonly PodRec[], keys: readonly string[], named: readonly string[], cidrs: readonly Cidr4[]): ClassTable {
  const N = pods.length;
  const cur = new Int32Array(N);
  const comp = new Int32Array(N);
  {
    const nsId = new Map<string, number>();
    const nodeId = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const p = pods[i];
      const m = p.hostNetwork ? nodeId : nsId;
      const k = p.hostNetwork ? p.node : p.namespace;
      let id = m.get(k);
      if (id === undefined) m.set(k, (id = m.size));
      cur[i] = p.hostNetwork ? -2 - id : id;
    }
  }
  const podLabelIds = new Map<string, { values: string[]; ofPod: Int32Array }>();
  for (const key of keys) {
    const vals = new Map<string, number>();
    const ofPod = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const p = pods[i];
      if (p.hostNetwork) continue;
      const labels = p.labels;
      const v = labels[key];
      // Own string values only (as the selectors read them); typeof first spares hasOwn for absent keys.
      if (typeof v !== 'string' || !hasOwn.call(labels, key)) continue;
      let id = vals.get(v);
      if (id === undefined) vals.set(v, (id = vals.size + 1));
      ofPod[i] = id;
    }
    podLabelIds.set(key, { values: [...vals.keys()], ofPod });
    if (vals.size) refine(cur, ofPod);
  }
  // Named ports: per name, the (protocol, number) entries of that name; one entry (the usual case) is
  // coded as a number, several as an interned text.
  const PROTO: Record<string, number> = { TCP: 1, UDP: 2, SCTP: 3 };
  for (const n of named) {
    const multi = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const p = pods[i];
      let code = 0;
      if (!p.hostNetwork) {
        let text: string | undefined;
        for (const cp of p.ports) {
          if (cp.name !== n) continue;
          const one = (PROTO[cp.protocol] ?? 0) * 65536 + cp.containerPort + 1;
          if (code === 0 && text === undefined) code = one;
          else text = (text ?? `${code}`) + `,${one}`;
        }
        if (text !== undefined) {
          let id = multi.get(text);
          if (id === undefined) multi.set(text, (id = multi.size));
          code = -1 - id;
        }
      }
      comp[i] = code;
    }
    refine(cur, comp);
  }
  const ipc = ipClassifier(cidrs);
  for (let i = 0; i < N; i++) comp[i] = ipc.classify(pods[i].ip);
  const C0 = refine(cur, comp);
  // Renumber: classes grouped by IP signature (stable: first-seen order inside a signature).
  const S = ipc.ips.length;
  const sigOfCls = new Int32Array(C0);
  for (let i = 0; i < N; i++) sigOfCls[cur[i]] = comp[i];
  const sigStart = new Uint32Array(S + 1);
  for (let c = 0; c < C0; c++) sigStart[sigOfCls[c] + 1]++;
  for (let s = 0; s < S; s++) sigStart[s + 1] += sigStart[s];
  const next = sigStart.slice(0, S);
  const renum = new Uint32Array(C0);
  for (let c = 0; c < C0; c++) renum[c] = next[sigOfCls[c]]++;
  const C = C0;
  const classOf = new Uint32Array(N);
  const memberStart = new Uint32Array(C + 1);
  for (let i = 0; i < N; i++) {
    const c = renum[cur[i]];
    classOf[i] = c;
    memberStart[c + 1]++;
  }
  for (let c = 0; c < C; c++) memberStart[c + 1] += memberStart[c];
  const fill = memberStart.slice(0, C);
  const memberList = new Uint32Array(N);
  for (let i = 0; i < N; i++) memberList[fill[classOf[i]]++] = i;
  const reps: PodRec[] = new Array<PodRec>(C);
  const host = new Uint8Array(C);
  const nsLists = new Map<string, number[]>();
  for (let c = 0; c < C; c++) {
    const p = pods[memberList[memberStart[c]]];
    reps[c] = p;
    if (p.hostNetwork) host[c] = 1;
    else {
      let l = nsLists.get(p.namespace);
      if (!l) nsLists.set(p.namespace, (l = []));
      l.push(c);
    }
  }
  const classesByNs = new Map<string, Uint32Array>();
  for (const [ns, l] of nsLists) classesByNs.set(ns, Uint32Array.from(l));
  const labelIds = new Map<string, { values: string[]; ofClass: Int32Array }>();
  for (const [key, { values, ofPod }] of podLabelIds) {
    const ofClass = new Int32Array(C);
    for (let c = 0; c < C; c++) ofClass[c] = ofPod[memberList[memberStart[c]]];
    labelIds.set(key, { values, ofClass });
  }
  return { C, classOf, memberStart, memberList, reps, host, sigStart, sigIp: ipc.ips, classesByNs, labelIds };
}

/** The classes an address predicate admits, as range fills over IP signatures. */
export function classesByIp(t: ClassTable, test: (ip: number) => boolean): Bits {
  const b = newBits(t.C);
  const S = t.sigIp.length;
  for (let s = 0; s < S; s++) if (test(t.sigIp[s])) fillRange(b, t.sigStart[s], t.sigStart[s + 1]);
  return b;
}

/** A set of classes: dense bitset or ascending list. */
type ClassSet = { dense: Bits; list?: undefined } | { list: Uint32Array; dense?: undefined };

interface KeyIndex {
  /** Value → class set; '' is not a key here: absent is `absent`. */
  values: Map<string, ClassSet>;
  absent: ClassSet;
}

/**
 * Pod selectors as class bitsets, requirement by requirement, from the raw
 * selectors (by their canonical text); selectors it has no raw form for are
 * matched class by class with `matches`.
 */
export class SelectorIndex {
  private readonly keyIx = new Map<string, KeyIndex>();
  private readonly W: number;
  private tmp?: Bits;

  constructor(
    private readonly t: ClassTable,
    /** Pod-network classes. */
    private readonly allPod: Bits,
  ) {
    this.W = allPod.length;
  }

  /** Sets with more members than the bitset has words are dense (at most 32 per key), the others lists. */
  private toSet(list: Uint32Array): ClassSet {
    if (list.length > this.W) {
      const b = newBits(this.t.C);
      for (let i = 0; i < list.length; i++) set(b, list[i]);
      return { dense: b };
    }
    return { list };
  }

  private key(k: string): KeyIndex {
    let ix = this.keyIx.get(k);
    if (ix) return ix;
    const { C, host } = this.t;
    const ids = this.t.labelIds.get(k);
    const nv = ids ? ids.values.length : 0;
    // Bucket the pod-network classes by value id (0: absent), counting sort.
    const start = new Uint32Array(nv + 2);
    for (let c = 0; c < C; c++) if (!host[c]) start[(ids ? ids.ofClass[c] : 0) + 1]++;
    for (let v = 0; v <= nv; v++) start[v + 1] += start[v];
    const fill = start.slice(0, nv + 1);
    const order = new Uint32Array(start[nv + 1]);
    for (let c = 0; c < C; c++) if (!host[c]) order[fill[ids ? ids.ofClass[c] : 0]++] = c;
    const bucket = (v: number): ClassSet => this.toSet(order.subarray(start[v], start[v + 1]));
    const lists = new Map<string, ClassSet>();
    for (let v = 1; v <= nv; v++) lists.set(ids!.values[v - 1], bucket(v));
    ix = { values: lists, absent: bucket(0) };
    this.keyIx.set(k, ix);
    return ix;
  }

  /** Pod-network classes whose labels match `sel`. */
  matchRaw(sel: LabelSelector): Bits {
    const out = this.allPod.slice();
    const tmp = (this.tmp ??= newBits(this.t.C));
    const restrict = (sets: (ClassSet | undefined)[]): void => {
      tmp.fill(0);
      for (const s of sets) if (s) addTo(tmp, s);
      and(out, tmp);
    };
    const remove = (sets: (ClassSet | undefined)[]): void => {
      for (const s of sets) if (s) removeFrom(out, s);
    };
    const ml = sel.matchLabels ?? {};
    for (const k of Object.keys(ml)) restrict([this.key(k).values.get(ml[k])]);
    for (const r of sel.matchExpressions ?? []) {
      const ix = this.key(r.key);
      const vs = r.values ?? [];
      switch (r.operator) {
        case 'In':
          restrict(vs.map((v) => ix.values.get(v)));
          break;
        case 'NotIn':
          remove(vs.map((v) => ix.values.get(v)));
          break;
        case 'Exists':
          remove([ix.absent]);
          break;
        case 'DoesNotExist':
          restrict([ix.absent]);
          break;
      }
    }
    return out;
  }
}

function addTo(b: Bits, s: ClassSet): void {
  if (s.dense) or(b, s.dense);
  else for (let i = 0; i < s.list.length; i++) set(b, s.list[i]);
}
function removeFrom(b: Bits, s: ClassSet): void {
  if (s.dense) andNot(b, s.dense);
  else for (let i = 0; i < s.list.length; i++) clear(b, s.list[i]);
}
