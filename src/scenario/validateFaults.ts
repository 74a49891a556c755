/**
 * The values of fault events (link-down, link-up, impair): the link they name and
 * impair's netem parameters. Whether the link exists is checked by the loader
 * (load.ts) once the nodes, hosts and pods are known.
 */
import { isDNS1123Label, isDNS1123Subdomain } from '../kube/validation.js';
import type { LinkRef } from './types.js';
import type { NetemSpec } from '../kernel/netem.js';
import { durationAt } from './validateCluster.js';
import { networkText, parseBandwidth, parseCidr } from './validateNet.js';
import type { Y, YMap } from './validateYaml.js';

/** The longest delay impair takes (and so jitter): 1000 s. */
const MAX_DELAY = 1000e9;

export const LINK_FORMS = 'pod/NS/NAME | node/NAME/DEV | host/NAME/DEV | segment/A.B.C.D/N';

/** `pod/NS/NAME` (the pod's veth), `node/NAME/DEV` or `host/NAME/DEV` (a device of the machine's own netns), `segment/CIDR`. */
export function linkAt(y: Y): LinkRef {
  const text = y.str(LINK_FORMS);
  const parts = text.split('/');
  const bad = (why: string): never => y.fail(`${y.what}: invalid link ${JSON.stringify(text)}: ${why}`, LINK_FORMS);
  switch (parts[0]) {
    case 'pod': {
      if (parts.length !== 3) bad('expected pod/NS/NAME');
      const ns = isDNS1123Label(parts[1]!), name = isDNS1123Subdomain(parts[2]!);
      if (ns.length) bad(`namespace ${JSON.stringify(parts[1])}: ${ns[0]}`);
      if (name.length) bad(`name ${JSON.stringify(parts[2])}: ${name[0]}`);
      return { kind: 'pod', namespace: parts[1]!, name: parts[2]! };
    }
    case 'node':
    case 'host': {
      if (parts.length !== 3) bad(`expected ${parts[0]}/NAME/DEV (a device of the machine's own network namespace, e.g. eth0)`);
      const name = isDNS1123Subdomain(parts[1]!);
      if (name.length) bad(`name ${JSON.stringify(parts[1])}: ${name[0]}`);
      // IFNAMSIZ: at most 15 bytes, no '/' or whitespace (dev_valid_name).
      if (!/^[^\s/:]{1,15}$/.test(parts[2]!) || parts[2] === '.' || parts[2] === '..') bad(`${JSON.stringify(parts[2])} is not a device name (1..15 characters, no "/", ":" or spaces)`);
      return { kind: 'device', machine: parts[1]!, device: parts[2]! };
    }
    case 'segment': {
      if (parts.length !== 3) bad('expected segment/A.B.C.D/N (the underlay subnet, as the nodes\' addresses give it)');
      const r = parseCidr(`${parts[1]}/${parts[2]}`);
      if ('error' in r) bad(r.error);
      const c = (r as { cidr: Parameters<typeof networkText>[0] }).cidr;
      if (networkText(c) !== `${parts[1]}/${parts[2]}`) bad(`not a network address; did you mean segment/${networkText(c)}?`);
      return { kind: 'segment', cidr: networkText(c) };
    }
    default:
      return bad(`unknown link kind ${JSON.stringify(parts[0])}`);
  }
}

/** A percentage: a number 0..100 or "N%". */
function percentAt(y: Y): number {
  const v = y.strOrNum('a percentage such as 10% or 0.5');
  const t = typeof v === 'number' ? String(v) : v.trim().replace(/%$/, '');
  const n = /^\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
  if (!(n >= 0 && n <= 100)) y.fail(`${y.what}: ${JSON.stringify(v)} is not a percentage in 0..100`, 'a percentage such as 10% or 0.5');
  return n;
}

/** impair's netem parameters; none at all clears the link's impairment. */
export function netemAt(m: YMap): NetemSpec {
  const out: NetemSpec = {};
  const d = m.opt('delay');
  if (d) {
    out.delay = durationAt(d);
    if (out.delay > MAX_DELAY) d.fail(`${d.what}: a delay over ${MAX_DELAY / 1e9} s`, `a delay up to ${MAX_DELAY / 1e9}s`);
  }
  const j = m.opt('jitter');
  if (j) {
    out.jitter = durationAt(j);
    if (!out.delay) j.fail(`${j.what}: jitter needs a delay greater than 0`, 'delay: 10ms, jitter: 2ms');
    if (out.jitter > out.delay!) j.fail(`${j.what}: jitter greater than the delay would make delays negative`, 'jitter <= delay');
    if (out.jitter === 0) delete out.jitter;
  }
  for (const k of ['loss', 'duplicate', 'corrupt', 'reorder'] as const) {
    const y = m.opt(k);
    if (y) { const p = percentAt(y); if (p > 0) out[k] = p; }
  }
  const r = m.opt('reorder');
  if (out.reorder && !out.delay) r!.fail(`${r!.what}: reordering needs a delay (the other frames are what a reordered one overtakes)`, 'delay: 10ms, reorder: 25%');
  const rate = m.opt('rate');
  if (rate) {
    const b = parseBandwidth(rate.strOrNum('a rate such as 10Mbit'));
    if ('error' in b) rate.fail(`${rate.what}: ${b.error}`, 'a rate such as 10Mbit, 1Gbit or bits/s');
    const bps = (b as { bps: number }).bps;
    // At least 1 kbit/s: a full queue of the largest frames then waits under a year, within the clock's range.
    if (bps > 0 && bps < 1000) rate.fail(`${rate.what}: ${bps} bit/s is below 1kbit`, 'a rate of at least 1kbit (or 0: none)');
    if (bps > 0) out.rate = bps;
  }
  const l = m.opt('limit');
  if (l) out.limit = l.int(1, 1_000_000);
  return out;
}
