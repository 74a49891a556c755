/**
 * `-j CONNMARK` (xt_CONNMARK v2, shifts 0) on the conntrack entry's mark:
 * --set-xmark v/m: ct.mark = (ct.mark & ~m) ^ v (--set-mark, --and-mark,
 * --or-mark, --xor-mark map as for MARK; verified: all saved as --set-xmark);
 * --save-mark [--nfmask m] [--ctmask m] [--mask m]:
 *   ct.mark = (ct.mark & ~ctmask) ^ (skb.mark & nfmask);
 * --restore-mark [same masks]: skb.mark = (skb.mark & ~nfmask) ^ (ct.mark & ctmask).
 * Masks default to 0xffffffff and are always printed for save/restore
 * (verified). No conntrack entry: nothing happens. Never terminates.
 */
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';
import { ModuleError, at, hex, parseUint, vtok } from '../tokens.js';
import { xmarkOf } from './mark.js';

const CONTINUE: TargetVerdict = { kind: 'continue' };

export class ConnmarkTarget implements Target {
  readonly name = 'CONNMARK';
  constructor(readonly mode: 'set' | 'save' | 'restore', readonly a: number, readonly b: number) {}
  run(p: PacketCtx): TargetVerdict {
    const ct = p.ct;
    if (!ct || p.ctinfo === 'untracked') return CONTINUE;
    if (this.mode === 'set') ct.mark = ((ct.mark & ~this.b) ^ this.a) >>> 0;
    else if (this.mode === 'save') ct.mark = ((ct.mark & ~this.b) ^ (p.skb.mark & this.a)) >>> 0;
    else p.skb.mark = ((p.skb.mark & ~this.a) ^ (ct.mark & this.b)) >>> 0;
    return CONTINUE;
  }
  save(): string {
    if (this.mode === 'set') return `-j CONNMARK --set-xmark ${hex(this.a)}/${hex(this.b)}`;
    return `-j CONNMARK --${this.mode}-mark --nfmask ${hex(this.a)} --ctmask ${hex(this.b)}`;
  }
}

export const connmarkTargetModule: TargetModule = {
  name: 'CONNMARK',
  options: ['set-xmark', 'set-mark', 'and-mark', 'or-mark', 'xor-mark', 'save-mark', 'restore-mark', 'nfmask', 'ctmask', 'mask']
    .map((name) => ({ name, args: name.endsWith('-mark') && (name === 'save-mark' || name === 'restore-mark') ? 0 as const : 1 as const })),
  parse(args) {
    const actions = args.filter((a) => a.name.endsWith('-mark') || a.name === 'set-xmark');
    if (actions.length === 0) throw new ModuleError('CONNMARK target: No operation specified', undefined, '--set-xmark, --save-mark or --restore-mark');
    if (actions.length > 1) throw new ModuleError('CONNMARK target: Can specify only one action', actions[1].tok);
    const act = actions[0];
    let nf = 0xffffffff, ctm = 0xffffffff;
    for (const a of args) {
      if (a === act) continue;
      const v = at(vtok(a), () => parseUint(a.values[0]), '', `CONNMARK: bad integer value for option "--${a.name}", or out of range.`);
      if (act.name !== 'save-mark' && act.name !== 'restore-mark') throw new ModuleError(`CONNMARK: --${a.name} is only valid with --save-mark or --restore-mark`, a.tok);
      if (a.name === 'nfmask') nf = v; else if (a.name === 'ctmask') ctm = v; else { nf = v; ctm = v; }
    }
    if (act.name === 'save-mark') return new ConnmarkTarget('save', nf >>> 0, ctm >>> 0);
    if (act.name === 'restore-mark') return new ConnmarkTarget('restore', nf >>> 0, ctm >>> 0);
    const { value, mask } = xmarkOf('CONNMARK', act);
    return new ConnmarkTarget('set', value >>> 0, mask >>> 0);
  },
};
