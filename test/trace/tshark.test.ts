/**
 * Golden check against Wireshark: tshark must open our captures with zero problems
 * (checksum validation on), see pcapng interface names and packet comments, and must
 * report a deliberately broken checksum (so the check can fail).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { CaptureSet } from '../../src/trace/capture.js';
import { checkCapture, describeCapture, describeWithTshark, expertInfos, itTshark } from '../helpers/tshark.js';
import { ethernet, IP_A, IP_B, ipv4, MAC_A, MAC_B, pingFrame, tcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, udp } from './frames.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-tshark-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A ping exchange seen on a pod's eth0 and on the bridge, then closed. */
function writePing(sub: string, opts: { badIpChecksum?: boolean } = {}): string[] {
  const c = new CaptureSet({ dir: path.join(dir, sub), pcap: true, pcapng: true });
  const eth0 = c.iface('node-1', 'pod-a', 'eth0');
  const cni0 = c.iface('node-1', 'root', 'cni0');
  c.iface('node-1', 'root', 'flannel.1'); // registered, never used
  const buf = new Uint8Array(2048); // reused by the "caller" like the emulator's skb buffer
  for (let seq = 1; seq <= 3; seq++) {
    const t = seq * 1_000_000_000 + 123;
    const req = pingFrame(false, seq, { badIpChecksum: opts.badIpChecksum && seq === 2 });
    buf.set(req, 10);
    c.record(eth0, t, buf, 10, req.length, 'out', `dev.xmit seq ${seq}`);
    c.record(cni0, t + 500, buf, 10, req.length, 'in', 'bridge.fdb hit → veth-b ✓');
    const rep = pingFrame(true, seq);
    buf.set(rep, 10);
    c.record(cni0, t + 9000, buf, 10, rep.length, 'out', 'bridge.fdb hit');
    c.record(eth0, t + 9500, buf, 10, rep.length, 'in', `icmp echo reply, seq ${seq}`);
  }
  return c.close().files;
}

/** Ethernet/IPv4/UDP 8472/VXLAN vni 1 carrying a ping. */
function vxlanFrame(opts: { badUdpChecksum?: boolean } = {}): Uint8Array {
  const inner = pingFrame(false, 1);
  const vx = new Uint8Array(8 + inner.length);
  vx[0] = 0x08; // I flag
  vx[6] = 1; // VNI 1 (bytes 4..6)
  vx.set(inner, 8);
  const OA: [number, number, number, number] = [192, 168, 1, 11];
  const OB: [number, number, number, number] = [192, 168, 1, 12];
  return ethernet(MAC_B, MAC_A, 0x0800, ipv4(OA, OB, 17, udp(OA, OB, 51000, 8472, vx, { badChecksum: opts.badUdpChecksum })));
}

describeWithTshark('tshark reads our captures', () => {
  itTshark('pcapng and per-interface pcaps open with zero problems', async () => {
    const files = writePing('ok');
    expect(files.map((f) => path.basename(f))).toEqual([
      'all.pcapng',
      'node-1__pod-a__eth0.pcap',
      'node-1__root__cni0.pcap',
      'node-1__root__flannel.1.pcap',
    ]);
    const counts = [12, 6, 6, 0];
    for (const [k, f] of files.entries()) {
      expect(await checkCapture(f)).toEqual({ packets: counts[k], problems: [] });
    }
  });

  itTshark('sees pcapng interface names, comments and the protocol stack', async () => {
    const [ng] = writePing('desc');
    const d = await describeCapture(ng);
    expect(d).toHaveLength(12);
    expect(d[0]).toEqual({
      number: 1,
      protocols: ['eth', 'ethertype', 'ip', 'icmp', 'data'],
      interfaceName: 'node-1/pod-a/eth0',
      comments: ['dev.xmit seq 1'],
    });
    expect(d[1].interfaceName).toBe('node-1/root/cni0');
    expect(d[1].comments).toEqual(['bridge.fdb hit → veth-b ✓']);
    expect(d.map((p) => p.interfaceName)).toEqual(Array(3).fill(['node-1/pod-a/eth0', 'node-1/root/cni0', 'node-1/root/cni0', 'node-1/pod-a/eth0']).flat());
  });

  itTshark('reports a broken IPv4 checksum (the check can fail)', async () => {
    const [ng, eth0] = writePing('bad', { badIpChecksum: true });
    // the bad request of seq 2 is on eth0 (frame 5 of all.pcapng) and cni0 (frame 6); frame 3 of eth0's pcap
    for (const [f, frames] of [[ng, [5, 6]], [eth0, [3]]] as const) {
      const r = await checkCapture(f);
      expect(r.problems).toHaveLength(frames.length);
      r.problems.forEach((p, k) => expect(p).toMatch(new RegExp(`^frame ${frames[k]}: error/Checksum ip\\.checksum_bad\\.expert: Bad checksum`)));
    }
  });

  itTshark('reports a broken UDP checksum and malformed packets', async () => {
    const c = new CaptureSet({ dir: path.join(dir, 'udp'), pcap: false, pcapng: true });
    const i = c.iface('n', 'ns', 'eth0');
    const good = ethernet(MAC_B, MAC_A, 0x0800, ipv4(IP_A, IP_B, 17, udp(IP_A, IP_B, 40000, 9999, new Uint8Array(4))));
    const bad = ethernet(MAC_B, MAC_A, 0x0800, ipv4(IP_A, IP_B, 17, udp(IP_A, IP_B, 40000, 9999, new Uint8Array(4), { badChecksum: true }), { id: 2 }));
    const truncated = good.subarray(0, 30); // IPv4 header cut short
    c.record(i, 1, good, 0, good.length, 'out');
    c.record(i, 2, bad, 0, bad.length, 'out');
    c.record(i, 3, truncated, 0, truncated.length, 'out');
    const [f] = c.close().files;
    const r = await checkCapture(f);
    expect(r.packets).toBe(3);
    expect(r.problems.some((p) => p.startsWith('frame 2: error/Checksum udp.checksum.bad'))).toBe(true);
    expect(r.problems.some((p) => p.startsWith('frame 3:'))).toBe(true);
    expect(r.problems.some((p) => p.startsWith('frame 1:'))).toBe(false);
  });

  itTshark('flannel VXLAN on UDP 8472 decodes as vxlan', async () => {
    const outer = vxlanFrame();
    const c = new CaptureSet({ dir: path.join(dir, 'vxlan'), pcap: false, pcapng: true });
    const i = c.iface('node-1', 'root', 'eth0');
    c.record(i, 1, outer, 0, outer.length, 'out', 'vxlan encap vni 1 -> 192.168.1.12:8472');
    const [f] = c.close().files;
    expect(await checkCapture(f)).toEqual({ packets: 1, problems: [] });
    const [d] = await describeCapture(f);
    expect(d.protocols).toEqual(['eth', 'ethertype', 'ip', 'udp', 'vxlan', 'eth', 'ethertype', 'ip', 'icmp', 'data']);
  });

  itTshark('TCP: chats/notes are not problems, RST is an allowed warning (unless strict)', async () => {
    const c = new CaptureSet({ dir: path.join(dir, 'tcp'), pcap: false, pcapng: true });
    const i = c.iface('n', 'ns', 'eth0');
    let t = 0;
    const send = (fwd: boolean, dport: number, seq: number, ack: number, flags: number, data?: Uint8Array): void => {
      const [s, d, ms, md] = fwd ? [IP_A, IP_B, MAC_A, MAC_B] : [IP_B, IP_A, MAC_B, MAC_A];
      const seg = fwd ? tcp(s, d, 40000, dport, seq, ack, flags, data) : tcp(s, d, dport, 40000, seq, ack, flags, data);
      const f = ethernet(md, ms, 0x0800, ipv4(s, d, 6, seg, { id: ++t }));
      c.record(i, t * 1000, f, 0, f.length, fwd ? 'out' : 'in');
    };
    const hello = new TextEncoder().encode('hello');
    send(true, 80, 100, 0, TCP_SYN);
    send(false, 80, 500, 101, TCP_SYN | TCP_ACK);
    send(true, 80, 101, 501, TCP_ACK);
    send(true, 80, 101, 501, TCP_PSH | TCP_ACK, hello);
    send(false, 80, 501, 106, TCP_ACK);
    send(true, 80, 106, 501, TCP_FIN | TCP_ACK);
    send(false, 80, 501, 107, TCP_FIN | TCP_ACK);
    send(true, 80, 107, 502, TCP_ACK);
    send(true, 81, 100, 0, TCP_SYN);
    send(false, 81, 0, 101, TCP_RST | TCP_ACK);
    const [f] = c.close().files;
    const infos = await expertInfos(f);
    // what tshark 4.x says about a normal connection: chats and notes only
    expect(infos.filter((e) => e.frame <= 8).every((e) => e.severity === 'chat' || e.severity === 'note')).toBe(true);
    expect(infos.find((e) => e.frame === 10)).toMatchObject({ abbrev: 'tcp.connection.rst', severity: 'warning' });
    expect(await checkCapture(f)).toEqual({ packets: 10, problems: [] });
    expect((await checkCapture(f, { allow: [] })).problems).toEqual([
      'frame 10: warning/Sequence tcp.connection.rst: Connection reset (RST)',
    ]);
  });

  itTshark('two-pass analysis flags an unanswered ping only when strict', async () => {
    const c = new CaptureSet({ dir: path.join(dir, 'noreply'), pcap: false, pcapng: true });
    const i = c.iface('n', 'ns', 'eth0');
    const f = pingFrame(false, 9);
    c.record(i, 1, f, 0, f.length, 'out', 'nf.hook FORWARD KUBE-NWPLCY drop');
    const [file] = c.close().files;
    expect((await checkCapture(file, { twoPass: true })).problems).toEqual([]);
    expect((await checkCapture(file, { twoPass: true, allow: [] })).problems).toEqual([
      'frame 1: warning/Sequence icmp.resp_not_found: No response seen to ICMP request',
    ]);
    expect((await checkCapture(file, { allow: [] })).problems).toEqual([]); // single pass: not analysed
  });
});

describeWithTshark('wireshark/profile/podwire', () => {
  itTshark('tshark -C podwire decodes UDP 8472 as VXLAN and validates checksums by itself', async () => {
    const cfg = path.join(dir, 'wsconfig');
    fs.mkdirSync(path.join(cfg, 'profiles'), { recursive: true });
    fs.cpSync(new URL('../../wireshark/profile/podwire', import.meta.url), path.join(cfg, 'profiles', 'podwire'), { recursive: true });
    const c = new CaptureSet({ dir: path.join(dir, 'profile'), pcap: false, pcapng: true });
    const i = c.iface('node-1', 'root', 'eth0');
    const good = vxlanFrame();
    const bad = vxlanFrame({ badUdpChecksum: true });
    c.record(i, 1, good, 0, good.length, 'out');
    c.record(i, 2, bad, 0, bad.length, 'out');
    const [f] = c.close().files;
    const o = { configDir: cfg, profile: 'podwire', decodeAs: [], noChecksumPrefs: true };
    const d = await describeCapture(f, o);
    expect(d[0].protocols).toContain('vxlan');
    expect((await checkCapture(f, o)).problems).toEqual([
      expect.stringMatching(/^frame 2: error\/Checksum udp\.checksum\.bad: Bad checksum/),
    ]);
    // and without the profile (and without our -o flags) the bad checksum goes unnoticed
    const plain = { configDir: path.join(dir, 'empty-config'), decodeAs: [], noChecksumPrefs: true };
    expect((await describeCapture(f, plain))[0].protocols).not.toContain('vxlan');
    expect((await checkCapture(f, plain)).problems).toEqual([]);
  });
});
