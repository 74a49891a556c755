import { describe, expect, it } from 'vitest';
import { fieldErrorMessage } from '../../src/kube/errors.js';
import { validateOther } from '../../src/kube/object.js';
import { validatePod } from '../../src/kube/pod.js';

const pod = (spec: Record<string, unknown> = {}, meta: Record<string, unknown> = { name: 'web' }, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: meta,
  spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'nginx' }], ...spec },
  ...extra,
});

const msgs = (o: Record<string, unknown>) => validatePod(o).errors.errors.map(fieldErrorMessage);

describe('validatePod', () => {
  it('accepts a minimal pod and defaults namespace and protocol', () => {
    const r = validatePod(pod({ containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] }));
    expect(r.errors.errors).toEqual([]);
    expect(r.value).toMatchObject({
      name: 'web',
      namespace: 'default',
      nodeName: 'node-1',
      hostNetwork: false,
      containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }] }],
    });
  });
  it('reports unknown fields at every level with suggestions', () => {
    expect(msgs(pod({ contaners: [] }))).toContain('unknown field "spec.contaners"; did you mean "containers"?');
    expect(msgs(pod({}, { name: 'web', lables: {} }))).toEqual(['unknown field "metadata.lables"; did you mean "labels"?']);
    expect(msgs({ ...pod(), sepc: {} })).toEqual(['unknown field "sepc"; did you mean "spec"?']);
    expect(msgs(pod({ containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, nmae: 'x' }] }] }))).toEqual([
      'unknown field "spec.containers[0].ports[0].nmae"; did you mean "name"?',
    ]);
    expect(msgs(pod({}, { name: 'web' }, { status: { conditons: [] } }))).toEqual(['unknown field "status.conditons"; did you mean "conditions"?']);
  });
  it('accepts real fields it does not model', () => {
    const r = validatePod(
      pod({
        volumes: [],
        tolerations: [],
        affinity: {},
        serviceAccountName: 'sa',
        priorityClassName: 'high',
        topologySpreadConstraints: [],
        initContainers: [{ name: 'init', image: 'busybox', command: ['true'] }],
        ephemeralContainers: [{ name: 'dbg', image: 'busybox', targetContainerName: 'web' }],
        containers: [
          {
            name: 'web',
            image: 'nginx',
            env: [],
            envFrom: [],
            resources: {},
            volumeMounts: [],
            livenessProbe: {},
            readinessProbe: {},
            startupProbe: {},
            lifecycle: {},
            securityContext: {},
            workingDir: '/',
            stdin: true,
            tty: true,
          },
        ],
      }),
    );
    expect(r.errors.errors.map(fieldErrorMessage)).toEqual([]);
  });
  it('validates names, containers and ports', () => {
    expect(msgs(pod({ containers: [] }))).toEqual(['spec.containers: Required value']);
    expect(msgs(pod({ containers: [{ name: 'web' }] }))).toEqual(['spec.containers[0].image: Required value']);
    expect(msgs(pod({ containers: [{ image: 'x' }] }))).toEqual(['spec.containers[0].name: Required value']);
    expect(msgs(pod({ initContainers: [{ name: 'web', image: 'x' }] }))).toEqual(['spec.containers[0].name: Duplicate value: "web"']);
    expect(msgs(pod({ containers: [{ name: 'web', image: 'x', ports: [{}] }] }))).toEqual(['spec.containers[0].ports[0].containerPort: Required value']);
    expect(msgs(pod({ hostNetwork: true, containers: [{ name: 'web', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }] }))).toEqual([
      'spec.containers[0].ports[0].hostPort: Invalid value: 8080: `hostPort` must match `containerPort` when `hostNetwork` is true',
    ]);
    expect(
      msgs(pod({ containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80, name: 'http' }] }, { name: 'b', image: 'x', ports: [{ containerPort: 81, name: 'http' }] }] })),
    ).toEqual(['spec.containers[1].ports[0].name: Duplicate value: "http"']);
    expect(msgs(pod({ restartPolicy: 'Sometimes' }))).toEqual(['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']);
    expect(msgs(pod({}, {}))).toEqual(['metadata.name: Required value: name is required']);
    expect(msgs(pod({}, { generateName: 'web-' }))).toEqual(['metadata.name: Required value: podwire needs a fixed name; generateName is not supported']);
    expect(msgs(pod({ nodeName: undefined }))).toEqual(['spec.nodeName: Required value: podwire has no scheduler yet; set spec.nodeName to one of cluster.nodes']);
    expect(msgs(pod({ nodeName: 'Node_1' }))[0]).toMatch(/^spec\.nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain/);
  });
  it('reads the Ready condition and keeps status in the body', () => {
    const o = pod({}, { name: 'web' }, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'example.com/gate', status: 'False' }] } });
    const r = validatePod(o);
    expect(r.errors.errors).toEqual([]);
    expect(r.value?.ready).toBe(true);
    expect(r.value?.body.status).toEqual(o.status);
    expect(msgs({ ...o, status: { conditions: [{ type: 'Ready' }] } })).toEqual(['status.conditions[0].status: Required value']);
  });
  it('rejects the wrong apiVersion for Pod', () => {
    expect(msgs({ ...pod(), apiVersion: 'apps/v1' })).toEqual(['apiVersion: Invalid value: "apps/v1": no matches for kind "Pod" in version "apps/v1"']);
  });
});

describe('validateOther', () => {
  it('keeps type meta and metadata, defaults namespace for namespaced kinds', () => {
    const r = validateOther({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: {} });
    expect(r.value).toMatchObject({ kind: 'Service', apiVersion: 'v1', meta: { name: 'web', namespace: 'default' } });
    expect(validateOther({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } }).value?.meta.namespace).toBeUndefined();
    expect(validateOther({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }).value?.meta.namespace).toBeUndefined();
  });
  it('checks apiVersion of known kinds and required metadata', () => {
    expect(validateOther({ apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'd' } }).errors.errors.map(fieldErrorMessage)).toEqual([
      'apiVersion: Invalid value: "v1": no matches for kind "Deployment" in version "v1"',
    ]);
    expect(validateOther({ kind: 'Service', metadata: { name: 'web' } }).errors.errors.map(fieldErrorMessage)).toEqual(['apiVersion: Required value: apiVersion must be set']);
    expect(validateOther({ apiVersion: 'v1', kind: 'Service' }).errors.errors.map(fieldErrorMessage)).toEqual(['metadata.name: Required value: name is required']);
  });
});
