import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalizeRange, HostLocalDisk, HostLocalIpam, type HostLocalIpamConfig } from '../../src/cni/index.js';

const ipam = (ranges: HostLocalIpamConfig['ranges'], extra: Partial<HostLocalIpamConfig> = {}): HostLocalIpamConfig => ({
  type: 'host-local',
  ranges,
  routes: [],
  ...extra,
});
const add = (h: HostLocalIpam, id: string, ips?: string[]) => h.add({ containerID: id, ifName: 'eth0', ...(ips ? { ips } : {}) }).ips[0].address;

describe('host-local ranges', () => {
  it('fills defaults: gateway .1, rangeStart .1, rangeEnd broadcast-1', () => {
    expect(canonicalizeRange({ subnet: '10.244.1.0/24' })).toEqual({
      subnet: 0x0af40100,
      prefix: 24,
      rangeStart: 0x0af40101,
      rangeEnd: 0x0af401fe,
      gateway: 0x0af40101,
    });
  });

  it('refuses /31, /32 and host bits, with the plugin messages', () => {
    expect(() => canonicalizeRange({ subnet: '10.0.0.0/31' })).toThrow('Network 10.0.0.0/31 too small to allocate from');
    expect(() => canonicalizeRange({ subnet: '10.0.0.4/32' })).toThrow('Network 10.0.0.4/32 too small to allocate from');
    expect(() => canonicalizeRange({ subnet: '10.244.1.5/24' })).toThrow(
      'Network has host bits set. For a subnet mask of length 24 the network address is 10.244.1.0',
    );
    expect(() => canonicalizeRange({ subnet: '10.244.1.0/24', rangeStart: '10.244.2.1' })).toThrow('RangeStart 10.244.2.1 not in network 10.244.1.0/24');
  });
});

describe('host-local allocation', () => {
  it('starts at rangeStart on a fresh store and skips the gateway', () => {
    const h = new HostLocalIpam('net', ipam([[{ subnet: '10.244.0.0/24' }]]));
    // rangeStart .1 is the gateway: skipped
    expect(h.add({ containerID: 'a', ifName: 'eth0' })).toEqual({
      ips: [{ address: '10.244.0.2/24', gateway: '10.244.0.1' }],
      routes: [],
      dns: {},
    });
    const g = new HostLocalIpam('net', ipam([[{ subnet: '10.0.0.0/24', gateway: '10.0.0.3', rangeStart: '10.0.0.2' }]]));
    expect([add(g, 'a'), add(g, 'b')]).toEqual(['10.0.0.2/24', '10.0.0.4/24']);
  });

  it('/30: two addresses, then the plugin exhaustion error', () => {
    const h = new HostLocalIpam('net', ipam([[{ subnet: '10.0.0.0/30' }]]));
    // .1 gateway, .2 the only address (.3 broadcast)
    expect(add(h, 'a')).toBe('10.0.0.2/30');
    expect(() => add(h, 'b')).toThrow('failed to allocate for range 0: no IP addresses available in range set: 10.0.0.1-10.0.0.2');
    expect(h.files()).toEqual({
      '/var/lib/cni/networks/net/10.0.0.2': 'a\r\neth0',
      '/var/lib/cni/networks/net/last_reserved_ip.0': '10.0.0.2',
      '/var/lib/cni/networks/net/lock': '',
    });
  });

  it('/24 exhausted after 253 pods with the plugin message', () => {
    const h = new HostLocalIpam('cbr0', ipam([[{ subnet: '10.244.0.0/24' }]]));
    for (let i = 0; i < 253; i++) add(h, `c${i}`);
    expect(() => add(h, 'x')).toThrow('no IP addresses available in range set: 10.244.0.1-10.244.0.254');
  });

  it('round-robin: a released IP is not reused at once; wraps to rangeStart', () => {
    const h = new HostLocalIpam('net', ipam([[{ subnet: '10.0.0.0/29' }]])); // .2-.6 usable
    expect(['a', 'b', 'c'].map((id) => add(h, id))).toEqual(['10.0.0.2/29', '10.0.0.3/29', '10.0.0.4/29']);
    h.del({ containerID: 'a', ifName: 'eth0' });
    expect(add(h, 'd')).toBe('10.0.0.5/29');
    expect(add(h, 'e')).toBe('10.0.0.6/29');
    expect(add(h, 'f')).toBe('10.0.0.2/29'); // wrapped, skipping the gateway .1
  });

  it('wraps across the ranges of a set', () => {
    const h = new HostLocalIpam('net', ipam([[{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' }]]));
    expect([add(h, 'a'), add(h, 'b')]).toEqual(['10.0.0.2/30', '10.0.1.2/30']);
    h.del({ containerID: 'a', ifName: 'eth0' });
    expect(add(h, 'c')).toBe('10.0.0.2/30');
    expect(() => add(h, 'd')).toThrow('no IP addresses available in range set: 10.0.0.1-10.0.0.2,10.0.1.1-10.0.1.2');
  });

  it('one address per range set; last_reserved_ip per set', () => {
    const h = new HostLocalIpam('net', ipam([[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/24' }]]));
    expect(h.add({ containerID: 'a', ifName: 'eth0' }).ips).toEqual([
      { address: '10.0.0.2/24', gateway: '10.0.0.1' },
      { address: '10.1.0.2/24', gateway: '10.1.0.1' },
    ]);
    expect(Object.keys(h.files())).toContain('/var/lib/cni/networks/net/last_reserved_ip.1');
  });

  it('requested IPs: honoured, pinned clash, gateway, outside the ranges', () => {
    const disk = new HostLocalDisk();
    const h = new HostLocalIpam('net', ipam([[{ subnet: '10.244.1.0/24' }]]), disk);
    expect(add(h, 'a', ['10.244.1.50'])).toBe('10.244.1.50/24');
    expect(() => add(h, 'b', ['10.244.1.50'])).toThrow(
      'failed to allocate for range 0: requested IP address 10.244.1.50 is not available in range set 10.244.1.1-10.244.1.254',
    );
    expect(() => add(h, 'b', ['10.244.1.1'])).toThrow("failed to allocate for range 0: requested ip 10.244.1.1 is subnet's gateway");
    expect(() => add(h, 'b', ['10.9.9.9'])).toThrow('failed to allocate all requested IPs: 10.9.9.9');
    // the failed request released what it had taken for range 0
    expect(Object.keys(h.files()).filter((f) => /\d$/.test(f) && !f.includes('last_'))).toEqual(['/var/lib/cni/networks/net/10.244.1.50']);
    // ...but, as in the plugin, last_reserved_ip.0 kept the rolled-back .51, so the next is .52
    expect(h.files()['/var/lib/cni/networks/net/last_reserved_ip.0']).toBe('10.244.1.51');
    expect(add(h, 'c')).toBe('10.244.1.52/24');
  });

  it('refuses a second allocation for the same container and interface', () => {
    const h = new HostLocalIpam('net', ipam([[{ subnet: '10.0.0.0/24' }]]));
    add(h, 'a');
    expect(() => add(h, 'a')).toThrow('failed to allocate for range 0: 10.0.0.2 has been allocated to a, duplicate allocation is not allowed');
    expect(h.add({ containerID: 'a', ifName: 'net1' }).ips[0].address).toBe('10.0.0.3/24');
  });

  it('state lives per network and dataDir on the disk', () => {
    const disk = new HostLocalDisk();
    add(new HostLocalIpam('a', ipam([[{ subnet: '10.0.0.0/24' }]]), disk), 'x');
    add(new HostLocalIpam('a', ipam([[{ subnet: '10.0.0.0/24' }]]), disk), 'y');
    add(new HostLocalIpam('b', ipam([[{ subnet: '10.0.0.0/24' }]], { dataDir: '/run/ipam' }), disk), 'z');
    expect(Object.keys(disk.files())).toEqual([
      '/run/ipam/b/10.0.0.2',
      '/run/ipam/b/last_reserved_ip.0',
      '/run/ipam/b/lock',
      '/var/lib/cni/networks/a/10.0.0.2',
      '/var/lib/cni/networks/a/10.0.0.3',
      '/var/lib/cni/networks/a/last_reserved_ip.0',
      '/var/lib/cni/networks/a/lock',
    ]);
  });

  it('property: never the same IP twice while allocated, never gateway/network/broadcast, always in range', () => {
    const rangeArb = fc
      .record({ prefix: fc.integer({ min: 26, max: 30 }), gwOffset: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }) })
      .map(({ prefix, gwOffset }) => ({ prefix, gateway: gwOffset === undefined ? undefined : `10.1.2.${gwOffset}` }));
    const opArb = fc.oneof(
      fc.record({ op: fc.constant('add' as const), id: fc.integer({ min: 0, max: 80 }) }),
      fc.record({ op: fc.constant('del' as const), id: fc.integer({ min: 0, max: 80 }) }),
    );
    fc.assert(
      fc.property(rangeArb, fc.array(opArb, { maxLength: 200 }), ({ prefix, gateway }, ops) => {
        const r = { subnet: `10.1.2.0/${prefix}`, ...(gateway ? { gateway } : {}) };
        const h = new HostLocalIpam('p', ipam([[r]]));
        const size = 2 ** (32 - prefix);
        const gw = gateway ?? '10.1.2.1';
        const held = new Map<number, string>(); // id → ip
        for (const { op, id } of ops) {
          if (op === 'del') {
            const released = h.del({ containerID: `c${id}`, ifName: 'eth0' });
            expect(released).toEqual(held.has(id) ? [held.get(id)] : []);
            held.delete(id);
            continue;
          }
          // the range is .1 .. broadcast-1; the gateway only costs an address when it lies inside it
          const gwLast = Number(gw.split('.')[3]);
          const free = size - 2 - (gwLast >= 1 && gwLast <= size - 2 ? 1 : 0) - held.size;
          if (held.has(id)) {
            expect(() => add(h, `c${id}`)).toThrow(/duplicate allocation/);
            continue;
          }
          if (free === 0) {
            expect(() => add(h, `c${id}`)).toThrow(/no IP addresses available/);
            continue;
          }
          const addr = add(h, `c${id}`);
          const ip = addr.split('/')[0];
          const last = Number(ip.split('.')[3]);
          expect(addr.endsWith(`/${prefix}`)).toBe(true);
          expect(ip.startsWith('10.1.2.')).toBe(true);
          expect(last).toBeGreaterThan(0);
          expect(last).toBeLessThan(size - 1);
          expect(ip).not.toBe(gw);
          expect([...held.values()]).not.toContain(ip);
          held.set(id, ip);
        }
      }),
      { numRuns: 200 },
    );
  });
});
