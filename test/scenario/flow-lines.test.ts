/**
 * The fast path for one-line flow-mapping items (src/scenario/flow-lines.ts)
 * must give what the yaml library gives for the same text: the same plain
 * values, the same nodes with the same start offsets (hence the same
 * file:line:col in every error), the same first error.
 */
import { describe, expect, it } from 'vitest';
import { isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';
import { Rng } from '../../src/engine/rng.js';
import { generateScenario } from '../../src/cli/generate.js';
import { extractFlowLines, FlowLineMap } from '../../src/scenario/flow-lines.js';
import { InputError } from '../../src/scenario/errors.js';
import { parseScenario } from '../../src/scenario/load.js';
import { fileSrc, parseYamlDocs, parseYamlDocsAsIs } from '../../src/scenario/validateYaml.js';

type Parsed = ReturnType<typeof parseYamlDocs>;

function attempt(f: () => Parsed): Parsed | string {
  try {
    return f();
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
}

/** Node by node: kind, start offset, scalar value, source and style, keys; a FlowLineMap's plain value is the library's toJS. */
function sameTree(a: unknown, b: unknown, where: string, doc: Document.Parsed): void {
  if (a === null || b === null) return void expect(b, where).toBe(a);
  if (isPair(a)) {
    expect(isPair(b), where).toBe(true);
    sameTree(a.key, (b as typeof a).key, `${where}.key`, doc);
    sameTree(a.value, (b as typeof a).value, `${where}.value`, doc);
    return;
  }
  const x = a as Node, y = b as Node;
  if (y instanceof FlowLineMap) {
    const want = x.toJS(doc);
    expect(y.plain(), where).toEqual(want);
    expect(y.plain(), where).toEqual(want);
  }
  expect([isMap(y), isSeq(y), isScalar(y)], where).toEqual([isMap(x), isSeq(x), isScalar(x)]);
  expect(y.range?.[0], where).toBe(x.range?.[0]);
  expect(y.range?.[1], where).toBe(x.range?.[1]);
  if (isScalar(x) && isScalar(y)) {
    expect([y.value, y.source, y.type, y.format], where).toEqual([x.value, x.source, x.type, x.format]);
    return;
  }
  if ((isMap(x) || isSeq(x)) && (isMap(y) || isSeq(y))) {
    expect(y.flow, where).toBe(x.flow);
    expect(y.items.length, where).toBe(x.items.length);
    x.items.forEach((it, i) => sameTree(it, y.items[i], `${where}[${i}]`, doc));
  }
}

function expectSame(text: string): void {
  const mk = (lc: Parameters<typeof fileSrc>[1]) => fileSrc('t.yaml', lc);
  const slow = attempt(() => parseYamlDocsAsIs(text, mk));
  const fast = attempt(() => parseYamlDocs(text, mk));
  if (typeof slow === 'string' || typeof fast === 'string') return void expect(fast, text).toEqual(slow);
  expect(fast.docs.length, text).toBe(slow.docs.length);
  slow.docs.forEach((d, i) => {
    // The plain value first, through the fast reader where it applies, then through the nodes.
    const fd = fast.docs[i];
    expect(fd.toJS({ maxAliasCount: 100 }), text).toEqual(d.toJS({ maxAliasCount: 100 }));
    sameTree(d.contents, fd.contents, 'root', d);
  });
  for (let off = 0; off <= text.length; off += 7) expect(fast.src.pos(off), text).toEqual(slow.src.pos(off));
}

const SCALARS = ['a', 'n0', 'web', 'nginx', 'v1', 'Pod', '8080', '0', '00', '12', '1.5', '.5', '1e3', '1E-2', '0x1F', '0o17', '0o9', 'true', 'True', 'TRUE', 'false', 'null', 'Null', 'NULL', 'nul', 'tru', '.inf', '.Inf', '.nan', '.NaN', '-', '-1', '-x', '10.0.0.1/16', 'podwire/ip', 'a-b_c.d', 'x.', '_', '/', 'yes', 'on', '9007199254740993', '1_000', '1.', '__proto__', '<<'];
const BAD_TOKENS = ["'q'", '"q"', '&a x', '*a', '!!str x', 'a #c', 'a:b', '? a', '~', '@x', '`x', 'a b', '%', ''];

function randomValue(rng: Rng, depth: number): string {
  const r = rng.u32() % 10;
  if (depth < 3 && r === 0) return randomMap(rng, depth + 1);
  if (depth < 3 && r === 1) {
    const n = rng.u32() % 4;
    return `[${Array.from({ length: n }, () => randomValue(rng, depth + 1)).join(', ')}]`;
  }
  if (r === 2 && rng.u32() % 4 === 0) return BAD_TOKENS[rng.u32() % BAD_TOKENS.length];
  return SCALARS[rng.u32() % SCALARS.length];
}

function randomMap(rng: Rng, depth: number): string {
  const n = rng.u32() % 5;
  const pairs = Array.from({ length: n }, () => `${SCALARS[rng.u32() % 12]}: ${randomValue(rng, depth)}`);
  const sep = rng.u32() % 8 === 0 ? ',' : ', ';
  const pad = rng.u32() % 8 === 0 ? ' ' : '';
  return `{${pad}${pairs.join(sep)}${pad}}`;
}

/** A scenario-shaped text: block sequences of flow-mapping items, and what may surround them. */
function randomText(rng: Rng): string {
  const lines = ['name: x', 'list:'];
  const n = 1 + (rng.u32() % 6);
  for (let i = 0; i < n; i++) {
    const indent = rng.u32() % 6 === 0 ? '    ' : '  ';
    const trail = rng.u32() % 6 === 0 ? '  ' : rng.u32() % 10 === 0 ? ' # c' : '';
    lines.push(`${indent}- ${randomMap(rng, 0)}${trail}`);
    const r = rng.u32() % 12;
    if (r === 0) lines.push('      more: 1');
    else if (r === 1) lines.push('');
    else if (r === 2) lines.push('  # a comment');
    else if (r === 3) lines.push('      # an indented comment');
  }
  const tail = rng.u32() % 5;
  if (tail === 0) lines.push('text: |', '  - {a: b}', '  - {c: 1}');
  else if (tail === 1) lines.push('other:', '  nested:', '    - {a: 1, b: [x, {y: 2}]}', '    - &anc {a: 1}', '    - *anc');
  else if (tail === 2) lines.push('q: "line', '  - {a: b}"');
  else if (tail === 3) lines.push('list: again');
  return lines.join(rng.u32() % 5 === 0 ? '\r\n' : '\n') + (rng.u32() % 2 ? '\n' : '');
}

describe('one-line flow mappings: the fast path', () => {
  it('recognises the generated lines and leaves the others to the library', () => {
    const text = 'a:\n  - {name: n0, ip: 10.0.0.1/16}\n  - {name: n1}\n  - {name: "q"}\n  - {k: v}\n    # more indented\n  - {x: 1, x: 2}\n  - {y: 1}\n';
    const fast = extractFlowLines(text)!;
    expect(fast.text).toBe('a:\n  - ~\n  - {name: "q"}\n  - {k: v}\n    # more indented\n  - {x: 1, x: 2}\n  - ~\n');
    expect([...fast.runs.values()].map((r) => r.map((m) => m.range![0]))).toEqual([[text.indexOf('{name: n0'), text.indexOf('{name: n1')], [text.indexOf('{y: 1}')]]);
    expect(extractFlowLines('a:\n  - b\n')).toBeNull();
  });

  it('builds its nodes only when asked, and its plain value equals toJS', () => {
    const text = 'l:\n  - {a: 1, b: [x, {c: null}], d: {}, e: 0x10, f: 1.5e3, g: True}\n';
    const { docs } = parseYamlDocs(text, (lc) => fileSrc('t.yaml', lc));
    const item = (docs[0].get('l') as { items: unknown[] }).items[0];
    expect(item).toBeInstanceOf(FlowLineMap);
    const slow = parseYamlDocsAsIs(text, (lc) => fileSrc('t.yaml', lc)).docs[0].toJS() as { l: unknown[] };
    expect((item as FlowLineMap).plain()).toEqual(slow.l[0]);
    expect((item as FlowLineMap).plain()).toEqual({ a: 1, b: ['x', { c: null }], d: {}, e: 16, f: 1500, g: true });
  });

  it('leaves texts it cannot take whole to the library: another schema, a lone CR, errors, several documents', () => {
    for (const text of [
      '%YAML 1.1\n---\nl:\n  - {a: yes, b: 010}\n  - {c: on}\n',
      'l:\n  - {a: 1}\r  - {b: 2}\n',
      'l:\n  - {a: 1}\n  - {b: 2}\nm: [\n',
      'l:\n  - {a: 1}\n  - {a: 2, a: 3}\n',
      'a: 1\n---\nl:\n  - {a: 1}\n  - {b: [1, 2]}\n---\nl:\n  - {c: 3}\n',
      'l:\n  - {a: 1}\n  - &x {b: 2}\n  - *x\nm: *x\n',
    ]) expectSame(text);
  });

  it('resolves letter-first scalars as the core schema does (only null and booleans are not strings)', () => {
    const words = ['null', 'Null', 'NULL', 'nULL', 'nil', 'none', 'true', 'True', 'TRUE', 'tRUE', 'trUe', 'false', 'False', 'FALSE', 'fAlse', 'falsy', 'Inf', 'NaN', 'nan', 'e5', 'x1', 'o17', 'b0', 'yes', 'No', 'on', 'OFF', 'y', 'n', 'z9.5', 'E3', 'Infinity'];
    for (const w of words) expectSame(`l:\n  - {k: ${w}, ${w}: 1}\n`);
  });

  it('equals the library on random texts (values, nodes, offsets, errors)', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 1500; i++) expectSame(randomText(rng));
  });

  it('equals the library on a generated scenario, and parseScenario gives the same Scenario', () => {
    const text = generateScenario({ nodes: 6, pods: 40, services: 8, policies: 2, namespaces: 2, network: 'flannel', seed: 3 });
    expectSame(text);
    // The same scenario with every flow item made ineligible for the fast path (a trailing comment): the library alone.
    const slowText = text.replace(/^( *- \{.*\})$/gm, '$1 #');
    expect(extractFlowLines(slowText)).toBeNull();
    expect(JSON.parse(JSON.stringify(parseScenario(text, 's.yaml')))).toEqual(JSON.parse(JSON.stringify(parseScenario(slowText, 's.yaml'))));
  });

  it('reports errors inside fast-path lines at the same place as the library', () => {
    const text = generateScenario({ nodes: 3, pods: 6, services: 2, policies: 0, namespaces: 1, network: 'flannel', seed: 1 });
    const bad = [
      text.replace('containerPort: 8080', 'containerPort: 80800'),
      text.replace('image: nginx', 'imag: nginx'),
      text.replace('{name: n1, ip: 10.0.0.2/16}', '{name: n1, ip: 10.0.0.2/33}'),
      text.replace('{name: n1, ip: 10.0.0.2/16}', '{name: n0, ip: 10.0.0.9/16}'),
      text.replace('nodeName: n1', 'nodeName: n9'),
      text.replace('metadata: {name: p1,', 'metadata: {name: p0,'),
      text.replace('{name: n1, ip: 10.0.0.2/16}', '{name: n1, ipp: 10.0.0.2/16}'),
    ];
    for (const b of bad) {
      expect(b).not.toBe(text);
      const slowText = b.replace(/^( *- \{.*\})$/gm, '$1 #');
      const err = (t: string) => { try { parseScenario(t, 's.yaml'); return 'no error'; } catch (e) { return (e as InputError).format(); } };
      const want = err(slowText);
      expect(want).toMatch(/^s\.yaml:\d+:\d+: error: /);
      expect(err(b)).toBe(want);
    }
  });
});
