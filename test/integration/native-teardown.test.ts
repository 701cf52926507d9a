// A sentry thread may end while it is still loading the addon: a sandbox that ended before
// any of its syscalls reached the sentry, or an early error's process.exit. N-API calls then
// fail (the thread is being torn down), and the addon must let them fail quietly: before,
// the failure became a process abort (SIGABRT, "FATAL ERROR: ... napi_throw") in place of
// the command's own exit status.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { describeRun, hostFixtureDir, removeHostDir, ROOT, runNative } from "../helpers/sandbox.js";

let dir: string;
let script: string;
beforeAll(() => {
  dir = hostFixtureDir("teardown");
  script = join(dir, "sweep.mjs");
  // Each trial starts a thread that loads the addon and ends it d ms later, d swept in
  // 0.1 ms steps across the moment the addon's init runs (measured on a first thread).
  writeFileSync(
    script,
    `import { Worker } from "node:worker_threads";
const code = "import(" + JSON.stringify(${JSON.stringify(join(ROOT, "dist", "native", "index.js"))}) + ").then((m) => { m.loadNative(); require('node:worker_threads').parentPort.postMessage('loaded'); })";
const start = () => new Worker(code, { eval: true });
const spin = (ms) => { const end = performance.now() + ms; while (performance.now() < end); };
let t = performance.now();
const first = start();
await new Promise((r) => first.once("message", r));
const loaded = performance.now() - t;
await first.terminate();
let trials = 0;
for (let d = Math.max(0, loaded - 12); d <= loaded + 4; d += 0.1, trials++) {
  const w = start();
  spin(d);
  await w.terminate();
}
process.stdout.write("trials " + trials + "\\n");
`,
  );
});
afterAll(() => removeHostDir(dir));

describe("the native addon", () => {
  it("lets a thread end while it loads the addon, at any moment, without aborting the process", async ({ expect }) => {
    const r = await runNative(process.execPath, [script], { timeoutMs: 120_000 });
    expect(r.stderr, describeRun(r)).not.toContain("FATAL ERROR");
    expect(r.signal, describeRun(r)).toBeNull();
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(/^trials 1[56]\d\n$/);
  });
});
