/** The loopback device: what is sent comes straight back in (loopback_xmit → netif_rx). NOARP, zero MACs. */
import { NetDevice } from '../device.js';
import type { Netns } from '../netns.js';
import type { Skb } from '../skb.js';

export class Loopback extends NetDevice {
  readonly kind = 'loopback';
  constructor(netns: Netns) {
    super(netns, 'lo', new Uint8Array(6), 65536);
  }
  protected transmit(skb: Skb): void {
    // tcpdump on lo sees each packet once (as it is sent); the receive side is not tapped again.
    this.netns.node.world.sched.after(0, (s: Skb) => {
      this.rxPackets++;
      this.rxBytes += s.len;
      s.dev = this;
      this.netns.stack.receive(s, this);
    }, skb);
  }
}
