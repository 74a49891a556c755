/**
 * `-m sctp`: ports only (--sport/--dport with ranges and `!`); chunk-type
 * matching (--chunk-types) is not supported and is refused as an unknown option.
 */
import { portModule, udpMatch, type UdpMatch } from './udp.js';

export const sctpModule = portModule('sctp', 132, 'SCTP');

/** Factory (no parsing): `-m sctp` with optional single ports. */
export function sctpMatch(o: { sport?: number; dport?: number } = {}): UdpMatch {
  return udpMatch(o, 'sctp');
}
