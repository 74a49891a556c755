/**
 * `-j MASQUERADE [--to-ports p[-q]] [--random] [--random-fully]` (nat table,
 * POSTROUTING only — kernel check, verified: refused in nat INPUT). The
 * address is p.ops.masqueradeAddress(p) (the egress device's address for the
 * route); none → drop (nf_nat_masquerade_ipv4 returns NF_DROP).
 */
import type { NatRange } from '../ct-types.js';
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';
import { ModuleError } from '../tokens.js';
import { flagsText, parseNatRange } from './dnat.js';

const DROP: TargetVerdict = { kind: 'drop' };

export class MasqueradeTarget implements Target {
  readonly name = 'MASQUERADE';
  readonly tables = ['nat'] as const;
  readonly hooks = [4] as const;
  constructor(readonly range: NatRange) {}
  run(p: PacketCtx): TargetVerdict {
    const addr = p.ops.masqueradeAddress(p);
    if (addr === 0) return DROP;
    return p.ops.natSetup(p, 'src', { ...this.range, minIp: addr, maxIp: addr });
  }
  save(): string {
    const r = this.range;
    return '-j MASQUERADE' + (r.minPort ? ` --to-ports ${r.minPort}${r.maxPort !== r.minPort ? '-' + r.maxPort : ''}` : '') + flagsText(r);
  }
}

export const masqueradeModule: TargetModule = {
  name: 'MASQUERADE',
  options: [{ name: 'to-ports', args: 1 }, { name: 'random', args: 0 }, { name: 'random-fully', args: 0 }],
  parse(args, ctx) {
    let r: NatRange = { minIp: 0, maxIp: 0, minPort: 0, maxPort: 0, random: false, randomFully: false, persistent: false };
    for (const a of args) {
      if (a.name === 'to-ports') {
        if (r.minPort) throw new ModuleError('MASQUERADE: option "--to-ports" can only be used once.', a.tok);
        r = { ...parseNatRange(a, ctx, true), random: r.random, randomFully: r.randomFully };
      } else if (a.name === 'random') r.random = true;
      else r.randomFully = true;
    }
    return new MasqueradeTarget(r);
  },
};

/** Factory (no parsing): `-j MASQUERADE [--random] [--random-fully]` (no --to-ports). */
export function masqueradeTarget(o: { random?: boolean; randomFully?: boolean } = {}): MasqueradeTarget {
  return new MasqueradeTarget({ minIp: 0, maxIp: 0, minPort: 0, maxPort: 0, random: o.random ?? false, randomFully: o.randomFully ?? false, persistent: false });
}
