/**
 * An in-memory `Netlink` for the CNI tests: records every mutating call as a
 * line (`calls`) and answers like the kernel does — EEXIST for a duplicate
 * link/address/route, ENODEV for an unknown device, ENOENT for an unknown
 * netns or sysctl, ENETUNREACH for a gateway not on a connected subnet of an
 * up device, EINVAL for a master that is not a bridge.
 */
import { NetlinkError, type LinkInfo, type NeighState, type Netlink, type RouteSpec } from '../../src/kernel/netlink.js';

interface FakeLink {
  name: string;
  kind: string;
  ifindex: number;
  mac: Uint8Array;
  mtu: number;
  up: boolean;
  master?: string;
  hairpin?: boolean;
  peer?: { netns: string; name: string };
  addrs: string[];
}

interface FakeNs {
  links: Map<string, FakeLink>;
  routes: RouteSpec[];
  sysctls: Map<string, string>;
  nextIndex: number;
}

export const macStr = (m: Uint8Array): string => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

function parseCidr(s: string): { ip: number; prefix: number } {
  const [a, p] = s.split('/');
  const ip = a.split('.').reduce((acc, x) => acc * 256 + Number(x), 0) >>> 0;
  return { ip, prefix: Number(p) };
}
const maskOf = (p: number) => (p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0);

export class FakeNetlink implements Netlink {
  readonly calls: string[] = [];
  readonly ns = new Map<string, FakeNs>();
  private macSeq = 0;

  constructor(readonly nodeName = 'node-1') {
    this.addNs('host');
  }

  private addNs(name: string): void {
    const ns: FakeNs = { links: new Map(), routes: [], sysctls: new Map([['net.ipv4.ip_forward', '0']]), nextIndex: 1 };
    this.ns.set(name, ns);
    this.newLink(ns, { name: 'lo', kind: 'loopback', mac: new Uint8Array(6), mtu: 65536 });
    ns.links.get('lo')!.up = true;
  }

  private newLink(ns: FakeNs, l: { name: string; kind: string; mac?: Uint8Array; mtu?: number }): FakeLink {
    const mac = l.mac ?? Uint8Array.of(0x02, 0xfa, 0, 0, 0, ++this.macSeq);
    const link: FakeLink = { name: l.name, kind: l.kind, ifindex: ns.nextIndex++, mac: Uint8Array.from(mac), mtu: l.mtu ?? 1500, up: false, addrs: [] };
    ns.links.set(l.name, link);
    return link;
  }

  private getNs(name: string): FakeNs {
    const ns = this.ns.get(name);
    if (!ns) throw new NetlinkError('ENOENT', `netns ${name} does not exist`);
    return ns;
  }

  private getLink(netns: string, name: string): FakeLink {
    const l = this.getNs(netns).links.get(name);
    if (!l) throw new NetlinkError('ENODEV', `Cannot find device "${name}"`);
    return l;
  }

  private log(s: string): void {
    this.calls.push(s);
  }

  netnsAdd(name: string): void {
    if (this.ns.has(name)) throw new NetlinkError('EEXIST', `netns ${name} exists`);
    this.log(`netnsAdd ${name}`);
    this.addNs(name);
  }
  netnsDel(name: string): void {
    this.getNs(name);
    this.log(`netnsDel ${name}`);
    for (const l of [...this.ns.get(name)!.links.values()]) if (l.peer) this.linkDel(name, l.name);
    this.ns.delete(name);
  }
  netnsExists(name: string): boolean {
    return this.ns.has(name);
  }

  linkAddVeth(netns: string, name: string, peer: { name: string; netns: string }, opts: { mac?: Uint8Array; peerMac?: Uint8Array; mtu?: number } = {}): void {
    const a = this.getNs(netns);
    const b = this.getNs(peer.netns);
    if (a.links.has(name)) throw new NetlinkError('EEXIST', `${name} exists in ${netns}`);
    if (b.links.has(peer.name) || (netns === peer.netns && name === peer.name)) throw new NetlinkError('EEXIST', `${peer.name} exists in ${peer.netns}`);
    this.log(
      `linkAddVeth ${netns} ${name} peer ${peer.netns} ${peer.name}` +
        (opts.mac ? ` mac ${macStr(opts.mac)}` : '') +
        (opts.peerMac ? ` peerMac ${macStr(opts.peerMac)}` : '') +
        (opts.mtu !== undefined ? ` mtu ${opts.mtu}` : ''),
    );
    const l1 = this.newLink(a, { name, kind: 'veth', mac: opts.mac, mtu: opts.mtu });
    const l2 = this.newLink(b, { name: peer.name, kind: 'veth', mac: opts.peerMac, mtu: opts.mtu });
    l1.peer = { netns: peer.netns, name: peer.name };
    l2.peer = { netns, name };
  }
  linkAddBridge(netns: string, name: string, opts: { mac?: Uint8Array; mtu?: number } = {}): void {
    const ns = this.getNs(netns);
    if (ns.links.has(name)) throw new NetlinkError('EEXIST', `${name} exists`);
    this.log(`linkAddBridge ${netns} ${name}` + (opts.mac ? ` mac ${macStr(opts.mac)}` : '') + (opts.mtu !== undefined ? ` mtu ${opts.mtu}` : ''));
    this.newLink(ns, { name, kind: 'bridge', mac: opts.mac, mtu: opts.mtu });
  }
  /** Test helper: a device of any kind, not logged. */
  addDevice(netns: string, name: string, kind: string): void {
    this.newLink(this.getNs(netns), { name, kind });
  }
  linkDel(netns: string, name: string): void {
    const l = this.getLink(netns, name);
    this.log(`linkDel ${netns} ${name}`);
    const drop = (nsName: string, link: FakeLink) => {
      const ns = this.ns.get(nsName);
      if (!ns) return;
      ns.links.delete(link.name);
      ns.routes = ns.routes.filter((r) => r.dev !== link.name);
      for (const o of ns.links.values()) if (o.master === link.name) delete o.master;
    };
    drop(netns, l);
    if (l.peer) {
      const p = this.ns.get(l.peer.netns)?.links.get(l.peer.name);
      if (p) drop(l.peer.netns, p);
    }
  }
  linkExists(netns: string, name: string): boolean {
    return this.ns.get(netns)?.links.has(name) ?? false;
  }
  linkGet(netns: string, name: string): LinkInfo {
    const l = this.getLink(netns, name);
    const info: LinkInfo = { name: l.name, kind: l.kind, ifindex: l.ifindex, mac: Uint8Array.from(l.mac), mtu: l.mtu, up: l.up };
    if (l.master) info.master = l.master;
    if (l.peer) info.peer = { ...l.peer };
    return info;
  }
  linkList(netns: string): LinkInfo[] {
    return [...this.getNs(netns).links.keys()].map((n) => this.linkGet(netns, n));
  }
  linkSetMaster(netns: string, name: string, master: string): void {
    const l = this.getLink(netns, name);
    const m = this.getLink(netns, master);
    if (m.kind !== 'bridge') throw new NetlinkError('EINVAL', `${master} is not a bridge`);
    this.log(`linkSetMaster ${netns} ${name} ${master}`);
    l.master = master;
  }
  linkSetUp(netns: string, name: string, up = true): void {
    const l = this.getLink(netns, name);
    this.log(`linkSetUp ${netns} ${name} ${up ? 'up' : 'down'}`);
    l.up = up;
  }
  linkSetMtu(netns: string, name: string, mtu: number): void {
    const l = this.getLink(netns, name);
    this.log(`linkSetMtu ${netns} ${name} ${mtu}`);
    l.mtu = mtu;
  }
  linkSetAddress(netns: string, name: string, mac: Uint8Array): void {
    const l = this.getLink(netns, name);
    this.log(`linkSetAddress ${netns} ${name} ${macStr(mac)}`);
    l.mac = Uint8Array.from(mac);
  }
  linkSetHairpin(netns: string, name: string, on: boolean): void {
    const l = this.getLink(netns, name);
    if (!l.master) throw new NetlinkError('EINVAL', `${name} is not a bridge port`);
    this.log(`linkSetHairpin ${netns} ${name} ${on ? 'on' : 'off'}`);
    l.hairpin = on;
  }
  /** Test helper: the hairpin flag of a port. */
  hairpinOf(netns: string, name: string): boolean | undefined {
    return this.getLink(netns, name).hairpin;
  }

  addrAdd(netns: string, dev: string, cidr: string): void {
    const l = this.getLink(netns, dev);
    if (l.addrs.includes(cidr)) throw new NetlinkError('EEXIST', `${cidr} exists on ${dev}`);
    this.log(`addrAdd ${netns} ${dev} ${cidr}`);
    l.addrs.push(cidr);
  }
  addrDel(netns: string, dev: string, cidr: string): void {
    const l = this.getLink(netns, dev);
    if (!l.addrs.includes(cidr)) throw new NetlinkError('EINVAL', `${cidr} not on ${dev}`);
    this.log(`addrDel ${netns} ${dev} ${cidr}`);
    l.addrs = l.addrs.filter((a) => a !== cidr);
  }
  addrList(netns: string, dev: string): string[] {
    return [...this.getLink(netns, dev).addrs];
  }

  private checkRoute(netns: string, r: RouteSpec): void {
    const ns = this.getNs(netns);
    if (r.dev) this.getLink(netns, r.dev);
    const dst = r.dst === 'default' ? '0.0.0.0/0' : r.dst;
    const d = parseCidr(dst);
    if ((d.ip & maskOf(d.prefix)) >>> 0 !== d.ip) throw new NetlinkError('EINVAL', `Invalid prefix for given prefix length: ${dst}`);
    if (r.via && !r.onlink) {
      const gw = parseCidr(`${r.via}/32`).ip;
      const reachable = [...ns.links.values()].some(
        (l) => l.up && (!r.dev || l.name === r.dev) && l.addrs.some((a) => {
          const c = parseCidr(a);
          return ((c.ip ^ gw) & maskOf(c.prefix)) >>> 0 === 0;
        }),
      );
      if (!reachable) throw new NetlinkError('ENETUNREACH', `Nexthop has invalid gateway ${r.via}`);
    }
  }
  private routeKey(r: RouteSpec): string {
    return `${r.dst === 'default' ? '0.0.0.0/0' : r.dst} table ${r.table ?? 254} metric ${r.metric ?? 0}`;
  }
  private fmtRoute(r: RouteSpec): string {
    return `${r.dst}${r.via ? ` via ${r.via}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`;
  }
  routeAdd(netns: string, r: RouteSpec): void {
    this.checkRoute(netns, r);
    const ns = this.getNs(netns);
    if (ns.routes.some((x) => this.routeKey(x) === this.routeKey(r))) throw new NetlinkError('EEXIST', `route ${r.dst} exists`);
    this.log(`routeAdd ${netns} ${this.fmtRoute(r)}`);
    ns.routes.push({ ...r });
  }
  routeReplace(netns: string, r: RouteSpec): void {
    this.checkRoute(netns, r);
    const ns = this.getNs(netns);
    this.log(`routeReplace ${netns} ${this.fmtRoute(r)}`);
    ns.routes = ns.routes.filter((x) => this.routeKey(x) !== this.routeKey(r));
    ns.routes.push({ ...r });
  }
  routeDel(netns: string, r: RouteSpec): void {
    const ns = this.getNs(netns);
    const before = ns.routes.length;
    ns.routes = ns.routes.filter((x) => this.routeKey(x) !== this.routeKey(r));
    if (ns.routes.length === before) throw new NetlinkError('ENOENT', `no route ${r.dst}`);
    this.log(`routeDel ${netns} ${this.fmtRoute(r)}`);
  }
  routes(netns: string): RouteSpec[] {
    return this.getNs(netns).routes.map((r) => ({ ...r }));
  }

  neighReplace(netns: string, ip: string, mac: Uint8Array, dev: string, state: NeighState = 'permanent'): void {
    this.getLink(netns, dev);
    this.log(`neighReplace ${netns} ${ip} ${macStr(mac)} ${dev} ${state}`);
  }
  neighDel(netns: string, ip: string, dev: string): void {
    this.getLink(netns, dev);
    this.log(`neighDel ${netns} ${ip} ${dev}`);
  }
  fdbAdd(netns: string, mac: Uint8Array, dev: string): void {
    this.getLink(netns, dev);
    this.log(`fdbAdd ${netns} ${macStr(mac)} ${dev}`);
  }
  fdbDel(netns: string, mac: Uint8Array, dev: string): void {
    this.getLink(netns, dev);
    this.log(`fdbDel ${netns} ${macStr(mac)} ${dev}`);
  }

  private checkSysctlKey(netns: string, key: string): void {
    const m = /^net\.ipv[46]\.conf\.([^.]+)\.[a-z_]+$/.exec(key);
    if (m && !['all', 'default'].includes(m[1]) && !this.getNs(netns).links.has(m[1])) {
      throw new NetlinkError('ENOENT', `sysctl ${key}: no such device`);
    }
    if (!m && key !== 'net.ipv4.ip_forward') throw new NetlinkError('ENOENT', `sysctl ${key} unknown`);
  }
  sysctlSet(netns: string, key: string, value: string): void {
    this.checkSysctlKey(netns, key);
    this.log(`sysctlSet ${netns} ${key}=${value}`);
    this.getNs(netns).sysctls.set(key, value);
  }
  sysctlGet(netns: string, key: string): string {
    this.checkSysctlKey(netns, key);
    return this.getNs(netns).sysctls.get(key) ?? '0';
  }
}
