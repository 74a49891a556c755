/**
 * Sockets of one namespace and the L4 demultiplexer (ip_local_deliver_finish):
 * TCP (tcp.ts), UDP, the ICMP echo responder and ping sockets. A packet for a
 * port nobody listens on is answered the kernel's way: TCP RST, ICMP port
 * unreachable for UDP, ICMP protocol unreachable for an unknown protocol.
 */
import type { NetDevice } from './device.js';
import type { Netns } from './netns.js';
import { Skb } from './skb.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, ipv4Daddr as ipDst, ipv4HeaderLen as ipHdrLen, ipv4Protocol as ipProto, ipv4Saddr as ipSrc, ipv4TotLen as ipTotLen, writeIpv4Header } from '../wire/ipv4.js';
import { ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY, ICMP_PORT_UNREACH, ICMP_PROT_UNREACH, ICMP_TIME_EXCEEDED } from '../wire/icmp.js';
import { TcpSock, tcpRcv, type TcpHandlers } from './tcp.js';
import { u16, setU16, ipToString } from '../wire/bytes.js';
import { checksum, onesSum, pseudoHeaderSum, finishChecksum } from '../wire/checksum.js';

/** Why a request failed, as an application sees it (errno-ish). */
export type SockError = 'ECONNREFUSED' | 'ENOPROTOOPT' | 'ECONNRESET' | 'EHOSTUNREACH' | 'ENETUNREACH' | 'ETIMEDOUT' | 'EACCES' | 'EMSGSIZE';

/** An ICMP error as a socket learns it: type/code and the router that sent it. */
export interface IcmpErrorInfo {
  type: number;
  code: number;
  from: number;
}

export function icmpErrno(type: number, code: number): SockError {
  if (type === ICMP_TIME_EXCEEDED) return 'EHOSTUNREACH';
  switch (code) {
    case 0: case 6: case 9: case 11: return 'ENETUNREACH';
    case 2: return 'ENOPROTOOPT';
    case 3: return 'ECONNREFUSED';
    case 4: return 'EMSGSIZE';
    default: return 'EHOSTUNREACH';
  }
}

export interface UdpHandlers {
  /** A datagram arrived: `reply` sends one back to its sender from the receiving address. */
  onMessage?(data: Uint8Array, from: number, fromPort: number, reply: (data: Uint8Array) => void): void;
  onError?(err: SockError, info: IcmpErrorInfo): void;
}

export class UdpSock {
  closed = false;
  /** Connected peer (connect(2)), 0 when unconnected. */
  raddr = 0;
  rport = 0;
  laddr = 0;
  /** inet_id for connected sockets. */
  ipId: number;
  /** sk_txhash: random, set on the first send once connected (ip4_datagram_connect's sk_set_txhash). */
  txHash = 0;
  /** IP_MTU_DISCOVER: 'want' (the default: DF when the datagram fits the route MTU, else fragmented locally) or 'dont' (never DF). */
  pmtudisc: 'want' | 'dont' = 'want';
  constructor(readonly ns: Netns, readonly lport: number, readonly h: UdpHandlers) {
    this.ipId = ns.world.rng.int(0, 0xffff);
  }

  /** sendto: one datagram, DF set (pmtudisc WANT), IP ID per socket when connected, 0 otherwise (DF). */
  send(data: Uint8Array, dst: number, dport: number, flow?: string, onSkb?: (skb: Skb) => void): SockError | null {
    const rt = this.ns.stack.routeOutput(dst);
    if (!rt) return 'ENETUNREACH';
    const src = this.laddr || (rt.type === 'local' ? dst : this.ns.selectSrc(rt.dev, dst, rt));
    const skb = Skb.alloc(ETH_HLEN + 20 + 8 + data.length);
    skb.flow = flow;
    const nh = skb.data + ETH_HLEN, uh = nh + 20, b = skb.buf;
    setU16(b, uh, this.lport); setU16(b, uh + 2, dport); setU16(b, uh + 4, 8 + data.length); setU16(b, uh + 6, 0);
    b.set(data, uh + 8);
    const sum = finishChecksum(onesSum(b, uh, 8 + data.length, pseudoHeaderSum(src, dst, IPPROTO_UDP, 8 + data.length)));
    setU16(b, uh + 6, sum === 0 ? 0xffff : sum);
    // Known good unless a caller's hook may rewrite the bytes (tests corrupt them there).
    skb.csumOk = onSkb === undefined;
    const connected = this.raddr !== 0;
    if (connected) {
      if (!this.txHash) this.txHash = this.ns.world.rng.u32() || 1;
      skb.txHash = this.txHash;
    }
    const df = this.pmtudisc === 'want' && 20 + 8 + data.length <= (rt.dev ? this.ns.stack.pathMtu(dst, rt.dev.mtu) : 65535);
    // Connected: the socket's inet_id counter. Unconnected with pmtudisc WANT: ignore_df is set, so the
    // hashed ident is used even with DF (observed on 6.18: a UDP server's DF replies carry non-zero IDs).
    const id = connected ? (this.ipId = (this.ipId + 1) & 0xffff, (this.ipId - 1) & 0xffff) : this.ns.stack.selectIdent();
    writeIpv4Header(b, nh, src, dst, IPPROTO_UDP, 64, 0, id, df, 8 + data.length);
    skb.nh = nh;
    if (onSkb) onSkb(skb);
    this.ns.stack.localOut(skb, rt);
    return null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ns.sockets.udp.delete(this.lport);
  }
}

export interface PingHandlers {
  onReply?(seq: number, from: number, ttl: number, skb: Skb): void;
  onError?(err: SockError, info: IcmpErrorInfo, seq: number): void;
}

export class PingSock {
  /** IP_MTU_DISCOVER as `ping -M want|dont` sets it (want is ping's default). */
  pmtudisc: 'want' | 'dont' = 'want';
  constructor(readonly ns: Netns, readonly ident: number, readonly h: PingHandlers) {}

  /**
   * Sends an echo request as iputils ping does: `size` data bytes, the first 16
   * a struct timeval of the send time, the rest the pattern 0x10, 0x11, …;
   * DF set, IP ID from the hash (raw socket, pmtudisc WANT → ignore_df).
   */
  send(dst: number, seq: number, size: number, flow?: string, onSkb?: (skb: Skb) => void, srcAddr?: number): SockError | null {
    const rt = this.ns.stack.routeOutput(dst);
    if (!rt) return 'ENETUNREACH';
    const src = srcAddr ?? (rt.type === 'local' ? dst : this.ns.selectSrc(rt.dev, dst, rt));
    const skb = Skb.alloc(ETH_HLEN + 20 + 8 + size);
    skb.flow = flow;
    const nh = skb.data + ETH_HLEN, ic = nh + 20, b = skb.buf;
    b[ic] = ICMP_ECHO; b[ic + 1] = 0; setU16(b, ic + 2, 0); setU16(b, ic + 4, this.ident); setU16(b, ic + 6, seq);
    const now = this.ns.world.now;
    const sec = Math.floor(now / 1e9), usec = Math.floor((now % 1e9) / 1e3);
    for (let i = 0; i < size; i++) b[ic + 8 + i] = i & 0xff;
    if (size >= 16) {
      // struct timeval on x86_64: tv_sec (8 bytes LE), tv_usec (8 bytes LE).
      const dv = new DataView(b.buffer, b.byteOffset + ic + 8, 16);
      dv.setUint32(0, sec >>> 0, true); dv.setUint32(4, 0, true);
      dv.setUint32(8, usec, true); dv.setUint32(12, 0, true);
    }
    setU16(b, ic + 2, checksum(b, ic, 8 + size));
    const df = this.pmtudisc === 'want' && 28 + size <= (rt.dev ? this.ns.stack.pathMtu(dst, rt.dev.mtu) : 65535);
    writeIpv4Header(b, nh, src, dst, IPPROTO_ICMP, 64, 0, this.ns.stack.selectIdent(), df, 8 + size);
    skb.nh = nh;
    if (onSkb) onSkb(skb);
    this.ns.stack.localOut(skb, rt);
    return null;
  }

  close(): void { this.ns.sockets.ping.delete(this.ident); }
}

/**
 * A datagram on its way to its socket's handler (run deferred, as user space): one object
 * per datagram where a closure over these and its context were two (issue 9).
 */
class UdpDelivery {
  constructor(readonly s: UdpSock, readonly data: Uint8Array, readonly src: number, readonly sport: number, readonly dst: number, readonly flow: string | undefined) {}
}

function deliverUdp(d: UdpDelivery): void {
  const s = d.s;
  s.h.onMessage?.(d.data, d.src, d.sport, (reply) => {
    const saved = s.laddr;
    s.laddr = d.dst;
    s.send(reply, d.src, d.sport, d.flow);
    s.laddr = saved;
  });
}

export class Sockets {
  readonly udp = new Map<number, UdpSock>();
  readonly ping = new Map<number, PingSock>();
  /** TCP listeners by local port. */
  readonly tcpListen = new Map<number, TcpHandlers>();
  /** TCP connections: local port → (remote addr * 65536 + remote port) → socket. */
  readonly tcp = new Map<number, Map<number, TcpSock>>();

  /**
   * UDP encapsulation sockets (setup_udp_tunnel_sock's encap_rcv), by port: a handler sees a
   * datagram after the checksum check and returns true when it took it (false: no such
   * socket is open after all, the ordinary lookup follows). The vxlan device registers one.
   */
  readonly encap = new Map<number, (skb: Skb, port: number) => boolean>();

  /**
   * Handlers a kernel module adds for another IP protocol (inet_add_protocol), by protocol
   * number: the ipip module's tunnel4_rcv for protocol 4. Consulted after TCP/UDP/ICMP.
   */
  readonly protocols = new Map<number, (skb: Skb, dev: NetDevice) => void>();

  constructor(readonly ns: Netns) {}

  /** A free ephemeral port in ip_local_port_range, starting from a random offset as __inet_hash_connect does. */
  ephemeralPort(proto: 'tcp' | 'udp'): number {
    const [lo, hi] = this.ns.sysctl('net.ipv4.ip_local_port_range').split(/\s+/).map(Number);
    const range = hi - lo + 1;
    const start = this.ns.world.rng.int(0, range - 1);
    for (let i = 0; i < range; i++) {
      const p = lo + ((start + i) % range);
      if (proto === 'udp' ? !this.udp.has(p) : !this.tcp.has(p) && !this.tcpListen.has(p)) return p;
    }
    throw new Error('EADDRNOTAVAIL: no free ephemeral port');
  }

  udpBind(port: number, h: UdpHandlers): UdpSock {
    if (this.udp.has(port)) throw new Error(`EADDRINUSE: UDP port ${port} in ${this.ns.name}`);
    const s = new UdpSock(this.ns, port, h);
    this.udp.set(port, s);
    return s;
  }

  pingOpen(h: PingHandlers, ident?: number): PingSock {
    let id = ident ?? this.ns.world.rng.int(1, 0xffff);
    while (this.ping.has(id)) id = (id % 0xffff) + 1;
    const s = new PingSock(this.ns, id, h);
    this.ping.set(id, s);
    return s;
  }

  tcpListenOn(port: number, h: TcpHandlers): void {
    if (this.tcpListen.has(port)) throw new Error(`EADDRINUSE: TCP port ${port} in ${this.ns.name}`);
    this.tcpListen.set(port, h);
  }

  tcpLookup(lport: number, raddr: number, rport: number): TcpSock | undefined {
    return this.tcp.get(lport)?.get(raddr * 65536 + rport);
  }

  tcpInsert(s: TcpSock): void {
    let m = this.tcp.get(s.lport);
    if (!m) { m = new Map(); this.tcp.set(s.lport, m); }
    m.set(s.raddr * 65536 + s.rport, s);
  }

  tcpRemove(s: TcpSock): void {
    const m = this.tcp.get(s.lport);
    if (!m) return;
    if (m.get(s.raddr * 65536 + s.rport) === s) m.delete(s.raddr * 65536 + s.rport);
    if (m.size === 0) this.tcp.delete(s.lport);
  }

  /** ip_local_deliver_finish: hand the packet to its protocol. */
  deliver(skb: Skb, dev: NetDevice): void {
    const proto = ipProto(skb.buf, skb.nh);
    if (proto === IPPROTO_TCP) tcpRcv(this.ns, skb, dev);
    else if (proto === IPPROTO_UDP) this.udpRcv(skb, dev);
    else if (proto === IPPROTO_ICMP) this.icmpRcv(skb, dev);
    else if (this.protocols.has(proto)) this.protocols.get(proto)!(skb, dev);
    else {
      this.ns.stack.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0);
      this.ns.drop(skb, dev, 'UNHANDLED_PROTO', `no handler for IP protocol ${proto}`);
    }
  }

  private udpRcv(skb: Skb, dev: NetDevice): void {
    const b = skb.buf, nh = skb.nh, uh = nh + ipHdrLen(b, nh);
    const ulen = ipTotLen(b, nh) - ipHdrLen(b, nh);
    if (ulen < 8 || u16(b, uh + 4) > ulen || u16(b, uh + 4) < 8) { this.ns.drop(skb, dev, 'PKT_TOO_SMALL', 'UDP header truncated'); return; }
    const len = u16(b, uh + 4);
    const src = ipSrc(b, nh), dst = ipDst(b, nh);
    if (!skb.csumOk && u16(b, uh + 6) !== 0) {
      if (finishChecksum(onesSum(b, uh, len, pseudoHeaderSum(src, dst, IPPROTO_UDP, len))) !== 0) {
        this.ns.drop(skb, dev, 'UDP_CSUM', 'bad UDP checksum');
        return;
      }
      skb.csumOk = true;
    }
    const sport = u16(b, uh), dport = u16(b, uh + 2);
    const enc = this.encap.get(dport);
    if (enc && enc(skb, dport)) return;
    const s = this.udp.get(dport);
    if (!s || s.closed || (s.raddr && (s.raddr !== src || s.rport !== sport))) {
      if (this.ns.world.trace.on) this.ns.world.event(this.ns.node.name, this.ns.name, dev.name, skb, 'udp.rcv', `no socket on UDP port ${dport}`);
      this.ns.stack.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
      this.ns.drop(skb, dev, 'NO_SOCKET', `no socket listening on UDP ${ipToString(dst)}:${dport}`);
      return;
    }
    // A view, not a copy: packet buffers are never reused once delivered.
    const data = b.subarray(uh + 8, uh + len);
    if (this.ns.world.trace.on) this.ns.world.event(this.ns.node.name, this.ns.name, dev.name, skb, 'udp.rcv', `${data.length} bytes to port ${dport} from ${ipToString(src)}:${sport}`, 'deliver');
    this.ns.world.sched.defer(deliverUdp, new UdpDelivery(s, data, src, sport, dst, skb.flow));
  }

  private icmpRcv(skb: Skb, dev: NetDevice): void {
    const b = skb.buf, nh = skb.nh, ic = nh + ipHdrLen(b, nh);
    const len = ipTotLen(b, nh) - ipHdrLen(b, nh);
    if (len < 8) { this.ns.drop(skb, dev, 'PKT_TOO_SMALL', 'ICMP header truncated'); return; }
    if (checksum(b, ic, len) !== 0) { this.ns.drop(skb, dev, 'NOT_SPECIFIED', 'bad ICMP checksum'); return; }
    const type = b[ic], code = b[ic + 1];
    const w = this.ns.world;
    if (type === ICMP_ECHO) {
      if (this.ns.sysctl('net.ipv4.icmp_echo_ignore_all') === '1') { this.ns.drop(skb, dev, 'NOT_SPECIFIED', 'icmp_echo_ignore_all'); return; }
      this.echoReply(skb);
      return;
    }
    if (type === ICMP_ECHOREPLY) {
      const ident = u16(b, ic + 4), seq = u16(b, ic + 6);
      const s = this.ping.get(ident);
      if (!s) { this.ns.drop(skb, dev, 'NO_SOCKET', `no ping socket with id ${ident}`); return; }
      if (w.trace.on) w.event(this.ns.node.name, this.ns.name, dev.name, skb, 'icmp.rcv', `echo reply id ${ident} seq ${seq}`, 'deliver');
      const from = ipSrc(b, nh), ttl = b[nh + 8];
      this.ns.world.sched.defer(() => s.h.onReply?.(seq, from, ttl, skb));
      return;
    }
    if (type === ICMP_DEST_UNREACH || type === ICMP_TIME_EXCEEDED) {
      this.icmpErrorRcv(skb, dev, type, code, ic, len);
      return;
    }
    this.ns.drop(skb, dev, 'NOT_SPECIFIED', `ICMP type ${type} ignored`);
  }

  /** icmp_unreach: find the socket the quoted header belongs to and tell it. */
  private icmpErrorRcv(skb: Skb, dev: NetDevice, type: number, code: number, ic: number, len: number): void {
    const b = skb.buf;
    const q = ic + 8;
    const w = this.ns.world;
    if (len < 8 + 20 + 8) { this.ns.drop(skb, dev, 'PKT_TOO_SMALL', 'ICMP error quotes too little'); return; }
    const qihl = (b[q] & 0x0f) * 4;
    const qproto = b[q + 9];
    const qsrc = ipSrc(b, q), qdst = ipDst(b, q);
    const l4 = q + qihl;
    const info: IcmpErrorInfo = { type, code, from: ipSrc(b, skb.nh) };
    const err = icmpErrno(type, code);
    if (w.trace.on) w.event(this.ns.node.name, this.ns.name, dev.name, skb, 'icmp.rcv', `type ${type} code ${code} from ${ipToString(info.from)} about ${ipToString(qsrc)} → ${ipToString(qdst)} proto ${qproto}`, 'deliver');
    // Fragmentation needed: the socket's path MTU to the destination is lowered (ipv4_sk_update_pmtu).
    const fragNeeded = type === ICMP_DEST_UNREACH && code === 4;
    const pmtu = () => { if (fragNeeded) this.ns.stack.updatePmtu(qdst, u16(b, ic + 6), this.ns.fib.lookup(qdst)?.dev?.mtu ?? 65535); };
    if (qproto === IPPROTO_UDP) {
      const sport = u16(b, l4), dport = u16(b, l4 + 2);
      const s = this.udp.get(sport);
      if (s && s.raddr === qdst && s.rport === dport) {
        pmtu();
        // udp_err: a fragmentation-needed error is a hard error only with IP_PMTUDISC_DO; without
        // IP_RECVERR (podwire's clients have none) the socket never hears of it, the datagram is lost.
        if (fragNeeded) return;
        this.ns.world.sched.defer(() => s.h.onError?.(err, info));
        return;
      }
    } else if (qproto === IPPROTO_TCP) {
      const sport = u16(b, l4), dport = u16(b, l4 + 2);
      const s = this.tcpLookup(sport, qdst, dport);
      if (s) { pmtu(); s.icmpError(err, info); return; }
    } else if (qproto === IPPROTO_ICMP && b[l4] === ICMP_ECHO) {
      const s = this.ping.get(u16(b, l4 + 4));
      // ping_err: the path MTU is updated, and iputils' IP_RECVERR reports the error.
      if (s) { pmtu(); const seq = u16(b, l4 + 6); this.ns.world.sched.defer(() => s.h.onError?.(err, info, seq)); return; }
    }
  }

  /** icmp_echo: the kernel answers pings itself (DF clear, IP ID from the hash, TTL 64, the request's TOS). */
  private echoReply(req: Skb): void {
    const b = req.buf, nh = req.nh, ihl = ipHdrLen(b, nh);
    const len = ipTotLen(b, nh) - ihl;
    const src = ipDst(b, nh), dst = ipSrc(b, nh);
    const rt = this.ns.stack.routeOutput(dst);
    if (!rt) { this.ns.drop(req, req.dev, 'IP_OUTNOROUTES', `no route back to ${ipToString(dst)}`); return; }
    const skb = Skb.alloc(ETH_HLEN + 20 + len);
    skb.flow = req.flow;
    if (req.path && this.ns.world.watchPaths) skb.path = [];
    const onh = skb.data + ETH_HLEN, ic = onh + 20, ob = skb.buf;
    ob.set(b.subarray(nh + ihl, nh + ihl + len), ic);
    ob[ic] = ICMP_ECHOREPLY;
    setU16(ob, ic + 2, 0);
    setU16(ob, ic + 2, checksum(ob, ic, len));
    writeIpv4Header(ob, onh, src, dst, IPPROTO_ICMP, 64, b[nh + 1], this.ns.stack.selectIdent(), false, len);
    skb.nh = onh;
    if (this.ns.world.trace.on) this.ns.world.event(this.ns.node.name, this.ns.name, req.dev ? req.dev.name : '', req, 'icmp.echo', `echo request id ${u16(b, nh + ihl + 4)} seq ${u16(b, nh + ihl + 6)}: replying from ${ipToString(src)}`, 'deliver');
    this.ns.stack.localOut(skb, rt);
  }
}
