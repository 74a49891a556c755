/**
 * What went round in circles: the packets a run cut short by a budget was still
 * busy with (LoopWatch, a frame tap installed only for the budget's last stretch),
 * and the packets whose TTL ran out after crossing the same devices again and
 * again (ttlLoopOf, from the path a watched packet records). Neither costs
 * anything while nothing loops: the watch is not installed, and a TTL expiry is a drop.
 */
import type { FrameTap } from '../kernel/world.js';
import type { NetDevice } from '../kernel/device.js';
import type { Skb } from '../kernel/skb.js';

/** One packet id's frames in the watch window. */
export interface CyclingPacket {
  id: number;
  /** The traffic item the packet belongs to, when it carries one. */
  flow?: string;
  /** The packet as the trace describes it (its first frame in the window). */
  what: string;
  /** Frames sent (device transmits) in the window. */
  frames: number;
  /** The places it left by, most frames first: `node/netns/dev`, frames there in the window, and that device's frames in the whole run. */
  places: { dev: string; frames: number; total: number }[];
}

interface Count {
  id: number;
  flow?: string;
  what: string;
  frames: number;
  byDev: Map<NetDevice, number>;
}

/** A frame tap counting each packet's transmissions per device, passing every frame on to the next tap (the captures). */
export class LoopWatch implements FrameTap {
  private readonly counts = new Map<number, Count>();
  constructor(readonly next: FrameTap | null) {}

  frame(dev: NetDevice, skb: Skb, dir: 'in' | 'out'): void {
    if (dir === 'out') {
      let c = this.counts.get(skb.id);
      if (c === undefined) {
        c = { id: skb.id, flow: skb.flow ?? undefined, what: dev.describe(skb), frames: 0, byDev: new Map() };
        this.counts.set(skb.id, c);
      }
      c.frames++;
      c.byDev.set(dev, (c.byDev.get(dev) ?? 0) + 1);
    }
    if (this.next) this.next.frame(dev, skb, dir);
  }

  /**
   * The `n` packets that sent the most frames (ties: the lower id first), each with its top places;
   * only packets that left some device more than once — went round — count.
   */
  top(n: number, places = 6): CyclingPacket[] {
    return [...this.counts.values()]
      .filter((c) => c.frames > c.byDev.size)
      .sort((a, b) => b.frames - a.frames || a.id - b.id)
      .slice(0, n)
      .map((c) => ({
        id: c.id, ...(c.flow ? { flow: c.flow } : {}), what: c.what, frames: c.frames,
        places: [...c.byDev].sort((a, b) => b[1] - a[1] || (a[0].path < b[0].path ? -1 : 1)).slice(0, places)
          .map(([d, f]) => ({ dev: d.path, frames: f, total: d.txPackets })),
      }));
  }
}

/** A packet that died of TTL after going round: the devices it crossed more than once. */
export interface TtlLoop {
  id: number;
  flow?: string;
  /** Where it died (`node/netns/dev: detail`, as the drop names it). */
  where: string;
  /** Devices crossed in all (consecutive crossings of one device — in, then out again — count once). */
  hops: number;
  /** The devices it visited more than once, most visits first. */
  cycled: { dev: string; visits: number }[];
}

/** The loop a TTL-expired packet went round, from its recorded path (null when it has none or visited nothing twice). */
export function ttlLoopOf(skb: Skb, where: string): TtlLoop | null {
  const path = skb.path;
  if (!path || path.length === 0) return null;
  const visits = new Map<string, number>();
  let hops = 0;
  let prev = '';
  for (const d of path) {
    if (d === prev) continue;
    prev = d;
    hops++;
    visits.set(d, (visits.get(d) ?? 0) + 1);
  }
  const cycled = [...visits].filter(([, v]) => v > 1).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([dev, v]) => ({ dev, visits: v }));
  if (!cycled.length) return null;
  return { id: skb.id, ...(skb.flow ? { flow: skb.flow } : {}), where, hops, cycled };
}

/** The lines a run prints about its loops: one per TTL-expired packet that went round. */
export function formatTtlLoops(loops: TtlLoop[]): string[] {
  return loops.map((l) => `loop: packet #${l.id}${l.flow ? ` [${l.flow}]` : ''} went round ${l.cycled.map((c) => `${c.dev} ×${c.visits}`).join(', ')} (${l.hops} devices crossed) until its TTL ran out at ${l.where}`);
}
