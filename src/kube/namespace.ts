/**
 * Namespace validation as the apiserver does it on create (ValidateNamespace)
 * plus v1 defaulting (the `kubernetes.io/metadata.name` label) and strict
 * unknown-field detection.
 */
import { ErrorList } from './errors.js';
import { LABEL_METADATA_NAME, NAMESPACE_FIELDS, NAMESPACE_SPEC_FIELDS, NAMESPACE_STATUS_FIELDS } from './fields.js';
import { checkFields, getList, getObj, getStr, validateObjectMeta, validateTypeMeta, type Obj } from './object.js';
import { isDNS1123Label, isQualifiedName } from './validation.js';

export interface Namespace {
  name: string;
  /** With `kubernetes.io/metadata.name: <name>` added, as defaulting does. */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  finalizers: string[];
  body: Obj;
}

/** Finalizers the apiserver knows without a domain prefix. */
const STANDARD_FINALIZERS = ['kubernetes'];

export function validateNamespace(obj: Obj): { value?: Namespace; errors: ErrorList } {
  const errs = new ErrorList();
  checkFields(obj, [], NAMESPACE_FIELDS, errs);
  const tm = validateTypeMeta(obj, errs);
  if (tm && tm.kind !== 'Namespace') errs.invalid(['kind'], tm.kind, 'expected kind Namespace');
  // Namespace names become DNS labels (svc.NS.svc.cluster.local), so RFC 1123 labels.
  // A metadata.namespace on this cluster-scoped kind is cleared by the apiserver, not refused.
  const meta = validateObjectMeta(obj, false, errs, isDNS1123Label);
  const finalizers: string[] = [];
  const spec = getObj(obj, 'spec', [], errs);
  if (spec) {
    checkFields(spec, ['spec'], NAMESPACE_SPEC_FIELDS, errs);
    (getList(spec, 'finalizers', ['spec'], errs) ?? []).forEach((f, i) => {
      const p = ['spec', 'finalizers', i];
      if (typeof f !== 'string') return errs.typeInvalid(p, f, 'a string');
      const bad = isQualifiedName(f);
      for (const m of bad) errs.invalid(p, f, m);
      if (!bad.length && !f.includes('/') && !STANDARD_FINALIZERS.includes(f))
        errs.invalid(p, f, 'name is neither a standard finalizer name nor is it fully qualified');
      finalizers.push(f);
    });
  }
  const status = getObj(obj, 'status', [], errs);
  if (status) {
    checkFields(status, ['status'], NAMESPACE_STATUS_FIELDS, errs);
    const phase = getStr(status, 'phase', ['status'], errs);
    if (phase !== undefined && phase !== 'Active' && phase !== 'Terminating')
      errs.notSupported(['status', 'phase'], phase, ['Active', 'Terminating']);
    getList(status, 'conditions', ['status'], errs);
  }
  if (errs.errors.length || !tm || !meta) return { errors: errs };
  return {
    value: {
      name: meta.name,
      labels: { ...meta.labels, [LABEL_METADATA_NAME]: meta.name },
      annotations: meta.annotations,
      finalizers,
      body: obj,
    },
    errors: errs,
  };
}
