import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/scenario/errors.js';
import { loadScenario, parseScenario } from '../../src/scenario/load.js';
import type { PodSpec } from '../../src/scenario/types.js';

const BAD = 'test/fixtures/bad';

/** The formatted error of parsing `text` as file `f`, or 'OK'. */
function err(text: string, f = 's.yaml'): string {
  try {
    parseScenario(text, f);
    return 'OK';
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
}

const CLUSTER = `cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  network: {plugin: bridge}
  nodes:
    - {name: node-1, ip: 192.168.1.11/24, podCIDR: 10.244.0.0/24}
`;

describe('InputError', () => {
  it('formats FILE:LINE:COL: error: MESSAGE (expected EXPECTED)', () => {
    expect(new InputError('a.yaml', 3, 7, 'bad thing', 'a good thing').format()).toBe('a.yaml:3:7: error: bad thing (expected a good thing)');
    expect(new InputError('a.yaml', 1, 1, 'bad thing').format()).toBe('a.yaml:1:1: error: bad thing');
    const e = new InputError('a.yaml', 1, 2, 'm');
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toBe('m');
    expect(e.pos).toEqual({ file: 'a.yaml', line: 1, col: 2 });
  });
});

describe('bad fixtures (test/fixtures/bad/*.yaml, expected error in the "# expect:" first line)', () => {
  const files = readdirSync(BAD).filter((f) => f.endsWith('.yaml')).sort();
  it('has fixtures', () => expect(files.length).toBeGreaterThan(100));
  for (const f of files) {
    it(f, () => {
      const path = `${BAD}/${f}`;
      const text = readFileSync(path, 'utf8');
      const want = f === 'empty.yaml' ? `${path}:1:1: error: empty scenario file (expected a mapping with keys name, cluster, manifests, traffic)` : /^# expect: (.*)$/m.exec(text)![1];
      let got = 'OK';
      try {
        loadScenario(path);
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        got = (e as InputError).format();
      }
      expect(got).toBe(want);
    });
  }
});

describe('scenarios/same-node-bridge.yaml', () => {
  const s = loadScenario('scenarios/same-node-bridge.yaml');
  it('loads the cluster with defaults', () => {
    expect(s.name).toBe('same-node-bridge');
    expect(s.seed).toBe(1);
    expect(s.description).toBe('Two pods on one node talk over cni0.');
    expect(s.cluster.podCIDR).toEqual({ addr: 0x0af40000, prefix: 16, text: '10.244.0.0/16' });
    expect(s.cluster.serviceCIDR.text).toBe('10.96.0.0/12');
    expect(s.cluster.mtu).toBe(1500);
    expect(s.cluster.linkDelay).toEqual({ veth: 0, nic: 50_000 });
    expect(s.cluster.nicBandwidth).toBe(0);
    expect(s.cluster.network).toMatchObject({ plugin: 'bridge', hairpinMode: true, mtu: 1500 });
    expect(s.cluster.network.conflist).toBeUndefined();
    expect(s.cluster.kubeProxy.mode).toBe('none');
    expect(s.cluster.nodes).toHaveLength(1);
    expect(s.cluster.nodes[0]).toMatchObject({ name: 'node-1', ip: { addr: 0xc0a8010b, prefix: 24 }, podCIDR: { text: '10.244.0.0/24' } });
    expect(s.cluster.nodes[0].pos).toEqual({ file: 'scenarios/same-node-bridge.yaml', line: 12, col: 7 });
    expect(s.cluster.externalHosts).toEqual([]);
    expect(s.events).toEqual([]);
  });
  it('loads the pods', () => {
    const pods = s.manifests as PodSpec[];
    expect(pods.map((p) => `${p.kind} ${p.namespace}/${p.name}@${p.nodeName}`)).toEqual(['Pod default/client@node-1', 'Pod default/web@node-1']);
    expect(pods[1].containers).toEqual([
      {
        name: 'web',
        image: 'nginx',
        ports: [
          { containerPort: 80, name: 'http', protocol: 'TCP' },
          { containerPort: 7, name: 'echo', protocol: 'UDP' },
        ],
      },
    ]);
    expect(pods[1].labels).toEqual({ app: 'web' });
    expect(pods[1].hostNetwork).toBe(false);
    expect(pods[1].pinnedIP).toBeUndefined();
    expect(pods[1].pos).toEqual({ file: 'scenarios/same-node-bridge.yaml', line: 22, col: 5 });
  });
  it('loads the traffic with defaults', () => {
    expect(s.traffic.map((t) => t.name)).toEqual(['ping-web', 'tcp-web', 'udp-web', 'tcp-closed-port', 'udp-closed-port']);
    const [ping, tcp] = s.traffic;
    expect(ping).toMatchObject({ at: 1_000_000, protocol: 'icmp', size: 56, count: 1, timeout: 3_000_000_000 });
    expect(ping.port).toBeUndefined();
    expect(ping.from).toEqual({ kind: 'pod', namespace: 'default', name: 'client', text: 'pod/default/client' });
    expect(ping.expect).toMatchObject({ result: 'reply', path: ['node-1/default.client/eth0', 'node-1/host/cni0', 'node-1/default.web/eth0'] });
    expect(tcp).toMatchObject({ at: 100_000_000, protocol: 'tcp', port: 80, size: 64 });
    expect(s.traffic[3].expect?.result).toBe('refused');
  });
});

describe('inline manifests: positions map into the scenario file', () => {
  it('an unknown key inside a block scalar points at its scenario line and column', () => {
    const text = `name: t
${CLUSTER}manifests:
  - |
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
    spec:
      nodeName: node-1
      containers:
        - name: web
          image: nginx
          livenessProbe: {tcpSocket: {port: 80}}
          imagePullPolcy: Always
`;
    expect(err(text)).toBe(
      's.yaml:20:11: error: Pod "web" is invalid: unknown field "spec.containers[0].imagePullPolcy"; did you mean "imagePullPolicy"? ' +
        '(expected one of args, command, env, envFrom, image, imagePullPolicy, lifecycle, livenessProbe, name, ports, readinessProbe, resizePolicy, resources, restartPolicy, securityContext, startupProbe, stdin, stdinOnce, terminationMessagePath, terminationMessagePolicy, tty, volumeDevices, volumeMounts, workingDir)',
    );
  });

  it('maps positions in the second document of a multi-document string, deeper indentation, |- and leading blank lines', () => {
    const text = `name: t
${CLUSTER}manifests:
    -   |-

          apiVersion: v1
          kind: ConfigMap
          metadata: {name: web}
          ---
          apiVersion: v1
          kind: Pod
          metadata: {name: web}
          spec: {nodeName: node-1, containers: [{name: web, image: nginx, ports: [{containerPort: 80, protocl: TCP}]}]}
`;
    const line = text.split('\n')[17];
    expect(line).toContain('protocl');
    const col = line.indexOf('protocl') + 1;
    expect(err(text)).toBe(
      `s.yaml:18:${col}: error: Pod "web" is invalid: unknown field "spec.containers[0].ports[0].protocl"; did you mean "protocol"? (expected one of containerPort, hostIP, hostPort, name, protocol)`,
    );
  });

  it('maps YAML syntax errors inside a block scalar', () => {
    const text = `name: t
${CLUSTER}manifests:
  - |
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
     labels: {}
`;
    expect(err(text)).toBe('s.yaml:14:5: error: YAML syntax error: All mapping items must start at the same column');
  });

  it('reports errors in quoted strings at the string start', () => {
    const text = `name: t\n${CLUSTER}manifests:\n  - "apiVersion: v1\\nkind: Pod\\nmetadata: {name: Web}"\n`;
    expect(err(text)).toMatch(/^s\.yaml:9:5: error: Pod "Web" is invalid: metadata\.name: Invalid value: "Web": a lowercase RFC 1123 subdomain/);
  });

  it('accepts a manifest written as a mapping in place, with direct positions', () => {
    const text = `name: t
${CLUSTER}manifests:
  - apiVersion: v1
    kind: Pod
    metadata: {name: web}
    spec:
      nodeName: node-1
      containerz: []
`;
    expect(err(text)).toMatch(/^s\.yaml:14:7: error: Pod "web" is invalid: unknown field "spec\.containerz"; did you mean "containers"\?/);
  });

  it('accepts every real Pod field, a status block with conditions, and keeps the body', () => {
    const text = `name: t
${CLUSTER}manifests:
  - |
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      namespace: prod
      labels: {app.kubernetes.io/name: web, tier: ""}
      annotations: {podwire/ip: 10.244.0.10, example.com/Note: "hello"}
      uid: 1234
      finalizers: []
    spec:
      nodeName: node-1
      serviceAccountName: default
      restartPolicy: Always
      dnsPolicy: ClusterFirst
      terminationGracePeriodSeconds: 30
      tolerations: [{operator: Exists}]
      affinity: {}
      volumes: [{name: data, emptyDir: {}}]
      securityContext: {runAsUser: 1000}
      initContainers: [{name: init, image: busybox, command: [sh, -c, "true"]}]
      containers:
        - name: web
          image: nginx:1.27
          command: [nginx]
          args: [-g, daemon off;]
          env: [{name: A, value: b}]
          resources: {limits: {cpu: 100m}}
          volumeMounts: [{name: data, mountPath: /data}]
          livenessProbe: {httpGet: {path: /, port: 80}}
          readinessProbe: {tcpSocket: {port: 80}}
          securityContext: {readOnlyRootFilesystem: true}
          ports: [{containerPort: 80, name: http, hostPort: 8080}, {containerPort: 9000, protocol: SCTP}]
    status:
      phase: Running
      conditions: [{type: Ready, status: "False"}]
`;
    const s = parseScenario(text, 's.yaml');
    const pod = s.manifests[0] as PodSpec;
    expect(pod.namespace).toBe('prod');
    expect(pod.pinnedIP).toBe(0x0af4000a);
    expect(pod.labels).toEqual({ 'app.kubernetes.io/name': 'web', tier: '' });
    expect(pod.containers[0].ports).toEqual([
      { containerPort: 80, name: 'http', protocol: 'TCP' },
      { containerPort: 9000, protocol: 'SCTP' },
    ]);
    expect((pod.body?.status as { conditions: unknown[] }).conditions).toEqual([{ type: 'Ready', status: 'False' }]);
  });

  it('keeps other kinds as OtherManifest with a defaulted namespace', () => {
    const text = `name: t
${CLUSTER.replace('network: {plugin: bridge}', 'network: {plugin: bridge}\n  kubeProxy: {mode: iptables}')}manifests:
  - |
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{port: 80}]}
    ---
    apiVersion: v1
    kind: Namespace
    metadata: {name: prod}
    ---
    apiVersion: crd.projectcalico.org/v1
    kind: IPPool
    metadata: {name: pool}
    spec: {cidr: 10.244.0.0/16}
traffic:
  - {name: svc, from: node/node-1, to: service/default/web, protocol: tcp, port: 80}
`;
    const s = parseScenario(text, 's.yaml');
    expect(s.manifests.map((m) => [m.kind, m.namespace, m.name])).toEqual([
      ['Service', 'default', 'web'],
      ['Namespace', undefined, 'prod'],
      ['IPPool', undefined, 'pool'],
    ]);
    expect(s.manifests[0].pos).toEqual({ file: 's.yaml', line: 11, col: 5 });
    expect((s.manifests[0] as { body: Record<string, unknown> }).body.spec).toEqual({ selector: { app: 'web' }, ports: [{ port: 80 }] });
    expect(s.traffic[0].to).toEqual({ kind: 'service', namespace: 'default', name: 'web', text: 'service/default/web' });
  });
});

describe('{file: …} manifests', () => {
  it('loads a relative file and reports errors in it with its own path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podwire-load-'));
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'm', 'pods.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  nodeName: node-1\n  containers: [{name: web, image: nginx}]\n');
    writeFileSync(join(dir, 'm', 'bad.yaml'), '---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  nodeName: node-1\n  containers: [{name: web, image: nginx, ports: [{containerPort: 99999}]}]\n');
    const scen = join(dir, 's.yaml');
    writeFileSync(scen, `name: t\n${CLUSTER}manifests:\n  - {file: m/pods.yaml}\n`);
    const s = loadScenario(scen);
    expect(s.manifests[0]).toMatchObject({ kind: 'Pod', name: 'web', pos: { file: join(dir, 'm', 'pods.yaml'), line: 1, col: 1 } });
    writeFileSync(scen, `name: t\n${CLUSTER}manifests:\n  - file: m/bad.yaml\n`);
    expect(() => loadScenario(scen)).toThrowError(InputError);
    try {
      loadScenario(scen);
    } catch (e) {
      expect((e as InputError).format()).toBe(
        `${join(dir, 'm', 'bad.yaml')}:7:66: error: Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 99999: must be between 1 and 65535, inclusive (expected 1..65535)`,
      );
    }
  });
});

describe('inline scenario errors', () => {
  it('unknown key names the key, the closest allowed key and the allowed list', () => {
    expect(err(`name: t\n${CLUSTER}trafic: []\n`)).toBe(
      's.yaml:8:1: error: unknown key "trafic" at the top level; did you mean "traffic"? (expected one of name, seed, description, cluster, manifests, traffic, events)',
    );
    expect(err(`name: t\n${CLUSTER.replace('{plugin: bridge}', '{plugin: bridge, zzz: 1}')}`)).toBe(
      's.yaml:5:29: error: unknown key "zzz" in cluster.network (expected one of plugin, hairpinMode, mtu, conflist, backend, netConf, subnetManager, ipMasq, udpCrossingCost, ipPools, bgp)',
    );
  });
  it('wrong types and bad values', () => {
    expect(err(`name: t\nseed: "1"\n${CLUSTER}`)).toBe('s.yaml:2:7: error: seed must be an integer, got string "1" (expected an integer 0..4294967295)');
    expect(err(`name: t\n${CLUSTER.replace('  nodes:', '  mtu: 1500.5\n  nodes:')}`)).toBe(
      's.yaml:6:8: error: cluster.mtu must be an integer, got number 1500.5 (expected an integer 68..65535)',
    );
    expect(err(`name: t\ncluster: [1]\n`)).toMatch(/^s\.yaml:2:10: error: cluster must be a mapping, got a list \(expected a mapping with keys podCIDR, /);
    expect(err(`name: t\ncluster:\n`)).toBe('s.yaml:2:1: error: the top level is missing required key "cluster"');
  });
  it('cilium is not supported yet; calico options are refused on other plugins', () => {
    expect(err(`name: t\n${CLUSTER.replace('{plugin: bridge}', '{plugin: cilium}')}`)).toBe(
      's.yaml:5:21: error: network plugin "cilium" is not supported yet (expected bridge | flannel | calico)',
    );
    expect(err(`name: t\n${CLUSTER.replace('{plugin: bridge}', '{plugin: bridge, bgp: {asNumber: 1}}')}`)).toMatch(/network\.bgp does not apply to network plugin "bridge" \(expected plugin: calico for calico's options\)/);
  });
  it('durations, bandwidths and defaults', () => {
    const s = parseScenario(
      `name: t\nseed: 7\n${CLUSTER.replace('  nodes:', '  mtu: 9000\n  links: {vethDelay: 2us, nicDelay: 1ms, nicBandwidth: 100Mbit}\n  nodes:')}`,
      's.yaml',
    );
    expect(s.seed).toBe(7);
    expect(s.cluster.linkDelay).toEqual({ veth: 2000, nic: 1_000_000 });
    expect(s.cluster.nicBandwidth).toBe(100_000_000);
    expect(s.cluster.mtu).toBe(9000);
    expect(s.cluster.network.mtu).toBe(9000);
    const t = parseScenario(`name: t\n${CLUSTER.replace('  nodes:', '  links: {nicBandwidth: 1Gbit, nicDelay: "0"}\n  nodes:')}`, 's.yaml');
    expect(t.cluster.nicBandwidth).toBe(1_000_000_000);
    expect(t.cluster.linkDelay.nic).toBe(0);
    const u = parseScenario(`name: t\n${CLUSTER.replace('  nodes:', '  links: {nicBandwidth: 10kbit}\n  nodes:')}`, 's.yaml');
    expect(u.cluster.nicBandwidth).toBe(10_000);
  });
  it('external hosts, routes, ports and traffic from ip/ via a host', () => {
    const text = `name: t
${CLUSTER}  externalHosts:
    - name: client
      ip: 192.168.1.100/24
      routes: [{dst: 10.244.0.0/16, via: 192.168.1.11}, {dst: default, via: 192.168.1.1}]
      ports: [{port: 80, protocol: TCP}, {port: 53, protocol: UDP, name: dns}]
traffic:
  - {name: a, at: 0, from: ip/203.0.113.5, via: host/client, to: node/node-1, protocol: udp, port: 53, sourcePort: 4000, size: 0, count: 3, timeout: 500ms}
`;
    const s = parseScenario(text, 's.yaml');
    const h = s.cluster.externalHosts[0];
    expect(h.routes.map((r) => [r.dst.text, r.via])).toEqual([
      ['10.244.0.0/16', 0xc0a8010b],
      ['default', 0xc0a80101],
    ]);
    expect(h.ports).toEqual([
      { containerPort: 80, protocol: 'TCP' },
      { containerPort: 53, protocol: 'UDP', name: 'dns' },
    ]);
    expect(s.traffic[0]).toMatchObject({
      from: { kind: 'ip', addr: 0xcb007105 },
      via: { kind: 'host', name: 'client' },
      port: 53,
      sourcePort: 4000,
      size: 0,
      count: 3,
      timeout: 500_000_000,
    });
  });
  it('duplicates mention the first occurrence in another file by file:line:col', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podwire-dup-'));
    writeFileSync(join(dir, 'p.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {nodeName: node-1, containers: [{name: a, image: b}]}\n');
    const scen = join(dir, 's.yaml');
    writeFileSync(scen, `name: t\n${CLUSTER}manifests:\n  - {file: p.yaml}\n  - |\n    apiVersion: v1\n    kind: Pod\n    metadata: {name: web}\n    spec: {nodeName: node-1, containers: [{name: a, image: b}]}\n`);
    expect(() => loadScenario(scen)).toThrow(`duplicate pod "default/web" (first defined at ${join(dir, 'p.yaml')}:3:18)`);
  });
  it('a missing scenario file is an InputError', () => {
    expect(() => loadScenario('/nonexistent/x.yaml')).toThrowError(InputError);
    try {
      loadScenario('/nonexistent/x.yaml');
    } catch (e) {
      expect((e as InputError).format()).toBe('/nonexistent/x.yaml:1:1: error: cannot read scenario file (ENOENT)');
    }
  });
});

describe('robustness', () => {
  const good = readFileSync('scenarios/same-node-bridge.yaml', 'utf8');
  const onlyInputErrors = (text: string) => {
    try {
      parseScenario(text, 'g.yaml');
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      expect(e.line).toBeGreaterThanOrEqual(1);
      expect(e.col).toBeGreaterThanOrEqual(1);
      expect(e.format()).not.toContain('\n    at ');
    }
  };
  it('arbitrary strings never crash with anything but InputError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), onlyInputErrors), { numRuns: 500 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), onlyInputErrors), { numRuns: 300 });
  });
  it('YAML-ish token soup never crashes with anything but InputError', () => {
    const tok = fc.constantFrom(
      'name', 'cluster', 'nodes', 'manifests', 'traffic', 'events', 'podCIDR', ':', ' ', '  ', '\n', '- ', '|', '---', '{', '}', '[', ']',
      ',', '&a', '*a', '!!str', '"', "'", '#', '10.244.0.0/16', '1', '-1', '1e400', '.nan', 'null', 'true', 'kind: Pod', 'apiVersion: v1', '<<: *a',
    );
    fc.assert(fc.property(fc.array(tok, { maxLength: 60 }).map((a) => a.join('')), onlyInputErrors), { numRuns: 500 });
  });
  it('random edits of a good scenario never crash with anything but InputError', () => {
    const edit = fc.record({ at: fc.nat(good.length), del: fc.nat(8), ins: fc.string({ maxLength: 6 }) });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let t = good;
        for (const e of edits) {
          const i = Math.min(e.at, t.length);
          t = t.slice(0, i) + e.ins + t.slice(i + e.del);
        }
        onlyInputErrors(t);
      }),
      { numRuns: 500 },
    );
  });
});
