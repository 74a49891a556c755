/**
 * net-conf.json as flanneld reads it (flannel pkg/subnet/config.go ParseConfig +
 * CheckNetworkConfig): defaults, the checks and their messages, Go's case-insensitive keys.
 */
import { describe, expect, it } from 'vitest';
import { FlannelConfigError, parseFlannelConfig, subnetEnv, subnetKey } from '../../src/overlay/flannel/config.js';
import { formatIPv4 } from '../../src/cni/ip4.js';

const err = (text: string): FlannelConfigError => {
  try { parseFlannelConfig(text); } catch (e) { if (e instanceof FlannelConfigError) return e; throw e; }
  throw new Error('no error');
};

describe('flannel net-conf.json', () => {
  it('the shipped kube-flannel.yml value: /16 → /24 subnets from 10.244.1.0 to 10.244.255.0, VXLAN VNI 1 on the kernel port', () => {
    const c = parseFlannelConfig('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
    expect(c.subnetLen).toBe(24);
    expect(formatIPv4(c.subnetMin)).toBe('10.244.1.0');
    expect(formatIPv4(c.subnetMax)).toBe('10.244.255.0');
    expect(c.backend).toEqual({ type: 'vxlan', vxlan: { vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false } });
  });
  it('no Backend means udp (port 8285); small networks split in four', () => {
    const c = parseFlannelConfig('{"Network": "10.1.0.0/26"}');
    expect(c.backend).toEqual({ type: 'udp', udpPort: 8285 });
    expect(c.subnetLen).toBe(28);
    expect(formatIPv4(c.subnetMin)).toBe('10.1.0.16');
    expect(formatIPv4(c.subnetMax)).toBe('10.1.0.48');
    expect(parseFlannelConfig('{"Network": "10.0.0.0/22"}').subnetLen).toBe(24);
    expect(parseFlannelConfig('{"Network": "10.0.0.0/23"}').subnetLen).toBe(25);
  });
  it('keys match case-insensitively, as Go decodes them', () => {
    const c = parseFlannelConfig('{"network": "10.244.0.0/16", "backend": {"type": "vxlan", "vni": 4096, "port": 4789, "directrouting": true}}');
    expect(c.backend.vxlan).toMatchObject({ vni: 4096, port: 4789, directRouting: true });
  });
  it('refuses what flanneld refuses, with its messages', () => {
    expect(err('{"Network": "10.0.0.0/29"}').message).toBe('network is too small. Minimum useful network prefix is /28');
    expect(err('{"Network": "10.0.0.0/16", "SubnetLen": 31}').message).toBe('SubnetLen must be less than /31');
    expect(err('{"Network": "10.0.0.0/16", "SubnetLen": 17}').message).toBe('network must be able to accommodate at least four subnets');
    expect(err('{"Network": "10.0.0.0/16", "SubnetMin": "10.1.0.0"}').message).toBe('SubnetMin is not in the range of the Network');
    expect(err('{"Network": "10.0.0.0/16", "SubnetMax": "10.0.3.128"}').message).toBe('SubnetMax is not on a SubnetLen boundary: 10.0.3.128');
    expect(err('{"Backend": {"Type": "vxlan"}}').message).toBe('please define a correct Network parameter in the flannel config');
  });
  it('names unknown keys and bad backends with positions', () => {
    const e = err('{\n  "Network": "10.244.0.0/16",\n  "Backend": {"Type": "vxlan", "VNl": 1}\n}');
    expect(e.message).toBe('unknown key "VNl" in Backend; did you mean "VNI"?');
    expect([e.line, e.col]).toEqual([3, 32]);
    expect(err('{"Network": "10.244.0.0/16", "Backend": {"Type": "wireguard"}}').message).toBe('backend type "wireguard" is not supported by podwire');
    expect(err('{"Network": "10.244.0.0/16", "EnableIPv6": true}').message).toMatch(/IPv4 only/);
  });
  it('subnet keys and subnet.env as flanneld writes them', () => {
    const c = parseFlannelConfig('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
    expect(subnetKey(0x0af40100, 24)).toBe('10.244.1.0-24');
    expect(subnetEnv(c, { addr: 0x0af40100, prefix: 24 }, 1450, true)).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  });
});
