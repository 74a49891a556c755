import { describe, expect, it } from 'vitest';
import { compareInterface, formatComparison, inetChecksum, Normaliser, summarise } from './compare.js';

// ---- a tiny synthetic frame builder (test only) ----
const macB = (s: string): number[] => s.split(':').map((x) => parseInt(x, 16));
const ipB = (s: string): number[] => s.split('.').map(Number);
const be16 = (v: number): number[] => [(v >>> 8) & 255, v & 255];
const be32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const A = '0a:58:0a:f4:00:02';
const B = '0a:58:0a:f4:00:03';

function eth(dst: string, src: string, type: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...macB(dst), ...macB(src), ...be16(type), ...payload]);
}
function ipv4(o: { src: string; dst: string; proto: number; id?: number; ttl?: number; tos?: number; df?: boolean }, l4: number[]): number[] {
  const h = [0x45, o.tos ?? 0, ...be16(20 + l4.length), ...be16(o.id ?? 0), ...be16(o.df === false ? 0 : 0x4000), o.ttl ?? 64, o.proto, 0, 0, ...ipB(o.src), ...ipB(o.dst)];
  const c = inetChecksum(Uint8Array.from(h), 0, 20);
  h[10] = c >>> 8;
  h[11] = c & 255;
  return [...h, ...l4];
}
function l4sum(src: string, dst: string, proto: number, seg: number[], at: number): number[] {
  const pseudo = [...ipB(src), ...ipB(dst), 0, proto, ...be16(seg.length)];
  const c = inetChecksum(Uint8Array.from([...pseudo, ...seg]), 0, pseudo.length + seg.length);
  const out = seg.slice();
  out[at] = c >>> 8;
  out[at + 1] = c & 255;
  return out;
}
interface TcpO { src: string; dst: string; sport: number; dport: number; seq: number; ack: number; flags: number; win: number; ts?: [number, number]; data?: number[]; id?: number; csum?: 'good' | 'junk' }
function tcp(o: TcpO): Uint8Array {
  const opts = o.ts ? [1, 1, 8, 10, ...be32(o.ts[0]), ...be32(o.ts[1])] : [];
  const doff = (20 + opts.length) / 4;
  let seg = [...be16(o.sport), ...be16(o.dport), ...be32(o.seq), ...be32(o.ack), doff << 4, o.flags, ...be16(o.win), 0, 0, 0, 0, ...opts, ...(o.data ?? [])];
  seg = o.csum === 'junk' ? (seg[16] = 0x16, seg[17] = 0x13, seg) : l4sum(o.src, o.dst, 6, seg, 16);
  return eth(o.flags & 2 && !(o.flags & 0x10) ? B : B, A, 0x0800, ipv4({ src: o.src, dst: o.dst, proto: 6, id: o.id }, seg));
}
function udp(src: string, dst: string, sport: number, dport: number, data: number[], id = 0): number[] {
  const seg = l4sum(src, dst, 17, [...be16(sport), ...be16(dport), ...be16(8 + data.length), 0, 0, ...data], 6);
  return ipv4({ src, dst, proto: 17, id }, seg);
}
function echo(type: 0 | 8, ident: number, seq: number, timeval: number, id: number, df: boolean): Uint8Array {
  const payload = [...Array(16).fill(timeval & 255), ...Array.from({ length: 40 }, (_, i) => 0x10 + i)];
  const msg = [type, 0, 0, 0, ...be16(ident), ...be16(seq), ...payload];
  const c = inetChecksum(Uint8Array.from(msg), 0, msg.length);
  msg[2] = c >>> 8;
  msg[3] = c & 255;
  return eth(B, A, 0x0800, ipv4({ src: '10.244.0.2', dst: '10.244.0.3', proto: 1, id, df }, msg));
}
function arpReq(): Uint8Array {
  return eth('ff:ff:ff:ff:ff:ff', A, 0x0806, [0, 1, 8, 0, 6, 4, 0, 1, ...macB(A), ...ipB('10.244.0.2'), 0, 0, 0, 0, 0, 0, ...ipB('10.244.0.3')]);
}
function portUnreach(quotedIp: number[], id: number): Uint8Array {
  const msg = [3, 3, 0, 0, 0, 0, 0, 0, ...quotedIp];
  const c = inetChecksum(Uint8Array.from(msg), 0, msg.length);
  msg[2] = c >>> 8;
  msg[3] = c & 255;
  return eth(A, B, 0x0800, ipv4({ src: '10.244.0.3', dst: '10.244.0.2', proto: 1, id, tos: 0xc0, df: false }, msg));
}

/** A TCP exchange as one side would capture it, with the given randomness. */
function tcpFlow(r: { isnC: number; isnS: number; port: number; ts: number; ids: number; csum: 'good' | 'junk' }): Uint8Array[] {
  const c = { src: '10.244.0.2', dst: '10.244.0.3', sport: r.port, dport: 80, id: r.ids, csum: r.csum } as const;
  const s = { src: '10.244.0.3', dst: '10.244.0.2', sport: 80, dport: r.port, id: r.ids + 7, csum: r.csum } as const;
  const data = Array.from({ length: 64 }, (_, i) => 0x61 + (i % 26));
  return [
    tcp({ ...c, seq: r.isnC, ack: 0, flags: 0x02, win: 64240, ts: [r.ts, 0] }),
    tcp({ ...s, seq: r.isnS, ack: r.isnC + 1, flags: 0x12, win: 65160, ts: [r.ts + 99, r.ts], id: 0 }),
    tcp({ ...c, seq: r.isnC + 1, ack: r.isnS + 1, flags: 0x10, win: 63, ts: [r.ts + 1, r.ts + 99] }),
    tcp({ ...c, seq: r.isnC + 1, ack: r.isnS + 1, flags: 0x18, win: 63, ts: [r.ts + 1, r.ts + 99], data }),
    tcp({ ...s, seq: r.isnS + 1, ack: r.isnC + 65, flags: 0x18, win: 64, ts: [r.ts + 104, r.ts + 1], data }),
  ];
}

const frames = (xs: Uint8Array[]) => xs.map((data) => ({ data }));

describe('Normaliser', () => {
  it('maps TCP seq/ack to relative, zeroes TS and checksums, maps ephemeral ports, recomputes IP checksum', () => {
    const n = new Normaliser();
    const [syn, synack] = tcpFlow({ isnC: 2338513140, isnS: 355690156, port: 46458, ts: 1199014681, ids: 58473, csum: 'junk' }).map((f) => n.normalise(f));
    const b = syn!.bytes;
    expect([b[34], b[35]]).toEqual([0xfd, 0xe9]); // 65001
    expect(Array.from(b.subarray(38, 42))).toEqual([0, 0, 0, 0]); // seq relative 0
    expect(Array.from(b.subarray(50, 52))).toEqual([0, 0]); // tcp checksum zeroed
    expect(Array.from(b.subarray(18, 20))).toEqual([0, 0]); // ip id
    expect(inetChecksum(b, 14, 34)).toBe(0); // recomputed header checksum is valid
    expect(Array.from(b.subarray(58, 66))).toEqual([0, 0, 0, 1, 0, 0, 0, 0]); // TSval 1, TSecr 0
    const s = synack!.bytes;
    expect(Array.from(s.subarray(42, 46))).toEqual([0, 0, 0, 1]); // ack = isnC+1 -> 1
    expect(Array.from(s.subarray(62, 66))).toEqual([0, 0, 0, 1]); // nonzero TSecr -> 1
    expect(syn!.fields.find((f) => f.name === 'tcp.window')).toEqual({ start: 48, len: 2, name: 'tcp.window' });
  });
  it('reports a bad IPv4 header checksum, and bad L4 checksums when verifying', () => {
    const f = tcpFlow({ isnC: 1, isnS: 2, port: 40000, ts: 5, ids: 9, csum: 'junk' })[0]!;
    expect(new Normaliser({ verifyChecksums: true }).normalise(f).problems).toEqual([expect.stringMatching(/bad TCP checksum/)]);
    const g = tcpFlow({ isnC: 1, isnS: 2, port: 40000, ts: 5, ids: 9, csum: 'good' })[0]!;
    expect(new Normaliser({ verifyChecksums: true }).normalise(g).problems).toEqual([]);
    g[24] ^= 1;
    expect(new Normaliser().normalise(g).problems).toEqual([expect.stringMatching(/bad IPv4 header checksum/)]);
  });
});

describe('compareInterface', () => {
  const kernel = () => [
    arpReq(),
    echo(8, 7818, 1, 0x33, 56787, true),
    echo(0, 7818, 1, 0x33, 11141, false),
    ...tcpFlow({ isnC: 2338513140, isnS: 355690156, port: 46458, ts: 1199014681, ids: 58473, csum: 'junk' }),
    eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 53932, 5353, Array(64).fill(0x61), 37829)),
    portUnreach(udp('10.244.0.2', '10.244.0.3', 53932, 5353, Array(64).fill(0x61), 37829), 11168),
  ];
  const model = () => [
    arpReq(),
    echo(8, 1, 1, 0x77, 100, true),
    echo(0, 1, 1, 0x77, 200, false),
    ...tcpFlow({ isnC: 123456, isnS: 4294967000, port: 33000, ts: 42, ids: 1000, csum: 'good' }),
    eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 33001, 5353, Array(64).fill(0x61), 7)),
    portUnreach(udp('10.244.0.2', '10.244.0.3', 33001, 5353, Array(64).fill(0x61), 7), 99),
  ];
  it('matches frames that differ only in legitimately random fields', () => {
    const r = compareInterface('node-1/default.client/eth0', frames(kernel()), frames(model()));
    expect(formatComparison([r])).toMatch(/^OK/);
    expect(r.ok).toBe(true);
  });
  it('reports a TTL difference with field name, offset and both summaries', () => {
    const m = model();
    const e = m[2]!;
    e[22] = 63;
    e[24] = 0;
    e[25] = 0;
    const c = inetChecksum(e, 14, 34);
    e[24] = c >>> 8;
    e[25] = c & 255;
    const r = compareInterface('if', frames(kernel()), frames(m));
    expect(r.ok).toBe(false);
    expect(r.mismatches[0]).toMatchObject({ index: 2, kind: 'bytes', offset: 22, field: 'ip.ttl (+0)' });
    const text = formatComparison([r]);
    expect(text).toContain('frame #2');
    expect(text).toContain('ttl 63');
    expect(text).toContain('ttl 64');
  });
  it('reports MAC, window, DF, TOS and payload differences by field', () => {
    const cases: [number, number, string][] = [
      [0, 5, 'eth.dst'], [0, 11, 'eth.src'],
      [3, 48, 'tcp.window'],
      [1, 20, 'ip.flags_fragment'],
      [9, 15, 'ip.tos'],
      [6, 70, 'tcp.payload'],
    ];
    for (const [idx, off, field] of cases) {
      const m = model();
      m[idx]![off] ^= 0x40;
      if (off >= 14 && off < 34) {
        m[idx]![24] = 0;
        m[idx]![25] = 0;
        const c = inetChecksum(m[idx]!, 14, 34);
        m[idx]![24] = c >>> 8;
        m[idx]![25] = c & 255;
      }
      const r = compareInterface('if', frames(kernel()), frames(m), { verifyModelChecksums: false });
      expect(r.mismatches[0]?.field, field).toMatch(new RegExp(`^${field.replace('.', '\\.')}`));
    }
  });
  it('reports the quoted-length difference of an ICMP error', () => {
    const m = model();
    const short = udp('10.244.0.2', '10.244.0.3', 33001, 5353, Array(64).fill(0x61), 7).slice(0, 28);
    m[m.length - 1] = portUnreach(short, 99);
    const r = compareInterface('if', frames(kernel()), frames(m));
    expect(r.mismatches[0]).toMatchObject({ index: 9, kind: 'length' });
    expect(r.mismatches[0]!.field).toMatch(/ip\.total_length/);
  });
  it('reports missing and extra frames', () => {
    const k = kernel();
    const r = compareInterface('if', frames(k), frames(model().slice(0, 3)));
    expect(r.mismatches[0]).toMatchObject({ index: 3, kind: 'missing-in-model' });
    const r2 = compareInterface('if', frames(k.slice(0, 1)), frames(model().slice(0, 2)));
    expect(r2.mismatches).toEqual([expect.objectContaining({ index: 1, kind: 'extra-in-model' })]);
  });
  it('flags wrong model checksums', () => {
    const m = model();
    m[3]![50] ^= 1;
    const r = compareInterface('if', frames(kernel()), frames(m));
    expect(r.mismatches[0]).toMatchObject({ index: 3, kind: 'problem' });
    expect(r.mismatches[0]!.detail).toMatch(/model: bad TCP checksum/);
  });
  it('keeps port mapping consistent per flow and distinguishes flows', () => {
    // Two flows in one order on the kernel side, swapped source ports on the model side: still equal,
    // because ports map in order of first appearance.
    const k = [eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 40000, 53, [1])), eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 50000, 53, [1])), eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 40000, 53, [1]))];
    const m = [eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 50000, 53, [1])), eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 40000, 53, [1])), eth(B, A, 0x0800, udp('10.244.0.2', '10.244.0.3', 50000, 53, [1]))];
    expect(compareInterface('if', frames(k), frames(m)).ok).toBe(true);
    const m2 = [m[0]!, m[1]!, m[1]!];
    expect(compareInterface('if', frames(k), frames(m2)).mismatches[0]).toMatchObject({ index: 2, field: 'udp.sport (+1)' });
  });
});

describe('summarise', () => {
  it('describes ARP, TCP, UDP and ICMP frames', () => {
    expect(summarise(arpReq())).toBe('0a:58:0a:f4:00:02 > ff:ff:ff:ff:ff:ff len 42 ARP who-has 10.244.0.3 tell 10.244.0.2');
    expect(summarise(tcpFlow({ isnC: 1, isnS: 2, port: 40000, ts: 5, ids: 9, csum: 'good' })[0]!)).toMatch(/10\.244\.0\.2\.40000 > 10\.244\.0\.3\.80 TCP \[S\] seq 1 ack 0 win 64240 optlen 12 len 0 \(tos 0x0 ttl 64 id 9 DF iplen 52\)/);
    expect(summarise(echo(8, 5, 1, 0, 3, true))).toMatch(/ICMP echo request id 5 seq 1 len 64/);
  });
});
