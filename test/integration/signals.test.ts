// process.signals: under `self` a process signals only its own thread group (the sentry
// decides the kill family), under the default `sandbox` any process of the sandbox; the
// signals sent to the container still reach the workload either way.
import { afterAll, beforeAll, describe, it } from "vitest";
import { release } from "node:os";
import { useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, removeHostDir, runDo, runNative, startDo, writePolicy } from "../helpers/sandbox.js";

const probes = useProbes();
let fixtures: string;
let selfPolicy: string;

beforeAll(() => {
  fixtures = hostFixtureDir("signals");
  selfPolicy = writePolicy(fixtures, "self", "process:\n  signals: self\n");
});
afterAll(() => removeHostDir(fixtures));

const EPERM = "errno=1";
const ESRCH = "errno=3";
const EBADF = "errno=9";
const EINVAL = "errno=22";
const SIGABRT = 6;

/** The probe's "NAME RESULT" lines as a map (the rest of the line is the result). */
function results(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.trim().split("\n")) {
    const i = line.indexOf(" ");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** PIDFD_THREAD (pidfd_open of one thread) needs Linux 6.9. */
function kernelHasPidfdThread(): boolean {
  const [major = 0, minor = 0] = release().split(".").map((n) => parseInt(n, 10));
  return major > 6 || (major === 6 && minor >= 9);
}

describe("process.signals: self", () => {
  it("a process signals itself with every call of the family; process groups and everyone are refused", async ({ expect }) => {
    const r = await runDo(["--policy", selfPolicy, "--", probes.path("signals"), "self"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(results(r.stdout)).toEqual({
      raise: "ok caught si_pid=self",
      kill_self_0: "ok",
      kill_self: "ok caught si_pid=self",
      tgkill_self: "ok caught si_pid=self",
      tkill_self: "ok caught si_pid=self",
      rt_sigqueueinfo_self: "ok caught si_pid=self",
      rt_tgsigqueueinfo_self: "ok caught si_pid=self",
      pidfd_self_0: "ok",
      // Performed by the sentry on a duplicate of the pidfd: a sender outside the namespace.
      pidfd_self: "ok caught si_pid=0",
      pidfd_self_info: "ok caught si_pid=0",
      pidfd_not_pidfd: EBADF,
      pidfd_bad_fd: EBADF,
      kill_pgrp_0: EPERM,
      kill_all_0: EPERM,
      kill_bad_signal: EINVAL,
    });
  });

  it("threads signal each other by thread group (pthread_kill, a thread's pidfd); kill and tkill of another thread's id are refused", async ({ expect }) => {
    const r = await runDo(["--policy", selfPolicy, "--", probes.path("signals"), "threads"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(results(r.stdout)).toEqual({
      pthread_kill: "ok caught si_pid=self",
      pidfd_thread: kernelHasPidfdThread() ? "ok caught si_pid=0" : EINVAL,
      tkill_thread_0: EPERM,
      kill_thread_0: EPERM,
      tgkill_thread_0: "ok",
    });
  });

  it("a process cannot signal its child by any call of the family: EPERM, and the child lives on", async ({ expect }) => {
    const r = await runDo(["--policy", selfPolicy, "--", probes.path("signals"), "child"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(results(r.stdout)).toEqual({
      kill_child_0: EPERM,
      tgkill_child: EPERM,
      tkill_child: EPERM,
      rt_sigqueueinfo_child: EPERM,
      rt_tgsigqueueinfo_child: EPERM,
      pidfd_child: EPERM,
      kill_child: EPERM,
      child: "exited 0",
    });
  });

  it("a shell's kill of a background job fails with EPERM", async ({ expect }) => {
    const r = await runDo(["--policy", selfPolicy, "--", "/bin/sh", "-c", 'sleep 5 & kill $!; echo "kill=$?"']);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("kill=1\n");
    expect(r.stderr).toMatch(/kill: .*Operation not permitted/);
    expect(r.durationMs, "the sandbox ends with the shell, not with sleep").toBeLessThan(4000);
  });

  it("abort() still kills the process with SIGABRT", async ({ expect }) => {
    const r = await runDo(["--policy", selfPolicy, "--", probes.path("signals"), "abort"]);
    expect(r.code, describeRun(r)).toBe(128 + SIGABRT);
  });

  it("a signal sent to the container still reaches the workload (the sandbox's init forwards it)", async ({ expect }) => {
    const run = startDo(["--policy", selfPolicy, "--", "/bin/sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"]);
    try {
      await run.waitForStdout("ready");
      run.child.kill("SIGTERM");
      const r = await run.result;
      expect(r, describeRun(r)).toMatchObject({ code: 7, signal: null, stdout: "ready\ngot TERM\n" });
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  it("tracing changes no answer", async ({ expect }) => {
    const [plain, traced] = await Promise.all([
      runDo(["--policy", selfPolicy, "--", probes.path("signals"), "child"]),
      runDo(["--policy", selfPolicy, "--strace", "--", probes.path("signals"), "child"]),
    ]);
    expect(traced.code, describeRun(traced)).toBe(0);
    expect(results(traced.stdout)).toEqual(results(plain.stdout));
    expect(traced.stderr).toMatch(/kill\(.*EPERM/);
  });
});

describe("process.signals: sandbox (the default)", () => {
  it("the same probe signals its child with every call of the family, natively and sandboxed", async ({ expect }) => {
    const [native, sandboxed] = await Promise.all([
      runNative(probes.path("signals"), ["child"]),
      runDo(["--", probes.path("signals"), "child"]),
    ]);
    const want = {
      kill_child_0: "ok",
      tgkill_child: "ok",
      tkill_child: "ok",
      rt_sigqueueinfo_child: "ok",
      rt_tgsigqueueinfo_child: "ok",
      pidfd_child: "ok",
      kill_child: "ok",
      child: "signaled 15",
    };
    expect(results(native.stdout), describeRun(native)).toEqual(want);
    expect(sandboxed.code, describeRun(sandboxed)).toBe(0);
    expect(results(sandboxed.stdout)).toEqual(want);
  });

  it("a process signalling itself sees itself as the sender; kill(-1) finds nobody else in the sandbox", async ({ expect }) => {
    const r = await runDo(["--", probes.path("signals"), "self"]);
    expect(r.code, describeRun(r)).toBe(0);
    const got = results(r.stdout);
    expect(got.pidfd_self).toBe("ok caught si_pid=self");
    expect(got.kill_pgrp_0).toBe("ok");
    expect(got.kill_all_0).toBe(ESRCH);
  });

  it("a shell's kill of a background job succeeds", async ({ expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", 'sleep 5 & kill $!; echo "kill=$?"']);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("kill=0\n");
  });
});
