/**
 * What the DNS server needs to know about the cluster: the part of the API
 * objects CoreDNS's kubernetes plugin keeps in its informer caches. The
 * integrator implements it from the object store; the server only reads it,
 * at the moment each query is answered (so changes show at once, as after an
 * informer update).
 *
 * Names are compared case-insensitively by the server, which passes them in
 * lower case; Kubernetes object names are lower case already.
 */

/** A port as CoreDNS sees it: a Service's `spec.ports[]` entry, or an EndpointSlice's `ports[]` entry. */
export interface DnsPort {
  /** The port's name ('' when unnamed); `_name._proto` SRV queries match on it. */
  name: string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  /** Service port (spec.ports[].port) or, for an EndpointSlice, the target port number. */
  port: number;
}

/** One endpoint of an EndpointSlice (only its first IPv4 address is used). */
export interface DnsEndpoint {
  ip: number;
  /** `endpoints[].hostname` (set from the pod's spec.hostname when spec.subdomain names the service). */
  hostname?: string;
  /** `endpoints[].conditions.ready`; unset counts as ready, as in CoreDNS. Not-ready endpoints get no records. */
  ready?: boolean;
}

/** One EndpointSlice of a service. */
export interface DnsEndpointSlice {
  /** The slice's ports; empty when the slice has none (then SRV has nothing for its endpoints). */
  ports: DnsPort[];
  endpoints: DnsEndpoint[];
}

export interface DnsService {
  namespace: string;
  name: string;
  /**
   * spec.clusterIPs (IPv4, numbers). Empty for a headless service (clusterIP None)
   * and for ExternalName.
   */
  clusterIPs: number[];
  /** spec.clusterIP is "None". */
  headless: boolean;
  /** spec.externalName when type is ExternalName. */
  externalName?: string;
  /** spec.ports. */
  ports: DnsPort[];
  /** The service's EndpointSlices (label kubernetes.io/service-name), in a stable order. */
  endpointSlices: DnsEndpointSlice[];
}

export interface ClusterDnsView {
  /** The cluster domain, e.g. 'cluster.local' (kubelet --cluster-domain; the Corefile's zone). */
  readonly clusterDomain: string;
  /** Whether the namespace exists (CoreDNS answers NXDOMAIN for names in a namespace that does not). */
  namespaceExists(ns: string): boolean;
  /** The service ns/name, or undefined. */
  service(ns: string, name: string): DnsService | undefined;
  /** Every service, in a stable order (for reverse lookups and the NS records). */
  services(): Iterable<DnsService>;
  /**
   * SOA serial: the Unix time (seconds) of the last change to services,
   * endpoints or namespaces the server saw (CoreDNS's dnsController.Modified).
   */
  serial(): number;
  /** For `pods verified` only: is there a pod with this IP in this namespace? */
  podExists?(ip: number, ns: string): boolean;
}
