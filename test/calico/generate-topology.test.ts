/**
 * `podwire generate --network calico` (src/cli/generate.ts): the BGP topology of the
 * generated cluster — the node-to-node mesh up to MESH_MAX_NODES nodes, route reflectors
 * above (a mesh of N nodes is N·(N−1)/2 sessions: 12.5 million at Kubernetes' 5,000).
 */
import { describe, expect, it } from 'vitest';
import { generateScenario, MESH_MAX_NODES, REFLECTORS, type GenerateOptions } from '../../src/cli/generate.js';
import { parseScenario } from '../../src/scenario/load.js';

const calico = (nodes: number): GenerateOptions => ({ nodes, pods: nodes, services: 1, policies: 0, namespaces: 1, network: 'calico', seed: 1 });

describe('generated calico topology', () => {
  it('keeps the full mesh up to MESH_MAX_NODES nodes', () => {
    const spec = parseScenario(generateScenario(calico(MESH_MAX_NODES)), 'g.yaml').cluster.network.calico!;
    expect(spec.nodeToNodeMesh).toBe(true);
    expect(spec.routeReflectors).toEqual([]);
  });

  it('peers through route reflectors above it', () => {
    const spec = parseScenario(generateScenario(calico(MESH_MAX_NODES + 1)), 'g.yaml').cluster.network.calico!;
    expect(spec.nodeToNodeMesh).toBe(false);
    expect(spec.routeReflectors).toEqual(Array.from({ length: REFLECTORS }, (_, i) => `n${i}`));
    expect(spec.routeReflectorClusterID).toBe('244.0.0.1');
  });
});
