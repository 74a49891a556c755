/**
 * The actionable pods a label selector picks in one namespace, through an index
 * of label values, each answer made once per rendering and shared (issue 9).
 *
 * kube-router lists the pods of a namespace and matches the selector against
 * each (`ListPodsByNamespaceAndLabels`); a policy's targets and each pod peer
 * are such a listing. With thousands of policies over a namespace of 100,000
 * pods that is O(policies × pods) matches, though the generated and real
 * clusters use a handful of distinct selectors. `PodSelection.select` answers
 * the same list (the pods, in store order, for which `compileSelector(sel)`
 * matches) from the pods having one of the selector's `matchLabels` pairs —
 * or, with none, one of the values of an `In` expression — and returns the
 * same array for the same (namespace, selector): callers must not change it.
 */
import type { LabelSelector } from '../kube/labels.js';
import { compileSelector, type CompiledSelector } from '../kube/policy-selector.js';

const hasOwn = Object.prototype.hasOwnProperty;

/** What the index needs of a pod. */
export interface Labelled { readonly labels: Readonly<Record<string, string>> }

interface NsIndex<P extends Labelled> {
  readonly pods: readonly P[];
  /** Position of each pod in `pods` (store order), built when a union needs it. */
  pos: Map<P, number> | null;
  /** label key → value → pods with that value (store order), built per key when first asked. */
  readonly byKey: Map<string, Map<string, P[]>>;
}

const NONE: readonly never[] = Object.freeze([]);

export class PodSelection<P extends Labelled> {
  private readonly ns = new Map<string, NsIndex<P>>();
  private readonly memo = new Map<string, readonly P[]>();
  private readonly compiled = new Map<string, CompiledSelector>();

  /** `podsByNs`: each namespace's pods in store order (read, never changed). */
  constructor(private readonly podsByNs: ReadonlyMap<string, readonly P[]>) {}

  /** The compiled form of `sel`, one per distinct selector. */
  compile(sel: LabelSelector, key = JSON.stringify(sel)): CompiledSelector {
    let c = this.compiled.get(key);
    if (!c) this.compiled.set(key, (c = compileSelector(sel)));
    return c;
  }

  /** The pods of `ns` that `sel` selects, in store order (a shared array: read-only). */
  select(ns: string, sel: LabelSelector): readonly P[] {
    const skey = JSON.stringify(sel);
    const key = `${ns}\u0000${skey}`;
    let out = this.memo.get(key);
    if (out) return out;
    out = this.compute(ns, sel, this.compile(sel, skey));
    this.memo.set(key, out);
    return out;
  }

  private index(ns: string): NsIndex<P> | undefined {
    let x = this.ns.get(ns);
    if (x) return x;
    const pods = this.podsByNs.get(ns);
    if (!pods) return undefined;
    this.ns.set(ns, (x = { pods, pos: null, byKey: new Map() }));
    return x;
  }

  /** The pods of the namespace whose label `k` is `v` (store order). */
  private having(x: NsIndex<P>, k: string, v: string): readonly P[] {
    let byVal = x.byKey.get(k);
    if (!byVal) {
      byVal = new Map();
      for (const p of x.pods) {
        if (!hasOwn.call(p.labels, k)) continue;
        const val = p.labels[k]!;
        const l = byVal.get(val);
        if (l) l.push(p); else byVal.set(val, [p]);
      }
      x.byKey.set(k, byVal);
    }
    return byVal.get(v) ?? NONE;
  }

  private compute(ns: string, sel: LabelSelector, cs: CompiledSelector): readonly P[] {
    const x = this.index(ns);
    if (!x || x.pods.length === 0) return NONE;
    // Candidates: a superset of the answer, in store order.
    let cand: readonly P[] = x.pods;
    const ml = sel.matchLabels ?? {};
    const mlKeys = Object.keys(ml);
    if (mlKeys.length) {
      for (const k of mlKeys) {
        const l = this.having(x, k, ml[k]!);
        if (l.length < cand.length) cand = l;
        if (l.length === 0) return NONE;
      }
    } else {
      for (const r of sel.matchExpressions ?? []) {
        if (r.operator !== 'In') continue;
        const vals = [...new Set(r.values ?? [])];
        const lists = vals.map((v) => this.having(x, r.key, v)).filter((l) => l.length);
        const n = lists.reduce((s, l) => s + l.length, 0);
        if (n === 0) return NONE;
        if (n >= cand.length) continue;
        cand = lists.length === 1 ? lists[0]! : this.union(x, lists);
      }
    }
    const out: P[] = [];
    for (const p of cand) if (cs.matches(p.labels)) out.push(p);
    return out.length === 0 ? NONE : out.length === x.pods.length ? x.pods : out;
  }

  /** Disjoint lists (one label key's values) merged into store order. */
  private union(x: NsIndex<P>, lists: readonly (readonly P[])[]): P[] {
    if (!x.pos) { x.pos = new Map(); x.pods.forEach((p, i) => x.pos!.set(p, i)); }
    const pos = x.pos;
    const all = lists.flat();
    return all.sort((a, b) => pos.get(a)! - pos.get(b)!);
  }
}
