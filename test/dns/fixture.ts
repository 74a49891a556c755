/** A small cluster for the DNS tests, as a ClusterDnsView. */
import type { ClusterDnsView, DnsService } from '../../src/dns/view.js';
import { parseIp } from '../../src/wire/bytes.js';
import { encodeQuery, decodeMessage, encodeMessage, type RecordType, type Packet } from '../../src/dns/wire.js';

export const ip = (s: string) => parseIp(s)!;

export function cluster(): { view: ClusterDnsView; services: DnsService[] } {
  const services: DnsService[] = [
    {
      namespace: 'default', name: 'web', clusterIPs: [ip('10.96.0.20')], headless: false,
      ports: [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }],
      endpointSlices: [{
        ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 5353 }],
        endpoints: [{ ip: ip('10.244.1.5'), ready: true }, { ip: ip('10.244.2.6'), ready: true }, { ip: ip('10.244.2.7'), ready: false }],
      }],
    },
    {
      namespace: 'default', name: 'db', clusterIPs: [], headless: true,
      ports: [{ name: 'pg', protocol: 'TCP', port: 5432 }],
      endpointSlices: [{
        ports: [{ name: 'pg', protocol: 'TCP', port: 5432 }],
        endpoints: [
          { ip: ip('10.244.1.10'), hostname: 'db-0', ready: true },
          { ip: ip('10.244.2.11'), hostname: 'db-1', ready: true },
          { ip: ip('10.244.2.12'), hostname: 'db-2', ready: false },
        ],
      }],
    },
    { namespace: 'default', name: 'ext', clusterIPs: [], headless: false, externalName: 'example.com', ports: [], endpointSlices: [] },
    { namespace: 'default', name: 'alias', clusterIPs: [], headless: false, externalName: 'web.default.svc.cluster.local', ports: [], endpointSlices: [] },
    {
      namespace: 'kube-system', name: 'kube-dns', clusterIPs: [ip('10.96.0.10')], headless: false,
      ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }],
      endpointSlices: [{
        ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }],
        endpoints: [{ ip: ip('10.244.0.2'), ready: true }],
      }],
    },
  ];
  const view: ClusterDnsView = {
    clusterDomain: 'cluster.local',
    namespaceExists: (ns) => ['default', 'kube-system', 'empty'].includes(ns),
    service: (ns, name) => services.find((s) => s.namespace === ns && s.name === name),
    services: () => services,
    serial: () => 1700000000,
  };
  return { view, services };
}

/** A query as dig sends one (RD), optionally with EDNS. */
export function query(name: string, type: RecordType, id = 0x1234, edns?: { size: number; do?: boolean }): Uint8Array {
  if (!edns) return encodeQuery(id, name, type);
  const p: Packet = {
    type: 'query', id, flags: 0x0100, questions: [{ name, type, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns.size, extendedRcode: 0, ednsVersion: 0, flags: edns.do ? 0x8000 : 0, flag_do: !!edns.do, options: [] }],
  };
  return encodeMessage(p);
}

/** The reply as `dig +noall +answer +authority +additional` would list it, plus the header line. */
export function show(reply: Uint8Array | null): string[] {
  if (!reply) return ['(no reply)'];
  const m = decodeMessage(reply);
  const f = (m.flags ?? 0) | (m.flag_qr ? 0x8000 : 0);
  const flags = [['qr', 0x8000], ['aa', 0x400], ['tc', 0x200], ['rd', 0x100], ['ra', 0x80]].filter(([, b]) => f & (b as number)).map(([n]) => n).join(' ');
  const out = [`${m.rcode} id=${m.id} ${flags} q=${(m.questions ?? []).map((q) => `${q.name} ${q.type}`).join(',')}`];
  const rr = (sec: string, list: typeof m.answers) => {
    for (const a of list ?? []) {
      if (a.type === 'OPT') { out.push(`${sec} OPT udp=${a.udpPayloadSize} do=${a.flag_do} ext=${a.extendedRcode} v=${a.ednsVersion}`); continue; }
      const d = a.data as unknown;
      let data: string;
      if (a.type === 'SRV') { const s = d as { priority: number; weight: number; port: number; target: string }; data = `${s.priority} ${s.weight} ${s.port} ${s.target}`; }
      else if (a.type === 'SOA') { const s = d as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }; data = `${s.mname} ${s.rname} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`; }
      else if (a.type === 'TXT') data = (d as Buffer[]).map((b) => b.toString()).join(' ');
      else data = String(d);
      out.push(`${sec} ${a.name} ${a.ttl} ${a.type} ${data}`);
    }
  };
  rr('AN', m.answers); rr('NS', m.authorities); rr('AR', m.additionals);
  return out;
}
