/**
 * `-m sctp`: ports only (--sport/--dport with ranges and `!`); chunk-type
 * matching (--chunk-types) is not supported and is refused as an unknown option.
 */
import { portModule } from './udp.js';

export const sctpModule = portModule('sctp', 132, 'SCTP');
