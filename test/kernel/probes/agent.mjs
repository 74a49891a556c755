// Probe agent for kernel-conformance tests. Runs inside one network namespace
// (`ip netns exec <ns> node agent.mjs '<json config>'`) and does exactly what
// podwire's traffic model does there:
//
//  servers (config.servers = [{protocol:'tcp'|'udp', port}]), on 0.0.0.0:port:
//    TCP: echo every byte received; when the peer half-closes (FIN), close too.
//    UDP: echo each datagram back to its sender.
//  clients, one JSON request per stdin line:
//    {id, protocol:'tcp'|'udp'|'icmp', dst, port, size, count, timeoutMs, sourcePort?, atMs?, pmtuDiscovery?}
//    pmtuDiscovery ('want'|'dont', icmp and udp): IP_MTU_DISCOVER as podwire's socket option.
//    ICMP: ping -M want|dont. UDP: 'want' is what a new socket gets anyway (net.ipv4.ip_no_pmtu_disc
//    is 0); Node's dgram cannot set IP_MTU_DISCOVER, so for 'dont' the namespace's own
//    /proc/sys/net/ipv4/ip_no_pmtu_disc is 1 only while the socket is created (inet_create reads it
//    then; the agent runs inside its pw- namespace, so only that namespace's value changes) and back
//    to 0 once it is bound, before anything is sent (with 1, icmp_unreach would ignore frag-needed).
//    atMs = wall-clock epoch ms to start at (waits until then).
//    TCP: connect (from sourcePort if given), write `size` bytes (byte i = 0x61 + i % 26),
//         read until `size` bytes came back, then close (FIN) and wait for the close.
//         reply | refused (RST / ICMP port unreachable) | unreachable (other ICMP errors) | dropped (timeout).
//    UDP: connected socket, one datagram of `size` bytes (same pattern); reply (echo) |
//         refused (ICMP port unreachable -> ECONNREFUSED) | dropped (timeout).
//    ICMP: one ping -c count -s size -W timeout -n dst (1 s apart, seq 1..count).
//    `count` repeats the request one second apart, as podwire's traffic model does
//    (src/scenario/run.ts: request i starts at start + i s, or when request i-1 ends if later).
//    Back to back they changed what the kernel did afterwards: the neighbour confirmations
//    of four hairpin connections in 13 ms were all older than delay_first_probe_time (5 s)
//    when the DELAY timer fired (late, timer wheel), so the kernel sent a unicast ARP probe
//    the model, whose repeats ran 1 s apart, did not.
//    connection: 'reuse' (tcp/udp): the `count` requests go over one connection (one socket):
//    request i is written at start + i s (or when request i-1 ended if later); results end at
//    the first request that fails (as podwire's runSession: a TCP connection whose echo did not
//    come back in time is destroyed).
//  Prints one JSON line per event: {ready:true} once every server listens, then
//  {id, results:[...], details:[...], startedAt, endedAt} per request.
//  Exits when stdin closes (after running requests have finished) or on SIGTERM.
import net from 'node:net';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { writeFileSync } from 'node:fs';

const NO_PMTU_DISC = '/proc/sys/net/ipv4/ip_no_pmtu_disc';

const config = JSON.parse(process.argv[2] ?? '{"servers":[]}');
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function pattern(size) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 0x61 + (i % 26);
  return b;
}

// ---- servers ----
const servers = [];
async function startServers() {
  for (const s of config.servers ?? []) {
    if (s.protocol === 'tcp') {
      const srv = net.createServer({ allowHalfOpen: false }, (sock) => {
        sock.on('data', (d) => sock.write(d));
        sock.on('error', () => {});
      });
      await new Promise((res, rej) => {
        srv.once('error', rej);
        srv.listen({ host: '0.0.0.0', port: s.port }, res);
      });
      servers.push(srv);
    } else if (s.protocol === 'udp') {
      const sock = dgram.createSocket('udp4');
      sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
      sock.on('error', () => {});
      await new Promise((res, rej) => {
        sock.once('error', rej);
        sock.bind(s.port, '0.0.0.0', res);
      });
      servers.push(sock);
    }
  }
}

// ---- clients ----
function tcpOnce(req) {
  return new Promise((resolve) => {
    const want = req.size;
    let got = 0;
    let result = null;
    let detail = '';
    const opts = { host: req.dst, port: req.port, allowHalfOpen: false };
    if (req.sourcePort) opts.localPort = req.sourcePort;
    const sock = net.connect(opts);
    const finish = (r, d) => {
      if (result === null) {
        result = r;
        detail = d;
      }
    };
    const timer = setTimeout(() => {
      finish('dropped', 'timeout');
      sock.destroy();
    }, req.timeoutMs);
    sock.on('connect', () => {
      detail = `local port ${sock.localPort}`;
      if (want > 0) sock.write(pattern(want));
      else {
        finish('reply', detail);
        sock.end();
      }
    });
    sock.on('data', (d) => {
      got += d.length;
      if (got >= want && result === null) {
        finish('reply', `local port ${sock.localPort}`);
        sock.end();
      }
    });
    sock.on('error', (e) => {
      if (['ECONNREFUSED', 'ECONNRESET'].includes(e.code)) finish('refused', e.code);
      else if (['EHOSTUNREACH', 'ENETUNREACH'].includes(e.code)) finish('unreachable', e.code);
      else finish('dropped', e.code ?? String(e));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      finish('dropped', 'closed early');
      resolve({ result, detail });
    });
  });
}

function udpOnce(req) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    let done = false;
    const finish = (result, detail) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        sock.close();
      } catch {}
      resolve({ result, detail });
    };
    const timer = setTimeout(() => finish('dropped', 'timeout'), req.timeoutMs);
    sock.on('error', (e) => {
      if (e.code === 'ECONNREFUSED') finish('refused', e.code);
      else if (['EHOSTUNREACH', 'ENETUNREACH'].includes(e.code)) finish('unreachable', e.code);
      else finish('dropped', e.code ?? String(e));
    });
    sock.on('message', (msg) => {
      if (msg.length === req.size) finish('reply', `local port ${sock.address().port}`);
    });
    const dont = req.pmtuDiscovery === 'dont';
    if (dont) writeFileSync(NO_PMTU_DISC, '1');
    sock.bind(req.sourcePort ?? 0, () => {
      if (dont) writeFileSync(NO_PMTU_DISC, '0');
      sock.connect(req.port, req.dst, (err) => {
        if (err) return finish('dropped', String(err));
        sock.send(pattern(req.size));
      });
    });
  });
}

// ICMP: one `ping -c count -s size -W secs -n dst` (iputils: 1 s interval, seq 1..count, one id);
// the result of each seq: reply if answered, refused if an ICMP error came back, else dropped.
function icmpAll(req) {
  return new Promise((resolve) => {
    const count = req.count ?? 1;
    const secs = Math.max(1, Math.ceil(req.timeoutMs / 1000));
    const pm = req.pmtuDiscovery ? ['-M', req.pmtuDiscovery] : [];
    const p = spawn('ping', ['-c', String(count), '-s', String(req.size), '-W', String(secs), ...pm, '-n', req.dst], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.stderr.on('data', (d) => (text += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), count * 1000 + req.timeoutMs + 3000);
    const finish = (extra) => {
      clearTimeout(killer);
      const results = [];
      const details = [];
      for (let seq = 1; seq <= count; seq++) {
        const re = new RegExp(`icmp_seq=${seq}\\b`);
        const line = text.split('\n').find((l) => re.test(l)) ?? '';
        // podwire's outcomes: port/protocol unreachable = refused; other ICMP errors = unreachable.
        results.push(/bytes from/.test(line) ? 'reply' : /(Port|Protocol) Unreachable/i.test(line) ? 'refused' : /nreachable|rohibited|exceeded|Frag needed/i.test(line) ? 'unreachable' : 'dropped');
        details.push(line.trim() || extra);
      }
      resolve({ results, details });
    };
    p.on('exit', (code) => finish(`exit ${code}`));
    p.on('error', (e) => finish(String(e)));
  });
}

// `connection: reuse`: one TCP connection or one connected UDP socket for all `count` requests.
function session(req, startedAt) {
  return new Promise((resolve) => {
    const results = [];
    const details = [];
    const count = req.count ?? 1;
    let got = 0;
    let round = 0;
    let timer = null;
    let ended = false;
    let sock;
    const end = (r, d) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      if (r) { results.push(r); details.push(d); }
      if (req.protocol === 'tcp') { if (r === 'reply') sock.end(); else sock.destroy(); }
      else try { sock.close(); } catch {}
      resolve({ results, details });
    };
    const next = () => {
      round++;
      clearTimeout(timer);
      timer = setTimeout(() => end('dropped', `request ${round}: timeout`), req.timeoutMs);
      if (req.protocol === 'tcp') sock.write(pattern(req.size));
      else sock.send(pattern(req.size));
    };
    const replied = () => {
      clearTimeout(timer);
      if (round >= count) { end('reply', `request ${round}: echoed`); return; }
      results.push('reply');
      details.push(`request ${round}: echoed`);
      setTimeout(next, Math.max(0, startedAt + round * 1000 - Date.now()));
    };
    const onError = (e) => {
      if (['ECONNREFUSED', 'ECONNRESET'].includes(e.code)) end('refused', e.code);
      else if (['EHOSTUNREACH', 'ENETUNREACH'].includes(e.code)) end('unreachable', e.code);
      else end('dropped', e.code ?? String(e));
    };
    if (req.protocol === 'tcp') {
      const opts = { host: req.dst, port: req.port, allowHalfOpen: false };
      if (req.sourcePort) opts.localPort = req.sourcePort;
      sock = net.connect(opts);
      timer = setTimeout(() => end('dropped', 'connect timeout'), req.timeoutMs);
      sock.on('connect', next);
      sock.on('data', (d) => { got += d.length; if (got >= round * req.size) replied(); });
      sock.on('error', onError);
      sock.on('close', () => end(ended ? null : 'refused', 'closed before the echo'));
    } else {
      sock = dgram.createSocket('udp4');
      sock.on('error', onError);
      sock.on('message', (msg) => { if (msg.length === req.size) replied(); });
      sock.bind(req.sourcePort ?? 0, () => sock.connect(req.port, req.dst, (err) => (err ? end('dropped', String(err)) : next())));
    }
  });
}

async function runRequest(req) {
  if (typeof req.atMs === 'number') {
    const wait = req.atMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const startedAt = Date.now();
  let results = [];
  let details = [];
  if (req.protocol === 'icmp') ({ results, details } = await icmpAll(req));
  else if (req.connection === 'reuse') ({ results, details } = await session(req, startedAt));
  else {
    for (let i = 0; i < (req.count ?? 1); i++) {
      const wait = startedAt + i * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const r = await (req.protocol === 'tcp' ? tcpOnce : udpOnce)(req);
      results.push(r.result);
      details.push(r.detail);
    }
  }
  out({ id: req.id, results, details, startedAt, endedAt: Date.now() });
}

const running = new Set();
await startServers();
out({ ready: true });
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    out({ error: `bad request: ${line}` });
    return;
  }
  const p = runRequest(req).catch((e) => out({ id: req.id, error: String(e) }));
  running.add(p);
  p.finally(() => running.delete(p));
});
rl.on('close', async () => {
  await Promise.allSettled([...running]);
  for (const s of servers) s.close();
  process.exit(0);
});
process.on('SIGTERM', () => process.exit(0));
