/**
 * `-j CT --notrack` (raw table only). The other CT options (--zone, --helper,
 * --timeout, --ctevents, --expevents) are not supported and are refused.
 */
import type { TargetModule } from '../registry.js';
import { ModuleError } from '../tokens.js';
import { NotrackTarget } from './notrack.js';

const UNSUPPORTED = ['helper', 'ctevents', 'expevents', 'zone', 'zone-orig', 'zone-reply', 'timeout'];

export const ctModule: TargetModule = {
  name: 'CT',
  options: [{ name: 'notrack', args: 0 }, ...UNSUPPORTED.map((name) => ({ name, args: 1 as const }))],
  parse(args) {
    for (const a of args) {
      if (a.name !== 'notrack') throw new ModuleError(`CT: option "--${a.name}" is not supported by podwire`, a.tok, '--notrack');
    }
    if (args.length === 0) throw new ModuleError('CT: only `-j CT --notrack` is supported by podwire', undefined, '--notrack');
    return new NotrackTarget('CT');
  },
};
