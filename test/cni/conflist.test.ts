import { describe, expect, it } from 'vitest';
import {
  CniConfigError,
  defaultBridgeConflist,
  parseCniConfig,
  parseConflist,
  parseNetworkConfig,
  resolveFlannel,
  type BridgeNetConf,
} from '../../src/cni/index.js';

function errorOf(fn: () => unknown): CniConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniConfigError) return e;
    throw e;
  }
  throw new Error('expected a CniConfigError');
}

const GOOD = `{
  "cniVersion": "1.0.0",
  "name": "cbr0",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isDefaultGateway": true,
      "hairpinMode": true,
      "mtu": 1450,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.244.1.0/24" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true }, "snat": true }
  ]
}`;

describe('conflist parsing', () => {
  it('parses bridge + host-local with the plugin defaults, and keeps other plugins opaque', () => {
    const list = parseConflist(GOOD);
    expect(list.name).toBe('cbr0');
    const br = list.plugins[0] as BridgeNetConf;
    expect(br).toMatchObject({
      kind: 'bridge',
      name: 'cbr0',
      cniVersion: '1.0.0',
      bridge: 'cni0',
      isGateway: true, // forced by isDefaultGateway
      isDefaultGateway: true,
      forceAddress: false,
      ipMasq: false,
      mtu: 1450,
      hairpinMode: true,
      promiscMode: false,
      vlan: 0,
      vlans: [],
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
    });
    expect(list.plugins[1]).toMatchObject({ kind: 'other', type: 'portmap', name: 'cbr0' });
  });

  it('bridge defaults to cni0; the legacy single-range host-local form is prepended to ranges', () => {
    const c = parseNetworkConfig(
      '{"cniVersion":"0.3.1","name":"k","type":"bridge","ipam":{"type":"host-local","subnet":"10.1.0.0/16","rangeStart":"10.1.0.10","ranges":[[{"subnet":"10.2.0.0/24"}]]}}',
    ) as BridgeNetConf;
    expect(c.bridge).toBe('cni0');
    expect(c.ipam!.ranges).toEqual([[{ subnet: '10.1.0.0/16', rangeStart: '10.1.0.10' }], [{ subnet: '10.2.0.0/24' }]]);
  });

  it('parseCniConfig accepts both forms', () => {
    expect(parseCniConfig(GOOD).plugins).toHaveLength(2);
    const single = parseCniConfig('{"cniVersion":"0.4.0","name":"n","type":"bridge"}');
    expect(single).toMatchObject({ name: 'n', cniVersion: '0.4.0', plugins: [{ kind: 'bridge' }] });
    expect((single.plugins[0] as BridgeNetConf).ipam).toBeUndefined();
  });

  it('a host-bits subnet: path, line:col and the plugin message', () => {
    const text = GOOD.replace('10.244.1.0/24', '10.244.1.5/24');
    const e = errorOf(() => parseConflist(text));
    expect(e.path).toBe('plugins[0].ipam.ranges[0][0].subnet');
    expect([e.line, e.col]).toEqual([13, 33]);
    expect(e.message).toBe(
      'plugins[0].ipam.ranges[0][0].subnet at 13:33: expected a valid range (invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.244.1.0)',
    );
  });

  it('an unknown bridge key is named, pointing at the key', () => {
    const text = GOOD.replace('"mtu": 1450,', '"mtu": 1450, "hairpin": true,');
    const e = errorOf(() => parseConflist(text));
    expect(e.path).toBe('plugins[0].hairpin');
    expect([e.line, e.col]).toEqual([10, 20]);
    expect(e.expected).toMatch(/^no key "hairpin": not a bridge plugin key \(known keys: type, name, cniVersion, /);
  });

  it('unknown host-local and range keys', () => {
    expect(errorOf(() => parseConflist(GOOD.replace('"routes"', '"route"'))).path).toBe('plugins[0].ipam.route');
    const e = errorOf(() => parseConflist(GOOD.replace('{ "subnet": "10.244.1.0/24" }', '{ "subnet": "10.244.1.0/24", "gw": "10.244.1.1" }')));
    expect(e.path).toBe('plugins[0].ipam.ranges[0][0].gw');
    expect(e.expected).toContain('not a host-local range key');
  });

  it('type errors say what was expected and what was found', () => {
    const e = errorOf(() => parseConflist(GOOD.replace('"hairpinMode": true', '"hairpinMode": "yes"')));
    expect(e.path).toBe('plugins[0].hairpinMode');
    expect(e.line).toBe(9);
    expect(e.expected).toBe('true or false, got the string "yes"');
    const m = errorOf(() => parseConflist(GOOD.replace('"mtu": 1450', '"mtu": 20')));
    expect(m.expected).toBe('0 (unset) or an MTU 68-65535, got number 20');
  });

  it('hairpinMode with promiscMode, vlan out of range, vlanTrunk errors', () => {
    const hp = errorOf(() => parseConflist(GOOD.replace('"mtu": 1450', '"mtu": 1450, "promiscMode": true')));
    expect(hp.path).toBe('plugins[0].promiscMode');
    expect(hp.expected).toContain('cannot set hairpin mode and promiscuous mode at the same time');
    const v = errorOf(() => parseConflist(GOOD.replace('"mtu": 1450', '"mtu": 1450, "vlan": 4095')));
    expect(v.path).toBe('plugins[0].vlan');
    expect(v.expected).toContain('invalid VLAN ID 4095 (must be between 0 and 4094)');
    const t = errorOf(() => parseConflist(GOOD.replace('"mtu": 1450', '"mtu": 1450, "vlanTrunk": [{"minID": 10}]')));
    expect(t.path).toBe('plugins[0].vlanTrunk[0]');
    expect(t.expected).toContain('maxID is missing');
    const ok = parseConflist(GOOD.replace('"mtu": 1450', '"mtu": 1450, "vlanTrunk": [{"minID": 10, "maxID": 12}, {"id": 5}, {"id": 11}]'));
    expect((ok.plugins[0] as BridgeNetConf).vlans).toEqual([5, 10, 11, 12]);
  });

  it('/31 and /32, rangeStart outside, overlapping ranges', () => {
    const small = errorOf(() => parseConflist(GOOD.replace('10.244.1.0/24', '10.244.1.0/31')));
    expect(small.expected).toContain('Network 10.244.1.0/31 too small to allocate from');
    const rs = errorOf(() => parseConflist(GOOD.replace('"subnet": "10.244.1.0/24"', '"subnet": "10.244.1.0/24", "rangeStart": "10.244.9.1"')));
    expect(rs.path).toBe('plugins[0].ipam.ranges[0][0].rangeStart');
    expect(rs.expected).toContain('RangeStart 10.244.9.1 not in network 10.244.1.0/24');
    const ov = errorOf(() => parseConflist(GOOD.replace('[[{ "subnet": "10.244.1.0/24" }]]', '[[{ "subnet": "10.244.1.0/24" }, { "subnet": "10.244.1.0/25" }]]')));
    expect(ov.path).toBe('plugins[0].ipam.ranges[0][1]');
    expect(ov.expected).toContain('subnets 10.244.1.1-10.244.1.254 and 10.244.1.1-10.244.1.126 overlap');
    const sets = errorOf(() => parseConflist(GOOD.replace('[[{ "subnet": "10.244.1.0/24" }]]', '[[{ "subnet": "10.244.1.0/24" }], [{ "subnet": "10.244.0.0/16" }]]')));
    expect(sets.path).toBe('plugins[0].ipam.ranges[1]');
    expect(sets.expected).toContain('range set 0 overlaps with 1');
    const legacy = errorOf(() => parseNetworkConfig('{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"host-local","subnet":"10.0.0.1/8"}}'));
    expect(legacy.path).toBe('ipam.subnet');
    expect([legacy.line, legacy.col]).toEqual([1, 87]);
  });

  it('missing and malformed top-level fields', () => {
    expect(errorOf(() => parseConflist('{"cniVersion":"1.0.0","plugins":[]}')).message).toBe(
      'name at 1:1: expected a network name (required key "name" is missing)',
    );
    expect(errorOf(() => parseConflist('{"cniVersion":"1.0.0","name":"x","plugins":[]}')).expected).toBe('at least one plugin (no plugins in list)');
    expect(errorOf(() => parseConflist('{"cniVersion":"9.9.9","name":"x","plugins":[]}')).path).toBe('cniVersion');
    expect(errorOf(() => parseConflist('{"cniVersion":"1.0.0","name":"bad name","plugins":[]}')).path).toBe('name');
    const ipamType = errorOf(() => parseConflist(GOOD.replace('"type": "host-local"', '"type": "dhcp"')));
    expect(ipamType.path).toBe('plugins[0].ipam.type');
    const noSubnet = errorOf(() => parseConflist(GOOD.replace('{ "subnet": "10.244.1.0/24" }', '{ }')));
    expect(noSubnet.path).toBe('plugins[0].ipam.ranges[0][0].subnet');
    expect(noSubnet.expected).toBe('an IPv4 CIDR ("a.b.c.d/n") (required key "subnet" is missing)');
    expect([noSubnet.line, noSubnet.col]).toEqual([13, 21]); // the range object
  });

  it('JSON syntax errors carry line:col', () => {
    const e = errorOf(() => parseConflist('{\n  "name": "x",\n  "plugins": [1 2]\n}'));
    expect(e.path).toBe('plugins');
    expect([e.line, e.col]).toEqual([3, 17]);
    expect(e.expected).toBe("',' or ']' in an array");
    const dup = errorOf(() => parseConflist('{"name":"a","name":"b"}'));
    expect(dup.path).toBe('name');
    expect(dup.col).toBe(13);
  });
});

describe('flannel', () => {
  const FLANNEL = `{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    { "type": "flannel", "delegate": { "hairpinMode": true, "isDefaultGateway": true } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}`;

  it('maps the delegate to bridge + host-local on FLANNEL_SUBNET, as flannel-io/cni-plugin builds it', () => {
    const list = parseConflist(FLANNEL);
    expect(list.plugins[0].kind).toBe('flannel');
    const resolved = resolveFlannel(list, { network: '10.244.0.0/16', subnet: '10.244.1.1/24', mtu: 1450, ipMasq: true });
    const br = resolved.plugins[0] as BridgeNetConf;
    expect(br).toMatchObject({
      kind: 'bridge',
      name: 'cbr0',
      cniVersion: '0.3.1',
      bridge: 'cni0',
      hairpinMode: true,
      isDefaultGateway: true,
      isGateway: true,
      ipMasq: false, // flanneld masquerades (FLANNEL_IPMASQ=true)
      mtu: 1450,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '10.244.0.0/16' }] },
    });
    expect(resolved.plugins[1].kind).toBe('other');
  });

  it('an invalid delegate key is reported at its position in the source', () => {
    const list = parseConflist(FLANNEL.replace('"hairpinMode": true', '"hairpinMode": true, "bogus": 1'));
    const e = errorOf(() => resolveFlannel(list, { network: '10.244.0.0/16', subnet: '10.244.1.1/24', mtu: 1450, ipMasq: true }));
    expect(e.path).toBe('plugins[0].delegate.bogus');
    expect(e.line).toBe(5);
  });
});

describe('defaultBridgeConflist', () => {
  it('is the bridge + host-local list podwire uses by default', () => {
    const list = defaultBridgeConflist({ subnet: '10.244.2.0/24' });
    expect(list.raw).toEqual({
      cniVersion: '1.0.0',
      name: 'cbr0',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: false,
          hairpinMode: true,
          mtu: 1500,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.2.0/24' }]] },
        },
      ],
    });
    // its text parses back to the same configuration
    const again = parseConflist(JSON.stringify(list.raw, null, 2));
    expect(again.plugins[0]).toEqual({ ...list.plugins[0], raw: again.plugins[0].raw });
    expect(() => defaultBridgeConflist({ subnet: '10.244.2.1/24' })).toThrow(CniConfigError);
  });
});
