/**
 * Texts a scenario embeds in other formats (Kubernetes manifests, iptables
 * rules): a block string in the scenario, or `{file: PATH}` relative to it.
 * `origin` says where line 1, column 1 of the text is, so that errors found by
 * the format's own parser can name the scenario's (or the file's) line and column.
 */
import { isMap, isScalar, Scalar } from 'yaml';
import { readInputFile, resolveInclude } from './input-files.js';
import type { Y } from './validateYaml.js';

export interface TextOrigin {
  file: string;
  /** Line of the text's first line in `file`. */
  line: number;
  /** Added to the text's columns (the block's indentation). */
  indent: number;
  /** False for quoted or folded strings, whose lines cannot be mapped: every position is the string's start. */
  exact: boolean;
}

export interface EmbeddedText {
  text: string;
  origin: TextOrigin;
}

/** Maps a (line, col) inside the text to the scenario or file position. */
export function mapPosition(o: TextOrigin, line: number, col: number): { file: string; line: number; col: number } {
  if (!o.exact) return { file: o.file, line: o.line, col: o.indent + 1 };
  return { file: o.file, line: o.line + line - 1, col: col + o.indent };
}

/** Where the content of string scalar `n` (written at `item`) starts in the scenario file. */
export function scalarOrigin(n: Scalar, item: Y): TextOrigin {
  const start = item.pos;
  if (n.type !== Scalar.BLOCK_LITERAL) return { file: start.file, line: start.line, indent: start.col - 1, exact: false };
  // Content starts on the line after the `|` header; its indentation is that of the first non-blank line.
  const tok = n.srcToken as { source?: string } | undefined;
  const body = tok && typeof tok.source === 'string' ? tok.source : '';
  let indent = 0;
  for (const line of body.split('\n')) {
    if (line.trim() !== '') {
      indent = line.length - line.trimStart().length;
      break;
    }
  }
  return { file: start.file, line: start.line + 1, indent, exact: true };
}

/**
 * Reads an embedded text: a string (block string for exact positions) or
 * `{file: PATH}` (inside the scenario's folder unless the scenario was loaded
 * with allowOutsideFiles). Fails at `item` with `what` when it is neither or
 * the file cannot be read.
 */
export function readEmbeddedText(item: Y, scenarioFile: string, what: string): EmbeddedText {
  const n = item.node;
  if (n && isScalar(n) && typeof n.value === 'string') return { text: n.value, origin: scalarOrigin(n, item) };
  if (n && isMap(n)) {
    const m = item.map(['file'], ['file']);
    const f = m.req('file');
    const rel = f.str('a path relative to the scenario file');
    const path = resolveInclude(rel, scenarioFile, item.src.allowOutsideFiles === true, f.keyPos);
    return { text: readInputFile(path, `${what} file`, f.pos), origin: { file: path, line: 1, indent: 0, exact: true } };
  }
  return item.wrongType(`a block string (|) of ${what} or {file: PATH}`);
}
