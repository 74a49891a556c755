/**
 * Calico selector expressions for Kubernetes policy peers, as felix sees them,
 * and the ipset names felix derives from them (REFERENCE §8.4).
 *
 * Facts followed (libcalico-go, read for facts only):
 *  - k8s conversion (`k8sSelectorToCalico`): a pod selector becomes
 *    `projectcalico.org/orchestrator == 'k8s'` followed by `k == 'v'` for
 *    matchLabels in sorted key order, then matchExpressions in order (In →
 *    `k in { 'a', 'b' }`, NotIn → `k not in { … }`, Exists → `has(k)`,
 *    DoesNotExist → `! has(k)`), joined by ` && `; an empty namespace
 *    selector becomes `all()`; a peer without podSelector still gets the
 *    orchestrator term.
 *  - the syncer's `getEndpointSelector`: the namespace selector's label
 *    names are prefixed `pcns.` (the namespace's labels as felix attaches
 *    them to endpoints), `all()` becomes `has(projectcalico.org/namespace)`;
 *    without a namespace selector a namespaced policy limits the peer to its
 *    own namespace, `projectcalico.org/namespace == '<ns>'`; the whole is
 *    `(<namespace part>) && (<selector>)`.
 *  - felix parses that text and names the ipset after the parsed selector's
 *    canonical `String()`: values in double quotes, every AND group in
 *    parentheses `(a && b)`, `!has(k)`, `k in {"a", "b"}` (a sorted set), and
 *    `UniqueID()` = "s:" + base64url-nopad(sha224("s:" + String())). The main
 *    set is `cali40` + id cut to 31 characters (ipset's name limit).
 *
 * Membership is computed with Kubernetes selector semantics over the
 * informer's pods (compileSelector), which is what the Calico expression
 * means on the labels felix gives a workload endpoint.
 */
import * as nodeCrypto from 'node:crypto';
import type { LabelSelector } from '../../kube/labels.js';

/** A node of felix's selector AST, reduced to what k8s conversion produces. */
export type SelNode =
  | { k: 'eq'; label: string; value: string }
  | { k: 'in' | 'notin'; label: string; values: string[] }
  | { k: 'has'; label: string }
  | { k: 'not'; of: SelNode }
  | { k: 'all' }
  | { k: 'and'; of: SelNode[] };

const quote = (s: string): string => (s.includes('"') ? `'${s}'` : `"${s}"`);

/** The parsed selector's canonical text (libcalico-go parser `String()`). */
export function selectorString(n: SelNode): string {
  switch (n.k) {
    case 'eq': return `${n.label} == ${quote(n.value)}`;
    case 'in':
    case 'notin': {
      const vals = [...new Set(n.values)].sort();
      return `${n.label} ${n.k === 'in' ? 'in' : 'not in'} {${vals.map(quote).join(', ')}}`;
    }
    case 'has': return `has(${n.label})`;
    case 'not': return `!${selectorString(n.of)}`;
    case 'all': return 'all()';
    case 'and': return n.of.length === 1 ? selectorString(n.of[0]!) : `(${n.of.map(selectorString).join(' && ')})`;
  }
}

const and = (of: SelNode[]): SelNode => (of.length === 1 ? of[0]! : { k: 'and', of });

export const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';
export const NAMESPACE_LABEL = 'projectcalico.org/namespace';
export const NAMESPACE_LABEL_PREFIX = 'pcns.';

function terms(sel: LabelSelector, prefix: string): SelNode[] {
  const out: SelNode[] = [];
  const ml = sel.matchLabels ?? {};
  for (const k of Object.keys(ml).sort()) out.push({ k: 'eq', label: prefix + k, value: ml[k]! });
  for (const e of sel.matchExpressions ?? []) {
    const label = prefix + e.key;
    if (e.operator === 'In') out.push({ k: 'in', label, values: [...(e.values ?? [])] });
    else if (e.operator === 'NotIn') out.push({ k: 'notin', label, values: [...(e.values ?? [])] });
    else if (e.operator === 'Exists') out.push({ k: 'has', label });
    else out.push({ k: 'not', of: { k: 'has', label } });
  }
  return out;
}

/** A pod selector as k8s conversion writes it (orchestrator term first). */
export function podSelectorNode(sel: LabelSelector | undefined): SelNode {
  return and([{ k: 'eq', label: ORCHESTRATOR_LABEL, value: 'k8s' }, ...(sel ? terms(sel, '') : [])]);
}

/** A namespace selector with the pcns. prefix; `{}` (all()) → has(projectcalico.org/namespace). */
export function namespaceSelectorNode(sel: LabelSelector): SelNode {
  const t = terms(sel, NAMESPACE_LABEL_PREFIX);
  return t.length ? and(t) : { k: 'has', label: NAMESPACE_LABEL };
}

/**
 * The endpoint selector of a Kubernetes NetworkPolicy peer (podSelector and/or
 * namespaceSelector) in namespace `ns`.
 */
export function npPeerSelector(ns: string, podSelector: LabelSelector | undefined, namespaceSelector: LabelSelector | undefined): SelNode {
  const nsPart: SelNode = namespaceSelector ? namespaceSelectorNode(namespaceSelector) : { k: 'eq', label: NAMESPACE_LABEL, value: ns };
  return { k: 'and', of: [nsPart, podSelectorNode(podSelector)] };
}

/**
 * An (Baseline)AdminNetworkPolicy peer as Calico's ANP conversion writes it
 * (a global policy): `namespaces` → the namespace part alone; `pods` →
 * (namespace part) && (pod selector).
 */
export function anpPeerSelector(namespaceSelector: LabelSelector, podSelector?: LabelSelector): SelNode {
  const nsPart = namespaceSelectorNode(namespaceSelector);
  return podSelector ? { k: 'and', of: [nsPart, podSelectorNode(podSelector)] } : nsPart;
}

function sha224b64(s: string): string {
  return nodeCrypto.createHash('sha224').update(s).digest('base64url');
}

/** libcalico-go hash.MakeUniqueID(prefix, content). */
export function uniqueId(prefix: string, content: string): string {
  return `${prefix}:${sha224b64(`${prefix}:${content}`)}`;
}

/** felix's main IPv4 set name for an ipset id: `cali40` + id, at most 31 characters. */
export function ipsetName(id: string): string {
  return ('cali40' + id).slice(0, 31);
}

/** The selector's ipset id and name. */
export function selectorSet(n: SelNode): { text: string; id: string; name: string } {
  const text = selectorString(n);
  const id = uniqueId('s', text);
  return { text, id, name: ipsetName(id) };
}

/**
 * A named-port set (hash:ip,port): members are (ip, proto:port) of the
 * endpoints matching `selector` that have the named port. The exact content
 * felix hashes for the `n:` id was not traced; podwire hashes
 * "<selector>,<protocol>,<name>" the same way (deterministic, distinct per
 * input).
 */
export function namedPortSet(selectorText: string, protocol: string, name: string): { id: string; name: string } {
  const id = uniqueId('n', `${selectorText},${protocol.toLowerCase()},${name}`);
  return { id, name: ipsetName(id) };
}
