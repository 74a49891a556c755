/**
 * Fuzzing Kubernetes manifests (issue 11): every manifest of the shipped
 * scenarios, mutated (fields dropped, retyped, renamed, copied, nested), (1)
 * through the scenario loader as a block string and as a mapping written in
 * place — accepted and built, or an InputError with file:line:col — and (2)
 * straight into the src/kube validators, which must return their error list
 * and never throw.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseScenario } from '../../src/scenario/load.js';
import { buildCluster } from '../../src/scenario/build.js';
import { validatePod } from '../../src/kube/pod.js';
import { validateService } from '../../src/kube/service.js';
import { validateNamespace } from '../../src/kube/namespace.js';
import { validateEndpoints, validateEndpointSlice } from '../../src/kube/endpoints.js';
import { validateNetworkPolicy } from '../../src/kube/networkpolicy.js';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy } from '../../src/kube/admin-network-policy.js';
import { validateOther, type Obj } from '../../src/kube/object.js';
import { accepts, fuzz, FUZZ_TIMEOUT, mutateText, mutateTree, sameTypeOp, textOp, treeOp, type Json } from './fuzz.js';

/** Every manifest of the shipped scenarios (block strings, mappings in place, events' manifests) and their files. */
function shippedManifests(): Json[] {
  const out: Json[] = [];
  const fromText = (t: string) => { for (const d of parseAllDocuments(t)) { const v = d.toJS() as Json; if (v && typeof v === 'object') out.push(v); } };
  const item = (v: unknown) => {
    if (typeof v === 'string') fromText(v);
    else if (v && typeof v === 'object' && !Array.isArray(v) && 'kind' in v) out.push(v as Json);
  };
  for (const f of readdirSync('scenarios').filter((x) => x.endsWith('.yaml'))) {
    const s = parse(readFileSync(`scenarios/${f}`, 'utf8')) as { manifests?: unknown[]; events?: { manifest?: unknown }[] };
    for (const m of s.manifests ?? []) item(m);
    for (const e of s.events ?? []) if (e && typeof e === 'object') item(e.manifest);
  }
  fromText(readFileSync('scenarios/flannel/app.yaml', 'utf8'));
  return out;
}

const MANIFESTS = shippedManifests();
const CLUSTER = `name: fuzz
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: bridge}
  kubeProxy: {mode: iptables}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24, podCIDR: 10.244.0.0/24}
    - {name: node-2, ip: 192.168.1.12/24, podCIDR: 10.244.1.0/24}
manifests:
`;
const indent = (t: string, n: number) => t.split('\n').map((l) => (l ? ' '.repeat(n) + l : l)).join('\n');
const PIECES = ['\n', ': ', '- ', '{', '}', '[', ']', ',', '"', '&a ', '*a', '!!int ', '<<: ', '|', '#', '---\n'];

const VALIDATORS: ((o: Obj) => unknown)[] = [
  validatePod, (o) => validateService(o), validateNamespace, validateEndpoints, validateEndpointSlice,
  validateNetworkPolicy, validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy, validateOther,
];

describe('fuzz: Kubernetes manifests', () => {
  it(`finds the shipped manifests (${MANIFESTS.length})`, () => {
    expect(MANIFESTS.length).toBeGreaterThan(30);
  });

  it('mutated manifests through the scenario loader (block string or mapping in place)', async () => {
    const arb = fc.tuple(fc.nat({ max: MANIFESTS.length - 1 }), fc.array(fc.oneof(treeOp, sameTypeOp), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.array(textOp(PIECES), { maxLength: 1 }));
    await fuzz('manifests via the loader', arb, ([i, ops, inPlace, tops]) => {
      const m = mutateTree(MANIFESTS[i]!, ops);
      const body = mutateText(stringify(m), tops);
      const item = inPlace ? indent(stringify([m]), 2) : `  - |\n${indent(body, 4)}`;
      accepts(() => buildCluster(parseScenario(CLUSTER + item + '\n', 'fuzz.yaml')));
    }, 40);
  }, FUZZ_TIMEOUT);

  it('mutated manifests straight into the src/kube validators: an error list, never a throw', async () => {
    const arb = fc.tuple(fc.nat({ max: MANIFESTS.length - 1 }), fc.array(fc.oneof(treeOp, sameTypeOp), { minLength: 1, maxLength: 4 }));
    await fuzz('manifests via src/kube validators', arb, ([i, ops]) => {
      const m = mutateTree(MANIFESTS[i]!, ops);
      if (!m || typeof m !== 'object' || Array.isArray(m)) return;
      for (const v of VALIDATORS) v(m as Obj);
    }, 300);
  }, FUZZ_TIMEOUT);
});
