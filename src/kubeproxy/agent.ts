/**
 * kube-proxy (iptables mode) running on one node: the part of the daemon
 * around `syncProxyRules` — when it syncs and how the result reaches the
 * node's netfilter state.
 *
 *  - Start-up: sets the sysctls the proxier sets (`route_localnet=1` when
 *    localhost NodePorts are on) and syncs at once.
 *  - Changes: `requestSync()` is the BoundedFrequencyRunner's Run(): a sync
 *    runs now if the last one is at least minSyncPeriod old, else when it is;
 *    requests in between fold into that one.
 *  - A sync writes what kube-proxy writes: one `iptables-restore --noflush`
 *    of the changed chains (the whole set on the first sync), and on the first
 *    sync the jump rules in the built-in chains (kube-proxy's EnsureRule
 *    prepends, here as `-I CHAIN 1` lines of one restore, in kube-proxy's order).
 *    Both are logged on the node as those commands (lazily rendered).
 */
import type { Node } from '../kernel/node.js';
import { iptablesRestore, netfilterOf } from '../netfilter/index.js';
import type { EndpointInfo, ProxierConfig, ServicePortInfo } from './model.js';
import { IptablesProxier, SharedProxyCache } from './iptables/index.js';
import { builtinJumpsInIssueOrder } from './iptables/build.js';
import { SyncGate } from '../engine/sync-gate.js';

/** Syncs writing more rules than this log a one-line summary instead of the restore text. */
export const LOG_TEXT_MAX_RULES = 20_000;

export interface ProxyInput {
  ports: ServicePortInfo[];
  endpoints: Map<string, EndpointInfo[]>;
}

export class KubeProxyIptables {
  readonly proxier: IptablesProxier;
  /** kube-proxy's BoundedFrequencyRunner (its minSyncPeriod half). */
  private readonly runner: SyncGate;
  private jumped = false;
  /** Syncs done (for traces and tests). */
  syncs = 0;

  constructor(
    readonly node: Node,
    readonly cfg: ProxierConfig,
    readonly minSyncPeriod: number,
    /** The cluster's one shared cache: every node's proxier reads the same per-service pieces. */
    readonly cache: SharedProxyCache,
    /** Brings the shared cache up to date with the API objects (idempotent per change). */
    private readonly refreshCache: () => void,
  ) {
    this.proxier = new IptablesProxier(cfg, cache);
    this.runner = new SyncGate(node.world.sched, () => minSyncPeriod, () => this.doSync());
  }

  start(): void {
    if (this.cfg.localhostNodePorts) this.node.sysctlSet('host', 'net.ipv4.conf.all.route_localnet', '1');
    this.runner.start();
    this.sync();
  }

  /** The daemon is gone (its node shut down): no more syncs. */
  stop(): void {
    this.runner.stop();
  }

  /** A change was seen: sync now or at lastSync + minSyncPeriod. */
  requestSync(): void {
    this.runner.request();
  }

  /** Sync now (start-up; tests). */
  sync(): void {
    if (this.runner.running) this.doSync();
  }

  private doSync(): void {
    const world = this.node.world;
    this.runner.synced();
    this.syncs++;
    this.refreshCache();
    const r = this.proxier.sync();
    // The chains go in by reference (shared with every node whose chains are equal), as
    // `iptables-restore --noflush` of kube-proxy's text would put them; the text itself is
    // logged when it is small enough to be worth reading (rendered now: the proxier's text is
    // only valid until its next sync).
    const st = netfilterOf(this.node.host);
    // One transaction, as kube-proxy's one restore of *filter and *nat is.
    st.rules.replaceTables([{ table: 'filter', set: r.filter.set, deleted: r.filter.deleted }, { table: 'nat', set: r.nat.set, deleted: r.nat.deleted }]);
    st.nf.refresh();
    let rules = 0;
    for (const c of r.filter.set) rules += c.rules.length;
    for (const c of r.nat.set) rules += c.rules.length;
    if (rules <= LOG_TEXT_MAX_RULES) {
      const text = r.restoreText();
      this.node.logCommand('host', `iptables-restore --noflush <<'EOF'\n${text.endsWith('\n') ? text : text + '\n'}EOF`);
    } else {
      this.node.logCommand('host', `# kube-proxy sync: iptables-restore --noflush of ${rules} rules in ${r.filter.set.length + r.nat.set.length} chains (text not kept; \`podwire save iptables\` shows the result)`);
    }
    if (!this.jumped) {
      this.jumped = true;
      // kube-proxy's canary chains (a full resync follows if one vanishes), then the jumps.
      const lines = ['*mangle', ':KUBE-PROXY-CANARY - [0:0]', 'COMMIT', '*filter', ':KUBE-PROXY-CANARY - [0:0]'];
      const jumps = builtinJumpsInIssueOrder();
      for (const j of jumps) if (j.table === 'filter') lines.push(`-I ${j.chain} 1 ${j.args}`);
      lines.push('COMMIT', '*nat', ':KUBE-PROXY-CANARY - [0:0]');
      for (const j of jumps) if (j.table === 'nat') lines.push(`-I ${j.chain} 1 ${j.args}`);
      lines.push('COMMIT');
      iptablesRestore(this.node, 'host', lines.join('\n') + '\n', { noflush: true });
    }
    if (world.trace.on) {
      world.event(this.node.name, 'host', '', null, 'kube-proxy.sync',
        `${r.fullSync ? 'full' : 'partial'} sync: ${r.changed.length} service ports changed; filter ${r.filter.set.length} chains written, ${r.filter.deleted.length} deleted; nat ${r.nat.set.length} written, ${r.nat.deleted.length} deleted`);
    }
  }
}
