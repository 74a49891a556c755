/**
 * The IPv4 data path of one namespace, following net/ipv4/ip_input.c,
 * ip_forward.c, ip_output.c and arp.c:
 *
 *   netif receive ─► arp_rcv | ip_rcv ─► PREROUTING ─► route input ─┬─► INPUT ─► L4 demux (sockets)
 *                                                                   └─► ip_forward ─► FORWARD ─► ip_output
 *   sockets ─► ip_local_out ─► OUTPUT ─► (reroute if changed) ─► ip_output
 *   ip_output ─► POSTROUTING ─► fragment / frag-needed ─► neighbour output (ARP) ─► dev xmit
 *
 * Every decision is a trace event; every drop names the kernel's drop reason.
 */
import type { NetDevice } from './device.js';
import type { Netns } from './netns.js';
import { Skb, PktType, SKB_HEADROOM } from './skb.js';
import { NfHook, NfVerdict, HOOK_NAMES, type NfHookState } from './hooks.js';
import { formatRoute, type Route } from './fib.js';
import { Nud, NEIGH_DEFAULTS, neighKey, type Neigh, NUD_NAMES } from './neigh.js';
import { u16, u32, setU16, setU32, ipToString, macToString, isBroadcastMac, isMulticastMac, copyMac, macEquals } from '../wire/bytes.js';
import { checksum, headerChecksum } from '../wire/checksum.js';
import { ETH_HLEN, ETH_P_IP, ETH_P_ARP } from '../wire/ethernet.js';
import {
  IP_DF, IP_MF, IP_OFFSET, IPPROTO_ICMP, ipv4Saddr, ipv4Daddr, ipv4Protocol, ipv4HeaderLen, ipv4TotLen, ipv4DecTtl, writeIpv4Header,
} from '../wire/ipv4.js';
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_NET_UNREACH, ICMP_HOST_UNREACH,
  ICMP_FRAG_NEEDED, ICMP_PKT_FILTERED, ICMP_EXC_TTL,
} from '../wire/icmp.js';
import type { DropReason } from '../trace/events.js';
import { NO_HOOKS_TEXT, fibLookupText, forwardText, localDeliverText, neighHitText } from './trace-text.js';

const BCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);

/**
 * rp_filter (IN_DEV_MAXCONF of the device's conf and conf/all) of the last two devices a
 * namespace checked a source on (a node routes between two or three), with the conf object
 * and the two confs' CowMap versions it was read from: read again when any of them changed.
 */
class RpCache {
  dev0: NetDevice | null = null; conf0: object | null = null; ver0 = -1; all0 = -1; mode0 = 0;
  dev1: NetDevice | null = null; conf1: object | null = null; ver1 = -1; all1 = -1; mode1 = 0;
}

export class Ipv4Stack {
  /** __ip_select_ident state for packets without a connected socket and without DF. */
  private identSalt: number;
  private identCounter = 0;
  /** Per-destination ICMP error token buckets (inet_peer_xrlim_allow): tokens in ns. */
  private icmpPeers = new Map<number, { tokens: number; last: number }>();

  constructor(readonly ns: Netns) {
    this.identSalt = 0;
  }

  private get world() { return this.ns.node.world; }

  private ev(dev: NetDevice | null, skb: Skb | null, stage: string, detail: string): void {
    const w = this.world;
    w.event(this.ns.node.name, this.ns.name, dev ? dev.name : '', skb, stage, detail);
  }

  /** An IP ID as __ip_select_ident gives one: pseudo-random per destination, from the run's PRNG. */
  selectIdent(): number {
    if (this.identSalt === 0) this.identSalt = this.world.rng.u32() | 1;
    this.identCounter = (this.identCounter + 1) >>> 0;
    return (Math.imul(this.identCounter, 0x9e3779b1) ^ this.identSalt) >>> 16;
  }

  // ───────────────────────────── receive ─────────────────────────────

  /**
   * netif_receive_skb after the device: sets pkt_type and dispatches by EtherType. A frame
   * from an L2-less device (tun: hard_header_len 0) begins with the IP header: it is for
   * this host (PACKET_HOST) and its protocol is the IP version (tun_get_user, IFF_NO_PI).
   */
  receive(skb: Skb, dev: NetDevice): void {
    const b = skb.buf, d = skb.data;
    if (dev.hardHeaderLen === 0) {
      skb.pktType = PktType.HOST;
      if (skb.len >= 1 && (b[d] >> 4) === 4) this.ipRcv(skb, dev, 0);
      else this.ns.drop(skb, dev, 'UNHANDLED_PROTO', `IP version ${skb.len >= 1 ? b[d] >> 4 : '?'} not handled`);
      return;
    }
    if (skb.len < ETH_HLEN) { this.ns.drop(skb, dev, 'PKT_TOO_SMALL', 'frame shorter than an Ethernet header'); return; }
    // eth_type_trans
    if (isMulticastMac(b, d)) skb.pktType = isBroadcastMac(b, d) ? PktType.BROADCAST : PktType.MULTICAST;
    else if (dev.kind === 'loopback' || macEquals(b, d, dev.mac, 0)) skb.pktType = PktType.HOST;
    else skb.pktType = PktType.OTHERHOST;
    const type = u16(b, d + 12);
    if (type === ETH_P_IP) this.ipRcv(skb, dev, ETH_HLEN);
    else if (type === ETH_P_ARP) this.arpRcv(skb, dev);
    else this.ns.drop(skb, dev, 'UNHANDLED_PROTO', `ethertype 0x${type.toString(16).padStart(4, '0')} not handled`);
  }

  /** ip_rcv + ip_rcv_core: header validation, then PREROUTING. `hh`: link-layer header bytes before the IP header. */
  private ipRcv(skb: Skb, dev: NetDevice, hh: number): void {
    if (skb.pktType === PktType.OTHERHOST) {
      this.ns.drop(skb, dev, 'OTHERHOST', `destination MAC ${macToString(skb.buf, skb.data)} is not ${dev.name}'s`);
      return;
    }
    const nh = skb.data + hh;
    const avail = skb.len - hh;
    const b = skb.buf;
    // ip_rcv_core: a short header fails pskb_may_pull → inhdr_error (IP_INHDR); a total length beyond
    // the frame is PKT_TOO_SMALL; one below the header length is IP_INHDR (as src/wire/ipv4.ts classifies).
    if (avail < 20) { this.ns.drop(skb, dev, 'IP_INHDR', 'IPv4 header truncated'); return; }
    const ihl = (b[nh] & 0x0f) * 4;
    if ((b[nh] >> 4) !== 4 || ihl < 20) { this.ns.drop(skb, dev, 'IP_INHDR', `bad IPv4 version/ihl 0x${b[nh].toString(16)}`); return; }
    if (avail < ihl) { this.ns.drop(skb, dev, 'IP_INHDR', 'IPv4 options truncated'); return; }
    if (headerChecksum(b, nh, ihl) !== 0) { this.ns.drop(skb, dev, 'IP_CSUM', 'bad IPv4 header checksum'); return; }
    const tot = u16(b, nh + 2);
    if (tot > avail) { this.ns.drop(skb, dev, 'PKT_TOO_SMALL', `IPv4 total length ${tot} exceeds the ${avail} bytes received`); return; }
    if (tot < ihl) { this.ns.drop(skb, dev, 'IP_INHDR', `IPv4 total length ${tot} below header length ${ihl}`); return; }
    skb.nh = nh;
    skb.trim(hh + tot);
    skb.fragMaxSize = 0; // ip_rcv_core clears IPCB
    // ip_sabotage_in: br_netfilter already ran PREROUTING for a frame passed up by the bridge.
    if (!skb.brnf && !this.hook(NfHook.PRE_ROUTING, skb, dev, null)) return;
    this.routeInput(skb, dev);
  }

  /** ip_rcv_finish → ip_route_input: local delivery, forwarding, or an error. */
  routeInput(skb: Skb, dev: NetDevice): void {
    const b = skb.buf, nh = skb.nh;
    const dst = ipv4Daddr(b, nh);
    const w = this.world;
    const src = ipv4Saddr(b, nh);
    const bcast = dst === 0xffffffff;
    // ip_route_input_slow's martian checks (not for packets looped back through lo).
    if (dev.kind !== 'loopback') {
      if ((src >>> 28) === 0xe || src === 0xffffffff || ((src >>> 24) === 127 && !this.ns.devFlag(dev, 'route_localnet'))) {
        this.ns.drop(skb, dev, 'IP_INVALID_SOURCE', `martian source ${ipToString(src)} from ${dev.name}`);
        return;
      }
      if ((dst >>> 24) === 127 && !this.ns.devFlag(dev, 'route_localnet')) {
        this.ns.drop(skb, dev, 'IP_INVALID_DEST', `martian destination ${ipToString(dst)} from ${dev.name}`);
        return;
      }
    }
    const rt = bcast ? null : this.ns.fib.lookup(dst);
    if (w.trace.on) this.ev(dev, skb, 'fib.lookup', bcast ? `${ipToString(dst)}: limited broadcast` : rt ? fibLookupText(false, dst, rt) : `${ipToString(dst)}: no route`);
    if (bcast || (rt && (rt.type === 'local' || rt.type === 'broadcast'))) {
      if (src !== 0 && !this.rpFilterOk(skb, dev, src)) return;
      this.localDeliver(skb, dev);
      return;
    }
    if (skb.pktType !== PktType.HOST) {
      this.ns.drop(skb, dev, 'IP_INADDRERRORS', 'link-layer broadcast to a non-local IPv4 address');
      return;
    }
    if (!this.ns.forwarding) {
      this.ns.drop(skb, dev, 'IP_INADDRERRORS', `${ipToString(dst)} is not local and forwarding is off (net.ipv4.ip_forward=0)`);
      return;
    }
    if (!rt) {
      this.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_NET_UNREACH, 0);
      this.ns.drop(skb, dev, 'IP_NOROUTE', `no route to ${ipToString(dst)}`);
      return;
    }
    if (rt.type !== 'unicast') { this.routeErrorType(skb, dev, rt); return; }
    if (!this.rpFilterOk(skb, dev, src)) return;
    this.forward(skb, dev, rt);
  }

  /**
   * fib_validate_source with rp_filter (the larger of conf/all and conf/DEV):
   * 1 (strict) wants the route back to the source to leave by the device the
   * packet came in on; 2 (loose) wants any usable route back. A source that is
   * one of our own addresses is martian unless accept_local is on.
   */
  private rpFilterOk(skb: Skb, dev: NetDevice, src: number): boolean {
    const mode = this.rpFilterMode(dev);
    if (dev.kind === 'loopback') return true;
    if (mode === 0) {
      // fib_validate_source without rp_filter: a source that is one of this namespace's own
      // addresses (inet_lookup_ifaddr_rcu) is still refused unless accept_local; seen on 6.18
      // (flanneld's ICMP from flannel0's own address written into the tun: IP_LOCAL_SOURCE).
      if (this.ns.hasAddr(src)) {
        if (this.ns.devFlag(dev, 'accept_local')) return true;
        this.ns.drop(skb, dev, 'IP_LOCAL_SOURCE', `source ${ipToString(src)} is a local address (accept_local=0)`);
        return false;
      }
      return true;
    }
    const back = this.ns.fib.lookup(src);
    let ok: boolean;
    if (back && back.type === 'local') ok = this.ns.devFlag(dev, 'accept_local');
    else if (!back || back.type !== 'unicast') ok = false;
    else ok = mode === 2 || back.dev === dev;
    if (!ok) this.ns.drop(skb, dev, 'IP_RPFILTER', `rp_filter=${mode}: ${back && back.type === 'unicast' ? `route back to ${ipToString(src)} leaves by ${back.dev?.name}, not ${dev.name}` : `no usable route back to ${ipToString(src)}`}`);
    return ok;
  }

  /** rp_filter of the last devices asked about (see RpCache), made on the first forwarded or delivered packet. */
  private rp: RpCache | null = null;

  private rpFilterMode(dev: NetDevice): number {
    const c = this.rp ??= new RpCache();
    const conf = dev.conf, all = this.ns.confAll.version;
    if (c.dev0 === dev && c.conf0 === conf && c.ver0 === conf.version && c.all0 === all) return c.mode0;
    if (c.dev1 === dev && c.conf1 === conf && c.ver1 === conf.version && c.all1 === all) return c.mode1;
    const mode = this.ns.devMaxConf(dev, 'rp_filter');
    // The newer entry moves to slot 1, the new one takes slot 0.
    c.dev1 = c.dev0; c.conf1 = c.conf0; c.ver1 = c.ver0; c.all1 = c.all0; c.mode1 = c.mode0;
    c.dev0 = dev; c.conf0 = conf; c.ver0 = conf.version; c.all0 = all; c.mode0 = mode;
    return mode;
  }

  private routeErrorType(skb: Skb, dev: NetDevice | null, rt: Route): void {
    const dst = ipToString(ipv4Daddr(skb.buf, skb.nh));
    if (rt.type === 'blackhole') { this.ns.drop(skb, dev, 'BLACKHOLE', `blackhole route ${formatRoute(rt)} for ${dst}`); return; }
    if (rt.type === 'unreachable') {
      this.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
      this.ns.drop(skb, dev, 'UNREACHABLE', `unreachable route ${formatRoute(rt)} for ${dst}`);
      return;
    }
    if (rt.type === 'prohibit') {
      this.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_PKT_FILTERED, 0);
      this.ns.drop(skb, dev, 'UNREACHABLE', `prohibit route ${formatRoute(rt)} for ${dst}`);
      return;
    }
    this.ns.drop(skb, dev, 'IP_NOROUTE', `route type ${rt.type} for ${dst}`);
  }

  /** ip_local_deliver: INPUT, then the L4 protocol handler. */
  private localDeliver(skb: Skb, dev: NetDevice): void {
    const b = skb.buf, nh = skb.nh;
    const frag = u16(b, nh + 6);
    if (frag & (IP_MF | IP_OFFSET)) {
      if (!this.defrag(skb)) return;
    }
    if (!this.hook(NfHook.LOCAL_IN, skb, dev, null)) return;
    if (this.world.onDeliver && (skb.path || skb.flow)) this.world.onDeliver(skb);
    if (this.world.trace.on) this.ev(dev, skb, 'ip.local_deliver', localDeliverText(ipv4Daddr(skb.buf, skb.nh), ipv4Protocol(skb.buf, skb.nh)));
    this.ns.sockets.deliver(skb, dev);
  }

  /** Reassembly queues, by defrag user (local delivery, conntrack in/out) and fragment key → parts. */
  private frags = new Map<string, { parts: { off: number; data: Uint8Array; more: boolean }[]; first: Skb | null; timer: boolean; maxSize: number }>();

  /**
   * ip_defrag for `user` ('local': ip_local_deliver; 'ct_in'/'ct_out': nf_defrag_ipv4 at
   * PREROUTING/OUTPUT, each with its own queues as IP_DEFRAG_CONNTRACK_IN/OUT are): true when
   * `skb` now holds the whole datagram (its fragMaxSize the largest fragment), false when it
   * was queued (stolen).
   */
  defrag(skb: Skb, user: 'local' | 'ct_in' | 'ct_out' = 'local'): boolean {
    const b = skb.buf, nh = skb.nh;
    const ihl = ipv4HeaderLen(b, nh);
    const key = `${user}-${ipv4Saddr(b, nh)}-${ipv4Daddr(b, nh)}-${u16(b, nh + 4)}-${ipv4Protocol(b, nh)}`;
    const frag = u16(b, nh + 6);
    const off = (frag & IP_OFFSET) * 8;
    let q = this.frags.get(key);
    if (!q) {
      q = { parts: [], first: null, timer: false, maxSize: 0 };
      this.frags.set(key, q);
      const qq = q;
      // ipfrag_time: 30 s, then the queue is dropped (ICMP time exceeded, reassembly, when the first fragment came).
      this.world.sched.after(30_000_000_000, () => {
        if (this.frags.get(key) !== qq) return;
        this.frags.delete(key);
        if (qq.first) {
          this.icmpSend(qq.first, ICMP_TIME_EXCEEDED, 1, 0);
          this.ns.drop(qq.first, null, 'NOT_SPECIFIED', 'IP reassembly timeout');
        }
      });
    }
    const payload = b.slice(nh + ihl, nh + ipv4TotLen(b, nh));
    q.parts.push({ off, data: payload, more: (frag & IP_MF) !== 0 });
    q.maxSize = Math.max(q.maxSize, ipv4TotLen(b, nh));
    if (off === 0) q.first = skb;
    if (this.world.trace.on) this.ev(skb.dev, skb, 'ip.defrag', `fragment offset ${off} length ${payload.length}${frag & IP_MF ? ' MF' : ''}`);
    const last = q.parts.find((p) => !p.more);
    if (!last || !q.first) return false;
    const total = last.off + last.data.length;
    const covered = new Uint8Array(total);
    const data = new Uint8Array(total);
    for (const p of q.parts) { data.set(p.data, p.off); covered.fill(1, p.off, p.off + p.data.length); }
    if (covered.includes(0)) return false;
    this.frags.delete(key);
    const first = q.first;
    const fihl = ipv4HeaderLen(first.buf, first.nh);
    const hh = first.nh - first.data; // the link-layer header the first fragment came with (none from a tun)
    const out = new Uint8Array(SKB_HEADROOM + hh + fihl + total);
    out.set(first.buf.subarray(first.data, first.nh + fihl), SKB_HEADROOM);
    const nnh = SKB_HEADROOM + hh;
    out.set(data, nnh + fihl);
    setU16(out, nnh + 2, fihl + total);
    setU16(out, nnh + 6, 0);
    setU16(out, nnh + 10, 0);
    setU16(out, nnh + 10, checksum(out, nnh, fihl));
    skb.buf = out;
    skb.data = SKB_HEADROOM;
    skb.len = hh + fihl + total;
    skb.nh = nnh;
    skb.id = first.id;
    skb.fragMaxSize = q.maxSize;
    skb.csumOk = false;
    return true;
  }

  /** ip_forward: TTL, MTU, FORWARD hook, then output. */
  private forward(skb: Skb, inDev: NetDevice, rt: Route): void {
    const b = skb.buf, nh = skb.nh;
    if (b[nh + 8] <= 1) {
      this.icmpSend(skb, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0);
      this.ns.drop(skb, inDev, 'TTL_EXPIRED', `TTL ${b[nh + 8]} expired in transit`);
      return;
    }
    const out = rt.dev!;
    const tot = ipv4TotLen(b, nh);
    if (tot > out.mtu && (u16(b, nh + 6) & IP_DF)) {
      this.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, out.mtu);
      this.ns.drop(skb, inDev, 'PKT_TOO_BIG', `${tot} bytes exceed ${out.name} mtu ${out.mtu} with DF set`);
      return;
    }
    ipv4DecTtl(b, nh); // ip_decrease_ttl, checksum updated incrementally
    if (this.world.trace.on) this.ev(inDev, skb, 'ip.forward', forwardText(b[nh + 8], out.name));
    if (!this.hook(NfHook.FORWARD, skb, inDev, out)) return;
    this.output(skb, rt);
  }

  // ───────────────────────────── output ─────────────────────────────

  /**
   * Route output lookup for a locally generated packet (ip_route_output_key):
   * the route, or null (the caller gets ENETUNREACH).
   */
  routeOutput(dst: number): Route | null {
    const rt = this.ns.fib.lookup(dst);
    if (this.world.trace.on) this.ev(null, null, 'fib.lookup', rt ? fibLookupText(true, dst, rt) : `output ${ipToString(dst)}: no route (ENETUNREACH)`);
    return rt;
  }

  /**
   * ip_local_out: a socket's packet with its IP header written at skb.nh.
   * Runs OUTPUT, re-routes when a hook changed the destination, then ip_output.
   */
  localOut(skb: Skb, rt: Route): void {
    if (rt.type === 'local' || rt.type === 'broadcast') {
      const lo = this.ns.device('lo');
      if (!lo || !lo.up) { this.ns.drop(skb, null, 'IP_OUTNOROUTES', 'loopback is down'); return; }
      if (!this.hook(NfHook.LOCAL_OUT, skb, null, lo)) return;
      if (!this.hook(NfHook.POST_ROUTING, skb, null, lo)) return;
      this.finishOutput(skb, lo, 0);
      return;
    }
    if (rt.type !== 'unicast') { this.routeErrorType(skb, null, rt); return; }
    const dst0 = ipv4Daddr(skb.buf, skb.nh);
    const mark0 = skb.mark;
    if (!this.hook(NfHook.LOCAL_OUT, skb, null, rt.dev)) return;
    if (ipv4Daddr(skb.buf, skb.nh) !== dst0 || skb.mark !== mark0) {
      // ip_route_me_harder: the destination (DNAT) or mark changed, route again.
      const nrt = this.ns.fib.lookup(ipv4Daddr(skb.buf, skb.nh));
      if (this.world.trace.on) this.ev(null, skb, 'fib.lookup', nrt ? `reroute ${ipToString(ipv4Daddr(skb.buf, skb.nh))}: ${formatRoute(nrt)}` : 'reroute: no route');
      if (!nrt) { this.ns.drop(skb, null, 'IP_OUTNOROUTES', 'no route after OUTPUT changed the packet'); return; }
      if (nrt.type === 'local') { this.localOut(skb, nrt); return; }
      rt = nrt;
    }
    this.output(skb, rt, true);
  }

  /**
   * Learned path MTUs (the route exceptions ICMP fragmentation needed creates for a
   * destination, ip_rt_update_pmtu), each until it expires (net.ipv4.route.mtu_expires, 600 s).
   */
  readonly pmtu = new Map<number, { mtu: number; expires: number }>();

  /** ipv4_sk_update_pmtu for a socket's destination: the MTU a fragmentation-needed error reported. */
  updatePmtu(dst: number, mtu: number, devMtu: number): void {
    // ip_rt_min_pmtu (552) is the floor; a larger or equal value changes nothing.
    const m = Math.max(552, mtu);
    if (m >= devMtu) return;
    this.pmtu.set(dst, { mtu: m, expires: this.world.now + 600_000_000_000 });
    if (this.world.trace.on) this.ev(null, null, 'ip.pmtu', `path MTU to ${ipToString(dst)} is ${m} (for 600 s)`);
  }

  /** dst_mtu of a locally generated packet's route to `dst`: the device MTU, or a learned smaller path MTU. */
  pathMtu(dst: number, devMtu: number): number {
    if (this.pmtu.size === 0) return devMtu;
    const e = this.pmtu.get(dst);
    if (!e) return devMtu;
    if (e.expires <= this.world.now) { this.pmtu.delete(dst); return devMtu; }
    return Math.min(devMtu, e.mtu);
  }

  /**
   * ip_output: POSTROUTING, then fragmentation and the neighbour layer. A locally generated
   * packet (`local`) is fragmented to the path MTU (ip_skb_dst_mtu); a forwarded one to the
   * device MTU (ip_dst_mtu_maybe_forward ignores learned path MTUs).
   */
  output(skb: Skb, rt: Route, local = false): void {
    const out = rt.dev!;
    if (!this.hook(NfHook.POST_ROUTING, skb, null, out)) return;
    const nexthop = rt.gw || ipv4Daddr(skb.buf, skb.nh);
    const tot = ipv4TotLen(skb.buf, skb.nh);
    const mtu = local ? this.pathMtu(ipv4Daddr(skb.buf, skb.nh), out.mtu) : out.mtu;
    // A packet conntrack reassembled leaves as fragments no larger than the ones it came in
    // (ip_finish_output: frag_max_size set → ip_fragment; ip_do_fragment: mtu = min(mtu, frag_max_size)).
    const fms = skb.fragMaxSize;
    if (fms && !(u16(skb.buf, skb.nh + 6) & IP_DF)) {
      for (const frag of this.fragment(skb, Math.min(mtu, fms))) this.finishOutput(frag, out, nexthop);
      return;
    }
    if (tot > mtu) {
      if (u16(skb.buf, skb.nh + 6) & IP_DF) {
        // Locally generated DF packet larger than the route MTU: EMSGSIZE to the socket; forwarded ones were caught earlier.
        this.ns.drop(skb, out, 'PKT_TOO_BIG', `${tot} bytes exceed ${out.name} mtu ${mtu} with DF set`);
        return;
      }
      for (const frag of this.fragment(skb, mtu)) this.finishOutput(frag, out, nexthop);
      return;
    }
    this.finishOutput(skb, out, nexthop);
  }

  /** ip_fragment: splits into fragments of at most `mtu` bytes (8-byte aligned payloads), same packet id. */
  private fragment(skb: Skb, mtu: number): Skb[] {
    const b = skb.buf, nh = skb.nh;
    const ihl = ipv4HeaderLen(b, nh);
    const tot = ipv4TotLen(b, nh);
    const chunk = (mtu - ihl) & ~7;
    const out: Skb[] = [];
    const baseOff = (u16(b, nh + 6) & IP_OFFSET) * 8;
    const origMf = u16(b, nh + 6) & IP_MF;
    for (let off = 0; off < tot - ihl; off += chunk) {
      const n = Math.min(chunk, tot - ihl - off);
      const f = Skb.alloc(ETH_HLEN + ihl + n);
      f.id = skb.id; f.flow = skb.flow; f.path = skb.path ? skb.path.slice() : null; f.mark = skb.mark; f.ct = skb.ct; f.txHash = skb.txHash;
      const fnh = f.data + ETH_HLEN;
      f.buf.set(b.subarray(nh, nh + ihl), fnh);
      f.buf.set(b.subarray(nh + ihl + off, nh + ihl + off + n), fnh + ihl);
      setU16(f.buf, fnh + 2, ihl + n);
      const more = off + n < tot - ihl || origMf ? IP_MF : 0;
      setU16(f.buf, fnh + 6, more | ((baseOff + off) >> 3));
      setU16(f.buf, fnh + 10, 0);
      setU16(f.buf, fnh + 10, checksum(f.buf, fnh, ihl));
      f.nh = fnh;
      out.push(f);
    }
    if (this.world.trace.on) this.ev(null, skb, 'ip.fragment', `${tot} bytes into ${out.length} fragments for mtu ${mtu}`);
    return out;
  }

  /**
   * ip_finish_output2: resolve the next hop and transmit. A device without header_ops
   * (tun: hard_header_len 0, IFF_NOARP|IFF_POINTOPOINT) gets the bare IP packet and needs no
   * neighbour entry (arp_constructor: NUD_NOARP, neigh_direct_output), gateway or not.
   */
  finishOutput(skb: Skb, out: NetDevice, nexthop: number): void {
    if (out.hardHeaderLen === 0) {
      skb.data = skb.nh;
      skb.len = ipv4TotLen(skb.buf, skb.nh);
      out.xmit(skb);
      return;
    }
    const eth = skb.nh - ETH_HLEN;
    skb.data = eth;
    skb.len = ETH_HLEN + ipv4TotLen(skb.buf, skb.nh);
    const b = skb.buf;
    setU16(b, eth + 12, ETH_P_IP);
    if (out.kind === 'loopback') {
      copyMac(b, eth, ZERO_MAC); copyMac(b, eth + 6, ZERO_MAC);
      out.xmit(skb);
      return;
    }
    copyMac(b, eth + 6, out.mac);
    const dst = ipv4Daddr(b, skb.nh);
    if (dst === 0xffffffff || this.isBroadcastFor(out, dst)) {
      copyMac(b, eth, BCAST_MAC);
      out.xmit(skb);
      return;
    }
    if (out.kind === 'noarp') { out.xmit(skb); return; }
    this.neighOutput(skb, out, nexthop);
  }

  private isBroadcastFor(dev: NetDevice, ip: number): boolean {
    return this.ns.isBroadcastOn(dev, ip);
  }

  // ───────────────────────────── neighbours / ARP ─────────────────────────────

  private neighLookup(dev: NetDevice, ip: number): Neigh | undefined {
    return this.ns.neighs.get(neighKey(dev, ip));
  }

  /** The link-layer address of a resolved neighbour, null when none is usable (br_netfilter's DNAT check). */
  neighMac(dev: NetDevice, ip: number): Uint8Array | null {
    const n = this.neighLookup(dev, ip);
    return n && n.mac && !(n.state & (Nud.INCOMPLETE | Nud.FAILED)) ? n.mac : null;
  }

  private neighCreate(dev: NetDevice, ip: number, state: Nud, mac: Uint8Array | null): Neigh {
    const now = this.world.now;
    // ___neigh_create backdates `confirmed` by 2 × base_reachable_time: a new entry (e.g. STALE from an
    // ARP request, neigh_event_ns) is not confirmed, so when it is used the DELAY timer ends in PROBE
    // (a unicast ARP 5 s later, REFERENCE §12 "ARP economy"), not in a free REACHABLE.
    const n: Neigh = { ip, dev, mac, state, confirmed: now - 2 * NEIGH_DEFAULTS.baseReachableTime, used: now, updated: now, reachableUntil: 0, probes: 0, queue: [], queueBytes: 0, gen: 0 };
    this.ns.neighs.set(neighKey(dev, ip), n);
    return n;
  }

  /** A random reachable time in [base/2, 3*base/2), as neigh_rand_reach_time. */
  private reachableTime(): number {
    const base = NEIGH_DEFAULTS.baseReachableTime;
    return base / 2 + Math.floor(this.world.rng.u32() / 0x1_0000_0000 * base);
  }

  private neighTrace(n: Neigh, skb: Skb | null, what: string): void {
    if (this.world.trace.on) this.ev(n.dev, skb, 'neigh', `${ipToString(n.ip)} ${what} (${NUD_NAMES[n.state]})`);
  }

  /** Moves an entry to a state and (re)arms its timer, like neigh_update/neigh_timer_handler. */
  private neighSetState(n: Neigh, state: Nud): void {
    n.state = state;
    n.gen++;
    n.updated = this.world.now;
    const gen = n.gen;
    const sched = this.world.sched;
    if (state === Nud.REACHABLE) {
      n.confirmed = this.world.now;
      n.reachableUntil = this.world.now + this.reachableTime();
      sched.at(n.reachableUntil, () => { if (n.gen === gen && n.state === Nud.REACHABLE) { n.state = Nud.STALE; n.gen++; this.neighTrace(n, null, 'reachable time over'); } });
    } else if (state === Nud.DELAY) {
      sched.after(NEIGH_DEFAULTS.delayFirstProbeTime, () => this.neighDelayExpired(n, gen));
    } else if (state === Nud.INCOMPLETE || state === Nud.PROBE) {
      sched.after(NEIGH_DEFAULTS.retransTime, () => this.neighRetrans(n, gen));
    }
  }

  private neighDelayExpired(n: Neigh, gen: number): void {
    if (n.gen !== gen || n.state !== Nud.DELAY) return;
    const now = this.world.now;
    if (now - n.confirmed <= NEIGH_DEFAULTS.delayFirstProbeTime) {
      this.neighSetState(n, Nud.REACHABLE);
      n.confirmed = Math.max(n.confirmed, now - NEIGH_DEFAULTS.delayFirstProbeTime);
      this.neighTrace(n, null, 'confirmed during delay');
      return;
    }
    n.probes = 0;
    this.neighSetState(n, Nud.PROBE);
    this.neighTrace(n, null, 'delay over, probing');
    n.probes++;
    this.arpSolicit(n, null);
  }

  private neighRetrans(n: Neigh, gen: number): void {
    if (n.gen !== gen) return;
    const max = n.state === Nud.INCOMPLETE ? NEIGH_DEFAULTS.mcastSolicit : NEIGH_DEFAULTS.ucastSolicit;
    if (n.probes >= max) {
      n.state = Nud.FAILED;
      n.gen++;
      this.neighTrace(n, null, `no reply after ${n.probes} probes`);
      const q = n.queue;
      n.queue = [];
      n.queueBytes = 0;
      for (const skb of q) {
        // arp_error_report → ICMP host unreachable to the sender.
        this.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
        this.ns.drop(skb, n.dev, 'NEIGH_FAILED', `ARP for ${ipToString(n.ip)} on ${n.dev.name} failed`);
      }
      return;
    }
    n.probes++;
    this.neighSetState(n, n.state);
    this.arpSolicit(n, n.queue.length ? n.queue[n.queue.length - 1] : null);
  }

  /** neigh_output / neigh_resolve_output. */
  /**
   * Sends an IPv4 frame (Ethernet header at skb.data) out of `dev` to `nexthop`
   * through the neighbour layer, ARPing first if needed: br_netfilter's
   * bridged-DNAT path (neigh->output on the bridge device).
   */
  neighXmit(skb: Skb, dev: NetDevice, nexthop: number): void {
    copyMac(skb.buf, skb.data + 6, dev.mac);
    setU16(skb.buf, skb.data + 12, ETH_P_IP);
    this.neighOutput(skb, dev, nexthop);
  }

  private neighOutput(skb: Skb, dev: NetDevice, nexthop: number): void {
    let n = this.neighLookup(dev, nexthop);
    const now = this.world.now;
    if (n && skb.confirmNeigh) n.confirmed = now;
    if (n && (n.state & (Nud.REACHABLE | Nud.PERMANENT | Nud.NOARP | Nud.DELAY | Nud.PROBE | Nud.STALE))) {
      n.used = now;
      if (n.state === Nud.STALE) {
        n.probes = 0;
        this.neighSetState(n, Nud.DELAY);
        this.neighTrace(n, skb, 'used while stale');
      } else if (this.world.trace.on) this.ev(n.dev, skb, 'neigh', neighHitText(n.ip, n.mac!, n.state));
      copyMac(skb.buf, skb.data, n.mac!);
      dev.xmit(skb);
      return;
    }
    if (!n || n.state === Nud.FAILED) {
      if (!n) n = this.neighCreate(dev, nexthop, Nud.INCOMPLETE, null);
      n.probes = 0;
      this.neighSetState(n, Nud.INCOMPLETE);
      this.neighTrace(n, skb, 'unresolved, queueing and sending ARP request');
      this.neighQueue(n, skb);
      n.probes++;
      this.arpSolicit(n, skb);
      return;
    }
    // INCOMPLETE: queue behind the pending resolution.
    this.neighQueue(n, skb);
    this.neighTrace(n, skb, 'resolution pending, queued');
  }

  private neighQueue(n: Neigh, skb: Skb): void {
    // __neigh_event_send: drop the oldest packets while the queue would exceed unres_qlen_bytes.
    while (n.queue.length && n.queueBytes + skb.len > NEIGH_DEFAULTS.unresQlenBytes) {
      const old = n.queue.shift()!;
      n.queueBytes -= old.len;
      this.ns.drop(old, n.dev, 'NEIGH_QUEUEFULL', `ARP queue for ${ipToString(n.ip)} full`);
    }
    n.queue.push(skb);
    n.queueBytes += skb.len;
  }

  /** neigh_update to a resolved state: record the address and flush the queue. */
  private neighResolved(n: Neigh, mac: Uint8Array, state: Nud): void {
    n.mac = mac.slice();
    this.neighSetState(n, state);
    this.neighTrace(n, null, `resolved to ${macToString(mac)}`);
    const q = n.queue;
    n.queue = [];
    n.queueBytes = 0;
    for (const skb of q) {
      copyMac(skb.buf, skb.data, n.mac);
      n.dev.xmit(skb);
    }
  }

  /** arp_solicit: broadcast for INCOMPLETE, unicast to the cached address when probing. */
  private arpSolicit(n: Neigh, skb: Skb | null): void {
    const dev = n.dev;
    // arp_announce=0: use the packet's source if it is local, else the device's address for the target.
    let sip = 0;
    if (skb && skb.nh >= 0) {
      const s = ipv4Saddr(skb.buf, skb.nh);
      if (this.ns.isLocal(s)) sip = s;
    }
    if (this.ns.devMaxConf(dev, 'arp_announce') >= 1 || !sip) sip = this.ns.selectSrc(dev, n.ip);
    const unicast = n.state === Nud.PROBE && n.mac !== null;
    // The target hardware address is zero in unicast probes too: arp_solicit passes the cached
    // address only as the Ethernet destination (arp_send_dst(..., dst_hw, dev_addr, NULL, dst):
    // target_hw NULL → zeroed); seen on the kernel (statistic-dnat's 65 s probes, tha 0).
    this.arpSend(dev, 1, sip, n.ip, ZERO_MAC, unicast ? n.mac! : BCAST_MAC);
  }

  /** Builds and transmits an ARP packet out of `dev`. */
  arpSend(dev: NetDevice, op: 1 | 2, sip: number, tip: number, tha: Uint8Array, ethDst: Uint8Array, sha: Uint8Array = dev.mac): void {
    const skb = Skb.alloc(ETH_HLEN + 28);
    const b = skb.buf, e = skb.data, a = e + ETH_HLEN;
    copyMac(b, e, ethDst);
    copyMac(b, e + 6, sha);
    setU16(b, e + 12, ETH_P_ARP);
    setU16(b, a, 1); setU16(b, a + 2, ETH_P_IP); b[a + 4] = 6; b[a + 5] = 4; setU16(b, a + 6, op);
    copyMac(b, a + 8, sha); setU32(b, a + 14, sip);
    copyMac(b, a + 18, tha); setU32(b, a + 24, tip);
    if (this.world.trace.on) this.ev(dev, skb, 'arp.send', op === 1 ? `who-has ${ipToString(tip)} tell ${ipToString(sip)}${isBroadcastMac(ethDst, 0) ? '' : ' (unicast probe)'}` : `${ipToString(sip)} is-at ${macToString(sha)} to ${ipToString(tip)}`);
    dev.xmit(skb);
  }

  /** arp_rcv + arp_process. */
  private arpRcv(skb: Skb, dev: NetDevice): void {
    const b = skb.buf, a = skb.data + ETH_HLEN;
    if (skb.len < ETH_HLEN + 28 || u16(b, a) !== 1 || u16(b, a + 2) !== ETH_P_IP || b[a + 4] !== 6 || b[a + 5] !== 4) {
      this.ns.drop(skb, dev, 'NOT_SPECIFIED', 'malformed ARP');
      return;
    }
    if (skb.pktType === PktType.OTHERHOST) { this.ns.drop(skb, dev, 'OTHERHOST', 'ARP frame not for this host'); return; }
    const op = u16(b, a + 6);
    const sha = b.slice(a + 8, a + 14);
    const sip = u32(b, a + 14);
    const tip = u32(b, a + 24);
    if (isMulticastMac(sha, 0) || (op !== 1 && op !== 2)) { this.ns.drop(skb, dev, 'NOT_SPECIFIED', 'bad ARP sender or op'); return; }
    if (this.world.trace.on) this.ev(dev, skb, 'arp.recv', op === 1 ? `who-has ${ipToString(tip)} tell ${ipToString(sip)}` : `${ipToString(sip)} is-at ${macToString(sha)}`);
    if (op === 1 && (tip >>> 24) !== 127 && ((tip & 0xf0000000) >>> 0) !== 0xe0000000) {
      const rt = this.ns.fib.lookup(tip);
      const ignore = this.ns.devMaxConf(dev, 'arp_ignore');
      if (sip === 0) {
        // Duplicate address detection probe: answer only for our own address.
        if (rt && rt.type === 'local' && this.arpIgnoreOk(dev, tip, sip, ignore)) this.arpSend(dev, 2, tip, sip, sha, sha);
        return;
      }
      if (rt && rt.type === 'local') {
        if (!this.arpIgnoreOk(dev, tip, sip, ignore)) { this.ns.drop(skb, dev, 'NOT_SPECIFIED', `arp_ignore=${ignore}: not answering for ${ipToString(tip)}`); return; }
        this.neighEventNs(dev, sip, sha);
        this.arpSend(dev, 2, tip, sip, sha, sha);
        return;
      }
      if (rt && rt.type === 'unicast' && this.ns.forwarding && rt.dev && this.proxyArpOk(dev, rt)) {
        this.neighEventNs(dev, sip, sha);
        // pneigh_enqueue: a broadcast request is answered after a random delay below
        // proxy_delay (default 0.8 s; Calico sets 0 on its cali interfaces).
        const maxDelay = Number(this.ns.sysctl(`net.ipv4.neigh.${dev.name}.proxy_delay`) || this.ns.sysctl('net.ipv4.neigh.default.proxy_delay') || '80') * 10_000_000;
        const delay = skb.pktType === PktType.HOST || maxDelay <= 0 ? 0 : this.world.rng.int(0, maxDelay - 1);
        if (this.world.trace.on) this.ev(dev, skb, 'arp.proxy', `answering for ${ipToString(tip)} (proxy_arp, route ${formatRoute(rt)})${delay ? ` after proxy_delay ${(delay / 1e6).toFixed(3)} ms` : ''}`);
        if (delay === 0) this.arpSend(dev, 2, tip, sip, sha, sha);
        else this.world.sched.after(delay, () => { if (dev.running) this.arpSend(dev, 2, tip, sip, sha, sha); });
        return;
      }
      // proxy_arp on but no route to the target through another device: arp_process stays silent.
      // Say why in the trace (Calico's 169.254.1.1 needs a default route on the node).
      if (this.world.trace.on && !rt && this.ns.devFlag(dev, 'proxy_arp')) this.ev(dev, skb, 'arp.proxy', `not answering for ${ipToString(tip)}: proxy_arp is on but there is no route to it`);
    }
    // Update an existing entry: replies to us confirm reachability; requests and broadcast replies only refresh.
    const n = this.neighLookup(dev, sip);
    if (n && !(n.state & (Nud.PERMANENT | Nud.NOARP))) {
      const state = op === 2 && skb.pktType === PktType.HOST ? Nud.REACHABLE : Nud.STALE;
      this.neighUpdate(n, sha, state);
    } else if (op === 1) {
      // Not for us and no entry: nothing to learn (arp_accept=0).
    }
  }

  private arpIgnoreOk(dev: NetDevice, tip: number, sip: number, ignore: number): boolean {
    if (ignore === 0) return true;
    const onDev = this.ns.addrs.filter((x) => x.dev === dev);
    if (ignore === 1) return onDev.some((x) => x.addr === tip);
    if (ignore === 2) return onDev.some((x) => x.addr === tip && ((x.addr ^ sip) & (x.prefix ? (0xffffffff << (32 - x.prefix)) >>> 0 : 0)) === 0);
    return ignore < 8;
  }

  private proxyArpOk(dev: NetDevice, rt: Route): boolean {
    if (!this.ns.devFlag(dev, 'proxy_arp')) return false;
    if (rt.dev !== dev) return true;
    return this.ns.devFlag(dev, 'proxy_arp_pvlan');
  }

  /** neigh_event_ns: an ARP request to us creates the asker's entry as STALE, keeping a valid one with the same address. */
  private neighEventNs(dev: NetDevice, sip: number, sha: Uint8Array): void {
    const n = this.neighLookup(dev, sip);
    if (!n) {
      const nn = this.neighCreate(dev, sip, Nud.STALE, sha.slice());
      nn.gen++;
      this.neighTrace(nn, null, `learned ${macToString(sha)} from ARP request`);
      return;
    }
    this.neighUpdate(n, sha, Nud.STALE);
  }

  /** __neigh_update with override. */
  private neighUpdate(n: Neigh, mac: Uint8Array, state: Nud): void {
    if (n.state & (Nud.PERMANENT | Nud.NOARP)) return;
    const same = n.mac !== null && macEquals(n.mac, 0, mac, 0);
    if (n.state === Nud.INCOMPLETE || n.state === Nud.FAILED) { this.neighResolved(n, mac, state); return; }
    if (same && state === Nud.STALE) return; // a valid entry stays as it is
    n.mac = mac.slice();
    if (state === Nud.REACHABLE) { this.neighSetState(n, Nud.REACHABLE); this.neighTrace(n, null, 'confirmed by ARP reply'); }
    else { n.state = Nud.STALE; n.gen++; n.updated = this.world.now; this.neighTrace(n, null, 'address changed'); }
  }

  /** `ip neigh replace` (PERMANENT/NOARP/REACHABLE/STALE set by an admin or agent). */
  neighReplace(dev: NetDevice, ip: number, mac: Uint8Array, state: Nud): void {
    const neighs = this.ns.neighs;
    if (neighs.shared && neighs.isShared(neighKey(dev, ip))) neighs.shared.detach(); // copy-on-write
    let n = this.neighLookup(dev, ip);
    if (!n) n = this.neighCreate(dev, ip, state, mac.slice());
    const queued = n.queue;
    n.mac = mac.slice();
    n.state = state;
    n.gen++;
    if (state === Nud.REACHABLE) this.neighSetState(n, Nud.REACHABLE);
    n.queue = []; n.queueBytes = 0;
    for (const skb of queued) { copyMac(skb.buf, skb.data, n.mac); n.dev.xmit(skb); }
  }

  // ───────────────────────────── ICMP ─────────────────────────────

  /**
   * icmp_send: an ICMP error about `orig` (whose IP header is at orig.nh), sent
   * back to its source. Not for ICMP errors, non-first fragments, or broadcast
   * sources; rate limited per destination (1 s, burst 6) like the kernel's
   * inet_peer_xrlim_allow. TOS = orig TOS | CS6 (0xc0), DF clear, TTL 64; the
   * quote is as much of the original as fits in 576 bytes.
   */
  icmpSend(orig: Skb, type: number, code: number, info: number): void {
    const b = orig.buf, nh = orig.nh;
    const src = ipv4Saddr(b, nh), dst = ipv4Daddr(b, nh);
    if (src === 0 || src === 0xffffffff || (src >>> 28) === 0xe) return;
    if (orig.pktType === PktType.BROADCAST || orig.pktType === PktType.MULTICAST) return;
    if (u16(b, nh + 6) & IP_OFFSET) return;
    const ihl = ipv4HeaderLen(b, nh);
    if (ipv4Protocol(b, nh) === IPPROTO_ICMP) {
      const t = b[nh + ihl];
      if (t !== ICMP_ECHO && t !== ICMP_ECHOREPLY && t !== 13 && t !== 14 && t !== 15 && t !== 16 && t !== 17 && t !== 18) return;
    }
    if (!this.icmpRateOk(src, type)) {
      if (this.world.trace.on) this.ev(null, orig, 'icmp.ratelimit', `not sending type ${type} code ${code} to ${ipToString(src)}`);
      return;
    }
    const rt = this.ns.fib.lookup(src);
    if (!rt || rt.type !== 'unicast' && rt.type !== 'local') return;
    // Source: the original destination when it was ours, else the address the route back prefers.
    const saddr = this.ns.isLocal(dst) ? dst : this.ns.selectSrc(rt.dev, src, rt);
    const room = Math.min(576, rt.dev ? rt.dev.mtu : 576) - 20 - 8;
    const quoteLen = Math.min(room, ipv4TotLen(b, nh));
    const skb = Skb.alloc(ETH_HLEN + 20 + 8 + quoteLen);
    skb.flow = orig.flow;
    if (orig.path && this.world.watchPaths) skb.path = [];
    const onh = skb.data + ETH_HLEN;
    const ic = onh + 20;
    const ob = skb.buf;
    ob[ic] = type; ob[ic + 1] = code;
    setU16(ob, ic + 2, 0);
    if (type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED) { setU16(ob, ic + 4, 0); setU16(ob, ic + 6, info); }
    else setU32(ob, ic + 4, 0);
    ob.set(b.subarray(nh, nh + quoteLen), ic + 8);
    setU16(ob, ic + 2, checksum(ob, ic, 8 + quoteLen));
    writeIpv4Header(ob, onh, saddr, src, IPPROTO_ICMP, 64, (b[nh + 1] & 0x1e) | 0xc0, this.selectIdent(), false, 8 + quoteLen);
    skb.nh = onh;
    if (this.world.trace.on) this.ev(null, skb, 'icmp.send', `type ${type} code ${code} to ${ipToString(src)} from ${ipToString(saddr)} about packet #${orig.id}`);
    // icmp_glue_bits: an error carries the offending packet's connection, as RELATED (nf_ct_attach).
    this.ns.ctAttach?.(skb, orig);
    this.localOut(skb, rt);
  }

  private icmpRateOk(dst: number, type: number): boolean {
    // icmp_ratemask 0x1818: dest unreachable, source quench, time exceeded, parameter problem.
    if (!((1 << type) & 0x1818)) return true;
    if (type === ICMP_DEST_UNREACH) { /* frag-needed is exempt (code 4) — checked by caller via code */ }
    const limit = Number(this.ns.sysctl('net.ipv4.icmp_ratelimit')) * 1_000_000;
    if (limit <= 0) return true;
    const now = this.world.now;
    let p = this.icmpPeers.get(dst);
    if (!p) { p = { tokens: 6 * limit, last: now }; this.icmpPeers.set(dst, p); }
    p.tokens = Math.min(6 * limit, p.tokens + (now - p.last));
    p.last = now;
    if (p.tokens >= limit) { p.tokens -= limit; return true; }
    return false;
  }

  // ───────────────────────────── hooks ─────────────────────────────

  /** hook()'s state objects, by nesting depth. */
  private readonly hookStates: NfHookState[] = [];
  private hookDepth = 0;

  /** NF_HOOK: runs every registered function in priority order; false when the packet is gone. */
  hook(hook: NfHook, skb: Skb, inDev: NetDevice | null, outDev: NetDevice | null, bridge?: { physIn: NetDevice | null; physOut: NetDevice | null }): boolean {
    const hooks = this.ns.hooks;
    let list = hooks.ipv4On[hook];
    if (list.length === 0) {
      // Nothing to call (a pod's namespace without rules): nothing registered is worth a trace line.
      if (hooks.ipv4[hook].length === 0 && this.world.trace.on) this.ev(inDev ?? outDev, skb, 'nf.hook', NO_HOOKS_TEXT[hook]);
      return true;
    }
    // One state object per nesting depth (a hook may send a packet through hooks of its own, e.g.
    // REJECT's ICMP error), reused for every packet, in one shape (bridged or not, reason/detail
    // set by a dropping hook later) so the hook functions' property loads stay monomorphic.
    const d = this.hookDepth;
    let state = this.hookStates[d];
    if (state === undefined) {
      state = { hook, pf: 'ipv4', in: null, out: null, physIn: null, physOut: null, bridged: false, reason: undefined, detail: undefined };
      this.hookStates.push(state);
    }
    state.hook = hook; state.in = inDev; state.out = outDev;
    state.physIn = bridge ? bridge.physIn : null; state.physOut = bridge ? bridge.physOut : null; state.bridged = bridge !== undefined;
    state.reason = undefined; state.detail = undefined;
    this.hookDepth = d + 1;
    let gen = hooks.gen;
    // Every function registered as the hook began (HookTable replaces lists, never edits them).
    const all = hooks.ipv4[hook];
    try {
      for (let k = 0; k < list.length; k++) {
        const ops = list[k];
        if (ops.off === true) continue;
        const v = ops.fn(skb, state);
        if (gen !== hooks.gen && list !== all) {
          // A function switched others on or off (the first hook after deferred rule changes
          // settles them): go on after it in every function registered when the hook began,
          // reading `off` as we go.
          gen = hooks.gen;
          list = all;
          k = all.indexOf(ops);
        }
        if (v === NfVerdict.ACCEPT) continue;
        if (v === NfVerdict.STOLEN) return false;
        this.ns.drop(skb, inDev ?? outDev, state.reason ?? 'NETFILTER_DROP', state.detail ?? `${HOOK_NAMES[hook]} ${ops.name} DROP`);
        return false;
      }
    } finally {
      this.hookDepth = d;
    }
    return true;
  }
}

export type { DropReason };
