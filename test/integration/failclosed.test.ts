// Fail closed: when runsc-ts (and with it the sentry) dies, the workload's whole process tree
// dies with it, fast; signals sent to runsc-ts reach the workload.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { CLI, describeRun, descendants, isDead, killIfAlive, pollFor, runNative, startDo } from "../helpers/sandbox.js";
import type { RunningDo } from "../helpers/sandbox.js";

const probes = useProbes();

/** The running sandbox's processes once at least `count` exist under runsc-ts. */
async function sandboxTree(run: RunningDo, count: number): Promise<number[]> {
  const pid = run.child.pid!;
  const tree = await pollFor(() => {
    const d = descendants(pid).filter((p) => !isDead(p.pid));
    return d.length >= count ? d : undefined;
  }, 5000);
  if (tree === undefined) {
    throw new Error(`expected ${count} processes under runsc-ts (pid ${pid}), found: ${JSON.stringify(descendants(pid))}`);
  }
  return tree.map((p) => p.pid);
}

describe("fail closed", () => {
  for (const [label, flags] of [
    ["", []],
    [" (while --strace routes every syscall through the sentry)", ["--strace"]],
  ] as const) {
    it(`kill -9 of runsc-ts ends the whole workload tree within 100 ms${label}`, async ({ expect }) => {
      // init, sh, two background sleeps and one in a session of its own.
      const run = startDo([...flags, "--", "/bin/sh", "-c", "sleep 1000 & setsid sleep 1000 & sleep 1000 & echo ready; wait"]);
      let tree: number[] = [];
      try {
        await run.waitForStdout("ready");
        tree = await sandboxTree(run, 5);
        const watch = await runNative(probes.path("killwatch"), ["2000", String(run.child.pid), ...tree.map(String)]);
        expect(watch.code, describeRun(watch)).toBe(0);
        const m = /^gone_ms=(-?[\d.]+) alive=(.*)$/.exec(watch.stdout.trim());
        expect(m, watch.stdout).not.toBeNull();
        expect(m![2], `still running 2 s after runsc-ts was killed: ${m![2]} (of ${tree.join(",")})`).toBe("");
        expect(Number(m![1])).toBeLessThan(100);
        const r = await run.result;
        expect(r.signal).toBe("SIGKILL");
      } finally {
        run.child.kill("SIGKILL");
        killIfAlive(tree);
      }
    });
  }

  it("kill -9 of the warm process serving do (its sentry's process) ends the workload tree within 100 ms; the client says so and exits 125", async ({ expect }) => {
    /** The process serving run: a warm runsc-ts process, holding the client's stdout. */
    const serverOf = (run: RunningDo): number | undefined => {
      const client = run.child.pid!;
      const out = readlinkSync(`/proc/${client}/fd/1`);
      return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).find((p) => {
        try {
          return p !== client && readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith("runsc-ts-warm") && readlinkSync(`/proc/${p}/fd/1`) === out;
        } catch {
          return false;
        }
      });
    };
    // The first command after the warm processes were stopped (another file's `service
    // stop`) runs in the client's own Node and starts them: then the next is served.
    let run = startDo(["--", "/bin/sh", "-c", "sleep 1000 & sleep 1000 & echo ready; wait"]);
    let tree: number[] = [];
    let server: number | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        await run.waitForStdout("ready");
        tree = await sandboxTree(run, 4);
        server = serverOf(run);
        if (server !== undefined || attempt === 3) break;
        run.child.kill("SIGKILL");
        await run.result;
        killIfAlive(tree);
        await new Promise((r) => setTimeout(r, 1000));
        run = startDo(["--", "/bin/sh", "-c", "sleep 1000 & sleep 1000 & echo ready; wait"]);
      }
      expect(server, "a warm process serves the command (CI runs bin/runsc-ts with warm processes)").toBeDefined();
      const watch = await runNative(probes.path("killwatch"), ["2000", String(server), ...tree.map(String)]);
      expect(watch.code, describeRun(watch)).toBe(0);
      const m = /^gone_ms=(-?[\d.]+) alive=(.*)$/.exec(watch.stdout.trim());
      expect(m, watch.stdout).not.toBeNull();
      expect(m![2], `still running 2 s after the sentry's process was killed: ${m![2]}`).toBe("");
      expect(Number(m![1])).toBeLessThan(100);
      const r = await run.result;
      expect(r.code, describeRun(r)).toBe(125);
      expect(r.stderr).toContain("ended without its status");
    } finally {
      run.child.kill("SIGKILL");
      killIfAlive(tree);
    }
  });

  it("a sentry that hangs on a call ends its sandbox's whole tree, and its own process, after 100 ms of its user CPU time; it says so", async ({ expect }) => {
    // The command in its own process (RUNSC_TS_WARM=0), whose sentry spins on connect.
    const script = `sleep 1000 & sleep 1000 & echo ready; sleep 0.5; ${probes.path("net")} unix /run/runsc-ts-no-such.sock; echo after`;
    const run = startDo(["--", "/bin/sh", "-c", script], { env: { RUNSC_TS_WARM: "0", RUNSC_TS_TEST_SENTRY_HANG: "connect" } });
    let tree: number[] = [];
    try {
      await run.waitForStdout("ready");
      tree = await sandboxTree(run, 3);
      const r = await run.result;
      expect(r.signal ?? r.code, describeRun(r)).toBe("SIGKILL");
      expect(r.stdout).toBe("ready\n");
      const m = /sandbox \d+: sentry hung: a trapped call held (\d+) ms of its user CPU time \((\d+) ms in all\); the sandbox and its sentry's process are killed/.exec(r.stderr);
      expect(m, r.stderr).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(100);
      expect(Number(m![1]), "fired within a check (10 ms) of the limit").toBeLessThan(150);
      expect(await pollFor(() => (tree.every(isDead) ? true : undefined), 2000), "the workload tree is gone").toBe(true);
    } finally {
      run.child.kill("SIGKILL");
      killIfAlive(tree);
    }
  });

  it.for([
    ["SIGTERM", "TERM", 7],
    ["SIGINT", "INT", 5],
    ["SIGHUP", "HUP", 9],
  ] as const)("%s to runsc-ts reaches the workload, whose exit status is runsc-ts's", async ([signal, trap, status], { expect }) => {
    const script = `trap 'echo got ${trap}; exit ${status}' ${trap}; echo ready; while :; do sleep 0.05; done`;
    const run = startDo(["--", "/bin/sh", "-c", script]);
    let tree: number[] = [];
    try {
      await run.waitForStdout("ready");
      tree = await sandboxTree(run, 2);
      run.child.kill(signal);
      const r = await run.result;
      expect(r, describeRun(r)).toMatchObject({ code: status, signal: null, stdout: `ready\ngot ${trap}\n` });
      expect(tree.filter((pid) => !isDead(pid)), "sandbox processes left behind").toEqual([]);
    } finally {
      run.child.kill("SIGKILL");
      killIfAlive(tree);
    }
  });

  it("^C at the terminal reaches the workload, which goes on when it traps it (the keys signal the caller's process group, the sandbox in it), warm or not", async ({ expect }) => {
    const script = 'trap "n=\\$((n+1)); echo INT \\$n" INT; echo ready; i=0; while [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done; echo done';
    for (const warm of ["1", "0"]) {
      // script(1) runs runsc-ts on a terminal of its own and types what we write to it. Its
      // $SHELL -c must exec runsc-ts: a shell that waited for it (dash does) would be in the
      // same process group, and die of the ^C.
      const term = spawn("script", ["-qfec", `exec ${CLI} do -- /bin/sh -c '${script}'`, "/dev/null"], { env: { ...process.env, RUNSC_TS_WARM: warm }, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      term.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const ended = new Promise<number | null>((resolve) => term.on("close", (code) => resolve(code)));
      expect(await pollFor(() => (out.includes("ready") ? true : undefined), 10_000), out).toBe(true);
      term.stdin.write("\x03");
      expect(await ended, `RUNSC_TS_WARM=${warm}: ${out}`).toBe(0);
      expect(out.replace(/\r/g, "").match(/INT \d+|done/g), `RUNSC_TS_WARM=${warm}: ${out}`).toEqual(["INT 1", "done"]);
    }
  });

  it("SIGTERM is forwarded, not turned into a kill: a workload that ignores it finishes normally", async ({ expect }) => {
    const run = startDo(["--", "/bin/sh", "-c", "trap '' TERM; echo ready; sleep 0.5; echo still here"]);
    try {
      await run.waitForStdout("ready");
      run.child.kill("SIGTERM");
      const r = await run.result;
      expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "ready\nstill here\n" });
    } finally {
      run.child.kill("SIGKILL");
    }
  });
});
