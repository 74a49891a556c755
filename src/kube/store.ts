/**
 * An in-memory object store with watches: the apiserver + etcd + informers
 * that podwire's controllers and agents need, reduced to what a deterministic
 * single-threaded run can use.
 *
 * - Objects are plain decoded manifests (`Obj`), keyed by kind, namespace and
 *   name. The store copies what it is given, stamps `metadata.resourceVersion`
 *   (a single counter, as etcd's revision) and `metadata.uid` (derived from a
 *   counter, so runs repeat exactly), and deep-freezes the copy: objects handed
 *   out are immutable, and an update replaces the object.
 * - It does not validate: callers store what the validators produced.
 * - `watch(kind, handler)`: handlers run synchronously, in registration order.
 *   Events are queued and delivered in the order the changes happened; a change
 *   made from inside a handler (a controller writing Endpoints because a Pod
 *   changed) is delivered after every handler has seen the current event, before
 *   the outermost store call returns. So every watcher sees every kind's events
 *   in one global order, as informers fed from one etcd would.
 * - No clock and no engine: whoever drives virtual time calls the store.
 */
import { isObj, type Obj } from './object.js';
import { knownKind } from './object.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  type: WatchEventType;
  /** The object after the change (for DELETED: the last stored version). */
  object: Obj;
  /** The object before the change (MODIFIED and DELETED). */
  old?: Obj;
}

export type WatchHandler = (ev: WatchEvent) => void;

export class StoreError extends Error {
  constructor(
    readonly reason: 'AlreadyExists' | 'NotFound' | 'Invalid' | 'Conflict',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** `metadata.name` and `metadata.namespace` of a stored object. */
export function objName(o: Obj): string {
  return isObj(o.metadata) && typeof o.metadata.name === 'string' ? o.metadata.name : '';
}
export function objNamespace(o: Obj): string | undefined {
  return isObj(o.metadata) && typeof o.metadata.namespace === 'string' ? o.metadata.namespace : undefined;
}

/**
 * A deep, frozen copy of a JSON-like value, in one pass: plain objects and arrays are copied
 * (own enumerable properties, in order) and frozen; a frozen value is already a stored
 * (deep-frozen) part and is shared, not copied; anything else (a Date, a Map, a class
 * instance) goes through structuredClone as before. The result is what
 * `deepFreeze(structuredClone(v))` gave for the plain values objects are made of (issue 9:
 * structuredClone and a second freezing walk were the store's main cost per write).
 */
export function frozenCopy<T>(v: T): T {
  if (typeof v === 'function' || typeof v === 'symbol') return structuredClone(v); // throws DataCloneError, as before
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = frozenCopy(v[i]);
    return Object.freeze(out) as T;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return deepFreeze(structuredClone(v));
  const out: Record<string, unknown> = {};
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) setOwn(out, k, frozenCopy((v as Record<string, unknown>)[k]));
  return Object.freeze(out) as T;
}

/** `o[k] = v` as a data property, also for the key "__proto__" (which assignment would take as the prototype). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

function key(namespace: string | undefined, name: string): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

/** One kind's objects of one namespace (or the cluster-scoped ones): store order, a label index, a generation. */
interface NsBucket {
  objs: Map<string, Obj>;
  /** Creation sequence of each key (its position in `kinds`' map order: an update keeps it). */
  seq: Map<string, number>;
  /** "k=v" → keys of the objects with that label. */
  byLabel: Map<string, Set<string>>;
  /** Bumped on every create/update/delete in the bucket. */
  gen: number;
}

/** The bucket of objects without a namespace (cluster-scoped kinds); no namespace name can be it. */
const NO_NS = '\u0000';

function labelPairs(o: Obj): string[] {
  const m = o.metadata;
  const l = isObj(m) && isObj(m.labels) ? m.labels : undefined;
  if (!l) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(l)) if (typeof v === 'string') out.push(`${k}=${v}`);
  return out;
}

/** Whether two objects have the same string labels in the same order (then labelPairs would be equal). */
function sameLabels(a: Obj, b: Obj): boolean {
  const la = isObj(a.metadata) && isObj(a.metadata.labels) ? a.metadata.labels : undefined;
  const lb = isObj(b.metadata) && isObj(b.metadata.labels) ? b.metadata.labels : undefined;
  if (la === lb) return true;
  if (!la || !lb) return false;
  const ka = Object.keys(la), kb = Object.keys(lb);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i] || la[ka[i]] !== lb[kb[i]]) return false;
  return true;
}

export class ObjectStore {
  private readonly kinds = new Map<string, Map<string, Obj>>();
  /** Per kind, per namespace (NO_NS for none): `list(kind, ns)` and `listSelected` without a scan of the kind. */
  private readonly nsIndex = new Map<string, Map<string, NsBucket>>();
  private seqNo = 0;
  private readonly watchers = new Map<string, WatchHandler[]>();
  private readonly queue: { kind: string; ev: WatchEvent }[] = [];
  private delivering = false;
  private rv = 0;
  private uids = 0;

  /** The last resourceVersion handed out ("0" before the first write). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  private bucket(kind: string): Map<string, Obj> {
    let b = this.kinds.get(kind);
    if (!b) this.kinds.set(kind, (b = new Map()));
    return b;
  }

  /**
   * Where `o` is filed: its kind and, for namespaced kinds, its namespace
   * (default "default"). Kinds podwire does not know are treated as namespaced
   * when they carry a namespace.
   */
  private nsBucket(kind: string, namespace: string | undefined): NsBucket {
    let m = this.nsIndex.get(kind);
    if (!m) this.nsIndex.set(kind, (m = new Map()));
    const n = namespace ?? NO_NS;
    let b = m.get(n);
    if (!b) m.set(n, (b = { objs: new Map(), seq: new Map(), byLabel: new Map(), gen: 0 }));
    return b;
  }

  private indexPut(kind: string, k: string, o: Obj, old: Obj | undefined): void {
    const b = this.nsBucket(kind, objNamespace(o));
    b.gen++;
    if (!old) b.seq.set(k, ++this.seqNo);
    b.objs.set(k, o);
    // An update that keeps the labels object's pairs (a controller rewriting its own object) leaves the index as it is.
    if (old && sameLabels(old, o)) return;
    const was = old ? labelPairs(old) : [];
    const now = labelPairs(o);
    for (const p of was) if (!now.includes(p)) b.byLabel.get(p)?.delete(k);
    for (const p of now) {
      let s = b.byLabel.get(p);
      if (!s) b.byLabel.set(p, (s = new Set()));
      s.add(k);
    }
  }

  private indexDrop(kind: string, k: string, old: Obj): void {
    const b = this.nsBucket(kind, objNamespace(old));
    b.gen++;
    b.objs.delete(k);
    b.seq.delete(k);
    for (const p of labelPairs(old)) b.byLabel.get(p)?.delete(k);
  }

  private locate(o: Obj): { kind: string; namespace: string | undefined; name: string } {
    const kind = typeof o.kind === 'string' ? o.kind : '';
    const name = objName(o);
    if (kind === '' || name === '') throw new StoreError('Invalid', 'object needs kind and metadata.name');
    const known = knownKind(kind);
    const ns = objNamespace(o);
    const namespace = known ? (known.namespaced ? (ns ?? 'default') : undefined) : ns;
    return { kind, namespace, name };
  }

  /** The stored copy of `o`: metadata.namespace, uid and resourceVersion set, deep-frozen (frozen parts shared). */
  private stamp(o: Obj, namespace: string | undefined, uid: string): Obj {
    const given = isObj(o.metadata) ? o.metadata : undefined;
    const meta: Obj = {};
    if (given) for (const k in given) if (Object.prototype.hasOwnProperty.call(given, k)) setOwn(meta, k, frozenCopy(given[k]));
    if (namespace !== undefined) meta.namespace = namespace;
    else delete meta.namespace;
    meta.uid = uid;
    meta.resourceVersion = String(++this.rv);
    Object.freeze(meta);
    // The keys in the given order, metadata in its place (last when the object had none).
    const copy: Obj = {};
    for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) setOwn(copy, k, k === 'metadata' ? meta : frozenCopy(o[k]));
    copy.metadata = meta;
    return Object.freeze(copy);
  }

  /** Stores a new object; throws StoreError AlreadyExists if one with that kind/namespace/name exists. */
  create(o: Obj): Obj {
    const { kind, namespace, name } = this.locate(o);
    const b = this.bucket(kind);
    const k = key(namespace, name);
    if (b.has(k)) throw new StoreError('AlreadyExists', `${kind} ${JSON.stringify(k)} already exists`);
    // UIDs look like the apiserver's (UUID text) but count up, so runs repeat.
    const n = ++this.uids;
    const uid = `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
    const stored = this.stamp(o, namespace, uid);
    b.set(k, stored);
    this.indexPut(kind, k, stored, undefined);
    this.emit(kind, { type: 'ADDED', object: stored });
    return stored;
  }

  /**
   * Replaces an existing object (uid kept). With `metadata.resourceVersion`
   * set, it must match the stored one (optimistic concurrency, as the apiserver);
   * without it the update is unconditional.
   */
  update(o: Obj): Obj {
    const { kind, namespace, name } = this.locate(o);
    const b = this.bucket(kind);
    const k = key(namespace, name);
    const old = b.get(k);
    if (!old) throw new StoreError('NotFound', `${kind} ${JSON.stringify(k)} not found`);
    const oldMeta = old.metadata as Obj;
    const rv = isObj(o.metadata) ? o.metadata.resourceVersion : undefined;
    if (typeof rv === 'string' && rv !== oldMeta.resourceVersion)
      throw new StoreError('Conflict', `${kind} ${JSON.stringify(k)}: the object has been modified (resourceVersion ${rv}, stored ${String(oldMeta.resourceVersion)})`);
    const stored = this.stamp(o, namespace, String(oldMeta.uid));
    b.set(k, stored);
    this.indexPut(kind, k, stored, old);
    this.emit(kind, { type: 'MODIFIED', object: stored, old });
    return stored;
  }

  /** Removes an object; returns it, or undefined when there was none. */
  delete(kind: string, namespace: string | undefined, name: string): Obj | undefined {
    const b = this.kinds.get(kind);
    const known = knownKind(kind);
    const ns = known && known.namespaced ? (namespace ?? 'default') : known ? undefined : namespace;
    const k = key(ns, name);
    const old = b?.get(k);
    if (!b || !old) return undefined;
    b.delete(k);
    this.indexDrop(kind, k, old);
    this.rv++;
    this.emit(kind, { type: 'DELETED', object: old, old });
    return old;
  }

  get(kind: string, namespace: string | undefined, name: string): Obj | undefined {
    const known = knownKind(kind);
    const ns = known && known.namespaced ? (namespace ?? 'default') : known ? undefined : namespace;
    return this.kinds.get(kind)?.get(key(ns, name));
  }

  /** Objects of `kind` (in `namespace` when given), in creation order. */
  list(kind: string, namespace?: string): Obj[] {
    const b = this.kinds.get(kind);
    if (!b) return [];
    if (namespace === undefined) return [...b.values()];
    // The namespace's own map holds its objects in the kind's map order (creation order; an update keeps its place).
    const nb = this.nsIndex.get(kind)?.get(namespace);
    return nb ? [...nb.objs.values()] : [];
  }

  /**
   * `list(kind, namespace).filter(o => every selector pair is a label of o)`, in that order,
   * from the label index (issue 9: a Service's pods among 150,000 without a scan).
   * An empty selector selects every object of the namespace.
   */
  listSelected(kind: string, namespace: string, selector: Readonly<Record<string, string>>): Obj[] {
    const pairs = Object.entries(selector).map(([k, v]) => `${k}=${v}`);
    if (pairs.length === 0) return this.list(kind, namespace);
    const nb = this.nsIndex.get(kind)?.get(namespace);
    if (!nb) return [];
    let best: Set<string> | undefined;
    for (const p of pairs) {
      const s = nb.byLabel.get(p);
      if (!s || s.size === 0) return [];
      if (!best || s.size < best.size) best = s;
    }
    const sel = Object.entries(selector);
    const keys: string[] = [];
    // A label's set is in creation order unless a label was added by an update: sort only then.
    let sorted = true, last = -1;
    outer: for (const k of best!) {
      const o = nb.objs.get(k)!;
      const l = (o.metadata as Record<string, unknown>).labels as Record<string, unknown>;
      for (let i = 0; i < sel.length; i++) if (l[sel[i][0]] !== sel[i][1]) continue outer;
      const seq = nb.seq.get(k)!;
      if (seq < last) sorted = false;
      last = seq;
      keys.push(k);
    }
    if (!sorted) keys.sort((a, b) => nb.seq.get(a)! - nb.seq.get(b)!);
    return keys.map((k) => nb.objs.get(k)!);
  }

  /** Changes so far to the objects of `kind` in `namespace` (a cache key for derived indexes). */
  generation(kind: string, namespace: string | undefined): number {
    return this.nsIndex.get(kind)?.get(namespace ?? NO_NS)?.gen ?? 0;
  }

  /** Calls `handler` for every later change to objects of `kind`. Returns a function that stops the watch. */
  watch(kind: string, handler: WatchHandler): () => void {
    let hs = this.watchers.get(kind);
    if (!hs) this.watchers.set(kind, (hs = []));
    hs.push(handler);
    return () => {
      const l = this.watchers.get(kind);
      const i = l ? l.indexOf(handler) : -1;
      if (l && i >= 0) l.splice(i, 1);
    };
  }

  private emit(kind: string, ev: WatchEvent): void {
    this.queue.push({ kind, ev });
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let i = 0; i < this.queue.length; i++) {
        const { kind: k, ev: e } = this.queue[i];
        // A copy: a handler that stops its own watch must not skip the next one.
        for (const h of [...(this.watchers.get(k) ?? [])]) h(e);
      }
    } finally {
      this.queue.length = 0;
      this.delivering = false;
    }
  }
}
