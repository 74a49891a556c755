/**
 * Three machines on one underlay segment (192.168.60.1-3), each running flannel's UDP
 * backend through createUdpBackend with its lease (10.244.1-3.0/24 of 10.244.0.0/16), and
 * a pod netns behind a veth (10.244.N.2, gateway 10.244.N.1 on the host: a bridge-less
 * stand-in for cni0). The test drives what flanneld's agent would: configure(own), then
 * addRemote for every other lease.
 */
import { World } from '../../../src/kernel/world.js';
import { Node } from '../../../src/kernel/node.js';
import { Segment } from '../../../src/kernel/devices/nic.js';
import { parseIp, parseMac } from '../../../src/wire/bytes.js';
import { createUdpBackend, type UdpBackend } from '../../../src/overlay/flannel/backend-udp.js';
import type { Lease } from '../../../src/overlay/flannel/leases.js';
import type { FlannelConfig } from '../../../src/overlay/flannel/config.js';

export const NAMES = ['a', 'b', 'c'] as const;
export type Name = (typeof NAMES)[number];
export const PUB: Record<Name, string> = { a: '192.168.60.1', b: '192.168.60.2', c: '192.168.60.3' };
export const SUBNET: Record<Name, string> = { a: '10.244.1.0', b: '10.244.2.0', c: '10.244.3.0' };
export const POD: Record<Name, string> = { a: '10.244.1.2', b: '10.244.2.2', c: '10.244.3.2' };

export const CFG: FlannelConfig = {
  network: { addr: parseIp('10.244.0.0')!, prefix: 16 },
  subnetLen: 24,
  subnetMin: parseIp('10.244.1.0')!,
  subnetMax: parseIp('10.244.255.0')!,
  backend: { type: 'udp' },
};

export function lease(n: Name): Lease {
  return { subnet: { addr: parseIp(SUBNET[n])!, prefix: 24 }, attrs: { publicIP: parseIp(PUB[n])!, backendType: 'udp' }, expiration: 86_400e9 };
}

export interface UdpLab {
  w: World;
  nodes: Record<Name, Node>;
  be: Record<Name, UdpBackend>;
  notes: { node: string; what: string; detail: string; error: boolean }[];
}

export function udpLab(opts: { crossingCost?: number; seed?: number; w?: World; remotes?: boolean } = {}): UdpLab {
  const w = opts.w ?? new World(opts.seed ?? 1);
  const seg = new Segment('192.168.60.0/24', parseIp('192.168.60.0')!, 24);
  const nodes = {} as Record<Name, Node>;
  const be = {} as Record<Name, UdpBackend>;
  const notes: UdpLab['notes'] = [];
  NAMES.forEach((k, i) => {
    const n = new Node(w, k, 'node');
    w.nodes.set(k, n);
    nodes[k] = n;
    n.addNic('eth0', seg, parseMac(`02:00:00:00:60:0${i + 1}`)!, 1500, 0, 0);
    n.linkSetUp('host', 'eth0');
    n.addrAdd('host', 'eth0', `${PUB[k]}/24`);
    n.sysctlSet('host', 'net.ipv4.ip_forward', '1');
    n.netnsAdd('pod');
    n.linkAddVeth('host', 'veth0', { name: 'eth0', netns: 'pod' }, { mac: parseMac(`02:00:00:00:61:0${i + 1}`)!, peerMac: parseMac(`02:00:00:00:62:0${i + 1}`)! });
    n.addrAdd('host', 'veth0', `${SUBNET[k].replace(/0$/, '1')}/24`);
    n.linkSetUp('host', 'veth0');
    n.addrAdd('pod', 'eth0', `${POD[k]}/24`);
    n.linkSetUp('pod', 'eth0');
    n.routeAdd('pod', { dst: 'default', via: SUBNET[k].replace(/0$/, '1') });
    const b = createUdpBackend({
      node: n, cfg: CFG, extIface: 'eth0', publicIP: parseIp(PUB[k])!, publicPrefix: 24,
      note: (what, detail, error) => notes.push({ node: k, what, detail, error: !!error }),
    }, { crossingCost: opts.crossingCost ?? 5000 });
    be[k] = b;
    b.configure(lease(k));
  });
  if (opts.remotes !== false) for (const k of NAMES) for (const r of NAMES) if (r !== k) be[k].addRemote(lease(r));
  return { w, nodes, be, notes };
}
