/**
 * A small JSON parser (RFC 8259) that remembers where every value starts, so a
 * configuration error can name `plugins[0].ipam.ranges[0][0].subnet` and its
 * line:column. Duplicate object keys are rejected (Go's encoding/json would
 * silently keep the last one; a strict validator should say so).
 */

export interface SourcePos {
  /** 1-based line. */
  line: number;
  /** 1-based column (in UTF-16 code units). */
  col: number;
  /** 0-based offset into the text. */
  offset: number;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface PositionedJson {
  value: JsonValue;
  /** JSON path (see `joinPath`) → position of the value. */
  positions: Map<string, SourcePos>;
  /** JSON path of an object member → position of its key. */
  keyPositions: Map<string, SourcePos>;
}

export class JsonSyntaxError extends Error {
  constructor(
    readonly path: string,
    readonly pos: SourcePos,
    readonly expected: string,
  ) {
    super(`${pos.line}:${pos.col}: expected ${expected}`);
    this.name = 'JsonSyntaxError';
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Append a key or index to a path: `a.b`, `a[0]`, `a["odd key"]`. Root is ''. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (IDENT.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

export function parseJsonWithPositions(text: string): PositionedJson {
  const positions = new Map<string, SourcePos>();
  const keyPositions = new Map<string, SourcePos>();
  let i = 0;
  // line starts, for offset → line:col
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) === 10) lineStarts.push(k + 1);
  const posAt = (offset: number): SourcePos => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - lineStarts[lo] + 1, offset };
  };
  const fail = (path: string, expected: string): never => {
    throw new JsonSyntaxError(path, posAt(i), expected);
  };
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const parseString = (path: string): string => {
    if (text[i] !== '"') fail(path, 'a string');
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail(path, 'a closing \'"\'');
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (c < 0x20) fail(path, 'no control character inside a string');
      if (c === 92) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i++;
            fail(path, 'a \\u escape with 4 hex digits');
          }
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else {
          i++;
          fail(path, 'a valid escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)');
        }
      } else i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const parseValue = (path: string): JsonValue => {
    ws();
    positions.set(path, posAt(i));
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: { [k: string]: JsonValue } = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        const keyPos = posAt(i);
        const key = parseString(path);
        if (Object.prototype.hasOwnProperty.call(obj, key)) {
          throw new JsonSyntaxError(joinPath(path, key), keyPos, `no duplicate key ${JSON.stringify(key)}`);
        }
        ws();
        if (text[i] !== ':') fail(path, "':' after an object key");
        i++;
        const childPath = joinPath(path, key);
        keyPositions.set(childPath, keyPos);
        Object.defineProperty(obj, key, { value: parseValue(childPath), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail(path, "',' or '}' in an object");
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(joinPath(path, arr.length)));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail(path, "',' or ']' in an array");
      }
    }
    if (c === '"') return parseString(path);
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (m && m[0] !== '' && m[0] !== '-') {
      i += m[0].length;
      return Number(m[0]);
    }
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    return fail(path, 'a JSON value (object, array, string, number, true, false or null)');
  };
  const value = parseValue('');
  ws();
  if (i < text.length) fail('', 'end of input');
  return { value, positions, keyPositions };
}
