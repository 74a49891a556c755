/**
 * Sessions under faults and at the edges: a node whose eth0 goes down is
 * dropped at hold-timer expiry (NOTIFICATION 4/0, routes removed then and not
 * before), administrative shutdown (Cease 6/2), connection collision (Cease
 * 6/7), eBGP to a ToR router, route refresh, determinism of the captures, and
 * Wireshark on everything the emulated sessions put on the wire.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatRoute } from '../../../src/kernel/fib.js';
import type { Node } from '../../../src/kernel/node.js';
import { BgpCluster, BgpSpeaker } from '../../../src/calico/bgp/index.js';
import { bgpLab } from './lab.js';
import { S } from '../../../src/engine/time.js';
import { checkCapture, itTshark, runTshark } from '../../helpers/tshark.js';

const birdRoutes = (n: Node): string[] => n.ns('host').fib.routes(254).map(formatRoute).filter((r) => r.includes('proto bird'));

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-bgp-faults-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function mesh(n: number, opts: { capture?: string; seed?: number } = {}) {
  const lab = bgpLab(n, opts);
  const c = new BgpCluster(lab.w, { mode: 'mesh' });
  lab.nodes.forEach((node, i) => c.add({ node, ip: lab.ips[i] }));
  c.start();
  c.speakers.forEach((s, i) => s.announce(`10.48.${i + 1}.0/26`));
  return { lab, c };
}

describe('hold timer', () => {
  it('a node whose eth0 goes down is dropped by its peers at hold expiry, 180–240 s after its last message', () => {
    const { lab, c } = mesh(3);
    lab.run(100);
    const down = lab.w.now;
    lab.nodes[2].linkSetUp('host', 'eth0', false);
    // n1's last message from n3 before the link went down.
    const fromN3 = lab.sink.events.filter((e) => e.node === 'n1' && e.detail.startsWith('Mesh_192_168_70_13') && e.detail.includes(': received '));
    const last = fromN3[fromN3.length - 1].time;
    expect(last).toBeLessThanOrEqual(down);
    // Just before the earliest possible expiry the route is still there.
    lab.w.sched.run(last + 180 * S - 1);
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird');
    lab.w.sched.run(last + 240 * S + 1);
    expect(birdRoutes(lab.nodes[0]).some((r) => r.includes('10.48.3.0'))).toBe(false);
    const n1 = lab.sink.events.filter((e) => e.node === 'n1');
    const exp = n1.find((e) => e.detail.includes('hold timer expired: sending NOTIFICATION 4/0 (Hold Timer Expired/Unspecific)'))!;
    expect(exp.detail.startsWith('Mesh_192_168_70_13')).toBe(true);
    expect(exp.time).toBeGreaterThanOrEqual(last + 180 * S);
    expect(exp.time).toBeLessThanOrEqual(last + 240 * S);
    // Withdrawn at once: the kernel route goes at the same instant.
    const removed = n1.find((e) => e.stage === 'bgp.route' && e.detail === 'kernel: 10.48.3.0/26 removed')!;
    expect(removed.time).toBe(exp.time);
    expect(c.speakers[0].stats().sent.notification).toBe(1);
    expect(c.speakers[0].peer('192.168.70.13')!.state).not.toBe('Established');
    // n1 and n2 keep their session.
    expect(c.speakers[0].peer('192.168.70.12')!.state).toBe('Established');
    // The link comes back: the session is re-established after the error wait and connect delay.
    lab.nodes[2].linkSetUp('host', 'eth0', true);
    lab.run(400);
    expect(c.sessions()).toBe(3);
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird');
  });

  it('a short link flap: sessions survive (TCP retransmits), the kernel scan puts the flushed routes back', () => {
    const { lab, c } = mesh(3);
    lab.run(100);
    lab.nodes[0].linkSetUp('host', 'eth0', false);
    expect(birdRoutes(lab.nodes[0])).toEqual(['blackhole 10.48.1.0/26 proto bird']); // fib_sync_down_dev
    lab.run(10);
    lab.nodes[0].linkSetUp('host', 'eth0', true);
    lab.run(3);
    expect(birdRoutes(lab.nodes[0])).toEqual([
      'blackhole 10.48.1.0/26 proto bird',
      '10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird',
      '10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird',
    ]);
    expect(lab.lines('bgp.route', 'n1')).toContain('bgp.route kernel scan: 10.48.2.0/26 was missing, reinstalled');
    expect(c.sessions()).toBe(3);
    expect(c.speakers.every((s) => s.stats().sent.notification === 0)).toBe(true);
  });

  it('the kernel scan puts back a route deleted by hand (ip route del), and changes nothing while nothing was removed', () => {
    const { lab, c } = mesh(3);
    lab.run(100);
    const before = c.speakers[0].stats().kernelChanges;
    lab.run(10); // five scans with nothing removed
    expect(c.speakers[0].stats().kernelChanges).toBe(before);
    lab.nodes[0].routeDel('host', { dst: '10.48.3.0/26' });
    expect(birdRoutes(lab.nodes[0])).not.toContain('10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird');
    lab.run(2.5);
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird');
    expect(lab.lines('bgp.route', 'n1')).toContain('bgp.route kernel scan: 10.48.3.0/26 was missing, reinstalled');
    expect(c.speakers[0].stats().kernelChanges).toBe(before + 1);
  });

  it('administrative shutdown sends Cease 6/2 and the peers withdraw at once; restart re-establishes', () => {
    const { lab, c } = mesh(3);
    lab.run(10);
    c.speakers[1].stop();
    lab.run(1);
    expect(c.speakers[1].stats().sent.notification).toBe(2);
    expect(lab.lines('bgp.session', 'n1')).toContain('bgp.session Mesh_192_168_70_12 (192.168.70.12): peer sent NOTIFICATION 6/2 (Cease/Administrative Shutdown): closing');
    expect(birdRoutes(lab.nodes[0]).some((r) => r.includes('10.48.2.0'))).toBe(false);
    expect(birdRoutes(lab.nodes[1])).toContain('10.48.1.0/26 via 192.168.70.11 dev eth0 proto bird'); // persist
    c.speakers[1].start();
    lab.run(60);
    expect(c.sessions()).toBe(3);
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird');
    const gr = (o: import('../../../src/wire/bgp.js').BgpOpen | null | undefined) => o?.capabilities.find((x) => x.code === 64) as { restartFlags: number; restartTime: number } | undefined;
    expect(gr(c.speakers[0].peer('192.168.70.12')!.est!.remoteOpen)).toMatchObject({ restartFlags: 8, restartTime: 120 });
    expect(gr(c.speakers[1].peer('192.168.70.11')!.est!.remoteOpen)).toMatchObject({ restartFlags: 0, restartTime: 120 });
  });
});

describe('connection collision', () => {
  it('both sides connect at once: Cease 6/7 on one connection, the one opened by the higher BGP identifier stays', () => {
    // One-way delay of 1 s: both SYNs are in flight before either OPEN arrives.
    const lab = bgpLab(2, { delay: 1 * S });
    const [a, b] = lab.nodes.map((node, i) => new BgpSpeaker(node, { routerId: lab.ips[i] }));
    a.addPeer({ address: lab.ips[1], as: 64512 });
    b.addPeer({ address: lab.ips[0], as: 64512 });
    a.announce('10.48.1.0/26');
    b.announce('10.48.2.0/26');
    a.start(); b.start();
    lab.run(30);
    const pa = a.peers[0], pb = b.peers[0];
    expect(pa.state).toBe('Established');
    expect(pb.state).toBe('Established');
    expect(a.stats().sent.notification + b.stats().sent.notification).toBeGreaterThanOrEqual(1);
    const cease = [...lab.lines('bgp.session', 'n1'), ...lab.lines('bgp.session', 'n2')].filter((l) => l.includes('NOTIFICATION 6/7 (Cease/Connection Collision Resolution)') && l.includes('sending'));
    expect(cease.length).toBeGreaterThanOrEqual(1);
    // n2 (192.168.70.12) has the higher identifier: the kept connection is the one n2 opened.
    expect(pa.est!.dir).toBe('in');
    expect(pb.est!.dir).toBe('out');
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird');
    expect(birdRoutes(lab.nodes[1])).toContain('10.48.1.0/26 via 192.168.70.11 dev eth0 proto bird');
  });

  it('configuration errors are clear sentences', () => {
    const lab = bgpLab(1);
    expect(() => new BgpSpeaker(lab.nodes[0], { routerId: 'x' })).toThrow('BGP router id "x" is not an IPv4 address');
    expect(() => new BgpSpeaker(lab.nodes[0], { routerId: '1.2.3.4', holdTime: 2 })).toThrow('BGP hold time 2 must be 0 or 3..65535 seconds');
    const s = new BgpSpeaker(lab.nodes[0], { routerId: lab.ips[0] });
    expect(() => s.addPeer({ address: lab.ips[0], as: 1 })).toThrow("is this speaker's own address");
    expect(() => s.addPeer({ address: '1.1.1.1', as: 64512, rrClient: true })).toThrow('is an rr client but n1 has no route reflector cluster id');
    s.addPeer({ address: '1.1.1.1', as: 64512 });
    expect(() => s.addPeer({ address: '1.1.1.1', as: 64512 })).toThrow('BGP neighbour 1.1.1.1 is configured twice on n1');
    expect(() => new BgpCluster(lab.w, { mode: 'reflectors' }).configure()).toThrow('mode reflectors needs at least one node with a clusterId');
  });
});

describe('eBGP to a ToR router', () => {
  it('AS_PATH prepended, NEXT_HOP self, no LOCAL_PREF; nodes learn the ToR network and drop their own AS coming back', () => {
    const lab = bgpLab(3);
    const tor = lab.machine('tor', '192.168.70.1');
    const c = new BgpCluster(lab.w, { mode: 'mesh' });
    lab.nodes.slice(0, 3).forEach((node, i) => c.add({ node, ip: lab.ips[i] }));
    c.configure();
    for (const s of c.speakers) s.addPeer({ address: '192.168.70.1', as: 65001, name: 'Global_192_168_70_1' });
    const t = new BgpSpeaker(tor, { routerId: '192.168.70.1', localAs: 65001 });
    lab.ips.slice(0, 3).forEach((ip) => t.addPeer({ address: ip, as: 64512 }));
    c.start();
    t.start();
    c.speakers.forEach((s, i) => s.announce(`10.48.${i + 1}.0/26`));
    t.announce('172.16.0.0/16');
    lab.run(20);
    expect(t.peers.every((p) => p.state === 'Established')).toBe(true);
    // Node → ToR: AS_PATH [64512], NEXT_HOP the node, no LOCAL_PREF.
    expect(lab.lines('bgp.update', 'tor')).toContain('bgp.update Mesh_192_168_70_11 (192.168.70.11): received UPDATE announce 10.48.1.0/26 #2 via 192.168.70.11 as-path [64512]');
    expect(birdRoutes(tor)).toContain('10.48.1.0/26 via 192.168.70.11 dev eth0 proto bird');
    // Every node passes the others' blocks on with next hop self (multihop sessions): three equal paths,
    // the lowest router id wins (n1), as BIRD would pick.
    expect(t.entry('10.48.2.0/26')!.paths.map((p) => p.nextHop.toString(16)).sort()).toEqual(['c0a8460b', 'c0a8460c', 'c0a8460d']);
    expect(birdRoutes(tor)).toContain('10.48.2.0/26 via 192.168.70.11 dev eth0 proto bird');
    // ToR → node: its own network, and the other nodes' blocks with AS_PATH [65001 64512], ignored as loops.
    const n1 = lab.lines('bgp.update', 'n1');
    expect(n1).toContain('bgp.update Global_192_168_70_1 (192.168.70.1): received UPDATE announce 172.16.0.0/16 #2 via 192.168.70.1 as-path [65001]');
    expect(n1.some((l) => l.includes('as-path [65001 64512]'))).toBe(true);
    expect(n1).toContain('bgp.update Global_192_168_70_1: AS_PATH loop (own AS 64512), route ignored');
    // eBGP beats the iBGP copies the other nodes pass on (next hop unchanged: the ToR).
    const best = c.speakers[0].best('172.16.0.0/16')!;
    expect(best.peer!.name).toBe('Global_192_168_70_1');
    expect(c.speakers[0].entry('172.16.0.0/16')!.paths).toHaveLength(3);
    expect(birdRoutes(lab.nodes[0])).toContain('172.16.0.0/16 via 192.168.70.1 dev eth0 proto bird');
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird');
    expect(c.speakers[1].entry('172.16.0.0/16')!.paths.find((p) => p.peer!.ibgp)!.nextHop).toBe(0xc0a84601);
  });
});

describe('captures', () => {
  it('two runs with the same seed give byte-identical captures; another seed differs', () => {
    const run = (sub: string, seed: number) => {
      const { lab, c } = mesh(3, { capture: path.join(dir, sub), seed });
      lab.run(200);
      c.speakers[0].withdraw('10.48.1.0/26');
      lab.run(10);
      return lab.close().sort().map((f) => fs.readFileSync(f));
    };
    const a = run('a', 7), b = run('b', 7), x = run('x', 8);
    expect(a.length).toBe(3);
    a.forEach((f, i) => expect(Buffer.compare(f, b[i])).toBe(0));
    expect(a.some((f, i) => Buffer.compare(f, x[i]) !== 0)).toBe(true);
  });

  itTshark('Wireshark decodes every message the sessions put on the wire (OPEN, UPDATE with path ids, End-of-RIB, KEEPALIVE, ROUTE-REFRESH, NOTIFICATION 4/0 and 6/2)', async () => {
    const { lab, c } = mesh(3, { capture: path.join(dir, 'ws') });
    lab.run(100);
    c.speakers[0].refresh('192.168.70.12');
    lab.run(1);
    c.speakers[0].withdraw('10.48.1.0/26');
    lab.run(1);
    c.speakers[1].stop();
    lab.run(1);
    lab.nodes[2].linkSetUp('host', 'eth0', false);
    lab.run(300);
    const files = lab.close();
    const f = files.find((x) => x.endsWith('n1__host__eth0.pcap'))!;
    const { problems } = await checkCapture(f);
    expect(problems).toEqual([]);
    const out = await runTshark(['-r', f, '-n', '-Y', 'bgp && ip.src == 192.168.70.11', '-T', 'fields', '-E', 'occurrence=a', '-e', 'bgp.type', '-e', 'bgp.notify.major_error']);
    const types = new Set(out.trim().split('\n').flatMap((l) => l.split('\t')[0].split(',')));
    expect([...types].sort()).toEqual(['1', '2', '3', '4', '5']);
    const notes = await runTshark(['-r', f, '-n', '-Y', 'bgp.type == 3', '-T', 'fields', '-e', 'ip.src', '-e', 'bgp.notify.major_error']);
    expect(notes.trim().split('\n').sort()).toEqual(['192.168.70.11\t4', '192.168.70.12\t6']);
    const open = await runTshark(['-r', f, '-n', '-Y', 'bgp.type == 1', '-T', 'fields', '-e', 'frame.cap_len', '-e', 'bgp.length', '-e', 'bgp.open.myas', '-e', 'bgp.open.holdtime', '-e', 'bgp.open.identifier']);
    expect(open.trim().split('\n')[0].split('\t').slice(1)).toEqual(['63', '64512', '240', open.trim().split('\n')[0].split('\t')[4]]);
  }, 60_000);
});

describe('graceful restart', () => {
  it('a restarted speaker (restart bit set) sends its routes only after the End-of-RIB of peers that are not restarting', () => {
    const { lab, c } = mesh(3);
    lab.run(300); // everyone recovered: OPENs without the restart bit from now on
    c.speakers[1].stop();
    lab.run(1);
    c.speakers[1].start();
    const t = lab.w.now;
    lab.run(60);
    expect(c.sessions()).toBe(3);
    const n2 = lab.sink.events.filter((e) => e.node === 'n2' && e.time >= t && e.detail.startsWith('Mesh_192_168_70_11'));
    const i = (s: string) => n2.findIndex((e) => e.detail.includes(s));
    expect(i('graceful restart: waiting for the peer\'s End-of-RIB')).toBeGreaterThanOrEqual(0);
    expect(i('End-of-RIB received')).toBeGreaterThan(i('waiting for the peer'));
    expect(i('sent UPDATE announce 10.48.2.0/26')).toBeGreaterThan(i('End-of-RIB received'));
    // n1 (not restarting) sent its table at once; n2's OPEN had the restart bit, n1's did not.
    expect(n2.find((e) => e.detail.includes('sent OPEN'))!.time).toBeLessThan(n2[i('End-of-RIB received')].time);
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird');
    const gr = (o: import('../../../src/wire/bgp.js').BgpOpen | null | undefined) => o?.capabilities.find((x) => x.code === 64) as { restartFlags: number; restartTime: number } | undefined;
    expect(gr(c.speakers[0].peer('192.168.70.12')!.est!.remoteOpen)).toMatchObject({ restartFlags: 8, restartTime: 120 });
    expect(gr(c.speakers[1].peer('192.168.70.11')!.est!.remoteOpen)).toMatchObject({ restartFlags: 0, restartTime: 120 });
  });
});
