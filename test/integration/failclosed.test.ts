// Fail closed: when runsc-ts (and with it the sentry) dies, the workload's whole process tree
// dies with it, fast; signals sent to runsc-ts reach the workload.
import { describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, descendants, isDead, killIfAlive, pollFor, runNative, startDo } from "../helpers/sandbox.js";
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
