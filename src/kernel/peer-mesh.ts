/**
 * Copy-on-write peer meshes: per-remote entries that every node of an overlay
 * programs identically, held once for the cluster instead of once per node.
 *
 * flannel's vxlan backend gives every node, per remote subnet S (network address
 * G = S.0, the remote's VtepMAC M and public IP P), the same three entries:
 *   route  `S via G dev flannel.1 onlink`   (main table)
 *   neigh  `G lladdr M PERMANENT` on flannel.1
 *   fdb    `M dst P self permanent` on flannel.1
 * A `PeerMesh` holds those entries once (one per remote, in the order they were
 * added); a node attaches a `MeshView` (its namespace, its flannel.1, its own
 * subnet, which it leaves out) and its `Fib` main table, its `NeighTable` and
 * the vxlan device's FDB consult the view after their own entries. Route and
 * neighbour objects are materialised per node only when a lookup needs them
 * (and cached: their content depends only on the subnet, resp. the entry).
 *
 * Listings (`ip route`, `ip neigh`, `bridge fdb show`) merge own and shared
 * entries in the order the node's own tables would hold them: every key the node
 * adds to a table while attached gets a stamp from one monotonic counter, as does
 * every mesh entry when added; the entries that existed when the node attached
 * were programmed then, in subnet order (flanneld walks its sorted lease list),
 * so they all sort at the view's attach stamp, by subnet; later ones at their own
 * stamp. Own keys present before the attach sort first.
 *
 * Any change a node makes to a shared key (a route, neighbour or FDB entry of the
 * mesh: `ip route del`, `ip neigh replace`, `bridge fdb replace`, a link going
 * down that flushes the routes) first detaches the node: its view is materialised
 * into its own tables, in listing order, and it no longer follows the mesh. An
 * agent that stops (flanneld exiting: what it programmed stays, frozen) detaches
 * too. A detached node is exactly a node that programmed everything itself.
 */
import type { NetDevice } from './device.js';
import type { Netns } from './netns.js';
import { RT_TABLE_MAIN, type Route } from './fib.js';
import { NEIGH_DEFAULTS, Nud, neighKey, type Neigh } from './neigh.js';
import type { Vxlan, VxlanFdbEntry } from './devices/vxlan.js';
import { macKey } from './devices/bridge.js';

let stampCounter = 0;

/** Kinds of own keys a node holds where a mesh entry could land (see PeerMesh.evictClaims). */
export const CLAIM_ROUTE = 0;
export const CLAIM_NEIGH = 1;
export const CLAIM_FDB = 2;

/** The next insertion stamp (one counter for every table and mesh, so merged orders compare). */
export function nextStamp(): number {
  return ++stampCounter;
}

export interface PeerEntry {
  /** Remote subnet address (also the neighbour/gateway address G). */
  readonly subnet: number;
  readonly prefix: number;
  /** VtepMAC. */
  readonly mac: Uint8Array;
  readonly macKey: number;
  /** Remote public IP (the FDB entry's dst). */
  readonly pub: number;
  /** Insertion stamp (nextStamp) when added to the mesh. */
  readonly stamp: number;
  /** The stamp of the first add of this subnet since it was last absent (kept across a replace). */
  readonly keyStamp: number;
  /** Virtual time it was added (the neighbour's creation time). */
  readonly time: number;
  /** The FDB entry, shared read-only by every attached device. */
  readonly fdb: VxlanFdbEntry;
  /** The owner's data (flannel: the lease as the watch reported it). */
  readonly data: unknown;
}

/** One step of the mesh's journal: an entry added or removed. */
export interface MeshOp {
  add: boolean;
  e: PeerEntry;
}

export class PeerMesh {
  /** Live entries by subnet address, in stamp order. */
  readonly bySubnet = new Map<number, PeerEntry>();
  /** Live entries by VtepMAC (macKey). */
  readonly byMac = new Map<number, PeerEntry>();
  /** Every add and remove, in order (configuration logs render ranges of it). */
  readonly journal: MeshOp[] = [];
  /** Attached views. */
  readonly views = new Set<MeshView>();
  /**
   * Own keys attached nodes hold where an entry could land (a route at the mesh's
   * prefix length, a neighbour or FDB entry on the device), by kind and key: an
   * entry added there must replace the node's own, so that node detaches first.
   */
  readonly claims: Map<number, Set<MeshView>>[] = [new Map(), new Map(), new Map()];

  /** `prefix`: every entry's prefix length (the one table level the mesh occupies). */
  constructor(readonly prefix: number) {}

  get size(): number { return this.bySubnet.size; }

  /** Adds an entry (the subnet must not be in the mesh, nor the MAC). */
  add(subnet: number, mac: Uint8Array, pub: number, time: number, data: unknown, keyStamp?: number): PeerEntry {
    const k = macKey(mac, 0);
    this.evictClaims(subnet, k);
    if (this.bySubnet.has(subnet) || this.byMac.has(k)) throw new Error('PeerMesh.add: subnet or MAC already in the mesh');
    const m = mac.slice();
    const stamp = nextStamp();
    const e: PeerEntry = {
      subnet, prefix: this.prefix, mac: m, macKey: k, pub, stamp, keyStamp: keyStamp ?? stamp, time,
      fdb: { mac: m, remotes: [{ dst: pub, permanent: true }] }, data,
    };
    this.bySubnet.set(subnet, e);
    this.byMac.set(k, e);
    this.journal.push({ add: true, e });
    return e;
  }

  /**
   * Before an entry for `subnet` with MAC `macK` is added: every attached node that
   * holds its own route, neighbour or FDB entry there detaches (takes its own copy
   * of the mesh as it is now), so it then programs the entry itself, as it would
   * without sharing. Call before any change the same lease event makes.
   */
  evictClaims(subnet: number, macK: number): void {
    const check = (kind: number, key: number): void => {
      const set = this.claims[kind]!.get(key);
      if (!set) return;
      for (const v of [...set]) {
        if (v.attached && v.holds(kind, key)) v.detach();
        set.delete(v);
      }
      if (set.size === 0) this.claims[kind]!.delete(key);
    };
    check(CLAIM_ROUTE, subnet);
    check(CLAIM_NEIGH, subnet);
    check(CLAIM_FDB, macK);
  }

  remove(subnet: number): PeerEntry | undefined {
    const e = this.bySubnet.get(subnet);
    if (!e) return undefined;
    this.bySubnet.delete(subnet);
    this.byMac.delete(e.macKey);
    this.journal.push({ add: false, e });
    return e;
  }

  /** Attaches `dev`'s namespace (its main table, neighbours, and `dev`'s FDB) to the mesh, leaving out `own`. */
  attach(dev: Vxlan, own: number, onDetach?: () => void): MeshView {
    const v = new MeshView(this, dev, own, onDetach ?? null);
    this.views.add(v);
    v.ns.fib.attachShared(v);
    v.ns.neighs.attachShared(v);
    dev.attachShared(v);
    return v;
  }

  /** Detaches every view (each materialises its copy). */
  detachAll(): void {
    for (const v of [...this.views]) v.detach();
  }

  /** The live entries as of journal position `at` (replayed), by subnet. */
  liveAt(at: number): Map<number, PeerEntry> {
    const m = new Map<number, PeerEntry>();
    const j = this.journal;
    for (let i = 0; i < at; i++) {
      const op = j[i]!;
      if (op.add) m.set(op.e.subnet, op.e);
      else m.delete(op.e.subnet);
    }
    return m;
  }
}

/** A shared entry as one node sees it: the entry and its effective stamp. */
export interface ViewItem {
  e: PeerEntry;
  stamp: number;
}

export class MeshView {
  readonly ns: Netns;
  readonly attachStamp = nextStamp();
  readonly attachTime: number;
  attached = true;
  private readonly routes = new Map<number, Route>();
  private readonly neighs = new Map<number, Neigh>();

  constructor(readonly mesh: PeerMesh, readonly dev: Vxlan, readonly own: number, private readonly onDetach: (() => void) | null) {
    this.ns = dev.netns;
    this.attachTime = this.ns.world.now;
  }

  get prefix(): number { return this.mesh.prefix; }

  /** The live entry for `subnet`, unless it is the node's own. */
  entry(subnet: number): PeerEntry | undefined {
    if (subnet === this.own) return undefined;
    return this.mesh.bySubnet.get(subnet);
  }

  entryByMac(k: number): PeerEntry | undefined {
    const e = this.mesh.byMac.get(k);
    return e && e.subnet !== this.own ? e : undefined;
  }

  /** How many shared entries the node sees. */
  count(): number {
    return this.mesh.bySubnet.size - (this.mesh.bySubnet.has(this.own) ? 1 : 0);
  }

  /** `S via G dev DEV onlink` (cached: it depends on the subnet and the device only). */
  route(dst: number): Route | undefined {
    if (!this.entry(dst)) return undefined;
    let r = this.routes.get(dst);
    if (!r) { r = this.makeRoute(dst); this.routes.set(dst, r); }
    return r;
  }

  makeRoute(dst: number): Route {
    return {
      dst, prefix: this.mesh.prefix, type: 'unicast', gw: dst, dev: this.dev, scope: 'global', metric: 0, src: 0,
      proto: 'boot', onlink: true, table: RT_TABLE_MAIN,
    };
  }

  /** The PERMANENT neighbour `G lladdr M` on the device (cached per entry). */
  neigh(ip: number): Neigh | undefined {
    const e = this.entry(ip);
    if (!e) return undefined;
    let n = this.neighs.get(ip);
    if (!n || n.mac !== e.mac) { n = this.makeNeigh(e); this.neighs.set(ip, n); }
    return n;
  }

  makeNeigh(e: PeerEntry): Neigh {
    const t = Math.max(e.time, this.attachTime);
    return {
      ip: e.subnet, dev: this.dev as NetDevice, mac: e.mac, state: Nud.PERMANENT, confirmed: t - 2 * NEIGH_DEFAULTS.baseReachableTime,
      used: t, updated: t, reachableUntil: 0, probes: 0, queue: [], queueBytes: 0, gen: 1,
    };
  }

  /**
   * The shared entries in this node's order: those present at the attach (programmed
   * then, in subnet order) at the attach stamp, then the later ones at their own.
   * `byKey`: in the order of a map keyed by subnet that a replace does not move (the
   * first add of the subnet since it was last absent).
   */
  ordered(byKey = false): ViewItem[] {
    const before: PeerEntry[] = [];
    const after: ViewItem[] = [];
    for (const e of this.mesh.bySubnet.values()) {
      if (e.subnet === this.own) continue;
      const st = byKey ? e.keyStamp : e.stamp;
      if (st < this.attachStamp) before.push(e);
      else after.push({ e, stamp: st });
    }
    before.sort((a, b) => a.subnet - b.subnet);
    if (byKey) after.sort((a, b) => a.stamp - b.stamp);
    const out: ViewItem[] = before.map((e) => ({ e, stamp: this.attachStamp }));
    for (const x of after) out.push(x);
    return out;
  }

  /**
   * Copy-on-write: the node takes its own copy of every shared entry (routes,
   * neighbours, FDB, in listing order) and stops following the mesh.
   */
  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.mesh.views.delete(this);
    this.ns.fib.detachShared(this);
    this.ns.neighs.detachShared(this);
    this.dev.detachShared(this);
    this.onDetach?.();
  }

  /** Records that this node holds its own key of `kind` (see PeerMesh.claims); not the own subnet's. */
  claim(kind: number, key: number): void {
    if (kind !== CLAIM_FDB && key === this.own) return;
    let set = this.mesh.claims[kind]!.get(key);
    if (!set) { set = new Set(); this.mesh.claims[kind]!.set(key, set); }
    set.add(this);
  }

  /** Whether the node still holds its own key of `kind`. */
  holds(kind: number, key: number): boolean {
    if (kind === CLAIM_ROUTE) return this.ns.fib.hasOwn(key, this.mesh.prefix);
    if (kind === CLAIM_NEIGH) return this.ns.neighs.hasOwn(neighKey(this.dev, key));
    return this.dev.fdb.has(key);
  }

  /** The cached neighbour object of `ip` if one was materialised (detach keeps it). */
  cachedNeigh(ip: number): Neigh | undefined {
    return this.neighs.get(ip);
  }
}

/**
 * Merges a table's own entries (in map order; `stampOf` gives 0 for keys added
 * before the attach) with a view's shared items, in insertion order.
 */
export function mergeByStamp<K, V, S>(own: Iterable<[K, V]>, stampOf: (k: K) => number, shared: ViewItem[], make: (e: PeerEntry) => [K, S]): [K, V | S][] {
  const out: [K, V | S][] = [];
  let i = 0;
  for (const [k, v] of own) {
    const s = stampOf(k);
    while (i < shared.length && shared[i]!.stamp < s) out.push(make(shared[i++]!.e));
    out.push([k, v]);
  }
  while (i < shared.length) out.push(make(shared[i++]!.e));
  return out;
}
