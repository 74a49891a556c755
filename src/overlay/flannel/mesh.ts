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
import type { Node, OpenLogEntry } from '../../kernel/node.js';
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

/**
 * One node's lazily rendered run of mesh commands: the snapshot at `from` (when
 * `snap`), then journal[from, to) — `to` open (the journal's end) until the node logs
 * anything else (then a new record opens after that entry) or detaches.
 */
export class MeshLogRecord implements OpenLogEntry {
  open = true;
  to: number;
  readonly fn: () => string[];

  constructor(private readonly owner: VxlanPeerMesh, private readonly node: Node, private readonly view: MeshView,
    readonly snap: boolean, readonly from: number) {
    this.to = from;
    this.fn = () => owner.render(view, this);
  }

  isEmpty(): boolean {
    return !this.snap && this.from === this.owner.mesh.journal.length;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.to = this.owner.mesh.journal.length;
  }

  reopen(): void {
    if (this.view.attached) this.node.logOpen(new MeshLogRecord(this.owner, this.node, this.view, false, this.owner.mesh.journal.length));
  }
}

/** A watcher of lease events through the mesh (a flanneld): called in registration order. */
export interface MeshSub {
  fn: (e: LeaseEvent) => void;
  /** While attached the agent needs lease events only for trace notes. */
  shared: boolean;
  seq: number;
  dead: boolean;
}

export class VxlanPeerMesh {
  readonly mesh: PeerMesh;
  /** Sharing stopped for good (a lease the mesh cannot hold exactly). */
  broken: boolean;
  /** The journal range the last lease event produced. */
  lastFrom = 0;
  lastTo = 0;
  /** Virtual time and whether tracing is on (set by the deployment once a node exists). */
  clock: () => number = () => 0;
  traceOn: () => boolean = () => false;
  private readonly text = new WeakMap<PeerEntry, EntryText>();
  /** Every watcher, in registration order; and those not attached (they act on every event). */
  private readonly subs: MeshSub[] = [];
  private privSubs: MeshSub[] = [];
  private subSeq = 0;
  /**
   * Subnets whose lease the registry changed without a watch event (an etcd lease
   * re-acquired by its node with new attributes): the mesh holds what the watch
   * said, a flanneld starting now would read the new attributes, so none attaches
   * while one is live.
   */
  private readonly stale = new Set<number>();

  constructor(readonly sm: SubnetManager, prefix: number) {
    this.mesh = new PeerMesh(prefix);
    this.broken = !sharing;
    for (const l of sm.leases()) this.apply({ type: 'added', lease: l });
    sm.watch((e) => this.onEvent(e));
  }

  /**
   * `sm.watch` for the deployment's flanneld instances: one registry watcher (the
   * mesh, which applies each event first), then every agent in registration order;
   * agents attached to the mesh are called only when tracing is on (for their notes).
   */
  watch(fn: (e: LeaseEvent) => void, shared: boolean): { sub: MeshSub; unwatch: () => void } {
    const sub: MeshSub = { fn, shared, seq: this.subSeq++, dead: false };
    this.subs.push(sub);
    if (!shared) this.privSubs.push(sub);
    return {
      sub,
      unwatch: () => {
        sub.dead = true;
        const i = this.subs.indexOf(sub);
        if (i >= 0) this.subs.splice(i, 1);
        const j = this.privSubs.indexOf(sub);
        if (j >= 0) this.privSubs.splice(j, 1);
      },
    };
  }

  /** The agent of `sub` detached: it acts on every event from now on. */
  unshare(sub: MeshSub): void {
    if (!sub.shared || sub.dead) return;
    sub.shared = false;
    let i = this.privSubs.length;
    while (i > 0 && this.privSubs[i - 1]!.seq > sub.seq) i--;
    this.privSubs.splice(i, 0, sub);
  }

  private onEvent(ev: LeaseEvent): void {
    this.apply(ev);
    const list = this.traceOn() ? this.subs : this.privSubs;
    if (list.length === 0) return;
    for (const sub of [...list]) if (!sub.dead) sub.fn(ev);
  }

  /** After `own` was acquired: a lease changed behind the watch makes the mesh unsafe for new attachers. */
  acquired(own: Lease): void {
    const e = this.mesh.bySubnet.get(own.subnet.addr);
    if (!e) return;
    const r = e.data as LeaseRef;
    if (r.src !== own || r.srcAttrs !== own.attrs || r.srcSubnet !== own.subnet) this.stale.add(own.subnet.addr);
  }

  private apply(ev: LeaseEvent): void {
    const mesh = this.mesh;
    const from = mesh.journal.length;
    this.lastFrom = this.lastTo = from;
    if (this.broken) return;
    const l = ev.lease;
    const addr = l.subnet.addr;
    this.stale.delete(addr);
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
    const prev = mesh.remove(addr);
    const ref: LeaseRef = { copy: { subnet: { ...l.subnet }, attrs: { ...l.attrs }, expiration: l.expiration }, src: l, srcAttrs: l.attrs, srcSubnet: l.subnet };
    mesh.add(addr, mac, l.attrs.publicIP, this.clock(), ref, prev?.keyStamp);
    this.lastTo = mesh.journal.length;
  }

  /** Every node detaches (taking its copy as of before this event) and handles leases itself from now on. */
  private breakSharing(): void {
    this.broken = true;
    this.mesh.detachAll();
  }

  /**
   * Whether a node with lease `own` can attach now: sharing is on and the mesh holds
   * every lease as the registry has it (a flanneld starting now reads the registry).
   * The registry changes a lease without an event only when its own node re-acquires
   * it (`acquired` records that), so this is O(1).
   */
  canAttach(own: Lease): boolean {
    return !this.broken && this.stale.size === 0 && own.subnet.prefix === this.mesh.prefix;
  }

  /** Attaches `node`'s flannel device; logs the open record (the start-up `addRemote`s, then the events that follow). */
  attach(node: Node, dev: Vxlan, own: Lease, onDetach: () => void): MeshView {
    const view = this.mesh.attach(dev, own.subnet.addr, () => {
      node.closeOpen();
      onDetach();
    });
    node.logOpen(new MeshLogRecord(this, node, view, true, this.mesh.journal.length));
    return view;
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
    const to = rec.open ? j.length : rec.to;
    for (let i = rec.from; i < to; i++) {
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
