/**
 * `-j NFLOG [--nflog-group N] [--nflog-prefix P] [--nflog-size N | --nflog-range N]
 * [--nflog-threshold N]` (xt_NFLOG): hands a copy of the packet to the
 * nfnetlink_log group for a userspace logger (ulogd, kube-router's NFLOG
 * listener) and goes on with the next rule. podwire has no userspace logger:
 * the rule counts, and a trace shows it as a `nf.log` line
 * (`NFLOG group N[ prefix P]`). Saved as libxt_NFLOG prints it:
 * `--nflog-prefix` (quoted as xtables_save_string), `--nflog-group` when not 0,
 * `--nflog-size` (or the deprecated `--nflog-range`) when given,
 * `--nflog-threshold` when not 1. Valid in every table and hook.
 */
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';
import { ModuleError, at, onlyOnce, parseUint, saveString, vtok } from '../tokens.js';

const CONTINUE: TargetVerdict = { kind: 'continue' };

export interface NflogOpts {
  group: number;
  prefix: string;
  /** --nflog-size (copy length, XT_NFLOG_F_COPY_LEN) or --nflog-range (the older, ignored length). */
  size?: { n: number; range: boolean };
  threshold: number;
}

export class NflogTarget implements Target {
  readonly name = 'NFLOG';
  constructor(readonly o: NflogOpts) {}
  run(p: PacketCtx): TargetVerdict {
    p.ops.log(p, `NFLOG group ${this.o.group}${this.o.prefix ? ` prefix ${JSON.stringify(this.o.prefix)}` : ''}`);
    return CONTINUE;
  }
  save(): string {
    const o = this.o;
    let s = '-j NFLOG';
    if (o.prefix) s += ` --nflog-prefix ${saveString(o.prefix)}`;
    if (o.group) s += ` --nflog-group ${o.group}`;
    if (o.size) s += ` --nflog-${o.size.range ? 'range' : 'size'} ${o.size.n}`;
    if (o.threshold !== 1) s += ` --nflog-threshold ${o.threshold}`;
    return s;
  }
}

export const nflogModule: TargetModule = {
  name: 'NFLOG',
  options: ['nflog-group', 'nflog-prefix', 'nflog-range', 'nflog-size', 'nflog-threshold'].map((name) => ({ name, args: 1 as const })),
  parse(args) {
    onlyOnce('NFLOG', args);
    const o: NflogOpts = { group: 0, prefix: '', threshold: 1 };
    for (const a of args) {
      const v = a.values[0];
      switch (a.name) {
        case 'nflog-group': o.group = at(vtok(a), () => parseUint(v, 0xffff), '', `NFLOG: bad value for option "--nflog-group", or out of range (0-65535).`); break;
        case 'nflog-prefix':
          if (v.length > 63) throw new ModuleError('NFLOG: Maximum prefix length 63 for --nflog-prefix', vtok(a));
          o.prefix = v;
          break;
        case 'nflog-range':
        case 'nflog-size':
          if (o.size) throw new ModuleError('NFLOG: --nflog-size and --nflog-range are mutually exclusive', a.tok);
          o.size = { n: at(vtok(a), () => parseUint(v)), range: a.name === 'nflog-range' };
          break;
        case 'nflog-threshold': o.threshold = at(vtok(a), () => parseUint(v, 0xffff), '', `NFLOG: bad value for option "--nflog-threshold", or out of range (0-65535).`); break;
      }
    }
    return new NflogTarget(o);
  },
};

/** Factory (no parsing): `-j NFLOG --nflog-group N`. */
export function nflogTarget(group: number, prefix = ''): NflogTarget { return new NflogTarget({ group, prefix, threshold: 1 }); }
