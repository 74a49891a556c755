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
 * (`evaluated`), so traces and rule-evaluation counts are exact whatever
 * indexing podwire adds later.
 */
import type { Chain, IpHeaderMatch, PacketCtx, Rule, Table, TargetVerdict } from './types.js';

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

export function traverseTable(table: Table, hookChain: string, p: PacketCtx, trace: TraverseTrace | null): TableVerdict {
  const start = table.chains.get(hookChain);
  if (!start) return { verdict: 'accept', evaluated: 0 };
  let evaluated = 0;
  // Counters count the IP packet (skb->len at the IP layer), not the Ethernet frame around it.
  const bytes = p.skb.len - (p.skb.nh - p.skb.data);
  // Return stack of (chain, index of the next rule).
  const stackChains: Chain[] = [];
  const stackIdx: number[] = [];
  let chain = start;
  let i = 0;
  for (;;) {
    if (i >= chain.rules.length) {
      if (chain === start || chain.policy !== null) {
        // End of the built-in chain: its policy.
        const c = chain.policy !== null ? chain : start;
        c.pkts++;
        c.bytes += bytes;
        if (trace) trace.policy(p, c);
        return { verdict: c.policy === 'DROP' ? 'drop' : 'accept', evaluated };
      }
      if (trace) trace.fallthrough(p, chain);
      if (stackChains.length === 0) {
        // A goto'd user chain ran out with nothing to return to: the built-in chain's policy.
        start.pkts++;
        start.bytes += bytes;
        if (trace) trace.policy(p, start);
        return { verdict: start.policy === 'DROP' ? 'drop' : 'accept', evaluated };
      }
      chain = stackChains.pop()!;
      i = stackIdx.pop()!;
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
    rule.pkts++;
    rule.bytes += bytes;
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
        if (stackChains.length === 0) {
          // RETURN in a built-in chain (or a goto'd chain with nothing below): the policy.
          start.pkts++;
          start.bytes += bytes;
          if (trace) trace.policy(p, start);
          return { verdict: start.policy === 'DROP' ? 'drop' : 'accept', evaluated };
        }
        chain = stackChains.pop()!;
        i = stackIdx.pop()!;
        continue;
      case 'jump':
      case 'goto': {
        const next = table.chains.get(v.chain);
        if (!next) return { verdict: 'drop', evaluated }; // refused at load time; never reached
        if (v.kind === 'jump') {
          if (stackChains.length >= MAX_DEPTH) return { verdict: 'drop', evaluated };
          stackChains.push(chain);
          stackIdx.push(i);
        }
        chain = next;
        i = 0;
        continue;
      }
    }
  }
}
