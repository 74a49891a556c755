import { describe, expect, it } from 'vitest';
import { admitService, ClusterIPAllocator, NodePortAllocator, type Rand } from '../../src/kube/allocator.js';
import { validateEndpoints, validateEndpointSlice } from '../../src/kube/endpoints.js';
import { EndpointsController } from '../../src/kube/endpoints-controller.js';
import { fieldErrorMessage } from '../../src/kube/errors.js';
import { validateService } from '../../src/kube/service.js';
import { ObjectStore } from '../../src/kube/store.js';

type O = Record<string, unknown>;
function lcg(seed: number): Rand {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

const pod = (name: string, ip: string | undefined, opts: { labels?: O; ready?: boolean; node?: string; ports?: O[]; spec?: O; status?: O; meta?: O } = {}): O => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: opts.labels ?? { app: 'web' }, ...opts.meta },
  spec: { nodeName: opts.node ?? 'node-1', containers: [{ name: 'c', image: 'nginx', ports: opts.ports ?? [{ name: 'http', containerPort: 8080 }] }], ...opts.spec },
  status: {
    ...(ip ? { podIP: ip } : {}),
    ...(opts.ready === undefined ? {} : { conditions: [{ type: 'Ready', status: opts.ready ? 'True' : 'False' }] }),
    ...opts.status,
  },
});

function setup(seed = 1) {
  const store = new ObjectStore();
  const allocs = { clusterIPs: new ClusterIPAllocator('10.96.0.0/12', lcg(seed)), nodePorts: new NodePortAllocator(lcg(seed + 1)) };
  const ctl = new EndpointsController(store, { rand: lcg(seed + 2) }).start();
  const addSvc = (spec: O, name = 'web', meta: O = {}) => {
    const v = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name, ...meta }, spec });
    expect(v.errors.errors.map(fieldErrorMessage)).toEqual([]);
    const a = admitService(v.value!, allocs);
    return store.create(a.value!.body);
  };
  const ep = (name = 'web') => validateEndpoints(store.get('Endpoints', 'default', name)!).value!;
  const slices = (name = 'web') =>
    store
      .list('EndpointSlice', 'default')
      .filter((s) => (s.metadata as { labels: O }).labels['kubernetes.io/service-name'] === name)
      .map((s) => {
        const r = validateEndpointSlice(s);
        expect(r.errors.errors.map(fieldErrorMessage)).toEqual([]);
        return r.value!;
      });
  return { store, ctl, addSvc, ep, slices };
}

describe('EndpointsController: selector services', () => {
  it('writes Endpoints and an EndpointSlice, with named targetPorts resolved per pod', () => {
    const { store, addSvc, ep, slices } = setup();
    store.create(pod('a', '10.244.0.10'));
    store.create(pod('b', '10.244.0.9', { ready: false, node: 'node-2' }));
    store.create(pod('c', undefined)); // no IP yet
    store.create(pod('d', '10.244.0.11', { labels: { app: 'other' } }));
    store.create(pod('e', '10.244.0.12', { ports: [{ name: 'metrics', containerPort: 9090 }] })); // lacks "http"
    addSvc({ selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }, 'web', { labels: { tier: 'front' } });
    const e = ep();
    expect(e.labels).toEqual({ tier: 'front', 'endpointslice.kubernetes.io/skip-mirror': 'true' });
    expect(e.subsets).toEqual([
      {
        addresses: [{ ip: '10.244.0.10', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: expect.any(String) } }],
        notReadyAddresses: [{ ip: '10.244.0.9', nodeName: 'node-2', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: expect.any(String) } }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
    const sl = slices();
    // Pod e offers none of the service's ports: upstream puts it in a slice with no ports.
    expect(sl.map((s) => s.ports)).toEqual([[{ name: 'http', port: 8080, protocol: 'TCP' }], []]);
    expect(sl[0].name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(sl[0].labels).toEqual({ tier: 'front', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    expect(sl[0].endpoints.map((x) => [x.addresses[0], x.ready, x.serving, x.terminating, x.nodeName, x.targetRef?.name])).toEqual([
      ['10.244.0.10', true, true, false, 'node-1', 'a'],
      ['10.244.0.9', false, false, false, 'node-2', 'b'],
    ]);
    const owner = (store.get('EndpointSlice', 'default', sl[0].name)!.metadata as { ownerReferences: O[] }).ownerReferences;
    expect(owner).toEqual([{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: expect.any(String), controller: true, blockOwnerDeletion: true }]);
  });

  it('reacts synchronously to readiness changes, new pods and deletions, without needless writes', () => {
    const { store, addSvc, ep, slices } = setup();
    addSvc({ selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
    expect(ep().subsets).toEqual([]);
    // Nothing to list: one placeholder slice.
    expect(slices().map((s) => [s.endpoints.length, s.ports.length])).toEqual([[0, 0]]);
    const a = store.create(pod('a', '10.244.0.10', { ready: false }));
    expect(ep().subsets[0].notReadyAddresses.map((x) => x.ip)).toEqual(['10.244.0.10']);
    const name = slices()[0].name;
    expect(slices().map((s) => s.endpoints.map((x) => x.ready))).toEqual([[false]]);
    const rv = store.resourceVersion;
    store.update({ ...a, metadata: { ...(a.metadata as O), annotations: { x: 'y' } } });
    expect(Number(store.resourceVersion)).toBe(Number(rv) + 1); // only the pod changed
    const a2 = store.get('Pod', 'default', 'a')!;
    store.update({ ...a2, status: { podIP: '10.244.0.10', conditions: [{ type: 'Ready', status: 'True' }] } });
    expect(ep().subsets[0].addresses.map((x) => x.ip)).toEqual(['10.244.0.10']);
    expect(slices().map((s) => [s.name, s.endpoints.map((x) => x.ready)])).toEqual([[name, [true]]]);
    store.delete('Pod', 'default', 'a');
    expect(ep().subsets).toEqual([]);
    expect(slices().map((s) => s.endpoints.length)).toEqual([0]);
  });

  it('terminating pods: kept in slices (serving, not ready) but not in Endpoints; terminal pods left out', () => {
    const { store, addSvc, ep, slices } = setup();
    store.create(pod('t', '10.244.0.5', { meta: { deletionTimestamp: '2024-01-01T00:00:00Z' } }));
    store.create(pod('f', '10.244.0.6', { status: { phase: 'Failed' } }));
    addSvc({ selector: { app: 'web' }, ports: [{ port: 80 }] });
    expect(ep().subsets).toEqual([]);
    expect(slices()[0].endpoints.map((x) => [x.addresses[0], x.ready, x.serving, x.terminating])).toEqual([['10.244.0.5', false, true, true]]);
  });

  it('publishNotReadyAddresses makes every endpoint ready, terminating ones included', () => {
    const { store, addSvc, ep, slices } = setup();
    store.create(pod('a', '10.244.0.5', { ready: false }));
    store.create(pod('t', '10.244.0.6', { meta: { deletionTimestamp: 'x' } }));
    addSvc({ selector: { app: 'web' }, publishNotReadyAddresses: true, ports: [{ port: 80 }] });
    expect(ep().subsets[0].addresses.map((x) => x.ip)).toEqual(['10.244.0.5', '10.244.0.6']);
    expect(slices()[0].endpoints.map((x) => [x.ready, x.serving, x.terminating])).toEqual([
      [true, false, false],
      [true, true, true],
    ]);
  });

  it('repacks: one subset per set of addresses sharing ports; addresses sort as IP text', () => {
    const { store, addSvc, ep } = setup();
    store.create(pod('a', '10.244.0.10', { ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }));
    store.create(pod('b', '10.244.0.9', { ports: [{ name: 'http', containerPort: 8080 }] }));
    store.create(pod('c', '10.244.0.100', { ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }));
    addSvc({
      selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, targetPort: 'http' },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
      ],
    });
    expect(ep().subsets.map((s) => [s.addresses.map((x) => x.ip), s.ports.map((p) => `${p.name}:${p.port}/${p.protocol}`)])).toEqual([
      // Each subset is one set of addresses with every port they all offer.
      [['10.244.0.10', '10.244.0.100'], ['dns:53/UDP']],
      [['10.244.0.10', '10.244.0.100', '10.244.0.9'], ['http:8080/TCP']],
    ]);
  });

  it('headless services: addresses without ports, the headless label, hostnames for pods in the subdomain', () => {
    const { store, addSvc, ep, slices } = setup();
    store.create(pod('a', '10.244.0.5', { spec: { hostname: 'db-0', subdomain: 'db' } }));
    addSvc({ clusterIP: 'None', selector: { app: 'web' } }, 'db');
    const e = ep('db');
    expect(e.labels['service.kubernetes.io/headless']).toBe('');
    expect(e.subsets).toEqual([{ addresses: [expect.objectContaining({ ip: '10.244.0.5', hostname: 'db-0' })], notReadyAddresses: [], ports: [] }]);
    expect(slices('db')[0].endpoints[0].hostname).toBe('db-0');
    expect(slices('db')[0].labels['service.kubernetes.io/headless']).toBe('');
  });

  it('splits at 100 endpoints per slice and names slices from the injected rand only', () => {
    const run = () => {
      const { store, addSvc, slices } = setup(5);
      for (let i = 0; i < 230; i++) store.create(pod(`p${i}`, `10.244.${i >> 8}.${(i & 255) + 1}`));
      addSvc({ selector: { app: 'web' }, ports: [{ port: 80 }] });
      return slices().map((s) => [s.name, s.endpoints.length]);
    };
    const a = run();
    expect(a.map((x) => x[1])).toEqual([100, 100, 30]);
    expect(run()).toEqual(a);
  });

  it('a slice emptied and refilled in one sync keeps its name; deleting the Service removes its Endpoints and slices', () => {
    const { store, addSvc, slices } = setup();
    store.create(pod('a', '10.244.0.5'));
    addSvc({ selector: { app: 'web' }, ports: [{ port: 80 }] });
    const name = slices()[0].name;
    const a = store.get('Pod', 'default', 'a')!;
    store.update({ ...a, status: { podIP: '10.244.0.6' } }); // a new address: the old endpoint goes, the slice is reused
    expect(slices().map((s) => [s.name, s.endpoints.map((x) => x.addresses[0])])).toEqual([[name, ['10.244.0.6']]]);
    store.delete('Service', 'default', 'web');
    expect(store.get('Endpoints', 'default', 'web')).toBeUndefined();
    expect(store.list('EndpointSlice')).toEqual([]);
  });

  it('a Pod readiness flip reaches a later watcher of EndpointSlices within the same store call', () => {
    const { store, addSvc } = setup();
    const a = store.create(pod('a', '10.244.0.5', { ready: true }));
    addSvc({ selector: { app: 'web' }, ports: [{ port: 80 }] });
    const seen: boolean[] = [];
    store.watch('EndpointSlice', (e) => {
      if (e.type === 'MODIFIED') seen.push(validateEndpointSlice(e.object).value!.endpoints[0].ready);
    });
    store.update({ ...a, status: { podIP: '10.244.0.5', conditions: [{ type: 'Ready', status: 'False' }] } });
    expect(seen).toEqual([false]);
  });
});

describe('EndpointsController: selector-less services (mirroring)', () => {
  it('mirrors user Endpoints into slices and follows their changes', () => {
    const { store, addSvc, slices } = setup();
    addSvc({ ports: [{ name: 'pg', port: 5432 }] }, 'db');
    expect(slices('db')).toEqual([]);
    const e = store.create({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'db', labels: { team: 'data' } },
      subsets: [{ addresses: [{ ip: '192.168.1.20' }], notReadyAddresses: [{ ip: '192.168.1.21', nodeName: 'node-1' }], ports: [{ name: 'pg', port: 5432 }] }],
    });
    let sl = slices('db');
    expect(sl).toHaveLength(1);
    expect(sl[0].labels).toEqual({ team: 'data', 'kubernetes.io/service-name': 'db', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' });
    expect(sl[0].ports).toEqual([{ name: 'pg', port: 5432, protocol: 'TCP' }]);
    expect(sl[0].endpoints.map((x) => [x.addresses[0], x.ready, x.nodeName])).toEqual([
      ['192.168.1.20', true, undefined],
      ['192.168.1.21', false, 'node-1'],
    ]);
    const owner = (store.get('EndpointSlice', 'default', sl[0].name)!.metadata as { ownerReferences: O[] }).ownerReferences[0];
    expect(owner).toMatchObject({ kind: 'Endpoints', name: 'db' });
    store.update({ ...e, subsets: [{ addresses: [{ ip: '192.168.1.22' }], ports: [{ name: 'pg', port: 5432 }] }] });
    sl = slices('db');
    expect(sl.map((s) => s.endpoints.map((x) => x.addresses[0]))).toEqual([['192.168.1.22']]);
    store.delete('Endpoints', 'default', 'db');
    expect(slices('db')).toEqual([]);
  });
  it('does not mirror Endpoints marked skip-mirror, nor those of selector services', () => {
    const { store, addSvc, slices } = setup();
    addSvc({ ports: [{ port: 80 }] }, 'x');
    store.create({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'x', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
      subsets: [{ addresses: [{ ip: '192.168.1.20' }], ports: [{ port: 80 }] }],
    });
    expect(slices('x')).toEqual([]);
  });
  it('syncs Services that exist before start()', () => {
    const store = new ObjectStore();
    const v = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } }).value!;
    store.create(pod('a', '10.244.0.5'));
    store.create(v.body);
    const ctl = new EndpointsController(store, { rand: lcg(1) }).start();
    expect(store.get('Endpoints', 'default', 'web')).toBeDefined();
    ctl.stop();
    store.create(pod('b', '10.244.0.6'));
    expect(validateEndpoints(store.get('Endpoints', 'default', 'web')!).value!.subsets[0].addresses).toHaveLength(1);
  });
});
