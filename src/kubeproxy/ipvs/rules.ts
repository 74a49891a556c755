/**
 * The iptables rules kube-proxy's ipvs mode still writes (pkg/proxy/ipvs/proxier.go
 * `iptablesJumpChain`, `iptablesChains`, `ipsetWithIptablesChain`, `writeIptablesRules`,
 * `acceptIPVSTraffic`), as the text of its one `iptables-restore --noflush --counters`
 * per sync: `*nat`, the chain lines, the nat rules, COMMIT, `*filter`, the chain lines,
 * the filter rules, COMMIT — rules in the order writeIptablesRules appends them.
 *
 * A pure function of: which ipsets are non-empty (set-driven rules are written only for
 * non-empty sets), the LoadBalancer VIPs the node may not reach (KUBE-IPVS-OUT-FILTER),
 * and the configuration (masquerade bit, masqueradeAll, the local detector, random-fully).
 * Its size does not grow with the number of Services: that is ipvs mode's point.
 */
import type { ProxierConfig } from '../model.js';
import { cidrString, masqueradeMarkText } from '../iptables/build.js';
import {
  SET_BY_NAME, KUBE_LOOP_BACK, KUBE_LOAD_BALANCER, KUBE_LOAD_BALANCER_LOCAL, KUBE_NODE_PORT_LOCAL_TCP, KUBE_NODE_PORT_TCP,
  KUBE_NODE_PORT_LOCAL_UDP, KUBE_NODE_PORT_UDP, KUBE_NODE_PORT_LOCAL_SCTP, KUBE_NODE_PORT_SCTP, KUBE_LOAD_BALANCER_FW,
  KUBE_LOAD_BALANCER_SOURCE_CIDR, KUBE_LOAD_BALANCER_SOURCE_IP, KUBE_CLUSTER_IP, KUBE_EXTERNAL_IP, KUBE_EXTERNAL_IP_LOCAL,
  KUBE_HEALTH_CHECK_NODE_PORT, KUBE_IPVS_IPS,
} from './sets.js';

export interface IptablesJump { table: 'nat' | 'filter'; from: string; to: string; comment: string }

/** iptablesJumpChain, in its order (each EnsureRule Prepend: the last one ends up first). */
export const IPVS_JUMPS: readonly IptablesJump[] = [
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', comment: 'kubernetes postrouting rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', comment: 'kubernetes forwarding rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODE-PORT', comment: 'kubernetes health check rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-IPVS-FILTER', comment: 'kubernetes ipvs access filter' },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-IPVS-OUT-FILTER', comment: 'kubernetes ipvs access filter' },
];

/** iptablesChains, in its order. */
export const IPVS_NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'] as const;
export const IPVS_FILTER_CHAINS = ['KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER'] as const;

/** ipsetWithIptablesChain: set → (table, from chain, target, match type, protocol). */
const SET_CHAINS: readonly { set: string; table: 'nat' | 'filter'; from: string; to: string; match: string; proto: string }[] = [
  { set: KUBE_LOOP_BACK, table: 'nat', from: 'KUBE-POSTROUTING', to: 'MASQUERADE', match: 'dst,dst,src', proto: '' },
  { set: KUBE_LOAD_BALANCER, table: 'nat', from: 'KUBE-SERVICES', to: 'KUBE-LOAD-BALANCER', match: 'dst,dst', proto: '' },
  { set: KUBE_LOAD_BALANCER_LOCAL, table: 'nat', from: 'KUBE-LOAD-BALANCER', to: 'RETURN', match: 'dst,dst', proto: '' },
  { set: KUBE_NODE_PORT_LOCAL_TCP, table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', proto: 'tcp' },
  { set: KUBE_NODE_PORT_TCP, table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst', proto: 'tcp' },
  { set: KUBE_NODE_PORT_LOCAL_UDP, table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', proto: 'udp' },
  { set: KUBE_NODE_PORT_UDP, table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst', proto: 'udp' },
  { set: KUBE_NODE_PORT_LOCAL_SCTP, table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst,dst', proto: 'sctp' },
  { set: KUBE_NODE_PORT_SCTP, table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst,dst', proto: 'sctp' },
  { set: KUBE_LOAD_BALANCER_FW, table: 'filter', from: 'KUBE-PROXY-FIREWALL', to: 'KUBE-SOURCE-RANGES-FIREWALL', match: 'dst,dst', proto: '' },
  { set: KUBE_LOAD_BALANCER_SOURCE_CIDR, table: 'filter', from: 'KUBE-SOURCE-RANGES-FIREWALL', to: 'RETURN', match: 'dst,dst,src', proto: '' },
  { set: KUBE_LOAD_BALANCER_SOURCE_IP, table: 'filter', from: 'KUBE-SOURCE-RANGES-FIREWALL', to: 'RETURN', match: 'dst,dst,src', proto: '' },
];

/** A LoadBalancer VIP:port the node itself may not reach (its IP is outside the source ranges). */
export interface NoNodeAccess { ip: string; proto: string; port: number }

const comment = (set: string): string => `"${SET_BY_NAME.get(set)!.comment}"`;

/** The restore text of one sync. `nonEmpty(set)`: the set has entries after this sync. */
export function ipvsRestoreText(cfg: ProxierConfig, nonEmpty: (set: string) => boolean, noNodeAccess: readonly NoNodeAccess[]): string {
  const M = masqueradeMarkText(cfg.masqueradeBit);
  const nat: string[] = ['*nat', ...IPVS_NAT_CHAINS.map((c) => `:${c} - [0:0]`)];
  const filter: string[] = ['*filter', ...IPVS_FILTER_CHAINS.map((c) => `:${c} - [0:0]`)];
  nat.push('-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN');
  for (const s of SET_CHAINS) {
    if (!nonEmpty(s.set)) continue;
    const line = `-A ${s.from}${s.proto ? ` -p ${s.proto}` : ''} -m comment --comment ${comment(s.set)} -m set --match-set ${s.set} ${s.match} -j ${s.to}`;
    (s.table === 'filter' ? filter : nat).push(line);
  }
  if (nonEmpty(KUBE_CLUSTER_IP)) {
    const head = `-A KUBE-SERVICES -m comment --comment ${comment(KUBE_CLUSTER_IP)} -m set --match-set ${KUBE_CLUSTER_IP}`;
    if (cfg.masqueradeAll) nat.push(`${head} dst,dst -j KUBE-MARK-MASQ`);
    else if (cfg.clusterCIDR) nat.push(`${head} dst,dst ! -s ${cidrString(cfg.clusterCIDR)} -j KUBE-MARK-MASQ`);
    else nat.push(`${head} src,dst -j KUBE-MARK-MASQ`);
  }
  const externalIPRules = (head: string) => {
    nat.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    nat.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (nonEmpty(KUBE_EXTERNAL_IP)) {
    const head = `-A KUBE-SERVICES -m comment --comment ${comment(KUBE_EXTERNAL_IP)} -m set --match-set ${KUBE_EXTERNAL_IP} dst,dst`;
    nat.push(`${head} -j KUBE-MARK-MASQ`);
    externalIPRules(head);
  }
  if (nonEmpty(KUBE_EXTERNAL_IP_LOCAL)) {
    externalIPRules(`-A KUBE-SERVICES -m comment --comment ${comment(KUBE_EXTERNAL_IP_LOCAL)} -m set --match-set ${KUBE_EXTERNAL_IP_LOCAL} dst,dst`);
  }
  nat.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  nat.push('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
  filter.push('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP');
  for (const e of noNodeAccess) {
    filter.push(`-A KUBE-IPVS-OUT-FILTER -s ${e.ip} -m ipvs --vaddr ${e.ip} --vproto ${e.proto} --vport ${e.port} -j DROP`);
  }
  // acceptIPVSTraffic: hash:ip,port sets, so dst,dst.
  for (const set of [KUBE_CLUSTER_IP, KUBE_LOAD_BALANCER]) if (nonEmpty(set)) nat.push(`-A KUBE-SERVICES -m set --match-set ${set} dst,dst -j ACCEPT`);
  filter.push(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${M}/${M} -j ACCEPT`);
  filter.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  filter.push(`-A KUBE-NODE-PORT -m comment --comment ${comment(KUBE_HEALTH_CHECK_NODE_PORT)} -m set --match-set ${KUBE_HEALTH_CHECK_NODE_PORT} dst -j ACCEPT`);
  for (const set of [KUBE_LOAD_BALANCER, KUBE_CLUSTER_IP, KUBE_EXTERNAL_IP, KUBE_EXTERNAL_IP_LOCAL]) filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${set} dst,dst -j RETURN`);
  filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${KUBE_HEALTH_CHECK_NODE_PORT} dst -j RETURN`);
  filter.push(`-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set ${KUBE_IPVS_IPS} dst -j REJECT`);
  nat.push(`-A KUBE-POSTROUTING -m mark ! --mark ${M}/${M} -j RETURN`);
  nat.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${M}`);
  nat.push(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${cfg.randomFully ? ' --random-fully' : ''}`);
  nat.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${M}`);
  filter.push('COMMIT');
  nat.push('COMMIT');
  return [...nat, ...filter, ''].join('\n');
}

/** The jumps as `-I CHAIN 1` lines per table (EnsureRule Prepend in iptablesJumpChain's order). */
export function ipvsJumpLines(table: 'nat' | 'filter'): string[] {
  return IPVS_JUMPS.filter((j) => j.table === table).map((j) => `-I ${j.from} 1 -m comment --comment "${j.comment}" -j ${j.to}`);
}
