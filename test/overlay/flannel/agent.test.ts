/**
 * flanneld through its public face (Flanneld, KubeSubnetManager, EtcdSubnetManager
 * and the backend factories) on hand-built machines: what it logs, what the tables
 * hold, what the Node objects say, how it follows leases coming and going, and that
 * the result carries packets. Only observable state is read: config logs, `ip route`
 * / `ip neigh` / `bridge fdb` listings, the object store and trace events.
 */
import { describe, expect, it } from 'vitest';
import { formatRoute } from '../../../src/kernel/fib.js';
import { formatNeigh } from '../../../src/kernel/neigh.js';
import type { Node } from '../../../src/kernel/node.js';
import { ipToString, macToString, parseIp } from '../../../src/wire/bytes.js';
import { createVxlanBackend } from '../../../src/overlay/flannel/backend-vxlan.js';
import { createHostGwBackend } from '../../../src/overlay/flannel/backend-hostgw.js';
import { EtcdSubnetManager, KubeSubnetManager } from '../../../src/overlay/flannel/subnet-manager.js';
import { LeaseError } from '../../../src/overlay/flannel/leases.js';
import { agentLab, pubIP, type AgentLab } from './agent-topo.js';

const H = 3600e9;
const routes = (n: Node): string[] => n.ns('host').fib.routes(254).map(formatRoute);
const neighs = (n: Node, dev: string): string[] => [...n.ns('host').neighs.values()].filter((e) => e.dev.name === dev).map(formatNeigh);
const vtep = (n: Node): string => macToString(n.linkGet('host', 'flannel.1').mac);
const notes = (l: AgentLab, stage: string, node?: string) => l.sink.events.filter((e) => e.stage === stage && (node === undefined || e.node === node));
const remoteTriple = (n: Node, sub: string, mac: string, pub: string) => ({
  route: routes(n).includes(`${sub}/24 via ${sub} dev flannel.1 onlink`),
  neigh: neighs(n, 'flannel.1').includes(`${sub} dev flannel.1 lladdr ${mac} PERMANENT`),
  fdb: n.fdbShow('host', 'flannel.1').includes(`${mac} dst ${pub} self permanent`),
});
const ALL = { route: true, neigh: true, fdb: true };
const NONE = { route: false, neigh: false, fdb: false };

/** Three kube-managed vxlan nodes, started in order. */
function kubeVxlan() {
  const l = agentLab();
  const sm = new KubeSubnetManager(l.store, l.cfg);
  const agents = [1, 2, 3].map((i) => { l.machine(i, `10.244.${i}.0/24`); return l.agent(i, sm, createVxlanBackend); });
  for (const a of agents) a.start();
  return { l, sm, agents };
}

/** Pings `dst` from `from`'s own namespace; resolves the replies' sources after running the clock. */
function ping(l: AgentLab, from: Node, dst: string): string[] {
  const got: string[] = [];
  const s = from.ns('host').sockets.pingOpen({ onReply: (_seq, src) => got.push(ipToString(src)), onError: () => {} }, 0x51);
  s.send(parseIp(dst)!, 1, 56);
  l.w.sched.run(l.w.now + 1e9);
  return got;
}

describe('flanneld with the kube subnet manager (vxlan)', () => {
  it('start-up order on a node: flannel.1, iptables, subnet.env, the /32 and up, then each known lease', () => {
    const { l } = kubeVxlan();
    const c = l.nodes[3]!.configCommands();
    const at = (re: RegExp) => c.findIndex((x) => re.test(x));
    const order = [
      at(/^ip link add flannel\.1 address \S+ type vxlan id 1 local 192\.168\.70\.13 dev eth0 dstport 8472 nolearning$/),
      at(/^iptables-restore --noflush/),
      at(/^# \/run\/flannel\/subnet\.env: FLANNEL_NETWORK=10\.244\.0\.0\/16 FLANNEL_SUBNET=10\.244\.3\.1\/24 FLANNEL_MTU=1450 FLANNEL_IPMASQ=true$/),
      at(/^ip addr add 10\.244\.3\.0\/32 dev flannel\.1$/),
      at(/^ip link set flannel\.1 up$/),
      at(/^ip neigh replace 10\.244\.1\.0 /),
      at(/^ip neigh replace 10\.244\.2\.0 /),
    ];
    expect(order.every((i) => i >= 0), JSON.stringify(order)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('every node has exactly the other two nodes\' triples, and the Node objects carry the leases', () => {
    const { l } = kubeVxlan();
    for (const i of [1, 2, 3]) {
      const me = l.nodes[i]!;
      for (const j of [1, 2, 3]) {
        if (j === i) continue;
        expect(remoteTriple(me, `10.244.${j}.0`, vtep(l.nodes[j]!), pubIP(j)), `n${i} → n${j}`).toEqual(ALL);
      }
      expect(me.fdbShow('host', 'flannel.1')).toHaveLength(2);
      expect(neighs(me, 'flannel.1')).toHaveLength(2);
      const a = (l.store.get('Node', undefined, `n${i}`)!.metadata as { annotations: Record<string, string> }).annotations;
      expect(a).toMatchObject({
        'flannel.alpha.coreos.com/backend-type': 'vxlan',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
        'flannel.alpha.coreos.com/public-ip': pubIP(i),
      });
      expect(JSON.parse(a['flannel.alpha.coreos.com/backend-data']!)).toEqual({ VNI: 1, VtepMAC: vtep(me) });
    }
  });

  it('packets cross: n1 pings n3\'s flannel.1 address through the tunnel and hears the reply from it', () => {
    const { l } = kubeVxlan();
    expect(ping(l, l.nodes[1]!, '10.244.3.0')).toEqual(['10.244.3.0']);
  });

  it('a Node object deleted: the others remove its entries (and log the removal); a Node that comes back is programmed again', () => {
    const { l } = kubeVxlan();
    const mac2 = vtep(l.nodes[2]!);
    const obj = l.store.get('Node', undefined, 'n2')!;
    l.store.delete('Node', undefined, 'n2');
    for (const i of [1, 3]) {
      expect(remoteTriple(l.nodes[i]!, '10.244.2.0', mac2, pubIP(2))).toEqual(NONE);
      expect(notes(l, 'flannel.lease', `n${i}`).map((e) => e.detail)).toContain('lease 10.244.2.0-24 of 192.168.70.12 removed');
    }
    expect(ping(l, l.nodes[1]!, '10.244.2.0')).toEqual([]);
    l.store.create({ ...obj, metadata: { ...(obj.metadata as object), resourceVersion: undefined } });
    for (const i of [1, 3]) expect(remoteTriple(l.nodes[i]!, '10.244.2.0', mac2, pubIP(2))).toEqual(ALL);
  });

  it('a Node losing flannel\'s annotations stops being a lease for the others', () => {
    const { l } = kubeVxlan();
    const mac3 = vtep(l.nodes[3]!);
    const obj = l.store.get('Node', undefined, 'n3')!;
    const meta = obj.metadata as { annotations: Record<string, string> };
    l.store.update({ ...obj, metadata: { ...meta, annotations: {}, resourceVersion: undefined } });
    expect(remoteTriple(l.nodes[1]!, '10.244.3.0', mac3, pubIP(3))).toEqual(NONE);
    expect(remoteTriple(l.nodes[2]!, '10.244.3.0', mac3, pubIP(3))).toEqual(NONE);
  });

  it('a stopped flanneld leaves what it programmed and follows nothing after', () => {
    const { l, sm, agents } = kubeVxlan();
    agents[0]!.stop();
    expect(notes(l, 'flannel.stop', 'n1').map((e) => e.detail)).toEqual(['flanneld stopped']);
    l.machine(4, '10.244.4.0/24');
    l.agent(4, sm, createVxlanBackend).start();
    expect(remoteTriple(l.nodes[1]!, '10.244.4.0', vtep(l.nodes[4]!), pubIP(4))).toEqual(NONE);
    expect(remoteTriple(l.nodes[2]!, '10.244.4.0', vtep(l.nodes[4]!), pubIP(4))).toEqual(ALL);
    // n1 still reaches n2 with what it had programmed
    expect(remoteTriple(l.nodes[1]!, '10.244.2.0', vtep(l.nodes[2]!), pubIP(2))).toEqual(ALL);
    // and the others keep n1 (its Node object is still there)
    expect(remoteTriple(l.nodes[4]!, '10.244.1.0', vtep(l.nodes[1]!), pubIP(1))).toEqual(ALL);
  });

  // flannel's ensureLink: LinkAdd failing with EEXIST is fine when the existing device's
  // configuration is compatible (same VNI, local address, port…): flanneld reuses it, so a
  // restarted flanneld keeps flannel.1 and its MAC.
  it('a restarted flanneld reuses the flannel.1 it finds (same VtepMAC)', () => {
    const { l, sm, agents } = kubeVxlan();
    const mac = vtep(l.nodes[2]!);
    agents[1]!.stop();
    l.agent(2, sm, createVxlanBackend).start();
    expect(vtep(l.nodes[2]!)).toBe(mac);
    expect(remoteTriple(l.nodes[1]!, '10.244.2.0', mac, pubIP(2))).toEqual(ALL);
  });

  it('no podCIDR on the Node, or one outside the Network: flanneld cannot start (LeaseError)', () => {
    const l = agentLab();
    const sm = new KubeSubnetManager(l.store, l.cfg);
    l.machine(1);
    l.store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: {} });
    let err: unknown;
    try { l.agent(1, sm, createVxlanBackend).start(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LeaseError);
    expect((err as Error).message).toBe('node "n1" pod cidr not assigned');
    l.machine(2, '10.99.2.0/24');
    expect(() => l.agent(2, sm, createVxlanBackend).start()).toThrow(/not inside the flannel Network 10\.244\.0\.0\/16/);
    l.machine(3);
    expect(() => l.agent(3, sm, createVxlanBackend).start()).toThrow(/nodes "n3" not found/);
  });

  it('a lease of another backend type is ignored, with an error in the trace', () => {
    const l = agentLab();
    const sm = new KubeSubnetManager(l.store, l.cfg);
    l.machine(1, '10.244.1.0/24');
    l.machine(2, '10.244.2.0/24');
    l.agent(1, sm, createHostGwBackend).start();
    l.agent(2, sm, createVxlanBackend).start();
    const err = notes(l, 'flannel.vxlan', 'n2').map((e) => e.detail);
    expect(err).toEqual(['error: ignoring lease 10.244.1.0/24 of 192.168.70.11: backend type host-gw, not vxlan']);
    expect(routes(l.nodes[2]!).some((r) => r.startsWith('10.244.1.0/24'))).toBe(false);
    expect(notes(l, 'flannel.host-gw', 'n1').map((e) => e.detail)).toEqual(['error: ignoring lease 10.244.2.0/24 of 192.168.70.12: backend type vxlan, not host-gw']);
  });

  it('vxlan DirectRouting: a node on the same subnet gets a plain route via its address, no neigh or fdb', () => {
    const l = agentLab('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}');
    const sm = new KubeSubnetManager(l.store, l.cfg);
    l.machine(1, '10.244.1.0/24');
    l.machine(2, '10.244.2.0/24');
    l.agent(1, sm, createVxlanBackend).start();
    l.agent(2, sm, createVxlanBackend).start();
    expect(routes(l.nodes[1]!)).toContain('10.244.2.0/24 via 192.168.70.12 dev eth0');
    expect(l.nodes[1]!.fdbShow('host', 'flannel.1')).toEqual([]);
    expect(neighs(l.nodes[1]!, 'flannel.1')).toEqual([]);
    expect(l.nodes[1]!.configCommands()).toContain('ip route replace 10.244.2.0/24 via 192.168.70.12 dev eth0');
  });
});

describe('flanneld with the etcd subnet manager', () => {
  function etcd(seed = 1) {
    const l = agentLab('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}', seed);
    const sm = new EtcdSubnetManager(l.cfg, (k) => l.w.rng.int(0, k - 1), l.w.sched);
    const agents = [1, 2, 3].map((i) => { l.machine(i); return l.agent(i, sm, createVxlanBackend); });
    for (const a of agents) a.start();
    const sub = (i: number) => ipToString(agents[i - 1]!.lease!.subnet.addr);
    return { l, sm, agents, sub };
  }

  it('each node gets a distinct /24 of flanneld\'s choice, skipping the Network\'s first, the same for the same seed', () => {
    const a = etcd(7);
    const subs = [1, 2, 3].map(a.sub);
    expect(new Set(subs).size).toBe(3);
    for (const s of subs) {
      expect(s).toMatch(/^10\.244\.\d+\.0$/);
      expect(s).not.toBe('10.244.0.0');
    }
    expect([1, 2, 3].map(etcd(7).sub)).toEqual(subs);
    for (const i of [1, 2, 3]) {
      expect(a.l.nodes[i]!.configCommands()).toContain(`ip addr add ${a.sub(i)}/32 dev flannel.1`);
      for (const j of [1, 2, 3]) if (j !== i) expect(remoteTriple(a.l.nodes[i]!, a.sub(j), vtep(a.l.nodes[j]!), pubIP(j))).toEqual(ALL);
    }
    expect(ping(a.l, a.l.nodes[1]!, a.sub(2))).toEqual([a.sub(2)]);
  });

  it('a restarted flanneld (same public IP) keeps its subnet', () => {
    const { l, sm, agents, sub } = etcd();
    const before = sub(2);
    agents[1]!.stop();
    l.nodes[2]!.linkDel('host', 'flannel.1');
    const again = l.agent(2, sm, createVxlanBackend);
    again.start();
    expect(ipToString(again.lease!.subnet.addr)).toBe(before);
  });

  it('live nodes renew RENEW_MARGIN (1 h) before expiry, so they keep each other for days', () => {
    const { l, sub } = etcd();
    l.w.sched.run(100 * H);
    for (const i of [1, 2, 3]) {
      const renewed = notes(l, 'flannel.lease', `n${i}`).filter((e) => e.detail.startsWith('renewed lease'));
      expect(renewed.map((e) => e.time)).toEqual([23 * H, 46 * H, 69 * H, 92 * H]);
      for (const j of [1, 2, 3]) if (j !== i) expect(remoteTriple(l.nodes[i]!, sub(j), vtep(l.nodes[j]!), pubIP(j))).toEqual(ALL);
    }
  });

  it('a stopped node\'s lease outlives it: the others keep its entries until the TTL', () => {
    const { l, agents, sub } = etcd();
    agents[1]!.stop();
    l.w.sched.run(23.9 * H);
    for (const i of [1, 3]) expect(remoteTriple(l.nodes[i]!, sub(2), vtep(l.nodes[2]!), pubIP(2))).toEqual(ALL);
  });

  // etcd deletes a key whose lease TTL ran out at that time and every watcher sees the delete.
  it('a stopped node\'s lease expires at 24 h and the others remove its entries then', () => {
    const { l, agents, sub } = etcd();
    agents[1]!.stop();
    l.w.sched.run(24 * H + 60e9);
    for (const i of [1, 3]) expect(remoteTriple(l.nodes[i]!, sub(2), vtep(l.nodes[2]!), pubIP(2))).toEqual(NONE);
  });

  it('… and they are gone by the next renewal at the latest', () => {
    const { l, agents, sub } = etcd();
    agents[1]!.stop();
    l.w.sched.run(47 * H);
    for (const i of [1, 3]) {
      expect(remoteTriple(l.nodes[i]!, sub(2), vtep(l.nodes[2]!), pubIP(2))).toEqual(NONE);
      expect(remoteTriple(l.nodes[i]!, sub(i === 1 ? 3 : 1), vtep(l.nodes[i === 1 ? 3 : 1]!), pubIP(i === 1 ? 3 : 1))).toEqual(ALL);
    }
  });
});
