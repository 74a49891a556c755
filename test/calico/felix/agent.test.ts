/**
 * felix's policy agent on its nodes, driven through the ObjectStore: syncs
 * follow watch events, stale policy chains and sets go, the commands are
 * logged, traces name the policies behind a DROP, host ↔ workload paths
 * (cali-wl-to-host, cali-OUTPUT), natOutgoing masquerade, and the selector
 * text and ipset names felix derives.
 */
import * as nodeCrypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NfHook } from '../../../src/kernel/hooks.js';
import { MemorySink } from '../../../src/trace/render.js';
import { iptablesRestore, iptablesSaveText, netfilterOf } from '../../../src/netfilter/index.js';
import { ipv4Saddr } from '../../../src/wire/ipv4.js';
import { ipToString } from '../../../src/wire/bytes.js';
import { npPeerSelector, anpPeerSelector, selectorSet, selectorString, uniqueId, ipsetName, renderFelix, DEFAULT_FELIX_CONFIG } from '../../../src/calico/felix/index.js';
import { dispatchTree } from '../../../src/calico/felix/render.js';
import { workloadInterfaceName } from '../../../src/calico/names.js';
import { policyManifest, type GenCluster } from '../../netpol/gen-cluster.js';
import { felixCluster, hop, probe, skbFor, twoNodeCluster, type FelixCluster } from './helpers.js';

const cluster = twoNodeCluster;

const advance = (f: FelixCluster, ns = 1e6) => f.world.sched.run(f.world.now + ns);
let sport = 40000;
const passes = (f: FelixCluster, from: string, to: string, port: number) => probe(f, from, to, port, 'TCP', sport++).forward;

describe('felix agent: syncs from the store', () => {
  it('a policy created, then deleted: packets follow, stale chains and sets are removed', () => {
    const f = felixCluster(cluster());
    expect(passes(f, 'y/c', 'x/a', 80)).toBe(true);
    const pol = policyManifest({ ns: 'x', name: 'only-client', spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 'http' }] }] } });
    f.store.create(pol);
    advance(f);
    expect(f.nodes[0]!.agent.syncs).toBe(2);
    expect(passes(f, 'y/c', 'x/a', 80)).toBe(true);
    expect(passes(f, 'x/b', 'x/a', 80)).toBe(false);
    expect(passes(f, 'x/a', 'x/b', 81)).toBe(true);
    const save = iptablesSaveText(f.nodes[0]!.node, 'host');
    expect(save).toContain(':cali-pi-knp/x/only-client - [0:0]');
    const sets = netfilterOf(f.nodes[0]!.node.host).nf.ipsets;
    const nsSet = selectorSet(npPeerSelector('x', undefined, { matchLabels: { team: 'b' } })).name;
    expect(sets.has(nsSet)).toBe(true);
    f.store.delete('NetworkPolicy', 'x', 'only-client');
    advance(f);
    expect(passes(f, 'x/b', 'x/a', 80)).toBe(true);
    expect(iptablesSaveText(f.nodes[0]!.node, 'host')).not.toContain('cali-pi-knp/x/only-client');
    expect(sets.has(nsSet)).toBe(false);
  });

  it('a node without the policy\'s pods programs no policy chain; minSyncPeriod folds events into one sync', () => {
    const f = felixCluster(cluster(), { cfg: {} });
    for (const n of f.nodes) n.agent.cfg = { ...n.agent.cfg, minSyncPeriod: 5e9 };
    f.store.create(policyManifest({ ns: 'x', name: 'p1', spec: { podSelector: { matchLabels: { app: 'db' } } } }));
    f.store.create(policyManifest({ ns: 'x', name: 'p2', spec: { podSelector: { matchLabels: { app: 'web' } } } }));
    advance(f, 1e9);
    expect(f.nodes[0]!.agent.syncs).toBe(1);
    advance(f, 5e9);
    expect(f.nodes[0]!.agent.syncs).toBe(2);
    expect(f.nodes[0]!.agent.last!.policyChains.map((p) => p.chain)).toEqual(['cali-pi-knp/x/p1', 'cali-pi-knp/x/p2']);
    expect(f.nodes[1]!.agent.last!.policyChains).toEqual([]);
  });

  it('logs ipset restore, iptables-restore --noflush and ipset destroy as the commands they stand for', () => {
    const f = felixCluster(cluster());
    f.store.create(policyManifest({ ns: 'x', name: 'p', spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }] } }));
    advance(f);
    f.store.delete('NetworkPolicy', 'x', 'p');
    advance(f);
    const log = f.nodes[0]!.node.configLog.map((e) => (typeof e === 'string' ? e : [e()].flat().join('\n'))).join('\n');
    expect(log).toContain("ipset restore <<'EOF'\ncreate cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576\n");
    expect(log).toContain('swap cali4t0 cali40this-host');
    expect(log).toContain("iptables-restore --noflush <<'EOF'\n*filter\n:cali-");
    expect(log).toContain('-X cali-pi-knp/x/p');
    expect(log).toMatch(/ipset destroy cali40s:/);
  });

  it('keeps its jump first in the built-in chains and its two FORWARD rules last when another agent writes around them', () => {
    const f = felixCluster(cluster());
    const n = f.nodes[0]!.node;
    iptablesRestore(n, 'host', '*filter\n:OTHER - [0:0]\n-I FORWARD 1 -j OTHER\n-A FORWARD -j OTHER\n-I INPUT 1 -j OTHER\nCOMMIT\n', { noflush: true });
    f.nodes[0]!.agent.sync();
    const fwd = iptablesSaveText(n, 'host').split('\n').filter((l) => l.startsWith('-A FORWARD ') || l.startsWith('-A INPUT '));
    expect(fwd.map((l) => l.replace(/"cali:[^"]+"/, '"cali:…"'))).toEqual([
      '-A INPUT -m comment --comment "cali:…" -j cali-INPUT',
      '-A INPUT -j OTHER',
      '-A FORWARD -m comment --comment "cali:…" -j cali-FORWARD',
      '-A FORWARD -j OTHER',
      '-A FORWARD -j OTHER',
      '-A FORWARD -m comment --comment "cali:…" -m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
      '-A FORWARD -m comment --comment "cali:…" -j MARK --set-xmark 0x10000/0x10000',
    ]);
    // A sync with nothing out of place changes nothing in the built-in chains.
    const before = iptablesSaveText(n, 'host');
    f.nodes[0]!.agent.sync();
    expect(iptablesSaveText(n, 'host')).toBe(before);
  });

  it('learns endpoints from the store: a new pod on the node gets its dispatch entries and chains', () => {
    const f = felixCluster(cluster());
    f.store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'd', namespace: 'y', labels: {} }, spec: { nodeName: 'node-1', serviceAccountName: 'builder', containers: [{ name: 'c', image: 'i' }] }, status: { phase: 'Running', podIP: '10.244.0.9', hostIP: '192.168.1.11' } });
    advance(f);
    const iface = workloadInterfaceName('y', 'd');
    const save = iptablesSaveText(f.nodes[0]!.node, 'host');
    expect(save).toContain(`-A cali-to-wl-dispatch -o ${iface} `);
    expect(save).toContain(`-g cali-tw-${iface}`);
    expect(save).toContain(`:cali-pri-kns.y - [0:0]`);
    expect(save).toContain(`-A cali-tw-${iface} -m comment --comment "cali:`);
    expect(save).toMatch(new RegExp(`-A cali-tw-${iface} -m comment --comment "cali:[^"]+" -j cali-pri-ksa\\.y\\.builder`));
    expect(save).toMatch(/-A cali-pri-ksa\.y\.builder -m comment --comment "cali:[^"]+" -m comment --comment "Profile ksa\.y\.builder ingress"\n/);
    expect(iptablesSaveText(f.nodes[1]!.node, 'host')).not.toContain(iface);
  });
});

describe('felix match blocks (policy.go matchBlockBuilder)', () => {
  it('more than 15 multiport slots and a named port: a port block over the scratch bits, with an ipBlock except as a negated block after it', () => {
    const c = cluster();
    c.pods[0]!.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
    const ports = [...Array.from({ length: 14 }, (_, i) => ({ port: 1000 + 2 * i })), { port: 2000, endPort: 2010 }, { port: 3000 }, { port: 'http' }];
    c.policies = [{ ns: 'x', name: 'many-ports', spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.0.3/32'] } }], ports }] } }];
    const f = felixCluster(c);
    const pc = f.nodes[0]!.agent.last!.policyChains[0]!.chain;
    const lines = iptablesSaveText(f.nodes[0]!.node, 'host').split('\n').filter((l) => l.startsWith(`-A ${pc} `)).map((l) => l.replace(/-m comment --comment "cali:[^"]+" /, ''));
    expect(lines).toEqual([
      `-A ${pc} -m comment --comment "KubernetesNetworkPolicy x/many-ports ingress" -j MARK --set-xmark 0x0/0x180000`,
      `-A ${pc} -p tcp -m multiport --dports 1000,1002,1004,1006,1008,1010,1012,1014,1016,1018,1020,1022,1024,1026 -j MARK --set-xmark 0x80000/0x80000`,
      `-A ${pc} -p tcp -m multiport --dports 2000:2010,3000 -j MARK --set-xmark 0x80000/0x80000`,
      expect.stringMatching(new RegExp(`^-A ${pc.replace(/[/.]/g, '\\$&')} -m set --match-set cali40n:\\S+ dst,dst -j MARK --set-xmark 0x80000/0x80000$`)),
      `-A ${pc} -s 10.244.0.3/32 -j MARK --set-xmark 0x0/0x80000`,
      `-A ${pc} -s 10.244.0.0/16 -p tcp -m mark --mark 0x80000/0x80000 -j MARK --set-xmark 0x10000/0x10000`,
    ]);
    // y/c (10.244.1.2) may reach x/a on the listed ports and on http (80); x/b (10.244.0.3) is excepted.
    for (const [port, want] of [[1026, true], [1027, false], [2005, true], [3000, true], [80, true], [81, false]] as const)
      expect([port, passes(f, 'y/c', 'x/a', port)]).toEqual([port, want]);
    expect(passes(f, 'x/b', 'x/a', 1000)).toBe(false);
  });

  it('several destination networks (ANP networks peer): a positive block; a second positive block goes through scratch1', () => {
    const c = cluster();
    const f = felixCluster(c, { extra: [{ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: 'nets' }, spec: { priority: 1, subject: { namespaces: {} }, egress: [
      { name: 'deny-nets', action: 'Deny', to: [{ networks: ['10.244.1.0/24', '192.168.1.12/32'] }], ports: [...Array.from({ length: 16 }, (_, i) => ({ portNumber: { protocol: 'TCP', port: 100 + i } })), { portNumber: { protocol: 'TCP', port: 80 } }] },
    ] } }] });
    expect(f.informer.problems).toEqual([]);
    const pc = f.nodes[0]!.agent.last!.policyChains.find((p) => p.kind === 'kanp')!.chain;
    const lines = iptablesSaveText(f.nodes[0]!.node, 'host').split('\n').filter((l) => l.startsWith(`-A ${pc} `)).map((l) => l.replace(/-m comment --comment "cali:[^"]+" /, ''));
    expect(lines).toEqual([
      `-A ${pc} -m comment --comment "KubernetesAdminNetworkPolicy nets egress" -j MARK --set-xmark 0x0/0x180000`,
      // ANP ports stay in the order given (15 slots per multiport match).
      `-A ${pc} -p tcp -m multiport --dports 100,101,102,103,104,105,106,107,108,109,110,111,112,113,114 -j MARK --set-xmark 0x80000/0x80000`,
      `-A ${pc} -p tcp -m multiport --dports 115,80 -j MARK --set-xmark 0x80000/0x80000`,
      `-A ${pc} -d 10.244.1.0/24 -j MARK --set-xmark 0x100000/0x100000`,
      `-A ${pc} -d 192.168.1.12/32 -j MARK --set-xmark 0x100000/0x100000`,
      `-A ${pc} -m mark --mark 0x0/0x100000 -j MARK --set-xmark 0x0/0x80000`,
      `-A ${pc} -p tcp -m mark --mark 0x80000/0x80000 -j MARK --set-xmark 0x40000/0x40000`,
      `-A ${pc} -m mark --mark 0x40000/0x40000 -j DROP`,
    ]);
    expect(passes(f, 'x/a', 'y/c', 80)).toBe(false);
    expect(passes(f, 'x/a', 'y/c', 81)).toBe(true);
    expect(passes(f, 'x/a', 'x/b', 80)).toBe(true);
  });
});

describe('felix dispatch tree', () => {
  it('bins interface names by the character after their common prefix (dispatch.go)', () => {
    expect(dispatchTree(['cali1c', 'cali0b', 'cali0a'])).toEqual({ common: 'cali', bins: [{ prefix: 'cali0', names: ['cali0a', 'cali0b'] }, { prefix: 'cali1', names: ['cali1c'] }] });
    expect(dispatchTree(['calixy'])).toEqual({ common: 'calixy', bins: [{ prefix: 'calixy', names: ['calixy'] }] });
  });

  it('24 endpoints on one node: child chains per first hex digit, every packet reaches its own endpoint chain', () => {
    const c: GenCluster = { nodes: 2, namespaces: [{ name: 'x', labels: {} }], pods: [], policies: [{ ns: 'x', name: 'deny-odd', spec: { podSelector: { matchLabels: { odd: 'yes' } }, policyTypes: ['Ingress'] } }] };
    for (let i = 0; i < 24; i++) c.pods.push({ ns: 'x', name: `p${i}`, node: 0, labels: i % 2 ? { odd: 'yes' } : {}, ports: [{ port: 80, protocol: 'TCP' }] });
    c.pods.push({ ns: 'x', name: 'client', node: 1, labels: {}, ports: [{ port: 80, protocol: 'TCP' }] });
    const f = felixCluster(c);
    const save = iptablesSaveText(f.nodes[0]!.node, 'host');
    const children = save.split('\n').filter((l) => /^:cali-to-wl-dispatch-[0-9a-f] /.test(l));
    expect(children.length).toBeGreaterThan(3);
    expect(save).toMatch(/-A cali-to-wl-dispatch -o cali[0-9a-f]\+ -m comment --comment "cali:[^"]+" -g cali-to-wl-dispatch-[0-9a-f]/);
    for (let i = 0; i < 24; i++) expect(passes(f, 'x/client', `x/p${i}`, 80)).toBe(i % 2 === 0);
  });
});

describe('felix agent: host paths and NAT', () => {
  it('host → local workload is not policed (cali-OUTPUT returns for -o cali+); workload → host goes through egress policy and DefaultEndpointToHostAction', () => {
    const c = cluster();
    c.policies = [
      { ns: 'x', name: 'deny-in', spec: { podSelector: {}, policyTypes: ['Ingress'] } },
      { ns: 'x', name: 'egress-only-db', spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] } },
    ];
    for (const action of ['ACCEPT', 'DROP'] as const) {
      const f = felixCluster(c, { cfg: { defaultEndpointToHostAction: action } });
      const n = f.nodes[0]!.node, st = n.host.stack;
      const devA = n.host.device(workloadInterfaceName('x', 'a'))!, devB = n.host.device(workloadInterfaceName('x', 'b'))!;
      // host → x/b (ingress deny-all): OUTPUT returns for cali+, the packet passes.
      const out = skbFor('192.168.1.11', '10.244.0.3', 50000, 81, 'TCP', 0x02);
      expect(st.hook(NfHook.LOCAL_OUT, out, null, devB) && st.hook(NfHook.POST_ROUTING, out, null, devB)).toBe(true);
      // x/b → host: no egress policy on b, so the action decides.
      const inB = skbFor('10.244.0.3', '192.168.1.11', 50001, 22, 'TCP', 0x02);
      expect(st.hook(NfHook.PRE_ROUTING, inB, devB, null) && st.hook(NfHook.LOCAL_IN, inB, devB, null)).toBe(action === 'ACCEPT');
      // x/a → host: a's egress policy admits only db pods, so it is dropped in cali-fw- whatever the action.
      const inA = skbFor('10.244.0.2', '192.168.1.11', 50002, 22, 'TCP', 0x02);
      expect(st.hook(NfHook.PRE_ROUTING, inA, devA, null) && st.hook(NfHook.LOCAL_IN, inA, devA, null)).toBe(false);
    }
  });

  it('natOutgoing: pool traffic to outside the pools is masqueraded to the node address, to another pool it is not; tunl0 rule with IPIP', () => {
    const f = felixCluster(cluster(), { cfg: { ipip: true, pools: [{ cidr: '10.244.0.0/16', natOutgoing: true, disabled: false }, { cidr: '10.250.0.0/16', natOutgoing: false, disabled: false }] } });
    const fn = f.nodes[0]!, dev = fn.node.host.device(workloadInterfaceName('x', 'a'))!;
    const out = skbFor('10.244.0.2', '8.8.8.8', 50000, 53, 'UDP', 0);
    expect(hop(fn.node, out, dev, fn.eth0)).toBe(true);
    expect(ipToString(ipv4Saddr(out.buf, out.nh))).toBe('192.168.1.11');
    const inPool = skbFor('10.244.0.2', '10.250.0.7', 50001, 53, 'UDP', 0);
    expect(hop(fn.node, inPool, dev, fn.eth0)).toBe(true);
    expect(ipToString(ipv4Saddr(inPool.buf, inPool.nh))).toBe('10.244.0.2');
    const save = iptablesSaveText(fn.node, 'host');
    expect(save).toContain('-A cali-POSTROUTING -o tunl0 -m comment');
    expect(save).toMatch(/-A cali-nat-outgoing -m comment --comment "cali:[^"]+" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE/);
    // IPIP from a Calico host is accepted by cali-INPUT, from elsewhere dropped.
    const st = fn.node.host.stack;
    const ipip = (src: string) => {
      const s = skbFor(src, '192.168.1.11', 0, 0, 'UDP', 0);
      s.buf[s.nh + 9] = 4;
      return st.hook(NfHook.PRE_ROUTING, s, fn.eth0, null) && st.hook(NfHook.LOCAL_IN, s, fn.eth0, null);
    };
    expect(ipip('192.168.1.12')).toBe(true);
    expect(ipip('192.168.1.99')).toBe(false);
  });

  it('VXLAN on: VXLAN from a Calico host is accepted by cali-INPUT, from elsewhere dropped; to a Calico host accepted by cali-OUTPUT', () => {
    const f = felixCluster(cluster(), { cfg: { vxlan: true } });
    const fn = f.nodes[0]!, st = fn.node.host.stack;
    const vxlanIn = (src: string) => {
      const s = skbFor(src, '192.168.1.11', 40000, 4789, 'UDP', 0);
      return st.hook(NfHook.PRE_ROUTING, s, fn.eth0, null) && st.hook(NfHook.LOCAL_IN, s, fn.eth0, null);
    };
    expect(vxlanIn('192.168.1.12')).toBe(true);
    expect(vxlanIn('192.168.1.99')).toBe(false);
    const out = skbFor('192.168.1.11', '192.168.1.12', 40001, 4789, 'UDP', 0);
    expect(st.hook(NfHook.LOCAL_OUT, out, null, fn.eth0) && st.hook(NfHook.POST_ROUTING, out, null, fn.eth0)).toBe(true);
    expect(iptablesSaveText(fn.node, 'host')).toContain('-A cali-POSTROUTING -o vxlan.calico -m comment');
  });

  it('updateConfig: a pool that turns natOutgoing on takes effect at the next sync', () => {
    const f = felixCluster(cluster(), { cfg: { pools: [{ cidr: '10.244.0.0/16', natOutgoing: false, disabled: false }] } });
    const fn = f.nodes[0]!, dev = fn.node.host.device(workloadInterfaceName('x', 'a'))!;
    fn.agent.updateConfig({ pools: [{ cidr: '10.244.0.0/16', natOutgoing: true, disabled: false }] });
    advance(f);
    const out = skbFor('10.244.0.2', '8.8.8.8', 50000, 53, 'UDP', 0);
    expect(hop(fn.node, out, dev, fn.eth0)).toBe(true);
    expect(ipToString(ipv4Saddr(out.buf, out.nh))).toBe('192.168.1.11');
    expect(fn.agent.syncs).toBe(2);
  });

  it('without a natOutgoing pool cali-nat-outgoing is empty and nothing is masqueraded', () => {
    const f = felixCluster(cluster(), { cfg: { pools: [{ cidr: '10.244.0.0/16', natOutgoing: false, disabled: false }] } });
    const fn = f.nodes[0]!, dev = fn.node.host.device(workloadInterfaceName('x', 'a'))!;
    const out = skbFor('10.244.0.2', '8.8.8.8', 50000, 53, 'UDP', 0);
    expect(hop(fn.node, out, dev, fn.eth0)).toBe(true);
    expect(ipToString(ipv4Saddr(out.buf, out.nh))).toBe('10.244.0.2');
  });
});

describe('felix agent: traces name the policies behind a DROP', () => {
  it('the end-of-tier DROP of a NetworkPolicy tier and an ANP Deny', () => {
    const c = cluster();
    c.policies = [{ ns: 'x', name: 'deny-all', spec: { podSelector: {}, policyTypes: ['Ingress'] } }];
    const f = felixCluster(c, { extra: [{ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: 'no-db' }, spec: { priority: 5, subject: { namespaces: {} }, egress: [{ name: 'deny-db', action: 'Deny', to: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } } }] }] } }] });
    const sink = new MemorySink();
    f.world.trace = sink;
    expect(passes(f, 'y/c', 'x/a', 80)).toBe(false);
    let drop = sink.events.find((e) => e.stage === 'drop');
    expect(drop?.detail).toBe('iptables filter FORWARD dropped it: x/a is isolated for ingress by x/deny-all; no rule of [x/deny-all] admits y/c:80/TCP');
    expect(sink.events.some((e) => e.stage === 'nf.rule' && e.detail.includes('End of tier default. Drop if no policies passed packet'))).toBe(true);
    sink.events.length = 0;
    expect(passes(f, 'x/a', 'x/b', 81)).toBe(false);
    drop = sink.events.find((e) => e.stage === 'drop');
    expect(drop?.detail).toBe('iptables filter FORWARD dropped it: x/a: AdminNetworkPolicy no-db (priority 5) egress rule deny-db denies x/b:81/TCP');
  });
});

describe('felix agent: other DROPs say what they are; ACCEPT lines carry nothing', () => {
  it('a workload\'s VXLAN packet is dropped by the encapsulation guard; a reply accepted by conntrack has no policy text', () => {
    const c = cluster();
    c.policies = [{ ns: 'y', name: 'deny-in', spec: { podSelector: {}, policyTypes: ['Ingress'] } }];
    const f = felixCluster(c);
    const sink = new MemorySink();
    f.world.trace = sink;
    const fn = f.nodes[0]!, dev = fn.node.host.device(workloadInterfaceName('x', 'a'))!;
    expect(hop(fn.node, skbFor('10.244.0.2', '192.168.1.50', 40000, 4789, 'UDP', 0), dev, fn.eth0)).toBe(false);
    expect(sink.events.find((e) => e.stage === 'drop')?.detail).toBe('iptables filter FORWARD dropped it: felix drops VXLAN (UDP 4789) packets sent by a workload (AllowVXLANPacketsFromWorkloads is off)');
    sink.events.length = 0;
    // x/a → y/c is denied by y's policy, but y/c → x/a is allowed and its reply passes x/a's ESTABLISHED accept.
    expect(probe(f, 'y/c', 'x/a', 80, 'TCP', 41000)).toEqual({ forward: true, reply: true });
    const accepts = sink.events.filter((e) => e.stage === 'nf.rule' && e.detail.includes('RELATED,ESTABLISHED'));
    expect(accepts.length).toBeGreaterThan(0);
    expect(accepts.some((e) => e.detail.includes('isolated'))).toBe(false);
  });
});

describe('felix selectors and ipset names', () => {
  it('k8s peers become Calico selector text in the parser\'s canonical form', () => {
    expect(selectorString(npPeerSelector('x', {}, undefined))).toBe('(projectcalico.org/namespace == "x" && projectcalico.org/orchestrator == "k8s")');
    expect(selectorString(npPeerSelector('x', { matchLabels: { tier: 'b', app: 'a' } }, undefined)))
      .toBe('(projectcalico.org/namespace == "x" && (projectcalico.org/orchestrator == "k8s" && app == "a" && tier == "b"))');
    expect(selectorString(npPeerSelector('x', undefined, {}))).toBe('(has(projectcalico.org/namespace) && projectcalico.org/orchestrator == "k8s")');
    expect(selectorString(npPeerSelector('x', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web', 'db'] }, { key: 'k', operator: 'DoesNotExist' }] }, { matchLabels: { team: 'b' }, matchExpressions: [{ key: 'env', operator: 'Exists' }] })))
      .toBe('((pcns.team == "b" && has(pcns.env)) && (projectcalico.org/orchestrator == "k8s" && app not in {"db", "web"} && !has(k)))');
    expect(selectorString(anpPeerSelector({ matchLabels: { team: 'a' } }))).toBe('pcns.team == "a"');
    expect(selectorString(anpPeerSelector({}, { matchLabels: { app: 'x' } }))).toBe('(has(projectcalico.org/namespace) && (projectcalico.org/orchestrator == "k8s" && app == "x"))');
  });

  it('set ids are MakeUniqueID("s", text) and names cali40 + id cut to 31 characters', () => {
    const text = '(projectcalico.org/namespace == "x" && projectcalico.org/orchestrator == "k8s")';
    const digest = nodeCrypto.createHash('sha224').update(`s:${text}`).digest('base64url');
    expect(uniqueId('s', text)).toBe(`s:${digest}`);
    const s = selectorSet(npPeerSelector('x', {}, undefined));
    expect(s.id).toBe(`s:${digest}`);
    expect(s.name).toBe(`cali40s:${digest}`.slice(0, 31));
    expect(s.name).toHaveLength(31);
    expect(ipsetName('all-ipam-pools')).toBe('cali40all-ipam-pools');
  });

  it('UIDs and canonical text agree with libcalico-go\'s parser test fixtures', () => {
    expect(uniqueId('s', selectorString({ k: 'all' }))).toBe('s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug');
    expect(uniqueId('s', '!(has(b) || !has(a))')).toBe('s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q');
    expect(uniqueId('s', '!(a == "b" && !c != "d")')).toBe('s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w');
    // Set items sorted and de-duplicated; a value holding a double quote is single-quoted.
    expect(selectorString({ k: 'in', label: 'a', values: ['z', 'z', 'x', 'y', 'x', 'a'] })).toBe('a in {"a", "x", "y", "z"}');
    expect(selectorString({ k: 'eq', label: 'a', value: '"' })).toBe(`a == '"'`);
    // Nested AND groups stay nested, as the parser keeps a parenthesised operand.
    expect(selectorString({ k: 'and', of: [{ k: 'and', of: [{ k: 'eq', label: 'k', value: 'v' }, { k: 'has', label: 't' }] }, { k: 'in', label: 'a', values: ['b', 'c'] }] }))
      .toBe('((k == "v" && has(t)) && a in {"b", "c"})');
  });

  it('a policy id longer than the chain budget is hashed as felix does (names.ts)', () => {
    const c = cluster();
    c.policies = [{ ns: 'x', name: 'a-rather-long-policy-name', spec: { podSelector: {}, policyTypes: ['Ingress'] } }];
    const f = felixCluster(c);
    const r = renderFelix(f.informer.cluster(), { ...DEFAULT_FELIX_CONFIG, nodeName: 'node-1', nodeIPs: ['192.168.1.11'] });
    const pc = r.policyChains[0]!.chain;
    expect(pc).toMatch(/^cali-pi-_[A-Za-z0-9_-]{19}$/);
    expect(pc).toHaveLength(28);
  });
});
