/**
 * Every shipped scenario: its expectations hold, every capture it writes opens
 * in tshark with no malformed packet and no expert warning or error (checksum
 * validation on), and two runs with the same seed write byte-identical
 * captures and traces.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runScenarioFile } from '../../src/scenario/run.js';
import { MemorySink, renderText } from '../../src/trace/render.js';
import { checkCapture, DEFAULT_ALLOW, describeCapture, describeWithTshark } from '../helpers/tshark.js';

const SCENARIOS = readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).map((f) => path.join('scenarios', f));

function runTo(file: string, seed?: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-scn-'));
  const sink = new MemorySink();
  const res = runScenarioFile(file, { pcapDir: dir, trace: sink, ...(seed !== undefined ? { seed } : {}) });
  return { dir, res, trace: sink.events.map(renderText).join('\n') };
}

describe('shipped scenarios', () => {
  it('ships at least the four foundation scenarios', () => {
    for (const s of ['same-node-bridge', 'pod-to-self', 'pod-to-node-and-external', 'fdb-learning']) {
      expect(SCENARIOS).toContain(`scenarios/${s}.yaml`);
    }
  });

  for (const file of SCENARIOS) {
    it(`${file}: every expectation holds`, () => {
      const { dir, res } = runTo(file);
      try {
        expect(res.results.length).toBeGreaterThan(0);
        for (const r of res.results) {
          expect(r.expected, `${r.name} has an expectation`).toBeDefined();
          expect(r.ok, `${r.name}: ${r.mismatch ?? ''}`).toBe(true);
        }
      } finally { rmSync(dir, { recursive: true, force: true }); }
    });

    it(`${file}: same seed ⇒ byte-identical captures and trace; another seed differs`, () => {
      const a = runTo(file), b = runTo(file), c = runTo(file, 12345);
      try {
        const files = readdirSync(a.dir).sort();
        expect(readdirSync(b.dir).sort()).toEqual(files);
        for (const f of files) expect(readFileSync(path.join(b.dir, f)).equals(readFileSync(path.join(a.dir, f))), f).toBe(true);
        expect(b.trace).toBe(a.trace);
        expect(c.trace).not.toBe(a.trace);
        expect(readdirSync(a.dir).some((f) => f.endsWith('.pcap') || f.endsWith('.pcapng'))).toBe(true);
        expect(readdirSync(a.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
      } finally { for (const x of [a, b, c]) rmSync(x.dir, { recursive: true, force: true }); }
    });
  }
});

describe('traces show the bridge at work', () => {
  it('fdb-learning: first ARP is flooded and hairpinned, replies are learned, the aged-out address is flooded as unknown unicast', () => {
    const { dir, trace } = runTo('scenarios/fdb-learning.yaml');
    rmSync(dir, { recursive: true, force: true });
    const lines = trace.split('\n');
    expect(lines.some((l) => /bridge\.flood +broadcast from veth\w+: flood and deliver locally/.test(l))).toBe(true);
    expect(lines.some((l) => /bridge\.hairpin +flooded back out of veth/.test(l))).toBe(true);
    expect(lines.filter((l) => /bridge\.fdb\.learn/.test(l)).length).toBeGreaterThanOrEqual(3);
    const late = lines.filter((l) => l.startsWith('320.'));
    expect(late.some((l) => /bridge\.fdb\.miss +\S+ unknown: flood/.test(l))).toBe(true);
    // Pod c receives the flooded frame meant for b and drops it as not for its MAC.
    expect(late.some((l) => /default\.c\/eth0 +drop .*OTHERHOST/.test(l))).toBe(true);
  });

  it('same-node-bridge: a closed UDP port answers ICMP port unreachable and the drop says NO_SOCKET', () => {
    const { dir, trace } = runTo('scenarios/same-node-bridge.yaml');
    rmSync(dir, { recursive: true, force: true });
    expect(trace).toMatch(/default\.web\/eth0 +drop +no socket listening on UDP 10\.244\.0\.3:9 → DROP \(NO_SOCKET\)/);
    expect(trace).toMatch(/default\.web\/eth0 +drop +no socket on TCP 10\.244\.0\.3:8080 → DROP \(NO_SOCKET\)/);
  });
});

describeWithTshark('captures decode cleanly in tshark (checksums validated)', () => {
  for (const file of SCENARIOS) {
    it(`${file}: every pcap and the pcapng have no malformed packet and no expert warning/error`, async () => {
      const { dir } = runTo(file);
      try {
        const caps = readdirSync(dir).filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng'));
        let total = 0;
        for (const f of caps) {
          // all.pcapng holds each frame once per interface it crossed: a DNS message seen on four
          // interfaces reads as three retransmissions of itself there (never in a per-interface pcap).
          // Across machines it also mixes ARP views: a Calico node ARPs on its cali interfaces with its
          // node IP and the cali MAC ee:ee:ee:ee:ee:ee, so the node IP shows two MACs (one per link);
          // and a segment routed natively through the underlay router appears once per router port,
          // the later copy read as out of order.
          const r = await checkCapture(path.join(dir, f), f === 'all.pcapng' ? { allow: [...DEFAULT_ALLOW, 'dns.retransmit_request', 'dns.retransmit_response', 'arp.duplicate-address-detected', 'tcp.analysis.out_of_order'] } : {});
          expect(r.problems, `${f}`).toEqual([]);
          total += r.packets;
        }
        expect(total).toBeGreaterThan(0);
        const all = await describeCapture(path.join(dir, 'all.pcapng'));
        expect(all.length).toBeGreaterThan(0);
        expect(all.every((p) => /^\S+\/\S+\/\S+$/.test(p.interfaceName ?? ''))).toBe(true);
        expect(all.every((p) => p.comments.length === 1 && /^#\d+/.test(p.comments[0]!))).toBe(true);
      } finally { rmSync(dir, { recursive: true, force: true }); }
    }, 120_000);
  }
});
