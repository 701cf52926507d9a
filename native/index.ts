// The only module that loads the addon; everything else receives a NativeBinding.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NativeBinding } from "./binding.js";

export type { NativeBinding, SpawnOptions, Spawned, KernelProbe } from "./binding.js";

/** The repository root, found from this module whether it runs from source or dist/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "native", "CMakeLists.txt"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("runsc-ts: cannot locate the project root from " + import.meta.url);
}

let cached: NativeBinding | undefined;

/** Loads build/native/Release/runsc_native.node, with a message saying how to build it. */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const file = join(projectRoot(), "build", "native", "Release", "runsc_native.node");
  if (!existsSync(file)) {
    throw new Error(`runsc-ts: native addon missing (${file}); run "npm ci" or "npm run build:native"`);
  }
  cached = createRequire(import.meta.url)(file) as NativeBinding;
  return cached;
}

/** Host path of a container monitor's native start (monitor/monitor.c). */
export function monitorStartPath(): string {
  return join(projectRoot(), "build", "native", "runsc-ts-monitor");
}

/** Host path of the sandbox init binary. */
export function initPath(): string {
  return join(projectRoot(), "build", "native", "runsc-ts-init");
}
