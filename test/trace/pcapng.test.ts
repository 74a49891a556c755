import { describe, expect, it } from 'vitest';
import { epbBlock, idbBlock, shbBlock, utf8Length, EPB_DIR_INBOUND, EPB_DIR_OUTBOUND } from '../../src/trace/pcapng.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('pcapng blocks', () => {
  it('SHB with shb_userappl', () => {
    const b = shbBlock();
    expect(b.length).toBe(44);
    expect(hex(b)).toBe(
      [
        '0a0d0d0a', //         block type SHB
        '2c000000', //         total length 44
        '4d3c2b1a', //         byte-order magic 0x1a2b3c4d
        '0100', '0000', //     version 1.0
        'ffffffffffffffff', // section length -1 (unknown)
        '0400', '0700', //     shb_userappl, length 7
        '706f64776972 6500'.replace(' ', ''), // "podwire" + 1 pad byte
        '00000000', //         opt_endofopt
        '2c000000', //         total length again
      ].join(''),
    );
  });

  it('IDB with if_name and if_tsresol', () => {
    const b = idbBlock('n1/pod-a/eth0');
    // 16 fixed + if_name 4+16 + if_tsresol 4+4 + endofopt 4 + trailer 4 = 52
    expect(b.length).toBe(52);
    expect(hex(b)).toBe(
      [
        '01000000', //  block type IDB
        '34000000', //  total length 52
        '0100', //      linktype ETHERNET
        '0000', //      reserved
        '00000400', //  snaplen 262144
        '0200', '0d00', // if_name, length 13
        Buffer.from('n1/pod-a/eth0').toString('hex') + '000000', // padded to 16
        '0900', '0100', // if_tsresol, length 1
        '09000000', //  10^-9 s + 3 pad bytes
        '00000000', //  opt_endofopt
        '34000000', //  total length again
      ].join(''),
    );
  });

  it('EPB with comment and flags', () => {
    const frame = Uint8Array.from([1, 2, 3, 4, 5]);
    const t = 0x1_0000_0000 * 3 + 7; // high 3, low 7
    const b = epbBlock(2, t, frame, EPB_DIR_OUTBOUND, 'héllo');
    // 28 fixed + data 8 + comment 4+8 + flags 8 + endofopt 4 + trailer 4 = 64
    expect(b.length).toBe(64);
    expect(hex(b)).toBe(
      [
        '06000000', //  block type EPB
        '40000000', //  total length 64
        '02000000', //  interface id 2
        '03000000', //  timestamp high
        '07000000', //  timestamp low
        '05000000', //  captured length 5
        '05000000', //  original length 5
        '0102030405000000', // data + 3 pad bytes
        '0100', '0600', // opt_comment, length 6 (UTF-8 "héllo")
        '68c3a96c6c6f0000', // "héllo" + 2 pad bytes
        '0200', '0400', // epb_flags, length 4
        '02000000', //  outbound
        '00000000', //  opt_endofopt
        '40000000', //  total length again
      ].join(''),
    );
  });

  it('EPB without options has no endofopt', () => {
    const b = epbBlock(0, 0, new Uint8Array(4));
    expect(b.length).toBe(36);
    expect(hex(b.subarray(28))).toBe('00000000' + '24000000');
  });

  it('EPB truncates to snaplen, keeps original length', () => {
    const b = epbBlock(0, 5, new Uint8Array(10).fill(0xee), EPB_DIR_INBOUND, undefined, 6);
    const dv = new DataView(b.buffer);
    expect(dv.getUint32(20, true)).toBe(6);
    expect(dv.getUint32(24, true)).toBe(10);
    expect(b.length).toBe(28 + 8 + 8 + 4 + 4);
  });

  it('large timestamps split exactly', () => {
    const t = Number.MAX_SAFE_INTEGER;
    const dv = new DataView(epbBlock(0, t, new Uint8Array(0)).buffer);
    expect((BigInt(dv.getUint32(12, true)) << 32n) | BigInt(dv.getUint32(16, true))).toBe(BigInt(t));
  });

  it('very long comments are cut at a UTF-8 boundary to fit u16 option length', () => {
    const b = epbBlock(0, 0, new Uint8Array(0), undefined, 'é'.repeat(40000));
    const dv = new DataView(b.buffer);
    expect(dv.getUint16(28, true)).toBe(1);
    expect(dv.getUint16(30, true)).toBe(65534);
  });
});

describe('utf8Length', () => {
  it('equals Buffer.byteLength for ASCII, non-ASCII, surrogate pairs, lone surrogates and long strings', () => {
    for (const t of ['', '#12 carrying #11 xmit node-1/host/eth0', '\u007f', '\u0080', 'a → b', '😀', '\ud800x', 'é'.repeat(200), 'y'.repeat(257)]) {
      expect(utf8Length(t)).toBe(Buffer.byteLength(t, 'utf8'));
    }
  });
});
