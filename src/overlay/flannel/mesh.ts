/**
 * The vxlan backend's cluster-wide peer mesh (see src/kernel/peer-mesh.ts): one
 * per flannel deployment, fed once per lease event by a watch registered before
 * any flanneld's, holding per remote subnet {gateway = subnet address, VtepMAC,
 * public IP}. Every flanneld whose node can share it attaches its namespace and
 * flannel.1 instead of programming each remote itself; what each node then sees,
 * lists and logs is exactly what it would have programmed:
 *
 *  - the configuration log gets one lazy record per node per run of lease events
 *    (`MeshLogRecord`): at the attach, the `addRemote` commands for the leases
 *    already there (flanneld walks them sorted by subnet), then, per journal
 *    step, the commands `addRemote` / `removeRemote` run — `ip neigh replace`,
 *    `bridge fdb replace`, `ip route replace` (and their `del`s) — rendered only
 *    when the log is read, byte-identical to what a private flanneld logs;
 *  - trace notes (`flannel.vxlan`, `flannel.lease`) are emitted per node as the
 *    backend would, when tracing is on.
 *
 * Sharing is exact or off: a lease the vxlan backend would not program the same
 * way on every node (another backend type, no VtepMAC, another prefix length, a
 * VtepMAC already used by another subnet) stops sharing for the whole deployment
 * (every node detaches, then handles the event itself); a node whose state could
 * not match the mesh (DirectRouting, a lease changed behind the watch) does not
 * attach; a node that stops, or changes a shared entry, detaches (peer-mesh.ts).
 */
import { formatCidr4, formatIPv4, parseMac } from '../../cni/ip4.js';
import { macToString } from '../../wire/bytes.js';
import { macKey } from '../../kernel/devices/bridge.js';
import type { Vxlan } from '../../kernel/devices/vxlan.js';
import { PeerMesh, type MeshView, type PeerEntry } from '../../kernel/peer-mesh.js';
import type { Node } from '../../kernel/node.js';
import type { Lease, LeaseEvent } from './leases.js';
import type { SubnetManager } from './subnet-manager.js';

let sharing = true;

/** Turns sharing on or off for meshes created afterwards (tests compare both); returns the previous setting. */
export function setMeshSharing(on: boolean): boolean {
  const was = sharing;
  sharing = on;
  return was;
}

/** What the mesh keeps of a lease: the copy a flanneld would keep, and the registry's object as the watch reported it. */
export interface LeaseRef {
  copy: Lease;
  src: Lease;
  srcAttrs: Lease['attrs'];
  srcSubnet: Lease['subnet'];
}

interface EntryText {
  s: string;
  gw: string;
  mac: string;
  pub: string;
}

/** One node's lazily rendered run of mesh commands: the snapshot at `from` (when `snap`), then journal[from, to). */
export interface MeshLogRecord {
  snap: boolean;
  from: number;
  to: number;
  fn: () => string[];
}

export class VxlanPeerMesh {
  readonly mesh: PeerMesh;
  /** Sharing stopped for good (a lease the mesh cannot hold exactly). */
  broken: boolean;
  /** The journal range the last lease event produced. */
  lastFrom = 0;
  lastTo = 0;
  /** Virtual time (set by the deployment once a node exists). */
  clock: () => number = () => 0;
  private readonly text = new WeakMap<PeerEntry, EntryText>();

  constructor(readonly sm: SubnetManager, prefix: number) {
    this.mesh = new PeerMesh(prefix);
    this.broken = !sharing;
    for (const l of sm.leases()) this.onEvent({ type: 'added', lease: l });
    sm.watch((e) => this.onEvent(e));
  }

  private onEvent(ev: LeaseEvent): void {
    const mesh = this.mesh;
    const from = mesh.journal.length;
    this.lastFrom = this.lastTo = from;
    if (this.broken) return;
    const l = ev.lease;
    const addr = l.subnet.addr;
    if (ev.type === 'removed') {
      if (l.subnet.prefix === mesh.prefix) mesh.remove(addr);
      this.lastTo = mesh.journal.length;
      return;
    }
    const vtep = l.attrs.backendData?.VtepMAC;
    const mac = typeof vtep === 'string' ? parseMac(vtep) : null;
    const k = mac ? macKey(mac, 0) : -1;
    const other = mac ? mesh.byMac.get(k) : undefined;
    if (!mac || l.attrs.backendType !== 'vxlan' || l.subnet.prefix !== mesh.prefix || (other && other.subnet !== addr)) {
      this.breakSharing();
      return;
    }
    mesh.evictClaims(addr, k);
    mesh.remove(addr);
    const ref: LeaseRef = { copy: { subnet: { ...l.subnet }, attrs: { ...l.attrs }, expiration: l.expiration }, src: l, srcAttrs: l.attrs, srcSubnet: l.subnet };
    mesh.add(addr, mac, l.attrs.publicIP, this.clock(), ref);
    this.lastTo = mesh.journal.length;
  }

  /** Every node detaches (taking its copy as of before this event) and handles leases itself from now on. */
  private breakSharing(): void {
    this.broken = true;
    this.mesh.detachAll();
  }

  /**
   * Whether a node with lease `own` can attach now: sharing is on and every lease
   * in the mesh is still the registry's object as the watch reported it (a
   * flanneld starting now reads the registry; the mesh holds what the watch said).
   */
  canAttach(own: Lease): boolean {
    if (this.broken || own.subnet.prefix !== this.mesh.prefix) return false;
    for (const e of this.mesh.bySubnet.values()) {
      const r = e.data as LeaseRef;
      if (r.src.attrs !== r.srcAttrs || r.src.subnet !== r.srcSubnet) return false;
    }
    return true;
  }

  /** Attaches `node`'s flannel device; logs the snapshot record (what its start-up `addRemote`s log). */
  attach(node: Node, dev: Vxlan, own: Lease, onDetach: () => void): { view: MeshView; rec: MeshLogRecord } {
    const view = this.mesh.attach(dev, own.subnet.addr, onDetach);
    const at = this.mesh.journal.length;
    const rec = this.record(view, true, at);
    node.configLog.push(rec.fn);
    return { view, rec };
  }

  /** Extends `rec` (if it is still the node's last log entry) or starts a new record with the last event's steps. */
  logLastEvent(node: Node, view: MeshView, rec: MeshLogRecord): MeshLogRecord {
    const from = this.lastFrom, to = this.lastTo;
    if (to === from) return rec;
    if (node.lastLogEntry() === rec.fn && rec.to === from) { rec.to = to; return rec; }
    const r = this.record(view, false, from);
    r.to = to;
    node.configLog.push(r.fn);
    return r;
  }

  private record(view: MeshView, snap: boolean, at: number): MeshLogRecord {
    const rec: MeshLogRecord = { snap, from: at, to: at, fn: () => this.render(view, rec) };
    return rec;
  }

  /** The commands a private flanneld would have logged for `rec`. */
  render(view: MeshView, rec: MeshLogRecord): string[] {
    const out: string[] = [];
    const own = view.own, name = view.dev.name;
    if (rec.snap) {
      const live = [...this.mesh.liveAt(rec.from).values()].filter((e) => e.subnet !== own).sort((a, b) => a.subnet - b.subnet);
      for (const e of live) this.addCmds(e, name, out);
    }
    const j = this.mesh.journal;
    for (let i = rec.from; i < rec.to; i++) {
      const op = j[i]!;
      if (op.e.subnet === own) continue;
      if (op.add) this.addCmds(op.e, name, out);
      else this.delCmds(op.e, name, out);
    }
    return out;
  }

  entryText(e: PeerEntry): EntryText {
    let t = this.text.get(e);
    if (!t) {
      t = { s: formatCidr4(e.subnet, e.prefix), gw: formatIPv4(e.subnet), mac: macToString(e.mac), pub: formatIPv4(e.pub) };
      this.text.set(e, t);
    }
    return t;
  }

  /** backend-vxlan addRemote's commands (Node.neighReplace, fdbAdd, routeReplace). */
  private addCmds(e: PeerEntry, name: string, out: string[]): void {
    const t = this.entryText(e);
    out.push(
      `ip neigh replace ${t.gw} lladdr ${t.mac} dev ${name} nud permanent`,
      `bridge fdb replace ${t.mac} dev ${name} dst ${t.pub} self permanent`,
      `ip route replace ${t.s} via ${t.gw} dev ${name} onlink`,
    );
  }

  /** backend-vxlan removeRemote's commands (Node.neighDel, fdbDel, routeDel). */
  private delCmds(e: PeerEntry, name: string, out: string[]): void {
    const t = this.entryText(e);
    out.push(
      `ip neigh del ${t.gw} dev ${name}`,
      `bridge fdb del ${t.mac} dev ${name} dst ${t.pub} self`,
      `ip route del ${t.s} via ${t.gw} dev ${name} onlink`,
    );
  }

  /** The trace note backend-vxlan's addRemote writes. */
  addNote(e: PeerEntry, name: string): string {
    const t = this.entryText(e);
    return `subnet ${t.s} of ${t.pub}: neigh ${t.gw} lladdr ${t.mac}, fdb ${t.mac} dst ${t.pub}, route via ${t.gw} dev ${name} onlink`;
  }

  /** The trace note backend-vxlan's removeRemote writes. */
  delNote(e: PeerEntry): string {
    const t = this.entryText(e);
    return `subnet ${t.s} of ${t.pub} removed: neigh, fdb and route deleted`;
  }
}
