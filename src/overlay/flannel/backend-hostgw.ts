/**
 * flannel's host-gw backend (pkg/backend/hostgw and route_network.go, read for
 * behaviour): no device and no encapsulation; per remote lease the route
 * `S via <remote PublicIP> dev <ext iface>`. The kernel accepts that route only
 * when the gateway is on a directly connected network, so a remote node behind
 * a router cannot be reached: the route is refused ("Nexthop has invalid
 * gateway"), flanneld logs the error and carries on, and pod traffic to that
 * subnet follows whatever else the table holds (usually the default route to the
 * underlay router, which knows nothing of pod subnets). The trace says so.
 * FLANNEL_MTU is the external interface's MTU.
 */
import { formatCidr4, formatIPv4 } from '../../cni/ip4.js';
import { onLinkOf, tryDo, type BackendContext, type FlannelBackend } from './backend.js';

export function createHostGwBackend(ctx: BackendContext): FlannelBackend {
  const node = ctx.node;
  const ext = node.ns('host').device(ctx.extIface);
  const installed = new Set<number>();
  return {
    type: 'host-gw',
    mtu: ext ? ext.mtu : 1500,
    backendData: () => undefined,
    configure() {},
    addRemote(l) {
      const s = formatCidr4(l.subnet.addr, l.subnet.prefix);
      const via = formatIPv4(l.attrs.publicIP);
      if (l.attrs.backendType !== 'host-gw') {
        ctx.note('host-gw', `ignoring lease ${s} of ${via}: backend type ${l.attrs.backendType}, not host-gw`, true);
        return;
      }
      try {
        node.routeReplace('host', { dst: s, via, dev: ctx.extIface });
        installed.add(l.subnet.addr);
        ctx.note('host-gw', `subnet ${s}: route via ${via} dev ${ctx.extIface}`);
      } catch (e) {
        const why = onLinkOf(ctx, l.attrs.publicIP) ? '' : ` — ${via} is not on ${ctx.extIface}'s subnet ${formatCidr4((ctx.publicIP & (ctx.publicPrefix === 0 ? 0 : (0xffffffff << (32 - ctx.publicPrefix)))) >>> 0, ctx.publicPrefix)}: host-gw needs every node on one L2 segment; traffic to ${s} follows the rest of the routing table`;
        ctx.note('host-gw', `error adding route to ${s} via ${via} dev ${ctx.extIface}: ${(e as Error).message}${why}`, true);
      }
    },
    removeRemote(l) {
      if (!installed.delete(l.subnet.addr)) return;
      const s = formatCidr4(l.subnet.addr, l.subnet.prefix);
      const via = formatIPv4(l.attrs.publicIP);
      tryDo(() => node.routeDel('host', { dst: s, via, dev: ctx.extIface }));
      ctx.note('host-gw', `subnet ${s} of ${via} removed: route deleted`);
    },
    stop() {},
  };
}
