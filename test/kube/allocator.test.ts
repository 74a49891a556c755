import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { admitService, ClusterIPAllocator, NodePortAllocator, releaseService, type Rand } from '../../src/kube/allocator.js';
import { fieldErrorMessage } from '../../src/kube/errors.js';
import { formatIPv4, parseIPv4 } from '../../src/kube/ip.js';
import { validateService } from '../../src/kube/service.js';

/** A small deterministic PRNG (LCG) standing in for the run's Rng. */
function lcg(seed: number): Rand {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

describe('ClusterIPAllocator', () => {
  it('static band sizes follow calculateRangeOffset', () => {
    expect(ClusterIPAllocator.staticBandSize(2 ** 20)).toBe(256); // /12
    expect(ClusterIPAllocator.staticBandSize(2 ** 16)).toBe(256); // /16: 4096 capped
    expect(ClusterIPAllocator.staticBandSize(4096)).toBe(256); // /20
    expect(ClusterIPAllocator.staticBandSize(1024)).toBe(64); // /22
    expect(ClusterIPAllocator.staticBandSize(256)).toBe(16); // /24
    expect(ClusterIPAllocator.staticBandSize(32)).toBe(16); // /27: min 16
    expect(ClusterIPAllocator.staticBandSize(16)).toBe(0); // /28
    expect(NodePortAllocator.staticBandSize(2768)).toBe(86);
    expect(NodePortAllocator.staticBandSize(10000)).toBe(128);
  });
  it('first usable address is the kubernetes service IP; network and broadcast are out of range', () => {
    const a = new ClusterIPAllocator('10.96.0.0/12', lcg(1));
    expect(a.firstText).toBe('10.96.0.1');
    expect(a.allocate('10.96.0.1')).toEqual({ ok: true, value: '10.96.0.1' });
    expect(a.allocate('10.96.0.10')).toEqual({ ok: true, value: '10.96.0.10' });
    expect(a.allocate('10.96.0.10')).toEqual({ ok: false, reason: 'allocated', message: 'provided IP is already allocated' });
    for (const ip of ['10.96.0.0', '10.111.255.255', '10.112.0.1', 'x'])
      expect(a.allocate(ip)).toEqual({ ok: false, reason: 'notInRange', message: 'provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12' });
    a.release('10.96.0.10');
    expect(a.has('10.96.0.10')).toBe(false);
    expect(a.allocate('10.96.0.10').ok).toBe(true);
  });
  it('dynamic allocation avoids the static band until the upper band is full, then falls back', () => {
    const a = new ClusterIPAllocator('10.0.0.0/27', lcg(7)); // 30 usable, static 16, upper 14
    const got: number[] = [];
    for (let i = 0; i < 14; i++) got.push(parseIPv4((a.allocateNext() as { value: string }).value)! - parseIPv4('10.0.0.1')!);
    expect(got.every((o) => o >= 16)).toBe(true);
    expect(new Set(got).size).toBe(14);
    for (let i = 0; i < 16; i++) {
      const r = a.allocateNext();
      expect(r.ok).toBe(true);
      expect(parseIPv4((r as { value: string }).value)! - parseIPv4('10.0.0.1')!).toBeLessThan(16);
    }
    expect(a.allocateNext()).toEqual({ ok: false, reason: 'full', message: 'range is full' });
    expect(a.free).toBe(0);
  });
  it('is deterministic for a given rand and never hands out an address twice (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 22, max: 30 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 60 }), (seed, prefix, ops) => {
        const run = () => {
          const a = new ClusterIPAllocator(`10.96.0.0/${prefix}`, lcg(seed));
          const held: string[] = [];
          const log: string[] = [];
          for (const op of ops) {
            if (op < 3 || held.length === 0) {
              const r = a.allocateNext();
              log.push(r.ok ? r.value : r.reason);
              if (r.ok) {
                expect(held).not.toContain(r.value);
                const n = parseIPv4(r.value)!;
                expect(n).toBeGreaterThan(parseIPv4('10.96.0.0')!);
                expect(n).toBeLessThan(parseIPv4('10.96.0.0')! + 2 ** (32 - prefix) - 1);
                held.push(r.value);
              }
            } else {
              a.release(held.shift()!);
            }
          }
          return log;
        };
        expect(run()).toEqual(run());
      }),
    );
  });
});

describe('NodePortAllocator', () => {
  it('allocates from 30000-32767 with the apiserver messages', () => {
    const a = new NodePortAllocator(lcg(3));
    expect(a.allocate(30080)).toEqual({ ok: true, value: 30080 });
    expect(a.allocate(30080)).toEqual({ ok: false, reason: 'allocated', message: 'provided port is already allocated' });
    expect(a.allocate(80)).toEqual({ ok: false, reason: 'notInRange', message: 'provided port is not in the valid range. The range of valid ports is 30000-32767' });
    const r = a.allocateNext();
    expect(r.ok && r.value >= 30086 && r.value <= 32767).toBe(true);
  });
});

const svc = (spec: Record<string, unknown>) => validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec } }).value!;

describe('admitService', () => {
  const allocs = (seed = 1) => ({ clusterIPs: new ClusterIPAllocator('10.96.0.0/12', lcg(seed)), nodePorts: new NodePortAllocator(lcg(seed + 1)) });
  it('allocates a ClusterIP from the dynamic band and writes it into the stored object', () => {
    const a = allocs();
    const r = admitService(svc({}), a);
    expect(r.errors.errors).toEqual([]);
    const v = r.value!;
    const off = parseIPv4(v.clusterIP)! - parseIPv4('10.96.0.1')!;
    expect(off).toBeGreaterThanOrEqual(256);
    expect(v.clusterIPs).toEqual([v.clusterIP]);
    expect((v.body.spec as Record<string, unknown>).clusterIP).toBe(v.clusterIP);
    expect((v.body.spec as Record<string, unknown>).clusterIPs).toEqual([v.clusterIP]);
    expect(a.clusterIPs.has(v.clusterIP)).toBe(true);
  });
  it('reserves a given ClusterIP; a clash is a field error and nothing stays reserved', () => {
    const a = allocs();
    expect(admitService(svc({ clusterIP: '10.96.0.10' }), a).value?.clusterIP).toBe('10.96.0.10');
    const r = admitService(svc({ clusterIP: '10.96.0.10', type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }), a);
    expect(r.errors.errors.map(fieldErrorMessage)).toEqual(['spec.clusterIPs[0]: Invalid value: "10.96.0.10": provided IP is already allocated']);
    expect(a.nodePorts.has(30080)).toBe(false);
    expect(admitService(svc({ clusterIP: '10.0.0.10' }), a).errors.errors.map(fieldErrorMessage)).toEqual([
      'spec.clusterIPs[0]: Invalid value: "10.0.0.10": provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12',
    ]);
  });
  it('headless and ExternalName get no ClusterIP', () => {
    const a = allocs();
    expect(admitService(svc({ clusterIP: 'None' }), a).value).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'] });
    const e = admitService(svc({ type: 'ExternalName', externalName: 'x.example.com' }), a).value!;
    expect(e.clusterIP).toBe('');
    expect((e.body.spec as Record<string, unknown>).clusterIP).toBeUndefined();
    expect(a.clusterIPs.free).toBe(2 ** 20 - 2);
  });
  it('NodePorts: allocated per port, shared by ports with the same number, user choices reserved', () => {
    const a = allocs();
    const v = admitService(
      svc({
        type: 'NodePort',
        ports: [
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
          { name: 'http', port: 80, nodePort: 30080 },
        ],
      }),
      a,
    ).value!;
    expect(v.ports[0].nodePort).toBe(v.ports[1].nodePort);
    expect(v.ports[0].nodePort).toBeGreaterThanOrEqual(30086);
    expect(v.ports[2].nodePort).toBe(30080);
    const r = admitService(svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }), a);
    expect(r.errors.errors.map(fieldErrorMessage)).toEqual(['spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated']);
    // The failed create gave its ClusterIP back.
    expect(a.clusterIPs.free).toBe(2 ** 20 - 2 - 1);
    releaseService(v, a);
    expect(a.nodePorts.has(30080)).toBe(false);
    expect(a.clusterIPs.free).toBe(2 ** 20 - 2);
  });
  it('a later port with the same number carries the requested nodePort for both', () => {
    const v = admitService(svc({ type: 'NodePort', ports: [{ name: 'a', port: 53, protocol: 'UDP' }, { name: 'b', port: 53, nodePort: 30053 }] }), allocs()).value!;
    expect(v.ports.map((p) => p.nodePort)).toEqual([30053, 30053]);
  });
  it('LoadBalancer: nodePorts unless allocateLoadBalancerNodePorts is false; healthCheckNodePort for Local', () => {
    const a = allocs();
    const lb = admitService(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local' }), a).value!;
    expect(lb.ports[0].nodePort).toBeDefined();
    expect(lb.healthCheckNodePort).toBeDefined();
    expect(lb.healthCheckNodePort).not.toBe(lb.ports[0].nodePort);
    expect((lb.body.spec as Record<string, unknown>).healthCheckNodePort).toBe(lb.healthCheckNodePort);
    const no = admitService(svc({ type: 'LoadBalancer', allocateLoadBalancerNodePorts: false }), a).value!;
    expect(no.ports[0].nodePort).toBeUndefined();
    expect(no.healthCheckNodePort).toBeUndefined();
    const given = admitService(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: lb.healthCheckNodePort }), a);
    expect(given.errors.errors.map(fieldErrorMessage)).toEqual([
      `spec.healthCheckNodePort: Invalid value: ${lb.healthCheckNodePort}: failed to allocate requested HealthCheck NodePort ${lb.healthCheckNodePort}: provided port is already allocated`,
    ]);
  });
  it('a full range is an internal error', () => {
    const a = { clusterIPs: new ClusterIPAllocator('10.96.0.0/30', lcg(1)), nodePorts: new NodePortAllocator(lcg(2)) };
    expect(admitService(svc({}), a).value).toBeDefined();
    expect(admitService(svc({}), a).value).toBeDefined();
    expect(admitService(svc({}), a).errors.errors.map(fieldErrorMessage)).toEqual(['spec.clusterIPs: Internal error: failed to allocate a serviceIP: range is full']);
    expect(formatIPv4(a.clusterIPs.first)).toBe('10.96.0.1');
  });
});
