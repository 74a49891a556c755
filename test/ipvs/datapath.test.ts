import { describe, expect, it } from 'vitest';
import { IpvsLab, RS1, RS2, SVC, VIP, ip } from './lab.js';
import { u16, readIp } from '../../src/wire/bytes.js';

const S = 1e9;

describe('IPVS data path (masq)', () => {
  it('NAT both ways: DNAT to the real server at LOCAL_IN, replies SNATed back to the VIP', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    const c = l.connect();
    l.run(1 * S);
    expect(c.errors).toEqual([]);
    expect(c.got.reduce((a, b) => a + b, 0)).toBe(100);
    expect(l.served.get('rs1')).toBe(100);
    // The SYN reaching rs1: client → RS:8080, TTL not decremented by IPVS.
    const syn = l.on('rs1/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 6)!.bytes;
    expect(readIp(syn, 14 + 12)).toBe(ip('10.0.1.2'));
    expect(readIp(syn, 14 + 16)).toBe(RS1);
    expect(u16(syn, 14 + 22)).toBe(8080);
    expect(syn[14 + 8]).toBe(64);
    // The SYN-ACK the client sees comes from the VIP:80, forwarded once (TTL 63).
    const synack = l.on('client/eth0', 'in').find((f) => u16(f.bytes, 12) === 0x0800 && f.bytes[14 + 9] === 6)!.bytes;
    expect(readIp(synack, 14 + 12)).toBe(VIP);
    expect(u16(synack, 14 + 20)).toBe(80);
    expect(synack[14 + 8]).toBe(63);
    const stages = new Set(l.sink.events.map((e) => e.stage));
    for (const s of ['ipvs.sched', 'ipvs.conn', 'ipvs.xmit', 'ipvs.reply']) expect(stages).toContain(s);
    expect(l.events('ipvs.sched')[0].detail).toMatch(/^TCP 10\.96\.0\.10:80 rr → 10\.0\.2\.2:8080 \(new conn TCP 10\.0\.1\.2:\d+ → 10\.96\.0\.10:80 → 10\.0\.2\.2:8080; dest weight 1, active 0, inactive 1\)$/);
  });

  it('rr alternates new connections over the dests, newest dest first', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    l.ipvs.addDest(SVC, { addr: RS2, port: 8080, weight: 1 });
    for (let i = 0; i < 3; i++) { l.connect(); l.run(1 * S); }
    expect(l.served.get('rs2')).toBe(200);
    expect(l.served.get('rs1')).toBe(100);
  });
});
