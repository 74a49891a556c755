/**
 * The conntrack contract shared by the conntrack/NAT implementation
 * (conntrack.ts, nat.ts), the matches and targets that read or set connection
 * state, and the traversal. Names follow the kernel (nf_conntrack_tuple,
 * ip_conntrack_info, IPS_* status bits).
 */

/** A connection tuple. For ICMP: sport = echo id, dport = 0 (type/code live in `icmpType`). */
export interface Tuple {
  src: number;
  dst: number;
  proto: number;
  sport: number;
  dport: number;
  /** ICMP type of this direction (8 echo request, 0 echo reply), -1 for other protocols. */
  icmpType: number;
}

/**
 * How a packet relates to its connection (enum ip_conntrack_info plus the
 * two states that have no entry): what `-m conntrack --ctstate` / `-m state` test.
 */
export type CtInfo =
  | 'new'
  | 'established'
  | 'related'
  | 'established_reply'
  | 'related_reply'
  /** No entry could be made (bad header, TCP state violation, …). */
  | 'invalid'
  /** raw NOTRACK / CT --notrack. */
  | 'untracked';

/** IPS_* status bits (include/uapi/linux/netfilter/nf_conntrack_common.h). */
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;
export const IPS_DYING = 1 << 9;

export type TcpCtState = 'NONE' | 'SYN_SENT' | 'SYN_RECV' | 'ESTABLISHED' | 'FIN_WAIT' | 'CLOSE_WAIT' | 'LAST_ACK' | 'TIME_WAIT' | 'CLOSE' | 'SYN_SENT2';

export interface ConnEntry {
  readonly id: number;
  /** Original direction as first seen, before any NAT. */
  orig: Tuple;
  /** The tuple replies will carry (the original tuple inverted, with NAT applied). */
  reply: Tuple;
  /** IPS_* bits. */
  status: number;
  /** ct mark (CONNMARK / -m connmark). */
  mark: number;
  /** Virtual time (ns) at which the entry expires. */
  expires: number;
  /** TCP tracking state, for TCP entries. */
  tcpState?: TcpCtState;
}

/** A NAT range as iptables gives it (--to-destination / --to-source / --to-ports). */
export interface NatRange {
  /** Address range, inclusive; 0/0 = keep the address (MASQUERADE picks the egress address). */
  minIp: number;
  maxIp: number;
  /** Port range, inclusive; 0/0 = keep the port (or choose one on clash). */
  minPort: number;
  maxPort: number;
  random: boolean;
  randomFully: boolean;
  persistent: boolean;
}
