// bin/runsc-ts's client hands most commands (create, state, list, kill, delete...) to a warm
// runsc-ts process: Node started ahead. What the caller sees — stdout, stderr, the exit
// status, --log — is what Node in a process of its own gives (RUNSC_TS_WARM=0 runs every
// command so); a container's init and a detached exec's process, cloned by the client, pass
// to the caller's subreaper, and init gets its --preserve-fds; the commands that end with
// their call are served one after another by the same processes, each with its caller's
// directory and umask; a caller in other namespaces is not served; a killed client ends its
// command, a killed warm process is an error the client shows, and `service stop` ends them all.
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBundle, runtime } from "../helpers/bundle.js";
import { useProbes } from "../helpers/probes.js";
import { ROOT } from "../helpers/sandbox.js";

const CLIENT = join(ROOT, "bin", "runsc-ts");
const STATE = mkdtempSync("/run/runsc-ts-test-warm-");
const probes = useProbes();

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], warm: boolean): Ran {
  const env = { ...process.env, RUNSC_TS_WARM: warm ? "1" : "0" };
  const r = spawnSync(CLIENT, ["--root", STATE, ...args], { env, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The idle warm processes of this checkout: `service status`'s pids. */
function warmPids(): number[] {
  const out = spawnSync(CLIENT, ["service", "status"], { encoding: "utf8" }).stdout;
  return [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function fdTarget(pid: number, fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return undefined;
  }
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The client running args in the background: its output as it comes, its exit (ended), and
 * when its output is complete (closed: a container's init it cloned shares its stdio, and
 * may hold it open long after).
 */
function startClient(args: string[]): { child: ChildProcess; out(): string; err(): string; ended: Promise<Ended>; closed: Promise<void> } {
  const child = spawn(CLIENT, ["--root", STATE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const ended = new Promise<Ended>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return { child, out: () => out, err: () => err, ended, closed };
}

/** The warm process serving client: among candidates(), the one holding the client's descriptor fd (its pipe) as its own. */
async function servingProcess(client: ChildProcess, fd: number, candidates: () => number[]): Promise<number> {
  let server = 0;
  await until("served", () => {
    const pipe = readlinkSync(`/proc/${client.pid}/fd/${fd}`);
    server = candidates().find((p) => alive(p) && fdTarget(p, fd) === pipe) ?? 0;
    return server > 0;
  });
  return server;
}

/** A process's nice value (its stat's 19th field). */
const nice = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]);

/** The PIDs whose parent is pid. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/\nState:\s+Z/.test(readFileSync(`/proc/${pid}/status`, "utf8"));

/**
 * The client run with args by a subreaper (the subreaper probe), as containerd's shim runs
 * runc: it prints "ran STATUS" when the client exits, then "adopted PID STATUS" for each
 * process passed to it, and exits when none is left (reaped).
 */
function underSubreaper(args: string[], warm: boolean): { pid: number; out(): string; err(): string; reaped: Promise<void> } {
  const reaper = spawn(probes.path("subreaper"), [CLIENT, "--root", STATE, ...args], {
    env: { ...process.env, RUNSC_TS_WARM: warm ? "1" : "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  reaper.stdout.on("data", (d: Buffer) => (out += d.toString()));
  reaper.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const reaped = new Promise<void>((resolve) => reaper.on("exit", () => resolve()));
  return { pid: reaper.pid!, out: () => out, err: () => err, reaped };
}

beforeAll(async () => {
  // The first use starts them.
  cli(["list"], true);
  await until("warm processes", () => warmPids().length > 0);
});

afterAll(() => {
  // What the tests started ends with them.
  spawnSync(CLIENT, ["service", "stop"]);
  rmSync(STATE, { recursive: true, force: true });
});

describe("commands served by warm processes", () => {
  it("print, fail and exit as Node in a process of its own does; --log gets the same line", async () => {
    const log = (w: boolean) => join(STATE, `log-${w}.json`);
    const cases: string[][] = [["list"], ["state", "nosuch"], ["kill", "nosuch", "KILL"], ["delete", "--force", "nosuch"], ["features"], ["--version"], ["frobnicate"]];
    for (const args of cases) {
      await until("a warm process", () => warmPids().length > 0);
      const warm = cli(args, true);
      const here = cli(args, false);
      expect(warm, args.join(" ")).toEqual(here);
    }
    for (const w of [true, false]) cli(["--log", log(w), "--log-format", "json", "state", "nosuch"], w);
    const line = (w: boolean) => JSON.parse(readFileSync(log(w), "utf8")) as { msg: string; level: string };
    expect(line(true)).toMatchObject({ level: "error", msg: 'container "nosuch" does not exist' });
    expect(line(true).msg).toBe(line(false).msg);
  });

  it("a warm process serves one command of those that run on (create, exec -d, events...), and a successor takes its place", async () => {
    await until("a warm process", () => warmPids().length > 0);
    // The client's socket is the one `service status` names (the checkout's hash, both sides).
    expect(spawnSync(CLIENT, ["service", "status"], { encoding: "utf8" }).stdout).toMatch(/^socket: \/run\/runsc-ts\/warm-[0-9a-f]{16}-\d+\.sock \(present\)/);
    const before = warmPids();
    expect(cli(["features"], true).code).toBe(0);
    // One of them served it and ended; a new one replaced it.
    await until("the server gone and a successor up", () => {
      const now = warmPids();
      return before.some((p) => !alive(p)) && now.some((p) => !before.includes(p));
    });
  });

  it("start, state, kill, delete, list...: the same warm processes serve them one after another, each with its caller's directory and umask", async () => {
    await until("warm processes", () => warmPids().length > 0);
    const before = warmPids();
    // A relative --log lands in the caller's directory, made with the caller's umask.
    for (let i = 0; i < 9; i++) {
      const dir = mkdtempSync(join(STATE, "cwd-"));
      const umask = i % 2 === 0 ? "077" : "022";
      const r = spawnSync("/bin/sh", ["-c", `umask ${umask}; exec "$0" "$@"`, CLIENT, "--root", STATE, "--log", "rel.log", "--log-format", "json", "state", `nosuch${i}`], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, RUNSC_TS_WARM: "1" },
      });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toBe(`runsc-ts: container "nosuch${i}" does not exist\n`);
      expect(readFileSync(join(dir, "rel.log"), "utf8")).toContain(`nosuch${i}`);
      expect(statSync(join(dir, "rel.log")).mode & 0o777).toBe(umask === "077" ? 0o600 : 0o644);
    }
    // Served among others: nine commands did not take a process each (other test files'
    // commands may take some meanwhile, not all).
    expect(before.filter(alive).length, "the warm processes that served them go on").toBeGreaterThan(0);
    // Many at once: each served (a process taking two at once sends one back), none lost.
    const runs = await Promise.all(
      Array.from({ length: 24 }, async (_, i): Promise<Ran> => {
        const c = startClient(["state", `many${i}`]);
        const { code } = await c.ended;
        await c.closed;
        return { code, stdout: c.out(), stderr: c.err() };
      }),
    );
    runs.forEach((r, i) => expect(r).toEqual({ code: 1, stdout: "", stderr: `runsc-ts: container "many${i}" does not exist\n` }));
  });

  it("warm processes first started from a directory that is then removed (a bundle's, under a shim) go on serving", async () => {
    const old = warmPids();
    spawnSync(CLIENT, ["service", "stop"]);
    await until("the old ones gone", () => old.every((p) => !alive(p)));
    const dir = mkdtempSync(join(STATE, "gone-"));
    expect(spawnSync(CLIENT, ["--root", STATE, "list"], { cwd: dir, encoding: "utf8" }).status).toBe(0);
    await until("warm processes", () => warmPids().length > 0, 30_000);
    rmSync(dir, { recursive: true });
    for (const p of warmPids()) expect(readlinkSync(`/proc/${p}/cwd`)).toBe("/");
    for (let i = 0; i < 6; i++) {
      const r = cli(["state", `nosuch${i}`], true);
      expect(r, `run ${i}`).toEqual({ code: 1, stdout: "", stderr: `runsc-ts: container "nosuch${i}" does not exist\n` });
    }
    expect(cli(["features"], true).code).toBe(0);
  });

  it("the hooks a served create and delete run inherit no descriptor of the warm processes' socket", async () => {
    await until("warm processes", () => warmPids().length > 0);
    // The listening socket's inode, by its path (/proc/net/unix: ... Inode Path).
    const path = /^socket: (\S+)/.exec(spawnSync(CLIENT, ["service", "status"], { encoding: "utf8" }).stdout)?.[1];
    // An earlier pool's socket, bound at the same path and held by a process still ending,
    // may be listed too: the one the waiting processes hold.
    const inodes = readFileSync("/proc/net/unix", "utf8").split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f[7] === path).map((f) => f[6]);
    expect(inodes.length, `${path} in /proc/net/unix`).toBeGreaterThan(0);
    const held = (p: number): string[] => {
      try {
        return readdirSync(`/proc/${p}/fd`).map((fd) => fdTarget(p, Number(fd)) ?? "");
      } catch {
        return []; // ended meanwhile
      }
    };
    const socket = inodes.map((i) => `socket:[${i}]`).find((s) => warmPids().some((p) => held(p).includes(s)));
    expect(socket, "the warm processes hold it").toBeDefined();
    const out = mkdtempSync(join(STATE, "hooks-"));
    const hook = (name: string) => ({ path: "/bin/sh", args: ["sh", "-c", `ls -l /proc/$$/fd > ${out}/${name}`] });
    const b = makeBundle({ args: ["true"], name: "warm-hooks", config: (c) => (c.hooks = { createRuntime: [hook("createRuntime")], poststop: [hook("poststop")] }) });
    try {
      const created = await runtime(["create", "--bundle", b.dir, b.id], { root: STATE });
      expect(created.code, created.stderr).toBe(0);
      expect(cli(["delete", "--force", b.id], true).code).toBe(0);
      for (const name of ["createRuntime", "poststop"]) {
        const fds = readFileSync(join(out, name), "utf8");
        expect(fds, name).toContain(" 2 -> ");
        expect(fds, name).not.toContain(socket!);
      }
    } finally {
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("a served command that runs on (a slow hook) has a successor take its process's place, and that process ends with it", async () => {
    await until("warm processes", () => warmPids().length > 0);
    const b = makeBundle({ args: ["true"], name: "warm-slow", config: (c) => (c.hooks = { createRuntime: [{ path: "/bin/sh", args: ["sh", "-c", "sleep 1.5"] }] }) });
    try {
      // Those waiting before: the successor may be up before the server is found.
      const waiting = warmPids();
      const client = startClient(["create", "--bundle", b.dir, b.id]);
      // The server: a warm process (served among others, it keeps its title) writing to the client's stderr.
      const server = await servingProcess(client.child, 2, warmPids);
      // Past 300 ms: a successor (a process not waiting before) waits in its place.
      await until("a successor", () => warmPids().some((p) => p !== server && !waiting.includes(p)));
      expect((await client.ended).code, client.err()).toBe(0);
      await until("the server ends after its command", () => !alive(server));
    } finally {
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("a served start that hangs on a stopped sentry: a signal ends its client, as it would end runc; the process serving it ends, and another takes its place", async () => {
    const b = makeBundle({ args: ["sleep", "100"], name: "warm-hang" });
    let monitor = 0;
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id], { root: STATE })).code).toBe(0);
      monitor = (JSON.parse(readFileSync(join(STATE, b.id, "state.json"), "utf8")) as { monitorPid: number }).monitorPid;
      process.kill(monitor, "SIGSTOP");
      await until("warm processes", () => warmPids().length > 0);
      // Those waiting before: the successor is none of them (it may start, after
      // SUCCESSOR_DELAY_MS, before the server is found).
      const before = warmPids();
      const client = startClient(["start", b.id]);
      const server = await servingProcess(client.child, 2, warmPids);
      await new Promise((r) => setTimeout(r, 500));
      expect(client.child.exitCode).toBeNull();
      client.child.kill("SIGTERM");
      expect((await client.ended).signal).toBe("SIGTERM");
      await until("the server gone, a successor up", () => !alive(server) && warmPids().some((p) => !before.includes(p)));
    } finally {
      if (monitor > 0) process.kill(monitor, "SIGCONT");
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("a successor started while a command runs keeps the lowest priority for a moment only, ready or not: on a loaded machine it would hardly run", async () => {
    await until("warm processes", () => warmPids().length > 0);
    const before = warmPids();
    // A do that runs past its delay: a successor takes the place of the process serving it.
    const run = startClient(["do", "--", "/bin/sleep", "6"]);
    const server = await servingProcess(run.child, 1, () => before);
    // Its children now are older successors (busy ones, not listed as waiting): the one
    // the do's delay starts (after 1 s) is none of them. Looked for every few ms: it keeps
    // the lowest priority 300 ms at most.
    const older = childrenOf(server);
    let successor = 0;
    for (const end = Date.now() + 10_000; successor === 0; await new Promise((r) => setTimeout(r, 2))) {
      if (Date.now() > end) throw new Error("timed out waiting: the successor started");
      successor = childrenOf(server).find((p) => !older.includes(p)) ?? 0;
    }
    // Held before it is ready (a ready one takes the normal priority itself).
    process.kill(successor, "SIGSTOP");
    try {
      // Its parent lowers it just after the spawn, for 300 ms at most (how much of that a
      // loaded machine lets this test see varies): past them, it has the normal one back,
      // though it is not ready.
      await new Promise((r) => setTimeout(r, 400));
      await until("the normal priority", () => nice(successor) === 0, 2_000);
    } finally {
      process.kill(successor, "SIGCONT");
    }
    expect(run.child.exitCode).toBeNull();
    run.child.kill("SIGTERM");
    await run.ended;
  });

  it("a container's lifecycle through the client: its state, kill and delete are the runtime's", async () => {
    const b = makeBundle({ args: ["sleep", "100"], name: "warm" });
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id], { root: STATE })).code).toBe(0);
      const st = cli(["state", b.id], true);
      expect(st.code, st.stderr).toBe(0);
      expect(JSON.parse(st.stdout)).toMatchObject({ id: b.id, status: "created" });
      expect(cli(["start", b.id], true).code).toBe(0);
      expect(JSON.parse(cli(["state", b.id], true).stdout)).toMatchObject({ status: "running" });
      expect(cli(["kill", b.id, "KILL"], true).code).toBe(0);
      await until("stopped", () => JSON.parse(cli(["state", b.id], true).stdout).status === "stopped");
      const d = cli(["delete", b.id], true);
      expect(d.code, d.stderr).toBe(0);
      expect(cli(["state", b.id], true).code).toBe(1);
    } finally {
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("create through the client: init passes to the caller's subreaper, which reaps its status, warm or not", async () => {
    for (const warm of [true, false]) {
      const b = makeBundle({ args: ["sh", "-c", "exit 7"], name: "warm-reaper" });
      const pidFile = join(STATE, `${b.id}.pid`);
      try {
        await until("a warm process", () => warmPids().length > 0);
        const reaper = underSubreaper(["create", "--bundle", b.dir, "--pid-file", pidFile, b.id], warm);
        await until("create done", () => reaper.out().includes("ran "), 30_000);
        expect(reaper.out(), reaper.err()).toContain("ran 0\n");
        const pid = Number(readFileSync(pidFile, "utf8"));
        // Adopted already: the client (or Node) that cloned it has exited.
        expect(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]).toBe(String(reaper.pid));
        expect(cli(["start", b.id], true).code).toBe(0);
        await reaper.reaped;
        expect(reaper.out()).toContain(`adopted ${pid} 7\n`);
        expect(JSON.parse(cli(["state", b.id], true).stdout)).toMatchObject({ status: "stopped" });
        expect(cli(["delete", b.id], true).code).toBe(0);
      } finally {
        await runtime(["delete", "--force", b.id], { root: STATE });
        b.cleanup();
      }
    }
  });

  it("exec --detach through the client: the process passes to the caller's subreaper, which reaps its status", async () => {
    const b = makeBundle({ args: ["sleep", "100"], name: "warm-exec" });
    const pidFile = join(STATE, `${b.id}.exec.pid`);
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id], { root: STATE })).code).toBe(0);
      expect(cli(["start", b.id], true).code).toBe(0);
      await until("a warm process", () => warmPids().length > 0);
      const reaper = underSubreaper(["exec", "-d", "--pid-file", pidFile, b.id, "sh", "-c", "sleep 0.5; exit 5"], true);
      await until("exec done", () => reaper.out().includes("ran "), 30_000);
      expect(reaper.out(), reaper.err()).toContain("ran 0\n");
      const pid = Number(readFileSync(pidFile, "utf8"));
      await reaper.reaped;
      expect(reaper.out()).toContain(`adopted ${pid} 5\n`);
      // In the foreground it is Node's own, and waits for the process's status.
      const fg = cli(["exec", b.id, "sh", "-c", "exit 4"], true);
      expect(fg.code, fg.stderr).toBe(4);
    } finally {
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("create through the client passes its --preserve-fds descriptors to the container", async () => {
    const b = makeBundle({ args: ["sh", "-c", "echo from-fd-4 >&4; echo from-fd-3 >&3"], name: "warm-preserve" });
    const files = [join(STATE, "fd3"), join(STATE, "fd4")];
    try {
      await until("a warm process", () => warmPids().length > 0);
      const errors = join(STATE, "create.err");
      // Files, not pipes: init keeps create's stdio, as runc's does, and a pipe would stay open.
      const fds = [...files, errors].map((f) => openSync(f, "w"));
      let r;
      try {
        r = spawnSync(CLIENT, ["--root", STATE, "create", "--preserve-fds", "2", "--bundle", b.dir, b.id], { stdio: ["ignore", fds[2]!, fds[2]!, fds[0]!, fds[1]!], timeout: 30_000 });
      } finally {
        for (const fd of fds) closeSync(fd);
      }
      expect(r.status, readFileSync(errors, "utf8")).toBe(0);
      expect(cli(["start", b.id], true).code).toBe(0);
      await until("stopped", () => JSON.parse(cli(["state", b.id], true).stdout).status === "stopped");
      expect(files.map((f) => readFileSync(f, "utf8"))).toEqual(["from-fd-3\n", "from-fd-4\n"]);
      // One it was not given is an error, as runc's.
      const missing = spawnSync("sh", ["-c", 'exec 3>&- 4>&-; exec "$@"', "sh", CLIENT, "--root", STATE, "create", "--preserve-fds", "2", "--bundle", b.dir, `${b.id}-x`], { encoding: "utf8", timeout: 30_000 });
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain("--preserve-fds 2: fd 3 is not open");
    } finally {
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("a caller in another network namespace runs its command itself: the warm processes see another system", async () => {
    const b = makeBundle({ args: ["sleep", "100"], name: "warm-netns" });
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id], { root: STATE })).code).toBe(0);
      await until("a warm process", () => warmPids().length > 0);
      // events runs on: the client is then seen running Node itself (its command line is main.js's).
      const child = spawn("unshare", ["-n", CLIENT, "--root", STATE, "events", "--interval", "1s", b.id], { stdio: ["ignore", "pipe", "pipe"] });
      const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
      try {
        await until("the client runs Node", () => {
          try {
            return readFileSync(`/proc/${child.pid}/cmdline`, "utf8").includes("/dist/cli/main.js\0");
          } catch {
            return false;
          }
        });
      } finally {
        child.kill("SIGKILL");
        await exited;
      }
    } finally {
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("a caller in another mount namespace sharing /run has a pool of its own, and leaves this one's socket alone", async () => {
    // No pool here: the other namespace's first use starts one there.
    const old = warmPids();
    spawnSync(CLIENT, ["service", "stop"]);
    await until("the old ones gone", () => old.every((p) => !alive(p)));
    const there = spawnSync("unshare", ["-m", "--propagation", "private", CLIENT, "--root", STATE, "list", "--format", "json"], { encoding: "utf8", timeout: 30_000 });
    expect(there.status, there.stderr).toBe(0);
    expect(JSON.parse(there.stdout)).toEqual([]);
    // Theirs: warm processes of this checkout in another mount namespace (service status lists ours only).
    const title = `runsc-ts-warm ${realpathSync(ROOT)}`;
    const ours = readlinkSync("/proc/self/ns/mnt");
    const theirs = (): number[] =>
      readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0+$/, "") === title && readlinkSync(`/proc/${p}/ns/mnt`) !== ours;
        } catch {
          return false;
        }
      });
    try {
      await until("their pool", () => theirs().length > 0, 30_000);
      // Here a command finds no socket of this namespace's (theirs has a name of its own), and starts this namespace's pool.
      expect(cli(["list"], true).code).toBe(0);
      await until("this namespace's pool", () => warmPids().length > 0, 30_000);
      expect(spawnSync(CLIENT, ["service", "status"], { encoding: "utf8" }).stdout).toContain("(present)");
    } finally {
      for (const p of theirs()) process.kill(p, "SIGTERM");
    }
  });

  it("a killed client ends the command it was served; a killed server is an error the client shows", async () => {
    const b = makeBundle({ args: ["sleep", "100"], name: "warm-events" });
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id], { root: STATE })).code).toBe(0);
      for (const victim of ["client", "server"] as const) {
        await until("a warm process", () => warmPids().length > 0);
        const before = warmPids();
        const client = startClient(["events", "--interval", "1s", b.id]);
        // The server is the warm process that took it: its stdout is the client's pipe.
        const server = await servingProcess(client.child, 1, () => before);
        if (victim === "client") {
          client.child.kill("SIGKILL");
          await client.ended;
          await until("the command ended with its client", () => !alive(server));
        } else {
          process.kill(server, "SIGKILL");
          expect((await client.ended).code).toBe(125);
          expect(client.err()).toContain(`the warm process running the command (pid ${server}) ended without its status`);
        }
      }
    } finally {
      await runtime(["delete", "--force", b.id], { root: STATE });
      b.cleanup();
    }
  });

  it("do: the same warm processes serve one sandbox after another and keep nothing of any (descriptors, threads, mounts)", async () => {
    await until("warm processes", () => warmPids().length > 0);
    /** What a waiting warm process holds: its descriptors, its threads, the mount namespaces they are in. */
    const holds = (pid: number): string => {
      const fds = readdirSync(`/proc/${pid}/fd`).map((fd) => `${fd}=${fdTarget(pid, Number(fd)) ?? ""}`).sort();
      const threads = readdirSync(`/proc/${pid}/task`);
      // A thread that ends meanwhile (the sentries' watchdog, once no sandbox is served) is
      // no longer there to read: the process is still settling.
      const mnt = new Set(
        threads.map((t) => {
          try {
            return readlinkSync(`/proc/${pid}/task/${t}/ns/mnt`);
          } catch {
            return "(ended)";
          }
        }),
      );
      return JSON.stringify({ fds, threads: threads.length, mnt: [...mnt] });
    };
    // Taken once they are ready: a process still loading holds module files and has not yet
    // started its sentry thread. Ready: the same twice, half a second apart.
    const snapshot = (): Map<number, string> => new Map(warmPids().map((p) => [p, holds(p)]));
    let before = snapshot();
    for (const end = Date.now() + 15_000; ; ) {
      await new Promise((r) => setTimeout(r, 500));
      const now = snapshot();
      if (JSON.stringify([...now]) === JSON.stringify([...before])) break;
      if (Date.now() > end) throw new Error("the warm processes did not settle");
      before = now;
    }
    // A sandbox that runs a while: the warm process serving it goes on after it.
    const run = startClient(["do", "--", "/bin/sh", "-c", "echo ready; sleep 0.5; exit 3"]);
    const server = await servingProcess(run.child, 1, () => [...before.keys()]);
    expect(await run.ended).toEqual({ code: 3, signal: null });
    expect(run.out()).toBe("ready\n");
    // Sandboxes of every kind, one after another: a private /tmp, a memory overlay root with
    // virtual /proc files, the network proxy, a policy that does not exist.
    const policy = join(STATE, "overlay-proc.yaml");
    writeFileSync(policy, "apiVersion: runsc-ts/v1\nkind: Policy\nname: overlay-proc\nfilesystem:\n  root: overlay\n  proc:\n    virtualize: [meminfo]\n");
    const runs: [string[], number, string][] = [
      [["do", "--", "/bin/sh", "-c", "echo x > /tmp/x && cat /tmp/x"], 0, "x\n"],
      [["do", "--policy", policy, "--", "/bin/sh", "-c", "echo y > /etc/y && cat /etc/y && head -c 9 /proc/meminfo"], 0, "y\nMemTotal:"],
      [["do", "--network", "proxy", "--", "/bin/sh", "-c", "exit 5"], 5, ""],
      [["do", "--policy", join(STATE, "nosuch.yaml"), "--", "/bin/true"], 125, ""],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [args, code, stdout] of runs) expect(cli(args, true), args.join(" ")).toMatchObject({ code, stdout });
    }
    expect(alive(server), "the process that served a sandbox serves on").toBe(true);
    // Each process that served them holds what it held before (other files' commands may
    // be served meanwhile: compared once they are done).
    await until("the warm processes back as they were", () => [...before].every(([p, held]) => !alive(p) || holds(p) === held));
    expect(before.has(server) ? holds(server) : "").toBe(before.get(server) ?? "");
  });

  it("after a build, the old warm processes serve nothing: the command runs, and new ones replace them", async () => {
    await until("a warm process", () => warmPids().length > 0);
    const before = warmPids();
    const main = join(ROOT, "dist", "cli", "main.js");
    const now = new Date();
    utimesSync(main, now, now);
    const r = cli(["list"], true);
    expect(r).toEqual(cli(["list"], false));
    await until("the old ones gone, new ones up", () => before.every((p) => !alive(p)) && warmPids().length > 0);
  });

  it("service stop ends them and removes their socket; the next command runs and starts new ones", async () => {
    await until("a warm process", () => warmPids().length > 0);
    const before = warmPids();
    const stop = spawnSync(CLIENT, ["service", "stop"], { encoding: "utf8" });
    expect(stop.status).toBe(0);
    expect(stop.stdout).toMatch(/^ended \d+ warm process/);
    await until("all ended", () => before.every((p) => !alive(p)) && warmPids().length === 0);
    expect(spawnSync(CLIENT, ["service", "status"], { encoding: "utf8" }).stdout).toContain("(absent)");
    expect(cli(["list"], true).code).toBe(0);
    await until("new ones", () => warmPids().length > 0);
  });
});
