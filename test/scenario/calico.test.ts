/**
 * The shipped Calico scenarios, end to end: what calico-node leaves on each node (tunl0, the
 * blackhole for its own block, each peer's block in the shape its pool's ipipMode gives), the BGP
 * topology (N(N−1)/2 mesh sessions vs reflectors), the wire (IP protocol 4 only where IPIP is
 * due; BGP UPDATEs with ORIGINATOR_ID / CLUSTER_LIST from a reflector, decoded by tshark), the
 * hold timer after a node-down, and natOutgoing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runScenarioFile, type RunResult } from '../../src/scenario/run.js';
import { formatRoute } from '../../src/kernel/fib.js';
import { MemorySink } from '../../src/trace/render.js';
import { describeWithTshark, runTshark } from '../helpers/tshark.js';
import type { Node } from '../../src/kernel/node.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function run(name: string, trace = false): { res: RunResult; dir: string; sink: MemorySink } {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-calico-'));
  dirs.push(dir);
  const sink = new MemorySink();
  const res = runScenarioFile(`scenarios/${name}.yaml`, { pcapDir: dir, ...(trace ? { trace: sink } : {}) });
  return { res, dir, sink };
}

const routes = (n: Node): string[] => n.ns('host').fib.routes(254).map(formatRoute);
const birdRoutes = (n: Node): string[] => routes(n).filter((r) => r.includes('proto bird'));

describe('scenarios/calico-ipip.yaml', () => {
  const { res } = run('calico-ipip');
  const cl = res.cluster;
  it('every expectation holds; the mesh has 3 sessions', () => {
    expect(res.results.map((r) => [r.name, r.ok])).toEqual(res.results.map((r) => [r.name, true]));
    expect(cl.calico!.bgp.sessions()).toBe(3);
    expect(cl.calico!.bgp.configuredSessions()).toBe(3);
  });
  it('each node: tunl0 up (MTU 1480) with its block\'s first address, a blackhole for its own block, the peers\' blocks via tunl0 onlink', () => {
    const ipam = cl.calico!.ipam;
    for (const [name, node] of cl.nodes) {
      const [block] = ipam.affineBlocks(name);
      expect(node.addrList('host', 'tunl0')).toEqual([`${block!.split('/')[0]}/32`]);
      expect(node.host.device('tunl0')!.mtu).toBe(1480);
      const others = [...cl.nodes.keys()].filter((n) => n !== name);
      const want = [
        `blackhole ${block} proto bird`,
        ...others.map((o) => `${ipam.affineBlocks(o)[0]} via ${cl.scenario.cluster.nodes.find((x) => x.name === o)!.ip.text.split('/')[0]} dev tunl0 proto bird onlink`),
      ].sort();
      expect(birdRoutes(node).sort()).toEqual(want);
    }
  });
  it('pod-to-pod crosses the underlay as IP protocol 4 between node addresses; natOutgoing hides the pod address outside the pools', () => {
    const web = res.results.find((r) => r.name === 'client-to-web')!;
    expect(web.path).toContain('node-1/host/tunl0');
    const out = res.results.find((r) => r.name === 'client-to-internet')!;
    expect(out.path).not.toContain('node-1/host/tunl0');
    expect(out.result).toBe('reply');
  });
});

describe('scenarios/calico-crosssubnet.yaml', () => {
  const { res } = run('calico-crosssubnet');
  it('same-subnet peers are routed natively, other-subnet peers through tunl0', () => {
    const n1 = res.cluster.nodes.get('node-1')!;
    const ipam = res.cluster.calico!.ipam;
    const r = birdRoutes(n1);
    expect(r).toContain(`${ipam.affineBlocks('node-2')[0]} via 192.168.70.12 dev eth0 proto bird`);
    expect(r).toContain(`${ipam.affineBlocks('node-3')[0]} via 192.168.80.13 dev tunl0 proto bird onlink`);
    expect(res.results.every((x) => x.ok)).toBe(true);
  });
});

describe('scenarios/calico-tor.yaml', () => {
  const { res } = run('calico-tor');
  it('the router learns every block by eBGP and routes them natively; no tunl0 anywhere', () => {
    const cl = res.cluster;
    const ipam = cl.calico!.ipam;
    const router = cl.routers[0]!;
    const learned = birdRoutes(router);
    for (const [name] of cl.nodes) {
      const ip = cl.scenario.cluster.nodes.find((x) => x.name === name)!.ip.text.split('/')[0]!;
      for (const b of ipam.affineBlocks(name)) expect(learned.some((l) => l.startsWith(`${b} via ${ip} dev eth`))).toBe(true);
    }
    for (const n of cl.nodes.values()) expect(n.host.device('tunl0')).toBeUndefined();
    // node-1 reaches the other rack's blocks through its gateway, the router (gateway recursive).
    expect(birdRoutes(cl.nodes.get('node-1')!)).toContain(`${ipam.affineBlocks('node-4')[0]} via 192.168.70.254 dev eth0 proto bird`);
    expect(res.results.every((x) => x.ok)).toBe(true);
  });
});

describe('scenarios/calico-route-reflectors.yaml', () => {
  const { res, dir } = run('calico-route-reflectors');
  it('17 sessions (2 reflectors × 8 clients + reflector pair) instead of the mesh\'s 45; clients learn every block', () => {
    const cl = res.cluster;
    expect(cl.calico!.bgp.sessions()).toBe(17);
    const n3 = cl.nodes.get('node-3')!;
    const blocks = [...cl.nodes.keys()].filter((n) => n !== 'node-3').flatMap((n) => cl.calico!.ipam.affineBlocks(n));
    for (const b of blocks) expect(birdRoutes(n3).some((r) => r.startsWith(`${b} via `) && r.includes('dev tunl0'))).toBe(true);
    expect(res.results.every((x) => x.ok)).toBe(true);
  });
  describeWithTshark('the reflectors\' UPDATEs on a client\'s wire (tshark)', () => {
    it('carry NEXT_HOP = the originating node, ORIGINATOR_ID = that node and CLUSTER_LIST = [244.0.0.1]', async () => {
      const out = await runTshark(['-r', path.join(dir, 'node-3__host__eth0.pcap'), '-Y', 'bgp.type == 2 && bgp.update.path_attribute.originator_id',
        '-T', 'fields', '-E', 'separator=;', '-e', 'ip.src', '-e', 'bgp.update.path_attribute.next_hop', '-e', 'bgp.update.path_attribute.originator_id', '-e', 'bgp.path_attribute.cluster_id']);
      const lines = out.split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThan(0);
      // Several UPDATEs may share a segment (each field then lists its values in order); a
      // reflector's own block carries no ORIGINATOR_ID, a reflected one does.
      const originators = new Set<string>();
      for (const l of lines) {
        const [src, nh, orig, clist] = l.split(';') as [string, string, string, string];
        expect(['192.168.70.11', '192.168.70.12']).toContain(src); // sent by a reflector
        const nhs = nh.split(','), origs = orig.split(',');
        for (const o of origs) { expect(nhs).toContain(o); originators.add(o); } // NEXT_HOP unchanged: the originator
        expect(new Set(clist.split(','))).toEqual(new Set(['244.0.0.1']));
      }
      // Every other client's block reached node-3 reflected (node-4 … node-10).
      for (let i = 14; i <= 20; i++) expect(originators.has(`192.168.70.${i}`)).toBe(true);
    });
  });
});

describe('scenarios/calico-node-failure.yaml', () => {
  const { res, sink } = run('calico-node-failure', true);
  it('the dead node\'s block stays routed until the hold timer (240 s less BIRD\'s shave) expires, then is withdrawn', () => {
    const text = sink.events.filter((e) => e.stage.startsWith('bgp.')).map((e) => `${e.time} ${e.node} ${e.detail}`);
    // The dead node says nothing: no NOTIFICATION, no FIN (BgpSpeaker.halt).
    const after = sink.events.filter((e) => e.node === 'node-3' && e.time > 20e9 && e.stage.startsWith('bgp.')).map((e) => e.detail);
    expect(after).toEqual([]);
    expect(sink.events.some((e) => e.node === 'node-3' && e.time === 20e9 && /gone with its machine/.test(e.detail))).toBe(true);
    const expiries = text.filter((l) => /^\d+ node-[12] .*Mesh_192_168_70_13 .*hold timer expired: sending NOTIFICATION 4\/0/.test(l));
    expect(expiries.length).toBe(2);
    for (const l of expiries) {
      const t = Number(l.split(' ')[0]) / 1e9;
      // node-3 died at 20 s; the last message heard from it came at most 80 s (keepalive) before.
      expect(t).toBeGreaterThan(20 + 0.75 * 240 - 80);
      expect(t).toBeLessThan(20 + 240);
    }
    const ipam = res.cluster.calico!.ipam;
    for (const n of ['node-1', 'node-2']) expect(birdRoutes(res.cluster.nodes.get(n)!).some((r) => r.startsWith(ipam.affineBlocks('node-3')[0]!))).toBe(false);
    expect(res.results.map((r) => r.result)).toEqual(['reply', 'reply', 'dropped', 'unreachable']);
  });
});

describe('scenarios/calico-node-join-leave.yaml', () => {
  const { res, sink } = run('calico-node-join-leave', true);
  it('a joining node gets a block, tunl0 and mesh sessions; a leaving one is removed at once (Cease 6/3) and its blocks released', () => {
    const cl = res.cluster;
    const ipam = cl.calico!.ipam;
    expect(res.results.every((r) => r.ok)).toBe(true);
    expect(ipam.affineBlocks('node-2')).toEqual([]); // released with the Node object
    expect(cl.nodes.get('node-3')!.addrList('host', 'tunl0')).toHaveLength(1);
    const removed = sink.events.filter((e) => e.stage === 'bgp.session' && /Mesh_192_168_70_12 .*neighbour removed: sending NOTIFICATION 6\/3/.test(e.detail));
    expect(removed.map((e) => [e.node, e.time])).toEqual([['node-1', 20e9], ['node-3', 20e9]]);
    for (const n of ['node-1', 'node-3']) expect(birdRoutes(cl.nodes.get(n)!).some((r) => r.includes('192.168.70.12'))).toBe(false);
    const joined = sink.events.filter((e) => e.stage === 'bgp.session' && e.node !== 'node-3' && /Mesh_192_168_70_13 .*Established/.test(e.detail));
    expect(joined.length).toBe(2);
    expect(joined.every((e) => e.time > 5e9)).toBe(true);
  });
});
