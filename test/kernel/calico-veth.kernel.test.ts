/**
 * Kernel conformance of Calico's workload wiring (src/calico/cni.ts): one node with two pods
 * wired by the calico CNI plugin — cali veths whose host end is ee:ee:ee:ee:ee:ee, proxy ARP
 * and proxy_delay 0 on it, a /32 per pod, `<pod>/32 dev cali… scope link` on the host and
 * `169.254.1.1 dev eth0 scope link` + `default via 169.254.1.1` in the pod. podwire runs
 * the plugin (through Node's Netlink, so every step is a logged command), pings pod → pod
 * and pod → node, and captures both pods' eth0 and both cali interfaces; the kernel harness
 * replays the same commands in `pw-k-*` namespaces (created and always deleted by the
 * suite), runs the same pings and captures the same interfaces with tcpdump; outcomes and
 * frames are compared byte for byte (random fields normalised: IP IDs, checksums as
 * compare.ts does). What this checks on the real kernel: the ARP for 169.254.1.1 is
 * answered at once by proxy ARP with ee:ee:ee:ee:ee:ee (no proxy_delay), the node ARPs for
 * the destination pod from its eth0 address, TTLs (63 pod → pod, 64 from the node),
 * addresses and the frame sequence on each interface.
 *
 * Runs only as root; under CI=true a missing prerequisite fails instead of skipping.
 * Artifacts: out/kernel/calico-veth/{model,kernel}/*.pcap and report.txt.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Segment } from '../../src/kernel/devices/nic.js';
import { Rng } from '../../src/engine/rng.js';
import { attachCaptures } from '../../src/scenario/captures.js';
import { runClient, type Outcome } from '../../src/scenario/apps.js';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { pcapFileName } from '../../src/trace/capture.js';
import { parseIp, parseMac } from '../../src/wire/bytes.js';
import { parseConflist } from '../../src/cni/index.js';
import { CalicoIpam } from '../../src/calico/ipam.js';
import { calicoCmdAdd, calicoConflistText, calicoNetConf } from '../../src/calico/cni.js';
import { workloadInterfaceName } from '../../src/calico/names.js';
import { compareInterface, formatComparison, type InterfaceComparison } from './compare.js';
import { runKernel, type IfaceRef, type KernelPlan, type ProbeSpec } from './harness.js';
import { KernelLab, kernelTestMode, tcpdumpRead } from './netns.js';
import { useKernelLabs } from './suite.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(path.resolve(HERE, '../..'), 'out', 'kernel', 'calico-veth');
const mode = kernelTestMode();
const S = 1_000_000_000;
const END = 3 * S;
const NODE_IP = '192.168.71.1';
const PODS = [{ ns: 'default', name: 'pa' }, { ns: 'default', name: 'pb' }];

/** The node as kubelet + calico-node leave it, then the two pods through the calico plugin. */
function buildModel(w: World) {
  const n = new Node(w, 'n1', 'node');
  w.nodes.set('n1', n);
  const seg = new Segment('192.168.71.0/24', parseIp('192.168.71.0')!, 24);
  n.addNic('eth0', seg, parseMac('02:00:00:00:71:01')!, 1500, 0, 0);
  n.linkSetUp('host', 'eth0');
  n.addrAdd('host', 'eth0', `${NODE_IP}/24`);
  // Proxy ARP answers for 169.254.1.1 only because the node has a route to it: its default route.
  n.routeAdd('host', { dst: 'default', via: '192.168.71.254', dev: 'eth0' });
  n.sysctlSet('host', 'net.ipv4.ip_forward', '1');
  const ipam = new CalicoIpam(new Rng(9));
  ipam.createPool({ name: 'default-ipv4-ippool', cidr: '10.48.0.0/16', ipipMode: 'Never', natOutgoing: true });
  const conf = calicoNetConf(parseConflist(calicoConflistText({ nodename: 'n1', mtu: 1500 })));
  const ips: string[] = [];
  PODS.forEach((p, i) => {
    const netns = `${p.ns}.${p.name}`;
    n.netnsAdd(netns);
    const r = calicoCmdAdd(n, w.rng, ipam, conf, { containerID: `c${i}`, netns, ifName: 'eth0', namespace: p.ns, pod: p.name });
    ips.push(r.ips[0]!.address.split('/')[0]!);
  });
  return { n, ips };
}

describe.skipIf(mode.mode === 'skip')('calico workload veth kernel conformance (real namespaces)', () => {
  const labs = useKernelLabs(mode);

  it('proxy ARP for 169.254.1.1 with ee:ee:ee:ee:ee:ee, pod → pod and pod → node: podwire\'s frames equal the kernel\'s', async () => {
    const modelDir = path.join(OUT, 'model');
    const kernelDir = path.join(OUT, 'kernel');
    for (const d of [modelDir, kernelDir]) {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
    }
    // ── model ──
    const w = new World(5);
    const { n, ips } = buildModel(w);
    const probes: ProbeSpec[] = [
      { name: 'pod-to-pod', atNs: 0, machine: 'n1', netns: 'default.pa', protocol: 'icmp', dst: ips[1]!, size: 56, count: 1, timeoutNs: 1 * S },
      { name: 'pod-to-node', atNs: 1 * S, machine: 'n1', netns: 'default.pa', protocol: 'icmp', dst: NODE_IP, size: 56, count: 1, timeoutNs: 1 * S },
    ];
    const captures: IfaceRef[] = [
      ...PODS.map((p) => ({ machine: 'n1', netns: `${p.ns}.${p.name}`, dev: 'eth0' })),
      ...PODS.map((p) => ({ machine: 'n1', netns: 'host', dev: workloadInterfaceName(p.ns, p.name) })),
    ];
    const cs = attachCaptures(w, modelDir);
    const outcomes: Record<string, Outcome> = {};
    for (const p of probes) {
      w.sched.at(p.atNs, () => runClient({
        ns: n.ns(p.netns), dst: parseIp(p.dst)!, protocol: p.protocol, size: p.size, timeout: p.timeoutNs,
        flow: p.name, done: (o) => { outcomes[p.name] = o; },
      }));
    }
    w.sched.run(END);
    cs.close();
    expect(outcomes).toEqual({ 'pod-to-pod': 'reply', 'pod-to-node': 'reply' });
    const config = [{ machine: 'n1', kind: 'node' as const, commands: n.configCommands() }];
    const plan: KernelPlan = { config, servers: [], probes, captures, endTimeNs: END };

    // ── kernel ──
    const lab = new KernelLab();
    labs.push(lab);
    let kernel;
    try {
      kernel = await runKernel(lab, plan, kernelDir, { graceMs: 300 });
    } finally {
      await lab.destroy();
    }
    const results = kernel.results.map((r) => `${r.name}: ${r.results.join(',')}`);

    // ── compare ──
    const endNs = BigInt(kernel.endTimeNs) + 300n * 1_000_000n;
    const comparisons: InterfaceComparison[] = [];
    let detail = '';
    const kernelFrames = new Map<string, Uint8Array[]>();
    for (const ref of captures) {
      const kfile = kernel.captures.find((c) => c.machine === ref.machine && c.netns === ref.netns && c.dev === ref.dev)!.file;
      const mfile = path.join(modelDir, pcapFileName(ref.machine, ref.netns, ref.dev));
      const kf = readCaptureFile(kfile).packets.filter((p) => p.timeNsExact - kernel.t0Ns <= endNs).map((p) => ({ data: p.data }));
      const mf = readCaptureFile(mfile).packets.filter((p) => p.timeNs <= END).map((p) => ({ data: p.data }));
      kernelFrames.set(`${ref.netns}/${ref.dev}`, kf.map((f) => f.data));
      const c = compareInterface(`${ref.machine}/${ref.netns}/${ref.dev}`, kf, mf);
      comparisons.push(c);
      if (!c.ok) {
        detail += `\n--- kernel ${c.iface}\n${await tcpdumpRead(kfile, ['-nn', '-e', '-v'])}`;
        detail += `--- model ${c.iface}\n${await tcpdumpRead(mfile, ['-nn', '-e', '-v'])}`;
      }
    }
    const report = `${results.join('\n')}\n\n${formatComparison(comparisons)}\n${detail}`;
    writeFileSync(path.join(OUT, 'report.txt'), report);
    expect(results, report).toEqual(['pod-to-pod: reply', 'pod-to-node: reply']);
    expect(comparisons.map((c) => c.iface + (c.ok ? '' : ' FAIL')), report).toEqual(captures.map((r) => `${r.machine}/${r.netns}/${r.dev}`));

    // What the kernel itself showed, independent of the model: pod a's first frames are its
    // ARP request for 169.254.1.1 and the proxy reply from ee:ee:ee:ee:ee:ee.
    const pa = kernelFrames.get('default.pa/eth0')!;
    expect(pa.length, report).toBeGreaterThanOrEqual(6);
    const arpTarget = (f: Uint8Array) => f.subarray(38, 42).join('.');
    expect([pa[0]![21], arpTarget(pa[0]!)]).toEqual([1, '169.254.1.1']);
    expect(pa[1]![21]).toBe(2);
    expect(Array.from(pa[1]!.subarray(22, 28), (x) => x.toString(16)).join(':')).toBe('ee:ee:ee:ee:ee:ee');
    expect(pa[1]!.subarray(28, 32).join('.')).toBe('169.254.1.1');
    // The echo reply from pod b arrives with TTL 63 (forwarded once), the node's with 64.
    const echoReplies = pa.filter((f) => f[12] === 8 && f[13] === 0 && f[23] === 1 && f[34] === 0);
    expect(echoReplies.map((f) => f[22])).toEqual([63, 64]);
  }, 120_000);
});
