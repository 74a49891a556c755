import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { setup, tcp, udp, icmpEcho, icmpError, ip, checksumsOk, S, SYN, ACK, FIN, PSH, RST } from './conntrack-helpers.js';
import type { Conntrack, SkbCt } from '../../src/netfilter/conntrack.js';
import { makeTuple } from '../../src/netfilter/conntrack.js';
import { Nat, NatVerdict, manipPkt, natInitialized } from '../../src/netfilter/nat.js';
import type { NatRange } from '../../src/netfilter/ct-types.js';
import { IPS_DST_NAT, IPS_SRC_NAT, IPS_SRC_NAT_DONE, IPS_DST_NAT_DONE } from '../../src/netfilter/ct-types.js';
import type { Skb } from '../../src/kernel/skb.js';
import { u16, u32, ipToString } from '../../src/wire/bytes.js';
import { verifyIpv4Checksum } from '../../src/wire/ipv4.js';

const PRE = 0, IN = 1, OUT = 3, POST = 4;
const A = '10.0.0.1', A2 = '10.0.0.2', B = '10.0.1.1', R = '10.0.1.254';
const range = (minIp: string | number, maxIp: string | number = minIp, minPort = 0, maxPort = 0, extra: Partial<NatRange> = {}): NatRange => ({
  minIp: typeof minIp === 'string' ? ip(minIp) : minIp, maxIp: typeof maxIp === 'string' ? ip(maxIp) : maxIp,
  minPort, maxPort, random: false, randomFully: false, persistent: false, ...extra,
});

/** A router namespace: conntrack + NAT, MASQUERADE to R for packets leaving toward 10.0.1.0/24, optional DNAT rule. */
function router(seed = 1, rules: { snat?: NatRange | null; dnat?: (s: Skb) => NatRange | null } = {}) {
  const env = setup(seed);
  const nat = new Nat(env.ct);
  const snat = rules.snat === undefined ? range(R) : rules.snat;
  let natEvals = 0;
  /** A forwarded packet's way through the router's hooks. Returns the final ctinfo or 'drop'. */
  const forward = (skb: Skb): SkbCt | 'drop' => {
    const info = env.ct.inbound(skb, PRE);
    if (nat.fn(skb, PRE, () => {
      natEvals++;
      const r = rules.dnat?.(skb);
      if (r && info.ct) nat.setup(info.ct, 'dst', r);
      return true;
    }) === NatVerdict.DROP) return 'drop';
    if (nat.fn(skb, POST, () => {
      natEvals++;
      if (snat && info.ct && u32(skb.buf, skb.nh + 16) >>> 8 === ip('10.0.1.0') >>> 8) nat.setup(info.ct, 'src', snat, { masqIfindex: 2 });
      return true;
    }, 2) === NatVerdict.DROP) return 'drop';
    if (!env.ct.confirm(skb)) return 'drop';
    return env.ct.get(skb)!;
  };
  return { ...env, nat, forward, natEvals: () => natEvals };
}

const src = (s: Skb) => `${ipToString(u32(s.buf, s.nh + 12))}:${u16(s.buf, s.nh + 20)}`;
const dst = (s: Skb) => `${ipToString(u32(s.buf, s.nh + 16))}:${u16(s.buf, s.nh + 22)}`;

describe('NAT: MASQUERADE / SNAT', () => {
  it('rewrites the source on the way out and un-SNATs the replies; checksums stay valid', () => {
    const r = router();
    const syn = tcp(A, B, 41000, 80, SYN, 1000, 0, { wscale: 7 });
    r.forward(syn);
    expect(src(syn)).toBe(`${R}:41000`);
    expect(dst(syn)).toBe(`${B}:80`);
    expect(checksumsOk(syn)).toBe(true);
    const synack = tcp(B, R, 80, 41000, SYN | ACK, 5000, 1001, { wscale: 7 });
    expect(r.forward(synack)).toMatchObject({ ctinfo: 'established_reply' });
    expect(dst(synack)).toBe(`${A}:41000`);
    expect(checksumsOk(synack)).toBe(true);
    r.forward(tcp(A, B, 41000, 80, ACK, 1001, 5001));
    expect(r.ct.list()).toBe('tcp      6 432000 ESTABLISHED src=10.0.0.1 dst=10.0.1.1 sport=41000 dport=80 src=10.0.1.1 dst=10.0.1.254 sport=80 dport=41000 [ASSURED] mark=0 use=1\n');
    const c = r.ct.all().next().value!;
    expect(c.status & (IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE)).toBe(IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE);
    expect(c.status & IPS_DST_NAT).toBe(0);
  });

  it('consults the nat table only for the first packet of a connection', () => {
    const r = router();
    r.forward(tcp(A, B, 41000, 80, SYN, 1000, 0));
    expect(r.natEvals()).toBe(2);
    r.forward(tcp(B, R, 80, 41000, SYN | ACK, 5000, 1001));
    r.forward(tcp(A, B, 41000, 80, ACK, 1001, 5001));
    expect(r.natEvals()).toBe(2);
  });

  it('a source port clash picks another port (1024-65535), the same for every packet of the flow', () => {
    const r = router(7);
    r.forward(tcp(A, B, 41000, 80, SYN, 1000, 0));
    const syn2 = tcp(A2, B, 41000, 80, SYN, 2000, 0);
    r.forward(syn2);
    const port = u16(syn2.buf, syn2.nh + 20);
    expect(port).not.toBe(41000);
    expect(port).toBeGreaterThanOrEqual(1024);
    expect(checksumsOk(syn2)).toBe(true);
    const reply = tcp(B, R, 80, port, SYN | ACK, 7000, 2001);
    r.forward(reply);
    expect(dst(reply)).toBe(`${A2}:41000`);
    const ack = tcp(A2, B, 41000, 80, ACK, 2001, 7001);
    r.forward(ack);
    expect(src(ack)).toBe(`${R}:${port}`);
    // Deterministic per seed.
    const again = router(7);
    again.forward(tcp(A, B, 41000, 80, SYN, 1000, 0));
    const s = tcp(A2, B, 41000, 80, SYN, 2000, 0);
    again.forward(s);
    expect(u16(s.buf, s.nh + 20)).toBe(port);
  });

  it('low source ports stay low: below 512 → 1-511, 512-1023 → 600-1023', () => {
    for (const [p, lo, hi] of [[100, 1, 511], [700, 600, 1023]]) {
      const r = router(3);
      r.forward(udp(A, B, p, 53));
      const s = udp(A2, B, p, 53);
      r.forward(s);
      const np = u16(s.buf, s.nh + 20);
      expect(np).not.toBe(p);
      expect(np).toBeGreaterThanOrEqual(lo);
      expect(np).toBeLessThanOrEqual(hi);
    }
  });

  it('--to-ports keeps a port already in range, maps others into it; --random-fully always draws', () => {
    const r = router(1, { snat: range(R, R, 5000, 5009) });
    const a = udp(A, B, 5003, 53); r.forward(a);
    expect(u16(a.buf, a.nh + 20)).toBe(5003);
    const b = udp(A, B, 42000, 53); r.forward(b);
    const pb = u16(b.buf, b.nh + 20);
    expect(pb).toBeGreaterThanOrEqual(5000); expect(pb).toBeLessThanOrEqual(5009); expect(pb).not.toBe(5003);
    const rf = router(1, { snat: range(R, R, 0, 0, { randomFully: true }) });
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) { const s = udp(A, B, 40000 + i, 53); rf.forward(s); seen.add(u16(s.buf, s.nh + 20) - (40000 + i)); }
    expect(seen.has(0)).toBe(false);
  });

  it('a new connection from the same source port reuses its existing mapping (nf_nat_bysource)', () => {
    const r = router(5);
    r.forward(tcp(A, B, 41000, 80, SYN, 1, 0));
    const s2 = tcp(A2, B, 41000, 80, SYN, 1, 0); r.forward(s2);
    const mapped = u16(s2.buf, s2.nh + 20);
    const s3 = tcp(A2, B, 41000, 443, SYN, 1, 0); r.forward(s3);
    expect(u16(s3.buf, s3.nh + 20)).toBe(mapped);
  });

  it('NULL binding: without a rule the tuple is kept, and a clash still moves the source port (implicit remap)', () => {
    const r = router(2, { snat: null });
    const f = udp(A, B, 42000, 53); r.forward(f);
    expect(src(f)).toBe(`${A}:42000`);
    const c = r.ct.all().next().value!;
    expect(natInitialized(c, 'src') && natInitialized(c, 'dst')).toBe(true);
    expect(c.status & (IPS_SRC_NAT | IPS_DST_NAT)).toBe(0);
    // Another router connection masquerades to R:42000; a local flow from R:42000 to the same server must move.
    const m = router(2);
    m.forward(udp(A, B, 42000, 53));
    const local = udp(R, B, 42000, 53);
    m.ct.inbound(local, OUT);
    m.nat.fn(local, OUT, () => true);
    m.nat.fn(local, POST, () => true, 2);
    expect(m.ct.confirm(local)).toBe(true);
    expect(u16(local.buf, local.nh + 20)).not.toBe(42000);
    expect(checksumsOk(local)).toBe(true);
  });

  it('MASQUERADE bindings die when the flow leaves by another device', () => {
    const r = router();
    r.forward(udp(A, B, 42000, 53));
    const s = udp(A, B, 42000, 53);
    r.ct.inbound(s, PRE);
    r.nat.fn(s, PRE, null);
    expect(r.nat.fn(s, POST, null, 9)).toBe(NatVerdict.DROP);
    expect(r.ct.count()).toBe(0);
  });

  it('a zero UDP checksum stays zero', () => {
    const r = router();
    const s = udp(A, B, 42000, 53, 4, false);
    r.forward(s);
    expect(src(s)).toBe(`${R}:42000`);
    expect(u16(s.buf, s.nh + 26)).toBe(0);
    expect(verifyIpv4Checksum(s.buf, s.nh)).toBe(true);
  });

  it('ICMP echo: ids that clash are renumbered, replies get the original id back', () => {
    const r = router(11);
    const p1 = icmpEcho(A, B, 8, 77); r.forward(p1);
    expect(u16(p1.buf, p1.nh + 24)).toBe(77);
    const p2 = icmpEcho(A2, B, 8, 77); r.forward(p2);
    const id2 = u16(p2.buf, p2.nh + 24);
    expect(id2).not.toBe(77);
    expect(checksumsOk(p2)).toBe(true);
    const rep = icmpEcho(B, R, 0, id2); r.forward(rep);
    expect(ipToString(u32(rep.buf, rep.nh + 16))).toBe(A2);
    expect(u16(rep.buf, rep.nh + 24)).toBe(77);
    expect(checksumsOk(rep)).toBe(true);
  });
});

describe('NAT: DNAT', () => {
  const svc = (s: Skb) => (u32(s.buf, s.nh + 16) === ip('10.96.0.10') ? range('10.244.1.5', '10.244.1.5', 8080, 8080) : null);

  it('rewrites the destination at PREROUTING (dstChanged) and un-DNATs replies at POSTROUTING', () => {
    const r = router(1, { snat: null, dnat: svc });
    const syn = tcp(A, '10.96.0.10', 41000, 80, SYN, 1000, 0);
    r.ct.inbound(syn, PRE);
    r.nat.fn(syn, PRE, () => { r.nat.setup(r.ct.get(syn)!.ct!, 'dst', svc(syn)!); return true; });
    expect(r.nat.dstChanged).toBe(true);
    expect(dst(syn)).toBe('10.244.1.5:8080');
    r.nat.fn(syn, POST, () => true);
    expect(r.ct.confirm(syn)).toBe(true);
    expect(checksumsOk(syn)).toBe(true);
    const synack = tcp('10.244.1.5', A, 8080, 41000, SYN | ACK, 5000, 1001);
    r.forward(synack);
    expect(src(synack)).toBe('10.96.0.10:80');
    expect(checksumsOk(synack)).toBe(true);
    expect(r.ct.list()).toBe('tcp      6 60 SYN_RECV src=10.0.0.1 dst=10.96.0.10 sport=41000 dport=80 src=10.244.1.5 dst=10.0.0.1 sport=8080 dport=41000 mark=0 use=1\n');
    expect(r.ct.all().next().value!.status & IPS_DST_NAT).toBe(IPS_DST_NAT);
  });

  it('an address range spreads clients deterministically', () => {
    const r = router(1, { snat: null, dnat: () => range('10.244.1.1', '10.244.1.4') });
    const dsts = new Set<string>();
    for (let i = 0; i < 20; i++) { const s = udp(`10.0.0.${i + 1}`, '10.96.0.10', 1000, 53); r.forward(s); dsts.add(ipToString(u32(s.buf, s.nh + 16))); }
    expect(dsts.size).toBeGreaterThan(1);
    for (const d of dsts) expect(d).toMatch(/^10\.244\.1\.[1-4]$/);
  });
});

describe('NAT: RELATED ICMP errors', () => {
  it('translates the outer header and the quoted packet of an error about a masqueraded flow', () => {
    const r = router();
    const probe = udp(A, B, 42003, 55);
    r.forward(probe);
    expect(src(probe)).toBe(`${R}:42003`);
    const err = icmpError(B, R, 3, 3, probe);
    const info = r.forward(err);
    expect(info).toMatchObject({ ctinfo: 'related_reply' });
    const b = err.buf, nh = err.nh;
    expect(ipToString(u32(b, nh + 16))).toBe(A);
    expect(ipToString(u32(b, nh + 12))).toBe(B);
    const inner = nh + 28;
    expect(ipToString(u32(b, inner + 12))).toBe(A);
    expect(u16(b, inner + 20)).toBe(42003);
    expect(verifyIpv4Checksum(b, inner)).toBe(true);
    expect(checksumsOk(err)).toBe(true);
  });

  it('translates a TCP quote with its full header (inner TCP checksum updated) and a ping quote', () => {
    const r = router(4);
    r.forward(tcp(A, B, 41000, 80, SYN, 1, 0));
    const syn2 = tcp(A2, B, 41000, 80, SYN, 1, 0);
    r.forward(syn2);
    const port = u16(syn2.buf, syn2.nh + 20);
    const err = icmpError(B, R, 3, 1, syn2, 20);
    r.forward(err);
    const inner = err.nh + 28;
    expect(`${ipToString(u32(err.buf, inner + 12))}:${u16(err.buf, inner + 20)}`).toBe(`${A2}:41000`);
    expect(port).not.toBe(41000);
    // The quoted TCP header checksums correctly against the quoted (original) addresses.
    const q = tcp(A2, B, 41000, 80, SYN, 1, 0);
    expect(u16(err.buf, inner + 36)).toBe(u16(q.buf, q.nh + 36));
    expect(checksumsOk(err)).toBe(true);
    const ping = icmpEcho(A2, B, 8, 9); r.forward(ping);
    const te = icmpError('10.0.1.9', R, 11, 0, ping);
    r.forward(te);
    expect(ipToString(u32(te.buf, te.nh + 16))).toBe(A2);
    expect(u16(te.buf, te.nh + 28 + 24)).toBe(9);
    expect(checksumsOk(te)).toBe(true);
  });

  it('an error with a bad ICMP checksum is dropped by the translation', () => {
    const r = router();
    const probe = udp(A, B, 42003, 55);
    r.forward(probe);
    const err = icmpError(B, R, 3, 3, probe);
    err.buf[err.nh + 54] ^= 1; // the quoted UDP checksum: the lookup still finds the flow
    r.ns.sysctls.set('net.netfilter.nf_conntrack_checksum', '0');
    expect(r.ct.inbound(err, PRE).ctinfo).toBe('related_reply');
    expect(r.nat.fn(err, PRE, null)).toBe(NatVerdict.DROP);
  });
});

describe('NAT properties', () => {
  const addr = fc.integer({ min: 0x0a000001, max: 0x0affffff });
  const port = fc.integer({ min: 1, max: 65535 });

  it('SNAT+DNAT then the reply path restores the original tuple, and every checksum stays valid', () => {
    fc.assert(fc.property(addr, addr, port, port, addr, port, addr, fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 40 }), (s, d, sp, dp, to, toPort, masq, isTcp, csum, len) => {
      fc.pre(s !== d && to !== masq && s !== masq && d !== to);
      const env = setup(3);
      const nat = new Nat(env.ct);
      const S_ = ipToString(s), D_ = ipToString(d);
      const mk = (a: string, b: string, x: number, y: number, flags: number, seq: number, ack: number) =>
        isTcp ? tcp(a, b, x, y, flags, seq, ack, { len }) : udp(a, b, x, y, len, csum);
      const o = mk(S_, D_, sp, dp, SYN, 100, 0);
      const info = env.ct.inbound(o, PRE);
      nat.fn(o, PRE, () => { nat.setup(info.ct!, 'dst', range(to, to, toPort, toPort)); return true; });
      nat.fn(o, POST, () => { nat.setup(info.ct!, 'src', range(masq)); return true; });
      if (!env.ct.confirm(o)) return false;
      expect(checksumsOk(o)).toBe(true);
      expect(ipToString(u32(o.buf, o.nh + 16))).toBe(ipToString(to));
      expect(ipToString(u32(o.buf, o.nh + 12))).toBe(ipToString(masq));
      // The server answers the packet it saw.
      const rp = mk(ipToString(u32(o.buf, o.nh + 16)), ipToString(u32(o.buf, o.nh + 12)), u16(o.buf, o.nh + 22), u16(o.buf, o.nh + 20), SYN | ACK, 900, 101 + len);
      expect(env.ct.inbound(rp, PRE).ctinfo).toBe('established_reply');
      nat.fn(rp, PRE, null); nat.fn(rp, POST, null); env.ct.confirm(rp);
      expect(checksumsOk(rp)).toBe(true);
      expect(`${src(rp)} ${dst(rp)}`).toBe(`${D_}:${dp} ${S_}:${sp}`);
      return true;
    }), { numRuns: 200 });
  });

  it('checksums stay valid after any sequence of rewrites (manipPkt)', () => {
    const step = fc.record({ manip: fc.constantFrom('src' as const, 'dst' as const), a: fc.integer({ min: 0, max: 0xffffffff }), p: fc.integer({ min: 0, max: 65535 }) });
    fc.assert(fc.property(fc.constantFrom('tcp', 'udp', 'udp0', 'icmp'), fc.array(step, { maxLength: 12 }), fc.integer({ min: 0, max: 64 }), (kind, steps, len) => {
      const pkt = kind === 'tcp' ? tcp(A, B, 1, 2, ACK | PSH, 1, 1, { len })
        : kind === 'icmp' ? icmpEcho(A, B, 8, 5) : udp(A, B, 1, 2, len, kind === 'udp');
      for (const st of steps) {
        manipPkt(pkt.buf, pkt.nh, makeTuple(st.a, st.a, pkt.buf[pkt.nh + 9], st.p, st.p, 8), st.manip);
        expect(checksumsOk(pkt)).toBe(true);
        const at = st.manip === 'src' ? 12 : 16;
        expect(u32(pkt.buf, pkt.nh + at)).toBe(st.a >>> 0);
      }
      if (kind === 'udp0') expect(u16(pkt.buf, pkt.nh + 26)).toBe(0);
    }), { numRuns: 300 });
  });
});

describe('conntrack -L of a masquerading router against the kernel (conntrack-masquerade-router.txt)', () => {
  it('prints the same entries (the clashing flow\'s random port and the ping id normalised)', () => {
    const r = router(1);
    const two = (o: Skb, rep: (p: number) => Skb) => { r.forward(o); r.forward(rep(u16(o.buf, o.nh + 20))); };
    r.forward(icmpEcho(A, B, 8, 30195)); r.forward(icmpEcho(B, R, 0, 30195));
    const tcpFlow = (cl: string, sp: number) => {
      const c = 1000, s = 5000;
      const syn = tcp(cl, B, sp, 80, SYN, c, 0); r.forward(syn);
      const mp = u16(syn.buf, syn.nh + 20);
      r.forward(tcp(B, R, 80, mp, SYN | ACK, s, c + 1));
      r.forward(tcp(cl, B, sp, 80, ACK, c + 1, s + 1));
      r.forward(tcp(cl, B, sp, 80, PSH | ACK, c + 1, s + 1, { len: 1 }));
      r.forward(tcp(B, R, 80, mp, PSH | ACK, s + 1, c + 2, { len: 1 }));
      r.forward(tcp(cl, B, sp, 80, FIN | ACK, c + 2, s + 2));
      r.forward(tcp(B, R, 80, mp, FIN | ACK, s + 2, c + 3));
      r.forward(tcp(cl, B, sp, 80, ACK, c + 3, s + 3));
    };
    tcpFlow(A, 41000); tcpFlow(A2, 41000); tcpFlow(A, 41001);
    r.forward(tcp(A, B, 41002, 81, SYN, 1, 0)); r.forward(tcp(B, R, 81, 41002, RST | ACK, 0, 2));
    two(udp(A, B, 42000, 53), (p) => udp(B, R, 53, p));
    two(udp(A, B, 42001, 53), (p) => udp(B, R, 53, p));
    two(udp(A, B, 42001, 53), (p) => udp(B, R, 53, p));
    r.forward(udp(A, B, 42002, 54));
    const un = udp(A, B, 42003, 55); r.forward(un);
    r.forward(icmpError(B, R, 3, 3, un));
    r.at(0.5 * S);
    const norm = (t: string) => t.trim().split('\n')
      .map((l) => l.replace(/ id=\d+/g, ' id=ID').replace(/(src=10\.0\.0\.2 .* dport=)\d+( \[ASSURED\])/, '$1PORT$2'))
      .sort().join('\n');
    const want = readFileSync(new URL('./fixtures/conntrack-masquerade-router.txt', import.meta.url), 'utf8');
    expect(norm(r.ct.list())).toBe(norm(want));
  });
});

void IN; void OUT;
