import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { HookTable, NfHook, NfVerdict, type NfHookOps } from '../../src/kernel/hooks.js';
import { FdbTable, type FdbEntry } from '../../src/kernel/devices/bridge.js';
import { Skb } from '../../src/kernel/skb.js';
import { writeIpv4Header, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { iptablesRestore, netfilterOf } from '../../src/netfilter/index.js';
import { pair } from './topo.js';

const accept = () => NfVerdict.ACCEPT;
const names = (l: NfHookOps[]) => l.map((o) => o.name);

function udpSkb(): Skb {
  const skb = Skb.alloc(14 + 28);
  skb.nh = skb.data + 14;
  writeIpv4Header(skb.buf, skb.nh, 0x0a000001, 0x0a000002, IPPROTO_UDP, 64, 0, 1, true, 8);
  return skb;
}

describe('HookTable: the switched-on lists the packet path calls', () => {
  it('ipv4On holds the functions not switched off, in priority order, after register and switched()', () => {
    const h = new HookTable();
    const a: NfHookOps = { name: 'a', priority: 10, fn: accept, off: false };
    const b: NfHookOps = { name: 'b', priority: -5, fn: accept, off: true };
    const c: NfHookOps = { name: 'c', priority: 0, fn: accept, off: false };
    for (const o of [a, b, c]) h.register('ipv4', NfHook.FORWARD, o);
    expect(names(h.ipv4[NfHook.FORWARD])).toEqual(['b', 'c', 'a']);
    expect(names(h.ipv4On[NfHook.FORWARD])).toEqual(['c', 'a']);
    b.off = false; a.off = true;
    h.switched();
    expect(names(h.ipv4On[NfHook.FORWARD])).toEqual(['b', 'c']);
    h.unregister('ipv4', NfHook.FORWARD, 'b');
    expect(names(h.ipv4On[NfHook.FORWARD])).toEqual(['c']);
    expect(h.ipv4On[NfHook.PRE_ROUTING]).toEqual([]);
  });

  it('a function that switches others on or off during a hook: the rest of the hook follows the change', () => {
    const l = pair();
    const ns = l.n.ns('a');
    const ran: string[] = [];
    const later: NfHookOps = { name: 'later', priority: 20, fn: () => { ran.push('later'); return NfVerdict.ACCEPT; }, off: true };
    const gone: NfHookOps = { name: 'gone', priority: 30, fn: () => { ran.push('gone'); return NfVerdict.ACCEPT; }, off: false };
    const first: NfHookOps = {
      name: 'first', priority: 10, off: false,
      fn: () => { ran.push('first'); later.off = false; gone.off = true; ns.hooks.switched(); return NfVerdict.ACCEPT; },
    };
    for (const o of [first, later, gone]) ns.hooks.register('ipv4', NfHook.LOCAL_OUT, o);
    expect(ns.stack.hook(NfHook.LOCAL_OUT, udpSkb(), null, null)).toBe(true);
    expect(ran).toEqual(['first', 'later']);
    ran.length = 0;
    expect(ns.stack.hook(NfHook.LOCAL_OUT, udpSkb(), null, null)).toBe(true);
    expect(ran).toEqual(['first', 'later']);
  });

  it('a function that unregisters itself during a hook: the ones after it still run, once', () => {
    const l = pair();
    const ns = l.n.ns('a');
    const ran: string[] = [];
    const mk = (name: string, priority: number, fn?: () => void): NfHookOps => ({ name, priority, off: false, fn: () => { ran.push(name); fn?.(); return NfVerdict.ACCEPT; } });
    ns.hooks.register('ipv4', NfHook.FORWARD, mk('x', 1));
    ns.hooks.register('ipv4', NfHook.FORWARD, mk('self', 5, () => ns.hooks.unregister('ipv4', NfHook.FORWARD, 'self')));
    ns.hooks.register('ipv4', NfHook.FORWARD, mk('y', 5));
    ns.hooks.register('ipv4', NfHook.FORWARD, mk('z', 9));
    ns.stack.hook(NfHook.FORWARD, udpSkb(), null, null);
    expect(ran).toEqual(['x', 'self', 'y', 'z']);
  });

  it("a namespace without rules calls none of netfilter's functions; a nat rule switches conntrack and the nat table on", () => {
    const l = pair();
    const ns = l.n.ns('a');
    const st = netfilterOf(ns);
    expect(ns.hooks.ipv4[NfHook.PRE_ROUTING].length).toBeGreaterThan(0);
    for (let h = 0; h < 5; h++) expect(names(ns.hooks.ipv4On[h])).toEqual([]);
    iptablesRestore(l.n, 'a', '*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n');
    expect(st.nf.ctActive).toBe(true);
    // The nat table has no function of its own: nf_nat runs its rules (runNatRules).
    expect(names(ns.hooks.ipv4On[NfHook.POST_ROUTING])).toEqual(['nf_nat', 'nf_conntrack_confirm']);
    expect(names(ns.hooks.ipv4On[NfHook.PRE_ROUTING])).toEqual(['nf_defrag_ipv4', 'nf_conntrack', 'nf_nat']);
    expect(names(ns.hooks.ipv4On[NfHook.FORWARD])).toEqual([]);
  });
});

describe('FdbTable: a Map that remembers its last two lookups', () => {
  it('find answers as Map.get through any sequence of set, delete, clear and in-place changes', () => {
    const entry = (n: number): FdbEntry => ({ mac: new Uint8Array(6), port: null, local: false, isStatic: false, updated: n, used: n });
    const op = fc.oneof(
      fc.record({ k: fc.constant('set' as const), key: fc.nat(5), v: fc.nat(1000) }),
      fc.record({ k: fc.constant('del' as const), key: fc.nat(5) }),
      fc.record({ k: fc.constant('find' as const), key: fc.nat(5) }),
      fc.record({ k: fc.constant('clear' as const) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const t = new FdbTable();
      const ref = new Map<number, FdbEntry>();
      // Keys as the bridge makes them: 48-bit MAC numbers (heap numbers, not small integers).
      const K = (i: number) => 0x0200_0000_0000 + i * 0x1_0000_0001;
      for (const o of ops) {
        if (o.k === 'set') { const e = entry(o.v); t.set(K(o.key), e); ref.set(K(o.key), e); }
        else if (o.k === 'del') expect(t.delete(K(o.key))).toBe(ref.delete(K(o.key)));
        else if (o.k === 'clear') { t.clear(); ref.clear(); }
        else expect(t.find(K(o.key))).toBe(ref.get(K(o.key)));
      }
      for (let i = 0; i <= 5; i++) expect(t.find(K(i))).toBe(ref.get(K(i)));
      expect([...t.keys()]).toEqual([...ref.keys()]);
    }), { numRuns: 500 });
  });
});
