import { describe, expect, it } from 'vitest';
import { Netem, type NetemSpec } from '../../src/kernel/netem.js';
import { carrierLost } from '../../src/kernel/carrier.js';
import { ip, pair, type Lab } from './topo.js';

const MS = 1_000_000;

/** a (10.0.0.1) ↔ b (10.0.0.2) over a veth, a netem on a/eth0; b's neighbour pre-resolved so no ARP interferes. */
function lab(spec: NetemSpec | null, seed = 1): Lab {
  const l = pair(seed);
  l.n.neighReplace('a', '10.0.0.2', l.n.ns('b').device('eth0')!.mac, 'eth0', 'permanent');
  l.n.neighReplace('b', '10.0.0.1', l.n.ns('a').device('eth0')!.mac, 'eth0', 'permanent');
  const d = l.n.ns('a').device('eth0')!;
  if (spec) d.netem = new Netem(d, spec);
  return l;
}

/** Sends `n` echo requests from a, `gap` ns apart; returns the replies' sequence numbers in arrival order. */
function pings(l: Lab, n: number, gap = 0, size = 56): number[] {
  const got: number[] = [];
  const s = l.n.ns('a').sockets.pingOpen({ onReply: (seq) => got.push(seq) }, 7);
  for (let i = 0; i < n; i++) l.w.sched.at(i * gap, () => s.send(ip('10.0.0.2'), i, size));
  l.run();
  return got;
}

describe('netem (src/kernel/netem.ts)', () => {
  it('no qdisc: frames leave at once, nothing dropped', () => {
    const l = lab(null);
    expect(pings(l, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(l.drops).toEqual([]);
  });

  it('loss: about that share dropped as QDISC_DROP before the tap (tcpdump never sees them), deterministic per seed', () => {
    const l = lab({ loss: 10 });
    const got = pings(l, 2000, MS);
    const out = l.on('a/eth0').length;
    expect(out).toBe(got.length);
    expect(l.drops.length).toBe(2000 - out);
    expect(l.drops.every((d) => d.reason === 'QDISC_DROP')).toBe(true);
    expect(out).toBeGreaterThan(1750);
    expect(out).toBeLessThan(1850);
    expect(pings(lab({ loss: 10 }), 2000, MS)).toEqual(got);
    expect(pings(lab({ loss: 10 }, 2), 2000, MS)).not.toEqual(got);
  });

  it('delay: the frame leaves (and the tap sees it) after the delay', () => {
    const l = lab({ delay: 50 * MS });
    pings(l, 1);
    expect(l.on('a/eth0').map((f) => f.time)).toEqual([50 * MS]);
  });

  it('jitter: uniform in [delay − jitter, delay + jitter); the queue is ordered by send time, so frames can reorder', () => {
    const l = lab({ delay: 100 * MS, jitter: 20 * MS });
    const got = pings(l, 400, 100_000);
    const sent = l.on('a/eth0');
    for (const [i, f] of sent.entries()) expect(f.time).toBeGreaterThanOrEqual(sent[Math.max(0, i - 1)]!.time);
    const delays = l.on('a/eth0').map((f) => f.time);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(80 * MS);
    expect(Math.max(...delays)).toBeLessThan(120 * MS + 400 * 100_000);
    expect(got).not.toEqual([...got].sort((a, b) => a - b));
    expect([...got].sort((a, b) => a - b)).toEqual([...Array(400).keys()]);
  });

  it('duplicate 100 %: every frame leaves twice, identical', () => {
    const l = lab({ duplicate: 100 });
    const got = pings(l, 3);
    const out = l.on('a/eth0');
    expect(out).toHaveLength(6);
    expect(out[0]!.bytes).toEqual(out[1]!.bytes);
    expect(got).toHaveLength(6); // b answers both copies
  });

  it('corrupt 100 %: each frame differs from the clean one by exactly one bit', () => {
    const clean = lab(null);
    pings(clean, 20);
    const bad = lab({ corrupt: 100 });
    pings(bad, 20);
    const a = clean.on('a/eth0'), b = bad.on('a/eth0');
    expect(b).toHaveLength(20);
    for (let i = 0; i < 20; i++) {
      let bits = 0;
      for (let j = 0; j < a[i]!.bytes.length; j++) for (let x = a[i]!.bytes[j]! ^ b[i]!.bytes[j]!; x; x &= x - 1) bits++;
      expect(bits).toBe(1);
    }
  });

  it('reorder 100 % (with a delay): every frame goes at once, ahead of the delayed ones', () => {
    const l = lab({ delay: 10 * MS, reorder: 100 });
    pings(l, 3);
    expect(l.on('a/eth0').map((f) => f.time)).toEqual([0, 0, 0]);
  });

  it('reorder 50 %: the immediate frames overtake delayed ones', () => {
    const l = lab({ delay: 10 * MS, reorder: 50 });
    const got = pings(l, 50, MS);
    const times = l.on('a/eth0').map((f) => f.time);
    expect(times.some((t) => t % MS !== 0 || t < 10 * MS)).toBe(true);
    expect(got).not.toEqual([...got].sort((a, b) => a - b));
  });

  it('rate: frames wait their serialisation time behind each other', () => {
    const l = lab({ rate: 1_000_000 });
    pings(l, 3, 0, 958); // 958 + 8 + 20 + 14 = 1000-byte frames: 8 ms each at 1 Mbit/s
    expect(l.on('a/eth0').map((f) => f.time)).toEqual([8 * MS, 16 * MS, 24 * MS]);
  });

  it('limit: a frame arriving at a full queue is dropped', () => {
    const l = lab({ delay: 10 * MS, limit: 2 });
    pings(l, 3);
    expect(l.on('a/eth0')).toHaveLength(2);
    expect(l.drops.map((d) => d.reason)).toEqual(['QDISC_DROP']);
  });

  it('carrier loss resets the qdisc: what it held is freed, nothing of it leaves later', () => {
    const l = lab({ delay: 10 * MS });
    const s = l.n.ns('a').sockets.pingOpen({}, 7);
    s.send(ip('10.0.0.2'), 1, 56);
    l.w.sched.at(5 * MS, () => carrierLost(l.n.ns('a').device('eth0')!));
    l.run();
    expect(l.on('a/eth0')).toHaveLength(0);
    expect(l.drops.map((d) => d.reason)).toEqual(['NOT_SPECIFIED']);
  });

  it('args: the tc command line', () => {
    expect(Netem.args({ delay: 50 * MS, jitter: 10 * MS, loss: 10, duplicate: 1, reorder: 25, corrupt: 0.1, rate: 10_000_000 }))
      .toBe('delay 50ms 10ms loss 10% duplicate 1% reorder 25% corrupt 0.1% rate 10000000bit');
    expect(Netem.args({ delay: 500_000, limit: 50 })).toBe('limit 50 delay 500us');
    expect(Netem.args({})).toBe('');
  });
});
