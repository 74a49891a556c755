/**
 * Carrier loss (NETDEV_CHANGE with IFF_LOWER_UP gone): what Linux does to a device that
 * is still UP but lost its link — a NIC whose cable is pulled, or a veth whose peer was
 * set down. Its routes stay (marked linkdown, still used with the default
 * ignore_routes_with_linkdown=0), its non-permanent neighbours are flushed
 * (neigh_carrier_down), and its qdisc is reset and replaced by noop_qdisc (dev_deactivate):
 * what the qdisc held is freed and what is sent from now on is dropped (QDISC_DROP,
 * NetDevice.xmit). Checked against the kernel in test/kernel/netem-carrier.kernel.test.ts.
 */
import type { NetDevice } from './device.js';
import { Nud } from './neigh.js';

export function carrierLost(d: NetDevice): void {
  d.netem?.reset();
  d.netns.neighs.deleteOnDev(d, (n) => !(n.state & (Nud.PERMANENT | Nud.NOARP)));
}
