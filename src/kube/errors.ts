/**
 * Field errors, as the apiserver reports them (k8s.io/apimachinery/pkg/util/validation/field):
 * a field path such as `spec.containers[0].name`, an error type and a detail.
 * kube knows nothing of YAML or files; the scenario loader maps a path back to
 * the YAML node (key or value) it came from and so to file:line:col.
 */

/** A path into an object: map keys and list indexes, outermost first. */
export type FieldPath = readonly (string | number)[];

export type FieldErrorType =
  | 'Required'
  | 'Invalid'
  | 'Duplicate'
  | 'NotSupported'
  | 'Forbidden'
  /** Value of the wrong JSON type (a string where an integer belongs, ...). */
  | 'TypeInvalid'
  /** A field the API does not know (strict field validation). */
  | 'UnknownField'
  /** The field is fine but the server could not act on it (an allocator range is full). */
  | 'InternalError';

export interface FieldError {
  type: FieldErrorType;
  path: FieldPath;
  /** The offending value (Invalid, Duplicate, NotSupported, TypeInvalid). */
  value?: unknown;
  /** Human detail, apimachinery wording where there is one. */
  detail?: string;
  /** What would have been accepted, when it can be said briefly. */
  expected?: string;
  /** Whether the error is about the key itself (unknown field) rather than its value. */
  at: 'key' | 'value';
}

/** `spec.containers[0].ports[1].name` */
export function formatPath(path: FieldPath): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (s === '') s = p;
    else if (/^[A-Za-z0-9_-]+$/.test(p)) s += `.${p}`;
    else s += `[${JSON.stringify(p)}]`;
  }
  return s;
}

function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') return Array.isArray(v) ? 'a list' : 'a mapping';
  return String(v);
}

/** One line, as `kubectl` prints a field error (without the "The Pod "x" is invalid:" prefix). */
export function fieldErrorMessage(e: FieldError): string {
  const p = formatPath(e.path);
  const d = e.detail !== undefined ? `: ${e.detail}` : '';
  switch (e.type) {
    case 'Required':
      return `${p}: Required value${d}`;
    case 'Invalid':
      return `${p}: Invalid value: ${showValue(e.value)}${d}`;
    case 'Duplicate':
      return `${p}: Duplicate value: ${showValue(e.value)}${d}`;
    case 'NotSupported':
      return `${p}: Unsupported value: ${showValue(e.value)}${d}`;
    case 'Forbidden':
      return `${p}: Forbidden${d}`;
    case 'TypeInvalid':
      return `${p}: Invalid value: ${showValue(e.value)}${d}`;
    case 'UnknownField':
      return `unknown field ${JSON.stringify(p)}${e.detail ?? ''}`;
    case 'InternalError':
      return `${p}: Internal error${d}`;
  }
}

/** Collects field errors while walking an object. */
export class ErrorList {
  readonly errors: FieldError[] = [];
  required(path: FieldPath, detail?: string): void {
    this.errors.push({ type: 'Required', path, detail, at: 'value' });
  }
  invalid(path: FieldPath, value: unknown, detail: string, expected?: string): void {
    this.errors.push({ type: 'Invalid', path, value, detail, expected, at: 'value' });
  }
  duplicate(path: FieldPath, value: unknown, detail?: string): void {
    this.errors.push({ type: 'Duplicate', path, value, detail, at: 'value' });
  }
  notSupported(path: FieldPath, value: unknown, supported: readonly string[]): void {
    const list = supported.map((s) => JSON.stringify(s)).join(', ');
    this.errors.push({ type: 'NotSupported', path, value, detail: `supported values: ${list}`, expected: list, at: 'value' });
  }
  forbidden(path: FieldPath, detail: string): void {
    this.errors.push({ type: 'Forbidden', path, detail, at: 'value' });
  }
  internal(path: FieldPath, detail: string): void {
    this.errors.push({ type: 'InternalError', path, detail, at: 'value' });
  }
  typeInvalid(path: FieldPath, value: unknown, want: string): void {
    this.errors.push({ type: 'TypeInvalid', path, value, detail: `must be ${want}, not ${jsonType(value)}`, at: 'value' });
  }
  unknownField(path: FieldPath, suggestion: string | undefined, allowed: readonly string[]): void {
    this.errors.push({
      type: 'UnknownField',
      path,
      detail: suggestion !== undefined ? `; did you mean ${JSON.stringify(suggestion)}?` : undefined,
      expected: `one of ${allowed.join(', ')}`,
      at: 'key',
    });
  }
}

/** The JSON type name of a value, for messages: string, integer, number, boolean, null, list, mapping. */
export function jsonType(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}
