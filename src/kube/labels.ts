/**
 * Label helpers: equality-based matching of `matchLabels` selectors and
 * set-based `matchExpressions`, with the semantics of
 * k8s.io/apimachinery/pkg/labels (an empty selector matches everything).
 */

export type Labels = Readonly<Record<string, string>>;

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: readonly string[];
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: readonly LabelSelectorRequirement[];
}

/** True when every `matchLabels` pair is present in `labels` (a Service selector, say). */
export function matchesLabels(selector: Labels, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** Full LabelSelector semantics: all matchLabels and all matchExpressions must hold. */
export function matchesSelector(sel: LabelSelector, labels: Labels): boolean {
  if (sel.matchLabels && !matchesLabels(sel.matchLabels, labels)) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = labels[r.key];
    switch (r.operator) {
      case 'In':
        if (!has || !(r.values ?? []).includes(v)) return false;
        break;
      case 'NotIn':
        if (has && (r.values ?? []).includes(v)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** `app=web,tier=front` — sorted by key, as kubectl prints selectors. */
export function formatLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}
