import { describe, expect, it } from 'vitest';
import { ObjectStore, StoreError, type WatchEvent } from '../../src/kube/store.js';

const pod = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, ...extra }, spec: {} });

describe('ObjectStore', () => {
  it('creates, gets, lists, updates and deletes with resourceVersions and uids', () => {
    const s = new ObjectStore();
    const a = s.create(pod('a'));
    expect(a.metadata).toMatchObject({ name: 'a', namespace: 'default', resourceVersion: '1', uid: '00000000-0000-4000-8000-000000000001' });
    s.create(pod('b', { namespace: 'prod' }));
    s.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', namespace: 'ignored' } });
    expect(s.get('Namespace', undefined, 'prod')?.metadata).not.toHaveProperty('namespace');
    expect(s.get('Pod', undefined, 'a')).toBe(a);
    expect(s.list('Pod').map((o) => (o.metadata as { name: string }).name)).toEqual(['a', 'b']);
    expect(s.list('Pod', 'prod')).toHaveLength(1);
    expect(() => s.create(pod('a'))).toThrow(StoreError);
    const a2 = s.update({ ...a, spec: { nodeName: 'n' } });
    expect(a2.metadata).toMatchObject({ resourceVersion: '4', uid: (a.metadata as { uid: string }).uid });
    expect(() => s.update({ ...a })).toThrow(/has been modified/); // stale resourceVersion
    expect(() => s.update(pod('zzz'))).toThrow(/not found/);
    expect(s.delete('Pod', 'default', 'a')).toBe(a2);
    expect(s.delete('Pod', 'default', 'a')).toBeUndefined();
    expect(s.resourceVersion).toBe('5');
  });
  it('hands out frozen copies', () => {
    const s = new ObjectStore();
    const given = pod('a');
    const o = s.create(given);
    expect(o).not.toBe(given);
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.metadata)).toBe(true);
    expect(() => {
      (o.spec as Record<string, unknown>).x = 1;
    }).toThrow();
  });
  it('keeps opaque kinds, namespaced only when they say so', () => {
    const s = new ObjectStore();
    s.create({ apiVersion: 'crd.projectcalico.org/v1', kind: 'IPPool', metadata: { name: 'p' } });
    expect(s.get('IPPool', undefined, 'p')).toBeDefined();
    expect(() => s.create({ kind: 'X', metadata: {} })).toThrow(/needs kind and metadata.name/);
  });
  it('calls watchers synchronously in registration order; nested writes are delivered after the current event', () => {
    const s = new ObjectStore();
    const log: string[] = [];
    const name = (e: WatchEvent) => `${e.type} ${String(e.object.kind)}/${String((e.object.metadata as { name: string }).name)}`;
    s.watch('Pod', (e) => {
      log.push(`1: ${name(e)}`);
      if (e.type === 'ADDED') s.create({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'e' } });
    });
    s.watch('Pod', (e) => log.push(`2: ${name(e)}${e.old ? ' (had old)' : ''}`));
    const stop = s.watch('Endpoints', (e) => log.push(`3: ${name(e)}`));
    s.create(pod('a'));
    expect(log).toEqual(['1: ADDED Pod/a', '2: ADDED Pod/a', '3: ADDED Endpoints/e']);
    log.length = 0;
    stop();
    s.update(pod('a'));
    s.delete('Pod', 'default', 'a');
    expect(log).toEqual(['1: MODIFIED Pod/a', '2: MODIFIED Pod/a (had old)', '1: DELETED Pod/a', '2: DELETED Pod/a (had old)']);
  });
});
