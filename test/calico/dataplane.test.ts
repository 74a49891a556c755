/**
 * The Calico data plane below policy, end to end in the model: IPAM (an IPIP pool, each
 * node's block and tunnel address), the calico CNI plugin for the pods, tunl0 configured
 * as felix configures it, and the remote-block routes felix installs (`via <node IP> dev
 * tunl0 onlink` for IPIP, `via <node IP> dev eth0` for a same-subnet CrossSubnet peer).
 */
import { describe, it, expect } from 'vitest';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Segment } from '../../src/kernel/devices/nic.js';
import { Rng } from '../../src/engine/rng.js';
import { parseConflist } from '../../src/cni/index.js';
import { iptablesRestore, conntrackList } from '../../src/netfilter/index.js';
import { CalicoIpam, type IpipMode } from '../../src/calico/ipam.js';
import { calicoCmdAdd, calicoConflistText, calicoNetConf } from '../../src/calico/cni.js';
import { parseIp, parseMac, u16 } from '../../src/wire/bytes.js';

function cluster(ipipMode: IpipMode) {
  const w = new World(21);
  const seg = new Segment('192.168.72.0/24', parseIp('192.168.72.0')!, 24);
  const ipam = new CalicoIpam(new Rng(3));
  const events: string[] = [];
  ipam.observe((e) => events.push(`${e.kind} ${e.host} ${e.cidr}`));
  ipam.createPool({ name: 'default-ipv4-ippool', cidr: '10.48.0.0/16', ipipMode, natOutgoing: true });
  const names = ['n1', 'n2'] as const;
  const nodeIp = { n1: '192.168.72.1', n2: '192.168.72.2' };
  const nodes = new Map<string, Node>();
  const podIp = new Map<string, string>();
  const taps: { node: string; ns: string; dev: string; bytes: Uint8Array }[] = [];
  w.tap = { frame: (dev, skb) => taps.push({ node: dev.netns.node.name, ns: dev.netns.name, dev: dev.name, bytes: skb.frame().slice() }) };
  for (const [i, name] of names.entries()) {
    const n = new Node(w, name, 'node');
    w.nodes.set(name, n);
    nodes.set(name, n);
    n.addNic('eth0', seg, parseMac(`02:00:00:00:72:0${i + 1}`)!, 1500, 0, 0);
    n.linkSetUp('host', 'eth0');
    n.addrAdd('host', 'eth0', `${nodeIp[name]}/24`);
    n.routeAdd('host', { dst: 'default', via: '192.168.72.254', dev: 'eth0' });
    n.sysctlSet('host', 'net.ipv4.ip_forward', '1');
    // calico-node: the tunnel address, then felix: modprobe ipip, tunl0 mtu 1480 up, its /32.
    const tun = ipam.tunnelAddress(name);
    if (tun) {
      n.ipipTunl0('host');
      n.linkSetMtu('host', 'tunl0', 1480);
      n.linkSetUp('host', 'tunl0');
      n.addrAdd('host', 'tunl0', `${tun}/32`);
    }
    const conf = calicoNetConf(parseConflist(calicoConflistText({ nodename: name, mtu: tun ? 1480 : 1500 })));
    n.netnsAdd('default.p');
    const r = calicoCmdAdd(n, w.rng, ipam, conf, { containerID: `c-${name}`, netns: 'default.p', ifName: 'eth0', namespace: 'default', pod: `p-${name}` });
    podIp.set(name, r.ips[0]!.address.split('/')[0]!);
  }
  // felix's routes to the other node's block.
  for (const [a, b] of [['n1', 'n2'], ['n2', 'n1']] as const) {
    for (const block of ipam.affineBlocks(b)) {
      const n = nodes.get(a)!;
      if (ipipMode === 'Always') n.routeAdd('host', { dst: block, via: nodeIp[b], dev: 'tunl0', onlink: true, proto: 'bird' });
      else n.routeAdd('host', { dst: block, via: nodeIp[b], dev: 'eth0', proto: 'bird' });
    }
  }
  return { w, nodes, podIp, ipam, events, taps };
}

describe('Calico data plane: IPAM + CNI + tunl0', () => {
  it('IPIP Always: each node\'s block and tunnel address (ordinal 0), pod → remote pod through tunl0 with conntrack loaded', () => {
    const { w, nodes, podIp, ipam, events, taps } = cluster('Always');
    expect(events.map((e) => e.split(' ').slice(0, 2).join(' '))).toEqual(['claim n1', 'claim n2']);
    for (const n of ['n1', 'n2']) {
      const [block] = ipam.affineBlocks(n);
      const tun = nodes.get(n)!.addrList('host', 'tunl0')[0]!;
      expect(`${tun.split('/')[0]}/26`).toBe(block);
      expect(parseIp(podIp.get(n)!)).toBe(parseIp(tun.split('/')[0]!)! + 1);
    }
    // A filter rule on both nodes: conntrack runs and tracks the protocol-4 packets as generic.
    for (const n of nodes.values()) iptablesRestore(n, 'host', '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n');
    const replies: number[] = [];
    nodes.get('n1')!.ns('default.p').sockets.pingOpen({ onReply: (_s, _f, ttl) => replies.push(ttl) }, 9).send(parseIp(podIp.get('n2')!)!, 1, 56);
    w.sched.run(2_000_000_000);
    expect(replies).toEqual([62]);
    const wire = taps.filter((t) => t.node === 'n1' && t.ns === 'host' && t.dev === 'eth0' && u16(t.bytes, 12) === 0x0800);
    expect(wire.map((t) => t.bytes[23])).toEqual([4, 4]);
    const ct = conntrackList(nodes.get('n1')!, 'host');
    expect(ct).toMatch(/^unknown +4 \d+ src=192\.168\.72\.1 dst=192\.168\.72\.2 src=192\.168\.72\.2 dst=192\.168\.72\.1/m);
    expect(ct).toMatch(new RegExp(`icmp +1 \\d+ src=${podIp.get('n1')!.replace(/\./g, '\\.')} dst=${podIp.get('n2')!.replace(/\./g, '\\.')}`));
  });

  it('IPIP Never (or a same-subnet CrossSubnet peer): no tunnel address, plain routing over eth0', () => {
    const { w, nodes, podIp, taps } = cluster('Never');
    expect(nodes.get('n1')!.host.device('tunl0')).toBeUndefined();
    const replies: number[] = [];
    nodes.get('n1')!.ns('default.p').sockets.pingOpen({ onReply: (_s, _f, ttl) => replies.push(ttl) }, 9).send(parseIp(podIp.get('n2')!)!, 1, 56);
    w.sched.run();
    expect(replies).toEqual([62]);
    const wire = taps.filter((t) => t.node === 'n1' && t.ns === 'host' && t.dev === 'eth0' && u16(t.bytes, 12) === 0x0800);
    expect(wire.map((t) => t.bytes[23])).toEqual([1, 1]);
  });
});
