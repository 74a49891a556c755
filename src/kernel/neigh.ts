/**
 * The neighbour (ARP) table of one namespace, with the kernel's NUD states and
 * timers (net/core/neighbour.c, net/ipv4/arp.c):
 *
 *  - no entry: create INCOMPLETE, queue the packet, broadcast a request; retry
 *    every retrans_time (1 s) up to mcast_solicit (3) times, then FAILED: the
 *    queued packets are dropped (NEIGH_FAILED) and each sender gets ICMP host
 *    unreachable;
 *  - REACHABLE for a random time in [base_reachable_time/2, 3*base/2)
 *    (15-45 s) after the last confirmation, then STALE;
 *  - a STALE entry used to send goes to DELAY; after delay_first_probe_time
 *    (5 s) it becomes REACHABLE if something confirmed it meanwhile (TCP forward
 *    progress, an ARP reply), else PROBE: unicast requests every 1 s, ucast_solicit
 *    (3) times, then FAILED;
 *  - an ARP request addressed to us creates or refreshes the asker's entry as
 *    STALE (neigh_event_ns), without replacing a valid entry with the same address;
 *  - PERMANENT and NOARP entries never change on their own.
 */
import type { NetDevice } from './device.js';
import type { Skb } from './skb.js';
import { ipToString, macToString } from '../wire/bytes.js';
import { CLAIM_NEIGH, mergeByStamp, nextStamp, type MeshView } from './peer-mesh.js';

export const enum Nud {
  INCOMPLETE = 0x01,
  REACHABLE = 0x02,
  STALE = 0x04,
  DELAY = 0x08,
  PROBE = 0x10,
  FAILED = 0x20,
  NOARP = 0x40,
  PERMANENT = 0x80,
}

export const NUD_NAMES: Record<number, string> = {
  [Nud.INCOMPLETE]: 'INCOMPLETE', [Nud.REACHABLE]: 'REACHABLE', [Nud.STALE]: 'STALE', [Nud.DELAY]: 'DELAY',
  [Nud.PROBE]: 'PROBE', [Nud.FAILED]: 'FAILED', [Nud.NOARP]: 'NOARP', [Nud.PERMANENT]: 'PERMANENT',
};

/** Defaults of net.ipv4.neigh.default.* (ms where the kernel uses ms). */
export const NEIGH_DEFAULTS = {
  baseReachableTime: 30_000_000_000,
  retransTime: 1_000_000_000,
  delayFirstProbeTime: 5_000_000_000,
  mcastSolicit: 3,
  ucastSolicit: 3,
  /** unres_qlen_bytes: SK_WMEM_MAX-ish; packets beyond it are dropped (NEIGH_QUEUEFULL). */
  unresQlenBytes: 212_992,
};

export interface Neigh {
  ip: number;
  dev: NetDevice;
  mac: Uint8Array | null;
  state: Nud;
  /** Time of last confirmation (ns). */
  confirmed: number;
  /** Time of last use (ns). */
  used: number;
  /** Time of last update (ns). */
  updated: number;
  /** When REACHABLE decays to STALE (ns). */
  reachableUntil: number;
  probes: number;
  queue: Skb[];
  queueBytes: number;
  /** Incremented on every state change so stale timers can tell they are stale. */
  gen: number;
}

export function neighKey(dev: NetDevice, ip: number): number {
  // ifindex < 2^20 in any scenario we build; ip < 2^32: fits in 2^52.
  return dev.ifindex * 0x1_0000_0000 + ip;
}

export function formatNeigh(n: Neigh): string {
  const ll = n.mac ? ` lladdr ${macToString(n.mac)}` : '';
  return `${ipToString(n.ip)} dev ${n.dev.name}${ll} ${NUD_NAMES[n.state]}`;
}

/**
 * A namespace's neighbour table: its own entries (a Map by neighKey, in insertion
 * order) and, while a peer mesh is attached (peer-mesh.ts), the mesh's PERMANENT
 * entries on the mesh's device, consulted after the own ones and materialised on
 * use. It has the Map operations the stack and tests use; a change to a shared key
 * detaches the mesh first (copy-on-write).
 */
/** The own entries of a table that has none yet: shared, never written (issue 9: most pods never resolve a neighbour). */
const NO_NEIGHS: ReadonlyMap<number, Neigh> = new Map<number, Neigh>();

export class NeighTable {
  private own = NO_NEIGHS as Map<number, Neigh>;

  /** The own entries' Map, made on the first write. */
  private ownForWrite(): Map<number, Neigh> {
    if (this.own === NO_NEIGHS) this.own = new Map();
    return this.own;
  }
  /** Stamps of the keys added while a mesh is attached (merged listing order). */
  private stamps: Map<number, number> | null = null;
  shared: MeshView | null = null;

  get size(): number {
    return this.own.size + (this.shared ? this.shared.count() : 0);
  }

  /** The mesh entry's address when `k` is a key of the attached mesh not shadowed by an own entry. */
  private sharedIp(k: number): number | undefined {
    const v = this.shared;
    if (!v) return undefined;
    const base = v.dev.ifindex * 0x1_0000_0000;
    if (k < base || k >= base + 0x1_0000_0000) return undefined;
    const ip = k - base;
    return v.entry(ip) ? ip : undefined;
  }

  /**
   * The last two own entries `get` found, by key (-1: none): a namespace sends to one or two
   * next hops at a time, and a key (ifindex · 2^32 + address) is a heap number, slow to hash
   * (issue 9). Every change to the own entries forgets them (`forget`); mesh entries are never
   * kept here (the mesh changes without this table knowing).
   */
  private k0 = -1;
  private n0: Neigh | undefined = undefined;
  private k1 = -1;
  private n1: Neigh | undefined = undefined;

  private forget(): void {
    this.k0 = -1; this.n0 = undefined;
    this.k1 = -1; this.n1 = undefined;
  }

  get(k: number): Neigh | undefined {
    if (k === this.k0) return this.n0;
    if (k === this.k1) return this.n1;
    const n = this.own.get(k);
    if (n !== undefined) {
      this.k1 = this.k0; this.n1 = this.n0;
      this.k0 = k; this.n0 = n;
      return n;
    }
    if (this.shared === null) return n;
    const ip = this.sharedIp(k);
    return ip === undefined ? undefined : this.shared.neigh(ip);
  }

  has(k: number): boolean {
    return this.own.has(k) || this.sharedIp(k) !== undefined;
  }

  /** Whether `k` is an own (not shared) entry. */
  hasOwn(k: number): boolean {
    return this.own.has(k);
  }

  /** Whether `k` is (only) a shared entry: a change to it needs the node's own copy first. */
  isShared(k: number): boolean {
    return !this.own.has(k) && this.sharedIp(k) !== undefined;
  }

  set(k: number, n: Neigh): this {
    this.forget();
    if (this.isShared(k)) this.shared!.detach();
    if (!this.own.has(k) && this.stamps) {
      this.stamps.set(k, nextStamp());
      const v = this.shared!;
      const base = v.dev.ifindex * 0x1_0000_0000;
      if (k >= base && k < base + 0x1_0000_0000) v.claim(CLAIM_NEIGH, k - base);
    }
    this.ownForWrite().set(k, n);
    return this;
  }

  delete(k: number): boolean {
    this.forget();
    if (this.isShared(k)) this.shared!.detach();
    this.stamps?.delete(k);
    return this.own.delete(k);
  }

  /** Deletes the entries on `dev` that `pred` selects (a shared one first detaches the mesh). */
  deleteOnDev(dev: NetDevice, pred: (n: Neigh) => boolean): void {
    this.forget();
    const v = this.shared;
    if (v && v.dev === dev) {
      for (const e of v.mesh.bySubnet.values()) if (e.subnet !== v.own && pred(v.makeNeigh(e))) { v.detach(); break; }
    }
    for (const [k, n] of this.own) if (n.dev === dev && pred(n)) { this.own.delete(k); this.stamps?.delete(k); }
  }

  private merged(v: MeshView): [number, Neigh][] {
    const stamps = this.stamps;
    const base = v.dev.ifindex * 0x1_0000_0000;
    return mergeByStamp(this.own, (k) => stamps?.get(k) ?? 0, v.ordered(), (e) => [base + e.subnet, v.neigh(e.subnet)!]);
  }

  entries(): IterableIterator<[number, Neigh]> {
    return this.shared ? this.merged(this.shared)[Symbol.iterator]() : this.own.entries();
  }

  [Symbol.iterator](): IterableIterator<[number, Neigh]> {
    return this.entries();
  }

  keys(): IterableIterator<number> {
    return this.shared ? this.merged(this.shared).map(([k]) => k)[Symbol.iterator]() : this.own.keys();
  }

  values(): IterableIterator<Neigh> {
    return this.shared ? this.merged(this.shared).map(([, n]) => n)[Symbol.iterator]() : this.own.values();
  }

  attachShared(v: MeshView): void {
    if (this.shared) throw new Error('a neighbour table holds one shared mesh');
    this.forget();
    this.shared = v;
    this.stamps = new Map();
    const base = v.dev.ifindex * 0x1_0000_0000;
    for (const k of this.own.keys()) if (k >= base && k < base + 0x1_0000_0000) v.claim(CLAIM_NEIGH, k - base);
  }

  /** Materialises the mesh's neighbours (the objects already used, else new ones) in listing order. */
  detachShared(v: MeshView): void {
    if (this.shared !== v) return;
    this.forget();
    const merged = this.merged(v);
    const own = this.ownForWrite();
    own.clear();
    for (const [k, n] of merged) own.set(k, n);
    this.shared = null;
    this.stamps = null;
  }
}
