/**
 * The CNI `bridge` plugin (containernetworking/plugins plugins/main/bridge),
 * acting on a node only through `Netlink`, in the plugin's order.
 *
 * ADD:
 *  1. ensureBridge: `ip link add cni0 type bridge` [mtu] (skipped when it
 *     exists; an existing non-bridge of that name is an error), accept_ra=0
 *     (errors ignored, as the plugin ignores them), `ip link set cni0 up`.
 *  2. setupVeth: `ip link add <ifName> netns <pod> type veth peer name
 *     veth<8 hex> netns host` [mtu], retrying with a new name when the host
 *     name exists (up to 10 tries); host end up; accept_ra=0 on it;
 *     `ip link set vethX master cni0`; `bridge link set dev vethX hairpin on|off`.
 *  3. host-local IPAM (released again if a later step fails).
 *  4. Gateways: each IP's gateway (from IPAM, or network+1 when isGateway);
 *     with isDefaultGateway, `0.0.0.0/0 via <gw>` unless IPAM gave a default.
 *  5. In the pod: accept_dad=0 (or enhanced_dad/accept_dad=1 with enabledad)
 *     and arp_notify=1 on ifName (errors ignored); `ip addr add <ip/prefix>`;
 *     `ip link set <ifName> up`; routes (a route without gw goes via the
 *     address's gateway).
 *  6. isGateway: `ip addr add <gw/prefix> dev cni0` unless already there (a
 *     different IPv4 address is an error unless forceAddress, which replaces
 *     it), then the bridge MAC is set to itself (pinned); ip_forward=1 if not
 *     already 1.
 *  7. ipMasq: the iptables rules are returned as data (`result.ipMasq`) for
 *     the netfilter layer to install; nothing is installed here.
 *
 * DEL: delete ifName in the pod netns (which deletes the veth pair), then
 * release host-local's IPs; a missing netns or link is not an error (DEL is
 * idempotent per the CNI spec).
 *
 * Determinism: the kernel would pick random MACs for the bridge and the veth
 * ends; podwire draws them from the run's Rng and passes them explicitly.
 * Draw order: bridge MAC (only when the bridge is created), then per veth
 * attempt: 4 name bytes, container-end MAC (unless given), host-end MAC.
 *
 * Not modelled (throws `CniError` code 999 "not modelled"): promiscMode, vlan,
 * vlanTrunk, macspoofchk, portIsolation=true — `Netlink` has no operation for
 * promiscuity, bridge VLANs, port isolation or nftables.
 */
import { createHash } from 'node:crypto';
import type { Rng } from '../engine/rng.js';
import { NetlinkError, type Netlink } from '../kernel/netlink.js';
import type { BridgeNetConf, DnsConfig, IpamRouteConfig } from './conflist.js';
import { HostLocalDisk, HostLocalIpam, type IpamIPConfig } from './host-local.js';
import { formatIPv4, formatMac, hexOf, networkOf, parseCidr4, parseMac } from './ip4.js';

/** A CNI error result (`{code, msg, details}`); code 999 is the spec's generic/internal error. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details = '',
  ) {
    super(msg);
    this.name = 'CniError';
  }
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.msg, ...(this.details ? { details: this.details } : {}) };
  }
}

const fail = (msg: string): never => {
  throw new CniError(999, msg);
};

export interface CniInterface {
  name: string;
  mac: string;
  /** Set for an interface inside a container netns: the netns path. */
  sandbox?: string;
}

export interface CniIPConfig {
  /** Present for cniVersion 0.3.x/0.4.0 ("4"); removed in 1.0.0. */
  version?: '4';
  address: string;
  gateway?: string;
  /** Index into `interfaces` (2: the container interface). */
  interface: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

/** One iptables rule the plugin would add, as `iptables -t <table> -A <chain> <args...>`. */
export interface IpMasqRule {
  table: 'nat';
  chain: string;
  args: string[];
}

/**
 * The masquerade setup bridge's `ipMasq: true` implies (pkg/ip
 * `SetupIPMasq`, iptables backend): create `chain` in nat, then append
 * (AppendUnique) each rule in order. A podwire extension of the result: not
 * part of the CNI Result JSON (`resultToJSON` leaves it out).
 */
export interface IpMasqPlan {
  backend: 'iptables' | 'nftables';
  chain: string;
  comment: string;
  rules: IpMasqRule[];
}

/** The CNI Result (types/100) the plugin prints, plus podwire's `ipMasq` extension. */
export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIPConfig[];
  routes: CniRoute[];
  dns: DnsConfig;
  /** podwire extension (not in the spec JSON): the masquerade rules to install. */
  ipMasq?: IpMasqPlan;
}

export interface CniAddArgs {
  /** CNI_CONTAINERID */
  containerID: string;
  /** CNI_NETNS: the pod's netns name in the model. */
  netns: string;
  /** CNI_IFNAME, e.g. "eth0". */
  ifName: string;
  /** Requested IPs (args.cni.ips / podwire/ip annotation). */
  ips?: string[];
  /** Requested container MAC (CNI_ARGS MAC= / args.cni.mac / runtimeConfig.mac). */
  mac?: string;
}

export type CniDelArgs = Omit<CniAddArgs, 'ips' | 'mac'>;

export interface CniDelResult {
  /** Global-unicast addresses that were on the deleted interface. */
  removedAddresses: string[];
  /** IPs host-local released. */
  releasedIPs: string[];
  /** With ipMasq: the chain and rules to remove (TeardownIPMasq: delete POSTROUTING jump, flush + delete chain). */
  ipMasqTeardown?: { chain: string; comment: string; postroutingRules: IpMasqRule[] };
}

// ---------------------------------------------------------------------------

/** Each node's host-local state, as the node's filesystem would hold it. */
const disks = new WeakMap<Netlink, HostLocalDisk>();

/** The host-local state of the node a Netlink configures (created on first use). */
export function hostLocalDiskOf(netlink: Netlink): HostLocalDisk {
  let d = disks.get(netlink);
  if (!d) {
    d = new HostLocalDisk();
    disks.set(netlink, d);
  }
  return d;
}

/** `CNI-` + the first 24 hex chars of sha512(network name + container ID) (utils.FormatChainName). */
export function ipMasqChainName(network: string, containerID: string): string {
  return `CNI-${createHash('sha512').update(network + containerID).digest('hex')}`.slice(0, 28);
}

/** `name: "<net>" id: "<containerID>"` with Go %q quoting (utils.FormatComment). */
export function ipMasqComment(network: string, containerID: string): string {
  return `name: ${goQuote(network)} id: ${goQuote(containerID)}`;
}

function goQuote(s: string): string {
  // %q for the printable ASCII names CNI uses; JSON escaping agrees there.
  return JSON.stringify(s);
}

/** The rules SetupIPMasq appends for one pod address ("10.244.1.5/24"). */
export function ipMasqPlan(network: string, containerID: string, addresses: readonly string[], backend: 'iptables' | 'nftables' = 'iptables'): IpMasqPlan {
  const chain = ipMasqChainName(network, containerID);
  const comment = ipMasqComment(network, containerID);
  const rules: IpMasqRule[] = [];
  for (const a of addresses) {
    const ip = a.slice(0, a.indexOf('/'));
    rules.push({ table: 'nat', chain, args: ['-d', a, '-j', 'ACCEPT', '-m', 'comment', '--comment', comment] });
    rules.push({ table: 'nat', chain, args: ['!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', '-m', 'comment', '--comment', comment] });
    rules.push({ table: 'nat', chain: 'POSTROUTING', args: ['-s', ip, '-j', chain, '-m', 'comment', '--comment', comment] });
  }
  return { backend, chain, comment, rules };
}

/** The spec's Result JSON object (the podwire `ipMasq` extension removed). */
export function resultToJSON(r: CniResult): Omit<CniResult, 'ipMasq'> {
  const { ipMasq: _drop, ...rest } = r;
  return rest;
}

function isErrno(e: unknown, code: string): boolean {
  return e instanceof NetlinkError && e.code === code;
}

/** A sysctl write whose error the plugin ignores (`_, _ = sysctl.Sysctl(...)`). */
function sysctlBestEffort(nl: Netlink, netns: string, key: string, value: string): void {
  try {
    nl.sysctlSet(netns, key, value);
  } catch {
    /* ignored, as the plugin does */
  }
}

function vethName(rng: Rng): string {
  return `veth${hexOf(rng.bytes(4))}`;
}

function notModelled(conf: BridgeNetConf): void {
  const unsupported: string[] = [];
  if (conf.promiscMode) unsupported.push('promiscMode');
  if (conf.vlan !== 0) unsupported.push('vlan');
  if (conf.vlans.length > 0) unsupported.push('vlanTrunk');
  if (conf.macspoofchk) unsupported.push('macspoofchk');
  if (conf.portIsolation) unsupported.push('portIsolation');
  if (unsupported.length > 0) fail(`podwire: ${unsupported.join(', ')} not modelled (no Netlink operation for it)`);
}

function ensureBridge(nl: Netlink, rng: Rng, conf: BridgeNetConf): CniInterface {
  const name = conf.bridge;
  if (!nl.linkExists('host', name)) {
    try {
      nl.linkAddBridge('host', name, conf.mtu > 0 ? { mac: rng.mac(), mtu: conf.mtu } : { mac: rng.mac() });
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) fail(`failed to create bridge "${name}": could not add "${name}": ${(e as Error).message}`);
    }
  }
  const br = nl.linkGet('host', name);
  if (br.kind !== 'bridge') fail(`failed to create bridge "${name}": "${name}" already exists but is not a bridge`);
  sysctlBestEffort(nl, 'host', `net.ipv6.conf.${name}.accept_ra`, '0');
  nl.linkSetUp('host', name, true);
  return { name, mac: formatMac(br.mac) };
}

function setupVeth(nl: Netlink, rng: Rng, conf: BridgeNetConf, args: CniAddArgs, mac: Uint8Array | undefined): { host: CniInterface; cont: CniInterface } {
  let hostName = '';
  let created = false;
  for (let i = 0; i < 10 && !created; i++) {
    hostName = vethName(rng);
    const contMac = mac ?? rng.mac();
    const opts: { mac: Uint8Array; peerMac: Uint8Array; mtu?: number } = { mac: contMac, peerMac: rng.mac() };
    if (conf.mtu > 0) opts.mtu = conf.mtu;
    try {
      nl.linkAddVeth(args.netns, args.ifName, { name: hostName, netns: 'host' }, opts);
      created = true;
    } catch (e) {
      if (isErrno(e, 'EEXIST')) {
        // the plugin draws a new name only when the clash is the random host name
        if (nl.linkExists('host', hostName)) continue;
        fail(`container veth name ("${args.ifName}") peer provided ("${hostName}") already exists`);
      }
      fail(`failed to make veth pair: ${(e as Error).message}`);
    }
  }
  if (!created) fail('failed to find a unique veth name');
  const contLink = nl.linkGet(args.netns, args.ifName);
  nl.linkSetUp('host', hostName, true);
  sysctlBestEffort(nl, 'host', `net.ipv6.conf.${hostName}.accept_ra`, '0');
  const hostLink = nl.linkGet('host', hostName);
  try {
    nl.linkSetMaster('host', hostName, conf.bridge);
  } catch (e) {
    fail(`failed to connect "${hostName}" to bridge ${conf.bridge}: ${(e as Error).message}`);
  }
  try {
    nl.linkSetHairpin('host', hostName, conf.hairpinMode);
  } catch (e) {
    fail(`failed to setup hairpin mode for ${hostName}: ${(e as Error).message}`);
  }
  return {
    host: { name: hostName, mac: formatMac(hostLink.mac) },
    cont: { name: args.ifName, mac: formatMac(contLink.mac), sandbox: `/var/run/netns/${args.netns}` },
  };
}

/** calcGatewayIP: the network address + 1 of an "a.b.c.d/n". */
export function calcGatewayIP(address: string): string {
  const c = parseCidr4(address)!;
  return formatIPv4((networkOf(c.ip, c.prefix) + 1) >>> 0);
}

/** ensureAddr for IPv4: the gateway address on the bridge, then pin the bridge MAC. */
function ensureAddr(nl: Netlink, dev: string, cidr: string, forceAddress: boolean): void {
  for (const a of nl.addrList('host', dev)) {
    if (a === cidr) return;
    if (forceAddress) {
      try {
        nl.addrDel('host', dev, a);
      } catch (e) {
        fail(`failed to set bridge addr: could not remove IP address from "${dev}": ${(e as Error).message}`);
      }
    } else {
      fail(`failed to set bridge addr: "${dev}" already has an IP address different from ${cidr}`);
    }
  }
  try {
    nl.addrAdd('host', dev, cidr);
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) fail(`failed to set bridge addr: could not add IP address ${cidr} to "${dev}": ${(e as Error).message}`);
  }
  // Set the bridge's MAC to itself so it no longer follows its lowest port MAC.
  nl.linkSetAddress('host', dev, nl.linkGet('host', dev).mac);
}

function hostLocalFor(nl: Netlink, conf: BridgeNetConf, disk?: HostLocalDisk): HostLocalIpam {
  return new HostLocalIpam(conf.name, conf.ipam!, disk ?? hostLocalDiskOf(nl));
}

/**
 * CNI ADD for the bridge plugin. Throws `CniError` (plugin message text) or
 * `NetlinkError` from a step the plugin does not wrap. `disk` is the node's
 * host-local state (default: the one kept for this `netlink`).
 */
export function cmdAdd(netlink: Netlink, rng: Rng, conf: BridgeNetConf, args: CniAddArgs, disk?: HostLocalDisk): CniResult {
  const isLayer3 = conf.ipam !== undefined;
  if (isLayer3 && conf.disableContainerInterface) fail('cannot use IPAM when DisableContainerInterface flag is set');
  if (conf.hairpinMode && conf.promiscMode) fail('cannot set hairpin mode and promiscuous mode at the same time');
  notModelled(conf);
  // loadNetConf precedence: CNI_ARGS MAC, overridden by args.cni.mac, overridden by runtimeConfig.mac
  const macStr = conf.runtimeConfig?.mac ?? conf.args?.cni?.mac ?? args.mac;
  let mac: Uint8Array | undefined;
  if (macStr !== undefined) {
    mac = parseMac(macStr) ?? fail(`failed to parse MAC address ${JSON.stringify(macStr)}`);
  }

  const brIface = ensureBridge(netlink, rng, conf);
  if (!netlink.netnsExists(args.netns)) fail(`failed to open netns "${args.netns}": no such netns`);
  const { host, cont } = setupVeth(netlink, rng, conf, args, mac);

  const result: CniResult = {
    cniVersion: conf.cniVersion,
    interfaces: [brIface, host, cont],
    ips: [],
    routes: [],
    dns: {},
  };

  if (isLayer3) {
    const ipam = hostLocalFor(netlink, conf, disk);
    let ipamRes: { ips: IpamIPConfig[]; routes: IpamRouteConfig[] };
    // LoadIPAMConfig collects CNI_ARGS IP, then args.cni.ips, then runtimeConfig.ips
    const requested = [...(args.ips ?? []), ...(conf.args?.cni?.ips ?? []), ...(conf.runtimeConfig?.ips ?? [])];
    try {
      ipamRes = ipam.add({ containerID: args.containerID, ifName: args.ifName, ips: requested });
    } catch (e) {
      throw new CniError(999, (e as Error).message);
    }
    try {
      configureL3(netlink, conf, args, result, ipamRes);
    } catch (e) {
      ipam.del({ containerID: args.containerID, ifName: args.ifName });
      throw e;
    }
  } else if (!conf.disableContainerInterface) {
    netlink.linkSetUp(args.netns, args.ifName, true);
  }

  // re-read MACs: the host end may have changed, the bridge's follows its ports until pinned
  result.interfaces[1].mac = formatMac(netlink.linkGet('host', host.name).mac);
  result.interfaces[0].mac = formatMac(netlink.linkGet('host', conf.bridge).mac);
  if (conf.dns) result.dns = { ...conf.dns };
  return result;
}

function configureL3(nl: Netlink, conf: BridgeNetConf, args: CniAddArgs, result: CniResult, ipamRes: { ips: IpamIPConfig[]; routes: IpamRouteConfig[] }): void {
  if (ipamRes.ips.length === 0) fail('IPAM plugin returned missing IP config');
  const legacyVersion = ['0.3.0', '0.3.1', '0.4.0'].includes(conf.cniVersion);
  result.routes = ipamRes.routes.map((r) => ({ ...r }));
  // calcGateways (IPv4 only)
  const gws: string[] = [];
  let defaultRouteFound = false;
  for (const ipc of ipamRes.ips) {
    const c: CniIPConfig = { ...(legacyVersion ? { version: '4' as const } : {}), address: ipc.address, interface: 2 };
    let gateway: string | undefined = ipc.gateway;
    if (gateway === undefined && conf.isGateway) gateway = calcGatewayIP(ipc.address);
    if (gateway !== undefined) c.gateway = gateway;
    result.ips.push(c);
    if (conf.isDefaultGateway && !defaultRouteFound) {
      defaultRouteFound = result.routes.some((r) => r.gw !== undefined && r.dst === '0.0.0.0/0');
      if (!defaultRouteFound) {
        result.routes.push(gateway !== undefined ? { dst: '0.0.0.0/0', gw: gateway } : { dst: '0.0.0.0/0' });
        defaultRouteFound = true;
      }
    }
    if (conf.isGateway) gws.push(`${gateway}/${parseCidr4(ipc.address)!.prefix}`);
  }

  // in the pod netns: sysctls, then ConfigureIface
  const ifn = args.ifName;
  if (conf.enabledad) {
    sysctlBestEffort(nl, args.netns, `net.ipv6.conf.${ifn}.enhanced_dad`, '1');
    sysctlBestEffort(nl, args.netns, `net.ipv6.conf.${ifn}.accept_dad`, '1');
  } else {
    sysctlBestEffort(nl, args.netns, `net.ipv6.conf.${ifn}.accept_dad`, '0');
  }
  sysctlBestEffort(nl, args.netns, `net.ipv4.conf.${ifn}.arp_notify`, '1');
  let v4gw: string | undefined;
  for (const ipc of result.ips) {
    try {
      nl.addrAdd(args.netns, ifn, ipc.address);
    } catch (e) {
      fail(`failed to add IP addr ${ipc.address} to "${ifn}": ${(e as Error).message}`);
    }
    if (v4gw === undefined && ipc.gateway !== undefined) v4gw = ipc.gateway;
  }
  try {
    nl.linkSetUp(args.netns, ifn, true);
  } catch (e) {
    fail(`failed to set "${ifn}" UP: ${(e as Error).message}`);
  }
  for (const r of result.routes) {
    const gw = r.gw ?? v4gw;
    try {
      // dst as written: like the plugin, host bits are passed on and the kernel refuses them (EINVAL)
      nl.routeAdd(args.netns, gw !== undefined ? { dst: r.dst, via: gw, dev: ifn } : { dst: r.dst, dev: ifn });
    } catch (e) {
      fail(`failed to add route '${r.dst} via ${gw ?? '<nil>'} dev ${ifn}': ${(e as Error).message}`);
    }
  }

  if (conf.isGateway) {
    for (const gw of gws) ensureAddr(nl, conf.bridge, gw, conf.forceAddress);
    if (gws.length > 0) {
      let cur: string | undefined;
      try {
        cur = nl.sysctlGet('host', 'net.ipv4.ip_forward').trim();
      } catch {
        cur = undefined;
      }
      if (cur !== '1') {
        try {
          nl.sysctlSet('host', 'net.ipv4.ip_forward', '1');
        } catch (e) {
          fail(`failed to enable forwarding: ${(e as Error).message}`);
        }
      }
    }
  }

  if (conf.ipMasq) {
    result.ipMasq = ipMasqPlan(conf.name, args.containerID, result.ips.map((i) => i.address), conf.ipMasqBackend ?? 'iptables');
  }
}

/**
 * CNI DEL for the bridge plugin: idempotent. With no netns (or one that no
 * longer exists) only IPAM is released.
 */
export function cmdDel(netlink: Netlink, conf: BridgeNetConf, args: CniDelArgs, disk?: HostLocalDisk): CniDelResult {
  const isLayer3 = conf.ipam !== undefined;
  const out: CniDelResult = { removedAddresses: [], releasedIPs: [] };
  const ipamDel = () => {
    if (isLayer3) out.releasedIPs = hostLocalFor(netlink, conf, disk).del({ containerID: args.containerID, ifName: args.ifName });
  };
  if (args.netns === '' || !netlink.netnsExists(args.netns)) {
    ipamDel();
    return out;
  }
  if (netlink.linkExists(args.netns, args.ifName)) {
    const addrs = netlink.addrList(args.netns, args.ifName);
    try {
      netlink.linkDel(args.netns, args.ifName);
    } catch (e) {
      if (!isErrno(e, 'ENODEV')) fail(`failed to delete "${args.ifName}": ${(e as Error).message}`);
    }
    out.removedAddresses = addrs.filter(isGlobalUnicast4);
  }
  ipamDel();
  if (isLayer3 && conf.ipMasq) {
    const chain = ipMasqChainName(conf.name, args.containerID);
    const comment = ipMasqComment(conf.name, args.containerID);
    out.ipMasqTeardown = {
      chain,
      comment,
      postroutingRules: out.removedAddresses.flatMap((a) => [
        { table: 'nat' as const, chain: 'POSTROUTING', args: ['-s', a.slice(0, a.indexOf('/')), '-j', chain, '-m', 'comment', '--comment', comment] },
        // the older form, deleted too "for downward compatibility"
        { table: 'nat' as const, chain: 'POSTROUTING', args: ['-s', a, '-j', chain, '-m', 'comment', '--comment', comment] },
      ]),
    };
  }
  return out;
}

/** Go's IP.IsGlobalUnicast for IPv4: not 0.0.0.0, 255.255.255.255, loopback, multicast or link-local. */
function isGlobalUnicast4(cidr: string): boolean {
  const c = parseCidr4(cidr);
  if (!c) return false;
  const a = c.ip >>> 24;
  const b = (c.ip >>> 16) & 255;
  if (c.ip === 0 || c.ip === 0xffffffff) return false;
  if (a === 127 || (a >= 224 && a <= 239) || (a === 169 && b === 254)) return false;
  return true;
}
