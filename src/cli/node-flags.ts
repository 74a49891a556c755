/**
 * The V8 heap settings a podwire run needs, chosen before the emulation starts.
 *
 * Node's defaults fit a web server, not an emulator holding a cluster: the old
 * generation is capped near 4 GiB whatever the machine has (a 2,000-node Calico
 * cluster needs about 4 GiB, Kubernetes' limits several times that, issue 9), and a
 * 16 MiB semi-space makes the young collector run every few milliseconds while the
 * BGP phase installs millions of routes, each scavenge paying for the big old
 * tables that point into the young generation (measured at 1,000 nodes: 749
 * scavenges, 19 s of 60 s CPU; with 64 MiB, 198 and 6 s).
 *
 * These are start-up flags (V8 sizes its heap when the isolate is made;
 * `v8.setFlagsFromString` later has no effect), so the command line starts the
 * real program in a child Node with them (see main.ts). Flags the user gave, on
 * the command line or in NODE_OPTIONS, are kept as they are; under `--inspect*` none are
 * added.
 */

/** Set in the child's environment: the flags are in place, do not start another. */
export const LAUNCHED_ENV = 'PODWIRE_NODE_FLAGS';

/** The young generation's semi-space, MiB (V8's default on 64-bit: 16). */
export const SEMI_SPACE_MB = 64;

/** The share of the machine's (or the cgroup's) memory the old generation may use. */
export const HEAP_SHARE = 0.75;

export interface NodeFlagInputs {
  /** process.execArgv. */
  execArgv: readonly string[];
  /** NODE_OPTIONS. */
  nodeOptions: string | undefined;
  /** Physical memory, bytes (os.totalmem()). */
  totalMem: number;
  /** The cgroup's limit, bytes (process.constrainedMemory(); 0 or ≥ 2^53 when none). */
  constrainedMem: number;
  /** The heap limit the current process has, bytes (v8.getHeapStatistics().heap_size_limit). */
  heapLimit: number;
}

/** Whether `flag` is among `args` (V8 takes `_` for `-` in a flag's name). */
const given = (args: readonly string[], flag: string): boolean =>
  args.some((a) => { const name = a.split('=')[0]!.replace(/_/g, '-'); return name === flag; });

/**
 * The flags to start the program with, or [] when the current process already has
 * what it needs (the user set both, or the machine is too small for a larger heap).
 */
export function nodeFlags(i: NodeFlagInputs): string[] {
  const user = [...i.execArgv, ...(i.nodeOptions ?? '').split(/\s+/).filter(Boolean)];
  // Under the inspector the program runs where the debugger is attached (a child would
  // also fail to listen on the same port).
  if (user.some((a) => a.startsWith('--inspect'))) return [];
  const out: string[] = [];
  if (!given(user, '--max-old-space-size')) {
    const limit = i.constrainedMem > 0 && i.constrainedMem < i.totalMem ? i.constrainedMem : i.totalMem;
    const mb = Math.floor((limit * HEAP_SHARE) / 2 ** 20);
    // Never below what Node would give by itself.
    if (mb * 2 ** 20 > i.heapLimit) out.push(`--max-old-space-size=${mb}`);
  }
  if (!given(user, '--max-semi-space-size')) out.push(`--max-semi-space-size=${SEMI_SPACE_MB}`);
  return out;
}
