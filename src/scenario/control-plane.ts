/**
 * The Kubernetes control plane of a scenario run, and the node agents that
 * read it: what makes Services work.
 *
 *  - the object store (the apiserver) with create-time admission (ClusterIP
 *    and NodePort allocation from the run's PRNG) — holding the scenario's
 *    Namespaces, Pods (with status.podIP once CNI gave one), Services,
 *    Endpoints and EndpointSlices, plus what every cluster has: the
 *    `default/kubernetes` Service (first serviceCIDR address, 443 → the first
 *    node's 6443) and, with DNS on, CoreDNS behind `kube-system/kube-dns`;
 *  - the endpoints/EndpointSlice controllers (src/kube), reacting at once;
 *  - kube-proxy on every node (src/kubeproxy): on a change it syncs at once if
 *    its last sync is at least minSyncPeriod old, else when it is (the
 *    BoundedFrequencyRunner), writing the iptables proxier's chains, or in ipvs
 *    mode kube-ipvs0's addresses, the IPVS virtual servers, ipsets and rules;
 *  - the cloud load balancer for LoadBalancer Services (cloud-lb.ts);
 *  - DNS: the CoreDNS server in its pod and each pod's stub resolver;
 *  - the deployment and ReplicaSet controllers with podwire's scheduler
 *    (workloads.ts), and the node lifecycle controller with taint-based
 *    eviction after a node-down (node-monitor.ts), in every mode.
 *
 * Traffic items and events reach it through `serviceTarget`, `resolve` and
 * `applyEvent`. Policies (NetworkPolicy, AdminNetworkPolicy,
 * BaselineAdminNetworkPolicy) are stored in manifest order with the other
 * objects and created, replaced or deleted by policy-apply/policy-delete events;
 * with kubeProxy.mode none the control plane is the apiserver alone
 * (`ensureControlPlane`).
 */
import type { Cluster } from './build.js';
import type { EventSpec, OtherManifest, PodSpec, PolicyKind, PolicyManifest, TrafficSpec } from './types.js';
import { InputError } from './errors.js';
import type { Netns } from '../kernel/netns.js';
import type { Node } from '../kernel/node.js';
import { ipToString, parseIp } from '../wire/bytes.js';
import type { ObjectStore } from '../kube/store.js';
import { EndpointsController } from '../kube/endpoints-controller.js';
import { ClusterIPAllocator, NodePortAllocator, admitService, type ServiceAllocators } from '../kube/allocator.js';
import { fieldErrorMessage } from '../kube/errors.js';
import { validateService, type Service } from '../kube/service.js';
import { validateEndpointSlice, type EndpointSlice } from '../kube/endpoints.js';
import type { Obj } from '../kube/object.js';
import type { EndpointInfo, ProxierConfig, ServicePortInfo } from '../kubeproxy/model.js';
import { DEFAULT_PROXIER_CONFIG, servicePortName } from '../kubeproxy/model.js';
import { KubeProxyIptables } from '../kubeproxy/agent.js';
import { KubeProxyIpvs } from '../kubeproxy/ipvs/index.js';
import { NetpolInformer, startNetpol, type KubeRouterNetpol } from '../netpol/index.js';
import { startFelixPolicy, type FelixPolicy } from '../calico/felix/index.js';
import { SharedProxyCache, servicePortKey } from '../kubeproxy/iptables/index.js';
import { createCloudLb, syncCloudLb, type LbListener } from './cloud-lb.js';
import type { ClusterDnsView, DnsService } from '../dns/view.js';
import { startCoreDns } from '../dns/coredns.js';
import { parseResolvConf, resolve as dnsResolve, resolvConfFor, type DnsPolicy, type ResolvConf } from '../dns/resolver.js';
import { Workloads } from './workloads.js';
import { NodeMonitor, apiTime, type NodeMonitorHost } from './node-monitor.js';
import { DEFAULT_NODE_LIFECYCLE } from '../kube/node-lifecycle.js';

const NS = 1e9;

/** The Ready conditions podwire writes, frozen: the store shares them between pods instead of copying. */
const READY_TRUE = Object.freeze({ type: 'Ready', status: 'True' });
const READY_FALSE = Object.freeze({ type: 'Ready', status: 'False' });

/** The namespaces every cluster has before any user object. */
const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/**
 * The cluster's control plane, created when build.ts did not create one
 * (kubeProxy.mode none): then it is the apiserver alone — Namespaces,
 * NetworkPolicies, AdminNetworkPolicies, the BaselineAdminNetworkPolicy and
 * Pods with their IPs in `cluster.store`, following pod and policy events, node
 * joins and leaves — so that policy agents have what they watch in every mode.
 * `runScenario` and `podwire policy` call it right after `buildCluster`.
 */
export function ensureControlPlane(cl: Cluster): ControlPlane {
  if (!cl.control) cl.control = new ControlPlane(cl);
  return cl.control;
}

export class ControlPlane {
  readonly store: ObjectStore;
  private readonly alloc: ServiceAllocators;
  private readonly proxies = new Map<string, KubeProxyIptables | KubeProxyIpvs>();
  private lb: Node | null = null;
  private lbIPs: number[] = [];
  /** The proxier input, recomputed once per store change (shared by every node's kube-proxy). */
  private input: { ports: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]> } | null = null;
  private dnsIP = 0;
  private readonly dnsDomain: string;
  private lastChange = 0;
  /** The per-service rule pieces every node's proxier shares. */
  private readonly proxyCache = new SharedProxyCache();
  private cacheFresh = false;

  /** kube-proxy runs (cluster.kubeProxy.mode iptables or ipvs); without it only the apiserver's objects are kept (see ensureControlPlane). */
  readonly services: boolean;
  /** The policy agents' shared informer (see startPolicyAgents), and the agent on each node. */
  private policyInformer: NetpolInformer | null = null;
  private readonly policyAgents = new Map<string, KubeRouterNetpol | FelixPolicy>();
  /** The deployment and ReplicaSet controllers with podwire's scheduler (workloads.ts). */
  readonly workloads: Workloads;
  /** The node lifecycle controller and taint-based eviction (node-monitor.ts). */
  readonly nodeMonitor: NodeMonitor;

  constructor(private readonly cl: Cluster) {
    const sc = cl.scenario;
    const c = sc.cluster;
    const rng = cl.world.rng;
    const rand = (n: number) => rng.int(0, n - 1);
    this.store = cl.store;
    this.services = c.kubeProxy.mode !== 'none';
    this.alloc = { clusterIPs: new ClusterIPAllocator(c.serviceCIDR.text, rand), nodePorts: new NodePortAllocator(rand) };
    this.dnsDomain = c.dns.domain;
    const host = this.podHost();
    this.workloads = new Workloads(host, rand);
    this.nodeMonitor = new NodeMonitor(host, c.nodeLifecycle ?? DEFAULT_NODE_LIFECYCLE);
    if (!this.services) {
      // The apiserver alone: Namespaces, policies and Pods, what a policy agent watches. No
      // Services (nothing would serve them), no controllers, no draws from the run's PRNG.
      for (const ns of SYSTEM_NAMESPACES) this.ensureNamespace(ns);
      for (const m of sc.manifests) {
        if (m.kind === 'Namespace') this.ensureNamespace(m.name, (m as OtherManifest).body);
        else if ((m as OtherManifest).policy) this.applyPolicy(m as PolicyManifest);
      }
      for (const [, p] of cl.pods) this.publishPod(p.spec, p.ip);
      this.workloads.start(sc.manifests);
      this.startPolicyAgents();
      return;
    }
    new EndpointsController(this.store, { rand }).start();

    // What exists before any user object: the system namespaces and the kubernetes Service.
    for (const ns of SYSTEM_NAMESPACES) this.ensureNamespace(ns);
    const first = c.nodes[0];
    this.createService({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { clusterIP: ipToString((c.serviceCIDR.addr + 1) >>> 0), ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }], sessionAffinity: 'None', type: 'ClusterIP' },
    }, sc.cluster.kubeProxy.pos);
    this.store.create({
      apiVersion: 'v1', kind: 'Endpoints',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
      subsets: [{ addresses: [{ ip: ipToString(first.ip.addr) }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }],
    });
    this.store.create({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [ipToString(first.ip.addr)], conditions: { ready: true } }],
      ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
    });
    if (c.dns.enabled) {
      this.dnsIP = c.dns.clusterIP ?? ((c.serviceCIDR.addr + 10) >>> 0);
      this.createService({
        apiVersion: 'v1', kind: 'Service',
        metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' } },
        spec: {
          clusterIP: ipToString(this.dnsIP), selector: { 'k8s-app': 'kube-dns' },
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
            { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
            { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
          ],
        },
      }, c.dns.pos);
    }

    // The scenario's objects, in manifest order (namespaces implied by objects are created as kubectl users do first).
    for (const m of sc.manifests) {
      if (m.kind === 'Pod') continue;
      const body = (m as { body: Obj }).body;
      const ns = m.namespace ?? 'default';
      if (m.kind === 'Namespace') { this.ensureNamespace(m.name, body); continue; }
      this.ensureNamespace(ns);
      if (m.kind === 'Service') this.createService(body, m.pos);
      else if (m.kind === 'Endpoints' || m.kind === 'EndpointSlice') this.store.create(withNamespace(body, ns));
      else if ((m as OtherManifest).policy) this.applyPolicy(m as PolicyManifest);
    }
    // Pods: their sandboxes exist (build.ts ran CNI); publish them with their IPs.
    const progress = cl.progress;
    let published = 0;
    for (const [, p] of cl.pods) {
      progress?.('control plane: pods', published++, cl.pods.size);
      this.publishPod(p.spec, p.ip);
    }
    if (c.dns.enabled) this.startDns();
    // Deployments and ReplicaSets roll out once their Services and the bare pods exist (their pods' IPs come after).
    this.workloads.start(sc.manifests);

    this.setUpCloudLb();
    let proxies = 0;
    for (const [name, node] of cl.nodes) {
      progress?.('control plane: kube-proxy', proxies++, cl.nodes.size);
      if (!cl.pendingNodes.has(name)) this.startKubeProxy(name, node);
    }
    // kube-proxy watches Services and EndpointSlices (pods reach it through the controllers).
    this.store.watch('Service', () => this.changed());
    this.store.watch('EndpointSlice', () => this.changed());
    // The policy agent starts after kube-proxy, so its jumps come first in INPUT/FORWARD/OUTPUT (kube-router inserts at 1).
    this.startPolicyAgents();
  }

  // ---- objects -------------------------------------------------------------

  private ensureNamespace(name: string, body?: Obj): void {
    if (this.store.get('Namespace', undefined, name)) return;
    this.store.create(body ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  private createService(body: Obj, pos: { file: string; line: number; col: number }): void {
    const v = validateService(withNamespace(body, (body.metadata as Obj | undefined)?.namespace as string | undefined ?? 'default'));
    const bad = (errs: { errors: Parameters<typeof fieldErrorMessage>[0][] }, name: string): never => {
      throw new InputError(pos.file, pos.line, pos.col, `Service ${JSON.stringify(name)} is invalid: ${errs.errors.map(fieldErrorMessage).join('; ')}`);
    };
    if (!v.value) return bad(v.errors, String((body.metadata as Obj | undefined)?.name));
    const a = admitService(v.value, this.alloc);
    if (!a.value) return bad(a.errors, `${v.value.namespace}/${v.value.name}`);
    this.store.create(a.value.body);
  }

  private podObject(spec: PodSpec, ip: number, ready: boolean | undefined): Obj {
    // Only copies of the manifest's parts are changed below (the store copies what it keeps).
    const body = (spec.body ?? {}) as Obj;
    const meta = { ...(body.metadata as Obj | undefined), name: spec.name, namespace: spec.namespace, labels: spec.labels };
    const status = { ...(body.status as Obj | undefined) } as Obj;
    status.phase = 'Running';
    // One string for the pod's IP and one per node for its host IP, shared by the stored objects (issue 9: 150,000 pods).
    const ipText = ipToString(ip);
    status.podIP = ipText;
    status.podIPs = [{ ip: ipText }];
    status.hostIP = this.hostIPText(spec.nodeName);
    const given = (status.conditions as Obj[] | undefined)?.find((c) => c.type === 'Ready');
    const isReady = ready ?? (given ? given.status === 'True' : true);
    const others = ((status.conditions as Obj[] | undefined) ?? []).filter((c) => c.type !== 'Ready');
    status.conditions = [...others, isReady ? READY_TRUE : READY_FALSE];
    // The scheduler's binding: a pod podwire creates itself (CoreDNS) has no manifest spec to carry it.
    const podSpec = { ...(body.spec as Obj | undefined), nodeName: spec.nodeName };
    return { ...body, apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: podSpec, status };
  }

  private readonly hostIPs = new Map<string, string>();

  private hostIPText(node: string): string {
    let t = this.hostIPs.get(node);
    if (t === undefined) this.hostIPs.set(node, (t = ipToString(this.cl.machineIPs.get(node)!)));
    return t;
  }

  private publishPod(spec: PodSpec, ip: number): void {
    this.ensureNamespace(spec.namespace);
    this.store.create(this.podObject(spec, ip, undefined));
  }

  // ---- events --------------------------------------------------------------

  // ---- policies ------------------------------------------------------------

  /**
   * Stores a policy as `kubectl apply` would: created, or replaced when one of
   * that kind/namespace/name exists (a NetworkPolicy's namespace is created
   * first when missing, as for every namespaced object here). The body is
   * stored as written; watchers validate it (src/kube) for the typed object.
   */
  applyPolicy(m: PolicyManifest): 'created' | 'replaced' {
    const body = m.kind === 'NetworkPolicy' ? withNamespace(m.body, m.namespace) : m.body;
    if (m.namespace !== undefined) this.ensureNamespace(m.namespace);
    if (this.store.get(m.kind, m.namespace, m.name)) {
      this.store.update(body);
      return 'replaced';
    }
    this.store.create(body);
    return 'created';
  }

  /** Deletes a policy; false when there was none. */
  deletePolicy(kind: PolicyKind, namespace: string | undefined, name: string): boolean {
    return this.store.delete(kind, namespace, name) !== undefined;
  }

  applyEvent(e: EventSpec): void {
    if (e.kind === 'node-join' || e.kind === 'node-leave' || e.kind === 'node-down') return; // the cluster's (build.ts)
    if (e.kind === 'policy-apply') {
      const m = e.manifest;
      const how = this.applyPolicy(m);
      this.trace(`${m.kind} ${m.namespace !== undefined ? `${m.namespace}/` : ''}${m.name} ${how}`);
      return;
    }
    if (e.kind === 'policy-delete') {
      const ref = `${e.policyKind} ${e.namespace !== undefined ? `${e.namespace}/` : ''}${e.name}`;
      this.trace(this.deletePolicy(e.policyKind, e.namespace, e.name) ? `${ref} deleted` : `${ref} not found (not deleted)`);
      return;
    }
    if (e.kind !== 'pod-ready' && e.kind !== 'pod-delete') return; // the cluster's own events (scenario/faults.ts)
    const key = `${e.namespace}/${e.name}`;
    const p = this.cl.pods.get(key);
    if (!p && e.kind === 'pod-delete' && this.workloads.pendingSpec(key)) {
      // Bound to a node that is down and never started: only the API object goes.
      this.trace(`pod ${key} deleted`);
      this.store.delete('Pod', e.namespace, e.name);
      this.workloads.dropPending(key);
      this.workloads.podGone(key);
      return;
    }
    if (!p) {
      // Deleted earlier in the run, or a ReplicaSet pod name that was never drawn.
      this.trace(`pod ${key} not found (${e.kind} does nothing)`);
      return;
    }
    if (e.kind === 'pod-ready') {
      this.trace(`pod ${key} Ready=${e.ready ? 'True' : 'False'}`);
      this.store.update(this.podObject(p.spec, p.ip, e.ready));
    } else {
      this.trace(`pod ${key} deleted`);
      this.store.delete('Pod', e.namespace, e.name);
      this.cl.deletePod(key);
      this.workloads.podGone(key);
    }
  }

  /**
   * The node's machine failed (build.ts downNode): its kube-proxy and policy agent die with it
   * (they write no more rules there), and the node lifecycle controller's clock starts.
   */
  nodeDown(name: string): void {
    this.proxies.get(name)?.stop();
    this.proxies.delete(name);
    this.policyAgents.get(name)?.stop();
    this.policyAgents.delete(name);
    this.nodeMonitor.nodeDown(name);
  }

  /**
   * The node's machine is back (a node-up event, after its NIC and CNI agents): kube-proxy and the
   * policy agent start again as at a join (a full sync), and the kubelet renews its lease now.
   */
  nodeUp(name: string): void {
    if (this.services && !this.proxies.has(name)) this.startKubeProxy(name, this.cl.nodes.get(name)!);
    if (this.policyInformer && !this.policyAgents.has(name)) this.startPolicyAgent(name);
    this.nodeMonitor.nodeUp(name);
  }

  /** What the workload controllers and the node lifecycle controller do to pods, through the apiserver. */
  private podHost(): NodeMonitorHost {
    const cp = this;
    const cl = this.cl;
    const podOf = (key: string) => cl.pods.get(key);
    return {
      cl, store: this.store,
      trace: (d) => cp.trace(d),
      publish: (spec, ip) => {
        if (cp.store.get('Pod', spec.namespace, spec.name)) cp.store.update(cp.podObject(spec, ip, undefined));
        else cp.publishPod(spec, ip);
      },
      setPodReady: (key, ready) => { const p = podOf(key); if (p) cp.store.update(cp.podObject(p.spec, p.ip, ready)); },
      terminatePod: (key) => {
        const p = podOf(key)?.spec ?? cp.workloads.pendingSpec(key);
        const cur = p && cp.store.get('Pod', p.namespace, p.name);
        if (!cur) return;
        cp.store.update({ ...cur, metadata: { ...(cur.metadata as Obj), deletionTimestamp: apiTime(cl.world.now), deletionGracePeriodSeconds: 30, resourceVersion: undefined } });
      },
      removePod: (key) => {
        const p = podOf(key)?.spec ?? cp.workloads.pendingSpec(key);
        if (!p) return;
        cp.store.delete('Pod', p.namespace, p.name);
        cl.deletePod(key);
        cp.workloads.dropPending(key);
      },
      podGone: (key) => cp.workloads.podGone(key),
      nodeReady: () => cp.workloads.nodeReady(),
      pendingOn: (name) => cp.workloads.pendingOn(name),
      podSpec: (key) => podOf(key)?.spec ?? cp.workloads.pendingSpec(key),
      startPending: (name) => cp.workloads.startPending(name),
    };
  }

  /** The kube-proxy daemon of a node (tests, `podwire save`). */
  kubeProxy(node: string): KubeProxyIptables | KubeProxyIpvs | undefined {
    return this.proxies.get(node);
  }

  /** A node joined: its kube-proxy starts (its pods come through `podAdded`). */
  nodeJoined(name: string): void {
    if (this.services) this.startKubeProxy(name, this.cl.nodes.get(name)!);
    if (this.policyInformer) this.startPolicyAgent(name);
    // A ReplicaSet left short for want of a Ready node gets its pods now.
    this.workloads.nodeReady();
  }

  /** A pod whose sandbox was set up after the control plane started (a joining node's). */
  podAdded(spec: PodSpec, ip: number): void {
    this.publishPod(spec, ip);
  }

  /** A node left: its kube-proxy is gone with the machine; the pod garbage collector deletes its pods. */
  nodeLeft(name: string): void {
    this.proxies.get(name)?.stop();
    this.proxies.delete(name);
    this.policyAgents.get(name)?.stop();
    this.policyAgents.delete(name);
    for (const [key, p] of this.cl.pods) {
      if (p.node.name !== name) continue;
      this.trace(`pod ${key} deleted (its node ${name} is gone)`);
      this.store.delete('Pod', p.spec.namespace, p.spec.name);
      this.workloads.podGone(key);
    }
  }

  /**
   * The NetworkPolicy agent (kube-router's network policy controller, src/netpol) on every
   * node — when the scenario has policies at all (a NetworkPolicy, AdminNetworkPolicy or
   * BaselineAdminNetworkPolicy manifest or policy event), as a cluster whose network
   * enforces policies would; without any, no agent runs and no rules are written.
   */
  private startPolicyAgents(): void {
    const sc = this.cl.scenario;
    const uses = sc.manifests.some((m) => !!(m as OtherManifest).policy) || sc.events.some((e) => e.kind === 'policy-apply' || e.kind === 'policy-delete');
    // felix runs on every Calico node whatever the policies (workload chains, profiles, natOutgoing).
    if (!uses && !this.cl.calico) return;
    this.policyInformer = new NetpolInformer(this.store);
    for (const name of this.cl.nodes.keys()) if (!this.cl.pendingNodes.has(name)) this.startPolicyAgent(name);
  }

  private startPolicyAgent(name: string): void {
    const c = this.cl.scenario.cluster;
    const calico = this.cl.calico;
    if (calico) {
      this.policyAgents.set(name, startFelixPolicy(this.cl.nodes.get(name)!, this.policyInformer!, {
        nodeName: name, nodeIPs: [ipToString(this.cl.machineIPs.get(name)!)], pools: calico.felixPools(), ipip: calico.tunnelAddress(name) !== null,
      }));
      return;
    }
    this.policyAgents.set(name, startNetpol(this.cl.nodes.get(name)!, this.policyInformer!, {
      nodeName: name, nodeIPs: [ipToString(this.cl.machineIPs.get(name)!)], serviceCIDRs: [c.serviceCIDR.text],
    }));
  }

  private trace(detail: string): void {
    const w = this.cl.world;
    if (w.trace.on) w.event('apiserver', '', '', null, 'kube.event', detail);
  }

  // ---- kube-proxy ----------------------------------------------------------

  private changed(): void {
    this.input = null;
    this.cacheFresh = false;
    this.lastChange = this.cl.world.now;
    for (const p of this.proxies.values()) p.requestSync();
    this.syncLbSoon();
  }

  /** The services and endpoints as kube-proxy sees them (service ports in a stable order). */
  proxyInput(): { ports: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]> } {
    if (this.input) return this.input;
    const ports: ServicePortInfo[] = [];
    const endpoints = new Map<string, EndpointInfo[]>();
    const slicesOf = this.slicesByService();
    for (const body of this.store.list('Service')) {
      const svc = validateService(body).value;
      if (!svc || svc.type === 'ExternalName') continue;
      const clusterIP = svc.headless || !svc.clusterIP ? undefined : ipv4(svc.clusterIP);
      if (clusterIP === undefined) continue; // headless: no rules
      const mine = slicesOf.get(`${svc.namespace}/${svc.name}`) ?? [];
      for (const sp of svc.ports) {
        const info: ServicePortInfo = {
          namespace: svc.namespace, name: svc.name, portName: sp.name, protocol: sp.protocol, port: sp.port,
          clusterIP, nodePort: sp.nodePort ?? 0,
          externalIPs: svc.externalIPs.map(ipv4), loadBalancerIPs: svc.type === 'LoadBalancer' ? svc.loadBalancerIPs.map(ipv4) : [],
          loadBalancerSourceRanges: svc.loadBalancerSourceRanges.map((r) => { const [a, pl] = r.split('/'); return { addr: ipv4(a), prefix: +pl }; }),
          affinitySeconds: svc.sessionAffinity === 'ClientIP' ? svc.sessionAffinityTimeoutSeconds ?? 10800 : 0,
          externalPolicyLocal: svc.externalTrafficPolicy === 'Local',
          internalPolicyLocal: svc.internalTrafficPolicy === 'Local',
          healthCheckNodePort: svc.healthCheckNodePort ?? 0,
        };
        ports.push(info);
        endpoints.set(servicePortKey(info), endpointsFor(mine, sp.name, sp.protocol));
      }
    }
    ports.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name) || cmp(a.portName, b.portName) || cmp(a.protocol, b.protocol));
    this.input = { ports, endpoints };
    return this.input;
  }

  private startKubeProxy(name: string, node: Node): void {
    const c = this.cl.scenario.cluster;
    const kp = c.kubeProxy;
    const cidr = kp.clusterCIDR ?? c.podCIDR;
    const cfg: ProxierConfig = {
      ...DEFAULT_PROXIER_CONFIG,
      nodeName: name,
      nodeIPs: [this.cl.machineIPs.get(name)!],
      clusterCIDR: { addr: cidr.addr, prefix: cidr.prefix },
      masqueradeAll: kp.masqueradeAll,
      localhostNodePorts: kp.localhostNodePorts,
      nodePortAddresses: kp.nodePortAddresses.map((a) => ({ addr: a.addr, prefix: a.prefix })),
    };
    const refresh = () => {
      if (this.cacheFresh) return;
      const { ports, endpoints } = this.proxyInput();
      this.proxyCache.apply(ports, endpoints);
      this.cacheFresh = true;
    };
    // ipvs mode reads the same service/endpoint state (and change log) as the iptables proxier.
    const agent = kp.mode === 'ipvs'
      ? new KubeProxyIpvs(node, { ...cfg, scheduler: kp.scheduler }, kp.minSyncPeriod, this.proxyCache, refresh)
      : new KubeProxyIptables(node, cfg, kp.minSyncPeriod, this.proxyCache, refresh);
    this.proxies.set(name, agent);
    agent.start();
  }

  // ---- services from outside -----------------------------------------------

  private service(ns: string, name: string): Service | undefined {
    const body = this.store.get('Service', ns, name);
    return body ? validateService(body).value : undefined;
  }

  /** Where a traffic item to `service/…` connects: address and port, per its `access`. */
  serviceTarget(t: TrafficSpec): { addr: number; port: number } {
    const to = t.to as Extract<TrafficSpec['to'], { kind: 'service' }>;
    const fail = (msg: string, expected?: string): never => { throw new InputError(t.pos.file, t.pos.line, t.pos.col, `traffic "${t.name}": ${msg}`, expected); };
    const svc = this.service(to.namespace, to.name) ?? fail(`no Service ${to.namespace}/${to.name}`);
    const proto = t.protocol.toUpperCase();
    const want = to.port ?? t.port;
    const ports = svc.ports.filter((p) => (typeof want === 'string' ? p.name === want : p.port === want));
    const sp = ports.find((p) => p.protocol === proto) ?? (t.protocol === 'icmp' ? svc.ports[0] : undefined)
      ?? fail(`Service ${to.namespace}/${to.name} has no ${t.protocol === 'icmp' ? '' : proto + ' '}port ${JSON.stringify(want)}`, svc.ports.map((p) => `${p.name || p.port}/${p.protocol}`).join(', '));
    const access = t.access ?? 'clusterIP';
    switch (access) {
      case 'clusterIP':
        if (svc.type === 'ExternalName' || svc.headless || !svc.clusterIP) fail(`Service ${to.namespace}/${to.name} has no ClusterIP (${svc.type === 'ExternalName' ? 'ExternalName' : 'headless'})`, 'a dns/ target for headless services');
        return { addr: ipv4(svc.clusterIP), port: sp.port };
      case 'nodePort': {
        if (!sp.nodePort) fail(`Service ${to.namespace}/${to.name} port ${sp.name || sp.port} has no nodePort (type ${svc.type})`, 'a NodePort or LoadBalancer Service');
        const node = t.node ?? this.cl.scenario.cluster.nodes[0].name;
        return { addr: this.cl.machineIPs.get(node)!, port: sp.nodePort! };
      }
      case 'loadBalancer':
        if (svc.type !== 'LoadBalancer' || !svc.loadBalancerIPs.length) fail(`Service ${to.namespace}/${to.name} has no LoadBalancer ingress IP`, 'type: LoadBalancer with status.loadBalancer.ingress[].ip');
        return { addr: ipv4(svc.loadBalancerIPs[0]), port: sp.port };
      case 'externalIP':
        if (!svc.externalIPs.length) fail(`Service ${to.namespace}/${to.name} has no externalIPs`);
        return { addr: ipv4(svc.externalIPs[0]), port: sp.port };
    }
  }

  // ---- cloud load balancer -------------------------------------------------

  private lbScheduled = false;

  private setUpCloudLb(): void {
    const ips = new Set<number>();
    for (const body of this.store.list('Service')) {
      const svc = validateService(body).value;
      if (svc?.type === 'LoadBalancer') for (const ip of svc.loadBalancerIPs) ips.add(ipv4(ip));
    }
    // externalIPs: routed to the first node, as an admin's static route would.
    const firstNode = this.cl.machineIPs.get(this.cl.scenario.cluster.nodes[0].name)!;
    for (const body of this.store.list('Service')) {
      const svc = validateService(body).value;
      for (const e of svc?.externalIPs ?? []) this.routeExternalIP(ipv4(e), firstNode);
    }
    if (!ips.size) return;
    this.lbIPs = [...ips].sort((a, b) => a - b);
    this.lb = createCloudLb(this.cl, this.lbIPs);
    syncCloudLb(this.lb, this.lbListeners());
  }

  private routedExternal = new Set<number>();
  private routeExternalIP(ip: number, via: number): void {
    if (this.routedExternal.has(ip)) return;
    this.routedExternal.add(ip);
    const dst = `${ipToString(ip)}/32`;
    for (const r of this.cl.routers) r.routeAdd('host', { dst, via: ipToString(via) });
    for (const [, h] of this.cl.hosts) {
      try { h.routeAdd('host', { dst, via: ipToString(via) }); } catch { /* not on the node's segment: its router has the route */ }
    }
  }

  private syncLbSoon(): void {
    if (!this.lb || this.lbScheduled) return;
    this.lbScheduled = true;
    // The cloud notices through its health checks; podwire lets it follow kube-proxy's minSyncPeriod.
    this.cl.world.sched.after(this.cl.scenario.cluster.kubeProxy.minSyncPeriod, () => {
      this.lbScheduled = false;
      syncCloudLb(this.lb!, this.lbListeners());
    });
  }

  private lbListeners(): LbListener[] {
    const out: LbListener[] = [];
    const { ports, endpoints } = this.proxyInput();
    const nodes = this.cl.scenario.cluster.nodes;
    for (const sp of ports) {
      if (!sp.loadBalancerIPs.length || !sp.nodePort) continue;
      const eps = (endpoints.get(servicePortKey(sp)) ?? []).filter((e) => e.ready);
      const healthy = nodes.filter((n) => (sp.externalPolicyLocal ? eps.some((e) => e.nodeName === n.name) : eps.length > 0)).map((n) => n.ip.addr);
      for (const ip of sp.loadBalancerIPs.filter((x) => this.lbIPs.includes(x)))
        out.push({ spn: servicePortName(sp), ip, protocol: sp.protocol, port: sp.port, nodePort: sp.nodePort, sourceRanges: sp.loadBalancerSourceRanges, nodes: healthy });
    }
    return out;
  }

  // ---- DNS -----------------------------------------------------------------

  private startDns(): void {
    const c = this.cl.scenario.cluster;
    const nodeName = c.dns.node ?? c.nodes[0].name;
    const spec: PodSpec = {
      kind: 'Pod', name: 'coredns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, annotations: {},
      nodeName, hostNetwork: false,
      containers: [{ name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.3', ports: [
        { name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' }, { name: 'metrics', containerPort: 9153, protocol: 'TCP' },
      ] }],
      // Its servers are CoreDNS itself (below), not podwire's echo servers.
      pos: c.dns.pos,
    };
    const info = this.cl.addPod({ ...spec, containers: [{ ...spec.containers[0], ports: [] }] });
    info.spec = spec;
    this.publishPod(spec, info.ip);
    startCoreDns(info.node.ns(info.netns), this.dnsView());
  }

  /** Typed EndpointSlices validated once per stored object (stored objects are frozen: identity is a safe key). */
  private readonly typedSlices = new WeakMap<Obj, EndpointSlice | null>();

  /** EndpointSlices by their Service (`ns/name` from the label kubernetes.io/service-name), as kube-proxy's and CoreDNS's caches key them. */
  private slicesByService(): Map<string, EndpointSlice[]> {
    const out = new Map<string, EndpointSlice[]>();
    for (const body of this.store.list('EndpointSlice')) {
      let s = this.typedSlices.get(body);
      if (s === undefined) { s = validateEndpointSlice(body).value ?? null; this.typedSlices.set(body, s); }
      if (!s?.serviceName) continue;
      const key = `${s.namespace}/${s.serviceName}`;
      const list = out.get(key);
      if (list) list.push(s); else out.set(key, [s]);
    }
    return out;
  }

  private dnsView(): ClusterDnsView {
    const cp = this;
    return {
      clusterDomain: this.dnsDomain,
      namespaceExists: (ns) => !!cp.store.get('Namespace', undefined, ns),
      service: (ns, name) => {
        const svc = cp.service(ns, name);
        return svc ? dnsService(svc, cp.slicesByService().get(`${ns}/${name}`) ?? []) : undefined;
      },
      services: function* () {
        const slices = cp.slicesByService();
        for (const body of cp.store.list('Service')) {
          const svc = validateService(body).value;
          if (svc) yield dnsService(svc, slices.get(`${svc.namespace}/${svc.name}`) ?? []);
        }
      },
      // SOA serial: seconds since the epoch in CoreDNS; podwire's virtual clock starts at 0.
      serial: () => Math.floor(cp.lastChange / NS),
    };
  }

  /** The pod's resolver (kubelet's resolv.conf for dnsPolicy ClusterFirst) resolving `name`; `done` gets the A records. */
  resolve(ns: Netns, podKey: string, name: string, flow: string, done: (addrs: number[], detail: string) => void): void {
    const p = this.cl.pods.get(podKey)!;
    const policy = ((p.spec.body?.spec as Obj | undefined)?.dnsPolicy as DnsPolicy | undefined) ?? 'ClusterFirst';
    const text = resolvConfFor(p.spec.namespace, policy, [ipToString(this.dnsIP)], this.dnsDomain, { hostNetwork: p.spec.hostNetwork });
    const conf: ResolvConf = parseResolvConf(text);
    dnsResolve(ns, conf, name, (r) => {
      if (r.addrs.length) done(r.addrs, `${name} resolved to ${r.addrs.map(ipToString).join(', ')} after ${r.queries} queries`);
      else done([], `${name}: ${r.error ?? 'no address'} after ${r.queries} queries`);
    }, `${flow} (dns)`);
  }
}

function dnsService(svc: Service, slices: readonly EndpointSlice[]): DnsService {
  return {
    namespace: svc.namespace, name: svc.name,
    clusterIPs: svc.headless || !svc.clusterIP || svc.type === 'ExternalName' ? [] : [ipv4(svc.clusterIP)],
    headless: svc.headless,
    externalName: svc.externalName,
    ports: svc.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port })),
    endpointSlices: slices.map((s) => ({
      ports: s.ports.filter((p) => p.port !== undefined).map((p) => ({ name: p.name, protocol: p.protocol, port: p.port! })),
      endpoints: s.endpoints.map((e) => ({ ip: ipv4(e.addresses[0]!), hostname: e.hostname, ready: e.ready })),
    })),
  };
}

/** kube-proxy's endpoints for one service port: slice ports matched by name and protocol, deduplicated by ip:port. */
function endpointsFor(slices: readonly EndpointSlice[], portName: string, protocol: string): EndpointInfo[] {
  const out = new Map<string, EndpointInfo>();
  for (const s of slices) {
    const port = s.ports.find((p) => p.name === portName && p.protocol === protocol)?.port;
    if (port === undefined) continue;
    for (const e of s.endpoints) {
      const ip = ipv4(e.addresses[0]!);
      const key = `${ip}:${port}`;
      if (out.has(key)) continue;
      out.set(key, { ip, port, nodeName: e.nodeName, ready: e.ready, serving: e.serving, terminating: e.terminating });
    }
  }
  return [...out.values()];
}

function withNamespace(body: Obj, ns: string | undefined): Obj {
  const meta = (body.metadata as Obj | undefined) ?? {};
  return meta.namespace ? body : { ...body, metadata: { ...meta, namespace: ns ?? 'default' } };
}

function cmp(a: string, b: string): number { return a < b ? -1 : a > b ? 1 : 0; }

/** A validated IPv4 text (from a stored object or a CNI result) as a number. */
function ipv4(s: string): number {
  return parseIp(s)!;
}
