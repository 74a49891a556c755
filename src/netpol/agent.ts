/**
 * kube-router's network policy controller on one node (iptables flavour):
 * `KubeRouterNetpol`. It watches Pods, Namespaces and NetworkPolicies (and
 * podwire's AdminNetworkPolicy / BaselineAdminNetworkPolicy tiers) in the
 * `ObjectStore` and, on each full sync, programs the node's host namespace
 * with the rules render.ts describes.
 *
 *  - Start-up (Run): the top-level chains and their jumps from INPUT, FORWARD
 *    and OUTPUT (`-I … 1`, comment `kube-router netpol - UUID`), and the chains
 *    KUBE-NWPLCY-DEFAULT, -COMMON and -TAIL, then a first full sync.
 *  - Changes: any relevant watch event calls `requestSync()`: a full sync now
 *    if the last one is at least `minSyncPeriod` old, else when it is; requests
 *    in between fold into that one (kube-router's one-slot full-sync channel,
 *    here on the virtual clock like kube-proxy's BoundedFrequencyRunner). The
 *    periodic resync (`--iptables-sync-period`, 5 min) runs when `syncPeriod` > 0.
 *  - A sync is kube-router's fullPolicySync with the version = virtual time in
 *    ns: (1) `ipset restore -exist` of every policy set through TMP sets and
 *    swaps (utils.BuildIPSetRestore: sets by name, one TMP set per options
 *    string, options of an existing set as `ipset save` prints them without
 *    initval); (2) one `iptables-restore --noflush` that rewrites
 *    KUBE-ROUTER-INPUT/FORWARD/OUTPUT, declares this version's policy, tier
 *    and pod chains with their rules, re-inserts a built-in jump that is no
 *    longer first, and deletes the previous version's chains; (3) `ipset
 *    destroy` of the KUBE-SRC-/KUBE-DST- sets no longer used. Each is logged
 *    on the node as that command. kube-router itself restores the whole filter
 *    table it saved (`iptables-save -t filter`, edited, `iptables-restore -T
 *    filter`); the --noflush restore of its own chains has the same effect on
 *    the rules (other agents' chains are left as they are) but, unlike the full
 *    restore, does not zero the other chains' counters.
 *  - Traces: each pod chain and each ANP chain carries a rule annotation
 *    (NetfilterNs.annotations): when its REJECT fires while tracing, the trace
 *    line and the drop's detail name the policies, from the reference
 *    evaluator's verdict for that packet (`denialReason` of the direction the
 *    chain judged), e.g. "y/b is isolated for ingress by y/deny-all; no rule
 *    of [y/deny-all] admits x/a:81/TCP". The evaluator is built on the first
 *    annotation after a sync (never when tracing is off).
 */
import { SyncGate } from '../engine/sync-gate.js';
import type { Node } from '../kernel/node.js';
import type { ObjectStore } from '../kube/store.js';
import { isObj, type Obj } from '../kube/object.js';
import { validateNetworkPolicy, type NetworkPolicy } from '../kube/networkpolicy.js';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy, type AdminNetworkPolicy, type BaselineAdminNetworkPolicy } from '../kube/admin-network-policy.js';
import type { Labels } from '../kube/labels.js';
import type { Protocol } from '../kube/pod.js';
import { PolicyEvaluator, type ClusterView, type DirectionVerdict } from '../kube/policy-eval.js';
import { directionDenial } from '../kube/policy-explain.js';
import { netfilterOf, type Ruleset } from '../netfilter/index.js';
import { iptablesRestore as restoreInto } from '../netfilter/restore.js';
import { ipsetRestore } from '../netfilter/ipset-text.js';
import { parseIp, SharedAddresses, type IpSet, type Ipsets } from '../netfilter/ipset.js';
import type { PacketCtx } from '../netfilter/types.js';
import { ipToString } from '../wire/bytes.js';
import * as N from './names.js';
import { actionable, builtinJump, renderLocal, renderPolicies, startupLines, type NodeRender, type NpCluster, type NpNodeConfig, type IpsetSpec, type NpPod, type PolicyRender, type Rendered } from './render.js';

export interface NetpolConfig extends NpNodeConfig {
  /** Minimum time between full syncs (ns). */
  minSyncPeriod: number;
  /** Periodic full sync (ns; kube-router's --iptables-sync-period, 5 min); 0 = none. */
  syncPeriod: number;
}

export const DEFAULT_NETPOL_CONFIG = { nodePortRange: '30000:32767', minSyncPeriod: 0, syncPeriod: 0 } as const;

const PROTO_NAME: Record<number, Protocol | undefined> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** The informers' view of the store (shared by every node's agent through `NetpolInformer`). */
export class NetpolInformer {
  private cache: NpCluster | null = null;
  private evaluator: PolicyEvaluator | null = null;
  private readonly listeners: (() => void)[] = [];
  private readonly unwatch: (() => void)[] = [];
  /** Validation problems of stored policies (skipped, as kube-router skips what it cannot convert). */
  readonly problems: string[] = [];

  constructor(readonly store: ObjectStore) {
    for (const kind of ['Pod', 'Namespace', 'NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy', 'Node'])
      this.unwatch.push(store.watch(kind, (ev) => {
        if (kind === 'Pod' && ev.type === 'MODIFIED' && ev.old && !podChangeRelevant(ev.old, ev.object)) return;
        this.cache = null;
        this.evaluator = null;
        for (const l of this.listeners) l();
      }));
  }

  onChange(fn: () => void): void { this.listeners.push(fn); }

  /** The node-independent renderings of the current view at `renders.version` (see `policies`). */
  private renders: { cluster: NpCluster; version: string; list: PolicyRender[] } | null = null;

  /**
   * The node-independent part of a sync at `version` (render.ts `renderPolicies`), made
   * once for every node whose ipsets answer `existingType` as the rendering asked it:
   * at a cluster's start every node syncs at one instant with no sets yet, and one
   * rendering serves them all.
   */
  policies(version: string, existingType: (name: string) => 'hash:ip' | 'hash:net' | undefined, noSets = false): PolicyRender {
    const c = this.cluster();
    if (this.renders === null || this.renders.cluster !== c || this.renders.version !== version) this.renders = { cluster: c, version, list: [] };
    for (const pr of this.renders.list) {
      // A node with no sets answers every question `undefined`: no need to ask it.
      if (noSets ? unasked(pr) : pr.typeQueries.every(([name, t]) => existingType(name) === t)) return pr;
    }
    const pr = renderPolicies(c, version, existingType);
    this.renders.list.push(pr);
    return pr;
  }

  stop(): void { for (const u of this.unwatch) u(); }

  cluster(): NpCluster {
    if (this.cache) return this.cache;
    const s = this.store;
    const namespaces = new Map<string, Labels>();
    for (const o of s.list('Namespace')) namespaces.set(meta(o).name as string, (meta(o).labels as Labels | undefined) ?? {});
    const pods: NpPod[] = s.list('Pod').map(podOf);
    const nodes = s.list('Node').map((o) => {
      const st = isObj(o.status) ? o.status : {};
      const ips = (Array.isArray(st.addresses) ? st.addresses : []).filter((a): a is Obj => isObj(a) && typeof a.address === 'string' && (a.type === 'InternalIP' || a.type === 'ExternalIP')).map((a) => a.address as string);
      return { name: meta(o).name as string, ips, labels: (meta(o).labels as Labels | undefined) ?? {} };
    });
    this.problems.length = 0;
    const policies: NetworkPolicy[] = [];
    for (const o of s.list('NetworkPolicy')) {
      const v = validateNetworkPolicy(o);
      if (v.value) policies.push(v.value);
      else this.problems.push(`NetworkPolicy ${String(meta(o).namespace)}/${String(meta(o).name)} is invalid`);
    }
    const anps: AdminNetworkPolicy[] = [];
    for (const o of s.list('AdminNetworkPolicy')) {
      const v = validateAdminNetworkPolicy(o);
      if (v.value) anps.push(v.value);
      else this.problems.push(`AdminNetworkPolicy ${String(meta(o).name)} is invalid`);
    }
    let banp: BaselineAdminNetworkPolicy | undefined;
    for (const o of s.list('BaselineAdminNetworkPolicy')) {
      const v = validateBaselineAdminNetworkPolicy(o);
      if (v.value) banp = v.value;
    }
    this.cache = { namespaces, pods, nodes, policies, anps, ...(banp ? { banp } : {}) };
    return this.cache;
  }

  /** The reference evaluator on the same view (for trace annotations). */
  evaluatorFor(): PolicyEvaluator {
    if (this.evaluator) return this.evaluator;
    const c = this.cluster();
    const view: ClusterView = {
      namespaces: [...new Set([...c.namespaces.keys(), ...c.pods.map((p) => p.namespace)])].map((name) => ({ name, labels: { ...(c.namespaces.get(name) ?? {}), 'kubernetes.io/metadata.name': name } })),
      pods: c.pods.filter((p) => p.ip !== '' && !p.finished).map((p) => ({ namespace: p.namespace, name: p.name, labels: p.labels, ip: p.ip, node: p.nodeName, hostNetwork: p.hostNetwork, ports: p.ports })),
      nodes: c.nodes.filter((n) => n.ips.length).map((n) => ({ name: n.name, ips: n.ips, labels: n.labels })),
    };
    this.evaluator = new PolicyEvaluator(view, { networkPolicies: c.policies, adminNetworkPolicies: c.anps, ...(c.banp ? { baselineAdminNetworkPolicy: c.banp } : {}) });
    return this.evaluator;
  }
}

/** Per rendering: whether every type question it asked was answered `undefined` (no such set). */
const allUnset = new WeakMap<PolicyRender, boolean>();
function unasked(pr: PolicyRender): boolean {
  let v = allUnset.get(pr);
  if (v === undefined) allUnset.set(pr, (v = pr.typeQueries.every(([, t]) => t === undefined)));
  return v;
}

function meta(o: Obj): Obj { return isObj(o.metadata) ? o.metadata : {}; }

function podOf(o: Obj): NpPod {
  const m = meta(o);
  const spec = isObj(o.spec) ? o.spec : {};
  const st = isObj(o.status) ? o.status : {};
  const ports: NpPod['ports'][number][] = [];
  for (const c of Array.isArray(spec.containers) ? spec.containers : []) {
    if (!isObj(c) || !Array.isArray(c.ports)) continue;
    for (const p of c.ports) {
      if (!isObj(p) || typeof p.containerPort !== 'number') continue;
      ports.push({ ...(typeof p.name === 'string' ? { name: p.name } : {}), containerPort: p.containerPort, protocol: (typeof p.protocol === 'string' ? p.protocol : 'TCP') as Protocol });
    }
  }
  const phase = st.phase;
  return {
    namespace: (m.namespace as string | undefined) ?? 'default',
    name: m.name as string,
    labels: (m.labels as Labels | undefined) ?? {},
    ip: typeof st.podIP === 'string' ? st.podIP : '',
    hostIP: typeof st.hostIP === 'string' ? st.hostIP : '',
    nodeName: typeof spec.nodeName === 'string' ? spec.nodeName : '',
    hostNetwork: spec.hostNetwork === true,
    finished: phase === 'Succeeded' || phase === 'Failed' || phase === 'Completed',
    ports,
    serviceAccountName: typeof spec.serviceAccountName === 'string' && spec.serviceAccountName !== '' ? spec.serviceAccountName : 'default',
  };
}

/** isPodUpdateNetPolRelevant: phase, IPs, host IP, labels. */
function podChangeRelevant(a: Obj, b: Obj): boolean {
  const sa = isObj(a.status) ? a.status : {}, sb = isObj(b.status) ? b.status : {};
  return sa.phase !== sb.phase || sa.podIP !== sb.podIP || JSON.stringify(sa.podIPs) !== JSON.stringify(sb.podIPs) || sa.hostIP !== sb.hostIP
    || JSON.stringify(meta(a).labels ?? {}) !== JSON.stringify(meta(b).labels ?? {});
}

export class KubeRouterNetpol {
  /** Coalesced, minSyncPeriod-spaced syncs (engine/sync-gate.ts). */
  private readonly gate: SyncGate;
  /** The last sync's rendering, whose chains the next sync deletes. */
  private prev: NodeRender | null = null;
  /** The last sync's rendering (tests and traces). */
  last: NodeRender | null = null;
  syncs = 0;

  constructor(readonly node: Node, readonly cfg: NetpolConfig, readonly informer: NetpolInformer) {
    this.gate = new SyncGate(node.world.sched, () => this.cfg.minSyncPeriod, () => this.sync());
    informer.onChange(() => this.requestSync());
  }

  start(): void {
    this.gate.start();
    this.sync();
    if (this.cfg.syncPeriod > 0) this.periodic();
  }

  stop(): void { this.gate.stop(); }

  private periodic(): void {
    this.node.world.sched.after(this.cfg.syncPeriod, () => {
      if (!this.gate.running) return;
      this.requestSync();
      this.periodic();
    });
  }

  requestSync(): void { this.gate.request(); }

  /**
   * One full sync. What it decides (the rendering, the chains and sets it
   * removes, the PRNG draws of the sets it creates, the commands in the
   * node's log, the trace annotations) is done now; applying it to the node's
   * ipsets and rules — ipset restore, iptables-restore, ipset destroy, the
   * bulk of the work — is deferred (`Ruleset.defer`, `Ipsets.deferUntilUsed`)
   * to when anything first reads them: a packet, `iptables-save`, `ipset
   * save`, the next sync, the log's text. The effect is the one of applying
   * it now; a node nothing looks at costs the decisions only.
   */
  sync(): void {
    const node = this.node, world = node.world;
    const first = this.syncs === 0;
    this.gate.synced();
    this.syncs++;
    const version = String(world.now);
    const st = netfilterOf(node.host);
    const sets = st.nf.ipsets;
    // The previous sync's deferred work first: this one starts from its result.
    sets.settle();
    const existingType = (name: string) => {
      const s = sets.get(name);
      return s && (s.type === 'hash:ip' || s.type === 'hash:net') ? s.type : undefined;
    };
    // The node's sets now (kube-router's ipset handler's view); nothing below changes them before the deferred restore.
    const nodeSets = sets.list();
    const r = renderLocal(this.informer.policies(version, existingType, nodeSets.length === 0), this.cfg);
    this.last = r;

    // (1) ipset restore -exist (BuildIPSetRestore): the options of each existing set and which sets it creates, known now.
    const options = new Map<string, string>();
    for (const s of nodeSets) if (r.sets.has(s.name)) options.set(s.name, existingOptions(s));
    const restoresSets = r.sets.size > 0;
    if (restoresSets) {
      sets.predraw(setsCreated(r.sets, options, nodeSets));
      node.logCommand('host', () => `ipset restore -exist <<'EOF'\n${ipsetRestoreText(r, (name) => options.get(name))}EOF`);
    }

    // (2) iptables-restore --noflush of kube-router's chains (logged now; its text needs the rules as they are then).
    const stale = this.prev === null ? [] : staleChains(this.prev, r);
    this.prev = r;
    let builtinFix: string[] | null = null;
    node.logCommand('host', () => {
      st.rules.settle();
      return `iptables-restore --noflush <<'EOF'\n${restoreText(r, first, stale, builtinFix!)}EOF`;
    });

    // (3) cleanupStaleIPSets: the KUBE-SRC-/KUBE-DST- sets this sync does not refresh.
    const gone = nodeSets.map((s) => s.name).filter((n) => (n.startsWith(N.SRC_PREFIX) || n.startsWith(N.DST_PREFIX)) && !r.sets.has(n)).sort();
    if (gone.length) node.logCommand('host', () => gone.map((n) => `ipset destroy ${n}`));

    st.rules.defer((rs) => {
      if (restoresSets) {
        try { applyIpsetRestore(sets, r, options); } catch (e) { throw new Error(`${node.name}: ${(e as Error).message}`); }
        if (sets.predrawnLeft !== 0) throw new Error(`kube-router sync: ${sets.predrawnLeft} predrawn ipset initvals unused`);
      }
      builtinFix = builtinJumpFix(rs);
      restoreInto(rs, restoreText(r, first, stale, builtinFix), { noflush: true, ipsets: sets });
      if (gone.length) ipsetRestore(sets, gone.map((n) => `destroy ${n}\n`).join(''), { file: '<kube-router ipset destroy>' });
    });
    sets.deferUntilUsed(() => st.rules.settle());

    // Trace annotations for the REJECTs.
    for (const c of stale) st.nf.annotations.delete(c);
    for (const a of r.policy.annotated) {
      const dir = a.dir!;
      st.nf.annotations.set(a.chain, (p) => this.explain(p, dir));
    }
    for (const { chain, pod } of r.podChains) {
      const podIp = pod.ip;
      st.nf.annotations.set(chain, (p) => this.explain(p, p.saddr === ipNum(podIp) ? 'egress' : 'ingress'));
    }
    if (world.trace.on)
      world.event(node.name, 'host', '', null, 'netpol.sync', `kube-router full sync version ${version}: ${r.podChains.length} pod chains, ${r.policy.chains.length} policy/tier chains, ${r.sets.size} ipsets; ${stale.length} chains and ${gone.length} ipsets removed`);
  }

  /** The reference evaluator's reason for a denied packet, for the direction the chain judged. */
  private explain(p: PacketCtx, dir: 'ingress' | 'egress'): string | undefined {
    const proto = PROTO_NAME[p.proto];
    const ev = this.informer.evaluatorFor();
    const src = ipToString(p.saddr), dst = ipToString(p.daddr);
    if (!proto) return `${src} → ${dst} protocol ${p.proto}: no NetworkPolicy port matches it`;
    const v = ev.verdict({ kind: 'ip', ip: src }, { kind: 'ip', ip: dst }, p.dport, proto);
    const d: DirectionVerdict = dir === 'egress' ? v.egress : v.ingress;
    const why = directionDenial(d, v);
    if (why) return why;
    if (d.allowed) return `policy rules and the reference evaluator disagree: the evaluator allows ${dir} ${v.from} -> ${v.to} ${v.port}/${v.protocol}`;
    return undefined;
  }
}

function ipNum(s: string): number {
  const [a, b, c, d] = s.split('.').map(Number);
  return (((a << 24) | (b << 16) | (c << 8) | d) >>> 0);
}

/** `ipset save`'s options of an existing set without initval, as kube-router's handler keeps them. */
function existingOptions(s: IpSet): string {
  // The first line of `ipset save NAME` (`create NAME TYPE HEADER`) after the name; its entries are not needed.
  const parts = `${s.type} ${s.header()}`.split(' ');
  const i = parts.indexOf('initval');
  if (i >= 0) parts.splice(i, 2);
  return parts.join(' ');
}

/** Per rendered set map: how many of its sets have each type (the options of the sets a node does not have yet). */
const typeCounts = new WeakMap<ReadonlyMap<string, IpsetSpec>, Map<string, number>>();

/**
 * How many sets the ipset restore of `sets` creates (each draws an initval): the TMP sets (one per
 * options string: an existing set's own options, `TYPE timeout 0` for a new one) that do not exist,
 * and the sets that do not exist yet (those without `options`). O(the node's sets).
 */
function setsCreated(sets: ReadonlyMap<string, IpsetSpec>, options: ReadonlyMap<string, string>, nodeSets: readonly IpSet[]): number {
  let counts = typeCounts.get(sets);
  if (!counts) {
    counts = new Map();
    for (const s of sets.values()) counts.set(s.type, (counts.get(s.type) ?? 0) + 1);
    typeCounts.set(sets, counts);
  }
  const tmps = new Set<string>(options.values());
  const newOfType = new Map(counts);
  for (const name of options.keys()) { const t = sets.get(name)!.type; newOfType.set(t, newOfType.get(t)! - 1); }
  for (const [t, n] of newOfType) if (n > 0) tmps.add(`${t} timeout 0`);
  const names = new Set(nodeSets.map((s) => s.name));
  let n = sets.size - options.size;
  for (const o of tmps) if (!names.has(N.tmpSetName(o))) n++;
  return n;
}

/** The chains of `prev` that `r` does not declare (deleted by r's restore). */
function staleChains(prev: NodeRender, r: NodeRender): string[] {
  const declared = new Set(r.chains);
  return prev.chains.filter((c) => !declared.has(c));
}

/** ensureTopLevelChains: the lines putting kube-router's jump first in INPUT, FORWARD and OUTPUT where it is not. */
function builtinJumpFix(rs: Ruleset): string[] {
  const out: string[] = [];
  const filter = rs.tables.filter;
  for (const b of ['INPUT', 'FORWARD', 'OUTPUT'] as const) {
    const j = builtinJump(b);
    const rules = filter.chains.get(b)?.rules ?? [];
    const at = rules.findIndex((x) => x.target?.name === j.target && x.matches.some((m) => m.save().includes(j.comment)));
    if (at === 0) continue;
    out.push(`-I ${b} 1 ${j.args}`);
    if (at > 0) out.push(`-D ${b} ${at + 2}`);
  }
  return out;
}

/** The sync's iptables-restore --noflush input: top-level chains rewritten, this version's chains declared, the stale ones deleted. */
function restoreText(r: Rendered, first: boolean, stale: readonly string[], builtinFix: readonly string[]): string {
  const lines = ['*filter'];
  for (const c of [N.CH.INPUT, N.CH.FORWARD, N.CH.OUTPUT]) lines.push(`:${c} - [0:0]`);
  if (first) for (const c of [N.CH.DEFAULT, N.CH.COMMON, N.CH.TAIL]) lines.push(`:${c} - [0:0]`);
  for (const c of r.chains) lines.push(`:${c} - [0:0]`);
  for (const c of stale) lines.push(`:${c} - [0:0]`);
  if (first) lines.push(...startupLines());
  lines.push(...builtinFix);
  lines.push(...r.lines);
  for (const c of stale) lines.push(`-X ${c}`);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}

/**
 * Applies what `ipsetRestoreText(r, options)` would restore with `ipset restore -exist`,
 * line for line the same commands, except that a hash:ip set's adds of plain addresses
 * (`ADDR timeout 0`) go in as one `Ipsets.addShared` of addresses parsed once per
 * rendered set for every node (SharedAddresses): a node's table is filled only when
 * something needs it, and membership tests read the shared addresses.
 */
function applyIpsetRestore(sets: Ipsets, r: Rendered, options: ReadonlyMap<string, string>): void {
  const file = '<kube-router ipset restore>';
  const tmp = new Map<string, string>();
  for (const name of [...r.sets.keys()].sort()) {
    const spec = r.sets.get(name)!;
    const opts = options.get(name) ?? `${spec.type} timeout 0`;
    let t = tmp.get(opts);
    let text = '';
    if (!t) {
      t = N.tmpSetName(opts);
      text += `create ${t} ${opts}\nflush ${t}\n`;
      tmp.set(opts, t);
    }
    try {
      const shared = opts.startsWith('hash:ip ') && / timeout \d+/.test(` ${opts}`) ? sharedAddressesOf(spec) : null;
      if (shared) {
        if (text) ipsetRestore(sets, text, { exist: true, file });
        sets.addShared(t, shared);
        text = '';
      } else for (const e of spec.entries) text += `add ${t} ${e.join(' ')}\n`;
      text += `create ${name} ${opts}\nswap ${t} ${name}\nflush ${t}\n`;
      ipsetRestore(sets, text, { exist: true, file });
    } catch (e) {
      // kube-router logs the failed restore and aborts the sync; podwire does not model that sync.
      throw new Error(`kube-router's ipset restore fails at ${name} (${spec.entries.length} entries, options ${opts}): ${(e as Error).message}`);
    }
  }
  const destroy = [...tmp.values()].sort().map((t) => `destroy ${t}\n`).join('');
  if (destroy) ipsetRestore(sets, destroy, { exist: true, file });
}

/** Per entry list (renderings share one list between the sets with the same members): its shared addresses. */
const sharedAddresses = new WeakMap<readonly (readonly string[])[], SharedAddresses | null>();

/** The set's entries as shared addresses when each is a plain `ADDR timeout 0`, else null. */
function sharedAddressesOf(spec: IpsetSpec): SharedAddresses | null {
  let a = sharedAddresses.get(spec.entries);
  if (a !== undefined) return a;
  const ips: number[] = [];
  for (const e of spec.entries) {
    const ip = e.length === 3 && e[1] === 'timeout' && e[2] === '0' ? parseIp(e[0]!) : -1;
    if (ip < 0) { ips.length = 0; break; }
    ips.push(ip);
  }
  a = ips.length === spec.entries.length && ips.length > 0 ? new SharedAddresses(ips) : null;
  sharedAddresses.set(spec.entries, a);
  return a;
}

/** utils.BuildIPSetRestore over the sync's sets (sorted by name; a TMP set per options string). */
export function ipsetRestoreText(r: Rendered, existing: (name: string) => string | undefined): string {
  const names = [...r.sets.keys()].sort();
  const tmp = new Map<string, string>();
  let out = '';
  for (const name of names) {
    const s = r.sets.get(name)!;
    const opts = existing(name) ?? `${s.type} timeout 0`;
    let t = tmp.get(opts);
    if (!t) {
      t = N.tmpSetName(opts);
      out += `create ${t} ${opts}\nflush ${t}\n`;
      tmp.set(opts, t);
    }
    for (const e of s.entries) out += `add ${t} ${e.join(' ')}\n`;
    out += `create ${name} ${opts}\nswap ${t} ${name}\nflush ${t}\n`;
  }
  for (const t of [...tmp.values()].sort()) out += `destroy ${t}\n`;
  return out;
}

/** Starts kube-router's network policy controller on `node`. */
export function startNetpol(node: Node, informer: NetpolInformer, cfg: Partial<NetpolConfig> & Pick<NetpolConfig, 'nodeName' | 'nodeIPs' | 'serviceCIDRs'>): KubeRouterNetpol {
  const a = new KubeRouterNetpol(node, { ...DEFAULT_NETPOL_CONFIG, ...cfg }, informer);
  a.start();
  return a;
}

export { actionable };
