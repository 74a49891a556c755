/**
 * The one error type for bad input (scenario files, manifests, CLI arguments
 * naming files). It always names the exact place: the file, the 1-based line
 * and column of the offending YAML node. The CLI prints {@link InputError.format}
 * and exits with status 2; it never prints a stack trace for an InputError.
 */
import type { SourcePos } from './types.js';

export class InputError extends Error {
  override readonly name = 'InputError';
  /**
   * @param file     path of the file as the user named it (or the manifest file it pointed to)
   * @param line     1-based line of the offending node
   * @param col      1-based column of the offending node
   * @param message  what is wrong, one line, no trailing period
   * @param expected optional: what would have been accepted (allowed keys, a value range, a syntax)
   */
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    message: string,
    readonly expected?: string,
  ) {
    super(message);
  }

  /** Builds an error at a {@link SourcePos}. */
  static at(pos: SourcePos, message: string, expected?: string): InputError {
    return new InputError(pos.file, pos.line, pos.col, message, expected);
  }

  /** The position as a {@link SourcePos}. */
  get pos(): SourcePos {
    return { file: this.file, line: this.line, col: this.col };
  }

  /** `FILE:LINE:COL: error: MESSAGE (expected EXPECTED)` — the `(expected …)` part only when known. */
  format(): string {
    const exp = this.expected !== undefined ? ` (expected ${this.expected})` : '';
    return `${this.file}:${this.line}:${this.col}: error: ${this.message}${exp}`;
  }
}

/** True for an {@link InputError} (also across module copies, by name and shape). */
export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
