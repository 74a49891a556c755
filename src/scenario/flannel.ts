/**
 * The flannel deployment of a scenario (kube-flannel.yml's DaemonSet): one
 * flanneld per node sharing one subnet manager, started in node order before any
 * pod (the CNI plugin needs its subnet.env), and the `10-flannel.conflist` every
 * node's kubelet hands the CNI plugin.
 */
import { formatCidr4 } from '../cni/ip4.js';
import { parseConflist, resolveFlannel, type NetworkConfigList } from '../cni/index.js';
import type { Node } from '../kernel/node.js';
import { NetlinkError } from '../kernel/netlink.js';
import { Flanneld } from '../overlay/flannel/agent.js';
import type { BackendFactory } from '../overlay/flannel/backend.js';
import { createHostGwBackend } from '../overlay/flannel/backend-hostgw.js';
import { createVxlanBackend } from '../overlay/flannel/backend-vxlan.js';
import { createUdpBackend } from '../overlay/flannel/backend-udp.js';
import { LeaseError } from '../overlay/flannel/leases.js';
import { VxlanPeerMesh } from '../overlay/flannel/mesh.js';
import { EtcdSubnetManager, KubeSubnetManager, type SubnetManager } from '../overlay/flannel/subnet-manager.js';
import type { ObjectStore } from '../kube/store.js';
import type { Scheduler } from '../engine/scheduler.js';
import { InputError } from './errors.js';
import type { FlannelSpec, SourcePos } from './types.js';

/** kube-flannel.yml's `cni-conf.json`, installed as /etc/cni/net.d/10-flannel.conflist. */
export const FLANNEL_CONFLIST = JSON.stringify({
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [
    { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
});

export interface FlannelDeployment {
  spec: FlannelSpec;
  sm: SubnetManager;
  agents: Map<string, Flanneld>;
  /** The vxlan backend's shared peer mesh (without DirectRouting), watching before any flanneld. */
  mesh?: VxlanPeerMesh;
  /** Starts flanneld on `node` now; errors name the scenario's network section. */
  start(node: Node, publicIP: number, publicPrefix: number): Flanneld;
  /** The CNI config list the flannel plugin resolves on `node` from its subnet.env. */
  conflistFor(node: string, given: string | undefined): NetworkConfigList;
}

export function createFlannel(spec: FlannelSpec, store: ObjectStore, rand: (n: number) => number, clock: Scheduler): FlannelDeployment {
  const sm: SubnetManager = spec.subnetManager === 'kube' ? new KubeSubnetManager(store, spec.config) : new EtcdSubnetManager(spec.config, rand, clock);
  const backend = backendFactory(spec);
  const agents = new Map<string, Flanneld>();
  const vx = spec.config.backend.type === 'vxlan' ? spec.config.backend.vxlan : undefined;
  const mesh = spec.config.backend.type === 'vxlan' && !vx?.directRouting ? new VxlanPeerMesh(sm, spec.config.subnetLen) : undefined;
  return {
    spec, sm, agents, mesh,
    start(node, publicIP, publicPrefix) {
      if (mesh) { mesh.clock = () => node.world.now; mesh.traceOn = () => node.world.trace.on; }
      const agent = new Flanneld(node, sm, spec.config, { extIface: 'eth0', publicIP, publicPrefix, ipMasq: spec.ipMasq, backend, mesh });
      agents.set(node.name, agent);
      try {
        agent.start();
      } catch (e) {
        if (e instanceof LeaseError || e instanceof NetlinkError) fail(spec.pos, `flanneld on ${node.name} could not start: ${e.message}`);
        throw e;
      }
      return agent;
    },
    conflistFor(name, given) {
      const agent = agents.get(name)!;
      const lease = agent.lease!;
      const list = parseConflist(given ?? FLANNEL_CONFLIST);
      return resolveFlannel(list, {
        network: formatCidr4(spec.config.network.addr, spec.config.network.prefix),
        subnet: formatCidr4((lease.subnet.addr + 1) >>> 0, lease.subnet.prefix),
        mtu: agent.backend!.mtu,
        ipMasq: spec.ipMasq,
      });
    },
  };
}

function backendFactory(spec: FlannelSpec): BackendFactory {
  switch (spec.config.backend.type) {
    case 'vxlan': return createVxlanBackend;
    case 'host-gw': return createHostGwBackend;
    case 'udp': return (ctx) => createUdpBackend(ctx, { port: spec.config.backend.udpPort, crossingCost: spec.udpCrossingCost });
  }
}

function fail(pos: SourcePos, message: string): never {
  throw new InputError(pos.file, pos.line, pos.col, message);
}
