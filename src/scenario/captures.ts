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
import type { Netns } from '../kernel/netns.js';

/**
 * The comment of a frame: `#ID[ carrying #INNER] xmit|recv node/netns/dev[ [flow]]`
 * ({@link frameComment}). The tap writes its UTF-8 bytes straight into a scratch
 * buffer from parts made once (the device's ` xmit node/netns/dev` and ` recv …`,
 * the flow's ` [flow]`) and the ids' digits.
 */
export function frameComment(id: number, innerId: number, dir: 'in' | 'out', devPath: string, flow: string | undefined): string {
  return `#${id}${innerId ? ` carrying #${innerId}` : ''} ${dir === 'out' ? 'xmit' : 'recv'} ${devPath}${flow ? ` [${flow}]` : ''}`;
}

/** A device's capture interface and the bytes of its comment parts (remade when the device is renamed or moved). */
interface DevCapture {
  index: number;
  netns: Netns;
  name: string;
  xmit: Uint8Array;
  recv: Uint8Array;
}

const CARRYING = Buffer.from(' carrying #', 'latin1');

export function attachCaptures(world: World, dir: string, opts: { usedOnly?: boolean } = {}): CaptureSet {
  mkdirSync(dir, { recursive: true });
  const cs = new CaptureSet({ dir, pcap: true, pcapng: true });
  const devs = new Map<NetDevice, DevCapture>();
  const parts = (d: DevCapture, dev: NetDevice): DevCapture => {
    d.netns = dev.netns;
    d.name = dev.name;
    d.xmit = Buffer.from(` xmit ${dev.path}`, 'utf8');
    d.recv = Buffer.from(` recv ${dev.path}`, 'utf8');
    return d;
  };
  const add = (dev: NetDevice, index: number): DevCapture => {
    const d = parts({ index, netns: dev.netns, name: dev.name, xmit: CARRYING, recv: CARRYING }, dev);
    devs.set(dev, d);
    return d;
  };
  // Every device gets its file up front, so an interface that saw nothing still has an (empty) capture —
  // unless `usedOnly` (a cluster of 150,000 pods: files only for the interfaces frames cross, made at their first frame).
  if (!opts.usedOnly) for (const node of world.nodes.values()) for (const ns of node.netns.values()) for (const dev of ns.devices.values()) {
    add(dev, cs.iface(node.name, ns.name, dev.name, dev.linkType));
  }
  const flows = new Map<string, Uint8Array>();
  let buf = new Uint8Array(256);
  world.tap = {
    frame(dev, skb, dir) {
      let d = devs.get(dev);
      if (d === undefined) d = add(dev, cs.iface(dev.netns.node.name, dev.netns.name, dev.name, dev.linkType));
      else if (d.netns !== dev.netns || d.name !== dev.name) parts(d, dev);
      const tail = dir === 'out' ? d.xmit : d.recv;
      let fl: Uint8Array | undefined;
      if (skb.flow) {
        fl = flows.get(skb.flow);
        if (fl === undefined) { fl = Buffer.from(` [${skb.flow}]`, 'utf8'); if (flows.size < 4096) flows.set(skb.flow, fl); }
      }
      const need = 80 + tail.length + (fl ? fl.length : 0);
      if (need > buf.length) buf = new Uint8Array(Math.max(need, buf.length * 2));
      let p = 0;
      buf[p++] = 0x23; // '#'
      p = writeDecimal(buf, p, skb.id);
      if (skb.innerId) {
        buf.set(CARRYING, p);
        p = writeDecimal(buf, p + CARRYING.length, skb.innerId);
      }
      buf.set(tail, p);
      p += tail.length;
      if (fl) { buf.set(fl, p); p += fl.length; }
      cs.recordBytes(d.index, world.now, skb.buf, skb.data, skb.len, dir, buf, p);
    },
  };
  return cs;
}

/** Writes `n` (a non-negative safe integer, as `${n}` prints it) in ASCII at `p`; returns the end. */
function writeDecimal(b: Uint8Array, p: number, n: number): number {
  if (n < 10) { b[p] = 0x30 + n; return p + 1; }
  if (!Number.isSafeInteger(n) || n < 0) {
    const s = `${n}`;
    for (let i = 0; i < s.length; i++) b[p + i] = s.charCodeAt(i);
    return p + s.length;
  }
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let x = n;
  for (let i = p + digits - 1; i >= p; i--) {
    const q = Math.floor(x / 10);
    b[i] = 0x30 + (x - q * 10);
    x = q;
  }
  return p + digits;
}
