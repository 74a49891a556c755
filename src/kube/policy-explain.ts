/**
 * Text for verdicts (policy-eval.ts), for traces and `policy explain`:
 *
 *   tierWalk(v.ingress)  →  "[ANP pri 10 team-pass] Pass -> [NetworkPolicy] no rule admits -> Dropped"
 *   denialReason(v)      →  "y/b is isolated for ingress by y/deny-all; no rule of [y/deny-all, y/allow-frontend] admits x/a:81/TCP"
 */
import type { DirectionVerdict, Verdict } from './policy-eval.js';

/** `x/a:81/TCP`: the flow as the other party's rules see it. */
function flowText(peer: string, v: Pick<Verdict, 'port' | 'protocol'>): string {
  return `${peer}:${v.port}/${v.protocol}`;
}

/** One direction's walk through the tiers, ending in `Allowed` or `Dropped`. */
export function tierWalk(d: DirectionVerdict): string {
  const steps: string[] = [];
  if (!d.subject) return '[not a pod-network pod: no policy applies] -> Allowed';
  for (const a of d.anp) {
    const head = `[ANP pri ${a.priority} ${a.policy}]`;
    if (!a.decision) steps.push(`${head} no rule matches`);
    else steps.push(`${head} ${a.decision.action}${a.decision.ruleName ? ` (rule ${a.decision.ruleName})` : ` (rule ${a.decision.rule})`}`);
  }
  if (d.decidedBy !== 'ANP' && d.networkPolicy) {
    const np = d.networkPolicy;
    if (np.isolatedBy.length === 0) steps.push('[NetworkPolicy] not isolated');
    else if (np.admittedBy) steps.push(`[NetworkPolicy] ${np.admittedBy.policy} ${d.direction.toLowerCase()}[${np.admittedBy.rule}] admits`);
    else steps.push('[NetworkPolicy] no rule admits');
  }
  if (d.banp) {
    const b = d.banp.decision;
    steps.push(b ? `[BANP] ${b.action}${b.ruleName ? ` (rule ${b.ruleName})` : ` (rule ${b.rule})`}` : '[BANP] no rule matches');
  }
  steps.push(d.allowed ? 'Allowed' : 'Dropped');
  return steps.join(' -> ');
}

/** Why one direction refused the flow, in a sentence; undefined when it allowed it. */
export function directionDenial(d: DirectionVerdict, v: Pick<Verdict, 'port' | 'protocol'>): string | undefined {
  if (d.allowed || !d.subject) return undefined;
  const dir = d.direction.toLowerCase();
  const flow = flowText(d.peer, v);
  if (d.decidedBy === 'ANP') {
    const a = d.anp[d.anp.length - 1];
    const r = a.decision!;
    return `${d.subject}: AdminNetworkPolicy ${a.policy} (priority ${a.priority}) ${dir} rule ${r.ruleName || r.rule} denies ${flow}`;
  }
  if (d.decidedBy === 'NetworkPolicy') {
    const by = d.networkPolicy!.isolatedBy;
    return `${d.subject} is isolated for ${dir} by ${by.join(', ')}; no rule of [${by.join(', ')}] admits ${flow}`;
  }
  const r = d.banp?.decision;
  return `${d.subject}: BaselineAdminNetworkPolicy default ${dir} rule ${r ? r.ruleName || r.rule : '?'} denies ${flow}`;
}

/** The sentence for a refused flow (egress first, as the packet meets it); undefined when allowed. */
export function denialReason(v: Verdict): string | undefined {
  if (v.allowed) return undefined;
  return directionDenial(v.egress, v) ?? directionDenial(v.ingress, v);
}

/** A multi-line explanation: the flow, then each direction's tier walk. */
export function explainVerdict(v: Verdict): string {
  const head = `${v.from} -> ${v.to} ${v.port}/${v.protocol}: ${v.allowed ? 'Allowed' : 'Dropped'}`;
  if (v.shortcut === 'self') return `${head} (a pod reaching itself never leaves its network namespace)`;
  if (v.shortcut === 'own-node') return `${head} (traffic from the pod's own node is always allowed)`;
  return [head, `  egress of ${v.egress.subject ?? v.from}: ${tierWalk(v.egress)}`, `  ingress of ${v.ingress.subject ?? v.to}: ${tierWalk(v.ingress)}`].join('\n');
}
