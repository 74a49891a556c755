/**
 * The Linux bridge (net/bridge): ports, a forwarding database with learning
 * and 300 s ageing, flooding of broadcast/multicast/unknown unicast, no
 * forwarding back out of the ingress port unless that port is in hairpin mode,
 * and the bridge device itself as an L3 interface: frames for its own MAC (or a
 * port's MAC) are passed up to the IP stack with dev = the bridge.
 *
 * Bridge netfilter hook points (NF_BR_*) are run where br_netfilter would see
 * them; br_netfilter itself registers there (netfilter layer), nothing
 * registered = accept.
 */
import { NetDevice } from '../device.js';
import type { Skb } from '../skb.js';
import { isMulticastMac, isBroadcastMac, isZeroMac, macToString } from '../../wire/bytes.js';
import { NfBrHook, NfVerdict, BR_HOOK_NAMES, type NfHookState } from '../hooks.js';

export const BR_DEFAULT_AGEING_TIME = 300_000_000_000;

export interface FdbEntry {
  mac: Uint8Array;
  /** Port the address was learned on; null for entries local to the bridge device itself. */
  port: NetDevice | null;
  /** Local entries (the bridge's and its ports' own addresses) are delivered up, never forwarded. */
  local: boolean;
  /** Static (added by an admin: `bridge fdb add ... master static`): never aged out. */
  isStatic: boolean;
  updated: number;
  used: number;
}

/** A MAC as a number (48 bits fit exactly in a double). */
export function macKey(b: Uint8Array, off: number): number {
  return ((b[off] * 256 + b[off + 1]) * 256 + b[off + 2]) * 0x1000000 + ((b[off + 3] << 16) | (b[off + 4] << 8) | b[off + 5]);
}

/**
 * A bridge's forwarding database: a Map by MAC number that also remembers the last two
 * entries it handed out (by key) until it is changed. A 48-bit key is a heap number that
 * Map.get boxes and hashes on every call; a bridge looks up the same two or three
 * addresses frame after frame (the source it learns, the destination it forwards to).
 * Every change goes through set/delete/clear, which forget what was remembered; entries
 * themselves are changed in place (learning moves `port`, refreshes `updated`), which the
 * remembered reference sees.
 */
export class FdbTable extends Map<number, FdbEntry> {
  private k0 = -1; private e0: FdbEntry | undefined = undefined;
  private k1 = -1; private e1: FdbEntry | undefined = undefined;

  /** The entry for `k`, as get, from the remembered two when it is one of them. */
  find(k: number): FdbEntry | undefined {
    if (k === this.k0) return this.e0;
    if (k === this.k1) return this.e1;
    const e = super.get(k);
    if (e !== undefined) {
      this.k1 = this.k0; this.e1 = this.e0;
      this.k0 = k; this.e0 = e;
    }
    return e;
  }

  private forget(): void {
    this.k0 = -1; this.e0 = undefined;
    this.k1 = -1; this.e1 = undefined;
  }

  override set(k: number, e: FdbEntry): this {
    this.forget();
    return super.set(k, e);
  }

  override delete(k: number): boolean {
    this.forget();
    return super.delete(k);
  }

  override clear(): void {
    this.forget();
    super.clear();
  }
}

/** brHook's state objects by nesting depth (shared by every bridge: hooks run one at a time). */
const brHookStates: NfHookState[] = [];
let brHookDepth = 0;

export class Bridge extends NetDevice {
  readonly kind = 'bridge';
  readonly ports: NetDevice[] = [];
  readonly fdb = new FdbTable();
  ageingTime = BR_DEFAULT_AGEING_TIME;
  /** Whether the MAC was set explicitly (else it follows the lowest port MAC, as Linux does). */
  macPinned = false;

  override get running(): boolean { return this.up; }

  addPort(dev: NetDevice): void {
    this.ports.push(dev);
    dev.master = this;
    this.fdbInsertLocal(dev.mac, dev);
    if (!this.macPinned) this.recomputeMac();
  }

  removePort(dev: NetDevice): void {
    const i = this.ports.indexOf(dev);
    if (i >= 0) this.ports.splice(i, 1);
    dev.master = null;
    for (const [k, e] of this.fdb) if (e.port === dev) this.fdb.delete(k);
    if (!this.macPinned) this.recomputeMac();
  }

  /** br_stp_recalculate_bridge_id: an unpinned bridge takes the numerically lowest port MAC. */
  private recomputeMac(): void {
    if (this.ports.length === 0) return;
    let best = this.ports[0].mac;
    for (const p of this.ports) if (macKey(p.mac, 0) < macKey(best, 0)) best = p.mac;
    this.fdb.delete(macKey(this.mac, 0));
    this.mac = best.slice();
    this.fdbInsertLocal(this.mac, null);
  }

  setMac(mac: Uint8Array): void {
    const old = this.fdb.get(macKey(this.mac, 0));
    if (old && old.port === null) this.fdb.delete(macKey(this.mac, 0));
    this.mac = mac.slice();
    this.macPinned = true;
    this.fdbInsertLocal(mac, null);
  }

  fdbInsertLocal(mac: Uint8Array, port: NetDevice | null): void {
    const now = this.netns.node.world.now;
    this.fdb.set(macKey(mac, 0), { mac: mac.slice(), port, local: true, isStatic: true, updated: now, used: now });
  }

  /** The entry for `mac`, expiring learned entries older than the ageing time (the gc would have removed them). */
  fdbGet(b: Uint8Array, off: number): FdbEntry | undefined {
    const k = macKey(b, off);
    const e = this.fdb.find(k);
    if (e && !e.isStatic && this.netns.node.world.now - e.updated > this.ageingTime) {
      this.fdb.delete(k);
      return undefined;
    }
    return e;
  }

  private ev(skb: Skb | null, stage: string, detail: string, dev: NetDevice = this): void {
    const w = this.netns.node.world;
    w.event(this.netns.node.name, this.netns.name, dev.name, skb, stage, detail);
  }

  /** br_fdb_update: learn or refresh the source address on the ingress port. */
  private learn(port: NetDevice, skb: Skb): void {
    const b = skb.buf, src = skb.data + 6;
    const e = this.fdbGet(b, src);
    const now = this.netns.node.world.now;
    const w = this.netns.node.world;
    if (!e) {
      this.fdb.set(macKey(b, src), { mac: b.slice(src, src + 6), port, local: false, isStatic: false, updated: now, used: now });
      if (w.trace.on) this.ev(skb, 'bridge.fdb.learn', `${macToString(b, src)} on port ${port.name}`);
      return;
    }
    if (e.local) return; // our own address coming back in (hairpin or loop): never moved
    if (e.port !== port) {
      if (w.trace.on) this.ev(skb, 'bridge.fdb.learn', `${macToString(b, src)} moved ${e.port ? e.port.name : '-'} → ${port.name}`);
      e.port = port;
    }
    e.updated = now;
  }

  /** br_handle_frame: a frame received on one of our ports (rx_handler). */
  handleFrame(port: NetDevice, skb: Skb): void {
    const b = skb.buf, d = skb.data;
    if (isMulticastMac(b, d + 6) || isZeroMac(b, d + 6)) {
      this.netns.drop(skb, port, 'MAC_INVALID_SOURCE', `invalid source MAC ${macToString(b, d + 6)}`);
      return;
    }
    if (!this.up) { this.netns.drop(skb, port, 'BRIDGE_INGRESS_STP_STATE', `bridge ${this.name} is down (port disabled)`); return; }
    skb.brInPort = port;
    this.learn(port, skb);
    if (!this.brHook(NfBrHook.BR_PRE_ROUTING, skb, port, null)) return;
    this.handleFrameFinish(port, skb);
  }

  /** br_handle_frame_finish: local delivery, forward, or flood. */
  handleFrameFinish(port: NetDevice, skb: Skb): void {
    const b = skb.buf, d = skb.data;
    const w = this.netns.node.world;
    if (isMulticastMac(b, d)) {
      if (w.trace.on) this.ev(skb, 'bridge.flood', `${isBroadcastMac(b, d) ? 'broadcast' : 'multicast'} from ${port.name}: flood and deliver locally`);
      this.flood(skb, port);
      this.passUp(skb.copy());
      return;
    }
    const e = this.fdbGet(b, d);
    if (e && e.local) {
      if (w.trace.on) this.ev(skb, 'bridge.fdb.hit', `${macToString(b, d)} is local: deliver to ${this.name}`);
      this.passUp(skb);
      return;
    }
    if (e && e.port) {
      e.used = w.now;
      if (w.trace.on) this.ev(skb, 'bridge.fdb.hit', `${macToString(b, d)} → port ${e.port.name}`);
      if (e.port === port && !port.hairpin) {
        this.netns.drop(skb, port, 'NOT_SPECIFIED', `bridge ${this.name}: destination is behind the ingress port ${port.name} and hairpin is off`);
        return;
      }
      if (e.port === port && w.trace.on) this.ev(skb, 'bridge.hairpin', `back out of ${port.name} (hairpin on)`);
      this.forward(e.port, skb, port);
      return;
    }
    if (w.trace.on) this.ev(skb, 'bridge.fdb.miss', `${macToString(b, d)} unknown: flood`);
    this.flood(skb, port);
  }

  /** should_deliver: egress port differs from ingress, or has hairpin; and it is up. */
  private shouldDeliver(to: NetDevice, from: NetDevice | null): boolean {
    return (to !== from || to.hairpin) && to.running;
  }

  /** br_flood: a copy to every eligible port (same packet id). */
  private flood(skb: Skb, from: NetDevice | null): void {
    const w = this.netns.node.world;
    for (const p of this.ports) {
      if (!this.shouldDeliver(p, from)) continue;
      if (p === from && w.trace.on) this.ev(skb, 'bridge.hairpin', `flooded back out of ${p.name} (hairpin on)`);
      this.forward(p, skb.copy(), from);
    }
  }

  /** br_forward → NF_BR_FORWARD → NF_BR_POST_ROUTING → port xmit. */
  private forward(to: NetDevice, skb: Skb, from: NetDevice | null): void {
    if (skb.path && skb.path[skb.path.length - 1] !== this.path) skb.path.push(this.path);
    if (from !== null) {
      if (!this.brHook(NfBrHook.BR_FORWARD, skb, from, to)) return;
    }
    if (!this.brHook(NfBrHook.BR_POST_ROUTING, skb, from, to)) return;
    to.xmit(skb);
  }

  /**
   * br_pass_frame_up: the bridge device receives the frame (taps see it on the bridge),
   * NF_BR_LOCAL_IN, then the IP stack, which sets pkt_type from the destination MAC.
   */
  passUp(skb: Skb): void {
    const w = this.netns.node.world;
    this.rxPackets++;
    this.rxBytes += skb.len;
    skb.dev = this;
    if (skb.path && skb.path[skb.path.length - 1] !== this.path) skb.path.push(this.path);
    if (w.tap) w.tap.frame(this, skb, 'in');
    if (!this.brHook(NfBrHook.BR_LOCAL_IN, skb, skb.brInPort, null)) return;
    this.netns.stack.receive(skb, this);
  }

  /** br_dev_xmit: the host sends through the bridge device. */
  protected transmit(skb: Skb): void {
    const b = skb.buf, d = skb.data;
    const w = this.netns.node.world;
    const saved = skb.bridgedDnatSrc;
    if (saved && skb.brInPort) {
      // br_nf_pre_routing_finish_bridge_slow: a DNATed frame that had to wait for ARP comes
      // back to bridging with its original source MAC, as if just received on its port.
      skb.bridgedDnatSrc = null;
      b.set(saved, d + 6);
      if (w.trace.on) this.ev(skb, 'brnf.dnat', `neighbour resolved: back to bridging from ${skb.brInPort.name}`);
      this.handleFrameFinish(skb.brInPort, skb);
      return;
    }
    skb.brInPort = null;
    if (!this.brHook(NfBrHook.BR_LOCAL_OUT, skb, null, this)) return;
    if (isMulticastMac(b, d)) { this.flood(skb, null); return; }
    const e = this.fdbGet(b, d);
    if (e && e.port && !e.local) {
      e.used = w.now;
      if (w.trace.on) this.ev(skb, 'bridge.fdb.hit', `${macToString(b, d)} → port ${e.port.name}`);
      this.forward(e.port, skb, null);
      return;
    }
    if (e && e.local) {
      // A frame to our own address: loop it back up (rare; e.g. a port MAC).
      this.passUp(skb);
      return;
    }
    if (w.trace.on) this.ev(skb, 'bridge.fdb.miss', `${macToString(b, d)} unknown: flood`);
    this.flood(skb, null);
  }

  /** Runs the bridge-family netfilter hooks; nothing registered = accept. */
  brHook(hook: NfBrHook, skb: Skb, inDev: NetDevice | null, outDev: NetDevice | null): boolean {
    const list = this.netns.hooks.bridge[hook];
    if (list.length === 0) return true;
    // One state object per nesting depth (br_nf_pre_routing may pass the frame up through
    // NF_BR_LOCAL_IN from inside its hook), reused for every frame, in the IPv4 hook's shape.
    const d = brHookDepth;
    let state = brHookStates[d];
    if (state === undefined) {
      state = { hook, pf: 'bridge', in: null, out: null, physIn: null, physOut: null, bridged: false, reason: undefined, detail: undefined };
      brHookStates.push(state);
    }
    state.hook = hook; state.in = inDev; state.out = outDev;
    state.reason = undefined; state.detail = undefined;
    brHookDepth = d + 1;
    try {
      for (let k = 0; k < list.length; k++) {
        const ops = list[k];
        const v = ops.fn(skb, state);
        if (v === NfVerdict.ACCEPT) continue;
        if (v === NfVerdict.STOLEN) return false;
        this.netns.drop(skb, inDev ?? outDev, state.reason ?? 'NETFILTER_DROP', state.detail ?? `${BR_HOOK_NAMES[hook]} ${ops.name} DROP`);
        return false;
      }
    } finally {
      brHookDepth = d;
    }
    return true;
  }

  /** `bridge fdb show br NAME` lines. */
  showFdb(): string[] {
    const out: string[] = [];
    const now = this.netns.node.world.now;
    for (const e of this.fdb.values()) {
      if (!e.isStatic && now - e.updated > this.ageingTime) continue;
      const dev = e.port ? e.port.name : this.name;
      // Every bridge entry carries NDA_MASTER, the bridge's own address too: "02:…:b0 dev br0 master br0 permanent"
      // (checked on Linux 6.18; the device's own multicast "self" entries are not modelled).
      out.push(`${macToString(e.mac)} dev ${dev} master ${this.name}${e.local ? ' permanent' : ''}`);
    }
    return out;
  }
}
