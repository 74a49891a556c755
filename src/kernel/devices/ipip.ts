/**
 * The Linux `ipip` tunnel device (net/ipv4/ipip.c on the generic net/ipv4/ip_tunnel.c),
 * as Calico uses it: the fallback device `tunl0` that loading the module creates in every
 * network namespace (`ipip any remote any local any ttl inherit nopmtudisc`), with routes
 * `<block> via <node IP> dev tunl0 onlink`. Point-to-point tunnels (`ip link add NAME type
 * ipip remote R local L`) are modelled too, for the receive-side lookup.
 *
 * - No link layer: ARPHRD_TUNNEL, hard_header_len 0, flags NOARP (POINTOPOINT when it has a
 *   remote); the IPv4 stack sends to it without a neighbour; captures are LINKTYPE_RAW.
 *   Default MTU 1480 (ETH_DATA_LEN − the 20-byte outer header: ip_tunnel_bind_dev with no
 *   lower device).
 * - Transmit (ipip_tunnel_xmit → ip_tunnel_xmit → iptunnel_xmit):
 *   outer destination = the tunnel's remote, or, for a tunnel without one (tunl0, "NBMA"),
 *   the next hop of the inner packet's route (rt_nexthop: the gateway of `via N dev tunl0
 *   onlink`, else the inner destination). The model has no dst on the skb: it looks the
 *   inner destination up again in the namespace's FIB, which gives the route ip_output used.
 *   TOS = the tunnel's tos (0 for tunl0; `inherit` takes the inner TOS), then
 *   INET_ECN_encapsulate (inner ECN bits copied, CE sent as ECT(0)). The outer route is
 *   looked up (source = the tunnel's local, else the route's preferred source): no usable
 *   route (none, blackhole, unreachable, prohibit) → tx_carrier_errors; a route back out of
 *   the tunnel itself → collisions; both freed as tx_errors (kfree_skb: NOT_SPECIFIED).
 *   DF = the tunnel's (set with pmtudisc, clear for tunl0's nopmtudisc) | the inner DF.
 *   tnl_update_pmtu: with DF the usable MTU is the outer route's device MTU − 20, else the
 *   tunnel's own; an inner DF packet larger than that gets ICMP fragmentation-needed with
 *   that MTU and is dropped (tx_errors).
 *   TTL = the tunnel's ttl, or with `inherit` (0) the inner TTL. IP ID from __ip_select_ident
 *   (always, DF or not), protocol 4. The outer packet (innerId = the inner packet's id) goes
 *   through the namespace's local output path: OUTPUT, POSTROUTING, the outer route's
 *   neighbour and device.
 * - Receive (tunnel4_rcv → ipip_rcv → ip_tunnel_lookup → ip_tunnel_rcv): an IP protocol 4
 *   packet delivered locally (after LOCAL_IN) is matched against the namespace's up ipip
 *   devices: local and remote both equal (outer daddr/saddr), then remote with local any,
 *   then local with remote any, then any/any (tunl0 is the last resort). None (tunl0 down):
 *   ICMP port unreachable and the packet is freed (NOT_SPECIFIED). An outer header
 *   shorter than an inner IPv4 header is freed too. ECN (RFC 6040, __INET_ECN_decapsulate):
 *   outer CE over a not-ECT inner packet is dropped (rx_frame_errors), outer CE over ECT
 *   marks the inner CE. Then the inner packet is received on the tunnel device (its tap,
 *   `dev.recv`, PREROUTING with `-i tunl0`, routing) as the packet it was before
 *   encapsulation (id = the outer packet's innerId), without conntrack state
 *   (skb_scrub_packet; the mark stays within the namespace).
 *   Without the module (no ipip device ever created in the namespace) protocol 4 has no
 *   handler: protocol unreachable, as before.
 *
 * Not modelled: keys/GRE flags, encap (FOU/GUE), collect_md, the tunnel's link device,
 * learned PMTU on the inner route, IPv6 payloads (mode any/mplsip), ignore_df.
 */
import { NetDevice } from '../device.js';
import type { Netns } from '../netns.js';
import { Skb } from '../skb.js';
import { ETH_HLEN } from '../../wire/ethernet.js';
import { IP_DF, IPPROTO_IPIP, ipv4Daddr, ipv4HeaderLen, ipv4Saddr, ipv4TotLen, writeIpv4Header } from '../../wire/ipv4.js';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH } from '../../wire/icmp.js';
import { ipToString, setU16, u16 } from '../../wire/bytes.js';
import { checksum } from '../../wire/checksum.js';
import { summarize } from '../../wire/summary.js';

/** The outer IPv4 header ipip adds. */
export const IPIP_HLEN = 20;
/** ETH_DATA_LEN − IPIP_HLEN: an ipip device's MTU without a lower device (tunl0's). */
export const IPIP_DEFAULT_MTU = 1480;
/** __ip_tunnel_change_mtu's upper bound: 0xFFF8 − IPIP_HLEN. */
export const IPIP_MAX_MTU = 0xfff8 - IPIP_HLEN;
/** The fallback device's name. */
export const IPIP_FALLBACK = 'tunl0';

/** A tunnel's parameters (struct ip_tunnel_parm's iph): 0 = any / inherit. */
export interface IpipParms {
  /** Outer source (0: any, chosen by routing). */
  local: number;
  /** Outer destination (0: any, the inner route's next hop). */
  remote: number;
  /** 0 = inherit (the inner TTL). */
  ttl: number;
  /** TOS byte; bit 0 set = inherit (the inner TOS). */
  tos: number;
  /** DF on every outer packet (pmtudisc); off = nopmtudisc. */
  pmtudisc: boolean;
}

export class Ipip extends NetDevice {
  readonly kind = 'ipip';
  override readonly hardHeaderLen: number = 0;
  /** Tunnel error counters, as `ip -s link` reports them (tx_errors, carrier, collisions; rx frame errors). */
  txErrors = 0;
  txCarrierErrors = 0;
  collisions = 0;
  rxErrors = 0;
  rxFrameErrors = 0;

  constructor(netns: Netns, name: string, mtu: number, readonly parms: IpipParms, readonly fallback: boolean) {
    super(netns, name, new Uint8Array(4), mtu);
    // dev_addr of an ipip device is its local address (link/ipip L brd R).
    this.mac = u32Bytes(parms.local);
  }

  private txError(skb: Skb, detail: string): void {
    this.txErrors++;
    this.netns.drop(skb, this, 'NOT_SPECIFIED', `${this.name}: ${detail}`);
  }

  /** ip_tunnel_xmit for an IPv4 payload (the frame starts at the inner IP header). */
  protected transmit(skb: Skb): void {
    const ns = this.netns;
    const w = ns.node.world;
    const b = skb.buf, inh = skb.data;
    if (skb.len < 20 || (b[inh] >> 4) !== 4) { this.txError(skb, 'not an IPv4 packet'); return; }
    skb.nh = inh;
    const p = this.parms;
    const innerDst = ipv4Daddr(b, inh);
    let dst = p.remote;
    if (dst === 0) {
      // NBMA tunnel: the next hop of the route the inner packet took (rt_nexthop).
      const irt = ns.fib.lookup(innerDst);
      if (!irt || irt.dev !== this) { this.txError(skb, `no route through ${this.name} for ${ipToString(innerDst)} (tx_fifo_errors)`); return; }
      dst = irt.gw || innerDst;
    }
    let tos = p.tos;
    if (tos & 1) tos = b[inh + 1];
    const rt = ns.stack.routeOutput(dst);
    if (!rt || (rt.type !== 'unicast' && rt.type !== 'local')) {
      this.txCarrierErrors++;
      this.txError(skb, `no route to tunnel endpoint ${ipToString(dst)}${rt ? ` (${rt.type} route)` : ''} (tx_carrier_errors)`);
      return;
    }
    const out = rt.type === 'local' ? ns.device('lo') ?? null : rt.dev;
    if (out === this) {
      this.collisions++;
      this.txError(skb, `the route to ${ipToString(dst)} leads back into ${this.name} (collisions)`);
      return;
    }
    const innerDf = (u16(b, inh + 6) & IP_DF) !== 0;
    const df = p.pmtudisc || innerDf;
    const ilen = ipv4TotLen(b, inh);
    // tnl_update_pmtu
    const mtu = df ? (out ? out.mtu : 65535) - IPIP_HLEN : this.mtu;
    if (innerDf && mtu < ilen) {
      ns.stack.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu);
      this.txError(skb, `${ilen} bytes with DF exceed the tunnel path MTU ${mtu}`);
      return;
    }
    // ip_tunnel_ecn_encap: INET_ECN_encapsulate(tos, inner tos).
    const iecn = b[inh + 1] & 3;
    tos = (tos & ~3) | (iecn === 3 ? 2 : iecn);
    const ttl = p.ttl || b[inh + 8];
    const saddr = p.local || (rt.type === 'local' ? dst : ns.selectSrc(rt.dev, dst, rt));
    const o = Skb.alloc(ETH_HLEN + IPIP_HLEN + ilen);
    o.innerId = skb.id;
    o.flow = skb.flow;
    o.mark = skb.mark;
    if (skb.path) o.path = skb.path;
    const nh = o.data + ETH_HLEN;
    o.buf.set(b.subarray(inh, inh + ilen), nh + IPIP_HLEN);
    writeIpv4Header(o.buf, nh, saddr, dst, IPPROTO_IPIP, ttl, tos, ns.stack.selectIdent(), df, ilen);
    o.nh = nh;
    if (w.trace.on) w.event(ns.node.name, ns.name, this.name, o, 'ipip.encap', `${ipToString(saddr)} → ${ipToString(dst)} ttl ${ttl} tos 0x${tos.toString(16)}${df ? ' DF' : ''}`);
    ns.stack.localOut(o, rt);
  }

  /**
   * ip_tunnel_lookup: the up ipip device of `ns` for an outer packet from `remote` to
   * `local`, most specific first; null when none (tunl0 down or absent).
   */
  static lookup(ns: Netns, local: number, remote: number): Ipip | null {
    const devs: Ipip[] = [];
    for (const d of ns.devices.values()) if (d instanceof Ipip && d.up) devs.push(d);
    return devs.find((t) => t.parms.local === local && t.parms.remote === remote)
      ?? devs.find((t) => t.parms.remote === remote && t.parms.local === 0)
      ?? devs.find((t) => t.parms.local === local && t.parms.remote === 0)
      ?? devs.find((t) => !t.fallback && t.parms.local === 0 && t.parms.remote === 0)
      ?? devs.find((t) => t.fallback)
      ?? null;
  }

  /**
   * tunnel4_rcv → ipip_rcv for a locally delivered protocol-4 packet (outer IPv4 header at
   * skb.nh). Always consumes the packet.
   */
  static rcv(ns: Netns, skb: Skb, inDev: NetDevice): void {
    const w = ns.node.world;
    const b = skb.buf, nh = skb.nh;
    const ihl = ipv4HeaderLen(b, nh);
    const tot = ipv4TotLen(b, nh);
    const ilen = tot - ihl;
    if (ilen < 20) { ns.drop(skb, inDev, 'NOT_SPECIFIED', `IPIP payload of ${ilen} bytes is shorter than an IPv4 header`); return; }
    const saddr = ipv4Saddr(b, nh), daddr = ipv4Daddr(b, nh);
    const t = Ipip.lookup(ns, daddr, saddr);
    if (!t) {
      ns.stack.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
      ns.drop(skb, inDev, 'NOT_SPECIFIED', `no ipip tunnel up for ${ipToString(saddr)} → ${ipToString(daddr)} (tunnel4_rcv: port unreachable)`);
      return;
    }
    const inh = nh + ihl;
    // IP_ECN_decapsulate (RFC 6040).
    const oecn = b[nh + 1] & 3, iecn = b[inh + 1] & 3;
    if (oecn === 3) {
      if (iecn === 0) {
        t.rxErrors++;
        t.rxFrameErrors++;
        ns.drop(skb, t, 'NOT_SPECIFIED', `${t.name}: outer CE over a not-ECT inner packet (rx_frame_errors)`);
        return;
      }
      if (iecn !== 3) {
        // IP_ECN_set_ce: the inner TOS gets CE, the header checksum follows.
        b[inh + 1] |= 3;
        setU16(b, inh + 10, 0);
        setU16(b, inh + 10, checksum(b, inh, ipv4HeaderLen(b, inh)));
      }
    }
    if (w.trace.on) w.event(ns.node.name, ns.name, t.name, skb, 'ipip.decap', `from ${ipToString(saddr)} to ${ipToString(daddr)}`);
    const inner = new Skb(b, inh, ilen, skb.innerId || undefined);
    inner.flow = skb.flow;
    inner.path = skb.path;
    inner.mark = skb.mark;
    t.receive(inner);
  }

  override describe(skb: Skb): string {
    return summarize(skb.buf, skb.data, skb.len, false);
  }

  /** `ip -d link show`: `tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 … link/ipip 0.0.0.0 brd 0.0.0.0` + the ipip line. */
  override show(): string {
    const flags: string[] = [];
    if (this.parms.remote) flags.push('POINTOPOINT');
    flags.push('NOARP');
    if (this.up) flags.push('UP', 'LOWER_UP');
    const p = this.parms;
    const any = (a: number) => (a ? ipToString(a) : 'any');
    const opts = `ipip ${this.fallback ? 'any ' : ''}remote ${any(p.remote)} local ${any(p.local)} ttl ${p.ttl ? p.ttl : 'inherit'}${p.tos & 1 ? ' tos inherit' : p.tos ? ` tos 0x${p.tos.toString(16)}` : ''}${p.pmtudisc ? '' : ' nopmtudisc'}`;
    return `${this.ifindex}: ${this.name}@NONE: <${flags.join(',')}> mtu ${this.mtu} state ${this.up ? 'UNKNOWN' : 'DOWN'}\n    link/ipip ${ipToString(p.local)} brd ${ipToString(p.remote)}\n    ${opts}`;
  }
}

function u32Bytes(v: number): Uint8Array {
  return new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}
