/**
 * `-m recent` (xt_recent): per-namespace tables of addresses keyed by
 * --name (default DEFAULT), each entry a ring of up to 20 timestamps
 * (ip_pkt_list_tot). Time is p.now (ns); "within --seconds" is
 * stamp >= now - seconds (the kernel's time_after on jiffies).
 *
 * recent_mt: addr = (--rsource ? saddr : daddr) & mask; --set adds/refreshes
 * the entry and matches; otherwise no entry → no match; --remove deletes it
 * and matches; --rcheck/--update match when (no --seconds/--hitcount) or at
 * least hitcount stamps (1 when 0) lie within --seconds; --update then adds a
 * stamp when matched; --reap drops entries whose newest stamp is older than
 * --seconds. `!` inverts the result.
 *
 * Saved as libxt_recent prints it (verified): `--set|--rcheck|--update|--remove
 * [--seconds N] [--reap] [--hitcount N] --name X --mask A.B.C.D --rsource|--rdest`.
 */
import type { Match, PacketCtx } from '../types.js';
import type { Netns } from '../../kernel/netns.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, at, parseUint, vtok } from '../tokens.js';
import { ipToString, parseIp } from '../../wire/bytes.js';

const MAX_STAMPS = 20;

interface RecentEntry { stamps: number[] }
export type RecentTable = Map<number, RecentEntry>;

const tablesByNs = new WeakMap<object, Map<string, RecentTable>>();

/** The recent table `name` of a namespace (created on first use, like /proc/net/xt_recent/NAME). */
export function recentTable(ns: Netns | object, name: string): RecentTable {
  let m = tablesByNs.get(ns);
  if (!m) { m = new Map(); tablesByNs.set(ns, m); }
  let t = m.get(name);
  if (!t) { t = new Map(); m.set(name, t); }
  return t;
}

type Cmd = 'set' | 'rcheck' | 'update' | 'remove';

export class RecentMatch implements Match {
  readonly name = 'recent';
  constructor(
    readonly cmd: Cmd, readonly invert: boolean, readonly table: string, readonly seconds: number, readonly reap: boolean,
    readonly hitcount: number, readonly mask: number, readonly rdest: boolean,
  ) {}

  matches(p: PacketCtx): boolean {
    const t = recentTable(p.ns, this.table);
    const addr = ((this.rdest ? p.daddr : p.saddr) & this.mask) >>> 0;
    const now = p.now;
    let ret = this.invert;
    let e = t.get(addr);
    if (this.cmd === 'set') {
      if (!e) { e = { stamps: [] }; t.set(addr, e); }
      addStamp(e, now);
      return !ret;
    }
    if (!e) return ret;
    if (this.cmd === 'remove') { t.delete(addr); return !ret; }
    const since = now - this.seconds * 1e9;
    if (this.seconds === 0 && this.hitcount === 0) ret = !ret;
    else {
      let hits = 0;
      for (const s of e.stamps) {
        if (this.seconds && s < since) continue;
        if (this.hitcount === 0 || ++hits >= this.hitcount) { ret = !ret; break; }
      }
    }
    if (this.reap && this.seconds) {
      for (const [k, x] of t) if (x !== e && x.stamps[x.stamps.length - 1] < since) t.delete(k);
    }
    if (this.cmd === 'update' && ret !== this.invert) addStamp(e, now);
    return ret;
  }

  save(): string {
    let s = `-m recent ${this.invert ? '! ' : ''}--${this.cmd}`;
    if (this.seconds) s += ` --seconds ${this.seconds}`;
    if (this.reap) s += ' --reap';
    if (this.hitcount) s += ` --hitcount ${this.hitcount}`;
    return s + ` --name ${this.table} --mask ${ipToString(this.mask)} ${this.rdest ? '--rdest' : '--rsource'}`;
  }
}

function addStamp(e: RecentEntry, now: number): void {
  e.stamps.push(now);
  if (e.stamps.length > MAX_STAMPS) e.stamps.shift();
}

export const recentModule: MatchModule = {
  name: 'recent',
  options: [
    { name: 'set', args: 0, invert: true }, { name: 'rcheck', args: 0, invert: true }, { name: 'update', args: 0, invert: true },
    { name: 'remove', args: 0, invert: true }, { name: 'seconds', args: 1 }, { name: 'reap', args: 0 }, { name: 'hitcount', args: 1 },
    { name: 'name', args: 1 }, { name: 'rsource', args: 0 }, { name: 'rdest', args: 0 }, { name: 'mask', args: 1 },
  ],
  parse(args) {
    let cmd: Cmd | null = null, invert = false, name = 'DEFAULT', seconds = 0, reap = false, hitcount = 0, mask = 0xffffffff, rdest = false;
    for (const a of args) {
      switch (a.name) {
        case 'set': case 'rcheck': case 'update': case 'remove':
          if (cmd) throw new ModuleError("recent: only one of `--set', `--rcheck' `--update' or `--remove' may be set", a.tok);
          cmd = a.name; invert = a.invert; break;
        case 'seconds': seconds = at(vtok(a), () => parseUint(a.values[0])); break;
        case 'reap': reap = true; break;
        case 'hitcount':
          hitcount = at(vtok(a), () => parseUint(a.values[0]));
          if (hitcount > MAX_STAMPS) throw new ModuleError(`recent: --hitcount ${hitcount} is larger than ip_pkt_list_tot (${MAX_STAMPS})`, vtok(a));
          break;
        case 'name':
          if (a.values[0].length === 0 || a.values[0].length > 200) throw new ModuleError('recent: bad --name', vtok(a));
          name = a.values[0]; break;
        case 'rsource': rdest = false; break;
        case 'rdest': rdest = true; break;
        case 'mask': {
          const m = parseIp(a.values[0]);
          if (m === undefined) throw new ModuleError(`recent: bad --mask "${a.values[0]}"`, vtok(a));
          mask = m; break;
        }
      }
    }
    if (!cmd) throw new ModuleError("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'", undefined, '--set, --rcheck, --update or --remove');
    if (reap && !seconds) throw new ModuleError('recent: --reap needs --seconds', args.find((a) => a.name === 'reap')!.tok);
    if ((seconds || hitcount) && (cmd === 'set' || cmd === 'remove')) throw new ModuleError('recent: --seconds and --hitcount work with --rcheck or --update only', undefined);
    return new RecentMatch(cmd, invert, name, seconds, reap, hitcount, mask, rdest);
  },
};

/** Factory (no parsing): `-m recent --name NAME --set|--rcheck|--update|--remove [--seconds N] [--reap] [--hitcount N] [--rdest] [--mask M]`. */
export function recentMatch(o: {
  cmd: 'set' | 'rcheck' | 'update' | 'remove'; name?: string; seconds?: number; reap?: boolean; hitcount?: number;
  mask?: number; rdest?: boolean; invert?: boolean;
}): RecentMatch {
  return new RecentMatch(o.cmd, o.invert ?? false, o.name ?? 'DEFAULT', o.seconds ?? 0, o.reap ?? false, o.hitcount ?? 0,
    (o.mask ?? 0xffffffff) >>> 0, o.rdest ?? false);
}
