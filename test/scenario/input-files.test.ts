/**
 * Hostile files (issue 11): alias bombs, huge and deeply nested documents are
 * refused with a limit error at file:line:col (never an out-of-memory or a
 * stack overflow); `{file: …}` includes stay in the scenario's folder (no `..`,
 * no absolute path or symlink leading out) unless allowOutsideFiles /
 * `--allow-outside-files`.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, symlinkSync, writeFileSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/scenario/errors.js';
import { loadScenario, parseScenario, type FileOptions } from '../../src/scenario/load.js';
import { MAX_INPUT_BYTES } from '../../src/scenario/input-files.js';
import { MAX_ALIAS_NODES } from '../../src/scenario/validateYaml.js';

const DIST = 'dist/src/cli/main.js';
const TMP = mkdtempSync(join(tmpdir(), 'pw-input-files-'));

const HEAD = `name: t
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: bridge}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24, podCIDR: 10.244.0.0/24}
`;
const POD = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: node-1, containers: [{name: c, image: i}]}\n';

function err(f: () => unknown): string {
  try {
    f();
    return 'OK';
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
}

/** Nine aliases of nine aliases … `levels` deep: 9^levels nodes once expanded. */
function laughs(levels: number, indent: string): string {
  const lines = [`${indent}l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]`];
  for (let i = 1; i <= levels; i++) lines.push(`${indent}l${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
}

describe('limits', () => {
  it('a billion laughs in the scenario is refused at the alias that crosses the limit', () => {
    const e = err(() => parseScenario(`${HEAD}description: x\nx:\n${laughs(9, '  ')}`, 's.yaml'));
    expect(e).toMatch(new RegExp(`^s\\.yaml:1[0-9]:\\d+: error: YAML aliases expand to more than ${MAX_ALIAS_NODES} nodes \\(an alias bomb\\?\\)`));
  });

  it('a billion laughs in a manifest (block string) is refused at its line in the scenario', () => {
    const body = `${POD}${laughs(9, '')}`.split('\n').map((l) => (l ? `    ${l}` : l)).join('\n');
    expect(err(() => parseScenario(`${HEAD}manifests:\n  - |\n${body}`, 's.yaml'))).toMatch(/^s\.yaml:(1[6-9]|2\d):\d+: error: YAML aliases expand to more than/);
  });

  it('modest anchors and aliases are accepted', () => {
    const text = `${HEAD}manifests:\n  - {apiVersion: v1, kind: Pod, metadata: {name: a, labels: &l {app: x}}, spec: &s {nodeName: node-1, containers: [{name: c, image: i}]}}\n  - {apiVersion: v1, kind: Pod, metadata: {name: b, labels: *l}, spec: *s}\n`;
    const s = parseScenario(text, 's.yaml');
    expect(s.manifests.map((m) => m.name)).toEqual(['a', 'b']);
  });

  it('deep nesting is refused as too deep, not a stack overflow (flow and block, scenario and manifest)', () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const cases = [
      `${HEAD}traffic: ${deep(50_000)}\n`,
      `${HEAD}manifests:\n  - {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {x: ${deep(20_000)}}}\n`,
      `${HEAD}manifests:\n  - |\n    ${POD.replace('spec: {', `spec: {x: ${deep(20_000)}, `).split('\n').join('\n    ')}`,
      Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n',
    ];
    for (const t of cases) expect(err(() => parseScenario(t, 's.yaml'))).toMatch(/^s\.yaml:\d+:\d+: error: (YAML nested too deeply|.*must be|unknown)/);
  });

  it(`a scenario or an included file over ${MAX_INPUT_BYTES / 2 ** 20} MiB is refused before it is read`, () => {
    const dir = mkdtempSync(join(TMP, 'big-'));
    const big = join(dir, 'big.yaml');
    // Sparse: the size is what counts, no disk space is used.
    const fd = openSync(big, 'w');
    ftruncateSync(fd, MAX_INPUT_BYTES + 1);
    closeSync(fd);
    expect(err(() => loadScenario(big))).toBe(`${big}:1:1: error: scenario file is ${MAX_INPUT_BYTES + 1} bytes, over the limit of 128 MiB (expected a file of at most ${MAX_INPUT_BYTES} bytes)`);
    const s = join(dir, 's.yaml');
    writeFileSync(s, `${HEAD}manifests:\n  - {file: big.yaml}\n`);
    expect(err(() => loadScenario(s))).toBe(`${s}:9:12: error: manifest file "${big}" is ${MAX_INPUT_BYTES + 1} bytes, over the limit of 128 MiB (expected a file of at most ${MAX_INPUT_BYTES} bytes)`);
  });
});

describe('{file: …} includes stay in the scenario folder', () => {
  /** DIR/sub/s.yaml including `ref`; DIR/outside.yaml and DIR/sub/inside.yaml hold a pod each. */
  function layout(ref: string): { dir: string; s: string } {
    const dir = mkdtempSync(join(TMP, 'inc-'));
    mkdirSync(join(dir, 'sub', 'm'), { recursive: true });
    writeFileSync(join(dir, 'outside.yaml'), POD);
    writeFileSync(join(dir, 'sub', 'inside.yaml'), POD);
    const s = join(dir, 'sub', 's.yaml');
    writeFileSync(s, `${HEAD}manifests:\n  - {file: ${ref}}\n`);
    return { dir, s };
  }
  const load = (s: string, o?: FileOptions) => err(() => loadScenario(s, o));

  it('a path inside the folder (relative, nested, absolute, through a symlink staying inside) is read', () => {
    expect(load(layout('inside.yaml').s)).toBe('OK');
    const { dir, s } = layout('m/../inside.yaml');
    expect(load(s)).toBe('OK');
    writeFileSync(s, `${HEAD}manifests:\n  - {file: ${join(dir, 'sub', 'inside.yaml')}}\n`);
    expect(load(s)).toBe('OK');
    symlinkSync(join(dir, 'sub', 'inside.yaml'), join(dir, 'sub', 'm', 'link.yaml'));
    writeFileSync(s, `${HEAD}manifests:\n  - {file: m/link.yaml}\n`);
    expect(load(s)).toBe('OK');
  });

  it('.. leading out is refused at the file: key, naming the folder; allowOutsideFiles reads it', () => {
    const { s } = layout('../outside.yaml');
    const folder = JSON.stringify(join(s, '..'));
    expect(load(s)).toBe(`${s}:9:6: error: file "../outside.yaml" is outside the scenario's folder (expected a path inside the scenario's folder ${folder} (or --allow-outside-files))`);
    expect(load(s, { allowOutsideFiles: true })).toBe('OK');
  });

  it('an absolute path outside is refused', () => {
    const { dir, s } = layout('x');
    writeFileSync(s, `${HEAD}manifests:\n  - {file: ${join(dir, 'outside.yaml')}}\n`);
    expect(load(s)).toMatch(/^.*s\.yaml:9:6: error: file ".*outside\.yaml" is outside the scenario's folder/);
    expect(load(s, { allowOutsideFiles: true })).toBe('OK');
  });

  it('a symlink (to a file or a folder) pointing outside is refused by its real path', () => {
    const { dir, s } = layout('m/link.yaml');
    symlinkSync(join(dir, 'outside.yaml'), join(dir, 'sub', 'm', 'link.yaml'));
    expect(load(s)).toBe(`${s}:9:6: error: file "m/link.yaml" resolves through a symbolic link to ${JSON.stringify(join(dir, 'outside.yaml'))}, outside the scenario's folder (expected a path inside the scenario's folder ${JSON.stringify(join(dir, 'sub'))} (or --allow-outside-files))`);
    symlinkSync(dir, join(dir, 'sub', 'up'));
    writeFileSync(s, `${HEAD}manifests:\n  - {file: up/outside.yaml}\n`);
    expect(load(s)).toMatch(/error: file "up\/outside\.yaml" resolves through a symbolic link to/);
    expect(load(s, { allowOutsideFiles: true })).toBe('OK');
  });

  it('iptables rules and events\' manifests are held to the same rule', () => {
    const { dir, s } = layout('x');
    writeFileSync(join(dir, 'rules.v4'), '*filter\nCOMMIT\n');
    writeFileSync(s, HEAD.replace('  nodes:', '  iptables:\n    node-1: {file: ../rules.v4}\n  nodes:'));
    expect(load(s)).toMatch(/s\.yaml:7:14: error: file "\.\.\/rules\.v4" is outside the scenario's folder/);
    writeFileSync(s, `${HEAD}events:\n  - {at: 1s, kind: policy-apply, manifest: {file: ../outside.yaml}}\n`);
    expect(load(s)).toMatch(/s\.yaml:9:45: error: file "\.\.\/outside\.yaml" is outside the scenario's folder/);
  });

  it('the CLI: exit 2 with file:line:col, --allow-outside-files on run, explain, save and policy', () => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: build first (npx tsc -p tsconfig.json)`);
    const dir = mkdtempSync(join(TMP, 'cli-'));
    mkdirSync(join(dir, 'sub'));
    copyFileSync('scenarios/flannel/app.yaml', join(dir, 'app.yaml'));
    const s = join(dir, 'sub', 'flannel-vxlan.yaml');
    writeFileSync(s, readFileSync('scenarios/flannel-vxlan.yaml', 'utf8').replace('{file: flannel/app.yaml}', '{file: ../app.yaml}'));
    const cli = (...args: string[]) => spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 120_000 });
    const r = cli('run', s, '-q');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/sub\/flannel-vxlan\.yaml:24:6: error: file "\.\.\/app\.yaml" is outside the scenario's folder/);
    expect(cli('run', s, '-q', '--allow-outside-files').status).toBe(0);
    expect(cli('explain', s, '--traffic', 'pod-to-pod-icmp', '--allow-outside-files').status).toBe(0);
    expect(cli('save', 'routes', s, '--node', 'node-1', '--allow-outside-files').status).toBe(0);
    expect(cli('policy', 'matrix', s).status).toBe(2);
    expect(cli('policy', 'matrix', s, '--allow-outside-files').status).toBe(0);
    expect(resolve(s)).toBe(s);
  });
});
