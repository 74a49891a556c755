/**
 * Hostile bytes on a session: a peer's header error is answered by the
 * NOTIFICATION RFC 4271 §6.1 prescribes, a bad UPDATE by §6.3's, an unexpected
 * message by an FSM error, and the connection closes; nothing throws.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TcpSock } from '../../../src/kernel/tcp.js';
import { BgpSpeaker } from '../../../src/calico/bgp/index.js';
import { BgpReassembler, decodeBgp, encodeBgp, type BgpMessage } from '../../../src/wire/bgp.js';
import { fromHex } from '../../../src/wire/bytes.js';
import { bgpLab } from './lab.js';

/** n1 runs a speaker with n2 as passive-side neighbour; n2 is a raw TCP client sending `chunks` after the OPEN exchange step `after`. */
function poke(chunks: Uint8Array[], opts: { answerOpen?: boolean; addPath?: boolean } = {}): { got: BgpMessage[]; closed: boolean; s: BgpSpeaker } {
  const lab = bgpLab(2);
  const s = new BgpSpeaker(lab.nodes[0], { routerId: lab.ips[0] });
  s.addPeer({ address: lab.ips[1], as: 64512, passive: true });
  s.start();
  const got: BgpMessage[] = [];
  const r = new BgpReassembler();
  let closed = false;
  const sock = new TcpSock(lab.nodes[1].host, {
    onConnect: (x) => {
      if (opts.answerOpen) {
        const caps = opts.addPath ? [{ code: 65 as const, asn: 64512 }, { code: 69 as const, families: [{ afi: 1, safi: 1, sendReceive: 3 }] }] : [];
        x.send(encodeBgp({ type: 'open', version: 4, myAs: 64512, holdTime: 90, bgpId: 0xc0a8460c, capabilities: caps }));
        x.send(encodeBgp({ type: 'keepalive' }));
      }
      for (const c of chunks) x.send(c);
    },
    onData: (_x, d) => { r.push(d); for (let m = r.next(); m; m = r.next()) if (m.kind === 'message') got.push(decodeBgp(m.bytes)); },
    onEnd: (x) => { closed = true; x.close(); },
  });
  lab.run(1);
  sock.connect(0xc0a8460b, 179);
  lab.run(5);
  return { got, closed, s };
}

const MARKER = 'ff'.repeat(16);

describe('hostile peer', () => {
  it('ADD-PATH path ids up to 2^32 - 1 are sources like any other: announced, kept apart, withdrawn', () => {
    const ap = { as4: true, addPath: true };
    const attrs = [
      { code: 1 as const, flags: 0x40, origin: 0 }, { code: 2 as const, flags: 0x40, segments: [] },
      { code: 3 as const, flags: 0x40, nextHop: 0xc0a8460c }, { code: 5 as const, flags: 0x40, localPref: 100 },
    ];
    const nlri = (pathId: number) => [{ addr: 0x0a300900, len: 26, pathId }];
    const r = poke([
      encodeBgp({ type: 'update', withdrawn: [], attrs, nlri: nlri(0xffffffff) }, ap),
      encodeBgp({ type: 'update', withdrawn: [], attrs, nlri: nlri(2 ** 31) }, ap),
      encodeBgp({ type: 'update', withdrawn: [], attrs, nlri: nlri(5) }, ap),
      encodeBgp({ type: 'update', withdrawn: nlri(2 ** 31), attrs: [], nlri: [] }, ap),
    ], { answerOpen: true, addPath: true });
    expect(r.got.map((m) => m.type)).not.toContain('notification');
    expect(r.s.entry('10.48.9.0/26')!.paths.map((p) => p.remotePathId)).toEqual([0xffffffff, 5]);
    expect(r.s.entry('10.48.9.0/26')!.paths.map((p) => p.id)).toEqual([3, 5]); // the withdrawn source's id 4 freed
  });

  it('a bad marker gets NOTIFICATION 1/1 and the connection is closed', () => {
    const { got, closed } = poke([fromHex(`${'00'.repeat(16)}001304`)]);
    expect(got.map((m) => m.type)).toEqual(['open', 'notification']);
    expect(got[1]).toMatchObject({ code: 1, subcode: 1 });
    expect(closed).toBe(true);
  });

  it('a bad length gets 1/2 with the length as data; a bad type 1/3', () => {
    expect(poke([fromHex(`${MARKER}000c04`)]).got[1]).toEqual({ type: 'notification', code: 1, subcode: 2, data: fromHex('000c') });
    expect(poke([fromHex(`${MARKER}001309`)]).got[1]).toEqual({ type: 'notification', code: 1, subcode: 3, data: fromHex('09') });
  });

  it('a KEEPALIVE instead of OPEN is an FSM error (5/1); a malformed UPDATE after Established gets 3/x', () => {
    expect(poke([encodeBgp({ type: 'keepalive' })]).got[1]).toMatchObject({ type: 'notification', code: 5, subcode: 1 });
    const r = poke([fromHex(`${MARKER}001b02 0000 0004 40010103`)], { answerOpen: true });
    expect(r.got.map((m) => m.type)).toEqual(['open', 'keepalive', 'update', 'notification']); // End-of-RIB before the bad UPDATE
    expect(r.got[3]).toMatchObject({ code: 3, subcode: 6, data: fromHex('40010103') });
    expect(r.closed).toBe(true);
    expect(r.s.peers[0].state).not.toBe('Established');
  });

  it('random bytes after the OPEN exchange never throw out of the speaker', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 60 }), { maxLength: 4 }), (chunks) => {
      const withMarker = chunks.map((c, i) => (i === 0 ? new Uint8Array([...fromHex(MARKER), ...c]) : c));
      const r = poke(withMarker, { answerOpen: true });
      expect(r.got[0].type).toBe('open');
    }), { numRuns: 60 });
  });
});
