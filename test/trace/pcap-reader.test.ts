import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureSet } from '../../src/trace/capture.js';
import { CaptureFormatError, readCapture, readCaptureFile } from '../../src/trace/pcap-reader.js';
import { requireTool } from '../helpers/tshark.js';
import { pingFrame } from './frames.js';

const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+|#[^\n]*/g, ''), 'hex'));

describe('pcap reader', () => {
  it('big-endian microsecond pcap', () => {
    const b = fromHex(`
      a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000001  # BE µs header, snaplen 65535
      00000002 000f4240 00000003 0000003c                     # 2 s + 1000000 µs?? (invalid but read as given), 3 of 60
      aabbcc
      00000001 00000007 00000001 00000001  ff                 # 1 s + 7 µs
    `);
    const c = readCapture(b);
    expect(c.format).toBe('pcap');
    expect(c.linktype).toBe(1);
    expect(c.packets.map((p) => [p.timeNs, [...p.data], p.origLen])).toEqual([
      [3_000_000_000, [0xaa, 0xbb, 0xcc], 60],
      [1_000_007_000, [0xff], 1],
    ]);
  });

  it('little-endian nanosecond pcap with epoch timestamps: exact bigint', () => {
    const b = fromHex(`
      4d3cb2a1 0200 0400 00000000 00000000 00000400 01000000
      ffffffff ffc99a3b 00000000 00000000   # sec 0xffffffff, nsec 999999999
    `);
    const [p] = readCapture(b).packets;
    expect(p.timeNsExact).toBe(0xffffffffn * 1_000_000_000n + 999_999_999n);
  });

  it('big-endian pcapng with SPB, default µs resolution, unknown blocks, two comments', () => {
    const b = fromHex(`
      0a0d0d0a 0000001c 1a2b3c4d 0001 0000 ffffffff ffffffff 0000001c   # SHB BE, no options
      00000001 00000014 0001 0000 00000000 00000014                     # IDB eth, snaplen 0, no options
      00000bad 0000000c 0000000c                                        # unknown block: skipped
      00000003 00000014 00000003 aabbcc00 00000014                      # SPB 3 bytes
      00000006 00000038 00000000 00000000 000f4241 00000001 00000001    # EPB if 0, ts 1000001 µs
      ee000000
      0001 0001 61000000   0001 0002 6263 0000   0000 0000              # comment "a", comment "bc", end
      00000038
    `);
    const c = readCapture(b);
    expect(c.format).toBe('pcapng');
    expect(c.interfaces).toEqual([{ linktype: 1, snaplen: 0, tsresol: 6 }]);
    expect(c.packets).toHaveLength(2);
    expect([...c.packets[0].data]).toEqual([0xaa, 0xbb, 0xcc]);
    expect(c.packets[1]).toMatchObject({ timeNs: 1_000_001_000, comment: 'a\nbc', origLen: 1 });
  });

  it('rejects garbage', () => {
    expect(() => readCapture(new Uint8Array(3))).toThrow(CaptureFormatError);
    expect(() => readCapture(new Uint8Array(24))).toThrow(/unknown magic/);
    const bad = fromHex('0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffff ffffffff 20000000');
    expect(() => readCapture(bad)).toThrow(/trailing block length/);
    const idbThenShb = fromHex('0a0d0d0a 0c000000 4d3c2b1a'); // SHB too short
    expect(() => readCapture(idbThenShb)).toThrow(CaptureFormatError);
    const truncated = readCapture(fromHex('4d3cb2a1 0200 0400 00000000 00000000 00000400 01000000 00000000 00000000 05000000 05000000 aabb').subarray(0, 24));
    expect(truncated.packets).toEqual([]);
    expect(() => readCapture(fromHex('4d3cb2a1 0200 0400 00000000 00000000 00000400 01000000 00000000 00000000 05000000 05000000 aabb'))).toThrow(/truncated/);
  });
});

const tcpdump = requireTool('tcpdump');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-reader-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

tcpdump.describe('tcpdump interop', () => {
  tcpdump.it('tcpdump reads our pcapng and rewrites it; our reader reads tcpdump output (ns and µs)', () => {
    const c = new CaptureSet({ dir, pcap: false, pcapng: true });
    const i = c.iface('n', 'ns', 'eth0');
    const frames = [pingFrame(false, 1), pingFrame(true, 1)];
    const times = [1_700_000_123_456_789, 1_700_000_123_999_001];
    frames.forEach((f, k) => c.record(i, times[k], f, 0, f.length, 'out'));
    const [ng] = c.close().files;
    const nsOut = path.join(dir, 'ns.pcap');
    const usOut = path.join(dir, 'us.pcap');
    execFileSync(tcpdump.path!, ['-r', ng, '-w', nsOut, '--time-stamp-precision=nano'], { stdio: 'pipe' });
    execFileSync(tcpdump.path!, ['-r', ng, '-w', usOut], { stdio: 'pipe' });
    const n = readCaptureFile(nsOut);
    expect(n.packets.map((p) => [p.timeNs, p.data])).toEqual(frames.map((f, k) => [times[k], f]));
    const u = readCaptureFile(usOut);
    expect(u.packets.map((p) => [p.timeNs, p.data])).toEqual(frames.map((f, k) => [Math.floor(times[k] / 1000) * 1000, f]));
    const text = execFileSync(tcpdump.path!, ['-nn', '-r', ng], { stdio: 'pipe' }).toString();
    expect(text).toMatch(/10\.244\.0\.2 > 10\.244\.0\.3: ICMP echo request, id 119, seq 1/);
  });
});
