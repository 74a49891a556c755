/**
 * The Linux `vxlan` device (drivers/net/vxlan/vxlan_core.c), as flanneld creates
 * flannel.1: `ip link add flannel.1 type vxlan id 1 local IP dev eth0 dstport 8472 nolearning`.
 *
 * Transmit (vxlan_xmit → vxlan_xmit_one → udp_tunnel_xmit_skb): the inner destination
 * MAC is looked up in the device's own FDB (`bridge fdb … dev flannel.1 dst IP self`),
 * falling back to the all-zeros default entry; no entry → dropped (VXLAN_NO_REMOTE).
 * Each remote gets an encapsulated copy, sent through the namespace's own output path
 * (route lookup, OUTPUT/POSTROUTING hooks, neighbour resolution of the remote on the
 * underlay, then the NIC), as a new packet whose `innerId` is the inner packet's id:
 *   outer IPv4: source = `local` (else the route's preferred source), TTL = ttl 0 ("auto")
 *     → net.ipv4.ip_default_ttl (64), TOS = tos 0 (no inherit) with the inner ECN bits
 *     copied (INET_ECN_encapsulate: CE is sent as ECT(0)), DF clear (df unset),
 *     IP ID from __ip_select_ident (the stack's selectIdent);
 *   outer UDP: destination `dstport`, source udp_flow_src_port() in the kernel's default
 *     range (ip_local_port_range, 32768–60999: hash ^= hash << 16, then scaled), checksum
 *     computed (the kernel's default for a vxlan device over IPv4 is `udpcsum`, seen in
 *     `ip -d link show` on 6.18 and in the captures);
 *   VXLAN header: flags 0x08 (I), 24 reserved bits, VNI, 8 reserved bits.
 * The kernel's source port hash is skb_get_hash(): the socket's random sk_txhash for
 * packets of TCP and connected UDP sockets (so each direction of a TCP connection has its
 * own port), else the flow dissector's jhash of the consistentified flow keys with a
 * random per-boot seed (symmetric: an ICMP echo and its reply share a port). The values
 * cannot match the kernel's; here the port is a deterministic function of the inner flow
 * and a seed drawn once per World from the run's Rng: a packet carrying its socket's hash
 * (`Skb.txHash`, connected UDP) uses it; TCP hashes the directed 5-tuple (standing for the
 * per-socket hash), everything else the sorted (symmetric) addresses,
 * protocol and ports (ICMP: addresses and protocol, the kernel dissects no ports for it).
 * Same flow → same port; the kernel comparison renumbers ports in 32768–60999.
 * Not modelled: the txhash re-roll after a TCP retransmission timeout, `srcport MIN MAX`.
 *
 * Receive (vxlan_rcv): the vxlan socket is a UDP encapsulation socket on `dstport` bound
 * to any address (udp_tunnel encap_rcv), registered in the namespace's Sockets while a
 * vxlan device with that port is up: checked after the UDP checksum (no ICMP port
 * unreachable while it listens). The header must be 0x08 flags with reserved bits zero
 * (VXLAN_INVALID_HDR), the VNI must belong to an up device on that port
 * (VXLAN_VNI_NOT_FOUND), a frame from our own MAC is dropped (LOCAL_MAC); then the inner
 * frame is received on the vxlan device (its taps, `dev.recv`, then the IP stack) as the
 * packet it was before encapsulation (its id is the outer packet's innerId), without
 * conntrack state (iptunnel_pull_header scrubs it). Not modelled: learning (flannel runs
 * `nolearning`), ECN decapsulation, GBP, multicast groups.
 */
import { NetDevice } from '../device.js';
import type { Netns } from '../netns.js';
import { Skb } from '../skb.js';
import { macKey } from './bridge.js';
import { ETH_HLEN, ETH_P_IP } from '../../wire/ethernet.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, writeIpv4Header } from '../../wire/ipv4.js';
import { ipToString, macToString, setU16, setU32, u16, u32, macEquals } from '../../wire/bytes.js';
import { CLAIM_FDB, mergeByStamp, nextStamp, type MeshView } from '../peer-mesh.js';
import { finishChecksum, onesSum, pseudoHeaderSum } from '../../wire/checksum.js';

/** Linux's default VXLAN port (vxlan_port = 8472; IANA's 4789 is not the kernel default). */
export const VXLAN_DEFAULT_PORT = 8472;
/** Outer Ethernet + IPv4 + UDP + VXLAN (VXLAN_HEADROOM). */
export const VXLAN_HEADROOM = 50;
export const VXLAN_HLEN = 8;
/** VXLAN_FLAGS: the I flag in the first 32-bit word. */
export const VXLAN_FLAGS = 0x08000000;

export interface VxlanRemote {
  /** Remote VTEP IPv4 address. */
  dst: number;
  permanent: boolean;
}

export interface VxlanFdbEntry {
  mac: Uint8Array;
  /** One or more remotes (`bridge fdb append` adds another; vxlan_xmit sends to each). */
  remotes: VxlanRemote[];
}

/** Per-world seed of the source-port hash (the kernel's per-boot hashrnd): drawn once, on first use. */
const seeds = new WeakMap<object, number>();

/** net.ipv4.ip_local_port_range parsed, cached by its text (read on every encapsulated frame). */
let rangeText: string | null = null;
let rangeParsed = { lo: 0, hi: 0 };
function portRange(text: string): { lo: number; hi: number } {
  if (text !== rangeText) {
    const [lo, hi] = text.split(/\s+/).map(Number);
    rangeText = text;
    rangeParsed = { lo, hi };
  }
  return rangeParsed;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

export class Vxlan extends NetDevice {
  readonly kind = 'vxlan';
  /** MAC number → entry, in insertion order (the order `bridge fdb show` prints): the device's own entries. */
  readonly fdb = new Map<number, VxlanFdbEntry>();
  /** A peer mesh whose FDB entries follow the own ones (peer-mesh.ts). */
  shared: MeshView | null = null;
  /** Stamps of the own keys added while a mesh is attached (merged listing order). */
  private stamps: Map<number, number> | null = null;

  constructor(netns: Netns, name: string, mac: Uint8Array, mtu: number,
    readonly vni: number, readonly dstport: number, readonly local: number,
    readonly lower: NetDevice | null, readonly learning: boolean) {
    super(netns, name, mac, mtu);
  }

  /** `bridge fdb add|append|replace MAC dev NAME dst IP self`. */
  fdbAdd(mac: Uint8Array, dst: number, mode: 'add' | 'append' | 'replace', permanent: boolean): 'EEXIST' | null {
    const k = macKey(mac, 0);
    if (this.shared && !this.fdb.has(k) && this.shared.entryByMac(k)) {
      if (mode === 'add') return 'EEXIST';
      this.shared.detach(); // copy-on-write
    }
    const e = this.fdb.get(k);
    if (!e) {
      this.fdb.set(k, { mac: mac.slice(), remotes: [{ dst, permanent }] });
      if (this.stamps) { this.stamps.set(k, nextStamp()); this.shared!.claim(CLAIM_FDB, k); }
      return null;
    }
    if (mode === 'add') return 'EEXIST';
    if (mode === 'replace') { e.remotes = [{ dst, permanent }]; return null; }
    if (e.remotes.some((r) => r.dst === dst)) return 'EEXIST';
    e.remotes.push({ dst, permanent });
    return null;
  }

  /** `bridge fdb del MAC dev NAME [dst IP]`: false when nothing matched. */
  fdbDel(mac: Uint8Array, dst?: number): boolean {
    const k = macKey(mac, 0);
    if (this.shared && !this.fdb.has(k)) {
      const se = this.shared.entryByMac(k);
      if (!se || (dst !== undefined && !se.fdb.remotes.some((r) => r.dst === dst))) return false;
      this.shared.detach(); // copy-on-write
    }
    const e = this.fdb.get(k);
    if (!e) return false;
    if (dst === undefined) { this.fdb.delete(k); this.stamps?.delete(k); return true; }
    const i = e.remotes.findIndex((r) => r.dst === dst);
    if (i < 0) return false;
    e.remotes.splice(i, 1);
    if (e.remotes.length === 0) { this.fdb.delete(k); this.stamps?.delete(k); }
    return true;
  }

  /** The entry for a MAC number: the device's own, else the attached mesh's. */
  fdbGet(k: number): VxlanFdbEntry | undefined {
    const e = this.fdb.get(k);
    if (e !== undefined || this.shared === null) return e;
    return this.shared.entryByMac(k)?.fdb;
  }

  /** Own and shared entries in insertion order. */
  fdbEntries(): Iterable<VxlanFdbEntry> {
    const v = this.shared;
    if (!v) return this.fdb.values();
    const stamps = this.stamps;
    return mergeByStamp(this.fdb, (k) => stamps?.get(k) ?? 0, v.ordered(), (e) => [e.macKey, e.fdb]).map(([, e]) => e);
  }

  attachShared(v: MeshView): void {
    if (this.shared) throw new Error('a vxlan device holds one shared mesh');
    this.shared = v;
    this.stamps = new Map();
    for (const k of this.fdb.keys()) v.claim(CLAIM_FDB, k);
  }

  /** Materialises the mesh's entries (copies: own entries are mutable) in listing order. */
  detachShared(v: MeshView): void {
    if (this.shared !== v) return;
    const stamps = this.stamps;
    const merged = mergeByStamp(this.fdb, (k) => stamps?.get(k) ?? 0, v.ordered(), (e) => [e.macKey, { mac: e.mac.slice(), remotes: e.fdb.remotes.map((r) => ({ ...r })) }]);
    this.fdb.clear();
    for (const [k, e] of merged) this.fdb.set(k, e);
    this.shared = null;
    this.stamps = null;
  }

  /** `bridge fdb show dev NAME` lines, as iproute2 prints a vxlan device's own entries. */
  showFdb(): string[] {
    const out: string[] = [];
    for (const e of this.fdbEntries()) for (const r of e.remotes) {
      out.push(`${macToString(e.mac)} dst ${ipToString(r.dst)} self ${r.permanent ? 'permanent' : 'static'}`);
    }
    return out;
  }

  /**
   * udp_flow_src_port for the inner frame at `off` (Ethernet header): a keyed hash of the
   * flow (see the file comment) mapped into net.ipv4.ip_local_port_range.
   */
  flowSrcPort(b: Uint8Array, off: number, len: number, txHash = 0): number {
    const w = this.netns.node.world;
    let seed: number | undefined;
    if (this.seedWorld === w) seed = this.seed;
    else {
      seed = seeds.get(w);
      if (seed === undefined) { seed = w.rng.u32() >>> 0; seeds.set(w, seed); }
      this.seedWorld = w; this.seed = seed;
    }
    let h = seed;
    const type = len >= ETH_HLEN ? u16(b, off + 12) : 0;
    const nh = off + ETH_HLEN;
    if (txHash) {
      h = mix(h, txHash);
    } else if (type === ETH_P_IP && len >= ETH_HLEN + 20) {
      const ihl = (b[nh] & 0x0f) * 4;
      const proto = b[nh + 9];
      let src = u32(b, nh + 12), dst = u32(b, nh + 16);
      let sport = 0, dport = 0;
      const frag = u16(b, nh + 6) & 0x1fff;
      if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && frag === 0 && len >= ETH_HLEN + ihl + 4) {
        sport = u16(b, nh + ihl); dport = u16(b, nh + ihl + 2);
      }
      // __flow_hash_consistentify, except for TCP (standing for the socket's own txhash).
      if (proto !== IPPROTO_TCP && (src > dst || (src === dst && sport > dport))) {
        const a = src; src = dst; dst = a;
        const q = sport; sport = dport; dport = q;
      }
      h = mix(mix(mix(mix(h, src), dst), proto === IPPROTO_ICMP ? proto : proto * 0x10000 + 1), sport * 0x10000 + dport);
    } else {
      // Not IPv4: the Ethernet addresses and type (flow_dissector's eth keys).
      for (let i = 0; i < 12; i += 4) h = mix(h, len >= off + i + 4 ? u32(b, off + i) : 0);
      h = mix(h, type);
    }
    h = (h ^ (h << 16)) >>> 0;
    this.readSysctls();
    const range = this.portRange;
    return Math.floor((h * (range.hi - range.lo)) / 0x1_0000_0000) + range.lo;
  }

  /** The per-world source-port seed, kept here after the first lookup (world, value). */
  private seedWorld: object | null = null;
  private seed = 0;
  /** The namespace's sysctls read per encapsulated frame, parsed as of `sysVersion` (CowMap.version) in `sysNs`. */
  private sysNs: Netns | null = null;
  private sysVersion = -1;
  private defaultTtl = 64;
  private portRange = { lo: 0, hi: 0 };

  private readSysctls(): void {
    const ns = this.netns;
    if (this.sysNs === ns && this.sysVersion === ns.sysctls.version) return;
    this.defaultTtl = Number(ns.sysctl('net.ipv4.ip_default_ttl')) || 64;
    this.portRange = portRange(ns.sysctl('net.ipv4.ip_local_port_range'));
    this.sysNs = ns;
    this.sysVersion = ns.sysctls.version;
  }

  /** vxlan_xmit: FDB lookup, then one encapsulated copy per remote. */
  protected transmit(skb: Skb): void {
    const b = skb.buf, d = skb.data;
    const w = this.netns.node.world;
    let e = this.fdbGet(macKey(b, d));
    const hit = e !== undefined;
    if (!e) e = this.fdb.get(0);
    if (!e || e.remotes.length === 0) {
      this.txDropped++;
      this.netns.drop(skb, this, 'VXLAN_NO_REMOTE', `no FDB entry for ${macToString(b, d)} on ${this.name}`);
      return;
    }
    if (w.trace.on) w.event(this.netns.node.name, this.netns.name, this.name, skb, 'vxlan.fdb', `${macToString(b, d)} ${hit ? '' : '(default entry) '}→ ${e.remotes.map((r) => ipToString(r.dst)).join(', ')}`);
    const n = e.remotes.length;
    for (let i = 0; i < n; i++) this.xmitOne(i === n - 1 ? skb : skb.copy(), e.remotes[i].dst);
  }

  /** vxlan_xmit_one over IPv4: route, outer headers, ip_local_out. */
  private xmitOne(inner: Skb, dst: number): void {
    const ns = this.netns;
    const w = ns.node.world;
    const rt = ns.stack.routeOutput(dst);
    if (!rt || (rt.type !== 'unicast' && rt.type !== 'local') || (this.lower && rt.type === 'unicast' && rt.dev !== this.lower)) {
      ns.drop(inner, this, 'IP_OUTNOROUTES', `no route to VTEP ${ipToString(dst)}${this.lower ? ` via ${this.lower.name}` : ''}`);
      return;
    }
    const ib = inner.buf, id = inner.data, ilen = inner.len;
    const saddr = this.local || ns.selectSrc(rt.dev, dst, rt);
    const ulen = 8 + VXLAN_HLEN + ilen;
    const hlen = ETH_HLEN + 20 + 8 + VXLAN_HLEN;
    // The outer headers go in the inner frame's headroom when it has room (vxlan_xmit_one's
    // skb_cow_head: the kernel pushes them onto the same skb); the inner bytes stay where they
    // are. The outer packet is still a new Skb with its own id, as before.
    const inPlace = id >= hlen;
    const o = inPlace ? new Skb(ib, id - hlen, hlen + ilen) : Skb.alloc(hlen + ilen);
    o.innerId = inner.id;
    o.flow = inner.flow;
    o.mark = inner.mark;
    // The kernel encapsulates the same skb, so a TCP segment's dst_pending_confirm bit (kept across
    // namespaces by skb_scrub_packet) also confirms the underlay neighbour in ip_finish_output2.
    o.confirmNeigh = inner.confirmNeigh;
    if (inner.path) o.path = inner.path;
    const ob = o.buf, nh = o.data + ETH_HLEN, uh = nh + 20, vh = uh + 8;
    if (!inPlace) ob.set(ib.subarray(id, id + ilen), vh + VXLAN_HLEN);
    // VXLAN header.
    setU32(ob, vh, VXLAN_FLAGS);
    setU32(ob, vh + 4, (this.vni << 8) >>> 0);
    // UDP header and checksum (udpcsum).
    setU16(ob, uh, this.flowSrcPort(ib, id, ilen, inner.txHash));
    setU16(ob, uh + 2, this.dstport);
    setU16(ob, uh + 4, ulen);
    setU16(ob, uh + 6, 0);
    const sum = finishChecksum(onesSum(ob, uh, ulen, pseudoHeaderSum(saddr, dst, IPPROTO_UDP, ulen)));
    setU16(ob, uh + 6, sum === 0 ? 0xffff : sum);
    o.csumOk = true;
    // Outer IPv4: tos 0 plus the inner ECN bits (CE → ECT(0)), ttl auto, DF clear.
    let tos = 0;
    if (ilen >= ETH_HLEN + 20 && u16(ib, id + 12) === ETH_P_IP) {
      const ecn = ib[id + ETH_HLEN + 1] & 3;
      tos = ecn === 3 ? 2 : ecn;
    }
    this.readSysctls();
    const ttl = this.defaultTtl;
    writeIpv4Header(ob, nh, saddr, dst, IPPROTO_UDP, ttl, tos, ns.stack.selectIdent(), false, ulen);
    o.nh = nh;
    if (w.trace.on) w.event(ns.node.name, ns.name, this.name, o, 'vxlan.encap', `vni ${this.vni} ${ipToString(saddr)}:${u16(ob, uh)} → ${ipToString(dst)}:${this.dstport}`);
    ns.stack.localOut(o, rt);
  }

  /**
   * vxlan_rcv for a datagram to this device's port (Ethernet header at skb.data, IPv4 at
   * skb.nh, UDP checksum already verified). `vs` = every vxlan device of the namespace.
   */
  static rcv(ns: Netns, skb: Skb, port: number): boolean {
    // Whether an up vxlan device listens on this port, and the first such device with the
    // header's VNI (read here, used only once the header is checked): one pass, no list per datagram.
    let bound = false;
    const b = skb.buf, nh = skb.nh;
    const vni = u32(b, nh + (b[nh] & 0x0f) * 4 + 12) >>> 8;
    let dev: Vxlan | undefined;
    for (const d of ns.devices.values()) {
      if (!(d instanceof Vxlan) || !d.up || d.dstport !== port) continue;
      bound = true;
      if (d.vni === vni) { dev = d; break; }
    }
    if (!bound) return false; // no vxlan socket on this port: the ordinary UDP path
    const w = ns.node.world;
    const uh = nh + (b[nh] & 0x0f) * 4;
    const ulen = u16(b, uh + 4);
    const inDev = skb.dev;
    if (ulen < 8 + VXLAN_HLEN + ETH_HLEN) { ns.drop(skb, inDev, 'PKT_TOO_SMALL', 'VXLAN datagram too short'); return true; }
    const vh = uh + 8;
    if (u32(b, vh) !== VXLAN_FLAGS || b[vh + 7] !== 0) {
      ns.drop(skb, inDev, 'VXLAN_INVALID_HDR', `VXLAN header ${u32(b, vh).toString(16).padStart(8, '0')} ${u32(b, vh + 4).toString(16).padStart(8, '0')}: I flag missing or reserved bits set`);
      return true;
    }
    if (!dev) { ns.drop(skb, inDev, 'VXLAN_VNI_NOT_FOUND', `no vxlan device for VNI ${vni} on port ${port}`); return true; }
    const start = vh + VXLAN_HLEN;
    const len = uh + ulen - start;
    if (macEquals(b, start + 6, dev.mac, 0)) { ns.drop(skb, dev, 'LOCAL_MAC', `inner source MAC ${macToString(b, start + 6)} is ${dev.name}'s own`); return true; }
    if (w.trace.on) w.event(ns.node.name, ns.name, dev.name, skb, 'vxlan.decap', `vni ${vni} from ${ipToString(u32(b, nh + 12))}:${u16(b, uh)}`);
    const inner = new Skb(b, start, len, skb.innerId || undefined);
    inner.confirmNeigh = skb.confirmNeigh; // the same skb in the kernel, its pending-confirm bit kept
    inner.flow = skb.flow;
    inner.path = skb.path;
    inner.mark = skb.mark;
    dev.receive(inner);
    return true;
  }
}
