import { defineConfig } from "vitest/config";

// Kubernetes' CRI validation suite through containerd (npm run test:cri): critest's tools
// from CRI_TOOLS, runc and runsc-ts as handlers of one containerd, one run each.
export default defineConfig({
  test: {
    include: ["test/cri/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    globalSetup: ["test/helpers/global-setup.ts"],
  },
});
