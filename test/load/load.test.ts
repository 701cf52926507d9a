// runsc-ts on a busy machine (npm run test:load): races hide where a CPU is late. Two busy
// loops, one pinned to each CPU, run for the loaded part; on top of them: `runsc-ts run` of
// short-lived programs with stdin /dev/null and with stdin closed, `do` runs, OCI
// create/start/kill/delete cycles through the command line, `docker run --rm` of a
// program that exits at once, idle and loaded, and senders killed while the sentry's pool
// holds their sendto. Every exit status and every byte of output
// must be exact, and nothing of runsc-ts's may be left behind. Counts and time are bounded:
// the busy loops end by themselves even if this process dies.
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { busyboxRootfs, CLIENT, makeBundle, MAIN_JS, STATE_ROOT } from "../helpers/bundle.js";
import type { Footprint } from "../helpers/footprint.js";
import { footprint, settledLeftovers } from "../helpers/footprint.js";
import { useProbes } from "../helpers/probes.js";
import { CONFIG, docker, E2E_DIR, ensurePackages, IMAGE, importImage, removeE2EDir, RUNTIME_ROOT as DOCKER_ROOT, runscTs, startE2EDockerd, stopE2EDockerd } from "../e2e/daemon.js";

const RUNS = 300;
const DOS = 100;
const CYCLES = 50;
const DOCKER_RUNS = 100;
/** Containers Docker starts at once, then removes at once. */
const CONCURRENT_CONTAINERS = 50;
/** The warm processes that wait (native/client/client.c: POOL). */
const WARM_POOL = 3;
/** Senders killed while their sendto waits on a full unix datagram queue. */
const KILLED_SENDERS = 40;
/** Commands run two at a time: the machine's two CPUs are busy already. */
const CONCURRENCY = 2;
/** The busy loops' own deadline: longer than the loaded part may take. */
const LOOP_SECONDS = 1800;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs argv with stdin /dev/null, or closed (the shell's `<&-` before exec). Its stdout and
 * stderr are files, not pipes: create leaves a monitor behind that inherits them, and a pipe
 * would stay open as long as it does. The result is ready when the process itself exits.
 */
function exec(argv: string[], stdin: "null" | "closed", timeoutMs = 60_000): Promise<Outcome> {
  const [cmd, ...args] = stdin === "closed" ? ["/bin/sh", "-c", 'exec "$@" <&-', "sh", ...argv] : argv;
  const io = mkdtempSync(join(tmpdir(), "runsc-ts-load-"));
  const out = openSync(join(io, "out"), "w");
  const err = openSync(join(io, "err"), "w");
  return new Promise<Outcome>((resolve, reject) => {
    const child = spawn(cmd!, args, { stdio: ["ignore", out, err] });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: readFileSync(join(io, "out"), "utf8"), stderr: readFileSync(join(io, "err"), "utf8") });
    });
  }).finally(() => {
    closeSync(out);
    closeSync(err);
    rmSync(io, { recursive: true, force: true });
  });
}

/** The command line as shims run it: the client (create served warm; run and do by Node of their own). */
const RT = [CLIENT];

/** Runs n jobs, CONCURRENCY at a time; returns the failures' descriptions. */
async function pool(n: number, job: (i: number) => Promise<string | undefined>): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) {
      const f = await job(i).catch((err: Error) => `#${i}: threw ${err.message}`);
      if (f !== undefined) failures.push(f);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return failures;
}

const show = (o: Outcome): string => `code=${o.code} signal=${o.signal} stdout=${JSON.stringify(o.stdout)} stderr=${JSON.stringify(o.stderr)}`;

/** Two busy loops, each pinned to a CPU of its own (all CPUs when there are more). */
function startBusyLoops(): ChildProcess[] {
  const cpus = Math.max(2, availableParallelism());
  // taskset execs bash: the child's pid is the loop's. bash's SECONDS ends it by itself.
  return Array.from({ length: cpus }, (_, cpu) =>
    spawn("taskset", ["-c", String(cpu % availableParallelism()), "bash", "-c", `while [ $SECONDS -lt ${LOOP_SECONDS} ]; do :; done`], { stdio: "ignore" }),
  );
}

function stopBusyLoops(loops: ChildProcess[]): void {
  for (const l of loops) l.kill("SIGKILL");
}

let bundles: { ok: Bundle; fails: Bundle; sleeper: Bundle };
let before: Footprint;
const ours = (): Footprint => footprint({ roots: [STATE_ROOT, DOCKER_ROOT], mountDirs: [E2E_DIR], cgroupNames: ["docker"] });

beforeAll(() => {
  ensurePackages(["docker.io", "busybox-static", "util-linux"]);
  busyboxRootfs();
  bundles = {
    ok: makeBundle({ args: ["echo", "hi"], name: "load-ok" }),
    fails: makeBundle({ args: ["sh", "-c", "echo out; echo err >&2; exit 3"], name: "load-fails" }),
    sleeper: makeBundle({ args: ["sleep", "1000"], name: "load-sleep" }),
  };
  startE2EDockerd();
  importImage();
  const i = runscTs(["install", "--config", CONFIG, "--reload"]);
  if (i.code !== 0) throw new Error(`runsc-ts install: ${i.stderr}`);
  for (let n = 0; n < 100 && !docker(["info", "--format", "{{json .Runtimes}}"]).stdout.includes('"runsc-ts"'); n++) spawnSync("sleep", ["0.1"]);
  // One of each first: what a first run sets up once (the mask file, parent cgroups, the
  // policy cache) is not a leak.
  const run = spawnSync(RT[0]!, [...RT.slice(1), "--root", STATE_ROOT, "run", "--bundle", bundles.ok.dir, `${bundles.ok.id}-warm`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (run.status !== 0) throw new Error(`runsc-ts run: ${run.stderr}`);
  const warm = docker(["run", "--rm", "--runtime=runsc-ts", IMAGE, "true"]);
  if (warm.code !== 0) throw new Error(`docker run: ${warm.stderr}`);
  before = ours();
}, 600_000);

afterAll(() => {
  stopE2EDockerd();
  removeE2EDir();
  for (const b of Object.values(bundles ?? {})) b.cleanup();
}, 300_000);

/** docker run --rm of a program that exits at once, n times: exit status and output exact. */
async function dockerRuns(n: number, tag: string): Promise<string[]> {
  return pool(n, async (i) => {
    const code = i % 3;
    const r = docker(["run", "--rm", "--runtime=runsc-ts", IMAGE, "sh", "-c", `echo ${tag}-${i}; exit ${code}`]);
    if (r.code !== code || r.stdout !== `${tag}-${i}\n` || r.stderr !== "") return `docker #${i}: code=${r.code} stdout=${JSON.stringify(r.stdout)} stderr=${JSON.stringify(r.stderr)}`;
    return undefined;
  });
}

/** docker ARGS, asynchronously (so that many run at once). */
function dockerAsync(args: string[], timeoutMs = 300_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("docker", args, { env: { ...process.env, DOCKER_HOST: `unix://${join(E2E_DIR, "docker.sock")}` }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("idle", () => {
  it(`${DOCKER_RUNS} docker run --rm of a program that exits at once`, { timeout: 600_000 }, async () => {
    expect(await dockerRuns(DOCKER_RUNS, "idle")).toEqual([]);
  });

  it(`${CONCURRENT_CONTAINERS} containers started at once through Docker: all served, all removed, the warm processes still ${WARM_POOL}`, { timeout: 900_000 }, async () => {
    const names = Array.from({ length: CONCURRENT_CONTAINERS }, (_, i) => `load-at-once-${process.pid}-${i}`);
    const started = await Promise.all(names.map((n) => dockerAsync(["run", "-d", "--name", n, "--runtime=runsc-ts", IMAGE, "sleep", "600"])));
    const failed = started.flatMap((r, i) => (r.code === 0 ? [] : [`${names[i]}: code=${r.code} ${r.stderr.trim()}`]));
    const running = (await dockerAsync(["ps", "--filter", "name=load-at-once-", "--format", "{{.Names}}"])).stdout.trim().split("\n").filter(Boolean);
    const removed = await Promise.all(names.map((n) => dockerAsync(["rm", "-f", n])));
    expect(failed).toEqual([]);
    expect(running.length).toBe(CONCURRENT_CONTAINERS);
    expect(removed.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    // The warm processes are a pool, not a heap: each one that served started one successor.
    const idleWarm = (): string => spawnSync(join(MAIN_JS, "..", "..", "..", "bin", "runsc-ts"), ["service", "status"], { encoding: "utf8" }).stdout;
    let warm = idleWarm();
    for (const end = Date.now() + 15_000; Number(/idle warm processes: (\d+)/.exec(warm)?.[1] ?? -1) > WARM_POOL && Date.now() < end; warm = idleWarm()) {
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(Number(/idle warm processes: (\d+)/.exec(warm)?.[1] ?? -1), warm).toBeLessThanOrEqual(WARM_POOL);
  });
});

const probes = useProbes();

describe("with every CPU busy", () => {
  let loops: ChildProcess[] = [];
  beforeAll(() => {
    loops = startBusyLoops();
  });
  afterAll(() => stopBusyLoops(loops));

  it(`${RUNS} runsc-ts run of a program that ends at once, stdin /dev/null or closed`, { timeout: 1_200_000 }, async () => {
    const failures = await pool(RUNS, async (i) => {
      const stdin = i % 2 === 0 ? "null" : "closed";
      const b = i % 3 === 2 ? bundles.fails : bundles.ok;
      const o = await exec([...RT, "--root", STATE_ROOT, "run", "--bundle", b.dir, `${b.id}-r${i}`], stdin);
      const want = b === bundles.ok ? { code: 0, stdout: "hi\n", stderr: "" } : { code: 3, stdout: "out\n", stderr: "err\n" };
      if (o.code !== want.code || o.stdout !== want.stdout || o.stderr !== want.stderr) return `run #${i} (stdin ${stdin}): ${show(o)}`;
      return undefined;
    });
    expect(failures).toEqual([]);
  });

  it(`${DOS} runsc-ts do`, { timeout: 600_000 }, async () => {
    const failures = await pool(DOS, async (i) => {
      const o = await exec([...RT, "do", "--", "/bin/sh", "-c", `echo do-${i}; echo err-${i} >&2; exit ${i % 5}`], i % 2 === 0 ? "null" : "closed");
      if (o.code !== i % 5 || o.stdout !== `do-${i}\n` || o.stderr !== `err-${i}\n`) return `do #${i}: ${show(o)}`;
      return undefined;
    });
    expect(failures).toEqual([]);
  });

  it(`${KILLED_SENDERS} senders killed while their sendto waits on a full unix datagram queue: none sends after its death`, { timeout: 600_000 }, async () => {
    // The probe kills the sender, waits for it, drains the queue and counts what arrives
    // after (late). The pool's worker must not complete the send in the moment between the
    // task's death and the watcher's interrupt (2 in 40 did before the worker waited in ppoll).
    const failures = await pool(KILLED_SENDERS, async (i) => {
      const o = await exec([...RT, "do", "--", probes.path("blockcall"), "dgram"], "null");
      const m = /^dgram second_ms=\d+ late=(\d+) after_ms=\d+\n$/.exec(o.stdout);
      if (o.code !== 0 || m === null || m[1] !== "0") return `sender #${i}: ${show(o)}`;
      return undefined;
    });
    expect(failures).toEqual([]);
  });

  it(`${CYCLES} create/start/kill/delete cycles through the command line`, { timeout: 600_000 }, async () => {
    const failures = await pool(CYCLES, async (i) => {
      const id = `${bundles.sleeper.id}-c${i}`;
      const rt = (args: string[]): Promise<Outcome> => exec([...RT, "--root", STATE_ROOT, ...args], "null");
      const steps: [string[], (o: Outcome) => boolean][] = [
        [["create", "--bundle", bundles.sleeper.dir, id], (o) => o.code === 0 && o.stdout === "" && o.stderr === ""],
        [["state", id], (o) => o.code === 0 && JSON.parse(o.stdout).status === "created"],
        [["start", id], (o) => o.code === 0 && o.stderr === ""],
        [["state", id], (o) => o.code === 0 && JSON.parse(o.stdout).status === "running"],
        [["kill", id, "KILL"], (o) => o.code === 0 && o.stderr === ""],
      ];
      for (const [args, ok] of steps) {
        const o = await rt(args);
        if (!ok(o)) return `cycle #${i}: ${args[0]}: ${show(o)}`;
      }
      // The kill lands a moment later: delete refuses a running container until then.
      for (let n = 0; ; n++) {
        const s = await rt(["state", id]);
        if (s.code === 0 && JSON.parse(s.stdout).status === "stopped") break;
        if (n > 200) return `cycle #${i}: not stopped 10 s after kill: ${show(s)}`;
        await new Promise((r) => setTimeout(r, 50));
      }
      const d = await rt(["delete", id]);
      if (d.code !== 0 || d.stderr !== "") return `cycle #${i}: delete: ${show(d)}`;
      const gone = await rt(["state", id]);
      if (gone.code === 0) return `cycle #${i}: state after delete: ${show(gone)}`;
      return undefined;
    });
    expect(failures).toEqual([]);
  });

  it(`${DOCKER_RUNS} docker run --rm of a program that exits at once`, { timeout: 1_200_000 }, async () => {
    expect(await dockerRuns(DOCKER_RUNS, "loaded")).toEqual([]);
  });
});

describe("afterwards", () => {
  it("nothing of runsc-ts's is left: no process, mount, cgroup or state", async () => {
    expect(await settledLeftovers(before, ours, 15_000)).toEqual([]);
  });
});
