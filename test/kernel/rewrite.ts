/**
 * Rewrites the commands podwire prints for a machine (as an admin would type them in
 * the machine's root namespace) into commands that run inside this test's own `pw-k-*`
 * network namespaces, so nothing ever touches the host's namespace.
 *
 * Pure: no I/O. Every argv it returns is one of
 *   `ip -n <pw ns> …`, `ip netns add|del <pw ns>`, `ip netns exec <pw ns> …`, `bridge -n <pw ns> …`
 * and {@link assertConfined} checks exactly that before the harness runs anything.
 *
 * Mapping:
 *  - bare `ip OBJ …`                → `ip -n <machine ns> OBJ …`
 *  - `ip -n X OBJ …`                → `ip -n <ns of X> OBJ …`
 *  - `netns X` argument anywhere    → `netns <ns of X>` (veth peer placement, `link set … netns X`)
 *  - `ip netns add X`               → `ip netns add <ns of X>` followed by {@link pinCommands}
 *  - `ip netns exec X CMD…`         → `ip netns exec <ns of X> CMD…` (CMD's own `netns Y` args mapped)
 *  - `bridge …`                     → `bridge -n <machine ns> …`
 *  - `sysctl …` and anything else   → `ip netns exec <machine ns> …`
 *  - a here-document for a restore tool, exactly
 *    `[ip netns exec X] iptables-restore ARGS <<'EOF'\n<lines>\nEOF` (also `ipset restore`),
 *    → the same argv as without the here-document, with the body (lines + final newline) as
 *    {@link Argv.stdin}; the delimiter must be quoted (no expansions in the body).
 * Any other shell syntax (pipes, redirections, `;`, `&&`, `$`) is refused: there is no shell.
 */

/** Namespace-name prefix for everything kernel tests create. */
export const PW_PREFIX = 'pw-k-';

export interface RewriteContext {
  /** The pw- namespace standing for the machine's root namespace. */
  rootNs: string;
  /** Maps a netns name as the model spells it (e.g. `default.web`) to a pw- namespace. */
  mapNetns: (name: string) => string;
}

/** One command to run, as argv (no shell); `stdin`, when present, is written to its standard input. */
export type Argv = string[] & { stdin?: string };

/** Attaches standard input to an argv (the property is not enumerable, so argv still compares as a plain array). */
export function withStdin(argv: string[], stdin: string): Argv {
  Object.defineProperty(argv, 'stdin', { value: stdin, enumerable: false, writable: true, configurable: true });
  return argv as Argv;
}

/** Programs that may read a here-document (restore tools reading rules on stdin). */
const HEREDOC_PROGRAMS: readonly (readonly string[])[] = [['iptables-restore'], ['iptables-nft-restore'], ['ipset', 'restore'], ['ipset', '-exist', 'restore'], ['ipset', 'restore', '-exist']];

/**
 * Splits `HEAD <<'EOF'\nBODY\nEOF` into head and body, or returns null when `cmd` holds no
 * here-document. Throws on a malformed one (unquoted delimiter, text after the terminator).
 */
export function splitHeredoc(cmd: string): { head: string; body: string } | null {
  const nl = cmd.indexOf('\n');
  const first = nl < 0 ? cmd : cmd.slice(0, nl);
  const m = /^(.*?)\s*<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)\s*$/.exec(first);
  if (!m) {
    if (nl >= 0 && cmd.slice(nl).trim() !== '') throw new Error(`rewrite: a multi-line command must be a here-document: ${first}`);
    return null;
  }
  const [, head, dash, q1, word, q2] = m;
  if (dash) throw new Error(`rewrite: <<- here-documents are not supported: ${first}`);
  if (!q1 || q1 !== q2) throw new Error(`rewrite: the here-document delimiter must be quoted (<<'${word}'): ${first}`);
  if (nl < 0) throw new Error(`rewrite: here-document without a body: ${first}`);
  const lines = cmd.slice(nl + 1).split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const end = lines.indexOf(word!);
  if (end < 0) throw new Error(`rewrite: here-document not terminated by ${word}: ${first}`);
  if (end !== lines.length - 1) throw new Error(`rewrite: text after the here-document terminator ${word}: ${first}`);
  const bodyLines = lines.slice(0, end);
  return { head: head!, body: bodyLines.length ? bodyLines.join('\n') + '\n' : '' };
}

/** The sysctls pinned in every test namespace (REFERENCE §12), `key=value`. */
export const PINNED_SYSCTLS: readonly string[] = [
  'net.ipv6.conf.all.disable_ipv6=1',
  'net.ipv6.conf.default.disable_ipv6=1',
  // The kernel's default receive buffer limit: hosts often raise it (this one has 32 MiB), which
  // raises the TCP window scale; podwire models the default, so the test namespaces use it too.
  'net.ipv4.tcp_rmem=4096 131072 6291456',
  ...['all', 'default'].flatMap((d) => [
    `net.ipv4.conf.${d}.rp_filter=0`,
    `net.ipv4.conf.${d}.arp_ignore=0`,
    `net.ipv4.conf.${d}.arp_announce=0`,
    `net.ipv4.conf.${d}.arp_accept=0`,
  ]),
];

/**
 * Per-device sysctls pinned once the devices exist. A device name with a dot (flannel.1)
 * is written in sysctl's slash form (`net/ipv4/conf/flannel.1/rp_filter`): with dots
 * sysctl would read it as net.ipv4.conf.flannel.1 → …/flannel/1/….
 */
export function perDeviceSysctls(dev: string): string[] {
  if (dev.includes('.')) return perDeviceSysctls('DEV').map((k) => k.replaceAll('.', '/').replace('/DEV/', `/${dev}/`));
  return [
    `net.ipv4.conf.${dev}.rp_filter=0`,
    `net.ipv4.conf.${dev}.arp_ignore=0`,
    `net.ipv4.conf.${dev}.arp_announce=0`,
    `net.ipv4.conf.${dev}.arp_accept=0`,
  ];
}

/** Commands that prepare a freshly created namespace: pinned sysctls, loopback up. */
export function pinCommands(ns: string): Argv[] {
  return [
    ['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...PINNED_SYSCTLS],
    ['ip', '-n', ns, 'link', 'set', 'lo', 'up'],
  ];
}

/** Splits a command line into words: whitespace-separated, '…' and "…" quoting, no expansions. */
export function tokenize(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < cmd.length) cur += cmd[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      if (c === '\\' && i + 1 < cmd.length) cur += cmd[++i];
      else cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`rewrite: unterminated quote in: ${cmd}`);
  if (inWord) out.push(cur);
  return out;
}

const SHELL_META = /^(\||\|\||&&|;|&|<|>|>>|<<.*|2>.*|>.*|<.*)$/;

function checkNoShell(words: string[], cmd: string): void {
  for (const w of words) {
    if (SHELL_META.test(w) || w.includes('$(') || w.includes('`')) {
      throw new Error(`rewrite: shell syntax is not supported: ${cmd}`);
    }
  }
}

/** Maps every `netns X` argument pair in `args` (not the object keyword `ip netns …`). */
function mapNetnsArgs(args: string[], ctx: RewriteContext, cmd: string): string[] {
  const out = args.slice();
  for (let i = 0; i < out.length - 1; i++) {
    if (out[i] === 'netns') {
      const name = out[i + 1]!;
      if (/^\d+$/.test(name)) throw new Error(`rewrite: netns by pid is not supported: ${cmd}`);
      out[i + 1] = ctx.mapNetns(name);
      i++;
    }
  }
  return out;
}

const IP_OPTS_WITH_ARG = new Set(['-n', '-netns', '--netns', '-f', '-family', '-rc', '-rcvbuf', '-l', '-loops']);

/** Rewrites an `ip …` command line (words[0] === 'ip'). */
function rewriteIp(words: string[], ctx: RewriteContext, cmd: string, inNs: string | null): Argv[] {
  let target: string | null = inNs;
  const opts: string[] = [];
  let i = 1;
  while (i < words.length && words[i]!.startsWith('-')) {
    const w = words[i]!;
    if (w === '-n' || w === '-netns' || w === '--netns') {
      const name = words[i + 1];
      if (name === undefined) throw new Error(`rewrite: ${w} without a name: ${cmd}`);
      target = ctx.mapNetns(name);
      i += 2;
      continue;
    }
    if (w === '-b' || w === '-batch' || w === '--batch' || w === '-force') {
      throw new Error(`rewrite: ip batch mode is not supported: ${cmd}`);
    }
    opts.push(w);
    if (IP_OPTS_WITH_ARG.has(w)) {
      opts.push(words[i + 1] ?? '');
      i += 2;
    } else i++;
  }
  const object = words[i];
  if (object === undefined) throw new Error(`rewrite: ip without an object: ${cmd}`);
  const rest = words.slice(i + 1);
  const isNetnsObj = object.length >= 3 && 'netns'.startsWith(object);
  if (isNetnsObj) {
    if (target !== null && inNs === null) throw new Error(`rewrite: ip -n … netns is not supported: ${cmd}`);
    const sub = rest[0];
    const name = rest[1];
    if (sub === 'add' && name !== undefined && rest.length === 2) {
      const ns = ctx.mapNetns(name);
      return [['ip', 'netns', 'add', ns], ...pinCommands(ns)];
    }
    if ((sub === 'del' || sub === 'delete') && name !== undefined && rest.length === 2) {
      return [['ip', 'netns', 'del', ctx.mapNetns(name)]];
    }
    if (sub === 'exec' && name !== undefined && rest.length > 2) {
      const ns = ctx.mapNetns(name);
      const inner = rest.slice(2);
      return [['ip', 'netns', 'exec', ns, ...(inner[0] === 'ip' ? mapNetnsArgs(inner, ctx, cmd) : inner)]];
    }
    throw new Error(`rewrite: unsupported ip netns command: ${cmd}`);
  }
  const ns = target ?? ctx.rootNs;
  return [['ip', '-n', ns, ...opts, object, ...mapNetnsArgs(rest, ctx, cmd)]];
}

/**
 * Rewrites one command of a machine into the argv list to run. Throws on anything it
 * cannot confine to the test's namespaces.
 */
export function rewriteCommand(cmd: string, ctx: RewriteContext): Argv[] {
  const hd = splitHeredoc(cmd);
  if (hd) {
    const out = rewriteCommand(hd.head, ctx);
    const argv = out.length === 1 ? out[0]! : undefined;
    // Every rewritten argv that runs a program is `ip netns exec <ns> PROG …`.
    const prog = argv && argv[0] === 'ip' && argv[1] === 'netns' && argv[2] === 'exec' ? argv.slice(4) : [];
    if (!HEREDOC_PROGRAMS.some((p) => p.every((w, i) => prog[i] === w))) {
      throw new Error(`rewrite: a here-document may only feed ${HEREDOC_PROGRAMS.map((p) => p.join(' ')).join(', ')}: ${hd.head}`);
    }
    return [withStdin(argv!.slice(), hd.body)];
  }
  const words = tokenize(cmd);
  if (words.length === 0) return [];
  checkNoShell(words, cmd);
  const prog = words[0]!;
  if (prog === 'ip') return rewriteIp(words, ctx, cmd, null);
  if (prog === 'bridge') {
    if (words.some((w) => w === '-n' || w === '-netns' || w === '--netns')) {
      throw new Error(`rewrite: bridge -n is not supported: ${cmd}`);
    }
    return [['bridge', '-n', ctx.rootNs, ...words.slice(1)]];
  }
  if (prog === 'sudo' || prog === 'nsenter' || prog === 'unshare' || prog === 'sh' || prog === 'bash') {
    throw new Error(`rewrite: ${prog} is not supported: ${cmd}`);
  }
  return [['ip', 'netns', 'exec', ctx.rootNs, ...words]];
}

/** Rewrites a machine's whole command list, in order. */
export function rewriteCommands(cmds: readonly string[], ctx: RewriteContext): Argv[] {
  // Lines starting with '#' are comments in --show-config output (e.g. the NIC a machine has).
  return cmds.filter((c) => !c.trimStart().startsWith('#') && c.trim() !== '').flatMap((c) => rewriteCommand(c, ctx));
}

/**
 * Throws unless argv runs strictly inside a namespace whose name starts with `prefix`
 * (which itself must start with `pw-`).
 */
export function assertConfined(argv: Argv, prefix: string): void {
  if (!prefix.startsWith('pw-')) throw new Error(`assertConfined: prefix must start with pw-: ${prefix}`);
  const ok = (ns: string | undefined): boolean => ns !== undefined && ns.startsWith(prefix) && ns.length > prefix.length;
  const [p, a, b, c] = argv;
  let confined = false;
  if (p === 'ip' && a === '-n') confined = ok(b);
  else if (p === 'ip' && a === 'netns' && (b === 'add' || b === 'del' || b === 'delete')) confined = ok(c) && argv.length === 4;
  else if (p === 'ip' && a === 'netns' && b === 'exec') confined = ok(c) && argv.length > 4;
  else if (p === 'bridge' && a === '-n') confined = ok(b);
  if (confined) {
    // Any `netns X` argument must also be one of ours.
    for (let i = 0; i < argv.length - 1; i++) {
      if (argv[i] === 'netns' && i !== 1 && !ok(argv[i + 1])) confined = false;
    }
  }
  if (!confined) throw new Error(`assertConfined: refusing to run outside ${prefix}*: ${argv.join(' ')}`);
}

/**
 * Builds a deterministic namer: the machine's root namespace is `<prefix><machine>`,
 * a netns X on that machine is `<prefix><machine>_<X>`. Names must stay file-name safe.
 */
export function machineNamer(prefix: string, machine: string): RewriteContext {
  const safe = (s: string): string => {
    if (!/^[A-Za-z0-9._-]+$/.test(s)) throw new Error(`rewrite: unsafe name: ${JSON.stringify(s)}`);
    return s;
  };
  return {
    rootNs: `${prefix}${safe(machine)}`,
    // podwire calls a machine's own namespace 'host'.
    mapNetns: (name) => (name === 'host' ? `${prefix}${safe(machine)}` : `${prefix}${safe(machine)}_${safe(name)}`),
  };
}
