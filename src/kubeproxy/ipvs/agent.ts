/**
 * kube-proxy in ipvs mode on one node: the daemon around IpvsProxier.
 *
 *  - Start-up (NewProxier): the ip_vs module is loaded (the proxier's first use of the
 *    node's IPVS; kube-proxy's CanUseIPVSProxier probe loads it), then the sysctls the
 *    modern proxier ensures: net/ipv4/vs/conntrack=1, vs/expire_nodest_conn=1,
 *    vs/expire_quiescent_template=1, net/ipv4/ip_forward=1 (conn_reuse_mode is left as is:
 *    the modelled kernel, 6.18, is past IPVSConnReuseModeFixedKernelVersion 5.9; strictARP
 *    and the IPVS timeouts are off by default). Then a sync at once.
 *  - Changes: kube-proxy's BoundedFrequencyRunner (minSyncPeriod) as engine/sync-gate.ts.
 */
import type { Node } from '../../kernel/node.js';
import type { SharedProxyCache } from '../iptables/cache.js';
import { SyncGate } from '../../engine/sync-gate.js';
import { IpvsProxier, type IpvsProxierConfig, type IpvsSyncResult } from './proxier.js';

export const IPVS_SYSCTLS: readonly [string, string][] = [
  ['net.ipv4.vs.conntrack', '1'],
  ['net.ipv4.vs.expire_nodest_conn', '1'],
  ['net.ipv4.vs.expire_quiescent_template', '1'],
  ['net.ipv4.ip_forward', '1'],
];

export class KubeProxyIpvs {
  readonly proxier: IpvsProxier;
  private readonly runner: SyncGate;
  syncs = 0;
  last: IpvsSyncResult | null = null;

  constructor(
    readonly node: Node,
    readonly cfg: IpvsProxierConfig,
    readonly minSyncPeriod: number,
    readonly cache: SharedProxyCache,
    private readonly refreshCache: () => void,
  ) {
    this.proxier = new IpvsProxier(node, cfg, cache);
    this.runner = new SyncGate(node.world.sched, () => minSyncPeriod, () => this.doSync());
  }

  start(): void {
    for (const [k, v] of IPVS_SYSCTLS) this.node.sysctlSet('host', k, v);
    this.runner.start();
    this.sync();
  }

  stop(): void { this.runner.stop(); }
  requestSync(): void { this.runner.request(); }
  /** Sync now (start-up; tests). */
  sync(): void { if (this.runner.running) this.doSync(); }

  private doSync(): void {
    this.runner.synced();
    this.syncs++;
    this.refreshCache();
    const r = this.proxier.sync();
    this.last = r;
    const w = this.node.world;
    if (w.trace.on) {
      w.event(this.node.name, 'host', '', null, 'kube-proxy.sync',
        `ipvs ${r.full ? 'full' : 'partial'} sync: ${r.changed} service ports; virtual servers +${r.servicesAdded} -${r.servicesDeleted}; real servers +${r.destsAdded} -${r.destsDeleted}, ${r.destsQuiesced} to weight 0 (graceful termination); ipset entries +${r.entriesAdded} -${r.entriesDeleted}`);
    }
  }
}
