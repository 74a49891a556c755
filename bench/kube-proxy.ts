/**
 * kubeproxy.*: podwire's kube-proxy (iptables mode) at 1,000 and 10,000 Services with 10
 * endpoints each (ClusterIP, TCP 80, endpoints spread over 100 nodes).
 *
 *   kubeproxy.build.N     a node's first sync from nothing: the shared cache takes the
 *                         Services and endpoints (SharedProxyCache.apply), the proxier
 *                         builds every chain (IptablesProxier.sync), and a fresh ruleset
 *                         takes them (Ruleset.replaceChains). Also: rules written.
 *   kubeproxy.node.N      another node's first sync on the same cache: node-independent
 *                         chains are the same objects (stored once); also the heap of the
 *                         cache + first node and of each further node (heapUsed after gc).
 *   kubeproxy.add1.10k    one more Service (10 endpoints) on top of 10,000: cache update,
 *                         partial sync (KUBE-SERVICES and the new chains), replaceTables as
 *                         the agent does; 100 adds per run, reported per add.
 *   kubeproxy.cluster.10k the first sync of every node of a 5,000-node cluster (1,000 with
 *                         --quick) at 10,000 Services, as the agents make it: through
 *                         ProxierStates (one proxier sync for the class every node is in)
 *                         and Ruleset.defer (each node's rule set written when first read);
 *                         per node. Extras: the heap per node, and `materialiseMs` — one
 *                         node's deferred rule set made (what its first packet pays).
 *   kubeproxy.conn.N      connections/s through KUBE-SERVICES: the SYN of a new connection
 *                         to the last Service written, through PRE_ROUTING, FORWARD and
 *                         POST_ROUTING of a node holding the proxier's rules (conntrack,
 *                         DNAT, filter, confirm), with the kernel's linear rule count and
 *                         the time it implies at 16 ns/rule.
 */
import type { World } from '../src/kernel/world.js';
import type { Node } from '../src/kernel/node.js';
import type { Skb } from '../src/kernel/skb.js';
import { NfHook } from '../src/kernel/hooks.js';
import type { NetDevice } from '../src/kernel/device.js';
import { netfilterOf } from '../src/netfilter/index.js';
import { Ruleset } from '../src/netfilter/ruleset.js';
import { IptablesProxier, SharedProxyCache, servicePortKey } from '../src/kubeproxy/iptables/index.js';
import { ProxierStates } from '../src/kubeproxy/iptables/states.js';
import { LOG_TEXT_MAX_RULES } from '../src/kubeproxy/agent.js';
import { DEFAULT_PROXIER_CONFIG, type EndpointInfo, type ProxierConfig, type ServicePortInfo } from '../src/kubeproxy/model.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { benchNode, KERNEL_NS_PER_RULE, tcpSkb } from './netfilter.js';

const ENDPOINTS = 10;
const VIP_BASE = 0x0a600000; // 10.96.0.0
const POD_BASE = 0x0af40000; // 10.244.0.0

function config(node: number): ProxierConfig {
  return { ...DEFAULT_PROXIER_CONFIG, nodeName: `node-${node}`, nodeIPs: [(0xc0a80000 + node) >>> 0], clusterCIDR: { addr: POD_BASE, prefix: 16 } };
}

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
    out.push({ ip: (POD_BASE + 256 + k) >>> 0, port: 8080, nodeName: `node-${k % 100}`, ready: true, serving: true, terminating: false });
  }
  return out;
}

function cluster(n: number): { ports: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]> } {
  const ports: ServicePortInfo[] = [];
  const endpoints = new Map<string, EndpointInfo[]>();
  for (let i = 0; i < n; i++) {
    const sp = servicePort(i);
    ports.push(sp);
    endpoints.set(servicePortKey(sp), endpointsOf(i));
  }
  return { ports, endpoints };
}

function countRules(p: IptablesProxier): number {
  const c = p.chains();
  let n = 0;
  for (const ch of [...c.filter, ...c.nat]) n += ch.rules.length;
  return n;
}

function heapUsed(): number {
  if (global.gc) global.gc();
  return process.memoryUsage().heapUsed;
}

function firstSync(cache: SharedProxyCache, node: number): { p: IptablesProxier; rs: Ruleset } {
  const p = new IptablesProxier(config(node), cache);
  const r = p.sync();
  const rs = new Ruleset();
  rs.replaceChains('filter', r.filter.set, r.filter.deleted);
  rs.replaceChains('nat', r.nat.set, r.nat.deleted);
  return { p, rs };
}

function buildSpec(o: BenchOptions, n: number, label: string): BenchSpec {
  return {
    name: `kubeproxy.build.${label}`,
    description: `a node's first sync: ${n} Services × ${ENDPOINTS} endpoints → cache, proxier chains, ruleset`,
    mode: 'time',
    params: { services: n, endpointsPerService: ENDPOINTS },
    warmup: 1, runs: o.quick ? 3 : 5,
    ...(n === 10_000 ? { target: { kind: 'max' as const, value: 1000 } } : {}),
    setup: () => cluster(n),
    run: (x) => {
      const input = x as ReturnType<typeof cluster>;
      const cache = new SharedProxyCache();
      cache.apply(input.ports, input.endpoints);
      const { p } = firstSync(cache, 1);
      return { work: 1, extra: { rules: countRules(p) } };
    },
  };
}

interface Shared { cache: SharedProxyCache; nodes: { p: IptablesProxier; rs: Ruleset }[]; heapFirst: number; heapMore: number }
const shared = new Map<number, Shared>();

/** A cache with one node synced (built once per size), and the heap a first and a further node take. */
function sharedFor(n: number): Shared {
  let s = shared.get(n);
  if (s) return s;
  shared.clear();
  const input = cluster(n);
  const h0 = heapUsed();
  const cache = new SharedProxyCache();
  cache.apply(input.ports, input.endpoints);
  const first = firstSync(cache, 1);
  const h1 = heapUsed();
  const more = firstSync(cache, 3);
  const h2 = heapUsed();
  s = { cache, nodes: [first, more], heapFirst: (h1 - h0) / 2 ** 20, heapMore: (h2 - h1) / 2 ** 20 };
  shared.set(n, s);
  return s;
}

function nodeSpec(o: BenchOptions, n: number, label: string): BenchSpec {
  return {
    name: `kubeproxy.node.${label}`,
    description: `another node's first sync on the shared cache (${n} Services × ${ENDPOINTS}): node-independent chains are shared, not rebuilt`,
    mode: 'time',
    params: { services: n, endpointsPerService: ENDPOINTS },
    warmup: 1, runs: o.quick ? 3 : 5,
    setup: () => sharedFor(n),
    run: (x) => {
      const s = x as Shared;
      const { p } = firstSync(s.cache, 2);
      return { work: 1, extra: { rules: countRules(p), 'heap MB (cache + first node)': s.heapFirst, 'heap MB per further node': s.heapMore } };
    },
  };
}

function addSpec(o: BenchOptions): BenchSpec {
  const n = 10_000;
  // The harness forces a full GC before each run; the adds right after one run slower (measured: ~1.1 ms for the
  // first adds after a forced GC, ~0.35 ms in steady state), so a run is a batch of adds, as kube-proxy sees them.
  const perRun = 100;
  let added = 0;
  return {
    name: 'kubeproxy.add1.10k',
    description: `one more Service (${ENDPOINTS} endpoints) on top of ${n}: cache update, partial sync, replaceTables (${perRun} adds one after another per run, time per add)`,
    mode: 'time-per', workUnit: 'service',
    params: { services: n, endpointsPerService: ENDPOINTS, addsPerRun: perRun },
    warmup: 2, runs: o.quick ? 5 : 15,
    target: { kind: 'max', value: 1 },
    setup: () => sharedFor(n),
    run: (x) => {
      const { cache, nodes } = x as Shared;
      const { p, rs } = nodes[0]!;
      let chains = 0;
      for (let k = 0; k < perRun; k++) {
        const sp = servicePort(n + added);
        cache.setService(sp);
        cache.setEndpoints(servicePortKey(sp), endpointsOf(n + added));
        added++;
        const r = p.sync();
        rs.replaceTables([{ table: 'filter', set: r.filter.set, deleted: r.filter.deleted }, { table: 'nat', set: r.nat.set, deleted: r.nat.deleted }]);
        chains += r.filter.set.length + r.nat.set.length;
      }
      return { work: perRun, extra: { 'chains written per add': chains / perRun } };
    },
  };
}

interface ConnCtx { world: World; node: Node; eth0: NetDevice; cni0: NetDevice; skbs: Skb[]; rules: number }
const connNodes = new Map<number, Omit<ConnCtx, 'skbs'>>();

function connNode(n: number): Omit<ConnCtx, 'skbs'> {
  let c = connNodes.get(n);
  if (c) return c;
  connNodes.clear();
  const { world, node, eth0, cni0 } = benchNode();
  const input = cluster(n);
  const cache = new SharedProxyCache();
  cache.apply(input.ports, input.endpoints);
  const p = new IptablesProxier(config(1), cache);
  const r = p.sync();
  const st = netfilterOf(node.host);
  st.rules.replaceTables([{ table: 'filter', set: r.filter.set, deleted: r.filter.deleted }, { table: 'nat', set: r.nat.set, deleted: r.nat.deleted }]);
  // The built-in jumps, as the agent inserts them.
  for (const j of r.builtinJumps) st.rules.append(j.table, j.chain, j.rule);
  st.nf.refresh();
  c = { world, node, eth0, cni0, rules: countRules(p) };
  connNodes.set(n, c);
  return c;
}

function connSpec(o: BenchOptions, n: number, label: string): BenchSpec {
  const count = o.quick ? 5_000 : 40_000;
  return {
    name: `kubeproxy.conn.${label}`,
    description: `new connections through KUBE-SERVICES to the last of ${n} Services (${ENDPOINTS} endpoints each), PRE_ROUTING+FORWARD+POST_ROUTING`,
    mode: 'rate', workUnit: 'connections',
    params: { services: n, endpointsPerService: ENDPOINTS, connectionsPerRun: count, kernelNsPerRule: KERNEL_NS_PER_RULE },
    warmup: 1, runs: o.quick ? 3 : 5,
    ...(n === 10_000 ? { target: { kind: 'min' as const, value: 100_000 } } : {}),
    setup: () => {
      const c = connNode(n);
      netfilterOf(c.node.host).nf.ct.flush();
      // The last Service in KUBE-SERVICES order (sorted by namespace, name): the one the walk reaches last.
      const last = cluster(n).ports.slice().sort((a, b) => (a.namespace + '\0' + a.name < b.namespace + '\0' + b.name ? -1 : 1)).pop()!;
      const skbs: Skb[] = [];
      for (let i = 0; i < count; i++) skbs.push(tcpSkb((0x0af4c801 + (i >>> 14)) >>> 0, last.clusterIP!, 10000 + (i & 0x3fff), 80, 0x02, 1000, 0));
      return { ...c, skbs };
    },
    run: (x) => {
      const c = x as ConnCtx;
      const nf = netfilterOf(c.node.host).nf;
      const st = c.node.host.stack;
      const ev0 = nf.evaluated;
      for (const skb of c.skbs) {
        if (!(st.hook(NfHook.PRE_ROUTING, skb, c.eth0, null) && st.hook(NfHook.FORWARD, skb, c.eth0, c.cni0) && st.hook(NfHook.POST_ROUTING, skb, null, c.cni0))) throw new Error('kube-proxy bench: SYN dropped');
      }
      const rules = (nf.evaluated - ev0) / c.skbs.length;
      return { work: c.skbs.length, extra: { rules: c.rules, 'rules/connection': rules, 'kernel µs/connection @16ns/rule': (rules * KERNEL_NS_PER_RULE) / 1000 } };
    },
  };
}

function clusterSpec(o: BenchOptions): BenchSpec {
  const n = 10_000, nodes = o.quick ? 1_000 : 5_000;
  interface Ctx { states: ProxierStates; firstMs: number; heapPerNode: number; materialiseMs: number }
  const defer = (rs: Ruleset, r: ReturnType<IptablesProxier['sync']>) =>
    rs.defer((q) => q.replaceTables([{ table: 'filter', set: r.filter.set, deleted: r.filter.deleted }, { table: 'nat', set: r.nat.set, deleted: r.nat.deleted }]));
  return {
    name: 'kubeproxy.cluster.10k',
    description: `the first sync of ${nodes} nodes' kube-proxy at ${n} Services (× ${ENDPOINTS}) after the first node's: ProxierStates + deferred rule sets, per node`,
    mode: 'time-per', workUnit: 'node',
    params: { services: n, endpointsPerService: ENDPOINTS, nodes },
    warmup: 0, runs: o.quick ? 2 : 3,
    setup: (): Ctx => {
      const input = cluster(n);
      const cache = new SharedProxyCache();
      cache.apply(input.ports, input.endpoints);
      const states = new ProxierStates(cache);
      const t0 = performance.now();
      const first = new Ruleset();
      defer(first, states.sync(null, config(1), LOG_TEXT_MAX_RULES).result);
      const firstMs = performance.now() - t0;
      // The heap a further node takes (measured here: the forced GCs would dominate a timed run).
      const h0 = heapUsed();
      const probe: Ruleset[] = [];
      for (let i = 0; i < 500; i++) { const rs = new Ruleset(); defer(rs, states.sync(null, config(nodes + i + 1), LOG_TEXT_MAX_RULES).result); probe.push(rs); }
      const heapPerNode = (heapUsed() - h0) / probe.length;
      // What the first packet through a node pays: its deferred rule set made.
      const t1 = performance.now();
      first.settle();
      const materialiseMs = performance.now() - t1;
      return { states, firstMs, heapPerNode, materialiseMs };
    },
    run: (x) => {
      const { states, firstMs, heapPerNode, materialiseMs } = x as Ctx;
      const sets: Ruleset[] = [];
      for (let i = 1; i < nodes; i++) {
        const rs = new Ruleset();
        defer(rs, states.sync(null, config(i + 1), LOG_TEXT_MAX_RULES).result);
        sets.push(rs);
      }
      return { work: nodes - 1, extra: { proxierSyncs: states.stats.syncs, firstNodeMs: firstMs, 'heap KB per node': heapPerNode / 1024, materialiseMs } };
    },
  };
}

export function kubeproxyBenches(o: BenchOptions): BenchSpec[] {
  return [
    clusterSpec(o),
    buildSpec(o, 1_000, '1k'), buildSpec(o, 10_000, '10k'),
    nodeSpec(o, 1_000, '1k'), nodeSpec(o, 10_000, '10k'),
    addSpec(o),
    connSpec(o, 1_000, '1k'), connSpec(o, 10_000, '10k'),
  ];
}
