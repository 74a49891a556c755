/**
 * Network devices. A device transmits frames (`xmit`, dev_queue_xmit) and
 * receives them from its link (`receive`, netif_receive_skb). What happens in
 * between is the device kind's business: a veth hands the frame to its peer, a
 * bridge floods or forwards, a NIC puts it on an underlay segment. Adding a
 * device kind is one file under devices/ (subclass NetDevice: `kind`,
 * `transmit`, and `running` if carrier depends on something else) plus the
 * Netlink operation that creates it in node.ts.
 */
import type { Netns } from './netns.js';
import type { Skb } from './skb.js';
import { macToString } from '../wire/bytes.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../trace/pcap.js';
import { CowMap } from './cow-map.js';
import { linkEpoch } from './link-epoch.js';
import type { Netem } from './netem.js';

/** The conf of a device not yet in a namespace (shared, never written: a fork copies on write). */
const NO_CONF = new CowMap<string, string>();

export abstract class NetDevice {
  abstract readonly kind: string;
  name: string;
  readonly ifindex: number;
  mac: Uint8Array;
  mtu: number;
  /**
   * dev->hard_header_len: bytes of link-layer header in front of the IPv4 header, ETH_HLEN
   * for every Ethernet-like device; 0 for an L2-less device (tun, ARPHRD_NONE), whose
   * frames begin with the IP header and which needs no neighbour (IFF_NOARP).
   */
  readonly hardHeaderLen: number = ETH_HLEN;
  private isUp = false;
  /** IFF_UP. Every change bumps `linkEpoch.n` (route lookups skip routes through down devices, and cache by it). */
  get up(): boolean { return this.isUp; }
  set up(v: boolean) {
    if (v === this.isUp) return;
    this.isUp = v;
    linkEpoch.n++;
  }
  netns: Netns;
  /** The bridge this device is a port of, if any. */
  master: NetDevice | null = null;
  /** Bridge port flag BR_HAIRPIN_MODE. */
  hairpin = false;
  /**
   * Per-device IPv4 sysctls (net.ipv4.conf.DEV.*), names as in /proc/sys: empty until the
   * device is attached to a namespace, which forks its conf/default into it (copy-on-write).
   */
  conf: CowMap<string, string> = NO_CONF.fork();
  /** Link delay in ns applied when this device hands a frame to its link. */
  delay = 0;
  /** Link bandwidth in bits/s (0 = unlimited): serialisation delay = bytes*8/bps, frames queue behind each other. */
  bandwidth = 0;
  /**
   * IFF_LOWER_UP for a device whose carrier is its own (a NIC: the cable or the switch port);
   * a veth's carrier is its peer being up. Off: the device is UP but NO-CARRIER, its
   * routes stay (marked linkdown, still used) and what it transmits is dropped.
   */
  carrier = true;
  /** The root netem qdisc (`tc qdisc add dev X root netem …`), or null: transmit's one extra check. */
  netem: Netem | null = null;
  /** When the link is free again (for serialisation). */
  protected busyUntil = 0;
  rxPackets = 0;
  txPackets = 0;
  rxBytes = 0;
  txBytes = 0;
  txDropped = 0;

  constructor(netns: Netns, name: string, mac: Uint8Array, mtu: number) {
    this.netns = netns;
    this.name = name;
    this.mac = mac;
    this.mtu = mtu;
    this.ifindex = netns.node.nextIfindex++;
  }

  /** "node/netns/dev": how captures and traces name the device. */
  get path(): string {
    return `${this.netns.node.name}/${this.netns.name}/${this.name}`;
  }

  /** The pcap link type of this device's frames (what tcpdump on it reports): Ethernet, or RAW for an L2-less device. */
  get linkType(): number { return this.hardHeaderLen === 0 ? LINKTYPE_RAW : LINKTYPE_ETHERNET; }

  /** True when the device can carry frames (IFF_UP and, for links with a peer, carrier). */
  get running(): boolean { return this.up; }

  /**
   * Transmits a frame out of this device (dev_queue_xmit). The frame at skb.data
   * begins with the link-layer header (`hardHeaderLen` bytes; none on a tun). Taps see it here as 'out'.
   */
  xmit(skb: Skb): void {
    if (!this.running) {
      this.txDropped++;
      // UP without carrier (its own, or a veth peer that is down): the qdisc is noop_qdisc since the carrier went (dev_deactivate).
      if (this.up) this.netns.drop(skb, this, 'QDISC_DROP', `${this.name} has no carrier`);
      else this.netns.drop(skb, this, 'LINK_DOWN', `${this.name} is down`);
      return;
    }
    if (this.netem !== null) { this.netem.enqueue(skb); return; }
    this.hardXmit(skb);
  }

  /** What leaves the qdisc for the driver (dev_hard_start_xmit): counted, seen by taps, transmitted. */
  hardXmit(skb: Skb): void {
    const world = this.netns.node.world;
    this.txPackets++;
    this.txBytes += skb.len;
    if (skb.path) skb.path.push(this.path);
    if (world.tap) world.tap.frame(this, skb, 'out');
    if (world.trace.on) world.event(this.netns.node.name, this.netns.name, this.name, skb, 'dev.xmit', this.describe(skb));
    this.transmit(skb);
  }

  /** Kind-specific transmission (after taps). */
  protected abstract transmit(skb: Skb): void;

  /**
   * A frame arrives from this device's link (netif_receive_skb). Taps see it as 'in';
   * a bridge port hands it to its bridge (the rx_handler), otherwise it goes up the stack.
   */
  receive(skb: Skb): void {
    const world = this.netns.node.world;
    if (!this.up) {
      this.netns.drop(skb, this, 'DEV_READY', `${this.name} is down`);
      return;
    }
    this.rxPackets++;
    this.rxBytes += skb.len;
    skb.dev = this;
    if (skb.path && skb.path[skb.path.length - 1] !== this.path) skb.path.push(this.path);
    if (world.tap) world.tap.frame(this, skb, 'in');
    if (world.trace.on) world.event(this.netns.node.name, this.netns.name, this.name, skb, 'dev.recv', this.describe(skb));
    const master = this.master;
    if (master !== null) {
      (master as unknown as { handleFrame(port: NetDevice, skb: Skb): void }).handleFrame(this, skb);
      return;
    }
    this.netns.stack.receive(skb, this);
  }

  /**
   * Schedules `fn(skb)` after this link's delay and serialisation time, keeping
   * frames in order: a frame never overtakes one sent before it on the same link.
   */
  protected schedule(skb: Skb, fn: (skb: Skb) => void): void {
    const sched = this.netns.node.world.sched;
    let t = sched.now;
    if (this.bandwidth > 0) {
      const start = Math.max(t, this.busyUntil);
      const ser = Math.ceil((skb.len * 8 * 1e9) / this.bandwidth);
      this.busyUntil = start + ser;
      t = this.busyUntil;
    }
    sched.at(t + this.delay, fn, skb);
  }

  /** One-line description of a frame for traces. */
  describe(skb: Skb): string {
    return this.netns.node.describeFrame(skb);
  }

  /** `ip link show`-style text. */
  show(): string {
    const flags = [this.kind === 'loopback' ? 'LOOPBACK' : 'BROADCAST,MULTICAST'];
    if (this.up) flags.push('UP');
    if (this.up && !this.running) flags.unshift('NO-CARRIER');
    const master = this.master ? ` master ${this.master.name}` : '';
    return `${this.ifindex}: ${this.name}: <${flags.join(',')}> mtu ${this.mtu}${master} state ${this.up && this.running ? 'UP' : 'DOWN'}\n    link/${this.kind === 'loopback' ? 'loopback' : 'ether'} ${macToString(this.mac)}`;
  }
}
