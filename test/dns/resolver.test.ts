import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { resolve, resolvConfFor, parseResolvConf, searchCandidates, type ResolveResult, type ResolvConf } from '../../src/dns/resolver.js';
import { startCoreDns } from '../../src/dns/coredns.js';
import { decodeMessage } from '../../src/dns/wire.js';
import { ipToString } from '../../src/wire/bytes.js';
import { CaptureSet } from '../../src/trace/capture.js';
import { pair, mac, ipProtoOf, isArp, type Lab } from '../kernel/topo.js';
import { checkCapture, describeCapture, itTshark } from '../helpers/tshark.js';
import { cluster, ip } from './fixture.js';

const S = 1_000_000_000;

describe('resolv.conf', () => {
  it('ClusterFirst: search <ns>.svc, svc, domain (then the host\'s), the cluster DNS, ndots:5', () => {
    expect(resolvConfFor('shop', 'ClusterFirst', ['10.96.0.10'], 'cluster.local', { host: { nameservers: ['192.168.1.1'], search: ['corp.example'], options: [] } })).toBe(
      'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n');
  });
  it('Default, None with dnsConfig, hostNetwork ClusterFirst → Default, dnsConfig merged', () => {
    const host = { nameservers: ['192.168.1.1'], search: ['corp.example'], options: ['edns0'] };
    expect(resolvConfFor('x', 'Default', ['10.96.0.10'], 'cluster.local', { host })).toBe('search corp.example\nnameserver 192.168.1.1\noptions edns0\n');
    expect(resolvConfFor('x', 'ClusterFirst', ['10.96.0.10'], 'cluster.local', { host, hostNetwork: true })).toBe('search corp.example\nnameserver 192.168.1.1\noptions edns0\n');
    expect(resolvConfFor('x', 'None', ['10.96.0.10'], 'cluster.local', { dnsConfig: { nameservers: ['1.1.1.1'], searches: ['a.b'], options: [{ name: 'ndots', value: '2' }] } }))
      .toBe('search a.b\nnameserver 1.1.1.1\noptions ndots:2\n');
    expect(resolvConfFor('x', 'ClusterFirst', ['10.96.0.10'], 'cluster.local', { dnsConfig: { options: [{ name: 'ndots', value: '1' }, { name: 'single-request' }] } }))
      .toBe('search x.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:1 single-request\n');
  });
  it('parses as glibc does', () => {
    const c = parseResolvConf('search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5 timeout:3\n');
    expect(c).toEqual({ nameservers: [ip('10.96.0.10')], search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ndots: 5, timeout: 3, attempts: 2 });
  });
});

const conf = (ns = '10.0.0.2', podNs = 'default'): ResolvConf => parseResolvConf(resolvConfFor(podNs, 'ClusterFirst', [ns], 'cluster.local'));

describe('search list order (glibc __res_context_search)', () => {
  const c = conf();
  it('fewer dots than ndots: the search list, then the name as is', () => {
    expect(searchCandidates('web', c)).toEqual(['web.default.svc.cluster.local', 'web.svc.cluster.local', 'web.cluster.local', 'web']);
    expect(searchCandidates('web.default', c)).toEqual(['web.default.default.svc.cluster.local', 'web.default.svc.cluster.local', 'web.default.cluster.local', 'web.default']);
  });
  it('ndots or more: as is first; a trailing dot: only as is', () => {
    expect(searchCandidates('a.b.c.d.e.f', c)).toEqual(['a.b.c.d.e.f', 'a.b.c.d.e.f.default.svc.cluster.local', 'a.b.c.d.e.f.svc.cluster.local', 'a.b.c.d.e.f.cluster.local']);
    expect(searchCandidates('web.default.svc.cluster.local.', c)).toEqual(['web.default.svc.cluster.local']);
  });
});

/** a (10.0.0.1, the pod) ── veth ── b (10.0.0.2, CoreDNS). */
function lab(withServer = true): Lab {
  const l = pair(7);
  if (withServer) startCoreDns(l.n.ns('b'), cluster().view, { localIPs: [ip('10.0.0.2')] });
  return l;
}
function run(l: Lab, name: string, c: ResolvConf = conf()): { r: ResolveResult; at: number } {
  let out: { r: ResolveResult; at: number } | null = null;
  resolve(l.n.ns('a'), c, name, (r) => { out = { r, at: l.w.now }; }, 'dns');
  l.run(120 * S);
  if (!out) throw new Error('resolve never finished');
  return out;
}
/** DNS queries on the wire, leaving a: "name TYPE" per datagram. */
function wireQueries(l: Lab): { q: string; sport: number; time: number }[] {
  return l.on('a/eth0').filter((f) => !isArp(f.bytes) && ipProtoOf(f.bytes) === 17).map((f) => {
    const m = decodeMessage(f.bytes.subarray(42));
    const q = m.questions![0];
    return { q: `${q.name} ${q.type}`, sport: (f.bytes[34] << 8) | f.bytes[35], time: f.time };
  });
}

describe('resolver on the emulated kernel, against CoreDNS', () => {
  it('resolves web.default: NXDOMAIN for the first search domain, then the service; A and AAAA back to back from one socket per name', () => {
    const l = lab();
    const { r, at } = run(l, 'web.default');
    expect(r.error).toBeUndefined();
    expect(r.addrs.map(ipToString)).toEqual(['10.96.0.20']);
    expect(r.name).toBe('web.default.svc.cluster.local');
    expect(r.queries).toBe(4);
    const w = wireQueries(l);
    expect(w.map((x) => x.q)).toEqual([
      'web.default.default.svc.cluster.local A', 'web.default.default.svc.cluster.local AAAA',
      'web.default.svc.cluster.local A', 'web.default.svc.cluster.local AAAA',
    ]);
    expect(w[0].sport).toBe(w[1].sport);
    expect(w[2].sport).toBe(w[3].sport);
    expect(w[2].sport).not.toBe(w[0].sport);
    expect(r.sent.map((s) => s.sport)).toEqual(w.map((x) => x.sport));
    // the replies, as CoreDNS sends them
    const replies = l.on('a/eth0', 'in').filter((f) => !isArp(f.bytes) && ipProtoOf(f.bytes) === 17).map((f) => decodeMessage(f.bytes.subarray(42)));
    expect(replies.map((m) => `${m.questions![0].type} ${m.rcode} ${m.answers!.length} ${m.authorities!.length}`)).toEqual(['A NXDOMAIN 0 1', 'AAAA NXDOMAIN 0 1', 'A NOERROR 1 0', 'AAAA NOERROR 0 1']);
    expect(at).toBeLessThan(S / 100);
  });

  it('a name nobody has: every candidate, NXDOMAIN', () => {
    const l = lab();
    const { r } = run(l, 'nope');
    expect(r.error).toBe('NXDOMAIN');
    expect(wireQueries(l).map((x) => x.q)).toEqual(['nope.default.svc.cluster.local', 'nope.svc.cluster.local', 'nope.cluster.local', 'nope'].flatMap((n) => [`${n} A`, `${n} AAAA`]));
  });

  it('no server on port 53: ICMP port unreachable, a new socket per try, ECONNREFUSED at once', () => {
    const l = lab(false);
    const { r, at } = run(l, 'web');
    expect(r.error).toBe('ECONNREFUSED');
    const w = wireQueries(l);
    expect(w.map((x) => x.q)).toEqual(['web.default.svc.cluster.local A', 'web.default.svc.cluster.local AAAA', 'web.default.svc.cluster.local A', 'web.default.svc.cluster.local AAAA']);
    expect(w[2].sport).not.toBe(w[0].sport);
    expect(at).toBeLessThan(S / 100);
  });

  it('a silent server: 5 s per try, 2 tries, the search stops and the name as is is tried: TIMEOUT after 20 s', () => {
    const l = lab();
    l.n.neighReplace('a', '10.0.0.2', mac('02:00:00:00:00:77'), 'eth0'); // b drops the frames (other host)
    const { r, at } = run(l, 'web');
    expect(r.error).toBe('TIMEOUT');
    const w = wireQueries(l);
    expect(w.map((x) => `${x.time / S} ${x.q}`)).toEqual([
      '0 web.default.svc.cluster.local A', '0 web.default.svc.cluster.local AAAA',
      '5 web.default.svc.cluster.local A', '5 web.default.svc.cluster.local AAAA',
      '10 web A', '10 web AAAA', '15 web A', '15 web AAAA',
    ]);
    expect(w[2].sport).toBe(w[0].sport); // the retry reuses the socket and the IDs
    expect(r.sent[2].id).toBe(r.sent[0].id);
    expect(at).toBe(20 * S);
  });

  it('a lost AAAA reply: single-request after 5 s, single-request-reopen after 10 s, the A answer accepted at 15 s', () => {
    const l = lab(false);
    const core = startCoreDns(l.n.ns('b'), cluster().view);
    core.close();
    l.n.ns('b').sockets.udpBind(53, {
      onMessage: (d, _f, _p, reply) => {
        if (decodeMessage(d).questions![0].type === 'AAAA') return; // lost
        const r = core.handle(d);
        if (r) reply(r);
      },
    });
    const { r, at } = run(l, 'web.default.svc.cluster.local.');
    expect(r.addrs.map(ipToString)).toEqual(['10.96.0.20']);
    expect(at).toBe(15 * S);
    const w = wireQueries(l);
    expect(w.map((x) => `${x.time / S} ${x.q.split(' ')[1]}`)).toEqual(['0 A', '0 AAAA', '5 A', '5 AAAA', '10 A', '10 AAAA']);
    expect(w[2].sport).toBe(w[0].sport);
    expect(w[4].sport).not.toBe(w[0].sport);
  });

  it('a truncated UDP answer: both queries again over one TCP connection', () => {
    const l = pair(7);
    const { view, services } = cluster();
    services.push({ namespace: 'default', name: 'big', clusterIPs: [], headless: true, ports: [], endpointSlices: [{ ports: [], endpoints: Array.from({ length: 40 }, (_, i) => ({ ip: ip(`10.244.3.${i + 1}`) })) }] });
    startCoreDns(l.n.ns('b'), view);
    const { r } = run(l, 'big.default.svc.cluster.local.');
    expect(r.error).toBeUndefined();
    expect(r.addrs.length).toBe(40);
    expect(r.sent.map((s) => `${s.transport} ${s.type}`)).toEqual(['udp A', 'udp AAAA', 'tcp A', 'tcp AAAA']);
  });

  itTshark('the capture of a lookup decodes as DNS with no problems', async () => {
    const l = lab();
    run(l, 'web.default');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-dns-'));
    try {
      const cs = new CaptureSet({ dir, pcap: false, pcapng: true });
      const idx = new Map<string, number>();
      // the pod's side only: the same frames seen again on b/eth0 would read as DNS retransmissions
      for (const f of l.frames.filter((x) => x.dev === 'n/a/eth0')) {
        if (!idx.has(f.dev)) { const [node, ns, dev] = f.dev.split('/'); idx.set(f.dev, cs.iface(node, ns, dev)); }
        cs.record(idx.get(f.dev)!, f.time, f.bytes, 0, f.bytes.length, f.dir);
      }
      const [file] = cs.close().files;
      const res = await checkCapture(file);
      expect(res.problems).toEqual([]);
      expect(res.packets).toBeGreaterThanOrEqual(8);
      const d = await describeCapture(file);
      expect(d.filter((p) => p.protocols.includes('dns')).length).toBe(8);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

