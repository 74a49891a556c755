/**
 * The applications podwire runs in pods and hosts, with the semantics the
 * kernel-conformance probes implement too:
 *  - servers: every declared TCP/UDP port echoes what it receives; a TCP server
 *    closes when its peer half-closes;
 *  - clients: TCP connects, writes `size` bytes ('abc…z' repeating), reads the
 *    echo, closes; UDP sends one datagram and waits for the echo; ICMP pings as
 *    iputils does (1 s apart for count > 1).
 * Outcomes: reply, refused (RST / ICMP port or protocol unreachable),
 * unreachable (other ICMP errors), dropped (nothing within the timeout).
 */
import type { Netns } from '../kernel/netns.js';
import type { Skb } from '../kernel/skb.js';
import type { SockError, IcmpErrorInfo } from '../kernel/sockets.js';
import { TcpSock } from '../kernel/tcp.js';
import type { ContainerPortSpec, SourcePos } from './types.js';
import { InputError } from './errors.js';
import { ipToString } from '../wire/bytes.js';

export type Outcome = 'reply' | 'refused' | 'unreachable' | 'dropped' | 'nxdomain';

export function payload(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = 0x61 + (i % 26);
  return b;
}

export function startServers(ns: Netns, ports: ContainerPortSpec[], pos: SourcePos): void {
  for (const p of ports) {
    try {
      if (p.protocol === 'TCP') {
        ns.sockets.tcpListenOn(p.containerPort, {
          onData: (s, data) => s.send(data),
          onEnd: (s) => s.close(),
        });
      } else if (p.protocol === 'UDP') {
        ns.sockets.udpBind(p.containerPort, { onMessage: (data, _f, _p, reply) => reply(data) });
      }
      // SCTP ports are accepted in manifests but have no server in the model.
    } catch (e) {
      throw new InputError(pos.file, pos.line, pos.col, `${ns.node.name}/${ns.name}: ${(e as Error).message}`, 'each port declared once per pod');
    }
  }
}

export interface ClientRequest {
  ns: Netns;
  dst: number;
  protocol: 'icmp' | 'tcp' | 'udp';
  port?: number;
  sourcePort?: number;
  /** Source address override (for `from: ip/…`). */
  src?: number;
  size: number;
  /** icmp/udp: IP_MTU_DISCOVER (default want). */
  pmtuDiscovery?: 'want' | 'dont';
  timeout: number;
  flow: string;
  /** Called with the first packet the client sends (to watch its path). */
  onFirstSkb?: (skb: Skb) => void;
  done: (o: Outcome, detail: string) => void;
}

/** `connection: reuse`: `count` exchanges over one TCP connection or one UDP socket. */
export interface SessionRequest extends ClientRequest {
  protocol: 'tcp' | 'udp';
  count: number;
  /** Time between the starts of consecutive exchanges (ns). */
  interval: number;
  /** Per exchange: how it ended. `done` is called once, after the last exchange or the first failure. */
  onRound?: (k: number, o: Outcome, detail: string) => void;
}

function errOutcome(err: SockError, info?: IcmpErrorInfo): [Outcome, string] {
  const how = info ? `ICMP type ${info.type} code ${info.code} from ${ipToString(info.from)} (${err})` : err;
  if (err === 'ECONNREFUSED' || err === 'ENOPROTOOPT') return ['refused', how];
  if (err === 'ETIMEDOUT') return ['dropped', how];
  return ['unreachable', how];
}

/** Runs one request and calls `done` exactly once. */
export function runClient(r: ClientRequest): void {
  const sched = r.ns.node.world.sched;
  let finished = false;
  let timer = 0;
  const finish = (o: Outcome, detail: string) => {
    if (finished) return;
    finished = true;
    timer++;
    r.done(o, detail);
  };
  const gen = ++timer;
  // On timeout the client gives up as the kernel probe does: a connect still in SYN_SENT is closed (no more SYN retransmissions).
  let onTimeout: (() => void) | null = null;
  sched.after(r.timeout, () => {
    if (gen !== timer) return;
    finish('dropped', `no answer within ${r.timeout / 1e9}s`);
    onTimeout?.();
  });

  if (r.protocol === 'icmp') {
    const sock = r.ns.sockets.pingOpen({
      onReply: (_seq, from, ttl) => { sock.close(); finish('reply', `echo reply from ${ipToString(from)} ttl ${ttl}`); },
      onError: (err, info) => { sock.close(); const [o, d] = errOutcome(err, info); finish(o, d); },
    });
    if (r.pmtuDiscovery) sock.pmtudisc = r.pmtuDiscovery;
    const err = sock.send(r.dst, 1, r.size, r.flow, r.onFirstSkb, r.src);
    if (err) { sock.close(); const [o, d] = errOutcome(err); finish(o, d); }
    return;
  }
  if (r.protocol === 'udp') {
    const port = r.sourcePort ?? r.ns.sockets.ephemeralPort('udp');
    const sock = r.ns.sockets.udpBind(port, {
      onMessage: (data) => { sock.close(); finish('reply', `${data.length} bytes echoed`); },
      onError: (err, info) => { sock.close(); const [o, d] = errOutcome(err, info); finish(o, d); },
    });
    sock.raddr = r.dst;
    sock.rport = r.port!;
    if (r.src) sock.laddr = r.src;
    if (r.pmtuDiscovery) sock.pmtudisc = r.pmtuDiscovery;
    const err = sock.send(payload(r.size), r.dst, r.port!, r.flow, r.onFirstSkb);
    if (err) { sock.close(); const [o, d] = errOutcome(err); finish(o, d); }
    sched.after(r.timeout, () => sock.close());
    return;
  }
  let received = 0;
  let outcome: [Outcome, string] | null = null;
  const s = new TcpSock(r.ns, {
    onConnect: (sk) => {
      if (r.size === 0) { outcome = ['reply', 'connected']; sk.close(); return; }
      sk.send(payload(r.size));
    },
    onData: (sk, data) => {
      received += data.length;
      if (received >= r.size && !outcome) { outcome = ['reply', `${received} bytes echoed`]; sk.close(); }
    },
    onEnd: (sk) => { sk.close(); },
    onClose: () => { finish(...(outcome ?? ['refused', 'connection closed before the echo'] as [Outcome, string])); },
    onError: (_sk, err, info) => { const [o, d] = errOutcome(err, info); finish(o, d); },
  });
  s.flow = r.flow;
  if (r.onFirstSkb) s.onFirstSkb = r.onFirstSkb;
  onTimeout = () => { if (s.state === 'SYN_SENT') s.close(); };
  const err = s.connect(r.dst, r.port!, r.sourcePort, r.src);
  if (err) { const [o, d] = errOutcome(err); finish(o, d); }
}

/**
 * `connection: reuse`: one TCP connection (or one UDP socket, so one source
 * port and one conntrack entry) carrying `count` request/echo exchanges, one
 * every `interval` from the first. An established flow lives on what conntrack
 * remembers: a policy applied between two exchanges does not stop it when the
 * agent accepts ESTABLISHED first, as kube-router and felix do. The first
 * exchange that fails ends the session: a TCP connection whose echo does not
 * come back within `timeout` is abandoned (the socket is discarded, as a
 * client process giving up), and the outcome is that exchange's.
 */
export function runSession(r: SessionRequest): void {
  const sched = r.ns.node.world.sched;
  const start = sched.now;
  const outcomes: Outcome[] = [];
  let finished = false;
  let round = 0;
  let roundGen = 0;
  const finish = (o: Outcome, detail: string, close: () => void) => {
    if (finished) return;
    finished = true;
    roundGen++;
    close();
    const replied = outcomes.filter((x) => x === 'reply').length;
    r.done(o, `${replied}/${r.count} replied over one ${r.protocol === 'tcp' ? 'connection' : 'socket'}; ${detail}`);
  };
  const record = (o: Outcome, detail: string) => { outcomes.push(o); r.onRound?.(round, o, detail); };
  const settle = (o: Outcome, detail: string, close: () => void, next: () => void) => {
    if (finished) return;
    record(o, detail);
    if (o !== 'reply' || round >= r.count) { finish(o, detail, close); return; }
    sched.at(start + round * r.interval, next);
  };
  const armTimeout = (close: () => void) => {
    const gen = ++roundGen;
    sched.after(r.timeout, () => {
      if (gen !== roundGen || finished) return;
      record('dropped', `no answer within ${r.timeout / 1e9}s`);
      finish('dropped', `exchange ${round}: no answer within ${r.timeout / 1e9}s`, close);
    });
  };

  if (r.protocol === 'udp') {
    const port = r.sourcePort ?? r.ns.sockets.ephemeralPort('udp');
    const sock = r.ns.sockets.udpBind(port, {
      onMessage: (data) => { roundGen++; settle('reply', `${data.length} bytes echoed`, close, sendOne); },
      onError: (err, info) => { const [o, d] = errOutcome(err, info); roundGen++; settle(o, `exchange ${round}: ${d}`, close, sendOne); },
    });
    function close(): void { sock.close(); }
    sock.raddr = r.dst;
    sock.rport = r.port!;
    if (r.src) sock.laddr = r.src;
    if (r.pmtuDiscovery) sock.pmtudisc = r.pmtuDiscovery;
    function sendOne(): void {
      round++;
      armTimeout(close);
      const err = sock.send(payload(r.size), r.dst, r.port!, r.flow, round === 1 ? r.onFirstSkb : undefined);
      if (err) { const [o, d] = errOutcome(err); roundGen++; settle(o, `exchange ${round}: ${d}`, close, sendOne); }
    }
    sendOne();
    return;
  }
  let received = 0;
  const s = new TcpSock(r.ns, {
    onConnect: () => sendOne(),
    onData: (_sk, data) => {
      received += data.length;
      if (received >= round * r.size) { roundGen++; settle('reply', `${r.size} bytes echoed`, close, sendOne); }
    },
    onEnd: (sk) => { sk.close(); },
    onClose: () => { if (!finished) { record('refused', 'connection closed before the echo'); finish('refused', `exchange ${round}: connection closed before the echo`, () => {}); } },
    onError: (_sk, err, info) => { if (finished) return; const [o, d] = errOutcome(err, info); record(o, d); finish(o, `exchange ${round}: ${d}`, () => {}); },
  });
  function close(): void { if (s.state === 'ESTABLISHED' && round >= r.count && outcomes[outcomes.length - 1] === 'reply') s.close(); else s.done(); }
  function sendOne(): void {
    round++;
    armTimeout(close);
    s.send(payload(r.size));
  }
  s.flow = r.flow;
  if (r.onFirstSkb) s.onFirstSkb = r.onFirstSkb;
  // The handshake is the first exchange's: it has the item's timeout too.
  const gen = ++roundGen;
  sched.after(r.timeout, () => {
    if (gen === roundGen && !finished && s.state === 'SYN_SENT') { record('dropped', 'no answer'); finish('dropped', `no answer within ${r.timeout / 1e9}s`, () => s.close()); }
  });
  const err = s.connect(r.dst, r.port!, r.sourcePort, r.src);
  if (err) { const [o, d] = errOutcome(err); record(o, d); finish(o, d, () => {}); }
}
