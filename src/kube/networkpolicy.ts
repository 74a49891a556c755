/**
 * networking.k8s.io/v1 NetworkPolicy: validation and defaulting as the
 * apiserver does them on create (v1 SetDefaults_NetworkPolicy and
 * SetDefaults_NetworkPolicyPort, then pkg/apis/networking/validation
 * ValidateNetworkPolicy with AllowInvalidLabelValueInSelector false), plus
 * strict unknown-field detection against the real field lists.
 *
 * Defaults: `policyTypes` omitted or empty → [Ingress], plus Egress when the
 * policy has egress rules; a port's `protocol` → TCP; an absent `podSelector`
 * is the empty selector (all pods of the namespace), as the apiserver decodes it.
 *
 * What the apiserver does and podwire follows, perhaps surprisingly:
 * - duplicate policyTypes (`[Ingress, Ingress]`) are accepted; only more than
 *   two entries, or a value other than Ingress/Egress, is an error;
 * - CIDRs are parsed as the legacy fields are while the StrictIPCIDRValidation
 *   gate is off (its default through v1.33): host bits may be set (`10.0.0.1/8`
 *   means 10.0.0.0/8) and leading zeros in an octet read as decimal.
 * podwire departures: IPv6 CIDRs are refused (IPv4 single-stack only); a bad
 * matchLabels key/value is reported at `matchLabels[key]` (see policy-selector.ts).
 */
import { ErrorList, type FieldPath } from './errors.js';
import {
  IP_BLOCK_FIELDS,
  NETWORK_POLICY_EGRESS_RULE_FIELDS,
  NETWORK_POLICY_FIELDS,
  NETWORK_POLICY_INGRESS_RULE_FIELDS,
  NETWORK_POLICY_PEER_FIELDS,
  NETWORK_POLICY_PORT_FIELDS,
  NETWORK_POLICY_SPEC_FIELDS,
  POLICY_TYPES,
  PROTOCOLS,
} from './fields.js';
import { cidrProblems, parseCidr4, type Cidr4 } from './ip.js';
import type { LabelSelector } from './labels.js';
import { absent, checkFields, getList, getObj, getStr, isObj, validateObjectMeta, validateTypeMeta, type Obj, type NamespacedMeta } from './object.js';
import type { Protocol } from './pod.js';
import { validateLabelSelector } from './policy-selector.js';
import { isValidPortName, isValidPortNum } from './validation.js';

export type PolicyType = (typeof POLICY_TYPES)[number];

/** An ipBlock with its CIDRs parsed (host bits cleared in `base`). */
export interface IPBlock {
  /** As written. */
  cidr: string;
  except: string[];
  net: Cidr4;
  exceptNets: Cidr4[];
}

/**
 * One peer: exactly one of the forms below (validation guarantees it).
 * - `podSelector` alone: pods of the policy's own namespace;
 * - `namespaceSelector` alone: all pods of the selected namespaces (`{}` = every namespace);
 * - both: pods matching `podSelector` in namespaces matching `namespaceSelector` (AND);
 * - `ipBlock`: addresses in `cidr` and in no `except`.
 */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  /** Defaulted to TCP. */
  protocol: Protocol;
  /** A number, a container port name (resolved per destination pod), or undefined for every port of `protocol`. */
  port?: number | string;
  /** With a numeric `port`: the inclusive end of the range `port..endPort`. */
  endPort?: number;
}

/**
 * An ingress or egress rule. `peers` is `from` (ingress) or `to` (egress);
 * `ports` is `ports`. An absent list and an empty list mean the same (every
 * peer, every port), so both are normalised to `[]`.
 */
export interface NetworkPolicyRule {
  peers: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}

/** A validated, defaulted NetworkPolicy. */
export interface NetworkPolicy extends NamespacedMeta {
  /** Pods of `namespace` the policy applies to; `{}` selects them all. */
  podSelector: LabelSelector;
  /** Defaulted; may hold a duplicate, as the apiserver allows. */
  policyTypes: PolicyType[];
  /** Meaningful only when policyTypes has Ingress; an empty list isolates without admitting anything. */
  ingress: NetworkPolicyRule[];
  /** Meaningful only when policyTypes has Egress. */
  egress: NetworkPolicyRule[];
  /** The manifest as decoded. */
  body: Obj;
}

/** `namespace/name`, as traces and explanations name a policy. */
export function policyRef(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

/** Validates a decoded NetworkPolicy manifest. `value` is set only when there are no errors. */
export function validateNetworkPolicy(obj: Obj): { value?: NetworkPolicy; errors: ErrorList } {
  const errs = new ErrorList();
  checkFields(obj, [], NETWORK_POLICY_FIELDS, errs);
  const tm = validateTypeMeta(obj, errs);
  if (tm && tm.kind !== 'NetworkPolicy') errs.invalid(['kind'], tm.kind, 'expected kind NetworkPolicy');
  const meta = validateObjectMeta(obj, true, errs);
  const sp: FieldPath = ['spec'];
  const spec = getObj(obj, 'spec', [], errs) ?? {};
  checkFields(spec, sp, NETWORK_POLICY_SPEC_FIELDS, errs);

  const podSelector = absent(spec, 'podSelector') ? {} : validateLabelSelector(spec.podSelector, [...sp, 'podSelector'], errs);

  const ingress: NetworkPolicyRule[] = [];
  (getList(spec, 'ingress', sp, errs) ?? []).forEach((r, i) => {
    const rule = validateRule(r, [...sp, 'ingress', i], 'from', NETWORK_POLICY_INGRESS_RULE_FIELDS, errs);
    if (rule) ingress.push(rule);
  });
  const egressList = getList(spec, 'egress', sp, errs) ?? [];
  const egress: NetworkPolicyRule[] = [];
  egressList.forEach((r, i) => {
    const rule = validateRule(r, [...sp, 'egress', i], 'to', NETWORK_POLICY_EGRESS_RULE_FIELDS, errs);
    if (rule) egress.push(rule);
  });

  // SetDefaults_NetworkPolicy runs before validation.
  const ptList = getList(spec, 'policyTypes', sp, errs) ?? [];
  let policyTypes: PolicyType[] = [];
  if (ptList.length === 0) {
    policyTypes = egressList.length ? ['Ingress', 'Egress'] : ['Ingress'];
  } else if (ptList.length > POLICY_TYPES.length) {
    errs.invalid([...sp, 'policyTypes'], ptList, 'may not specify more than two policyTypes');
  } else {
    ptList.forEach((t, i) => {
      const p: FieldPath = [...sp, 'policyTypes', i];
      if (typeof t !== 'string') errs.typeInvalid(p, t, 'a string');
      else if (!(POLICY_TYPES as readonly string[]).includes(t)) errs.notSupported(p, t, POLICY_TYPES);
      else policyTypes.push(t as PolicyType);
    });
  }

  if (errs.errors.length || !tm || !meta || !podSelector) return { errors: errs };
  return {
    value: {
      name: meta.name,
      namespace: meta.namespace ?? 'default',
      labels: meta.labels,
      annotations: meta.annotations,
      podSelector,
      policyTypes,
      ingress,
      egress,
      body: obj,
    },
    errors: errs,
  };
}

function validateRule(
  r: unknown,
  rp: FieldPath,
  peersKey: 'from' | 'to',
  fields: readonly string[],
  errs: ErrorList,
): NetworkPolicyRule | undefined {
  if (!isObj(r)) {
    errs.typeInvalid(rp, r, 'a mapping');
    return undefined;
  }
  checkFields(r, rp, fields, errs);
  // ValidateNetworkPolicySpec checks a rule's ports before its peers.
  const ports: NetworkPolicyPort[] = [];
  (getList(r, 'ports', rp, errs) ?? []).forEach((p, i) => {
    const v = validatePort(p, [...rp, 'ports', i], errs);
    if (v) ports.push(v);
  });
  const peers: NetworkPolicyPeer[] = [];
  (getList(r, peersKey, rp, errs) ?? []).forEach((p, i) => {
    const v = validatePeer(p, [...rp, peersKey, i], errs);
    if (v) peers.push(v);
  });
  return { peers, ports };
}

/** ValidateNetworkPolicyPort, after SetDefaults_NetworkPolicyPort. */
function validatePort(p: unknown, pp: FieldPath, errs: ErrorList): NetworkPolicyPort | undefined {
  if (!isObj(p)) {
    errs.typeInvalid(pp, p, 'a mapping');
    return undefined;
  }
  checkFields(p, pp, NETWORK_POLICY_PORT_FIELDS, errs);
  const protocol = getStr(p, 'protocol', pp, errs) ?? 'TCP';
  let ok = true;
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    errs.notSupported([...pp, 'protocol'], protocol, PROTOCOLS);
    ok = false;
  }
  let endPort: number | undefined;
  const ep = p.endPort;
  if (ep !== undefined && ep !== null) {
    if (typeof ep !== 'number' || !Number.isSafeInteger(ep)) {
      errs.typeInvalid([...pp, 'endPort'], ep, 'an integer');
      ok = false;
    } else endPort = ep;
  }
  // port is an IntOrString.
  const pv = p.port;
  let port: number | string | undefined;
  if (typeof pv === 'number') {
    if (!Number.isSafeInteger(pv)) {
      errs.typeInvalid([...pp, 'port'], pv, 'an integer or a port name');
      return undefined;
    }
    port = pv;
    for (const m of isValidPortNum(pv)) errs.invalid([...pp, 'port'], pv, m, '1..65535');
    if (endPort !== undefined) {
      if (endPort < pv) errs.invalid([...pp, 'endPort'], endPort, 'must be greater than or equal to `port`');
      for (const m of isValidPortNum(endPort)) errs.invalid([...pp, 'endPort'], endPort, m, '1..65535');
    }
  } else if (typeof pv === 'string') {
    port = pv;
    if (endPort !== undefined) errs.invalid([...pp, 'endPort'], endPort, 'may not be specified when `port` is non-numeric');
    for (const m of isValidPortName(pv)) errs.invalid([...pp, 'port'], pv, m);
  } else if (pv !== undefined && pv !== null) {
    errs.typeInvalid([...pp, 'port'], pv, 'an integer or a port name');
    return undefined;
  } else if (endPort !== undefined) {
    errs.invalid([...pp, 'endPort'], endPort, 'may not be specified when `port` is not specified');
  }
  if (!ok) return undefined;
  return {
    protocol: protocol as Protocol,
    ...(port !== undefined ? { port } : {}),
    ...(endPort !== undefined && typeof port === 'number' ? { endPort } : {}),
  };
}

/** ValidateNetworkPolicyPeer. */
function validatePeer(p: unknown, pp: FieldPath, errs: ErrorList): NetworkPolicyPeer | undefined {
  if (!isObj(p)) {
    errs.typeInvalid(pp, p, 'a mapping');
    return undefined;
  }
  checkFields(p, pp, NETWORK_POLICY_PEER_FIELDS, errs);
  const out: NetworkPolicyPeer = {};
  let n = 0;
  if (!absent(p, 'podSelector')) {
    n++;
    const s = validateLabelSelector(p.podSelector, [...pp, 'podSelector'], errs);
    if (s) out.podSelector = s;
  }
  if (!absent(p, 'namespaceSelector')) {
    n++;
    const s = validateLabelSelector(p.namespaceSelector, [...pp, 'namespaceSelector'], errs);
    if (s) out.namespaceSelector = s;
  }
  const ipb = getObj(p, 'ipBlock', pp, errs);
  if (!absent(p, 'ipBlock')) {
    n++;
    if (ipb) {
      const b = validateIPBlock(ipb, [...pp, 'ipBlock'], errs);
      if (b) out.ipBlock = b;
    }
  }
  if (n === 0) errs.required(pp, 'must specify a peer');
  else if (n > 1 && !absent(p, 'ipBlock')) errs.forbidden(pp, 'may not specify both ipBlock and another peer');
  return out;
}

/** ValidateIPBlock: cidr required and valid; every except valid and a strict subset of cidr. */
function validateIPBlock(b: Obj, bp: FieldPath, errs: ErrorList): IPBlock | undefined {
  checkFields(b, bp, IP_BLOCK_FIELDS, errs);
  const cidr = getStr(b, 'cidr', bp, errs);
  const exceptRaw = getList(b, 'except', bp, errs) ?? [];
  if (cidr === undefined || cidr === '') {
    if (cidr === '' || absent(b, 'cidr')) errs.required([...bp, 'cidr']);
    return undefined;
  }
  for (const m of cidrProblems(cidr)) errs.invalid([...bp, 'cidr'], cidr, m);
  const net = parseCidr4(cidr);
  if (!net) return undefined;
  const except: string[] = [];
  const exceptNets: Cidr4[] = [];
  exceptRaw.forEach((e, i) => {
    const ep: FieldPath = [...bp, 'except', i];
    if (typeof e !== 'string') return errs.typeInvalid(ep, e, 'a string');
    for (const m of cidrProblems(e)) errs.invalid(ep, e, m);
    const en = parseCidr4(e);
    if (!en) return;
    // Go: !cidr.Contains(except.IP) || cidrMaskLen >= exceptMaskLen, with except.IP the masked network.
    if (!(en.base >= net.base && en.base < net.base + net.size) || net.prefix >= en.prefix)
      errs.invalid(ep, e, 'must be a strict subset of `cidr`');
    except.push(e);
    exceptNets.push(en);
  });
  return { cidr, except, net, exceptNets };
}

/** Whether the IPv4 address `ip` (32-bit unsigned) is in the block: in `cidr` and in no `except`. */
export function ipBlockContains(b: IPBlock, ip: number): boolean {
  if (ip < b.net.base || ip >= b.net.base + b.net.size) return false;
  for (const e of b.exceptNets) if (ip >= e.base && ip < e.base + e.size) return false;
  return true;
}
