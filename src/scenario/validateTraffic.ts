/**
 * The `traffic:` and `events:` sections. Syntax and ranges are checked here;
 * whether an endpoint names an existing pod/node/host/service is checked by the
 * loader once all manifests are known (see `checkReferences` in load.ts).
 */
import { isDNS1123Label, isDNS1123Subdomain } from '../kube/validation.js';
import { POLICY_KINDS, type Endpoint, type EventSpec, type OtherManifest, type PolicyKind, type PolicyManifest, type TrafficResult, type TrafficSpec } from './types.js';
import { loadManifestItem } from './manifests.js';
import { closest } from '../kube/suggest.js';
import { S } from '../engine/time.js';
import { durationAt, UniqueNames } from './validateCluster.js';
import { parseIPv4 } from './validateNet.js';
import { Y } from './validateYaml.js';
import { InputError } from './errors.js';
import { linkAt, netemAt } from './validateFaults.js';

export const TRAFFIC_KEYS = ['name', 'at', 'from', 'to', 'via', 'access', 'node', 'protocol', 'port', 'sourcePort', 'size', 'pmtuDiscovery', 'count', 'connection', 'timeout', 'expect'] as const;
export const EVENT_KINDS = ['pod-ready', 'pod-delete', 'node-join', 'node-leave', 'node-down', 'node-up', 'agent-stop', 'agent-start', 'link-down', 'link-up', 'impair', 'policy-apply', 'policy-delete'] as const;
/** impair's netem parameters (besides at, kind, link). */
export const IMPAIR_KEYS = ['delay', 'jitter', 'loss', 'duplicate', 'corrupt', 'reorder', 'rate', 'limit'] as const;
/** How a policy-delete names its policy. */
export const POLICY_REF_FORMS = 'NetworkPolicy/NS/NAME | AdminNetworkPolicy/NAME | BaselineAdminNetworkPolicy/default';
export const EXPECT_KEYS = ['result', 'path', 'servedBy'] as const;

/** A traffic item and the nodes its references came from, for the loader's cross-checks. */
export interface TrafficRefs {
  spec: TrafficSpec;
  from: Y;
  to: Y;
  via?: Y;
  node?: Y;
  path: Y[];
  /** expect.servedBy entries. */
  served: { ep: Endpoint; y: Y }[];
}

/** Parses an endpoint string; `allowed` limits the kinds for this role. */
export function endpointAt(y: Y, allowed: readonly Endpoint['kind'][]): Endpoint {
  const expected = allowed.map((k) => ({ pod: 'pod/NS/NAME', node: 'node/NAME', host: 'host/NAME', ip: 'ip/A.B.C.D', service: 'service/NS/NAME[:PORT]', dns: 'dns/NAME:PORT' })[k]).join(' | ');
  const text = y.str(expected);
  const parts = text.split('/');
  const kind = parts[0];
  const bad = (why: string): never => y.fail(`${y.what}: invalid endpoint ${JSON.stringify(text)}: ${why}`, expected);
  if (!['pod', 'node', 'host', 'ip', 'service', 'dns'].includes(kind)) bad(`unknown endpoint kind ${JSON.stringify(kind)}`);
  if (!(allowed as readonly string[]).includes(kind)) y.fail(`${y.what}: ${kind}/ endpoints are not allowed here`, expected);
  const label = (s: string, what: string) => {
    const m = isDNS1123Label(s);
    if (m.length) bad(`${what} ${JSON.stringify(s)}: ${m[0]}`);
  };
  const sub = (s: string, what: string) => {
    const m = isDNS1123Subdomain(s);
    if (m.length) bad(`${what} ${JSON.stringify(s)}: ${m[0]}`);
  };
  switch (kind) {
    case 'dns': {
      const rest = text.slice(4);
      const colon = rest.lastIndexOf(':');
      if (parts.length !== 2 || colon < 0) bad('expected dns/NAME:PORT (a DNS name, resolved by the sending pod, and a port)');
      const name = rest.slice(0, colon);
      const port = rest.slice(colon + 1);
      if (!/^[0-9]+$/.test(port) || +port < 1 || +port > 65535) bad(`port ${JSON.stringify(port)} is not a number in 1..65535`);
      const bare = name.endsWith('.') ? name.slice(0, -1) : name;
      const m = isDNS1123Subdomain(bare);
      if (m.length) bad(`name ${JSON.stringify(name)}: ${m[0]}`);
      return { kind: 'dns', name, port: +port, text };
    }
    case 'service': {
      if (parts.length === 2) bad(`service endpoints need a namespace: service/default/${parts[1]}`);
      if (parts.length !== 3) bad('expected service/NS/NAME or service/NS/NAME:PORT');
      label(parts[1], 'namespace');
      const [name, port, extra] = parts[2].split(':');
      if (extra !== undefined) bad('expected service/NS/NAME:PORT with one colon');
      sub(name, 'name');
      const ep: Endpoint = { kind: 'service', namespace: parts[1], name, text };
      if (port !== undefined) {
        if (/^[0-9]+$/.test(port)) {
          if (+port < 1 || +port > 65535) bad(`port ${port} is not in 1..65535`);
          ep.port = +port;
        } else {
          if (port === '') bad('the port after ":" is empty');
          ep.port = port;
        }
      }
      return ep;
    }
    case 'pod': {
      if (parts.length === 2) bad(`${kind} endpoints need a namespace: ${kind}/default/${parts[1]}`);
      if (parts.length !== 3) bad(`expected ${kind}/NS/NAME`);
      label(parts[1], 'namespace');
      sub(parts[2], 'name');
      return { kind, namespace: parts[1], name: parts[2], text };
    }
    case 'node':
    case 'host': {
      if (parts.length !== 2) bad(`expected ${kind}/NAME`);
      sub(parts[1], 'name');
      return { kind, name: parts[1], text };
    }
    default: {
      if (parts.length !== 2) bad('expected ip/A.B.C.D');
      const addr = parseIPv4(parts[1]);
      if (addr === undefined) bad(`${JSON.stringify(parts[1])} is not a valid IPv4 address`);
      return { kind: 'ip', addr: addr!, text };
    }
  }
}

/** Validates the `traffic:` list. */
export function validateTraffic(list: Y): TrafficRefs[] {
  const names = new UniqueNames('traffic name');
  const out: TrafficRefs[] = [];
  for (const ty of list.list()) {
    const m = ty.map(TRAFFIC_KEYS, ['name', 'from', 'to', 'protocol']);
    const nameY = m.req('name');
    const name = nameY.str();
    if (name === '') nameY.fail(`${nameY.what} must not be empty`);
    names.add(name, nameY);
    const atY = m.opt('at');
    const at = atY ? durationAt(atY) : 0;
    const fromY = m.req('from');
    const from = endpointAt(fromY, ['pod', 'node', 'host', 'ip']);
    const toY = m.req('to');
    const to = endpointAt(toY, ['pod', 'node', 'host', 'ip', 'service', 'dns']);
    if (to.kind === 'dns' && from.kind !== 'pod') toY.fail(`${toY.what}: dns/ names are resolved by the sending pod through its resolv.conf, so "from" must be a pod/NS/NAME`);
    const accessY = m.opt('access');
    let access: TrafficSpec['access'];
    if (accessY) {
      if (to.kind !== 'service') accessY.fail(`${accessY.what} is only allowed with "to: service/NS/NAME"`);
      access = accessY.oneOf(['clusterIP', 'nodePort', 'loadBalancer', 'externalIP'] as const);
    }
    const nodeY = m.opt('node');
    let node: string | undefined;
    if (nodeY) {
      if (access !== 'nodePort') nodeY.fail(`${nodeY.what} is only allowed with "access: nodePort" (it names the node whose NodePort is used)`);
      node = nodeY.str('a node name');
    }
    const viaY = m.opt('via');
    let via: Endpoint | undefined;
    if (from.kind === 'ip') {
      if (!viaY) fromY.fail(`${fromY.what} ${from.text} needs "via: node/NAME" or "via: host/NAME" naming the node or host that sends it`);
      via = endpointAt(viaY!, ['node', 'host']);
    } else if (viaY) {
      viaY.fail(`${viaY.what} is only allowed with "from: ip/A.B.C.D"`);
    }
    const protocol = m.req('protocol').oneOf(['icmp', 'tcp', 'udp'] as const);
    const portY = m.opt('port');
    const sportY = m.opt('sourcePort');
    let port: number | undefined;
    let sourcePort: number | undefined;
    if (protocol === 'icmp') {
      if (portY) m.get('port')!.fail(`${portY.what} is not allowed for protocol icmp`);
      if (sportY) m.get('sourcePort')!.fail(`${sportY.what} is not allowed for protocol icmp`);
    } else {
      const inline = to.kind === 'dns' || (to.kind === 'service' && to.port !== undefined);
      if (inline && portY) portY.fail(`${portY.what}: the port is already given in "to: ${to.text}"`);
      if (!inline && !portY) ty.fail(`${ty.what} is missing required key "port" (needed for protocol ${protocol})`);
      if (portY) port = portY.int(1, 65535);
      if (to.kind === 'dns') port = to.port;
      if (sportY) sourcePort = sportY.int(1, 65535);
    }
    if (protocol === 'icmp' && (to.kind === 'service' || to.kind === 'dns') && (to.kind === 'dns' || to.port !== undefined))
      toY.fail(`${toY.what}: a port makes no sense for protocol icmp`);
    const sizeY = m.opt('size');
    const size = sizeY ? sizeY.int(0, 65000) : protocol === 'icmp' ? 56 : 64;
    const pmY = m.opt('pmtuDiscovery');
    const pmtuDiscovery = pmY ? pmY.oneOf(['want', 'dont'] as const) : undefined;
    if (pmY && protocol === 'tcp') pmY.fail(`${pmY.what} applies to icmp and udp (TCP always sets DF)`, 'no pmtuDiscovery on a tcp item');
    const countY = m.opt('count');
    const count = countY ? countY.int(1, 1_000_000) : 1;
    const connY = m.opt('connection');
    const connection = connY ? connY.oneOf(['new', 'reuse'] as const) : 'new';
    if (connY && protocol === 'icmp') connY.fail(`${connY.what} applies to tcp and udp (each ping is its own echo request)`, 'no connection key on an icmp item');
    if (connection === 'reuse' && protocol === 'tcp' && size === 0) connY!.fail(`${connY!.what}: reuse needs data to exchange, but size is 0`, 'size >= 1 with connection: reuse');
    const toutY = m.opt('timeout');
    let timeout = 3 * S;
    if (toutY) {
      timeout = durationAt(toutY);
      if (timeout === 0) toutY.fail(`${toutY.what} must be greater than 0`);
    }
    const spec: TrafficSpec = { name, at, from, to, protocol, size, count, timeout, pos: ty.pos };
    if (via) spec.via = via;
    if (access) spec.access = access;
    if (node) spec.node = node;
    if (port !== undefined) spec.port = port;
    if (sourcePort !== undefined) spec.sourcePort = sourcePort;
    if (pmtuDiscovery) spec.pmtuDiscovery = pmtuDiscovery;
    if (connection === 'reuse') spec.connection = 'reuse';
    const path: Y[] = [];
    const served: { ep: Endpoint; y: Y }[] = [];
    const exY = m.opt('expect');
    if (exY) {
      const e = exY.map(EXPECT_KEYS);
      const expect: NonNullable<TrafficSpec['expect']> = { pos: exY.pos };
      const rY = e.opt('result');
      if (rY) expect.result = rY.oneOf<TrafficResult>(['reply', 'refused', 'unreachable', 'dropped', 'nxdomain']);
      const pY = e.opt('path');
      if (pY) {
        expect.path = [];
        for (const sy of pY.list()) {
          const s = sy.str('NODE/DEV or NODE/NETNS/DEV');
          const segs = s.split('/');
          if (segs.length < 2 || segs.length > 3 || segs.some((x) => x === '' || /\s/.test(x)))
            sy.fail(`${sy.what}: invalid path entry ${JSON.stringify(s)}`, 'NODE/DEV (host netns) or NODE/NETNS/DEV');
          expect.path.push(s);
          path.push(sy);
        }
      }
      const sbY = e.opt('servedBy');
      if (sbY) {
        expect.servedBy = [];
        for (const sy of sbY.list()) {
          const ep = endpointAt(sy, ['pod', 'node', 'host']);
          expect.servedBy.push(ep.kind === 'pod' ? `pod/${ep.namespace}/${ep.name}` : ep.text);
          served.push({ ep, y: sy });
        }
      }
      spec.expect = expect;
    }
    out.push({ spec, from: fromY, to: toY, via: viaY, node: nodeY, path, served });
  }
  return out;
}

/** A validated event and the nodes its references came from, for the loader's cross-checks. */
export interface EventRefs {
  spec: EventSpec;
  pod?: Y;
  node?: Y;
  /** policy-delete: its `policy:` value. */
  policy?: Y;
  /** link-down, link-up, impair: its `link:` value. */
  link?: Y;
}

/**
 * Validates `events:`: `pod-ready` (pod, ready), `pod-delete` (pod), `node-join`, `node-leave` and `node-down` (node),
 * `policy-apply` (manifest: a block string, {file: PATH} relative to `file`, or a mapping holding one
 * NetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy) and `policy-delete` (policy: KIND/NS/NAME).
 */
export function validateEvents(list: Y, file: string = list.src.file): EventRefs[] {
  const out: EventRefs[] = [];
  for (const ey of list.list()) {
    if (!ey.node || ey.isNull) ey.wrongType('a mapping', 'a mapping with keys at, kind, ...');
    const kind = ey.map(allKeys(ey), ['kind']).req('kind').oneOf(EVENT_KINDS);
    if (kind === 'policy-apply') {
      const m = ey.map(['at', 'kind', 'manifest'], ['at', 'kind', 'manifest']);
      const at = durationAt(m.req('at'));
      const my = m.req('manifest');
      const docs = loadManifestItem(my, file);
      if (docs.length !== 1) my.fail(`${my.what} must hold exactly one policy, got ${docs.length} documents`, `one of ${POLICY_KINDS.join(', ')}`);
      const lm = docs[0]!;
      if (lm.manifest.kind === 'Pod' || !(lm.manifest as OtherManifest).policy) {
        throw InputError.at(lm.at(['kind']), `${my.what}: policy-apply takes a policy, got kind ${JSON.stringify(lm.manifest.kind)}`, `one of ${POLICY_KINDS.join(', ')}`);
      }
      out.push({ spec: { at, kind, manifest: lm.manifest as PolicyManifest, pos: ey.pos } });
      continue;
    }
    if (kind === 'policy-delete') {
      const m = ey.map(['at', 'kind', 'policy'], ['at', 'kind', 'policy']);
      const at = durationAt(m.req('at'));
      const py = m.req('policy');
      const ref = policyRefAt(py);
      out.push({ spec: { at, kind, ...ref, pos: ey.pos }, policy: py });
      continue;
    }
    if (kind === 'link-down' || kind === 'link-up' || kind === 'impair') {
      const m = kind === 'impair' ? ey.map(['at', 'kind', 'link', ...IMPAIR_KEYS], ['at', 'kind', 'link']) : ey.map(['at', 'kind', 'link'], ['at', 'kind', 'link']);
      const at = durationAt(m.req('at'));
      const linkY = m.req('link');
      const link = linkAt(linkY);
      const spec: EventSpec = kind === 'impair' ? { at, kind, link, netem: netemAt(m), pos: ey.pos } : { at, kind, link, pos: ey.pos };
      out.push({ spec, link: linkY });
      continue;
    }
    if (kind === 'agent-stop' || kind === 'agent-start') {
      const m = ey.map(['at', 'kind', 'node', 'agent'], ['at', 'kind', 'node', 'agent']);
      const at = durationAt(m.req('at'));
      const nodeY = m.req('node');
      const agent = m.req('agent').oneOf(['flanneld', 'bird'] as const);
      out.push({ spec: { at, kind, node: nodeY.str('a node name'), agent, pos: ey.pos }, node: nodeY });
      continue;
    }
    if (kind === 'node-join' || kind === 'node-leave' || kind === 'node-down' || kind === 'node-up') {
      const m = ey.map(['at', 'kind', 'node'], ['at', 'kind', 'node']);
      const at = durationAt(m.req('at'));
      const nodeY = m.req('node');
      out.push({ spec: { at, kind, node: nodeY.str('a node name'), pos: ey.pos }, node: nodeY });
      continue;
    }
    const m = kind === 'pod-ready' ? ey.map(['at', 'kind', 'pod', 'ready'], ['at', 'kind', 'pod', 'ready']) : ey.map(['at', 'kind', 'pod'], ['at', 'kind', 'pod']);
    const at = durationAt(m.req('at'));
    const podY = m.req('pod');
    const ep = endpointAt(podY, ['pod']) as Extract<Endpoint, { kind: 'pod' }>;
    const spec: EventSpec = kind === 'pod-ready'
      ? { at, kind, namespace: ep.namespace, name: ep.name, ready: m.req('ready').bool(), pos: ey.pos }
      : { at, kind, namespace: ep.namespace, name: ep.name, pos: ey.pos };
    out.push({ spec, pod: podY });
  }
  return out;
}
/** `NetworkPolicy/NS/NAME`, `AdminNetworkPolicy/NAME` or `BaselineAdminNetworkPolicy/NAME`. */
export function policyRefAt(y: Y): { policyKind: PolicyKind; namespace?: string; name: string } {
  const text = y.str(POLICY_REF_FORMS);
  const parts = text.split('/');
  const bad = (why: string): never => y.fail(`${y.what}: invalid policy reference ${JSON.stringify(text)}: ${why}`, POLICY_REF_FORMS);
  const kind = parts[0]!;
  if (!(POLICY_KINDS as readonly string[]).includes(kind)) {
    const near = closest(kind, POLICY_KINDS) ?? POLICY_KINDS.find((k) => k.toLowerCase() === kind.toLowerCase());
    bad(`unknown kind ${JSON.stringify(kind)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`);
  }
  const policyKind = kind as PolicyKind;
  const sub = (s: string, what: string) => {
    const msg = isDNS1123Subdomain(s);
    if (msg.length) bad(`${what} ${JSON.stringify(s)}: ${msg[0]}`);
  };
  if (policyKind === 'NetworkPolicy') {
    if (parts.length !== 3) bad('a NetworkPolicy is namespaced: NetworkPolicy/NS/NAME');
    const m = isDNS1123Label(parts[1]!);
    if (m.length) bad(`namespace ${JSON.stringify(parts[1])}: ${m[0]}`);
    sub(parts[2]!, 'name');
    return { policyKind, namespace: parts[1]!, name: parts[2]! };
  }
  if (parts.length !== 2) bad(`${policyKind} is cluster-scoped: ${policyKind}/NAME`);
  sub(parts[1]!, 'name');
  return { policyKind, name: parts[1]! };
}

function allKeys(y: Y): string[] {
  const n = y.node as { items?: { key?: { value?: unknown } }[] } | null;
  return (n?.items ?? []).map((p) => String(p.key?.value));
}
