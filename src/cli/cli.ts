/**
 * The podwire command line. Exit codes: 0 every expectation held, 1 one did not
 * (or the run failed), 2 invalid input (with file:line:col, never a stack trace).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommand } from './run.js';
import { explainCommand as trafficExplainCommand } from './explain.js';
import { styleFor } from './style.js';
import { saveCommand } from './save.js';
import { generateCommand } from './generate.js';
import { diffCommand, explainCommand, matrixCommand, MATRIX_FORMATS, type MatrixFormat } from './policy.js';

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
      .option('pcap-used-only', { type: 'boolean', default: false, describe: 'with --pcap: files only for the interfaces frames crossed (large clusters)' })
      .option('trace', { choices: ['text', 'json', 'mermaid'] as const, describe: 'print the hook-by-hook trace (text or NDJSON), or each traffic item as a Mermaid sequence diagram' })
      .option('trace-file', { type: 'string', describe: 'write the trace to this file instead of stdout' })
      .option('seed', { type: 'number', describe: 'override the scenario seed' })
      .option('show-config', { type: 'boolean', default: false, describe: 'print the ip/bridge/sysctl commands that built each machine' })
      .option('report', { type: 'string', describe: 'write DIR/report.html (self-contained: topology, each traffic item step by step, packet details) and the captures (DIR/captures unless --pcap)' })
      .option('max-events', { type: 'string', describe: 'stop the run after this many events, reporting what still cycled (default 50000000)' })
      .option('max-virtual-time', { type: 'string', describe: 'stop the run at this virtual time, e.g. 10m (default 24h)' })
      .option('color', { type: 'boolean', default: true, describe: 'colour on a terminal (--no-color, or NO_COLOR set, turns it off)' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only failures (and no progress on stderr)' })
      .option('allow-outside-files', { type: 'boolean', default: false, describe: "let the scenario's {file: …} includes leave its folder" }),
    async (argv) => {
      process.exitCode = await runCommand({
        report: argv.report,
        maxEvents: argv['max-events'],
        maxVirtualTime: argv['max-virtual-time'],
        color: argv.color,
        file: argv.file as string,
        pcap: argv.pcap,
        pcapUsedOnly: argv['pcap-used-only'],
        trace: argv.trace,
        traceFile: argv['trace-file'],
        seed: argv.seed,
        showConfig: argv['show-config'],
        quiet: argv.quiet,
        allowOutsideFiles: argv['allow-outside-files'],
      });
    },
  )
  .command(
    'explain <file>',
    "why a traffic item ended as it did: its request and answer hop by hop, the decisions that mattered, and the reason",
    (y) => y
      .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
      .option('traffic', { type: 'string', demandOption: true, describe: "the traffic item's name" })
      .option('allow-outside-files', { type: 'boolean', default: false, describe: "let the scenario's {file: …} includes leave its folder" })
      .option('seed', { type: 'number', describe: 'override the scenario seed' })
      .option('color', { type: 'boolean', default: true, describe: 'colour on a terminal (--no-color, or NO_COLOR set, turns it off)' }),
    async (argv) => {
      process.exitCode = await trafficExplainCommand({
        file: argv.file as string, traffic: argv.traffic as string, seed: argv.seed, allowOutsideFiles: argv['allow-outside-files'],
        style: styleFor(process.stdout, { color: argv.color as boolean }),
      });
    },
  )
  .command(
    'generate',
    'write a scale scenario (issue 9): N nodes, pods round-robin with labels, Services selecting them, NetworkPolicies, sample traffic with expectations that hold',
    (y) => y
      .option('nodes', { type: 'number', default: 3, describe: 'nodes (on /16 subnets of 10.0.0.0/8, 65,000 a subnet)' })
      .option('pods', { type: 'number', default: 6, describe: 'pods, spread round-robin over the nodes (at most 250 a node)' })
      .option('services', { type: 'number', default: 2, describe: 'ClusterIP Services (port 80 → the pods\' 8080)' })
      .option('endpoints-per-service', { type: 'number', describe: 'pods a Service selects (default pods / services)' })
      .option('policies', { type: 'number', default: 0, describe: 'NetworkPolicies (each isolates one app for ingress)' })
      .option('namespaces', { type: 'number', default: 1, describe: 'namespaces ns-0…' })
      .option('network', { choices: ['flannel', 'calico'] as const, default: 'flannel' as const, describe: 'flannel vxlan or calico IPIP' })
      .option('seed', { type: 'number', default: 1, describe: 'the scenario seed (labels, sample traffic)' })
      .option('out', { type: 'string', describe: 'write to this file (default stdout)' }),
    (argv) => {
      process.exitCode = generateCommand({
        nodes: argv.nodes, pods: argv.pods, services: argv.services, endpointsPerService: argv['endpoints-per-service'],
        policies: argv.policies, namespaces: argv.namespaces, network: argv.network as 'flannel' | 'calico', seed: argv.seed, out: argv.out,
      });
    },
  )
  .command(
    'save <what> <file>',
    "print a machine's state at the end of the run as the real tool would: iptables-save, conntrack -L, ipset save, ipvsadm -Ln, ip route, or BIRD's birdc show protocols + show route (Calico)",
    (y) => y
      .positional('what', { choices: ['iptables', 'conntrack', 'ipset', 'ipvs', 'routes', 'bird'] as const, demandOption: true })
      .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
      .option('node', { type: 'string', demandOption: true, describe: 'machine (node or host) name' })
      .option('netns', { type: 'string', default: 'host', describe: "network namespace (the machine's own is 'host'; a pod's is NAMESPACE.POD)" })
      .option('counters', { alias: 'c', type: 'boolean', default: false, describe: 'iptables: print packet/byte counters (iptables-save -c); ipvs: the connection table (ipvsadm -Lnc)' })
      .option('stats', { type: 'boolean', default: false, describe: 'ipvs: ipvsadm -Ln --stats' })
      .option('rate', { type: 'boolean', default: false, describe: 'ipvs: ipvsadm -Ln --rate' })
      .option('connections', { type: 'boolean', default: false, describe: 'ipvs: the connection table (ipvsadm -Lnc; also -c)' })
      .option('allow-outside-files', { type: 'boolean', default: false, describe: "let the scenario's {file: …} includes leave its folder" })
      .option('seed', { type: 'number', describe: 'override the scenario seed' }),
    (argv) => {
      process.exitCode = saveCommand({
        what: argv.what as 'iptables' | 'conntrack' | 'ipset' | 'ipvs' | 'routes' | 'bird', file: argv.file as string, node: argv.node as string,
        netns: argv.netns as string, counters: argv.counters as boolean, seed: argv.seed,
        stats: argv.stats as boolean, rate: argv.rate as boolean, connections: argv.connections as boolean, allowOutsideFiles: argv['allow-outside-files'],
      });
    },
  )
  .command(
    'policy <command>',
    'NetworkPolicy / AdminNetworkPolicy reference semantics on a scenario: matrix, diff, explain',
    (y) => y
      .option('allow-outside-files', { type: 'boolean', default: false, describe: "let the scenario's {file: …} includes leave its folder" })
      .command(
        'matrix <file>',
        'pods × pods reachability (rows from, columns to; . allowed, X denied) from the reference evaluator',
        (m) => m
          .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
          .option('port', { type: 'string', array: true, describe: 'destination port, N or N/PROTOCOL (repeatable; default: every port the pods declare)' })
          .option('protocol', { type: 'string', array: true, describe: 'TCP, UDP or SCTP: one for every --port, or one per --port (default TCP)' })
          .option('format', { choices: MATRIX_FORMATS, default: 'text' as MatrixFormat, describe: 'output format (svg needs Graphviz\'s dot)' })
          .option('probe', { type: 'boolean', default: false, describe: 'also probe every cell with real packets and compare (needs packet-level enforcement)' })
          .option('at', { type: 'string', describe: 'the cluster at this virtual time: the scenario\'s events up to it run first (e.g. 2s)' })
          .option('seed', { type: 'number', describe: 'override the scenario seed' }),
        (argv) => {
          process.exitCode = matrixCommand({
            file: argv.file as string, ports: argv.port as string[] | undefined, protocols: argv.protocol as string[] | undefined,
            format: argv.format as MatrixFormat, probe: argv.probe as boolean, at: argv.at as string | undefined, seed: argv.seed, allowOutsideFiles: argv['allow-outside-files'] as boolean,
          });
        },
      )
      .command(
        'diff <a> <b>',
        'the cells a change from scenario A to scenario B opens (+) or closes (-)',
        (m) => m
          .positional('a', { type: 'string', demandOption: true, describe: 'scenario YAML file before' })
          .positional('b', { type: 'string', demandOption: true, describe: 'scenario YAML file after' })
          .option('port', { type: 'string', array: true, describe: 'destination port, N or N/PROTOCOL (repeatable; default: every port the pods of A or B declare)' })
          .option('protocol', { type: 'string', array: true, describe: 'TCP, UDP or SCTP: one for every --port, or one per --port (default TCP)' })
          .option('format', { choices: MATRIX_FORMATS, default: 'text' as MatrixFormat, describe: 'output format (svg needs Graphviz\'s dot)' })
          .option('at', { type: 'string', describe: 'compare both clusters at this virtual time (their events up to it run first)' })
          .option('seed', { type: 'number', describe: 'override the scenarios\' seed' }),
        (argv) => {
          process.exitCode = diffCommand({
            a: argv.a as string, b: argv.b as string, ports: argv.port as string[] | undefined, protocols: argv.protocol as string[] | undefined,
            format: argv.format as MatrixFormat, at: argv.at as string | undefined, seed: argv.seed, allowOutsideFiles: argv['allow-outside-files'] as boolean,
          });
        },
      )
      .command(
        'explain <file>',
        'why a connection is allowed or dropped: the tier walk of each direction, policy by policy',
        (m) => m
          .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
          .option('from', { type: 'string', demandOption: true, describe: 'pod/NS/NAME, node/NAME, host/NAME or ip/A.B.C.D' })
          .option('to', { type: 'string', demandOption: true, describe: 'pod/NS/NAME, node/NAME, host/NAME or ip/A.B.C.D' })
          .option('port', { type: 'number', demandOption: true, describe: 'destination port' })
          .option('protocol', { type: 'string', default: 'TCP', describe: 'TCP, UDP or SCTP' })
          .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'text, or the evaluator\'s verdict as JSON' })
          .option('at', { type: 'string', describe: 'the cluster at this virtual time: the scenario\'s events up to it run first (e.g. 2s)' })
          .option('seed', { type: 'number', describe: 'override the scenario seed' }),
        (argv) => {
          process.exitCode = explainCommand({
            file: argv.file as string, from: argv.from as string, to: argv.to as string, port: argv.port as number, protocol: argv.protocol as string,
            format: argv.format as 'text' | 'json', at: argv.at as string | undefined, seed: argv.seed, allowOutsideFiles: argv['allow-outside-files'] as boolean,
          });
        },
      )
      .demandCommand(1, 'name a policy command (podwire policy matrix FILE, podwire policy diff A B, podwire policy explain FILE --from … --to … --port N)'),
  )
  .demandCommand(1, 'name a command (podwire run FILE, podwire explain FILE --traffic NAME, podwire save iptables FILE --node N, podwire policy matrix FILE)')
  .strict()
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`podwire: ${msg}\n\n${y.help()}\n`);
    process.exit(2);
  })
  .help()
  .version(false)
  .parseAsync();
