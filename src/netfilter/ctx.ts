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

export function buildCtx(skb: Skb, ns: Netns, table: TableName, state: NfHookState, ipsets: IpsetRegistry, ops: NfOps): PacketCtx {
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
  const world = ns.node.world;
  return {
    skb, ns, table, hook: state.hook,
    inDev: state.in, outDev: state.out,
    physIn: state.physIn ?? null, physOut: state.physOut ?? null, bridged: state.bridged ?? false,
    saddr: ipv4Saddr(b, nh), daddr: ipv4Daddr(b, nh), proto, fragOff, l4, l4len, sport, dport,
    ct: sct ? sct.ct : null,
    ctinfo: sct ? sct.ctinfo : 'invalid',
    ipsets, now: world.now,
    random: () => world.rng.u32(),
    ops,
  };
}
