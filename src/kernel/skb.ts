/**
 * The socket buffer: a frame's bytes plus the metadata the stack carries with
 * it, as Linux's sk_buff does. `buf[data .. data+len)` is the frame, starting at
 * the link-layer header (Ethernet; none on an L2-less device such as a tun, whose
 * frames start at the IP header). Headroom in front lets a tunnel prepend outer headers
 * without copying the payload.
 */
import type { NetDevice } from './device.js';
// Packet buffers are carved from shared slabs: a buffer of its own costs a backing store each.
import { slabBytes as allocBytes } from '../wire/bytes.js';

export const SKB_HEADROOM = 128;

/** Linux's skb->pkt_type, set by eth_type_trans on receive. */
export const enum PktType {
  HOST = 0,
  BROADCAST = 1,
  MULTICAST = 2,
  OTHERHOST = 3,
  OUTGOING = 4,
  LOOPBACK = 5,
}

let nextPacketId = 1;


/** Restarts packet numbering (once per run, so ids are deterministic). */
export function resetPacketIds(): void { nextPacketId = 1; }

export class Skb {
  buf: Uint8Array;
  data: number;
  len: number;
  /** Packet id: kept through NAT and forwarding; a copy made by flooding keeps it too. */
  id: number;
  /** Id of the packet this one carries (encapsulation), 0 when none. */
  innerId = 0;
  mark = 0;
  pktType: PktType = PktType.HOST;
  /** Device the frame last arrived on (skb->dev on receive). */
  dev: NetDevice | null = null;
  /** For bridged frames: the bridge port it came in on. */
  brInPort: NetDevice | null = null;
  /** Offset of the IPv4 header (absolute index into buf), -1 when unknown. */
  nh = -1;
  /** Traffic item this packet belongs to, if any (for traces and path expectations). */
  flow: string | undefined = undefined;
  /** Devices crossed, in order, recorded only when the run watches this packet's path. */
  path: string[] | null = null;
  /** Locally generated packets: the socket-ish origin may ask to confirm the neighbour (TCP forward progress). */
  confirmNeigh = false;
  /**
   * br_netfilter ran the IPv4 PREROUTING hooks for this frame at bridge level;
   * ip_sabotage_in skips them when the frame is then passed up to the IP stack.
   */
  brnf = false;
  /**
   * br_netfilter's bridged DNAT waiting for ARP: the frame goes out through the
   * bridge device's neighbour entry, and br_dev_xmit hands it back to bridging
   * with the saved original source MAC (nf_bridge->bridged_dnat, neigh_header).
   */
  bridgedDnatSrc: Uint8Array | null = null;
  /**
   * IPCB(skb)->frag_max_size: the largest fragment this packet was reassembled from by
   * nf_defrag_ipv4 (0 when it was never a fragment). Forwarding refragments it to no more
   * than that (ip_do_fragment), so fragments keep their size across a conntrack'ed router.
   */
  fragMaxSize = 0;
  /**
   * skb->hash as the sending socket set it (sk_txhash of a connected UDP socket; 0 = none,
   * the flow dissector's symmetric hash applies). It survives veths, forwarding and NAT
   * (skb_scrub_packet keeps it), so a vxlan device's outer source port follows the socket.
   */
  txHash = 0;
  /** Set by hooks: conntrack entry etc. (opaque to the kernel core). */
  ct: unknown = null;
  /**
   * The L4 checksum of the packet at `nh` is known to be right: the local stack wrote it
   * (ip_summed CHECKSUM_PARTIAL, kept across veths and bridges) or a check already verified
   * it (skb->csum_valid). Later checks (conntrack at PREROUTING, the UDP receive path) skip
   * it as skb_csum_unnecessary lets them. Set only where a checksum was computed or verified;
   * cleared on the wire (the receiving NIC hands the stack a new skb) and by reassembly;
   * anything that rewrites L4 bytes must keep the checksum right (NAT's incremental
   * updates do) or clear it.
   */
  csumOk = false;

  constructor(buf: Uint8Array, data: number, len: number, id?: number) {
    this.buf = buf;
    this.data = data;
    this.len = len;
    this.id = id ?? nextPacketId++;
  }

  /** A new buffer with headroom for a frame of `len` bytes (a new packet id unless `id` is given). */
  static alloc(len: number, id?: number): Skb {
    const buf = allocBytes(SKB_HEADROOM + len);
    return new Skb(buf, SKB_HEADROOM, len, id);
  }

  /**
   * skb_scrub_packet: what a frame loses when it leaves for another namespace
   * or machine (veth peer, wire): its conntrack reference, bridge state and,
   * across namespaces, its mark.
   */
  scrub(xnet: boolean): void {
    this.ct = null;
    this.brnf = false;
    this.bridgedDnatSrc = null;
    this.brInPort = null;
    this.nh = -1;
    if (xnet) this.mark = 0;
  }

  /** A deep copy (own bytes) keeping the packet id: what skb_clone+copy gives a flooded frame. */
  copy(): Skb {
    const buf = allocBytes(SKB_HEADROOM + this.len);
    buf.set(this.buf.subarray(this.data, this.data + this.len), SKB_HEADROOM);
    const s = new Skb(buf, SKB_HEADROOM, this.len, this.id);
    s.innerId = this.innerId;
    s.txHash = this.txHash;
    s.mark = this.mark;
    s.pktType = this.pktType;
    s.dev = this.dev;
    s.brInPort = this.brInPort;
    s.nh = this.nh < 0 ? -1 : this.nh - this.data + SKB_HEADROOM;
    s.flow = this.flow;
    s.path = this.path ? this.path.slice() : null;
    s.ct = this.ct;
    s.csumOk = this.csumOk;
    return s;
  }

  /** The frame as a view (no copy). */
  frame(): Uint8Array {
    return this.buf.subarray(this.data, this.data + this.len);
  }

  /** Prepends `n` bytes (a tunnel's outer header); grows the buffer if the headroom is short. */
  push(n: number): number {
    if (this.data < n) {
      const buf = allocBytes(SKB_HEADROOM + n + this.len);
      buf.set(this.frame(), SKB_HEADROOM + n);
      if (this.nh >= 0) this.nh = this.nh - this.data + SKB_HEADROOM + n;
      this.buf = buf;
      this.data = SKB_HEADROOM + n;
    }
    this.data -= n;
    this.len += n;
    return this.data;
  }

  /** Strips `n` bytes from the front (decapsulation, or the Ethernet header on the way up). */
  pull(n: number): void {
    this.data += n;
    this.len -= n;
  }

  /** Drops trailing bytes (Ethernet padding beyond the IP total length). */
  trim(len: number): void {
    if (len < this.len) this.len = len;
  }
}
