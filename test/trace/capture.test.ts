import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abortAllOpen, commitAllOpen } from '../../src/trace/atomic-file.js';
import { CaptureSet, pcapFileName } from '../../src/trace/capture.js';
import { readCapture, readCaptureFile } from '../../src/trace/pcap-reader.js';
import { EPB_DIR_INBOUND, EPB_DIR_OUTBOUND } from '../../src/trace/pcapng.js';
import { pingFrame } from './frames.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-capture-'));
});
afterEach(() => {
  abortAllOpen();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('CaptureSet', () => {
  it('file names are sanitised, collisions suffixed', () => {
    expect(pcapFileName('node-1', 'cni-1234/x', 'eth0@if3')).toBe('node-1__cni-1234_x__eth0_if3.pcap');
    expect(pcapFileName('..', '', 'a b')).toBe('_______a_b.pcap') // '..' → '__', '' → '_', 'a b' → 'a_b';
    const c = new CaptureSet({ dir, pcap: true, pcapng: false });
    c.iface('n', 'a/b', 'e');
    c.iface('n', 'a_b', 'e');
    expect(c.close().files.map((f) => path.basename(f))).toEqual(['n__a_b__e.pcap', 'n__a_b__e~2.pcap']);
  });

  it('stable indices, empty interfaces get valid files, nothing visible before close', () => {
    const c = new CaptureSet({ dir, pcap: true, pcapng: true });
    const a = c.iface('node1', 'pod-a', 'eth0');
    const b = c.iface('node1', 'root', 'cni0');
    expect([a, b, c.iface('node1', 'pod-a', 'eth0')]).toEqual([0, 1, 0]);
    const f = pingFrame(false, 1);
    c.record(a, 1000, f, 0, f.length, 'out', 'dev.xmit eth0');
    f.fill(0); // caller reuses its buffer: capture must already hold the bytes
    expect(fs.readdirSync(dir).every((n) => n.includes('.tmp-'))).toBe(true);
    const { files } = c.close();
    expect(files.map((x) => path.basename(x))).toEqual(['all.pcapng', 'node1__pod-a__eth0.pcap', 'node1__root__cni0.pcap']);
    expect(fs.readdirSync(dir).sort()).toEqual(['all.pcapng', 'node1__pod-a__eth0.pcap', 'node1__root__cni0.pcap']);
    const empty = readCaptureFile(files[2]);
    expect(empty).toMatchObject({ format: 'pcap', linktype: 1, packets: [] });
    const one = readCaptureFile(files[1]);
    expect(one.packets).toHaveLength(1);
    expect(one.packets[0].data).toEqual(pingFrame(false, 1));
    const ng = readCaptureFile(files[0]);
    expect(ng.userAppl).toBe('podwire');
    expect(ng.interfaces.map((i) => i.name)).toEqual(['node1/pod-a/eth0', 'node1/root/cni0']);
    expect(ng.packets[0]).toMatchObject({ timeNs: 1000, ifName: 'node1/pod-a/eth0', comment: 'dev.xmit eth0', flags: EPB_DIR_OUTBOUND });
    expect(c.close()).toEqual({ files });
    expect(() => c.record(a, 1, f, 0, 1, 'in')).toThrow();
  });

  it('records a slice of a larger buffer', () => {
    const c = new CaptureSet({ dir, pcap: true, pcapng: true });
    const i = c.iface('n', 'ns', 'd');
    const big = new Uint8Array(200).fill(0xaa);
    const f = pingFrame(true, 3);
    big.set(f, 50);
    c.record(i, 5, big, 50, f.length, 'in');
    const { files } = c.close();
    for (const p of files) expect(readCaptureFile(p).packets[0].data).toEqual(f);
    expect(readCaptureFile(files[0]).packets[0].flags).toBe(EPB_DIR_INBOUND);
  });

  it('rejects bad calls without writing anything', () => {
    const c = new CaptureSet({ dir, pcap: true, pcapng: true });
    const i = c.iface('n', 'ns', 'd');
    const f = new Uint8Array(10);
    expect(() => c.record(7, 0, f, 0, 10, 'in')).toThrow(RangeError);
    expect(() => c.record(i, 0, f, 5, 10, 'in')).toThrow(RangeError);
    expect(() => c.record(i, -1, f, 0, 10, 'in')).toThrow(RangeError);
    const { files } = c.close();
    for (const p of files) expect(readCaptureFile(p).packets).toEqual([]);
  });

  it('deterministic: same calls give byte-identical files', () => {
    const run = (sub: string): Buffer[] => {
      const c = new CaptureSet({ dir: path.join(dir, sub), pcap: true, pcapng: true });
      for (let k = 0; k < 300; k++) {
        const i = c.iface('n', `ns${k % 5}`, 'eth0');
        const f = pingFrame(k % 2 === 1, k);
        c.record(i, k * 1_000_003, f, 0, f.length, k % 2 ? 'in' : 'out', `step ${k}`);
      }
      return c.close().files.map((p) => fs.readFileSync(p));
    };
    const a = run('a');
    const b = run('b');
    expect(a.length).toBe(6);
    a.forEach((x, k) => expect(x.equals(b[k])).toBe(true));
  });

  it('a run failing half-way still publishes whole records via commitAllOpen', () => {
    const c = new CaptureSet({ dir, pcap: true, pcapng: true });
    const i = c.iface('n', 'ns', 'd');
    const f = pingFrame(false, 1);
    for (let k = 0; k < 2000; k++) c.record(i, k, f, 0, f.length, 'out', 'x'.repeat(k % 40)); // > 64 KiB: partly flushed
    // simulated crash: the CLI's failure path
    const published = commitAllOpen();
    expect(published).toHaveLength(2);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    for (const p of published) expect(readCaptureFile(p).packets).toHaveLength(2000);
  });

  it('abort leaves nothing behind', () => {
    const c = new CaptureSet({ dir, pcap: true, pcapng: true });
    c.iface('n', 'ns', 'd');
    c.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

const arbPacket = fc.record({
  iface: fc.integer({ min: 0, max: 3 }),
  dt: fc.integer({ min: 0, max: 2 ** 40 }),
  data: fc.uint8Array({ minLength: 0, maxLength: 1600 }),
  dir: fc.constantFrom<'in' | 'out'>('in', 'out'),
  comment: fc.option(fc.string({ unit: 'grapheme', maxLength: 60 }), { nil: undefined }),
});

describe('round trip: reader(writer(packets))', () => {
  it('pcap and pcapng (property)', () => {
    let run = 0;
    fc.assert(
      fc.property(fc.array(arbPacket, { maxLength: 30 }), fc.integer({ min: 0, max: 2 ** 52 }), (pkts, t0) => {
        const sub = path.join(dir, `r${run++}`);
        const c = new CaptureSet({ dir: sub, pcap: true, pcapng: true });
        const names = ['a/b/c', 'n1/pod x/eth0', 'ü/ß/€', 'n/root/flannel.1'];
        const idx = new Map<number, number>();
        let t = t0;
        const times: number[] = [];
        for (const p of pkts) {
          if (!idx.has(p.iface)) idx.set(p.iface, c.iface(...(names[p.iface].split('/') as [string, string, string])));
          t = Math.min(t + p.dt, Number.MAX_SAFE_INTEGER);
          times.push(t);
          c.record(idx.get(p.iface)!, t, p.data, 0, p.data.length, p.dir, p.comment);
        }
        const { files } = c.close();
        const ng = readCapture(fs.readFileSync(files[0]));
        expect(ng.packets.length).toBe(pkts.length);
        pkts.forEach((p, k) => {
          const r = ng.packets[k];
          expect(r.timeNs).toBe(times[k]);
          expect(r.timeNsExact).toBe(BigInt(times[k]));
          expect(r.data).toEqual(p.data);
          expect(r.ifName).toBe(names[p.iface]);
          expect(r.flags).toBe(p.dir === 'in' ? 1 : 2);
          expect(r.comment).toBe(p.comment === '' ? undefined : p.comment);
        });
        // per-interface pcaps: each gets its own packets in order
        const perIface = new Map<number, { t: number; d: Uint8Array }[]>();
        pkts.forEach((p, k) => {
          const l = perIface.get(p.iface) ?? [];
          l.push({ t: times[k], d: p.data });
          perIface.set(p.iface, l);
        });
        for (const [iface, list] of perIface) {
          const file = files[1 + idx.get(iface)!];
          const cap = readCaptureFile(file);
          expect(cap.packets.map((x) => [x.timeNs, x.data])).toEqual(list.map((x) => [x.t, x.d]));
        }
        fs.rmSync(sub, { recursive: true });
      }),
      { numRuns: 60 },
    );
  });
});
