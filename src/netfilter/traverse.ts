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
 */
import type { Chain, Counter, IpHeaderMatch, Match, PacketCtx, Rule, Table, TargetVerdict } from './types.js';
import { chainIndex } from './traverse-index.js';

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

const headerCache = new WeakMap<readonly Rule[], { len: number; gen: number; headers: Header[] }>();

/** The chain's rules' Headers, by position (rebuilt when its rules array, length or `gen` changes, as the jump index is). */
function chainHeaders(chain: Chain): Header[] {
  const rules = chain.rules, gen = chain.gen ?? 0;
  const e = headerCache.get(rules);
  if (e !== undefined && e.len === rules.length && e.gen === gen) return e.headers;
  const headers = rules.map((r) => new Header(r.ip));
  headerCache.set(rules, { len: rules.length, gen, headers });
  return headers;
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
  let headers = chainHeaders(chain);
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
      headers = chainHeaders(chain);
      cc = undefined;
      continue;
    }
    const rule = chain.rules[i];
    const header = headers[i++];
    evaluated++;
    if (!header.matches(p)) continue;
    if (!matchesAll(rule.matches, p)) continue;
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
        headers = chainHeaders(chain);
        cc = undefined;
        continue;
      case 'jump':
      case 'goto': {
        const next = table.chains.get(v.chain);
        if (!next) return { verdict: 'drop', evaluated }; // refused at load time; never reached
        if (v.kind === 'jump') {
          if (stackChains === null) { stackChains = []; stackIdx = []; }
          if (stackChains.length >= MAX_DEPTH) return { verdict: 'drop', evaluated };
          if (next.rules.length === 0 && next.policy === null && next !== start) {
            // An empty user chain returns at once (kube-proxy's KUBE-SERVICES and friends while
            // nothing is in them): its implicit RETURN without the push and pop.
            if (trace) trace.fallthrough(p, next);
            continue;
          }
          stackChains.push(chain);
          stackIdx!.push(i);
        }
        chain = next;
        ix = chainIndex(chain);
        headers = chainHeaders(chain);
        cc = undefined;
        i = 0;
        continue;
      }
    }
  }
}
