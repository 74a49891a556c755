/**
 * `-j REDIRECT [--to-ports p[-q]] [--random]` (nat table, PREROUTING/OUTPUT
 * hooks — kernel checks, verified): DNAT to the primary address of the
 * incoming device (nf_nat_redirect_ipv4: the first address of in_dev; none →
 * drop), or 127.0.0.1 for locally generated packets (OUTPUT).
 */
import type { NatRange } from '../ct-types.js';
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';
import { ModuleError } from '../tokens.js';
import { parseNatRange } from './dnat.js';

const DROP: TargetVerdict = { kind: 'drop' };
const LOOPBACK = 0x7f000001;

export class RedirectTarget implements Target {
  readonly name = 'REDIRECT';
  readonly tables = ['nat'] as const;
  readonly hooks = [0, 3] as const;
  constructor(readonly range: NatRange) {}
  run(p: PacketCtx): TargetVerdict {
    let addr: number;
    if (p.hook === 3) addr = LOOPBACK;
    else {
      addr = p.inDev ? p.ns.devAddr(p.inDev) : 0;
      if (addr === 0) return DROP;
    }
    return p.ops.natSetup(p, 'dst', { ...this.range, minIp: addr, maxIp: addr });
  }
  save(): string {
    const r = this.range;
    return '-j REDIRECT' + (r.minPort ? ` --to-ports ${r.minPort}${r.maxPort !== r.minPort ? '-' + r.maxPort : ''}` : '') + (r.random ? ' --random' : '');
  }
}

export const redirectModule: TargetModule = {
  name: 'REDIRECT',
  options: [{ name: 'to-ports', args: 1 }, { name: 'random', args: 0 }],
  parse(args, ctx) {
    let r: NatRange = { minIp: 0, maxIp: 0, minPort: 0, maxPort: 0, random: false, randomFully: false, persistent: false };
    for (const a of args) {
      if (a.name === 'to-ports') {
        if (r.minPort) throw new ModuleError('REDIRECT: option "--to-ports" can only be used once.', a.tok);
        r = { ...parseNatRange(a, ctx, true), random: r.random };
      } else r.random = true;
    }
    return new RedirectTarget(r);
  },
};
