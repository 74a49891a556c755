/**
 * flannel's vxlan backend (pkg/backend/vxlan, read for behaviour):
 *
 *  - `flannel.<VNI>` is created before the lease (its MAC goes into the lease as
 *    `VtepMAC`): `type vxlan id VNI local <public IP> dev <ext iface> dstport
 *    <Port or the kernel's 8472> nolearning`, MTU left to the kernel (lower MTU −
 *    50) unless the config sets one; after the lease it gets the subnet's network
 *    address as a /32 and is set up. FLANNEL_MTU is the device's MTU.
 *  - Per remote lease, in flanneld's order: the permanent neighbour
 *    `S.0 lladdr VtepMAC`, the FDB entry `VtepMAC dst PublicIP self permanent`
 *    (NeighSet with NTF_SELF: a replace), then `S via S.0 dev flannel.1 onlink`.
 *    A failed route takes the other two back out. With DirectRouting and the
 *    remote on a directly connected subnet, only `S via PublicIP dev <ext>` is
 *    installed instead.
 *  - Removal deletes the three (or the direct route).
 */
import { formatCidr4, formatIPv4, parseMac } from '../../cni/ip4.js';
import { macToString } from '../../wire/bytes.js';
import { NetlinkError } from '../../kernel/netlink.js';
import { Vxlan, VXLAN_DEFAULT_PORT } from '../../kernel/devices/vxlan.js';
import { onLinkOf, tryDo, type BackendContext, type FlannelBackend } from './backend.js';
import type { Lease } from './leases.js';

export function createVxlanBackend(ctx: BackendContext): FlannelBackend {
  const o = ctx.cfg.backend.vxlan ?? { vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false };
  if (o.learning) throw new NetlinkError('EINVAL', 'vxlan Learning: true is not modelled (flannel\'s default is false)');
  if (o.gbp) throw new NetlinkError('EINVAL', 'vxlan GBP: true is not modelled (flannel\'s default is false)');
  const name = `flannel.${o.vni}`;
  const node = ctx.node;
  // ensureLink: a flanneld restarting finds its flannel.N; a compatible one (same VNI, local
  // address, lower device, port) is kept — with its MAC, so the VtepMAC in the lease stays —
  // and an incompatible one is deleted and created again.
  const port = o.port || VXLAN_DEFAULT_PORT;
  const existing = node.ns('host').device(name);
  let dev: Vxlan;
  if (existing instanceof Vxlan && existing.vni === o.vni && existing.dstport === port && existing.local === ctx.publicIP && existing.lower?.name === ctx.extIface) {
    dev = existing;
    ctx.note('vxlan', `reusing the existing ${name} (VNI ${o.vni}, local ${formatIPv4(ctx.publicIP)}, dstport ${port})`);
  } else {
    if (existing) {
      ctx.note('vxlan', `deleting ${name}: its configuration is not the one wanted`);
      node.linkDel('host', name);
    }
    dev = node.linkAddVxlan('host', name, {
      vni: o.vni, dstport: o.port || undefined, local: formatIPv4(ctx.publicIP), dev: ctx.extIface, learning: false,
      mtu: o.mtu || undefined,
    });
  }
  const vtepMac = macToString(dev.mac);
  /** Remotes reached by a direct route (DirectRouting), by subnet address. */
  const direct = new Set<number>();

  const vxlanEntries = (l: Lease) => {
    const s = formatCidr4(l.subnet.addr, l.subnet.prefix);
    const gw = formatIPv4(l.subnet.addr);
    const mac = typeof l.attrs.backendData?.VtepMAC === 'string' ? parseMac(l.attrs.backendData.VtepMAC) : null;
    return { s, gw, mac, pub: formatIPv4(l.attrs.publicIP) };
  };

  return {
    type: 'vxlan',
    meshDevice: o.directRouting ? null : dev,
    get mtu() { return dev.mtu; },
    backendData: () => ({ VNI: o.vni, VtepMAC: vtepMac }),
    configure(own) {
      // ensureV4AddressOnLink: the lease's address is added unless it is already there.
      const addr = formatCidr4(own.subnet.addr, 32);
      if (!node.addrList('host', name).includes(addr)) node.addrAdd('host', name, addr);
      node.linkSetUp('host', name);
    },
    addRemote(l) {
      const { s, gw, mac, pub } = vxlanEntries(l);
      if (l.attrs.backendType !== 'vxlan') {
        ctx.note('vxlan', `ignoring lease ${s} of ${pub}: backend type ${l.attrs.backendType}, not vxlan`, true);
        return;
      }
      if (o.directRouting && onLinkOf(ctx, l.attrs.publicIP)) {
        try {
          node.routeReplace('host', { dst: s, via: pub, dev: ctx.extIface });
          direct.add(l.subnet.addr);
          ctx.note('vxlan', `subnet ${s}: direct route via ${pub} dev ${ctx.extIface} (DirectRouting, same subnet)`);
        } catch (e) {
          ctx.note('vxlan', `error adding route to ${s} via ${pub}: ${(e as Error).message}`, true);
        }
        return;
      }
      if (!mac) {
        ctx.note('vxlan', `lease ${s} of ${pub} has no VtepMAC in its backend data: ignored`, true);
        return;
      }
      node.neighReplace('host', gw, mac, name, 'permanent');
      node.fdbAdd('host', mac, name, { dst: pub, permanent: true, op: 'replace' });
      try {
        node.routeReplace('host', { dst: s, via: gw, dev: name, onlink: true });
      } catch (e) {
        ctx.note('vxlan', `error adding route to ${s} via ${gw} dev ${name} onlink: ${(e as Error).message}`, true);
        node.neighDel('host', gw, name);
        node.fdbDel('host', mac, name, { dst: pub });
        return;
      }
      ctx.note('vxlan', `subnet ${s} of ${pub}: neigh ${gw} lladdr ${macToString(mac)}, fdb ${macToString(mac)} dst ${pub}, route via ${gw} dev ${name} onlink`);
    },
    removeRemote(l) {
      const { s, gw, mac, pub } = vxlanEntries(l);
      if (direct.delete(l.subnet.addr)) {
        tryDo(() => node.routeDel('host', { dst: s, via: pub, dev: ctx.extIface }));
        ctx.note('vxlan', `subnet ${s} of ${pub} removed: direct route deleted`);
        return;
      }
      if (!mac || l.attrs.backendType !== 'vxlan') return;
      tryDo(() => node.neighDel('host', gw, name));
      tryDo(() => node.fdbDel('host', mac, name, { dst: pub }));
      tryDo(() => node.routeDel('host', { dst: s, via: gw, dev: name, onlink: true }));
      ctx.note('vxlan', `subnet ${s} of ${pub} removed: neigh, fdb and route deleted`);
    },
    stop() {},
  };
}

