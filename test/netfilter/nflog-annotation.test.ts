/**
 * The NFLOG target (parse, save, non-terminating, a trace line) and rule annotations
 * (NetfilterNs.annotations): the annotation of a chain is added to the trace line of the rule
 * that decided and to the drop's detail, only while tracing.
 */
import { describe, expect, it } from 'vitest';
import { parseRule } from '../../src/netfilter/restore.js';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { iptablesRestore, netfilterOf } from '../../src/netfilter/index.js';
import { MemorySink } from '../../src/trace/render.js';
import { fakeOps, pkt } from './helpers.js';

describe('NFLOG', () => {
  it('parses, saves as libxt_NFLOG prints it and goes on with the next rule', () => {
    const r = parseRule('-m mark ! --mark 0x10000/0x10000 -j NFLOG --nflog-group 100 -m limit --limit 10/minute --limit-burst 10', 'filter', 'X');
    expect(r.target!.save()).toBe('-j NFLOG --nflog-group 100');
    expect(r.matches.map((m) => m.save()).join(' ')).toBe('-m mark ! --mark 0x10000/0x10000 -m limit --limit 10/min --limit-burst 10');
    const { ops, calls } = fakeOps();
    expect(r.target!.run(pkt({ ops }))).toEqual({ kind: 'continue' });
    expect(calls.log).toEqual(['NFLOG group 100']);
    expect(parseRule('-j NFLOG --nflog-prefix "a b" --nflog-size 128 --nflog-threshold 2', 'filter', 'X').target!.save())
      .toBe('-j NFLOG --nflog-prefix "a b" --nflog-size 128 --nflog-threshold 2');
    expect(parseRule('-j NFLOG', 'filter', 'X').target!.save()).toBe('-j NFLOG');
    expect(() => parseRule('-j NFLOG --nflog-group 70000', 'filter', 'X')).toThrow(/nflog-group/);
  });
});

describe('rule annotations', () => {
  function setup(trace: boolean) {
    const world = new World(1);
    const sink = new MemorySink();
    if (trace) world.trace = sink;
    const node = new Node(world, 'n1', 'node');
    world.nodes.set('n1', node);
    node.linkSetUp('host', 'lo');
    iptablesRestore(node, 'host', '*filter\n:OUTPUT ACCEPT [0:0]\n:GUARD - [0:0]\n-A OUTPUT -j GUARD\n-A GUARD -p udp --dport 9 -j REJECT\nCOMMIT\n');
    let calls = 0;
    netfilterOf(node.host).nf.annotations.set('GUARD', (p, _rule, num) => { calls++; return `rule ${num} refuses port ${p.dport}`; });
    const errors: string[] = [];
    const sock = node.host.sockets.udpBind(5000, { onMessage: () => {}, onError: (e) => errors.push(e) });
    sock.raddr = 0x7f000001;
    sock.rport = 9;
    sock.send(new Uint8Array(4), 0x7f000001, 9, 'f');
    world.sched.run(1e9);
    return { sink, errors, calls: () => calls };
  }

  it('names the deciding rule in the trace line and the drop detail', () => {
    const { sink, errors, calls } = setup(true);
    expect(errors).toEqual(['ECONNREFUSED']);
    expect(calls()).toBe(1);
    expect(sink.events.some((e) => e.stage === 'nf.rule' && e.detail.endsWith('→ DROP (rule 1 refuses port 9)'))).toBe(true);
    expect(sink.events.find((e) => e.stage === 'drop')?.detail).toBe('iptables filter OUTPUT dropped it: rule 1 refuses port 9');
  });

  it('is never called without a trace', () => {
    const { errors, calls } = setup(false);
    expect(errors).toEqual(['ECONNREFUSED']);
    expect(calls()).toBe(0);
  });
});
