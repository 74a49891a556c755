/**
 * `podwire generate --out` writes atomically (issue 11): a temp file renamed
 * onto the path, so a failed run never leaves a truncated scenario, nor a temp
 * file, and an existing file is replaced whole or not at all.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateCommand, generateScenario, type GenerateOptions } from '../../src/cli/generate.js';

const base: GenerateOptions = { nodes: 2, pods: 4, services: 1, policies: 0, namespaces: 1, network: 'flannel', seed: 1 };

describe('generate --out', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-gen-out-'));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('writes the whole scenario and leaves no temp file', () => {
    const out = join(dir, 'sub', 's.yaml');
    expect(generateCommand({ ...base, out })).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(generateScenario(base));
    expect(readdirSync(join(dir, 'sub'))).toEqual(['s.yaml']);
  });

  it('a generation that fails keeps the old file whole', () => {
    const out = join(dir, 's.yaml');
    writeFileSync(out, 'old\n');
    expect(generateCommand({ ...base, nodes: 1, pods: 251, out })).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['s.yaml']);
  });

  it('a write that fails (the path is a folder) exits 1 and leaves neither a partial file nor a temp file', () => {
    const out = join(dir, 'taken');
    mkdirSync(out);
    expect(generateCommand({ ...base, out })).toBe(1);
    expect(statSync(out).isDirectory()).toBe(true);
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readdirSync(out)).toEqual([]);
  });
});
