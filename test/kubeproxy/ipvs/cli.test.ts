/**
 * `podwire save ipvs FILE --node N [--stats|--rate|-c/--connections]` and `save ipset` on an
 * ipvs-mode node: ipvsadm's and ipset's text at the end of the run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const DIST = 'dist/src/cli/main.js';
function podwire(args: string[]) {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\` (it builds first)`);
  return spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('podwire save ipvs|ipset (ipvs mode)', () => {
  it('ipvsadm -Ln: the header, persistent ClusterIP, NodePort virtual servers on the node addresses, Masq real servers', () => {
    const r = podwire(['save', 'ipvs', 'scenarios/ipvs-loadbalancer.yaml', '--node', 'node-1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^IP Virtual Server version 1\.2\.1 \(size=4096\)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port {11}Forward Weight ActiveConn InActConn\n/);
    expect(r.stdout).toMatch(/^TCP  \S+:9000 rr persistent 600$/m);
    expect(r.stdout).toMatch(/^TCP  192\.168\.1\.11:31080 rr$/m);
    expect(r.stdout).toMatch(/^  -> 10\.244\.\d+\.\d+:8080 +Masq +1 +\d+ +\d+ *$/m);
  });

  it('--stats and -c (the connection table with the persistence template)', () => {
    const s = podwire(['save', 'ipvs', 'scenarios/ipvs-loadbalancer.yaml', '--node', 'node-1', '--stats']);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/^Prot LocalAddress:Port {15}Conns +InPkts +OutPkts +InBytes +OutBytes$/m);
    const c = podwire(['save', 'ipvs', 'scenarios/ipvs-loadbalancer.yaml', '--node', 'node-2', '-c']);
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^IPVS connection entries\npro expire state {7}source {13}virtual {12}destination\n/);
    expect(c.stdout).toMatch(/^TCP \d\d:\d\d  NONE +10\.244\.\d+\.\d+:0 +\S+:9000 +10\.244\.\d+\.\d+:9000$/m);
    expect(podwire(['save', 'ipvs', 'scenarios/ipvs-loadbalancer.yaml', '--node', 'node-2', '--connections']).stdout).toBe(c.stdout);
  });

  it('ipset save: the sets of ipsetInfo with their entries', () => {
    const r = podwire(['save', 'ipset', 'scenarios/ipvs-nodeport.yaml', '--node', 'node-1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 /m);
    expect(r.stdout).toMatch(/^add KUBE-NODE-PORT-TCP 30080$/m);
    expect(r.stdout).toMatch(/^add KUBE-NODE-PORT-LOCAL-TCP 30081$/m);
    expect(r.stdout).toMatch(/^add KUBE-IPVS-IPS 10\.96\.0\.1$/m);
  });
});
