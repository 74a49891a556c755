/**
 * `-m set [!] --match-set NAME src|dst[,src|dst…]` (xt_set revision 4):
 * ip_set_test on the namespace's set with one direction flag per dimension,
 * xor `!`. Options as iptables 1.8.9 accepts and saves them:
 * `--return-nomatch`, `! --update-counters`, `! --update-subcounters`,
 * `[!] --packets-eq N | --packets-lt N | --packets-gt N`, the same for bytes;
 * `--set` is the deprecated spelling of `--match-set`. Saved as
 * `-m set [!] --match-set NAME FLAGS [--return-nomatch] [! --update-counters]
 * [! --update-subcounters] [packets op] [bytes op]`.
 *
 * A set that does not exist is an error when the rule is loaded ("Set NAME
 * doesn't exist.") if the parse context carries the namespace's ipsets
 * (`ctx.ipsets`); the traversal should then `ref()` the set for the rule's
 * lifetime (`SetMatch.setName`), so it cannot be destroyed under the rule.
 */
import type { Match, PacketCtx } from '../types.js';
import type { IpsetRegistry, IpsetTestOpts } from '../ipset-types.js';
import type { MatchModule, ParseCtx, ParsedOpt } from '../registry.js';
import { ModuleError } from '../tokens.js';

type Op = 'eq' | 'ne' | 'lt' | 'gt';
type Dir = 'src' | 'dst';

export interface SetMatchOpts {
  invert: boolean;
  returnNomatch: boolean;
  updateCounters: boolean;
  updateSubcounters: boolean;
  packets?: { op: Op; value: number };
  bytes?: { op: Op; value: number };
}

export class SetMatch implements Match {
  readonly name = 'set';
  private readonly topts: IpsetTestOpts;
  constructor(readonly setName: string, readonly flags: readonly Dir[], readonly opts: SetMatchOpts) {
    this.topts = {
      returnNomatch: opts.returnNomatch,
      updateCounters: opts.updateCounters,
      updateSubcounters: opts.updateSubcounters,
      ...(opts.packets ? { packets: opts.packets } : {}),
      ...(opts.bytes ? { bytes: opts.bytes } : {}),
    };
  }
  matches(p: PacketCtx): boolean {
    return p.ipsets.test(this.setName, this.flags, p, this.topts) !== this.opts.invert;
  }
  save(): string {
    const o = this.opts;
    let s = `-m set ${o.invert ? '! ' : ''}--match-set ${this.setName} ${this.flags.join(',')}`;
    if (o.returnNomatch) s += ' --return-nomatch';
    if (!o.updateCounters) s += ' ! --update-counters';
    if (!o.updateSubcounters) s += ' ! --update-subcounters';
    const c = (what: string, x?: { op: Op; value: number }): string =>
      !x ? '' : x.op === 'ne' ? ` ! --${what}-eq ${x.value}` : ` --${what}-${x.op} ${x.value}`;
    s += c('packets', o.packets) + c('bytes', o.bytes);
    return s;
  }
}

/** The parse context with the namespace's sets, when the caller has them. */
export type SetParseCtx = ParseCtx & { ipsets?: IpsetRegistry };

const IPSET_DIM_MAX = 6;

export const setModule: MatchModule = {
  name: 'set',
  options: [
    { name: 'match-set', args: 2, invert: true },
    { name: 'set', args: 2, invert: true },
    { name: 'return-nomatch', args: 0, invert: true },
    { name: 'update-counters', args: 0, invert: true },
    { name: 'update-subcounters', args: 0, invert: true },
    { name: 'packets-eq', args: 1, invert: true },
    { name: 'packets-lt', args: 1, invert: true },
    { name: 'packets-gt', args: 1, invert: true },
    { name: 'bytes-eq', args: 1, invert: true },
    { name: 'bytes-lt', args: 1, invert: true },
    { name: 'bytes-gt', args: 1, invert: true },
  ],
  parse(args, ctx: SetParseCtx) {
    let set: ParsedOpt | undefined;
    const o: SetMatchOpts = { invert: false, returnNomatch: false, updateCounters: true, updateSubcounters: true };
    for (const a of args) {
      switch (a.name) {
        case 'match-set':
        case 'set':
          if (set) throw new ModuleError('--match-set can be specified only once', a.tok);
          set = a;
          o.invert = a.invert;
          break;
        case 'return-nomatch':
          if (a.invert) throw new ModuleError('--return-nomatch flag cannot be inverted', a.tok);
          o.returnNomatch = true;
          break;
        case 'update-counters':
          o.updateCounters = !a.invert;
          break;
        case 'update-subcounters':
          o.updateSubcounters = !a.invert;
          break;
        default: {
          const [what, opName] = a.name.split('-') as ['packets' | 'bytes', 'eq' | 'lt' | 'gt'];
          if (o[what]) throw new ModuleError(`only one of the --${what}-[eq|lt|gt] is allowed`, a.tok);
          if (a.invert && opName !== 'eq') throw new ModuleError(`--${a.name} flag cannot be inverted`, a.tok);
          const v = a.values[0];
          if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
            throw new ModuleError(`Cannot parse ${v} as a counter value`, a.valueToks[0] ?? a.tok);
          }
          o[what] = { op: a.invert ? 'ne' : opName, value: Number(v) };
        }
      }
    }
    if (!set) throw new ModuleError("You must specify `--match-set' with proper arguments", undefined, '--match-set NAME src|dst[,…]');
    const [name, flagText] = set.values;
    const nameTok = set.valueToks[0] ?? set.tok;
    const flagTok = set.valueToks[1] ?? set.tok;
    if (name.length > 31) throw new ModuleError(`Setname '${name}' is too long, max 31 characters`, nameTok);
    const flags = flagText.split(',');
    if (flags.length > IPSET_DIM_MAX) throw new ModuleError(`Can't be more src/dst options than ${IPSET_DIM_MAX}.`, flagTok);
    for (const f of flags) {
      // (sic: iptables 1.8.9 spells it "spefify")
      if (f !== 'src' && f !== 'dst') throw new ModuleError("You must spefify (the comma separated list of) 'src' or 'dst'.", flagTok);
    }
    if (ctx.ipsets && !ctx.ipsets.has(name)) throw new ModuleError(`Set ${name} doesn't exist.`, nameTok);
    return new SetMatch(name, flags as Dir[], o);
  },
};
