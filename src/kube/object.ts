/**
 * Generic object checks shared by all kinds: type meta, ObjectMeta (name,
 * namespace, labels, annotations), strict unknown-field detection, and small
 * typed getters that record a field error instead of throwing.
 */
import { ErrorList, type FieldPath } from './errors.js';
import { BUILTIN_GROUP_VERSIONS, KNOWN_KINDS, OBJECT_META_FIELDS } from './fields.js';
import { closest } from './suggest.js';
import {
  ANNOTATIONS_MAX_BYTES,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
} from './validation.js';

/** A decoded JSON/YAML mapping. */
export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether `obj[key]` is absent or null (the apiserver treats both as unset). */
export function absent(obj: Obj, key: string): boolean {
  return obj[key] === undefined || obj[key] === null;
}

/** Records an UnknownField error for every key of `obj` not in `allowed`. */
export function checkFields(obj: Obj, path: FieldPath, allowed: readonly string[], errs: ErrorList): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) errs.unknownField([...path, k], closest(k, allowed), allowed);
  }
}

/** Reads `obj[key]` as a mapping; records a type error and returns undefined otherwise. Absent/null → undefined. */
export function getObj(obj: Obj, key: string, path: FieldPath, errs: ErrorList): Obj | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) {
    errs.typeInvalid([...path, key], v, 'a mapping');
    return undefined;
  }
  return v;
}

export function getList(obj: Obj, key: string, path: FieldPath, errs: ErrorList): unknown[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    errs.typeInvalid([...path, key], v, 'a list');
    return undefined;
  }
  return v;
}

export function getStr(obj: Obj, key: string, path: FieldPath, errs: ErrorList): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errs.typeInvalid([...path, key], v, 'a string');
    return undefined;
  }
  return v;
}

export function getInt(obj: Obj, key: string, path: FieldPath, errs: ErrorList): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    errs.typeInvalid([...path, key], v, 'an integer');
    return undefined;
  }
  return v;
}

export function getBool(obj: Obj, key: string, path: FieldPath, errs: ErrorList): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    errs.typeInvalid([...path, key], v, 'a boolean');
    return undefined;
  }
  return v;
}

/** A map of string → string (labels, annotations, nodeSelector). */
export function getStringMap(obj: Obj, key: string, path: FieldPath, errs: ErrorList): Record<string, string> {
  const m = getObj(obj, key, path, errs);
  const out: Record<string, string> = {};
  if (!m) return out;
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') errs.typeInvalid([...path, key, k], v, 'a string');
    else out[k] = v;
  }
  return out;
}

/** The metadata podwire reads from any object. */
export interface ObjectMeta {
  name: string;
  /** Given or defaulted ("default" for namespaced kinds); undefined for cluster-scoped kinds without one. */
  namespace?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Validates label keys and values (metav1validation.ValidateLabels). */
export function validateLabels(labels: Record<string, string>, path: FieldPath, errs: ErrorList): void {
  for (const [k, v] of Object.entries(labels)) {
    for (const m of isQualifiedName(k)) errs.errors.push({ type: 'Invalid', path: [...path, k], value: k, detail: m, at: 'key' });
    for (const m of isValidLabelValue(v)) errs.invalid([...path, k], v, m);
  }
}

/** Validates annotation keys (qualified names, compared lower-cased as the apiserver does) and total size. */
export function validateAnnotations(ann: Record<string, string>, path: FieldPath, errs: ErrorList): void {
  let size = 0;
  for (const [k, v] of Object.entries(ann)) {
    for (const m of isQualifiedName(k.toLowerCase()))
      errs.errors.push({ type: 'Invalid', path: [...path, k], value: k, detail: m, at: 'key' });
    size += k.length + v.length;
  }
  if (size > ANNOTATIONS_MAX_BYTES) errs.forbidden(path, `Too long: must have at most ${ANNOTATIONS_MAX_BYTES} bytes`);
}

/**
 * Validates `metadata` of an object of kind `kind`. Names of most kinds are
 * DNS-1123 subdomains; namespaces are DNS-1123 labels. `namespaced` decides
 * whether a missing namespace defaults to "default". `nameRule` is the kind's
 * name validator (ValidateObjectMeta's nameFn): Services need DNS-1035 labels,
 * Namespaces DNS-1123 labels.
 */
export function validateObjectMeta(
  obj: Obj,
  namespaced: boolean | undefined,
  errs: ErrorList,
  nameRule: (name: string) => string[] = isDNS1123Subdomain,
): ObjectMeta | undefined {
  const meta = getObj(obj, 'metadata', [], errs);
  if (!meta) {
    if (obj.metadata === undefined || obj.metadata === null) errs.required(['metadata', 'name'], 'name is required');
    return undefined;
  }
  checkFields(meta, ['metadata'], OBJECT_META_FIELDS, errs);
  const name = getStr(meta, 'name', ['metadata'], errs);
  if (name === undefined) {
    if (meta.name === undefined || meta.name === null) {
      const gen = meta.generateName !== undefined;
      errs.required(['metadata', 'name'], gen ? 'podwire needs a fixed name; generateName is not supported' : 'name is required');
    }
  } else {
    for (const m of nameRule(name)) errs.invalid(['metadata', 'name'], name, m);
  }
  let namespace = getStr(meta, 'namespace', ['metadata'], errs);
  if (namespace !== undefined) {
    for (const m of isDNS1123Label(namespace)) errs.invalid(['metadata', 'namespace'], namespace, m);
  } else if (namespaced) {
    namespace = 'default';
  }
  const labels = getStringMap(meta, 'labels', ['metadata'], errs);
  validateLabels(labels, ['metadata', 'labels'], errs);
  const annotations = getStringMap(meta, 'annotations', ['metadata'], errs);
  validateAnnotations(annotations, ['metadata', 'annotations'], errs);
  if (name === undefined) return undefined;
  return { name, namespace, labels, annotations };
}

/** The built-in kind's group version and scope, if `kind` is one podwire knows. */
export function knownKind(kind: string): { apiVersion: string; namespaced: boolean } | undefined {
  return Object.prototype.hasOwnProperty.call(KNOWN_KINDS, kind) ? KNOWN_KINDS[kind] : undefined;
}

/** Type meta of any manifest: `apiVersion` and `kind` strings, and the apiVersion a known kind must use. */
export function validateTypeMeta(obj: Obj, errs: ErrorList): { apiVersion: string; kind: string } | undefined {
  const apiVersion = getStr(obj, 'apiVersion', [], errs);
  const kind = getStr(obj, 'kind', [], errs);
  if (obj.apiVersion === undefined || obj.apiVersion === null) errs.required(['apiVersion'], 'apiVersion must be set');
  if (obj.kind === undefined || obj.kind === null) errs.required(['kind'], 'kind must be set');
  if (apiVersion === undefined || kind === undefined) return undefined;
  const known = knownKind(kind);
  if (!known && BUILTIN_GROUP_VERSIONS.includes(apiVersion)) {
    const kinds = Object.keys(KNOWN_KINDS).filter((k) => KNOWN_KINDS[k].apiVersion === apiVersion);
    const near = closest(kind, kinds);
    errs.invalid(
      ['kind'],
      kind,
      `no matches for kind ${JSON.stringify(kind)} in version ${JSON.stringify(apiVersion)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`,
      `one of ${kinds.join(', ')}`,
    );
    return undefined;
  }
  if (known && known.apiVersion !== apiVersion) {
    errs.invalid(['apiVersion'], apiVersion, `no matches for kind ${JSON.stringify(kind)} in version ${JSON.stringify(apiVersion)}`, JSON.stringify(known.apiVersion));
    return undefined;
  }
  return { apiVersion, kind };
}

/** A manifest of a kind podwire does not model yet: only type meta and metadata are checked. */
export interface OtherObject {
  apiVersion: string;
  kind: string;
  meta: ObjectMeta;
  body: Obj;
}

/** Validates any object shallowly (apiVersion, kind, metadata). Unknown top-level fields are not checked. */
export function validateOther(obj: Obj): { value?: OtherObject; errors: ErrorList } {
  const errs = new ErrorList();
  const tm = validateTypeMeta(obj, errs);
  const meta = validateObjectMeta(obj, tm ? knownKind(tm.kind)?.namespaced : undefined, errs);
  if (!tm || !meta || errs.errors.length) return { errors: errs };
  return { value: { ...tm, meta, body: obj }, errors: errs };
}

/** The metadata every validated cluster-scoped object keeps (Namespace, AdminNetworkPolicy, …). */
export interface ClusterMeta {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The metadata every validated namespaced object keeps (Pod, Service, Endpoints, NetworkPolicy, …). */
export interface NamespacedMeta extends ClusterMeta {
  /** Defaulted to "default". */
  namespace: string;
}
