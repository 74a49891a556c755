/**
 * The ipset contract: what `-m set --match-set NAME FLAGS` asks of the sets of
 * a namespace. Implemented by ipset.ts (set types hash:ip, hash:ip,port,
 * hash:ip,port,ip, hash:ip,port,net, hash:net, bitmap:port, list:set).
 */
import type { PacketCtx } from './types.js';

export interface IpsetRegistry {
  /** Whether a set of this name exists (checked when a rule referencing it is added). */
  has(name: string): boolean;
  /**
   * ip_set_test: does the packet match set `name` with the direction flags
   * (one per dimension of the set type, e.g. ['dst', 'dst', 'src'] for hash:ip,port,ip)?
   */
  test(name: string, flags: readonly ('src' | 'dst')[], p: PacketCtx): boolean;
}
