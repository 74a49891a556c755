/**
 * VXLAN-aware frame normalisation for the kernel comparison (pure): compare.ts normalises
 * the outer headers (the outer UDP source port, a flow hash, is renumbered with the other
 * ports in 32768–60999) but treats the UDP payload as opaque bytes, and the inner frame
 * carries the same random fields as any other (IP ID, TCP ISNs and timestamps, ping ids,
 * checksums). This rewrites the inner frame of every VXLAN datagram (UDP to `port`) with
 * its own per-interface Normaliser, then refreshes the outer UDP checksum so the result is
 * still a valid frame for compareInterface.
 */
import { Normaliser, inetChecksum } from './compare.js';

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;

export function normaliseVxlanFrames(frames: { data: Uint8Array }[], port = 8472, verifyChecksums = false): { data: Uint8Array }[] {
  const inner = new Normaliser({ verifyChecksums });
  return frames.map((f) => {
    const b = f.data;
    if (b.length < 14 + 20 + 16 + 14 || u16(b, 12) !== 0x0800 || b[23] !== 17) return f;
    const ihl = (b[14]! & 15) * 4;
    const uh = 14 + ihl;
    if (u16(b, uh + 2) !== port || b.length < uh + 16 + 14) return f;
    const ulen = u16(b, uh + 4);
    const end = Math.min(b.length, uh + ulen);
    const n = inner.normalise(b.slice(uh + 16, end));
    if (n.problems.length) throw new Error(`inner frame: ${n.problems.join('; ')}`);
    const out = b.slice();
    out.set(n.bytes, uh + 16);
    // Outer UDP checksum over the pseudo header and the rewritten datagram.
    out[uh + 6] = 0; out[uh + 7] = 0;
    const pseudo = new Uint8Array(12 + ulen);
    pseudo.set(out.subarray(26, 34), 0);
    pseudo[9] = 17;
    pseudo[10] = ulen >> 8; pseudo[11] = ulen & 255;
    pseudo.set(out.subarray(uh, uh + ulen), 12);
    let c = inetChecksum(pseudo, 0, pseudo.length);
    if (c === 0) c = 0xffff;
    out[uh + 6] = c >> 8; out[uh + 7] = c & 255;
    return { data: out };
  });
}

/**
 * Replaces the TCP window field of every segment sent from TCP port `sport` that is not
 * a SYN (plain IPv4 frames and the inner frames of VXLAN datagrams to `vxlanPort`), with
 * the TCP checksum updated incrementally (RFC 1624). For a known divergence of the TCP
 * model that is not the vxlan device's (see vxlan.kernel.test.ts), applied to both sides.
 */
export function maskTcpWindow(frames: { data: Uint8Array }[], sport: number, vxlanPort = 8472): { data: Uint8Array }[] {
  const fix = (b: Uint8Array, eth: number): void => {
    if (b.length < eth + 14 + 20 || u16(b, eth + 12) !== 0x0800) return;
    const ip = eth + 14;
    const ihl = (b[ip]! & 15) * 4;
    const l4 = ip + ihl;
    if (b[ip + 9] === 17 && b.length >= l4 + 16 && u16(b, l4 + 2) === vxlanPort) { fix(b, l4 + 16); return; }
    if (b[ip + 9] !== 6 || b.length < l4 + 20 || u16(b, l4) !== sport || (b[l4 + 13]! & 0x02)) return;
    const old = u16(b, l4 + 14);
    const hc = u16(b, l4 + 16);
    let s = (~hc & 0xffff) + (~old & 0xffff) + 0;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    const nc = ~s & 0xffff;
    b[l4 + 14] = 0; b[l4 + 15] = 0;
    b[l4 + 16] = nc >> 8; b[l4 + 17] = nc & 255;
  };
  return frames.map((f) => { const d = f.data.slice(); fix(d, 0); return { data: d }; });
}
