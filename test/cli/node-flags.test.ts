/**
 * The heap flags the command line starts the program with (src/cli/node-flags.ts,
 * src/cli/main.ts): sized to the machine or the cgroup, never overriding the user's,
 * and the child sees them.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nodeFlags, SEMI_SPACE_MB, type NodeFlagInputs } from '../../src/cli/node-flags.js';

const GiB = 2 ** 30;
const base: NodeFlagInputs = { execArgv: [], nodeOptions: undefined, totalMem: 24 * GiB, constrainedMem: 0, heapLimit: 4 * GiB };

describe('nodeFlags', () => {
  it('three quarters of the machine for the old generation, a 64 MiB semi-space', () => {
    expect(nodeFlags(base)).toEqual([`--max-old-space-size=${18 * 1024}`, `--max-semi-space-size=${SEMI_SPACE_MB}`]);
  });

  it('a cgroup limit below the machine is what counts; an unlimited one (2^64) is ignored', () => {
    expect(nodeFlags({ ...base, constrainedMem: 16 * GiB })[0]).toBe(`--max-old-space-size=${12 * 1024}`);
    expect(nodeFlags({ ...base, constrainedMem: 2 ** 64 })[0]).toBe(`--max-old-space-size=${18 * 1024}`);
  });

  it('never a smaller heap than Node would give by itself', () => {
    expect(nodeFlags({ ...base, totalMem: 4 * GiB, heapLimit: 4 * GiB })).toEqual([`--max-semi-space-size=${SEMI_SPACE_MB}`]);
  });

  it('adds none under the inspector (the program runs where the debugger is)', () => {
    expect(nodeFlags({ ...base, execArgv: ['--inspect-brk'] })).toEqual([]);
    expect(nodeFlags({ ...base, nodeOptions: '--inspect=127.0.0.1:9230' })).toEqual([]);
  });

  it("keeps the user's flags, from the command line or NODE_OPTIONS, in either spelling", () => {
    expect(nodeFlags({ ...base, execArgv: ['--max-old-space-size=3000'] })).toEqual([`--max-semi-space-size=${SEMI_SPACE_MB}`]);
    expect(nodeFlags({ ...base, nodeOptions: '--enable-source-maps --max_old_space_size=3000' })).toEqual([`--max-semi-space-size=${SEMI_SPACE_MB}`]);
    expect(nodeFlags({ ...base, execArgv: ['--max-semi-space-size=8'] })).toEqual([`--max-old-space-size=${18 * 1024}`]);
    expect(nodeFlags({ ...base, execArgv: ['--max-old-space-size=3000'], nodeOptions: '--max-semi-space-size=8' })).toEqual([]);
  });
});

describe('podwire starts the program with them', () => {
  const DIST = 'dist/src/cli/main.js';
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, args, {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, PODWIRE_DEBUG_LAUNCH: '1', ...env },
  });

  it('in a child Node (exit code passed on), or in this one when the user set both', () => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\` (it builds first)`);
    const r = run([DIST, 'run', 'scenarios/same-node-bridge.yaml', '-q']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^podwire: starting with node (--max-old-space-size=\\d+ )?--max-semi-space-size=${SEMI_SPACE_MB}$`, 'm'));
    const bad = run([DIST, 'run', 'no-such-file.yaml']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/no-such-file\.yaml:1:1: error: cannot read scenario file/);
    const own = run(['--max-old-space-size=3000', '--max-semi-space-size=16', DIST, 'run', 'scenarios/same-node-bridge.yaml', '-q']);
    expect(own.status, own.stderr).toBe(0);
    expect(own.stderr).not.toMatch(/starting with node/);
  });
});
