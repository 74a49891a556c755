import { describe, it, expect } from 'vitest';
import { World } from '../../src/kernel/world.js';
import { Node } from '../../src/kernel/node.js';
import { Segment } from '../../src/kernel/devices/nic.js';
import { Rng } from '../../src/engine/rng.js';
import { parseConflist, CniConfigError, CniError } from '../../src/cni/index.js';
import { CalicoIpam } from '../../src/calico/ipam.js';
import { calicoCmdAdd, calicoCmdDel, calicoConflistText, calicoNetConf, calicoHandle, CALICO_HOST_MAC } from '../../src/calico/cni.js';
import { workloadInterfaceName } from '../../src/calico/names.js';
import { formatRoute } from '../../src/kernel/fib.js';
import { macToString, parseIp, parseMac } from '../../src/wire/bytes.js';

function node() {
  const w = new World(11);
  const n = new Node(w, 'node-a', 'node');
  w.nodes.set('node-a', n);
  const seg = new Segment('underlay', parseIp('192.168.70.0')!, 24);
  n.addNic('eth0', seg, parseMac('02:00:00:00:00:01')!, 1500, 0, 0);
  n.linkSetUp('host', 'eth0');
  n.addrAdd('host', 'eth0', '192.168.70.1/24');
  n.routeAdd('host', { dst: 'default', via: '192.168.70.254', dev: 'eth0' });
  n.sysctlSet('host', 'net.ipv4.ip_forward', '1');
  const ipam = new CalicoIpam(new Rng(4));
  ipam.createPool({ name: 'default-ipv4-ippool', cidr: '10.244.0.0/16', ipipMode: 'Always' });
  const conf = calicoNetConf(parseConflist(calicoConflistText({ nodename: 'node-a', mtu: 1480 })));
  return { w, n, ipam, conf };
}

function addPod(env: ReturnType<typeof node>, ns: string, pod: string, cid: string, ips?: string[]) {
  const netns = `${ns}.${pod}`;
  env.n.netnsAdd(netns);
  return calicoCmdAdd(env.n, env.w.rng, env.ipam, env.conf, { containerID: cid, netns, ifName: 'eth0', namespace: ns, pod, ...(ips ? { ips } : {}) });
}

describe('10-calico.conflist', () => {
  it('the installed shape parses: calico with calico-ipam, then portmap and bandwidth', () => {
    const text = calicoConflistText({ nodename: 'node-a', mtu: 1480 });
    const list = parseConflist(text);
    expect(list.name).toBe('k8s-pod-network');
    expect(list.cniVersion).toBe('0.3.1');
    expect(list.plugins.map((p) => p.type)).toEqual(['calico', 'portmap', 'bandwidth']);
    const c = calicoNetConf(list);
    expect({ ...c, raw: undefined }).toEqual({
      type: 'calico', cniVersion: '0.3.1', name: 'k8s-pod-network', nodename: 'node-a', mtu: 1480,
      ipam: { type: 'calico-ipam', assignIpv4: true }, routes: [], allowIpForwarding: false, raw: undefined,
    });
  });

  it('errors name the JSON path and its position in the text', () => {
    const bad = (edit: (s: string) => string) => {
      try {
        calicoNetConf(parseConflist(edit(calicoConflistText({ nodename: 'n', mtu: 0 }))));
      } catch (e) {
        expect(e).toBeInstanceOf(CniConfigError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(bad((s) => s.replace('"log_level": "info"', '"log_levle": "info"'))).toMatch(/^plugins\[0\]\.log_levle at 7:20: expected no key "log_levle": not a calico plugin key/);
    expect(bad((s) => s.replace('"calico-ipam"', '"host-local"'))).toMatch(/^plugins\[0\]\.ipam\.type at 13:19: expected "calico-ipam"/);
    expect(bad((s) => s.replace('"mtu": 0', '"mtu": 20'))).toMatch(/^plugins\[0\]\.mtu at 11:14: expected 0 \(unset\) or an MTU/);
    expect(bad((s) => s.replace('"type": "calico-ipam"', '"type": "calico-ipam", "ipv4_pools": [1]'))).toMatch(/ipam\.ipv4_pools.*an array of strings/);
    expect(bad((s) => s.replace('"type": "calico-ipam"', '"type": "calico-ipam", "assign_ipv6": "true"'))).toMatch(/assign_ipv6.*IPv6 is not modelled/);
    expect(() => calicoNetConf(parseConflist(calicoConflistText({ nodename: 'n', mtu: 0 })), 1)).toThrow(/plugins\[1\]\.type.*"calico", got "portmap"/);
  });
});

describe('calico CNI ADD', () => {
  it('logs every step as Calico takes it, and leaves the pod and host as Calico does', () => {
    const env = node();
    const before = env.n.configCommands().length;
    const r = addPod(env, 'default', 'nginx', 'c0ffee');
    const cali = workloadInterfaceName('default', 'nginx');
    expect(cali).toBe('calic440f455693');
    const ip = env.ipam.ipsByHandle(calicoHandle('c0ffee'))[0]!;
    const mac = r.interfaces[1]!.mac!;
    expect(env.n.configCommands().slice(before + 2)).toEqual([
      `ip -n default.nginx link add eth0 mtu 1480 address ${mac} type veth peer name ${cali} mtu 1480 address ee:ee:ee:ee:ee:ee netns host`,
      'ip -n default.nginx link set eth0 up',
      'ip -n default.nginx route add 169.254.1.1/32 dev eth0 scope link',
      'ip -n default.nginx route add default via 169.254.1.1 dev eth0',
      `ip -n default.nginx addr add ${ip}/32 dev eth0`,
      'ip netns exec default.nginx sysctl -w net.ipv4.ip_forward=0',
      `sysctl -w net.ipv4.conf.${cali}.route_localnet=1`,
      `sysctl -w net.ipv4.neigh.${cali}.proxy_delay=0`,
      `sysctl -w net.ipv4.conf.${cali}.proxy_arp=1`,
      `sysctl -w net.ipv4.conf.${cali}.forwarding=1`,
      `sysctl -w net.ipv6.conf.${cali}.accept_ra=0`,
      `ip link set ${cali} up`,
      `ip route add ${ip}/32 dev ${cali} scope link`,
    ]);
    // State.
    const h = env.n.linkGet('host', cali);
    expect(macToString(h.mac)).toBe(CALICO_HOST_MAC);
    expect(h.mtu).toBe(1480);
    expect(h.peer).toEqual({ netns: 'default.nginx', name: 'eth0' });
    expect(env.n.addrList('default.nginx', 'eth0')).toEqual([`${ip}/32`]);
    expect(env.n.addrList('host', cali)).toEqual([]);
    const podRoutes = env.n.ns('default.nginx').fib.routes(254).map(formatRoute);
    expect(podRoutes).toEqual(['169.254.1.1 dev eth0 scope link', 'default via 169.254.1.1 dev eth0']);
    const hostRoute = env.n.host.fib.routes(254).filter((x) => x.dev?.name === cali).map(formatRoute);
    expect(hostRoute).toEqual([`${ip} dev ${cali} scope link`]);
    expect(env.n.host.fib.routes(254).find((x) => x.dev?.name === cali)!.proto).toBe('boot');
    for (const [k, v] of [['route_localnet', '1'], ['proxy_arp', '1'], ['forwarding', '1']]) expect(env.n.sysctlGet('host', `net.ipv4.conf.${cali}.${k}`)).toBe(v);
    expect(env.n.sysctlGet('host', `net.ipv4.neigh.${cali}.proxy_delay`)).toBe('0');
    expect(env.n.sysctlGet('default.nginx', 'net.ipv4.ip_forward')).toBe('0');
    // Result.
    expect(r).toEqual({
      cniVersion: '0.3.1',
      interfaces: [{ name: cali }, { name: 'eth0', mac, sandbox: '/var/run/netns/default.nginx' }],
      ips: [{ version: '4', address: `${ip}/32`, interface: 1 }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
      endpoint: { node: 'node-a', namespace: 'default', pod: 'nginx', containerID: 'c0ffee', iface: cali, mac, ipNetworks: [`${ip}/32`] },
    });
    // IPAM: the first address of the node's first block (no tunnel address taken yet), attributes kept.
    const block = env.ipam.affineBlocks('node-a')[0]!;
    expect(`${ip}/26`).toBe(block);
    const b = env.ipam.blockFor(ip)!;
    expect(b.attrs[0]).toEqual({ namespace: 'default', node: 'node-a', pod: 'nginx' });
  });

  it('packets: a pod ARPs for 169.254.1.1, the host answers with ee:ee:ee:ee:ee:ee (proxy ARP), pod ↔ pod and pod ↔ node work', () => {
    const env = node();
    const tun = parseIp(env.ipam.tunnelAddress('node-a')!)!;
    addPod(env, 'default', 'a', 'c1');
    addPod(env, 'default', 'b', 'c2');
    const ipB = env.ipam.ipsByHandle(calicoHandle('c2'))[0]!;
    expect(parseIp(env.ipam.ipsByHandle(calicoHandle('c1'))[0]!)).toBe(tun + 1); // ordinal 0 went to tunl0
    const frames: string[] = [];
    env.w.tap = { frame: (dev, skb, dir) => { if (dev.netns.name === 'default.a') frames.push(`${dir} ${env.n.describeFrame(skb)}`); } };
    const replies: [number, number][] = [];
    const s = env.n.ns('default.a').sockets.pingOpen({ onReply: (seq, _from, ttl) => replies.push([seq, ttl]) }, 7);
    s.send(parseIp(ipB)!, 1, 56);
    s.send(parseIp('192.168.70.1')!, 2, 56);
    env.w.sched.run();
    expect(replies.sort()).toEqual([[1, 63], [2, 64]]);
    expect(frames[0]).toMatch(/^out ARP, Request who-has 169\.254\.1\.1 tell 10\.244\./);
    expect(frames[1]).toMatch(/^in ARP, Reply 169\.254\.1\.1 is-at ee:ee:ee:ee:ee:ee/);
  });

  it('a requested address is assigned as given; DEL removes the veth, its host route and the address, and repeats harmlessly', () => {
    const env = node();
    const r = addPod(env, 'ns1', 'p', 'cid1', ['10.244.77.5']);
    expect(r.ips[0]!.address).toBe('10.244.77.5/32');
    expect(env.ipam.affineBlocks('node-a')).toEqual(['10.244.77.0/26']);
    const cali = workloadInterfaceName('ns1', 'p');
    const del = calicoCmdDel(env.n, env.ipam, env.conf, { containerID: 'cid1', netns: 'ns1.p', ifName: 'eth0', namespace: 'ns1', pod: 'p' });
    expect(del).toEqual({ releasedIPs: ['10.244.77.5'], removedLink: true });
    expect(env.n.linkExists('host', cali)).toBe(false);
    expect(env.n.host.fib.routes(254).some((x) => x.dst === parseIp('10.244.77.5'))).toBe(false);
    expect(env.n.configCommands().at(-1)).toBe('ip -n ns1.p link del eth0');
    expect(calicoCmdDel(env.n, env.ipam, env.conf, { containerID: 'cid1', netns: 'ns1.p', ifName: 'eth0', namespace: 'ns1', pod: 'p' })).toEqual({ releasedIPs: [], removedLink: false });
    expect(calicoCmdDel(env.n, env.ipam, env.conf, { containerID: 'cid1', netns: 'gone', ifName: 'eth0', namespace: 'ns1', pod: 'p' })).toEqual({ releasedIPs: [], removedLink: false });
    // The address is free again.
    addPod(env, 'ns1', 'q', 'cid2', ['10.244.77.5']);
  });

  it('failures: no netns, no pool (nothing created), a /32 routed elsewhere (the address is released again); a stale host veth is replaced', () => {
    const env = node();
    expect(() => calicoCmdAdd(env.n, env.w.rng, env.ipam, env.conf, { containerID: 'x', netns: 'nope', ifName: 'eth0', namespace: 'd', pod: 'x' })).toThrow(/failed to open netns "nope"/);
    const empty = new CalicoIpam(new Rng(1));
    env.n.netnsAdd('d.y');
    expect(() => calicoCmdAdd(env.n, env.w.rng, empty, env.conf, { containerID: 'y', netns: 'd.y', ifName: 'eth0', namespace: 'd', pod: 'y' })).toThrow(CniError);
    expect(env.n.linkExists('d.y', 'eth0')).toBe(false);
    env.n.routeAdd('host', { dst: '10.244.88.9/32', dev: 'eth0' });
    let err: unknown;
    try { addPod(env, 'd', 'z', 'z', ['10.244.88.9']); } catch (e) { err = e; }
    expect((err as Error).message).toBe(`error adding host side routes for interface: ${workloadInterfaceName('d', 'z')}, error: route (Dst: 10.244.88.9/32, Scope: link) already exists for an interface other than '${workloadInterfaceName('d', 'z')}'`);
    expect(env.ipam.handleOf('10.244.88.9')).toBeNull();
    // A stale host interface of the pod's name is deleted first.
    const cali = workloadInterfaceName('d', 's');
    env.n.netnsAdd('old');
    env.n.linkAddVeth('old', 'eth9', { name: cali, netns: 'host' });
    addPod(env, 'd', 's', 's1');
    expect(env.n.linkGet('host', cali).peer).toEqual({ netns: 'd.s', name: 'eth0' });
    expect(env.n.configCommands()).toContain(`ip link del ${cali}`);
  });

  it('deterministic: one Rng draw per ADD (the container MAC), same seed → same commands', () => {
    const run = () => { const env = node(); addPod(env, 'a', 'b', 'c'); addPod(env, 'a', 'c', 'd'); return env.n.configCommands(); };
    expect(run()).toEqual(run());
  });
});
