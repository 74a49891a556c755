/**
 * Shared pieces of the input fuzzers (issue 11): run counts, the error check,
 * and mutations of plain JSON-like trees and of text.
 *
 * CI runs each property a bounded number of times from a fixed seed, so a
 * failure reproduces; `FUZZ_RUNS=100000 npx vitest run test/fuzz` runs every
 * property that many times instead (`FUZZ_SEED` picks another seed) and
 * prints how many inputs each tried. There are no timed assertions: inputs are
 * kept small, and a hang shows up as the test's own timeout.
 */
import fc from 'fast-check';
import { InputError } from '../../src/scenario/errors.js';
import { RuleError } from '../../src/netfilter/types.js';
import { NetlinkError } from '../../src/kernel/netlink.js';
import { CniConfigError } from '../../src/cni/conflist.js';
import { JsonSyntaxError } from '../../src/cni/json-pos.js';

const LONG_RUNS = Number(process.env.FUZZ_RUNS ?? '') || 0;
const SEED = Number(process.env.FUZZ_SEED ?? '') || 11;

/** True in a long run on demand. */
export const LONG = LONG_RUNS > 0;

/** vitest timeout for one fuzz test: generous in CI (the runs are few), none to speak of in a long run. */
export const FUZZ_TIMEOUT = LONG ? 24 * 3600_000 : 120_000;

/** Inputs per fast-check run: a long run is cut into runs of this many (seeds SEED, SEED+1, …) with a yield between them, so that vitest's worker stays responsive. */
const CHUNK = 1000;

/**
 * Checks `check` on inputs from `arb` (fixed seed; `ciRuns` inputs in CI,
 * FUZZ_RUNS on demand) and reports the count in a long run. A failure names
 * the seed and path to replay, as fast-check does.
 */
export async function fuzz<T>(name: string, arb: fc.Arbitrary<T>, check: (t: T) => void, ciRuns: number): Promise<void> {
  const total = LONG ? LONG_RUNS : ciRuns;
  for (let done = 0, k = 0; done < total; k++) {
    const numRuns = Math.min(CHUNK, total - done);
    fc.assert(fc.property(arb, (t) => { check(t); }), { seed: SEED + k, numRuns, endOnFailure: true });
    done += numRuns;
    await new Promise((r) => setImmediate(r));
  }
  if (LONG) process.stdout.write(`fuzz ${name}: ${total} inputs tried, seeds ${SEED}..${SEED + Math.ceil(total / CHUNK) - 1}, none crashed\n`);
}

/** A file:line:col on an error, checked: a non-empty file and positive integer line and column. */
function checkPos(file: unknown, line: unknown, col: unknown, e: Error): void {
  const ok = typeof file === 'string' && file !== '' && Number.isInteger(line) && (line as number) >= 1 && Number.isInteger(col) && (col as number) >= 1;
  if (!ok) throw new Error(`rejection without file:line:col (${String(file)}:${String(line)}:${String(col)}): ${e.name}: ${e.message}`);
}

/**
 * Runs `f`; a rejection must be one of the project's input errors naming
 * file:line:col. Anything else (TypeError, RangeError, stack overflow, an
 * error without a position) is rethrown for fast-check to shrink.
 * Returns true when `f` accepted the input.
 */
export function accepts(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof InputError || e instanceof RuleError) {
      checkPos(e.file, e.line, e.col, e);
      return false;
    }
    // The kernel model refusing a configuration while building (a gateway not on a connected network):
    // the CLI's documented `podwire: FILE: ERRNO: …`, exit 2 — a refusal, though without line:col yet.
    if (e instanceof NetlinkError) return false;
    throw e;
  }
}

/** As {@link accepts} for the CNI parsers, whose errors carry line:col of the JSON text (the caller knows the file). */
export function acceptsCni(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof CniConfigError) {
      checkPos('<conflist>', e.line, e.col, e);
      return false;
    }
    if (e instanceof JsonSyntaxError) {
      checkPos('<conflist>', e.pos.line, e.pos.col, e);
      return false;
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Tree mutations

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values that trip validators: wrong types, edge numbers, odd strings. */
export const weirdValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    '', ' ', '-1', '0', '65535', '65536', '4294967296', '1e400', 'NaN', '.inf', '-.inf', '0x10', '010',
    '10.0.0.0/33', '10.0.0.1/24', '999.1.1.1', '0.0.0.0/0', '::1', 'default', 'pod//x', 'service/a/b/c', 'pod/default/',
    'node/', 'ip/1.2.3', '0s', '-1ms', '1e9h', '99999999999h', '1.5.5s', '\u0000', 'é', 'a'.repeat(300), 'TCP', 'udp', 'SCTP',
    'kube-system', 'default', 'true', 'null', '~', '- x', ': x', '{', '[', '&a', '*a', '!!str', '#', '|', 'k8s-app', 'node-1', 'node-2',
    -1, 0, 1, 2, 255, 256, 65535, 65536, 2147483648, 4294967296, Number.MAX_SAFE_INTEGER, 1.5, -0.5, 1e300, true, false, null, [], {},
  ),
  fc.integer({ min: -70000, max: 70000 }),
  fc.string({ maxLength: 12 }),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

export type TreeOp =
  | { op: 'drop'; at: number }
  | { op: 'set'; at: number; value: Json }
  | { op: 'copy'; at: number; from: number }
  | { op: 'dup'; at: number }
  | { op: 'wrap'; at: number; list: boolean }
  | { op: 'deepen'; at: number; depth: number }
  | { op: 'rename'; at: number; key: string }
  | { op: 'sameType'; at: number; from: number }
  | { op: 'nudge'; at: number; by: number };

export const treeOp: fc.Arbitrary<TreeOp> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: weirdValue }),
  fc.record({ op: fc.constant('copy' as const), at: fc.nat(), from: fc.nat() }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('wrap' as const), at: fc.nat(), list: fc.boolean() }),
  fc.record({ op: fc.constant('deepen' as const), at: fc.nat(), depth: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ op: fc.constant('rename' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom('name', 'kind', 'apiVersion', 'spec', 'metadata', 'file', 'at', 'ip', 'nodes', 'x', ''), fc.string({ maxLength: 6 })) }),
);

/** Mutations that keep a scalar's type (another value of that type from the tree; a number moved a little): more inputs pass validation and reach the builder. */
export const sameTypeOp: fc.Arbitrary<TreeOp> = fc.oneof(
  fc.record({ op: fc.constant('sameType' as const), at: fc.nat(), from: fc.nat() }),
  fc.record({ op: fc.constant('nudge' as const), at: fc.nat(), by: fc.constantFrom(-256, -2, -1, 1, 2, 255, 256, 65536) }),
);

interface Slot { parent: Json[] | { [k: string]: Json }; key: string | number }

/** Every value slot of `t` (not the root), depth first. */
function slots(t: Json, out: Slot[] = []): Slot[] {
  if (Array.isArray(t)) t.forEach((_, i) => { out.push({ parent: t, key: i }); slots(t[i]!, out); });
  else if (t && typeof t === 'object') for (const k of Object.keys(t)) { out.push({ parent: t, key: k }); slots(t[k]!, out); }
  return out;
}

const get = (s: Slot): Json => (s.parent as Record<string | number, Json>)[s.key]!;
const put = (s: Slot, v: Json): void => { (s.parent as Record<string | number, Json>)[s.key] = v; };
const clone = (v: Json): Json => (v === undefined ? null : JSON.parse(JSON.stringify(v)) as Json);

/** Applies `ops` to a deep copy of `tree`. */
export function mutateTree(tree: Json, ops: readonly TreeOp[]): Json {
  const t = clone(tree);
  for (const o of ops) {
    const all = slots(t);
    if (all.length === 0) break;
    const s = all[o.at % all.length]!;
    switch (o.op) {
      case 'drop':
        if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
        else delete s.parent[s.key as string];
        break;
      case 'set':
        put(s, clone(o.value));
        break;
      case 'copy':
        put(s, clone(get(all[o.from % all.length]!)));
        break;
      case 'dup':
        if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 0, clone(get(s)));
        else put(s, [clone(get(s)), clone(get(s))]);
        break;
      case 'wrap':
        put(s, o.list ? [get(s)] : { [String(s.key)]: get(s) });
        break;
      case 'deepen': {
        let v = get(s);
        for (let i = 0; i < o.depth; i++) v = i % 2 ? [v] : { x: v };
        put(s, v);
        break;
      }
      case 'sameType': {
        const v = get(s);
        if (v === null || typeof v === 'object') break;
        const like = all.filter((x) => typeof get(x) === typeof v);
        put(s, get(like[o.from % like.length]!));
        break;
      }
      case 'nudge': {
        const v = get(s);
        if (typeof v === 'number') put(s, v + o.by);
        else if (typeof v === 'string' && /\d/.test(v)) put(s, v.replace(/\d+/, (d) => String(Math.max(0, Number(d) + o.by))));
        break;
      }
      case 'rename':
        if (!Array.isArray(s.parent) && !(o.key in s.parent)) {
          const v = get(s);
          delete s.parent[s.key as string];
          s.parent[o.key] = v;
        }
        break;
    }
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Text mutations

export type TextOp =
  | { op: 'deleteLine'; at: number }
  | { op: 'dupLine'; at: number }
  | { op: 'swapLines'; at: number; with: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; len: number }
  | { op: 'truncate'; at: number };

export const textOp = (pieces: readonly string[]): fc.Arbitrary<TextOp> => fc.oneof(
  fc.record({ op: fc.constant('deleteLine' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dupLine' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swapLines' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 })) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

/** Applies `ops` to `text` (offsets and line numbers taken modulo the current size). */
export function mutateText(text: string, ops: readonly TextOp[]): string {
  let t = text;
  for (const o of ops) {
    const lines = t.split('\n');
    switch (o.op) {
      case 'deleteLine': lines.splice(o.at % lines.length, 1); t = lines.join('\n'); break;
      case 'dupLine': { const i = o.at % lines.length; lines.splice(i, 0, lines[i]!); t = lines.join('\n'); break; }
      case 'swapLines': { const i = o.at % lines.length, j = o.with % lines.length; [lines[i], lines[j]] = [lines[j]!, lines[i]!]; t = lines.join('\n'); break; }
      case 'insert': { const i = o.at % (t.length + 1); t = t.slice(0, i) + o.text + t.slice(i); break; }
      case 'delete': { const i = o.at % (t.length + 1); t = t.slice(0, i) + t.slice(i + o.len); break; }
      case 'truncate': t = t.slice(0, o.at % (t.length + 1)); break;
    }
  }
  return t;
}
