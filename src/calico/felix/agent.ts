/**
 * felix's policy side on one node (iptables dataplane): `FelixPolicy`. It
 * reads the cluster through src/netpol's `NetpolInformer` (Pods, Namespaces,
 * NetworkPolicies, AdminNetworkPolicies, the BaselineAdminNetworkPolicy and
 * Nodes in the `ObjectStore`, validated and cached; one informer may serve
 * every node's agent and kube-router's too) and programs the node's host
 * namespace with what render.ts describes.
 *
 *  - Workload endpoints: the pods of this node (spec.nodeName = nodeName, or
 *    status.hostIP one of nodeIPs), with an IP, running, not host-network;
 *    their host interface is `workloadInterfaceName(ns, pod)` (the CNI plugin
 *    creates it and its route; felix only refers to it by name).
 *  - Changes: a watch event calls `requestSync()`, run now or once
 *    `minSyncPeriod` has passed since the last sync (virtual clock).
 *  - A sync: (1) `ipset restore` of every set felix uses — a new set is
 *    created and filled, an existing one refilled through a temporary
 *    `cali4t0` set and `swap` (felix's ipsets manager rewrites sets the same
 *    way); (2) one `iptables-restore --noflush` for filter and nat that
 *    declares (and so flushes) every cali- chain, writes their rules, makes
 *    felix's jump the first rule of INPUT/FORWARD/OUTPUT and nat
 *    PREROUTING/POSTROUTING/OUTPUT (inserted at 1, a misplaced copy deleted;
 *    rules recognised by their cali: hash) and FORWARD end with its two
 *    appended rules, and deletes chains no longer rendered; (3) `ipset destroy` of
 *    cali40 sets no longer used. Each is logged on the node as that command at
 *    sync time and applied when the node's rules or sets are first read.
 *    felix itself updates chains incrementally by rule hash; the rules after
 *    a sync are the same.
 *  - Traces: every endpoint chain, policy chain and the dispatch chains get a
 *    rule annotation (NetfilterNs.annotations): a DROP names the policies
 *    behind it from the reference evaluator's verdict, in src/netpol's words
 *    (`directionDenial`), e.g. "y/b is isolated for ingress by y/deny-all; no
 *    rule of [y/deny-all] admits x/a:81/TCP".
 */
import { SyncGate } from '../../engine/sync-gate.js';
import type { Node } from '../../kernel/node.js';
import type { Protocol } from '../../kube/pod.js';
import type { DirectionVerdict } from '../../kube/policy-eval.js';
import { directionDenial } from '../../kube/policy-explain.js';
import { netfilterOf } from '../../netfilter/index.js';
import { iptablesRestore as restoreInto, parseRule } from '../../netfilter/restore.js';
import { makeRule, ruleText, type Ruleset } from '../../netfilter/ruleset.js';
import { commentMatch } from '../../netfilter/matches/comment.js';
import { ChainTarget } from '../../netfilter/targets/standard.js';
import { ipsetRestore } from '../../netfilter/ipset-text.js';
import { maskOf, parseIp, SharedAddresses, type Ipsets } from '../../netfilter/ipset.js';
import type { Chain, Match, PacketCtx, Rule } from '../../netfilter/types.js';
import type { NetpolInformer } from '../../netpol/agent.js';
import { ipToString } from '../../wire/bytes.js';
import { chainLines, DEFAULT_FELIX_CONFIG, renderFelix, type FelixChain, type FelixIpset, type FelixNodeConfig, type FelixRendered } from './render.js';

export interface FelixConfig extends FelixNodeConfig {
  /** Minimum time between syncs (ns of virtual time). */
  minSyncPeriod: number;
}

const PROTO_NAME: Record<number, Protocol | undefined> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };
const SET_MAXELEM = 1048576;
const SET_OPTIONS = `family inet hashsize 1024 maxelem ${SET_MAXELEM}`;
const TMP_SET = 'cali4t0';

/** The informer's face the agent uses (a NetpolInformer, or a fixed view in benches). */
export type FelixInformer = Pick<NetpolInformer, 'cluster' | 'evaluatorFor' | 'onChange'>;

export class FelixPolicy {
  /** Coalesced, minSyncPeriod-spaced syncs (engine/sync-gate.ts). */
  private readonly gate: SyncGate;
  private prev: { filter: string[]; nat: string[]; sets: string[] } = { filter: [], nat: [], sets: [] };
  /** The last sync's rendering. */
  last: FelixRendered | null = null;
  syncs = 0;

  constructor(readonly node: Node, public cfg: FelixConfig, readonly informer: FelixInformer) {
    this.gate = new SyncGate(node.world.sched, () => this.cfg.minSyncPeriod, () => this.sync());
    informer.onChange(() => this.requestSync());
  }

  /**
   * New node configuration — IP pools (natOutgoing, disabled), IPIP/VXLAN on,
   * the node's addresses… — as felix learns it from its datastore; a sync
   * follows (after minSyncPeriod, like a watch event).
   */
  updateConfig(patch: Partial<FelixConfig>): void {
    this.cfg = { ...this.cfg, ...patch };
    this.requestSync();
  }

  start(): void {
    this.gate.start();
    this.sync();
  }

  stop(): void { this.gate.stop(); }

  requestSync(): void { this.gate.request(); }

  /**
   * One sync. What it decides (the rendering, the stale chains and sets, the
   * initvals of the sets it creates, the commands in the node's log, the trace
   * annotations) is done now; applying it — ipset restore, iptables-restore,
   * ipset destroy — is deferred to when anything first reads the node's rules
   * or sets (`Ruleset.defer`, `Ipsets.deferUntilUsed`), with the same effect.
   */
  sync(): void {
    const node = this.node, world = node.world;
    this.gate.synced();
    this.syncs++;
    const st = netfilterOf(node.host);
    const sets = st.nf.ipsets;
    // The previous sync's deferred work first: this one starts from its result.
    sets.settle();
    const r = renderFelix(this.informer.cluster(), this.cfg);
    this.last = r;

    // (1) ipset restore: a new set is created, an existing one refilled through cali4t0 (each create draws an initval).
    const existing = new Set([...r.sets.keys()].filter((n) => sets.has(n)));
    const restoresSets = r.sets.size > 0;
    if (restoresSets) {
      sets.predraw(r.sets.size);
      node.logCommand('host', () => `ipset restore <<'EOF'\n${ipsetText(r, existing)}EOF`);
    }

    // (2) iptables-restore --noflush of felix's chains (logged now; the repairs of the built-in chains need the rules as they are then).
    const tables = (['filter', 'nat'] as const).map((table) => {
      const chains = r.chains.filter((c) => c.table === table);
      const names = chains.map((c) => c.name);
      const current = new Set(names);
      const stale = this.prev[table].filter((c) => !current.has(c));
      this.prev[table] = names;
      return { table, chains, names, stale, repairs: [] as string[] };
    });
    node.logCommand('host', () => {
      st.rules.settle();
      return `iptables-restore --noflush <<'EOF'\n${restoreText(tables)}EOF`;
    });

    // (3) unused sets.
    const active = new Set(r.sets.keys());
    const gone = this.prev.sets.filter((n) => !active.has(n) && sets.has(n));
    if (gone.length) node.logCommand('host', () => gone.map((n) => `ipset destroy ${n}`));
    this.prev.sets = [...active];

    st.rules.defer((rs) => {
      if (restoresSets) {
        applyIpsetRestore(sets, r, existing);
        if (sets.predrawnLeft !== 0) throw new Error(`felix sync: ${sets.predrawnLeft} predrawn ipset initvals unused`);
      }
      for (const t of tables) t.repairs = builtinRepairs(rs, r, t.table);
      applyRestore(rs, tables, sets);
      if (gone.length) ipsetRestore(sets, gone.map((n) => `destroy ${n}\n`).join(''), { file: '<felix ipset destroy>' });
    });
    sets.deferUntilUsed(() => st.rules.settle());

    // Trace annotations.
    const ann = st.nf.annotations;
    for (const c of [...ann.keys()]) if (c.startsWith('cali-')) ann.delete(c);
    for (const ep of r.endpoints) {
      ann.set(ep.tw, (p, rule) => this.explainDrop(p, rule, 'ingress'));
      ann.set(ep.fw, (p, rule) => this.explainDrop(p, rule, 'egress'));
    }
    for (const pc of r.policyChains) ann.set(pc.chain, (p, rule) => this.explainDrop(p, rule, pc.dir));
    const unknown = (p: PacketCtx) => `no Calico workload endpoint on this node for ${ipToString(p.saddr)} → ${ipToString(p.daddr)}'s interface`;
    for (const c of r.chains) if (c.name.startsWith('cali-from-wl-dispatch') || c.name.startsWith('cali-to-wl-dispatch')) ann.set(c.name, unknown);
    if (world.trace.on)
      world.event(node.name, 'host', '', null, 'felix.sync', `felix sync: ${r.endpoints.length} workload endpoints, ${r.policyChains.length} policy chains, ${r.chains.length} chains, ${r.sets.size} ipsets`);
  }

  /**
   * Text for a DROP of an endpoint or policy chain (other verdicts get none):
   * the INVALID and encapsulation guards say what they are; the end-of-tier
   * DROP, a policy's Deny and the profile's DROP name the policies through the
   * reference evaluator.
   */
  private explainDrop(p: PacketCtx, rule: Rule, dir: 'ingress' | 'egress'): string | undefined {
    if (rule.target?.name !== 'DROP') return undefined;
    const text = ruleText(rule);
    if (text.includes('--ctstate INVALID')) return 'conntrack state INVALID';
    if (text.includes('encapped packets originating in workloads'))
      return `felix drops ${p.proto === 4 ? 'IP-in-IP' : 'VXLAN (UDP 4789)'} packets sent by a workload (Allow${p.proto === 4 ? 'IPIP' : 'VXLAN'}PacketsFromWorkloads is off)`;
    return this.explain(p, dir);
  }

  /** The reference evaluator's reason for a denied packet, for the direction the chain judged. */
  private explain(p: PacketCtx, dir: 'ingress' | 'egress'): string | undefined {
    const proto = PROTO_NAME[p.proto];
    const src = ipToString(p.saddr), dst = ipToString(p.daddr);
    if (!proto) return `${src} → ${dst} protocol ${p.proto}: no policy port matches it`;
    const v = this.informer.evaluatorFor().verdict({ kind: 'ip', ip: src }, { kind: 'ip', ip: dst }, p.dport, proto);
    const d: DirectionVerdict = dir === 'egress' ? v.egress : v.ingress;
    const why = directionDenial(d, v);
    if (why) return why;
    if (d.allowed) return `felix's rules and the reference evaluator disagree: the evaluator allows ${dir} ${v.from} -> ${v.to} ${v.port}/${v.protocol}`;
    return undefined;
  }
}

const HASH = /--comment "?cali:([A-Za-z0-9_-]{16})"?/;
const normalise = (args: string): string => args.trim();
/** Two rules carry the same felix rule hash (felix recognises its rules by it). */
function sameHash(a: string, b: string): boolean {
  const x = HASH.exec(a), y = HASH.exec(b);
  return !!x && !!y && x[1] === y[1];
}

/** The ipset restore input: sets by name; a new one created and filled, an existing one refilled through cali4t0. */
function ipsetText(r: FelixRendered, existing: ReadonlySet<string>): string {
  let text = '';
  for (const name of [...r.sets.keys()].sort()) {
    const s = r.sets.get(name)!;
    const exists = existing.has(name);
    const target = exists ? TMP_SET : name;
    text += `create ${target} ${s.type} ${SET_OPTIONS}\n`;
    for (const e of s.entries) text += `add ${target} ${e}\n`;
    if (exists) text += `swap ${TMP_SET} ${name}\ndestroy ${TMP_SET}\n`;
  }
  return text;
}

/**
 * Applies what `ipsetText(r, existing)` restores, command for command, except that a
 * hash:net set's adds go in as one `Ipsets.addShared` of nets parsed once per rendered
 * set (the selector sets are one object per cluster view, so once for every node): a
 * node's table is filled only when something lists or changes the set, and membership
 * tests read the shared nets.
 */
function applyIpsetRestore(sets: Ipsets, r: FelixRendered, existing: ReadonlySet<string>): void {
  const file = '<felix ipset restore>';
  let text = '';
  for (const name of [...r.sets.keys()].sort()) {
    const s = r.sets.get(name)!;
    const exists = existing.has(name);
    const target = exists ? TMP_SET : name;
    text += `create ${target} ${s.type} ${SET_OPTIONS}\n`;
    const shared = s.type === 'hash:net' ? sharedNetsOf(s) : null;
    if (shared) {
      ipsetRestore(sets, text, { file });
      text = '';
      sets.addShared(target, shared);
    } else for (const e of s.entries) text += `add ${target} ${e}\n`;
    if (exists) text += `swap ${TMP_SET} ${name}\ndestroy ${TMP_SET}\n`;
  }
  if (text) ipsetRestore(sets, text, { file });
}

const sharedNets = new WeakMap<FelixIpset, SharedAddresses | null>();

/** A hash:net set's entries (`A.B.C.D` or `A.B.C.D/N`, N in 1..32, host bits clear) as shared nets, else null (restored as text). */
function sharedNetsOf(s: FelixIpset): SharedAddresses | null {
  let a = sharedNets.get(s);
  if (a !== undefined) return a;
  const ips: number[] = [], cidrs: number[] = [];
  for (const e of s.entries) {
    const slash = e.indexOf('/');
    const ip = parseIp(slash < 0 ? e : e.slice(0, slash));
    const c = slash < 0 ? 32 : /^\d{1,2}$/.test(e.slice(slash + 1)) ? Number(e.slice(slash + 1)) : -1;
    if (ip < 0 || c < 1 || c > 32 || ((ip & maskOf(c)) >>> 0) !== ip) { a = null; break; }
    ips.push(ip);
    cidrs.push(c);
  }
  if (a === undefined) a = ips.length > 0 && ips.length <= SET_MAXELEM ? new SharedAddresses(ips, cidrs) : null;
  sharedNets.set(s, a);
  return a;
}

/**
 * ChainInsertMode=insert: felix's jump must be the first rule of each built-in chain, and
 * FORWARD must end with its two appended rules; anything else is repaired (re-inserted or
 * re-appended, the misplaced copy deleted), as felix's table syncer does.
 */
function builtinRepairs(rs: Ruleset, r: FelixRendered, table: 'filter' | 'nat'): string[] {
  const lines: string[] = [];
  const tbl = rs.tables[table];
  for (const i of r.inserts.filter((x) => x.table === table)) {
    const texts = (tbl.chains.get(i.chain)?.rules ?? []).map((x) => ruleText(x).trim());
    const want = normalise(i.args);
    const at = texts.findIndex((t) => t === want || sameHash(t, want));
    if (at === 0) continue;
    if (at > 0) lines.push(`-D ${i.chain} ${at + 1}`);
    lines.push(`-I ${i.chain} 1 ${i.args}`);
  }
  const apps = r.appends.filter((x) => x.table === table);
  if (apps.length) {
    const chain = apps[0]!.chain;
    const texts = (tbl.chains.get(chain)?.rules ?? []).map((x) => ruleText(x).trim());
    const tail = texts.slice(-apps.length);
    if (!apps.every((a, k) => sameHash(tail[k] ?? '', a.args))) {
      const stale = texts.map((t, k) => (apps.some((a) => sameHash(t, a.args)) ? k + 1 : 0)).filter((k) => k > 0).reverse();
      for (const k of stale) lines.push(`-D ${chain} ${k}`);
      for (const a of apps) lines.push(`-A ${chain} ${a.args}`);
    }
  }
  return lines;
}

/**
 * Applies what `restoreText(tables)` restores (iptables-restore --noflush): felix's chains
 * go in as Chain objects (`Ruleset.replaceTables`: declared, so flushed, with their rules;
 * the stale ones deleted), then the built-in chains' repairs as restore text (they name
 * felix's chains, which exist by then; two transactions where felix's restore is one: they
 * differ only if the repairs failed, and felix's never do — they insert jumps to chains just
 * written and delete rules at positions read from the rules as they are). A chain object rendered for several nodes
 * (render.ts SharedView) is parsed once and shared (copy-on-write); a bodies array (an
 * endpoint chain's is shared by pods alike) is parsed once and each chain gets its own
 * comment matches.
 * The result is the restore's, rule for rule: a rule line is `-A NAME -m comment --comment
 * "cali:HASH" BODY`, which parses as the comment match followed by BODY's header, matches and
 * target.
 */
function applyRestore(rs: Ruleset, tables: readonly { table: 'filter' | 'nat'; chains: readonly FelixChain[]; stale: readonly string[]; repairs: readonly string[] }[], sets: Ipsets): void {
  rs.replaceTables(tables.map((t) => ({ table: t.table, set: t.chains.map(chainOf), deleted: t.stale })));
  const repairs = tables.filter((t) => t.repairs.length > 0);
  if (repairs.length) restoreInto(rs, repairs.map((t) => `*${t.table}\n${t.repairs.join('\n')}\nCOMMIT\n`).join(''), { noflush: true, ipsets: sets });
}

/** Chain objects made from felix's chains: one per chain object (a shared one is shared by every node's ruleset). */
const parsedChains = new WeakMap<FelixChain, Chain>();
/** A bodies array, parsed (once for every chain that has it). */
const parsedBodies = new WeakMap<readonly string[], Rule[]>();

function chainOf(c: FelixChain): Chain {
  let ch = parsedChains.get(c);
  if (ch !== undefined) return ch;
  let bodies = parsedBodies.get(c.bodies);
  if (bodies === undefined) parsedBodies.set(c.bodies, (bodies = c.bodies.map((b) => parseBody(b, c.table, c.name))));
  const rules = bodies.map((b, i) => makeRule(b.ip, ([commentMatch(c.comments[i]!)] as Match[]).concat(b.matches), b.target));
  ch = { name: c.name, policy: null, pkts: 0, bytes: 0, rules };
  parsedChains.set(c, ch);
  return ch;
}

/** Rule bodies parsed, by table and text (rules are immutable: any chain may hold them); bounded. */
const parsedTexts = new Map<string, Rule>();
const PARSED_TEXTS_MAX = 65536;

/** A dispatch rule's body: `-i|-o IFACE -g CHAIN` (one per local endpoint and direction, on every node). */
const DISPATCH = /^(-[io]) ([A-Za-z0-9_.+-]{1,15}) -g ([A-Za-z0-9_./+-]+)$/;
/** The parse of `-i|-o X -g Y`, whose interface and chain a dispatch rule's body replaces. */
const dispatchShapes = new Map<string, Rule>();

/**
 * A rule body parsed. A dispatch rule (the per-node bodies) is the parse of its shape with
 * its interface and goto chain in place of the shape's (a goto's target is always a chain,
 * and an interface name of 1-15 characters is taken as written): the same rule without a
 * tokenizer pass per endpoint.
 */
function parseBody(body: string, table: 'filter' | 'nat', chain: string): Rule {
  const m = DISPATCH.exec(body);
  if (m === null) {
    // The bodies of endpoint chains repeat across their arrays (the conntrack, mark and profile rules…): each text parsed once.
    const key = `${table} ${body}`;
    let r = parsedTexts.get(key);
    if (r === undefined) {
      if (parsedTexts.size >= PARSED_TEXTS_MAX) parsedTexts.clear();
      parsedTexts.set(key, (r = parseRule(body, table, chain)));
    }
    return r;
  }
  const flag = m[1]!;
  let shape = dispatchShapes.get(flag);
  if (shape === undefined) dispatchShapes.set(flag, (shape = parseRule(`${flag} shape -g shape`, 'filter', 'shape')));
  const field = flag === '-i' ? 'inIface' : 'outIface';
  return makeRule({ ...shape.ip, [field]: { ...shape.ip[field], name: m[2]! } }, shape.matches, new ChainTarget(m[3]!, true));
}

/** The iptables-restore --noflush input: per table, the chains declared (and stale ones), the built-in repairs, the rules, the stale chains deleted. */
function restoreText(tables: readonly { table: string; chains: readonly FelixChain[]; names: readonly string[]; stale: readonly string[]; repairs: readonly string[] }[]): string {
  const lines: string[] = [];
  for (const t of tables) {
    lines.push(`*${t.table}`);
    for (const c of [...t.names, ...t.stale]) lines.push(`:${c} - [0:0]`);
    lines.push(...t.repairs);
    for (const c of t.chains) lines.push(...chainLines(c));
    for (const c of t.stale) lines.push(`-X ${c}`);
    lines.push('COMMIT');
  }
  return lines.join('\n') + '\n';
}

/** Starts felix's policy agent on `node` (first sync now). */
export function startFelixPolicy(node: Node, informer: FelixInformer, cfg: Partial<FelixConfig> & Pick<FelixConfig, 'nodeName' | 'nodeIPs'>): FelixPolicy {
  const a = new FelixPolicy(node, { ...DEFAULT_FELIX_CONFIG, minSyncPeriod: 0, ...cfg }, informer);
  a.start();
  return a;
}
