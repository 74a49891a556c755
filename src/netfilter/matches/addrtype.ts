/**
 * `-m addrtype` (xt_addrtype v1): --src-type/--dst-type LIST with `!`,
 * --limit-iface-in / --limit-iface-out.
 *
 * The type of an address is inet_addr_type's: 0.0.0.0/8 and
 * 255.255.255.255 are BROADCAST, 224/4 MULTICAST, otherwise the type of the
 * route the *local* table (255) gives (local → LOCAL, broadcast → BROADCAST,
 * …) or UNICAST when the local table has none. With --limit-iface-in/out the
 * local-table route must also sit on the packet's in/out device
 * (inet_dev_addr_type), else UNICAST. The match holds when the address's type
 * is in the list (xor `!`). --limit-iface-in is allowed in PREROUTING, INPUT
 * and FORWARD; --limit-iface-out in FORWARD, OUTPUT and POSTROUTING (the
 * kernel's addrtype_mt_checkentry_v1; verified: refused in INPUT).
 * Types print in bit order UNSPEC,UNICAST,LOCAL,BROADCAST,… (verified).
 */
import type { Match, PacketCtx } from '../types.js';
import type { NetDevice } from '../../kernel/device.js';
import type { MatchModule } from '../registry.js';
import { RT_TABLE_LOCAL } from '../../kernel/fib.js';
import { ModuleError, onlyOnce, vtok } from '../tokens.js';

const TYPES = ['UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'];
const ROUTE_TYPE_BIT: Record<string, number> = {
  unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8, throw: 9, nat: 10,
};

export function addrTypeBit(p: PacketCtx, ip: number, dev: NetDevice | null | undefined): number {
  if ((ip >>> 24) === 0 || ip === 0xffffffff) return 1 << 3;
  if ((ip >>> 28) === 0xe) return 1 << 5;
  const r = p.ns.fib.lookup(ip);
  if (r && r.table === RT_TABLE_LOCAL && (dev === undefined || r.dev === dev)) return 1 << (ROUTE_TYPE_BIT[r.type] ?? 1);
  return 1 << 1;
}

export class AddrtypeMatch implements Match {
  readonly name = 'addrtype';
  src: { bits: number; invert: boolean } | null = null;
  dst: { bits: number; invert: boolean } | null = null;
  limitIn = false;
  limitOut = false;
  /** Hooks this match may be used in (checked by the ruleset like a target's). */
  hooks?: readonly number[];

  matches(p: PacketCtx): boolean {
    const dev = this.limitIn ? p.inDev : this.limitOut ? p.outDev : undefined;
    if (this.src && (((addrTypeBit(p, p.saddr, dev) & this.src.bits) !== 0) === this.src.invert)) return false;
    if (this.dst && (((addrTypeBit(p, p.daddr, dev) & this.dst.bits) !== 0) === this.dst.invert)) return false;
    return true;
  }

  save(): string {
    let s = '-m addrtype';
    const list = (b: number) => TYPES.filter((_, i) => b & (1 << i)).join(',');
    if (this.src) s += ` ${this.src.invert ? '! ' : ''}--src-type ${list(this.src.bits)}`;
    if (this.dst) s += ` ${this.dst.invert ? '! ' : ''}--dst-type ${list(this.dst.bits)}`;
    if (this.limitIn) s += ' --limit-iface-in';
    if (this.limitOut) s += ' --limit-iface-out';
    return s;
  }
}

export const addrtypeModule: MatchModule = {
  name: 'addrtype',
  options: [
    { name: 'src-type', args: 1, invert: true }, { name: 'dst-type', args: 1, invert: true },
    { name: 'limit-iface-in', args: 0 }, { name: 'limit-iface-out', args: 0 },
  ],
  parse(args) {
    onlyOnce('addrtype', args);
    const m = new AddrtypeMatch();
    for (const a of args) {
      if (a.name === 'src-type' || a.name === 'dst-type') {
        let bits = 0;
        for (const t of a.values[0].split(',')) {
          const i = TYPES.indexOf(t.toUpperCase());
          if (i < 0) throw new ModuleError(`addrtype: bad type "${t}"`, vtok(a), TYPES.join(', '));
          bits |= 1 << i;
        }
        if (a.name === 'src-type') m.src = { bits, invert: a.invert }; else m.dst = { bits, invert: a.invert };
      } else if (a.name === 'limit-iface-in') m.limitIn = true;
      else m.limitOut = true;
    }
    if (!m.src && !m.dst) throw new ModuleError('addrtype: you must specify --src-type or --dst-type', undefined, '--src-type or --dst-type');
    if (m.limitIn && m.limitOut) throw new ModuleError("addrtype: you can't specify both --limit-iface-in and --limit-iface-out", args.find((a) => a.name === 'limit-iface-out')!.tok);
    if (m.limitIn) m.hooks = [0, 1, 2];
    if (m.limitOut) m.hooks = [2, 3, 4];
    return m;
  },
};

/** Factory (no parsing): `-m addrtype [[!] --src-type T[,T…]] [[!] --dst-type T[,T…]]` (no --limit-iface-*). */
export function addrtypeMatch(o: { src?: string; srcInvert?: boolean; dst?: string; dstInvert?: boolean }): AddrtypeMatch {
  const bits = (list: string) => {
    let b = 0;
    for (const t of list.split(',')) {
      const i = TYPES.indexOf(t.toUpperCase());
      if (i < 0) throw new Error(`addrtype: bad type "${t}"`);
      b |= 1 << i;
    }
    return b;
  };
  const m = new AddrtypeMatch();
  if (o.src !== undefined) m.src = { bits: bits(o.src), invert: o.srcInvert ?? false };
  if (o.dst !== undefined) m.dst = { bits: bits(o.dst), invert: o.dstInvert ?? false };
  return m;
}
