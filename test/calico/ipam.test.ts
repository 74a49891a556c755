import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/engine/rng.js';
import { CalicoIpam, IpamError, fnv32, ipipTunnelHandle, type BlockEvent } from '../../src/calico/ipam.js';

function ipam(seed = 1) {
  const m = new CalicoIpam(new Rng(seed));
  const events: BlockEvent[] = [];
  m.observe((e) => events.push(e));
  return { m, events };
}

describe('IPPool', () => {
  it('defaults: blockSize 26, ipipMode Never, vxlanMode Never, natOutgoing false, all(); the cidr loses its host bits', () => {
    const { m } = ipam();
    const p = m.createPool({ name: 'default-ipv4-ippool', cidr: '10.244.7.9/16' });
    expect(p).toEqual({
      name: 'default-ipv4-ippool', cidr: '10.244.0.0/16', network: 0x0af40000, prefix: 16, blockSize: 26,
      ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false, nodeSelector: 'all()',
    });
    expect(m.poolFor('10.244.200.1')).toBe(p);
    expect(m.poolFor('10.245.0.1')).toBeUndefined();
  });

  it('refuses what Calico refuses (and what podwire does not model)', () => {
    const { m } = ipam();
    m.createPool({ name: 'a', cidr: '10.244.0.0/16' });
    const bad: [Parameters<CalicoIpam['createPool']>[0], RegExp][] = [
      [{ name: 'x', cidr: '10.1.0.0/33' }, /invalid cidr/],
      [{ name: 'x', cidr: '10.1.0.0/16', blockSize: 19 }, /blockSize 19 out of range 20..32/],
      [{ name: 'x', cidr: '10.1.0.0/16', blockSize: 33 }, /out of range/],
      [{ name: 'x', cidr: '10.1.0.0/28', blockSize: 26 }, /IP pool size is too small \(\/28\).*block size \(\/26\)/],
      [{ name: 'x', cidr: '10.244.128.0/17' }, /CIDR overlaps with IPPool\(a\)/],
      [{ name: 'x', cidr: '10.0.0.0/8' }, /overlaps/],
      [{ name: 'a', cidr: '10.9.0.0/16' }, /already exists/],
      [{ name: 'x', cidr: '10.9.0.0/16', vxlanMode: 'Always' as never }, /vxlanMode "Always" is not modelled/],
      [{ name: 'x', cidr: '10.9.0.0/16', ipipMode: 'Sometimes' as never }, /ipipMode "Sometimes"/],
      [{ name: 'x', cidr: '10.9.0.0/16', nodeSelector: 'zone == "a"' }, /nodeSelector .* not modelled/],
    ];
    for (const [spec, re] of bad) expect(() => m.createPool(spec), JSON.stringify(spec)).toThrow(re);
    expect(m.pools().map((p) => p.name)).toEqual(['a']);
  });
});

describe('blocks and addresses', () => {
  it('a fresh node claims a block on its first assignment; ordinal 0 (the block\'s network address) goes first: the tunnel address', () => {
    const { m, events } = ipam();
    m.createPool({ name: 'p', cidr: '10.244.0.0/16', ipipMode: 'Always' });
    const tun = m.tunnelAddress('node-a')!;
    const [block] = m.affineBlocks('node-a');
    expect(events).toEqual([{ kind: 'claim', host: 'node-a', cidr: block, pool: 'p' }]);
    expect(`${tun}/26`).toBe(block);
    expect(m.tunnelAddress('node-a')).toBe(tun);
    expect(m.handleOf(tun)).toBe(ipipTunnelHandle('node-a'));
    const pods = [1, 2, 3].map((i) => m.autoAssign({ handle: `k8s-pod-network.c${i}`, host: 'node-a' })[0]!);
    const base = tun.split('.').map(Number);
    expect(pods).toEqual([1, 2, 3].map((i) => `${base[0]}.${base[1]}.${base[2]}.${base[3]! + i}`));
    expect(events.length).toBe(1);
  });

  it('the same seed and host give the same blocks; a host walks on from its own start, wrapping round the pool', () => {
    const run = (seed: number) => {
      const { m } = ipam(seed);
      m.createPool({ name: 'p', cidr: '10.10.0.0/24', blockSize: 26 });
      for (const h of ['n1', 'n2']) m.autoAssign({ handle: h, host: h });
      return { m, blocks: ['n1', 'n2'].map((h) => m.affineBlocks(h)[0]!) };
    };
    expect(run(5).blocks).toEqual(run(5).blocks);
    const { m, blocks } = run(5);
    // n1 gets a second block: the one after its first in the walk (the next free one).
    for (let i = 0; i < 64; i++) m.autoAssign({ handle: `x${i}`, host: 'n1' });
    const all = ['10.10.0.0/26', '10.10.0.64/26', '10.10.0.128/26', '10.10.0.192/26'];
    let next = (all.indexOf(blocks[0]!) + 1) % 4;
    if (all[next] === blocks[1]) next = (next + 1) % 4;
    expect(m.affineBlocks('n1')).toEqual([blocks[0], all[next]]);
    // Different seeds move the start.
    const starts = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((s) => run(s).blocks[0]));
    expect(starts.size).toBeGreaterThan(1);
  });

  it('a full block makes the node claim another; released ordinals go to the back of the free list', () => {
    const { m, events } = ipam();
    m.createPool({ name: 'p', cidr: '192.168.0.0/24', blockSize: 30 });
    const got = [0, 1, 2, 3, 4].map((i) => m.autoAssign({ handle: `h${i}`, host: 'n' })[0]!);
    const [b1, b2] = m.affineBlocks('n');
    expect(events.map((e) => e.cidr)).toEqual([b1, b2]);
    expect(got.slice(0, 4).every((ip) => m.blockFor(ip)!.cidr === b1)).toBe(true);
    expect(m.blockFor(got[4]!)!.cidr).toBe(b2);
    // Free the first address of block 2's predecessor slot: it comes back only after the rest.
    expect(m.releaseIps([got[4]!, '192.168.0.250'])).toEqual(['192.168.0.250']);
    const b2net = b2!.split('/')[0]!;
    const next = [0, 1, 2, 3].map((i) => m.autoAssign({ handle: `k${i}`, host: 'n' })[0]!);
    const last = (d: number) => b2net.replace(/\d+$/, (x) => String(Number(x) + d));
    expect(next).toEqual([last(1), last(2), last(3), last(0)]);
    expect(m.releaseByHandle('k3')).toEqual([last(0)]);
    expect(m.ipsByHandle('k3')).toEqual([]);
    // An empty affine block stays the node's.
    m.releaseIps([last(1), last(2), last(3)]);
    expect(m.affineBlocks('n')).toEqual([b1, b2]);
    expect(m.blocks().length).toBe(2);
  });

  it('several addresses at once, within the requested pools only; disabled pools are skipped', () => {
    const { m } = ipam();
    m.createPool({ name: 'a', cidr: '10.1.0.0/24', blockSize: 29 });
    m.createPool({ name: 'b', cidr: '10.2.0.0/24', blockSize: 29 });
    m.createPool({ name: 'off', cidr: '10.3.0.0/24', disabled: true, blockSize: 29 });
    const ips = m.autoAssign({ handle: 'h', host: 'n', num: 10, pools: ['b'] });
    expect(ips.length).toBe(10);
    expect(ips.every((ip) => ip.startsWith('10.2.'))).toBe(true);
    expect(m.affineBlocks('n').length).toBe(2);
    expect(m.autoAssign({ handle: 'byCidr', host: 'n', pools: ['10.2.0.0/24'] })[0]!.startsWith('10.2.')).toBe(true);
    expect(() => m.autoAssign({ handle: 'h', host: 'n', pools: ['10.2.0.0/25'] })).toThrow(/does not exist/);
    expect(() => m.autoAssign({ handle: 'h', host: 'n', pools: ['off'] })).toThrow(/disabled/);
    expect(() => m.autoAssign({ handle: 'h', host: 'n', pools: ['nope'] })).toThrow(/does not exist/);
    const c = m.autoAssign({ handle: 'c', host: 'm' })[0]!;
    expect(c.startsWith('10.1.')).toBe(true);
  });

  it('pool exhausted: borrow from another host\'s block (its affinity stays); strictAffinity refuses and rolls back', () => {
    const { m, events } = ipam();
    m.createPool({ name: 'p', cidr: '10.0.0.0/29', blockSize: 30 });
    m.autoAssign({ handle: 'a', host: 'A', num: 3 });
    m.autoAssign({ handle: 'b', host: 'B', num: 1 });
    expect(events.map((e) => e.host)).toEqual(['A', 'B']);
    const borrowed = m.autoAssign({ handle: 'c', host: 'A', num: 2 });
    expect(borrowed.map((ip) => m.blockFor(ip)!.affinity)).toEqual(['A', 'B']);
    expect(m.affineBlocks('A').length).toBe(1);
    const s = ipam();
    s.m.createPool({ name: 'p', cidr: '10.0.0.0/29', blockSize: 30 });
    s.m.strictAffinity = true;
    s.m.autoAssign({ handle: 'a', host: 'A', num: 3 });
    s.m.autoAssign({ handle: 'b', host: 'B', num: 1 });
    expect(() => s.m.autoAssign({ handle: 'c', host: 'A', num: 2 })).toThrow(IpamError);
    expect(s.m.ipsByHandle('c')).toEqual([]);
    expect(s.m.ipsByHandle('a').length).toBe(3);
  });

  it('assignIp: a requested address; its block is claimed for the host when new; taken or outside a pool is an error', () => {
    const { m, events } = ipam();
    m.createPool({ name: 'p', cidr: '10.244.0.0/16' });
    m.assignIp('10.244.9.70', 'pinned', 'n');
    expect(events).toEqual([{ kind: 'claim', host: 'n', cidr: '10.244.9.64/26', pool: 'p' }]);
    expect(m.handleOf('10.244.9.70')).toBe('pinned');
    expect(() => m.assignIp('10.244.9.70', 'x', 'n')).toThrow(/already assigned/);
    expect(() => m.assignIp('10.99.0.1', 'x', 'n')).toThrow(/not in a configured pool/);
    // Auto-assignment on n now starts from that block (ordinal 0 first).
    expect(m.autoAssign({ handle: 'q', host: 'n' })).toEqual(['10.244.9.64']);
  });

  it('node deleted: its tunnel address released, empty blocks deleted with their affinity, occupied ones kept', () => {
    const { m, events } = ipam();
    m.createPool({ name: 'p', cidr: '10.5.0.0/24', blockSize: 30, ipipMode: 'CrossSubnet' });
    m.tunnelAddress('n');
    m.autoAssign({ handle: 'pods', host: 'n', num: 4 });
    const [b1, b2] = m.affineBlocks('n');
    expect(m.blockFor(m.ipsByHandle('pods')[3]!)!.cidr).toBe(b2);
    m.releaseByHandle('pods');
    m.autoAssign({ handle: 'stay', host: 'n' }); // lands in b1 (its free ordinals come first)
    events.length = 0;
    expect(m.deleteNode('n')).toEqual([b2]);
    expect(events).toEqual([{ kind: 'release', host: 'n', cidr: b2, pool: 'p' }]);
    expect(m.affineBlocks('n')).toEqual([b1]);
    expect(m.ipsByHandle(ipipTunnelHandle('n'))).toEqual([]);
    // mustBeEmpty=false: the occupied block loses its affinity and is deleted once empty.
    expect(m.releaseHostAffinities('n', false)).toEqual([b1]);
    expect(m.blockFor(m.ipsByHandle('stay')[0]!)!.affinity).toBeNull();
    m.releaseByHandle('stay');
    expect(m.blocks()).toEqual([]);
  });

  it('no IPIP pool: no tunnel address; no pool at all: an error', () => {
    const { m } = ipam();
    expect(() => m.autoAssign({ handle: 'h', host: 'n' })).toThrow(/no configured Calico pools for node n/);
    m.createPool({ name: 'p', cidr: '10.5.0.0/16' });
    expect(m.tunnelAddress('n')).toBeNull();
  });

  it('observers can unsubscribe', () => {
    const m = new CalicoIpam(new Rng(1));
    const seen: string[] = [];
    const off = m.observe((e) => seen.push(e.cidr));
    m.createPool({ name: 'p', cidr: '10.5.0.0/24', blockSize: 30 });
    m.autoAssign({ handle: 'h', host: 'n' });
    off();
    m.autoAssign({ handle: 'h', host: 'o' });
    expect(seen.length).toBe(1);
  });

  it('fnv32 is Go\'s hash/fnv New32 (FNV-1)', () => {
    expect(fnv32('')).toBe(0x811c9dc5);
    expect(fnv32('a')).toBe(0x050c5d7e);
  });
});

describe('the handle index and the block lookup (issue 9: no scan of every block per call)', () => {
  it('ipsByHandle and blockFor answer as a scan of every block would, under random assignments and releases', async () => {
    const fc = (await import('fast-check')).default;
    const op = fc.oneof(
      fc.record({ k: fc.constant('auto' as const), host: fc.integer({ min: 0, max: 5 }), h: fc.integer({ min: 0, max: 9 }), num: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ k: fc.constant('release' as const), h: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ k: fc.constant('one' as const), h: fc.integer({ min: 0, max: 9 }), pick: fc.nat() }),
      fc.record({ k: fc.constant('fixed' as const), h: fc.integer({ min: 0, max: 9 }), host: fc.integer({ min: 0, max: 5 }), ip: fc.integer({ min: 0, max: 2047 }) }),
      fc.record({ k: fc.constant('affinity' as const), host: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 1000 }), (ops, seed) => {
      const m = new CalicoIpam(new Rng(seed));
      m.createPool({ name: 'a', cidr: '10.0.0.0/22', blockSize: 28 });
      m.createPool({ name: 'b', cidr: '10.0.4.0/22', blockSize: 26 });
      const ipText = (n: number) => `10.0.${n >> 8}.${n & 255}`;
      const scanHandle = (h: string) => m.blocks().flatMap((b) => b.allocations.flatMap((x, o) => (x === h ? [ipText(((b.network & 0xffff) + o))] : [])));
      const scanBlock = (ip: string) => { const n = Number(ip.split('.')[2]) * 256 + Number(ip.split('.')[3]); return m.blocks().find((b) => ((n >> (32 - b.prefix)) << (32 - b.prefix)) === (b.network & 0xffff)); };
      for (const o of ops) {
        try {
          if (o.k === 'auto') m.autoAssign({ handle: `h${o.h}`, host: `n${o.host}`, num: o.num });
          else if (o.k === 'release') m.releaseByHandle(`h${o.h}`);
          else if (o.k === 'one') { const ips = m.ipsByHandle(`h${o.h}`); if (ips.length) m.releaseIps([ips[o.pick % ips.length]!]); }
          else if (o.k === 'fixed') m.assignIp(ipText(o.ip), `h${o.h}`, `n${o.host}`);
          else m.releaseHostAffinities(`n${o.host}`, false);
        } catch (e) { if (!(e instanceof IpamError)) throw e; }
        for (let h = 0; h < 10; h++) expect(m.ipsByHandle(`h${h}`)).toEqual(scanHandle(`h${h}`));
        for (let n = 0; n < 2048; n += 37) expect(m.blockFor(ipText(n))).toBe(scanBlock(ipText(n)));
      }
    }), { numRuns: 60, seed: 5 });
  });
});
