// The OCI lifecycle as runc's callers drive it: create → start → (kill) → delete, each
// transition and its errors, exit statuses as runc's, state JSON as the spec's, and nothing
// left behind. The containers run the busybox rootfs the tests build (helpers/bundle.ts).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { BUNDLES_DIR, busyboxRootfs, CLIENT, MAIN_JS, makeBundle, runtime, RUNC_ROOT, STATE_ROOT } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { pollFor } from "../helpers/sandbox.js";

busyboxRootfs();

/** A bundle whose /out is a host directory the container writes its findings to. */
function outBundle(args: string[], config?: (c: any) => void): Bundle & { out: string; read(name: string): string } {
  const out = mkdtempSync(join(BUNDLES_DIR, "out-"));
  const b = makeBundle({
    args,
    config: (c) => {
      c.mounts.push({ destination: "/out", type: "bind", source: out, options: ["rbind", "rw"] });
      config?.(c);
    },
  });
  return {
    ...b,
    out,
    read: (name) => readFileSync(join(out, name), "utf8"),
    cleanup: () => {
      b.cleanup();
      rmSync(out, { recursive: true, force: true });
    },
  };
}

const made: Bundle[] = [];
afterAll(async () => {
  for (const b of made) {
    await runtime(["delete", "--force", b.id]);
    b.cleanup();
  }
});

/** The host PID of the process whose PID is inner in the PID namespace of process init (NSpid). */
function hostPid(init: number, inner: number): number {
  for (const d of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const ns = readFileSync(`/proc/${d}/status`, "utf8").match(/^NSpid:\s+(.*)$/m)?.[1]?.trim().split(/\s+/);
      if (ns !== undefined && Number(ns[ns.length - 1]) === inner && readlinkSync(`/proc/${d}/ns/pid`) === readlinkSync(`/proc/${init}/ns/pid`)) return Number(d);
    } catch {
      // gone
    }
  }
  throw new Error(`no process ${inner} in ${init}'s PID namespace`);
}

function track<T extends Bundle>(b: T): T {
  made.push(b);
  return b;
}

async function state(id: string): Promise<Record<string, unknown>> {
  const r = await runtime(["state", id]);
  if (r.code !== 0) throw new Error(`state ${id}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Waits until the container has stopped (its program exited). */
async function stopped(id: string): Promise<void> {
  const ok = await pollFor(async () => ((await state(id)).status === "stopped" ? true : undefined), 10000);
  if (!ok) throw new Error(`${id} did not stop`);
}

describe("OCI lifecycle", () => {
  it("create holds the program, start runs it, state follows, delete removes everything", async ({ expect }) => {
    const b = track(outBundle(["sh", "-c", "echo ran > /out/ran; echo $$ > /out/pid"]));
    const pidFile = join(b.dir, "init.pid");
    const c = await runtime(["create", "--bundle", b.dir, "--pid-file", pidFile, b.id]);
    expect(c.code, c.stderr).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8"));
    const s1 = await state(b.id);
    expect(Object.keys(s1).sort()).toEqual(["bundle", "created", "id", "ociVersion", "owner", "pid", "rootfs", "status"]);
    expect(s1).toMatchObject({ id: b.id, status: "created", pid, bundle: b.dir, rootfs: busyboxRootfs() });
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    // Held: nothing ran yet.
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(join(b.out, "ran"))).toBe(false);

    const s = await runtime(["start", b.id]);
    expect(s.code, s.stderr).toBe(0);
    await stopped(b.id);
    expect(b.read("ran")).toBe("ran\n");
    // The program is PID 1 of the container's namespace, as under runc.
    expect(b.read("pid")).toBe("1\n");
    expect(await state(b.id)).toMatchObject({ status: "stopped", pid: 0 });

    const cgroups = readFileSync(`/run/runsc-ts-test/${b.id}/state.json`, "utf8");
    const dirs = (JSON.parse(cgroups) as { cgroups: string[] }).cgroups;
    expect(dirs.length).toBeGreaterThan(0);
    const d = await runtime(["delete", b.id]);
    expect(d.code, d.stderr).toBe(0);
    expect(existsSync(join(STATE_ROOT, b.id))).toBe(false);
    for (const dir of dirs) expect(existsSync(dir), dir).toBe(false);
    const gone = await runtime(["state", b.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`container "${b.id}" does not exist`);
  });

  it("gives runc's exit statuses for the errors its callers rely on", async ({ expect }) => {
    const b = track(outBundle(["sleep", "100"]));
    expect((await runtime(["delete", "--force", "no-such-container"])).code).toBe(0);
    const del = await runtime(["delete", "no-such-container"]);
    expect(del.code).toBe(1);
    expect((await runtime(["start", "no-such-container"])).code).toBe(1);
    expect((await runtime(["state", "no-such-container"])).code).toBe(1);
    const bad = await runtime(["create", "--bundle", b.dir, "a/b"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid container id");

    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    const dup = await runtime(["create", "--bundle", b.dir, b.id]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("already exists");
    expect((await runtime(["start", b.id])).code).toBe(0);
    const again = await runtime(["start", b.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cannot start an already running container/);
    const busy = await runtime(["delete", b.id]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/not stopped: running/);

    expect((await runtime(["kill", b.id, "KILL"])).code).toBe(0);
    await stopped(b.id);
    const late = await runtime(["kill", b.id, "9"]);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain("container not running");
    expect((await runtime(["delete", b.id])).code).toBe(0);
  });

  it("kill passes a signal by number or name to the program (the ones it catches, as to PID 1), and --all reaches every process", async ({ expect }) => {
    const b = track(outBundle(["sh", "-c", 'trap "echo usr1 >> /out/got" USR1; trap "echo term >> /out/got; exit 7" TERM; echo ready > /out/ready; while :; do sleep 0.05; done']));
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    expect((await runtime(["start", b.id])).code).toBe(0);
    await pollFor(() => (existsSync(join(b.out, "ready")) ? true : undefined), 5000);
    expect((await runtime(["kill", b.id, "10"])).code).toBe(0);
    await pollFor(() => (existsSync(join(b.out, "got")) && b.read("got").includes("usr1") ? true : undefined), 5000);
    expect((await runtime(["kill", b.id, "SIGTERM"])).code).toBe(0);
    await stopped(b.id);
    expect(b.read("got")).toBe("usr1\nterm\n");
    const bad = await runtime(["kill", b.id, "NOSUCHSIG"]);
    expect(bad.code).toBe(1);

    // As to runc's PID 1: a signal the program does not catch is not delivered.
    const p = track(outBundle(["sleep", "100"]));
    expect((await runtime(["create", "--bundle", p.dir, p.id])).code).toBe(0);
    expect((await runtime(["start", p.id])).code).toBe(0);
    expect((await runtime(["kill", p.id, "TERM"])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await state(p.id)).status).toBe("running");
    expect((await runtime(["kill", p.id, "KILL"])).code).toBe(0);
    await stopped(p.id);

    const c = track(outBundle(["sh", "-c", "sleep 100 & sleep 100 & echo ready > /out/ready; wait"]));
    expect((await runtime(["create", "--bundle", c.dir, c.id])).code).toBe(0);
    expect((await runtime(["start", c.id])).code).toBe(0);
    await pollFor(() => (existsSync(join(c.out, "ready")) ? true : undefined), 5000);
    const ps = await runtime(["ps", "--format", "json", c.id]);
    const pids = JSON.parse(ps.stdout) as number[];
    // sh and two sleeps: host PIDs, as `docker top` needs.
    expect(pids.length).toBe(3);
    for (const p of pids) expect(existsSync(`/proc/${p}`), String(p)).toBe(true);
    expect((await runtime(["kill", "--all", c.id, "KILL"])).code).toBe(0);
    await stopped(c.id);
    for (const p of pids) expect(await pollFor(() => (existsSync(`/proc/${p}/stat`) && !readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z") ? undefined : true), 5000)).toBe(true);
  });

  it("the program is PID 1 of its container and sees no process of runsc-ts's, as under runc", async ({ expect }) => {
    const probe = ["sh", "-c", "echo $$ > /out/pid; cat /proc/1/comm > /out/comm; echo /proc/[0-9]* > /out/procs; grep -E '^(PPid|NSpid)' /proc/self/status > /out/status"];
    const seen = (b: ReturnType<typeof outBundle>): string[] => ["pid", "comm", "procs", "status"].map((f) => b.read(f));
    const r = track(outBundle(probe));
    const runcId = `${r.id}-runc`;
    try {
      execFileSync("runc", ["--root", RUNC_ROOT, "run", "--bundle", r.dir, runcId], { stdio: "ignore", timeout: 30_000 });
    } finally {
      spawnSync("runc", ["--root", RUNC_ROOT, "delete", "--force", runcId]);
    }
    const b = track(outBundle(probe));
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    expect((await runtime(["start", b.id])).code).toBe(0);
    await stopped(b.id);
    expect(seen(r)).toEqual(["1\n", "sh\n", "/proc/1\n", "PPid:\t0\nNSpid:\t1\n"]);
    expect(seen(b)).toEqual(seen(r));
  });

  it("kill -9 of a container's monitor ends its program within 100 ms (its guard outside the PID namespace kills it), and the guard goes with it", async ({ expect }) => {
    const b = track(outBundle(["sleep", "1000"]));
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    expect((await runtime(["start", b.id])).code).toBe(0);
    const st = JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8")) as { monitorPid: number; pid: number };
    const gone = (pid: number): boolean => !existsSync(`/proc/${pid}/stat`) || readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
    // The guard: the process outside whose children's PID namespace is the program's.
    const pidns = readlinkSync(`/proc/${st.pid}/ns/pid`);
    const guards = readdirSync("/proc").filter((d) => {
      try {
        return /^\d+$/.test(d) && readFileSync(`/proc/${d}/comm`, "utf8") === "runsc-ts-guard\n" && readlinkSync(`/proc/${d}/ns/pid_for_children`) === pidns;
      } catch {
        return false;
      }
    });
    expect(guards.length).toBe(1);
    const guard = Number(guards[0]);
    expect(readlinkSync(`/proc/${guard}/ns/pid`)).not.toBe(pidns);
    expect(gone(st.pid)).toBe(false);
    const t0 = performance.now();
    process.kill(st.monitorPid, "SIGKILL");
    expect(await pollFor(() => (gone(st.pid) ? true : undefined), 5000, 2)).toBe(true);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(100);
    expect(await pollFor(() => (gone(guard) ? true : undefined), 5000)).toBe(true);
    expect((await state(b.id)).status).toBe("stopped");
    expect((await runtime(["delete", b.id])).code).toBe(0);
    expect(existsSync(join(STATE_ROOT, b.id))).toBe(false);
  });

  it("a stopped container: kill --all is no error (a shim sends it once init has gone), a plain kill is refused, as runc answers both", async ({ expect }) => {
    const b = track(makeBundle({ args: ["true"] }));
    // The container's init inherits create's stdio: only the kills' stderr is read.
    const runc = (args: string[]): { code: number; stderr: string } => {
      try {
        execFileSync("runc", ["--root", RUNC_ROOT, ...args], { encoding: "utf8", stdio: ["ignore", "ignore", args[0] === "kill" ? "pipe" : "ignore"], timeout: 30_000 });
        return { code: 0, stderr: "" };
      } catch (err) {
        const e = err as { status: number; stderr: string };
        return { code: e.status, stderr: e.stderr };
      }
    };
    const runcId = `${b.id}-runc`;
    try {
      expect(runc(["create", "--bundle", b.dir, runcId]).code).toBe(0);
      expect(runc(["start", runcId]).code).toBe(0);
      expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      await stopped(b.id);
      await pollFor(() => (execFileSync("runc", ["--root", RUNC_ROOT, "state", runcId], { encoding: "utf8" }).includes('"stopped"') ? true : undefined), 5000);
      const all = [runc(["kill", "--all", runcId, "KILL"]), await runtime(["kill", "--all", b.id, "KILL"])];
      expect(all.map((r) => r.code)).toEqual([0, 0]);
      const one = [runc(["kill", runcId, "KILL"]), await runtime(["kill", b.id, "KILL"])];
      expect(one.map((r) => r.code)).toEqual([1, 1]);
      for (const r of one) expect(r.stderr).toContain("container not running");
    } finally {
      runc(["delete", "--force", runcId]);
    }
  });

  it("in another's PID namespace, SIGKILL ends every process of the container, SIGTERM ends the program, and kill --all reaches what outlives init, as runc's", async ({ expect }) => {
    const gone = (pid: number): boolean => !existsSync(`/proc/${pid}/stat`) || readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
    // Host PIDs: the pod's /proc is its own.
    const program = ["sh", "-c", "sleep 100 & echo $! > /out/child; echo $$ > /out/pid; exec sleep 200"];
    // A pod: its sandbox container owns the PID namespace the other joins, as CRI's do.
    const pod = track(outBundle(["sleep", "1000"]));
    expect((await runtime(["create", "--bundle", pod.dir, pod.id])).code).toBe(0);
    expect((await runtime(["start", pod.id])).code).toBe(0);
    const podPid = Number((await state(pod.id)).pid);
    const shared = (c: any): void => {
      for (const n of c.linux.namespaces as { type: string; path?: string }[]) if (n.type === "pid") n.path = `/proc/${podPid}/ns/pid`;
    };
    for (const how of ["kill", "term", "init dies"] as const) {
      const b = track(outBundle(program, shared));
      expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      await pollFor(() => (existsSync(join(b.out, "pid")) ? true : undefined), 5000);
      // Their host PIDs: through the container's init, whose namespace they share.
      const init = Number((await state(b.id)).pid);
      const inside = [Number(b.read("pid")), Number(b.read("child"))];
      const pids = inside.map((p) => hostPid(init, p));
      if (how === "kill") {
        expect((await runtime(["kill", b.id, "KILL"])).code).toBe(0);
      } else if (how === "term") {
        // Not PID 1 there: a signal it does not catch ends it, as runc's (a pod's stop).
        expect((await runtime(["kill", b.id, "TERM"])).code).toBe(0);
        // init, ending with it, takes what it leaves with it.
      } else {
        // init ends by itself (killed from outside): the program with it, as runc's program
        // is the PID killed; the program's child outlives them...
        process.kill(Number((await state(b.id)).pid), "SIGKILL");
        await stopped(b.id);
        await new Promise((r) => setTimeout(r, 200));
        expect(await pollFor(() => (gone(pids[0]!) ? true : undefined), 5000), "the program outlived its init").toBe(true);
        expect(gone(pids[1]!)).toBe(false);
        // ...until the shim's kill --all, which a stopped container takes while they last.
        const all = await runtime(["kill", "--all", b.id, "KILL"]);
        expect(all.code, all.stderr).toBe(0);
      }
      await stopped(b.id);
      expect(await pollFor(() => (pids.every(gone) ? true : undefined), 5000), `${how}: ${pids.join(",")}`).toBe(true);
      // Nothing left: no error, as runc's (a plain kill is refused).
      const none = await runtime(["kill", "--all", b.id, "KILL"]);
      expect(none.code, none.stderr).toBe(0);
      expect((await runtime(["kill", b.id, "KILL"])).stderr).toContain("container not running");
    }
    // The pod goes on.
    expect((await state(pod.id)).status).toBe("running");
  });

  it("a failing create whose stdio is a read-only /dev/null (as containerd gives a pod's sandbox) still writes its error to --log, and exits 1", async ({ expect }) => {
    const missing = track(outBundle(["no-such-program"]));
    const log = join(missing.dir, "log.json");
    const devNull = openSync("/dev/null", "r");
    try {
      const r = spawnSync(CLIENT, ["--root", STATE_ROOT, "--log", log, "--log-format", "json", "create", "--bundle", missing.dir, missing.id], { stdio: [devNull, devNull, devNull], timeout: 30_000 });
      expect(r.status).toBe(1);
    } finally {
      closeSync(devNull);
    }
    const line = JSON.parse(readFileSync(log, "utf8").trim().split("\n").pop()!) as Record<string, string>;
    expect(line).toMatchObject({ level: "error" });
    expect(line.msg).toContain("executable file not found");
    expect(existsSync(join(STATE_ROOT, missing.id))).toBe(false);
  });

  it("a failing create says why, names the field, writes Docker's JSON log line, and leaves nothing", async ({ expect }) => {
    const missing = track(outBundle(["no-such-program"]));
    const log = join(missing.dir, "log.json");
    // A container that runs first, with --debug: its sentry's lines go to the same log.
    const fine = track(outBundle(["true"]));
    expect((await runtime(["--log", log, "--log-format", "json", "--debug", "create", "--bundle", fine.dir, fine.id])).code).toBe(0);
    expect((await runtime(["start", fine.id])).code).toBe(0);
    await stopped(fine.id);
    const r = await runtime(["--log", log, "--log-format", "json", "--debug", "create", "--bundle", missing.dir, missing.id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exec: "no-such-program": executable file not found in $PATH');
    const line = JSON.parse(readFileSync(log, "utf8").trim().split("\n").pop()!) as Record<string, string>;
    expect(line.level).toBe("error");
    expect(line.msg).toContain("executable file not found");
    expect(Number.isNaN(Date.parse(line.time!))).toBe(false);
    // Every line, debug ones too, is runc's shape: containerd's shim reads them all for the error.
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines.some((l) => l.includes('"level":"debug"')), lines.join("\n")).toBe(true);
    for (const l of lines) {
      const rec = JSON.parse(l) as Record<string, unknown>;
      expect(typeof rec.level, l).toBe("string");
      expect(Number.isNaN(Date.parse(String(rec.time))), l).toBe(false);
    }
    expect(existsSync(join(STATE_ROOT, missing.id))).toBe(false);
    expect(existsSync(`/sys/fs/cgroup/pids/runsc-ts/${missing.id}`)).toBe(false);

    const bad = track(outBundle(["true"], (c) => c.mounts.push({ destination: "relative/path", type: "tmpfs", source: "tmpfs" })));
    const e = await runtime(["create", "--bundle", bad.dir, bad.id]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/config\.json: mounts\[\d+\]\.destination: expected an absolute path/);
    expect(existsSync(join(STATE_ROOT, bad.id))).toBe(false);

    const sys = await runtime(["--systemd-cgroup", "create", "--bundle", bad.dir, bad.id]);
    expect(sys.code).not.toBe(0);
    expect(sys.stderr).toMatch(/--systemd-cgroup: .*systemd/);
  });

  it("a create killed with -9 at any point leaves what delete --force removes entirely", { timeout: 120_000 }, async ({ expect }) => {
    // Each moment in a container of its own, all at once: a loaded machine stretches each.
    // Node's own create, and the client's (served by a warm process, which ends with it).
    const moment = async (after: number, warm: boolean): Promise<void> => {
      const b = track(outBundle(["sleep", "1000"]));
      const argv = ["--root", STATE_ROOT, "create", "--bundle", b.dir, b.id];
      const child = warm ? spawn(CLIENT, argv, { stdio: "ignore" }) : spawn(process.execPath, [MAIN_JS, ...argv], { stdio: "ignore" });
      // Listened for now: a create that ends before the kill has exited already.
      const exited = new Promise((r) => child.once("exit", r));
      await new Promise((r) => setTimeout(r, after));
      child.kill("SIGKILL");
      await exited;
      const st = existsSync(join(STATE_ROOT, b.id, "state.json")) ? (JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8")) as { cgroups: string[]; monitorPid: number; pid: number }) : undefined;
      const d = await runtime(["delete", "--force", b.id]);
      expect(d.code, `${after} ms: ${d.stderr}`).toBe(0);
      expect(existsSync(join(STATE_ROOT, b.id)), `${after} ms`).toBe(false);
      for (const dir of st?.cgroups ?? []) expect(existsSync(dir), `${after} ms: ${dir}`).toBe(false);
      // No init or monitor of this container is left.
      const alive = (pid: number): boolean => pid > 0 && existsSync(`/proc/${pid}/stat`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z");
      if (st !== undefined) expect(await pollFor(() => (alive(st.pid) ? undefined : true), 5000), `${after} ms: init ${st.pid}`).toBe(true);
      // The monitor names the container on its command line: none is left, even one whose
      // create died before the state was written.
      const monitors = (): string[] =>
        readdirSync("/proc")
          .filter((d) => /^\d+$/.test(d))
          .filter((d) => {
            try {
              return alive(Number(d)) && readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").includes(b.id);
            } catch {
              return false;
            }
          });
      expect(await pollFor(() => (monitors().length === 0 ? true : undefined), 5000), `${after} ms: ${monitors().join(",")}`).toBe(true);
    };
    await Promise.all([...[30, 120, 200, 280, 360, 450].map((ms) => moment(ms, false)), ...[10, 40, 80, 120, 160].map((ms) => moment(ms, true))]);
  });

  it("run waits for the program, returns its status and deletes the container", async ({ expect }) => {
    const b = track(outBundle(["sh", "-c", "echo out; echo err >&2; exit 42"]));
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code).toBe(42);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
    expect(existsSync(join(STATE_ROOT, b.id))).toBe(false);
  });

  it("run in the foreground relays a terminal itself when process.terminal has no --console-socket", async ({ expect }) => {
    const b = track(outBundle(["sh"], (c) => (c.process.terminal = true)));
    const r = await runtime(["run", "--bundle", b.dir, b.id], { input: "tty\necho typed-$((1+2))\nexit 3\n" });
    expect(r.code, r.stderr).toBe(3);
    // A shell that prompts before the input has arrived asks the terminal where its cursor is
    // (ESC [ 6 n): it runs on a terminal either way.
    const out = r.stdout.replace(/\r/g, "").replace(/\x1b\[6n/g, "");
    // The shell's own prompt and echo: it runs on a terminal.
    expect(out).toMatch(/^\/ # tty\n\/dev\/console$/m);
    expect(out).toMatch(/^typed-3$/m);
    // create (detached) cannot relay: it says how to give one.
    const c = await runtime(["create", "--bundle", b.dir, `${b.id}-c`]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("--console-socket");
  });

  it("runs the six hooks in order, each with the state of its moment on stdin, where the spec runs it", async ({ expect }) => {
    const b = track(outBundle(["sh", "-c", "echo program >> /out/order"]));
    // Each hook writes its name, what it sees and its stdin to the order file it is given:
    // the runtime's hooks and createContainer (before pivot_root) see the host's files,
    // startContainer sees the container's.
    const hook = join(b.out, "hook.sh");
    chmodSync(b.out, 0o755); // createContainer's hook is run from it by root of the container's user namespace
    // It also says whose ids it runs with: the host id root inside maps to (0 for host root).
    writeFileSync(hook, `#!/bin/sh\necho "$1 $(hostname) $(test -e ${b.out}/hook.sh && echo host-root || echo container-root) $(awk 'NR==1 {print $2}' /proc/self/uid_map) $(cat)" >> $2\n`, { mode: 0o755 });
    // createContainer's hook writes it as root of the container's user namespace, a stranger to the host's files.
    writeFileSync(join(b.out, "order"), "", { mode: 0o666 });
    chmodSync(join(b.out, "order"), 0o666);
    const config = JSON.parse(readFileSync(join(b.dir, "config.json"), "utf8"));
    const onHost = (k: string) => [{ path: hook, args: ["hook", k, join(b.out, "order")] }];
    config.hooks = {
      ...Object.fromEntries(["prestart", "createRuntime", "createContainer", "poststart", "poststop"].map((k) => [k, onHost(k)])),
      startContainer: [{ path: "/out/hook.sh", args: ["hook", "startContainer", "/out/order"] }],
    };
    writeFileSync(join(b.dir, "config.json"), JSON.stringify(config));
    const c = await runtime(["create", "--bundle", b.dir, b.id]);
    expect(c.code, c.stderr).toBe(0);
    // Its createContainer hooks run in its user namespace, as the rest of it: nothing keeps host root.
    expect(c.stderr).not.toContain("root inside is host root");
    // createContainer ran at create; startContainer waits for start.
    expect(b.read("order")).not.toContain("startContainer");
    expect((await runtime(["start", b.id])).code).toBe(0);
    await stopped(b.id);
    expect((await runtime(["delete", b.id])).code).toBe(0);
    const lines = b.read("order").trim().split("\n");
    // The program runs after startContainer, and ends before or after poststart does.
    const hooks = lines.filter((l) => l !== "program");
    expect(hooks.map((l) => l.split(" ")[0])).toEqual(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
    expect(lines.indexOf("program")).toBeGreaterThan(lines.findIndex((l) => l.startsWith("startContainer")));
    const seen = Object.fromEntries(
      hooks.map((l) => {
        const [name, host, root, mappedTo, ...json] = l.split(" ");
        return [name, { host, root, hostId: Number(mappedTo), state: JSON.parse(json.join(" ")) as Record<string, unknown> }];
      }),
    );
    const hostName = execFileSync("hostname", { encoding: "utf8" }).trim();
    // The runtime's hooks run in its namespaces; the container's in the container's.
    expect(seen.prestart).toMatchObject({ host: hostName, root: "host-root", state: { id: b.id, status: "creating", bundle: b.dir } });
    expect(seen.prestart!.state.pid).toBeGreaterThan(0);
    expect(seen.createRuntime).toMatchObject({ host: hostName, root: "host-root", state: { status: "creating" } });
    expect(seen.createContainer).toMatchObject({ host: "bb", root: "host-root", state: { status: "creating", pid: seen.prestart!.state.pid } });
    expect(seen.prestart!.hostId).toBe(0);
    expect(seen.createContainer!.hostId, "createContainer runs as root of the container's user namespace").toBeGreaterThanOrEqual(0x40000000);
    expect(seen.startContainer!.hostId).toBe(seen.createContainer!.hostId);
    expect(seen.startContainer).toMatchObject({ host: "bb", root: "container-root", state: { status: "created", pid: seen.prestart!.state.pid } });
    expect(seen.poststart).toMatchObject({ host: hostName, state: { status: "running" } });
    expect(seen.poststop).toMatchObject({ host: hostName, state: { status: "stopped" } });

    const failing = track(outBundle(["true"], (c) => (c.hooks = { prestart: [{ path: "/bin/false" }] })));
    const f = await runtime(["create", "--bundle", failing.dir, failing.id]);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain("hooks.prestart[0] /bin/false: exit status 1");
    expect(existsSync(join(STATE_ROOT, failing.id))).toBe(false);

    // With createContainer hooks, prestart runs while init waits before pivot_root: its
    // failure is still its own, not a setup failure, and nothing is left.
    const paused = track(outBundle(["true"], (c) => (c.hooks = { prestart: [{ path: "/bin/false" }], createContainer: [{ path: "/bin/true" }] })));
    const p = await runtime(["create", "--bundle", paused.dir, paused.id]);
    expect(p.code).toBe(1);
    expect(p.stderr).toContain("hooks.prestart[0] /bin/false: exit status 1");
    expect(p.stderr).not.toContain("container setup failed");
    expect(existsSync(join(STATE_ROOT, paused.id))).toBe(false);
  });

  it("a failing or slow container hook fails its command with the hook's name and words, and leaves nothing", async ({ expect }) => {
    const slow = track(outBundle(["true"], (c) => (c.hooks = { createContainer: [{ path: "/bin/sleep", args: ["sleep", "10"], timeout: 1 }] })));
    const started = Date.now();
    const f = await runtime(["create", "--bundle", slow.dir, slow.id]);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain("hooks.createContainer[0] /bin/sleep: timed out after 1 s");
    expect(Date.now() - started).toBeLessThan(8000);
    expect(existsSync(join(STATE_ROOT, slow.id))).toBe(false);

    const failing = track(outBundle(["sh", "-c", "echo ran > /out/ran"], (c) => (c.hooks = { startContainer: [{ path: "/bin/sh", args: ["sh", "-c", "echo no mount here >&2; exit 3"] }] })));
    expect((await runtime(["create", "--bundle", failing.dir, failing.id])).code).toBe(0);
    const s = await runtime(["start", failing.id]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain("hooks.startContainer[0] /bin/sh: exit status 3: no mount here");
    expect((await state(failing.id)).status).toBe("stopped");
    expect(existsSync(join(failing.out, "ran"))).toBe(false);
    expect((await runtime(["delete", failing.id])).code).toBe(0);
    expect(existsSync(join(STATE_ROOT, failing.id))).toBe(false);

    // A chatty hook: its last words make the message, after what came before is cut. cat
    // writes the 60 000 bytes at once and ends, so they are still in the pipe when it has.
    const wordsDir = mkdtempSync(join(BUNDLES_DIR, "words-"));
    const words = join(wordsDir, "words");
    writeFileSync(words, "x".repeat(60_000));
    chmodSync(wordsDir, 0o755); // the hook reads it as root of the container's user namespace
    const chatty = track(outBundle(["true"], (c) => (c.hooks = { createContainer: [{ path: "/bin/cat", args: ["cat", words, "/nonexistent/last-words"] }] })));
    made.push({ dir: wordsDir, id: "", cleanup: () => rmSync(wordsDir, { recursive: true, force: true }) });
    const cc = await runtime(["create", "--bundle", chatty.dir, chatty.id]);
    expect(cc.code).toBe(1);
    expect(cc.stderr).toMatch(/hooks\.createContainer\[0\] \/bin\/cat: exit status 1: x+cat: \/nonexistent\/last-words: No such file or directory\n? \(createContainer hooks run as root of the container's user namespace, host id \d+; a policy with process.hostRoot: true keeps host root\)/);
    expect(cc.stderr.length).toBeLessThan(1500);
  });

  it("--preserve-fds passes the runtime's fds 3.. to the container's program (create/run) and to exec's", async ({ expect }) => {
    const b = track(outBundle(["sh", "-c", "cat <&3 > /out/three; cat <&4 > /out/four; ls /proc/self/fd > /out/fds; sleep 100"]));
    const three = join(b.out, "in3");
    const four = join(b.out, "in4");
    writeFileSync(three, "third\n");
    writeFileSync(four, "fourth\n");
    const fd3 = openSync(three, "r");
    const fd4 = openSync(four, "r");
    try {
      const c = await runtime(["create", "--preserve-fds", "2", "--bundle", b.dir, b.id], { extraFds: [fd3, fd4] });
      expect(c.code, c.stderr).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      await pollFor(() => (existsSync(join(b.out, "fds")) && b.read("fds").endsWith("\n") ? true : undefined), 5000);
      expect(b.read("three")).toBe("third\n");
      expect(b.read("four")).toBe("fourth\n");
      // 0-2, the two, and ls's own directory: nothing of init's or the runtime's.
      expect(b.read("fds").trim().split("\n").map(Number).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
      // A descriptor of its own: the program's cat has read fd4's shared offset to the end.
      const again = openSync(four, "r");
      const e = await runtime(["exec", "--preserve-fds", "1", b.id, "sh", "-c", "cat <&3"], { extraFds: [again] }).finally(() => closeSync(again));
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout).toBe("fourth\n");
      // Asked for more than it has: says which one is missing.
      const bad = await runtime(["exec", "--preserve-fds", "40", b.id, "true"], { extraFds: [fd4] });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/--preserve-fds 40: fd \d+ is not open/);
      const nonsense = await runtime(["create", "--preserve-fds", "x", "--bundle", b.dir, `${b.id}-x`]);
      expect(nonsense.code).toBe(1);
      expect(nonsense.stderr).toContain('--preserve-fds: expected a number, got "x"');
    } finally {
      closeSync(fd3);
      closeSync(fd4);
    }
  });

  it("a root as deep as Docker's and a 64-digit id: the monitor's socket works and delete leaves the root empty", async ({ expect }) => {
    // A unix socket's path holds 107 bytes; this container's directory alone is longer.
    const root = mkdtempSync(join(BUNDLES_DIR, "deep-root-"));
    const deep = join(root, "exec", "runtime-runc", "moby");
    const id = "0123456789abcdef".repeat(4);
    expect(join(deep, id, "monitor.sock").length).toBeGreaterThan(107);
    const b = track(outBundle(["sh", "-c", "echo started > /out/started; sleep 100"]));
    try {
      expect((await runtime(["create", "--bundle", b.dir, id], { root: deep })).code).toBe(0);
      const s = await runtime(["start", id], { root: deep });
      expect(s.code, s.stderr).toBe(0);
      const e = await runtime(["exec", id, "cat", "/out/started"], { root: deep });
      expect(e.stdout).toBe("started\n");
      expect((await runtime(["delete", "--force", id], { root: deep })).code).toBe(0);
      expect(readdirSync(deep)).toEqual([]);
    } finally {
      await runtime(["delete", "--force", id], { root: deep });
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("concurrent commands on one container take turns: one start wins, every delete --force succeeds", async ({ expect }) => {
    const b = track(outBundle(["sh", "-c", "echo x >> /out/runs; sleep 100"]));
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    const starts = await Promise.all([1, 2, 3, 4].map(() => runtime(["start", b.id])));
    expect(starts.filter((s) => s.code === 0).length).toBe(1);
    await pollFor(() => (existsSync(join(b.out, "runs")) ? true : undefined), 5000);
    expect(b.read("runs")).toBe("x\n");
    const dels = await Promise.all([1, 2, 3, 4, 5].map(() => runtime(["delete", "--force", b.id])));
    expect(dels.map((d) => d.code), dels.map((d) => d.stderr).join("")).toEqual([0, 0, 0, 0, 0]);
    expect(existsSync(join(STATE_ROOT, b.id))).toBe(false);
  });

  it("a bundle under /tmp runs (the root is assembled elsewhere)", async ({ expect }) => {
    const tmp = mkdtempSync("/tmp/runsc-ts-bundle-");
    try {
      execFileSync("cp", ["-a", busyboxRootfs(), join(tmp, "rootfs")]);
      const b = track(outBundle(["sh", "-c", "echo from-tmp > /out/ok"], (c) => (c.root.path = join(tmp, "rootfs"))));
      const r = await runtime(["run", "--bundle", b.dir, b.id]);
      expect(r.code, r.stderr).toBe(0);
      expect(b.read("ok")).toBe("from-tmp\n");
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("list shows containers as table, json and ids", async ({ expect }) => {
    const b = track(outBundle(["sleep", "100"]));
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    const table = await runtime(["list"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
    expect(table.stdout).toMatch(new RegExp(`^${b.id}\\s+\\d+\\s+created\\s+${b.dir}`, "m"));
    const json = JSON.parse((await runtime(["list", "--format", "json"])).stdout) as { id: string; status: string }[];
    expect(json.find((s) => s.id === b.id)?.status).toBe("created");
    expect((await runtime(["list", "-q"])).stdout.split("\n")).toContain(b.id);
    expect((await runtime(["delete", b.id])).code).toBe(0);
  });

  it("a foreground run passes the terminal's and job control's signals on to the container, SIGCONT included, as do does", async ({ expect }) => {
    const b = track(outBundle(["sh", "-c", "trap 'echo cont >> /out/log' CONT; trap 'echo usr1 >> /out/log; exit 0' USR1; echo ready >> /out/log; while :; do sleep 0.05; done"]));
    const log = (): string => (existsSync(join(b.out, "log")) ? b.read("log") : "");
    const child = spawn(process.execPath, [MAIN_JS, "--root", STATE_ROOT, "run", "--bundle", b.dir, b.id], { stdio: "ignore" });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    expect(await pollFor(() => (log().includes("ready") ? true : undefined), 20_000, 20), log()).toBe(true);
    child.kill("SIGCONT");
    expect(await pollFor(() => (log().includes("cont") ? true : undefined), 5_000, 20), `SIGCONT was not passed on: ${log()}`).toBe(true);
    child.kill("SIGUSR1");
    expect(await exited).toBe(0);
    expect(log()).toBe("ready\ncont\nusr1\n");
  });
});
