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
import { netfilterOf } from '../netfilter/index.js';
import { iptablesRestore as restoreInto } from '../netfilter/restore.js';
import { Ruleset } from '../netfilter/ruleset.js';
import type { Chain } from '../netfilter/types.js';
import type { EndpointInfo, ProxierConfig, ServicePortInfo } from './model.js';
import { SharedProxyCache } from './iptables/index.js';
import { builtinJumpsInIssueOrder } from './iptables/build.js';
import { proxierStatesOf, type ProxierState, type ProxierStates } from './iptables/states.js';
import { SyncGate } from '../engine/sync-gate.js';

/** Syncs writing more rules than this log a one-line summary instead of the restore text. */
export const LOG_TEXT_MAX_RULES = 20_000;

export interface ProxyInput {
  ports: ServicePortInfo[];
  endpoints: Map<string, EndpointInfo[]>;
}

/** kube-proxy's first-sync restore: the canary chains, then the jumps in the built-in chains (EnsureRule prepends). */
function jumpsRestoreText(): string {
  const lines = ['*mangle', ':KUBE-PROXY-CANARY - [0:0]', 'COMMIT', '*filter', ':KUBE-PROXY-CANARY - [0:0]'];
  const jumps = builtinJumpsInIssueOrder();
  for (const j of jumps) if (j.table === 'filter') lines.push(`-I ${j.chain} 1 ${j.args}`);
  lines.push('COMMIT', '*nat', ':KUBE-PROXY-CANARY - [0:0]');
  for (const j of jumps) if (j.table === 'nat') lines.push(`-I ${j.chain} 1 ${j.args}`);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}
const JUMPS_TEXT = jumpsRestoreText();

type ChainChange = { set: readonly Chain[]; deleted: readonly string[] };
const templates = new WeakMap<readonly Chain[], { filter: ChainChange; nat: ChainChange; tpl: Ruleset | null }[]>();

/**
 * A pristine ruleset after a first sync's `replaceTables` and the jumps' restore (no
 * `-m set` in JUMPS_TEXT: the namespace's ipsets are not needed), made once per sync
 * result (the chain arrays are the ProxierTransition's, shared by every node of the
 * class); null when that fails (the node then makes the change itself, failing alike).
 */
function firstSyncTemplate(filter: ChainChange, nat: ChainChange): Ruleset | null {
  let list = templates.get(filter.set);
  if (list === undefined) templates.set(filter.set, (list = []));
  const hit = list.find((x) => x.filter.deleted === filter.deleted && x.nat.set === nat.set && x.nat.deleted === nat.deleted);
  if (hit) return hit.tpl;
  let tpl: Ruleset | null = new Ruleset();
  try {
    tpl.replaceTables([{ table: 'filter', set: filter.set, deleted: filter.deleted }, { table: 'nat', set: nat.set, deleted: nat.deleted }]);
    restoreInto(tpl, JUMPS_TEXT, { noflush: true });
  } catch {
    tpl = null;
  }
  list.push({ filter, nat, tpl });
  return tpl;
}

export class KubeProxyIptables {
  /** kube-proxy's BoundedFrequencyRunner (its minSyncPeriod half). */
  private readonly runner: SyncGate;
  /** The cluster's proxier states; `state` is this node's (shared with every node that synced alike). */
  private readonly states: ProxierStates;
  private state: ProxierState | null = null;
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
    this.states = proxierStatesOf(cache);
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
    const t = this.states.sync(this.state, this.cfg, LOG_TEXT_MAX_RULES);
    this.state = t.to;
    const r = t.result;
    // The chains go in by reference (shared with every node whose chains are equal), as
    // `iptables-restore --noflush` of kube-proxy's text would put them, in one transaction
    // as kube-proxy's one restore of *filter and *nat is — made when the node's rules are
    // first looked at (Ruleset.defer: most nodes of a 5,000-node run never are). The
    // commands are logged now, in order with the node's other commands.
    const rules = netfilterOf(this.node.host).rules;
    const filter = r.filter, nat = r.nat;
    // The first sync on a ruleset nothing has touched (and the jumps after it) is the same on
    // every node of the class: made once on a template ruleset, copied (Ruleset.copyOf).
    const first = !this.jumped;
    let copied = false;
    rules.defer((rs) => {
      if (first && rs.pristine) {
        const tpl = firstSyncTemplate(filter, nat);
        if (tpl) { rs.copyOf(tpl); copied = true; return; }
      }
      rs.replaceTables([{ table: 'filter', set: filter.set, deleted: filter.deleted }, { table: 'nat', set: nat.set, deleted: nat.deleted }]);
    });
    if (t.text !== null) {
      const text = t.text;
      this.node.logCommand('host', () => `iptables-restore --noflush <<'EOF'\n${text.endsWith('\n') ? text : text + '\n'}EOF`);
    } else {
      const n = r.filter.set.length + r.nat.set.length;
      this.node.logCommand('host', `# kube-proxy sync: iptables-restore --noflush of ${t.rules} rules in ${n} chains (text not kept; \`podwire save iptables\` shows the result)`);
    }
    if (!this.jumped) {
      this.jumped = true;
      // kube-proxy's canary chains (a full resync follows if one vanishes), then the jumps.
      const ipsets = netfilterOf(this.node.host).nf.ipsets;
      rules.defer((rs) => { if (!copied) restoreInto(rs, JUMPS_TEXT, { noflush: true, ipsets }); });
      this.node.logCommand('host', () => `iptables-restore --noflush <<'EOF'\n${JUMPS_TEXT}EOF`);
    }
    if (world.trace.on) {
      world.event(this.node.name, 'host', '', null, 'kube-proxy.sync',
        `${r.fullSync ? 'full' : 'partial'} sync: ${r.changed.length} service ports changed; filter ${r.filter.set.length} chains written, ${r.filter.deleted.length} deleted; nat ${r.nat.set.length} written, ${r.nat.deleted.length} deleted`);
    }
  }
}
