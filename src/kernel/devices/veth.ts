/** A veth end. What one end transmits, its peer receives (after the link delay); both must be up (carrier). */
import { NetDevice } from '../device.js';
import type { Skb } from '../skb.js';

export class Veth extends NetDevice {
  readonly kind = 'veth';
  peer: Veth | null = null;

  override get running(): boolean {
    return this.up && this.peer !== null && this.peer.up;
  }

  protected transmit(skb: Skb): void {
    const peer = this.peer!;
    this.schedule(skb, (s) => peer.receive(s));
  }
}
