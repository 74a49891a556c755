import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { FRAME_AFTER, FRAME_BEFORE, FRAME_OWN, decodeFrame, mapEventsToFrames, parseFrameComment, perInterfaceFiles, readFrames } from '../../src/report/frames.js';
import { readCaptureFile } from '../../src/trace/pcap-reader.js';
import { runWithCaptures } from './run-helper.js';

describe('frame comments and files', () => {
  it('parses the capture comment', () => {
    expect(parseFrameComment('#4 carrying #1 xmit node-1/host/eth0 [pod-to-pod-icmp]')).toEqual({ id: 4, innerId: 1, dir: 'xmit', dev: 'node-1/host/eth0', flow: 'pod-to-pod-icmp' });
    expect(parseFrameComment('#12 recv node-2/default.web/eth0')).toEqual({ id: 12, innerId: 0, dir: 'recv', dev: 'node-2/default.web/eth0' });
    expect(parseFrameComment('#2 xmit a/b/c [item with [brackets]]')?.flow).toBe('item with [brackets]');
    expect(parseFrameComment('hello')).toBeNull();
    expect(parseFrameComment(undefined)).toBeNull();
  });

  it('names per-interface files as CaptureSet does, suffixing names that sanitise alike', () => {
    expect(perInterfaceFiles(['n/host/eth0', 'n/a b/eth0', 'n/a_b/eth0', 'n/a:b/eth0']))
      .toEqual(['n__host__eth0.pcap', 'n__a_b__eth0.pcap', 'n__a_b__eth0~2.pcap', 'n__a_b__eth0~3.pcap']);
  });
});

describe('events to frames', () => {
  it('flannel vxlan: every dev event has its own frame; the per-interface file holds the same bytes at the given number', () => {
    const r = runWithCaptures('scenarios/flannel-vxlan.yaml');
    const frames = readFrames(r.captureDir);
    const { frame: map, rel } = mapEventsToFrames(r.events, frames);
    let devEvents = 0;
    const files = new Map<string, Uint8Array[]>();
    for (let i = 0; i < r.events.length; i++) {
      const e = r.events[i];
      if (e.stage !== 'dev.xmit' && e.stage !== 'dev.recv') continue;
      devEvents++;
      const f = frames[map[i]];
      expect(f.comment).toMatchObject({ id: e.packetId, innerId: e.innerId, dir: e.stage === 'dev.xmit' ? 'xmit' : 'recv', dev: `${e.node}/${e.netns}/${e.dev}` });
      expect(f.iface).toBe(`${e.node}/${e.netns}/${e.dev}`);
      expect(f.timeNs).toBe(e.time);
      expect(rel[i]).toBe(FRAME_OWN);
      // Spot-check the per-interface file's frame number against its bytes.
      if (devEvents % 25 === 0) {
        let pk = files.get(f.file!);
        if (!pk) files.set(f.file!, (pk = readCaptureFile(path.join(r.captureDir, f.file!)).packets.map((p) => p.data)));
        const all = readCaptureFile(path.join(r.captureDir, 'all.pcapng')).packets[f.no - 1].data;
        expect(pk[f.fileNo - 1]).toEqual(all);
      }
    }
    expect(devEvents).toBeGreaterThan(100);
    expect(files.size).toBeGreaterThan(2);
    // A rule's step shows its packet's last frame before it: same packet, earlier in the capture.
    const rule = r.events.findIndex((e) => e.stage === 'nf.rule' && e.packetId > 0 && e.flow === 'pod-to-pod-tcp');
    const f = frames[map[rule]];
    expect(f.comment!.id).toBe(r.events[rule].packetId);
    expect(rel[rule]).toBe(FRAME_BEFORE);
    const prevDev = r.events.slice(0, rule).map((e, i) => ({ e, i })).filter(({ e }) => e.packetId === r.events[rule].packetId && e.stage.startsWith('dev.')).pop()!;
    // That is the packet's last dev event's frame, or a later one no event stands for: the bridge passing the frame up to itself (cni0 recv).
    if (map[rule] !== map[prevDev.i]) {
      expect(f.no).toBeGreaterThan(frames[map[prevDev.i]].no);
      expect(f.comment).toMatchObject({ dir: 'recv', dev: 'node-1/host/cni0' });
      expect([...map].some((m, i) => m === map[rule] && r.events[i].stage.startsWith('dev.'))).toBe(false);
    }
    // An encapsulation makes the outer packet: its step shows the outer packet's first frame after it.
    const encap = r.events.findIndex((e) => e.stage === 'vxlan.encap');
    expect(rel[encap]).toBe(FRAME_AFTER);
    expect(frames[map[encap]].comment).toMatchObject({ id: r.events[encap].packetId, innerId: r.events[encap].innerId, dir: 'xmit', dev: 'node-1/host/eth0' });
    // Events of no packet have no frame.
    const noPkt = r.events.findIndex((e) => e.packetId === 0);
    expect(map[noPkt]).toBe(-1);
  });

  it('decodes the carried packet of VXLAN, flannel UDP and IPIP frames', () => {
    const vx = runWithCaptures('scenarios/flannel-vxlan.yaml');
    const fv = readFrames(vx.captureDir).find((f) => f.comment?.innerId && f.iface.endsWith('/eth0'))!;
    expect(fv.decoded.layers.map((l) => l.name)).toEqual(['Ethernet', 'IPv4', 'UDP', 'VXLAN']);
    expect(fv.decoded.layers[3].fields.vni).toBe(1);
    expect(fv.decoded.inner!.via).toBe('VXLAN');
    expect(fv.decoded.inner!.frame.layers.map((l) => l.name).slice(0, 2)).toEqual(['Ethernet', 'IPv4']);
    expect(fv.decoded.inner!.frame.layers[1].fields.src).toMatch(/^10\.244\./);

    const udp = runWithCaptures('scenarios/flannel-udp.yaml');
    const fu = readFrames(udp.captureDir).find((f) => f.comment?.innerId && f.iface.endsWith('/eth0'))!;
    expect(fu.decoded.inner!.via).toBe('flannel UDP');
    expect(fu.decoded.inner!.frame.layers[0].name).toBe('IPv4');

    const ipip = runWithCaptures('scenarios/calico-ipip.yaml');
    const fi = readFrames(ipip.captureDir).find((f) => f.comment?.innerId && f.iface.endsWith('/eth0'))!;
    expect(fi.decoded.layers.map((l) => l.name)).toEqual(['Ethernet', 'IPv4']);
    expect(fi.decoded.layers[1].fields.protocol).toBe(4);
    expect(fi.decoded.inner!.via).toBe('IPIP');
    expect(fi.decoded.inner!.frame.layers[0].name).toBe('IPv4');

    // BGP on port 179: each message of the segment; OPEN and KEEPALIVE decoded, UPDATE by size.
    const bgp = readFrames(ipip.captureDir).flatMap((f) => f.decoded.layers).filter((l) => l.name === 'BGP').flatMap((l) => Object.values(l.fields).map(String));
    expect(bgp.some((m) => /^OPEN as \d+ hold \d+ id [\d.]+ caps .*, length \d+$/.test(m))).toBe(true);
    expect(bgp.some((m) => /^KEEPALIVE, length 19$/.test(m))).toBe(true);
    expect(bgp.some((m) => /^UPDATE, length \d+$/.test(m))).toBe(true);
    // A frame that carries nothing is left as decodeLayers gives it.
    expect(decodeFrame(new Uint8Array(10), true, false).layers[0].name).toBe('Truncated');
  });
});
