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

export function normaliseVxlanFrames(frames: { data: Uint8Array }[], port = 8472, verifyChecksums = false, ephemeral?: [number, number]): { data: Uint8Array }[] {
  const inner = new Normaliser({ verifyChecksums, ...(ephemeral ? { ephemeral } : {}) });
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
 * `srcs`, when given, limits it to segments from those IPv4 source addresses.
 */
export function maskTcpWindow(frames: { data: Uint8Array }[], sport: number, vxlanPort = 8472, srcs?: ReadonlySet<string>): { data: Uint8Array }[] {
  const fix = (b: Uint8Array, eth: number): void => {
    if (b.length < eth + 14 + 20 || u16(b, eth + 12) !== 0x0800) return;
    const ip = eth + 14;
    const ihl = (b[ip]! & 15) * 4;
    const l4 = ip + ihl;
    if (b[ip + 9] === 17 && b.length >= l4 + 16 && u16(b, l4 + 2) === vxlanPort) { fix(b, l4 + 16); return; }
    if (b[ip + 9] !== 6 || b.length < l4 + 20 || u16(b, l4) !== sport || (b[l4 + 13]! & 0x02)) return;
    if (srcs && !srcs.has(`${b[ip + 12]}.${b[ip + 13]}.${b[ip + 14]}.${b[ip + 15]}`)) return;
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

/** The kernel's default net.ipv4.ip_local_port_range, which udp_flow_src_port maps the flow hash into. */
export const VXLAN_SPORT_RANGE: [number, number] = [32768, 60999];

/** Where the VXLAN header of an outer IPv4/UDP datagram to `port` starts, or -1. */
function vxlanHeaderAt(b: Uint8Array, port: number): number {
  if (b.length < 14 + 20 + 8 + 8 + 14 || u16(b, 12) !== 0x0800 || b[23] !== 17) return -1;
  if (u16(b, 20) & 0x1fff) return -1;
  const uh = 14 + (b[14]! & 15) * 4;
  if (u16(b, uh + 2) !== port || b.length < uh + 16 + 14) return -1;
  return uh + 8;
}

/** A direction-specific key of the inner flow (addresses, protocol, ports or ICMP echo id). */
function innerFlowKey(b: Uint8Array, eth: number): string {
  if (u16(b, eth + 12) !== 0x0800 || b.length < eth + 34) return `ethertype 0x${u16(b, eth + 12).toString(16)}`;
  const ip = eth + 14;
  const l4 = ip + (b[ip]! & 15) * 4;
  const a = (o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  const proto = b[ip + 9]!;
  const tail = (proto === 6 || proto === 17) && b.length >= l4 + 4
    ? `${u16(b, l4)}>${u16(b, l4 + 2)}`
    : proto === 1 && b.length >= l4 + 8 && (b[l4] === 0 || b[l4] === 8) ? `echo id ${u16(b, l4 + 4)}` : '';
  return `${a(ip + 12)}>${a(ip + 16)} proto ${proto} ${tail}`;
}

/**
 * Checks the outer UDP source port of every VXLAN datagram in one capture: inside
 * `range` (the kernel's udp_flow_src_port maps the inner flow hash into the local port
 * range) and the same for every datagram of one inner flow (the hash depends on the
 * flow only). Returns the problems (empty when fine) and the ports seen per flow.
 */
export function checkVxlanSourcePorts(frames: { data: Uint8Array }[], port = 8472, range = VXLAN_SPORT_RANGE): { problems: string[]; flows: Map<string, Set<number>> } {
  const flows = new Map<string, Set<number>>();
  const problems: string[] = [];
  frames.forEach((f, i) => {
    const vh = vxlanHeaderAt(f.data, port);
    if (vh < 0) return;
    const sport = u16(f.data, vh - 8);
    const key = innerFlowKey(f.data, vh + 8);
    if (sport < range[0] || sport > range[1]) problems.push(`frame #${i}: outer UDP source port ${sport} outside ${range[0]}-${range[1]} (${key})`);
    let s = flows.get(key);
    if (!s) flows.set(key, (s = new Set()));
    s.add(sport);
  });
  for (const [k, s] of flows) if (s.size > 1) problems.push(`inner flow ${k}: ${s.size} outer source ports (${[...s].join(', ')})`);
  return { problems, flows };
}

/**
 * Replaces the outer UDP source port of every VXLAN datagram to `port` with a placeholder:
 * 1, 2, … per direction-specific inner flow in order of first appearance (below 1024, out
 * of any renumbered range), the outer UDP checksum updated incrementally (RFC 1624; a zero
 * checksum stays zero). Which flows share a port is compared apart ({@link vxlanPortSharing}),
 * after {@link checkVxlanSourcePorts} has required one port per flow. Nothing else is touched.
 */
export function maskVxlanSourcePort(frames: { data: Uint8Array }[], port = 8472): { data: Uint8Array }[] {
  const seen = new Map<string, number>();
  return frames.map((f) => {
    const vh = vxlanHeaderAt(f.data, port);
    if (vh < 0) return f;
    const b = f.data.slice();
    const uh = vh - 8;
    const old = u16(b, uh);
    const key = innerFlowKey(b, vh + 8);
    let ph = seen.get(key);
    if (ph === undefined) seen.set(key, (ph = seen.size + 1));
    const hc = u16(b, uh + 6);
    b[uh] = ph >> 8; b[uh + 1] = ph & 255;
    if (hc !== 0) {
      let s = (~hc & 0xffff) + (~old & 0xffff) + ph;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      let nc = ~s & 0xffff;
      if (nc === 0) nc = 0xffff;
      b[uh + 6] = nc >> 8; b[uh + 7] = nc & 255;
    }
    return { data: b };
  });
}

/**
 * For every inner flow seen in both directions in one capture (in order of first
 * appearance): whether both directions' VXLAN datagrams carry the same outer source port.
 * The kernel's port is symmetric when it comes from the flow dissector's consistentified
 * hash and not when a socket's random sk_txhash was used, so this is comparable between
 * kernel and model although the port values are not. Flows are named without ephemeral
 * ports (`icmp 10.244.0.2<>10.244.1.2`, `tcp 10.244.0.2<>10.244.1.2 port 80`).
 */
export function vxlanPortSharing(frames: { data: Uint8Array }[], port = 8472, ephemeral: [number, number] = VXLAN_SPORT_RANGE): string[] {
  const dirs = new Map<string, { name: string; ports: Map<string, number>; frag: boolean }>();
  for (const f of frames) {
    const vh = vxlanHeaderAt(f.data, port);
    if (vh < 0) continue;
    const b = f.data;
    const eth = vh + 8;
    if (u16(b, eth + 12) !== 0x0800 || b.length < eth + 34) continue;
    const ip = eth + 14;
    const l4 = ip + (b[ip]! & 15) * 4;
    const a = (o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
    const proto = b[ip + 9]!;
    const frag = (u16(b, ip + 6) & 0x3fff) !== 0;
    let sp = 0, dp = 0, pname = `proto ${proto}`;
    if ((proto === 6 || proto === 17) && b.length >= l4 + 4) { sp = u16(b, l4); dp = u16(b, l4 + 2); pname = proto === 6 ? 'tcp' : 'udp'; }
    else if (proto === 1 && b.length >= l4 + 8 && (b[l4] === 0 || b[l4] === 8)) { sp = dp = u16(b, l4 + 4); pname = 'icmp'; }
    const [x, y] = [`${a(ip + 12)}:${sp}`, `${a(ip + 16)}:${dp}`].sort();
    const und = `${pname} ${x}<>${y}`;
    const eph = (p: number): boolean => p >= ephemeral[0] && p <= ephemeral[1];
    const fixed = pname === 'tcp' || pname === 'udp' ? [sp, dp].filter((p) => !eph(p)) : [];
    const name = `${pname} ${[a(ip + 12), a(ip + 16)].sort().join('<>')}${fixed.length ? ` port ${Math.min(...fixed)}` : ''}`;
    let d = dirs.get(und);
    if (!d) dirs.set(und, (d = { name, ports: new Map(), frag: false }));
    if (frag) d.frag = true;
    d.ports.set(`${a(ip + 12)}:${sp}`, u16(b, vh - 8));
  }
  return [...dirs.values()].filter((d) => d.ports.size === 2).map((d) => `${d.name}${d.frag ? ' (fragments)' : ''}: ${new Set(d.ports.values()).size === 1 ? 'same port both ways' : 'a port per direction'}`);
}
