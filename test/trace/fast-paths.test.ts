/**
 * The trace and capture fast paths (issue 9) give exactly what the plain paths give:
 * writeEpbBytes = writeEpb with the comment as a string, CaptureSet.recordBytes = record,
 * the capture tap's comment bytes = frameComment, LineSink.fields = LineSink.emit and
 * renderTextFields = renderText.
 */
import { plainLine } from './plain-line.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemorySink as ByteMemorySink, abortAllOpen } from '../../src/trace/atomic-file.js';
import { CaptureSet } from '../../src/trace/capture.js';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { pcapFileHeader, pcapRecordHeader } from '../../src/trace/pcap.js';
import { idbBlock, shbBlock, writeEpb, writeEpbBytes, EPB_DIR_INBOUND, EPB_DIR_OUTBOUND, MAX_OPTION_LEN } from '../../src/trace/pcapng.js';
import { LineSink, renderText, renderTextFields } from '../../src/trace/render.js';
import type { DropReason, TraceEvent, Verdict } from '../../src/trace/events.js';
import { attachCaptures, frameComment } from '../../src/scenario/captures.js';
import { World } from '../../src/kernel/world.js';
import { ipToString, macToString } from '../../src/wire/bytes.js';
import { summarize } from '../../src/wire/summary.js';
import { NO_HOOKS_TEXT, fibLookupText, forwardText, localDeliverText, neighHitText } from '../../src/kernel/trace-text.js';
import { formatRoute, type Route } from '../../src/kernel/fib.js';
import { HOOK_NAMES } from '../../src/kernel/hooks.js';
import { NUD_NAMES } from '../../src/kernel/neigh.js';
import { ethernet, ipv4, udp, MAC_A, MAC_B, type Ip4 } from './frames.js';
import type { NetDevice } from '../../src/kernel/device.js';
import type { Skb } from '../../src/kernel/skb.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-fast-'));
});
afterEach(() => {
  abortAllOpen();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A byte sink that accepts at most `max` bytes per reservation (as an AtomicFile with a small buffer). */
function sink(max?: number): ByteMemorySink {
  const s = new ByteMemorySink(16);
  if (max !== undefined) (s as { maxReserve: number }).maxReserve = max;
  return s;
}

const commentArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(''),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  // Longer than an option can hold: cut at a UTF-8 boundary.
  fc.tuple(fc.constantFrom('a', 'é', '€', '😀', 'ab'), fc.integer({ min: 0, max: 3 })).map(([c, extra]) => c.repeat(Math.ceil(MAX_OPTION_LEN / c.length)) + 'x'.repeat(extra)),
);

describe('writeEpbBytes', () => {
  it('writes the bytes writeEpb writes for the comment its bytes encode (one reservation or piecewise)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.nat(), fc.nat(),
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 5000 }),
        fc.constantFrom(undefined, EPB_DIR_INBOUND, EPB_DIR_OUTBOUND),
        commentArb,
        fc.constantFrom(undefined, 1, 7, 64, 262144),
        fc.constantFrom(undefined, 48, 100, 1000),
        (frame, a, b, time, ifIndex, flags, comment, snaplen, max) => {
          const off = frame.length ? a % (frame.length + 1) : 0;
          const len = (frame.length - off) ? b % (frame.length - off + 1) : 0;
          const want = sink();
          writeEpb(want, ifIndex, time, frame, off, len, flags, comment, snaplen);
          const bytes = comment === undefined ? null : Buffer.from(comment, 'utf8');
          const got = sink(max);
          // The bytes in a larger buffer, as a scratch holds them.
          const scratch = bytes === null ? null : Buffer.concat([bytes, Buffer.from('zz')]);
          writeEpbBytes(got, ifIndex, time, frame, off, len, flags, scratch, bytes ? bytes.length : 0, snaplen);
          expect(Buffer.from(got.bytes()).equals(Buffer.from(want.bytes()))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('CaptureSet.recordBytes', () => {
  it('gives the files record gives', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.boolean(), commentArb, fc.nat({ max: 1000 })), { maxLength: 12 }),
        (frames) => {
          const run = (sub: string, bytes: boolean): Buffer[] => {
            const d = path.join(dir, sub);
            const cs = new CaptureSet({ dir: d, pcap: true, pcapng: true, snaplen: 150 });
            const i = [cs.iface('n', 'ns', 'eth0'), cs.iface('n', 'ns', 'eth1', 101)];
            let t = 0;
            for (const [f, inb, comment, dt] of frames) {
              t += dt;
              const which = i[f[0] & 1];
              if (!bytes) cs.record(which, t, f, 0, f.length, inb ? 'in' : 'out', comment);
              else {
                const c = comment ? Buffer.from(comment, 'utf8') : null;
                cs.recordBytes(which, t, f, 0, f.length, inb ? 'in' : 'out', c, c ? c.length : 0);
              }
            }
            const files = cs.close().files;
            const out = files.map((p) => fs.readFileSync(p));
            fs.rmSync(d, { recursive: true, force: true });
            return out;
          };
          const a = run('a', false), b = run('b', true);
          expect(b.length).toBe(a.length);
          for (let k = 0; k < a.length; k++) expect(b[k].equals(a[k])).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('CaptureSet files', () => {
  it('are the blocks the plain writers make, also when one buffer is recorded again after changing', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 200 }),
        fc.array(fc.tuple(fc.nat({ max: 40 }), fc.nat({ max: 150 }), fc.boolean(), fc.boolean(), fc.nat({ max: 255 }), commentArb), { maxLength: 12 }),
        (buf, recs) => {
          const d = path.join(dir, 'f');
          const snaplen = 100;
          const cs = new CaptureSet({ dir: d, pcap: true, pcapng: true, snaplen });
          const i = cs.iface('n', 'ns', 'eth0');
          const pcap: Uint8Array[] = [pcapFileHeader(1, snaplen)];
          const ng = sink();
          ng.write(shbBlock());
          ng.write(idbBlock('n/ns/eth0', 1, snaplen));
          let t = 5;
          for (const [off0, len0, inb, mutate, byte, comment] of recs) {
            const off = Math.min(off0, buf.length);
            const len = Math.min(len0, buf.length - off);
            // Same buffer and slice as the record before, bytes changed in between (a TTL decrement).
            if (mutate) buf[off] = byte;
            t += 7;
            cs.record(i, t, buf, off, len, inb ? 'in' : 'out', comment);
            const cap = Math.min(len, snaplen);
            pcap.push(pcapRecordHeader(t, cap, len), buf.slice(off, off + cap));
            writeEpb(ng, i, t, buf, off, len, inb ? EPB_DIR_INBOUND : EPB_DIR_OUTBOUND, comment, snaplen);
          }
          const [ngFile, pcapFile] = cs.close().files;
          expect(fs.readFileSync(pcapFile).equals(Buffer.concat(pcap))).toBe(true);
          expect(fs.readFileSync(ngFile).equals(Buffer.from(ng.bytes()))).toBe(true);
          fs.rmSync(d, { recursive: true, force: true });
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('attachCaptures', () => {
  it('comments every frame with frameComment, in bytes', () => {
    const world = new World(1);
    const cs = attachCaptures(world, dir, { usedOnly: true });
    const node = { name: 'node-1' };
    const nsA = { node, name: 'host' }, nsB = { node, name: 'default.client' };
    interface FakeDev { netns: { node: { name: string }; name: string }; name: string; linkType: number; readonly path: string }
    const dev = (netns: FakeDev['netns'], name: string): NetDevice => {
      const d: FakeDev = { netns, name, linkType: 1, get path() { return `${d.netns.node.name}/${d.netns.name}/${d.name}`; } };
      return d as unknown as NetDevice;
    };
    const eth0 = dev(nsA, 'eth0'), veth = dev(nsB, 'vethé1'), moved = dev(nsA, 'cni0');
    const frame = new Uint8Array(60).fill(7);
    const cases: [NetDevice, number, number, string | undefined, 'in' | 'out'][] = [
      [eth0, 1, 0, undefined, 'out'],
      [veth, 12, 0, 'client→web', 'in'],
      [eth0, 9_007_199_254_740_991, 10, 'x', 'in'],
      [moved, 1234567, 99, undefined, 'out'],
      [veth, 10, 9, 'client→web', 'out'],
      [eth0, 100, 1000000, '', 'out'],
    ];
    const want: string[] = [];
    for (const [d, id, inner, flow, dir] of cases) {
      world.tap!.frame(d, { id, innerId: inner, flow, buf: frame, data: 2, len: 50 } as unknown as Skb, dir);
      want.push(frameComment(id, inner, dir, d.path, flow));
    }
    // The device is renamed and moved: its next comment names it anew.
    (moved as unknown as { name: string }).name = 'cni9';
    (moved as unknown as { netns: unknown }).netns = nsB;
    world.tap!.frame(moved, { id: 5, innerId: 0, flow: undefined, buf: frame, data: 0, len: 60 } as unknown as Skb, 'in');
    want.push(frameComment(5, 0, 'in', moved.path, undefined));
    cs.close();
    const got = readCaptureFile(path.join(dir, 'all.pcapng')).packets.map((p) => p.comment);
    expect(got).toEqual(want);
  });
});


const verdictArb = fc.constantFrom<Verdict | undefined>(undefined, 'accept', 'drop', 'deliver');
const reasonArb = fc.constantFrom<DropReason | undefined>(undefined, 'NETFILTER_DROP', 'NO_SOCKET');
const eventArb: fc.Arbitrary<TraceEvent> = fc.record({
  time: fc.constantFrom(0, 1, 2_050_001_000, 2_050_002_000, 123_456_789_012),
  node: fc.constantFrom('node-1', 'node-2', 'a-node-with-a-rather-long-name-indeed'),
  netns: fc.constantFrom('host', 'default.client'),
  dev: fc.constantFrom('', 'eth0', 'cni0', 'flannel.1'),
  packetId: fc.constantFrom(0, 11, 12, 1234567),
  innerId: fc.constantFrom(0, 11, 13),
  stage: fc.constantFrom('nf.rule', 'dev.xmit', 'a-stage-longer-than-sixteen'),
  detail: fc.string({ maxLength: 20 }),
  verdict: verdictArb,
  reason: reasonArb,
  flow: fc.constantFrom(undefined, '', 'client→web'),
});

describe('renderTextFields and LineSink.fields', () => {
  it('render what renderText and emit render, whatever came before', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), fc.constantFrom<'text' | 'json'>('text', 'json'), (events, format) => {
        const a: string[] = [], b: string[] = [];
        const emitSink = new LineSink(format, (l) => a.push(l));
        const fieldSink = new LineSink(format, (l) => b.push(l));
        for (const e of events) {
          emitSink.emit(e);
          fieldSink.fields(e.time, e.node, e.netns, e.dev, e.packetId, e.innerId, e.stage, e.detail, e.verdict, e.reason, e.flow);
          if (format === 'text') {
            expect(renderTextFields(e.time, e.node, e.netns, e.dev, e.packetId, e.innerId, e.stage, e.detail, e.verdict, e.reason, e.flow)).toBe(plainLine(e));
            expect(renderText(e)).toBe(plainLine(e));
          }
        }
        expect(b).toEqual(a);
        expect(fieldSink.count).toBe(emitSink.count);
      }),
      { numRuns: 200 },
    );
  });
});

describe('macToString (cached by the 48 bits)', () => {
  it('formats every MAC as the plain loop does, whatever was formatted before', () => {
    const plainMac = (b: Uint8Array, off: number) => Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
    // Few distinct bytes: many MACs share cache slots and keys differ in few bits.
    const macArb = fc.tuple(fc.uint8Array({ minLength: 6, maxLength: 12 }).map((a) => a.map((x) => x & 0x13)), fc.nat({ max: 6 }));
    fc.assert(
      fc.property(fc.array(macArb, { minLength: 1, maxLength: 60 }), (macs) => {
        for (const [b, o] of [...macs, ...macs]) {
          const off = Math.min(o, b.length - 6);
          expect(macToString(b, off)).toBe(plainMac(b, off));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('UDP summaries (cached by addresses, ports, length, checksum)', () => {
  it('read as the template prints them, whatever was summarised before', () => {
    const ipArb = fc.constantFrom<Ip4>([10, 244, 0, 2], [10, 244, 1, 2], [192, 168, 1, 11], [10, 96, 0, 10], [10, 244, 0, 3]);
    const dgArb = fc.record({
      src: ipArb, dst: ipArb,
      sport: fc.constantFrom(53, 40000, 46939, 65535, 0),
      dport: fc.constantFrom(53, 8472, 9999, 1),
      len: fc.nat({ max: 40 }),
      bad: fc.boolean(),
      id: fc.nat({ max: 65535 }),
    });
    fc.assert(
      fc.property(fc.array(dgArb, { minLength: 1, maxLength: 40 }), (dgs) => {
        for (const g of [...dgs, ...dgs]) {
          const f = ethernet(MAC_A, MAC_B, 0x0800, ipv4(g.src, g.dst, 17, udp(g.src, g.dst, g.sport, g.dport, new Uint8Array(g.len)), { id: g.id, badChecksum: g.bad }));
          const want = `IP ${g.src.join('.')}.${g.sport} > ${g.dst.join('.')}.${g.dport}: UDP, length ${g.len}${g.bad ? ' [bad ip cksum]' : ''}`;
          expect(summarize(f)).toBe(want);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('kernel trace texts (cached by what they are made of)', () => {
  it('equal the templates of their call sites', () => {
    const route = (dst: number, gw: number, dev: string): Route => ({
      dst, prefix: 24, type: 'unicast', gw, dev: { name: dev } as unknown as Route['dev'], scope: gw ? 'global' : 'link', metric: 0, src: 0, proto: 'boot', onlink: false, table: 254,
    });
    const routes = [route(0x0af40100, 0x0af40100, 'flannel.1'), route(0x0af40000, 0, 'cni0'), route(0xc0a80100, 0, 'eth0')];
    const addrs = [0x0af40102, 0x0af40002, 0xc0a8010c, 0x0a6093ef, 0x0af40102 + 256 * 256];
    const macs = [new Uint8Array([0x12, 0x7c, 0x91, 0xf5, 0x6d, 0xfd]), new Uint8Array([0x66, 0xbc, 0xcc, 0x3f, 0x97, 0x74]), new Uint8Array(6)];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 4 }), fc.nat({ max: 2 }), fc.nat({ max: 2 }), fc.constantFrom(1, 2, 8, 64, 128), fc.nat({ max: 255 }), fc.constantFrom('eth0', 'cni0', 'flannel.1'), fc.constantFrom(1, 6, 17)), { maxLength: 40 }),
        (cases) => {
          for (const [a, r, m, state, ttl, dev, proto] of [...cases, ...cases]) {
            const dst = addrs[a], rt = routes[r];
            expect(fibLookupText(false, dst, rt)).toBe(`${ipToString(dst)}: ${formatRoute(rt)}`);
            expect(fibLookupText(true, dst, rt)).toBe(`output ${ipToString(dst)}: ${formatRoute(rt)}`);
            expect(neighHitText(dst, macs[m], state)).toBe(`${ipToString(dst)} hit ${macToString(macs[m])} (${NUD_NAMES[state]})`);
            expect(forwardText(ttl, dev)).toBe(`ttl ${ttl + 1}→${ttl} out ${dev}`);
            expect(localDeliverText(dst, proto)).toBe(`to ${ipToString(dst)} proto ${proto}`);
          }
        },
      ),
      { numRuns: 100 },
    );
    expect(NO_HOOKS_TEXT).toEqual(HOOK_NAMES.map((h) => `${h}: no hooks registered, ACCEPT`));
  });
});
