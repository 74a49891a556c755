/**
 * The Linux `dummy` device (drivers/net/dummy.c), as kube-proxy's ipvs mode uses it:
 * `kube-ipvs0`, created with netlink.Dummy and never set up, a place to hold every
 * ClusterIP / externalIP / LoadBalancer IP the node must accept as its own.
 *
 * - Ethernet-like (ARPHRD_ETHER, a random MAC, MTU 1500), flags BROADCAST|NOARP; created
 *   DOWN, and kube-proxy leaves it DOWN.
 * - Transmit (dummy_xmit): counts the packet and frees it. Nothing is ever routed out of it
 *   in kube-proxy's use: its addresses' routes are `local`, and local routes deliver
 *   through the loopback path.
 * - Addresses on a DOWN device still get their `local` route
 *   (`local <addr> dev kube-ipvs0 table local proto kernel scope host src <addr>`):
 *   fib_add_ifaddr (net/ipv4/fib_frontend.c) adds the RTN_LOCAL /32 *before* it checks
 *   IFF_UP (the broadcast and prefix routes come only with an UP device), and that route's
 *   nexthop is never marked dead (RTNH_F_DEAD is set by fib_sync_down_dev when a device goes
 *   down, which this one never did), so lookups use it: traffic to a VIP is delivered
 *   locally. The model marks such a route `alive` (fib.ts). Read from the kernel source:
 *   this machine's kernel has no dummy module (`ip link add … type dummy`: "Unknown device type").
 */
import { NetDevice } from '../device.js';
import type { Netns } from '../netns.js';
import type { Skb } from '../skb.js';
import { RT_TABLE_LOCAL } from '../fib.js';
import type { IfAddr } from '../netns.js';

export class Dummy extends NetDevice {
  readonly kind = 'dummy';
  constructor(netns: Netns, name: string, mac: Uint8Array, mtu = 1500) {
    super(netns, name, mac, mtu);
  }
  /** dummy_xmit: counted (by xmit) and freed. */
  protected transmit(_skb: Skb): void { /* freed */ }
}

/**
 * fib_add_ifaddr for an address added while its device is DOWN: only the RTN_LOCAL /32
 * (the rest waits for NETDEV_UP), usable although the device is down.
 */
export function addLocalRouteWhileDown(ns: Netns, ifa: IfAddr): void {
  const { addr, dev } = ifa;
  if (ns.fib.find({ dst: addr, prefix: 32, table: RT_TABLE_LOCAL, type: 'local', dev })) return;
  ns.fib.add({ gw: 0, dev, metric: 0, onlink: false, src: addr, proto: 'kernel', dst: addr, prefix: 32, type: 'local', scope: 'host', table: RT_TABLE_LOCAL, alive: true });
}
