/**
 * A traffic item's packets walked hop by hop, keeping only the decisions that mattered: the model
 * behind `podwire explain` (explain.ts) and `--trace mermaid` (mermaid.ts).
 *
 * A hop is one visit of a packet to one namespace of one machine (node/netns): where it came in,
 * where it left, and what decided its way there — the route taken, the iptables rule that ended a
 * traversal with a verdict (ACCEPT, DROP, REJECT, DNAT, SNAT, MASQUERADE; chains that fell through
 * and MARK rules are left out), NAT rewrites, IPVS scheduling, bridge forwarding, encapsulation, the
 * delivery to a socket or the drop. A packet carried inside a tunnel (VXLAN, IPIP, flannel UDP) is
 * followed through its outer packet's events (`innerId` = the carried packet), so its hops cross the
 * underlay like the frames did. Everything here is read from trace events: nothing is inferred that
 * the trace does not say.
 */
import type { TraceEvent } from './events.js';

export type DecisionKind =
  | 'route' | 'rule' | 'nat' | 'ipvs' | 'bridge' | 'encap' | 'decap' | 'fragment'
  | 'icmp' | 'deliver' | 'drop' | 'ct';

export interface Decision {
  kind: DecisionKind;
  /** One short line: what was decided. */
  text: string;
  /** The event it comes from (its detail holds the full rule/route text). */
  event: TraceEvent;
}

export interface Hop {
  node: string;
  netns: string;
  /** Device the packet (or its outer packet) came in on; '' when it started here. */
  in: string;
  /** Devices it went out of, in order (an inner device then the outer packet's NIC); empty when it ended here. */
  out: string[];
  /** Time of the hop's first event (ns). */
  time: number;
  /** Outer packet ids it travelled in while at this hop (encapsulated), in order. */
  outer: number[];
  decisions: Decision[];
}

export interface PacketWalk {
  id: number;
  /** The packet's first tcpdump-style line (its first dev.xmit or dev.recv), '' when it has none. */
  summary: string;
  /** Where and when it was made. */
  origin: { node: string; netns: string; time: number };
  hops: Hop[];
  /** How its walk ended: delivered to a socket, dropped, or neither (still in flight, left the traced world). */
  end: Decision | null;
}

/** The events of one traffic item (`flow`), in trace order. */
export function flowEvents(events: readonly TraceEvent[], flow: string): TraceEvent[] {
  return events.filter((e) => e.flow === flow);
}

/**
 * The top-level packets of a flow's events in order of first appearance: ids seen on their own
 * (innerId 0) or carried inside another (an outer packet's innerId); outer packets are not listed.
 */
export function flowPackets(events: readonly TraceEvent[]): number[] {
  const outer = new Set<number>();
  for (const e of events) if (e.innerId !== 0) outer.add(e.packetId);
  const seen = new Set<number>();
  const out: number[] = [];
  for (const e of events) {
    const id = e.innerId !== 0 ? e.innerId : e.packetId;
    if (id === 0 || outer.has(id) || seen.has(id)) continue;
    seen.add(id);
    out.push(id);
  }
  return out;
}

/** Walks packet `id` through `events` (a flow's or the whole run's). */
export function walkPacket(events: readonly TraceEvent[], id: number): PacketWalk {
  const mine = events.filter((e) => e.packetId === id || (e.innerId === id && e.packetId !== id));
  const hops: Hop[] = [];
  let hop: Hop | null = null;
  let end: Decision | null = null;
  let summary = '';
  const rules = new RuleWalk();
  for (const e of mine) {
    const outerEv = e.packetId !== id;
    if (!hop || hop.node !== e.node || hop.netns !== e.netns) {
      hop = { node: e.node, netns: e.netns, in: '', out: [], time: e.time, outer: [], decisions: [] };
      hops.push(hop);
      rules.reset();
    }
    if (outerEv && !hop.outer.includes(e.packetId)) hop.outer.push(e.packetId);
    const add = (kind: DecisionKind, text: string): Decision => {
      const d = { kind, text, event: e };
      hop!.decisions.push(d);
      return d;
    };
    switch (e.stage) {
      case 'dev.recv':
        if (!summary && !outerEv) summary = e.detail;
        if (!hop.in) hop.in = e.dev;
        break;
      case 'dev.xmit':
        if (!summary && !outerEv) summary = e.detail;
        if (hop.out[hop.out.length - 1] !== e.dev) hop.out.push(e.dev);
        break;
      case 'fib.lookup': {
        // Local deliveries are said by the delivery itself; a tunnel's outer packet to this host is its decap.
        const route = e.detail.slice(e.detail.indexOf(': ') + 2);
        if (!route.startsWith('local ')) add('route', `route ${route}`);
        break;
      }
      case 'nf.rule': {
        const d = rules.step(e.detail);
        if (d) add('rule', d);
        break;
      }
      case 'nf.nat': case 'brnf.dnat': case 'ipvs.xmit': add('nat', e.detail); break;
      case 'ipvs.sched': add('ipvs', `IPVS ${e.detail}`); break;
      case 'bridge.fdb.hit': case 'bridge.flood': case 'bridge.fdb.miss': case 'bridge.hairpin':
        add('bridge', `${e.dev}: ${e.detail}`);
        break;
      case 'vxlan.encap': add('encap', `VXLAN ${e.detail}`); break;
      case 'ipip.encap': add('encap', `IPIP ${e.detail}`); break;
      case 'flannel.udp.sendto': add('encap', `flanneld UDP ${e.detail}`); break;
      case 'vxlan.decap': add('decap', `VXLAN decap ${e.detail}`); break;
      case 'ipip.decap': add('decap', `IPIP decap ${e.detail}`); break;
      case 'flannel.udp.recvfrom': add('decap', `flanneld UDP ${e.detail}`); break;
      case 'ip.fragment': case 'ip.defrag': case 'ip.pmtu': add('fragment', e.detail); break;
      case 'icmp.send': add('icmp', `ICMP ${e.detail}`); break;
      case 'icmp.echo': add('deliver', `echo responder: ${e.detail}`); break;
      case 'nf.ct':
        if (e.detail.startsWith('ctstate INVALID')) add('ct', e.detail);
        break;
      case 'tcp.rcv': case 'udp.rcv': case 'icmp.rcv':
        if (outerEv) break;
        if (e.verdict === 'deliver') end = add('deliver', `${e.stage === 'tcp.rcv' ? 'TCP' : e.stage === 'udp.rcv' ? 'UDP' : 'ICMP'} ${e.detail}`);
        else if (e.detail.startsWith('no socket')) end = add('deliver', `TCP ${e.detail}`);
        break;
      case 'drop':
        end = add('drop', `${e.detail} (${e.reason ?? 'drop'})`);
        break;
      default:
        if (e.verdict === 'drop') end = add('drop', `${e.stage}: ${e.detail} (${e.reason ?? 'drop'})`);
    }
  }
  const first = mine[0];
  return {
    id, summary, hops, end,
    origin: first ? { node: first.node, netns: first.netns, time: first.time } : { node: '', netns: '', time: 0 },
  };
}

/** `node/netns` of a hop, an origin or an event. */
export function placeOf(o: { node: string; netns: string }): string { return `${o.node}/${o.netns}`; }

/** A traffic item's exchange as explain and the Mermaid diagrams show it. */
export interface FlowExchange {
  /** The item's first packet. */
  request: PacketWalk;
  /** The first packet made in another namespace than the request: reply, RST or ICMP error; null when none came. */
  answer: PacketWalk | null;
  /** Later copies of the request (retransmissions) sent before the answer. */
  resent: PacketWalk[];
}

/** The exchange of a flow's events (flowEvents), or null when the item sent no packet. */
export function flowExchange(flowEvs: readonly TraceEvent[]): FlowExchange | null {
  const ids = flowPackets(flowEvs);
  if (ids.length === 0) return null;
  const request = walkPacket(flowEvs, ids[0]!);
  const from = placeOf(request.origin);
  const resent: PacketWalk[] = [];
  for (const id of ids.slice(1)) {
    const w = walkPacket(flowEvs, id);
    if (placeOf(w.origin) !== from) return { request, answer: w, resent };
    if (sameRequest(w, request)) resent.push(w);
  }
  return { request, answer: null, resent };
}

/** A later packet from the request's origin that looks like a copy of it: the same summary up to its sequence numbers. */
function sameRequest(w: PacketWalk, req: PacketWalk): boolean {
  const key = (s: string) => s.replace(/, seq \d+.*$/, '').replace(/ seq \d+,.*$/, '');
  return w.summary !== '' && key(w.summary) === key(req.summary);
}

/** Netfilter targets whose rule decides a packet's fate or rewrites it. */
const DECISIVE = new Set(['ACCEPT', 'DROP', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT']);

/**
 * Follows one hop's nf.rule events (`TABLE:CHAIN:rule:N RULE → VERDICT`, `TABLE:CHAIN:return`,
 * `TABLE:CHAIN:policy:P`) and names the chain path of each decisive rule:
 * `filter FORWARD → KUBE-FORWARD: ACCEPT ("kubernetes forwarding rules")`.
 */
class RuleWalk {
  private table = '';
  private stack: string[] = [];

  reset(): void { this.table = ''; this.stack = []; }

  step(detail: string): string | null {
    const sp = detail.indexOf(' ');
    const head = sp < 0 ? detail : detail.slice(0, sp);
    const parts = head.split(':');
    if (parts.length < 3) return null;
    const kind = parts[parts.length - 2] === 'rule' || parts[parts.length - 2] === 'policy' ? parts[parts.length - 2] : parts[parts.length - 1];
    const table = parts[0]!;
    // A chain name may hold ':' (felix's cali-pi-knp/x/name does not, but be safe): it is everything between.
    const chain = parts.slice(1, kind === 'return' ? parts.length - 1 : parts.length - 2).join(':');
    if (table !== this.table || this.stack.length === 0 || !this.stack.includes(chain)) {
      // A new traversal: a built-in chain of a (new) table.
      this.table = table;
      this.stack = [chain];
    } else {
      // Back in `chain` after returns we did not see (a goto's return pops past it).
      this.stack.length = this.stack.indexOf(chain) + 1;
    }
    if (kind === 'return') { this.stack.pop(); return null; }
    const arrow = detail.lastIndexOf(' → ');
    const verdict = arrow < 0 ? '' : detail.slice(arrow + 3);
    if (kind === 'policy') {
      // A built-in chain's policy only matters when it is not ACCEPT.
      const p = parts[parts.length - 1]!;
      return p === 'ACCEPT' ? null : `${table} ${this.stack.join(' → ')}: policy ${p}`;
    }
    const rule = arrow < 0 ? detail.slice(sp + 1) : detail.slice(sp + 1, arrow);
    if (verdict.startsWith('jump ') || verdict.startsWith('goto ')) {
      const to = verdict.slice(5);
      if (verdict.startsWith('goto ')) this.stack.pop();
      this.stack.push(to);
      return null;
    }
    const target = ruleTarget(rule);
    if (!DECISIVE.has(target)) return null;
    const comment = ruleComment(rule);
    const why = verdict.startsWith('DROP (') ? verdict.slice(5) : '';
    const args = target === 'DNAT' || target === 'SNAT' || target === 'REJECT' || target === 'REDIRECT' ? targetArgs(rule) : '';
    return `${table} ${this.stack.join(' → ')} rule ${parts[parts.length - 1]}: ${target}${args ? ' ' + args : ''}${comment ? ` ("${comment}")` : ''}${why ? ' ' + why : ''}`;
  }
}

/** The target of an iptables-save rule line: the last `-j`/`-g`. */
export function ruleTarget(rule: string): string {
  const m = /(?:^| )-[jg] (\S+)(?!.* -[jg] )/.exec(rule);
  return m ? m[1]! : '';
}

/** The target's own options (`--to-destination 10.244.0.4:80`, `--reject-with tcp-reset`). */
function targetArgs(rule: string): string {
  const m = / -j \S+ (.*)$/.exec(rule);
  return m ? m[1]!.trim() : '';
}

/** The rule's comments that are not felix's `cali:HASH` ids, joined; kube-proxy's name the Service port. */
export function ruleComment(rule: string): string {
  const out: string[] = [];
  const re = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/g;
  for (let m; (m = re.exec(rule)) !== null;) {
    const c = m[1] ?? m[2] ?? '';
    if (!c.startsWith('cali:')) out.push(c.replace(/\\"/g, '"'));
  }
  return out.join('; ');
}
