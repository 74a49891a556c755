/**
 * IPVS as kube-proxy uses it: client and real servers are pods on one bridge, the VIP is a local address
 * of the node. Requests are DNATed at LOCAL_IN and sent back down the bridge; the real server's reply to
 * the client pod is bridged, and un-NATed by ip_vs_out on the IPv4 FORWARD hook br_netfilter runs for
 * bridged frames (bridge-nf-call-iptables=1).
 */
import { describe, expect, it } from 'vitest';
import { Lab, ip, ipSrcOf, ipDstOf, ethType } from '../kernel/topo.js';
import { TcpSock } from '../../src/kernel/tcp.js';
import { ipvsOf } from '../../src/ipvs/index.js';
import { netfilterOf } from '../../src/netfilter/index.js';

const S = 1e9;

function podLab(brnf: boolean) {
  const l = new Lab(5);
  const n = l.n;
  n.linkAddBridge('host', 'br0');
  n.linkSetUp('host', 'br0');
  n.addrAdd('host', 'br0', '10.0.0.1/24');
  for (let i = 1; i <= 3; i++) {
    n.netnsAdd(`p${i}`);
    n.linkAddVeth(`p${i}`, 'eth0', { name: `veth${i}`, netns: 'host' });
    n.linkSetMaster('host', `veth${i}`, 'br0');
    n.linkSetUp('host', `veth${i}`);
    n.linkSetUp(`p${i}`, 'eth0');
    n.addrAdd(`p${i}`, 'eth0', `10.0.0.1${i}/24`);
    n.routeAdd(`p${i}`, { dst: 'default', via: '10.0.0.1' });
  }
  n.linkSetUp('host', 'lo');
  n.addrAdd('host', 'lo', '10.96.0.10/32');
  n.sysctlSet('host', 'net.ipv4.ip_forward', '1');
  if (brnf) netfilterOf(n.ns('host')); // br_netfilter loaded with the netfilter modules
  else n.sysctlSet('host', 'net.bridge.bridge-nf-call-iptables', '0');
  let served = 0;
  for (const p of ['p2', 'p3']) n.ns(p).sockets.tcpListenOn(8080, { onData: (s, d) => { served += d.length; s.send(d); }, onEnd: (s) => s.close() });
  const v = ipvsOf(n, 'host');
  const svc = { protocol: 'TCP' as const, addr: ip('10.96.0.10'), port: 80 };
  v.addService(svc, { scheduler: 'rr' });
  v.addDest(svc, { addr: ip('10.0.0.12'), port: 8080, weight: 1 });
  const got: number[] = [];
  const errors: string[] = [];
  const sock = new TcpSock(n.ns('p1'), {
    onConnect: (s) => s.send(new Uint8Array(64)),
    onData: (s, d) => { got.push(d.length); s.close(); },
    onError: (_s, e) => errors.push(e),
  });
  sock.connect(ip('10.96.0.10'), 80);
  l.run(l.w.now + 2 * S);
  return { l, got, errors, served: () => served };
}

describe('IPVS behind a bridge (pods)', () => {
  it('with br_netfilter: the bridged reply is un-NATed at FORWARD and the client pod hears from the VIP', () => {
    const { l, got, errors, served } = podLab(true);
    expect(errors).toEqual([]);
    expect(served()).toBe(64);
    expect(got).toEqual([64]);
    const fromServer = l.on('p1/eth0', 'in').filter((f) => ethType(f.bytes) === 0x0800);
    expect(fromServer.every((f) => ipSrcOf(f.bytes) === ip('10.96.0.10') && ipDstOf(f.bytes) === ip('10.0.0.11'))).toBe(true);
    expect(l.events('ipvs.reply').length).toBeGreaterThan(0);
  });

  it('without it (bridge-nf-call-iptables=0): the reply bypasses IPVS and the client resets it', () => {
    const { l, got, served } = podLab(false);
    expect(served()).toBe(0);
    expect(got).toEqual([]);
    // The SYN-ACK reaches p1 from 10.0.0.12, which p1 never talked to.
    const synack = l.on('p1/eth0', 'in').find((f) => ethType(f.bytes) === 0x0800 && f.bytes[14 + 9] === 6)!;
    expect(ipSrcOf(synack.bytes)).toBe(ip('10.0.0.12'));
  });
});
