/**
 * The Services scenarios in ipvs mode: scenarios/ipvs-X.yaml is scenarios/service-X.yaml with
 * `kubeProxy: {mode: ipvs, scheduler: rr}` (checked here: nothing else differs), and every
 * traffic item has the same application result and the same set of receivers in both modes.
 * Plus what only ipvs mode shows: the trace names the IPVS decision, ClientIP affinity is IPVS
 * persistence, and an endpoint leaving with a connection open is drained, not cut.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runScenario, runScenarioFile } from '../../../src/scenario/run.js';
import { parseScenario } from '../../../src/scenario/load.js';
import { MemorySink, renderText } from '../../../src/trace/render.js';
import { KubeProxyIpvs, RS_CHECK_DELETE_INTERVAL } from '../../../src/kubeproxy/ipvs/index.js';
import { ipvsOf } from '../../../src/ipvs/index.js';

const PAIRS = ['clusterip', 'dns', 'loadbalancer', 'nodeport', 'readiness'];

/** The YAML from `name:` on, without comment lines (the comments differ by design). */
const body = (f: string) => { const s = readFileSync(f, 'utf8'); return s.slice(s.indexOf('\nname:') + 1).split('\n').filter((l) => !/^\s*#/.test(l)).join('\n'); };

/**
 * Where ipvs mode's copy may differ, and why: which pod ClientIP affinity sticks to is the
 * scheduler's choice (iptables: the statistic ladder's random draw; rr: the head of the real
 * server list) — one receiver for every connection in both.
 */
const ALLOWED: Record<string, [string, string][]> = {
  loadbalancer: [['servedBy: [pod/default/cart-1]', 'servedBy: [pod/default/cart-3]']],
};

/**
 * Receivers that differ although the application result is the same: with
 * externalTrafficPolicy Local and no local endpoint, ipvs mode falls back to the cluster's
 * endpoints (PR 97081), so the request does reach web-1 — unmasqueraded, its reply goes
 * straight back to the client from the pod's address and is lost; iptables mode drops it on
 * the node. Both: `dropped`.
 */
const RECEIVERS: Record<string, Record<string, { iptables: string[]; ipvs: string[] }>> = {
  nodeport: { 'nodeport-local-without-endpoint': { iptables: [], ipvs: ['pod/default/web-1'] } },
  loadbalancer: { affinity: { iptables: ['pod/default/cart-1'], ipvs: ['pod/default/cart-3'] } },
};

describe('every Services scenario in ipvs mode gives the same application results', () => {
  for (const p of PAIRS) {
    it(`scenarios/ipvs-${p}.yaml ≡ scenarios/service-${p}.yaml but for kube-proxy's mode`, () => {
      const a = body(`scenarios/service-${p}.yaml`), b = body(`scenarios/ipvs-${p}.yaml`);
      let want = a.replace(/^name: service-/, 'name: ipvs-').replace('kubeProxy: {mode: iptables}', 'kubeProxy: {mode: ipvs, scheduler: rr}');
      for (const [x, y] of ALLOWED[p] ?? []) want = want.replace(x, y);
      expect(b).toBe(want);
      const ipt = runScenarioFile(`scenarios/service-${p}.yaml`);
      const ipvs = runScenarioFile(`scenarios/ipvs-${p}.yaml`);
      expect(ipvs.results.map((r) => r.name)).toEqual(ipt.results.map((r) => r.name));
      ipvs.results.forEach((r, i) => {
        const q = ipt.results[i]!;
        expect(r.ok, `${r.name}: ${r.mismatch ?? ''}`).toBe(true);
        expect(r.result, r.name).toBe(q.result);
        const d = RECEIVERS[p]?.[r.name];
        expect(Object.keys(q.servedBy).sort(), r.name).toEqual(d ? d.iptables : Object.keys(r.servedBy).sort());
        if (d) expect(Object.keys(r.servedBy).sort(), r.name).toEqual(d.ipvs);
      });
      for (const n of ipvs.cluster.scenario.cluster.nodes) expect(ipvs.cluster.control!.kubeProxy(n.name)).toBeInstanceOf(KubeProxyIpvs);
    });
  }
});

describe('ipvs mode in the data path', () => {
  it('the trace names the IPVS decision: service, scheduler, chosen real server, connection entry', () => {
    const sink = new MemorySink();
    runScenarioFile('scenarios/ipvs-clusterip.yaml', { trace: sink });
    const lines = sink.events.filter((e) => e.stage.startsWith('ipvs')).map(renderText);
    expect(lines.length).toBeGreaterThan(0);
    const sched = lines.find((l) => / rr /.test(l) && /10\.244\.\d+\.\d+:80/.test(l));
    expect(sched, lines.slice(0, 10).join('\n')).toBeDefined();
  });

  it('ClientIP affinity is persistence: one real server for every connection of the client, a template in the connection table', () => {
    const res = runScenarioFile('scenarios/ipvs-loadbalancer.yaml');
    const aff = res.results.find((r) => r.name === 'affinity')!;
    expect(aff.ok, aff.mismatch).toBe(true);
    expect(Object.keys(aff.servedBy)).toEqual(['pod/default/cart-3']);
    expect(aff.servedBy['pod/default/cart-3']).toBe(5);
    const persistent = [...res.cluster.world.nodes.values()].filter((n) => n.role === 'node')
      .flatMap((n) => ipvsOf(n, 'host').services()).filter((s) => (s.opts.flags ?? 0) & 1);
    expect(persistent.length).toBeGreaterThan(0);
    expect(persistent.every((s) => s.opts.timeout === 600)).toBe(true);
    const node1 = res.cluster.world.nodes.get('node-1')!;
    const cmds = node1.configCommands().filter((c) => c.startsWith('ipvsadm -A') && c.includes(' -p 600'));
    expect(cmds.length).toBeGreaterThan(0);
    // The persistence template on the client's node: client IP, port 0, the VIP, cart-3; state NONE.
    const client = res.cluster.pods.get('default/client')!;
    const cart3 = res.cluster.pods.get('default/cart-3')!;
    const dotted = (x: number) => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
    const conns = ipvsOf(client.node, 'host').listConns();
    expect(conns).toMatch(new RegExp(`^TCP \\d\\d:\\d\\d  NONE +${dotted(client.ip).replace(/\./g, '\\.')}:0 +\\S+:9000 +${dotted(cart3.ip).replace(/\./g, '\\.')}:9000$`, 'm'));
  });

  it('endpoint removal with a connection open: weight 0, the connection goes on, new ones go elsewhere; deleted at a one-minute check once drained', () => {
    const sink = new MemorySink();
    const res = runScenarioFile('scenarios/ipvs-graceful.yaml', { trace: sink });
    for (const r of res.results) expect(r.ok, `${r.name}: ${r.mismatch ?? ''}`).toBe(true);
    const node1 = res.cluster.world.nodes.get('node-1')!;
    const web1 = res.cluster.pods.get('default/web-1')!.ip;
    const ip1 = `${web1 >>> 24}.${(web1 >>> 16) & 255}.${(web1 >>> 8) & 255}.${web1 & 255}`;
    const cmds = node1.configCommands();
    const quiesce = cmds.findIndex((c) => c.startsWith('ipvsadm -e -t ') && c.includes(`-r ${ip1}:80`) && c.endsWith('-w 0'));
    const del = cmds.findIndex((c) => c.startsWith('ipvsadm -d -t ') && c.includes(`-r ${ip1}:80`));
    expect(quiesce).toBeGreaterThan(-1);
    expect(del).toBeGreaterThan(quiesce);
    const kp = res.cluster.control!.kubeProxy('node-1') as KubeProxyIpvs;
    expect(kp.proxier.graceful.size).toBe(0);
    const deleted = sink.events.find((e) => e.node === 'node-1' && e.stage === 'kube-proxy.sync' && e.detail.startsWith('graceful termination'))!;
    expect(deleted).toBeDefined();
    expect(deleted.time % RS_CHECK_DELETE_INTERVAL).toBe(0);
    expect(deleted.time).toBeGreaterThan(6e9);
  });
});

describe('every IPVS scheduler kube-proxy can be given', () => {
  const run = (f: string, sched: string) => {
    const text = readFileSync(f, 'utf8').replace('kubeProxy: {mode: ipvs, scheduler: rr}', `kubeProxy: {mode: ipvs, scheduler: ${sched}}`);
    return runScenario(parseScenario(text, f));
  };
  for (const sched of ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh']) {
    it(`scheduler ${sched}: the virtual servers use it; ipvs-clusterip's expectations hold; readiness: replies before, only web-2 after`, () => {
      const res = run('scenarios/ipvs-clusterip.yaml', sched);
      for (const r of res.results) expect(r.ok, `${r.name}: ${r.mismatch ?? ''}`).toBe(true);
      const svcs = ipvsOf(res.cluster.nodes.get('node-1')!, 'host').services();
      expect(svcs.length).toBeGreaterThan(0);
      expect(svcs.every((s) => s.opts.scheduler === sched)).toBe(true);
      expect(svcs.every((s) => (((s.opts.flags ?? 0) & 0x10) !== 0) === (sched === 'mh'))).toBe(true);
      // Which of web-1/web-2 serve the four sequential connections before is the scheduler's
      // business (lblc/lblcr/dh key on the destination, sh on the source address, sed/nq see no
      // active connection and take the same one each time; rr/wrr/lc/wlc alternate, mh hashes
      // the source port too: kube-proxy's SCHED2).
      const rd = run('scenarios/ipvs-readiness.yaml', sched);
      const before = rd.results.find((r) => r.name === 'before')!, after = rd.results.find((r) => r.name === 'after')!;
      expect(before.result).toBe('reply');
      const spread = Object.keys(before.servedBy).length;
      expect(spread).toBe(['rr', 'wrr', 'lc', 'wlc', 'mh'].includes(sched) ? 2 : 1);
      if (!['dh', 'sh', 'mh'].includes(sched)) {
        expect(after.ok, after.mismatch).toBe(true);
        expect(Object.keys(after.servedBy)).toEqual(['pod/default/web-2']);
      } else {
        // The hashing schedulers keep a weight-0 real server's buckets (dh, sh: every dest gets
        // its share; mh builds its table from last_weight) and, without their fallback flag —
        // kube-proxy sets none but mh's SCHED2 (mh-port) — a client that hashes to it finds no
        // real server while it drains: IPVS answers port unreachable (ip_vs_leave).
        expect(after.result).toBe('refused');
      }
    });
  }
});
