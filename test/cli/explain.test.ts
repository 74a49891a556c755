/**
 * `podwire explain FILE --traffic NAME` as a user runs it (node dist/src/cli/main.js): golden output
 * for a dropped (Calico policy), a refused (REJECT with tcp-reset) and a delivered (ClusterIP over
 * flannel VXLAN) item, and the errors. `UPDATE_GOLDEN=1` rewrites the golden files after a deliberate
 * change; review the diff.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const DIST = 'dist/src/cli/main.js';

function podwire(args: string[], env: NodeJS.ProcessEnv = process.env) {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\` (it builds first)`);
  return spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 60_000, env });
}

function golden(name: string, got: string): void {
  const file = `test/cli/golden/${name}`;
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, got);
  expect(got).toBe(readFileSync(file, 'utf8'));
}

describe('podwire explain', () => {
  it('dropped: the hop that dropped it, the rule, and the policy reason', () => {
    const r = podwire(['explain', 'scenarios/calico-netpol.yaml', '--traffic', 'z-b-to-x-a-80']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    golden('explain-dropped.txt', r.stdout);
    const last = r.stdout.trimEnd().split('\n').pop()!;
    expect(last).toBe('dropped at node-1 filter FORWARD: cali-tw-cali456b416f2bf DROP, x/a is isolated for ingress by x/deny-all, x/allow-y-to-a; no rule of [x/deny-all, x/allow-y-to-a] admits z/b:80/TCP');
    // the request crosses the IPIP tunnel before it dies
    expect(r.stdout).toMatch(/node-2\/host {2}calia2d278c49cc → tunl0 ⇒ eth0 .*IPIP 192\.168\.1\.12 → 192\.168\.1\.11/);
    expect(r.stdout).toMatch(/^sent 2 times \(11\.100000000, 12\.100000000\); every copy ended the same way$/m);
  });

  it('refused: the REJECT rule and the RST it answered with', () => {
    const r = podwire(['explain', 'scenarios/reject.yaml', '--traffic', 'tcp-8080-reset']);
    expect(r.status).toBe(0);
    golden('explain-refused.txt', r.stdout);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('refused by node-1/host: filter FORWARD rule 1: REJECT --reject-with tcp-reset, answered with a TCP RST');
    expect(r.stdout).toMatch(/^answer #\d+ from node-1\/host .*Flags \[R\.\]/m);
  });

  it('delivered: DNAT to the endpoint, VXLAN both ways, un-DNAT of the answer', () => {
    const r = podwire(['explain', 'scenarios/flannel-vxlan.yaml', '--traffic', 'pod-to-clusterip-remote-endpoint']);
    expect(r.status).toBe(0);
    golden('explain-delivered.txt', r.stdout);
    expect(r.stdout).toMatch(/KUBE-SEP-\w+ rule \d+: DNAT --to-destination 10\.244\.1\.2:80 \("default\/web:http"\)/);
    expect(r.stdout).toMatch(/un-DNAT \[10\.244\.1\.2:80 → 10\.244\.0\.2:\d+\] ⇒ \[10\.\d+\.\d+\.\d+:80 → 10\.244\.0\.2:\d+\]/);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('delivered at node-2/default.web (TCP SYN to listener on port 80), answered from node-2/default.web and delivered back at node-1/default.client');
  });

  it('piped output has no colour; --no-color and NO_COLOR are accepted', () => {
    const a = podwire(['explain', 'scenarios/reject.yaml', '--traffic', 'tcp-8080-reset']);
    const b = podwire(['explain', 'scenarios/reject.yaml', '--traffic', 'tcp-8080-reset', '--no-color']);
    const c = podwire(['explain', 'scenarios/reject.yaml', '--traffic', 'tcp-8080-reset'], { ...process.env, NO_COLOR: '1' });
    expect(a.stdout).not.toMatch(/\x1b\[/);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
  });

  it('an unknown item or a missing --traffic exits 2 and says what was expected', () => {
    const r = podwire(['explain', 'scenarios/reject.yaml', '--traffic', 'nope']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no traffic item named 'nope'; expected one of: tcp-80-passes, tcp-8080-reset/);
    const m = podwire(['explain', 'scenarios/reject.yaml']);
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/Missing required argument: traffic/);
    const bad = podwire(['explain', 'scenarios/does-not-exist.yaml', '--traffic', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
