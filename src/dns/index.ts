/** Service discovery by DNS: the wire format, CoreDNS's kubernetes plugin, and a pod's glibc stub resolver. */
export * from './wire.js';
export type * from './view.js';
export { CoreDns, startCoreDns, type CoreDnsOptions, type UpstreamAnswer } from './coredns.js';
export {
  resolve, resolvConfFor, parseResolvConf, searchCandidates, addressesOf,
  type ResolvConf, type ResolveResult, type ResolveError, type SentQuery, type DnsPolicy, type HostDnsConfig, type PodDnsConfig,
} from './resolver.js';
