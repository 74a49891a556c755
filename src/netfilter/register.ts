/**
 * Netfilter in one network namespace: the iptables tables, conntrack, NAT and
 * ipsets, registered on the kernel's IPv4 hook points at the kernel's
 * priorities (REFERENCE §1.1), as the modules do with nf_register_net_hook:
 *
 *   PREROUTING   raw -300, conntrack -200, mangle -150, nat(DNAT) -100
 *   INPUT        mangle -150, filter 0, security 50, nat(SNAT) 100, confirm MAX
 *   FORWARD      mangle -150, filter 0, security 50
 *   OUTPUT       raw -300, conntrack -200, mangle -150, nat(DNAT) -100, filter 0, security 50
 *   POSTROUTING  mangle -150, nat(SNAT) 100, confirm MAX
 *
 * plus br_netfilter's bridge hooks. As with iptables-nft, a built-in chain is
 * only hooked once it has a rule or a DROP policy, so empty tables cost
 * nothing and leave no trace lines (REFERENCE §12).
 */
import type { Netns } from '../kernel/netns.js';
import type { Skb } from '../kernel/skb.js';
import { NfHook, NfVerdict, type NfHookOps, type NfHookState } from '../kernel/hooks.js';
import { ICMP_DEST_UNREACH } from '../wire/icmp.js';
import { ipToString } from '../wire/bytes.js';
import { buildReset } from '../kernel/tcp.js';
import { ETH_HLEN, ETH_P_IP } from '../wire/ethernet.js';
import { readIp, setU16, u16 } from '../wire/bytes.js';
import { Conntrack } from './conntrack.js';
import { Nat, NatVerdict } from './nat.js';
import { Ipsets } from './ipset.js';
import { registerBrNetfilter } from './br-netfilter.js';
import { fillCtx, newCtx } from './ctx.js';
import { traverseChain, traverseStats, V_ACCEPT, V_STOLEN, type TraverseTrace } from './traverse.js';
import type { Chain, NfOps, PacketCtx, RejectWith, Rule, Table, TableName, TargetVerdict } from './types.js';
import { HOOK_CHAIN } from './types.js';
import type { NatRange } from './ct-types.js';

const PRI = { DEFRAG: -400, RAW: -300, CONNTRACK: -200, MANGLE: -150, NAT_DST: -100, FILTER: 0, SECURITY: 50, NAT_SRC: 100, CONFIRM: 0x7fffffff } as const;

const REJECT_CODE: Record<Exclude<RejectWith, 'tcp-reset'>, number> = {
  'icmp-net-unreachable': 0,
  'icmp-host-unreachable': 1,
  'icmp-proto-unreachable': 2,
  'icmp-port-unreachable': 3,
  'icmp-net-prohibited': 9,
  'icmp-host-prohibited': 10,
  'icmp-admin-prohibited': 13,
};

/** Where the tables come from (the namespace's Ruleset) and how a rule is printed for traces. */
export interface RulesSource {
  table(name: TableName): Table;
  /** Depends only on its arguments (rules are immutable): the tracer keeps each rule's line. */
  ruleText(table: TableName, chain: string, rule: Rule): string;
  /** Do the rules' deferred work now (Ruleset.defer); the source then calls `refresh`. */
  settle(): void;
}

/**
 * A rule annotation: extra text for the trace line of a rule that decided a
 * packet's fate in a chain (and for the drop's detail when that rule dropped
 * it) — what the rule stands for, which the rule text cannot say (a policy
 * agent names the policies behind a REJECT). Called only while tracing, so an
 * annotation costs nothing otherwise. Return undefined for no text.
 */
export type RuleAnnotator = (p: PacketCtx, rule: Rule, num: number) => string | undefined;

/**
 * Modules that need connection tracking (they call nf_ct_netns_get): while a
 * rule uses one, or the nat table has a base chain, conntrack runs in the
 * namespace; otherwise packets are never tracked, as on a host where nothing
 * asked for conntrack.
 */
const CT_MODULES = new Set(['conntrack', 'state', 'connmark', 'CONNMARK', 'NOTRACK', 'CT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT']);

/** The tables, in the order of NetfilterNs.baseChains. */
const TABLES: readonly TableName[] = ['raw', 'mangle', 'nat', 'filter', 'security'];
const NAT_TABLE = TABLES.indexOf('nat');

const ctUse = new WeakMap<readonly Rule[], { gen: number; len: number; v: boolean }>();

/** Whether a rule of the chain uses a CT_MODULES match or target (cached per rules array and gen). */
function chainUsesConntrack(c: Chain): boolean {
  const gen = c.gen ?? 0;
  const e = ctUse.get(c.rules);
  if (e !== undefined && e.gen === gen && e.len === c.rules.length) return e.v;
  let v = false;
  for (const r of c.rules) {
    if (r.target && CT_MODULES.has(r.target.name)) { v = true; break; }
    for (const m of r.matches) if (CT_MODULES.has(m.name)) { v = true; break; }
    if (v) break;
  }
  ctUse.set(c.rules, { gen, len: c.rules.length, v });
  return v;
}

export class NetfilterNs {
  readonly ct: Conntrack;
  readonly nat: Nat;
  readonly ipsets: Ipsets;
  /** Whether conntrack (and so NAT) runs in the namespace: see CT_MODULES; recomputed by `refresh`. */
  ctActive = false;
  /**
   * The rules have deferred work (Ruleset.defer): every hook function does it
   * before looking at the packet, so the first packet through the namespace
   * sees the rules (and `ctActive`) as if the work had been done when queued.
   */
  settleNeeded = false;
  /**
   * Rule annotations by chain name (in any table), set by the agent that owns
   * the chain: see RuleAnnotator. Consulted only by the tracer, for rules
   * whose target ends the traversal (ACCEPT, DROP, REJECT …).
   */
  readonly annotations = new Map<string, RuleAnnotator>();
  /** The annotation of the rule that dropped the packet in the current traversal (tracing only). */
  private dropNote: string | undefined;
  /** Rules evaluated over the run (the kernel's linear cost), and table traversals. */
  evaluated = 0;
  traversals = 0;
  private readonly ops: NfOps;
  /** PacketCtx objects reused by runTable, one per nesting depth (a traversal can cause another: REJECT's reply). */
  private readonly ctxPool: PacketCtx[] = [];
  private depth = 0;
  private readonly random: () => number;

  constructor(readonly ns: Netns, readonly rules: RulesSource) {
    const world = ns.node.world;
    this.ct = new Conntrack(ns);
    this.nat = new Nat(this.ct);
    this.ipsets = new Ipsets({ now: () => world.now, random: () => world.rng.u32() });
    this.ops = this.makeOps();
    this.random = () => world.rng.u32();
    ns.ctAttach = (to, from) => this.ct.attach(to, from);
    this.register();
    registerBrNetfilter(ns);
  }

  private makeOps(): NfOps {
    const ns = this.ns;
    const world = ns.node.world;
    return {
      natSetup: (p: PacketCtx, manip: 'src' | 'dst', range: NatRange): TargetVerdict => {
        if (!p.ct) return { kind: 'accept' };
        const v = this.nat.setup(p.ct as never, manip, range, manip === 'src' && p.outDev ? { masqIfindex: 0 } : undefined);
        return v === NatVerdict.ACCEPT ? { kind: 'accept' } : { kind: 'drop' };
      },
      masqueradeAddress: (p: PacketCtx): number => {
        if (!p.outDev) return 0;
        const rt = ns.fib.lookup(p.daddr);
        return ns.selectSrc(p.outDev, rt && rt.gw ? rt.gw : p.daddr);
      },
      reject: (p: PacketCtx, how: RejectWith): void => {
        if (how === 'tcp-reset') {
          if (p.proto !== 6 || p.l4 < 0) return;
          // nf_send_reset: never answer a RST; the segment length counts SYN/FIN as in tcp_v4_send_reset.
          if (p.skb.buf[p.l4 + 13] & 0x04) return;
          const doff = (p.skb.buf[p.l4 + 12] >> 4) * 4;
          const port = p.skb.brnf ? p.skb.brInPort : null;
          if (port && port.running) {
            // nf_send_reset for a frame that came in through a bridge (br_netfilter info on it):
            // the RST goes straight out of the bridge port it came from, with the original
            // destination's MAC as source and the sender's as destination — never through the
            // bridge device, so a capture on cni0 does not see it (seen on 6.18).
            const rst = buildReset(ns, p.skb, p.l4, p.l4len - doff, 0);
            const e = rst.nh - ETH_HLEN, ob = p.skb.buf, d = p.skb.data;
            rst.buf.set(ob.subarray(d + 6, d + 12), e);
            rst.buf.set(ob.subarray(d, d + 6), e + 6);
            setU16(rst.buf, e + 12, ETH_P_IP);
            rst.data = e;
            rst.len = ETH_HLEN + 40;
            this.ct.attach(rst, p.skb);
            port.xmit(rst);
            return;
          }
          // nf_send_reset: the RST is RELATED to the connection it answers (nf_ct_attach).
          const rt = ns.stack.routeOutput(readIp(p.skb.buf, p.skb.nh + 12));
          if (!rt) return;
          const rst = buildReset(ns, p.skb, p.l4, p.l4len - doff, 0);
          this.ct.attach(rst, p.skb);
          ns.stack.localOut(rst, rt);
          return;
        }
        ns.stack.icmpSend(p.skb, ICMP_DEST_UNREACH, REJECT_CODE[how], 0);
      },
      notrack: (p: PacketCtx): void => { this.ct.markUntracked(p.skb); },
      log: (p: PacketCtx, text: string): void => {
        if (world.trace.on) world.event(ns.node.name, ns.name, (p.inDev ?? p.outDev)?.name ?? '', p.skb, 'nf.log', text);
      },
    };
  }

  /** One TraverseTrace per table, made on first use while tracing (its closures hold nothing per packet). */
  private readonly tracers = new Map<TableName, TraverseTrace>();

  private tracer(table: TableName): TraverseTrace | null {
    const world = this.ns.node.world;
    if (!world.trace.on) return null;
    let t = this.tracers.get(table);
    if (t === undefined) { t = this.makeTracer(table); this.tracers.set(table, t); }
    return t;
  }

  private makeTracer(table: TableName): TraverseTrace {
    const world = this.ns.node.world;
    const ns = this.ns;
    const ev = (p: PacketCtx, text: string) => world.event(ns.node.name, ns.name, (p.inDev ?? p.outDev)?.name ?? '', p.skb, 'nf.rule', text);
    // A rule's line (without its annotation) and a chain's return/policy lines, kept with what
    // they were made from: a packet stream meets the same few rules and chains over and over.
    const ruleLines = new WeakMap<Rule, RuleLine>();
    const chainLines = new WeakMap<Chain, ChainLines>();
    const chainLinesOf = (chain: Chain): ChainLines => {
      let c = chainLines.get(chain);
      if (c === undefined || c.name !== chain.name) {
        c = { name: chain.name, ret: `${table}:${chain.name}:return`, policy: undefined, policyText: '' };
        chainLines.set(chain, c);
      }
      return c;
    };
    return {
      rule: (p, chain, num, rule, v) => {
        let note: string | undefined;
        if (this.annotations.size !== 0 && (v.kind === 'drop' || v.kind === 'accept')) {
          const a = this.annotations.get(chain.name);
          if (a) note = a(p, rule, num);
          if (v.kind === 'drop') this.dropNote = note;
        }
        const to = v.kind === 'jump' || v.kind === 'goto' ? v.chain : undefined;
        let l = ruleLines.get(rule);
        if (l === undefined || l.num !== num || l.chain !== chain.name || l.kind !== v.kind || l.to !== to) {
          l = { chain: chain.name, num, kind: v.kind, to, text: `${table}:${chain.name}:rule:${num} ${this.rules.ruleText(table, chain.name, rule)} → ${verdictText(v)}` };
          ruleLines.set(rule, l);
        }
        ev(p, note ? `${l.text} (${note})` : l.text);
      },
      policy: (p, chain) => {
        const c = chainLinesOf(chain);
        if (c.policy !== chain.policy) { c.policy = chain.policy; c.policyText = `${table}:${chain.name}:policy:${chain.policy}`; }
        ev(p, c.policyText);
      },
      fallthrough: (p, chain) => ev(p, chainLinesOf(chain).ret),
    };
  }

  /**
   * Per table (TABLES order) and hook: the table's built-in chain for the hook
   * (null when the table has none), found by `refresh` so that the many hooks
   * whose chain is not hooked (most tables at most hooks) cost no lookup per
   * packet; whether it is hooked (`registered`) is read per packet.
   */
  private readonly baseChains: (Chain | null)[] = new Array<Chain | null>(TABLES.length * 5).fill(null);

  private findBaseChains(): void {
    for (let t = 0; t < TABLES.length; t++) {
      const chains = this.rules.table(TABLES[t]).chains;
      for (let h = 0; h < 5; h++) this.baseChains[t * 5 + h] = chains.get(HOOK_CHAIN[h]) ?? null;
    }
  }

  /** Runs one table's chain for this hook; the kernel's verdict. */
  runTable(name: TableName, skb: Skb, state: NfHookState): NfVerdict {
    return this.runTableAt(TABLES.indexOf(name), name, skb, state);
  }

  /** runTable for the table at `t` in TABLES (the registered hook functions know it). */
  private runTableAt(t: number, name: TableName, skb: Skb, state: NfHookState): NfVerdict {
    if (this.settleNeeded) this.rules.settle();
    const base = this.baseChains[t * 5 + state.hook];
    // An iptables-nft base chain is hooked once created (declared, given a rule or a policy).
    if (base === null || base.registered !== true) return NfVerdict.ACCEPT;
    const table = this.rules.table(name);
    const d = this.depth;
    if (d === this.ctxPool.length) this.ctxPool.push(newCtx(this.ns, this.ipsets, this.ops, this.random));
    const p = fillCtx(this.ctxPool[d], skb, name, state);
    this.depth = d + 1;
    let v;
    this.dropNote = undefined;
    try {
      // `base` is the table's chain for this hook (refresh keeps baseChains in step with the rules).
      v = traverseChain(table, base, p, this.tracer(name));
    } finally {
      this.depth = d;
    }
    this.evaluated += traverseStats.evaluated;
    this.traversals++;
    if (v === V_ACCEPT) return NfVerdict.ACCEPT;
    if (v === V_STOLEN) return NfVerdict.STOLEN;
    const chainName = HOOK_CHAIN[state.hook];
    state.reason = 'NETFILTER_DROP';
    state.detail = `iptables ${name} ${chainName} dropped it`;
    if (this.dropNote !== undefined) {
      state.detail += `: ${this.dropNote}`;
      this.dropNote = undefined;
    }
    return NfVerdict.DROP;
  }

  private register(): void {
    // Registered together, in this order (equal priorities keep it), each hook's list made once;
    // all switched off: nothing is hooked and conntrack is not loaded until the rules say so (refresh).
    const all: [NfHook, NfHookOps][] = [];
    const table = (name: TableName, priority: number, hooks: NfHook[]) => {
      const t = TABLES.indexOf(name);
      for (const hook of hooks) {
        const ops: NfHookOps = { name: `iptable_${name}`, priority, fn: (skb, st) => this.runTableAt(t, name, skb, st), off: true };
        this.tableOps[t * 5 + hook] = ops;
        all.push([hook, ops]);
      }
    };
    const ct = (ops: NfHookOps, hook: NfHook) => {
      this.ctOps.push(ops);
      all.push([hook, ops]);
    };
    for (const hook of [NfHook.PRE_ROUTING, NfHook.LOCAL_OUT]) {
      ct({ name: 'nf_defrag_ipv4', priority: PRI.DEFRAG, fn: (skb, st) => this.defrag(skb, st), off: true }, hook);
    }
    table('raw', PRI.RAW, [NfHook.PRE_ROUTING, NfHook.LOCAL_OUT]);
    for (const hook of [NfHook.PRE_ROUTING, NfHook.LOCAL_OUT]) {
      ct({ name: 'nf_conntrack', priority: PRI.CONNTRACK, fn: (skb, st) => this.conntrackIn(skb, st), off: true }, hook);
    }
    table('mangle', PRI.MANGLE, [NfHook.PRE_ROUTING, NfHook.LOCAL_IN, NfHook.FORWARD, NfHook.LOCAL_OUT, NfHook.POST_ROUTING]);
    for (const [hook, pri] of [[NfHook.PRE_ROUTING, PRI.NAT_DST], [NfHook.LOCAL_OUT, PRI.NAT_DST], [NfHook.POST_ROUTING, PRI.NAT_SRC], [NfHook.LOCAL_IN, PRI.NAT_SRC]] as const) {
      ct({ name: 'nf_nat', priority: pri, fn: (skb, st) => this.natHook(skb, st), off: true }, hook);
    }
    table('filter', PRI.FILTER, [NfHook.LOCAL_IN, NfHook.FORWARD, NfHook.LOCAL_OUT]);
    table('security', PRI.SECURITY, [NfHook.LOCAL_IN, NfHook.FORWARD, NfHook.LOCAL_OUT]);
    for (const hook of [NfHook.POST_ROUTING, NfHook.LOCAL_IN]) {
      ct({ name: 'nf_conntrack_confirm', priority: PRI.CONFIRM, fn: (skb, st) => this.confirm(skb, st), off: true }, hook);
    }
    this.ns.hooks.registerMany('ipv4', all);
  }

  /**
   * Recomputes what depends on the rules (after every change to them): the
   * base chains of the tables, and whether conntrack runs. Stops
   * at the first reason for conntrack (a hooked nat base chain is checked
   * first); what a chain uses is cached per rules array, so chains shared by
   * many namespaces are looked at once.
   */
  refresh(): void {
    this.ctActive = this.needsConntrack();
    this.findBaseChains();
    this.settleOps();
  }

  /**
   * The registered table hook functions, by table (TABLES order) × 5 + hook; null where the
   * table has no function at that hook. Each is switched off while its table's base chain for
   * the hook does not exist or is not hooked (iptables-nft registers no hook for it then), so
   * the packet path does not call it; all are on while deferred rule changes wait to be
   * settled (the first one to run settles them, and this runs again).
   */
  private readonly tableOps: (NfHookOps | null)[] = new Array<NfHookOps | null>(TABLES.length * 5).fill(null);

  /**
   * The conntrack functions (defrag, conntrack, nat, confirm): switched off while conntrack
   * does not run in the namespace (ctActive false), and on while rule changes wait to be settled.
   */
  private readonly ctOps: NfHookOps[] = [];

  private settleOps(): void {
    const unsettled = this.settleNeeded;
    let changed = false;
    for (let i = 0; i < this.tableOps.length; i++) {
      const ops = this.tableOps[i];
      if (ops === null) continue;
      const base = this.baseChains[i];
      const off = !unsettled && (base === null || base.registered !== true);
      if (ops.off !== off) { ops.off = off; changed = true; }
    }
    const ctOff = !unsettled && !this.ctActive;
    for (const ops of this.ctOps) if (ops.off !== ctOff) { ops.off = ctOff; changed = true; }
    if (changed) this.ns.hooks.switched();
  }

  /** Rule changes were deferred (Ruleset.defer): every table hook runs until they are settled. */
  markUnsettled(): void {
    this.settleNeeded = true;
    this.settleOps();
  }

  private needsConntrack(): boolean {
    const nat = this.rules.table('nat');
    for (const c of nat.chains.values()) if (c.policy !== null && c.registered) return true;
    for (const name of TABLES) {
      for (const c of this.rules.table(name).chains.values()) if (chainUsesConntrack(c)) return true;
    }
    return false;
  }

  /**
   * nf_defrag_ipv4 (enabled with conntrack): fragments are reassembled before conntrack sees
   * them, at PREROUTING and OUTPUT; until the last one arrives they are held (stolen).
   */
  private defrag(skb: Skb, state: NfHookState): NfVerdict {
    if (this.settleNeeded) this.rules.settle();
    if (!this.ctActive) return NfVerdict.ACCEPT;
    if (!(u16(skb.buf, skb.nh + 6) & 0x3fff)) return NfVerdict.ACCEPT;
    return this.ns.stack.defrag(skb, state.hook === NfHook.PRE_ROUTING ? 'ct_in' : 'ct_out') ? NfVerdict.ACCEPT : NfVerdict.STOLEN;
  }

  private conntrackIn(skb: Skb, state: NfHookState): NfVerdict {
    if (this.settleNeeded) this.rules.settle();
    if (!this.ctActive) return NfVerdict.ACCEPT;
    const info = this.ct.inbound(skb, state.hook);
    const world = this.ns.node.world;
    if (world.trace.on) world.event(this.ns.node.name, this.ns.name, (state.in ?? state.out)?.name ?? '', skb, 'nf.ct', ctText(info.ctinfo, info.ct));
    return NfVerdict.ACCEPT;
  }

  /** The packet natHook is handling, for runNatRules (read at once: a nested natHook may overwrite them). */
  private natSkb: Skb | null = null;
  private natState: NfHookState | null = null;
  private readonly runNatRules = (): boolean => {
    const skb = this.natSkb!, state = this.natState!;
    return this.runTableAt(NAT_TABLE, 'nat', skb, state) !== NfVerdict.DROP;
  };

  /** The tuple after the nat hook (only read before natHook returns). */
  private readonly afterTuple: Tuple4 = { src: 0, dst: 0, ports: 0 };
  /** The last nf.nat line and what it was made from. */
  private natLast = { what: '', before: { src: 0, dst: 0, ports: 0 } as Tuple4, after: { src: 0, dst: 0, ports: 0 } as Tuple4, text: '' };

  private natHook(skb: Skb, state: NfHookState): NfVerdict {
    if (this.settleNeeded) this.rules.settle();
    if (!this.ctActive) return NfVerdict.ACCEPT;
    const world = this.ns.node.world;
    // Tracing: the tuple before, in locals (no object per packet; a nested natHook keeps its own).
    const tracing = world.trace.on;
    let bSrc = 0, bDst = 0, bPorts = 0;
    if (tracing) { const t = readTuple(skb, this.afterTuple); bSrc = t.src; bDst = t.dst; bPorts = t.ports; }
    // The nat table runs (at most once, synchronously) through runNatRules: no closure per packet.
    this.natSkb = skb;
    this.natState = state;
    const v = this.nat.fn(skb, state.hook, this.runNatRules, state.out ? state.out.ifindex : 0);
    if (v === NatVerdict.DROP) {
      state.reason = 'NETFILTER_DROP';
      state.detail = 'nat: no usable binding';
      return NfVerdict.DROP;
    }
    if (tracing) {
      const after = readTuple(skb, this.afterTuple);
      if (after.src !== bSrc || after.dst !== bDst || after.ports !== bPorts) {
        // Name the rewrite by what it undoes for replies: a reply's destination is un-SNATed, its source un-DNATed.
        const reply = (skb.ct as { ctinfo?: string } | null)?.ctinfo?.endsWith('_reply') ?? false;
        const dstSide = state.hook === NfHook.PRE_ROUTING || state.hook === NfHook.LOCAL_OUT;
        const what = reply ? (dstSide ? 'un-SNAT' : 'un-DNAT') : dstSide ? 'DNAT' : 'SNAT';
        const l = this.natLast;
        if (l.what !== what || l.before.src !== bSrc || l.before.dst !== bDst || l.before.ports !== bPorts || !sameTuple(l.after, after)) {
          l.what = what;
          l.before.src = bSrc; l.before.dst = bDst; l.before.ports = bPorts;
          l.after.src = after.src; l.after.dst = after.dst; l.after.ports = after.ports;
          l.text = `${what} [${tupleText(l.before)}] ⇒ [${tupleText(after)}]`;
        }
        world.event(this.ns.node.name, this.ns.name, (state.in ?? state.out)?.name ?? '', skb, 'nf.nat', l.text);
      }
    }
    return NfVerdict.ACCEPT;
  }

  private confirm(skb: Skb, state: NfHookState): NfVerdict {
    if (this.settleNeeded) this.rules.settle();
    if (!this.ctActive) return NfVerdict.ACCEPT;
    if (this.ct.confirm(skb)) return NfVerdict.ACCEPT;
    state.reason = 'NETFILTER_DROP';
    state.detail = 'conntrack: clash on confirm';
    return NfVerdict.DROP;
  }
}

/** The tracer's line of a rule, and what it was made from (see makeTracer). */
interface RuleLine { chain: string; num: number; kind: TargetVerdict['kind']; to: string | undefined; text: string }
/** The tracer's `return` and `policy` lines of a chain, made for its name (and policy). */
interface ChainLines { name: string; ret: string; policy: Chain['policy'] | undefined; policyText: string }

/*
 * nf.ct lines by state and original tuple, direct-mapped (shared by every namespace: the text
 * depends on nothing else; a namespace sees a pod flow and its overlay flow in turn).
 */
const CT_SLOTS = 256;
const ctKey = new Float64Array(CT_SLOTS * 3).fill(-1);
const ctInfo: string[] = new Array<string>(CT_SLOTS).fill('');
const ctLine: string[] = new Array<string>(CT_SLOTS).fill('');

/** `ctstate STATE (proto src:sport → dst:dport)`, or `ctstate STATE (no entry)`. */
function ctText(ctinfo: string, c: { orig: { proto: number; src: number; sport: number; dst: number; dport: number } } | null | undefined): string {
  if (!c) return `ctstate ${ctinfo.toUpperCase()} (no entry)`;
  const o = c.orig;
  const src = o.src >>> 0, dst = o.dst >>> 0;
  // Ports and protocol in one exact double: sport · 2^24 + dport · 2^8 + proto.
  const pp = o.sport * 0x1000000 + o.dport * 0x100 + o.proto;
  const slot = Math.imul(src ^ Math.imul(dst, 0x85ebca6b) ^ Math.imul(o.sport * 0x10000 + o.dport, 0xc2b2ae35) ^ o.proto, 0x9e3779b1) >>> 24;
  const k = slot * 3;
  if (ctKey[k] === src && ctKey[k + 1] === dst && ctKey[k + 2] === pp && ctInfo[slot] === ctinfo) return ctLine[slot];
  const t = `ctstate ${ctinfo.toUpperCase()} (${o.proto === 6 ? 'tcp' : o.proto === 17 ? 'udp' : o.proto === 1 ? 'icmp' : `proto ${o.proto}`} ${ipToString(o.src)}:${o.sport} → ${ipToString(o.dst)}:${o.dport})`;
  ctKey[k] = src; ctKey[k + 1] = dst; ctKey[k + 2] = pp;
  ctInfo[slot] = ctinfo;
  ctLine[slot] = t;
  return t;
}

function verdictText(v: TargetVerdict): string {
  switch (v.kind) {
    case 'jump': return `jump ${v.chain}`;
    case 'goto': return `goto ${v.chain}`;
    default: return v.kind.toUpperCase();
  }
}

/**
 * What tupleText prints of the packet at skb.nh, as numbers: its source and
 * destination, and its ports (sport · 65536 + dport) for TCP/UDP, -1 otherwise.
 * Equal tuples print equal texts and unequal ones unequal texts, so natHook
 * compares these and renders the text only for a rewrite.
 */
interface Tuple4 { src: number; dst: number; ports: number }

function readTuple(skb: Skb, t: Tuple4): Tuple4 {
  const b = skb.buf, nh = skb.nh;
  const proto = b[nh + 9];
  const l4 = nh + (b[nh] & 0x0f) * 4;
  t.src = ((b[nh + 12] << 24) | (b[nh + 13] << 16) | (b[nh + 14] << 8) | b[nh + 15]) >>> 0;
  t.dst = ((b[nh + 16] << 24) | (b[nh + 17] << 16) | (b[nh + 18] << 8) | b[nh + 19]) >>> 0;
  t.ports = proto === 6 || proto === 17 ? (((b[l4] << 8) | b[l4 + 1]) * 0x10000) + ((b[l4 + 2] << 8) | b[l4 + 3]) : -1;
  return t;
}

function sameTuple(a: Tuple4, b: Tuple4): boolean {
  return a.src === b.src && a.dst === b.dst && a.ports === b.ports;
}

/** "src:sport → dst:dport" (ports for TCP/UDP only). */
function tupleText(t: Tuple4): string {
  const src = ipToString(t.src), dst = ipToString(t.dst);
  return t.ports >= 0 ? `${src}:${Math.floor(t.ports / 0x10000)} → ${dst}:${t.ports % 0x10000}` : `${src} → ${dst}`;
}
