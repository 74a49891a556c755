/**
 * The iptables state of one network namespace: tables raw, mangle, nat,
 * filter, security with their built-in chains (policy ACCEPT), user chains,
 * and the operations iptables offers on them with iptables' rules:
 *
 * - append / insert(pos) / delete(rule or number) / replace, flush, new chain,
 *   delete chain (refused while referenced or not empty), rename, policy, zero;
 * - when a rule goes in: its target must be valid in the table (DNAT, SNAT,
 *   MASQUERADE, REDIRECT: nat; NOTRACK, CT: raw), a jump/goto must name an
 *   existing user chain (never a built-in one), `-i` is refused in
 *   OUTPUT/POSTROUTING and `-o` in PREROUTING/INPUT (built-in chains, as
 *   iptables' own check);
 * - after every change (or at COMMIT for iptables-restore) the table is
 *   validated as the kernel does when it loads it: no loop of jumps reachable
 *   from a built-in chain, and every target/match with hook limits (REJECT:
 *   INPUT/FORWARD/OUTPUT; DNAT/REDIRECT: PREROUTING/OUTPUT; SNAT:
 *   POSTROUTING/INPUT; MASQUERADE: POSTROUTING; addrtype --limit-iface-in/out)
 *   only in chains reachable from the hooks it allows.
 *
 * A failed operation leaves the ruleset unchanged. Errors are RulesetError
 * (message only); iptables-restore adds file/line/column (RuleError).
 *
 * Tables "exist" (iptables-nft creates them on first use) once touched; only
 * those are printed by iptables-save.
 *
 * Sharing (kube-proxy's near-identical rule sets on every node):
 * - Rule objects are immutable and carry no counters: a table's `counters`
 *   holds this namespace's, by chain object and position.
 * - A chain marked `shared` (handed over by `replaceChains`, or shared with a
 *   clone) is never changed in place: every operation first gives the
 *   ruleset its own copy (`own`), counters following. Built-in chains are
 *   never shared.
 * - `replaceChains(table, set, deleted)` installs Chain objects by reference:
 *   the effect of `iptables-restore --noflush` declaring them and `-X`ing
 *   `deleted`, atomically.
 * - `begin`/`commit`/`rollback`: iptables-restore's transaction, in place
 *   (each chain copied before its first change, the chains map journaled),
 *   so nothing is cloned.
 *
 * Validation is incremental: a per-table index (who jumps to whom, and each
 * chain's cached "deep" mask — the hooks everything below it allows) lets a
 * change be checked by looking at the changed rules, the chains above them
 * (which hooks reach them) and whatever below them is not cached; when that
 * finds a problem, the full check runs, so errors are exactly those of the
 * full check. ChainInfo (distinct jump targets, allowed hooks) is computed
 * once per chain object, so once for a chain shared by every node.
 */
import { BUILTIN_CHAINS, HOOK_CHAIN, type Chain, type Counter, type IpHeaderMatch, type Rule, type Table, type TableName, type Target } from './types.js';
import { ChainTarget } from './targets/standard.js';
import { PROTO_NAME } from './tokens.js';
import { getTarget } from './registry.js';
import { ipToString } from '../wire/bytes.js';

export const TABLE_NAMES: readonly TableName[] = ['raw', 'mangle', 'nat', 'filter', 'security'];

/**
 * Bumped by every Ruleset method that can change a table's chains map (which chain a name
 * finds), its counters maps or the Counter objects in them, or swap a Table's maps — before
 * the next packet can be walked. The traversal caches, per rule, the chain a jump finds and
 * the rule's Counter in a table, stamped with the epoch (traverse.ts: TableStamp); a bump
 * anywhere drops every such cache. One number for all rulesets: tables change rarely
 * while packets flow, and a bump too many only costs a lookup, a bump missing a wrong walk.
 */
export const rulesetEpoch = { v: 0 };
function bump(): void {
  rulesetEpoch.v++;
}

export class RulesetError extends Error {
  constructor(message: string, readonly rule?: Rule) {
    super(message);
    this.name = 'RulesetError';
  }
}

const HOOK_OF: Record<string, number> = { PREROUTING: 0, INPUT: 1, FORWARD: 2, OUTPUT: 3, POSTROUTING: 4 };
function hookOf(chain: string): number {
  return HOOK_OF[chain] ?? -1;
}

const BUILTIN_SETS: Record<TableName, ReadonlySet<string>> = {
  raw: new Set(BUILTIN_CHAINS.raw), mangle: new Set(BUILTIN_CHAINS.mangle), nat: new Set(BUILTIN_CHAINS.nat),
  filter: new Set(BUILTIN_CHAINS.filter), security: new Set(BUILTIN_CHAINS.security),
};

export function isBuiltin(table: TableName, chain: string): boolean {
  return BUILTIN_SETS[table].has(chain);
}

/** A fresh table: its built-in chains, policy ACCEPT, no rules. */
export function newTable(name: TableName): Table {
  const chains = new Map<string, Chain>();
  for (const c of BUILTIN_CHAINS[name]) chains.set(c, { name: c, policy: 'ACCEPT', pkts: 0, bytes: 0, rules: [] });
  return { name, chains, counters: new Map() };
}

/** Every hook allowed (a chain with no hook-restricted target or match). */
const ALL_HOOKS = 0x1f;

/**
 * What the ruleset needs to know of a chain's content, computed once per
 * rules array (and `gen`) — so once for a chain shared by many rulesets.
 */
interface ChainInfo {
  rules: readonly Rule[];
  gen: number;
  len: number;
  /** Distinct jump/goto targets, in order of first appearance, and how many rules jump to each. */
  children: string[];
  counts: number[];
  /** Per table (bit TABLE_BIT[t]): known (low byte) and, if known, whether every non-jump target is valid there (high byte). */
  tablesOk: number;
  /** The hooks its hook-restricted targets and matches all allow (ALL_HOOKS when none). */
  allowed: number;
  /** Whether a jump target has the name of a built-in chain (of any table). */
  builtinKids: boolean;
}

const BUILTIN_NAMES: ReadonlySet<string> = new Set(Object.values(BUILTIN_CHAINS).flat());

/** The chain's ChainInfo, kept on the chain object (no global weak map: its rehashing showed up as multi-ms pauses). */
function chainInfo(c: Chain): ChainInfo {
  const rules = c.rules, gen = c.gen ?? 0;
  let info = c.info as ChainInfo | undefined;
  if (info !== undefined && info.rules === rules && info.gen === gen && info.len === rules.length) return info;
  // Distinct targets: a linear search for short chains, a map beyond.
  const seen = rules.length > 16 ? new Map<string, number>() : null;
  const children: string[] = [];
  const counts: number[] = [];
  let allowed = ALL_HOOKS;
  for (const r of rules) {
    const t = r.target;
    if (t instanceof ChainTarget) {
      const k = seen === null ? children.indexOf(t.name) : seen.get(t.name) ?? -1;
      if (k >= 0) counts[k]++;
      else { seen?.set(t.name, children.length); children.push(t.name); counts.push(1); }
    } else if (t && t.hooks) allowed &= hookMask(t.hooks);
    for (const m of r.matches) {
      const mh = (m as { hooks?: readonly number[] }).hooks;
      if (mh) allowed &= hookMask(mh);
    }
  }
  let builtinKids = false;
  for (const ch of children) if (BUILTIN_NAMES.has(ch)) { builtinKids = true; break; }
  info = { rules, gen, len: rules.length, children, counts, allowed, tablesOk: 0, builtinKids };
  c.info = info;
  return info;
}

const TABLE_BIT: Record<TableName, number> = { raw: 1, mangle: 2, nat: 4, filter: 8, security: 16 };

/** Whether every non-jump target of the chain is valid in `table` (cached per rules array). */
function tablesOk(c: Chain, table: TableName): boolean {
  const info = chainInfo(c);
  const bit = TABLE_BIT[table];
  if (info.tablesOk & bit) return (info.tablesOk & (bit << 8)) !== 0;
  let ok = true;
  for (const r of c.rules) {
    const t = r.target;
    if (t && !(t instanceof ChainTarget) && t.tables && !t.tables.includes(table)) { ok = false; break; }
  }
  info.tablesOk |= bit | (ok ? bit << 8 : 0);
  return ok;
}

/**
 * Derived, per-namespace data about one table, kept up to date by the
 * ruleset's edits while it exists (built on first need; iptables-restore
 * works on a copy without one): who jumps to whom, and a cache of each
 * chain's "deep allowed hooks" (the hooks every target and match reachable
 * from it allows), valid while nothing below the chain changes. With it a
 * change is validated by looking only at the changed chains, their
 * ancestors (to learn which hooks reach them) and what below them is not
 * cached yet.
 */
interface TableIndex {
  /**
   * Jump target → the chains jumping to it: a chain name when one rule of
   * one chain does (most chains: a KUBE-SEP has its KUBE-SVC), else chain →
   * number of its rules that do.
   */
  parents: IndexMap<string, string | Map<string, number>>;
  deep: IndexMap<string, number>;
}

/** The map operations the index uses: a Map, or an OverlayMap over a copied table's template index. */
interface IndexMap<K, V> {
  readonly size: number;
  get(k: K): V | undefined;
  has(k: K): boolean;
  set(k: K, v: V): unknown;
  delete(k: K): boolean;
  clear(): void;
}

/**
 * A map read through to a base map nobody changes (the template's index, shared by every
 * ruleset copied from it: `Ruleset.copyOf`), with this ruleset's own entries and deletions
 * on top, so a copy costs nothing per chain. Values are never undefined.
 */
class OverlayMap<K, V> implements IndexMap<K, V> {
  private readonly own = new Map<K, V>();
  private gone: Set<K> | null = null;
  private n: number;
  constructor(private base: ReadonlyMap<K, V> | IndexMap<K, V>) { this.n = base.size; }
  get size(): number { return this.n; }
  /** Whether `k`'s entry is this map's own (not the base's, which must not be changed in place). */
  ownHas(k: K): boolean { return this.own.has(k); }
  get(k: K): V | undefined {
    const v = this.own.get(k);
    if (v !== undefined) return v;
    if (this.gone !== null && this.gone.has(k)) return undefined;
    return this.base.get(k);
  }
  has(k: K): boolean {
    return this.own.has(k) || ((this.gone === null || !this.gone.has(k)) && this.base.has(k));
  }
  set(k: K, v: V): this {
    if (!this.has(k)) this.n++;
    this.own.set(k, v);
    this.gone?.delete(k);
    return this;
  }
  delete(k: K): boolean {
    if (!this.has(k)) return false;
    this.n--;
    this.own.delete(k);
    if (this.base.has(k)) (this.gone ??= new Set()).add(k);
    return true;
  }
  clear(): void {
    this.base = new Map();
    this.own.clear();
    this.gone = null;
    this.n = 0;
  }
}

const tableIndexes = new WeakMap<Table, TableIndex>();

/**
 * A table's chains map over a template's (`Ruleset.copyOf`: the template is never changed
 * afterwards): a Map whose reads fall through to the base and whose own entries (this
 * ruleset's built-in chain copies, later changes) and deletions sit on top, with a Map's
 * iteration order — the base's live keys in place (an overridden one with its new value),
 * then keys added later in insertion order (a base key deleted and added again among them).
 * A node copied from a 10,000-Service template holds a few entries, not 40,000.
 */
export class OverlayChainMap extends Map<string, Chain> {
  /** Base keys whose place is gone (deleted; maybe added again, then among the later keys). */
  private gone: Set<string> | null = null;
  /** Own entries not at a live base place. */
  private extra = 0;
  constructor(private base: ReadonlyMap<string, Chain>) { super(); }
  private live(k: string): boolean { return this.base.has(k) && (this.gone === null || !this.gone.has(k)); }
  overlaySize(): number { return this.base.size - (this.gone === null ? 0 : this.gone.size) + this.extra; }
  override get(k: string): Chain | undefined {
    const v = super.get(k);
    if (v !== undefined) return v;
    const b = this.base.get(k);
    if (b === undefined || (this.gone !== null && this.gone.has(k))) return undefined;
    // Read through once: an own entry with the base's value at its base place changes nothing
    // visible, and the traversal's next jump to it is one lookup.
    super.set(k, b);
    return b;
  }
  override has(k: string): boolean { return super.has(k) || this.live(k); }
  override set(k: string, v: Chain): this {
    if (!super.has(k) && !this.live(k)) this.extra++;
    super.set(k, v);
    return this;
  }
  override delete(k: string): boolean {
    if (super.has(k)) {
      const atBase = this.live(k);
      super.delete(k);
      if (atBase) (this.gone ??= new Set()).add(k);
      else this.extra--;
      return true;
    }
    if (this.live(k)) { (this.gone ??= new Set()).add(k); return true; }
    return false;
  }
  override clear(): void {
    super.clear();
    this.base = new Map();
    this.gone = null;
    this.extra = 0;
  }
  override *entries(): MapIterator<[string, Chain]> {
    for (const [k, v] of this.base) {
      if (this.gone !== null && this.gone.has(k)) continue;
      const o = super.get(k);
      yield [k, o !== undefined ? o : v];
    }
    for (const e of super.entries()) if (!this.live(e[0])) yield e;
  }
  override *keys(): MapIterator<string> { for (const [k] of this.entries()) yield k; }
  override *values(): MapIterator<Chain> { for (const [, v] of this.entries()) yield v; }
  override [Symbol.iterator](): MapIterator<[string, Chain]> { return this.entries(); }
  override forEach(cb: (value: Chain, key: string, map: Map<string, Chain>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
}
Object.defineProperty(OverlayChainMap.prototype, 'size', { get(this: OverlayChainMap) { return this.overlaySize(); } });

/** Templates whose user chains are marked shared already (copyOf marks them once). */
const markedTemplates = new WeakSet<Ruleset>();

function edge(ix: TableIndex, from: string, r: Rule, d: 1 | -1): void {
  const t = r.target;
  if (t instanceof ChainTarget) edgeN(ix, from, t.name, d);
}

/** `n` more (or fewer) rules of `from` jump to `to`. */
function edgeN(ix: TableIndex, from: string, to: string, n: number): void {
  const cur = ix.parents.get(to);
  if (cur === undefined) {
    if (n === 1) ix.parents.set(to, from);
    else if (n > 1) ix.parents.set(to, new Map([[from, n]]));
    return;
  }
  let m: Map<string, number>;
  if (typeof cur === 'string') {
    if (cur === from && n === -1) { ix.parents.delete(to); return; }
    m = new Map([[cur, 1]]);
    ix.parents.set(to, m);
  } else if (ix.parents instanceof OverlayMap && !ix.parents.ownHas(to)) {
    // The template's entry: this ruleset's own copy first.
    m = new Map(cur);
    ix.parents.set(to, m);
  } else m = cur;
  const k = (m.get(from) ?? 0) + n;
  if (k > 0) m.set(from, k);
  else m.delete(from);
  if (m.size === 0) ix.parents.delete(to);
  else if (m.size === 1) {
    const [[only, c]] = m;
    if (c === 1) ix.parents.set(to, only);
  }
}

/** Whether `from` jumps to `to` (per the index). */
function hasParent(ix: TableIndex, to: string, from: string): boolean {
  const cur = ix.parents.get(to);
  return cur === undefined ? false : typeof cur === 'string' ? cur === from : cur.has(from);
}

/** Edges of `from` go from `prev` rules to `next` rules (only the part between their common prefix and suffix is looked at). */
function edgesDiff(ix: TableIndex, from: string, prev: readonly Rule[], next: readonly Rule[]): void {
  if (prev === next) return;
  const [a, pe, ne] = diffRange(prev, next);
  for (let i = a; i < pe; i++) edge(ix, from, prev[i], -1);
  for (let i = a; i < ne; i++) edge(ix, from, next[i], 1);
}

function buildIndex(t: Table): TableIndex {
  const ix: TableIndex = { parents: new Map(), deep: new Map() };
  for (const c of t.chains.values()) {
    const info = chainInfo(c);
    for (let k = 0; k < info.children.length; k++) edgeN(ix, c.name, info.children[k], info.counts[k]);
  }
  return ix;
}

/**
 * Forget the cached deep masks of `name` and every chain that reaches it;
 * returns the hooks (built-in chains) that reach it.
 */
function invalidateUp(ix: TableIndex, table: TableName, name: string, dirty?: Set<string>): number {
  let mask = 0;
  const seen = new Set<string>([name]);
  const todo = [name];
  while (todo.length) {
    const n = todo.pop()!;
    ix.deep.delete(n);
    dirty?.add(n);
    if (isBuiltin(table, n)) mask |= 1 << hookOf(n);
    const ps = ix.parents.get(n);
    if (ps === undefined) continue;
    if (typeof ps === 'string') { if (!seen.has(ps)) { seen.add(ps); todo.push(ps); } }
    else for (const p of ps.keys()) if (!seen.has(p)) { seen.add(p); todo.push(p); }
  }
  return mask;
}

/**
 * What part of a chain changed, for an incremental check: the allowed-hook
 * mask and jump targets of the rules added, and the chain's deep mask before
 * the change (a bound for what its other rules allow).
 */
interface Partial {
  base: number;
  children: string[];
}

/** `partial` for rules[from, to) of a chain whose deep mask before was `oldDeep`. */
function partialOf(oldDeep: number, rules: readonly Rule[], from: number, to: number): Partial {
  let base = oldDeep;
  const children: string[] = [];
  for (let i = from; i < to; i++) {
    const r = rules[i];
    const t = r.target;
    if (t instanceof ChainTarget) children.push(t.name);
    else if (t && t.hooks) base &= hookMask(t.hooks);
    for (const m of r.matches) {
      const mh = (m as { hooks?: readonly number[] }).hooks;
      if (mh) base &= hookMask(mh);
    }
  }
  return { base, children };
}

/** [a, pe, ne): rules prev[a, pe) became next[a, ne) (common prefix and suffix by identity left out). */
function diffRange(prev: readonly Rule[], next: readonly Rule[]): [number, number, number] {
  let a = 0;
  const n = Math.min(prev.length, next.length);
  while (a < n && prev[a] === next[a]) a++;
  let pe = prev.length, ne = next.length;
  while (pe > a && ne > a && prev[pe - 1] === next[ne - 1]) { pe--; ne--; }
  return [a, pe, ne];
}

/** Shift the counters of positions ≥ at by d (insert: +1 at the new rule; delete: -1 after the removed one, which is dropped). */
function shiftCounters(m: Map<number, Counter> | undefined, at: number, d: 1 | -1): void {
  if (m === undefined || m.size === 0) return;
  const moved: [number, Counter][] = [];
  for (const [k, v] of m) if (k >= at) moved.push([k, v]);
  if (moved.length === 0) return;
  for (const [k] of moved) m.delete(k);
  for (const [k, v] of moved) if (!(d < 0 && k === at)) m.set(k + d, v);
}

/** Tuning (tests turn the incremental checks off to compare them with the full check). */
export const rulesetTuning = {
  /** Validate changes by looking at the changed chains (false: the full table check every time). */
  incremental: true,
};

/** What an open transaction (iptables-restore) needs to commit or undo, per table. */
interface TxnTable {
  /** The table's chains map when the transaction first touched it (changed in place only by sets, journaled in `values`). */
  map: Map<string, Chain>;
  /** First overwritten value of each name set in `map` in place (undefined: it was absent). */
  values: Map<string, Chain | undefined>;
  /** The counters map at the start (inner maps of chains the transaction copies are copied, never changed). */
  counters: Map<Chain, Map<number, Counter>>;
  /** Chain objects made in this transaction (changed in place from then on). */
  own: Set<Chain>;
  /** Chains whose rules or existence changed. */
  changed: Set<string>;
  /** The chain each name had before the transaction copied it, and its cached deep mask then. */
  originals: Map<string, Chain>;
  oldDeep: Map<string, number>;
  /** The table was emptied (restore without --noflush) or restructured (rename, -X of all): check it fully. */
  whole: boolean;
}

function copyChain(c: Chain, rules: Rule[]): Chain {
  const copy: Chain = { ...c, rules };
  delete copy.shared;
  return copy;
}

export class Ruleset {
  private readonly tbls: Record<TableName, Table>;
  private readonly presentSet = new Set<TableName>();
  /** The open transaction (begin … commit/rollback), if any. */
  private txn: { present: Set<TableName>; tables: Map<TableName, TxnTable> } | null = null;
  /** Work deferred by `defer`, in order (null: none). */
  private deferred: ((rs: Ruleset) => void)[] | null = null;
  /** Called when work is deferred (`defer`) and after deferred work ran (`settle`): the namespace's netfilter state follows. */
  onDefer: (() => void) | null = null;
  onSettled: (() => void) | null = null;

  constructor() {
    this.tbls = { raw: newTable('raw'), mangle: newTable('mangle'), nat: newTable('nat'), filter: newTable('filter'), security: newTable('security') };
  }

  /** The tables (deferred work is done first). */
  get tables(): Record<TableName, Table> {
    if (this.deferred !== null) this.settle();
    return this.tbls;
  }

  /** Tables that exist (touched by a command or a restore block), as iptables-nft creates them lazily. */
  get present(): Set<TableName> {
    if (this.deferred !== null) this.settle();
    return this.presentSet;
  }

  /**
   * Queue a change to be made later, in order with every other change: just
   * before anything reads the rules (any method, \`tables\`, \`present\`, a
   * packet through the namespace's hooks: see NetfilterNs). The effect is the
   * one of making it now; only its cost moves — to a namespace that is ever
   * looked at. At 5,000 nodes each kube-proxy writes 40,000 chains, which a
   * run probing a few nodes never reads on the others. An error the work
   * throws surfaces where the rules are first read.
   */
  defer(work: (rs: Ruleset) => void): void {
    bump();
    if (this.txn) throw new Error('Ruleset.defer inside a transaction');
    (this.deferred ??= []).push(work);
    this.onDefer?.();
  }

  /** Whether deferred work is waiting. */
  get hasDeferred(): boolean {
    return this.deferred !== null;
  }

  /** Do the deferred work now (no-op when none). */
  settle(): void {
    const work = this.deferred;
    if (work === null) return;
    bump();
    this.deferred = null;
    try {
      for (let i = 0; i < work.length; i++) {
        try {
          work[i]!(this);
        } catch (e) {
          // The later changes stay queued behind the failed one, as they would have followed it.
          const rest = work.slice(i + 1);
          if (rest.length) this.deferred = rest;
          throw e;
        }
      }
    } finally {
      this.onSettled?.();
    }
  }

  /** The table (creating it, in iptables-nft's sense). */
  table(name: TableName): Table {
    this.present.add(name);
    if (this.txn) this.tx(name);
    return this.tables[name];
  }

  /** A chain, or RulesetError "No chain/target/match by that name." */
  chain(table: TableName, name: string): Chain {
    const c = this.tables[table].chains.get(name);
    if (!c) throw new RulesetError(`Chain '${name}' does not exist`);
    return c;
  }

  hasChain(table: TableName, name: string): boolean {
    return this.tables[table].chains.has(name);
  }

  /** This namespace's counters of rule `num` (1-based) of a chain (zeros when it never matched). */
  ruleCounters(table: TableName, chain: string, num: number): Counter {
    const t = this.tables[table];
    const c = this.chain(table, chain);
    const e = t.counters.get(c)?.get(num - 1);
    return { pkts: e ? e.pkts : 0, bytes: e ? e.bytes : 0 };
  }

  /** Set rule `num`'s (1-based) counters in this namespace (iptables -c / restore --counters). */
  setRuleCounters(table: TableName, chain: string, num: number, v: Counter): void {
    bump();
    const t = this.tables[table];
    const c = this.chain(table, chain);
    if (num < 1 || num > c.rules.length) throw new RulesetError('Index of replacement too big.');
    if (this.txn) this.tx(table);
    let m = t.counters.get(c);
    if (m === undefined) { m = new Map(); t.counters.set(c, m); }
    m.set(num - 1, { pkts: v.pkts, bytes: v.bytes });
  }

  /** Static checks of a rule before it goes into `chain` (table validity, jump target, -i/-o). */
  checkRule(table: TableName, chain: string, rule: Rule): void {
    const t = rule.target;
    if (t) {
      if (t instanceof ChainTarget) {
        if (isBuiltin(table, t.name)) throw new RulesetError(`${t.goto ? '-g' : '-j'} ${t.name}: jumping to the built-in chain ${t.name} is not allowed (iptables: Operation not supported)`, rule);
        if (!this.tables[table].chains.has(t.name)) throw new RulesetError(`Chain '${t.name}' does not exist`, rule);
      } else if (t.tables && !t.tables.includes(table)) {
        throw new RulesetError(`${t.name} target not valid in the ${table} table (only in ${t.tables.join(', ')})`, rule);
      }
    }
    if (isBuiltin(table, chain)) {
      if (rule.ip.inIface && (chain === 'OUTPUT' || chain === 'POSTROUTING')) throw new RulesetError(`Can't use -i with ${chain}`, rule);
      if (rule.ip.outIface && (chain === 'PREROUTING' || chain === 'INPUT')) throw new RulesetError(`Can't use -o with ${chain}`, rule);
    }
  }

  /** The table's index (built on first need). */
  private index(table: TableName): TableIndex {
    const t = this.tables[table];
    let ix = tableIndexes.get(t);
    if (ix === undefined) { ix = buildIndex(t); tableIndexes.set(t, ix); }
    return ix;
  }

  /**
   * Opens a transaction (what iptables-restore does with one input): the
   * operations that follow change the ruleset in place, but every chain they
   * change is first copied, so `rollback` can put the old state back and
   * `checkCommit` can validate only what changed. No cloning of the tables.
   */
  begin(): void {
    if (this.txn) throw new Error('Ruleset: a transaction is already open');
    this.txn = { present: new Set(this.present), tables: new Map() };
  }

  /** Ends the transaction, keeping its changes. */
  commit(): void {
    bump();
    const txn = this.txn;
    if (!txn) return;
    for (const [tb, x] of txn.tables) {
      const t = this.tables[tb];
      for (const [n, o] of x.originals) if (t.chains.get(n) !== o) t.counters.delete(o);
    }
    this.txn = null;
  }

  /** Ends the transaction, undoing its changes. */
  rollback(): void {
    bump();
    const txn = this.txn;
    if (!txn) return;
    for (const [tb, x] of txn.tables) {
      const t = this.tables[tb];
      for (const [n, v] of x.values) {
        if (v) x.map.set(n, v);
        else x.map.delete(n);
      }
      t.chains = x.map;
      t.counters = x.counters;
      tableIndexes.delete(t);
    }
    this.present.clear();
    for (const n of txn.present) this.present.add(n);
    this.txn = null;
  }

  /**
   * The table check at an iptables-restore COMMIT: the changed chains only
   * (see checkChanged) when the block changed part of the table, the full
   * check when it replaced the table or changed most of it.
   */
  checkCommit(table: TableName): void {
    const x = this.txn?.tables.get(table);
    const t = this.tables[table];
    if (this.txn && !x) return; // nothing in the table changed in this transaction
    if (!x || !rulesetTuning.incremental || x.whole || x.changed.size * 4 > t.chains.size) { this.validate(table); return; }
    const partial = new Map<string, Partial>();
    for (const n of x.changed) {
      const o = x.originals.get(n), c = t.chains.get(n), od = x.oldDeep.get(n);
      if (o && c && od !== undefined) {
        const [a, , ne] = diffRange(o.rules, c.rules);
        partial.set(n, partialOf(od, c.rules, a, ne));
      }
    }
    this.checkChanged(table, x.changed, partial);
  }

  /** The transaction's record for `table` (created on first use), if a transaction is open. */
  private tx(table: TableName): TxnTable | undefined {
    const txn = this.txn;
    if (!txn) return undefined;
    let x = txn.tables.get(table);
    if (!x) {
      const t = this.tables[table];
      x = { map: t.chains, values: new Map(), counters: new Map(t.counters), own: new Set(), changed: new Set(), originals: new Map(), oldDeep: new Map(), whole: false };
      txn.tables.set(table, x);
    }
    return x;
  }

  /** chains.set, journaled in a transaction. */
  private mapSet(table: TableName, name: string, c: Chain): void {
    bump();
    const t = this.tables[table];
    const x = this.tx(table);
    if (x) {
      x.changed.add(name);
      x.own.add(c);
      if (t.chains === x.map && !x.values.has(name)) x.values.set(name, x.map.get(name));
    }
    t.chains.set(name, c);
  }

  /** chains.delete, journaled in a transaction (the map is copied first: a delete in place could not be undone in order). */
  private mapDelete(table: TableName, name: string): void {
    bump();
    const t = this.tables[table];
    const x = this.tx(table);
    if (x) {
      x.changed.add(name);
      if (t.chains === x.map) t.chains = new Map(t.chains);
    }
    t.chains.delete(name);
  }

  /** A new chains map for the table (rename, reset), journaled in a transaction. */
  private mapReplace(table: TableName, chains: Map<string, Chain>): void {
    bump();
    const t = this.tables[table];
    const x = this.tx(table);
    if (x) {
      x.whole = true;
      for (const n of t.chains.keys()) x.changed.add(n);
      for (const [n, c] of chains) { x.changed.add(n); if (t.chains.get(n) !== c) x.own.add(c); }
    }
    t.chains = chains;
  }

  /**
   * The chain for writing: a shared chain — or, in a transaction, one the
   * transaction has not copied yet — is first replaced by this ruleset's own
   * copy (`empty`: a new empty chain instead of a copy, for a flush). The
   * counters go with it (dropped for `empty`).
   */
  private own(table: TableName, name: string, empty = false): Chain {
    bump();
    const t = this.tables[table];
    const c = t.chains.get(name);
    if (!c) throw new RulesetError(`Chain '${name}' does not exist`);
    const x = this.tx(table);
    if (!c.shared && (x === undefined || x.own.has(c))) return c;
    const copy = copyChain(c, empty ? [] : c.rules.slice());
    if (x && !x.originals.has(name)) {
      x.originals.set(name, c);
      const d = tableIndexes.get(t)?.deep.get(name);
      if (d !== undefined) x.oldDeep.set(name, d);
    }
    this.mapSet(table, name, copy);
    const cc = t.counters.get(c);
    if (cc) {
      if (x) { if (!empty) t.counters.set(copy, new Map(cc)); }
      else {
        t.counters.delete(c);
        if (!empty) t.counters.set(copy, cc);
      }
    }
    if (empty) {
      const ix = tableIndexes.get(t);
      if (ix) { edgesDiff(ix, name, c.rules, copy.rules); if (ix.deep.size !== 0) invalidateUp(ix, table, name); }
    }
    return copy;
  }

  /** After an in-place change of `name`'s rules: bump gen, forget what the index cached above it. */
  private touched(table: TableName, c: Chain): void {
    bump();
    c.gen = (c.gen ?? 0) + 1;
    const ix = tableIndexes.get(this.tables[table]);
    if (ix && ix.deep.size !== 0) invalidateUp(ix, table, c.name);
  }

  /**
   * Validates a change to the chains `changed` (already made) as the kernel's
   * full check of the table would, looking only at what the change can
   * break: loops and hook limits below changed chains that built-in chains
   * reach. When something is wrong, the full check runs to report it exactly
   * as `validate` does. Assumes the table was valid before the change.
   */
  private checkChanged(table: TableName, changed: Iterable<string>, partial?: Map<string, Partial>): void {
    if (!rulesetTuning.incremental) { this.validate(table); return; }
    const t = this.tables[table];
    if (!Array.isArray(changed)) changed = [...changed];
    if ((changed as string[]).length * 4 > t.chains.size && (changed as string[]).length > 64) {
      // Most of the table changed (a first sync): one walk of it is cheaper than one per change.
      const ix0 = tableIndexes.get(t);
      if (ix0) ix0.deep.clear();
      this.validate(table);
      return;
    }
    const ix = this.index(table);
    const reach: [string, number][] = [];
    const dirty = partial ? new Set<string>() : undefined;
    for (const n of changed) {
      if (!t.chains.has(n)) { ix.deep.delete(n); continue; }
      const mask = invalidateUp(ix, table, n, dirty);
      if (mask !== 0) reach.push([n, mask]);
    }
    if (reach.length === 0) return;
    const onPath = new Set<string>();
    let cycle = false;
    const deep = (name: string): number => {
      const v = ix.deep.get(name);
      if (v !== undefined) return v;
      const c = t.chains.get(name);
      if (c === undefined) return ALL_HOOKS;
      if (onPath.has(name)) { cycle = true; return ALL_HOOKS; }
      onPath.add(name);
      let d: number;
      let children: readonly string[];
      const part = partial?.get(name);
      if (part !== undefined) {
        // Known: its deep mask before the change bounds what its unchanged
        // rules allow (their targets' subtrees are unchanged unless dirty).
        // Look at the added rules' targets and at the dirty chains it jumps to.
        d = part.base;
        children = part.children;
        for (const x of dirty!) {
          if (x !== name && hasParent(ix, x, name)) d &= deep(x);
          if (cycle) break;
        }
      } else {
        const info = chainInfo(c);
        d = info.allowed;
        children = info.children;
      }
      for (const ch of children) {
        if (cycle) break;
        d &= deep(ch);
      }
      onPath.delete(name);
      if (!cycle) ix.deep.set(name, d);
      return d;
    };
    for (const [n, mask] of reach) {
      const d = deep(n);
      if (cycle || (mask & ~d) !== 0) {
        ix.deep.clear();
        this.validate(table);
        return;
      }
    }
  }

  /** The incremental check's hint for one rule going into `chain` (when its deep mask is cached). */
  private hint(table: TableName, chain: string, rule: Rule): Map<string, Partial> | undefined {
    const od = tableIndexes.get(this.tables[table])?.deep.get(chain);
    return od === undefined ? undefined : new Map([[chain, partialOf(od, [rule], 0, 1)]]);
  }

  append(table: TableName, chain: string, rule: Rule): void {
    const was = this.present.has(table);
    const hint = this.hint(table, chain, rule);
    this.rawAppend(table, chain, rule);
    try {
      this.checkChanged(table, [chain], hint);
    } catch (e) {
      this.rawDelete(table, chain, this.chain(table, chain).rules.length);
      if (!was) this.present.delete(table);
      throw e;
    }
  }

  /** Insert at 1-based `pos` (1 = first; len+1 = append; beyond that "Index of insertion too big."). */
  insert(table: TableName, chain: string, rule: Rule, pos = 1): void {
    const was = this.present.has(table);
    const hint = this.hint(table, chain, rule);
    this.rawInsert(table, chain, rule, pos);
    try {
      this.checkChanged(table, [chain], hint);
    } catch (e) {
      this.rawDelete(table, chain, pos);
      if (!was) this.present.delete(table);
      throw e;
    }
  }

  /** Delete by 1-based number, or the first rule whose text equals `rule`'s (removing a rule cannot make the table invalid). */
  delete(table: TableName, chain: string, rule: Rule | number): void {
    this.rawDelete(table, chain, rule);
  }

  replace(table: TableName, chain: string, num: number, rule: Rule): void {
    const was = this.present.has(table);
    const c0 = this.chain(table, chain);
    const old = c0.rules[num - 1];
    const oldCounter = this.tables[table].counters.get(c0)?.get(num - 1);
    const hint = this.hint(table, chain, rule);
    this.rawReplace(table, chain, num, rule);
    try {
      this.checkChanged(table, [chain], hint);
    } catch (e) {
      this.rawReplace(table, chain, num, old);
      if (oldCounter) this.setRuleCounters(table, chain, num, oldCounter);
      if (!was) this.present.delete(table);
      throw e;
    }
  }

  /** Flush one chain, or every chain of the table. */
  flush(table: TableName, chain?: string): void {
    bump();
    const t = this.table(table);
    if (chain !== undefined) {
      const c0 = this.chain(table, chain);
      const c = this.own(table, chain, true);
      if (c !== c0) return;
      const ix = tableIndexes.get(t);
      if (ix) edgesDiff(ix, chain, c0.rules, []);
      t.counters.delete(c0);
      c0.rules = [];
      this.touched(table, c0);
      return;
    }
    const x = this.tx(table);
    if (x) x.whole = true;
    for (const n of [...t.chains.keys()]) {
      const c = this.own(table, n, true);
      if (c.rules.length) { c.rules = []; c.gen = (c.gen ?? 0) + 1; }
    }
    t.counters.clear();
    tableIndexes.delete(t);
  }

  newChain(table: TableName, name: string): void {
    bump();
    this.table(table);
    checkChainName(name);
    if (this.tables[table].chains.has(name)) throw new RulesetError('Chain already exists.');
    this.mapSet(table, name, { name, policy: null, pkts: 0, bytes: 0, rules: [] });
  }

  /** Delete a user chain (refused if built-in, referenced or not empty); without a name, every user chain (refused if any is referenced from outside the set). */
  deleteChain(table: TableName, name?: string): void {
    bump();
    const t = this.table(table);
    if (name === undefined) {
      for (const c of t.chains.values()) {
        if (c.policy !== null) {
          for (const r of c.rules) if (r.target instanceof ChainTarget) throw new RulesetError(`Chain '${r.target.name}' is referenced by chain ${c.name} (iptables: Too many links)`);
        }
      }
      const x = this.tx(table);
      if (x) x.whole = true;
      for (const [n, c] of [...t.chains]) if (c.policy === null) { this.mapDelete(table, n); t.counters.delete(c); }
      tableIndexes.delete(t);
      return;
    }
    // The reverse index answers "is it referenced?" without a walk of the
    // table (iptables-restore's -X lines for stale chains); kept up to date
    // from here on by the raw operations.
    if (t.chains.has(name)) this.index(table);
    this.checkDeletable(table, name);
    const c = t.chains.get(name)!;
    this.mapDelete(table, name);
    t.counters.delete(c);
    const ix = tableIndexes.get(t);
    if (ix) ix.deep.delete(name);
  }

  /** The -X checks for one chain: exists, not built-in, not referenced, empty. */
  private checkDeletable(table: TableName, name: string): void {
    const t = this.tables[table];
    const c = t.chains.get(name);
    if (!c) throw new RulesetError(`Chain '${name}' does not exist`);
    if (c.policy !== null) throw new RulesetError(`Can't delete built-in chain ${name}`);
    const ix = tableIndexes.get(t);
    if (ix === undefined || ix.parents.has(name)) {
      const ref = this.findReference(table, name);
      if (ref) throw new RulesetError(`Chain '${name}' is referenced by rule ${ref.num} of chain ${ref.chain} (iptables: Too many links)`);
    }
    if (c.rules.length) throw new RulesetError(`Chain '${name}' is not empty (iptables: Directory not empty)`);
  }

  /** `-E old new`: references follow the new name (the rules that name it are replaced by copies with the new target). */
  renameChain(table: TableName, from: string, to: string): void {
    bump();
    const t = this.table(table);
    const c0 = this.chain(table, from);
    if (c0.policy !== null) throw new RulesetError(`Can't rename built-in chain ${from}`);
    checkChainName(to);
    if (t.chains.has(to)) throw new RulesetError('File exists.');
    const c = this.own(table, from);
    const chains = new Map<string, Chain>();
    for (const [n, x] of t.chains) chains.set(n === from ? to : n, x);
    c.name = to;
    this.mapReplace(table, chains);
    for (const [n, x] of chains) {
      if (!x.rules.some((r) => r.target instanceof ChainTarget && r.target.name === from)) continue;
      const y = this.own(table, n);
      y.rules = y.rules.map((r) => (r.target instanceof ChainTarget && r.target.name === from ? { ...r, target: new ChainTarget(to, r.target.goto) } : r));
      y.gen = (y.gen ?? 0) + 1;
    }
    tableIndexes.delete(t);
  }

  setPolicy(table: TableName, chain: string, policy: string, counters?: Counter): void {
    bump();
    this.table(table);
    const c = this.tables[table].chains.get(chain);
    if (!c || c.policy === null) throw new RulesetError('Bad built-in chain name.');
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw new RulesetError('Bad policy name.');
    const own = this.own(table, chain);
    own.policy = policy;
    own.registered = true;
    own.policyCounters = true;
    if (counters) { own.pkts = counters.pkts; own.bytes = counters.bytes; }
  }

  /** Zero the counters of one chain (its rules and policy), a table, or every table. */
  zero(table?: TableName, chain?: string): void {
    bump();
    if (table && chain !== undefined) this.chain(table, chain);
    const names = table ? [table] : TABLE_NAMES;
    for (const n of names) {
      const t = this.tables[n];
      if (this.txn) this.tx(n);
      for (const c of [...t.chains.values()]) {
        if (chain !== undefined && c.name !== chain) continue;
        t.counters.delete(c);
        if (c.pkts !== 0 || c.bytes !== 0) {
          const o = this.own(n, c.name);
          o.pkts = 0; o.bytes = 0;
        }
      }
    }
  }

  /** Where `name` is jumped to from, if anywhere. */
  findReference(table: TableName, name: string): { chain: string; num: number } | null {
    for (const c of this.tables[table].chains.values()) {
      for (let i = 0; i < c.rules.length; i++) {
        const t = c.rules[i].target;
        if (t instanceof ChainTarget && t.name === name) return { chain: c.name, num: i + 1 };
      }
    }
    return null;
  }

  /**
   * The effect of `iptables-restore --noflush` of a block for `table` that
   * declares the chains of `set`, then those of `deleted` not in `set`
   * (`:NAME - [0:0]`, creating or flushing each, as kube-proxy declares the
   * stale chains it deletes), appends the rules of `set`, then deletes the
   * chains `deleted` (`-X NAME`, in order) — atomically: on any error
   * (RulesetError, the message iptables-restore gives for the same text)
   * nothing changes. So a stale chain is flushed before its -X (deleting
   * one that is not there is a no-op, as declaring it creates it); -X still
   * fails while a remaining rule jumps to it, or when `set` gives it rules.
   *
   * The Chain objects of `set` are taken by reference and marked `shared`:
   * the caller may hand the same objects to other rulesets, and must not
   * change them afterwards (no ruleset does: it copies a shared chain before
   * any change). Counters of the declared chains start at zero, as after a
   * flush.
   *
   * Only what the change can break is checked — the rules of `set` (targets
   * valid in the table, jump targets exist and are not built-in), the
   * deletions (exists, not built-in, not referenced, empty), then loops and
   * hook limits below the changed chains — so replacing a few chains of a
   * large table costs in proportion to those chains, not to the table.
   */
  replaceChains(table: TableName, set: readonly Chain[], deleted: readonly string[] = []): void {
    bump();
    const t = this.tables[table];
    // A set at least as large as the table (a node's first sync): the same
    // checks, in the same order, on a new chains map, then the full check
    // (what checkChanged runs for a change of that size).
    if (set.length > 64 && set.length >= t.chains.size) { this.replaceBulk(table, set, deleted); return; }
    const names = new Set<string>();
    // The declarations (`:NAME - [0:0]`).
    for (const c of set) {
      if (isBuiltin(table, c.name)) throw new RulesetError(`Can't set policy \`-' on built-in chain ${c.name}`);
      if (c.policy !== null) throw new RulesetError(`Can't set policy \`${c.policy}' on \`${c.name}': Bad built-in chain name`);
      if (!t.chains.has(c.name)) checkChainName(c.name);
      if (names.has(c.name)) throw new RulesetError(`Chain '${c.name}' declared twice`);
      names.add(c.name);
    }
    const stale: string[] = [];
    for (const d of deleted) {
      if (names.has(d) || stale.includes(d)) continue; // (declared once)
      if (isBuiltin(table, d)) throw new RulesetError(`Can't set policy \`-' on built-in chain ${d}`);
      if (!t.chains.has(d)) checkChainName(d);
      stale.push(d);
    }
    const staleSet = new Set(stale);
    // The rules (`-A NAME …`): every chain of the set exists by now. Rules
    // the chain already had under that name (same objects, found as the
    // common prefix and suffix) passed these checks in this table, and their
    // jump targets still exist (a referenced chain cannot be deleted): only
    // the others are looked at.
    const exists = (n: string) => names.has(n) || staleSet.has(n) || t.chains.has(n);
    const ix0 = tableIndexes.get(t);
    const partial = new Map<string, Partial>();
    for (const c of set) {
      const o = t.chains.get(c.name);
      const [a, , ne] = o ? diffRange(o.rules, c.rules) : [0, 0, c.rules.length];
      // A new chain: what its content allows is cached on the chain object
      // (shared by every namespace it goes to); only its jump targets'
      // existence is this namespace's. The rule-by-rule loop below finds the
      // first error when there is one.
      let quick = a === 0 && ne === c.rules.length && tablesOk(c, table);
      if (quick) for (const ch of chainInfo(c).children) if (isBuiltin(table, ch) || !exists(ch)) { quick = false; break; }
      if (!quick) for (let i = a; i < ne; i++) {
        const r = c.rules[i];
        const tg = r.target;
        if (tg instanceof ChainTarget) {
          if (isBuiltin(table, tg.name)) this.checkRule(table, c.name, r);
          else if (!exists(tg.name)) throw new RulesetError(`Chain '${tg.name}' does not exist`, r);
        } else if (tg && tg.tables && !tg.tables.includes(table)) this.checkRule(table, c.name, r);
      }
      const od = o && ix0 ? ix0.deep.get(c.name) : undefined;
      if (od !== undefined) partial.set(c.name, partialOf(od, c.rules, a, ne));
    }
    // Install, then the deletions and the table check; undo everything on failure.
    const was = this.present.has(table);
    this.present.add(table);
    const ix = this.index(table);
    const undo: { name: string; prev: Chain | undefined; counters: Map<number, Counter> | undefined }[] = [];
    // In a transaction (replaceTables), its journal undoes this on failure.
    const inTxn = this.txn !== null;
    if (inTxn) this.tx(table);
    const put = (name: string, next: Chain | undefined): void => {
      const prev = t.chains.get(name);
      undo.push({ name, prev, counters: prev ? t.counters.get(prev) : undefined });
      if (prev) t.counters.delete(prev);
      edgesDiff(ix, name, prev ? prev.rules : [], next ? next.rules : []);
      if (inTxn) {
        if (next) this.mapSet(table, name, next);
        else this.mapDelete(table, name);
      } else if (next) t.chains.set(name, next);
      else t.chains.delete(name);
    };
    try {
      for (const c of set) {
        c.shared = true;
        put(c.name, c);
      }
      // The stale chains' declarations: flushed (or created), then deleted below.
      for (const d of stale) put(d, { name: d, policy: null, pkts: 0, bytes: 0, rules: [] });
      for (const d of deleted) {
        this.checkDeletable(table, d);
        put(d, undefined);
      }
      this.checkChanged(table, [...names, ...stale], partial);
    } catch (e) {
      if (inTxn) throw e;
      for (let i = undo.length - 1; i >= 0; i--) {
        const u = undo[i];
        const cur = t.chains.get(u.name);
        if (cur) t.counters.delete(cur);
        edgesDiff(ix, u.name, cur ? cur.rules : [], u.prev ? u.prev.rules : []);
        if (u.prev) {
          t.chains.set(u.name, u.prev);
          if (u.counters) t.counters.set(u.prev, u.counters);
        } else t.chains.delete(u.name);
      }
      ix.deep.clear();
      if (!was) this.present.delete(table);
      throw e;
    }
  }

  /**
   * replaceChains of a set at least as large as the table (a node's first
   * sync): the same checks in the same order, made while the chains go into
   * a new map (the old map, its counters and index stay untouched, to put
   * back on failure; a transaction's journal needs no entry per chain), the
   * index built in the same pass from the chains' cached jump targets, then
   * the table's full check (the one checkChanged runs for a change of this
   * size).
   */
  private replaceBulk(table: TableName, set: readonly Chain[], deleted: readonly string[]): void {
    bump();
    const t = this.tables[table];
    const prevChains = t.chains;
    const chains = new Map(prevChains);
    // Names the table had that the set declares (the others' duplicates show in `chains`).
    let again: Set<string> | null = null;
    // The declarations (`:NAME - [0:0]`).
    for (const c of set) {
      const name = c.name;
      if (isBuiltin(table, name)) throw new RulesetError(`Can't set policy \`-' on built-in chain ${name}`);
      if (c.policy !== null) throw new RulesetError(`Can't set policy \`${c.policy}' on \`${name}': Bad built-in chain name`);
      const q = prevChains.get(name);
      if (q === undefined) {
        checkChainName(name);
        if (chains.has(name)) throw new RulesetError(`Chain '${name}' declared twice`);
      } else {
        again ??= new Set();
        if (again.has(name)) throw new RulesetError(`Chain '${name}' declared twice`);
        again.add(name);
      }
      chains.set(name, c);
    }
    const declared = (n: string): boolean => {
      const p = chains.get(n);
      if (p === undefined) return false;
      return prevChains.get(n) !== p || (again !== null && again.has(n));
    };
    const stale: Chain[] = [];
    for (const d of deleted) {
      if (declared(d)) continue; // (declared once)
      if (isBuiltin(table, d)) throw new RulesetError(`Can't set policy \`-' on built-in chain ${d}`);
      if (!prevChains.has(d)) checkChainName(d);
      const e: Chain = { name: d, policy: null, pkts: 0, bytes: 0, rules: [] };
      chains.set(d, e);
      stale.push(e);
    }
    // The rules (`-A NAME …`), as replaceChains checks them; the index's edges on the way.
    const ix: TableIndex = { parents: new Map(), deep: new Map() };
    for (const c of set) {
      const o = prevChains.get(c.name);
      const [a, , ne] = o ? diffRange(o.rules, c.rules) : [0, 0, c.rules.length];
      const info = chainInfo(c);
      let quick = a === 0 && ne === c.rules.length && tablesOk(c, table);
      if (quick) {
        const kids = info.children;
        if (info.builtinKids) { for (const ch of kids) if (isBuiltin(table, ch) || !chains.has(ch)) { quick = false; break; } }
        else for (let k = 0; k < kids.length; k++) if (!chains.has(kids[k])) { quick = false; break; }
      }
      if (!quick) for (let i = a; i < ne; i++) {
        const r = c.rules[i];
        const tg = r.target;
        if (tg instanceof ChainTarget) {
          if (isBuiltin(table, tg.name)) this.checkRule(table, c.name, r);
          else if (!chains.has(tg.name)) throw new RulesetError(`Chain '${tg.name}' does not exist`, r);
        } else if (tg && tg.tables && !tg.tables.includes(table)) this.checkRule(table, c.name, r);
      }
      for (let k = 0; k < info.children.length; k++) edgeN(ix, c.name, info.children[k], info.counts[k]);
    }
    // The table's other chains' edges (the stale ones are empty).
    for (const [n, p] of prevChains) {
      if (chains.get(n) !== p || (again !== null && again.has(n))) continue;
      const info = chainInfo(p);
      for (let k = 0; k < info.children.length; k++) edgeN(ix, n, info.children[k], info.counts[k]);
    }
    // Install: counters of the declared chains start at zero.
    const was = this.present.has(table);
    this.present.add(table);
    const x = this.tx(table);
    if (x) {
      x.whole = true;
      for (const e of stale) x.own.add(e);
    }
    const ix0 = tableIndexes.get(t);
    const prevCounters = t.counters;
    const counters = new Map<Chain, Map<number, Counter>>();
    for (const [pc, m] of prevCounters) if (!(prevChains.get(pc.name) === pc && declaredOrStale(pc.name))) counters.set(pc, m);
    function declaredOrStale(n: string): boolean {
      return chains.get(n) !== prevChains.get(n) || (again !== null && again.has(n));
    }
    for (const c of set) c.shared = true;
    t.chains = chains;
    t.counters = counters;
    tableIndexes.set(t, ix);
    try {
      for (const d of deleted) {
        this.checkDeletable(table, d);
        const p = chains.get(d)!;
        counters.delete(p);
        edgesDiff(ix, d, p.rules, []);
        chains.delete(d);
      }
      this.validate(table);
    } catch (e) {
      if (x) throw e; // the transaction's rollback puts the table back
      t.chains = prevChains;
      t.counters = prevCounters;
      if (ix0) tableIndexes.set(t, ix0);
      else tableIndexes.delete(t);
      if (!was) this.present.delete(table);
      throw e;
    }
  }

  /**
   * replaceChains for several tables at once, atomically (kube-proxy's
   * restore input has a filter and a nat block in one transaction): on any
   * error (RulesetError) no table changes.
   */
  replaceTables(changes: readonly { table: TableName; set: readonly Chain[]; deleted?: readonly string[] }[]): void {
    bump();
    this.begin();
    try {
      for (const c of changes) this.replaceChains(c.table, c.set, c.deleted ?? []);
    } catch (e) {
      this.rollback();
      throw e;
    }
    this.commit();
  }

  // ---- the raw operations (no validation pass), used by transactions and iptables-restore ----

  rawAppend(table: TableName, chain: string, rule: Rule, counters?: Counter): void {
    bump();
    const t = this.table(table);
    let c = t.chains.get(chain);
    if (!c) throw new RulesetError(`Chain '${chain}' does not exist`);
    this.checkRule(table, chain, rule);
    if (c.shared || this.txn) c = this.own(table, chain);
    c.rules.push(rule);
    if (c.policy !== null) c.registered = true;
    c.gen = (c.gen ?? 0) + 1;
    const ix = tableIndexes.get(t);
    if (ix) { edge(ix, chain, rule, 1); if (ix.deep.size !== 0) invalidateUp(ix, table, chain); }
    if (counters) this.setRuleCounters(table, chain, c.rules.length, counters);
  }

  rawInsert(table: TableName, chain: string, rule: Rule, pos: number, counters?: Counter): void {
    bump();
    const t = this.table(table);
    const c0 = this.chain(table, chain);
    if (pos < 1 || pos > c0.rules.length + 1) throw new RulesetError('Index of insertion too big.');
    this.checkRule(table, chain, rule);
    const c = this.own(table, chain);
    c.rules.splice(pos - 1, 0, rule);
    shiftCounters(t.counters.get(c), pos - 1, 1);
    if (c.policy !== null) c.registered = true;
    const ix = tableIndexes.get(t);
    if (ix) edge(ix, chain, rule, 1);
    this.touched(table, c);
    if (counters) this.setRuleCounters(table, chain, pos, counters);
  }

  rawDelete(table: TableName, chain: string, rule: Rule | number): void {
    bump();
    const t = this.table(table);
    const c0 = this.chain(table, chain);
    let i: number;
    if (typeof rule === 'number') {
      if (rule < 1 || rule > c0.rules.length) throw new RulesetError('Index of deletion too big.');
      i = rule - 1;
    } else {
      const text = ruleText(rule);
      i = c0.rules.findIndex((r) => ruleText(r) === text);
      if (i < 0) throw new RulesetError('Bad rule (does a matching rule exist in that chain?).');
    }
    const c = this.own(table, chain);
    const [gone] = c.rules.splice(i, 1);
    shiftCounters(t.counters.get(c), i, -1);
    const ix = tableIndexes.get(t);
    if (ix) edge(ix, chain, gone, -1);
    this.touched(table, c);
  }

  rawReplace(table: TableName, chain: string, num: number, rule: Rule, counters?: Counter): void {
    bump();
    const t = this.table(table);
    const c0 = this.chain(table, chain);
    if (num < 1 || num > c0.rules.length) throw new RulesetError('Index of replacement too big.');
    this.checkRule(table, chain, rule);
    const c = this.own(table, chain);
    const gone = c.rules[num - 1];
    c.rules[num - 1] = rule;
    t.counters.get(c)?.delete(num - 1);
    const ix = tableIndexes.get(t);
    if (ix) { edge(ix, chain, gone, -1); edge(ix, chain, rule, 1); }
    this.touched(table, c);
    if (counters) this.setRuleCounters(table, chain, num, counters);
  }

  /**
   * iptables-restore's start of a `*TABLE` block without --noflush: rules and
   * user chains go, built-in chains become ACCEPT [0:0] (still hooked if
   * they were).
   */
  resetTable(table: TableName): void {
    bump();
    const t = this.table(table);
    const chains = new Map<string, Chain>();
    for (const c of t.chains.values()) {
      if (c.policy === null) continue;
      const o = copyChain(c, []);
      o.gen = (o.gen ?? 0) + 1;
      o.policy = 'ACCEPT';
      o.pkts = 0; o.bytes = 0;
      chains.set(o.name, o);
    }
    this.mapReplace(table, chains);
    t.counters.clear();
    tableIndexes.delete(t);
  }

  /**
   * The kernel's checks when a table is loaded: loops of jumps reachable from
   * a built-in chain, and hook limits of targets and matches in every chain
   * reachable from a hook.
   */
  validate(table: TableName): void {
    const t = this.tables[table];
    // One depth-first walk from the built-in chains (each chain once: a chain
    // finished without a loop cannot be on one), then the hook masks in
    // topological order. The first loop found is the one a walk per hook
    // would find first (chains finished earlier cannot be part of it). The
    // walk goes over each chain's distinct jump targets (ChainInfo, cached
    // per chain object), so chains shared by many namespaces cost their
    // length once; rules are looked at again only to name an error.
    // Per chain name: bits 0-4 the hooks reaching it, ON_PATH, DONE.
    const ON_PATH = 32, DONE = 64;
    const st = new Map<string, number>();
    const path: Chain[] = [];
    const order: Chain[] = []; // post-order
    const firstRuleTo = (c: Chain, n: string): Rule | undefined => c.rules.find((r) => r.target instanceof ChainTarget && r.target.name === n);
    const visit = (c: Chain): void => {
      st.set(c.name, (st.get(c.name) ?? 0) | ON_PATH);
      path.push(c);
      for (const n of chainInfo(c).children) {
        const s = st.get(n) ?? 0;
        if (s & DONE) continue;
        if (s & ON_PATH) {
          const i = path.findIndex((x) => x.name === n);
          const cycle = [...path.slice(i).map((x) => x.name), n].join(' -> ');
          throw new RulesetError(`Loop detected: chain ${n} reaches itself (${cycle}) (iptables: Too many links)`, firstRuleTo(c, n));
        }
        const next = t.chains.get(n);
        if (!next) throw new RulesetError(`Chain '${n}' does not exist`, firstRuleTo(c, n));
        visit(next);
      }
      path.pop();
      st.set(c.name, (st.get(c.name)! & ~ON_PATH) | DONE);
      order.push(c);
    };
    for (const name of BUILTIN_CHAINS[table]) {
      const c = t.chains.get(name);
      if (!c) continue;
      st.set(name, (st.get(name) ?? 0) | (1 << hookOf(name)));
      if (!(st.get(name)! & DONE)) visit(c);
    }
    // Each reached chain's deep mask (children first): the hooks everything
    // below it allows. A hook limit is broken exactly when a built-in chain's
    // deep mask lacks its own hook; only then are the hooks reaching each
    // chain propagated (top down), to name the first offending rule.
    const deep = new Map<string, number>();
    for (const c of order) {
      const info = chainInfo(c);
      let d = info.allowed;
      for (const n of info.children) d &= deep.get(n)!;
      deep.set(c.name, d);
    }
    let bad = false;
    for (const name of BUILTIN_CHAINS[table]) {
      const d = deep.get(name);
      if (d !== undefined && (d & (1 << hookOf(name))) === 0) bad = true;
    }
    if (bad) {
      for (let k = order.length - 1; k >= 0; k--) {
        const c = order[k];
        const m = st.get(c.name)! & ALL_HOOKS;
        if (m === 0) continue;
        for (const n of chainInfo(c).children) {
          const cur = st.get(n)!;
          if ((cur & m) !== m) st.set(n, cur | m);
        }
      }
      for (const c of order) {
        const mask = st.get(c.name)! & ALL_HOOKS;
        if ((mask & ~chainInfo(c).allowed) !== 0) this.hookError(t, st);
      }
      throw new Error('validate: a hook limit broken but no chain found');
    }
    // The table is valid: leave the incremental checks' index warm (the next
    // small change, e.g. a restore --noflush adding a service, then looks only
    // at what it changes).
    let ix = tableIndexes.get(t);
    if (ix === undefined) { ix = buildIndex(t); tableIndexes.set(t, ix); }
    if (ix.deep.size === 0) ix.deep = deep;
    else for (const [n, d] of deep) ix.deep.set(n, d);
  }

  /** The hook-limit error of validate, for the first offending rule in chain order (as iptables-restore reports it). */
  private hookError(t: Table, st: Map<string, number>): never {
    for (const c of t.chains.values()) {
      const mask = (st.get(c.name) ?? 0) & ALL_HOOKS;
      if (mask === 0) continue;
      for (const r of c.rules) {
        const th = r.target?.hooks;
        if (th && !hooksAllow(th, mask)) throw new RulesetError(`${r.target!.name} target not valid in chain ${c.name} (reached from ${hookNames(mask)}; allowed only from ${hookNames(hookMask(th))})`, r);
        for (const m of r.matches) {
          const mh = (m as { hooks?: readonly number[] }).hooks;
          if (mh && !hooksAllow(mh, mask)) throw new RulesetError(`${m.name} match ${m.save().slice(m.name.length + 4)} not valid in chain ${c.name} (reached from ${hookNames(mask)}; allowed only from ${hookNames(hookMask(mh))})`, r);
        }
      }
    }
    throw new Error('unreachable');
  }

  /**
   * A copy of the structure: user chains are shared with the copy (marked
   * `shared`, so whichever side changes one first copies it), built-in
   * chains and counters are copied. Rules themselves are shared.
   */
  clone(): Ruleset {
    bump();
    const r = new Ruleset();
    for (const n of TABLE_NAMES) {
      const t = this.tables[n];
      const chains = new Map<string, Chain>();
      const map = new Map<Chain, Chain>();
      for (const [name, c] of t.chains) {
        let x: Chain;
        if (c.policy !== null) x = copyChain(c, c.rules.slice());
        else { c.shared = true; x = c; }
        chains.set(name, x);
        map.set(c, x);
      }
      const counters = new Map<Chain, Map<number, Counter>>();
      for (const [c, m] of t.counters) {
        const x = map.get(c);
        if (!x) continue;
        const mm = new Map<number, Counter>();
        for (const [k, v] of m) mm.set(k, { pkts: v.pkts, bytes: v.bytes });
        counters.set(x, mm);
      }
      r.tbls[n] = { name: n, chains, counters };
    }
    for (const n of this.present) r.presentSet.add(n);
    return r;
  }

  /**
   * Whether nothing was ever done to this ruleset: every table as `newTable` made it
   * (built-in chains empty, policy ACCEPT, not hooked, no counters), none present, no
   * transaction open, no work deferred.
   */
  get pristine(): boolean {
    if (this.deferred !== null || this.txn !== null || this.presentSet.size !== 0) return false;
    for (const n of TABLE_NAMES) {
      const t = this.tbls[n];
      if (t.counters.size !== 0 || t.chains.size !== BUILTIN_CHAINS[n].length) return false;
      for (const c of t.chains.values()) {
        if (c.policy !== 'ACCEPT' || c.rules.length !== 0 || c.registered || c.policyCounters || c.pkts !== 0 || c.bytes !== 0 || !isBuiltin(n, c.name)) return false;
      }
    }
    return true;
  }

  /**
   * Makes this pristine ruleset a copy of `template`, itself made from a pristine
   * ruleset: the state the same changes would give this one (kube-proxy's first sync,
   * the same on every node of a class, made once). User chains are shared with the
   * template (copy-on-write, as `clone`; the chains map reads through to the
   * template's, OverlayChainMap), built-in chains and counters copied, and
   * each table's derived index (jump parents, cached deep masks) read through to the
   * template's (OverlayMap: this ruleset's changes on top), so the next incremental
   * change is checked as after the changes themselves. The Table objects
   * stay this ruleset's own. The template must not change afterwards.
   */
  copyOf(template: Ruleset): void {
    bump();
    if (!this.pristine) throw new Error('Ruleset.copyOf: the ruleset is not pristine');
    const src = template.tables;
    const mark = !markedTemplates.has(template);
    markedTemplates.add(template);
    for (const n of TABLE_NAMES) {
      const from = src[n], to = this.tbls[n];
      if (mark) for (const c of from.chains.values()) if (c.policy === null) c.shared = true;
      // The built-in chains are this ruleset's own copies; every user chain is read through.
      const chains = new OverlayChainMap(from.chains);
      const map = new Map<Chain, Chain>();
      for (const name of BUILTIN_CHAINS[n]) {
        const c = from.chains.get(name)!;
        const x = copyChain(c, c.rules.slice());
        chains.set(name, x);
        map.set(c, x);
      }
      const counters = new Map<Chain, Map<number, Counter>>();
      for (const [c, m] of from.counters) {
        const x = map.get(c) ?? (from.chains.get(c.name) === c ? c : undefined);
        if (!x) continue;
        const mm = new Map<number, Counter>();
        for (const [k, v] of m) mm.set(k, { pkts: v.pkts, bytes: v.bytes });
        counters.set(x, mm);
      }
      to.chains = chains;
      to.counters = counters;
      const ix = tableIndexes.get(from);
      if (ix) tableIndexes.set(to, { parents: new OverlayMap(ix.parents), deep: new OverlayMap(ix.deep) });
      else tableIndexes.delete(to);
    }
    for (const n of template.present) this.presentSet.add(n);
  }

  /** Take over another ruleset's state (the atomic swap at the end of iptables-restore). */
  adopt(o: Ruleset): void {
    bump();
    for (const n of TABLE_NAMES) this.tables[n] = o.tables[n];
    this.present.clear();
    for (const n of o.present) this.present.add(n);
  }
}

function hookMask(h: readonly number[]): number {
  let m = 0;
  for (const x of h) m |= 1 << x;
  return m;
}
function hooksAllow(h: readonly number[], mask: number): boolean {
  return (mask & ~hookMask(h)) === 0;
}
function hookNames(mask: number): string {
  return HOOK_CHAIN.filter((_, i) => mask & (1 << i)).join(', ');
}

/** iptables' chain-name rules (xshared/nft: at most 28 characters, no leading '-' or '!', not a target name). */
export function checkChainName(name: string): void {
  if (name.length === 0) throw new RulesetError('Invalid chain name ``');
  if (name.length > 28) throw new RulesetError(`chain name \`${name}' too long (must be under 29 chars)`);
  if (name[0] === '-' || name[0] === '!') throw new RulesetError(`chain name not allowed to start with \`${name[0]}'`);
  if (/\s/.test(name)) throw new RulesetError(`Invalid chain name \`${name}'`);
  if (getTarget(name)) throw new RulesetError(`chain name may not clash with target name`);
}

/** `-s a/b ! -d … -i … -o … -p … [!] -f` as iptables-save prints the fixed part (verified order and spelling). */
export function headerText(h: IpHeaderMatch): string {
  let s = '';
  const inv = (b: boolean) => (b ? ' !' : '');
  const addr = (flag: string, a: IpHeaderMatch['src']) => {
    if (!a || (a.mask === 0 && !a.invert)) return;
    s += `${inv(a.invert)} ${flag} ${ipToString(a.addr)}/${a.prefix >= 0 ? a.prefix : ipToString(a.mask)}`;
  };
  addr('-s', h.src);
  addr('-d', h.dst);
  if (h.inIface) s += `${inv(h.inIface.invert)} -i ${h.inIface.name}`;
  if (h.outIface) s += `${inv(h.outIface.invert)} -o ${h.outIface.name}`;
  if (h.proto && (h.proto.num !== 0 || h.proto.invert)) s += `${inv(h.proto.invert)} -p ${PROTO_NAME[h.proto.num] ?? (h.proto.num === 0 ? 'all' : String(h.proto.num))}`;
  if (h.frag) s += `${inv(h.frag.invert)} -f`;
  return s;
}

/** The rule as iptables-save prints it after `-A CHAIN` (with a leading space, empty for a bare rule). */
export function ruleText(r: Rule): string {
  let s = headerText(r.ip);
  for (const m of r.matches) s += ' ' + m.save();
  if (r.target) s += ' ' + r.target.save();
  return s;
}

/** A new rule object. */
export function makeRule(ip: IpHeaderMatch, matches: Rule['matches'], target: Target | null, source?: Rule['source']): Rule {
  return source ? { ip, matches, target, source } : { ip, matches, target };
}
