/**
 * The netfilter scenarios end to end: which rules a packet walks (trace), the
 * conntrack table and rule counters left behind, and what each NAT did —
 * asserted as exact values a kernel would show for the same scenario.
 */
import { describe, expect, it } from 'vitest';
import { runScenarioFile } from '../../src/scenario/run.js';
import { MemorySink } from '../../src/trace/render.js';
import { conntrackList, iptablesSaveText } from '../../src/netfilter/index.js';
import type { TraceEvent } from '../../src/trace/events.js';

function run(file: string) {
  const sink = new MemorySink();
  const r = runScenarioFile(file, { trace: sink });
  const node = r.cluster.world.nodes.get('node-1')!;
  return { r, node, events: sink.events };
}
const nf = (evs: TraceEvent[], id: number) => evs.filter((e) => e.packetId === id && e.stage.startsWith('nf.') && e.stage !== 'nf.hook').map((e) => `${e.stage} ${e.detail}`);
const firstPacketOf = (evs: TraceEvent[], flow: string) => evs.find((e) => e.flow === flow && e.stage === 'dev.xmit')!.packetId;

describe('kube-proxy rules (pasted)', () => {
  const { r, node, events } = run('scenarios/kube-proxy-rules.yaml');

  it('every expectation holds', () => {
    expect(r.results.map((x) => `${x.name}:${x.result}:${x.ok}`)).toEqual(['client-to-clusterip:reply:true', 'web-1-to-own-service:reply:true', 'service-without-endpoints:refused:true']);
  });

  it('the first packet to the ClusterIP walks nat PREROUTING → KUBE-SERVICES → KUBE-SVC → KUBE-SEP (DNAT), then filter FORWARD, then nat POSTROUTING', () => {
    const walk = nf(events, firstPacketOf(events, 'client-to-clusterip')).filter((l) => l.startsWith('nf.rule')).map((l) => l.replace(/^nf\.rule (\S+?:\S+?:(?:rule:\d+|policy:\w+|return)).*?( → .*)?$/, '$1$2'));
    expect(walk[0]).toBe('nat:PREROUTING:rule:1 → jump KUBE-SERVICES');
    expect(walk[1]).toBe('nat:KUBE-SERVICES:rule:1 → jump KUBE-SVC-CDGGSHYLG3RE2FKL');
    expect(walk[2]).toMatch(/^nat:KUBE-SVC-CDGGSHYLG3RE2FKL:rule:[23] → jump KUBE-SEP-(UF6OOORCMXPJJDSV|33EB4EFTF2PW2YRG)$/);
    expect(walk[3]).toBe('nat:KUBE-SEP-' + walk[2]!.split('KUBE-SEP-')[1] + ':rule:2 → ACCEPT');
    expect(walk.slice(4)).toEqual([
      'filter:FORWARD:rule:1 → jump KUBE-PROXY-FIREWALL', 'filter:KUBE-PROXY-FIREWALL:return',
      'filter:FORWARD:rule:2 → jump KUBE-FORWARD', 'filter:KUBE-FORWARD:return',
      'filter:FORWARD:rule:3 → jump KUBE-SERVICES', 'filter:KUBE-SERVICES:return',
      'filter:FORWARD:rule:4 → jump KUBE-EXTERNAL-SERVICES', 'filter:KUBE-EXTERNAL-SERVICES:return',
      // bridged DNAT: the frame is bridged, so -m physdev --physdev-is-bridged sees both ports
      'filter:FORWARD:rule:5 → ACCEPT',
      'nat:POSTROUTING:rule:1 → jump KUBE-POSTROUTING', 'nat:KUBE-POSTROUTING:rule:1 → RETURN', 'nat:POSTROUTING:policy:ACCEPT',
    ]);
  });

  it('later packets of the connection skip the nat table (conntrack rewrites them) and are accepted by KUBE-FORWARD', () => {
    const flow = events.filter((e) => e.flow === 'client-to-clusterip' && e.stage === 'nf.rule');
    const ids = [...new Set(flow.map((e) => e.packetId))];
    const later = ids.slice(1, 4).map((id) => nf(events, id).filter((l) => l.startsWith('nf.rule')));
    for (const w of later) {
      expect(w.some((l) => l.includes('nat:'))).toBe(false);
      expect(w.some((l) => /filter:KUBE-FORWARD:rule:3 .*--ctstate RELATED,ESTABLISHED -j ACCEPT → ACCEPT/.test(l))).toBe(true);
    }
  });

  it('an endpoint reaching its own Service is masqueraded to the bridge address (hairpin)', () => {
    const ct = conntrackList(node, 'host').split('\n').filter((l) => l.includes('src=10.244.0.3 dst=10.96.0.10'));
    const hairpin = ct.filter((l) => / src=10\.244\.0\.3 dst=10\.244\.0\.1 sport=80 /.test(l));
    expect(hairpin.length).toBeGreaterThan(0);
    for (const l of hairpin) expect(l).toMatch(/^tcp {6}6 \d+ TIME_WAIT src=10\.244\.0\.3 dst=10\.96\.0\.10 sport=\d+ dport=80 src=10\.244\.0\.3 dst=10\.244\.0\.1 sport=80 dport=\d+ \[ASSURED\] mark=0 use=1$/);
    const save = iptablesSaveText(node, 'host', { counters: true });
    expect(save).toMatch(/^\[[1-9]\d*:\d+\] -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully$/m);
    expect(save).toMatch(/^\[[1-9]\d*:\d+\] -A KUBE-SEP-UF6OOORCMXPJJDSV -s 10\.244\.0\.3\/32 -m comment --comment "default\/web:http" -j KUBE-MARK-MASQ$/m);
  });

  it('a Service without endpoints is rejected in filter KUBE-SERVICES with port unreachable from the bridge address', () => {
    expect(r.results[2]!.detail).toBe('ICMP type 3 code 3 from 10.244.0.1 (ECONNREFUSED)');
    const save = iptablesSaveText(node, 'host', { counters: true });
    expect(save).toMatch(/^\[1:60\] -A KUBE-SERVICES -d 10\.96\.0\.20\/32 -p tcp -m comment --comment "default\/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable$/m);
    // Rejected attempts leave no conntrack entry (REFERENCE §12).
    expect(conntrackList(node, 'host')).not.toMatch(/dst=10\.96\.0\.20/);
  });
});

describe('MASQUERADE to an external host', () => {
  const { r, node } = run('scenarios/masquerade-external.yaml');
  it('rewrites the source to the node address; a clashing source port moves', () => {
    expect(r.results.every((x) => x.ok)).toBe(true);
    const lines = conntrackList(node, 'host').split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^tcp {6}6 119 TIME_WAIT src=10\.244\.0\.2 dst=192\.168\.1\.200 sport=40000 dport=80 src=192\.168\.1\.200 dst=192\.168\.1\.11 sport=80 dport=40000 \[ASSURED\] mark=0 use=1$/);
    const second = /^tcp {6}6 119 TIME_WAIT src=10\.244\.0\.3 dst=192\.168\.1\.200 sport=40000 dport=80 src=192\.168\.1\.200 dst=192\.168\.1\.11 sport=80 dport=(\d+) \[ASSURED\] mark=0 use=1$/.exec(lines[1]!);
    expect(second).not.toBeNull();
    expect(Number(second![1])).not.toBe(40000);
    expect(lines[2]).toMatch(/^udp {6}17 29 src=10\.244\.0\.2 dst=192\.168\.1\.200 sport=\d+ dport=7 src=192\.168\.1\.200 dst=192\.168\.1\.11 sport=7 dport=\d+ mark=0 use=1$/);
    // 30 s for an answered ping, less the 1 ms the run goes on after the last outcome: conntrack prints 29.
    expect(lines[3]).toMatch(/^icmp {5}1 29 src=10\.244\.0\.2 dst=192\.168\.1\.200 type=8 code=0 id=\d+ src=192\.168\.1\.200 dst=192\.168\.1\.11 type=0 code=0 id=\d+ mark=0 use=1$/);
  });
});

describe('REJECT', () => {
  const { r, node, events } = run('scenarios/reject.yaml');
  it('tcp-reset answers the SYN with RST|ACK from the destination address, port unreachable for UDP and ping', () => {
    expect(r.results.map((x) => `${x.name}:${x.result}`)).toEqual(['tcp-80-passes:reply', 'tcp-8080-reset:refused', 'udp-7-port-unreachable:refused', 'ping-rejected:refused']);
    const rst = events.find((e) => e.flow === 'tcp-8080-reset' && e.stage === 'dev.xmit' && /Flags \[R\.\]/.test(e.detail))!;
    expect(rst.detail).toMatch(/^IP 192\.168\.1\.200\.8080 > 10\.244\.0\.2\.\d+: Flags \[R\.\], seq 0, ack \d+, win 0, length 0$/);
    // The pod's frame came in through cni0 (br_netfilter info on it): nf_send_reset sends the RST
    // straight out of the bridge port, never through cni0 (as the kernel does).
    expect(rst.node + '/' + rst.dev).toMatch(/^node-1\/veth[0-9a-f]{8}$/);
    expect(events.some((e) => e.flow === 'tcp-8080-reset' && e.dev === 'cni0' && e.stage === 'dev.xmit' && /Flags \[R\.\]/.test(e.detail))).toBe(false);
    const save = iptablesSaveText(node, 'host', { counters: true });
    expect(save).toContain('[1:60] -A FORWARD -d 192.168.1.200/32 -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset');
    expect(save).toContain('[1:92] -A FORWARD -d 192.168.1.200/32 -p udp -m udp --dport 7 -j REJECT --reject-with icmp-port-unreachable');
    expect(save).toContain('[1:84] -A FORWARD -d 192.168.1.200/32 -p icmp -j REJECT --reject-with icmp-port-unreachable');
  });
});

describe('statistic', () => {
  const { r, node } = run('scenarios/statistic-dnat.yaml');
  it('random spreads 30 connections over three backends; nth sends every third datagram to the third pod', () => {
    expect(r.results.every((x) => x.ok)).toBe(true);
    const save = iptablesSaveText(node, 'host', { counters: true });
    const count = (re: RegExp) => Number(re.exec(save)![1]);
    const b1 = count(/^\[(\d+):\d+\] -A BACKENDS -p tcp -m statistic --mode random --probability 0\.33333333349/m);
    const b2 = count(/^\[(\d+):\d+\] -A BACKENDS -p tcp -m statistic --mode random --probability 0\.50000000000/m);
    const b3 = count(/^\[(\d+):\d+\] -A BACKENDS -p tcp -j DNAT/m);
    expect(b1 + b2 + b3).toBe(30);
    for (const n of [b1, b2, b3]) expect(n).toBeGreaterThan(0);
    expect(count(/^\[(\d+):\d+\] -A PREROUTING -d 192\.168\.1\.11\/32 -p udp -m udp --dport 7 -m statistic --mode nth --every 3 --packet 0/m)).toBe(3);
    expect(count(/^\[(\d+):\d+\] -A PREROUTING -d 192\.168\.1\.11\/32 -p udp -m udp --dport 7 -j DNAT/m)).toBe(6);
  });
});
