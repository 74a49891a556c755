/** `-m state [!] --state LIST` (xt_state): the conntrack state bits (INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED), no SNAT/DNAT. */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, at, onlyOnce, vtok } from '../tokens.js';
import { ST_INVALID, ST_UNTRACKED, ctinfoBits, parseStates, statesText } from './conntrack.js';

export class StateMatch implements Match {
  readonly name = 'state';
  constructor(readonly bits: number, readonly invert: boolean) {}
  matches(p: PacketCtx): boolean {
    const bits = p.ctinfo === 'untracked' ? ST_UNTRACKED : p.ct ? ctinfoBits(p.ctinfo) : ST_INVALID;
    return ((bits & this.bits) !== 0) !== this.invert;
  }
  save(): string { return `-m state ${this.invert ? '! ' : ''}--state ${statesText(this.bits)}`; }
}

export const stateModule: MatchModule = {
  name: 'state',
  options: [{ name: 'state', args: 1, invert: true }],
  parse(args) {
    onlyOnce('state', args);
    if (args.length === 0) throw new ModuleError('state: option "--state" must be specified', undefined, '--state LIST');
    const a = args[0];
    return new StateMatch(at(vtok(a), () => parseStates(a.values[0], false, (x) => `Bad state "${x}"`)), a.invert);
  },
};
