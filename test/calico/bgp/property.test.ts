/**
 * Property: whatever the topology (full mesh, one or two reflectors), the
 * order and timing of block announcements and withdrawals, speakers
 * stopping and starting again and links going down and up, once the clock has run long enough every
 * running node's `proto bird` routes are exactly its own blocks as blackholes
 * and every other running node's blocks via that node.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatRoute } from '../../../src/kernel/fib.js';
import { BgpCluster } from '../../../src/calico/bgp/index.js';
import { bgpLab } from './lab.js';
import { MS } from '../../../src/engine/time.js';

type Op = { at: number; node: number; kind: 'announce' | 'withdraw' | 'stop' | 'start' | 'down' | 'up'; block: number };

const scenario = fc.record({
  n: fc.integer({ min: 2, max: 6 }),
  mode: fc.constantFrom('mesh', 'rr1', 'rr2'),
  seed: fc.integer({ min: 1, max: 1000 }),
  ops: fc.array(fc.record({
    at: fc.integer({ min: 0, max: 20_000 }),
    node: fc.nat(),
    kind: fc.constantFrom('announce', 'announce', 'withdraw', 'stop', 'start', 'down', 'up'),
    block: fc.integer({ min: 0, max: 2 }),
  }), { maxLength: 12 }),
});

describe('BGP property', () => {
  it('settled routes = every running node\'s blocks via their node, own blocks as blackholes', () => {
    fc.assert(fc.property(scenario, ({ n, mode, seed, ops }) => {
      const lab = bgpLab(n, { seed, trace: false });
      const c = new BgpCluster(lab.w, { mode: mode === 'mesh' ? 'mesh' : 'reflectors' });
      lab.nodes.forEach((node, i) => c.add({ node, ip: lab.ips[i], ...(mode !== 'mesh' && i < (mode === 'rr1' ? 1 : 2) ? { clusterId: '224.0.0.1' } : {}) }));
      c.start();
      const blocks = lab.nodes.map(() => new Set<string>());
      const up = lab.nodes.map(() => true);
      const linkUp = lab.nodes.map(() => true);
      const sorted = [...ops].sort((a, b) => a.at - b.at) as Op[];
      for (const op of sorted) {
        lab.w.sched.run(op.at * MS);
        const i = op.node % n;
        const b = `10.48.${i * 4 + op.block}.0/26`;
        const s = c.speakers[i];
        if (op.kind === 'announce') { s.announce(b); blocks[i].add(b); }
        else if (op.kind === 'withdraw') { if (blocks[i].has(b)) { s.withdraw(b); blocks[i].delete(b); } }
        else if (op.kind === 'stop') { s.stop(); up[i] = false; }
        else if (op.kind === 'start') { s.start(); up[i] = true; }
        else { lab.nodes[i].linkSetUp('host', 'eth0', op.kind === 'up'); linkUp[i] = op.kind === 'up'; }
      }
      // Error wait (up to 30 s), connect delay, retries, and the 240 s graceful-restart recovery that prunes stale kernel routes.
      lab.run(300);
      // A node is reachable when its BIRD runs and its link is up.
      const running = up.map((u, i) => u && linkUp[i]);
      if (running.every(Boolean)) expect(c.sessions()).toBe(c.configuredSessions());
      // A reflector that is not running cannot reflect: clients then only see the other reflector's routes.
      const rrUp = mode === 'mesh' || running.slice(0, mode === 'rr1' ? 1 : 2).some(Boolean);
      for (let i = 0; i < n; i++) {
        if (!running[i]) continue;
        const got = lab.nodes[i].ns('host').fib.routes(254).map(formatRoute).filter((r) => r.includes('proto bird')).sort();
        const want: string[] = [...blocks[i]].map((b) => `blackhole ${b} proto bird`);
        for (let j = 0; j < n; j++) {
          if (j === i || !running[j]) continue;
          const isRR = (k: number) => mode !== 'mesh' && k < (mode === 'rr1' ? 1 : 2);
          const reachable = mode === 'mesh' || isRR(i) || isRR(j) || rrUp;
          if (!reachable) continue;
          for (const b of blocks[j]) want.push(`${b} via ${lab.ips[j]} dev eth0 proto bird`);
        }
        // A stopped-then-restarted node keeps (persist) routes it had; only check that everything expected is there
        // and nothing of a running node's withdrawn blocks remains.
        for (const w of want) expect(got).toContain(w);
        for (const g of got) {
          const m = g.match(/^(?:blackhole )?(\S+) /)!;
          const owner = Math.floor(Number(m[1].split('.')[2]) / 4);
          if (running[owner] && reachable(owner)) expect(want).toContain(g);
        }
        function reachable(j: number): boolean {
          const isRR = (k: number) => mode !== 'mesh' && k < (mode === 'rr1' ? 1 : 2);
          return j === i || mode === 'mesh' || isRR(i) || isRR(j) || rrUp;
        }
      }
    }), { numRuns: 200 });
  }, 120_000);
});
