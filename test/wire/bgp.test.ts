/**
 * BGP wire format: byte-exact encodings written by hand from RFC 4271/5492/
 * 6793/7911/4456 and from REFERENCE §13 (what BIRD 1.6.8/2.0.12 put on the
 * wire as Calico configures them), round trips, hostile-input fuzzing of the
 * decoder and the stream reassembler, and Wireshark's verdict on every kind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AS_TRANS, BgpError, BgpReassembler, decodeBgp, emitBgp, encodeBgp, bgpMessageLen, isEndOfRib, notifyName, bgpSummary, openAsn,
  type BgpCapability, type BgpMessage, type BgpOpen, type BgpUpdate, type BgpAttr, type BgpCodecOptions,
} from '../../src/wire/bgp.js';
import { fromHex, toHex, parseIp } from '../../src/wire/bytes.js';
import { CaptureSet } from '../../src/trace/capture.js';
import { checkCapture, itTshark, runTshark } from '../helpers/tshark.js';
import { ethernet, ipv4, tcp, TCP_ACK, TCP_PSH, MAC_A, MAC_B } from '../trace/frames.js';

const ip = (s: string) => parseIp(s)!;
const hex = (s: string) => fromHex(s.replace(/\s+/g, ''));
const MARKER = 'ffffffffffffffffffffffffffffffff';
const ADDPATH: BgpCodecOptions = { as4: true, addPath: true };

/** BIRD's capabilities as REFERENCE §13 describes them (graceful restart recovering, `bird -R`). */
function birdCaps(asn: number): BgpCapability[] {
  return [
    { code: 1, afi: 1, safi: 1 },
    { code: 2 },
    { code: 64, restartFlags: 0x8, restartTime: 120, families: [{ afi: 1, safi: 1, flags: 0x80 }] },
    { code: 65, asn },
    { code: 69, families: [{ afi: 1, safi: 1, sendReceive: 3 }] },
    { code: 70 },
    { code: 71, families: [] },
  ];
}

describe('BIRD OPEN (REFERENCE §13)', () => {
  // 63 bytes: header, version 4, My AS 64512 (fc00), hold 240 (00f0), id 192.168.70.11,
  // opt param len 34: one Capabilities parameter (02, 32) holding
  //   01 04 0001 00 01        multiprotocol IPv4 unicast
  //   02 00                   route refresh
  //   40 06 8078 0001 01 80   graceful restart: R bit, restart time 120; IPv4 unicast, forwarding preserved
  //   41 04 0000fc00          4-octet AS 64512
  //   45 04 0001 01 03        ADD-PATH IPv4 unicast send+receive
  //   46 00                   enhanced route refresh
  //   47 00                   long-lived graceful restart, empty
  const BIRD_OPEN = hex(`${MARKER} 003f 01  04 fc00 00f0 c0a8460b 22  02 20
    01 04 0001 00 01   02 00   40 06 8078 0001 01 80   41 04 0000fc00   45 04 0001 01 03   46 00   47 00`);
  const open: BgpOpen = { type: 'open', version: 4, myAs: 64512, holdTime: 240, bgpId: ip('192.168.70.11'), capabilities: birdCaps(64512) };

  it('is emitted byte for byte, into a buffer pre-filled with 0xa5', () => {
    expect(BIRD_OPEN.length).toBe(63);
    const b = new Uint8Array(80).fill(0xa5);
    expect(emitBgp(open, b, 5)).toBe(63);
    expect(toHex(b, 5, 63)).toBe(toHex(BIRD_OPEN));
    expect(b[4]).toBe(0xa5);
    expect(b[68]).toBe(0xa5);
  });

  it('decodes to the same representation', () => {
    expect(decodeBgp(BIRD_OPEN)).toEqual(open);
    expect(openAsn(open)).toBe(64512);
  });

  it('puts AS_TRANS in My AS for a 4-octet AS', () => {
    const o: BgpOpen = { ...open, myAs: AS_TRANS, capabilities: birdCaps(4200000001) };
    const b = encodeBgp(o);
    expect(toHex(b, 20, 2)).toBe('5ba0');
    expect(openAsn(decodeBgp(b) as BgpOpen)).toBe(4200000001);
  });
});

describe('UPDATE encodings', () => {
  // BIRD's announcement of 10.48.1.0/26 from 192.168.70.11 on an ADD-PATH session, path id 2:
  // withdrawn len 0, attr len 21: ORIGIN IGP (40 01 01 00), AS_PATH empty (40 02 00),
  // NEXT_HOP (40 03 04 c0a8460b), LOCAL_PREF 100 (40 05 04 00000064); NLRI 00000002 1a 0a300100.
  const ANNOUNCE = hex(`${MARKER} 0035 02  0000  0015  40010100 400200 400304c0a8460b 40050400000064  00000002 1a 0a300100`);
  const announce: BgpUpdate = {
    type: 'update', withdrawn: [],
    attrs: [
      { code: 1, flags: 0x40, origin: 0 },
      { code: 2, flags: 0x40, segments: [] },
      { code: 3, flags: 0x40, nextHop: ip('192.168.70.11') },
      { code: 5, flags: 0x40, localPref: 100 },
    ],
    nlri: [{ addr: ip('10.48.1.0'), len: 26, pathId: 2 }],
  };

  it('announcement with a path identifier', () => {
    expect(ANNOUNCE.length).toBe(53);
    expect(toHex(encodeBgp(announce, ADDPATH))).toBe(toHex(ANNOUNCE));
    expect(decodeBgp(ANNOUNCE, 0, ADDPATH)).toEqual(announce);
  });

  it('reflected: ORIGINATOR_ID and CLUSTER_LIST with flags 0x80', () => {
    const refl: BgpUpdate = {
      ...announce,
      attrs: [...announce.attrs, { code: 9, flags: 0x80, originatorId: ip('192.168.70.11') }, { code: 10, flags: 0x80, clusterList: [ip('1.0.0.1')] }],
      nlri: [{ addr: ip('10.48.1.0'), len: 26, pathId: 5 }],
    };
    const b = encodeBgp(refl, ADDPATH);
    expect(toHex(b)).toBe(toHex(hex(`${MARKER} 0043 02 0000 0023 40010100 400200 400304c0a8460b 40050400000064
      800904c0a8460b 800a0401000001  00000005 1a 0a300100`)));
    expect(decodeBgp(b, 0, ADDPATH)).toEqual(refl);
  });

  it('withdrawal reuses the path id; classic encoding without ADD-PATH', () => {
    const w: BgpUpdate = { type: 'update', withdrawn: [{ addr: ip('10.48.1.0'), len: 26, pathId: 2 }], attrs: [], nlri: [] };
    expect(toHex(encodeBgp(w, ADDPATH))).toBe(toHex(hex(`${MARKER} 0020 02 0009 00000002 1a 0a300100 0000`)));
    const c: BgpUpdate = { type: 'update', withdrawn: [{ addr: ip('10.48.1.0'), len: 26 }, { addr: 0, len: 0 }], attrs: [], nlri: [] };
    expect(toHex(encodeBgp(c))).toBe(toHex(hex(`${MARKER} 001d 02 0006 1a 0a300100 00 0000`)));
    expect(decodeBgp(encodeBgp(c))).toEqual(c);
  });

  it('End-of-RIB is a 23-byte empty UPDATE', () => {
    const eor: BgpUpdate = { type: 'update', withdrawn: [], attrs: [], nlri: [] };
    const b = encodeBgp(eor);
    expect(toHex(b)).toBe(`${MARKER}00170200000000`);
    const d = decodeBgp(b) as BgpUpdate;
    expect(isEndOfRib(d)).toBe(true);
    expect(bgpSummary(d)).toBe('UPDATE End-of-RIB');
  });

  it('eBGP: AS_SEQUENCE with 2-octet or 4-octet ASNs, MED, unknown attributes kept verbatim', () => {
    const u: BgpUpdate = {
      type: 'update', withdrawn: [],
      attrs: [
        { code: 1, flags: 0x40, origin: 0 },
        { code: 2, flags: 0x40, segments: [{ type: 2, asns: [64513, 64512] }] },
        { code: 3, flags: 0x40, nextHop: ip('192.168.70.1') },
        { code: 4, flags: 0x80, med: 7 },
        { code: 99, flags: 0xc0 | 0x20, data: hex('deadbeef'), raw: true },
      ],
      nlri: [{ addr: ip('10.48.0.0'), len: 16 }],
    };
    const two = encodeBgp(u, { as4: false, addPath: false });
    expect(toHex(two)).toBe(toHex(hex(`${MARKER} 003c 02 0000 0022 40010100 400206 0202 fc01 fc00 400304c0a84601 80040400000007 e06304deadbeef 10 0a30`)));
    const four = encodeBgp(u, { as4: true, addPath: false });
    expect(toHex(four)).toBe(toHex(hex(`${MARKER} 0040 02 0000 0026 40010100 40020a 0202 0000fc01 0000fc00 400304c0a84601 80040400000007 e06304deadbeef 10 0a30`)));
    expect(decodeBgp(two)).toEqual(u);
    expect(decodeBgp(four, 0, { as4: true, addPath: false })).toEqual(u);
  });

  it('extended length when a value exceeds 255 bytes (and kept when sent without need)', () => {
    const ids = Array.from({ length: 70 }, (_, i) => i + 1);
    const u: BgpUpdate = { type: 'update', withdrawn: [], attrs: [{ code: 10, flags: 0x80, clusterList: ids }], nlri: [] };
    const b = encodeBgp(u);
    expect(toHex(b, 23, 4)).toBe('900a0118'); // flags 0x90, type 10, length 280
    const d = decodeBgp(b) as BgpUpdate;
    expect(d.attrs[0]).toEqual({ code: 10, flags: 0x90, clusterList: ids });
    const small: BgpUpdate = { type: 'update', withdrawn: [], attrs: [{ code: 5, flags: 0x50, localPref: 1 }], nlri: [] };
    expect(toHex(encodeBgp(small), 23, 8)).toBe('5005000400000001');
    expect(decodeBgp(encodeBgp(small))).toEqual(small);
  });
});

describe('NOTIFICATION, KEEPALIVE, ROUTE-REFRESH', () => {
  it('KEEPALIVE is the 19-byte header', () => {
    expect(toHex(encodeBgp({ type: 'keepalive' }))).toBe(`${MARKER}001304`);
    expect(decodeBgp(hex(`${MARKER}001304`))).toEqual({ type: 'keepalive' });
  });
  it('NOTIFICATION codes with names', () => {
    expect(toHex(encodeBgp({ type: 'notification', code: 6, subcode: 2, data: new Uint8Array(0) }))).toBe(`${MARKER}0015030602`);
    expect(toHex(encodeBgp({ type: 'notification', code: 4, subcode: 0, data: new Uint8Array(0) }))).toBe(`${MARKER}0015030400`);
    expect(notifyName(6, 7)).toBe('Cease/Connection Collision Resolution');
    expect(notifyName(4, 0)).toBe('Hold Timer Expired/Unspecific');
    expect(notifyName(1, 2)).toBe('Message Header Error/Bad Message Length');
    expect(notifyName(42, 1)).toBe('error 42/1');
    const n = decodeBgp(hex(`${MARKER}0017030102 1000`));
    expect(n).toEqual({ type: 'notification', code: 1, subcode: 2, data: hex('1000') });
    expect(bgpSummary(n)).toBe('NOTIFICATION 1/2 Message Header Error/Bad Message Length');
  });
  it('ROUTE-REFRESH (enhanced: subtype BoRR)', () => {
    const b = encodeBgp({ type: 'route-refresh', afi: 1, subtype: 1, safi: 1 });
    expect(toHex(b)).toBe(`${MARKER}00170500010101`);
    expect(decodeBgp(b)).toEqual({ type: 'route-refresh', afi: 1, subtype: 1, safi: 1 });
  });
});

describe('errors on received bytes (RFC 4271 §6)', () => {
  const err = (b: Uint8Array, o?: BgpCodecOptions): BgpError => {
    try { decodeBgp(b, 0, o); } catch (e) { expect(e).toBeInstanceOf(BgpError); return e as BgpError; }
    throw new Error('decoded');
  };
  const codes = (e: BgpError) => [e.code, e.subcode, toHex(e.data)];

  it('header: marker, length, type', () => {
    expect(codes(err(hex(`${'ff'.repeat(15)}fe 001304`)))).toEqual([1, 1, '']);
    expect(codes(err(hex(`${MARKER}001204`)))).toEqual([1, 2, '0012']);
    expect(codes(err(hex(`${MARKER}1001 04`)))).toEqual([1, 2, '1001']);
    expect(codes(err(hex(`${MARKER}0014 04 00`)))).toEqual([1, 2, '0014']); // KEEPALIVE must be 19
    expect(codes(err(hex(`${MARKER}0013 02`)))).toEqual([1, 2, '0013']); // UPDATE below 23
    expect(codes(err(hex(`${MARKER}0013 09`)))).toEqual([1, 3, '09']);
    expect(codes(err(hex(`${MARKER}0020 04`)))).toEqual([1, 2, '0020']);
  });

  it('OPEN: version, hold time, identifier, optional parameters', () => {
    expect(codes(err(hex(`${MARKER}001d01 03 fc00 00f0 c0a8460b 00`)))).toEqual([2, 1, '0004']);
    expect(codes(err(hex(`${MARKER}001d01 04 fc00 0002 c0a8460b 00`)))).toEqual([2, 6, '']);
    expect(codes(err(hex(`${MARKER}001d01 04 fc00 00f0 00000000 00`)))).toEqual([2, 3, '']);
    expect(codes(err(hex(`${MARKER}001f01 04 fc00 00f0 c0a8460b 02 0300`)))).toEqual([2, 4, '']);
    expect(err(hex(`${MARKER}001f01 04 fc00 00f0 c0a8460b 02 0201`)).subcode).toBe(0); // capability overruns
    expect(err(hex(`${MARKER}001e01 04 fc00 00f0 c0a8460b 05 02`)).code).toBe(1); // opt len disagrees
  });

  it('UPDATE: attribute list, flags, lengths, missing and unknown well-known attributes, NLRI', () => {
    const upd = (body: string) => hex(`${MARKER}${(19 + body.replace(/\s+/g, '').length / 2).toString(16).padStart(4, '0')}02${body}`);
    expect(codes(err(upd('0005 0000')))).toEqual([3, 1, '']);
    expect(codes(err(upd('0000 0006 40010100')))).toEqual([3, 1, '']);
    expect(codes(err(upd('0000 0004 80010100')))).toEqual([3, 4, '80010100']);
    expect(codes(err(upd('0000 0005 4001020000')))).toEqual([3, 5, '4001020000']);
    expect(codes(err(upd('0000 0004 40010103')))).toEqual([3, 6, '40010103']);
    expect(codes(err(upd('0000 0004 40630100')))).toEqual([3, 2, '40630100']);
    expect(codes(err(upd('0000 0008 40010100 40010100')))).toEqual([3, 1, '']);
    expect(codes(err(upd('0000 0004 40010100 100a00')))).toEqual([3, 3, '02']);
    expect(codes(err(upd('0000 0000 21 0a000000')))).toEqual([3, 10, '']);
    expect(codes(err(upd('0000 0000 18 0a00')))).toEqual([3, 10, '']);
    expect(codes(err(upd('0000 0005 4002020200')))).toEqual([3, 11, '']);
    expect(codes(err(upd('0000 0000 000000')))).toEqual([3, 3, '01']); // three default routes without attributes
    expect(codes(err(upd('0000 0000 000000'), ADDPATH))).toEqual([3, 10, '']); // ADD-PATH id truncated
  });

  it('a truncated buffer is a length error, not an exception of another kind', () => {
    expect(codes(err(hex(`${MARKER}0020 02 0000`)))).toEqual([1, 2, '0020']);
    expect(err(hex('ffff')).code).toBe(1);
  });
});

// ─── Properties ──────────────────────────────────────────────────────────────

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const prefix = (addPath: boolean) => fc.record({ len: fc.integer({ min: 0, max: 32 }), addr: u32, pathId: u32 }).map(({ len, addr, pathId }) => {
  const a = len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
  return addPath ? { addr: a, len, pathId } : { addr: a, len };
});
const asn = (as4: boolean) => (as4 ? u32 : fc.integer({ min: 0, max: 0xffff }));
function attrs(as4: boolean): fc.Arbitrary<BgpAttr[]> {
  const ext = fc.boolean().map((e) => (e ? 0x10 : 0));
  const one: fc.Arbitrary<BgpAttr>[] = [
    fc.tuple(ext, fc.integer({ min: 0, max: 2 })).map(([e, origin]) => ({ code: 1, flags: 0x40 | e, origin })),
    fc.tuple(ext, fc.array(fc.record({ type: fc.integer({ min: 1, max: 4 }), asns: fc.array(asn(as4), { minLength: 1, maxLength: 5 }) }), { maxLength: 3 }))
      .map(([e, segments]) => ({ code: 2, flags: 0x40 | e, segments })),
    fc.tuple(ext, u32).map(([e, nextHop]) => ({ code: 3, flags: 0x40 | e, nextHop })),
    fc.tuple(ext, u32).map(([e, med]) => ({ code: 4, flags: 0x80 | e, med })),
    fc.tuple(ext, u32).map(([e, localPref]) => ({ code: 5, flags: 0x40 | e, localPref })),
    ext.map((e) => ({ code: 6, flags: 0x40 | e })),
    fc.tuple(ext, asn(as4), u32).map(([e, a, address]) => ({ code: 7, flags: 0xc0 | e, asn: a, address })),
    fc.tuple(ext, u32).map(([e, originatorId]) => ({ code: 9, flags: 0x80 | e, originatorId })),
    fc.tuple(ext, fc.array(u32, { maxLength: 8 })).map(([e, clusterList]) => ({ code: 10, flags: 0x80 | e, clusterList })),
    fc.tuple(fc.integer({ min: 11, max: 255 }), fc.integer({ min: 0, max: 0x7f }), fc.uint8Array({ maxLength: 300 }))
      .map(([code, f, data]) => ({ code, flags: 0x80 | (f & 0x70), data, raw: true as const })),
  ];
  return fc.shuffledSubarray(one.map((_, i) => i)).chain((idx) => fc.tuple(...idx.map((i) => one[i])) as fc.Arbitrary<BgpAttr[]>);
}
function update(o: BgpCodecOptions): fc.Arbitrary<BgpUpdate> {
  return fc.record({ withdrawn: fc.array(prefix(o.addPath), { maxLength: 10 }), attrs: attrs(o.as4), nlri: fc.array(prefix(o.addPath), { maxLength: 10 }) })
    .map(({ withdrawn, attrs: a, nlri }) => {
      // NLRI needs the mandatory attributes.
      const has = (c: number) => a.some((x) => x.code === c);
      return { type: 'update' as const, withdrawn, attrs: a, nlri: has(1) && has(2) && has(3) ? nlri : [] };
    });
}
const capability: fc.Arbitrary<BgpCapability> = fc.oneof(
  fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.integer({ min: 0, max: 255 }) }).map((x) => ({ code: 1 as const, ...x })),
  fc.constant({ code: 2 as const }),
  fc.record({ restartFlags: fc.integer({ min: 0, max: 15 }), restartTime: fc.integer({ min: 0, max: 0xfff }), families: fc.array(fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.integer({ min: 0, max: 255 }), flags: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }) })
    .map((x) => ({ code: 64 as const, ...x })),
  u32.map((a) => ({ code: 65 as const, asn: a })),
  fc.array(fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.integer({ min: 0, max: 255 }), sendReceive: fc.integer({ min: 1, max: 3 }) }), { maxLength: 3 }).map((families) => ({ code: 69 as const, families })),
  fc.constant({ code: 70 as const }),
  fc.array(fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.integer({ min: 0, max: 255 }), flags: fc.integer({ min: 0, max: 255 }), staleTime: fc.integer({ min: 0, max: 0xffffff }) }), { maxLength: 2 }).map((families) => ({ code: 71 as const, families })),
  fc.tuple(fc.integer({ min: 72, max: 255 }), fc.uint8Array({ maxLength: 10 })).map(([code, data]) => ({ code, data, raw: true as const })),
);
const open: fc.Arbitrary<BgpOpen> = fc.record({
  myAs: fc.integer({ min: 0, max: 0xffff }), holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })), bgpId: fc.integer({ min: 1, max: 0xffffffff }),
  capabilities: fc.array(capability, { maxLength: 8 }),
}).map((x) => ({ type: 'open' as const, version: 4, ...x }));
const message = (o: BgpCodecOptions): fc.Arbitrary<BgpMessage> => fc.oneof(
  open,
  update(o),
  fc.record({ code: fc.integer({ min: 0, max: 255 }), subcode: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 40 }) }).map((x) => ({ type: 'notification' as const, ...x })),
  fc.constant({ type: 'keepalive' as const }),
  fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), subtype: fc.integer({ min: 0, max: 255 }), safi: fc.integer({ min: 0, max: 255 }) }).map((x) => ({ type: 'route-refresh' as const, ...x })),
);
const opts: fc.Arbitrary<BgpCodecOptions> = fc.record({ as4: fc.boolean(), addPath: fc.boolean() });
const sized = (o: BgpCodecOptions) => message(o).filter((m) => bgpMessageLen(m, o) <= 4096);

describe('decoded attribute lists are shared', () => {
  const upd = (nh: string, pfx: number): BgpUpdate => ({
    type: 'update', withdrawn: [], nlri: [{ addr: ip(`10.48.${pfx}.0`), len: 26, pathId: pfx }],
    attrs: [{ code: 1, flags: 0x40, origin: 0 }, { code: 2, flags: 0x40, segments: [] }, { code: 3, flags: 0x40, nextHop: ip(nh) },
      { code: 5, flags: 0x40, localPref: 100 }, { code: 9, flags: 0x80, originatorId: ip(nh) }, { code: 10, flags: 0x80, clusterList: [ip('224.0.0.1')] }],
  });
  it('the same attribute bytes decode to one list (per AS width); other bytes to another; the rest of the UPDATE is its own', () => {
    const a = decodeBgp(encodeBgp(upd('192.168.70.17', 7), ADDPATH), 0, ADDPATH) as BgpUpdate;
    const b = decodeBgp(encodeBgp(upd('192.168.70.17', 8), ADDPATH), 0, ADDPATH) as BgpUpdate;
    const c = decodeBgp(encodeBgp(upd('192.168.70.18', 7), ADDPATH), 0, ADDPATH) as BgpUpdate;
    const classic = decodeBgp(encodeBgp(upd('192.168.70.17', 7), { as4: false, addPath: true }), 0, { as4: false, addPath: true }) as BgpUpdate;
    expect(b.attrs).toBe(a.attrs);
    expect(b.nlri).toEqual([{ addr: ip('10.48.8.0'), len: 26, pathId: 8 }]);
    expect(c.attrs).not.toBe(a.attrs);
    expect(classic.attrs).not.toBe(a.attrs);
    expect(a.attrs).toEqual(upd('192.168.70.17', 7).attrs);
    expect(c.attrs).toEqual(upd('192.168.70.18', 7).attrs);
  });
  it('a list that failed to decode is not kept: the same bytes fail again', () => {
    const bad = encodeBgp(upd('192.168.70.17', 7), ADDPATH);
    const at = 19 + 2 + 2; // first attribute: ORIGIN's flags
    bad[at] = 0x80; // ORIGIN with the optional flag: 3/4
    for (let i = 0; i < 2; i++) expect(() => decodeBgp(bad, 0, ADDPATH)).toThrow(BgpError);
  });
});

describe('properties', () => {
  it('decode(encode(m)) = m for every message and negotiation, and lengths agree', () => {
    fc.assert(fc.property(opts.chain((o) => fc.tuple(fc.constant(o), sized(o))), ([o, m]) => {
      const b = encodeBgp(m, o);
      expect(b.length).toBe(bgpMessageLen(m, o));
      expect(decodeBgp(b, 0, o)).toEqual(m);
    }), { numRuns: 600 });
  });

  it('hostile bytes: the decoder throws nothing but BgpError with a known code', () => {
    const check = (b: Uint8Array, o: BgpCodecOptions) => {
      try { decodeBgp(b, 0, o); } catch (e) {
        if (!(e instanceof BgpError)) throw e;
        expect(e.code).toBeGreaterThanOrEqual(1);
        expect(e.code).toBeLessThanOrEqual(3);
      }
    };
    // Random bytes behind a valid marker and a plausible length/type.
    fc.assert(fc.property(opts, fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 200 }), (o, type, body) => {
      const b = new Uint8Array(19 + body.length);
      b.fill(0xff, 0, 16); b[16] = b.length >> 8; b[17] = b.length & 0xff; b[18] = type; b.set(body, 19);
      check(b, o);
    }), { numRuns: 3000 });
    // Valid messages with bytes flipped or cut short.
    fc.assert(fc.property(opts.chain((o) => fc.tuple(fc.constant(o), sized(o), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat())),
      ([o, m, flips, cut]) => {
        const b = encodeBgp(m, o);
        for (const [at, v] of flips) b[at % b.length] = v;
        check(b, o);
        check(b.subarray(0, cut % (b.length + 1)), o);
      }), { numRuns: 2000 });
    // Entirely random buffers.
    fc.assert(fc.property(opts, fc.uint8Array({ maxLength: 64 }), (o, b) => check(b, o)), { numRuns: 1000 });
  });

  it('the reassembler cuts any split of a stream into the same messages', () => {
    fc.assert(fc.property(fc.array(sized(ADDPATH), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 20 }), (ms, cuts) => {
      const stream = ms.map((m) => encodeBgp(m, ADDPATH));
      const all = new Uint8Array(stream.reduce((n, x) => n + x.length, 0));
      let o = 0;
      for (const x of stream) { all.set(x, o); o += x.length; }
      const r = new BgpReassembler();
      const got: string[] = [];
      let at = 0, i = 0;
      while (at < all.length) {
        const n = cuts[i++ % cuts.length];
        // The pushed array is the caller's: scribbled over once the messages are read (a
        // message is a view valid until the next push; a partial one must be kept as a copy).
        const chunk = all.slice(at, at + n);
        r.push(chunk);
        at += n;
        for (let c = r.next(); c; c = r.next()) {
          expect(c.kind).toBe('message');
          if (c.kind === 'message') got.push(toHex(c.bytes));
        }
        chunk.fill(0xa5);
      }
      expect(got).toEqual(stream.map((g) => toHex(g)));
      expect(r.pending).toBe(0);
    }), { numRuns: 300 });
  });

  it('the reassembler reports a header error once and then yields nothing', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 19, maxLength: 300 }), fc.integer({ min: 1, max: 50 }), (junk, step) => {
      const r = new BgpReassembler();
      let errors = 0;
      for (let at = 0; at < junk.length; at += step) {
        r.push(junk.subarray(at, at + step));
        for (let c = r.next(); c; c = r.next()) {
          if (c.kind === 'error') { errors++; expect(c.error).toBeInstanceOf(BgpError); expect(c.error.code).toBe(1); }
        }
      }
      expect(errors).toBeLessThanOrEqual(1);
      if (junk.subarray(0, 16).some((x) => x !== 0xff)) expect(errors).toBe(1);
    }), { numRuns: 1000 });
  });

  it('several messages in one chunk, one split across chunks', () => {
    const ka = encodeBgp({ type: 'keepalive' });
    const eor = encodeBgp({ type: 'update', withdrawn: [], attrs: [], nlri: [] });
    const r = new BgpReassembler();
    const both = new Uint8Array(ka.length + eor.length + 5);
    both.set(ka); both.set(eor, ka.length); both.set(ka.subarray(0, 5), ka.length + eor.length);
    r.push(both);
    expect(r.next()).toEqual({ kind: 'message', bytes: ka });
    expect(r.next()).toEqual({ kind: 'message', bytes: eor });
    expect(r.next()).toBeNull();
    r.push(ka.subarray(5));
    expect(r.next()).toEqual({ kind: 'message', bytes: ka });
    expect(r.pending).toBe(0);
  });
});

// ─── Wireshark ───────────────────────────────────────────────────────────────

describe('tshark decodes every message kind', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-bgp-wire-')); });
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  itTshark('OPEN, UPDATE (plain, reflected, withdraw, End-of-RIB, eBGP), NOTIFICATION, KEEPALIVE, ROUTE-REFRESH: no malformed or expert errors', async () => {
    const A: [number, number, number, number] = [192, 168, 70, 11], B: [number, number, number, number] = [192, 168, 70, 12];
    // Without ADD-PATH here (Wireshark cannot know from a capture without the OPENs which
    // sessions carry path ids; the emulated captures in test/calico/bgp check that case).
    const nh = ip('192.168.70.11');
    const base: BgpAttr[] = [{ code: 1, flags: 0x40, origin: 0 }, { code: 2, flags: 0x40, segments: [] }, { code: 3, flags: 0x40, nextHop: nh }, { code: 5, flags: 0x40, localPref: 100 }];
    const o: BgpCodecOptions = { as4: true, addPath: false };
    const msgs: BgpMessage[] = [
      { type: 'open', version: 4, myAs: 64512, holdTime: 240, bgpId: nh, capabilities: birdCaps(64512).filter((c) => c.code !== 69) },
      { type: 'keepalive' },
      { type: 'update', withdrawn: [], attrs: base, nlri: [{ addr: ip('10.48.1.0'), len: 26 }] },
      { type: 'update', withdrawn: [], attrs: [...base, { code: 9, flags: 0x80, originatorId: nh }, { code: 10, flags: 0x80, clusterList: [ip('1.0.0.1')] }], nlri: [{ addr: ip('10.48.2.0'), len: 26 }] },
      { type: 'update', withdrawn: [], attrs: [{ code: 1, flags: 0x40, origin: 0 }, { code: 2, flags: 0x40, segments: [{ type: 2, asns: [64513] }] }, { code: 3, flags: 0x40, nextHop: ip('192.168.70.1') }, { code: 4, flags: 0x80, med: 10 }], nlri: [{ addr: ip('10.0.0.0'), len: 8 }] },
      { type: 'update', withdrawn: [{ addr: ip('10.48.1.0'), len: 26 }], attrs: [], nlri: [] },
      { type: 'update', withdrawn: [], attrs: [], nlri: [] },
      { type: 'route-refresh', afi: 1, subtype: 0, safi: 1 },
      { type: 'notification', code: 6, subcode: 2, data: new Uint8Array(0) },
    ];
    const c = new CaptureSet({ dir, pcap: true, pcapng: false });
    const eth0 = c.iface('n1', 'host', 'eth0');
    let seq = 1000;
    msgs.forEach((m, i) => {
      const data = encodeBgp(m, o);
      const f = ethernet(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(A, B, 40000, 179, seq, 5000, TCP_ACK | TCP_PSH, data)));
      seq += data.length;
      c.record(eth0, (i + 1) * 1_000_000, f, 0, f.length, 'out', '');
    });
    const [file] = c.close().files;
    const { packets, problems } = await checkCapture(file);
    expect(problems).toEqual([]);
    expect(packets).toBe(msgs.length);
    const out = await runTshark(['-r', file, '-n', '-T', 'fields', '-E', 'separator=|', '-e', 'bgp.type', '-e', 'bgp.open.myas', '-e', 'bgp.open.holdtime',
      '-e', 'bgp.nlri_prefix', '-e', 'bgp.withdrawn_prefix', '-e', 'bgp.update.path_attribute.originator_id', '-e', 'bgp.path_attribute.cluster_id', '-e', 'bgp.notify.major_error', '-e', 'bgp.update.path_attribute.type_code']);
    const rows = out.trim().split('\n');
    expect(rows.map((r) => r.split('|')[0])).toEqual(['1', '4', '2', '2', '2', '2', '2', '5', '3']);
    expect(rows[0].split('|').slice(1, 3)).toEqual(['64512', '240']);
    expect(rows[2].split('|')[3]).toBe('10.48.1.0');
    expect(rows[2].split('|')[8]).toBe('1,2,3,5');
    expect(rows[3].split('|')[5]).toBe('192.168.70.11');
    expect(rows[5].split('|')[4]).toBe('10.48.1.0');
    expect(rows[8].split('|')[7]).toBe('6');
  }, 30_000);
});
