/**
 * The base topology of the upstream AdminNetworkPolicy conformance suite
 * (kubernetes-sigs/network-policy-api, release-0.1, `conformance/base/manifests.yaml`),
 * as a podwire scenario:
 *
 * - namespaces `network-policy-conformance-{gryffindor,slytherin,hufflepuff,ravenclaw,forbidden-forrest}`,
 *   each labelled `conformance-house: <house>` (plus the defaulted `kubernetes.io/metadata.name`);
 * - two pods per house (upstream: a StatefulSet of 2 replicas, so `<name>-0` and `<name>-1`),
 *   labelled `conformance-house: <house>`: harry-potter, draco-malfoy, cedric-diggory, luna-lovegood.
 *   Each serves TCP 80 (container port named `web`), TCP 8080, UDP 5353, UDP 53 (named `dns`),
 *   SCTP 9003 and 9005. Upstream declares only `web` and `dns` as container ports (the others are
 *   agnhost commands); podwire serves declared ports only, so 8080/TCP, 5353/UDP and the SCTP ports
 *   are declared too, unnamed — named-port resolution sees exactly upstream's two names;
 * - `centaur-0`/`centaur-1` in forbidden-forrest: hostNetwork pods serving the suite's host-network
 *   ports (defaults 34345..34352: [0] 34345/TCP, [1] 34346/TCP, [2] 34347/UDP, [4] 34349/UDP,
 *   [6] 34351/SCTP, [7] 34352/SCTP; [3]/[5] are agnhost's HTTP ports, unused by the tests), and
 *   also v0.1.5's fixed ones (36363-36364/TCP, 34345-34346/UDP, 9003/9005 SCTP) for its cases.
 *
 * - `network-policy-conformance-durmstrang` with `viktor-krum-0/1`: not in release-0.1; added
 *   upstream by the (v1alpha2, unmerged at the snapshot) pull request #384 for its port-range and
 *   omitted-namespaceSelector cases, which cases.ts ports to v1alpha1. No release-0.1 case
 *   selects or asserts them.
 *
 * Two nodes on flannel vxlan (upstream runs on a multi-node kind cluster): `-0` pods on node-1,
 * `-1` pods on node-2; centaur-0 on node-2 and centaur-1 on node-1, so the node-peer cases
 * (clients harry-potter-0/1, server centaur-1) cross the underlay for harry-potter-1.
 */
import { stringify } from 'yaml';
import type { Obj } from '../../../src/kube/object.js';

export const PREFIX = 'network-policy-conformance-';
export const HOUSES = ['gryffindor', 'slytherin', 'hufflepuff', 'ravenclaw', 'forbidden-forrest', 'durmstrang'] as const;
export type House = (typeof HOUSES)[number];
export const ns = (h: House): string => PREFIX + h;

/** The pods' StatefulSet names, per house. */
export const STUDENTS: Record<Exclude<House, 'forbidden-forrest' | 'durmstrang'>, string> = {
  gryffindor: 'harry-potter',
  slytherin: 'draco-malfoy',
  hufflepuff: 'cedric-diggory',
  ravenclaw: 'luna-lovegood',
};

/** The suite's default host-network ports (HostNetworkPortRangeStart 34345, eight of them). */
export const HNP = [34345, 34346, 34347, 34348, 34349, 34350, 34351, 34352] as const;

type Port = { containerPort: number; protocol: 'TCP' | 'UDP' | 'SCTP'; name?: string };
const STUDENT_PORTS: Port[] = [
  { containerPort: 80, protocol: 'TCP', name: 'web' },
  { containerPort: 8080, protocol: 'TCP' },
  { containerPort: 5353, protocol: 'UDP' },
  { containerPort: 53, protocol: 'UDP', name: 'dns' },
  { containerPort: 9003, protocol: 'SCTP' },
  { containerPort: 9005, protocol: 'SCTP' },
];
/** viktor-krum (durmstrang) declares every TCP/UDP port, named. */
const VIKTOR_PORTS: Port[] = [
  { containerPort: 80, protocol: 'TCP', name: 'web' },
  { containerPort: 8080, protocol: 'TCP', name: 'web-8080' },
  { containerPort: 53, protocol: 'UDP', name: 'dns' },
  { containerPort: 5353, protocol: 'UDP', name: 'dns-sd' },
  { containerPort: 9003, protocol: 'SCTP' },
  { containerPort: 9005, protocol: 'SCTP' },
];
const CENTAUR_PORTS: Port[] = [
  { containerPort: HNP[0], protocol: 'TCP', name: `web-${HNP[0]}` },
  { containerPort: HNP[1], protocol: 'TCP', name: `web-${HNP[1]}` },
  { containerPort: HNP[2], protocol: 'UDP', name: `dns-${HNP[2]}` },
  { containerPort: HNP[4], protocol: 'UDP', name: `dns-${HNP[4]}` },
  { containerPort: HNP[6], protocol: 'SCTP' },
  { containerPort: HNP[7], protocol: 'SCTP' },
  // v0.1.5's fixed host ports (before they became configurable): 36363-36364/TCP, 34345-34346/UDP, 9003/9005 SCTP.
  { containerPort: 36363, protocol: 'TCP', name: 'web-36363' },
  { containerPort: 36364, protocol: 'TCP', name: 'web-36364' },
  { containerPort: 34345, protocol: 'UDP', name: 'dns-34345' },
  { containerPort: 34346, protocol: 'UDP', name: 'dns-34346' },
  { containerPort: 9003, protocol: 'SCTP' },
  { containerPort: 9005, protocol: 'SCTP' },
];

export interface PodDef {
  house: House;
  name: string;
  node: 'node-1' | 'node-2';
  hostNetwork: boolean;
  ports: Port[];
}

export const PODS: PodDef[] = [
  ...(Object.entries(STUDENTS) as [House, string][]).flatMap(([house, base]) =>
    [0, 1].map((i): PodDef => ({ house, name: `${base}-${i}`, node: i === 0 ? 'node-1' : 'node-2', hostNetwork: false, ports: STUDENT_PORTS })),
  ),
  { house: 'forbidden-forrest', name: 'centaur-0', node: 'node-2', hostNetwork: true, ports: CENTAUR_PORTS },
  { house: 'forbidden-forrest', name: 'centaur-1', node: 'node-1', hostNetwork: true, ports: CENTAUR_PORTS },
  { house: 'durmstrang', name: 'viktor-krum-0', node: 'node-1', hostNetwork: false, ports: VIKTOR_PORTS },
  { house: 'durmstrang', name: 'viktor-krum-1', node: 'node-2', hostNetwork: false, ports: VIKTOR_PORTS },
];

/** `network-policy-conformance-<house>/<pod>` for a pod name (the house follows from the name). */
export function podRef(name: string): string {
  const p = PODS.find((x) => x.name === name);
  if (!p) throw new Error(`no pod ${name} in the Hogwarts topology`);
  return `${ns(p.house)}/${p.name}`;
}

function baseManifests(): Obj[] {
  const out: Obj[] = HOUSES.map((h) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(h), labels: { 'conformance-house': h } } }));
  for (const p of PODS) {
    const containers = [
      { name: 'client', image: 'agnhost' },
      ...p.ports.map((x) => ({ name: `serve-${x.containerPort}-${x.protocol.toLowerCase()}`, image: 'agnhost', ports: [x] })),
    ];
    out.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: ns(p.house), labels: { 'conformance-house': p.house } },
      spec: { nodeName: p.node, ...(p.hostNetwork ? { hostNetwork: true } : {}), containers },
    });
  }
  return out;
}

/** One step's change to the policies in force. */
export type PolicyEvent = { apply: Obj } | { delete: string };

/**
 * The scenario text: the base topology, then `policies` as manifests, then for
 * each entry of `events` (one list per second: events[0] at 1s, events[1] at 2s…)
 * policy-apply / policy-delete events.
 */
export function hogwartsScenario(policies: Obj[] = [], events: PolicyEvent[][] = []): string {
  const doc = {
    name: 'anp-conformance-hogwarts',
    seed: 1,
    description: 'the network-policy-api conformance base topology (Hogwarts houses)',
    cluster: {
      podCIDR: '10.244.0.0/16',
      serviceCIDR: '10.96.0.0/12',
      network: { plugin: 'flannel', backend: 'vxlan' },
      nodes: [
        { name: 'node-1', ip: '192.168.1.11/24' },
        { name: 'node-2', ip: '192.168.1.12/24' },
      ],
    },
    manifests: [...baseManifests(), ...policies],
    events: events.flatMap((list, i) =>
      list.map((e) => ('apply' in e ? { at: `${i + 1}s`, kind: 'policy-apply', manifest: e.apply } : { at: `${i + 1}s`, kind: 'policy-delete', policy: e.delete })),
    ),
  };
  if (doc.events.length === 0) delete (doc as Partial<typeof doc>).events;
  return stringify(doc);
}
