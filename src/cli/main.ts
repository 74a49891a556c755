#!/usr/bin/env node
/**
 * The podwire command line's entry point. It makes sure the program runs with a
 * heap sized for the machine (see node-flags.ts): when the current Node lacks those
 * flags, it starts cli.js in a child Node that has them, hands it the terminal
 * (stdin, stdout and stderr are the same files), passes on Ctrl-C and SIGTERM, and
 * exits as the child did. Otherwise it runs cli.js in this process.
 *
 * Exit codes (cli.ts): 0 every expectation held, 1 one did not (or the run failed),
 * 2 invalid input; 128+N when the child was killed by signal N.
 */
import { spawn } from 'node:child_process';
import { totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { LAUNCHED_ENV, nodeFlags } from './node-flags.js';

const flags = process.env[LAUNCHED_ENV] !== undefined ? [] : nodeFlags({
  execArgv: process.execArgv,
  nodeOptions: process.env.NODE_OPTIONS,
  totalMem: totalmem(),
  constrainedMem: typeof process.constrainedMemory === 'function' ? process.constrainedMemory() ?? 0 : 0,
  heapLimit: getHeapStatistics().heap_size_limit,
});

if (flags.length === 0) await import('./cli.js');
else {
  if (process.env.PODWIRE_DEBUG_LAUNCH) process.stderr.write(`podwire: starting with node ${flags.join(' ')}\n`);
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, ...flags, cli, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [LAUNCHED_ENV]: flags.join(' ') },
  });
  // A terminal's Ctrl-C reaches both processes (one process group); a signal sent to this one
  // alone (kill PID) is passed on. Either way the child decides how to end (run.ts: flush, exit 130).
  const pass = (sig: NodeJS.Signals) => () => { child.kill(sig); };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, pass(sig));
  child.on('error', (e) => { process.stderr.write(`podwire: cannot start ${process.execPath}: ${e.message}\n`); process.exit(1); });
  child.on('exit', (code, signal) => {
    if (signal) {
      // Die of the same signal, as a shell expects (its handler here would only pass it on).
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}
