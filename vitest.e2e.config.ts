import { defineConfig } from "vitest/config";

// The end-to-end tests (npm run test:e2e): real Docker and containerd, one file at a time.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    globalSetup: ["test/helpers/global-setup.ts"],
  },
});
