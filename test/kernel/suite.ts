/**
 * The lifecycle every kernel-conformance suite shares: refuse to run half-way
 * under CI when root or a tool is missing, clear stale pw-k namespaces of dead
 * runs first, and destroy every lab the suite made, even after a failure.
 * Call inside a `describe`; push each KernelLab into the returned array.
 */
import { afterAll, beforeAll } from 'vitest';
import { cleanStaleNetns, type KernelLab, kernelTestMode } from './netns.js';

export function useKernelLabs(mode: ReturnType<typeof kernelTestMode>): KernelLab[] {
  const labs: KernelLab[] = [];
  beforeAll(async () => {
    if (mode.mode === 'fail') throw new Error(`kernel tests must run under CI but cannot: ${mode.reason}`);
    await cleanStaleNetns();
  });
  afterAll(async () => {
    for (const lab of labs) {
      const problems = await lab.destroy();
      if (problems.length) console.error(`cleanup problems:\n${problems.join('\n')}`);
    }
  });
  return labs;
}
