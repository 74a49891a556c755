/** `--trace mermaid`: one sequence diagram per traffic item, request and answer, tunnels boxed, text escaped. */
import { describe, expect, it } from 'vitest';
import { mermaidDiagram, mermaidText } from '../../src/trace/mermaid.js';
import { runScenarioFile } from '../../src/scenario/run.js';
import { MemorySink } from '../../src/trace/render.js';

describe('mermaid', () => {
  it('escapes the characters Mermaid reads as syntax', () => {
    expect(mermaidText('#4 a; b\nc')).toBe('#35;4 a#59; b c');
  });

  it('a cross-node ClusterIP exchange over VXLAN: participants per namespace, boxed tunnel legs, dashed answer', () => {
    const sink = new MemorySink();
    const res = runScenarioFile('scenarios/flannel-vxlan.yaml', { trace: sink });
    const r = res.results.find((x) => x.name === 'pod-to-clusterip-remote-endpoint')!;
    const d = mermaidDiagram({ name: r.name, outcome: 'reply (expected reply)' }, sink.events);
    expect(d[0]).toBe('sequenceDiagram');
    expect(d[1]).toBe('  title pod-to-clusterip-remote-endpoint: reply (expected reply)');
    expect(d.filter((l) => l.startsWith('  participant '))).toEqual([
      '  participant p1 as node-1/default.client',
      '  participant p2 as node-1/host',
      '  participant p3 as node-2/host',
      '  participant p4 as node-2/default.web',
    ]);
    const arrows = d.filter((l) => /^ {2}p\d-/.test(l));
    expect(arrows.map((l) => l.replace(/:.*/, ''))).toEqual(['  p1->>p2', '  p2->>p3', '  p3->>p4', '  p4-->>p3', '  p3-->>p2', '  p2-->>p1']);
    // the node-to-node legs travel inside VXLAN packets: boxed, naming the outer packet
    const legs = d.flatMap((l, i) => (l === '  rect rgba(128, 160, 255, 0.15)' ? [d[i + 1]!] : []));
    expect(legs).toHaveLength(2);
    for (const l of legs) expect(l).toMatch(/: #35;\d+ carrying #35;\d+: flannel\.1 ⇒ eth0 → eth0$/);
    expect(d.join('\n')).toMatch(/DNAT \[10\.244\.0\.2:\d+ → [\d.]+:80\] ⇒ \[10\.244\.0\.2:\d+ → 10\.244\.1\.2:80\]/);
    // nothing Mermaid would read as a statement separator or an entity
    for (const l of d.slice(1)) expect(l.replace(/#\d+;/g, '')).not.toMatch(/[;#]/);
  });

  it('a dropped item ends with the drop and its reason', () => {
    const sink = new MemorySink();
    runScenarioFile('scenarios/calico-netpol.yaml', { trace: sink });
    const d = mermaidDiagram({ name: 'z-b-to-x-a-80', outcome: 'dropped (expected dropped)' }, sink.events);
    expect(d.some((l) => /^ {2}p\d+-->>/.test(l))).toBe(false); // no answer
    expect(d[d.length - 1]).toMatch(/^ {2}Note over p\d: .*iptables filter FORWARD dropped it: x\/a is isolated for ingress/);
  });
});
