/**
 * Label selectors as policies carry them: strict decoding and validation as
 * apimachinery's ValidateLabelSelector does on create (operator/values rules,
 * qualified-name keys, label-value values since AllowInvalidLabelValueInSelector
 * is false for new objects), and a compiled form for matching many label sets
 * quickly. The compiled matcher has exactly the semantics of labels.ts's
 * `matchesSelector` (property-tested against it); it exists only because the
 * reachability engine matches thousands of selectors against thousands of
 * label sets and cannot afford an `Object.entries` per call.
 */
import { ErrorList, type FieldPath } from './errors.js';
import { LABEL_SELECTOR_FIELDS, LABEL_SELECTOR_REQUIREMENT_FIELDS } from './fields.js';
import type { LabelSelector, LabelSelectorRequirement, Labels } from './labels.js';
import { checkFields, getList, getStringMap, isObj, validateLabels } from './object.js';
import { isQualifiedName, isValidLabelValue } from './validation.js';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/**
 * Decodes and validates `v` (the value at `path`) as a metav1.LabelSelector.
 * Returns the selector even when a requirement is invalid, so later checks can
 * go on; callers look at `errs` before using the policy. A non-mapping records
 * a type error and returns undefined.
 *
 * Messages are apimachinery's. One difference of path, shared with every other
 * podwire validator (object.ts `validateLabels`): a bad matchLabels key or value
 * is reported at `matchLabels[key]`, where the apiserver says `matchLabels`, so
 * a scenario error can point at the offending line.
 */
export function validateLabelSelector(v: unknown, path: FieldPath, errs: ErrorList): LabelSelector | undefined {
  if (!isObj(v)) {
    errs.typeInvalid(path, v, 'a mapping');
    return undefined;
  }
  checkFields(v, path, LABEL_SELECTOR_FIELDS, errs);
  const matchLabels = getStringMap(v, 'matchLabels', path, errs);
  validateLabels(matchLabels, [...path, 'matchLabels'], errs);
  const exprs: LabelSelectorRequirement[] = [];
  (getList(v, 'matchExpressions', path, errs) ?? []).forEach((r, i) => {
    const rp: FieldPath = [...path, 'matchExpressions', i];
    if (!isObj(r)) return errs.typeInvalid(rp, r, 'a mapping');
    checkFields(r, rp, LABEL_SELECTOR_REQUIREMENT_FIELDS, errs);
    // key and operator are plain strings in Go: an absent one is "" and fails the checks below.
    const op = r.operator ?? '';
    const key = r.key ?? '';
    if (typeof op !== 'string') errs.typeInvalid([...rp, 'operator'], op, 'a string');
    if (typeof key !== 'string') errs.typeInvalid([...rp, 'key'], key, 'a string');
    const values: string[] = [];
    (getList(r, 'values', rp, errs) ?? []).forEach((x, j) => {
      if (typeof x !== 'string') errs.typeInvalid([...rp, 'values', j], x, 'a string');
      else values.push(x);
    });
    if (typeof op === 'string') {
      if (op === 'In' || op === 'NotIn') {
        if (values.length === 0) errs.required([...rp, 'values'], "must be specified when `operator` is 'In' or 'NotIn'");
      } else if (op === 'Exists' || op === 'DoesNotExist') {
        if (values.length > 0) errs.forbidden([...rp, 'values'], "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      } else {
        errs.invalid([...rp, 'operator'], op, 'not a valid selector operator', OPERATORS.join(', '));
      }
    }
    if (typeof key === 'string') for (const m of isQualifiedName(key)) errs.invalid([...rp, 'key'], key, m);
    values.forEach((x, j) => {
      for (const m of isValidLabelValue(x)) errs.invalid([...rp, 'values', j], x, m);
    });
    if (typeof key === 'string' && (OPERATORS as readonly unknown[]).includes(op))
      exprs.push({ key, operator: op as LabelSelectorRequirement['operator'], ...(values.length ? { values } : {}) });
  });
  return {
    ...(Object.keys(matchLabels).length ? { matchLabels } : {}),
    ...(exprs.length ? { matchExpressions: exprs } : {}),
  };
}

/** True for `{}` (and a selector with neither matchLabels nor matchExpressions): it matches everything. */
export function isEmptySelector(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/**
 * kubectl's text for a selector (`metav1.FormatLabelSelector`): `app=web,tier in (a,b),!x`,
 * `<none>` for the empty selector. Also the canonical key under which compiled selectors are shared.
 */
export function formatSelector(sel: LabelSelector): string {
  const parts: string[] = [];
  const ml = sel.matchLabels ?? {};
  for (const k of Object.keys(ml).sort()) parts.push(`${k}=${ml[k]}`);
  for (const r of sel.matchExpressions ?? []) {
    const vs = [...(r.values ?? [])].sort().join(',');
    switch (r.operator) {
      case 'In':
        parts.push(`${r.key} in (${vs})`);
        break;
      case 'NotIn':
        parts.push(`${r.key} notin (${vs})`);
        break;
      case 'Exists':
        parts.push(r.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${r.key}`);
        break;
    }
  }
  return parts.length ? parts.join(',') : '<none>';
}

/** A selector prepared for fast matching: flat arrays, no allocation per match. */
export interface CompiledSelector {
  readonly text: string;
  /** Label keys the selector reads (matchLabels keys and expression keys). */
  readonly keys: readonly string[];
  matches(labels: Labels): boolean;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Compiles `sel`; `matches` agrees with labels.ts `matchesSelector` on every input. */
export function compileSelector(sel: LabelSelector): CompiledSelector {
  const eqK: string[] = [];
  const eqV: string[] = [];
  const ml = sel.matchLabels ?? {};
  for (const k of Object.keys(ml)) {
    eqK.push(k);
    eqV.push(ml[k]);
  }
  // 0 In, 1 NotIn, 2 Exists, 3 DoesNotExist
  const exK: string[] = [];
  const exOp: number[] = [];
  const exV: (readonly string[])[] = [];
  for (const r of sel.matchExpressions ?? []) {
    exK.push(r.key);
    exOp.push(['In', 'NotIn', 'Exists', 'DoesNotExist'].indexOf(r.operator));
    exV.push(r.values ?? []);
  }
  const keys = [...new Set([...eqK, ...exK])];
  const n = eqK.length;
  const m = exK.length;
  return {
    text: formatSelector(sel),
    keys,
    matches(labels: Labels): boolean {
      for (let i = 0; i < n; i++) if (labels[eqK[i]] !== eqV[i]) return false;
      for (let i = 0; i < m; i++) {
        const has = hasOwn.call(labels, exK[i]);
        switch (exOp[i]) {
          case 0:
            if (!has || !exV[i].includes(labels[exK[i]])) return false;
            break;
          case 1:
            if (has && exV[i].includes(labels[exK[i]])) return false;
            break;
          case 2:
            if (!has) return false;
            break;
          case 3:
            if (has) return false;
            break;
        }
      }
      return true;
    },
  };
}
