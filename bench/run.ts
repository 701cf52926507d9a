// `npm run bench [-- --quick]`: runsc-ts against native execution and against a C
// user-notify supervisor, on this machine, in one run. Prints medians and ratios; the
// targets are those of the foundation issue and never gate anything (exit status 0).
//
// Per-syscall figures come from bench/c/loop.c, timed inside the process so that startup
// is excluded, as the median of batch means (robust to preemption by other load) and the
// median per-call time; workloads are timed from outside (bench/c/timeit.c), startup
// included.
// The variants of a case are interleaved, so drift from other load on the machine spreads
// over all of them; compare ratios from one run, never absolute times across runs
// (reference/limits.md).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Probe, ProbeResult, RunOptions } from "./measure.js";
import { collect, exec, innerWallProbe, loopProbe, pause, settle, wallProbe } from "./measure.js";
import type { Line } from "./report.js";
import { atMost, formatTable, ratio } from "./report.js";
import type { BenchDir } from "./setup.js";
import { prepare, PROJECT_FILES, requireGcc, SetupError } from "./setup.js";
import { importRootfs, removeDockerdDir, startDockerd, stopDockerd } from "./dockerd.js";

const USAGE = `usage: npm run bench [-- OPTIONS]

  --quick      fewer repetitions and iterations (about half the time)
  --reps N     timed runs per variant (default 5, quick 3), after one warm-up run
  --cpu N      pin every measured process (and so the sentry and supervisor) to CPU N
  --only S     measure one section only: syscalls, workloads, vfs, oci or docker
  --keep       keep the working directory under /var/tmp
  -h, --help   this text`;

const SECTIONS = ["syscalls", "workloads", "vfs", "oci", "docker"] as const;

interface Options {
  only: (typeof SECTIONS)[number] | undefined;
  quick: boolean;
  reps: number;
  cpu: number | undefined;
  keep: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { only: undefined, quick: false, reps: 0, cpu: undefined, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new SetupError(`${a} needs a non-negative integer\n${USAGE}`);
      return v;
    };
    if (a === "--quick") o.quick = true;
    else if (a === "--reps") o.reps = value();
    else if (a === "--cpu") o.cpu = value();
    else if (a === "--keep") o.keep = true;
    else if (a === "--only") {
      const v = argv[++i] as Options["only"];
      if (!SECTIONS.includes(v!)) throw new SetupError(`--only: one of ${SECTIONS.join(", ")}\n${USAGE}`);
      o.only = v;
    }
    else if (a === "-h" || a === "--help") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new SetupError(`unknown option ${a}\n${USAGE}`);
  }
  if (o.reps === 0) o.reps = o.quick ? 3 : 5;
  return o;
}

/**
 * Iterations per loop process: a few hundred ms per sample at this kind of machine's costs
 * (getpid ~1 µs, a trapped round trip 10-50 µs). `trapped` also sizes the openat loops.
 */
function sizes(quick: boolean): { getpid: number; trapped: number } {
  return quick ? { getpid: 200_000, trapped: 3_000 } : { getpid: 500_000, trapped: 10_000 };
}

const TAR = ["sh", "-c", "tar cf - /usr/share/doc 2>/dev/null | wc -c"];
/** python3 importing six modules of its standard library (the system's: a user's PATH may name a shim). */
const PYTHON = ["/usr/bin/python3", "-c", "import json, re, subprocess, argparse, email.parser, http.client"];
/** bubblewrap, when installed: the startup reference (the lightest namespace sandbox). */
const BWRAP = existsSync("/usr/bin/bwrap") ? "/usr/bin/bwrap" : undefined;
/** bubblewrap around cmd, as the vfs section runs it: host root read-only, fresh namespaces. */
function bwrapped(cmd: readonly string[], writable?: string): string[] {
  return [BWRAP!, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", ...(writable !== undefined ? ["--bind", writable, writable] : []), "--unshare-all", "--die-with-parent", "--", ...cmd];
}
const OPENAT_PATH = "/etc/hostname";
/** How many idle containers the memory rows run at once, per runtime. */
const IDLE_CONTAINERS = 20;
/** How many times each runtime's idle containers are counted. */
const IDLE_ROUNDS = 2;

const progress = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

function us(r: ProbeResult | undefined, key: string): number | undefined {
  const v = r?.median[key];
  return v === undefined || !Number.isFinite(v) || r?.error !== undefined ? undefined : v / 1000;
}

function ms(r: ProbeResult | undefined, key = "wall_ns"): number | undefined {
  const v = r?.median[key];
  return v === undefined || !Number.isFinite(v) || r?.error !== undefined ? undefined : v / 1e6;
}

/**
 * A trapped case's two rows (median of batch means, p50): `${op} native`, `${op} C supervisor`
 * and the runsc-ts variant, against native and the C limit (and its target over C, if any).
 */
function againstC(r: Map<string, ProbeResult>, op: string, variant: string, label: string, target?: number): Line[] {
  return (["bmed_ns", "p50_ns"] as const).map((key) => {
    const n = us(r.get(`${op} native`), key);
    const c = us(r.get(`${op} C supervisor`), key);
    const v = us(r.get(variant), key);
    return {
      label: `${label}${key === "p50_ns" ? " (p50)" : ""}`,
      unit: "µs",
      native: n,
      cLimit: c,
      runsc: v,
      xNative: ratio(v, n),
      xC: ratio(v, c),
      ...(target !== undefined ? { target: atMost(target, "C", ratio(v, c)) } : {}),
    };
  });
}

class Bench {
  readonly run: RunOptions;
  readonly failures: string[] = [];
  syncWakeUp = "unknown";

  constructor(
    readonly root: string,
    readonly b: BenchDir,
    readonly o: Options,
  ) {
    const prefix = o.cpu === undefined ? [] : ["taskset", "-c", String(o.cpu)];
    this.run = { cwd: b.dir, prefix, timeoutMs: 120_000 };
  }

  get runsc(): string {
    return join(this.root, "bin", "runsc-ts");
  }

  /** argv under `runsc-ts do`, with the default policy or the given one. */
  sandboxed(cmd: readonly string[], policy?: string): string[] {
    return [this.runsc, "do", "--cwd", this.b.dir, ...(policy === undefined ? [] : ["--policy", policy]), "--", ...cmd];
  }

  supervised(trap: "getppid" | "openat" | "none", cmd: readonly string[], extra: readonly string[] = []): string[] {
    return [this.b.supervisor, "--trap", trap, ...extra, "--", ...cmd];
  }

  collect(title: string, probes: readonly Probe[]): Map<string, ProbeResult> {
    progress(`bench: ${title} (${probes.length} variants × ${this.o.reps} runs)`);
    const res = collect(probes, this.o.reps, progress);
    for (const [id, r] of res) if (r.error !== undefined) this.failures.push(`${id}: ${r.error}`);
    return res;
  }

  /** The checks that make the figures mean what the table says. */
  preflight(): void {
    if (!existsSync(join(this.root, "dist", "cli", "main.js"))) {
      throw new SetupError(
        "runsc-ts is not built: run `npm run build`",
      );
    }
    try {
      exec(this.sandboxed(["/bin/true"]), this.run);
    } catch (err) {
      throw new SetupError(`runsc-ts cannot run /bin/true: ${(err as Error).message}`);
    }
    for (const [policy, name] of [
      [this.b.trapGetppidPolicy, "getppid"],
      [this.b.trapOpenatPolicy, "openat"],
    ] as const) {
      const { stdout } = exec([this.runsc, "syscalls", "--policy", policy], this.run);
      const line = stdout.split("\n").find((l) => new RegExp(`^\\s*\\d+\\s+${name}\\s`).test(l));
      if (line === undefined || !line.includes("handled by the sentry")) {
        throw new SetupError(`policy ${policy} does not send ${name} to the sentry: ${line?.trim() ?? "(not listed)"}`);
      }
    }
    const { stderr } = exec(this.supervised("getppid", [this.b.loop, "getppid", "10"]), this.run);
    this.syncWakeUp = /sync_wakeup=(\S+)/.exec(stderr)?.[1] ?? "unknown";
  }

  perSyscall(): Line[] {
    const { getpid: getpidN, trapped } = sizes(this.o.quick);
    const { loop } = this.b;
    const getpid = [loop, "getpid", String(getpidN)];
    const getppid = [loop, "-p", "getppid", String(trapped)];
    const openat = [loop, "-p", "openat", String(trapped), OPENAT_PATH];
    // Warm-up plus timed passes each trap N/10 + 2N times, plus the loader's own calls.
    const events = 2 * trapped;

    const r1 = this.collect("getpid, untrapped", [
      loopProbe("getpid native", getpid, this.run),
      loopProbe("getpid C filter", this.supervised("none", getpid), this.run),
      loopProbe("getpid runsc-ts", this.sandboxed(getpid), this.run),
    ]);
    const r2 = this.collect("getppid trapped: round trip", [
      loopProbe("getppid native", getppid, this.run),
      loopProbe("getppid C supervisor", this.supervised("getppid", getppid), this.run, events),
      loopProbe("getppid C supervisor+poll", this.supervised("getppid", getppid, ["--poll"]), this.run, events),
      loopProbe("getppid runsc-ts", this.sandboxed(getppid, this.b.trapGetppidPolicy), this.run),
    ]);
    const r3 = this.collect("openat+close", [
      loopProbe("openat native", openat, this.run),
      loopProbe("openat runsc-ts default", this.sandboxed(openat), this.run),
      loopProbe("openat C supervisor", this.supervised("openat", openat), this.run, events),
      loopProbe("openat runsc-ts trapped", this.sandboxed(openat, this.b.trapOpenatPolicy), this.run),
    ]);
    // root: overlay — opening a host-owned file for writing: the sentry's own attempt, then
    // the elevated reopen (sentry/syscalls/sys_fsmut.ts); reading stays in the kernel.
    const openw = [loop, "-p", "openw", String(trapped), this.b.hostOwned];
    const r4 = this.collect("overlay root: open for writing", [
      loopProbe("openw native", openw, this.run),
      loopProbe("openw C supervisor", this.supervised("openat", openw), this.run, events),
      loopProbe("openw runsc-ts overlay", this.sandboxed(openw, this.b.overlayPolicy), this.run),
      loopProbe("openat runsc-ts overlay", this.sandboxed(openat, this.b.overlayPolicy), this.run),
    ]);

    const gpN = us(r1.get("getpid native"), "bmed_ns");
    const gpC = us(r1.get("getpid C filter"), "bmed_ns");
    const gpR = us(r1.get("getpid runsc-ts"), "bmed_ns");
    const rows: Line[] = [
      {
        heading:
          "per syscall, timed inside the process (startup excluded): median of batch means; (p50): median of per-call times",
      },
      {
        label: "getpid, untrapped (C: allow filter)",
        unit: "µs",
        native: gpN,
        cLimit: gpC,
        runsc: gpR,
        xNative: ratio(gpR, gpN),
        xC: ratio(gpR, gpC),
        target: atMost(1.05, "native", ratio(gpR, gpN)),
      },
    ];
    rows.push(...againstC(r2, "getppid", "getppid runsc-ts", "getppid trapped, round trip", 1.3));
    for (const key of ["bmed_ns", "p50_ns"] as const) {
      const c = us(r2.get("getppid C supervisor"), key);
      const p = us(r2.get("getppid C supervisor+poll"), key);
      rows.push({
        label: `  C supervisor, poll() before RECV${key === "p50_ns" ? " (p50)" : ""}`,
        unit: "µs",
        cLimit: p,
        xC: ratio(p, c),
      });
    }
    const onN = us(r3.get("openat native"), "bmed_ns");
    const onD = us(r3.get("openat runsc-ts default"), "bmed_ns");
    rows.push({
      label: `openat+close ${OPENAT_PATH}, untrapped`,
      unit: "µs",
      native: onN,
      runsc: onD,
      xNative: ratio(onD, onN),
    });
    rows.push(...againstC(r3, "openat", "openat runsc-ts trapped", "openat+close, openat emulated", 1.3));
    rows.push(...againstC(r4, "openw", "openw runsc-ts overlay", "open O_WRONLY+close of a host-owned file, overlay root"));
    const ovR = us(r4.get("openat runsc-ts overlay"), "bmed_ns");
    rows.push({ label: `openat+close ${OPENAT_PATH}, overlay root (reading: untrapped)`, unit: "µs", native: onN, runsc: ovR, xNative: ratio(ovR, onN) });
    return rows;
  }

  workloads(): { rows: Line[]; notes: string[] } {
    const { dir, helloC, timeit } = this.b;
    let expected: string | undefined;
    const tarCheck = (stdout: string): string | undefined => {
      const got = stdout.trim();
      if (!/^\d+$/.test(got) || got === "0") return `expected a byte count, got "${got}"`;
      if (expected === undefined) expected = got;
      return got === expected ? undefined : `${got} bytes of tar output, ${expected} natively`;
    };
    const w = (id: string, argv: readonly string[], check?: (s: string) => string | undefined): Probe =>
      wallProbe(id, timeit, argv, this.run, check);
    // Timed from inside: timeit runs in the sandbox (or under the supervisor) and reports
    // the workload's own wall time, without runsc-ts's start and exit.
    const inner = (id: string, launch: (cmd: string[]) => string[], cmd: readonly string[]): Probe =>
      innerWallProbe(id, launch([timeit, "--", ...cmd]), this.run);
    const trapOpenat = this.b.trapOpenatPolicy;

    const rs = this.collect("startup", [
      w("true native", ["/bin/true"]),
      w("true C launcher", this.supervised("none", ["/bin/true"])),
      w("true runsc-ts", this.sandboxed(["/bin/true"])),
      ...(BWRAP !== undefined ? [w("true bwrap", bwrapped(["/bin/true"]))] : []),
      w("node -e 0", [process.execPath, "-e", "0"]),
    ]);
    const workload = (name: string, native: string[], sandboxed: string[], supervised: string[]) =>
      this.collect(name, [
        w(`${name} native`, native, name === "tar" ? tarCheck : undefined),
        w(`${name} runsc-ts`, this.sandboxed(sandboxed), name === "tar" ? tarCheck : undefined),
        inner(`${name} runsc-ts inside`, (c) => this.sandboxed(c), sandboxed),
        inner(`${name} C supervisor openat`, (c) => this.supervised("openat", c), supervised),
        w(`${name} runsc-ts openat`, this.sandboxed(sandboxed, trapOpenat), name === "tar" ? tarCheck : undefined),
        inner(`${name} runsc-ts openat inside`, (c) => this.sandboxed(c, trapOpenat), sandboxed),
      ]);
    const gcc = (out: string): string[] => ["gcc", "-O2", helloC, "-o", out];
    // 20 compilations in one shell: gcc -c, 20 times.
    const gcc20 = (out: string): string[] => ["sh", "-c", `i=0; while [ $i -lt 20 ]; do gcc -c ${helloC} -o ${out} || exit 1; i=$((i+1)); done`];
    const results = new Map<string, Map<string, ProbeResult>>([
      ["tar", workload("tar", TAR, TAR, TAR)],
      ["gcc", workload("gcc", gcc(join(dir, "hello-native")), gcc("/tmp/hello"), gcc(join(dir, "hello-supervised")))],
      ["20 × gcc -c", workload("20 × gcc -c", gcc20(join(dir, "hello-native.o")), gcc20("/tmp/hello.o"), gcc20(join(dir, "hello-supervised.o")))],
      ["python3, 6 imports", workload("python3, 6 imports", PYTHON, PYTHON, PYTHON)],
    ]);

    const tN = ms(rs.get("true native"));
    const tC = ms(rs.get("true C launcher"));
    const tR = ms(rs.get("true runsc-ts"));
    const tB = ms(rs.get("true bwrap"));
    const rows: Line[] = [
      { heading: "workloads: wall time; C: the C supervisor trapping openat the same way" },
      { label: "/bin/true (startup; C: fork+filter+exec)", unit: "ms", native: tN, cLimit: tC, runsc: tR, xNative: ratio(tR, tN), xC: ratio(tR, tC) },
      ...(tB !== undefined
        ? [{ label: "  runsc-ts over bubblewrap's /bin/true (its runsc-ts column)", unit: "ms" as const, native: tB, runsc: tR, xNative: ratio(tR, tB), target: atMost(4, "bwrap", ratio(tR, tB)) }]
        : []),
      { label: "  node -e 0 (the Node floor)", unit: "ms", native: ms(rs.get("node -e 0")) },
    ];
    for (const [name, r] of results) {
      const n = ms(r.get(`${name} native`));
      const d = ms(r.get(`${name} runsc-ts`));
      const di = ms(r.get(`${name} runsc-ts inside`));
      const c = ms(r.get(`${name} C supervisor openat`));
      const t = ms(r.get(`${name} runsc-ts openat`));
      const ti = ms(r.get(`${name} runsc-ts openat inside`));
      const limit = name === "tar" || name.startsWith("python") ? 1.3 : name.startsWith("20 ×") ? 1.15 : undefined;
      const target = limit !== undefined ? { target: atMost(limit, "native", ratio(d, n)) } : {};
      rows.push(
        { label: `${name}, default policy`, unit: "ms", native: n, runsc: d, xNative: ratio(d, n), ...target },
        { label: `  timed inside the sandbox`, unit: "ms", native: n, runsc: di, xNative: ratio(di, n) },
        { label: `${name}, openat emulated`, unit: "ms", native: n, runsc: t, xNative: ratio(t, n) },
        { label: `  timed inside the sandbox`, unit: "ms", native: n, cLimit: c, runsc: ti, xNative: ratio(ti, n), xC: ratio(ti, c) },
      );
    }

    const notes: string[] = [];
    if (BWRAP === undefined) notes.push("bubblewrap is not installed (apt-get install bubblewrap): the startup row against it is left out.");
    else notes.push("The bubblewrap row: its native column is bubblewrap's /bin/true (--ro-bind / /, --unshare-all), ×native is runsc-ts over it.");
    const cpu = ms(rs.get("true runsc-ts"), "cpu_ns");
    if (tR !== undefined && cpu !== undefined) {
      notes.push(
        `runsc-ts do -- /bin/true: ${tR.toFixed(0)} ms wall, ${cpu.toFixed(0)} ms CPU of the client (user+system, all threads); the warm process that served it (which serves the next one too) is not counted.`,
      );
    }
    return { rows, notes };
  }

  /**
   * The virtual filesystem's figures (issue 4): tar of /usr/share/doc and a make -j2 of the
   * generated project, natively, under runsc-ts and under bubblewrap (when installed), and
   * how many syscalls per second reach the sentry during each.
   */
  vfs(): { rows: Line[]; notes: string[] } {
    const { timeit, project, buildPolicy } = this.b;
    const make = ["make", "-s", "-B", "-j2", "-C", project];
    const bwrap = BWRAP;
    const cases: [string, string[], string[], string[] | undefined][] = [
      ["tar cf - /usr/share/doc | wc -c", TAR, this.sandboxed(TAR), bwrap ? bwrapped(TAR) : undefined],
      [`make -j2, ${PROJECT_FILES} files`, make, this.sandboxed(make, buildPolicy), bwrap ? bwrapped(make, project) : undefined],
    ];
    const rows: Line[] = [{ heading: "the virtual filesystem: wall time, default policy (the project read-write for make); bubblewrap as the reference" }];
    const notes: string[] = [];
    if (bwrap === undefined) notes.push("bubblewrap is not installed (apt-get install bubblewrap): its column is left out.");
    for (const [name, native, sandboxed, wrapped] of cases) {
      const r = this.collect(name, [
        wallProbe(`${name} native`, timeit, native, this.run),
        wallProbe(`${name} runsc-ts`, timeit, sandboxed, this.run),
        ...(wrapped ? [wallProbe(`${name} bwrap`, timeit, wrapped, this.run)] : []),
      ]);
      const n = ms(r.get(`${name} native`));
      const d = ms(r.get(`${name} runsc-ts`));
      const w = ms(r.get(`${name} bwrap`));
      const target = name.startsWith("make") ? atMost(1.15, "native", ratio(d, n)) : atMost(1.3, "native", ratio(d, n));
      rows.push({ label: name, unit: "ms", native: n, runsc: d, xNative: ratio(d, n), target });
      if (w !== undefined) rows.push({ label: "  bubblewrap", unit: "ms", native: n, runsc: w, xNative: ratio(w, n) });
      // The sentry counts what reached it; --debug logs the count when the sandbox ends.
      try {
        const { stderr } = exec([this.runsc, "--debug", ...sandboxed.slice(1)], this.run);
        const events = Number(/sentry done events=(\d+)/.exec(stderr)?.[1] ?? NaN);
        if (Number.isFinite(events) && d !== undefined) notes.push(`${name}: ${events} syscalls reached the sentry, ${(events / (d / 1000)).toFixed(0)} per second.`);
      } catch (err) {
        this.failures.push(`${name} (counting sentry events): ${(err as Error).message}`);
      }
    }
    return { rows, notes };
  }

  /**
   * The OCI runtime's figures (issue 5): `run` of a busybox `true` bundle under runsc-ts,
   * runc and crun (those installed), and the memory of an idle container's sentry.
   */
  oci(): { rows: Line[]; notes: string[] } {
    const rows: Line[] = [{ heading: "the OCI runtime: `run` of a busybox true bundle, wall time; runc as the reference" }];
    const notes: string[] = [];
    const bundle = this.b.bundle;
    if (typeof bundle !== "string") {
      notes.push(`OCI rows left out: no bundle (${bundle.missing}).`);
      return { rows, notes };
    }
    const states = join(this.b.dir, "states");
    // A fresh id each run: `sh` gives its PID.
    const runOf = (bin: string, name: string): string[] => ["sh", "-c", `exec ${bin} --root ${join(states, name)} run --bundle ${bundle} bench-$$`];
    const runtimes: [string, string | undefined][] = [
      ["runsc-ts", this.runsc],
      ["runc", ["/usr/sbin/runc", "/usr/bin/runc"].find((p) => existsSync(p))],
      // crun refuses hosts whose cgroups are hybrid (v1 controllers beside cgroup2): its row then says so.
      ["crun", ["/usr/bin/crun", "/usr/local/bin/crun"].find((p) => existsSync(p))],
    ];
    const present = runtimes.filter((r): r is [string, string] => r[1] !== undefined);
    for (const [name, bin] of runtimes) if (bin === undefined) notes.push(`${name} is not installed (apt-get install ${name}): its row is left out.`);
    const r = this.collect("OCI run", present.map(([name, bin]) => wallProbe(`oci ${name}`, this.b.timeit, runOf(bin, name), this.run)));
    const runc = ms(r.get("oci runc"));
    const ours = ms(r.get("oci runsc-ts"));
    rows.push({ label: "runsc-ts run", unit: "ms", native: runc, runsc: ours, xNative: ratio(ours, runc), target: atMost(2, "runc", ratio(ours, runc)) });
    const crun = ms(r.get("oci crun"));
    if (crun !== undefined) rows.push({ label: "  crun run", unit: "ms", native: runc, runsc: crun, xNative: ratio(crun, runc) });
    if (runc !== undefined) notes.push("OCI rows: the native column is runc's time; ×native is over runc.");

    // An idle container's sentry: the monitor process (Node, the sentry's worker thread).
    const id = `bench-idle-${process.pid}`;
    const root = join(states, "runsc-ts");
    try {
      const sleeping = join(this.b.dir, "bundle-sleep");
      mkdirSync(sleeping, { recursive: true });
      const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as { process: { args: string[] } };
      spec.process.args = ["sleep", "1000"];
      writeFileSync(join(sleeping, "config.json"), JSON.stringify(spec));
      // The container keeps the stdio it was given: /dev/null, not our pipes.
      exec(["sh", "-c", `exec ${this.runsc} --root ${root} run --detach --bundle ${sleeping} ${id} </dev/null >/dev/null 2>&1`], this.run);
      const st = JSON.parse(readFileSync(join(root, id, "state.json"), "utf8")) as { monitorPid: number };
      const rss = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
      const kib = rss(st.monitorPid);
      notes.push(`an idle container's sentry (its monitor process): ${(kib / 1024).toFixed(1)} MiB RSS.`);
    } catch (err) {
      this.failures.push(`idle container RSS: ${(err as Error).message}`);
    } finally {
      try {
        exec([this.runsc, "--root", root, "delete", "--force", id], this.run);
      } catch {
        // nothing to delete
      }
    }
    return { rows, notes };
  }

  /**
   * Docker's figures (issue 6): `docker run --rm IMAGE true` with runsc-ts, runc and Debian's
   * gVisor runsc (ptrace platform, no network), each a runtime of one private dockerd.
   */
  docker(): { rows: Line[]; notes: string[] } {
    const rows: Line[] = [{ heading: "Docker: `docker run --rm busybox true`, wall time; runc as the reference" }];
    const notes: string[] = [];
    const bundle = this.b.bundle;
    if (!existsSync("/usr/sbin/dockerd")) {
      notes.push("Docker rows left out: no dockerd (apt-get install docker.io).");
      return { rows, notes };
    }
    if (typeof bundle !== "string") {
      notes.push(`Docker rows left out: no rootfs (${bundle.missing}).`);
      return { rows, notes };
    }
    const gvisor = existsSync("/usr/bin/runsc") ? "/usr/bin/runsc" : undefined;
    if (gvisor === undefined) notes.push("gVisor's runsc is not installed (apt-get install runsc): its row is left out.");
    const dir = join(this.b.dir, "docker");
    const runtimes: Record<string, object> = { "runsc-ts": { path: this.runsc }, ...(gvisor !== undefined ? { gvisor: { path: gvisor, runtimeArgs: ["--platform=ptrace", "--network=none"] } } : {}) };
    let d;
    try {
      d = startDockerd(dir, { runtimes });
      importRootfs(d, join(bundle, "rootfs"), "runsc-ts-bench/bb:latest");
      const host = d.env.DOCKER_HOST!;
      const runOn = (rt: string): string[] => ["env", `DOCKER_HOST=${host}`, "docker", "run", "--rm", `--runtime=${rt}`, "runsc-ts-bench/bb:latest", "true"];
      const names = ["runc", "runsc-ts", ...(gvisor !== undefined ? ["gvisor"] : [])];
      const r = this.collect("docker run", names.map((rt) => wallProbe(`docker ${rt}`, this.b.timeit, runOn(rt), this.run)));
      const runc = ms(r.get("docker runc"));
      const ours = ms(r.get("docker runsc-ts"));
      rows.push({ label: "runsc-ts", unit: "ms", native: runc, runsc: ours, xNative: ratio(ours, runc) });
      const g = ms(r.get("docker gvisor"));
      if (g !== undefined) rows.push({ label: "  gVisor runsc (ptrace)", unit: "ms", native: runc, runsc: g, xNative: ratio(g, runc) });
      // A workload inside: tar of a host tree bound read-only (idmapped under runsc-ts), start-up included.
      const tarOn = (rt: string): string[] => ["env", `DOCKER_HOST=${host}`, "docker", "run", "--rm", `--runtime=${rt}`, "-v", "/usr/share/doc:/doc:ro", "runsc-ts-bench/bb:latest", "sh", "-c", "tar cf - /doc 2>/dev/null | wc -c"];
      const t = this.collect("docker tar", ["runc", "runsc-ts"].map((rt) => wallProbe(`docker tar ${rt}`, this.b.timeit, tarOn(rt), this.run)));
      const tarRunc = ms(t.get("docker tar runc"));
      const tarOurs = ms(t.get("docker tar runsc-ts"));
      rows.push({ label: "tar cf - /usr/share/doc (bound read-only) | wc -c", unit: "ms", native: tarRunc, runsc: tarOurs, xNative: ratio(tarOurs, tarRunc) });
      notes.push("Docker rows: the native column is runc's time under the same dockerd; ×native is over runc.");
      this.idleMemory(host, names, rows, notes);
    } catch (err) {
      this.failures.push(`docker: ${(err as Error).message}`);
    } finally {
      if (d !== undefined) stopDockerd(d);
      removeDockerdDir(dir);
    }
    return { rows, notes };
  }

  /**
   * The memory IDLE_CONTAINERS idle containers hold (`docker run -d --network none … sleep`),
   * per runtime: what the machine's used memory grew by once they run, the page cache emptied
   * before each count; runtimes in turn, IDLE_ROUNDS times, the mean reported. The processes
   * each runtime adds per container (their proportional set size) go into the notes.
   */
  private idleMemory(host: string, runtimes: readonly string[], rows: Line[], notes: string[]): void {
    const docker = (args: string[]): void => void exec(["env", `DOCKER_HOST=${host}`, "docker", ...args], this.run);
    const grew = new Map<string, number[]>(runtimes.map((rt) => [rt, []]));
    const own = new Map<string, Map<string, number>>();
    for (let round = 0; round < IDLE_ROUNDS; round++) {
      for (const rt of runtimes) {
        const names = Array.from({ length: IDLE_CONTAINERS }, (_, i) => `runsc-ts-bench-idle-${rt}-${i}`);
        progress(`  ${IDLE_CONTAINERS} idle containers under ${rt} (${round + 1}/${IDLE_ROUNDS})`);
        try {
          quiesce();
          const before = usedKib();
          for (const name of names) docker(["run", "-d", "--name", name, "--network", "none", `--runtime=${rt}`, "runsc-ts-bench/bb:latest", "sleep", "1000"]);
          quiesce();
          grew.get(rt)!.push((usedKib() - before) / 1024);
          if (round === 0) own.set(rt, pssByKind());
        } catch (err) {
          this.failures.push(`${IDLE_CONTAINERS} idle containers under ${rt}: ${(err as Error).message}`);
        } finally {
          try {
            docker(["rm", "--force", ...names]);
          } catch {
            // those that did not start are not there to remove
          }
        }
      }
    }
    const mean = (rt: string): number | undefined => {
      const xs = grew.get(rt) ?? [];
      return xs.length === IDLE_ROUNDS ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
    };
    const runc = mean("runc");
    const ours = mean("runsc-ts");
    const g = mean("gvisor");
    rows.push({ heading: `Docker: ${IDLE_CONTAINERS} idle containers (sleep, --network none), what the machine's used memory grew by; runc as the reference` });
    rows.push({ label: "runsc-ts", unit: "MiB", native: runc, runsc: ours, xNative: ratio(ours, runc), ...(g !== undefined ? { target: atMost(1, "gVisor", ratio(ours, g)) } : {}) });
    if (g !== undefined) rows.push({ label: "  gVisor runsc (ptrace)", unit: "MiB", native: runc, runsc: g, xNative: ratio(g, runc) });
    notes.push(
      `Idle containers: used memory is MemTotal − MemAvailable, the page cache emptied; the mean of ${IDLE_ROUNDS} counts of ${IDLE_CONTAINERS} containers per runtime ` +
        `(${runtimes.map((rt) => `${rt} ${(grew.get(rt) ?? []).map((x) => x.toFixed(0)).join(", ")}`).join("; ")} MiB).`,
    );
    for (const [rt, kinds] of own) {
      const per = [...kinds].map(([kind, kib]) => `${kind} ${(kib / 1024 / IDLE_CONTAINERS).toFixed(1)}`).join(", ");
      notes.push(`  per ${rt} container, proportional set size (MiB): ${per || "none found"}.`);
    }
  }
}

/** Who a process is, for the idle-container notes: the kinds of process a runtime adds per container. */
const PROCESS_KINDS: [string, RegExp][] = [
  ["containerd shim", /^\S*containerd-shim/],
  ["runsc-ts monitor", /\/monitor\.js\s/],
  ["runsc-ts init", /^runsc-ts-init/],
  ["gVisor sandbox", /^runsc-sandbox/],
  ["gVisor gofer", /^runsc-gofer/],
];

/** The proportional set size of each kind of process now running, in KiB. */
function pssByKind(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      const kind = PROCESS_KINDS.find(([, re]) => re.test(cmd))?.[0];
      if (kind === undefined) continue;
      const pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
      out.set(kind, (out.get(kind) ?? 0) + pss);
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** What the machine's memory holds: MemTotal − MemAvailable (free's "used"), in KiB. */
function usedKib(): number {
  const info = readFileSync("/proc/meminfo", "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(info)?.[1] ?? NaN);
  return field("MemTotal") - field("MemAvailable");
}

/**
 * Lets what the previous step started or removed finish (a removed container's processes end,
 * a warm process starts its successor), then empties the page cache, so that what a runtime
 * read while starting is not counted as its memory.
 */
function quiesce(): void {
  settle();
  pause(4000);
  spawnSync("sync");
  writeFileSync("/proc/sys/vm/drop_caches", "3");
  pause(1000);
}

function header(o: Options, syncWakeUp: string, gcc: string): string {
  const model = cpus()[0]?.model ?? "unknown CPU";
  const s = sizes(o.quick);
  let clock = "unknown";
  try {
    clock = readFileSync("/sys/devices/system/clocksource/clocksource0/current_clocksource", "utf8").trim();
  } catch {
    // not exposed
  }
  return [
    `runsc-ts benchmark${o.quick ? " (quick)" : ""}: Linux ${release()}, ${cpus().length} CPUs (${model}), clock ${clock}`,
    `node ${process.version}, ${gcc}; SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: ${syncWakeUp}; ` +
      `${o.cpu === undefined ? "nothing pinned" : `everything pinned to CPU ${o.cpu}`}`,
    `medians of ${o.reps} runs per variant after one warm-up, variants interleaved; ` +
      `loops of ${s.getpid} getpid, ${s.trapped} getppid or openat+close`,
  ].join("\n");
}

async function main(): Promise<number> {
  const started = process.hrtime.bigint();
  const o = parseArgs(process.argv.slice(2));
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const gcc = requireGcc();
  const b = prepare(join(root, "bench", "c"));
  const load0 = loadavg()[0]!;
  try {
    const bench = new Bench(root, b, o);
    bench.preflight();
    const wanted = (s: Options["only"]): boolean => o.only === undefined || o.only === s;
    const lines: Line[] = wanted("syscalls") ? [...bench.perSyscall()] : [];
    const notes: string[] = [];
    for (const [name, section] of [
      ["workloads", () => bench.workloads()],
      ["vfs", () => bench.vfs()],
      ["oci", () => bench.oci()],
      ["docker", () => bench.docker()],
    ] as const) {
      if (!wanted(name)) continue;
      const r = section();
      lines.push(...r.rows);
      notes.push(...r.notes);
    }
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    const out = [
      "",
      header(o, bench.syncWakeUp, gcc),
      "",
      formatTable(lines),
      "",
      "×native, ×C: runsc-ts (or the row's C variant) over native and over the C limit. MISS marks a missed target;",
      "targets never fail the run.",
      ...notes,
      `load average ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end; ${secs.toFixed(0)} s in all` +
        (o.keep ? `; kept ${b.dir}` : ""),
    ];
    if (bench.failures.length > 0) {
      out.push("", "failed variants (left out of the table):", ...bench.failures.map((f) => `  ${f.replace(/\n/g, "\n    ")}`));
    }
    process.stdout.write(`${out.join("\n")}\n`);
    return 0;
  } finally {
    if (!o.keep) b.remove();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof SetupError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
