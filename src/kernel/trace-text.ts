/**
 * Trace texts of the IPv4 stack's hot events, kept where they cannot have changed
 * (issue 9): a packet stream prints the same route, neighbour and forwarding lines
 * for every packet. Each function returns exactly the text its call site used to
 * build; the caches are small direct-mapped tables keyed by the values the text is
 * made of (a route object's text never changes: `Route.text`).
 */
import { formatRoute, type Route } from './fib.js';
import { HOOK_NAMES } from './hooks.js';
import { NUD_NAMES } from './neigh.js';
import { ipToString, macToString } from '../wire/bytes.js';

/** `HOOK: no hooks registered, ACCEPT` by hook number. */
export const NO_HOOKS_TEXT: readonly string[] = HOOK_NAMES.map((h) => `${h}: no hooks registered, ACCEPT`);

const SLOTS = 256;
/** The top 8 bits of a multiplicative hash (neighbouring addresses such as 10.244.0.1 and 10.244.1.0 land apart). */
const slotOf = (a: number): number => Math.imul(a, 0x9e3779b1) >>> 24;

/** fib.lookup texts: `[output ]DST: ROUTE`, by destination and route object (two tables: with and without `output `). */
const fibDst = [new Float64Array(SLOTS).fill(-1), new Float64Array(SLOTS).fill(-1)];
const fibRoute: (Route | null)[][] = [new Array<Route | null>(SLOTS).fill(null), new Array<Route | null>(SLOTS).fill(null)];
const fibText: string[][] = [new Array<string>(SLOTS).fill(''), new Array<string>(SLOTS).fill('')];

/** `${output ? 'output ' : ''}${ipToString(dst)}: ${formatRoute(rt)}`. */
export function fibLookupText(output: boolean, dst: number, rt: Route): string {
  const k = output ? 1 : 0;
  const d = dst >>> 0;
  // The route's fields in the slot too: one destination is routed by several namespaces' routes.
  const slot = slotOf(d ^ Math.imul(rt.dst, 0x85ebca6b) ^ rt.gw ^ (rt.prefix << 11) ^ rt.table ^ (rt.dev ? Math.imul(rt.dev.ifindex, 0xc2b2ae35) : 0));
  if (fibDst[k][slot] === d && fibRoute[k][slot] === rt) return fibText[k][slot];
  const t = `${output ? 'output ' : ''}${ipToString(d)}: ${formatRoute(rt)}`;
  fibDst[k][slot] = d;
  fibRoute[k][slot] = rt;
  fibText[k][slot] = t;
  return t;
}

/** neigh hit texts: `IP hit MAC (STATE)`, by address, MAC text and state. */
const hitIp = new Float64Array(SLOTS).fill(-1);
const hitMac: string[] = new Array<string>(SLOTS).fill('');
const hitState = new Int32Array(SLOTS);
const hitText: string[] = new Array<string>(SLOTS).fill('');

/** `${ipToString(ip)} hit ${macToString(mac)} (${NUD_NAMES[state]})`. */
export function neighHitText(ip: number, mac: Uint8Array, state: number): string {
  const a = ip >>> 0;
  const m = macToString(mac);
  const slot = slotOf(a);
  if (hitIp[slot] === a && hitState[slot] === state && hitMac[slot] === m) return hitText[slot];
  const t = `${ipToString(a)} hit ${m} (${NUD_NAMES[state]})`;
  hitIp[slot] = a;
  hitMac[slot] = m;
  hitState[slot] = state;
  hitText[slot] = t;
  return t;
}

/** ip.forward texts by output device name, then TTL after the decrement. */
const forwardTexts = new Map<string, string[]>();

/** `ttl ${ttl + 1}→${ttl} out ${out}` (`ttl` after the decrement). */
export function forwardText(ttl: number, out: string): string {
  let byTtl = forwardTexts.get(out);
  if (byTtl === undefined) {
    byTtl = [];
    if (forwardTexts.size < 4096) forwardTexts.set(out, byTtl);
  }
  let t = byTtl[ttl];
  if (t === undefined) { t = `ttl ${ttl + 1}→${ttl} out ${out}`; byTtl[ttl] = t; }
  return t;
}

/** ip.local_deliver texts: `to DST proto P`, by destination and protocol. */
const ldDst = new Float64Array(SLOTS).fill(-1);
const ldProto = new Int32Array(SLOTS);
const ldText: string[] = new Array<string>(SLOTS).fill('');

/** `to ${ipToString(dst)} proto ${proto}`. */
export function localDeliverText(dst: number, proto: number): string {
  const d = dst >>> 0;
  const slot = slotOf(d);
  if (ldDst[slot] === d && ldProto[slot] === proto) return ldText[slot];
  const t = `to ${ipToString(d)} proto ${proto}`;
  ldDst[slot] = d;
  ldProto[slot] = proto;
  ldText[slot] = t;
  return t;
}
