/**
 * The contract between flanneld (agent.ts) and its backends (vxlan, host-gw,
 * udp), in the order flanneld drives them (main.go → backend.RegisterNetwork →
 * network.Run, read for behaviour):
 *
 *  1. `create` the backend on the node (before the lease: the vxlan device must
 *     exist so its MAC can go into the lease's backend data);
 *  2. the agent acquires the lease with `backendData()` and the backend's type;
 *  3. `configure(own)` with the node's own lease (device addresses, routes for
 *     the whole network where the backend has one);
 *  4. `addRemote` / `removeRemote` for every other lease as the registry's watch
 *     reports it (including the leases that existed before this node came up);
 *  5. `stop()` when flanneld stops: what flanneld leaves behind stays (it does not
 *     delete its routes on exit); the agent decides what a node leaving means.
 *
 * Backends act on the node only through `Node`'s netlink-style methods, so every
 * change lands in the node's configuration log as the command it stands for
 * (replayed by the kernel-conformance harness).
 */
import type { Node } from '../../kernel/node.js';
import type { Vxlan } from '../../kernel/devices/vxlan.js';
import { NetlinkError } from '../../kernel/netlink.js';
import type { FlannelBackendType, FlannelConfig } from './config.js';
import type { Lease } from './leases.js';

export interface BackendContext {
  /** The machine flanneld runs on (its root namespace is 'host'). */
  node: Node;
  cfg: FlannelConfig;
  /** The external interface (`--iface`, default the one holding the default route): 'eth0'. */
  extIface: string;
  /** The node's public IP (the external interface's address). */
  publicIP: number;
  /** The external interface's prefix length (to decide L2 adjacency for host-gw / DirectRouting). */
  publicPrefix: number;
  /**
   * Records a decision of flanneld in the trace (stage `flannel.<what>`), or a
   * failure it logged (`error` set: flanneld's error text, e.g. a refused route).
   */
  note(what: string, detail: string, error?: boolean): void;
}

export interface FlannelBackend {
  readonly type: FlannelBackendType;
  /** FLANNEL_MTU for subnet.env (vxlan: ext MTU − 50, host-gw: ext MTU, udp: ext MTU − 28). */
  readonly mtu: number;
  /** The lease's backend data (vxlan `{VNI, VtepMAC}`, udp/host-gw: none). */
  backendData(): Record<string, unknown> | undefined;
  /** Sets the node up for its own lease. */
  configure(own: Lease): void;
  /** Programs what reaching `lease`'s subnet needs. */
  addRemote(lease: Lease): void;
  /** Removes what `addRemote(lease)` programmed. */
  removeRemote(lease: Lease): void;
  /** flanneld exits (a userspace data path, the udp backend's, stops forwarding). */
  stop(): void;
  /**
   * The vxlan device when every remote's entries are the same on every node (no
   * DirectRouting): the agent may then attach it to the deployment's shared peer
   * mesh (mesh.ts) instead of calling addRemote/removeRemote per remote.
   */
  readonly meshDevice?: Vxlan | null;
}

export type BackendFactory = (ctx: BackendContext) => FlannelBackend;

/** Whether `ip` is on the external interface's own subnet (what host-gw and vxlan DirectRouting need). */
export function onLinkOf(ctx: BackendContext, ip: number): boolean {
  const p = ctx.publicPrefix;
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return ((ip ^ ctx.publicIP) & mask) === 0;
}

/** flanneld logs a failed delete and carries on. */
export function tryDo(f: () => void): void {
  try { f(); } catch (e) { if (!(e instanceof NetlinkError)) throw e; }
}
