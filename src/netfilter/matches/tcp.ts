/**
 * `-m tcp` (xt_tcpudp tcp_mt): --sport/--dport ranges, --tcp-flags MASK COMP,
 * --syn (= --tcp-flags FIN,SYN,RST,ACK SYN), --tcp-option N. Later fragments
 * never match; a truncated header or option area is a hotdrop in the kernel
 * (here: no match).
 *
 * iptables-save order (verified on 1.8.9 nft): --sport --dport --tcp-option
 * --tcp-flags. iptables-nft keeps one tcp match per rule: a second `-m tcp`
 * is merged into the first, later options winning (`mergeFrom`).
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, at, onlyOnce, parseUint, ruleProto, vtok, ValueError } from '../tokens.js';
import { portOk, portSave, portSpec, type PortSpec } from './ports.js';

const FLAG_NAMES: [string, number][] = [['FIN', 1], ['SYN', 2], ['RST', 4], ['PSH', 8], ['ACK', 16], ['URG', 32]];

function parseFlags(s: string): number {
  if (s === 'ALL') return 0x3f;
  if (s === 'NONE') return 0;
  let v = 0;
  for (const f of s.split(',')) {
    if (f === 'ALL') { v |= 0x3f; continue; }
    if (f === 'NONE') continue;
    const e = FLAG_NAMES.find(([n]) => n === f);
    if (!e) throw new ValueError(`Unknown TCP flag \`${f}'`);
    v |= e[1];
  }
  return v;
}

function flagsText(v: number): string {
  if (v === 0) return 'NONE';
  return FLAG_NAMES.filter(([, b]) => v & b).map(([n]) => n).join(',');
}

export class TcpMatch implements Match {
  readonly name = 'tcp';
  constructor(
    public sport: PortSpec | null,
    public dport: PortSpec | null,
    public flags: { mask: number; comp: number; invert: boolean } | null,
    public option: { num: number; invert: boolean } | null,
  ) {}

  matches(p: PacketCtx): boolean {
    if (p.fragOff !== 0 || p.l4 < 0) return false;
    if (!portOk(this.sport, p.sport) || !portOk(this.dport, p.dport)) return false;
    const b = p.skb.buf;
    if (this.flags) {
      const f = b[p.l4 + 13];
      if (((f & this.flags.mask) === this.flags.comp) === this.flags.invert) return false;
    }
    if (this.option) {
      if (hasOption(b, p.l4, this.option.num) === this.option.invert) return false;
    }
    return true;
  }

  mergeFrom(o: Match): void {
    if (!(o instanceof TcpMatch)) return;
    if (o.sport) this.sport = o.sport;
    if (o.dport) this.dport = o.dport;
    if (o.flags) this.flags = o.flags;
    if (o.option) this.option = o.option;
  }

  save(): string {
    let s = '-m tcp' + portSave('sport', this.sport) + portSave('dport', this.dport);
    if (this.option) s += ` ${this.option.invert ? '! ' : ''}--tcp-option ${this.option.num}`;
    if (this.flags) s += ` ${this.flags.invert ? '! ' : ''}--tcp-flags ${flagsText(this.flags.mask)} ${flagsText(this.flags.comp)}`;
    return s;
  }
}

/** tcp_find_option: walk the option area for kind `num`. */
function hasOption(b: Uint8Array, off: number, num: number): boolean {
  const hlen = (b[off + 12] >>> 4) << 2;
  let i = off + 20;
  const end = off + hlen;
  while (i < end) {
    const k = b[i];
    if (k === num) return true;
    if (k === 0 || k === 1) { i++; continue; }
    const len = b[i + 1];
    if (len < 2) return false;
    i += len;
  }
  return false;
}

export const tcpModule: MatchModule = {
  name: 'tcp',
  options: [
    { name: 'sport', args: 1, invert: true }, { name: 'source-port', args: 1, invert: true },
    { name: 'dport', args: 1, invert: true }, { name: 'destination-port', args: 1, invert: true },
    { name: 'tcp-flags', args: 2, invert: true }, { name: 'syn', args: 0, invert: true },
    { name: 'tcp-option', args: 1, invert: true },
  ],
  parse(args, ctx) {
    if (ruleProto(ctx) !== 6) throw new ModuleError(`TCP match requires '-p tcp'`, args[0]?.tok, '-p tcp before the tcp options');
    onlyOnce('tcp', args.map((a) => ({ ...a, name: a.name === 'source-port' ? 'sport' : a.name === 'destination-port' ? 'dport' : a.name })));
    const m = new TcpMatch(null, null, null, null);
    for (const a of args) {
      switch (a.name) {
        case 'sport': case 'source-port': m.sport = portSpec(a); break;
        case 'dport': case 'destination-port': m.dport = portSpec(a); break;
        case 'syn':
        case 'tcp-flags':
          if (m.flags) throw new ModuleError(`Only one of \`--syn' or \`--tcp-flags'  allowed`, a.tok);
          m.flags = a.name === 'syn'
            ? { mask: 0x17, comp: 0x02, invert: a.invert }
            : { mask: at(vtok(a), () => parseFlags(a.values[0])), comp: at(a.valueToks[1] ?? a.tok, () => parseFlags(a.values[1])), invert: a.invert };
          break;
        case 'tcp-option':
          m.option = { num: at(vtok(a), () => parseUint(a.values[0], 255)), invert: a.invert };
          break;
      }
    }
    return m;
  },
};

/** Factory (no parsing): `-m tcp [--sport P] [--dport P]` (single ports, no inversion), as `-p tcp -m tcp --dport P` parses. */
export function tcpMatch(o: { sport?: number; dport?: number } = {}): TcpMatch {
  const one = (p: number | undefined): PortSpec | null => (p === undefined ? null : { lo: p, hi: p, invert: false });
  return new TcpMatch(one(o.sport), one(o.dport), null, null);
}
