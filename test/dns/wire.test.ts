import { describe, it, expect } from 'vitest';
import dnsPacket from 'dns-packet';
import { packMessage, decodeMessage, encodeQuery, packReply, type Msg } from '../../src/dns/wire.js';

const msg = (): Msg => ({
  id: 0xbeef, flags: 0x0500, rcode: 0, response: true,
  questions: [{ name: '_http._tcp.web.default.svc.cluster.local', type: 'SRV', class: 'IN' }],
  answers: [
    { type: 'SRV', name: '_http._tcp.web.default.svc.cluster.local', ttl: 30, class: 'IN', data: { priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' } },
    { type: 'CNAME', name: 'ext.default.svc.cluster.local', ttl: 30, class: 'IN', data: 'example.com' },
    { type: 'PTR', name: '20.0.96.10.in-addr.arpa', ttl: 30, class: 'IN', data: 'web.default.svc.cluster.local' },
    { type: 'TXT', name: 'dns-version.cluster.local', ttl: 28800, class: 'IN', data: '1.1.0' },
    { type: 'NS', name: 'cluster.local', ttl: 30, class: 'IN', data: 'kube-dns.kube-system.svc.cluster.local' },
  ],
  authorities: [{ type: 'SOA', name: 'cluster.local', ttl: 30, class: 'IN', data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1700000000, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 } }],
  additionals: [
    { type: 'A', name: 'web.default.svc.cluster.local', ttl: 30, class: 'IN', data: '10.96.0.20' },
    { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0x8000, flag_do: true, options: [] },
  ],
});

describe('DNS wire', () => {
  it('uncompressed packing is byte-identical to dns-packet', () => {
    const m = msg();
    const ours = packMessage(m, false);
    const theirs = dnsPacket.encode({ type: 'response', id: m.id, flags: m.flags, questions: m.questions, answers: m.answers, authorities: m.authorities, additionals: m.additionals });
    expect(Buffer.from(ours).equals(theirs)).toBe(true);
  });

  it('compressed packing decodes (dns-packet follows the pointers) to the same records, shorter', () => {
    const m = msg();
    const plain = decodeMessage(packMessage(m, false));
    const bytes = packMessage(m, true);
    const comp = decodeMessage(bytes);
    expect(bytes.length).toBeLessThan(packMessage(m, false).length);
    expect(comp.answers).toEqual(plain.answers);
    expect(comp.authorities).toEqual(plain.authorities);
    expect(comp.additionals).toEqual(plain.additionals);
  });

  it('SRV targets are never compressed (RFC 2782); owner names point at the question', () => {
    const m = msg();
    m.answers = [m.answers[0]];
    m.authorities = [];
    m.additionals = [];
    const b = packMessage(m, true);
    const q = 12, qlen = 42 + 4; // name 42 bytes + type/class
    expect([b[q + qlen], b[q + qlen + 1]]).toEqual([0xc0, 12]);
    const rdata = q + qlen + 2 + 10;
    const target = b.subarray(rdata + 6);
    expect(target[0]).toBe(3); // "web" written out
    expect(target.length).toBe(31);
  });

  it('queries: glibc-style, RD only, one question, no additional', () => {
    const q = encodeQuery(0x4242, 'web.default.svc.cluster.local', 'AAAA');
    expect([...q.subarray(0, 12)]).toEqual([0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const d = decodeMessage(q);
    expect(d.questions).toEqual([{ name: 'web.default.svc.cluster.local', type: 'AAAA', class: 'IN' }]);
    expect(q.length).toBe(12 + 31 + 4);
  });

  it('packReply: fits → plain; over 512 → compressed, records cut, TC; OPT kept at the end', () => {
    const m = msg();
    expect(packMessage(m, false).length).toBeGreaterThan(512);
    expect(packReply(m, 1232)).toEqual(packMessage(m, false));
    expect(packReply(m, 512)).toEqual(packMessage(m, true)); // compressed, everything fits: no TC
    expect(decodeMessage(packReply(m, 512)).flag_tc).toBe(false);
    const many: Msg = { ...msg(), answers: Array.from({ length: 60 }, (_, i) => ({ type: 'A' as const, name: 'x.default.svc.cluster.local', ttl: 30, class: 'IN' as const, data: `10.0.0.${i}` })), authorities: [] };
    const r = packReply(many, 512);
    expect(r.length).toBeLessThanOrEqual(512);
    const d = decodeMessage(r);
    expect(d.flag_tc).toBe(true);
    expect(d.additionals?.at(-1)?.type).toBe('OPT');
    expect((d.answers ?? []).length).toBeGreaterThan(20);
  });
});
