/**
 * `podwire generate` (issue 9): a scale scenario of a given size, deterministic from the seed.
 *
 * Shape: nodes on /16 underlay subnets of 10.0.0.0/8 (one /16 up to 65,000 nodes; flannel
 * vxlan or calico IPIP cross the router between them), pod network 100.64.0.0/10 (a /24 per
 * node), services in 192.168.0.0/16, kube-proxy iptables; calico above MESH_MAX_NODES nodes peers
 * through route reflectors (the first REFLECTORS nodes) instead of the node-to-node mesh. Pods go round-robin over the nodes;
 * pod i carries `app: a-K` (K = i mod the number of apps; an app has about
 * --endpoints-per-service pods) and `tier: web|api|db` (drawn from the seed); app K lives in
 * namespace `ns-(K mod --namespaces)`, and Service j selects app j mod apps. NetworkPolicy p
 * isolates app p mod apps for ingress on 8080, admitting one of: pods of tier web (same
 * namespace), namespaces of the same team label, or tiers In [web, api]. A flannel cluster with
 * policies gets more namespaces than --namespaces asks when a policy's peers would be more than
 * one kube-router ipset holds (65,536: 150,000 pods in one namespace need 3). Every object is one
 * flow-style line, so 150,000 pods stay near 25 MB.
 *
 * The traffic items (a cross-node pod→pod TCP request, a ping, a pod→ClusterIP request, a
 * denied flow when there are policies: kube-router REJECTs it, felix DROPs it) get expectations computed here by the same selector
 * rules the policy agent applies, so they hold when the scenario runs.
 */
import { AtomicFile } from '../trace/atomic-file.js';
import { Rng } from '../engine/rng.js';

export interface GenerateOptions {
  nodes: number;
  pods: number;
  services: number;
  /** Pods per app (a Service selects one app); default pods / services (at least 1). */
  endpointsPerService?: number;
  policies: number;
  namespaces: number;
  network: 'flannel' | 'calico';
  seed: number;
}

const TIERS = ['web', 'api', 'db'] as const;
const TEAMS = 4;
const PORT = 8080;

interface PodRow { name: string; ns: number; app: number; tier: number; node: number }

/** The scenario text (YAML, flow style: one object per line). Throws on impossible sizes. */
export function generateScenario(o: GenerateOptions): string {
  const { nodes, pods, services, policies, network, seed } = o;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16 * 65000) throw new Error(`--nodes must be 1..${16 * 65000}`);
  if (!Number.isInteger(pods) || pods < 0) throw new Error('--pods must be an integer ≥ 0');
  if (Math.ceil(pods / nodes) > 250) throw new Error(`${pods} pods on ${nodes} nodes is more than 250 a node (one /24 each)`);
  if (!Number.isInteger(services) || services < 0 || services > 60000) throw new Error('--services must be 0..60000');
  if (services > 0 && pods === 0) throw new Error('--services needs pods to select');
  if (!Number.isInteger(policies) || policies < 0) throw new Error('--policies must be an integer ≥ 0');
  const eps = Math.max(1, o.endpointsPerService ?? (services > 0 ? Math.floor(pods / services) : 1));
  const apps = Math.max(1, Math.ceil(pods / eps));
  const rng = new Rng(seed);
  // The pods' tiers, drawn first (the same draws, in the same order, as when drawn pod by pod below).
  const tierOf: number[] = [];
  for (let i = 0; i < pods; i++) tierOf.push(rng.int(0, 2));
  const asked = Math.max(1, o.namespaces);
  const namespaces = network === 'flannel' && policies > 0 ? kubeRouterNamespaces(asked, pods, apps, policies, tierOf) : asked;
  const L: string[] = [];
  L.push(`# podwire generate --nodes ${nodes} --pods ${pods} --services ${services} --endpoints-per-service ${eps} --policies ${policies} --namespaces ${namespaces} --network ${network} --seed ${seed}`);
  if (namespaces !== asked) L.push(`# --namespaces ${asked} raised to ${namespaces}: a policy's peers are one kube-router hash:ip set, which holds at most ${KUBE_ROUTER_MAXELEM} addresses`);
  L.push(`name: scale-${network}-${nodes}n-${pods}p-${services}s`);
  L.push(`seed: ${seed}`);
  L.push('cluster:');
  L.push('  podCIDR: 100.64.0.0/10');
  L.push('  serviceCIDR: 192.168.0.0/16');
  L.push(network === 'flannel' ? '  network: {plugin: flannel, backend: vxlan}' : `  network: {plugin: calico${calicoBgp(nodes)}}`);
  L.push('  kubeProxy: {mode: iptables}');
  L.push('  nodes:');
  for (let i = 0; i < nodes; i++) {
    const s = Math.floor(i / 65000), h = (i % 65000) + 1;
    // Calico's proxy ARP needs a route to 169.254.1.1: a default route via the subnet's gateway
    // (the router's address between subnets, the last usable one; a plain gateway otherwise).
    const route = network === 'calico' ? `, routes: [{dst: default, via: 10.${s}.255.254}]` : '';
    L.push(`    - {name: n${i}, ip: 10.${s}.${h >> 8}.${h & 255}/16${route}}`);
  }
  L.push('manifests:');
  for (let k = 0; k < namespaces; k++) L.push(`  - {apiVersion: v1, kind: Namespace, metadata: {name: ns-${k}, labels: {team: t-${k % TEAMS}}}}`);
  const rows: PodRow[] = [];
  for (let i = 0; i < pods; i++) {
    const app = i % apps;
    const r: PodRow = { name: `p${i}`, ns: app % namespaces, app, tier: tierOf[i]!, node: i % nodes };
    rows.push(r);
    L.push(`  - {apiVersion: v1, kind: Pod, metadata: {name: ${r.name}, namespace: ns-${r.ns}, labels: {app: a-${app}, tier: ${TIERS[r.tier]}}}, spec: {nodeName: n${r.node}, containers: [{name: c, image: nginx, ports: [{containerPort: ${PORT}, name: http}]}]}}`);
  }
  for (let j = 0; j < services; j++) {
    const app = j % apps;
    L.push(`  - {apiVersion: v1, kind: Service, metadata: {name: s${j}, namespace: ns-${app % namespaces}}, spec: {selector: {app: a-${app}}, ports: [{name: http, port: 80, targetPort: http}]}}`);
  }
  // Policy p isolates app p mod apps; kinds[app] = the admission rules that apply to it.
  const rules = new Map<number, number[]>();
  for (let p = 0; p < policies; p++) {
    const app = p % apps, ns = app % namespaces, kind = p % 3;
    (rules.get(app) ?? rules.set(app, []).get(app)!).push(kind);
    const from = kind === 0 ? '{podSelector: {matchLabels: {tier: web}}}'
      : kind === 1 ? `{namespaceSelector: {matchLabels: {team: t-${ns % TEAMS}}}}`
        : '{podSelector: {matchExpressions: [{key: tier, operator: In, values: [web, api]}]}}';
    L.push(`  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: np${p}, namespace: ns-${ns}}, spec: {podSelector: {matchLabels: {app: a-${app}}}, policyTypes: [Ingress], ingress: [{from: [${from}], ports: [{port: ${PORT}}]}]}}`);
  }
  /** Would the policies admit client c's TCP to server s on PORT (the rules every agent applies)? */
  const admitted = (c: PodRow, s: PodRow): boolean => {
    const ks = rules.get(s.app);
    if (!ks) return true;
    return ks.some((k) => k === 0 ? c.ns === s.ns && c.tier === 0
      : k === 1 ? c.ns % TEAMS === s.ns % TEAMS
        : c.ns === s.ns && c.tier <= 1);
  };

  const at = network === 'calico' ? '5s' : '2s';
  // kube-router REJECTs a flow no policy admits (the client reads refused); felix DROPs it.
  const denied = () => network === 'calico' ? 'timeout: 1s, expect: {result: dropped}' : 'expect: {result: refused}';
  const T: string[] = [];
  if (pods >= 2 && nodes >= 2) {
    // Cross-node pod→pod: a client and a server on different nodes, drawn from the seed.
    const c = rows[rng.int(0, pods - 1)];
    let si = rng.int(0, pods - 1);
    for (let k = 0; rows[si].node === c.node && k < pods; k++) si = (si + 1) % pods;
    const s = rows[si];
    const ok = admitted(c, s);
    const tun = network === 'flannel' ? 'flannel.1' : 'tunl0';
    const expect = ok ? `expect: {result: reply, path: [n${c.node}/${tun}, n${s.node}/${tun}]}` : denied();
    T.push(`  - {name: pod-to-pod, at: ${at}, from: pod/ns-${c.ns}/${c.name}, to: pod/ns-${s.ns}/${s.name}, protocol: tcp, port: ${PORT}, ${expect}}`);
    // A ping between the two nodes' pods: ICMP is admitted only where no policy isolates the server.
    if (!rules.has(s.app)) T.push(`  - {name: ping-pod, at: ${at}, from: pod/ns-${c.ns}/${c.name}, to: pod/ns-${s.ns}/${s.name}, protocol: icmp, expect: {result: reply}}`);
  }
  if (services > 0 && pods >= 1) {
    // pod→ClusterIP of a service whose endpoints all admit the client (any may serve it).
    const c = rows[rng.int(0, pods - 1)];
    const j0 = rng.int(0, services - 1);
    for (let d = 0; d < Math.min(services, 64); d++) {
      const j = (j0 + d) % services, app = j % apps;
      const ends: PodRow[] = [];
      for (let i = app; i < pods; i += apps) ends.push(rows[i]);
      if (ends.length && ends.every((s) => admitted(c, s))) {
        T.push(`  - {name: pod-to-service, at: ${at}, from: pod/ns-${c.ns}/${c.name}, to: service/ns-${app % namespaces}/s${j}:80, protocol: tcp, expect: {result: reply}}`);
        break;
      }
    }
  }
  if (policies > 0 && pods >= 2) {
    // A denied flow: a server of an isolated app and a client its policies do not admit.
    const start = rng.int(0, pods - 1);
    search: for (let d = 0; d < pods; d++) {
      const s = rows[(start + d) % pods];
      if (!rules.has(s.app)) continue;
      for (let e = 1; e < pods; e++) {
        const c = rows[(start + d + e) % pods];
        if (!admitted(c, s)) {
          T.push(`  - {name: denied, at: ${at}, from: pod/ns-${c.ns}/${c.name}, to: pod/ns-${s.ns}/${s.name}, protocol: tcp, port: ${PORT}, ${denied()}}`);
          break search;
        }
      }
    }
  }
  if (T.length) { L.push('traffic:'); L.push(...T); }
  return L.join('\n') + '\n';
}

/** ipset's default maxelem: kube-router creates its sets with `TYPE timeout 0` only, so a set holds at most this many entries. */
export const KUBE_ROUTER_MAXELEM = 65536;

/**
 * The number of namespaces, from `asked` up, for which every generated policy's sets fit
 * kube-router's ipsets (KUBE_ROUTER_MAXELEM): its peers (kind 0: the namespace's web pods,
 * kind 1: the pods of the namespaces of its team, kind 2: the namespace's web and api pods)
 * and its targets (the app's pods). More than that, `ipset restore` fails ("Hash is full")
 * and kube-router aborts its sync, so a flannel cluster with policies spreads its pods over
 * more namespaces instead. Throws when even one namespace per app does not do.
 */
function kubeRouterNamespaces(asked: number, pods: number, apps: number, policies: number, tierOf: readonly number[]): number {
  const perApp = Math.ceil(pods / apps);
  if (perApp > KUBE_ROUTER_MAXELEM) throw new Error(`an app of ${perApp} pods is more than a kube-router ipset holds (${KUBE_ROUTER_MAXELEM}): use more --services or fewer --endpoints-per-service`);
  for (let n = asked; ; n++) {
    const all = new Array<number>(n).fill(0), web = new Array<number>(n).fill(0), webApi = new Array<number>(n).fill(0);
    for (let i = 0; i < pods; i++) {
      const k = (i % apps) % n;
      all[k]++;
      if (tierOf[i] === 0) web[k]++;
      if (tierOf[i]! <= 1) webApi[k]++;
    }
    const team = new Array<number>(TEAMS).fill(0);
    for (let k = 0; k < n; k++) team[k % TEAMS] += all[k];
    let max = 0;
    for (let p = 0; p < Math.min(policies, 3 * apps); p++) {
      const k = (p % apps) % n, kind = p % 3;
      max = Math.max(max, kind === 0 ? web[k] : kind === 1 ? team[k % TEAMS] : webApi[k]);
    }
    if (max <= KUBE_ROUTER_MAXELEM) return n;
    if (n >= apps) throw new Error(`a policy's peers (${max} pods) are more than a kube-router ipset holds (${KUBE_ROUTER_MAXELEM}) even with a namespace per app`);
  }
}

/**
 * Above this many nodes the generated Calico cluster uses route reflectors instead of the
 * node-to-node mesh, as Calico's own guidance does for clusters past ~100 nodes: a mesh of
 * 5,000 nodes is 12.5 million BGP sessions, the reflectors' topology 3·(N − 3) + 3.
 */
export const MESH_MAX_NODES = 100;
/** Route reflectors of a large generated Calico cluster: its first nodes (they also run pods). */
export const REFLECTORS = 3;

/** The calico network's `bgp:` field: empty (the default full mesh) up to MESH_MAX_NODES nodes. */
function calicoBgp(nodes: number): string {
  if (nodes <= MESH_MAX_NODES) return '';
  const rrs = Array.from({ length: Math.min(REFLECTORS, nodes) }, (_, i) => `n${i}`).join(', ');
  return `, bgp: {nodeToNodeMesh: false, routeReflectors: [${rrs}], routeReflectorClusterID: 244.0.0.1}`;
}

export function generateCommand(o: GenerateOptions & { out?: string }): number {
  let text: string;
  try { text = generateScenario(o); } catch (e) { process.stderr.write(`podwire generate: ${(e as Error).message}\n`); return 2; }
  if (o.out) {
    try { writeAtomically(o.out, text); } catch (e) { process.stderr.write(`podwire generate: cannot write ${o.out}: ${(e as Error).message}\n`); return 1; }
  } else process.stdout.write(text);
  return 0;
}

/** Writes `text` to a temp file renamed onto `path`: `path` is never left holding part of a scenario. */
export function writeAtomically(path: string, text: string): void {
  const f = new AtomicFile(path);
  try {
    f.write(Buffer.from(text, 'utf8'));
    f.commit();
  } finally {
    f.abort(); // no-op once committed; removes the temp file after a failed write
  }
}
