/**
 * Captures for a run: a CaptureSet with one interface per device of every
 * namespace of every machine (or, with `usedOnly`, of every device a frame crossed), and a frame tap that records each frame as the
 * device sends ('out') or receives ('in') it, with the packet id, the device
 * and the traffic item as the pcapng packet comment.
 */
import { mkdirSync } from 'node:fs';
import { CaptureSet } from '../trace/capture.js';
import type { World } from '../kernel/world.js';
import type { NetDevice } from '../kernel/device.js';

export function attachCaptures(world: World, dir: string, opts: { usedOnly?: boolean } = {}): CaptureSet {
  mkdirSync(dir, { recursive: true });
  const cs = new CaptureSet({ dir, pcap: true, pcapng: true });
  const ifIndex = new Map<NetDevice, number>();
  // Every device gets its file up front, so an interface that saw nothing still has an (empty) capture —
  // unless `usedOnly` (a cluster of 150,000 pods: files only for the interfaces frames cross, made at their first frame).
  if (!opts.usedOnly) for (const node of world.nodes.values()) for (const ns of node.netns.values()) for (const dev of ns.devices.values()) {
    ifIndex.set(dev, cs.iface(node.name, ns.name, dev.name, dev.linkType));
  }
  world.tap = {
    frame(dev, skb, dir) {
      let i = ifIndex.get(dev);
      if (i === undefined) { i = cs.iface(dev.netns.node.name, dev.netns.name, dev.name, dev.linkType); ifIndex.set(dev, i); }
      const comment = `#${skb.id}${skb.innerId ? ` carrying #${skb.innerId}` : ''} ${dir === 'out' ? 'xmit' : 'recv'} ${dev.path}${skb.flow ? ` [${skb.flow}]` : ''}`;
      cs.record(i, world.now, skb.buf, skb.data, skb.len, dir, comment);
    },
  };
  return cs;
}
