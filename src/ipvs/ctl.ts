/**
 * IPVS's control plane (net/netfilter/ipvs/ip_vs_ctl.c): the service tables,
 * destinations, the destination trash, and the checks ipvsadm's setsockopt /
 * netlink commands meet.
 *
 * - Services hash into ip_vs_svc_table (256 buckets by protocol^addr^port) or
 *   ip_vs_svc_fwm_table (256 buckets by fwmark), newest first within a bucket
 *   (list_add). The kernel also folds the netns_ipvs pointer (>> 8) into the
 *   hash, which no user can know; it is taken as 0 here, so the bucket order
 *   `services()` returns is the one a kernel with that pointer would list
 *   (ipvsadm sorts its listing anyway, see list.ts).
 * - Destinations: list_add_rcu at the head of svc->destinations, so the
 *   newest destination comes first in the list the schedulers walk.
 * - A deleted destination goes to the trash (__ip_vs_del_dest) and comes
 *   back with its counters when added again before it is freed
 *   (ip_vs_trash_get_dest). The trash timer (ip_vs_dest_trash_expire) runs
 *   60 s after the trash stops being empty and every 60 s while it is not:
 *   an unreferenced dest gets its idle_start at the first run that finds it
 *   so, and is freed at the first run IP_VS_DEST_TRASH_PERIOD (120 s) after.
 *   The runs are replayed lazily: before a trashed dest loses a reference
 *   and before the trash is searched, so no event is scheduled.
 * - Thresholds: the OVERLOAD flag is cleared when the upper threshold is
 *   removed or raised (__ip_vs_update_dest) and set/cleared per connection
 *   bind/unbind (ip_vs_bind_dest / ip_vs_unbind_dest in ip_vs_conn.c).
 */
import { IpvsError } from './errors.js';
import { schedulerFactory } from './sched/index.js';
import {
  CONN_F, DEST_F, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SVC_F,
  IpvsDest, IpvsService, type SchedEnv,
} from './types.js';

export const IP_VS_SVC_TAB_BITS = 8;
const TAB_SIZE = 1 << IP_VS_SVC_TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;
/** IP_VS_DEST_TRASH_PERIOD: 120 s. */
export const DEST_TRASH_PERIOD = 120e9;

export interface SvcKey { fwmark: number; protocol: number; addr: number; port: number }

export interface DestSpec {
  addr: number;
  port: number;
  weight: number;
  /** IP_VS_CONN_F_* forwarding method. */
  connFlags: number;
  uThreshold: number;
  lThreshold: number;
}

export interface SvcSpec {
  scheduler: string;
  flags: number;
  /** Persistence timeout in ns. */
  timeout: number;
  /** Persistence netmask (mask). */
  netmask: number;
}

/** ip_vs_svc_hashkey (netns pointer term taken as 0). */
export function svcHashkey(protocol: number, addr: number, port: number): number {
  return ((protocol ^ addr ^ (port >>> IP_VS_SVC_TAB_BITS) ^ port) >>> 0) & TAB_MASK;
}

/** ip_vs_svc_fwm_hashkey (netns pointer term taken as 0). */
export function svcFwmHashkey(fwmark: number): number {
  return fwmark & TAB_MASK;
}

export class IpvsCtl {
  /** Buckets made on first use. */
  readonly svcTable: (IpvsService[] | undefined)[] = new Array<IpvsService[] | undefined>(TAB_SIZE);
  readonly fwmTable: (IpvsService[] | undefined)[] = new Array<IpvsService[] | undefined>(TAB_SIZE);
  /** Removed destinations (ipvs->dest_trash). */
  readonly trash: IpvsDest[] = [];
  /** The trash timer's next run (ns), or −1 when not armed. */
  private trashNext = -1;
  private trashBusy = false;
  /** Number of services (ip_vs_svc count, for the listing and the hooks' fast path). */
  count = 0;
  /** Services whose port is 0 (ipvs->nullsvc_counter). */
  nullsvc = 0;
  private stamp = 0;

  constructor(private readonly env: SchedEnv) {}

  find(k: SvcKey): IpvsService | undefined {
    if (k.fwmark) {
      for (const s of this.fwmTable[svcFwmHashkey(k.fwmark)] ?? []) if (s.fwmark === k.fwmark) return s;
      return undefined;
    }
    for (const s of this.svcTable[svcHashkey(k.protocol, k.addr, k.port)] ?? []) {
      if (s.addr === k.addr && s.port === k.port && s.protocol === k.protocol) return s;
    }
    return undefined;
  }

  /**
   * ip_vs_service_find: the fwmark table first (when the packet has a mark),
   * then the protocol/addr/port table, then the port-0 catch-all service.
   * (The FTP data-connection lookup needs the ftp helper, not modelled.)
   */
  lookup(fwmark: number, protocol: number, addr: number, port: number): IpvsService | undefined {
    if (fwmark) {
      const s = this.find({ fwmark, protocol: 0, addr: 0, port: 0 });
      if (s) return s;
    }
    let s = this.find({ fwmark: 0, protocol, addr, port });
    if (!s && this.nullsvc > 0) s = this.find({ fwmark: 0, protocol, addr, port: 0 });
    return s;
  }

  /** Services in the table's order: svc buckets 0..255 (newest first in each), then fwmark buckets. */
  all(): IpvsService[] {
    const out: IpvsService[] = [];
    if (this.count === 0) return out;
    for (let i = 0; i < TAB_SIZE; i++) for (const s of this.svcTable[i] ?? []) out.push(s);
    for (let i = 0; i < TAB_SIZE; i++) for (const s of this.fwmTable[i] ?? []) out.push(s);
    return out;
  }

  addService(k: SvcKey, spec: SvcSpec): IpvsService {
    checkKey(k);
    if (this.find(k)) throw new IpvsError('EEXIST', 'Service already exists');
    const mk = schedulerFactory(spec.scheduler);
    if (!mk) throw new IpvsError('ENOENT', 'Scheduler not found');
    const svc = new IpvsService();
    svc.fwmark = k.fwmark;
    svc.protocol = k.fwmark ? 0 : k.protocol;
    svc.addr = k.fwmark ? 0 : k.addr;
    svc.port = k.fwmark ? 0 : k.port;
    svc.flags = spec.flags | SVC_F.HASHED;
    svc.timeout = spec.timeout;
    svc.netmask = spec.netmask;
    svc.sched = mk(this.env);
    svc.schedName = spec.scheduler;
    svc.sched.initService?.(svc);
    svc.stamp = ++this.stamp;
    if (k.fwmark) (this.fwmTable[svcFwmHashkey(k.fwmark)] ??= []).unshift(svc);
    else (this.svcTable[svcHashkey(svc.protocol, svc.addr, svc.port)] ??= []).unshift(svc);
    this.count++;
    if (!k.fwmark && k.port === 0) this.nullsvc++;
    return svc;
  }

  editService(k: SvcKey, spec: SvcSpec): IpvsService {
    const svc = this.mustFind(k);
    if (spec.scheduler !== svc.schedName) {
      const mk = schedulerFactory(spec.scheduler);
      if (!mk) throw new IpvsError('ENOENT', 'Scheduler not found');
      svc.sched?.doneService?.(svc);
      svc.sched = mk(this.env);
      svc.schedName = spec.scheduler;
      svc.schedData = null;
      svc.sched.initService?.(svc);
    }
    // ip_vs_edit_service: the flags are replaced, keeping HASHED.
    svc.flags = spec.flags | (svc.flags & SVC_F.HASHED);
    svc.timeout = spec.timeout;
    svc.netmask = spec.netmask;
    // A scheduler that depends on the flags (sh, mh) rebuilds on edit: ip_vs_edit_service
    // calls sched->init_service only for a new scheduler; the old one keeps its state, but
    // sh/mh read the flags per packet, so nothing else is needed.
    return svc;
  }

  delService(k: SvcKey, unlinked: (svc: IpvsService) => void): void {
    const svc = this.mustFind(k);
    const bucket = (svc.fwmark ? this.fwmTable[svcFwmHashkey(svc.fwmark)] : this.svcTable[svcHashkey(svc.protocol, svc.addr, svc.port)])!;
    bucket.splice(bucket.indexOf(svc), 1);
    this.count--;
    if (!svc.fwmark && svc.port === 0) this.nullsvc--;
    svc.live = false;
    svc.flags &= ~SVC_F.HASHED;
    // __ip_vs_del_service: unbind the scheduler, then unlink every dest (to the trash if referenced).
    svc.sched?.doneService?.(svc);
    for (const d of [...svc.dests]) this.unlinkDest(svc, d, false);
    unlinked(svc);
  }

  mustFind(k: SvcKey): IpvsService {
    const s = this.find(k);
    if (!s) throw new IpvsError('ESRCH', 'No such service');
    return s;
  }

  lookupDest(svc: IpvsService, addr: number, port: number): IpvsDest | undefined {
    for (const d of svc.dests) if (d.addr === addr && d.port === port) return d;
    return undefined;
  }

  addDest(svc: IpvsService, u: DestSpec): IpvsDest {
    checkDest(u);
    if (this.lookupDest(svc, u.addr, u.port)) throw new IpvsError('EEXIST', 'Destination already exists');
    // ip_vs_trash_get_dest: the same dest (same svc, addr, port) comes back with its counters.
    let dest: IpvsDest | undefined;
    this.trashRun(this.env.now());
    // (The kernel matches the dest's virtual service by fwmark or protocol/vaddr/vport, so a dest
    // of a deleted and re-added service comes back too.)
    const i = this.trash.findIndex((d) => d.addr === u.addr && d.port === u.port && d.svc.fwmark === svc.fwmark
      && (svc.fwmark !== 0 || (d.svc.addr === svc.addr && d.svc.port === svc.port && d.svc.protocol === svc.protocol)));
    if (i >= 0) {
      dest = this.trash[i];
      this.trash.splice(i, 1);
      dest.trashHook = null;
      dest.idleStart = -1;
    } else {
      dest = new IpvsDest(svc, u.addr, u.port);
    }
    this.updateDest(svc, dest, u, true);
    return dest;
  }

  editDest(svc: IpvsService, u: DestSpec): IpvsDest {
    checkDest(u);
    const dest = this.lookupDest(svc, u.addr, u.port);
    if (!dest) throw new IpvsError('ENOENT', 'No such destination');
    this.updateDest(svc, dest, u, false);
    return dest;
  }

  delDest(svc: IpvsService, addr: number, port: number): void {
    const dest = this.lookupDest(svc, addr, port);
    if (!dest) throw new IpvsError('ENOENT', 'No such destination');
    this.unlinkDest(svc, dest, true);
  }

  /** __ip_vs_update_dest. */
  private updateDest(svc: IpvsService, dest: IpvsDest, u: DestSpec, add: boolean): void {
    // Keep the last non-0 weight (mh builds its table from it, so a quiesced dest keeps its slots).
    if (add || u.weight !== 0) dest.lastWeight = u.weight;
    dest.weight = u.weight;
    dest.connFlags = (u.connFlags & CONN_F.DEST_MASK) | CONN_F.INACTIVE;
    // IP_VS_CONN_F_NOOUTPUT unless NAT: replies never come back through the director.
    if ((dest.connFlags & CONN_F.FWD_MASK) !== CONN_F.MASQ) dest.connFlags |= CONN_F.NOOUTPUT;
    dest.flags |= DEST_F.AVAILABLE;
    if (u.uThreshold === 0 || u.uThreshold > dest.uThreshold) dest.flags &= ~DEST_F.OVERLOAD;
    dest.uThreshold = u.uThreshold;
    dest.lThreshold = u.lThreshold;
    if (add) {
      dest.svc = svc;
      svc.dests.unshift(dest);
      svc.sched?.addDest?.(svc, dest);
    } else {
      svc.sched?.updDest?.(svc, dest);
    }
  }

  /**
   * __ip_vs_del_dest + __ip_vs_unlink_dest: the dest leaves the list (the
   * scheduler told first), loses AVAILABLE, and goes to the trash.
   */
  private unlinkDest(svc: IpvsService, dest: IpvsDest, svcUpd: boolean): void {
    dest.flags &= ~DEST_F.AVAILABLE;
    const at = svc.dests.indexOf(dest);
    svc.dests.splice(at, 1);
    // del_dest runs once the dest is unlinked (rr moves its position to the predecessor).
    if (svcUpd) svc.sched?.delDest?.(svc, dest, at);
    const now = this.env.now();
    this.trashRun(now);
    if (this.trash.length === 0) this.trashNext = now + DEST_TRASH_PERIOD / 2;
    dest.idleStart = -1;
    dest.trashHook = () => this.trashRun(this.env.now());
    this.trash.push(dest);
  }

  /**
   * Replays the trash timer's runs (ip_vs_dest_trash_expire) due by `now`,
   * after the schedulers' own periodic work (lblc/lblcr GC drops references)
   * is brought up to now.
   */
  trashRun(now: number): void {
    if (this.trashBusy) return;
    this.trashBusy = true;
    if (this.trashNext >= 0 && this.trashNext <= now) for (const s of this.all()) s.sched?.catchUp?.(s);
    while (this.trashNext >= 0 && this.trashNext <= now) {
      const t = this.trashNext;
      for (let i = 0; i < this.trash.length; i++) {
        const d = this.trash[i];
        if (d.refs > 0) continue;
        if (d.idleStart >= 0) {
          if (t < d.idleStart + DEST_TRASH_PERIOD) continue;
        } else {
          d.idleStart = t;
          continue;
        }
        d.trashHook = null;
        this.trash.splice(i--, 1);
      }
      this.trashNext = this.trash.length ? t + DEST_TRASH_PERIOD / 2 : -1;
    }
    this.trashBusy = false;
  }
}

function checkKey(k: SvcKey): void {
  if (k.fwmark) return;
  if (k.protocol !== IPPROTO_TCP && k.protocol !== IPPROTO_UDP && k.protocol !== IPPROTO_SCTP) {
    throw new IpvsError('EFAULT', 'Invalid protocol');
  }
}

function checkDest(u: DestSpec): void {
  if (u.weight < 0 || u.weight > 0x7fffffff) throw new IpvsError('ERANGE', 'Server weight less than zero');
  if (u.lThreshold > u.uThreshold) throw new IpvsError('ERANGE', 'Lower threshold is higher than upper threshold');
}
