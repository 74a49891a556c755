/**
 * The neighbour (ARP) table of one namespace, with the kernel's NUD states and
 * timers (net/core/neighbour.c, net/ipv4/arp.c):
 *
 *  - no entry: create INCOMPLETE, queue the packet, broadcast a request; retry
 *    every retrans_time (1 s) up to mcast_solicit (3) times, then FAILED: the
 *    queued packets are dropped (NEIGH_FAILED) and each sender gets ICMP host
 *    unreachable;
 *  - REACHABLE for a random time in [base_reachable_time/2, 3*base/2)
 *    (15-45 s) after the last confirmation, then STALE;
 *  - a STALE entry used to send goes to DELAY; after delay_first_probe_time
 *    (5 s) it becomes REACHABLE if something confirmed it meanwhile (TCP forward
 *    progress, an ARP reply), else PROBE: unicast requests every 1 s, ucast_solicit
 *    (3) times, then FAILED;
 *  - an ARP request addressed to us creates or refreshes the asker's entry as
 *    STALE (neigh_event_ns), without replacing a valid entry with the same address;
 *  - PERMANENT and NOARP entries never change on their own.
 */
import type { NetDevice } from './device.js';
import type { Skb } from './skb.js';
import { ipToString, macToString } from '../wire/bytes.js';

export const enum Nud {
  INCOMPLETE = 0x01,
  REACHABLE = 0x02,
  STALE = 0x04,
  DELAY = 0x08,
  PROBE = 0x10,
  FAILED = 0x20,
  NOARP = 0x40,
  PERMANENT = 0x80,
}

export const NUD_NAMES: Record<number, string> = {
  [Nud.INCOMPLETE]: 'INCOMPLETE', [Nud.REACHABLE]: 'REACHABLE', [Nud.STALE]: 'STALE', [Nud.DELAY]: 'DELAY',
  [Nud.PROBE]: 'PROBE', [Nud.FAILED]: 'FAILED', [Nud.NOARP]: 'NOARP', [Nud.PERMANENT]: 'PERMANENT',
};

/** Defaults of net.ipv4.neigh.default.* (ms where the kernel uses ms). */
export const NEIGH_DEFAULTS = {
  baseReachableTime: 30_000_000_000,
  retransTime: 1_000_000_000,
  delayFirstProbeTime: 5_000_000_000,
  mcastSolicit: 3,
  ucastSolicit: 3,
  /** unres_qlen_bytes: SK_WMEM_MAX-ish; packets beyond it are dropped (NEIGH_QUEUEFULL). */
  unresQlenBytes: 212_992,
};

export interface Neigh {
  ip: number;
  dev: NetDevice;
  mac: Uint8Array | null;
  state: Nud;
  /** Time of last confirmation (ns). */
  confirmed: number;
  /** Time of last use (ns). */
  used: number;
  /** Time of last update (ns). */
  updated: number;
  /** When REACHABLE decays to STALE (ns). */
  reachableUntil: number;
  probes: number;
  queue: Skb[];
  queueBytes: number;
  /** Incremented on every state change so stale timers can tell they are stale. */
  gen: number;
}

export function neighKey(dev: NetDevice, ip: number): number {
  // ifindex < 2^20 in any scenario we build; ip < 2^32: fits in 2^52.
  return dev.ifindex * 0x1_0000_0000 + ip;
}

export function formatNeigh(n: Neigh): string {
  const ll = n.mac ? ` lladdr ${macToString(n.mac)}` : '';
  return `${ipToString(n.ip)} dev ${n.dev.name}${ll} ${NUD_NAMES[n.state]}`;
}
