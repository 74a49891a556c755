import { describe, it, expect } from 'vitest';
import { TcpSock, TH_ACK, TH_FIN, TH_PSH, TH_RST, TH_SYN } from '../../src/kernel/tcp.js';
import { u32 } from '../../src/wire/bytes.js';
import { checksum } from '../../src/wire/checksum.js';
import { pair, ip, mac, tcpFlags, ipProtoOf, ipId, ipFlagsOff, ipTot, ipTtl, isArp, Lab } from './topo.js';

const S = 1_000_000_000;
const NAMES: Record<number, string> = {
  [TH_SYN]: 'SYN', [TH_SYN | TH_ACK]: 'SYN-ACK', [TH_ACK]: 'ACK', [TH_PSH | TH_ACK]: 'PSH-ACK',
  [TH_FIN | TH_ACK]: 'FIN-ACK', [TH_RST | TH_ACK]: 'RST-ACK', [TH_RST]: 'RST',
};
/** TCP segments as sent by a and b, in order: "a SYN", "b SYN-ACK", … */
function segments(l: Lab): string[] {
  return l.frames.filter((f) => f.dir === 'out' && (f.dev === 'n/a/eth0' || f.dev === 'n/b/eth0') && !isArp(f.bytes) && ipProtoOf(f.bytes) === 6)
    .map((f) => `${f.dev === 'n/a/eth0' ? 'a' : 'b'} ${NAMES[tcpFlags(f.bytes)] ?? tcpFlags(f.bytes).toString(16)}`);
}
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('TCP', () => {
  it('handshake, echo and close: the flag sequence of the echo app', () => {
    const l = pair();
    const log: string[] = [];
    l.n.ns('b').sockets.tcpListenOn(80, {
      onData: (s, d) => s.send(d),
      onEnd: (s) => s.close(),
    });
    const c = new TcpSock(l.n.ns('a'), {
      onConnect: (s) => s.send(enc('hello')),
      onData: (s, d) => { log.push(`echo ${dec(d)}`); s.close(); },
      onClose: (s) => log.push(`closed ${s.state}`),
    });
    expect(c.connect(ip('10.0.0.2'), 80)).toBeNull();
    l.run();
    expect(segments(l)).toEqual([
      'a SYN', 'b SYN-ACK', 'a ACK', 'a PSH-ACK', 'b ACK', 'b PSH-ACK', 'a ACK', 'a FIN-ACK', 'b FIN-ACK', 'a ACK',
    ]);
    expect(log).toEqual(['echo hello', 'closed TIME_WAIT']);
    expect(c.state).toBe('CLOSED'); // after TIME_WAIT's 60 s
  });

  it('a SYN to a closed port gets RST|ACK with seq 0, ack = ISN+1, IP ID 0, DF; connect fails ECONNREFUSED', () => {
    const l = pair();
    const errs: string[] = [];
    const c = new TcpSock(l.n.ns('a'), { onError: (_s, e) => errs.push(e) });
    c.connect(ip('10.0.0.2'), 81);
    l.run();
    expect(segments(l)).toEqual(['a SYN', 'b RST-ACK']);
    const rst = l.on('b/eth0').filter((f) => !isArp(f.bytes))[0].bytes;
    expect(u32(rst, 34 + 4)).toBe(0);
    expect(u32(rst, 34 + 8)).toBe((c.iss + 1) >>> 0);
    expect(ipId(rst)).toBe(0);
    expect(ipFlagsOff(rst)).toBe(0x4000);
    expect(rst[34 + 12]).toBe(0x50);
    expect(errs).toEqual(['ECONNREFUSED']);
    expect(l.reasons()).toEqual(['NO_SOCKET']);
  });

  it('SYN retransmissions back off: 0 s, 1 s, 3 s, 7 s … while the peer is silent', () => {
    const l = pair();
    // The SYNs go to a MAC nobody has: b drops them (OTHERHOST), a hears nothing.
    l.n.neighReplace('a', '10.0.0.2', mac('02:00:00:00:00:77'), 'eth0');
    const c = new TcpSock(l.n.ns('a'), {});
    c.connect(ip('10.0.0.2'), 80);
    l.run(8 * S);
    const syns = l.on('a/eth0').filter((f) => ipProtoOf(f.bytes) === 6);
    expect(syns.map((f) => f.time / S)).toEqual([0, 1, 3, 7]);
    expect(syns.every((f) => tcpFlags(f.bytes) === TH_SYN && u32(f.bytes, 38) === c.iss)).toBe(true);
    expect(c.state).toBe('SYN_SENT');
  });
});

describe('UDP', () => {
  it('a datagram to a closed port: ICMP port unreachable quoting the whole datagram, TOS 0xc0, DF clear, TTL 64', () => {
    const l = pair();
    const errs: string[] = [];
    const u = l.n.ns('a').sockets.udpBind(40000, { onError: (e) => errs.push(e) });
    u.raddr = ip('10.0.0.2'); u.rport = 53; // connected, so the error reaches the socket
    expect(u.send(enc('x'.repeat(100)), ip('10.0.0.2'), 53)).toBeNull();
    l.run();
    const sent = l.on('a/eth0').filter((f) => ipProtoOf(f.bytes) === 17)[0].bytes;
    const err = l.on('b/eth0').filter((f) => ipProtoOf(f.bytes) === 1)[0].bytes;
    expect([err[34], err[35]]).toEqual([3, 3]);
    expect(err[15]).toBe(0xc0);
    expect(ipFlagsOff(err)).toBe(0);
    expect(ipTtl(err)).toBe(64);
    expect(ipTot(err)).toBe(20 + 8 + ipTot(sent));
    expect(err.slice(42)).toEqual(sent.slice(14));
    expect(checksum(err, 34, 8 + ipTot(sent))).toBe(0);
    expect(l.reasons()).toEqual(['NO_SOCKET']);
    expect(errs).toEqual(['ECONNREFUSED']);
  });

  it('a bound socket receives and can reply from the address it was reached on', () => {
    const l = pair();
    l.n.ns('b').sockets.udpBind(7, { onMessage: (d, _f, _p, reply) => reply(d) });
    const got: string[] = [];
    l.n.ns('a').sockets.udpBind(40000, { onMessage: (d, from, port) => got.push(`${dec(d)} from ${from === ip('10.0.0.2')} ${port}`) })
      .send(enc('ping'), ip('10.0.0.2'), 7);
    l.run();
    expect(got).toEqual(['ping from true 7']);
  });
});
