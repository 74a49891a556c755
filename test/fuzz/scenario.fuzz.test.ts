/**
 * Fuzzing the scenario loader (issue 11): mutations of every shipped scenario
 * (keys dropped, duplicated, renamed, values retyped, copied from elsewhere,
 * nested deeply; lines deleted, duplicated, swapped; bytes inserted), random
 * YAML documents and random text. Property: parseScenario either accepts
 * (and the cluster then builds — for same-type mutations, runs under an event
 * budget — or is refused with an InputError) or throws an InputError naming
 * file:line:col — never a TypeError, RangeError or stack
 * overflow. See fuzz.ts for run counts (FUZZ_RUNS for a long run).
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseScenario } from '../../src/scenario/load.js';
import { buildCluster } from '../../src/scenario/build.js';
import { runScenario } from '../../src/scenario/run.js';
import { accepts, fuzz, FUZZ_TIMEOUT, mutateText, mutateTree, sameTypeOp, textOp, treeOp, type Json } from './fuzz.js';

const FILES = readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort().map((f) => `scenarios/${f}`);
const TEXTS = FILES.map((f) => readFileSync(f, 'utf8'));
const TREES = TEXTS.map((t) => parse(t) as Json);
const PIECES = ['\n', ': ', '- ', '{', '}', '[', ']', ',', '"', "'", '&a ', '*a', '!!int ', '<<: ', '? ', '|', '>', '#', '---\n', '...\n', '  ', '\t', '\r', '%YAML 1.1\n'];

/** Parses as the CLI would, then builds what parses (the builder's own InputErrors count as rejections). */
function load(text: string, file: string): void {
  accepts(() => buildCluster(parseScenario(text, file)));
}

describe('fuzz: scenario YAML', () => {
  it('tree mutations of every shipped scenario', async () => {
    const arb = fc.tuple(fc.nat({ max: FILES.length - 1 }), fc.array(treeOp, { minLength: 1, maxLength: 3 }), fc.array(textOp(PIECES), { maxLength: 1 }));
    await fuzz('scenario tree mutations', arb, ([i, ops, tops]) => load(mutateText(stringify(mutateTree(TREES[i]!, ops)), tops), FILES[i]!), 60);
  }, FUZZ_TIMEOUT);

  it('text mutations of every shipped scenario', async () => {
    const arb = fc.tuple(fc.nat({ max: FILES.length - 1 }), fc.array(textOp(PIECES), { minLength: 1, maxLength: 4 }));
    await fuzz('scenario text mutations', arb, ([i, ops]) => load(mutateText(TEXTS[i]!, ops), FILES[i]!), 80);
  }, FUZZ_TIMEOUT);

  it('same-type mutations (values swapped within the scenario, numbers moved) run under an event budget', async () => {
    // Half of these pass validation, so they exercise the builder and a run: addresses, names, ports and times that are valid but odd.
    const arb = fc.tuple(fc.nat({ max: FILES.length - 1 }), fc.array(sameTypeOp, { minLength: 1, maxLength: 3 }));
    await fuzz('scenario same-type mutations, run', arb, ([i, ops]) => {
      accepts(() => runScenario(parseScenario(stringify(mutateTree(TREES[i]!, ops)), FILES[i]!), { maxEvents: 200_000 }));
    }, 40);
  }, FUZZ_TIMEOUT);

  it('random YAML documents and random text', async () => {
    const arb = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v)),
      fc.dictionary(fc.constantFrom('name', 'seed', 'cluster', 'manifests', 'traffic', 'events', 'description'), fc.jsonValue({ maxDepth: 3 })).map((v) => stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.array(fc.constantFrom(...PIECES, 'a', 'b: c', '1'), { maxLength: 40 }).map((a) => a.join('')),
    );
    await fuzz('random YAML', arb, (text) => accepts(() => parseScenario(text, 'fuzz.yaml')), 300);
  }, FUZZ_TIMEOUT);
});
