/**
 * Fault events at run time: link-down / link-up, impair (netem), node-up after a
 * node-down, agent-stop / agent-start. What Linux does on each:
 *
 * - A pod's veth: `ip link set HOSTVETH down` on the node. The host end is down (its
 *   routes and neighbours flushed: NETDEV_DOWN); the pod's eth0 loses carrier
 *   (NO-CARRIER, state DOWN): its routes stay (linkdown, still used), its non-permanent
 *   neighbours are flushed (neigh_carrier_down) and what it sends is dropped (QDISC_DROP,
 *   noop_qdisc). Up again: Calico's Felix puts the pod's /32 route back.
 * - A machine's device or a whole segment: the cable (or switch port) goes: carrier off,
 *   admin state unchanged, the same carrier-loss effects.
 * - Carrier loss resets the qdisc (dev_deactivate): frames netem holds are freed.
 */
import type { Cluster } from './build.js';
import type { EventSpec, LinkRef } from './types.js';
import type { NetDevice } from '../kernel/device.js';
import { Netem } from '../kernel/netem.js';
import { carrierLost } from '../kernel/carrier.js';
import type { Route } from '../kernel/fib.js';
import { formatIPv4 } from './validateNet.js';
import { InputError } from './errors.js';

type FaultEvent = Extract<EventSpec, { kind: 'link-down' | 'link-up' | 'impair' | 'node-up' | 'agent-stop' | 'agent-start' }>;

const FAULT_KINDS = new Set(['link-down', 'link-up', 'impair', 'node-up', 'agent-stop', 'agent-start']);
export const isFault = (e: EventSpec): e is FaultEvent => FAULT_KINDS.has(e.kind);

/** Routes through a failed node's eth0 that its boot configuration set (the kernel flushes them with the link). */
const bootRoutes = new WeakMap<Cluster, Map<string, Route[]>>();

/**
 * Checks, once the cluster is built, that each fault event's device or segment exists
 * (the loader cannot know devices the plugins create); errors name the event.
 */
export function checkFaultTargets(cl: Cluster): void {
  for (const e of cl.scenario.events) {
    if (e.kind !== 'link-down' && e.kind !== 'link-up' && e.kind !== 'impair') continue;
    const l = e.link;
    const pl = l.kind === 'pod' ? l : null;
    const pod = pl ? cl.scenario.manifests.find((m) => m.kind === 'Pod' && m.namespace === pl.namespace && m.name === pl.name) : undefined;
    if (pl && pod && (pod as { hostNetwork?: boolean }).hostNetwork) {
      throw new InputError(e.pos.file, e.pos.line, e.pos.col, `${e.kind}: pod ${pl.namespace}/${pl.name} uses the host network: it has no veth of its own`, 'a pod with its own network namespace, or node/NAME/DEV');
    }
    if (l.kind === 'device') {
      const m = cl.nodes.get(l.machine) ?? cl.hosts.get(l.machine);
      const names = m ? [...m.ns('host').devices.values()].map((d) => d.name) : [];
      if (!names.includes(l.device)) throw new InputError(e.pos.file, e.pos.line, e.pos.col, `${e.kind}: no device ${JSON.stringify(l.device)} on ${l.machine}`, `one of ${names.join(', ')}`);
    } else if (l.kind === 'segment' && !cl.segments.some((s) => s.name === l.cidr)) {
      throw new InputError(e.pos.file, e.pos.line, e.pos.col, `${e.kind}: no underlay segment ${l.cidr}`, `one of ${cl.segments.map((s) => `segment/${s.name}`).join(', ')}`);
    }
  }
}

/** Before a node-down: what the link flush will take that the machine's boot would put back. */
export function beforeNodeDown(cl: Cluster, name: string): void {
  const node = cl.nodes.get(name)!;
  const ns = node.ns('host');
  const eth0 = ns.devices.get('eth0');
  const keep = ns.fib.routes(254).filter((r) => r.dev === eth0 && r.proto !== 'kernel' && r.proto !== 'bird');
  let m = bootRoutes.get(cl);
  if (!m) bootRoutes.set(cl, (m = new Map()));
  m.set(name, keep);
}

export function applyFault(cl: Cluster, e: FaultEvent): void {
  switch (e.kind) {
    case 'link-down':
    case 'link-up':
      return setLink(cl, e.link, e.kind === 'link-up');
    case 'impair':
      for (const d of devicesOf(cl, e.link, 'tx')) impair(d, e.netem);
      return;
    case 'node-up':
      return nodeUp(cl, e.node);
    case 'agent-stop':
    case 'agent-start':
      return agent(cl, e.node, e.agent, e.kind === 'agent-start');
  }
}

/** The devices a link names. `tx`: the transmitting side impair acts on (a pod's own eth0). */
function devicesOf(cl: Cluster, l: LinkRef, side: 'tx' | 'host'): NetDevice[] {
  let d: NetDevice | undefined;
  if (l.kind === 'pod') {
    // A pod deleted by then, or not there yet (its node joins later), has no link to act on.
    const p = cl.pods.get(`${l.namespace}/${l.name}`);
    if (p && p.hostVeth !== undefined) d = side === 'tx' ? p.node.ns(p.netns).devices.get('eth0') : p.node.ns('host').devices.get(p.hostVeth);
  } else if (l.kind === 'device') {
    d = (cl.nodes.get(l.machine) ?? cl.hosts.get(l.machine))?.ns('host').devices.get(l.device); // deleted since: nothing to do
  } else return [...cl.segments.find((s) => s.name === l.cidr)!.ports];
  return d ? [d] : [];
}

function setLink(cl: Cluster, l: LinkRef, up: boolean): void {
  if (l.kind === 'pod') {
    const p = cl.pods.get(`${l.namespace}/${l.name}`);
    if (!p || p.hostVeth === undefined) return; // deleted, or hostNetwork: no veth
    const host = p.node.ns('host').devices.get(p.hostVeth)!;
    const inner = p.node.ns(p.netns).devices.get('eth0')!;
    linkNote(host, `pod ${l.namespace}/${l.name}'s veth: ip link set ${p.hostVeth} ${up ? 'up' : 'down'}${up ? '' : `; ${p.netns}/eth0 loses carrier`}`);
    host.netem?.reset();
    p.node.linkSetUp('host', p.hostVeth, up);
    if (!up) carrierLost(inner);
    else if (p.calico && !p.node.ns('host').fib.routes(254).some((r) => r.dev === host)) {
      // Felix watches the interface: once it is up again it programs the workload's route.
      p.node.routeAdd('host', { dst: `${formatIPv4(p.ip)}/32`, dev: p.hostVeth, scope: 'link' });
    }
    return;
  }
  for (const d of devicesOf(cl, l, 'host')) {
    if (d.carrier === up) continue;
    linkNote(d, `${d.name}: carrier ${up ? 'back (LOWER_UP)' : 'lost (NO-CARRIER)'}`);
    d.carrier = up;
    if (!up) carrierLost(d);
  }
}

function impair(d: NetDevice, spec: Netem['spec']): void {
  const node = d.netns.node;
  const had = d.netem !== null;
  d.netem?.reset(); // a replaced qdisc frees what it held
  const args = Netem.args(spec);
  d.netem = args === '' ? null : new Netem(d, spec);
  const cmd = args === '' ? (had ? `tc qdisc del dev ${d.name} root` : null) : `tc qdisc ${had ? 'replace' : 'add'} dev ${d.name} root netem ${args}`;
  if (cmd === null) return;
  node.logCommand(d.netns.name, cmd);
  linkNote(d, cmd);
}

/** A link's change, at the device. */
function linkNote(d: NetDevice, detail: string): void {
  const w = d.netns.node.world;
  if (w.trace.on) w.event(d.netns.node.name, d.netns.name, d.name, null, 'link.state', detail);
}

function nodeUp(cl: Cluster, name: string): void {
  if (!cl.downNodes.delete(name)) return;
  note(cl, `node ${name} powers back: its NIC has carrier again and its agents start`);
  const node = cl.nodes.get(name)!;
  node.linkSetUp('host', 'eth0', true);
  // The boot configuration's routes (default route, static routes) come back with the machine.
  const ns = node.ns('host');
  for (const r of bootRoutes.get(cl)?.get(name) ?? []) {
    if (ns.fib.find({ dst: r.dst, prefix: r.prefix, table: r.table, metric: r.metric })) continue;
    node.routeAdd('host', {
      dst: r.prefix === 0 ? 'default' : `${formatIPv4(r.dst)}/${r.prefix}`, dev: 'eth0', metric: r.metric || undefined,
      ...(r.gw ? { via: formatIPv4(r.gw) } : {}), ...(r.onlink ? { onlink: true } : {}),
    });
  }
  agent(cl, name, cl.flannel ? 'flanneld' : 'bird', true);
  // kube-proxy and the policy agent start again; the kubelet renews its lease (the node lifecycle controller's side).
  cl.control?.nodeUp(name);
}

function agent(cl: Cluster, name: string, which: 'flanneld' | 'bird', start: boolean): void {
  // A machine not in the cluster (yet, or any more) or powered off runs no agent to kill or start.
  if (cl.pendingNodes.has(name) || cl.leftNodes.has(name) || cl.downNodes.has(name)) return;
  const node = cl.nodes.get(name)!;
  if (which === 'flanneld') {
    const a = cl.flannel?.agents.get(name);
    if (!a) return;
    agentNote(cl, name, `flanneld ${start ? 'starts' : 'is killed'}`);
    if (start) a.start(); else a.stop();
    return;
  }
  if (!cl.calico) return;
  agentNote(cl, name, `BIRD ${start ? 'starts' : 'is killed'}`);
  if (start) cl.calico.birdStart(node); else cl.calico.birdKill(node);
}

function agentNote(cl: Cluster, node: string, detail: string): void {
  if (cl.world.trace.on) cl.world.event(node, 'host', '', null, 'agent', detail);
}

function note(cl: Cluster, detail: string): void {
  if (cl.world.trace.on) cl.world.event('apiserver', '', '', null, 'kube.event', detail);
}
