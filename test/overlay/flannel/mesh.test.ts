/**
 * The vxlan backend's shared peer mesh (src/overlay/flannel/mesh.ts over
 * src/kernel/peer-mesh.ts) changes nothing observable: every shipped flannel
 * vxlan scenario gives the same configuration logs, listings, trace and captures
 * with sharing on and off; and on hand-built clusters, a node that detaches (its
 * own change to a shared entry, flanneld stopping) behaves exactly like a node that
 * programmed its entries itself, through joins and leaves after that.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { formatRoute } from '../../../src/kernel/fib.js';
import { formatNeigh } from '../../../src/kernel/neigh.js';
import type { Node } from '../../../src/kernel/node.js';
import { ipToString, parseIp } from '../../../src/wire/bytes.js';
import { renderText, MemorySink } from '../../../src/trace/render.js';
import { NULL_SINK } from '../../../src/trace/events.js';
import { runScenarioFile } from '../../../src/scenario/run.js';
import { createVxlanBackend } from '../../../src/overlay/flannel/backend-vxlan.js';
import { KubeSubnetManager, EtcdSubnetManager, type SubnetManager } from '../../../src/overlay/flannel/subnet-manager.js';
import { setMeshSharing, VxlanPeerMesh } from '../../../src/overlay/flannel/mesh.js';
import { Flanneld } from '../../../src/overlay/flannel/agent.js';
import { agentLab, pubIP, type AgentLab } from './agent-topo.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tmp: string[] = [];
afterAll(() => { for (const d of tmp) rmSync(d, { recursive: true, force: true }); });

/** Everything a node shows: every table, every neighbour, flannel.1's FDB, and its configuration log. */
function state(n: Node): Record<string, string[]> {
  const ns = n.ns('host');
  const out: Record<string, string[]> = {
    main: ns.fib.routes(254).map(formatRoute),
    local: ns.fib.routes(255).map(formatRoute),
    neigh: [...ns.neighs.values()].map(formatNeigh),
    config: n.configCommands(),
  };
  for (const d of ns.devices.values()) if (d.kind === 'vxlan') out[`fdb ${d.name}`] = n.fdbShow('host', d.name);
  out.neighSize = [String(ns.neighs.size)];
  return out;
}

function withSharing<T>(on: boolean, f: () => T): T {
  const was = setMeshSharing(on);
  try { return f(); } finally { setMeshSharing(was); }
}

describe('shipped flannel vxlan scenarios: sharing on = sharing off', () => {
  const files = ['flannel-vxlan.yaml', 'flannel-vxlan-two-subnets.yaml', 'flannel-mtu.yaml', 'flannel-node-join-leave.yaml'];
  for (const f of files) {
    it(f, () => {
      const run = (on: boolean) => withSharing(on, () => {
        const dir = mkdtempSync(path.join(tmpdir(), 'pw-mesh-'));
        tmp.push(dir);
        const sink = new MemorySink();
        const r = runScenarioFile(path.join(ROOT, 'scenarios', f), { pcapDir: dir, trace: sink });
        const nodes = [...r.cluster.world.nodes.values()];
        const shared = r.cluster.flannel?.mesh && !r.cluster.flannel.mesh.broken
          ? [...r.cluster.flannel.agents.values()].filter((a) => a.sharing).length : 0;
        const pcaps = Object.fromEntries(readdirSync(dir).sort().map((p) => [p, readFileSync(path.join(dir, p)).toString('base64')]));
        return {
          shared,
          config: r.config,
          trace: sink.events.map((e) => renderText(e)).join('\n'),
          states: Object.fromEntries(nodes.map((n) => [n.name, state(n)])),
          pcaps,
          items: r.results.map((i) => JSON.stringify(i)),
        };
      });
      const on = run(true);
      const off = run(false);
      expect(off.shared).toBe(0);
      if (f !== 'flannel-node-join-leave.yaml') expect(on.shared).toBeGreaterThan(0);
      expect(on.config).toEqual(off.config);
      expect(on.states).toEqual(off.states);
      expect(on.items).toEqual(off.items);
      expect(on.trace === off.trace, 'trace differs').toBe(true);
      expect(Object.keys(on.pcaps)).toEqual(Object.keys(off.pcaps));
      for (const k of Object.keys(on.pcaps)) expect(on.pcaps[k] === off.pcaps[k], `${k} differs`).toBe(true);
    }, 60_000);
  }
});

/**
 * A kube-managed vxlan cluster of `n` machines, each of the first `started` running
 * flanneld: with a shared mesh (`mesh`) or each agent on its own.
 */
let traced = true;

function cluster(n: number, mesh: boolean, etcd = false) {
  const l = agentLab();
  if (!traced) l.w.trace = NULL_SINK;
  const sm: SubnetManager = etcd ? new EtcdSubnetManager(l.cfg, (k) => k - 1) : new KubeSubnetManager(l.store, l.cfg);
  const m = mesh ? new VxlanPeerMesh(sm, l.cfg.subnetLen) : undefined;
  if (m) { m.clock = () => l.w.now; m.traceOn = () => l.w.trace.on; }
  const agents: Flanneld[] = [];
  for (let i = 1; i <= n; i++) l.machine(i, `10.244.${i}.0/24`);
  const agent = (i: number): Flanneld => {
    const a = new Flanneld(l.nodes[i]!, sm, l.cfg, { extIface: 'eth0', publicIP: parseIp(pubIP(i))!, publicPrefix: 24, ipMasq: true, backend: createVxlanBackend, mesh: m });
    agents[i] = a;
    return a;
  };
  return { l, sm, m, agents, agent };
}

type C = ReturnType<typeof cluster>;

/** Runs the same script on a shared and a private cluster and compares every node after each step. */
function twin(n: number, steps: ((c: C) => void)[], etcd = false): { shared: C; priv: C } {
  const shared = cluster(n, true, etcd);
  const priv = cluster(n, false, etcd);
  steps.forEach((step, i) => {
    step(shared);
    step(priv);
    for (let k = 1; k <= n; k++) {
      expect(state(shared.l.nodes[k]!), `step ${i}, n${k}`).toEqual(state(priv.l.nodes[k]!));
      // The leases' expiration is left out: a shared node keeps the one the watch reported (see Flanneld.remoteLeases).
      const rl = (c: C) => c.agents[k]?.remoteLeases().map((x) => JSON.stringify({ ...x, expiration: 0 }));
      expect(rl(shared), `step ${i}, n${k} remoteLeases`).toEqual(rl(priv));
    }
    expect(notesOf(shared.l), `step ${i}: trace`).toEqual(notesOf(priv.l));
  });
  return { shared, priv };
}

const notesOf = (l: AgentLab): string[] => l.sink.events.map((e) => `${e.node} ${e.stage} ${e.detail}`);

/** Pings `dst` from `from`'s host namespace, returning the repliers. */
function ping(l: AgentLab, from: Node, dst: string): string[] {
  const got: string[] = [];
  const s = from.ns('host').sockets.pingOpen({ onReply: (_seq, src) => got.push(ipToString(src)), onError: () => {} }, 0x51);
  s.send(parseIp(dst)!, 1, 56);
  l.w.sched.run(l.w.now + 1e9);
  return got;
}

const startAll = (from: number, to: number) => (c: C) => { for (let i = from; i <= to; i++) c.agent(i).start(); };
/** The Node object of machine i is deleted (its lease goes). */
const deleteNode = (i: number) => (c: C) => c.l.store.delete('Node', undefined, `n${i}`);

for (const tr of [true, false]) describe(`a shared mesh equals private programming (trace ${tr ? 'on' : 'off'})`, () => {
  beforeEach(() => { traced = tr; });

  it('nodes start in turn; listings, logs and notes equal, and the nodes share', () => {
    const { shared } = twin(5, [startAll(1, 3), startAll(4, 5)]);
    expect(shared.agents.slice(1).every((a) => a.sharing)).toBe(true);
    expect(shared.m!.mesh.views.size).toBe(5);
    // flannel.1 of n1 holds no FDB entry of its own: they are the mesh's.
    expect(shared.l.nodes[1]!.ns('host').device('flannel.1')!.constructor.name).toBe('Vxlan');
    expect((shared.l.nodes[1]!.ns('host').device('flannel.1') as unknown as { fdb: Map<number, unknown> }).fdb.size).toBe(0);
    expect(shared.l.nodes[1]!.fdbShow('host', 'flannel.1')).toHaveLength(4);
  });

  it('pings cross the shared entries and the traces match', () => {
    const { shared, priv } = twin(3, [startAll(1, 3), (c) => {
      // The ping goes out of n1 from its flannel.1 address to n3's.
      expect(ping(c.l, c.l.nodes[1]!, '10.244.3.0')).toEqual(['10.244.3.0']);
    }]);
    const fib = (c: C) => c.l.sink.events.filter((e) => e.stage === 'fib.lookup' || e.stage === 'neigh' || e.stage === 'vxlan.fdb').map((e) => `${e.node} ${e.stage} ${e.detail}`);
    expect(fib(shared)).toEqual(fib(priv));
    if (traced) expect(fib(shared).some((x) => x.includes('hit') && x.includes('(PERMANENT)'))).toBe(true);
  });

  it('a user\'s ip route del of a shared route detaches that node only, which then follows leases as a private one', () => {
    const { shared } = twin(4, [
      startAll(1, 3),
      (c) => c.l.nodes[2]!.routeDel('host', { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'flannel.1', onlink: true }),
      startAll(4, 4),
      deleteNode(1),
      (c) => c.l.nodes[2]!.routeReplace('host', { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'flannel.1', onlink: true }),
    ]);
    expect(shared.agents[2]!.sharing).toBe(false);
    expect([1, 3, 4].map((i) => shared.agents[i]!.sharing)).toEqual([true, true, true]);
  });

  it('ip neigh replace / bridge fdb replace / neigh del of a shared entry detach; the node stays exact', () => {
    const { shared } = twin(4, [
      startAll(1, 4),
      (c) => c.l.nodes[1]!.neighReplace('host', '10.244.2.0', new Uint8Array([2, 0, 0, 0, 0, 9]), 'flannel.1', 'permanent'),
      (c) => c.l.nodes[2]!.fdbAdd('host', c.l.nodes[3]!.linkGet('host', 'flannel.1').mac, 'flannel.1', { dst: '192.168.70.99', op: 'replace', permanent: true }),
      (c) => c.l.nodes[3]!.neighDel('host', '10.244.1.0', 'flannel.1'),
      deleteNode(4),
    ]);
    expect([1, 2, 3].map((i) => shared.agents[i]!.sharing)).toEqual([false, false, false]);
  });

  it('flannel.1 going down flushes its routes: that node detaches; up again, it follows leases privately', () => {
    twin(3, [
      startAll(1, 2),
      (c) => c.l.nodes[1]!.linkSetUp('host', 'flannel.1', false),
      startAll(3, 3),
      (c) => c.l.nodes[1]!.linkSetUp('host', 'flannel.1', true),
      deleteNode(2),
    ]);
  });

  it('flanneld stopping on a node freezes its entries (detached); a node leaving and joining again', () => {
    const { shared } = twin(4, [
      startAll(1, 3),
      (c) => c.agents[2]!.stop(),
      startAll(4, 4),
      deleteNode(3),
      deleteNode(2),
      (c) => c.l.store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n3' }, spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24'] } }),
    ]);
    expect(shared.agents[2]!.sharing).toBe(false);
    expect(shared.agents[1]!.sharing).toBe(true);
  });

  it('a route of the node\'s own where a lease later lands: the node detaches first and replaces it, as flanneld does', () => {
    const { shared } = twin(3, [
      startAll(1, 2),
      (c) => c.l.nodes[1]!.routeAdd('host', { dst: '10.244.3.0/24', via: '192.168.70.13', dev: 'eth0' }),
      (c) => c.l.nodes[2]!.routeAdd('host', { dst: '10.244.9.0/24', via: '192.168.70.13', dev: 'eth0' }),
      startAll(3, 3),
    ]);
    expect(shared.agents[1]!.sharing).toBe(false);
    expect(shared.agents[2]!.sharing).toBe(true);
  });

  it('a lease of another backend type stops sharing everywhere; every node then handles it itself', () => {
    const { shared } = twin(3, [
      startAll(1, 2),
      (c) => {
        c.l.store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'odd', annotations: {
          'flannel.alpha.coreos.com/backend-type': 'host-gw', 'flannel.alpha.coreos.com/backend-data': 'null',
          'flannel.alpha.coreos.com/kube-subnet-manager': 'true', 'flannel.alpha.coreos.com/public-ip': '192.168.70.50',
        } }, spec: { podCIDR: '10.244.50.0/24', podCIDRs: ['10.244.50.0/24'] } });
      },
      startAll(3, 3),
    ]);
    expect(shared.m!.broken).toBe(true);
    expect([1, 2, 3].map((i) => shared.agents[i]!.sharing)).toEqual([false, false, false]);
  });

  it('a lease changing (public IP annotation) replaces the entries: they move to the end of the listings', () => {
    twin(4, [
      startAll(1, 4),
      (c) => {
        const obj = c.l.store.get('Node', undefined, 'n2')!;
        const meta = obj.metadata as Record<string, unknown>;
        c.l.store.update({ ...obj, metadata: { ...meta, annotations: { ...(meta.annotations as Record<string, string>), 'flannel.alpha.coreos.com/public-ip': '192.168.70.77' }, resourceVersion: undefined } });
      },
      (c) => c.l.nodes[3]!.routeDel('host', { dst: '10.244.1.0/24' }),
      deleteNode(2),
    ]);
  });

  it('the etcd subnet manager (subnets chosen by the registry, renewals)', () => {
    twin(3, [
      startAll(1, 3),
      (c) => c.l.w.sched.run(c.l.w.now + 24 * 3600e9),
      (c) => c.agents[3]!.stop(),
      (c) => c.l.w.sched.run(c.l.w.now + 25 * 3600e9),
    ], true);
  });

  it('the configuration log renders lazily: one record per run of lease events', () => {
    const { shared } = twin(6, [startAll(1, 6)]);
    const n1 = shared.l.nodes[1]!;
    const lazy = n1.configLog.filter((e) => typeof e !== 'string');
    expect(lazy.length).toBeLessThanOrEqual(3);
    expect(n1.configCommands().filter((c) => c.startsWith('ip route replace 10.244.'))).toHaveLength(5);
  });
});
