/**
 * Terminal styling: colour only when writing to a terminal, never with `NO_COLOR` set (any value,
 * no-color.org) or `--no-color`. Piped output stays plain text, byte for byte what scripts parse.
 */
export interface Style {
  readonly color: boolean;
  ok(s: string): string;
  bad(s: string): string;
  warn(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const id = (s: string) => s;

export const plainStyle: Style = { color: false, ok: id, bad: id, warn: id, dim: id, bold: id };

const sgr = (open: number, close: number) => (s: string) => (s === '' ? s : `\x1b[${open}m${s}\x1b[${close}m`);

export const colorStyle: Style = {
  color: true,
  ok: sgr(32, 39),
  bad: sgr(31, 39),
  warn: sgr(33, 39),
  dim: sgr(2, 22),
  bold: sgr(1, 22),
};

/** Whether to colour output to `stream`: a TTY, no NO_COLOR, no --no-color (`color: false`). */
export function wantColor(stream: { isTTY?: boolean }, opts: { color?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): boolean {
  if (opts.color === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true;
}

export function styleFor(stream: { isTTY?: boolean }, opts: { color?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Style {
  return wantColor(stream, opts, env) ? colorStyle : plainStyle;
}
