/**
 * A kube-proxy (iptables mode) rule set for S ClusterIP services, in the
 * iptables-save text kube-proxy's iptables-restore produces (REFERENCE §3,
 * scenarios/rules/kube-proxy-web.v4): per service `KUBE-SERVICES -d VIP/32 -p
 * tcp -m comment --comment "ns/svc:p cluster IP" -m tcp --dport P -j
 * KUBE-SVC-X`; a KUBE-SVC chain with the `! -s podCIDR … -j KUBE-MARK-MASQ`
 * rule and one `-m statistic --mode random` jump per endpoint but the last;
 * a KUBE-SEP chain per endpoint with the hairpin `-s EP/32 -j KUBE-MARK-MASQ`
 * and the DNAT; KUBE-MARK-MASQ, KUBE-POSTROUTING, the nodeports rule last in
 * KUBE-SERVICES; filter FORWARD/INPUT/OUTPUT jumps and KUBE-FORWARD with the
 * ctstate rules, and a REJECT in filter KUBE-SERVICES for every 100th service
 * (no endpoints).
 *
 * Service i: VIP 10.96.0.0 + 1 + i, port 80 + i % 3, 1 + i % 3 endpoints at
 * 10.244.0.0/16 addresses — on average 8 nat rules per service
 * (1 + 1 + e + 2e), so rules ≈ 8 × services. Chain hashes are kube-proxy's
 * (first 16 chars of base32(sha256(spn + proto [+ endpoint]))).
 */
import { createHash } from 'node:crypto';
import { ipToString } from '../src/wire/bytes.js';

export const POD_CIDR = '10.244.0.0/16';
const VIP_BASE = 0x0a600000; // 10.96.0.0

export interface KubeService {
  spn: string;
  vip: number;
  port: number;
  endpoints: number[];
  svcChain: string;
  sepChains: string[];
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(b: Uint8Array): string {
  let out = '', bits = 0, v = 0;
  for (const x of b) {
    v = (v << 8) | x; bits += 8;
    while (bits >= 5) { out += B32[(v >>> (bits - 5)) & 31]; bits -= 5; }
    v &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(v << (5 - bits)) & 31];
  return out;
}
/** kube-proxy's chain-name hash. */
export function chainHash(s: string): string {
  return base32(createHash('sha256').update(s).digest()).slice(0, 16);
}

export function service(i: number): KubeService {
  const spn = `ns${i % 50}/svc${i}:p${80 + (i % 3)}`;
  const n = 1 + (i % 3);
  // Endpoint addresses: 10.244.(1 + i/250).(1 + j + (i%250)... ) — distinct per service, inside the pod CIDR.
  const endpoints: number[] = [];
  for (let j = 0; j < n; j++) endpoints.push((0x0af40000 + ((1 + ((i * 3 + j) >>> 8)) << 8) + ((i * 3 + j) & 0xff)) >>> 0);
  const port = 80 + (i % 3);
  return {
    spn, vip: (VIP_BASE + 1 + i) >>> 0, port, endpoints,
    svcChain: `KUBE-SVC-${chainHash(spn + 'tcp')}`,
    sepChains: endpoints.map((e) => `KUBE-SEP-${chainHash(`${spn}tcp${ipToString(e)}:${port}`)}`),
  };
}

/** Rules in the text (lines starting with -A), for reporting. */
export function countRules(text: string): number {
  let n = 0;
  for (const l of text.split('\n')) if (l.startsWith('-A ') || l.startsWith('-I ')) n++;
  return n;
}

/** The full `iptables-save` of a node with `count` services (services `from` … `from+count-1`). */
export function kubeProxyRules(count: number): string {
  const svcs = Array.from({ length: count }, (_, i) => service(i));
  const f: string[] = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
    ':KUBE-EXTERNAL-SERVICES - [0:0]', ':KUBE-FORWARD - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-PROXY-CANARY - [0:0]',
    ':KUBE-PROXY-FIREWALL - [0:0]', ':KUBE-SERVICES - [0:0]',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  ];
  for (let i = 99; i < count; i += 100) {
    // A service without endpoints: REJECT in filter (its VIP is outside the live services' range).
    const vip = ipToString((VIP_BASE + 0x80000 + i) >>> 0);
    f.push(`-A KUBE-SERVICES -d ${vip}/32 -p tcp -m comment --comment "ns${i % 50}/empty${i}:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`);
  }
  f.push('COMMIT');

  const n: string[] = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-MARK-MASQ - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-PROXY-CANARY - [0:0]'];
  for (const s of svcs) for (const c of s.sepChains) n.push(`:${c} - [0:0]`);
  n.push(':KUBE-SERVICES - [0:0]');
  for (const s of svcs) n.push(`:${s.svcChain} - [0:0]`);
  n.push(
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  );
  for (const s of svcs) n.push(...sepRules(s));
  for (const s of svcs) n.push(serviceRule(s));
  n.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  for (const s of svcs) n.push(...svcRules(s));
  n.push('COMMIT');
  return [...f, ...n].join('\n') + '\n';
}

function serviceRule(s: KubeService, cmd = '-A KUBE-SERVICES'): string {
  return `${cmd} -d ${ipToString(s.vip)}/32 -p tcp -m comment --comment "${s.spn} cluster IP" -m tcp --dport ${s.port} -j ${s.svcChain}`;
}

function svcRules(s: KubeService): string[] {
  const out = [`-A ${s.svcChain} ! -s ${POD_CIDR} -d ${ipToString(s.vip)}/32 -p tcp -m comment --comment "${s.spn} cluster IP" -m tcp --dport ${s.port} -j KUBE-MARK-MASQ`];
  const n = s.endpoints.length;
  for (let j = 0; j < n; j++) {
    const stat = j < n - 1 ? ` -m statistic --mode random --probability ${(1 / (n - j)).toFixed(11)}` : '';
    out.push(`-A ${s.svcChain} -m comment --comment "${s.spn} -> ${ipToString(s.endpoints[j])}:${s.port}"${stat} -j ${s.sepChains[j]}`);
  }
  return out;
}

function sepRules(s: KubeService): string[] {
  const out: string[] = [];
  s.endpoints.forEach((e, j) => {
    const c = s.sepChains[j];
    out.push(`-A ${c} -s ${ipToString(e)}/32 -m comment --comment "${s.spn}" -j KUBE-MARK-MASQ`);
    out.push(`-A ${c} -p tcp -m comment --comment "${s.spn}" -m tcp -j DNAT --to-destination ${ipToString(e)}:${s.port}`);
  });
  return out;
}

/**
 * What kube-proxy's next sync writes when one service is added (with the
 * default minSyncPeriod partial sync): `iptables-restore --noflush` declaring
 * the new chains, the new service's rule inserted in KUBE-SERVICES before the
 * nodeports rule (position `count + 1`), its KUBE-SVC and KUBE-SEP rules.
 */
export function addServiceText(count: number): string {
  const s = service(count);
  const lines = ['*nat'];
  for (const c of s.sepChains) lines.push(`:${c} - [0:0]`);
  lines.push(`:${s.svcChain} - [0:0]`);
  lines.push(...sepRules(s));
  lines.push(serviceRule(s, `-I KUBE-SERVICES ${count + 1}`));
  lines.push(...svcRules(s));
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}
