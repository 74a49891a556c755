/**
 * `-m limit --limit N/sec|minute|hour|day --limit-burst B` (xt_limit).
 *
 * iptables stores avg = XT_LIMIT_SCALE(10000) * seconds-per-unit / N (integer
 * division) and the burst (default 3/hour, burst 5). The kernel's token
 * bucket (limit_mt): credit grows with elapsed time, capped at
 * credit_cap = cost * burst; a packet matches (and spends `cost`) when
 * credit >= cost. The kernel counts credit in jiffies * CREDITS_PER_JIFFY;
 * here credit is in nanoseconds of virtual time and cost = avg * 1e9 / 10000
 * ns, which is the same bucket without HZ quantisation (documented departure:
 * the kernel rounds elapsed time down to jiffies). The bucket starts full.
 * Saved with libxt_limit's print_rate: the largest unit that shows the rate
 * exactly (5/min, 3/hour, 7/sec, 100/sec, 1/day verified); the burst only when ≠ 5.
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, at, onlyOnce, parseUint, vtok, ValueError } from '../tokens.js';

const SCALE = 10000;
const RATES: [string, number][] = [['day', SCALE * 86400], ['hour', SCALE * 3600], ['min', SCALE * 60], ['sec', SCALE]];

export function parseRate(s: string): number {
  const slash = s.indexOf('/');
  const num = slash < 0 ? s : s.slice(0, slash);
  if (!/^[0-9]+$/.test(num)) throw new ValueError(`bad rate "${s}"'`);
  const r = Number(num);
  let mult = 1;
  if (slash >= 0) {
    const u = s.slice(slash + 1);
    if (u.length === 0) throw new ValueError(`bad rate "${s}"'`);
    if ('second'.startsWith(u)) mult = 1;
    else if ('minute'.startsWith(u)) mult = 60;
    else if ('hour'.startsWith(u)) mult = 3600;
    else if ('day'.startsWith(u)) mult = 86400;
    else throw new ValueError(`bad rate "${s}"'`);
  }
  if (r === 0) throw new ValueError(`bad rate "${s}"'`);
  const avg = Math.floor((SCALE * mult) / r);
  if (avg === 0 || r > SCALE * mult) throw new ValueError(`Rate too fast "${s}"`);
  return avg;
}

export function rateText(avg: number): string {
  let i = 1;
  for (; i < RATES.length; i++) {
    const m = RATES[i][1];
    if (avg > m || Math.floor(m / avg) < m % avg) break;
  }
  const [name, m] = RATES[i - 1];
  return `${Math.floor(m / avg)}/${name}`;
}

export class LimitMatch implements Match {
  readonly name = 'limit';
  private credit: number;
  private prev = -1;
  readonly cost: number;
  readonly cap: number;
  constructor(readonly avg: number, readonly burst: number) {
    this.cost = avg * (1e9 / SCALE);
    this.cap = this.cost * burst;
    this.credit = this.cap;
  }
  matches(p: PacketCtx): boolean {
    if (this.prev >= 0) this.credit = Math.min(this.cap, this.credit + Math.max(0, p.now - this.prev));
    this.prev = p.now;
    if (this.credit >= this.cost) {
      this.credit -= this.cost;
      return true;
    }
    return false;
  }
  save(): string {
    return `-m limit --limit ${rateText(this.avg)}${this.burst !== 5 ? ` --limit-burst ${this.burst}` : ''}`;
  }
}

export const limitModule: MatchModule = {
  name: 'limit',
  options: [{ name: 'limit', args: 1 }, { name: 'limit-burst', args: 1 }],
  parse(args) {
    onlyOnce('limit', args);
    let avg = Math.floor((SCALE * 3600) / 3), burst = 5;
    for (const a of args) {
      if (a.name === 'limit') avg = at(vtok(a), () => parseRate(a.values[0]));
      else {
        burst = at(vtok(a), () => parseUint(a.values[0], 10000), '', `limit: bad value for option "--limit-burst", or out of range (0-10000).`);
        if (burst === 0) throw new ModuleError('limit: bad value for option "--limit-burst", or out of range (1-10000).', vtok(a));
      }
    }
    return new LimitMatch(avg, burst);
  },
};
