/**
 * kube-router's names (pkg/controllers/netpol): chains and ipsets are a
 * prefix plus the first 16 characters of base32(sha256(input)) — the hash
 * kube-proxy uses (src/kubeproxy/names.ts `chainHash`, reused). The inputs:
 *
 *   KUBE-POD-FW-  ns + pod + version
 *   KUBE-NWPLCY-  ns + policy + version + "IPv4"
 *   KUBE-SRC-/KUBE-DST- (policy targets)   ns + policy + "IPv4"
 *   KUBE-SRC- ingress rule i pod peers      ns + policy + "ingressrule" + i + "IPv4" + "pod"
 *   KUBE-DST- egress rule i pod peers       ns + policy + "egressrule" + i + "IPv4" + "pod"
 *   KUBE-SRC-/KUBE-DST- rule i ipBlocks     … + "ipblock"
 *   KUBE-DST- named port j of rule i        ns + policy + "ingressrule"|"egressrule" + i + j + "IPv4" + "namedport"
 *
 * `version` is the sync's version: kube-router uses time.Now().UnixNano() in
 * base 10; podwire uses the virtual time in ns, so names repeat from run to run.
 * The rule UUIDs in kube-router's comments on its top-level jumps are the same
 * hash of (chain + the rule's arguments joined without spaces).
 *
 * podwire's own names (kube-router has no such chains): the egress half of a
 * policy with both policyTypes (see render.ts), `KUBE-ANP-`/`KUBE-BANP-` tier
 * chains and their ipsets, all with the same hash.
 */
import * as nodeCrypto from 'node:crypto';
import { chainHash } from '../kubeproxy/names.js';

export { chainHash };

export const FAMILY = 'IPv4';

export const CH = {
  INPUT: 'KUBE-ROUTER-INPUT',
  FORWARD: 'KUBE-ROUTER-FORWARD',
  OUTPUT: 'KUBE-ROUTER-OUTPUT',
  DEFAULT: 'KUBE-NWPLCY-DEFAULT',
  COMMON: 'KUBE-NWPLCY-COMMON',
  TAIL: 'KUBE-NWPLCY-TAIL',
} as const;

export const POD_FW_PREFIX = 'KUBE-POD-FW-';
export const NWPLCY_PREFIX = 'KUBE-NWPLCY-';
export const SRC_PREFIX = 'KUBE-SRC-';
export const DST_PREFIX = 'KUBE-DST-';
export const ANP_PREFIX = 'KUBE-ANP-';
export const BANP_PREFIX = 'KUBE-BANP-';

export const podFwChain = (ns: string, pod: string, version: string) => POD_FW_PREFIX + chainHash(ns + pod + version);
export const policyChain = (ns: string, name: string, version: string) => NWPLCY_PREFIX + chainHash(ns + name + version + FAMILY);
/** podwire: the egress half of a policy with both policyTypes. */
export const policyEgressChain = (ns: string, name: string, version: string) => NWPLCY_PREFIX + chainHash(ns + name + version + FAMILY + 'egress');
export const policySrcSet = (ns: string, name: string) => SRC_PREFIX + chainHash(ns + name + FAMILY);
export const policyDstSet = (ns: string, name: string) => DST_PREFIX + chainHash(ns + name + FAMILY);
export const ingressPodSet = (ns: string, name: string, i: number) => SRC_PREFIX + chainHash(`${ns}${name}ingressrule${i}${FAMILY}pod`);
export const egressPodSet = (ns: string, name: string, i: number) => DST_PREFIX + chainHash(`${ns}${name}egressrule${i}${FAMILY}pod`);
export const ingressIpBlockSet = (ns: string, name: string, i: number) => SRC_PREFIX + chainHash(`${ns}${name}ingressrule${i}${FAMILY}ipblock`);
export const egressIpBlockSet = (ns: string, name: string, i: number) => DST_PREFIX + chainHash(`${ns}${name}egressrule${i}${FAMILY}ipblock`);
/** podwire: ipBlock peer k of rule i in its own set (a rule whose ipBlocks have excepts; see render.ts). */
export const ingressIpBlockPeerSet = (ns: string, name: string, i: number, k: number) => SRC_PREFIX + chainHash(`${ns}${name}ingressrule${i}${FAMILY}ipblock${k}`);
export const egressIpBlockPeerSet = (ns: string, name: string, i: number, k: number) => DST_PREFIX + chainHash(`${ns}${name}egressrule${i}${FAMILY}ipblock${k}`);
export const ingressNamedPortSet = (ns: string, name: string, i: number, j: number) => DST_PREFIX + chainHash(`${ns}${name}ingressrule${i}${j}${FAMILY}namedport`);
export const egressNamedPortSet = (ns: string, name: string, i: number, j: number) => DST_PREFIX + chainHash(`${ns}${name}egressrule${i}${j}${FAMILY}namedport`);
/** podwire: an egress ipBlock's named port j of rule i (pods anywhere with that port). */
export const egressIpBlockNamedPortSet = (ns: string, name: string, i: number, j: number) => DST_PREFIX + chainHash(`${ns}${name}egressrule${i}${j}${FAMILY}ipblocknamedport`);

/** podwire: ANP `name`'s chain for one direction. */
export const anpChain = (name: string, dir: 'ingress' | 'egress', version: string) => ANP_PREFIX + chainHash(`anp${name}${dir}${version}`);
export const banpChain = (dir: 'ingress' | 'egress', version: string) => BANP_PREFIX + chainHash(`banpdefault${dir}${version}`);
/** podwire: the peers of (B)ANP rule i as one set (`kind` pod: hash:ip of pod and node IPs; net: hash:net of networks). */
export const anpPeerSet = (tier: string, name: string, dir: 'ingress' | 'egress', i: number, kind: 'pod' | 'net') =>
  (dir === 'ingress' ? SRC_PREFIX : DST_PREFIX) + chainHash(`${tier}${name}${dir}rule${i}${FAMILY}${kind}`);
export const anpNamedPortSet = (tier: string, name: string, dir: 'ingress' | 'egress', i: number, j: number) =>
  DST_PREFIX + chainHash(`${tier}${name}${dir}rule${i}${j}${FAMILY}namedport`);

/** The UUID kube-router appends to the comment of a positioned rule: hash of chain + args joined with "". */
export const ruleUuid = (chain: string, args: readonly string[]) => chainHash(chain + args.join(''));

/** ipset's TMP set for one set-options string: "TMP-" + base32(sha1("tmp:" + options)[:10]) (utils.BuildIPSetRestore). */
export function tmpSetName(options: string): string {
  const b = nodeCrypto.createHash('sha1').update('tmp:' + options).digest();
  return 'TMP-' + base32(b.subarray(0, 10));
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** RFC 4648 base32 of a multiple of 5 bytes (no padding needed). */
function base32(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 5) {
    let v = 0n;
    for (let k = 0; k < 5; k++) v = (v << 8n) | BigInt(b[i + k] ?? 0);
    for (let k = 7; k >= 0; k--) out += B32[Number((v >> BigInt(k * 5)) & 31n)];
  }
  return out;
}
