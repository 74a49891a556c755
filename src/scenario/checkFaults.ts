/**
 * Load-time checks of the fault events that need the whole scenario: node-down and
 * node-up alternate per node (down first), agent-stop / agent-start name an agent the
 * network plugin runs (flanneld with flannel, bird with calico) and alternate too.
 */
import type { Scenario } from './types.js';
import type { Y } from './validateYaml.js';

export function checkFaultEvents(events: { spec: Scenario['events'][number]; node?: Y }[], cluster: Scenario['cluster']): void {
  const order = events.map((e, i) => ({ e, i })).sort((a, b) => a.e.spec.at - b.e.spec.at || a.i - b.i);
  const down = new Set<string>();
  const stopped = new Set<string>();
  for (const { e } of order) {
    const s = e.spec;
    const y = e.node!;
    if (s.kind === 'node-down') {
      if (down.has(s.node)) y.fail(`${y.what}: node ${JSON.stringify(s.node)} is down already at ${s.at / 1e9} s`, 'a node-up between two node-downs');
      down.add(s.node);
    } else if (s.kind === 'node-up') {
      if (!down.delete(s.node)) y.fail(`${y.what}: node-up for node ${JSON.stringify(s.node)}, which is not down at ${s.at / 1e9} s`, 'a node-down of this node earlier');
    } else if (s.kind === 'agent-stop' || s.kind === 'agent-start') {
      const plugin = cluster.network.plugin;
      const needs = s.agent === 'flanneld' ? 'flannel' : 'calico';
      if (plugin !== needs) y.fail(`${y.what}: ${s.agent} runs only with network.plugin ${needs} (this scenario has ${plugin})`, 'flanneld with network.plugin flannel, bird with calico');
      const key = `${s.node}/${s.agent}`;
      if (s.kind === 'agent-stop' && stopped.has(key)) y.fail(`${y.what}: ${s.agent} on ${s.node} is stopped already at ${s.at / 1e9} s`, 'an agent-start between two agent-stops');
      if (s.kind === 'agent-start' && !stopped.has(key)) y.fail(`${y.what}: ${s.agent} on ${s.node} is running at ${s.at / 1e9} s`, 'an agent-stop of it earlier');
      if (s.kind === 'agent-stop') stopped.add(key); else stopped.delete(key);
    }
  }
}
