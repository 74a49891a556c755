/** A veth end. What one end transmits, its peer receives (after the link delay); both must be up (carrier). */
import { NetDevice } from '../device.js';
import type { Skb } from '../skb.js';

export class Veth extends NetDevice {
  readonly kind = 'veth';
  peer: Veth | null = null;

  override get running(): boolean {
    return this.up && this.peer !== null && this.peer.up;
  }

  /** Bound once: scheduling a frame allocates no closure. */
  private readonly toPeer = (s: Skb): void => {
    const peer = this.peer;
    if (!peer) return;
    s.scrub(peer.netns !== this.netns);
    peer.receive(s);
  };

  protected transmit(skb: Skb): void {
    this.schedule(skb, this.toPeer);
  }
}
