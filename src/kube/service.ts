/**
 * Service validation and defaulting as the apiserver does them on create:
 * v1 defaulting (SetDefaults_Service), the strategy's clusterIP/clusterIPs
 * normalisation, then ValidateService — plus strict unknown-field detection
 * against the real ServiceSpec/ServicePort/ServiceStatus field lists.
 * Allocation (clusterIP, nodePorts, healthCheckNodePort) is not done here but
 * in allocator.ts's `admitService`, as the registry does it in its own step.
 *
 * podwire departures, each reported as a field error with a detail that says why:
 * - IPv4 single-stack only: an IPv6 clusterIP/externalIP/family is refused.
 * - `status.loadBalancer.ingress[].ip` is kept (the apiserver resets status on
 *   create): with no cloud controller, this is how a scenario gives an LB its IP.
 * - `nodePort` is refused on ExternalName services (the apiserver keeps and
 *   ignores it) and is range-checked here already, so a manifest error names the
 *   line rather than surfacing only when the cluster is built.
 */
import { ErrorList, type FieldPath } from './errors.js';
import {
  CLIENT_IP_CONFIG_FIELDS,
  DEFAULT_CLIENT_IP_AFFINITY_SECONDS,
  IP_FAMILIES,
  IP_FAMILY_POLICIES,
  LOAD_BALANCER_INGRESS_FIELDS,
  LOAD_BALANCER_IP_MODES,
  LOAD_BALANCER_STATUS_FIELDS,
  MAX_CLIENT_IP_AFFINITY_SECONDS,
  PORT_STATUS_FIELDS,
  PROTOCOLS,
  SERVICE_FIELDS,
  SERVICE_PORT_FIELDS,
  SERVICE_SPEC_FIELDS,
  SERVICE_STATUS_FIELDS,
  SERVICE_TYPES,
  SESSION_AFFINITIES,
  SESSION_AFFINITY_CONFIG_FIELDS,
  TRAFFIC_POLICIES,
} from './fields.js';
import { cidrProblems, IPV6_UNSUPPORTED, ipv4Problems, nonSpecialIPProblems, parseIPv4 } from './ip.js';
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
import { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidPortName, isValidPortNum } from './validation.js';

export type ServiceType = (typeof SERVICE_TYPES)[number];
export type TrafficPolicy = (typeof TRAFFIC_POLICIES)[number];

export interface ServicePort {
  /** '' when not given (allowed only for a single port). */
  name: string;
  protocol: Protocol;
  port: number;
  /** A port number or a container port name; defaulted to `port`. */
  targetPort: number | string;
  /** Given by the user, or filled in by admitService. */
  nodePort?: number;
  appProtocol?: string;
}

/** A validated, defaulted Service, as podwire uses it. Text fields keep the user's strings. */
export interface Service extends NamespacedMeta {
  type: ServiceType;
  /** undefined ⇒ selector-less (Endpoints are managed by the user). An empty selector counts as none (see validateService). */
  selector?: Record<string, string>;
  /** '' until allocated, 'None' for headless, otherwise the IPv4 text; never set for ExternalName. */
  clusterIP: string;
  /** [] until allocated, ['None'] for headless, [clusterIP] otherwise. */
  clusterIPs: string[];
  headless: boolean;
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack';
  ports: ServicePort[];
  externalIPs: string[];
  externalName?: string;
  sessionAffinity: 'None' | 'ClientIP';
  /** ClientIP affinity timeout (default 10800 s); undefined when affinity is None. */
  sessionAffinityTimeoutSeconds?: number;
  /** Set (default Cluster) for externally accessible services: NodePort, LoadBalancer, ClusterIP with externalIPs. */
  externalTrafficPolicy?: TrafficPolicy;
  /** Default Cluster for ClusterIP/NodePort/LoadBalancer; undefined for ExternalName unless given. */
  internalTrafficPolicy?: TrafficPolicy;
  /** LoadBalancer with externalTrafficPolicy Local: given, or filled in by admitService. */
  healthCheckNodePort?: number;
  loadBalancerSourceRanges: string[];
  loadBalancerIP?: string;
  loadBalancerClass?: string;
  /** LoadBalancer only (default true). */
  allocateLoadBalancerNodePorts?: boolean;
  publishNotReadyAddresses: boolean;
  /** `status.loadBalancer.ingress[].ip`, in order (podwire's stand-in for a cloud controller). */
  loadBalancerIPs: string[];
  /** The manifest as decoded (validateService) or the stored, defaulted and allocated object (admitService). */
  body: Obj;
}

export interface ServiceValidationOptions {
  /** The apiserver's --service-node-port-range (default 30000-32767). */
  nodePortRange?: { base: number; size: number };
}

export const DEFAULT_NODE_PORT_RANGE = { base: 30000, size: 2768 } as const;

export function formatPortRange(r: { base: number; size: number }): string {
  return `${r.base}-${r.base + r.size - 1}`;
}

function oneOf<T extends string>(v: string | undefined, allowed: readonly T[]): v is T {
  return v !== undefined && (allowed as readonly string[]).includes(v);
}

/** Validates a decoded Service manifest. `value` is set only when there are no errors. */
export function validateService(obj: Obj, opts: ServiceValidationOptions = {}): { value?: Service; errors: ErrorList } {
  const errs = new ErrorList();
  checkFields(obj, [], SERVICE_FIELDS, errs);
  const tm = validateTypeMeta(obj, errs);
  if (tm && tm.kind !== 'Service') errs.invalid(['kind'], tm.kind, 'expected kind Service');
  const meta = validateObjectMeta(obj, true, errs, isDNS1035Label);
  const sp: FieldPath = ['spec'];
  const spec = getObj(obj, 'spec', [], errs) ?? {};
  checkFields(spec, sp, SERVICE_SPEC_FIELDS, errs);

  // --- v1 defaulting ---------------------------------------------------
  const typeStr = getStr(spec, 'type', sp, errs) ?? 'ClusterIP';
  let type: ServiceType = 'ClusterIP';
  if (oneOf(typeStr, SERVICE_TYPES)) type = typeStr;
  else errs.notSupported([...sp, 'type'], typeStr, SERVICE_TYPES);
  const isLB = type === 'LoadBalancer';
  const isExternalName = type === 'ExternalName';

  // --- clusterIP / clusterIPs (the strategy syncs one from the other) ---
  const clusterIP = getStr(spec, 'clusterIP', sp, errs) ?? '';
  const cipsRaw = getList(spec, 'clusterIPs', sp, errs) ?? [];
  const clusterIPs: string[] = [];
  cipsRaw.forEach((v, i) => {
    if (typeof v !== 'string') errs.typeInvalid([...sp, 'clusterIPs', i], v, 'a string');
    else clusterIPs.push(v);
  });
  if (clusterIP !== '' && clusterIPs.length === 0) clusterIPs.push(clusterIP);
  const primary = clusterIP !== '' ? clusterIP : (clusterIPs[0] ?? '');
  const headless = clusterIPs.length === 1 && clusterIPs[0] === 'None';
  if (isExternalName) {
    if (clusterIPs.length > 0)
      errs.forbidden([...sp, clusterIP !== '' ? 'clusterIP' : 'clusterIPs'], 'may not be set for ExternalName services');
    if (!absent(spec, 'ipFamilies')) errs.forbidden([...sp, 'ipFamilies'], 'may not be set for ExternalName services');
    if (!absent(spec, 'ipFamilyPolicy')) errs.forbidden([...sp, 'ipFamilyPolicy'], 'may not be set for ExternalName services');
  } else {
    validateClusterIPs(spec, clusterIP, clusterIPs, errs);
  }
  if (headless && (type === 'NodePort' || isLB))
    errs.invalid(clusterIP !== '' ? [...sp, 'clusterIP'] : [...sp, 'clusterIPs', 0], 'None', `may not be set to 'None' for ${type} services`);

  // --- ipFamilies / ipFamilyPolicy: IPv4 single-stack only ---------------
  let ipFamilyPolicy: Service['ipFamilyPolicy'];
  if (!isExternalName) {
    const fams = getList(spec, 'ipFamilies', sp, errs) ?? [];
    const seen = new Set<string>();
    fams.forEach((f, i) => {
      const fp: FieldPath = [...sp, 'ipFamilies', i];
      if (typeof f !== 'string') errs.typeInvalid(fp, f, 'a string');
      else if (!oneOf(f, IP_FAMILIES)) errs.notSupported(fp, f, IP_FAMILIES);
      else if (seen.has(f)) errs.duplicate(fp, f);
      else if (f === 'IPv6') errs.invalid(fp, f, IPV6_UNSUPPORTED);
      seen.add(String(f));
    });
    const pol = getStr(spec, 'ipFamilyPolicy', sp, errs);
    if (pol !== undefined) {
      if (!oneOf(pol, IP_FAMILY_POLICIES)) errs.notSupported([...sp, 'ipFamilyPolicy'], pol, IP_FAMILY_POLICIES);
      else if (pol === 'RequireDualStack')
        errs.invalid([...sp, 'ipFamilyPolicy'], pol, 'this cluster is not configured for dual-stack services (podwire models IPv4 single-stack only)');
      else ipFamilyPolicy = pol;
    }
    ipFamilyPolicy ??= 'SingleStack';
  }

  // --- ports -------------------------------------------------------------
  const ports: ServicePort[] = [];
  const plist = getList(spec, 'ports', sp, errs);
  if ((!plist || plist.length === 0) && !headless && !isExternalName && (plist !== undefined || absent(spec, 'ports')))
    errs.required([...sp, 'ports']);
  const names = new Set<string>();
  const multi = (plist?.length ?? 0) > 1;
  const npRange = opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;
  (plist ?? []).forEach((p, i) => {
    const v = validateServicePort(p, [...sp, 'ports', i], multi, names, type, npRange, errs);
    if (v) ports.push(v);
  });
  const seenPort = new Set<string>();
  const seenNodePort = new Set<string>();
  ports.forEach((p, i) => {
    const k = `${p.port}/${p.protocol}`;
    if (seenPort.has(k)) errs.duplicate([...sp, 'ports', i], k, 'port and protocol must be unique within a service');
    seenPort.add(k);
    if (p.nodePort !== undefined) {
      const nk = `${p.nodePort}/${p.protocol}`;
      if (seenNodePort.has(nk)) errs.duplicate([...sp, 'ports', i, 'nodePort'], p.nodePort);
      seenNodePort.add(nk);
    }
  });

  // --- selector ------------------------------------------------------------
  const selMap = getStringMap(spec, 'selector', sp, errs);
  validateLabels(selMap, [...sp, 'selector'], errs);
  // An empty selector does not survive storage (protobuf drops empty maps), so
  // the endpoints controllers see no selector: treat {} as selector-less.
  const selector = Object.keys(selMap).length ? selMap : undefined;

  // --- session affinity --------------------------------------------------------
  const saStr = getStr(spec, 'sessionAffinity', sp, errs) ?? 'None';
  let sessionAffinity: Service['sessionAffinity'] = 'None';
  if (oneOf(saStr, SESSION_AFFINITIES)) sessionAffinity = saStr;
  else errs.notSupported([...sp, 'sessionAffinity'], saStr, SESSION_AFFINITIES);
  let sessionAffinityTimeoutSeconds: number | undefined;
  const sac = getObj(spec, 'sessionAffinityConfig', sp, errs);
  const sacp: FieldPath = [...sp, 'sessionAffinityConfig'];
  if (sac) {
    checkFields(sac, sacp, SESSION_AFFINITY_CONFIG_FIELDS, errs);
    const cip = getObj(sac, 'clientIP', sacp, errs);
    if (cip) {
      checkFields(cip, [...sacp, 'clientIP'], CLIENT_IP_CONFIG_FIELDS, errs);
      sessionAffinityTimeoutSeconds = getInt(cip, 'timeoutSeconds', [...sacp, 'clientIP'], errs);
    }
  }
  if (sessionAffinity === 'ClientIP') {
    sessionAffinityTimeoutSeconds ??= DEFAULT_CLIENT_IP_AFFINITY_SECONDS;
    if (sessionAffinityTimeoutSeconds <= 0 || sessionAffinityTimeoutSeconds > MAX_CLIENT_IP_AFFINITY_SECONDS)
      errs.invalid(
        [...sacp, 'clientIP', 'timeoutSeconds'],
        sessionAffinityTimeoutSeconds,
        `must be greater than 0 and less than ${MAX_CLIENT_IP_AFFINITY_SECONDS}`,
        `1..${MAX_CLIENT_IP_AFFINITY_SECONDS}`,
      );
  } else {
    // Defaulting drops sessionAffinityConfig when affinity is None, so the
    // apiserver never gets to reject it: accept and ignore it likewise.
    sessionAffinityTimeoutSeconds = undefined;
  }

  // --- externalIPs ----------------------------------------------------------
  const externalIPs: string[] = [];
  (getList(spec, 'externalIPs', sp, errs) ?? []).forEach((ip, i) => {
    const p: FieldPath = [...sp, 'externalIPs', i];
    if (typeof ip !== 'string') return errs.typeInvalid(p, ip, 'a string');
    const bad = ipv4Problems(ip);
    for (const m of bad) errs.invalid(p, ip, m);
    if (!bad.length) for (const m of nonSpecialIPProblems(ip)) errs.invalid(p, ip, m);
    externalIPs.push(ip);
  });

  // --- ExternalName ---------------------------------------------------------
  const externalName = getStr(spec, 'externalName', sp, errs);
  if (isExternalName) {
    // A trailing dot marks the CNAME as fully qualified.
    const cname = (externalName ?? '').replace(/\.$/, '');
    if (cname === '') errs.required([...sp, 'externalName']);
    else for (const m of isDNS1123Subdomain(cname)) errs.invalid([...sp, 'externalName'], externalName, m);
  }

  // --- load balancer fields ---------------------------------------------------
  const lbsr: string[] = [];
  const lbsrList = getList(spec, 'loadBalancerSourceRanges', sp, errs) ?? [];
  if (lbsrList.length && !isLB) errs.forbidden([...sp, 'loadBalancerSourceRanges'], "may only be used when `type` is 'LoadBalancer'");
  lbsrList.forEach((c, i) => {
    const p: FieldPath = [...sp, 'loadBalancerSourceRanges', i];
    if (typeof c !== 'string') return errs.typeInvalid(p, c, 'a string');
    // Space padding is tolerated, a leftover from the annotation this field replaced.
    const t = c.trim();
    for (const m of cidrProblems(t)) errs.invalid(p, c, m);
    lbsr.push(t);
  });
  let allocateLoadBalancerNodePorts = getBool(spec, 'allocateLoadBalancerNodePorts', sp, errs);
  if (allocateLoadBalancerNodePorts !== undefined && !isLB)
    errs.forbidden([...sp, 'allocateLoadBalancerNodePorts'], "may only be used when `type` is 'LoadBalancer'");
  if (isLB) allocateLoadBalancerNodePorts ??= true;
  else allocateLoadBalancerNodePorts = undefined;
  const loadBalancerClass = getStr(spec, 'loadBalancerClass', sp, errs);
  if (loadBalancerClass !== undefined) {
    if (!isLB) errs.forbidden([...sp, 'loadBalancerClass'], "may only be used when `type` is 'LoadBalancer'");
    else for (const m of isQualifiedName(loadBalancerClass)) errs.invalid([...sp, 'loadBalancerClass'], loadBalancerClass, m);
  }
  const loadBalancerIP = getStr(spec, 'loadBalancerIP', sp, errs);
  if (loadBalancerIP !== undefined && loadBalancerIP !== '')
    for (const m of ipv4Problems(loadBalancerIP)) errs.invalid([...sp, 'loadBalancerIP'], loadBalancerIP, m);

  // --- traffic policies ---------------------------------------------------------
  const externallyAccessible = type === 'NodePort' || isLB || (type === 'ClusterIP' && externalIPs.length > 0);
  let externalTrafficPolicy: TrafficPolicy | undefined;
  const etp = getStr(spec, 'externalTrafficPolicy', sp, errs);
  if (!externallyAccessible) {
    if (etp !== undefined && etp !== '')
      errs.invalid([...sp, 'externalTrafficPolicy'], etp, 'may only be set for externally-accessible services');
  } else if (etp === undefined || etp === '') externalTrafficPolicy = 'Cluster';
  else if (oneOf(etp, TRAFFIC_POLICIES)) externalTrafficPolicy = etp;
  else errs.notSupported([...sp, 'externalTrafficPolicy'], etp, TRAFFIC_POLICIES);

  let internalTrafficPolicy: TrafficPolicy | undefined;
  const itp = getStr(spec, 'internalTrafficPolicy', sp, errs);
  if (itp !== undefined) {
    if (oneOf(itp, TRAFFIC_POLICIES)) internalTrafficPolicy = itp;
    else errs.notSupported([...sp, 'internalTrafficPolicy'], itp, TRAFFIC_POLICIES);
  } else if (!isExternalName) internalTrafficPolicy = 'Cluster';

  // healthCheckNodePort may be absent when needed: the allocator gives one
  // (the registry allocates before it validates).
  const needsHealthCheck = isLB && externalTrafficPolicy === 'Local';
  const healthCheckNodePort = getInt(spec, 'healthCheckNodePort', sp, errs);
  if (healthCheckNodePort !== undefined && healthCheckNodePort !== 0) {
    if (!needsHealthCheck)
      errs.invalid(
        [...sp, 'healthCheckNodePort'],
        healthCheckNodePort,
        "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
      );
    else for (const m of nodePortProblems(healthCheckNodePort, npRange)) errs.invalid([...sp, 'healthCheckNodePort'], healthCheckNodePort, m);
  }

  const td = getStr(spec, 'trafficDistribution', sp, errs);
  if (td !== undefined && td !== 'PreferClose') errs.notSupported([...sp, 'trafficDistribution'], td, ['PreferClose']);
  const publishNotReadyAddresses = getBool(spec, 'publishNotReadyAddresses', sp, errs) ?? false;

  const loadBalancerIPs = validateServiceStatus(obj, isLB, errs);

  if (errs.errors.length || !tm || !meta) return { errors: errs };
  return {
    value: {
      name: meta.name,
      namespace: meta.namespace ?? 'default',
      labels: meta.labels,
      annotations: meta.annotations,
      type,
      ...(selector ? { selector } : {}),
      clusterIP: isExternalName ? '' : primary,
      clusterIPs: isExternalName ? [] : clusterIPs,
      headless,
      ...(ipFamilyPolicy ? { ipFamilyPolicy } : {}),
      ports,
      externalIPs,
      ...(externalName !== undefined ? { externalName } : {}),
      sessionAffinity,
      ...(sessionAffinityTimeoutSeconds !== undefined ? { sessionAffinityTimeoutSeconds } : {}),
      ...(externalTrafficPolicy ? { externalTrafficPolicy } : {}),
      ...(internalTrafficPolicy ? { internalTrafficPolicy } : {}),
      ...(healthCheckNodePort ? { healthCheckNodePort } : {}),
      loadBalancerSourceRanges: lbsr,
      ...(loadBalancerIP ? { loadBalancerIP } : {}),
      ...(loadBalancerClass !== undefined ? { loadBalancerClass } : {}),
      ...(allocateLoadBalancerNodePorts !== undefined ? { allocateLoadBalancerNodePorts } : {}),
      publishNotReadyAddresses,
      loadBalancerIPs,
      body: obj,
    },
    errors: errs,
  };
}

/** The allocator's range check, with its message, for a user-given nodePort. */
export function nodePortProblems(n: number, range: { base: number; size: number }): string[] {
  if (n < range.base || n >= range.base + range.size)
    return [`provided port is not in the valid range. The range of valid ports is ${formatPortRange(range)}`];
  return [];
}

/** ValidateServiceClusterIPsRelatedFields, for the non-ExternalName case. */
function validateClusterIPs(spec: Obj, clusterIP: string, clusterIPs: string[], errs: ErrorList): void {
  const cp: FieldPath = ['spec', 'clusterIPs'];
  if (clusterIP !== '' && clusterIPs[0] !== clusterIP) errs.invalid(cp, clusterIPs.join(','), 'first value must match `clusterIP`');
  // Where the user wrote the address: clusterIP, or clusterIPs when only that was given.
  const at = (i: number): FieldPath => (i === 0 && clusterIP !== '' && absent(spec, 'clusterIPs') ? ['spec', 'clusterIP'] : [...cp, i]);
  let bad = false;
  clusterIPs.forEach((ip, i) => {
    if (ip === 'None') {
      if (i !== 0 || clusterIPs.length > 1) {
        bad = true;
        errs.invalid(at(i), ip, "'None' must be the first and only value");
      }
      return;
    }
    for (const m of ipv4Problems(ip)) {
      bad = true;
      errs.invalid(at(i), ip, m);
    }
  });
  if (clusterIPs.length > 2) errs.invalid(cp, clusterIPs.join(','), 'may only hold up to 2 values');
  else if (!bad && clusterIPs.length === 2) errs.invalid(cp, clusterIPs.join(','), 'may specify no more than one IP for each IP family');
}

function validateServicePort(
  p: unknown,
  pp: FieldPath,
  requireName: boolean,
  names: Set<string>,
  type: ServiceType,
  npRange: { base: number; size: number },
  errs: ErrorList,
): ServicePort | undefined {
  if (!isObj(p)) {
    errs.typeInvalid(pp, p, 'a mapping');
    return undefined;
  }
  checkFields(p, pp, SERVICE_PORT_FIELDS, errs);
  // Service port names are DNS-1123 labels (not IANA names like container
  // ports): they appear in SRV records as _name._proto.
  const name = getStr(p, 'name', pp, errs) ?? '';
  if (name === '') {
    if (requireName && (absent(p, 'name') || p.name === '')) errs.required([...pp, 'name'], 'every port needs a name when a service has more than one');
  } else {
    const bad = isDNS1123Label(name);
    for (const m of bad) errs.invalid([...pp, 'name'], name, m);
    if (!bad.length && names.has(name)) errs.duplicate([...pp, 'name'], name);
    names.add(name);
  }
  const port = getInt(p, 'port', pp, errs);
  if (port === undefined) {
    if (absent(p, 'port')) errs.required([...pp, 'port']);
  } else for (const m of isValidPortNum(port)) errs.invalid([...pp, 'port'], port, m, '1..65535');
  const protocol = getStr(p, 'protocol', pp, errs) ?? 'TCP';
  if (!oneOf(protocol, PROTOCOLS)) errs.notSupported([...pp, 'protocol'], protocol, PROTOCOLS);
  // targetPort is an IntOrString: 0 and "" mean "same as port".
  let targetPort: number | string | undefined = port;
  const tp = p.targetPort;
  if (typeof tp === 'number') {
    if (!Number.isSafeInteger(tp)) errs.typeInvalid([...pp, 'targetPort'], tp, 'an integer or a port name');
    else if (tp !== 0) {
      for (const m of isValidPortNum(tp)) errs.invalid([...pp, 'targetPort'], tp, m, '1..65535');
      targetPort = tp;
    }
  } else if (typeof tp === 'string') {
    if (tp !== '') {
      for (const m of isValidPortName(tp)) errs.invalid([...pp, 'targetPort'], tp, m);
      targetPort = tp;
    }
  } else if (tp !== undefined && tp !== null) errs.typeInvalid([...pp, 'targetPort'], tp, 'an integer or a port name');
  const appProtocol = getStr(p, 'appProtocol', pp, errs);
  if (appProtocol !== undefined) for (const m of isQualifiedName(appProtocol)) errs.invalid([...pp, 'appProtocol'], appProtocol, m);
  const nodePort = getInt(p, 'nodePort', pp, errs);
  if (nodePort !== undefined && nodePort !== 0) {
    if (type === 'ClusterIP' || type === 'ExternalName') errs.forbidden([...pp, 'nodePort'], `may not be used when \`type\` is '${type}'`);
    else for (const m of nodePortProblems(nodePort, npRange)) errs.invalid([...pp, 'nodePort'], nodePort, m, formatPortRange(npRange));
  }
  if (port === undefined || targetPort === undefined) return undefined;
  return {
    name,
    protocol: protocol as Protocol,
    port,
    targetPort,
    ...(nodePort ? { nodePort } : {}),
    ...(appProtocol !== undefined ? { appProtocol } : {}),
  };
}

/** `status.loadBalancer.ingress[]`: returns the ingress IPs. */
function validateServiceStatus(obj: Obj, isLB: boolean, errs: ErrorList): string[] {
  const ips: string[] = [];
  const st = getObj(obj, 'status', [], errs);
  if (!st) return ips;
  checkFields(st, ['status'], SERVICE_STATUS_FIELDS, errs);
  getList(st, 'conditions', ['status'], errs);
  const lb = getObj(st, 'loadBalancer', ['status'], errs);
  if (!lb) return ips;
  const lp: FieldPath = ['status', 'loadBalancer'];
  checkFields(lb, lp, LOAD_BALANCER_STATUS_FIELDS, errs);
  const ingress = getList(lb, 'ingress', lp, errs) ?? [];
  if (ingress.length && !isLB) errs.forbidden([...lp, 'ingress'], "may only be used when `spec.type` is 'LoadBalancer'");
  ingress.forEach((ing, i) => {
    const ip: FieldPath = [...lp, 'ingress', i];
    if (!isObj(ing)) return errs.typeInvalid(ip, ing, 'a mapping');
    checkFields(ing, ip, LOAD_BALANCER_INGRESS_FIELDS, errs);
    const addr = getStr(ing, 'ip', ip, errs);
    if (addr !== undefined && addr !== '') {
      const bad = ipv4Problems(addr);
      for (const m of bad) errs.invalid([...ip, 'ip'], addr, m);
      if (!bad.length) ips.push(addr);
    }
    const host = getStr(ing, 'hostname', ip, errs);
    if (host !== undefined && host !== '') {
      for (const m of isDNS1123Subdomain(host)) errs.invalid([...ip, 'hostname'], host, m);
      if (parseIPv4(host) !== undefined) errs.invalid([...ip, 'hostname'], host, 'must be a DNS name, not an IP address');
    }
    const mode = getStr(ing, 'ipMode', ip, errs);
    if (mode !== undefined) {
      if (addr === undefined || addr === '') errs.forbidden([...ip, 'ipMode'], 'may not be specified when `ip` is not set');
      else if (!oneOf(mode, LOAD_BALANCER_IP_MODES)) errs.notSupported([...ip, 'ipMode'], mode, LOAD_BALANCER_IP_MODES);
    }
    (getList(ing, 'ports', ip, errs) ?? []).forEach((ps, j) => {
      const pp: FieldPath = [...ip, 'ports', j];
      if (!isObj(ps)) return errs.typeInvalid(pp, ps, 'a mapping');
      checkFields(ps, pp, PORT_STATUS_FIELDS, errs);
      const port = getInt(ps, 'port', pp, errs);
      if (port !== undefined) for (const m of isValidPortNum(port)) errs.invalid([...pp, 'port'], port, m, '1..65535');
      const proto = getStr(ps, 'protocol', pp, errs);
      if (proto !== undefined && !oneOf(proto, PROTOCOLS)) errs.notSupported([...pp, 'protocol'], proto, PROTOCOLS);
      getStr(ps, 'error', pp, errs);
    });
  });
  return ips;
}

/**
 * The Service as the apiserver stores it: the manifest with every default and
 * allocated value written in (type, sessionAffinity, ports' protocol/targetPort/
 * nodePort, clusterIP(s), ipFamilies, policies, allocateLoadBalancerNodePorts,
 * ipMode). Fields podwire does not model are kept as given.
 */
export function serviceObject(svc: Service): Obj {
  const body = svc.body;
  const spec: Obj = { ...(isObj(body.spec) ? body.spec : {}) };
  const meta: Obj = { ...(isObj(body.metadata) ? body.metadata : {}), name: svc.name, namespace: svc.namespace };
  spec.type = svc.type;
  spec.sessionAffinity = svc.sessionAffinity;
  if (svc.sessionAffinityTimeoutSeconds !== undefined)
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: svc.sessionAffinityTimeoutSeconds } };
  else delete spec.sessionAffinityConfig;
  if (svc.selector) spec.selector = { ...svc.selector };
  else delete spec.selector;
  const given = Array.isArray(spec.ports) ? spec.ports : [];
  spec.ports = svc.ports.map((p, i) => {
    const orig = isObj(given[i]) ? given[i] : {};
    const out: Obj = { ...orig, protocol: p.protocol, port: p.port, targetPort: p.targetPort };
    if (p.name !== '') out.name = p.name;
    if (p.nodePort !== undefined) out.nodePort = p.nodePort;
    return out;
  });
  if (svc.type === 'ExternalName') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  } else {
    if (svc.clusterIP !== '') {
      spec.clusterIP = svc.clusterIP;
      spec.clusterIPs = [...svc.clusterIPs];
    }
    spec.ipFamilies = ['IPv4'];
    spec.ipFamilyPolicy = svc.ipFamilyPolicy ?? 'SingleStack';
  }
  if (svc.externalTrafficPolicy) spec.externalTrafficPolicy = svc.externalTrafficPolicy;
  if (svc.internalTrafficPolicy) spec.internalTrafficPolicy = svc.internalTrafficPolicy;
  if (svc.healthCheckNodePort !== undefined) spec.healthCheckNodePort = svc.healthCheckNodePort;
  if (svc.allocateLoadBalancerNodePorts !== undefined) spec.allocateLoadBalancerNodePorts = svc.allocateLoadBalancerNodePorts;
  const status: Obj = { loadBalancer: {} };
  const st = isObj(body.status) ? body.status : undefined;
  const lb = st && isObj(st.loadBalancer) ? st.loadBalancer : undefined;
  if (lb && Array.isArray(lb.ingress) && lb.ingress.length)
    status.loadBalancer = {
      ...lb,
      ingress: lb.ingress.map((ing) => (isObj(ing) && typeof ing.ip === 'string' && ing.ip !== '' && ing.ipMode === undefined ? { ...ing, ipMode: 'VIP' } : ing)),
    };
  return { ...body, apiVersion: 'v1', kind: 'Service', metadata: meta, spec, status };
}
