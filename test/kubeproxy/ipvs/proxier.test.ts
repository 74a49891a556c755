import { describe, expect, it } from 'vitest';
import { ip, svc, ep } from '../helpers.js';
import { ipvsLab, udpSkb } from './helpers.js';
import { netfilterOf } from '../../../src/netfilter/index.js';
import { ipsetSave } from '../../../src/netfilter/ipset-text.js';
import { FLAG_PERSISTENT, FLAG_SOURCE_HASH, RS_CHECK_DELETE_INTERVAL } from '../../../src/kubeproxy/ipvs/index.js';
import { RT_TABLE_LOCAL } from '../../../src/kernel/fib.js';
import { ipToString } from '../../../src/wire/bytes.js';
import { tcpSkb } from '../../../bench/netfilter.js';

const vs = (lab: ReturnType<typeof ipvsLab>) => lab.kp.proxier.ipvs.services().map((s) => {
  const k = s.key as { protocol: string; addr: number; port: number };
  return `${k.protocol} ${ipToString(k.addr)}:${k.port} ${s.opts.scheduler}${s.opts.flags ? ` flags 0x${s.opts.flags.toString(16)}` : ''}${s.opts.timeout ? ` timeout ${s.opts.timeout}` : ''} -> ${s.dests.map((d) => `${ipToString(d.addr)}:${d.port}w${d.weight}`).join(' ')}`;
}).sort();

const setEntries = (lab: ReturnType<typeof ipvsLab>, name: string): string[] =>
  ipsetSave(netfilterOf(lab.n.host).nf.ipsets, name).split('\n').filter((l) => l.startsWith('add ')).map((l) => l.split(' ')[2]).sort();

describe('kube-ipvs0 (dummy device)', () => {
  it('stays DOWN, and its addresses still get usable local routes (fib_add_ifaddr before the IFF_UP check)', () => {
    const lab = ipvsLab();
    lab.set([svc('ns1', 'svc1')], { 'ns1/svc1': [ep('10.180.0.1')] });
    lab.kp.start();
    const d = lab.n.host.device('kube-ipvs0')!;
    expect(d.kind).toBe('dummy');
    expect(d.up).toBe(false);
    expect(lab.n.addrList('host', 'kube-ipvs0')).toEqual(['172.30.0.41/32']);
    const r = lab.n.host.fib.lookup(ip('172.30.0.41'))!;
    expect([r.type, r.table, r.dev?.name, r.scope]).toEqual(['local', RT_TABLE_LOCAL, 'kube-ipvs0', 'host']);
    expect(lab.n.host.isLocal(ip('172.30.0.41'))).toBe(true);
    const cmds = lab.n.configCommands();
    expect(cmds.some((c) => /^ip link add kube-ipvs0 address [0-9a-f:]{17} type dummy$/.test(c))).toBe(true);
    expect(cmds).toContain('ip addr add 172.30.0.41/32 dev kube-ipvs0');
    expect(cmds.some((c) => c.includes('ip link set kube-ipvs0 up'))).toBe(false);
  });
});

describe('ipvs proxier: virtual servers, ipsets, rules', () => {
  it('ClusterIP: one virtual server (rr, weight-1 masq real servers added in endpoint order; the kernel lists the last added first), the VIP bound, KUBE-CLUSTER-IP and KUBE-IPVS-IPS entries; the sysctls', () => {
    const lab = ipvsLab();
    lab.set([svc('ns1', 'svc1')], { 'ns1/svc1': [ep('10.180.0.2'), ep('10.180.0.1')] });
    lab.kp.start();
    expect(vs(lab)).toEqual(['TCP 172.30.0.41:80 rr -> 10.180.0.2:80w1 10.180.0.1:80w1']);
    expect(lab.kp.proxier.ipvs.services()[0]!.dests.every((d) => d.fwd === 'masq')).toBe(true);
    expect(setEntries(lab, 'KUBE-CLUSTER-IP')).toEqual(['172.30.0.41,tcp:80']);
    expect(setEntries(lab, 'KUBE-IPVS-IPS')).toEqual(['172.30.0.41']);
    expect(setEntries(lab, 'KUBE-LOOP-BACK')).toEqual([]);
    for (const [k, v] of [['net.ipv4.vs.conntrack', '1'], ['net.ipv4.vs.expire_nodest_conn', '1'], ['net.ipv4.vs.expire_quiescent_template', '1'], ['net.ipv4.ip_forward', '1'], ['net.ipv4.vs.conn_reuse_mode', '1']]) {
      expect(lab.n.sysctlGet('host', k!)).toBe(v);
    }
    const cmds = lab.n.configCommands();
    expect(cmds).toContain('ipvsadm -A -t 172.30.0.41:80 -s rr');
    expect(cmds).toContain('ipvsadm -a -t 172.30.0.41:80 -r 10.180.0.1:80 -m -w 1');
  });

  it('NodePort: a virtual server on every node address (not kube-ipvs0, not loopback), KUBE-NODE-PORT-TCP; local endpoints in KUBE-LOOP-BACK', () => {
    const lab = ipvsLab();
    lab.set([svc('ns1', 'np', { nodePort: 3001 })], { 'ns1/np': [ep('10.0.0.5', { nodeName: 'test-node' }), ep('10.180.0.1', { nodeName: 'other' })] });
    lab.kp.start();
    expect(vs(lab)).toEqual([
      'TCP 10.0.0.1:3001 rr -> 10.180.0.1:80w1 10.0.0.5:80w1',
      'TCP 172.30.0.41:80 rr -> 10.180.0.1:80w1 10.0.0.5:80w1',
      'TCP 192.168.0.2:3001 rr -> 10.180.0.1:80w1 10.0.0.5:80w1',
    ]);
    expect(setEntries(lab, 'KUBE-NODE-PORT-TCP')).toEqual(['3001']);
    expect(setEntries(lab, 'KUBE-LOOP-BACK')).toEqual(['10.0.0.5,tcp:80,10.0.0.5']);
    expect(lab.n.addrList('host', 'kube-ipvs0')).toEqual(['172.30.0.41/32']);
  });

  it('ClientIP affinity is persistence with the timeout; mh sets SCHED2 (FlagSourceHash)', () => {
    const a = ipvsLab();
    a.set([svc('ns1', 's', { affinitySeconds: 10800 })], { 'ns1/s': [ep('10.180.0.1')] });
    a.kp.start();
    expect(vs(a)).toEqual([`TCP 172.30.0.41:80 rr flags 0x${FLAG_PERSISTENT.toString(16)} timeout 10800 -> 10.180.0.1:80w1`]);
    expect(a.n.configCommands()).toContain('ipvsadm -A -t 172.30.0.41:80 -s rr -p 10800');
    const b = ipvsLab({ scheduler: 'mh' });
    b.set([svc('ns1', 's')], { 'ns1/s': [ep('10.180.0.1')] });
    b.kp.start();
    expect(b.kp.proxier.ipvs.services()[0]!.opts.flags! & FLAG_SOURCE_HASH).toBe(FLAG_SOURCE_HASH);
  });

  it('externalTrafficPolicy Local: local endpoints on external virtual servers, and the ipvs fallback to cluster endpoints when there are none (PR 97081)', () => {
    const lab = ipvsLab();
    const s = svc('ns1', 'l', { nodePort: 3002, externalPolicyLocal: true, externalIPs: [ip('192.168.99.33')] });
    lab.set([s], { 'ns1/l': [ep('10.180.0.1', { nodeName: 'other' })] });
    lab.kp.start();
    expect(vs(lab)).toContain('TCP 192.168.0.2:3002 rr -> 10.180.0.1:80w1');
    expect(vs(lab)).toContain('TCP 192.168.99.33:80 rr -> 10.180.0.1:80w1');
    expect(setEntries(lab, 'KUBE-EXTERNAL-IP-LOCAL')).toEqual(['192.168.99.33,tcp:80']);
    expect(setEntries(lab, 'KUBE-NODE-PORT-LOCAL-TCP')).toEqual(['3002']);
    expect(lab.n.addrList('host', 'kube-ipvs0').sort()).toEqual(['172.30.0.41/32', '192.168.99.33/32']);
    const eps = [ep('10.180.0.1', { nodeName: 'other' }), ep('10.0.0.7', { nodeName: 'test-node' })];
    lab.set([s], { 'ns1/l': eps });
    lab.kp.sync();
    expect(vs(lab)).toContain('TCP 192.168.0.2:3002 rr -> 10.0.0.7:80w1');
    expect(vs(lab)).toContain('TCP 172.30.0.41:80 rr -> 10.0.0.7:80w1 10.180.0.1:80w1');
  });

  it('LoadBalancer with source ranges: KUBE-LOAD-BALANCER(-FW/-SOURCE-CIDR) entries, KUBE-IPVS-OUT-FILTER when the node is outside the ranges', () => {
    const lab = ipvsLab();
    lab.set([svc('ns5', 'svc5', { nodePort: 3003, loadBalancerIPs: [ip('5.6.7.8')], loadBalancerSourceRanges: [{ addr: ip('203.0.113.0'), prefix: 25 }] })], { 'ns5/svc5': [ep('10.180.0.3')] });
    lab.kp.start();
    expect(setEntries(lab, 'KUBE-LOAD-BALANCER')).toEqual(['5.6.7.8,tcp:80']);
    expect(setEntries(lab, 'KUBE-LOAD-BALANCER-FW')).toEqual(['5.6.7.8,tcp:80']);
    expect(setEntries(lab, 'KUBE-LOAD-BALANCER-SOURCE-CIDR')).toEqual(['5.6.7.8,tcp:80,203.0.113.0/25']);
    expect(setEntries(lab, 'KUBE-LOAD-BALANCER-SOURCE-IP')).toEqual([]);
    expect(lab.kp.last!.restoreText).toContain('-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP');
    expect(lab.kp.last!.restoreText).toContain('-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL');
  });
});

describe('ipvs proxier: syncs', () => {
  it('a partial sync touches only the changed service port; a deleted service loses its virtual server, address and entries', () => {
    const lab = ipvsLab();
    const s1 = svc('ns1', 'a', { clusterIP: ip('172.30.0.1') });
    const e1 = [ep('10.180.0.1')];
    lab.set([s1], { 'ns1/a': e1 });
    lab.kp.start();
    const n0 = lab.n.configCommands().length;
    const s2 = svc('ns1', 'b', { clusterIP: ip('172.30.0.2'), protocol: 'UDP', port: 53 });
    lab.set([s1, s2], { 'ns1/a': e1, 'ns1/b': [ep('10.180.0.9', { port: 53 })] });
    lab.kp.sync();
    expect(lab.kp.last!.full).toBe(false);
    expect(lab.kp.last!.changed).toBe(1);
    const delta = lab.n.configCommands().slice(n0).filter((c) => c.startsWith('ipvsadm') || c.startsWith('ip '));
    expect(delta).toEqual(['ipvsadm -A -u 172.30.0.2:53 -s rr', 'ip addr add 172.30.0.2/32 dev kube-ipvs0', 'ipvsadm -a -u 172.30.0.2:53 -r 10.180.0.9:53 -m -w 1']);
    const n1 = lab.n.configCommands().length;
    lab.set([s2], { 'ns1/b': lab.cache.endpoints.get('ns1/b:p80/UDP') as never });
    lab.kp.sync();
    const delta2 = lab.n.configCommands().slice(n1).filter((c) => c.startsWith('ipvsadm') || c.startsWith('ip '));
    expect(delta2).toEqual(['ip addr del 172.30.0.1/32 dev kube-ipvs0', 'ipvsadm -D -t 172.30.0.1:80']);
    expect(setEntries(lab, 'KUBE-CLUSTER-IP')).toEqual(['172.30.0.2,udp:53']);
    expect(setEntries(lab, 'KUBE-IPVS-IPS')).toEqual(['172.30.0.2']);
    expect(vs(lab)).toEqual(['UDP 172.30.0.2:53 rr -> 10.180.0.9:53w1']);
  });

  it('a removed real server without connections is deleted at once (GracefulDeleteRS tries the delete first)', () => {
    const lab = ipvsLab();
    const s = svc('ns1', 'a');
    lab.set([s], { 'ns1/a': [ep('10.180.0.1'), ep('10.180.0.2')] });
    lab.kp.start();
    lab.set([s], { 'ns1/a': [ep('10.180.0.2')] });
    lab.kp.sync();
    expect(vs(lab)).toEqual(['TCP 172.30.0.41:80 rr -> 10.180.0.2:80w1']);
    expect(lab.kp.proxier.graceful.size).toBe(0);
    expect(RS_CHECK_DELETE_INTERVAL).toBe(60e9);
  });

  it('the iptables text does not grow with the number of services', () => {
    const lab = ipvsLab();
    const ports = Array.from({ length: 50 }, (_, i) => svc('ns', `s${i}`, { clusterIP: (ip('172.30.1.0') + i) >>> 0, nodePort: 30000 + i }));
    lab.set(ports, Object.fromEntries(ports.map((p, i) => [`ns/${p.name}`, [ep(`10.180.1.${i}`)]])));
    lab.kp.start();
    const big = lab.kp.last!.restoreText;
    const lab2 = ipvsLab();
    lab2.set(ports.slice(0, 1), { 'ns/s0': [ep('10.180.1.0')] });
    lab2.kp.start();
    expect(big).toBe(lab2.kp.last!.restoreText);
    expect(setEntries(lab, 'KUBE-NODE-PORT-TCP')).toHaveLength(50);
    expect(lab.kp.proxier.counts().services).toBe(150);
  });
});

/** The iptables rules of a restore text as proxier_test.go's checkIptables sees them: per chain (both tables), [target, set]. */
function jumps(text: string): Map<string, [string, string][]> {
  const out = new Map<string, [string, string][]>();
  for (const l of text.split('\n')) {
    const m = /^-A (\S+) .*-j (\S+)/.exec(l);
    if (!m) continue;
    const set = /--match-set (\S+)/.exec(l)?.[1] ?? (/-s 127\.0\.0\.0\/8/.test(l) ? '127.0.0.0/8' : '');
    if (!out.has(m[1]!)) out.set(m[1]!, []);
    out.get(m[1]!)!.push([m[2]!, set]);
  }
  return out;
}

describe('upstream proxier_test.go expectations (ipvs)', () => {
  it('TestLoadBalancerSourceRanges: 2 virtual servers, KUBE-LOAD-BALANCER/-FW/-SOURCE-CIDR entries, KUBE-SERVICES / KUBE-PROXY-FIREWALL / KUBE-SOURCE-RANGES-FIREWALL jumps', () => {
    const lab = ipvsLab({}, { nodeIP: '100.101.102.103', cni0: false });
    lab.set([svc('ns1', 'p80', { clusterIP: ip('10.20.30.41'), loadBalancerIPs: [ip('1.2.3.4')], loadBalancerSourceRanges: [{ addr: ip('10.0.0.0'), prefix: 8 }] })], { 'ns1/p80': [ep('10.180.0.1')] });
    lab.kp.start();
    expect(vs(lab)).toEqual(['TCP 1.2.3.4:80 rr -> 10.180.0.1:80w1', 'TCP 10.20.30.41:80 rr -> 10.180.0.1:80w1']);
    expect(setEntries(lab, 'KUBE-LOAD-BALANCER')).toEqual(['1.2.3.4,tcp:80']);
    expect(setEntries(lab, 'KUBE-LOAD-BALANCER-FW')).toEqual(['1.2.3.4,tcp:80']);
    expect(setEntries(lab, 'KUBE-LOAD-BALANCER-SOURCE-CIDR')).toEqual(['1.2.3.4,tcp:80,10.0.0.0/8']);
    const j = jumps(lab.kp.last!.restoreText);
    expect(j.get('KUBE-SERVICES')).toEqual([['RETURN', '127.0.0.0/8'], ['KUBE-LOAD-BALANCER', 'KUBE-LOAD-BALANCER'], ['KUBE-MARK-MASQ', 'KUBE-CLUSTER-IP'], ['KUBE-NODE-PORT', ''], ['ACCEPT', 'KUBE-CLUSTER-IP'], ['ACCEPT', 'KUBE-LOAD-BALANCER']]);
    expect(j.get('KUBE-PROXY-FIREWALL')).toEqual([['KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-LOAD-BALANCER-FW']]);
    expect(j.get('KUBE-SOURCE-RANGES-FIREWALL')).toEqual([['RETURN', 'KUBE-LOAD-BALANCER-SOURCE-CIDR'], ['DROP', '']]);
  });

  it('TestNodePortUDP "1 service with node port, has 2 endpoints": virtual servers, KUBE-NODE-PORT-UDP, KUBE-NODE-PORT and KUBE-SERVICES jumps', () => {
    const lab = ipvsLab({}, { nodeIP: '100.101.102.103', cni0: false });
    lab.set([svc('ns1', 'svc1', { clusterIP: ip('10.20.30.41'), protocol: 'UDP', port: 80, nodePort: 3001 })], { 'ns1/svc1': [ep('10.180.0.1')] });
    lab.kp.start();
    expect(vs(lab)).toEqual(['UDP 10.20.30.41:80 rr -> 10.180.0.1:80w1', 'UDP 100.101.102.103:3001 rr -> 10.180.0.1:80w1']);
    expect(setEntries(lab, 'KUBE-NODE-PORT-UDP')).toEqual(['3001']);
    const j = jumps(lab.kp.last!.restoreText);
    expect(j.get('KUBE-NODE-PORT')).toEqual([['KUBE-MARK-MASQ', 'KUBE-NODE-PORT-UDP'], ['ACCEPT', 'KUBE-HEALTH-CHECK-NODE-PORT']]);
    expect(j.get('KUBE-SERVICES')).toEqual([['RETURN', '127.0.0.0/8'], ['KUBE-MARK-MASQ', 'KUBE-CLUSTER-IP'], ['KUBE-NODE-PORT', ''], ['ACCEPT', 'KUBE-CLUSTER-IP']]);
  });
});

describe('graceful termination (graceful_termination.go) with connections', () => {
  /** One client packet into the lab node's eth0 for `vip:port`, processed at this instant. */
  function inject(lab: ReturnType<typeof ipvsLab>, proto: 'tcp' | 'udp', vip: number, port: number, sport: number): void {
    const n = lab.n;
    const eth0 = n.host.device('eth0')!;
    const skb = proto === 'tcp' ? tcpSkb(ip('192.168.0.100'), vip, sport, port, 0x02, 1, 0) : udpSkb(ip('192.168.0.100'), vip, sport, port);
    skb.push(14);
    skb.buf.set(eth0.mac, skb.data);
    skb.buf.set([2, 0, 0, 0, 0, 100], skb.data + 6);
    skb.buf[skb.data + 12] = 0x08; skb.buf[skb.data + 13] = 0x00;
    eth0.receive(skb);
    lab.w.sched.run(lab.w.now);
  }
  function labWithRoute() {
    const lab = ipvsLab();
    lab.n.neighReplace('host', '192.168.0.1', new Uint8Array([2, 0, 0, 0, 0, 1]), 'eth0');
    lab.n.neighReplace('host', '192.168.0.100', new Uint8Array([2, 0, 0, 0, 0, 100]), 'eth0');
    lab.n.routeAdd('host', { dst: '10.180.0.0/16', via: '192.168.0.1' });
    return lab;
  }

  it('TCP: a removed real server with a connection goes to weight 0 and stays; the one-minute check deletes it once the connection expired', () => {
    const lab = labWithRoute();
    const s = svc('ns1', 'a');
    lab.set([s], { 'ns1/a': [ep('10.180.0.1')] });
    lab.kp.start();
    inject(lab, 'tcp', ip('172.30.0.41'), 80, 40000);
    const d0 = lab.kp.proxier.ipvs.services()[0]!.dests[0]!;
    expect(d0.activeConns + d0.inactConns).toBe(1);
    lab.set([s], { 'ns1/a': [ep('10.180.0.2')] });
    lab.kp.sync();
    expect(vs(lab)).toEqual(['TCP 172.30.0.41:80 rr -> 10.180.0.2:80w1 10.180.0.1:80w0']);
    expect(lab.kp.proxier.graceful.size).toBe(1);
    expect(lab.n.configCommands()).toContain('ipvsadm -e -t 172.30.0.41:80 -r 10.180.0.1:80 -m -w 0');
    // New connections avoid the weight-0 server.
    inject(lab, 'tcp', ip('172.30.0.41'), 80, 40001);
    expect(lab.kp.proxier.ipvs.services()[0]!.dests.find((d) => d.addr === ip('10.180.0.2'))!.inactConns + lab.kp.proxier.ipvs.services()[0]!.dests.find((d) => d.addr === ip('10.180.0.2'))!.activeConns).toBe(1);
    // The half-open connection (SYN_RECV, 60 s) keeps it past the first check; a later check deletes it.
    lab.w.sched.run(RS_CHECK_DELETE_INTERVAL * 3);
    expect(lab.kp.proxier.graceful.size).toBe(0);
    expect(vs(lab)).toEqual(['TCP 172.30.0.41:80 rr -> 10.180.0.2:80w1']);
    expect(lab.n.configCommands()).toContain('ipvsadm -d -t 172.30.0.41:80 -r 10.180.0.1:80');
  });

  it('UDP: no graceful termination, the real server is deleted at once (IsRsGracefulTerminationNeeded), connections or not', () => {
    const lab = labWithRoute();
    const s = svc('ns1', 'dns', { protocol: 'UDP', port: 53 });
    lab.set([s], { 'ns1/dns': [ep('10.180.0.1', { port: 53 })] });
    lab.kp.start();
    inject(lab, 'udp', ip('172.30.0.41'), 53, 40000);
    const d0 = lab.kp.proxier.ipvs.services()[0]!.dests[0]!;
    expect(d0.activeConns + d0.inactConns).toBe(1);
    lab.set([s], { 'ns1/dns': [ep('10.180.0.2', { port: 53 })] });
    lab.kp.sync();
    expect(vs(lab)).toEqual(['UDP 172.30.0.41:53 rr -> 10.180.0.2:53w1']);
    expect(lab.kp.proxier.graceful.size).toBe(0);
  });
});

describe('ipvs proxier: addresses', () => {
  it('--nodeport-addresses: NodePort virtual servers only on the matching node addresses', () => {
    const lab = ipvsLab({ nodePortAddresses: [{ addr: ip('192.168.0.0'), prefix: 24 }] });
    lab.set([svc('ns1', 'np', { nodePort: 3001 })], { 'ns1/np': [ep('10.180.0.1')] });
    lab.kp.start();
    expect(vs(lab)).toEqual(['TCP 172.30.0.41:80 rr -> 10.180.0.1:80w1', 'TCP 192.168.0.2:3001 rr -> 10.180.0.1:80w1']);
  });

  it('an externalIP that is already a node address is not bound on kube-ipvs0; a node address appearing later triggers a full resync', () => {
    const lab = ipvsLab();
    const s = svc('ns1', 'e', { externalIPs: [ip('192.168.0.2'), ip('192.168.99.1')], nodePort: 3005 });
    const e = [ep('10.180.0.1')];
    lab.set([s], { 'ns1/e': e });
    lab.kp.start();
    expect(lab.n.addrList('host', 'kube-ipvs0').sort()).toEqual(['172.30.0.41/32', '192.168.99.1/32']);
    expect(vs(lab)).toContain('TCP 192.168.0.2:80 rr -> 10.180.0.1:80w1');
    lab.n.addrAdd('host', 'eth0', '192.168.0.3/24');
    lab.kp.sync();
    expect(lab.kp.last!.full).toBe(true);
    expect(vs(lab)).toContain('TCP 192.168.0.3:3005 rr -> 10.180.0.1:80w1');
  });
});
