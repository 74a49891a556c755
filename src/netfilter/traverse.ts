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
 * Long chains get a jump index (ChainIndex, built lazily): kube-proxy's
 * KUBE-SERVICES is thousands of rules that differ only by `-d VIP/32` (or, in
 * KUBE-NODEPORTS, by `-p P … --dport N`). For a packet, the index gives the
 * next rule at or after position i that can possibly match; the rules jumped
 * over provably do not match and have no side effects when evaluated (their
 * header fails, or only side-effect-free `-m comment` precedes the failing
 * port match), so the walk adds them to `evaluated` as the kernel would have
 * evaluated them, and their counters and traces stay untouched as in the
 * linear walk. The index is keyed by the chain's `rules` array (identity,
 * length and the chain's `gen`), so a chain shared by many namespaces
 * (never changed in place: see Chain.shared) has one index for all of them.
 *
 * Counters: the rule's in the table's `counters` (this namespace's, by chain
 * object and position), looked up only for rules that match; a built-in
 * chain's policy counters on the chain (built-in chains are never shared).
 */
import type { Chain, Counter, IpHeaderMatch, PacketCtx, Rule, Table, TargetVerdict } from './types.js';
import { CommentMatch } from './matches/comment.js';
import { TcpMatch } from './matches/tcp.js';
import { UdpMatch } from './matches/udp.js';

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

/** iptables interface names: exact, or a prefix when the pattern ends with '+'. No device matches nothing but ''. */
export function ifaceMatches(pattern: string, name: string): boolean {
  if (pattern.endsWith('+')) return name !== '' && name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}

/** Tuning knobs (tests turn the index off with `indexMinRules: Infinity`, or force it with 0). */
export const traverseTuning = {
  /** Chains with at least this many rules get a jump index. */
  indexMinRules: 24,
};

/**
 * Where a rule can match, for the index: its exact `-d` address, else its
 * (protocol, single destination port), else anywhere. A rule is given a port
 * key only when its header has `-p` (not inverted) and its first match module
 * other than `-m comment` is that protocol's port match with one
 * non-inverted --dport, so a packet with another (proto, dport) fails it
 * before any module with side effects (statistic, recent, limit, set …) runs.
 */
function ruleKey(r: Rule): { dst: number } | { port: number } | null {
  const h = r.ip;
  if (h.dst && !h.dst.invert && h.dst.mask >>> 0 === 0xffffffff) return { dst: h.dst.addr >>> 0 };
  if (!h.proto || h.proto.invert || h.proto.num === 0) return null;
  for (const m of r.matches) {
    if (m instanceof CommentMatch) continue;
    if (m instanceof TcpMatch || m instanceof UdpMatch) {
      const d = m.dport;
      if (d && !d.invert && d.lo === d.hi) return { port: portKey(h.proto.num, d.lo) };
    }
    return null;
  }
  return null;
}

function portKey(proto: number, dport: number): number {
  return proto * 0x10000 + dport;
}

/** Positions (ascending) of a chain's rules by what they can match. */
export class ChainIndex {
  constructor(
    readonly len: number,
    /** The chain's `gen` when built (in-place edits through the Ruleset bump it). */
    readonly gen: number,
    private readonly byDst: Map<number, Int32Array>,
    private readonly byPort: Map<number, Int32Array>,
    private readonly generic: Int32Array,
  ) {}

  static build(rules: readonly Rule[], genArg = 0): ChainIndex {
    const chainGen = genArg;
    const dst = new Map<number, number[]>(), port = new Map<number, number[]>(), gen: number[] = [];
    for (let i = 0; i < rules.length; i++) {
      const k = ruleKey(rules[i]);
      if (k === null) { gen.push(i); continue; }
      const [m, key] = 'dst' in k ? [dst, k.dst] : [port, k.port];
      const l = m.get(key);
      if (l) l.push(i);
      else m.set(key, [i]);
    }
    const pack = (m: Map<number, number[]>) => new Map([...m].map(([k, v]) => [k, Int32Array.from(v)]));
    return new ChainIndex(rules.length, chainGen, pack(dst), pack(port), Int32Array.from(gen));
  }

  /** The first position ≥ i whose rule can match `p` (len when none). */
  next(p: PacketCtx, i: number): number {
    let best = firstAtLeast(this.generic, i, this.len);
    if (best === i) return i;
    const d = this.byDst.get(p.daddr >>> 0);
    if (d !== undefined) best = firstAtLeast(d, i, best);
    if (this.byPort.size !== 0) {
      const q = this.byPort.get(portKey(p.proto, p.dport));
      if (q !== undefined) best = firstAtLeast(q, i, best);
    }
    return best;
  }
}

/** min(best, the first element of ascending `a` that is ≥ i). */
function firstAtLeast(a: Int32Array, i: number, best: number): number {
  let hi = a.length;
  if (hi === 0 || a[hi - 1] < i) return best;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < i) lo = mid + 1;
    else hi = mid;
  }
  const v = a[lo];
  return v < best ? v : best;
}

const indexes = new WeakMap<readonly Rule[], ChainIndex>();

/** The chain's jump index (null for short chains), rebuilt when its rules array or its `gen` changes. */
export function chainIndex(chain: Chain): ChainIndex | null {
  const rules = chain.rules;
  if (rules.length < traverseTuning.indexMinRules || rules.length === 0) return null;
  let ix = indexes.get(rules);
  if (ix === undefined || ix.len !== rules.length || ix.gen !== (chain.gen ?? 0)) {
    ix = ChainIndex.build(rules, chain.gen ?? 0);
    indexes.set(rules, ix);
  }
  return ix;
}

/** A built-in chain's policy decides: count it, trace it, return its verdict. */
function applyPolicy(c: Chain, p: PacketCtx, bytes: number, trace: TraverseTrace | null, evaluated: number): TableVerdict {
  // A base chain iptables-nft created on the fly for a rule (-A/-I without `:CHAIN POLICY [p:b]`)
  // has no kernel counters: its policy counts stay [0:0] (seen on the kernel with kube-proxy's -I jumps).
  if (c.policyCounters) {
    c.pkts++;
    c.bytes += bytes;
  }
  if (trace) trace.policy(p, c);
  return { verdict: c.policy === 'DROP' ? 'drop' : 'accept', evaluated };
}

export function traverseTable(table: Table, hookChain: string, p: PacketCtx, trace: TraverseTrace | null): TableVerdict {
  const start = table.chains.get(hookChain);
  if (!start) return { verdict: 'accept', evaluated: 0 };
  let evaluated = 0;
  // Counters count the IP packet (skb->len at the IP layer), not the Ethernet frame around it.
  const bytes = p.skb.len - (p.skb.nh - p.skb.data);
  // Return stack of (chain, index of the next rule), allocated on the first jump.
  let stackChains: Chain[] | null = null;
  let stackIdx: number[] | null = null;
  let chain = start;
  let ix = chainIndex(chain);
  let i = 0;
  const counters = table.counters;
  /** The current chain's counters in this namespace (looked up on its first matching rule). */
  let cc: Map<number, Counter> | undefined;
  for (;;) {
    if (ix !== null && i < ix.len) {
      // Jump over rules that cannot match, counting them as the kernel's linear walk evaluates them.
      const j = ix.next(p, i);
      evaluated += j - i;
      i = j;
    }
    if (i >= chain.rules.length) {
      // End of the built-in chain: its policy.
      if (chain === start || chain.policy !== null) return applyPolicy(chain.policy !== null ? chain : start, p, bytes, trace, evaluated);
      if (trace) trace.fallthrough(p, chain);
      // A goto'd user chain ran out with nothing to return to: the built-in chain's policy.
      if (stackChains === null || stackChains.length === 0) return applyPolicy(start, p, bytes, trace, evaluated);
      chain = stackChains.pop()!;
      i = stackIdx!.pop()!;
      ix = chainIndex(chain);
      cc = undefined;
      continue;
    }
    const rule = chain.rules[i++];
    evaluated++;
    if (!headerMatches(rule.ip, p)) continue;
    let ok = true;
    for (const m of rule.matches) {
      if (!m.matches(p)) { ok = false; break; }
    }
    if (!ok) continue;
    // This namespace's counters of the rule (by chain object and position: a rule object may be shared).
    if (cc === undefined) {
      cc = counters.get(chain);
      if (cc === undefined) { cc = new Map(); counters.set(chain, cc); }
    }
    const e = cc.get(i - 1);
    if (e === undefined) cc.set(i - 1, { pkts: 1, bytes });
    else { e.pkts++; e.bytes += bytes; }
    if (!rule.target) continue;
    const v = rule.target.run(p);
    if (trace) trace.rule(p, chain, i, rule, v);
    switch (v.kind) {
      case 'continue':
        continue;
      case 'accept':
        return { verdict: 'accept', evaluated };
      case 'drop':
        return { verdict: 'drop', evaluated };
      case 'stolen':
        return { verdict: 'stolen', evaluated };
      case 'return':
        // RETURN in a built-in chain (or a goto'd chain with nothing below): the policy.
        if (stackChains === null || stackChains.length === 0) return applyPolicy(start, p, bytes, trace, evaluated);
        chain = stackChains.pop()!;
        i = stackIdx!.pop()!;
        ix = chainIndex(chain);
        cc = undefined;
        continue;
      case 'jump':
      case 'goto': {
        const next = table.chains.get(v.chain);
        if (!next) return { verdict: 'drop', evaluated }; // refused at load time; never reached
        if (v.kind === 'jump') {
          if (stackChains === null) { stackChains = []; stackIdx = []; }
          if (stackChains.length >= MAX_DEPTH) return { verdict: 'drop', evaluated };
          stackChains.push(chain);
          stackIdx!.push(i);
        }
        chain = next;
        ix = chainIndex(chain);
        cc = undefined;
        i = 0;
        continue;
      }
    }
  }
}
