/**
 * Policies in scenarios: NetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy
 * manifests (validated by src/kube, typed value kept, errors at file:line:col), the
 * policy-apply / policy-delete events, and what the control plane's store holds over a
 * run — with kube-proxy and without it (the control plane is then the apiserver alone).
 * The bad inputs, one error each, are test/fixtures/bad/netpol-*.yaml and anp-*.yaml.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/scenario/errors.js';
import { loadScenario, parseScenario } from '../../src/scenario/load.js';
import { runScenario } from '../../src/scenario/run.js';
import { MemorySink } from '../../src/trace/render.js';
import type { OtherManifest } from '../../src/scenario/types.js';
import type { Obj } from '../../src/kube/object.js';

function err(text: string, f = 's.yaml'): string {
  try {
    parseScenario(text, f);
    return 'OK';
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
}

const cluster = (kubeProxy: 'none' | 'iptables') => `cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: bridge}
  kubeProxy: {mode: ${kubeProxy}}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24, podCIDR: 10.244.0.0/24}
`;

const PODS = `  - |
    apiVersion: v1
    kind: Pod
    metadata: {name: web, namespace: x, labels: {app: web}}
    spec:
      nodeName: node-1
      containers: [{name: web, image: nginx, ports: [{containerPort: 80, name: http}]}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: client, namespace: y}
    spec:
      nodeName: node-1
      containers: [{name: c, image: busybox}]
`;

const POLICIES = `  - apiVersion: v1
    kind: Namespace
    metadata: {name: x, labels: {team: web}}
  - |
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny-all, namespace: x}
    spec: {podSelector: {}}
  - |
    apiVersion: policy.networking.k8s.io/v1alpha1
    kind: AdminNetworkPolicy
    metadata: {name: pass-web}
    spec:
      priority: 5
      subject: {namespaces: {matchLabels: {team: web}}}
      ingress: [{name: pass, action: Pass, from: [{namespaces: {}}]}]
  - |
    apiVersion: policy.networking.k8s.io/v1alpha1
    kind: BaselineAdminNetworkPolicy
    metadata: {name: default}
    spec:
      subject: {namespaces: {}}
      ingress: [{action: Deny, from: [{namespaces: {}}]}]
`;

const EVENTS = `events:
  - at: 1s
    kind: policy-apply
    manifest: |
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: allow-y, namespace: x}
      spec:
        podSelector: {matchLabels: {app: web}}
        ingress: [{from: [{namespaceSelector: {}}], ports: [{port: http}]}]
  - at: 2s
    kind: policy-apply
    manifest:
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: deny-all, namespace: x}
      spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
  - {at: 3s, kind: policy-delete, policy: AdminNetworkPolicy/pass-web}
  - {at: 3s, kind: policy-delete, policy: NetworkPolicy/x/allow-y}
  - {at: 4s, kind: policy-delete, policy: BaselineAdminNetworkPolicy/default}
`;

const TRAFFIC = `traffic:
  - {name: late, at: 5s, from: pod/y/client, to: pod/x/web, protocol: tcp, port: 80}
`;

const scenario = (kubeProxy: 'none' | 'iptables', extra = '') => `name: np\n${cluster(kubeProxy)}manifests:\n${PODS}${POLICIES}${extra}${EVENTS}${TRAFFIC}`;

describe('policy manifests', () => {
  const s = parseScenario(scenario('none'), 's.yaml');
  const pol = s.manifests.filter((m) => m.kind !== 'Pod' && (m as OtherManifest).policy) as OtherManifest[];

  it('are validated and defaulted by src/kube, the typed object kept beside the body as written', () => {
    expect(pol.map((m) => `${m.kind} ${m.namespace ?? '-'}/${m.name}`)).toEqual([
      'NetworkPolicy x/deny-all', 'AdminNetworkPolicy -/pass-web', 'BaselineAdminNetworkPolicy -/default',
    ]);
    const np = pol[0]!.policy!;
    expect(np.kind).toBe('NetworkPolicy');
    if (np.kind === 'NetworkPolicy') expect(np.value.policyTypes).toEqual(['Ingress']);
    expect(pol[0]!.body).toEqual({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-all', namespace: 'x' }, spec: { podSelector: {} } });
    const anp = pol[1]!.policy!;
    if (anp.kind === 'AdminNetworkPolicy') expect(anp.value).toMatchObject({ name: 'pass-web', priority: 5, ingress: [{ name: 'pass', action: 'Pass' }] });
    expect(pol[0]!.pos).toEqual({ file: 's.yaml', line: 28, col: 5 });
  });

  it('a NetworkPolicy without a namespace is in default; a namespace on an ANP is dropped (cluster-scoped)', () => {
    const t = scenario('none').replace('metadata: {name: deny-all, namespace: x}\n    spec', 'metadata: {name: deny-all}\n    spec').replace('metadata: {name: pass-web}', 'metadata: {name: pass-web, namespace: x}');
    const ms = parseScenario(t, 's.yaml').manifests as OtherManifest[];
    expect(ms.find((m) => m.name === 'deny-all')!.namespace).toBe('default');
    expect(ms.find((m) => m.name === 'pass-web')!.namespace).toBeUndefined();
  });

  it('errors inside a policy name the scenario line and column (block strings, mappings)', () => {
    expect(err(scenario('none').replace('spec: {podSelector: {}}\n  - |\n    apiVersion: policy', 'spec: {podSelector: {}, policyTypes: [Ingres]}\n  - |\n    apiVersion: policy')))
      .toBe('s.yaml:31:43: error: NetworkPolicy "deny-all" is invalid: spec.policyTypes[0]: Unsupported value: "Ingres": supported values: "Ingress", "Egress" (expected "Ingress", "Egress")');
    expect(err(scenario('none').replace("kind: Namespace\n    metadata: {name: x, labels: {team: web}}", "kind: Namespace\n    metadata: {name: x, labels: {team: web}}\n  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: x}, spec: {podSelector: {matchLabels: {app: 'a b'}}}}")))
      .toMatch(/^s\.yaml:27:136: error: NetworkPolicy "p" is invalid: spec\.podSelector\.matchLabels\.app: Invalid value: "a b"/);
  });

  it('duplicates are reported at the second, as for other kinds', () => {
    const dup = scenario('none').replace(EVENTS, '') + '';
    const t = dup.replace('  - |\n    apiVersion: policy.networking.k8s.io/v1alpha1\n    kind: AdminNetworkPolicy', '  - |\n    apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    metadata: {name: deny-all, namespace: x}\n    spec: {podSelector: {}}\n  - |\n    apiVersion: policy.networking.k8s.io/v1alpha1\n    kind: AdminNetworkPolicy');
    expect(err(t)).toBe('s.yaml:35:22: error: duplicate NetworkPolicy "x/deny-all" (first defined at line 30)');
  });
});

describe('policy events', () => {
  const s = parseScenario(scenario('none'), 's.yaml');

  it('policy-apply holds one validated policy (block string or mapping); policy-delete names KIND/NS/NAME or KIND/NAME', () => {
    expect(s.events.map((e) => e.kind)).toEqual(['policy-apply', 'policy-apply', 'policy-delete', 'policy-delete', 'policy-delete']);
    const a = s.events[0]!;
    if (a.kind !== 'policy-apply') throw new Error('kind');
    expect(a).toMatchObject({ at: 1e9, manifest: { kind: 'NetworkPolicy', namespace: 'x', name: 'allow-y', policy: { kind: 'NetworkPolicy' } } });
    expect(a.manifest.pos).toEqual({ file: 's.yaml', line: 51, col: 7 });
    expect(s.events.slice(2).map((e) => (e.kind === 'policy-delete' ? [e.policyKind, e.namespace, e.name] : null))).toEqual([
      ['AdminNetworkPolicy', undefined, 'pass-web'], ['NetworkPolicy', 'x', 'allow-y'], ['BaselineAdminNetworkPolicy', undefined, 'default'],
    ]);
  });

  it('policy-apply takes {file: PATH}: errors name that file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-np-'));
    try {
      writeFileSync(join(dir, 'p.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n    - ports: [{port: 0}]\n');
      const f = join(dir, 's.yaml');
      writeFileSync(f, scenario('none').replace(EVENTS, 'events:\n  - {at: 1s, kind: policy-apply, manifest: {file: p.yaml}}\n'));
      expect(() => loadScenario(f)).toThrow(InputError);
      try { loadScenario(f); } catch (e) {
        expect((e as InputError).format()).toBe(`${join(dir, 'p.yaml')}:7:22: error: NetworkPolicy "p" is invalid: spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive (expected 1..65535)`);
      }
      writeFileSync(join(dir, 'p.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: {podSelector: {}}\n');
      const ok = loadScenario(f).events[0]!;
      expect(ok.kind === 'policy-apply' && ok.manifest.pos.file).toBe(join(dir, 'p.yaml'));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('a delete may follow an apply at the same time when listed after it, not before', () => {
    const base = `name: np\n${cluster('none')}manifests:\n${PODS}events:\n`;
    const apply = '  - {at: 1s, kind: policy-apply, manifest: {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: x}, spec: {podSelector: {}}}}\n';
    const del = '  - {at: 1s, kind: policy-delete, policy: NetworkPolicy/x/p}\n';
    expect(err(base + apply + del)).toBe('OK');
    expect(err(base + del + apply)).toBe('s.yaml:25:43: error: events[0].policy: no NetworkPolicy/x/p exists at 1 s (not in manifests, not applied by an earlier policy-apply, or deleted already)');
  });
});

/** Kind, namespace/name of every stored policy, in creation order. */
function storedPolicies(store: { list(kind: string): Obj[] }): string[] {
  return ['NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'].flatMap((k) => store.list(k).map((o) => {
    const m = o.metadata as Obj;
    return `${k} ${m.namespace !== undefined ? `${String(m.namespace)}/` : ''}${String(m.name)}`;
  }));
}

describe.each(['none', 'iptables'] as const)('the store over a run (kubeProxy %s)', (mode) => {
  const trace = new MemorySink();
  const res = runScenario(parseScenario(scenario(mode), 's.yaml'), { trace });
  const store = res.cluster.store;

  it('holds the Namespaces, the Pods with their IPs and the policies; events created, replaced and deleted them', () => {
    expect(res.cluster.control).toBeDefined();
    expect(store.list('Namespace').map((o) => (o.metadata as Obj).name)).toEqual(expect.arrayContaining(['default', 'kube-system', 'x', 'y']));
    expect((store.get('Namespace', undefined, 'x')!.metadata as Obj).labels).toEqual({ team: 'web' });
    const web = store.get('Pod', 'x', 'web')!;
    expect((web.status as Obj).podIP).toMatch(/^10\.244\.0\.\d+$/);
    expect(storedPolicies(store)).toEqual(['NetworkPolicy x/deny-all']);
    const deny = store.get('NetworkPolicy', 'x', 'deny-all')!;
    expect((deny.spec as Obj).policyTypes).toEqual(['Ingress', 'Egress']);
    expect((deny.metadata as Obj).uid).toBe('00000000-0000-4000-8000-' + String((deny.metadata as Obj).uid).slice(-12));
    const kube = trace.events.filter((e) => e.stage === 'kube.event' && /Policy/.test(e.detail)).map((e) => `${e.time / 1e9} ${e.detail}`);
    expect(kube).toEqual([
      '1 NetworkPolicy x/allow-y created',
      '2 NetworkPolicy x/deny-all replaced',
      '3 AdminNetworkPolicy pass-web deleted',
      '3 NetworkPolicy x/allow-y deleted',
      '4 BaselineAdminNetworkPolicy default deleted',
    ]);
  });

  it('the traffic meets the policy agent\'s rules: x/deny-all isolates x/web (both pods on node-1: the REJECT\'s ICMP error is RELATED to the connection it answers, so the client reads refused)', () => {
    expect(res.results.map((r) => `${r.name} ${r.result}`)).toEqual(['late refused']);
    const drops = trace.events.filter((e) => e.stage === 'drop' && e.flow === 'late').map((e) => e.detail);
    expect(drops.some((d) => /x\/web is isolated for ingress by x\/deny-all/.test(d)), drops.join('\n')).toBe(true);
  });
});

describe('without kube-proxy, pod events reach the store too', () => {
  it('pod-ready updates the Pod, pod-delete removes it and its sandbox', () => {
    const t = `name: np\n${cluster('none')}manifests:\n${PODS}events:\n  - {at: 1s, kind: pod-ready, pod: pod/x/web, ready: false}\n  - {at: 2s, kind: pod-delete, pod: pod/y/client}\ntraffic:\n  - {name: t, at: 3s, from: node/node-1, to: pod/x/web, protocol: tcp, port: 80, expect: {result: reply}}\n`;
    const res = runScenario(parseScenario(t, 's.yaml'));
    const web = res.cluster.store.get('Pod', 'x', 'web')!;
    expect((web.status as Obj).conditions).toEqual([{ type: 'Ready', status: 'False' }]);
    expect(res.cluster.store.get('Pod', 'y', 'client')).toBeUndefined();
    expect(res.cluster.pods.has('y/client')).toBe(false);
    expect(res.cluster.nodes.get('node-1')!.netnsExists('y.client')).toBe(false);
    expect(res.results[0]!.ok).toBe(true);
  });
});

describe('scenarios/netpol-e2e-model.yaml', () => {
  const s = loadScenario('scenarios/netpol-e2e-model.yaml');
  it('is the e2e model: x,y,z × a,b,c serving TCP/UDP 80 and 81 on two nodes, with policies and policy events', () => {
    const pods = s.manifests.filter((m) => m.kind === 'Pod');
    expect(pods.map((p) => `${p.namespace}/${p.name}`)).toEqual(['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c']);
    expect(new Set(pods.map((p) => (p as { nodeName: string }).nodeName))).toEqual(new Set(['node-1', 'node-2']));
    expect(s.cluster.network).toMatchObject({ plugin: 'flannel' });
    expect(s.cluster.network.flannel?.config).toMatchObject({ backend: { type: 'vxlan' } });
    expect(s.events.map((e) => e.kind)).toEqual(['policy-apply', 'policy-apply', 'policy-delete']);
    // Allowed flows reply; denied ones meet kube-router's REJECT (refused across nodes, dropped on one node).
    expect(s.traffic.map((t) => t.expect?.result)).toEqual(['reply', 'reply', 'reply', 'reply', 'refused', 'refused', 'refused']);
  });
});

describe('scenarios/netpol-established.yaml (connection: reuse across a policy change)', () => {
  it('a reused TCP connection and UDP socket keep replying through the deny; new connections are refused only while it is in force', () => {
    const res = runScenario(loadScenario('scenarios/netpol-established.yaml'), { trace: new MemorySink() });
    const by = Object.fromEntries(res.results.map((r) => [r.name, r]));
    expect(by['tcp-one-connection']!.rounds).toEqual(Array(6).fill('reply'));
    expect(by['udp-one-socket']!.rounds).toEqual(Array(6).fill('reply'));
    // New connections at 1.4, 2.4 (before the deny at 2.5), 3.4, 4.4, 5.4 (refused), 6.4 (deleted at 5.5).
    expect(by['tcp-new-each-time']!.rounds).toEqual(['reply', 'reply', 'refused', 'refused', 'refused', 'reply']);
    expect(by['tcp-one-connection']!.detail).toMatch(/^6\/6 replied over one connection/);
    expect(res.results.every((r) => r.ok)).toBe(true);
  });

  it('a reused TCP connection whose echo stops coming back ends dropped at that exchange', () => {
    const text = `name: s
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: bridge}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24, podCIDR: 10.244.0.0/24}
manifests:
  - |
    apiVersion: v1
    kind: Pod
    metadata: {name: db}
    spec:
      nodeName: node-1
      containers: [{name: db, image: x, ports: [{containerPort: 5432}]}]
  - |
    apiVersion: v1
    kind: Pod
    metadata: {name: web}
    spec:
      nodeName: node-1
      containers: [{name: web, image: x}]
events:
  - {at: 2500ms, kind: pod-delete, pod: pod/default/db}
traffic:
  - {name: s, at: 1s, from: pod/default/web, to: pod/default/db, protocol: tcp, port: 5432, count: 4, connection: reuse, timeout: 1s}
`;
    const res = runScenario(parseScenario(text, 's.yaml'), { trace: new MemorySink() });
    const r = res.results[0]!;
    expect(r.rounds).toEqual(['reply', 'reply', 'dropped']);
    expect(r.result).toBe('dropped');
    expect(r.detail).toMatch(/^2\/4 replied over one connection; exchange 3: no answer within 1s/);
  });
});
