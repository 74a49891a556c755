/**
 * `-j DNAT --to-destination [ip[-ip]][:port[-port]] [--random] [--persistent]`
 * (nat table, PREROUTING/OUTPUT hooks — kernel checks, verified). Calls
 * p.ops.natSetup(p, 'dst', range). A port needs `-p tcp|udp|sctp|dccp`
 * ("Need TCP, UDP, SCTP or DCCP with port specification", verified).
 * Saved `--to-destination 10.0.0.1-10.0.0.5:80-90 --random --persistent`.
 */
import type { NatRange } from '../ct-types.js';
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { ParseCtx, ParsedOpt, TargetModule } from '../registry.js';
import { ModuleError, ruleProto, vtok } from '../tokens.js';
import { ipToString, parseIp } from '../../wire/bytes.js';

const PORT_PROTOS = new Set([6, 17, 33, 132]);

/** `ip[-ip][:port[-port]]` → a range (0/0 for parts not given). */
export function parseNatRange(a: ParsedOpt, ctx: ParseCtx, portsOnly = false): NatRange {
  const s = a.values[0];
  const r: NatRange = { minIp: 0, maxIp: 0, minPort: 0, maxPort: 0, random: false, randomFully: false, persistent: false };
  const bad = () => new ModuleError(`Bad IP address "${s}"`, vtok(a));
  let ipPart = s, portPart: string | null = null;
  if (portsOnly) { ipPart = ''; portPart = s; }
  else {
    const c = s.indexOf(':');
    if (c >= 0) { ipPart = s.slice(0, c); portPart = s.slice(c + 1); }
  }
  if (ipPart) {
    const d = ipPart.indexOf('-');
    const lo = parseIp(d < 0 ? ipPart : ipPart.slice(0, d));
    const hi = d < 0 ? lo : parseIp(ipPart.slice(d + 1));
    if (lo === undefined || hi === undefined) throw bad();
    if (hi < lo) throw new ModuleError(`Bad IP range "${ipPart}"`, vtok(a));
    r.minIp = lo; r.maxIp = hi;
  }
  if (portPart !== null) {
    const p = ruleProto(ctx);
    if (p === undefined || !PORT_PROTOS.has(p)) throw new ModuleError('Need TCP, UDP, SCTP or DCCP with port specification', vtok(a), '-p tcp, -p udp or -p sctp');
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(portPart);
    const lo = m ? Number(m[1]) : NaN, hi = m && m[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo > 65535 || hi > 65535 || lo === 0) throw new ModuleError(`Port \`${portPart}' not valid`, vtok(a));
    if (hi < lo) throw new ModuleError(`Invalid port range "${portPart}"`, vtok(a));
    r.minPort = lo; r.maxPort = hi;
  }
  return r;
}

export function rangeText(r: NatRange): string {
  let s = '';
  if (r.minIp || r.maxIp) s += ipToString(r.minIp) + (r.maxIp !== r.minIp ? '-' + ipToString(r.maxIp) : '');
  if (r.minPort) s += ':' + r.minPort + (r.maxPort !== r.minPort ? '-' + r.maxPort : '');
  return s;
}

export function flagsText(r: NatRange): string {
  return (r.random ? ' --random' : '') + (r.randomFully ? ' --random-fully' : '') + (r.persistent ? ' --persistent' : '');
}

export class NatTarget implements Target {
  readonly tables = ['nat'] as const;
  constructor(readonly name: 'DNAT' | 'SNAT', readonly range: NatRange, readonly hooks: readonly number[]) {}
  run(p: PacketCtx): TargetVerdict {
    return p.ops.natSetup(p, this.name === 'DNAT' ? 'dst' : 'src', this.range);
  }
  save(): string {
    return `-j ${this.name} ${this.name === 'DNAT' ? '--to-destination' : '--to-source'} ${rangeText(this.range)}${flagsText(this.range)}`;
  }
}

export function natModule(name: 'DNAT' | 'SNAT'): TargetModule {
  const to = name === 'DNAT' ? 'to-destination' : 'to-source';
  const flags = name === 'DNAT' ? ['random', 'persistent'] : ['random', 'random-fully', 'persistent'];
  return {
    name,
    options: [{ name: to, args: 1 }, ...flags.map((f) => ({ name: f, args: 0 as const }))],
    parse(args, ctx) {
      const tos = args.filter((a) => a.name === to);
      if (tos.length === 0) throw new ModuleError(`${name}: option "--${to}" must be specified`, undefined, `--${to} ip[-ip][:port[-port]]`);
      if (tos.length > 1) throw new ModuleError(`${name}: Multiple --${to} not supported`, tos[1].tok);
      const r = parseNatRange(tos[0], ctx);
      for (const a of args) {
        if (a.name === 'random') r.random = true;
        else if (a.name === 'random-fully') r.randomFully = true;
        else if (a.name === 'persistent') r.persistent = true;
      }
      return new NatTarget(name, r, name === 'DNAT' ? [0, 3] : [1, 4]);
    },
  };
}

export const dnatModule = natModule('DNAT');

const DNAT_HOOKS = [0, 3] as const;
/** Factory (no parsing): `-j DNAT --to-destination IP[:PORT]` (single address and port; port 0 = none). */
export function dnatTarget(ip: number, port = 0, o: { random?: boolean; persistent?: boolean } = {}): NatTarget {
  return new NatTarget('DNAT', {
    minIp: ip >>> 0, maxIp: ip >>> 0, minPort: port, maxPort: port,
    random: o.random ?? false, randomFully: false, persistent: o.persistent ?? false,
  }, DNAT_HOOKS);
}
