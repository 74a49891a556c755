/**
 * IPVS's kernel objects (include/net/ip_vs.h): virtual services, real
 * servers (destinations) and the scheduler interface, as plain classes the
 * control plane (ctl.ts), the schedulers (sched/*) and the data path (core.ts)
 * share.
 */

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** IP_VS_SVC_F_* (include/uapi/linux/ip_vs.h). */
export const SVC_F = {
  PERSISTENT: 0x1,
  HASHED: 0x2,
  ONEPACKET: 0x4,
  SCHED1: 0x8,
  SCHED2: 0x10,
  SCHED3: 0x20,
} as const;

/** IP_VS_DEST_F_* */
export const DEST_F = { AVAILABLE: 0x1, OVERLOAD: 0x2 } as const;

/** IP_VS_CONN_F_* (forwarding method in the low 3 bits, then the flags). */
export const CONN_F = {
  FWD_MASK: 0x7,
  MASQ: 0x0,
  LOCALNODE: 0x1,
  TUNNEL: 0x2,
  DROUTE: 0x3,
  BYPASS: 0x4,
  SYNC: 0x20,
  HASHED: 0x40,
  NOOUTPUT: 0x80,
  INACTIVE: 0x100,
  OUT_SEQ: 0x200,
  IN_SEQ: 0x400,
  SEQ_MASK: 0x600,
  NO_CPORT: 0x800,
  TEMPLATE: 0x1000,
  ONE_PACKET: 0x2000,
  /** IP_VS_CONN_F_NFCT: the connection is tracked by netfilter conntrack. */
  NFCT: 0x10000,
  DEST_MASK: 0x7 | 0x2000, // IP_VS_CONN_F_FWD_MASK | IP_VS_CONN_F_ONE_PACKET
} as const;

/** Per-object counters (struct ip_vs_kstats), plus the estimator's rates. */
export class IpvsStats {
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;
  /** Rates from the estimator (ip_vs_est.c): scaled as the kernel keeps them. */
  cpsE = 0; inppsE = 0; outppsE = 0; inbpsE = 0; outbpsE = 0;
  /** Last sample for the estimator. */
  lastConns = 0; lastInpkts = 0; lastOutpkts = 0; lastInbytes = 0; lastOutbytes = 0;
  /** The estimator's next 2 s tick (estimator.ts), unset until first used. */
  nextTick?: number;
}

export class IpvsDest {
  /** IP_VS_CONN_F_* forwarding method (and ONE_PACKET). */
  connFlags = 0;
  weight = 0;
  /** IP_VS_DEST_F_*. */
  flags = DEST_F.AVAILABLE;
  uThreshold = 0;
  lThreshold = 0;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  /** Connections (and templates, scheduler caches) referencing this destination (refcnt − 1). */
  refs = 0;
  /** While in the trash: brings the trash timer up to now before a reference goes (see ctl.ts). */
  trashHook: (() => void) | null = null;
  /** The trash timer's idle_start (ns), −1 when unset. */
  idleStart = -1;
  readonly stats = new IpvsStats();
  /** The service it belongs to (kept while in the trash). */
  svc: IpvsService;
  /** The latest non-0 weight (dest->last_weight, what mh builds its table from). */
  lastWeight = 0;
  /** The protocol and virtual address/port it serves (for ip_vs_lookup_real_service). */
  constructor(svc: IpvsService, readonly addr: number, readonly port: number) {
    this.svc = svc;
  }
  get available(): boolean { return (this.flags & DEST_F.AVAILABLE) !== 0; }
  get overloaded(): boolean { return (this.flags & DEST_F.OVERLOAD) !== 0; }
}

export class IpvsService {
  /** 0 for protocol/addr/port services. */
  fwmark = 0;
  protocol = 0;
  addr = 0;
  port = 0;
  flags = 0;
  /** Persistence timeout (ns). */
  timeout = 0;
  /** Persistence netmask (a mask, host order). */
  netmask = 0xffffffff;
  /** The destinations in the kernel's list order (list_add: newest first). */
  dests: IpvsDest[] = [];
  sched: IpvsScheduler | null = null;
  schedName = '';
  /** Scheduler-private data (svc->sched_data). */
  schedData: unknown = null;
  readonly stats = new IpvsStats();
  /** Insertion stamp: the order within one hash bucket (list_add: newest first). */
  stamp = 0;
  /** Whether still in the service table (a deleted service may still be referenced by connections). */
  live = true;
}

/** What a scheduler sees of the packet (the kernel passes skb and iph). */
export interface SchedPkt {
  saddr: number;
  sport: number;
  daddr: number;
  dport: number;
  protocol: number;
}

/** struct ip_vs_scheduler. */
export interface IpvsScheduler {
  readonly name: string;
  initService?(svc: IpvsService): void;
  doneService?(svc: IpvsService): void;
  addDest?(svc: IpvsService, dest: IpvsDest): void;
  /** After the dest left svc.dests; `at` is where it was. */
  delDest?(svc: IpvsService, dest: IpvsDest, at: number): void;
  updDest?(svc: IpvsService, dest: IpvsDest): void;
  /** Replays the scheduler's periodic work due by now (lblc/lblcr's GC), done lazily. */
  catchUp?(svc: IpvsService): void;
  /** Chooses a destination, or null (the kernel logs "no destination available"). */
  schedule(svc: IpvsService, p: SchedPkt): IpvsDest | null;
}

/** What a scheduler may ask of its namespace: the virtual clock and timers (lblc/lblcr GC). */
export interface SchedEnv {
  now(): number;
  /** Runs fn after `ns` nanoseconds of virtual time; returns a cancel function. */
  timer(ns: number, fn: () => void): () => void;
  /** A net.ipv4.vs.* sysctl as a number (lblc_expiration …). */
  sysctl(name: string): number;
}

/** Drops one reference on `d` (ip_vs_dest_put), letting the trash timer catch up first. */
export function destPut(d: IpvsDest): void {
  d.trashHook?.();
  d.refs--;
}

/** ip_vs_dest_conn_overhead: activeconns * 256 + inactconns. */
export function destOverhead(d: IpvsDest): number {
  return d.activeConns * 256 + d.inactConns;
}
