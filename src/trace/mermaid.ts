/**
 * `--trace mermaid`: a traffic item as a Mermaid sequence diagram, for docs and pull requests.
 * One participant per namespace the packets visit (node/netns), in order of first visit; an arrow
 * per move from one namespace to the next, labelled with the devices it left and entered; a note
 * with the hop's decisions (route, rule verdicts, NAT before ⇒ after, encapsulation); a move made
 * inside a tunnel's outer packet is boxed and names the outer packet; the walk ends with the
 * delivery or the drop and its reason. The request and the answer (reply, RST or ICMP error) are
 * drawn; the answer's arrows are dashed.
 */
import type { TraceEvent } from './events.js';
import { flowEvents, flowExchange, placeOf, type PacketWalk } from './path.js';

export interface MermaidItem {
  name: string;
  /** One line under the title, e.g. `reply (expected reply)`. */
  outcome: string;
}

/** Text safe inside a Mermaid message or note: `;` and `#` are Mermaid syntax, written as entity codes. */
export function mermaidText(s: string): string {
  return s.replace(/[#;\n]/g, (c) => (c === '#' ? '#35;' : c === ';' ? '#59;' : ' '));
}

/** The diagram of one traffic item from the run's trace events. */
export function mermaidDiagram(item: MermaidItem, events: readonly TraceEvent[]): string[] {
  const evs = flowEvents(events, item.name);
  const out = ['sequenceDiagram', `  title ${mermaidText(`${item.name}: ${item.outcome}`)}`];
  const ex = flowExchange(evs);
  if (!ex) { out.push('  Note over nobody: no packet of this item was traced'); return out; }
  const { request, answer } = ex;
  const walks = answer ? [request, answer] : [request];
  const names = new Map<string, string>();
  for (const w of walks) for (const h of w.hops) if (!names.has(key(h))) names.set(key(h), `p${names.size + 1}`);
  for (const [k, id] of names) out.push(`  participant ${id} as ${mermaidText(k)}`);
  walks.forEach((w, i) => out.push(...drawWalk(w, names, i === 0 ? 'request' : 'answer')));
  return out;
}

const key = placeOf;

function drawWalk(w: PacketWalk, names: Map<string, string>, label: string): string[] {
  const out: string[] = [];
  const arrow = label === 'request' ? '->>' : '-->>';
  const first = w.hops[0];
  if (!first) return out;
  out.push(`  Note over ${names.get(key(first))}: ${mermaidText(`${label} #${w.id}: ${w.summary}`)}`);
  for (let i = 0; i < w.hops.length; i++) {
    const h = w.hops[i]!;
    const notes = h.decisions.map((d) => d.text);
    if (notes.length) out.push(`  Note over ${names.get(key(h))}: ${mermaidText(notes.join('<br/>'))}`);
    const next = w.hops[i + 1];
    if (!next) break;
    const text = `${h.out.join(' ⇒ ') || '?'} → ${next.in || '?'}`;
    // Moved inside an outer packet when it left and arrived encapsulated (its hop and the next name outer packets).
    const outer = next.outer.find((o) => h.outer.includes(o));
    if (outer !== undefined) out.push('  rect rgba(128, 160, 255, 0.15)');
    out.push(`  ${names.get(key(h))}${arrow}${names.get(key(next))}: ${mermaidText(outer !== undefined ? `#${outer} carrying #${w.id}: ${text}` : text)}`);
    if (outer !== undefined) out.push('  end');
  }
  return out;
}
