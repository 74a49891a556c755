/**
 * A BIRD-like speaker per node on an emulated underlay: full mesh, withdrawal,
 * kernel routes in the callback's shape, show protocols/route, counters.
 */
import { describe, expect, it } from 'vitest';
import { formatRoute } from '../../../src/kernel/fib.js';
import type { Node } from '../../../src/kernel/node.js';
import { BgpCluster } from '../../../src/calico/bgp/index.js';
import { bgpLab } from './lab.js';
import { encodeBgp } from '../../../src/wire/bgp.js';
import { S } from '../../../src/engine/time.js';

const birdRoutes = (n: Node): string[] => n.ns('host').fib.routes(254).map(formatRoute).filter((r) => r.includes('proto bird'));
const block = (k: number) => `10.48.${k}.0/26`;

function mesh3(krt?: (node: Node) => ((p: string, nh: string) => { dev: string; onlink?: boolean } | null) | undefined) {
  const lab = bgpLab(3);
  const c = new BgpCluster(lab.w, { mode: 'mesh', ...(krt ? { krtTunnel: krt } : {}) });
  lab.nodes.forEach((node, i) => c.add({ node, ip: lab.ips[i] }));
  c.start();
  c.speakers.forEach((s, i) => s.announce(block(i + 1)));
  return { lab, c };
}

describe('3-node full mesh', () => {
  it('converges: 3 sessions Established, each node routes the others\' blocks via their IPs and blackholes its own', () => {
    const { lab, c } = mesh3();
    lab.run(10);
    expect(c.configuredSessions()).toBe(3);
    expect(c.sessions()).toBe(3);
    expect(birdRoutes(lab.nodes[0])).toEqual([
      'blackhole 10.48.1.0/26 proto bird',
      '10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird',
      '10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird',
    ]);
    expect(birdRoutes(lab.nodes[2]).sort()).toEqual([
      '10.48.1.0/26 via 192.168.70.11 dev eth0 proto bird',
      '10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird',
      'blackhole 10.48.3.0/26 proto bird',
    ]);
    // Connect delay 2 s minus at most 25%: the mesh is up within ~2 s, and nothing changes after.
    expect(c.convergence.time!).toBeGreaterThan(1.4 * S);
    expect(c.convergence.time!).toBeLessThan(2.2 * S);
    for (const s of c.speakers) {
      const st = s.stats();
      expect(st.established).toBe(2);
      expect(st.sent.open).toBe(2);
      expect(st.sent.update).toBe(2 * 2); // own block + End-of-RIB to each peer
      expect(st.received.update).toBe(4);
      expect(st.prefixes).toBe(3);
    }
    // Calico's rule: passive when the peer IP is greater, so the greater IP connects: n3 opened both of its sessions.
    expect(lab.lines('bgp.session', 'n3').filter((l) => l.includes('TCP connect to')).length).toBe(2);
    expect(lab.lines('bgp.session', 'n1').filter((l) => l.includes('TCP connect to')).length).toBe(0);
    expect(lab.lines('bgp.session', 'n1').filter((l) => l.includes('passive'))).toHaveLength(2);
  });

  it('the kernel route shape comes from the krtTunnel callback', () => {
    // A CrossSubnet-like rule: 10.48.3.0/26's next hop "not on my subnet" → onlink via eth0 (no tunl0 in this lab).
    const { lab } = mesh3(() => (p, nh) => (nh === '192.168.70.13' ? { dev: 'eth0', onlink: true } : null));
    lab.run(10);
    expect(birdRoutes(lab.nodes[0])).toEqual([
      'blackhole 10.48.1.0/26 proto bird',
      '10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird',
      '10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird onlink',
    ]);
    expect(lab.nodes[0].configCommands().filter((l) => l.includes('proto bird'))).toEqual([
      'ip route replace blackhole 10.48.1.0/26 proto bird',
      'ip route replace 10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird',
      'ip route replace 10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird onlink',
    ]);
  });

  it('IPIP shapes with tunl0: Always (via N dev tunl0 onlink), CrossSubnet (tunl0 only off my subnet), Never (dev eth0)', () => {
    const tunl = (mode: 'Always' | 'CrossSubnet' | 'Never') => (node: Node) => {
      node.ipipTunl0('host');
      node.linkSetUp('host', 'tunl0');
      const me = node.ns('host').addrs.find((a) => a.dev.name === 'eth0')!.addr;
      // A /28 stands for "this node's subnet" in the CrossSubnet rule: .11 and .12 share 192.168.70.0/28, .17 does not.
      const same = (nh: string) => ((me ^ Number(nh.split('.').reduce((a, b) => a * 256 + Number(b), 0))) >>> 4) === 0;
      return (_p: string, nh: string) => (mode === 'Always' || (mode === 'CrossSubnet' && !same(nh)) ? { dev: 'tunl0', onlink: true } : null);
    };
    for (const [mode, want] of [
      ['Always', ['10.48.2.0/26 via 192.168.70.12 dev tunl0 proto bird onlink', '10.48.3.0/26 via 192.168.70.13 dev tunl0 proto bird onlink']],
      ['Never', ['10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird', '10.48.3.0/26 via 192.168.70.13 dev eth0 proto bird']],
    ] as const) {
      const { lab } = mesh3(tunl(mode));
      lab.run(10);
      expect(birdRoutes(lab.nodes[0])).toEqual(['blackhole 10.48.1.0/26 proto bird', ...want]);
    }
    const lab = bgpLab(2);
    lab.machine('n3', '192.168.70.17');
    const c = new BgpCluster(lab.w, { mode: 'mesh', krtTunnel: tunl('CrossSubnet') });
    lab.nodes.forEach((node, i) => c.add({ node, ip: lab.ips[i] }));
    c.start();
    c.speakers.forEach((s, i) => s.announce(block(i + 1)));
    lab.run(10);
    expect(birdRoutes(lab.nodes[0])).toEqual([
      'blackhole 10.48.1.0/26 proto bird',
      '10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird',
      '10.48.3.0/26 via 192.168.70.17 dev tunl0 proto bird onlink',
    ]);
  });

  it('a withdrawn block disappears everywhere; re-announcing brings it back', () => {
    const { lab, c } = mesh3();
    lab.run(10);
    c.convergence.mark(lab.w.now);
    c.speakers[1].withdraw(block(2));
    lab.run(1);
    for (const n of lab.nodes) expect(birdRoutes(n).some((r) => r.includes('10.48.2.0'))).toBe(false);
    // Sent at once (same instant), received one link delay later.
    expect(c.convergence.time!).toBeLessThan(1_000_000);
    expect(lab.lines('bgp.update', 'n1')).toContain('bgp.update Mesh_192_168_70_12 (192.168.70.12): received UPDATE withdraw 10.48.2.0/26 #2');
    c.speakers[1].announce(block(2));
    lab.run(1);
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.2.0/26 via 192.168.70.12 dev eth0 proto bird');
    expect(() => c.speakers[0].withdraw(block(9))).toThrow('BGP: 10.48.9.0/26 is not announced by n1');
    expect(() => c.speakers[0].announce('10.48.1.1/26')).toThrow('is not an IPv4 prefix with its host bits zero');
  });

  it('keepalives every 60–80 s keep the sessions up for an hour', () => {
    const { lab, c } = mesh3();
    lab.run(3600);
    expect(c.sessions()).toBe(3);
    for (const s of c.speakers) {
      const ka = s.stats().sent.keepalive;
      // two sessions, 3600 s / (60..80 s) each, plus the OpenConfirm keepalives
      expect(ka).toBeGreaterThanOrEqual(2 * (1 + Math.floor(3600 / 80)));
      expect(ka).toBeLessThanOrEqual(2 * (2 + Math.ceil(3600 / 60)));
      expect(s.stats().sent.notification).toBe(0);
    }
  });

  it('the OPEN a recovering speaker sends is BIRD\'s 63 bytes (REFERENCE §13); without the restart bits once recovered', () => {
    const { lab, c } = mesh3();
    const s = c.speakers[0];
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    expect(hex(encodeBgp(s.openFor(s.peers[0])))).toBe(`${'ff'.repeat(16)}003f0104fc0000f0c0a8460b220220010400010001020040068078000101804104` + '0000fc0045040001010346004700');
    lab.run(10); // every neighbour has been up: recovery over
    expect(hex(encodeBgp(s.openFor(s.peers[0]))).slice(2 * 39, 2 * 47)).toBe('4006007800010100'); // GR: no R bit, no forwarding bit
    const gr = s.openFor(s.peers[0]).capabilities.find((x) => x.code === 64);
    expect(gr).toEqual({ code: 64, restartFlags: 0, restartTime: 120, families: [{ afi: 1, safi: 1, flags: 0 }] });
  });

  it('a node joins (every speaker adds it) and leaves (Cease 6/3, its block withdrawn everywhere)', () => {
    const { lab, c } = mesh3();
    lab.run(10);
    const n4 = lab.machine();
    const s4 = c.join({ node: n4, ip: lab.ips[3] });
    s4.announce(block(4));
    lab.run(10);
    expect(c.sessions()).toBe(6);
    expect(birdRoutes(lab.nodes[0])).toContain('10.48.4.0/26 via 192.168.70.14 dev eth0 proto bird');
    expect(birdRoutes(n4)).toContain('10.48.1.0/26 via 192.168.70.11 dev eth0 proto bird');
    expect(c.convergence.time!).toBeLessThan(2.1 * S);
    c.leave('n2');
    lab.run(1);
    expect(c.sessions()).toBe(3);
    expect(c.speakers.map((s) => s.peers.length)).toEqual([2, 2, 2]);
    for (const n of [lab.nodes[0], lab.nodes[2], n4]) expect(birdRoutes(n).some((r) => r.includes('10.48.2.0'))).toBe(false);
    expect(lab.lines('bgp.session', 'n1')).toContain('bgp.session Mesh_192_168_70_12 (192.168.70.12): neighbour removed: sending NOTIFICATION 6/3 (Cease/Peer De-configured)');
    expect(() => c.leave('n9')).toThrow('BGP cluster: no node n9');
  });

  it('show protocols and show route', () => {
    const { lab, c } = mesh3();
    lab.run(10);
    const s = c.speakers[0];
    const proto = s.showProtocols().split('\n');
    expect(proto[0]).toMatch(/^Name\s+Proto\s+Table\s+State\s+Since\s+Info$/);
    expect(proto.filter((l) => l.startsWith('Mesh_'))).toHaveLength(2);
    expect(proto.find((l) => l.startsWith('Mesh_192_168_70_12'))).toMatch(/BGP\s+---\s+up\s+\S+\s+Established/);
    const route = s.showRoute();
    expect(route).toContain('10.48.1.0/26         blackhole [static1');
    expect(route).toMatch(/10\.48\.2\.0\/26\s+unicast \[Mesh_192_168_70_12 \S+ from 192\.168\.70\.12\] \* \(100\) \[i\]\n\tvia 192\.168\.70\.12 on eth0/);
  });
});
