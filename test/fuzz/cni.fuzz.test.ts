/**
 * Fuzzing CNI configurations (issue 11): the conflists the emulator itself
 * installs (Calico's 10-calico.conflist, flannel's 10-flannel.conflist) and a
 * bridge + host-local + portmap list as containerd ships it, mutated as JSON
 * trees and as text. Property: src/cni's parsers (and calicoNetConf /
 * resolveFlannel on what they accept) either accept or throw a
 * CniConfigError / JsonSyntaxError with line:col; through a scenario's
 * `network.conflist`, the loader and builder accept or throw an InputError
 * with file:line:col.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCniConfig, parseConflist, parseNetworkConfig, resolveFlannel } from '../../src/cni/conflist.js';
import { calicoConflistText, calicoNetConf } from '../../src/calico/cni.js';
import { FLANNEL_CONFLIST } from '../../src/scenario/flannel.js';
import { parseScenario } from '../../src/scenario/load.js';
import { buildCluster } from '../../src/scenario/build.js';
import { accepts, acceptsCni, fuzz, FUZZ_TIMEOUT, mutateText, mutateTree, sameTypeOp, textOp, treeOp, type Json } from './fuzz.js';

const BRIDGE = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'containerd-net',
  plugins: [
    {
      type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, hairpinMode: true, mtu: 1500,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.0.0/24', rangeStart: '10.244.0.10', rangeEnd: '10.244.0.250', gateway: '10.244.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] },
      dns: { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local'], options: ['ndots:5'] },
    },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
}, null, 2);

const TEXTS = [calicoConflistText({ nodename: 'node-1', mtu: 1440 }), JSON.stringify(JSON.parse(FLANNEL_CONFLIST), null, 2), BRIDGE];
const TREES = TEXTS.map((t) => JSON.parse(t) as Json);
const PIECES = ['{', '}', '[', ']', ',', ':', '"', '\\', '\\u', '\\ud800', 'null', 'true', '1e999', '-0', '01', '"type"', '"plugins"', '\n', ' '];

/** Every parser on `text`, and the plugin-specific readers on what they accept. */
function parseAll(text: string): void {
  acceptsCni(() => parseNetworkConfig(text));
  acceptsCni(() => parseCniConfig(text));
  acceptsCni(() => {
    const list = parseConflist(text);
    list.plugins.forEach((p, i) => {
      if (p.kind === 'flannel') resolveFlannel(list, { network: '10.244.0.0/16', subnet: '10.244.1.1/24', mtu: 1450, ipMasq: true });
      else if ((p as { type?: string }).type === 'calico') calicoNetConf(list, i);
    });
  });
}

const texts = fc.oneof(
  fc.tuple(fc.nat({ max: TREES.length - 1 }), fc.array(fc.oneof(treeOp, sameTypeOp), { minLength: 1, maxLength: 3 })).map(([i, ops]) => JSON.stringify(mutateTree(TREES[i]!, ops), null, 2)),
  fc.tuple(fc.nat({ max: TEXTS.length - 1 }), fc.array(textOp(PIECES), { minLength: 1, maxLength: 3 })).map(([i, ops]) => mutateText(TEXTS[i]!, ops)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 60 }),
);

const scenario = (conflist: string) => `name: fuzz
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network:
    plugin: bridge
    conflist: |
${conflist.split('\n').map((l) => `      ${l}`).join('\n')}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24, podCIDR: 10.244.0.0/24}
manifests:
  - |
    apiVersion: v1
    kind: Pod
    metadata: {name: a}
    spec: {nodeName: node-1, containers: [{name: a, image: a}]}
`;

describe('fuzz: CNI configurations', () => {
  it('the unmutated configs are accepted (the mutations start from valid input)', () => {
    for (const t of TEXTS) expect(acceptsCni(() => parseConflist(t))).toBe(true);
    expect(accepts(() => buildCluster(parseScenario(scenario(BRIDGE), 'fuzz.yaml')))).toBe(true);
  });

  it('mutated calico, flannel and bridge conflists through the src/cni parsers', async () => {
    await fuzz('CNI parsers', texts, parseAll, 400);
  }, FUZZ_TIMEOUT);

  it('mutated bridge conflists through a scenario (network.conflist)', async () => {
    const arb = fc.oneof(
      fc.array(fc.oneof(treeOp, sameTypeOp), { minLength: 1, maxLength: 3 }).map((ops) => JSON.stringify(mutateTree(TREES[2]!, ops), null, 2)),
      fc.array(textOp(PIECES), { minLength: 1, maxLength: 2 }).map((ops) => mutateText(BRIDGE, ops)),
    );
    await fuzz('CNI via a scenario', arb, (text) => accepts(() => buildCluster(parseScenario(scenario(text), 'fuzz.yaml'))), 60);
  }, FUZZ_TIMEOUT);
});
