/**
 * `-m multiport --sports/--dports/--ports` (xt_multiport v1): up to 15 ports,
 * a range `a:b` counting as two; `!` inverts the whole list. Needs `-p tcp`,
 * udp, udplite, sctp or dccp. `--ports` matches when either port is listed.
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, at, parsePortRange, portRangeText, ruleProto, vtok, ValueError } from '../tokens.js';

type Flag = 'sports' | 'dports' | 'ports';

export class MultiportMatch implements Match {
  readonly name = 'multiport';
  constructor(readonly flag: Flag, readonly ranges: [number, number][], readonly invert: boolean) {}
  private has(port: number): boolean {
    for (const [lo, hi] of this.ranges) if (port >= lo && port <= hi) return true;
    return false;
  }
  matches(p: PacketCtx): boolean {
    if (p.fragOff !== 0 || p.l4 < 0) return false;
    const hit = this.flag === 'sports' ? this.has(p.sport) : this.flag === 'dports' ? this.has(p.dport) : this.has(p.sport) || this.has(p.dport);
    return hit !== this.invert;
  }
  save(): string {
    return `-m multiport ${this.invert ? '! ' : ''}--${this.flag} ${this.ranges.map(([a, b]) => portRangeText(a, b)).join(',')}`;
  }
}

const PROTOS = new Set([6, 17, 33, 132, 136]);

export const multiportModule: MatchModule = {
  name: 'multiport',
  options: [
    { name: 'sports', args: 1, invert: true }, { name: 'source-ports', args: 1, invert: true },
    { name: 'dports', args: 1, invert: true }, { name: 'destination-ports', args: 1, invert: true },
    { name: 'ports', args: 1, invert: true },
  ],
  parse(args, ctx) {
    if (args.length === 0) throw new ModuleError('multiport expects an option', undefined, '--sports, --dports or --ports');
    if (args.length > 1) throw new ModuleError('multiport can only have one option', args[1].tok);
    const p = ruleProto(ctx);
    if (p === undefined || !PROTOS.has(p)) throw new ModuleError("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'", args[0].tok);
    const a = args[0];
    const flag: Flag = a.name.startsWith('s') ? 'sports' : a.name.startsWith('d') ? 'dports' : 'ports';
    const ranges = at(vtok(a), () => {
      const parts = a.values[0].split(',');
      const out: [number, number][] = [];
      let count = 0;
      for (const part of parts) {
        const r = parsePortRange(part);
        count += part.includes(':') ? 2 : 1;
        if (count > 15) throw new ValueError('too many ports specified');
        out.push(r);
      }
      return out;
    });
    return new MultiportMatch(flag, ranges, a.invert);
  },
};
