/**
 * CNI network configuration: a configuration list (`{cniVersion, name,
 * plugins: [...]}`, what `/etc/cni/net.d/*.conflist` holds) or a single
 * network configuration (`{cniVersion, name, type, ...}`), parsed from JSON
 * text with source positions and validated strictly.
 *
 * - `bridge` and its `host-local` IPAM are validated key by key, with the key
 *   names, defaults and checks of containernetworking/plugins (bridge.go
 *   `NetConf`/`loadNetConf`, host-local `LoadIPAMConfig`/`Range.Canonicalize`).
 *   Unknown keys are rejected, naming the key.
 * - `flannel` is kept as given and turned into `bridge` + `host-local` by
 *   `resolveFlannel`, the way flannel-io/cni-plugin builds its delegate.
 * - Any other plugin type (portmap, bandwidth, ...) is accepted as opaque
 *   (`kind: 'other'`): CNI allows plugin-specific keys.
 *
 * Every error is a `CniConfigError` naming the JSON path
 * (`plugins[0].ipam.ranges[0][0].subnet`), the line:col of that value when
 * parsed from text, and what was expected.
 */
import { JsonSyntaxError, joinPath, parseJsonWithPositions, type JsonValue, type SourcePos } from './json-pos.js';
import { canonicalizeRanges, RangeSetConfigError } from './host-local.js';
import { formatCidr4, networkOf, parseCidr4, parseIPv4, parseMac } from './ip4.js';

export type { JsonValue, SourcePos } from './json-pos.js';

export class CniConfigError extends Error {
  /** 1-based line of the offending value, when parsed from text. */
  readonly line?: number;
  readonly col?: number;
  constructor(
    /** JSON path; '' is the document root. */
    readonly path: string,
    /** What was expected there. */
    readonly expected: string,
    pos?: SourcePos,
  ) {
    super(`${path === '' ? '(root)' : path}${pos ? ` at ${pos.line}:${pos.col}` : ''}: expected ${expected}`);
    this.name = 'CniConfigError';
    if (pos) {
      this.line = pos.line;
      this.col = pos.col;
    }
  }
}

export const CNI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof CNI_VERSIONS)[number];

export interface IpamRangeConfig {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

export interface IpamRouteConfig {
  /** "10.96.0.0/12", "0.0.0.0/0" */
  dst: string;
  /** Without gw, the route goes via the gateway of the interface's address. */
  gw?: string;
}

/** host-local's configuration; the legacy top-level range is prepended to `ranges`, as the plugin does. */
export interface HostLocalIpamConfig {
  type: 'host-local';
  ranges: IpamRangeConfig[][];
  routes: IpamRouteConfig[];
  dataDir?: string;
  resolvConf?: string;
}

export interface DnsConfig {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface VlanTrunkConfig {
  minID?: number;
  maxID?: number;
  id?: number;
}

/** The bridge plugin's NetConf, defaults applied (isDefaultGateway forces isGateway). */
export interface BridgeNetConf {
  kind: 'bridge';
  type: 'bridge';
  cniVersion: CniVersion;
  name: string;
  /** Bridge device name; default "cni0". */
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend?: 'iptables' | 'nftables';
  /** 0 = not set (kernel default). */
  mtu: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  vlan: number;
  vlanTrunk?: VlanTrunkConfig[];
  /** vlanTrunk expanded and sorted (collectVlanTrunk). */
  vlans: number[];
  preserveDefaultVlan: boolean;
  macspoofchk: boolean;
  enabledad: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** Absent: layer-2 only (no address on the container interface). */
  ipam?: HostLocalIpamConfig;
  dns?: DnsConfig;
  capabilities?: Record<string, boolean>;
  runtimeConfig?: { mac?: string; ips?: string[] };
  args?: { cni?: { mac?: string; ips?: string[] } };
  /** The JSON object this came from (what the plugin would read on stdin). */
  raw: { [k: string]: JsonValue };
}

/** flannel's CNI plugin configuration, before `resolveFlannel`. */
export interface FlannelNetConf {
  kind: 'flannel';
  type: 'flannel';
  cniVersion: CniVersion;
  name: string;
  delegate: { [k: string]: JsonValue };
  ipam?: { [k: string]: JsonValue };
  subnetFile: string;
  dataDir: string;
  /** Path of this plugin in the source document (for error positions when resolving). */
  path: string;
  raw: { [k: string]: JsonValue };
}

/** Any other plugin: not validated beyond `type`. */
export interface OtherNetConf {
  kind: 'other';
  type: string;
  cniVersion: CniVersion;
  name: string;
  raw: { [k: string]: JsonValue };
}

export type PluginConf = BridgeNetConf | FlannelNetConf | OtherNetConf;

export interface NetworkConfigList {
  cniVersion: CniVersion;
  name: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConf[];
  raw: { [k: string]: JsonValue };
  /** Positions of values in the source text (absent when built in code). */
  positions?: Map<string, SourcePos>;
}

// ---------------------------------------------------------------------------

type Obj = { [k: string]: JsonValue };

class Checker {
  constructor(
    readonly positions?: Map<string, SourcePos>,
    readonly keyPositions?: Map<string, SourcePos>,
  ) {}

  fail(path: string, expected: string, opts: { key?: boolean } = {}): never {
    let pos = opts.key ? this.keyPositions?.get(path) : undefined;
    // a composed or missing value: point at the nearest enclosing value that has a position
    for (let p = path; !pos && this.positions; p = parentPath(p)) {
      pos = this.positions.get(p);
      if (p === '') break;
    }
    throw new CniConfigError(path, expected, pos);
  }

  object(v: JsonValue | undefined, path: string, what = 'an object'): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, `${what}, got ${describe(v)}`);
    return v as Obj;
  }

  onlyKeys(o: Obj, path: string, allowed: readonly string[], what: string): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        this.fail(joinPath(path, k), `no key ${JSON.stringify(k)}: not a ${what} key (known keys: ${allowed.join(', ')})`, { key: true });
      }
    }
  }

  str(o: Obj, key: string, path: string, opts: { required?: boolean; what?: string } = {}): string | undefined {
    const p = joinPath(path, key);
    const v = o[key];
    if (v === undefined) {
      if (opts.required) this.fail(p, `${opts.what ?? 'a string'} (required key ${JSON.stringify(key)} is missing)`);
      return undefined;
    }
    if (typeof v !== 'string') this.fail(p, `${opts.what ?? 'a string'}, got ${describe(v)}`);
    return v;
  }

  bool(o: Obj, key: string, path: string): boolean {
    const v = o[key];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') this.fail(joinPath(path, key), `true or false, got ${describe(v)}`);
    return v;
  }

  int(o: Obj, key: string, path: string, what: string, check?: (n: number) => boolean): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || (check && !check(v))) this.fail(joinPath(path, key), `${what}, got ${describe(v)}`);
    return v;
  }

  ip(o: Obj, key: string, path: string, required = false): string | undefined {
    const s = this.str(o, key, path, { required, what: 'an IPv4 address' });
    if (s !== undefined && parseIPv4(s) === null) this.fail(joinPath(path, key), `an IPv4 address ("a.b.c.d"), got ${JSON.stringify(s)}`);
    return s;
  }

  cidr(o: Obj, key: string, path: string, required = false): string | undefined {
    const s = this.str(o, key, path, { required, what: 'an IPv4 CIDR ("a.b.c.d/n")' });
    if (s !== undefined && parseCidr4(s) === null) this.fail(joinPath(path, key), `an IPv4 CIDR ("a.b.c.d/n"), got ${JSON.stringify(s)}`);
    return s;
  }

  strings(o: Obj, key: string, path: string, each?: (s: string, p: string) => void): string[] | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    const p = joinPath(path, key);
    if (!Array.isArray(v)) this.fail(p, `an array of strings, got ${describe(v)}`);
    return v.map((x, i) => {
      if (typeof x !== 'string') this.fail(joinPath(p, i), `a string, got ${describe(x)}`);
      each?.(x, joinPath(p, i));
      return x;
    });
  }
}

function parentPath(p: string): string {
  const m = /^(.*?)(\.[A-Za-z_$][A-Za-z0-9_$]*|\[[^\]]*\])$/.exec(p);
  if (m) return m[1];
  return '';
}

function describe(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Keys every plugin configuration may carry (CNI spec / libcni). */
const COMMON_KEYS = ['type', 'name', 'cniVersion', 'capabilities', 'runtimeConfig', 'args', 'dns'] as const;

const BRIDGE_KEYS = [
  ...COMMON_KEYS,
  'bridge',
  'isGateway',
  'isDefaultGateway',
  'forceAddress',
  'ipMasq',
  'ipMasqBackend',
  'mtu',
  'hairpinMode',
  'promiscMode',
  'vlan',
  'vlanTrunk',
  'preserveDefaultVlan',
  'macspoofchk',
  'enabledad',
  'disableContainerInterface',
  'portIsolation',
  'ipam',
] as const;

const HOST_LOCAL_KEYS = ['type', 'ranges', 'subnet', 'rangeStart', 'rangeEnd', 'gateway', 'routes', 'dataDir', 'resolvConf'] as const;
const RANGE_KEYS = ['subnet', 'rangeStart', 'rangeEnd', 'gateway'] as const;
const ROUTE_KEYS = ['dst', 'gw'] as const;
const FLANNEL_KEYS = [...COMMON_KEYS, 'delegate', 'ipam', 'subnetFile', 'dataDir'] as const;

function checkVersion(c: Checker, o: Obj, path: string, inherited?: CniVersion): CniVersion {
  const v = c.str(o, 'cniVersion', path, { required: inherited === undefined, what: `a CNI version (${CNI_VERSIONS.join(', ')})` });
  if (v === undefined) return inherited!;
  if (!(CNI_VERSIONS as readonly string[]).includes(v)) {
    c.fail(joinPath(path, 'cniVersion'), `a CNI version (${CNI_VERSIONS.join(', ')}), got ${JSON.stringify(v)}`);
  }
  return v as CniVersion;
}

function checkName(c: Checker, o: Obj, path: string, inherited?: string): string {
  const n = c.str(o, 'name', path, { required: inherited === undefined, what: 'a network name' });
  if (n === undefined) return inherited!;
  if (!NETWORK_NAME.test(n)) c.fail(joinPath(path, 'name'), `a network name matching ${NETWORK_NAME.source}, got ${JSON.stringify(n)}`);
  return n;
}

function checkIfName(c: Checker, s: string, path: string): void {
  if (s === '' || s.length > 15 || s === '.' || s === '..' || /[/:\s]/.test(s)) {
    c.fail(path, `an interface name (1-15 characters, no '/', ':' or whitespace), got ${JSON.stringify(s)}`);
  }
}

function checkDns(c: Checker, v: JsonValue | undefined, path: string): DnsConfig | undefined {
  if (v === undefined) return undefined;
  const o = c.object(v, path);
  c.onlyKeys(o, path, ['nameservers', 'domain', 'search', 'options'], 'DNS');
  const dns: DnsConfig = {};
  const ns = c.strings(o, 'nameservers', path);
  if (ns) dns.nameservers = ns;
  const d = c.str(o, 'domain', path);
  if (d !== undefined) dns.domain = d;
  const s = c.strings(o, 'search', path);
  if (s) dns.search = s;
  const opt = c.strings(o, 'options', path);
  if (opt) dns.options = opt;
  return dns;
}

function checkRange(c: Checker, v: JsonValue, path: string): IpamRangeConfig {
  const o = c.object(v, path, 'a range object {subnet, rangeStart, rangeEnd, gateway}');
  c.onlyKeys(o, path, RANGE_KEYS, 'host-local range');
  const r: IpamRangeConfig = { subnet: c.cidr(o, 'subnet', path, true)! };
  for (const k of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
    const s = c.ip(o, k, path);
    if (s !== undefined) r[k] = s;
  }
  return r;
}

function checkHostLocal(c: Checker, v: JsonValue, path: string, cniVersion: CniVersion): HostLocalIpamConfig {
  const o = c.object(v, path);
  const type = c.str(o, 'type', path, { required: true, what: 'an IPAM plugin type' });
  if (type !== 'host-local') {
    c.fail(joinPath(path, 'type'), `"host-local" (the only IPAM plugin podwire implements), got ${JSON.stringify(type)}`);
  }
  c.onlyKeys(o, path, HOST_LOCAL_KEYS, 'host-local');
  // where each range set / range came from, for error paths
  const setPaths: string[] = [];
  const rangePaths: string[][] = [];
  const ranges: IpamRangeConfig[][] = [];
  if (o.subnet !== undefined) {
    // legacy single-range form: its fields sit on the ipam object itself
    ranges.push([checkRange(c, { subnet: o.subnet, ...pick(o, ['rangeStart', 'rangeEnd', 'gateway']) }, path)]);
    setPaths.push(path);
    rangePaths.push([path]);
  } else {
    for (const k of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
      if (o[k] !== undefined) c.fail(joinPath(path, k), `no ${k} without "subnet" (the legacy single-range form needs a subnet)`);
    }
  }
  if (o.ranges !== undefined) {
    const rp = joinPath(path, 'ranges');
    if (!Array.isArray(o.ranges)) c.fail(rp, `an array of range sets ([[{subnet, ...}]]), got ${describe(o.ranges)}`);
    o.ranges.forEach((set, si) => {
      const sp = joinPath(rp, si);
      if (!Array.isArray(set)) c.fail(sp, `a range set (an array of range objects), got ${describe(set)}`);
      ranges.push(set.map((r, ri) => checkRange(c, r, joinPath(sp, ri))));
      setPaths.push(sp);
      rangePaths.push(set.map((_, ri) => joinPath(sp, ri)));
    });
  }
  if (ranges.length === 0) c.fail(joinPath(path, 'ranges'), 'at least one range set (no IP ranges specified)');
  try {
    canonicalizeRanges(ranges);
  } catch (e) {
    if (!(e instanceof RangeSetConfigError)) throw e;
    let p = e.rangeIndex !== undefined ? rangePaths[e.setIndex][e.rangeIndex] : setPaths[e.setIndex];
    if (e.field) p = joinPath(p, e.field);
    c.fail(p, `a valid range (${e.message})`);
  }
  if (ranges.length > 1 && ['0.1.0', '0.2.0'].includes(cniVersion)) {
    c.fail(joinPath(path, 'ranges'), `one range set (CNI version ${cniVersion} does not support more than 1 address per family)`);
  }
  const routes: IpamRouteConfig[] = [];
  if (o.routes !== undefined) {
    const rp = joinPath(path, 'routes');
    if (!Array.isArray(o.routes)) c.fail(rp, `an array of routes ([{dst, gw}]), got ${describe(o.routes)}`);
    o.routes.forEach((rv, i) => {
      const p = joinPath(rp, i);
      const ro = c.object(rv, p, 'a route object {dst, gw}');
      c.onlyKeys(ro, p, ROUTE_KEYS, 'route');
      const route: IpamRouteConfig = { dst: c.cidr(ro, 'dst', p, true)! };
      const gw = c.ip(ro, 'gw', p);
      if (gw !== undefined) route.gw = gw;
      routes.push(route);
    });
  }
  const conf: HostLocalIpamConfig = { type: 'host-local', ranges, routes };
  const dataDir = c.str(o, 'dataDir', path, { what: 'a directory path' });
  if (dataDir !== undefined) conf.dataDir = dataDir;
  const resolvConf = c.str(o, 'resolvConf', path, { what: 'a resolv.conf path' });
  if (resolvConf !== undefined) conf.resolvConf = resolvConf;
  return conf;
}

function pick(o: Obj, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function checkVlanTrunk(c: Checker, v: JsonValue | undefined, path: string): { trunk?: VlanTrunkConfig[]; vlans: number[] } {
  if (v === undefined || v === null) return { vlans: [] };
  if (!Array.isArray(v)) c.fail(path, `an array of {minID, maxID} or {id}, got ${describe(v)}`);
  const set = new Set<number>();
  const trunk = v.map((item, i) => {
    const p = joinPath(path, i);
    const o = c.object(item, p, 'a trunk object {minID, maxID, id}');
    c.onlyKeys(o, p, ['minID', 'maxID', 'id'], 'vlanTrunk');
    const t: VlanTrunkConfig = {};
    const minID = c.int(o, 'minID', p, 'an integer');
    const maxID = c.int(o, 'maxID', p, 'an integer');
    const id = c.int(o, 'id', p, 'an integer');
    if (minID !== undefined && maxID !== undefined) {
      if (minID <= 0 || minID > 4094) c.fail(joinPath(p, 'minID'), '1-4094 (incorrect trunk minID parameter)');
      if (maxID <= 0 || maxID > 4094) c.fail(joinPath(p, 'maxID'), '1-4094 (incorrect trunk maxID parameter)');
      if (maxID < minID) c.fail(p, 'minID <= maxID (minID is greater than maxID in trunk parameter)');
      for (let x = minID; x <= maxID; x++) set.add(x);
      t.minID = minID;
      t.maxID = maxID;
    } else if (minID === undefined && maxID !== undefined) {
      c.fail(p, 'minID with maxID (minID and maxID should be configured simultaneously, minID is missing)');
    } else if (minID !== undefined && maxID === undefined) {
      c.fail(p, 'maxID with minID (minID and maxID should be configured simultaneously, maxID is missing)');
    }
    if (id !== undefined) {
      if (id <= 0 || id > 4094) c.fail(joinPath(p, 'id'), '1-4094 (incorrect trunk id parameter)');
      set.add(id);
      t.id = id;
    }
    return t;
  });
  return { trunk, vlans: [...set].sort((a, b) => a - b) };
}

function checkBridge(c: Checker, o: Obj, path: string, inherited: { name?: string; cniVersion?: CniVersion }): BridgeNetConf {
  c.onlyKeys(o, path, BRIDGE_KEYS, 'bridge plugin');
  const cniVersion = checkVersion(c, o, path, inherited.cniVersion);
  const name = checkName(c, o, path, inherited.name);
  const bridge = c.str(o, 'bridge', path, { what: 'a bridge device name' }) ?? 'cni0';
  checkIfName(c, bridge, joinPath(path, 'bridge'));
  const mtu = c.int(o, 'mtu', path, '0 (unset) or an MTU 68-65535', (n) => n === 0 || (n >= 68 && n <= 65535)) ?? 0;
  const vlan = o.vlan === undefined ? 0 : c.int(o, 'vlan', path, 'an integer VLAN ID')!;
  if (vlan < 0 || vlan > 4094) c.fail(joinPath(path, 'vlan'), `a VLAN ID 0-4094 (invalid VLAN ID ${vlan} (must be between 0 and 4094))`);
  const { trunk, vlans } = checkVlanTrunk(c, o.vlanTrunk, joinPath(path, 'vlanTrunk'));
  const isDefaultGateway = c.bool(o, 'isDefaultGateway', path);
  const hairpinMode = c.bool(o, 'hairpinMode', path);
  const promiscMode = c.bool(o, 'promiscMode', path);
  if (hairpinMode && promiscMode) {
    c.fail(joinPath(path, 'promiscMode'), 'not both hairpinMode and promiscMode (cannot set hairpin mode and promiscuous mode at the same time)');
  }
  const conf: BridgeNetConf = {
    kind: 'bridge',
    type: 'bridge',
    cniVersion,
    name,
    bridge,
    isGateway: c.bool(o, 'isGateway', path) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: c.bool(o, 'forceAddress', path),
    ipMasq: c.bool(o, 'ipMasq', path),
    mtu,
    hairpinMode,
    promiscMode,
    vlan,
    vlans,
    preserveDefaultVlan: c.bool(o, 'preserveDefaultVlan', path),
    macspoofchk: c.bool(o, 'macspoofchk', path),
    enabledad: c.bool(o, 'enabledad', path),
    disableContainerInterface: c.bool(o, 'disableContainerInterface', path),
    portIsolation: c.bool(o, 'portIsolation', path),
    raw: o,
  };
  if (trunk) conf.vlanTrunk = trunk;
  const backend = c.str(o, 'ipMasqBackend', path, { what: '"iptables" or "nftables"' });
  if (backend !== undefined) {
    if (backend !== 'iptables' && backend !== 'nftables') c.fail(joinPath(path, 'ipMasqBackend'), `"iptables" or "nftables" (unknown ipmasq backend ${JSON.stringify(backend)})`);
    conf.ipMasqBackend = backend;
  }
  if (o.ipam !== undefined) {
    const ip = c.object(o.ipam, joinPath(path, 'ipam'));
    // an empty ipam object (no type) means layer 2 only, as in the plugin (`n.IPAM.Type != ""`)
    if (Object.keys(ip).length > 0) conf.ipam = checkHostLocal(c, ip, joinPath(path, 'ipam'), cniVersion);
  }
  if (conf.ipam && conf.disableContainerInterface) {
    c.fail(joinPath(path, 'disableContainerInterface'), 'false when ipam is set (cannot use IPAM when DisableContainerInterface flag is set)');
  }
  const dns = checkDns(c, o.dns, joinPath(path, 'dns'));
  if (dns) conf.dns = dns;
  if (o.capabilities !== undefined) {
    const cp = joinPath(path, 'capabilities');
    const co = c.object(o.capabilities, cp);
    for (const k of Object.keys(co)) if (typeof co[k] !== 'boolean') c.fail(joinPath(cp, k), `true or false, got ${describe(co[k])}`);
    conf.capabilities = co as Record<string, boolean>;
  }
  const macAndIps = (v: JsonValue | undefined, p: string): { mac?: string; ips?: string[] } => {
    const mo = c.object(v, p);
    const out: { mac?: string; ips?: string[] } = {};
    const mac = c.str(mo, 'mac', p, { what: 'a MAC address' });
    if (mac !== undefined) {
      if (!parseMac(mac)) c.fail(joinPath(p, 'mac'), `a MAC address ("aa:bb:cc:dd:ee:ff"), got ${JSON.stringify(mac)}`);
      out.mac = mac;
    }
    const ips = c.strings(mo, 'ips', p, (s, sp) => {
      const bare = s.includes('/') ? s.slice(0, s.indexOf('/')) : s;
      if (parseIPv4(bare) === null) c.fail(sp, `an IPv4 address, got ${JSON.stringify(s)}`);
    });
    if (ips) out.ips = ips;
    return out;
  };
  if (o.runtimeConfig !== undefined) conf.runtimeConfig = macAndIps(o.runtimeConfig, joinPath(path, 'runtimeConfig'));
  if (o.args !== undefined) {
    const ap = joinPath(path, 'args');
    const ao = c.object(o.args, ap);
    conf.args = {};
    if (ao.cni !== undefined) conf.args.cni = macAndIps(ao.cni, joinPath(ap, 'cni'));
  }
  return conf;
}

function checkFlannel(c: Checker, o: Obj, path: string, inherited: { name?: string; cniVersion?: CniVersion }): FlannelNetConf {
  c.onlyKeys(o, path, FLANNEL_KEYS, 'flannel plugin');
  const conf: FlannelNetConf = {
    kind: 'flannel',
    type: 'flannel',
    cniVersion: checkVersion(c, o, path, inherited.cniVersion),
    name: checkName(c, o, path, inherited.name),
    delegate: o.delegate === undefined ? {} : c.object(o.delegate, joinPath(path, 'delegate')),
    subnetFile: c.str(o, 'subnetFile', path, { what: 'a file path' }) ?? '/run/flannel/subnet.env',
    dataDir: c.str(o, 'dataDir', path, { what: 'a directory path' }) ?? '/var/lib/cni/flannel',
    path,
    raw: o,
  };
  if (o.ipam !== undefined) conf.ipam = c.object(o.ipam, joinPath(path, 'ipam'));
  return conf;
}

function checkPlugin(c: Checker, v: JsonValue, path: string, inherited: { name?: string; cniVersion?: CniVersion }): PluginConf {
  const o = c.object(v, path, 'a plugin configuration object');
  const type = c.str(o, 'type', path, { required: true, what: 'a plugin type' })!;
  if (type === '') c.fail(joinPath(path, 'type'), 'a plugin type, got the empty string');
  if (type === 'bridge') return checkBridge(c, o, path, inherited);
  if (type === 'flannel') return checkFlannel(c, o, path, inherited);
  return { kind: 'other', type, cniVersion: checkVersion(c, o, path, inherited.cniVersion), name: checkName(c, o, path, inherited.name), raw: o };
}

function checkList(c: Checker, v: JsonValue, positions?: Map<string, SourcePos>): NetworkConfigList {
  const o = c.object(v, '', 'a network configuration list object');
  c.onlyKeys(o, '', ['cniVersion', 'cniVersions', 'name', 'disableCheck', 'disableGC', 'plugins'], 'network configuration list');
  const cniVersion = checkVersion(c, o, '');
  const name = checkName(c, o, '');
  if (o.plugins === undefined) c.fail('plugins', 'an array of plugin configurations (required key "plugins" is missing)');
  if (!Array.isArray(o.plugins)) c.fail('plugins', `an array of plugin configurations, got ${describe(o.plugins)}`);
  if (o.plugins.length === 0) c.fail('plugins', 'at least one plugin (no plugins in list)');
  const plugins = o.plugins.map((p, i) => checkPlugin(c, p, joinPath('plugins', i), { name, cniVersion }));
  const list: NetworkConfigList = {
    cniVersion,
    name,
    disableCheck: c.bool(o, 'disableCheck', ''),
    disableGC: c.bool(o, 'disableGC', ''),
    plugins,
    raw: o,
  };
  if (positions) list.positions = positions;
  return list;
}

function parseText(text: string) {
  try {
    return parseJsonWithPositions(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new CniConfigError(e.path, e.expected, e.pos);
    throw e;
  }
}

/** Parse and validate a network configuration list (`.conflist`) from JSON text. */
export function parseConflist(text: string): NetworkConfigList {
  const { value, positions, keyPositions } = parseText(text);
  return checkList(new Checker(positions, keyPositions), value, positions);
}

/** Validate a configuration list given as a JSON value (no positions in errors). */
export function validateConflist(value: JsonValue): NetworkConfigList {
  return checkList(new Checker(), value);
}

/** Parse and validate a single network configuration (`.conf`: `{cniVersion, name, type, ...}`). */
export function parseNetworkConfig(text: string): PluginConf {
  const { value, positions, keyPositions } = parseText(text);
  return checkPlugin(new Checker(positions, keyPositions), value, '', {});
}

/**
 * Parse either form; a single configuration is wrapped into a list as libcni's
 * ConfListFromConf does (list name and version from the configuration).
 */
export function parseCniConfig(text: string): NetworkConfigList {
  const { value, positions, keyPositions } = parseText(text);
  const c = new Checker(positions, keyPositions);
  const o = c.object(value, '', 'a network configuration object');
  if (o.plugins !== undefined) return checkList(c, value, positions);
  const plugin = checkPlugin(c, value, '', {});
  return { cniVersion: plugin.cniVersion, name: plugin.name, disableCheck: false, disableGC: false, plugins: [plugin], raw: o, positions };
}

// ---------------------------------------------------------------------------
// flannel

/** What `/run/flannel/subnet.env` says on the node. */
export interface FlannelSubnetEnv {
  /** FLANNEL_NETWORK, e.g. "10.244.0.0/16" (comma-separated list allowed). */
  network: string;
  /** FLANNEL_SUBNET, e.g. "10.244.1.1/24"; host-local gets its network address. */
  subnet: string;
  /** FLANNEL_MTU */
  mtu: number;
  /** FLANNEL_IPMASQ: whether flanneld masquerades (then the bridge does not). */
  ipMasq: boolean;
}

/**
 * Replace every `flannel` plugin of a list by the `bridge` + `host-local`
 * configuration flannel's CNI plugin delegates to (flannel-io/cni-plugin
 * `doCmdAdd`/`getDelegateIPAM`, read at 092e6d2): delegate `name` = network
 * name, `type` default "bridge", `ipMasq` default !FLANNEL_IPMASQ, `mtu`
 * default FLANNEL_MTU, `isGateway` default true, `cniVersion` from the list;
 * `ipam` = the flannel conf's `ipam` with `type` default "host-local",
 * `ranges` replaced by `[[{subnet: <FLANNEL_SUBNET network>}]]` and `routes`
 * = its routes + `{dst: <each FLANNEL_NETWORK>}`. Only a bridge delegate is
 * supported.
 */
export function resolveFlannel(list: NetworkConfigList, env: FlannelSubnetEnv): NetworkConfigList {
  const c = new Checker(list.positions);
  const sn = parseCidr4(env.subnet);
  if (!sn) throw new CniConfigError('', `FLANNEL_SUBNET to be an IPv4 CIDR, got ${JSON.stringify(env.subnet)}`);
  const nets = env.network.split(',').map((n) => {
    const p = parseCidr4(n.trim());
    if (!p) throw new CniConfigError('', `FLANNEL_NETWORK to be IPv4 CIDRs, got ${JSON.stringify(env.network)}`);
    return formatCidr4(networkOf(p.ip, p.prefix), p.prefix);
  });
  const plugins = list.plugins.map((p): PluginConf => {
    if (p.kind !== 'flannel') return p;
    const d: Obj = { ...p.delegate, name: p.name };
    if (d.type === undefined) d.type = 'bridge';
    if (d.ipMasq === undefined) d.ipMasq = !env.ipMasq;
    if (d.mtu === undefined) d.mtu = env.mtu;
    if (d.type === 'bridge' && d.isGateway === undefined) d.isGateway = true;
    d.cniVersion = p.cniVersion;
    const ipam: Obj = { ...(p.ipam ?? {}) };
    if (ipam.type === undefined) ipam.type = 'host-local';
    ipam.ranges = [[{ subnet: formatCidr4(networkOf(sn.ip, sn.prefix), sn.prefix) }]];
    const routes = Array.isArray(ipam.routes) ? [...ipam.routes] : [];
    for (const n of nets) routes.push({ dst: n });
    ipam.routes = routes;
    d.ipam = ipam;
    const dp = joinPath(p.path, 'delegate');
    if (d.type !== 'bridge') c.fail(joinPath(dp, 'type'), `"bridge" (the only flannel delegate podwire implements), got ${describe(d.type)}`);
    return checkBridge(c, d, dp, {});
  });
  return { ...list, plugins };
}

// ---------------------------------------------------------------------------

export interface DefaultBridgeOptions {
  /** Network name; default "cbr0". */
  name?: string;
  /** The node's pod CIDR, e.g. "10.244.1.0/24". */
  subnet: string;
  /** Default true (as flannel's shipped manifest). */
  hairpinMode?: boolean;
  /** Default 1500. */
  mtu?: number;
  /** Bridge device; default "cni0". */
  bridge?: string;
}

/**
 * The configuration list podwire uses when a scenario gives none: bridge cni0
 * as the pods' default gateway, hairpin on, no masquerade (left to the node's
 * own rules), host-local on the node's pod CIDR. `JSON.stringify(list.raw)`
 * is its .conflist text.
 */
export function defaultBridgeConflist(opts: DefaultBridgeOptions): NetworkConfigList {
  const raw = {
    cniVersion: '1.0.0',
    name: opts.name ?? 'cbr0',
    plugins: [
      {
        type: 'bridge',
        bridge: opts.bridge ?? 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        hairpinMode: opts.hairpinMode ?? true,
        mtu: opts.mtu ?? 1500,
        ipam: { type: 'host-local', ranges: [[{ subnet: opts.subnet }]] },
      },
    ],
  };
  return validateConflist(raw);
}
