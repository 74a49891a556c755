/**
 * `-j MARK` (xt_MARK v2): skb->mark = (skb->mark & ~mask) ^ value. The
 * options map onto (value, mask) as libxt_MARK does and iptables-save prints
 * them all as --set-xmark (verified): --set-xmark v[/m] (m default
 * 0xffffffff), --set-mark v[/m] → v/(m|v), --and-mark v → 0/~v,
 * --or-mark v → v/v, --xor-mark v → v/0. Valid in every table.
 */
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { ParsedOpt, TargetModule } from '../registry.js';
import { ModuleError, at, hex, parseMarkMask, parseUint, vtok } from '../tokens.js';

const CONTINUE: TargetVerdict = { kind: 'continue' };

export class MarkTarget implements Target {
  readonly name = 'MARK';
  constructor(readonly value: number, readonly mask: number) {}
  run(p: PacketCtx): TargetVerdict {
    p.skb.mark = ((p.skb.mark & ~this.mask) ^ this.value) >>> 0;
    return CONTINUE;
  }
  save(): string { return `-j MARK --set-xmark ${hex(this.value)}/${hex(this.mask)}`; }
}

/** The (value, mask) an xmark-style option gives, shared with CONNMARK. */
export function xmarkOf(module: string, a: ParsedOpt): { value: number; mask: number } {
  const bad = `${module}: bad integer value for option "--${a.name}", or out of range.`;
  switch (a.name) {
    case 'set-xmark': {
      const { value, mask } = at(vtok(a), () => parseMarkMask(a.values[0]), '', bad);
      return { value, mask };
    }
    case 'set-mark': {
      const { value, mask, hasMask } = at(vtok(a), () => parseMarkMask(a.values[0]), '', bad);
      return { value, mask: hasMask ? (mask | value) >>> 0 : 0xffffffff };
    }
    case 'and-mark': { const v = at(vtok(a), () => parseUint(a.values[0]), '', bad); return { value: 0, mask: ~v >>> 0 }; }
    case 'or-mark': { const v = at(vtok(a), () => parseUint(a.values[0]), '', bad); return { value: v, mask: v }; }
    case 'xor-mark': { const v = at(vtok(a), () => parseUint(a.values[0]), '', bad); return { value: v, mask: 0 }; }
  }
  throw new ModuleError(`${module}: unknown option --${a.name}`, a.tok);
}

export const markTargetModule: TargetModule = {
  name: 'MARK',
  options: ['set-xmark', 'set-mark', 'and-mark', 'or-mark', 'xor-mark'].map((name) => ({ name, args: 1 as const })),
  parse(args) {
    if (args.length === 0) throw new ModuleError('MARK target: Parameter --set/and/or/xor-mark is required', undefined, '--set-xmark, --set-mark, --and-mark, --or-mark or --xor-mark');
    if (args.length > 1) throw new ModuleError('MARK target: Can specify only one action', args[1].tok);
    const { value, mask } = xmarkOf('MARK', args[0]);
    return new MarkTarget(value >>> 0, mask >>> 0);
  },
};

/** Factories (no parsing): `-j MARK --set-xmark V/M`, `--or-mark V` (= V/V), `--xor-mark V` (= V/0), as libxt_MARK maps them. */
export function markTarget(value: number, mask: number): MarkTarget { return new MarkTarget(value >>> 0, mask >>> 0); }
export function orMarkTarget(value: number): MarkTarget { return new MarkTarget(value >>> 0, value >>> 0); }
export function xorMarkTarget(value: number): MarkTarget { return new MarkTarget(value >>> 0, 0); }
