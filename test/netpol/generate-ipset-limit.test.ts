/**
 * `podwire generate` for flannel with policies (issue 9): kube-router puts a policy's pod
 * peers in one hash:ip set created with ipset's default maxelem (65,536); a bigger set makes
 * `ipset restore` fail ("Hash is full"), so the generator spreads the pods over more
 * namespaces than asked until every policy's peers fit, and says so in the header.
 */
import { describe, expect, it } from 'vitest';
import { generateScenario, KUBE_ROUTER_MAXELEM, type GenerateOptions } from '../../src/cli/generate.js';

const base: GenerateOptions = { nodes: 300, pods: 70_000, services: 700, policies: 30, namespaces: 1, network: 'flannel', seed: 1 };

/** Per policy, the number of pods its one ingress peer selects (the generator's three kinds), read back from the text. */
function peerCounts(text: string): number[] {
  const nsTeam = new Map<string, string>();
  for (const m of text.matchAll(/kind: Namespace, metadata: \{name: (ns-\d+), labels: \{team: (t-\d+)\}/g)) nsTeam.set(m[1]!, m[2]!);
  const pods: { ns: string; tier: string }[] = [];
  for (const m of text.matchAll(/kind: Pod, metadata: \{name: p\d+, namespace: (ns-\d+), labels: \{app: a-\d+, tier: (\w+)\}/g)) pods.push({ ns: m[1]!, tier: m[2]! });
  const out: number[] = [];
  for (const m of text.matchAll(/kind: NetworkPolicy, metadata: \{name: np\d+, namespace: (ns-\d+)\}.*from: \[(.*)\], ports/g)) {
    const ns = m[1]!, from = m[2]!;
    const team = /team: (t-\d+)/.exec(from)?.[1];
    if (team) out.push(pods.filter((p) => nsTeam.get(p.ns) === team).length);
    else if (from.includes('operator: In')) out.push(pods.filter((p) => p.ns === ns && (p.tier === 'web' || p.tier === 'api')).length);
    else out.push(pods.filter((p) => p.ns === ns && p.tier === 'web').length);
  }
  return out;
}

describe('generate: policy peers fit kube-router ipsets', () => {
  it('raises the namespaces of a flannel cluster until every peer set fits, and notes it', () => {
    const text = generateScenario(base);
    const counts = peerCounts(text);
    expect(counts.length).toBe(30);
    expect(Math.max(...counts)).toBeLessThanOrEqual(KUBE_ROUTER_MAXELEM);
    expect(text).toMatch(/^# podwire generate .* --namespaces 2 /);
    expect(text.split('\n')[1]).toBe(`# --namespaces 1 raised to 2: a policy's peers are one kube-router hash:ip set, which holds at most ${KUBE_ROUTER_MAXELEM} addresses`);
    // With one namespace the namespace-selector policies would select every pod.
    expect(base.pods).toBeGreaterThan(KUBE_ROUTER_MAXELEM);
  });

  it('leaves what fits as asked (and Calico, whose ipsets are larger, untouched)', () => {
    expect(generateScenario({ ...base, pods: 30_000 })).toBe(generateScenario({ ...base, pods: 30_000 }));
    expect(generateScenario({ ...base, pods: 30_000 })).toMatch(/^# podwire generate .* --namespaces 1 /);
    expect(generateScenario({ ...base, policies: 0 })).toMatch(/^# podwire generate .* --namespaces 1 /);
    expect(generateScenario({ ...base, network: 'calico' })).toMatch(/^# podwire generate .* --namespaces 1 /);
    expect(generateScenario({ ...base, namespaces: 10 })).toMatch(/^# podwire generate .* --namespaces 10 /);
  });

  it('throws when an app alone is too big for a set', () => {
    expect(() => generateScenario({ ...base, services: 1, endpointsPerService: 70_000 })).toThrow(/kube-router ipset/);
  });
});
