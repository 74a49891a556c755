/**
 * tshark / external tool helpers for tests.
 *
 * Tool gating: when a tool is missing, tests using it are skipped locally but FAIL
 * under `CI=true` (a CI image without tshark must not pass silently).
 *
 * `checkCapture` runs tshark with checksum validation on and returns every expert info
 * of severity warning or error, and every malformed packet, as a problem string:
 *   `frame 5: error/Checksum udp.checksum.bad: Bad checksum [should be 0xfa2b]`
 *
 * Which expert infos count as problems (decided from tshark 4.0 behaviour):
 * - comment / chat / note severities never count: e.g. TCP "Connection establish
 *   request (SYN)" and "Connection finish (FIN)" are chats, "This frame initiates the
 *   connection closing" is a note, HTTP request/response lines are chats, "Time To Live
 *   only 1" is a note.
 * - warning and error count, with a small default allow-list of warnings that describe
 *   legitimate network behaviour rather than bad bytes:
 *     `tcp.connection.rst`  "Connection reset (RST)" is a WARNING in tshark, but a refused
 *                           connection or a REJECT --reject-with tcp-reset is correct.
 *     `icmp.resp_not_found` "No response seen to ICMP request" (only with two-pass `-2`):
 *                           a ping dropped by policy legitimately has no reply.
 *   Pass `allow: []` to be strict, or extend it per test.
 * - checksum errors (ip/tcp/udp, with validation forced on; ICMP is always checked),
 *   malformed packets (`_ws.malformed`) and everything else at warn/error count.
 * By default tshark runs single-pass (no `-2`), so sequence analysis that needs
 * look-ahead (ICMP no-response) is not done; `twoPass: true` turns it on.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'vitest';

const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** Absolute path of an executable on PATH (plus /usr/sbin and /sbin), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface ToolGate {
  name: string;
  available: boolean;
  /** Absolute path when available. */
  path?: string;
  /** `describe` when available; skipped locally / failing under CI when missing. */
  describe: (name: string, fn: () => void) => void;
  /** `it` when available; skipped locally / failing under CI when missing. */
  it: (name: string, fn: () => unknown, timeout?: number) => void;
}

/**
 * Gate for an external tool (tshark, tcpdump, ip, ...). Missing tool: tests skip
 * locally, fail under CI=true with a message naming the tool.
 */
export function requireTool(name: string): ToolGate {
  const p = findTool(name);
  const missing = `${name} is not installed (required under CI=true)`;
  const gate: ToolGate = {
    name,
    available: p !== undefined,
    describe: (title, fn) => {
      if (p) describe(title, fn);
      else if (IN_CI) describe(title, () => it(`requires ${name}`, () => { throw new Error(missing); }));
      else describe.skip(`${title} (${name} missing)`, fn);
    },
    it: (title, fn, timeout) => {
      if (p) it(title, fn, timeout);
      else if (IN_CI) it(title, () => { throw new Error(missing); });
      else it.skip(`${title} (${name} missing)`, fn);
    },
  };
  if (p) gate.path = p;
  return gate;
}

const tsharkGate = requireTool('tshark');

export function tsharkAvailable(): boolean {
  return tsharkGate.available;
}

/** `describe` for tshark tests (skip locally without tshark, fail under CI). */
export const describeWithTshark = tsharkGate.describe;
/** `it` for tshark tests (skip locally without tshark, fail under CI). */
export const itTshark = tsharkGate.it;

/** Preferences that make tshark validate every checksum it can. */
export const CHECKSUM_PREFS: readonly string[] = [
  'ip.check_checksum:TRUE',
  'tcp.check_checksum:TRUE',
  'udp.check_checksum:TRUE',
];

/** Decode-as rules applied by default: flannel's VXLAN port (IANA 4789 is built in). */
export const DEFAULT_DECODE_AS: readonly string[] = ['udp.port==8472,vxlan'];

/** Warnings that are legitimate network behaviour (see file comment). */
export const DEFAULT_ALLOW: readonly string[] = ['tcp.connection.rst', 'icmp.resp_not_found'];

export interface TsharkOptions {
  /** Extra `-o name:value` preferences. */
  prefs?: string[];
  /** `-d` decode-as rules; default {@link DEFAULT_DECODE_AS}. */
  decodeAs?: string[];
  /** Expert info abbreviations not counted as problems; default {@link DEFAULT_ALLOW}. */
  allow?: readonly string[];
  /** Run two-pass analysis (`-2`). */
  twoPass?: boolean;
  /** Configuration profile (`-C`). */
  profile?: string;
  /** Wireshark configuration directory (`WIRESHARK_CONFIG_DIR`), e.g. one holding `profiles/podwire`. */
  configDir?: string;
  /** Do not add {@link CHECKSUM_PREFS} (to test that a profile turns them on). */
  noChecksumPrefs?: boolean;
}

function baseArgs(file: string, o: TsharkOptions): string[] {
  const args = ['-r', file, '-n'];
  if (o.twoPass) args.push('-2');
  if (o.profile) args.push('-C', o.profile);
  for (const p of [...(o.noChecksumPrefs ? [] : CHECKSUM_PREFS), ...(o.prefs ?? [])]) args.push('-o', p);
  for (const d of o.decodeAs ?? DEFAULT_DECODE_AS) args.push('-d', d);
  return args;
}

/** Runs tshark with `args`; resolves stdout, rejects with stderr on a non-zero exit. */
export function runTshark(args: string[], o: Pick<TsharkOptions, 'configDir'> = {}): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  if (o.configDir) env.WIRESHARK_CONFIG_DIR = o.configDir;
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { maxBuffer: 512 * 1024 * 1024, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tshark ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Calls `fn` with every value stored under `key`, at any depth (arrays flattened). */
function walk(node: Json, key: string, fn: (v: Json) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, key, fn);
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === key) {
        if (Array.isArray(v)) for (const x of v) fn(x);
        else fn(v);
      }
      walk(v, key, fn);
    }
  }
}

async function packetsJson(file: string, o: TsharkOptions): Promise<{ number: number; layers: Json }[]> {
  const out = await runTshark([...baseArgs(file, o), '-T', 'json', '--no-duplicate-keys'], o);
  const arr = (out.trim() === '' ? [] : JSON.parse(out)) as { _source: { layers: { frame: { 'frame.number': string } } } }[];
  return arr.map((p) => ({ number: Number(p._source.layers.frame['frame.number']), layers: p._source.layers as unknown as Json }));
}

const SEVERITY: Record<number, string> = {
  0x00100000: 'comment',
  0x00200000: 'chat',
  0x00400000: 'note',
  0x00600000: 'warning',
  0x00800000: 'error',
};
const GROUP: Record<number, string> = {
  0x01000000: 'Checksum',
  0x02000000: 'Sequence',
  0x03000000: 'Response',
  0x04000000: 'Request',
  0x05000000: 'Undecoded',
  0x06000000: 'Reassemble',
  0x07000000: 'Malformed',
  0x08000000: 'Debug',
  0x09000000: 'Protocol',
  0x0a000000: 'Security',
  0x0b000000: 'Comment',
  0x0c000000: 'Decryption',
  0x0d000000: 'Assumption',
  0x0e000000: 'Deprecated',
};

export interface ExpertInfo {
  frame: number;
  /** Expert info abbreviation, e.g. `udp.checksum.bad`, `tcp.connection.rst`. */
  abbrev: string;
  severity: 'comment' | 'chat' | 'note' | 'warning' | 'error' | string;
  group: string;
  message: string;
}

/** Every expert info tshark raises, any severity. */
export async function expertInfos(file: string, o: TsharkOptions = {}): Promise<ExpertInfo[]> {
  const out: ExpertInfo[] = [];
  for (const p of await packetsJson(file, o)) {
    walk(p.layers, '_ws.expert', (e) => {
      if (e === null || typeof e !== 'object' || Array.isArray(e)) return;
      const sev = Number(e['_ws.expert.severity']);
      const grp = Number(e['_ws.expert.group']);
      const abbrev = Object.keys(e).find((k) => !k.startsWith('_ws.expert.')) ?? '?';
      out.push({
        frame: p.number,
        abbrev,
        severity: SEVERITY[sev] ?? `0x${sev.toString(16)}`,
        group: GROUP[grp] ?? `0x${grp.toString(16)}`,
        message: String(e['_ws.expert.message'] ?? ''),
      });
    });
    let malformed = false;
    walk(p.layers, '_ws.malformed', () => {
      malformed = true;
    });
    if (malformed && !out.some((x) => x.frame === p.number && x.group === 'Malformed')) {
      out.push({ frame: p.number, abbrev: '_ws.malformed', severity: 'error', group: 'Malformed', message: 'Malformed packet' });
    }
  }
  return out;
}

/**
 * Opens `file` with tshark (checksum validation on) and returns the packet count and
 * the problems: warning/error expert infos not in `allow`, and malformed packets.
 */
export async function checkCapture(file: string, o: TsharkOptions = {}): Promise<{ packets: number; problems: string[] }> {
  const allow = new Set(o.allow ?? DEFAULT_ALLOW);
  const infos = await expertInfos(file, o);
  const problems = infos
    .filter((e) => (e.severity === 'warning' || e.severity === 'error' || e.group === 'Malformed') && !allow.has(e.abbrev))
    .map((e) => `frame ${e.frame}: ${e.severity}/${e.group} ${e.abbrev}: ${e.message}`);
  const count = await runTshark([...baseArgs(file, o), '-T', 'fields', '-e', 'frame.number'], o);
  const packets = count.split('\n').filter((l) => l.trim() !== '').length;
  return { packets, problems };
}

export interface PacketDescription {
  number: number;
  /** `frame.protocols` split on ':', e.g. ['eth','ethertype','ip','icmp','data']. */
  protocols: string[];
  /** pcapng if_name (`frame.interface_name`). */
  interfaceName?: string;
  /** Packet comments (`frame.comment`). */
  comments: string[];
}

/** Per-packet protocol stacks, interface names and comments, as tshark decodes them. */
export async function describeCapture(file: string, o: TsharkOptions = {}): Promise<PacketDescription[]> {
  return (await packetsJson(file, o)).map((p) => {
    const frame = (p.layers as { frame: Record<string, Json> }).frame;
    const d: PacketDescription = {
      number: p.number,
      protocols: String(frame['frame.protocols'] ?? '').split(':').filter(Boolean),
      comments: [],
    };
    walk(p.layers, 'frame.interface_name', (v) => {
      d.interfaceName ??= String(v);
    });
    walk(p.layers, 'frame.comment', (v) => {
      d.comments.push(String(v));
    });
    return d;
  });
}
