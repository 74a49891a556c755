/**
 * policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy (ANP) and
 * BaselineAdminNetworkPolicy (BANP), sigs.k8s.io/network-policy-api v0.1.x.
 * These are CRDs: the apiserver checks them with the CRD's OpenAPI schema and
 * CEL rules only, and the messages below are those the apiextensions server
 * gives (`spec.priority in body should be less than or equal to 1000`, enum
 * errors as Unsupported value, CEL messages verbatim).
 *
 * Fields: both channels' — standard (subject namespaces|pods; peers
 * namespaces|pods, egress networks; ports portNumber|portRange) and
 * experimental (egress `nodes` peers, `namedPort`, with the CEL rule that
 * forbids named ports beside networks/nodes peers).
 *
 * podwire departures, each a field error that says so:
 * - `domainNames` egress peers (experimental, FQDN policy) are refused: podwire has no DNS-snooping data path.
 * - Label selectors are validated as built-in selectors are (operator, values,
 *   key syntax). The CRD schema does not check them, but an implementation
 *   cannot evaluate an invalid selector, so podwire refuses it up front.
 * - IPv6 `networks` CIDRs (the API's CIDR type is dual-stack: "10.0.0.0/8" or
 *   "fd00::/8") are accepted when CEL's isCIDR would accept them, and left out
 *   of the typed peer: in an IPv4 single-stack cluster no packet can match them.
 *   A peer whose CIDRs are all IPv6 keeps an empty `networks` list and matches
 *   nothing. (Refusing them rejected upstream's conformance manifests, whose
 *   "deny to the internet" peers list `0.0.0.0/0` and `::/0` together.)
 * - The apiextensions server reports maxItems/maxLength as "Too many"/"Too
 *   long"; errors.ts has no such types, so they are Invalid values with
 *   apimachinery's detail ("must have at most 100 items", "may not be more than 100 bytes").
 * - The BANP name rule is a CEL rule on the root object (reported at `<nil>`);
 *   podwire reports it at `metadata.name`, where the scenario file can point.
 */
import { ErrorList, formatPath, type FieldPath } from './errors.js';
import {
  ANP_ACTIONS,
  ANP_EGRESS_PEER_FIELDS,
  ANP_EGRESS_RULE_FIELDS,
  ANP_FIELDS,
  ANP_INGRESS_PEER_FIELDS,
  ANP_INGRESS_RULE_FIELDS,
  ANP_NAMESPACED_POD_FIELDS,
  ANP_PORT_FIELDS,
  ANP_PORT_NUMBER_FIELDS,
  ANP_PORT_RANGE_FIELDS,
  ANP_SPEC_FIELDS,
  ANP_SUBJECT_FIELDS,
  BANP_ACTIONS,
  BANP_EGRESS_PEER_FIELDS,
  BANP_SPEC_FIELDS,
  PROTOCOLS,
} from './fields.js';
import { parseCidr4, type Cidr4 } from './ip.js';
import type { LabelSelector } from './labels.js';
import { absent, checkFields, getList, getObj, isObj, validateObjectMeta, validateTypeMeta, type Obj, type ClusterMeta } from './object.js';
import type { Protocol } from './pod.js';
import { validateLabelSelector } from './policy-selector.js';

export type AnpAction = (typeof ANP_ACTIONS)[number];
export type BanpAction = (typeof BANP_ACTIONS)[number];

/** Pods matching `podSelector` in namespaces matching `namespaceSelector` (`{}` = all). */
export interface NamespacedPodSelector {
  namespaceSelector: LabelSelector;
  podSelector: LabelSelector;
}

/** Exactly one of the two is set. Host-network pods are never subjects. */
export interface AnpSubject {
  namespaces?: LabelSelector;
  pods?: NamespacedPodSelector;
}

/** Exactly one field is set. `nodes` and `networks` occur in egress rules only. */
export interface AnpPeer {
  /** Every (pod-network) pod of the selected namespaces. */
  namespaces?: LabelSelector;
  pods?: NamespacedPodSelector;
  /** The IPs of the selected nodes (and so host-network pods on them). Experimental channel. */
  nodes?: LabelSelector;
  /** Destination addresses, pod IPs included (cluster traffic is checked against networks too). IPv4 entries only: IPv6 ones are valid but can match nothing here. */
  networks?: { cidr: string; net: Cidr4 }[];
}

export type AnpPort =
  | { kind: 'number'; protocol: Protocol; port: number }
  /** A container port name on the destination pod; its protocol is the container port's. Experimental channel. */
  | { kind: 'named'; name: string }
  /** Inclusive; the CRD does not check start ≤ end, and a reversed range matches nothing. */
  | { kind: 'range'; protocol: Protocol; start: number; end: number };

export interface AnpRule<A extends string = AnpAction> {
  /** '' when not given. */
  name: string;
  action: A;
  /** `from` (ingress) or `to` (egress): at least one. */
  peers: AnpPeer[];
  /** undefined: every port and protocol. */
  ports?: AnpPort[];
}

export interface AdminNetworkPolicy extends ClusterMeta {
  /** 0..1000; lower numbers are evaluated first. */
  priority: number;
  subject: AnpSubject;
  ingress: AnpRule<AnpAction>[];
  egress: AnpRule<AnpAction>[];
  body: Obj;
}

export interface BaselineAdminNetworkPolicy {
  /** Always "default". */
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  subject: AnpSubject;
  ingress: AnpRule<BanpAction>[];
  egress: AnpRule<BanpAction>[];
  body: Obj;
}

export const ANP_MAX_PRIORITY = 1000;
export const ANP_MAX_RULES = 100;
export const ANP_MAX_PEERS = 100;
export const ANP_MAX_PORTS = 100;
export const ANP_MAX_NETWORKS = 25;
export const ANP_RULE_NAME_MAX = 100;
export const ANP_CIDR_MAX_LENGTH = 43;
export const BANP_NAME = 'default';

/** Schema checks with the apiextensions server's wording. */
class Schema {
  constructor(readonly errs: ErrorList) {}
  tooMany(path: FieldPath, actual: number, max: number): void {
    this.errs.invalid(path, actual, `must have at most ${max} items`);
  }
  tooFew(path: FieldPath, actual: number, min: number, what: 'items' | 'properties'): void {
    this.errs.invalid(path, actual, `${formatPath(path)} in body should have at least ${min} ${what}`);
  }
  tooLong(path: FieldPath, value: string, max: number): void {
    this.errs.invalid(path, value, `may not be more than ${max} bytes`);
  }
  /** minProperties 1 / maxProperties 1: how many of `keys` are set. */
  exactlyOne(o: Obj, path: FieldPath, keys: readonly string[]): void {
    const n = Object.keys(o).filter((k) => keys.includes(k) && !absent(o, k)).length;
    if (n === 0) this.tooFew(path, 0, 1, 'properties');
    else if (n > 1) this.tooMany(path, n, 1);
  }
  /** minItems 1 / maxItems `max` for a present list. */
  itemCount(list: unknown[], path: FieldPath, max: number): void {
    if (list.length === 0) this.tooFew(path, 0, 1, 'items');
    else if (list.length > max) this.tooMany(path, list.length, max);
  }
  int(o: Obj, key: string, path: FieldPath, min: number, max: number): number | undefined {
    const v = o[key];
    const p = [...path, key];
    if (v === undefined || v === null) {
      this.errs.required(p);
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      this.errs.typeInvalid(p, v, 'an integer');
      return undefined;
    }
    if (v < min) this.errs.invalid(p, v, `${formatPath(p)} in body should be greater than or equal to ${min}`);
    if (v > max) this.errs.invalid(p, v, `${formatPath(p)} in body should be less than or equal to ${max}`);
    return v;
  }
  protocol(o: Obj, path: FieldPath): Protocol | undefined {
    const v = o.protocol;
    if (v === undefined || v === null) return 'TCP';
    if (typeof v !== 'string') {
      this.errs.typeInvalid([...path, 'protocol'], v, 'a string');
      return undefined;
    }
    // The CRD schema has no enum for protocol (core/v1 Protocol is a plain string there);
    // podwire models TCP, UDP and SCTP only, as NetworkPolicy does.
    if (!(PROTOCOLS as readonly string[]).includes(v)) {
      this.errs.notSupported([...path, 'protocol'], v, PROTOCOLS);
      return undefined;
    }
    return v as Protocol;
  }
}

interface Flavour {
  kind: 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy';
  actions: readonly string[];
  egressPeerFields: readonly string[];
  namedPortMessage: string;
}

const ANP_FLAVOUR: Flavour = {
  kind: 'AdminNetworkPolicy',
  actions: ANP_ACTIONS,
  egressPeerFields: ANP_EGRESS_PEER_FIELDS,
  namedPortMessage:
    'networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames',
};
const BANP_FLAVOUR: Flavour = {
  kind: 'BaselineAdminNetworkPolicy',
  actions: BANP_ACTIONS,
  egressPeerFields: BANP_EGRESS_PEER_FIELDS,
  namedPortMessage: 'networks/nodes peer cannot be set with namedPorts since there are no namedPorts for networks/nodes',
};

/** Validates a decoded AdminNetworkPolicy. `value` is set only when there are no errors. */
export function validateAdminNetworkPolicy(obj: Obj): { value?: AdminNetworkPolicy; errors: ErrorList } {
  const errs = new ErrorList();
  const r = validateCommon(obj, ANP_FLAVOUR, errs);
  if (!r) return { errors: errs };
  const s = new Schema(errs);
  const priority = s.int(r.spec, 'priority', ['spec'], 0, ANP_MAX_PRIORITY);
  if (errs.errors.length || priority === undefined) return { errors: errs };
  return {
    value: {
      name: r.meta.name,
      labels: r.meta.labels,
      annotations: r.meta.annotations,
      priority,
      subject: r.subject,
      ingress: r.ingress as AnpRule<AnpAction>[],
      egress: r.egress as AnpRule<AnpAction>[],
      body: obj,
    },
    errors: errs,
  };
}

/** Validates a decoded BaselineAdminNetworkPolicy (its name must be "default"). */
export function validateBaselineAdminNetworkPolicy(obj: Obj): { value?: BaselineAdminNetworkPolicy; errors: ErrorList } {
  const errs = new ErrorList();
  const r = validateCommon(obj, BANP_FLAVOUR, errs);
  if (r && r.meta.name !== BANP_NAME)
    errs.invalid(
      ['metadata', 'name'],
      r.meta.name,
      'Only one baseline admin network policy with metadata.name="default" can be created in the cluster',
      JSON.stringify(BANP_NAME),
    );
  if (!r || errs.errors.length) return { errors: errs };
  return {
    value: {
      name: r.meta.name,
      labels: r.meta.labels,
      annotations: r.meta.annotations,
      subject: r.subject,
      ingress: r.ingress as AnpRule<BanpAction>[],
      egress: r.egress as AnpRule<BanpAction>[],
      body: obj,
    },
    errors: errs,
  };
}

function validateCommon(obj: Obj, f: Flavour, errs: ErrorList) {
  const s = new Schema(errs);
  checkFields(obj, [], ANP_FIELDS, errs);
  const tm = validateTypeMeta(obj, errs);
  if (tm && tm.kind !== f.kind) errs.invalid(['kind'], tm.kind, `expected kind ${f.kind}`);
  const meta = validateObjectMeta(obj, false, errs);
  const sp: FieldPath = ['spec'];
  if (absent(obj, 'spec')) errs.required(sp);
  const spec = getObj(obj, 'spec', [], errs) ?? {};
  checkFields(spec, sp, f.kind === 'AdminNetworkPolicy' ? ANP_SPEC_FIELDS : BANP_SPEC_FIELDS, errs);
  let subject: AnpSubject | undefined;
  if (!absent(obj, 'spec') && absent(spec, 'subject')) errs.required([...sp, 'subject']);
  else if (!absent(spec, 'subject')) {
    const so = getObj(spec, 'subject', sp, errs);
    if (so) {
      const pp: FieldPath = [...sp, 'subject'];
      checkFields(so, pp, ANP_SUBJECT_FIELDS, errs);
      s.exactlyOne(so, pp, ANP_SUBJECT_FIELDS);
      subject = {};
      if (!absent(so, 'namespaces')) subject.namespaces = validateLabelSelector(so.namespaces, [...pp, 'namespaces'], errs);
      if (!absent(so, 'pods')) subject.pods = validateNamespacedPod(so.pods, [...pp, 'pods'], errs);
    }
  }
  const ingress = validateRules(spec, 'ingress', f, s);
  const egress = validateRules(spec, 'egress', f, s);
  if (!tm || !meta || !subject) return undefined;
  return { meta, spec, subject, ingress, egress };
}

function validateNamespacedPod(v: unknown, path: FieldPath, errs: ErrorList): NamespacedPodSelector | undefined {
  if (!isObj(v)) {
    errs.typeInvalid(path, v, 'a mapping');
    return undefined;
  }
  checkFields(v, path, ANP_NAMESPACED_POD_FIELDS, errs);
  if (absent(v, 'namespaceSelector')) errs.required([...path, 'namespaceSelector']);
  if (absent(v, 'podSelector')) errs.required([...path, 'podSelector']);
  const namespaceSelector = absent(v, 'namespaceSelector') ? undefined : validateLabelSelector(v.namespaceSelector, [...path, 'namespaceSelector'], errs);
  const podSelector = absent(v, 'podSelector') ? undefined : validateLabelSelector(v.podSelector, [...path, 'podSelector'], errs);
  if (!namespaceSelector || !podSelector) return undefined;
  return { namespaceSelector, podSelector };
}

function validateRules(spec: Obj, dir: 'ingress' | 'egress', f: Flavour, s: Schema): AnpRule<string>[] {
  const errs = s.errs;
  const list = getList(spec, dir, ['spec'], errs) ?? [];
  if (list.length > ANP_MAX_RULES) s.tooMany(['spec', dir], list.length, ANP_MAX_RULES);
  const out: AnpRule<string>[] = [];
  const peersKey = dir === 'ingress' ? 'from' : 'to';
  list.forEach((r, i) => {
    const rp: FieldPath = ['spec', dir, i];
    if (!isObj(r)) return errs.typeInvalid(rp, r, 'a mapping');
    checkFields(r, rp, dir === 'ingress' ? ANP_INGRESS_RULE_FIELDS : ANP_EGRESS_RULE_FIELDS, errs);
    let name = '';
    if (!absent(r, 'name')) {
      if (typeof r.name !== 'string') errs.typeInvalid([...rp, 'name'], r.name, 'a string');
      else {
        name = r.name;
        if (Buffer.byteLength(name) > ANP_RULE_NAME_MAX) s.tooLong([...rp, 'name'], name, ANP_RULE_NAME_MAX);
      }
    }
    let action: string | undefined;
    if (absent(r, 'action')) errs.required([...rp, 'action']);
    else if (typeof r.action !== 'string') errs.typeInvalid([...rp, 'action'], r.action, 'a string');
    else if (!f.actions.includes(r.action)) errs.notSupported([...rp, 'action'], r.action, f.actions);
    else action = r.action;

    const peers: AnpPeer[] = [];
    if (absent(r, peersKey)) errs.required([...rp, peersKey]);
    else {
      const pl = getList(r, peersKey, rp, errs);
      if (pl) {
        s.itemCount(pl, [...rp, peersKey], ANP_MAX_PEERS);
        pl.forEach((p, j) => {
          const v = validatePeer(p, [...rp, peersKey, j], dir === 'ingress' ? ANP_INGRESS_PEER_FIELDS : f.egressPeerFields, s);
          if (v) peers.push(v);
        });
      }
    }
    let ports: AnpPort[] | undefined;
    if (!absent(r, 'ports')) {
      const pl = getList(r, 'ports', rp, errs);
      if (pl) {
        s.itemCount(pl, [...rp, 'ports'], ANP_MAX_PORTS);
        ports = [];
        pl.forEach((p, j) => {
          const v = validatePort(p, [...rp, 'ports', j], s);
          if (v) ports!.push(v);
        });
      }
    }
    // The experimental egress rule's CEL rule.
    if (dir === 'egress' && ports?.some((p) => p.kind === 'named') && Array.isArray(r.to) && r.to.some((p) => isObj(p) && (!absent(p, 'networks') || !absent(p, 'nodes') || !absent(p, 'domainNames'))))
      errs.invalid(rp, 'object', f.namedPortMessage);
    if (action !== undefined) out.push({ name, action, peers, ...(ports ? { ports } : {}) });
  });
  return out;
}

function validatePeer(p: unknown, pp: FieldPath, fields: readonly string[], s: Schema): AnpPeer | undefined {
  const errs = s.errs;
  if (!isObj(p)) {
    errs.typeInvalid(pp, p, 'a mapping');
    return undefined;
  }
  checkFields(p, pp, fields, errs);
  s.exactlyOne(p, pp, fields);
  const out: AnpPeer = {};
  if (!absent(p, 'namespaces')) out.namespaces = validateLabelSelector(p.namespaces, [...pp, 'namespaces'], errs);
  if (!absent(p, 'pods')) out.pods = validateNamespacedPod(p.pods, [...pp, 'pods'], errs);
  if (fields.includes('nodes') && !absent(p, 'nodes')) out.nodes = validateLabelSelector(p.nodes, [...pp, 'nodes'], errs);
  if (fields.includes('domainNames') && !absent(p, 'domainNames'))
    errs.forbidden([...pp, 'domainNames'], 'domainNames peers are not supported by podwire (it has no FQDN-based policy data path)');
  if (fields.includes('networks') && !absent(p, 'networks')) {
    const nl = getList(p, 'networks', pp, errs);
    if (nl) {
      const np: FieldPath = [...pp, 'networks'];
      s.itemCount(nl, np, ANP_MAX_NETWORKS);
      const seen = new Set<string>();
      out.networks = [];
      nl.forEach((c, k) => {
        const cp: FieldPath = [...np, k];
        if (typeof c !== 'string') return errs.typeInvalid(cp, c, 'a string');
        if (seen.has(c)) errs.duplicate(cp, c); // x-kubernetes-list-type: set
        seen.add(c);
        if (Buffer.byteLength(c) > ANP_CIDR_MAX_LENGTH) s.tooLong(cp, c, ANP_CIDR_MAX_LENGTH);
        const r = cidrForCel(c);
        if (!r) errs.invalid(cp, 'string', 'Invalid CIDR format provided');
        else if (r !== 'ipv6') out.networks!.push({ cidr: c, net: r });
      });
    }
  }
  return out;
}

/**
 * CEL's isCIDR (net/netip ParsePrefix): a dotted quad without leading zeros
 * and a prefix length without leading zeros; host bits may be set. An IPv6
 * prefix (netip's syntax: no zone, length 0..128 without leading zeros) gives 'ipv6'.
 */
function cidrForCel(s: string): Cidr4 | 'ipv6' | undefined {
  const m = /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(s);
  if (!m) {
    const v6 = /^([0-9A-Fa-f:.]+)\/(0|[1-9][0-9]{0,2})$/.exec(s);
    return v6 && isIPv6Text(v6[1]) && Number(v6[2]) <= 128 ? 'ipv6' : undefined;
  }
  if (m[1].split('.').some((o) => o.length > 1 && o.startsWith('0'))) return undefined;
  return parseCidr4(s);
}

/** An IPv6 address as netip.ParseAddr takes it (no zone): 8 groups of 1-4 hex digits, one `::` at most, an IPv4 tail in place of the last two. */
function isIPv6Text(a: string): boolean {
  const halves = a.split('::');
  if (halves.length > 2) return false;
  const groups = (h: string): string[] | undefined => (h === '' ? [] : h.split(':'));
  const parts = halves.map(groups);
  if (parts.some((p) => p === undefined)) return false;
  const all = parts.flat() as string[];
  let n = all.length;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!/^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/.test(last) || last.split('.').some((o) => Number(o) > 255)) return false;
    all.pop();
    n += 1;
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? n < 8 : n === 8;
}

function validatePort(p: unknown, pp: FieldPath, s: Schema): AnpPort | undefined {
  const errs = s.errs;
  if (!isObj(p)) {
    errs.typeInvalid(pp, p, 'a mapping');
    return undefined;
  }
  checkFields(p, pp, ANP_PORT_FIELDS, errs);
  s.exactlyOne(p, pp, ANP_PORT_FIELDS);
  if (!absent(p, 'portNumber')) {
    const o = getObj(p, 'portNumber', pp, errs);
    if (!o) return undefined;
    const op: FieldPath = [...pp, 'portNumber'];
    checkFields(o, op, ANP_PORT_NUMBER_FIELDS, errs);
    const protocol = s.protocol(o, op);
    const port = s.int(o, 'port', op, 1, 65535);
    if (!protocol || port === undefined) return undefined;
    return { kind: 'number', protocol, port };
  }
  if (!absent(p, 'portRange')) {
    const o = getObj(p, 'portRange', pp, errs);
    if (!o) return undefined;
    const op: FieldPath = [...pp, 'portRange'];
    checkFields(o, op, ANP_PORT_RANGE_FIELDS, errs);
    const protocol = s.protocol(o, op);
    const start = s.int(o, 'start', op, 1, 65535);
    const end = s.int(o, 'end', op, 1, 65535);
    if (!protocol || start === undefined || end === undefined) return undefined;
    return { kind: 'range', protocol, start, end };
  }
  if (!absent(p, 'namedPort')) {
    if (typeof p.namedPort !== 'string') {
      errs.typeInvalid([...pp, 'namedPort'], p.namedPort, 'a string');
      return undefined;
    }
    return { kind: 'named', name: p.namedPort };
  }
  return undefined;
}

