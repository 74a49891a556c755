import { describe, expect, it } from 'vitest';
import { fieldErrorMessage, formatPath } from '../../src/kube/errors.js';
import { validateDeployment, validateReplicaSet } from '../../src/kube/workload.js';
import { SAFE_ALPHANUMS, canonicalJson, fnv32a, podTemplateHash, randomSuffix, safeEncode } from '../../src/kube/pod-names.js';

const dep = (spec: Record<string, unknown> = {}, kind = 'Deployment') => ({
  apiVersion: 'apps/v1', kind, metadata: { name: 'web' },
  spec: {
    replicas: 3, selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
    ...spec,
  },
});
const errs = (o: Record<string, unknown>) => validateDeployment(o).errors.errors.map((e) => `${formatPath(e.path)}: ${fieldErrorMessage(e)}`);

describe('validateDeployment / validateReplicaSet', () => {
  it('accepts a Deployment and keeps what the controllers need', () => {
    const r = validateDeployment(dep());
    expect(r.errors.errors).toEqual([]);
    expect(r.value).toMatchObject({ kind: 'Deployment', name: 'web', namespace: 'default', replicas: 3, selector: { matchLabels: { app: 'web' } } });
    expect(r.value!.template.containers).toEqual([{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }] }]);
    expect(validateReplicaSet(dep({}, 'ReplicaSet')).value?.kind).toBe('ReplicaSet');
  });
  it('defaults replicas to 1', () => {
    const o = dep();
    delete (o.spec as Record<string, unknown>).replicas;
    expect(validateDeployment(o).value!.replicas).toBe(1);
  });
  it('rejects what the apiserver rejects, at the field', () => {
    expect(errs(dep({ replicas: -1 }))).toEqual(['spec.replicas: spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
    expect(errs(dep({ selector: {} }))[0]).toMatch(/^spec.selector: .*empty selector is invalid for deployment/);
    expect(errs(dep({ selector: { matchLabels: { app: 'api' } } }))[0]).toMatch(/^spec.template.metadata.labels: .*`selector` does not match template `labels`/);
    const noSel = dep();
    delete (noSel.spec as Record<string, unknown>).selector;
    expect(errs(noSel)[0]).toMatch(/^spec.selector: .*Required value/);
    expect(errs(dep({ template: { metadata: { labels: { app: 'web' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'web', image: 'nginx' }] } } }))[0])
      .toMatch(/^spec.template.spec.restartPolicy: .*supported values: "Always"/);
  });
  it('reports template errors under spec.template (the Pod validator, re-rooted)', () => {
    expect(errs(dep({ template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', imagee: 'nginx' }] } } })))
      .toContain('spec.template.spec.containers[0].imagee: unknown field "spec.template.spec.containers[0].imagee"; did you mean "image"?');
    expect(errs(dep({ template: { metadata: { labels: { app: 'web' } }, spec: {} } }))).toEqual(['spec.template.spec.containers: spec.template.spec.containers: Required value']);
    expect(errs(dep({ stratgy: {} }))[0]).toMatch(/unknown field "spec.stratgy"; did you mean "strategy"\?/);
    // A ReplicaSet has no strategy.
    expect(validateReplicaSet(dep({ strategy: {} }, 'ReplicaSet')).errors.errors.map(fieldErrorMessage)[0]).toMatch(/unknown field "spec.strategy"/);
  });
  it("forbids spec.nodeName in a template: podwire's scheduler places the pods", () => {
    expect(errs(dep({ template: { metadata: { labels: { app: 'web' } }, spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'nginx' }] } } }))[0])
      .toMatch(/^spec.template.spec.nodeName: .*Forbidden: podwire's scheduler places/);
  });
});

describe('pod names', () => {
  it('FNV-1a 32 matches the published test vectors', () => {
    expect(fnv32a('')).toBe(0x811c9dc5);
    expect(fnv32a('a')).toBe(0xe40c292c);
    expect(fnv32a('foobar')).toBe(0xbf9cf968);
  });
  it('SafeEncodeString maps each character by its code into 27 vowel-free characters', () => {
    expect(SAFE_ALPHANUMS).toHaveLength(27);
    // '0' is 48, 48 % 27 = 21 → '4'; '9' is 57 → 3 → 'f' (so hashes hold only 4-9, b, c, d, f, as real ones do).
    expect(safeEncode('09')).toBe('4f');
  });
  it('the template hash ignores key order and changes with the template', () => {
    const a = { metadata: { labels: { app: 'web', tier: 'x' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };
    const b = { spec: { containers: [{ image: 'nginx', name: 'web' }] }, metadata: { labels: { tier: 'x', app: 'web' } } };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(podTemplateHash(a)).toBe(podTemplateHash(b));
    expect(podTemplateHash({ ...a, spec: { containers: [{ name: 'web', image: 'nginx:2' }] } })).not.toBe(podTemplateHash(a));
    expect(podTemplateHash(a)).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  });
  it('a generateName suffix is five safe characters drawn from the given PRNG', () => {
    let i = 0;
    expect(randomSuffix(() => i++)).toBe('bcdfg');
  });
});
