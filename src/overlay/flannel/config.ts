/**
 * flannel's network configuration (`net-conf.json`, the `flannel-cfg` ConfigMap's
 * key): parsing and the coherence checks and defaults flanneld applies
 * (flannel pkg/subnet/config.go, read for behaviour):
 *
 *  - `Network` (required with IPv4, which is on unless `EnableIPv4: false`);
 *  - `SubnetLen`: given → at most 30 and at least Network's prefix + 2 (four
 *    subnets, the first one unused); absent → 24 when the Network is /22 or
 *    larger, else prefix + 2; a Network smaller than /28 is refused;
 *  - `SubnetMin` defaults to the second subnet (the first is skipped: its
 *    network address would clash with the Network's), `SubnetMax` to the
 *    last; given ones must lie in the Network and on a SubnetLen boundary;
 *  - `Backend`: absent → type "udp" (flannel's own default); its `Type` and
 *    the backend's options are checked by the backend (vxlan: VNI, Port,
 *    MTU, GBP, Learning, DirectRouting; host-gw: none; udp: Port).
 *
 * Go's encoding/json matches field names case-insensitively and ignores
 * unknown ones; podwire matches the same way but reports unknown keys (with
 * the closest known one), since a silently ignored key is the bug a user came
 * to find. IPv6 networks are refused (podwire is IPv4 only).
 */
import { joinPath, parseJsonWithPositions, JsonSyntaxError, type JsonValue, type PositionedJson } from '../../cni/json-pos.js';
import { formatCidr4, formatIPv4, networkOf, parseCidr4, parseIPv4 } from '../../cni/ip4.js';
import { closest } from '../../kube/suggest.js';

export type FlannelBackendType = 'vxlan' | 'host-gw' | 'udp';

export interface VxlanOptions {
  /** VNI (default 1). */
  vni: number;
  /** UDP port; 0 = the kernel's default, 8472. */
  port: number;
  /** Overlay MTU override (0 = the external interface's MTU − 50). */
  mtu: number;
  gbp: boolean;
  learning: boolean;
  directRouting: boolean;
}

export interface FlannelConfig {
  network: { addr: number; prefix: number };
  subnetLen: number;
  subnetMin: number;
  subnetMax: number;
  backend: { type: FlannelBackendType; vxlan?: VxlanOptions; udpPort?: number };
}

/** A net-conf.json problem at a JSON path (line/column within the text when known). */
export class FlannelConfigError extends Error {
  constructor(message: string, readonly path: string, readonly line?: number, readonly col?: number, readonly expected?: string) {
    super(message);
    this.name = 'FlannelConfigError';
  }
}

const TOP_KEYS = ['EnableIPv4', 'EnableIPv6', 'Network', 'IPv6Network', 'SubnetMin', 'SubnetMax', 'IPv6SubnetMin', 'IPv6SubnetMax', 'SubnetLen', 'IPv6SubnetLen', 'Backend'] as const;
const VXLAN_KEYS = ['Type', 'VNI', 'Port', 'MTU', 'GBP', 'Learning', 'DirectRouting', 'MacPrefix'] as const;
const UDP_KEYS = ['Type', 'Port'] as const;
const HOSTGW_KEYS = ['Type'] as const;

type Obj = { [k: string]: JsonValue };

/** Parses and checks `text` (net-conf.json) as flanneld does with the kube subnet manager off (CheckNetworkConfig). */
export function parseFlannelConfig(text: string): FlannelConfig {
  let pj: PositionedJson;
  try {
    pj = parseJsonWithPositions(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new FlannelConfigError('not valid JSON', e.path, e.pos.line, e.pos.col, e.expected);
    throw e;
  }
  const at = (path: string, key = false) => (key ? pj.keyPositions.get(path) : pj.positions.get(path)) ?? pj.positions.get('');
  const fail = (path: string, message: string, expected?: string, key = false): never => {
    const p = at(path, key);
    throw new FlannelConfigError(message, path, p?.line, p?.col, expected);
  };
  const root = pj.value;
  if (root === null || typeof root !== 'object' || Array.isArray(root)) fail('', 'net-conf.json must be a JSON object', '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
  const top = fields(root as Obj, '', TOP_KEYS, fail);

  const bool = (k: string, dflt: boolean): boolean => {
    const v = top.get(k);
    if (v === undefined) return dflt;
    if (typeof v.value !== 'boolean') fail(v.path, `${k} must be true or false`, 'a JSON boolean');
    return v.value as boolean;
  };
  if (bool('EnableIPv6', false)) fail(top.get('EnableIPv6')!.path, 'EnableIPv6: podwire models IPv4 only', 'false');
  for (const k of ['IPv6Network', 'IPv6SubnetMin', 'IPv6SubnetMax', 'IPv6SubnetLen']) if (top.has(k)) fail(top.get(k)!.path, `${k}: podwire models IPv4 only`, undefined, true);
  if (!bool('EnableIPv4', true)) fail(top.get('EnableIPv4')!.path, 'EnableIPv4 false leaves flannel nothing to do in an IPv4-only model', 'true');

  const netV = top.get('Network');
  if (!netV) fail('', 'please define a correct Network parameter in the flannel config', '"Network": "10.244.0.0/16"');
  if (typeof netV!.value !== 'string') fail(netV!.path, 'Network must be a CIDR string', '"10.244.0.0/16"');
  const cidr = parseCidr4(netV!.value as string);
  if (!cidr) fail(netV!.path, `Network ${JSON.stringify(netV!.value)} is not an IPv4 CIDR`, '"10.244.0.0/16"');
  // flannel keeps the CIDR as written but works on its network address.
  const prefix = cidr!.prefix;
  const netAddr = networkOf(cidr!.ip, prefix);

  let subnetLen: number;
  const slV = top.get('SubnetLen');
  if (slV && slV.value !== 0) {
    if (typeof slV.value !== 'number' || !Number.isInteger(slV.value) || slV.value < 0) fail(slV.path, 'SubnetLen must be a whole number', 'an integer like 24');
    subnetLen = slV.value as number;
    if (subnetLen > 30) fail(slV.path, 'SubnetLen must be less than /31', '30 or less');
    if (subnetLen < prefix + 2) fail(slV.path, 'network must be able to accommodate at least four subnets', `SubnetLen ${prefix + 2} or more for a /${prefix} Network`);
  } else {
    if (prefix > 28) fail(netV!.path, 'network is too small. Minimum useful network prefix is /28', 'a /28 or larger Network');
    subnetLen = prefix <= 22 ? 24 : prefix + 2;
  }
  const size = 2 ** (32 - subnetLen);
  const netEnd = netAddr + 2 ** (32 - prefix);
  const inNet = (ip: number) => ip >= netAddr && ip < netEnd;
  const addrField = (k: string, dflt: number): number => {
    const v = top.get(k);
    if (v === undefined || v.value === '' || v.value === null) return dflt;
    if (typeof v.value !== 'string') fail(v.path, `${k} must be an IPv4 address string`, '"10.244.1.0"');
    const ip = parseIPv4(v.value as string);
    if (ip === null) fail(v.path, `${k} ${JSON.stringify(v.value)} is not an IPv4 address`, '"10.244.1.0"');
    if (!inNet(ip!)) fail(v.path, `${k} is not in the range of the Network`, `an address inside ${formatCidr4(netAddr, prefix)}`);
    if (ip! % size !== 0) fail(v.path, `${k} is not on a SubnetLen boundary: ${formatIPv4(ip!)}`, `a multiple of a /${subnetLen}`);
    return ip!;
  };
  const subnetMin = addrField('SubnetMin', netAddr + size);
  const subnetMax = addrField('SubnetMax', netEnd - size);

  const be = top.get('Backend');
  let backend: FlannelConfig['backend'];
  if (be === undefined) backend = { type: 'udp', udpPort: 8285 };
  else {
    if (be.value === null || typeof be.value !== 'object' || Array.isArray(be.value)) fail(be.path, 'error decoding Backend property of config: Backend must be an object', '{"Type": "vxlan"}');
    const tV = findKey(be.value as Obj, 'Type');
    const type = tV === undefined ? '' : (be.value as Obj)[tV];
    const typePath = tV === undefined ? be.path : joinPath(be.path, tV);
    if (type !== 'vxlan' && type !== 'host-gw' && type !== 'udp') {
      fail(typePath, `backend type ${JSON.stringify(type ?? '')} is not supported by podwire`, 'vxlan, host-gw or udp');
    }
    if (type === 'vxlan') {
      const f = fields(be.value as Obj, be.path, VXLAN_KEYS, fail);
      const num = (k: string, dflt: number, max: number) => {
        const v = f.get(k);
        if (v === undefined) return dflt;
        if (typeof v.value !== 'number' || !Number.isInteger(v.value) || v.value < 0 || v.value > max) fail(v.path, `${k} must be a whole number in 0..${max}`);
        return v.value as number;
      };
      const flag = (k: string) => {
        const v = f.get(k);
        if (v === undefined) return false;
        if (typeof v.value !== 'boolean') fail(v.path, `${k} must be true or false`);
        return v.value as boolean;
      };
      if (f.has('MacPrefix')) fail(f.get('MacPrefix')!.path, 'MacPrefix applies to IPv6 VTEPs only', undefined, true);
      backend = { type, vxlan: { vni: num('VNI', 1, 0xffffff), port: num('Port', 0, 65535), mtu: num('MTU', 0, 65535), gbp: flag('GBP'), learning: flag('Learning'), directRouting: flag('DirectRouting') } };
    } else if (type === 'udp') {
      const f = fields(be.value as Obj, be.path, UDP_KEYS, fail);
      const p = f.get('Port');
      if (p && (typeof p.value !== 'number' || !Number.isInteger(p.value) || p.value < 1 || p.value > 65535)) fail(p.path, 'Port must be a whole number in 1..65535');
      backend = { type, udpPort: p ? (p.value as number) : 8285 };
    } else {
      fields(be.value as Obj, be.path, HOSTGW_KEYS, fail);
      backend = { type: 'host-gw' };
    }
  }
  return { network: { addr: netAddr, prefix }, subnetLen, subnetMin, subnetMax, backend };
}

/** The key of `o` that Go's encoding/json would bind to field `name` (exact match first, then case-insensitive). */
function findKey(o: Obj, name: string): string | undefined {
  if (name in o) return name;
  const lc = name.toLowerCase();
  return Object.keys(o).find((k) => k.toLowerCase() === lc);
}

/** The object's keys bound to `known` field names (case-insensitively, as Go does); unknown keys are errors. */
function fields(o: Obj, path: string, known: readonly string[], fail: (path: string, message: string, expected?: string, key?: boolean) => never): Map<string, { value: JsonValue; path: string }> {
  const out = new Map<string, { value: JsonValue; path: string }>();
  for (const [k, v] of Object.entries(o)) {
    const field = known.find((f) => f.toLowerCase() === k.toLowerCase());
    const p = joinPath(path, k);
    if (!field) {
      const near = closest(k, known);
      fail(p, `unknown key ${JSON.stringify(k)} in ${path || 'net-conf.json'}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`, `one of ${known.join(', ')}`, true);
    }
    if (out.has(field!)) fail(p, `${JSON.stringify(k)} repeats ${field} (keys match case-insensitively)`, undefined, true);
    out.set(field!, { value: v, path: p });
  }
  return out;
}

/** flannel's subnet key (etcd key / lease name): `10.244.1.0-24`. */
export function subnetKey(addr: number, prefix: number): string {
  return `${formatIPv4(addr)}-${prefix}`;
}

/** `/run/flannel/subnet.env` as flanneld writes it for a lease. */
export function subnetEnv(cfg: FlannelConfig, lease: { addr: number; prefix: number }, mtu: number, ipMasq: boolean): string {
  return [
    `FLANNEL_NETWORK=${formatCidr4(cfg.network.addr, cfg.network.prefix)}`,
    `FLANNEL_SUBNET=${formatCidr4((lease.addr + 1) >>> 0, lease.prefix)}`,
    `FLANNEL_MTU=${mtu}`,
    `FLANNEL_IPMASQ=${ipMasq}`,
    '',
  ].join('\n');
}
