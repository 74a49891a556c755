/**
 * `-m ipvs` (net/netfilter/xt_ipvs.c, iptables extensions/libxt_ipvs.c):
 *
 *   [!] --ipvs               the packet went through IPVS (skb->ipvs_property)
 *   [!] --vproto P           \
 *   [!] --vaddr A[/M]         | each implies --ipvs (even negated): the
 *   [!] --vport N             | packet must have the IPVS property and
 *       --vdir ORIGINAL|REPLY | belong to a connection, found as the kernel
 *   [!] --vmethod GATE|IPIP|MASQ  does (ip_vs_conn_out_get on the packet
 *   [!] --vportctl N         /  read inversely)
 *
 * --vproto tests the packet's protocol, --vaddr/--vport the connection's
 * virtual address/port, --vdir the conntrack direction (reply = REPLY),
 * --vmethod the connection's forwarding method, --vportctl the controlling
 * connection's virtual port.
 *
 * Saved as iptables 1.8.9 prints it (ipvs_mt_dump with prefix "--", checked
 * against the installed libxt_ipvs.so): options in the order ipvs (only when
 * alone), vproto (a number), vaddr (the address as given, "/mask" unless
 * 255.255.255.255: xtables_ipmask_to_numeric omits /32), vport, vdir,
 * vmethod, vportctl; "!" before the option.
 *
 * netfilter cannot import src/ipvs (it sits below it), so the namespace's
 * IPVS registers a provider here when it loads, as xt_ipvs calls into ip_vs.
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import type { Netns } from '../../kernel/netns.js';
import type { Skb } from '../../kernel/skb.js';
import { ipToString } from '../../wire/bytes.js';
import { ModuleError, PROTO_BY_NAME, at, parseAddrMask, parsePort, parseUint, vtok, onlyOnce } from '../tokens.js';
import { parseIp } from '../../wire/bytes.js';

/** What xt_ipvs learns from IPVS about a packet's connection. */
export interface IpvsConnView {
  vaddr: number;
  vport: number;
  /** IP_VS_CONN_F_FWD_MASK bits: MASQ 0, TUNNEL 2, DROUTE 3. */
  fwdMethod: number;
  /** The controlling connection's virtual port, or -1 when none. */
  ctlVport: number;
}

export interface IpvsMatchProvider {
  /** skb->ipvs_property. */
  property(ns: Netns, skb: Skb): boolean;
  /** ip_vs_conn_out_get on the packet read inversely (its source as the client side). */
  connOf(ns: Netns, skb: Skb, proto: number, saddr: number, sport: number, daddr: number, dport: number): IpvsConnView | null;
}

let provider: IpvsMatchProvider | null = null;

/** Called by src/ipvs when it loads. */
export function setIpvsMatchProvider(p: IpvsMatchProvider): void {
  provider = p;
}

const B = { IPVS: 1, PROTO: 2, VADDR: 4, VPORT: 8, DIR: 16, METHOD: 32, VPORTCTL: 64 } as const;
const METHOD = { GATE: 3, IPIP: 2, MASQ: 0 } as const;
const METHOD_NAME: Record<number, string> = { 3: 'GATE', 2: 'IPIP', 0: 'MASQ' };

export class IpvsMatch implements Match {
  readonly name = 'ipvs';
  bitmask = 0;
  invert = 0;
  l4proto = 0;
  vaddr = 0;
  vmask = 0xffffffff;
  vport = 0;
  fwdMethod = 0;
  vportctl = 0;

  matches(p: PacketCtx): boolean {
    const prop = provider !== null && provider.property(p.ns, p.skb);
    if (this.bitmask === B.IPVS) return prop !== ((this.invert & B.IPVS) !== 0);
    if (!prop) return false;
    if (this.bitmask & B.PROTO && (p.proto === this.l4proto) !== !(this.invert & B.PROTO)) return false;
    if (p.proto !== 6 && p.proto !== 17 && p.proto !== 132) return false;
    // ip_vs_fill_iph_skb(…, inverse = true): the packet's destination is the real server side.
    const cp = provider!.connOf(p.ns, p.skb, p.proto, p.saddr, p.sport, p.daddr, p.dport);
    if (!cp) return false;
    if (this.bitmask & B.VPORT && (cp.vport === this.vport) !== !(this.invert & B.VPORT)) return false;
    if (this.bitmask & B.VPORTCTL && (cp.ctlVport === this.vportctl) !== !(this.invert & B.VPORTCTL)) return false;
    if (this.bitmask & B.DIR) {
      if (!p.ct) return false;
      const reply = p.ctinfo === 'established_reply' || p.ctinfo === 'related_reply';
      if (reply !== ((this.invert & B.DIR) !== 0)) return false;
    }
    if (this.bitmask & B.METHOD && (cp.fwdMethod === this.fwdMethod) !== !(this.invert & B.METHOD)) return false;
    if (this.bitmask & B.VADDR && ((((cp.vaddr ^ this.vaddr) & this.vmask) >>> 0) === 0) !== !(this.invert & B.VADDR)) return false;
    return true;
  }

  save(): string {
    let s = '-m ipvs';
    const inv = (bit: number) => (this.invert & bit ? ' !' : '');
    if (this.bitmask === B.IPVS) s += `${inv(B.IPVS)} --ipvs`;
    if (this.bitmask & B.PROTO) s += `${inv(B.PROTO)} --vproto ${this.l4proto}`;
    if (this.bitmask & B.VADDR) s += `${inv(B.VADDR)} --vaddr ${ipToString(this.vaddr)}${maskSuffix(this.vmask)}`;
    if (this.bitmask & B.VPORT) s += `${inv(B.VPORT)} --vport ${this.vport}`;
    if (this.bitmask & B.DIR) s += this.invert & B.DIR ? ' --vdir REPLY' : ' --vdir ORIGINAL';
    if (this.bitmask & B.METHOD) s += `${inv(B.METHOD)} --vmethod ${METHOD_NAME[this.fwdMethod] ?? 'UNKNOWN'}`;
    if (this.bitmask & B.VPORTCTL) s += `${inv(B.VPORTCTL)} --vportctl ${this.vportctl}`;
    return s;
  }
}

/** xtables_ipmask_to_numeric: "" for /32, "/len" for a contiguous mask, "/a.b.c.d" otherwise. */
function maskSuffix(mask: number): string {
  if (mask >>> 0 === 0xffffffff) return '';
  let len = 0;
  while (len < 32 && (mask & (0x80000000 >>> len)) !== 0) len++;
  const contiguous = (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0) === mask >>> 0;
  return contiguous ? `/${len}` : `/${ipToString(mask >>> 0)}`;
}

export const ipvsModule: MatchModule = {
  name: 'ipvs',
  options: [
    { name: 'ipvs', args: 0, invert: true },
    { name: 'vproto', args: 1, invert: true },
    { name: 'vaddr', args: 1, invert: true },
    { name: 'vport', args: 1, invert: true },
    { name: 'vdir', args: 1 },
    { name: 'vmethod', args: 1, invert: true },
    { name: 'vportctl', args: 1, invert: true },
  ],
  parse(args) {
    onlyOnce('ipvs', args);
    if (args.length === 0) throw new ModuleError('IPVS: At least one option is required');
    const m = new IpvsMatch();
    for (const a of args) {
      const v = a.values[0];
      let bit: number;
      switch (a.name) {
        case 'ipvs': bit = B.IPVS; break;
        case 'vproto':
          bit = B.PROTO;
          m.l4proto = PROTO_BY_NAME[v.toLowerCase()] ?? at(vtok(a), () => parseUint(v, 255), '', `unknown protocol "${v}" specified`);
          break;
        case 'vaddr': {
          bit = B.VADDR;
          const r = at(vtok(a), () => parseAddrMask(v));
          m.vaddr = parseIp(v.split('/')[0])!;
          m.vmask = r.mask;
          break;
        }
        case 'vport': bit = B.VPORT; m.vport = at(vtok(a), () => parsePort(v)); break;
        case 'vportctl': bit = B.VPORTCTL; m.vportctl = at(vtok(a), () => parsePort(v)); break;
        case 'vdir':
          bit = B.DIR;
          if (v.toUpperCase() === 'ORIGINAL') m.invert &= ~B.DIR;
          else if (v.toUpperCase() === 'REPLY') m.invert |= B.DIR;
          else throw new ModuleError(`ipvs: Bad value for "--vdir" option: "${v}"`, vtok(a));
          break;
        case 'vmethod': {
          bit = B.METHOD;
          const k = v.toUpperCase() as keyof typeof METHOD;
          if (!(k in METHOD)) throw new ModuleError(`ipvs: Bad value for "--vmethod" option: "${v}"`, vtok(a));
          m.fwdMethod = METHOD[k];
          break;
        }
        default: throw new ModuleError(`ipvs: unknown option --${a.name}`, a.tok);
      }
      m.bitmask |= bit;
      if (a.invert) m.invert |= bit;
    }
    // ipvs_mt_check: any other option implies --ipvs, which then may not be negated.
    if (m.bitmask & ~B.IPVS) {
      if (m.invert & B.IPVS) throw new ModuleError('! --ipvs cannot be together with other options');
      m.bitmask |= B.IPVS;
    }
    return m;
  },
};

/** Factory (no parsing): `-m ipvs --vaddr A --vproto P --vport N` as kube-proxy's KUBE-IPVS-OUT-FILTER writes it. */
export function ipvsVaddrMatch(vaddr: number, proto: number, vport: number): IpvsMatch {
  const m = new IpvsMatch();
  m.bitmask = B.IPVS | B.PROTO | B.VADDR | B.VPORT;
  m.l4proto = proto;
  m.vaddr = vaddr >>> 0;
  m.vport = vport;
  return m;
}
