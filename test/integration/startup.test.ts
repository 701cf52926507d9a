// Start-up cost: a run of `do` with a policy seen before loads neither the policy language
// (zod, yaml) nor the logger (pino) nor the strace printers; they load only when needed.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { describeRun, hostFixtureDir, removeHostDir, ROOT, runDo, runNative } from "../helpers/sandbox.js";

let dir: string;
let hook: string;
beforeAll(() => {
  dir = hostFixtureDir("startup");
  // Prints every module a run resolves (stderr), then runs runsc-ts's entry point.
  hook = join(dir, "modules.mjs");
  writeFileSync(
    hook,
    `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  if (!r.url.startsWith("node:")) process.stderr.write("module " + r.url + "\\\\n");
  return r;
}\`));
process.argv.splice(1, 1, ${JSON.stringify(join(ROOT, "dist", "runsc", "main.js"))});
await import(${JSON.stringify(join(ROOT, "dist", "runsc", "main.js"))});
`,
  );
});
afterAll(() => removeHostDir(dir));

async function modulesOf(args: string[]): Promise<string[]> {
  const r = await runNative(process.execPath, [hook, ...args]);
  if (r.code !== 0) throw new Error(describeRun(r));
  return r.stderr
    .split("\n")
    .filter((l) => l.startsWith("module "))
    .map((l) => l.slice("module ".length));
}

describe("what a run of do loads", () => {
  it("a cached policy: no zod, yaml or pino, no strace printers, no OCI profile reader", async ({ expect }) => {
    const warm = await runDo(["--", "true"]); // fills the policy cache
    expect(warm.code, describeRun(warm)).toBe(0);
    const mods = await modulesOf(["do", "--", "true"]);
    expect(mods.some((m) => m.includes("/dist/runsc/sandbox/sandbox.js")), mods.join("\n")).toBe(true);
    for (const heavy of ["/node_modules/zod/", "/node_modules/yaml/", "/node_modules/pino", "/dist/sentry/strace/", "/dist/runsc/ociSeccomp.js", "/dist/runsc/learn.js"]) {
      expect(mods.filter((m) => m.includes(heavy)), `${heavy} loaded`).toEqual([]);
    }
  });

  it("--seccomp loads the profile reader (and zod) when it is given", async ({ expect }) => {
    const mods = await modulesOf(["do", "--seccomp", join(ROOT, "test", "fixtures", "oci", "docker-seccomp.json"), "--", "true"]);
    expect(mods.some((m) => m.includes("/dist/runsc/ociSeccomp.js"))).toBe(true);
  });
});
