/**
 * `podwire policy matrix|diff|explain` as a user runs it (node dist/src/cli/main.js,
 * built by `npm test`'s pretest or `npx tsc -p tsconfig.json`): every format of the
 * matrix and the diff, explanations of a denied and an allowed flow, --at, and the
 * errors (exit 2: usage with yargs' message, input with file:line:col, svg without
 * Graphviz, --probe without a prober).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const DIST = 'dist/src/cli/main.js';
const MODEL = 'scenarios/netpol-e2e-model.yaml';
const PODS = ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c'];

function podwire(args: string[], env?: NodeJS.ProcessEnv) {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run the tests with \`npm test\` (it builds first)`);
  return spawnSync(process.execPath, [DIST, ...args], { encoding: 'utf8', timeout: 60_000, env: env ?? process.env });
}

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-policy-'));
  try { return fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** Allowed cells of the model at start for 80/TCP: everything but x's isolation (x/a admits ns=y). */
function expected80(from: string, to: string): boolean {
  if (from === to) return true;
  if (!to.startsWith('x/')) return true;
  return to === 'x/a' && from.startsWith('y/');
}

describe('podwire policy matrix', () => {
  it('text: one e2e-style table per case (rows from, columns to, . allowed, X denied), aligned', () => {
    const r = podwire(['policy', 'matrix', MODEL, '--port', '80']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('80/TCP: 60/81 allowed (rows: from, columns: to; . allowed, X denied)');
    expect(lines[1]).toBe('-   x/a x/b x/c y/a y/b y/c z/a z/b z/c');
    expect(lines).toHaveLength(11);
    PODS.forEach((f, i) => expect(lines[2 + i]).toBe([f, ...PODS.map((t) => (expected80(f, t) ? '.' : 'X').padEnd(3))].join(' ').trimEnd()));
  });

  it('defaults to every port the pods declare (by port, then protocol); --protocol keeps some; output repeats exactly', () => {
    const r = podwire(['policy', 'matrix', MODEL]);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter((l) => /^\d+\//.test(l)).map((l) => l.split(':')[0])).toEqual(['80/TCP', '80/UDP', '81/TCP', '81/UDP']);
    expect(podwire(['policy', 'matrix', MODEL]).stdout).toBe(r.stdout);
    const udp = podwire(['policy', 'matrix', MODEL, '--protocol', 'udp']);
    expect(udp.stdout.split('\n').filter((l) => /^\d+\//.test(l)).map((l) => l.split(':')[0])).toEqual(['80/UDP', '81/UDP']);
  });

  it('json: exactly {"cells": [{from, to, port, protocol, allowed}]}, case-major, pods sorted', () => {
    const r = podwire(['policy', 'matrix', MODEL, '--port', '80', '--port', '81', '--protocol', 'TCP', '--format', 'json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { cells: Record<string, unknown>[] };
    expect(Object.keys(j)).toEqual(['cells']);
    expect(j.cells).toHaveLength(2 * 81);
    for (const c of j.cells) expect(Object.keys(c)).toEqual(['from', 'to', 'port', 'protocol', 'allowed']);
    expect(j.cells[0]).toEqual({ from: 'x/a', to: 'x/a', port: 80, protocol: 'TCP', allowed: true });
    expect(j.cells[81]).toEqual({ from: 'x/a', to: 'x/a', port: 81, protocol: 'TCP', allowed: true });
    for (const c of j.cells.slice(0, 81)) expect(c.allowed).toBe(expected80(c.from as string, c.to as string));
    // x/allow-y-to-a admits 80 only (until its replacement at 2s)
    expect(j.cells.find((c) => c.from === 'y/b' && c.to === 'x/a' && c.port === 81)!.allowed).toBe(false);
    expect(r.stdout.split('\n')[1]).toBe('  {"from": "x/a", "to": "x/a", "port": 80, "protocol": "TCP", "allowed": true},');
  });

  it('csv: a header line, then one row per cell', () => {
    const r = podwire(['policy', 'matrix', MODEL, '--port', '80/UDP', '--format', 'csv']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('from,to,port,protocol,allowed');
    expect(lines).toHaveLength(82);
    expect(lines[1]).toBe('x/a,x/a,80,UDP,true');
    expect(lines).toContain('z/c,x/a,80,UDP,false');
  });

  it('markdown: a heading and an aligned table per case', () => {
    const r = podwire(['policy', 'matrix', MODEL, '--port', '80', '--format', 'markdown']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('### 80/TCP');
    expect(lines[4]).toBe('| from \\ to | x/a | x/b | x/c | y/a | y/b | y/c | z/a | z/b | z/c |');
    expect(lines[5]).toBe('| --------- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    expect(lines[6]).toBe('| x/a       | .   | X   | X   | .   | .   | .   | .   | .   | .   |');
    expect(lines).toHaveLength(4 + 2 + 9);
  });

  it('dot: a digraph with a cluster per namespace and an edge per allowed pair (labelled with its cases when not all)', () => {
    const r = podwire(['policy', 'matrix', MODEL, '--port', '80', '--port', '81', '--format', 'dot']);
    expect(r.status).toBe(0);
    const out = r.stdout;
    expect(out.startsWith('digraph "policy matrix" {\n')).toBe(true);
    expect(out.trimEnd().endsWith('}')).toBe(true);
    for (const ns of ['x', 'y', 'z']) expect(out).toContain(`  subgraph "cluster_${ns}" {\n    label="namespace ${ns}";`);
    expect(out).toContain('    "x/a" [label="a"];');
    expect(out).toContain('  "y/a" -> "x/a" [label="80/TCP"];');
    expect(out).toContain('  "x/a" -> "y/a";');
    expect(out).not.toContain('"z/a" -> "x/a"');
    expect(out).not.toContain('"x/a" -> "x/a"');
    const edges = out.split('\n').filter((l) => l.includes(' -> '));
    expect(edges).toHaveLength(51); // 80/TCP's 60 allowed cells but the 9 self cells; 81/TCP allows a subset
  });

  it('svg: through Graphviz\'s dot -Tsvg; without it, a clear error and exit 2', () => {
    withTmp((dir) => {
      const none = podwire(['policy', 'matrix', MODEL, '--port', '80', '--format', 'svg'], { ...process.env, PATH: path.join(dir, 'empty') });
      expect(none.status).toBe(2);
      expect(none.stderr).toBe('podwire: --format svg needs Graphviz (the "dot" command) on PATH, and it was not found; install graphviz, or use --format dot and render it elsewhere\n');
      expect(none.stdout).toBe('');
      // A stand-in dot: the DOT text goes in on stdin, whatever it prints is the SVG.
      const fake = path.join(dir, 'dot');
      writeFileSync(fake, `#!/bin/sh\n[ "$1" = "-Tsvg" ] || exit 3\nprintf '<svg>'\n${JSON.stringify(process.execPath)} -e 'process.stdout.write(String(require("fs").readFileSync(0)).split("\\n").length + "")'\nprintf '</svg>'\n`);
      chmodSync(fake, 0o755);
      const r = podwire(['policy', 'matrix', MODEL, '--port', '80', '--format', 'svg'], { ...process.env, PATH: `${dir}${path.delimiter}${process.env.PATH ?? ''}` });
      expect(r.status).toBe(0);
      const dotLines = podwire(['policy', 'matrix', MODEL, '--port', '80', '--format', 'dot']).stdout.split('\n').length;
      expect(r.stdout).toBe(`<svg>${dotLines}</svg>`);
    });
  });

  it('--at: the events up to that time run first (replace at 2s, ANP at 3s, delete at 4s)', () => {
    const cell = (at: string, from: string, to: string, port: string) => {
      const j = JSON.parse(podwire(['policy', 'matrix', MODEL, '--port', port, '--format', 'json', '--at', at]).stdout) as { cells: { from: string; to: string; allowed: boolean }[] };
      return j.cells.find((c) => c.from === from && c.to === to)!.allowed;
    };
    expect([cell('1s', 'y/b', 'x/a', '81/TCP'), cell('2s', 'y/b', 'x/a', '81/TCP')]).toEqual([false, true]);
    expect([cell('2999ms', 'z/c', 'y/a', '80/UDP'), cell('3s', 'z/c', 'y/a', '80/UDP')]).toEqual([true, false]);
    expect([cell('3s', 'z/b', 'x/b', '80'), cell('5s', 'z/b', 'x/b', '80')]).toEqual([false, true]);
  });

  it('--probe: real packets through the policy agents\' rules agree with the evaluator in every cell, before and after the events', () => {
    for (const at of ['0', '5s']) {
      const r = podwire(['policy', 'matrix', MODEL, '--probe', '--at', at, '--format', 'json']);
      expect(r.status, r.stderr).toBe(0);
      const cells = (JSON.parse(r.stdout) as { cells: { allowed: boolean; observed: string }[] }).cells;
      expect(cells.length).toBe(9 * 9 * 4);
      for (const c of cells) expect(c.observed === 'reply').toBe(c.allowed);
      expect(cells.some((c) => !c.allowed)).toBe(true);
    }
  });

  it('--probe on Calico (felix\'s cali-* chains, IPIP, BGP settled first): every cell agrees, before and after the events', () => {
    for (const at of ['0', '15s']) {
      const r = podwire(['policy', 'matrix', 'scenarios/calico-netpol.yaml', '--probe', '--at', at, '--format', 'json']);
      expect(r.status, r.stderr).toBe(0);
      const cells = (JSON.parse(r.stdout) as { cells: { allowed: boolean; observed: string }[] }).cells;
      expect(cells.length).toBe(9 * 9 * 4);
      for (const c of cells) expect(c.observed === 'reply').toBe(c.allowed);
      // felix DROPs what no policy admits: a denied cell is silence, never a refusal.
      expect(new Set(cells.filter((c) => !c.allowed).map((c) => c.observed))).toEqual(new Set(['dropped']));
    }
  });

  it('errors: usage (yargs) and bad values exit 2; scenario errors print file:line:col', () => {
    const fmt = podwire(['policy', 'matrix', MODEL, '--format', 'png']);
    expect(fmt.status).toBe(2);
    expect(fmt.stderr).toMatch(/^podwire: Invalid values:\n\s+Argument: format, Given: "png", Choices: "text", "json", "csv", "markdown", "dot", "svg"/);
    expect(podwire(['policy']).status).toBe(2);
    expect(podwire(['policy', 'matrix']).stderr).toMatch(/^podwire: Not enough non-option arguments/);
    const port = podwire(['policy', 'matrix', MODEL, '--port', '99999']);
    expect([port.status, port.stderr]).toEqual([2, 'podwire: invalid --port "99999" (expected a port 1..65535, optionally with /TCP, /UDP or /SCTP)\n']);
    const pair = podwire(['policy', 'matrix', MODEL, '--port', '80', '--port', '81', '--port', '82', '--protocol', 'TCP', '--protocol', 'UDP']);
    expect([pair.status, pair.stderr]).toEqual([2, 'podwire: 3 --port values and 2 --protocol values: give one --protocol for every port, or one per --port, in order\n']);
    const at = podwire(['policy', 'matrix', MODEL, '--at', '5']);
    expect([at.status, at.stderr]).toEqual([2, 'podwire: invalid --at "5" (expected a duration with a unit: 2s, 1500ms, 0)\n']);
    const bad = 'test/fixtures/bad/netpol-unknown-field.yaml';
    const inp = podwire(['policy', 'matrix', bad]);
    expect(inp.status).toBe(2);
    expect(inp.stderr).toBe(`${readFileSync(bad, 'utf8').split('\n')[0]!.replace('# expect: ', '')}\n`);
    expect(podwire(['policy', 'matrix', 'no/such.yaml']).stderr).toBe('no/such.yaml:1:1: error: cannot read scenario file (ENOENT)\n');
  });
});

describe('podwire policy diff', () => {
  /** The model with x/deny-all gone from the manifests (as the event at 4s does). */
  function variant(dir: string): string {
    const text = readFileSync(MODEL, 'utf8')
      .replace(/  - \|\n    apiVersion: networking\.k8s\.io\/v1\n    kind: NetworkPolicy\n    metadata: \{name: deny-all, namespace: x\}\n    spec:\n      podSelector: \{\}\n      policyTypes: \[Ingress\]\n/, '')
      .replace(/  - at: 4s\n    kind: policy-delete\n    policy: NetworkPolicy\/x\/deny-all\n/, '');
    const f = path.join(dir, 'no-deny-all.yaml');
    writeFileSync(f, text);
    return f;
  }

  it('text: per case the cells opened (+) and closed (-), with lists; unchanged cases say so', () => withTmp((dir) => {
    const b = variant(dir);
    const r = podwire(['policy', 'diff', MODEL, b, '--port', '80', '--port', '82']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${MODEL} -> ${b}: 32 cells opened, 0 closed (9 pods, 80/TCP, 82/TCP)`);
    expect(lines[2]).toBe('80/TCP: 16 opened, 0 closed (. allowed in both, X denied in both, + opened, - closed)');
    expect(lines[3]).toBe('-   x/a x/b x/c y/a y/b y/c z/a z/b z/c');
    expect(lines[4]).toBe('x/a .   +   +   .   .   .   .   .   .');
    expect(lines[5]).toBe('x/b X   .   +   .   .   .   .   .   .');
    expect(lines[6]).toBe('x/c X   +   .   .   .   .   .   .   .');
    expect(lines[13]).toBe('  opened: x/a -> x/b, x/a -> x/c, x/b -> x/c, x/c -> x/b, y/a -> x/b, y/a -> x/c, y/b -> x/b, y/b -> x/c, y/c -> x/b, y/c -> x/c, z/a -> x/b, z/a -> x/c, z/b -> x/b, z/b -> x/c, z/c -> x/b, z/c -> x/c');
    expect(lines).toContain('82/TCP: 16 opened, 0 closed (. allowed in both, X denied in both, + opened, - closed)');
    const rev = podwire(['policy', 'diff', b, MODEL, '--port', '80']);
    expect(rev.stdout.split('\n')[0]).toBe(`${b} -> ${MODEL}: 0 cells opened, 16 closed (9 pods, 80/TCP)`);
    expect(rev.stdout).toContain('  closed: x/a -> x/b');
    const same = podwire(['policy', 'diff', MODEL, MODEL, '--port', '80']);
    expect(same.stdout).toBe(`${MODEL} -> ${MODEL}: 0 cells opened, 0 closed (9 pods, 80/TCP)\n\n80/TCP: no change\n`);
  }));

  it('json, csv, markdown and dot list the same changed cells', () => withTmp((dir) => {
    const b = variant(dir);
    const j = JSON.parse(podwire(['policy', 'diff', MODEL, b, '--port', '80', '--format', 'json']).stdout) as { opened: number; closed: number; onlyInA: string[]; onlyInB: string[]; cells: Record<string, unknown>[] };
    expect(Object.keys(j)).toEqual(['opened', 'closed', 'onlyInA', 'onlyInB', 'cells']);
    expect([j.opened, j.closed, j.onlyInA, j.onlyInB]).toEqual([16, 0, [], []]);
    expect(j.cells[0]).toEqual({ from: 'x/a', to: 'x/b', port: 80, protocol: 'TCP', before: false, after: true });
    const csv = podwire(['policy', 'diff', MODEL, b, '--port', '80', '--format', 'csv']).stdout.trimEnd().split('\n');
    expect(csv[0]).toBe('from,to,port,protocol,before,after');
    expect(csv.slice(1)).toEqual(j.cells.map((c) => `${c.from},${c.to},${c.port},${c.protocol},${c.before},${c.after}`));
    const md = podwire(['policy', 'diff', MODEL, b, '--port', '80', '--format', 'markdown']).stdout;
    expect(md).toContain('### 80/TCP');
    expect(md).toContain('| x/a       | .   | +   | +   | .   | .   | .   | .   | .   | .   |');
    const dot = podwire(['policy', 'diff', MODEL, b, '--port', '80', '--format', 'dot']).stdout;
    expect(dot).toContain('  "x/a" -> "x/b" [color="darkgreen", fontcolor="darkgreen", label="+80/TCP"];');
    expect(dot.split('\n').filter((l) => /^  "[^"]+" -> "/.test(l))).toHaveLength(16);
    const rdot = podwire(['policy', 'diff', b, MODEL, '--port', '80', '--format', 'dot']).stdout;
    expect(rdot).toContain('  "x/a" -> "x/b" [color="red", fontcolor="red", style="dashed", label="-80/TCP"];');
  }));

  it('pods only in one scenario are named and left out', () => withTmp((dir) => {
    const text = readFileSync(MODEL, 'utf8').replace(/  - \|\n    apiVersion: v1\n    kind: Pod\n    metadata: \{name: c, namespace: x, labels: \{pod: c\}\}\n(?:      .*\n|    spec:\n)+/, '');
    const b = path.join(dir, 'no-xc.yaml');
    writeFileSync(b, text);
    const r = podwire(['policy', 'diff', MODEL, b, '--port', '80']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').slice(0, 2)).toEqual([`${MODEL} -> ${b}: 0 cells opened, 0 closed (8 pods, 80/TCP)`, `pods only in ${MODEL} (not compared): x/c`]);
  }));
});

describe('podwire policy explain', () => {
  it('a denied flow: the tier walk per direction, the reason, then policy by policy', () => {
    const r = podwire(['policy', 'explain', MODEL, '--from', 'pod/z/b', '--to', 'pod/x/a', '--port', '80']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe([
      'z/b -> x/a 80/TCP: Dropped',
      '  egress of z/b: [NetworkPolicy] not isolated -> Allowed',
      '  ingress of x/a: [NetworkPolicy] no rule admits -> Dropped',
      'reason: x/a is isolated for ingress by x/deny-all, x/allow-y-to-a; no rule of [x/deny-all, x/allow-y-to-a] admits z/b:80/TCP',
      'policy by policy:',
      '  egress of z/b:',
      '    NetworkPolicy: none selects z/b for egress (not isolated)',
      '  ingress of x/a:',
      '    NetworkPolicy x/deny-all: selects x/a for ingress; no ingress rule admits z/b:80/TCP',
      '    NetworkPolicy x/allow-y-to-a: selects x/a for ingress; no ingress rule admits z/b:80/TCP',
      '    => no NetworkPolicy admits it',
      '',
    ].join('\n'));
  });

  it('an allowed flow names the admitting rule, peer and port', () => {
    const r = podwire(['policy', 'explain', MODEL, '--from', 'pod/y/b', '--to', 'pod/x/a', '--port', '80', '--protocol', 'tcp']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('y/b -> x/a 80/TCP: Allowed\n');
    expect(r.stdout).toContain('  ingress of x/a: [NetworkPolicy] x/allow-y-to-a ingress[0] admits -> Allowed\n');
    expect(r.stdout).toContain('    NetworkPolicy x/allow-y-to-a: selects x/a for ingress; ingress[0] admits (from[0], ports[0])\n');
    expect(r.stdout).not.toContain('reason:');
  });

  it('the AdminNetworkPolicy tier after its policy-apply (--at), and JSON of the verdict', () => {
    const r = podwire(['policy', 'explain', MODEL, '--from', 'pod/z/c', '--to', 'pod/y/a', '--port', '80', '--protocol', 'UDP', '--at', '3s']);
    expect(r.stdout).toContain('  ingress of y/a: [ANP pri 10 deny-z-to-y] Deny (rule no-z) -> Dropped\n');
    expect(r.stdout).toContain('reason: y/a: AdminNetworkPolicy deny-z-to-y (priority 10) ingress rule no-z denies z/c:80/UDP\n');
    expect(r.stdout).toContain('    AdminNetworkPolicy deny-z-to-y (priority 10): ingress rule "no-z" matches: Deny\n');
    const j = JSON.parse(podwire(['policy', 'explain', MODEL, '--from', 'pod/z/c', '--to', 'pod/y/a', '--port', '80', '--protocol', 'UDP', '--at', '3s', '--format', 'json']).stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ allowed: false, from: 'z/c', to: 'y/a', port: 80, protocol: 'UDP', ingress: { decidedBy: 'ANP' } });
  });

  it('nodes and self: the shortcut rules', () => {
    const self = podwire(['policy', 'explain', MODEL, '--from', 'pod/x/b', '--to', 'pod/x/b', '--port', '80']);
    expect(self.stdout).toBe('x/b -> x/b 80/TCP: Allowed (a pod reaching itself never leaves its network namespace)\n');
    const node = podwire(['policy', 'explain', MODEL, '--from', 'node/node-1', '--to', 'pod/x/a', '--port', '80']);
    expect(node.stdout).toBe('node/node-1 -> x/a 80/TCP: Allowed (traffic from the pod\'s own node is always allowed)\n');
  });

  it('errors: unknown pods and missing options exit 2', () => {
    const r = podwire(['policy', 'explain', MODEL, '--from', 'pod/x/q', '--to', 'pod/x/a', '--port', '80']);
    expect([r.status, r.stderr]).toEqual([2, `podwire: --from pod/x/q: no pod x/q in ${MODEL} at this time (pods: ${PODS.join(', ')})\n`]);
    const bad = podwire(['policy', 'explain', MODEL, '--from', 'x/a', '--to', 'pod/x/a', '--port', '80']);
    expect([bad.status, bad.stderr]).toEqual([2, 'podwire: invalid --from "x/a" (expected pod/NS/NAME, node/NAME, host/NAME or ip/A.B.C.D)\n']);
    const miss = podwire(['policy', 'explain', MODEL, '--from', 'pod/x/a', '--to', 'pod/x/b']);
    expect(miss.status).toBe(2);
    expect(miss.stderr).toMatch(/^podwire: Missing required argument: port/);
    const proto = podwire(['policy', 'explain', MODEL, '--from', 'pod/x/a', '--to', 'pod/x/b', '--port', '80', '--protocol', 'icmp']);
    expect([proto.status, proto.stderr]).toEqual([2, 'podwire: invalid protocol "icmp" (expected TCP, UDP or SCTP)\n']);
  });
});

describe('podwire policy matrix with workloads', () => {
  it("lists the pods a Deployment's ReplicaSet made, by their generated names", () => {
    const r = podwire(['policy', 'matrix', 'scenarios/node-failure-deployment.yaml', '--port', '80']);
    expect(r.status).toBe(0);
    const header = r.stdout.split('\n')[1]!;
    expect(header.match(/default\/web-[a-z0-9]+-[a-z0-9]{5}/g)).toHaveLength(3);
  });
});
