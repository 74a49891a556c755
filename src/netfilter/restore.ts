/**
 * iptables-restore: the `iptables-save` text format into a Ruleset.
 *
 *   # comment / blank lines
 *   *TABLE
 *   :CHAIN POLICY [pkts:bytes]        (POLICY `-` for user chains)
 *   [pkts:bytes] -A CHAIN rule…       (counters used only with `counters`)
 *   -I CHAIN [n] rule… | -D CHAIN rule…|n | -R CHAIN n rule… | -N CHAIN
 *   -X [CHAIN] | -F [CHAIN] | -Z [CHAIN] | -P CHAIN POLICY | -E OLD NEW
 *   COMMIT
 *
 * Without `noflush` each `*TABLE` block replaces the table: its rules and
 * user chains go, built-in chains become ACCEPT [0:0] unless declared
 * (verified). Counters in the text (`[p:b]`) are used only with `counters`
 * (verified: ignored without -c). With
 * `noflush`, `:CHAIN` creates a user chain or flushes an existing one (what
 * kube-proxy relies on); a built-in chain's declaration sets its policy only.
 * The whole input is one transaction (as iptables-nft commits one batch):
 * on any error nothing changes (Ruleset.begin/rollback: applied in place,
 * each chain copied before its first change). Tables are validated (loops,
 * hook limits) at each COMMIT, looking only at the chains the block changed
 * when it changed part of the table (Ruleset.checkCommit).
 *
 * A rule: the header options (-s -d -i -o -p -f, long forms too, each with a
 * leading `!`), `-m NAME` then that module's options, `-j TARGET [opts]` or
 * `-g CHAIN`, `-c PKTS BYTES`. An `--option` goes to the target if it owns it,
 * else to the most recently loaded match that owns it, else loads the
 * implicit match of `-p` (tcp, udp, icmp, sctp) as iptables does; anything
 * else is an error naming the token ("unknown option \"--dportx\""). A second
 * `-m tcp`/`-m udp` in one rule is merged into the first (iptables-nft keeps
 * one; later options win — verified).
 */
import type { IpsetRegistry } from './ipset-types.js';
import { RuleError, type IpHeaderMatch, type Match, type Rule, type TableName, type Target } from './types.js';
import { IMPLICIT_MATCH, getMatch, getTarget, type MatchModule, type OptionTokens, type OptSpec, type ParseCtx, type TargetModule } from './registry.js';
import { ModuleError, PROTO_BY_NAME, ValueError, parseAddrMask, tokenize, type Token } from './tokens.js';
import { Ruleset, RulesetError, TABLE_NAMES, isBuiltin, makeRule } from './ruleset.js';
import { ChainTarget } from './targets/standard.js';
import { TcpMatch } from './matches/tcp.js';
import { UdpMatch } from './matches/udp.js';

export interface RestoreOptions {
  /** File name for errors (default `<stdin>`). */
  file?: string;
  /** iptables-restore --noflush. */
  noflush?: boolean;
  /** iptables-restore -c: take `[p:b]` counters from the text. */
  counters?: boolean;
  /** The namespace's ipsets: `-m set --match-set NAME` must name an existing set. */
  ipsets?: IpsetRegistry;
}

/** An error at a token (line known by the caller). */
class At extends Error {
  constructor(readonly col: number, message: string, readonly expected?: string) { super(message); }
}

const HEADER_OPTS = new Map<string, 's' | 'd' | 'i' | 'o' | 'p' | 'f'>([
  ['-s', 's'], ['--source', 's'], ['--src', 's'], ['-d', 'd'], ['--destination', 'd'], ['--dst', 'd'],
  ['-i', 'i'], ['--in-interface', 'i'], ['-o', 'o'], ['--out-interface', 'o'], ['-p', 'p'], ['--protocol', 'p'],
  ['-f', 'f'], ['--fragment', 'f'],
]);

interface Loaded {
  mod: MatchModule | TargetModule;
  opts: ReadonlyMap<string, OptSpec>;
  args: OptionTokens;
  tok: Token;
}

/** A module's options by name (built once per module). */
const optMaps = new WeakMap<MatchModule | TargetModule, ReadonlyMap<string, OptSpec>>();
function optionsOf(mod: MatchModule | TargetModule): ReadonlyMap<string, OptSpec> {
  let m = optMaps.get(mod);
  if (m === undefined) {
    const mm = new Map<string, OptSpec>();
    for (const o of mod.options) if (!mm.has(o.name)) mm.set(o.name, o);
    m = mm;
    optMaps.set(mod, m);
  }
  return m;
}

/** Long options that are not module options (handled with their short forms). */
const LONG_COMMANDS = new Set(['--match', '--jump', '--goto', '--set-counters']);

const HEADER_FIELD = { s: 'src', d: 'dst', i: 'inIface', o: 'outIface', p: 'proto' } as const;
const DIGITS = /^[0-9]+$/;
const CHAIN_LIKE = /^[A-Z0-9_-]+$/i;

/** `n` value tokens after position i, or the "requires an argument" error at `tk`. */
function values(tokens: Token[], i: number, n: number, tk: Token): Token[] {
  if (i + 1 + n > tokens.length) throw new At(tk.col, `option "${tk.text}" requires an argument`, n === 2 ? 'two values' : 'a value');
  return n === 1 ? [tokens[i + 1]] : tokens.slice(i + 1, i + 1 + n);
}

/**
 * Parse the rule part of a command (tokens[from…]: everything after the
 * chain name, and after the position for -I/-R) into a Rule. Throws At
 * (column, message).
 */
function parseRuleTokens(tokens: Token[], from: number, table: TableName, chain: string, ruleset: Ruleset | null, source?: { file: string; line: number }, ipsets?: IpsetRegistry): { rule: Rule; counters?: { pkts: number; bytes: number } } {
  const ip: IpHeaderMatch = {};
  const loaded: Loaded[] = [];
  let target: Loaded | null = null;
  let jump: { name: string; goto: boolean; tok: Token } | null = null;
  let counters: { pkts: number; bytes: number } | undefined;
  let invert: Token | null = null;
  const ctx: ParseCtx = ipsets ? { table, chain, ip, ipsets } : { table, chain, ip };

  for (let i = from; i < tokens.length; i++) {
    const tk = tokens[i];
    const t = tk.text;
    if (tk.quoted) throw new At(tk.col, `Bad argument \`${t}'`);
    if (t === '!') {
      if (invert) throw new At(tk.col, "multiple `!' flags not allowed");
      invert = tk;
      continue;
    }
    if (t.charCodeAt(0) === 45 /* - */ && t.charCodeAt(1) === 45 && t.length > 2) {
      if (!HEADER_OPTS.has(t) && !LONG_COMMANDS.has(t)) {
        const name = t.slice(2);
        let owner: Loaded | null = null;
        let spec: OptSpec | undefined;
        if (target && (spec = target.opts.get(name)) !== undefined) owner = target;
        else {
          for (let k = loaded.length - 1; k >= 0; k--) {
            spec = loaded[k].opts.get(name);
            if (spec !== undefined) { owner = loaded[k]; break; }
          }
        }
        if (!owner && ip.proto && !ip.proto.invert) {
          const implicit = IMPLICIT_MATCH[ip.proto.num];
          const mod = implicit ? getMatch(implicit) : undefined;
          const opts = mod ? optionsOf(mod) : undefined;
          if (mod && opts && (spec = opts.get(name)) !== undefined) {
            owner = { mod, opts, args: [], tok: tk };
            loaded.push(owner);
          }
        }
        if (!owner || !spec) throw new At(tk.col, `unknown option "${t}"`, target ? `an option of ${target.mod.name} or of a loaded match` : undefined);
        if (invert && !spec.invert) throw new At(invert.col, `${owner.mod.name}: option "${t}" cannot be inverted.`);
        const vals = spec.args === 0 ? [] : values(tokens, i, spec.args, tk);
        i += spec.args;
        owner.args.push({ name, invert: invert !== null, values: spec.args === 0 ? [] : spec.args === 1 ? [vals[0].text] : vals.map((x) => x.text), tok: tk, valueToks: vals });
        invert = null;
        continue;
      }
    }
    const h = HEADER_OPTS.get(t);
    if (h !== undefined) {
      const inv = invert !== null;
      invert = null;
      if (h === 'f') {
        if (ip.frag) throw new At(tk.col, 'multiple -f flags not allowed');
        ip.frag = { invert: inv };
        continue;
      }
      const v = values(tokens, i, 1, tk)[0];
      i++;
      const field = HEADER_FIELD[h];
      if (ip[field]) throw new At(tk.col, `multiple -${h} flags not allowed`);
      if (h === 's' || h === 'd') {
        try {
          const a = parseAddrMask(v.text);
          ip[h === 's' ? 'src' : 'dst'] = { addr: a.addr, mask: a.mask, prefix: a.prefix, invert: inv };
        } catch (e) {
          if (e instanceof ValueError) throw new At(v.col, e.message, 'an address a.b.c.d[/mask]');
          throw e;
        }
      } else if (h === 'i' || h === 'o') {
        if (v.text.length === 0 || v.text.length > 15) throw new At(v.col, `interface name \`${v.text}' must be shorter than 16 characters`);
        ip[h === 'i' ? 'inIface' : 'outIface'] = { name: v.text, invert: inv };
      } else {
        const name = v.text.toLowerCase();
        let num = PROTO_BY_NAME[name];
        if (num === undefined && DIGITS.test(name) && Number(name) <= 255) num = Number(name);
        if (num === undefined) throw new At(v.col, `unknown protocol "${v.text}" specified`, 'a protocol name or number');
        if (num === 0 && inv) throw new At(tk.col, 'rule would never match protocol');
        ip.proto = { num, name, invert: inv };
      }
      continue;
    }
    if (t === '-m' || t === '--match') {
      if (invert) throw new At(invert.col, 'unexpected ! flag before --match');
      const v = values(tokens, i, 1, tk)[0];
      i++;
      const mod = getMatch(v.text);
      if (!mod) throw new At(v.col, `Couldn't load match \`${v.text}':No such file or directory`, 'a supported match module');
      loaded.push({ mod, opts: optionsOf(mod), args: [], tok: v });
      continue;
    }
    if (t === '-j' || t === '--jump' || t === '-g' || t === '--goto') {
      if (invert) throw new At(invert.col, `cannot have ! before ${t}`);
      if (jump) throw new At(tk.col, 'multiple -j flags not allowed');
      const v = values(tokens, i, 1, tk)[0];
      i++;
      const goto = t === '-g' || t === '--goto';
      jump = { name: v.text, goto, tok: v };
      const mod = goto ? undefined : getTarget(v.text);
      if (mod) target = { mod, opts: optionsOf(mod), args: [], tok: v };
      else if (ruleset && !ruleset.hasChain(table, v.text)) {
        if (goto || CHAIN_LIKE.test(v.text)) throw new At(v.col, `Chain '${v.text}' does not exist`, 'a target or an existing chain');
        throw new At(v.col, `Couldn't load target \`${v.text}':No such file or directory`, 'a target or an existing chain');
      }
      continue;
    }
    if (t === '-c' || t === '--set-counters') {
      const [p, b] = values(tokens, i, 2, tk);
      i += 2;
      if (!DIGITS.test(p.text) || !DIGITS.test(b.text)) throw new At(p.col, 'counters must be numbers', '-c PKTS BYTES');
      counters = { pkts: Number(p.text), bytes: Number(b.text) };
      continue;
    }
    throw new At(tk.col, `Bad argument \`${t}'`);
  }
  if (invert) throw new At(invert.col, "no option after `!'");

  const matches: Match[] = [];
  for (const l of loaded) {
    const m = runParse(() => (l.mod as MatchModule).parse(l.args, ctx), l.tok);
    const prev = (m instanceof TcpMatch || m instanceof UdpMatch) ? matches.find((x) => x.name === m.name) : undefined;
    if (prev) (prev as unknown as { mergeFrom(o: Match): void }).mergeFrom(m);
    else matches.push(m);
  }
  let tgt: Target | null = null;
  if (target) tgt = runParse(() => (target!.mod as TargetModule).parse(target!.args, ctx), target.tok);
  else if (jump) tgt = new ChainTarget(jump.name, jump.goto);
  return { rule: makeRule(ip, matches, tgt, source), counters };
}

function runParse<T>(fn: () => T, tok: Token): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ModuleError) throw new At((e.tok ?? tok).col, e.message, e.expected);
    throw e;
  }
}

/**
 * Parse one rule given as iptables arguments (`-p tcp --dport 80 -j ACCEPT`)
 * for `table`/`chain`; jump targets are checked against `ruleset` when given.
 * Throws RuleError (file `<rule>`, line 1).
 */
export function parseRule(text: string, table: TableName, chain: string, ruleset: Ruleset | null = null, ipsets?: IpsetRegistry): Rule {
  try {
    return parseRuleTokens(tokenize(text), 0, table, chain, ruleset, undefined, ipsets).rule;
  } catch (e) {
    if (e instanceof At) throw new RuleError('<rule>', 1, e.col, e.message, e.expected);
    if (e instanceof ValueError) throw new RuleError('<rule>', 1, 1, e.message);
    throw e;
  }
}

const COMMANDS = new Map<string, string>([
  ['-A', 'A'], ['--append', 'A'], ['-I', 'I'], ['--insert', 'I'], ['-D', 'D'], ['--delete', 'D'], ['-R', 'R'], ['--replace', 'R'],
  ['-N', 'N'], ['--new-chain', 'N'], ['-X', 'X'], ['--delete-chain', 'X'], ['-F', 'F'], ['--flush', 'F'], ['-Z', 'Z'], ['--zero', 'Z'],
  ['-P', 'P'], ['--policy', 'P'], ['-E', 'E'], ['--rename-chain', 'E'],
]);

/** Load iptables-restore text into `rs` (atomically). Throws RuleError naming file, line and column. */
export function iptablesRestore(rs: Ruleset, text: string, opts: RestoreOptions = {}): void {
  const file = opts.file ?? '<stdin>';
  // One transaction (as iptables-nft commits one batch): changes go into `rs`
  // directly, copying each chain before its first change; any error undoes them.
  rs.begin();
  try {
    restoreLines(rs, text, opts, file);
  } catch (e) {
    rs.rollback();
    throw e;
  }
  rs.commit();
}

function restoreLines(work: Ruleset, text: string, opts: RestoreOptions, file: string): void {
  const lines = text.split('\n');
  let table: TableName | null = null;
  let tableLine = 0;
  let lineNo = 0;
  let lastLine = 0;
  const fail = (col: number, msg: string, expected?: string): never => { throw new RuleError(file, lineNo, col, msg, expected); };

  for (const raw of lines) {
    lineNo++;
    const line = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    lastLine = lineNo;
    const col0 = line.indexOf(trimmed[0]) + 1;
    if (trimmed.startsWith('*')) {
      if (table) fail(col0, `table '${trimmed.slice(1)}' starts before COMMIT of table '${table}' (line ${tableLine})`, 'COMMIT');
      const name = trimmed.slice(1).trim();
      if (!(TABLE_NAMES as readonly string[]).includes(name)) fail(col0 + 1, `Can't initialize iptables table \`${name}': Table does not exist`, TABLE_NAMES.join(', '));
      table = name as TableName;
      tableLine = lineNo;
      work.table(table);
      if (!opts.noflush) {
        // The block replaces the table: rules and user chains go, built-in chains
        // start again as ACCEPT [0:0] unless declared (verified on iptables 1.8.9).
        work.resetTable(table);
      }
      continue;
    }
    if (!table) fail(col0, 'rule or chain line outside a table', '*TABLE first');
    const tb = table as TableName;
    if (trimmed === 'COMMIT') {
      try {
        work.checkCommit(tb);
      } catch (e) {
        if (e instanceof RulesetError) {
          const src = e.rule?.source;
          throw new RuleError(src?.file ?? file, src?.line ?? lineNo, 1, e.message);
        }
        throw e;
      }
      table = null;
      continue;
    }
    let tokens: Token[];
    try {
      tokens = tokenize(line);
    } catch (e) {
      if (e instanceof ValueError) fail(col0, e.message, 'a closing "');
      throw e;
    }
    if (trimmed.startsWith(':')) {
      const first = tokens[0];
      const name = first.text.slice(1);
      if (!name) fail(first.col, 'chain name missing after `:\'', ':CHAIN POLICY [p:b]');
      const pol = tokens[1];
      if (!pol) fail(first.col + first.text.length, `no policy for chain ${name}`, 'ACCEPT, DROP or -');
      const cnt = tokens[2] ? parseCounters(tokens[2], fail) : undefined;
      if (tokens.length > 3) fail(tokens[3].col, `Bad argument \`${tokens[3].text}'`);
      try {
        if (isBuiltin(tb, name)) {
          if (pol.text === '-') fail(pol.col, `Can't set policy \`-' on built-in chain ${name}`, 'ACCEPT or DROP');
          work.setPolicy(tb, name, pol.text, opts.counters ? cnt : undefined);
        } else {
          if (pol.text !== '-') fail(pol.col, `Can't set policy \`${pol.text}' on \`${name}': Bad built-in chain name`, '-');
          if (work.hasChain(tb, name)) work.flush(tb, name);
          else work.newChain(tb, name);
        }
      } catch (e) {
        if (e instanceof RulesetError) fail(first.col, e.message);
        throw e;
      }
      continue;
    }
    // [p:b] counters prefix
    let rc: { pkts: number; bytes: number } | undefined;
    if (tokens[0].text.startsWith('[')) {
      rc = parseCounters(tokens[0], fail);
      tokens = tokens.slice(1);
      if (tokens.length === 0) fail(col0, 'counters without a command', '-A CHAIN …');
    }
    const cmdTok = tokens[0];
    const cmd = COMMANDS.get(cmdTok.text);
    if (!cmd) fail(cmdTok.col, cmdTok.text.startsWith('-') ? `unknown command "${cmdTok.text}"` : 'no command specified', '-A, -I, -D, -R, -N, -X, -F, -Z, -P or -E');
    const chainTok = tokens[1];
    const chainName = chainTok?.text;
    const needChain = () => { if (!chainTok) fail(cmdTok.col, `option "${cmdTok.text}" requires an argument`, 'a chain name'); return chainName!; };
    const src = { file, line: lineNo };
    const parse = (from: number) => {
      try {
        return parseRuleTokens(tokens, from, tb, chainName!, work, src, opts.ipsets);
      } catch (e) {
        if (e instanceof At) fail(e.col, e.message, e.expected);
        throw e;
      }
    };
    const counted = (c?: { pkts: number; bytes: number }) => (opts.counters ? c ?? rc : undefined);
    const num = (tk: Token | undefined): number | null => (tk && DIGITS.test(tk.text) ? Number(tk.text) : null);
    try {
      switch (cmd) {
        case 'A': {
          needChain();
          if (!work.hasChain(tb, chainName!)) fail(chainTok.col, `Chain '${chainName}' does not exist`, 'a chain declared with :CHAIN or -N');
          const { rule, counters } = parse(2);
          work.rawAppend(tb, chainName!, rule, counted(counters));
          break;
        }
        case 'I': {
          needChain();
          if (!work.hasChain(tb, chainName!)) fail(chainTok.col, `Chain '${chainName}' does not exist`, 'a chain declared with :CHAIN or -N');
          const n = num(tokens[2]);
          const { rule, counters } = parse(n === null ? 2 : 3);
          work.rawInsert(tb, chainName!, rule, n ?? 1, counted(counters));
          break;
        }
        case 'D': {
          needChain();
          if (!work.hasChain(tb, chainName!)) fail(chainTok.col, `Chain '${chainName}' does not exist`);
          const n = num(tokens[2]);
          if (n !== null && tokens.length === 3) work.rawDelete(tb, chainName!, n);
          else work.rawDelete(tb, chainName!, parse(2).rule);
          break;
        }
        case 'R': {
          needChain();
          if (!work.hasChain(tb, chainName!)) fail(chainTok.col, `Chain '${chainName}' does not exist`);
          const n = num(tokens[2]);
          if (n === null) fail(tokens[2]?.col ?? chainTok.col, '-R requires a rule number', 'a rule number');
          const { rule, counters } = parse(3);
          work.rawReplace(tb, chainName!, n!, rule, counted(counters));
          break;
        }
        case 'N': needChain(); extra(tokens, 2, fail); work.newChain(tb, chainName!); break;
        case 'X': extra(tokens, 2, fail); work.deleteChain(tb, chainName); break;
        case 'F': extra(tokens, 2, fail); work.flush(tb, chainName); break;
        case 'Z': extra(tokens, 2, fail); work.zero(tb, chainName); break;
        case 'P': {
          needChain();
          const p = tokens[2];
          if (!p) fail(chainTok.col + chainTok.text.length, '-P requires a policy', 'ACCEPT or DROP');
          extra(tokens, 3, fail);
          work.setPolicy(tb, chainName!, p.text);
          break;
        }
        case 'E': {
          needChain();
          const to = tokens[2];
          if (!to) fail(chainTok.col + chainTok.text.length, '-E requires a new name', 'OLD NEW');
          extra(tokens, 3, fail);
          work.renameChain(tb, chainName!, to.text);
          break;
        }
      }
    } catch (e) {
      if (e instanceof RulesetError) fail(chainTok?.col ?? cmdTok.col, e.message);
      throw e;
    }
  }
  if (table) throw new RuleError(file, lastLine + 1, 1, `COMMIT expected at line ${lastLine + 1}`, `COMMIT for table '${table}' opened at line ${tableLine}`);
}

function extra(tokens: Token[], from: number, fail: (col: number, msg: string, expected?: string) => never): void {
  if (tokens.length > from) fail(tokens[from].col, `Bad argument \`${tokens[from].text}'`);
}

function parseCounters(tk: Token, fail: (col: number, msg: string, expected?: string) => never): { pkts: number; bytes: number } {
  const m = /^\[([0-9]+):([0-9]+)\]$/.exec(tk.text);
  if (!m) return fail(tk.col, `Bad counters \`${tk.text}'`, '[PKTS:BYTES]');
  return { pkts: Number(m[1]), bytes: Number(m[2]) };
}
