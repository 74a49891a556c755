import { describe, expect, it } from 'vitest';
import { validateEndpoints, validateEndpointSlice } from '../../src/kube/endpoints.js';
import { fieldErrorMessage } from '../../src/kube/errors.js';

type O = Record<string, unknown>;
const eps = (subsets: unknown, meta: O = { name: 'ext' }): O => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: meta, subsets });
const slice = (o: O): O => ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'ext-1', labels: { 'kubernetes.io/service-name': 'ext' } }, addressType: 'IPv4', ...o });
const m1 = (o: O) => validateEndpoints(o).errors.errors.map(fieldErrorMessage);
const m2 = (o: O) => validateEndpointSlice(o).errors.errors.map(fieldErrorMessage);

describe('validateEndpoints', () => {
  it('accepts and defaults port protocol', () => {
    const r = validateEndpoints(
      eps([{ addresses: [{ ip: '192.168.1.20', hostname: 'db', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'p', namespace: 'default', uid: 'u' } }], ports: [{ port: 5432 }] }]),
    );
    expect(r.errors.errors).toEqual([]);
    expect(r.value!.subsets).toEqual([
      {
        addresses: [{ ip: '192.168.1.20', hostname: 'db', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'p', namespace: 'default', uid: 'u' } }],
        notReadyAddresses: [],
        ports: [{ name: '', port: 5432, protocol: 'TCP' }],
      },
    ]);
  });
  it('reports errors as the apiserver does', () => {
    expect(m1(eps([{ ports: [{ port: 80 }] }]))).toEqual(['subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`']);
    expect(m1(eps([{ addresses: [{ ip: '127.0.0.1' }] }]))).toEqual(['subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']);
    expect(m1(eps([{ addresses: [{ ip: 'fd00::1' }] }]))).toEqual(['subsets[0].addresses[0].ip: Invalid value: "fd00::1": IPv6 is not supported by podwire (IPv4 single-stack only)']);
    expect(m1(eps([{ addresses: [{}] }]))).toEqual(['subsets[0].addresses[0].ip: Required value']);
    expect(m1(eps([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 1 }, { name: 'b', port: 2 }] }]))).toEqual(['subsets[0].ports[0].name: Required value']);
    expect(m1(eps([{ addresses: [{ ip: '10.0.0.1', hostname: 'A' }], ports: [{ port: 1, protocol: 'ICMP' }] }]))).toEqual([
      expect.stringMatching(/^subsets\[0\]\.addresses\[0\]\.hostname: Invalid value: "A": a lowercase RFC 1123 label/),
      'subsets[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
    ]);
    expect(m1(eps([{ adresses: [] }]))).toEqual(['unknown field "subsets[0].adresses"; did you mean "addresses"?', 'subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`']);
  });
});

describe('validateEndpointSlice', () => {
  it('accepts, resolving absent conditions as consumers do', () => {
    const r = validateEndpointSlice(
      slice({
        endpoints: [{ addresses: ['10.244.0.5'] }, { addresses: ['10.244.0.6'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-1', zone: 'a' }],
        ports: [{ name: 'http', port: 8080 }],
      }),
    );
    expect(r.errors.errors).toEqual([]);
    expect(r.value).toMatchObject({
      serviceName: 'ext',
      endpoints: [
        { addresses: ['10.244.0.5'], ready: true, serving: true, terminating: false },
        { addresses: ['10.244.0.6'], ready: false, serving: true, terminating: true, nodeName: 'node-1', zone: 'a' },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  });
  it('reports errors', () => {
    expect(m2(slice({ addressType: 'FQDN' }))).toEqual(['addressType: Invalid value: "FQDN": FQDN endpoints are not supported by podwire (IPv4 only)']);
    expect(m2(slice({ addressType: 'ipv4' }))[0]).toMatch(/^addressType: Unsupported value: "ipv4"/);
    expect(m2(slice({ addressType: undefined }))).toEqual(['addressType: Required value']);
    expect(m2(slice({ endpoints: [{ addresses: [] }] }))).toEqual(['endpoints[0].addresses: Required value: must contain at least 1 address']);
    expect(m2(slice({ endpoints: [{ addresses: ['10.0.0'] }] }))).toEqual(['endpoints[0].addresses[0]: Invalid value: "10.0.0": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']);
    expect(m2(slice({ endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: 'yes' } }] }))).toEqual(['endpoints[0].conditions.ready: Invalid value: "yes": must be a boolean, not a string']);
    expect(m2(slice({ ports: [{ name: 'a', port: 1 }, { name: 'a', port: 2 }] }))).toEqual(['ports[1].name: Duplicate value: "a"']);
    expect(m2(slice({ ports: [{ port: 70000 }] }))).toEqual(['ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive']);
    expect(m2(slice({ endpoints: [{ addresses: ['10.0.0.1'], nodename: 'x' }] }))).toEqual(['unknown field "endpoints[0].nodename"; did you mean "nodeName"?']);
  });
});
