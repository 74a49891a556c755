/**
 * The Endpoints, EndpointSlice and EndpointSlice-mirroring controllers of
 * kube-controller-manager (pkg/controller/endpoint, pkg/controller/endpointslice,
 * pkg/controller/endpointslicemirroring, staging k8s.io/endpointslice), run
 * synchronously off an ObjectStore's watches.
 *
 * For every Service with a selector it maintains
 * - the `Endpoints` object of the same name: one address per pod that matches
 *   the selector and has an IP, ready pods in `addresses`, the others in
 *   `notReadyAddresses`, each service port resolved per pod, repacked into
 *   subsets of addresses that share the same ports;
 * - `EndpointSlice`s named `<service>-<5 random chars>`, one group per distinct
 *   set of resolved ports, at most 100 endpoints each, with ready/serving/
 *   terminating conditions as the EndpointSlice controller computes them, and a
 *   placeholder slice (no endpoints, no ports) when there is nothing to list.
 * For every Service without a selector it mirrors the user's `Endpoints` into
 * EndpointSlices, as the mirroring controller does.
 *
 * Which pods count: those with `status.podIP` (the cluster builder sets it after
 * CNI ADD) and not in a terminal phase (Succeeded, Failed). A pod's readiness
 * is its `Ready` condition; a pod whose status has no conditions at all counts
 * as ready. That last rule is podwire's: no kubelet runs probes and writes
 * conditions here, so a scenario pod without a status block is taken to have
 * started and passed its readiness checks.
 *
 * Departures, for determinism: upstream orders Endpoints ports and subsets by
 * an md5 of a Go object dump, and places new slice endpoints in map order.
 * podwire orders ports by (name, port, protocol), subsets by their first
 * address, and new endpoints in pod creation order. Addresses are sorted as
 * upstream does (IP text bytewise, then pod UID).
 *
 * Not modelled: node zones beyond the `topology.kubernetes.io/zone` label of a
 * Node object in the store, topology hints, the 1000-address Endpoints cap and
 * the last-change-trigger-time annotation (there is no wall clock).
 */
import type { Rand } from './allocator.js';
import { validateEndpoints, type Endpoints } from './endpoints.js';
import {
  ENDPOINTSLICE_CONTROLLER,
  ENDPOINTSLICE_MIRRORING_CONTROLLER,
  LABEL_HEADLESS,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  LABEL_SKIP_MIRROR,
} from './fields.js';
import { matchesLabels } from './labels.js';
import { isObj, type Obj } from './object.js';
import { validateService, type Service, type ServicePort } from './service.js';
import { frozenCopy, objName, objNamespace, type ObjectStore, type WatchEvent } from './store.js';

export const MAX_ENDPOINTS_PER_SLICE = 100;
/** The characters the apiserver's generateName suffix is drawn from (no vowels, no look-alikes). */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface EndpointsControllerOptions {
  /** Draws for slice names (5 per name); the run's seeded PRNG. */
  rand: Rand;
  maxEndpointsPerSlice?: number;
}

type Dict = Record<string, unknown>;

function meta(o: Obj): Dict {
  return isObj(o.metadata) ? o.metadata : {};
}
function dict(v: unknown): Dict {
  return isObj(v) ? v : {};
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(dict(v))) if (typeof x === 'string') out[k] = x;
  return out;
}
/** Deep equality of JSON-like values (key order ignored). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => same(x, bb[i]));
  }
  const ka = Object.keys(a as Dict).filter((k) => (a as Dict)[k] !== undefined);
  const kb = Object.keys(b as Dict).filter((k) => (b as Dict)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => same((a as Dict)[k], (b as Dict)[k]));
}

/** What the controllers read from a stored Pod. */
interface PodView {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  ip: string;
  nodeName?: string;
  hostname?: string;
  subdomain?: string;
  terminal: boolean;
  terminating: boolean;
  ready: boolean;
  body: Obj;
  /** `{kind: 'Pod', namespace, name, uid}`, frozen: shared by every address and endpoint of this pod. */
  targetRef: Dict;
  /** The Endpoints address without a hostname (frozen), made on first use. */
  addr?: Dict;
  /** The last EndpointSlice endpoint made for this pod (frozen) and what it was made from. */
  sliceEp?: { ready: boolean; hostname: string | undefined; zone: string | undefined; ep: Dict };
  /** The last named target port resolved on this pod (a service port of a stored Service version) and its container port. */
  namedSp?: ServicePort;
  namedPort?: number;
}

/** Stored objects are frozen: one view per stored Pod. */
const podViews = new WeakMap<Obj, PodView>();

function podView(o: Obj): PodView {
  let v = podViews.get(o);
  if (!v) podViews.set(o, (v = makePodView(o)));
  return v;
}

function makePodView(o: Obj): PodView {
  const m = meta(o);
  const spec = dict(o.spec);
  const st = dict(o.status);
  const phase = str(st.phase);
  const conds = Array.isArray(st.conditions) ? st.conditions : [];
  // podwire's convention (see the header): no conditions at all = ready.
  const ready = conds.length === 0 || conds.some((c) => isObj(c) && c.type === 'Ready' && c.status === 'True');
  return {
    name: str(m.name) ?? '',
    namespace: str(m.namespace) ?? 'default',
    uid: str(m.uid) ?? '',
    labels: strMap(m.labels),
    ip: str(st.podIP) ?? '',
    nodeName: str(spec.nodeName),
    hostname: str(spec.hostname),
    subdomain: str(spec.subdomain),
    terminal: phase === 'Succeeded' || phase === 'Failed',
    terminating: m.deletionTimestamp !== undefined && m.deletionTimestamp !== null,
    ready,
    body: o,
    targetRef: Object.freeze({ kind: 'Pod', namespace: str(m.namespace) ?? 'default', name: str(m.name) ?? '', uid: str(m.uid) ?? '' }),
  };
}

/** findPort on a pod view: the last named port resolved is remembered (the stored Pod is immutable). */
function podPort(p: PodView, sp: ServicePort): number | undefined {
  if (typeof sp.targetPort === 'number') return sp.targetPort;
  // One entry: a pod is usually behind one Service with one named port (a Map per pod would cost more than the walk it saves otherwise).
  if (p.namedSp === sp) return p.namedPort;
  const n = findPort(p.body, sp);
  p.namedSp = sp;
  p.namedPort = n;
  return n;
}

/** The Endpoints address of a pod (frozen; the hostname-less one made once per pod). */
function podAddress(p: PodView, hostname: string | undefined): Dict {
  const make = (): Dict => frozenCopy({
    ip: p.ip,
    ...(hostname ? { hostname } : {}),
    ...(p.nodeName ? { nodeName: p.nodeName } : {}),
    targetRef: p.targetRef,
  });
  if (hostname) return make();
  return (p.addr ??= make());
}

/**
 * Memo keys of frozen dicts (port dicts and endpoints shared between syncs): stored objects
 * share them, so a sync that compares a slice's endpoints with the wanted ones meets the same
 * objects again. Unfrozen dicts (a caller's) are keyed afresh each time.
 */
const memoKeys = new WeakMap<Dict, string>();
function memoKey(d: Dict, f: (d: Dict) => string): string {
  if (!Object.isFrozen(d)) return f(d);
  let k = memoKeys.get(d);
  if (k === undefined) memoKeys.set(d, (k = f(d)));
  return k;
}

/** ShouldPodBeInEndpoints: an IP, not terminal, and (unless asked to include them) not terminating. */
function podCounts(p: PodView, includeTerminating: boolean): boolean {
  if (p.ip === '' || p.terminal) return false;
  return includeTerminating || !p.terminating;
}

/**
 * FindPort: a numeric targetPort is used as is; a named one is the pod's
 * container port of that name and the service port's protocol (regular
 * containers, then restartable init containers, i.e. sidecars).
 */
export function findPort(pod: Obj, sp: ServicePort): number | undefined {
  if (typeof sp.targetPort === 'number') return sp.targetPort;
  const spec = dict(pod.spec);
  const lists: unknown[] = [];
  if (Array.isArray(spec.containers)) lists.push(...spec.containers);
  if (Array.isArray(spec.initContainers)) lists.push(...spec.initContainers.filter((c) => isObj(c) && c.restartPolicy === 'Always'));
  for (const c of lists) {
    for (const p of Array.isArray(dict(c).ports) ? (dict(c).ports as unknown[]) : []) {
      const pd = dict(p);
      if (pd.name === sp.targetPort && (str(pd.protocol) ?? 'TCP') === sp.protocol && typeof pd.containerPort === 'number')
        return pd.containerPort;
    }
  }
  return undefined;
}

/** Upstream's address order: IP text compared bytewise, then targetRef UID. */
function lessAddress(a: Dict, b: Dict): number {
  const ia = String(a.ip);
  const ib = String(b.ip);
  if (ia !== ib) return ia < ib ? -1 : 1;
  const ua = str(dict(a.targetRef).uid) ?? '';
  const ub = str(dict(b.targetRef).uid) ?? '';
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

function portKey(p: Dict): string {
  return memoKey(p, portKeyOf);
}
function portKeyOf(p: Dict): string {
  return JSON.stringify([p.name ?? '', p.port ?? null, p.protocol ?? 'TCP', p.appProtocol ?? null]);
}

function comparePorts(a: Dict, b: Dict): number {
  const ka = [String(a.name ?? ''), Number(a.port ?? 0), String(a.protocol ?? '')] as const;
  const kb = [String(b.name ?? ''), Number(b.port ?? 0), String(b.protocol ?? '')] as const;
  for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
  return 0;
}

interface AddrPort {
  addr: Dict;
  /** undefined: a headless service's address without ports. */
  port?: Dict;
  ready: boolean;
}

/**
 * RepackSubsets: regroups (address, port, ready) triples into the canonical
 * layout — one subset per distinct set of addresses, carrying every port those
 * addresses share. An address listed both ready and not ready for a port is not
 * ready ("not ready always trumps ready").
 */
function addrKey(a: Dict): string {
  return `${String(a.ip)}/${str(dict(a.targetRef).uid) ?? ''}`;
}

export function repackSubsets(items: AddrPort[]): Dict[] {
  const addrs = new Map<string, Dict>();
  const byPort = new Map<string, { port?: Dict; set: Map<string, boolean> }>();
  for (const it of items) {
    const ak = memoKey(it.addr, addrKey);
    if (!addrs.has(ak)) addrs.set(ak, it.addr);
    const pk = it.port ? portKey(it.port) : '';
    let e = byPort.get(pk);
    if (!e) byPort.set(pk, (e = { port: it.port, set: new Map() }));
    const was = e.set.get(ak);
    if (was === undefined || was) e.set.set(ak, it.ready);
  }
  const groups = new Map<string, { set: Map<string, boolean>; ports: Dict[] }>();
  for (const { port, set } of byPort.values()) {
    const k = JSON.stringify([...set.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { set, ports: [] }));
    if (port) g.ports.push(port);
  }
  const out: Dict[] = [];
  for (const g of groups.values()) {
    const ready: Dict[] = [];
    const notReady: Dict[] = [];
    for (const [ak, r] of g.set) (r ? ready : notReady).push(addrs.get(ak)!);
    ready.sort(lessAddress);
    notReady.sort(lessAddress);
    const ss: Dict = {};
    if (ready.length) ss.addresses = ready;
    if (notReady.length) ss.notReadyAddresses = notReady;
    if (g.ports.length) ss.ports = g.ports.sort(comparePorts);
    out.push(ss);
  }
  const first = (s: Dict): Dict => ((s.addresses as Dict[] | undefined) ?? (s.notReadyAddresses as Dict[]))[0];
  return out.sort((a, b) => lessAddress(first(a), first(b)) || (JSON.stringify(a.ports ?? []) < JSON.stringify(b.ports ?? []) ? -1 : 1));
}

/** A slice's worth of endpoints for one set of ports. */
interface DesiredGroup {
  ports: Dict[];
  endpoints: Dict[];
}

/** EndpointSet identity: addresses, hostname and the target's namespace/name. */
function endpointKey(e: Dict): string {
  return memoKey(e, endpointKeyOf);
}
function endpointKeyOf(e: Dict): string {
  const t = dict(e.targetRef);
  return JSON.stringify([[...((e.addresses as string[]) ?? [])].sort(), e.hostname ?? '', t.namespace ?? '', t.name ?? '']);
}

function portsKey(ports: Dict[]): string {
  return JSON.stringify([...ports].map(portKey).sort());
}

/** A pod's EndpointSlice endpoint (frozen), the last one reused while its inputs are the same. */
function sliceEndpoint(p: PodView, ready: boolean, hostname: string | undefined, zone: string | undefined): Dict {
  const c = p.sliceEp;
  if (c && c.ready === ready && c.hostname === hostname && c.zone === zone) return c.ep;
  const ep = frozenCopy({
    addresses: [p.ip],
    conditions: { ready, serving: p.ready, terminating: p.terminating },
    ...(hostname ? { hostname } : {}),
    targetRef: p.targetRef,
    ...(p.nodeName ? { nodeName: p.nodeName } : {}),
    ...(zone !== undefined ? { zone } : {}),
  });
  p.sliceEp = { ready, hostname, zone, ep };
  return ep;
}

/**
 * The port dicts one Service version resolves to, made once and frozen: every pod with the
 * same container port shares them (in the stored objects too), and their keys are memoised.
 */
class PortMemo {
  /** By service port index × 65536 + container port. */
  private readonly epPorts = new Map<number, Dict>();
  /** By the resolved container ports ("" for none), joined with commas. */
  private readonly slices = new Map<string, { ports: Dict[]; key: string }>();
  constructor(private readonly svc: Service) {}

  /** The Endpoints port of service port `i` resolved to container port `n`. */
  endpointsPort(i: number, n: number): Dict {
    const k = i * 65536 + n;
    let d = this.epPorts.get(k);
    if (!d) {
      const sp = this.svc.ports[i];
      const port: Dict = { ...(sp.name !== '' ? { name: sp.name } : {}), port: n, protocol: sp.protocol };
      if (sp.appProtocol !== undefined) port.appProtocol = sp.appProtocol;
      this.epPorts.set(k, (d = frozenCopy(port)));
    }
    return d;
  }

  /** The EndpointSlice ports of a pod whose service ports resolved to `resolved` (undefined: not offered), and their key. */
  slicePorts(resolved: readonly (number | undefined)[]): { ports: Dict[]; key: string } {
    const k = resolved.length === 1 ? (resolved[0] === undefined ? '' : String(resolved[0])) : resolved.join(',');
    let e = this.slices.get(k);
    if (!e) {
      const ports: Dict[] = [];
      resolved.forEach((n, i) => {
        if (n === undefined) return;
        const sp = this.svc.ports[i];
        ports.push({ name: sp.name, port: n, protocol: sp.protocol, ...(sp.appProtocol !== undefined ? { appProtocol: sp.appProtocol } : {}) });
      });
      const frozen = frozenCopy(ports);
      this.slices.set(k, (e = { ports: frozen, key: portsKey(frozen) }));
    }
    return e;
  }
}

export class EndpointsController {
  private readonly unwatch: (() => void)[] = [];
  private readonly maxPerSlice: number;
  /** Typed views of stored Services; stored objects are immutable, so identity is a safe key. */
  private readonly svcCache = new WeakMap<Obj, Service | null>();

  constructor(
    private readonly store: ObjectStore,
    private readonly opts: EndpointsControllerOptions,
  ) {
    this.maxPerSlice = opts.maxEndpointsPerSlice ?? MAX_ENDPOINTS_PER_SLICE;
  }

  /** Registers the watches and syncs every Service already in the store. */
  start(): this {
    this.unwatch.push(
      this.store.watch('Service', (ev) => this.onService(ev)),
      this.store.watch('Pod', (ev) => this.onPod(ev)),
      this.store.watch('Endpoints', (ev) => this.onEndpoints(ev)),
    );
    for (const s of this.store.list('Service')) this.syncService(objNamespace(s) ?? 'default', objName(s));
    return this;
  }

  stop(): void {
    for (const u of this.unwatch.splice(0)) u();
  }

  private service(o: Obj | undefined): Service | undefined {
    if (!o) return undefined;
    let v = this.svcCache.get(o);
    if (v === undefined) {
      v = validateService(o).value ?? null;
      this.svcCache.set(o, v);
    }
    return v ?? undefined;
  }

  /** Per Service version (stored objects are immutable): its memoised port dicts. */
  private readonly portMemos = new WeakMap<Service, PortMemo>();

  private portMemo(svc: Service): PortMemo {
    let m = this.portMemos.get(svc);
    if (!m) this.portMemos.set(svc, (m = new PortMemo(svc)));
    return m;
  }

  private onService(ev: WatchEvent): void {
    this.syncService(objNamespace(ev.object) ?? 'default', objName(ev.object));
  }

  private onPod(ev: WatchEvent): void {
    const ns = objNamespace(ev.object) ?? 'default';
    const labels = [strMap(meta(ev.object).labels)];
    if (ev.old) labels.push(strMap(meta(ev.old).labels));
    for (const svc of this.selectorsOf(ns, labels)) {
      if (labels.some((l) => matchesLabels(svc.selector!, l))) this.syncService(ns, svc.name);
    }
  }

  /** Per namespace: its selector Services indexed by one selector pair, rebuilt when the namespace's Services change. */
  private readonly svcIndex = new Map<string, { gen: number; all: Service[]; byPair: Map<string, number[]>; always: number[] }>();

  /**
   * The selector Services of `ns` that may select a pod with one of `labelSets` — a superset of
   * those that do, in `store.list('Service', ns)` order (so syncs run in the same order as a scan).
   */
  private selectorsOf(ns: string, labelSets: Record<string, string>[]): Service[] {
    const gen = this.store.generation('Service', ns);
    let ix = this.svcIndex.get(ns);
    if (!ix || ix.gen !== gen) {
      ix = { gen, all: [], byPair: new Map(), always: [] };
      for (const o of this.store.list('Service', ns)) {
        const svc = this.service(o);
        if (!svc?.selector) continue;
        const i = ix.all.push(svc) - 1;
        const first = Object.entries(svc.selector)[0];
        if (!first) { ix.always.push(i); continue; }
        const k = `${first[0]}=${first[1]}`;
        const l = ix.byPair.get(k);
        if (l) l.push(i);
        else ix.byPair.set(k, [i]);
      }
      this.svcIndex.set(ns, ix);
    }
    const hit = new Set<number>(ix.always);
    for (const l of labelSets) for (const [k, v] of Object.entries(l)) for (const i of ix.byPair.get(`${k}=${v}`) ?? []) hit.add(i);
    return [...hit].sort((a, b) => a - b).map((i) => ix.all[i]);
  }

  private onEndpoints(ev: WatchEvent): void {
    const ns = objNamespace(ev.object) ?? 'default';
    const name = objName(ev.object);
    const svc = this.service(this.store.get('Service', ns, name));
    // Endpoints of selector services are this controller's own output.
    if (svc && !svc.selector) this.syncMirror(ns, name);
  }

  /** Brings the Endpoints and EndpointSlices of Service `namespace/name` up to date (deleting them if it is gone). */
  syncService(namespace: string, name: string): void {
    const obj = this.store.get('Service', namespace, name);
    if (!obj) {
      // As the Endpoints controller does; the slices go with their owner (garbage collection).
      this.store.delete('Endpoints', namespace, name);
      for (const s of this.ownedSlices(namespace, name, ENDPOINTSLICE_CONTROLLER)) this.store.delete('EndpointSlice', namespace, objName(s));
      for (const s of this.ownedSlices(namespace, name, ENDPOINTSLICE_MIRRORING_CONTROLLER)) this.store.delete('EndpointSlice', namespace, objName(s));
      return;
    }
    const svc = this.service(obj);
    // Invalid objects are not expected in the store; leave whatever exists alone.
    if (!svc || svc.type === 'ExternalName') return;
    if (!svc.selector) {
      for (const s of this.ownedSlices(namespace, name, ENDPOINTSLICE_CONTROLLER)) this.store.delete('EndpointSlice', namespace, objName(s));
      this.syncMirror(namespace, name);
      return;
    }
    for (const s of this.ownedSlices(namespace, name, ENDPOINTSLICE_MIRRORING_CONTROLLER)) this.store.delete('EndpointSlice', namespace, objName(s));
    const sel = svc.selector;
    const pods = this.store
      .listSelected('Pod', namespace, sel)
      .map(podView)
      .filter((p) => matchesLabels(sel, p.labels));
    this.syncEndpoints(svc, pods);
    this.syncSlices(svc, pods, obj);
  }

  private writeEndpointsHostname(p: PodView, svc: Service): string | undefined {
    return p.hostname && p.subdomain === svc.name && p.namespace === svc.namespace ? p.hostname : undefined;
  }

  private syncEndpoints(svc: Service, pods: PodView[]): void {
    const items: AddrPort[] = [];
    const memo = this.portMemo(svc);
    for (const p of pods) {
      if (!podCounts(p, svc.publishNotReadyAddresses)) continue;
      const addr = podAddress(p, this.writeEndpointsHostname(p, svc));
      const ready = svc.publishNotReadyAddresses || p.ready;
      if (svc.ports.length === 0) {
        if (svc.headless) items.push({ addr, ready });
        continue;
      }
      for (let i = 0; i < svc.ports.length; i++) {
        const n = podPort(p, svc.ports[i]);
        if (n === undefined) continue; // this pod does not offer this port
        items.push({ addr, port: memo.endpointsPort(i, n), ready });
      }
    }
    const subsets = repackSubsets(items);
    const labels: Record<string, string> = { ...svc.labels };
    if (svc.headless) labels[LABEL_HEADLESS] = '';
    else delete labels[LABEL_HEADLESS];
    // Endpoints this controller manages are not mirrored into slices.
    labels[LABEL_SKIP_MIRROR] = 'true';
    const existing = this.store.get('Endpoints', svc.namespace, svc.name);
    const want: Obj = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: svc.name, namespace: svc.namespace, labels },
      ...(subsets.length ? { subsets } : {}),
    };
    if (!existing) {
      this.store.create(want);
      return;
    }
    const em = meta(existing);
    if (same(existing.subsets ?? [], subsets) && same(em.labels ?? {}, labels)) return;
    const upd: Obj = { ...existing, metadata: { ...em, labels } };
    delete (upd.metadata as Dict).resourceVersion;
    if (subsets.length) upd.subsets = subsets;
    else delete upd.subsets;
    this.store.update(upd);
  }

  private ownedSlices(namespace: string, service: string, manager: string): Obj[] {
    return this.store.listSelected('EndpointSlice', namespace, { [LABEL_SERVICE_NAME]: service, [LABEL_MANAGED_BY]: manager }).filter((s) => {
      const l = strMap(meta(s).labels);
      return l[LABEL_SERVICE_NAME] === service && l[LABEL_MANAGED_BY] === manager;
    });
  }

  private syncSlices(svc: Service, pods: PodView[], svcObj: Obj): void {
    const desired = new Map<string, DesiredGroup>();
    const zones = new Map<string, string | undefined>();
    const memo = this.portMemo(svc);
    const resolved: (number | undefined)[] = [];
    for (const p of pods) {
      // The EndpointSlice controller keeps terminating pods, with conditions that say so.
      if (!podCounts(p, true)) continue;
      resolved.length = 0;
      for (const sp of svc.ports) resolved.push(podPort(p, sp));
      const { ports, key: k } = memo.slicePorts(resolved);
      let g = desired.get(k);
      if (!g) desired.set(k, (g = { ports, endpoints: [] }));
      const serving = p.ready;
      // "ready" is never true for a terminating pod, unless the service publishes not-ready addresses.
      const ready = svc.publishNotReadyAddresses || (serving && !p.terminating);
      const hostname = this.writeEndpointsHostname(p, svc);
      let zone: string | undefined;
      if (p.nodeName) {
        if (!zones.has(p.nodeName)) {
          const node = this.store.get('Node', undefined, p.nodeName);
          zones.set(p.nodeName, node ? strMap(meta(node).labels)[ZONE_LABEL] : undefined);
        }
        zone = zones.get(p.nodeName);
      }
      g.endpoints.push(sliceEndpoint(p, ready, hostname, zone));
    }
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(svc.labels)) if (k !== LABEL_SERVICE_NAME && k !== LABEL_MANAGED_BY) labels[k] = v;
    if (svc.headless) labels[LABEL_HEADLESS] = '';
    labels[LABEL_SERVICE_NAME] = svc.name;
    labels[LABEL_MANAGED_BY] = ENDPOINTSLICE_CONTROLLER;
    const owner = { apiVersion: 'v1', kind: 'Service', name: svc.name, uid: str(meta(svcObj).uid) ?? '', controller: true, blockOwnerDeletion: true };
    this.reconcile(svc.namespace, svc.name, this.ownedSlices(svc.namespace, svc.name, ENDPOINTSLICE_CONTROLLER), desired, labels, {}, owner, true);
  }

  /** The mirroring controller: user Endpoints of a selector-less Service → EndpointSlices. */
  private syncMirror(namespace: string, name: string): void {
    const existing = this.ownedSlices(namespace, name, ENDPOINTSLICE_MIRRORING_CONTROLLER);
    const epObj = this.store.get('Endpoints', namespace, name);
    const ep: Endpoints | undefined = epObj ? validateEndpoints(epObj).value : undefined;
    if (!epObj || !ep || ep.labels[LABEL_SKIP_MIRROR] === 'true') {
      for (const s of existing) this.store.delete('EndpointSlice', namespace, objName(s));
      return;
    }
    const desired = new Map<string, DesiredGroup>();
    for (const ss of ep.subsets) {
      const ports: Dict[] = ss.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}) }));
      const k = portsKey(ports);
      let g = desired.get(k);
      if (!g) desired.set(k, (g = { ports, endpoints: [] }));
      const seen = new Set(g.endpoints.map(endpointKey));
      for (const [list, ready] of [
        [ss.addresses, true],
        [ss.notReadyAddresses, false],
      ] as const) {
        for (const a of list) {
          const e: Dict = {
            addresses: [a.ip],
            conditions: { ready },
            ...(a.hostname ? { hostname: a.hostname } : {}),
            ...(a.targetRef ? { targetRef: { ...a.targetRef } } : {}),
            ...(a.nodeName ? { nodeName: a.nodeName } : {}),
          };
          const ek = endpointKey(e);
          if (seen.has(ek)) continue;
          seen.add(ek);
          g.endpoints.push(e);
        }
      }
    }
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(ep.labels)) if (k !== LABEL_SERVICE_NAME && k !== LABEL_MANAGED_BY) labels[k] = v;
    labels[LABEL_SERVICE_NAME] = name;
    labels[LABEL_MANAGED_BY] = ENDPOINTSLICE_MIRRORING_CONTROLLER;
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(ep.annotations))
      if (k !== 'endpoints.kubernetes.io/last-change-trigger-time' && k !== 'kubectl.kubernetes.io/last-applied-configuration') annotations[k] = v;
    const owner = { apiVersion: 'v1', kind: 'Endpoints', name, uid: str(meta(epObj).uid) ?? '', controller: true, blockOwnerDeletion: true };
    this.reconcile(namespace, name, existing, desired, labels, annotations, owner, false);
  }

  /**
   * The slice reconciler: existing slices whose ports still occur keep the
   * endpoints that are still wanted (updated in place, in their order); slices
   * left empty or whose ports no longer occur are deleted; remaining endpoints
   * fill kept slices with room, then new slices of at most maxPerSlice.
   */
  private reconcile(
    namespace: string,
    service: string,
    existing: Obj[],
    desired: Map<string, DesiredGroup>,
    labels: Record<string, string>,
    annotations: Record<string, string>,
    owner: Dict,
    placeholder: boolean,
  ): void {
    // Drop groups with no endpoints: ports alone make no slice.
    for (const [k, g] of desired) if (g.endpoints.length === 0) desired.delete(k);
    const remaining = new Map<string, Map<string, Dict>>();
    for (const [k, g] of desired) remaining.set(k, new Map(g.endpoints.map((e) => [endpointKey(e), e])));
    const kept: { obj: Obj; key: string; endpoints: Dict[] }[] = [];
    const toDelete: Obj[] = [];
    const emptied: { obj: Obj; key: string }[] = [];
    for (const s of existing) {
      const sports = Array.isArray(s.ports) ? (s.ports as Dict[]) : [];
      const k = portsKey(sports);
      const want = remaining.get(k);
      if (!want) {
        toDelete.push(s);
        continue;
      }
      const eps: Dict[] = [];
      for (const e of Array.isArray(s.endpoints) ? (s.endpoints as Dict[]) : []) {
        const ek = endpointKey(e);
        const d = want.get(ek);
        if (d) {
          eps.push(d);
          want.delete(ek);
        }
      }
      if (eps.length === 0) emptied.push({ obj: s, key: k });
      else kept.push({ obj: s, key: k, endpoints: eps });
    }
    const toCreate: { ports: Dict[]; endpoints: Dict[] }[] = [];
    for (const [k, want] of remaining) {
      const left = [...want.values()];
      for (const ks of kept) {
        if (ks.key !== k) continue;
        while (left.length && ks.endpoints.length < this.maxPerSlice) ks.endpoints.push(left.shift()!);
      }
      // A slice emptied above is reused rather than deleted and created anew
      // (a replaced pod keeps its slice name).
      for (let i = 0; i < emptied.length && left.length; ) {
        if (emptied[i].key !== k) {
          i++;
          continue;
        }
        kept.push({ ...emptied.splice(i, 1)[0], endpoints: left.splice(0, this.maxPerSlice) });
      }
      while (left.length) toCreate.push({ ports: desired.get(k)!.ports, endpoints: left.splice(0, this.maxPerSlice) });
    }
    toDelete.push(...emptied.map((e) => e.obj));
    if (placeholder && kept.length === 0 && toCreate.length === 0) {
      // A Service with nothing to list still gets one empty slice, so that
      // consumers can tell "no endpoints" from "not synced yet".
      const ph = toDelete.findIndex((s) => Array.isArray(s.endpoints) && s.endpoints.length === 0 && Array.isArray(s.ports) && s.ports.length === 0);
      if (ph >= 0) kept.push({ obj: toDelete.splice(ph, 1)[0], key: portsKey([]), endpoints: [] });
      else toCreate.push({ ports: [], endpoints: [] });
    }
    for (const s of toDelete) this.store.delete('EndpointSlice', namespace, objName(s));
    const mkMeta = (name: string): Dict => ({
      name,
      namespace,
      labels: { ...labels },
      ...(Object.keys(annotations).length ? { annotations: { ...annotations } } : {}),
      ownerReferences: [{ ...owner }],
    });
    for (const ks of kept) {
      const m = meta(ks.obj);
      const want: Obj = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { ...m, ...mkMeta(objName(ks.obj)) },
        addressType: 'IPv4',
        endpoints: ks.endpoints,
        ports: ks.obj.ports ?? [],
      };
      delete (want.metadata as Dict).resourceVersion;
      if (same(ks.obj.endpoints, want.endpoints) && same(m.labels, labels) && same(m.annotations ?? {}, annotations) && same(m.ownerReferences, [owner]))
        continue;
      this.store.update(want);
    }
    for (const c of toCreate) {
      this.store.create({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: mkMeta(this.sliceName(namespace, service)),
        addressType: 'IPv4',
        endpoints: c.endpoints,
        ports: c.ports,
      });
    }
  }

  /** generateName `<service>-` plus 5 random characters, redrawn on a clash (the apiserver would refuse it). */
  private sliceName(namespace: string, service: string): string {
    // Prefix cut so that the name stays within 63 characters.
    const prefix = `${service}-`.slice(0, 58);
    for (;;) {
      let s = prefix;
      for (let i = 0; i < 5; i++) s += NAME_ALPHABET[this.opts.rand(NAME_ALPHABET.length)];
      if (!this.store.get('EndpointSlice', namespace, s)) return s;
    }
  }
}
