/**
 * Deployments and ReplicaSets in a scenario run: the deployment controller's
 * first rollout (one ReplicaSet `<deployment>-<pod-template-hash>`, owned by
 * the Deployment), the ReplicaSet controller (it keeps `replicas` active pods,
 * named `<replicaset>-<5 characters>` by the apiserver's generateName from the
 * run's PRNG and owned by the ReplicaSet; a pod deleted or evicted — Terminating
 * counts as gone — is replaced at once, with a new name and, from CNI, a new
 * IP), and podwire's scheduler: round-robin over the Ready, untainted nodes in
 * `cluster.nodes` order (kube-scheduler scores nodes; podwire keeps the
 * placement predictable). A replica with no Ready node to go to is not created
 * (upstream it would wait Pending); it is created when a node is Ready again.
 *
 * The controllers react in the same instant of virtual time as the change,
 * after it (a scheduler event at `now`), and without the kubelet's start-up
 * latency: the sandbox is set up and the pod Running and Ready at once — unless
 * the node's machine is down while the API still has it Ready (before the
 * node-monitor grace runs out): then the pod is bound to it but stays Pending,
 * with no sandbox and no IP, until the node's kubelet is back (`startPending`)
 * or the pod is evicted with the node's others.
 * Rolling updates, scale-down and status blocks are not modelled.
 */
import type { Cluster } from './build.js';
import type { Manifest, OtherManifest, PodSpec, SourcePos } from './types.js';
import type { ObjectStore } from '../kube/store.js';
import type { Obj } from '../kube/object.js';
import { validateDeployment, validateReplicaSet, type Workload } from '../kube/workload.js';
import { podTemplateHash, randomSuffix } from '../kube/pod-names.js';

/** What the controllers need of the control plane. */
export interface PodHost {
  readonly cl: Cluster;
  readonly store: ObjectStore;
  trace(detail: string): void;
  /** Stores a pod whose sandbox exists, Running and Ready, with its IP (a Pending one of that name is updated). */
  publish(spec: PodSpec, ip: number): void;
}

interface ReplicaSetState {
  name: string;
  namespace: string;
  uid: string;
  replicas: number;
  /** The pods' labels (the template's, with pod-template-hash for a Deployment's). */
  labels: Record<string, string>;
  template: Workload['template'];
  /** Active pods (`ns/name`): not deleted, not Terminating. */
  pods: Set<string>;
  pos: SourcePos;
}

/** generateName keeps 63 − 5 characters of its base. */
const MAX_GENERATE_BASE = 58;

export class Workloads {
  private readonly sets = new Map<string, ReplicaSetState>();
  /** Pod `ns/name` → its ReplicaSet `ns/name`. */
  private readonly owner = new Map<string, string>();
  /** The scheduler's round-robin position in `cluster.nodes`. */
  private next = 0;
  private readonly queued = new Set<string>();
  /** Pods bound to a node whose machine is down: Pending, not started (`ns/name` → what starting them needs). */
  private readonly unstarted = new Map<string, PodSpec>();
  /** Called after pods were created (run.ts refreshes who serves what). */
  onPodsAdded?: () => void;

  constructor(private readonly host: PodHost, private readonly rand: (n: number) => number) {}

  /** The Deployments and ReplicaSets of the scenario, in manifest order, each rolled out at once. */
  start(manifests: readonly Manifest[]): void {
    for (const m of manifests) {
      if ((m.kind !== 'Deployment' && m.kind !== 'ReplicaSet') || (m as OtherManifest).apiVersion !== 'apps/v1') continue;
      const body = (m as OtherManifest).body;
      const w = (m.kind === 'Deployment' ? validateDeployment(body) : validateReplicaSet(body)).value!;
      if (m.kind === 'Deployment') this.rollOut(w, m.pos);
      else this.adopt(this.host.store.create(withNamespace(body, w.namespace)), w, w.template.labels, w.template, m.pos);
    }
  }

  /** The deployment controller's first sync: the Deployment stored, its ReplicaSet created. */
  private rollOut(d: Workload, pos: SourcePos): void {
    const store = this.host.store;
    const dep = store.create(withNamespace(d.body, d.namespace));
    const hash = podTemplateHash(d.template.body);
    const labels = { ...d.template.labels, 'pod-template-hash': hash };
    const tmeta = (d.template.body.metadata ?? {}) as Obj;
    const template = { ...d.template.body, metadata: { ...tmeta, labels } };
    const sel = d.selector;
    const rsName = `${d.name}-${hash}`;
    const rs = store.create({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: {
        name: rsName, namespace: d.namespace, labels,
        annotations: { 'deployment.kubernetes.io/desired-replicas': String(d.replicas), 'deployment.kubernetes.io/revision': '1' },
        ownerReferences: [ownerRef('Deployment', d.name, uidOf(dep))],
      },
      spec: {
        replicas: d.replicas,
        selector: { ...sel, matchLabels: { ...sel.matchLabels, 'pod-template-hash': hash } },
        template,
      },
    });
    this.host.trace(`deployment-controller: Deployment ${d.namespace}/${d.name} created ReplicaSet ${rsName} (${d.replicas} replicas)`);
    this.adopt(rs, { ...d, name: rsName }, labels, { ...d.template, labels, body: template }, pos);
  }

  private adopt(stored: Obj, w: Workload, labels: Record<string, string>, template: Workload['template'], pos: SourcePos): void {
    const st: ReplicaSetState = { name: w.name, namespace: w.namespace, uid: uidOf(stored), replicas: w.replicas, labels, template, pods: new Set(), pos };
    this.sets.set(`${w.namespace}/${w.name}`, st);
    this.reconcile(st);
  }

  /** A pod was deleted or is Terminating: its ReplicaSet (if any) replaces it in this instant, after the change. */
  podGone(key: string): void {
    const rsKey = this.owner.get(key);
    if (rsKey === undefined) return;
    this.owner.delete(key);
    const st = this.sets.get(rsKey)!;
    st.pods.delete(key);
    this.soon(rsKey);
  }

  /** A node became Ready: ReplicaSets short of replicas try again. */
  nodeReady(): void {
    for (const [k, st] of this.sets) if (st.pods.size < st.replicas) this.soon(k);
  }

  /** Pods bound to `node` and never started (its machine was down when they were scheduled). */
  pendingOn(node: string): string[] {
    return [...this.unstarted].filter(([, s]) => s.nodeName === node).map(([k]) => k);
  }

  /** The spec of a pod not started. */
  pendingSpec(key: string): PodSpec | undefined {
    return this.unstarted.get(key);
  }

  /** A pod not started was deleted for good. */
  dropPending(key: string): void {
    this.unstarted.delete(key);
  }

  /** The node's kubelet is back: it starts the pods bound to it (sandbox, IP, Running and Ready). */
  startPending(node: string): void {
    for (const key of this.pendingOn(node)) {
      const spec = this.unstarted.get(key)!;
      this.unstarted.delete(key);
      const info = this.host.cl.addPod(spec);
      this.host.publish(spec, info.ip);
      this.host.trace(`kubelet ${node}: started pod ${key}; IP ${ipText(info.ip)}`);
    }
    this.onPodsAdded?.();
  }

  /** Whether `key` is a pod some ReplicaSet owns. */
  owns(key: string): boolean {
    return this.owner.has(key);
  }

  private soon(rsKey: string): void {
    if (this.queued.has(rsKey)) return;
    this.queued.add(rsKey);
    this.host.cl.world.sched.after(0, () => {
      this.queued.delete(rsKey);
      this.reconcile(this.sets.get(rsKey)!);
    });
  }

  private reconcile(st: ReplicaSetState): void {
    let made = 0;
    while (st.pods.size < st.replicas) {
      const node = this.schedule();
      if (node === undefined) {
        this.host.trace(`replicaset-controller: ReplicaSet ${st.namespace}/${st.name} has ${st.pods.size} of ${st.replicas} replicas and no Ready node for more`);
        break;
      }
      this.createPod(st, node);
      made++;
    }
    if (made) this.onPodsAdded?.();
  }

  /** podwire's scheduler: the next Ready, untainted node after the last one chosen, in cluster.nodes order. */
  private schedule(): string | undefined {
    const nodes = this.host.cl.scenario.cluster.nodes;
    for (let i = 0; i < nodes.length; i++) {
      const idx = (this.next + i) % nodes.length;
      if (!this.schedulable(nodes[idx].name)) continue;
      this.next = idx + 1;
      return nodes[idx].name;
    }
    return undefined;
  }

  private schedulable(name: string): boolean {
    const cl = this.host.cl;
    if (cl.pendingNodes.has(name) || cl.leftNodes.has(name)) return false;
    const node = this.host.store.get('Node', undefined, name);
    if (!node) return false;
    const taints = ((node.spec as Obj | undefined)?.taints as Obj[] | undefined) ?? [];
    if (taints.some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')) return false;
    const ready = (((node.status as Obj | undefined)?.conditions as Obj[] | undefined) ?? []).find((c) => c.type === 'Ready');
    return !ready || ready.status === 'True';
  }

  private createPod(st: ReplicaSetState, nodeName: string): void {
    const cl = this.host.cl;
    const base = `${st.name}-`.slice(0, MAX_GENERATE_BASE);
    let name: string;
    do name = base + randomSuffix(this.rand);
    while (cl.pods.has(`${st.namespace}/${name}`) || this.host.store.get('Pod', st.namespace, name));
    const key = `${st.namespace}/${name}`;
    const t = st.template;
    const tmeta = (t.body.metadata ?? {}) as Obj;
    const body: Obj = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { ...tmeta, name, generateName: base, namespace: st.namespace, labels: st.labels, ownerReferences: [ownerRef('ReplicaSet', st.name, st.uid)] },
      spec: { ...((t.body.spec ?? {}) as Obj), nodeName },
    };
    const spec: PodSpec = {
      kind: 'Pod', name, namespace: st.namespace, labels: st.labels, annotations: t.annotations, nodeName, hostNetwork: t.hostNetwork,
      containers: t.containers.map((c) => ({ name: c.name, image: c.image, ports: c.ports.map(({ name: n, containerPort, protocol }) => (n !== undefined ? { name: n, containerPort, protocol } : { containerPort, protocol })) })),
      body, pos: st.pos,
    };
    st.pods.add(key);
    this.owner.set(key, `${st.namespace}/${st.name}`);
    if (cl.downNodes.has(nodeName)) {
      // The scheduler binds it (the node is still Ready in the API), but no kubelet runs there to start it.
      this.unstarted.set(key, spec);
      this.host.store.create({ ...body, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] } });
      this.host.trace(`replicaset-controller: ReplicaSet ${st.namespace}/${st.name} created pod ${name}; scheduled to ${nodeName} (round-robin over Ready nodes); Pending: ${nodeName}'s kubelet is down`);
      return;
    }
    const info = cl.addPod(spec);
    this.host.publish(spec, info.ip);
    this.host.trace(`replicaset-controller: ReplicaSet ${st.namespace}/${st.name} created pod ${name}; scheduled to ${nodeName} (round-robin over Ready nodes); IP ${ipText(info.ip)}`);
  }
}

function ownerRef(kind: string, name: string, uid: string): Obj {
  return { apiVersion: 'apps/v1', kind, name, uid, controller: true, blockOwnerDeletion: true };
}

function uidOf(o: Obj): string {
  return String((o.metadata as Obj).uid);
}

function withNamespace(body: Obj, ns: string): Obj {
  const meta = (body.metadata as Obj | undefined) ?? {};
  return meta.namespace ? body : { ...body, metadata: { ...meta, namespace: ns } };
}

function ipText(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}
