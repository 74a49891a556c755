/**
 * The traversal's jump index (used by traverse.ts): for a long chain and a
 * packet, the next rule at or after position i that can possibly match.
 *
 * Each rule is filed under at most one key — a property of the packet that
 * the rule demands, such that a packet with another value fails the rule
 * without any side effect on the way:
 *
 *   src / dst   `-s A/M`, `-d A/M` (not inverted): the packet's address under
 *               the rule's mask must equal A. Header fields are checked before
 *               any match module runs, so the rule's modules (whatever they
 *               are: set counters, statistic, recent, limit …) never run on a
 *               packet that fails them. Masks are grouped: one map per mask
 *               (/32 first), at most `maxMaskGroups` groups per direction.
 *   port        `-p P` (not inverted) and, among the match modules before any
 *               impure one, a tcp/udp match with one non-inverted --dport D:
 *               (P, D). Only pure modules (comment, physdev, mark/connmark,
 *               tcp, udp: predicates of the packet with no state) may precede
 *               it, so nothing is changed by evaluating the rule on a packet
 *               with another (proto, dport) — the kernel would stop at the
 *               header (other proto) or at the port match.
 *   in / out    `-i NAME`, `-o NAME` (not inverted, no '+' wildcard): the
 *               packet's input/output device name must equal NAME (also a
 *               header field, checked before any module). felix's per-interface
 *               dispatch (`-i caliX -g cali-fw-caliX`, `-o caliX -g cali-tw-caliX`)
 *               and flannel's/kube-proxy's `-i`/`-o` rules; wildcards such as
 *               `cali+` stay keyless.
 *   proto       `-p P` (not inverted, not 0): the packet's protocol.
 *
 * Candidate keys are taken in the order dst/32, src/32, in, out, port, dst masked,
 * src masked (longer masks first), proto; the first available is used. A rule
 * with no key (only inverted or absent address/proto, an impure module before
 * its port match, a port range…) is "generic": it is visited by every packet.
 * A rule filed under a key is visited by the packets that have that key's
 * value, and skipped (it provably fails, with no side effect) by the others.
 * Negations (`! -s`, `! -d`, `! -p`, `! --dport`) never give a key: the
 * packets they reject are not a lookup.
 *
 * Skipping is only ever of non-matching rules, so the first matching rule,
 * counters, traces and side effects are those of the linear walk; the walk
 * adds the skipped rules to its evaluated count (the kernel's linear cost).
 * The key values are read from the packet at every step, so a target that
 * rewrote the packet's fields earlier in the walk is seen.
 */
import type { Chain, Match, PacketCtx, Rule } from './types.js';
import { CommentMatch } from './matches/comment.js';
import { PhysdevMatch } from './matches/physdev.js';
import { MarkMatch } from './matches/mark.js';
import { TcpMatch } from './matches/tcp.js';
import { UdpMatch } from './matches/udp.js';

/** Tuning knobs (tests turn the index off with `indexMinRules: Infinity`, or force it with 0). */
export const traverseTuning = {
  /** Chains with at least this many rules get a jump index. */
  indexMinRules: 24,
  /** At most this many masks per direction (src, dst) are indexed; rules with other masks use their next key. */
  maxMaskGroups: 8,
};

/** A key a rule can be filed under (see the header comment). */
export type RuleKey =
  | { kind: 'dst' | 'src'; mask: number; addr: number }
  | { kind: 'in' | 'out'; name: string }
  | { kind: 'port'; proto: number; dport: number }
  | { kind: 'proto'; proto: number };

/** Match modules that are pure predicates of the packet (no state read-modify-write, no counters). */
function pure(m: Match): boolean {
  return m instanceof CommentMatch || m instanceof PhysdevMatch || m instanceof MarkMatch || m instanceof TcpMatch || m instanceof UdpMatch;
}

function popcount(x: number): number {
  x >>>= 0;
  let n = 0;
  while (x !== 0) { x &= x - 1; n++; }
  return n;
}

/** Every key `r` could be filed under, in order of preference. */
export function ruleKeys(r: Rule): RuleKey[] {
  const h = r.ip;
  const exact: RuleKey[] = [], masked: RuleKey[] = [];
  for (const [kind, a] of [['dst', h.dst], ['src', h.src]] as const) {
    if (!a || a.invert) continue;
    const mask = a.mask >>> 0;
    if (mask === 0) continue; // /0: every packet has it
    (mask === 0xffffffff ? exact : masked).push({ kind, mask, addr: a.addr });
  }
  masked.sort((x, y) => popcount((y as { mask: number }).mask) - popcount((x as { mask: number }).mask));
  const out = exact;
  for (const [kind, f] of [['in', h.inIface], ['out', h.outIface]] as const) {
    // An exact name (no '+' wildcard, not inverted, not empty): only packets on that device can match.
    if (f && !f.invert && f.name !== '' && !f.name.endsWith('+')) out.push({ kind, name: f.name });
  }
  if (h.proto && !h.proto.invert && h.proto.num !== 0) {
    for (const m of r.matches) {
      if (m instanceof TcpMatch || m instanceof UdpMatch) {
        const d = m.dport;
        if (d && !d.invert && d.lo === d.hi) { out.push({ kind: 'port', proto: h.proto.num, dport: d.lo }); break; }
      }
      if (!pure(m)) break;
    }
    out.push(...masked, { kind: 'proto', proto: h.proto.num });
  } else {
    out.push(...masked);
  }
  return out;
}

interface AddrGroup { mask: number; map: Map<number, Int32Array> }

/** min(best, the first element of ascending `a` that is ≥ i). */
function firstAtLeast(a: Int32Array, i: number, best: number): number {
  let hi = a.length;
  if (a[hi - 1] < i || a[0] >= best) return a[0] >= i && a[0] < best ? a[0] : best;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < i) lo = mid + 1;
    else hi = mid;
  }
  const v = a[lo];
  return v < best ? v : best;
}

function pack<K>(m: Map<K, number[]>): Map<K, Int32Array> {
  const out = new Map<K, Int32Array>();
  for (const [k, v] of m) out.set(k, Int32Array.from(v));
  return out;
}

function portKey(proto: number, dport: number): number {
  return proto * 0x10000 + dport;
}

/** Positions (ascending) of a chain's rules by the key they are filed under. */
export class ChainIndex {
  private constructor(
    readonly len: number,
    /** The chain's `gen` when built (in-place edits through the Ruleset bump it). */
    readonly gen: number,
    private readonly generic: Int32Array,
    private readonly dst: readonly AddrGroup[],
    private readonly src: readonly AddrGroup[],
    private readonly byIn: Map<string, Int32Array> | null,
    private readonly byOut: Map<string, Int32Array> | null,
    private readonly byPort: Map<number, Int32Array> | null,
    private readonly byProto: Map<number, Int32Array> | null,
    /** Per rule, the key it is filed under (null: generic) — for tests and diagnostics. */
    readonly keys: readonly (RuleKey | null)[],
  ) {}

  static build(rules: readonly Rule[], chainGen = 0): ChainIndex {
    const cands = rules.map(ruleKeys);
    // Keep the most used masks per direction (/32 always counts as one of them).
    const allowed = { dst: new Set<number>(), src: new Set<number>() };
    for (const kind of ['dst', 'src'] as const) {
      const freq = new Map<number, number>();
      for (const cs of cands) {
        for (const k of cs) if (k.kind === kind) freq.set(k.mask, (freq.get(k.mask) ?? 0) + 1);
      }
      const byUse = [...freq].sort((a, b) => b[1] - a[1] || popcount(b[0]) - popcount(a[0]));
      for (const [mask] of byUse.slice(0, traverseTuning.maxMaskGroups)) allowed[kind].add(mask);
    }
    const generic: number[] = [];
    const addr = { dst: new Map<number, Map<number, number[]>>(), src: new Map<number, Map<number, number[]>>() };
    const port = new Map<number, number[]>(), proto = new Map<number, number[]>();
    const inName = new Map<string, number[]>(), outName = new Map<string, number[]>();
    const keys: (RuleKey | null)[] = [];
    const add = <K>(m: Map<K, number[]>, k: K, i: number) => {
      const l = m.get(k);
      if (l) l.push(i);
      else m.set(k, [i]);
    };
    for (let i = 0; i < rules.length; i++) {
      const k = cands[i].find((c) => (c.kind === 'dst' || c.kind === 'src' ? allowed[c.kind].has(c.mask) : true)) ?? null;
      keys.push(k);
      if (k === null) generic.push(i);
      else if (k.kind === 'dst' || k.kind === 'src') {
        let g = addr[k.kind].get(k.mask);
        if (!g) { g = new Map(); addr[k.kind].set(k.mask, g); }
        add(g, k.addr, i);
      } else if (k.kind === 'in') add(inName, k.name, i);
      else if (k.kind === 'out') add(outName, k.name, i);
      else if (k.kind === 'port') add(port, portKey(k.proto, k.dport), i);
      else if (k.kind === 'proto') add(proto, k.proto, i);
    }
    // Groups with the longest masks (the most selective, /32 first) are looked up first.
    const groups = (m: Map<number, Map<number, number[]>>): AddrGroup[] =>
      [...m].sort((a, b) => popcount(b[0]) - popcount(a[0])).map(([mask, g]) => ({ mask, map: pack(g) }));
    return new ChainIndex(
      rules.length, chainGen, Int32Array.from(generic), groups(addr.dst), groups(addr.src),
      inName.size ? pack(inName) : null, outName.size ? pack(outName) : null,
      port.size ? pack(port) : null, proto.size ? pack(proto) : null, keys,
    );
  }

  /** The first position ≥ i whose rule can match `p` (len when none). */
  next(p: PacketCtx, i: number): number {
    let best = this.generic.length === 0 ? this.len : firstAtLeast(this.generic, i, this.len);
    if (best === i) return i;
    const dst = this.dst;
    for (let k = 0; k < dst.length; k++) {
      const g = dst[k];
      const l = g.map.get((p.daddr & g.mask) >>> 0);
      if (l !== undefined) {
        best = firstAtLeast(l, i, best);
        if (best === i) return i;
      }
    }
    const src = this.src;
    for (let k = 0; k < src.length; k++) {
      const g = src[k];
      const l = g.map.get((p.saddr & g.mask) >>> 0);
      if (l !== undefined) {
        best = firstAtLeast(l, i, best);
        if (best === i) return i;
      }
    }
    if (this.byIn !== null && p.inDev !== null) {
      const l = this.byIn.get(p.inDev.name);
      if (l !== undefined) {
        best = firstAtLeast(l, i, best);
        if (best === i) return i;
      }
    }
    if (this.byOut !== null && p.outDev !== null) {
      const l = this.byOut.get(p.outDev.name);
      if (l !== undefined) {
        best = firstAtLeast(l, i, best);
        if (best === i) return i;
      }
    }
    if (this.byPort !== null) {
      const l = this.byPort.get(portKey(p.proto, p.dport));
      if (l !== undefined) best = firstAtLeast(l, i, best);
    }
    if (this.byProto !== null) {
      const l = this.byProto.get(p.proto);
      if (l !== undefined) best = firstAtLeast(l, i, best);
    }
    return best;
  }
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
