/**
 * The cloud load balancer podwire puts in front of `type: LoadBalancer`
 * Services, since there is no cloud controller: one machine, `cloud-lb`, on
 * the first node's underlay segment, holding every LoadBalancer ingress IP
 * (status.loadBalancer.ingress[].ip) and spreading each listener's connections
 * over the nodes' NodePorts — the way an instance-target cloud LB (AWS NLB/CLB
 * in instance mode, Azure/GCP proxies) does it. It is an ordinary Linux
 * machine with iptables rules, so every decision it takes is in the trace and
 * its frames are in the captures:
 *
 *  - nat PREROUTING: per listener (LB IP, protocol, port), one chain choosing
 *    a healthy node with kube-proxy-style `statistic` ladders, DNAT to
 *    nodeIP:nodePort;
 *  - nat POSTROUTING: MASQUERADE of DNATed connections, so replies come back
 *    through the LB (source addresses are not preserved, as with a proxying
 *    LB or an NLB with client-IP preservation off);
 *  - health: with `externalTrafficPolicy: Local` only nodes that have a ready
 *    local endpoint are healthy (what the cloud learns from kube-proxy's
 *    healthCheckNodePort); with Cluster every node is;
 *  - `loadBalancerSourceRanges` act as the cloud's firewall: other sources
 *    get no DNAT and are dropped in filter INPUT, as is a listener with no
 *    healthy node.
 */
import type { Cluster } from './build.js';
import { Node } from '../kernel/node.js';
import { ipToString, prefixMask } from '../wire/bytes.js';
import { iptablesRestore } from '../netfilter/index.js';
import { chainHash } from '../kubeproxy/names.js';

export interface LbListener {
  /** "ns/name:port" for comments. */
  spn: string;
  ip: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  nodePort: number;
  sourceRanges: { addr: number; prefix: number }[];
  /** Addresses of the healthy nodes, in node order. */
  nodes: number[];
}

export const CLOUD_LB = 'cloud-lb';

/** Creates the LB machine (once) next to the first node and gives it `ips`. */
export function createCloudLb(cl: Cluster, ips: number[]): Node {
  const world = cl.world;
  const c = cl.scenario.cluster;
  const first = c.nodes[0];
  const seg = cl.segments.find((s) => ((first.ip.addr ^ s.network) & prefixMask(s.prefix)) === 0)!;
  // Its own address: the highest free host address of the segment.
  const used = new Set([...cl.machineIPs.values()]);
  for (const r of cl.routers) for (const a of r.host.addrs) used.add(a.addr);
  let addr = ((seg.network | ~prefixMask(seg.prefix)) >>> 0) - 1;
  while (used.has(addr) && addr > seg.network) addr--;
  const lb = new Node(world, CLOUD_LB, 'router');
  world.nodes.set(CLOUD_LB, lb);
  cl.routers.push(lb);
  cl.machineIPs.set(CLOUD_LB, addr);
  lb.linkSetUp('host', 'lo');
  lb.addNic('eth0', seg, world.rng.mac(), c.mtu, c.linkDelay.nic, c.nicBandwidth);
  lb.addrAdd('host', 'eth0', `${ipToString(addr)}/${seg.prefix}`);
  lb.linkSetUp('host', 'eth0');
  lb.sysctlSet('host', 'net.ipv4.ip_forward', '1');
  // Back to clients off the segment: the same gateway the nodes use.
  const gw = c.nodes[0].routes.find((r) => r.dst.prefix === 0)?.via
    ?? cl.routers.filter((r) => r !== lb).flatMap((r) => r.host.addrs).find((a) => ((a.addr ^ seg.network) & prefixMask(seg.prefix)) === 0)?.addr;
  if (gw !== undefined) lb.routeAdd('host', { dst: 'default', via: ipToString(gw) });
  for (const ip of ips) {
    lb.addrAdd('host', 'eth0', `${ipToString(ip)}/32`);
    const inSeg = ((ip ^ seg.network) & prefixMask(seg.prefix)) === 0;
    if (inSeg) continue;
    // Whoever is not on the segment reaches the LB IPs through the routers; machines on it need a route.
    for (const r of cl.routers) if (r !== lb) r.routeAdd('host', { dst: `${ipToString(ip)}/32`, via: ipToString(addr) });
    for (const [name, node] of [...cl.hosts, ...cl.nodes]) {
      const mip = cl.machineIPs.get(name)!;
      if (((mip ^ seg.network) & prefixMask(seg.prefix)) === 0) node.routeAdd('host', { dst: `${ipToString(ip)}/32`, via: ipToString(addr) });
    }
  }
  return lb;
}

/** The LB's whole rule set for `listeners` (restored in full on every change, as a cloud API call replaces the config). */
export function cloudLbRules(listeners: LbListener[]): string {
  const nat = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]'];
  const filter = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  const rules: string[] = [];
  const sorted = [...listeners].sort((a, b) => a.ip - b.ip || a.port - b.port || a.protocol.localeCompare(b.protocol));
  for (const l of sorted) {
    const p = l.protocol.toLowerCase();
    const chain = `LB-${chainHash(`${ipToString(l.ip)}:${l.port}/${p}`)}`;
    const match = `-d ${ipToString(l.ip)}/32 -p ${p} -m ${p} --dport ${l.port}`;
    const comment = `-m comment --comment "${l.spn} listener ${ipToString(l.ip)}:${l.port}"`;
    if (l.nodes.length) {
      nat.push(`:${chain} - [0:0]`);
      if (l.sourceRanges.length) for (const r of l.sourceRanges) rules.push(`-A PREROUTING -s ${ipToString(r.addr)}/${r.prefix} ${match} ${comment} -j ${chain}`);
      else rules.push(`-A PREROUTING ${match} ${comment} -j ${chain}`);
      l.nodes.forEach((n, i) => {
        const left = l.nodes.length - i;
        const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
        rules.push(`-A ${chain} -p ${p} -m comment --comment "node ${ipToString(n)}"${stat} -j DNAT --to-destination ${ipToString(n)}:${l.nodePort}`);
      });
    }
    filter.push(`-A INPUT ${match} -m comment --comment "${l.spn}: ${l.nodes.length ? 'source not in loadBalancerSourceRanges' : 'no healthy node'}" -j DROP`);
  }
  nat.push(...rules, '-A POSTROUTING -m conntrack --ctstate DNAT -m comment --comment "replies come back through the LB" -j MASQUERADE', 'COMMIT');
  filter.push('COMMIT');
  return [...nat, ...filter].join('\n') + '\n';
}

/** Restores the LB's rules (a full replacement). */
export function syncCloudLb(lb: Node, listeners: LbListener[]): void {
  iptablesRestore(lb, 'host', cloudLbRules(listeners));
}
