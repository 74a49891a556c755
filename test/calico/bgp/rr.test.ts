/**
 * Route reflection (RFC 4456) in a 10-node cluster: one reflector, then two
 * sharing a cluster id; clients learn each other's blocks through the
 * reflectors with NEXT_HOP unchanged, ORIGINATOR_ID and CLUSTER_LIST.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatRoute } from '../../../src/kernel/fib.js';
import type { Node } from '../../../src/kernel/node.js';
import { BgpCluster } from '../../../src/calico/bgp/index.js';
import { bgpLab } from './lab.js';
import { checkCapture, itTshark, runTshark } from '../../helpers/tshark.js';

const birdRoutes = (n: Node): string[] => n.ns('host').fib.routes(254).map(formatRoute).filter((r) => r.includes('proto bird'));

function rrCluster(reflectors: number[], capture?: string) {
  const lab = bgpLab(10, capture ? { capture } : {});
  const c = new BgpCluster(lab.w, { mode: 'reflectors' });
  lab.nodes.forEach((node, i) => c.add({ node, ip: lab.ips[i], ...(reflectors.includes(i + 1) ? { clusterId: '224.0.0.1' } : {}) }));
  c.start();
  c.speakers.forEach((s, i) => s.announce(`10.48.${i + 1}.0/26`));
  lab.run(20);
  return { lab, c };
}

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-bgp-rr-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe('route reflectors', () => {
  it('one reflector: 9 sessions, every client has every other block via its originating node', () => {
    const { lab, c } = rrCluster([1]);
    expect(c.configuredSessions()).toBe(9);
    expect(c.sessions()).toBe(9);
    for (let k = 2; k <= 10; k++) {
      const r = birdRoutes(lab.nodes[k - 1]);
      expect(r).toHaveLength(10);
      expect(r).toContain(`blackhole 10.48.${k}.0/26 proto bird`);
      for (let j = 1; j <= 10; j++) if (j !== k) expect(r).toContain(`10.48.${j}.0/26 via 192.168.70.${10 + j} dev eth0 proto bird`);
    }
    expect(birdRoutes(lab.nodes[0])).toHaveLength(10);
    // n5 learned n7's block from the reflector: ORIGINATOR_ID n7, CLUSTER_LIST the cluster id, next hop n7.
    expect(lab.lines('bgp.update', 'n5')).toContain(
      'bgp.update Node_192_168_70_11 (192.168.70.11): received UPDATE announce 10.48.7.0/26 #4'.replace('#4', lab.lines('bgp.update', 'n5').find((l) => l.includes('received UPDATE announce 10.48.7.0/26'))!.match(/#(\d+)/)![0])
        + ' via 192.168.70.17 as-path [] local-pref 100 originator 192.168.70.17 cluster-list 224.0.0.1');
    const p = c.speakers[4].best('10.48.7.0/26')!;
    expect(p.originatorId).toBe(0xc0a84611);
    expect(p.clusterList).toEqual([0xe0000001]);
    // The reflector's own block goes out without RFC 4456 attributes, with path id 2.
    expect(lab.lines('bgp.update', 'n5')).toContain('bgp.update Node_192_168_70_11 (192.168.70.11): received UPDATE announce 10.48.1.0/26 #2 via 192.168.70.11 as-path [] local-pref 100');
    expect(c.speakers[0].showRoute()).toContain('10.48.5.0/26         unicast [Node_192_168_70_15');
  });

  it('two reflectors sharing a cluster id: 17 sessions, clients get two paths (ADD-PATH), reflectors drop their own cluster id', () => {
    const { lab, c } = rrCluster([1, 2]);
    expect(c.sessions()).toBe(2 * 8 + 1);
    const s5 = c.speakers[4];
    const e = s5.entry('10.48.7.0/26')!;
    expect(e.paths.map((x) => x.peer!.name).sort()).toEqual(['Node_192_168_70_11', 'Node_192_168_70_12']);
    // Same originator, same cluster list length: the lower neighbour address wins.
    expect(e.best!.peer!.name).toBe('Node_192_168_70_11');
    expect(birdRoutes(lab.nodes[4])).toContain('10.48.7.0/26 via 192.168.70.17 dev eth0 proto bird');
    expect(lab.lines('bgp.update', 'n2').some((l) => l.includes('our cluster id in CLUSTER_LIST, route ignored'))).toBe(true);
    // Reflector n2 holds one path for n7's block: the client's own (a reflected copy loops).
    expect(c.speakers[1].entry('10.48.7.0/26')!.paths).toHaveLength(1);
    // A reflector going away (its own block with it): clients keep every other block through the other one.
    c.speakers[0].stop();
    lab.run(5);
    for (let k = 3; k <= 10; k++) {
      const r = birdRoutes(lab.nodes[k - 1]);
      expect(r).toHaveLength(9);
      expect(r.some((x) => x.includes('10.48.1.0'))).toBe(false);
    }
    expect(c.speakers[4].entry('10.48.7.0/26')!.paths.map((x) => x.peer!.name)).toEqual(['Node_192_168_70_12']);
    expect(c.sessions()).toBe(8);
  });

  it('shared state: clients hold one attribute set per reflected path and one kernel route spec per block; the config log renders every route', () => {
    const { lab, c } = rrCluster([1]);
    const clients = c.speakers.slice(1);
    // n7's block, as every other client learned it from the reflector: one attribute object (BIRD's rta), one spec.
    const others = clients.filter((_, i) => i + 2 !== 7);
    const paths = others.map((s) => s.entry('10.48.7.0/26')!.best!);
    expect(new Set(paths.map((x) => x.a)).size).toBe(1);
    expect(new Set(paths).size).toBe(others.length);
    expect(new Set(paths.map((x) => x.peer)).size).toBe(others.length);
    // Each client's `ip route replace` lines (logged lazily) render as before, in order.
    for (const [k, node] of lab.nodes.entries()) {
      const cmds = node.configCommands().filter((x) => x.startsWith('ip route replace') && x.includes('proto bird'));
      expect(cmds).toHaveLength(10);
      expect(cmds).toContain(`ip route replace blackhole 10.48.${k + 1}.0/26 proto bird`);
      for (let j = 1; j <= 10; j++) if (j !== k + 1) expect(cmds).toContain(`ip route replace 10.48.${j}.0/26 via 192.168.70.${10 + j} dev eth0 proto bird`);
    }
  });

  itTshark('Wireshark decodes the reflected UPDATEs on a client (ORIGINATOR_ID, CLUSTER_LIST, path ids)', async () => {
    const { lab } = rrCluster([1], path.join(dir, 'one'));
    const files = lab.close();
    const f = files.find((x) => x.endsWith('n5__host__eth0.pcap'))!;
    const { problems, packets } = await checkCapture(f);
    expect(problems).toEqual([]);
    expect(packets).toBeGreaterThan(10);
    const out = await runTshark(['-r', f, '-n', '-Y', 'bgp.type == 2 && ip.dst == 192.168.70.15', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a',
      '-e', 'bgp.nlri_prefix', '-e', 'bgp.update.path_attribute.originator_id', '-e', 'bgp.path_attribute.cluster_id', '-e', 'bgp.update.path_attribute.next_hop', '-e', 'bgp.nlri_path_id']);
    const rows = out.trim().split('\n');
    expect(rows).toContain('10.48.7.0|192.168.70.17|224.0.0.1|192.168.70.17|' + rows.find((r) => r.startsWith('10.48.7.0|'))!.split('|')[4]);
    // Each UPDATE is a write of its own (as BIRD writes them); the second waits for the first's ACK (Nagle), so
    // the reflector's own block (path id 2, no RFC 4456 attributes) goes alone, then n6's reflected one.
    expect(rows.slice(0, 2)).toEqual(['10.48.1.0|||192.168.70.11|2', '10.48.6.0|192.168.70.16|224.0.0.1|192.168.70.16|3']);
    expect(rows).toHaveLength(9);
  }, 60_000);
});
