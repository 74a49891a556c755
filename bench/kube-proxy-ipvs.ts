/**
 * kpmode.*: kube-proxy iptables mode vs ipvs mode, side by side, at 1,000 and 10,000
 * Services (ClusterIP TCP 80, 10 endpoints each on other nodes), one node running the
 * daemon as the control plane runs it (KubeProxyIptables / KubeProxyIpvs on a Node: the
 * node's netfilter state, ipsets, kube-ipvs0, the IPVS table).
 *
 *   kpmode.sync.MODE.N   the daemon's first (full) sync: the shared cache takes the Services
 *                        and endpoints, the proxier writes everything. Also: iptables rules
 *                        on the node, ipset entries, IPVS virtual/real servers, kube-ipvs0
 *                        addresses.
 *   kpmode.add1.MODE.N   one more Service (10 endpoints) applied by a partial sync (time per
 *                        Service, 20 in a row per run): the update cost that motivates ipvs.
 *   kpmode.conn.MODE.N   a connection's packets through the node, frames in at eth0 and out
 *                        at eth0 towards the endpoint (the whole stack: routing, hooks, NAT,
 *                        xmit): `first` = the SYN of a new connection to the last Service,
 *                        `est` = a later packet of an established connection. Also: the rules
 *                        the kernel would evaluate per packet (linear iptables walk) and the
 *                        time that implies at 16 ns/rule; ipvs's lookups are hash tables.
 */
import { World } from '../src/kernel/world.js';
import { Node } from '../src/kernel/node.js';
import type { NetDevice } from '../src/kernel/device.js';
import { Skb, resetPacketIds } from '../src/kernel/skb.js';
import { netfilterOf } from '../src/netfilter/index.js';
import { SharedProxyCache, servicePortKey } from '../src/kubeproxy/iptables/index.js';
import { KubeProxyIptables } from '../src/kubeproxy/agent.js';
import { KubeProxyIpvs, IPSET_INFO } from '../src/kubeproxy/ipvs/index.js';
import { DEFAULT_PROXIER_CONFIG, type EndpointInfo, type ProxierConfig, type ServicePortInfo } from '../src/kubeproxy/model.js';
import { setU16 } from '../src/wire/bytes.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { KERNEL_NS_PER_RULE, tcpSkb } from './netfilter.js';

type Mode = 'iptables' | 'ipvs';
const ENDPOINTS = 10;
const VIP_BASE = 0x0a600000; // 10.96.0.0
const POD_BASE = 0x0af40000; // 10.244.0.0
const NODE_IP = 0xc0a8010a; // 192.168.1.10
const GW = '192.168.1.1';
const CLIENT = 0xc0a80164; // 192.168.1.100 (off-cluster client)

function servicePort(i: number): ServicePortInfo {
  return {
    namespace: `ns${i % 50}`, name: `svc${i}`, portName: 'http', protocol: 'TCP', port: 80,
    clusterIP: (VIP_BASE + 16 + i) >>> 0, nodePort: 0, externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [],
    affinitySeconds: 0, externalPolicyLocal: false, internalPolicyLocal: false, healthCheckNodePort: 0,
  };
}

function endpointsOf(i: number): EndpointInfo[] {
  const out: EndpointInfo[] = [];
  for (let j = 0; j < ENDPOINTS; j++) {
    const k = i * ENDPOINTS + j;
    // On the other nodes (node-2 …): the node forwards to them over eth0.
    out.push({ ip: (POD_BASE + 65536 + k) >>> 0, port: 8080, nodeName: `node-${2 + (k % 99)}`, ready: true, serving: true, terminating: false });
  }
  return out;
}

interface Lab { world: World; node: Node; eth0: NetDevice; kp: KubeProxyIptables | KubeProxyIpvs; cache: SharedProxyCache; n: number; added: number }

/** A node (eth0 192.168.1.10/24 to an 'up' namespace; the endpoints' network 10.240.0.0/12 via the gateway; gateway and client neighbours permanent) running kube-proxy. */
function lab(mode: Mode, n: number): Lab {
  resetPacketIds();
  const world = new World(1);
  const node = new Node(world, 'node-1', 'node');
  world.nodes.set('node-1', node);
  node.netnsAdd('up');
  node.linkAddVeth('host', 'eth0', { name: 'eth0', netns: 'up' });
  node.linkSetUp('host', 'eth0');
  node.linkSetUp('up', 'eth0');
  node.addrAdd('host', 'eth0', '192.168.1.10/24');
  node.sysctlSet('host', 'net.ipv4.ip_forward', '1');
  node.neighReplace('host', GW, new Uint8Array([2, 0, 0, 0, 1, 1]), 'eth0');
  node.neighReplace('host', '192.168.1.100', new Uint8Array([2, 0, 0, 0, 1, 100]), 'eth0');
  node.routeAdd('host', { dst: '10.240.0.0/12', via: GW });
  const cache = new SharedProxyCache();
  const ports: ServicePortInfo[] = [];
  const eps = new Map<string, EndpointInfo[]>();
  for (let i = 0; i < n; i++) { const sp = servicePort(i); ports.push(sp); eps.set(servicePortKey(sp), endpointsOf(i)); }
  const cfg: ProxierConfig = { ...DEFAULT_PROXIER_CONFIG, nodeName: 'node-1', nodeIPs: [NODE_IP], clusterCIDR: { addr: POD_BASE, prefix: 16 } };
  // The daemon's refresh brings the cache up to the API objects: here the initial input once;
  // later changes are made to the cache directly (addSpec).
  let fresh = false;
  const refresh = () => { if (!fresh) { cache.apply(ports, eps); fresh = true; } };
  const kp = mode === 'ipvs' ? new KubeProxyIpvs(node, { ...cfg, scheduler: 'rr' }, 1e9, cache, refresh) : new KubeProxyIptables(node, cfg, 1e9, cache, refresh);
  return { world, node, eth0: node.host.device('eth0')!, kp, cache, n, added: 0 };
}

function ruleCount(node: Node): number {
  const st = netfilterOf(node.host);
  let r = 0;
  for (const t of ['filter', 'nat'] as const) for (const c of st.rules.tables[t].chains.values()) r += c.rules.length;
  return r;
}

function figures(l: Lab): Record<string, number> {
  const out: Record<string, number> = { 'iptables rules': ruleCount(l.node) };
  let entries = 0;
  const sets = netfilterOf(l.node.host).nf.ipsets;
  for (const s of IPSET_INFO) entries += sets.get(s.name)?.entries().length ?? 0;
  out['ipset entries'] = entries;
  if (l.kp instanceof KubeProxyIpvs) {
    const c = l.kp.proxier.counts();
    out['ipvs services'] = c.services;
    out['ipvs dests'] = c.dests;
    out['kube-ipvs0 addrs'] = c.bound;
  }
  return out;
}

function syncSpec(o: BenchOptions, mode: Mode, n: number, label: string): BenchSpec {
  return {
    name: `kpmode.sync.${mode}.${label}`,
    description: `${mode}: the daemon's first full sync of ${n} Services × ${ENDPOINTS} endpoints onto a node`,
    mode: 'time', params: { mode, services: n, endpointsPerService: ENDPOINTS },
    warmup: 1, runs: o.quick ? 2 : 3,
    setup: () => lab(mode, n),
    run: (x) => {
      const l = x as Lab;
      l.kp.start();
      return { work: 1, extra: figures(l) };
    },
  };
}

const shared = new Map<string, Lab>();
function started(mode: Mode, n: number): Lab {
  const k = `${mode}/${n}`;
  let l = shared.get(k);
  if (!l) {
    shared.clear();
    l = lab(mode, n);
    l.kp.start();
    shared.set(k, l);
  }
  return l;
}

function addSpec(o: BenchOptions, mode: Mode, n: number, label: string): BenchSpec {
  const perRun = 20;
  return {
    name: `kpmode.add1.${mode}.${label}`,
    description: `${mode}: one more Service (${ENDPOINTS} endpoints) on top of ${n}, applied by a partial sync (${perRun} in a row per run, time per Service)`,
    mode: 'time-per', workUnit: 'service', params: { mode, services: n, endpointsPerService: ENDPOINTS, addsPerRun: perRun },
    warmup: 1, runs: o.quick ? 3 : 7,
    setup: () => started(mode, n),
    run: (x) => {
      const l = x as Lab;
      for (let k = 0; k < perRun; k++) {
        const i = l.n + l.added++;
        const sp = servicePort(i);
        l.cache.setService(sp);
        l.cache.setEndpoints(servicePortKey(sp), endpointsOf(i));
        (l.kp as { sync(): void }).sync();
      }
      return { work: perRun };
    },
  };
}

/** An Ethernet frame for eth0 carrying a TCP segment from the client. */
function frame(l: Lab, dst: number, sport: number, flags: number): Skb {
  const skb = tcpSkb(CLIENT, dst, sport, 80, flags, 1000, flags & 0x10 ? 5000 : 0);
  skb.push(14);
  const b = skb.buf, o = skb.data;
  b.set(l.eth0.mac, o);
  b.set([2, 0, 0, 0, 1, 100], o + 6);
  setU16(b, o + 12, 0x0800);
  return skb;
}

function connSpec(o: BenchOptions, mode: Mode, n: number, label: string, kind: 'first' | 'est'): BenchSpec {
  const count = o.quick ? 2_000 : 20_000;
  return {
    name: `kpmode.conn.${kind}.${mode}.${label}`,
    description: `${mode}: ${kind === 'first' ? 'the SYN of a new connection' : 'a packet of an established connection'} to the last of ${n} Services, eth0 in → DNAT → eth0 out`,
    mode: 'rate', workUnit: 'packets', params: { mode, services: n, packetsPerRun: count, kernelNsPerRule: KERNEL_NS_PER_RULE },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => {
      const l = started(mode, n);
      const nf = netfilterOf(l.node.host).nf;
      nf.ct.flush();
      const vip = servicePort(n - 1).clusterIP!;
      const skbs: Skb[] = [];
      if (kind === 'est') {
        // One connection, set up before timing: the client's SYN (DNATed and masqueraded out of
        // eth0: captured), the endpoint's SYN/ACK back to the node; then `count` ACKs of it.
        let out: Uint8Array | null = null;
        l.world.tap = { frame: (dev, skb, dir) => { if (dev === l.eth0 && dir === 'out') out = skb.buf.slice(skb.data, skb.data + skb.len); } };
        l.eth0.receive(frame(l, vip, 40000, 0x02));
        l.world.sched.run(l.world.now);
        l.world.tap = null;
        if (!out) throw new Error(`kpmode.conn ${mode}: the SYN did not leave eth0`);
        const o = out as Uint8Array;
        const ipOf = (at: number) => ((o[at]! << 24) | (o[at + 1]! << 16) | (o[at + 2]! << 8) | o[at + 3]!) >>> 0;
        const src = ipOf(14 + 12), dst = ipOf(14 + 16), sport = (o[34]! << 8) | o[35]!, dport = (o[36]! << 8) | o[37]!;
        const synack = tcpSkb(dst, src, dport, sport, 0x12, 5000, 1001);
        synack.push(14);
        synack.buf.set(l.eth0.mac, synack.data);
        synack.buf.set([2, 0, 0, 0, 1, 1], synack.data + 6);
        setU16(synack.buf, synack.data + 12, 0x0800);
        l.eth0.receive(synack);
        l.world.sched.run(l.world.now);
        for (let i = 0; i < count; i++) skbs.push(frame(l, vip, 40000, 0x10));
      } else {
        for (let i = 0; i < count; i++) skbs.push(frame(l, vip, 1024 + (i % 60000), 0x02));
      }
      return { l, skbs };
    },
    run: (x) => {
      const { l, skbs } = x as { l: Lab; skbs: Skb[] };
      const nf = netfilterOf(l.node.host).nf;
      const ev0 = nf.evaluated;
      // Frames leaving eth0 towards an endpoint (10.240.0.0/12): the packet was DNATed to a real server.
      let out = 0;
      const eth0 = l.eth0;
      l.world.tap = { frame: (dev, skb, dir) => { if (dev === eth0 && dir === 'out' && (skb.buf[skb.data + 30]! === 10) && (skb.buf[skb.data + 31]! & 0xf0) === 0xf0) out++; } };
      // Each packet's processing at this instant only (IPVS's connection timers must not run out).
      for (const skb of skbs) { eth0.receive(skb); l.world.sched.run(l.world.now); }
      l.world.tap = null;
      const rules = (nf.evaluated - ev0) / skbs.length;
      // 'out/in' must be 1: every packet DNATed and sent on towards its endpoint (else the figure measures something else).
      return { work: skbs.length, extra: { 'out/in': out / skbs.length, 'rules/packet': rules, 'kernel µs/packet @16ns/rule': (rules * KERNEL_NS_PER_RULE) / 1000 } };
    },
  };
}

export function kubeproxyIpvsBenches(o: BenchOptions): BenchSpec[] {
  const out: BenchSpec[] = [];
  for (const [n, label] of [[1_000, '1k'], [10_000, '10k']] as const) {
    for (const m of ['iptables', 'ipvs'] as const) out.push(syncSpec(o, m, n, label));
    for (const m of ['iptables', 'ipvs'] as const) out.push(addSpec(o, m, n, label));
    for (const kind of ['first', 'est'] as const) for (const m of ['iptables', 'ipvs'] as const) out.push(connSpec(o, m, n, label, kind));
  }
  return out;
}
