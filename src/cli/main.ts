#!/usr/bin/env node
/**
 * The podwire command line. Exit codes: 0 every expectation held, 1 one did not
 * (or the run failed), 2 invalid input (with file:line:col, never a stack trace).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommand } from './run.js';

await yargs(hideBin(process.argv))
  .scriptName('podwire')
  .usage('$0 <command> [options]')
  .command(
    'run <file>',
    'run a scenario: build the cluster, send its traffic, check its expectations',
    (y) => y
      .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
      .option('pcap', { type: 'string', describe: 'write captures into this directory (per-interface .pcap and all.pcapng)' })
      .option('trace', { choices: ['text', 'json'] as const, describe: 'print the hook-by-hook trace (text or NDJSON)' })
      .option('trace-file', { type: 'string', describe: 'write the trace to this file instead of stdout' })
      .option('seed', { type: 'number', describe: 'override the scenario seed' })
      .option('show-config', { type: 'boolean', default: false, describe: 'print the ip/bridge/sysctl commands that built each machine' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only failures' }),
    async (argv) => {
      process.exitCode = await runCommand({
        file: argv.file as string,
        pcap: argv.pcap,
        trace: argv.trace,
        traceFile: argv['trace-file'],
        seed: argv.seed,
        showConfig: argv['show-config'],
        quiet: argv.quiet,
      });
    },
  )
  .demandCommand(1, 'name a command (podwire run FILE)')
  .strict()
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`podwire: ${msg}\n\n${y.help()}\n`);
    process.exit(2);
  })
  .help()
  .version(false)
  .parseAsync();
