import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { frozenCopy, ObjectStore, StoreError, type WatchEvent } from '../../src/kube/store.js';

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

describe('frozenCopy (the store\'s copy of what it is given)', () => {
  const isDeepFrozen = (v: unknown): boolean =>
    typeof v !== 'object' || v === null || (Object.isFrozen(v) && Object.values(v).every(isDeepFrozen));
  /** No object of the copy is an unfrozen object of the input (frozen parts may be shared). */
  const sharesOnlyFrozen = (a: unknown, b: unknown): boolean => {
    if (typeof a !== 'object' || a === null) return true;
    if (a === b) return Object.isFrozen(a);
    return Object.keys(a).every((k) => sharesOnlyFrozen((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  };

  it('equals structuredClone (values and key order), deep-frozen, sharing only frozen parts', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.boolean(), (v, freezeSome) => {
      if (freezeSome && typeof v === 'object' && v !== null) for (const x of Object.values(v)) if (typeof x === 'object' && x !== null) deepFreezeForTest(x);
      const c = frozenCopy(v);
      expect(JSON.stringify(c)).toBe(JSON.stringify(structuredClone(v)));
      expect(c).toStrictEqual(structuredClone(v));
      expect(isDeepFrozen(c)).toBe(true);
      expect(sharesOnlyFrozen(c, v)).toBe(true);
    }));
  });

  it('keeps undefined-valued keys and copies class instances as structuredClone does', () => {
    class P { x = 1; }
    const c = frozenCopy({ a: undefined, p: new P(), d: new Date(0) }) as Record<string, unknown>;
    expect(Object.keys(c)).toEqual(['a', 'p', 'd']);
    expect(Object.getPrototypeOf(c.p)).toBe(Object.prototype);
    expect(c.d).toBeInstanceOf(Date);
    expect(Object.isFrozen(c.p)).toBe(true);
    expect(() => frozenCopy({ f: () => 1 })).toThrow();
  });
});

function deepFreezeForTest(v: object): void {
  Object.freeze(v);
  for (const x of Object.values(v)) if (typeof x === 'object' && x !== null) deepFreezeForTest(x);
}
