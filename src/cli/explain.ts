/**
 * `podwire explain FILE --traffic NAME`: a traffic item's path in a few lines — the request hop by
 * hop with only the decisions that mattered (src/trace/path.ts), the answer's way back when there was
 * one, and a last line with the reason: where it was dropped and which rule or policy did it, who
 * refused it, or where it was delivered.
 */
import { runScenarioFile, type TrafficResult } from '../scenario/run.js';
import { formatTime } from '../engine/time.js';
import { MemorySink } from '../trace/render.js';
import type { TraceEvent } from '../trace/events.js';
import { flowEvents, flowExchange, placeOf, type Decision, type Hop, type PacketWalk } from '../trace/path.js';
import { isInputError } from '../scenario/errors.js';
import { NetlinkError } from '../kernel/netlink.js';
import { plainStyle, type Style } from './style.js';

export interface ExplainArgs {
  file: string;
  traffic: string;
  seed?: number;
  style?: Style;
  /** --allow-outside-files: `{file: …}` includes may leave the scenario's folder. */
  allowOutsideFiles?: boolean;
}

export async function explainCommand(a: ExplainArgs): Promise<number> {
  const sink = new MemorySink();
  let res;
  try {
    res = runScenarioFile(a.file, { seed: a.seed, trace: sink, allowOutsideFiles: a.allowOutsideFiles });
  } catch (e) {
    if (isInputError(e)) { process.stderr.write(e.format() + '\n'); return 2; }
    if (e instanceof NetlinkError) { process.stderr.write(`podwire: ${a.file}: ${e.message}\n`); return 2; }
    process.stderr.write(`podwire: run failed: ${(e as Error).message}\n`);
    return 1;
  }
  const r = res.results.find((x) => x.name === a.traffic);
  if (!r) {
    const names = res.results.map((x) => x.name);
    process.stderr.write(`podwire explain: ${a.file}: no traffic item named '${a.traffic}'; expected one of: ${names.join(', ') || '(none)'}\n`);
    return 2;
  }
  process.stdout.write(explainTraffic(r, sink.events, a.style ?? plainStyle).join('\n') + '\n');
  return 0;
}

/** The explanation of traffic item `r` from the run's trace events. */
export function explainTraffic(r: TrafficResult, events: readonly TraceEvent[], st: Style = plainStyle): string[] {
  const evs = flowEvents(events, r.name);
  const exp = r.expected?.result ? ` (expected ${r.expected.result})` : '';
  const verdictStyle = r.result === 'reply' ? st.ok : st.bad;
  const out = [`${st.bold(r.name)}: ${verdictStyle(r.result)}${exp} at ${formatTime(r.startedAt)}: ${r.detail}`];
  out.push(...clusterEvents(events, r.startedAt));
  const ex = flowExchange(evs);
  if (!ex) { out.push('no packet of this item was traced'); return out; }
  const { request, answer, resent } = ex;
  out.push(...describe('request', request, st));
  if (answer) out.push(...describe(answer.hops.length && isIcmpError(answer) ? 'ICMP error' : 'answer', answer, st));
  if (resent.length) {
    const same = resent.every((w) => endText(w) === endText(request));
    out.push(`sent ${resent.length + 1} times (${[request, ...resent].map((w) => formatTime(w.origin.time)).join(', ')})${same ? `; every copy ended the same way` : ''}`);
  }
  out.push(verdictStyle(reason(r, request, answer)));
  return out;
}

const place = placeOf;

/** How many of the cluster's latest events explain shows. */
const CLUSTER_EVENTS_SHOWN = 8;

/**
 * The cluster's events (kube.event: a node failing, NotReady, evictions, pods created,
 * policies applied) up to the item's start — the state its first packet met — the latest
 * ones, in time order; nothing printed when there were none.
 */
function clusterEvents(events: readonly TraceEvent[], until: number): string[] {
  const ks = events.filter((e) => e.stage === 'kube.event' && e.time <= until);
  if (!ks.length) return [];
  const shown = ks.slice(-CLUSTER_EVENTS_SHOWN);
  return [
    `cluster events before it started${ks.length > shown.length ? ` (the last ${shown.length} of ${ks.length})` : ''}:`,
    ...shown.map((e) => `  ${formatTime(e.time)} ${e.detail}`),
  ];
}


function isIcmpError(w: PacketWalk): boolean { return /ICMP .*unreachable|ICMP time exceeded|ICMP .*need to frag/.test(w.summary); }

function describe(label: string, w: PacketWalk, st: Style): string[] {
  const out = [`${label} #${w.id} from ${place(w.origin)} at ${formatTime(w.origin.time)}: ${w.summary}`];
  const width = Math.max(...w.hops.map((h) => place(h).length));
  for (const h of w.hops) {
    const ds = h.decisions.filter((d) => d.kind !== 'drop' && d.kind !== 'deliver').map((d) => shortDecision(d));
    const ending = h.decisions.find((d) => d.kind === 'drop') ? st.bad(' ✗ dropped') : h.decisions.find((d) => d.kind === 'deliver') ? st.ok(' ✓ delivered') : '';
    out.push(`  ${place(h).padEnd(width)}  ${ports(h)}${ending}${ds.length ? st.dim('  ' + ds.join('; ')) : ''}`);
  }
  return out;
}

function ports(h: Hop): string {
  const outs = h.out.join(' ⇒ ');
  if (h.in && outs) return `${h.in} → ${outs}`;
  if (h.in) return `in ${h.in}`;
  return outs ? `out ${outs}` : '(here)';
}

/** A decision as its hop line shows it: a DROP rule without its reason (the last line has it). */
function shortDecision(d: Decision): string {
  if (d.kind === 'rule') {
    const i = d.text.indexOf(': DROP');
    if (i >= 0) return d.text.slice(0, i + 6);
  }
  return d.text;
}

function endText(w: PacketWalk): string { return w.end ? `${w.end.kind}:${w.end.text}` : ''; }

/** The last line: why the item ended as it did. */
function reason(r: TrafficResult, req: PacketWalk, ans: PacketWalk | null): string {
  const drop = lastDrop(req) ?? (ans ? lastDrop(ans) : null);
  if (r.result === 'reply') {
    const at = req.end?.kind === 'deliver' ? ` at ${place(req.end.event)}` : '';
    const back = ans?.end?.kind === 'deliver' ? `, answered from ${place(ans.origin)} and delivered back at ${place(ans.end.event)}` : '';
    return `delivered${at}${req.end?.kind === 'deliver' ? ` (${req.end.text})` : ''}${back}`;
  }
  if (r.result === 'refused') {
    const by = ans ? ` by ${place(ans.origin)}` : '';
    const ruleD = drop ? decidingRule(drop.hop) : null;
    if (ruleD) return `refused${by}: ${ruleD.text.replace(/^(\S+) (.*?) rule (\d+): /, (_m, t, path, n) => `${t} ${lastChain(path)} rule ${n}: `)}${ans ? `, answered with ${answerKind(ans)}` : ''}`;
    const ns = req.end?.kind === 'deliver' && req.end.text.includes('no socket') ? `${req.end.text}` : '';
    return `refused${by}${ns ? `: ${ns}` : ''}${ans ? `, answered with ${answerKind(ans)}` : ''}`;
  }
  if (drop) return droppedLine(drop.hop, drop.d);
  const last = req.hops[req.hops.length - 1];
  return `${r.result}: the request's last trace was at ${last ? place(last) : place(req.origin)}, with no drop recorded (${r.detail})`;
}

function lastDrop(w: PacketWalk): { hop: Hop; d: Decision } | null {
  for (let i = w.hops.length - 1; i >= 0; i--) {
    const h = w.hops[i]!;
    const d = h.decisions.find((x) => x.kind === 'drop');
    if (d) return { hop: h, d };
  }
  return null;
}

/** The decisive DROP/REJECT rule before a drop in its hop. */
function decidingRule(h: Hop): Decision | null {
  for (let i = h.decisions.length - 1; i >= 0; i--) {
    const d = h.decisions[i]!;
    if (d.kind === 'rule' && /: (DROP|REJECT)\b|: policy DROP/.test(d.text)) return d;
  }
  return null;
}

function lastChain(path: string): string { const p = path.split(' → '); return p[p.length - 1]!; }

function answerKind(w: PacketWalk): string {
  if (/Flags \[R/.test(w.summary)) return 'a TCP RST';
  const m = /ICMP ([^,]*unreachable[^,]*)/.exec(w.summary);
  return m ? `ICMP ${m[1]}` : w.summary;
}

/**
 * `dropped at node-1 filter FORWARD: cali-tw-cali456b416f2bf DROP, x/a is isolated …`: the hook and
 * chain of the rule that dropped it with the drop's own explanation, or the drop's detail and reason.
 */
function droppedLine(h: Hop, d: Decision): string {
  const e = d.event;
  const rule = decidingRule(h);
  const m = /^iptables (\S+) (\S+) dropped it(?:: (.*))?$/.exec(e.detail);
  if (m) {
    const [, table, hook, why] = m;
    const chain = rule ? ruleChainAndTarget(rule.text) : '';
    return `dropped at ${e.node} ${table} ${hook}${chain ? `: ${chain}` : ''}${why ? `, ${why}` : ''}`;
  }
  return `dropped at ${place(e)}${e.dev ? ` ${e.dev}` : ''}: ${e.detail} (${e.reason ?? 'drop'})`;
}

/** `cali-tw-cali456b416f2bf DROP` from `filter FORWARD → … → cali-tw-cali456b416f2bf rule 9: DROP …`. */
function ruleChainAndTarget(text: string): string {
  const m = /^\S+ (.*?)(?: rule \d+)?: (policy DROP|DROP|REJECT(?: --reject-with \S+)?)/.exec(text);
  return m ? `${lastChain(m[1]!)} ${m[2]}` : '';
}
