// Global test setup: integration tests need the compiled CLI and native addon.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export default function setup(): void {
  const missing = ["dist/runsc/main.js", "build/native/Release/runsc_native.node"].filter(
    (p) => !existsSync(join(root, p)),
  );
  if (missing.length > 0 && process.env.RUNSC_TS_UNIT_ONLY !== "1") {
    throw new Error(`build output missing (${missing.join(", ")}): run "npm ci" or "npm run build" first`);
  }
}
