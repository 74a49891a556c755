import { describe, expect, it } from 'vitest';
import { extractTopology } from '../../src/report/topology.js';
import { topologySvg } from '../../src/report/topology-svg.js';
import { buildCluster } from '../../src/scenario/build.js';
import { loadScenario } from '../../src/scenario/load.js';

const topo = (file: string) => extractTopology(buildCluster(loadScenario(file)));

describe('extractTopology', () => {
  it('same-node-bridge: pods in their namespaces, veth pairs, bridge ports, the NIC on its segment', () => {
    const t = topo('scenarios/same-node-bridge.yaml');
    const n1 = t.machines.find((m) => m.name === 'node-1')!;
    expect(n1.role).toBe('node');
    expect(n1.namespaces[0].name).toBe('host');
    const pods = n1.namespaces.filter((n) => n.pod);
    expect(pods.length).toBeGreaterThanOrEqual(2);
    const host = n1.namespaces[0];
    const cni0 = host.devices.find((d) => d.name === 'cni0')!;
    expect(cni0.kind).toBe('bridge');
    expect(cni0.addrs).toEqual([expect.stringMatching(/^10\.244\.\d+\.1\/24$/)]);
    // Drawing order: the bridge first, the NIC last, lo left out.
    expect(host.devices[0].name).toBe('cni0');
    expect(host.devices[host.devices.length - 1].kind).toBe('nic');
    expect(host.devices.some((d) => d.kind === 'loopback')).toBe(false);
    for (const p of pods) {
      const eth0 = p.devices.find((d) => d.name === 'eth0')!;
      expect(eth0.kind).toBe('veth');
      expect(eth0.addrs[0]).toMatch(/^10\.244\./);
      // Its peer is a host veth, a port of cni0; both links are listed once.
      const peer = host.devices.find((d) => d.id === eth0.peer)!;
      expect(peer.peer).toBe(eth0.id);
      expect(peer.master).toBe(cni0.id);
      expect(t.links.filter((l) => l.kind === 'veth' && [l.a, l.b].includes(eth0.id))).toHaveLength(1);
      expect(t.links).toContainEqual({ kind: 'bridge-port', a: peer.id, b: cni0.id });
    }
    const nic = host.devices.find((d) => d.kind === 'nic')!;
    expect(nic.segment).toBe(t.segments[0].name);
    expect(t.segments[0].ports).toContain(nic.id);
    expect(t.links).toContainEqual({ kind: 'segment', a: nic.id, b: t.segments[0].name });
  });

  it('flannel vxlan: flannel.1 with its tunnel parameters; calico ipip: tunl0; two subnets: a router on both segments', () => {
    const fv = topo('scenarios/flannel-vxlan.yaml');
    const f1 = fv.machines[0].namespaces[0].devices.find((d) => d.name === 'flannel.1')!;
    expect(f1.kind).toBe('vxlan');
    expect(f1.tunnel).toMatch(/^vxlan id 1 local 192\.168\.1\.11 dev eth0 dstport 8472 nolearning$/);
    const ci = topo('scenarios/calico-ipip.yaml');
    const tunl0 = ci.machines[0].namespaces[0].devices.find((d) => d.name === 'tunl0')!;
    expect(tunl0.kind).toBe('ipip');
    expect(tunl0.mac).toBe('');
    const two = topo('scenarios/flannel-host-gw-two-subnets.yaml');
    const router = two.machines.find((m) => m.role === 'router')!;
    expect(two.segments.length).toBe(2);
    const nics = router.namespaces[0].devices.filter((d) => d.kind === 'nic');
    expect(nics.map((d) => d.segment).sort()).toEqual(two.segments.map((s) => s.name).sort());
  });

  it('the SVG draws every machine, namespace and device, and each link between drawn devices', () => {
    const t = topo('scenarios/flannel-vxlan.yaml');
    const svg = topologySvg(t);
    for (const m of t.machines) {
      expect(svg).toContain(`data-machine="${m.name}"`);
      for (const n of m.namespaces) for (const d of n.devices) expect(svg).toContain(`data-dev="${d.id}"`);
    }
    for (const s of t.segments) expect(svg).toContain(`data-segment="${s.name}"`);
    expect((svg.match(/class="link veth"/g) ?? []).length).toBe(t.links.filter((l) => l.kind === 'veth').length);
    expect((svg.match(/class="link port"/g) ?? []).length).toBe(t.links.filter((l) => l.kind === 'bridge-port').length);
    expect((svg.match(/class="link wire"/g) ?? []).length).toBe(t.links.filter((l) => l.kind === 'segment').length);
  });
});
