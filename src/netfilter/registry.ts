/**
 * The registry of iptables extensions: match modules (`-m NAME`) and targets
 * (`-j NAME`). Each module is one file under matches/ or targets/ exporting a
 * MatchModule/TargetModule: the long options it owns (so the rule parser can
 * hand each `--option` to the module that owns it, as xtables' getopt merge
 * does) and a parser turning those options into the runtime Match/Target.
 *
 * Contract: `parse` validates the options as iptables does and throws
 * `ModuleError` (message text like iptables', pointing at an option's token
 * when it can); it never silently ignores an option.
 */
import type { IpHeaderMatch, Match, TableName, Target } from './types.js';
import type { Token } from './tokens.js';
import type { IpsetRegistry } from './ipset-types.js';
export { ModuleError, onlyOnce, ruleProto, PROTO_BY_NAME, PROTO_NAME } from './tokens.js';

/** One option a module owns: its name without `--`, how many values follow it, whether `!` may precede it. */
export interface OptSpec {
  name: string;
  args: 0 | 1 | 2;
  invert?: boolean;
}

/** One option as written in the rule. */
export interface ParsedOpt {
  name: string;
  invert: boolean;
  values: string[];
  /** The option's own token and its value tokens (for error positions). */
  tok: Token;
  valueToks: Token[];
}

/** The options a module received, in rule order. */
export type OptionTokens = ParsedOpt[];

/** What a module parser may know about the rule around it. */
export interface ParseCtx {
  table: TableName;
  chain: string;
  /** The rule's header (-s/-d/-i/-o/-p/-f) as parsed so far (all of it: header options may come anywhere). */
  ip: IpHeaderMatch;
  /** The namespace's ipsets, when the caller has them (`-m set` then refuses sets that do not exist). */
  ipsets?: IpsetRegistry;
}

export interface MatchModule {
  name: string;
  options: readonly OptSpec[];
  parse(args: OptionTokens, ctx: ParseCtx): Match;
}

export interface TargetModule {
  name: string;
  options: readonly OptSpec[];
  parse(args: OptionTokens, ctx: ParseCtx): Target;
}

const matches = new Map<string, MatchModule>();
const targets = new Map<string, TargetModule>();

export function registerMatch(m: MatchModule): void { matches.set(m.name, m); }
export function registerTarget(t: TargetModule): void { targets.set(t.name, t); }
export function getMatch(name: string): MatchModule | undefined { return matches.get(name); }
export function getTarget(name: string): TargetModule | undefined { return targets.get(name); }
export function matchNames(): string[] { return [...matches.keys()].sort(); }
export function targetNames(): string[] { return [...targets.keys()].sort(); }

/** Implicit protocol matches: `-p tcp --dport 80` loads `-m tcp` on its own. */
export const IMPLICIT_MATCH: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };


import { tcpModule } from './matches/tcp.js';
import { udpModule } from './matches/udp.js';
import { sctpModule } from './matches/sctp.js';
import { icmpModule } from './matches/icmp.js';
import { multiportModule } from './matches/multiport.js';
import { commentModule } from './matches/comment.js';
import { markMatchModule } from './matches/mark.js';
import { connmarkModule } from './matches/connmark.js';
import { conntrackModule } from './matches/conntrack.js';
import { stateModule } from './matches/state.js';
import { statisticModule } from './matches/statistic.js';
import { recentModule } from './matches/recent.js';
import { physdevModule } from './matches/physdev.js';
import { addrtypeModule } from './matches/addrtype.js';
import { limitModule } from './matches/limit.js';
import { acceptModule, dropModule, returnModule } from './targets/standard.js';
import { rejectModule } from './targets/reject.js';
import { markTargetModule } from './targets/mark.js';
import { connmarkTargetModule } from './targets/connmark.js';
import { dnatModule } from './targets/dnat.js';
import { snatModule } from './targets/snat.js';
import { masqueradeModule } from './targets/masquerade.js';
import { redirectModule } from './targets/redirect.js';
import { notrackModule } from './targets/notrack.js';
import { ctModule } from './targets/ct.js';
import { logModule } from './targets/log.js';
import { traceModule } from './targets/trace.js';
import { setModule } from './matches/set.js';
import { nflogModule } from './targets/nflog.js';
import { ipvsModule } from './matches/ipvs.js';

for (const m of [tcpModule, udpModule, sctpModule, icmpModule, multiportModule, commentModule, markMatchModule, connmarkModule,
  conntrackModule, stateModule, statisticModule, recentModule, physdevModule, addrtypeModule, limitModule, setModule, ipvsModule]) registerMatch(m);
for (const t of [acceptModule, dropModule, returnModule, rejectModule, markTargetModule, connmarkTargetModule, dnatModule, snatModule,
  masqueradeModule, redirectModule, notrackModule, ctModule, logModule, traceModule, nflogModule]) registerTarget(t);
