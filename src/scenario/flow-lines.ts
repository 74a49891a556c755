/**
 * The fast path for big scenarios (issue 9): block-sequence items written as
 * one-line flow mappings (`  - {name: n0, ip: 10.0.0.1/16}`), which is how
 * `podwire generate` writes its thousands of nodes and manifests.
 *
 * The yaml library's lexer, parser and composer cost about 10 µs per token
 * (generators, a `process.env` read per token, CST objects kept for the whole
 * file): 70 s for a 34 MB scenario. Here each such line is read by a small
 * recogniser for a strict subset of YAML flow syntax — plain scalars of
 * `[A-Za-z0-9_./-]`, nested `{…}`/`[…]`, `, ` and `: ` separators — into the
 * very nodes the composer would make (YAMLMap/YAMLSeq/Pair/Scalar, same
 * values through the schema's own scalar tags, same start offsets) — but
 * only when something asks for them: a {@link FlowLineMap} is a YAMLMap whose
 * items are built on first use, and whose plain value (what `toJS` returns)
 * can be read straight from the text, which is all a valid manifest needs.
 * The yaml library parses the rest: the text with each run of recognised
 * items (consecutive lines of one sequence) cut down to one `~` item, so that
 * it reads a few tokens per run instead of dozens per line; the ranges of the
 * nodes it makes are then moved back to the original offsets, and the line
 * starts are those of the original text, so every position is as before.
 * (The CST tokens kept for block scalars, `srcToken`, keep the offsets of
 * the cut text; only their source text is read.)
 *
 * Anything outside the subset (quotes, anchors, aliases, tags, comments,
 * duplicate keys, `<<`, a line continued below) is left in the text for the
 * library: the recogniser only says "not mine". Afterwards
 * {@link substituteFlowLines} checks that every run's `~` came back as a null
 * scalar item of a block sequence at its own offset; if one did not (the
 * lines were inside a block scalar or a multi-line string, for instance) the
 * caller parses the original text instead, as it does on any syntax error.
 */
import { Document, isMap, isNode, isPair, isScalar, isSeq, Pair, Scalar, YAMLMap, YAMLSeq, type Node, type Schema } from 'yaml';

/** A scenario text with its recognised flow lines taken out. */
export interface FlowLines {
  /**
   * The text for the yaml library: each run of recognised items (consecutive
   * lines of one sequence) cut down to its first line's `- ` and a `~`.
   */
  text: string;
  /** The recognised items of each run, by the offset of its `~` in `text`. */
  runs: Map<number, FlowLineMap[]>;
  /** Offsets of `text` where a cut was made (ascending), and the total length cut up to and including each. */
  cuts: number[];
  shifts: number[];
  /** Offsets of the original text's line starts, 0 first: what the library's LineCounter would have recorded. */
  lineStarts: number[];
}

/** Deepest nesting of flow collections the recogniser reads (a generated scenario nests 4 deep); the library reads the rest. */
const MAX_FLOW_DEPTH = 32;

/** The core schema every scenario is read with (the library's default for YAML 1.2). */
const CORE: Schema = new Document().schema;

/** A recognised line: its collection's span, its plain value (read once, to recognise it), where its `-` and line are. */
interface Item { start: number; end: number; value: Record<string, unknown>; dash: number; lineStart: number; nextLine: number }

/**
 * Finds the one-line flow-mapping items of `text`; null when there are none
 * (nothing to gain, parse the text as it is) or the text has a lone CR (a
 * line break the line starts here would not count).
 */
export function extractFlowLines(text: string): FlowLines | null {
  const runs = new Map<number, FlowLineMap[]>();
  const cuts: number[] = [], shifts: number[] = [], lineStarts: number[] = [0];
  const parts: string[] = [];
  let copied = 0, outLen = 0, shift = 0;
  let run: Item[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const first = run[0], last = run[run.length - 1];
    parts.push(text.slice(copied, first.start), '~');
    const at = outLen + (first.start - copied);
    outLen = at + 1;
    copied = last.end;
    shift += last.end - first.start - 1;
    cuts.push(at + 1);
    shifts.push(shift);
    runs.set(at, run.map((it) => new FlowLineMap(text, it.start, it.end, it.value)));
    run = [];
  };
  // An item is recognised once the next non-blank line shows that nothing more indented continues it.
  const confirm = (it: Item) => {
    const prev = run[run.length - 1];
    if (prev && (prev.nextLine !== it.lineStart || prev.dash !== it.dash)) flush();
    run.push(it);
  };
  let pending: Item | null = null;
  for (let ls = 0; ls < text.length; ) {
    let le = text.indexOf('\n', ls);
    if (le < 0) le = text.length;
    else lineStarts.push(le + 1);
    let i = ls;
    while (i < le && text.charCodeAt(i) === SPACE) i++;
    if (i < le) {
      if (pending && i - ls <= pending.dash) confirm(pending);
      else flush();
      pending = null;
      if (text.charCodeAt(i) === DASH && text.charCodeAt(i + 1) === SPACE && text.charCodeAt(i + 2) === LBRACE) {
        const limit = trimEnd(text, i + 2, le);
        const value = readFlow(text, i + 2, limit, JS) as Item['value'] | undefined;
        if (value !== undefined) pending = { start: i + 2, end: limit, value, dash: i - ls, lineStart: ls, nextLine: le + 1 };
      }
    }
    ls = le + 1;
  }
  if (pending) confirm(pending);
  flush();
  if (runs.size === 0 || hasLoneCR(text)) return null;
  parts.push(text.slice(copied));
  return { text: parts.join(''), runs, cuts, shifts, lineStarts };
}

function hasLoneCR(text: string): boolean {
  for (let i = text.indexOf('\r'); i >= 0; i = text.indexOf('\r', i + 1)) if (text.charCodeAt(i + 1) !== 0x0a) return true;
  return false;
}

/** The original offset of offset `r` of the cut text. */
function uncut(f: FlowLines, r: number): number {
  const { cuts, shifts } = f;
  let lo = 0, hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cuts[mid] <= r) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? r : r + shifts[lo - 1];
}

/**
 * Puts the recognised items back into the documents parsed from `f.text`, in
 * place of their runs' `~`, and moves every other node's range to the original
 * text's offsets. False when the documents cannot take them (a schema other
 * than the core one, or a `~` that did not come back as a block-sequence item
 * at its offset): then the original text must be parsed.
 */
export function substituteFlowLines(docs: readonly Document.Parsed[], f: FlowLines): boolean {
  if (docs.some((d) => d.schema.name !== CORE.name || d.schema.tags.length !== CORE.tags.length || d.schema.compat)) return false;
  let found = 0;
  const move = (n: unknown): void => {
    if (isPair(n)) {
      move(n.key);
      move(n.value);
      return;
    }
    if (!isNode(n)) return;
    if (n.range) n.range = [uncut(f, n.range[0]), uncut(f, n.range[1]), uncut(f, n.range[2])];
    if (isSeq(n)) {
      const items: unknown[] = [];
      for (const it of n.items) {
        const run = isScalar(it) && it.value === null && it.source === '~' && it.range ? f.runs.get(it.range[0]) : undefined;
        if (run) {
          for (const m of run) items.push(m);
          found++;
        } else {
          move(it);
          items.push(it);
        }
      }
      n.items = items;
    } else if (isMap(n)) for (const p of n.items) move(p);
  };
  for (const d of docs) {
    if (d.range) d.range = [uncut(f, d.range[0]), uncut(f, d.range[1]), uncut(f, d.range[2])];
    move(d.contents);
  }
  return found === f.runs.size;
}

/**
 * A recognised one-line flow mapping: a YAMLMap like the composer's, whose
 * items (Pairs of Scalars and collections with their ranges) are read from
 * the text on first use (`items` is an accessor of the prototype, below).
 */
export class FlowLineMap extends YAMLMap {
  /** The items once built or assigned; null until then. Set through `items` while YAMLMap's constructor runs, hence `declare`. */
  declare private built: unknown[] | null;

  constructor(
    private readonly text: string,
    start: number,
    private readonly end: number,
    /** The plain value read when the line was recognised, until {@link plain} hands it out. */
    private firstPlain?: Record<string, unknown>,
  ) {
    super(CORE);
    this.built = null;
    this.flow = true;
    this.range = [start, end, end];
  }

  /** The plain value, as `toJS` gives it (a fresh object on every call), without building the nodes. */
  plain(): Record<string, unknown> {
    const first = this.firstPlain;
    if (first !== undefined) {
      this.firstPlain = undefined;
      return first;
    }
    return readFlow(this.text, this.range![0], this.end, JS) as Record<string, unknown>;
  }

  /** The items, built from the text the first time. */
  static items(m: FlowLineMap): unknown[] {
    return (m.built ??= (readFlow(m.text, m.range![0], m.end, NODES) as YAMLMap).items);
  }

  static setItems(m: FlowLineMap, items: unknown[]): void {
    m.built = items;
  }
}
Object.defineProperty(FlowLineMap.prototype, 'items', {
  configurable: true,
  get(this: FlowLineMap) {
    return FlowLineMap.items(this);
  },
  set(this: FlowLineMap, v: unknown[]) {
    FlowLineMap.setItems(this, v);
  },
});

const SPACE = 0x20, DASH = 0x2d, LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d, COMMA = 0x2c, COLON = 0x3a;

function trimEnd(text: string, from: number, to: number): number {
  while (to > from && (text.charCodeAt(to - 1) === SPACE || text.charCodeAt(to - 1) === 0x0d)) to--;
  return to;
}

/** Characters of a plain scalar in the subset: no indicator, quote, space or flow character. */
function isPlainChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2f || c === DASH || c === 0x5f;
}

/**
 * Whether a plain scalar may resolve to something else than a string. Of the
 * core schema's patterns only null (`null`, `Null`, `NULL`) and bool (`true`,
 * `false` in three cases) accept a text starting with a letter; everything
 * else (numbers, `.inf`, `~`…) starts with another character.
 */
function mayBeNonString(first: number, length: number): boolean {
  if (!((first >= 0x61 && first <= 0x7a) || (first >= 0x41 && first <= 0x5a))) return true;
  const lower = first | 0x20;
  return ((lower === 0x6e || lower === 0x74) && length === 4) || (lower === 0x66 && length === 5);
}

/** The core schema's scalar tags that plain scalars resolve to, in the schema's order (the composer takes the first whose pattern matches). */
const IMPLICIT_TAGS = CORE.tags.filter((t) => t.default === true && !t.collection && t.test);

/** Which tag a plain scalar's text resolves to (null: a string); memoised, as generated files repeat their ports and numbers. */
const tagMemo = new Map<string, (typeof IMPLICIT_TAGS)[number] | null>();

function implicitTag(source: string): (typeof IMPLICIT_TAGS)[number] | undefined {
  let tag = tagMemo.get(source);
  if (tag === undefined) {
    tag = IMPLICIT_TAGS.find((t) => t.test!.test(source)) ?? null;
    if (tagMemo.size >= 4096) tagMemo.clear();
    tagMemo.set(source, tag);
  }
  return tag ?? undefined;
}

/** What {@link readFlow} makes of what it reads: plain values or yaml nodes. */
interface Builder {
  scalar(value: unknown, source: string, format: string | undefined, start: number, end: number): unknown;
  collection(isMapping: boolean): unknown;
  add(coll: unknown, key: unknown, keyName: string, value: unknown): void;
  close(coll: unknown, start: number, end: number): unknown;
}

/** Plain values as `toJS` makes them: objects keyed by the key's string (null → ""), arrays. */
const JS: Builder = {
  scalar: (value) => (isScalar(value) ? value.value : value),
  collection: (isMapping) => (isMapping ? {} : []),
  add(coll, _key, keyName, value) {
    if (Array.isArray(coll)) coll.push(value);
    else (coll as Record<string, unknown>)[keyName] = value;
  },
  close: (coll) => coll,
};

/** The composer's nodes: flow collections, Pairs, PLAIN scalars with their source and ranges. */
const NODES: Builder = {
  scalar(value, source, format, start, end) {
    const node = isScalar(value) ? value : new Scalar(value);
    if (format) node.format = format;
    node.range = [start, end, end];
    node.source = source;
    node.type = Scalar.PLAIN;
    return node;
  },
  collection(isMapping) {
    const coll = isMapping ? new YAMLMap(CORE) : new YAMLSeq(CORE);
    coll.flow = true;
    return coll;
  },
  add(coll, key, _keyName, value) {
    if (key === undefined) (coll as YAMLSeq).items.push(value);
    else (coll as YAMLMap).items.push(new Pair(key, value));
  },
  close(coll, start, end) {
    (coll as Node).range = [start, end, end];
    return coll;
  },
};

/**
 * Reads the flow collection spanning [start, limit) of `text` with `b`;
 * undefined when it is not in the subset or does not end at `limit`.
 */
function readFlow(text: string, start: number, limit: number, b: Builder): unknown {
  const r = new FlowReader(text, start, limit, b);
  const v = r.collection();
  return v !== undefined && r.pos === limit ? v : undefined;
}

/** The recogniser; every method returns undefined for anything outside the subset. */
class FlowReader {
  constructor(
    private readonly text: string,
    public pos: number,
    private readonly limit: number,
    private readonly b: Builder,
  ) {}

  /** The keys of the mappings being read, innermost last (for duplicates). */
  private readonly keys: string[] = [];

  private spaces(): void {
    while (this.pos < this.limit && this.text.charCodeAt(this.pos) === SPACE) this.pos++;
  }

  collection(): unknown {
    const start = this.pos;
    const open = this.text.charCodeAt(start);
    const isMapping = open === LBRACE;
    if (!isMapping && open !== LBRACKET) return undefined;
    const close = isMapping ? RBRACE : RBRACKET;
    const coll = this.b.collection(isMapping);
    this.pos++;
    this.spaces();
    if (this.text.charCodeAt(this.pos) === close) return this.closeAt(coll, start);
    const keys = this.keys;
    const firstKey = keys.length;
    for (;;) {
      let key: unknown = undefined;
      let keyName = '';
      if (isMapping) {
        key = this.scalar();
        // `key: value` only: a key followed by anything else is not in the subset (nor `<<`, nor a repeated key).
        if (key === undefined || this.text.charCodeAt(this.pos) !== COLON || this.text.charCodeAt(this.pos + 1) !== SPACE) return undefined;
        keyName = this.scalarName;
        if (keyName === '<<' || keyName === '__proto__' || keys.indexOf(keyName, firstKey) >= 0) return undefined;
        keys.push(keyName);
        this.pos += 2;
        this.spaces();
      }
      const c0 = this.text.charCodeAt(this.pos);
      const value = c0 === LBRACE || c0 === LBRACKET ? this.nested() : this.scalar();
      if (value === undefined) return undefined;
      this.b.add(coll, key, keyName, value);
      this.spaces();
      const c = this.text.charCodeAt(this.pos);
      if (c === close) {
        while (keys.length > firstKey) keys.pop();
        return this.closeAt(coll, start);
      }
      if (c !== COMMA || this.text.charCodeAt(this.pos + 1) !== SPACE) return undefined;
      this.pos += 2;
      this.spaces();
    }
  }

  /**
   * A collection inside a collection, up to {@link MAX_FLOW_DEPTH} deep; deeper is
   * "not mine" (a stack overflow here, on `[[[[…`, crashed the loader: fuzzing, issue 11).
   */
  private nested(): unknown {
    if (this.depth >= MAX_FLOW_DEPTH) return undefined;
    this.depth++;
    try {
      return this.collection();
    } finally {
      this.depth--;
    }
  }
  private depth = 0;

  private closeAt(coll: unknown, start: number): unknown {
    this.pos++;
    return this.b.close(coll, start, this.pos);
  }

  /** What the last scalar's value is as a mapping key (toJS: null → "", else String(value)). */
  private scalarName = '';

  /** A plain scalar, resolved as the composer does: the first default tag of the schema whose pattern matches, else a string. */
  private scalar(): unknown {
    const start = this.pos;
    while (this.pos < this.limit && isPlainChar(this.text.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) return undefined;
    const first = this.text.charCodeAt(start);
    if (first === DASH) return undefined; // "-" starts an indicator or a negative number: the library's business
    const source = this.text.slice(start, this.pos);
    let value: unknown = source;
    let format: string | undefined;
    if (mayBeNonString(first, this.pos - start)) {
      const tag = implicitTag(source);
      if (tag) {
        let failed = false;
        value = (tag as { resolve: (s: string, onError: (m: string) => void, o: object) => unknown }).resolve(source, () => (failed = true), {});
        if (failed) return undefined;
        format = tag.format;
      }
    }
    const plain = isScalar(value) ? value.value : value;
    this.scalarName = plain === null ? '' : String(plain);
    return this.b.scalar(value, source, format, start, this.pos);
  }
}
