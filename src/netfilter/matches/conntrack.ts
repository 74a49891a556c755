/**
 * `-m conntrack` (xt_conntrack v3) and the state bits shared with `-m state`.
 *
 * State bits (XT_CONNTRACK_STATE_BIT): INVALID 1, ESTABLISHED 2, RELATED 4,
 * NEW 8, UNTRACKED 1<<(IP_CT_NUMBER+1)=0x100 (here any distinct bit), SNAT,
 * DNAT virtual states from IPS_SRC_NAT/IPS_DST_NAT. Printed in the order
 * INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT (verified).
 *
 * Evaluation follows conntrack_mt: state first; with no entry (invalid or
 * untracked) only a pure --ctstate rule can match; then --ctproto, the
 * tuple addresses/ports (orig = ct.orig, repl = ct.reply), --ctstatus
 * (any listed bit set), --ctdir. Saved in libxt_conntrack's order:
 * ctstate ctproto ctorigsrc ctorigdst ctreplsrc ctrepldst ctorigsrcport
 * ctorigdstport ctreplsrcport ctrepldstport ctstatus ctdir; addresses with a
 * /32 mask are printed bare (verified: `--ctorigdst 10.0.0.1`).
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule, ParsedOpt } from '../registry.js';
import { IPS_ASSURED, IPS_CONFIRMED, IPS_DST_NAT, IPS_EXPECTED, IPS_SEEN_REPLY, IPS_SRC_NAT, type CtInfo } from '../ct-types.js';
import { ModuleError, PROTO_BY_NAME, at, onlyOnce, parseAddrMask, parsePortRange, parseUint, portRangeText, vtok, ValueError } from '../tokens.js';
import { ipToString, parseIp } from '../../wire/bytes.js';

export const ST_INVALID = 1, ST_ESTABLISHED = 2, ST_RELATED = 4, ST_NEW = 8, ST_UNTRACKED = 0x100, ST_SNAT = 0x200, ST_DNAT = 0x400;
const STATE_ORDER: [string, number][] = [
  ['INVALID', ST_INVALID], ['NEW', ST_NEW], ['RELATED', ST_RELATED], ['ESTABLISHED', ST_ESTABLISHED],
  ['UNTRACKED', ST_UNTRACKED], ['SNAT', ST_SNAT], ['DNAT', ST_DNAT],
];

/**
 * The packet's --ctstate bits as conntrack_mt computes them: its ctinfo's state, plus the SNAT
 * and DNAT virtual states from the entry's status (neither for an untracked or invalid packet).
 */
export function packetStateBits(p: PacketCtx): number {
  const ct = p.ct, info = p.ctinfo;
  if (!ct || info === 'untracked' || info === 'invalid') return info === 'untracked' ? ST_UNTRACKED : ST_INVALID;
  let bits = ctinfoBits(info);
  if (bits !== ST_UNTRACKED && bits !== ST_INVALID) {
    if (ct.status & IPS_SRC_NAT) bits |= ST_SNAT;
    if (ct.status & IPS_DST_NAT) bits |= ST_DNAT;
  }
  return bits;
}

export function ctinfoBits(info: CtInfo): number {
  switch (info) {
    case 'new': return ST_NEW;
    case 'established': case 'established_reply': return ST_ESTABLISHED;
    case 'related': case 'related_reply': return ST_RELATED;
    case 'untracked': return ST_UNTRACKED;
    default: return ST_INVALID;
  }
}

export function parseStates(s: string, allowNat: boolean, errFmt: (x: string) => string): number {
  let v = 0;
  for (const part of s.split(',')) {
    const e = STATE_ORDER.find(([n]) => n === part);
    if (!e || (!allowNat && (e[1] === ST_SNAT || e[1] === ST_DNAT))) throw new ValueError(errFmt(part));
    v |= e[1];
  }
  return v;
}

export function statesText(v: number): string {
  return STATE_ORDER.filter(([, b]) => v & b).map(([n]) => n).join(',');
}

const STATUS: [string, number][] = [['EXPECTED', IPS_EXPECTED], ['SEEN_REPLY', IPS_SEEN_REPLY], ['ASSURED', IPS_ASSURED], ['CONFIRMED', IPS_CONFIRMED]];

interface AddrOpt { addr: number; mask: number; invert: boolean }
interface PortOpt { lo: number; hi: number; invert: boolean }

export class ConntrackMatch implements Match {
  readonly name = 'conntrack';
  state: { bits: number; invert: boolean } | null = null;
  proto: { num: number; invert: boolean } | null = null;
  origsrc: AddrOpt | null = null;
  origdst: AddrOpt | null = null;
  replsrc: AddrOpt | null = null;
  repldst: AddrOpt | null = null;
  origsrcport: PortOpt | null = null;
  origdstport: PortOpt | null = null;
  replsrcport: PortOpt | null = null;
  repldstport: PortOpt | null = null;
  status: { bits: number; invert: boolean } | null = null;
  dir: 'ORIGINAL' | 'REPLY' | null = null;
  /** onlyState(), worked out at the first packet (the options are all set before the rule is used). */
  private stateOnly: boolean | undefined = undefined;

  matches(p: PacketCtx): boolean {
    const ct = p.ct;
    if (this.state && ((packetStateBits(p) & this.state.bits) !== 0) === this.state.invert) return false;
    // A pure --ctstate match (kube-proxy's) is decided by now, with or without an entry.
    if (this.stateOnly === undefined) this.stateOnly = this.onlyState();
    if (this.stateOnly) return true;
    if (!ct || p.ctinfo === 'untracked' || p.ctinfo === 'invalid') return false;
    if (this.dir) {
      const reply = p.ctinfo === 'established_reply' || p.ctinfo === 'related_reply';
      if ((this.dir === 'REPLY') !== reply) return false;
    }
    if (this.proto && ((ct.orig.proto === this.proto.num) === this.proto.invert)) return false;
    if (!addrOk(this.origsrc, ct.orig.src) || !addrOk(this.origdst, ct.orig.dst)) return false;
    if (!addrOk(this.replsrc, ct.reply.src) || !addrOk(this.repldst, ct.reply.dst)) return false;
    if (!portOk(this.origsrcport, ct.orig.sport) || !portOk(this.origdstport, ct.orig.dport)) return false;
    if (!portOk(this.replsrcport, ct.reply.sport) || !portOk(this.repldstport, ct.reply.dport)) return false;
    if (this.status && (((ct.status & this.status.bits) !== 0) === this.status.invert)) return false;
    return true;
  }

  /** The --ctstate option when it is the match's only option (kube-proxy's rules), else null: the traversal tests it inline. */
  pureState(): { bits: number; invert: boolean } | null {
    return this.state !== null && this.onlyState() ? this.state : null;
  }

  private onlyState(): boolean {
    return this.proto === null && this.origsrc === null && this.origdst === null && this.replsrc === null && this.repldst === null &&
      this.origsrcport === null && this.origdstport === null && this.replsrcport === null && this.repldstport === null &&
      this.status === null && this.dir === null;
  }

  save(): string {
    let s = '-m conntrack';
    const inv = (b: boolean) => (b ? '! ' : '');
    if (this.state) s += ` ${inv(this.state.invert)}--ctstate ${statesText(this.state.bits)}`;
    if (this.proto) s += ` ${inv(this.proto.invert)}--ctproto ${this.proto.num}`;
    const addr = (n: string, a: AddrOpt | null) => {
      if (a) s += ` ${inv(a.invert)}--${n} ${ipToString(a.addr)}${a.mask === 0xffffffff ? '' : '/' + maskText(a.mask)}`;
    };
    addr('ctorigsrc', this.origsrc); addr('ctorigdst', this.origdst); addr('ctreplsrc', this.replsrc); addr('ctrepldst', this.repldst);
    const port = (n: string, a: PortOpt | null) => { if (a) s += ` ${inv(a.invert)}--${n} ${portRangeText(a.lo, a.hi)}`; };
    port('ctorigsrcport', this.origsrcport); port('ctorigdstport', this.origdstport); port('ctreplsrcport', this.replsrcport); port('ctrepldstport', this.repldstport);
    if (this.status) s += ` ${inv(this.status.invert)}--ctstatus ${STATUS.filter(([, b]) => this.status!.bits & b).map(([n]) => n).join(',')}`;
    if (this.dir) s += ` --ctdir ${this.dir}`;
    return s;
  }
}

function maskText(mask: number): string {
  let len = 0;
  while (len < 32 && (mask & (0x80000000 >>> len)) !== 0) len++;
  return ((len === 32 ? 0xffffffff : len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0) === mask) ? String(len) : ipToString(mask);
}

function addrOk(a: AddrOpt | null, ip: number): boolean {
  return a === null || (((((ip ^ a.addr) & a.mask) >>> 0) === 0) !== a.invert);
}
function portOk(a: PortOpt | null, port: number): boolean {
  return a === null || ((port >= a.lo && port <= a.hi) !== a.invert);
}

function addrOpt(a: ParsedOpt): AddrOpt {
  // Kept as written (iptables-save prints `--ctrepldst 1.1.1.1/16` unmasked — verified); masked when compared.
  const r = at(vtok(a), () => parseAddrMask(a.values[0]));
  const raw = parseIp(a.values[0].split('/')[0])!;
  return { addr: raw, mask: r.mask, invert: a.invert };
}
function portOpt(a: ParsedOpt): PortOpt {
  const [lo, hi] = at(vtok(a), () => parsePortRange(a.values[0]));
  return { lo, hi, invert: a.invert };
}

export const conntrackModule: MatchModule = {
  name: 'conntrack',
  options: [
    { name: 'ctstate', args: 1, invert: true }, { name: 'ctproto', args: 1, invert: true },
    { name: 'ctorigsrc', args: 1, invert: true }, { name: 'ctorigdst', args: 1, invert: true },
    { name: 'ctreplsrc', args: 1, invert: true }, { name: 'ctrepldst', args: 1, invert: true },
    { name: 'ctorigsrcport', args: 1, invert: true }, { name: 'ctorigdstport', args: 1, invert: true },
    { name: 'ctreplsrcport', args: 1, invert: true }, { name: 'ctrepldstport', args: 1, invert: true },
    { name: 'ctstatus', args: 1, invert: true }, { name: 'ctdir', args: 1 },
  ],
  parse(args) {
    onlyOnce('conntrack', args);
    if (args.length === 0) throw new ModuleError('conntrack: At least one option is required', undefined, '--ctstate or another --ct option');
    const m = new ConntrackMatch();
    for (const a of args) {
      const v = a.values[0];
      switch (a.name) {
        case 'ctstate': m.state = { bits: at(vtok(a), () => parseStates(v, true, (x) => `Bad ctstate "${x}"`)), invert: a.invert }; break;
        case 'ctproto': {
          const num = PROTO_BY_NAME[v] ?? at(vtok(a), () => parseUint(v, 255), '', `unknown protocol "${v}" specified`);
          if (num === 0) throw new ModuleError('conntrack: rule would never match protocol', vtok(a));
          m.proto = { num, invert: a.invert };
          break;
        }
        case 'ctorigsrc': m.origsrc = addrOpt(a); break;
        case 'ctorigdst': m.origdst = addrOpt(a); break;
        case 'ctreplsrc': m.replsrc = addrOpt(a); break;
        case 'ctrepldst': m.repldst = addrOpt(a); break;
        case 'ctorigsrcport': m.origsrcport = portOpt(a); break;
        case 'ctorigdstport': m.origdstport = portOpt(a); break;
        case 'ctreplsrcport': m.replsrcport = portOpt(a); break;
        case 'ctrepldstport': m.repldstport = portOpt(a); break;
        case 'ctstatus': {
          let bits = 0;
          for (const part of v.split(',')) {
            const e = STATUS.find(([n]) => n === part);
            if (!e) throw new ModuleError(`Bad ctstatus "${part}"`, vtok(a));
            bits |= e[1];
          }
          m.status = { bits, invert: a.invert };
          break;
        }
        case 'ctdir':
          if (v !== 'ORIGINAL' && v !== 'REPLY') throw new ModuleError(`Unknown --ctdir "${v}"`, vtok(a), 'ORIGINAL or REPLY');
          m.dir = v;
          break;
      }
    }
    return m;
  },
};

/** Factory (no parsing): `-m conntrack [!] --ctstate S[,S…]` (e.g. `RELATED,ESTABLISHED,DNAT`). */
export function conntrackState(states: string, invert = false): ConntrackMatch {
  const m = new ConntrackMatch();
  m.state = { bits: parseStates(states, true, (x) => `Bad ctstate "${x}"`), invert };
  return m;
}
