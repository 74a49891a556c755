/**
 * e2e.frames.{untraced,traced} (issue 9): "pod → ClusterIP → VXLAN → pod" end to end.
 *
 * Two flannel vxlan nodes (kube subnet manager, kube-flannel's conflist: bridge cni0),
 * kube-proxy in iptables mode, pod client on node-1 and pod web on node-2 behind a UDP
 * ClusterIP Service (port 9999 → targetPort 9999; the pod declares no port, so no echo server takes it). ARP and the conntrack-free warm-up
 * are done with one ping; then pod client sends one 64-byte UDP datagram per 1 µs of
 * virtual time from one socket to ClusterIP:9999, and a counting socket in web receives
 * them (the shared rig, bench/udp-stream.ts). Every datagram goes client eth0 → veth → cni0 (bridge; br_netfilter runs PREROUTING for the frame, bridge-nf-call-iptables=1 as on a node) →
 * routing with kube-proxy's nat PREROUTING (KUBE-SERVICES → KUBE-SVC → KUBE-SEP DNAT to
 * web's pod IP on the other node; the first datagram binds, the rest follow conntrack),
 * FORWARD (KUBE-FORWARD, FLANNEL-FWD), POSTROUTING (KUBE-POSTROUTING, FLANNEL-POSTRTG) →
 * flannel.1 (VXLAN encapsulation, UDP 8472) → eth0 → the underlay segment → node-2 eth0
 * → flannel.1 (decapsulation) → cni0 → veth → web eth0; the un-DNAT is not exercised
 * (no reply). Frames = the increase of txPackets summed over every device (5 per
 * datagram); the rate is per second of CPU (wall) time.
 *
 * untraced: tracing off, no captures. traced: every trace event rendered as text by
 * LineSink into a function that only counts bytes, plus a CaptureSet (pcap per interface
 * + all.pcapng) in a temp dir, as `podwire run --pcap` does.
 * Targets (issue 9): ≥ 1 M frames/s untraced, ≥ 200 k frames/s traced.
 */
import { parseScenario } from '../src/scenario/load.js';
import { buildCluster } from '../src/scenario/build.js';
import { resetPacketIds } from '../src/kernel/skb.js';
import { parseIp } from '../src/wire/bytes.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { INTERVAL_NS, udpStream, udpStreamSpec, type UdpStream } from './udp-stream.js';

const PORT = 9999;

export const E2E_SCENARIO = `name: e2e-frames
seed: 9
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: flannel, backend: vxlan}
  kubeProxy: {mode: iptables}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24}
    - {name: node-2, ip: 192.168.1.12/24}
manifests:
  - {apiVersion: v1, kind: Pod, metadata: {name: client}, spec: {nodeName: node-1, containers: [{name: c, image: busybox}]}}
  - {apiVersion: v1, kind: Pod, metadata: {name: web, labels: {app: web}}, spec: {nodeName: node-2, containers: [{name: web, image: sink}]}}
  - {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {selector: {app: web}, ports: [{name: sink, port: ${PORT}, protocol: UDP, targetPort: ${PORT}}]}}
`;

function setup(traced: boolean, datagrams: number, size: number): UdpStream {
  resetPacketIds();
  const cl = buildCluster(parseScenario(E2E_SCENARIO, 'e2e-frames.yaml'));
  const client = cl.pods.get('default/client')!, web = cl.pods.get('default/web')!;
  if (client.node === web.node) throw new Error('e2e bench: client and web on one node');
  // Let kube-proxy sync (its minSyncPeriod timer) before the warm-up ping resolves ARP and the overlay.
  cl.world.sched.run(cl.world.now + 2_000_000_000);
  const body = cl.store.get('Service', 'default', 'web') as { spec?: { clusterIP?: string } } | undefined;
  const vip = body?.spec?.clusterIP ?? '';
  const dst = parseIp(vip);
  if (dst === undefined) throw new Error(`e2e bench: Service default/web has no ClusterIP (${vip})`);
  return udpStream(cl, { label: `e2e bench (to ${vip}:${PORT})`, traced, datagrams, size, dst, port: PORT, warmupNs: 50_000_000, drainNs: INTERVAL_NS + 10_000_000 });
}

function spec(o: BenchOptions, traced: boolean): BenchSpec {
  const datagrams = traced ? (o.quick ? 10_000 : 50_000) : (o.quick ? 20_000 : 200_000);
  const size = 64;
  return udpStreamSpec(o, {
    label: 'e2e bench', datagrams, traced,
    name: traced ? 'e2e.frames.traced' : 'e2e.frames.untraced',
    description: traced
      ? 'frames/s pod→ClusterIP→VXLAN→pod (kube-proxy iptables DNAT, flannel vxlan, 2 nodes), UDP, text trace of every event + pcap/pcapng captures'
      : 'frames/s pod→ClusterIP→VXLAN→pod (kube-proxy iptables DNAT, flannel vxlan, 2 nodes), UDP, tracing off, no captures',
    params: { scenario: 'bench/e2e-frames.ts E2E_SCENARIO', datagrams, payloadBytes: size, intervalNs: INTERVAL_NS, trace: traced ? 'LineSink text → discarded' : 'off', captures: traced ? 'pcap + pcapng, temp dir' : 'none' },
    target: { kind: 'min', value: traced ? 200_000 : 1_000_000 },
    setup: () => setup(traced, datagrams, size),
  });
}

export const e2eUntraced = (o: BenchOptions) => spec(o, false);
export const e2eTraced = (o: BenchOptions) => spec(o, true);
