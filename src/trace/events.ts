/**
 * Trace events: one per decision a frame meets. Stage names follow the kernel's
 * vocabulary (dev xmit/recv, bridge fdb, fib lookup, neigh, nf hooks, local
 * delivery), drop reasons are the kernel's `enum skb_drop_reason` names without
 * the SKB_DROP_REASON_ prefix, so a pwru user finds their way.
 */

/** Kernel drop reasons we can produce (names as in include/net/dropreason-core.h). */
export type DropReason =
  | 'NOT_SPECIFIED'
  | 'QDISC_DROP'
  | 'IP_LOCAL_SOURCE'
  | 'NO_SOCKET'
  | 'PKT_TOO_SMALL'
  | 'TCP_CSUM'
  | 'UDP_CSUM'
  | 'NETFILTER_DROP'
  | 'OTHERHOST'
  | 'IP_CSUM'
  | 'IP_INHDR'
  | 'IP_RPFILTER'
  | 'IP_INVALID_SOURCE'
  | 'IP_INVALID_DEST'
  | 'IP_NOROUTE'
  | 'IP_INADDRERRORS'
  | 'IP_OUTNOROUTES'
  | 'UNICAST_IN_L2_MULTICAST'
  | 'NEIGH_FAILED'
  | 'NEIGH_QUEUEFULL'
  | 'NEIGH_DEAD'
  | 'TTL_EXPIRED'
  | 'PKT_TOO_BIG'
  | 'DEV_READY'
  | 'FULL_RING'
  | 'MAC_INVALID_SOURCE'
  | 'BRIDGE_INGRESS_STP_STATE'
  | 'UNHANDLED_PROTO'
  | 'IP_LOCALNET'
  | 'TCP_CLOSE'
  | 'TCP_INVALID_SEQUENCE'
  | 'BLACKHOLE'
  | 'UNREACHABLE'
  | 'LINK_DOWN'
  | 'ARP_NOT_FOR_US'
  | 'VXLAN_NO_REMOTE'
  | 'VXLAN_INVALID_HDR'
  | 'VXLAN_VNI_NOT_FOUND'
  | 'LOCAL_MAC';

export type Verdict = 'accept' | 'drop' | 'deliver' | 'forward' | 'queue' | 'stolen' | 'reject';

export interface TraceEvent {
  /** Virtual time in ns. */
  time: number;
  node: string;
  netns: string;
  /** Device the event happened on ('' when none, e.g. a socket). */
  dev: string;
  /** Packet id: stays the same through NAT and forwarding. */
  packetId: number;
  /** Id of the packet this one carries (encapsulation), 0 when none. */
  innerId: number;
  /** What happened, e.g. 'dev.xmit', 'bridge.fdb.learn', 'fib.lookup', 'nf.hook', 'drop'. */
  stage: string;
  /** Human detail, e.g. 'route 10.244.0.0/24 dev cni0 scope link'. */
  detail: string;
  verdict?: Verdict;
  reason?: DropReason;
  /** The traffic item this packet belongs to, when it belongs to one. */
  flow?: string;
}

/** Where trace events go. `on` is checked by callers before they build any string. */
export interface TraceSink {
  readonly on: boolean;
  emit(ev: TraceEvent): void;
  /**
   * Optional: one event given field by field (absent optional fields undefined), for a
   * sink that only renders it and keeps nothing: `World.event` calls it instead of
   * `emit` when present, so no TraceEvent object is made per event. Must do what
   * `emit` does with the TraceEvent of these fields.
   */
  fields?(
    time: number, node: string, netns: string, dev: string, packetId: number, innerId: number,
    stage: string, detail: string, verdict: Verdict | undefined, reason: DropReason | undefined, flow: string | undefined,
  ): void;
}

export const NULL_SINK: TraceSink = { on: false, emit() {} };
