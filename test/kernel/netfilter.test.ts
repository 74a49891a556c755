import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  compareConntrack, compareCounters, compareTraces, filterSteps, formatStep, hookRank, modelTracedPackets, normaliseConntrackLine,
  normaliseVerdict, parseIptablesSave, parseModelStep, parseXtablesTrace, subtractCounters, traceCompleteness, type ModelTraceEvent,
} from './netfilter.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OBSERVED = readFileSync(path.join(HERE, 'fixtures', 'xtables-monitor-observed.txt'), 'utf8');

const REJECT_TRACE = `PACKET: 2 0d3ca0f6 IN=cni0 MACSRC=c6:dd:4c:b9:af:7e MACDST=2:59:df:eb:12:fa MACPROTO=0800 SRC=10.244.0.2 DST=10.96.0.20 LEN=60 TOS=0x0 TTL=64 ID=21104 DF SPORT=44314 DPORT=80 SYN 
 TRACE: 2 0d3ca0f6 raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -j TRACE
 TRACE: 2 0d3ca0f6 raw:PREROUTING:policy:ACCEPT 
PACKET: 2 0d3ca0f6 IN=cni0 MACSRC=c6:dd:4c:b9:af:7e MACDST=2:59:df:eb:12:fa MACPROTO=0800 SRC=10.244.0.2 DST=10.96.0.20 LEN=60 TOS=0x0 TTL=64 ID=21104 DF SPORT=44314 DPORT=80 SYN 
 TRACE: 2 0d3ca0f6 nat:PREROUTING:rule:0xd:JUMP:KUBE-SERVICES  -4 -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 0d3ca0f6 nat:PREROUTING:policy:ACCEPT 
PACKET: 2 14f819d3 IN=cni0 OUT=eth0 MACSRC=c6:dd:4c:b9:af:7e MACDST=2:59:df:eb:12:fa MACPROTO=0800 SRC=10.244.0.2 DST=10.96.0.20 LEN=60 TOS=0x0 TTL=63 ID=21104 DF SPORT=44314 DPORT=80 SYN 
 TRACE: 2 14f819d3 filter:FORWARD:rule:0xf:JUMP:KUBE-SERVICES  -4 -t filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
PACKET: 2 3178e675 OUT=cni0 SRC=10.244.0.1 DST=10.244.0.2 LEN=88 TOS=0xc0 TTL=64 ID=50283 
 TRACE: 2 3178e675 raw:OUTPUT:rule:0x4:CONTINUE  -4 -t raw -A OUTPUT -j TRACE
 TRACE: 2 3178e675 raw:OUTPUT:policy:ACCEPT 
PACKET: 2 3178e675 OUT=cni0 SRC=10.244.0.1 DST=10.244.0.2 LEN=88 TOS=0xc0 TTL=64 ID=50283 
 TRACE: 2 3178e675 filter:OUTPUT:policy:ACCEPT 
 TRACE: 2 14f819d3 filter:KUBE-SERVICES:rule:0x16:DROP  -4 -t filter -A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
`;

describe('xtables-monitor --trace parsing', () => {
  it('maps verdicts to the model spelling', () => {
    expect(normaliseVerdict('JUMP:KUBE-SERVICES')).toBe('jump KUBE-SERVICES');
    expect(normaliseVerdict('GOTO:H')).toBe('goto H');
    expect(normaliseVerdict('0xfffffffb')).toBe('RETURN');
    expect(normaliseVerdict('CONTINUE')).toBe('CONTINUE');
  });
  it('orders base chains as the hooks run them', () => {
    expect(hookRank('raw', 'PREROUTING')).toBeLessThan(hookRank('mangle', 'PREROUTING'));
    expect(hookRank('mangle', 'PREROUTING')).toBeLessThan(hookRank('nat', 'PREROUTING'));
    expect(hookRank('nat', 'PREROUTING')).toBeLessThan(hookRank('filter', 'FORWARD'));
    expect(hookRank('filter', 'INPUT')).toBeLessThan(hookRank('nat', 'INPUT'));
    expect(hookRank('filter', 'FORWARD')).toBeLessThan(hookRank('nat', 'POSTROUTING'));
  });
  it('groups the visits of a rejected packet even when the REJECT line follows the ICMP error it sent', () => {
    const p = parseXtablesTrace(REJECT_TRACE);
    expect(p).toHaveLength(2);
    expect(p[0]!.traceIds).toEqual(['0d3ca0f6', '0d3ca0f6', '14f819d3']);
    expect(p[0]!.hooks).toEqual(['raw:PREROUTING', 'nat:PREROUTING', 'filter:FORWARD']);
    expect(p[0]!.steps.map(formatStep)).toEqual([
      'raw:PREROUTING:rule -A PREROUTING -j TRACE → CONTINUE',
      'raw:PREROUTING:policy:ACCEPT',
      'nat:PREROUTING:rule -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES → jump KUBE-SERVICES',
      'nat:PREROUTING:policy:ACCEPT',
      'filter:FORWARD:rule -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES → jump KUBE-SERVICES',
      'filter:KUBE-SERVICES:rule -A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable → DROP',
    ]);
    expect(p[1]!.header.fields['SRC']).toBe('10.244.0.1');
    expect(filterSteps(p[1]!.steps).map(formatStep)).toEqual(['filter:OUTPUT:policy:ACCEPT']);
  });
  it('parses the recorded experiment: multicast noise dropped, explicit RETURN, packets split by hook order', () => {
    const p = parseXtablesTrace(OBSERVED);
    expect(p.some((x) => x.header.fields['DST'] === '224.0.0.22')).toBe(false);
    const all = p.flatMap((x) => x.steps.map(formatStep));
    expect(all).toContain('filter:F:rule -A F -p icmp -j RETURN → RETURN');
    expect(all).toContain('nat:SVC:rule -A SVC -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.3:80 → ACCEPT');
    // Every packet's base chains come in hook order.
    for (const x of p) {
      const ranks = x.hooks.map((h) => hookRank(h.split(':')[0]!, h.split(':')[1]!));
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    }
    // The bridged DNATed SYN: raw, nat PREROUTING, filter FORWARD, nat POSTROUTING.
    const syn = p.find((x) => x.header.fields['DST'] === '10.96.0.10' && x.header.flags.includes('SYN') && x.header.fields['SRC'] === '10.244.0.2')!;
    expect(syn.hooks).toEqual(['raw:PREROUTING', 'nat:PREROUTING', 'filter:FORWARD', 'nat:POSTROUTING']);
  });
});

describe('model trace events', () => {
  const ev = (packetId: number, detail: string, netns = 'host'): ModelTraceEvent => ({ node: 'node-1', netns, packetId, stage: 'nf.rule', detail });
  it('parses nf.rule details and groups per packet', () => {
    expect(parseModelStep('nat:SVC:rule:1 -A SVC -d 10.96.0.10/32 -j DNAT --to-destination 10.244.0.3:80 → ACCEPT')).toEqual({
      table: 'nat', chain: 'SVC', kind: 'rule', rule: '-A SVC -d 10.96.0.10/32 -j DNAT --to-destination 10.244.0.3:80', verdict: 'ACCEPT',
    });
    expect(parseModelStep('nat:KUBE-SVC-X:rule:2 -A KUBE-SVC-X -m comment --comment "default/web:http -> 10.244.0.3:80" -j KUBE-SEP-Y → jump KUBE-SEP-Y')).toMatchObject({
      rule: '-A KUBE-SVC-X -m comment --comment "default/web:http -> 10.244.0.3:80" -j KUBE-SEP-Y', verdict: 'jump KUBE-SEP-Y',
    });
    expect(parseModelStep('filter:FORWARD:policy:DROP')).toEqual({ table: 'filter', chain: 'FORWARD', kind: 'policy', verdict: 'DROP' });
    expect(parseModelStep('filter:F:return')).toEqual({ table: 'filter', chain: 'F', kind: 'return', verdict: '' });
    const m = modelTracedPackets([
      ev(7, 'nat:PREROUTING:rule:1 -A PREROUTING -j SVC → jump SVC'),
      ev(8, 'filter:FORWARD:policy:ACCEPT'),
      { ...ev(7, 'x'), stage: 'nf.ct' },
      ev(7, 'nat:SVC:return'),
      ev(7, 'nat:PREROUTING:policy:ACCEPT'),
      ev(7, 'filter:FORWARD:policy:ACCEPT', 'default.web'),
    ], 'node-1', 'host');
    expect(m.map((x) => x.steps.length)).toEqual([3, 1]);
  });
  it('compares per packet, ignoring TRACE/raw steps and implicit returns', () => {
    const kernel = parseXtablesTrace(REJECT_TRACE);
    const model = modelTracedPackets([
      ev(1, 'nat:PREROUTING:rule:1 -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES → jump KUBE-SERVICES'),
      ev(1, 'nat:KUBE-SERVICES:return'),
      ev(1, 'nat:PREROUTING:policy:ACCEPT'),
      ev(1, 'filter:FORWARD:rule:3 -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES → jump KUBE-SERVICES'),
      ev(1, 'filter:KUBE-SERVICES:rule:1 -A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable → DROP'),
      ev(2, 'filter:OUTPUT:policy:ACCEPT'),
    ], 'node-1', 'host');
    expect(compareTraces(kernel, model)).toMatchObject({ ok: true, kernelPackets: 2, modelPackets: 2 });
    const wrong = modelTracedPackets([ev(1, 'nat:PREROUTING:policy:ACCEPT')], 'node-1', 'host');
    const r = compareTraces(kernel, wrong);
    expect(r.ok).toBe(false);
    expect(r.mismatches[0]).toMatch(/differs at step 0/);
    expect(r.mismatches[1]).toMatch(/missing in model/);
  });
});

const KSAVE = `# Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 22 18:56:49 2026
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
[21:1284] -A PREROUTING -j TRACE
[2:128] -A OUTPUT -j TRACE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [20:1224]
:OUTPUT ACCEPT [0:0]
:F - [0:0]
[20:1224] -A FORWARD -m physdev --physdev-is-bridged -j F
[0:0] -A F -p udp -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [1:60]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [2:100]
:SVC - [0:0]
[3:180] -A PREROUTING -m comment --comment "kubernetes service portals" -j SVC
[2:120] -A SVC -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.3:80
COMMIT
`;
const MSAVE = `*nat
:PREROUTING ACCEPT [1:60]
:POSTROUTING ACCEPT [2:100]
:SVC - [0:0]
[3:180] -A PREROUTING -m comment --comment "kubernetes service portals" -j SVC
[2:120] -A SVC -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.3:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [20:1224]
:OUTPUT ACCEPT [0:0]
:F - [0:0]
[20:1224] -A FORWARD -m physdev --physdev-is-bridged -j F
[0:0] -A F -p udp -j RETURN
COMMIT
`;

describe('iptables-save -c counters', () => {
  it('parses tables, policies and rule counters', () => {
    const rs = parseIptablesSave(KSAVE);
    expect(rs.get('filter')!.get('FORWARD')).toEqual({ policy: 'ACCEPT', packets: 20, bytes: 1224, rules: [{ text: '-A FORWARD -m physdev --physdev-is-bridged -j F', packets: 20, bytes: 1224 }] });
    expect(rs.get('nat')!.get('SVC')!.policy).toBe('-');
  });
  it('ignores the raw TRACE table and unused built-in chains; reports differing counters', () => {
    expect(compareCounters(KSAVE, MSAVE)).toEqual({ ok: true, mismatches: [] });
    const r = compareCounters(KSAVE, MSAVE.replace('[2:120] -A SVC', '[1:60] -A SVC').replace(':FORWARD ACCEPT [20:1224]', ':FORWARD ACCEPT [19:1224]'));
    expect(r.ok).toBe(false);
    expect(r.mismatches.join('\n')).toMatch(/nat:SVC rule 1 \[kernel 2:120, model 1:60\]/);
    expect(r.mismatches.join('\n')).toMatch(/filter:FORWARD policy: kernel ACCEPT \[20:1224\], model ACCEPT \[19:1224\]/);
    // chain totals only (random NAT choices).
    const spread = (a: string, b: string) => `*nat\n:PREROUTING ACCEPT [0:0]\n:B - [0:0]\n[${a}] -A B -j DNAT --to-destination 10.0.0.1\n[${b}] -A B -j DNAT --to-destination 10.0.0.2\nCOMMIT\n`;
    expect(compareCounters(spread('3:180', '1:60'), spread('1:60', '3:180'), { mode: 'chainTotals' }).ok).toBe(true);
    expect(compareCounters(spread('3:180', '1:60'), spread('1:60', '3:180')).ok).toBe(false);
  });
});

describe('conntrack -L', () => {
  it('normalises timeouts, use, ephemeral and NAT ports, ICMP ids', () => {
    expect(normaliseConntrackLine('tcp      6 118 TIME_WAIT src=10.244.0.2 dst=10.96.0.10 sport=52576 dport=80 src=10.244.0.3 dst=10.244.0.2 sport=80 dport=52576 [ASSURED] mark=0 use=1'))
      .toBe('tcp 6 TIME_WAIT src=10.244.0.2 dst=10.96.0.10 sport=E1 dport=80 src=10.244.0.3 dst=10.244.0.2 sport=80 dport=E1 [ASSURED] mark=0');
    expect(normaliseConntrackLine('tcp      6 108 TIME_WAIT src=10.244.0.3 dst=10.96.0.10 sport=56314 dport=80 src=10.244.0.3 dst=10.244.0.1 sport=80 dport=62515 [ASSURED] mark=0 use=1'))
      .toBe('tcp 6 TIME_WAIT src=10.244.0.3 dst=10.96.0.10 sport=E1 dport=80 src=10.244.0.3 dst=10.244.0.1 sport=80 dport=NAT [ASSURED] mark=0');
    expect(normaliseConntrackLine('icmp     1 29 src=10.244.0.2 dst=192.168.1.200 type=8 code=0 id=4711 src=192.168.1.200 dst=192.168.1.11 type=0 code=0 id=4711 mark=0 use=1'))
      .toBe('icmp 1 src=10.244.0.2 dst=192.168.1.200 type=8 code=0 id=* src=192.168.1.200 dst=192.168.1.11 type=0 code=0 id=* mark=0');
  });
  it('compares as multisets in any order, dropping the bridge IGMP entry and the summary line', () => {
    const k = `unknown  2 598 src=10.244.0.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=10.244.0.1 mark=0 use=1
tcp      6 118 TIME_WAIT src=10.244.0.3 dst=10.96.0.10 sport=34354 dport=80 src=10.244.0.3 dst=10.244.0.1 sport=80 dport=34354 [ASSURED] mark=0 use=1
udp      17 29 src=10.244.0.2 dst=192.168.1.200 sport=40001 dport=7 [UNREPLIED] src=192.168.1.200 dst=192.168.1.11 sport=7 dport=40001 mark=0 use=1
`;
    const m = `udp      17 30 src=10.244.0.2 dst=192.168.1.200 sport=39999 dport=7 [UNREPLIED] src=192.168.1.200 dst=192.168.1.11 sport=7 dport=39999 mark=0 use=1
tcp      6 120 TIME_WAIT src=10.244.0.3 dst=10.96.0.10 sport=40000 dport=80 src=10.244.0.3 dst=10.244.0.1 sport=80 dport=40000 [ASSURED] mark=0 use=1
`;
    expect(compareConntrack(k, m)).toEqual({ ok: true, onlyKernel: [], onlyModel: [] });
    const r = compareConntrack(k, m.replace('[ASSURED] ', ''));
    expect(r.ok).toBe(false);
    expect(r.onlyKernel[0]).toMatch(/ASSURED/);
    expect(compareConntrack(k, m.replace('10.244.0.1 sport=80', '10.244.0.9 sport=80'), { mode: 'summary' }).ok).toBe(true);
  });
});

describe('trace completeness', () => {
  it('checks that every packet the TRACE rules counted was printed', () => {
    const trace = ' TRACE: 2 0d3ca0f6 raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -j TRACE\n TRACE: 2 3178e675 raw:OUTPUT:rule:0x4:CONTINUE  -4 -t raw -A OUTPUT -j TRACE\n';
    const save = (p: number) => `*raw\n:PREROUTING ACCEPT [0:0]\n[${p}:60] -A PREROUTING -j TRACE\n[1:88] -A OUTPUT -j TRACE\nCOMMIT\n`;
    expect(traceCompleteness(trace, save(1))).toBeNull();
    expect(traceCompleteness(trace, save(3))).toMatch(/printed 2 .* counted 4/);
  });
});

describe('counter baseline', () => {
  it('subtracts the counts from before the traffic', () => {
    const before = `*nat\n:PREROUTING ACCEPT [1:40]\n:OUTPUT ACCEPT [1:40]\n:SVC - [0:0]\n[1:40] -A PREROUTING -j SVC\nCOMMIT\n`;
    const after = `*nat\n:PREROUTING ACCEPT [3:140]\n:OUTPUT ACCEPT [1:40]\n:SVC - [0:0]\n[4:240] -A PREROUTING -j SVC\n[2:120] -A SVC -j DNAT --to-destination 10.0.0.1\nCOMMIT\n`;
    expect(subtractCounters(after, before)).toBe(`*nat\n:PREROUTING ACCEPT [2:100]\n:OUTPUT ACCEPT [0:0]\n:SVC - [0:0]\n[3:200] -A PREROUTING -j SVC\n[2:120] -A SVC -j DNAT --to-destination 10.0.0.1\nCOMMIT\n`);
  });
});
