/**
 * Two machines on one underlay segment, each with a flannel.1 configured as flanneld
 * does (REFERENCE §7.2), built only through the Node Netlink API so the kernel harness
 * can replay the logged commands: a (192.168.50.1, lease 10.244.0.0/24) and
 * b (192.168.50.2, lease 10.244.1.0/24).
 */
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Segment } from '../../src/kernel/devices/nic.js';
import { parseMac, parseIp } from '../../src/wire/bytes.js';

export const VTEP = { a: '0e:00:00:00:00:0a', b: '0e:00:00:00:00:0b' };
export const NIC = { a: '02:00:00:00:00:0a', b: '02:00:00:00:00:0b' };
export const UNDERLAY = { a: '192.168.50.1', b: '192.168.50.2' };
export const LEASE = { a: '10.244.0.0', b: '10.244.1.0' };

export interface VxlanPair { w: World; a: Node; b: Node; seg: Segment }

export function vxlanPair(seed = 1, w = new World(seed)): VxlanPair {
  const seg = new Segment('192.168.50.0/24', parseIp('192.168.50.0')!, 24);
  const nodes = { a: new Node(w, 'a', 'node'), b: new Node(w, 'b', 'node') };
  for (const k of ['a', 'b'] as const) {
    w.nodes.set(k, nodes[k]);
    const n = nodes[k];
    n.addNic('eth0', seg, parseMac(NIC[k])!, 1500, 0, 0);
    n.linkSetUp('host', 'eth0');
    n.addrAdd('host', 'eth0', `${UNDERLAY[k]}/24`);
    n.linkAddVxlan('host', 'flannel.1', { vni: 1, local: UNDERLAY[k], dev: 'eth0', dstport: 8472, learning: false, mac: parseMac(VTEP[k])! });
    n.addrAdd('host', 'flannel.1', `${LEASE[k]}/32`);
    n.linkSetUp('host', 'flannel.1');
  }
  for (const [k, r] of [['a', 'b'], ['b', 'a']] as const) {
    const n = nodes[k];
    // flanneld's order per remote lease: neighbour, FDB, route.
    n.neighReplace('host', LEASE[r], parseMac(VTEP[r])!, 'flannel.1', 'permanent');
    n.fdbAdd('host', parseMac(VTEP[r])!, 'flannel.1', { dst: UNDERLAY[r], permanent: true, op: 'append' });
    n.routeAdd('host', { dst: `${LEASE[r]}/24`, via: LEASE[r], dev: 'flannel.1', onlink: true });
  }
  return { w, a: nodes.a, b: nodes.b, seg };
}
