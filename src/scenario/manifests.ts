/**
 * The `manifests:` list of a scenario: Kubernetes objects given as inline YAML
 * strings (one or more documents separated by `---`), as `{file: path}`
 * references (relative to the scenario file, inside its folder unless
 * allowOutsideFiles: input-files.ts), or as a YAML mapping written in
 * place. Each document is decoded and validated as the apiserver would (Pods,
 * Namespaces, Services, Endpoints, EndpointSlices, Deployments, ReplicaSets,
 * NetworkPolicies and the
 * AdminNetworkPolicy/BaselineAdminNetworkPolicy CRDs fully, other kinds by
 * type meta and metadata only), and every error is
 * reported at the position of the offending node in the file the user wrote:
 * inside a literal block scalar (`|`), inner line L / column C maps to the
 * scenario line of the block's first content line + L - 1 and column C plus
 * the block's indentation; inside a `{file: …}` document, to that file.
 * (Quoted or folded `>` strings cannot be mapped line by line; errors in them
 * point at the string's start.)
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type Node, type Pair, Scalar, type YAMLMap } from 'yaml';
import { fieldErrorMessage, type FieldError, type FieldPath } from '../kube/errors.js';
import { validateEndpoints, validateEndpointSlice } from '../kube/endpoints.js';
import type { ErrorList } from '../kube/errors.js';
import { validateNamespace } from '../kube/namespace.js';
import { isObj, validateOther, type Obj } from '../kube/object.js';
import { validatePod } from '../kube/pod.js';
import { validateService } from '../kube/service.js';
import { validateNetworkPolicy } from '../kube/networkpolicy.js';
import { validateAdminNetworkPolicy, validateBaselineAdminNetworkPolicy } from '../kube/admin-network-policy.js';
import { validateDeployment, validateReplicaSet } from '../kube/workload.js';
import { InputError } from './errors.js';
import type { Manifest, PodSpec, PolicyValue, SourcePos } from './types.js';
import { embeddedSrc, fileSrc, fixedSrc, parseYamlDocs, type Src, type Y } from './validateYaml.js';
import { scalarOrigin } from './embedded-text.js';
import { readInputFile, resolveInclude } from './input-files.js';
import { FlowLineMap } from './flow-lines.js';

/** A validated manifest and a way back from its field paths to source positions. */
export interface LoadedManifest {
  manifest: Manifest;
  /** Position of the node at `path` (its key when `which` is 'key'); the deepest existing ancestor if absent. */
  at(path: FieldPath, which?: 'key' | 'value'): SourcePos;
}

/** Loads and validates every manifest of the `manifests:` list `list` of scenario file `file`. */
export function loadManifests(list: Y, file: string): LoadedManifest[] {
  const out: LoadedManifest[] = [];
  for (const item of list.list()) out.push(...loadManifestItem(item, file));
  return out;
}

/**
 * One item of a manifest list (or an event's `manifest:`): a string of YAML
 * documents, `{file: PATH}` or a mapping written in place.
 */
export function loadManifestItem(item: Y, file: string): LoadedManifest[] {
  const out: LoadedManifest[] = [];
  const n = item.node;
  // A one-line flow mapping (flow-lines.ts): its plain value is read from the text, its nodes only built for an error's position.
  const plain = n instanceof FlowLineMap ? n.plain() : undefined;
  if (n && isScalar(n) && typeof n.value === 'string') {
    out.push(...loadText(n.value, embeddedTextSrc(n, item)));
  } else if (n && isMap(n) && isFileRef(plain ? Object.keys(plain) : mapKeys(n))) {
    const m = item.map(['file'], ['file']);
    const f = m.req('file');
    const rel = f.str('a path relative to the scenario file');
    const path = resolveInclude(rel, file, item.src.allowOutsideFiles === true, f.keyPos);
    const text = readInputFile(path, 'manifest file', f.pos);
    out.push(...loadText(text, (lc) => fileSrc(path, lc)));
  } else if (n && isMap(n)) {
    // A Kubernetes object written in place as a YAML mapping.
    out.push(loadDoc(n, item.src, undefined, plain));
  } else {
    item.wrongType('a YAML string holding manifests, {file: PATH}, or a mapping', 'a block string (|) of Kubernetes objects or {file: path.yaml}');
  }
  return out;
}

/** A mapping item is a `{file: …}` reference unless it looks like an object (apiVersion or kind) without a `file` key. */
function isFileRef(keys: string[]): boolean {
  return keys.includes('file') || !(keys.includes('apiVersion') || keys.includes('kind'));
}

function mapKeys(n: YAMLMap): string[] {
  return n.items.map((p) => (isScalar(p.key) ? String((p.key as Scalar).value) : ''));
}

/** How positions inside the string scalar `n` map to the scenario file. */
function embeddedTextSrc(n: Scalar, item: Y): (lc: import('yaml').LineCounter) => Src {
  const o = scalarOrigin(n, item);
  if (!o.exact) return () => fixedSrc(item.pos);
  return (lc) => embeddedSrc(o.file, lc, o.line, o.indent);
}

function loadText(text: string, mk: (lc: import('yaml').LineCounter) => Src): LoadedManifest[] {
  const { docs, src } = parseYamlDocs(text, mk);
  const out: LoadedManifest[] = [];
  for (const d of docs) {
    if (d.contents === null || (isScalar(d.contents) && d.contents.value === null)) continue; // empty document
    out.push(loadDoc(d.contents as Node, { ...src, doc: d }, d));
  }
  return out;
}

/** Validates one manifest; `plain` is its value when already known (else `node.toJS`). */
function loadDoc(node: Node, src: Src, doc: Document.Parsed | undefined, plain?: unknown): LoadedManifest {
  const start = src.pos(node.range?.[0] ?? 0);
  if (!isMap(node)) {
    throw InputError.at(start, `a manifest must be a mapping (a Kubernetes object), got ${isSeq(node) ? 'a list' : 'a scalar'}`, 'apiVersion, kind, metadata, ...');
  }
  let obj: unknown = plain;
  if (obj === undefined) try {
    obj = node.toJS(doc ?? (src.doc as Document.Parsed), { maxAliasCount: 100 });
  } catch (e) {
    throw InputError.at(start, `cannot decode manifest: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
  if (!isObj(obj)) throw InputError.at(start, 'a manifest must be a mapping (a Kubernetes object)');
  const at = (path: FieldPath, which: 'key' | 'value' = 'value') => resolvePos(node, path, which, src);
  const kind = obj.kind;
  const res = kind === 'Pod' ? validatePod(obj) : validateOther(obj);
  if (res.errors.errors.length) {
    throw firstError(res.errors.errors, obj, at);
  }
  // Kinds validated in full. Only the errors matter here: the manifest keeps
  // its body as given, and the cluster builder re-validates for the typed object.
  const full = FULL_KINDS[String(kind)];
  if (full && (obj.apiVersion === full.apiVersion)) {
    const errs = full.validate(obj);
    if (errs.errors.length) throw firstError(errs.errors, obj, at);
  }
  if (kind === 'Pod') {
    const p = (res as ReturnType<typeof validatePod>).value!;
    const pod: PodSpec = {
      kind: 'Pod',
      name: p.name,
      namespace: p.namespace,
      labels: p.labels,
      annotations: p.annotations,
      nodeName: p.nodeName,
      hostNetwork: p.hostNetwork,
      containers: p.containers.map((c) => ({ name: c.name, image: c.image, ports: c.ports.map(({ name, containerPort, protocol }) => (name !== undefined ? { name, containerPort, protocol } : { containerPort, protocol })) })),
      body: p.body,
      pos: start,
    };
    return { manifest: pod, at };
  }
  const o = (res as ReturnType<typeof validateOther>).value!;
  // Policies: validated and defaulted as the apiserver (NetworkPolicy) or the CRD (ANP/BANP) does; the typed object is kept.
  let policy: PolicyValue | undefined;
  const pv = POLICY_VALIDATORS[o.kind];
  if (pv && o.apiVersion === pv.apiVersion) {
    const r = pv.validate(obj);
    if (!r.value) throw firstError(r.errors.errors, obj, at);
    policy = r.value;
  }
  const namespaced = !policy || policy.kind === 'NetworkPolicy';
  return {
    manifest: {
      kind: o.kind,
      apiVersion: o.apiVersion,
      name: o.meta.name,
      ...(o.meta.namespace !== undefined && namespaced ? { namespace: o.meta.namespace } : {}),
      body: o.body,
      ...(policy ? { policy } : {}),
      pos: start,
    },
    at,
  };
}

/** The policy kinds (at their apiVersion): validated in full, the typed object kept in `manifest.policy`. */
const POLICY_VALIDATORS: Record<string, { apiVersion: string; validate: (o: Obj) => { value?: PolicyValue; errors: ErrorList } }> = {
  NetworkPolicy: {
    apiVersion: 'networking.k8s.io/v1',
    validate: (o) => { const r = validateNetworkPolicy(o); return { errors: r.errors, ...(r.value ? { value: { kind: 'NetworkPolicy', value: r.value } } : {}) }; },
  },
  AdminNetworkPolicy: {
    apiVersion: 'policy.networking.k8s.io/v1alpha1',
    validate: (o) => { const r = validateAdminNetworkPolicy(o); return { errors: r.errors, ...(r.value ? { value: { kind: 'AdminNetworkPolicy', value: r.value } } : {}) }; },
  },
  BaselineAdminNetworkPolicy: {
    apiVersion: 'policy.networking.k8s.io/v1alpha1',
    validate: (o) => { const r = validateBaselineAdminNetworkPolicy(o); return { errors: r.errors, ...(r.value ? { value: { kind: 'BaselineAdminNetworkPolicy', value: r.value } } : {}) }; },
  },
};

/** Kinds (at their built-in apiVersion) that get the apiserver's full create validation. */
const FULL_KINDS: Record<string, { apiVersion: string; validate: (o: Obj) => ErrorList }> = {
  Namespace: { apiVersion: 'v1', validate: (o) => validateNamespace(o).errors },
  Service: { apiVersion: 'v1', validate: (o) => validateService(o).errors },
  Endpoints: { apiVersion: 'v1', validate: (o) => validateEndpoints(o).errors },
  EndpointSlice: { apiVersion: 'discovery.k8s.io/v1', validate: (o) => validateEndpointSlice(o).errors },
  Deployment: { apiVersion: 'apps/v1', validate: (o) => validateDeployment(o).errors },
  ReplicaSet: { apiVersion: 'apps/v1', validate: (o) => validateReplicaSet(o).errors },
};

/**
 * The error to report, worded as kubectl words it and prefixed with the object.
 * As in the apiserver, decoding problems (unknown fields, wrong JSON types) come
 * before validation; within a class, the one nearest the top of the file wins.
 */
function firstError(errors: FieldError[], obj: Obj, at: LoadedManifest['at']): InputError {
  const decoding = errors.filter((e) => e.type === 'UnknownField' || e.type === 'TypeInvalid');
  let best: { e: FieldError; p: SourcePos } | undefined;
  for (const e of decoding.length ? decoding : errors) {
    const p = at(e.path, e.at);
    if (!best || p.line < best.p.line || (p.line === best.p.line && p.col < best.p.col)) best = { e, p };
  }
  const { e, p } = best!;
  return InputError.at(p, `${objectName(obj)} is invalid: ${fieldErrorMessage(e)}`, e.expected);
}

function objectName(obj: Obj): string {
  const kind = typeof obj.kind === 'string' ? obj.kind : 'manifest';
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  return typeof meta.name === 'string' ? `${kind} ${JSON.stringify(meta.name)}` : kind;
}

/** Walks `path` down from `root`; returns the position of the key or value found, or of the deepest ancestor. */
function resolvePos(root: Node, path: FieldPath, which: 'key' | 'value', src: Src): SourcePos {
  let cur: Node | null = root;
  let lastKey: Node | null = null;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (cur && src.doc && isAlias(cur)) cur = (cur.resolve(src.doc) as Node | undefined) ?? null;
    let next: Node | null | undefined;
    let key: Node | null = null;
    if (cur && isMap(cur) && typeof seg === 'string') {
      const pair: Pair<Node, Node | null> | undefined = (cur.items as Pair<Node, Node | null>[]).find((p) => isScalar(p.key) && String((p.key as Scalar).value) === seg);
      if (pair) {
        key = pair.key;
        next = pair.value;
        if (i === path.length - 1 && which === 'key') return posOf(pair.key, src);
      }
    } else if (cur && isSeq(cur) && typeof seg === 'number') {
      next = (cur.items[seg] as Node | undefined) ?? undefined;
    }
    if (next === undefined) return posOf(lastKey ?? cur ?? root, src); // absent: point at the parent (its key when it has one)
    if (next === null || (isScalar(next) && next.value === null)) return posOf(key ?? cur ?? root, src);
    cur = next;
    lastKey = key;
  }
  return posOf(cur ?? root, src);
}

function posOf(n: Node, src: Src): SourcePos {
  return src.pos(n.range?.[0] ?? 0);
}
