/**
 * The netfilter layer's face to the rest of podwire: the iptables state of a
 * namespace (created on first use, as loading the modules does), and the
 * operations an admin or agent runs — iptables-restore, iptables-save,
 * conntrack -L — each logged on the machine like the command it stands for.
 */
import type { Node } from '../kernel/node.js';
import type { Netns } from '../kernel/netns.js';
import { Ruleset, ruleText } from './ruleset.js';
import { iptablesRestore as restoreInto, type RestoreOptions } from './restore.js';
import { iptablesSave, type SaveOptions } from './save.js';
import { ipsetRestore } from './ipset-text.js';
import { NetfilterNs } from './register.js';
import type { Chain, Rule, TableName } from './types.js';

export interface NetfilterState {
  rules: Ruleset;
  nf: NetfilterNs;
}

const states = new WeakMap<Netns, NetfilterState>();

/** A rule's iptables-save text after `-A CHAIN`, per rule object (rules are immutable once in a ruleset; traces print it per matching rule). */
const ruleTexts = new WeakMap<Rule, string>();
function cachedRuleText(rule: Rule): string {
  let t = ruleTexts.get(rule);
  if (t === undefined) { t = ruleText(rule); ruleTexts.set(rule, t); }
  return t;
}

/** The namespace's iptables/conntrack state, registering the hooks on first use. */
export function netfilterOf(ns: Netns): NetfilterState {
  let st = states.get(ns);
  if (!st) {
    const rules = new Ruleset();
    const nf = new NetfilterNs(ns, {
      // A switch rather than rules.tables[name]: each load is monomorphic (this runs for every
      // table at every hook a packet passes, ~20 times per forwarded packet).
      table: (name: TableName) => {
        const t = rules.tables;
        switch (name) {
          case 'filter': return t.filter;
          case 'nat': return t.nat;
          case 'mangle': return t.mangle;
          case 'raw': return t.raw;
          default: return t[name];
        }
      },
      ruleText: (_table, chain, rule) => `-A ${chain}${cachedRuleText(rule)}`,
      settle: () => rules.settle(),
    });
    rules.onDefer = () => { nf.markUnsettled(); };
    rules.onSettled = () => { nf.settleNeeded = false; nf.refresh(); };
    st = { rules, nf };
    states.set(ns, st);
  }
  return st;
}

/** The state if netfilter was ever used in the namespace. */
export function netfilterIfAny(ns: Netns): NetfilterState | undefined {
  return states.get(ns);
}

/**
 * `iptables-restore [--noflush] < text` in `netns` of `node`. Throws the
 * parser's RuleError (line/column relative to `text`, file as given).
 */
export function iptablesRestore(node: Node, netns: string, text: string, opts: RestoreOptions = {}): void {
  const st = netfilterOf(node.ns(netns));
  // The namespace's ipsets let `-m set` rules naming a missing set be refused at load, as the kernel does.
  restoreInto(st.rules, text, { ...opts, ipsets: st.nf.ipsets });
  st.nf.refresh();
  // Rendered only when the configuration log is read.
  const flags = `${opts.noflush ? ' --noflush' : ''}${opts.counters ? ' -c' : ''}`;
  node.logCommand(netns, () => `iptables-restore${flags} <<'EOF'\n${text.endsWith('\n') ? text : text + '\n'}EOF`);
}

/**
 * Replace and delete chains of `table` in `netns` of `node`:
 * `Ruleset.replaceChains` (the effect of `iptables-restore --noflush` of a
 * block declaring the chains of `set`, with their rules, and `-X` of
 * `deleted`; atomic; the Chain objects are taken by reference and may be
 * shared with other namespaces). Logged as that iptables-restore command,
 * whose text `logText` renders only when the configuration log is read (it
 * should return the restore input, `*TABLE` … `COMMIT`). Throws RulesetError.
 */
export function iptablesReplaceChains(node: Node, netns: string, table: TableName, set: readonly Chain[], deleted: readonly string[], logText: () => string): void {
  const st = netfilterOf(node.ns(netns));
  st.rules.replaceChains(table, set, deleted);
  st.nf.refresh();
  node.logCommand(netns, () => {
    const text = logText();
    return `iptables-restore --noflush <<'EOF'\n${text.endsWith('\n') ? text : text + '\n'}EOF`;
  });
}

/**
 * `iptablesReplaceChains` for several tables in one transaction (kube-proxy
 * writes its filter and nat blocks in one iptables-restore): all or nothing.
 * `logText` renders the whole restore input, when the log is read.
 */
export function iptablesReplaceTables(node: Node, netns: string, changes: readonly { table: TableName; set: readonly Chain[]; deleted?: readonly string[] }[], logText: () => string): void {
  const st = netfilterOf(node.ns(netns));
  st.rules.replaceTables(changes);
  st.nf.refresh();
  node.logCommand(netns, () => {
    const text = logText();
    return `iptables-restore --noflush <<'EOF'\n${text.endsWith('\n') ? text : text + '\n'}EOF`;
  });
}

/** `iptables-save [-c]` of `netns` (an empty ruleset prints nothing, as on a host without tables). */
export function iptablesSaveText(node: Node, netns: string, opts: SaveOptions = {}): string {
  const st = netfilterIfAny(node.ns(netns));
  return st ? iptablesSave(st.rules, opts) : '';
}

/** `conntrack -L` of `netns` at the current virtual time (oldest entry first). */
export function conntrackList(node: Node, netns: string): string {
  const st = netfilterIfAny(node.ns(netns));
  return st ? st.nf.ct.list(node.world.now) : '';
}

/** `ipset restore` in `netns` of `node` (sets must exist before rules that use them are restored). */
export function ipsetRestoreText(node: Node, netns: string, text: string, file?: string): void {
  const st = netfilterOf(node.ns(netns));
  ipsetRestore(st.nf.ipsets, text, { file });
  const body = text.endsWith('\n') ? text : text + '\n';
  node.logCommand(netns, `ipset restore <<'EOF'\n${body}EOF`);
}

export { Ruleset, RulesetError } from './ruleset.js';
export { RuleError } from './types.js';
