/**
 * Deployments and ReplicaSets (apps/v1) validated as the apiserver does on
 * create (ValidateDeploymentSpec / ValidateReplicaSetSpec, the parts podwire
 * relies on): strict fields, `replicas` ≥ 0 (default 1), a non-empty
 * `selector` that must select the template's labels, `restartPolicy: Always`,
 * and the pod template validated as a Pod (src/kube/pod.ts) with every error
 * reported under `spec.template`.
 *
 * podwire-specific rule: a template may not set `spec.nodeName` — podwire's
 * scheduler places the pods (round-robin over Ready nodes, see
 * src/scenario/workloads.ts).
 */
import { ErrorList, type FieldPath } from './errors.js';
import type { LabelSelector } from './labels.js';
import { matchesSelector } from './labels.js';
import { checkFields, getInt, getObj, isObj, validateObjectMeta, validateTypeMeta, type NamespacedMeta, type Obj } from './object.js';
import { validatePod, type Container } from './pod.js';
import { validateLabelSelector } from './policy-selector.js';

export const DEPLOYMENT_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;
export const DEPLOYMENT_SPEC_FIELDS = ['minReadySeconds', 'paused', 'progressDeadlineSeconds', 'replicas', 'revisionHistoryLimit', 'selector', 'strategy', 'template'] as const;
export const REPLICA_SET_SPEC_FIELDS = ['minReadySeconds', 'replicas', 'selector', 'template'] as const;
export const POD_TEMPLATE_SPEC_FIELDS = ['metadata', 'spec'] as const;

/** A validated Deployment or ReplicaSet, as podwire's controllers use it. */
export interface Workload extends NamespacedMeta {
  kind: 'Deployment' | 'ReplicaSet';
  replicas: number;
  selector: LabelSelector;
  template: {
    labels: Record<string, string>;
    annotations: Record<string, string>;
    hostNetwork: boolean;
    containers: Container[];
    /** The template as written (`metadata`, `spec`), for the pods' bodies and the pod-template-hash. */
    body: Obj;
  };
  body: Obj;
}

export function validateDeployment(obj: Obj): { value?: Workload; errors: ErrorList } {
  return validateWorkload(obj, 'Deployment', DEPLOYMENT_SPEC_FIELDS);
}

export function validateReplicaSet(obj: Obj): { value?: Workload; errors: ErrorList } {
  return validateWorkload(obj, 'ReplicaSet', REPLICA_SET_SPEC_FIELDS);
}

function validateWorkload(obj: Obj, kind: Workload['kind'], specFields: readonly string[]): { value?: Workload; errors: ErrorList } {
  const errs = new ErrorList();
  checkFields(obj, [], DEPLOYMENT_FIELDS, errs);
  const tm = validateTypeMeta(obj, errs);
  if (tm && tm.kind !== kind) errs.invalid(['kind'], tm.kind, `expected kind ${kind}`);
  const meta = validateObjectMeta(obj, true, errs);
  const sp: FieldPath = ['spec'];
  const spec = getObj(obj, 'spec', [], errs);
  let replicas = 1;
  let selector: LabelSelector | undefined;
  let template: Workload['template'] | undefined;
  if (!spec) {
    if (obj.spec === undefined || obj.spec === null) errs.required([...sp, 'selector']);
  } else {
    checkFields(spec, sp, specFields, errs);
    const r = getInt(spec, 'replicas', sp, errs);
    if (r !== undefined) {
      if (r < 0) errs.invalid([...sp, 'replicas'], r, 'must be greater than or equal to 0', 'an integer ≥ 0');
      else replicas = r;
    }
    for (const k of ['minReadySeconds', 'revisionHistoryLimit', 'progressDeadlineSeconds']) {
      const v = specFields.includes(k) ? getInt(spec, k, sp, errs) : undefined;
      if (v !== undefined && v < 0) errs.invalid([...sp, k], v, 'must be greater than or equal to 0');
    }
    if (spec.selector === undefined || spec.selector === null) errs.required([...sp, 'selector']);
    else {
      selector = validateLabelSelector(spec.selector, [...sp, 'selector'], errs);
      if (selector && !Object.keys(selector.matchLabels ?? {}).length && !(selector.matchExpressions ?? []).length) {
        errs.invalid([...sp, 'selector'], spec.selector, `empty selector is invalid for ${kind === 'Deployment' ? 'deployment' : 'replicaset'}`);
        selector = undefined;
      }
    }
    template = validateTemplate(spec.template, [...sp, 'template'], errs);
    if (selector && template && !matchesSelector(selector, template.labels))
      errs.invalid([...sp, 'template', 'metadata', 'labels'], template.labels, '`selector` does not match template `labels`');
  }
  if (errs.errors.length || !tm || !meta || !selector || !template) return { errors: errs };
  return {
    value: { kind, name: meta.name, namespace: meta.namespace ?? 'default', labels: meta.labels, annotations: meta.annotations, replicas, selector, template, body: obj },
    errors: errs,
  };
}

/** A PodTemplateSpec, validated as the Pod it stands for (errors under `path`). */
function validateTemplate(v: unknown, path: FieldPath, errs: ErrorList): Workload['template'] | undefined {
  if (v === undefined || v === null) {
    errs.required([...path, 'spec', 'containers']);
    return undefined;
  }
  if (!isObj(v)) {
    errs.typeInvalid(path, v, 'a mapping');
    return undefined;
  }
  checkFields(v, path, POD_TEMPLATE_SPEC_FIELDS, errs);
  const meta = isObj(v.metadata) ? v.metadata : v.metadata === undefined || v.metadata === null ? {} : v.metadata;
  const spec = isObj(v.spec) ? v.spec : v.spec;
  if (isObj(spec) && spec.nodeName !== undefined && spec.nodeName !== null)
    errs.forbidden([...path, 'spec', 'nodeName'], "podwire's scheduler places a ReplicaSet's pods (round-robin over Ready nodes); a template may not set nodeName");
  if (isObj(spec)) {
    const restart = spec.restartPolicy;
    if (typeof restart === 'string' && restart !== 'Always') errs.notSupported([...path, 'spec', 'restartPolicy'], restart, ['Always']);
  }
  // The pod the template stands for: a placeholder name and node (the controller and scheduler give the real ones).
  const pod: Obj = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: isObj(meta) ? { ...meta, name: 'template' } : meta,
    spec: isObj(spec) ? { ...spec, nodeName: 'template' } : spec,
  };
  const r = validatePod(pod);
  for (const e of r.errors.errors) errs.errors.push({ ...e, path: [...path, ...e.path] });
  if (!r.value) return undefined;
  return { labels: r.value.labels, annotations: r.value.annotations, hostNetwork: r.value.hostNetwork, containers: r.value.containers, body: v };
}
