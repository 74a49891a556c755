/**
 * flannel's UDP backend (pkg/backend/udp: udp_amd64.go, udp_network_amd64.go and the C
 * proxy proxy_amd64.c, read for behaviour): a userspace data path.
 *
 * configure(own lease S, Network N) — newNetwork/configureIface, in upstream's order:
 *   `ip tuntap add dev flannel0 mode tun` (OpenTun "flannel%d": the first free flannelN),
 *   `ip addr add S.ip/32 dev flannel0` (a /32 so no broadcast route; the address is the
 *   source of host → remote pod traffic), `ip link set flannel0 mtu <ext MTU − 28>`,
 *   `ip link set flannel0 up`, `ip route add N dev flannel0 scope global` (the whole
 *   network through the tun, scope universe as netlink.RouteAdd sets it; EEXIST ignored),
 *   then the UDP socket bound to the public IP, port 8285 (net.ListenUDP).
 *
 * The proxy (run_proxy), one thread polling the tun and the socket:
 *  - tun → udp: read(2) one IP packet from flannel0; first-match search of its route
 *    list (subnet → remote public IP), the matching entry swapped with the first (a cache
 *    for bursts); no match → an ICMP destination unreachable / net unreachable written back
 *    into the tun (IP: TOS 0, ID 0, no DF, TTL 8, source the tun address S.ip, to the
 *    offender's source; ICMP: type 3 code 0, unused 0, the offender's header + 8 bytes; not
 *    for an ICMP offender, a non-first fragment or a header of 60 bytes) — which Linux 6.18
 *    then drops on receive, its source being flannel0's own address (IP_LOCAL_SOURCE,
 *    checked on the kernel); else the TTL is decremented with flanneld's incremental
 *    checksum fix (a packet whose TTL reaches 0 is discarded silently) and the packet is
 *    sent verbatim as the payload of a datagram to the remote's port 8285 (sendto(2));
 *  - udp → tun: recv(2) one datagram (cut to the tun MTU, flanneld's buffer size; one
 *    shorter than an IP header is discarded), TTL decremented likewise, write(2) into the
 *    tun, where the kernel receives it (routing, forwarding to cni0…).
 *  The loop alternates one tun read and one socket read while either has data, as
 *  run_proxy's do/while does.
 *
 * Cost: every user/kernel crossing that moves a packet — read from the tun, sendto,
 * recvfrom, write into the tun — takes `crossingCost` ns of virtual time on the proxy's
 * single thread, so packets queue behind each other (the tun's ring holds 500) and each
 * direction adds 2 × crossingCost of latency per node. Each crossing is a trace event when
 * it completes: `flannel.udp.read`, `flannel.udp.sendto`, `flannel.udp.recvfrom`,
 * `flannel.udp.write` (and `flannel.udp.discard` for what the proxy drops itself), the
 * detail naming the crossing's cost. Not charged: poll(2) and the EAGAIN reads of the loop.
 *
 * addRemote/removeRemote are the control socket's CMD_SET_ROUTE/CMD_DEL_ROUTE: entries of
 * the proxy's own list (set replaces the next hop of an equal subnet, else appends; delete
 * moves the last entry into the hole); no kernel route per remote. stop() is CMD_STOP and
 * the files closing: the tun loses its reader (NO-CARRIER: what the kernel routes there is
 * dropped), the socket closes (datagrams to 8285 get ICMP port unreachable). The model's
 * flannel0 is persistent, so it stays with its address and route (flanneld's own tun is
 * not persistent: on a real node the device disappears with flanneld).
 *
 * Packet identity across userspace: the outer datagram carries the inner packet's id
 * (`innerId`), flow and path, and the packet written into the tun on the far side takes
 * them back, as the vxlan device does — read off the datagram as the kernel hands it to
 * the socket (a peek in the namespace's UDP encap table for this port that never takes
 * the datagram: the ordinary socket delivery follows).
 */
import { formatCidr4, formatIPv4 } from '../../cni/ip4.js';
import { NetlinkError } from '../../kernel/netlink.js';
import type { Tun } from '../../kernel/devices/tun.js';
import type { Skb } from '../../kernel/skb.js';
import type { UdpSock } from '../../kernel/sockets.js';
import { checksum } from '../../wire/checksum.js';
import type { BackendContext, FlannelBackend } from './backend.js';
import type { Lease } from './leases.js';

/** flannel's default UDP backend port. */
export const FLANNEL_UDP_PORT = 8285;
/** encapOverhead: 20 bytes of outer IP header + 8 of UDP. */
export const FLANNEL_UDP_OVERHEAD = 28;

export interface UdpBackendOptions {
  /** Backend.Port (default 8285). */
  port?: number;
  /** Virtual ns each user/kernel crossing of the proxy takes. */
  crossingCost: number;
}

/** One entry of the proxy's route list. */
export interface UdpRoute {
  /** Subnet address and prefix length. */
  net: number;
  prefix: number;
  /** The remote node's public IP (the datagram's destination). */
  nextHop: number;
  port: number;
}

export interface UdpBackend extends FlannelBackend {
  /** flannel0, once configured. */
  readonly tun: Tun | null;
  /** The proxy's route list in its current order (copies). */
  routes(): UdpRoute[];
  /** Crossings made so far (each cost `crossingCost` ns). */
  readonly crossings: number;
}

interface Datagram {
  bytes: Uint8Array;
  from: number;
  fromPort: number;
  /** The outer packet as the socket received it (its innerId, flow and path). */
  outer: Skb | null;
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/**
 * flanneld's decrement_ttl: TTL − 1 (0 → the packet is discarded) and the header checksum
 * patched the way proxy_amd64.c does it on a little-endian host (`check += htons(0x100)`,
 * plus the end-around carry when it would overflow) — the kernel's ip_decrease_ttl result.
 */
export function flannelDecTtl(b: Uint8Array, nh: number): boolean {
  const ttl = (b[nh + 8]! - 1) & 0xff;
  b[nh + 8] = ttl;
  if (ttl === 0) return false;
  let h = b[nh + 10]! | (b[nh + 11]! << 8);
  h = h >= 0xfffe ? (h + 2) & 0xffff : h + 1;
  b[nh + 10] = h & 0xff;
  b[nh + 11] = h >>> 8;
  return true;
}

/**
 * send_net_unreachable's packet about `off` (an IPv4 packet read from the tun), or null
 * when flanneld sends none (ICMP offender, non-first fragment, header of 60 bytes or more).
 */
export function flannelNetUnreachable(off: Uint8Array, tunAddr: number): Uint8Array | null {
  const ihl = (off[0]! & 0x0f) * 4;
  if (ihl >= 60) return null;
  if (off[9] === 1) return null;
  if (((off[6]! << 8) | off[7]!) & 0x1fff) return null;
  const len = 20 + 8 + ihl + 8;
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[2] = len >> 8; p[3] = len & 0xff;
  p[8] = 8; // TTL
  p[9] = 1; // ICMP
  p[12] = tunAddr >>> 24; p[13] = (tunAddr >>> 16) & 0xff; p[14] = (tunAddr >>> 8) & 0xff; p[15] = tunAddr & 0xff;
  p.set(off.subarray(12, 16), 16);
  const ic = checksum(p, 0, 20);
  p[10] = ic >> 8; p[11] = ic & 0xff;
  p[20] = 3; // destination unreachable
  p[21] = 0; // net unreachable
  // The offender's header + 8 bytes (flanneld copies them whatever the packet's length; the
  // bytes past its end would be stale buffer contents — zero here).
  p.set(off.subarray(0, Math.min(off.length, ihl + 8)), 28);
  const cc = checksum(p, 20, 8 + ihl + 8);
  p[22] = cc >> 8; p[23] = cc & 0xff;
  return p;
}

export function createUdpBackend(ctx: BackendContext, opts: UdpBackendOptions): UdpBackend {
  const node = ctx.node;
  const world = node.world;
  const ns = node.ns('host');
  const port = opts.port ?? ctx.cfg.backend.udpPort ?? FLANNEL_UDP_PORT;
  const cost = opts.crossingCost;
  if (!Number.isInteger(cost) || cost < 0) throw new RangeError(`crossingCost must be a non-negative integer of ns, got ${cost}`);
  const ext = ns.device(ctx.extIface);
  const mtu = (ext ? ext.mtu : 1500) - FLANNEL_UDP_OVERHEAD;

  let tun: Tun | null = null;
  let sock: UdpSock | null = null;
  let tunAddr = 0;
  let stopped = false;
  let crossings = 0;
  const routes: UdpRoute[] = [];
  /** Datagrams received and not yet read by the proxy (the socket's receive queue). */
  const sockQ: Datagram[] = [];
  let sockHead = 0;
  /** The outer packets the socket is about to be handed (peeked, in delivery order). */
  const peeked: Skb[] = [];
  let busy = false;
  /** 0: the tun's turn in the loop, 1: the socket's. */
  let turn = 0;

  const trace = (stage: string, skb: Skb | null, detail: string): void => {
    if (world.trace.on) world.event(node.name, 'host', tun ? tun.name : '', skb, `flannel.udp.${stage}`, detail);
  };
  const crossingText = (): string => `crossing ${crossings}, ${cost} ns`;

  /** find_route: first match, swapped to the front. */
  const findRoute = (dst: number): UdpRoute | null => {
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (((dst & maskOf(r.prefix)) >>> 0) === r.net) {
        if (i !== 0) { routes[i] = routes[0]!; routes[0] = r; }
        return r;
      }
    }
    return null;
  };

  /** The proxy thread takes its next piece of work, or sleeps in poll(). */
  const next = (): void => {
    if (stopped) { busy = false; return; }
    for (let i = 0; i < 2; i++) {
      const fromTun = turn === 0;
      turn ^= 1;
      if (fromTun) {
        const skb = tun ? tun.read() : null;
        if (skb) { world.sched.after(cost, tunRead, skb); return; }
      } else if (sockHead < sockQ.length) {
        const d = sockQ[sockHead]!;
        sockQ[sockHead++] = undefined as unknown as Datagram;
        if (sockHead === sockQ.length) { sockQ.length = 0; sockHead = 0; }
        world.sched.after(cost, sockRead, d);
        return;
      }
    }
    busy = false;
  };

  const wake = (): void => {
    if (busy || stopped) return;
    busy = true;
    world.sched.defer(next);
  };

  /** read(2) from the tun has returned `skb`'s bytes. */
  const tunRead = (skb: Skb): void => {
    if (stopped) return;
    crossings++;
    const b = skb.buf, nh = skb.data, len = skb.len;
    const dst = ((b[nh + 16]! << 24) | (b[nh + 17]! << 16) | (b[nh + 18]! << 8) | b[nh + 19]!) >>> 0;
    // tun_recv_packet: "TUN recv packet too small".
    if (len < 20) { trace('discard', skb, `read ${len} bytes from ${tun!.name}: shorter than an IP header`); next(); return; }
    const r = findRoute(dst);
    if (world.trace.on) trace('read', skb, `read ${len} bytes from ${tun!.name} (${crossingText()}): ${formatIPv4(dst)} → ${r ? `${formatCidr4(r.net, r.prefix)} via ${formatIPv4(r.nextHop)}:${r.port}` : 'no route'}`);
    if (!r) {
      const icmp = flannelNetUnreachable(skb.frame(), tunAddr);
      if (!icmp) { trace('discard', skb, `no route to ${formatIPv4(dst)}; no ICMP about it (ICMP, fragment or long header)`); next(); return; }
      world.sched.after(cost, tunWriteIcmp, { icmp, about: skb });
      return;
    }
    if (!flannelDecTtl(b, nh)) {
      trace('discard', skb, `TTL reached 0: discarded ("Discarding IP fragment ${formatIPv4(((b[nh + 12]! << 24) | (b[nh + 13]! << 16) | (b[nh + 14]! << 8) | b[nh + 15]!) >>> 0)} -> ${formatIPv4(dst)} due to zero TTL")`);
      next();
      return;
    }
    world.sched.after(cost, sendTo, { skb, r });
  };

  /** sendto(2) of the packet to its next hop has entered the kernel. */
  const sendTo = (a: { skb: Skb; r: UdpRoute }): void => {
    if (stopped || !sock) return;
    crossings++;
    const { skb, r } = a;
    if (world.trace.on) trace('sendto', skb, `sendto ${formatIPv4(r.nextHop)}:${r.port} ${skb.len} bytes (${crossingText()})`);
    const err = sock.send(skb.frame(), r.nextHop, r.port, skb.flow, (o) => { o.innerId = skb.id; o.path = skb.path; });
    if (err) trace('discard', skb, `UDP send to ${formatIPv4(r.nextHop)}:${r.port} failed: ${err}`);
    next();
  };

  /** write(2) of the ICMP net unreachable into the tun has returned. */
  const tunWriteIcmp = (a: { icmp: Uint8Array; about: Skb }): void => {
    if (stopped || !tun) return;
    crossings++;
    const o = a.about;
    trace('write', o, `write ${a.icmp.length} bytes into ${tun.name} (${crossingText()}): ICMP net unreachable from ${formatIPv4(tunAddr)} about packet #${o.id}`);
    const err = tun.write(a.icmp, { flow: o.flow, path: o.path && world.watchPaths ? [] : null });
    if (err) trace('discard', o, `failed to send ICMP net unreachable: ${err}`);
    next();
  };

  /** recv(2) on the socket has returned datagram `d` (cut to flanneld's buffer, the tun MTU). */
  const sockRead = (d: Datagram): void => {
    if (stopped || !tun) return;
    crossings++;
    const n = Math.min(d.bytes.length, tun.mtu);
    const buf = d.bytes.slice(0, n);
    const o = d.outer;
    if (world.trace.on) trace('recvfrom', o, `recvfrom ${formatIPv4(d.from)}:${d.fromPort} ${d.bytes.length} bytes${n < d.bytes.length ? ` (cut to ${n}, the buffer's size)` : ''} (${crossingText()})`);
    if (n < 20) { trace('discard', o, `UDP recv packet too small: ${n} bytes`); next(); return; }
    if (!flannelDecTtl(buf, 0)) { trace('discard', o, 'TTL reached 0: discarded'); next(); return; }
    world.sched.after(cost, tunWrite, { buf, o });
  };

  /** write(2) of a received packet into the tun has returned: the kernel has it. */
  const tunWrite = (a: { buf: Uint8Array; o: Skb | null }): void => {
    if (stopped || !tun) return;
    crossings++;
    const o = a.o;
    trace('write', o, `write ${a.buf.length} bytes into ${tun.name} (${crossingText()})`);
    const err = tun.write(a.buf, { id: o ? o.innerId : undefined, flow: o ? o.flow : undefined, path: o ? o.path : null });
    if (err) trace('discard', o, `TUN send failed: ${err}`);
    next();
  };

  /** The peek at datagrams for our socket (never takes them: the ordinary socket delivery follows). */
  const peek = (skb: Skb): boolean => {
    if (sock && !sock.closed && ns.sockets.udp.get(port) === sock) peeked.push(skb);
    return false;
  };

  return {
    type: 'udp',
    mtu,
    backendData: () => undefined,
    get tun() { return tun; },
    get crossings() { return crossings; },
    routes: () => routes.map((r) => ({ ...r })),

    configure(own: Lease): void {
      let name = '';
      for (let i = 0; ; i++) if (!ns.device(`flannel${i}`)) { name = `flannel${i}`; break; }
      tun = node.linkAddTun('host', name);
      tun.attach(wake);
      tunAddr = own.subnet.addr;
      const net = ctx.cfg.network;
      node.addrAdd('host', name, `${formatIPv4(tunAddr)}/32`);
      node.linkSetMtu('host', name, mtu);
      node.linkSetUp('host', name);
      const nw = formatCidr4(net.addr, net.prefix);
      try {
        node.routeAdd('host', { dst: nw, dev: name, scope: 'global' });
      } catch (e) {
        if (!(e instanceof NetlinkError && e.code === 'EEXIST')) throw e;
      }
      try {
        sock = ns.sockets.udpBind(port, {
          onMessage(data, from, fromPort) {
            const outer = peeked.length ? peeked.shift()! : null;
            if (stopped) return;
            sockQ.push({ bytes: data, from, fromPort, outer });
            wake();
          },
        });
      } catch (e) {
        ctx.note('udp', `failed to start listening on UDP socket: ${(e as Error).message}`, true);
        throw e;
      }
      sock.laddr = ctx.publicIP;
      if (!ns.sockets.encap.has(port)) ns.sockets.encap.set(port, peek);
      ctx.note('udp', `${name} ${formatIPv4(tunAddr)}/32 mtu ${mtu}, route ${nw} dev ${name}; proxy on ${formatIPv4(ctx.publicIP)}:${port}, ${cost} ns per user/kernel crossing`);
    },

    addRemote(l: Lease): void {
      const net = (l.subnet.addr & maskOf(l.subnet.prefix)) >>> 0;
      const e = routes.find((r) => r.net === net && r.prefix === l.subnet.prefix);
      if (e) { e.nextHop = l.attrs.publicIP; e.port = port; }
      else routes.push({ net, prefix: l.subnet.prefix, nextHop: l.attrs.publicIP, port });
      ctx.note('udp', `subnet added: ${formatCidr4(net, l.subnet.prefix)} → ${formatIPv4(l.attrs.publicIP)}:${port} (proxy route list: ${routes.length})`);
    },

    removeRemote(l: Lease): void {
      const net = (l.subnet.addr & maskOf(l.subnet.prefix)) >>> 0;
      const i = routes.findIndex((r) => r.net === net && r.prefix === l.subnet.prefix);
      if (i < 0) return;
      routes[i] = routes[routes.length - 1]!;
      routes.pop();
      ctx.note('udp', `subnet removed: ${formatCidr4(net, l.subnet.prefix)} (proxy route list: ${routes.length})`);
    },

    stop(): void {
      if (stopped) return;
      stopped = true;
      busy = false;
      if (tun) tun.detach();
      if (sock) sock.close();
      if (ns.sockets.encap.get(port) === peek) ns.sockets.encap.delete(port);
      sockQ.length = 0; sockHead = 0; peeked.length = 0;
      ctx.note('udp', `proxy stopped: ${tun ? `${tun.name} has no reader (NO-CARRIER), ` : ''}UDP ${port} closed`);
    },
  };
}
