/**
 * `-m statistic` (xt_statistic).
 *
 * --mode random --probability P: iptables stores lround(P * 2^31); the kernel
 * matches when `(get_random_u32() & 0x7FFFFFFF) < stored` (xor invert).
 * Saved as `%.11f` of stored / 2^31 (verified: 0.3333333333 → 0.33333333349,
 * 0.5 → 0.50000000000).
 *
 * --mode nth --every N [--packet P]: iptables stores every-1 and sets the
 * per-rule counter to (every-1) - P (libxt_statistic final check:
 * `u.nth.count = u.nth.every - u.nth.packet`; xt_statistic's checkentry starts
 * master->count there); each packet: count = (count == every-1) ? 0 : count+1,
 * and the rule matches when the new count is 0 (xor invert). So with --packet 0
 * the first packet matches, then every N-th (seen on the kernel: datagrams 1,
 * 4, 7 of nine matched `--every 3 --packet 0`).
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, onlyOnce, parseUint, vtok, at } from '../tokens.js';

export class StatisticMatch implements Match {
  readonly name = 'statistic';
  /** nth mode: the per-rule packet counter (shared by all packets through this rule, like the kernel's master->count). */
  count: number;
  constructor(readonly mode: 'random' | 'nth', readonly probability: number, readonly every: number, readonly packet: number, readonly invert: boolean) {
    this.count = every - packet;
  }
  matches(p: PacketCtx): boolean {
    if (this.mode === 'random') return (((p.random() & 0x7fffffff) >>> 0) < this.probability) !== this.invert;
    const nval = this.count === this.every ? 0 : this.count + 1;
    this.count = nval;
    return (nval === 0) !== this.invert;
  }
  save(): string {
    if (this.mode === 'random') return `-m statistic --mode random ${this.invert ? '! ' : ''}--probability ${(this.probability / 0x80000000).toFixed(11)}`;
    return `-m statistic --mode nth ${this.invert ? '! ' : ''}--every ${this.every + 1} --packet ${this.packet}`;
  }
}

export const statisticModule: MatchModule = {
  name: 'statistic',
  options: [
    { name: 'mode', args: 1 }, { name: 'probability', args: 1, invert: true },
    { name: 'every', args: 1, invert: true }, { name: 'packet', args: 1 },
  ],
  parse(args) {
    onlyOnce('statistic', args);
    const get = (n: string) => args.find((a) => a.name === n);
    const mode = get('mode');
    if (!mode) throw new ModuleError('statistic: option "--mode" must be specified', undefined, '--mode random|nth');
    const m = mode.values[0];
    if (m !== 'random' && m !== 'nth') throw new ModuleError(`statistic: Bad mode "${m}"`, vtok(mode), 'random or nth');
    const prob = get('probability'), every = get('every'), packet = get('packet');
    if (m === 'random') {
      if (!prob) throw new ModuleError('statistic: --mode random requires --probability', mode.tok);
      if (every || packet) throw new ModuleError('statistic: --every and --packet need --mode nth', (every ?? packet)!.tok);
      const v = prob.values[0];
      const f = /^[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?$|^[0-9]+\.$/.test(v) ? Number(v) : NaN;
      if (!(f >= 0 && f <= 1)) throw new ModuleError('statistic: bad value for option "--probability", or out of range (0-1).', vtok(prob));
      return new StatisticMatch('random', Math.round(f * 0x80000000), 0, 0, prob.invert);
    }
    if (prob) throw new ModuleError('statistic: --probability needs --mode random', prob.tok);
    if (!every) throw new ModuleError('statistic: --mode nth requires --every', mode.tok);
    if (!packet) throw new ModuleError('statistic: option "--every" also requires "--packet".', every.tok);
    const e = at(vtok(every), () => parseUint(every.values[0]));
    if (e === 0) throw new ModuleError('statistic: bad value for option "--every", or out of range (1-4294967295).', vtok(every));
    const pk = at(vtok(packet), () => parseUint(packet.values[0]));
    if (pk > e - 1) throw new ModuleError("statistic: --packet can't be bigger than --every", vtok(packet));
    return new StatisticMatch('nth', 0, e - 1, pk, every.invert);
  },
};

/**
 * Factory (no parsing): `-m statistic --mode random --probability P`. P may
 * be given as the text written in the rule (e.g. kube-proxy's `%0.10f`), which
 * is converted exactly as the parser does (lround(P * 2^31)).
 */
export function statisticRandom(probability: number | string, invert = false): StatisticMatch {
  const f = typeof probability === 'string' ? Number(probability) : probability;
  return new StatisticMatch('random', Math.round(f * 0x80000000), 0, 0, invert);
}
