/**
 * felix inside a whole Calico scenario (the control plane starts it on every
 * node; scenarios/calico-ipip.yaml plus a NetworkPolicy): the policy's DROP
 * on the receiving node names the policy in the trace, flows it does not
 * cover still pass over IPIP, and pod traffic to an outside host is
 * masqueraded by cali-nat-outgoing.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../../src/scenario/load.js';
import { runScenario } from '../../../src/scenario/run.js';
import { MemorySink } from '../../../src/trace/render.js';

function scenarioWithPolicy(): string {
  const s = readFileSync('scenarios/calico-ipip.yaml', 'utf8');
  const policy = `  - |
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: web-only-from-db, namespace: default}
    spec:
      podSelector: {matchLabels: {app: web}}
      ingress: [{from: [{podSelector: {matchLabels: {app: db}}}]}]
traffic:
`;
  return s.replace('\ntraffic:\n', `\n${policy}`);
}

describe('felix in a Calico scenario', () => {
  it('a NetworkPolicy denies client → web at node-2\'s cali-tw- chain (trace names it); the other flows pass, the outside one masqueraded', () => {
    const sink = new MemorySink();
    const r = runScenario(parseScenario(scenarioWithPolicy(), 'calico-ipip-policy.yaml'), { trace: sink });
    const by = new Map(r.results.map((x) => [x.name, x]));
    expect(by.get('client-to-web')!.result).not.toBe('reply');
    expect(by.get('client-ping-db')!.result).toBe('reply');
    expect(by.get('client-to-internet')!.result).toBe('reply');
    const drop = sink.events.find((e) => e.stage === 'drop' && e.node === 'node-2');
    expect(drop?.detail).toBe('iptables filter FORWARD dropped it: default/web is isolated for ingress by default/web-only-from-db; no rule of [default/web-only-from-db] admits default/client:80/TCP');
    expect(sink.events.some((e) => e.node === 'node-2' && e.stage === 'nf.rule' && e.detail.includes('cali-tw-') && e.detail.includes('End of tier default. Drop if no policies passed packet'))).toBe(true);
    // The outside host saw the node's address, not the pod's (cali-nat-outgoing MASQUERADE).
    expect(sink.events.some((e) => e.node === 'node-1' && e.detail.includes('MASQUERADE'))).toBe(true);
  });
});
