/**
 * The IPv4 forwarding information base: routing tables with longest-prefix
 * match, then lowest metric, as `ip route` shows them. Table 255 (local) holds
 * local and broadcast routes the kernel adds for each address; table 254
 * (main) holds the rest. Lookup consults local first, then main, which is what
 * the default policy rules (`ip rule`: 0 local, 32766 main) do.
 *
 * Routes live in one Map per prefix length keyed by the masked destination,
 * and lookup walks only the prefix lengths in use, longest first.
 */
import { ipToString, prefixMask } from '../wire/bytes.js';
import type { NetDevice } from './device.js';
import type { RouteScope, RouteType } from './netlink.js';

export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

export interface Route {
  dst: number;
  prefix: number;
  type: RouteType;
  /** Gateway, 0 when directly connected. */
  gw: number;
  dev: NetDevice | null;
  scope: RouteScope;
  metric: number;
  /** Preferred source, 0 when none. */
  src: number;
  proto: string;
  onlink: boolean;
  table: number;
  /** `ip route` text, computed on first use (route fields never change after creation). */
  text?: string;
}

class Table {
  readonly byLen: (Map<number, Route[]> | undefined)[] = new Array(33);
  /** Prefix lengths in use, longest first. */
  lens: number[] = [];

  add(r: Route): void {
    let m = this.byLen[r.prefix];
    if (!m) {
      m = new Map();
      this.byLen[r.prefix] = m;
      this.lens = [...this.lens, r.prefix].sort((a, b) => b - a);
    }
    const list = m.get(r.dst);
    if (list) {
      list.push(r);
      list.sort((a, b) => a.metric - b.metric);
    } else m.set(r.dst, [r]);
  }

  remove(pred: (r: Route) => boolean): Route[] {
    const removed: Route[] = [];
    for (const len of this.lens) {
      const m = this.byLen[len]!;
      for (const [k, list] of m) {
        const keep = list.filter((r) => {
          if (pred(r)) { removed.push(r); return false; }
          return true;
        });
        if (keep.length === 0) m.delete(k);
        else if (keep.length !== list.length) m.set(k, keep);
      }
      if (m.size === 0) {
        this.byLen[len] = undefined;
        this.lens = this.lens.filter((l) => l !== len);
      }
    }
    return removed;
  }

  /** Removes the routes to exactly dst/prefix that `pred` selects (one map lookup, not a scan). */
  removeAt(dst: number, prefix: number, pred: (r: Route) => boolean): Route[] {
    const m = this.byLen[prefix];
    const list = m?.get(dst);
    if (!m || !list) return [];
    const removed: Route[] = [];
    const keep = list.filter((r) => {
      if (pred(r)) { removed.push(r); return false; }
      return true;
    });
    if (!removed.length) return removed;
    if (keep.length) m.set(dst, keep);
    else {
      m.delete(dst);
      if (m.size === 0) {
        this.byLen[prefix] = undefined;
        this.lens = this.lens.filter((l) => l !== prefix);
      }
    }
    return removed;
  }

  lookup(ip: number, usable: (r: Route) => boolean): Route | null {
    for (const len of this.lens) {
      const list = this.byLen[len]!.get(len === 0 ? 0 : (ip & prefixMask(len)) >>> 0);
      if (list) {
        for (const r of list) if (usable(r)) return r;
      }
    }
    return null;
  }

  all(): Route[] {
    const out: Route[] = [];
    for (const len of this.lens) for (const list of this.byLen[len]!.values()) out.push(...list);
    return out;
  }
}

/** Routes through a device that is down are skipped (the kernel flushes them). */
const usableRoute = (r: Route): boolean => r.dev === null || r.dev.up;

export class Fib {
  private readonly local = new Table();
  private readonly main = new Table();
  private readonly tables = new Map<number, Table>([[RT_TABLE_LOCAL, this.local], [RT_TABLE_MAIN, this.main]]);

  private table(id: number): Table {
    let t = this.tables.get(id);
    if (!t) { t = new Table(); this.tables.set(id, t); }
    return t;
  }

  add(r: Route): void { this.table(r.table).add(r); }

  /** Finds an exact route (same table, dst/prefix, metric, and dev/gw/type when given). */
  find(r: Partial<Route> & { dst: number; prefix: number; table: number }): Route | undefined {
    const m = this.tables.get(r.table)?.byLen[r.prefix];
    return m?.get(r.dst)?.find((x) =>
      (r.metric === undefined || x.metric === r.metric) &&
      (r.dev === undefined || r.dev === null || x.dev === r.dev) &&
      (r.gw === undefined || r.gw === 0 || x.gw === r.gw) &&
      (r.type === undefined || x.type === r.type));
  }

  remove(pred: (r: Route) => boolean): Route[] {
    const out: Route[] = [];
    for (const t of this.tables.values()) out.push(...t.remove(pred));
    return out;
  }

  /** Removes the routes of `table` to exactly dst/prefix that `pred` selects. */
  removeAt(table: number, dst: number, prefix: number, pred: (r: Route) => boolean): Route[] {
    return this.tables.get(table)?.removeAt(dst, prefix, pred) ?? [];
  }

  /**
   * Longest-prefix match: local table first, then main, skipping routes whose
   * device is down (the kernel flushes those; we skip them the same way).
   */
  lookup(ip: number): Route | null {
    const r = this.local.lookup(ip, usableRoute) ?? this.main.lookup(ip, usableRoute);
    if (r || this.tables.size === 2) return r;
    for (const [id, t] of this.tables) {
      if (id === RT_TABLE_LOCAL || id === RT_TABLE_MAIN) continue;
      const x = t.lookup(ip, usableRoute);
      if (x) return x;
    }
    return null;
  }

  routes(table: number): Route[] {
    return this.tables.get(table)?.all() ?? [];
  }
}

/** `ip route` text for one route, in iproute2's order of fields. */
export function formatRoute(r: Route): string {
  if (r.text !== undefined) return r.text;
  r.text = routeText(r);
  return r.text;
}

function routeText(r: Route): string {
  const parts: string[] = [];
  if (r.type !== 'unicast') parts.push(r.type);
  // iproute2 prints "default" for any /0 (no RTA_DST), so also "blackhole default", "unreachable default".
  parts.push(r.prefix === 0 ? 'default' : r.prefix === 32 ? ipToString(r.dst) : `${ipToString(r.dst)}/${r.prefix}`);
  if (r.gw) parts.push('via', ipToString(r.gw));
  if (r.dev) parts.push('dev', r.dev.name);
  if (r.table !== RT_TABLE_MAIN && r.table !== RT_TABLE_LOCAL) parts.push('table', String(r.table));
  if (r.proto !== 'boot') parts.push('proto', r.proto);
  if (r.scope !== 'global' && r.type === 'unicast') parts.push('scope', r.scope);
  else if (r.type === 'local' || r.type === 'broadcast') parts.push('scope', r.scope);
  if (r.src) parts.push('src', ipToString(r.src));
  if (r.metric) parts.push('metric', String(r.metric));
  if (r.onlink) parts.push('onlink');
  return parts.join(' ');
}
