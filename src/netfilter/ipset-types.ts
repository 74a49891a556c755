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
  test(name: string, flags: readonly ('src' | 'dst')[], p: PacketCtx, opts?: IpsetTestOpts): boolean;
}

/**
 * Options of xt_set's match revision 4 (added to the contract by ipset.ts;
 * optional, so callers without them get the default behaviour).
 */
export interface IpsetTestOpts {
  /** --return-nomatch: a nomatch entry matches and a normal entry does not (types with nomatch only). */
  returnNomatch?: boolean;
  /** false for `! --update-counters`. */
  updateCounters?: boolean;
  /** false for `! --update-subcounters` (list:set member counters). */
  updateSubcounters?: boolean;
  /** --packets-eq/-lt/-gt (`! --packets-eq` is 'ne'). */
  packets?: { op: 'eq' | 'ne' | 'lt' | 'gt'; value: number };
  bytes?: { op: 'eq' | 'ne' | 'lt' | 'gt'; value: number };
}
