/** `-j NOTRACK` (raw table only — kernel check, verified: refused in filter): p.ops.notrack(p), then go on (XT_CONTINUE). */
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';

const CONTINUE: TargetVerdict = { kind: 'continue' };

export class NotrackTarget implements Target {
  readonly tables = ['raw'] as const;
  constructor(readonly name: 'NOTRACK' | 'CT') {}
  run(p: PacketCtx): TargetVerdict {
    p.ops.notrack(p);
    return CONTINUE;
  }
  save(): string { return this.name === 'CT' ? '-j CT --notrack' : '-j NOTRACK'; }
}

export const notrackModule: TargetModule = { name: 'NOTRACK', options: [], parse: () => new NotrackTarget('NOTRACK') };
