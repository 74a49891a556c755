/**
 * The Linux tun device (drivers/net/tun.c) in IFF_TUN|IFF_NO_PI mode, as flanneld's UDP
 * backend opens `flannel%d` (→ flannel0): a point-to-point link whose other end is a
 * userspace process holding /dev/net/tun.
 *
 * - No link layer: ARPHRD_NONE, hard_header_len 0, no MAC (`link/none`); flags
 *   POINTOPOINT|NOARP|MULTICAST; default MTU 1500, tx_queue_len 500. Its frames begin with
 *   the IP header (captures: LINKTYPE_RAW), the IPv4 stack sends to it without a neighbour.
 * - Transmit (tun_net_xmit): the IP packet is queued on the attached file's ring (500
 *   packets; full → FULL_RING) and the reader is woken (sk_data_ready), who takes it with
 *   `read()`. With no reader attached the device has no carrier (`NO-CARRIER`): the stack
 *   still routes to it (a linkdown route is used) and the packet is dropped at the
 *   deactivated qdisc, before any tap — seen on 6.18: `kfree_skb … __dev_queue_xmit
 *   reason: QDISC_DROP`, TX dropped 1.
 * - `write(bytes)` (tun_get_user): userspace writing a packet into /dev/net/tun; the
 *   kernel receives it on the device (taps 'in', `dev.recv`, the namespace's IP stack:
 *   routing, forwarding…). EIO while the device is down, EINVAL when the first nibble is
 *   not IP version 4 or 6 (rx_dropped), EBADFD with no file attached.
 *
 * The device is persistent, as `ip tuntap add dev NAME mode tun` makes it: detaching the
 * reader leaves it in place without carrier. (flanneld's own tun is not persistent: when
 * flanneld exits the kernel deletes flannel0 with its address and route.)
 *
 * The model passes the packet's identity (id, flow, path) across userspace with the
 * bytes: `read()` hands the Skb itself, whose `frame()` is what read(2) returns, and
 * `write()` takes the identity to give the received packet.
 */
import { NetDevice } from '../device.js';
import type { Netns } from '../netns.js';
import { Skb } from '../skb.js';
import { summarize } from '../../wire/summary.js';

/** TUN_READQ_SIZE: the default tx_queue_len of a tun, and its ring's size. */
export const TUN_READQ_SIZE = 500;

export type TunWriteError = 'EIO' | 'EINVAL' | 'EBADFD';

/** What the reader (the process holding /dev/net/tun) is told: the ring became readable. */
export type TunReader = (tun: Tun) => void;

/** The identity the model gives a packet written into the tun (what the proxy carried across). */
export interface TunPacketMeta {
  id?: number;
  flow?: string;
  path?: string[] | null;
}

export class Tun extends NetDevice {
  readonly kind = 'tun';
  override readonly hardHeaderLen: number = 0;
  /** Packets written in and refused (tun_get_user's rx_dropped). */
  rxDropped = 0;
  private reader: TunReader | null = null;
  private ring: Skb[] = [];
  private ringHead = 0;

  constructor(netns: Netns, name: string, mtu: number) {
    super(netns, name, new Uint8Array(0), mtu);
  }

  /** A process holds the device's file (carrier on). */
  get attached(): boolean { return this.reader !== null; }

  /** Packets waiting to be read. */
  get queued(): number { return this.ring.length - this.ringHead; }

  /** TUNSETIFF by a process: it becomes the reader (carrier on); `reader` is called whenever a packet is queued. */
  attach(reader: TunReader): void {
    if (this.reader) throw new Error(`${this.name}: already attached (EBUSY)`);
    this.reader = reader;
  }

  /** The process closes its file: queued packets are freed, carrier goes off. */
  detach(): void {
    this.reader = null;
    this.ring = [];
    this.ringHead = 0;
  }

  /**
   * dev_queue_xmit on a tun: without carrier the packet never reaches the driver (the qdisc
   * is noop): TX dropped, QDISC_DROP, no tap.
   */
  override xmit(skb: Skb): void {
    if (this.up && this.reader === null) {
      this.txDropped++;
      this.netns.drop(skb, this, 'QDISC_DROP', `${this.name} has no carrier (no process has it open)`);
      return;
    }
    super.xmit(skb);
  }

  /** tun_net_xmit: onto the ring, wake the reader. */
  protected transmit(skb: Skb): void {
    if (this.queued >= TUN_READQ_SIZE) {
      this.txDropped++;
      this.netns.drop(skb, this, 'FULL_RING', `${this.name}: ${TUN_READQ_SIZE} packets wait for the reader`);
      return;
    }
    skb.ct = null; // nf_reset_ct
    this.ring.push(skb);
    const r = this.reader;
    if (r) r(this);
  }

  /**
   * read(2) on the tun file: the oldest queued packet (its `frame()` is the raw IP packet
   * read(2) copies out), or null (EAGAIN).
   */
  read(): Skb | null {
    if (this.ringHead >= this.ring.length) return null;
    const skb = this.ring[this.ringHead++]!;
    if (this.ringHead > 64 && this.ringHead * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.ringHead);
      this.ringHead = 0;
    }
    return skb;
  }

  /**
   * write(2) on the tun file (tun_get_user → netif_rx): the kernel receives `bytes` (an IP
   * packet, copied) on this device now. Returns null on success or the errno.
   */
  write(bytes: Uint8Array, meta: TunPacketMeta = {}): TunWriteError | null {
    if (this.reader === null) return 'EBADFD';
    if (!this.up) return 'EIO';
    const v = bytes.length > 0 ? bytes[0]! >> 4 : 0;
    if (v !== 4 && v !== 6) { this.rxDropped++; return 'EINVAL'; }
    const skb = Skb.alloc(bytes.length, meta.id !== undefined && meta.id > 0 ? meta.id : undefined);
    skb.flow = meta.flow;
    skb.path = meta.path ?? null;
    skb.buf.set(bytes, skb.data);
    this.receive(skb);
    return null;
  }

  override describe(skb: Skb): string {
    return summarize(skb.buf, skb.data, skb.len, false);
  }

  /** `ip link show`: `<NO-CARRIER,POINTOPOINT,MULTICAST,NOARP,UP> … state DOWN`, `link/none`. */
  override show(): string {
    const flags: string[] = [];
    if (this.up && !this.reader) flags.push('NO-CARRIER');
    flags.push('POINTOPOINT', 'MULTICAST', 'NOARP');
    if (this.up) flags.push('UP');
    if (this.up && this.reader) flags.push('LOWER_UP');
    const state = this.up && this.reader ? 'UP' : 'DOWN';
    return `${this.ifindex}: ${this.name}: <${flags.join(',')}> mtu ${this.mtu} state ${state}\n    link/none`;
  }
}
