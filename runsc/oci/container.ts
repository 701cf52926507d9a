// The OCI lifecycle (runtime.md): create, start, kill, delete, and what state, list and ps
// read. create leaves init held before the user's program, under the container's sentry
// (monitor.ts, a detached process per container); start releases it. init's PID is the
// container's (what --pid-file gets, what a shim waits for): create is its parent and
// exits, so it passes to the caller's subreaper, as runc's does.
import { spawn as spawnProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { dirname, join, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { serialize } from "node:v8";
import { initPath, loadNative } from "../../native/index.js";
import { compileFilterBytes } from "../../platform/seccomp/compile.js";
import { compilePolicy, PolicyCompileError } from "../../sentry/policy/compile.js";
import type { Policy } from "../../sentry/policy/schema.js";
import type { OciSeccomp } from "../../sentry/policy/oci.js";
import { loadPolicy } from "../policyCache.js";
import { kernelAtLeast, missingKernelFeatures } from "../requirements.js";
import type { InitRecord } from "../sandbox/initConfig.js";
import { encodeInitConfig } from "../sandbox/initConfig.js";
import { ensureMaskFile } from "../sandbox/maskFile.js";
import { mounts as cgroupMounts } from "../sandbox/cgroups.js";
import type { LogFormat } from "../log.js";
import type { OciConfigDoc } from "./config.js";
import { OciConfigError, parseOciConfig } from "./config.js";
import { cgroupPids, createContainerCgroups, removeCgroups } from "./cgroups.js";
import { runHooks } from "./hooks.js";
import { MONITOR_FDS } from "./monitorProtocol.js";
import type { MonitorStart } from "./monitorProtocol.js";
import { planBundleMounts, STAGING } from "./mounts.js";
import { processRecords } from "./process.js";
import type { ContainerState } from "./state.js";
import {
  checkId,
  containerDir,
  ContainerError,
  currentStatus,
  initAlive,
  makeContainerDir,
  mustRead,
  ociState,
  readState,
  socketPath,
  startTime,
  withLock,
  writeState,
} from "./state.js";

// include/uapi/linux/sched.h
const NS_FLAGS: Readonly<Record<string, number>> = {
  mount: 0x00020000,
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
};
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5;
const SIGKILL = 9;

/** The annotation that names a container's policy. */
export const POLICY_ANNOTATION = "dev.runsc-ts.policy";
/** The policy OCI containers run under when none is named. */
export const DEFAULT_CONTAINER_POLICY = "container";

export interface RuntimeOptions {
  root: string;
  /** --policy, for containers whose config names none. */
  policy?: string;
  debug: boolean;
  strace: boolean;
  logFormat: LogFormat;
  /** --network none: every container gets a network namespace of its own. */
  network?: "none" | "host";
  /** --log: the monitor's stderr (the sentry's own messages). */
  logFile?: string;
}

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
}

/** config.json of a bundle, checked. */
export function readBundleConfig(bundle: string): OciConfigDoc {
  const file = join(bundle, "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ContainerError(`${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file (is --bundle right?)" : (err as Error).message}`);
  }
  return parseOciConfig(text, file);
}

/** The policy a container runs under: its annotation's, else --policy's, else container.yaml. */
async function containerPolicy(config: OciConfigDoc, fallback: string | undefined): Promise<{ name: string; policy: Policy }> {
  for (const key of Object.keys(config.annotations ?? {})) {
    if (key.startsWith("dev.runsc-ts.") && key !== POLICY_ANNOTATION) {
      throw new OciConfigError("config.json", [`annotations.${key}: unknown; runsc-ts reads ${POLICY_ANNOTATION}`]);
    }
  }
  const name = config.annotations?.[POLICY_ANNOTATION] ?? fallback ?? DEFAULT_CONTAINER_POLICY;
  const policy = await loadPolicy(name);
  if (policy.network.mode === "proxy") throw new OciConfigError(name, ["network.mode: proxy is not supported for OCI containers yet"]);
  if (policy.process.exec?.entrypoint === true) throw new OciConfigError(name, ["process.exec.entrypoint is not supported for OCI containers yet"]);
  return { name, policy };
}

/** Namespaces a container may join by path (a pod's): the rest are always its own. */
const JOINABLE = new Set(["pid", "network", "ipc", "uts"]);

interface Namespaces {
  flags: number;
  /** Paths of namespaces to join, with their CLONE_NEW* type. */
  join: { path: string; type: number }[];
  uidMap: string;
  gidMap: string;
  /** A network namespace of the container's own (its loopback is brought up). */
  ownNet: boolean;
}

/** Namespace flags, namespaces to join and id maps, from linux.namespaces. */
function namespaces(config: OciConfigDoc, network: "none" | "host"): Namespaces {
  const linux = config.linux ?? {};
  let flags = 0;
  const join: Namespaces["join"] = [];
  (linux.namespaces ?? []).forEach((ns, i) => {
    const flag = NS_FLAGS[ns.type];
    if (flag === undefined) throw new OciConfigError("config.json", [`linux.namespaces[${i}].type: a ${ns.type} namespace is not supported yet`]);
    if (ns.path === undefined) {
      flags |= flag;
    } else if (!JOINABLE.has(ns.type)) {
      throw new OciConfigError("config.json", [`linux.namespaces[${i}].path: joining a ${ns.type} namespace is not supported (runsc-ts joins pid, network, ipc and uts ones)`]);
    } else {
      join.push({ path: ns.path, type: flag });
    }
  });
  if (!(flags & NS_FLAGS.pid!) && !join.some((j) => j.type === NS_FLAGS.pid)) {
    throw new OciConfigError("config.json", ["linux.namespaces: runsc-ts needs a pid namespace, new or joined (the host's is not supported)"]);
  }
  if (join.length > 0 && flags & NS_FLAGS.user!) {
    throw new OciConfigError("config.json", ["linux.namespaces: joining namespaces from a new user namespace is not supported yet"]);
  }
  if (network === "none" && join.some((j) => j.type === NS_FLAGS.network)) {
    throw new OciConfigError("config.json", ["linux.namespaces: the policy's network none refuses a network namespace joined by path"]);
  }
  // The mount tree is always the container's own.
  flags |= NS_FLAGS.mount!;
  // network none (the policy's or --network's) may only take away: a namespace of its own.
  if (network === "none") flags |= NS_FLAGS.network!;
  const map = (m: readonly { containerID: number; hostID: number; size: number }[] | undefined, field: string): string => {
    if (!(flags & NS_FLAGS.user!)) return "";
    if (m === undefined || m.length === 0) throw new OciConfigError("config.json", [`linux.${field}: missing (a user namespace needs its mappings)`]);
    return m.map((e) => `${e.containerID} ${e.hostID} ${e.size}\n`).join("");
  };
  return { flags, join, uidMap: map(linux.uidMappings, "uidMappings"), gidMap: map(linux.gidMappings, "gidMappings"), ownNet: (flags & NS_FLAGS.network!) !== 0 };
}

/** Writes a file atomically (pid files: a reader never sees it half written). */
function writeAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * create: everything up to the user's program, which init holds until start. Anything
 * that fails undoes what was done (processes, cgroups, state).
 */
export async function createContainer(rt: RuntimeOptions, o: CreateOptions): Promise<ContainerState> {
  checkId(o.id);
  if (readState(rt.root, o.id) !== undefined || existsSync(containerDir(rt.root, o.id))) throw new ContainerError(`container "${o.id}" already exists`);
  const native = loadNative();
  const lack = missingKernelFeatures(native);
  if (lack) throw new ContainerError(lack);
  const bundle = resolvePath(o.bundle);
  const config = readBundleConfig(bundle);
  if (config.process === undefined) throw new OciConfigError(join(bundle, "config.json"), ["process: missing (create needs the program to run)"]);
  const proc = config.process;
  for (const kind of ["createContainer", "startContainer"] as const) {
    if ((config.hooks?.[kind] ?? []).length > 0) throw new OciConfigError(join(bundle, "config.json"), [`hooks.${kind}: hooks run inside the container are not supported yet`]);
  }
  if (config.domainname !== undefined) throw new OciConfigError(join(bundle, "config.json"), ["domainname: not supported yet"]);
  if (proc.terminal === true && o.consoleSocket === undefined) {
    throw new ContainerError("cannot allocate a terminal without --console-socket (process.terminal is true)");
  }
  const rootfs = resolvePath(bundle, config.root.path);
  if (!existsSync(rootfs)) throw new OciConfigError(join(bundle, "config.json"), [`root.path: ${rootfs} does not exist`]);
  const { name: policyName, policy } = await containerPolicy(config, rt.policy);
  const network = policy.network.mode === "none" || rt.network === "none" ? "none" : "host";
  const ns = namespaces(config, network);

  let compiled;
  try {
    compiled = compilePolicy(
      { ...policy, network: { ...policy.network, mode: network } },
      {
        ...(rt.strace ? { trace: "all" as const } : {}),
        ...(config.linux?.seccomp !== undefined ? { ociSeccomp: config.linux.seccomp as OciSeccomp } : {}),
      },
    );
  } catch (err) {
    if (err instanceof PolicyCompileError) throw new ContainerError(`${policyName}: ${err.message}`);
    throw err;
  }

  const dir = makeContainerDir(rt.root, o.id);
  mkdirSync(STAGING, { recursive: true, mode: 0o700 });
  const cleanup: (() => void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const undo = (): void => {
    for (const f of cleanup.reverse()) {
      try {
        f();
      } catch {
        // best effort: the rest still runs
      }
    }
  };
  const fds: number[] = [];
  try {
    const cgroupsPath = config.linux?.cgroupsPath ?? `/runsc-ts/${o.id}`;
    const cg = createContainerCgroups(cgroupsPath, config.linux?.resources);
    cleanup.push(() => removeCgroups(cg.dirs));
    const hierarchies = cgroupMounts().filter((m) => m.fstype === "cgroup" || m.fstype === "cgroup2");
    const cgroupView = cg.dirs.flatMap((dir) => hierarchies.filter((m) => dir.startsWith(m.point + "/")).map((mount) => ({ mount, dir })));

    let pty: { master: number; slave: number } | undefined;
    let consolePath: string | undefined;
    if (proc.terminal === true) {
      pty = native.openPty();
      fds.push(pty.master, pty.slave);
      if (proc.consoleSize !== undefined) native.setWinsize(pty.master, proc.consoleSize.height, proc.consoleSize.width);
      consolePath = readlinkSync(`/proc/self/fd/${pty.slave}`);
    }

    // exec's processes get the same filter, served by the same monitor.
    const filter = { op: "filter", program: compileFilterBytes(compiled.filter), flags: kernelAtLeast(native, 5, 19) ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0 } as const;
    writeFileSync(join(dir, "filter.bin"), serialize(filter), { mode: 0o600 });
    const records: InitRecord[] = [
      ...(ns.flags & NS_FLAGS.uts! && config.hostname !== undefined ? [{ op: "hostname", name: config.hostname } as const] : []),
      ...(ns.ownNet ? [{ op: "loopbackUp" } as const] : []),
      ...planBundleMounts({ config, bundle, rootfs, policy, maskFile: ensureMaskFile(), cgroupView, ...(consolePath !== undefined ? { console: consolePath } : {}) }),
      ...processRecords(proc),
      ...(policy.process.maxProcesses !== undefined
        ? [{ op: "rlimit", resource: 6, soft: BigInt(policy.process.maxProcesses), hard: BigInt(policy.process.maxProcesses) } as const]
        : []),
      { op: "hold" },
      filter,
    ];
    let spawned;
    try {
      for (const j of ns.join) {
        try {
          fds.push(openSync(j.path, "r"));
        } catch (err) {
          throw new ContainerError(`namespace ${j.path}: ${(err as Error).message}`);
        }
      }
      const joinFds = ns.join.map((j, i) => ({ fd: fds[fds.length - ns.join.length + i]!, type: j.type }));
      spawned = native.spawn({
        initPath: initPath(),
        cloneFlags: ns.flags,
        uidMap: ns.uidMap,
        gidMap: ns.gidMap,
        config: encodeInitConfig(records),
        cgroupProcs: cg.dirs.map((d) => join(d, "cgroup.procs")),
        ...(pty !== undefined ? { tty: pty.slave } : {}),
        hold: true,
        orphan: true,
        ...(joinFds.length > 0 ? { join: joinFds } : {}),
      });
    } catch (err) {
      throw new ContainerError(`container setup failed: ${(err as Error).message}`);
    }
    const { pid } = spawned;
    fds.push(spawned.pidfd, spawned.listener, spawned.mntns, spawned.control!);
    cleanup.push(() => {
      native.pidfdSendSignal(spawned.pidfd, SIGKILL);
      native.waitExit(pid);
    });
    const initStart = startTime(pid);
    if (initStart === undefined) throw new ContainerError("container init exited during setup");
    if (proc.oomScoreAdj !== undefined) {
      try {
        writeFileSync(`/proc/${pid}/oom_score_adj`, String(proc.oomScoreAdj));
      } catch (err) {
        throw new ContainerError(`process.oomScoreAdj ${proc.oomScoreAdj}: ${(err as Error).message}`);
      }
    }

    // The sentry, in the monitor: it must be serving before the user's program can run.
    const start: MonitorStart = {
      worker: { strace: rt.strace, debug: rt.debug, logFormat: rt.logFormat },
      message: {
        pid,
        decisions: [...compiled.decisions],
        execAllow: policy.process.exec?.allow,
        network,
        netRules: { rules: policy.network, hostNames: {} },
        signals: policy.process.signals,
        hostname: config.hostname ?? o.id,
      },
    };
    writeFileSync(join(dir, "sentry.bin"), serialize(start), { mode: 0o600 });
    const monitorPid = await startMonitor(rt, o.id, [spawned.listener, spawned.pidfd, spawned.mntns, spawned.control!]);
    cleanup.push(() => {
      try {
        process.kill(monitorPid, SIGKILL);
      } catch {
        // gone with init
      }
    });

    const st: ContainerState = {
      ociVersion: config.ociVersion,
      id: o.id,
      status: "creating",
      pid,
      bundle,
      rootfs,
      created: new Date().toISOString(),
      owner: "",
      ...(config.annotations !== undefined ? { annotations: config.annotations } : {}),
      initStart,
      monitorPid,
      cgroups: cg.dirs,
      cgroupVersion: cg.version,
      ...(cg.freezer !== undefined ? { freezer: cg.freezer } : {}),
      ...(config.hooks?.poststop !== undefined ? { poststop: config.hooks.poststop } : {}),
    };
    writeState(rt.root, st);
    // Docker's bridge network is made by its prestart hook, in the namespace init holds.
    await runHooks("prestart", config.hooks?.prestart, ociState(st));
    await runHooks("createRuntime", config.hooks?.createRuntime, ociState(st));

    if (pty !== undefined) native.sendFdToSocket(o.consoleSocket!, pty.master, "console");
    st.status = "created";
    writeState(rt.root, st);
    if (o.pidFile !== undefined) writeAtomic(resolvePath(o.pidFile), String(pid));
    return st;
  } catch (err) {
    undo();
    throw err;
  } finally {
    for (const fd of fds) native.close(fd);
  }
}


/** Starts the monitor with init's descriptors and waits for it to serve. */
async function startMonitor(rt: RuntimeOptions, id: string, fds: readonly [number, number, number, number]): Promise<number> {
  const script = fileURLToPath(new URL("./monitor.js", import.meta.url));
  const log = rt.logFile !== undefined ? openSync(rt.logFile, "a") : "ignore";
  try {
    const child = spawnProcess(process.execPath, [script, rt.root, id], {
      detached: true,
      stdio: ["ignore", "ignore", log, "pipe", ...fds],
    });
    child.unref();
    const ready = child.stdio[MONITOR_FDS.ready]!;
    const line = await new Promise<string>((resolve) => {
      let buf = "";
      const timer = setTimeout(() => resolve("error: the monitor did not report within 10 s"), 10000);
      ready.on("data", (b: Buffer) => {
        buf += b.toString();
        if (buf.includes("\n")) {
          clearTimeout(timer);
          resolve(buf.slice(0, buf.indexOf("\n")));
        }
      });
      ready.on("end", () => {
        clearTimeout(timer);
        resolve(buf.includes("\n") ? buf.slice(0, buf.indexOf("\n")) : "error: the monitor exited before serving");
      });
    });
    (ready as unknown as { destroy(): void }).destroy();
    if (line !== "ready") {
      try {
        process.kill(child.pid!, SIGKILL);
      } catch {
        // already gone
      }
      throw new ContainerError(`container sentry: ${line.replace(/^error: /, "")}`);
    }
    return child.pid!;
  } finally {
    if (typeof log === "number") closeSync(log);
  }
}

/** Sends one command to a container's monitor; resolves with its answer line. */
export function askMonitor(root: string, id: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socketPath(root, id));
    let buf = "";
    conn.on("connect", () => conn.write(cmd + "\n"));
    conn.on("data", (b: Buffer) => (buf += b.toString()));
    conn.on("end", () => resolve(buf.trim()));
    conn.on("error", (err) => reject(new ContainerError(`container "${id}": its sentry does not answer: ${err.message}`)));
  });
}

/** start: releases the user's program; poststart hooks follow (their failure is a warning). */
export async function startContainer(rt: RuntimeOptions, id: string, warn: (msg: string) => void): Promise<void> {
  const config = await withLock(rt.root, id, async () => {
    const st = mustRead(rt.root, id);
    const status = currentStatus(st);
    if (status !== "created") throw new ContainerError(status === "stopped" ? "cannot start a container that has stopped" : `cannot start an already ${status} container`);
    const answer = await askMonitor(rt.root, id, "start");
    if (answer !== "ok") throw new ContainerError(`container "${id}": ${answer.replace(/^error: /, "")}`);
    st.status = "running";
    writeState(rt.root, st);
    return { st, hooks: readPoststart(st) };
  });
  try {
    // The state of poststart's moment: the program may have ended already.
    await runHooks("poststart", config.hooks, { ...ociState(config.st), status: "running", pid: config.st.pid });
  } catch (err) {
    warn((err as Error).message);
  }
}

function readPoststart(st: ContainerState): NonNullable<OciConfigDoc["hooks"]>["poststart"] {
  try {
    return readBundleConfig(st.bundle).hooks?.poststart;
  } catch {
    return undefined;
  }
}

/** Linux's signal numbers by name (without SIG), for kill's argument. */
const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13,
  ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25,
  VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

/** A signal by number, name or SIGNAME; RTMIN+n as well. */
export function parseSignal(text: string): number {
  const t = text.trim().toUpperCase().replace(/^SIG/, "");
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= 64) return n;
  } else if (SIGNALS[t] !== undefined) {
    return SIGNALS[t]!;
  } else {
    const rt = /^RTMIN(?:\+(\d+))?$/.exec(t);
    if (rt && 34 + Number(rt[1] ?? 0) <= 64) return 34 + Number(rt[1] ?? 0);
  }
  throw new ContainerError(`invalid signal ${JSON.stringify(text)}`);
}

/** kill: the signal to init (which passes it on to the program), or with all to every process. */
export async function killContainer(rt: RuntimeOptions, id: string, signal: number, all: boolean): Promise<void> {
  const st = mustRead(rt.root, id);
  if (currentStatus(st) === "stopped") throw new ContainerError("container not running");
  const native = loadNative();
  if (all) {
    for (const pid of cgroupPids(st.cgroups)) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone meanwhile
      }
    }
    return;
  }
  const pidfd = native.pidfdOpen(st.pid);
  if (pidfd < 0) throw new ContainerError("container not running");
  try {
    // The PID may have been reused between the check and the open: the pidfd pins it now.
    if (startTime(st.pid) !== st.initStart) throw new ContainerError("container not running");
    const r = native.pidfdSendSignal(pidfd, signal);
    if (r < 0) throw new ContainerError(`kill: errno ${-r}`);
  } finally {
    native.close(pidfd);
  }
}

/** Waits until every process of the container has gone (at most ms). */
async function waitGone(st: ContainerState, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!initAlive(st) && cgroupPids(st.cgroups).length === 0) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** delete: removes a stopped (or created) container; force kills a running one first. */
export async function deleteContainer(rt: RuntimeOptions, id: string, force: boolean, warn: (msg: string) => void): Promise<void> {
  checkId(id);
  if (readState(rt.root, id) === undefined) {
    if (force) {
      // A create killed before it wrote its state leaves a directory: remove it.
      rmSync(containerDir(rt.root, id), { recursive: true, force: true });
      return;
    }
    throw new ContainerError(`container "${id}" does not exist`);
  }
  await withLock(rt.root, id, async () => {
    const st = mustRead(rt.root, id);
    const status = currentStatus(st);
    if ((status === "running" || status === "paused") && !force) {
      throw new ContainerError(`cannot delete container "${id}" that is not stopped: ${status}`);
    }
    if (status !== "stopped") {
      if (status === "paused" && st.freezer !== undefined) thaw(st.freezer);
      for (const pid of [st.pid, ...cgroupPids(st.cgroups)]) {
        try {
          if (pid === st.pid && !initAlive(st)) continue;
          process.kill(pid, SIGKILL);
        } catch {
          // gone meanwhile
        }
      }
    }
    if (!(await waitGone(st, 10000))) throw new ContainerError(`container "${id}": its processes did not end within 10 s`);
    if (startTime(st.monitorPid) !== undefined && isMonitor(st.monitorPid)) {
      try {
        process.kill(st.monitorPid, SIGKILL);
      } catch {
        // it ended with init
      }
    }
    removeCgroups(st.cgroups);
    try {
      await runHooks("poststop", st.poststop, { ...ociState(st), status: "stopped", pid: 0 });
    } catch (err) {
      warn((err as Error).message);
    }
    rmSync(containerDir(rt.root, id), { recursive: true, force: true });
  });
}

/** Whether pid is a container monitor (not a process that took its PID since). */
function isMonitor(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("/oci/monitor.js");
  } catch {
    return false;
  }
}

function thaw(freezer: string): void {
  try {
    writeFileSync(freezer, freezer.endsWith("cgroup.freeze") ? "0" : "THAWED");
  } catch {
    // the group is gone
  }
}

/** The host PIDs of the container's processes (ps --format json: what `docker top` reads). */
export function containerPids(rt: RuntimeOptions, id: string): number[] {
  const st = mustRead(rt.root, id);
  if (currentStatus(st) === "stopped") return [];
  return cgroupPids(st.cgroups);
}
