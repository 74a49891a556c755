/**
 * Machines on one underlay segment (192.168.70.N/24, eth0 up, ip_forward on) for
 * driving flanneld through its public face: `Flanneld` with a subnet manager
 * (`KubeSubnetManager` over an ObjectStore, or `EtcdSubnetManager`) and a backend
 * factory. Every world event goes to a MemorySink so tests read the trace.
 */
import { World } from '../../../src/kernel/world.js';
import { Node } from '../../../src/kernel/node.js';
import { Segment } from '../../../src/kernel/devices/nic.js';
import { MemorySink } from '../../../src/trace/render.js';
import { parseIp, parseMac } from '../../../src/wire/bytes.js';
import { parseFlannelConfig, type FlannelConfig } from '../../../src/overlay/flannel/config.js';
import { Flanneld } from '../../../src/overlay/flannel/agent.js';
import type { BackendFactory } from '../../../src/overlay/flannel/backend.js';
import type { SubnetManager } from '../../../src/overlay/flannel/subnet-manager.js';
import { ObjectStore } from '../../../src/kube/store.js';

export const pubIP = (i: number): string => `192.168.70.${10 + i}`;

export interface AgentLab {
  w: World;
  sink: MemorySink;
  seg: Segment;
  cfg: FlannelConfig;
  nodes: Node[];
  store: ObjectStore;
  /** Adds machine `n` (1-based) on the segment; its Node object too when `podCIDR` is given. */
  machine(n: number, podCIDR?: string): Node;
  /** A flanneld on machine `n` with `sm` and `backend` (not started). */
  agent(n: number, sm: SubnetManager, backend: BackendFactory, ipMasq?: boolean): Flanneld;
}

export function agentLab(netConf = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}', seed = 1): AgentLab {
  const w = new World(seed);
  const sink = new MemorySink();
  w.trace = sink;
  const seg = new Segment('192.168.70.0/24', parseIp('192.168.70.0')!, 24);
  const store = new ObjectStore();
  const nodes: Node[] = [];
  const lab: AgentLab = {
    w, sink, seg, cfg: parseFlannelConfig(netConf), nodes, store,
    machine(n, podCIDR) {
      const name = `n${n}`;
      const node = new Node(w, name, 'node');
      w.nodes.set(name, node);
      node.addNic('eth0', seg, parseMac(`02:00:00:00:70:${n.toString(16).padStart(2, '0')}`)!, 1500, 0, 0);
      node.linkSetUp('host', 'eth0');
      node.addrAdd('host', 'eth0', `${pubIP(n)}/24`);
      node.sysctlSet('host', 'net.ipv4.ip_forward', '1');
      nodes[n] = node;
      if (podCIDR) store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR, podCIDRs: [podCIDR] } });
      return node;
    },
    agent(n, sm, backend, ipMasq = true) {
      return new Flanneld(nodes[n]!, sm, lab.cfg, { extIface: 'eth0', publicIP: parseIp(pubIP(n))!, publicPrefix: 24, ipMasq, backend });
    },
  };
  return lab;
}
