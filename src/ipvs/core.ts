/**
 * One namespace's IPVS (struct netns_ipvs): the control plane (ctl.ts), the
 * sysctls, and the ipvsadm face the rest of podwire uses (index.ts's `Ipvs`),
 * each change logged on the machine as the ipvsadm command it stands for.
 */
import type { Node } from '../kernel/node.js';
import type { Netns } from '../kernel/netns.js';
import type { Skb } from '../kernel/skb.js';
import { ipToString } from '../wire/bytes.js';
import { IpvsCtl, type DestSpec, type SvcKey, type SvcSpec } from './ctl.js';
import { ConnTable } from './conn.js';
import { IpvsDataPath } from './datapath.js';
import { estCatchUp } from './estimator.js';
import { listText } from './list.js';
import { defaultTimeouts, type ProtoTimeouts } from './proto.js';
import { IpvsStats } from './types.js';
import { setIpvsMatchProvider } from '../netfilter/matches/ipvs.js';
import { IpvsError } from './errors.js';
import { CONN_F, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SVC_F, type IpvsService, type SchedEnv } from './types.js';
import { schedFlagNames } from './flags.js';
import type { Ipvs, IpvsDestOpts, IpvsForward, IpvsProtocol, IpvsServiceInfo, IpvsServiceKey, IpvsServiceOpts } from './index.js';

/** The net.ipv4.vs.* sysctls a fresh netns gets when ip_vs loads (ip_vs_ctl.c vs_vars defaults). */
export const VS_SYSCTL_DEFAULTS: Record<string, string> = {
  'net.ipv4.vs.am_droprate': '10',
  'net.ipv4.vs.amemthresh': '1024',
  'net.ipv4.vs.backup_only': '0',
  'net.ipv4.vs.cache_bypass': '0',
  'net.ipv4.vs.conn_reuse_mode': '1',
  'net.ipv4.vs.conntrack': '0',
  'net.ipv4.vs.drop_entry': '0',
  'net.ipv4.vs.drop_packet': '0',
  'net.ipv4.vs.expire_nodest_conn': '0',
  'net.ipv4.vs.expire_quiescent_template': '0',
  'net.ipv4.vs.ignore_tunneled': '0',
  'net.ipv4.vs.nat_icmp_send': '0',
  'net.ipv4.vs.pmtu_disc': '1',
  'net.ipv4.vs.schedule_icmp': '0',
  'net.ipv4.vs.secure_tcp': '0',
  'net.ipv4.vs.sloppy_sctp': '0',
  'net.ipv4.vs.sloppy_tcp': '0',
  'net.ipv4.vs.snat_reroute': '1',
  'net.ipv4.vs.sync_version': '1',
  'net.ipv4.vs.lblc_expiration': '86400',
  'net.ipv4.vs.lblcr_expiration': '86400',
};

const PROTO_NUM: Record<IpvsProtocol, number> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP };
const PROTO_NAME: Record<number, IpvsProtocol> = { [IPPROTO_TCP]: 'TCP', [IPPROTO_UDP]: 'UDP', [IPPROTO_SCTP]: 'SCTP' };
const FWD_FLAG: Record<IpvsForward, number> = { masq: CONN_F.MASQ, droute: CONN_F.DROUTE, tunnel: CONN_F.TUNNEL };

export function svcKeyOf(k: IpvsServiceKey): SvcKey {
  if ('fwmark' in k) {
    if (!Number.isInteger(k.fwmark) || k.fwmark <= 0 || k.fwmark > 0xffffffff) throw new IpvsError('EINVAL', `invalid fwmark ${k.fwmark}`);
    return { fwmark: k.fwmark >>> 0, protocol: 0, addr: 0, port: 0 };
  }
  const protocol = PROTO_NUM[k.protocol];
  if (protocol === undefined) throw new IpvsError('EFAULT', `invalid protocol ${String(k.protocol)}`);
  if (!Number.isInteger(k.port) || k.port < 0 || k.port > 65535) throw new IpvsError('EINVAL', `invalid port ${k.port}`);
  return { fwmark: 0, protocol, addr: k.addr >>> 0, port: k.port };
}

export function keyOfSvc(s: IpvsService): IpvsServiceKey {
  return s.fwmark ? { fwmark: s.fwmark } : { protocol: PROTO_NAME[s.protocol], addr: s.addr, port: s.port };
}

/** The persistence netmask as a mask from a prefix length (ipvsadm -M for IPv4 is a dotted mask). */
function maskOf(len: number): number {
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new IpvsError('EINVAL', `invalid netmask /${len}`);
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

function lenOf(mask: number): number {
  let n = 0;
  for (let m = mask >>> 0; m & 0x80000000; m = (m << 1) >>> 0) n++;
  return n;
}

/** ipvsadm's service argument: `-t A:P`, `-u A:P`, `--sctp-service A:P`, `-f M`. */
export function svcArg(k: SvcKey): string {
  if (k.fwmark) return `-f ${k.fwmark}`;
  const ap = `${ipToString(k.addr)}:${k.port}`;
  return k.protocol === IPPROTO_TCP ? `-t ${ap}` : k.protocol === IPPROTO_UDP ? `-u ${ap}` : `--sctp-service ${ap}`;
}

export class IpvsNs {
  readonly ctl: IpvsCtl;
  readonly api: Ipvs;
  readonly env: SchedEnv;
  readonly conns: ConnTable;
  readonly dp: IpvsDataPath;
  /** The protocol timeouts (ipvsadm --set). */
  readonly timeouts: ProtoTimeouts = defaultTimeouts();
  /** ipvs->tot_stats. */
  readonly totals = new IpvsStats();
  /** When the module was loaded here (the estimator's tick origin). */
  readonly loadedAt: number;

  constructor(readonly node: Node, readonly ns: Netns) {
    const world = node.world;
    this.env = {
      now: () => world.now,
      timer: (delay, fn) => {
        let live = true;
        world.sched.after(delay, () => { if (live) fn(); });
        return () => { live = false; };
      },
      sysctl: (name) => this.sysctl(name),
    };
    for (const [k, v] of Object.entries(VS_SYSCTL_DEFAULTS)) if (!ns.sysctls.has(k)) ns.sysctls.set(k, v);
    if (!loadedOn.has(node)) {
      loadedOn.add(node);
      node.logCommand('host', '# modprobe ip_vs: the net.ipv4.vs.* sysctls appear in every network namespace');
    }
    this.loadedAt = world.now;
    this.ctl = new IpvsCtl(this.env);
    this.dp = new IpvsDataPath(this);
    this.conns = new ConnTable(this.env, {
      expired: (cp) => {
        this.dp.dropConntrack(cp);
        if (world.trace.on) world.event(node.name, ns.name, '', null, 'ipvs.conn', `${this.dp.connText(cp)}${cp.template ? ' template' : ''} expired`);
      },
    });
    this.api = this.makeApi();
  }

  /** A net.ipv4.vs.* sysctl as a number. */
  sysctl(name: string): number {
    return Number(this.ns.sysctl(`net.ipv4.vs.${name}`)) || 0;
  }

  private log(cmd: string): void {
    this.node.logCommand(this.ns.name, cmd);
  }

  private svcSpec(o: IpvsServiceOpts): SvcSpec {
    if (typeof o.scheduler !== 'string' || o.scheduler === '') throw new IpvsError('EINVAL', 'missing scheduler');
    const flags = (o.flags ?? 0) >>> 0;
    if (flags & ~(SVC_F.PERSISTENT | SVC_F.ONEPACKET | SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3)) throw new IpvsError('EINVAL', `invalid service flags 0x${flags.toString(16)}`);
    const timeout = o.timeout ?? (flags & SVC_F.PERSISTENT ? 300 : 0);
    if (!Number.isInteger(timeout) || timeout < 0) throw new IpvsError('EINVAL', `invalid timeout ${timeout}`);
    return { scheduler: o.scheduler, flags, timeout: timeout * 1e9, netmask: maskOf(o.netmask ?? 32) };
  }

  private destSpec(d: IpvsDestOpts): DestSpec {
    if (!Number.isInteger(d.port) || d.port < 0 || d.port > 65535) throw new IpvsError('EINVAL', `invalid port ${d.port}`);
    if (!Number.isInteger(d.weight)) throw new IpvsError('EINVAL', `invalid weight ${d.weight}`);
    const fwd = d.fwd ?? 'masq';
    const connFlags = FWD_FLAG[fwd];
    if (connFlags === undefined) throw new IpvsError('EINVAL', `invalid forwarding method ${String(fwd)}`);
    return { addr: d.addr >>> 0, port: d.port, weight: d.weight, connFlags, uThreshold: d.uThreshold ?? 0, lThreshold: d.lThreshold ?? 0 };
  }

  private svcCmd(op: '-A' | '-E', k: SvcKey, s: SvcSpec): string {
    let c = `ipvsadm ${op} ${svcArg(k)} -s ${s.scheduler}`;
    if (s.flags & SVC_F.PERSISTENT) {
      c += ` -p ${s.timeout / 1e9}`;
      if (s.netmask !== 0xffffffff) c += ` -M ${ipToString(s.netmask)}`;
    }
    if (s.flags & SVC_F.ONEPACKET) c += ' -o';
    const names = schedFlagNames(s.scheduler, s.flags);
    if (names.length) c += ` -b ${names.join(',')}`;
    return c;
  }

  private destCmd(op: '-a' | '-e', k: SvcKey, d: DestSpec): string {
    const fwd = d.connFlags === CONN_F.DROUTE ? '-g' : d.connFlags === CONN_F.TUNNEL ? '-i' : '-m';
    let c = `ipvsadm ${op} ${svcArg(k)} -r ${ipToString(d.addr)}${d.port ? `:${d.port}` : ''} ${fwd} -w ${d.weight}`;
    if (d.uThreshold) c += ` -x ${d.uThreshold}`;
    if (d.lThreshold) c += ` -y ${d.lThreshold}`;
    return c;
  }

  private makeApi(): Ipvs {
    const ctl = this.ctl;
    return {
      addService: (key, opts) => {
        const k = svcKeyOf(key), s = this.svcSpec(opts);
        ctl.addService(k, s);
        // ip_vs_register_hooks: with the first service.
        this.dp.register();
        this.log(this.svcCmd('-A', k, s));
      },
      editService: (key, opts) => {
        const k = svcKeyOf(key), s = this.svcSpec(opts);
        ctl.editService(k, s);
        this.log(this.svcCmd('-E', k, s));
      },
      delService: (key) => {
        const k = svcKeyOf(key);
        ctl.delService(k, () => this.dp.destGone());
        if (ctl.count === 0) this.dp.unregister();
        this.log(`ipvsadm -D ${svcArg(k)}`);
      },
      addDest: (key, d) => {
        const k = svcKeyOf(key), u = this.destSpec(d);
        ctl.addDest(ctl.mustFind(k), u);
        this.log(this.destCmd('-a', k, u));
      },
      editDest: (key, d) => {
        const k = svcKeyOf(key), u = this.destSpec(d);
        ctl.editDest(ctl.mustFind(k), u);
        this.log(this.destCmd('-e', k, u));
      },
      delDest: (key, addr, port) => {
        const k = svcKeyOf(key);
        ctl.delDest(ctl.mustFind(k), addr >>> 0, port);
        this.dp.destGone();
        this.log(`ipvsadm -d ${svcArg(k)} -r ${ipToString(addr >>> 0)}${port ? `:${port}` : ''}`);
      },
      services: () => ctl.all().map((s) => this.info(s)),
      hasService: (key) => ctl.find(svcKeyOf(key)) !== undefined,
      list: (o) => this.listText(o ?? {}),
      listConns: () => this.listConnsText(),
    };
  }

  info(s: IpvsService): IpvsServiceInfo {
    const opts: IpvsServiceInfo['opts'] = { scheduler: s.schedName, flags: s.flags & ~SVC_F.HASHED };
    if (s.flags & SVC_F.PERSISTENT) {
      opts.timeout = s.timeout / 1e9;
      opts.netmask = lenOf(s.netmask);
    }
    return {
      key: keyOfSvc(s),
      opts,
      dests: s.dests.map((d) => {
        const m = d.connFlags & CONN_F.FWD_MASK;
        const fwd: IpvsForward = m === CONN_F.DROUTE ? 'droute' : m === CONN_F.TUNNEL ? 'tunnel' : 'masq';
        return {
          addr: d.addr, port: d.port, weight: d.weight, fwd,
          uThreshold: d.uThreshold, lThreshold: d.lThreshold,
          activeConns: d.activeConns, inactConns: d.inactConns, persistConns: d.persistConns,
        };
      }),
    };
  }

  /** `ipvsadm -Ln` text (rates brought up to now first). */
  listText(o: { stats?: boolean; rate?: boolean }): string {
    const now = this.env.now();
    const svcs = this.ctl.all();
    if (o.rate) {
      for (const s of svcs) {
        estCatchUp(s.stats, this.loadedAt, now);
        for (const d of s.dests) estCatchUp(d.stats, this.loadedAt, now);
      }
    }
    return listText(svcs, o);
  }

  /** `ipvsadm -Lnc` text. */
  listConnsText(): string {
    return this.conns.listText(this.env.now());
  }

  /** `cat /proc/net/ip_vs_conn`. */
  procConnText(): string {
    return this.conns.procText(this.env.now());
  }
}

const states = new WeakMap<Netns, IpvsNs>();
/** Machines where the module is loaded (logged once). */
const loadedOn = new WeakSet<Node>();

export function ipvsNsOf(node: Node, netns: string): IpvsNs {
  const ns = node.ns(netns);
  let st = states.get(ns);
  if (!st) {
    st = new IpvsNs(node, ns);
    states.set(ns, st);
    setIpvsMatchProvider(matchProvider);
  }
  return st;
}

/** What xt_ipvs asks of the namespace's IPVS. */
const matchProvider = {
  property(ns: Netns, skb: Skb): boolean {
    const v = states.get(ns);
    return v !== undefined && v.dp.property.has(skb);
  },
  connOf(ns: Netns, _skb: Skb, proto: number, saddr: number, sport: number, daddr: number, dport: number) {
    const v = states.get(ns);
    if (!v) return null;
    // ip_vs_conn_out_get with the packet read inversely: its destination is the real server.
    const cp = v.conns.outGet(proto, daddr, dport, saddr, sport);
    if (!cp) return null;
    return { vaddr: cp.vaddr, vport: cp.vport, fwdMethod: cp.fwd, ctlVport: cp.control ? cp.control.vport : -1 };
  },
};

/** The namespace's IPVS if it was ever loaded. */
export function ipvsNsIfAny(ns: Netns): IpvsNs | undefined {
  return states.get(ns);
}
