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
 */
import { BUILTIN_CHAINS, HOOK_CHAIN, type Chain, type IpHeaderMatch, type Rule, type Table, type TableName, type Target } from './types.js';
import { ChainTarget } from './targets/standard.js';
import { PROTO_NAME } from './tokens.js';
import { getTarget } from './registry.js';
import { ipToString } from '../wire/bytes.js';

export const TABLE_NAMES: readonly TableName[] = ['raw', 'mangle', 'nat', 'filter', 'security'];

export class RulesetError extends Error {
  constructor(message: string, readonly rule?: Rule) {
    super(message);
    this.name = 'RulesetError';
  }
}

function hookOf(chain: string): number {
  return (HOOK_CHAIN as readonly string[]).indexOf(chain);
}

export function isBuiltin(table: TableName, chain: string): boolean {
  return BUILTIN_CHAINS[table].includes(chain);
}

function newTable(name: TableName): Table {
  const chains = new Map<string, Chain>();
  for (const c of BUILTIN_CHAINS[name]) chains.set(c, { name: c, policy: 'ACCEPT', pkts: 0, bytes: 0, rules: [] });
  return { name, chains };
}

export class Ruleset {
  readonly tables: Record<TableName, Table>;
  /** Tables that exist (touched by a command or a restore block), as iptables-nft creates them lazily. */
  readonly present = new Set<TableName>();

  constructor() {
    this.tables = { raw: newTable('raw'), mangle: newTable('mangle'), nat: newTable('nat'), filter: newTable('filter'), security: newTable('security') };
  }

  /** The table (creating it, in iptables-nft's sense). */
  table(name: TableName): Table {
    this.present.add(name);
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

  /** Runs `fn`; if it or the validation of `table` afterwards fails, restores the table's previous state. */
  private transact<T>(table: TableName, fn: () => T): T {
    const snap = snapshotTable(this.tables[table]);
    const wasPresent = this.present.has(table);
    try {
      const r = fn();
      this.validate(table);
      return r;
    } catch (e) {
      this.tables[table] = snap;
      if (!wasPresent) this.present.delete(table);
      throw e;
    }
  }

  append(table: TableName, chain: string, rule: Rule): void {
    this.transact(table, () => { this.rawAppend(table, chain, rule); });
  }

  /** Insert at 1-based `pos` (1 = first; len+1 = append; beyond that "Index of insertion too big."). */
  insert(table: TableName, chain: string, rule: Rule, pos = 1): void {
    this.transact(table, () => { this.rawInsert(table, chain, rule, pos); });
  }

  /** Delete by 1-based number, or the first rule whose text equals `rule`'s. */
  delete(table: TableName, chain: string, rule: Rule | number): void {
    this.transact(table, () => { this.rawDelete(table, chain, rule); });
  }

  replace(table: TableName, chain: string, num: number, rule: Rule): void {
    this.transact(table, () => { this.rawReplace(table, chain, num, rule); });
  }

  /** Flush one chain, or every chain of the table. */
  flush(table: TableName, chain?: string): void {
    this.table(table);
    if (chain !== undefined) this.chain(table, chain).rules = [];
    else for (const c of this.tables[table].chains.values()) c.rules = [];
  }

  newChain(table: TableName, name: string): void {
    this.table(table);
    checkChainName(name);
    if (this.tables[table].chains.has(name)) throw new RulesetError('Chain already exists.');
    this.tables[table].chains.set(name, { name, policy: null, pkts: 0, bytes: 0, rules: [] });
  }

  /** Delete a user chain (refused if built-in, referenced or not empty); without a name, every user chain (refused if any is referenced from outside the set). */
  deleteChain(table: TableName, name?: string): void {
    const t = this.table(table);
    if (name === undefined) {
      for (const c of t.chains.values()) {
        if (c.policy !== null) {
          for (const r of c.rules) if (r.target instanceof ChainTarget) throw new RulesetError(`Chain '${r.target.name}' is referenced by chain ${c.name} (iptables: Too many links)`);
        }
      }
      for (const [n, c] of [...t.chains]) if (c.policy === null) t.chains.delete(n);
      return;
    }
    const c = t.chains.get(name);
    if (!c) throw new RulesetError(`Chain '${name}' does not exist`);
    if (c.policy !== null) throw new RulesetError(`Can't delete built-in chain ${name}`);
    const ref = this.findReference(table, name);
    if (ref) throw new RulesetError(`Chain '${name}' is referenced by rule ${ref.num} of chain ${ref.chain} (iptables: Too many links)`);
    if (c.rules.length) throw new RulesetError(`Chain '${name}' is not empty (iptables: Directory not empty)`);
    t.chains.delete(name);
  }

  /** `-E old new`: references follow the new name. */
  renameChain(table: TableName, from: string, to: string): void {
    const t = this.table(table);
    const c = this.chain(table, from);
    if (c.policy !== null) throw new RulesetError(`Can't rename built-in chain ${from}`);
    checkChainName(to);
    if (t.chains.has(to)) throw new RulesetError('File exists.');
    const chains = new Map<string, Chain>();
    for (const [n, x] of t.chains) chains.set(n === from ? to : n, x);
    c.name = to;
    t.chains = chains;
    for (const x of chains.values()) {
      for (const r of x.rules) if (r.target instanceof ChainTarget && r.target.name === from) r.target = new ChainTarget(to, r.target.goto);
    }
  }

  setPolicy(table: TableName, chain: string, policy: string, counters?: { pkts: number; bytes: number }): void {
    this.table(table);
    const c = this.tables[table].chains.get(chain);
    if (!c || c.policy === null) throw new RulesetError('Bad built-in chain name.');
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw new RulesetError('Bad policy name.');
    c.policy = policy;
    c.registered = true;
    if (counters) { c.pkts = counters.pkts; c.bytes = counters.bytes; }
  }

  /** Zero the counters of one chain (its rules and policy), a table, or every table. */
  zero(table?: TableName, chain?: string): void {
    const tables = table ? [this.tables[table]] : Object.values(this.tables);
    for (const t of tables) {
      for (const c of t.chains.values()) {
        if (chain !== undefined && c.name !== chain) continue;
        c.pkts = 0; c.bytes = 0;
        for (const r of c.rules) { r.pkts = 0; r.bytes = 0; }
      }
    }
    if (table && chain !== undefined) this.chain(table, chain);
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

  // ---- the raw operations (no validation pass), used by transactions and iptables-restore ----

  rawAppend(table: TableName, chain: string, rule: Rule): void {
    this.table(table);
    const c = this.chain(table, chain);
    this.checkRule(table, chain, rule);
    c.rules.push(rule);
    c.gen = (c.gen ?? 0) + 1;
    if (c.policy !== null) c.registered = true;
  }

  rawInsert(table: TableName, chain: string, rule: Rule, pos: number): void {
    this.table(table);
    const c = this.chain(table, chain);
    if (pos < 1 || pos > c.rules.length + 1) throw new RulesetError('Index of insertion too big.');
    this.checkRule(table, chain, rule);
    c.rules.splice(pos - 1, 0, rule);
    c.gen = (c.gen ?? 0) + 1;
    if (c.policy !== null) c.registered = true;
  }

  rawDelete(table: TableName, chain: string, rule: Rule | number): void {
    this.table(table);
    const c = this.chain(table, chain);
    if (typeof rule === 'number') {
      if (rule < 1 || rule > c.rules.length) throw new RulesetError('Index of deletion too big.');
      c.rules.splice(rule - 1, 1);
      c.gen = (c.gen ?? 0) + 1;
      return;
    }
    const text = ruleText(rule);
    const i = c.rules.findIndex((r) => ruleText(r) === text);
    if (i < 0) throw new RulesetError('Bad rule (does a matching rule exist in that chain?).');
    c.rules.splice(i, 1);
    c.gen = (c.gen ?? 0) + 1;
  }

  rawReplace(table: TableName, chain: string, num: number, rule: Rule): void {
    this.table(table);
    const c = this.chain(table, chain);
    if (num < 1 || num > c.rules.length) throw new RulesetError('Index of replacement too big.');
    this.checkRule(table, chain, rule);
    c.rules[num - 1] = rule;
    c.gen = (c.gen ?? 0) + 1;
  }

  /**
   * The kernel's checks when a table is loaded: loops of jumps reachable from
   * a built-in chain, and hook limits of targets and matches in every chain
   * reachable from a hook.
   */
  validate(table: TableName): void {
    const t = this.tables[table];
    const masks = new Map<string, number>();
    const done = new Map<string, number>();
    const path: Chain[] = [];
    const onPath = new Set<string>();
    const visit = (c: Chain, mask: number, via: Rule | null): void => {
      if (onPath.has(c.name)) {
        const i = path.findIndex((x) => x.name === c.name);
        const cycle = [...path.slice(i).map((x) => x.name), c.name].join(' -> ');
        throw new RulesetError(`Loop detected: chain ${c.name} reaches itself (${cycle}) (iptables: Too many links)`, via ?? undefined);
      }
      const prev = done.get(c.name) ?? 0;
      if ((prev & mask) === mask) return;
      done.set(c.name, prev | mask);
      masks.set(c.name, (masks.get(c.name) ?? 0) | mask);
      path.push(c);
      onPath.add(c.name);
      for (const r of c.rules) {
        if (r.target instanceof ChainTarget) {
          const next = t.chains.get(r.target.name);
          if (!next) throw new RulesetError(`Chain '${r.target.name}' does not exist`, r);
          visit(next, mask, r);
        }
      }
      path.pop();
      onPath.delete(c.name);
    };
    for (const name of BUILTIN_CHAINS[table]) {
      const c = t.chains.get(name);
      if (c) visit(c, 1 << hookOf(name), null);
    }
    for (const c of t.chains.values()) {
      const mask = masks.get(c.name) ?? 0;
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
  }

  /** A copy of the structure (tables, chains, rule arrays); rules themselves are shared. */
  clone(): Ruleset {
    const r = new Ruleset();
    for (const n of TABLE_NAMES) r.tables[n] = snapshotTable(this.tables[n]);
    for (const n of this.present) r.present.add(n);
    return r;
  }

  /** Take over another ruleset's state (the atomic swap at the end of iptables-restore). */
  adopt(o: Ruleset): void {
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

function snapshotTable(t: Table): Table {
  const chains = new Map<string, Chain>();
  for (const [n, c] of t.chains) chains.set(n, { ...c, rules: c.rules.slice() });
  return { name: t.name, chains };
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
  return { ip, matches, target, pkts: 0, bytes: 0, ...(source ? { source } : {}) };
}
