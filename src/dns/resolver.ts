/**
 * A pod's stub resolver: what glibc's getaddrinfo(name, AF_UNSPEC) does through
 * nss_dns with the resolv.conf the container runtime writes for the pod
 * (resolv/res_query.c __res_context_search, res_send.c __res_context_send,
 * send_dg and send_vc), on the virtual clock.
 *
 *  - Search: a name with at least `ndots` dots (or a trailing dot) is tried as
 *    is first; a trailing dot stops there. Otherwise each search domain is tried
 *    in order; NXDOMAIN and NODATA move on, SERVFAIL moves on, any other failure
 *    (a timeout, REFUSED) ends the search; the name as is comes last unless
 *    already tried.
 *  - Each candidate: an A and an AAAA query (IDs drawn from the run's Rng, A
 *    first), RD set, no EDNS, sent back to back (sendmmsg) from a new UDP socket
 *    connected to the nameserver (a fresh ephemeral port per candidate; the
 *    socket is closed once the candidate is settled).
 *  - Waiting: `timeout` seconds (resolv.conf default 5) per try and nameserver
 *    (`retrans << ns`, divided by the number of nameservers after the first),
 *    `attempts` tries (default 2) over the nameservers; a retry resends the same
 *    two datagrams (same IDs, same socket). A reply must come from the server,
 *    carry one of the two IDs and echo its question. SERVFAIL/NOTIMP/REFUSED
 *    count as "rejected": when both are rejected the next server/try follows. A
 *    reply with NOERROR, no answers, and none of AA, RA or additional records is a
 *    referral: the socket is closed and the next server/try follows.
 *  - If only one of the two replies came before the timeout, glibc switches to
 *    sending the queries one after the other (single-request) and starts the try
 *    again, then to single-request-reopen (a new socket), then accepts the one
 *    reply it has — the "5 second DNS delay" seen when conntrack drops one of two
 *    back-to-back datagrams.
 *  - A TC reply: the UDP socket is closed and both queries go over one TCP
 *    connection (each with its two-byte length, one write); one attempt.
 *  - ICMP port unreachable on the connected socket (ECONNREFUSED): the socket is
 *    closed and the next try opens a new one; with no reply ever, the lookup fails
 *    at once with ECONNREFUSED (search stops).
 *
 * The result's addresses are the A records of the first successful candidate,
 * following CNAMEs in the answer, in answer order (getaddrinfo's RFC 6724 sort is
 * not applied: with IPv4 only it keeps that order except for prefix matching).
 */
import type { Netns } from '../kernel/netns.js';
import type { UdpSock } from '../kernel/sockets.js';
import { TcpSock } from '../kernel/tcp.js';
import { parseIp } from '../wire/bytes.js';
import { decodeMessage, encodeQuery, rcodeOf, trimDot, FLAG_AA, FLAG_RA, FLAG_TC, RCODE, type DecodedPacket } from './wire.js';

export interface ResolvConf {
  nameservers: number[];
  search: string[];
  ndots: number;
  /** Seconds per try (options timeout:N), default 5. */
  timeout: number;
  /** Tries (options attempts:N), default 2. */
  attempts: number;
}

const MAXNS = 3;

/** Parses resolv.conf as glibc's res_init does (nameserver ≤ 3, last search/domain wins, options). */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], ndots: 1, timeout: 5, attempts: 2 };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [kw, ...rest] = line.split(/\s+/);
    if (kw === 'nameserver') {
      const ip = parseIp(rest[0] ?? '');
      if (ip !== undefined && conf.nameservers.length < MAXNS) conf.nameservers.push(ip);
    } else if (kw === 'search') conf.search = rest.slice();
    else if (kw === 'domain') conf.search = rest.slice(0, 1);
    else if (kw === 'options') {
      for (const o of rest) {
        const m = /^(ndots|timeout|attempts):(\d+)$/.exec(o);
        if (!m) continue;
        const v = Number(m[2]);
        if (m[1] === 'ndots') conf.ndots = Math.min(v, 15);
        else if (m[1] === 'timeout') conf.timeout = Math.min(v, 30);
        else conf.attempts = Math.min(v, 5);
      }
    }
  }
  return conf;
}

export type DnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';

/** The node's own resolv.conf (kubelet --resolv-conf), as far as pods see it. */
export interface HostDnsConfig { nameservers: string[]; search: string[]; options: string[] }

/** pod.spec.dnsConfig. */
export interface PodDnsConfig { nameservers?: string[]; searches?: string[]; options?: { name: string; value?: string }[] }

/**
 * The resolv.conf a pod gets (kubelet's pkg/kubelet/network/dns GetPodDNS, written
 * by the runtime as containerd does: search, nameserver, options lines):
 *  - ClusterFirst (and ClusterFirstWithHostNet): the cluster DNS, search
 *    `<ns>.svc.<domain> svc.<domain> <domain>` then the host's search domains,
 *    `options ndots:5`; a hostNetwork pod with ClusterFirst gets Default instead;
 *  - Default: the host's nameservers, search and options;
 *  - None: only pod.spec.dnsConfig.
 * dnsConfig is merged in all cases: nameservers appended (at most 3 kept), searches
 * appended without duplicates (at most 32), options overriding by name.
 */
export function resolvConfFor(
  podNamespace: string, dnsPolicy: DnsPolicy, clusterDNS: string[], clusterDomain: string,
  opts: { host?: HostDnsConfig; dnsConfig?: PodDnsConfig; hostNetwork?: boolean } = {},
): string {
  const host = opts.host ?? { nameservers: [], search: [], options: [] };
  let policy = dnsPolicy;
  if (policy === 'ClusterFirst' && opts.hostNetwork) policy = 'Default';
  let servers: string[] = [], searches: string[] = [], options: string[] = [];
  if (policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') {
    if (clusterDNS.length === 0) {
      // kubelet falls back to Default when no cluster DNS is configured
      servers = host.nameservers.slice(); searches = host.search.slice(); options = host.options.slice();
    } else {
      servers = clusterDNS.slice();
      searches = [`${podNamespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain, ...host.search];
      options = ['ndots:5'];
    }
  } else if (policy === 'Default') {
    servers = host.nameservers.slice(); searches = host.search.slice(); options = host.options.slice();
  }
  const dc = opts.dnsConfig;
  if (dc) {
    servers = [...servers, ...(dc.nameservers ?? [])];
    for (const s of dc.searches ?? []) if (!searches.includes(s)) searches.push(s);
    for (const o of dc.options ?? []) {
      const text = o.value !== undefined ? `${o.name}:${o.value}` : o.name;
      const i = options.findIndex((x) => x.split(':')[0] === o.name);
      if (i >= 0) options[i] = text; else options.push(text);
    }
  }
  servers = servers.slice(0, MAXNS);
  searches = searches.slice(0, 32);
  let out = '';
  if (searches.length > 0) out += `search ${searches.join(' ')}\n`;
  if (servers.length > 0) out += `nameserver ${servers.join('\nnameserver ')}\n`;
  if (options.length > 0) out += `options ${options.join(' ')}\n`;
  return out;
}

/**
 * The names glibc would query for `name`, in order, if every one failed with
 * NXDOMAIN (the search list's order; absolute, without the trailing dot).
 */
export function searchCandidates(name: string, conf: ResolvConf): string[] {
  const dots = [...name].filter((c) => c === '.').length;
  const trailing = name.length > 1 && name.endsWith('.');
  const out: string[] = [];
  let triedAsIs = false, rootOnList = false;
  if (dots >= conf.ndots || trailing) {
    out.push(trimDot(name));
    if (trailing) return out;
    triedAsIs = true;
  }
  for (let d of conf.search) {
    if (d.startsWith('.')) d = d.slice(1);
    if (d === '') rootOnList = true;
    out.push(d === '' ? name : `${name}.${trimDot(d)}`);
  }
  if (!(triedAsIs || rootOnList)) out.push(name);
  return out;
}

export type ResolveError = 'NXDOMAIN' | 'NODATA' | 'SERVFAIL' | 'TIMEOUT' | 'ECONNREFUSED' | 'NO_RECOVERY';

/** One DNS message the resolver sent. */
export interface SentQuery {
  time: number;
  name: string;
  type: 'A' | 'AAAA';
  id: number;
  transport: 'udp' | 'tcp';
  server: number;
  sport: number;
}

export interface ResolveResult {
  /** IPv4 addresses (A records of the answer, CNAMEs followed), in answer order. */
  addrs: number[];
  /** Messages sent (UDP datagrams and TCP-carried queries). */
  queries: number;
  sent: SentQuery[];
  /** The candidate that answered (absolute, no trailing dot). */
  name?: string;
  /** The canonical name (last CNAME target, else `name`). */
  canonical?: string;
  error?: ResolveError;
}

type HErrno = 'HOST_NOT_FOUND' | 'NO_DATA' | 'TRY_AGAIN' | 'NO_RECOVERY';

interface Reply { rcode: number; msg: DecodedPacket }

interface SendOutcome {
  ok: boolean;
  /** The two replies (A, AAAA) when ok (either may be missing). */
  a?: Reply; aaaa?: Reply;
  /** First reply's rcode, as left in glibc's answer buffer (hp->rcode). */
  firstRcode: number;
  errno?: 'ETIMEDOUT' | 'ECONNREFUSED';
}

/**
 * getaddrinfo(name) in `ns` with `conf`; `done` is called once, on the virtual
 * clock, with the addresses or the error. `flow` tags the packets for traces.
 */
export function resolve(ns: Netns, conf: ResolvConf, name: string, done: (r: ResolveResult) => void, flow?: string): void {
  new Lookup(ns, conf, name, done, flow).start();
}

class Lookup {
  private sent: SentQuery[] = [];
  private singleRequest = false;
  private singleRequestReopen = false;
  constructor(readonly ns: Netns, readonly conf: ResolvConf, readonly name: string, readonly done: (r: ResolveResult) => void, readonly flow?: string) {}

  private get sched() { return this.ns.node.world.sched; }

  start(): void {
    const name = this.name;
    const dots = [...name].filter((c) => c === '.').length;
    const trailing = name.length > 1 && name.endsWith('.');
    let saved: QueryResult | null = null, last: QueryResult | null = null;
    let gotNodata = false, gotServfail = false, rootOnList = false, triedAsIs = false;
    const domains = this.conf.search.slice();
    let di = 0;
    const fail = () => {
      const error: ResolveError = saved ? errorOf(saved) : gotNodata ? 'NODATA' : gotServfail ? 'SERVFAIL' : last ? errorOf(last) : 'NXDOMAIN';
      this.finish({ addrs: [], error });
    };
    // The name as is, last, unless already tried (RES_NOTLDQUERY is never set by kubelet).
    const asIsLast = () => {
      if (triedAsIs || rootOnList) { fail(); return; }
      this.query(name, (res) => {
        if (res.success) { this.settle(res); return; }
        last = res;
        fail();
      });
    };
    const search = (): void => {
      // One level of search for a name without dots (RES_DEFNAMES) or with dots but no trailing one (RES_DNSRCH).
      if (trailing || di >= domains.length) { asIsLast(); return; }
      let d = domains[di++];
      if (d.startsWith('.')) d = d.slice(1);
      if (d === '') rootOnList = true;
      this.query(d === '' ? name : `${name}.${trimDot(d)}`, (res) => {
        if (res.success) { this.settle(res); return; }
        last = res;
        if (res.errno === 'ECONNREFUSED') { this.finish({ addrs: [], error: 'ECONNREFUSED' }); return; }
        if (res.herrno === 'NO_DATA') { gotNodata = true; search(); return; }
        if (res.herrno === 'HOST_NOT_FOUND') { search(); return; }
        if (res.herrno === 'TRY_AGAIN' && res.rcode === RCODE.SERVFAIL) { gotServfail = true; search(); return; }
        asIsLast(); // anything else ends the search
      });
    };
    if (dots >= this.conf.ndots || trailing) {
      this.query(trimDot(name), (res) => {
        if (res.success || trailing) { this.settle(res); return; }
        saved = res; triedAsIs = true;
        search();
      });
      return;
    }
    search();
  }

  private settle(res: QueryResult): void {
    if (!res.success) { this.finish({ addrs: [], error: errorOf(res) }); return; }
    const { addrs, canonical } = addressesOf(res.qname, res.a?.msg);
    this.finish({ addrs, name: res.qname, canonical });
  }

  private finish(r: Omit<ResolveResult, 'queries' | 'sent'>): void {
    this.done({ ...r, queries: this.sent.length, sent: this.sent });
  }

  /** __res_context_query: both queries for one candidate, classified as glibc does. */
  private query(qname: string, cb: (r: QueryResult) => void): void {
    const rng = this.ns.node.world.rng;
    const idA = rng.int(0, 0xffff);
    const idAAAA = rng.int(0, 0xffff);
    this.send(qname, idA, idAAAA, (o) => {
      if (!o.ok) { cb({ success: false, qname, herrno: 'TRY_AGAIN', rcode: o.firstRcode, errno: o.errno }); return; }
      const hp = o.a ?? o.aaaa!, hp2 = o.aaaa ?? hp;
      const an = (r: Reply) => (r.msg.answers ?? []).length;
      if ((hp.rcode !== RCODE.NOERROR || an(hp) === 0) && (hp2.rcode !== RCODE.NOERROR || an(hp2) === 0)) {
        const code = hp.rcode === RCODE.NOERROR ? hp2.rcode : hp.rcode;
        const herrno: HErrno = code === RCODE.NXDOMAIN ? 'HOST_NOT_FOUND' : code === RCODE.SERVFAIL ? 'TRY_AGAIN'
          : code === RCODE.NOERROR ? 'NO_DATA' : 'NO_RECOVERY';
        cb({ success: false, qname, herrno, rcode: hp.rcode });
        return;
      }
      cb({ success: true, qname, a: o.a, aaaa: o.aaaa, herrno: 'NO_DATA', rcode: hp.rcode });
    });
  }

  /** __res_context_send over the nameservers, `attempts` tries; UDP, then TCP on TC. */
  private send(qname: string, idA: number, idAAAA: number, cb: (o: SendOutcome) => void): void {
    const qA = encodeQuery(idA, qname, 'A');
    const qAAAA = encodeQuery(idAAAA, qname, 'AAAA');
    const servers = this.conf.nameservers;
    const nscount = servers.length;
    let gotSomewhere = false;
    let firstRcode: number = RCODE.NOERROR;
    let sock: UdpSock | null = null;
    const closeSock = () => { if (sock) { sock.close(); sock = null; } };
    let tryNo = 0, nsi = 0;
    const next = (): void => {
      if (nscount === 0) { cb({ ok: false, firstRcode, errno: 'ECONNREFUSED' }); return; }
      if (nsi >= nscount) { nsi = 0; tryNo++; }
      if (tryNo >= Math.max(1, this.conf.attempts)) {
        closeSock();
        cb({ ok: false, firstRcode, errno: gotSomewhere ? 'ETIMEDOUT' : 'ECONNREFUSED' });
        return;
      }
      const ns = nsi++;
      let seconds = this.conf.timeout << ns;
      if (ns > 0) seconds = Math.floor(seconds / nscount);
      if (seconds <= 0) seconds = 1;
      this.sendDg(qname, qA, qAAAA, idA, idAAAA, servers[ns], seconds, () => sock, (s) => { sock = s; }, (r) => {
        if (r.gotSomewhere) gotSomewhere = true;
        if (r.firstRcode !== undefined) firstRcode = r.firstRcode;
        if (r.kind === 'answer') { closeSock(); cb({ ok: true, a: r.a, aaaa: r.aaaa, firstRcode }); return; }
        if (r.kind === 'tc') {
          closeSock();
          this.sendVc(qname, qA, qAAAA, idA, idAAAA, servers[ns], (v) => {
            if (v) { cb({ ok: true, a: v.a, aaaa: v.aaaa, firstRcode }); return; }
            cb({ ok: false, firstRcode, errno: gotSomewhere ? 'ETIMEDOUT' : 'ECONNREFUSED' });
          });
          return;
        }
        if (r.kind === 'close') closeSock();
        next();
      });
    };
    next();
  }

  private logSent(qname: string, type: 'A' | 'AAAA', id: number, transport: 'udp' | 'tcp', server: number, sport: number): void {
    this.sent.push({ time: this.ns.node.world.now, name: qname, type, id, transport, server, sport });
  }

  /**
   * send_dg for one server and try. `r.kind`: 'answer' (both replies, or one after
   * the single-request fallbacks), 'tc', 'next' (timeout or both rejected: socket
   * kept), 'close' (error or referral: socket closed, next try reopens).
   */
  private sendDg(
    qname: string, qA: Uint8Array, qAAAA: Uint8Array, idA: number, idAAAA: number, server: number, seconds: number,
    getSock: () => UdpSock | null, setSock: (s: UdpSock | null) => void,
    cb: (r: { kind: 'answer' | 'tc' | 'next' | 'close'; a?: Reply; aaaa?: Reply; gotSomewhere?: boolean; firstRcode?: number }) => void,
  ): void {
    let gen = 0;
    let settled = false;
    let recvA = false, recvAAAA = false;
    let a: Reply | undefined, aaaa: Reply | undefined;
    let firstRcode: number | undefined;
    let gotSomewhere = false;
    const finish = (r: { kind: 'answer' | 'tc' | 'next' | 'close'; a?: Reply; aaaa?: Reply }) => {
      if (settled) return;
      settled = true; gen++;
      cb({ ...r, gotSomewhere, firstRcode });
    };
    const onMessage = (data: Uint8Array, from: number, fromPort: number) => {
      if (settled) return;
      if (from !== server || fromPort !== 53) return; // res_ourserver_p (the connected socket filters anyway)
      if (data.length < 12) { getSock()?.close(); setSock(null); finish({ kind: 'close' }); return; }
      let msg: DecodedPacket;
      try { msg = decodeMessage(data); } catch { return; }
      const id = msg.id ?? -1;
      const forA = !recvA && id === idA, forAAAA = !recvAAAA && id === idAAAA;
      if (!forA && !forAAAA) return; // an old answer
      const q = (msg.questions ?? [])[0];
      const matches = (t: string) => q !== undefined && lc(trimDot(q.name)) === lc(trimDot(qname)) && q.type === t && (q.class ?? 'IN') === 'IN';
      if (!((forA && matches('A')) || (forAAAA && matches('AAAA')))) return; // wrong query
      const isA = forA && matches('A');
      const rcode = rcodeOf(msg.flags ?? 0);
      if (firstRcode === undefined) firstRcode = rcode;
      gotSomewhere = true;
      if (rcode === RCODE.SERVFAIL || rcode === RCODE.NOTIMP || rcode === RCODE.REFUSED) {
        if (recvA || recvAAAA) { finish({ kind: 'answer', a, aaaa }); return; }
        if (isA) recvA = true; else recvAAAA = true;
        if (this.singleRequest && isA) sendAAAA();
        return;
      }
      const flags = msg.flags ?? 0;
      if (rcode === RCODE.NOERROR && (msg.answers ?? []).length === 0 && !(flags & FLAG_AA) && !(flags & FLAG_RA) && (msg.additionals ?? []).length === 0) {
        getSock()?.close(); setSock(null); finish({ kind: 'close' }); return; // referral
      }
      if (flags & FLAG_TC) { finish({ kind: 'tc' }); return; }
      if (isA) { recvA = true; a = { rcode, msg }; } else { recvAAAA = true; aaaa = { rcode, msg }; }
      if (recvA && recvAAAA) { finish({ kind: 'answer', a, aaaa }); return; }
      if (this.singleRequest && isA) sendAAAA();
    };
    const onError = () => {
      if (settled) return;
      getSock()?.close(); setSock(null);
      finish({ kind: 'close' });
    };
    const open = (): UdpSock | null => {
      let s = getSock();
      if (s) return s;
      const port = this.ns.sockets.ephemeralPort('udp');
      s = this.ns.sockets.udpBind(port, {
        onMessage: (d, f, p) => handler.onMessage(d, f, p),
        onError: () => handler.onError(),
      });
      s.raddr = server; s.rport = 53;
      if (!this.ns.stack.routeOutput(server)) { s.close(); return null; } // connect(2): ENETUNREACH
      setSock(s);
      return s;
    };
    const handler = { onMessage, onError };
    const sendOne = (q: Uint8Array, type: 'A' | 'AAAA', id: number): boolean => {
      const s = getSock();
      if (!s) return false;
      const err = s.send(q, server, 53, this.flow);
      if (err) return false;
      this.logSent(qname, type, id, 'udp', server, s.lport);
      return true;
    };
    const sendAAAA = () => { if (!sendOne(qAAAA, 'AAAA', idAAAA)) onError(); };
    const arm = () => {
      const g = ++gen;
      this.sched.after(seconds * 1_000_000_000, () => {
        if (g !== gen || settled) return;
        if (recvA || recvAAAA) {
          if (a || aaaa) {
            if (!this.singleRequest) { this.singleRequest = true; restart(false); return; }
            if (!this.singleRequestReopen) { this.singleRequestReopen = true; restart(true); return; }
            finish({ kind: 'answer', a, aaaa });
            return;
          }
        }
        gotSomewhere = true;
        finish({ kind: 'next' });
      });
    };
    const restart = (reopen: boolean) => {
      recvA = recvAAAA = false; a = aaaa = undefined;
      if (reopen) { getSock()?.close(); setSock(null); }
      go();
    };
    const go = () => {
      if (!open()) { finish({ kind: 'close' }); return; }
      arm();
      if (!sendOne(qA, 'A', idA)) { onError(); return; }
      if (!this.singleRequest && !sendOne(qAAAA, 'AAAA', idAAAA)) { onError(); return; }
    };
    go();
  }

  /** send_vc: one TCP connection, both queries in one write, two replies read. */
  private sendVc(qname: string, qA: Uint8Array, qAAAA: Uint8Array, idA: number, idAAAA: number, server: number,
    cb: (r: { a?: Reply; aaaa?: Reply } | null) => void): void {
    let buf = new Uint8Array(0);
    let a: Reply | undefined, aaaa: Reply | undefined;
    let recvA = false, recvAAAA = false;
    let settled = false;
    const finish = (r: { a?: Reply; aaaa?: Reply } | null) => { if (!settled) { settled = true; cb(r); } };
    const s = new TcpSock(this.ns, {
      onConnect: (sk) => {
        const out = new Uint8Array(4 + qA.length + qAAAA.length);
        out[0] = qA.length >> 8; out[1] = qA.length & 0xff; out.set(qA, 2);
        const o2 = 2 + qA.length;
        out[o2] = qAAAA.length >> 8; out[o2 + 1] = qAAAA.length & 0xff; out.set(qAAAA, o2 + 2);
        this.logSent(qname, 'A', idA, 'tcp', server, sk.lport);
        this.logSent(qname, 'AAAA', idAAAA, 'tcp', server, sk.lport);
        sk.send(out);
      },
      onData: (sk, data) => {
        const b = new Uint8Array(buf.length + data.length);
        b.set(buf); b.set(data, buf.length);
        buf = b;
        while (buf.length >= 2) {
          const len = (buf[0] << 8) | buf[1];
          if (buf.length < 2 + len) break;
          const m = buf.subarray(2, 2 + len);
          buf = buf.slice(2 + len);
          let msg: DecodedPacket;
          try { msg = decodeMessage(m); } catch { continue; }
          const id = msg.id ?? -1;
          if ((recvA || id !== idA) && (recvAAAA || id !== idAAAA)) continue;
          const rep = { rcode: rcodeOf(msg.flags ?? 0), msg };
          if (!recvA && id === idA) { recvA = true; a = rep; } else { recvAAAA = true; aaaa = rep; }
          if (recvA && recvAAAA) { sk.close(); finish({ a, aaaa }); return; }
        }
      },
      onEnd: (sk) => { sk.close(); finish(null); },
      onError: () => finish(null),
    });
    s.flow = this.flow;
    if (s.connect(server, 53)) finish(null);
  }
}

function errorOf(r: QueryResult): ResolveError {
  switch (r.herrno) {
    case 'HOST_NOT_FOUND': return 'NXDOMAIN';
    case 'NO_DATA': return 'NODATA';
    case 'NO_RECOVERY': return 'NO_RECOVERY';
    default: return r.rcode === RCODE.SERVFAIL ? 'SERVFAIL' : r.errno === 'ECONNREFUSED' ? 'ECONNREFUSED' : 'TIMEOUT';
  }
}

interface QueryResult {
  success: boolean;
  qname: string;
  herrno: HErrno;
  rcode: number;
  errno?: 'ETIMEDOUT' | 'ECONNREFUSED';
  a?: Reply;
  aaaa?: Reply;
}

const lc = (s: string) => s.toLowerCase();

/** The A records for `qname` in a reply, following CNAMEs (as getaddrinfo's answer parser does). */
export function addressesOf(qname: string, msg: DecodedPacket | undefined): { addrs: number[]; canonical: string } {
  let canonical = trimDot(qname);
  const addrs: number[] = [];
  if (!msg) return { addrs, canonical };
  for (const rr of msg.answers ?? []) {
    if (lc(trimDot(rr.name)) !== lc(canonical)) continue;
    if (rr.type === 'CNAME') canonical = trimDot(rr.data);
    else if (rr.type === 'A') { const ip = parseIp(rr.data); if (ip !== undefined) addrs.push(ip); }
  }
  return { addrs, canonical };
}
