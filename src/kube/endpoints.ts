/**
 * Endpoints (core/v1) and EndpointSlice (discovery.k8s.io/v1) validation as
 * the apiserver does it on create (ValidateEndpoints, ValidateEndpointSlice),
 * with v1 defaulting (port protocol TCP, slice port name "") and strict
 * unknown-field detection. The same functions give the controllers and
 * kube-proxy a typed view of stored objects.
 *
 * podwire models IPv4 only: an IPv6 address, or an EndpointSlice whose
 * addressType is IPv6 or FQDN, is refused with a detail saying so.
 */
import { ErrorList, type FieldPath } from './errors.js';
import {
  ADDRESS_TYPES,
  ENDPOINT_ADDRESS_FIELDS,
  ENDPOINT_CONDITIONS_FIELDS,
  ENDPOINT_HINTS_FIELDS,
  ENDPOINT_PORT_FIELDS,
  ENDPOINT_SLICE_FIELDS,
  ENDPOINT_SUBSET_FIELDS,
  ENDPOINTS_FIELDS,
  LABEL_SERVICE_NAME,
  OBJECT_REFERENCE_FIELDS,
  PROTOCOLS,
  SLICE_ENDPOINT_FIELDS,
} from './fields.js';
import { ipv4Problems, nonSpecialIPProblems } from './ip.js';
import {
  absent,
  checkFields,
  getBool,
  getInt,
  getList,
  getObj,
  getStr,
  getStringMap,
  isObj,
  validateLabels,
  validateObjectMeta,
  validateTypeMeta,
  type NamespacedMeta,
  type Obj,
} from './object.js';
import type { Protocol } from './pod.js';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidPortNum } from './validation.js';

/** An ObjectReference (targetRef): only the fields podwire reads are typed. */
export interface ObjectRef {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
}

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectRef;
}

export interface EndpointPort {
  /** '' when not given. */
  name: string;
  port: number;
  protocol: Protocol;
  appProtocol?: string;
}

export interface EndpointSubset {
  addresses: EndpointAddress[];
  notReadyAddresses: EndpointAddress[];
  ports: EndpointPort[];
}

export interface Endpoints extends NamespacedMeta {
  subsets: EndpointSubset[];
  body: Obj;
}

export interface SliceEndpoint {
  addresses: string[];
  /**
   * Conditions as consumers read them: an absent `ready` or `serving` counts as
   * true and an absent `terminating` as false (the API's documented meaning,
   * and what kube-proxy does).
   */
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: ObjectRef;
}

export interface SlicePort {
  /** '' when not given. */
  name: string;
  /** Absent means "all ports" (a headless service without ports). */
  port?: number;
  protocol: Protocol;
  appProtocol?: string;
}

export interface EndpointSlice extends NamespacedMeta {
  addressType: 'IPv4';
  /** The `kubernetes.io/service-name` label, when set. */
  serviceName?: string;
  endpoints: SliceEndpoint[];
  ports: SlicePort[];
  body: Obj;
}

/** Limits of discovery/v1 validation. */
export const MAX_SLICE_ENDPOINTS = 1000;
export const MAX_SLICE_PORTS = 20000;
export const MAX_ENDPOINT_ADDRESSES = 100;

function validateObjectRef(o: Obj, key: string, p: FieldPath, errs: ErrorList): ObjectRef | undefined {
  const r = getObj(o, key, p, errs);
  if (!r) return undefined;
  const rp: FieldPath = [...p, key];
  checkFields(r, rp, OBJECT_REFERENCE_FIELDS, errs);
  const out: ObjectRef = {};
  for (const k of ['kind', 'namespace', 'name', 'uid'] as const) {
    const v = getStr(r, k, rp, errs);
    if (v !== undefined) out[k] = v;
  }
  for (const k of ['apiVersion', 'fieldPath', 'resourceVersion']) getStr(r, k, rp, errs);
  return out;
}

/** An IPv4 endpoint address: well-formed and not a special address. */
function checkEndpointIP(ip: string, p: FieldPath, errs: ErrorList): boolean {
  const bad = ipv4Problems(ip);
  for (const m of bad) errs.invalid(p, ip, m);
  if (bad.length) return false;
  const special = nonSpecialIPProblems(ip);
  for (const m of special) errs.invalid(p, ip, m);
  return special.length === 0;
}

function validatePort(
  p: unknown,
  pp: FieldPath,
  requireName: boolean,
  portRequired: boolean,
  names: Set<string> | undefined,
  errs: ErrorList,
): { name: string; port?: number; protocol: Protocol; appProtocol?: string } | undefined {
  if (!isObj(p)) {
    errs.typeInvalid(pp, p, 'a mapping');
    return undefined;
  }
  checkFields(p, pp, ENDPOINT_PORT_FIELDS, errs);
  const name = getStr(p, 'name', pp, errs) ?? '';
  if (name === '') {
    if (requireName && (absent(p, 'name') || p.name === '')) errs.required([...pp, 'name']);
  } else {
    const bad = isDNS1123Label(name);
    for (const m of bad) errs.invalid([...pp, 'name'], name, m);
    if (names && !bad.length) {
      if (names.has(name)) errs.duplicate([...pp, 'name'], name);
      names.add(name);
    }
  }
  const port = getInt(p, 'port', pp, errs);
  if (port === undefined) {
    if (portRequired && absent(p, 'port')) errs.required([...pp, 'port']);
  } else for (const m of isValidPortNum(port)) errs.invalid([...pp, 'port'], port, m, '1..65535');
  const protocol = getStr(p, 'protocol', pp, errs) ?? 'TCP';
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) errs.notSupported([...pp, 'protocol'], protocol, PROTOCOLS);
  const appProtocol = getStr(p, 'appProtocol', pp, errs);
  if (appProtocol !== undefined) for (const m of isQualifiedName(appProtocol)) errs.invalid([...pp, 'appProtocol'], appProtocol, m);
  return { name, ...(port !== undefined ? { port } : {}), protocol: protocol as Protocol, ...(appProtocol !== undefined ? { appProtocol } : {}) };
}

function validateAddress(a: unknown, p: FieldPath, errs: ErrorList): EndpointAddress | undefined {
  if (!isObj(a)) {
    errs.typeInvalid(p, a, 'a mapping');
    return undefined;
  }
  checkFields(a, p, ENDPOINT_ADDRESS_FIELDS, errs);
  const ip = getStr(a, 'ip', p, errs);
  if (ip === undefined) {
    if (absent(a, 'ip')) errs.required([...p, 'ip']);
  } else checkEndpointIP(ip, [...p, 'ip'], errs);
  const hostname = getStr(a, 'hostname', p, errs);
  if (hostname) for (const m of isDNS1123Label(hostname)) errs.invalid([...p, 'hostname'], hostname, m);
  const nodeName = getStr(a, 'nodeName', p, errs);
  if (nodeName !== undefined) for (const m of isDNS1123Subdomain(nodeName)) errs.invalid([...p, 'nodeName'], nodeName, m);
  const targetRef = validateObjectRef(a, 'targetRef', p, errs);
  if (ip === undefined) return undefined;
  return { ip, ...(hostname ? { hostname } : {}), ...(nodeName !== undefined ? { nodeName } : {}), ...(targetRef ? { targetRef } : {}) };
}

/** Validates a decoded Endpoints manifest. `value` is set only when there are no errors. */
export function validateEndpoints(obj: Obj): { value?: Endpoints; errors: ErrorList } {
  const errs = new ErrorList();
  checkFields(obj, [], ENDPOINTS_FIELDS, errs);
  const tm = validateTypeMeta(obj, errs);
  if (tm && tm.kind !== 'Endpoints') errs.invalid(['kind'], tm.kind, 'expected kind Endpoints');
  const meta = validateObjectMeta(obj, true, errs);
  const subsets: EndpointSubset[] = [];
  (getList(obj, 'subsets', [], errs) ?? []).forEach((s, i) => {
    const p: FieldPath = ['subsets', i];
    if (!isObj(s)) return errs.typeInvalid(p, s, 'a mapping');
    checkFields(s, p, ENDPOINT_SUBSET_FIELDS, errs);
    const addrs = getList(s, 'addresses', p, errs) ?? [];
    const notReady = getList(s, 'notReadyAddresses', p, errs) ?? [];
    // Headless services may have endpoints without ports, but never without addresses.
    if (addrs.length === 0 && notReady.length === 0) errs.required(p, 'must specify `addresses` or `notReadyAddresses`');
    const sub: EndpointSubset = { addresses: [], notReadyAddresses: [], ports: [] };
    addrs.forEach((a, j) => {
      const v = validateAddress(a, [...p, 'addresses', j], errs);
      if (v) sub.addresses.push(v);
    });
    notReady.forEach((a, j) => {
      const v = validateAddress(a, [...p, 'notReadyAddresses', j], errs);
      if (v) sub.notReadyAddresses.push(v);
    });
    const ports = getList(s, 'ports', p, errs) ?? [];
    ports.forEach((port, j) => {
      const v = validatePort(port, [...p, 'ports', j], ports.length > 1, true, undefined, errs);
      if (v && v.port !== undefined) sub.ports.push({ ...v, port: v.port });
    });
    subsets.push(sub);
  });
  if (errs.errors.length || !tm || !meta) return { errors: errs };
  return {
    value: { name: meta.name, namespace: meta.namespace ?? 'default', labels: meta.labels, annotations: meta.annotations, subsets, body: obj },
    errors: errs,
  };
}

/** Validates a decoded EndpointSlice manifest. `value` is set only when there are no errors. */
export function validateEndpointSlice(obj: Obj): { value?: EndpointSlice; errors: ErrorList } {
  const errs = new ErrorList();
  checkFields(obj, [], ENDPOINT_SLICE_FIELDS, errs);
  const tm = validateTypeMeta(obj, errs);
  if (tm && tm.kind !== 'EndpointSlice') errs.invalid(['kind'], tm.kind, 'expected kind EndpointSlice');
  const meta = validateObjectMeta(obj, true, errs);
  const at = getStr(obj, 'addressType', [], errs);
  let ok = false;
  if (at === undefined) {
    if (absent(obj, 'addressType')) errs.required(['addressType']);
  } else if (!(ADDRESS_TYPES as readonly string[]).includes(at)) errs.notSupported(['addressType'], at, ADDRESS_TYPES);
  else if (at !== 'IPv4') errs.invalid(['addressType'], at, `${at} endpoints are not supported by podwire (IPv4 only)`, '"IPv4"');
  else ok = true;

  const endpoints: SliceEndpoint[] = [];
  const eps = getList(obj, 'endpoints', [], errs) ?? [];
  if (eps.length > MAX_SLICE_ENDPOINTS) errs.forbidden(['endpoints'], `Too many: ${eps.length}: must have at most ${MAX_SLICE_ENDPOINTS} items`);
  eps.forEach((e, i) => {
    const p: FieldPath = ['endpoints', i];
    if (!isObj(e)) return errs.typeInvalid(p, e, 'a mapping');
    checkFields(e, p, SLICE_ENDPOINT_FIELDS, errs);
    const addrs: string[] = [];
    const al = getList(e, 'addresses', p, errs);
    if (!al || al.length === 0) {
      if (al || absent(e, 'addresses')) errs.required([...p, 'addresses'], 'must contain at least 1 address');
    } else if (al.length > MAX_ENDPOINT_ADDRESSES)
      errs.forbidden([...p, 'addresses'], `Too many: ${al.length}: must have at most ${MAX_ENDPOINT_ADDRESSES} items`);
    (al ?? []).forEach((a, j) => {
      const ap: FieldPath = [...p, 'addresses', j];
      if (typeof a !== 'string') return errs.typeInvalid(ap, a, 'a string');
      if (ok) checkEndpointIP(a, ap, errs);
      addrs.push(a);
    });
    const c = getObj(e, 'conditions', p, errs) ?? {};
    checkFields(c, [...p, 'conditions'], ENDPOINT_CONDITIONS_FIELDS, errs);
    const ready = getBool(c, 'ready', [...p, 'conditions'], errs);
    const serving = getBool(c, 'serving', [...p, 'conditions'], errs);
    const terminating = getBool(c, 'terminating', [...p, 'conditions'], errs);
    const hostname = getStr(e, 'hostname', p, errs);
    if (hostname !== undefined) for (const m of isDNS1123Label(hostname)) errs.invalid([...p, 'hostname'], hostname, m);
    const nodeName = getStr(e, 'nodeName', p, errs);
    if (nodeName !== undefined) for (const m of isDNS1123Subdomain(nodeName)) errs.invalid([...p, 'nodeName'], nodeName, m);
    const zone = getStr(e, 'zone', p, errs);
    const topo = getStringMap(e, 'deprecatedTopology', p, errs);
    validateLabels(topo, [...p, 'deprecatedTopology'], errs);
    const hints = getObj(e, 'hints', p, errs);
    if (hints) {
      checkFields(hints, [...p, 'hints'], ENDPOINT_HINTS_FIELDS, errs);
      for (const k of ['forZones', 'forNodes']) getList(hints, k, [...p, 'hints'], errs);
    }
    const targetRef = validateObjectRef(e, 'targetRef', p, errs);
    endpoints.push({
      addresses: addrs,
      ready: ready ?? true,
      serving: serving ?? true,
      terminating: terminating ?? false,
      ...(hostname !== undefined ? { hostname } : {}),
      ...(nodeName !== undefined ? { nodeName } : {}),
      ...(zone !== undefined ? { zone } : {}),
      ...(targetRef ? { targetRef } : {}),
    });
  });

  const ports: SlicePort[] = [];
  const pl = getList(obj, 'ports', [], errs) ?? [];
  if (pl.length > MAX_SLICE_PORTS) errs.forbidden(['ports'], `Too many: ${pl.length}: must have at most ${MAX_SLICE_PORTS} items`);
  const names = new Set<string>();
  pl.forEach((port, i) => {
    const v = validatePort(port, ['ports', i], false, false, names, errs);
    if (v) ports.push(v);
  });

  if (errs.errors.length || !tm || !meta || !ok) return { errors: errs };
  const serviceName = meta.labels[LABEL_SERVICE_NAME];
  return {
    value: {
      name: meta.name,
      namespace: meta.namespace ?? 'default',
      labels: meta.labels,
      annotations: meta.annotations,
      addressType: 'IPv4',
      ...(serviceName !== undefined ? { serviceName } : {}),
      endpoints,
      ports,
      body: obj,
    },
    errors: errs,
  };
}
