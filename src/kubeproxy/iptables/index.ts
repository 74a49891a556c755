/** kube-proxy's iptables proxier (see proxier.ts, build.ts, cache.ts). */
export { IptablesProxier, LARGE_CLUSTER_ENDPOINTS, type ProxierSync, type TableChanges } from './proxier.js';
export { SharedProxyCache, servicePortKey, serviceSortKey } from './cache.js';
export {
  buildPiece, buildFixed, builtinJumps, builtinJumpsInIssueOrder, categorize, sortEndpoints, probability, formatFixed10,
  masqueradeMarkText, effectiveLocalhostNodePorts, type BuiltinJump, type Piece, type PieceProfile, type Categorized, type Cidr,
} from './build.js';
