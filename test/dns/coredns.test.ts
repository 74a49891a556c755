import { describe, it, expect } from 'vitest';
import { CoreDns } from '../../src/dns/coredns.js';
import { cluster, query, show, ip } from './fixture.js';

const SOA = 'NS cluster.local 30 SOA ns.dns.cluster.local hostmaster.cluster.local 1700000000 7200 1800 86400 30';

function server() {
  return new CoreDns(cluster().view, { localIPs: [ip('10.244.0.2')] });
}

describe('CoreDNS kubernetes plugin answers', () => {
  const s = server();
  const ask = (name: string, type: Parameters<typeof query>[1], edns?: Parameters<typeof query>[3]) => show(s.handle(query(name, type, 0x1234, edns)));

  it('A for a ClusterIP service: AA, RD echoed, no RA, TTL 30', () => {
    expect(ask('web.default.svc.cluster.local', 'A')).toEqual([
      'NOERROR id=4660 qr aa rd q=web.default.svc.cluster.local A',
      'AN web.default.svc.cluster.local 30 A 10.96.0.20',
    ]);
  });

  it('keeps the query name case in the answer and matches case-insensitively', () => {
    expect(ask('Web.Default.SVC.cluster.LOCAL', 'A')[1]).toBe('AN Web.Default.SVC.cluster.LOCAL 30 A 10.96.0.20');
  });

  it('headless: one A per ready endpoint', () => {
    expect(ask('db.default.svc.cluster.local', 'A').slice(1)).toEqual([
      'AN db.default.svc.cluster.local 30 A 10.244.1.10',
      'AN db.default.svc.cluster.local 30 A 10.244.2.11',
    ]);
  });

  it('endpoint hostnames: the hostname, else the IP with dashes (ClusterIP services too); not-ready ones are NXDOMAIN', () => {
    expect(ask('db-1.db.default.svc.cluster.local', 'A').slice(1)).toEqual(['AN db-1.db.default.svc.cluster.local 30 A 10.244.2.11']);
    expect(ask('10-244-1-5.web.default.svc.cluster.local', 'A').slice(1)).toEqual(['AN 10-244-1-5.web.default.svc.cluster.local 30 A 10.244.1.5']);
    expect(ask('db-2.db.default.svc.cluster.local', 'A')).toEqual(['NXDOMAIN id=4660 qr aa rd q=db-2.db.default.svc.cluster.local A', SOA]);
  });

  it('SRV for a named port of a ClusterIP service: priority 0, weight 100, target the service, its A in additional', () => {
    expect(ask('_http._tcp.web.default.svc.cluster.local', 'SRV').slice(1)).toEqual([
      'AN _http._tcp.web.default.svc.cluster.local 30 SRV 0 100 80 web.default.svc.cluster.local',
      'AR web.default.svc.cluster.local 30 A 10.96.0.20',
    ]);
  });

  it('SRV for the bare service name lists every port with weight 100/n', () => {
    expect(ask('web.default.svc.cluster.local', 'SRV').slice(1)).toEqual([
      'AN web.default.svc.cluster.local 30 SRV 0 50 80 web.default.svc.cluster.local',
      'AN web.default.svc.cluster.local 30 SRV 0 50 53 web.default.svc.cluster.local',
      'AR web.default.svc.cluster.local 30 A 10.96.0.20',
    ]);
  });

  it('SRV on a headless service: one per endpoint, targets host.svc.ns.svc.zone, target ports from the slice', () => {
    expect(ask('_pg._tcp.db.default.svc.cluster.local', 'SRV').slice(1)).toEqual([
      'AN _pg._tcp.db.default.svc.cluster.local 30 SRV 0 50 5432 db-0.db.default.svc.cluster.local',
      'AN _pg._tcp.db.default.svc.cluster.local 30 SRV 0 50 5432 db-1.db.default.svc.cluster.local',
      'AR db-0.db.default.svc.cluster.local 30 A 10.244.1.10',
      'AR db-1.db.default.svc.cluster.local 30 A 10.244.2.11',
    ]);
  });

  it('SRV for a port name that does not exist: NXDOMAIN', () => {
    expect(ask('_nope._tcp.web.default.svc.cluster.local', 'SRV')[0]).toMatch(/^NXDOMAIN/);
    expect(ask('_http._udp.web.default.svc.cluster.local', 'SRV')[0]).toMatch(/^NXDOMAIN/);
  });

  it('AAAA for an existing name: NOERROR, no answers, SOA in authority (NODATA)', () => {
    expect(ask('web.default.svc.cluster.local', 'AAAA')).toEqual(['NOERROR id=4660 qr aa rd q=web.default.svc.cluster.local AAAA', SOA]);
  });

  it('NXDOMAIN with SOA for a missing service, a missing namespace, a malformed name', () => {
    for (const n of ['nope.default.svc.cluster.local', 'web.nons.svc.cluster.local', 'nons.svc.cluster.local', 'web.default.xyz.cluster.local', 'a.b.c.web.default.svc.cluster.local']) {
      expect(ask(n, 'A'), n).toEqual([`NXDOMAIN id=4660 qr aa rd q=${n} A`, SOA]);
    }
  });

  it('namespace-level and zone-level names that exist: NODATA', () => {
    for (const n of ['default.svc.cluster.local', 'empty.svc.cluster.local', 'svc.cluster.local', 'pod.cluster.local', 'cluster.local', 'default.pod.cluster.local']) {
      expect(ask(n, 'A'), n).toEqual([`NOERROR id=4660 qr aa rd q=${n} A`, SOA]);
    }
  });

  it('pods insecure: a-b-c-d.ns.pod answers the address for an existing namespace', () => {
    expect(ask('10-244-9-9.default.pod.cluster.local', 'A').slice(1)).toEqual(['AN 10-244-9-9.default.pod.cluster.local 30 A 10.244.9.9']);
    expect(ask('10-244-9-9.nons.pod.cluster.local', 'A')[0]).toMatch(/^NXDOMAIN/);
    expect(ask('10-244-09-9.default.pod.cluster.local', 'A')[0]).toMatch(/^NXDOMAIN/);
    expect(ask('10-244-9.default.pod.cluster.local', 'A')[0]).toMatch(/^NXDOMAIN/);
  });

  it('ExternalName: a CNAME; outside the zone the upstream (NXDOMAIN here) adds nothing', () => {
    expect(ask('ext.default.svc.cluster.local', 'A')).toEqual([
      'NOERROR id=4660 qr aa rd q=ext.default.svc.cluster.local A',
      'AN ext.default.svc.cluster.local 30 CNAME example.com',
    ]);
    expect(ask('ext.default.svc.cluster.local', 'CNAME').slice(1)).toEqual(['AN ext.default.svc.cluster.local 30 CNAME example.com']);
  });

  it('ExternalName pointing into the zone is chased', () => {
    expect(ask('alias.default.svc.cluster.local', 'A').slice(1)).toEqual([
      'AN alias.default.svc.cluster.local 30 CNAME web.default.svc.cluster.local',
      'AN web.default.svc.cluster.local 30 A 10.96.0.20',
    ]);
  });

  it('PTR: a clusterIP names its service, an endpoint IP its endpoint; others fall through to forward', () => {
    expect(ask('20.0.96.10.in-addr.arpa', 'PTR')).toEqual([
      'NOERROR id=4660 qr aa rd q=20.0.96.10.in-addr.arpa PTR',
      'AN 20.0.96.10.in-addr.arpa 30 PTR web.default.svc.cluster.local',
    ]);
    expect(ask('11.2.244.10.in-addr.arpa', 'PTR').slice(1)).toEqual(['AN 11.2.244.10.in-addr.arpa 30 PTR db-1.db.default.svc.cluster.local']);
    expect(ask('5.1.244.10.in-addr.arpa', 'PTR').slice(1)).toEqual(['AN 5.1.244.10.in-addr.arpa 30 PTR 10-244-1-5.web.default.svc.cluster.local']);
    expect(ask('9.9.9.9.in-addr.arpa', 'PTR')).toEqual(['NXDOMAIN id=4660 qr rd ra q=9.9.9.9.in-addr.arpa PTR']);
  });

  it('names outside cluster.local go to forward: NXDOMAIN with RA, no AA, no SOA', () => {
    expect(ask('example.com', 'A')).toEqual(['NXDOMAIN id=4660 qr rd ra q=example.com A']);
  });

  it('SOA and NS at the apex; ns.dns.<zone>; TXT dns-version', () => {
    expect(ask('cluster.local', 'SOA').slice(1)).toEqual([SOA.replace(/^NS/, 'AN')]);
    expect(ask('cluster.local', 'NS').slice(1)).toEqual([
      'AN cluster.local 30 NS kube-dns.kube-system.svc.cluster.local',
      'AR kube-dns.kube-system.svc.cluster.local 30 A 10.96.0.10',
    ]);
    expect(ask('ns.dns.cluster.local', 'A').slice(1)).toEqual(['AN ns.dns.cluster.local 30 A 10.96.0.10']);
    expect(ask('dns-version.cluster.local', 'TXT').slice(1)).toEqual(['AN dns-version.cluster.local 28800 TXT 1.1.0']);
  });

  it('other types: NODATA for existing names, NXDOMAIN otherwise; AXFR refused', () => {
    expect(ask('web.default.svc.cluster.local', 'MX')).toEqual(['NOERROR id=4660 qr aa rd q=web.default.svc.cluster.local MX', SOA]);
    expect(ask('nope.default.svc.cluster.local', 'CAA')[0]).toMatch(/^NXDOMAIN/);
    expect(ask('cluster.local', 'AXFR')).toEqual(['REFUSED id=4660 qr rd q=cluster.local AXFR']);
  });

  it('EDNS: the query OPT is echoed (UDP size, DO); without OPT none is added', () => {
    expect(ask('web.default.svc.cluster.local', 'A', { size: 1232, do: true })).toEqual([
      'NOERROR id=4660 qr aa rd q=web.default.svc.cluster.local A',
      'AN web.default.svc.cluster.local 30 A 10.96.0.20',
      'AR OPT udp=1232 do=true ext=0 v=0',
    ]);
  });

  it('replies that fit are uncompressed (no 0xc0 pointers)', () => {
    const r = s.handle(query('web.default.svc.cluster.local', 'A'))!;
    expect(r.length).toBe(12 + 31 + 4 + 31 + 10 + 4);
    expect(r.some((b, i) => b >= 0xc0 && i >= 12 && r[i - 1] === 0)).toBe(false);
  });

  it('a headless answer too big for 512 bytes is compressed and truncated with TC; over TCP it is whole', () => {
    const { view, services } = cluster();
    const eps = Array.from({ length: 40 }, (_, i) => ({ ip: ip(`10.244.3.${i + 1}`), ready: true }));
    services.push({ namespace: 'default', name: 'big', clusterIPs: [], headless: true, ports: [], endpointSlices: [{ ports: [], endpoints: eps }] });
    const big = new CoreDns(view);
    const udp = big.handle(query('big.default.svc.cluster.local', 'A'), 'udp')!;
    const lines = show(udp);
    expect(lines[0]).toBe('NOERROR id=4660 qr aa tc rd q=big.default.svc.cluster.local A');
    // header 12 + question 35, then 16 bytes per A (owner name a pointer to the question's)
    expect(lines.length - 1).toBe(Math.floor((512 - 12 - 35) / 16));
    expect(udp[12 + 35]).toBe(0xc0);
    expect(udp[12 + 35 + 1]).toBe(12);
    expect(udp.length).toBeLessThanOrEqual(512);
    const tcp = show(big.handle(query('big.default.svc.cluster.local', 'A'), 'tcp'));
    expect(tcp[0]).toBe('NOERROR id=4660 qr aa rd q=big.default.svc.cluster.local A');
    expect(tcp.length - 1).toBe(40);
  });

  it('not a query: NOTIMP; EDNS version 1: BADVERS; a response is ignored', () => {
    const q = query('web.default.svc.cluster.local', 'A');
    const notify = q.slice(); notify[2] = (notify[2] & 0x87) | (4 << 3);
    expect(show(s.handle(notify))[0]).toMatch(/^NOTIMP/);
    const resp = q.slice(); resp[2] |= 0x80;
    expect(s.handle(resp)).toBeNull();
    const e = query('web.default.svc.cluster.local', 'A', 1, { size: 4096 });
    e[e.length - 11 + 6] = 1; // OPT: name(1) type(2) class(2) extrcode(1) version(1)
    const bad = s.handle(e)!;
    expect(bad[3] & 0xf).toBe(0);
    // BADVERS (16): 0 in the header's rcode, 1 in the OPT's extended rcode
    expect(show(bad)).toEqual(['NOERROR id=1 qr rd q=web.default.svc.cluster.local A', 'AR OPT udp=0 do=false ext=1 v=0']);
  });
});
