// filesystem.proc.virtualize in a real sandbox, with `do --memory/--cpus`: free, nproc,
// /proc/cpuinfo, /proc/stat, /proc/uptime, /proc/loadavg, Python's os.cpu_count() and
// Node's os.totalmem() report the sandbox's limits, not the host's; the cgroups are gone
// afterwards.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { describeRun, EXIT_RUNTIME_ERROR, hostFixtureDir, pollFor, removeHostDir, runDo, startDo, writePolicy } from "../helpers/sandbox.js";

let dir: string;
let policy: string;
const MIB = 1024 * 1024;

beforeAll(() => {
  dir = hostFixtureDir("proc");
  policy = writePolicy(dir, "proc", "extends: default\nfilesystem:\n  proc: { virtualize: [meminfo, cpuinfo, stat, uptime, loadavg] }\n");
});
afterAll(() => removeHostDir(dir));

/** "Name: value kB" of a meminfo text, in kB. */
function kb(meminfo: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(meminfo);
  if (!m) throw new Error(`no ${name} in\n${meminfo}`);
  return Number(m[1]);
}

/** The sandboxes' cgroups beneath ours, by hierarchy (none may be left behind). */
function leftoverCgroups(): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controller = m[1] === "" ? "unified" : m[1]!.split(",")[0]!;
    for (const base of [`/sys/fs/cgroup/${controller}${m[2]}`, `/sys/fs/cgroup/${m[1] === "" ? "" : controller}/runsc-ts`]) {
      if (!existsSync(base)) continue;
      const found = execFileSync("find", [base, "-maxdepth", "2", "-type", "d", "-name", "sandbox-*"], { encoding: "utf8" }).trim();
      if (found !== "") out.push(...found.split("\n"));
    }
  }
  return out;
}

/** The cgroup directories (any hierarchy) named for the runsc-ts of this pid. */
function groupsOf(pid: number): string[] {
  const found = execFileSync("find", ["/sys/fs/cgroup", "-maxdepth", "6", "-type", "d", "-name", `sandbox-${pid}`], { encoding: "utf8" }).trim();
  return found === "" ? [] : found.split("\n");
}

describe("filesystem.proc.virtualize", () => {
  it("with --memory 256m --cpus 1: free, nproc, cpuinfo, stat, Python and Node see the limits", async ({ expect }) => {
    expect(cpus().length, "this test needs a host with at least 2 CPUs").toBeGreaterThanOrEqual(2);
    const python = ["/usr/bin/python3", "/usr/local/bin/python3"].find((p) => existsSync(p));
    const script = [
      "cat /proc/meminfo",
      "echo ---",
      "nproc",
      "grep -c ^processor /proc/cpuinfo",
      "grep -c '^cpu[0-9]' /proc/stat",
      "cat /sys/devices/system/cpu/online",
      `${process.execPath} -e 'const os = require("os"); console.log(os.totalmem(), os.cpus().length, os.availableParallelism())'`,
      python ? `${python} -c 'import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))'` : "echo 'no python'",
      "free -k | awk '/^Mem:/ { print $2 }'",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--memory", "256m", "--cpus", "1", "--", "/bin/sh", "-c", script]);
    expect(r.code, describeRun(r)).toBe(0);
    const [meminfo, rest] = r.stdout.split("---\n");
    expect(kb(meminfo!, "MemTotal"), describeRun(r)).toBe(256 * 1024);
    const free = kb(meminfo!, "MemFree");
    expect(free, describeRun(r)).toBeGreaterThan(128 * 1024);
    expect(free).toBeLessThanOrEqual(256 * 1024);
    expect(kb(meminfo!, "MemAvailable")).toBeLessThanOrEqual(256 * 1024);
    const lines = rest!.trim().split("\n");
    expect(lines.slice(0, 4), describeRun(r)).toEqual(["1", "1", "1", "0"]);
    expect(lines[4], describeRun(r)).toBe(`${256 * MIB} 1 1`);
    if (python) expect(lines[5], describeRun(r)).toBe("1 1");
    expect(lines[6], describeRun(r)).toBe(String(256 * 1024));
    expect(leftoverCgroups()).toEqual([]);
  });

  it("the memory limit holds: a process that takes more is killed", async ({ expect }) => {
    const hog = `${process.execPath} -e 'const keep = []; for (;;) keep.push(Buffer.alloc(1 << 20, 1))'`;
    const r = await runDo(["--policy", policy, "--memory", "64m", "--", "/bin/sh", "-c", `${hog}; echo "status $?"`]);
    // The cgroup's OOM killer ends it with SIGKILL: 128 + 9.
    expect(r.stdout, describeRun(r)).toBe("status 137\n");
    expect(leftoverCgroups()).toEqual([]);
  });

  it("uptime counts from the sandbox's start, loadavg counts its own tasks; without limits meminfo keeps the host's total", async ({ expect }) => {
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", "cat /proc/uptime /proc/loadavg; grep MemTotal /proc/meminfo"]);
    expect(r.code, describeRun(r)).toBe(0);
    const [uptime, loadavg, memTotal] = r.stdout.trim().split("\n");
    const up = Number(uptime!.split(" ")[0]);
    expect(up, describeRun(r)).toBeGreaterThanOrEqual(0);
    expect(up).toBeLessThan(10);
    // "a1 a5 a15 running/total lastpid": the sandbox has init, sh and cat.
    const m = /^\d+\.\d\d \d+\.\d\d \d+\.\d\d (\d+)\/(\d+) (\d+)$/.exec(loadavg!);
    expect(m, describeRun(r)).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(2);
    expect(Number(m![2])).toBeLessThan(10);
    expect(Number(m![3])).toBeLessThan(10);
    expect(memTotal, describeRun(r)).toBe(`MemTotal:       ${String(Math.floor(totalmem() / 1024)).padStart(8)} kB`);
  });

  it("a runsc-ts killed with -9 leaves its cgroups behind, and the next sandbox removes them", async ({ expect }) => {
    // Node running the sandbox in the killed process itself (a warm process serving it may
    // still remove them as it ends: then there is nothing to leave).
    const run = startDo(["--memory", "64m", "--", "/bin/sh", "-c", "echo ready; sleep 100"], { env: { RUNSC_TS_WARM: "0" } });
    const pid = run.child.pid!;
    try {
      await run.waitForStdout("ready");
      expect(groupsOf(pid).length, "the sandbox's groups while it runs").toBeGreaterThan(0);
      run.child.kill("SIGKILL");
      await run.result;
      // The sandbox dies with runsc-ts (fail closed); its empty groups stay.
      const gone = await pollFor(() => (groupsOf(pid).every((g) => readFileSync(join(g, "cgroup.procs"), "utf8") === "") ? true : undefined), 5000);
      expect(gone, "the sandbox's processes left its groups").toBe(true);
      expect(groupsOf(pid).length).toBeGreaterThan(0);
      const next = await runDo(["--memory", "64m", "--", "/bin/true"]);
      expect(next.code, describeRun(next)).toBe(0);
      expect(groupsOf(pid)).toEqual([]);
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  it("without the switch /proc is the host's, and --memory alone still limits (bad values are usage errors)", async ({ expect }) => {
    const plain = await runDo(["--memory", "256m", "--", "/bin/sh", "-c", "grep MemTotal /proc/meminfo; nproc"]);
    expect(plain.code, describeRun(plain)).toBe(0);
    expect(plain.stdout).toBe(`MemTotal:       ${String(Math.floor(totalmem() / 1024)).padStart(8)} kB\n${cpus().length}\n`);
    const bad = await runDo(["--memory", "lots", "--", "/bin/true"]);
    expect(bad.code, describeRun(bad)).toBe(EXIT_RUNTIME_ERROR);
    expect(bad.stderr).toMatch(/--memory: expected a size like 512m or 2g, got "lots"/);
    const badCpus = await runDo(["--cpus", "0", "--", "/bin/true"]);
    expect(badCpus.stderr, describeRun(badCpus)).toMatch(/--cpus: expected a number of CPUs/);
  });
});
