import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { setU16, toHex, WireError } from '../../src/wire/bytes.js';
import { ipv4Daddr, ipv4Saddr, ipv4SetDst, ipv4SetSrc, verifyIpv4Checksum } from '../../src/wire/ipv4.js';
import {
  TCP_ACK, TCP_AE, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, checkTcp, emitTcp, emitTcpOptions,
  fillTcpChecksum, linuxSynOptions, linuxTsOptions, parseTcp, parseTcpOptions, tcpAckSeq, tcpCheck, tcpChecksum,
  tcpDoff, tcpDport, tcpFlags, tcpHeaderLen, tcpOptionsLen, tcpReprLen, tcpSeq, tcpSetDport, tcpSetSport, tcpSport,
  tcpUpdateAddr, tcpUrgPtr, tcpWindow, verifyTcpChecksum, setTcpFlags, type TcpOption, type TcpRepr,
} from '../../src/wire/tcp.js';
import { TCP_ACK as ACK_CAP, TCP_FIN as FIN_CAP, TCP_PSH as PSH_CAP, TCP_RST as RST_CAP, TCP_SERVER_PSH, TCP_SYN as SYN_CAP, TCP_SYNACK } from './fixtures.js';

const IP = 14;
const L4 = 34;
const ipOf = (f: Uint8Array) => ({ src: ipv4Saddr(f, IP), dst: ipv4Daddr(f, IP) });

describe('tcp: captured segments (offload off: checksums are final)', () => {
  it('decodes the SYN field by field, Linux option layout included', () => {
    // a0 28          sport 41000
    // 00 50          dport 80
    // fb 51 16 23    seq 4216395299
    // 00 00 00 00    ack 0
    // a0             data offset 10 (40 bytes)
    // 02             flags SYN
    // fa f0          window 64240
    // 39 86          checksum
    // 00 00          urgent 0
    // 02 04 05 b4    mss 1460
    // 04 02          sackOK
    // 08 0a 2e691d43 00000000   TS val 778640707 ecr 0
    // 01             nop
    // 03 03 0a       wscale 10 (tcp_rmem[2] = 32 MiB here; 7 with the 6 MiB default)
    const f = SYN_CAP.bytes;
    expect(checkTcp(f, L4, 40)).toBeNull();
    expect([tcpSport(f, L4), tcpDport(f, L4), tcpSeq(f, L4), tcpAckSeq(f, L4)]).toEqual([41000, 80, 4216395299, 0]);
    expect([tcpDoff(f, L4), tcpHeaderLen(f, L4), tcpFlags(f, L4), tcpWindow(f, L4), tcpCheck(f, L4), tcpUrgPtr(f, L4)])
      .toEqual([10, 40, TCP_SYN, 64240, 0x3986, 0]);
    expect(toHex(f, L4 + 20, 20)).toBe('020405b40402080a2e691d43000000000103030a');
    expect(parseTcpOptions(f, L4 + 20, 20)).toEqual(linuxSynOptions(1460, 778640707, 0, 10));
    expect(verifyTcpChecksum(f, IP)).toBe(true);
    expect(tcpChecksum(f, IP)).toBe(0x3986);
  });
  it('the SYN-ACK uses the same layout, echoing the SYN timestamp', () => {
    const r = parseTcp(TCP_SYNACK.bytes, L4, 40, ipOf(TCP_SYNACK.bytes));
    expect(r.flags).toBe(TCP_SYN | TCP_ACK);
    expect(r.ack).toBe(4216395300);
    expect(r.window).toBe(65160);
    expect(r.options).toEqual(linuxSynOptions(1460, 3101169891, 778640707, 10));
  });
  it('established segments carry nop,nop,TS; the RST to a closed port carries nothing', () => {
    const a = parseTcp(ACK_CAP.bytes, L4, 32);
    expect(a.options).toEqual(linuxTsOptions(778640707, 3101169891));
    expect(toHex(ACK_CAP.bytes, L4 + 20, 12)).toBe('0101080a2e691d43b8d818e3');
    const p = parseTcp(PSH_CAP.bytes, L4, 50, ipOf(PSH_CAP.bytes));
    expect(p.flags).toBe(TCP_PSH | TCP_ACK);
    expect(new TextDecoder().decode(p.payload)).toBe('GET / HTTP/1.0\r\n\r\n');
    expect(parseTcp(FIN_CAP.bytes, L4, 32).flags).toBe(TCP_FIN | TCP_ACK);
    // 0051 a02a 00000000 e2652ff9 50 14 0000 e709 0000: seq 0, ACK|RST, win 0, no options
    const r = parseTcp(RST_CAP.bytes, L4, 20, ipOf(RST_CAP.bytes));
    expect(r).toEqual({ srcPort: 81, dstPort: 41002, seq: 0, ack: 3798282233, flags: TCP_RST | TCP_ACK, window: 0, urgent: 0, options: [], payload: new Uint8Array(0) });
  });
  it('emits every captured segment into 0xa5, byte-identical with computed checksums', () => {
    for (const cap of [SYN_CAP, TCP_SYNACK, ACK_CAP, PSH_CAP, TCP_SERVER_PSH, FIN_CAP, RST_CAP]) {
      const f = cap.bytes;
      const ip = ipOf(f);
      const r = parseTcp(f, L4, f.length - L4, ip);
      const buf = new Uint8Array(tcpReprLen(r) + 2).fill(0xa5);
      expect(emitTcp(r, buf, 1, ip)).toBe(f.length - L4);
      expect(toHex(buf, 1, f.length - L4)).toBe(toHex(f, L4));
      expect([buf[0], buf[buf.length - 1]]).toEqual([0xa5, 0xa5]);
    }
  });
  it('fillTcpChecksum recomputes in place', () => {
    const f = SYN_CAP.bytes.slice();
    setU16(f, L4 + 16, 0xdead);
    fillTcpChecksum(f, IP);
    expect(toHex(f)).toBe(toHex(SYN_CAP.bytes));
  });
});

describe('tcp: flags', () => {
  it('constants and the AE bit', () => {
    expect([TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR]).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    const b = new Uint8Array(20).fill(0);
    b[12] = 0x50;
    setTcpFlags(b, 0, TCP_AE | TCP_CWR | TCP_SYN);
    expect([b[12], b[13], tcpFlags(b, 0)]).toEqual([0x51, 0x82, 0x182]);
  });
});

describe('tcp: NAT rewrites keep checksums equal to a recompute', () => {
  it('addresses via the pseudo header + ports, on every captured segment', () => {
    const caps = [SYN_CAP, TCP_SYNACK, PSH_CAP, RST_CAP];
    fc.assert(fc.property(fc.nat(caps.length - 1), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.nat(0xffff), fc.nat(0xffff),
      (k, ns, nd, sp, dp) => {
        const f = caps[k].bytes.slice();
        const { src, dst } = ipOf(f);
        ipv4SetSrc(f, IP, ns); tcpUpdateAddr(f, L4, src, ns);
        ipv4SetDst(f, IP, nd); tcpUpdateAddr(f, L4, dst, nd);
        tcpSetSport(f, L4, sp); tcpSetDport(f, L4, dp);
        const inc = tcpCheck(f, L4);
        return verifyIpv4Checksum(f, IP) && verifyTcpChecksum(f, IP) && inc === tcpChecksum(f, IP);
      }), { numRuns: 3000 });
  });
});

const u32a = fc.integer({ min: 0, max: 0xffffffff });
const arbOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant({ kind: 'nop' as const }),
  fc.record({ kind: fc.constant('mss' as const), mss: fc.nat(0xffff) }),
  fc.record({ kind: fc.constant('wscale' as const), shift: fc.nat(255) }),
  fc.constant({ kind: 'sack-permitted' as const }),
  fc.record({ kind: fc.constant('timestamp' as const), tsval: u32a, tsecr: u32a }),
  fc.record({ kind: fc.constant('sack' as const), blocks: fc.array(fc.tuple(u32a, u32a), { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('unknown' as const), type: fc.integer({ min: 6, max: 255 }).filter((t) => t !== 8), data: fc.uint8Array({ maxLength: 6 }) }),
);
const arbOptions = fc.array(arbOption, { maxLength: 6 }).filter((o) => tcpOptionsLen(o) <= 40);

describe('tcp: options and round trip', () => {
  it('emitTcpOptions(linuxSynOptions) is the exact Linux byte string', () => {
    const b = new Uint8Array(22).fill(0xa5);
    expect(emitTcpOptions(linuxSynOptions(1460, 0x11223344, 0, 7), b, 1)).toBe(20);
    expect(toHex(b)).toBe('a5' + '020405b40402080a1122334400000000' + '01030307' + 'a5');
  });
  it('pads with EOL to a word boundary; EOL ends parsing', () => {
    const b = new Uint8Array(8).fill(0xa5);
    expect(emitTcpOptions([{ kind: 'mss', mss: 1400 }, { kind: 'wscale', shift: 9 }], b, 0)).toBe(8);
    expect(toHex(b)).toBe('0204057803030900');
    expect(parseTcpOptions(Uint8Array.of(1, 0, 2, 4, 5, 0xb4), 0, 6)).toEqual([{ kind: 'nop' }]);
  });
  it.each([
    ['option length < 2', [2, 1, 0, 0]],
    ['option truncated', [8, 10, 0, 0]],
    ['option truncated', [1, 1, 1, 2]],
    ['bad length 3 for option 2', [2, 3, 0, 0]],
    ['bad length 2 for option 5', [5, 2, 0, 0]],
  ])('rejects malformed options: %s', (reason, bytes) => {
    expect(() => parseTcpOptions(Uint8Array.from(bytes), 0, bytes.length)).toThrow(new WireError('tcp', reason));
  });
  const arbRepr: fc.Arbitrary<TcpRepr> = fc.record({
    srcPort: fc.nat(0xffff), dstPort: fc.nat(0xffff), seq: u32a, ack: u32a, flags: fc.nat(0x1ff), window: fc.nat(0xffff),
    urgent: fc.nat(0xffff), options: arbOptions, payload: fc.uint8Array({ maxLength: 64 }),
  });
  it('parse(emit(r)) == r, checksum valid', () => {
    fc.assert(fc.property(arbRepr, (r) => {
      const ip = { src: 0x0af40002, dst: 0x0af40003 };
      const b = new Uint8Array(tcpReprLen(r)).fill(0xa5);
      emitTcp(r, b, 0, ip);
      expect(parseTcp(b, 0, b.length, ip)).toEqual(r);
    }));
  });
  it('rejects more than 40 bytes of options', () => {
    const opts: TcpOption[] = Array.from({ length: 5 }, () => ({ kind: 'timestamp', tsval: 0, tsecr: 0 }));
    expect(() => emitTcp({ srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0, options: opts, payload: new Uint8Array(0) }, new Uint8Array(100))).toThrow(WireError);
  });
});

describe('tcp: header rejection', () => {
  it.each([
    ['truncated', 19, (b: Uint8Array) => b],
    ['data offset < 5', 40, (b: Uint8Array) => ((b[L4 + 12] = 0x40), b)],
    ['data offset beyond length', 39, (b: Uint8Array) => b],
    ['data offset beyond length', 40, (b: Uint8Array) => ((b[L4 + 12] = 0xf0), b)],
  ] as const)('%s', (reason, len, mutate) => {
    const f = mutate(SYN_CAP.bytes.slice());
    expect(checkTcp(f, L4, len)).toBe(reason);
    expect(() => parseTcp(f, L4, len)).toThrow(new WireError('tcp', reason));
  });
  it('rejects a bad checksum when addresses are given', () => {
    const f = PSH_CAP.bytes.slice();
    f[f.length - 1] ^= 0x10;
    expect(verifyTcpChecksum(f, IP)).toBe(false);
    expect(() => parseTcp(f, L4, 50, ipOf(f))).toThrow('tcp: bad checksum');
  });
});
