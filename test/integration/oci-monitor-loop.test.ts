// A container's sentry is served on its monitor's own thread: the monitor is one V8 isolate
// (a sentry thread would be a second, ~8 MiB), its lifecycle commands are answered while a
// task traps without pause, and an exec'd process's sentry shares the same loop. The sentry's
// code is loaded at the first trapped call that needs it: an idle container's monitor holds
// none of it, though its init's credential changes are trapped. The probe
// (trapburst: connect in a loop, each call trapped by the container's sentry) runs under runc
// too, with the same bundle: its answers are the kernel's there.
import { execFile } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { makeBundle, runcRun, runtime, STATE_ROOT } from "../helpers/bundle.js";
import { PROBE_SOURCES } from "../helpers/probes.js";
import { hostFixtureDir, pollFor, removeHostDir } from "../helpers/sandbox.js";

let dir: string;
const bundles: Bundle[] = [];

beforeAll(async () => {
  dir = hostFixtureDir("monitor-loop");
  // Static: the container's root is busybox's.
  await promisify(execFile)("gcc", ["-static", "-O2", "-o", join(dir, "trapburst"), join(PROBE_SOURCES, "trapburst.c")]);
  chmodSync(join(dir, "trapburst"), 0o755);
  await promisify(execFile)("gcc", ["-static", "-O2", "-pthread", "-o", join(dir, "credflood"), join(PROBE_SOURCES, "credflood.c")]);
  chmodSync(join(dir, "credflood"), 0o755);
}, 120_000);

afterAll(() => {
  for (const b of bundles) b.cleanup();
  removeHostDir(dir);
});

function bundle(args: string[]): Bundle {
  const b = makeBundle({
    args,
    name: "monitor-loop",
    config: (c) => c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "ro"] }),
  });
  bundles.push(b);
  return b;
}

/** The container's monitor, from its state. */
function monitorPid(id: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(STATE_ROOT, id, "state.json"), "utf8")) as { monitorPid?: number }).monitorPid;
  } catch {
    return undefined;
  }
}

/** Private memory of a process that no other maps (smaps_rollup), in MiB. */
function privateMiB(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return (kb("Private_Dirty") + kb("Private_Clean")) / 1024;
}

const ENOENT = 2;

describe("a container's sentry on its monitor's own thread", () => {
  it("answers every trapped call, holds one V8 isolate's memory, and the monitor answers exec and state while a task traps without pause", { timeout: 60_000 }, async () => {
    const b = bundle(["/x/trapburst", "4"]);
    const run = runtime(["run", "--bundle", b.dir, b.id]);
    const monitor = await pollFor(() => monitorPid(b.id), 10_000);
    expect(monitor, "the container's state names its monitor").toBeDefined();
    expect(readFileSync(`/proc/${monitor!}/cmdline`, "utf8"), "the monitor runs").toContain("/monitor.js");
    // Serving this burst, a monitor holds ~14 MiB of its own; with a sentry thread (a second
    // isolate) it held ~24.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const mib = privateMiB(monitor!);
    expect(mib, `the monitor's private memory: ${mib.toFixed(1)} MiB`).toBeLessThan(19);
    // While the program traps without pause: exec's process (trapped by a sentry on the same
    // loop) and state are served.
    const started = Date.now();
    const exec = await runtime(["exec", b.id, "/x/trapburst", "0.3"]);
    const execMs = Date.now() - started;
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toMatch(new RegExp(`^calls=\\d+ errno=${ENOENT}\\n$`));
    expect(Number(/calls=(\d+)/.exec(exec.stdout)![1])).toBeGreaterThan(100);
    expect(execMs, "exec beside a task that traps without pause").toBeLessThan(3000);
    const state = await runtime(["state", b.id]);
    expect(state.code, state.stderr).toBe(0);
    expect((JSON.parse(state.stdout) as { status: string }).status).toBe("running");
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const calls = Number(/^calls=(\d+) errno=(\d+)$/m.exec(r.stdout)?.[1]);
    expect(r.stdout).toMatch(new RegExp(`^calls=\\d+ errno=${ENOENT}$`, "m"));
    expect(calls, r.stdout).toBeGreaterThan(1000);
    // runc: the same answer, from the kernel.
    const runc = await runcRun(bundle(["/x/trapburst", "0.2"]));
    expect(runc.stdout).toMatch(new RegExp(`^calls=\\d+ errno=${ENOENT}$`, "m"));
  });

  it("an idle container's monitor loads no sentry until a call needs one, then serves it (exec's process included)", { timeout: 60_000 }, async () => {
    const b = bundle(["sleep", "60"]);
    const log = join(b.dir, "log.txt");
    try {
      expect((await runtime(["--debug", "--log", log, "create", "--bundle", b.dir, b.id])).code).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      const monitor = monitorPid(b.id)!;
      await new Promise((resolve) => setTimeout(resolve, 500));
      const text = (): string => (existsSync(log) ? readFileSync(log, "utf8") : "");
      // init dropped to the process's user under the filter (trapped credential changes),
      // answered without the sentry.
      expect(text()).toContain("its sentry loads at the first trapped call that needs it");
      expect(text()).not.toContain("sentry serving");
      const idle = privateMiB(monitor);
      expect(idle, `the idle monitor's private memory: ${idle.toFixed(1)} MiB`).toBeLessThan(11);
      // A connect needs it: exec's process gets its sentry, which decides the call.
      const exec = await runtime(["exec", b.id, "/x/trapburst", "0.1"]);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toMatch(new RegExp(`^calls=\\d+ errno=${ENOENT}\\n$`));
      expect(text()).toContain("sentry serving");
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
  });

  it("a sentry that hangs on a call ends its container and its monitor after 100 ms of its user CPU time; the log says so, and delete cleans up", { timeout: 60_000 }, async () => {
    // A monitor that keeps host root is started with create's environment: the test's hang
    // (RUNSC_TS_TEST_SENTRY_HANG, with RUNSC_TS_WARM=0) reaches its sentry.
    const policy = join(dir, "host-root.yaml");
    writeFileSync(policy, "apiVersion: runsc-ts/v1\nkind: Policy\nname: host-root\nextends: container\nprocess:\n  hostRoot: true\n");
    const b = makeBundle({
      args: ["sh", "-c", "sleep 0.3; /x/trapburst 5"],
      name: "monitor-loop",
      config: (c) => {
        c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "ro"] });
        c.annotations = { "dev.runsc-ts.policy": policy };
      },
    });
    bundles.push(b);
    const log = join(b.dir, "log.txt");
    const env = { RUNSC_TS_WARM: "0", RUNSC_TS_TEST_SENTRY_HANG: "connect" };
    try {
      expect((await runtime(["--log", log, "create", "--bundle", b.dir, b.id], { env })).code).toBe(0);
      const monitor = monitorPid(b.id)!;
      const started = Date.now();
      expect((await runtime(["start", b.id])).code).toBe(0);
      const stopped = await pollFor(async () => {
        const s = await runtime(["state", b.id]);
        return s.code === 0 && (JSON.parse(s.stdout) as { status: string }).status === "stopped" ? true : undefined;
      }, 10_000);
      expect(stopped, "the container stopped").toBe(true);
      expect(Date.now() - started, "well before trapburst's 5 s").toBeLessThan(4000);
      expect(existsSync(`/proc/${monitor}`) && !readFileSync(`/proc/${monitor}/stat`, "utf8").includes(") Z "), "the monitor is gone").toBe(false);
      const m = new RegExp(`container ${b.id}: sentry hung: a trapped call held (\\d+) ms of its user CPU time`).exec(readFileSync(log, "utf8"));
      expect(m, readFileSync(log, "utf8")).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(100);
    } finally {
      const d = await runtime(["delete", "--force", b.id]);
      expect(d.code, d.stderr).toBe(0);
      expect(existsSync(join(STATE_ROOT, b.id)), "delete removed its state").toBe(false);
    }
  });

  it("delete --force ends a monitor that does not end by itself (stopped)", { timeout: 60_000 }, async () => {
    const b = bundle(["sleep", "60"]);
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    expect((await runtime(["start", b.id])).code).toBe(0);
    const monitor = monitorPid(b.id)!;
    process.kill(monitor, "SIGSTOP");
    const d = await runtime(["delete", "--force", b.id]);
    expect(d.code, d.stderr).toBe(0);
    const gone = (): boolean => !existsSync(`/proc/${monitor}`) || readFileSync(`/proc/${monitor}/stat`, "utf8").includes(") Z ");
    expect(await pollFor(() => (gone() ? true : undefined), 5000), "the monitor is gone").toBe(true);
  });
});

/** The executable a process runs. */
function exe(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return "";
  }
}

const NATIVE_START = /\/build\/native\/runsc-ts-monitor$/;

describe("a container monitor's native start: Node only once something needs it", () => {
  it("an idle container's monitor is a native process of < 1 MiB while init drops to the process's user and starts; a trapped call makes it Node, whose sentry answers that call first", { timeout: 60_000 }, async () => {
    const b = makeBundle({
      args: ["sh", "-c", "sleep 1.5; /x/trapburst 0.2"],
      name: "monitor-native",
      config: (c) => {
        c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "ro"] });
        c.process.user = { uid: 1000, gid: 1000 };
      },
    });
    bundles.push(b);
    const run = runtime(["run", "--bundle", b.dir, b.id]);
    const monitor = await pollFor(() => monitorPid(b.id), 10_000);
    expect(monitor, "the container's state names its monitor").toBeGreaterThan(1);
    // Started (running), before the program's first trapped call.
    await pollFor(() => (existsSync(`/proc/${monitor!}`) && (JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8")) as { status?: string }).status === "running" ? true : undefined), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(exe(monitor!)).toMatch(NATIVE_START);
    const mib = privateMiB(monitor!);
    expect(mib, `the native monitor's private memory: ${mib.toFixed(2)} MiB`).toBeLessThan(1);
    // The program's connects: the first is handed to Node with the process.
    expect(await pollFor(() => (exe(monitor!).endsWith("/node") ? true : undefined), 10_000), "the monitor became Node").toBe(true);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^calls=\\d+ errno=${ENOENT}$`, "m"));
  });

  it("exec's request makes it Node, which serves the exec'd process; state, kill and delete as before", { timeout: 60_000 }, async () => {
    const b = bundle(["sleep", "60"]);
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
      const monitor = monitorPid(b.id)!;
      expect(exe(monitor)).toMatch(NATIVE_START);
      expect((await runtime(["start", b.id])).code).toBe(0);
      expect(exe(monitor)).toMatch(NATIVE_START);
      const exec = await runtime(["exec", b.id, "sh", "-c", "echo $((6 * 7)); /x/trapburst 0.1"]);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toMatch(new RegExp(`^42\\ncalls=\\d+ errno=${ENOENT}\\n$`));
      expect(exe(monitor)).toMatch(/\/node$/);
      expect(JSON.parse((await runtime(["state", b.id])).stdout)).toMatchObject({ status: "running" });
      expect((await runtime(["kill", b.id, "KILL"])).code).toBe(0);
      expect(await pollFor(async () => ((JSON.parse((await runtime(["state", b.id])).stdout) as { status: string }).status === "stopped" ? true : undefined), 10_000)).toBe(true);
      const gone = (): boolean => !existsSync(`/proc/${monitor}`) || readFileSync(`/proc/${monitor}/stat`, "utf8").includes(") Z ");
      expect(await pollFor(() => (gone() ? true : undefined), 5000), "the monitor ended with init").toBe(true);
    } finally {
      const d = await runtime(["delete", "--force", b.id]);
      expect(d.code, d.stderr).toBe(0);
    }
  });

  it("a trapped call during start (a startContainer hook's) makes it Node, which answers the call and then the start", { timeout: 60_000 }, async () => {
    const b = makeBundle({
      args: ["sleep", "60"],
      name: "monitor-native-hook",
      config: (c) => {
        c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "ro"] });
        (c as { hooks?: unknown }).hooks = { startContainer: [{ path: "/x/trapburst", args: ["trapburst", "0.1"] }] };
      },
    });
    bundles.push(b);
    try {
      const c = await runtime(["create", "--bundle", b.dir, b.id]);
      expect(c.code, c.stderr).toBe(0);
      const monitor = monitorPid(b.id)!;
      expect(exe(monitor)).toMatch(NATIVE_START);
      const s = await runtime(["start", b.id]);
      expect(s.code, s.stderr).toBe(0);
      // The hook's calls, not the program's (sleep makes none that trap), made it Node.
      expect(exe(monitor)).toMatch(/\/node$/);
      expect(JSON.parse((await runtime(["state", b.id])).stdout)).toMatchObject({ status: "running" });
    } finally {
      const d = await runtime(["delete", "--force", b.id]);
      expect(d.code, d.stderr).toBe(0);
    }
  });

  it("a task that changes credentials without pause keeps no command waiting: exec is served, natively and once Node", { timeout: 60_000 }, async () => {
    const b = bundle(["/x/credflood", "4", "20"]);
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      const monitor = monitorPid(b.id)!;
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The flood's calls need no sentry: the native start answers them.
      expect(exe(monitor)).toMatch(NATIVE_START);
      for (let i = 0; i < 2; i++) {
        const started = Date.now();
        const exec = await runtime(["exec", b.id, "/x/trapburst", "0.1"]);
        expect(exec.code, exec.stderr).toBe(0);
        expect(exec.stdout).toMatch(new RegExp(`^calls=\\d+ errno=${ENOENT}\\n$`));
        expect(Date.now() - started, "exec beside the flood").toBeLessThan(5000);
      }
      expect(exe(monitor)).toMatch(/\/node$/);
    } finally {
      const d = await runtime(["delete", "--force", b.id]);
      expect(d.code, d.stderr).toBe(0);
    }
  });

  it("kill -9 of the monitor, native or become Node, ends its container at once; delete leaves nothing", { timeout: 60_000 }, async () => {
    for (const node of [false, true]) {
      const b = bundle(["sleep", "60"]);
      try {
        expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
        expect((await runtime(["start", b.id])).code).toBe(0);
        const st = JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8")) as { monitorPid: number; pid: number };
        if (node) expect((await runtime(["exec", b.id, "true"])).code).toBe(0);
        expect(exe(st.monitorPid)).toMatch(node ? /\/node$/ : NATIVE_START);
        const gone = (pid: number): boolean => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
        const t0 = performance.now();
        process.kill(st.monitorPid, "SIGKILL");
        expect(await pollFor(() => (gone(st.pid) ? true : undefined), 5000, 2), "init is gone").toBe(true);
        expect(performance.now() - t0, "init ends within 100 ms of its monitor").toBeLessThan(100);
        expect(JSON.parse((await runtime(["state", b.id])).stdout)).toMatchObject({ status: "stopped" });
        const d = await runtime(["delete", b.id]);
        expect(d.code, d.stderr).toBe(0);
        expect(existsSync(join(STATE_ROOT, b.id))).toBe(false);
      } finally {
        await runtime(["delete", "--force", b.id]);
      }
    }
  });

  it("a failing startContainer hook: the native start answers start with init's failure, word for word as Node does", { timeout: 60_000 }, async () => {
    // What the hook wrote comes with the failure: quotes, a backslash, a tab, a newline.
    const hook = { path: "/bin/sh", args: ["sh", "-c", 'printf \'say "no"\\\\\tthen\\nstop\' >&2; exit 3'] };
    const answers: string[] = [];
    for (const node of [false, true]) {
      const b = makeBundle({ args: ["true"], name: "monitor-native-fail", config: (c) => ((c as { hooks?: unknown }).hooks = { startContainer: [hook] }) });
      bundles.push(b);
      try {
        // --debug: Node is the monitor from the start.
        const debug = node ? ["--debug", "--log", join(b.dir, "log.txt")] : [];
        expect((await runtime([...debug, "create", "--bundle", b.dir, b.id])).code).toBe(0);
        const monitor = monitorPid(b.id)!;
        expect(exe(monitor)).toMatch(node ? /\/node$/ : NATIVE_START);
        const s = await runtime(["start", b.id]);
        expect(s.code).not.toBe(0);
        expect(s.stderr).toContain("hooks.startContainer[0] /bin/sh: exit status 3");
        answers.push(s.stderr.replaceAll(b.id, "ID"));
      } finally {
        const d = await runtime(["delete", "--force", b.id]);
        expect(d.code, d.stderr).toBe(0);
      }
    }
    expect(answers[0]).toContain('say "no"\\\tthen');
    expect(answers[0]).toBe(answers[1]);
  });
});
