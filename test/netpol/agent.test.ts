/**
 * kube-router's network policy controller on the upstream e2e model: the rules it renders
 * (golden iptables-save filter table and ipset save of node-1 per case) and, for every
 * ordered pair of pods and ports 80/81 over TCP and UDP, the packet outcome against the
 * reference evaluator — same-node pairs are bridged through cni0 (physdev), x/c, y/c, z/c
 * live on node-2. A denied connection is refused (cross-node: the REJECT's ICMP error is
 * RELATED to the client node's entry) or dropped (same node: the error is INVALID and the
 * client's pod chain drops it in KUBE-NWPLCY-COMMON); an allowed one gets its reply.
 */
import { describe, expect, it } from 'vitest';
import type { Obj } from '../../src/kube/object.js';
import { MemorySink } from '../../src/trace/render.js';
import { allPairs, apply, e2eCluster, np, probe, savedRules, verdictOf, type NetpolCluster } from './helpers.js';

const PORTS = [
  { port: 80, protocol: 'TCP' as const },
  { port: 81, protocol: 'TCP' as const },
  { port: 80, protocol: 'UDP' as const },
  { port: 81, protocol: 'UDP' as const },
];

const nsSel = (ns: string) => ({ matchLabels: { ns } });
const podSel = (pod: string) => ({ matchLabels: { pod } });
const anp = (name: string, priority: number, spec: Obj): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name }, spec: { priority, ...spec } });
const banp = (spec: Obj): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec });

const CASES: { name: string; objs: Obj[] }[] = [
  { name: 'deny-all', objs: [np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] })] },
  { name: 'allow-from-namespace', objs: [np('x', 'allow-from-y', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] })] },
  { name: 'pod-and-namespace', objs: [np('x', 'allow-y-b', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y'), podSelector: podSel('b') }] }] })] },
  { name: 'pod-or-namespace', objs: [np('x', 'allow-y-or-b', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y') }, { podSelector: podSel('b') }] }] })] },
  { name: 'ipblock-except', objs: [np('x', 'allow-node-2-pods', { podSelector: podSel('a'), ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.0.0/24'] } }] }] })] },
  { name: 'named-port', objs: [np('x', 'allow-81-by-name', { podSelector: podSel('a'), ingress: [{ ports: [{ port: 'serve-81-tcp' }, { port: 'serve-80-udp', protocol: 'UDP' }] }] })] },
  { name: 'end-port', objs: [np('x', 'allow-80-81-udp', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 80, endPort: 81, protocol: 'UDP' }] }] })] },
  { name: 'egress', objs: [np('x', 'egress-to-y-b-80', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsSel('y'), podSelector: podSel('b') }], ports: [{ port: 80 }] }] })] },
  {
    // Both policyTypes on the same pods: kube-router's single unqualified jump would let x/a's
    // egress pass through the ingress rule that admits x pods (see render.ts).
    name: 'both-types',
    objs: [np('x', 'ingress-from-x-no-egress', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ podSelector: {} }] }] })],
  },
  {
    name: 'anp-banp',
    objs: [
      anp('x-tier', 10, { subject: { namespaces: nsSel('x') }, ingress: [{ name: 'pass-y', action: 'Pass', from: [{ namespaces: nsSel('y') }] }, { name: 'deny-z', action: 'Deny', from: [{ namespaces: nsSel('z') }] }] }),
      anp('allow-y-81', 20, { subject: { namespaces: nsSel('x') }, ingress: [{ name: 'y-81', action: 'Allow', from: [{ namespaces: nsSel('y') }], ports: [{ portNumber: { protocol: 'TCP', port: 81 } }] }] }),
      anp('allow-x-to-z', 30, { subject: { pods: { namespaceSelector: nsSel('z'), podSelector: podSel('c') } }, ingress: [{ name: 'from-x', action: 'Allow', from: [{ namespaces: nsSel('x') }] }] }),
      np('x', 'only-from-x', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }),
      np('z', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }),
      banp({ subject: { namespaces: nsSel('y') }, ingress: [{ name: 'deny-z', action: 'Deny', from: [{ namespaces: nsSel('z') }] }] }),
    ],
  },
];

function matrixAgrees(c: NetpolCluster): { mismatches: string[]; allowed: number; denied: number } {
  const probes = allPairs(PORTS);
  const got = probe(c, probes);
  const mismatches: string[] = [];
  let allowed = 0, denied = 0;
  probes.forEach((p, i) => {
    const want = verdictOf(c, p);
    if (want) allowed++; else denied++;
    const ok = want ? got[i] === 'reply' : got[i] === 'refused' || got[i] === 'dropped';
    if (!ok) mismatches.push(`${p.from} -> ${p.to} ${p.port}/${p.protocol}: evaluator ${want ? 'allows' : 'denies'}, packets ${got[i]}`);
  });
  return { mismatches, allowed, denied };
}

describe('kube-router rules on the e2e model', () => {
  for (const k of CASES) {
    it(`${k.name}: rendered rules (golden) and packets = evaluator for every pair`, async () => {
      const c = e2eCluster();
      apply(c, ...k.objs);
      expect(c.informer.problems).toEqual([]);
      await expect(savedRules(c, 'node-1')).toMatchFileSnapshot(`golden/${k.name}.node-1.rules`);
      const m = matrixAgrees(c);
      expect(m.mismatches).toEqual([]);
      expect(m.denied).toBeGreaterThan(0);
      expect(m.allowed).toBeGreaterThan(0);
    }, 60_000);
  }

  it('no policies: everything is allowed, through the default chains', () => {
    const c = e2eCluster();
    const m = matrixAgrees(c);
    expect(m.mismatches).toEqual([]);
    expect(m.denied).toBe(0);
  }, 60_000);
});

describe('connections and replies', () => {
  it('an allowed connection carries data both ways (conntrack lets the replies through); denied ones are refused across nodes and on the same node (the REJECT\'s ICMP error is RELATED to the connection it answers: kernel-checked)', () => {
    const c = e2eCluster();
    apply(c, np('x', 'allow-y-b', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y'), podSelector: podSel('b') }] }] }));
    const out = probe(c, [
      { from: 'y/b', to: 'x/a', port: 80, protocol: 'TCP' }, // allowed, same node (bridged)
      { from: 'y/c', to: 'x/a', port: 80, protocol: 'TCP' }, // denied, cross-node
      { from: 'y/a', to: 'x/a', port: 80, protocol: 'TCP' }, // denied, same node
      { from: 'y/b', to: 'x/a', port: 81, protocol: 'UDP' }, // allowed: the UDP echo is the reply
    ]);
    expect(out).toEqual(['reply', 'refused', 'refused', 'reply']);
  });

  it('each change is a new full sync (new chain names; existing sets refreshed through TMP sets with their saved options); deleting a policy removes its chains and ipsets', () => {
    const c = e2eCluster();
    const before = c.agents.get('node-1')!.syncs;
    apply(c, np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }));
    expect(c.agents.get('node-1')!.syncs).toBe(before + 1);
    expect(savedRules(c, 'node-1')).toContain('x/deny-all policy');
    const first = c.agents.get('node-1')!.last!.chains.slice();
    apply(c, np('x', 'allow-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] }));
    expect(c.agents.get('node-1')!.last!.chains.some((ch) => first.includes(ch))).toBe(false);
    expect(c.cl.nodes.get('node-1')!.configCommands().join('\n')).toMatch(/create TMP-[A-Z2-7]{16} hash:ip family inet hashsize 1024 maxelem 65536 timeout 0 bucketsize 12\n/);
    expect(probe(c, [{ from: 'y/c', to: 'x/a', port: 80, protocol: 'TCP' }, { from: 'z/c', to: 'x/a', port: 80, protocol: 'TCP' }])).toEqual(['reply', 'refused']);
    c.cl.store.delete('NetworkPolicy', 'x', 'allow-y');
    c.cl.store.delete('NetworkPolicy', 'x', 'deny-all');
    c.advance(1e6);
    const saved = savedRules(c, 'node-1');
    expect(saved).not.toContain('x/deny-all');
    expect(saved).not.toContain('KUBE-DST-');
    expect(probe(c, [{ from: 'y/a', to: 'x/a', port: 80, protocol: 'TCP' }])).toEqual(['reply']);
    const log = c.cl.nodes.get('node-1')!.configCommands().join('\n');
    expect(log).toContain("ipset restore -exist <<'EOF'");
    expect(log).toContain('ipset destroy KUBE-DST-');
    expect(log).toContain("iptables-restore --noflush <<'EOF'");
  });
});

describe('traces name the policies', () => {
  it('the REJECT line and the drop of a denied packet say which policies isolate the pod and that none admits the flow', () => {
    const sink = new MemorySink();
    const c = e2eCluster({ trace: sink });
    apply(c, np('y', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }), np('y', 'allow-frontend', { podSelector: podSel('b'), ingress: [{ from: [{ podSelector: podSel('frontend') }] }] }));
    sink.events.length = 0;
    expect(probe(c, [{ from: 'x/c', to: 'y/b', port: 81, protocol: 'TCP' }])).toEqual(['refused']);
    const why = 'y/b is isolated for ingress by y/deny-all, y/allow-frontend; no rule of [y/deny-all, y/allow-frontend] admits x/c:81/TCP';
    const drop = sink.events.find((e) => e.stage === 'drop' && e.detail.includes('FORWARD'));
    expect(drop?.detail).toBe(`iptables filter FORWARD dropped it: ${why}`);
    expect(sink.events.some((e) => e.stage === 'nf.rule' && e.detail.includes('-j REJECT') && e.detail.endsWith(`→ DROP (${why})`))).toBe(true);
  });

  it('an ANP Deny names the AdminNetworkPolicy and its rule', () => {
    const sink = new MemorySink();
    const c = e2eCluster({ trace: sink });
    apply(c, anp('x-tier', 10, { subject: { namespaces: nsSel('x') }, ingress: [{ name: 'deny-z', action: 'Deny', from: [{ namespaces: nsSel('z') }] }] }));
    sink.events.length = 0;
    expect(probe(c, [{ from: 'z/c', to: 'x/a', port: 80, protocol: 'UDP' }])).toEqual(['refused']);
    const drop = sink.events.find((e) => e.stage === 'drop' && e.detail.includes('FORWARD'));
    expect(drop?.detail).toBe('iptables filter FORWARD dropped it: x/a: AdminNetworkPolicy x-tier (priority 10) ingress rule deny-z denies z/c:80/UDP');
  });
});
