/**
 * The Kubernetes object behind a decision, as far as the decision's own text says
 * it exactly — never guessed:
 *  - a rule comment naming an object, checked against the run's objects: kube-proxy's
 *    `NS/SVC:PORT …` (a Service), kube-router's `NS/POD in|out` (a Pod), `NS/NAME policy`
 *    (a NetworkPolicy), `anp/NAME …` / `banp/NAME …` (admin policies);
 *  - Calico's chain names: cali-pi-/cali-po- are felix's per-policy chains (recomputed
 *    for each policy with src/calico/names), cali-tw-/cali-fw- a workload's endpoint
 *    chains (its pod), cali-pri-/cali-pro-kns.NS a namespace's profile;
 *  - a per-object chain (kube-proxy's and kube-router's hashed names, `…-XXXXXXXXXXXXXXXX`)
 *    stands for the object named by the comment of a rule that jumped to it in this run;
 *  - a policy verdict appended to a DROP/REJECT rule or a drop (src/kube/policy-explain.ts):
 *    the pod it isolates and the policies it names;
 *  - IPVS virtual services `PROTO VIP:PORT`: the Service whose ClusterIP and port they are.
 */
import type { Cluster } from '../scenario/build.js';
import type { TraceEvent } from '../trace/events.js';
import { knpPolicyId, policyChainName, endpointChainName, workloadInterfaceName, lengthLimitedId } from '../calico/names.js';
import type { Obj } from '../kube/object.js';

export interface ObjectRef {
  kind: string;
  /** `NS/NAME`, or `NAME` for cluster-scoped kinds. */
  name: string;
  /** How it was derived, e.g. `rule comment`, `chain cali-pi-knp/x/deny-all`. */
  via: string;
}

export const refText = (r: ObjectRef) => `${r.kind} ${r.name}`;

interface ServicePort { svc: string; port: number; name: string; protocol: string; clusterIP: string; nodePort?: number }

/** The run's objects by name: what a decision's text can be checked against. */
export class ObjectIndex {
  readonly services = new Set<string>();
  readonly servicePorts: ServicePort[] = [];
  readonly pods = new Set<string>();
  readonly namespaces = new Set<string>();
  readonly policies = new Map<string, ObjectRef>(); // `${kind}|${name}` → ref
  /** Calico chain name → object. */
  readonly calicoChains = new Map<string, ObjectRef>();
  /** Hashed per-object chain → object, learned from jumps in the trace. */
  readonly learned = new Map<string, ObjectRef>();

  static of(cluster: Cluster): ObjectIndex {
    const ix = new ObjectIndex();
    const meta = (o: Obj) => (o.metadata ?? {}) as { name?: string; namespace?: string };
    for (const o of cluster.store.list('Service')) {
      const m = meta(o);
      const svc = `${m.namespace ?? 'default'}/${m.name}`;
      ix.services.add(svc);
      const spec = (o.spec ?? {}) as { clusterIP?: string; ports?: { name?: string; port?: number; protocol?: string; nodePort?: number }[] };
      for (const p of spec.ports ?? []) {
        if (typeof p.port !== 'number') continue;
        ix.servicePorts.push({ svc, port: p.port, name: p.name ?? '', protocol: p.protocol ?? 'TCP', clusterIP: spec.clusterIP ?? '', ...(typeof p.nodePort === 'number' ? { nodePort: p.nodePort } : {}) });
      }
    }
    for (const [key, p] of cluster.pods) {
      ix.pods.add(key);
      ix.namespaces.add(key.split('/')[0]);
      const iface = workloadInterfaceName(p.spec.namespace, p.spec.name);
      for (const dir of ['to', 'from'] as const) ix.calicoChains.set(endpointChainName(dir, iface), { kind: 'Pod', name: key, via: `chain ${endpointChainName(dir, iface)}` });
    }
    for (const o of cluster.store.list('Namespace')) ix.namespaces.add(String(meta(o).name));
    for (const ns of ix.namespaces) {
      for (const pre of ['cali-pri-', 'cali-pro-']) {
        const ch = lengthLimitedId(pre, `kns.${ns}`);
        ix.calicoChains.set(ch, { kind: 'Namespace', name: ns, via: `profile chain ${ch}` });
      }
    }
    // Policies: the manifests and every policy-apply event (a policy deleted later still decided packets before).
    const sc = cluster.scenario;
    const pols = [...sc.manifests, ...sc.events.flatMap((e) => (e.kind === 'policy-apply' ? [e.manifest] : []))];
    for (const m of pols) {
      if (m.kind !== 'NetworkPolicy' && m.kind !== 'AdminNetworkPolicy' && m.kind !== 'BaselineAdminNetworkPolicy') continue;
      const name = m.kind === 'NetworkPolicy' ? `${(m as { namespace?: string }).namespace ?? 'default'}/${m.name}` : m.name;
      ix.policies.set(`${m.kind}|${name}`, { kind: m.kind, name, via: 'rule comment' });
      const id = m.kind === 'NetworkPolicy' ? knpPolicyId(name.split('/')[0], m.name) : m.kind === 'AdminNetworkPolicy' ? `kanp/${m.name}` : `kbanp/${m.name}`;
      for (const dir of ['inbound', 'outbound'] as const) {
        const ch = policyChainName(dir, id);
        ix.calicoChains.set(ch, { kind: m.kind, name, via: `chain ${ch}` });
      }
    }
    return ix;
  }

  /** The object a rule comment names, when it names one of the run's. */
  fromComment(c: string): ObjectRef | null {
    let m = /^(anp|banp)\/([^\s/]+)(?:\s|$)/.exec(c);
    if (m) {
      const kind = m[1] === 'anp' ? 'AdminNetworkPolicy' : 'BaselineAdminNetworkPolicy';
      return this.policies.has(`${kind}|${m[2]}`) ? { kind, name: m[2], via: 'rule comment' } : null;
    }
    m = /^([a-z0-9][a-z0-9.-]*)\/([a-z0-9][a-z0-9.-]*)(:\S*)?(?:\s+(.*))?$/.exec(c);
    if (!m) return null;
    const name = `${m[1]}/${m[2]}`;
    const rest = m[4] ?? '';
    if (m[3] === undefined && rest === 'policy') return this.policies.has(`NetworkPolicy|${name}`) ? { kind: 'NetworkPolicy', name, via: 'rule comment' } : null;
    if (m[3] === undefined && (rest === 'in' || rest === 'out')) return this.pods.has(name) ? { kind: 'Pod', name, via: 'rule comment' } : null;
    if (m[3] !== undefined && this.services.has(name)) {
      const port = m[3].slice(1);
      return { kind: 'Service', name: port ? `${name} port ${port}` : name, via: 'rule comment' };
    }
    return null;
  }

  /**
   * The pod and policies a policy verdict names (src/kube/policy-explain.ts's text, which the
   * netfilter tracer appends to a DROP/REJECT rule and to the drop): `POD is isolated for DIR by
   * P1, P2; …`, `POD: AdminNetworkPolicy NAME (priority N) …`, `POD: BaselineAdminNetworkPolicy NAME …`.
   */
  fromVerdictText(t: string): ObjectRef[] {
    const out: ObjectRef[] = [];
    const via = 'policy verdict';
    const pod = (n: string) => { if (this.pods.has(n)) out.push({ kind: 'Pod', name: n, via }); };
    const pol = (kind: string, n: string) => { if (this.policies.has(`${kind}|${n}`)) out.push({ kind, name: n, via }); };
    let m = /(?:^|\(|: )(\S+) is isolated for (?:ingress|egress) by ([^;]+);/.exec(t);
    if (m) { for (const n of m[2].split(', ')) pol('NetworkPolicy', n); pod(m[1]); return out; }
    m = /(?:^|\(|: )(\S+): (AdminNetworkPolicy|BaselineAdminNetworkPolicy) (\S+) /.exec(t);
    if (m) { pol(m[2], m[3]); pod(m[1]); }
    return out;
  }

  /** The Service whose ClusterIP and port (or NodePort) `PROTO ADDR:PORT` is. */
  serviceAt(proto: string, addr: string, port: number, machineIPs: ReadonlySet<string>): ObjectRef | null {
    for (const p of this.servicePorts) {
      if (p.protocol !== proto) continue;
      if ((p.clusterIP === addr && p.port === port) || (p.nodePort === port && machineIPs.has(addr))) {
        return { kind: 'Service', name: p.name ? `${p.svc} port ${p.name}` : p.svc, via: p.clusterIP === addr ? `ClusterIP ${addr}:${port}` : `NodePort ${port}` };
      }
    }
    return null;
  }
}

/** `TABLE:CHAIN:rule:N RULE → VERDICT`, `TABLE:CHAIN:policy:P`, `TABLE:CHAIN:return`. */
export interface RuleLine {
  table: string;
  chain: string;
  /** Rule number, 0 for a policy or return line. */
  num: number;
  /** The rule as iptables-save prints it (`-A CHAIN …`), or `policy ACCEPT` / `return`. */
  rule: string;
  /** What the rule did (`ACCEPT`, `jump KUBE-SERVICES`, …) and any annotation after it. */
  outcome: string;
  comments: string[];
  /** `-j`/`-g` target chain or target. */
  target?: string;
}

export function parseRuleLine(detail: string): RuleLine | null {
  const m = /^([a-z]+):(\S+?):(rule:(\d+) (.*)|policy:(\S+)|return)$/s.exec(detail);
  if (!m) return null;
  if (m[6] !== undefined) return { table: m[1], chain: m[2], num: 0, rule: `policy ${m[6]}`, outcome: m[6], comments: [] };
  if (m[4] === undefined) return { table: m[1], chain: m[2], num: 0, rule: 'return', outcome: 'RETURN', comments: [] };
  const body = m[5];
  const arrow = body.lastIndexOf(' → ');
  const rule = arrow >= 0 ? body.slice(0, arrow) : body;
  const outcome = arrow >= 0 ? body.slice(arrow + 3) : '';
  const comments: string[] = [];
  const re = /--comment ("((?:[^"\\]|\\.)*)"|(\S+))/g;
  for (let c; (c = re.exec(rule)); ) comments.push(c[2] !== undefined ? c[2].replace(/\\(.)/g, '$1') : c[3]);
  const t = /(?:^| )-[jg] (\S+)/.exec(rule);
  const r: RuleLine = { table: m[1], chain: m[2], num: Number(m[4]), rule, outcome, comments };
  if (t) r.target = t[1];
  return r;
}

/** Hashed per-object chains: kube-proxy's KUBE-SVC-/SEP-/FW-/EXT-…, kube-router's KUBE-POD-FW-/NWPLCY-/ANP-… */
const HASHED_CHAIN = /^KUBE-[A-Z-]+-[A-Z2-7]{16}$/;

/**
 * The objects behind each event (null for none), in event order: rule comments, Calico
 * chains, per-object chains learned from the jumps seen so far, IPVS virtual services.
 */
export function objectsOfEvents(events: readonly TraceEvent[], ix: ObjectIndex, machineIPs: ReadonlySet<string>): (ObjectRef[] | null)[] {
  return events.map((ev) => {
    const out: ObjectRef[] = [];
    const add = (r: ObjectRef | null | undefined) => { if (r && !out.some((o) => o.kind === r.kind && o.name === r.name)) out.push(r); };
    if (ev.stage === 'nf.rule') {
      const r = parseRuleLine(ev.detail);
      if (!r) return null;
      for (const c of r.comments) {
        const o = ix.fromComment(c);
        add(o);
        if (o && r.target && HASHED_CHAIN.test(r.target) && !ix.learned.has(r.target)) ix.learned.set(r.target, { ...o, via: `chain ${r.target}, jumped to by a rule commented "${c}"` });
      }
      if (r.target) { add(ix.calicoChains.get(r.target)); add(ix.learned.get(r.target)); }
      for (const o of ix.fromVerdictText(r.outcome)) add(o);
      add(ix.calicoChains.get(r.chain));
      add(ix.learned.get(r.chain));
    } else if (ev.stage === 'drop') {
      for (const o of ix.fromVerdictText(ev.detail)) add(o);
    } else if (ev.stage === 'ipvs.sched' || ev.stage === 'ipvs.conn') {
      // `TCP 10.102.157.129:80 rr → …` / `TCP client → VIP:PORT → real …`
      const m = ev.stage === 'ipvs.sched' ? /^(TCP|UDP|SCTP) ([\d.]+):(\d+) /.exec(ev.detail) : /^(TCP|UDP|SCTP) [\d.]+:\d+ → ([\d.]+):(\d+) → /.exec(ev.detail);
      if (m) add(ix.serviceAt(m[1], m[2], Number(m[3]), machineIPs));
    }
    return out.length ? out : null;
  });
}
