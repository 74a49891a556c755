/**
 * CoreDNS as kubeadm deploys it, answering from a {@link ClusterDnsView}.
 *
 * The Corefile modelled is kubeadm's default:
 *
 *     .:53 {
 *         errors
 *         health { lameduck 5s }
 *         ready
 *         kubernetes cluster.local in-addr.arpa ip6.arpa {
 *            pods insecure
 *            fallthrough in-addr.arpa ip6.arpa
 *            ttl 30
 *         }
 *         prometheus :9153
 *         forward . /etc/resolv.conf
 *         cache 30
 *         loop
 *         reload
 *         loadbalance
 *     }
 *
 * What is modelled, following coredns/plugin/kubernetes and plugin/backend_lookup.go:
 *  - the server: queries that are not QUERY get NOTIMP, a class other than IN
 *    REFUSED, an EDNS version above 0 BADVERS; replies carry the query's ID,
 *    opcode, RD and CD and its question; no RA on the kubernetes plugin's answers;
 *  - the kubernetes plugin: A for `svc.ns.svc.<zone>` (each clusterIP), headless
 *    services (one A per ready endpoint address, deduplicated), endpoint names
 *    `host.svc.ns.svc.<zone>` (hostname, else the IP with dashes) for headless and
 *    ClusterIP services alike, SRV (`_port._proto.svc.ns.svc.<zone>` or the bare
 *    service name) with priority 0, weight ⌊100/n⌋ (at least 1) where n counts the
 *    service entries found, targets `svc.ns.svc.<zone>` or `host.svc.ns.svc.<zone>`
 *    and their A records in the additional section; ExternalName → CNAME (chased
 *    inside the zone, handed to the upstream outside it); pod records
 *    `a-b-c-d.ns.pod.<zone>` (pods insecure: any well-formed IPv4 in an existing
 *    namespace); PTR for clusterIPs (`svc.ns.svc.<zone>`) and then ready endpoint
 *    addresses (`host.svc.ns.svc.<zone>`); `ns.dns.<zone>` and NS at the apex
 *    (the service whose endpoints hold this server's address); TXT
 *    `dns-version.<zone>` = 1.1.0; NXDOMAIN for a missing service, a missing
 *    namespace or a malformed name, NOERROR without answers (NODATA) for names that
 *    exist but not with that type (AAAA in this IPv4-only cluster, `ns.svc.<zone>`,
 *    `svc.<zone>`, the apex), both with the zone's SOA in the authority section
 *    (TTL min(ttl, 300), mname ns.dns.<zone>, rname hostmaster.<zone>, refresh 7200,
 *    retry 1800, expire 86400, minimum ttl) and AA set; AXFR/IXFR REFUSED;
 *  - `fallthrough in-addr.arpa ip6.arpa`: reverse names with no service or endpoint
 *    go to forward;
 *  - forward: podwire has no Internet. Names outside the kubernetes zones, and the
 *    fallen-through reverse names, are answered by {@link CoreDnsOptions.upstream};
 *    by default NXDOMAIN with RA set, no AA and an empty authority section, as a
 *    recursive resolver relaying an upstream NXDOMAIN looks (no SERVFAIL, no
 *    REFUSED, so glibc's search-list walk behaves as on a cluster with Internet
 *    access for names that do not exist);
 *  - the scrub writer: an OPT in the query gets the query's OPT back (version 0,
 *    the query's UDP size and DO bit, options limited to NSID/EXPIRE/COOKIE/
 *    TCP-KEEPALIVE/PADDING); replies that fit the client's size (512 without EDNS,
 *    65535 over TCP) go out uncompressed, larger ones are compressed and cut with
 *    TC set (miekg/dns Msg.Truncate), UDP replies above 1480 bytes are compressed.
 *
 * Not modelled: `cache 30` (every answer is fresh, TTL always 30), `loadbalance`
 * (records keep the view's order instead of being shuffled), the `loop` plugin,
 * IPv6 pod names (`1-2--3.ns.pod`: NXDOMAIN), multicluster and zonal names,
 * `endpoint_pod_names`, `ignore empty_service`.
 */
import type { Netns } from '../kernel/netns.js';
import type { TcpSock } from '../kernel/tcp.js';
import type { UdpSock } from '../kernel/sockets.js';
import { ipToString, parseIp } from '../wire/bytes.js';
import type { ClusterDnsView, DnsService, DnsPort } from './view.js';
import {
  decodeMessage, packReply, trimDot, FLAG_CD, FLAG_RA, FLAG_RD, FLAG_AA, RCODE, RCODE_BADVERS,
  type Answer, type DecodedPacket, type Msg, type RecordType,
} from './wire.js';

export interface UpstreamAnswer { rcode: number; answers: Answer[] }

export interface CoreDnsOptions {
  /** The kubernetes plugin's zones; default [clusterDomain, 'in-addr.arpa', 'ip6.arpa']. */
  zones?: string[];
  /** `ttl` (default 30, kubeadm's Corefile). */
  ttl?: number;
  /** `pods` (default 'insecure'). */
  pods?: 'insecure' | 'verified' | 'disabled';
  /** `fallthrough` zones (default in-addr.arpa, ip6.arpa). */
  fallthrough?: string[];
  /** The server's own addresses (for ns.dns.<zone> and NS); default the namespace's addresses. */
  localIPs?: number[];
  /** The forward plugin's upstream: an answer for (name, type), or null when it fails. Default: NXDOMAIN. */
  upstream?: (name: string, type: RecordType) => UpstreamAnswer | null;
}

type LookupErr = 'NoItems' | 'NsNotExposed' | 'InvalidRequest' | null;

/** One entry the backend found (msg.Service): an address or a name, a port, the key's domain. */
interface Serv { host: string; port: number; key: string; ttl: number; text?: string }

interface RecordRequest { port: string; protocol: string; endpoint: string; service: string; namespace: string; podOrSvc: string }

const SVC = 'svc', POD = 'pod';

const lc = (s: string) => s.toLowerCase();
/** `child` equals `parent` or is below it (dns.IsSubDomain), case-insensitively. */
function isSubDomain(parent: string, child: string): boolean {
  const p = lc(trimDot(parent)), c = lc(trimDot(child));
  return p === '.' || p === '' || c === p || c.endsWith('.' + p);
}
/** The part of `name` before `zone` ('' when equal). */
function trimZone(name: string, zone: string): string {
  if (name.length === zone.length) return '';
  return name.slice(0, name.length - zone.length - 1);
}
/** Go's net.ParseIP for dotted quads (no leading zeros, 0-255) → text, or null. */
function strictIpv4(s: string): string | null {
  const p = s.split('.');
  if (p.length !== 4) return null;
  for (const x of p) if (!/^(0|[1-9][0-9]{0,2})$/.test(x) || Number(x) > 255) return null;
  return s;
}
function hostIsIp(host: string): boolean { return strictIpv4(host) !== null; }
function endpointHostname(hostname: string | undefined, ip: number): string {
  return hostname ? hostname : ipToString(ip).replaceAll('.', '-');
}
const match = (a: string, b: string) => a === b || lc(a) === lc(b);
const stripUnderscore = (s: string) => (s.startsWith('_') ? s.slice(1) : s);
function matchPortAndProtocol(rPort: string, pName: string, rProto: string, pProto: string): boolean {
  return (rPort === '' || match(rPort, pName)) && (rProto === '' || match(rProto, pProto));
}

export class CoreDns {
  readonly zones: string[];
  readonly ttl: number;
  readonly pods: 'insecure' | 'verified' | 'disabled';
  readonly fall: string[];
  private udp: UdpSock | null = null;
  private tcpBufs = new Map<TcpSock, Uint8Array>();
  private listening = false;

  constructor(readonly view: ClusterDnsView, readonly opts: CoreDnsOptions = {}, readonly ns?: Netns) {
    this.zones = (opts.zones ?? [view.clusterDomain, 'in-addr.arpa', 'ip6.arpa']).map((z) => lc(trimDot(z)));
    this.ttl = opts.ttl ?? 30;
    this.pods = opts.pods ?? 'insecure';
    this.fall = (opts.fallthrough ?? ['in-addr.arpa', 'ip6.arpa']).map((z) => lc(trimDot(z)));
  }

  /** Binds UDP 53 and TCP 53 in the namespace. */
  listen(): this {
    const ns = this.ns;
    if (!ns) throw new Error('CoreDns.listen: no network namespace');
    this.udp = ns.sockets.udpBind(53, {
      onMessage: (data, _from, _port, reply) => {
        const r = this.handle(data, 'udp');
        if (r) reply(r);
      },
    });
    ns.sockets.tcpListenOn(53, {
      onData: (s, data) => this.tcpData(s, data),
      onEnd: (s) => { this.tcpBufs.delete(s); s.close(); },
      onClose: (s) => { this.tcpBufs.delete(s); },
    });
    this.listening = true;
    return this;
  }

  close(): void {
    this.udp?.close();
    if (this.listening && this.ns) this.ns.sockets.tcpListen.delete(53);
    this.listening = false;
  }

  /** DNS over TCP: two-byte length, message; one reply per message, in order. */
  private tcpData(s: TcpSock, data: Uint8Array): void {
    const prev = this.tcpBufs.get(s);
    let buf = prev ? concat(prev, data) : data;
    while (buf.length >= 2) {
      const len = (buf[0] << 8) | buf[1];
      if (buf.length < 2 + len) break;
      const r = this.handle(buf.subarray(2, 2 + len), 'tcp');
      buf = buf.subarray(2 + len);
      if (r) {
        const out = new Uint8Array(2 + r.length);
        out[0] = r.length >>> 8; out[1] = r.length & 0xff;
        out.set(r, 2);
        s.send(out);
      }
    }
    this.tcpBufs.set(s, buf.slice());
  }

  private localIPs(): number[] {
    if (this.opts.localIPs) return this.opts.localIPs;
    if (!this.ns) return [];
    return this.ns.addrs.filter((a) => (a.addr >>> 24) !== 127).map((a) => a.addr);
  }

  /** Answers one query as CoreDNS would; null when CoreDNS would send nothing. */
  handle(query: Uint8Array, proto: 'udp' | 'tcp' = 'udp'): Uint8Array | null {
    if (query.length < 12) return null;
    let req: DecodedPacket;
    try { req = decodeMessage(query); } catch {
      // miekg/dns answers FORMERR when the header parsed but the rest did not.
      const id = (query[0] << 8) | query[1];
      if (query[2] & 0x80) return null;
      return packReply({ id, flags: 0, rcode: RCODE.FORMERR, response: true, questions: [], answers: [], authorities: [], additionals: [] }, 512);
    }
    const flags = req.flags ?? 0;
    if (req.flag_qr) return null; // a response: miekg's default accept func ignores it
    const opcode = (flags >> 11) & 0xf;
    const reply = (rcode: number): Msg => ({
      id: req.id ?? 0,
      flags: (opcode << 11) | (opcode === 0 ? flags & (FLAG_RD | FLAG_CD) : 0),
      rcode, response: true,
      questions: req.questions && req.questions.length > 0 ? [req.questions[0]] : [],
      answers: [], authorities: [], additionals: [],
    });
    const qs = req.questions ?? [];
    if (opcode !== 0) return packReply(reply(RCODE.NOTIMP), 512);
    if (qs.length !== 1) return packReply({ ...reply(RCODE.FORMERR), questions: [] }, 512);
    const q = qs[0];
    const opt = (req.additionals ?? []).find((a) => a.type === 'OPT');
    if (opt && opt.type === 'OPT' && opt.ednsVersion !== 0) {
      const m = reply(RCODE_BADVERS & 0xf);
      m.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: 0, extendedRcode: RCODE_BADVERS >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
      return packReply(m, 512);
    }
    const size = proto === 'tcp' ? 65535 : Math.max(512, opt && opt.type === 'OPT' ? opt.udpPayloadSize : 0);
    const scrub = (m: Msg): Uint8Array => {
      if (opt && opt.type === 'OPT') {
        const options = (opt.options ?? []).filter((o) => [3, 9, 10, 11, 12].includes(Number(o.code)));
        m.additionals.push({
          type: 'OPT', name: '.', udpPayloadSize: opt.udpPayloadSize, extendedRcode: 0, ednsVersion: 0,
          flags: opt.flags & 0xff00, flag_do: (opt.flags & 0x8000) !== 0, options,
        });
      }
      return packReply(m, size, proto === 'udp');
    };
    if ((q.class ?? 'IN') !== 'IN') return scrub(reply(RCODE.REFUSED));

    const qname = trimDot(q.name);
    const name = lc(qname);
    const zoneLc = this.matchZone(name);
    if (zoneLc === null) return scrub(this.forward(reply(0), qname, q.type));
    const zone = qname.slice(qname.length - zoneLc.length); // the query's case
    const qtype = q.type;

    let records: Answer[] = [];
    let extra: Answer[] = [];
    let err: LookupErr = null;
    switch (qtype) {
      case 'A': case 'AAAA': ({ records, err } = this.address(qname, zone, qtype, [])); break;
      case 'TXT': ({ records, err } = this.txt(qname, zone)); break;
      case 'CNAME': {
        const r = this.services(qname, zone, qtype);
        err = r.err;
        if (!err && r.svcs.length > 0 && !hostIsIp(r.svcs[0].host)) records = [{ type: 'CNAME', name: qname, ttl: r.svcs[0].ttl, data: r.svcs[0].host }];
        break;
      }
      case 'PTR': ({ records, err } = this.ptr(qname, zone)); break;
      case 'MX': ({ err } = this.services(qname, zone, qtype)); break; // nothing here is a mail host
      case 'SRV': ({ records, extra, err } = this.srv(qname, zone)); break;
      case 'SOA': if (name === zoneLc) records = [this.soa(zone)]; break;
      case 'AXFR': case 'IXFR': return scrub(reply(RCODE.REFUSED));
      default:
        // NS at the apex; anything else (and NS below it) does a fake A lookup to tell NXDOMAIN from NODATA.
        if (qtype === 'NS' && name === zoneLc) ({ records, extra } = this.nsRecords(qname, zone));
        else ({ err } = this.address(qname, zone, 'A', []));
    }
    if (err) {
      if (this.fall.some((f) => isSubDomain(f, name))) return scrub(this.forward(reply(0), qname, qtype));
      const m = reply(RCODE.NXDOMAIN);
      m.flags |= FLAG_AA;
      m.authorities = [this.soa(zone)];
      return scrub(m);
    }
    const m = reply(RCODE.NOERROR);
    m.flags |= FLAG_AA;
    if (records.length === 0) { m.authorities = [this.soa(zone)]; return scrub(m); }
    m.answers = records;
    m.additionals = extra;
    return scrub(m);
  }

  /** plugin.Zones.Matches: the longest of the plugin's zones holding `name`. */
  private matchZone(name: string): string | null {
    let best: string | null = null;
    for (const z of this.zones) if (isSubDomain(z, name) && (best === null || z.length > best.length)) best = z;
    return best;
  }

  /** The forward plugin: the upstream's answer, relayed with RA. */
  private forward(m: Msg, qname: string, type: RecordType): Msg {
    const up = this.upstream(qname, type);
    m.flags |= FLAG_RA;
    if (!up) { m.rcode = RCODE.SERVFAIL; return m; }
    m.rcode = up.rcode;
    m.answers = up.answers;
    return m;
  }

  private upstream(name: string, type: RecordType): UpstreamAnswer | null {
    return this.opts.upstream ? this.opts.upstream(name, type) : { rcode: RCODE.NXDOMAIN, answers: [] };
  }

  private soa(zone: string): Answer {
    return {
      type: 'SOA', name: zone, ttl: Math.min(this.ttl, 300), class: 'IN',
      data: {
        mname: `ns.dns.${zone}`, rname: `hostmaster.${zone}`, serial: this.view.serial() >>> 0,
        refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl,
      },
    };
  }

  // ── the backend (kubernetes.go) ──

  private parseRequest(name: string, zone: string): { r: RecordRequest; err: LookupErr } {
    const r: RecordRequest = { port: '', protocol: '', endpoint: '', service: '', namespace: '', podOrSvc: '' };
    const base = trimZone(name, zone);
    if (base === '' || base === SVC || base === POD) return { r, err: null };
    const segs = base.split('.');
    let last = segs.length - 1;
    r.podOrSvc = segs[last];
    if (r.podOrSvc !== POD && r.podOrSvc !== SVC) return { r, err: 'InvalidRequest' };
    if (--last < 0) return { r, err: null };
    r.namespace = segs[last];
    if (--last < 0) return { r, err: null };
    r.service = segs[last];
    if (--last < 0) return { r, err: null };
    if (last === 0) r.endpoint = segs[0];
    else if (last === 1) { r.protocol = stripUnderscore(segs[1]); r.port = stripUnderscore(segs[0]); }
    else return { r, err: 'InvalidRequest' };
    return { r, err: null };
  }

  private namespaceExposed(ns: string): boolean { return this.view.namespaceExists(ns); }

  /** Kubernetes.Records. `name` in lower case, `zone` as queried. */
  private records(name: string, zone: string): { svcs: Serv[]; err: LookupErr } {
    const { r, err } = this.parseRequest(name, lc(zone));
    if (err) return { svcs: [], err };
    if (r.podOrSvc === '') return { svcs: [], err: null };
    if (name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa')) return { svcs: [], err: 'NoItems' };
    if (!this.namespaceExposed(r.namespace)) return { svcs: [], err: 'NsNotExposed' };
    return r.podOrSvc === POD ? this.findPods(r, zone) : this.findServices(r, zone);
  }

  private findPods(r: RecordRequest, zone: string): { svcs: Serv[]; err: LookupErr } {
    if (this.pods === 'disabled') return { svcs: [], err: 'NoItems' };
    if (!this.namespaceExposed(r.namespace)) return { svcs: [], err: 'NoItems' };
    const podname = r.service;
    if (podname === '') return { svcs: [], err: null };
    const dashes = podname.split('-').length - 1;
    const ip = dashes === 3 && !podname.includes('--') ? strictIpv4(podname.replaceAll('-', '.')) : null;
    const key = `${podname}.${r.namespace}.${POD}.${zone}`;
    if (ip === null) return { svcs: [], err: 'NoItems' };
    if (this.pods === 'insecure') return { svcs: [{ host: ip, port: 0, key, ttl: this.ttl }], err: null };
    const n = parseIp(ip)!;
    if (this.view.podExists?.(n, r.namespace)) return { svcs: [{ host: ip, port: 0, key, ttl: this.ttl }], err: null };
    return { svcs: [], err: 'NoItems' };
  }

  private findServices(r: RecordRequest, zone: string): { svcs: Serv[]; err: LookupErr } {
    if (r.service === '') return { svcs: [], err: null };
    let err: LookupErr = 'NoItems';
    const svcs: Serv[] = [];
    const svc = this.view.service(lc(r.namespace), lc(r.service));
    if (!svc) return { svcs, err };
    const base = `${svc.name}.${svc.namespace}.${SVC}.${zone}`;
    if (svc.externalName !== undefined) {
      if (r.endpoint || r.port || r.protocol) return { svcs, err };
      const host = trimDot(svc.externalName);
      if (!hostIsIp(host)) { svcs.push({ host, port: 0, key: base, ttl: this.ttl }); err = null; }
      return { svcs, err };
    }
    if (svc.headless || r.endpoint !== '') {
      for (const slice of svc.endpointSlices) {
        const ports: DnsPort[] = slice.ports.length > 0 ? slice.ports : [{ name: '', protocol: '' as DnsPort['protocol'], port: -1 }];
        for (const ep of slice.endpoints) {
          if (ep.ready === false) continue;
          const hn = endpointHostname(ep.hostname, ep.ip);
          if (r.endpoint !== '' && !match(r.endpoint, hn)) continue;
          for (const p of ports) {
            if (!matchPortAndProtocol(r.port, p.name, r.protocol, p.protocol)) continue;
            svcs.push({ host: ipToString(ep.ip), port: p.port, key: `${hn}.${base}`, ttl: this.ttl });
            err = null;
          }
        }
      }
      return { svcs, err };
    }
    for (const p of svc.ports) {
      if (!matchPortAndProtocol(r.port, p.name, r.protocol, p.protocol)) continue;
      err = null;
      for (const ip of svc.clusterIPs) svcs.push({ host: ipToString(ip), port: p.port, key: base, ttl: this.ttl });
    }
    return { svcs, err };
  }

  /** Kubernetes.Services: the per-type special cases, then Records. */
  private services(qname: string, zone: string, qtype: RecordType): { svcs: Serv[]; err: LookupErr } {
    const name = lc(qname);
    if (qtype === 'TXT') {
      const t = trimZone(name, lc(zone));
      if (t === 'dns-version') return { svcs: [{ host: '', port: 0, key: qname, ttl: 28800, text: '1.1.0' }], err: null };
      const { svcs } = this.records(name, zone);
      return svcs.length > 0 ? { svcs: [], err: null } : { svcs: [], err: 'NoItems' };
    }
    if (qtype === 'NS') return { svcs: this.nsAddrs(zone).map((a) => ({ host: a.ip, port: 0, key: a.name, ttl: this.ttl })), err: null };
    if (name.startsWith('ns.dns.') && name.slice(7) === lc(zone)) {
      const svcs = qtype === 'A' ? this.nsAddrs(zone).map((a) => ({ host: a.ip, port: 0, key: qname, ttl: this.ttl })) : [];
      return { svcs, err: null };
    }
    const r = this.records(name, zone);
    if (qtype === 'SRV') r.svcs = r.svcs.filter((s) => hostIsIp(s.host));
    return r;
  }

  /** nsAddrs: this server's service (by its endpoints) or, failing that, its own addresses. */
  private nsAddrs(zone: string): { name: string; ip: string }[] {
    const out: { name: string; ip: string }[] = [];
    let found = false;
    for (const local of this.localIPs()) {
      for (const svc of this.view.services()) {
        for (const slice of svc.endpointSlices) {
          if (!slice.endpoints.some((e) => e.ip === local && e.ready !== false)) continue;
          found = true;
          const svcName = `${svc.name}.${svc.namespace}.${SVC}.${zone}`;
          if (svc.headless) {
            for (const e of slice.endpoints) if (e.ready !== false) out.push({ name: `${endpointHostname(e.hostname, e.ip)}.${svcName}`, ip: ipToString(e.ip) });
          } else {
            for (const ip of svc.clusterIPs) out.push({ name: svcName, ip: ipToString(ip) });
          }
        }
      }
    }
    if (!found) for (const local of this.localIPs()) out.push({ name: `ns.dns.${zone}`, ip: ipToString(local) });
    return out;
  }

  private nsRecords(qname: string, zone: string): { records: Answer[]; extra: Answer[] } {
    const records: Answer[] = [], extra: Answer[] = [];
    const seen = new Set<string>();
    for (const a of this.nsAddrs(zone)) {
      extra.push({ type: 'A', name: a.name, ttl: this.ttl, class: 'IN', data: a.ip });
      if (seen.has(a.name)) continue;
      seen.add(a.name);
      records.push({ type: 'NS', name: qname, ttl: this.ttl, class: 'IN', data: a.name });
    }
    return { records, extra };
  }

  /** checkForApex: the apex asks for apex.dns.<zone> first. */
  private checkForApex(qname: string, zone: string, qtype: RecordType): { svcs: Serv[]; err: LookupErr } {
    if (lc(qname) !== lc(zone)) return this.services(qname, zone, qtype);
    const r = this.services(`apex.dns.${zone}`, zone, qtype);
    if (!r.err) return r;
    return this.services(qname, zone, qtype);
  }

  /** plugin.A / plugin.AAAA. */
  private address(qname: string, zone: string, qtype: 'A' | 'AAAA', prev: Answer[]): { records: Answer[]; err: LookupErr } {
    const { svcs, err } = this.checkForApex(qname, zone, qtype);
    if (err) return { records: [], err };
    const records: Answer[] = [];
    const dup = new Set<string>();
    for (const s of svcs) {
      if (!hostIsIp(s.host)) {
        if (isSubDomain(qname, s.host)) continue;
        const cname: Answer = { type: 'CNAME', name: qname, ttl: s.ttl, class: 'IN', data: s.host };
        if (prev.length > 10) continue;
        if (prev.some((p) => p.type === 'CNAME' && lc(p.name) === lc(qname) && lc(p.data) === lc(s.host))) continue;
        if (isSubDomain(zone, s.host)) {
          const next = this.address(s.host, zone, qtype, [...prev, cname]);
          if (!next.err && next.records.length > 0) records.push(cname, ...next.records);
          continue;
        }
        const up = this.upstream(s.host, qtype);
        if (!up) continue;
        records.push(cname, ...up.answers);
        continue;
      }
      if (qtype === 'A' && !dup.has(s.host)) {
        dup.add(s.host);
        records.push({ type: 'A', name: qname, ttl: s.ttl, class: 'IN', data: s.host });
      }
    }
    return { records, err: null };
  }

  private txt(qname: string, zone: string): { records: Answer[]; err: LookupErr } {
    const { svcs, err } = this.services(qname, zone, 'TXT');
    if (err) return { records: [], err };
    return { records: svcs.filter((s) => s.text !== undefined).map((s) => ({ type: 'TXT', name: qname, ttl: s.ttl, class: 'IN', data: s.text! })), err: null };
  }

  /** plugin.SRV: weights per priority, targets from the keys, their addresses as extras. */
  private srv(qname: string, zone: string): { records: Answer[]; extra: Answer[]; err: LookupErr } {
    const { svcs, err } = this.services(qname, zone, 'SRV');
    if (err) return { records: [], extra: [], err };
    const total = svcs.length * 100; // every entry has priority 0 and weight 0 (→ 100)
    const records: Answer[] = [], extra: Answer[] = [];
    const dup = new Set<string>();
    for (const s of svcs) {
      if (s.port === -1) continue;
      let weight = Math.floor((100 / total) * 100);
      if (weight === 0) weight = 1;
      const target = s.key;
      const k1 = `${target}\u0000${s.port}`;
      if (!dup.has(k1)) { dup.add(k1); records.push({ type: 'SRV', name: qname, ttl: s.ttl, class: 'IN', data: { priority: 0, weight, port: s.port, target } }); }
      const k2 = `${target}\u0000\u0000${s.host}`;
      if (!dup.has(k2)) { dup.add(k2); extra.push({ type: 'A', name: target, ttl: s.ttl, class: 'IN', data: s.host }); }
    }
    return { records, extra, err: null };
  }

  /** plugin.PTR over Kubernetes.Reverse: a clusterIP first, else every endpoint with the address. */
  private ptr(qname: string, zone: string): { records: Answer[]; err: LookupErr } {
    const name = lc(qname);
    const ip = extractAddressFromReverse(name);
    if (ip === null) {
      const { err } = this.records(name, zone);
      return { records: [], err };
    }
    const n = parseIp(ip)!;
    const hosts: string[] = [];
    const primary = this.zones[0];
    let svcHit: DnsService | undefined;
    for (const svc of this.view.services()) if (svc.clusterIPs.includes(n)) { svcHit = svc; break; }
    if (svcHit) hosts.push(`${svcHit.name}.${svcHit.namespace}.${SVC}.${primary}`);
    else {
      for (const svc of this.view.services()) {
        for (const slice of svc.endpointSlices) {
          for (const e of slice.endpoints) {
            if (e.ip === n && e.ready !== false) hosts.push(`${endpointHostname(e.hostname, e.ip)}.${svc.name}.${svc.namespace}.${SVC}.${primary}`);
          }
        }
      }
    }
    if (hosts.length === 0) return { records: [], err: 'NoItems' };
    const seen = new Set<string>();
    const records: Answer[] = [];
    for (const h of hosts) {
      if (seen.has(h)) continue;
      seen.add(h);
      records.push({ type: 'PTR', name: qname, ttl: this.ttl, class: 'IN', data: h });
    }
    return { records, err: null };
  }
}

/** dnsutil.ExtractAddressFromReverse for in-addr.arpa: "4.3.2.1.in-addr.arpa" → "1.2.3.4" (IPv6 not handled). */
function extractAddressFromReverse(name: string): string | null {
  const suffix = '.in-addr.arpa';
  if (!name.endsWith(suffix)) return null;
  return strictIpv4(name.slice(0, -suffix.length).split('.').reverse().join('.'));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a); out.set(b, a.length);
  return out;
}

/** Starts CoreDNS in `ns` (UDP and TCP port 53). */
export function startCoreDns(ns: Netns, view: ClusterDnsView, opts: CoreDnsOptions = {}): CoreDns {
  return new CoreDns(view, opts, ns).listen();
}
