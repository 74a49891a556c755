/** The hop model behind explain and the Mermaid diagrams: packets of a flow, hops, decisive rules, tunnels. */
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/trace/events.js';
import { flowPackets, ruleComment, ruleTarget, walkPacket } from '../../src/trace/path.js';

let t = 0;
function ev(node: string, netns: string, dev: string, packetId: number, stage: string, detail: string, extra: Partial<TraceEvent> = {}): TraceEvent {
  return { time: t++, node, netns, dev, packetId, innerId: 0, stage, detail, flow: 'f', ...extra };
}

describe('flowPackets', () => {
  it('lists top-level packets in order of appearance, outer packets as the packet they carry', () => {
    const evs = [
      ev('n1', 'host', 'eth0', 4, 'vxlan.encap', 'vni 1', { innerId: 1 }),
      ev('n1', 'pod', 'eth0', 1, 'dev.xmit', 'IP a > b'),
      ev('n2', 'host', 'eth0', 6, 'dev.recv', 'IP b > a'),
      ev('n1', 'pod', 'eth0', 1, 'dev.recv', 'again'),
    ];
    expect(flowPackets(evs)).toEqual([1, 6]);
  });
});

describe('walkPacket', () => {
  it('cuts hops at namespace changes, follows the outer packet across the underlay, keeps decisive rules only', () => {
    const evs = [
      ev('n1', 'a', 'eth0', 1, 'dev.xmit', 'IP 10.0.0.2 > 10.0.1.2: ICMP echo request'),
      ev('n1', 'host', 'veth1', 1, 'dev.recv', 'IP 10.0.0.2 > 10.0.1.2: ICMP echo request'),
      ev('n1', 'host', 'cni0', 1, 'nf.rule', 'nat:PREROUTING:rule:1 -A PREROUTING -j KUBE-SERVICES → jump KUBE-SERVICES'),
      ev('n1', 'host', 'cni0', 1, 'nf.rule', 'nat:KUBE-SERVICES:return'),
      ev('n1', 'host', 'cni0', 1, 'nf.rule', 'nat:PREROUTING:policy:ACCEPT'),
      ev('n1', 'host', 'cni0', 1, 'fib.lookup', '10.0.1.2: 10.0.1.0/24 via 10.0.1.0 dev flannel.1 onlink'),
      ev('n1', 'host', 'cni0', 1, 'nf.rule', 'filter:FORWARD:rule:1 -A FORWARD -j FWD → jump FWD'),
      ev('n1', 'host', 'cni0', 1, 'nf.rule', 'filter:FWD:rule:1 -A FWD -m comment --comment "cali:abc" -j MARK --set-xmark 0x1/0x1 → CONTINUE'),
      ev('n1', 'host', 'cni0', 1, 'nf.rule', 'filter:FWD:rule:2 -A FWD -s 10.0.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT → ACCEPT'),
      ev('n1', 'host', 'flannel.1', 1, 'dev.xmit', 'IP 10.0.0.2 > 10.0.1.2: ICMP echo request'),
      ev('n1', 'host', 'flannel.1', 4, 'vxlan.encap', 'vni 1 192.168.1.11:4000 → 192.168.1.12:8472', { innerId: 1 }),
      ev('n1', 'host', 'eth0', 4, 'dev.xmit', 'IP 192.168.1.11 > 192.168.1.12: VXLAN', { innerId: 1 }),
      ev('n2', 'host', 'eth0', 4, 'dev.recv', 'IP 192.168.1.11 > 192.168.1.12: VXLAN', { innerId: 1 }),
      ev('n2', 'host', 'eth0', 4, 'fib.lookup', '192.168.1.12: local 192.168.1.12 dev eth0', { innerId: 1 }),
      ev('n2', 'host', 'flannel.1', 4, 'vxlan.decap', 'vni 1 from 192.168.1.11:4000', { innerId: 1 }),
      ev('n2', 'host', 'flannel.1', 1, 'dev.recv', 'IP 10.0.0.2 > 10.0.1.2: ICMP echo request'),
      ev('n2', 'host', 'flannel.1', 1, 'nf.rule', 'filter:FORWARD:rule:3 -A FORWARD -o cni0 -j REJECT --reject-with icmp-port-unreachable → DROP'),
      ev('n2', 'host', 'flannel.1', 1, 'drop', 'iptables filter FORWARD dropped it', { verdict: 'drop', reason: 'NETFILTER_DROP' }),
    ];
    const w = walkPacket(evs, 1);
    expect(w.summary).toBe('IP 10.0.0.2 > 10.0.1.2: ICMP echo request');
    expect(w.hops.map((h) => `${h.node}/${h.netns} ${h.in}→${h.out.join('⇒')} [${h.outer.join(',')}]`)).toEqual([
      'n1/a →eth0 []',
      'n1/host veth1→flannel.1⇒eth0 [4]',
      'n2/host eth0→ [4]',
    ]);
    expect(w.hops[1]!.decisions.map((d) => d.text)).toEqual([
      'route 10.0.1.0/24 via 10.0.1.0 dev flannel.1 onlink',
      'filter FORWARD → FWD rule 2: ACCEPT ("flanneld forward")',
      'VXLAN vni 1 192.168.1.11:4000 → 192.168.1.12:8472',
    ]);
    // the outer packet's local route to the tunnel end is not a decision; the decap, the REJECT and the drop are
    expect(w.hops[2]!.decisions.map((d) => d.kind)).toEqual(['decap', 'rule', 'drop']);
    expect(w.hops[2]!.decisions[1]!.text).toBe('filter FORWARD rule 3: REJECT --reject-with icmp-port-unreachable');
    expect(w.end?.kind).toBe('drop');
    expect(w.end?.text).toBe('iptables filter FORWARD dropped it (NETFILTER_DROP)');
  });

  it('a goto replaces its chain on the path; a DROP keeps the annotation that explains it', () => {
    const evs = [
      ev('n', 'host', 'tunl0', 7, 'nf.rule', 'filter:FORWARD:rule:1 -A FORWARD -j cali-FORWARD → jump cali-FORWARD'),
      ev('n', 'host', 'tunl0', 7, 'nf.rule', 'filter:cali-FORWARD:rule:4 -A cali-FORWARD -o cali+ -j cali-to-wl-dispatch → jump cali-to-wl-dispatch'),
      ev('n', 'host', 'tunl0', 7, 'nf.rule', 'filter:cali-to-wl-dispatch:rule:2 -A cali-to-wl-dispatch -o caliX -g cali-tw-caliX → goto cali-tw-caliX'),
      ev('n', 'host', 'tunl0', 7, 'nf.rule', 'filter:cali-tw-caliX:rule:9 -A cali-tw-caliX -m comment --comment "cali:8Xn" -m comment --comment "End of tier default. Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP → DROP (x/a is isolated)'),
    ];
    const d = walkPacket(evs, 7).hops[0]!.decisions;
    expect(d).toHaveLength(1);
    expect(d[0]!.text).toBe('filter FORWARD → cali-FORWARD → cali-tw-caliX rule 9: DROP ("End of tier default. Drop if no policies passed packet") (x/a is isolated)');
  });

  it('delivery to a socket ends the walk; a built-in chain policy DROP is a decision, ACCEPT is not', () => {
    const evs = [
      ev('n', 'host', 'eth0', 3, 'nf.rule', 'filter:INPUT:policy:DROP'),
      ev('n', 'p', 'eth0', 3, 'nf.rule', 'filter:INPUT:policy:ACCEPT'),
      ev('n', 'p', 'eth0', 3, 'tcp.rcv', 'SYN to listener on port 80', { verdict: 'deliver' }),
    ];
    const w = walkPacket(evs, 3);
    expect(w.hops[0]!.decisions.map((x) => x.text)).toEqual(['filter INPUT: policy DROP']);
    expect(w.hops[1]!.decisions.map((x) => x.text)).toEqual(['TCP SYN to listener on port 80']);
    expect(w.end?.kind).toBe('deliver');
  });
});

describe('rule text helpers', () => {
  it('the target is the last -j/-g; comments other than felix ids are kept', () => {
    expect(ruleTarget('-A X -m comment --comment "a -j B" -j DNAT --to-destination 10.0.0.1:80')).toBe('DNAT');
    expect(ruleTarget('-A X -g cali-tw-x')).toBe('cali-tw-x');
    expect(ruleComment('-A X -m comment --comment "cali:abc" -m comment --comment "default/web:http" -j ACCEPT')).toBe('default/web:http');
    expect(ruleComment('-A X -m comment --comment plain -j ACCEPT')).toBe('plain');
  });
});
