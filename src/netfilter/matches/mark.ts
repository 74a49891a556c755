/** `-m mark [!] --mark value[/mask]` (xt_mark): (skb->mark & mask) == value, xor invert. Saved `--mark 0x4000/0x4000`, the mask omitted when 0xffffffff. */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, at, hex, onlyOnce, parseMarkMask, vtok } from '../tokens.js';

export function markText(value: number, mask: number): string {
  return mask === 0xffffffff ? hex(value) : `${hex(value)}/${hex(mask)}`;
}

export class MarkMatch implements Match {
  constructor(readonly name: 'mark' | 'connmark', readonly value: number, readonly mask: number, readonly invert: boolean) {}
  matches(p: PacketCtx): boolean {
    let m: number;
    if (this.name === 'mark') m = p.skb.mark;
    else {
      if (!p.ct) return false;
      m = p.ct.mark;
    }
    return ((((m & this.mask) >>> 0) === this.value) !== this.invert);
  }
  save(): string {
    return `-m ${this.name} ${this.invert ? '! ' : ''}--mark ${markText(this.value, this.mask)}`;
  }
}

export function markModule(name: 'mark' | 'connmark'): MatchModule {
  return {
    name,
    options: [{ name: 'mark', args: 1, invert: true }],
    parse(args) {
      onlyOnce(name, args);
      if (args.length === 0) throw new ModuleError(`${name}: option "--mark" must be specified`, undefined, '--mark value[/mask]');
      const a = args[0];
      const { value, mask } = at(vtok(a), () => parseMarkMask(a.values[0]), '', `${name}: bad integer value for option "--mark", or out of range.`);
      return new MarkMatch(name, value >>> 0, mask >>> 0, a.invert);
    },
  };
}

export const markMatchModule = markModule('mark');

/** Factory (no parsing): `-m mark [!] --mark VALUE[/MASK]` (mask default 0xffffffff). */
export function markMatch(value: number, mask = 0xffffffff, invert = false): MarkMatch {
  return new MarkMatch('mark', value >>> 0, mask >>> 0, invert);
}
