/**
 * br_netfilter: IPv4 frames that a bridge forwards go through the IPv4
 * netfilter hooks too when `net.bridge.bridge-nf-call-iptables=1`
 * (net/bridge/br_netfilter_hooks.c):
 *
 *  - NF_BR_PRE_ROUTING (priority 0): the IPv4 PREROUTING hooks (raw,
 *    conntrack, mangle, nat DNAT) with -i = the bridge and --physdev-in = the
 *    port. If DNAT changed the destination, the frame is re-routed: to a local
 *    address it goes up to the host; to a destination behind the same bridge
 *    whose MAC is known it stays bridged with the new destination MAC
 *    ("bridged DNAT": TTL untouched, the client's source MAC kept); otherwise
 *    it is handed up to the bridge device to be routed (and ARPed for).
 *  - NF_BR_FORWARD (priority 0): the IPv4 FORWARD hooks with -i/-o = the bridge
 *    and the ports visible to -m physdev.
 *  - NF_BR_POST_ROUTING (last): the IPv4 POSTROUTING hooks (SNAT/MASQUERADE,
 *    conntrack confirm) for frames that came through br_nf_pre_routing.
 * A frame whose PREROUTING ran here is flagged so that, if it is then passed
 * up to the IP stack, PREROUTING does not run twice (ip_sabotage_in).
 */
import type { Netns } from '../kernel/netns.js';
import type { NetDevice } from '../kernel/device.js';
import type { Skb } from '../kernel/skb.js';
import { NfBrHook, NfHook, NfVerdict, type NfHookState } from '../kernel/hooks.js';
import type { Bridge } from '../kernel/devices/bridge.js';
import { ETH_HLEN, ETH_P_IP } from '../wire/ethernet.js';
import { u16, copyMac, ipToString } from '../wire/bytes.js';
import { ipv4Daddr, checkIpv4 } from '../wire/ipv4.js';

const BRNF_PRIORITY = 0; // NF_BR_PRI_BRNF
const LAST = 0x7fffffff; // NF_BR_PRI_LAST

/** bridge-nf-call-iptables of a namespace, read again only when its sysctls changed (CowMap.version). */
interface Enabled { version: number; on: boolean }

function enabled(ns: Netns, e: Enabled): boolean {
  const v = ns.sysctls.version;
  if (v !== e.version) { e.on = ns.sysctl('net.bridge.bridge-nf-call-iptables') === '1'; e.version = v; }
  return e.on;
}

/** The IPv4 frame's header offset, or -1 when the frame is not IPv4 or its header is bad. */
function ipv4Offset(skb: Skb): number {
  if (skb.len < ETH_HLEN + 20 || u16(skb.buf, skb.data + 12) !== ETH_P_IP) return -1;
  const nh = skb.data + ETH_HLEN;
  return checkIpv4(skb.buf, nh, skb.len - ETH_HLEN) === null ? nh : -1;
}

export function registerBrNetfilter(ns: Netns): void {
  const on: Enabled = { version: -1, on: false };
  ns.hooks.register('bridge', NfBrHook.BR_PRE_ROUTING, {
    name: 'br_nf_pre_routing',
    priority: BRNF_PRIORITY,
    fn: (skb: Skb, state: NfHookState) => {
      if (!enabled(ns, on)) return NfVerdict.ACCEPT;
      const port = state.in;
      const br = port?.master as Bridge | null;
      if (!port || !br) return NfVerdict.ACCEPT;
      if (u16(skb.buf, skb.data + 12) !== ETH_P_IP) return NfVerdict.ACCEPT;
      const nh = ipv4Offset(skb);
      if (nh < 0) { state.reason = 'IP_INHDR'; state.detail = 'br_netfilter: bad IPv4 header'; return NfVerdict.DROP; }
      skb.nh = nh;
      const before = ipv4Daddr(skb.buf, nh);
      if (!ns.stack.hook(NfHook.PRE_ROUTING, skb, br, null, { physIn: port, physOut: null })) return NfVerdict.STOLEN;
      skb.brnf = true;
      const after = ipv4Daddr(skb.buf, skb.nh);
      if (after === before) return NfVerdict.ACCEPT;
      // br_nf_pre_routing_finish: DNAT changed the destination, so route again.
      const rt = ns.fib.lookup(after);
      const w = ns.node.world;
      if (rt && rt.type === 'unicast' && rt.dev === br) {
        const nexthop = rt.gw || after;
        const mac = ns.stack.neighMac(br, nexthop);
        if (mac) {
          // neigh_hh_bridge: the new destination MAC, the sender's source MAC kept; no TTL change.
          copyMac(skb.buf, skb.data, mac);
          if (w.trace.on) w.event(ns.node.name, ns.name, br.name, skb, 'brnf.dnat', `DNAT to ${ipToString(after)} behind ${br.name}: stays bridged (bridged DNAT)`);
          return NfVerdict.ACCEPT;
        }
        // Not resolved yet: out through the bridge device's neighbour entry (ARP first); br_dev_xmit
        // then returns it to bridging with the original source MAC (bridged_dnat).
        if (w.trace.on) w.event(ns.node.name, ns.name, br.name, skb, 'brnf.dnat', `DNAT to ${ipToString(after)} behind ${br.name}: resolving ${ipToString(nexthop)} before bridging (bridged DNAT)`);
        skb.bridgedDnatSrc = skb.buf.slice(skb.data + 6, skb.data + 12);
        ns.stack.neighXmit(skb, br, nexthop);
        return NfVerdict.STOLEN;
      }
      // Local destination, another device, or a neighbour still to resolve: up to the host's IP stack.
      if (w.trace.on) w.event(ns.node.name, ns.name, br.name, skb, 'brnf.dnat', `DNAT to ${ipToString(after)}: handed up to ${br.name} to be routed`);
      copyMac(skb.buf, skb.data, br.mac);
      br.passUp(skb);
      return NfVerdict.STOLEN;
    },
  });
  ns.hooks.register('bridge', NfBrHook.BR_FORWARD, {
    name: 'br_nf_forward',
    priority: BRNF_PRIORITY,
    fn: (skb: Skb, state: NfHookState) => {
      if (!enabled(ns, on) || !skb.brnf) return NfVerdict.ACCEPT;
      const br = (state.in?.master ?? null) as NetDevice | null;
      if (!br) return NfVerdict.ACCEPT;
      return ns.stack.hook(NfHook.FORWARD, skb, br, br, { physIn: state.in, physOut: state.out }) ? NfVerdict.ACCEPT : NfVerdict.STOLEN;
    },
  });
  ns.hooks.register('bridge', NfBrHook.BR_POST_ROUTING, {
    name: 'br_nf_post_routing',
    priority: LAST,
    fn: (skb: Skb, state: NfHookState) => {
      if (!enabled(ns, on) || !skb.brnf) return NfVerdict.ACCEPT;
      const br = (state.out?.master ?? null) as NetDevice | null;
      if (!br) return NfVerdict.ACCEPT;
      return ns.stack.hook(NfHook.POST_ROUTING, skb, null, br, { physIn: state.in, physOut: state.out }) ? NfVerdict.ACCEPT : NfVerdict.STOLEN;
    },
  });
}
