/**
 * `-m udp` (xt_tcpudp udp_mt): --sport/--dport ranges with `!`; later
 * fragments never match. Saved as `-m udp --sport A --dport B`; a second
 * `-m udp` in the same rule is merged as iptables-nft does.
 */
import type { Match, PacketCtx } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, onlyOnce, ruleProto } from '../tokens.js';
import { portOk, portSave, portSpec, type PortSpec } from './ports.js';

export class UdpMatch implements Match {
  constructor(readonly name: 'udp' | 'sctp', public sport: PortSpec | null, public dport: PortSpec | null) {}
  matches(p: PacketCtx): boolean {
    if (p.fragOff !== 0 || p.l4 < 0) return false;
    return portOk(this.sport, p.sport) && portOk(this.dport, p.dport);
  }
  mergeFrom(o: Match): void {
    if (!(o instanceof UdpMatch)) return;
    if (o.sport) this.sport = o.sport;
    if (o.dport) this.dport = o.dport;
  }
  save(): string {
    return `-m ${this.name}` + portSave('sport', this.sport) + portSave('dport', this.dport);
  }
}

export function portModule(name: 'udp' | 'sctp', proto: number, label: string): MatchModule {
  return {
    name,
    options: [
      { name: 'sport', args: 1, invert: true }, { name: 'source-port', args: 1, invert: true },
      { name: 'dport', args: 1, invert: true }, { name: 'destination-port', args: 1, invert: true },
    ],
    parse(args, ctx) {
      if (ruleProto(ctx) !== proto) throw new ModuleError(`${label} match requires '-p ${name}'`, args[0]?.tok, `-p ${name} before the ${name} options`);
      onlyOnce(name, args.map((a) => ({ ...a, name: a.name === 'source-port' ? 'sport' : a.name === 'destination-port' ? 'dport' : a.name })));
      const m = new UdpMatch(name, null, null);
      for (const a of args) {
        if (a.name === 'sport' || a.name === 'source-port') m.sport = portSpec(a);
        else m.dport = portSpec(a);
      }
      return m;
    },
  };
}

export const udpModule = portModule('udp', 17, 'UDP');

/** Factory (no parsing): `-m udp` / `-m sctp` with optional single ports, as `-p udp -m udp --dport P` parses. */
export function udpMatch(o: { sport?: number; dport?: number } = {}, name: 'udp' | 'sctp' = 'udp'): UdpMatch {
  const one = (p: number | undefined): PortSpec | null => (p === undefined ? null : { lo: p, hi: p, invert: false });
  return new UdpMatch(name, one(o.sport), one(o.dport));
}
