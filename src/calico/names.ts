/**
 * Calico's names, computed as Calico computes them (REFERENCE.md §8.1, §8.4):
 *  - the host end of a workload's veth: the interface prefix (`cali`) plus the
 *    first 11 hex characters of sha1("<namespace>.<pod>") — 15 characters, the
 *    kernel's IFNAMSIZ − 1 (cni-plugin's naming of the host veth; felix finds
 *    the endpoint by the same name);
 *  - felix's length-limited ids (`GetLengthLimitedID`): prefix + suffix when the
 *    whole fits in 28 characters (iptables' chain-name budget felix keeps), else
 *    prefix + "_" + base64url-without-padding(sha256(suffix)) cut to fit;
 *  - felix's policy ids `<kind>/<namespace>/<name>` (knp = Kubernetes
 *    NetworkPolicy), and the per-policy chain names built from them.
 * The one implementation in podwire: the CNI plugin and felix both import it.
 */
import * as nodeCrypto from 'node:crypto';

export const DEFAULT_INTERFACE_PREFIX = 'cali';

/** The host-side veth name of pod NS/NAME: `cali` + sha1("NS.NAME")[:11] in hex. */
export function workloadInterfaceName(namespace: string, pod: string, prefix = DEFAULT_INTERFACE_PREFIX): string {
  const hex = nodeCrypto.createHash('sha1').update(`${namespace}.${pod}`).digest('hex');
  return prefix + hex.slice(0, 15 - prefix.length);
}

/** felix's iptables name budget (chain names, ipset ids are cut separately). */
export const MAX_NAME_LENGTH = 28;

/** felix's GetLengthLimitedID: prefix+suffix if it fits, else prefix + "_" + a sha256 digest of the suffix. */
export function lengthLimitedId(prefix: string, suffix: string, max = MAX_NAME_LENGTH): string {
  const whole = prefix + suffix;
  if (whole.length < max || (whole.length === max && !suffix.startsWith('_'))) return whole;
  const digest = nodeCrypto.createHash('sha256').update(suffix).digest('base64url');
  return prefix + '_' + digest.slice(0, max - 1 - prefix.length);
}

/** felix's policy id for a Kubernetes NetworkPolicy: `knp/<namespace>/<name>`. */
export function knpPolicyId(namespace: string, name: string): string {
  return `knp/${namespace}/${name}`;
}

/** Inbound / outbound policy chain names: cali-pi-<id> / cali-po-<id>, length limited. */
export function policyChainName(direction: 'inbound' | 'outbound', policyId: string): string {
  return lengthLimitedId(direction === 'inbound' ? 'cali-pi-' : 'cali-po-', policyId);
}

/** Workload endpoint chains: cali-tw-<iface> (to workload: ingress) / cali-fw-<iface> (from workload: egress). */
export function endpointChainName(direction: 'to' | 'from', iface: string): string {
  return lengthLimitedId(direction === 'to' ? 'cali-tw-' : 'cali-fw-', iface);
}
