import { describe, expect, it } from 'vitest';
import { endpointChainName, knpPolicyId, lengthLimitedId, policyChainName, workloadInterfaceName } from '../../src/calico/names.js';

describe('calico names', () => {
  it('host veth name is cali + sha1("ns.pod")[:11] (REFERENCE §8.1 example)', () => {
    expect(workloadInterfaceName('default', 'nginx')).toBe('calic440f455693');
    expect(workloadInterfaceName('default', 'nginx')).toHaveLength(15);
  });
  it('length-limited ids keep short names and hash long ones', () => {
    expect(endpointChainName('to', 'calic440f455693')).toBe('cali-tw-calic440f455693');
    expect(policyChainName('inbound', knpPolicyId('default', 'allow-web'))).toBe('cali-pi-_l7X9Omtz7dibbh9L3Lp');
    expect(lengthLimitedId('p-', 'x'.repeat(26))).toHaveLength(28);
    expect(lengthLimitedId('p-', 'x'.repeat(25))).toBe('p-' + 'x'.repeat(25));
    expect(lengthLimitedId('p-', '_' + 'x'.repeat(25))).toMatch(/^p-_/);
  });
});
