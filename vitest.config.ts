import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Kernel-conformance tests share network namespaces and tcpdump; run files one at a time there.
    fileParallelism: true,
  },
});
