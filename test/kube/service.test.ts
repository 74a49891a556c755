import { describe, expect, it } from 'vitest';
import { fieldErrorMessage } from '../../src/kube/errors.js';
import { validateNamespace } from '../../src/kube/namespace.js';
import { serviceObject, validateService } from '../../src/kube/service.js';

type O = Record<string, unknown>;
const svc = (spec: O = {}, meta: O = { name: 'web' }, extra: O = {}): O => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta,
  spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec },
  ...extra,
});
const msgs = (o: O) => validateService(o).errors.errors.map(fieldErrorMessage);
const ok = (o: O) => {
  const r = validateService(o);
  expect(r.errors.errors.map(fieldErrorMessage)).toEqual([]);
  return r.value!;
};

describe('validateService: defaults', () => {
  it('defaults a minimal ClusterIP service as v1 defaulting does', () => {
    const v = ok(svc());
    expect(v).toMatchObject({
      name: 'web',
      namespace: 'default',
      type: 'ClusterIP',
      selector: { app: 'web' },
      clusterIP: '',
      clusterIPs: [],
      headless: false,
      ipFamilyPolicy: 'SingleStack',
      ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 80 }],
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      publishNotReadyAddresses: false,
      externalIPs: [],
      loadBalancerIPs: [],
    });
    expect(v.externalTrafficPolicy).toBeUndefined();
    expect(v.sessionAffinityTimeoutSeconds).toBeUndefined();
    expect(v.allocateLoadBalancerNodePorts).toBeUndefined();
  });
  it('defaults NodePort/LoadBalancer policies, ClientIP timeout and allocateLoadBalancerNodePorts', () => {
    expect(ok(svc({ type: 'NodePort' })).externalTrafficPolicy).toBe('Cluster');
    const lb = ok(svc({ type: 'LoadBalancer', sessionAffinity: 'ClientIP' }));
    expect(lb).toMatchObject({ externalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true, sessionAffinityTimeoutSeconds: 10800 });
    // ClusterIP with externalIPs is externally accessible too (newest defaulting).
    expect(ok(svc({ externalIPs: ['192.168.1.100'] })).externalTrafficPolicy).toBe('Cluster');
    expect(ok(svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })).sessionAffinityTimeoutSeconds).toBe(60);
  });
  it('keeps targetPort names, syncs clusterIP and clusterIPs, recognises headless', () => {
    const v = ok(svc({ clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' }] }));
    expect(v.clusterIPs).toEqual(['10.96.0.10']);
    expect(v.ports[0]).toEqual({ name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' });
    expect(ok(svc({ clusterIPs: ['10.96.0.11'] })).clusterIP).toBe('10.96.0.11');
    const h = ok(svc({ clusterIP: 'None', ports: [] }));
    expect(h.headless).toBe(true);
    expect(msgs(svc({ clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.11'] }))).toEqual([
      'spec.clusterIPs: Invalid value: "10.96.0.11": first value must match `clusterIP`',
    ]);
  });
  it('treats an empty selector as none (selector-less)', () => {
    expect(ok(svc({ selector: {} })).selector).toBeUndefined();
    expect(ok(svc({ selector: undefined })).selector).toBeUndefined();
  });
  it('ExternalName needs a DNS name and no clusterIP; ports optional', () => {
    expect(ok(svc({ type: 'ExternalName', externalName: 'db.example.com.', ports: [] }))).toMatchObject({ type: 'ExternalName', clusterIP: '', externalName: 'db.example.com.' });
    expect(msgs(svc({ type: 'ExternalName', ports: [] }))).toEqual(['spec.externalName: Required value']);
    expect(msgs(svc({ type: 'ExternalName', externalName: 'db', clusterIP: '10.96.0.5' }))).toEqual(['spec.clusterIP: Forbidden: may not be set for ExternalName services']);
    expect(msgs(svc({ type: 'ExternalName', externalName: 'DB_host' }))[0]).toMatch(/^spec\.externalName: Invalid value: "DB_host": a lowercase RFC 1123 subdomain/);
  });
  it('serviceObject writes defaults in and keeps unmodelled fields', () => {
    const v = ok(svc({ type: 'LoadBalancer', loadBalancerClass: 'example.com/lb' }, { name: 'web', labels: { a: 'b' } }, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } }));
    expect(v.loadBalancerIPs).toEqual(['203.0.113.7']);
    const o = serviceObject(v);
    expect(o.spec).toMatchObject({
      type: 'LoadBalancer',
      sessionAffinity: 'None',
      loadBalancerClass: 'example.com/lb',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      externalTrafficPolicy: 'Cluster',
      internalTrafficPolicy: 'Cluster',
      allocateLoadBalancerNodePorts: true,
    });
    expect(o.status).toEqual({ loadBalancer: { ingress: [{ ip: '203.0.113.7', ipMode: 'VIP' }] } });
    expect(o.metadata).toEqual({ name: 'web', namespace: 'default', labels: { a: 'b' } });
    expect(validateService(o).errors.errors).toEqual([]);
  });
});

describe('validateService: errors', () => {
  const cases: [string, O, string][] = [
    ['unknown spec field', svc({ selecter: {} }), 'unknown field "spec.selecter"; did you mean "selector"?'],
    ['unknown port field', svc({ ports: [{ port: 80, targetport: 8080 }] }), 'unknown field "spec.ports[0].targetport"; did you mean "targetPort"?'],
    ['name is a DNS-1035 label', svc({}, { name: '9lives' }), 'metadata.name: Invalid value: "9lives": a DNS-1035 label'],
    ['ports required', svc({ ports: [] }), 'spec.ports: Required value'],
    ['type', svc({ type: 'Nodeport' }), 'spec.type: Unsupported value: "Nodeport"'],
    ['names with >1 port', svc({ ports: [{ port: 80 }, { name: 'b', port: 81 }] }), 'spec.ports[0].name: Required value'],
    ['duplicate names', svc({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }), 'spec.ports[1].name: Duplicate value: "a"'],
    ['port name is a DNS label', svc({ ports: [{ name: 'Http', port: 80 }] }), 'spec.ports[0].name: Invalid value: "Http": a lowercase RFC 1123 label'],
    ['port range', svc({ ports: [{ port: 0 }] }), 'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive'],
    ['port type', svc({ ports: [{ port: '80' }] }), 'spec.ports[0].port: Invalid value: "80": must be an integer, not a string'],
    ['duplicate port+protocol', svc({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80, protocol: 'TCP' }] }), 'spec.ports[1]: Duplicate value: "80/TCP"'],
    ['protocol', svc({ ports: [{ port: 80, protocol: 'HTTP' }] }), 'spec.ports[0].protocol: Unsupported value: "HTTP"'],
    ['targetPort number', svc({ ports: [{ port: 80, targetPort: 70000 }] }), 'spec.ports[0].targetPort: Invalid value: 70000'],
    ['targetPort name', svc({ ports: [{ port: 80, targetPort: '8080' }] }), 'spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z)'],
    ['appProtocol', svc({ ports: [{ port: 80, appProtocol: 'a b' }] }), 'spec.ports[0].appProtocol: Invalid value: "a b"'],
    ['nodePort on ClusterIP', svc({ ports: [{ port: 80, nodePort: 30080 }] }), "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
    ['nodePort range', svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }), 'spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767'],
    [
      'duplicate nodePort',
      svc({ type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81, nodePort: 30080 }] }),
      'spec.ports[1].nodePort: Duplicate value: 30080',
    ],
    ['headless NodePort', svc({ type: 'NodePort', clusterIP: 'None' }), "spec.clusterIP: Invalid value: \"None\": may not be set to 'None' for NodePort services"],
    ['headless LB', svc({ type: 'LoadBalancer', clusterIPs: ['None'] }), "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"],
    ['clusterIP syntax', svc({ clusterIP: '10.96.0' }), 'spec.clusterIP: Invalid value: "10.96.0": must be a valid IP address'],
    ['clusterIP leading zero', svc({ clusterIP: '10.96.0.010' }), 'spec.clusterIP: Invalid value: "10.96.0.010": must not have leading zeros'],
    ['clusterIP IPv6', svc({ clusterIP: '2001:db8::1' }), 'spec.clusterIP: Invalid value: "2001:db8::1": IPv6 is not supported by podwire'],
    ['two clusterIPs', svc({ clusterIPs: ['10.96.0.1', '10.96.0.2'] }), 'spec.clusterIPs: Invalid value: "10.96.0.1,10.96.0.2": may specify no more than one IP for each IP family'],
    ['ipFamilies IPv6', svc({ ipFamilies: ['IPv6'] }), 'spec.ipFamilies[0]: Invalid value: "IPv6": IPv6 is not supported by podwire'],
    ['ipFamilies bad', svc({ ipFamilies: ['ipv4'] }), 'spec.ipFamilies[0]: Unsupported value: "ipv4"'],
    ['RequireDualStack', svc({ ipFamilyPolicy: 'RequireDualStack' }), 'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services'],
    ['externalIP', svc({ externalIPs: ['0.0.0.0'] }), 'spec.externalIPs[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'],
    ['externalIP link-local', svc({ externalIPs: ['169.254.169.254'] }), 'spec.externalIPs[0]: Invalid value: "169.254.169.254": may not be in the link-local range'],
    ['externalIP multicast', svc({ externalIPs: ['224.0.0.5'] }), 'spec.externalIPs[0]: Invalid value: "224.0.0.5": may not be in the link-local multicast range'],
    ['affinity', svc({ sessionAffinity: 'Sticky' }), 'spec.sessionAffinity: Unsupported value: "Sticky"'],
    ['affinity timeout', svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }), 'spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400'],
    ['eTP on ClusterIP', svc({ externalTrafficPolicy: 'Local' }), 'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'],
    ['eTP value', svc({ type: 'NodePort', externalTrafficPolicy: 'local' }), 'spec.externalTrafficPolicy: Unsupported value: "local"'],
    ['iTP value', svc({ internalTrafficPolicy: 'Node' }), 'spec.internalTrafficPolicy: Unsupported value: "Node"'],
    ['healthCheckNodePort on NodePort', svc({ type: 'NodePort', healthCheckNodePort: 30500 }), "spec.healthCheckNodePort: Invalid value: 30500: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"],
    ['source ranges not LB', svc({ loadBalancerSourceRanges: ['10.0.0.0/8'] }), "spec.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"],
    ['source range', svc({ type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0'] }), 'spec.loadBalancerSourceRanges[0]: Invalid value: "10.0.0.0": must be a valid CIDR value'],
    ['allocateLoadBalancerNodePorts', svc({ allocateLoadBalancerNodePorts: false }), "spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'"],
    ['selector', svc({ selector: { 'a/b/c': 'x' } }), 'spec.selector["a/b/c"]: Invalid value: "a/b/c"'],
    ['ingress only on LB', svc({}, { name: 'web' }, { status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } }), "status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"],
    ['ingress ip', svc({ type: 'LoadBalancer' }, { name: 'web' }, { status: { loadBalancer: { ingress: [{ ip: 'lb' }] } } }), 'status.loadBalancer.ingress[0].ip: Invalid value: "lb": must be a valid IP address'],
    ['trafficDistribution', svc({ trafficDistribution: 'Nearest' }), 'spec.trafficDistribution: Unsupported value: "Nearest"'],
  ];
  for (const [what, o, want] of cases) {
    it(what, () => {
      const m = msgs(o);
      expect(m.some((x) => x.startsWith(want)), `${JSON.stringify(m)} has ${want}`).toBe(true);
    });
  }
  it('headless services may omit ports; LB+Local may omit healthCheckNodePort (the allocator gives one)', () => {
    expect(msgs(svc({ clusterIP: 'None', ports: [] }))).toEqual([]);
    expect(msgs(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local' }))).toEqual([]);
    expect(ok(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30500 })).healthCheckNodePort).toBe(30500);
  });
  it('accepts every real ServiceSpec field', () => {
    const v = ok(
      svc({
        type: 'LoadBalancer',
        clusterIP: '10.96.0.20',
        clusterIPs: ['10.96.0.20'],
        externalIPs: ['192.168.1.50'],
        externalName: 'ignored.example.com',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 30100,
        internalTrafficPolicy: 'Local',
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'PreferDualStack',
        loadBalancerClass: 'example.com/x',
        loadBalancerIP: '203.0.113.9',
        loadBalancerSourceRanges: [' 10.0.0.0/8 '],
        allocateLoadBalancerNodePorts: false,
        publishNotReadyAddresses: true,
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } },
        trafficDistribution: 'PreferClose',
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c', nodePort: 30080 }],
      }),
    );
    expect(v).toMatchObject({ ipFamilyPolicy: 'PreferDualStack', loadBalancerSourceRanges: ['10.0.0.0/8'], allocateLoadBalancerNodePorts: false, publishNotReadyAddresses: true });
  });
});

describe('validateNamespace', () => {
  it('accepts and adds the metadata.name label', () => {
    const r = validateNamespace({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', labels: { team: 'a' } } });
    expect(r.value).toMatchObject({ name: 'prod', labels: { team: 'a', 'kubernetes.io/metadata.name': 'prod' } });
  });
  it('needs an RFC 1123 label and standard or qualified finalizers', () => {
    const m = (o: O) => validateNamespace({ apiVersion: 'v1', kind: 'Namespace', ...o }).errors.errors.map(fieldErrorMessage);
    expect(m({ metadata: { name: 'a.b' } })[0]).toMatch(/^metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label/);
    expect(m({ metadata: { name: 'a' }, spec: { finalizers: ['foo'] } })).toEqual([
      'spec.finalizers[0]: Invalid value: "foo": name is neither a standard finalizer name nor is it fully qualified',
    ]);
    expect(m({ metadata: { name: 'a' }, spec: { finalizers: ['kubernetes', 'example.com/x'] }, status: { phase: 'Active' } })).toEqual([]);
    expect(m({ metadata: { name: 'a' }, status: { phase: 'Gone' } })[0]).toMatch(/^status.phase: Unsupported value: "Gone"/);
    expect(m({ metadata: { name: 'a' }, spek: {} })).toEqual(['unknown field "spek"; did you mean "spec"?']);
  });
});
