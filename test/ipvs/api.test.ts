import { describe, expect, it } from 'vitest';
import { IpvsError } from '../../src/ipvs/index.js';
import { IpvsLab, RS1, RS2, SVC, VIP } from './lab.js';

const errno = (f: () => void): string => {
  try { f(); } catch (e) { if (e instanceof IpvsError) return e.errno; throw e; }
  return 'none';
};

describe('Ipvs API (ipvsadm semantics)', () => {
  it('errors as the kernel returns them', () => {
    const v = new IpvsLab().ipvs;
    expect(errno(() => v.addService(SVC, { scheduler: 'nope' }))).toBe('ENOENT');
    v.addService(SVC, { scheduler: 'rr' });
    expect(errno(() => v.addService(SVC, { scheduler: 'rr' }))).toBe('EEXIST');
    expect(errno(() => v.editService({ ...SVC, port: 81 }, { scheduler: 'rr' }))).toBe('ESRCH');
    expect(errno(() => v.delService({ ...SVC, port: 81 }))).toBe('ESRCH');
    expect(errno(() => v.addDest({ ...SVC, port: 81 }, { addr: RS1, port: 1, weight: 1 }))).toBe('ESRCH');
    expect(errno(() => v.addDest(SVC, { addr: RS1, port: 1, weight: -1 }))).toBe('ERANGE');
    expect(errno(() => v.addDest(SVC, { addr: RS1, port: 1, weight: 1, uThreshold: 1, lThreshold: 2 }))).toBe('ERANGE');
    v.addDest(SVC, { addr: RS1, port: 1, weight: 1 });
    expect(errno(() => v.addDest(SVC, { addr: RS1, port: 1, weight: 1 }))).toBe('EEXIST');
    expect(errno(() => v.editDest(SVC, { addr: RS2, port: 1, weight: 1 }))).toBe('ENOENT');
    expect(errno(() => v.delDest(SVC, RS2, 1))).toBe('ENOENT');
  });

  it('services() in the kernel list order: newest dest first; edits and deletes', () => {
    const v = new IpvsLab().ipvs;
    v.addService(SVC, { scheduler: 'wlc' });
    v.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    v.addDest(SVC, { addr: RS2, port: 8080, weight: 5, fwd: 'droute' });
    expect(v.hasService(SVC)).toBe(true);
    const s = v.services()[0];
    expect(s.key).toEqual(SVC);
    expect(s.dests.map((d) => [d.addr, d.weight, d.fwd])).toEqual([[RS2, 5, 'droute'], [RS1, 1, 'masq']]);
    v.editService(SVC, { scheduler: 'sh', flags: 0x10 });
    expect(v.services()[0].opts).toEqual({ scheduler: 'sh', flags: 0x10 });
    v.delDest(SVC, RS2, 8080);
    expect(v.services()[0].dests.map((d) => d.addr)).toEqual([RS1]);
    v.delService(SVC);
    expect(v.hasService(SVC)).toBe(false);
    expect(v.services()).toEqual([]);
  });

  it('upper/lower thresholds set and clear OVERLOAD as connections bind and unbind', () => {
    const l = new IpvsLab();
    const v = l.ipvs;
    v.addService(SVC, { scheduler: 'rr' });
    v.addDest(SVC, { addr: RS1, port: 8080, weight: 1, uThreshold: 2, lThreshold: 1 });
    v.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
    // rr: rs2, rs1, rs2, rs1 … but rs1 is OVERLOADed at 2 connections: then everything goes to rs2.
    const socks = Array.from({ length: 6 }, (_, i) => { const c = l.connect({ close: false }); l.run(0.1e9); return c; });
    expect(socks.every((c) => c.errors.length === 0)).toBe(true);
    expect(l.served.get('rs1')).toBe(200);
    expect(l.served.get('rs2')).toBe(400);
  });

  it('loading ip_vs adds the net.ipv4.vs sysctls with their defaults', () => {
    const l = new IpvsLab();
    expect(l.n.sysctlGet('node', 'net.ipv4.vs.conntrack')).toBe('0');
    expect(l.n.sysctlGet('node', 'net.ipv4.vs.conn_reuse_mode')).toBe('1');
    expect(l.n.sysctlGet('node', 'net.ipv4.vs.expire_nodest_conn')).toBe('0');
    expect(l.n.sysctlGet('node', 'net.ipv4.vs.lblc_expiration')).toBe('86400');
    expect(VIP).toBeGreaterThan(0);
  });
});
