// No signal reaches the sentry's thread while it waits in an ioctl. ADDFD with SEND marks a
// notification answered before the task takes the descriptor; a signal interrupting that
// wait withdraws the descriptor but not the answer, and the task's open returns 0 (stdin).
// The V8 profiler's SIGPROF, sent to each thread it samples, did exactly that to about one
// open in thirty; the sentry's thread now blocks asynchronous signals
// (native/src/notify.cc: blockSignals).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, removeHostDir, ROOT, runNative, writePolicy } from "../helpers/sandbox.js";

const probes = useProbes();
let fixtures: string;
let profiles: string;
let policy: string;

beforeAll(() => {
  fixtures = hostFixtureDir("sentry-signals");
  profiles = mkdtempSync(join(tmpdir(), "runsc-ts-profiles-"));
  // openat goes to the sentry, which opens the file and injects the descriptor (ADDFD, SEND).
  policy = writePolicy(fixtures, "trap-openat", "syscalls:\n  rules:\n    - { names: [openat], action: trap }\n");
});
afterAll(() => {
  removeHostDir(fixtures);
  rmSync(profiles, { recursive: true, force: true });
});

describe("the sentry's thread and signals", () => {
  it("20 000 opens performed by the sentry under a CPU profiler sampling every 20 µs all return their descriptor", async ({ expect }) => {
    const r = await runNative(
      process.execPath,
      [
        "--cpu-prof",
        "--cpu-prof-interval=20",
        `--cpu-prof-dir=${profiles}`,
        join(ROOT, "dist", "runsc", "main.js"),
        "do",
        "--policy",
        policy,
        "--",
        probes.path("openmany"),
        "20000",
        "/etc/hostname",
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("opens=20000 wrong=0 errors=0 differ=0\n");
  });
});
