/**
 * host-local IPAM, as containernetworking/plugins `plugins/ipam/host-local`
 * does it (IPv4 only here):
 *
 * - Each range set (`ranges[i]`) yields one address; a range set is a list of
 *   non-overlapping ranges tried in order.
 * - A range's `subnet` must be a network address; /31 and /32 are refused
 *   ("too small to allocate from"). `gateway` defaults to network+1,
 *   `rangeStart` to network+1, `rangeEnd` to broadcast−1. The gateway is
 *   never handed out (the iterator skips it; requesting it is an error).
 * - Allocation is round-robin: it resumes at `last_reserved_ip.<set index>` + 1,
 *   walks to rangeEnd, continues at the next range's rangeStart (wrapping to
 *   the first range), and gives up when it is back where it began. On a fresh
 *   store (or when the last reserved IP no longer lies in the set) it starts
 *   at the first range's rangeStart.
 * - The store (`/var/lib/cni/networks/<name>/`) holds one entry per reserved
 *   IP containing `containerID\r\nifname`, plus `last_reserved_ip.<n>` and a
 *   `lock` file. Release (DEL) removes every entry of containerID+ifname;
 *   `last_reserved_ip` is left alone, so a released IP is not reused at once.
 *
 * Errors are thrown as `HostLocalError` with the plugin's message text.
 */
import type { HostLocalIpamConfig, IpamRangeConfig, IpamRouteConfig } from './conflist.js';
import { formatCidr4, formatIPv4, networkOf, parseCidr4, parseIPv4, broadcastOf } from './ip4.js';

export class HostLocalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostLocalError';
  }
}

/** A range with every default filled in (Range.Canonicalize). */
export interface Range4 {
  subnet: number;
  prefix: number;
  rangeStart: number;
  rangeEnd: number;
  gateway: number;
}

/** Thrown by `canonicalizeRange`; `field` names the offending key. */
export class RangeConfigError extends Error {
  constructor(
    readonly field: keyof IpamRangeConfig,
    message: string,
  ) {
    super(message);
    this.name = 'RangeConfigError';
  }
}

function rangeContains(r: { subnet: number; prefix: number; rangeStart?: number; rangeEnd?: number }, ip: number): boolean {
  if (networkOf(ip, r.prefix) !== r.subnet) return false;
  if (r.rangeStart !== undefined && ip < r.rangeStart) return false;
  if (r.rangeEnd !== undefined && ip > r.rangeEnd) return false;
  return true;
}

/** Range.Canonicalize: validate and fill defaults. */
export function canonicalizeRange(r: IpamRangeConfig): Range4 {
  const c = parseCidr4(r.subnet);
  if (!c) throw new RangeConfigError('subnet', `invalid CIDR address: ${r.subnet}`);
  if (c.prefix > 30) {
    throw new RangeConfigError('subnet', `Network ${formatCidr4(networkOf(c.ip, c.prefix), c.prefix)} too small to allocate from`);
  }
  const net = networkOf(c.ip, c.prefix);
  if (net !== c.ip) {
    throw new RangeConfigError(
      'subnet',
      `Network has host bits set. For a subnet mask of length ${c.prefix} the network address is ${formatIPv4(net)}`,
    );
  }
  const partial: { subnet: number; prefix: number; rangeStart?: number; rangeEnd?: number } = { subnet: net, prefix: c.prefix };
  const ip = (field: 'gateway' | 'rangeStart' | 'rangeEnd'): number | undefined => {
    const s = r[field];
    if (s === undefined) return undefined;
    const v = parseIPv4(s);
    if (v === null) throw new RangeConfigError(field, `invalid IP address: ${s}`);
    return v;
  };
  const gateway = ip('gateway') ?? (net + 1) >>> 0;
  const start = ip('rangeStart');
  if (start !== undefined && !rangeContains(partial, start)) {
    throw new RangeConfigError('rangeStart', `RangeStart ${formatIPv4(start)} not in network ${formatCidr4(net, c.prefix)}`);
  }
  partial.rangeStart = start ?? (net + 1) >>> 0;
  const end = ip('rangeEnd');
  if (end !== undefined && !rangeContains(partial, end)) {
    throw new RangeConfigError('rangeEnd', `RangeEnd ${formatIPv4(end)} not in network ${formatCidr4(net, c.prefix)}`);
  }
  // podwire is stricter than the plugin here: with rangeEnd < rangeStart the
  // plugin's iterator never meets rangeEnd and walks out of the subnet.
  if (end !== undefined && end < partial.rangeStart) {
    throw new RangeConfigError('rangeEnd', `RangeEnd ${formatIPv4(end)} is before RangeStart ${formatIPv4(partial.rangeStart)}`);
  }
  const rangeEnd = end ?? (broadcastOf(net, c.prefix) - 1) >>> 0;
  return { subnet: net, prefix: c.prefix, rangeStart: partial.rangeStart, rangeEnd, gateway };
}

export function rangeString(r: Range4): string {
  return `${formatIPv4(r.rangeStart)}-${formatIPv4(r.rangeEnd)}`;
}

export function rangeSetString(set: readonly Range4[]): string {
  return set.map(rangeString).join(',');
}

export function rangeSetContains(set: readonly Range4[], ip: number): Range4 | undefined {
  return set.find((r) => rangeContains(r, ip));
}

function rangesOverlap(a: Range4, b: Range4): boolean {
  return rangeContains(a, b.rangeStart) || rangeContains(a, b.rangeEnd) || rangeContains(b, a.rangeStart) || rangeContains(b, a.rangeEnd);
}

/** Thrown by `canonicalizeRanges`: which set/range and the plugin message. */
export class RangeSetConfigError extends Error {
  constructor(
    readonly setIndex: number,
    readonly rangeIndex: number | undefined,
    readonly field: keyof IpamRangeConfig | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'RangeSetConfigError';
  }
}

/** LoadIPAMConfig's range checks: canonicalize each set, no overlap inside a set or between sets. */
export function canonicalizeRanges(sets: readonly (readonly IpamRangeConfig[])[]): Range4[][] {
  if (sets.length === 0) throw new RangeSetConfigError(0, undefined, undefined, 'no IP ranges specified');
  const out: Range4[][] = [];
  sets.forEach((set, si) => {
    if (set.length === 0) throw new RangeSetConfigError(si, undefined, undefined, `invalid range set ${si}: empty range set`);
    const rs = set.map((r, ri) => {
      try {
        return canonicalizeRange(r);
      } catch (e) {
        if (e instanceof RangeConfigError) throw new RangeSetConfigError(si, ri, e.field, `invalid range set ${si}: ${e.message}`);
        throw e;
      }
    });
    for (let a = 0; a < rs.length; a++) {
      for (let b = a + 1; b < rs.length; b++) {
        if (rangesOverlap(rs[a], rs[b])) {
          throw new RangeSetConfigError(si, b, undefined, `invalid range set ${si}: subnets ${rangeString(rs[a])} and ${rangeString(rs[b])} overlap`);
        }
      }
    }
    out.push(rs);
  });
  for (let a = 0; a < out.length; a++) {
    for (let b = a + 1; b < out.length; b++) {
      if (out[a].some((ra) => out[b].some((rb) => rangesOverlap(ra, rb)))) {
        throw new RangeSetConfigError(b, undefined, undefined, `range set ${a} overlaps with ${b}`);
      }
    }
  }
  return out;
}

interface Holder {
  containerID: string;
  ifName: string;
}

/**
 * What `/var/lib/cni/networks/<network>/` holds on one node, as a map. Mutated
 * only by `HostLocalIpam`.
 */
export class HostLocalStore {
  /** Reserved IP (u32) → holder; kept in insertion order. */
  readonly reserved = new Map<number, Holder>();
  /** Range-set index → last reserved IP. */
  readonly lastReserved = new Map<number, number>();
  constructor(
    readonly network: string,
    readonly dataDir: string = DEFAULT_DATA_DIR,
  ) {}

  get dir(): string {
    return `${this.dataDir.replace(/\/+$/, '')}/${this.network}`;
  }

  /** Store.Reserve: false when the IP's file already exists. */
  reserve(containerID: string, ifName: string, ip: number, rangeID: number): boolean {
    if (this.reserved.has(ip)) return false;
    this.reserved.set(ip, { containerID: containerID.trim(), ifName });
    this.lastReserved.set(rangeID, ip);
    return true;
  }

  getByID(containerID: string, ifName: string): number[] {
    const id = containerID.trim();
    return [...this.reserved].filter(([, h]) => h.containerID === id && h.ifName === ifName).map(([ip]) => ip);
  }

  releaseByID(containerID: string, ifName: string): number[] {
    const ips = this.getByID(containerID, ifName);
    for (const ip of ips) this.reserved.delete(ip);
    return ips;
  }

  /** Who holds an IP, if anyone. */
  holder(ip: string): Holder | undefined {
    const v = parseIPv4(ip);
    return v === null ? undefined : this.reserved.get(v);
  }

  /** The directory's files: full path → content, sorted by path. */
  files(): Record<string, string> {
    const entries: [string, string][] = [[`${this.dir}/lock`, '']];
    for (const [ip, h] of this.reserved) entries.push([`${this.dir}/${formatIPv4(ip)}`, `${h.containerID}\r\n${h.ifName}`]);
    for (const [id, ip] of this.lastReserved) entries.push([`${this.dir}/last_reserved_ip.${id}`, formatIPv4(ip)]);
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return Object.fromEntries(entries);
  }
}

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

/** One node's host-local state: every network directory under every dataDir. */
export class HostLocalDisk {
  private readonly stores = new Map<string, HostLocalStore>();
  store(network: string, dataDir: string = DEFAULT_DATA_DIR): HostLocalStore {
    const s = new HostLocalStore(network, dataDir);
    const existing = this.stores.get(s.dir);
    if (existing) return existing;
    this.stores.set(s.dir, s);
    return s;
  }
  files(): Record<string, string> {
    const all: Record<string, string> = {};
    for (const s of this.stores.values()) Object.assign(all, s.files());
    return Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

/** An IP config in IPAM's result: address with the subnet prefix, and the range's gateway. */
export interface IpamIPConfig {
  /** "10.244.1.2/24" */
  address: string;
  gateway: string;
}

export interface IpamResult {
  ips: IpamIPConfig[];
  routes: IpamRouteConfig[];
  dns: Record<string, never>;
}

export interface IpamArgs {
  containerID: string;
  ifName: string;
  /** Requested IPs (CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips; podwire's `podwire/ip` annotation). */
  ips?: readonly string[];
}

/** One range set's allocator (IPAllocator). */
class Allocator {
  constructor(
    private readonly set: Range4[],
    private readonly store: HostLocalStore,
    private readonly rangeID: number,
  ) {}

  get(containerID: string, ifName: string, requested: number | undefined): IpamIPConfig {
    if (requested !== undefined) {
      const r = rangeSetContains(this.set, requested);
      if (!r) throw new HostLocalError(`${formatIPv4(requested)} not in range set ${rangeSetString(this.set)}`);
      if (requested === r.gateway) throw new HostLocalError(`requested ip ${formatIPv4(requested)} is subnet's gateway`);
      if (!this.store.reserve(containerID, ifName, requested, this.rangeID)) {
        throw new HostLocalError(`requested IP address ${formatIPv4(requested)} is not available in range set ${rangeSetString(this.set)}`);
      }
      return { address: formatCidr4(requested, r.prefix), gateway: formatIPv4(r.gateway) };
    }
    for (const ip of this.store.getByID(containerID, ifName)) {
      if (rangeSetContains(this.set, ip)) {
        throw new HostLocalError(`${formatIPv4(ip)} has been allocated to ${containerID}, duplicate allocation is not allowed`);
      }
    }
    for (const [ip, r] of this.iterate()) {
      if (this.store.reserve(containerID, ifName, ip, this.rangeID)) {
        return { address: formatCidr4(ip, r.prefix), gateway: formatIPv4(r.gateway) };
      }
    }
    throw new HostLocalError(`no IP addresses available in range set: ${rangeSetString(this.set)}`);
  }

  /** RangeIter: candidate IPs in round-robin order, gateway skipped. */
  *iterate(): Generator<[number, Range4]> {
    const set = this.set;
    const last = this.store.lastReserved.get(this.rangeID);
    let idx = 0;
    let cur: number | undefined;
    let startIP: number | undefined;
    const lastRange = last === undefined ? -1 : set.findIndex((r) => rangeContains(r, last));
    if (lastRange >= 0) {
      idx = lastRange;
      cur = last;
    } else {
      startIP = set[0].rangeStart;
    }
    for (;;) {
      let r = set[idx];
      if (cur === undefined) {
        cur = r.rangeStart;
        startIP = cur;
      } else {
        if (cur === r.rangeEnd) {
          idx = (idx + 1) % set.length;
          r = set[idx];
          cur = r.rangeStart;
        } else {
          cur = (cur + 1) >>> 0;
        }
        if (startIP === undefined) startIP = cur;
        else if (cur === startIP) return;
      }
      if (cur !== r.gateway) yield [cur, r];
    }
  }
}

/**
 * host-local for one network on one node: `add` is `CNI_COMMAND=ADD`, `del`
 * is `DEL`. The configuration is re-read (canonicalized) on every call, as the
 * plugin re-reads stdin.
 */
export class HostLocalIpam {
  readonly store: HostLocalStore;
  constructor(
    readonly networkName: string,
    readonly conf: HostLocalIpamConfig,
    disk: HostLocalDisk = new HostLocalDisk(),
  ) {
    this.store = disk.store(networkName, conf.dataDir ?? DEFAULT_DATA_DIR);
  }

  private sets(): Range4[][] {
    try {
      return canonicalizeRanges(this.conf.ranges);
    } catch (e) {
      if (e instanceof RangeSetConfigError) throw new HostLocalError(e.message);
      throw e;
    }
  }

  add(args: IpamArgs): IpamResult {
    const sets = this.sets();
    const requested = new Map<string, number>();
    for (const s of args.ips ?? []) {
      const v = parseIPv4(s.includes('/') ? s.slice(0, s.indexOf('/')) : s);
      if (v === null) throw new HostLocalError(`cannot understand ip: ${s}`);
      requested.set(formatIPv4(v), v);
    }
    const done: Allocator[] = [];
    const ips: IpamIPConfig[] = [];
    sets.forEach((set, idx) => {
      const alloc = new Allocator(set, this.store, idx);
      let want: number | undefined;
      for (const [k, v] of requested) {
        if (rangeSetContains(set, v)) {
          want = v;
          requested.delete(k);
          break;
        }
      }
      try {
        ips.push(alloc.get(args.containerID, args.ifName, want));
      } catch (e) {
        if (done.length > 0) this.store.releaseByID(args.containerID, args.ifName);
        throw new HostLocalError(`failed to allocate for range ${idx}: ${(e as Error).message}`);
      }
      done.push(alloc);
    });
    if (requested.size > 0) {
      this.store.releaseByID(args.containerID, args.ifName);
      throw new HostLocalError(`failed to allocate all requested IPs: ${[...requested.keys()].join(' ')}`);
    }
    return { ips, routes: this.conf.routes.map((r) => ({ ...r })), dns: {} };
  }

  /** Release every IP of containerID+ifName (no error when there is none). Returns the released IPs. */
  del(args: { containerID: string; ifName: string }): string[] {
    this.sets();
    return this.store.releaseByID(args.containerID, args.ifName).map(formatIPv4);
  }

  files(): Record<string, string> {
    return this.store.files();
  }
}
