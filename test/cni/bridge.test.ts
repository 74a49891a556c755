import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/rng.js';
import {
  cmdAdd,
  cmdDel,
  CniError,
  defaultBridgeConflist,
  hostLocalDiskOf,
  ipMasqChainName,
  parseConflist,
  resultToJSON,
  type BridgeNetConf,
} from '../../src/cni/index.js';
import { FakeNetlink, macStr } from './fake-netlink.js';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function bridgeConf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]] }): BridgeNetConf {
  const list = parseConflist(
    JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', plugins: [{ type: 'bridge', isDefaultGateway: true, hairpinMode: true, mtu: 1450, ipam, ...extra }] }),
  );
  return list.plugins[0] as BridgeNetConf;
}

function setup(seed = 7) {
  const nl = new FakeNetlink();
  nl.netnsAdd('pod-a');
  nl.netnsAdd('pod-b');
  nl.calls.length = 0;
  return { nl, rng: new Rng(seed) };
}

describe('bridge cmdAdd', () => {
  it('first ADD: the netlink calls in the plugin order, and the CNI result', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf();
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });

    // replay the draws: bridge MAC, then veth name bytes, container MAC, host MAC
    const r = new Rng(7);
    const brMac = macStr(r.mac());
    const veth = `veth${hex(r.bytes(4))}`;
    const contMac = macStr(r.mac());
    const hostMac = macStr(r.mac());
    expect(veth).toMatch(/^veth[0-9a-f]{8}$/);

    expect(nl.calls).toEqual([
      `linkAddBridge host cni0 mac ${brMac} mtu 1450`,
      'sysctlSet host net.ipv6.conf.cni0.accept_ra=0',
      'linkSetUp host cni0 up',
      `linkAddVeth pod-a eth0 peer host ${veth} mac ${contMac} peerMac ${hostMac} mtu 1450`,
      `linkSetUp host ${veth} up`,
      `sysctlSet host net.ipv6.conf.${veth}.accept_ra=0`,
      `linkSetMaster host ${veth} cni0`,
      `linkSetHairpin host ${veth} on`,
      'sysctlSet pod-a net.ipv6.conf.eth0.accept_dad=0',
      'sysctlSet pod-a net.ipv4.conf.eth0.arp_notify=1',
      'addrAdd pod-a eth0 10.244.1.2/24',
      'linkSetUp pod-a eth0 up',
      'routeAdd pod-a 0.0.0.0/0 via 10.244.1.1 dev eth0',
      'addrAdd host cni0 10.244.1.1/24',
      `linkSetAddress host cni0 ${brMac}`,
      'sysctlSet host net.ipv4.ip_forward=1',
    ]);

    expect(resultToJSON(res)).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cni0', mac: brMac },
        { name: veth, mac: hostMac },
        { name: 'eth0', mac: contMac, sandbox: '/var/run/netns/pod-a' },
      ],
      ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
      dns: {},
    });
    expect(res.ipMasq).toBeUndefined();
    expect(nl.hairpinOf('host', veth)).toBe(true);
    expect(hostLocalDiskOf(nl).files()).toEqual({
      '/var/lib/cni/networks/cbr0/10.244.1.2': 'c1\r\neth0',
      '/var/lib/cni/networks/cbr0/last_reserved_ip.0': '10.244.1.2',
      '/var/lib/cni/networks/cbr0/lock': '',
    });
  });

  it('second ADD on the same bridge: no bridge creation, no address or MAC pin, no ip_forward write', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf();
    cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    nl.calls.length = 0;
    const res = cmdAdd(nl, rng, conf, { containerID: 'c2', netns: 'pod-b', ifName: 'eth0' });
    const veth = res.interfaces[1].name;
    expect(nl.calls).toEqual([
      'sysctlSet host net.ipv6.conf.cni0.accept_ra=0',
      'linkSetUp host cni0 up',
      `linkAddVeth pod-b eth0 peer host ${veth} mac ${res.interfaces[2].mac} peerMac ${res.interfaces[1].mac} mtu 1450`,
      `linkSetUp host ${veth} up`,
      `sysctlSet host net.ipv6.conf.${veth}.accept_ra=0`,
      `linkSetMaster host ${veth} cni0`,
      `linkSetHairpin host ${veth} on`,
      'sysctlSet pod-b net.ipv6.conf.eth0.accept_dad=0',
      'sysctlSet pod-b net.ipv4.conf.eth0.arp_notify=1',
      'addrAdd pod-b eth0 10.244.1.3/24',
      'linkSetUp pod-b eth0 up',
      'routeAdd pod-b 0.0.0.0/0 via 10.244.1.1 dev eth0',
    ]);
    expect(res.ips).toEqual([{ address: '10.244.1.3/24', gateway: '10.244.1.1', interface: 2 }]);
  });

  it('hairpinMode false sets hairpin off; isGateway false leaves the bridge without address', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf({ isDefaultGateway: false, hairpinMode: false, mtu: 0 });
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    const veth = res.interfaces[1].name;
    expect(nl.calls).toContain(`linkSetHairpin host ${veth} off`);
    expect(nl.calls.some((c) => c.startsWith('addrAdd host'))).toBe(false);
    expect(nl.calls.some((c) => c.includes('ip_forward'))).toBe(false);
    expect(nl.calls[0]).toMatch(/^linkAddBridge host cni0 mac [0-9a-f:]{17}$/); // no mtu when unset
    // host-local still reports its range gateway; no default route without isDefaultGateway
    expect(res.ips[0]).toEqual({ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 });
    expect(res.routes).toEqual([]);
  });

  it('IPAM routes without gw go via the address gateway; an IPAM default route suppresses the added one', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf({}, {
      type: 'host-local',
      ranges: [[{ subnet: '10.244.1.0/24' }]],
      routes: [{ dst: '10.244.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.244.1.254' }],
    });
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(res.routes).toEqual([{ dst: '10.244.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.244.1.254' }]);
    expect(nl.calls.filter((c) => c.startsWith('routeAdd'))).toEqual([
      'routeAdd pod-a 10.244.0.0/16 via 10.244.1.1 dev eth0',
      'routeAdd pod-a 0.0.0.0/0 via 10.244.1.254 dev eth0',
    ]);
  });

  it('cniVersion 0.3.1 results carry version "4"', () => {
    const { nl, rng } = setup();
    const conf = { ...bridgeConf(), cniVersion: '0.3.1' as const };
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(res.cniVersion).toBe('0.3.1');
    expect(res.ips[0]).toEqual({ version: '4', address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 });
  });

  it('a different address on the bridge is an error without forceAddress, replaced with it', () => {
    const { nl, rng } = setup();
    nl.linkAddBridge('host', 'cni0');
    nl.addrAdd('host', 'cni0', '10.9.9.1/24');
    expect(() => cmdAdd(nl, rng, bridgeConf(), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' })).toThrow(
      'failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24',
    );
    // the IPAM allocation was released again (the plugin's deferred ExecDel)
    expect(hostLocalDiskOf(nl).files()['/var/lib/cni/networks/cbr0/10.244.1.2']).toBeUndefined();

    const { nl: nl2, rng: rng2 } = setup();
    nl2.linkAddBridge('host', 'cni0');
    nl2.addrAdd('host', 'cni0', '10.9.9.1/24');
    nl2.calls.length = 0;
    cmdAdd(nl2, rng2, bridgeConf({ forceAddress: true }), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(nl2.calls).toContain('addrDel host cni0 10.9.9.1/24');
    expect(nl2.addrList('host', 'cni0')).toEqual(['10.244.1.1/24']);
  });

  it('a non-bridge device named like the bridge is an error', () => {
    const { nl, rng } = setup();
    nl.addDevice('host', 'cni0', 'dummy');
    expect(() => cmdAdd(nl, rng, bridgeConf(), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' })).toThrow(
      'failed to create bridge "cni0": "cni0" already exists but is not a bridge',
    );
  });

  it('draws a new veth name when the host name exists', () => {
    const { nl, rng } = setup(11);
    const r = new Rng(11);
    r.mac(); // bridge MAC
    const first = `veth${hex(r.bytes(4))}`;
    r.mac();
    r.mac();
    const second = `veth${hex(r.bytes(4))}`;
    nl.addDevice('host', first, 'dummy');
    const res = cmdAdd(nl, rng, bridgeConf(), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(res.interfaces[1].name).toBe(second);
  });

  it('an existing container interface is an error (not retried)', () => {
    const { nl, rng } = setup();
    nl.addDevice('pod-a', 'eth0', 'dummy');
    expect(() => cmdAdd(nl, rng, bridgeConf(), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' })).toThrow(
      /^container veth name \("eth0"\) peer provided \("veth[0-9a-f]{8}"\) already exists$/,
    );
  });

  it('an unknown netns is an error', () => {
    const { nl, rng } = setup();
    expect(() => cmdAdd(nl, rng, bridgeConf(), { containerID: 'c1', netns: 'nope', ifName: 'eth0' })).toThrow(/failed to open netns "nope"/);
  });

  it('same seed, same veth names and MACs', () => {
    const run = () => {
      const { nl, rng } = setup(42);
      const conf = bridgeConf();
      const a = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
      const b = cmdAdd(nl, rng, conf, { containerID: 'c2', netns: 'pod-b', ifName: 'eth0' });
      return { calls: nl.calls, names: [a.interfaces[1].name, b.interfaces[1].name] };
    };
    const x = run();
    const y = run();
    expect(x).toEqual(y);
    expect(x.names[0]).not.toBe(x.names[1]);
    const { nl, rng } = setup(43);
    expect(cmdAdd(nl, rng, bridgeConf(), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' }).interfaces[1].name).not.toBe(x.names[0]);
  });

  it('a requested IP and MAC are honoured', () => {
    const { nl, rng } = setup();
    const res = cmdAdd(nl, rng, bridgeConf(), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0', ips: ['10.244.1.77'], mac: '0a:58:0a:f4:01:4d' });
    expect(res.ips[0].address).toBe('10.244.1.77/24');
    expect(res.interfaces[2].mac).toBe('0a:58:0a:f4:01:4d');
  });

  it('MAC and IP sources: runtimeConfig.mac overrides args; requested IPs are gathered from every source', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf({ runtimeConfig: { mac: '0a:00:00:00:00:01' } });
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0', mac: '0a:00:00:00:00:02' });
    expect(res.interfaces[2].mac).toBe('0a:00:00:00:00:01');
    const conf2 = bridgeConf({ args: { cni: { ips: ['10.244.1.9'] } } });
    expect(cmdAdd(nl, rng, conf2, { containerID: 'c2', netns: 'pod-b', ifName: 'eth0' }).ips[0].address).toBe('10.244.1.9/24');
  });

  it('layer 2 only (no ipam): the container end is just set up', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf({ isDefaultGateway: false }, {});
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(res.ips).toEqual([]);
    expect(nl.calls.slice(-1)).toEqual(['linkSetUp pod-a eth0 up']);
  });

  it('ipMasq: chain CNI-<24 hex of sha512(name+id)>, rules returned as data', () => {
    const { nl, rng } = setup();
    const res = cmdAdd(nl, rng, bridgeConf({ ipMasq: true }), { containerID: 'abc', netns: 'pod-a', ifName: 'eth0' });
    const chain = `CNI-${createHash('sha512').update('cbr0abc').digest('hex').slice(0, 24)}`;
    expect(chain).toHaveLength(28);
    expect(ipMasqChainName('cbr0', 'abc')).toBe(chain);
    const comment = 'name: "cbr0" id: "abc"';
    expect(res.ipMasq).toEqual({
      backend: 'iptables',
      chain,
      comment,
      rules: [
        { table: 'nat', chain, args: ['-d', '10.244.1.2/24', '-j', 'ACCEPT', '-m', 'comment', '--comment', comment] },
        { table: 'nat', chain, args: ['!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', '-m', 'comment', '--comment', comment] },
        { table: 'nat', chain: 'POSTROUTING', args: ['-s', '10.244.1.2', '-j', chain, '-m', 'comment', '--comment', comment] },
      ],
    });
    expect('ipMasq' in resultToJSON(res)).toBe(false);
    const del = cmdDel(nl, bridgeConf({ ipMasq: true }), { containerID: 'abc', netns: 'pod-a', ifName: 'eth0' });
    expect(del.ipMasqTeardown?.chain).toBe(chain);
    expect(del.ipMasqTeardown?.postroutingRules.map((r) => r.args[1])).toEqual(['10.244.1.2', '10.244.1.2/24']);
  });

  it('features without a Netlink operation are refused, not silently skipped', () => {
    const { nl, rng } = setup();
    expect(() => cmdAdd(nl, rng, bridgeConf({ vlan: 100 }), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' })).toThrow(CniError);
    expect(() => cmdAdd(nl, rng, bridgeConf({ hairpinMode: false, promiscMode: true }), { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' })).toThrow(
      /promiscMode not modelled/,
    );
    expect(nl.calls).toEqual([]);
  });

  it('works with the default conflist', () => {
    const { nl, rng } = setup();
    const conf = defaultBridgeConflist({ subnet: '10.244.3.0/24' }).plugins[0] as BridgeNetConf;
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(res.ips[0].address).toBe('10.244.3.2/24');
    expect(nl.calls[0]).toMatch(/ mtu 1500$/);
  });
});

describe('bridge cmdDel', () => {
  it('deletes the container interface (and with it the veth pair), then releases the IP', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf();
    const res = cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    nl.calls.length = 0;
    const del = cmdDel(nl, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(nl.calls).toEqual(['linkDel pod-a eth0']);
    expect(del).toEqual({ removedAddresses: ['10.244.1.2/24'], releasedIPs: ['10.244.1.2'] });
    expect(nl.linkExists('host', res.interfaces[1].name)).toBe(false);
    expect(nl.linkExists('host', 'cni0')).toBe(true);
    expect(hostLocalDiskOf(nl).files()).toEqual({
      '/var/lib/cni/networks/cbr0/last_reserved_ip.0': '10.244.1.2',
      '/var/lib/cni/networks/cbr0/lock': '',
    });
  });

  it('is idempotent: again, with the netns gone, or with no netns', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf();
    cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    cmdDel(nl, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    nl.calls.length = 0;
    expect(cmdDel(nl, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' })).toEqual({ removedAddresses: [], releasedIPs: [] });
    expect(cmdDel(nl, conf, { containerID: 'c1', netns: 'gone', ifName: 'eth0' })).toEqual({ removedAddresses: [], releasedIPs: [] });
    expect(cmdDel(nl, conf, { containerID: 'c1', netns: '', ifName: 'eth0' })).toEqual({ removedAddresses: [], releasedIPs: [] });
    expect(nl.calls).toEqual([]);
  });

  it('releases IPAM even when the netns is already gone', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf();
    cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    nl.netnsDel('pod-a');
    expect(cmdDel(nl, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' }).releasedIPs).toEqual(['10.244.1.2']);
  });

  it('DEL then ADD: round-robin does not reuse the released IP at once', () => {
    const { nl, rng } = setup();
    const conf = bridgeConf();
    expect(cmdAdd(nl, rng, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' }).ips[0].address).toBe('10.244.1.2/24');
    cmdDel(nl, conf, { containerID: 'c1', netns: 'pod-a', ifName: 'eth0' });
    expect(cmdAdd(nl, rng, conf, { containerID: 'c2', netns: 'pod-a', ifName: 'eth0' }).ips[0].address).toBe('10.244.1.3/24');
  });
});
