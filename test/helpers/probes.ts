// Compiles the C probes in test/fixtures/probes/ with gcc into one world-readable directory
// under /var/tmp, where both the host and a sandbox can run them (the sandbox's /tmp is its
// own, and its root is an unprivileged host uid).
import { execFile } from "node:child_process";
import { chmodSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { hostFixtureDir, removeHostDir, ROOT } from "./sandbox.js";

export const PROBE_SOURCES = join(ROOT, "test", "fixtures", "probes");

export interface Probes {
  /** The directory holding the binaries (0755). */
  readonly dir: string;
  /** Absolute path of the compiled probe `name` (the source file's name without ".c"). */
  path(name: string): string;
  /** Removes the directory. */
  cleanup(): void;
}

function gcc(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile("gcc", args, { encoding: "utf8" }, (err, _stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new Error("gcc not found: the integration tests compile C probes from test/fixtures/probes with gcc (on Debian: apt-get install gcc)"));
        return;
      }
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stderr });
    });
  });
}

/** Compiles every test/fixtures/probes/*.c (gcc -O2 -Wall -pthread) into a fresh directory. */
export async function compileProbes(): Promise<Probes> {
  const sources = readdirSync(PROBE_SOURCES).filter((f) => f.endsWith(".c"));
  if (sources.length === 0) throw new Error(`no probe sources in ${PROBE_SOURCES}`);
  const dir = hostFixtureDir("probes");
  try {
    const results = await Promise.all(
      sources.map(async (src) => {
        const out = join(dir, basename(src, ".c"));
        const r = await gcc(["-O2", "-Wall", "-pthread", "-o", out, join(PROBE_SOURCES, src)]);
        return { src, out, ...r };
      }),
    );
    const failed = results.filter((r) => r.code !== 0);
    if (failed.length > 0) {
      throw new Error(`compiling probes failed:\n${failed.map((f) => `${f.src}:\n${f.stderr}`).join("\n")}`);
    }
    for (const r of results) chmodSync(r.out, 0o755);
  } catch (err) {
    removeHostDir(dir);
    throw err;
  }
  const names = new Set(sources.map((s) => basename(s, ".c")));
  return {
    dir,
    path(name: string): string {
      if (!names.has(name)) throw new Error(`no probe named ${name} (have: ${[...names].join(", ")})`);
      return join(dir, name);
    },
    cleanup: () => removeHostDir(dir),
  };
}

/**
 * Compiles the probes once for the calling test file (beforeAll) and removes them afterwards
 * (afterAll). The returned object is usable inside tests, not at collection time.
 */
export function useProbes(): Probes {
  let probes: Probes | undefined;
  const get = (): Probes => {
    if (probes === undefined) throw new Error("probes are not compiled yet (use them inside a test)");
    return probes;
  };
  beforeAll(async () => {
    probes = await compileProbes();
  });
  afterAll(() => {
    probes?.cleanup();
  });
  return {
    get dir() {
      return get().dir;
    },
    path: (name) => get().path(name),
    cleanup: () => get().cleanup(),
  };
}
