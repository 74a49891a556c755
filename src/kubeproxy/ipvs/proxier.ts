/**
 * IpvsProxier: kube-proxy's ipvs proxier (pkg/proxy/ipvs/proxier.go, the modern one with
 * KUBE-IPVS-FILTER / KUBE-IPVS-OUT-FILTER / KUBE-IPVS-IPS; graceful_termination.go) for one
 * node, over the same cluster-wide service/endpoint state as the iptables proxier
 * (SharedProxyCache: its service ports, endpoints and change log).
 *
 * One sync does what one syncProxyRules does, in its order:
 *  1. (first sync) the dummy device kube-ipvs0 (`ip link add … type dummy`, left DOWN) and
 *     the ipsets (`ipset create … -exist` for every set of ipsetInfo);
 *  2. per service port: a virtual server for the ClusterIP (address bound to kube-ipvs0),
 *     each externalIP and LoadBalancer VIP (bound unless the address is already on another
 *     interface), and for a NodePort one per node address (every local address not on
 *     kube-ipvs0, loopback excluded; or those matching --nodeport-addresses) — scheduler
 *     from the configuration, ClientIP affinity as PERSISTENT + timeout, `mh` with SCHED2
 *     (FlagSourceHash); real servers weight 1, masq. Endpoints: clusterEndpoints, or
 *     localEndpoints for iTP=Local (ClusterIP) / eTP=Local (the others) — falling back to
 *     clusterEndpoints when there are no local ones (PR 97081; the iptables proxier drops);
 *     the ipset entries of §4.2 for the sets;
 *  3. `ipset` adds/dels of the entries that changed (one `ipset restore` here; kube-proxy
 *     runs `ipset add … -exist` / `ipset del …` per entry);
 *  4. one `iptables-restore --noflush --counters` of rules.ts's text (first sync: the jumps
 *     prepended to the built-in chains before it, as EnsureRule does);
 *  5. addresses no longer used unbound from kube-ipvs0 (`ip addr del`);
 *  6. virtual servers no longer used deleted (cleanLegacyService).
 * Removed real servers go through GracefulTerminationManager: deleted at once when they
 * have no connections (or the service is UDP/SCTP: IsRsGracefulTerminationNeeded), else
 * set to weight 0 and kept on a list that is checked every rsCheckDeleteInterval (1 min)
 * and deleted when ActiveConn+InactiveConn reaches 0. A real server that comes back while
 * on the list is deleted and added again (MoveRSOutofGracefulDeleteList).
 *
 * Partial syncs: kube-proxy recomputes every service port on each sync and asks the kernel
 * for each; podwire recomputes only the service ports changed since the last sync (the
 * cache's change log) and diffs against what it applied — the same kernel changes, in the
 * same order for those service ports. A change of the node's addresses (NodePort virtual
 * servers) or the first sync recomputes all.
 *
 * Departures: service order is podwire's sorted order (kube-proxy walks a Go map), real
 * servers are added in endpoint-string order (a Go set's UnsortedList), node addresses in
 * numeric order; ipset changes are one `ipset restore` instead of one command per entry.
 */
import type { Node } from '../../kernel/node.js';
import { NetlinkError } from '../../kernel/netlink.js';
import type { Netns } from '../../kernel/netns.js';
import { ipToString } from '../../wire/bytes.js';
import { ipvsOf, IpvsError, type Ipvs, type IpvsProtocol, type IpvsServiceKey, type IpvsServiceOpts } from '../../ipvs/index.js';
import { iptablesRestore, netfilterOf } from '../../netfilter/index.js';
import { ipsetRestore } from '../../netfilter/ipset-text.js';
import type { EndpointInfo, ProxierConfig, ServicePortInfo } from '../model.js';
import { servicePortName } from '../model.js';
import { categorize, cidrContains, cidrString, sortEndpoints } from '../iptables/build.js';
import type { SharedProxyCache, SpState } from '../iptables/cache.js';
import { endpointString, protoLower } from '../names.js';
import {
  IPSET_INFO, createLine, ipPortEntry, ipPortIpEntry, ipPortNetEntry,
  KUBE_CLUSTER_IP, KUBE_EXTERNAL_IP, KUBE_EXTERNAL_IP_LOCAL, KUBE_HEALTH_CHECK_NODE_PORT, KUBE_IPVS_IPS, KUBE_LOAD_BALANCER,
  KUBE_LOAD_BALANCER_FW, KUBE_LOAD_BALANCER_LOCAL, KUBE_LOAD_BALANCER_SOURCE_CIDR, KUBE_LOAD_BALANCER_SOURCE_IP, KUBE_LOOP_BACK,
  KUBE_NODE_PORT_LOCAL_SCTP, KUBE_NODE_PORT_LOCAL_TCP, KUBE_NODE_PORT_LOCAL_UDP, KUBE_NODE_PORT_SCTP, KUBE_NODE_PORT_TCP, KUBE_NODE_PORT_UDP,
} from './sets.js';
import { IPVS_FILTER_CHAINS, IPVS_NAT_CHAINS, ipvsJumpLines, ipvsRestoreText, type NoNodeAccess } from './rules.js';

/** kube-proxy's defaultDummyDevice. */
export const DUMMY_DEVICE = 'kube-ipvs0';
/** graceful_termination.go rsCheckDeleteInterval. */
export const RS_CHECK_DELETE_INTERVAL = 60e9;
/** The schedulers `ipvsadm -s` knows (kube-proxy passes the name through). */
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'] as const;
export type IpvsScheduler = (typeof IPVS_SCHEDULERS)[number];

/** utilipvs FlagPersistent / FlagSourceHash (IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED2). */
export const FLAG_PERSISTENT = 0x1;
export const FLAG_SOURCE_HASH = 0x10;

export interface IpvsProxierConfig extends ProxierConfig {
  /** --ipvs-scheduler (default rr). */
  scheduler: IpvsScheduler;
}

/** One wanted virtual server. `id` is VirtualServer.String(): `addr:port/PROTO`. */
export interface VsWant {
  id: string;
  key: { protocol: IpvsProtocol; addr: number; port: number };
  opts: IpvsServiceOpts;
  bind: boolean;
  /** Real servers, in the order they are added (endpoint string order). */
  dests: { addr: number; port: number; id: string }[];
}

/** What one service port wants on this node. */
interface SpWant {
  vs: VsWant[];
  /** [set, entry] pairs (a set may get the same entry from several service ports). */
  entries: [string, string][];
  noNodeAccess: NoNodeAccess[];
}

interface Applied { key: VsWant['key']; opts: IpvsServiceOpts; dests: Map<string, { addr: number; port: number }>; owners: number }

interface GraceItem { vsId: string; key: VsWant['key']; addr: number; port: number; id: string }

export interface IpvsSyncResult {
  full: boolean;
  changed: number;
  servicesAdded: number;
  servicesDeleted: number;
  destsAdded: number;
  destsDeleted: number;
  destsQuiesced: number;
  entriesAdded: number;
  entriesDeleted: number;
  /** The iptables-restore text of this sync. */
  restoreText: string;
}

const vsId = (addr: number, port: number, proto: string): string => `${ipToString(addr)}:${port}/${proto}`;

export class IpvsProxier {
  readonly ipvs: Ipvs;
  private readonly ns: Netns;
  private lastGen = -1;
  private first = true;
  private nodeIPsKey = '';
  private nodeIPs: number[] = [];
  private nodeAddrSet = new Set<number>();
  private readonly wants = new Map<string, SpWant>();
  /** Virtual servers applied to the kernel, by id. */
  private readonly applied = new Map<string, Applied>();
  /** Entry reference counts per set (what the set holds). */
  private readonly setCounts = new Map<string, Map<string, number>>();
  /** Addresses bound to kube-ipvs0 → number of virtual servers binding them. */
  private readonly bound = new Map<number, number>();
  private readonly noNodeAccess = new Map<string, NoNodeAccess[]>();
  /** The graceful termination list (uniqueRS = vs id + "/" + ip:port). */
  readonly graceful = new Map<string, GraceItem>();
  private graceTimer = false;
  private readonly started: number;
  /** Entries touched in this sync: set → entry → whether the set held it before. */
  private readonly touched = new Map<string, Map<string, boolean>>();

  constructor(readonly node: Node, readonly cfg: IpvsProxierConfig, readonly cache: SharedProxyCache) {
    this.ns = node.host;
    this.ipvs = ipvsOf(node, 'host');
    for (const s of IPSET_INFO) this.setCounts.set(s.name, new Map());
    this.started = node.world.now;
  }

  /** Entries per set now (ipset sizes). */
  setSizes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, m] of this.setCounts) out.set(k, m.size);
    return out;
  }

  /** Number of virtual servers and real servers applied. */
  counts(): { services: number; dests: number; bound: number } {
    let dests = 0;
    for (const a of this.applied.values()) dests += a.dests.size;
    return { services: this.applied.size, dests, bound: this.bound.size };
  }

  // ---------------------------------------------------------------------------

  /** GetAllLocalAddressesExcept(kube-ipvs0), loopback excluded (isValidForSet). */
  private localAddrsExceptDummy(): number[] {
    const out = new Set<number>();
    for (const a of this.ns.addrs) {
      if (a.dev.name === DUMMY_DEVICE || (a.addr >>> 24) === 127) continue;
      out.add(a.addr);
    }
    return [...out].sort((a, b) => a - b);
  }

  private computeNodeIPs(all: number[]): number[] {
    if (!this.cfg.nodePortAddresses.length) return all;
    // GetNodeIPs: addresses matching the CIDRs, loopback excluded.
    return all.filter((ip) => this.cfg.nodePortAddresses.some((c) => cidrContains(c, ip)));
  }

  /** What one service port wants (proxier.go's loop body for it). */
  private want(sp: ServicePortInfo, rawEps: readonly EndpointInfo[] | undefined): SpWant {
    const cfg = this.cfg;
    const proto = protoLower(sp.protocol);
    const eps = rawEps ? sortEndpoints(rawEps, cfg.nodeName) : [];
    const entries: [string, string][] = [];
    const vs: VsWant[] = [];
    const noNode: NoNodeAccess[] = [];
    // Hairpin: every local endpoint (whatever its readiness).
    for (const e of eps) if (e.nodeName !== undefined && e.nodeName === cfg.nodeName) entries.push([KUBE_LOOP_BACK, ipPortIpEntry(e.ip, proto, e.port, e.ip)]);
    const c = categorize(sp, eps, cfg.nodeName);
    const pick = (onlyLocal: boolean): EndpointInfo[] => (onlyLocal ? (c.local.length ? c.local : c.cluster) : c.cluster);
    const opts: IpvsServiceOpts = { scheduler: cfg.scheduler };
    let flags = 0;
    if (sp.affinitySeconds > 0) { flags |= FLAG_PERSISTENT; opts.timeout = sp.affinitySeconds; }
    if (cfg.scheduler === 'mh') flags |= FLAG_SOURCE_HASH;
    if (flags) opts.flags = flags;
    const mk = (addr: number, port: number, bind: boolean, onlyLocal: boolean): VsWant => {
      const picked = pick(onlyLocal);
      const dests = picked.map((e) => ({ addr: e.ip, port: e.port, id: endpointString(e.ip, e.port) }));
      dests.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { id: vsId(addr, port, sp.protocol), key: { protocol: sp.protocol, addr, port }, opts, bind, dests };
    };
    const ext = sp.externalPolicyLocal;
    entries.push([KUBE_CLUSTER_IP, ipPortEntry(sp.clusterIP!, proto, sp.port)]);
    vs.push(mk(sp.clusterIP!, sp.port, true, sp.internalPolicyLocal));
    for (const ip of sp.externalIPs) {
      entries.push([ext ? KUBE_EXTERNAL_IP_LOCAL : KUBE_EXTERNAL_IP, ipPortEntry(ip, proto, sp.port)]);
      vs.push(mk(ip, sp.port, !this.nodeAddrSet.has(ip), ext));
    }
    for (const ip of sp.loadBalancerIPs) {
      const entry = ipPortEntry(ip, proto, sp.port);
      entries.push([KUBE_LOAD_BALANCER, entry]);
      if (ext) entries.push([KUBE_LOAD_BALANCER_LOCAL, entry]);
      if (sp.loadBalancerSourceRanges.length) {
        entries.push([KUBE_LOAD_BALANCER_FW, entry]);
        let allowFromNode = false;
        for (const r of sp.loadBalancerSourceRanges) {
          entries.push([KUBE_LOAD_BALANCER_SOURCE_CIDR, ipPortNetEntry(ip, proto, sp.port, cidrString(r))]);
          if (cfg.nodeIPs[0] !== undefined && cidrContains(r, cfg.nodeIPs[0])) allowFromNode = true;
        }
        if (allowFromNode) entries.push([KUBE_LOAD_BALANCER_SOURCE_IP, ipPortIpEntry(ip, proto, sp.port, ip)]);
        else noNode.push({ ip: ipToString(ip), proto, port: sp.port });
      }
      vs.push(mk(ip, sp.port, !this.nodeAddrSet.has(ip), ext));
    }
    // No node address to put a NodePort on: kube-proxy skips the rest of this service port (`continue`).
    if (sp.nodePort !== 0 && !this.nodeIPs.length) return { vs, entries, noNodeAccess: noNode };
    if (sp.nodePort !== 0) {
      const np = String(sp.nodePort);
      if (sp.protocol === 'TCP') { entries.push([KUBE_NODE_PORT_TCP, np]); if (ext) entries.push([KUBE_NODE_PORT_LOCAL_TCP, np]); }
      else if (sp.protocol === 'UDP') { entries.push([KUBE_NODE_PORT_UDP, np]); if (ext) entries.push([KUBE_NODE_PORT_LOCAL_UDP, np]); }
      else {
        for (const ip of this.nodeIPs) {
          entries.push([KUBE_NODE_PORT_SCTP, ipPortEntry(ip, proto, sp.nodePort)]);
          if (ext) entries.push([KUBE_NODE_PORT_LOCAL_SCTP, ipPortEntry(ip, proto, sp.nodePort)]);
        }
      }
      for (const ip of this.nodeIPs) vs.push(mk(ip, sp.nodePort, false, ext));
    }
    if (sp.healthCheckNodePort !== 0) entries.push([KUBE_HEALTH_CHECK_NODE_PORT, String(sp.healthCheckNodePort)]);
    return { vs, entries, noNodeAccess: noNode };
  }

  // ---------------------------------------------------------------------------

  /** One syncProxyRules. */
  sync(): IpvsSyncResult {
    const node = this.node;
    const cache = this.cache;
    const res: IpvsSyncResult = { full: false, changed: 0, servicesAdded: 0, servicesDeleted: 0, destsAdded: 0, destsDeleted: 0, destsQuiesced: 0, entriesAdded: 0, entriesDeleted: 0, restoreText: '' };
    if (this.first) {
      if (!node.linkExists('host', DUMMY_DEVICE)) node.linkAddDummy('host', DUMMY_DEVICE);
      const text = IPSET_INFO.map(createLine).join('\n') + '\n';
      ipsetRestore(netfilterOf(this.ns).nf.ipsets, text, { file: 'kube-proxy' });
      node.logCommand('host', `ipset restore <<'EOF'\n${text}EOF`);
    }
    const all = this.localAddrsExceptDummy();
    const nodeIPs = this.computeNodeIPs(all);
    const nk = all.join(',') + '|' + nodeIPs.join(',');
    let keys: Iterable<string>;
    const since = this.first || nk !== this.nodeIPsKey ? null : cache.changedSince(this.lastGen);
    if (since === null) {
      res.full = true;
      this.nodeIPsKey = nk;
      this.nodeIPs = nodeIPs;
      this.nodeAddrSet = new Set(all);
      const ks = new Set<string>(this.wants.keys());
      for (const k of cache.services.keys()) ks.add(k);
      keys = [...ks].sort((a, b) => cmpSort(cache.services.get(a), cache.services.get(b), a, b));
    } else {
      keys = [...since].sort((a, b) => cmpSort(cache.services.get(a), cache.services.get(b), a, b));
    }
    this.lastGen = cache.gen;
    const unbindCandidates: number[] = [];
    const vsGone: string[] = [];
    for (const key of keys) {
      const st = cache.services.get(key);
      const old = this.wants.get(key);
      const nw = st ? this.want(st.sp, st.rawEps) : undefined;
      res.changed++;
      // ipset entries: new ones counted first, so an entry kept is never deleted and re-added.
      if (nw) for (const [s, e] of nw.entries) this.entryRef(s, e, +1, res);
      if (old) for (const [s, e] of old.entries) this.entryRef(s, e, -1, res);
      if (nw) {
        this.wants.set(key, nw);
        if (nw.noNodeAccess.length) this.noNodeAccess.set(key, nw.noNodeAccess); else this.noNodeAccess.delete(key);
      } else {
        this.wants.delete(key);
        this.noNodeAccess.delete(key);
      }
      // Virtual servers: sync the wanted ones, then forget the ones this port no longer wants.
      const keep = new Set<string>();
      for (const v of nw?.vs ?? []) {
        keep.add(v.id);
        const was = old?.vs.find((x) => x.id === v.id);
        this.syncService(v, was !== undefined, was?.bind ?? false, res);
        this.syncEndpoints(v, res);
      }
      for (const v of old?.vs ?? []) {
        if (keep.has(v.id)) continue;
        const a = this.applied.get(v.id);
        if (!a) continue;
        if (v.bind) { this.unref(v.key.addr, res); unbindCandidates.push(v.key.addr); }
        if (--a.owners <= 0) vsGone.push(v.id);
      }
      if (old) for (const v of old.vs) if (keep.has(v.id) && v.bind && !nw!.vs.find((x) => x.id === v.id)!.bind) { this.unref(v.key.addr, res); unbindCandidates.push(v.key.addr); }
    }
    // ipset: one restore of this sync's changes.
    const changes = this.setChanges(res);
    if (changes.length) {
      const text = changes.join('\n') + '\n';
      ipsetRestore(netfilterOf(this.ns).nf.ipsets, text, { file: 'kube-proxy' });
      if (changes.length <= 20_000) node.logCommand('host', `ipset restore <<'EOF'\n${text}EOF`);
      else node.logCommand('host', `# kube-proxy sync: ${res.entriesAdded} ipset entries added, ${res.entriesDeleted} deleted (text not kept; \`podwire save ipset\` shows the result)`);
    }
    // iptables: the same small text every sync.
    if (this.first) {
      const lines = ['*filter', ...IPVS_FILTER_DECL, ...ipvsJumpLines('filter'), 'COMMIT', '*nat', ...IPVS_NAT_DECL, ...ipvsJumpLines('nat'), 'COMMIT'];
      iptablesRestore(node, 'host', lines.join('\n') + '\n', { noflush: true });
    }
    const nna: NoNodeAccess[] = [];
    for (const k of [...this.noNodeAccess.keys()].sort((a, b) => cmpSort(cache.services.get(a), cache.services.get(b), a, b))) nna.push(...this.noNodeAccess.get(k)!);
    res.restoreText = ipvsRestoreText(this.cfg, (s) => (this.setCounts.get(s)?.size ?? 0) > 0, nna);
    iptablesRestore(node, 'host', res.restoreText, { noflush: true, counters: true });
    // Unbind addresses no virtual server binds any more.
    for (const ip of unbindCandidates) {
      if (this.bound.get(ip) === 0) {
        this.bound.delete(ip);
        try { node.addrDel('host', DUMMY_DEVICE, `${ipToString(ip)}/32`); } catch { /* already gone */ }
      }
    }
    // cleanLegacyService.
    for (const id of vsGone) {
      const a = this.applied.get(id);
      if (!a || a.owners > 0) continue;
      this.applied.delete(id);
      for (const [g, item] of this.graceful) if (item.vsId === id) this.graceful.delete(g);
      try { this.ipvs.delService(a.key); res.servicesDeleted++; } catch (e) { if (!(e instanceof IpvsError)) throw e; }
    }
    this.first = false;
    return res;
  }

  private entryRef(set: string, entry: string, d: 1 | -1, _res: IpvsSyncResult): void {
    const m = this.setCounts.get(set)!;
    let t = this.touched.get(set);
    if (!t) { t = new Map(); this.touched.set(set, t); }
    if (!t.has(entry)) t.set(entry, m.has(entry));
    const n = (m.get(entry) ?? 0) + d;
    if (n > 0) m.set(entry, n); else m.delete(entry);
  }

  /** The net ipset changes of this sync: `del` for entries gone, `add … -exist` for new ones, in set order. */
  private setChanges(res: IpvsSyncResult): string[] {
    const dels: string[] = [], adds: string[] = [];
    for (const s of IPSET_INFO) {
      const t = this.touched.get(s.name);
      if (!t) continue;
      const m = this.setCounts.get(s.name)!;
      for (const [e, before] of t) {
        const now = m.has(e);
        if (before && !now) { dels.push(`del ${s.name} ${e}`); res.entriesDeleted++; }
        else if (!before && now) { adds.push(`add ${s.name} ${e} -exist`); res.entriesAdded++; }
      }
    }
    this.touched.clear();
    return [...dels, ...adds];
  }

  private unref(ip: number, res: IpvsSyncResult): void {
    const n = (this.bound.get(ip) ?? 0) - 1;
    this.bound.set(ip, Math.max(0, n));
    if (n <= 0) this.entryRef(KUBE_IPVS_IPS, ipToString(ip), -1, res);
  }

  /** syncService: add or update the virtual server, bind its address. */
  private syncService(v: VsWant, wasOwned: boolean, wasBound: boolean, res: IpvsSyncResult): void {
    let a = this.applied.get(v.id);
    if (!a) {
      this.ipvs.addService(v.key, v.opts);
      res.servicesAdded++;
      a = { key: v.key, opts: v.opts, dests: new Map(), owners: 0 };
      this.applied.set(v.id, a);
    } else if (!sameOpts(a.opts, v.opts)) {
      this.ipvs.editService(v.key, v.opts);
      a.opts = v.opts;
    }
    if (!wasOwned) a.owners++;
    if (v.bind && !wasBound) {
      const n = this.bound.get(v.key.addr) ?? 0;
      this.bound.set(v.key.addr, n + 1);
      if (n === 0) {
        // EnsureAddressBind: an address already there (EEXIST) is fine.
        try { this.node.addrAdd('host', DUMMY_DEVICE, `${ipToString(v.key.addr)}/32`); } catch (e) { if (!(e instanceof NetlinkError) || e.code !== 'EEXIST') throw e; }
        this.entryRef(KUBE_IPVS_IPS, ipToString(v.key.addr), +1, res);
      }
    }
  }

  /** syncEndpoint: add new real servers, gracefully delete the ones no longer wanted. */
  private syncEndpoints(v: VsWant, res: IpvsSyncResult): void {
    const a = this.applied.get(v.id)!;
    const want = new Set<string>();
    for (const d of v.dests) {
      want.add(d.id);
      const uniq = `${v.id}/${d.id}`;
      if (a.dests.has(d.id)) {
        if (!this.graceful.has(uniq)) continue;
        // MoveRSOutofGracefulDeleteList, then AddRealServer.
        this.graceful.delete(uniq);
        try { this.ipvs.delDest(v.key, d.addr, d.port); } catch (e) { if (!(e instanceof IpvsError)) throw e; }
      }
      this.ipvs.addDest(v.key, { addr: d.addr, port: d.port, weight: 1 });
      a.dests.set(d.id, { addr: d.addr, port: d.port });
      res.destsAdded++;
    }
    for (const [id, d] of [...a.dests]) {
      if (want.has(id)) continue;
      const uniq = `${v.id}/${id}`;
      if (this.graceful.has(uniq)) continue;
      this.gracefulDeleteRS({ vsId: v.id, key: v.key, addr: d.addr, port: d.port, id }, a, res);
    }
  }

  /** The real server's connection counts in the kernel (GetRealServers). */
  private destConns(key: VsWant['key'], addr: number, port: number): { active: number; inact: number } | null {
    for (const s of this.ipvs.services()) {
      const k = s.key as { protocol?: string; addr?: number; port?: number };
      if (k.protocol !== key.protocol || k.addr !== key.addr || k.port !== key.port) continue;
      const d = s.dests.find((x) => x.addr === addr && x.port === port);
      return d ? { active: d.activeConns, inact: d.inactConns } : null;
    }
    return null;
  }

  /** deleteRsFunc: delete when no connections (or UDP/SCTP); true when deleted. */
  private tryDelete(item: GraceItem, a: Applied | undefined): boolean {
    const c = this.destConns(item.key, item.addr, item.port);
    if (c && item.key.protocol === 'TCP' && c.active + c.inact !== 0) return false;
    if (c) this.ipvs.delDest(item.key, item.addr, item.port);
    a?.dests.delete(item.id);
    return true;
  }

  private gracefulDeleteRS(item: GraceItem, a: Applied, res: IpvsSyncResult): void {
    if (this.tryDelete(item, a)) { res.destsDeleted++; return; }
    this.ipvs.editDest(item.key, { addr: item.addr, port: item.port, weight: 0 });
    res.destsQuiesced++;
    this.graceful.set(`${item.vsId}/${item.id}`, item);
    this.armGraceTimer();
  }

  /** wait.Until(tryDeleteRs, 1 min) since the proxier started; only armed while the list is non-empty. */
  private armGraceTimer(): void {
    if (this.graceTimer) return;
    this.graceTimer = true;
    const sched = this.node.world.sched;
    const k = Math.floor((sched.now - this.started) / RS_CHECK_DELETE_INTERVAL) + 1;
    sched.at(this.started + k * RS_CHECK_DELETE_INTERVAL, () => {
      this.graceTimer = false;
      this.tryDeleteRs();
      if (this.graceful.size) this.armGraceTimer();
    });
  }

  /** tryDeleteRs: one pass over the graceful termination list. */
  tryDeleteRs(): number {
    let n = 0;
    for (const [uniq, item] of [...this.graceful]) {
      const a = this.applied.get(item.vsId);
      if (this.tryDelete(item, a)) { this.graceful.delete(uniq); n++; }
    }
    const w = this.node.world;
    if (n && w.trace.on) w.event(this.node.name, 'host', '', null, 'kube-proxy.sync', `graceful termination: ${n} real servers deleted, ${this.graceful.size} still draining`);
    return n;
  }
}

/** EnsureChain of iptablesChains (before the jumps that name them). */
const IPVS_NAT_DECL = IPVS_NAT_CHAINS.map((c) => `:${c} - [0:0]`);
const IPVS_FILTER_DECL = IPVS_FILTER_CHAINS.map((c) => `:${c} - [0:0]`);

function sameOpts(a: IpvsServiceOpts, b: IpvsServiceOpts): boolean {
  return a.scheduler === b.scheduler && (a.flags ?? 0) === (b.flags ?? 0) && (a.timeout ?? 0) === (b.timeout ?? 0) && (a.netmask ?? 32) === (b.netmask ?? 32);
}

function cmpSort(a: SpState | undefined, b: SpState | undefined, ka: string, kb: string): number {
  const x = a?.sortKey ?? ka, y = b?.sortKey ?? kb;
  return x < y ? -1 : x > y ? 1 : 0;
}

export { servicePortName };
export type { IpvsServiceKey };
