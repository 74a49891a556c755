/**
 * The IPVS connection table (net/netfilter/ipvs/ip_vs_conn.c).
 *
 * - One hash table of ip_vs_conn_tab_size = 4096 buckets (conn_tab_bits 12,
 *   the "size=4096" ipvsadm prints). A connection is hashed once, by its
 *   client side: jhash_3words(caddr, cport, protocol) (the words in network
 *   order as the kernel reads them). The kernel seeds it with a random
 *   ip_vs_conn_rnd and folds in the netns pointer; both are 0 here, so the
 *   bucket (and so the `/proc/net/ip_vs_conn` order) is reproducible. New
 *   entries go to the head of their bucket (hlist_add_head_rcu).
 * - Lookups: "in" (a request: caddr/cport/vaddr/vport/protocol, the
 *   NO_CPORT rule), "out" (a reply, seen from the real server: it matches
 *   daddr/dport and caddr/cport, found in the client's bucket), templates
 *   (persistence: TEMPLATE flag, cport 0).
 * - Binding to a dest (ip_vs_bind_dest): the dest's connection flags are
 *   copied (forwarding method, INACTIVE, NOOUTPUT), inactconns/activeconns
 *   or persistconns grow, and the dest is marked OVERLOAD once active +
 *   inactive reach its upper threshold; unbinding clears OVERLOAD below the
 *   lower threshold (or below 3/4 of the upper one when there is no lower).
 * - Timers on the virtual clock: a connection expires `timeout` after its
 *   last packet (ip_vs_conn_put restarts the timer); one event per
 *   connection, re-armed lazily when the expiry moved. A connection that
 *   still controls others (a persistence template in use) is re-armed for
 *   60 s instead (expire_later). Expiring a connection releases its control
 *   reference; an unused controller whose own timeout is 0 goes too.
 */
import { ipToString } from '../wire/bytes.js';
import { protoName, stateName } from './proto.js';
import { CONN_F, DEST_F, IPPROTO_UDP, destPut, type IpvsDest, type IpvsService, type SchedEnv } from './types.js';

export const CONN_TAB_BITS = 12;
export const CONN_TAB_SIZE = 1 << CONN_TAB_BITS;
const CONN_TAB_MASK = CONN_TAB_SIZE - 1;

/** The initial timeout of a new connection before its first state transition (ip_vs_conn_new: 3*HZ). */
export const CONN_NEW_TIMEOUT = 3e9;
/** expire_later: a connection that still controls others, or is referenced, waits 60 s more. */
const EXPIRE_LATER = 60e9;

function rol32(x: number, s: number): number {
  return ((x << s) | (x >>> (32 - s))) >>> 0;
}

/** jhash_3words (include/linux/jhash.h: __jhash_nwords with initval + JHASH_INITVAL + (3 << 2)). */
export function jhash3(a: number, b: number, c: number, initval: number): number {
  const iv = (initval + 0xdeadbeef + (3 << 2)) >>> 0;
  a = (a + iv) >>> 0; b = (b + iv) >>> 0; c = (c + iv) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol32(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol32(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol32(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol32(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol32(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol32(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol32(b, 24)) >>> 0;
  return c;
}

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

function bswap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/** ip_vs_conn_hashkey (IPv4; seed and netns term 0): the words as a little-endian CPU loads __be32/__be16. */
export function connHashkey(protocol: number, addr: number, port: number): number {
  return jhash3(bswap32(addr >>> 0), bswap16(port), protocol, 0) & CONN_TAB_MASK;
}

const NONE: readonly IpvsConn[] = [];

export class IpvsConn {
  /** IP_VS_CONN_F_*. */
  flags = 0;
  state = 0;
  oldState = 0;
  /** Current timeout (ns), restarted by every packet. */
  timeout = CONN_NEW_TIMEOUT;
  /** When it expires (virtual ns). */
  expires = 0;
  dest: IpvsDest | null = null;
  /** The template that controls it (persistence), and how many it controls. */
  control: IpvsConn | null = null;
  nControl = 0;
  /** Whether it is in the hash table. */
  hashed = false;
  /** Whether an expiry event is pending. */
  armed = false;
  /** Deleted (freed). */
  dead = false;
  /** The service it was scheduled by (for traces and -m ipvs), when known. */
  svc: IpvsService | null = null;
  /** The packet mark it was created with (fwmark services). */
  fwmark = 0;
  bucket = -1;

  constructor(
    readonly protocol: number,
    public caddr: number,
    public cport: number,
    public vaddr: number,
    public vport: number,
    public daddr: number,
    public dport: number,
  ) {}

  get template(): boolean { return (this.flags & CONN_F.TEMPLATE) !== 0; }
  get fwd(): number { return this.flags & CONN_F.FWD_MASK; }
}

export interface ConnEvents {
  /** A connection left the table (for conntrack cleanup and traces). */
  expired(cp: IpvsConn): void;
}

export class ConnTable {
  /** The buckets, each made on first use (a node per namespace would otherwise carry 4096 empty arrays). */
  readonly tab: (IpvsConn[] | undefined)[] = new Array<IpvsConn[] | undefined>(CONN_TAB_SIZE);
  count = 0;
  /** Connections with IP_VS_CONN_F_NO_CPORT (ip_vs_conn_no_cport_cnt). */
  noCport = 0;

  constructor(private readonly env: SchedEnv, private readonly events: ConnEvents) {}

  hash(cp: IpvsConn): void {
    if (cp.hashed) return;
    cp.bucket = connHashkey(cp.protocol, cp.caddr, cp.cport);
    (this.tab[cp.bucket] ??= []).unshift(cp);
    cp.hashed = true;
  }

  unhash(cp: IpvsConn): boolean {
    if (!cp.hashed) return false;
    const b = this.tab[cp.bucket]!;
    b.splice(b.indexOf(cp), 1);
    cp.hashed = false;
    return true;
  }

  /** __ip_vs_conn_in_get: a request's connection. */
  inGet(protocol: number, caddr: number, cport: number, vaddr: number, vport: number): IpvsConn | null {
    for (const cp of this.tab[connHashkey(protocol, caddr, cport)] ?? NONE) {
      if (cp.cport === cport && cp.vport === vport && cp.caddr === caddr && cp.vaddr === vaddr
        && ((cport === 0) !== ((cp.flags & CONN_F.NO_CPORT) === 0)) && cp.protocol === protocol) return cp;
    }
    if (this.noCport > 0 && cport !== 0) return this.inGet(protocol, caddr, 0, vaddr, vport);
    return null;
  }

  /**
   * ip_vs_conn_out_get: a reply from (saddr:sport) to (daddr:dport) — the real
   * server side — found in the client's bucket.
   */
  outGet(protocol: number, saddr: number, sport: number, daddr: number, dport: number): IpvsConn | null {
    for (const cp of this.tab[connHashkey(protocol, daddr, dport)] ?? NONE) {
      if (cp.cport === dport && cp.dport === sport && cp.caddr === daddr && cp.daddr === saddr && cp.protocol === protocol) return cp;
    }
    return null;
  }

  /** ip_vs_ct_in_get: a persistence template. */
  ctInGet(protocol: number, caddr: number, vaddr: number, vport: number): IpvsConn | null {
    for (const cp of this.tab[connHashkey(protocol, caddr, 0)] ?? NONE) {
      if (cp.caddr === caddr && cp.vaddr === vaddr && cp.vport === vport && cp.cport === 0
        && cp.flags & CONN_F.TEMPLATE && cp.protocol === protocol) return cp;
    }
    return null;
  }

  /**
   * ip_vs_conn_new: a connection to `dest` (its forwarding flags copied, the
   * dest's counters bound), hashed, with the initial 3 s timeout.
   */
  newConn(protocol: number, caddr: number, cport: number, vaddr: number, vport: number, daddr: number, dport: number, flags: number, dest: IpvsDest | null, fwmark: number, nfct: boolean): IpvsConn {
    const cp = new IpvsConn(protocol, caddr, cport, vaddr, vport, daddr, dport);
    cp.flags = flags;
    cp.fwmark = fwmark;
    if (cport === 0 && !(flags & CONN_F.TEMPLATE)) {
      cp.flags |= CONN_F.NO_CPORT;
      this.noCport++;
    }
    this.bindDest(cp, dest);
    if (nfct) cp.flags |= CONN_F.NFCT;
    this.hash(cp);
    this.count++;
    return cp;
  }

  /** ip_vs_bind_dest. */
  private bindDest(cp: IpvsConn, dest: IpvsDest | null): void {
    if (!dest) return;
    dest.refs++;
    let cf = dest.connFlags;
    if (cp.protocol !== IPPROTO_UDP) cf &= ~CONN_F.ONE_PACKET;
    cp.flags |= cf;
    cp.dest = dest;
    if (!(cp.flags & CONN_F.TEMPLATE)) {
      if (!(cp.flags & CONN_F.INACTIVE)) dest.activeConns++;
      else dest.inactConns++;
    } else {
      dest.persistConns++;
    }
    if (dest.uThreshold !== 0 && dest.activeConns + dest.inactConns >= dest.uThreshold) dest.flags |= DEST_F.OVERLOAD;
  }

  /** ip_vs_unbind_dest. */
  private unbindDest(cp: IpvsConn): void {
    const dest = cp.dest;
    if (!dest) return;
    if (!(cp.flags & CONN_F.TEMPLATE)) {
      if (cp.flags & CONN_F.INACTIVE) dest.inactConns--;
      else dest.activeConns--;
    } else {
      dest.persistConns--;
    }
    const total = dest.activeConns + dest.inactConns;
    if (dest.lThreshold !== 0) {
      if (total < dest.lThreshold) dest.flags &= ~DEST_F.OVERLOAD;
    } else if (dest.uThreshold !== 0) {
      if (total * 4 < dest.uThreshold * 3) dest.flags &= ~DEST_F.OVERLOAD;
    } else {
      dest.flags &= ~DEST_F.OVERLOAD;
    }
    destPut(dest);
  }

  /** ip_vs_control_add: `cp` is controlled by the template `ct`. */
  controlAdd(cp: IpvsConn, ct: IpvsConn): void {
    cp.control = ct;
    ct.nControl++;
  }

  /**
   * ip_vs_conn_put: the packet is done with it; the timer restarts with the
   * current timeout (ONE_PACKET connections expire at once).
   */
  put(cp: IpvsConn): void {
    const now = this.env.now();
    cp.expires = now + (cp.flags & CONN_F.ONE_PACKET ? 0 : cp.timeout);
    this.arm(cp);
  }

  private arm(cp: IpvsConn): void {
    if (cp.armed || cp.dead) return;
    cp.armed = true;
    this.env.timer(Math.max(0, cp.expires - this.env.now()), () => {
      cp.armed = false;
      if (cp.dead) return;
      if (cp.expires > this.env.now()) { this.arm(cp); return; }
      this.expire(cp);
    });
  }

  /** ip_vs_conn_expire_now: expire at the next tick (now). */
  expireNow(cp: IpvsConn): void {
    if (cp.dead) return;
    cp.expires = this.env.now();
    if (!cp.armed) this.arm(cp);
  }

  /**
   * ip_vs_conn_expire: a controller waits 60 s more; otherwise the
   * connection is unlinked, releases its controller (dropping it when its
   * timeout is 0 and nothing else uses it), and unbinds from its dest.
   */
  expire(cp: IpvsConn): void {
    if (cp.dead) return;
    if (cp.nControl > 0) {
      cp.timeout = EXPIRE_LATER;
      cp.expires = this.env.now() + EXPIRE_LATER;
      this.arm(cp);
      return;
    }
    this.unhash(cp);
    cp.dead = true;
    const ct = cp.control;
    if (ct) {
      const hasRef = cp.timeout === 0;
      cp.control = null;
      ct.nControl--;
      if (hasRef && ct.nControl === 0 && (!(ct.flags & CONN_F.TEMPLATE) || ct.state !== 1)) this.del(ct);
    }
    this.events.expired(cp);
    this.unbindDest(cp);
    if (cp.flags & CONN_F.NO_CPORT) this.noCport--;
    this.count--;
  }

  /** ip_vs_conn_del: expires it now, dropping its controller chain too (timeout 0). */
  del(cp: IpvsConn): void {
    if (cp.dead) return;
    if (cp.control) cp.timeout = 0;
    cp.expires = this.env.now();
    this.expire(cp);
  }

  /** Every live connection in table order (bucket 0 up, newest first in a bucket). */
  *all(): IterableIterator<IpvsConn> {
    for (let i = 0; i < CONN_TAB_SIZE; i++) {
      const b = this.tab[i];
      if (b) for (const cp of b) yield cp;
    }
  }

  /**
   * /proc/net/ip_vs_conn as ip_vs_conn_seq_show prints it (IPv4):
   * "%-3s %08X %04X %08X %04X %08X %04X %-11s %7u" with the seconds left
   * (msecs / 1000).
   */
  procText(now: number): string {
    let s = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n';
    for (const cp of this.all()) {
      const left = Math.max(0, Math.floor((cp.expires - now) / 1e6));
      s += `${pad(protoName(cp.protocol), 3)} ${hex(cp.caddr, 8)} ${hex(cp.cport, 4)} ${hex(cp.vaddr, 8)} ${hex(cp.vport, 4)} ${hex(cp.daddr, 8)} ${hex(cp.dport, 4)} ${pad(stateName(cp.protocol, cp.state, cp.template), 11)} ${String(Math.floor(left / 1000)).padStart(7)}\n`;
    }
    return s;
  }

  /**
   * `ipvsadm -Lnc` (ipvsadm 1.31 list_conn/print_conn over /proc/net/ip_vs_conn):
   * "pro expire state source virtual destination", expire as mm:ss.
   */
  listText(now: number): string {
    let s = 'IPVS connection entries\n';
    s += `pro expire ${pad('state', 11)} ${pad('source', 18)} ${pad('virtual', 18)} destination\n`;
    for (const cp of this.all()) {
      const secs = Math.floor(Math.max(0, Math.floor((cp.expires - now) / 1e6)) / 1000);
      const exp = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
      // A fwmark template's virtual address is the mark.
      s += `${pad(protoName(cp.protocol), 3)} ${pad(exp, 6)} ${pad(stateName(cp.protocol, cp.state, cp.template), 11)} ${pad(ap(cp.caddr, cp.cport), 18)} ${pad(ap(cp.vaddr, cp.vport), 18)} ${ap(cp.daddr, cp.dport)}\n`;
    }
    return s;
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function hex(v: number, n: number): string {
  return (v >>> 0).toString(16).toUpperCase().padStart(n, '0');
}

function ap(addr: number, port: number): string {
  return `${ipToString(addr >>> 0)}:${port}`;
}
