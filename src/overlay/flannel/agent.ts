/**
 * flanneld on one node (flannel main.go and pkg/backend, read for behaviour), in
 * its start-up order:
 *
 *  1. the backend is registered (vxlan creates flannel.1 here: its MAC is lease data);
 *  2. the lease is acquired from the subnet manager with the node's public IP,
 *     backend type and backend data;
 *  3. with `--ip-masq`, the masquerade rules (nat FLANNEL-POSTRTG), then the
 *     forward rules (filter FLANNEL-FWD), appended after whatever is there;
 *  4. `/run/flannel/subnet.env` is written (the CNI plugin reads it: until then
 *     no pod sandbox can be set up on the node);
 *  5. the backend configures the own subnet, then programs every other lease the
 *     watch reports (the ones already there first) and follows additions and
 *     removals;
 *  6. with the etcd subnet manager, the lease is renewed RENEW_MARGIN before it
 *     expires, for as long as flanneld runs.
 *
 * Each step is a trace event (stage `flannel.*`, node = the machine) and each
 * change to the machine a logged command, so `--show-config` prints what
 * flanneld did and the kernel harness can replay it.
 */
import type { Node } from '../../kernel/node.js';
import { formatCidr4, formatIPv4 } from '../../cni/ip4.js';
import { iptablesRestore, iptablesSaveText } from '../../netfilter/index.js';
import { subnetEnv, subnetKey, type FlannelConfig } from './config.js';
import type { BackendContext, BackendFactory, FlannelBackend } from './backend.js';
import type { Lease, LeaseEvent } from './leases.js';
import type { SubnetManager } from './subnet-manager.js';
import type { MeshView } from '../../kernel/peer-mesh.js';
import type { LeaseRef, MeshSub, VxlanPeerMesh } from './mesh.js';

export interface FlanneldOptions {
  /** `--iface`: the external interface (eth0). */
  extIface: string;
  publicIP: number;
  publicPrefix: number;
  /** `--ip-masq` (kube-flannel.yml sets it). */
  ipMasq: boolean;
  backend: BackendFactory;
  /** The deployment's shared vxlan peer mesh (mesh.ts), when it has one. */
  mesh?: VxlanPeerMesh;
}

/** kube-proxy's masquerade mark as flannel's rules test it (trafficmngr.KubeProxyMark). */
const KUBE_PROXY_MARK = '0x4000/0x4000';

export class Flanneld {
  lease: Lease | undefined;
  backend: FlannelBackend | undefined;
  /** `/run/flannel/subnet.env` once written. */
  subnetEnv: string | undefined;
  running = false;
  /** Remote leases programmed, by subnet key (while detached from the mesh). */
  private remotes = new Map<string, Lease>();
  /** The node's view of the shared peer mesh while attached (then `remotes` is empty), and its log record. */
  private view: MeshView | null = null;
  private sub: MeshSub | null = null;
  private unwatch: (() => void) | null = null;

  constructor(readonly node: Node, readonly sm: SubnetManager, readonly cfg: FlannelConfig, readonly opts: FlanneldOptions) {}

  /** Starts flanneld now (virtual time). Throws (LeaseError, NetlinkError) when it cannot come up, as flanneld exits. */
  start(): void {
    const node = this.node;
    const ctx: BackendContext = {
      node, cfg: this.cfg, extIface: this.opts.extIface, publicIP: this.opts.publicIP, publicPrefix: this.opts.publicPrefix,
      note: (what, detail, error) => this.note(what, detail, error),
    };
    const be = this.opts.backend(ctx);
    this.backend = be;
    const now = node.world.sched.now;
    const lease = this.sm.acquire(node.name, now, { publicIP: this.opts.publicIP, backendType: be.type, backendData: be.backendData() });
    this.lease = lease;
    this.running = true;
    const key = subnetKey(lease.subnet.addr, lease.subnet.prefix);
    this.note('lease', `acquired lease ${key} (${this.sm.kind} subnet manager) for public IP ${formatIPv4(this.opts.publicIP)}, backend ${be.type}`);
    if (this.opts.ipMasq) this.masqRules(lease);
    this.forwardRules();
    this.subnetEnv = subnetEnv(this.cfg, lease.subnet, be.mtu, this.opts.ipMasq);
    node.logCommand('host', `# /run/flannel/subnet.env: ${this.subnetEnv.trim().split('\n').join(' ')}`);
    be.configure(lease);
    const mesh = this.opts.mesh;
    mesh?.acquired(lease);
    if (mesh && be.meshDevice && mesh.canAttach(lease)) {
      const view = mesh.attach(node, be.meshDevice, lease, () => this.detached());
      this.view = view;
      if (node.world.trace.on) {
        for (const l of this.sm.leases()) {
          const e = l.subnet.addr !== lease.subnet.addr ? view.entry(l.subnet.addr) : undefined;
          if (e) this.note('vxlan', mesh.addNote(e, view.dev.name));
        }
      }
    } else {
      for (const l of this.sm.leases()) this.onLease({ type: 'added', lease: l });
    }
    if (mesh) {
      const w = mesh.watch((e) => this.onLease(e), this.view !== null);
      this.sub = w.sub;
      this.unwatch = w.unwatch;
    } else this.unwatch = this.sm.watch((e) => this.onLease(e));
    this.scheduleRenewal();
  }

  /** flanneld exits: it stops watching and renewing; what it programmed stays, as it does on a real node. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.view?.detach(); // what it programmed stays, frozen: the node's own copy
    this.unwatch?.();
    this.unwatch = null;
    this.backend?.stop();
    this.note('stop', 'flanneld stopped');
  }

  /**
   * The remote subnets this node has programmed, by subnet key. While the node shares
   * the deployment's mesh each lease's `expiration` is the one its last watch event
   * carried (a private flanneld keeps the registry's value at its start for the leases
   * already there: the registry updates expirations in place, without an event).
   */
  remoteLeases(): Lease[] {
    if (this.view) return this.view.ordered(true).map((x) => (x.e.data as LeaseRef).copy);
    return [...this.remotes.values()];
  }

  /** Whether this node follows the deployment's shared peer mesh. */
  get sharing(): boolean {
    return this.view !== null;
  }

  /** The mesh view was materialised (copy-on-write): from now on this agent programs remotes itself. */
  private detached(): void {
    const v = this.view!;
    this.view = null;
    if (this.sub) this.opts.mesh!.unshare(this.sub);
    this.remotes = new Map(v.ordered(true).map((x) => {
      const l = (x.e.data as LeaseRef).copy;
      return [subnetKey(l.subnet.addr, l.subnet.prefix), l];
    }));
  }

  private onLease(e: LeaseEvent): void {
    const own = this.lease!;
    const l = e.lease;
    if (l.subnet.addr === own.subnet.addr && l.subnet.prefix === own.subnet.prefix) return; // the watcher skips its own lease
    if (this.view) { this.onMeshEvent(e); return; }
    const key = subnetKey(l.subnet.addr, l.subnet.prefix);
    const be = this.backend!;
    if (e.type === 'added') {
      const prev = this.remotes.get(key);
      if (prev) be.removeRemote(prev);
      this.remotes.set(key, { subnet: { ...l.subnet }, attrs: { ...l.attrs }, expiration: l.expiration });
      be.addRemote(l);
    } else {
      const prev = this.remotes.get(key);
      if (!prev) return;
      this.remotes.delete(key);
      this.note('lease', `lease ${key} of ${formatIPv4(l.attrs.publicIP)} removed`);
      be.removeRemote(prev);
    }
  }

  /** A lease event the mesh has applied (the node's log record renders its steps): write the notes the backend would. */
  private onMeshEvent(e: LeaseEvent): void {
    const mesh = this.opts.mesh!;
    const view = this.view!;
    if (!this.node.world.trace.on) return;
    const j = mesh.mesh.journal;
    if (e.type === 'removed' && mesh.lastTo > mesh.lastFrom) {
      this.note('lease', `lease ${subnetKey(e.lease.subnet.addr, e.lease.subnet.prefix)} of ${formatIPv4(e.lease.attrs.publicIP)} removed`);
    }
    for (let i = mesh.lastFrom; i < mesh.lastTo; i++) {
      const op = j[i]!;
      this.note('vxlan', op.add ? mesh.addNote(op.e, view.dev.name) : mesh.delNote(op.e));
    }
  }

  private scheduleRenewal(): void {
    const lease = this.lease!;
    const at = this.sm.renewAt(lease);
    if (at === undefined) return;
    this.node.world.sched.at(at, () => {
      if (!this.running || this.lease !== lease) return;
      try {
        this.sm.renew(this.node.world.sched.now, lease);
        this.note('lease', `renewed lease ${subnetKey(lease.subnet.addr, lease.subnet.prefix)} until ${(lease.expiration / 1e9).toFixed(3)} s`);
      } catch (e) {
        this.note('lease', `renewing lease failed: ${(e as Error).message}`, true);
        return;
      }
      this.scheduleRenewal();
    }, null);
  }

  /** SetupAndEnsureMasqRules: appended to nat POSTROUTING (kube-proxy's jump is inserted before it). */
  private masqRules(lease: Lease): void {
    const net = formatCidr4(this.cfg.network.addr, this.cfg.network.prefix);
    const pod = formatCidr4(lease.subnet.addr, lease.subnet.prefix);
    const c = '-m comment --comment "flanneld masq"';
    this.restore([
      '*nat',
      ':FLANNEL-POSTRTG - [0:0]',
      ...this.unlessPresent(`-A POSTROUTING ${c} -j FLANNEL-POSTRTG`),
      `-A FLANNEL-POSTRTG -m mark --mark ${KUBE_PROXY_MARK} ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${pod} -d ${net} ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${net} -d ${pod} ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s ${net} -d ${pod} ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${net} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s ${net} -d ${net} ${c} -j MASQUERADE --random-fully`,
      'COMMIT',
    ]);
  }

  /** SetupAndEnsureForwardRules. */
  private forwardRules(): void {
    const net = formatCidr4(this.cfg.network.addr, this.cfg.network.prefix);
    const c = '-m comment --comment "flanneld forward"';
    this.restore([
      '*filter',
      ':FLANNEL-FWD - [0:0]',
      ...this.unlessPresent(`-A FORWARD ${c} -j FLANNEL-FWD`),
      `-A FLANNEL-FWD -s ${net} ${c} -j ACCEPT`,
      `-A FLANNEL-FWD -d ${net} ${c} -j ACCEPT`,
      'COMMIT',
    ]);
  }

  /**
   * A restarted flanneld finds its rules: the chains are declared again (which flushes them,
   * as iptables-restore --noflush does for a declared chain) but the jump from the built-in
   * chain is added only when it is missing (flannel checks each rule before adding it).
   */
  private unlessPresent(rule: string): string[] {
    return iptablesSaveText(this.node, 'host').split('\n').includes(rule) ? [] : [rule];
  }

  private restore(lines: string[]): void {
    iptablesRestore(this.node, 'host', lines.join('\n') + '\n', { noflush: true, file: 'flanneld' });
  }

  private note(what: string, detail: string, error?: boolean): void {
    const w = this.node.world;
    if (w.trace.on) w.event(this.node.name, 'host', '', null, `flannel.${what}`, error ? `error: ${detail}` : detail);
  }
}
