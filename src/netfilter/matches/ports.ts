/**
 * Shared by tcp, udp and sctp: `--sport/--dport` ranges with `!`, as
 * xt_tcpudp's port_match (min <= port <= max, xor invert).
 */
import type { ParsedOpt } from '../registry.js';
import { at, parsePortRange, portRangeText, vtok } from '../tokens.js';

export interface PortSpec { lo: number; hi: number; invert: boolean }

export function portSpec(o: ParsedOpt): PortSpec {
  const [lo, hi] = at(vtok(o), () => parsePortRange(o.values[0]));
  return { lo, hi, invert: o.invert };
}

export function portOk(s: PortSpec | null, port: number): boolean {
  return s === null || ((port >= s.lo && port <= s.hi) !== s.invert);
}

export function portSave(opt: string, s: PortSpec | null): string {
  return s === null ? '' : ` ${s.invert ? '! ' : ''}--${opt} ${portRangeText(s.lo, s.hi)}`;
}
