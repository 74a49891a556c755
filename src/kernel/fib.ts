/**
 * The IPv4 forwarding information base: routing tables with longest-prefix
 * match, then lowest metric, as `ip route` shows them. Table 255 (local) holds
 * local and broadcast routes the kernel adds for each address; table 254
 * (main) holds the rest. Lookup consults local first, then main, which is what
 * the default policy rules (`ip rule`: 0 local, 32766 main) do.
 *
 * Routes live in one Map per prefix length keyed by the masked destination,
 * and lookup walks only the prefix lengths in use, longest first.
 */
import { ipToString, prefixMask } from '../wire/bytes.js';
import type { NetDevice } from './device.js';
import type { RouteScope, RouteType } from './netlink.js';
import { CLAIM_ROUTE, mergeByStamp, nextStamp, type MeshView } from './peer-mesh.js';
import { linkEpoch } from './link-epoch.js';

export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

export interface Route {
  dst: number;
  prefix: number;
  type: RouteType;
  /** Gateway, 0 when directly connected. */
  gw: number;
  dev: NetDevice | null;
  scope: RouteScope;
  metric: number;
  /** Preferred source, 0 when none. */
  src: number;
  proto: string;
  onlink: boolean;
  table: number;
  /** `ip route` text, computed on first use (route fields never change after creation). */
  text?: string;
  /**
   * Usable although its device is down: fib_add_ifaddr's `local` route of an address added
   * to a DOWN device (kube-ipvs0). The kernel marks nexthops dead only when their device goes
   * down (fib_sync_down_dev), which also flushes them; this route never saw that.
   */
  alive?: boolean;
}

/**
 * A route as BIRD installs it (`D via G dev X [onlink] proto bird`: unicast, scope global,
 * metric 0, no src, main table): five fields of its own, the constant rest on the prototype.
 * A Calico client holds one per block of the cluster (25 M at 5,000 nodes, issue 9): 72 bytes
 * instead of 112, and, being its own shape, without the boxed `dst`/`gw` doubles that other
 * routes (169.254.1.1) force on the shared literal shape (16 bytes each).
 */
export class BirdRoute implements Route {
  declare readonly type: RouteType;
  declare readonly scope: RouteScope;
  declare readonly metric: number;
  declare readonly src: number;
  declare readonly proto: string;
  declare readonly table: number;
  declare text?: string;
  declare alive?: boolean;
  constructor(readonly dst: number, readonly prefix: number, readonly gw: number, readonly dev: NetDevice | null, readonly onlink: boolean) {}
  /** Whether `ip route replace` of these values makes a BirdRoute. */
  static fits(type: RouteType, scope: RouteScope, metric: number, src: number, proto: string, table: number): boolean {
    return type === 'unicast' && scope === 'global' && metric === 0 && src === 0 && proto === 'bird' && table === RT_TABLE_MAIN;
  }
}
Object.assign(BirdRoute.prototype, { type: 'unicast', scope: 'global', metric: 0, src: 0, proto: 'bird', table: RT_TABLE_MAIN });

/**
 * A BirdRoute without its device object: the device is named by name and ifindex, so one
 * object serves every namespace that installs the same route. A Calico client installs a
 * route per block of the cluster, the same ones on every client (25 M routes at 5,000
 * nodes, issue 9, from about 5,000 distinct ones): a table keeps this instead, and hands
 * out a BirdRoute with its own device each time it is read (reads are the probes' lookups,
 * which Fib caches, and listings).
 */
export class SharedBirdRoute {
  constructor(readonly dst: number, readonly prefix: number, readonly gw: number, readonly devName: string, readonly ifindex: number, readonly onlink: boolean) {}
  /** This route in the namespace whose devices `dev` finds. */
  route(dev: DeviceOf): BirdRoute {
    return new BirdRoute(this.dst, this.prefix, this.gw, dev(this.devName, this.ifindex), this.onlink);
  }
}

/** A namespace's device by name and ifindex (null when it has none: the route's device went). */
export type DeviceOf = (name: string, ifindex: number) => NetDevice | null;

/** The shared forms, by destination (a few per destination at most: next hop, device, onlink). */
const sharedBird = new Map<number, SharedBirdRoute | SharedBirdRoute[]>();

/** Whether `x` is the shared form of `r` through `dev` (`x.dst` is `r.dst`: found by it). */
const sharedFormOf = (x: SharedBirdRoute, r: BirdRoute, dev: NetDevice): boolean =>
  x.prefix === r.prefix && x.gw === r.gw && x.ifindex === dev.ifindex && x.devName === dev.name && x.onlink === r.onlink;

/** The shared form of `r` (made once for the process; no closure per call: a client installs 5,000). */
function shareBird(r: BirdRoute, dev: NetDevice): SharedBirdRoute {
  const v = sharedBird.get(r.dst);
  if (v !== undefined && !Array.isArray(v) && sharedFormOf(v, r, dev)) return v;
  if (Array.isArray(v)) for (const x of v) if (sharedFormOf(x, r, dev)) return x;
  const t = new SharedBirdRoute(r.dst, r.prefix, r.gw, dev.name, dev.ifindex, r.onlink);
  if (v === undefined) sharedBird.set(r.dst, t);
  else if (Array.isArray(v)) v.push(t);
  else sharedBird.set(r.dst, [v, t]);
  return t;
}

/**
 * The routes to one dst/prefix: the route itself when it is the only one (nearly always: a
 * 1-element array per route cost 56 bytes, 25 M BIRD routes at 5,000 nodes, issue 9), its
 * shared form when it is a BIRD route alone there, else them by metric.
 */
type Slot = Route | Route[] | SharedBirdRoute;
const toSlot = (l: Route[]): Slot => (l.length === 1 ? l[0]! : l);

class Table {
  readonly byLen: (Map<number, Slot> | undefined)[] = new Array(33);
  /** The namespace's devices (null: routes are kept as given, never shared). */
  constructor(private readonly devOf: DeviceOf | null) {}

  /** The routes of a slot (a shared BIRD route as this namespace's). */
  private list(v: Slot): Route[] {
    return Array.isArray(v) ? v : [v instanceof SharedBirdRoute ? v.route(this.devOf!) : v];
  }

  /** Prefix lengths in use, longest first. */
  lens: number[] = [];
  /** A shared peer mesh consulted after the own routes at its prefix length (main table only). */
  shared: MeshView | null = null;
  /** Stamps of the keys at the shared prefix length added while attached (merged listing order). */
  private stamps: Map<number, number> | null = null;

  private addLen(len: number): void {
    this.byLen[len] = new Map();
    this.lens = [...this.lens, len].sort((a, b) => b - a);
  }

  private dropLen(len: number): void {
    if (this.shared && len === this.shared.prefix) return; // the mesh's level stays while attached
    this.byLen[len] = undefined;
    this.lens = this.lens.filter((l) => l !== len);
  }

  /** Whether dst/prefix is a key of the attached mesh (then a change to it detaches first). */
  private sharedKey(dst: number, prefix: number): boolean {
    const v = this.shared;
    return v !== null && prefix === v.prefix && !this.byLen[prefix]?.has(dst) && v.entry(dst) !== undefined;
  }

  add(r: Route): void {
    if (this.sharedKey(r.dst, r.prefix)) this.shared!.detach();
    let m = this.byLen[r.prefix];
    if (!m) { this.addLen(r.prefix); m = this.byLen[r.prefix]!; }
    const v = m.get(r.dst);
    if (v !== undefined) {
      const list = this.list(v);
      list.push(r);
      list.sort((a, b) => a.metric - b.metric);
      if (list !== v) m.set(r.dst, list);
    } else {
      m.set(r.dst, this.devOf !== null && r instanceof BirdRoute && r.dev !== null ? shareBird(r, r.dev) : r);
      if (this.stamps && r.prefix === this.shared!.prefix) {
        this.stamps.set(r.dst, nextStamp());
        this.shared!.claim(CLAIM_ROUTE, r.dst);
      }
    }
  }

  remove(pred: (r: Route) => boolean, dev?: NetDevice): Route[] {
    const v = this.shared;
    if (v && (dev === undefined || dev === v.dev)) {
      // Would the predicate take a shared route? Then this node needs its own copy first.
      for (const e of v.mesh.bySubnet.values()) {
        if (e.subnet !== v.own && pred(v.makeRoute(e.subnet))) { v.detach(); break; }
      }
    }
    const removed: Route[] = [];
    for (const len of this.lens) {
      const m = this.byLen[len]!;
      for (const [k, v] of m) {
        // `dev` given: a shared BIRD route through another device is not one of them (not made to ask).
        if (dev !== undefined && v instanceof SharedBirdRoute && v.ifindex !== dev.ifindex) continue;
        const list = this.list(v);
        const keep = list.filter((r) => {
          if (pred(r)) { removed.push(r); return false; }
          return true;
        });
        if (keep.length === 0) { m.delete(k); this.stamps?.delete(k); }
        else if (keep.length !== list.length) m.set(k, toSlot(keep));
      }
      if (m.size === 0) this.dropLen(len);
    }
    return removed;
  }

  /** Removes the routes to exactly dst/prefix that `pred` selects (one map lookup, not a scan). */
  removeAt(dst: number, prefix: number, pred: (r: Route) => boolean): Route[] {
    if (this.sharedKey(dst, prefix)) {
      if (!pred(this.shared!.route(dst)!)) return [];
      this.shared!.detach();
    }
    const m = this.byLen[prefix];
    const v = m?.get(dst);
    if (!m || v === undefined) return [];
    const removed: Route[] = [];
    const keep = this.list(v).filter((r) => {
      if (pred(r)) { removed.push(r); return false; }
      return true;
    });
    if (!removed.length) return removed;
    if (keep.length) m.set(dst, toSlot(keep));
    else {
      m.delete(dst);
      this.stamps?.delete(dst);
      if (m.size === 0) this.dropLen(prefix);
    }
    return removed;
  }

  /** The routes to exactly dst/prefix (own, else the shared one). */
  at(dst: number, prefix: number): Route[] | undefined {
    const own = this.byLen[prefix]?.get(dst);
    if (own !== undefined) return this.list(own);
    const v = this.shared;
    if (v && prefix === v.prefix) {
      const r = v.route(dst);
      if (r) return [r];
    }
    return undefined;
  }

  lookup(ip: number, usable: (r: Route) => boolean): Route | null {
    const v = this.shared;
    for (const len of this.lens) {
      const key = len === 0 ? 0 : (ip & prefixMask(len)) >>> 0;
      const x = this.byLen[len]!.get(key);
      if (x !== undefined) {
        if (x instanceof SharedBirdRoute) { const r = x.route(this.devOf!); if (usable(r)) return r; }
        else if (!Array.isArray(x)) { if (usable(x)) return x; }
        else for (const r of x) if (usable(r)) return r;
      } else if (v && len === v.prefix) {
        const r = v.route(key);
        if (r && usable(r)) return r;
      }
    }
    return null;
  }

  /** Own and shared routes at the mesh's level, in insertion order. */
  private merged(v: MeshView): [number, Slot][] {
    const stamps = this.stamps;
    return mergeByStamp(this.byLen[v.prefix]!, (k) => stamps?.get(k) ?? 0, v.ordered(), (e) => [e.subnet, v.route(e.subnet)!]);
  }

  all(): Route[] {
    const out: Route[] = [];
    const v = this.shared;
    for (const len of this.lens) {
      if (v && len === v.prefix) { for (const [, x] of this.merged(v)) out.push(...this.list(x)); continue; }
      for (const x of this.byLen[len]!.values()) out.push(...this.list(x));
    }
    return out;
  }

  attachShared(v: MeshView): void {
    if (this.shared) throw new Error('a table holds one shared mesh');
    if (!this.byLen[v.prefix]) this.addLen(v.prefix);
    this.shared = v;
    this.stamps = new Map();
    for (const k of this.byLen[v.prefix]!.keys()) v.claim(CLAIM_ROUTE, k);
  }

  /** Materialises the view's routes into this table, in listing order, and lets it go. */
  detachShared(v: MeshView): void {
    if (this.shared !== v) return;
    const merged = this.merged(v);
    const m = this.byLen[v.prefix]!;
    m.clear();
    for (const [k, list] of merged) m.set(k, list);
    this.shared = null;
    this.stamps = null;
    if (m.size === 0) this.dropLen(v.prefix);
  }
}

/** Fib's lookup cache is emptied when it reaches this many destinations. */
const FIB_CACHE_MAX = 4096;

/** Routes through a device that is down are skipped (the kernel flushes them), except `alive` ones (see Route.alive). */
const usableRoute = (r: Route): boolean => r.dev === null || r.dev.up || r.alive === true;

export class Fib {
  private readonly local: Table;
  private readonly main: Table;

  /** `devOf`: the namespace's devices, for routes held in shared form (see SharedBirdRoute); without it none are. */
  constructor(private readonly devOf: DeviceOf | null = null) {
    this.local = new Table(devOf);
    this.main = new Table(devOf);
  }

  /** Tables other than local and main, in creation order (null while none: a Map per namespace saved, issue 9). */
  private extra: Map<number, Table> | null = null;

  private existing(id: number): Table | undefined {
    return id === RT_TABLE_LOCAL ? this.local : id === RT_TABLE_MAIN ? this.main : this.extra?.get(id);
  }

  private table(id: number): Table {
    let t = this.existing(id);
    if (!t) { t = new Table(this.devOf); (this.extra ??= new Map()).set(id, t); }
    return t;
  }

  /** Every table: local, main, then the others in creation order. */
  private all(): Table[] {
    return this.extra ? [this.local, this.main, ...this.extra.values()] : [this.local, this.main];
  }

  add(r: Route): void { this.version++; this.table(r.table).add(r); }

  /** Attaches a shared peer mesh to the main table (see peer-mesh.ts). */
  attachShared(v: MeshView): void { this.version++; this.main.attachShared(v); }

  /** Materialises the mesh's routes into the main table (copy-on-write) and detaches it. */
  detachShared(v: MeshView): void { this.version++; this.main.detachShared(v); }

  /** Finds an exact route (same table, dst/prefix, metric, and dev/gw/type when given). */
  find(r: Partial<Route> & { dst: number; prefix: number; table: number }): Route | undefined {
    return this.existing(r.table)?.at(r.dst, r.prefix)?.find((x) =>
      (r.metric === undefined || x.metric === r.metric) &&
      (r.dev === undefined || r.dev === null || x.dev === r.dev) &&
      (r.gw === undefined || r.gw === 0 || x.gw === r.gw) &&
      (r.type === undefined || x.type === r.type));
  }

  /** Removes the routes `pred` selects; `dev`, when given, says every one of them is through it. */
  remove(pred: (r: Route) => boolean, dev?: NetDevice): Route[] {
    this.version++;
    const out: Route[] = [];
    for (const t of this.all()) out.push(...t.remove(pred, dev));
    if (out.length) this.removals++;
    return out;
  }

  /** Removes the routes of `table` to exactly dst/prefix that `pred` selects. */
  removeAt(table: number, dst: number, prefix: number, pred: (r: Route) => boolean): Route[] {
    this.version++;
    const out = this.existing(table)?.removeAt(dst, prefix, pred) ?? [];
    if (out.length) this.removals++;
    return out;
  }

  /**
   * Bumped by every call that removed a route (a delete, a replace of an existing route, a device's
   * routes flushed): while it stands still, every route added since is still there (BIRD's kernel
   * scan needs to look only after it moved).
   */
  removals = 0;

  /**
   * Bumped by every change to the tables (add, remove, a mesh attached or detached). With
   * the devices' up/down epoch and the shared mesh's journal length it says whether
   * `cache` still holds what a lookup would find.
   */
  private version = 0;
  /** Lookup results by destination, valid while the three stamps below are current. */
  private cache: Map<number, Route | null> | null = null;
  private cacheVersion = -1;
  private cacheLinks = -1;
  private cacheMesh = -1;

  /**
   * Longest-prefix match: local table first, then main, skipping routes whose
   * device is down (the kernel flushes those; we skip them the same way).
   * Results are cached per destination until a table, a device's up state or
   * the shared mesh changes (the same routes are found; nothing visible differs).
   */
  lookup(ip: number): Route | null {
    const mesh = this.main.shared;
    const meshStamp = mesh === null ? -1 : mesh.mesh.journal.length;
    let c = this.cache;
    if (c === null || this.cacheVersion !== this.version || this.cacheLinks !== linkEpoch.n || this.cacheMesh !== meshStamp || c.size >= FIB_CACHE_MAX) {
      if (c === null) c = this.cache = new Map();
      else c.clear();
      this.cacheVersion = this.version;
      this.cacheLinks = linkEpoch.n;
      this.cacheMesh = meshStamp;
    }
    let r = c.get(ip);
    if (r === undefined) {
      r = this.lookupUncached(ip);
      c.set(ip, r);
    }
    return r;
  }

  private lookupUncached(ip: number): Route | null {
    const r = this.local.lookup(ip, usableRoute) ?? this.main.lookup(ip, usableRoute);
    if (r || this.extra === null) return r;
    for (const t of this.extra.values()) {
      const x = t.lookup(ip, usableRoute);
      if (x) return x;
    }
    return null;
  }

  /** Whether the main table has a route of its own (not a mesh's) to exactly dst/prefix. */
  hasOwn(dst: number, prefix: number): boolean {
    return this.main.byLen[prefix]?.has(dst) ?? false;
  }

  routes(table: number): Route[] {
    return this.existing(table)?.all() ?? [];
  }
}

/** `ip route` text for one route, in iproute2's order of fields. */
export function formatRoute(r: Route): string {
  if (r.text !== undefined) return r.text;
  r.text = routeText(r);
  return r.text;
}

function routeText(r: Route): string {
  const parts: string[] = [];
  if (r.type !== 'unicast') parts.push(r.type);
  // iproute2 prints "default" for any /0 (no RTA_DST), so also "blackhole default", "unreachable default".
  parts.push(r.prefix === 0 ? 'default' : r.prefix === 32 ? ipToString(r.dst) : `${ipToString(r.dst)}/${r.prefix}`);
  if (r.gw) parts.push('via', ipToString(r.gw));
  if (r.dev) parts.push('dev', r.dev.name);
  if (r.table !== RT_TABLE_MAIN && r.table !== RT_TABLE_LOCAL) parts.push('table', String(r.table));
  if (r.proto !== 'boot') parts.push('proto', r.proto);
  if (r.scope !== 'global' && r.type === 'unicast') parts.push('scope', r.scope);
  else if (r.type === 'local' || r.type === 'broadcast') parts.push('scope', r.scope);
  if (r.src) parts.push('src', ipToString(r.src));
  if (r.metric) parts.push('metric', String(r.metric));
  if (r.onlink) parts.push('onlink');
  return parts.join(' ');
}
