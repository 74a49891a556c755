/**
 * The upstream ANP/BANP conformance cases (cases.ts) with real packets: the
 * Hogwarts scenario (two flannel vxlan nodes, the policy agent on each — src/netpol's
 * iptables rules and ipsets) starts with the case's policies as manifests; each
 * step's changes are policy-apply / policy-delete events one second apart (step i
 * at i+1 s), and after them `probePolicyCells` opens every asserted connection
 * (TCP connection or UDP datagram) at once: upstream's "connects" must read
 * `reply`, "does not connect" a refusal or silence.
 *
 * Every TCP and UDP flow upstream asserts is probed. SCTP flows are not: podwire
 * has no SCTP traffic (no SCTP sockets or conntrack), so the SCTP-only cases
 * (AdminNetworkPolicy{Ingress,Egress}SCTP, BaselineAdminNetworkPolicy{Ingress,Egress}SCTP)
 * and the SCTP pokes of the mixed cases are checked by evaluator.test.ts only.
 *
 * Beside upstream's flows, each step also probes every other client (the students
 * and the two host-network centaurs) towards the same servers and ports, where a
 * server listens, and those must agree with the reference evaluator. (A few upstream
 * "does not connect" flows of the v1alpha2 PR cases go to ports nothing serves —
 * 8081/TCP, 5354/UDP — as upstream's do; their packets are refused whatever the
 * policies, and the evaluator test is the real check for them.)
 */
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../../src/scenario/load.js';
import { probePolicyCells, type PolicyProbeCell } from '../../../src/scenario/policy-probe.js';
import { PolicyEvaluator } from '../../../src/kube/policy-eval.js';
import type { Obj } from '../../../src/kube/object.js';
import { CASES, V015_CASES, V1ALPHA2_PR_CASES, keyOf, statesOf, type PolicyState } from './cases.js';
import { PODS, hogwartsScenario, podRef, type PolicyEvent } from './hogwarts.js';
import { hogwarts, policySetOf } from './world.js';

const S = 1_000_000_000;

/** The events that turn `prev` into `next`. */
function diff(prev: PolicyState, next: PolicyState): PolicyEvent[] {
  const out: PolicyEvent[] = [];
  for (const k of prev.keys()) if (!next.has(k)) out.push({ delete: k });
  for (const [k, v] of next) if (JSON.stringify(prev.get(k)) !== JSON.stringify(v)) out.push({ apply: v });
  return out;
}

const endpoint = (ref: string) => {
  const [namespace, name] = ref.split('/') as [string, string];
  return { kind: 'pod' as const, namespace, name };
};

// SCTP-only cases have no packet test: podwire sends no SCTP packets (evaluator.test.ts checks those flows).
for (const c of [...CASES, ...V015_CASES, ...V1ALPHA2_PR_CASES].filter((x) => x.steps.some((s) => s.expect.some((e) => e.protocol !== 'SCTP')))) {
  describe(`${c.profile} ${c.shortName}: packets`, () => {
    const { view, ips } = hogwarts();
    const states = statesOf(c, ips);
    const initial: Obj[] = c.policies();
    const events: PolicyEvent[][] = [];
    let prev: PolicyState = new Map(initial.map((o) => [keyOf(o), o]));
    for (const st of states) {
      events.push(diff(prev, st));
      prev = st;
    }
    const text = hogwartsScenario(initial, events);

    c.steps.forEach((step, i) => {
      const flows = step.expect.filter((x) => x.protocol !== 'SCTP');
      if (flows.length === 0) return;
      it(step.name, () => {
        const upstream: PolicyProbeCell[] = flows.map((x) => ({ from: podRef(x.from), to: podRef(x.to), port: x.port, protocol: x.protocol }));
        // The other clients towards the same (server, port, protocol).
        const targets = new Map(upstream.map((x) => [`${x.to} ${x.port} ${x.protocol}`, x]));
        const extra: PolicyProbeCell[] = [];
        for (const t of targets.values()) {
          // Only where a server listens: a closed port refuses whatever the policies say.
          const server = PODS.find((p) => podRef(p.name) === t.to)!;
          if (!server.ports.some((q) => q.containerPort === t.port && q.protocol === t.protocol)) continue;
          for (const p of PODS) {
            const from = podRef(p.name);
            if (from === t.to || upstream.some((u) => u.from === from && u.to === t.to && u.port === t.port && u.protocol === t.protocol)) continue;
            extra.push({ from, to: t.to, port: t.port, protocol: t.protocol });
          }
        }
        const cells = [...upstream, ...extra];
        const got = probePolicyCells(parseScenario(text, `${c.shortName}.yaml`), { at: (i + 1) * S, cells, timeout: 300_000_000 });

        const bad: string[] = [];
        flows.forEach((x, j) => {
          if ((got[j] === 'reply') !== x.connects)
            bad.push(`${x.from} → ${x.to}:${x.port}/${x.protocol}: packets ${got[j]}, upstream expects ${x.connects ? 'a connection' : 'no connection'}`);
        });
        const ev = new PolicyEvaluator(view, policySetOf(states[i]));
        extra.forEach((x, j) => {
          const want = ev.verdict(endpoint(x.from), endpoint(x.to), x.port, x.protocol).allowed;
          const o = got[upstream.length + j];
          if ((o === 'reply') !== want) bad.push(`(extra) ${x.from} → ${x.to}:${x.port}/${x.protocol}: packets ${o}, evaluator ${want ? 'allows' : 'denies'}`);
        });
        expect(bad, bad.join('\n')).toEqual([]);
      });
    });
  });
}
