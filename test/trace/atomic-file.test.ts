import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AtomicFile, abortAllOpen, commitAllOpen, openFiles } from '../../src/trace/atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-atomic-'));
});
afterEach(() => {
  abortAllOpen();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('AtomicFile', () => {
  it('writes to <path>.tmp-<pid>; final file absent until commit; no temp left after', () => {
    const p = path.join(dir, 'x.bin');
    const f = new AtomicFile(p, { bufferSize: 64 });
    expect(f.tmpPath).toBe(`${p}.tmp-${process.pid}`);
    f.write(Uint8Array.from([1, 2, 3]));
    expect(fs.existsSync(p)).toBe(false);
    expect(fs.existsSync(f.tmpPath)).toBe(true);
    expect(f.commit()).toBe(p);
    expect(fs.readdirSync(dir)).toEqual(['x.bin']);
    expect([...fs.readFileSync(p)]).toEqual([1, 2, 3]);
    expect(f.commit()).toBe(p); // idempotent
    expect(() => f.write(new Uint8Array(1))).toThrow();
  });

  it('abort deletes the temp file and never creates the final file', () => {
    const p = path.join(dir, 'y.bin');
    const f = new AtomicFile(p);
    f.write(new Uint8Array(100_000)); // bigger than the buffer: reaches disk
    f.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(f.state).toBe('aborted');
    expect(() => f.commit()).toThrow();
  });

  it('buffering: small, straddling, oversized writes, reserve/advance and utf8 keep order', () => {
    const p = path.join(dir, 'z.bin');
    const f = new AtomicFile(p, { bufferSize: 64, fsync: true });
    const expected: number[] = [];
    for (let i = 0; i < 50; i++) {
      const chunk = Uint8Array.from({ length: (i * 7) % 150 }, (_, j) => (i + j) & 0xff);
      f.write(chunk);
      expected.push(...chunk);
      const at = f.reserve(4);
      f.view.setUint32(at, i, true);
      f.advance(4);
      expected.push(i, 0, 0, 0);
      f.writeUtf8('ü', 2);
      expected.push(0xc3, 0xbc);
      f.zeros(3);
      expected.push(0, 0, 0);
    }
    expect(f.size).toBe(expected.length);
    f.commit();
    expect([...fs.readFileSync(p)]).toEqual(expected);
  });

  it('writeUtf8 writes the UTF-8 bytes of ASCII (copied in JS), non-ASCII and long strings alike', () => {
    const p = path.join(dir, 'u.bin');
    const f = new AtomicFile(p, { bufferSize: 1024 });
    const texts = ['#11 xmit node-1/host/eth0', 'a → b', 'x'.repeat(300), '', '\u007f\u0080', 'é'.repeat(10), 'z'];
    for (const t of texts) f.writeUtf8(t, Buffer.byteLength(t, 'utf8'));
    f.commit();
    expect(fs.readFileSync(p).equals(Buffer.from(texts.join(''), 'utf8'))).toBe(true);
  });

  it('registry: commitAllOpen publishes every open file (crash path)', () => {
    const a = new AtomicFile(path.join(dir, 'a'));
    const b = new AtomicFile(path.join(dir, 'sub', 'b'));
    a.write(Uint8Array.from([9]));
    expect(openFiles()).toContain(a);
    expect(openFiles()).toContain(b);
    const published = commitAllOpen();
    expect(published.sort()).toEqual([path.join(dir, 'a'), path.join(dir, 'sub', 'b')].sort());
    expect(openFiles()).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual(['a', 'sub']);
    expect(fs.readdirSync(path.join(dir, 'sub'))).toEqual(['b']);
  });

  it('refuses two writers for the same path', () => {
    const p = path.join(dir, 'dup');
    const a = new AtomicFile(p);
    expect(() => new AtomicFile(p)).toThrow(/already open/);
    a.abort();
  });
});
