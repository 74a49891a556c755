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

  private stamp(o: Obj, namespace: string | undefined, uid: string): Obj {
    const copy = structuredClone(o);
    const meta: Obj = isObj(copy.metadata) ? copy.metadata : {};
    if (namespace !== undefined) meta.namespace = namespace;
    else delete meta.namespace;
    meta.uid = uid;
    meta.resourceVersion = String(++this.rv);
    copy.metadata = meta;
    return deepFreeze(copy);
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
    const keys: string[] = [];
    outer: for (const k of best!) {
      const o = nb.objs.get(k)!;
      const l = (o.metadata as Record<string, unknown>).labels as Record<string, unknown>;
      for (const [sk, sv] of Object.entries(selector)) if (l[sk] !== sv) continue outer;
      keys.push(k);
    }
    keys.sort((a, b) => nb.seq.get(a)! - nb.seq.get(b)!);
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
