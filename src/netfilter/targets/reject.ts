/**
 * `-j REJECT [--reject-with TYPE]` (ipt_REJECT): asks the data path to send
 * the ICMP error or TCP RST (p.ops.reject), then drops the packet. Default
 * icmp-port-unreachable; iptables-save always prints --reject-with (verified).
 * Valid only in the INPUT, FORWARD and OUTPUT hooks, in any table (kernel
 * check; verified: accepted in mangle INPUT, refused in mangle/nat PREROUTING
 * and POSTROUTING). tcp-reset needs `-p tcp` (kernel check, verified).
 * Aliases as libipt_REJECT: net-unreach, host-unreach, port-unreach,
 * proto-unreach, net-prohib, host-prohib, admin-prohib, tcp-rst.
 */
import type { PacketCtx, RejectWith, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';
import { ModuleError, onlyOnce, ruleProto, vtok } from '../tokens.js';

const NAMES: Record<string, RejectWith> = {
  'icmp-net-unreachable': 'icmp-net-unreachable', 'net-unreach': 'icmp-net-unreachable',
  'icmp-host-unreachable': 'icmp-host-unreachable', 'host-unreach': 'icmp-host-unreachable',
  'icmp-port-unreachable': 'icmp-port-unreachable', 'port-unreach': 'icmp-port-unreachable',
  'icmp-proto-unreachable': 'icmp-proto-unreachable', 'proto-unreach': 'icmp-proto-unreachable',
  'icmp-net-prohibited': 'icmp-net-prohibited', 'net-prohib': 'icmp-net-prohibited',
  'icmp-host-prohibited': 'icmp-host-prohibited', 'host-prohib': 'icmp-host-prohibited',
  'icmp-admin-prohibited': 'icmp-admin-prohibited', 'admin-prohib': 'icmp-admin-prohibited',
  'tcp-reset': 'tcp-reset', 'tcp-rst': 'tcp-reset',
};

const DROP: TargetVerdict = { kind: 'drop' };

export class RejectTarget implements Target {
  readonly name = 'REJECT';
  readonly hooks = [1, 2, 3] as const;
  constructor(readonly with_: RejectWith) {}
  run(p: PacketCtx): TargetVerdict {
    p.ops.reject(p, this.with_);
    return DROP;
  }
  save(): string { return `-j REJECT --reject-with ${this.with_}`; }
}

export const rejectModule: TargetModule = {
  name: 'REJECT',
  options: [{ name: 'reject-with', args: 1 }],
  parse(args, ctx) {
    onlyOnce('REJECT', args);
    let w: RejectWith = 'icmp-port-unreachable';
    if (args.length) {
      const v = args[0].values[0];
      const r = NAMES[v];
      if (!r) throw new ModuleError(`unknown reject type "${v}"`, vtok(args[0]), Object.keys(NAMES).filter((k) => k.startsWith('icmp-') || k === 'tcp-reset').join(', '));
      if (r === 'tcp-reset' && ruleProto(ctx) !== 6) throw new ModuleError('REJECT --reject-with tcp-reset is only valid with -p tcp (the kernel refuses the rule)', vtok(args[0]), '-p tcp');
      w = r;
    }
    return new RejectTarget(w);
  },
};

/** Factory (no parsing): `-j REJECT [--reject-with TYPE]` (default icmp-port-unreachable, as the parser's). */
export function rejectTarget(with_: RejectWith = 'icmp-port-unreachable'): RejectTarget { return new RejectTarget(with_); }
