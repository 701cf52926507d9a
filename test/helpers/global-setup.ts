// Global test setup: integration tests need the bundled CLI, built from the compiled
// sources of now, and the native addon.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export default function setup(): (() => void) | void {
  if (process.env.RUNSC_TS_UNIT_ONLY === "1") return;
  const missing = ["dist/cli/main.js", "build/native/Release/runsc_native.node"].filter((p) => !existsSync(join(root, p)));
  if (missing.length > 0) {
    throw new Error(`build output missing (${missing.join(", ")}): run "npm ci" or "npm run build" first`);
  }
  const bundled = statSync(join(root, "dist", "cli", "main.js")).mtimeMs;
  const newer = ["runsc", "sentry", "platform", "native"].flatMap((d) => newerThan(join(root, "dist", d), bundled));
  if (newer.length > 0) {
    throw new Error(`dist/cli is older than ${newer[0]} (compiled after it): run "npm run build:cli"`);
  }
  // The warm processes the tests' commands started end with the run.
  return () => void spawnSync(join(root, "bin", "runsc-ts"), ["service", "stop"], { stdio: "ignore" });
}

/** The .js files under dir compiled after the time given. */
function newerThan(dir: string, time: number): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".js"))
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).mtimeMs > time);
}
