/**
 * bridge.frames.{untraced,traced}: sustained UDP through the same-node bridge path
 * (client eth0 → veth → cni0 → veth → web eth0) of scenarios/same-node-bridge.yaml.
 * UDP from pod client to pod web's address, through the shared rig (bench/udp-stream.ts).
 */
import { loadScenario } from '../src/scenario/load.js';
import { buildCluster } from '../src/scenario/build.js';
import { resetPacketIds } from '../src/kernel/skb.js';
import type { BenchOptions, BenchSpec } from './harness.js';
import { INTERVAL_NS, udpStream, udpStreamSpec } from './udp-stream.js';

export const SCENARIO = 'scenarios/same-node-bridge.yaml';
const SINK_PORT = 9999;

function spec(o: BenchOptions, traced: boolean): BenchSpec {
  const datagrams = traced ? (o.quick ? 20_000 : 100_000) : (o.quick ? 100_000 : 500_000);
  const size = 64;
  return udpStreamSpec(o, {
    label: 'bridge bench', datagrams, traced,
    name: traced ? 'bridge.frames.traced' : 'bridge.frames.untraced',
    description: traced
      ? `frames/s on the same-node bridge path, UDP client→web, text trace of every event + pcap/pcapng captures on every device`
      : `frames/s (device transmits) on the same-node bridge path, UDP client→web, tracing off, no captures`,
    params: { scenario: SCENARIO, datagrams, payloadBytes: size, intervalNs: INTERVAL_NS, trace: traced ? 'LineSink text → discarded' : 'off', captures: traced ? 'pcap + pcapng, temp dir' : 'none' },
    setup: () => {
      resetPacketIds();
      const cl = buildCluster(loadScenario(SCENARIO));
      // Veth delay is 0: every frame of the last datagram is delivered at its send instant.
      return udpStream(cl, { label: 'bridge bench', traced, datagrams, size, dst: cl.pods.get('default/web')!.ip, port: SINK_PORT, warmupNs: 10_000_000, drainNs: 0 });
    },
  });
}

export const bridgeUntraced = (o: BenchOptions) => spec(o, false);
export const bridgeTraced = (o: BenchOptions) => spec(o, true);
