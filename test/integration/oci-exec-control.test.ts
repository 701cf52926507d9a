// exec, pause/resume, update and events on a running container.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { BUNDLES_DIR, busyboxRootfs, makeBundle, runtime } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { pollFor } from "../helpers/sandbox.js";

busyboxRootfs();
const made: Bundle[] = [];
afterAll(async () => {
  for (const b of made) {
    await runtime(["delete", "--force", b.id]);
    b.cleanup();
  }
});

/** A running container (sleep) with /out bound; its cgroup files under the v1 or v2 tree. */
async function running(config?: (c: any) => void): Promise<Bundle & { out: string; pid: number }> {
  const out = mkdtempSync(join(BUNDLES_DIR, "out-"));
  chmodSync(out, 0o777);
  const b = makeBundle({
    args: ["sleep", "1000"],
    config: (c) => {
      c.mounts.push({ destination: "/out", type: "bind", source: out, options: ["rbind", "rw"] });
      c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }] };
      config?.(c);
    },
  });
  made.push({ ...b, cleanup: () => (b.cleanup(), rmSync(out, { recursive: true, force: true })) });
  const r = await runtime(["run", "--detach", "--bundle", b.dir, b.id]);
  if (r.code !== 0) throw new Error(`run -d: ${r.stderr}`);
  const st = JSON.parse((await runtime(["state", b.id])).stdout) as { pid: number };
  return { ...b, out, pid: st.pid };
}

const stateOf = async (id: string): Promise<Record<string, unknown>> => JSON.parse((await runtime(["state", id])).stdout) as Record<string, unknown>;
const cgroupDirs = (id: string): string[] => (JSON.parse(readFileSync(`/run/runsc-ts-test/${id}/state.json`, "utf8")) as { cgroups: string[] }).cgroups;
const cgroupFile = (id: string, ...names: string[]): string => {
  for (const d of cgroupDirs(id)) for (const n of names) if (existsSync(join(d, n))) return join(d, n);
  throw new Error(`no ${names.join(" or ")} for ${id}`);
};

describe("exec", () => {
  it("runs a process in the container's namespaces, cgroups and policy, with its status", async ({ expect }) => {
    const c = await running();
    const r = await runtime(["exec", c.id, "sh", "-c", "hostname; ps -o pid,comm | grep sleep; mkdir /tmp/x; echo mkdir=$?; exit 5"]);
    expect(r.code, r.stderr).toBe(5);
    // The container's hostname and PID namespace (its sleep is PID 1 there), and the
    // config's seccomp profile: the exec'd process is under the same filter and sentry.
    expect(r.stdout).toMatch(/^bb\n\s*1 sleep\nmkdir=1\n$/);
    expect(r.stderr).toMatch(/Operation not permitted/);
  });

  it("--detach returns at once; --pid-file names a host process in the container's cgroup; ARGS take --env, --cwd and --user", async ({ expect }) => {
    const c = await running();
    const pidFile = join(c.out, "exec.pid");
    const r = await runtime(["exec", "--detach", "--pid-file", pidFile, "--env", "WHO=exec", "--cwd", "/out", "--user", "1000:1000", c.id, "sh", "-c", "echo $WHO $(pwd) $(id -u) > /out/seen; sleep 1000"]);
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(await pollFor(() => (existsSync(join(c.out, "seen")) ? true : undefined), 5000)).toBe(true);
    expect(readFileSync(join(c.out, "seen"), "utf8")).toBe("exec /out 1000\n");
    const procs = JSON.parse((await runtime(["ps", "--format", "json", c.id])).stdout) as number[];
    expect(procs).toContain(pid);
    expect(procs).toContain(c.pid);
    // delete --force ends exec'd processes too.
    expect((await runtime(["delete", "--force", c.id])).code).toBe(0);
    expect(await pollFor(() => (existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`).length > 0 ? undefined : true), 5000)).toBe(true);
  });

  it("kill -9 of the PID in --pid-file ends the exec'd program, as under runc (containerd kills it when an exec times out); the container goes on", async ({ expect }) => {
    const c = await running();
    const pidFile = join(c.out, "exec.pid");
    const r = await runtime(["exec", "--detach", "--pid-file", pidFile, c.id, "sh", "-c", "echo $$ > /out/program; exec sleep 1000"]);
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(await pollFor(() => (existsSync(join(c.out, "program")) ? true : undefined), 5000)).toBe(true);
    // The program's host PID: the process in the same container whose PID inside is the one it wrote.
    const inside = Number(readFileSync(join(c.out, "program"), "utf8"));
    const procs = JSON.parse((await runtime(["ps", "--format", "json", c.id])).stdout) as number[];
    const program = procs.find((p) => {
      const ns = /\nNSpid:\s*([^\n]*)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1]?.trim().split(/\s+/);
      return Number(ns?.[ns.length - 1]) === inside;
    });
    expect(program, `no process of ${JSON.stringify(procs)} is PID ${inside} inside`).toBeDefined();
    process.kill(pid, "SIGKILL");
    const gone = (p: number): true | undefined => {
      try {
        return /^State:\s+Z/m.test(readFileSync(`/proc/${p}/status`, "utf8")) ? true : undefined;
      } catch {
        return true;
      }
    };
    expect(await pollFor(() => gone(program!), 5000), "the program outlived the PID the caller killed").toBe(true);
    expect((await stateOf(c.id)).status).toBe("running");
  });

  it("joins the container's user namespace: root inside is the mapped host uid, as for init", async ({ expect }) => {
    const c = await running((cfg) => {
      cfg.linux.namespaces.push({ type: "user" });
      cfg.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      cfg.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    const r = await runtime(["exec", c.id, "sh", "-c", "id -u; cat /proc/self/uid_map; touch /dev/shm/made; stat -c %u /dev/shm/made /bin/busybox"]);
    expect(r.code, r.stderr).toBe(0);
    // Root of the container's namespace: what it makes is its root's, what host root owns is nobody's.
    expect(r.stdout.trim().split(/\s+/)).toEqual(["0", "0", "100000", "65536", "0", "65534"]);
    // Outside, the process is the mapped uid.
    const pidFile = join(c.out, "exec.pid");
    const d = await runtime(["exec", "--detach", "--pid-file", pidFile, c.id, "sleep", "100"]);
    expect(d.code, d.stderr).toBe(0);
    const st = readFileSync(`/proc/${readFileSync(pidFile, "utf8").trim()}/status`, "utf8");
    expect(/^Uid:\s+(\d+)/m.exec(st)?.[1]).toBe("100000");
  });

  it("--tty in the foreground relays a terminal itself; detached, it needs --console-socket", async ({ expect }) => {
    const c = await running();
    const r = await runtime(["exec", "--tty", c.id, "sh"], { input: "echo in-$((2+2)); [ -t 0 ] && echo is-tty; tty; stat -c owner=%u $(tty)\nexit 4\n" });
    expect(r.code, r.stderr).toBe(4);
    const out = r.stdout.replace(/\r/g, "");
    expect(out).toMatch(/^in-4\nis-tty$/m);
    // As runc's exec: the terminal is one of the container's own /dev/pts, the process's.
    expect(out).toMatch(/^\/dev\/pts\/\d+\nowner=0$/m);
    const d = await runtime(["exec", "--tty", "--detach", c.id, "sh"]);
    expect(d.code).toBe(1);
    expect(d.stderr).toContain("needs --console-socket");
  });

  it("exec --tty never opens what the container put at /dev/pts/ptmx when it is not a devpts's ptmx (a FIFO here): the host's pty serves instead", async ({ expect }) => {
    const dir = mkdtempSync(join(BUNDLES_DIR, "pts-"));
    chmodSync(dir, 0o755);
    const fifo = join(dir, "ptmx");
    execFileSync("mkfifo", ["-m", "0666", fifo]);
    const c = await running((cfg) => {
      cfg.mounts = cfg.mounts.filter((m: { destination: string }) => m.destination !== "/dev/pts");
      cfg.mounts.push({ destination: "/dev/pts", type: "bind", source: dir, options: ["rbind", "rw"] });
    });
    // A reader waits in open(2) for a writer: a runtime that opened the FIFO (read and
    // write) would be one, and the reader's open would return (its descriptor 3).
    const reader = spawn("cat", [fifo], { stdio: ["ignore", "ignore", "ignore"] });
    const opened = (): boolean => existsSync(`/proc/${reader.pid}/fd/3`);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(opened()).toBe(false);
      const r = await runtime(["exec", "--tty", c.id, "sh"], { input: "[ -t 0 ] && echo is-tty\nexit 3\n" });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout.replace(/\r/g, "")).toMatch(/^is-tty$/m);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(opened()).toBe(false);
    } finally {
      reader.kill("SIGKILL");
      await new Promise((resolve) => (reader.exitCode !== null || reader.signalCode !== null ? resolve(undefined) : reader.once("exit", resolve)));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--process takes an OCI process JSON; a stopped container refuses exec", async ({ expect }) => {
    const c = await running();
    const file = join(c.out, "process.json");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(file, JSON.stringify({ args: ["sh", "-c", "echo from-json $A"], env: ["A=1", "PATH=/bin"], cwd: "/", user: { uid: 0, gid: 0 } }));
    const r = await runtime(["exec", "--process", file, c.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("from-json 1\n");
    writeFileSync(file, JSON.stringify({ args: [], cwd: "relative" }));
    const bad = await runtime(["exec", "--process", file, c.id]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/process\.json: args: expected at least the program to run/);
    expect(bad.stderr).toMatch(/process\.json: cwd: expected an absolute path/);
    expect((await runtime(["kill", c.id, "KILL"])).code).toBe(0);
    expect(await pollFor(async () => ((await stateOf(c.id)).status === "stopped" ? true : undefined), 5000)).toBe(true);
    const late = await runtime(["exec", c.id, "true"]);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain("cannot exec in a stopped container");
  });
});

describe("pause, resume, update, events", () => {
  it("pause freezes every process and resume thaws them; state says paused", async ({ expect }) => {
    const c = await running((cfg) => (cfg.process.args = ["sh", "-c", "while :; do date +%s%N > /out/tick; sleep 0.02; done"]));
    expect(await pollFor(() => (existsSync(join(c.out, "tick")) ? true : undefined), 5000)).toBe(true);
    expect((await runtime(["pause", c.id])).code).toBe(0);
    expect((await stateOf(c.id)).status).toBe("paused");
    const frozen = readFileSync(join(c.out, "tick"), "utf8");
    await new Promise((r) => setTimeout(r, 300));
    expect(readFileSync(join(c.out, "tick"), "utf8")).toBe(frozen);
    expect((await runtime(["pause", c.id])).code).toBe(1);
    expect((await runtime(["resume", c.id])).code).toBe(0);
    expect((await stateOf(c.id)).status).toBe("running");
    expect(await pollFor(() => (readFileSync(join(c.out, "tick"), "utf8") !== frozen ? true : undefined), 5000)).toBe(true);
    expect((await runtime(["resume", c.id])).code).toBe(1);
    // A paused container is deleted with --force (thawed, then killed).
    expect((await runtime(["pause", c.id])).code).toBe(0);
    expect((await runtime(["delete", "--force", c.id])).code).toBe(0);
  });

  it("update changes memory, pids and cpu limits, from JSON on stdin and from flags", async ({ expect }) => {
    const c = await running();
    const r = await runtime(["update", "--resources", "-", c.id], { input: JSON.stringify({ memory: { limit: 96 * 1024 * 1024 }, pids: { limit: 33 } }) });
    expect(r.code, r.stderr).toBe(0);
    expect(Number(readFileSync(cgroupFile(c.id, "memory.limit_in_bytes", "memory.max"), "utf8"))).toBe(96 * 1024 * 1024);
    expect(readFileSync(cgroupFile(c.id, "pids.max"), "utf8").trim()).toBe("33");
    const f = await runtime(["update", "--pids-limit", "44", "--cpu-quota", "25000", "--cpu-period", "100000", c.id]);
    expect(f.code, f.stderr).toBe(0);
    expect(readFileSync(cgroupFile(c.id, "pids.max"), "utf8").trim()).toBe("44");
    expect(readFileSync(cgroupFile(c.id, "cpu.cfs_quota_us", "cpu.max"), "utf8").trim()).toMatch(/^25000( 100000)?$/);
    const bad = await runtime(["update", "--resources", "-", c.id], { input: JSON.stringify({ memory: { limit: "lots" } }) });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("stdin: memory.limit:");
  });

  it("events --stats prints the container's statistics; events streams them until it stops", async ({ expect }) => {
    const c = await running();
    const once = await runtime(["events", "--stats", c.id]);
    expect(once.code, once.stderr).toBe(0);
    const e = JSON.parse(once.stdout) as { type: string; id: string; data: { memory: { usage: { usage: number } }; pids: { current: number }; cpu: { usage: { total: number } } } };
    expect(e.type).toBe("stats");
    expect(e.id).toBe(c.id);
    expect(e.data.memory.usage.usage).toBeGreaterThan(0);
    // The program alone: it is the container's init.
    expect(e.data.pids.current).toBe(1);
    expect(e.data.cpu.usage.total).toBeGreaterThan(0);
    setTimeout(() => void runtime(["kill", c.id, "KILL"]), 1200);
    const stream = await runtime(["events", "--interval", "300ms", c.id]);
    expect(stream.code, stream.stderr).toBe(0);
    const lines = stream.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.every((l) => l.type === "stats")).toBe(true);
  });
});
