/**
 * Traffic naming a pod that is gone when the item starts — deleted by a
 * pod-delete event, evicted, or gone with its node (node-leave) — ends as
 * `unreachable` with nothing sent, instead of crashing the run with a
 * TypeError (found by test/fuzz/scenario.fuzz.test.ts, issue 11).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenario/load.js';
import { runScenario } from '../../src/scenario/run.js';

const bridge = readFileSync('scenarios/same-node-bridge.yaml', 'utf8');
const withEvent = (ev: string) => bridge.replace('traffic:\n', `events:\n  - ${ev}\ntraffic:\n`);

describe('traffic to or from a pod that is gone', () => {
  it.each([
    ['the destination', 'pod/default/web'],
    ['the source', 'pod/default/client'],
  ])('%s deleted before the item: unreachable, nothing sent', (_, pod) => {
    const r = runScenario(parseScenario(withEvent(`{at: 500us, kind: pod-delete, pod: ${pod}}`), 'scenarios/x.yaml'));
    const ping = r.results.find((x) => x.name === 'ping-web')!;
    expect(ping.result).toBe('unreachable');
    expect(ping.detail).toBe(`${pod} no longer exists at 0.001000000 (deleted, evicted, or its node left): nothing was sent`);
    expect(ping.endedAt).toBe(ping.startedAt);
  });

  it('a pod whose node left (the fuzzer\'s counterexample: calico-node-join-leave with node-3 leaving)', () => {
    const text = readFileSync('scenarios/calico-node-join-leave.yaml', 'utf8').replace('{at: 20s, kind: node-leave, node: node-2}', '{at: 20s, kind: node-leave, node: node-3}');
    expect(text).not.toBe(readFileSync('scenarios/calico-node-join-leave.yaml', 'utf8'));
    const r = runScenario(parseScenario(text, 'scenarios/calico-node-join-leave.yaml'));
    const after = r.results.find((x) => x.name === 'to-late-joiner-after-leave')!;
    expect(after.result).toBe('unreachable');
    expect(after.detail).toMatch(/^pod\/default\/late no longer exists at 25\.000000000/);
  });
});
