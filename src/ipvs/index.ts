/**
 * IPVS, the kernel's layer-4 load balancer (net/netfilter/ipvs), as one
 * namespace has it: the face to the rest of podwire.
 *
 * `ipvsOf(node, netns)` is the namespace's IPVS (loaded on first use, as
 * `modprobe ip_vs` is: the net.ipv4.vs.* sysctls appear and the hooks are
 * registered). Every change is logged on the machine as the ipvsadm command
 * it stands for, as iptablesRestore logs its command.
 *
 * Addresses are IPv4 numbers (host order, as src/wire's readIp gives them).
 */
import type { Node } from '../kernel/node.js';
import { ipvsNsOf } from './core.js';

export type IpvsProtocol = 'TCP' | 'UDP' | 'SCTP';
export type IpvsForward = 'masq' | 'droute' | 'tunnel';
export type IpvsServiceKey = { protocol: IpvsProtocol; addr: number; port: number } | { fwmark: number };
export interface IpvsServiceOpts {
  scheduler: string;
  /** IP_VS_SVC_F_*: PERSISTENT 0x1, ONEPACKET 0x4, SCHED1 0x8, SCHED2 0x10, SCHED3 0x20. */
  flags?: number;
  /** Persistence timeout in seconds (ipvsadm -p; default 300 when PERSISTENT is set). */
  timeout?: number;
  /** Persistence netmask as a prefix length, default 32. */
  netmask?: number;
}
export interface IpvsDestOpts {
  addr: number;
  port: number;
  weight: number;
  /** Default masq. */
  fwd?: IpvsForward;
  uThreshold?: number;
  lThreshold?: number;
}
export interface IpvsServiceInfo {
  key: IpvsServiceKey;
  opts: Required<Pick<IpvsServiceOpts, 'scheduler'>> & IpvsServiceOpts;
  dests: (IpvsDestOpts & { activeConns: number; inactConns: number; persistConns: number })[];
}
export interface Ipvs {
  /** ipvsadm -A (IpvsError EEXIST when it exists, ENOENT for an unknown scheduler, EINVAL …). */
  addService(key: IpvsServiceKey, opts: IpvsServiceOpts): void;
  /** ipvsadm -E (ESRCH when missing). */
  editService(key: IpvsServiceKey, opts: IpvsServiceOpts): void;
  /** ipvsadm -D (ESRCH when missing). */
  delService(key: IpvsServiceKey): void;
  /** ipvsadm -a (EEXIST, ESRCH, ERANGE for a bad weight/threshold). */
  addDest(key: IpvsServiceKey, d: IpvsDestOpts): void;
  /** ipvsadm -e (weight 0 = quiescent; ENOENT when the destination is missing). */
  editDest(key: IpvsServiceKey, d: IpvsDestOpts): void;
  /** ipvsadm -d (ENOENT when missing; the destination lingers in the trash while connections use it). */
  delDest(key: IpvsServiceKey, addr: number, port: number): void;
  /** The services in the kernel's listing order (hash buckets, then fwmark buckets), destinations in list order. */
  services(): IpvsServiceInfo[];
  hasService(key: IpvsServiceKey): boolean;
  /** `ipvsadm -Ln` [--stats | --rate]: exact text. */
  list(o?: { stats?: boolean; rate?: boolean }): string;
  /** `ipvsadm -Lnc`: exact text. */
  listConns(): string;
}

/** An ipvsadm/setsockopt failure, with the kernel's errno name (EEXIST, ESRCH, ENOENT, EINVAL, ERANGE …). */
export { IpvsError } from './errors.js';

/**
 * The namespace's IPVS (modprobe ip_vs on first use: sysctls net.ipv4.vs.*
 * appear, hooks registered), logged as ipvsadm commands on the Node like
 * iptablesRestore logs its command.
 */
export function ipvsOf(node: Node, netns: string): Ipvs {
  return ipvsNsOf(node, netns).api;
}
