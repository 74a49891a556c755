/**
 * Golden `iptables-save` / `ipset save` text of felix's rendering on node-1
 * for representative policies, reviewed by hand against REFERENCE §8.3–8.5
 * and felix's rule renderer (felix/rules endpoints.go, policy.go, static.go,
 * nat.go). Regenerate with UPDATE_GOLDEN=1 and review the diff.
 *
 * Cluster: namespaces x {team: a} and y {team: b}; x/a {app: web; http=80/TCP}
 * and x/b {app: db; 5432/TCP, dns=53/UDP} on node-1, y/c {app: client; http=8080/TCP}
 * on node-2.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { iptablesSaveText, netfilterOf } from '../../../src/netfilter/index.js';
import { ipsetSave } from '../../../src/netfilter/ipset-text.js';
import type { Obj } from '../../../src/kube/object.js';
import type { GenCluster, GenPolicy } from '../../netpol/gen-cluster.js';
import type { FelixNodeConfig } from '../../../src/calico/felix/index.js';
import { felixCluster } from './helpers.js';

const DIR = 'test/calico/felix/golden';

function base(policies: GenPolicy[]): GenCluster {
  return {
    nodes: 2,
    namespaces: [{ name: 'x', labels: { team: 'a' } }, { name: 'y', labels: { team: 'b' } }],
    pods: [
      { ns: 'x', name: 'a', node: 0, labels: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      { ns: 'x', name: 'b', node: 0, labels: { app: 'db' }, ports: [{ port: 5432, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] },
      { ns: 'y', name: 'c', node: 1, labels: { app: 'client' }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
    ],
    policies,
  };
}

const anp = (name: string, priority: number, spec: Obj): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name }, spec: { priority, ...spec } });
const banp = (spec: Obj): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec });

interface Case { name: string; policies: GenPolicy[]; extra?: Obj[]; cfg?: Partial<FelixNodeConfig> }

const CASES: Case[] = [
  { name: 'deny-all', policies: [{ ns: 'x', name: 'deny-all', spec: { podSelector: {}, policyTypes: ['Ingress'] } }] },
  {
    name: 'allow-ns-and-pod',
    policies: [{ ns: 'x', name: 'allow-client', spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'client' } } }, { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'cache'] }] } }] }] } }],
  },
  {
    name: 'ipblock-except',
    policies: [{ ns: 'x', name: 'from-cidr', spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.1.0/24', '10.244.0.3/32'] } }], ports: [{ port: 80 }] }] } }],
  },
  {
    name: 'named-port',
    policies: [{ ns: 'x', name: 'http-only', spec: { podSelector: {}, ingress: [{ ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }] }] } }],
  },
  {
    name: 'endport-multiport',
    policies: [{ ns: 'x', name: 'ranges', spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 5432 }, { port: 8000, endPort: 8010 }, { port: 5433 }, { port: 'http' }] }] } }],
  },
  {
    name: 'egress',
    policies: [{ ns: 'x', name: 'web-to-db', spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }], ports: [{ port: 5432 }] }, { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.244.0.0/16'] } }], ports: [{ protocol: 'UDP', port: 53 }] }] } }],
  },
  {
    name: 'anp',
    policies: [{ ns: 'x', name: 'deny-all', spec: { podSelector: {}, policyTypes: ['Ingress'] } }],
    extra: [
      anp('pass-monitoring', 10, { subject: { namespaces: { matchLabels: { team: 'a' } } }, ingress: [{ name: 'pass-b', action: 'Pass', from: [{ namespaces: { matchLabels: { team: 'b' } } }], ports: [{ portNumber: { protocol: 'TCP', port: 8080 } }] }] }),
      anp('allow-and-deny', 20, {
        subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } } },
        ingress: [
          { name: 'allow-client', action: 'Allow', from: [{ pods: { namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'client' } } } }], ports: [{ namedPort: 'http' }] },
          { name: 'deny-rest', action: 'Deny', from: [{ namespaces: {} }] },
        ],
        egress: [{ name: 'deny-outside', action: 'Deny', to: [{ networks: ['192.168.0.0/16', '172.16.0.0/12'] }], ports: [{ portRange: { protocol: 'TCP', start: 1, end: 1024 } }] }],
      }),
    ],
  },
  {
    name: 'banp',
    policies: [],
    extra: [banp({ subject: { namespaces: {} }, ingress: [{ name: 'allow-same-team', action: 'Allow', from: [{ namespaces: { matchLabels: { team: 'a' } } }] }, { name: 'deny-all', action: 'Deny', from: [{ namespaces: {} }] }], egress: [{ name: 'deny-db', action: 'Deny', to: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } } }], ports: [{ portNumber: { protocol: 'TCP', port: 5432 } }] }] })],
  },
  {
    // Six policies with the same selector in a row: one policy group chain (cali-gi-), a RETURN on verdict before the sixth.
    name: 'policy-group',
    policies: [...Array.from({ length: 6 }, (_, i) => ({ ns: 'x', name: `same-sel-${i}`, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: `client${i}` } } }] }] } })),
      { ns: 'x', name: 'web-only', spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 80 }] }] } }],
  },
  {
    name: 'vxlan',
    policies: [],
    cfg: { vxlan: true, pools: [{ cidr: '10.244.0.0/16', natOutgoing: true, disabled: false }] },
  },
  {
    name: 'nat-outgoing-ipip',
    policies: [],
    cfg: { ipip: true, pools: [{ cidr: '10.244.0.0/16', natOutgoing: true, disabled: false }, { cidr: '10.250.0.0/16', natOutgoing: false, disabled: false }, { cidr: '10.251.0.0/16', natOutgoing: true, disabled: true }] },
  },
];

function render(c: Case): string {
  const fcl = felixCluster(base(c.policies), { ...(c.extra ? { extra: c.extra } : {}), ...(c.cfg ? { cfg: c.cfg } : {}) });
  expect(fcl.informer.problems).toEqual([]);
  const n = fcl.nodes[0]!.node;
  return `${iptablesSaveText(n, 'host')}\n# ipset save\n${ipsetSave(netfilterOf(n.host).nf.ipsets)}`;
}

describe('felix golden rule sets (node-1)', () => {
  for (const c of CASES)
    it(c.name, () => {
      const got = render(c);
      const file = `${DIR}/${c.name}.txt`;
      if (process.env.UPDATE_GOLDEN || !existsSync(file)) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, got);
      }
      expect(got).toBe(readFileSync(file, 'utf8'));
    });
});
