import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { IptablesProxier, SharedProxyCache, servicePortKey } from '../../src/kubeproxy/iptables/index.js';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import { checkRulesMatchLines, cidr, ep, fakeConfig, ip, sortRestoreText, svc } from './helpers.js';
import type { EndpointInfo, ServicePortInfo } from '../../src/kubeproxy/model.js';

/** The cluster of TestOverallIPTablesRules in podwire's model. */
export function overallCluster(): { services: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]> } {
  const services = [
    svc('ns1', 'svc1', { clusterIP: ip('172.30.0.41') }),
    svc('ns2', 'svc2', {
      clusterIP: ip('172.30.0.42'), nodePort: 3001, loadBalancerIPs: [ip('1.2.3.4')], externalIPs: [ip('192.168.99.22')],
      externalPolicyLocal: true, healthCheckNodePort: 30000,
    }),
    svc('ns3', 'svc3', { clusterIP: ip('172.30.0.43'), nodePort: 3003 }),
    svc('ns4', 'svc4', { clusterIP: ip('172.30.0.44'), externalIPs: [ip('192.168.99.33')] }),
    // healthCheckNodePort set although eTP=Cluster, as the upstream test does: kube-proxy ignores it.
    svc('ns5', 'svc5', {
      clusterIP: ip('172.30.0.45'), nodePort: 3002, loadBalancerIPs: [ip('5.6.7.8')], healthCheckNodePort: 30000,
      loadBalancerSourceRanges: [cidr('203.0.113.0/25')], affinitySeconds: 10800,
    }),
    svc('ns6', 'svc6', { clusterIP: ip('172.30.0.46') }),
  ];
  const endpoints = new Map<string, EndpointInfo[]>([
    [servicePortKey(services[0]), [ep('10.180.0.1')]],
    [servicePortKey(services[1]), [ep('10.180.0.2')]],
    [servicePortKey(services[2]), [ep('10.180.0.3')]],
    [servicePortKey(services[3]), [ep('10.180.0.4'), ep('10.180.0.5', { nodeName: 'test-node' })]],
    [servicePortKey(services[4]), [ep('10.180.0.3')]],
  ]);
  return { services, endpoints };
}

/** The upstream expectation adjusted for the fake proxier's differences (each named). */
function upstreamExpected(): string {
  const raw = readFileSync(new URL('./fixtures/overall-iptables-rules.txt', import.meta.url), 'utf8');
  return raw.split('\n')
    .filter((l) => !l.startsWith('#'))
    // nfacct counters absent in podwire: no localhost NodePort rules, no nfacct match on the INVALID drop.
    .filter((l) => !l.includes('localhost_nps_accepted_pkts'))
    .map((l) => l.replace(' -m nfacct --nfacct-name ct_state_invalid_dropped_pkts', ''))
    .join('\n');
}

describe('TestOverallIPTablesRules (golden)', () => {
  it('our restore text, sorted as the upstream test sorts, equals the expected text', () => {
    const { services, endpoints } = overallCluster();
    const p = new IptablesProxier(fakeConfig(), new SharedProxyCache());
    const s = p.sync(services, endpoints);
    // The fake proxier's masqueradeMark is "0x4000"; the real one is fmt "%#08x" = 0x00004000.
    const ours = s.restoreText().replaceAll('0x00004000', '0x4000');
    expect(sortRestoreText(ours)).toBe(sortRestoreText(upstreamExpected()));
    // and as a set of lines
    const set = (t: string) => new Set(t.split('\n').filter((l) => l.startsWith('-A') || l.startsWith(':')));
    expect(set(ours)).toEqual(set(upstreamExpected()));
  });

  it('real kube-proxy writes the mark as %#08x', () => {
    const { services, endpoints } = overallCluster();
    const s = new IptablesProxier(fakeConfig({ randomFully: true }), new SharedProxyCache()).sync(services, endpoints);
    const t = s.restoreText();
    expect(t).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n');
    expect(t).toContain('-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN\n');
    expect(t).toContain('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully\n');
    expect(t).toContain('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n');
  });

  it('every factory-built rule prints what parsing its kube-proxy line prints', () => {
    const { services, endpoints } = overallCluster();
    const p = new IptablesProxier(fakeConfig({ randomFully: true }), new SharedProxyCache());
    const s = p.sync(services, endpoints);
    expect(checkRulesMatchLines(p, s)).toBeGreaterThan(60);
  });

  it('restores into a Ruleset (noflush) with the built-in jumps, and iptables-save shows the factory rules', () => {
    const { services, endpoints } = overallCluster();
    const p = new IptablesProxier(fakeConfig({ randomFully: true }), new SharedProxyCache());
    const s = p.sync(services, endpoints);
    const rs = new Ruleset();
    // kube-proxy: EnsureChain + EnsureRule(Prepend) for the jumps, then the restore.
    for (const j of s.builtinJumps) if (!rs.hasChain(j.table, j.rule.target!.name)) rs.newChain(j.table, j.rule.target!.name);
    for (const j of [...s.builtinJumps].reverse()) rs.insert(j.table, j.chain, j.rule, 1);
    iptablesRestore(rs, s.restoreText(), { noflush: true, counters: true });
    const saved = iptablesSave(rs);
    const chains = p.chains();
    for (const c of [...chains.filter, ...chains.nat]) {
      for (const r of c.rules) {
        // the chain's rules appear in iptables-save
        expect(saved).toContain(`-A ${c.name}`);
        void r;
      }
    }
    const rs2 = new Ruleset();
    for (const j of s.builtinJumps) if (!rs2.hasChain(j.table, j.rule.target!.name)) rs2.newChain(j.table, j.rule.target!.name);
    for (const j of [...s.builtinJumps].reverse()) rs2.insert(j.table, j.chain, j.rule, 1);
    // Building the chains from the factory objects gives the same iptables-save as the restore.
    for (const [table, list] of [['filter', chains.filter], ['nat', chains.nat]] as const) {
      for (const c of list) if (!rs2.hasChain(table, c.name)) rs2.newChain(table, c.name);
      for (const c of list) for (const r of c.rules) rs2.append(table, c.name, { ...r });
    }
    const norm = (t: string) => t.split('\n').filter((l) => !l.startsWith('#')).sort().join('\n');
    expect(norm(iptablesSave(rs2))).toBe(norm(saved));
  });

  it('the built-in jumps end up in reverse issue order per chain', () => {
    const s = new IptablesProxier(fakeConfig(), new SharedProxyCache()).sync([], new Map());
    const input = s.builtinJumps.filter((j) => j.table === 'filter' && j.chain === 'INPUT').map((j) => j.rule.target!.name);
    expect(input).toEqual(['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES']);
    const fwd = s.builtinJumps.filter((j) => j.table === 'filter' && j.chain === 'FORWARD').map((j) => j.rule.target!.name);
    expect(fwd).toEqual(['KUBE-PROXY-FIREWALL', 'KUBE-FORWARD', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES']);
    expect(s.builtinJumps.find((j) => j.chain === 'PREROUTING')!.args).toBe('-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  });
});
