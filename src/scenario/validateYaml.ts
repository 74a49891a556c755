/**
 * Reading parsed YAML with positions. A {@link Y} wraps one YAML node together
 * with its dotted path (`cluster.nodes[0].ip`) and a {@link Src} that turns a
 * byte offset of the parsed text into file:line:col of the user's file — which
 * is not always the parsed text itself: a manifest written as a block scalar
 * inside the scenario is parsed on its own and mapped back.
 *
 * Every typed getter throws an {@link InputError} naming the node when the
 * value has the wrong type; nothing here coerces ("80" is not an integer).
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  Scalar,
  type Document,
  type Node,
  type Pair,
  type YAMLError,
} from 'yaml';
import { closest } from '../kube/suggest.js';
import { extractFlowLines, FlowLineMap, substituteFlowLines } from './flow-lines.js';
import { InputError } from './errors.js';
import type { SourcePos } from './types.js';

/** Maps an offset in a parsed text to a position in a user's file. */
export interface Src {
  /** The file positions are reported in. */
  file: string;
  pos(offset: number): SourcePos;
  /** The document the nodes belong to (to resolve aliases). */
  doc?: Document.Parsed;
  /** `{file: …}` includes may leave the scenario's folder (--allow-outside-files; input-files.ts). */
  allowOutsideFiles?: boolean;
}

/** Positions of a text that is the file itself. */
export function fileSrc(file: string, lc: LineCounter): Src {
  return {
    file,
    pos(offset) {
      const { line, col } = lc.linePos(offset);
      return { file, line, col };
    },
  };
}

/**
 * Positions of a text embedded in another file: inner line L, column C land on
 * outer line `firstLine + L - 1`, column `C + indent` (a literal block scalar).
 */
export function embeddedSrc(file: string, lc: LineCounter, firstLine: number, indent: number): Src {
  return {
    file,
    pos(offset) {
      const { line, col } = lc.linePos(offset);
      return { file, line: firstLine + line - 1, col: col + indent };
    },
  };
}

/** Positions of a text embedded where lines cannot be mapped (quoted or folded scalars): all land on `at`. */
export function fixedSrc(at: SourcePos): Src {
  return { file: at.file, pos: () => at };
}

/** Options every parse uses: positions, source tokens, one-line messages, unique keys. */
export function parseOptions(lc: LineCounter) {
  return { lineCounter: lc, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true } as const;
}

/** Throws the first YAML syntax error of `docs` (with the library's message) as an InputError. */
export function throwYamlErrors(docs: readonly Document.Parsed[], src: Src): void {
  for (const d of docs) {
    const e: YAMLError | undefined = d.errors[0];
    if (e && /call stack/i.test(e.message)) throw InputError.at(src.pos(e.pos[0]), 'YAML nested too deeply (the parser ran out of stack)', 'collections nested at most a few hundred levels deep');
    if (e) throw InputError.at(src.pos(e.pos[0]), `YAML syntax error: ${oneLine(e.message)}`);
  }
}

function oneLine(s: string): string {
  return s.split('\n')[0].trim().replace(/\.$/, '');
}

/**
 * Parses a (possibly multi-document) YAML text, throwing syntax errors as
 * InputErrors. One-line flow-mapping items go through the fast path of
 * flow-lines.ts when the rest of the text parses cleanly around them; any
 * doubt (an error, a placeholder not found back) parses the original text.
 */
export function parseYamlDocs(text: string, mk: (lc: LineCounter) => Src): { docs: Document.Parsed[]; src: Src } {
  const fast = extractFlowLines(text);
  if (fast) {
    const docs = tryParse(fast.text);
    if (docs && docs.every((d) => d.errors.length === 0) && substituteFlowLines(docs, fast)) {
      const lc = new LineCounter();
      for (const start of fast.lineStarts) lc.addNewLine(start);
      const src = mk(lc);
      if (text.includes('*')) checkAliasExpansion(docs, src);
      return { docs, src };
    }
  }
  return parseYamlDocsAsIs(text, mk);
}

function tryParse(text: string): Document.Parsed[] | null {
  try {
    const { lineCounter: _, ...options } = parseOptions(new LineCounter());
    const docs = parseAllDocuments(text, options);
    return Array.isArray(docs) ? (docs as Document.Parsed[]) : null;
  } catch {
    return null;
  }
}

/** {@link parseYamlDocs} by the yaml library alone. */
export function parseYamlDocsAsIs(text: string, mk: (lc: LineCounter) => Src): { docs: Document.Parsed[]; src: Src } {
  const lc = new LineCounter();
  const src = mk(lc);
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, parseOptions(lc)) as Document.Parsed[];
  } catch (e) {
    if (e instanceof RangeError) throw InputError.at(src.pos(0), 'YAML nested too deeply (the parser ran out of stack)', 'collections nested at most a few hundred levels deep');
    throw InputError.at(src.pos(0), `YAML syntax error: ${oneLine(String((e as Error)?.message ?? e))}`);
  }
  if (!Array.isArray(docs)) docs = [];
  throwYamlErrors(docs, src);
  if (text.includes('*')) checkAliasExpansion(docs, src);
  return { docs, src };
}

/**
 * Most nodes a document's aliases may stand for, counted as if each alias were
 * replaced by a copy of its anchor's node (recursively). Validation walks
 * through aliases, and a manifest is decoded with them expanded, so a "billion
 * laughs" document (nine aliases of nine aliases of …) is refused here, at the
 * alias that crosses the limit, instead of running out of memory or time.
 */
export const MAX_ALIAS_NODES = 1_000_000;

/** Throws an InputError at the alias with which `docs`' alias expansion exceeds {@link MAX_ALIAS_NODES}. */
export function checkAliasExpansion(docs: readonly Document.Parsed[], src: Src): void {
  for (const d of docs) {
    // Anchors as defined so far in document order (a later anchor of the same name shadows the earlier one).
    const anchors = new Map<string, Node>();
    const sizes = new Map<Node, number>();
    const open = new Set<Node>();
    let total = 0;
    /** Nodes `n` stands for with its aliases expanded (an alias of an enclosing node counts as unbounded). */
    const size = (n: unknown): number => {
      if (!n || typeof n !== 'object') return 0;
      if (isAlias(n)) {
        const t = anchors.get(n.source);
        return t ? size(t) : 0;
      }
      const known = sizes.get(n as Node);
      if (known !== undefined) return known;
      if (!isMap(n) && !isSeq(n)) return 1;
      if (open.has(n)) return Infinity;
      open.add(n);
      let s = 1;
      for (const it of n.items as unknown[]) {
        s += isPair(it) ? size(it.key) + size(it.value) : size(it);
        if (s > MAX_ALIAS_NODES) break;
      }
      open.delete(n);
      sizes.set(n, s);
      return s;
    };
    const walk = (n: unknown): void => {
      if (!n || typeof n !== 'object' || n instanceof FlowLineMap) return; // flow lines hold no anchors or aliases
      if (isAlias(n)) {
        total += size(n);
        if (total > MAX_ALIAS_NODES)
          throw InputError.at(src.pos(n.range?.[0] ?? 0), `YAML aliases expand to more than ${MAX_ALIAS_NODES} nodes (an alias bomb?)`, 'fewer or smaller aliased nodes');
        return;
      }
      const anchor = (n as { anchor?: string }).anchor;
      if (anchor) anchors.set(anchor, n as Node);
      if (isMap(n) || isSeq(n)) for (const it of n.items as unknown[]) {
        if (isPair(it)) {
          walk(it.key);
          walk(it.value);
        } else walk(it);
      }
    };
    try {
      walk(d.contents);
    } catch (e) {
      if (e instanceof RangeError) throw InputError.at(src.pos(0), 'YAML nested too deeply (the parser ran out of stack)', 'collections nested at most a few hundred levels deep');
      throw e;
    }
  }
}

/** A short description of a JS/YAML value for "got …" in messages. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return `${Number.isInteger(v) ? 'integer' : 'number'} ${v}`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  return typeof v;
}

/** The display path of key `k` under `path`. */
export function joinPath(path: string, k: string | number): string {
  if (typeof k === 'number') return `${path}[${k}]`;
  return path === '' ? k : `${path}.${k}`;
}

/** One YAML node with its path and position. */
export class Y {
  /** The node after following aliases; null for an absent or empty value. */
  readonly node: Node | null;
  constructor(
    node: Node | null | undefined,
    readonly src: Src,
    /** Dotted path for messages, '' for the document root. */
    readonly path: string,
    /** The key node this value belongs to, if it is a mapping value. */
    readonly keyNode?: Node | null,
  ) {
    let n: Node | null = node ?? null;
    for (let i = 0; i < 64 && n && isAlias(n); i++) n = (src.doc ? (n.resolve(src.doc) as Node | undefined) : undefined) ?? null;
    if (n && isAlias(n)) n = null;
    this.node = n;
  }

  /** What to call this node in messages: its path, or "the top level". */
  get what(): string {
    return this.path === '' ? 'the top level' : this.path;
  }

  /** Position of the value; of its key when the value is empty. */
  get pos(): SourcePos {
    if (this.node && this.node.range && !(isScalar(this.node) && this.node.value === null && this.keyNode))
      return this.src.pos(this.node.range[0]);
    return this.keyPos;
  }

  /** Position of the key (of the value when there is no key). */
  get keyPos(): SourcePos {
    if (this.keyNode && this.keyNode.range) return this.src.pos(this.keyNode.range[0]);
    if (this.node && this.node.range) return this.src.pos(this.node.range[0]);
    return this.src.pos(0);
  }

  /** Throws an InputError at this value. */
  fail(message: string, expected?: string): never {
    throw InputError.at(this.pos, message, expected);
  }

  /** The plain JS value of a scalar; undefined for collections. */
  get scalar(): unknown {
    if (this.node === null) return null;
    return isScalar(this.node) ? this.node.value : undefined;
  }

  get isNull(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  private typeName(): string {
    if (this.node && isMap(this.node)) return 'a mapping';
    if (this.node && isSeq(this.node)) return 'a list';
    return describe(this.scalar);
  }

  /** Throws "PATH must be WANT, got …". */
  wrongType(want: string, expected?: string): never {
    this.fail(`${this.what} must be ${want}, got ${this.typeName()}`, expected);
  }

  str(expected?: string): string {
    const v = this.scalar;
    if (typeof v !== 'string') this.wrongType('a string', expected);
    return v;
  }

  /** A string or a number (for durations, bandwidths). */
  strOrNum(expected?: string): string | number {
    const v = this.scalar;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v !== 'string') this.wrongType('a string or a number', expected);
    return v;
  }

  /** An integer within [min, max]; a quoted "80" is a string, not an integer. */
  int(min: number, max: number): number {
    const v = this.scalar;
    const range = `an integer ${min}..${max}`;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.wrongType('an integer', range);
    if (v < min || v > max) this.fail(`${this.what} ${v} is out of range`, range);
    return v;
  }

  bool(): boolean {
    const v = this.scalar;
    if (typeof v !== 'boolean') this.wrongType('a boolean', 'true or false');
    return v;
  }

  /** One of the listed strings; `unsupported` values get their own message (known but not implemented yet). */
  oneOf<T extends string>(allowed: readonly T[], unsupported: Record<string, string> = {}): T {
    const v = this.str(allowed.join(' | '));
    if ((allowed as readonly string[]).includes(v)) return v as T;
    if (unsupported[v] !== undefined) this.fail(unsupported[v], allowed.join(' | '));
    const near = closest(v, allowed);
    this.fail(`invalid ${this.what} ${JSON.stringify(v)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`, allowed.join(' | '));
  }

  /**
   * This node as a mapping whose keys must be among `allowed`: an unknown key
   * fails at the key, naming it, the closest allowed key, and listing all.
   * `required` keys must be present (failing at this mapping's key).
   */
  map(allowed: readonly string[], required: readonly string[] = []): YMap {
    if (!this.node || !isMap(this.node)) this.wrongType('a mapping', allowed.length ? `a mapping with keys ${allowed.join(', ')}` : undefined);
    const m = new YMap(this, this.node.items as Pair<Node, Node | null>[]);
    for (const [k, pair] of m.entries) {
      if (!allowed.includes(k)) {
        const near = closest(k, allowed);
        const where = this.path === '' ? 'at the top level' : `in ${this.path}`;
        throw InputError.at(
          this.src.pos((pair.key as Node).range?.[0] ?? 0),
          `unknown key ${JSON.stringify(k)} ${where}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`,
          `one of ${allowed.join(', ')}`,
        );
      }
    }
    for (const r of required) {
      if (!m.has(r) || m.get(r)!.isNull) {
        const at = m.has(r) ? m.get(r)!.keyPos : this.keyNode ? this.keyPos : this.pos;
        throw InputError.at(at, `${this.what} is missing required key ${JSON.stringify(r)}`);
      }
    }
    return m;
  }

  /** A mapping whose keys are names chosen by the user (machines, sysctl keys): its entries in order. */
  entries(what = 'a mapping'): [string, Y][] {
    if (this.isNull) return [];
    if (!this.node || !isMap(this.node)) this.wrongType(what);
    const m = new YMap(this, this.node.items as Pair<Node, Node | null>[]);
    return [...m.entries.keys()].map((k) => [k, m.get(k)!]);
  }

  /** This node as a list (null or absent → empty list). */
  list(): Y[] {
    if (this.isNull) return [];
    if (!this.node || !isSeq(this.node)) this.wrongType('a list');
    return this.node.items.map((it, i) => new Y(it as Node | null, this.src, joinPath(this.path, i)));
  }
}

/** A checked mapping. */
export class YMap {
  readonly entries = new Map<string, Pair<Node, Node | null>>();
  constructor(
    readonly owner: Y,
    pairs: Pair<Node, Node | null>[],
  ) {
    for (const p of pairs) {
      if (!isPair(p)) continue;
      const kn = p.key as Node | null;
      let key: string;
      if (kn && isScalar(kn)) key = String((kn as Scalar).value);
      else throw InputError.at(kn?.range ? owner.src.pos(kn.range[0]) : owner.pos, `keys in ${owner.what} must be plain strings`);
      this.entries.set(key, p);
    }
  }
  has(k: string): boolean {
    return this.entries.has(k);
  }
  /** The value under `k`, or undefined when the key is absent. */
  get(k: string): Y | undefined {
    const p = this.entries.get(k);
    if (!p) return undefined;
    return new Y(p.value, this.owner.src, joinPath(this.owner.path, k), p.key);
  }
  /** The value under `k` when present and not null. */
  opt(k: string): Y | undefined {
    const y = this.get(k);
    return y && !y.isNull ? y : undefined;
  }
  /** The value under `k`; fails at the mapping when absent or null. */
  req(k: string): Y {
    const y = this.get(k);
    if (!y || y.isNull) {
      const at = y ? y.keyPos : this.owner.keyNode ? this.owner.keyPos : this.owner.pos;
      throw InputError.at(at, `${this.owner.what} is missing required key ${JSON.stringify(k)}`);
    }
    return y;
  }
}
