/**
 * ipt_do_table: one table's chain for one hook, evaluated the way the kernel
 * does it — rules in order, first match wins; a rule matches when its header
 * part (-s -d -i -o -p -f) and every match module agree; then its counters
 * grow and its target decides: ACCEPT/DROP/STOLEN end the table, jumps push
 * a return point, gotos do not, RETURN (or the end of a user chain) pops, the
 * end of a built-in chain applies its policy (and counts it). Non-terminating
 * targets (MARK, LOG, CONNMARK …) go on with the next rule.
 *
 * The walk is linear like the kernel's, and every rule it looks at is counted
 * (`evaluated`), so traces and rule-evaluation counts are exact.
 *
 * Long chains get a jump index (traverse-index.ts, built lazily): each rule
 * is filed under one key the packet must have for the rule to match — its
 * `-d` or `-s` address under its mask, its exact `-i`/`-o` interface name,
 * its protocol and single `--dport`
 * (when only pure modules such as comment, physdev, mark come before the
 * port match), or its protocol — or under none (visited by every packet).
 * kube-proxy's KUBE-SERVICES is thousands of rules that differ by `-d VIP/32`
 * (KUBE-NODEPORTS by `-p P … --dport N`); kube-router's KUBE-ROUTER-FORWARD
 * is per pod `-d IP` and `-s IP` jumps, plain and `--physdev-is-bridged`.
 * For a packet, the index gives the next rule at or after position i that can
 * possibly match; the rules jumped over provably do not match and have no
 * side effects when evaluated (they fail in the header, before any module, or
 * at a port match preceded only by pure modules), so the walk adds them to
 * `evaluated` as the kernel would have evaluated them, and their counters and
 * traces stay untouched as in the linear walk. The index is keyed by the
 * chain's `rules` array (identity, length and the chain's `gen`), so a chain
 * shared by many namespaces (never changed in place: see Chain.shared) has
 * one index for all of them.
 *
 * Counters: the rule's in the table's `counters` (this namespace's, by chain
 * object and position), looked up only for rules that match; a built-in
 * chain's policy counters on the chain (built-in chains are never shared).
 *
 * The chain a jump finds (as its plan, per rule) and the Counters of the chain's
 * rules (one row per table) are cached on the plan for the last two tables that
 * walked it (a chain shared by two nodes' rulesets is walked by both in turn),
 * each stamped with the table's TableStamp — one object per table and ruleset
 * epoch, which every Ruleset change bumps (ruleset.ts: rulesetEpoch); so no map
 * lookup per packet while the rules stay as they are.
 */
import type { Chain, Counter, IpHeaderMatch, Match, PacketCtx, Rule, Table, TargetVerdict } from './types.js';
import { chainIndex, traverseTuning, type ChainIndex } from './traverse-index.js';
import { CommentMatch } from './matches/comment.js';
import { ConntrackMatch, packetStateBits } from './matches/conntrack.js';
import { MarkMatch } from './matches/mark.js';
import { UdpMatch } from './matches/udp.js';
import { TcpMatch } from './matches/tcp.js';
import { ChainTarget, VerdictTarget } from './targets/standard.js';
import { rulesetEpoch } from './ruleset.js';

export { ChainIndex, chainIndex, ruleKeys, traverseTuning, type RuleKey } from './traverse-index.js';

/** The outcome of a table traversal. */
export interface TableVerdict {
  verdict: 'accept' | 'drop' | 'stolen';
  /** Rules whose matches were evaluated (the kernel's linear cost). */
  evaluated: number;
}

/** Trace callbacks (only called when tracing is on). */
export interface TraverseTrace {
  /** A rule matched: its chain, 1-based number, and what the target said. */
  rule(p: PacketCtx, chain: Chain, num: number, rule: Rule, v: TargetVerdict): void;
  /** A built-in chain's policy applied. */
  policy(p: PacketCtx, chain: Chain): void;
  /** A user chain ended without a verdict (implicit RETURN). */
  fallthrough(p: PacketCtx, chain: Chain): void;
}

const MAX_DEPTH = 64; // XT_MAX_JUMP-like guard; the ruleset refuses loops, so this only protects against bugs

/** Does the fixed ipt_entry part match? */
export function headerMatches(h: IpHeaderMatch, p: PacketCtx): boolean {
  if (h.src && ((((p.saddr & h.src.mask) >>> 0) === h.src.addr) === h.src.invert)) return false;
  if (h.dst && ((((p.daddr & h.dst.mask) >>> 0) === h.dst.addr) === h.dst.invert)) return false;
  if (h.inIface && ifaceMatches(h.inIface.name, p.inDev ? p.inDev.name : '') === h.inIface.invert) return false;
  if (h.outIface && ifaceMatches(h.outIface.name, p.outDev ? p.outDev.name : '') === h.outIface.invert) return false;
  if (h.proto && h.proto.num !== 0 && (p.proto === h.proto.num) === h.proto.invert) return false;
  if (h.frag && (p.fragOff !== 0) === h.frag.invert) return false;
  return true;
}

/**
 * A rule's header (IpHeaderMatch) in one object shape for every rule, tested
 * exactly as headerMatches does. Rules' IpHeaderMatch objects come in as many
 * shapes as there are combinations of options, which makes the loads in
 * headerMatches megamorphic; the traversal uses these instead (chainHeaders).
 */
class Header {
  private readonly src: boolean; private readonly srcAddr: number; private readonly srcMask: number; private readonly srcInvert: boolean;
  private readonly dst: boolean; private readonly dstAddr: number; private readonly dstMask: number; private readonly dstInvert: boolean;
  private readonly inName: string | null; private readonly inInvert: boolean;
  private readonly outName: string | null; private readonly outInvert: boolean;
  /** 0: any protocol (no -p, or -p all). */
  private readonly proto: number; private readonly protoInvert: boolean;
  private readonly frag: boolean; private readonly fragInvert: boolean;

  constructor(h: IpHeaderMatch) {
    this.src = h.src !== undefined; this.srcAddr = h.src?.addr ?? 0; this.srcMask = h.src?.mask ?? 0; this.srcInvert = h.src?.invert ?? false;
    this.dst = h.dst !== undefined; this.dstAddr = h.dst?.addr ?? 0; this.dstMask = h.dst?.mask ?? 0; this.dstInvert = h.dst?.invert ?? false;
    this.inName = h.inIface ? h.inIface.name : null; this.inInvert = h.inIface?.invert ?? false;
    this.outName = h.outIface ? h.outIface.name : null; this.outInvert = h.outIface?.invert ?? false;
    this.proto = h.proto ? h.proto.num : 0; this.protoInvert = h.proto?.invert ?? false;
    this.frag = h.frag !== undefined; this.fragInvert = h.frag?.invert ?? false;
  }

  /** No -s -d -i -o -p -f at all: every packet passes (the plan keeps null instead). */
  get empty(): boolean {
    return !this.src && !this.dst && this.inName === null && this.outName === null && this.proto === 0 && !this.frag;
  }

  matches(p: PacketCtx): boolean {
    if (this.src && ((((p.saddr & this.srcMask) >>> 0) === this.srcAddr) === this.srcInvert)) return false;
    if (this.dst && ((((p.daddr & this.dstMask) >>> 0) === this.dstAddr) === this.dstInvert)) return false;
    if (this.inName !== null && ifaceMatches(this.inName, p.inDev ? p.inDev.name : '') === this.inInvert) return false;
    if (this.outName !== null && ifaceMatches(this.outName, p.outDev ? p.outDev.name : '') === this.outInvert) return false;
    if (this.proto !== 0 && (p.proto === this.proto) === this.protoInvert) return false;
    if (this.frag && (p.fragOff !== 0) === this.fragInvert) return false;
    return true;
  }
}

/** Target kinds a ChainPlan decides without calling the target (standard targets are pure constants). */
const T_NONE = 0, T_ACCEPT = 1, T_DROP = 2, T_RETURN = 3, T_JUMP = 4, T_GOTO = 5, T_OTHER = 6;

/** In ChainPlan.ctState: the --ctstate test is inverted. */
const CT_INVERT = 0x10000;

/**
 * What the traversal derives from a chain's rules, kept on the chain (`Chain.plan`) and
 * checked against its rules array, length and `gen` as the jump index is (a chain shared
 * by many namespaces has one plan): each rule's Header (null when it tests nothing); a
 * leading `-m conntrack --ctstate S` with no other option (kube-proxy's) as its state bits
 * (| CT_INVERT for `!`; 0: none), tested inline as conntrack_mt does; its other match
 * modules without the `comment` ones (which always match and have no side effects), null
 * when none is left; and its target as a kind, with the chain name for a jump or goto.
 * Every rule is still visited and counted in order, its modules in their order; only the
 * dispatch is cheaper.
 */
class ChainPlan {
  constructor(
    /** The chain this plan was built for (one plan per chain object: `Chain.plan`). */
    readonly chain: Chain,
    readonly rules: readonly Rule[],
    readonly len: number,
    readonly gen: number,
    readonly headers: readonly (Header | null)[],
    readonly ctState: Int32Array,
    readonly matches: readonly (readonly Match[] | null)[],
    readonly kinds: Uint8Array,
    readonly jumps: readonly (string | null)[],
    /** Per rule: 1 when evaluating it depends on nothing but a WalkMemo key and has no effect but its counter and verdict. */
    readonly memoSafe: Uint8Array,
  ) {
    this.user = chain.policy === null;
    let jumpy = false;
    for (let k = 0; k < len; k++) if (jumps[k] !== null) { jumpy = true; break; }
    this.jc = jumpy ? new Array<TableStamp | ChainPlan | null>(4 * len).fill(null) : null;
  }
  /**
   * A user chain (no policy). Fixed for a chain object: built-in chains are made with a
   * policy and keep one, user chains never get one.
   */
  readonly user: boolean;
  /**
   * Per rule k, two cache slots (the first the most recent) of the chain its jump/goto
   * found, as that chain's plan: at 4k, 4k+1 the table's stamp and the plan, at 4k+2, 4k+3
   * the other slot (null when no rule jumps). One array per plan, not one per field: a
   * 5,000-node run has a plan for every walked built-in chain of every node.
   *
   * The plan, not the chain: Chain objects come in many hidden classes (their optional
   * fields are added in different orders by different paths, and by other agents' code),
   * so every `chain.plan`, `chain.rules`, `chain.gen` read on entering a chain was a
   * megamorphic load (issue 9: ~3 % of the e2e bench). A plan found through a stamp of the
   * current ruleset epoch is still the chain's valid plan: every change to a chain's rules
   * is a Ruleset method, which bumps the epoch first.
   */
  readonly jc: (TableStamp | ChainPlan | null)[] | null;
  /**
   * Two slots (the first the most recent) of a table's stamp and that table's Counters of
   * the chain's rules by position (undefined until the rule first matches in the table):
   * found once on entering the chain, so a matching rule's Counter is one array load
   * (issue 9: a per-rule two-slot check was ~2 % of the e2e bench). The chain needs no
   * key of its own: a plan belongs to one chain object (chainPlan checks `plan.chain`).
   * At most two rows per epoch (see counterRow): other tables use their counters maps.
   */
  rs0: TableStamp | null = null;
  rc0: (Counter | undefined)[] | null = null;
  rs1: TableStamp | null = null;
  rc1: (Counter | undefined)[] | null = null;
  /** For a chain traversals start from (a built-in chain): its WalkMemo slots, valid for the table of `memoStamp`. */
  memoStamp: TableStamp | null = null;
  memo: (MemoEntry | null)[] | null = null;
  /** Walks from this chain since the memo last answered one; and walks still to go without the memo (see MEMO_PROBE). */
  memoMisses = 0;
  memoSkip = 0;
}

/**
 * What jumpPlan gives for a jump to an empty user chain (which returns at once). It cannot be
 * the chain the traversal started from: an empty chain jumps nowhere, so no chain the walk is
 * in can be reached from it.
 */
const EMPTY_JUMP = new ChainPlan({ name: '', policy: null, pkts: 0, bytes: 0, rules: [] }, [], 0, 0, [], new Int32Array(0), [], new Uint8Array(0), [], new Uint8Array(0));

/**
 * A table as of one ruleset epoch: compared by identity, it stands for both (a new one is
 * made when the epoch moved on), so a cache slot is checked with one comparison.
 */
class TableStamp {
  constructor(readonly epoch: number) {}
  /**
   * The plans of the built-in chains traversals of this table started from (at most one per
   * hook), found by identity: a base chain's plan is looked up on its chain once per epoch,
   * not once per packet (the chain's own fields are megamorphic loads; see ChainPlan.jc).
   */
  readonly starts: Chain[] = [];
  readonly startPlans: ChainPlan[] = [];
}

/** The plan of `start` (the chain a traversal begins with) in the table of stamp `st`. */
function startPlanOf(st: TableStamp, start: Chain): ChainPlan {
  const a = st.starts;
  for (let k = 0; k < a.length; k++) if (a[k] === start) return st.startPlans[k];
  const plan = chainPlan(start);
  a.push(start);
  st.startPlans.push(plan);
  return plan;
}

function stampOf(table: Table): TableStamp {
  const s = table.stamp as TableStamp | undefined;
  const ep = rulesetEpoch.v;
  if (s !== undefined && s.epoch === ep) return s;
  const n = new TableStamp(ep);
  table.stamp = n;
  return n;
}

/**
 * The plan's row of Counters in the table of stamp `st` (see ChainPlan.rs0), made empty when
 * the table has none yet; null when both slots hold rows of other tables at this epoch. A new
 * row takes the older slot only when that one is free (never used, or of an older epoch): a
 * chain shared by many tables (kube-proxy's, across nodes) walked by them in turn would
 * otherwise get a new row, as long as the chain, on every traversal; the third and later
 * tables look each matching rule's Counter up in their counters map instead (tableCounter).
 * So at most two rows per plan and epoch.
 */
function counterRow(plan: ChainPlan, st: TableStamp): (Counter | undefined)[] | null {
  if (plan.rs0 === st) return plan.rc0!;
  if (plan.rs1 === st) return plan.rc1!;
  // rs0 was filled after rs1, so its epoch is no older: rs1 is the one to take.
  const s1 = plan.rs1;
  if (s1 !== null && s1.epoch === st.epoch) return null;
  const row = new Array<Counter | undefined>(plan.len).fill(undefined);
  plan.rs1 = plan.rs0; plan.rc1 = plan.rc0;
  plan.rs0 = st; plan.rc0 = row;
  return row;
}

/** Rule k's Counter in this table (created at zero when it has none). */
function tableCounter(k: number, chain: Chain, counters: Map<Chain, Map<number, Counter>>): Counter {
  let m = counters.get(chain);
  if (m === undefined) { m = new Map(); counters.set(chain, m); }
  let e = m.get(k);
  if (e === undefined) { e = { pkts: 0, bytes: 0 }; m.set(k, e); }
  return e;
}

/** tableCounter, kept in the row for the next packets. */
function newRuleCounter(row: (Counter | undefined)[], k: number, chain: Chain, counters: Map<Chain, Map<number, Counter>>): Counter {
  const e = tableCounter(k, chain, counters);
  row[k] = e;
  return e;
}

/** The plan of the chain rule k's jump/goto (to the plan's `jumps[k]`) finds in this table, through the plan's cache. */
function jumpPlan(plan: ChainPlan, k: number, st: TableStamp, table: Table): ChainPlan | undefined {
  const a = plan.jc!, b = 4 * k;
  if (a[b] === st) return a[b + 1] as ChainPlan;
  if (a[b + 2] === st) return a[b + 3] as ChainPlan;
  const c = table.chains.get(plan.jumps[k]!);
  // A missing chain (refused at load time) is not cached.
  if (c === undefined) return undefined;
  const np = chainPlan(c);
  a[b + 2] = a[b]; a[b + 3] = a[b + 1];
  // A jump (not a goto) to an empty user chain is kept as EMPTY_JUMP: the walk then goes on
  // without loading the target's plan (kube-proxy jumps to up to three empty chains per hook).
  a[b] = st; a[b + 1] = np.len === 0 && np.user && plan.kinds[k] === T_JUMP ? EMPTY_JUMP : np;
  return a[b + 1] as ChainPlan;
}

/** The plan's chain's jump index (null for short chains: no look at the chain then). */
function planIndex(plan: ChainPlan): ChainIndex | null {
  if (plan.len === 0 || plan.len < traverseTuning.indexMinRules) return null;
  return chainIndex(plan.chain);
}

/** The chain's plan (small, so that the walk inlines it; building is in buildPlan). */
function chainPlan(chain: Chain): ChainPlan {
  const pl = chain.plan as ChainPlan | undefined;
  const rules = chain.rules;
  // `pl.chain`: a copy of a chain (ruleset.ts copyChain spreads it) carries the original's plan.
  if (pl !== undefined && pl.chain === chain && pl.rules === rules && pl.len === rules.length && pl.gen === (chain.gen ?? 0)) return pl;
  return buildPlan(chain);
}

function buildPlan(chain: Chain): ChainPlan {
  const rules = chain.rules, gen = chain.gen ?? 0;
  const n = rules.length;
  const headers: (Header | null)[] = new Array<Header | null>(n);
  const ctState = new Int32Array(n);
  const matches: (readonly Match[] | null)[] = new Array<readonly Match[] | null>(n);
  const kinds = new Uint8Array(n);
  const memoSafe = new Uint8Array(n);
  const jumps: (string | null)[] = new Array<string | null>(n).fill(null);
  for (let k = 0; k < n; k++) {
    const r = rules[k];
    const h = new Header(r.ip);
    headers[k] = h.empty ? null : h;
    let ms = r.matches.filter((m) => !(m instanceof CommentMatch));
    const st = ms.length !== 0 && ms[0] instanceof ConntrackMatch ? ms[0].pureState() : null;
    if (st !== null && st.bits !== 0) {
      ctState[k] = st.bits | (st.invert ? CT_INVERT : 0);
      ms = ms.slice(1);
    }
    matches[k] = ms.length === 0 ? null : ms;
    const t = r.target;
    if (t === null) kinds[k] = T_NONE;
    else if (t instanceof VerdictTarget) kinds[k] = t.name === 'ACCEPT' ? T_ACCEPT : t.name === 'DROP' ? T_DROP : T_RETURN;
    else if (t instanceof ChainTarget) {
      const v = t.verdict as { kind: 'jump' | 'goto'; chain: string };
      kinds[k] = v.kind === 'goto' ? T_GOTO : T_JUMP;
      jumps[k] = v.chain;
    } else kinds[k] = T_OTHER;
    memoSafe[k] = kinds[k] !== T_OTHER && ms.every(memoSafeMatch) ? 1 : 0;
  }
  const plan = new ChainPlan(chain, rules, n, gen, headers, ctState, matches, kinds, jumps, memoSafe);
  chain.plan = plan;
  return plan;
}

/** Does every match module of the rule agree (in order, stopping at the first that does not)? */
function matchesAll(ms: readonly Match[], p: PacketCtx): boolean {
  for (let k = 0; k < ms.length; k++) if (!ms[k].matches(p)) return false;
  return true;
}

/** iptables interface names: exact, or a prefix when the pattern ends with '+'. No device matches nothing but ''. */
export function ifaceMatches(pattern: string, name: string): boolean {
  if (pattern.endsWith('+')) return name !== '' && name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}

/** Verdicts of traverseChain, equal to the kernel hook verdicts (NfVerdict: DROP 0, ACCEPT 1, STOLEN 2). */
export const V_DROP = 0, V_ACCEPT = 1, V_STOLEN = 2;

/** The last traverseChain's count of rules evaluated (the kernel's linear cost); read right after the call. */
export const traverseStats = { evaluated: 0 };

/** A built-in chain's policy decides: count it, trace it, return its verdict. */
function applyPolicy(c: Chain, p: PacketCtx, bytes: number, trace: TraverseTrace | null, evaluated: number, rec: WalkRecord | null): number {
  // A base chain iptables-nft created on the fly for a rule (-A/-I without `:CHAIN POLICY [p:b]`)
  // has no kernel counters: its policy counts stay [0:0] (seen on the kernel with kube-proxy's -I jumps).
  if (c.policyCounters) {
    c.pkts++;
    c.bytes += bytes;
    if (rec !== null) rec.policy = c;
  }
  if (trace) trace.policy(p, c);
  traverseStats.evaluated = evaluated;
  return c.policy === 'DROP' ? V_DROP : V_ACCEPT;
}

const VERDICT_NAMES = ['drop', 'accept', 'stolen'] as const;

/** traverseChain from the table's built-in chain `hookChain`, as an object (tests and tools). */
export function traverseTable(table: Table, hookChain: string, p: PacketCtx, trace: TraverseTrace | null): TableVerdict {
  const start = table.chains.get(hookChain);
  if (!start) return { verdict: 'accept', evaluated: 0 };
  const v = traverseChain(table, start, p, trace);
  return { verdict: VERDICT_NAMES[v], evaluated: traverseStats.evaluated };
}

/**
 * Runs the table from its built-in chain `start`: V_ACCEPT, V_DROP or V_STOLEN, with the
 * number of rules evaluated in traverseStats.evaluated. No allocation unless a jump needs
 * a return stack.
 */
export function traverseChain(table: Table, start: Chain, p: PacketCtx, trace: TraverseTrace | null): number {
  const sp0 = sp;
  const rd = recDepth;
  try {
    return trace === null && walkMemoTuning.on ? memoWalk(table, start, p, sp0) : walk(table, start, p, trace, sp0, null);
  } finally {
    sp = sp0;
    recDepth = rd;
  }
}

// ───────────────────────── the walk memo ─────────────────────────

/**
 * The walk memo: a traversal that looked only at what its key holds remembers its outcome.
 *
 * A packet of a flow walks a table's chain the same way as the flow's previous packet
 * whenever every rule it evaluates decides by the packet's addresses, protocol, ports,
 * fragment flag, in/out device (and its name), mark and --ctstate bits, with no effect but
 * its counters: header matches, `--ctstate` alone, `-m mark`, `-m udp`, `-m tcp` on ports,
 * comments, and the standard targets (ACCEPT, DROP, RETURN, jumps and gotos). Such a walk's
 * outcome is a function of that key and the rules: the Counters of the rules that matched
 * (each grows by one packet and its bytes), the built-in chain whose policy decided (its
 * counters grow likewise), the verdict, and the number of rules evaluated (the kernel's
 * linear count, still reported). A walk that evaluates any other rule (a set, an addrtype,
 * a statistic, a limit, a target with effects, …) is not remembered.
 *
 * Remembered per built-in chain and table stamp (TableStamp: every Ruleset change, counter
 * zeroing included, makes a new one), in a few direct-mapped slots. Only untraced walks use
 * it: a traced walk reports every rule, so it walks. A flow of packets through kube-proxy's
 * and flannel's FORWARD and OUTPUT rules (issue 9's e2e bench) evaluates ~7 rules per walk;
 * a hit compares the key and grows the counters instead.
 */
export const walkMemoTuning = { on: true };

const MEMO_SLOTS = 8;
/**
 * After MEMO_PROBE walks from a chain in a row that the memo could not answer (every packet a
 * new flow, or walks it may not remember: Calico's sets, kube-proxy's statistic), the next
 * MEMO_SKIP walks do without it, then it is tried again: looking up and recording cost such
 * walks ~6 % (calico.felix.packets.syn), now about an eighth of that.
 */
const MEMO_PROBE = 32, MEMO_SKIP = 224;

function memoSafeMatch(m: Match): boolean {
  if (m instanceof ConntrackMatch) return m.pureState() !== null;
  if (m instanceof MarkMatch) return m.name === 'mark';
  if (m instanceof UdpMatch) return true;
  if (m instanceof TcpMatch) return m.flags === null && m.option === null;
  return false;
}

/**
 * One remembered walk: its key (see walkMemoTuning), and its outcome. A slot's entry is
 * rewritten in place by the next walk remembered there: a stream of new flows (first packets
 * at a Service) misses every time, and allocating per miss made those packets ~30 % slower.
 */
class MemoEntry {
  saddr = 0; daddr = 0; proto = 0; sport = 0; dport = 0; fragOff = 0; l4 = false; mark = 0; stBits = 0;
  inDev: object | null = null; inName = ''; outDev: object | null = null; outName = '';
  verdict = 0; evaluated = 0;
  /** The Counters that grow, counters[0 .. n) (the array is kept: no allocation when the slot is rewritten). */
  readonly counters: Counter[] = [];
  n = 0;
  policy: Chain | null = null;

  holds(p: PacketCtx, stBits: number): boolean {
    return this.saddr === p.saddr && this.daddr === p.daddr && this.sport === p.sport && this.dport === p.dport &&
      this.proto === p.proto && this.stBits === stBits && this.mark === p.skb.mark && this.fragOff === p.fragOff &&
      this.l4 === (p.l4 >= 0) && this.inDev === p.inDev && this.outDev === p.outDev &&
      (p.inDev === null || this.inName === p.inDev.name) && (p.outDev === null || this.outName === p.outDev.name);
  }

  /** Becomes the walk of `p` (as it was before the walk: mark `mark`) that `rec` recorded. */
  set(p: PacketCtx, mark: number, stBits: number, rec: WalkRecord, verdict: number, evaluated: number): void {
    this.saddr = p.saddr; this.daddr = p.daddr; this.proto = p.proto; this.sport = p.sport; this.dport = p.dport;
    this.fragOff = p.fragOff; this.l4 = p.l4 >= 0; this.mark = mark; this.stBits = stBits;
    const inDev = p.inDev, outDev = p.outDev;
    this.inDev = inDev; this.inName = inDev === null ? '' : inDev.name;
    this.outDev = outDev; this.outName = outDev === null ? '' : outDev.name;
    this.verdict = verdict; this.evaluated = evaluated;
    const from = rec.counters, to = this.counters, n = rec.n;
    for (let k = 0; k < n; k++) to[k] = from[k];
    this.n = n;
    this.policy = rec.policy;
  }
}

/** What a walk being remembered did: filled by walk() when given one. */
class WalkRecord {
  pure = true;
  /** counters[0 .. n): kept, not truncated (setting an array's length to 0 drops its backing store). */
  readonly counters: Counter[] = [];
  n = 0;
  policy: Chain | null = null;
  reset(): this {
    this.pure = true;
    this.n = 0;
    this.policy = null;
    return this;
  }
}

/** WalkRecords by nesting depth (a walk's target may run another traversal, which records on its own). */
const records: WalkRecord[] = [];
let recDepth = 0;

function memoWalk(table: Table, start: Chain, p: PacketCtx, sp0: number): number {
  const st = stampOf(table);
  const plan = startPlanOf(st, start);
  if (plan.memoSkip > 0) {
    plan.memoSkip--;
    return walk(table, start, p, null, sp0, null);
  }
  let memo = plan.memo;
  if (plan.memoStamp !== st || memo === null) {
    memo = plan.memo = new Array<MemoEntry | null>(MEMO_SLOTS).fill(null);
    plan.memoStamp = st;
  }
  const stBits = packetStateBits(p);
  const slot = Math.imul(p.saddr ^ Math.imul(p.daddr, 0x9e3779b1) ^ Math.imul(p.sport * 0x10000 + p.dport, 0x85ebca6b) ^ p.proto, 0xc2b2ae35) >>> 29;
  const e = memo[slot];
  if (e !== null && e.holds(p, stBits)) {
    const bytes = p.skb.len - (p.skb.nh - p.skb.data);
    const cs = e.counters, n = e.n;
    for (let k = 0; k < n; k++) { const c = cs[k]; c.pkts++; c.bytes += bytes; }
    const pc = e.policy;
    if (pc !== null) { pc.pkts++; pc.bytes += bytes; }
    traverseStats.evaluated = e.evaluated;
    plan.memoMisses = 0;
    return e.verdict;
  }
  if (++plan.memoMisses >= MEMO_PROBE) {
    plan.memoMisses = 0;
    plan.memoSkip = MEMO_SKIP;
  }
  // The key as the walk found the packet (a walk that is remembered changes none of it).
  const mark = p.skb.mark;
  const d = recDepth++;
  if (d === records.length) records.push(new WalkRecord());
  const rec = records[d].reset();
  const v = walk(table, start, p, null, sp0, rec); // (traverseChain puts recDepth back)
  if (rec.pure && v !== V_STOLEN) (e ?? (memo[slot] = new MemoEntry())).set(p, mark, stBits, rec, v, traverseStats.evaluated);
  return v;
}

/**
 * The return stack of every traversal in progress, shared: a traversal pushes above `sp` as
 * it was when it began (a target may run a nested traversal, e.g. REJECT's ICMP error through
 * OUTPUT, which pushes above it and is gone before the outer one goes on). No array per packet.
 */
const stackPlans: ChainPlan[] = [];
const stackIdx: number[] = [];
let sp = 0;

/*
 * The walk holds the current chain's plan, not the chain: the chain object is read through
 * `plan.chain` (one hidden class) only for a matching rule's counter cache and traces, and
 * jumps, returns and ends of chains are decided from the plan (see ChainPlan.jc).
 */
function walk(table: Table, start: Chain, p: PacketCtx, trace: TraverseTrace | null, sp0: number, rec: WalkRecord | null): number {
  let evaluated = 0;
  // Counters count the IP packet (skb->len at the IP layer), not the Ethernet frame around it.
  const bytes = p.skb.len - (p.skb.nh - p.skb.data);
  const st = stampOf(table);
  const startPlan = startPlanOf(st, start);
  let plan = startPlan;
  let ix = planIndex(plan);
  let i = 0;
  const counters = table.counters;
  let row = counterRow(plan, st);
  /**
   * The packet's --ctstate bits (packetStateBits), computed at the first inline --ctstate test
   * and kept for the next ones (kube-proxy's FORWARD and OUTPUT test it in three or four rules);
   * -1: not known. Only a target's code can change what they come from (a NAT target sets the
   * entry's NAT status), so a target other than a standard one that lets the walk go on forgets them.
   */
  let stBits = -1;
  for (;;) {
    if (ix !== null && i < ix.len) {
      // Jump over rules that cannot match, counting them as the kernel's linear walk evaluates them.
      const j = ix.next(p, i);
      evaluated += j - i;
      i = j;
    }
    if (i >= plan.len) {
      // End of the built-in chain: its policy.
      if (plan === startPlan || !plan.user) return applyPolicy(plan.user ? start : plan.chain, p, bytes, trace, evaluated, rec);
      if (trace) trace.fallthrough(p, plan.chain);
      // A goto'd user chain ran out with nothing to return to: the built-in chain's policy.
      if (sp === sp0) return applyPolicy(start, p, bytes, trace, evaluated, rec);
      sp--;
      plan = stackPlans[sp];
      i = stackIdx[sp];
      ix = planIndex(plan);
      row = counterRow(plan, st);
      continue;
    }
    const k = i++;
    evaluated++;
    if (rec !== null && plan.memoSafe[k] === 0) rec.pure = false;
    const h = plan.headers[k];
    if (h !== null && !h.matches(p)) continue;
    const cs = plan.ctState[k];
    if (cs !== 0) {
      if (stBits < 0) stBits = packetStateBits(p);
      // conntrack_mt's --ctstate test (ConntrackMatch does the same with packetStateBits).
      if (((stBits & cs) !== 0) === ((cs & CT_INVERT) !== 0)) continue;
    }
    const ms = plan.matches[k];
    if (ms !== null && !matchesAll(ms, p)) continue;
    // This namespace's counters of the rule (by chain object and position: a rule object may be shared).
    const e = row !== null ? row[k] ?? newRuleCounter(row, k, plan.chain, counters) : tableCounter(k, plan.chain, counters);
    e.pkts++;
    e.bytes += bytes;
    if (rec !== null) rec.counters[rec.n++] = e;
    let kind = plan.kinds[k];
    if (kind === T_NONE) continue;
    /** A jump or goto decided by a target's run (the plan's own ones are found through its cache). */
    let target: string | null = null;
    if (kind === T_OTHER) {
      const rule = plan.rules[k];
      const v = rule.target!.run(p);
      stBits = -1;
      if (trace) trace.rule(p, plan.chain, i, rule, v);
      switch (v.kind) {
        case 'continue': continue;
        case 'accept': kind = T_ACCEPT; break;
        case 'drop': kind = T_DROP; break;
        case 'stolen': traverseStats.evaluated = evaluated; return V_STOLEN;
        case 'return': kind = T_RETURN; break;
        case 'jump': kind = T_JUMP; target = v.chain; break;
        case 'goto': kind = T_GOTO; target = v.chain; break;
      }
    } else if (trace) {
      const rule = plan.rules[k];
      trace.rule(p, plan.chain, i, rule, rule.target!.run(p));
    }
    switch (kind) {
      case T_ACCEPT:
        traverseStats.evaluated = evaluated;
        return V_ACCEPT;
      case T_DROP:
        traverseStats.evaluated = evaluated;
        return V_DROP;
      case T_RETURN:
        // RETURN in a built-in chain (or a goto'd chain with nothing below): the policy.
        if (sp === sp0) return applyPolicy(start, p, bytes, trace, evaluated, rec);
        sp--;
        plan = stackPlans[sp];
        i = stackIdx[sp];
        ix = planIndex(plan);
        row = counterRow(plan, st);
        continue;
      default: {
        // T_JUMP or T_GOTO.
        let next: ChainPlan | undefined;
        if (target === null) next = jumpPlan(plan, k, st, table);
        else {
          const c = table.chains.get(target);
          next = c === undefined ? undefined : chainPlan(c);
        }
        // Refused at load time; never reached.
        if (next === undefined) { traverseStats.evaluated = evaluated; return V_DROP; }
        if (kind === T_JUMP) {
          if (sp - sp0 >= MAX_DEPTH) { traverseStats.evaluated = evaluated; return V_DROP; }
          if (next === EMPTY_JUMP) {
            if (trace) trace.fallthrough(p, table.chains.get(plan.jumps[k]!)!);
            continue;
          }
          if (next.len === 0 && next.user && next !== startPlan) {
            // An empty user chain returns at once (kube-proxy's KUBE-SERVICES and friends while
            // nothing is in them): its implicit RETURN without the push and pop.
            if (trace) trace.fallthrough(p, next.chain);
            continue;
          }
          stackPlans[sp] = plan;
          stackIdx[sp] = i;
          sp++;
        }
        plan = next;
        ix = planIndex(plan);
        row = counterRow(plan, st);
        i = 0;
        continue;
      }
    }
  }
}
