/**
 * `-m physdev` (xt_physdev physdev_mt) for bridged packets (br_netfilter):
 * --physdev-in/--physdev-out NAME (`+` wildcard), --physdev-is-in,
 * --physdev-is-out, --physdev-is-bridged, each with `!`.
 *
 * A packet without bridge info (p.physIn, p.physOut null and not bridged)
 * matches only when every option used is inverted. With bridge info:
 * --physdev-is-bridged tests that there is a bridge output port;
 * --physdev-in with no input port, or --physdev-out with no output port, do
 * not fail the match (as the kernel skips them).
 * Saved in the order is-in, in, is-out, out, is-bridged (verified).
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, onlyOnce, vtok } from '../tokens.js';

function ifMatch(pattern: string, name: string): boolean {
  return pattern.endsWith('+') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

interface Opt { invert: boolean }

export class PhysdevMatch implements Match {
  readonly name = 'physdev';
  isIn: Opt | null = null;
  in: (Opt & { dev: string }) | null = null;
  isOut: Opt | null = null;
  out: (Opt & { dev: string }) | null = null;
  isBridged: Opt | null = null;

  matches(p: PacketCtx): boolean {
    if (p.physIn === null && p.physOut === null && !p.bridged) {
      for (const o of [this.isBridged, this.isIn, this.isOut, this.in, this.out]) if (o && !o.invert) return false;
      return true;
    }
    const outdev = p.physOut ? p.physOut.name : null;
    const indev = p.physIn ? p.physIn.name : null;
    if (this.isBridged && ((outdev !== null) === this.isBridged.invert)) return false;
    if (this.isIn && ((indev !== null) === this.isIn.invert)) return false;
    if (this.isOut && ((outdev !== null) === this.isOut.invert)) return false;
    if (this.in && indev !== null && (ifMatch(this.in.dev, indev) === this.in.invert)) return false;
    if (this.out && outdev !== null && (ifMatch(this.out.dev, outdev) === this.out.invert)) return false;
    return true;
  }

  save(): string {
    let s = '-m physdev';
    const inv = (o: Opt) => (o.invert ? '! ' : '');
    if (this.isIn) s += ` ${inv(this.isIn)}--physdev-is-in`;
    if (this.in) s += ` ${inv(this.in)}--physdev-in ${this.in.dev}`;
    if (this.isOut) s += ` ${inv(this.isOut)}--physdev-is-out`;
    if (this.out) s += ` ${inv(this.out)}--physdev-out ${this.out.dev}`;
    if (this.isBridged) s += ` ${inv(this.isBridged)}--physdev-is-bridged`;
    return s;
  }
}

export const physdevModule: MatchModule = {
  name: 'physdev',
  options: [
    { name: 'physdev-in', args: 1, invert: true }, { name: 'physdev-out', args: 1, invert: true },
    { name: 'physdev-is-in', args: 0, invert: true }, { name: 'physdev-is-out', args: 0, invert: true },
    { name: 'physdev-is-bridged', args: 0, invert: true },
  ],
  parse(args) {
    onlyOnce('physdev', args);
    if (args.length === 0) throw new ModuleError('PHYSDEV: no physdev option specified', undefined, '--physdev-in, --physdev-out or --physdev-is-*');
    const m = new PhysdevMatch();
    for (const a of args) {
      const o = { invert: a.invert };
      switch (a.name) {
        case 'physdev-in': case 'physdev-out': {
          const dev = a.values[0];
          if (dev.length === 0 || dev.length > 15) throw new ModuleError(`interface name \`${dev}' must be shorter than 16 characters`, vtok(a));
          if (a.name === 'physdev-in') m.in = { ...o, dev }; else m.out = { ...o, dev };
          break;
        }
        case 'physdev-is-in': m.isIn = o; break;
        case 'physdev-is-out': m.isOut = o; break;
        case 'physdev-is-bridged': m.isBridged = o; break;
      }
    }
    return m;
  },
};
