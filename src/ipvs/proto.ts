/**
 * IPVS's per-protocol connection states and timeouts
 * (net/netfilter/ipvs/ip_vs_proto_tcp.c, ip_vs_proto_udp.c).
 *
 * TCP: the tcp_states table, indexed by [direction offset + flag index][state]
 * with the flag index rst 3, else syn 0, else fin 1, else ack 2 (none of them:
 * CLOSE); a connection with IP_VS_CONN_F_NOOUTPUT (DR/TUN: replies never come
 * through) uses the INPUT-ONLY rows until an OUTPUT packet is seen, which
 * clears the flag. Moving out of ESTABLISHED makes the connection inactive for
 * its dest (activeconns → inactconns), moving into it active again. Timeouts:
 * NONE 2 s, ESTABLISHED 900 s, SYN_SENT 120 s, SYN_RECV 60 s, FIN_WAIT 120 s,
 * TIME_WAIT 120 s, CLOSE 10 s, CLOSE_WAIT 60 s, LAST_ACK 30 s, LISTEN 120 s,
 * SYNACK 120 s. With secure_tcp the tcp_states_dos table is used.
 *
 * UDP: one state, NORMAL ("UDP"), timeout 300 s; UDP connections stay
 * inactive (they are bound with IP_VS_CONN_F_INACTIVE and nothing moves them).
 */
import { CONN_F, IPPROTO_TCP, IPPROTO_UDP, type IpvsDest } from './types.js';

export const enum TcpS {
  NONE = 0, ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, SYNACK, LAST,
}

export const TCP_STATE_NAMES = ['NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK'];

const HZ_S = 1e9;
/** tcp_timeouts (seconds, as ipvsadm --set and the timeout table have them). */
export const TCP_TIMEOUTS = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120].map((s) => s * HZ_S);
export const UDP_TIMEOUT = 300 * HZ_S;

/** IP_VS_DIR_INPUT 0, IP_VS_DIR_OUTPUT 1, IP_VS_DIR_INPUT_ONLY 2. */
export const enum Dir { INPUT = 0, OUTPUT = 1, INPUT_ONLY = 2 }

const sES = TcpS.ESTABLISHED, sSS = TcpS.SYN_SENT, sSR = TcpS.SYN_RECV, sFW = TcpS.FIN_WAIT,
  sTW = TcpS.TIME_WAIT, sCL = TcpS.CLOSE, sCW = TcpS.CLOSE_WAIT, sLA = TcpS.LAST_ACK, sLI = TcpS.LISTEN, sSA = TcpS.SYNACK;

/* Rows: INPUT syn fin ack rst, OUTPUT syn fin ack rst, INPUT-ONLY syn fin ack rst; columns: the current state. */
const TCP_STATES: readonly (readonly number[])[] = [
  // INPUT
  [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW],
  [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR],
  // OUTPUT
  [sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR],
  [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
  [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
  [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
  // INPUT-ONLY
  [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
  [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
];

const TCP_STATES_DOS: readonly (readonly number[])[] = [
  [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA],
  [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA],
  [sCL, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA],
  [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
  [sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA],
  [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
  [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
  [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
  [sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA],
  [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
  [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
];

const DIR_OFF = [0, 4, 8];

/** tcp_state_idx from the TCP flags byte: rst 3, syn 0, fin 1, ack 2, else -1. */
export function tcpStateIdx(flags: number): number {
  if (flags & 0x04) return 3;
  if (flags & 0x02) return 0;
  if (flags & 0x01) return 1;
  if (flags & 0x10) return 2;
  return -1;
}

/** What the state machine needs of a connection. */
export interface StateConn {
  protocol: number;
  state: number;
  flags: number;
  timeout: number;
  dest: IpvsDest | null;
}

/**
 * set_tcp_state / udp_state_transition for one packet of `cp` in `dir`
 * (`tcpFlags`: the TCP flags byte). Returns true when the state changed.
 * `timeouts` are the namespace's (ipvsadm --set may change them).
 */
export function stateTransition(cp: StateConn, dir: Dir, tcpFlags: number, timeouts: ProtoTimeouts, secureTcp: boolean): boolean {
  if (cp.protocol === IPPROTO_UDP) {
    cp.timeout = timeouts.udp;
    return false;
  }
  if (cp.protocol !== IPPROTO_TCP) return false;
  let off = DIR_OFF[dir];
  if (cp.flags & CONN_F.NOOUTPUT) {
    if (off === DIR_OFF[Dir.OUTPUT]) cp.flags &= ~CONN_F.NOOUTPUT;
    else off = DIR_OFF[Dir.INPUT_ONLY];
  }
  const idx = tcpStateIdx(tcpFlags);
  const table = secureTcp ? TCP_STATES_DOS : TCP_STATES;
  const next = idx < 0 ? TcpS.CLOSE : table[off + idx][cp.state];
  const changed = next !== cp.state;
  if (changed) {
    const d = cp.dest;
    if (d) {
      if (!(cp.flags & CONN_F.INACTIVE) && next !== TcpS.ESTABLISHED) {
        d.activeConns--;
        d.inactConns++;
        cp.flags |= CONN_F.INACTIVE;
      } else if (cp.flags & CONN_F.INACTIVE && next === TcpS.ESTABLISHED) {
        d.activeConns++;
        d.inactConns--;
        cp.flags &= ~CONN_F.INACTIVE;
      }
    }
  }
  cp.state = next;
  cp.timeout = timeouts.tcp[next];
  return changed;
}

/** The namespace's protocol timeouts (pd->timeout_table), in ns. */
export interface ProtoTimeouts {
  tcp: number[];
  udp: number;
}

export function defaultTimeouts(): ProtoTimeouts {
  return { tcp: TCP_TIMEOUTS.slice(), udp: UDP_TIMEOUT };
}

/** ip_vs_state_name for a connection (templates: NONE/ASSURED). */
export function stateName(protocol: number, state: number, template: boolean): string {
  if (template) return state === 1 ? 'ASSURED' : 'NONE';
  if (protocol === IPPROTO_TCP) return state < TcpS.LAST ? TCP_STATE_NAMES[state] : 'ERR!';
  if (protocol === IPPROTO_UDP) return state === 0 ? 'UDP' : 'BUG!';
  return protocol === 0 ? 'NONE' : 'ERR!';
}

/** ip_vs_proto_name. */
export function protoName(protocol: number): string {
  switch (protocol) {
    case 0: return 'IP';
    case IPPROTO_TCP: return 'TCP';
    case IPPROTO_UDP: return 'UDP';
    case 132: return 'SCTP';
    case 1: return 'ICMP';
    default: return `IP_${protocol}`;
  }
}
