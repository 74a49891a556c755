/**
 * `ipvsadm -Ln` [--stats | --rate] text, as ipvsadm 1.31 prints it
 * (ipvsadm.c list_all / print_title / print_service_entry, checked against
 * the format strings of Debian's ipvsadm 1:1.31-1 binary):
 *
 *   IP Virtual Server version 1.2.1 (size=4096)
 *   Prot LocalAddress:Port Scheduler Flags
 *     -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
 *   TCP  10.96.0.10:80 rr
 *     -> 10.244.1.5:8080              Masq    1      0          0
 *
 * - services sorted by ipvs_cmp_services (fwmark, af, protocol, address,
 *   port; each a C int difference, so addresses compare by the signed
 *   32-bit difference), destinations by ipvs_cmp_dests (address, port),
 *   with glibc's stable merge sort;
 * - the service name "%-4s %s" (protocol, address:port) or "FWM  %d",
 *   cut at 33 characters; the scheduler; " (flags)" when a SCHED bit is set
 *   (sh-fallback,sh-port / mh-… / flag-1,flag-2,flag-3); " persistent T"
 *   [" mask M"]; " ops" (after the persistence part, also without it) —
 *   the order checked in the binary's print_service_entry;
 * - a destination "  -> %-28s %-7s %-6d %-10u %-10u" (name cut at 28);
 * - --stats/--rate: "%-33s" then print_largenum columns (%9llu, or K/M/G/T
 *   with %8llu), the rate's dest lines "%8u" for cps/pps.
 */
import { ipToString } from '../wire/bytes.js';
import { schedFlagNames } from './flags.js';
import { CONN_F, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SVC_F, type IpvsDest, type IpvsService, type IpvsStats } from './types.js';
import { CONN_TAB_SIZE } from './conn.js';

/** IP_VS_VERSION_CODE 0x010201. */
export const IPVS_VERSION = '1.2.1';

/** A C int difference of two unsigned values (r = a - b as int). */
function cdiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function cmpServices(a: IpvsService, b: IpvsService): number {
  let r = cdiff(a.fwmark, b.fwmark);
  if (r) return r;
  r = a.protocol - b.protocol;
  if (r) return r;
  r = cdiff(a.addr, b.addr);
  if (r) return r;
  return a.port - b.port;
}

export function cmpDests(a: IpvsDest, b: IpvsDest): number {
  const r = cdiff(a.addr, b.addr);
  if (r) return r;
  return a.port - b.port;
}

/** glibc's qsort is a stable merge sort for these sizes (msort). */
function stableSort<T>(xs: T[], cmp: (a: T, b: T) => number): T[] {
  return xs.map((x, i) => [x, i] as const).sort((p, q) => cmp(p[0], q[0]) || p[1] - q[1]).map((p) => p[0]);
}

export function fwdName(connFlags: number): string {
  switch (connFlags & CONN_F.FWD_MASK) {
    case CONN_F.MASQ: return 'Masq';
    case CONN_F.LOCALNODE: return 'Local';
    case CONN_F.TUNNEL: return 'Tunnel';
    case CONN_F.DROUTE: return 'Route';
    default: return '(null)';
  }
}

function protoLabel(p: number): string {
  return p === IPPROTO_TCP ? 'TCP' : p === IPPROTO_UDP ? 'UDP' : p === IPPROTO_SCTP ? 'SCTP' : 'UNKNOWN';
}

export function svcName(s: IpvsService): string {
  if (s.fwmark) return `FWM  ${s.fwmark}`;
  return `${protoLabel(s.protocol).padEnd(4)} ${ipToString(s.addr)}:${s.port}`.slice(0, 33);
}

/** print_largenum without --exact. */
export function largenum(i: number): string {
  if (i < 100000000) return String(i).padStart(9);
  if (i < 1000000000) return `${String(Math.floor(i / 1000)).padStart(8)}K`;
  if (i < 100000000000) return `${String(Math.floor(i / 1000000)).padStart(8)}M`;
  if (i < 100000000000000) return `${String(Math.floor(i / 1000000000)).padStart(8)}G`;
  return `${String(Math.floor(i / 1000000000000)).padStart(8)}T`;
}

/** The rates ipvsadm reads (ip_vs_read_estimator: cps/pps scaled by 2^10, bps by 2^5, rounded). */
export function rates(st: IpvsStats): { cps: number; inpps: number; outpps: number; inbps: number; outbps: number } {
  return {
    cps: Math.floor((st.cpsE + 0x1ff) / 1024),
    inpps: Math.floor((st.inppsE + 0x1ff) / 1024),
    outpps: Math.floor((st.outppsE + 0x1ff) / 1024),
    inbps: Math.floor((st.inbpsE + 0xf) / 32),
    outbps: Math.floor((st.outbpsE + 0xf) / 32),
  };
}

export function listText(services: IpvsService[], o: { stats?: boolean; rate?: boolean }): string {
  let s = `IP Virtual Server version ${IPVS_VERSION} (size=${CONN_TAB_SIZE})\n`;
  if (o.stats) {
    s += `${'Prot LocalAddress:Port'.padEnd(33)} ${'Conns'.padStart(8)} ${'InPkts'.padStart(8)} ${'OutPkts'.padStart(8)} ${'InBytes'.padStart(8)} ${'OutBytes'.padStart(8)}\n  -> RemoteAddress:Port\n`;
  } else if (o.rate) {
    s += `${'Prot LocalAddress:Port'.padEnd(33)} ${'CPS'.padStart(8)} ${'InPPS'.padStart(8)} ${'OutPPS'.padStart(8)} ${'InBPS'.padStart(8)} ${'OutBPS'.padStart(8)}\n  -> RemoteAddress:Port\n`;
  } else {
    s += 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  }
  for (const svc of stableSort(services, cmpServices)) {
    const name = svcName(svc);
    if (o.stats) {
      const st = svc.stats;
      s += name.padEnd(33) + largenum(st.conns) + largenum(st.inpkts) + largenum(st.outpkts) + largenum(st.inbytes) + largenum(st.outbytes);
    } else if (o.rate) {
      const r = rates(svc.stats);
      s += name.padEnd(33) + largenum(r.cps) + largenum(r.inpps) + largenum(r.outpps) + largenum(r.inbps) + largenum(r.outbps);
    } else {
      s += `${name} ${svc.schedName}`;
      // print_sched_flags between " (" and ")" whenever a SCHED bit is set.
      if (svc.flags & (SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3)) s += ` (${schedFlagNames(svc.schedName, svc.flags, true).join(',')})`;
      if (svc.flags & SVC_F.PERSISTENT) {
        s += ` persistent ${svc.timeout / 1e9}`;
        if (svc.netmask !== 0xffffffff) s += ` mask ${ipToString(svc.netmask)}`;
      }
      if (svc.flags & SVC_F.ONEPACKET) s += ' ops';
    }
    s += '\n';
    for (const d of stableSort(svc.dests, cmpDests)) {
      const dname = `${ipToString(d.addr)}:${d.port}`.slice(0, 28);
      if (o.stats) {
        const st = d.stats;
        s += `  -> ${dname.padEnd(28)}${largenum(st.conns)}${largenum(st.inpkts)}${largenum(st.outpkts)}${largenum(st.inbytes)}${largenum(st.outbytes)}\n`;
      } else if (o.rate) {
        const r = rates(d.stats);
        s += `  -> ${dname.padEnd(28)} ${String(r.cps).padStart(8)} ${String(r.inpps).padStart(8)} ${String(r.outpps).padStart(8)}${largenum(r.inbps)}${largenum(r.outbps)}\n`;
      } else {
        s += `  -> ${dname.padEnd(28)} ${fwdName(d.connFlags).padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.activeConns).padEnd(10)} ${String(d.inactConns).padEnd(10)}\n`;
      }
    }
  }
  return s;
}
