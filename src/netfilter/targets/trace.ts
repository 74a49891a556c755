/**
 * `-j TRACE`: asks for the packet to be traced (p.ops.log(p, 'TRACE')); goes
 * on. With iptables-nft (this machine's 1.8.9) TRACE becomes `meta nftrace
 * set 1` and is accepted in every table (verified in filter INPUT), unlike
 * the legacy xt_TRACE which is raw-only; podwire follows the nft behaviour.
 */
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';

const CONTINUE: TargetVerdict = { kind: 'continue' };

export class TraceTarget implements Target {
  readonly name = 'TRACE';
  run(p: PacketCtx): TargetVerdict {
    p.ops.log(p, 'TRACE');
    return CONTINUE;
  }
  save(): string { return '-j TRACE'; }
}

const t = new TraceTarget();
export const traceModule: TargetModule = { name: 'TRACE', options: [], parse: () => t };
