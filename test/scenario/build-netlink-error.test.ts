/** A machine refusing what the scenario implies during the build is bad input at file:line:col, not a crash. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadScenario } from '../../src/scenario/load.js';
import { buildCluster } from '../../src/scenario/build.js';
import { Node } from '../../src/kernel/node.js';
import { NetlinkError } from '../../src/kernel/netlink.js';
import { isInputError } from '../../src/scenario/errors.js';

afterEach(() => { vi.restoreAllMocks(); });

describe('buildCluster', () => {
  it("reports a netlink refusal at the scenario's network key with the kernel's answer", () => {
    const sc = loadScenario('scenarios/calico-tor.yaml');
    vi.spyOn(Node.prototype, 'linkSetUp').mockImplementation(() => { throw new NetlinkError('ENETUNREACH', 'RTNETLINK answers: Network is unreachable'); });
    let err: unknown;
    try { buildCluster(sc); } catch (e) { err = e; }
    expect(isInputError(err)).toBe(true);
    const text = (err as { format(): string }).format();
    expect(text).toMatch(/^scenarios\/calico-tor\.yaml:\d+:\d+: error: building the cluster failed: .*Network is unreachable/);
    expect(text).toMatch(/network/i);
  });
});
