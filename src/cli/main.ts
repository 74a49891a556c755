#!/usr/bin/env node
/**
 * The podwire command line. Exit codes: 0 every expectation held, 1 one did not
 * (or the run failed), 2 invalid input (with file:line:col, never a stack trace).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommand } from './run.js';
import { saveCommand } from './save.js';

// A reader that goes away (`podwire run … | head`) is not an error of ours.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

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
  .command(
    'save <what> <file>',
    "print a machine's state at the end of the run as the real tool would: iptables-save, conntrack -L or ipset save",
    (y) => y
      .positional('what', { choices: ['iptables', 'conntrack', 'ipset'] as const, demandOption: true })
      .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
      .option('node', { type: 'string', demandOption: true, describe: 'machine (node or host) name' })
      .option('netns', { type: 'string', default: 'host', describe: "network namespace (the machine's own is 'host'; a pod's is NAMESPACE.POD)" })
      .option('counters', { alias: 'c', type: 'boolean', default: false, describe: 'iptables: print packet/byte counters (iptables-save -c)' })
      .option('seed', { type: 'number', describe: 'override the scenario seed' }),
    (argv) => {
      process.exitCode = saveCommand({
        what: argv.what as 'iptables' | 'conntrack' | 'ipset', file: argv.file as string, node: argv.node as string,
        netns: argv.netns as string, counters: argv.counters as boolean, seed: argv.seed,
      });
    },
  )
  .demandCommand(1, 'name a command (podwire run FILE, podwire save iptables FILE --node N)')
  .strict()
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`podwire: ${msg}\n\n${y.help()}\n`);
    process.exit(2);
  })
  .help()
  .version(false)
  .parseAsync();
