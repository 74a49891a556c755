/**
 * The apiserver's Service allocators: ClusterIPs from the service CIDR and
 * NodePorts (also healthCheckNodePorts) from the node-port range, plus
 * `admitService`, the create-time allocation the Service registry does before
 * it stores the object.
 *
 * Both allocators split their range in two (KEP-3070): a lower "static" band
 * that dynamic allocation avoids until the upper band is full, so that
 * addresses users pick by hand (the DNS service's 10.96.0.10, say) rarely
 * collide with ones handed out at random. Band sizes follow upstream's
 * calculateRangeOffset: min(max(16, size/16), 256) over the CIDR's size for
 * IPs (0 when the CIDR has 16 addresses or fewer), min(max(16, size/32), 128)
 * for ports. A dynamic allocation starts at a random offset in the upper band
 * and scans forward with wrap-around, then does the same in the lower band.
 *
 * Randomness comes only from the injected `rand(n)` (0..n-1): the caller passes
 * the run's seeded PRNG, so allocations repeat exactly for a given seed. Each
 * dynamic allocation draws once for the upper band and, only when that band is
 * full, once more for the lower band.
 */
import { ErrorList } from './errors.js';
import { cidrContains, formatIPv4, parseCidr4, parseIPv4, type Cidr4 } from './ip.js';
import { DEFAULT_NODE_PORT_RANGE, formatPortRange, serviceObject, type Service } from './service.js';

/** Returns an integer in 0..n-1 (n ≥ 1). */
export type Rand = (n: number) => number;

export type AllocResult<T> = { ok: true; value: T } | { ok: false; reason: 'allocated' | 'notInRange' | 'full'; message: string };

/** A bitmap over `max` offsets with the two-band random scan. */
class OffsetMap {
  private readonly used: Uint8Array;
  private count = 0;
  constructor(
    readonly max: number,
    /** Size of the lower, static band. */
    readonly staticBand: number,
    private readonly rand: Rand,
  ) {
    this.used = new Uint8Array(max);
  }
  has(o: number): boolean {
    return this.used[o] === 1;
  }
  take(o: number): boolean {
    if (this.used[o]) return false;
    this.used[o] = 1;
    this.count++;
    return true;
  }
  release(o: number): void {
    if (this.used[o]) {
      this.used[o] = 0;
      this.count--;
    }
  }
  get free(): number {
    return this.max - this.count;
  }
  next(): number | undefined {
    if (this.count >= this.max) return undefined;
    const upper = this.max - this.staticBand;
    if (upper > 0) {
      const start = this.rand(upper);
      for (let i = 0; i < upper; i++) {
        const o = this.staticBand + ((start + i) % upper);
        if (!this.used[o]) return o;
      }
    }
    if (this.staticBand > 0) {
      const start = this.rand(this.staticBand);
      for (let i = 0; i < this.staticBand; i++) {
        const o = (start + i) % this.staticBand;
        if (!this.used[o]) return o;
      }
    }
    return undefined;
  }
}

/** ClusterIPs from an IPv4 service CIDR: network and broadcast addresses are never handed out. */
export class ClusterIPAllocator {
  readonly cidr: Cidr4;
  readonly cidrText: string;
  private readonly map: OffsetMap;
  /** First usable address (offset 0): the `default/kubernetes` Service's ClusterIP. */
  readonly first: number;

  constructor(serviceCIDR: string, rand: Rand) {
    const c = parseCidr4(serviceCIDR);
    if (!c) throw new Error(`invalid service CIDR ${JSON.stringify(serviceCIDR)}`);
    this.cidr = c;
    this.cidrText = `${formatIPv4(c.base)}/${c.prefix}`;
    const usable = Math.max(0, c.size - 2);
    this.first = c.base + 1;
    this.map = new OffsetMap(usable, ClusterIPAllocator.staticBandSize(c.size), rand);
  }

  /** The lower band's size for a CIDR of `size` addresses (upstream's calculateRangeOffset). */
  static staticBandSize(size: number): number {
    if (size <= 16) return 0;
    return Math.min(Math.max(16, Math.floor(size / 16)), 256);
  }

  get staticBand(): number {
    return this.map.staticBand;
  }
  /** Usable addresses left. */
  get free(): number {
    return this.map.free;
  }
  /** The first usable address as text (10.96.0.1 for 10.96.0.0/12): what `default/kubernetes` gets. */
  get firstText(): string {
    return formatIPv4(this.first);
  }

  private offset(ip: string): number | undefined {
    const n = parseIPv4(ip);
    if (n === undefined || !cidrContains(this.cidr, n)) return undefined;
    const o = n - this.first;
    return o >= 0 && o < this.map.max ? o : undefined;
  }

  /** Reserves a specific address. */
  allocate(ip: string): AllocResult<string> {
    const o = this.offset(ip);
    if (o === undefined)
      return { ok: false, reason: 'notInRange', message: `provided IP is not in the valid range. The range of valid IPs is ${this.cidrText}` };
    if (!this.map.take(o)) return { ok: false, reason: 'allocated', message: 'provided IP is already allocated' };
    return { ok: true, value: ip };
  }

  /** Reserves a free address, dynamic band first. */
  allocateNext(): AllocResult<string> {
    const o = this.map.next();
    if (o === undefined) return { ok: false, reason: 'full', message: 'range is full' };
    this.map.take(o);
    return { ok: true, value: formatIPv4(this.first + o) };
  }

  has(ip: string): boolean {
    const o = this.offset(ip);
    return o !== undefined && this.map.has(o);
  }

  /** Releasing an address not allocated or out of range is a no-op. */
  release(ip: string): void {
    const o = this.offset(ip);
    if (o !== undefined) this.map.release(o);
  }
}

/** NodePorts (and healthCheckNodePorts) from a port range, default 30000-32767. */
export class NodePortAllocator {
  readonly range: { base: number; size: number };
  private readonly map: OffsetMap;

  constructor(rand: Rand, range: { base: number; size: number } = DEFAULT_NODE_PORT_RANGE) {
    this.range = { base: range.base, size: range.size };
    this.map = new OffsetMap(range.size, NodePortAllocator.staticBandSize(range.size), rand);
  }

  static staticBandSize(size: number): number {
    if (size <= 16) return 0;
    return Math.min(Math.max(16, Math.floor(size / 32)), 128);
  }

  get staticBand(): number {
    return this.map.staticBand;
  }
  get free(): number {
    return this.map.free;
  }

  private offset(port: number): number | undefined {
    const o = port - this.range.base;
    return Number.isInteger(port) && o >= 0 && o < this.range.size ? o : undefined;
  }

  allocate(port: number): AllocResult<number> {
    const o = this.offset(port);
    if (o === undefined)
      return {
        ok: false,
        reason: 'notInRange',
        message: `provided port is not in the valid range. The range of valid ports is ${formatPortRange(this.range)}`,
      };
    if (!this.map.take(o)) return { ok: false, reason: 'allocated', message: 'provided port is already allocated' };
    return { ok: true, value: port };
  }

  allocateNext(): AllocResult<number> {
    const o = this.map.next();
    if (o === undefined) return { ok: false, reason: 'full', message: 'range is full' };
    this.map.take(o);
    return { ok: true, value: this.range.base + o };
  }

  has(port: number): boolean {
    const o = this.offset(port);
    return o !== undefined && this.map.has(o);
  }

  release(port: number): void {
    const o = this.offset(port);
    if (o !== undefined) this.map.release(o);
  }
}

export interface ServiceAllocators {
  clusterIPs: ClusterIPAllocator;
  nodePorts: NodePortAllocator;
}

/**
 * Create-time allocation, as the Service registry does it: the ClusterIP
 * (unless headless or ExternalName), a NodePort for every port of a NodePort
 * or LoadBalancer service (LoadBalancer only while allocateLoadBalancerNodePorts
 * is true; given nodePorts are always reserved), and a healthCheckNodePort for
 * a LoadBalancer with externalTrafficPolicy Local. Ports that share a port
 * number (TCP and UDP 53, say) share one NodePort. On any error everything
 * this call reserved is released again, and nothing is returned.
 *
 * Returns the Service with the allocated values filled in; its `body` is the
 * object as the apiserver would store it (serviceObject).
 */
export function admitService(svc: Service, allocators: ServiceAllocators): { value?: Service; errors: ErrorList } {
  const errs = new ErrorList();
  const undo: (() => void)[] = [];
  const fail = () => {
    for (const u of undo.reverse()) u();
    return { errors: errs };
  };

  let clusterIP = svc.clusterIP;
  if (svc.type !== 'ExternalName' && !svc.headless) {
    const { clusterIPs: ipa } = allocators;
    if (clusterIP !== '') {
      const r = ipa.allocate(clusterIP);
      if (!r.ok) {
        errs.invalid(['spec', 'clusterIPs', 0], clusterIP, r.message);
        return fail();
      }
    } else {
      const r = ipa.allocateNext();
      if (!r.ok) {
        errs.internal(['spec', 'clusterIPs'], `failed to allocate a serviceIP: ${r.message}`);
        return fail();
      }
      clusterIP = r.value;
    }
    const ip = clusterIP;
    undo.push(() => ipa.release(ip));
  }

  const npa = allocators.nodePorts;
  const reserve = (port: number): ReturnType<NodePortAllocator['allocate']> => {
    const r = npa.allocate(port);
    if (r.ok) undo.push(() => npa.release(port));
    return r;
  };
  const ports = svc.ports.map((p) => ({ ...p }));
  const wantNodePorts = svc.type === 'NodePort' || (svc.type === 'LoadBalancer' && svc.allocateLoadBalancerNodePorts !== false);
  if (svc.type === 'NodePort' || svc.type === 'LoadBalancer') {
    const byPort = new Map<number, number>();
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i];
      if (p.nodePort === undefined && !wantNodePorts) continue; // honour requests, allocate nothing new
      const shared = byPort.get(p.port);
      if (shared === undefined) {
        // A later port with the same number may carry the user's choice: use it for both.
        const requested = p.nodePort ?? ports.find((q) => q.port === p.port && q.nodePort !== undefined)?.nodePort;
        if (requested !== undefined) {
          const r = reserve(requested);
          if (!r.ok) {
            errs.invalid(['spec', 'ports', i, 'nodePort'], requested, r.message);
            return fail();
          }
          p.nodePort = requested;
        } else {
          const r = npa.allocateNext();
          if (!r.ok) {
            errs.internal(['spec', 'ports', i, 'nodePort'], `failed to allocate a nodePort: ${r.message}`);
            return fail();
          }
          const np = r.value;
          undo.push(() => npa.release(np));
          p.nodePort = np;
        }
        byPort.set(p.port, p.nodePort);
      } else if (p.nodePort === undefined) p.nodePort = shared;
      else if (p.nodePort !== shared) {
        const r = reserve(p.nodePort);
        if (!r.ok) {
          errs.invalid(['spec', 'ports', i, 'nodePort'], p.nodePort, r.message);
          return fail();
        }
      }
    }
  }

  let healthCheckNodePort = svc.healthCheckNodePort;
  if (svc.type === 'LoadBalancer' && svc.externalTrafficPolicy === 'Local') {
    if (healthCheckNodePort !== undefined) {
      const r = reserve(healthCheckNodePort);
      if (!r.ok) {
        errs.invalid(
          ['spec', 'healthCheckNodePort'],
          healthCheckNodePort,
          `failed to allocate requested HealthCheck NodePort ${healthCheckNodePort}: ${r.message}`,
        );
        return fail();
      }
    } else {
      const r = npa.allocateNext();
      if (!r.ok) {
        errs.internal(['spec', 'healthCheckNodePort'], `failed to allocate a HealthCheck NodePort: ${r.message}`);
        return fail();
      }
      const np = r.value;
      undo.push(() => npa.release(np));
      healthCheckNodePort = np;
    }
  }

  const out: Service = {
    ...svc,
    clusterIP,
    clusterIPs: svc.type === 'ExternalName' ? [] : [clusterIP],
    ports,
    ...(healthCheckNodePort !== undefined ? { healthCheckNodePort } : {}),
  };
  out.body = serviceObject(out);
  return { value: out, errors: errs };
}

/** Releases what admitService reserved for `svc` (on delete). */
export function releaseService(svc: Service, allocators: ServiceAllocators): void {
  if (svc.type !== 'ExternalName' && !svc.headless && svc.clusterIP !== '') allocators.clusterIPs.release(svc.clusterIP);
  const seen = new Set<number>();
  for (const p of svc.ports) {
    if (p.nodePort !== undefined && !seen.has(p.nodePort)) {
      seen.add(p.nodePort);
      allocators.nodePorts.release(p.nodePort);
    }
  }
  if (svc.healthCheckNodePort !== undefined) allocators.nodePorts.release(svc.healthCheckNodePort);
}
