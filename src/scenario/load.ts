/**
 * Loading a scenario file: YAML with source positions → a validated
 * {@link Scenario}. Every problem is thrown as an {@link InputError} naming
 * file:line:col of the offending YAML node (key or value), never anything else:
 * syntax errors carry the yaml library's position and message; unknown keys name
 * the key, the closest allowed key and the allowed list; wrong types and bad
 * values name the value; duplicates point at the second occurrence and mention
 * the first's line. The format is documented field by field in FORMAT.md.
 */
import { isMap, isScalar, isSeq } from 'yaml';
import { closest } from '../kube/suggest.js';
import { InputError } from './errors.js';
import { loadManifests, type LoadedManifest } from './manifests.js';
import type { Endpoint, Manifest, NodeSpec, OtherManifest, PodSpec, Scenario, SourcePos } from './types.js';
import { firstAt, validateCluster } from './validateCluster.js';
import { broadcastOf, cidrContains, formatIPv4, networkOf, networkText, parseIPv4 } from './validateNet.js';
import { validateEvents, validateTraffic, type EventRefs, type TrafficRefs } from './validateTraffic.js';
import { checkFaultEvents } from './checkFaults.js';
import { fileSrc, parseYamlDocs, Y } from './validateYaml.js';
import { readInputFile, type FileOptions } from './input-files.js';

export type { FileOptions } from './input-files.js';

/** Top-level keys of a scenario file. */
export const SCENARIO_KEYS = ['name', 'seed', 'description', 'cluster', 'manifests', 'traffic', 'events'] as const;

/** The annotation that pins a pod's IP address (instead of host-local IPAM's choice). */
export const PIN_IP_ANNOTATION = 'podwire/ip';

/**
 * Reads and validates the scenario file at `path`. Its `{file: …}` includes must
 * stay in its folder unless `opts.allowOutsideFiles`; it and they are refused
 * over MAX_INPUT_BYTES (input-files.ts).
 * @throws InputError for an unreadable file or any invalid content (never another error type for bad input).
 */
export function loadScenario(path: string, opts: FileOptions = {}): Scenario {
  const text = readInputFile(path, 'scenario file', { file: path, line: 1, col: 1 }, false);
  return parseScenario(text, path, opts);
}

/**
 * Validates scenario YAML `text`; `file` names it in errors and is the base for
 * `{file: …}` manifest paths. The format, field by field (FORMAT.md has the full reference):
 *
 * ```yaml
 * name: same-node-bridge          # required, string
 * seed: 1                          # integer 0..2^32-1, default 1
 * description: ...                 # optional string
 * cluster:
 *   podCIDR: 10.244.0.0/16         # required, network address (host bits zero)
 *   serviceCIDR: 10.96.0.0/12      # required, network address; overlaps neither podCIDR nor a node/host subnet
 *   mtu: 1500                      # underlay MTU 68..65535, default 1500
 *   links: {vethDelay: 0, nicDelay: 50us, nicBandwidth: 0}  # durations ("50us", "1ms", "0"); bits/s or "10kbit"/"100Mbit"/"1Gbit"; defaults 0, 50us, 0 = unlimited
 *   network: {plugin: bridge, hairpinMode: true, mtu: 1500, conflist: "<JSON>"}  # plugin required, only bridge; hairpinMode default true; mtu default cluster.mtu
 *   kubeProxy: {mode: none}        # iptables | ipvs | none, default none
 *   nodes:                         # at least one; names unique among nodes and hosts
 *     - {name: node-1, ip: 192.168.1.11/24, podCIDR: 10.244.0.0/24}  # ip not network/broadcast; podCIDR inside cluster.podCIDR, no overlap
 *   externalHosts:
 *     - name: client
 *       ip: 192.168.1.100/24
 *       routes: [{dst: 10.244.0.0/16, via: 192.168.1.11}]   # dst network address or "default"; via on the host's subnet
 *       ports: [{port: 80, protocol: TCP}]                   # TCP | UDP | SCTP, default TCP
 * manifests:                       # block strings (multi-document with ---), {file: relative.yaml}, or mappings
 *   - |
 *     apiVersion: v1
 *     kind: Pod                    # validated as the apiserver does; spec.nodeName required (no scheduler)
 *     metadata: {name: web, annotations: {podwire/ip: 10.244.0.10}}   # pins the pod IP
 * traffic:
 *   - name: ping-web               # required, unique
 *     at: 1ms                      # duration, default 0
 *     from: pod/default/client     # pod/NS/NAME | node/NAME | host/NAME | ip/A.B.C.D (+ via: node/NAME|host/NAME)
 *     to: pod/default/web          # ... | service/NS/NAME
 *     protocol: icmp               # icmp | tcp | udp
 *     port: 80                     # required for tcp/udp, forbidden for icmp
 *     sourcePort: 40000            # optional, not for icmp
 *     size: 64                     # 0..65000, default 56 icmp / 64 tcp,udp
 *     count: 1                     # 1..1000000, default 1
 *     timeout: 3s                  # > 0, default 3s
 *     expect: {result: reply, path: [node-1/cni0, node-1/default.web/eth0]}  # reply|refused|unreachable|dropped; NODE/DEV or NODE/NETNS/DEV
 * events: []                       # timed events (src/scenario/FORMAT.md)
 * ```
 * @throws InputError for any invalid content.
 */
export function parseScenario(text: string, file: string, opts: FileOptions = {}): Scenario {
  const { docs, src } = parseYamlDocs(text, (lc) => ({ ...fileSrc(file, lc), allowOutsideFiles: opts.allowOutsideFiles === true }));
  const nonEmpty = docs.filter((d) => d.contents !== null);
  if (nonEmpty.length === 0) throw new InputError(file, 1, 1, 'empty scenario file', 'a mapping with keys name, cluster, manifests, traffic');
  if (docs.length > 1) {
    const second = docs[1];
    throw InputError.at(src.pos(second.range?.[0] ?? 0), 'a scenario file must hold a single YAML document (found a second "---" document)');
  }
  const doc = docs[0];
  const root = new Y(doc.contents, { ...src, doc }, '');
  if (!root.node || !isMap(root.node)) {
    const got = root.node && isSeq(root.node) ? 'a list' : root.node && isScalar(root.node) ? `a scalar (${JSON.stringify(String(root.node.value))})` : 'nothing';
    root.fail(`the top level of a scenario must be a mapping, got ${got}`, `a mapping with keys ${SCENARIO_KEYS.join(', ')}`);
  }
  const m = root.map(SCENARIO_KEYS, ['name', 'cluster']);
  const nameY = m.req('name');
  const name = nameY.str();
  if (name.trim() === '') nameY.fail('name must not be empty');
  const seedY = m.opt('seed');
  const seed = seedY ? seedY.int(0, 0xffffffff) : 1;
  const descY = m.opt('description');
  const description = descY ? descY.str() : undefined;
  const cluster = validateCluster(m.req('cluster'));
  const loaded = m.opt('manifests') ? loadManifests(m.opt('manifests')!, file) : [];
  const manifests = checkManifests(loaded, cluster.nodes, cluster.podCIDR);
  const traffic = m.opt('traffic') ? validateTraffic(m.opt('traffic')!) : [];
  const events = m.opt('events') ? validateEvents(m.opt('events')!, file) : [];
  checkReferences(traffic, manifests, cluster.nodes.map((n) => n.name), cluster.externalHosts.map((h) => h.name), events);
  checkNodeEvents(events, cluster, manifests, traffic);
  checkPolicyEvents(events, manifests);
  for (const t of traffic) {
    const usesServices = t.spec.to.kind === 'service' || t.spec.to.kind === 'dns';
    if (usesServices && cluster.kubeProxy.mode === 'none')
      t.to.fail(`${t.to.what}: ${t.spec.to.text} needs kube-proxy, but cluster.kubeProxy.mode is none`, 'kubeProxy: {mode: iptables}');
    if (t.spec.to.kind === 'dns' && !cluster.dns.enabled) t.to.fail(`${t.to.what}: ${t.spec.to.text} needs cluster DNS, but cluster.dns.enabled is false`);
  }

  const s: Scenario = { file, name, seed, cluster, manifests, traffic: traffic.map((t) => t.spec), events: events.map((e) => e.spec) };
  if (description !== undefined) s.description = description;
  return s;
}

/** Cross-checks manifests against each other and the cluster: duplicates, pod nodes, pinned IPs. */
function checkManifests(loaded: LoadedManifest[], nodes: NodeSpec[], clusterPodCIDR: Scenario['cluster']['podCIDR']): Manifest[] {
  // Positions are looked up only for an error (a manifest's nodes may not even be built: flow-lines.ts).
  const seen = new Map<string, LoadedManifest>();
  const pinned = new Map<number, { pos: SourcePos; pod: string }>();
  const nodeNames = nodes.map((n) => n.name);
  const nodeByName = new Map<string, NodeSpec>();
  for (const n of nodes) if (!nodeByName.has(n.name)) nodeByName.set(n.name, n);
  for (const lm of loaded) {
    const mf = lm.manifest;
    const id = mf.namespace !== undefined ? `${mf.namespace}/${mf.name}` : mf.name;
    const key = `${mf.kind}\0${id}`;
    const first = seen.get(key);
    if (first) {
      const namePos = lm.at(['metadata', 'name']);
      throw InputError.at(namePos, `duplicate ${mf.kind === 'Pod' ? 'pod' : mf.kind} ${JSON.stringify(id)} (first defined at ${firstAt(first.at(['metadata', 'name']), namePos)})`);
    }
    seen.set(key, lm);
    if (mf.kind !== 'Pod') continue;
    const pod = mf as PodSpec;
    const node = nodeByName.get(pod.nodeName);
    if (!node) {
      const near = closest(pod.nodeName, nodeNames);
      throw InputError.at(
        lm.at(['spec', 'nodeName']),
        `pod ${id}: spec.nodeName ${JSON.stringify(pod.nodeName)} is not a node of the cluster${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`,
        `one of ${nodeNames.join(', ')}`,
      );
    }
    const ipText = pod.annotations[PIN_IP_ANNOTATION];
    if (ipText === undefined) continue;
    const at = lm.at(['metadata', 'annotations', PIN_IP_ANNOTATION]);
    if (pod.hostNetwork) throw InputError.at(at, `pod ${id}: the ${PIN_IP_ANNOTATION} annotation cannot be used with spec.hostNetwork: true (the pod uses the node's address)`);
    const ip = parseIPv4(ipText.trim());
    if (ip === undefined) throw InputError.at(at, `pod ${id}: ${PIN_IP_ANNOTATION} ${JSON.stringify(ipText)} is not a valid IPv4 address`, 'an IPv4 address such as 10.244.0.10');
    const subnet = node.podCIDR ?? clusterPodCIDR;
    const where = node.podCIDR ? `the podCIDR ${subnet.text} of node ${node.name}` : `cluster.podCIDR ${subnet.text}`;
    if (!cidrContains(subnet, ip)) throw InputError.at(at, `pod ${id}: ${PIN_IP_ANNOTATION} ${formatIPv4(ip)} is not inside ${where}`, `an address inside ${networkText(subnet)}`);
    if (subnet.prefix < 31 && (ip === networkOf(subnet) || ip === broadcastOf(subnet)))
      throw InputError.at(at, `pod ${id}: ${PIN_IP_ANNOTATION} ${formatIPv4(ip)} is the ${ip === networkOf(subnet) ? 'network' : 'broadcast'} address of ${where}`);
    const prev = pinned.get(ip);
    if (prev) throw InputError.at(at, `pod ${id}: ${PIN_IP_ANNOTATION} ${formatIPv4(ip)} is already pinned by pod ${prev.pod} (${firstAt(prev.pos, at)})`);
    pinned.set(ip, { pos: at, pod: id });
    pod.pinnedIP = ip;
  }
  return loaded.map((l) => l.manifest);
}

/** Traffic endpoints and expected paths must name things that exist. */
function checkReferences(traffic: TrafficRefs[], manifests: Manifest[], nodes: string[], hosts: string[], events: EventRefs[]): void {
  const pods = manifests.filter((m) => m.kind === 'Pod').map((m) => `${m.namespace}/${m.name}`);
  const services = manifests.filter((m) => m.kind === 'Service').map((m) => `${m.namespace ?? 'default'}/${m.name}`);
  // A pod of a Deployment or ReplicaSet has a name drawn at run time (workloads.ts), seeded: events and
  // servedBy may name it (`kubectl get pods` shows it), traffic endpoints may not (reach it through a Service).
  const generated = ownedPodName(manifests);
  const check = (ep: Endpoint, y: Y, mayBeGenerated = false) => {
    let pool: string[];
    let id: string;
    let what: string;
    switch (ep.kind) {
      case 'ip':
      case 'dns':
        return;
      case 'pod':
        [pool, id, what] = [pods, `${ep.namespace}/${ep.name}`, 'pod'];
        if (mayBeGenerated && generated(ep.namespace, ep.name)) return;
        break;
      case 'service':
        [pool, id, what] = [services, `${ep.namespace}/${ep.name}`, 'Service'];
        break;
      case 'node':
        [pool, id, what] = [nodes, ep.name, 'node'];
        break;
      case 'host':
        [pool, id, what] = [hosts, ep.name, 'external host'];
        break;
    }
    if (pool.includes(id)) return;
    const near = closest(id, pool);
    y.fail(
      `${y.what}: no ${what} ${JSON.stringify(id)} in this scenario${near ? `; did you mean ${JSON.stringify(`${ep.kind}/${near}`)}?` : ''}`,
      pool.length ? `one of ${pool.map((p) => `${ep.kind}/${p}`).join(', ')}` : undefined,
    );
  };
  const machines = [...nodes, ...hosts];
  for (const e of events) {
    if (e.spec.kind === 'link-down' || e.spec.kind === 'link-up' || e.spec.kind === 'impair') {
      const l = e.spec.link;
      if (l.kind === 'pod') check({ kind: 'pod', namespace: l.namespace, name: l.name, text: '' }, e.link!);
      else if (l.kind === 'device' && !machines.includes(l.machine)) {
        const near = closest(l.machine, machines);
        e.link!.fail(`${e.link!.what}: no node or host ${JSON.stringify(l.machine)} in this scenario${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`, `one of ${machines.join(', ')}`);
      }
      continue;
    }
    if (e.spec.kind === 'node-join' || e.spec.kind === 'node-leave' || e.spec.kind === 'node-down' || e.spec.kind === 'node-up' || e.spec.kind === 'agent-stop' || e.spec.kind === 'agent-start') {
      if (nodes.includes(e.spec.node)) continue;
      const near = closest(e.spec.node, nodes);
      e.node!.fail(`${e.node!.what}: no node ${JSON.stringify(e.spec.node)} in this scenario${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`, `one of ${nodes.join(', ')}`);
    }
    else if (e.spec.kind === 'pod-ready' || e.spec.kind === 'pod-delete') check({ kind: 'pod', namespace: e.spec.namespace, name: e.spec.name, text: '' }, e.pod!, true);
  }
  for (const t of traffic) {
    if (t.spec.node && t.node && !nodes.includes(t.spec.node)) {
      const near = closest(t.spec.node, nodes);
      t.node.fail(`${t.node.what}: no node ${JSON.stringify(t.spec.node)} in this scenario${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`, `one of ${nodes.join(', ')}`);
    }
    check(t.spec.from, t.from);
    check(t.spec.to, t.to);
    for (const sv of t.served) check(sv.ep, sv.y, true);
    if (t.spec.via && t.via) check(t.spec.via, t.via);
    for (const py of t.path) {
      const first = String(py.scalar).split('/')[0];
      // The builder's own machines: the router between subnets and the cloud load balancer.
      if (!machines.includes(first) && first !== 'router' && first !== 'cloud-lb') {
        const near = closest(first, machines);
        py.fail(`${py.what}: ${JSON.stringify(first)} is not a node or host of this scenario${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`, `one of ${machines.join(', ')}`);
      }
    }
  }
}

/** Whether NS/NAME has the shape of a pod name a Deployment (`D-HASH-XXXXX`) or ReplicaSet (`RS-XXXXX`) of the manifests gives. */
function ownedPodName(manifests: Manifest[]): (ns: string, name: string) => boolean {
  const owners: { ns: string; re: RegExp }[] = [];
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const m of manifests) {
    if (m.kind !== 'Deployment' && m.kind !== 'ReplicaSet') continue;
    const safe = '[bcdfghjklmnpqrstvwxz2456789]';
    const base = m.kind === 'Deployment' ? `${esc(m.name)}-${safe}+-` : `${esc(m.name)}-`;
    owners.push({ ns: m.namespace ?? 'default', re: new RegExp(`^${base}${safe}{5}$`) });
  }
  return (ns, name) => owners.some((o) => o.ns === ns && o.re.test(name));
}

/**
 * policy-delete must name a policy that exists when it runs: one of the
 * manifests or of an earlier policy-apply (events run in time order, equal
 * times in list order), not deleted since.
 */
function checkPolicyEvents(events: EventRefs[], manifests: Manifest[]): void {
  const key = (kind: string, ns: string | undefined, name: string) => (ns === undefined ? `${kind}/${name}` : `${kind}/${ns}/${name}`);
  const live = new Set<string>();
  for (const m of manifests) if (m.kind !== 'Pod' && (m as OtherManifest).policy) live.add(key(m.kind, m.namespace, m.name));
  const order = events.map((e, i) => ({ e, i })).sort((a, b) => a.e.spec.at - b.e.spec.at || a.i - b.i);
  for (const { e } of order) {
    const s = e.spec;
    if (s.kind === 'policy-apply') live.add(key(s.manifest.kind, s.manifest.namespace, s.manifest.name));
    else if (s.kind === 'policy-delete') {
      const k = key(s.policyKind, s.namespace, s.name);
      if (live.delete(k)) continue;
      const all = [...live].filter((x) => x.startsWith(`${s.policyKind}/`));
      const near = closest(k, all);
      e.policy!.fail(
        `${e.policy!.what}: no ${k} exists at ${s.at / 1e9} s (not in manifests, not applied by an earlier policy-apply, or deleted already)${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`,
        all.length ? `one of ${all.join(', ')}` : undefined,
      );
    }
  }
}

/**
 * node-join / node-leave: flannel or calico (the bridge plugin's static routes do not
 * follow nodes), at most one join and one leave per node, a join before a
 * leave; nothing may use a joining node's pods before the join, and the node
 * hosting CoreDNS must be there from the start.
 */
function checkNodeEvents(events: { spec: Scenario['events'][number]; node?: Y }[], cluster: Scenario['cluster'], manifests: Manifest[], traffic: TrafficRefs[]): void {
  const joins = new Map<string, number>();
  const leaves = new Map<string, number>();
  const downs = new Map<string, number>();
  checkFaultEvents(events, cluster);
  for (const e of events) {
    const s = e.spec;
    if (s.kind === 'node-down') {
      downs.set(s.node, s.at); // alternating with node-up: checkFaultEvents
      continue;
    }
    if (s.kind !== 'node-join' && s.kind !== 'node-leave') continue;
    const y = e.node!;
    if (cluster.network.plugin === 'bridge')
      y.fail(`${y.what}: ${s.kind} needs network.plugin flannel or calico (the bridge plugin's static pod routes do not follow nodes)`, 'network: {plugin: flannel} or {plugin: calico}');
    const seen = s.kind === 'node-join' ? joins : leaves;
    if (seen.has(s.node)) y.fail(`${y.what}: a second ${s.kind} for node ${JSON.stringify(s.node)}`, 'one join and one leave per node');
    seen.set(s.node, s.at);
    if (s.kind === 'node-leave' && joins.has(s.node) && joins.get(s.node)! >= s.at) y.fail(`${y.what}: node ${JSON.stringify(s.node)} leaves before it joins`);
    if (s.kind === 'node-join' && leaves.has(s.node)) y.fail(`${y.what}: node ${JSON.stringify(s.node)} joins after it left (list its join first)`);
    if (s.kind === 'node-join' && cluster.dns.enabled && cluster.kubeProxy.mode !== 'none' && (cluster.dns.node ?? cluster.nodes[0]!.name) === s.node)
      y.fail(`${y.what}: node ${JSON.stringify(s.node)} hosts the CoreDNS pod, so it must be in the cluster from the start`, 'a join for another node, or dns.node set to a node present from the start');
  }
  for (const e of events) {
    if (e.spec.kind !== 'node-down') continue;
    const j = joins.get(e.spec.node), l = leaves.get(e.spec.node);
    if (j !== undefined && j >= e.spec.at) e.node!.fail(`${e.node!.what}: node ${JSON.stringify(e.spec.node)} fails before it joins (at ${j / 1e9} s)`, 'a node-down after the join');
    if (l !== undefined && l <= e.spec.at) e.node!.fail(`${e.node!.what}: node ${JSON.stringify(e.spec.node)} has left the cluster already (at ${l / 1e9} s)`, 'a node-down before the leave, or no leave');
  }
  if (joins.size === 0) return; // what follows only concerns joining nodes
  const podNode = new Map<string, string>();
  for (const m of manifests) if (m.kind === 'Pod') podNode.set(`${m.namespace}/${m.name}`, (m as { nodeName: string }).nodeName);
  for (const t of traffic) {
    for (const [ep, y] of [[t.spec.from, t.from], [t.spec.to, t.to]] as const) {
      const node = ep.kind === 'pod' ? podNode.get(`${ep.namespace}/${ep.name}`) : ep.kind === 'node' ? ep.name : undefined;
      const j = node !== undefined ? joins.get(node) : undefined;
      if (j !== undefined && t.spec.at < j) y.fail(`${y.what}: ${ep.text} is on node ${node}, which joins at ${j / 1e9} s, after this item starts (${t.spec.at / 1e9} s)`, 'an item starting after the join');
    }
  }
}
