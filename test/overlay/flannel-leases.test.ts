/**
 * flannel's etcd-style subnet leases: reuse by public IP, the previous subnet, a random
 * one of the first 100 free, TTL 24 h and renewal, expiry seen by watchers.
 */
import { describe, expect, it } from 'vitest';
import { parseFlannelConfig } from '../../src/overlay/flannel/config.js';
import { LeaseError, RENEW_MARGIN_NS, SUBNET_TTL_NS, SubnetRegistry, type LeaseEvent } from '../../src/overlay/flannel/leases.js';
import { formatIPv4 } from '../../src/cni/ip4.js';

const cfg = parseFlannelConfig('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
const node = (i: number) => ({ publicIP: (0xc0a8010a + i) >>> 0, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: `02:00:00:00:00:0${i}` } });

describe('flannel subnet leases', () => {
  it('draws among the first 100 free subnets from SubnetMin', () => {
    const picks: number[] = [];
    const reg = new SubnetRegistry(cfg, (n) => { picks.push(n); return n - 1; });
    const l = reg.acquire(0, node(1));
    expect(picks).toEqual([100]);
    expect(formatIPv4(l.subnet.addr)).toBe('10.244.100.0');
    expect(l.expiration).toBe(SUBNET_TTL_NS);
  });
  it('reuses the lease of the same public IP, then the previous subnet, and skips taken ones', () => {
    const reg = new SubnetRegistry(cfg, () => 0);
    const a = reg.acquire(0, node(1));
    expect(formatIPv4(a.subnet.addr)).toBe('10.244.1.0');
    const again = reg.acquire(5, { ...node(1), backendData: { VNI: 1, VtepMAC: '02:00:00:00:00:99' } });
    expect(again).toBe(a);
    expect(again.expiration).toBe(5 + SUBNET_TTL_NS);
    const b = reg.acquire(0, node(2), { addr: 0x0af42a00, prefix: 24 });
    expect(formatIPv4(b.subnet.addr)).toBe('10.244.42.0');
    const c = reg.acquire(0, node(3), { addr: 0x0af40100, prefix: 24 }); // taken by node 1: a fresh one
    expect(formatIPv4(c.subnet.addr)).toBe('10.244.2.0');
    const d = reg.acquire(0, node(4), { addr: 0x0af40000, prefix: 24 }); // the skipped first subnet: not compatible
    expect(formatIPv4(d.subnet.addr)).toBe('10.244.3.0');
  });
  it('expires unrenewed leases and tells watchers; renewal keeps them', () => {
    const reg = new SubnetRegistry(cfg, () => 0);
    const events: string[] = [];
    reg.watch((e: LeaseEvent) => events.push(`${e.type} ${formatIPv4(e.lease.subnet.addr)}`));
    const a = reg.acquire(0, node(1));
    const b = reg.acquire(0, node(2));
    expect(SubnetRegistry.renewAt(a)).toBe(SUBNET_TTL_NS - RENEW_MARGIN_NS);
    reg.renew(SubnetRegistry.renewAt(a), a);
    expect(reg.expire(SUBNET_TTL_NS).map((l) => l.subnet.addr)).toEqual([b.subnet.addr]);
    expect(() => reg.renew(SUBNET_TTL_NS + 1, b)).toThrow(LeaseError);
    expect(events).toEqual(['added 10.244.1.0', 'added 10.244.2.0', 'removed 10.244.2.0']);
    reg.revoke(a);
    expect(reg.leases()).toEqual([]);
  });
  it('runs out of subnets', () => {
    const small = parseFlannelConfig('{"Network": "10.1.0.0/26"}');
    const reg = new SubnetRegistry(small, () => 0);
    for (let i = 0; i < 3; i++) reg.acquire(0, node(i));
    expect(() => reg.acquire(0, node(9))).toThrow('out of subnets');
  });
});
