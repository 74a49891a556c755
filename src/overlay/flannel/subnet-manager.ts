/**
 * Where flanneld keeps leases: its two subnet managers (flannel pkg/subnet,
 * read for behaviour), behind one face.
 *
 *  - `kube` (`--kube-subnet-mgr`, what kube-flannel.yml runs): the lease is the
 *    Node object. Its subnet is `spec.podCIDR` (assigned by the node IPAM
 *    controller, never chosen by flanneld: "pod cidr not assigned" when
 *    absent); acquiring patches the node's `flannel.alpha.coreos.com/*`
 *    annotations (backend-type, backend-data, public-ip, kube-subnet-manager);
 *    a node is a lease for the others once those annotations are there, and
 *    its lease goes when the Node object is deleted. There is no TTL: the
 *    lease lives as long as the Node.
 *  - `etcd`: `SubnetRegistry` (leases.ts): subnets chosen by flanneld, 24 h
 *    TTL renewed by the owner; a node that stops renewing loses its lease at
 *    expiry, and only then do the others remove its routes.
 *
 * Both report lease changes to watchers synchronously, in one order.
 */
import type { ObjectStore, WatchEvent } from '../../kube/store.js';
import type { Obj } from '../../kube/object.js';
import { formatCidr4, formatIPv4, parseCidr4, parseIPv4 } from '../../cni/ip4.js';
import type { FlannelConfig } from './config.js';
import { LeaseError, SubnetRegistry, SUBNET_TTL_NS, type Lease, type LeaseAttrs, type LeaseEvent } from './leases.js';

export const ANNOTATION_PREFIX = 'flannel.alpha.coreos.com/';

export interface SubnetManager {
  readonly kind: 'kube' | 'etcd';
  /** AcquireLease for `node` (the Node object's name) at virtual time `now`. Throws LeaseError. */
  acquire(node: string, now: number, attrs: LeaseAttrs): Lease;
  /** RenewLease (etcd); the kube manager has nothing to renew. */
  renew(now: number, lease: Lease): void;
  /** When the owner renews `lease` next, or undefined when it never needs to. */
  renewAt(lease: Lease): number | undefined;
  /** Every current lease, by subnet address. */
  leases(): Lease[];
  watch(fn: (e: LeaseEvent) => void): () => void;
}

export class EtcdSubnetManager implements SubnetManager {
  readonly kind = 'etcd';
  readonly registry: SubnetRegistry;
  /** Each node's last subnet (flanneld reads it back from its old subnet.env on restart). */
  private readonly previous = new Map<string, { addr: number; prefix: number }>();

  /**
   * `clock`: etcd's own clock (the run's scheduler). With it, a lease is deleted when its TTL
   * runs out, as etcd deletes the key, and every watcher sees it then; without it, expired
   * leases are only noticed by the next acquire or renew.
   */
  constructor(cfg: FlannelConfig, rand: (n: number) => number, private readonly clock?: { readonly now: number; at(time: number, fn: () => void): void }) {
    this.registry = new SubnetRegistry(cfg, rand);
  }

  acquire(node: string, now: number, attrs: LeaseAttrs): Lease {
    const l = this.registry.acquire(now, attrs, this.previous.get(node));
    this.previous.set(node, l.subnet);
    this.expireAt(l);
    return l;
  }

  renew(now: number, lease: Lease): void {
    this.registry.renew(now, lease);
    this.expireAt(lease);
  }

  /** Asks the clock to drop the lease at its expiration (a renewal in between moves it on: the check finds it unexpired). */
  private expireAt(lease: Lease): void {
    const c = this.clock;
    if (c) c.at(lease.expiration, () => { this.registry.expire(c.now); });
  }

  renewAt(lease: Lease): number {
    return SubnetRegistry.renewAt(lease);
  }

  leases(): Lease[] {
    return this.registry.leases();
  }

  watch(fn: (e: LeaseEvent) => void): () => void {
    return this.registry.watch(fn);
  }
}

/** The kube subnet manager over the object store's Node objects. */
export class KubeSubnetManager implements SubnetManager {
  readonly kind = 'kube';
  /** Node name → its lease as the watchers last saw it. */
  private readonly byNode = new Map<string, Lease>();
  private readonly watchers: ((e: LeaseEvent) => void)[] = [];

  constructor(private readonly store: ObjectStore, private readonly cfg: FlannelConfig) {
    for (const n of store.list('Node')) this.observe(n, undefined);
    store.watch('Node', (ev) => this.onNode(ev));
  }

  acquire(node: string, now: number, attrs: LeaseAttrs): Lease {
    const obj = this.store.get('Node', undefined, node);
    if (!obj) throw new LeaseError(`failed to get node "${node}": nodes "${node}" not found`);
    const spec = (obj.spec ?? {}) as Obj;
    const cidr = typeof spec.podCIDR === 'string' ? parseCidr4(spec.podCIDR) : null;
    if (!cidr) throw new LeaseError(`node "${node}" pod cidr not assigned`);
    const net = this.cfg.network;
    const mask = net.prefix === 0 ? 0 : (0xffffffff << (32 - net.prefix)) >>> 0;
    if (cidr.prefix < net.prefix || ((cidr.ip & mask) >>> 0) !== net.addr) {
      throw new LeaseError(`node "${node}" pod cidr ${formatCidr4(cidr.ip, cidr.prefix)} is not inside the flannel Network ${formatCidr4(net.addr, net.prefix)}`);
    }
    const meta = obj.metadata as Obj;
    const want: Record<string, string> = {
      [`${ANNOTATION_PREFIX}backend-data`]: attrs.backendData ? JSON.stringify(attrs.backendData) : 'null',
      [`${ANNOTATION_PREFIX}backend-type`]: attrs.backendType,
      [`${ANNOTATION_PREFIX}kube-subnet-manager`]: 'true',
      [`${ANNOTATION_PREFIX}public-ip`]: formatIPv4(attrs.publicIP),
    };
    const have = (meta.annotations ?? {}) as Record<string, string>;
    if (Object.entries(want).some(([k, v]) => have[k] !== v)) {
      // flanneld patches only when something differs (a restart with the same VTEP MAC writes nothing).
      this.store.update({ ...obj, metadata: { ...meta, annotations: { ...have, ...want }, resourceVersion: undefined } });
    }
    const lease = this.byNode.get(node);
    if (!lease) throw new LeaseError(`node "${node}": lease not visible after the annotation patch`);
    // The kube manager's leases carry a nominal expiration (now + 24 h) that nothing enforces.
    lease.expiration = now + SUBNET_TTL_NS;
    return lease;
  }

  renew(): void {}

  renewAt(): undefined {
    return undefined;
  }

  leases(): Lease[] {
    return [...this.byNode.values()].sort((a, b) => a.subnet.addr - b.subnet.addr);
  }

  watch(fn: (e: LeaseEvent) => void): () => void {
    this.watchers.push(fn);
    return () => { const i = this.watchers.indexOf(fn); if (i >= 0) this.watchers.splice(i, 1); };
  }

  private onNode(ev: WatchEvent): void {
    if (ev.type === 'DELETED') {
      const name = String((ev.object.metadata as Obj).name);
      const l = this.byNode.get(name);
      if (l) { this.byNode.delete(name); this.emit({ type: 'removed', lease: l }); }
      return;
    }
    this.observe(ev.object, ev.old);
  }

  /** nodeToLease: a Node with a podCIDR and flannel's annotations is a lease. */
  private observe(n: Obj, old: Obj | undefined): void {
    const name = String((n.metadata as Obj).name);
    const lease = nodeToLease(n);
    const prev = this.byNode.get(name);
    if (!lease) {
      if (prev) { this.byNode.delete(name); this.emit({ type: 'removed', lease: prev }); }
      return;
    }
    if (prev && old && sameLease(prev, lease)) return;
    if (prev) { prev.subnet = lease.subnet; prev.attrs = lease.attrs; this.emit({ type: 'added', lease: prev }); return; }
    this.byNode.set(name, lease);
    this.emit({ type: 'added', lease });
  }

  private emit(e: LeaseEvent): void {
    for (const w of [...this.watchers]) w(e);
  }
}

function nodeToLease(n: Obj): Lease | undefined {
  const meta = n.metadata as Obj;
  const a = (meta.annotations ?? {}) as Record<string, string>;
  const spec = (n.spec ?? {}) as Obj;
  if (a[`${ANNOTATION_PREFIX}kube-subnet-manager`] !== 'true' || typeof spec.podCIDR !== 'string') return undefined;
  const cidr = parseCidr4(spec.podCIDR);
  const pub = parseIPv4(a[`${ANNOTATION_PREFIX}public-ip`] ?? '');
  const type = a[`${ANNOTATION_PREFIX}backend-type`];
  if (!cidr || pub === null || pub === undefined || !type) return undefined;
  let data: Record<string, unknown> | undefined;
  try {
    const d = JSON.parse(a[`${ANNOTATION_PREFIX}backend-data`] ?? 'null') as unknown;
    data = d && typeof d === 'object' ? (d as Record<string, unknown>) : undefined;
  } catch {
    data = undefined;
  }
  return { subnet: { addr: cidr.ip, prefix: cidr.prefix }, attrs: { publicIP: pub, backendType: type, backendData: data }, expiration: Number.POSITIVE_INFINITY };
}

function sameLease(a: Lease, b: Lease): boolean {
  return a.subnet.addr === b.subnet.addr && a.subnet.prefix === b.subnet.prefix && a.attrs.publicIP === b.attrs.publicIP
    && a.attrs.backendType === b.attrs.backendType && JSON.stringify(a.attrs.backendData ?? null) === JSON.stringify(b.attrs.backendData ?? null);
}
