/**
 * A speaker's Adj-RIB-Out: what each neighbour holds from it, by prefix and then by
 * neighbour slot (`BgpPeer.slot`).
 *
 * By prefix first because that is how a reflector reads it: a client's UPDATE changes one
 * prefix, and the reflector then flushes that prefix to each of its clients in turn. Kept by
 * neighbour first (an array per client indexed by prefix), each client's entry sat in a
 * different 40 KB array (5,000 clients × 5,000 blocks a reflector at 5,000 nodes, issue 9),
 * a cache and TLB miss per client; by prefix, the clients' entries are neighbours in one row.
 * A speaker holds a row only for the prefixes it has sent (a client: its own blocks).
 */
import type { AdjOut } from './session.js';

export class AdjRibOut {
  /** Rows by prefix id; a row's entries by neighbour slot (undefined: nothing sent). */
  private readonly rows: ((AdjOut | undefined)[] | undefined)[] = [];

  /** What neighbour `slot` holds for prefix `pfxId`. */
  get(pfxId: number, slot: number): AdjOut | undefined {
    const r = pfxId < this.rows.length ? this.rows[pfxId] : undefined;
    return r === undefined || slot >= r.length ? undefined : r[slot];
  }

  set(pfxId: number, slot: number, v: AdjOut | undefined): void {
    const rows = this.rows;
    let r = pfxId < rows.length ? rows[pfxId] : undefined;
    if (r === undefined) {
      if (v === undefined) return;
      // Kept dense (no holes): a holey or sparse array is slower, a sparse one a hash table.
      while (rows.length <= pfxId) rows.push(undefined);
      r = rows[pfxId] = [];
    }
    while (r.length <= slot) r.push(undefined);
    r[slot] = v;
  }

  /** Neighbour `slot` holds nothing (its session went down, or it asked for a refresh). */
  clear(slot: number): void {
    for (const r of this.rows) if (r !== undefined && slot < r.length) r[slot] = undefined;
  }

  /** No neighbour holds anything (a restart: a new process). */
  clearAll(): void {
    this.rows.length = 0;
  }
}
