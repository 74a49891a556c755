/**
 * The shared contract of the netfilter layer: what a rule's matches and
 * target see of a packet (PacketCtx), what they return, and how a rule is
 * represented. Matches and targets live one per file under matches/ and
 * targets/, registered by module name; the traversal (traverse.ts) walks
 * tables and chains exactly as ip_tables.c does (first match, jump/goto,
 * RETURN, implicit return, policy) and counts every rule it evaluates.
 */
import type { Skb } from '../kernel/skb.js';
import type { NetDevice } from '../kernel/device.js';
import type { Netns } from '../kernel/netns.js';
import type { ConnEntry, CtInfo, NatRange } from './ct-types.js';
import type { IpsetRegistry } from './ipset-types.js';

export type TableName = 'raw' | 'mangle' | 'nat' | 'filter' | 'security';

export const BUILTIN_CHAINS: Record<TableName, readonly string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** Hook numbers (as the kernel's NF_INET_*), to name chains by hook. */
export const HOOK_CHAIN = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as const;

/**
 * What a match or target sees. L3/L4 fields are parsed once per traversal
 * (from the IPv4 header at skb.nh) and kept here; targets that rewrite the
 * packet (MARK, NAT through conntrack) update both the bytes and these fields.
 */
export interface PacketCtx {
  skb: Skb;
  ns: Netns;
  table: TableName;
  /** NF_INET_* hook number 0..4. */
  hook: number;
  /** `-i` / `-o` devices (for bridged packets: the bridge device). */
  inDev: NetDevice | null;
  outDev: NetDevice | null;
  /** Bridge ports for -m physdev (null when not bridged). */
  physIn: NetDevice | null;
  physOut: NetDevice | null;
  /** True when the packet is being bridged (br_netfilter) rather than routed. */
  bridged: boolean;
  saddr: number;
  daddr: number;
  proto: number;
  /** Fragment offset in bytes (non-zero: a later fragment, no L4 header). */
  fragOff: number;
  /** Offset of the L4 header in skb.buf, -1 for later fragments. */
  l4: number;
  /** L4 length (IP total length minus header length). */
  l4len: number;
  /** TCP/UDP/SCTP ports, 0 when none. */
  sport: number;
  dport: number;
  /** Conntrack entry and the packet's relation to it (set by the conntrack hook). */
  ct: ConnEntry | null;
  ctinfo: CtInfo;
  ipsets: IpsetRegistry;
  /** Virtual time in ns. */
  now: number;
  /** The run's PRNG draw for -m statistic --mode random and NAT port choice: uniform 32-bit. */
  random(): number;
  /** Actions targets take on the packet and its connection (implemented by the traversal). */
  ops: NfOps;
}

/** How a REJECT answers (--reject-with). */
export type RejectWith =
  | 'icmp-net-unreachable'
  | 'icmp-host-unreachable'
  | 'icmp-port-unreachable'
  | 'icmp-proto-unreachable'
  | 'icmp-net-prohibited'
  | 'icmp-host-prohibited'
  | 'icmp-admin-prohibited'
  | 'tcp-reset';

/**
 * What targets ask of the data path. Kept behind an interface so the match and
 * target modules depend on nothing but this contract.
 */
export interface NfOps {
  /** nf_nat_setup_info for this (NEW) connection: DNAT ('dst') or SNAT/MASQUERADE ('src'). */
  natSetup(p: PacketCtx, manip: 'src' | 'dst', range: NatRange): TargetVerdict;
  /** MASQUERADE: the address SNAT should use (the egress device's address for the destination), 0 if none. */
  masqueradeAddress(p: PacketCtx): number;
  /** REJECT: send the ICMP error or TCP RST for the packet (the packet itself is then dropped). */
  reject(p: PacketCtx, how: RejectWith): void;
  /** NOTRACK / CT --notrack: mark the packet untracked (raw table). */
  notrack(p: PacketCtx): void;
  /** LOG / TRACE: a trace line for the packet. */
  log(p: PacketCtx, text: string): void;
}

/** Outcome of a target. */
export type TargetVerdict =
  | { kind: 'accept' }
  | { kind: 'drop' }
  | { kind: 'stolen' }
  | { kind: 'return' }
  /** Non-terminating (MARK, LOG, CONNMARK…): go on with the next rule. */
  | { kind: 'continue' }
  | { kind: 'jump'; chain: string }
  | { kind: 'goto'; chain: string };

export interface Match {
  /** Module name as `-m NAME` (the implicit protocol matches are 'tcp', 'udp', 'icmp', 'sctp'). */
  readonly name: string;
  matches(p: PacketCtx): boolean;
  /** The canonical iptables-save text for this match, starting with `-m NAME`. */
  save(): string;
}

export interface Target {
  /** Target name as `-j NAME`, or the chain name for a jump/goto to a user chain. */
  readonly name: string;
  /** Tables (and for some, chains/hooks) the target is valid in, checked when the rule is added. */
  readonly tables?: readonly TableName[];
  readonly hooks?: readonly number[];
  run(p: PacketCtx): TargetVerdict;
  /** Canonical text: `-j NAME opts` or `-g CHAIN`. */
  save(): string;
}

/** The fixed part of an ipt_entry: -s -d -i -o -p -f with their inversions. */
export interface IpHeaderMatch {
  src?: { addr: number; mask: number; prefix: number; invert: boolean };
  dst?: { addr: number; mask: number; prefix: number; invert: boolean };
  /** Interface name; a trailing '+' matches any suffix. */
  inIface?: { name: string; invert: boolean };
  outIface?: { name: string; invert: boolean };
  /** 0 = all. */
  proto?: { num: number; name: string; invert: boolean };
  /** -f: only later fragments (or ! -f: only first/unfragmented). */
  frag?: { invert: boolean };
}

/**
 * A rule. Rule objects are immutable once in a ruleset and may appear in
 * several namespaces' rulesets (and several times in one): their packet and
 * byte counters are not here but in the Table of each namespace
 * (`Table.counters`, by chain object and position).
 */
export interface Rule {
  readonly ip: IpHeaderMatch;
  readonly matches: Match[];
  /** null = no target (rule only counts). */
  readonly target: Target | null;
  /** Where it came from, for errors and traces: file and line of the iptables-restore text. */
  readonly source?: { file: string; line: number };
}

/** Packet and byte counters (of a rule in one namespace, or a built-in chain's policy). */
export interface Counter {
  pkts: number;
  bytes: number;
}

export interface Chain {
  name: string;
  /** Built-in chains have a policy (ACCEPT or DROP); user chains have none. */
  policy: 'ACCEPT' | 'DROP' | null;
  /**
   * For a built-in chain: whether iptables-nft has created its base chain,
   * hooking it into the kernel — when a restore declares it (`:INPUT ACCEPT`),
   * a rule is added to it, or its policy is set. Until then packets never meet
   * it (no counters, no trace lines), although iptables-save lists it.
   */
  registered?: boolean;
  /**
   * For a built-in chain: whether its base chain has policy counters. iptables-nft gives them
   * to a base chain declared by a restore (`:INPUT ACCEPT [0:0]`) or given a policy; one it
   * creates on the fly for `-A`/`-I` has none, and its `[p:b]` stays `[0:0]`.
   */
  policyCounters?: boolean;
  /**
   * Bumped by every change to `rules` (derived structures such as the traversal's jump index check it).
   * A change made in place outside a Ruleset must also bump ruleset.ts's rulesetEpoch: the traversal
   * keeps a chain's plan (for a jump target, and for a base chain a traversal starts from) for as long as the
   * epoch stays (traverse.ts ChainPlan.jc, TableStamp.starts).
   */
  gen?: number;
  /**
   * The chain may be referenced by several rulesets (handed over by
   * `Ruleset.replaceChains`, or shared between a ruleset and its clone): no
   * ruleset changes it in place — any change first gives that ruleset its own
   * copy (copy-on-write). Derived data keyed on the chain (the traversal's
   * jump index, the ruleset's per-chain summaries) is then computed once for
   * all its holders. Built-in chains are never shared (their policy counters
   * live here).
   */
  shared?: boolean;
  /** What the ruleset derives from `rules` (internal; checked against the rules array and `gen` before use). */
  info?: unknown;
  /** What the traversal derives from `rules` (internal, traverse.ts's ChainPlan; checked the same way). */
  plan?: unknown;
  /** Policy counters (the [p:b] in `:CHAIN POLICY [p:b]`); always 0 for user chains. */
  pkts: number;
  bytes: number;
  rules: Rule[];
}

export interface Table {
  name: TableName;
  /** Chains in creation order (iptables-save prints built-ins first, then user chains in this order). */
  chains: Map<string, Chain>;
  /**
   * This namespace's rule counters: for a chain object of `chains`, its
   * rules' counters by 0-based position. Sparse: only rules that matched a
   * packet (or were given counters by `iptables-restore -c`) have an entry.
   * Shared chains are never edited, so positions stay valid; the ruleset
   * moves the entries when it edits (or copies) one of its own chains.
   */
  counters: Map<Chain, Map<number, Counter>>;
  /** The traversal's stamp of this table at the current ruleset epoch (internal, traverse.ts's TableStamp). */
  stamp?: unknown;
}

/** An error in rule text, naming the source line as iptables-restore does. */
export class RuleError extends Error {
  constructor(readonly file: string, readonly line: number, readonly col: number, message: string, readonly expected?: string) {
    super(message);
    this.name = 'RuleError';
  }
  format(): string {
    return `${this.file}:${this.line}:${this.col}: error: ${this.message}${this.expected ? ` (expected ${this.expected})` : ''}`;
  }
}
