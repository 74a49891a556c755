/**
 * kube-proxy's chain names (pkg/proxy/iptables/proxier.go): the first 16
 * characters of base32 (RFC 4648 alphabet, with padding — irrelevant at 16
 * chars) of sha256(servicePortName + lowercase protocol [+ "ip:port"]),
 * behind KUBE-SVC- / KUBE-SVL- / KUBE-EXT- / KUBE-FW- / KUBE-SEP-. The
 * one implementation in podwire (bench/netfilter-rules.ts has an older copy).
 */
import * as nodeCrypto from 'node:crypto';
import { ipToString } from '../wire/bytes.js';
import { servicePortName, type Protocol, type ServicePortInfo } from './model.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Base32 (StdEncoding) of the first 10 bytes → exactly 16 characters, which is all kube-proxy keeps. */
function base32First16(b: Uint8Array): string {
  let out = '';
  // 10 bytes = 80 bits = 16 groups of 5, no padding involved.
  for (let i = 0; i < 10; i += 5) {
    const hi = (b[i] * 2 ** 32) + ((b[i + 1] << 24) >>> 0) + (b[i + 2] << 16) + (b[i + 3] << 8) + b[i + 4];
    for (let k = 7; k >= 0; k--) out += B32[Math.floor(hi / 2 ** (5 * k)) % 32];
  }
  return out;
}

const oneShot = (nodeCrypto as unknown as { hash?: (alg: string, data: string, enc: string) => string }).hash;

/** kube-proxy's hash of a chain-name input (first 16 chars of base32(sha256(s))). */
export function chainHash(s: string): string {
  if (oneShot) {
    // 20 hex digits = 80 bits = 16 base32 characters, 5 hex digits (20 bits) → 4 characters at a time.
    const h = oneShot('sha256', s, 'hex');
    let out = '';
    for (let i = 0; i < 20; i += 5) {
      const v = parseInt(h.slice(i, i + 5), 16);
      out += B32[(v >>> 15) & 31] + B32[(v >>> 10) & 31] + B32[(v >>> 5) & 31] + B32[v & 31];
    }
    return out;
  }
  return base32First16(nodeCrypto.createHash('sha256').update(s).digest());
}

/** The name parts of one service port: spn (ServicePortName.String()) and lowercase protocol. */
export function protoLower(p: Protocol): string {
  return p === 'TCP' ? 'tcp' : p === 'UDP' ? 'udp' : 'sctp';
}

/** `ip:port` as net.JoinHostPort writes an IPv4 endpoint (the Endpoint.String() kube-proxy hashes and sorts by). */
export function endpointString(ip: number, port: number): string {
  return `${ipToString(ip)}:${port}`;
}

export interface ServiceChainNames {
  spn: string;
  proto: string;
  svc: string;
  svl: string;
  ext: string;
  fw: string;
}

export function serviceChainNames(sp: Pick<ServicePortInfo, 'namespace' | 'name' | 'portName' | 'protocol'>): ServiceChainNames {
  const spn = servicePortName(sp);
  const proto = protoLower(sp.protocol);
  const h = chainHash(spn + proto);
  return { spn, proto, svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** KUBE-SVC-… for a service port name string and lowercase protocol. */
export function svcChainName(spn: string, proto: string): string { return `KUBE-SVC-${chainHash(spn + proto)}`; }
export function svlChainName(spn: string, proto: string): string { return `KUBE-SVL-${chainHash(spn + proto)}`; }
export function extChainName(spn: string, proto: string): string { return `KUBE-EXT-${chainHash(spn + proto)}`; }
export function fwChainName(spn: string, proto: string): string { return `KUBE-FW-${chainHash(spn + proto)}`; }
/** KUBE-SEP-… for an endpoint given as `ip:port`. */
export function sepChainName(spn: string, proto: string, endpoint: string): string { return `KUBE-SEP-${chainHash(spn + proto + endpoint)}`; }

/** The prefixes of per-service chains kube-proxy owns (isServiceChainName). */
export const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-SEP-', 'KUBE-FW-', 'KUBE-EXT-'] as const;
export function isServiceChainName(name: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
