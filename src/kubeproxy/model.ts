/**
 * What kube-proxy sees of the cluster, in the shape its proxier works on
 * (pkg/proxy: ServicePort, Endpoint). The kube layer's object store is turned
 * into these by `src/kubeproxy/from-store.ts`; the proxiers (iptables here,
 * ipvs later) read nothing else. Addresses are IPv4 as unsigned 32-bit numbers.
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** One port of one Service (kube-proxy's ServicePortName + ServicePort). */
export interface ServicePortInfo {
  namespace: string;
  name: string;
  /** The Service port's name ('' when unnamed; then nothing is added to the spn). */
  portName: string;
  protocol: Protocol;
  port: number;
  /** The ClusterIP; undefined for headless (`None`) and ExternalName services, which get no rules. */
  clusterIP?: number;
  /** 0 when the service has no NodePort. */
  nodePort: number;
  externalIPs: number[];
  /** status.loadBalancer.ingress[].ip (only for type LoadBalancer). */
  loadBalancerIPs: number[];
  /** spec.loadBalancerSourceRanges as CIDRs. */
  loadBalancerSourceRanges: { addr: number; prefix: number }[];
  /** ClientIP affinity timeout in seconds; 0 = sessionAffinity None. */
  affinitySeconds: number;
  /** externalTrafficPolicy: Local (only meaningful for externally visible services). */
  externalPolicyLocal: boolean;
  /** internalTrafficPolicy: Local. */
  internalPolicyLocal: boolean;
  /** spec.healthCheckNodePort (LoadBalancer with eTP Local), 0 if none. */
  healthCheckNodePort: number;
}

/** One endpoint of one service port (from EndpointSlices). */
export interface EndpointInfo {
  ip: number;
  port: number;
  /** The node hosting it (endpoint.nodeName); undefined for manual endpoints off-cluster. */
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** Per-node kube-proxy configuration (KubeProxyConfiguration, iptables mode, defaults as upstream). */
export interface ProxierConfig {
  nodeName: string;
  /** The node's addresses (for NodePort LOCAL detection and nodePortAddresses). */
  nodeIPs: number[];
  /** --cluster-cidr for detectLocalMode ClusterCIDR (the `! -s <cidr>` / `-s <cidr>` rules). Undefined = detector not implemented (NoOp). */
  clusterCIDR?: { addr: number; prefix: number };
  /** iptables.masqueradeBit (default 14 → mark 0x4000). */
  masqueradeBit: number;
  /** iptables.masqueradeAll (default false). */
  masqueradeAll: boolean;
  /** iptables.localhostNodePorts (default true). */
  localhostNodePorts: boolean;
  /** --nodeport-addresses as CIDRs; empty = all local addresses (the dst-type LOCAL rule). */
  nodePortAddresses: { addr: number; prefix: number }[];
  /** MASQUERADE --random-fully (iptables supports it: true). */
  randomFully: boolean;
  /** net.netfilter.nf_conntrack_tcp_be_liberal != 0 (then no INVALID drop rule). */
  conntrackTcpBeLiberal: boolean;
}

export const DEFAULT_PROXIER_CONFIG: Omit<ProxierConfig, 'nodeName' | 'nodeIPs'> = {
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: [],
  randomFully: true,
  conntrackTcpBeLiberal: false,
};

/** kube-proxy's ServicePortName.String(): "ns/name" plus ":portName" when named. */
export function servicePortName(sp: Pick<ServicePortInfo, 'namespace' | 'name' | 'portName'>): string {
  return sp.portName ? `${sp.namespace}/${sp.name}:${sp.portName}` : `${sp.namespace}/${sp.name}`;
}
