/**
 * Building the PacketCtx a table traversal hands to matches and targets:
 * the packet's L3/L4 fields parsed once from the IPv4 header at skb.nh, its
 * devices (and bridge ports under br_netfilter), and its conntrack state.
 */
import type { Skb } from '../kernel/skb.js';
import type { Netns } from '../kernel/netns.js';
import type { NfHookState } from '../kernel/hooks.js';
import { u16 } from '../wire/bytes.js';
import { IP_OFFSET, ipv4Daddr, ipv4HeaderLen, ipv4Protocol, ipv4Saddr, ipv4TotLen } from '../wire/ipv4.js';
import type { IpsetRegistry } from './ipset-types.js';
import type { NfOps, PacketCtx, TableName } from './types.js';
import type { SkbCt } from './conntrack.js';

/** A blank PacketCtx for `ns`, to be filled by fillCtx (NetfilterNs keeps one per nesting depth). */
export function newCtx(ns: Netns, ipsets: IpsetRegistry, ops: NfOps, random: () => number): PacketCtx {
  return {
    skb: null as unknown as Skb, ns, table: 'filter', hook: 0,
    inDev: null, outDev: null, physIn: null, physOut: null, bridged: false,
    saddr: 0, daddr: 0, proto: 0, fragOff: 0, l4: -1, l4len: 0, sport: 0, dport: 0,
    ct: null, ctinfo: 'invalid', ipsets, now: 0, random, ops,
  };
}

/**
 * Fills `p` for one table traversal of `skb` (every per-packet field is
 * written; matches and targets keep no reference to the context beyond the
 * call, so reusing it is safe — a nested traversal, e.g. the REJECT's ICMP
 * error going out through OUTPUT, uses the next one of the pool).
 */
export function fillCtx(p: PacketCtx, skb: Skb, table: TableName, state: NfHookState): PacketCtx {
  const b = skb.buf, nh = skb.nh;
  const proto = ipv4Protocol(b, nh);
  const ihl = ipv4HeaderLen(b, nh);
  const fragOff = (u16(b, nh + 6) & IP_OFFSET) * 8;
  const l4 = fragOff === 0 ? nh + ihl : -1;
  const l4len = ipv4TotLen(b, nh) - ihl;
  let sport = 0, dport = 0;
  if (l4 >= 0 && (proto === 6 || proto === 17 || proto === 132) && l4len >= 4) {
    sport = u16(b, l4);
    dport = u16(b, l4 + 2);
  }
  const sct = skb.ct as SkbCt | null;
  p.skb = skb; p.table = table; p.hook = state.hook;
  p.inDev = state.in; p.outDev = state.out;
  p.physIn = state.physIn ?? null; p.physOut = state.physOut ?? null; p.bridged = state.bridged ?? false;
  p.saddr = ipv4Saddr(b, nh); p.daddr = ipv4Daddr(b, nh); p.proto = proto; p.fragOff = fragOff;
  p.l4 = l4; p.l4len = l4len; p.sport = sport; p.dport = dport;
  p.ct = sct ? sct.ct : null;
  p.ctinfo = sct ? sct.ctinfo : 'invalid';
  p.now = p.ns.node.world.now;
  return p;
}
