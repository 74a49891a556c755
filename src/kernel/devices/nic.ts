/**
 * A physical NIC attached to an underlay L2 segment. The segment is a learning
 * switch (not a Linux device, so it has no captures of its own): it learns
 * source MACs per port, forwards known unicast, floods the rest.
 */
import { NetDevice } from '../device.js';
import type { Skb } from '../skb.js';
import { macKey } from './bridge.js';
import { isMulticastMac } from '../../wire/bytes.js';

export class Nic extends NetDevice {
  readonly kind = 'nic';
  segment: Segment | null = null;
  override get running(): boolean { return this.up && this.carrier && this.segment !== null; }
  /** Bound once: scheduling a frame allocates no closure. */
  private readonly toSegment = (s: Skb): void => {
    if (!this.segment || !this.carrier) return; // a frame on a cut cable is lost
    s.scrub(true); // onto the wire: nothing of this machine's state travels with it
    s.confirmNeigh = false; // the receiver's driver builds a new skb: no dst_pending_confirm bit
    s.csumOk = false; // nor a checksum state: the receiving stack verifies what arrives
    this.segment.input(this, s);
  };

  protected transmit(skb: Skb): void {
    this.schedule(skb, this.toSegment);
  }
}

export class Segment {
  readonly ports: Nic[] = [];
  private readonly table = new Map<number, Nic>();
  /**
   * The last two table entries looked up or learned (MAC number → port), until the table
   * changes otherwise: a 48-bit key is boxed and hashed by every Map call, and a stream of
   * frames looks up the same few addresses (see FdbTable).
   */
  private k0 = -1; private p0: Nic | undefined = undefined;
  private k1 = -1; private p1: Nic | undefined = undefined;

  private portOf(k: number): Nic | undefined {
    if (k === this.k0) return this.p0;
    if (k === this.k1) return this.p1;
    const p = this.table.get(k);
    if (p !== undefined) this.remember(k, p);
    return p;
  }

  private remember(k: number, p: Nic): void {
    this.k1 = this.k0; this.p1 = this.p0;
    this.k0 = k; this.p0 = p;
  }
  constructor(readonly name: string, readonly network: number, readonly prefix: number) {}

  attach(nic: Nic): void {
    this.ports.push(nic);
    nic.segment = this;
  }

  detach(nic: Nic): void {
    const i = this.ports.indexOf(nic);
    if (i >= 0) this.ports.splice(i, 1);
    nic.segment = null;
    for (const [k, v] of this.table) if (v === nic) this.table.delete(k);
    this.k0 = this.k1 = -1; this.p0 = this.p1 = undefined;
  }

  /** A frame from `from` reaches the switch. */
  input(from: Nic, skb: Skb): void {
    const b = skb.buf, d = skb.data;
    const src = macKey(b, d + 6);
    if (this.portOf(src) !== from) { this.table.set(src, from); this.remember(src, from); }
    if (!isMulticastMac(b, d)) {
      const to = this.portOf(macKey(b, d));
      if (to) { if (to !== from && to.up && to.carrier) to.receive(skb); return; }
    }
    // Copies are taken before any delivery: a receiver may rewrite the bytes it is handed.
    const targets = this.ports.filter((p) => p !== from && p.up && p.carrier);
    const copies = targets.map((_, i) => (i === targets.length - 1 ? skb : skb.copy()));
    for (let i = 0; i < targets.length; i++) targets[i].receive(copies[i]);
  }
}
