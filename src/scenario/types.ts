/**
 * The validated scenario, as the loader hands it to the builder. Every object
 * keeps the source position of the YAML node it came from, so that errors found
 * later (an address clash while building, say) still name file:line:col.
 */

import type { TextOrigin } from './embedded-text.js';
import type { FlannelConfig } from '../overlay/flannel/config.js';
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from '../kube/admin-network-policy.js';
import type { NetworkPolicy } from '../kube/networkpolicy.js';
import type { NetemSpec } from '../kernel/netem.js';

export interface SourcePos {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
}

/** An IPv4 address with prefix length, as written in the scenario ("192.168.1.11/24"). */
export interface Cidr {
  /** Address as a 32-bit unsigned integer. */
  addr: number;
  prefix: number;
  text: string;
}

export interface NodeSpec {
  name: string;
  /** The node's underlay address with its prefix (eth0). */
  ip: Cidr;
  /** Pod subnet; when absent the builder assigns the next /24 of cluster.podCIDR. */
  podCIDR?: Cidr;
  /** Static routes on the node (e.g. a default route via the subnet's gateway). */
  routes: StaticRouteSpec[];
  pos: SourcePos;
}

export interface StaticRouteSpec {
  dst: Cidr;
  /** Gateway address as a 32-bit unsigned integer. */
  via: number;
  pos: SourcePos;
}

export interface ExternalHostSpec {
  name: string;
  ip: Cidr;
  /** Extra routes on the host, e.g. the pod CIDR via a node, so replies to pod addresses find their way without NAT. */
  routes: StaticRouteSpec[];
  /** TCP/UDP ports the host serves (like a container's ports). */
  ports: ContainerPortSpec[];
  /** Extra Linux bridges in the host's netns (a switch, a lab for layer-2 loops). */
  bridges?: HostBridgeSpec[];
  /** Extra veth pairs in the host's netns, each end optionally a port of one of `bridges`. */
  veths?: HostVethSpec[];
  pos: SourcePos;
}

export interface HostBridgeSpec { name: string; ip?: Cidr; pos: SourcePos }
export interface HostVethSpec { name: string; peer: string; master?: string; peerMaster?: string; pos: SourcePos }

export interface NetworkSpec {
  plugin: 'bridge' | 'flannel' | 'calico';
  /** The flannel plugin's settings (plugin flannel only). */
  flannel?: FlannelSpec;
  /** Calico's settings (plugin calico only). */
  calico?: CalicoSpec;
  /** Bridge plugin options (defaults as the flannel conflist delegates: hairpinMode true, isDefaultGateway true). */
  hairpinMode: boolean;
  mtu: number;
  /** Raw CNI network config list JSON if the scenario gave one (`conflist:` key), else undefined. */
  conflist?: { text: string; pos: SourcePos };
  pos: SourcePos;
}

/** flanneld's configuration on every node (kube-flannel.yml's, unless changed). */
export interface FlannelSpec {
  /** net-conf.json as parsed (Network = cluster.podCIDR). */
  config: FlannelConfig;
  /** net-conf.json as text (given, or built from `backend`). */
  text: string;
  /** `kube` (--kube-subnet-mgr: leases are Node objects, subnets their podCIDRs) or `etcd` (leases with a TTL, subnets chosen by flanneld). */
  subnetManager: 'kube' | 'etcd';
  /** --ip-masq (default true, as kube-flannel.yml). */
  ipMasq: boolean;
  /** udp backend: virtual ns each user/kernel crossing of the flanneld proxy costs. */
  udpCrossingCost: number;
  pos: SourcePos;
}

/** One Calico IPPool (projectcalico.org/v3), as the scenario gives it. */
export interface CalicoPoolSpec {
  name: string;
  cidr: Cidr;
  /** Block size (prefix length of the blocks nodes claim): 20..32, default 26. */
  blockSize: number;
  ipipMode: 'Always' | 'CrossSubnet' | 'Never';
  natOutgoing: boolean;
  pos: SourcePos;
}

/** Calico on every node: IP pools, the BGP topology (BGPConfiguration + BGPPeers), felix. */
export interface CalicoSpec {
  pools: CalicoPoolSpec[];
  /** BGPConfiguration asNumber (default 64512). */
  asNumber: number;
  /** BGPConfiguration nodeToNodeMeshEnabled (default true, false when route reflectors are given). */
  nodeToNodeMesh: boolean;
  /** Nodes that are route reflectors (their routeReflectorClusterID set). */
  routeReflectors: string[];
  /** Where each route reflector is named (same order). */
  routeReflectorPos: SourcePos[];
  routeReflectorClusterID: string;
  /** Global BGPPeers: the underlay router (ToR) peering with every node. */
  peers: { router: string; asNumber: number; pos: SourcePos }[];
  pos: SourcePos;
}

export interface ClusterSpec {
  podCIDR: Cidr;
  serviceCIDR: Cidr;
  network: NetworkSpec;
  kubeProxy: KubeProxySpec;
  /** Cluster DNS (a CoreDNS pod behind the kube-dns Service). */
  dns: DnsSpec;
  nodes: NodeSpec[];
  externalHosts: ExternalHostSpec[];
  /** Link delays in ns (defaults: veth 0, bridge 0, nic 50 µs). */
  linkDelay: { veth: number; nic: number };
  /** Underlay NIC bandwidth in bits/s, 0 = unlimited. */
  nicBandwidth: number;
  /** Underlay MTU (default 1500). */
  mtu: number;
  /**
   * iptables rules per machine (node or host), in iptables-restore format,
   * restored into the machine's own netns once the cluster is built.
   */
  iptables: { machine: string; text: string; origin: TextOrigin; pos: SourcePos }[];
  /** Namespace-wide sysctls per machine (its own netns), e.g. net.bridge.bridge-nf-call-iptables. */
  sysctls: { machine: string; key: string; value: string; pos: SourcePos }[];
  /** cluster.nodeLifecycle: the node lifecycle controller's periods (ns) and the default tolerations (s); absent: Kubernetes' defaults. */
  nodeLifecycle?: { monitorPeriod: number; gracePeriod: number; leaseRenewInterval: number; evictionPeriod: number; unreachableTolerationSeconds: number; notReadyTolerationSeconds: number };
}

/** kube-proxy's configuration (KubeProxyConfiguration fields podwire models; defaults as upstream). */
export interface KubeProxySpec {
  mode: 'iptables' | 'ipvs' | 'none';
  /** ipvs mode's --ipvs-scheduler (one of the kernel's 11; default rr). */
  scheduler: 'rr' | 'wrr' | 'lc' | 'wlc' | 'lblc' | 'lblcr' | 'dh' | 'sh' | 'sed' | 'nq' | 'mh';
  /** minSyncPeriod in ns (default 1 s): a change is synced at most this often (BoundedFrequencyRunner). */
  minSyncPeriod: number;
  masqueradeAll: boolean;
  localhostNodePorts: boolean;
  /** --cluster-cidr for detect-local-mode ClusterCIDR; default cluster.podCIDR. */
  clusterCIDR?: Cidr;
  /** --nodeport-addresses; empty = every local address. */
  nodePortAddresses: Cidr[];
  pos: SourcePos;
}

/** Cluster DNS: the kube-dns Service and its CoreDNS pod in kube-system. */
export interface DnsSpec {
  enabled: boolean;
  /** kube-dns ClusterIP (default: the 10th address of serviceCIDR, as kubeadm). */
  clusterIP?: number;
  /** Cluster domain (default cluster.local). */
  domain: string;
  /** Node the CoreDNS pod runs on (default: the first node). */
  node?: string;
  pos: SourcePos;
}

export interface ContainerPortSpec {
  name?: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface PodSpec {
  kind: 'Pod';
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  nodeName: string;
  hostNetwork: boolean;
  containers: { name: string; image: string; ports: ContainerPortSpec[] }[];
  /** From the `podwire/ip` annotation. */
  pinnedIP?: number;
  /**
   * The whole manifest as decoded, including fields podwire does not model
   * (resources, probes, ...) and an optional `status` block (e.g.
   * `status.conditions[{type: Ready, status: "False"}]`). Optional: absent when
   * a PodSpec is built by code rather than loaded.
   */
  body?: Record<string, unknown>;
  pos: SourcePos;
}

/** The policy kinds a scenario can hold (manifests and policy-apply/policy-delete events). */
export const POLICY_KINDS = ['NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** A policy manifest validated and defaulted by src/kube (networkpolicy.ts, admin-network-policy.ts). */
export type PolicyValue =
  | { kind: 'NetworkPolicy'; value: NetworkPolicy }
  | { kind: 'AdminNetworkPolicy'; value: AdminNetworkPolicy }
  | { kind: 'BaselineAdminNetworkPolicy'; value: BaselineAdminNetworkPolicy };

/** Any manifest that is not a Pod: kept whole (the body as written) for the control plane and later layers. */
export interface OtherManifest {
  kind: string;
  apiVersion: string;
  name: string;
  /** Namespaced kinds: given or `default`; absent for cluster-scoped kinds (AdminNetworkPolicy, …). */
  namespace?: string;
  body: Record<string, unknown>;
  /** Set for NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy: the validated, defaulted object. */
  policy?: PolicyValue;
  pos: SourcePos;
}

/** A policy manifest (its `policy` set). */
export type PolicyManifest = OtherManifest & { kind: PolicyKind; policy: PolicyValue };

export type Manifest = PodSpec | OtherManifest;

/**
 * An endpoint of a traffic item: `pod/NS/NAME`, `node/NAME`, `host/NAME`,
 * `ip/A.B.C.D` (as a destination, or as a source with `via` naming the node or host it is sent from),
 * `service/NS/NAME` (later issues).
 */
export type Endpoint =
  | { kind: 'pod'; namespace: string; name: string; text: string }
  | { kind: 'node'; name: string; text: string }
  | { kind: 'host'; name: string; text: string }
  | { kind: 'ip'; addr: number; text: string }
  /** A Service port: `service/NS/NAME` (with the item's `port`) or `service/NS/NAME:PORT` (number or port name). */
  | { kind: 'service'; namespace: string; name: string; port?: number | string; text: string }
  /** A DNS name resolved by the sending pod through its resolv.conf, then connected to on `port`. */
  | { kind: 'dns'; name: string; port: number; text: string };

/** How a service is reached: its ClusterIP, a node's NodePort, its LoadBalancer ingress IP (through the modelled cloud LB), or an externalIP. */
export type ServiceAccess = 'clusterIP' | 'nodePort' | 'loadBalancer' | 'externalIP';

/** reply; refused (TCP RST, ICMP port/protocol unreachable); unreachable (any other ICMP error: host/net unreachable, admin prohibited, TTL exceeded); dropped (silence until the timeout); nxdomain (a dns/ name did not resolve). */
export type TrafficResult = 'reply' | 'refused' | 'unreachable' | 'dropped' | 'nxdomain';

export interface TrafficSpec {
  name: string;
  /** Virtual start time in ns. */
  at: number;
  from: Endpoint;
  to: Endpoint;
  protocol: 'icmp' | 'tcp' | 'udp';
  /** For `from: ip/A.B.C.D`: the node or host that sends it (`node/NAME` or `host/NAME`). */
  via?: Endpoint;
  /** Destination port (tcp/udp). */
  port?: number;
  /** For `to: service/…`: which of the service's addresses to use (default clusterIP). */
  access?: ServiceAccess;
  /** For `access: nodePort`: the node whose address is used (default the first node). */
  node?: string;
  /** Source port; when absent an ephemeral port is chosen as Linux does. */
  sourcePort?: number;
  /** Payload size in bytes (tcp/udp data, icmp echo data). Default 56 for icmp, 64 for tcp/udp. */
  size: number;
  /**
   * icmp/udp: the sender's IP_MTU_DISCOVER, as `ping -M want|dont`: `want` (Linux's default) sets DF
   * when the packet fits the route's MTU (a smaller hop then answers ICMP fragmentation needed);
   * `dont` never sets DF (a smaller hop fragments it).
   */
  pmtuDiscovery?: 'want' | 'dont';
  /** Number of requests (pings, datagrams, connections) sent one after another. Default 1. */
  count: number;
  /**
   * tcp/udp: `new` (default) opens a connection (a fresh socket and source port) per request;
   * `reuse` sends all `count` requests over one connection or socket, one per second, so they
   * share one conntrack entry and live on as an established flow.
   */
  connection?: 'new' | 'reuse';
  /** How long to wait for the outcome before calling it dropped (ns). Default 3 s. */
  timeout: number;
  /** servedBy: the receivers (`pod/NS/NAME`, `node/NAME`, `host/NAME`) that must have served the requests, exactly this set. */
  expect?: { result?: TrafficResult; path?: string[]; servedBy?: string[]; pos: SourcePos };
  pos: SourcePos;
}

/** A timed change to the cluster. */
export type EventSpec =
  /** The pod's Ready condition becomes `ready` (a readiness probe passing or failing). */
  | { at: number; kind: 'pod-ready'; namespace: string; name: string; ready: boolean; pos: SourcePos }
  /** The pod is deleted: its endpoints go, then its sandbox (CNI DEL). */
  | { at: number; kind: 'pod-delete'; namespace: string; name: string; pos: SourcePos }
  /**
   * A node joins the cluster (flannel only): its machine is on the underlay from the start, but its
   * Node object, podCIDR, flanneld, kube-proxy and pods appear at `at`.
   */
  | { at: number; kind: 'node-join'; node: string; pos: SourcePos }
  /**
   * A node leaves (flannel only): the machine shuts down (NIC down, flanneld gone), its Node object is
   * deleted and with it its lease (kube subnet manager; with etcd the lease stays until its TTL runs out)
   * and its pods (the pod garbage collector).
   */
  | { at: number; kind: 'node-leave'; node: string; pos: SourcePos }
  /** The machine fails (power off): its NICs lose carrier and its agents die with it; nothing in the API changes. */
  | { at: number; kind: 'node-down'; node: string; pos: SourcePos }
  /** The machine powers back after a node-down: NIC carrier back, its agents (flanneld, BIRD) start again. */
  | { at: number; kind: 'node-up'; node: string; pos: SourcePos }
  /** An agent process dies (agent-stop) or starts again (agent-start) on a node; nothing else changes. */
  | { at: number; kind: 'agent-stop' | 'agent-start'; node: string; agent: 'flanneld' | 'bird'; pos: SourcePos }
  /** A link loses (link-down) or regains (link-up) its carrier; see LinkRef. */
  | { at: number; kind: 'link-down' | 'link-up'; link: LinkRef; pos: SourcePos }
  /** A netem root qdisc on the link's transmit side (src/kernel/netem.ts); no parameters clears it. */
  | { at: number; kind: 'impair'; link: LinkRef; netem: NetemSpec; pos: SourcePos }
  /** A policy is created, or replaced when one of that kind/namespace/name exists (`kubectl apply`). */
  | { at: number; kind: 'policy-apply'; manifest: PolicyManifest; pos: SourcePos }
  /** A policy is deleted (`policy: KIND/NS/NAME`, or `KIND/NAME` for the cluster-scoped kinds). */
  | { at: number; kind: 'policy-delete'; policyKind: PolicyKind; namespace?: string; name: string; pos: SourcePos };

/**
 * A link a fault event names: a pod's veth (`pod`: its host-side end, whose peer is the pod's
 * eth0), a machine's device (`machine` + `device`, e.g. eth0), or an underlay segment (its CIDR).
 */
export type LinkRef =
  | { kind: 'pod'; namespace: string; name: string }
  | { kind: 'device'; machine: string; device: string }
  | { kind: 'segment'; cidr: string };

export interface Scenario {
  file: string;
  name: string;
  seed: number;
  description?: string;
  cluster: ClusterSpec;
  manifests: Manifest[];
  traffic: TrafficSpec[];
  events: EventSpec[];
}
