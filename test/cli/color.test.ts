/**
 * Colour on a terminal: `podwire run` and `podwire explain` under a pseudo-terminal (util-linux
 * `script`) colour PASS/FAIL and the verdicts; NO_COLOR and --no-color keep them plain there too.
 * Skips without `script` on a developer machine; CI installs util-linux and must run it.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const DIST = 'dist/src/cli/main.js';
const haveScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
if (process.env.CI === 'true' && !haveScript) throw new Error('CI=true but util-linux `script` is missing: .ci/run installs it');

/** Runs podwire with stdout on a pseudo-terminal. */
function onTty(args: string[], env: NodeJS.ProcessEnv = {}) {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\``);
  const cmd = [process.execPath, DIST, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const e = { ...process.env, ...env };
  if (env.NO_COLOR === undefined) delete e.NO_COLOR;
  return spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env: e });
}

describe.skipIf(!haveScript)('colour and alignment on a terminal', () => {
  it('run: PASS in green and the summary coloured; NO_COLOR and --no-color: none', () => {
    const r = onTty(['run', 'scenarios/reject.yaml']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('\x1b[32mPASS\x1b[39m tcp-80-passes');
    expect(r.stdout).toContain('\x1b[32mall 4 expectations held\x1b[39m');
    expect(onTty(['run', 'scenarios/reject.yaml'], { NO_COLOR: '1' }).stdout).not.toContain('\x1b[');
    // outcomes aligned after the longest name (udp-7-port-unreachable)
    const plain = onTty(['run', 'scenarios/reject.yaml', '--no-color']).stdout;
    expect(plain).toContain('PASS tcp-80-passes:          reply');
    expect(plain).toContain('PASS udp-7-port-unreachable: refused');
    expect(onTty(['run', 'scenarios/reject.yaml', '--no-color']).stdout).not.toContain('\x1b[');
  });

  it('explain: the verdict coloured red for a refused item', () => {
    const r = onTty(['explain', 'scenarios/reject.yaml', '--traffic', 'tcp-8080-reset']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('\x1b[31mrefused\x1b[39m');
    expect(r.stdout).toContain('\x1b[31mrefused by node-1/host');
  });
});
