import { describe, expect, it } from 'vitest';
import { ConnTable, connHashkey, jhash3 } from '../../src/ipvs/conn.js';
import { defaultTimeouts, Dir, stateName, stateTransition, TCP_STATE_NAMES, type StateConn } from '../../src/ipvs/proto.js';
import { CONN_F, DEST_F, IpvsDest, IpvsService } from '../../src/ipvs/types.js';
import { FakeEnv } from './helpers.js';

const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04;
const S = 1e9;

function dest(): IpvsDest {
  const d = new IpvsDest(new IpvsService(), 0x0a000202, 8080);
  d.weight = 1;
  d.connFlags = CONN_F.MASQ | CONN_F.INACTIVE;
  return d;
}

/** Walks a conn through packets; returns the state names and timeouts (s) after each. */
function walk(cp: StateConn, pkts: [Dir, number][], secure = false): string[] {
  const t = defaultTimeouts();
  return pkts.map(([dir, f]) => {
    stateTransition(cp, dir, f, t, secure);
    return `${TCP_STATE_NAMES[cp.state]}/${cp.timeout / S}`;
  });
}

// ip_vs_proto_tcp.c tcp_states / tcp_states_dos and tcp_timeouts.
describe('TCP state machine', () => {
  it('a NAT connection: handshake, data, close from the client', () => {
    const d = dest();
    d.inactConns = 1; // bound inactive, as ip_vs_bind_dest does
    const cp: StateConn = { protocol: 6, state: 0, flags: CONN_F.INACTIVE, timeout: 3 * S, dest: d };
    const seen = walk(cp, [[Dir.INPUT, SYN]]);
    expect(seen).toEqual(['SYN_RECV/60']);
    expect([d.activeConns, d.inactConns]).toEqual([0, 1]);
    expect(walk(cp, [[Dir.OUTPUT, SYN | ACK], [Dir.INPUT, ACK]])).toEqual(['SYN_RECV/60', 'ESTABLISHED/900']);
    expect([d.activeConns, d.inactConns]).toEqual([1, 0]);
    expect(walk(cp, [[Dir.INPUT, FIN | ACK], [Dir.OUTPUT, ACK], [Dir.OUTPUT, FIN | ACK], [Dir.INPUT, ACK]]))
      .toEqual(['CLOSE_WAIT/60', 'CLOSE_WAIT/60', 'TIME_WAIT/120', 'TIME_WAIT/120']);
    expect([d.activeConns, d.inactConns]).toEqual([0, 1]);
  });

  it('closed from the server side, and reset', () => {
    const cp: StateConn = { protocol: 6, state: 1, flags: 0, timeout: 900 * S, dest: null };
    expect(walk(cp, [[Dir.OUTPUT, FIN | ACK], [Dir.INPUT, ACK], [Dir.INPUT, FIN | ACK]])).toEqual(['FIN_WAIT/120', 'FIN_WAIT/120', 'TIME_WAIT/120']);
    const r: StateConn = { protocol: 6, state: 1, flags: 0, timeout: 900 * S, dest: null };
    expect(walk(r, [[Dir.INPUT, RST | ACK]])).toEqual(['CLOSE/10']);
    const n: StateConn = { protocol: 6, state: 1, flags: 0, timeout: 900 * S, dest: null };
    expect(walk(n, [[Dir.INPUT, 0]])).toEqual(['CLOSE/10']); // no flag we know: CLOSE
  });

  it('DR/TUN (NOOUTPUT): the INPUT-ONLY rows until an output packet is seen', () => {
    const cp: StateConn = { protocol: 6, state: 0, flags: CONN_F.NOOUTPUT | CONN_F.DROUTE, timeout: 3 * S, dest: null };
    expect(walk(cp, [[Dir.INPUT, SYN], [Dir.INPUT, ACK], [Dir.INPUT, FIN | ACK], [Dir.INPUT, ACK]]))
      .toEqual(['SYN_RECV/60', 'ESTABLISHED/900', 'FIN_WAIT/120', 'FIN_WAIT/120']);
    expect(cp.flags & CONN_F.NOOUTPUT).toBe(CONN_F.NOOUTPUT);
    walk(cp, [[Dir.OUTPUT, ACK]]);
    expect(cp.flags & CONN_F.NOOUTPUT).toBe(0);
  });

  it('secure_tcp uses tcp_states_dos: a SYN-ACK from the server makes SYNACK, which an ACK does not leave', () => {
    const cp: StateConn = { protocol: 6, state: 0, flags: 0, timeout: 3 * S, dest: null };
    expect(walk(cp, [[Dir.INPUT, SYN], [Dir.OUTPUT, SYN | ACK], [Dir.INPUT, ACK]], true)).toEqual(['SYN_RECV/60', 'SYNACK/120', 'SYNACK/120']);
  });

  it('UDP: always NORMAL ("UDP"), 300 s', () => {
    const cp: StateConn = { protocol: 17, state: 0, flags: CONN_F.INACTIVE, timeout: 3 * S, dest: null };
    stateTransition(cp, Dir.INPUT, 0, defaultTimeouts(), false);
    expect([stateName(17, cp.state, false), cp.timeout]).toEqual(['UDP', 300 * S]);
    expect(stateName(6, 0, true)).toBe('NONE');
  });
});

describe('connection table', () => {
  it('jhash_3words as include/linux/jhash.h computes it', () => {
    // __jhash_nwords(a, b, c, initval + JHASH_INITVAL + (3 << 2)) then __jhash_final.
    expect(connHashkey(6, 0x0a000102, 40000)).toBeLessThan(4096);
    expect(connHashkey(6, 0x0a000102, 40000)).toBe(jhash3(0x0201000a, 0x409c, 6, 0) & 4095); // the words as __be32/__be16 loads
    expect(jhash3(1, 2, 3, 0)).not.toBe(jhash3(1, 2, 4, 0));
  });

  it('a connection expires timeout after its last packet; counters follow', () => {
    const env = new FakeEnv();
    const expired: string[] = [];
    const t = new ConnTable(env, { expired: (cp) => expired.push(`${cp.cport}`) });
    const d = dest();
    const cp = t.newConn(6, 0x0a000102, 40000, 0x0a60000a, 80, d.addr, 8080, 0, d, 0, false);
    expect([d.activeConns, d.inactConns, d.refs]).toEqual([0, 1, 1]);
    expect(t.inGet(6, 0x0a000102, 40000, 0x0a60000a, 80)).toBe(cp);
    expect(t.outGet(6, d.addr, 8080, 0x0a000102, 40000)).toBe(cp);
    expect(t.inGet(6, 0x0a000102, 40001, 0x0a60000a, 80)).toBeNull();
    cp.timeout = 60 * S;
    t.put(cp);
    env.advance(30 * S);
    t.put(cp); // a packet at 30 s: now expires at 90 s
    env.advance(89 * S);
    expect(expired).toEqual([]);
    env.advance(90 * S);
    expect(expired).toEqual(['40000']);
    expect([d.activeConns, d.inactConns, d.refs, t.count]).toEqual([0, 0, 0, 0]);
    expect(t.inGet(6, 0x0a000102, 40000, 0x0a60000a, 80)).toBeNull();
  });

  it('a template controlling connections waits 60 s more; unbinding below the lower threshold clears OVERLOAD', () => {
    const env = new FakeEnv();
    const t = new ConnTable(env, { expired: () => {} });
    const d = dest();
    d.uThreshold = 1;
    const ct = t.newConn(6, 0x0a000102, 0, 0x0a60000a, 80, d.addr, 8080, CONN_F.TEMPLATE, d, 0, false);
    ct.timeout = 10 * S;
    const cp = t.newConn(6, 0x0a000102, 40000, 0x0a60000a, 80, d.addr, 8080, 0, d, 0, false);
    t.controlAdd(cp, ct);
    expect([d.persistConns, d.inactConns, d.flags & DEST_F.OVERLOAD]).toEqual([1, 1, DEST_F.OVERLOAD]);
    expect(t.ctInGet(6, 0x0a000102, 0x0a60000a, 80)).toBe(ct);
    t.put(ct);
    cp.timeout = 100 * S;
    t.put(cp);
    env.advance(10 * S);
    expect(ct.dead).toBe(false); // still controls cp: expire_later, 60 s
    expect(ct.expires).toBe(70 * S);
    env.advance(100 * S);
    expect(cp.dead).toBe(true);
    expect(d.flags & DEST_F.OVERLOAD).toBe(0); // 0 * 4 < 1 * 3 (no lower threshold)
    env.advance(130 * S);
    expect(ct.dead).toBe(true);
    expect([d.persistConns, d.inactConns, d.refs]).toEqual([0, 0, 0]);
  });
});
