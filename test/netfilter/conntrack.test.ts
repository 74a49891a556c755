import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { setup, tcp, udp, icmpEcho, icmpError, ip, S, SYN, ACK, FIN, RST, PSH } from './conntrack-helpers.js';
import type { Conntrack, SkbCt } from '../../src/netfilter/conntrack.js';
import { invertTuple, makeTuple } from '../../src/netfilter/conntrack.js';
import type { Skb } from '../../src/kernel/skb.js';
import { IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY } from '../../src/netfilter/ct-types.js';

const PRE = 0, IN = 1, OUT = 3, POST = 4;

/** A locally generated packet: OUTPUT conntrack, then POSTROUTING confirm. */
function out(ct: Conntrack, skb: Skb): SkbCt { const r = ct.inbound(skb, OUT); expect(ct.confirm(skb)).toBe(true); return r; }
/** A packet for this host: PREROUTING conntrack, then INPUT confirm. */
function inp(ct: Conntrack, skb: Skb): SkbCt { const r = ct.inbound(skb, PRE); expect(ct.confirm(skb)).toBe(true); return r; }

const A = '10.0.0.1', B = '10.0.1.1';

/** Client side of connect / send 1 byte / echo / close, as the fixture script does. */
function tcpEchoAndClose(ct: Conntrack, src: string, sport: number, c = 1000, s = 5000, close = true): void {
  expect(out(ct, tcp(src, B, sport, 80, SYN, c, 0, { wscale: 7, sackPerm: true })).ctinfo).toBe('new');
  expect(inp(ct, tcp(B, src, 80, sport, SYN | ACK, s, c + 1, { wscale: 7, sackPerm: true })).ctinfo).toBe('established_reply');
  expect(out(ct, tcp(src, B, sport, 80, ACK, c + 1, s + 1)).ctinfo).toBe('established');
  out(ct, tcp(src, B, sport, 80, PSH | ACK, c + 1, s + 1, { len: 1 }));
  inp(ct, tcp(B, src, 80, sport, PSH | ACK, s + 1, c + 2, { len: 1 }));
  out(ct, tcp(src, B, sport, 80, ACK, c + 2, s + 2));
  if (!close) return;
  out(ct, tcp(src, B, sport, 80, FIN | ACK, c + 2, s + 2));
  inp(ct, tcp(B, src, 80, sport, FIN | ACK, s + 2, c + 3));
  out(ct, tcp(src, B, sport, 80, ACK, c + 3, s + 3));
}

describe('conntrack tuples', () => {
  it('inverts TCP/UDP ports and ICMP query types, keeping the echo id', () => {
    expect(invertTuple(makeTuple(ip(A), ip(B), 6, 41000, 80))).toEqual(makeTuple(ip(B), ip(A), 6, 80, 41000));
    expect(invertTuple(makeTuple(ip(A), ip(B), 1, 77, 0, 8))).toEqual(makeTuple(ip(B), ip(A), 1, 77, 0, 0));
    expect(invertTuple(makeTuple(ip(A), ip(B), 1, 77, 0, 13))).toEqual(makeTuple(ip(B), ip(A), 1, 77, 0, 14));
  });

  it('finds an entry by either direction\'s tuple', () => {
    const { ct } = setup();
    out(ct, udp(A, B, 42000, 53));
    const o = ct.lookup(makeTuple(ip(A), ip(B), 17, 42000, 53));
    const r = ct.lookup(makeTuple(ip(B), ip(A), 17, 53, 42000));
    expect(o?.dir).toBe(0);
    expect(r?.dir).toBe(1);
    expect(o?.ct).toBe(r?.ct);
    expect(ct.lookup(makeTuple(ip(B), ip(A), 17, 53, 42001))).toBeNull();
  });
});

describe('conntrack: NEW entries are confirmed at POSTROUTING/INPUT', () => {
  it('keeps a new entry out of the table until confirm', () => {
    const { ct } = setup();
    const skb = udp(A, B, 42000, 53);
    const r = ct.inbound(skb, OUT);
    expect(r.ctinfo).toBe('new');
    expect(r.ct!.status & IPS_CONFIRMED).toBe(0);
    expect(ct.list()).toBe('');
    expect(ct.get(skb)).toBe(r);
    expect(ct.confirm(skb)).toBe(true);
    expect(ct.list()).toBe('udp      17 30 src=10.0.0.1 dst=10.0.1.1 sport=42000 dport=53 [UNREPLIED] src=10.0.1.1 dst=10.0.0.1 sport=53 dport=42000 mark=0 use=1\n');
  });

  it('a dropped NEW packet leaves nothing behind', () => {
    const { ct } = setup();
    ct.inbound(udp(A, B, 42000, 53), OUT);
    expect(ct.count()).toBe(0);
  });

  it('the second packet of an unreplied flow is still NEW; the first reply is ESTABLISHED (reply)', () => {
    const { ct } = setup();
    out(ct, udp(A, B, 42000, 53));
    expect(out(ct, udp(A, B, 42000, 53)).ctinfo).toBe('new');
    expect(inp(ct, udp(B, A, 53, 42000)).ctinfo).toBe('established_reply');
    expect(out(ct, udp(A, B, 42000, 53)).ctinfo).toBe('established');
  });

  it('a clashing insert is dropped for TCP, resolved to the existing entry for identical UDP', () => {
    const { ct } = setup();
    const t1 = tcp(A, B, 41000, 80, SYN, 1, 0), t2 = tcp(A, B, 41000, 80, SYN, 1, 0);
    ct.inbound(t1, OUT); ct.inbound(t2, OUT);
    expect(ct.confirm(t1)).toBe(true);
    expect(ct.confirm(t2)).toBe(false);
    expect(ct.stats.insertFailed).toBe(1);
    const u1 = udp(A, B, 42000, 53), u2 = udp(A, B, 42000, 53);
    ct.inbound(u1, OUT); ct.inbound(u2, OUT);
    expect(ct.confirm(u1)).toBe(true);
    expect(ct.confirm(u2)).toBe(true);
    expect((ct.get(u2)!).ct).toBe(ct.get(u1)!.ct);
    expect(ct.count()).toBe(2);
  });

  it('keeps what a packet already has from this table (loopback), ignores another namespace\'s', () => {
    const { ct } = setup();
    const other = setup().ct;
    const skb = udp(A, B, 42000, 53);
    const first = out(ct, skb);
    expect(ct.inbound(skb, PRE)).toBe(first);
    const s2 = udp(A, B, 42001, 53);
    other.inbound(s2, OUT);
    expect(ct.inbound(s2, PRE).ctinfo).toBe('new');
  });

  it('NOTRACK: an untracked packet stays untracked and makes no entry', () => {
    const { ct } = setup();
    const skb = udp(A, B, 42000, 53);
    ct.markUntracked(skb);
    expect(ct.inbound(skb, OUT)).toMatchObject({ ct: null, ctinfo: 'untracked' });
    expect(ct.confirm(skb)).toBe(true);
    expect(ct.count()).toBe(0);
  });
});

describe('conntrack: TCP state tracking', () => {
  it('SYN / SYN-ACK / ACK: SYN_SENT → SYN_RECV → ESTABLISHED [ASSURED]', () => {
    const { ct } = setup();
    out(ct, tcp(A, B, 41000, 80, SYN, 1000, 0));
    expect(ct.list()).toBe('tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.1.1 sport=41000 dport=80 [UNREPLIED] src=10.0.1.1 dst=10.0.0.1 sport=80 dport=41000 mark=0 use=1\n');
    inp(ct, tcp(B, A, 80, 41000, SYN | ACK, 5000, 1001));
    expect(ct.list()).toBe('tcp      6 60 SYN_RECV src=10.0.0.1 dst=10.0.1.1 sport=41000 dport=80 src=10.0.1.1 dst=10.0.0.1 sport=80 dport=41000 mark=0 use=1\n');
    out(ct, tcp(A, B, 41000, 80, ACK, 1001, 5001));
    expect(ct.list()).toBe('tcp      6 432000 ESTABLISHED src=10.0.0.1 dst=10.0.1.1 sport=41000 dport=80 src=10.0.1.1 dst=10.0.0.1 sport=80 dport=41000 [ASSURED] mark=0 use=1\n');
  });

  it('honours nf_conntrack_tcp_timeout_established (kube-proxy sets 86400)', () => {
    const { ct, ns } = setup();
    ns.sysctls.set('net.netfilter.nf_conntrack_tcp_timeout_established', '86400');
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    expect(ct.list()).toMatch(/^tcp {6}6 86400 ESTABLISHED /);
  });

  it('unacknowledged data shortens the timeout to nf_conntrack_tcp_timeout_unacknowledged', () => {
    const { ct } = setup();
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    out(ct, tcp(A, B, 41000, 80, PSH | ACK, 1002, 5002, { len: 100 }));
    expect(ct.list()).toMatch(/^tcp {6}6 300 ESTABLISHED /);
    inp(ct, tcp(B, A, 80, 41000, ACK, 5002, 1102));
    expect(ct.list()).toMatch(/^tcp {6}6 432000 ESTABLISHED /);
  });

  it('FIN pair and last ACK: FIN_WAIT → LAST_ACK → TIME_WAIT (120 s)', () => {
    const { ct } = setup();
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    out(ct, tcp(A, B, 41000, 80, FIN | ACK, 1002, 5002));
    expect(ct.all().next().value!.tcpState).toBe('FIN_WAIT');
    inp(ct, tcp(B, A, 80, 41000, FIN | ACK, 5002, 1003));
    expect(ct.all().next().value!.tcpState).toBe('LAST_ACK');
    out(ct, tcp(A, B, 41000, 80, ACK, 1003, 5003));
    expect(ct.list()).toBe('tcp      6 120 TIME_WAIT src=10.0.0.1 dst=10.0.1.1 sport=41000 dport=80 src=10.0.1.1 dst=10.0.0.1 sport=80 dport=41000 [ASSURED] mark=0 use=1\n');
  });

  it('FIN then ACK from the peer: CLOSE_WAIT', () => {
    const { ct } = setup();
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    out(ct, tcp(A, B, 41000, 80, FIN | ACK, 1002, 5002));
    inp(ct, tcp(B, A, 80, 41000, ACK, 5002, 1003));
    expect(ct.list()).toMatch(/^tcp {6}6 60 CLOSE_WAIT /);
  });

  it('RST on an established connection: CLOSE (10 s)', () => {
    const { ct } = setup();
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    inp(ct, tcp(B, A, 80, 41000, RST, 5002, 0));
    expect(ct.list()).toMatch(/^tcp {6}6 10 CLOSE src=10\.0\.0\.1 .* \[ASSURED\] mark=0 use=1\n$/);
  });

  it('a RST answering a SYN removes the entry at once (no entry seen by conntrack -L, as on the kernel)', () => {
    const { ct } = setup();
    out(ct, tcp(A, B, 41002, 81, SYN, 1000, 0));
    expect(inp(ct, tcp(B, A, 81, 41002, RST | ACK, 0, 1001)).ctinfo).toBe('established_reply');
    expect(ct.list()).toBe('');
  });

  it('a RST before the acknowledged data is invalid', () => {
    const { ct } = setup();
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    expect(inp(ct, tcp(B, A, 80, 41000, RST, 4000, 0))).toMatchObject({ ct: null, ctinfo: 'invalid' });
    expect(ct.list()).toMatch(/ESTABLISHED/);
  });

  it('invalid: ACK while SYN_SENT, SYN+FIN, no flags, SYN-ACK for a new flow, truncated header', () => {
    const { ct } = setup();
    out(ct, tcp(A, B, 41000, 80, SYN, 1000, 0));
    expect(ct.inbound(tcp(A, B, 41000, 80, ACK, 1001, 1), OUT).ctinfo).toBe('invalid');
    expect(ct.lastInvalidReason).toMatch(/SYN_SENT/);
    expect(ct.inbound(tcp(A, B, 41001, 80, SYN | FIN, 1000, 0), OUT).ctinfo).toBe('invalid');
    expect(ct.inbound(tcp(A, B, 41001, 80, 0, 1000, 0), OUT).ctinfo).toBe('invalid');
    expect(ct.inbound(tcp(B, A, 80, 41005, SYN | ACK, 1000, 1), PRE).ctinfo).toBe('invalid');
    const short = tcp(A, B, 41003, 80, SYN, 1, 0);
    short.buf[short.nh + 3] = 30; // total length 30: 10 bytes of TCP
    expect(ct.inbound(short, OUT).ctinfo).toBe('invalid');
  });

  it('a bad TCP checksum is invalid at PREROUTING only (nf_conntrack_checksum)', () => {
    const { ct, ns } = setup();
    const bad = () => { const s = tcp(B, A, 80, 41000, SYN, 1, 0); s.buf[s.nh + 36] ^= 0xff; return s; };
    expect(ct.inbound(bad(), PRE).ctinfo).toBe('invalid');
    expect(ct.inbound(bad(), OUT).ctinfo).toBe('new');
    ns.sysctls.set('net.netfilter.nf_conntrack_checksum', '0');
    expect(ct.inbound(bad(), PRE).ctinfo).toBe('new');
  });

  it('out-of-window data is invalid unless nf_conntrack_tcp_be_liberal', () => {
    const { ct, ns } = setup();
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    const far = () => tcp(B, A, 80, 41000, PSH | ACK, 5002 + 10_000_000, 1002, { len: 10 });
    expect(ct.inbound(far(), PRE).ctinfo).toBe('invalid');
    expect(ct.lastInvalidReason).toBe('TCP segment out of window');
    ns.sysctls.set('net.netfilter.nf_conntrack_tcp_be_liberal', '1');
    expect(ct.inbound(far(), PRE).ctinfo).toBe('established_reply');
  });

  it('window scaling from the SYN options widens the acceptable window', () => {
    const { ct } = setup();
    out(ct, tcp(A, B, 41000, 80, SYN, 1000, 0, { wscale: 7, win: 64240 }));
    inp(ct, tcp(B, A, 80, 41000, SYN | ACK, 5000, 1001, { wscale: 7, win: 65160 }));
    out(ct, tcp(A, B, 41000, 80, ACK, 1001, 5001, { win: 502 })); // 502 << 7 = 64256
    // 60000 bytes ahead: within the scaled window the client announced.
    expect(inp(ct, tcp(B, A, 80, 41000, ACK, 5001 + 60000, 1001, { len: 100, win: 509 })).ctinfo).toBe('established_reply');
  });

  it('picks up an established flow from a mid-stream ACK (nf_conntrack_tcp_loose=1), not with loose=0', () => {
    const { ct, ns } = setup();
    expect(out(ct, tcp(A, B, 41000, 80, ACK, 1000, 5000)).ctinfo).toBe('new');
    // The pick-up ACK is accepted only because picked-up flows are tracked liberally, so no window
    // (last_win 0) is recorded yet: the shorter max_retrans timeout applies until a tracked ACK.
    expect(ct.list()).toMatch(/^tcp {6}6 300 ESTABLISHED .*\[UNREPLIED\]/);
    expect(inp(ct, tcp(B, A, 80, 41000, ACK, 5000, 1000)).ctinfo).toBe('established_reply');
    expect(ct.all().next().value!.status & IPS_ASSURED).toBe(0);
    // ASSURED on the next packet once a reply has been seen (ESTABLISHED → ESTABLISHED).
    out(ct, tcp(A, B, 41000, 80, ACK, 1000, 5000));
    expect(ct.all().next().value!.status & IPS_ASSURED).toBe(IPS_ASSURED);
    ns.sysctls.set('net.netfilter.nf_conntrack_tcp_loose', '0');
    expect(ct.inbound(tcp(A, B, 41001, 80, ACK, 1000, 5000), OUT).ctinfo).toBe('invalid');
  });

  it('a new SYN on a TIME_WAIT entry re-opens the connection as a new entry', () => {
    const { ct } = setup();
    tcpEchoAndClose(ct, A, 41000);
    const old = ct.all().next().value!;
    const r = out(ct, tcp(A, B, 41000, 80, SYN, 900_000, 0));
    expect(r.ctinfo).toBe('new');
    expect(r.ct).not.toBe(old);
    expect(ct.list()).toMatch(/^tcp {6}6 120 SYN_SENT .*\[UNREPLIED\]/);
    expect(ct.count()).toBe(1);
  });

  it('retransmitted SYNs keep SYN_SENT; an unanswered SYN-ACK retransmission is ignored, not invalid', () => {
    const { ct } = setup();
    out(ct, tcp(A, B, 41000, 80, SYN, 1000, 0));
    expect(out(ct, tcp(A, B, 41000, 80, SYN, 1000, 0)).ctinfo).toBe('new');
    inp(ct, tcp(B, A, 80, 41000, SYN | ACK, 5000, 1001));
    expect(inp(ct, tcp(B, A, 80, 41000, SYN | ACK, 5000, 1001)).ctinfo).toBe('established_reply');
    expect(ct.all().next().value!.tcpState).toBe('SYN_RECV');
  });
});

describe('conntrack: UDP and ICMP', () => {
  it('UDP: 30 s unreplied, 30 s after a quick reply, ASSURED and 120 s when still active after 2 s', () => {
    const { ct, at } = setup();
    at(1 * S);
    out(ct, udp(A, B, 42010, 53));
    expect(ct.list()).toMatch(/^udp {6}17 30 .*\[UNREPLIED\]/);
    inp(ct, udp(B, A, 53, 42010));
    at(1.5 * S);
    out(ct, udp(A, B, 42010, 53));
    inp(ct, udp(B, A, 53, 42010));
    expect(ct.list(1.5 * S)).toBe('udp      17 30 src=10.0.0.1 dst=10.0.1.1 sport=42010 dport=53 src=10.0.1.1 dst=10.0.0.1 sport=53 dport=42010 mark=0 use=1\n');
    at(3 * S + 1);
    out(ct, udp(A, B, 42010, 53));
    expect(ct.list()).toBe('udp      17 120 src=10.0.0.1 dst=10.0.1.1 sport=42010 dport=53 src=10.0.1.1 dst=10.0.0.1 sport=53 dport=42010 [ASSURED] mark=0 use=1\n');
  });

  it('UDP: malformed length is invalid', () => {
    const { ct } = setup();
    const s = udp(A, B, 1, 2, 4);
    s.buf[s.nh + 25] = 50;
    expect(ct.inbound(s, OUT).ctinfo).toBe('invalid');
  });

  it('ICMP echo: request creates, reply answers, 30 s; a lone echo reply is invalid', () => {
    const { ct } = setup();
    out(ct, icmpEcho(A, B, 8, 30195));
    expect(inp(ct, icmpEcho(B, A, 0, 30195)).ctinfo).toBe('established_reply');
    expect(ct.list()).toBe('icmp     1 30 src=10.0.0.1 dst=10.0.1.1 type=8 code=0 id=30195 src=10.0.1.1 dst=10.0.0.1 type=0 code=0 id=30195 mark=0 use=1\n');
    expect(ct.inbound(icmpEcho(B, A, 0, 999), PRE).ctinfo).toBe('invalid');
  });

  it('other protocols are tracked by addresses with the generic timeout (600 s)', () => {
    const { ct } = setup();
    const s = udp(A, B, 1, 2);
    s.buf[s.nh + 9] = 47;
    s.buf[s.nh + 10] = 0; s.buf[s.nh + 11] = 0;
    out(ct, s);
    expect(ct.list()).toBe('gre      47 600 src=10.0.0.1 dst=10.0.1.1 [UNREPLIED] src=10.0.1.1 dst=10.0.0.1 mark=0 use=1\n');
  });

  it('ICMP errors quoting a tracked flow are RELATED (reply direction: related_reply); others invalid', () => {
    const { ct } = setup();
    const probe = udp(A, B, 42003, 55);
    out(ct, probe);
    const err = icmpError(B, A, 3, 3, probe);
    expect(inp(ct, err)).toMatchObject({ ctinfo: 'related_reply' });
    expect(ct.get(err)!.ct).toBe(ct.all().next().value);
    // A router on the way reporting a reply packet toward A as undeliverable would travel in the original direction.
    out(ct, tcp(A, B, 41000, 80, SYN, 1000, 0));
    const synack = tcp(B, A, 80, 41000, SYN | ACK, 5000, 1001);
    inp(ct, synack);
    const te = icmpError('10.0.0.254', B, 11, 0, synack);
    expect(ct.inbound(te, PRE).ctinfo).toBe('related');
    // Quoting an unknown flow, or pointing the error elsewhere: invalid.
    expect(ct.inbound(icmpError(B, A, 3, 3, udp(A, B, 1, 2)), PRE).ctinfo).toBe('invalid');
    expect(ct.inbound(icmpError(B, '10.9.9.9', 3, 3, probe), PRE).ctinfo).toBe('invalid');
    // Errors never create entries, and the UDP flow stays unreplied.
    expect(ct.list()).toMatch(/sport=42003 dport=55 \[UNREPLIED\]/);
  });

  it('ICMP error about an echo request is RELATED to the ping', () => {
    const { ct } = setup();
    const ping = icmpEcho(A, B, 8, 7);
    out(ct, ping);
    expect(inp(ct, icmpError('10.0.0.254', A, 11, 0, ping)).ctinfo).toBe('related_reply');
  });
});

describe('conntrack: timeouts on the virtual clock', () => {
  it('an entry lives until exactly its timeout; then it is gone and the next packet is NEW', () => {
    const { ct, at } = setup();
    at(5 * S);
    out(ct, udp(A, B, 42000, 53));
    at(5 * S + 30 * S - 1);
    expect(ct.list()).toMatch(/^udp {6}17 0 /);
    expect(ct.count()).toBe(1);
    at(35 * S);
    expect(ct.list()).toBe('');
    expect(ct.inbound(udp(B, A, 53, 42000), PRE).ctinfo).toBe('new');
  });

  it('lookups remove an expired entry lazily; the reply tuple is free again', () => {
    const { ct, at } = setup();
    out(ct, icmpEcho(A, B, 8, 1));
    at(30 * S);
    expect(ct.lookup(makeTuple(ip(B), ip(A), 1, 1, 0, 0))).toBeNull();
    expect(ct.tupleTaken(makeTuple(ip(B), ip(A), 1, 1, 0, 0), null)).toBe(false);
  });

  it('seconds left are rounded down, as conntrack -L prints them', () => {
    const { ct, at } = setup();
    tcpEchoAndClose(ct, A, 41000, 1000, 5000, false);
    at(0.2 * S);
    expect(ct.list()).toMatch(/^tcp {6}6 431999 ESTABLISHED/);
  });

  it('SEEN_REPLY and ASSURED bits', () => {
    const { ct } = setup();
    tcpEchoAndClose(ct, A, 41000);
    const c = ct.all().next().value!;
    expect(c.status & (IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED)).toBe(IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED);
  });
});

describe('conntrack -L against the kernel (fixtures recorded by fixtures/conntrack-capture.sh)', () => {
  const sorted = (s: string) => s.trim().split('\n').map((l) => l.replace(/ id=\d+/g, ' id=ID')).sort().join('\n');

  it('client namespace: TIME_WAIT, UDP replied/unreplied, ping (conntrack-client.txt)', () => {
    const { ct, at } = setup();
    out(ct, icmpEcho(A, B, 8, 30195));
    inp(ct, icmpEcho(B, A, 0, 30195));
    tcpEchoAndClose(ct, A, 41000);
    tcpEchoAndClose(ct, '10.0.0.2', 41000);
    tcpEchoAndClose(ct, A, 41001);
    const refused = tcp(A, B, 41002, 81, SYN, 1, 0);
    out(ct, refused);
    inp(ct, tcp(B, A, 81, 41002, RST | ACK, 0, 2));
    out(ct, udp(A, B, 42000, 53)); inp(ct, udp(B, A, 53, 42000));
    out(ct, udp(A, B, 42001, 53)); inp(ct, udp(B, A, 53, 42001));
    out(ct, udp(A, B, 42001, 53)); inp(ct, udp(B, A, 53, 42001));
    out(ct, udp(A, B, 42002, 54));
    const unreach = udp(A, B, 42003, 55);
    out(ct, unreach);
    expect(inp(ct, icmpError(B, A, 3, 3, unreach)).ctinfo).toBe('related_reply');
    at(0.5 * S);
    const want = readFileSync(new URL('./fixtures/conntrack-client.txt', import.meta.url), 'utf8');
    expect(sorted(ct.list())).toBe(sorted(want));
  });
});

describe('conntrack: the last lookups are remembered', () => {
  it('packets, replies, expiries and flushes give the same states, table and stats as a table that never remembers', () => {
    const a = setup(), b = setup();
    // b forgets before every packet: its chains count as changed, so every lookup walks them.
    const forget = () => { (b.ct as unknown as { chainGen: number }).chainGen++; };
    let r = 7;
    const rnd = (n: number) => { r = (Math.imul(r, 1103515245) + 12345) >>> 0; return (r >>> 8) % n; };
    let t = 0;
    const got: string[] = [];
    for (let step = 0; step < 3000; step++) {
      const k = rnd(100);
      if (k < 3) { t += 31 * S; a.at(t); b.at(t); continue; }
      if (k === 3) { a.ct.flush(); b.ct.flush(); continue; }
      // A few flows, mostly two at a time (a pod flow and its overlay), in either direction.
      const f = rnd(k < 80 ? 2 : 6), reply = rnd(4) === 0;
      const mk = () => reply ? udp(B, A, 53, 42000 + f) : udp(A, B, 42000 + f, 53);
      const hook = reply ? PRE : OUT;
      forget();
      const sa = mk(), sb = mk();
      const ia = a.ct.inbound(sa, hook), ib = b.ct.inbound(sb, hook);
      got.push(ia.ctinfo);
      expect(ia.ctinfo).toBe(ib.ctinfo);
      expect(a.ct.confirm(sa)).toBe(b.ct.confirm(sb));
    }
    expect(new Set(got)).toEqual(new Set(['new', 'established', 'established_reply']));
    expect(a.ct.list()).toBe(b.ct.list());
    expect(a.ct.stats).toEqual(b.ct.stats);
  });
});
