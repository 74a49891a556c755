/**
 * The upstream e2e netpol model (namespaces x, y, z; pods a, b, c; ports 80
 * and 81 over TCP and UDP) as a podwire cluster with kube-router's network
 * policy controller on every node, driven directly through the ObjectStore
 * (policies are created in the store, as the apiserver would admit them).
 *
 * Placement: a and b on node-1, c on node-2 in every namespace, so
 * x/a → x/b and x/a → y/b are bridged through node-1's cni0 (physdev) and
 * x/a → x/c is routed between nodes.
 */
import { parseScenario } from '../../src/scenario/load.js';
import { buildCluster, type Cluster } from '../../src/scenario/build.js';
import { runClient, type Outcome } from '../../src/scenario/apps.js';
import { NetpolInformer, startNetpol, type KubeRouterNetpol } from '../../src/netpol/index.js';
import { ipsetSave } from '../../src/netfilter/ipset-text.js';
import { iptablesSaveText, netfilterOf } from '../../src/netfilter/index.js';
import { ipToString } from '../../src/wire/bytes.js';
import type { Obj } from '../../src/kube/object.js';
import type { Protocol } from '../../src/kube/pod.js';
import type { TraceSink } from '../../src/trace/events.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
const NODE_OF: Record<string, string> = { a: 'node-1', b: 'node-1', c: 'node-2' };

export function e2eScenarioText(): string {
  const ports = '[{name: serve-80-tcp, containerPort: 80, protocol: TCP}, {name: serve-80-udp, containerPort: 80, protocol: UDP}, {name: serve-81-tcp, containerPort: 81, protocol: TCP}, {name: serve-81-udp, containerPort: 81, protocol: UDP}]';
  let m = '';
  for (const ns of NAMESPACES) m += `  - |\n    apiVersion: v1\n    kind: Namespace\n    metadata: {name: ${ns}, labels: {ns: ${ns}}}\n`;
  for (const ns of NAMESPACES)
    for (const p of PODS)
      m += `  - |\n    apiVersion: v1\n    kind: Pod\n    metadata: {name: ${p}, namespace: ${ns}, labels: {pod: ${p}}}\n    spec: {nodeName: ${NODE_OF[p]}, containers: [{name: cont-80-81, image: agnhost, ports: ${ports}}]}\n`;
  return `name: netpol-e2e
seed: 6
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: bridge}
  kubeProxy: {mode: iptables}
  dns: {enabled: false}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24}
    - {name: node-2, ip: 192.168.1.12/24}
manifests:
${m}`;
}

export interface NetpolCluster {
  cl: Cluster;
  informer: NetpolInformer;
  agents: Map<string, KubeRouterNetpol>;
  /** Runs the clock for `ns` of virtual time. */
  advance(ns: number): void;
}

export function e2eCluster(opts: { trace?: TraceSink; minSyncPeriod?: number } = {}): NetpolCluster {
  const cl = buildCluster(parseScenario(e2eScenarioText(), 'netpol-e2e.yaml'), { trace: opts.trace });
  const informer = new NetpolInformer(cl.store);
  const agents = new Map<string, KubeRouterNetpol>();
  for (const [name, node] of cl.nodes)
    agents.set(name, startNetpol(node, informer, { nodeName: name, nodeIPs: [ipToString(cl.machineIPs.get(name)!)], serviceCIDRs: ['10.96.0.0/12'], minSyncPeriod: opts.minSyncPeriod ?? 0 }));
  const advance = (ns: number) => { cl.world.sched.run(cl.world.now + ns); };
  advance(1e6);
  return { cl, informer, agents, advance };
}

/** A NetworkPolicy manifest (networking.k8s.io/v1). */
export function np(namespace: string, name: string, spec: Obj): Obj {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

export function apply(c: NetpolCluster, ...objs: Obj[]): void {
  for (const o of objs) c.cl.store.create(o);
  c.advance(1e6);
}

export interface Probe { from: string; to: string; port: number; protocol: Protocol }

/** Connects from pod `from` to pod `to` (`ns/name`) on port/protocol; the outcome as the scenario clients judge it. */
export function probe(c: NetpolCluster, probes: readonly Probe[], timeout = 2e9): Outcome[] {
  const out: Outcome[] = new Array(probes.length);
  probes.forEach((p, i) => {
    const src = c.cl.pods.get(p.from)!, dst = c.cl.pods.get(p.to)!;
    runClient({
      ns: src.node.ns(src.netns), dst: dst.ip, protocol: p.protocol === 'TCP' ? 'tcp' : 'udp', port: p.port, size: p.protocol === 'TCP' ? 0 : 8,
      timeout, flow: `${p.from}->${p.to}:${p.port}/${p.protocol}`, done: (o) => { out[i] = o; },
    });
  });
  c.advance(timeout + 1e9);
  return out;
}

/** The evaluator's verdict on the agents' view. */
export function verdictOf(c: NetpolCluster, p: Probe): boolean {
  const [fn, fp] = p.from.split('/'), [tn, tp] = p.to.split('/');
  return c.informer.evaluatorFor().verdict({ kind: 'pod', namespace: fn, name: fp }, { kind: 'pod', namespace: tn, name: tp }, p.port, p.protocol).allowed;
}

export function allPairs(ports: readonly { port: number; protocol: Protocol }[]): Probe[] {
  const pods = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}`));
  const out: Probe[] = [];
  for (const from of pods) for (const to of pods) if (from !== to) for (const pt of ports) out.push({ from, to, ...pt });
  return out;
}

/** The filter table of `iptables-save` (counters zeroed, header lines dropped) and `ipset save` of kube-router's sets. */
export function savedRules(c: NetpolCluster, node: string): string {
  const n = c.cl.nodes.get(node)!;
  const save = iptablesSaveText(n, 'host');
  const start = save.indexOf('*filter');
  const filter = save.slice(start, save.indexOf('COMMIT', start) + 'COMMIT'.length);
  const rules = filter.split('\n').map((l) => l.replace(/^(:\S+ \S+) \[\d+:\d+\]$/, '$1 [0:0]')).join('\n');
  const sets = ipsetSave(netfilterOf(n.host).nf.ipsets).split('\n').map((l) => l.replace(/ initval 0x[0-9a-f]+/, '')).join('\n');
  return `${rules}\n${sets}`;
}
