/**
 * The `ipset restore` / `ipset save` text formats.
 *
 * restore: one command per line (`create NAME TYPE [opts]`, `add NAME ELEM
 * [opts]`, `del`, `flush [NAME]`, `destroy [NAME]`, `swap A B`, `rename A B`,
 * with the short aliases -N -A -D -F -X -W -E), `-exist` (or `-!`) anywhere on
 * a line or for the whole input, blank lines and `#` comments skipped. As the
 * real tool, restore is not atomic: it stops at the first bad line and the
 * lines before it stay applied. Errors are RuleError(file, line, col) with the
 * message ipset prints after "ipset v7.17: Error in line N: ".
 *
 * save: `create NAME TYPE family inet hashsize H maxelem M [timeout T]
 * [counters] [comment] [skbinfo] bucketsize B initval 0xXXXXXXXX` (bitmap:port:
 * `range A-B`, list:set: `size N`), then one `add` line per element in the
 * kernel's listing order, each line ending in "\n"; list:set sets come last.
 * `forceadd` is accepted but, as ipset 7.17 on Linux 6.18 shows, not printed.
 */
import { RuleError } from './types.js';
import { IPSET_TYPES, IpsetError, MAX_TIMEOUT, type IpsetAddOpts, type IpsetCreateOpts, type IpsetType, type Ipsets } from './ipset.js';

interface Tok { text: string; col: number }

/** Splits a line into words; double quotes group (and are removed), as ipset's restore tokenizer. */
function tokenize(line: string, file: string, lineNo: number): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= line.length) break;
    const col = i + 1;
    let text = '';
    if (line[i] === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new RuleError(file, lineNo, col, 'Syntax error: missing close quote');
      text = line.slice(i + 1, end);
      i = end + 1;
    } else {
      while (i < line.length && line[i] !== ' ' && line[i] !== '\t') text += line[i++];
    }
    out.push({ text, col });
  }
  return out;
}

const COMMANDS: Record<string, string> = {
  create: 'create', n: 'create', '-N': 'create', '--create': 'create',
  add: 'add', a: 'add', '-A': 'add', '--add': 'add',
  del: 'del', d: 'del', '-D': 'del', '--del': 'del',
  test: 'test', t: 'test', '-T': 'test', '--test': 'test',
  flush: 'flush', f: 'flush', '-F': 'flush', '--flush': 'flush',
  destroy: 'destroy', x: 'destroy', '-X': 'destroy', '--destroy': 'destroy',
  swap: 'swap', w: 'swap', '-W': 'swap', '--swap': 'swap',
  rename: 'rename', e: 'rename', '-E': 'rename', '--rename': 'rename',
};

function num(t: Tok, max: number, file: string, line: number, hex = false): number {
  const ok = hex ? /^(0x[0-9a-fA-F]+|\d+)$/.test(t.text) : /^\d+$/.test(t.text);
  if (!ok) throw new RuleError(file, line, t.col, `Syntax error: '${t.text}' is invalid as number`);
  const n = Number(t.text);
  if (n > max) throw new RuleError(file, line, t.col, `Syntax error: '${t.text}' is out of range 0-${max}`);
  return n;
}

export interface RestoreOptions {
  /** File name for errors. */
  file?: string;
  /** `ipset -exist restore`. */
  exist?: boolean;
}

/** Applies `ipset restore` input to the namespace's sets. Throws RuleError at the first bad line. */
export function ipsetRestore(sets: Ipsets, text: string, opts: RestoreOptions = {}): void {
  const file = opts.file ?? '<ipset>';
  const lines = text.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const lineNo = li + 1;
    let line = lines[li];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const all = tokenize(line, file, lineNo);
    let exist = !!opts.exist;
    const toks = all.filter((t) => {
      if (t.text === '-exist' || t.text === '-!' || t.text === '--exist') { exist = true; return false; }
      return true;
    });
    if (toks.length === 0) continue;
    const cmd = COMMANDS[toks[0].text];
    if (!cmd) {
      throw new RuleError(file, lineNo, toks[0].col, `No command specified: unknown argument ${toks[0].text}`);
    }
    try {
      runCommand(sets, cmd, toks, exist, file, lineNo);
    } catch (e) {
      if (e instanceof IpsetError) throw new RuleError(file, lineNo, toks[1]?.col ?? toks[0].col, e.message);
      throw e;
    }
  }
}

function need(toks: Tok[], i: number, what: string, file: string, line: number): Tok {
  const t = toks[i];
  if (!t) {
    const col = (toks[toks.length - 1]?.col ?? 1) + (toks[toks.length - 1]?.text.length ?? 0);
    throw new RuleError(file, line, col, what);
  }
  return t;
}

function runCommand(sets: Ipsets, cmd: string, toks: Tok[], exist: boolean, file: string, line: number): void {
  const arg = (i: number, opt: string): Tok => need(toks, i, `Missing mandatory argument of option \`${opt}'`, file, line);
  switch (cmd) {
    case 'create': {
      const name = need(toks, 1, 'Missing setname', file, line).text;
      const typeTok = need(toks, 2, 'Missing settype', file, line);
      const type = typeTok.text as IpsetType;
      if (!IPSET_TYPES.includes(type)) {
        throw new RuleError(file, line, typeTok.col, `Syntax error: typename '${typeTok.text}' is unknown`);
      }
      const o: IpsetCreateOpts = {};
      for (let i = 3; i < toks.length; i++) {
        const t = toks[i];
        const isHash = type.startsWith('hash:');
        switch (t.text) {
          case 'family': {
            const v = arg(++i, 'family');
            if (v.text !== 'inet' && v.text !== 'ipv4') {
              throw new RuleError(file, line, v.col, `Syntax error: unsupported family '${v.text}' (podwire models IPv4 sets only)`);
            }
            if (!isHash) throw unknown(t);
            o.family = 'inet';
            break;
          }
          case 'hashsize': if (!isHash) throw unknown(t); o.hashsize = num(arg(++i, 'hashsize'), 0xffffffff, file, line); break;
          case 'maxelem': if (!isHash) throw unknown(t); o.maxelem = num(arg(++i, 'maxelem'), 0xffffffff, file, line); break;
          case 'bucketsize': if (!isHash) throw unknown(t); o.bucketsize = num(arg(++i, 'bucketsize'), 255, file, line); break;
          case 'initval': if (!isHash) throw unknown(t); o.initval = num(arg(++i, 'initval'), 0xffffffff, file, line, true); break;
          case 'timeout': o.timeout = num(arg(++i, 'timeout'), MAX_TIMEOUT, file, line); break;
          case 'counters': o.counters = true; break;
          case 'comment': o.comment = true; break;
          case 'skbinfo': o.skbinfo = true; break;
          case 'forceadd': if (!isHash) throw unknown(t); o.forceadd = true; break;
          case 'size': if (type !== 'list:set') throw unknown(t); o.size = num(arg(++i, 'size'), 0xffffffff, file, line); break;
          case 'range': {
            if (type !== 'bitmap:port') throw unknown(t);
            const v = arg(++i, 'range');
            const m = /^(?:[a-z]+:)?(\d+)-(?:[a-z]+:)?(\d+)$/.exec(v.text);
            if (!m) throw new RuleError(file, line, v.col, `Syntax error: cannot parse '${v.text}' as a port range`);
            const from = Number(m[1]), to = Number(m[2]);
            if (from > 65535 || to > 65535) throw new RuleError(file, line, v.col, `Syntax error: '${from > 65535 ? m[1] : m[2]}' is out of range 0-65535`);
            o.range = { from, to };
            break;
          }
          default:
            throw unknown(t);
        }
      }
      sets.create(name, type, o, exist);
      return;
    }
    case 'add':
    case 'del':
    case 'test': {
      const name = need(toks, 1, 'Missing setname', file, line).text;
      const elem = need(toks, 2, 'Missing element', file, line).text;
      const o: IpsetAddOpts = { exist };
      for (let i = 3; i < toks.length; i++) {
        const t = toks[i];
        switch (t.text) {
          case 'timeout': o.timeout = num(arg(++i, 'timeout'), MAX_TIMEOUT, file, line); break;
          case 'comment': o.comment = arg(++i, 'comment').text; break;
          case 'nomatch': o.nomatch = true; break;
          case 'packets': o.packets = num(arg(++i, 'packets'), Number.MAX_SAFE_INTEGER, file, line); break;
          case 'bytes': o.bytes = num(arg(++i, 'bytes'), Number.MAX_SAFE_INTEGER, file, line); break;
          case 'skbmark': {
            const v = arg(++i, 'skbmark');
            const m = /^(0x[0-9a-fA-F]+|\d+)(?:\/(0x[0-9a-fA-F]+|\d+))?$/.exec(v.text);
            if (!m) throw new RuleError(file, line, v.col, `Syntax error: Invalid skbmark format, it should be: MARK/MASK or MARK (see manpage)`);
            o.skbmark = { mark: Number(m[1]) >>> 0, mask: m[2] === undefined ? 0xffffffff : Number(m[2]) >>> 0 };
            break;
          }
          case 'skbprio': {
            const v = arg(++i, 'skbprio');
            const m = /^([0-9a-fA-F]+):([0-9a-fA-F]+)$/.exec(v.text);
            if (!m) throw new RuleError(file, line, v.col, `Syntax error: Invalid skbprio format, it should be:MAJOR:MINOR (see manpage)`);
            o.skbprio = { major: parseInt(m[1], 16), minor: parseInt(m[2], 16) };
            break;
          }
          case 'skbqueue': o.skbqueue = num(arg(++i, 'skbqueue'), 65535, file, line); break;
          case 'before': o.before = arg(++i, 'before').text; break;
          case 'after': o.after = arg(++i, 'after').text; break;
          default: throw unknown(t);
        }
      }
      if (cmd === 'add') sets.add(name, elem, o);
      else if (cmd === 'del') sets.del(name, elem, o);
      else if (!sets.testElem(name, elem, o)) throw new IpsetError(`${elem} is NOT in set ${name}.`);
      return;
    }
    case 'flush':
    case 'destroy': {
      if (toks.length > 2) throw unknown(toks[2]);
      const name = toks[1]?.text;
      if (cmd === 'flush') sets.flush(name);
      else sets.destroy(name);
      return;
    }
    case 'swap':
    case 'rename': {
      const a = need(toks, 1, 'Missing setname', file, line).text;
      const b = need(toks, 2, cmd === 'swap' ? 'Missing second setname' : 'Missing new setname', file, line).text;
      if (toks.length > 3) throw unknown(toks[3]);
      if (cmd === 'swap') sets.swap(a, b);
      else sets.rename(a, b);
      return;
    }
  }

  function unknown(t: Tok): RuleError {
    return new RuleError(file, line, t.col, `Unknown argument: \`${t.text}'`);
  }
}

/** `ipset save [NAME]` output. */
export function ipsetSave(sets: Ipsets, name?: string): string {
  return sets.save(name);
}

/** `ipset list -n`: set names in listing order. */
export function ipsetListNames(sets: Ipsets): string {
  return sets.list().map((s) => `${s.name}\n`).join('');
}
