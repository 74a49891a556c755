/**
 * Deployments, ReplicaSets and a failed node's timeline (src/scenario/workloads.ts,
 * node-monitor.ts): the shipped scenario's times checked exactly (virtual time is
 * exact), recreation on deletion, round-robin placement, recovery when the node's
 * kubelet is back, the periods in cluster.nodeLifecycle, and load errors at their
 * positions.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseScenario } from '../../src/scenario/load.js';
import { runScenario, runScenarioFile, scheduleEvents } from '../../src/scenario/run.js';
import { buildCluster } from '../../src/scenario/build.js';
import { ensureControlPlane } from '../../src/scenario/control-plane.js';
import { isInputError } from '../../src/scenario/errors.js';
import { MemorySink } from '../../src/trace/render.js';
import { formatTime } from '../../src/engine/time.js';
import type { Obj } from '../../src/kube/object.js';
import { explainTraffic } from '../../src/cli/explain.js';

const S = 1e9;
const FILE = 'scenarios/node-failure-deployment.yaml';
const text = readFileSync(FILE, 'utf8');
/** The shipped scenario without its traffic and its pod-delete (the node failure's timeline alone). */
const quiet = (edit: (t: string) => string = (t) => t) =>
  parseScenario(edit(text.slice(0, text.indexOf('traffic:')).replace(/  - \{at: 200s, kind: pod-delete.*\n/, '')), 's.yaml');

function kubeEvents(sink: MemorySink): string[] {
  return sink.events.filter((e) => e.stage === 'kube.event').map((e) => `${formatTime(e.time)} ${e.detail}`);
}

/** Builds the cluster and runs the control plane's clock to `until`, with `at` callbacks. */
function runQuiet(sc: ReturnType<typeof quiet>, until: number, at: [number, (cl: ReturnType<typeof buildCluster>) => void][] = []) {
  const sink = new MemorySink();
  const cl = buildCluster(sc, { trace: sink });
  const control = ensureControlPlane(cl);
  scheduleEvents(cl, control);
  for (const [t, fn] of at) cl.world.sched.at(t, () => fn(cl));
  cl.world.sched.run(until);
  return { cl, control, sink, events: kubeEvents(sink) };
}

const webPods = (cl: ReturnType<typeof buildCluster>) => cl.store.list('Pod', 'default').filter((p) => ((p.metadata as Obj).labels as Obj | undefined)?.app === 'web');
const podName = (p: Obj) => String((p.metadata as Obj).name);

describe(`${FILE}: the whole recovery`, () => {
  const sink = new MemorySink();
  const res = runScenarioFile(FILE, { trace: sink });
  const ev = kubeEvents(sink);
  const evicted = /pod default\/(web-\S+) evicted/.exec(ev.join('\n'))![1];
  const created = [...ev.join('\n').matchAll(/created pod (web-\S+); scheduled to (node-\d) .*; IP (\S+)/g)].map((m) => ({ name: m[1], node: m[2], ip: m[3] }));

  it('every phase meets its expectation', () => {
    expect(res.results.map((r) => `${r.name} ${r.result} ${r.ok}`)).toEqual([
      'before-failure reply true', 'failed-not-yet-notready dropped true', 'after-notready reply true', 'after-pod-delete reply true', 'after-eviction reply true',
    ]);
  });
  it('the Deployment rolls out 3 replicas round-robin, named <deployment>-<hash>-<5>', () => {
    expect(created.slice(0, 3).map((c) => c.node)).toEqual(['node-1', 'node-2', 'node-3']);
    for (const c of created) expect(c.name).toMatch(/^web-[4-9bcdf]+-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    const rs = res.cluster.store.list('ReplicaSet', 'default');
    expect(rs).toHaveLength(1);
    const meta = rs[0].metadata as Obj;
    expect(meta.name).toBe(created[0].name.slice(0, -6));
    expect((meta.ownerReferences as Obj[])[0]).toMatchObject({ kind: 'Deployment', name: 'web', controller: true });
  });
  it('has the node lifecycle controller\'s times exactly: NotReady at 55s, NoExecute at 55.1s, eviction and replacement at 355.1s', () => {
    const times = (re: RegExp) => ev.filter((l) => re.test(l)).map((l) => l.split(' ')[0]);
    expect(times(/node node-3 fails/)).toEqual(['20.000000000']);
    expect(times(/node node-3 NotReady/)).toEqual(['55.000000000']);
    expect(times(/Ready=False \(its node node-3 is NotReady\)/)).toEqual(['55.000000000']);
    expect(times(/node node-3 tainted node.kubernetes.io\/unreachable:NoExecute/)).toEqual(['55.100000000']);
    expect(times(/for 300s: eviction at 355.1s/)).toEqual(['55.100000000']);
    expect(times(/evicted: deleted gracefully/)).toEqual(['355.100000000']);
    expect(created).toHaveLength(5);
    expect(ev.find((l) => l.includes(`created pod ${created[3].name}`))!.split(' ')[0]).toBe('200.000000000');
    expect(ev.find((l) => l.includes(`created pod ${created[4].name}`))!.split(' ')[0]).toBe('355.100000000');
  });
  it('kube-proxy rewrites its rules when the endpoint becomes not ready and when the replacement comes', () => {
    const syncs = sink.events.filter((e) => e.stage === 'kube-proxy.sync' && e.node === 'node-1').map((e) => formatTime(e.time));
    expect(syncs).toContain('55.000000000');
    expect(syncs).toContain('355.100000000');
    // node-3's kube-proxy died with the machine.
    expect(sink.events.some((e) => e.stage === 'kube-proxy.sync' && e.node === 'node-3' && e.time >= 20 * S)).toBe(false);
  });
  it('a replica deleted by a pod-delete event is replaced in the same instant on the next node round-robin', () => {
    const deleted = /pod default\/(web-\S+) deleted$/m.exec(ev.join('\n'))![1];
    expect(created.find((c) => c.name === deleted)!.node).toBe('node-2');
    expect(created[3].node).toBe('node-1');
    expect(res.cluster.store.get('Pod', 'default', deleted)).toBeUndefined();
    expect(new Set(created.map((c) => c.ip)).size).toBe(created.length);
  });
  it('the replacement has a new name and a new IP on a Ready node; the evicted pod stays Terminating', () => {
    const old = created.find((c) => c.name === evicted)!;
    const repl = created[4];
    expect(old.node).toBe('node-3');
    expect(repl.node).not.toBe('node-3');
    expect(repl.name).not.toBe(old.name);
    expect(repl.ip).not.toBe(old.ip);
    const slice = res.cluster.store.list('EndpointSlice', 'default').find((s) => ((s.metadata as Obj).labels as Obj)['kubernetes.io/service-name'] === 'web')!;
    const byIP = new Map((slice.endpoints as Obj[]).map((e) => [(e.addresses as string[])[0], e.conditions as Obj]));
    expect(byIP.get(old.ip)).toEqual({ ready: false, serving: false, terminating: true });
    expect(byIP.get(repl.ip)).toEqual({ ready: true, serving: true, terminating: false });
    const stored = res.cluster.store.get('Pod', 'default', evicted)!;
    expect((stored.metadata as Obj).deletionTimestamp).toBe('1970-01-01T00:05:55Z');
    expect(res.results[4].servedBy[`pod/default/${repl.name}`]).toBeGreaterThan(0);
    expect(res.results[2].servedBy[`pod/default/${evicted}`]).toBeUndefined();
  });
  it('explain shows the cluster events the item met, with their times', () => {
    const lines = explainTraffic(res.results[4], sink.events);
    expect(lines[1]).toBe('cluster events before it started (the last 8 of 14):');
    expect(lines.slice(2, 10).map((l) => l.trim().split(' ').slice(0, 2).join(' '))).toEqual([
      '55.000000000 node-lifecycle-controller:', '55.000000000 node-lifecycle-controller:', '55.100000000 node-lifecycle-controller:', '55.100000000 taint-eviction-controller:',
      '200.000000000 pod', '200.000000000 replicaset-controller:', '355.100000000 taint-eviction-controller:', '355.100000000 replicaset-controller:',
    ]);
  });
  it('the Node object says NotReady with both unreachable taints', () => {
    const node = res.cluster.store.get('Node', undefined, 'node-3')!;
    expect((node.spec as Obj).taints).toEqual([
      { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: '1970-01-01T00:00:55Z' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '1970-01-01T00:00:55Z' },
    ]);
    expect(((node.status as Obj).conditions as Obj[]).find((c) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
  });
});

describe('ReplicaSet controller and scheduler', () => {
  it('replaces a deleted pod in the same instant, with a new name and IP', () => {
    let victim = '';
    const { cl, control, events } = runQuiet(quiet((t) => t.replace(/events:\n.*\n/, '')), 10 * S, [[5 * S, (c) => {
      victim = podName(webPods(c)[1]);
      c.control!.applyEvent({ at: 5 * S, kind: 'pod-delete', namespace: 'default', name: victim, pos: { file: 's.yaml', line: 1, col: 1 } });
    }]]);
    const pods = webPods(cl);
    expect(pods).toHaveLength(3);
    expect(control.workloads.owns(`default/${podName(pods[2])}`)).toBe(true);
    expect(pods.map(podName)).not.toContain(victim);
    // The replacement went to the next node in round-robin order after node-3: node-1, at 5s.
    const made = events.filter((l) => l.includes('created pod'));
    expect(made).toHaveLength(4);
    expect(made[3]).toMatch(/^5\.000000000 .*scheduled to node-1 /);
    const ips = pods.map((p) => (p.status as Obj).podIP);
    expect(new Set(ips).size).toBe(3);
  });
  it('places replicas round-robin over the nodes, skipping tainted ones', () => {
    const { cl } = runQuiet(quiet((t) => t.replace('replicas: 3', 'replicas: 4')), 400 * S);
    const nodes = [...cl.pods.values()].filter((p) => p.spec.labels.app === 'web').map((p) => p.node.name);
    // 4 at the start (1,2,3,1); the one of node-3 evicted at 355.1s goes to node-2 (node-3 is tainted).
    expect(nodes).toEqual(['node-1', 'node-2', 'node-3', 'node-1', 'node-2']);
  });
  it('creates pods with kubeProxy.mode none too (the apiserver alone)', () => {
    const { cl } = runQuiet(quiet((t) => t.replace('kubeProxy: {mode: iptables}', 'kubeProxy: {mode: none}').replace(/    kind: Service[\s\S]*?targetPort: http}\]\n/, '    kind: Namespace\n    metadata: {name: extra}\n')), S);
    expect(webPods(cl)).toHaveLength(3);
  });
});

describe('a node that comes back (ControlPlane.nodeUp, for the node-up event)', () => {
  it('before the grace period runs out: nothing changes', () => {
    const { events } = runQuiet(quiet(), 400 * S, [[30 * S, (cl) => cl.control!.nodeUp('node-3')]]);
    expect(events.some((l) => l.includes('node node-3 NotReady'))).toBe(false);
    expect(events.some((l) => l.includes('stays Ready'))).toBe(true);
  });
  it('after NotReady, before eviction: Ready at the next check, pods Ready again, eviction cancelled', () => {
    const { events, cl } = runQuiet(quiet(), 400 * S, [[101 * S, (c) => c.control!.nodeUp('node-3')]]);
    expect(events.filter((l) => l.includes('node node-3 Ready')).map((l) => l.split(' ')[0])).toEqual(['105.000000000']);
    expect(events.some((l) => l.includes('evicted'))).toBe(false);
    const node = cl.store.get('Node', undefined, 'node-3')!;
    expect((node.spec as Obj).taints).toBeUndefined();
    expect(webPods(cl).every((p) => ((p.status as Obj).conditions as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True'))).toBe(true);
  });
  it('after eviction: the kubelet finishes deleting the Terminating pod', () => {
    const { events, cl } = runQuiet(quiet(), 500 * S, [[400 * S, (c) => c.control!.nodeUp('node-3')]]);
    const evicted = /pod default\/(web-\S+) evicted/.exec(events.join('\n'))![1];
    expect(events.find((l) => l.includes(`pod default/${evicted} was Terminating`))!.split(' ')[0]).toBe('400.000000000');
    expect(cl.store.get('Pod', 'default', evicted)).toBeUndefined();
    expect(cl.pods.has(`default/${evicted}`)).toBe(false);
    expect(webPods(cl)).toHaveLength(3);
  });
});

describe('cluster.nodeLifecycle', () => {
  it('sets the periods and the default toleration', () => {
    const sc = quiet((t) => t.replace('nodeMonitorGracePeriod: 40s', 'nodeMonitorGracePeriod: 20s').replace('defaultUnreachableTolerationSeconds: 300', 'defaultUnreachableTolerationSeconds: 60'));
    const { events } = runQuiet(sc, 200 * S);
    // Last renewal 10s, 10 + 20 = 30, first check after: 35s; NoExecute 35.1s; eviction 95.1s.
    expect(events.filter((l) => /NotReady \(|evicted/.test(l)).map((l) => l.split(' ')[0])).toEqual(['35.000000000', '95.100000000']);
  });
  it('a pod\'s own toleration wins over the default', () => {
    const sc = quiet((t) => t.replace("          containers: [{name: web", "          tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 10}]\n          containers: [{name: web"));
    const { events } = runQuiet(sc, 200 * S);
    expect(events.filter((l) => l.includes('evicted')).map((l) => l.split(' ')[0])).toEqual(['65.100000000']);
  });
  it('rejects unknown keys and zero periods at their position', () => {
    const line = text.split('\n').findIndex((l) => l.includes('nodeMonitorPeriod: 5s')) + 1;
    expect(loadError(text.replace('nodeMonitorPeriod: 5s', 'nodeMonitorPeriod: 0'))).toMatch(new RegExp(`^s.yaml:${line}:24: error: .*nodeMonitorPeriod must be longer than 0`));
    expect(loadError(text.replace('nodeMonitorPeriod: 5s', 'nodeMonitorPeriode: 5s'))).toMatch(new RegExp(`^s.yaml:${line}:5: error: unknown key "nodeMonitorPeriode".*did you mean "nodeMonitorPeriod"`));
  });
});

function loadError(t: string): string {
  try {
    parseScenario(t, 's.yaml');
  } catch (e) {
    if (isInputError(e)) return e.format();
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('Deployment manifests: errors at their position', () => {
  it('a template error points at the template line', () => {
    const bad = text.replace("containers: [{name: web, image: nginx, ports: [{containerPort: 80, name: http}]}]", "containers: [{name: web, imag: nginx}]");
    expect(loadError(bad)).toMatch(/^s.yaml:\d+:\d+: error: Deployment "web" is invalid: unknown field "spec.template.spec.containers\[0\].imag"; did you mean "image"\?/);
    const line = bad.split('\n').findIndex((l) => l.includes('imag: nginx')) + 1;
    expect(loadError(bad)).toContain(`s.yaml:${line}:`);
  });
  it('a selector that does not select the template', () => {
    const bad = text.replace('selector: {matchLabels: {app: web}}', 'selector: {matchLabels: {app: api}}');
    const line = bad.split('\n').findIndex((l) => l.includes('metadata: {labels: {app: web}}')) + 1;
    expect(loadError(bad)).toMatch(new RegExp(`^s.yaml:${line}:\\d+: error: Deployment "web" is invalid: .*\`selector\` does not match template \`labels\``));
  });
});

it('runs the same twice (seeded names, IPs and timeline)', () => {
  const a = new MemorySink();
  const b = new MemorySink();
  runScenario(quiet(), { trace: a });
  runScenario(quiet(), { trace: b });
  expect(kubeEvents(a)).toEqual(kubeEvents(b));
});

describe('node-leave and node-join with a ReplicaSet', () => {
  it('replaces the pods the pod GC deleted, waiting for a Ready node when there is none', () => {
    const sc = parseScenario(`name: t
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: flannel, backend: vxlan}
  kubeProxy: {mode: iptables}
  dns: {enabled: false}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24}
    - {name: node-2, ip: 192.168.1.12/24}
manifests:
  - |
    apiVersion: apps/v1
    kind: ReplicaSet
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}
events:
  - {at: 1s, kind: node-leave, node: node-1}
  - {at: 2s, kind: node-join, node: node-2}
`, 's.yaml');
    const { cl, events } = runQuiet(sc, 3 * S);
    expect(events.filter((l) => /created pod|no Ready node/.test(l)).map((l) => l.replace(/web-\S{5}/, 'web-X').replace(/IP \S+/, 'IP A'))).toEqual([
      '0.000000000 replicaset-controller: ReplicaSet default/web created pod web-X; scheduled to node-1 (round-robin over Ready nodes); IP A',
      '0.000000000 replicaset-controller: ReplicaSet default/web created pod web-X; scheduled to node-1 (round-robin over Ready nodes); IP A',
      '1.000000000 replicaset-controller: ReplicaSet default/web has 0 of 2 replicas and no Ready node for more',
      '2.000000000 replicaset-controller: ReplicaSet default/web created pod web-X; scheduled to node-2 (round-robin over Ready nodes); IP A',
      '2.000000000 replicaset-controller: ReplicaSet default/web created pod web-X; scheduled to node-2 (round-robin over Ready nodes); IP A',
    ]);
    expect(webPods(cl).map((p) => (p.spec as Obj).nodeName)).toEqual(['node-2', 'node-2']);
    expect(webPods(cl).every((p) => String((p.metadata as Obj).name).startsWith('web-'))).toBe(true);
  });
});

describe('two nodes failing together', () => {
  it('are marked at the same check, but tainted NoExecute 10 s apart (the zone rate limiter) and evicted so', () => {
    const sc = quiet((t) => t.replace('  - {at: 20s, kind: node-down, node: node-3}\n', '  - {at: 20s, kind: node-down, node: node-2}\n  - {at: 20s, kind: node-down, node: node-3}\n'));
    const { events } = runQuiet(sc, 400 * S);
    const at = (re: RegExp) => events.filter((l) => re.test(l)).map((l) => l.split(' ')[0]);
    expect(at(/node node-[23] NotReady/)).toEqual(['55.000000000', '55.000000000']);
    expect(at(/node node-2 tainted .*NoExecute/)).toEqual(['55.100000000']);
    expect(at(/node node-3 tainted .*NoExecute/)).toEqual(['65.100000000']);
    expect(at(/evicted/)).toEqual(['355.100000000', '365.100000000']);
    // Both replacements go to node-1, the only Ready node.
    expect(events.filter((l) => l.startsWith('3') && l.includes('created pod')).map((l) => /scheduled to (\S+)/.exec(l)![1])).toEqual(['node-1', 'node-1']);
  });
});

describe('naming ReplicaSet pods in a scenario', () => {
  it('events and servedBy may name a pod of the shape a Deployment gives; traffic endpoints may not', () => {
    expect(() => quiet((t) => t.replace('  - {at: 20s, kind: node-down, node: node-3}\n', '  - {at: 20s, kind: pod-ready, pod: pod/default/web-7d68f6d788-zzzzz, ready: false}\n'))).not.toThrow();
    expect(loadError(text.replace('pod-delete, pod: pod/default/web-7d68f6d788-gjfp9', 'pod-delete, pod: pod/default/web-gjfp9'))).toMatch(/no pod "default\/web-gjfp9" in this scenario/);
    expect(loadError(text.replace('from: pod/default/client', 'from: pod/default/web-7d68f6d788-f27fk'))).toMatch(/no pod "default\/web-7d68f6d788-f27fk" in this scenario/);
  });
  it('an event on a ReplicaSet pod name never drawn does nothing, and says so', () => {
    const sc = quiet((t) => t.replace('  - {at: 20s, kind: node-down, node: node-3}\n', '  - {at: 20s, kind: pod-delete, pod: pod/default/web-7d68f6d788-zzzzz}\n'));
    const { events } = runQuiet(sc, 30 * S);
    expect(events).toContain('20.000000000 pod default/web-7d68f6d788-zzzzz not found (pod-delete does nothing)');
  });
});

describe('zone disruption', () => {
  const four = (events: string) => quiet((t) => t
    .replace('    - {name: node-3, ip: 192.168.1.13/24, routes: [{dst: default, via: 192.168.1.1}]}\n', '    - {name: node-3, ip: 192.168.1.13/24, routes: [{dst: default, via: 192.168.1.1}]}\n    - {name: node-4, ip: 192.168.1.14/24, routes: [{dst: default, via: 192.168.1.1}]}\n')
    .replace('  - {at: 20s, kind: node-down, node: node-3}\n', events));
  it('3 of 4 nodes NotReady (PartialDisruption, small cluster): no NoExecute taint, no eviction, until the zone is Normal again', () => {
    const sc = four('  - {at: 20s, kind: node-down, node: node-2}\n  - {at: 20s, kind: node-down, node: node-3}\n  - {at: 20s, kind: node-down, node: node-4}\n');
    const held = runQuiet(sc, 600 * S);
    expect(held.events.filter((l) => /NotReady \(|PartialDisruption|NoExecute$|evicted/.test(l)).map((l) => l.replace(/ node-lifecycle-controller:/, ''))).toEqual([
      '55.000000000 node node-2 NotReady (Ready=Unknown: no lease renewal seen since 10s, over the 40s grace); tainted node.kubernetes.io/unreachable:NoSchedule',
      '55.000000000 node node-3 NotReady (Ready=Unknown: no lease renewal seen since 10s, over the 40s grace); tainted node.kubernetes.io/unreachable:NoSchedule',
      '55.000000000 node node-4 NotReady (Ready=Unknown: no lease renewal seen since 10s, over the 40s grace); tainted node.kubernetes.io/unreachable:NoSchedule',
      '55.100000000 zone PartialDisruption (3 of 4 nodes NotReady): no NoExecute taint while it lasts',
    ]);
    // node-4's kubelet comes back at 100 s: Ready at the check of 100 s, 2 of 4 NotReady is Normal, the tainter resumes.
    const { events } = runQuiet(sc, 600 * S, [[100 * S, (cl) => cl.control!.nodeUp('node-4')]]);
    const at = (re: RegExp) => events.filter((l) => re.test(l)).map((l) => l.split(' ')[0]);
    expect(at(/node node-4 Ready/)).toEqual(['100.000000000']);
    expect(at(/node node-2 tainted .*NoExecute/)).toEqual(['100.100000000']);
    expect(at(/node node-3 tainted .*NoExecute/)).toEqual(['110.100000000']);
    expect(at(/evicted/)).toEqual(['400.100000000', '410.100000000']);
  });
  it('every node NotReady (FullDisruption): no NoExecute taint', () => {
    const sc = quiet((t) => t.replace('  - {at: 20s, kind: node-down, node: node-3}\n', '  - {at: 20s, kind: node-down, node: node-1}\n  - {at: 20s, kind: node-down, node: node-2}\n  - {at: 20s, kind: node-down, node: node-3}\n'));
    const { events } = runQuiet(sc, 600 * S);
    expect(events.filter((l) => /Disruption|NoExecute$|evicted/.test(l)).map((l) => l.split(' ').slice(0, 4).join(' '))).toEqual([
      '55.100000000 node-lifecycle-controller: zone FullDisruption',
    ]);
  });
});

describe('a replica scheduled to a node that is down but not yet NotReady', () => {
  // 4 replicas: node-1, node-2, node-3, node-1; node-3 down at 20 s; two replicas deleted at 30 s go
  // round-robin to node-2 and node-3 — node-3 is still Ready in the API, so the second is bound there.
  const sc = quiet((t) => t.replace('replicas: 3', 'replicas: 4'));
  const deleteTwo = (cl: ReturnType<typeof buildCluster>) => {
    for (const p of webPods(cl).filter((x) => (x.spec as Obj).nodeName !== 'node-3').slice(0, 2))
      cl.control!.applyEvent({ at: 30 * S, kind: 'pod-delete', namespace: 'default', name: podName(p), pos: { file: 's.yaml', line: 1, col: 1 } });
  };
  it('stays Pending with no IP (no kubelet to start it), is evicted with the node\'s pods and replaced', () => {
    const { cl, events, control } = runQuiet(sc, 400 * S, [[30 * S, deleteTwo]]);
    const pendingLine = events.find((l) => l.includes("Pending: node-3's kubelet is down"))!;
    expect(pendingLine.split(' ')[0]).toBe('30.000000000');
    const name = /created pod (\S+);/.exec(pendingLine)![1];
    expect(cl.pods.has(`default/${name}`)).toBe(false);
    const slice = cl.store.list('EndpointSlice', 'default').find((s) => ((s.metadata as Obj).labels as Obj)['kubernetes.io/service-name'] === 'web')!;
    expect((slice.endpoints as Obj[]).length).toBe(5); // 3 Running elsewhere and 2 terminating on node-3 (the Pending one has no IP)
    expect(events.filter((l) => l.includes('evicted')).map((l) => l.split(' ')[0])).toEqual(['355.100000000', '355.100000000']);
    expect(events.some((l) => l.includes(`pod default/${name} evicted`))).toBe(true);
    expect(control.workloads.pendingOn('node-3')).toEqual([`default/${name}`]);
    expect(webPods(cl).filter((p) => !(p.metadata as Obj).deletionTimestamp)).toHaveLength(4);
  });
  it('is started by the node\'s kubelet when it is back before the eviction', () => {
    const { cl, events } = runQuiet(sc, 400 * S, [[30 * S, deleteTwo], [101 * S, (c) => c.control!.nodeUp('node-3')]]);
    const name = /created pod (\S+); scheduled to node-3 .*Pending/.exec(events.join('\n'))![1];
    expect(events.find((l) => l.includes(`kubelet node-3: started pod default/${name}`))!.split(' ')[0]).toBe('105.000000000');
    const pod = cl.store.get('Pod', 'default', name)!;
    expect((pod.status as Obj).phase).toBe('Running');
    expect((pod.status as Obj).podIP).toBe(`10.244.2.${cl.pods.get(`default/${name}`)!.ip & 255}`);
    expect(events.some((l) => l.includes('evicted'))).toBe(false);
  });
});

describe('with the node-up event (faults.ts): the machine and the API recover together', () => {
  const withUp = (at: string, traffic: string) => {
    const t = text.replace('  - {at: 200s, kind: pod-delete, pod: pod/default/web-7d68f6d788-gjfp9}\n', `  - {at: ${at}, kind: node-up, node: node-3}\n`);
    return parseScenario(t.slice(0, t.indexOf('traffic:')) + traffic, 's.yaml');
  };
  const item = (name: string, at: string, servedBy: string) => `  - {name: ${name}, at: ${at}, from: pod/default/client, to: service/default/web, protocol: tcp, port: 80, count: 9, expect: {result: reply, servedBy: [${servedBy}]}}\n`;
  it('back at 100 s, before eviction: node-3 Ready at the check of 100 s, its replica an endpoint again and serving', () => {
    const sc = withUp('100s', 'traffic:\n' + item('after-node-up', '101s', 'pod/default/web-7d68f6d788-f27fk, pod/default/web-7d68f6d788-gjfp9, pod/default/web-7d68f6d788-vc4zl'));
    const sink = new MemorySink();
    const res = runScenario(sc, { trace: sink });
    const ev = kubeEvents(sink);
    expect(ev.filter((l) => /node node-3 Ready|vc4zl Ready=True|evicted/.test(l)).map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual([
      '100.000000000 node-lifecycle-controller: node', '100.000000000 kubelet node-3:',
    ]);
    expect(res.results[0].ok, res.results[0].mismatch).toBe(true);
  });
  it('back at 400 s, after eviction: the Terminating pod is deleted for good; the replacement stays', () => {
    const sc = withUp('400s', 'traffic:\n' + item('after-node-up', '401s', 'pod/default/web-7d68f6d788-f27fk, pod/default/web-7d68f6d788-gjfp9, pod/default/web-7d68f6d788-tnmlv'));
    const sink = new MemorySink();
    const res = runScenario(sc, { trace: sink });
    const ev = kubeEvents(sink);
    expect(ev.find((l) => l.includes('pod default/web-7d68f6d788-vc4zl was Terminating'))!.split(' ')[0]).toBe('400.000000000');
    expect(res.cluster.store.get('Pod', 'default', 'web-7d68f6d788-vc4zl')).toBeUndefined();
    expect(res.results[0].ok, res.results[0].mismatch).toBe(true);
  });
});
