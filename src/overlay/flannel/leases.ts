/**
 * flannel's subnet leases as its etcd subnet manager keeps them
 * (pkg/subnet/etcd local_manager.go, read for behaviour): one key per leased
 * subnet (`10.244.1.0-24`) holding the node's attributes (public IP, backend
 * type and data such as the VTEP MAC), with a TTL of 24 h that the owner
 * renews; an expired lease disappears and every watcher sees it go.
 *
 * Acquiring, in flanneld's order:
 *  1. a lease already held by this public IP is reused (attributes updated,
 *     TTL restarted) — a restarted flanneld keeps its subnet;
 *  2. else the previous subnet (from its old subnet.env) if it fits the
 *     network config and is free;
 *  3. else a random one among the first 100 free subnets from SubnetMin up
 *     ("out of subnets" when there is none) — drawn from the run's PRNG.
 *
 * Times are virtual nanoseconds. Watchers are called synchronously (the
 * caller schedules agent reactions on its own clock).
 */
import type { FlannelConfig } from './config.js';
import { subnetKey } from './config.js';

/** flannel's subnetTTL. */
export const SUBNET_TTL_NS = 24 * 3600 * 1e9;
/** flanneld's --subnet-lease-renew-margin default (60 min): it renews this long before expiry. */
export const RENEW_MARGIN_NS = 60 * 60 * 1e9;

export interface LeaseAttrs {
  publicIP: number;
  backendType: string;
  /** Backend data as flanneld writes it, e.g. {VNI: 1, VtepMAC: "…"} for vxlan. */
  backendData?: Record<string, unknown>;
}

export interface Lease {
  subnet: { addr: number; prefix: number };
  attrs: LeaseAttrs;
  /** Virtual time it expires at. */
  expiration: number;
}

export type LeaseEvent = { type: 'added' | 'removed'; lease: Lease };

export class LeaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseError';
  }
}

export class SubnetRegistry {
  /** By subnet key. */
  private readonly byKey = new Map<string, Lease>();
  private readonly watchers: ((e: LeaseEvent) => void)[] = [];

  constructor(readonly cfg: FlannelConfig, private readonly rand: (n: number) => number) {}

  leases(): Lease[] {
    return [...this.byKey.values()].sort((a, b) => a.subnet.addr - b.subnet.addr);
  }

  get(key: string): Lease | undefined {
    return this.byKey.get(key);
  }

  watch(fn: (e: LeaseEvent) => void): () => void {
    this.watchers.push(fn);
    return () => { const i = this.watchers.indexOf(fn); if (i >= 0) this.watchers.splice(i, 1); };
  }

  /** AcquireLease for a node with `attrs` at `now` (see the header for the order). */
  acquire(now: number, attrs: LeaseAttrs, previous?: { addr: number; prefix: number }): Lease {
    this.expire(now);
    const mine = [...this.byKey.values()].find((l) => l.attrs.publicIP === attrs.publicIP);
    if (mine) {
      if (this.fits(mine.subnet)) {
        mine.attrs = attrs;
        mine.expiration = now + SUBNET_TTL_NS;
        return mine;
      }
      this.remove(subnetKey(mine.subnet.addr, mine.subnet.prefix));
    }
    let subnet = previous && this.fits(previous) && !this.taken(previous) ? previous : undefined;
    if (!subnet) {
      const size = 2 ** (32 - this.cfg.subnetLen);
      const bag: number[] = [];
      for (let a = this.cfg.subnetMin; a <= this.cfg.subnetMax && bag.length < 100; a += size) {
        if (!this.taken({ addr: a, prefix: this.cfg.subnetLen })) bag.push(a);
      }
      if (!bag.length) throw new LeaseError('out of subnets');
      subnet = { addr: bag[this.rand(bag.length)]!, prefix: this.cfg.subnetLen };
    }
    const lease: Lease = { subnet, attrs, expiration: now + SUBNET_TTL_NS };
    this.byKey.set(subnetKey(subnet.addr, subnet.prefix), lease);
    for (const w of this.watchers) w({ type: 'added', lease });
    return lease;
  }

  /** RenewLease: the TTL starts again (a lease that already expired is gone: LeaseError). */
  renew(now: number, lease: Lease): void {
    this.expire(now);
    const key = subnetKey(lease.subnet.addr, lease.subnet.prefix);
    if (this.byKey.get(key) !== lease) throw new LeaseError(`lease ${key} has expired`);
    lease.expiration = now + SUBNET_TTL_NS;
  }

  /** RevokeLease (a node leaving cleanly). */
  revoke(lease: Lease): void {
    this.remove(subnetKey(lease.subnet.addr, lease.subnet.prefix));
  }

  /** Drops the leases whose TTL ran out by `now` (etcd does it on its own clock); returns them. */
  expire(now: number): Lease[] {
    const gone = [...this.byKey.entries()].filter(([, l]) => l.expiration <= now);
    for (const [k] of gone) this.remove(k);
    return gone.map(([, l]) => l);
  }

  /** When the owner renews: RENEW_MARGIN_NS before expiry. */
  static renewAt(lease: Lease): number {
    return lease.expiration - RENEW_MARGIN_NS;
  }

  private remove(key: string): void {
    const l = this.byKey.get(key);
    if (!l) return;
    this.byKey.delete(key);
    for (const w of this.watchers) w({ type: 'removed', lease: l });
  }

  /** isSubnetConfigCompat: inside [SubnetMin, SubnetMax] with the configured length. */
  private fits(s: { addr: number; prefix: number }): boolean {
    return s.prefix === this.cfg.subnetLen && s.addr >= this.cfg.subnetMin && s.addr <= this.cfg.subnetMax;
  }

  private taken(s: { addr: number; prefix: number }): boolean {
    for (const l of this.byKey.values()) {
      const p = Math.min(s.prefix, l.subnet.prefix);
      const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
      if (((s.addr & m) >>> 0) === ((l.subnet.addr & m) >>> 0)) return true;
    }
    return false;
  }
}
