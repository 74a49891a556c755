/**
 * The TCP model's send queue: what a socket writes arrives whole and in order, whatever the
 * sizes of the writes (smaller and larger than a segment, many in one instant) and with
 * segments lost on the way (retransmissions copy their bytes from the queue again).
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TcpSock } from '../../src/kernel/tcp.js';
import { pair, ip, ipProtoOf, isArp } from './topo.js';

const MS = 1_000_000;

/** Bytes 0..n-1 of a stream whose byte k is k·7 + k>>8 (mod 256), so misplaced bytes show. */
function streamBytes(from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) { const k = from + i; b[i] = (k * 7 + (k >> 8)) & 0xff; }
  return b;
}

interface Write { size: number; gapMs: number }

/** a connects to b, writes `writes` (each `gapMs` after the previous), b's eth0 is down during `outage`; returns what b read. */
function transfer(writes: Write[], outage: [number, number] | null): { got: Uint8Array; total: number; dataSegs: number[] } {
  const l = pair();
  const chunks: Uint8Array[] = [];
  l.n.ns('b').sockets.tcpListenOn(80, { onData: (_s, d) => chunks.push(d.slice()) });
  let written = 0;
  const c = new TcpSock(l.n.ns('a'), {
    onConnect: (s) => {
      let t = 0;
      for (const w of writes) {
        t += w.gapMs * MS;
        const bytes = streamBytes(written, w.size);
        written += w.size;
        if (t === 0) s.send(bytes);
        else l.w.sched.after(t, () => s.send(bytes));
      }
    },
  });
  expect(c.connect(ip('10.0.0.2'), 80)).toBeNull();
  if (outage) {
    l.w.sched.at(outage[0] * MS, () => l.n.linkSetUp('b', 'eth0', false));
    l.w.sched.at(outage[1] * MS, () => l.n.linkSetUp('b', 'eth0', true));
  }
  l.run();
  const total = writes.reduce((n, w) => n + w.size, 0);
  const got = new Uint8Array(chunks.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of chunks) { got.set(x, o); o += x.length; }
  const dataSegs = l.on('a/eth0').filter((f) => !isArp(f.bytes) && ipProtoOf(f.bytes) === 6)
    .map((f) => f.bytes.length - 14 - 20 - (f.bytes[14 + 20 + 12]! >> 4) * 4).filter((n) => n > 0);
  return { got, total, dataSegs };
}

describe('TCP send queue', () => {
  it('many small writes in one instant arrive whole, in segments of at most the MSS', () => {
    const { got, total, dataSegs } = transfer(Array.from({ length: 500 }, (_, i) => ({ size: 19 + (i % 50), gapMs: 0 })), null);
    expect(got.length).toBe(total);
    expect(got).toEqual(streamBytes(0, total));
    expect(Math.max(...dataSegs)).toBeLessThanOrEqual(1448);
    expect(dataSegs.reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('property: any writes, with an outage on the way, arrive whole and in order', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ size: fc.integer({ min: 1, max: 4000 }), gapMs: fc.constantFrom(0, 0, 0, 1, 5, 300) }), { minLength: 1, maxLength: 60 }),
      fc.option(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 3000 })).map(([a, d]) => [a, a + d] as [number, number]), { nil: null }),
      (writes, outage) => {
        const { got, total } = transfer(writes, outage);
        expect(got.length).toBe(total);
        expect(got).toEqual(streamBytes(0, total));
      }), { numRuns: 60, seed: 9 });
  });
});

/** a connected to b's sink on port 80; `go(s)` runs once connected. Returns a's and b's TCP segments (time, payload length, flags). */
function exchange(go: (s: TcpSock, l: ReturnType<typeof pair>) => void, nodelay = false) {
  const l = pair();
  l.n.ns('b').sockets.tcpListenOn(80, { onData: () => {} });
  const c = new TcpSock(l.n.ns('a'), { onConnect: (s) => go(s, l) });
  c.nodelay = nodelay;
  c.connect(ip('10.0.0.2'), 80);
  l.run(10_000 * MS);
  const segs = (dev: string) => l.on(dev).filter((f) => !isArp(f.bytes) && ipProtoOf(f.bytes) === 6).map((f) => ({
    time: f.time, len: f.bytes.length - 14 - 20 - (f.bytes[14 + 20 + 12]! >> 4) * 4, flags: f.bytes[14 + 20 + 13]!, tos: f.bytes[15]!, ttl: f.bytes[22]!,
  }));
  return { a: segs('a/eth0'), b: segs('b/eth0') };
}

describe('Nagle (tcp_nagle_check, Minshall) and the receiver\'s ACKs', () => {
  it('back-to-back small writes: the first goes alone, the rest wait for its ACK and go as full segments and one PSH tail', () => {
    const { a } = exchange((s) => { for (let i = 0; i < 200; i++) s.send(streamBytes(i * 60, 60)); });
    const data = a.filter((x) => x.len > 0);
    expect(data.map((x) => x.len)).toEqual([60, 1448, 1448, 1448, 1448, 1448, 1448, 1448, 1448, 356]);
    // Only the segment that empties the queue carries PSH (the full ones went while the tail was held, or before it).
    expect(data.map((x) => (x.flags & 0x08) !== 0)).toEqual([true, false, false, false, false, false, false, false, false, true]);
  });

  it('TCP_NODELAY: every write is a segment of its own', () => {
    const { a } = exchange((s) => { for (let i = 0; i < 50; i++) s.send(streamBytes(i * 60, 60)); }, true);
    expect(a.filter((x) => x.len > 0).map((x) => x.len)).toEqual(new Array(50).fill(60));
  });

  it('a small segment is ACKed when the application reads it, also after the quick ACKs are spent (PUSHED, tcp_cleanup_rbuf)', () => {
    const { a, b } = exchange((s, l) => { for (let i = 0; i < 30; i++) l.w.sched.after(i * 10 * MS, () => s.send(streamBytes(i * 60, 60))); });
    const data = a.filter((x) => x.len > 0);
    expect(data).toHaveLength(30);
    const acks = b.filter((x) => x.len === 0 && x.flags === 0x10).slice(-30);
    // Each of the 30 data segments gets its ACK at the instant it arrives (the link has no delay), none 40 ms later.
    expect(acks.map((x) => x.time)).toEqual(data.map((x) => x.time));
  });

  it('a listener\'s IP_TOS and IP_TTL go on its SYN-ACK and its accepted sockets\' segments; a socket\'s own on its segments', () => {
    const l = pair();
    l.n.ns('b').sockets.tcpListenOn(179, { tos: 0xc0, ttl: 255, onConnect: (s) => { s.ttl = 64; s.send(streamBytes(0, 19)); } });
    const c = new TcpSock(l.n.ns('a'), { onConnect: (s) => s.send(streamBytes(0, 19)) });
    c.tos = 0xc0;
    c.connect(ip('10.0.0.2'), 179);
    l.run(1000 * MS);
    const hdr = (dev: string) => l.on(dev).filter((f) => !isArp(f.bytes) && ipProtoOf(f.bytes) === 6)
      .map((f) => `${f.bytes.length - 34 - (f.bytes[46]! >> 4) * 4 > 0 ? 'data' : 'ctl'} ${f.bytes[15]!.toString(16)}/${f.bytes[22]}`);
    expect(new Set(hdr('a/eth0'))).toEqual(new Set(['ctl c0/64', 'data c0/64']));
    const bh = hdr('b/eth0');
    expect(bh[0]).toBe('ctl c0/255'); // SYN-ACK from the listener
    // Its data goes with the TTL the application set once it accepted (an ACK sent before that still has 255).
    expect(bh.filter((x) => x.startsWith('data'))).toEqual(['data c0/64']);
  });
});
