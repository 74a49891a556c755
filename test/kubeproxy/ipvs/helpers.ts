import { World } from '../../../src/kernel/world.js';
import { Node } from '../../../src/kernel/node.js';
import { Segment } from '../../../src/kernel/devices/nic.js';
import { parseIp, parseMac } from '../../../src/wire/bytes.js';
import { SharedProxyCache } from '../../../src/kubeproxy/iptables/index.js';
import { KubeProxyIpvs, type IpvsProxierConfig } from '../../../src/kubeproxy/ipvs/index.js';
import type { EndpointInfo, ServicePortInfo } from '../../../src/kubeproxy/model.js';
import { servicePortKey } from '../../../src/kubeproxy/iptables/index.js';
import { fakeConfig } from '../helpers.js';
import { Skb } from '../../../src/kernel/skb.js';
import { writeIpv4Header } from '../../../src/wire/ipv4.js';
import { fillUdpChecksum } from '../../../src/wire/udp.js';
import { setU16 } from '../../../src/wire/bytes.js';

/** A node like NewFakeProxier's (test-node, 192.168.0.2 on eth0) with a cni0-like second address, running kube-proxy in ipvs mode. */
export function ipvsLab(o: Partial<IpvsProxierConfig> = {}, opts: { nodeIP?: string; cni0?: boolean } = {}) {
  const w = new World(1);
  const seg = new Segment('192.168.0.0/24', parseIp('192.168.0.0')!, 24);
  const n = new Node(w, 'test-node', 'node');
  w.nodes.set('test-node', n);
  n.addNic('eth0', seg, parseMac('02:00:00:00:00:02')!, 1500, 0, 0);
  n.linkSetUp('host', 'eth0');
  n.addrAdd('host', 'eth0', `${opts.nodeIP ?? '192.168.0.2'}/24`);
  if (opts.cni0 !== false) {
    n.linkAddBridge('host', 'cni0', { mac: parseMac('02:00:00:00:00:03')! });
    n.linkSetUp('host', 'cni0');
    n.addrAdd('host', 'cni0', '10.0.0.1/24');
  }
  const cache = new SharedProxyCache();
  const state = { ports: [] as ServicePortInfo[], eps: new Map<string, EndpointInfo[]>() };
  const cfg: IpvsProxierConfig = { ...fakeConfig({ nodeIPs: [parseIp(opts.nodeIP ?? '192.168.0.2')!], randomFully: true }), scheduler: 'rr', ...o };
  const kp = new KubeProxyIpvs(n, cfg, 1e9, cache, () => cache.apply(state.ports, state.eps));
  const set = (ports: ServicePortInfo[], eps: Record<string, EndpointInfo[]> = {}) => {
    state.ports = ports;
    state.eps = new Map();
    for (const sp of ports) {
      const e = eps[`${sp.namespace}/${sp.name}`];
      if (e) state.eps.set(servicePortKey(sp), e);
    }
  };
  const log0 = () => n.configCommands().length;
  return { w, n, kp, cache, set, cfg, log0 };
}

/** A UDP datagram (8 payload bytes) as an Skb starting at its IPv4 header. */
export function udpSkb(src: number, dst: number, sport: number, dport: number): Skb {
  const skb = Skb.alloc(36);
  const b = skb.buf, nh = skb.data;
  skb.nh = nh;
  writeIpv4Header(b, nh, src, dst, 17, 64, 0, 1, true, 16);
  const u = nh + 20;
  setU16(b, u, sport); setU16(b, u + 2, dport); setU16(b, u + 4, 16);
  fillUdpChecksum(b, nh);
  return skb;
}
