import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IptablesProxier, SharedProxyCache, servicePortKey, probability, formatFixed10 } from '../../src/kubeproxy/iptables/index.js';
import { chainHash } from '../../src/kubeproxy/names.js';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import type { EndpointInfo, ServicePortInfo } from '../../src/kubeproxy/model.js';
import { checkRulesMatchLines, cidr, ep, fakeConfig, ip, svc } from './helpers.js';

function run(services: ServicePortInfo[], eps: Record<string, EndpointInfo[]>, cfg = fakeConfig()) {
  const m = new Map<string, EndpointInfo[]>();
  for (const s of services) if (eps[s.name]) m.set(servicePortKey(s), eps[s.name]);
  const p = new IptablesProxier(cfg, new SharedProxyCache());
  const s = p.sync(services, m);
  checkRulesMatchLines(p, s);
  return s.restoreText();
}

describe('names', () => {
  it('REFERENCE hash values', () => {
    expect(chainHash('ns1/svc1:p80tcp')).toBe('XPGD46QRK7WJZT7O');
    expect(chainHash('ns1/svc1:p80tcp10.180.0.1:80')).toBe('SXIVWICOYRO3J4NJ');
    expect(chainHash('ns2/svc2:p80tcp')).toBe('GNZBNJ2PO5MGZ6GT');
    expect(chainHash('ns5/svc5:p80tcp10.180.0.3:80')).toBe('I77PXRDZVX7PMWMN');
    expect(chainHash('default/kubernetes:httpstcp')).toBe('NPX46M4PTMTKRN6Y');
  });
});

describe('probabilities', () => {
  it('%0.10f of 1/n, Go rounding (half to even on the exact value)', () => {
    expect([2, 3, 4, 5, 6, 7].map(probability)).toEqual(['0.5000000000', '0.3333333333', '0.2500000000', '0.2000000000', '0.1666666667', '0.1428571429']);
    expect(formatFixed10(1 / 2048)).toBe('0.0004882812'); // exact tie: Go rounds to even, JS toFixed would give …813
    expect(formatFixed10(1)).toBe('1.0000000000');
  });
  it('ladder of 4 endpoints', () => {
    const t = run([svc('ns1', 'svc1')], { svc1: ['10.180.0.1', '10.180.0.2', '10.180.0.3', '10.180.0.4'].map((a) => ep(a)) });
    const probs = [...t.matchAll(/--probability (\S+)/g)].map((m) => m[1]);
    expect(probs).toEqual(['0.2500000000', '0.3333333333', '0.5000000000']);
  });
  it('endpoints sorted by "ip:port" string (10.180.0.10 before 10.180.0.2)', () => {
    const t = run([svc('ns1', 'svc1')], { svc1: [ep('10.180.0.2'), ep('10.180.0.10')] });
    const order = [...t.matchAll(/-> (\S+)"/g)].map((m) => m[1]);
    expect(order).toEqual(['10.180.0.10:80', '10.180.0.2:80']);
  });
});

describe('rule families', () => {
  it('no endpoints: REJECT in filter for ClusterIP, external IP, LB and NodePort, no nat chains', () => {
    const t = run([svc('ns1', 'svc1', { nodePort: 3001, externalIPs: [ip('192.168.99.11')], loadBalancerIPs: [ip('1.2.3.4')] })], {});
    expect(t).toContain('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT');
    expect(t).toContain('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j REJECT');
    expect(t).toContain('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j REJECT');
    expect(t).toContain('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT');
    expect(t).not.toMatch(/KUBE-(SVC|SEP|EXT)-/);
  });
  it('eTP=Local with a local endpoint: KUBE-SVL, EXT jumps to it, no DROP', () => {
    const s = svc('ns2', 'svc2', { nodePort: 3001, loadBalancerIPs: [ip('1.2.3.4')], externalPolicyLocal: true, healthCheckNodePort: 30000 });
    const t = run([s], { svc2: [ep('10.180.0.2', { nodeName: 'test-node' }), ep('10.180.0.3', { nodeName: 'other' })] });
    expect(t).toContain(':KUBE-SVL-GNZBNJ2PO5MGZ6GT - [0:0]');
    expect(t).toContain('-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -j KUBE-SVL-GNZBNJ2PO5MGZ6GT');
    expect(t).toContain('-A KUBE-SVL-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-');
    expect(t).toContain('-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT');
    expect(t).not.toContain('has no local endpoints');
  });
  it('iTP=Local without local endpoints: DROP "has no local endpoints" for the ClusterIP', () => {
    const t = run([svc('ns1', 'svc1', { internalPolicyLocal: true })], { svc1: [ep('10.180.0.1', { nodeName: 'other' })] });
    expect(t).toContain('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP');
    expect(t).not.toContain('KUBE-SEP-');
  });
  it('iTP=Local with a local endpoint: cluster IP goes to KUBE-SVL with the masquerade rule first', () => {
    const t = run([svc('ns1', 'svc1', { internalPolicyLocal: true })], { svc1: [ep('10.180.0.1', { nodeName: 'test-node' }), ep('10.180.0.9', { nodeName: 'x' })] });
    expect(t).toContain('-j KUBE-SVL-XPGD46QRK7WJZT7O\n');
    expect(t).toContain('-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ');
    expect(t).not.toContain(':KUBE-SVC-');
    expect((t.match(/:KUBE-SEP-/g) ?? []).length).toBe(1);
  });
  it('terminating fallback: no ready endpoints → serving+terminating ones', () => {
    const t = run([svc('ns1', 'svc1')], { svc1: [ep('10.180.0.1', { ready: false, serving: true, terminating: true }), ep('10.180.0.2', { ready: false, serving: false, terminating: true })] });
    expect(t).toContain('"ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-');
    expect(t).not.toContain('10.180.0.2:80');
  });
  it('LB with source ranges including the node IP: -s <LB IP> rules in KUBE-FW', () => {
    const s = svc('ns1', 'svc1', { nodePort: 3001, loadBalancerIPs: [ip('1.2.3.4'), ip('5.6.7.8')], loadBalancerSourceRanges: [cidr('192.168.0.0/24'), cidr('203.0.113.0/25')] });
    const t = run([s], { svc1: [ep('10.180.0.1')] });
    const fw = t.split('\n').filter((l) => l.startsWith('-A KUBE-FW-'));
    expect(fw).toEqual([
      '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j KUBE-EXT-XPGD46QRK7WJZT7O',
      '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-XPGD46QRK7WJZT7O',
      '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j KUBE-EXT-XPGD46QRK7WJZT7O',
      '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 5.6.7.8 -j KUBE-EXT-XPGD46QRK7WJZT7O',
      '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"',
    ]);
  });
  it('affinity: -m recent rcheck per endpoint before the ladder, --set before the DNAT; UDP and SCTP spellings', () => {
    const t = run([svc('ns1', 'svc1', { affinitySeconds: 10800, protocol: 'UDP' }), svc('ns1', 'svc2', { protocol: 'SCTP' })],
      { svc1: [ep('10.180.0.1'), ep('10.180.0.2')], svc2: [ep('10.180.0.7')] });
    const h1 = chainHash('ns1/svc1:p80udp10.180.0.1:80');
    expect(t).toContain(`-A KUBE-SVC-${chainHash('ns1/svc1:p80udp')} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name KUBE-SEP-${h1} --rcheck --seconds 10800 --reap -j KUBE-SEP-${h1}`);
    expect(t).toContain(`-A KUBE-SEP-${h1} -m comment --comment ns1/svc1:p80 -m recent --name KUBE-SEP-${h1} --set -m udp -p udp -j DNAT --to-destination 10.180.0.1:80`);
    expect(t).toContain('-m sctp -p sctp -j DNAT --to-destination 10.180.0.7:80');
  });
  it('masqueradeAll, no local detector, localhost NodePorts off, nodePortAddresses', () => {
    const t = run([svc('ns1', 'svc1')], { svc1: [ep('10.180.0.1')] }, fakeConfig({ masqueradeAll: true, localhostNodePorts: false }));
    expect(t).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ');
    expect(t).toContain('-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS');
    expect(t).not.toContain('KUBE-FIREWALL');
    const t2 = run([svc('ns1', 'svc1')], { svc1: [ep('10.180.0.1')] }, fakeConfig({ clusterCIDR: undefined, nodePortAddresses: [cidr('192.168.0.0/24'), cidr('127.0.0.1/32')] }));
    expect(t2).not.toContain('! -s 10.0.0.0/8');
    expect(t2).toContain('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 127.0.0.1 -j KUBE-NODEPORTS\n-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS\n');
  });
  it('large-cluster mode (> 1000 endpoints): no comments on SVC endpoint and SEP rules', () => {
    const services: ServicePortInfo[] = [];
    const eps: Record<string, EndpointInfo[]> = {};
    for (let i = 0; i < 101; i++) {
      services.push(svc('ns1', `s${i}`, { clusterIP: ip('172.30.1.0') + i, affinitySeconds: i === 0 ? 60 : 0 }));
      eps[`s${i}`] = Array.from({ length: 10 }, (_, j) => ep(`10.181.${i}.${j + 1}`));
    }
    const t = run(services, eps);
    expect(t).not.toMatch(/-A KUBE-SEP-\S+ -m comment/);
    expect(t).not.toMatch(/-A KUBE-SVC-\S+ -m comment --comment "\S+ -> /);
    expect(t).toMatch(/-A KUBE-SVC-\S+ -m recent --name KUBE-SEP-\S+ --rcheck --seconds 60 --reap -j KUBE-SEP-/);
    expect(t).toContain('"ns1/s0:p80 cluster IP"');
  });
});

describe('incremental and shared', () => {
  const arbSvc = fc.record({
    n: fc.integer({ min: 0, max: 5 }), proto: fc.constantFrom('TCP' as const, 'UDP' as const), nodePort: fc.constantFrom(0, 30001),
    ext: fc.boolean(), lb: fc.boolean(), ranges: fc.boolean(), aff: fc.boolean(), eLocal: fc.boolean(), iLocal: fc.boolean(),
    eps: fc.array(fc.record({ a: fc.integer({ min: 1, max: 6 }), node: fc.constantFrom('test-node', 'n2', undefined), ready: fc.boolean(), term: fc.boolean() }), { maxLength: 4 }),
  });
  const toSvc = (x: fc.infer<typeof arbSvc>): [ServicePortInfo, EndpointInfo[]] => [
    svc('ns', `s${x.n}`, {
      protocol: x.proto, clusterIP: ip('172.30.0.1') + x.n, nodePort: x.nodePort ? x.nodePort + x.n : 0, externalIPs: x.ext ? [ip('192.168.99.1')] : [],
      loadBalancerIPs: x.lb ? [ip('1.2.3.4')] : [], loadBalancerSourceRanges: x.ranges ? [cidr('192.168.0.0/16')] : [], affinitySeconds: x.aff ? 100 : 0,
      externalPolicyLocal: x.eLocal, internalPolicyLocal: x.iLocal, healthCheckNodePort: x.eLocal && x.lb ? 32000 + x.n : 0,
    }),
    x.eps.map((e) => ep(`10.180.0.${e.a}`, { nodeName: e.node, ready: e.ready, serving: e.ready || e.term, terminating: e.term })),
  ];
  it('incremental sync equals a fresh full sync (text and applied ruleset) after random changes', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('set', 'del', 'eps'), arbSvc), { minLength: 1, maxLength: 12 }), (ops) => {
      const cache = new SharedProxyCache();
      const inc = new IptablesProxier(fakeConfig(), cache);
      const rs = new Ruleset();
      const apply = (s: ReturnType<IptablesProxier['sync']>) => iptablesRestore(rs, s.restoreText(), { noflush: true });
      apply(inc.sync());
      for (const [op, x] of ops) {
        const [sp, eps] = toSvc(x);
        if (op === 'set') { cache.setService(sp); cache.setEndpoints(servicePortKey(sp), eps); }
        else if (op === 'del') cache.deleteService(servicePortKey(sp));
        else cache.setEndpoints(servicePortKey(sp), eps);
        const s = inc.sync();
        apply(s);
        const fresh = new IptablesProxier(fakeConfig(), new SharedProxyCache());
        const services = [...cache.services.values()].map((st) => st.sp);
        const fs = fresh.sync(services, new Map(cache.endpoints));
        expect(s.fullRestoreText()).toBe(fs.restoreText());
        checkRulesMatchLines(inc, s);
        const rs2 = new Ruleset();
        iptablesRestore(rs2, fs.restoreText(), { noflush: true });
        // kube-proxy leaves empty stale chains only until -X; compare what iptables-save shows
        expect(iptablesSave(rs)).toBe(iptablesSave(rs2));
      }
    }), { numRuns: 150 });
  });

  it('nodes share rule and chain objects for node-independent services; Local ones differ', () => {
    const cache = new SharedProxyCache();
    const a = new IptablesProxier(fakeConfig({ nodeName: 'test-node' }), cache);
    const b = new IptablesProxier(fakeConfig({ nodeName: 'n2' }), cache);
    const c = new IptablesProxier(fakeConfig({ nodeName: 'n3' }), cache);
    const s1 = svc('ns1', 'svc1');
    const s2 = svc('ns2', 'svc2', { nodePort: 3001, externalPolicyLocal: true, clusterIP: ip('172.30.0.42') });
    const eps = new Map([[servicePortKey(s1), [ep('10.180.0.1')]], [servicePortKey(s2), [ep('10.180.0.2', { nodeName: 'test-node' })]]]);
    a.sync([s1, s2], eps); b.sync(); c.sync();
    const chain = (p: IptablesProxier, n: string) => p.chains().nat.find((x) => x.name === n);
    const svc1 = 'KUBE-SVC-XPGD46QRK7WJZT7O';
    expect(chain(a, svc1)).toBeDefined();
    expect(chain(a, svc1)).toBe(chain(b, svc1));
    expect(chain(a, svc1)).toBe(chain(c, svc1));
    // Top-level chains are shared by nodes whose Local-policy variants agree (b and c: no local endpoint of svc2).
    expect(chain(b, 'KUBE-SERVICES')).toBe(chain(c, 'KUBE-SERVICES'));
    expect(chain(a, 'KUBE-SERVICES')!.rules).toEqual(chain(b, 'KUBE-SERVICES')!.rules);
    // svc2 is eTP=Local: its KUBE-EXT differs between the node with the endpoint and the others…
    const ext2 = `KUBE-EXT-${chainHash('ns2/svc2:p80tcp')}`;
    expect(chain(a, ext2)).not.toBe(chain(b, ext2));
    // …and the nodes without local endpoints share one.
    expect(chain(b, ext2)).toBe(chain(c, ext2));
    expect(chain(b, 'KUBE-NODEPORTS')).toBe(chain(c, 'KUBE-NODEPORTS'));
    // An incremental change only hands over what changed.
    const s3 = svc('ns3', 'svc3', { clusterIP: ip('172.30.0.43') });
    cache.setEndpoints(servicePortKey(s3), [ep('10.180.0.3')]);
    cache.setService(s3);
    const r = a.sync();
    expect(r.fullSync).toBe(false);
    expect(r.nat.set.map((x) => x.name).sort()).toEqual(['KUBE-SERVICES', `KUBE-SEP-${chainHash('ns3/svc3:p80tcp10.180.0.3:80')}`, `KUBE-SVC-${chainHash('ns3/svc3:p80tcp')}`].sort());
    expect(r.filter.set).toEqual([]);
    expect(r.restoreText()).not.toContain(':KUBE-SVC-XPGD46QRK7WJZT7O');
    cache.deleteService(servicePortKey(s3));
    const r2 = a.sync();
    expect(r2.nat.deleted.sort()).toEqual([`KUBE-SEP-${chainHash('ns3/svc3:p80tcp10.180.0.3:80')}`, `KUBE-SVC-${chainHash('ns3/svc3:p80tcp')}`].sort());
    expect(r2.restoreText()).toContain(`-X KUBE-SVC-${chainHash('ns3/svc3:p80tcp')}\n`);
    expect(() => r.restoreText()).toThrow(/later sync/);
  });
});
