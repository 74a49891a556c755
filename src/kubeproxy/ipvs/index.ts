/** kube-proxy's ipvs proxier (see proxier.ts, rules.ts, sets.ts, agent.ts). */
export { IpvsProxier, IPVS_SCHEDULERS, DUMMY_DEVICE, RS_CHECK_DELETE_INTERVAL, FLAG_PERSISTENT, FLAG_SOURCE_HASH, type IpvsProxierConfig, type IpvsScheduler, type IpvsSyncResult, type VsWant } from './proxier.js';
export { KubeProxyIpvs, IPVS_SYSCTLS } from './agent.js';
export { ipvsRestoreText, ipvsJumpLines, IPVS_JUMPS, IPVS_NAT_CHAINS, IPVS_FILTER_CHAINS, type NoNodeAccess } from './rules.js';
export { IPSET_INFO, createLine } from './sets.js';
