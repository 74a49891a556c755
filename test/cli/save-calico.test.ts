/**
 * `podwire save routes|bird`: `ip route` of a machine in the kernel's dump order, and what
 * `birdc show protocols` / `birdc show route` print on a Calico node or the BGP-peered router.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const DIST = 'dist/src/cli/main.js';
function podwire(args: string[]) {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\` (it builds first)`);
  return spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('podwire save routes|bird', () => {
  it('routes: the main table sorted as the kernel dumps it (destination ascending, longer prefix first)', () => {
    const r = podwire(['save', 'routes', 'scenarios/calico-tor.yaml', '--node', 'node-1']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('default via 192.168.70.254 dev eth0');
    expect(lines).toContain('192.168.70.0/24 dev eth0 proto kernel scope link src 192.168.70.11');
    expect(lines.filter((l) => l.includes('proto bird')).length).toBeGreaterThanOrEqual(3);
    const key = (l: string) => { const m = /(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/.exec(l.replace(/^default/, '0.0.0.0/0'))!; return [m[1]!.split('.').reduce((a, o) => a * 256 + Number(o), 0), Number(m[2] ?? 32)] as const; };
    for (let i = 1; i < lines.length; i++) {
      const [a, pa] = key(lines[i - 1]!), [b, pb] = key(lines[i]!);
      expect(a < b || (a === b && pa >= pb), `${lines[i - 1]} before ${lines[i]}`).toBe(true);
    }
  });

  it('bird: the route reflector sessions and the reflected paths with their RFC 4456 attributes', () => {
    const r = podwire(['save', 'bird', 'scenarios/calico-route-reflectors.yaml', '--node', 'node-3']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\$ birdc show protocols\nName +Proto +Table +State +Since +Info\n/);
    expect(r.stdout).toMatch(/^Node_192_168_70_11 +BGP +--- +up +[\d.]+ +Established$/m);
    expect(r.stdout).toMatch(/^Node_192_168_70_12 +BGP +--- +up +[\d.]+ +Established$/m);
    expect(r.stdout).toMatch(/\tBGP\.cluster_list: 244\.0\.0\.1\n/);
    expect(r.stdout).toMatch(/ blackhole \[static1 /);
  });

  it('bird on a machine without BGP: exit 2 and why', () => {
    const r = podwire(['save', 'bird', 'scenarios/calico-ipip.yaml', '--node', 'internet']);
    expect([r.status, r.stderr]).toEqual([2, 'podwire: scenarios/calico-ipip.yaml: internet runs no BGP speaker (BIRD runs on the Calico nodes and on a router named in network.bgp.peers)\n']);
    const f = podwire(['save', 'bird', 'scenarios/same-node-bridge.yaml', '--node', 'node-1']);
    expect(f.status).toBe(2);
    expect(f.stderr).toMatch(/not calico/);
  });
});
