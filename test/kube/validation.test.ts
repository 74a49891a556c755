import { describe, expect, it } from 'vitest';
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
} from '../../src/kube/validation.js';
import { closest, editDistance } from '../../src/kube/suggest.js';
import { formatLabels, matchesLabels, matchesSelector } from '../../src/kube/labels.js';
import { fieldErrorMessage, formatPath } from '../../src/kube/errors.js';

describe('apimachinery name validators', () => {
  it('DNS-1123 label', () => {
    for (const ok of ['a', 'web', 'my-name', '123-abc', 'a'.repeat(63)]) expect(isDNS1123Label(ok)).toEqual([]);
    expect(isDNS1123Label('a'.repeat(64))).toEqual(['must be no more than 63 characters']);
    expect(isDNS1123Label('Web')).toEqual([
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ]);
    for (const bad of ['', '-a', 'a-', 'a.b', 'a_b']) expect(isDNS1123Label(bad)).toHaveLength(1);
  });
  it('DNS-1123 subdomain', () => {
    for (const ok of ['web', 'example.com', 'a-b.c-d', 'node-1']) expect(isDNS1123Subdomain(ok)).toEqual([]);
    for (const bad of ['', 'a..b', '.a', 'a.', 'A', 'a_b']) expect(isDNS1123Subdomain(bad)).toHaveLength(1);
    expect(isDNS1123Subdomain(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`)).toEqual(['must be no more than 253 characters']);
  });
  it('qualified names (label/annotation keys)', () => {
    for (const ok of ['app', 'MyName', 'my.name', 'app.kubernetes.io/name', 'example.com/MyName', 'a_b']) expect(isQualifiedName(ok)).toEqual([]);
    expect(isQualifiedName('/app')).toEqual(['prefix part must be non-empty']);
    expect(isQualifiedName('example.com/')).toEqual(['name part must be non-empty']);
    expect(isQualifiedName('a'.repeat(64))).toEqual(['name part must be no more than 63 characters']);
    expect(isQualifiedName('Example.com/x')[0]).toMatch(/^prefix part a lowercase RFC 1123 subdomain/);
    expect(isQualifiedName('a/b/c')[0]).toMatch(/^a qualified name must consist of/);
    expect(isQualifiedName('-app')[0]).toMatch(/^name part must consist of/);
  });
  it('label values', () => {
    for (const ok of ['', 'web', 'MyValue', 'my_value', '12345', 'a.b-c']) expect(isValidLabelValue(ok)).toEqual([]);
    expect(isValidLabelValue('web!')).toHaveLength(1);
    expect(isValidLabelValue('-a')).toHaveLength(1);
    expect(isValidLabelValue('a'.repeat(64))).toEqual(['must be no more than 63 characters']);
  });
  it('IANA service names (port names)', () => {
    for (const ok of ['http', 'dns-tcp', 'h2', 'a'.repeat(15)]) expect(isValidPortName(ok)).toEqual([]);
    expect(isValidPortName('a'.repeat(16))).toEqual(['must be no more than 15 characters']);
    expect(isValidPortName('8080')).toEqual(['must contain at least one letter (a-z)']);
    expect(isValidPortName('HTTP')).toEqual(['must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)', 'must contain at least one letter (a-z)']);
    expect(isValidPortName('a--b')).toEqual(['must not contain consecutive hyphens']);
    expect(isValidPortName('-ab')).toEqual(['must not begin or end with a hyphen']);
  });
  it('port numbers', () => {
    expect(isValidPortNum(1)).toEqual([]);
    expect(isValidPortNum(65535)).toEqual([]);
    for (const bad of [0, 65536, -1, 1.5]) expect(isValidPortNum(bad)).toEqual(['must be between 1 and 65535, inclusive']);
  });
});

describe('suggestions', () => {
  it('edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abc', 'abc')).toBe(0);
  });
  it('closest candidate within a typo distance', () => {
    expect(closest('contaners', ['containers', 'initContainers'])).toBe('containers');
    expect(closest('hostport', ['hostPort', 'hostIP'])).toBe('hostPort');
    expect(closest('zzz', ['plugin', 'mtu'])).toBeUndefined();
  });
});

describe('labels', () => {
  it('matchLabels and matchExpressions', () => {
    const l = { app: 'web', tier: 'front' };
    expect(matchesLabels({ app: 'web' }, l)).toBe(true);
    expect(matchesLabels({ app: 'db' }, l)).toBe(false);
    expect(matchesLabels({}, l)).toBe(true);
    expect(matchesSelector({}, l)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, l)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, l)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['front'] }] }, l)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, l)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, l)).toBe(false);
    expect(matchesSelector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'x', operator: 'Exists' }] }, l)).toBe(false);
    expect(formatLabels({ tier: 'front', app: 'web' })).toBe('app=web,tier=front');
  });
});

describe('field errors', () => {
  it('formats paths and messages as kubectl does', () => {
    expect(formatPath(['spec', 'containers', 0, 'ports', 1, 'name'])).toBe('spec.containers[0].ports[1].name');
    expect(formatPath(['metadata', 'labels', 'app.kubernetes.io/name'])).toBe('metadata.labels["app.kubernetes.io/name"]');
    expect(fieldErrorMessage({ type: 'Required', path: ['spec', 'containers'], at: 'value' })).toBe('spec.containers: Required value');
    expect(fieldErrorMessage({ type: 'Duplicate', path: ['spec', 'containers', 1, 'name'], value: 'web', at: 'value' })).toBe(
      'spec.containers[1].name: Duplicate value: "web"',
    );
    expect(fieldErrorMessage({ type: 'UnknownField', path: ['spec', 'contaners'], detail: '; did you mean "containers"?', at: 'key' })).toBe(
      'unknown field "spec.contaners"; did you mean "containers"?',
    );
  });
});
