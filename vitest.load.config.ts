import { defineConfig } from "vitest/config";

// The load test (npm run test:load): every CPU busy, hundreds of sandboxes, a private dockerd.
export default defineConfig({
  test: {
    include: ["test/load/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
    globalSetup: ["test/helpers/global-setup.ts"],
  },
});
