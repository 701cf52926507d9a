// Calls the sentry performs that can block (a connect to a full accept queue, a sendto to a
// full datagram queue) run on the sandbox's bounded pool of workers, never on the thread
// that serves its other tasks, and never longer than their task waits: a task killed
// mid-call leaves no thread or descriptor in runsc-ts, a signal interrupts the call as it
// would natively, and the pool stops at MAX_BLOCKED_CALLS. Each probe runs natively too.
import { execFile } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BLOCKED_CALLS } from "../../sentry/sentry.js";
import { makeBundle, runtime, STATE_ROOT } from "../helpers/bundle.js";
import { PROBE_SOURCES, useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, pollFor, removeHostDir, runDo, runNative, startDo } from "../helpers/sandbox.js";
import type { RunResult } from "../helpers/sandbox.js";

const probes = useProbes();
let fixtures: string;
let gates = 0;

beforeAll(() => {
  fixtures = hostFixtureDir("blocking");
});

afterAll(() => removeHostDir(fixtures));

/** A path the probe waits for; open() lets it go on. */
function gate(): { path: string; open(): void } {
  const path = join(fixtures, `gate-${++gates}`);
  return { path, open: () => writeFileSync(path, "") };
}

/** The probe in one mode, natively and sandboxed at once: each run's numbers, as re captures them. */
async function bothWays(mode: string, re: RegExp): Promise<{ run: RunResult; n: number[] }[]> {
  const runs = await Promise.all([
    runNative(probes.path("blockcall"), [mode], { cwd: fixtures }),
    runDo(["--", probes.path("blockcall"), mode], { timeoutMs: 30_000 }),
  ]);
  return runs.map((run) => {
    expect(run.code, describeRun(run)).toBe(0);
    const m = re.exec(run.stdout);
    expect(m, describeRun(run)).not.toBeNull();
    return { run, n: m!.slice(1).map(Number) };
  });
}

/** Threads and descriptors of a runsc-ts process (the sentry is one of its threads). */
function usage(pid: number): { threads: number; fds: number } {
  return { threads: readdirSync(`/proc/${pid}/task`).length, fds: readdirSync(`/proc/${pid}/fd`).length };
}

describe("blocking calls", () => {
  it("a task killed in a blocked connect leaves no thread or descriptor behind (300 times)", async ({ expect }) => {
    const g = gate();
    const run = startDo(["--", probes.path("blockcall"), "killed", "300", g.path]);
    try {
      await run.waitForStdout("ready\n");
      const before = usage(run.child.pid!);
      await run.waitForStdout("killed 300\n", 60_000);
      // The workers of the killed tasks' calls end within the pool's idle time (2 s).
      await pollFor(() => (usage(run.child.pid!).threads <= before.threads + 1 ? true : undefined), 5_000, 100);
      const after = usage(run.child.pid!);
      expect(after.threads, `threads ${before.threads} before, ${after.threads} after 300 killed connects`).toBeLessThanOrEqual(before.threads + 1);
      // Before: a thread and two descriptors per killed connect, for as long as the peer lived.
      expect(after.fds - before.fds, `descriptors ${before.fds} before, ${after.fds} after`).toBeLessThan(100);
    } finally {
      g.open();
    }
    const r = await run.result;
    expect(r.code, describeRun(r)).toBe(0);
  });

  it("a sendto blocked on a full unix datagram queue stalls no other task, and sends nothing after its task is killed", async ({ expect }) => {
    for (const { run, n } of await bothWays("dgram", /^dgram second_ms=(\d+) late=(\d+) after_ms=(\d+)\n$/)) {
      // Before: the sentry's only thread sat in the sender's sendto; the connect never came.
      expect(n[0], `another task's connect waited: ${run.stdout}`).toBeLessThan(500);
      expect(n[1], `a datagram arrived after its sender was killed: ${run.stdout}`).toBe(0);
    }
  });

  it("a signal interrupts a sendto blocked on a full queue with EINTR, as natively, and the datagram is never sent", async ({ expect }) => {
    for (const { run, n } of await bothWays("signal", /^signal errno=(\d+) sent=(\d+) received=(\d+) late=(\d+)\n$/)) {
      expect(n[0], run.stdout).toBe(4); // EINTR
      expect(n[2], `datagrams received vs sent: ${run.stdout}`).toBe(n[1]);
      expect(n[3], run.stdout).toBe(0);
    }
  });

  it("under SA_RESTART the interrupted sendto is restarted, as natively, and completes once the queue drains", async ({ expect }) => {
    for (const { run, n } of await bothWays("restart", /^restart errno=(\d+) handled=(\d+) sent=(\d+) received=(\d+)\n$/)) {
      expect([n[0], n[1]], run.stdout).toEqual([0, 1]);
      expect(n[3], `datagrams received vs sent: ${run.stdout}`).toBe(n[2]);
    }
  });

  it(`at most ${MAX_BLOCKED_CALLS} calls block at once per sandbox: one more fails with EAGAIN, and the threads go when the tasks do`, async ({ expect }) => {
    const n = MAX_BLOCKED_CALLS + 76;
    const native = gate();
    native.open();
    writeFileSync(`${native.path}.end`, "");
    const nat = await runNative(probes.path("blockcall"), ["many", "300", native.path], { cwd: fixtures });
    expect(nat.stdout, describeRun(nat)).toBe("many blocked=300 eagain=0 other=0 second_errno=0\ndone\n");

    const g = gate();
    const run = startDo(["--", probes.path("blockcall"), "many", String(n), g.path]);
    let peak: { threads: number; fds: number };
    try {
      await run.waitForStdout("many ", 60_000);
      await run.waitForStdout("\n", 5_000);
      peak = usage(run.child.pid!);
    } finally {
      g.open();
    }
    let after: { threads: number; fds: number };
    try {
      await run.waitForStdout("done\n", 30_000);
      await pollFor(() => (usage(run.child.pid!).threads < 40 ? true : undefined), 10_000, 100);
      after = usage(run.child.pid!);
    } finally {
      writeFileSync(`${g.path}.end`, "");
    }
    const r = await run.result;
    expect(r.code, describeRun(r)).toBe(0);
    // The connect to a listener with room fails too: the sandbox has no call left.
    expect(r.stdout).toBe(`many blocked=${MAX_BLOCKED_CALLS} eagain=${n - MAX_BLOCKED_CALLS} other=0 second_errno=11\ndone\n`);
    expect(peak.threads, "threads while the calls were blocked").toBeLessThan(MAX_BLOCKED_CALLS + 40);
    expect(after.threads, "threads after the tasks were killed").toBeLessThan(40);
    expect(r.stderr).toMatch(/most blocked calls/);
  });
});

describe("blocking calls in a container", () => {
  it("the container's sentry keeps no thread or descriptor of a task killed mid-connect (--network none, pids.limit 32)", { timeout: 120_000 }, async ({ expect }) => {
    // The container's sentry runs in its monitor process, outside the container's pids cgroup:
    // before, 300 killed connects left it 300 threads while pids.current said 2.
    const dir = hostFixtureDir("blocking-oci");
    const b = makeBundle({
      args: ["/bin/sh", "-c", "/x/blockcall killed 300 /x/gate > /x/out 2>&1"],
      config: (c) => {
        c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "rw"] });
        c.linux.resources = { pids: { limit: 32 } };
      },
      name: "blocking",
    });
    try {
      // Static: the container's root is busybox's.
      await promisify(execFile)("gcc", ["-static", "-O2", "-pthread", "-o", join(dir, "blockcall"), join(PROBE_SOURCES, "blockcall.c")]);
      chmodSync(join(dir, "blockcall"), 0o755);
      // --network none: connects to unix paths are the sentry's to decide and perform.
      const created = await runtime(["--network", "none", "create", "--bundle", b.dir, b.id]);
      expect(created.code, created.stderr).toBe(0);
      const monitor = (JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8")) as { monitorPid: number }).monitorPid;
      expect((await runtime(["start", b.id])).code).toBe(0);
      const out = (): string => (existsSync(join(dir, "out")) ? readFileSync(join(dir, "out"), "utf8") : "");
      expect(await pollFor(() => (out().includes("ready\n") ? true : undefined), 20_000, 20), out()).toBe(true);
      const before = usage(monitor);
      expect(await pollFor(() => (out().includes("killed 300\n") ? true : undefined), 60_000, 50), out()).toBe(true);
      await pollFor(() => (usage(monitor).threads <= before.threads + 1 ? true : undefined), 5_000, 100);
      const after = usage(monitor);
      writeFileSync(join(dir, "gate"), "");
      expect(after.threads, `monitor threads ${before.threads} before, ${after.threads} after 300 killed connects`).toBeLessThanOrEqual(before.threads + 1);
      expect(after.fds - before.fds, `monitor descriptors ${before.fds} before, ${after.fds} after`).toBeLessThan(100);
    } finally {
      writeFileSync(join(dir, "gate"), "");
      await runtime(["delete", "--force", b.id]);
      b.cleanup();
      removeHostDir(dir);
    }
  });
});
