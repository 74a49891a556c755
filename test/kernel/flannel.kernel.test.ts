/**
 * Kernel conformance of flannel's vxlan and host-gw backends: each shipped scenario below is
 * run by podwire (captures, and every machine's configuration as the commands flanneld, the
 * CNI bridge plugin and kube-proxy would have run: `ip link add flannel.1 … type vxlan …
 * nolearning`, `ip neigh replace … nud permanent`, `bridge fdb replace … self permanent`,
 * `ip route replace … onlink`, flannel's and kube-proxy's `iptables-restore --noflush`), then
 * built in real `pw-k-*` namespaces from exactly those commands (harness.ts, rewrite.ts: one
 * bridge per underlay segment, the router and the external host included), driven by the same
 * probes at the same relative times, and compared:
 *
 *  (a) outcomes per traffic item;
 *  (b) frames, byte for byte after compare.ts's normalisation, on every interface podwire
 *      captured: pod veths, cni0, flannel.1, the nodes' and router's underlay NICs, the
 *      external host's. VXLAN datagrams are compared whole — outer Ethernet, outer IPv4
 *      (TTL, DF, TOS, length, addresses), outer UDP (ports, length), the 8 VXLAN header bytes
 *      (flags 0x08, VNI 1) — and their inner frame is normalised with its own state
 *      (vxlan-compare.ts) like any other frame;
 *  (c) the resulting state of every node: `ip route` (main table), `ip neigh show dev
 *      flannel.1`, `bridge fdb show dev flannel.1` against the model's fib (formatRoute),
 *      neighbour table (formatNeigh) and Node.fdbShow;
 *  (d) host-gw: every route flanneld would add that podwire did not log (the remote node is
 *      behind the router) is refused by the kernel ("Nexthop has invalid gateway") and by the
 *      model's Netlink (ENETUNREACH, same reason) — tried after the state dumps.
 *
 * Masked, and why (nothing else is):
 *  - the outer UDP source port of VXLAN datagrams: the kernel's udp_flow_src_port hashes the
 *    inner flow with a per-boot random seed (flow_dissector hashrnd), the model with a seed
 *    drawn per World. Before masking, checkVxlanSourcePorts requires it on both sides to lie
 *    in 32768–60999 (the local port range it is mapped into) and to be one value per inner
 *    flow; it is then replaced by a placeholder per direction-specific inner flow. Which
 *    flows share one port with their reverse flow is compared apart (vxlanPortSharing): the
 *    kernel takes the flow dissector's symmetric hash for packets without a socket hash (ping,
 *    an unconnected UDP socket's reply) and the socket's random sk_txhash for TCP and connected
 *    UDP sockets (one port per direction); the model carries the socket hash on the packet
 *    (Skb.txHash) the same way. Every line is asserted except flows carried as IP fragments
 *    (flannel-mtu): there the kernel gives each direction its own port and the model one port
 *    for both — a known, unexplained divergence, reported in report.txt;
 *  - what compare.ts normalises everywhere (IP ID, TCP ISNs and timestamps, ICMP echo id and
 *    timeval, L4 checksums — the model's verified instead, the outer one included — and
 *    ephemeral ports renumbered in order of appearance). The renumbered range is 1024–65535:
 *    flannel's and kube-proxy's MASQUERADE --random-fully draw the source port of the
 *    pod-to-external connection from there (get_random_u16), in the kernel and the model alike;
 *  - the TCP window of non-SYN segments sent by the passive side in a pod behind flannel.1
 *    (MSS 1410), vxlan scenarios only: still needed — the known TCP-model divergence
 *    vxlan.kernel.test.ts describes (the kernel's server advertises 502, the model 503; seen
 *    here on every segment from web:80 after the handshake). Limited to segments from the TCP
 *    servers' pod addresses (and the Service address they answer as) on their ports; the
 *    clients', the external host's (MTU 1500) and the host-gw scenarios' windows are compared.
 *
 * Runs only as root; under CI=true a missing prerequisite fails instead of skipping. Every
 * namespace is the test's own (`pw-k-<pid>-<n>-…`) and is deleted even when the test fails.
 * Artifacts: out/kernel/<scenario>/{model,kernel}/*.pcap, report.txt, state.txt.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { loadScenario } from '../../src/scenario/load.js';
import { runScenarioFile } from '../../src/scenario/run.js';
import { formatRoute } from '../../src/kernel/fib.js';
import { formatNeigh } from '../../src/kernel/neigh.js';
import type { Node } from '../../src/kernel/node.js';
import { Normaliser, compareInterface, formatComparison, type InterfaceComparison } from './compare.js';
import { compareOutcomes, findPodAddress, freshCaptureDirs, parseCaptureName, planFromScenario, runKernel, type IfaceRef, type KernelRunOutput, type MachineConfig } from './harness.js';
import { KernelLab, kernelTestMode, tcpdumpRead } from './netns.js';
import { useKernelLabs } from './suite.js';
import { checkVxlanSourcePorts, maskTcpWindow, maskVxlanSourcePort, normaliseVxlanFrames, vxlanPortSharing } from './vxlan-compare.js';

/** The flannel scenarios checked against the real kernel. */
export const FLANNEL_SCENARIOS: { file: string; vxlan: boolean }[] = [
  { file: 'scenarios/flannel-vxlan.yaml', vxlan: true },
  { file: 'scenarios/flannel-host-gw.yaml', vxlan: false },
  { file: 'scenarios/flannel-vxlan-two-subnets.yaml', vxlan: true },
  { file: 'scenarios/flannel-host-gw-two-subnets.yaml', vxlan: false },
  { file: 'scenarios/flannel-mtu.yaml', vxlan: true },
];

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const OUT = path.join(ROOT, 'out', 'kernel');
const mode = kernelTestMode();
const CAPTURE_GRACE_MS = 300;
/** MASQUERADE --random-fully (see the header). */
const EPHEMERAL: [number, number] = [1024, 65535];
const VXLAN_PORT = 8472;

type Frames = { data: Uint8Array }[];

/** `ip route` lines of the model's main table, as iproute2 prints them. */
function modelRoutes(node: Node): string[] {
  return node.ns('host').fib.routes(254).map(formatRoute);
}

/** `ip neigh show dev DEV` lines of the model (iproute2 leaves out `dev DEV` when filtering by it). */
function modelNeigh(node: Node, dev: string): string[] {
  return [...node.ns('host').neighs.values()].filter((n) => n.dev.name === dev).map((n) => formatNeigh(n).replace(` dev ${dev}`, ''));
}

/**
 * host-gw: flanneld's route on each node for every other node's lease (`LEASE via NODE-IP dev
 * NIC`), leases read from the `ip addr add 10.244.X.1/24 dev cni0` podwire logged, and
 * whether podwire logged that route (installed) or not (refused).
 */
function hostGwRouteSpecs(scn: { cluster: { nodes: { name: string; ip: { addr: number } }[] } }, config: MachineConfig[]): { node: string; dst: string; via: string; dev: string; logged: boolean }[] {
  const ip = (a: number): string => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
  const lease = (n: string): string | null => {
    for (const c of config.find((x) => x.machine === n)?.commands ?? []) {
      const m = /^ip addr add (\d+\.\d+\.\d+)\.1\/(\d+) dev cni0$/.exec(c);
      if (m) return `${m[1]}.0/${m[2]}`;
    }
    return null;
  };
  const out: { node: string; dst: string; via: string; dev: string; logged: boolean }[] = [];
  for (const n of scn.cluster.nodes) for (const r of scn.cluster.nodes) {
    const dst = lease(r.name);
    if (r === n || !dst) continue;
    const cmd = `ip route replace ${dst} via ${ip(r.ip.addr)} dev eth0`;
    out.push({ node: n.name, dst, via: ip(r.ip.addr), dev: 'eth0', logged: !!config.find((x) => x.machine === n.name)?.commands.includes(cmd) });
  }
  return out;
}

const lines = (s: string): string[] => s.split('\n').map((l) => l.trim()).filter(Boolean);
/** Route and neighbour dumps are in the kernel's data-structure order (fib trie, hash): compared as sorted sets. */
const sorted = (l: string[]): string[] => [...l].sort();

describe.skipIf(mode.mode === 'skip')('flannel kernel conformance (real namespaces)', () => {
  const labs = useKernelLabs(mode);

  for (const s of FLANNEL_SCENARIOS) {
    const name = path.basename(s.file, '.yaml');
    it(`${name}: podwire's frames (VXLAN headers included) and node state equal the real kernel's`, async () => {
      const base = path.join(OUT, name);
      const { modelDir, kernelDir } = freshCaptureDirs(base);
      const file = path.join(ROOT, s.file);
      const model = runScenarioFile(file, { pcapDir: modelDir });
      const scn = loadScenario(file);
      const refs: (IfaceRef & { model: string })[] = [];
      for (const c of model.captures) {
        const r = parseCaptureName(c);
        if (r) refs.push({ ...r, model: c });
      }
      expect(refs.length, 'podwire wrote no per-interface pcaps').toBeGreaterThan(0);
      const control = model.cluster.control;
      const plan = planFromScenario(scn, model.config as MachineConfig[], refs, model.endTime, control ? (t) => control.serviceTarget(t) : undefined);
      const nodes = scn.cluster.nodes.map((n) => n.name);
      // The TCP window mask (see the header): the passive side in a pod behind flannel.1's MTU
      // 1450 (MSS 1410) — the pods' own addresses, and the Service addresses items reach them by
      // (the reply is un-DNATed on the client's node).
      const windowMask = new Map<number, Set<string>>();
      if (s.vxlan) {
        for (const sv of plan.servers) {
          if (sv.protocol !== 'tcp' || sv.netns === 'host') continue;
          const ip = findPodAddress(plan.config.find((c) => c.machine === sv.machine)!, sv.netns);
          if (!ip) continue;
          if (!windowMask.has(sv.port)) windowMask.set(sv.port, new Set());
          windowMask.get(sv.port)!.add(ip);
        }
        scn.traffic.forEach((t, i) => {
          const p = plan.probes[i]!;
          if (t.to.kind === 'service' && p.protocol === 'tcp' && p.port !== undefined) {
            if (!windowMask.has(p.port)) windowMask.set(p.port, new Set());
            windowMask.get(p.port)!.add(p.dst);
          }
        });
      }
      const maskWindows = (f: Frames): Frames => [...windowMask].reduce((acc, [port, srcs]) => maskTcpWindow(acc, port, VXLAN_PORT, srcs), f);

      // ── kernel: build, run, then dump each node's state before the lab goes ──
      const lab = new KernelLab();
      labs.push(lab);
      let kernel: KernelRunOutput;
      const kstate = new Map<string, { routes: string[]; neigh: string[]; fdb: string[] }>();
      // host-gw: the route flanneld would add for every other node; those podwire did not log
      // (refused) are tried on the kernel once the state is dumped (see (d)).
      const refusedKernel: string[] = [];
      const hostGwRoutes = s.vxlan ? [] : hostGwRouteSpecs(scn, model.config as MachineConfig[]);
      if (!s.vxlan) expect(hostGwRoutes.length, 'a lease per node (cni0 address)').toBe(nodes.length * (nodes.length - 1));
      try {
        kernel = await runKernel(lab, plan, kernelDir, { graceMs: CAPTURE_GRACE_MS });
        for (const n of nodes) {
          const ns = `${lab.prefix}${n}`;
          const hasVxlan = s.vxlan;
          kstate.set(n, {
            routes: lines((await lab.exec(['ip', '-n', ns, 'route', 'show'])).stdout),
            neigh: hasVxlan ? lines((await lab.exec(['ip', '-n', ns, 'neigh', 'show', 'dev', 'flannel.1'])).stdout) : [],
            fdb: hasVxlan ? lines((await lab.exec(['bridge', '-n', ns, 'fdb', 'show', 'dev', 'flannel.1'])).stdout) : [],
          });
        }
        for (const r of hostGwRoutes.filter((x) => !x.logged)) {
          const res = await lab.exec(['ip', '-n', `${lab.prefix}${r.node}`, 'route', 'replace', r.dst, 'via', r.via, 'dev', r.dev], { allowFail: true });
          refusedKernel.push(`${r.node}: ip route replace ${r.dst} via ${r.via} dev ${r.dev}: ${res.code === 0 ? 'accepted' : `refused: ${res.stderr.trim()}`}`);
        }
      } finally {
        await lab.destroy();
      }

      const sections: string[] = [];
      const failures: string[] = [];

      // (a) Outcomes.
      const outcomes = compareOutcomes(model, kernel, plan);
      sections.push(outcomes.text);
      failures.push(...outcomes.failures);

      // (b) Frames.
      const endNs = BigInt(kernel.endTimeNs) + BigInt(Math.max(CAPTURE_GRACE_MS, 1000)) * 1_000_000n;
      const comparisons: InterfaceComparison[] = [];
      let vxlanFlows = 0;
      const portSharing: string[] = [];
      for (const ref of refs) {
        const key = `${ref.machine}/${ref.netns}/${ref.dev}`;
        const kfile = kernel.captures.find((c) => c.machine === ref.machine && c.netns === ref.netns && c.dev === ref.dev)!.file;
        const kraw: Frames = readCaptureFile(kfile).packets.filter((p) => p.timeNsExact - kernel.t0Ns <= endNs).map((p) => ({ data: p.data }));
        const mraw: Frames = readCaptureFile(ref.model).packets.filter((p) => p.timeNs <= model.endTime).map((p) => ({ data: p.data }));
        // The outer source port: in range and one per inner flow on both sides, then masked.
        for (const [side, fr] of [['kernel', kraw], ['model', mraw]] as const) {
          const chk = checkVxlanSourcePorts(fr, VXLAN_PORT);
          for (const p of chk.problems) failures.push(`${side} ${key}: ${p}`);
          if (side === 'model') vxlanFlows += chk.flows.size;
        }
        // The model's outer checksums are verified here, before normaliseVxlanFrames recomputes them.
        const outer = new Normaliser({ verifyChecksums: true });
        mraw.forEach((f, i) => outer.normalise(f.data).problems.forEach((p) => failures.push(`model ${key} frame #${i}: ${p}`)));
        // Which inner flows share an outer port with their reverse flow (the structure of the hash).
        const share = { kernel: vxlanPortSharing(kraw, VXLAN_PORT), model: vxlanPortSharing(mraw, VXLAN_PORT) };
        if (share.kernel.length || share.model.length) {
          // Flows carried as IP fragments are reported, not asserted: the kernel gives the two
          // directions of a fragmented (conntrack-defragmented, refragmented) ICMP exchange a port
          // each, where the flow dissector's symmetric hash would give one; the model, without a
          // socket hash on those packets, shares one. The cause is not pinned down yet.
          const asserted = (l: string[]): string[] => l.filter((x) => !x.includes('(fragments)'));
          const ok = JSON.stringify(asserted(share.kernel)) === JSON.stringify(asserted(share.model));
          portSharing.push(`${ok ? 'OK  ' : 'FAIL'} ${key}\n  kernel: ${share.kernel.join('\n          ')}\n  model:  ${share.model.join('\n          ')}`);
          if (!ok) failures.push(`outer source port sharing ${key}`);
        }
        const kframes = normaliseVxlanFrames(maskWindows(maskVxlanSourcePort(kraw, VXLAN_PORT)), VXLAN_PORT, false, EPHEMERAL);
        const mframes = normaliseVxlanFrames(maskWindows(maskVxlanSourcePort(mraw, VXLAN_PORT)), VXLAN_PORT, true, EPHEMERAL);
        comparisons.push(compareInterface(key, kframes, mframes, { ephemeral: EPHEMERAL }));
      }
      sections.push(formatComparison(comparisons));
      if (portSharing.length) sections.push(`outer UDP source port shared by both directions of an inner flow (fragmented flows not asserted, see the header):\n${portSharing.join('\n')}`);
      if (s.vxlan) expect(vxlanFlows, 'the model sent no VXLAN datagram').toBeGreaterThan(0);
      for (const c of comparisons.filter((x) => !x.ok)) {
        failures.push(`frames ${c.iface}`);
        const [machine, netns, dev] = c.iface.split('/') as [string, string, string];
        const kfile = kernel.captures.find((x) => x.machine === machine && x.netns === netns && x.dev === dev)!.file;
        const mfile = refs.find((x) => x.machine === machine && x.netns === netns && x.dev === dev)!.model;
        const flags = ['-nn', '-e', '-v', '-ttttt'];
        sections.push(`--- kernel ${c.iface} (tcpdump -r)\n${await tcpdumpRead(kfile, flags)}--- model ${c.iface} (tcpdump -r)\n${await tcpdumpRead(mfile, flags)}`);
      }

      // (c) State of each node.
      const state: string[] = [];
      for (const n of nodes) {
        const node = model.cluster.world.nodes.get(n) as Node | undefined;
        const k = kstate.get(n)!;
        if (!node) {
          failures.push(`${n}: no such machine in the model`);
          continue;
        }
        const m = {
          routes: modelRoutes(node),
          neigh: s.vxlan ? modelNeigh(node, 'flannel.1') : [],
          fdb: s.vxlan ? node.fdbShow('host', 'flannel.1') : [],
        };
        for (const what of ['routes', 'neigh', 'fdb'] as const) {
          const ok = JSON.stringify(sorted(k[what])) === JSON.stringify(sorted(m[what]));
          state.push(`${ok ? 'OK  ' : 'FAIL'} ${n} ${what}\n  kernel: ${k[what].join('\n          ')}\n  model:  ${m[what].join('\n          ')}`);
          if (!ok) failures.push(`state ${n} ${what}`);
        }
      }
      sections.push(state.join('\n'));

      // (d) host-gw: a route podwire's flanneld did not install (the remote node is behind the
      // router) is refused by the kernel with the same reason as by the model.
      const refusedModel: string[] = [];
      for (const r of hostGwRoutes.filter((x) => !x.logged)) {
        const node = model.cluster.world.nodes.get(r.node) as Node;
        let how = 'accepted';
        try {
          node.routeReplace('host', { dst: r.dst, via: r.via, dev: r.dev });
        } catch (e) {
          how = `refused: ${(e as Error).message}`;
        }
        refusedModel.push(`${r.node}: ip route replace ${r.dst} via ${r.via} dev ${r.dev}: ${how}`);
      }
      if (refusedKernel.length) {
        sections.push(`host-gw routes podwire's flanneld did not install:\n  kernel: ${refusedKernel.join('\n          ')}\n  model:  ${refusedModel.join('\n          ')}`);
        refusedKernel.forEach((k, i) => {
          const m = refusedModel[i]!;
          const reason = 'Nexthop has invalid gateway';
          if (!k.includes(`refused: Error: ${reason}`) || !m.includes(`refused: ENETUNREACH: ${reason}`)) failures.push(`refused route: ${k} / ${m}`);
        });
      }
      const report = sections.join('\n\n');
      writeFileSync(path.join(base, 'report.txt'), report);
      expect(failures, report).toEqual([]);
    }, 240_000);
  }
});
