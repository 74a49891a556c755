/**
 * Reading the files a scenario names: the scenario itself and its `{file: …}`
 * includes (manifests, iptables-restore rules, a flannel net-conf.json).
 *
 * Two guards against hostile input. A file over {@link MAX_INPUT_BYTES} is
 * refused before it is read, so a huge document ends in an InputError rather
 * than an out-of-memory while parsing. An include must stay inside the
 * scenario's folder — checked on the path as written (`..`, an absolute path)
 * and again on the real path (a symlink pointing out) — unless the user opts
 * out with `--allow-outside-files`: a scenario from elsewhere should not be
 * able to read, and echo in its errors, files the user never meant to give it.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError } from './errors.js';
import type { SourcePos } from './types.js';

/** Largest scenario or included file read (128 MiB; a generated 1000-node scenario is 7 MiB). */
const MIB = 1024 * 1024;
export const MAX_INPUT_BYTES = 128 * MIB;

/** Options of {@link loadScenario} that concern files. */
export interface FileOptions {
  /** Let `{file: …}` includes leave the scenario's folder (`--allow-outside-files`). */
  allowOutsideFiles?: boolean;
}

/**
 * Reads `path` as UTF-8, failing at `at` when it cannot be read or is larger than
 * {@link MAX_INPUT_BYTES}. `what` names the file in the message ("scenario file").
 */
export function readInputFile(path: string, what: string, at: SourcePos, namePath = true): string {
  const named = namePath ? ` ${JSON.stringify(path)}` : '';
  try {
    const st = statSync(path);
    if (st.isFile() && st.size > MAX_INPUT_BYTES)
      throw InputError.at(at, `${what}${named} is ${st.size} bytes, over the limit of ${MAX_INPUT_BYTES / MIB} MiB`, `a file of at most ${MAX_INPUT_BYTES} bytes`);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException)?.code;
    throw InputError.at(at, `cannot read ${what}${named}${code ? ` (${code})` : ''}`);
  }
}


/**
 * The path of include `rel` (as written at `at`, the `file:` key) of scenario
 * `scenarioFile`: relative to the scenario's folder, and inside it unless
 * `allowOutside`.
 */
export function resolveInclude(rel: string, scenarioFile: string, allowOutside: boolean, at: SourcePos): string {
  const dir = dirname(scenarioFile);
  const path = isAbsolute(rel) ? rel : join(dir, rel);
  if (allowOutside) return path;
  const expected = `a path inside the scenario's folder ${JSON.stringify(dir)} (or --allow-outside-files)`;
  const abs = resolve(path);
  if (!inside(resolve(dir), abs)) throw InputError.at(at, `file ${JSON.stringify(rel)} is outside the scenario's folder`, expected);
  // The real paths: a symlink (the file or a folder on the way) may point elsewhere. A path that does not
  // exist is left to the reader's "cannot read" error.
  let realDir: string, realFile: string;
  try {
    realDir = realpathSync(dir);
    realFile = realpathSync(abs);
  } catch {
    return path;
  }
  if (!inside(realDir, realFile)) throw InputError.at(at, `file ${JSON.stringify(rel)} resolves through a symbolic link to ${JSON.stringify(realFile)}, outside the scenario's folder`, expected);
  return path;
}

function inside(dir: string, path: string): boolean {
  const r = relative(dir, path);
  return !r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r);
}
