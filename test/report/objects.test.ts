import { describe, expect, it } from 'vitest';
import { buildCluster } from '../../src/scenario/build.js';
import { loadScenario } from '../../src/scenario/load.js';
import { runScenarioFile } from '../../src/scenario/run.js';
import { MemorySink } from '../../src/trace/render.js';
import { ObjectIndex, objectsOfEvents, parseRuleLine, refText } from '../../src/report/objects.js';
import { ipToString } from '../../src/wire/bytes.js';

function objectsOf(file: string) {
  const sink = new MemorySink();
  const run = runScenarioFile(file, { trace: sink });
  const ix = ObjectIndex.of(run.cluster);
  const objs = objectsOfEvents(sink.events, ix, new Set([...run.cluster.machineIPs.values()].map(ipToString)));
  return { events: sink.events, objs, ix };
}

describe('rule lines', () => {
  it('parses rule, policy and return lines with comments and targets', () => {
    const r = parseRuleLine('nat:KUBE-SVC-CDGGSHYLG3RE2FKL:rule:2 -A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.2:80" -j KUBE-SEP-PBQ62IOVWGYEN623 → jump KUBE-SEP-PBQ62IOVWGYEN623')!;
    expect(r).toEqual({
      table: 'nat', chain: 'KUBE-SVC-CDGGSHYLG3RE2FKL', num: 2,
      rule: '-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.2:80" -j KUBE-SEP-PBQ62IOVWGYEN623',
      outcome: 'jump KUBE-SEP-PBQ62IOVWGYEN623', comments: ['default/web:http -> 10.244.1.2:80'], target: 'KUBE-SEP-PBQ62IOVWGYEN623',
    });
    expect(parseRuleLine('filter:KUBE-NWPLCY-COMMON:rule:2 -A KUBE-NWPLCY-COMMON -m comment --comment "\\"rule for stateful firewall for pod\\"" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT → ACCEPT')!.comments)
      .toEqual(['"rule for stateful firewall for pod"']);
    expect(parseRuleLine('nat:OUTPUT:policy:ACCEPT')).toMatchObject({ chain: 'OUTPUT', num: 0, rule: 'policy ACCEPT' });
    expect(parseRuleLine('nat:cali-OUTPUT:return')).toMatchObject({ chain: 'cali-OUTPUT', rule: 'return' });
    expect(parseRuleLine('OUTPUT: no hooks registered, ACCEPT')).toBeNull();
  });
});

describe('Kubernetes objects behind decisions', () => {
  it('comments name only objects of the run', () => {
    const ix = ObjectIndex.of(buildCluster(loadScenario('scenarios/netpol-established.yaml')));
    expect(ix.fromComment('prod/db in')).toEqual({ kind: 'Pod', name: 'prod/db', via: 'rule comment' });
    expect(ix.fromComment('prod/nosuchpod in')).toBeNull();
    expect(ix.fromComment('prod/default-deny-ingress policy')).toMatchObject({ kind: 'NetworkPolicy', name: 'prod/default-deny-ingress' });
    expect(ix.fromComment('kubernetes service portals')).toBeNull();
  });

  it('kube-proxy: Service from rule comments and the KUBE-SVC/SEP chains they jump to', () => {
    const { events, objs } = objectsOf('scenarios/service-clusterip.yaml');
    const texts = new Set(objs.flatMap((o) => (o ?? []).map(refText)));
    expect([...texts].some((t) => /^Service default\/web( port \S+)?$/.test(t))).toBe(true);
    // A rule inside a KUBE-SEP chain (whose own comment may be missing) is tied to its Service through the jump.
    const sep = events.findIndex((e) => e.stage === 'nf.rule' && /^nat:KUBE-SEP-[A-Z2-7]{16}:rule/.test(e.detail));
    expect(sep).toBeGreaterThan(0);
    expect(objs[sep]!.map(refText)[0]).toMatch(/^Service default\/web/);
  });

  it('kube-router: the KUBE-NWPLCY chain jumped to with "NS/NAME policy" is that NetworkPolicy', () => {
    const { events, objs } = objectsOf('scenarios/netpol-established.yaml');
    const i = events.findIndex((e) => e.stage === 'nf.rule' && /^filter:KUBE-NWPLCY-[A-Z2-7]{16}:/.test(e.detail));
    expect(i).toBeGreaterThan(0);
    expect(objs[i]!.map((o) => o.kind + ' ' + o.name)).toContain('NetworkPolicy prod/default-deny-ingress');
    expect(objs[i]!.find((o) => o.kind === 'NetworkPolicy')!.via).toMatch(/^chain KUBE-NWPLCY-[A-Z2-7]{16}, jumped to by a rule commented "prod\/default-deny-ingress policy"$/);
  });

  it('calico: cali-pi chains are their policy, cali-tw/fw chains their pod', () => {
    const { events, objs } = objectsOf('scenarios/calico-netpol.yaml');
    const pi = events.findIndex((e) => e.stage === 'nf.rule' && /-j cali-pi-knp\/x\/allow-y-to-a /.test(e.detail));
    expect(pi).toBeGreaterThan(0);
    const t = objs[pi]!.map(refText);
    expect(t).toContain('NetworkPolicy x/allow-y-to-a');
    expect(t.some((s) => /^Pod x\//.test(s))).toBe(true);
  });

  it('policy verdicts on DROP rules and drops: the isolated pod and the policies named', () => {
    const { events, objs } = objectsOf('scenarios/calico-netpol.yaml');
    const d = events.findIndex((e) => e.stage === 'drop' && e.detail.includes('isolated for ingress by x/deny-all, x/allow-y-to-a'));
    expect(d).toBeGreaterThan(0);
    expect(objs[d]!.map(refText)).toEqual(['NetworkPolicy x/deny-all', 'NetworkPolicy x/allow-y-to-a', 'Pod x/a']);
    const rule = events.findIndex((e) => e.stage === 'nf.rule' && / → DROP \(x\/a is isolated/.test(e.detail));
    expect(objs[rule]!.map(refText)).toEqual(expect.arrayContaining(['NetworkPolicy x/deny-all', 'NetworkPolicy x/allow-y-to-a', 'Pod x/a']));
    const anp = objectsOf('scenarios/netpol-e2e-model.yaml');
    const a = anp.events.findIndex((e) => e.stage === 'drop' && e.detail.includes('AdminNetworkPolicy deny-z-to-y'));
    expect(anp.objs[a]!.map(refText)).toEqual(['AdminNetworkPolicy deny-z-to-y', 'Pod y/a']);
    const ix = ObjectIndex.of(buildCluster(loadScenario('scenarios/netpol-e2e-model.yaml')));
    expect(ix.fromVerdictText('q/zz is isolated for ingress by q/nope; no rule of [q/nope] admits a/b:1/TCP')).toEqual([]);
  });

  it('ipvs: the virtual service is the Service with that ClusterIP and port', () => {
    const { events, objs } = objectsOf('scenarios/ipvs-clusterip.yaml');
    const i = events.findIndex((e) => e.stage === 'ipvs.sched');
    expect(i).toBeGreaterThan(0);
    expect(objs[i]![0]).toMatchObject({ kind: 'Service', via: expect.stringMatching(/^ClusterIP /) });
  });
});
