/**
 * The Service scenarios whose iptables-save is kept as golden files, and how a saved rule
 * set is compared: `# Generated/Completed` comments dropped, counters zeroed (iptables-save
 * without -c prints `[0:0]` for policies anyway).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const SERVICE_SCENARIOS = [
  'scenarios/service-clusterip.yaml',
  'scenarios/service-nodeport.yaml',
  'scenarios/service-loadbalancer.yaml',
  'scenarios/service-readiness.yaml',
  'scenarios/service-dns.yaml',
];

export function goldenPath(scenario: string, node: string): string {
  return path.join(HERE, 'golden', `${path.basename(scenario, '.yaml')}.${node}.rules`);
}

export function normaliseSave(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^# (Generated|Completed) /.test(l))
    .map((l) => l.replace(/^(:\S+ \S+) \[\d+:\d+\]$/, '$1 [0:0]').replace(/^\[\d+:\d+\] /, ''))
    .join('\n');
}
