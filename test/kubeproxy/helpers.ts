import { parseIp } from '../../src/wire/bytes.js';
import { DEFAULT_PROXIER_CONFIG, type EndpointInfo, type ProxierConfig, type ServicePortInfo } from '../../src/kubeproxy/model.js';
import type { Chain } from '../../src/netfilter/types.js';
import { parseRule } from '../../src/netfilter/restore.js';
import { ruleText } from '../../src/netfilter/ruleset.js';
import type { ProxierSync } from '../../src/kubeproxy/iptables/index.js';
import type { IptablesProxier } from '../../src/kubeproxy/iptables/index.js';

export const ip = (s: string): number => parseIp(s)!;
export const cidr = (s: string) => { const [a, p] = s.split('/'); return { addr: ip(a), prefix: Number(p) }; };

export function svc(ns: string, name: string, o: Partial<ServicePortInfo> = {}): ServicePortInfo {
  return {
    namespace: ns, name, portName: 'p80', protocol: 'TCP', port: 80, clusterIP: ip('172.30.0.41'), nodePort: 0, externalIPs: [],
    loadBalancerIPs: [], loadBalancerSourceRanges: [], affinitySeconds: 0, externalPolicyLocal: false, internalPolicyLocal: false,
    healthCheckNodePort: 0, ...o,
  };
}
export function ep(addr: string, o: Partial<EndpointInfo> = {}): EndpointInfo {
  return { ip: ip(addr), port: 80, ready: true, serving: true, terminating: false, ...o };
}
/** NewFakeProxier's configuration (proxier_test.go): node test-node 192.168.0.2, pod CIDR 10.0.0.0/8, fake iptables without --random-fully. */
export function fakeConfig(o: Partial<ProxierConfig> = {}): ProxierConfig {
  return {
    ...DEFAULT_PROXIER_CONFIG, nodeName: 'test-node', nodeIPs: [ip('192.168.0.2'), ip('192.168.1.2'), ip('192.168.99.11')],
    clusterCIDR: cidr('10.0.0.0/8'), randomFully: false, ...o,
  };
}

/** The `-A` lines of a restore text, grouped by table and chain. */
export function linesByChain(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = '';
  for (const l of text.split('\n')) {
    if (l.startsWith('*')) table = l.slice(1);
    const m = /^-A (\S+) ?(.*)$/.exec(l);
    if (!m) continue;
    const k = `${table} ${m[1]}`;
    if (!out.has(k)) out.set(k, []);
    out.get(k)!.push(m[2]);
  }
  return out;
}

/**
 * For every chain the proxier holds: each factory-built rule prints (iptables-save
 * spelling) exactly what parsing kube-proxy's line for it prints. Returns the number of rules checked.
 */
export function checkRulesMatchLines(p: IptablesProxier, s: ProxierSync): number {
  const byChain = linesByChain(s.fullRestoreText());
  let n = 0;
  const chains = p.chains();
  for (const [table, list] of [['filter', chains.filter], ['nat', chains.nat]] as const) {
    for (const c of list as Chain[]) {
      const lines = byChain.get(`${table} ${c.name}`) ?? [];
      if (lines.length !== c.rules.length) throw new Error(`${table} ${c.name}: ${lines.length} lines, ${c.rules.length} rules`);
      c.rules.forEach((r, i) => {
        const parsed = ruleText(parseRule(lines[i], table, c.name));
        const built = ruleText(r);
        if (parsed !== built) throw new Error(`${table} ${c.name} #${i}: line "${lines[i]}" parses to "${parsed}", factory rule prints "${built}"`);
        n++;
      });
    }
  }
  for (const j of s.builtinJumps) {
    const parsed = ruleText(parseRule(j.args, j.table, j.chain));
    if (parsed !== ruleText(j.rule)) throw new Error(`jump ${j.args}: ${parsed} vs ${ruleText(j.rule)}`);
    n++;
  }
  return n;
}

/** proxier_test.go sortIPTablesRules, on restore text: tables by name, chains (KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* alphabetically, then the rest), rules of KUBE-NODEPORTS/KUBE-SERVICES stably by the comment's service name. */
export function sortRestoreText(text: string): string {
  const tables: { name: string; decls: string[]; rules: Map<string, string[]> }[] = [];
  let cur: (typeof tables)[number] | null = null;
  for (const l of text.split('\n')) {
    if (l.startsWith('#') || l === '' || l === 'COMMIT') continue;
    if (l.startsWith('*')) { cur = { name: l.slice(1), decls: [], rules: new Map() }; tables.push(cur); continue; }
    if (l.startsWith(':')) { cur!.decls.push(l.split(' ')[0].slice(1)); continue; }
    const m = /^-A (\S+)/.exec(l);
    if (m) { if (!cur!.rules.has(m[1])) cur!.rules.set(m[1], []); cur!.rules.get(m[1])!.push(l); }
  }
  tables.sort((a, b) => (a.name < b.name ? -1 : 1));
  const rank = (n: string) => (n === 'KUBE-NODEPORTS' ? 0 : n === 'KUBE-SERVICES' ? 1 : n.startsWith('KUBE-') ? 2 : 3);
  const svcName = (l: string) => {
    const m = /--comment ("([^"]*)"|(\S+))/.exec(l);
    if (!m) return null;
    const v = m[2] ?? m[3];
    const i = v.search(/[ :]/);
    return i < 0 ? v : v.slice(0, i);
  };
  const out: string[] = [];
  for (const t of tables) {
    const decls = [...new Set(t.decls)].sort((a, b) => (rank(a) - rank(b)) || (a < b ? -1 : a > b ? 1 : 0));
    out.push(`*${t.name}`, ...decls.map((d) => `:${d} - [0:0]`));
    for (const d of decls) {
      let rules = (t.rules.get(d) ?? []).slice();
      if (d === 'KUBE-NODEPORTS' || d === 'KUBE-SERVICES') {
        const last = (l: string) => t.name === 'nat' && d === 'KUBE-SERVICES' && l.includes('must be the last rule');
        const idx = rules.map((l, i) => ({ l, i }));
        idx.sort((a, b) => {
          if (last(a.l) !== last(b.l)) return last(a.l) ? 1 : -1;
          const x = svcName(a.l), y = svcName(b.l);
          if (x !== null && y !== null && x !== y) return x < y ? -1 : 1;
          return a.i - b.i;
        });
        rules = idx.map((x) => x.l);
      }
      out.push(...rules);
    }
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}
