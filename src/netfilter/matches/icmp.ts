/**
 * `-m icmp --icmp-type` (xt_icmp / icmp_type_code_match): a type name or
 * number, `type/code`; `any` matches every type. Later fragments never match.
 * iptables-nft 1.8.9 saves numbers: `echo-request` → `8`, `host-unreachable` →
 * `3/1`, a bare type → the number, `any` → `any` (verified).
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, at, onlyOnce, ruleProto, vtok, ValueError } from '../tokens.js';

const NAMES: Record<string, [number, number, number]> = {
  any: [0xff, 0, 0xff],
  'echo-reply': [0, 0, 0xff], pong: [0, 0, 0xff],
  'destination-unreachable': [3, 0, 0xff],
  'network-unreachable': [3, 0, 0], 'host-unreachable': [3, 1, 1], 'protocol-unreachable': [3, 2, 2],
  'port-unreachable': [3, 3, 3], 'fragmentation-needed': [3, 4, 4], 'source-route-failed': [3, 5, 5],
  'network-unknown': [3, 6, 6], 'host-unknown': [3, 7, 7], 'network-prohibited': [3, 9, 9], 'host-prohibited': [3, 10, 10],
  'TOS-network-unreachable': [3, 11, 11], 'TOS-host-unreachable': [3, 12, 12], 'communication-prohibited': [3, 13, 13],
  'host-precedence-violation': [3, 14, 14], 'precedence-cutoff': [3, 15, 15],
  'source-quench': [4, 0, 0xff],
  redirect: [5, 0, 0xff], 'network-redirect': [5, 0, 0], 'host-redirect': [5, 1, 1], 'TOS-network-redirect': [5, 2, 2], 'TOS-host-redirect': [5, 3, 3],
  'echo-request': [8, 0, 0xff], ping: [8, 0, 0xff],
  'router-advertisement': [9, 0, 0xff], 'router-solicitation': [10, 0, 0xff],
  'time-exceeded': [11, 0, 0xff], 'ttl-exceeded': [11, 0, 0xff], 'ttl-zero-during-transit': [11, 0, 0], 'ttl-zero-during-reassembly': [11, 1, 1],
  'parameter-problem': [12, 0, 0xff], 'ip-header-bad': [12, 0, 0], 'required-option-missing': [12, 1, 1],
  'timestamp-request': [13, 0, 0xff], 'timestamp-reply': [14, 0, 0xff],
  'address-mask-request': [17, 0, 0xff], 'address-mask-reply': [18, 0, 0xff],
};

function parseType(s: string): [number, number, number] {
  const n = NAMES[s];
  if (n) return n;
  const m = /^([0-9]{1,3})(?:\/([0-9]{1,3}))?$/.exec(s);
  if (!m || Number(m[1]) > 255 || (m[2] !== undefined && Number(m[2]) > 255)) throw new ValueError(`Invalid ICMP type \`${s}'`);
  const t = Number(m[1]);
  return m[2] === undefined ? [t, 0, 0xff] : [t, Number(m[2]), Number(m[2])];
}

export class IcmpMatch implements Match {
  readonly name = 'icmp';
  constructor(readonly type: number, readonly codeMin: number, readonly codeMax: number, readonly invert: boolean) {}
  matches(p: PacketCtx): boolean {
    if (p.fragOff !== 0 || p.l4 < 0) return false;
    const b = p.skb.buf;
    const t = b[p.l4], c = b[p.l4 + 1];
    const hit = this.type === 0xff || (t === this.type && c >= this.codeMin && c <= this.codeMax);
    return hit !== this.invert;
  }
  save(): string {
    let s = '-m icmp';
    if (this.type === 0xff && this.codeMin === 0 && this.codeMax === 0xff && !this.invert) return s + ' --icmp-type any';
    s += ` ${this.invert ? '! ' : ''}--icmp-type `;
    if (this.type === 0xff) return s + 'any';
    return s + (this.codeMin === 0 && this.codeMax === 0xff ? `${this.type}` : `${this.type}/${this.codeMin}`);
  }
}

export const icmpModule: MatchModule = {
  name: 'icmp',
  options: [{ name: 'icmp-type', args: 1, invert: true }],
  parse(args, ctx) {
    if (ruleProto(ctx) !== 1) throw new ModuleError(`ICMP match requires '-p icmp'`, args[0]?.tok, '-p icmp before --icmp-type');
    onlyOnce('icmp', args);
    if (args.length === 0) return new IcmpMatch(0xff, 0, 0xff, false);
    const a = args[0];
    const [t, lo, hi] = at(vtok(a), () => parseType(a.values[0]));
    return new IcmpMatch(t, lo, hi, a.invert);
  },
};
