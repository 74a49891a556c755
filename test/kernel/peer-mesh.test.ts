/**
 * PeerMesh / MeshView (src/kernel/peer-mesh.ts) at the kernel level: a node with a
 * mesh attached lists, looks up and changes its routes, neighbours and vxlan FDB
 * exactly like a twin node that holds the same entries itself, with own entries added
 * before, between and after the mesh's, and after a copy-on-write detach.
 */
import { describe, expect, it } from 'vitest';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { formatRoute } from '../../src/kernel/fib.js';
import { formatNeigh } from '../../src/kernel/neigh.js';
import { PeerMesh } from '../../src/kernel/peer-mesh.js';
import type { Vxlan } from '../../src/kernel/devices/vxlan.js';
import { ipToString, parseIp } from '../../src/wire/bytes.js';

const mac = (i: number) => new Uint8Array([0x0e, 0, 0, 0, 0, i]);
const sub = (i: number) => `10.244.${i}.0`;

function machine(w: World, name: string): { n: Node; dev: Vxlan } {
  const n = new Node(w, name, 'node');
  const dev = n.linkAddVxlan('host', 'flannel.1', { vni: 1, learning: false });
  n.addrAdd('host', 'flannel.1', '10.244.1.0/32');
  n.linkSetUp('host', 'flannel.1');
  return { n, dev };
}

/** What a private node does for remote i. */
function program(n: Node, i: number): void {
  n.neighReplace('host', sub(i), mac(i), 'flannel.1', 'permanent');
  n.fdbAdd('host', mac(i), 'flannel.1', { dst: `192.168.0.${i}`, op: 'replace', permanent: true });
  n.routeReplace('host', { dst: `${sub(i)}/24`, via: sub(i), dev: 'flannel.1', onlink: true });
}

function unprogram(n: Node, i: number): void {
  n.neighDel('host', sub(i), 'flannel.1');
  n.fdbDel('host', mac(i), 'flannel.1', { dst: `192.168.0.${i}` });
  n.routeDel('host', { dst: `${sub(i)}/24`, via: sub(i), dev: 'flannel.1', onlink: true });
}

const show = (n: Node) => ({
  routes: n.ns('host').fib.routes(254).map(formatRoute),
  neigh: [...n.ns('host').neighs.values()].map(formatNeigh),
  fdb: n.fdbShow('host', 'flannel.1'),
  size: n.ns('host').neighs.size,
});

describe('PeerMesh', () => {
  it('listings merge own and shared entries in insertion order; lookups hit the shared ones; detach keeps everything', () => {
    const w = new World(1);
    const a = machine(w, 'a'), b = machine(w, 'b');
    const mesh = new PeerMesh(24);
    // Own /24 route before the attach; remotes 3 and 2 exist at the attach (listed sorted, as flanneld walks them).
    for (const x of [a, b]) x.n.routeAdd('host', { dst: '10.244.50.0/24', dev: 'flannel.1' });
    mesh.add(parseIp(sub(1))!, mac(1), parseIp('192.168.0.1')!, 0, null); // the node's own subnet: left out
    mesh.add(parseIp(sub(3))!, mac(3), parseIp('192.168.0.3')!, 0, null);
    mesh.add(parseIp(sub(2))!, mac(2), parseIp('192.168.0.2')!, 0, null);
    const view = mesh.attach(a.dev, parseIp(sub(1))!);
    program(b.n, 2); program(b.n, 3);
    // Then an own route, a remote, an own neighbour on flannel.1 and FDB entry, a remote.
    for (const x of [a, b]) x.n.routeAdd('host', { dst: '10.244.60.0/24', dev: 'flannel.1' });
    mesh.add(parseIp(sub(4))!, mac(4), parseIp('192.168.0.4')!, 0, null); program(b.n, 4);
    for (const x of [a, b]) {
      x.n.neighReplace('host', '10.244.70.0', mac(70), 'flannel.1', 'permanent');
      x.n.fdbAdd('host', mac(70), 'flannel.1', { dst: '192.168.0.70', op: 'replace', permanent: true });
    }
    mesh.add(parseIp(sub(5))!, mac(5), parseIp('192.168.0.5')!, 0, null); program(b.n, 5);
    mesh.remove(parseIp(sub(3))!); unprogram(b.n, 3);
    expect(show(a.n)).toEqual(show(b.n));
    const r = a.n.ns('host').fib.lookup(parseIp('10.244.4.7')!);
    expect(r && formatRoute(r)).toBe('10.244.4.0/24 via 10.244.4.0 dev flannel.1 onlink');
    expect(a.n.ns('host').fib.lookup(parseIp('10.244.1.7')!)).toBeNull(); // the node's own subnet is left out
    expect(a.n.ns('host').stack.neighMac(a.dev, parseIp(sub(5))!)).toEqual(mac(5));
    expect(a.dev.fdbGet(mac(4).reduce((k, x) => k * 256 + x, 0))?.remotes.map((x) => ipToString(x.dst))).toEqual(['192.168.0.4']);
    // Copy-on-write: deleting one shared route detaches a; everything else is unchanged.
    for (const x of [a, b]) x.n.routeDel('host', { dst: `${sub(4)}/24` });
    expect(view.attached).toBe(false);
    expect(show(a.n)).toEqual(show(b.n));
    // Detached: the mesh no longer reaches a.
    mesh.add(parseIp(sub(6))!, mac(6), parseIp('192.168.0.6')!, 0, null);
    expect(show(a.n)).toEqual(show(b.n));
  });

  it('an own key where an entry lands: evictClaims detaches that node first', () => {
    const w = new World(1);
    const a = machine(w, 'a');
    const mesh = new PeerMesh(24);
    const view = mesh.attach(a.dev, parseIp(sub(1))!);
    a.n.routeAdd('host', { dst: `${sub(7)}/24`, dev: 'flannel.1' });
    mesh.add(parseIp(sub(8))!, mac(8), parseIp('192.168.0.8')!, 0, null);
    expect(view.attached).toBe(true);
    mesh.add(parseIp(sub(7))!, mac(7), parseIp('192.168.0.7')!, 0, null);
    expect(view.attached).toBe(false);
    expect(a.n.ns('host').fib.routes(254).map(formatRoute)).toEqual([
      '10.244.7.0/24 dev flannel.1 scope link',
      '10.244.8.0/24 via 10.244.8.0 dev flannel.1 onlink',
    ]);
  });
});
