/**
 * A netem root qdisc on a device (`tc qdisc add dev X root netem …`): what a frame
 * meets on transmit before the driver, and so before taps (tcpdump sees what netem
 * lets out, when it lets it out). The order of operations follows sch_netem.c's
 * netem_enqueue: the duplicate draw, then the loss draw (a lost frame with a duplicate
 * pending still leaves once), then corruption (one random bit of the frame flipped),
 * then either reordering (sent at once, ahead of the delayed ones) or the delay with
 * jitter and the rate's serialisation time, into a queue ordered by send time.
 *
 * Every draw comes from the run's seeded PRNG (world.rng), so runs are deterministic;
 * netem's own prandom state and correlation are not modelled. Jitter is netem's
 * built-in distribution when tc loads no table: uniform in [delay − jitter, delay + jitter).
 */
import type { NetDevice } from './device.js';
import type { Skb } from './skb.js';

/** The parameters of one netem qdisc; a percentage is 0..100. All optional except that reorder needs a delay. */
export interface NetemSpec {
  /** ns. */
  delay?: number;
  /** ns; needs delay. */
  jitter?: number;
  loss?: number;
  duplicate?: number;
  corrupt?: number;
  /** Percentage of frames sent at once (gap 1, as tc sets when only a percentage is given); needs delay. */
  reorder?: number;
  /** bits/s: each frame waits its serialisation time behind the one queued before it. */
  rate?: number;
  /** Queue length in frames (tc's default 1000); a frame arriving at a full queue is dropped. */
  limit?: number;
}

/** tc's default netem limit. */
export const NETEM_LIMIT = 1000;
/** A percentage as netem holds it: a fraction of 2^32 − 1 (tc's get_percent). */
const scaled = (pct: number | undefined): number => (pct ? Math.round((pct / 100) * 0xffffffff) : 0);

export class Netem {
  private readonly delay: number;
  private readonly jitter: number;
  private readonly loss: number;
  private readonly duplicate: number;
  private readonly corrupt: number;
  private readonly reorder: number;
  private readonly rate: number;
  private readonly limit: number;
  /** Frames queued (waiting for their send time). */
  private qlen = 0;
  /** The latest send time queued (the rate's reference point: netem's tail of the tfifo). */
  private lastSend = -1;
  /** Bumped when the qdisc is replaced or reset (carrier loss): frames queued before are gone. */
  private generation = 0;
  /** Bound once: a frame's send time comes without a closure per frame. */
  private readonly release = (e: { skb: Skb; gen: number }): void => this.dequeue(e);

  constructor(readonly dev: NetDevice, readonly spec: NetemSpec) {
    this.delay = spec.delay ?? 0;
    this.jitter = spec.jitter ?? 0;
    this.loss = scaled(spec.loss);
    this.duplicate = scaled(spec.duplicate);
    this.corrupt = scaled(spec.corrupt);
    this.reorder = scaled(spec.reorder);
    this.rate = spec.rate ?? 0;
    this.limit = spec.limit ?? NETEM_LIMIT;
  }

  /** `tc qdisc … netem` arguments, as tc prints and accepts them. */
  static args(s: NetemSpec): string {
    const p: string[] = [];
    if (s.limit !== undefined && s.limit !== NETEM_LIMIT) p.push(`limit ${s.limit}`);
    if (s.delay) p.push(`delay ${tcTime(s.delay)}${s.jitter ? ` ${tcTime(s.jitter)}` : ''}`);
    if (s.loss) p.push(`loss ${s.loss}%`);
    if (s.duplicate) p.push(`duplicate ${s.duplicate}%`);
    if (s.reorder) p.push(`reorder ${s.reorder}%`);
    if (s.corrupt) p.push(`corrupt ${s.corrupt}%`);
    if (s.rate) p.push(`rate ${s.rate}bit`);
    return p.join(' ');
  }

  /** netem_enqueue. `dupOk` is false for the duplicate itself (netem turns duplication off while it re-enqueues one). */
  enqueue(skb: Skb, dupOk = true): void {
    const dev = this.dev;
    const rng = dev.netns.node.world.rng;
    let count = 1;
    if (dupOk && this.duplicate && this.duplicate >= rng.u32()) count++;
    if (this.loss && this.loss >= rng.u32()) count--;
    if (count === 0) {
      dev.txDropped++;
      dev.netns.drop(skb, dev, 'QDISC_DROP', `netem on ${dev.name}: lost (loss ${this.spec.loss}%)`);
      return;
    }
    // The copy is taken before corruption: netem clones the frame, then corrupts the original.
    const dup = count > 1 ? skb.copy() : null;
    if (this.corrupt && this.corrupt >= rng.u32() && skb.len > 0) {
      const at = skb.data + rng.int(0, skb.len - 1);
      skb.buf[at] ^= 1 << rng.int(0, 7);
      skb.csumOk = false; // the checksum was finished before the flip (skb_checksum_help): it no longer matches
    }
    if (this.qlen >= this.limit) {
      dev.txDropped++;
      dev.netns.drop(skb, dev, 'QDISC_DROP', `netem on ${dev.name}: queue full (limit ${this.limit})`);
    } else {
      const sched = dev.netns.node.world.sched;
      const now = sched.now;
      let send: number;
      if (this.reorder && this.reorder >= rng.u32()) {
        send = now; // the head of the queue: out at once, ahead of the delayed frames
      } else {
        let delay = this.jitter ? this.delay - this.jitter + rng.int(0, 2 * this.jitter - 1) : this.delay;
        let from = now;
        if (this.rate) {
          // The last frame queued is the reference: its remaining wait counts against this one's delay.
          if (this.qlen > 0 && this.lastSend > now) {
            delay = Math.max(0, delay - (this.lastSend - now));
            from = this.lastSend;
          }
          delay += Math.ceil((skb.len * 8 * 1e9) / this.rate);
        }
        send = from + Math.max(0, delay);
        if (send > this.lastSend) this.lastSend = send;
      }
      this.qlen++;
      sched.at(send, this.release, { skb, gen: this.generation });
    }
    // The duplicate goes through the qdisc again, after the original, without a second duplication.
    if (dup) this.enqueue(dup, false);
  }

  /** The qdisc is reset (dev_deactivate on carrier loss) or replaced: what it holds is freed. */
  reset(): void {
    this.generation++;
    this.qlen = 0;
    this.lastSend = -1;
  }

  private dequeue(e: { skb: Skb; gen: number }): void {
    if (e.gen !== this.generation) {
      // Freed by the reset (qdisc_reset frees with no particular reason).
      this.dev.netns.drop(e.skb, this.dev, 'NOT_SPECIFIED', `netem on ${this.dev.name}: queue flushed`);
      return;
    }
    this.qlen--;
    if (this.qlen === 0) this.lastSend = -1;
    // Down (or without carrier) since: dev_deactivate freed what the qdisc held.
    if (!this.dev.running) { this.dev.netns.drop(e.skb, this.dev, 'NOT_SPECIFIED', `netem on ${this.dev.name}: queue flushed (device down)`); return; }
    this.dev.hardXmit(e.skb);
  }
}

/** A duration as tc writes it: us below 1 ms, ms below 1 s (whole or with decimals), else s. */
function tcTime(ns: number): string {
  const us = ns / 1e3;
  if (us < 1000) return `${trim(us)}us`;
  if (us < 1e6) return `${trim(us / 1e3)}ms`;
  return `${trim(us / 1e6)}s`;
}

const trim = (v: number): string => String(Math.round(v * 1000) / 1000);
