import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pair } from './topo.js';

// Netns indexes its addresses only above a few (a pod scans its two): the answers must not depend on it.
describe('Netns address lookups (scanned or indexed)', () => {
  it('hasAddr and isBroadcastOn agree with a scan of addrs through adds and removes across the index threshold', () => {
    const addr = fc.record({ dev: fc.constantFrom('eth0', 'lo'), last: fc.integer({ min: 1, max: 6 }), prefix: fc.constantFrom(24, 30, 31, 32) });
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), addr), { maxLength: 40 }), (ops) => {
      const l = pair();
      const ns = l.n.ns('a');
      for (const [add, a] of ops) {
        const cidr = `10.9.${a.last}.${a.last}/${a.prefix}`;
        try {
          if (add) l.n.addrAdd('a', a.dev, cidr); else l.n.addrDel('a', a.dev, cidr);
        } catch { /* EEXIST / EADDRNOTAVAIL: the model refused, nothing changed */ }
        for (let x = 1; x <= 6; x++) {
          const ipv = ((10 << 24) | (9 << 16) | (x << 8) | x) >>> 0;
          expect(ns.hasAddr(ipv)).toBe(ns.addrs.some((i) => i.addr === ipv));
          for (const dev of [ns.device('eth0')!, ns.device('lo')!]) {
            for (const b of [ipv, ((10 << 24) | (9 << 16) | (x << 8) | 255) >>> 0, ((10 << 24) | (9 << 16) | (x << 8) | 7) >>> 0, 0]) {
              expect(ns.isBroadcastOn(dev, b)).toBe(ns.addrs.some((i) => i.dev === dev && i.broadcast === b));
            }
          }
        }
      }
    }), { numRuns: 60 });
  });

  it('byIndex maps every device by ifindex', () => {
    const ns = pair().n.ns('a');
    expect([...ns.byIndex].map(([i, d]) => [i, d.name])).toEqual([...ns.devices.values()].map((d) => [d.ifindex, d.name]));
  });
});
