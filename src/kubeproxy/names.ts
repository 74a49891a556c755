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

const oneShot = (nodeCrypto as unknown as { hash?: (alg: string, data: string, enc: string) => Uint8Array }).hash;
const B32C = Array.from(B32, (c) => c.charCodeAt(0));

/** kube-proxy's hash of a chain-name input (first 16 chars of base32(sha256(s))). */
export function chainHash(s: string): string {
  const b = oneShot ? oneShot('sha256', s, 'buffer') : nodeCrypto.createHash('sha256').update(s).digest();
  // 10 bytes = 80 bits = 16 characters: two groups of 5 bytes → 8 characters each.
  const hi0 = b[0] * 4 + (b[1] >>> 6), lo0 = ((b[1] & 63) << 24) | (b[2] << 16) | (b[3] << 8) | b[4];
  const hi1 = b[5] * 4 + (b[6] >>> 6), lo1 = ((b[6] & 63) << 24) | (b[7] << 16) | (b[8] << 8) | b[9];
  return String.fromCharCode(
    B32C[hi0 >>> 5], B32C[hi0 & 31], B32C[(lo0 >>> 25) & 31], B32C[(lo0 >>> 20) & 31], B32C[(lo0 >>> 15) & 31], B32C[(lo0 >>> 10) & 31], B32C[(lo0 >>> 5) & 31], B32C[lo0 & 31],
    B32C[hi1 >>> 5], B32C[hi1 & 31], B32C[(lo1 >>> 25) & 31], B32C[(lo1 >>> 20) & 31], B32C[(lo1 >>> 15) & 31], B32C[(lo1 >>> 10) & 31], B32C[(lo1 >>> 5) & 31], B32C[lo1 & 31],
  );
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
